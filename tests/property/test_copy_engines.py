"""Property tests of the host copy engines: every dtype x layout x engine gives exact bits.

xpbridge._lib.copy_engine picks an engine per size class by timing, so any
engine that is offered for a copy may serve it: each is forced here
(``engine=``), on every dtype the engines see (NumPy's and torch's shared
types, ml_dtypes' types for NumPy's own engine) and every layout and flag the
strategies draw (Fortran, transposed, strided, negative, zero strides,
offset; read-only, byte-swapped, unaligned).  An engine either makes the very
copy the library's own call makes (bits, dtype, shape, strides, a fresh
writable buffer) or is not offered (``KeyError``); never another error.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import xpbridge as xb
from xpbridge._lib import copy_engine as _copy
from xpbridge._lib.dtypes import DTYPES, NATIVE_IN_BOTH, ml_dtypes_has, torch_dtype
from xpbridge.testing import assert_bitwise_equal
from xpbridge.testing.strategies import numpy_arrays, torch_tensors

pytestmark = [pytest.mark.property, pytest.mark.rule("copy-engines-exact")]

ML_DTYPES = [n for n in ("bfloat16", "float8_e4m3fn", "complex32") if ml_dtypes_has(n)]
SHAPES = st.sampled_from([(), (0,), (1,), (5,), (3, 4), (1, 7), (2, 1, 3)])
ENGINES = st.sampled_from(_copy.ENGINES)


def _strides(a: Any) -> tuple[int, ...]:
    return tuple(s for n, s in zip(a.shape, a.strides, strict=True) if n > 1)


@given(
    numpy_arrays(dtypes=[*NATIVE_IN_BOTH, *ML_DTYPES], shape=SHAPES),
    ENGINES,
    st.booleans(),
)
def test_every_engine_copies_every_ndarray_exactly(a: Any, engine: str, numpy_memory: bool) -> None:
    before = np.array(a, copy=True)
    try:
        result = _copy.copy_ndarray(a, numpy_memory=numpy_memory, engine=engine)
    except KeyError:
        # Not offered: torch never sees what it cannot read in place (a type it
        # lacks, byte-swapped, unaligned, odd strides), its allocator never
        # serves NumPy memory or strided copies.
        assert engine != "numpy"
        return
    expected = np.array(a, copy=True, order="K", subok=False)
    assert type(result) is np.ndarray and result.dtype == expected.dtype
    assert result.shape == expected.shape and _strides(result) == _strides(expected)
    assert result.flags.writeable and result.flags.aligned
    assert_bitwise_equal(result, expected)
    if a.size:
        assert not np.shares_memory(result, a)
    assert_bitwise_equal(np.array(a, copy=True), before)  # the source is untouched


@given(
    numpy_arrays(
        dtypes=list(NATIVE_IN_BOTH),
        shape=st.sampled_from([(6,), (3, 4)]),
        layouts=("C",),
        flags=False,
    ),
    st.sampled_from(["C", "negative"]),
)
def test_torchs_engine_serves_every_shared_dtype_forwards_and_reversed(a: Any, layout: str) -> None:
    # Not vacuous: for the layouts torch reads in place, its engine is offered
    # for every dtype both libraries have (uint16/32/64 reversed included).
    if layout == "negative":
        a = a[::-1]
    result = _copy.copy_ndarray(a, numpy_memory=False, engine="torch")
    assert_bitwise_equal(result, np.array(a, copy=True, order="K"))


@given(
    torch_tensors(dtypes=[*NATIVE_IN_BOTH, "bfloat16"], shape=SHAPES, devices=["cpu"]),
    ENGINES,
)
def test_every_engine_copies_every_tensor_exactly(t: Any, engine: str) -> None:
    t = t.detach()
    try:
        result = _copy.copy_tensor(t, engine=engine)
    except KeyError:
        assert engine != "torch"  # torch's own clone serves every tensor
        return
    assert type(result) is torch.Tensor and result.dtype == t.dtype and result.shape == t.shape
    assert not result.requires_grad and result.grad_fn is None
    assert_bitwise_equal(result, t.clone())
    if t.numel():
        assert not xb.shares_memory(result, t.resolve_conj().resolve_neg())


CAST_DTYPES = [*NATIVE_IN_BOTH, "bfloat16"]


@given(
    torch_tensors(dtypes=CAST_DTYPES, shape=SHAPES, devices=["cpu"], flags=False),
    st.sampled_from(CAST_DTYPES),
    st.sampled_from(["torch", "numpy-buffer"]),
)
def test_every_cast_engine_is_tensor_to(t: Any, target: str, engine: str) -> None:
    dtype = torch_dtype(target)
    with warnings.catch_warnings():
        # torch's own warning for complex -> real; the step that calls the engine silences it.
        warnings.filterwarnings("ignore", "Casting complex values to real")
        try:
            result = _copy.cast_tensor(t, dtype, engine=engine)
        except KeyError:
            assert engine == "numpy-buffer"
            assert (
                DTYPES[target].numpy is None
                or DTYPES[n_of(t)].numpy is None
                or not t.is_contiguous()
            )
            return
        expected = t.to(dtype)
    assert result.dtype == dtype and result.shape == t.shape
    assert_bitwise_equal(result, expected)


def n_of(t: Any) -> str:
    return str(t.dtype).removeprefix("torch.")
