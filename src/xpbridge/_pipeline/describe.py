"""Describe: a source's traits key, and its full traits.

Two descriptions of one source, from its backend:

- the *traits key*: for the exact types a backend names, a cheap function
  of a few attributes (``(dtype, flags)`` of an ndarray, read in C) whose
  value decides the source's plan (:meth:`~xpbridge.backends.Backend.traits_key`);
- the full :class:`~xpbridge.backends.Traits`, after the backend has
  prepared the source (a protocol source exports its capsule first).

A type's key function is decided once (:data:`KEYS`); a type without one
gets :func:`described_in_full`, whose key no request has compiled, so that
every type takes the same two steps on a warm call.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from .._lib.memo import Memo
from .._lib.traits import Traits
from ..backends import registry
from ..backends._base import Backend

__all__ = ["FULL", "KEYS", "describe", "described_in_full", "key_of"]

# The key of every source that is described in full: no entry is ever made for it.
FULL = object()


def described_in_full(x: Any) -> Hashable:
    """The traits key of a source without a cheap one."""
    return FULL


KEYS: Memo[Callable[[Any], Hashable]] = Memo(
    "traits key functions by source type", "the exact type of a source", by_type=True
)


def key_of(x: Any) -> tuple[Backend, Callable[[Any], Hashable]]:
    """The owner of ``x`` and its traits key function; UnsupportedInputError if none owns it."""
    backend = registry.backend_of(x)
    cls = type(x)
    key = KEYS.get(cls)
    if key is None:
        if registry.owner_of_type(cls) is not backend:  # owned by this object alone
            return backend, described_in_full
        key = KEYS.put(cls, backend.traits_key(cls) or described_in_full)
    return backend, key


def describe(
    x: Any, source: Backend, target: Backend, device: Any, copy: Any, planning: bool
) -> tuple[Traits, Any]:
    """The full traits of ``x``, and what the plan's steps work on.

    That is ``x`` itself, or what a protocol source exported
    (``planning``: only the plan is wanted, so nothing may move or copy).
    """
    if type(source).prepare is not Backend.prepare:  # compared per call: a patched class counts
        x = source.prepare(x, target, device, copy, planning=planning)
    return source.traits(x), x
