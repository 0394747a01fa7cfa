"""Sphinx configuration."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "_ext"))

import comparison
import spec_tables

import xpbridge

project = "xpbridge"
author = "the xpbridge developers"
copyright = "2026, the xpbridge developers"
release = version = xpbridge.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.doctest"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "_generated", "performance/table.md"]
html_theme = "furo"
html_title = "xpbridge"
html_static_path = ["_static"]
html_css_files = ["xpbridge.css"]
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_numpy_docstring = True
nitpicky = False

# Links to NumPy, PyTorch, hypothesis and the array API standard.  Their
# inventories are fetched over the network, which the offline builds (the test
# suite's sphinx -W run, CI) do not have, and an unreachable inventory is a
# warning, i.e. an error under -W.  So online builds (Read the Docs sets
# READTHEDOCS; elsewhere set XPBRIDGE_DOCS_INTERSPHINX=1) turn the mapping on.
if os.environ.get("READTHEDOCS") or os.environ.get("XPBRIDGE_DOCS_INTERSPHINX"):
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "torch": ("https://docs.pytorch.org/docs/stable", None),
        "hypothesis": ("https://hypothesis.readthedocs.io/en/latest", None),
        "array-api": ("https://data-apis.org/array-api/latest", None),
    }
smartquotes = False  # spec text quotes code: keep its quotes exact

# The behaviour, dtype and upstream tables are rendered from spec/ on every build.
spec_tables.write_all(HERE / "_generated")
comparison.write(HERE / "_generated")
