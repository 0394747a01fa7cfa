"""The built docs show exactly what spec/ says, and build with warnings as errors."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, load_spec

from xpbridge._cli.upstream import holds_text


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            str(ROOT / "docs"),
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out


def _cells(page: Path) -> list[list[str]]:
    """The text of each table row's cells on a built page (soft hyphens removed)."""
    rows = []
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", page.read_text(), flags=re.DOTALL):
        cells = [
            html.unescape(re.sub(r"<[^>]+>", "", c)).replace("\u00ad", "").strip()
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, flags=re.DOTALL)
        ]
        if cells:
            rows.append(cells)
    return rows


def _rows(page: Path) -> dict[str, list[str]]:
    """Table rows keyed by the id in parentheses that ends their first cell, or the cell."""
    keyed = {}
    for cells in _cells(page):
        found = re.search(r"\(([\w.-]+)\)$", cells[0])
        keyed[found[1] if found else cells[0]] = cells
    return keyed


def test_behaviour_page_matches_the_contract(built: Path) -> None:
    rows = _rows(built / "behaviour.html")
    page = (built / "behaviour.html").read_text()
    for rule in load_spec("contract.toml")["rule"]:
        if rule.get("driver") == "custom":
            assert (
                f'<code class="docutils literal notranslate"><span class="pre">{rule["id"]}</span></code>'
                in page
            )
            continue
        assert rule["id"] in rows, f"rule {rule['id']} is missing from the built page"
        cells = rows[rule["id"]]
        assert cells[1:4] == [rule["none"], rule["true"], rule["false"]], rule["id"]
        assert cells[0].startswith(rule["situation"])
        assert html.escape(rule["reason"], quote=False) in page, rule["id"]


def test_dtype_and_upstream_pages_match_the_spec(built: Path) -> None:
    dtypes = {cells[0]: cells for cells in _cells(built / "dtypes.html")}
    for row in load_spec("dtypes.toml")["dtype"]:
        assert dtypes[row["name"]][-1] == row["numpy_torch"]
    facts = _rows(built / "upstream.html")
    for fact in load_spec("upstream.toml")["fact"]:
        assert facts[fact["id"]][1].startswith(holds_text(fact)), fact["id"]
        assert facts[fact["id"]][2].split(", ") == fact["motivates"], fact["id"]


# Every public name of these modules is in the API reference with a NumPy-style
# docstring.  (xpbridge.testing joins the list when its docstrings have the sections.)
PUBLIC_MODULES = ["xpbridge", "xpbridge.backends", "xpbridge.errors", "xpbridge.testing"]


def _public() -> list[tuple[str, object]]:
    """Every public name once, under the module users import it from first."""
    import importlib

    found: dict[int, tuple[str, object]] = {}
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        for attr in module.__all__:
            if attr != "__version__":
                obj = getattr(module, attr)
                found.setdefault(id(obj), (f"{name}.{attr}", obj))
    return list(found.values())


def _sections(doc: str) -> set[str]:
    return set(re.findall(r"^\s*(\w[\w ]*)\n\s*-{3,}\s*$", doc, flags=re.MULTILINE))


@pytest.mark.parametrize(("name", "obj"), _public(), ids=lambda v: v if isinstance(v, str) else "")
def test_public_names_have_numpy_docstrings(name: str, obj: object) -> None:
    import inspect

    doc = inspect.getdoc(obj) or ""
    sections = _sections(doc)
    assert "Examples" in sections and ">>> " in doc, f"{name} has no Examples"
    if isinstance(obj, type):
        if not issubclass(obj, Exception):
            assert sections & {"Parameters", "Attributes"}, f"{name}: Parameters or Attributes"
        return
    takes = [p for p in inspect.signature(obj).parameters.values() if p.name != "self"]
    wanted = {"Returns"} | ({"Parameters", "Raises"} if takes else set())
    assert wanted <= sections, f"{name} lacks {sorted(wanted - sections)}"
    listed = re.findall(
        r"^(\w+(?:, \w+)*)(?: :|$)", doc.split("Parameters\n----------\n")[-1], re.MULTILINE
    )
    documented = {name for names in listed for name in names.split(", ")}
    for parameter in takes:
        assert parameter.name in documented, f"{name}: parameter {parameter.name} undocumented"


def test_api_reference_lists_every_public_name() -> None:
    pages = "\n".join(page.read_text() for page in (ROOT / "docs").glob("*.md"))
    for name, obj in _public():
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert ".. automodule:: xpbridge.errors\n   :members:" in pages, name
        else:
            short = name.removeprefix("xpbridge.")
            assert re.search(rf"\.\. auto\w+:: xpbridge\.{re.escape(short)}\b", pages), name
