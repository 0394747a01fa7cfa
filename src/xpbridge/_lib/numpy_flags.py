"""NumPy's array flag bits, as ``ndarray.flags.num`` gives them (stable since NumPy 1.0).

One attribute read and a mask is cheaper than ``ndarray.flags.<name>``,
which builds a flags object on every read; the per-call paths read these.
"""

from __future__ import annotations

__all__ = ["ALIGNED", "CONTIGUOUS", "C_CONTIGUOUS", "F_CONTIGUOUS", "WRITEABLE"]

C_CONTIGUOUS = 0x1
F_CONTIGUOUS = 0x2
CONTIGUOUS = C_CONTIGUOUS | F_CONTIGUOUS  # either
ALIGNED = 0x100
WRITEABLE = 0x400
