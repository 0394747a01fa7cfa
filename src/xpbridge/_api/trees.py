"""Whole trees of arrays: every leaf planned before any moves, then converted.

describe -> plan -> execute, for a tree: :mod:`._tree` takes the tree apart,
each array leaf gets exactly the plan :func:`xpbridge.plan` would give it
(the same request code runs), and only when every leaf has a plan does any
step run.  A leaf that fails names its path and nothing is converted.

One object that appears at several paths is planned and converted once.
Steps that move data between devices run first for every leaf, inside one
deferred synchronisation (:mod:`._transfers`); the steps after them run only
once every transfer has been waited for.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

from .._lib.devices import CPU
from .._lib.dlpack import Exported
from .._lib.dtypes import DTYPES
from .._lib.traits import Traits
from .._lib.transfers import deferred_synchronisation
from .._lib.typing import Grad
from .._pipeline.plan import Plan
from .._pipeline.request import Resolved, plan_traits, resolve
from .._trees.walk import _KINDS, _PASSED_BY_TYPE, _SCALARS, ARRAY, SCALAR, flatten, kind_of
from ..backends import registry as _registry
from ..backends._base import Backend
from ..backends.torch import direct_dtypes, from_numpy_is_exact
from ..errors import ConversionError

__all__ = ["TreePlan", "convert_tree", "plan_tree"]


def _planner(r: Resolved, planning: bool) -> Callable[[Any], tuple[Plan, Any]]:
    """Plan one leaf as :func:`xpbridge.plan` does: the plan and what its steps work on.

    The per-call part of :func:`xpbridge.plan` (owner, prepare, traits, the
    cached planner) with the keywords checked once; one plan per distinct
    traits object within a tree.  ``tests/test_tree.py`` checks that every
    contract case gets the plan and error :func:`xpbridge.plan` gives it.
    """
    target, device, copy = r.target, r.plan_device, r.copy
    seen: dict[int, tuple[Traits, Plan]] = {}
    backend_of = _registry.backend_of
    owners_by_type = _registry._BY_TYPE
    # Per leaf type, within this tree: the owner's prepare (None where it is the
    # base class's, which returns the leaf itself) and traits.  Only types that
    # own their instances are kept: an owner found for one instance alone (an
    # __array_interface__ set on it) is asked again for the next.
    methods_by_type: dict[type, tuple[Callable[..., Any] | None, Callable[[Any], Traits]]] = {}

    def plan_leaf(x: Any) -> tuple[Plan, Any]:
        cls = type(x)
        methods = methods_by_type.get(cls)
        if methods is None:
            source = backend_of(x)
            prepare = None if type(source).prepare is Backend.prepare else source.prepare
            methods = (prepare, source.traits)
            if owners_by_type.get(cls) is source:
                methods_by_type[cls] = methods
        prepare, traits_of = methods
        prepared = x if prepare is None else prepare(x, target, device, copy, planning=planning)
        traits = traits_of(prepared)
        known = seen.get(id(traits))
        if known is not None and known[0] is traits:
            return known[1], prepared
        p = plan_traits(traits, r)
        seen[id(traits)] = (traits, p)  # holding traits keeps its id unique
        return p, prepared

    return plan_leaf


class Shortcut(NamedTuple):
    """A primitive that does exactly what the plan says for one source type, or raises."""

    source: type  # exactly this type, not subclasses
    convert: Callable[[Any], Any]
    refusals: tuple[type[BaseException], ...]  # what it raises where the planner must decide
    needs_behaved: bool  # only for sources from_numpy_is_exact accepts (else: the planner)
    # The values of a call (a few arrays and plain values) converted by the
    # primitive alone, or None when any needs the planner: see _flat_converter.
    convert_all: Callable[[tuple[Any, ...]], tuple[Any, ...] | None]


_FAST: dict[Resolved, Shortcut | None] = {}


def fast_path(r: Resolved) -> Shortcut | None:
    """For a plain request between NumPy and torch: the primitive that does the plan's work.

    The same rule as :func:`xpbridge.to_torch` / :func:`xpbridge.to_numpy`: for
    a plain aligned writable ndarray ``torch.from_numpy`` does exactly what the
    plan says or raises, and so does ``Tensor.numpy`` for a plain CPU tensor
    without grad (it raises for one that requires grad, whatever ``grad``
    says); on its error the leaf is planned, and the planner says why.  A
    view made this way moves no data and changes nothing, so making it while
    the rest of the tree is planned keeps the tree atomic.
    """
    try:
        shortcut = _FAST.get(r, False)
    except TypeError:  # an unhashable device object: no shortcut
        return None
    if shortcut is not False:
        return shortcut  # type: ignore[return-value]
    np, torch = sys.modules.get("numpy"), sys.modules.get("torch")
    if np is None or torch is None:
        return None  # not cached: the libraries may be imported later
    shortcut = None
    if r.plan_device in (None, CPU) and r.dtype is None and r.copy is None and not r.requires_grad:
        if r.target.name == "torch":
            source, convert = np.ndarray, torch.from_numpy
            refusals: tuple[type[BaseException], ...] = (TypeError, ValueError)
            convert_all = _flat_converter(source, convert, refusals, direct_dtypes())
            shortcut = Shortcut(source, convert, refusals, True, convert_all)
        elif r.target.name == "numpy":
            source, convert = torch.Tensor, torch.Tensor.numpy
            refusals = (TypeError, RuntimeError)
            convert_all = _flat_converter(source, convert, refusals, None)
            shortcut = Shortcut(source, convert, refusals, False, convert_all)
    if len(_FAST) < 256:  # requests are few; a program making endless new ones is not cached
        _FAST[r] = shortcut
    return shortcut


_BEHAVED = from_numpy_is_exact  # the to_torch fast path's own rule

# Leaves every request passes through unchanged (Python scalars unless scalars=True).
_PLAIN = frozenset((*_PASSED_BY_TYPE, *_SCALARS))


def _all_behaved(leaves: Sequence[Any]) -> bool:
    """Whether from_numpy_is_exact holds for every leaf (ndarrays), its common case read inline.

    A direct dtype, C-contiguous, aligned and writable is the rule's first
    case; the rule itself decides every other array.  A loop reading that
    case costs about half of calling the rule on each of a thousand leaves.
    """
    direct = direct_dtypes()
    behaved = _BEHAVED
    for x in leaves:  # noqa: SIM110 - all() over a generator is slower than this loop
        if not (x.dtype in direct and x.flags.carray) and not behaved(x):
            return False
    return True


def _flat_converter(
    source: type,
    convert: Callable[[Any], Any],
    refusals: tuple[type[BaseException], ...],
    direct: frozenset[Any] | None,
) -> Callable[[tuple[Any, ...]], tuple[Any, ...] | None]:
    """:attr:`Shortcut.convert_all`: the values of one call converted by ``convert`` alone.

    For :func:`compute_in`'s common call, its arguments and its results: a
    few arrays and plain values.  It returns None (having had no effect: the
    primitive only makes views) when any value needs more, and the caller
    starts again with :func:`convert_leaves`, which plans every leaf.  The
    checks are :func:`_plan_all`'s: the exact source type, distinct objects,
    and, where ``direct`` is given (``torch.from_numpy``), the fast-path rule.
    Built once per request, so a call reads no settings.
    """
    behaved = _BEHAVED
    exact: Any = source  # Any, not type: the guard must not narrow x to object

    def convert_all(values: tuple[Any, ...]) -> tuple[Any, ...] | None:
        for x in values:
            if type(x) is not exact:
                return mixed(values)
            # from_numpy_is_exact, its common case read inline (a dtype torch
            # takes as it is, C-contiguous, aligned, writable); the rule
            # itself decides every other array.
            if direct is not None and not (x.dtype in direct and x.flags.carray) and not behaved(x):
                return None
        # One object twice must be converted once (convert_leaves does that).
        # A call has a few values: they are compared pairwise and converted by
        # direct calls, both cheaper than going through a set and map().
        try:
            n = len(values)
            if n == 1:
                return (convert(values[0]),)
            if n == 2:
                a, b = values
                return None if a is b else (convert(a), convert(b))
            if n == 3:
                a, b, c = values
                if a is b or a is c or b is c:
                    return None
                return (convert(a), convert(b), convert(c))
            if len(set(map(id, values))) != n:
                return None
            return tuple(map(convert, values))
        except refusals:
            return None

    def mixed(values: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """Arrays among plain values (None, numbers, strings): one at a time."""
        if len(set(map(id, values))) != len(values):
            return None
        out = []
        for x in values:
            if type(x) is exact:
                if direct is not None and not behaved(x):
                    return None
                try:
                    out.append(convert(x))
                except refusals:
                    return None
            elif type(x) in _PLAIN:
                out.append(x)
            else:
                return None
        return tuple(out)

    return convert_all


class _LeafFailed(Exception):
    """The leaf at ``index`` cannot be converted (internal: the caller adds its path)."""

    def __init__(self, index: int, error: ConversionError) -> None:
        self.index, self.error = index, error


def _located(failed: _LeafFailed, paths: Callable[[], list[str]], context: str) -> ConversionError:
    """The leaf's own error, its message starting with where the leaf is."""
    error = failed.error
    return type(error)(f"{context}{paths()[failed.index]}: {error}")


