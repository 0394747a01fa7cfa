"""Trees of containers: take them apart into leaves, name each leaf's path, rebuild them.

Walked: ``dict`` (and ``OrderedDict``, ``defaultdict``), ``list``, ``tuple``,
``collections.deque``, namedtuples and dataclass instances, exact types only
(as optree, JAX and torch's pytree do: a subclass is a container only once it
is registered); types registered with :func:`register_container`; and the
nodes ``torch.utils._pytree`` knows and those in optree's global registry
(what ``optree.tree_flatten`` walks without a namespace), when those modules
are already imported.  They are never imported here: a program that never
imported them cannot have registered anything with them, and
``import xpbridge`` stays framework-free.

Written by hand rather than on optree because optree is an optional
dependency that may not be installed, and because the walk must classify
each leaf (array, Python scalar, anything else) on the way, which a generic
flatten would make a second pass over the leaves.

A type's kind (a container :class:`Node`, ``ARRAY``, ``SCALAR`` or ``OTHER``)
is decided once and cached, except for objects nothing recognises, which are
asked again each time (a later registration may claim them).
"""

from __future__ import annotations

import copy as _copy
import sys
import threading
from collections import OrderedDict, defaultdict, deque
from collections.abc import Callable, Sequence
from typing import Any, Final

from ..backends import registry as _registry
from ..errors import ArgumentError, UnsupportedInputError

__all__ = [
    "ARRAY",
    "OTHER",
    "SCALAR",
    "Node",
    "TreeDef",
    "flatten",
    "kind_of",
    "register_container",
]

ARRAY: Final = "array"  # a leaf some backend converts
SCALAR: Final = "scalar"  # a Python bool, int, float or complex
OTHER: Final = "other"  # None, str, bytes, anything else: passed through unchanged

# Path styles: how a child's entry is written after its parent's path.
_ITEM, _ATTR, _INDEX, _STR = "item", "attr", "index", "str"


class Node:
    """How one container type is taken apart and put back together.

    ``flatten(obj)`` returns ``(children, aux, entries)``: the children in
    order, what ``unflatten(aux, children)`` needs besides them, and the
    entries that name the children in a path (None: their indices).
    """

    __slots__ = ("flatten", "style", "unflatten")

    def __init__(
        self,
        flatten: Callable[[Any], tuple[list[Any], Any, Sequence[Any] | None]],
        unflatten: Callable[[Any, list[Any]], Any],
        style: str = _ITEM,
    ) -> None:
        self.flatten = flatten
        self.unflatten = unflatten
        self.style = style


def _dict_node(rebuild: Callable[[Any, list[Any]], Any]) -> Node:
    def flatten(d: Any) -> tuple[list[Any], Any, Sequence[Any]]:
        keys = tuple(d)
        return list(d.values()), keys, keys

    return Node(flatten, rebuild)


def _defaultdict_flatten(d: Any) -> tuple[list[Any], Any, Sequence[Any]]:
    keys = tuple(d)
    return list(d.values()), (d.default_factory, keys), keys


_BUILTIN_NODES: dict[type, Node] = {
    dict: _dict_node(lambda keys, children: dict(zip(keys, children, strict=True))),
    OrderedDict: _dict_node(lambda keys, children: OrderedDict(zip(keys, children, strict=True))),
    defaultdict: Node(
        _defaultdict_flatten,
        lambda aux, children: defaultdict(aux[0], zip(aux[1], children, strict=True)),
    ),
    list: Node(lambda x: (list(x), None, None), lambda aux, children: children, _INDEX),
    tuple: Node(lambda x: (list(x), None, None), lambda aux, children: tuple(children), _INDEX),
    deque: Node(
        lambda x: (list(x), x.maxlen, None),
        lambda maxlen, children: deque(children, maxlen=maxlen),
        _INDEX,
    ),
}
_PASSED_BY_TYPE = (type(None), str, bytes)  # leaves that are never arrays
_SCALARS = (bool, int, float, complex)

_REGISTERED: dict[type, Node] = {}
_KINDS: dict[type, Node | str] = {}  # cache: a type's kind, decided once
# A type's kind depends on which backend owns it: decided again when a
# backend is registered or replaced (register_container clears it too).
_registry.on_change(_KINDS.clear)
_LOCK = threading.Lock()


