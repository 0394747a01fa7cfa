"""``shares_memory``: exact memory overlap across libraries and devices."""

from __future__ import annotations

from typing import Any

from ..backends import registry as _registry
from ..backends._base import Extent

__all__ = ["shares_memory"]


def _bounds(e: Extent) -> tuple[int, int] | None:
    if 0 in e.shape:
        return None
    low = high = e.pointer
    for n, s in zip(e.shape, e.strides, strict=True):
        if s < 0:
            low += (n - 1) * s
        else:
            high += (n - 1) * s
    return low, high + e.itemsize


class _Raw:
    # An opaque view of an extent that NumPy can reason about without reading it
    # (the pointer may be device memory).
    def __init__(self, e: Extent) -> None:
        self.__array_interface__ = {
            "data": (e.pointer, True),
            "shape": e.shape,
            "strides": e.strides,
            "typestr": f"|V{e.itemsize}",
            "version": 3,
        }


def shares_memory(a: Any, b: Any, /) -> bool:
    """Whether two arrays, of any supported libraries, share memory.

    Exact (NumPy's ``shares_memory`` on the raw extents) when the bounds
    overlap; arrays on different devices, scalars and size-0 arrays never
    share memory.

    Parameters
    ----------
    a, b : array_like
        Arrays of any library xpbridge converts (NumPy, torch, DLPack and
        array-API producers, buffers).

    Returns
    -------
    bool
        Whether a write to one can change the other.

    Raises
    ------
    UnsupportedInputError
        An argument that no backend owns (it speaks no array protocol).

    Examples
    --------
    >>> import numpy as np, xpbridge as xb
    >>> a = np.arange(6)
    >>> xb.shares_memory(a, xb.to_torch(a)), xb.shares_memory(a[::2], a[1::2])
    (True, False)
    """
    ea = _registry.backend_of(a).extent(a)
    eb = _registry.backend_of(b).extent(b)
    if ea is None or eb is None or ea.device != eb.device:
        return False
    ba, bb = _bounds(ea), _bounds(eb)
    if ba is None or bb is None or ba[1] <= bb[0] or bb[1] <= ba[0]:
        return False
    import numpy as np

    try:
        # NumPy's stubs admit only -1 and 0, its documentation any bound on the work.
        raws = np.asarray(_Raw(ea)), np.asarray(_Raw(eb))
        return bool(np.shares_memory(*raws, max_work=10**6))  # type: ignore[arg-type]
    except np.exceptions.TooHardError:
        return True  # the bounds overlap; too hard to prove disjoint, so say they may share