def _repeats(leaves: Sequence[Any]) -> dict[int, int]:
    """Which array leaves are objects seen earlier in the tree (usually none: checked in C first).

    Only arrays: Python caches small ints and interns strings, so two equal
    scalars may be one object, and must still become two arrays (scalars=True).
    """
    first_at: dict[int, int] = {}
    repeats = {}
    for i, x in enumerate(leaves):
        if kind_of(x) is not ARRAY:
            continue
        seen = first_at.setdefault(id(x), i)
        if seen != i:
            repeats[i] = seen
    return repeats


def _plan_all(
    leaves: Sequence[Any], r: Resolved, shortcut: Shortcut | None, planning: bool = False
) -> tuple[list[Any], list[tuple[int, Plan, Any]], dict[int, int]]:
    """Plan every leaf, making only zero-copy views through ``shortcut``; nothing else runs yet.

    Returns the leaves with the shortcut's results in place, the planned
    leaves still to run as ``(index, plan, prepared source)``, and the
    repeated objects (index -> index of the first appearance).  Raises
    :class:`_LeafFailed` for the first leaf that cannot be converted.
    """
    repeats = {} if len(set(map(id, leaves))) == len(leaves) else _repeats(leaves)
    fast_type, primitive, refusals, needs_behaved, _ = shortcut or (None, None, (), False, None)
    if (
        shortcut is not None
        and not repeats
        and set(map(type, leaves)) == {fast_type}
        and (not needs_behaved or _all_behaved(leaves))
    ):
        # Every leaf is of the shortcut's source type (a dict of ndarrays, say):
        # convert them all in C, or fall back to the loop on the first refusal.
        try:
            return list(map(primitive, leaves)), [], {}  # type: ignore[arg-type]
        except refusals:
            pass  # the planner decides that leaf, and says why
    results: list[Any] = list(leaves)  # leaves that are not converted stay as they are
    pending: list[tuple[int, Plan, Any]] = []
    plan_leaf = None
    kinds = _KINDS
    scalars = r.scalars
    for i, x in enumerate(leaves):
        if repeats and i in repeats:
            continue
        cls = type(x)
        # torch.from_numpy would alias read-only memory as writable: behaved only.
        if cls is fast_type and (not needs_behaved or _BEHAVED(x)):
            try:
                results[i] = primitive(x)  # type: ignore[misc]
                continue
            except refusals:
                pass  # the planner decides, and says why
        kind = kinds.get(cls) or kind_of(x)
        if kind is ARRAY or (kind is SCALAR and scalars):
            if plan_leaf is None:
                plan_leaf = _planner(r, planning)
            try:
                p, prepared = plan_leaf(x)
            except ConversionError as e:
                raise _LeafFailed(i, e) from None
            pending.append((i, p, prepared))
    return results, pending, repeats


