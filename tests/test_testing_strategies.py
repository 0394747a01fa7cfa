"""xpbridge.testing.strategies: shapes, layouts, flags, libraries and devices as documented."""

from __future__ import annotations

import warnings
from typing import Any

import array_api_strict
import numpy as np
import pytest
from frameworks import needs_torch, torch, torch_param
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

import xpbridge as xb
from xpbridge._cli.upstream import run_python
from xpbridge.testing import assert_bitwise_equal
from xpbridge.testing.strategies import (
    LAYOUTS,
    NUMPY_LAYOUTS,
    TORCH_LAYOUTS,
    arrays,
    numpy_arrays,
    shapes,
    torch_tensors,
)

pytestmark = pytest.mark.property

FEW = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
MATRICES = shapes(min_dims=2, max_dims=3, min_side=2, max_side=4)


def _draws(strategy: st.SearchStrategy[Any], n: int = 25) -> list[Any]:
    drawn: list[Any] = []

    @FEW
    @given(strategy)
    def collect(x: Any) -> None:
        drawn.append(x)

    collect()
    return drawn[:n]


def _numpy_layout_holds(a: np.ndarray, layout: str) -> bool:
    item = a.dtype.itemsize
    return {
        "C": a.flags.c_contiguous,
        "F": a.flags.f_contiguous and not a.flags.c_contiguous,
        "transposed": a.strides[-2] == item and a.strides[-1] == a.shape[-2] * item,
        "strided": a.strides[-1] == 2 * item,
        "negative": a.strides[-1] == -item,
        "zero": a.strides[0] == 0,
        "offset": a.base is not None and a.ctypes.data != np.asarray(a.base).ctypes.data,
    }[layout]


def _torch_layout_holds(t: torch.Tensor, layout: str) -> bool:
    return {
        "C": t.is_contiguous(),
        "F": t.mT.is_contiguous()
        if t.ndim == 2
        else t.permute(*reversed(range(t.ndim))).is_contiguous(),
        "transposed": t.stride(-2) == 1 and t.stride(-1) == t.shape[-2],
        "strided": t.stride(-1) == 2,
        "zero": t.stride(0) == 0,
        "offset": t.storage_offset() == 1,
    }[layout]


@pytest.mark.parametrize("layout", NUMPY_LAYOUTS)
def test_numpy_layouts_honour_shape_and_hold(layout: str) -> None:
    for shape in [(2, 4), (3, 2, 5)]:
        for a in _draws(numpy_arrays(shape=shape, layouts=(layout,), flags=False), 5):
            assert a.shape == shape, (layout, a.shape)
    for a in _draws(numpy_arrays(shape=MATRICES, layouts=(layout,), flags=False)):
        assert _numpy_layout_holds(a, layout), (layout, a.shape, a.strides)


@needs_torch
@pytest.mark.parametrize("layout", TORCH_LAYOUTS)
def test_torch_layouts_honour_shape_and_hold(layout: str) -> None:
    for t in _draws(torch_tensors(shape=(2, 4), layouts=(layout,), flags=False), 5):
        assert tuple(t.shape) == (2, 4), (layout, t.shape)
    for t in _draws(torch_tensors(shape=MATRICES, layouts=(layout,), flags=False)):
        assert _torch_layout_holds(t, layout), (layout, t.shape, t.stride())


def test_flags_never_change_shape_or_dtype() -> None:
    for a in _draws(numpy_arrays(dtypes=["float64"], shape=(2, 3)), 50):
        assert a.shape == (2, 3) and a.dtype.name == "float64"
    if torch is None:
        return  # torch's tensors, below, where torch is installed
    for t in _draws(torch_tensors(dtypes=["float32", "complex64"], shape=(2, 3)), 50):
        assert tuple(t.shape) == (2, 3) and t.dtype in {torch.float32, torch.complex64}


def test_flags_are_drawn() -> None:
    flagged = numpy_arrays(dtypes=["float32"], shape=(3,))
    find(flagged, lambda a: not a.flags.writeable)
    find(flagged, lambda a: not a.dtype.isnative)
    find(flagged, lambda a: not a.flags.aligned)
    if torch is None:
        return  # torch's flags, below, where torch is installed
    tensors = torch_tensors(dtypes=["float64", "complex128"], shape=(3,))
    negative = find(tensors, lambda t: t.is_neg())
    assert negative.dtype == torch.float64  # the dtype asked for, not a complex one's part
    find(tensors, lambda t: t.is_conj())
    find(tensors, lambda t: t.requires_grad)


@needs_torch
def test_negative_bit_tensors_hold_the_drawn_values() -> None:
    @FEW
    @given(torch_tensors(dtypes=["float32"], shape=(4,), layouts=("C",)))
    def check(t: torch.Tensor) -> None:
        if t.is_neg():
            assert_bitwise_equal(xb.to_numpy(t), t.detach().resolve_neg())

    check()


def test_shapes_respect_their_bounds() -> None:
    for shape in _draws(shapes(min_dims=2, max_dims=4, min_side=1, max_side=3), 50):
        assert 2 <= len(shape) <= 4 and all(1 <= n <= 3 for n in shape)
    find(shapes(), lambda s: s == ())
    find(shapes(), lambda s: 0 in s)


def test_a_fixed_shape_strategy_gives_no_hypothesis_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _draws(numpy_arrays(shape=st.just((2, 4))), 3)
        if torch is not None:
            _draws(torch_tensors(shape=st.just((2, 4))), 3)
        _draws(arrays(shape=st.just((2, 4))), 3)


