#!/usr/bin/env -S uv run --script
# /// script
# dependencies = ["nox>=2024.4.15"]
# ///
"""Sessions: tests, a minimal (NumPy-only) install, the conformance matrix, lint,
typecheck, docs, benchmarks and the conformance report.  JAX, pyarrow and Dask
are in the `test` dependency group: the plain test run covers them.

    nox -l                    # list the sessions
    nox                       # the default ones: tests, minimal, lint, typecheck
    nox -s conformance        # every leg of the conformance matrix (LEGS below)
    nox -s python-3.13        # one leg: the one that matches your stack
    nox -s report             # writes conformance-report.md and .json
    nox -s downstream         # array-api-extra's and SciPy's suites on the pytest plugin
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import nox

nox.needs_version = ">=2024.4.15"
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.download_python = "never"  # the interpreters the machine has, or a clear error

# The torch build this project's machines have on disk (CPU only).  Elsewhere,
# set XPBRIDGE_TORCH to the requirement you want, e.g. "torch>=2.13".
TORCH = "torch==2.13.0"

# The conformance matrix: every version range pyproject.toml claims, at both ends
# where these machines can install it.  One leg per entry, named by what it
# varies; "pins" are exact requirements ("==" is implied; "2.0.*" a series), and
# a library a leg does not pin is the newest pip finds for that Python.  torch
# has wheels on disk only for Python 3.11 (2.13.0 and 2.14.1): other Pythons
# would download several GB of CUDA builds, so their legs run without torch.
# tests/test_metadata.py checks pyproject.toml's floors, classifiers and the
# README's "Tested with" table against this list (read as a literal: keep it one).
LEGS = [
    {
        "name": "torch-2.13",
        "python": "3.11",
        "group": "test",
        "pins": {"torch": "2.13.0"},
        "about": "the README's environment: torch 2.13.0, the newest of the rest",
    },
    {
        "name": "torch-2.14",
        "python": "3.11",
        "group": "test",
        "pins": {"torch": "2.14.1"},
        "about": "the newest torch on disk (a 5.4 GB environment, on the CPU)",
    },
    {
        "name": "numpy-2.0",
        "python": "3.11",
        "group": "test",
        "pins": {"numpy": "2.0.*", "torch": "2.13.0"},
        "about": "NumPy 2.0: read-only DLPack exports refused, every import read-only",
    },
    {
        "name": "numpy-2.1",
        "python": "3.11",
        "group": "test",
        "pins": {"numpy": "2.1.*", "torch": "2.13.0"},
        "about": "NumPy 2.1: read-only exports, imports still read-only (before 2.2.5)",
    },
    {
        "name": "floors-torch",
        "python": "3.11",
        "group": "test-core",
        "pins": {
            "numpy": "1.26.0",
            "torch": "2.13.0",
            "jax": "0.5.3",
            "jaxlib": "0.5.3",
            "array-api-strict": "2.3",
            "ml_dtypes": "0.5.0",
            "array-api-compat": "1.10.0",
            "dask": "2025.9.0",
            "distributed": "2025.9.0",
            "hypothesis": "6.115.0",
        },
        "about": "every lower bound pyproject.toml claims, with the oldest torch",
    },
    {
        "name": "floors",
        "python": "3.10",
        "group": "test-core",
        "pins": {
            "numpy": "1.26.0",
            "jax": "0.5.3",
            "jaxlib": "0.5.3",
            "array-api-strict": "2.3",
            "ml_dtypes": "0.5.0",
            "array-api-compat": "1.10.0",
            "dask": "2025.9.0",
            "distributed": "2025.9.0",
            "hypothesis": "6.115.0",
        },
        "about": "every lower bound on the oldest Python (no torch wheel for it here)",
    },
    {
        "name": "python-3.10",
        "python": "3.10",
        "group": "test",
        "pins": {},
        "about": "the oldest Python, the newest of everything it can have, no torch",
    },
    {
        "name": "python-3.12",
        "python": "3.12",
        "group": "test",
        "pins": {},
        "about": "NumPy 2.5 and the newest JAX, no torch",
    },
    {
        "name": "python-3.13",
        "python": "3.13",
        "group": "test",
        "pins": {},
        "about": "the newest Python: NumPy 2.5, the newest JAX, no torch",
    },
]

# What each dependency group installs of the libraries the suite requires once
# present (tests/conftest.py: XPBRIDGE_REQUIRE_LIBRARIES fails a run that lacks one).
GROUP_LIBRARIES = {
    "test-core": ["ml_dtypes", "array_api_strict", "dask", "distributed", "optree"],
    "test": [
        "ml_dtypes",
        "array_api_strict",
        "jax",
        "pyarrow",
        "dask",
        "distributed",
        "scipy",
        "optree",
        "mypy",
        "pyright",
    ],
}


def _pyenv_interpreters() -> None:
    """Let pyenv's shims answer for every installed Python, not only the active one.

    With pyenv, `python3.12` on the PATH is a shim that runs only when 3.12 is
    the active version; nox then finds no such interpreter.  Naming every
    installed version (the active one first) makes each shim answer.
    """
    if "PYENV_VERSION" in os.environ or shutil.which("pyenv") is None:
        return
    listed = subprocess.run(
        ["pyenv", "versions", "--bare"], capture_output=True, text=True, check=False
    )
    active = subprocess.run(["pyenv", "version-name"], capture_output=True, text=True, check=False)
    names = [active.stdout.strip(), *listed.stdout.split()]
    os.environ["PYENV_VERSION"] = ":".join(dict.fromkeys(n for n in names if n))


_pyenv_interpreters()


def _torch(session: nox.Session) -> str:
    return session.env.get("XPBRIDGE_TORCH", TORCH)


def _install_test(session: nox.Session, *extra: str, group: str = "test") -> None:
    """The package with a dependency group (pip >= 25.1 reads groups)."""
    session.install("-U", "pip")
    session.install("-e", ".", "--group", group, _torch(session), *extra)


# Run in a leg's own interpreter (which has no nox): fail unless it has what the
# leg pins, and no torch where the leg has none (a library that pulled torch in
# would change what the leg tests).
CHECK_LEG = """
import json, sys
from fnmatch import fnmatch
from importlib.metadata import PackageNotFoundError, version

