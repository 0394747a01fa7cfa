"""The pipeline, whole: describe -> plan -> execute, and the memo that skips it when warm.

Every conversion (one array, a tree's leaves, ``compute_in``'s arguments
and results, a Dask chunk) takes this one path:

1. the request, resolved once per spelling (:mod:`.request`);
2. the source's traits key (:mod:`.describe`): the request's compiled plans
   are memoised by it, so a warm call is one dictionary hit;
3. on a miss, the plan for the traits the key stands for, compiled
   (:mod:`.plan`, :mod:`.execute`); a key that does not decide the plan
   (a layout whose strides decide, a protocol source) sends the source down
   the full path: its complete traits, planned and compiled, memoised by the
   traits object.

``plan()`` always takes the full path: a :class:`~xpbridge.Plan` is exact
for the source it describes, down to ``aliases`` of an empty array.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from ..backends import registry
from ..backends._base import Backend
from ..errors import ConversionError
from .describe import FULL, KEYS, describe, key_of
from .execute import Compiled, compile_plan
from .plan import Plan, make_plan
from .request import Request

__all__ = ["compiled_for", "convert_with", "entry_for", "plan_with"]


def convert_with(x: Any, r: Request) -> Any:
    """Convert ``x`` as ``r`` asks: the memo hit, else the full path.

    The public functions read the memo hit inline (:mod:`xpbridge._api.convert`)
    and call this on a miss.
    """
    key = KEYS.data.get(type(x))
    if key is not None:
        entry = r.table.get(key(x))
        if entry is not None:
            try:
                return entry.run(x)
            except entry.refusals:
                return _full_convert(x, r)
    entry, prepared = entry_for(x, r)
    try:
        return entry.run(prepared)
    except entry.refusals:  # only entries found by a key refuse
        return _full_convert(x, r)


def plan_with(x: Any, r: Request) -> Plan:
    """The exact plan for ``x`` under ``r`` (the full path; memoised by traits)."""
    entry, _ = compiled_for(x, r, planning=True)
    assert entry.plan is not None  # the full path always plans
    return entry.plan


def entry_for(x: Any, r: Request, planning: bool = False) -> tuple[Compiled, Any]:
    """The compiled plan ``x`` converts by, through its traits key where it has one.

    Also what the plan's steps work on.  Raises the error converting ``x``
    would raise.
    """
    backend, key_function = key_of(x)
    key = key_function(x)
    if key is FULL:
        return compiled_for(x, r, planning)
    try:
        entry = r.table.get(key)
    except TypeError:  # an unhashable part of a key (a foreign dtype object)
        return compiled_for(x, r, planning)
    if entry is None:
        entry = r.compiled.put(key, _compile_key(backend, key, r))
    if entry.plan is None:  # the key does not decide: the full path
        return compiled_for(x, r, planning)
    return entry, x


def _compile_key(backend: Any, key: Any, r: Request) -> Compiled:
    """The entry for a traits key: its plan compiled, or the full path where it decides nothing.

    A key does not say whether an array is empty, so it decides a plan only
    where an empty source with its traits has the same steps (an empty array
    has no memory to share: ``copy=False`` allows it a copy, and a detached
    or read-only view of nothing needs no protection).
    """
    assumed = backend.traits_of_key(key, r)
    if assumed is not None:
        try:
            plan = make_plan(assumed, r)
            empty = make_plan(assumed._replace(size_zero=True), r)
        except ConversionError:
            pass  # errors are raised from the full path, with the source's own traits
        else:
            if empty.steps != plan.steps:
                return Compiled(None, partial(_full_convert, r=r))
            entry = compile_plan(
                plan,
                r,
                assumed,
                from_key=True,
                checked=backend.key_is_checked,
                unprepared=r.target is not backend and type(backend).prepare is not Backend.prepare,
            )
            if entry is not None:
                return entry
    return Compiled(None, partial(_full_convert, r=r))


def compiled_for(x: Any, r: Request, planning: bool = False) -> tuple[Compiled, Any]:
    """The full path: ``x`` described whole, planned and compiled (memoised by its traits).

    Backends hand out one traits object per kind of source, so the memo is
    keyed by the object's identity (and the entry holds it, so the identity
    stays unique); a traits object made afresh is planned afresh.  Python
    values' plans depend on the values and on torch's default dtype: never
    memoised.
    """
    source = registry.backend_of(x)
    traits, prepared = describe(x, source, r.target, r.device, r.copy, planning)
    compiled = r.compiled
    key = id(traits)
    entry = compiled.data.get(key)
    if (
        entry is None
        or entry.traits is not traits
        or (entry.epoch is not None and entry.epoch != r.target.plan_epoch())
    ):
        plan = make_plan(traits, r)
        entry = compile_plan(plan, r, traits, from_key=False)
        assert entry is not None  # unchecked plans always compile
        if traits.library != "python":
            compiled.put(key, entry)
    return entry, prepared


def _full_convert(x: Any, r: Request) -> Any:
    entry, prepared = compiled_for(x, r)
    return entry.run(prepared)
