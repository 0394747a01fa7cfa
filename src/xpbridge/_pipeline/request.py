"""Request: the caller's keywords, in any spelling, resolved once into one object.

``convert(x, "torch")``, ``convert(x, torch)``, ``convert(x, array_namespace(t))``,
``convert(x, t, copy=False)`` and ``to_torch(x)`` all ask for the same kind of
thing; each spelling is resolved (target backend, device, dtype, keywords
checked) once, and every spelling of one request shares one
:class:`Request` object: the plans compiled for it are found by all of them.

The spelling is the memo key: a name, a module or namespace, dtype and
device objects are hashable and stable.  An array as ``to`` is not a
spelling (each array is a new object): it stands for its library and
device, resolved on each call and then found by that value.
"""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING, Any

from .._lib.devices import CPU, Device, parse_device
from .._lib.dtypes import canonical_name
from .._lib.memo import Memo, clear_all
from ..backends import registry
from ..errors import ArgumentError
from .describe import KEYS

if TYPE_CHECKING:
    from ..backends._base import Backend
    from .execute import Compiled

__all__ = ["Request", "check_keywords", "request_of", "resolve", "same_spelling", "set_narrowing"]


class Request:
    """A resolved conversion request: what the planner reads besides the source's traits.

    Immutable by convention; made by :func:`resolve` (one object per
    distinct request) or, for a step inside a plan, by the planner itself.

    Attributes
    ----------
    target : Backend
        The target library's backend.
    device : Device or None
        The result's device as the planner reads it (None: the source's, where
        the target can hold it).
    native_device : object
        The target library's own device object, when one was given (or the
        device of an array given as ``to``).
    dtype : str or None
        The canonical result dtype (None: keep the source's).
    copy, grad, requires_grad
        The keywords, checked.
    narrow : bool
        Narrow float64, complex128 (and int64, uint64 where the values fit) to
        the 32-bit type where the target's device lacks the wide one
        (``narrow=None`` resolves to :func:`xpbridge.set_narrowing`'s setting).
    spelled_device : object
        ``device=`` as the caller gave it (or the device of a ``to`` array):
        what travels to Dask workers.
    compiled : Memo
        The plans compiled for this request, by the source's traits key
        (``table`` is its dict, which warm calls read directly).
    """

    __slots__ = (
        "compiled",
        "copy",
        "device",
        "dtype",
        "grad",
        "narrow",
        "native_device",
        "requires_grad",
        "spelled_device",
        "table",
        "target",
    )

    target: Backend
    device: Device | None
    native_device: object
    dtype: str | None
    copy: bool | None
    grad: str
    requires_grad: bool
    narrow: bool
    spelled_device: object
    compiled: Memo[Compiled]
    table: dict[Any, Compiled]

    def __init__(
        self,
        target: Backend,
        device: Device | None = None,
        dtype: str | None = None,
        copy: bool | None = None,
        grad: str = "detach",
        requires_grad: bool = False,
        native_device: object = None,
        spelled_device: object = None,
        narrow: bool = False,
    ) -> None:
        self.target, self.device, self.dtype = target, device, dtype
        self.copy, self.grad, self.requires_grad = copy, grad, requires_grad
        self.narrow = narrow
        self.native_device, self.spelled_device = native_device, spelled_device
        self.compiled = Memo(
            "compiled plans of one request", "a source's traits key", 256, register=False
        )
        self.table = self.compiled.data  # read by the warm path without the memo's method

    def replace(self, **changes: Any) -> Request:
        """A request like this one with some fields changed (planner-internal, not memoised)."""
        fields = {name: getattr(self, name) for name in _FIELDS} | changes
        return Request(**fields)

    def key(self) -> tuple[Any, ...]:
        """The request's value: equal for every spelling of it."""
        return tuple(getattr(self, name) for name in _FIELDS)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS)
        return f"Request({fields})".replace(f"target={self.target!r}", f"target={self.target.name}")


_FIELDS = (
    "target",
    "device",
    "dtype",
    "copy",
    "grad",
    "requires_grad",
    "native_device",
    "spelled_device",
    "narrow",
)

# The two spelling memos.  The common call (every keyword at its default) is
# keyed by `to` alone, which hashes fastest; any other by the whole spelling.
BY_TARGET: Memo[Request] = Memo("requests by target", "to (every other keyword at its default)")
BY_SPELLING: Memo[Request] = Memo(
    "requests by spelling", "(to, device, dtype, copy, grad, requires_grad, narrow)"
)
# The process-wide answer to narrow=None (xpbridge.set_narrowing): refusing by default.
NARROWING = [False]

# An array as `to` stands for its library and device: the array API's `x.device`.
BY_ARRAY: Memo[Request] = Memo(
    "requests by target array",
    "(type(to), to.device, device, dtype, copy, grad, requires_grad, narrow)",
)
# One object per distinct request, whatever its spelling: they share compiled plans.
CANONICAL: Memo[Request] = Memo("requests by value", "the resolved request's fields")


