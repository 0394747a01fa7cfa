"""Run xpstats' tests on two NumPy versions, each on every backend installed with it.

    nox                       # both sessions
    nox -s "tests(numpy='1.26')" -- --xp-backends=numpy,numpy-readonly
    nox -s "tests(numpy='2.4')" -- --xp-report=xp-capabilities.json

xpbridge comes from this repository's checkout (two directories up); a project
of its own would install ``xpbridge[testing]`` from its package index instead.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True

XPBRIDGE = str(Path(__file__).resolve().parents[2])


@nox.session
@nox.parametrize("numpy", ["1.26", "2.4"])
def tests(session: nox.Session, numpy: str) -> None:
    """The test suite with this NumPy, array-api-strict and xpbridge's plugin."""
    session.install(f"numpy=={numpy}.*", f"{XPBRIDGE}[testing]", "pytest", "array-api-strict")
    session.install("--no-deps", "-e", ".")
    session.run("python", "-c", "import numpy; print('NumPy', numpy.__version__)")
    session.run("pytest", "-p", "no:cacheprovider", *session.posargs)
