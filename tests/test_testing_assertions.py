"""xpbridge.testing.assert_equal / assert_close: facts, values, and the message a failure prints."""

from __future__ import annotations

import importlib
import re

import array_api_strict
import ml_dtypes
import numpy as np
import pytest
from frameworks import HAS_TORCH, SCIPY_ARRAY_API_COMPAT, needs_torch, torch
from hypothesis import given

from xpbridge._lib.dtypes import DTYPES
from xpbridge.testing import (
    assert_bitwise_equal,
    assert_close,
    assert_equal,
    default_tolerance,
)
from xpbridge.testing._compare import DEFAULT_TOLERANCES
from xpbridge.testing.strategies import arrays

STRICT_DEVICES = {
    str(d).split("'")[1]: d for d in array_api_strict.__array_namespace_info__().devices()
}


def _failure(call: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(AssertionError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return str(caught.value)


# --- torch's lazy bits --------------------------------------------------------


@needs_torch
def test_negative_bit_is_resolved_so_a_wrong_sign_fails() -> None:
    x = torch.tensor([1 + 2j, 3 - 4j])
    lazily_negated = x.conj().imag
    assert lazily_negated.is_neg()
    assert_equal(lazily_negated, torch.tensor([-2.0, 4.0]))
    message = _failure(assert_equal, lazily_negated, torch.tensor([2.0, -4.0]))
    assert "First mismatch at index (0,): actual -2.0, desired 2.0" in message
    assert "Mismatched elements: 2 / 2 (100%)" in message
    assert "negative bit (resolved before comparing)" in message
    # The same wrong sign, held in the desired array, fails too.
    _failure(assert_equal, torch.tensor([2.0, -4.0]), lazily_negated)


@needs_torch
def test_conjugate_bit_is_resolved() -> None:
    x = torch.tensor([1 + 2j, 3 - 4j])
    assert_equal(x.conj(), torch.conj_physical(x))
    message = _failure(assert_equal, x.conj(), x)
    assert "conjugate bit" in message
    assert "actual (1-2j), desired (1+2j)" in message


@needs_torch
def test_lazy_bits_in_close_comparisons_too() -> None:
    x = torch.tensor([1 + 2j], dtype=torch.complex128)
    assert_close(x.conj().imag, torch.tensor([-2.0], dtype=torch.float64))
    _failure(assert_close, x.conj().imag, torch.tensor([2.0], dtype=torch.float64))


# --- facts: library, dtype, shape, scalar, device ----------------------------


def test_a_zero_d_array_is_not_a_scalar() -> None:
    message = _failure(assert_equal, np.float64(1.0), np.asarray(1.0))
    assert "actual is a scalar, desired is a 0-d array" in message
    message = _failure(assert_equal, np.asarray(1.0), np.float64(1.0))
    assert "actual is a 0-d array, desired is a scalar" in message
    assert "numpy.float64 float64, scalar" in message
    assert_equal(np.asarray(1.0), np.float64(1.0), check_shape=False)
    message = _failure(assert_equal, np.asarray(1.0), 1.0, check_dtype=False)
    assert "actual is a numpy object, desired a python one" in message


@needs_torch
def test_library_dtype_and_shape_are_checked_and_can_be_waived() -> None:
    t, a = torch.tensor([1.0, 2.0]), np.array([1.0, 2.0], dtype=np.float32)
    assert "actual is a torch object, desired a numpy one" in _failure(assert_equal, t, a)
    assert_equal(t, a, check_namespace=False)
    message = _failure(assert_equal, t, a.astype(np.float64), check_namespace=False)
    assert "dtypes differ: float32 != float64" in message
    assert_equal(t, a.astype(np.float64), check_namespace=False, check_dtype=False)
    message = _failure(assert_equal, np.zeros((2, 3)), np.zeros((3, 2)))
    assert "shapes differ: (2, 3) != (3, 2)" in message


def test_check_shape_false_broadcasts_desired() -> None:
    assert_equal(np.zeros((2, 3)), np.float64(0.0), check_shape=False)
    assert_close(np.ones(3), np.ones(1), check_shape=False)
    message = _failure(assert_equal, np.zeros((2, 3)), np.zeros(2), check_shape=False)
    assert "do not broadcast" in message


def test_devices_are_compared_within_a_library_and_across() -> None:
    cpu, device1 = STRICT_DEVICES["CPU_DEVICE"], STRICT_DEVICES["device1"]
    on_cpu = array_api_strict.asarray([1.0, 2.0], device=cpu)
    on_device1 = array_api_strict.asarray([1.0, 2.0], device=device1)
    assert_equal(on_device1, array_api_strict.asarray([1.0, 2.0], device=device1))
    message = _failure(assert_equal, on_device1, on_cpu)
    assert "devices differ: device1 != CPU_DEVICE" in message
    assert_equal(on_device1, on_cpu, check_device=False)
    if torch is not None:
        # Across libraries the DLPack device decides: torch's CPU is NumPy's CPU.
        cpu_tensor = torch.tensor([1.0])
        assert_equal(cpu_tensor, np.array([1.0], dtype=np.float32), check_namespace=False)
        meta = torch.empty(2, device="meta")
        assert "devices differ: meta != cpu" in _failure(assert_equal, meta, torch.zeros(2))


@needs_torch
def test_meta_tensors_compare_facts_but_have_no_values() -> None:
    assert_equal(torch.empty(2, device="meta"), torch.empty(2, device="meta"))
    _failure(assert_equal, torch.empty(2, device="meta"), torch.empty(3, device="meta"))


def test_objects_that_are_not_arrays_fail_with_their_type() -> None:
    assert "actual: NoneType is not an array" in _failure(assert_equal, None, np.zeros(1))
    assert "desired: object is not an array" in _failure(assert_close, np.zeros(1), object())


# --- values --------------------------------------------------------------------


def test_nan_equals_nan_and_signed_zeros_are_equal_values() -> None:
    assert_equal(np.array([np.nan, 0.0]), np.array([np.nan, -0.0]))
    assert_close(np.array([np.nan]), np.array([np.nan]))
    # Bits tell the zeros apart; values do not.
    with pytest.raises(AssertionError):
        assert_bitwise_equal(np.array([0.0]), np.array([-0.0]))
    assert "actual nan, desired 1.0" in _failure(assert_equal, np.array([np.nan]), np.array([1.0]))


def test_signalling_nans_compare_without_a_warning() -> None:
    # Widening a signalling NaN quietens it and raises the invalid flag; the suite
    # runs with warnings as errors, so a warning would fail this test.
    signalling = np.array([0x7FA00000], dtype=np.uint32).view(np.float32)
    assert_equal(signalling, signalling.copy())
    if torch is not None:
        assert_close(torch.from_numpy(signalling.copy()), torch.tensor([np.nan]))
    assert "actual nan, desired 1.0" in _failure(assert_equal, signalling, np.float32([1.0]))


def test_the_first_mismatch_of_an_nd_array_is_named() -> None:
    desired = np.arange(12.0).reshape(3, 4)
    actual = desired.copy()
    actual[1, 2] = 99.0
    actual[2, 0] = -1.0
    message = _failure(assert_equal, actual, desired, err_msg="after the update")
    assert message.splitlines()[0] == "after the update"
    assert "Mismatched elements: 2 / 12 (17%)" in message
    assert "First mismatch at index (1, 2): actual 99.0, desired 6.0" in message
    assert "Max absolute difference: 93.0" in message
    assert re.search(
        r" actual: numpy\.ndarray float64, shape \(3, 4\), on cpu$", message, re.MULTILINE
    )


def test_default_tolerances_follow_the_dtype() -> None:
    one = np.float32(1.0)
    assert_close(np.array([one + 1e-6], dtype=np.float32), np.array([one]))
    _failure(assert_close, np.array([1.001], dtype=np.float32), np.array([1.0], dtype=np.float32))
    assert_close(np.array([1 + 1e-8]), np.array([1.0]))
    message = _failure(assert_close, np.array([1 + 1e-6]), np.array([1.0]))
    assert "Arrays are not close (rtol=1e-07, atol=1e-07)" in message
    # bfloat16 has 8 bits of mantissa: 1% is within its default tolerance.
    b = np.array([100.0], dtype=ml_dtypes.bfloat16)
    assert_close(b, (b.astype(np.float32) * 1.01).astype(ml_dtypes.bfloat16))
    # With two dtypes, the looser tolerance applies.
    assert_close(
        np.array([1.0001]), np.array([1.0], dtype=np.float16), check_dtype=False, check_shape=True
    )


def test_every_floating_dtype_has_a_default_tolerance() -> None:
    inexact = {n for n, row in DTYPES.items() if row.kind in {"float", "complex"}}
    assert inexact == set(DEFAULT_TOLERANCES)
    assert default_tolerance("bfloat16") == (1.6e-2, 1e-5)
    assert default_tolerance("uint8") == default_tolerance("not-a-dtype") == (0.0, 0.0)
    with pytest.raises(TypeError, match="canonical dtype name"):
        default_tolerance(np.float32)  # type: ignore[arg-type]


def test_integers_must_be_equal_unless_a_tolerance_is_given() -> None:
    message = _failure(assert_close, np.array([1, 2, 3]), np.array([1, 2, 4]))
    assert "rtol=0.0, atol=0.0" in message
    assert_close(np.array([1, 2, 3]), np.array([1, 2, 4]), atol=1)
    # Unsigned values are compared as numbers, never wrapped around.
    _failure(assert_close, np.array([0], dtype=np.uint8), np.array([255], dtype=np.uint8), atol=2)


def test_infinities_must_match_exactly() -> None:
    assert_close(np.array([np.inf, -np.inf]), np.array([np.inf, -np.inf]))
    _failure(assert_close, np.array([np.inf]), np.array([-np.inf]), rtol=1.0)
    _failure(assert_close, np.array([np.inf]), np.array([1e308]), rtol=1.0)
    _failure(assert_close, np.array([np.nan]), np.array([1.0]), atol=10.0)


@needs_torch
def test_torch_only_and_ml_dtypes_types_compare_by_value() -> None:
    t = torch.tensor([1.5, -2.0], dtype=torch.bfloat16)
    a = np.array([1.5, -2.0], dtype=ml_dtypes.bfloat16)
    assert_equal(t, a, check_namespace=False)
    message = _failure(assert_equal, t, a[::-1].copy(), check_namespace=False)
    assert "actual 1.5, desired -2.0" in message
    assert "torch.Tensor bfloat16" in message
    assert "numpy.ndarray bfloat16" in message


def test_arrays_of_other_libraries_on_any_device() -> None:
    jnp = pytest.importorskip("jax.numpy")
    assert_equal(jnp.asarray([1, 2]), jnp.asarray([1, 2]))
    assert_equal(
        jnp.asarray([1, 2], dtype=jnp.int32),
        np.array([1, 2], dtype=np.int32),
        check_namespace=False,
    )
    message = _failure(assert_equal, jnp.asarray([1, 2]), jnp.asarray([1, 3]))
    assert " actual: jax.Array int32, shape (2,), on cpu" in message
    device1 = STRICT_DEVICES["device1"]
    strict = array_api_strict.asarray([1.0, 2.0], device=device1)
    assert_close(strict, array_api_strict.asarray([1.0, 2.0 + 1e-9], device=device1))


def test_bitwise_equality_reads_array_api_strict_arrays_on_device1() -> None:
    strict = array_api_strict.asarray([1.0, np.nan], device=STRICT_DEVICES["device1"])
    assert_bitwise_equal(strict, np.array([1.0, np.nan]))
    with pytest.raises(AssertionError, match="bits differ"):
        assert_bitwise_equal(strict, np.array([1.0, 2.0]))


# --- every array the strategies draw equals itself --------------------------------


@pytest.mark.property
@given(arrays(["numpy", *(["torch"] if HAS_TORCH else []), "array_api_strict"]))
def test_every_drawn_array_equals_itself(x: object) -> None:
    assert_equal(x, x)
    assert_close(x, x)
    assert_bitwise_equal(x, x)


@pytest.mark.skipif(
    np.finfo(np.longdouble).nmant != 63 or np.dtype(np.longdouble).itemsize != 16,
    reason="longdouble is not x87 extended precision padded to 16 bytes here",
)
def test_the_padding_of_extended_precision_is_not_compared() -> None:
    # Two copies of one longdouble value may differ in the 6 padding bytes
    # above the 80 value bits (NumPy leaves them as memory had them).
    values = np.array([1.5, -2.0, np.inf], np.longdouble)
    garbage = values.copy()
    garbage.view(np.uint8).reshape(3, 16)[:, 10:] = 0xAB  # the padding only
    assert not np.array_equal(values.view(np.uint8), garbage.view(np.uint8))
    assert_bitwise_equal(values, garbage)
    complex_values = values.astype(np.clongdouble)
    complex_garbage = complex_values.copy()
    complex_garbage.view(np.uint8).reshape(3, 2, 16)[:, :, 10:] = 0xCD
    assert_bitwise_equal(complex_values, complex_garbage)
    # The sign and the exponent share the padded word: a change there is seen.
    with pytest.raises(AssertionError, match="bits differ"):
        assert_bitwise_equal(values, -values)
    with pytest.raises(AssertionError, match="bits differ"):
        assert_bitwise_equal(complex_values, -complex_values)


# --- what real suites need (array-api-extra's check_scalar, SciPy's check_0d, xp=) ---


def test_check_scalar_and_check_0d_ignore_scalar_versus_0d_but_keep_the_shape() -> None:
    scalar = np.sum(np.arange(3.0))  # NumPy 2 returns a scalar from a reduction
    assert isinstance(scalar, np.float64)
    for switch in ("check_scalar", "check_0d"):
        assert_equal(scalar, np.asarray(3.0), **{switch: False})
        assert_close(np.asarray(3.0), scalar, **{switch: False})
        # The shape is still compared: a 0-d value is not a 1-element array.
        message = _failure(assert_equal, scalar, np.asarray([3.0]), **{switch: False})
        assert "shapes differ: () != (1,)" in message
    # check_shape=False would let that through: the scalar switch is the narrower one.
    assert_equal(np.asarray([1, 1]), np.asarray(1), check_shape=False)
    _failure(assert_equal, np.asarray([1, 1]), np.asarray(1), check_scalar=False)
    # Both names at once must agree.
    assert_equal(scalar, np.asarray(3.0), check_scalar=False, check_0d=False)
    with pytest.raises(TypeError, match="one switch"):
        assert_equal(scalar, np.asarray(3.0), check_scalar=False, check_0d=True)


@needs_torch
def test_xp_names_the_namespace_both_arrays_must_come_from() -> None:
    import array_api_compat.numpy as np_compat
    import array_api_compat.torch as torch_compat

    assert_equal(np.ones(2), np.ones(2), xp=np_compat)
    assert_close(np.ones(2), np.ones(2), xp=np)
    message = _failure(assert_equal, np.ones(2), np.ones(2), xp=torch_compat)
    assert "actual is a numpy object, xp is torch" in message
    assert "desired is a numpy object, xp is torch" in message
    # Only one of the two from the wrong library: still caught, where comparing
    # the two with each other would not be enough.
    t = torch.ones(2, dtype=torch.float64)
    message = _failure(assert_equal, t, np.ones(2), xp=torch_compat)
    assert "desired is a numpy object, xp is torch" in message
    assert "actual is" not in message.splitlines()[0]
    assert_equal(t, np.ones(2), xp=torch_compat, check_namespace=False)


def test_xp_may_be_a_vendored_array_api_compat_or_a_tests_wrapped_namespace() -> None:
    from xpbridge.testing import xp_backends

    if SCIPY_ARRAY_API_COMPAT is None:
        pytest.skip("needs SciPy (not installed here)")
    scipy_np = importlib.import_module(f"{SCIPY_ARRAY_API_COMPAT}.numpy")

    assert_equal(np.ones(2), np.ones(2), xp=scipy_np)
    readonly = xp_backends("numpy-readonly")[0].namespace()
    assert_equal(readonly.ones(2), np.ones(2), xp=readonly)


@pytest.mark.parametrize("unit", ["datetime64[D]", "datetime64[ns]", "timedelta64[s]"])
def test_nat_equals_nat_as_numpys_own_assertion_says(unit: str) -> None:
    values = ["NaT", 1, "NaT"] if unit.startswith("timedelta") else ["NaT", "2020-01-01", "NaT"]
    a = np.asarray(values, dtype=unit)
    np.testing.assert_array_equal(a, a.copy())
    assert_equal(a, a.copy())
    assert_close(a, a.copy())
    b = a.copy()
    b[0] = b[1]
    message = _failure(assert_equal, a, b)
    assert "Mismatched elements: 1 / 3" in message
    assert "First mismatch at index (0,): actual NaT" in message


def test_dask_arrays_of_unknown_shape_are_computed_for_their_shape() -> None:
    import dask.array as da

    x = da.arange(6, chunks=3)
    y = x[x > 2]
    assert np.isnan(y.shape[0])
    assert_equal(y, da.asarray(np.asarray([3, 4, 5])))
    assert np.isnan(y.shape[0])  # the caller's array is left as it was
    message = _failure(assert_equal, y, da.asarray(np.asarray([3, 4])))
    assert "shapes differ: (3,) != (2,)" in message
    assert "dask.Array int64, shape (3,)" in message
    message = _failure(assert_equal, y, da.asarray(np.asarray([3, 4, 6])))
    assert "First mismatch at index (2,): actual 5, desired 6" in message
