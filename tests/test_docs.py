"""The built docs show exactly what spec/ says, and build with warnings as errors."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, load_spec
from frameworks import tomllib

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


PYTEST_COLLECT = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]


def test_docs_and_their_tests_collect_alone() -> None:
    # What `nox -s docs` runs.  A conftest.py in docs/_ext once shadowed
    # tests/conftest.py, and `from conftest import ROOT` failed there.
    done = subprocess.run(
        [*PYTEST_COLLECT, "docs", "tests/test_docs.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "tests/test_docs.py::test_behaviour_page_matches_the_contract" in done.stdout


def test_dtype_and_upstream_pages_match_the_spec(built: Path) -> None:
    dtypes = {cells[0]: cells for cells in _cells(built / "dtypes.html")}
    for row in load_spec("dtypes.toml")["dtype"]:
        assert dtypes[row["name"]][-1] == row["numpy_torch"]
    facts = _rows(built / "upstream.html")
    page = html.unescape((built / "upstream.html").read_text())
    for fact in load_spec("upstream.toml")["fact"]:
        assert facts[fact["id"]][1].startswith(holds_text(fact)), fact["id"]
        motivates = ", ".join(f"{rule}" for rule in fact["motivates"])
        assert motivates in re.sub(r"<[^>]+>", "", page), fact["id"]


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


def test_api_reference_documents_every_public_name(built: Path) -> None:
    page = (built / "api.html").read_text()
    anchors = set(re.findall(r'id="(xpbridge[\w.]*)"', page))
    import xpbridge.testing.strategies

    names = [name for name, _ in _public()]
    names += [f"xpbridge.testing.strategies.{n}" for n in xpbridge.testing.strategies.__all__]
    missing = [name for name in names if name not in anchors]
    assert not missing, f"not on the API page: {missing}"
    # every attribute of a plan, "source, target : str" included, has its own entry
    for attribute in ("source", "target", "device", "dtype", "steps", "reasons", "aliases"):
        assert f"xpbridge.Plan.{attribute}" in anchors
    for attribute in ("target", "plans", "passed_through", "bytes_copied"):
        assert f"xpbridge.TreePlan.{attribute}" in anchors
    # one entry per object: the narrative pages link to the API page
    for other in built.glob("*.html"):
        if other.name != "api.html":
            assert not re.search(r'<dt class="sig[^"]*" id="xpbridge', other.read_text()), other


def test_api_reference_is_generated_from_all() -> None:
    import api_reference

    import xpbridge

    # A name added to __all__ appears on the next build, in "More" until a
    # section claims it.
    xpbridge.__all__.append("_a_new_public_name")
    xpbridge._a_new_public_name = lambda: None  # type: ignore[attr-defined]
    try:
        text = api_reference.render()
    finally:
        xpbridge.__all__.remove("_a_new_public_name")
        del xpbridge._a_new_public_name  # type: ignore[attr-defined]
    more = text[text.index("## More") :]
    assert ".. autofunction:: xpbridge._a_new_public_name()" in more
    # convert has typing overloads: its entry shows one plain signature
    assert ".. autofunction:: xpbridge.convert(x, to, /, *, device=None," in text


def test_tree_rules_have_their_own_page_matching_the_spec(built: Path) -> None:
    rows = _rows(built / "tree-rules.html")
    page = (built / "tree-rules.html").read_text()
    for rule in load_spec("trees.toml")["rule"]:
        assert rule["id"] in rows, f"rule {rule['id']} is missing from the built page"
        assert rows[rule["id"]][1] == rule["outcome"].replace("`", "")  # code, as text
        assert html.escape(rule["reason"], quote=False) in page, rule["id"]
    # spec files are tables on their own pages, never dumped into a narrative page
    for source in (ROOT / "docs").glob("*.md"):
        assert not re.search(r"\{literalinclude\}\s+\S*spec/", source.read_text()), source


def test_performance_tables_keep_every_figure_of_the_benchmark() -> None:
    import performance_tables

    text = performance_tables.TABLE.read_text(encoding="utf-8")
    _, rows, _ = performance_tables._split(text)
    laid_out = performance_tables.ratios(text)
    assert rows, "no ratio rows in docs/performance/table.md"
    for row in rows:
        for cell in row:
            assert cell in laid_out, cell
    assert "## Copy bandwidth" in laid_out  # the rest of the file follows
    with pytest.raises(performance_tables.TableFormatError, match="columns"):
        performance_tables.ratios(text.replace("| target |", "| goal |", 1))


def test_copy_button_copies_doctest_input_without_prompts(built: Path) -> None:
    """sphinx-copybutton's own code, run on a built doctest block, copies only the input."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: the copy button's code cannot run here")
    js = (built / "_static" / "copybutton.js").read_text()
    start = js.index("function formatCopyText(")
    function = js[start : js.index("\n}\n", start) + 3]
    call = re.search(r"return (formatCopyText\(text, .*\))", js)
    assert call is not None
    page = (built / "quickstart.html").read_text()
    blocks = [
        html.unescape(re.sub(r"<[^>]+>", "", pre))
        for pre in re.findall(r"<pre>(.*?)</pre>", page, flags=re.DOTALL)
    ]
    block = next(b for b in blocks if "xb.to_torch(a[::-1], copy=False)" in b)
    script = f"{function}\nconst text = {json.dumps(block)};\nprocess.stdout.write({call[1]});"
    done = subprocess.run([node, "-e", script], capture_output=True, text=True, check=True)
    copied = done.stdout.rstrip("\n")
    assert copied == 'print(xb.plan(a[::-1], "torch"))\nxb.to_torch(a[::-1], copy=False)'


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if shutil.which(name):
            return name
    return None


