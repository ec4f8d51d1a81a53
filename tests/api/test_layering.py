"""The package's layering, read from the source itself: a loss module imports only the
shared layer, never another loss module; the shared layer imports no loss module; the
library never imports the app (``jaxloss.tudui``) or torch (all read with ``ast``); no
loss module branches on a reduction's name, which is _reduction.py's table's; and no loss
module or module of the public surface raises: argument checks live in _errors.py."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "jaxloss"

# argument checks, reductions, promotion, derivative rules, math, matmul, the class base
SHARED = {
    "_errors",
    "_reduction",
    "_promotion",
    "_derivatives",
    "_interop",
    "_math",
    "_matmul",
    "_module",
}
LOSSES = {
    "_regression",
    "_classification",
    "_binary",
    "_divergence",
    "_margin",
    "_embedding",
    "_ctc",
    "_linear_cross_entropy",
    "_adaptive",
    "_detection",
}
# not library code: `python -m jaxloss` runs the app, and jaxloss.testing compares with torch
NOT_CORE = {"__main__", "testing"}

# a comparison of the reduction's name in a loss module, e.g. `reduction == "mean"`
COMPARISON = re.compile(
    r"""reduction\s*(==|!=|\bin\b|\bnot in\b)|["'](none|mean|sum|batchmean)["']\s*(==|!=)\s*reduction"""
)
# the comparisons that stay, each with why
ALLOWED = {
    # the name the caller gave, not the reduction applied: torch warns for 'mean' only
    # without the legacy flags, and divides by input.size(0) for 'batchmean' even after
    # the legacy flags replaced it (torch's kl_div does exactly this)
    "_divergence": {
        'if not legacy and reduction == "mean":',
        'if legacy and reduction == "batchmean" and batch is not None:',
    },
}


# the public surface's modules: like a loss module, they call _errors' checks
SURFACE = {"nn", "functional", "ops"}
# `raise` statements that stay in a loss module or the public surface: module -> {the
# function holding them: why}; none today
ALLOWED_RAISES: dict[str, dict[str, str]] = {}


def _imports(module: str) -> set[str]:
    """Every module ``module`` imports, anywhere in it (function-local imports included),
    as a dotted name; jaxloss's own modules as ``jaxloss.<name>``."""
    return _imported((PACKAGE / f"{module}.py").read_text())


def _imported(source: str) -> set[str]:
    tree = ast.parse(source)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:  # relative: `from . import _errors`, `from ._errors import x`
                base = "jaxloss" + (f".{node.module}" if node.module else "")
            if base == "jaxloss":  # `from . import _errors, _math`: each name is a module
                names.update(f"jaxloss.{alias.name}" for alias in node.names)
            else:
                names.add(base)
    return names


def _own(names: set[str]) -> set[str]:
    """The jaxloss modules among ``names``, by their first component under jaxloss."""
    return {n.split(".")[1] for n in names if n.startswith("jaxloss.")}


def _present(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if (PACKAGE / f"{m}.py").exists())


def test_the_layers_name_every_private_module():
    private = {p.stem for p in PACKAGE.glob("_*.py")} - {"__init__", "__main__"}
    assert private <= SHARED | LOSSES, f"not placed in a layer: {sorted(private - SHARED - LOSSES)}"


@pytest.mark.parametrize("module", _present(LOSSES))
def test_a_loss_module_imports_only_the_shared_layer(module):
    own = _own(_imports(module))
    assert own <= SHARED, (
        f"{module} imports {sorted(own - SHARED)}; move what it needs into the shared layer"
    )


@pytest.mark.parametrize("module", _present(SHARED))
def test_the_shared_layer_imports_no_loss_module(module):
    own = _own(_imports(module))
    assert not own & LOSSES, f"{module} imports the loss module(s) {sorted(own & LOSSES)}"


