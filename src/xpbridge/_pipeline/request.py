"""A conversion request, checked once, and the plan for one source under it.

``convert``/``plan`` make one request per call; ``convert_tree``/``plan_tree``
one per tree, for every leaf.  Both check the keywords here and plan each
source here, so a leaf of a tree gets exactly the plan and error a lone call
would give it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .._lib.devices import CPU, Device, parse_device
from .._lib.dtypes import canonical_name
from .._lib.traits import Request, Traits
from ..backends import registry as _registry
from ..backends._base import Backend
from ..backends.registry import _BACKENDS
from ..errors import ArgumentError
from .plan import Plan, cached_plan, make_plan

__all__ = [
    "Resolved",
    "check_keywords",
    "default_request",
    "plan_traits",
    "resolve",
    "resolve_target",
]


class Resolved(NamedTuple):
    """A request, checked and normalised."""

    target: Backend
    device: Any  # as the caller gave it (or the device of a `to` array)
    plan_device: Device | None  # as the planner takes it
    native: object  # the target library's own device object, if one was given
    dtype: str | None  # canonical name
    copy: bool | None
    grad: str
    requires_grad: bool
    scalars: bool = False  # trees: convert Python scalars too


def check_keywords(copy: Any, grad: Any, requires_grad: Any) -> None:
    """The keywords' own values; raised before the source is looked at."""
    if copy is not None and copy is not True and copy is not False:
        raise ArgumentError(f"copy must be None, True or False, not {copy!r}")
    if grad not in ("detach", "raise"):
        raise ArgumentError(f"grad must be 'detach' or 'raise', not {grad!r}")
    if requires_grad is not True and requires_grad is not False:
        raise ArgumentError(f"requires_grad must be True or False, not {requires_grad!r}")


def resolve_target(
    to: Any,
    device: Any,
    dtype: Any,
    copy: bool | None,
    grad: str,
    requires_grad: bool,
    scalars: bool = False,
) -> Resolved:
    """The target, its device and the dtype, for keywords already checked."""
    target, default_device = _registry.target_of(to)
    if requires_grad and not target.autograd:
        raise ArgumentError(f"requires_grad=True needs a target with autograd, not {target.name}")
    if device is None:
        device = default_device  # `to` was an array: its device
    native = None
    plan_device = None
    if device is not None:
        native = target.native_device(device)
        plan_device = CPU if native is not None else target.resolve_device(parse_device(device))
    name = canonical_name(dtype) if dtype is not None else None
    return Resolved(target, device, plan_device, native, name, copy, grad, requires_grad, scalars)


def resolve(
    to: Any,
    device: Any,
    dtype: Any,
    copy: Any,
    grad: Any,
    requires_grad: Any,
    scalars: Any = False,
) -> Resolved:
    """Check and normalise every keyword of a request (``scalars``: the tree walkers').

    A tree with no array leaf refuses the same keywords a leaf would.
    """
    check_keywords(copy, grad, requires_grad)
    if scalars is not True and scalars is not False:
        raise ArgumentError(f"scalars must be True or False, not {scalars!r}")
    return resolve_target(to, device, dtype, copy, grad, requires_grad, scalars)


# The common call (a library name, every other keyword at its default) is
# resolved and planned once per target and kind of source.  Reads and writes
# of a dict are atomic and every thread computes the same value for a key, so
# the memos need no lock; each is bounded by clearing it when full (a cleared
# entry is only recomputed).
_DEFAULT_REQUESTS: dict[str, Resolved] = {}
# Keyed by the traits object's identity and the target: the backends' traits
# caches hand out the same object for every source of a kind, and an int
# hashes faster than the traits' fields.  The entry holds the traits, so their
# id stays unique while it is there, and a hit is checked to be that very
# object, made under the target's current plan epoch (None for the targets
# whose epoch never changes: then it is not asked for).
_DEFAULT_PLANS: dict[tuple[int, Backend], tuple[Traits, object, Plan]] = {}
# The base class's methods: a backend whose class keeps them has nothing to
# prepare and a plan epoch that never changes, so the common call skips them.
# Compared per call, not recorded when the class is made: a method may be set
# on the class later (a plugin, a test's patch).
_RETURNS_SOURCE = Backend.prepare
_NEVER_CHANGES = Backend.plan_epoch
_MEMO_LIMIT = 1024


def default_request(x: Any, to: str, planning: bool = False) -> tuple[Plan, Any]:
    """The plan for ``x`` to the library named ``to``, every other keyword at its default.

    Also what the plan's steps work on: ``x``, or what a protocol source
    exported (``planning``: only the plan is wanted, so nothing may move or
    be copied).  The request is resolved once per name and the plan once per
    kind of source (the memos above); the hits are read inline, since this
    runs on every common call.  A memoised request is used only while ``to``
    still names the same backend (``register_backend(..., replace=True)`` may
    replace it).
    """
    source = _registry._BY_TYPE.get(type(x)) or _registry.backend_of(x)  # the source's error first
    r = _DEFAULT_REQUESTS.get(to)
    if r is None or _BACKENDS.get(to) is not r.target:
        r = _resolve_default(to)
    target = r.target
    if type(source).prepare is not _RETURNS_SOURCE:
        x = source.prepare(x, target, None, None, planning=planning)
    traits = source.traits(x)
    hit = _DEFAULT_PLANS.get((id(traits), target))
    if (
        hit is not None
        and hit[0] is traits
        and (type(target).plan_epoch is _NEVER_CHANGES or hit[1] == target.plan_epoch())
    ):
        return hit[2], x
    return _plan_default(traits, r), x


def _resolve_default(to: str) -> Resolved:
    r = resolve_target(to, None, None, None, "detach", False)
    if len(_DEFAULT_REQUESTS) >= _MEMO_LIMIT:
        _DEFAULT_REQUESTS.clear()
    _DEFAULT_REQUESTS[to] = r
    return r


def _plan_default(traits: Traits, r: Resolved) -> Plan:
    """:func:`plan_traits` for a default request, memoised by the traits' identity.

    Errors are not memoised.
    """
    target = r.target
    p = plan_traits(traits, r)
    if traits.library != "python":  # Python values' traits are made afresh each call
        if len(_DEFAULT_PLANS) >= _MEMO_LIMIT:
            _DEFAULT_PLANS.clear()
        epoch = None if type(target).plan_epoch is _NEVER_CHANGES else target.plan_epoch()
        _DEFAULT_PLANS[id(traits), target] = (traits, epoch, p)
    return p


def plan_traits(traits: Traits, r: Resolved) -> Plan:
    """The plan for a source with ``traits``: cached, except for Python values.

    Python values' plans depend on the values and on torch's default dtype, a
    run-time setting; they are cheap next to the conversion, so not cached.
    The target's plan epoch (JAX's x64 flag) is part of the cache key.
    """
    target = r.target
    if traits.library == "python":
        request = Request(
            target.name, r.plan_device, r.dtype, r.copy, r.grad, r.requires_grad, r.native
        )
        return make_plan(traits, request)
    return cached_plan(
        traits,
        target.name,
        r.plan_device,
        r.dtype,
        r.copy,
        r.grad,
        r.requires_grad,
        r.native,
        target.plan_epoch(),
    )
