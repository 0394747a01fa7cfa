"""Public testing toolkit for code that works with arrays of any library.

- Assertions that compare across libraries and devices:
  :func:`assert_equal`, :func:`assert_close` (namespace, dtype, shape and
  device checks; torch's conjugate and negative bits resolved),
  :func:`assert_bitwise_equal` (NaN payloads included), :func:`assert_aliases`.
- The backends a test suite runs on: :func:`xp_backends`, :class:`XPBackend`,
  :func:`backends_table`, and the pytest plugin (``xpbridge.testing.plugin``,
  enabled on install) with its ``xp`` / ``xp_device`` / ``xp_devices``
  fixtures, its ``xp_skip`` / ``xp_xfail`` / ``xp_functions`` markers, and
  :class:`XPSettings` for a suite's conftest.
- What the functions under test support: :func:`capabilities` (one
  declaration that drives test marks through :func:`xp_functions`, lazy
  runs on Dask and ``jax.jit``, and :func:`capabilities_table` for the docs).
- Hypothesis strategies in :mod:`xpbridge.testing.strategies` (needs
  hypothesis: ``pip install 'xpbridge[testing]'``).

Importing this subpackage imports no array library.
"""

from __future__ import annotations

from ._assertions import assert_aliases, assert_bitwise_equal, snapshot
from ._backends import XPBackend, backends_table, xp_backends
from ._bits import host_bits
from ._capabilities import capabilities, capabilities_table, xp_functions
from ._compare import assert_close, assert_equal, default_tolerance
from ._settings import XPSettings

__all__ = [
    "XPBackend",
    "XPSettings",
    "assert_aliases",
    "assert_bitwise_equal",
    "assert_close",
    "assert_equal",
    "backends_table",
    "capabilities",
    "capabilities_table",
    "default_tolerance",
    "host_bits",
    "snapshot",
    "xp_backends",
    "xp_functions",
]
