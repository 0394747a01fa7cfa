"""Sphinx configuration."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "_ext"))

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
smartquotes = False  # spec text quotes code: keep its quotes exact

# The behaviour, dtype and upstream tables are rendered from spec/ on every build.
spec_tables.write_all(HERE / "_generated")