def _transfer_end(p: Plan) -> int:
    """How many of the plan's steps run before the data may be read: through its last transfer."""
    steps = p.steps
    if "to_device" not in steps:
        return 0
    return len(steps) - steps[::-1].index("to_device")


def _execute(results: list[Any], pending: list[tuple[int, Plan, Any]]) -> None:
    """Run the planned leaves' steps: transfers for all leaves first, one wait, then the rest."""
    if any("to_device" in p.steps for _, p, _ in pending):
        staged = []
        with deferred_synchronisation():
            for i, p, source in pending:
                end = _transfer_end(p)
                x = source
                for call in p.calls[:end]:
                    x = call(x, p)
                staged.append((i, p, x, end))
        for i, p, moved, end in staged:
            x = moved
            for call in p.calls[end:]:
                x = call(x, p)
            results[i] = x
        return
    for i, p, source in pending:
        x = source
        for call in p.calls:
            x = call(x, p)
        results[i] = x


def convert_leaves(
    leaves: Sequence[Any],
    r: Resolved,
    paths: Callable[[], list[str]],
    shortcut: Shortcut | None,
    context: str = "",
) -> list[Any]:
    """Convert the array leaves of a flattened tree, atomically.

    ``shortcut`` is :func:`fast_path` of ``r`` (a caller may keep it); on an
    error, ``paths()`` names the leaves and ``context`` precedes the path.
    """
    try:
        results, pending, repeats = _plan_all(leaves, r, shortcut)
    except _LeafFailed as failed:
        raise _located(failed, paths, context) from None
    if pending:
        _execute(results, pending)
    for i, first in repeats.items():
        results[i] = results[first]
    return results


