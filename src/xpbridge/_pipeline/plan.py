"""The planner: from a source's traits and a request, the steps a conversion takes.

Pure: it reads traits, a request and the backends' fixed capabilities, and
never touches data, so the whole behaviour contract can be checked without
hardware.  What it decides is remembered by :mod:`.execute` (compiled plans,
per request and traits key), not here.
"""

from __future__ import annotations

from typing import Any

from .._lib.devices import CPU, Device
from .._lib.dtypes import DTYPES, SUB_BYTE, ml_dtypes_has
from .._lib.traits import Traits
from ..backends import registry
from ..backends._base import Backend, Step
from ..errors import (
    ConversionError,
    CopyError,
    DTypeError,
    GradError,
    UnsupportedInputError,
    install_line,
)
from . import python_values
from .request import Request

__all__ = ["BUFFER_STEPS", "Plan", "make_plan"]

# Steps that allocate a new buffer; every other step keeps the memory.
BUFFER_STEPS = frozenset({"copy", "byteswap", "resolve_conj", "resolve_neg", "to_device", "cast"})

# The order steps run in on the source side, before the exchange.
_SOURCE_ORDER = (
    "detach",
    "resolve_conj",
    "resolve_neg",
    "byteswap",
    "copy",
    "to_device",
    "check_range",
    "cast",
)

_NARROWING_ORDER = (*_SOURCE_ORDER[:5], "check_range", "cast", "to_device")

# narrow=True: the type each wide type becomes where a target device lacks it.
NARROWER = {"float64": "float32", "complex128": "complex64", "int64": "int32", "uint64": "uint32"}


class Plan:
    """What a conversion will do, decided before any data moves.

    Immutable.  Written by hand rather than as a dataclass because
    ``dataclasses`` imports ``inspect``, which alone would triple the cost of
    ``import xpbridge``.

    Attributes
    ----------
    source, target : str
        The source (library, dtype, device) and the target library.
    device : Device
        The result's device.
    dtype : str
        The result's canonical dtype name.
    steps : tuple of str
        Step names in the order they run; the exchange step (``"from_numpy"``,
        ``"numpy"``) hands data from the source library to the target.
    reasons : tuple of str
        Why each new buffer is made.
    aliases : bool
        Whether the result shares the source's memory.
    writable : bool
        Whether the result may be written to.

    Examples
    --------
    >>> import numpy as np, xpbridge as xb
    >>> p = xb.plan(np.arange(4.0)[::-1], "torch")
    >>> p.steps, p.aliases
    (('copy', 'from_numpy'), False)
    """

    __slots__ = (
        "aliases",
        "calls",
        "device",
        "dtype",
        "native_device",
        "reasons",
        "source",
        "steps",
        "target",
        "writable",
    )
    _FIELDS = ("source", "target", "device", "dtype", "steps", "reasons", "aliases", "writable")

    source: str
    target: str
    device: Device
    dtype: str
    steps: tuple[str, ...]
    reasons: tuple[str, ...]
    aliases: bool
    writable: bool
    calls: tuple[Step, ...]  # the functions that carry out the steps
    native_device: object  # the target library's own device object, if one was given

    def __init__(
        self,
        source: str,
        target: str,
        device: Device,
        dtype: str,
        steps: tuple[str, ...],
        reasons: tuple[str, ...],
        aliases: bool,
        writable: bool,
        calls: tuple[Step, ...] = (),
        native_device: object = None,
    ) -> None:
        values = (source, target, device, dtype, steps, reasons, aliases, writable, calls)
        for name, value in zip((*self._FIELDS, "calls"), values, strict=True):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "native_device", native_device)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Plan is immutable: cannot set {name!r}")

    def _key(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._FIELDS)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Plan) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS)
        return f"Plan({fields})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's display: the readable form (``repr`` stays unambiguous)."""
        printer.text(str(self))

    def _repr_html_(self) -> str:
        """A notebook's display: the plan as a small table."""
        rows = [
            ("source", self.source),
            ("target", f"{self.target} {self.dtype} on {self.device}"),
            ("steps", ", ".join(self.steps) or "(none: the source itself)"),
            ("result", self._result_text()),
            *(("because", reason) for reason in self.reasons),
        ]
        return html_table("Plan", rows)

    def _result_text(self) -> str:
        shares = "shares the source's memory (zero-copy)" if self.aliases else "a new buffer"
        return f"{shares}, {'writable' if self.writable else 'read-only'}"

    def __str__(self) -> str:
        result = "shares the source's memory (zero-copy)" if self.aliases else "a new buffer"
        lines = [
            f"{self.source} -> {self.target} {self.dtype} on {self.device}",
            f"  steps:   {', '.join(self.steps) or '(none: the source itself)'}",
            f"  result:  {result}, {'writable' if self.writable else 'read-only'}",
        ]
        lines += [f"  because: {reason}" for reason in self.reasons]
        return "\n".join(lines)


