from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
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
import tomllib

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
