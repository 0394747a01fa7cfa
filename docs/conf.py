"""Sphinx configuration."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "_ext"))

import api_reference
import comparison
import performance_tables
import spec_tables

import xpbridge

project = "xpbridge"
author = "the xpbridge developers"
copyright = "2026, the xpbridge developers"
release = version = xpbridge.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "sphinx_copybutton",
]
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
# The copy button copies the input lines of a doctest without their prompts
# (">>> ", "... ") and leaves the output out; a shell block's "$ " goes too.
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
copybutton_only_copy_prompt_lines = True
copybutton_remove_prompts = True
smartquotes = False  # spec text quotes code: keep its quotes exact

# The behaviour, dtype and upstream tables are rendered from spec/ on every build.
spec_tables.write_all(HERE / "_generated")
comparison.write(HERE / "_generated")
api_reference.write(HERE / "_generated")
performance_tables.write(HERE / "_generated")


# NumPy-style "a, b : type" entries in an Attributes section are two
# attributes; napoleon would make one entry named "a, b" that no reference
# (xpbridge.Plan.source) can find.  Split them before napoleon reads the
# section.
_ATTRIBUTE_PAIR = re.compile(r"^(\s*)(\w+(?:, \w+)+) : (.*)$")


def _split_attribute_pairs(
    app: object, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    out: list[str] = []
    section = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        if index + 1 < len(lines) and set(lines[index + 1].strip()) == {"-"}:
            section = line.strip()
        pair = _ATTRIBUTE_PAIR.match(line) if section == "Attributes" else None
        if pair is None:
            out.append(line)
            index += 1
            continue
        body = []
        index += 1
        while index < len(lines) and (
            not lines[index].strip() or lines[index].startswith(pair[1] + " ")
        ):
            body.append(lines[index])
            index += 1
        while body and not body[-1].strip():
            body.pop()
        for attribute in pair[2].split(", "):
            out += [f"{pair[1]}{attribute} : {pair[3]}", *body]
        out.append("")
    lines[:] = out


def setup(app: Any) -> None:
    # Before napoleon (priority 500), which turns the section into reST.
    app.connect("autodoc-process-docstring", _split_attribute_pairs, priority=400)
