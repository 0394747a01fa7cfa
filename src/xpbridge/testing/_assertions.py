"""Assertions for tests of code that converts arrays."""

from __future__ import annotations

import sys
from typing import Any

from ._bits import host_bits

__all__ = ["assert_aliases", "assert_bitwise_equal", "snapshot"]


def assert_bitwise_equal(actual: Any, expected: Any) -> None:
    """Assert that two arrays of any supported library hold the same bits.

    NaN-aware in the strictest sense: NaN payloads must match too, and
    ``-0.0`` differs from ``0.0``.  Shapes must match and dtypes must have the
    same canonical name; the libraries and devices may differ.

    Parameters
    ----------
    actual, expected : array
        NumPy arrays or scalars (ml_dtypes types included), torch tensors on
        any device (conjugate and negative bits resolved), or arrays of any
        array-API library on any of its devices.

    Returns
    -------
    None
        When the bits are the same.

    Raises
    ------
    AssertionError
        If the dtype names, the shapes or the bits differ.

    See Also
    --------
    assert_equal : equal values (NaN equals NaN, ``-0.0`` equals ``0.0``).

    Examples
    --------
    >>> import numpy as np
    >>> assert_bitwise_equal(np.array([np.nan]), np.array([np.nan]))
    >>> assert_bitwise_equal(np.array([0.0]), np.array([-0.0]))
    Traceback (most recent call last):
    ...
    AssertionError: bits differ:
    array([0], dtype=uint64)
    array([9223372036854775808], dtype=uint64)
    """
    import numpy as np

    a_bits, a_name = host_bits(actual)
    e_bits, e_name = host_bits(expected)
    if a_name != e_name:
        raise AssertionError(f"dtype {a_name} != {e_name}")
    if a_bits.shape != e_bits.shape:
        raise AssertionError(f"shape {a_bits.shape} != {e_bits.shape}")
    if not np.array_equal(a_bits, e_bits):
        raise AssertionError(f"bits differ:\n{a_bits!r}\n{e_bits!r}")


def assert_aliases(a: Any, b: Any, expected: bool = True) -> None:
    """Assert that ``a`` and ``b`` share memory (or, with ``expected=False``, do not).

    Parameters
    ----------
    a, b : array
        Arrays of any library xpbridge knows, on any device.
    expected : bool, default True
        Whether they should share memory.

    Returns
    -------
    None
        When they share memory as expected.

    Raises
    ------
    AssertionError
        If :func:`xpbridge.shares_memory` says otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(3)
    >>> assert_aliases(x, x[1:])
    >>> assert_aliases(x, x.copy(), expected=False)
    """
    from .._api.memory import shares_memory

    if shares_memory(a, b) is not expected:
        raise AssertionError(f"shares_memory is {not expected}, expected {expected}")


def snapshot(x: Any) -> tuple[Any, ...]:
    """A value that changes whenever the bytes or flags of ``x`` change.

    Works for every input the library may be handed, including those it
    refuses (masked arrays, sparse or quantized tensors, plain objects).

    Parameters
    ----------
    x : object
        Anything; NumPy arrays and torch tensors are read byte by byte.

    Returns
    -------
    tuple
        Equal before and after an operation exactly when that operation left
        ``x``'s data, dtype, shape, strides and flags alone.

    Raises
    ------
    Nothing
        Every object has a snapshot (an unknown one is its ``repr``).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros(2)
    >>> before = snapshot(a)
    >>> a[0] = 1
    >>> snapshot(a) == before
    False
    """
    import numpy as np

    torch = sys.modules.get("torch")
    if isinstance(x, np.ma.MaskedArray):
        return ("masked", x.data.tobytes(), x.mask.tobytes())
    if isinstance(x, np.ndarray):
        return (
            "numpy",
            x.tobytes() if x.dtype != object else repr(x.tolist()),
            str(x.dtype),
            x.shape,
            x.strides,
            x.flags.writeable,
        )
    if isinstance(x, np.generic):
        return ("scalar", np.asarray(x).tobytes(), str(x.dtype))
    if torch is not None and isinstance(x, torch.Tensor):
        flags = (x.requires_grad, x.is_leaf, type(x).__name__, str(x.dtype), str(x.device))
        if x.is_nested:
            return ("nested", *flags, tuple(snapshot(t) for t in x.unbind()))
        if x.is_quantized:
            return ("quantized", *flags, snapshot(x.int_repr()))
        if x.layout is not torch.strided:
            return ("sparse", *flags, snapshot(x.to_dense()))
        if x.device.type == "meta":
            return ("meta", *flags, tuple(x.shape))
        meta = (x.is_conj(), x.is_neg(), tuple(x.shape), x.stride(), x.storage_offset())
        if x.dtype.itemsize < 1 or x.dtype in _opaque(torch):
            raw = x.view(torch.uint8) if x.element_size() == 1 else x.view(torch.int16)
            return ("torch", *flags, *meta, raw.detach().cpu().numpy().tobytes())
        bits, _ = host_bits(x)
        return ("torch", *flags, *meta, bits.tobytes())
    return ("object", repr(x))


def _opaque(torch: Any) -> set[Any]:
    names = ["bits1x8", "bits2x4", "bits4x2", "bits8", "bits16", "float4_e2m1fn_x2"]
    names += [f"{p}int{b}" for p in ("", "u") for b in range(1, 8)]
    return {getattr(torch, n) for n in names if hasattr(torch, n)}
