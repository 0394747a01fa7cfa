#!/usr/bin/env -S uv run --script
# /// script
# dependencies = ["nox>=2024.4.15"]
# ///
"""Sessions: tests, a minimal (NumPy-only) install, the NumPy version matrix, lint,
typecheck, docs, benchmarks and the conformance report.  JAX, pyarrow and Dask
are in the `test` dependency group: the plain test run covers them.

    nox -l                    # list the sessions
    nox                       # the default ones: tests, minimal, lint, typecheck
    nox -s matrix             # NumPy 1.26, 2.0, 2.1 and the newest, each with torch
    nox -s conformance        # writes conformance-report.md
    nox -s downstream         # array-api-extra's and SciPy's suites on the pytest plugin
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.needs_version = ">=2024.4.15"
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True

# The torch build this project's machines have on disk (CPU only).  Elsewhere,
# set XPBRIDGE_TORCH to the requirement you want, e.g. "torch>=2.1".
TORCH = "torch==2.13.0"
NUMPY_MATRIX = ["1.26", "2.0", "2.1", "2.4"]


def _torch(session: nox.Session) -> str:
    return session.env.get("XPBRIDGE_TORCH", TORCH)


def _install_test(session: nox.Session, *extra: str, group: str = "test") -> None:
    """The package with a dependency group (pip >= 25.1 reads groups)."""
    session.install("-U", "pip")
    session.install("-e", ".", "--group", group, _torch(session), *extra)


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


@nox.session(default=False)
@nox.parametrize("numpy", NUMPY_MATRIX)
def matrix(session: nox.Session, numpy: str) -> None:
    """The test suite on each NumPy of the matrix, with the torch build this machine has."""
    # JAX and SciPy have left NumPy 1.26 behind: the legs share the core group.
    _install_test(session, f"numpy=={numpy}.*", group="test-core")
    session.run("python", "-m", "xpbridge", "info")
    session.run("pytest", "-p", "no:cacheprovider", *session.posargs)


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
def conformance(session: nox.Session) -> None:
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
