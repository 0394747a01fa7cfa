"""xpstats' test set-up on xpbridge's plugin: JAX's 64-bit mode for each test on JAX."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from xpbridge.testing import XPBackend


def pytest_xp_setup(
    backend: XPBackend, xp: Any, request: pytest.FixtureRequest
) -> contextlib.AbstractContextManager[Any] | None:
    """Turn on JAX's 64-bit types for the test (the float64 cases need them), and off after."""
    if backend.library == "jax":
        import jax

        return jax.enable_x64(True)
    return None
