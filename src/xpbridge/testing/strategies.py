"""Hypothesis strategies over NumPy arrays and torch tensors.

Every supported dtype (the ml_dtypes types when ml_dtypes is installed),
shapes including 0-d and size-0, the layouts that trip converters up (Fortran,
transposed, strided, negative and zero strides, storage offsets), the flags
(read-only, non-native byte order, unaligned, requires_grad, conjugate and
negative bits) and devices (CPU; CUDA when available; ``meta`` otherwise).

Data comes from raw bytes, so floats carry every bit pattern: NaN payloads,
infinities, subnormals and negative zero.

Examples
--------
>>> from hypothesis import given
>>> from xpbridge.testing.strategies import numpy_arrays
>>> @given(numpy_arrays())
... def test_shape(a):
...     assert a.ndim <= 3
>>> test_shape()
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from hypothesis import strategies as st

from .._dtypes import DTYPES, crossing_dtypes, numpy_dtype
from ._bits import quiet_complex_half, tensor_from_bits

__all__ = [
    "NUMPY_LAYOUTS",
    "TORCH_LAYOUTS",
    "arrays",
    "crossing_dtypes",
    "numpy_arrays",
    "shapes",
    "torch_devices",
    "torch_tensors",
]

NUMPY_LAYOUTS = ("C", "F", "transposed", "strided", "negative", "zero", "offset")
TORCH_LAYOUTS = ("contiguous", "transposed", "strided", "expanded", "offset")


def shapes(max_dims: int = 3, max_side: int = 4) -> st.SearchStrategy[tuple[int, ...]]:
    """Shapes with 0 to ``max_dims`` axes of length 0 to ``max_side``."""
    return st.lists(st.integers(0, max_side), max_size=max_dims).map(tuple)


@st.composite
def _filled(draw: st.DrawFn, dtype: str, size: int) -> Any:
    """A 1-d writable array of ``size`` elements of raw bits (valid bools only)."""
    np_dtype = numpy_dtype(dtype)
    raw = draw(st.binary(min_size=size * np_dtype.itemsize, max_size=size * np_dtype.itemsize))
    bits = np.frombuffer(raw, dtype=np.uint8).copy()
    if dtype == "bool":
        bits %= 2
    return bits.view(np_dtype)


@st.composite
def _numpy_layout(draw: st.DrawFn, dtype: str, shape: tuple[int, ...], layout: str) -> Any:
    size = int(np.prod(shape)) if shape else 1
    if layout == "strided" and shape:
        base = draw(_filled(dtype, size * 2)).reshape((*shape[:-1], shape[-1] * 2))
        return base[..., ::2]
    if layout == "offset":
        return draw(_filled(dtype, size + 1))[1:].reshape(shape)
    if layout == "zero" and shape:
        row = draw(_filled(dtype, shape[-1]))
        # as_strided rebuilds the dtype from its typestr, which ml_dtypes types lack
        bits = row.view(f"u{row.dtype.itemsize}") if row.dtype.itemsize <= 8 else row
        strides = (0,) * (len(shape) - 1) + row.strides
        return np.lib.stride_tricks.as_strided(bits, shape, strides).view(row.dtype)
    a = draw(_filled(dtype, size)).reshape(shape)
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "transposed":
        return a.T
    if layout == "negative" and shape:
        return a[..., ::-1]
    return a


def _unaligned(a: Any) -> Any:
    raw = np.zeros(a.nbytes + 1, dtype=np.uint8)
    out = raw[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


@st.composite
def numpy_arrays(
    draw: st.DrawFn,
    dtypes: list[str] | None = None,
    shape: st.SearchStrategy[tuple[int, ...]] | None = None,
    layouts: tuple[str, ...] = NUMPY_LAYOUTS,
    flags: bool = True,
) -> Any:
    """NumPy arrays over ``dtypes`` (default: every dtype that crosses), layouts and flags.

    With ``flags``, arrays may also be read-only, non-native byte order or
    unaligned.
    """
    dtype = draw(st.sampled_from(dtypes or crossing_dtypes()))
    a = draw(_numpy_layout(dtype, draw(shape or shapes()), draw(st.sampled_from(layouts))))
    if not flags:
        return a
    if a.dtype.itemsize > 1 and DTYPES[dtype].numpy is not None and draw(st.booleans()):
        a = a.astype(a.dtype.newbyteorder("S"))  # same values, swapped bytes
    if a.dtype.itemsize > 1 and a.size and draw(st.integers(0, 4)) == 0:
        a = _unaligned(a)
    if draw(st.integers(0, 3)) == 0:
        a = a.view()
        a.flags.writeable = False
    return a


def torch_devices() -> list[str]:
    """The devices tensors are generated on: CPU, and CUDA devices when present."""
    torch = sys.modules.get("torch")
    devices = ["cpu"]
    if torch is not None and torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return devices


@st.composite
def torch_tensors(
    draw: st.DrawFn,
    dtypes: list[str] | None = None,
    shape: st.SearchStrategy[tuple[int, ...]] | None = None,
    layouts: tuple[str, ...] = TORCH_LAYOUTS,
    flags: bool = True,
    devices: list[str] | None = None,
) -> Any:
    """Tensors of torch over ``dtypes``, layouts, flags and ``devices``.

    With ``flags``, floating tensors may require grad, and complex tensors may
    carry the conjugate bit, or (through ``.imag``) the negative bit.  Pass
    ``devices=["meta"]`` (or include it) for tensors without data.
    """
    dtype = draw(st.sampled_from(dtypes or crossing_dtypes()))
    layout = draw(st.sampled_from(layouts))
    dims = draw(shape or shapes())
    device = draw(st.sampled_from(devices or torch_devices()))
    if layout == "strided" and dims:
        base = draw(_numpy_layout(dtype, (*dims[:-1], dims[-1] * 2), "C"))
    elif layout == "offset":
        base = draw(_numpy_layout(dtype, (int(np.prod(dims)) + 1,), "C"))
    elif layout == "expanded" and dims:
        base = draw(_numpy_layout(dtype, (1, *dims[1:]), "C"))
    else:
        base = draw(_numpy_layout(dtype, dims, "C"))
    with quiet_complex_half():
        t = tensor_from_bits(base)
        if device != "cpu":
            t = t.to(device)
        if layout == "strided" and dims:
            t = t[..., ::2]
        elif layout == "offset":
            t = t[1:].reshape(dims)
        elif layout == "expanded" and dims:
            t = t.expand(dims)
        elif layout == "transposed":
            t = t.permute(tuple(reversed(range(t.ndim))))
        if flags:
            row = DTYPES[dtype]
            if row.kind == "complex" and dtype != "complex32":
                bit = draw(st.sampled_from(["", "conj", "neg"]))
                if bit == "conj":
                    t = t.conj()
                elif bit == "neg":
                    t = t.conj().imag
            if (t.dtype.is_floating_point or t.dtype.is_complex) and draw(st.booleans()):
                t = t.detach().requires_grad_()
    return t


def arrays(**kwargs: Any) -> st.SearchStrategy[Any]:
    """NumPy arrays or torch tensors (see :func:`numpy_arrays`, :func:`torch_tensors`)."""
    numpy_kwargs = {k: v for k, v in kwargs.items() if k in {"dtypes", "shape", "flags"}}
    return st.one_of(numpy_arrays(**numpy_kwargs), torch_tensors(**kwargs))
