"""``shares_memory``: exact memory overlap across libraries and devices."""

from __future__ import annotations

from typing import Any

from ..backends import registry as _registry
from ..backends._base import Extent
from ..errors import UnsupportedInputError

__all__ = ["shares_memory"]


def _reduced(e: Extent) -> Extent | None:
    """The same set of addresses with as few axes as possible (None: no element at all).

    An axis of length 1 or stride 0 adds no address; a negative stride walks
    the same addresses from the other end; two axes of one stride reach what
    one longer axis reaches.  So a 65-dimensional tensor (more axes than NumPy
    takes) is compared exactly whenever its memory could exist at all.
    """
    if 0 in e.shape:
        return None
    pointer = e.pointer
    lengths: dict[int, int] = {}  # stride -> the combined length of the axes with it
    for n, stride in zip(e.shape, e.strides, strict=True):
        if n == 1 or stride == 0:
            continue
        if stride < 0:
            pointer += (n - 1) * stride
        step = abs(stride)
        lengths[step] = lengths.get(step, 1) + n - 1
    strides = sorted(lengths, reverse=True)
    shape = tuple(lengths[s] for s in strides)
    return Extent(e.device, pointer, shape, tuple(strides), e.itemsize)


def _bounds(e: Extent) -> tuple[int, int]:
    """The first address and one past the last (``e`` reduced: strides positive)."""
    span = sum((n - 1) * s for n, s in zip(e.shape, e.strides, strict=True))
    return e.pointer, e.pointer + span + e.itemsize


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
    overlap; arrays on different devices, scalars, size-0 arrays and tensors
    without memory (meta, FakeTensor, an uninitialised parameter) never share
    memory.  A sparse tensor's memory is its index and value tensors, a nested
    tensor's its buffer.  It never guesses: where the memory cannot be seen or
    the overlap cannot be decided, it raises.

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
        An argument that no backend owns (it speaks no array protocol); a
        tensor whose memory is not its own (wrapped by a functorch transform,
        or a ``__torch_dispatch__`` subclass such as ``TwoTensor``: the message
        names its inner tensors); strides too intricate for NumPy to decide
        the overlap within its work bound (``numpy.exceptions.TooHardError``).

    Examples
    --------
    >>> import numpy as np, xpbridge as xb
    >>> a = np.arange(6)
    >>> xb.shares_memory(a, xb.to_torch(a)), xb.shares_memory(a[::2], a[1::2])
    (True, False)
    """
    blocks_a = _registry.backend_of(a).extents(a)
    blocks_b = _registry.backend_of(b).extents(b)
    return any(_overlap(ea, eb) for ea in blocks_a for eb in blocks_b)


def _overlap(ea: Extent, eb: Extent) -> bool:
    """Whether two strided blocks of memory have an element's bytes in common."""
    if ea.device != eb.device:
        return False
    ra, rb = _reduced(ea), _reduced(eb)
    if ra is None or rb is None:
        return False
    (low_a, high_a), (low_b, high_b) = _bounds(ra), _bounds(rb)
    if high_a <= low_b or high_b <= low_a:
        return False
    if len(ra.shape) > _MOST_AXES or len(rb.shape) > _MOST_AXES:
        raise UnsupportedInputError(
            f"shares_memory cannot decide the overlap of a view with more than {_MOST_AXES} "
            f"distinct strides: compare simpler views of the same memory"
        )
    import numpy as np

    try:
        # NumPy's stubs admit only -1 and 0, its documentation any bound on the work.
        raws = np.asarray(_Raw(ra)), np.asarray(_Raw(rb))
        return bool(np.shares_memory(*raws, max_work=_MAX_WORK))  # type: ignore[arg-type]
    except np.exceptions.TooHardError:
        raise UnsupportedInputError(
            f"shares_memory cannot decide whether these views overlap within {_MAX_WORK} "
            f"steps (NumPy's TooHardError): their strides interleave; compare simpler "
            f"views of the same memory"
        ) from None


# The most axes NumPy's overlap test takes on every supported NumPy (32 before
# NumPy 2.0, 64 since).  Reduced, a view with more is a made-up one: 33 axes of
# distinct strides and length 2 or more.
_MOST_AXES = 32
_MAX_WORK = 10**6
