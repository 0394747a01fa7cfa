"""Many sources at once: every leaf planned before any step runs, then converted.

What :func:`xpbridge.convert_tree` and :func:`xpbridge.compute_in` do to the
leaves of a flattened tree, through the one pipeline: each array leaf gets
the compiled plan a lone :func:`xpbridge.convert` would run (the same memo,
the same executor), and only when every leaf has one does any step run.  A
compiled plan that checks its source (a primitive that refuses sources its
key did not decide) runs that check while planning: it makes views only,
moves no data and changes nothing.  A leaf that fails raises
:class:`LeafFailed`; the caller names its path.

One object that appears at several paths is converted once.  Steps that move
data between devices run first for every leaf, inside one deferred
synchronisation (:mod:`xpbridge._lib.transfers`); the steps after them run
only once every transfer has been waited for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .._lib.transfers import deferred_synchronisation
from .._trees.walk import _KINDS, _LEAF_KINDS, ARRAY, SCALAR, kind_of
from ..errors import ConversionError
from .describe import KEYS
from .execute import Compiled
from .observe import blocked, copy_made
from .pipeline import compiled_for, entry_for
from .plan import Plan
from .request import Request

__all__ = ["LeafFailed", "convert_leaves", "located", "plan_leaves", "views_of"]

# A planned leaf: its index, its compiled plan, what its remaining steps work
# on, and how many of the plan's steps have run already (a check's views).
Pending = tuple[int, Compiled, Any, int]


class LeafFailed(Exception):
    """The leaf at ``index`` cannot be converted (the caller adds its path)."""

    def __init__(self, index: int, error: ConversionError) -> None:
        self.index, self.error = index, error


def located(failed: LeafFailed, paths: Callable[[], list[str]], context: str) -> ConversionError:
    """The leaf's own error, its message starting with where the leaf is."""
    error = failed.error
    located_error = type(error)(f"{context}{paths()[failed.index]}: {error}")
    located_error.__cause__ = error.__cause__
    return located_error


def _repeats(leaves: Sequence[Any]) -> dict[int, int]:
    """Which array leaves are objects seen earlier (index -> first index; usually none).

    Only arrays: Python caches small ints and interns strings, so two equal
    scalars may be one object, and must still become two arrays (scalars=True).
    """
    first_at: dict[int, int] = {}
    repeats = {}
    for i, x in enumerate(leaves):
        if (_KINDS.data.get(type(x)) or kind_of(x)) is not ARRAY:
            continue
        seen = first_at.setdefault(id(x), i)
        if seen != i:
            repeats[i] = seen
    return repeats


def plan_leaves(
    leaves: Sequence[Any], r: Request, scalars: bool, *, exact: bool = False
) -> tuple[list[Any], list[Pending], dict[int, int]]:
    """Plan every leaf; run nothing but the checks' views.

    Returns the leaves (converted where a check's views already are the
    result), the leaves still to run, and the repeated objects (index ->
    index of the first appearance).  ``exact``: every plan from the source's
    full traits, as :func:`xpbridge.plan` gives it (for ``plan_tree``;
    nothing runs at all).  Raises :class:`LeafFailed` for the first leaf
    that cannot be converted.
    """
    repeats = {} if len(set(map(id, leaves))) == len(leaves) else _repeats(leaves)
    results = list(leaves)  # leaves that are not converted stay as they are
    pending: list[Pending] = []
    if not exact and not repeats and _all_by_one_key(leaves, r, results, pending):
        return results, pending, repeats
    kinds = _KINDS.data
    for i, x in enumerate(leaves):
        if repeats and i in repeats:
            continue
        kind = kinds.get(type(x)) or kind_of(x)
        if kind is not ARRAY and (kind is not SCALAR or not scalars):
            continue
        try:
            if exact:
                entry, prepared = compiled_for(x, r, planning=True)
                pending.append((i, entry, prepared, 0))
                continue
            entry, prepared = entry_for(x, r)
            split = 0
            if entry.check is not None:
                try:
                    prepared, split = entry.check(prepared), entry.split
                except entry.refusals:
                    entry, prepared = compiled_for(x, r)
        except ConversionError as e:
            raise LeafFailed(i, e) from None
        if entry.rest is None:
            results[i] = prepared  # the check's views are the result
        else:
            pending.append((i, entry, prepared, split))
    return results, pending, repeats


