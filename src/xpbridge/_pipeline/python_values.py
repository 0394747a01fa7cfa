"""Python values in a plan: their shape, the dtype the target infers, the values it holds.

What :func:`~xpbridge.backends.python.scan` read of Python scalars and
sequences decides, in ``plan`` as in ``convert``:

- whether they have an array's shape at all: a sequence that contains itself,
  one nested deeper than the target's arrays, a ragged one
  (:class:`UnsupportedInputError`; NumPy raises for all three, torch loops
  or refuses);
- the dtype the target's ``asarray`` infers (:meth:`Backend.python_dtype`,
  for the kind of values: an empty sequence is the target's default float,
  ints are int64, uint64 or beyond 64 bits);
- whether that dtype, or the one ``dtype=`` asks for, holds every value
  (:class:`DTypeError` naming a dtype that does, where the libraries raise
  ``OverflowError``, warn, or give ``inf`` or a wrapped value silently);
- what the arrays inside a sequence need (``grad="raise"`` refuses one that
  requires grad: the values are copied into a new array, which cuts the graph).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lib.dtypes import DTYPES
from .._lib.limits import limits
from ..backends.python import SCAN_DEPTH, Values
from ..errors import ConversionError, DTypeError, GradError, UnsupportedInputError

if TYPE_CHECKING:
    from ..backends._base import Backend
    from .request import Request

__all__ = ["check_arrays", "check_shape", "inference_kind", "result_dtype"]

_INT64 = (-(1 << 63), (1 << 63) - 1)
_UINT64_HIGH = (1 << 64) - 1

# Where a remedy looks for a dtype that holds the values, by the kind asked for.
_WIDER = {
    "int": ("int64", "uint64", "float64", "float32"),
    "uint": ("uint64", "int64", "float64", "float32"),
    "float": ("float64", "float32"),
    "complex": ("complex128", "complex64"),
}


def check_shape(v: Values, dst: Backend) -> None:
    """Refuse values that make no array of ``dst``: cyclic, too deep, ragged."""
    if v.cyclic:
        raise UnsupportedInputError(
            "cannot convert a Python sequence that contains itself: a cyclic list or tuple "
            "has no finite shape"
        )
    limit = dst.python_max_dims
    if limit is None:
        limit = SCAN_DEPTH
    if v.ndim > limit:
        depth = f"more than {SCAN_DEPTH}" if v.ndim > SCAN_DEPTH else str(v.ndim)
        raise UnsupportedInputError(
            f"cannot convert a Python sequence nested {depth} deep: {dst.name} makes arrays "
            f"of at most {limit} dimensions from nested sequences"
        )
    if v.ragged and v.kind != "mixed":  # arrays among the leaves add their own dimensions
        raise UnsupportedInputError(
            f"cannot convert a ragged Python sequence (at one depth its lists differ in "
            f"length, or hold numbers beside lists): {dst.name} arrays are rectangular; "
            f"pad the lists to one length"
        )


def check_arrays(v: Values, r: Request) -> bool:
    """Plan the arrays inside a sequence as NumPy arrays; whether any needs converting.

    A NumPy array needs nothing (``asarray`` reads it as it is); any other
    array is converted to NumPy by the pipeline before the target's
    ``asarray``, so its error (``grad="raise"``, a dtype NumPy lacks) is
    raised here, by ``plan`` as by ``convert``.
    """
    if not v.arrays:
        return v.more_arrays
    from ..backends import registry
    from .plan import make_plan
    from .request import Request

    request = Request(registry.backend_named("numpy"), grad=r.grad)
    try:
        for traits in v.arrays:
            make_plan(traits, request)
    except GradError:
        raise GradError(
            "the Python sequence holds an array that requires grad; its values are copied "
            "into a new array, which cuts the graph, and grad='raise' forbids that. Pass "
            "grad='detach' for a detached result"
        ) from None
    except ConversionError as e:
        raise type(e)(f"an array inside the Python sequence: {e}") from None
    return v.more_arrays or any(traits.library != "numpy" for traits in v.arrays)


def _int_class(v: Values) -> str:
    """What the ints need, as NumPy discovers each one.

    ``"int"`` (all int64), ``"uint"`` (each only uint64), ``"int65"`` (some
    of each: only a float holds them all), ``"bigint"`` (one beyond 64 bits).
    """
    low, high = v.int_low, v.int_high
    if low is None or high is None:
        return ""
    if low < _INT64[0] or high > _UINT64_HIGH:
        return "bigint"
    if high <= _INT64[1]:
        return "int"
    return "uint" if low > _INT64[1] else "int65"


def inference_kind(v: Values) -> str:
    """The kind :meth:`Backend.python_dtype` is asked about for these values.

    Examples
    --------
    >>> from xpbridge.backends.python import scan
    >>> inference_kind(scan([])), inference_kind(scan([-1, 2**63])), inference_kind(scan([1.5, 2**64]))
    ('float', 'int65', 'float-bigint')
    """
    if v.kind == "empty":
        return "float"  # every library makes its default float of no values
    if v.kind in ("bool", "mixed"):
        return v.kind
    ints = _int_class(v)
    if v.kind == "int":
        return ints
    return f"{v.kind}-bigint" if ints == "bigint" else v.kind


def result_dtype(v: Values, r: Request, dst: Backend) -> str:
    """The result dtype of these values in ``dst``; DTypeError where it cannot hold them."""
    if r.dtype is not None:
        if not dst.holds(r.dtype):
            raise DTypeError(f"{dst.name} has no dtype {r.dtype!r}: pass a dtype it has")
        if not dst.casts(r.dtype, r.dtype):  # torch's packed and bits types have no values
            raise DTypeError(
                f"{dst.name} makes no {r.dtype} array from Python values: pass another dtype"
            )
        kind = _number_kind(v)
        if kind and not dst.python_makes(r.dtype, kind):
            raise DTypeError(
                f"{dst.name} makes no {r.dtype} array from Python {kind} values: "
                f"{_remedy(_fitting(v, dst, _family(r.dtype)), dst, _family(r.dtype))}"
            )
        dtype = r.dtype
    else:
        dtype = dst.python_dtype(inference_kind(v))
        if dtype == "refused":
            assert v.int_low is not None
            assert v.int_high is not None
            beyond = v.int_high if v.int_high > _UINT64_HIGH else v.int_low
            raise DTypeError(
                f"the Python values include {_shown(beyond)}, beyond 64 bits: {dst.name} "
                f"makes no numeric array of them (an object array); "
                f"{_remedy(_fitting(v, dst, 'int'), dst, 'int')}"
            )
    if dtype == "inferred" or v.kind == "mixed":
        return dtype  # the target's asarray decides, or arrays among the values
    why = _cannot_hold(v, dtype)
    if why:
        by = "" if r.dtype is not None else f" (the dtype {dst.name} infers for them)"
        family = "complex" if v.kind == "complex" and DTYPES[dtype].kind != "complex" else None
        if family is None:
            family = "float" if (v.inf or v.nan) else _family(dtype)
        raise DTypeError(
            f"the Python values include {why}, which {dtype}{by} cannot hold: "
            f"{_remedy(_fitting(v, dst, family), dst, family)}"
        )
    return dtype


def _number_kind(v: Values) -> str:
    """The widest kind of Python number among the values ("" for none, or for arrays)."""
    return v.kind if v.kind in ("bool", "int", "float", "complex") else ""


def _family(dtype: str) -> str:
    kind = DTYPES[dtype].kind
    return kind if kind in _WIDER else "int"


def _cannot_hold(v: Values, dtype: str) -> str:
    """The value ``dtype`` cannot hold, in words ("" when it holds every value)."""
    lim = limits(dtype)
    if lim is None or lim.kind == "bool":
        return ""  # bool holds every value as its truth
    if v.kind == "complex" and lim.kind != "complex":
        return "complex numbers"
    if lim.kind in ("int", "uint"):
        if v.inf or v.nan:
            return "inf" if v.inf else "nan"
        if v.low is not None and v.high is not None:
            assert lim.low is not None
            assert lim.high is not None
            if v.low < lim.low:
                return _shown(v.low)
            if v.high > lim.high:
                return _shown(v.high)
        return ""
    if v.inf and not lim.inf:
        return "inf"
    if v.nan and not lim.nan:
        return "nan"
    if v.low is None or v.high is None or lim.low is None or lim.high is None:
        return ""
    if v.low <= lim.low:
        return _shown(v.low)
    if v.high >= lim.high:
        return _shown(v.high)
    if lim.positive_only and v.low <= 0:
        return _shown(v.low)
    return ""


def _shown(value: float) -> str:
    """A value for a message: a huge int by its size, not by its hundreds of digits."""
    if isinstance(value, int) and abs(value) >= 10**15:
        return f"a{' negative' if value < 0 else 'n'} int of {abs(value).bit_length()} bits"
    return repr(value)


def _fitting(v: Values, dst: Backend, family: str) -> str | None:
    """The first dtype of the wider kinds that ``dst`` has and that holds every value."""
    candidates = list(_WIDER[family])
    candidates += [c for kind in ("float", "complex") for c in _WIDER[kind] if c not in candidates]
    kind = _number_kind(v)
    for name in candidates:
        makes = not kind or dst.python_makes(name, kind)
        if dst.holds(name) and not _cannot_hold(v, name) and makes:
            return name
    return None


def _remedy(fit: str | None, dst: Backend, family: str) -> str:
    widest = _WIDER[family][0]
    hint = "" if dst.holds(widest) else dst.dtype_hint(widest)
    if fit is not None:
        return f"{hint}pass dtype='{fit}'"
    if hint:
        return hint.removesuffix(", or ")
    return f"no dtype {dst.name} has holds them"