def html_table(title: str, rows: list[tuple[str, str]]) -> str:
    """A two-column HTML table (the notebook display of plans), escaped."""
    from html import escape

    cells = "".join(
        f"<tr><th style='text-align:left'>{escape(k)}</th><td style='text-align:left'>"
        f"{escape(v)}</td></tr>"
        for k, v in rows
    )
    return f"<table><caption>{escape(title)}</caption>{cells}</table>"


def _describe(t: Traits) -> str:
    extra = " (requires grad)" if t.requires_grad else ""
    kind = "scalar" if t.scalar else "array"
    return f"{t.library} {t.dtype} {kind} on {t.device}{extra}"


def _no_crossing(t: Traits, src: Backend, dst: Backend) -> DTypeError:
    row = DTYPES.get(t.dtype)
    if (
        row is not None
        and row.host == "ml_dtypes"
        and row.torch is not None
        and not ml_dtypes_has(t.dtype)
        and dst.name == "numpy"
    ):
        return DTypeError(
            f"{t.library} {t.dtype} reaches NumPy only through ml_dtypes, which is not "
            f"installed: install ml_dtypes ({install_line('ml_dtypes')}), or pass dtype= "
            f"(e.g. dtype='float32') for a converted copy"
        )
    if row is None:
        why = f"{t.library} dtype {t.dtype!r} has no equivalent in xpbridge's dtype table"
    else:
        why = f"{dst.name} has no dtype {t.dtype!r}"
    if not any(src.casts(t.dtype, other) and _crosses(src, dst, other) for other in DTYPES):
        return DTypeError(
            f"cannot convert {_describe(t)} to {dst.name}: {why}, and {src.name} has no "
            f"cast from it to a dtype {dst.name} has; it is never converted silently. "
            f"Convert its values to a numeric dtype in {src.name} yourself"
        )
    remedy = (
        f"{dst.dtype_hint(t.dtype)}pass dtype= with a dtype both libraries have "
        f"(xpbridge.dtypes() lists them) to cast it before it crosses"
    )
    return DTypeError(
        f"cannot convert {_describe(t)} to {dst.name}: {why}; it is never converted "
        f"silently. {remedy[0].upper()}{remedy[1:]}"
    )


class _NoCasts:
    """A source backend seen through a capsule it exported: it holds, but never casts."""

    def __init__(self, backend: Backend) -> None:
        self.name = backend.name
        self.holds, self.has = backend.holds, backend.has

    def casts(self, source: str, target: str) -> bool:
        return False


def _crosses(src: Backend, dst: Backend, dtype: str) -> bool:
    # The source side may have what it cannot make now (a JAX float64 array
    # made while x64 was on); making it (a cast) is src.casts' question.
    # ml_dtypes' int4 (a byte per value) and torch's int4 (packed) share a name, not a layout.
    return src.has(dtype) and dst.holds(dtype) and dtype not in SUB_BYTE