def request_of(
    to: Any,
    device: Any,
    dtype: Any,
    copy: Any,
    grad: Any,
    requires_grad: Any,
    narrow: Any = None,
) -> Request:
    """The request of one call: a memo hit for any spelling seen before.

    Raises what :func:`resolve` raises, for a spelling not seen before.
    """
    found = None
    try:
        if type(to).__hash__ is None or type(to) in KEYS.data:
            pass  # an array as `to` (an ndarray is unhashable): found by its type and device
        elif (
            device is None
            and dtype is None
            and copy is None
            and grad == "detach"
            and requires_grad is False
            and narrow is None
        ):
            found = BY_TARGET.data.get(to)
        else:
            found = BY_SPELLING.data.get((to, device, dtype, copy, grad, requires_grad, narrow))
        if found is None:  # an array as `to`: its type and device (the array API's x.device)
            found = BY_ARRAY.data.get(
                (type(to), to.device, device, dtype, copy, grad, requires_grad, narrow)
            )
    except Exception:  # noqa: BLE001 - no .device, an unhashable keyword: resolved below
        found = None
    if found is not None and same_spelling(found, copy, requires_grad, narrow):
        return found
    return resolve(to, device, dtype, copy, grad, requires_grad, narrow)


def same_spelling(r: Request, copy: Any, requires_grad: Any, narrow: Any) -> bool:
    """Whether keywords that found ``r`` by equality are its very values.

    Equal is not valid: ``copy=1 == True`` hashes alike, but only True,
    False and None are ``copy=`` values.
    """
    return (
        r.copy is copy
        and r.requires_grad is requires_grad
        and (narrow is None or r.narrow is narrow)
    )


def check_keywords(copy: Any, grad: Any, requires_grad: Any, narrow: Any = None) -> None:
    """The keywords' own values; raised before the source is looked at."""
    if narrow is not None and narrow is not True and narrow is not False:
        raise ArgumentError(f"narrow must be None, True or False, not {narrow!r}")
    if copy is not None and copy is not True and copy is not False:
        raise ArgumentError(f"copy must be None, True or False, not {copy!r}")
    if grad not in ("detach", "raise"):
        raise ArgumentError(f"grad must be 'detach' or 'raise', not {grad!r}")
    if requires_grad is not True and requires_grad is not False:
        raise ArgumentError(f"requires_grad must be True or False, not {requires_grad!r}")


def resolve(
    to: Any,
    device: Any,
    dtype: Any,
    copy: Any,
    grad: Any,
    requires_grad: Any,
    narrow: Any = None,
) -> Request:
    """Check and resolve a spelling into its (shared) :class:`Request`, and remember it.

    Raises
    ------
    ArgumentError
        An invalid keyword, or an unknown or missing target library.
    DeviceError, DTypeError
        An unknown or unavailable device, an invalid dtype.
    """
    check_keywords(copy, grad, requires_grad, narrow)
    target, target_device = registry.target_of(to)
    registry.backend_named(target.name)  # an ArgumentError when the library is not installed
    if requires_grad and not target.autograd:
        raise ArgumentError(f"requires_grad=True needs a target with autograd, not {target.name}")
    spelled = target_device if device is None else device  # `to` was an array: its device
    native = None
    plan_device = None
    if spelled is not None:
        native = target.native_device(spelled)
        plan_device = CPU if native is not None else target.resolve_device(parse_device(spelled))
    name = canonical_name(dtype) if dtype is not None else None
    narrowing = NARROWING[0] if narrow is None else narrow
    request = Request(
        target, plan_device, name, copy, grad, requires_grad, native, spelled, narrowing
    )
    try:
        value = request.key()
        request = CANONICAL.data.get(value) or CANONICAL.put(value, request)
    except TypeError:  # an unhashable device object: a request of its own, not memoised
        return request
    if target_device is not None:  # an array: remembered by its type and device
        with suppress(Exception):  # no standard .device, or an unhashable one: not remembered
            key = (type(to), to.device, device, dtype, copy, grad, requires_grad, narrow)
            BY_ARRAY.put(key, request)
        return request
    # A spelling, not an array: remembered as it was written.
    defaults = device is None and dtype is None and copy is None and requires_grad is False
    try:
        if defaults and grad == "detach" and narrow is None:
            BY_TARGET.put(to, request)
        else:
            BY_SPELLING.put((to, device, dtype, copy, grad, requires_grad, narrow), request)
    except TypeError:  # an unhashable keyword value: resolved again next time
        pass
    return request


def set_narrowing(enabled: bool) -> bool:
    """Set what ``narrow=None`` means for every later call; return the previous setting.

    ``narrow=True`` narrows float64 to float32 and complex128 to complex64
    (and int64, uint64 to int32, uint32 where the values fit) where the
    target's device lacks the wide type: a float32-only device (Apple MPS,
    array-api-strict's ``Device("no_float64")``), JAX without x64.  The plan
    names the narrowing and why.  Refusing (a DTypeError) is the default.

    Parameters
    ----------
    enabled : bool
        The new process-wide setting.

    Returns
    -------
    bool
        The setting before this call.

    Raises
    ------
    ArgumentError
        ``enabled`` is not True or False.

    Examples
    --------
    >>> import xpbridge as xb
    >>> previous = xb.set_narrowing(True)
    >>> xb.set_narrowing(previous)
    True
    """
    if enabled is not True and enabled is not False:
        raise ArgumentError(f"set_narrowing needs True or False, not {enabled!r}")
    previous, NARROWING[0] = NARROWING[0], enabled
    if previous is not enabled:
        clear_all()  # requests resolved narrow=None under the old setting
    return previous
