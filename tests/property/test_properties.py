"""Property tests: the contract holds for every generated array, layout, flag and request."""

from __future__ import annotations

import contextlib
import ctypes
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

import xpbridge as xb
from xpbridge._lib.dtypes import DTYPES, numpy_dtype, torch_dtype
from xpbridge.testing import assert_bitwise_equal, snapshot
from xpbridge.testing.strategies import (
    arrays,
    crossing_dtypes,
    numpy_arrays,
    torch_devices,
    torch_tensors,
)

pytestmark = pytest.mark.property

COPY = st.sampled_from([None, True, False])


def _other(x: Any) -> str:
    return "numpy" if isinstance(x, torch.Tensor) else "torch"


def _flip_first_byte(result: Any) -> bool:
    """Flip the low bit of element [0, ..., 0] in memory; False when it cannot be written."""
    if isinstance(result, torch.Tensor):
        if result.numel() == 0 or result.device.type != "cpu":
            return False
        address = result.data_ptr()
    else:
        if result.size == 0 or not result.flags.writeable:
            return False
        address = result.__array_interface__["data"][0]
    byte = ctypes.c_uint8.from_address(address)
    byte.value ^= 1
    return True


@given(numpy_arrays())
def test_numpy_torch_numpy_round_trip_is_bitwise(a: Any) -> None:
    t = xb.to_torch(a)
    back = xb.to_numpy(t)
    assert back.shape == a.shape
    assert_bitwise_equal(back, a)
    assert_bitwise_equal(t, a)


@given(torch_tensors())
def test_torch_numpy_torch_round_trip_is_bitwise(t: Any) -> None:
    a = xb.to_numpy(t)
    back = xb.to_torch(a)
    assert tuple(back.shape) == tuple(t.shape)
    assert back.dtype == t.dtype
    assert_bitwise_equal(back, t)


@given(arrays(), COPY)
def test_plan_aliases_iff_shares_memory_iff_writes_show(x: Any, copy: bool | None) -> None:
    to = _other(x)
    try:
        p = xb.plan(x, to, copy=copy)
    except xb.CopyError:
        return
    result = xb.convert(x, to, copy=copy)
    assert p.aliases is xb.shares_memory(x, result)
    if isinstance(result, np.ndarray):
        assert result.flags.writeable is p.writable
    before = snapshot(x)
    if _flip_first_byte(result):
        assert (snapshot(x) != before) is p.aliases
        _flip_first_byte(result)


@given(arrays(), COPY)
def test_copy_true_never_aliases_copy_false_aliases_or_raises(x: Any, copy: bool | None) -> None:
    before = snapshot(x)
    to = _other(x)
    try:
        result = xb.convert(x, to, copy=copy)
    except xb.CopyError:
        assert copy is False
    else:
        if copy is True:
            assert not xb.shares_memory(x, result)
        if copy is False and x.__class__ is not np.generic:
            size = x.numel() if isinstance(x, torch.Tensor) else x.size
            assert xb.shares_memory(x, result) or size == 0
    assert snapshot(x) == before


@given(arrays(), st.sampled_from([None, "cpu", (1, 0)]))
def test_result_device(x: Any, device: Any) -> None:
    result = xb.convert(x, "torch", device=device)
    expected = str(x.device) if device is None and isinstance(x, torch.Tensor) else "cpu"
    assert str(result.device) == expected


@given(torch_tensors(devices=[*torch_devices(), "meta"]))
def test_meta_tensors_are_refused(t: Any) -> None:
    if t.device.type == "meta":
        with pytest.raises(xb.UnsupportedInputError):
            xb.to_numpy(t)


REQUESTS = st.fixed_dictionaries(
    {},
    optional={
        "dtype": st.sampled_from([*DTYPES, "float", "nope"]),
        "device": st.sampled_from(["cpu", "cuda", "cuda:7", "meta", (1, 0), (2, 0), "x:y"]),
        "copy": st.sampled_from([None, True, False, 0, "yes"]),
        "grad": st.sampled_from(["detach", "raise", "keep"]),
    },
)


@given(arrays(), st.sampled_from(["numpy", "torch"]), REQUESTS)
def test_failures_are_documented_and_leave_the_source_alone(
    x: Any, to: str, request: dict[str, Any]
) -> None:
    before = snapshot(x)
    try:
        p = xb.plan(x, to, **request)
    except xb.ConversionError as planned:
        with pytest.raises(type(planned)):
            xb.convert(x, to, **request)
    else:
        result = xb.convert(x, to, **request)
        assert p.aliases is xb.shares_memory(x, result)
    assert snapshot(x) == before


@given(arrays(), st.sampled_from(crossing_dtypes()))
def test_casts_equal_the_target_librarys_own(x: Any, dtype: str) -> None:
    to = _other(x)
    p = xb.plan(x, to, dtype=dtype)
    exchange = "numpy" if to == "numpy" else "from_numpy"
    assume("cast" in p.steps and p.steps.index("cast") > p.steps.index(exchange))
    result = xb.convert(x, to, dtype=dtype)
    # The oracle casts the very array xpbridge casts (same strides): NumPy's own
    # out-of-range float -> int casts differ between strided and contiguous input.
    exact = xb.convert(x, to)
    if to == "torch":
        with warnings.catch_warnings():  # the oracle is torch's own cast, warnings and all
            warnings.filterwarnings("ignore", "ComplexHalf support", UserWarning)
            warnings.filterwarnings("ignore", "Casting complex values to real", UserWarning)
            expected = exact.to(torch_dtype(dtype))
    else:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
            expected = exact.astype(numpy_dtype(dtype))
    assert_bitwise_equal(result, expected)


@given(
    st.one_of(
        st.none(),
        st.integers(),
        st.floats(),
        st.text(),
        st.binary(),
        st.lists(st.integers()),
        st.dictionaries(st.text(), st.integers()),
        st.builds(object),
        st.complex_numbers(),
    )
)
def test_arbitrary_objects_give_documented_errors(obj: Any) -> None:
    a = np.arange(3.0)
    for call in (
        lambda: xb.to_torch(obj),
        lambda: xb.to_numpy(obj),
        lambda: xb.convert(obj, "torch"),
        lambda: xb.plan(obj, "numpy"),
        lambda: xb.shares_memory(obj, a),
        lambda: xb.convert(a, obj),
        lambda: xb.to_torch(a, device=obj),
        lambda: xb.to_torch(a, dtype=obj),
        lambda: xb.to_torch(a, copy=obj),
        lambda: xb.to_numpy(torch.ones(1), grad=obj),
    ):
        with contextlib.suppress(xb.ConversionError):  # anything else fails the test
            call()
