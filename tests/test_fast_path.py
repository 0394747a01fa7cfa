"""The fast paths of to_torch / to_numpy agree with the planner on every contract case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from cases import CASES, missing_ml_dtype
from torch.overrides import TorchFunctionMode

import xpbridge as xb
from xpbridge._api import convert as _convert
from xpbridge.backends.torch import from_numpy_is_exact
from xpbridge.testing import assert_bitwise_equal


def _slow(x: object, to: str) -> object:
    return _convert._execute(_convert._request(x, to, None, None, None, "detach", False))


@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_and_planned_paths_agree(case: str, tmp_path: Path) -> None:
    if missing_ml_dtype(case):
        pytest.skip(missing_ml_dtype(case))
    x = CASES[case](tmp_path)
    xb.convert(torch.zeros(1), "numpy")  # primes the fast paths
    assert _convert._NDARRAY is not _convert._Never
    to = "numpy" if isinstance(x, torch.Tensor) else "torch"
    try:
        expected = _slow(x, to)
    except xb.ConversionError as e:
        with pytest.raises(type(e)):
            xb.convert(x, to)
        return
    fast = xb.convert(x, to)
    assert type(fast) is type(expected)
    assert xb.shares_memory(x, fast) is xb.shares_memory(x, expected)
    if to == "numpy":
        assert fast.flags.writeable is expected.flags.writeable
    assert_bitwise_equal(fast, expected)


def _agree(x: object, to: str) -> None:
    """The public calls (fast paths) and the planner give the same result, or the same error."""
    xb.convert(torch.zeros(1), "numpy")  # primes the fast paths
    try:
        expected = _slow(x, to)
    except xb.ConversionError as e:
        for call in (lambda: xb.convert(x, to), lambda: _direct(x, to)):
            with pytest.raises(type(e)):
                call()
        return
    for result in (xb.convert(x, to), _direct(x, to)):
        assert type(result) is type(expected)
        assert xb.shares_memory(x, result) is xb.shares_memory(x, expected)
        if to == "numpy":
            assert result.flags.writeable is expected.flags.writeable
        assert_bitwise_equal(result, expected)


def _direct(x: object, to: str) -> object:
    return xb.to_numpy(x) if to == "numpy" else xb.to_torch(x)


def _ro() -> np.ndarray:
    a = np.arange(4.0)
    a.flags.writeable = False
    return a


# Layouts at the edge of the guards: from_numpy takes positive strides that are
# not contiguous; C-contiguity says nothing about a length-1 axis's stride.
LAYOUTS = {
    "f_contiguous": lambda: np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    "positive_strides": lambda: np.arange(12.0)[::3],
    "column": lambda: np.arange(12.0).reshape(3, 4)[:, 1],
    "negative_strides": lambda: np.arange(12.0)[::-1],
    "negative_length_1_axis": lambda: np.arange(4.0).reshape(1, 4)[::-1],
    "negative_inner_axis": lambda: np.arange(12.0).reshape(3, 4)[:, ::-1],
    "zero_strides_writable": lambda: np.lib.stride_tricks.as_strided(
        np.arange(3.0), (4, 3), (0, 8)
    ),
    "read_only": _ro,
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_layouts_at_the_guards_agree(layout: str) -> None:
    _agree(LAYOUTS[layout](), "torch")


class _Calls(TorchFunctionMode):
    """Records the torch functions and tensor methods called inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.names.append(getattr(func, "__name__", str(func)))
        return func(*args, **(kwargs or {}))


@pytest.mark.thread_unsafe(reason="records the torch calls made while its mode is active")
def test_a_tensor_that_requires_grad_never_tries_numpy() -> None:
    # Tensor.numpy raises for it, and a raising torch call costs ~7 us: the
    # guard sends it to the planner, whose first step is detach.
    g = torch.ones(3, requires_grad=True)
    for call in (lambda: xb.to_numpy(g), lambda: xb.convert(g, "numpy")):
        with _Calls() as calls:
            result = call()
        first_detach = calls.names.index("detach")
        assert "numpy" not in calls.names[:first_detach], calls.names
        assert not result.flags.writeable


@pytest.mark.thread_unsafe(reason="replaces the module-wide fast path function")
def test_a_reversed_array_never_reaches_from_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    # torch.from_numpy raises for it (~7 us, a C++ exception): the fast path
    # hands it only positive strides (to_torch's copy), or leaves it to the planner.
    xb.convert(torch.zeros(1), "numpy")  # primes the fast paths
    tried: list[np.ndarray] = []

    def spy(a: np.ndarray) -> torch.Tensor:
        tried.append(a)
        return torch.from_numpy(a)

    monkeypatch.setattr(_convert, "_FROM_NUMPY", spy)
    rev = np.arange(8.0)[::-1]
    for call in (lambda: xb.to_torch(rev), lambda: xb.convert(rev, "torch")):
        result = call()
        assert_bitwise_equal(result, np.arange(8.0)[::-1])
        assert not xb.shares_memory(result, rev)
    assert all(min(a.strides) >= 0 for a in tried)
    xb.to_torch(np.arange(8.0))
    assert tried[-1].strides == (8,)  # the spy is the fast path's