class TreePlan:
    """What :func:`convert_tree` will do to a whole tree, decided before any data moves.

    Immutable.  Counts are over distinct objects: an array that appears at two
    paths is converted once.

    Attributes
    ----------
    target : str
        The target library.
    plans : Mapping[str, Plan]
        The plan of every converted leaf, by path (``tree['coef_'][2]``), in
        tree order; each :class:`~xpbridge.Plan` is exactly what
        :func:`xpbridge.plan` says for that leaf alone.
    passed_through : tuple of str
        The paths of the leaves returned unchanged (``None``, strings, Python
        scalars unless ``scalars=True``, other objects).
    same_as : Mapping[str, str]
        For a path whose object appeared earlier in the tree: that first path.
    aliasing, copying : int
        How many converted objects will share their source's memory, and how
        many will be new buffers.
    bytes_copied : int
        The size of the new buffers (elements times the result's item size),
        for the copying leaves whose size is known before converting (Python
        scalars, whose dtype the target infers, and arrays of unknown shape
        are not counted).

    Examples
    --------
    >>> import numpy as np, xpbridge as xb
    >>> tree = {"coef_": np.ones(4, np.float32), "rev": np.arange(3.0)[::-1], "n": 10}
    >>> print(xb.plan_tree(tree, "torch"))
    tree -> torch: 2 arrays (1 zero-copy, 1 copied: 24 bytes), 1 leaf passed through
      tree['coef_']  numpy float32 array on cpu -> torch float32 on cpu: from_numpy (zero-copy)
      tree['rev']    numpy float64 array on cpu -> torch float64 on cpu: copy, from_numpy (new buffer)
                       because the source has negative strides, which torch cannot represent
      tree['n']      passed through (int)
    """

    __slots__ = (
        "_order",
        "_passed_types",
        "aliasing",
        "bytes_copied",
        "copying",
        "passed_through",
        "plans",
        "same_as",
        "target",
    )

    target: str
    plans: Mapping[str, Plan]
    passed_through: tuple[str, ...]
    same_as: Mapping[str, str]
    aliasing: int
    copying: int
    bytes_copied: int
    _order: tuple[str, ...]  # every path, in tree order
    _passed_types: Mapping[str, str]  # the type name of each passed-through leaf, by path

    def __init__(
        self,
        target: str,
        plans: dict[str, Plan],
        passed_through: dict[str, str],
        same_as: dict[str, str],
        aliasing: int,
        copying: int,
        bytes_copied: int,
        order: list[str],
    ) -> None:
        values = {
            "target": target,
            "plans": MappingProxyType(plans),
            "passed_through": tuple(passed_through),
            "same_as": MappingProxyType(same_as),
            "aliasing": aliasing,
            "copying": copying,
            "bytes_copied": bytes_copied,
            "_order": tuple(order),  # str() pairs it with the type names, when asked
            "_passed_types": MappingProxyType(passed_through),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"TreePlan is immutable: cannot set {name!r}")

    def _key(self) -> tuple[object, ...]:
        return (self.target, dict(self.plans), self.passed_through, dict(self.same_as))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TreePlan) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"TreePlan(target={self.target!r}, leaves={len(self.plans)}, "
            f"aliasing={self.aliasing}, copying={self.copying}, "
            f"bytes_copied={self.bytes_copied}, passed_through={len(self.passed_through)})"
        )

    def __str__(self) -> str:
        arrays = self.aliasing + self.copying
        passed = len(self.passed_through)
        head = (
            f"tree -> {self.target}: {arrays} {'array' if arrays == 1 else 'arrays'} "
            f"({self.aliasing} zero-copy, {self.copying} copied: {self.bytes_copied} bytes), "
            f"{passed} {'leaf' if passed == 1 else 'leaves'} passed through"
        )
        lines = [head]
        width = max(map(len, self._order), default=0)
        for path in self._order:
            head = f"  {path:<{width}}  "
            if path in self.same_as:
                lines.append(f"{head}the same object as {self.same_as[path]}")
            elif path in self.plans:
                lines += _leaf_lines(head, self.plans[path])
            else:
                lines.append(f"{head}passed through ({self._passed_types[path]})")
        return "\n".join(lines)