WIDTH = ["--width", "1280"]
CHECK = [sys.executable, str(ROOT / "docs" / "_ext" / "browser_check.py")]


def test_pages_fit_a_1280_px_screen(built: Path) -> None:
    """No table or code block wider than its box, no column squeezed (nox -s docs_browser)."""
    if _chromium() is None:
        if os.environ.get("XPBRIDGE_REQUIRE_BROWSER"):
            pytest.fail("XPBRIDGE_REQUIRE_BROWSER is set but Chromium is not installed")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    done = subprocess.run(
        [*CHECK, str(built), *WIDTH],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 overflow" in done.stdout
    # screenshots into a relative folder (Path.as_uri() once refused a relative page)
    shots = subprocess.run(
        [*CHECK, built.name, *WIDTH, "--page", "quickstart", "--screenshots", "shots"],
        cwd=built.parent,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert shots.returncode == 0, shots.stdout + shots.stderr
    png = (built.parent / "shots" / "quickstart-1280.png").read_bytes()
    assert png.startswith(b"\x89PNG") and int.from_bytes(png[20:24], "big") > 1000  # the page


# ------------------------------------------------------- README and install story

README = (ROOT / "README.md").read_text(encoding="utf-8")
EXTRAS = set(
    tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
)


def test_readme_reads_well_as_a_package_description() -> None:
    # The README is the package's long description: a package index shows it
    # without the repository, so its links must be absolute.
    links = re.findall(r"\]\(([^)]+)\)", README)
    assert links and all(link.startswith("https://") for link in links), links
    # It speaks to a reader anywhere, not about the machines it was written on.
    assert not re.search(r"this project's machines|on disk", README)
    # A one-line try-it comes before the long test set-up.
    first_block = re.search(r"```bash\n(.*?)\n```", README, flags=re.DOTALL)
    assert first_block is not None and "\n" not in first_block[1]
    assert README.index(first_block[1]) < README.index("## Set up")
    assert first_block[1].endswith("xpbridge demo")


def _install_lines() -> list[tuple[str, str]]:
    # Every install line in the README, the docs and the package's source; the
    # lines made by the one helper (xpbridge.errors.install_line) are checked
    # by its answers rather than its template.
    from xpbridge._lib.environment import OPTIONAL
    from xpbridge.errors import EXTRAS, install_line

    sources = [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    sources += (ROOT / "src" / "xpbridge").rglob("*.py")
    found = [("errors.py", install_line(module)) for module in {*OPTIONAL, *EXTRAS}]
    for source in sources:
        if source.name != "errors.py":
            for line in re.findall(r"pip install [^\n`)]*", source.read_text(encoding="utf-8")):
                found.append((source.name, line))
    return found


def test_one_install_story() -> None:
    """Every install line names xpbridge's extras, never a library it has an extra for."""
    extra_for = {"torch": "torch", "ml_dtypes": "ml-dtypes", "ml-dtypes": "ml-dtypes"}
    extra_for |= {"jax": "jax", "dask": "dask", "hypothesis": "testing"}
    lines = _install_lines()
    assert lines
    for source, line in lines:
        words = []  # the requirements, up to a comment or the prose after them
        for word in line.partition(" #")[0].replace('"', " ").replace("'", " ").split()[2:]:
            if word in {"for", "or", "and", "then", "to"}:
                break
            words.append(word.rstrip(",.;:"))
        if "-e ." in line or "-e '." in line:
            continue  # a development set-up from a clone, which pins what CI tests
        for word in words:
            library = re.split(r"[\[=<>]", word)[0]
            assert library not in extra_for, (
                f"{source}: {line!r}: use xpbridge[{extra_for[library]}]"
            )
            for extras in re.findall(r"^xpbridge\[([^\]]+)\]", word):
                assert set(extras.split(",")) <= EXTRAS, f"{source}: {line!r}"


def test_the_try_it_line_runs_on_a_fresh_checkout(tmp_path: Path) -> None:
    """The README's first command, as a newcomer runs it: a new venv, the package, the demo."""
    line = re.search(r"```bash\n(.*?)\n```", README, flags=re.DOTALL)
    assert line is not None
    for name in ("src", "spec"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tmp_path / name)
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    done = subprocess.run(
        ["bash", "-c", line[1]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "== NumPy ==" in done.stdout


def test_read_the_docs_builds_with_the_docs_group() -> None:
    import yaml

    config = yaml.safe_load((ROOT / ".readthedocs.yaml").read_text())
    assert config["version"] == 2
    assert (ROOT / config["sphinx"]["configuration"]).is_file()
    assert config["sphinx"]["fail_on_warning"] is True
    install = " && ".join(config["build"]["jobs"]["install"])
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    wanted = re.findall(r"--group (\w+)", install)
    assert wanted == ["docs"] and "docs" in groups
    # pip reads --group from 25.1 on: the build upgrades it first
    assert install.index("pip install -U pip") < install.index("--group")
