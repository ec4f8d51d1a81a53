"""``.. jaxloss-api:: functions|classes``: the API reference, generated from ``jaxloss.__all__``.

Every public function of ``jaxloss.__all__`` is documented with ``autofunction``, grouped
by the private module that defines it (the module's docstring names the group); every
class with ``autoclass`` (its ``__call__`` included). Nothing is listed by hand, so a loss
added to ``__all__`` appears on the next build, and a name in ``__all__`` that does not
resolve fails the build.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

# Section titles for the loss modules; a module missing here is titled by its docstring.
GROUPS = {
    "jaxloss._regression": "Regression",
    "jaxloss._classification": "Classification",
    "jaxloss._binary": "Binary and multi-label",
    "jaxloss._divergence": "Divergence",
    "jaxloss._margin": "Margin",
    "jaxloss._embedding": "Embedding and distance",
    "jaxloss._ctc": "Sequence (CTC)",
    "jaxloss._detection": "Detection (torchvision.ops)",
    "jaxloss._derivatives": "Checked mode",
}


def public_objects() -> list[tuple[str, Any]]:
    import jaxloss

    out = []
    for name in jaxloss.__all__:
        if name.startswith("_"):
            continue
        obj = getattr(jaxloss, name)  # AttributeError: __all__ names a missing object
        if inspect.isfunction(obj) or inspect.isclass(obj):
            out.append((name, obj))
    return out


def _group_title(module_name: str) -> str:
    if module_name in GROUPS:
        return GROUPS[module_name]
    import importlib

    doc = inspect.getdoc(importlib.import_module(module_name)) or module_name
    return doc.split(":")[0].split("\n")[0].strip().rstrip(".")


def _summary(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    first = doc.strip().split("\n\n")[0].replace("\n", " ")
    return first.replace("|", r"\|")


def _settings(cls: type) -> list[str]:
    """A class's declared settings (dataclass fields), which its signature lists."""
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls)]
    return []


class JaxlossApi(SphinxDirective):
    required_arguments = 1  # "functions" or "classes"

    def run(self) -> list[nodes.Node]:
        kind = self.arguments[0]
        objects = public_objects()
        lines: list[str] = []
        if kind == "functions":
            funcs = [(n, o) for n, o in objects if inspect.isfunction(o)]
            groups: dict[str, list[str]] = {}
            for name, obj in funcs:
                groups.setdefault(obj.__module__, []).append(name)
            order = [m for m in GROUPS if m in groups] + sorted(set(groups) - set(GROUPS))
            lines += self._table([(n, o) for n, o in funcs], "function")
            for module in order:
                title = _group_title(module)
                lines += ["", title, "-" * len(title), ""]
                for name in groups[module]:
                    lines += [f".. autofunction:: jaxloss.{name}", ""]
        elif kind == "classes":
            classes = [(n, o) for n, o in objects if inspect.isclass(o)]
            lines += self._table(classes, "class")
            for name, obj in classes:
                lines += ["", name, "-" * len(name), ""]
                lines += [f".. autoclass:: jaxloss.{name}", "   :members:", "   :undoc-members:"]
                lines += ["   :special-members: __call__"]
                settings = _settings(obj)
                if settings:  # shown in the signature already
                    lines += [f"   :exclude-members: {', '.join(settings)}"]
                lines += [""]
        else:
            raise self.error(f"jaxloss-api: unknown kind {kind!r} (functions or classes)")
        # Re-read this page when the package changes (a loss added to __all__).
        self.env.note_dependency(__file__)
        import jaxloss

        for path in sorted(Path(jaxloss.__file__).parent.glob("*.py")):
            self.env.note_dependency(str(path))
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source="jaxloss.__all__"), node)
        return node.children

    @staticmethod
    def _table(items: list[tuple[str, Any]], role: str) -> list[str]:
        role = "func" if role == "function" else "class"
        lines = [".. list-table::", "   :header-rows: 1", "   :widths: 30 70", ""]
        lines += ["   * - name", "     - summary"]
        for name, obj in items:
            lines += [f"   * - :{role}:`~jaxloss.{name}`", f"     - {_summary(obj)}"]
        return lines + [""]


# --- plain-text docstrings -------------------------------------------------------
# The docstrings are written to read well in a terminal (``help(jaxloss.l1_loss)``): shapes
# like (*, D) and formulas like |x| are plain text, which reST would read as emphasis and
# substitution references. Outside literals, doctests and literal blocks, those characters
# are escaped, and a blank line is put where an indented run of text ends, so a formula
# indented under a sentence does not become a broken definition list.
_LITERAL = re.compile(r"(``.+?``|:[\w:.-]+:`[^`]+`|`[^`]+`_?)")
_SPECIAL = re.compile(r"(?<!\\)([*|])")
_BULLET = re.compile(r"\s*[*+-] ")  # a list item's marker: reST's, not an asterisk


