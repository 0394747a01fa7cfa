"""The built docs show exactly what spec/ says, and build with warnings as errors."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, load_spec


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


def _rows(page: Path) -> dict[str, list[str]]:
    """Table rows of a built page, keyed by the text of their first cell."""
    rows = {}
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", page.read_text(), flags=re.DOTALL):
        cells = [
            html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, flags=re.DOTALL)
        ]
        if cells:
            rows[cells[0]] = cells
    return rows


def test_behaviour_page_matches_the_contract(built: Path) -> None:
    rows = _rows(built / "behaviour.html")
    for rule in load_spec("contract.toml")["rule"]:
        assert rule["id"] in rows, f"rule {rule['id']} is missing from the built page"
        if rule.get("driver") != "custom":
            cells = rows[rule["id"]]
            assert cells[3:6] == [rule["none"], rule["true"], rule["false"]], rule["id"]
            assert cells[1] == rule["situation"]


def test_dtype_and_upstream_pages_match_the_spec(built: Path) -> None:
    dtypes = _rows(built / "dtypes.html")
    for row in load_spec("dtypes.toml")["dtype"]:
        assert dtypes[row["name"]][-1] == row["numpy_torch"]
    facts = _rows(built / "upstream.html")
    for fact in load_spec("upstream.toml")["fact"]:
        assert facts[fact["id"]][3].startswith("holds" if fact["holds"] else "does not hold")
        assert (fact.get("when") or "") in facts[fact["id"]][3]