@pytest.mark.parametrize("value", [0, 1, None, "no"])
def test_convert_validates_requires_grad_like_plan(value: object) -> None:
    # The fast path of convert takes only requires_grad=False itself: anything
    # else reaches the planner, which raises what plan raises.
    a = np.arange(3.0)
    with pytest.raises(xb.ArgumentError) as planned:
        xb.plan(a, "torch", requires_grad=value)  # type: ignore[arg-type]
    with pytest.raises(xb.ArgumentError) as converted:
        xb.convert(a, "torch", requires_grad=value)  # type: ignore[arg-type]
    assert str(converted.value) == str(planned.value)


@pytest.mark.parametrize("case", sorted(c for c in CASES if c.startswith("torch_")))
def test_writable_copies_agree_with_the_planner(case: str, tmp_path: Path) -> None:
    # to_numpy(x, copy=True) of a tensor has a fast path of its own.
    x = CASES[case](tmp_path)
    assert isinstance(x, torch.Tensor)
    xb.convert(torch.zeros(1), "numpy")  # primes the fast paths
    try:
        expected = _convert._execute(
            _convert._request(x, "numpy", None, None, True, "detach", False)
        )
    except xb.ConversionError as e:
        with pytest.raises(type(e)):
            xb.to_numpy(x, copy=True)
        return
    fast = xb.to_numpy(x, copy=True)
    assert type(fast) is type(expected)
    assert fast.flags.writeable and expected.flags.writeable
    assert not xb.shares_memory(x, fast)
    assert_bitwise_equal(fast, expected)


CAST_TARGETS = [
    "float64",
    "float16",
    "int8",
    "bool",
    "uint64",
    "bfloat16",  # torch has it; NumPy's buffer cannot hold it: torch's engine casts
    "complex64",
    "complex32",  # cast under a warning filter: always the planner's
    "float32",  # the source's own dtype for some cases: no cast at all
    "float4_e2m1fn_x2",  # torch cannot cast to it: a DTypeError
    np.dtype("float64"),
    torch.int16,
]


@pytest.mark.thread_unsafe(reason="empties the process-wide memo of planned casts")
@pytest.mark.parametrize("target", CAST_TARGETS, ids=str)
@pytest.mark.parametrize("case", sorted(c for c in CASES if c.startswith("numpy_")))
def test_casts_to_torch_agree_with_the_planner(case: str, target: Any, tmp_path: Path) -> None:
    # to_torch(a, dtype=...) of a plain array has a fast path: the planner's
    # from_numpy and cast steps, once the planner has planned them.
    if missing_ml_dtype(case):
        pytest.skip(missing_ml_dtype(case))
    x = CASES[case](tmp_path)
    xb.convert(torch.zeros(1), "numpy")  # primes the fast paths
    _convert._PLANNED_CASTS.clear()  # an entry below is this call's
    for _ in range(2):  # the first call plans and memoises, the second takes the memo
        error: xb.ConversionError | None = None
        try:
            expected = _convert._execute(
                _convert._request(x, "torch", None, target, None, "detach", False)
            )
        except xb.ConversionError as e:
            error = e
        if error is not None:
            with pytest.raises(type(error)) as raised:
                xb.to_torch(x, dtype=target)
            assert str(raised.value) == str(error)
            continue
        fast = xb.to_torch(x, dtype=target)
        planned = xb.plan(x, "torch", dtype=target)
        if (
            planned.steps == ("from_numpy", "cast")
            and planned.dtype != "complex32"
            and type(x) is np.ndarray
            and from_numpy_is_exact(x)
            and x.flags.c_contiguous
            and x.size
        ):  # the fast path's case: it took its memo
            assert _convert._PLANNED_CASTS[x.dtype, target] is not None
        assert type(fast) is torch.Tensor and fast.dtype == expected.dtype
        assert xb.shares_memory(x, fast) is xb.shares_memory(x, expected)
        assert not fast.requires_grad
        assert_bitwise_equal(fast, expected)


def test_an_unhashable_dtype_argument_reaches_the_planner() -> None:
    a = np.arange(3.0, dtype=np.float32)
    with pytest.raises(xb.DTypeError) as planned:
        xb.plan(a, "torch", dtype=["float64"])
    with pytest.raises(xb.DTypeError) as converted:
        xb.to_torch(a, dtype=["float64"])
    assert str(converted.value) == str(planned.value)