def _leaf_lines(head: str, p: Plan) -> list[str]:
    result = "zero-copy" if p.aliases else "new buffer"
    if not p.writable:
        result += ", read-only"
    steps = ", ".join(p.steps) or "none: the source itself"
    lines = [f"{head}{p.source} -> {p.target} {p.dtype} on {p.device}: {steps} ({result})"]
    indent = " " * len(head) + "  "
    lines += [f"{indent}because {reason}" for reason in p.reasons]
    return lines


def _new_bytes(prepared: Any, p: Plan) -> int:
    """The size of the result's buffer, or 0 when it is not known before converting."""
    row = DTYPES.get(p.dtype)
    shape = (
        prepared.header.shape
        if isinstance(prepared, Exported)
        else getattr(prepared, "shape", None)
    )
    if row is None or shape is None:
        return 0
    try:
        count = math.prod(int(n) for n in shape)
    except (TypeError, ValueError):  # unknown sizes (a Dask array's nan chunks)
        return 0
    return (count * row.bits + 7) // 8


def plan_tree(
    tree: Any,
    to: Any,
    /,
    *,
    device: Any = None,
    dtype: Any = None,
    copy: bool | None = None,
    grad: Grad = "detach",
    requires_grad: bool = False,
    scalars: bool = False,
) -> TreePlan:
    """Say what :func:`convert_tree` would do, without converting anything.

    Takes the same arguments as :func:`convert_tree` and raises exactly the
    error it would raise.  Like :func:`xpbridge.plan`, it asks DLPack
    producers for their capsules (their headers decide the plans) and
    releases them unconsumed.

    Parameters
    ----------
    tree
        Nested dicts, lists, tuples, namedtuples, dataclass instances and
        registered containers, with arrays and other objects as leaves.
    to, device, dtype, copy, grad, requires_grad, scalars
        As for :func:`convert_tree`.

    Returns
    -------
    TreePlan
        The per-leaf plans by path, the counts of zero-copy and copied leaves,
        the bytes copied, and a readable ``str()``.

    Raises
    ------
    ConversionError
        The error :func:`xpbridge.plan` raises for the first leaf (in tree
        order) that cannot be converted, its message starting with the leaf's
        path; or an :class:`ArgumentError` for invalid keywords or a cyclic
        tree.

    Examples
    --------
    >>> import numpy as np, xpbridge as xb
    >>> p = xb.plan_tree({"w": np.zeros(3), "b": np.arange(2.0)[::-1]}, "torch")
    >>> p.aliasing, p.copying, p.bytes_copied
    (1, 1, 16)
    >>> p.plans["tree['b']"].steps
    ('copy', 'from_numpy')
    """
    r = resolve(to, device, dtype, copy, grad, requires_grad, scalars)
    leaves, treedef = flatten(tree)
    try:
        _, pending, repeats = _plan_all(leaves, r, None, planning=True)
    except _LeafFailed as failed:
        raise _located(failed, treedef.paths, "") from None
    paths = treedef.paths()
    plans: dict[str, Plan] = {}
    aliasing = copying = copied = 0
    for i, p, prepared in pending:
        plans[paths[i]] = p
        if p.aliases:
            aliasing += 1
        else:
            copying += 1
            copied += _new_bytes(prepared, p)
    same_as: dict[str, str] = {}
    if repeats:
        for i, first in repeats.items():
            same_as[paths[i]] = paths[first]
            if paths[first] in plans:
                plans[paths[i]] = plans[paths[first]]
        plans = {path: plans[path] for path in paths if path in plans}  # tree order
    passed: dict[str, str] = {}
    # Counted first: a tree of arrays only (the common one) skips a pass over
    # every leaf.
    if len(plans) + len(same_as) - sum(path in plans for path in same_as) < len(paths):
        passed = {
            path: type(leaf).__qualname__
            for path, leaf in zip(paths, leaves, strict=True)
            if path not in plans and path not in same_as
        }
    return TreePlan(r.target.name, plans, passed, same_as, aliasing, copying, copied, paths)