@pytest.mark.parametrize("module", sorted({p.stem for p in PACKAGE.glob("*.py")} - NOT_CORE))
def test_the_library_imports_neither_the_app_nor_torch(module):
    names = _imports(module)
    assert "tudui" not in _own(names)
    assert not {n for n in names if n == "torch" or n.startswith("torch.")}


@pytest.mark.parametrize("module", sorted(p.stem for p in PACKAGE.glob("*.py")))
def test_the_library_uses_only_jaxs_public_api(module):
    # jax._src is jax's implementation, free to change in any release (the checked mode
    # goes through checkify's public debug_check and jax.make_user_context)
    private = sorted(n for n in _imports(module) if n == "jax._src" or n.startswith("jax._src."))
    assert not private, f"{module} imports jax's private modules {private}"


def test_the_reader_sees_relative_and_local_imports():
    """The parser itself: it must see what it is there to forbid (a test that can fail)."""
    source = (
        "from . import _margin, _errors\n"
        "from ._regression import pointwise_loss\n"
        "from .tudui.train import main\n"
        "def f():\n"
        "    import torch.nn.functional as F\n"
        "    from jax._src import checkify\n"
    )
    names = _imported(source)
    assert _own(names) == {"_margin", "_errors", "_regression", "tudui"}
    assert "torch.nn.functional" in names and "jax._src" in names
    assert {"_errors", "_math", "_promotion", "_reduction"} <= _own(_imports("_regression"))


@pytest.mark.parametrize("module", _present(LOSSES))
def test_no_loss_module_branches_on_the_reduction_name(module):
    lines = (PACKAGE / f"{module}.py").read_text().splitlines()
    found = {line.strip() for line in lines if COMPARISON.search(line)}
    extra = found - ALLOWED.get(module, set())
    assert not extra, (
        f"{module} compares the reduction's name; use _reduction.reduces/averages/reduce_loss: "
        f"{sorted(extra)}"
    )


def test_the_comparison_pattern_finds_comparisons():
    """The grep itself can fail: it sees the forms it is there to forbid."""
    for line in (
        'if reduction == "mean":',
        "x if reduction != 'none' else y",
        '"sum" == reduction',
    ):
        assert COMPARISON.search(line), line
    assert not COMPARISON.search("reduction = _reduction.check_reduction(reduction, fn=fn)")


def _raises(source: str) -> list[str]:
    """Where each ``raise`` statement of ``source`` is (read with ``ast``): the qualified name
    of the function or class around it (``Options.__post_init__``), ``<module>`` outside any."""
    found: list[str] = []

    def visit(node: ast.AST, scope: tuple[str, ...]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Raise):
                found.append(".".join(scope) or "<module>")
            named = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
            visit(child, (*scope, child.name) if isinstance(child, named) else scope)

    visit(ast.parse(source), ())
    return found


@pytest.mark.parametrize("module", _present(LOSSES | SURFACE))
def test_loss_modules_call_the_checks_and_never_raise(module):
    where = _raises((PACKAGE / f"{module}.py").read_text())
    extra = sorted(set(where) - set(ALLOWED_RAISES.get(module, {})))
    assert not extra, (
        f"{module} raises in {extra}; move each check into the _errors helper of its kind of "
        "error (or add one) and call it"
    )


def test_the_raise_reader_sees_raises():
    """The reader itself can fail: it sees a raise anywhere, nested or bare, and not one in
    a comment or a string."""
    source = (
        "class Options:\n"
        "    def __post_init__(self):\n"
        "        if self.x:\n"
        "            raise ValueError('x')\n"
        "def f(x):\n"
        "    try:\n"
        "        pass\n"
        "    except KeyError:\n"
        "        raise\n"
        "    check(x, 'raise ValueError')  # raise in a comment\n"
        "raise SystemExit\n"
    )
    assert _raises(source) == ["Options.__post_init__", "f", "<module>"]
    assert _raises((PACKAGE / "_errors.py").read_text())