leg = json.loads(sys.argv[1])
wrong = []
python = f"{sys.version_info.major}.{sys.version_info.minor}"
if python != leg["python"]:
    wrong.append(f"Python {python}, not {leg['python']}")
for package, pin in leg["pins"].items():
    have = version(package).split("+")[0]
    if have != pin and not fnmatch(have, pin):
        wrong.append(f"{package} {have}, not {pin}")
if "torch" not in leg["pins"]:
    try:
        wrong.append(f"torch {version('torch')} is installed, though the leg has none")
    except PackageNotFoundError:
        pass
if wrong:
    raise SystemExit(f"leg {leg['name']}: " + "; ".join(wrong))
"""


def _leg(leg: dict) -> None:
    pins = leg["pins"]
    libraries = GROUP_LIBRARIES[leg["group"]] + [n for n in ("torch", "jax") if n in pins]

    def run(session: nox.Session) -> None:
        session.install("-U", "pip")
        session.install(
            "-e", ".", "--group", leg["group"], *(f"{name}=={pin}" for name, pin in pins.items())
        )
        # A file, not -c: nox echoes the command.  Not create_tmp(), which sets TMPDIR
        # for the rest of the session, and pytester's paths would then lie in the tree.
        with tempfile.TemporaryDirectory() as folder:
            check = Path(folder) / "check_leg.py"
            check.write_text(CHECK_LEG)
            session.run("python", str(check), json.dumps(leg))
        session.run("python", "-m", "xpbridge", "info")
        session.env["XPBRIDGE_REQUIRE_LIBRARIES"] = ",".join(dict.fromkeys(libraries))
        session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *session.posargs)

    run.__doc__ = f"Python {leg['python']}: {leg['about']}."
    nox.session(name=leg["name"], python=leg["python"], tags=["conformance"], default=False)(run)


for _each in LEGS:
    _leg(_each)


@nox.session(default=False, venv_backend="none")
def conformance(session: nox.Session) -> None:
    """The whole conformance matrix: queues every leg (the same as nox -t conformance)."""
    for leg in LEGS:
        session.notify(leg["name"])


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite in a fresh environment."""
    _install_test(session)
    session.run("pytest", *session.posargs)


