"""The command line on a NumPy-only install.

Each command runs in a fresh interpreter in which torch, ml_dtypes and the
other optional libraries cannot be imported, as on an install without them.  ``nox -s minimal`` runs this file where they are really
absent (and runs the installed ``xpbridge`` script too); the main suite runs
it with them installed but refused, so CI covers the NumPy-only behaviour.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.subprocess

TORCH_MISSING = "torch is not installed here: pip install 'xpbridge[torch]'"
JAX_MISSING = "jax is not installed here: pip install 'xpbridge[jax]'"

REFUSED = ("torch", "ml_dtypes", "array_api_strict", "jax", "dask", "cupy", "hypothesis")

# A None entry in sys.modules is what a missing install looks like to both
# questions code asks: `import torch` raises ModuleNotFoundError and
# importlib.util.find_spec("torch") returns None.  (A finder on sys.meta_path
# can only refuse the import; find_spec would then raise instead of saying no.)
SHIM = textwrap.dedent(
    f"""
    import sys

    for name in {REFUSED!r}:
        sys.modules[name] = None
    sys.argv[0] = "xpbridge"
    from xpbridge._cli.main import main

    raise SystemExit(main(sys.argv[1:]))
    """
)


def numpy_only(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-c", SHIM, *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=cwd,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def test_info_shows_what_is_usable_and_says_what_is_missing() -> None:
    done = numpy_only("info")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0].startswith("xpbridge ")
    assert "backend           numpy (built-in)" in lines
    assert "backend           dlpack (protocol)" in lines
    # nothing that cannot be used is listed as if it could
    for missing in ("torch", "dask", "jax", "array_api_strict", "cupy"):
        assert not any(line.startswith(f"{missing} ") for line in lines), missing
        assert f"backend           {missing}" not in done.stdout
    missing = lines[lines.index(f"not installed     {'torch':<17} pip install 'xpbridge[torch]'") :]
    assert f"{'':<17} {'jax':<17} pip install 'xpbridge[jax]'" in missing
    assert f"{'':<17} {'array_api_strict':<17} pip install 'array-api-strict'" in missing


def test_demo_shows_numpy_and_says_what_torch_would_add() -> None:
    done = numpy_only("demo")
    assert done.returncode == 0
    out = done.stdout
    assert out.startswith("== NumPy ==\nto_numpy(a) is a: True")
    assert "CopyError: copy=False" in out and "UnsupportedInputError:" in out
    assert "torch is not installed, so this was the NumPy-only part" in out
    assert "pip install 'xpbridge[torch]'" in out


@pytest.mark.parametrize(
    ("args", "status", "stream", "text"),
    [
        (["float32[::-1]", "--copy", "false"], 0, "stdout", "numpy float32 array on cpu -> numpy"),
        (["float32", "--dtype", "float16", "--copy", "false"], 1, "stdout", "CopyError:"),
        (["float32 masked"], 0, "stdout", "(none: the source itself)"),
        (["requires-grad"], 2, "stderr", TORCH_MISSING),
        (["torch:float32"], 2, "stderr", TORCH_MISSING),
        (["float32", "--to", "torch"], 2, "stderr", TORCH_MISSING),
        (["float32", "--to", "jax"], 2, "stderr", JAX_MISSING),
        (["jax:float32"], 2, "stderr", JAX_MISSING),
        (["float32", "--to", "array_api_strict"], 2, "stderr", "array_api_strict is not installed"),
        (
            ["bfloat16"],
            2,
            "stderr",
            "NumPy gets bfloat16 from ml_dtypes: pip install 'xpbridge[ml-dtypes]'",
        ),
    ],
)
def test_explain(args: list[str], status: int, stream: str, text: str) -> None:
    done = numpy_only("explain", *args)
    assert done.returncode == status, done.stderr
    assert text in getattr(done, stream)
    if "is not installed" in text:  # one message, however the library was named
        assert re.search(
            r"error: (argument [\w-]+: )?\w+ is not installed here: pip install '", done.stderr
        )


def test_report_checks_what_is_installed(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    done = numpy_only("report", "--format", "json", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "0 contract violations" in done.stdout
    import json

    data = json.loads(out.read_text())
    assert {(c["source"], c["target"]) for c in data["checks"]} == {("numpy", "numpy")}
    assert done.stdout.startswith("1 library pairs over numpy\n")
    assert "torch" not in data["versions"]
    needs_torch = [f for f in data["facts"] if f["verdict"] == "not observable here (needs torch)"]
    assert needs_torch and all(f["observed"] is None for f in needs_torch)
    # Whether NumPy still does what spec/ says is test_upstream.py's question.
    differing = [f for f in data["facts"] if f["verdict"] == "DIFFERS from spec/"]
    assert data["summary"]["facts_differing_from_spec"] == len(differing)


def test_report_says_a_missing_library_is_missing() -> None:
    done = numpy_only("report", "--library", "torch")
    assert done.returncode == 2
    assert TORCH_MISSING in done.stderr


def test_report_refuses_a_dtype_outside_its_matrix() -> None:
    done = numpy_only("report", "--dtype", "bfloat16")
    assert done.returncode == 2
    assert "bfloat16 is not in the report's matrix" in done.stderr
