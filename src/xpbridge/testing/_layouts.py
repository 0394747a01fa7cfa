"""Memory layouts for generated arrays: which block of memory to fill, and which view to cut.

A layout is built in two steps that never disagree about the shape: a
C-contiguous block of :func:`block_shape` is filled with data, then
:func:`numpy_view` / :func:`torch_view` cut a view of exactly the requested
shape out of it.  Flags that change memory (byte order, alignment, torch's
negative bit) are applied to the block, so the view keeps its layout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..errors import ArgumentError

__all__ = [
    "LAYOUTS",
    "LAYOUTS_BY_LIBRARY",
    "block_shape",
    "layouts_for",
    "numpy_view",
    "torch_view",
    "unaligned_copy",
    "with_negative_bit",
]

# C: C-contiguous.  F: Fortran-contiguous.  transposed: the last two axes
# swapped (a batch of transposed matrices; with fewer than two axes, C).
# strided: every other element of the last axis.  negative: the last axis
# reversed.  zero: the first axis has stride 0 (a broadcast row).  offset:
# the data starts one element into its buffer.  Layouts that need an axis
# are C for 0-d arrays.
LAYOUTS = ("C", "F", "transposed", "strided", "negative", "zero", "offset")
_ALIASES = {"contiguous": "C", "expanded": "zero"}  # the names torch_tensors used to take

# What each library can hold.  torch has no negative strides; an array-API
# library does not show its layout at all, so its arrays are C.
LAYOUTS_BY_LIBRARY = {
    "numpy": LAYOUTS,
    "torch": tuple(layout for layout in LAYOUTS if layout != "negative"),
}
_OPAQUE_LAYOUT = ("C",)


def layouts_for(library: str, layouts: Sequence[str] | None) -> tuple[str, ...]:
    """The requested layouts that ``library`` can hold (all of them when None).

    :class:`ArgumentError` for an unknown layout name, or when the library can
    hold none of the requested layouts.
    """
    can = LAYOUTS_BY_LIBRARY.get(library, _OPAQUE_LAYOUT)
    if layouts is None:
        return can
    if isinstance(layouts, str):
        raise ArgumentError(f"layouts={layouts!r}: pass a tuple of layout names, e.g. ('C', 'F')")
    names = [_ALIASES.get(name, name) for name in layouts]
    unknown = [name for name in names if name not in LAYOUTS]
    if unknown:
        raise ArgumentError(
            f"unknown layout {unknown[0]!r}: the layouts are {', '.join(LAYOUTS)} "
            f"(and the aliases contiguous = C, expanded = zero)"
        )
    usable = tuple(dict.fromkeys(name for name in names if name in can))
    if not usable:
        raise ArgumentError(
            f"{library} arrays cannot have the layouts {', '.join(names)}: "
            f"{library} can hold {', '.join(can)}"
        )
    return usable


def block_shape(layout: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of the C-contiguous block that the view of ``shape`` is cut from."""
    if layout == "offset":
        return (math.prod(shape) + 1,)
    if not shape:
        return shape
    if layout == "F":
        return shape[::-1]
    if layout == "transposed" and len(shape) >= 2:
        return (*shape[:-2], shape[-1], shape[-2])
    if layout == "strided":
        return (*shape[:-1], shape[-1] * 2)
    if layout == "zero":
        return (1, *shape[1:])
    return shape


def numpy_view(block: Any, layout: str, shape: tuple[int, ...]) -> Any:
    """The view of a NumPy ``block`` (of :func:`block_shape`) with the layout and ``shape``."""
    import numpy as np

    if layout == "offset":
        return block[1:].reshape(shape)
    if not shape:
        return block
    if layout == "F":
        return block.T
    if layout == "transposed" and len(shape) >= 2:
        return block.swapaxes(-1, -2)
    if layout == "strided":
        return block[..., ::2]
    if layout == "negative":
        return block[..., ::-1]
    if layout == "zero":
        # A writable zero-stride view.  as_strided rebuilds the dtype from its
        # typestr, which ml_dtypes types lack: stride a same-width integer view.
        size = block.dtype.itemsize
        carrier = (
            block.view(f"{block.dtype.byteorder.replace('|', '=')}u{size}") if size <= 8 else block
        )
        strides = (0, *block.strides[1:])
        view = np.lib.stride_tricks.as_strided(carrier, shape, strides)
        return view.view(block.dtype)
    return block


def torch_view(block: Any, layout: str, shape: tuple[int, ...]) -> Any:
    """The view of a torch ``block`` (of :func:`block_shape`) with the layout and ``shape``."""
    if layout == "offset":
        return block[1:].view(shape)
    if not shape:
        return block
    if layout == "F":
        return block.permute(tuple(reversed(range(block.ndim))))
    if layout == "transposed" and len(shape) >= 2:
        return block.transpose(-1, -2)
    if layout == "strided":
        return block[..., ::2]
    if layout == "zero":
        return block.expand(shape)
    return block


def unaligned_copy(a: Any) -> Any:
    """A copy of NumPy array ``a`` whose data starts one byte past an aligned address."""
    import numpy as np

    raw = np.zeros(a.nbytes + 1, dtype=np.uint8)
    out = raw[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def with_negative_bit(t: Any) -> Any:
    """The values of float tensor ``t``, held negated in memory under torch's negative bit."""
    import torch

    # conj() of (0 + i*(-t)) is (0 + i*t); its imaginary part is a view of -t
    # carrying the negative bit, so reading it negates once more: t, bit for bit.
    return torch.complex(torch.zeros_like(t), -t).conj().imag
