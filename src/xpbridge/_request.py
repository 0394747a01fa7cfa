"""A conversion request, checked once, and the plan for one source under it.

``convert``/``plan`` make one request per call; ``convert_tree``/``plan_tree``
one per tree, for every leaf.  Both check the keywords here and plan each
source here, so a leaf of a tree gets exactly the plan and error a lone call
would give it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from . import _registry
from ._devices import CPU, Device, parse_device
from ._dtypes import canonical_name
from ._plan import Plan, cached_plan, make_plan
from ._traits import Request, Traits
from .backends._base import Backend
from .errors import ArgumentError

__all__ = ["Resolved", "check_keywords", "plan_traits", "resolve", "resolve_target"]


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
    scalars: bool = False,
) -> Resolved:
    """Check and normalise every keyword of a request."""
    check_keywords(copy, grad, requires_grad)
    return resolve_target(to, device, dtype, copy, grad, requires_grad, scalars)


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
