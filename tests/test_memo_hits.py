"""Warm calls (the memo hits) do what the full path does, for every contract case.

A warm conversion is: the request memoised by its spelling, the source's traits
key, the plan compiled for that key, one call.  The full path describes the
source whole, plans and runs.  Each must give the same result (type, values,
aliasing, writability) or the same error, cold and warm, for every source the
contract names and every kind of request; and a key may stand for several
sources only where they all have one plan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from cases import CASES, missing_ml_dtype
from torch.overrides import TorchFunctionMode

import xpbridge as xb
from xpbridge._lib.memo import clear_all
from xpbridge._pipeline.pipeline import compiled_for
from xpbridge._pipeline.request import request_of
from xpbridge.testing import assert_bitwise_equal

# Requests of every shape: the default, each keyword, and a cast.
REQUESTS: dict[str, dict[str, Any]] = {
    "default": {},
    "copy-false": {"copy": False},
    "copy-true": {"copy": True},
    "grad-raise": {"grad": "raise"},
    "cast-float64": {"dtype": "float64"},
    "cast-int16": {"dtype": "int16"},
}


def _full(x: object, to: str, keywords: dict[str, Any]) -> object:
    """The full path: the source described whole, planned and run."""
    r = request_of(
        to, None, keywords.get("dtype"), keywords.get("copy"), keywords.get("grad", "detach"), False
    )
    entry, prepared = compiled_for(x, r)
    return entry.run(prepared)


def _agree(make: Any, to: str, keywords: dict[str, Any]) -> None:
    """Cold and warm, the public call and the full path give the same on one source."""
    for _ in range(2):
        x = make()
        error: xb.ConversionError | None = None
        try:
            expected = _full(x, to, keywords)
        except xb.ConversionError as e:
            error = e
        if error is not None:
            with pytest.raises(type(error)) as raised:
                xb.convert(x, to, **keywords)
            assert str(raised.value) == str(error)
            continue
        result = xb.convert(x, to, **keywords)
        assert type(result) is type(expected)
        assert (result is x) is (expected is x)
        if result is x or not _comparable(result):
            continue
        assert xb.shares_memory(x, result) is xb.shares_memory(x, expected)
        if isinstance(result, np.ndarray):
            assert result.flags.writeable is expected.flags.writeable  # type: ignore[attr-defined]
        if isinstance(result, torch.Tensor):
            assert result.requires_grad is expected.requires_grad  # type: ignore[attr-defined]
        assert_bitwise_equal(result, expected)


def _comparable(result: Any) -> bool:
    """Whether two such results can be compared bit by bit (dense, with data, numbers)."""
    if isinstance(result, torch.Tensor):
        return result.layout == torch.strided and not result.is_meta and not result.is_nested
    return not (isinstance(result, np.ndarray) and result.dtype.hasobject)


@pytest.mark.rule("one-pipeline")
@pytest.mark.parametrize("request_name", sorted(REQUESTS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_warm_and_full_paths_agree(case: str, request_name: str, tmp_path: Path) -> None:
    if missing_ml_dtype(case):
        pytest.skip(missing_ml_dtype(case))
    for to in ("numpy", "torch"):
        _agree(lambda: CASES[case](tmp_path), to, REQUESTS[request_name])


def _ro() -> np.ndarray:
    a = np.arange(4.0)
    a.flags.writeable = False
    return a


# Layouts at the edge of what a key decides: from_numpy takes positive strides
# that are not contiguous; C-contiguity says nothing about a length-1 axis's
# stride (torch.from_numpy refuses an odd one: the full path resets it).
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
    "length_1_odd_stride": lambda: np.lib.stride_tricks.as_strided(np.arange(4.0), (1, 4), (3, 8)),
    "read_only": _ro,
    "empty": lambda: np.ones(0, np.float32),
    # Called C-contiguous by NumPy (empty), with a negative stride torch refuses:
    # the key's plan for a plain array must not run on it as it is.
    "empty_negative_strides": lambda: np.lib.stride_tricks.as_strided(
        np.zeros(4), (0, 2), (16, -8)
    ),
    "empty_2d": lambda: np.ones((0, 3), np.float32),
}


@pytest.mark.rule("one-pipeline")
@pytest.mark.parametrize("request_name", sorted(REQUESTS))
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_layouts_at_the_edge_of_a_key_agree(layout: str, request_name: str) -> None:
    _agree(LAYOUTS[layout], "torch", REQUESTS[request_name])
    _agree(lambda: torch.from_numpy(LAYOUTS[layout]().copy()), "numpy", REQUESTS[request_name])


TENSORS = {
    "requires_grad": lambda: torch.ones(3, requires_grad=True),
    "requires_grad_empty": lambda: torch.ones(0, requires_grad=True),
    "parameter": lambda: torch.nn.Parameter(torch.ones(3)),
    "conj": lambda: torch.ones(3, dtype=torch.complex64).conj(),
    "neg": lambda: torch._neg_view(torch.ones(3)),
    "bfloat16": lambda: torch.ones(3, dtype=torch.bfloat16),
    "65_dims": lambda: torch.ones((1,) * 65),
}


@pytest.mark.rule("one-pipeline")
@pytest.mark.parametrize("request_name", sorted(REQUESTS))
@pytest.mark.parametrize("name", sorted(TENSORS))
def test_tensors_a_key_leaves_open_agree(name: str, request_name: str) -> None:
    # The key of a tensor is its dtype and grad flag; Tensor.numpy refuses the
    # rest (bits, device, dimensions), and then the full path decides.
    _agree(TENSORS[name], "numpy", REQUESTS[request_name])


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
    # Tensor.numpy raises for it, and a raising torch call costs ~7 us: its key
    # says it requires grad, and its plan detaches first.
    g = torch.ones(3, requires_grad=True)
    for call in (lambda: xb.to_numpy(g), lambda: xb.convert(g, "numpy")):
        for _ in range(2):
            with _Calls() as calls:
                result = call()
            first_detach = calls.names.index("detach")
            assert "numpy" not in calls.names[:first_detach], calls.names
            assert not result.flags.writeable


@pytest.mark.thread_unsafe(reason="replaces torch.from_numpy while plans are compiled")
def test_a_reversed_array_never_reaches_from_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    # torch.from_numpy raises for it (a C++ exception, ~7 us): its key does not
    # decide its plan, and the full path hands from_numpy only positive strides.
    tried: list[np.ndarray] = []
    real = torch.from_numpy

    def spy(a: np.ndarray) -> torch.Tensor:
        tried.append(a)
        return real(a)

    monkeypatch.setattr(torch, "from_numpy", spy)
    clear_all()  # compiled plans hold the primitive of their time
    try:
        rev = np.arange(8.0)[::-1]
        for call in (lambda: xb.to_torch(rev), lambda: xb.convert(rev, "torch")):
            for _ in range(2):
                result = call()
                assert_bitwise_equal(result, np.arange(8.0)[::-1])
                assert not xb.shares_memory(result, rev)
        assert all(min(a.strides) >= 0 for a in tried)
        xb.to_torch(np.arange(8.0))
        xb.to_torch(np.arange(8.0))
        assert tried[-1].strides == (8,)  # the warm call's primitive is the spy
    finally:
        monkeypatch.undo()
        clear_all()


@pytest.mark.rule("one-pipeline")
@pytest.mark.parametrize(
    ("keyword", "value"),
    [(k, v) for k in ("copy", "requires_grad") for v in (0, 1, 1.0, "no")]
    + [("requires_grad", None)],
)
def test_a_value_equal_to_a_valid_one_is_still_refused(keyword: str, value: object) -> None:
    # copy=1 == True and hashes alike: a request memoised for copy=True must not
    # answer for it.  Every call refuses it as plan does.
    a = np.arange(3.0)
    xb.convert(a, "torch", **{keyword: True})  # memoises the valid spelling
    xb.convert(a, "torch", **{keyword: False})
    with pytest.raises(xb.ArgumentError) as planned:
        xb.plan(a, "torch", **{keyword: value})  # type: ignore[arg-type]
    for call in (xb.convert, lambda x, to, **k: xb.to_torch(x, **k)):
        with pytest.raises(xb.ArgumentError) as converted:
            call(a, "torch", **{keyword: value})
        assert str(converted.value) == str(planned.value)


@pytest.mark.rule("one-pipeline")
@pytest.mark.parametrize("dtype", ["float64", np.dtype("float64"), torch.float64, np.float64])
def test_every_dtype_spelling_finds_one_request(dtype: Any) -> None:
    a = np.arange(3.0, dtype=np.float32)
    first = request_of("torch", None, "float64", None, "detach", False)
    assert request_of("torch", None, dtype, None, "detach", False) is first
    assert xb.to_torch(a, dtype=dtype).dtype == torch.float64


def test_an_unhashable_dtype_argument_is_refused_like_plan() -> None:
    a = np.arange(3.0, dtype=np.float32)
    with pytest.raises(xb.DTypeError) as planned:
        xb.plan(a, "torch", dtype=["float64"])
    with pytest.raises(xb.DTypeError) as converted:
        xb.to_torch(a, dtype=["float64"])
    assert str(converted.value) == str(planned.value)


def test_a_warm_call_is_a_memo_hit() -> None:
    # The second conversion of a kind of array runs the plan compiled for its key.
    a = np.arange(4, dtype=np.float32)
    r = request_of("torch", None, None, None, "detach", False)
    xb.to_torch(a)
    from xpbridge._pipeline.describe import KEYS

    key = KEYS.data[np.ndarray](a)
    entry = r.table[key]
    assert entry.plan is not None and entry.plan.steps == ("from_numpy",)
    assert entry.run is torch.from_numpy  # the primitive itself: one call
    assert xb.plan(a, "torch") == entry.plan


@pytest.mark.rule("one-pipeline")
@pytest.mark.parametrize("request_name", sorted(REQUESTS))
@pytest.mark.parametrize("shape", [(0,), (3,), (2, 0)])
def test_jax_sources_are_what_their_plans_say(shape: tuple[int, ...], request_name: str) -> None:
    jnp = pytest.importorskip("jax.numpy")
    keywords = REQUESTS[request_name]
    for _ in range(2):  # cold and warm
        x = jnp.zeros(shape, dtype=jnp.float32)
        try:
            p = xb.plan(x, "numpy", **keywords)
        except xb.ConversionError as e:
            with pytest.raises(type(e)):
                xb.convert(x, "numpy", **keywords)
            continue
        result = xb.convert(x, "numpy", **keywords)
        assert result.flags.writeable is p.writable, (p.steps, p.writable)
        assert result.dtype.name == p.dtype and result.shape == shape
        assert xb.shares_memory(x, result) is p.aliases


@pytest.mark.rule("one-pipeline")
@pytest.mark.parametrize("dtype", ["bfloat16", "float8_e4m3fn", "float32", "complex64"])
def test_an_empty_array_with_a_negative_stride_converts_in_every_dtype(dtype: str) -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    numpy_dtype = np.dtype(getattr(ml_dtypes, dtype, None) or dtype)
    base = np.zeros(4, numpy_dtype)
    empty = np.lib.stride_tricks.as_strided(base, (0, 2), (2 * base.itemsize, -base.itemsize))
    assert empty.flags.c_contiguous  # NumPy calls every empty array contiguous
    _agree(lambda: empty, "torch", {})
    _agree(lambda: empty, "torch", {"copy": False})
