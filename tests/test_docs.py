"""The documentation against the tree: the layouts of README.md, docs/architecture.md and
CONTRIBUTING.md name every module and test file that exists and nothing that does not;
every file name any of them mentions exists; no public example imports a private module.

A layout is the fenced block whose first line is ``jaxloss/``: one entry per line or several
separated by single spaces, a description after two or more spaces, two spaces of indent
per directory level."""

from __future__ import annotations

import ast
import doctest
import fnmatch
import inspect
import re
from pathlib import Path

import pytest

import jaxloss

ROOT = Path(__file__).resolve().parents[1]
LAYOUT_DOCS = ["README.md", "docs/architecture.md", "CONTRIBUTING.md"]
# what a layout must list in full: every Python file under these folders, and py.typed
LISTED_FOLDERS = ["jaxloss", "tests", "benchmarks"]
FENCE = re.compile(r"^(```+|~~~+)\s*(\{?[\w-]*\}?)[^\n]*\n(.*?)^\1\s*$", re.M | re.S)
PRIVATE_IMPORT = re.compile(r"\bjaxloss\._\w+|\bfrom\s+jaxloss\s+import\s+_\w+")


def _tree_files() -> set[str]:
    """Every Python file (and the py.typed marker) under the listed folders."""
    files = set()
    for folder in LISTED_FOLDERS:
        for path in (ROOT / folder).rglob("*"):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            if path.suffix == ".py" or path.name == "py.typed":
                files.add(path.relative_to(ROOT).as_posix())
    return files


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(info string, body) of every fenced code block of a Markdown text."""
    return [(m.group(2), m.group(3)) for m in FENCE.finditer(text)]


def parse_layout(block: str) -> set[str]:
    """The paths a layout block names, files and folders (a folder ends in '/')."""
    paths: set[str] = set()
    parents: list[tuple[int, str]] = []  # (indent, folder path) of the open folders
    for line in block.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        assert indent % 2 == 0, f"layout line not indented by a multiple of two: {line!r}"
        entries = re.split(r"\s{2,}", line.strip())[0].split(" ")
        while parents and parents[-1][0] >= indent:
            parents.pop()
        assert not parents or parents[-1][0] == indent - 2, f"layout indent jumps: {line!r}"
        prefix = parents[-1][1] if parents else ""
        for entry in entries:
            assert re.fullmatch(r"[\w.-]+/?", entry), f"not a file or folder name: {entry!r}"
            paths.add(prefix + entry)
        if len(entries) == 1 and entries[0].endswith("/"):
            parents.append((indent, prefix + entries[0]))
    return paths


def layout_of(doc: str) -> set[str]:
    text = (ROOT / doc).read_text()
    layouts = [body for _, body in _fenced_blocks(text) if body.split(" ", 1)[0] == "jaxloss/"]
    assert len(layouts) == 1, f"{doc}: expected one layout block starting with 'jaxloss/'"
    return parse_layout(layouts[0])


@pytest.mark.parametrize("doc", LAYOUT_DOCS)
def test_layout_names_only_what_exists(doc):
    missing = sorted(p for p in layout_of(doc) if not (ROOT / p.rstrip("/")).exists())
    assert not missing, f"{doc}'s layout names what does not exist: {missing}"


@pytest.mark.parametrize("doc", LAYOUT_DOCS)
def test_layout_names_every_module_and_test_file(doc):
    omitted = sorted(_tree_files() - layout_of(doc))
    assert not omitted, f"{doc}'s layout omits: {omitted}"


def _mentioned_files(text: str) -> set[str]:
    """This project's file names a text mentions: every ``*.py`` name, and every path into
    one of its folders (globs included: ``test_*.py`` must match a file)."""
    names = re.findall(r"(?<![\w/.*-])([\w*./-]*[\w*]\.(?:py|md|toml|txt|json|png))\b", text)
    folders = ("jaxloss/", "tests/", "benchmarks/", "docs/")
    return {n for n in names if n.endswith(".py") or n.startswith(folders)}


def _exists(name: str, everything: list[str]) -> bool:
    if "/" in name:
        return any(fnmatch.fnmatch(p, name) or p.endswith("/" + name) for p in everything)
    return any(fnmatch.fnmatch(p.rsplit("/", 1)[-1], name) for p in everything)


@pytest.mark.parametrize("doc", LAYOUT_DOCS)
def test_every_file_name_mentioned_exists(doc):
    everything = [
        p.relative_to(ROOT).as_posix()
        for p in ROOT.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(ROOT).parts)
    ]
    text = (ROOT / doc).read_text()
    missing = sorted(n for n in _mentioned_files(text) if not _exists(n, everything))
    assert not missing, f"{doc} names files that do not exist: {missing}"


def test_the_layout_parser_reads_nesting_and_rejects_prose():
    block = "jaxloss/    the library\n  a.py b.py  two\n  sub/\n    c.py\nother.md\n"
    expected = {"jaxloss/", "jaxloss/a.py", "jaxloss/b.py", "jaxloss/sub/", "jaxloss/sub/c.py"}
    assert parse_layout(block) == expected | {"other.md"}
    with pytest.raises(AssertionError):
        parse_layout("jaxloss/\n  see, it is prose\n")


# --- examples never import a private module ----------------------------------------------
def _markdown_examples() -> list[tuple[str, str]]:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [
        (path.relative_to(ROOT).as_posix(), body)
        for path in docs
        for info, body in _fenced_blocks(path.read_text())
        if info.strip("{}") in ("python", "py", "doctest", "pycon", "")
    ]


def _public_docstrings() -> list[tuple[str, str]]:
    """Docstrings a user reads: the public modules' and those of every public function and
    class (and their public methods) defined in them, and of every name in jaxloss.__all__,
    read from the source (the app's modules are not imported: they need the train extra)."""
    exported = set(jaxloss.__all__)
    found: list[tuple[str, str]] = []
    for path in sorted((ROOT / "jaxloss").rglob("*.py")):
        module = path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
        public_module = not any(p.startswith("_") for p in module.split(".") if p != "__init__")
        tree = ast.parse(path.read_text())
        if public_module and ast.get_docstring(tree):
            found.append((module, ast.get_docstring(tree) or ""))
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef | ast.ClassDef):
                continue
            if not (node.name in exported or (public_module and not node.name.startswith("_"))):
                continue
            members = [node] + [
                m
                for m in getattr(node, "body", [])
                if isinstance(m, ast.FunctionDef)
                and (not m.name.startswith("_") or m.name in ("__init__", "__call__"))
            ]
            for member in members:
                doc = ast.get_docstring(member)
                if doc:
                    found.append((f"{module}.{node.name}", doc))
    return found


def _doctest_source(doc: str) -> str:
    return "".join(example.source for example in doctest.DocTestParser().get_examples(doc))


def test_examples_found():
    names = {name for name, _ in _public_docstrings()}
    assert "jaxloss._linear_cross_entropy.linear_cross_entropy" in names
    assert "jaxloss.nn.CrossEntropyLoss" in names
    assert any(path == "README.md" for path, _ in _markdown_examples())


@pytest.mark.parametrize(
    "where, code",
    [*_markdown_examples(), *((name, _doctest_source(doc)) for name, doc in _public_docstrings())],
)
def test_no_example_imports_a_private_module(where, code):
    private = PRIVATE_IMPORT.findall(code)
    assert not private, f"{where}: an example uses {private}; use the public jaxloss names"


def test_the_private_import_check_can_fail():
    doc = inspect.cleandoc(
        """Example:
          >>> from jaxloss._linear_cross_entropy import linear_cross_entropy
          >>> import jaxloss
        """
    )
    assert PRIVATE_IMPORT.findall(_doctest_source(doc)) == ["jaxloss._linear_cross_entropy"]
    assert PRIVATE_IMPORT.findall("from jaxloss import _errors") == ["from jaxloss import _errors"]
