"""Property tests of Python values: the plan's dtype is the target library's own, and
values a dtype cannot hold are a DTypeError from plan and convert alike.

spec/contract.toml, rules python-values-planned-exactly and python-values-held.
The oracles are the libraries themselves (numpy.asarray, torch.asarray,
jax.numpy.asarray, NumPy's and ml_dtypes' casts of each single value), not
xpbridge's own tables.
"""

from __future__ import annotations

import cmath
import math
import re
import warnings
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

import xpbridge as xb
from xpbridge._lib.dtypes import DTYPES, numpy_dtype, torch_dtype
from xpbridge.testing import assert_bitwise_equal

pytestmark = pytest.mark.property

# Ints at the edges the libraries' inference turns on (int64, uint64, beyond).
EDGE_INTS = st.sampled_from(
    [0, 1, -1, 2**31, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 2**70, -(2**1100)]
)
SCALARS = st.one_of(
    st.booleans(),
    st.integers(-(2**40), 2**40),
    EDGE_INTS,
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1e6, 1e6),
    st.complex_numbers(max_magnitude=1e6),
    st.complex_numbers(allow_nan=True, allow_infinity=True),
)


@st.composite
def regular(draw: st.DrawFn, leaves: st.SearchStrategy[Any] = SCALARS) -> Any:
    """A nested list (or tuple) of one shape, or a scalar."""
    shape = draw(st.lists(st.integers(0, 3), max_size=3))
    sequence = draw(st.sampled_from([list, tuple]))

    def build(dims: list[int]) -> Any:
        if not dims:
            return draw(leaves)
        return sequence(build(dims[1:]) for _ in range(dims[0]))

    return build(shape)


NESTED = st.one_of(
    regular(),
    # Ragged: lists of any lengths and depths.
    st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=8),
)


def _library_dtype(make: Any) -> str | None:
    """The dtype name the library makes, or None where it refuses (raises, warns, objects)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            result = make()
        except Exception:  # noqa: BLE001 - every refusal counts, whatever its type
            return None
    name = str(result.dtype).rpartition(".")[2]
    return None if name == "object" else name


def _flat(values: Any) -> list[Any]:
    if isinstance(values, (list, tuple)):
        return [leaf for v in values for leaf in _flat(v)]
    return [values]


def _finite(value: Any) -> bool:
    if isinstance(value, int):
        return abs(value) < 2**1024
    return cmath.isfinite(value)


def _parts(value: Any) -> list[Any]:
    return [value.real, value.imag] if isinstance(value, complex) else [value]


def _lost_values(result: Any, values: Any) -> bool:
    """Whether the library's array holds inf or NaN where a value (or part) was finite."""
    made = [complex(m) for m in np.asarray(result).reshape(-1).tolist()]
    return any(
        _finite(part) and not math.isfinite(got)
        for value, m in zip(_flat(values), made, strict=True)
        for part, got in zip(_parts(value), (m.real, m.imag)[: len(_parts(value))], strict=True)
    )


def _ragged_to_numpy(values: Any) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            np.asarray(values)
        except ValueError as e:
            return "inhomogeneous" in str(e)
    return False


TARGETS = ["numpy", "torch"]
try:
    import jax.numpy as jnp
except ImportError:  # the NumPy-1.26 leg
    jnp = None
else:
    TARGETS.append("jax")


def _own(to: str, values: Any) -> Any:
    if to == "numpy":
        return lambda: np.asarray(values)
    if to == "torch":
        return lambda: torch.asarray(values)
    return lambda: jnp.asarray(values)


@pytest.mark.rule("python-values-planned-exactly")
@pytest.mark.parametrize("to", TARGETS)
@given(values=NESTED)
def test_the_planned_dtype_is_the_target_librarys_own(to: str, values: Any) -> None:
    """plan().dtype == the dtype the library's asarray makes, or both refuse.

    Where the library makes an array and xpbridge refuses, the refusal is one
    the contract states: the library lost values (inf from finite values) or
    the sequence is ragged by NumPy's rule (torch accepts some ragged lists
    that hold no value).
    """
    own = _library_dtype(_own(to, values))
    refused = _refusal(lambda: xb.plan(values, to))
    if refused is not None:
        with pytest.raises(type(refused)) as converted:
            xb.convert(values, to)
        assert str(converted.value) == str(refused)
        if own is not None:  # the library made an array: the contract says why not here
            if isinstance(refused, xb.UnsupportedInputError):
                assert "ragged" in str(refused) and _ragged_to_numpy(values), (values, own)
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    made = _own(to, values)()
                assert _lost_values(made, values), (values, own, str(refused))
        return
    planned = xb.plan(values, to).dtype
    assert planned == own, (values, planned, own)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = xb.convert(values, to)
    assert str(result.dtype).rpartition(".")[2] == planned
    assert_bitwise_equal(result, _own(to, values)())


