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
from .._lib.memo import Memo
from ..backends import registry
from ..errors import ArgumentError

if TYPE_CHECKING:
    from ..backends._base import Backend
    from .execute import Compiled

__all__ = ["Request", "check_keywords", "request_of", "resolve"]


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
    ) -> None:
        self.target, self.device, self.dtype = target, device, dtype
        self.copy, self.grad, self.requires_grad = copy, grad, requires_grad
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
)

# The two spelling memos.  The common call (every keyword at its default) is
# keyed by `to` alone, which hashes fastest; any other by the whole spelling.
BY_TARGET: Memo[Request] = Memo("requests by target", "to (every other keyword at its default)")
BY_SPELLING: Memo[Request] = Memo(
    "requests by spelling", "(to, device, dtype, copy, grad, requires_grad)"
)
# An array as `to` stands for its library and device: the array API's `x.device`.
BY_ARRAY: Memo[Request] = Memo(
    "requests by target array", "(type(to), to.device, device, dtype, copy, grad, requires_grad)"
)
# One object per distinct request, whatever its spelling: they share compiled plans.
CANONICAL: Memo[Request] = Memo("requests by value", "the resolved request's fields")


def request_of(
    to: Any, device: Any, dtype: Any, copy: Any, grad: Any, requires_grad: Any
) -> Request:
    """The request of one call: a memo hit for any spelling seen before.

    Raises what :func:`resolve` raises, for a spelling not seen before.
    """
    found = None
    try:
        if type(to).__hash__ is None:  # an ndarray as `to`: found by its type and device
            pass
        elif (
            device is None
            and dtype is None
            and copy is None
            and grad == "detach"
            and requires_grad is False
        ):
            found = BY_TARGET.data.get(to)
        else:
            found = BY_SPELLING.data.get((to, device, dtype, copy, grad, requires_grad))
        if found is None:  # an array as `to`: its type and device (the array API's x.device)
            found = BY_ARRAY.data.get(
                (type(to), to.device, device, dtype, copy, grad, requires_grad)
            )
    except Exception:  # noqa: BLE001 - no .device, an unhashable keyword: resolved below
        found = None
    # Equal is not valid: copy=1 == True, but only True, False and None are copy= values.
    if found is not None and found.copy is copy and found.requires_grad is requires_grad:
        return found
    return resolve(to, device, dtype, copy, grad, requires_grad)


def check_keywords(copy: Any, grad: Any, requires_grad: Any) -> None:
    """The keywords' own values; raised before the source is looked at."""
    if copy is not None and copy is not True and copy is not False:
        raise ArgumentError(f"copy must be None, True or False, not {copy!r}")
    if grad not in ("detach", "raise"):
        raise ArgumentError(f"grad must be 'detach' or 'raise', not {grad!r}")
    if requires_grad is not True and requires_grad is not False:
        raise ArgumentError(f"requires_grad must be True or False, not {requires_grad!r}")


def resolve(to: Any, device: Any, dtype: Any, copy: Any, grad: Any, requires_grad: Any) -> Request:
    """Check and resolve a spelling into its (shared) :class:`Request`, and remember it.

    Raises
    ------
    ArgumentError
        An invalid keyword, or an unknown or missing target library.
    DeviceError, DTypeError
        An unknown or unavailable device, an invalid dtype.
    """
    check_keywords(copy, grad, requires_grad)
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
    request = Request(target, plan_device, name, copy, grad, requires_grad, native, spelled)
    try:
        value = request.key()
        request = CANONICAL.data.get(value) or CANONICAL.put(value, request)
    except TypeError:  # an unhashable device object: a request of its own, not memoised
        return request
    if target_device is not None:  # an array: remembered by its type and device
        with suppress(Exception):  # no standard .device, or an unhashable one: not remembered
            BY_ARRAY.put((type(to), to.device, device, dtype, copy, grad, requires_grad), request)
        return request
    # A spelling, not an array: remembered as it was written.
    defaults = device is None and dtype is None and copy is None and requires_grad is False
    try:
        if defaults and grad == "detach":
            BY_TARGET.put(to, request)
        else:
            BY_SPELLING.put((to, device, dtype, copy, grad, requires_grad), request)
    except TypeError:  # an unhashable keyword value: resolved again next time
        pass
    return request