def convert_tree(
    tree: Any,
    to: Any,
    /,
    *,
    device: Any = None,
    dtype: Any = None,
    copy: bool | None = None,
    grad: Grad = "detach",
    requires_grad: bool = False,
    scalars: bool = False,
) -> Any:
    """Convert every array in a tree of containers, returning the same structure.

    Each array leaf is converted exactly as :func:`xpbridge.convert` would
    convert it alone (result, plan and errors).  The whole tree is planned
    first: if any leaf fails, the error names its path and nothing is
    converted.  An object that appears twice is converted once and appears
    twice in the result; so does a container.

    Parameters
    ----------
    tree
        Nested ``dict`` (also ``OrderedDict``, ``defaultdict``), ``list``,
        ``tuple``, ``collections.deque``, namedtuple and dataclass instances,
        containers registered with :func:`register_container`, and the nodes
        optree and ``torch.utils._pytree`` know when those modules are
        already imported.  Anything else is a leaf.
    to
        The target library, as for :func:`xpbridge.convert`: a name, a module
        or namespace, or an array (its library and device).
    device, dtype, copy, grad, requires_grad
        As for :func:`xpbridge.convert`, applied to every array leaf.
    scalars
        Also convert Python ``bool``, ``int``, ``float`` and ``complex`` leaves
        into 0-d arrays (the target infers their dtype).  By default they are
        returned unchanged, like ``None``, strings, bytes and other objects.

    Returns
    -------
    object
        A tree of the same structure (new containers; the leaves converted,
        or the very objects that were passed through).

    Raises
    ------
    ConversionError
        The error :func:`xpbridge.convert` raises for the first leaf (in tree
        order) that cannot be converted, its message starting with the
        leaf's path (``tree['coef_'][2]: ...``); nothing is converted.
    ArgumentError
        Invalid keywords, an unknown target, or a tree that contains itself.

    Examples
    --------
    >>> import numpy as np, torch, xpbridge as xb
    >>> state = {"coef_": np.array([1.0, 2.0]), "layers": [np.zeros(2), None], "n_iter_": 7}
    >>> out = xb.convert_tree(state, "torch")
    >>> out["coef_"], out["layers"][1], out["n_iter_"]
    (tensor([1., 2.], dtype=torch.float64), None, 7)
    >>> xb.convert_tree({"w": torch.ones(2, requires_grad=True)}, "numpy", grad="raise")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xpbridge.errors.GradError: tree['w']: the source requires grad and numpy has no autograd, ...
    """
    r = resolve(to, device, dtype, copy, grad, requires_grad, scalars)
    leaves, treedef = flatten(tree)
    return treedef.unflatten(convert_leaves(leaves, r, treedef.paths, fast_path(r)))