# --- values x dtypes ---------------------------------------------------------

NUMPY_DTYPES = [
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
    "bfloat16",
    "float8_e5m2",
    "float8_e4m3fn",
    "float8_e8m0fnu",
    "float4_e2m1fn",
    "int4",
]
TORCH_DTYPES = [d for d in NUMPY_DTYPES if d not in ("float4_e2m1fn", "int4")]

VALUES = st.lists(SCALARS, min_size=1, max_size=4)


def _holds(value: Any, dtype: str) -> bool | None:
    """Whether ``dtype`` holds ``value``: its range, and the library's own cast of the value.

    Integer types hold the values between their ``iinfo`` bounds (a float is
    not truncated first: -0.5 is no uint8).  Floating types hold a value whose
    cast is what it should be: finite where the value is, ``inf`` and NaN as
    themselves, the sign kept, and a magnitude that rounds to at most the
    largest finite value.  None for a tie exactly half a step above it
    (which way a tie rounds is the type's own business; xpbridge refuses it).
    """
    kind = DTYPES[dtype].kind
    if kind == "bool":
        return True
    if isinstance(value, complex) and kind != "complex":
        return False
    parts = [value.real, value.imag] if isinstance(value, complex) else [value]
    if kind in ("int", "uint"):
        info = _iinfo(numpy_dtype(dtype))
        return all(_finite(p) and info.min <= p <= info.max for p in parts)
    part = {"complex64": "float32", "complex128": "float64"}.get(dtype, dtype)
    info = _finfo(numpy_dtype(part))
    largest = Fraction(float(info.max))
    overflow = largest + Fraction(float(info.eps)) * 2 ** (math.frexp(largest)[1] - 1) / 2
    for p in parts:
        if not _finite(p) and not isinstance(p, float):
            return False  # an int beyond float64
        if _finite(p) and abs(Fraction(p)) == overflow:
            return None
        if _finite(p) and abs(Fraction(p)) > overflow:
            return False
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cast = float(np.array([float(p)]).astype(numpy_dtype(part)).astype(np.float64)[0])
        if math.isnan(p):
            held = math.isnan(cast)
        elif math.isinf(p):
            held = cast == p
        else:
            same_sign = cast == 0 or math.copysign(1, cast) == math.copysign(1, p)
            # A tiny value may round to zero (underflow is rounding), never to another sign.
            held = math.isfinite(cast) and same_sign
        if not held:
            return False
    return True


def _iinfo(dtype: Any) -> Any:
    try:
        return np.iinfo(dtype)
    except (TypeError, ValueError):
        import ml_dtypes

        return ml_dtypes.iinfo(dtype)


def _finfo(dtype: Any) -> Any:
    try:
        return np.finfo(dtype)
    except (TypeError, ValueError):
        import ml_dtypes

        return ml_dtypes.finfo(dtype)


@pytest.mark.rule("python-values-held")
@pytest.mark.parametrize("to", ["numpy", "torch"])
@given(values=VALUES, data=st.data())
def test_values_a_dtype_cannot_hold_are_dtype_errors(to: str, values: Any, data: Any) -> None:
    dtype = data.draw(st.sampled_from(NUMPY_DTYPES if to == "numpy" else TORCH_DTYPES))
    held = [_holds(v, dtype) for v in values]
    assume(None not in held)
    refused = _refusal(lambda: xb.plan(values, to, dtype=dtype))
    if refused is not None:
        assert isinstance(refused, xb.DTypeError), refused
        # A value the dtype cannot hold, or values the library makes no such array of
        # (torch.asarray([1.0], dtype=torch.uint64) raises TypeError).
        mine = str(refused)
        assert not all(held) or _library_dtype(_made(to, values, dtype)) is None, (values, mine)
        with pytest.raises(xb.DTypeError) as converted:
            xb.convert(values, to, dtype=dtype)
        assert str(converted.value) == mine
        named = re.search(r"pass dtype='([a-z0-9_]+)'", mine)
        if named:  # the dtype the message names holds them
            remedy = named.group(1)
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                xb.convert(values, to, dtype=remedy)
        return
    assert all(held), (values, dtype)
    assert xb.plan(values, to, dtype=dtype).dtype == dtype
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = xb.convert(values, to, dtype=dtype)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "ComplexHalf support is experimental")
        expected = _made(to, values, dtype)()
    assert_bitwise_equal(result, expected)


def _refusal(plan: Any) -> xb.ConversionError | None:
    """The documented error ``plan()`` raises (None: it plans)."""
    try:
        plan()
    except (xb.DTypeError, xb.UnsupportedInputError) as e:
        return e
    return None


def _made(to: str, values: Any, dtype: str) -> Any:
    if to == "numpy":
        return lambda: np.array(values, dtype=numpy_dtype(dtype))
    return lambda: torch.asarray(values, dtype=torch_dtype(dtype))
