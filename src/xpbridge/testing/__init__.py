"""Public testing toolkit for code that works with arrays of any library.

- Assertions that compare across libraries and devices:
  :func:`assert_equal`, :func:`assert_close` (namespace, dtype, shape and
  device checks; torch's conjugate and negative bits resolved),
  :func:`assert_bitwise_equal` (NaN payloads included), :func:`assert_aliases`.
- The backends a test suite runs on: :func:`xp_backends`, :class:`XPBackend`,
  and the pytest plugin (``xpbridge.testing.plugin``, enabled on install)
  with its ``xp`` / ``xp_device`` fixtures and ``xp_skip`` / ``xp_xfail``
  markers.
- Hypothesis strategies in :mod:`xpbridge.testing.strategies` (needs
  hypothesis: ``pip install 'xpbridge[testing]'``).

Importing this subpackage imports no array library.
"""

from __future__ import annotations

from ._assertions import assert_aliases, assert_bitwise_equal, snapshot
from ._backends import XPBackend, xp_backends
from ._bits import host_bits
from ._compare import assert_close, assert_equal, default_tolerance

__all__ = [
    "XPBackend",
    "assert_aliases",
    "assert_bitwise_equal",
    "assert_close",
    "assert_equal",
    "default_tolerance",
    "host_bits",
    "snapshot",
    "xp_backends",
]