def _check_dtypes(t: Traits, r: Request, src: Backend, dst: Backend) -> tuple[str, str]:
    """The result dtype and where a cast runs: "" (none), "source" or "target"."""
    if src is dst and r.dtype in (None, t.dtype):
        return t.dtype, ""  # the library's own array: every dtype it has, kept as it is
    if src is not dst and src.exports_capsules:
        src = _NoCasts(src)  # type: ignore[assignment]  # a capsule crosses: casts run after
    if t.dtype not in DTYPES or not src.has(t.dtype):
        if (
            r.dtype is not None
            and dst.holds(r.dtype)
            and src.casts(t.dtype, r.dtype)
            and (src is dst or _crosses(src, dst, r.dtype))
        ):
            return r.dtype, "source"  # e.g. longdouble -> float64 in NumPy
        raise _no_crossing(t, src, dst)
    dtype = r.dtype or t.dtype
    if r.dtype is not None and not dst.holds(dtype):
        row = DTYPES[dtype]
        hint = (
            f"install ml_dtypes to give NumPy this type ({install_line('ml_dtypes')})"
            if row.host == "ml_dtypes" and dst.name == "numpy"
            else "pass a dtype it has"
        )
        raise DTypeError(f"{dst.name} has no dtype {dtype!r}: {dst.dtype_hint(dtype)}{hint}")
    if dtype == t.dtype:
        if src is dst or _crosses(src, dst, dtype):
            return dtype, ""
        raise _no_crossing(t, src, dst)
    if src is dst or _crosses(src, dst, t.dtype):
        if dst.casts(t.dtype, dtype):
            return dtype, "target"  # the target library's own astype
        if src is dst:
            raise DTypeError(f"{dst.name} cannot cast {t.dtype} to {dtype}: pass another dtype")
    if _crosses(src, dst, dtype) and src.casts(t.dtype, dtype):
        # The source dtype cannot cross, or the target has no such cast:
        # cast in the source library before the exchange.
        return dtype, "source"
    raise _no_crossing(t, src, dst)


def _narrowed(t: Traits, r: Request, dst: Backend) -> tuple[Request, str]:
    """Where the target's device lacks the result dtype: the narrowed request, and why.

    Refusing stays the default: without ``narrow=True`` a dtype the device
    lacks is a DTypeError that names ``narrow=True`` and ``dtype=``.  An
    integer is narrowed only where its values fit (the ``check_range`` step).
    """
    wanted = r.dtype or t.dtype
    narrower = NARROWER.get(wanted)
    if narrower is None or dst.holds_on(wanted, r) or not dst.holds_on(narrower, r):
        return r, ""
    where = f"{dst.name} on {r.native_device or r.device or t.device}"
    integer = DTYPES[wanted].kind in {"int", "uint"}
    if not r.narrow:
        where_fit = " where the values fit" if integer else ""
        remedy = (
            f"{dst.dtype_hint(wanted)}pass narrow=True to narrow it to {narrower}{where_fit}, "
            f"or dtype= with a dtype the device has"
        )
        raise DTypeError(
            f"cannot convert {_describe(t)} to {dst.name}: {where} has no {wanted}; it is "
            f"never narrowed silently. {remedy[0].upper()}{remedy[1:]}"
        )
    fits = " (its values are checked to fit)" if integer else ""
    why = f"narrow=True: {where} has no {wanted}, so {wanted} becomes {narrower}{fits}"
    return r.replace(dtype=narrower), why


def _layout_reasons(t: Traits, src: Backend, dst: Backend) -> list[str]:
    """Why the source's memory cannot be handed over as it is."""
    reasons = []
    if t.scalar:
        reasons.append(f"a {t.library} scalar is immutable and has no buffer to share")
    if src is dst:
        return reasons
    if t.readonly and not dst.readonly_arrays:
        where = "a read-only memory map" if t.memmap else "read-only"
        reasons.append(f"the source is {where} and {dst.name} has no read-only arrays")
    if t.negative_strides and not dst.negative_strides:
        reasons.append(f"the source has negative strides, which {dst.name} cannot represent")
    if t.odd_strides and not dst.odd_strides:
        reasons.append(f"a stride is not a multiple of the item size, which {dst.name} rejects")
    if t.unaligned and not dst.unaligned:
        reasons.append(f"the source is not aligned, which {dst.name} cannot use safely")
    if dst.import_aliases == "sometimes":
        reasons.append(
            f"{dst.name}'s from_dlpack shares memory only for some inputs (by alignment), "
            f"so xpbridge copies first to keep the plan exact"
        )
    return reasons


