"""The public surface: each name written once, in the ``__all__`` of the module that owns it
(``functional``, ``nn``, ``ops``), re-exported wholesale by ``jaxloss``; nothing else leaks."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import jaxloss
import jaxloss.functional as F
import jaxloss.nn as nn
import jaxloss.ops as ops

PACKAGE = Path(jaxloss.__file__).parent
OWNERS = {"functional": F, "nn": nn, "ops": ops}
# jaxloss's own names beside the owners' (the submodules, the version, two functions that
# have no torch.nn.functional name, and the checked mode)
OWN = [
    "__version__",
    "functional",
    "nn",
    "ops",
    "adaptive_log_softmax_with_loss",
    "vocab_parallel_linear_cross_entropy",
    "checked",
]
# subpackages a test (or a user) may have imported: attributes once imported, not exports
SUBPACKAGES = {"testing", "tudui"}


def _all_literals(path: Path) -> list[str]:
    """Every string written in an ``__all__ = [...]`` of ``path``."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            names += [c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant)]
    return names


def test_jaxloss_all_is_its_own_names_and_the_owners_wholesale():
    assert jaxloss.__all__ == OWN + F.__all__ + ops.__all__ + nn.__all__
    assert len(set(jaxloss.__all__)) == len(jaxloss.__all__)
    for name in jaxloss.__all__:
        assert hasattr(jaxloss, name), name


def test_each_public_name_is_written_once():
    written = [
        n
        for f in ("__init__", "functional", "nn", "ops")
        for n in _all_literals(PACKAGE / f"{f}.py")
    ]
    repeated = sorted({n for n in written if written.count(n) > 1})
    assert not repeated, f"written in more than one __all__: {repeated}"
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    imported = {
        a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names
    }
    for owner in OWNERS.values():
        named = imported & set(owner.__all__)
        assert not named, (
            f"jaxloss/__init__.py imports {sorted(named)} by name; the owner exports them"
        )


def test_nothing_else_leaks():
    public = {n for n in dir(jaxloss) if not n.startswith("_")}
    assert public - SUBPACKAGES == set(jaxloss.__all__) - {"__version__"}
    for label, owner in OWNERS.items():
        star: dict = {}
        exec(f"from jaxloss.{label} import *", star)
        star.pop("__builtins__")
        assert sorted(star) == sorted(owner.__all__), label


def test_owners_export_what_they_are_for():
    for name in F.__all__ + ops.__all__:
        obj = getattr(jaxloss, name)
        assert inspect.isfunction(obj) and obj.__module__.startswith("jaxloss._"), name
    for name in nn.__all__:
        assert inspect.isclass(getattr(jaxloss, name)), name
