"""The backend interface: one small adapter per array library.

A backend answers four questions about its library: does it own this type,
what are an array's traits, what can the library hold (devices, dtypes,
layouts), and how is each step carried out.  Capabilities are class
attributes, fixed for the process, so the planner that reads them stays pure.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, ClassVar, NamedTuple

from .._lib.devices import Device
from .._lib.traits import Traits

__all__ = ["Backend", "Extent", "Primitive", "Step"]

Step = Callable[[Any, Any], Any]  # (array, plan) -> array
# A primitive: one call doing a step exactly for sources of the plan's traits,
# and the exceptions it raises for any other source.
Primitive = tuple[Callable[[Any], Any], tuple[type[BaseException], ...]]


class Extent(NamedTuple):
    """Where an array's elements lie: enough to decide memory overlap.

    A backend's :meth:`Backend.extent` returns one; :func:`xpbridge.shares_memory`
    compares them.

    Parameters
    ----------
    device : Device
        Where the memory is.
    pointer : int
        The address of the first element.
    shape : tuple of int
        The array's shape.
    strides : tuple of int
        The strides, in bytes.
    itemsize : int
        The size of one element, in bytes.

    Examples
    --------
    >>> import numpy as np
    >>> from xpbridge.backends import Device, Extent
    >>> a = np.zeros(3)
    >>> Extent(Device("cpu"), a.ctypes.data, a.shape, a.strides, a.itemsize).strides
    (8,)
    """

    device: Device
    pointer: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]  # in bytes
    itemsize: int


class Backend:
    """Base class of backends; subclasses fill in the capabilities and steps.

    A backend adapts one array library: :meth:`owns` recognises its types
    (without importing it), :meth:`traits` describes an array, the class
    attributes declare what the library can hold, and one ``step_<name>``
    method carries out each step of a plan.

    Attributes
    ----------
    name : str
        The library's name, as users pass it to ``to=``.
    device_kinds : frozenset of str
        The device kinds its arrays live on.
    autograd, readonly_arrays, negative_strides, odd_strides : bool
        What its arrays can be.
    nonnative_byte_order, unaligned, lazy_bits : bool
        More of what its arrays can be (``lazy_bits``: conjugate and negative bits).
    import_aliases : {"always", "never", "sometimes"}
        Whether importing data into the library shares it.
    exchanges : dict
        ``(source, target)`` -> the name of the step that hands data over.

    Examples
    --------
    >>> from xpbridge.backends import Backend
    >>> class Lists(Backend):
    ...     name = "lists"
    ...     def owns(self, cls):
    ...         return False
    >>> Lists().autograd, sorted(Lists.device_kinds)
    (False, ['cpu'])
    """

    name: ClassVar[str]
    device_kinds: ClassVar[frozenset[str]] = frozenset({"cpu"})
    autograd: ClassVar[bool] = False
    readonly_arrays: ClassVar[bool] = False
    negative_strides: ClassVar[bool] = False
    odd_strides: ClassVar[bool] = False
    nonnative_byte_order: ClassVar[bool] = False
    unaligned: ClassVar[bool] = False
    lazy_bits: ClassVar[bool] = False  # conjugate / negative bits
    # Whether importing data into this library shares it: "always", "never", or
    # "sometimes" (it depends on the data, e.g. on alignment).
    import_aliases: ClassVar[str] = "always"
    exchanges: ClassVar[dict[tuple[str, str], str]] = {}  # (source, target) -> step name
    # In host memory, this source's data meets every library but NumPy as a NumPy
    # view, where every layout is legal (a DLPack capsule); on a device it goes direct.
    host_meets_as_numpy: ClassVar[bool] = False
    # Its arrays refuse writes (JAX): a result is never writable, a source never
    # becomes a writable alias.
    immutable_arrays: ClassVar[bool] = False
    # Its sources export DLPack capsules: on a device they meet other libraries
    # through the "dlpack" exchanges.
    exports_capsules: ClassVar[bool] = False
    # Why a source marked "copied" is a new buffer, and why this library's import
    # copies (when import_aliases is "never"): words for Plan.reasons.
    copied_reason: ClassVar[str] = "the producer handed over a copy (DLPack IS_COPIED)"
    import_copies_reason: ClassVar[str] = "{name}'s from_dlpack copies the data it imports"
    # The most dimensions an array may have (None: no limit xpbridge knows).
    max_dims: ClassVar[int | None] = None
    # The deepest nested Python sequence its asarray takes (None: no limit known).
    python_max_dims: ClassVar[int | None] = None

    def owns(self, cls: type) -> bool:
        """Whether objects of ``cls`` belong to this library (never imports it)."""
        raise NotImplementedError

    def prepare(
        self,
        x: Any,
        target: Backend,
        device: Device | None,
        copy: bool | None,
        *,
        planning: bool = False,
    ) -> Any:
        """What the steps will work on: ``x`` itself, or (for protocols) what it exports.

        ``planning=True`` when only :func:`xpbridge.plan` asks: then nothing may
        move or be copied; a protocol backend reads what it needs in place and
        describes what :func:`xpbridge.convert` would ask the producer for.
        """
        return x

    def traits(self, x: Any) -> Traits:
        """The plan-relevant description of ``x`` (as :meth:`prepare` returned it)."""
        raise NotImplementedError

    # The cheap description: a key whose value decides a source's plan, so that
    # a warm conversion reads a few attributes instead of describing it whole.

    # Whether a key leaves some traits open, to be checked at run time by a
    # primitive that refuses every source whose open traits would change its plan.
    key_is_checked: ClassVar[bool] = False

    def traits_key(self, cls: type) -> Callable[[Any], Hashable] | None:
        """For sources of exactly ``cls``: a cheap function whose value decides their plans.

        Sources with equal keys have equal :meth:`traits` (size-zero arrays
        aside: they convert exactly as non-empty ones where those convert),
        or, with :attr:`key_is_checked`, differ only in what a primitive
        checks.  None (the default): the full traits are the key, described
        for every conversion.  Asked once per type; its result is memoised.
        """
        return None

    def traits_of_key(self, key: Any, request: Any) -> Traits | None:
        """The traits every source with ``key`` has (or is assumed to have); None: undecided.

        For an undecided key (a layout whose strides decide, say), sources
        are described in full.  ``request`` is the request the plan is for,
        for a key that leaves open what only some requests read.  The compiled
        plan receives the source itself: a backend whose :meth:`prepare`
        exports something offers keys only where its primitives take the
        source as it is.
        """
        return None

    # Exchange steps whose results are already read-only: the planner adds no
    # "readonly" step after them.
    readonly_results: ClassVar[frozenset[str]] = frozenset()

    def exchange_for(self, target: str, traits: Traits) -> tuple[str, Step] | None:
        """A source's own exchange to ``target`` for sources of ``traits`` (None: the declared one)."""
        return None

    def primitive(self, step: str, plan: Any, dtype: str) -> Primitive | None:
        """A single call that carries out ``step`` of ``plan`` exactly, or None.

        The call takes the step's input alone (of canonical dtype ``dtype``)
        and does what ``step_<name>(x, plan)`` does for a source of the plan's
        traits; for any other source it raises one of the returned exception
        types (and then the source is described in full), or it does what the
        plan for its own traits would do.  Only calls that make views may
        raise them.
        """
        return None

    def holds(self, dtype: str) -> bool:
        """Whether the library has the canonical dtype."""
        raise NotImplementedError

    def has(self, dtype: str) -> bool:
        """Whether an array of the library can have ``dtype``: what a source may hold.

        :meth:`holds` without run-time settings: JAX makes no float64 array
        without ``jax_enable_x64``, but one made while it was on is still there.
        """
        return self.holds(dtype)

    def casts(self, source: str, target: str) -> bool:
        """Whether the library's own ``astype`` casts between the two dtypes."""
        return self.has(source) and self.holds(target)

    def holds_on(self, dtype: str, request: Any) -> bool:
        """Whether the device ``request`` asks for holds ``dtype`` (float32-only devices do not)."""
        return self.holds(dtype)

    def resolve_device(self, device: Device) -> Device:
        """The concrete device, or :class:`DeviceError` when it is unavailable."""
        if device.kind != "cpu":
            from ..errors import DeviceError

            raise DeviceError(f"{self.name} arrays live on the host, not on {device}")
        return device

    def consumer_stream(self, device: Device) -> int | None:
        """The DLPack ``stream`` this library consumes on ``device`` (None: none to pass)."""
        return None

    def native_device(self, device: Any) -> Any:
        """The library's own device object when ``device`` is one (else None)."""
        return None

    def device_of(self, x: Any) -> Device:
        """The device an array of this library lives on."""
        raise NotImplementedError

    def target_device(self, x: Any) -> Any:
        """The device a result takes when ``to`` is the array ``x`` (a Device or native)."""
        return self.device_of(x)

    def dtype_hint(self, dtype: str) -> str:
        """Words that start a remedy when this library lacks ``dtype`` (a setting to change)."""
        return ""

    def imports_dtype(self, dtype: str) -> bool:
        """Whether this library's import of ``dtype`` shares memory (else it copies)."""
        return True

    def python_dtype(self, kind: str) -> str:
        """The dtype this library's ``asarray`` infers for Python values of ``kind``.

        ``kind`` is ``"bool"``; for ints alone ``"int"`` (int64 holds them),
        ``"uint"`` (only uint64 holds each), ``"int65"`` (some only int64 holds,
        some only uint64) or ``"bigint"`` (one beyond 64 bits); ``"float"`` and
        ``"complex"`` (also for no values at all: ``[]``), and
        ``"float-bigint"`` / ``"complex-bigint"`` when ints beyond 64 bits are
        among them; or ``"mixed"`` (arrays, strings).  The answer is the dtype
        the library infers, even one that cannot hold the values (the planner
        checks them); ``"refused"`` where it makes no numeric array (NumPy's
        object arrays); ``"inferred"`` where only the conversion can tell.
        """
        return "inferred"

    def python_makes(self, dtype: str, kind: str) -> bool:
        """Whether ``asarray(values, dtype=dtype)`` takes Python values of ``kind``.

        ``kind`` is ``"bool"``, ``"int"``, ``"float"`` or ``"complex"``
        (torch makes no uint64 array of Python floats, for one).
        """
        return True

    def plan_epoch(self) -> object:
        """A value that changes when a run-time setting changes what this library holds."""
        return None

    def extent(self, x: Any) -> Extent | None:
        """Where ``x``'s elements lie, or None when it has no shareable memory."""
        raise NotImplementedError

    def extents(self, x: Any) -> tuple[Extent, ...]:
        """Every block of memory ``x``'s values are read from (empty: none to share).

        One strided block, :meth:`extent`, for most arrays; a library whose
        arrays read several (a sparse tensor's indices and values) names each.
        Raises :class:`~xpbridge.UnsupportedInputError` where the memory cannot
        be seen (:func:`xpbridge.shares_memory` then cannot answer exactly).
        """
        extent = self.extent(x)
        return () if extent is None else (extent,)

    def step(self, name: str) -> Step:
        """The function that carries out the named step on this library's arrays."""
        return getattr(self, "step_" + name)  # type: ignore[no-any-return]