def _escape(text: str) -> str:
    parts = _LITERAL.split(text)
    for i in range(0, len(parts), 2):  # even parts are outside literals and roles
        parts[i] = _SPECIAL.sub(r"\\\1", parts[i])
    return "".join(parts)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


_BLOCK_START = re.compile(r"(:[^:]*:|[-*+] |\d+[.)] |#\. |\.\. )")


_EMPTY_FIELD = re.compile(r":(param|type|keyword|kwtype)\s*:\s*")


def _opens_block(line: str) -> bool:
    """A field, list item or directive, whose indented continuation is its own body."""
    return bool(_BLOCK_START.match(line.strip())) or line.rstrip().endswith("::")


def plain_docstring(lines: list[str]) -> list[str]:
    out: list[str] = []
    literal_indent: int | None = None  # inside a literal block indented deeper than this
    in_doctest = False
    prev = ""
    for line in lines:
        stripped = line.strip()
        if literal_indent is not None:
            if stripped and _indent(line) <= literal_indent:
                literal_indent = None
            else:
                out.append(line)
                prev = line
                continue
        if in_doctest:
            if stripped:
                out.append(line)
                prev = line
                continue
            in_doctest = False
        if _EMPTY_FIELD.fullmatch(stripped):
            continue  # napoleon's reading of "a, b,\n  c: text": an empty name after "b,"
        if stripped.startswith(">>>"):
            in_doctest = True
            out.append(line)
            prev = line
            continue
        if stripped and prev.strip():
            if _indent(line) < _indent(prev):
                out.append("")  # an indented run ends here
            elif _indent(line) > _indent(prev) == 0 and not _opens_block(prev):
                out.append("")  # text indented under a sentence: a block quote
        if stripped.startswith(("|", "+-", "+=")) or stripped.startswith(".."):
            out.append(line)  # a table row or a directive: leave it as written
        elif bullet := _BULLET.match(line):
            out.append(bullet.group(0) + _escape(line[bullet.end() :]))
        else:
            out.append(_escape(line))
        if stripped.endswith("::"):
            literal_indent = _indent(line)
        prev = line
    return out


_SEE = re.compile(r"see ``(\w+)``")


def _link_functional(line: str) -> str:
    """A class's "see ``l1_loss``" becomes a link to ``jaxloss.l1_loss``."""
    import jaxloss

    def link(m: re.Match[str]) -> str:
        name = m.group(1)
        return f"see :func:`~jaxloss.{name}`" if hasattr(jaxloss, name) else m.group(0)

    return _SEE.sub(link, line)


def _process_docstring(app, what, name, obj, options, lines: list[str]) -> None:
    if name.startswith("jaxloss"):
        lines[:] = plain_docstring(lines)
        if what == "class":
            lines[:] = [_link_functional(line) for line in lines]


@functools.cache
def _array_like_members() -> frozenset[str]:
    """The names autodoc writes for the members of ``jax.typing.ArrayLike`` (a Union it
    expands, e.g. ``Array | ndarray | bool | number | bool | int | float | complex``)."""
    from jax.typing import ArrayLike
    from sphinx.util.typing import stringify_annotation

    return frozenset(stringify_annotation(a, "smart") for a in ArrayLike.__args__)


_UNION = re.compile(r"[\w.~]+(?:\s\|\s[\w.~]+)+")


def collapse_array_like(signature: str) -> str:
    """Every union holding all of ArrayLike's members, in any order and with others beside
    them (``float | ArrayLike`` expands to ``float | Array | ndarray | bool | ...``), is
    written ``ArrayLike`` followed by the other members (``ArrayLike | None``)."""
    members = _array_like_members()

    def collapse(m: re.Match[str]) -> str:
        parts = m.group(0).split(" | ")
        if not members <= set(parts):
            return m.group(0)
        rest = list(dict.fromkeys(p for p in parts if p not in members))
        return " | ".join(["ArrayLike", *rest])

    return _UNION.sub(collapse, signature)


def _process_signature(app, what, name, obj, options, signature, return_annotation):
    if not name.startswith("jaxloss") or signature is None:
        return None
    return collapse_array_like(signature), return_annotation


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("autodoc-process-signature", _process_signature)
    app.add_directive("jaxloss-api", JaxlossApi)
    # after napoleon (priority 500) has turned the Google sections into reST
    app.connect("autodoc-process-docstring", _process_docstring, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
