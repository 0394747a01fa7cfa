"""The public API's types, as users' checkers see them: mypy and pyright, both strict.

tests/typing/check_convert.py states with ``assert_type`` what each call
returns and marks the calls that must be rejected; this runs both checkers on
it in a subprocess, as ``nox -s typecheck`` does.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from conftest import ROOT
from frameworks import needs_torch

# The checked file states torch's types: without torch both checkers would see Any.
pytestmark = needs_torch

CHECKED = "tests/typing/check_convert.py"


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


def _numpy_before_2_2() -> bool:
    from importlib.metadata import version

    return tuple(int(n) for n in version("numpy").split(".")[:2]) < (2, 2)


@pytest.mark.subprocess
@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is in the test group")
@pytest.mark.skipif(
    _numpy_before_2_2(),
    reason="NumPy's stubs before 2.2: mypy matches the numpy module to no protocol, so "
    "convert(x, numpy) is typed Any there (precise from NumPy 2.2's stubs on)",
)
def test_mypy_strict_infers_the_documented_types() -> None:
    done = _run("mypy", "--strict", CHECKED)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.subprocess
@pytest.mark.skipif(
    importlib.util.find_spec("pyright") is None, reason="pyright is in the test group"
)
def test_pyright_strict_infers_the_documented_types() -> None:
    done = _run("pyright", "--pythonpath", sys.executable, CHECKED)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 errors" in done.stdout
