"""What values each dtype holds: integer ranges, and where floating-point types overflow.

The planner reads these to refuse, in ``plan`` as in ``convert``, Python
values a dtype cannot hold (``[300]`` as uint8, ``[1e300]`` as float32,
``[inf]`` as int32): NumPy raises OverflowError for some of them, warns for
others, and torch and ml_dtypes give ``inf``, NaN or the largest value
silently.

A floating-point type holds a finite value whose magnitude rounds to at most
its largest finite value: below ``max + ulp / 2``, half a step above it
(``ulp`` is the spacing of the largest binade, ``eps * 2**floor(log2(max))``).
Whether it holds ``inf``, NaN, zero and negative values is read off the type
itself, once, by casting those values (float8_e4m3fn has no ``inf``;
float6/float4 have neither ``inf`` nor NaN and saturate; float8_e8m0fnu holds
positive powers of two only).  Nothing is imported here until a limit is
asked for, and then only the library that has the type.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, NamedTuple

from .dtypes import DTYPES, ml_dtypes_has
from .memo import Memo

if TYPE_CHECKING:
    from fractions import Fraction  # imported when a limit is first computed (1.5 ms)

__all__ = ["Limits", "limits"]

# A complex type's parts.
_PARTS = {
    "complex32": "float16",
    "complex64": "float32",
    "complex128": "float64",
    "bcomplex32": "bfloat16",
}


class Limits(NamedTuple):
    """The values one dtype holds.

    Attributes
    ----------
    kind : str
        The dtype's kind (``"bool"``, ``"int"``, ``"uint"``, ``"float"``,
        ``"complex"``; a complex type's limits are its parts').
    low, high : int or float or Fraction or None
        Integer types: the smallest and largest value, inclusive.  Floating
        types: ``-overflow`` and ``overflow``, exclusive (a magnitude of at
        least ``overflow`` rounds beyond the largest finite value), exact.
        None for bool, which holds every value as its truth.
    inf, nan : bool
        Whether infinities and NaN are held as themselves.
    positive_only : bool
        Only positive values are held (zero and negative values are not).

    Examples
    --------
    >>> limits("uint8").high, limits("float16").high, limits("float6_e2m3fn").high
    (255, 65520, 7.75)
    >>> limits("float8_e4m3fn").inf, limits("float8_e4m3fn").nan
    (False, True)
    """

    kind: str
    low: int | float | Fraction | None
    high: int | float | Fraction | None
    inf: bool = False
    nan: bool = False
    positive_only: bool = False


_LIMITS: Memo[Limits] = Memo("dtype value limits", "a canonical dtype name", 256)


def limits(name: str) -> Limits | None:
    """The values the canonical dtype ``name`` holds (None: nothing known of them).

    Integer and bool limits come from the dtype table; floating-point limits
    from the library that has the type (NumPy, ml_dtypes, or torch when
    ml_dtypes is missing), read once.
    """
    known = _LIMITS.data.get(name)
    if known is None:
        computed = _compute(name)
        if computed is None:
            return None
        known = _LIMITS.put(name, computed)
    return known


def _compute(name: str) -> Limits | None:
    row = DTYPES.get(name)
    if row is None or row.kind == "bits":
        return None
    if row.kind == "bool":
        return Limits("bool", None, None, inf=True, nan=True)
    if row.kind == "int":
        return Limits("int", -(1 << (row.bits - 1)), (1 << (row.bits - 1)) - 1)
    if row.kind == "uint":
        return Limits("uint", 0, (1 << row.bits) - 1)
    part = _PARTS.get(name, name) if row.kind == "complex" else name
    found = _float_limits(part)
    return None if found is None else found._replace(kind=row.kind)


def _float_limits(name: str) -> Limits | None:
    from fractions import Fraction

    row = DTYPES.get(name)
    if row is None or row.kind != "float":
        return None
    specials = [math.inf, math.nan, 0.0, -1.0]
    if row.numpy is not None or ml_dtypes_has(name):
        largest, eps, cast = _from_numpy(name, specials)
    elif row.torch is not None:
        found = _from_torch(name, specials)
        if found is None:
            return None
        largest, eps, cast = found
    else:
        return None
    exact = largest + eps * Fraction(2) ** (math.frexp(largest)[1] - 1) / 2
    overflow = _plain(exact)
    inf, nan, zero, minus_one = cast
    return Limits(
        "float",
        -overflow,
        overflow,
        inf=inf == math.inf,
        nan=math.isnan(nan),
        positive_only=zero != 0.0 or minus_one != -1.0,
    )


def _plain(value: Fraction) -> int | float | Fraction:
    """``value`` as the cheapest exact number: Python compares ints and floats exactly.

    float16's threshold is 65520, float64's the int 2**1024 - 2**970 (beyond
    every float), float6_e2m3fn's the float 7.75.
    """
    if value.denominator == 1:
        return int(value)
    if float(value) == value:  # compared exactly
        return float(value)
    return value


def _from_numpy(name: str, specials: list[float]) -> tuple[Fraction, Fraction, list[float]]:
    from fractions import Fraction

    import numpy as np

    from .dtypes import numpy_dtype

    dtype = numpy_dtype(name)
    if DTYPES[name].numpy is not None:
        info = np.finfo(dtype)
    else:
        import ml_dtypes

        info = ml_dtypes.finfo(dtype)  # type: ignore[no-untyped-call]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a cast of inf or NaN may warn; that is what is asked
        cast = np.array(specials, dtype=np.float64).astype(dtype).astype(np.float64).tolist()
    return Fraction(float(info.max)), Fraction(float(info.eps)), cast


def _from_torch(name: str, specials: list[float]) -> tuple[Fraction, Fraction, list[float]] | None:
    from fractions import Fraction

    import torch

    dtype = getattr(torch, DTYPES[name].torch or name, None)
    if dtype is None:
        return None
    try:
        info = torch.finfo(dtype)
        values = torch.tensor(specials, dtype=torch.float64).to(dtype).to(torch.float64)
    except (TypeError, RuntimeError):  # a type torch cannot cast to (packed float4)
        return None
    return Fraction(float(info.max)), Fraction(float(info.eps)), values.tolist()