@nox.session
def minimal(session: nox.Session) -> None:
    """NumPy only (no torch, no ml_dtypes): xpbridge imports and works, and so does the CLI."""
    session.install("-e", ".", "pytest", "hypothesis")
    session.run("python", "-c", "import xpbridge.testing, xpbridge")
    # The installed console script, as a user without torch runs it.
    session.run("xpbridge", "--version")
    session.run("xpbridge", "info")
    session.run("xpbridge", "demo")
    session.run("xpbridge", "explain", "float32[::-1]", "--copy", "false")
    report = Path(session.create_tmp()) / "report.md"
    session.run("xpbridge", "report", "--format", "markdown", "-o", str(report))
    session.run("pytest", "tests/minimal", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and format."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package; mypy and pyright, strict, on the public types users see."""
    _install_test(session)  # the test group has mypy and pyright
    session.run("mypy")
    session.run("mypy", "--strict", "tests/typing/check_convert.py")
    session.run("pyright", "--pythonpath", f"{session.bin}/python", "tests/typing/check_convert.py")


@nox.session(default=False)
def docs(session: nox.Session) -> None:
    """Build the docs with warnings as errors; doctest the pages; check the tables against spec/."""
    _install_test(session)
    session.run(
        "sphinx-build", "-E", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html"
    )
    # pytest doctests the Markdown pages (their examples run as written) and
    # tests/test_docs.py compares the built tables with spec/ (and runs the
    # browser check at 1280 px where Chromium is installed).
    session.run("pytest", "docs", "tests/test_docs.py", "-p", "no:cacheprovider")


def _chromium(session: nox.Session) -> None:
    """Chromium on PATH: Debian's package, installed here when this is Debian and root."""
    names = ("chromium", "chromium-browser", "google-chrome", "chrome")
    if any(shutil.which(name) for name in names):
        return
    if shutil.which("apt-get") and os.geteuid() == 0:
        session.run("apt-get", "update", "-qq", external=True)
        session.run("apt-get", "install", "-y", "-qq", "chromium", external=True)
        return
    session.error(
        "the browser check needs Chromium on PATH: apt-get install chromium (Debian), "
        "or install Chromium or Chrome another way"
    )


@nox.session(default=False)
def docs_browser(session: nox.Session) -> None:
    """Render every page in headless Chromium at 1280 and 1920 px; fail when one overflows.

    A page fails when a table or a code block is wider than its box, or a table
    fits only by breaking a word of code.  Installs Debian's Chromium when it
    is missing and the session runs as root on Debian; elsewhere, install
    Chromium first.  Screenshots of every page at both widths land in
    docs/_build/screenshots.  The docs group alone must build the docs, as on
    Read the Docs (.readthedocs.yaml).
    """
    _chromium(session)
    session.install("-U", "pip")
    session.install("-e", ".", "--group", "docs")
    session.run(
        "sphinx-build", "-E", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html"
    )
    session.run(
        "python",
        "docs/_ext/browser_check.py",
        "docs/_build/html",
        "--screenshots",
        "docs/_build/screenshots",
    )


@nox.session(default=False)
def benchmarks(session: nox.Session) -> None:
    """Ratio benchmarks; regenerates the docs' performance table and plot."""
    _install_test(session, "matplotlib", "autoray", "arraybridge", "scikit-learn")
    session.run("python", "benchmarks/bench.py", "--publish", "docs/performance", *session.posargs)


@nox.session(default=False)
def report(session: nox.Session) -> None:
    """The conformance report, as an artifact (conformance-report.md and .json)."""
    _install_test(session)
    session.run(
        "python", "-m", "xpbridge", "report", "--format", "json", "-o", "conformance-report.json"
    )
    session.run(
        "python", "-m", "xpbridge", "report", "--format", "markdown", "-o", "conformance-report.md"
    )


# The array-api-extra release whose wheel (tests included) the downstream session runs.
ARRAY_API_EXTRA = "array-api-extra==0.11.5"


@nox.session(default=False)
def downstream(session: nox.Session) -> None:
    """Real suites on xpbridge's pytest plugin, with conftest changes only.

    array-api-extra's tests/main (they ship in its wheel) and SciPy's
    scipy/special/tests/test_logsumexp.py (from the installed SciPy) each run
    on their own fixtures and on xpbridge's (examples/downstream/adopted/),
    and the outcome tables print per backend.  The session fails when
    array-api-extra passes a different number of tests on a backend both runs
    have.
    """
    _install_test(session, ARRAY_API_EXTRA, "--only-binary=array-api-extra")
    runner = "examples/downstream/adopted/run.py"
    pytest_args = ["--", *session.posargs] if session.posargs else []  # e.g. -- -k dask
    session.run("python", runner, "array-api-extra", "--check", *pytest_args)
    session.run("python", runner, "scipy", *pytest_args)
    # The suite's failures on device1 that are array-api-extra's own bugs, as scripts.
    session.run("python", "examples/downstream/adopted/array_api_extra/device1_reproducers.py")


if __name__ == "__main__":
    nox.main()
