from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from _pytest.doctest import DoctestItem
from hypothesis import HealthCheck, settings

# Hypothesis profiles: "quick" for local work, "ci" (derandomized, 200 examples
# per property) in CI, "thorough" (2,000) on demand:
#   XPBRIDGE_HYPOTHESIS_PROFILE=thorough python -m pytest tests/property
_SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("quick", max_examples=30, deadline=None, suppress_health_check=_SLOW_DATA)
settings.register_profile(
    "ci", max_examples=200, derandomize=True, deadline=None, suppress_health_check=_SLOW_DATA
)
settings.register_profile(
    "thorough", max_examples=2000, deadline=None, suppress_health_check=_SLOW_DATA
)
settings.load_profile(
    os.environ.get("XPBRIDGE_HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "quick")
)
if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the backport xpbridge itself depends on there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "spec"


# The error classes an outcome in spec/contract.toml may name.
OUTCOME_ERRORS = (
    "CopyError",
    "DTypeError",
    "DeviceError",
    "GradError",
    "UnsupportedInputError",
    "ArgumentError",
)


def load_spec(name: str) -> dict[str, Any]:
    with (SPEC / name).open("rb") as f:
        return tomllib.load(f)


# Libraries the docs claim are tested.  Their tests skip where a library is absent
# (a NumPy-1.26 leg of the matrix cannot install JAX), but a run that sets
# XPBRIDGE_REQUIRE_LIBRARIES (as .ci/run does) fails at once if one is missing,
# so CI can never pass by skipping them.
def pytest_sessionstart(session: pytest.Session) -> None:
    import importlib.util

    wanted = os.environ.get("XPBRIDGE_REQUIRE_LIBRARIES", "")
    missing = [m for m in wanted.split(",") if m and importlib.util.find_spec(m) is None]
    if missing:
        pytest.exit(f"XPBRIDGE_REQUIRE_LIBRARIES: not installed: {', '.join(missing)}", 3)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "rule(id): the contract rule in spec/contract.toml a test proves"
    )
    sys.path.insert(0, str(Path(__file__).parent))


# --- a leg without torch -------------------------------------------------------
# The conformance legs that have no torch (Python 3.12 and 3.13: torch wheels for
# them are not installable here) run every test that does not involve torch.  A
# test that does skips with its reason: those of the editable modules are marked
# (frameworks.needs_torch); the doctests (in src/ and docs/) that use torch, and
# the modules and tests named below, are skipped here.  They are named one by one,
# so that any other module that imports torch unconditionally still fails such a
# leg.  With torch installed, none of this does anything.  The lists are in
# tests/frameworks.py (TORCH_AT_MODULE_LEVEL, TORCH_IN_THE_BODY).


def _relative(path: Path) -> str:
    path = path.resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def _torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    """A listed module that fails to import only for want of torch is a skip, with its reason."""
    from frameworks import TORCH_AT_MODULE_LEVEL

    report = yield
    path = getattr(collector, "path", None)
    if (
        report.failed
        and path is not None
        and _relative(Path(path)) in TORCH_AT_MODULE_LEVEL
        and not _torch_installed()
        and "No module named 'torch'" in str(report.longrepr)
    ):
        report.outcome = "skipped"
        reason = "needs torch (the module imports torch at module level)"
        report.longrepr = (str(path), 0, f"Skipped: {reason}")
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip the doctests that use what this leg lacks (torch, scikit-learn, ...), and
    without torch the tests named above."""
    from frameworks import DOCTEST_NEEDS, TORCH_IN_THE_BODY

    missing = [(re.compile(pattern), reason) for pattern, here, reason in DOCTEST_NEEDS if not here]
    if not missing:
        return
    for item in items:
        if isinstance(item, DoctestItem) and item.dtest is not None:
            sources = [e.source for e in item.dtest.examples]
            for pattern, reason in missing:
                if any(pattern.search(source) for source in sources):
                    item.add_marker(pytest.mark.skip(reason=reason))
                    break
        elif item.nodeid in TORCH_IN_THE_BODY and not _torch_installed():
            item.add_marker(pytest.mark.skip(reason="needs torch (the test calls torch)"))