def _import_copy_reason(src: Backend, dst: Backend, dtype: str) -> str:
    """Why the target's import makes a new buffer ("" when it shares the memory)."""
    if src is dst:
        return ""
    if dst.import_aliases == "never":
        return dst.import_copies_reason.format(name=dst.name)
    if not dst.imports_dtype(dtype):
        return (
            f"NumPy cannot export {dtype} through DLPack, so {dst.name} makes its array "
            f"from a copy of the values"
        )
    return ""


def make_plan(t: Traits, r: Request) -> Plan:
    """Plan the conversion of a source with traits ``t`` as ``r`` asks.

    Raises exactly the error that executing the conversion would raise.
    """
    src = registry.backend_named(t.library)
    dst = r.target
    if t.unsupported and src is not dst:  # the library's own object is always its own
        raise UnsupportedInputError(f"cannot convert {t.unsupported}")
    if t.library == "python":
        return _from_python(t, r, dst)
    if dst.max_dims is not None and t.many_dims > dst.max_dims and src is not dst:
        raise UnsupportedInputError(
            f"cannot convert a {t.many_dims}-dimensional {t.library} array to {dst.name}: "
            f"{dst.name} arrays have at most {dst.max_dims} dimensions; reshape it first"
        )
    exchange = None
    if src is not dst:
        exchange = src.exchange_for(dst.name, t) or registry.exchange(src.name, dst.name)
    if exchange is None and src is not dst and src.name == "numpy":
        # NumPy is where libraries without an exchange meet: a target that takes
        # nothing from NumPy cannot be reached (a registered backend that
        # declares no exchanges).
        raise UnsupportedInputError(
            f"cannot convert {_describe(t)} to {dst.name}: the {dst.name} backend "
            f"declares no exchange from numpy (Backend.exchanges), so nothing reaches it"
        )
    if src is not dst and (
        exchange is None
        or (src.host_meets_as_numpy and t.device.kind == "cpu" and dst.name != "numpy")
    ):
        return _through_numpy(t, r)
    # A source that cannot copy before the exchange (a capsule) copies after it, so
    # a layout the target cannot even import must not reach the exchange.
    copies_first = hasattr(src, "step_copy") and (src is dst or not src.exports_capsules)
    if not copies_first and t.negative_strides and not dst.negative_strides:
        raise UnsupportedInputError(
            f"the producer's array on {t.device} has negative strides, which {dst.name} "
            f"cannot import, and it would not hand out a compact copy; pass device='cpu'"
        )
    source: list[str] = []
    target: list[str] = []
    reasons: list[str] = []

    if t.requires_grad and not dst.autograd:
        if r.grad == "raise":
            raise _cut_graph(dst.name)
        source.append("detach")

    device = r.device or (t.device if t.device.kind in dst.device_kinds else CPU)
    if device != t.device:
        (source if device.kind in src.device_kinds else target).append("to_device")
        reasons.append(f"the data moves from {t.device} to {device}")
    elif src is dst and r.native_device is not None and r.native_device != t.native_device:
        source.append("to_device")  # one library's own devices (array-api-strict's device1)
        reasons.append(f"the data moves from {t.native_device} to {r.native_device}")

    narrowing = ""
    if src is not dst or r.dtype not in (None, t.dtype) or "to_device" in source:
        r, narrowing = _narrowed(t, r, dst)  # (a library's own array, kept where it is: as it is)
    dtype, cast_side = _check_dtypes(t, r, src, dst)
    if narrowing and cast_side == "target" and (src is dst or src.casts(t.dtype, dtype)):
        cast_side = "source"  # the wide type cannot even reach the target's device
    if cast_side:
        side = source if cast_side == "source" else target
        if narrowing and DTYPES[dtype].kind in {"int", "uint"}:
            side.append("check_range")  # only values the narrow type holds
        side.append("cast")
        reasons.append(narrowing or f"the dtype changes from {t.dtype} to {dtype}")

    if src is not dst:
        if t.conj and not dst.lazy_bits:
            source.append("resolve_conj")
            reasons.append(f"the source has the conjugate bit, which {dst.name} lacks")
        if t.neg and not dst.lazy_bits:
            source.append("resolve_neg")
            reasons.append(f"the source has the negative bit, which {dst.name} lacks")
        if t.nonnative and not dst.nonnative_byte_order:
            source.append("byteswap")
            reasons.append(f"the source's byte order is not native, which {dst.name} rejects")
    copy_side = source if copies_first else target  # a late copy never lets the alias out
    layout = _layout_reasons(t, src, dst)
    if t.scalar and copies_first:
        source.append("copy")  # first into a 0-d array: a scalar's own cast gives a scalar
    elif layout and not BUFFER_STEPS.intersection(source):
        copy_side.append("copy")
    reasons += layout
    if r.requires_grad and t.inference and not BUFFER_STEPS.intersection(source + target):
        source.append("copy")  # torch allows no grad on an inference tensor, only on a copy
        reasons.append("an inference tensor cannot require grad; its copy can")

    import_copies = _import_copy_reason(src, dst, dtype)
    if import_copies:
        reasons.append(import_copies)
    if t.copied:
        reasons.append(src.copied_reason)
    new_buffer = bool(BUFFER_STEPS.intersection(source + target)) or t.copied
    new_buffer = new_buffer or bool(import_copies)
    if new_buffer and r.copy is False and not t.size_zero:
        memmap = " or open the memmap with mode='c' (copy-on-write)" if t.memmap else ""
        raise CopyError(
            f"copy=False, but converting {_describe(t)} to {dst.name} needs a copy: "
            f"{'; '.join(reasons)}. Pass copy=None to allow the copy{memmap}"
        )
    if r.copy is True and not new_buffer:
        copy_side.append("copy")
        reasons.append("copy=True asks for a new buffer")
        new_buffer = True

    if r.requires_grad:
        # Checked for every source, a torch tensor that requires grad included:
        # its cast to an integer dtype has no grad, so the request could not hold.
        if not DTYPES[dtype].differentiable:
            raise DTypeError(
                f"requires_grad=True needs a floating-point or complex dtype, not {dtype}: "
                f"pass dtype='float32' (or another float dtype) as well"
            )
        if not (t.requires_grad and src is dst):  # else the result keeps the source's graph
            target.append("require_grad")

    aliases = not (new_buffer or t.scalar or t.size_zero)
    writable = not dst.immutable_arrays
    if dst.readonly_arrays and aliases:
        if "detach" in source:
            target.append("readonly")  # writes would bypass autograd's version counter
            writable = False
        elif t.readonly:
            if src is not dst and (exchange is None or exchange[0] not in src.readonly_results):
                target.append("readonly")  # an immutable source never aliases writable
            writable = False
    if exchange is not None and exchange[0] in src.readonly_results:
        # The exchange hands over a read-only view (of an empty array too), and
        # nothing after it makes a new buffer: the result is read-only.
        writable = writable and bool(BUFFER_STEPS.intersection(target))

    # Narrowing casts before a move: the target's device cannot hold the wide type.
    source.sort(key=(_NARROWING_ORDER if narrowing else _SOURCE_ORDER).index)
    steps = source
    calls = [src.step(s) for s in source]
    if exchange is not None:
        name, call = exchange
        steps = [*source, name, *target]
        calls += [call, *(dst.step(s) for s in target)]
    else:
        steps = [*source, *target]
        calls += [dst.step(s) for s in target]
    return Plan(
        _describe(t),
        dst.name,
        device,
        dtype,
        tuple(steps),
        tuple(reasons),
        aliases,
        writable,
        tuple(calls),
        r.native_device,
    )


