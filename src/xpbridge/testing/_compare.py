"""Cross-library equality and closeness: ``assert_equal`` and ``assert_close``.

Both compare arrays of any library on any device.  First the facts
(library, dtype, shape, scalar or array, device), each check switchable;
then the values, read on the host by upstream calls with torch's conjugate
and negative bits resolved.  A failure names the first mismatching index,
both values there, and both arrays' dtypes and devices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._lib.dtypes import DTYPES
from ._catalogue import namespace_of
from ._inspect import Described, describe, host_values, shape_unknown

__all__ = ["DEFAULT_TOLERANCES", "assert_close", "assert_equal", "default_tolerance"]

# (rtol, atol) by dtype when assert_close is given none.  The four common float
# widths follow torch.testing.assert_close's documented defaults; the narrow
# ml_dtypes / torch float types get one unit in the last place (eps) relative,
# nothing absolute; a complex type gets the row of its component type.
# https://pytorch.org/docs/stable/testing.html#torch.testing.assert_close
DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
    "float32": (1.3e-6, 1e-5),
    "float64": (1e-7, 1e-7),
    "complex32": (1e-3, 1e-5),
    "bcomplex32": (1.6e-2, 1e-5),
    "complex64": (1.3e-6, 1e-5),
    "complex128": (1e-7, 1e-7),
    "float8_e4m3fn": (2.0**-3, 0.0),
    "float8_e4m3fnuz": (2.0**-3, 0.0),
    "float8_e4m3": (2.0**-3, 0.0),
    "float8_e4m3b11fnuz": (2.0**-3, 0.0),
    "float8_e3m4": (2.0**-4, 0.0),
    "float8_e5m2": (2.0**-2, 0.0),
    "float8_e5m2fnuz": (2.0**-2, 0.0),
    "float8_e8m0fnu": (1.0, 0.0),
    "float6_e2m3fn": (2.0**-3, 0.0),
    "float6_e3m2fn": (2.0**-2, 0.0),
    "float4_e2m1fn": (2.0**-1, 0.0),
    "float4_e2m1fn_x2": (2.0**-1, 0.0),
}


def default_tolerance(dtype: str) -> tuple[float, float]:
    """The ``(rtol, atol)`` that :func:`assert_close` uses for a dtype when given none.

    Parameters
    ----------
    dtype : str
        A canonical dtype name (``"float32"``, ``"bfloat16"``, ``"int64"``).

    Returns
    -------
    tuple of float
        ``(rtol, atol)``: torch.testing.assert_close's defaults for float16,
        bfloat16, float32 and float64 (a complex type takes its component's),
        one unit in the last place relative for the narrow float types, and
        ``(0.0, 0.0)`` for integers, booleans and names it does not know.

    Raises
    ------
    TypeError
        If ``dtype`` is not a string.

    Examples
    --------
    >>> default_tolerance("float32"), default_tolerance("complex128"), default_tolerance("int8")
    ((1.3e-06, 1e-05), (1e-07, 1e-07), (0.0, 0.0))
    """
    if not isinstance(dtype, str):
        raise TypeError(f"dtype={dtype!r}: pass a canonical dtype name such as 'float32'")
    return DEFAULT_TOLERANCES.get(dtype, (0.0, 0.0))


def assert_equal(
    actual: Any,
    desired: Any,
    *,
    check_namespace: bool = True,
    check_dtype: bool = True,
    check_shape: bool = True,
    check_scalar: bool | None = None,
    check_0d: bool | None = None,
    check_device: bool = True,
    xp: Any = None,
    err_msg: str = "",
) -> None:
    """Assert that two arrays of any library hold equal values.

    NaN equals NaN in the same place; ``-0.0`` equals ``0.0`` (compare bits
    with :func:`assert_bitwise_equal`).  torch's conjugate and negative bits
    are resolved before the values are read, so a lazily negated tensor is
    compared by the values it stands for.

    Parameters
    ----------
    actual : array, scalar or sequence
        What the code under test produced: a NumPy array or scalar, a torch
        tensor, an array of any array-API library (JAX, array-api-strict,
        CuPy, ...), on any device.
    desired : array, scalar or sequence
        What it should be.
    check_namespace : bool, default True
        Both must come from the same library.
    check_dtype : bool, default True
        Both must have the same dtype (by canonical name, so a NumPy and a
        torch float32 agree when ``check_namespace=False``).
    check_shape : bool, default True
        Both must have the same shape.  With False, ``desired`` is broadcast
        to ``actual``'s shape (and the scalar check is off too).  A Dask
        array whose chunk sizes are unknown (NaN) is computed for its shape.
    check_scalar, check_0d : bool, default True
        Both must be arrays or both be scalars: a 0-d array never equals a
        NumPy scalar or a Python number.  False accepts either for the other
        while shapes are still compared (NumPy 2 returns scalars from 0-d
        arithmetic).  Two names for one switch: array-api-extra calls it
        ``check_scalar``, SciPy ``check_0d``; give one.
    check_device : bool, default True
        Both must be on the same device (the library's own device objects
        for one library, the DLPack device across libraries).
    xp : namespace, optional
        The namespace both must come from (a module such as
        ``array_api_compat.numpy``, a vendored copy of it, or a test's
        ``xp``), for tests where ``desired`` could itself be of the wrong
        library.  Checked with ``check_namespace``.
    err_msg : str, default ""
        Printed before the description of the failure.

    Returns
    -------
    None
        When the arrays are equal.

    Raises
    ------
    AssertionError
        If a check fails or a value differs.  The message names the first
        mismatching index, both values there, the count of mismatches, and
        both arrays' type, dtype, shape and device.
    TypeError
        If ``check_scalar`` and ``check_0d`` are both given and disagree.

    See Also
    --------
    assert_close : the same checks, values equal within a tolerance.
    assert_bitwise_equal : the same bits, NaN payloads and signed zeros included.

    Examples
    --------
    >>> import numpy as np, torch
    >>> assert_equal(torch.tensor([1.0, np.nan]), torch.tensor([1.0, np.nan]))
    >>> x = torch.tensor([1 + 2j, 3 - 4j])
    >>> assert_equal(x.conj().imag, torch.tensor([2.0, -4.0]))  # a wrong sign
    Traceback (most recent call last):
    ...
    AssertionError: Arrays are not equal
    Mismatched elements: 2 / 2 (100%)
    First mismatch at index (0,): actual -2.0, desired 2.0
    Max absolute difference: 8.0
    Max relative difference: 2.0
     actual: torch.Tensor float32, shape (2,), on cpu, negative bit (resolved before comparing)
    desired: torch.Tensor float32, shape (2,), on cpu
    >>> assert_equal(np.float64(1.0), np.asarray(1.0))
    Traceback (most recent call last):
    ...
    AssertionError: Arrays differ: actual is a scalar, desired is a 0-d array
     actual: numpy.float64 float64, scalar, on cpu
    desired: numpy.ndarray float64, shape (), on cpu
    >>> assert_equal(np.float64(1.0), np.asarray(1.0), check_scalar=False)
    >>> assert_equal(np.asarray(["NaT", "2020-01-01"], dtype="datetime64[D]"),
    ...              np.asarray(["NaT", "2020-01-01"], dtype="datetime64[D]"))
    """
    __tracebackhide__ = True
    scalar = _scalar_switch(check_scalar, check_0d)
    checks = _Checks(check_namespace, check_dtype, check_shape, scalar, check_device, xp)
    _compare(actual, desired, None, checks, err_msg)


def assert_close(
    actual: Any,
    desired: Any,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    check_namespace: bool = True,
    check_dtype: bool = True,
    check_shape: bool = True,
    check_scalar: bool | None = None,
    check_0d: bool | None = None,
    check_device: bool = True,
    xp: Any = None,
    err_msg: str = "",
) -> None:
    """Assert that two arrays of any library hold values within a tolerance.

    Element by element, ``|actual - desired| <= atol + rtol * |desired|``;
    infinities must match exactly and NaN equals NaN.  Integer and boolean
    values must be equal unless a tolerance is given.

    Parameters
    ----------
    actual : array, scalar or sequence
        What the code under test produced, of any library, on any device.
    desired : array, scalar or sequence
        What it should be.
    rtol, atol : float, optional
        Relative and absolute tolerance.  By default they depend on the dtype
        (:func:`default_tolerance`; the looser of the two dtypes when they
        differ): float32 gets ``(1.3e-6, 1e-5)`` and float64 ``(1e-7, 1e-7)``
        as in ``torch.testing.assert_close``; integers and booleans ``(0, 0)``.
    check_namespace, check_dtype, check_shape, check_device : bool, default True
        As for :func:`assert_equal`.
    check_scalar, check_0d : bool, default True
        As for :func:`assert_equal` (one switch, two names).
    xp : namespace, optional
        As for :func:`assert_equal`.
    err_msg : str, default ""
        Printed before the description of the failure.

    Returns
    -------
    None
        When the arrays are close.

    Raises
    ------
    AssertionError
        If a check fails or a value is out of tolerance, with the first
        mismatching index, both values, the largest differences, and both
        arrays' type, dtype, shape and device.
    TypeError
        If ``check_scalar`` and ``check_0d`` are both given and disagree.

    See Also
    --------
    assert_equal : exact equality.

    Examples
    --------
    >>> import numpy as np
    >>> assert_close(np.float32([1.0, 2.0]) / 3 * 3, np.float32([1.0, 2.0]))
    >>> assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.1]), rtol=0.01)
    Traceback (most recent call last):
    ...
    AssertionError: Arrays are not close (rtol=0.01, atol=1e-07)
    Mismatched elements: 1 / 2 (50%)
    First mismatch at index (1,): actual 2.0, desired 2.1
    Max absolute difference: 0.10000000000000009
    Max relative difference: 0.04761904761904766
     actual: numpy.ndarray float64, shape (2,), on cpu
    desired: numpy.ndarray float64, shape (2,), on cpu
    """
    __tracebackhide__ = True
    scalar = _scalar_switch(check_scalar, check_0d)
    checks = _Checks(check_namespace, check_dtype, check_shape, scalar, check_device, xp)
    _compare(actual, desired, (rtol, atol), checks, err_msg)


@dataclass(frozen=True)
class _Checks:
    namespace: bool
    dtype: bool
    shape: bool
    scalar: bool
    device: bool
    xp: Any


def _scalar_switch(check_scalar: bool | None, check_0d: bool | None) -> bool:
    if check_scalar is not None and check_0d is not None and bool(check_scalar) != bool(check_0d):
        raise TypeError(
            f"check_scalar={check_scalar} and check_0d={check_0d} are one switch: give one"
        )
    given = check_scalar if check_scalar is not None else check_0d
    return True if given is None else bool(given)


def _describe(x: Any, role: str, values: Any = None) -> Described:
    try:
        return describe(x, values)
    except TypeError as e:
        raise AssertionError(f"{role}: {e}") from None


def _same_device(a: Described, d: Described) -> bool:
    if a.library == d.library and a.native_device is not None:
        return bool(a.native_device == d.native_device)
    if a.dlpack_device is not None and d.dlpack_device is not None:
        return a.dlpack_device == d.dlpack_device
    return a.device == d.device


def _fact_problems(a: Described, d: Described, checks: _Checks) -> list[str]:
    problems = []
    if checks.namespace and checks.xp is not None:
        expected = namespace_of(checks.xp)
        for role, x in (("actual", a), ("desired", d)):
            if x.library != expected:
                problems.append(f"{role} is a {x.library} object, xp is {expected}")
    elif checks.namespace and a.library != d.library:
        problems.append(f"actual is a {a.library} object, desired a {d.library} one")
    if checks.dtype and a.dtype != d.dtype:
        problems.append(f"dtypes differ: {a.dtype} != {d.dtype}")
    if checks.shape and a.shape != d.shape:
        problems.append(f"shapes differ: {a.shape} != {d.shape}")
    elif checks.shape and checks.scalar and a.scalar != d.scalar:
        which = ("a scalar", "a 0-d array") if a.scalar else ("a 0-d array", "a scalar")
        problems.append(f"actual is {which[0]}, desired is {which[1]}")
    if checks.device and not _same_device(a, d):
        problems.append(f"devices differ: {a.device} != {d.device}")
    return problems


def _widened(values: Any, dtype: str) -> Any:
    """Values in a type where differences are exact enough to print and compare."""
    import numpy as np

    row = DTYPES.get(dtype)
    wider = {"float": np.float64, "complex": np.complex128}.get(row.kind if row else "")
    if wider is None:
        return values
    with np.errstate(invalid="ignore"):  # a signalling NaN raises the flag as it is quietened
        return values.astype(wider)


def _tolerances(
    given: tuple[float | None, float | None], a: Described, d: Described
) -> tuple[float, float]:
    defaults = [default_tolerance(x.dtype) for x in (a, d)]
    rtol, atol = given
    return (
        max(r for r, _ in defaults) if rtol is None else float(rtol),
        max(t for _, t in defaults) if atol is None else float(atol),
    )


def _matches(av: Any, dv: Any, tolerance: tuple[float, float] | None) -> Any:
    """Whether each actual value matches its desired value, element by element."""
    import numpy as np

    inexact = av.dtype.kind in "fc" or dv.dtype.kind in "fc"
    with np.errstate(all="ignore"):
        try:
            equal = np.asarray(av == dv)
        except TypeError:  # values NumPy cannot compare (strings with numbers, ...)
            equal = np.zeros(av.shape, dtype=bool)
        equal = np.broadcast_to(equal, av.shape)
        if inexact:
            equal = equal | (np.isnan(av) & np.isnan(dv))
        elif av.dtype.kind in "mM" and dv.dtype.kind == av.dtype.kind:
            equal = equal | (np.isnat(av) & np.isnat(dv))  # NaT equals NaT, as NaN does NaN
        if tolerance is None or tolerance == (0.0, 0.0) or av.dtype.kind not in "biufc":
            return equal
        rtol, atol = tolerance
        a64, d64 = (v if v.dtype.kind in "fc" else v.astype(np.float64) for v in (av, dv))
        finite = np.isfinite(a64) & np.isfinite(d64)
        near = np.abs(a64 - d64) <= atol + rtol * np.abs(d64)
        return np.where(finite, near, equal)


def _differences(av: Any, dv: Any) -> list[str]:
    import numpy as np

    if av.dtype.kind not in "biufc" or dv.dtype.kind not in "biufc":
        return []
    with np.errstate(all="ignore"):
        a64, d64 = (
            v.astype(np.complex128 if v.dtype.kind == "c" else np.float64) for v in (av, dv)
        )
        diff = np.abs(a64 - d64)
        finite = np.isfinite(diff)
        relative = diff / np.abs(d64)
    lines = []
    if finite.any():
        lines.append(f"Max absolute difference: {float(diff[finite].max())!r}")
        usable = finite & (np.abs(d64) > 0)
        if usable.any():
            lines.append(f"Max relative difference: {float(relative[usable].max())!r}")
    return lines


def _compare(
    actual: Any,
    desired: Any,
    tolerance: tuple[float | None, float | None] | None,
    checks: _Checks,
    err_msg: str,
) -> None:
    __tracebackhide__ = True
    import numpy as np

    # A lazy array whose shape is unknown (Dask after boolean indexing) is
    # computed once, here, and described by its values.
    a_early = host_values(actual) if shape_unknown(actual) else None
    d_early = host_values(desired) if shape_unknown(desired) else None
    a = _describe(actual, "actual", a_early)
    d = _describe(desired, "desired", d_early)
    footer = [f" actual: {a}{' (resolved before comparing)' if a.lazy_bits else ''}"]
    footer.append(f"desired: {d}{' (resolved before comparing)' if d.lazy_bits else ''}")
    head = [err_msg] if err_msg else []
    problems = _fact_problems(a, d, checks)
    if problems:
        raise AssertionError("\n".join([*head, "Arrays differ: " + "; ".join(problems), *footer]))
    a_values = host_values(actual) if a_early is None else a_early
    d_values = host_values(desired) if d_early is None else d_early
    if a_values is None or d_values is None:
        return  # a meta tensor: no values to compare
    try:
        d_values = np.broadcast_to(d_values, a_values.shape)
    except ValueError:
        message = f"Arrays differ: shapes {a.shape} and {d.shape} do not broadcast"
        raise AssertionError("\n".join([*head, message, *footer])) from None
    av, dv = _widened(a_values, a.dtype), _widened(d_values, d.dtype)
    tol = None if tolerance is None else _tolerances(tolerance, a, d)
    bad = ~_matches(av, dv, tol)
    if not bad.any():
        return
    first = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
    title = (
        "Arrays are not equal"
        if tol is None
        else f"Arrays are not close (rtol={tol[0]}, atol={tol[1]})"
    )
    lines = [
        *head,
        title,
        f"Mismatched elements: {int(bad.sum())} / {bad.size} ({bad.sum() / bad.size:.0%})",
        # The widened values print alike on every NumPy and ml_dtypes version
        # (ml_dtypes' own scalars print -2.0 as "-2" on some).
        f"First mismatch at index {first}: actual {av[first]}, desired {dv[first]}",
        *_differences(av, dv),
        *footer,
    ]
    raise AssertionError("\n".join(lines))