def register_container(
    cls: type,
    flatten: Callable[[Any], Any],
    unflatten: Callable[[Any, list[Any]], Any],
    *,
    replace: bool = False,
) -> None:
    """Register a container type whose contents the tree functions walk.

    The signature is optree's (``register_pytree_node``), so one pair of
    functions serves both libraries.

    Parameters
    ----------
    cls
        The container type.  Only this exact type is walked, not its subclasses.
    flatten
        ``flatten(obj) -> (children, aux)`` or ``(children, aux, entries)``:
        the children in order, the data ``unflatten`` needs besides them, and
        optionally one entry per child that names it in paths
        (``tree['weights']``); without entries, children are named by index.
    unflatten
        ``unflatten(aux, children) -> obj``: a new container of the same kind
        holding ``children`` (a list).
    replace
        Replace an earlier registration of ``cls`` instead of raising.

    Returns
    -------
    None
        The registration is process-wide and takes effect for every later walk.

    Raises
    ------
    ArgumentError
        ``cls`` is not a type, a function is not callable, or ``cls`` is
        registered already and ``replace`` is false.

    Examples
    --------
    >>> import numpy as np, xpbridge as xb
    >>> class Pair:
    ...     def __init__(self, first, second):
    ...         self.first, self.second = first, second
    >>> xb.register_container(
    ...     Pair,
    ...     lambda p: ((p.first, p.second), None, ("first", "second")),
    ...     lambda aux, children: Pair(*children),
    ... )
    >>> p = xb.convert_tree(Pair(np.zeros(2), np.ones(2)), "torch")
    >>> p.second
    tensor([1., 1.], dtype=torch.float64)
    """
    if not isinstance(cls, type):
        raise ArgumentError(f"register_container needs a type, not {cls!r}")
    if not all(map(callable, (flatten, unflatten))):
        raise ArgumentError("register_container needs callable flatten and unflatten functions")
    with _LOCK:
        if cls in _REGISTERED and not replace:
            raise ArgumentError(
                f"{cls.__qualname__} is registered already; pass replace=True to replace it"
            )
        _REGISTERED[cls] = Node(_checked(cls, flatten), unflatten, _ITEM)
        _KINDS.clear()


def _checked(
    cls: type, flatten: Callable[[Any], Any]
) -> Callable[[Any], tuple[list[Any], Any, Sequence[Any] | None]]:
    """A user's flatten, normalised to (children, aux, entries), with a clear error if wrong."""

    def run(obj: Any) -> tuple[list[Any], Any, Sequence[Any] | None]:
        out = flatten(obj)
        if not isinstance(out, tuple) or len(out) not in (2, 3):
            raise ArgumentError(
                f"the flatten function registered for {cls.__qualname__} must return "
                f"(children, aux) or (children, aux, entries), not {out!r}"
            )
        children = list(out[0])
        entries = out[2] if len(out) == 3 else None
        if entries is not None and len(entries) != len(children):
            raise ArgumentError(
                f"the flatten function registered for {cls.__qualname__} returned "
                f"{len(children)} children but {len(entries)} entries"
            )
        return children, out[1], entries

    return run


def _namedtuple_node(cls: type) -> Node:
    fields = cls._fields  # type: ignore[attr-defined]
    make = cls._make  # type: ignore[attr-defined]
    return Node(lambda x: (list(x), None, fields), lambda aux, children: make(children), _ATTR)


def _dataclass_flatten(obj: Any) -> tuple[list[Any], Any, Sequence[Any]]:
    names = [
        f.name
        for f in sys.modules["dataclasses"].fields(obj)
        if hasattr(obj, f.name)  # an init=False field may never have been set
    ]
    return [getattr(obj, name) for name in names], (obj, names), names


def _dataclass_unflatten(aux: Any, children: list[Any]) -> Any:
    # A shallow copy with the fields replaced: no __init__ or __post_init__ runs
    # again (they may validate or convert their inputs), and frozen instances work.
    obj, names = aux
    new = _copy.copy(obj)
    for name, value in zip(names, children, strict=True):
        object.__setattr__(new, name, value)
    return new


_DATACLASS = Node(_dataclass_flatten, _dataclass_unflatten, _ATTR)


def _optree_node(cls: type) -> Node | None:
    optree = sys.modules.get("optree")
    if optree is None:
        return None
    # The global registry: what optree.tree_flatten sees without a namespace.
    # A type registered in a named namespace is a leaf there, and here.
    entry = optree.register_pytree_node.get(cls)
    if entry is None:
        return None
    return Node(_checked(cls, entry.flatten_func), entry.unflatten_func, _ITEM)


def _torch_node(cls: type) -> Node | None:
    pytree = sys.modules.get("torch.utils._pytree")
    node = None if pytree is None else pytree.SUPPORTED_NODES.get(cls)
    if node is None:
        return None
    flatten, unflatten = node.flatten_fn, node.unflatten_fn
    with_keys = node.flatten_with_keys_fn

    def run(obj: Any) -> tuple[list[Any], Any, Sequence[Any] | None]:
        if with_keys is not None:
            pairs, context = with_keys(obj)
            return [child for _, child in pairs], context, [key for key, _ in pairs]
        children, context = flatten(obj)
        return list(children), context, None

    # torch's unflatten takes (children, context): the other order from optree's.
    return Node(run, lambda context, children: unflatten(children, context), _STR)