def _all_by_one_key(
    leaves: Sequence[Any], r: Request, results: list[Any], pending: list[Pending]
) -> bool:
    """The common tree (a dict of arrays of one type and layout): every leaf by one entry.

    One type, one traits key and one compiled plan for all leaves: its check
    runs over them in C (``map``), or, on a refusal, nothing is kept and the
    caller plans leaf by leaf.  False when the tree is not of that kind.
    """
    if not leaves:
        return False
    types = set(map(type, leaves))
    if len(types) != 1:
        return False
    key = KEYS.data.get(types.pop())
    if key is None:
        return False
    keys = list(map(key, leaves))
    if keys.count(keys[0]) != len(keys):
        return False
    entry = r.compiled.data.get(keys[0])
    if entry is None or entry.plan is None:
        return False  # not compiled yet, or undecided: leaf by leaf
    if entry.check is not None:
        try:
            checked = list(map(entry.check, leaves))
        except entry.refusals:
            return False
        if entry.rest is None:
            results[:] = checked
            return True
        pending += [(i, entry, x, entry.split) for i, x in enumerate(checked)]
        return True
    pending += [(i, entry, x, 0) for i, x in enumerate(leaves)]
    return True


def views_of(values: tuple[Any, ...], r: Request) -> tuple[Any, ...] | None:
    """A call's few values converted, where every array among them converts by views only.

    The common :func:`xpbridge.compute_in` call (a few arrays and plain
    values, positional; a tuple of arrays returned): each array takes the
    compiled plan its traits key finds, as :func:`xpbridge.convert` finds it,
    and values of other leaf kinds stay as they are.  Views only, so an array
    that fails later loses nothing.  None where that does not hold (a
    container, an array not planned yet, a copy, a refusal, one array at
    two places): the caller walks and plans the values.
    """
    n = len(values)
    if n > 1 and (values[0] is values[1] if n == 2 else len(set(map(id, values))) != n):
        return None  # one object twice is converted once: planned leaf by leaf
    kinds, keys, table = _KINDS.data, KEYS.data, r.table
    out = []
    for x in values:
        cls = type(x)
        kind = kinds.get(cls)
        if kind is ARRAY:
            try:
                entry = table[keys[cls](x)]
            except (KeyError, TypeError):  # no key function, not planned yet, an unhashable key
                return None
            view = entry.view
            if view is None:  # more than views, or a copy to observe
                return None
            try:
                out.append(view(x))
            except entry.refusals:
                return None
        elif kind in _LEAF_KINDS:
            out.append(x)
        else:  # a container, or a type not met yet
            return None
    return tuple(out)


def _transfer_end(steps: tuple[str, ...]) -> int:
    """How many of the steps run before the data may be read: through the last transfer."""
    if "to_device" not in steps:
        return 0
    return len(steps) - steps[::-1].index("to_device")


def run_pending(results: list[Any], pending: list[Pending]) -> None:
    """Run the planned leaves: transfers for all leaves first, one wait, then the rest."""
    if not any("to_device" in entry.plan.steps for _, entry, _, _ in pending):  # type: ignore[union-attr]
        for i, entry, x, _ in pending:
            results[i] = entry.rest(x)  # type: ignore[misc]
        return
    staged = []
    with deferred_synchronisation():
        for i, entry, source, done in pending:
            plan = entry.plan
            assert plan is not None
            end = max(done, _transfer_end(plan.steps))
            staged.append((i, plan, _steps(plan, done, end, source), end))
    for i, plan, moved, end in staged:
        results[i] = _steps(plan, end, len(plan.steps), moved)


def _steps(plan: Plan, start: int, stop: int, x: Any) -> Any:
    """Run the plan's steps from ``start`` to ``stop`` on ``x``."""
    for call in plan.calls[start:stop]:
        x = call(x, plan)
    return x


def convert_leaves(
    leaves: Sequence[Any],
    r: Request,
    scalars: bool,
    paths: Callable[[], list[str]],
    context: str = "",
) -> list[Any]:
    """Convert the array leaves of a flattened tree, atomically.

    On an error, ``paths()`` names the leaves and ``context`` precedes the path.
    """
    try:
        results, pending, repeats = plan_leaves(leaves, r, scalars)
    except LeafFailed as failed:
        raise located(failed, paths, context) from None
    if pending:
        if blocked():  # no_copies(): a leaf that copies is refused before any runs
            for i, entry, _, _ in pending:
                if entry.plan is not None and entry.plan.reasons:
                    try:
                        copy_made(entry.plan)
                    except ConversionError as e:
                        raise located(LeafFailed(i, e), paths, context) from None
        run_pending(results, pending)
    for i, first in repeats.items():
        results[i] = results[first]
    return results
