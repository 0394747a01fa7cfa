"""Bitwise views of arrays, built only from upstream calls.

The assertions compare results through these views, so they never trust the
conversion code they check.
"""

from __future__ import annotations

import sys
from typing import Any

from .._lib.warnings import quiet_complex_half

__all__ = ["host_bits", "quiet_complex_half", "tensor_from_bits"]


_CARRIER = {1: "uint8", 2: "uint16", 4: "uint32", 8: "uint64", 16: "uint64"}


def host_bits(x: Any) -> tuple[Any, str]:
    """A C-contiguous NumPy array of the raw element bits of ``x``, and its dtype name.

    Works for NumPy arrays and scalars (ml_dtypes types included), torch
    tensors on any device (conjugate and negative bits resolved), and the
    arrays of other array-API libraries on any of their devices.  Two
    arrays are bitwise equal exactly when these arrays and names are equal.

    Parameters
    ----------
    x : array
        The array to read.

    Returns
    -------
    bits : numpy.ndarray
        Unsigned integers of the element's width (complex128: two uint64 in a
        last axis of 2), in ``x``'s shape, native byte order.
    name : str
        The canonical dtype name.

    Raises
    ------
    TypeError
        If ``x`` is neither a NumPy or torch object nor an array of a library
        array-api-compat knows (array-api-compat's own message).

    Examples
    --------
    >>> import numpy as np
    >>> host_bits(np.array([1.0], dtype=">f2"))
    (array([15360], dtype=uint16), 'float16')
    """
    import numpy as np

    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        with quiet_complex_half():
            t = x.detach().resolve_conj().resolve_neg().cpu().contiguous()
        name = str(t.dtype).removeprefix("torch.")
        size = t.element_size()
        if t.dtype.is_complex and size == 16:
            t = torch.view_as_real(t)
            size = 8
        carrier = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[size]
        bits = t.view(carrier).numpy().view(_CARRIER[size])
        return bits, name
    if not isinstance(x, np.ndarray | np.generic):
        from ._inspect import host_values  # JAX, array-api-strict (any device), CuPy, ...

        x = host_values(x)
    a = np.asarray(x)
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    a = np.array(a, order="C")  # ascontiguousarray would make a 0-d array 1-d
    size = a.dtype.itemsize
    if size >= 16:  # complex128, and longdouble / clongdouble where they are 16 / 32 bytes
        bits = a.reshape(*a.shape, 1).view("uint64")  # (..., words): 0-d safe
        if a.dtype.kind in "fc" and _padded_extended(np, a.dtype):
            # x87's 80-bit extended precision in 16 bytes per part: the 6 bytes
            # above the value are padding, left as they were in memory (two
            # copies of one value may differ there), so they are not its bits.
            bits = bits.copy()
            bits[..., 1::2] &= 0xFFFF
        return bits, a.dtype.name
    return a.view(_CARRIER[size]), a.dtype.name


def _padded_extended(np: Any, dtype: Any) -> bool:
    """Whether ``dtype``'s parts are 80-bit extended precision values padded to 16 bytes."""
    part = np.empty(0, dtype).real.dtype if dtype.kind == "c" else dtype
    return bool(part.itemsize == 16 and np.finfo(part).nmant == 63)


def tensor_from_bits(a: Any) -> Any:
    """A new torch tensor with the dtype, shape and bits of NumPy array ``a``.

    Built from upstream calls only (ml_dtypes types travel as same-width
    integers), so tests can make tensors without the code they test.
    """
    import numpy as np
    import torch

    a = np.array(a, order="C")  # a new, native, C-contiguous array of the same dtype
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    name = a.dtype.name
    if a.dtype.type.__module__ == "numpy":  # not an ml_dtypes type
        return torch.from_numpy(a)
    carrier = {1: np.uint8, 2: np.int16, 4: np.int32}[a.dtype.itemsize]
    with quiet_complex_half():
        return torch.from_numpy(a.view(carrier)).view(getattr(torch, name))