def _classify(x: Any) -> tuple[Node | str, bool]:
    """The kind of ``type(x)``, and whether it may be cached."""
    cls = type(x)
    node = _REGISTERED.get(cls) or _BUILTIN_NODES.get(cls)
    if node is not None:
        return node, True
    if issubclass(cls, _PASSED_BY_TYPE):
        return OTHER, True
    if cls in _SCALARS:
        return SCALAR, True
    if issubclass(cls, tuple) and hasattr(cls, "_fields") and hasattr(cls, "_make"):
        return _namedtuple_node(cls), True
    if hasattr(cls, "__dataclass_fields__") and not isinstance(x, type):
        return _DATACLASS, True
    node = _torch_node(cls) or _optree_node(cls)
    if node is not None:
        return node, True
    try:
        backend = _registry.backend_of(x)
    except UnsupportedInputError:
        return OTHER, False  # a later registration (a backend, a container) may claim it
    # The Python backend also owns unregistered list and tuple subclasses and
    # scalar subclasses: neither is an array.  An owner found for this object
    # alone (an __array_interface__ set on the instance) says nothing of its type.
    return (OTHER if backend.name == "python" else ARRAY), cls in _registry._BY_TYPE


def kind_of(x: Any) -> Node | str:
    """The kind of ``x``: the :class:`Node` of a container, or ``ARRAY``, ``SCALAR``, ``OTHER``."""
    kind = _KINDS.get(type(x))
    if kind is None:
        kind, cacheable = _classify(x)
        if cacheable:
            _KINDS[type(x)] = kind
    return kind


class TreeDef:
    """The structure of a flattened tree: rebuilds it and names the path of each leaf.

    A container's spec is ``(node, aux, entries, children, subs, leaves, obj)``:
    its number of children, the specs of those children that are containers
    themselves (by position; the others are leaves), its number of leaves in
    all, and the container itself (held, so that its ``id`` cannot be reused
    by another object while the spec lives).  A tree that is a single leaf
    has no spec.
    """

    __slots__ = ("spec",)

    def __init__(self, spec: tuple[Any, ...] | None) -> None:
        self.spec = spec

    def unflatten(self, leaves: Sequence[Any]) -> Any:
        """The tree rebuilt with ``leaves`` in place of its leaves, in order.

        A container object that appeared twice is rebuilt once and appears
        twice, as :func:`copy.deepcopy` does.
        """
        if self.spec is None:
            return leaves[0]
        return _build(self.spec, leaves, 0, {})[0]

    def paths(self, root: str = "tree") -> list[str]:
        """Each leaf's path, in leaf order, e.g. ``tree['coef_'][2]``."""
        if self.spec is None:
            return [root]
        out: list[str] = []
        _paths(self.spec, root, out)
        return out


def _build(
    spec: tuple[Any, ...], leaves: Sequence[Any], start: int, memo: dict[int, Any]
) -> tuple[Any, int]:
    node, aux, _, n_children, subs, n_leaves, obj = spec
    end = start + n_leaves
    identity = id(obj)
    if identity in memo:  # the same container object again: the same result object
        return memo[identity], end
    if not subs:
        children = list(leaves[start:end])
    else:
        children = []
        position = start
        for i in range(n_children):
            sub = subs.get(i)
            if sub is None:
                children.append(leaves[position])
                position += 1
            else:
                child, position = _build(sub, leaves, position, memo)
                children.append(child)
    result = node.unflatten(aux, children)
    memo[identity] = result
    return result, end


def _paths(spec: tuple[Any, ...], prefix: str, out: list[str]) -> None:
    node, _, entries, n_children, subs, _, _ = spec
    style = node.style
    for i in range(n_children):
        entry = i if entries is None else entries[i]
        if style == _ATTR:
            path = f"{prefix}.{entry}"
        elif style == _STR:
            path = f"{prefix}{entry}"
        else:
            path = f"{prefix}[{entry!r}]"
        sub = subs.get(i)
        if sub is None:
            out.append(path)
        else:
            _paths(sub, path, out)


def flatten(tree: Any) -> tuple[list[Any], TreeDef]:
    """The leaves of ``tree`` in order (one per path), and its :class:`TreeDef`.

    Raises
    ------
    ArgumentError
        The tree contains itself.
    """
    kind = _KINDS.get(type(tree)) or kind_of(tree)
    if type(kind) is not Node:
        return [tree], TreeDef(None)
    leaves: list[Any] = []
    spec = _walk(tree, kind, leaves, set())
    return leaves, TreeDef(spec)


def _walk(obj: Any, node: Node, leaves: list[Any], stack: set[int]) -> tuple[Any, ...]:
    identity = id(obj)
    if identity in stack:
        raise ArgumentError(
            f"the tree contains itself (a {type(obj).__qualname__} inside itself): "
            f"a cyclic structure has no finite conversion"
        )
    stack.add(identity)
    children, aux, entries = node.flatten(obj)
    start = len(leaves)
    subs: dict[int, tuple[Any, ...]] = {}
    kinds = _KINDS
    known = [kinds.get(cls) for cls in set(map(type, children))]  # a few types, in C
    if None not in known and not any(type(kind) is Node for kind in known):
        leaves.extend(children)  # all leaves of known kinds: the common case, no loop
    else:
        append = leaves.append
        for i, child in enumerate(children):
            kind = kinds.get(type(child)) or kind_of(child)
            if type(kind) is Node:
                subs[i] = _walk(child, kind, leaves, stack)
            else:
                append(child)
    stack.discard(identity)
    return (node, aux, entries, len(children), subs, len(leaves) - start, obj)