def _numpy() -> Backend:
    return registry.backend_named("numpy")


def _cut_graph(target: str) -> GradError:
    return GradError(
        f"the source requires grad and {target} has no autograd, so converting it would "
        f"cut the graph; grad='raise' forbids that. Pass grad='detach' for a detached result"
    )


def _through_numpy(t: Traits, r: Request) -> Plan:
    """Two libraries with no direct exchange meet in host memory, as NumPy arrays."""
    try:
        first = make_plan(
            t, Request(_numpy(), copy=False if r.copy is False else None, grad=r.grad)
        )
    except GradError:
        raise _cut_graph(r.target.name) from None  # the caller's target, not the NumPy hop
    middle = Traits(
        "numpy",
        first.dtype,
        size_zero=t.size_zero,
        readonly=not first.writable,
        unaligned=t.unaligned and first.aliases,
        negative_strides=t.negative_strides and first.aliases,
        odd_strides=t.odd_strides and first.aliases,
    )
    try:
        second = make_plan(middle, r)
    except ConversionError as e:
        # Name the caller's source, not the NumPy view it meets the target as.
        raise type(e)(str(e).replace(_describe(middle), _describe(t), 1)) from None
    return _chain(first, second, r)


def _chain(first: Plan, second: Plan, r: Request) -> Plan:
    """One plan that runs ``first`` (to a NumPy array), then ``second`` (from it)."""
    return Plan(
        first.source,
        second.target,
        second.device,
        second.dtype,
        first.steps + second.steps,
        first.reasons + second.reasons,
        first.aliases and second.aliases,
        second.writable,
        first.calls + second.calls,
        r.native_device,
    )


