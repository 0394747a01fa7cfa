"""SciPy's array-API test machinery (``scipy/conftest.py``), adopted to xpbridge's pytest plugin.

For SciPy's own test files (here ``scipy/special/tests/test_logsumexp.py``,
unchanged), run with ``SCIPY_ARRAY_API=1`` as SciPy's own array-API runs are.
What replaces SciPy's ``xp`` fixture and its helpers:

- ``xp`` comes from the plugin, out of SciPy's vendored array-api-compat
  (``XPSettings(array_api_compat=...)``), so SciPy's ``xp_assert_*``, which
  compare namespaces with that copy, accept it;
- SciPy's ``skip_xp_backends`` / ``xfail_xp_backends`` markers (backend
  names such as ``"jax.numpy"``, or ``np_only`` / ``cpu_only`` /
  ``eager_only`` with ``exceptions``) are the plugin's ``xp_skip`` /
  ``xp_xfail``, which take the same arguments;
- SciPy's ``devices`` fixture is the plugin's ``xp_devices``;
- the per-backend set-up of SciPy's conftest (array-api-strict's API
  version, JAX's 64-bit mode, torch's float64 default dtype, SciPy's
  ``default_xp`` and its ``patch_lazy_xp_functions``) is ``pytest_xp_setup``.

SciPy's JAX runs are jitted (``jax-jit``): ``eager_only`` skips them, as
SciPy's own conftest skips JAX.  The set-up follows SciPy's conftest
(BSD-3-Clause, Copyright (c) 2001-2002 Enthought, Inc. 2003, SciPy Developers).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import pytest
import xpbridge.testing as xpt
from scipy._lib._array_api import default_xp
from scipy._lib.array_api_extra.testing import patch_lazy_xp_functions


def pytest_configure(config: pytest.Config) -> None:
    """Register SciPy's markers (its own conftest did)."""
    config.addinivalue_line(
        "markers",
        "skip_xp_backends(backends, reason=None, np_only=False, cpu_only=False, "
        "eager_only=False, exceptions=None): xpbridge's xp_skip",
    )
    config.addinivalue_line(
        "markers",
        "xfail_xp_backends(backends, reason=None, np_only=False, cpu_only=False, "
        "eager_only=False, exceptions=None): xpbridge's xp_xfail",
    )


def pytest_xp_settings(config: pytest.Config) -> xpt.XPSettings:
    """SciPy's backends, its array-api-compat and its markers, for xpbridge's plugin."""
    return xpt.XPSettings(
        backends="numpy,array_api_strict-CPU_DEVICE,torch-cpu,jax-jit-cpu,dask",
        array_api_compat="scipy._lib.array_api_compat",
        markers={"skip_xp_backends": "xp_skip", "xfail_xp_backends": "xp_xfail"},
    )


def pytest_xp_setup(
    backend: xpt.XPBackend, xp: Any, request: pytest.FixtureRequest
) -> contextlib.AbstractContextManager[Any]:
    """Set up a backend as SciPy's conftest and xp fixture do."""
    if backend.library == "array_api_strict":
        xp.set_array_api_strict_flags(api_version="2024.12")
    elif backend.library == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
    elif backend.library == "torch":
        import torch

        # SciPy's default unless SCIPY_DEFAULT_DTYPE says float32.
        if os.getenv("SCIPY_DEFAULT_DTYPE", "float64") == "float64":
            torch.set_default_dtype(torch.float64)
    stack = contextlib.ExitStack()
    # If xp is jax.numpy, tested functions run under jax.jit; if dask.array,
    # they may not compute.
    stack.enter_context(patch_lazy_xp_functions(request=request, xp=xp))
    # SciPy's assertions check that both arrays are of xp's namespace.
    stack.enter_context(default_xp(xp))
    return stack


@pytest.fixture
def devices(xp_devices: list[Any]) -> list[Any]:
    """Every device of the backend, for device-propagation tests."""
    return xp_devices
