"""The hooks a suite's ``conftest.py`` implements to configure the xpbridge plugin.

Registered with pytest by the plugin (``pytest_addhooks``); a conftest
implements them as plain functions of the same name.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import pytest

__all__ = ["pytest_xp_settings", "pytest_xp_setup"]

if TYPE_CHECKING:
    from ._backends import XPBackend
    from ._settings import XPSettings


@pytest.hookspec(firstresult=True)
def pytest_xp_settings(config: pytest.Config) -> XPSettings | None:
    """Return the suite's :class:`~xpbridge.testing.XPSettings`.

    Called once per run, when the first test that uses ``xp`` is collected;
    the first conftest that returns settings wins (the one nearest the
    tests).
    """


@pytest.hookspec
def pytest_xp_setup(
    backend: XPBackend, xp: Any, request: pytest.FixtureRequest
) -> AbstractContextManager[Any] | None:
    """Set up one test on one backend; return a context manager to undo it, or None.

    Called for each test that uses ``xp`` (or ``xp_device``, ``xp_backend``)
    before it runs, with the run's backend, its ``xp`` namespace and the
    fixture request (``request.module`` is the test's module).  Every
    returned context manager is entered, and exited after the test: turn on
    JAX's 64-bit mode, set torch's default dtype, enter the suite's own
    ``default_xp(xp)`` or ``patch_lazy_xp_functions(request, xp=xp)``.
    """