def _from_python(t: Traits, r: Request, dst: Backend) -> Plan:
    """Python scalars and sequences: the target's own asarray, which infers the dtype.

    What the values need is decided in :mod:`.python_values` (shape, dtype,
    what the dtype holds, the arrays among them).
    """
    values = t.values
    exchange = registry.exchange("python", dst.name)
    python_values.check_shape(values, dst if exchange is not None else _numpy())
    if r.copy is False:
        raise CopyError(
            "copy=False, but a Python object has no buffer to share: its values are copied "
            "into a new array. Pass copy=None"
        )
    if exchange is None:
        # A library without its own asarray for Python objects: NumPy makes the
        # array (its inference), which then crosses like any NumPy array.
        first = _from_python(t, Request(_numpy(), dtype=r.dtype, grad=r.grad), _numpy())
        if first.dtype == "inferred":
            raise UnsupportedInputError(
                f"{dst.name} cannot make arrays from Python sequences that hold other "
                f"objects (arrays, strings): convert the sequence with numpy.asarray first"
            )
        second = make_plan(Traits("numpy", first.dtype), r.replace(dtype=None))
        return _chain(first, second, r)  # first never aliases: Python values are copied
    dtype = python_values.result_dtype(values, r, dst)
    name, call = exchange
    steps, calls = [name], [call]
    if python_values.check_arrays(values, r):  # arrays inside: each to NumPy first
        steps.insert(0, "convert_arrays")
        calls.insert(0, registry.backend_named("python").step("convert_arrays"))
    if r.requires_grad:
        if dtype != "inferred" and not DTYPES[dtype].differentiable:
            raise DTypeError(
                f"requires_grad=True needs a floating-point or complex dtype, and these "
                f"Python values make {dtype}: pass dtype='float32' (or another float dtype) "
                f"as well"
            )
        steps.append("require_grad")
        calls.append(dst.step("require_grad"))
    return Plan(
        "python object",
        dst.name,
        r.device or CPU,
        dtype,
        tuple(steps),
        (f"{dst.name}.asarray copies the values into a new array",),
        False,
        not dst.immutable_arrays,
        tuple(calls),
        r.native_device,
    )