@pytest.mark.parametrize("library", ["numpy", torch_param("torch"), "array_api_strict", "jax"])
def test_arrays_of_each_library_honour_shape(library: str) -> None:
    if library == "jax":
        pytest.importorskip("jax")
    for x in _draws(arrays(library, shape=(2, 3)), 10):
        assert tuple(x.shape) == (2, 3)


def test_arrays_draws_each_library_with_its_own_types() -> None:
    assert all(isinstance(a, np.ndarray) for a in _draws(arrays("numpy"), 10))
    if torch is not None:
        assert all(isinstance(t, torch.Tensor) for t in _draws(arrays("torch"), 10))
    strict = _draws(arrays(array_api_strict, shape=(2,)), 10)  # a namespace works too
    assert all(type(x).__module__.startswith("array_api_strict") for x in strict)
    both = arrays(["numpy", "array_api_strict"], dtypes=["float32"])
    find(both, lambda x: isinstance(x, np.ndarray))
    find(both, lambda x: not isinstance(x, np.ndarray))


def test_array_api_strict_arrays_cover_both_default_devices() -> None:
    strategy = arrays("array_api_strict", dtypes=["float64"], shape=(2,))
    for name in ("CPU_DEVICE", "device1"):
        find(strategy, lambda x, name=name: f"'{name}'" in repr(x.device))
    only = arrays("array_api_strict", shape=(1,), devices=["device1"])
    assert all("'device1'" in repr(x.device) for x in _draws(only, 10))


def test_jax_bfloat16_comes_through_numpy() -> None:
    pytest.importorskip("jax")
    for x in _draws(arrays("jax", dtypes=["bfloat16"], shape=(3,)), 5):
        assert str(x.dtype) == "bfloat16" and x.shape == (3,)


@needs_torch
def test_layouts_apply_to_every_library_in_arrays() -> None:
    for x in _draws(arrays(["numpy", "torch"], shape=(2, 3), layouts=("F",), flags=False)):
        if isinstance(x, np.ndarray):
            assert x.flags.f_contiguous and not x.flags.c_contiguous
        else:
            assert x.mT.is_contiguous()
    assert set(LAYOUTS) == set(NUMPY_LAYOUTS)
    for x in _draws(arrays("torch", layouts=("contiguous", "expanded"), flags=False)):
        assert x.is_contiguous() or 0 in x.stride()


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        torch_param(
            lambda: arrays("torch", layouts=("negative",)), xb.ArgumentError, "torch can hold C, F"
        ),
        (lambda: numpy_arrays(layouts=("diagonal",)), xb.ArgumentError, "unknown layout"),
        (lambda: numpy_arrays(layouts="C"), xb.ArgumentError, "tuple of layout names"),
        (lambda: numpy_arrays(dtypes=["float"]), xb.DTypeError, "unknown dtype"),
        (lambda: numpy_arrays(dtypes=["uint4"]), xb.DTypeError, "whole bytes"),
        (lambda: numpy_arrays(dtypes=["bits16"]), xb.DTypeError, "whole bytes"),
        (lambda: numpy_arrays(dtypes=["float8_e8m0fnu_x"]), xb.DTypeError, "unknown dtype"),
        (lambda: numpy_arrays(shape="2x4"), xb.ArgumentError, "tuple of non-negative ints"),
        (lambda: arrays("numpy", devices=["cuda:0"]), xb.ArgumentError, "numpy has none"),
        (lambda: arrays("array_api_strict", devices=["cuda:3"]), xb.ArgumentError, "device1"),
        (lambda: arrays("no_such_library"), xb.ArgumentError, "unknown target library"),
        (lambda: arrays("array_api_strict", dtypes=["float16"]), xb.DTypeError, "cannot hold"),
    ],
)
def test_bad_arguments_are_clear_errors_when_the_strategy_is_built(
    call: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        call()


def test_jax_without_x64_names_the_setting() -> None:
    jax = pytest.importorskip("jax")
    if jax.config.jax_enable_x64:
        pytest.skip("this run enables x64")
    with pytest.raises(xb.DTypeError, match="jax_enable_x64"):
        arrays("jax", dtypes=["float64"])


@pytest.mark.subprocess
def test_bfloat16_without_ml_dtypes_is_a_clear_error() -> None:
    done = run_python(
        """
        import sys
        sys.modules["ml_dtypes"] = None  # as if it were not installed
        import xpbridge as xb
        from xpbridge.testing.strategies import numpy_arrays, torch_tensors
        try:
            numpy_arrays(dtypes=["bfloat16"])
        except xb.DTypeError as e:
            print(e)
        try:
            import torch
        except ImportError:
            pass  # the torch half needs torch
        else:
            torch_tensors(dtypes=["bfloat16"]).example  # torch needs no ml_dtypes
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "NumPy arrays of bfloat16 need ml_dtypes (it gives NumPy that type): "
        "pip install 'xpbridge[ml-dtypes]'"
    )


@pytest.mark.subprocess
def test_strategies_without_hypothesis_say_what_to_install() -> None:
    done = run_python(
        """
        import sys
        sys.modules["hypothesis"] = None  # as if it were not installed
        import xpbridge.testing  # the assertions need no hypothesis
        try:
            import xpbridge.testing.strategies
        except ModuleNotFoundError as e:
            print(e.name, "|", e)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "hypothesis | xpbridge.testing.strategies needs hypothesis: pip install 'xpbridge[testing]'"
    )
