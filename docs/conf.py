"""Sphinx configuration for jaxloss's documentation (``make docs``).

Builds offline: no intersphinx, no CDN; the theme (furo) and MyST come from the ``docs``
extra. The API pages are generated from ``jaxloss.__all__`` by ``_ext/jaxloss_api.py``,
so a loss added to ``__all__`` appears without editing anything here.
"""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # the checkout's jaxloss, not an installed copy
sys.path.insert(0, str(DOCS / "_ext"))

import jaxloss  # noqa: E402

project = "jaxloss"
author = "the jaxloss authors"
copyright = "the jaxloss authors, Apache-2.0"
release = jaxloss.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.doctest",
    "jaxloss_api",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "README.md", "Thumbs.db", ".DS_Store"]

# -- MyST ------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- autodoc / napoleon ------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True  # show torch's defaults as written: reduction='mean'
autodoc_class_signature = "mixed"
autoclass_content = "class"
autodoc_inherit_docstrings = False  # no "Call self as a function." under each __call__
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
# The torch-style "Shape:" block of every loss is a section of its own.
napoleon_custom_sections = [("Shape", "notes_style")]
add_module_names = False
python_use_unqualified_type_names = True

# -- doctest -----------------------------------------------------------------
# Only the ```{doctest}``` blocks of these pages run here; the docstrings' Examples are
# run by tests/api/test_docstrings.py and are not collected a second time.
doctest_test_doctest_blocks = ""
doctest_global_setup = "import jax, jax.numpy as jnp, jaxloss"
doctest_default_flags = (
    doctest.ELLIPSIS | doctest.IGNORE_EXCEPTION_DETAIL | doctest.NORMALIZE_WHITESPACE
)

# -- HTML --------------------------------------------------------------------
html_theme = "furo"
html_title = f"jaxloss {release}"
html_static_path: list[str] = []
html_theme_options = {"navigation_with_keys": True}
