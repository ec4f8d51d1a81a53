"""The distributions: the wheel and the sdist built from a copy of this checkout, offline
(``python -m build --no-isolation``, the ``test`` extra's build and setuptools), and their
file lists and metadata checked against the source tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv*",
    "__pycache__",
    "*.pyc",
    "build",
    "dist",
    "*.egg-info",
    ".pytest_cache",
    ".hypothesis",
    "_build",
    "out",
    "runs",
    "workdir",
    "dataset",
)


def _package_files() -> set[str]:
    """Every file of the jaxloss package in this checkout, as a path from the root."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "jaxloss").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def distributions(tmp_path_factory) -> tuple[Path, Path]:
    """(sdist, wheel): the wheel is built from the sdist, as pip builds it."""
    work = tmp_path_factory.mktemp("package")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE, symlinks=True)
    out = work / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return sdist, wheel


def test_wheel_holds_the_package_and_nothing_else(distributions):
    _, wheel = distributions
    names = set(zipfile.ZipFile(wheel).namelist())
    info = {n for n in names if n.split("/")[0].endswith(".dist-info")}
    assert names - info == _package_files()
    assert "jaxloss/py.typed" in names
    assert not any(n.startswith(("tests/", "benchmarks/", "docs/")) for n in names)
    (license_file,) = (n for n in info if "/licenses/" in n)
    assert license_file.endswith("/licenses/LICENSE")


def test_sdist_holds_the_package_readme_license_changelog_and_no_tests(distributions):
    sdist, _ = distributions
    with tarfile.open(sdist) as archive:
        members = [m.name for m in archive.getmembers() if m.isfile()]
    top = {m.split("/")[0] for m in members}
    assert len(top) == 1
    names = {m.split("/", 1)[1] for m in members}
    assert {"README.md", "LICENSE", "CHANGELOG.md", "pyproject.toml", "PKG-INFO"} <= names
    assert {n for n in names if n.startswith("jaxloss/")} == _package_files()
    # the test suite needs the checkout (torch parity harness, benchmarks, app fixtures):
    # none of it is shipped rather than a part that cannot run
    assert not any(n.startswith(("tests/", "benchmarks/", "docs/")) for n in names)
    allowed_extra = {"MANIFEST.in", "setup.cfg"}
    other = {
        n
        for n in names
        if not n.startswith(("jaxloss/", "jaxloss.egg-info/"))
        and n not in {"README.md", "LICENSE", "CHANGELOG.md", "pyproject.toml", "PKG-INFO"}
    }
    assert other <= allowed_extra


def test_wheel_metadata(distributions):
    _, wheel = distributions
    with zipfile.ZipFile(wheel) as archive:
        (name,) = (n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(name).decode())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert metadata["Name"] == "jaxloss"
    assert metadata["Version"] == project["version"]
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["Author"] or metadata["Author-email"]
    assert "Typing :: Typed" in metadata.get_all("Classifier")
    assert metadata.get_content_type() == "text/markdown" or (
        metadata["Description-Content-Type"] == "text/markdown"
    )
    core = {Requirement(r).name for r in metadata.get_all("Requires-Dist") if "extra ==" not in r}
    assert core == {"jax", "numpy"}  # the library: jax and numpy only


def test_build_backend_reads_the_license_expression():
    # project.license as a string (PEP 639) needs setuptools >= 77
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    (setuptools,) = (Requirement(r) for r in requires if r.startswith("setuptools"))
    assert min(Version(s.version) for s in setuptools.specifier) >= Version("77")


def test_changelog_has_a_section_for_the_version():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"\n## [{version}] - " in changelog
    assert "\n## [Unreleased]\n" in changelog
