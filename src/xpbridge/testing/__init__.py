"""Public testing helpers for code that converts arrays.

Assertions (bitwise, NaN-payload-aware equality; aliasing) and hypothesis
strategies over arrays and tensors.  Importing this subpackage imports no
framework; the strategies need ``hypothesis``.
"""

from __future__ import annotations

from ._assertions import assert_aliases, assert_bitwise_equal, snapshot
from ._bits import host_bits

__all__ = ["assert_aliases", "assert_bitwise_equal", "host_bits", "snapshot"]
