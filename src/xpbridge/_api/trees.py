"""Whole trees of arrays: ``convert_tree``, ``plan_tree`` and the TreePlan.

:mod:`xpbridge._trees.walk` takes the tree apart; its leaves go through the
one pipeline together (:mod:`xpbridge._pipeline.leaves`): each array leaf
gets exactly what :func:`xpbridge.convert` would do to it, every leaf is
planned before any step runs, and a leaf that fails names its path with
nothing converted.  A tree plan is made of the leaves' own plans.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .._lib.dlpack import Exported
from .._lib.dtypes import DTYPES
from .._lib.typing import Grad
from .._pipeline.leaves import LeafFailed, convert_leaves, located, plan_leaves
from .._pipeline.plan import Plan, html_table
from .._pipeline.request import Request, request_of
from .._trees.walk import flatten
from ..errors import ArgumentError

__all__ = ["TreePlan", "convert_tree", "plan_tree"]


def check_scalars(scalars: Any) -> bool:
    """``scalars=``'s own value."""
    if scalars is not True and scalars is not False:
        raise ArgumentError(f"scalars must be True or False, not {scalars!r}")
    return scalars


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
    route : str
        How a :func:`compute_in` call with these arguments runs: ``"eager"``
        (always for :func:`plan_tree`), ``"jax-callback"`` (traced JAX
        arguments: on the host through ``jax.pure_callback``; the plans are
        for the NumPy arrays the host sees), ``"dask-task"`` or
        ``"dask-blocks"`` (Dask arguments: one deferred task, or block by
        block; likewise).

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
        "route",
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
    route: str
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
        route: str = "eager",
    ) -> None:
        values = {
            "route": route,
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
        return (
            self.target,
            dict(self.plans),
            self.passed_through,
            dict(self.same_as),
            self.route,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TreePlan) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"TreePlan(target={self.target!r}, leaves={len(self.plans)}, "
            f"aliasing={self.aliasing}, copying={self.copying}, "
            f"bytes_copied={self.bytes_copied}, passed_through={len(self.passed_through)})"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's display: the readable form (``repr`` stays unambiguous)."""
        printer.text(str(self))

    def _repr_html_(self) -> str:
        """A notebook's display: one row per leaf."""
        rows = [(self._head(), "")]
        for path in self._order:
            if path in self.same_as:
                rows.append((path, f"the same object as {self.same_as[path]}"))
            elif path in self.plans:
                p = self.plans[path]
                why = "; ".join(p.reasons)
                text = f"{p.source} -> {p.target} {p.dtype}: {', '.join(p.steps) or 'none'}"
                rows.append((path, f"{text} ({_result(p)})" + (f", because {why}" if why else "")))
            else:
                rows.append((path, f"passed through ({self._passed_types[path]})"))
        return html_table("TreePlan", rows)

    def _head(self) -> str:
        arrays = self.aliasing + self.copying
        passed = len(self.passed_through)
        route = "" if self.route == "eager" else f" ({self.route}: {_ROUTES[self.route]})"
        return (
            f"tree -> {self.target}{route}: {arrays} {'array' if arrays == 1 else 'arrays'} "
            f"({self.aliasing} zero-copy, {self.copying} copied: {self.bytes_copied} bytes), "
            f"{passed} {'leaf' if passed == 1 else 'leaves'} passed through"
        )

    def __str__(self) -> str:
        lines = [self._head()]
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


_ROUTES = {
    "jax-callback": "run on the host through jax.pure_callback",
    "dask-task": "one deferred task over the whole Dask arrays",
    "dask-blocks": "map_blocks over the Dask chunks",
}


def _result(p: Plan) -> str:
    result = "zero-copy" if p.aliases else "new buffer"
    return result if p.writable else f"{result}, read-only"


def _leaf_lines(head: str, p: Plan) -> list[str]:
    steps = ", ".join(p.steps) or "none: the source itself"
    lines = [f"{head}{p.source} -> {p.target} {p.dtype} on {p.device}: {steps} ({_result(p)})"]
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
    narrow: bool | None = None,
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
    to, device, dtype, copy, grad, requires_grad, scalars, narrow
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
    r = request_of(to, device, dtype, copy, grad, requires_grad, narrow)
    scalars = check_scalars(scalars)
    leaves, treedef = flatten(tree)
    return tree_plan(leaves, treedef.paths, r, scalars)


def tree_plan(
    leaves: list[Any],
    paths_of: Any,
    r: Request,
    scalars: bool,
    route: str = "eager",
) -> TreePlan:
    """The TreePlan of a flattened tree's leaves (``paths_of()`` names them)."""
    try:
        _, pending, repeats = plan_leaves(leaves, r, scalars, exact=True)
    except LeafFailed as failed:
        raise located(failed, paths_of, "") from None
    paths = paths_of()
    plans: dict[str, Plan] = {}
    aliasing = copying = copied = 0
    for i, entry, prepared, _ in pending:
        p = entry.plan
        assert p is not None  # exact plans
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
    return TreePlan(r.target.name, plans, passed, same_as, aliasing, copying, copied, paths, route)


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
    narrow: bool | None = None,
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
    device, dtype, copy, grad, requires_grad, narrow
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
    r = request_of(to, device, dtype, copy, grad, requires_grad, narrow)
    scalars = check_scalars(scalars)
    leaves, treedef = flatten(tree)
    return treedef.unflatten(convert_leaves(leaves, r, scalars, treedef.paths))
