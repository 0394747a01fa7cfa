"""Trees of containers: take them apart into leaves, name each leaf's path, rebuild them.

Walked: ``dict`` (and ``OrderedDict``, ``defaultdict``), ``list``, ``tuple``,
``collections.deque``, namedtuples and dataclass instances, objects whose class
names its array attributes (``__xpbridge_attributes__``) and scikit-learn
estimators (when scikit-learn is already imported), exact types only
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

from .._lib.memo import Memo, clear_all
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

_REGISTERED: dict[type, Node] = {}  # the registrations themselves: a table, not a memo
# A type's kind, decided once.  Cleared with every memo when a backend or a
# container is registered, and when torch's or optree's pytree registry grows
# (their registrations do not tell us: _pytree_epoch is compared per walk).
_KINDS: Memo[Node | str] = Memo("tree kinds by type", "the exact type of a tree node", by_type=True)
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
    clear_all()  # a type's kind may have changed


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


def _namedtuple_flatten(x: Any) -> tuple[list[Any], Any, Sequence[Any]]:
    cls = type(x)
    return list(x), cls, cls._fields


def _namedtuple_unflatten(cls: Any, children: list[Any]) -> Any:
    return cls._make(children)


# One node for every namedtuple class: it holds no class (a memo of kinds keyed
# weakly by class must not keep it alive through its value).
_NAMEDTUPLE = Node(_namedtuple_flatten, _namedtuple_unflatten, _ATTR)


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
    new = _shallow_copy(obj)
    for name, value in zip(names, children, strict=True):
        object.__setattr__(new, name, value)
    return new


def _shallow_copy(obj: Any) -> Any:
    """A new object of ``obj``'s type holding the same attributes: never ``obj`` itself.

    ``copy.copy`` first (it honours ``__copy__`` and ``__reduce__``); a
    ``__copy__`` that returns the object itself (an immutable-by-convention
    class) would let the rebuilt tree write into the caller's object, so then
    the attributes are copied by hand, ``__dict__`` and slots alike.
    """
    new = _copy.copy(obj)
    if new is not obj:
        return new
    cls = type(obj)
    new = object.__new__(cls)
    state = getattr(obj, "__dict__", None)
    if state is not None:
        object.__setattr__(new, "__dict__", dict(state))
    for klass in cls.__mro__:
        for slot in getattr(klass, "__slots__", ()):
            if slot not in ("__dict__", "__weakref__") and hasattr(obj, slot):
                object.__setattr__(new, slot, getattr(obj, slot))
    return new


_DATACLASS = Node(_dataclass_flatten, _dataclass_unflatten, _ATTR)


# Whole objects.  A class says which attributes hold arrays with
# ``__xpbridge_attributes__`` (a sequence of names, or a method returning one)
# and may say how to rebuild itself with ``__xpbridge_rebuild__(attributes)``;
# a scikit-learn estimator is walked through every attribute it holds
# (``vars(est)``: its parameters, where a Pipeline keeps its fitted steps, and
# its fitted ``*_`` attributes).  The result is a copy: the source is never
# modified.


def _attribute_names(obj: Any) -> list[str]:
    declared = getattr(type(obj), "__xpbridge_attributes__", None)
    if declared is None:
        names = list(vars(obj))  # an estimator: all it holds
    else:
        names = list(declared(obj) if callable(declared) else declared)
    return [name for name in names if hasattr(obj, name)]  # one never set is left out


def _object_flatten(obj: Any) -> tuple[list[Any], Any, Sequence[Any]]:
    names = _attribute_names(obj)
    return [getattr(obj, name) for name in names], (obj, names), names


def _object_unflatten(aux: Any, children: list[Any]) -> Any:
    obj, names = aux
    changed = dict(zip(names, children, strict=True))
    rebuild = getattr(obj, "__xpbridge_rebuild__", None)
    if rebuild is not None:
        return rebuild(changed)
    new = _shallow_copy(obj)
    for name, value in changed.items():
        object.__setattr__(new, name, value)
    return new


_OBJECT = Node(_object_flatten, _object_unflatten, _ATTR)


def _is_estimator(cls: type) -> bool:
    """Whether ``cls`` is a scikit-learn estimator (never imports scikit-learn)."""
    base = sys.modules.get("sklearn.base")
    estimator = getattr(base, "BaseEstimator", None)
    return estimator is not None and issubclass(cls, estimator)


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
    """The kind of ``type(x)``, and whether it may be memoised."""
    cls = type(x)
    node = _REGISTERED.get(cls) or _BUILTIN_NODES.get(cls)
    if node is not None:
        return node, True
    if issubclass(cls, _PASSED_BY_TYPE):
        return OTHER, True
    if cls in _SCALARS:
        return SCALAR, True
    if isinstance(x, type):
        pass  # a class itself is a leaf, whatever protocol its instances speak
    elif hasattr(cls, "__xpbridge_attributes__") or _is_estimator(cls):
        return _OBJECT, True
    if issubclass(cls, tuple) and hasattr(cls, "_fields") and hasattr(cls, "_make"):
        return _NAMEDTUPLE, True
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
    kind = OTHER if backend.name == "python" else ARRAY
    return kind, _registry.owner_of_type(cls) is backend


def kind_of(x: Any) -> Node | str:
    """The kind of ``x``: the :class:`Node` of a container, or ``ARRAY``, ``SCALAR``, ``OTHER``."""
    kind = _KINDS.data.get(type(x)) or _KINDS.get(type(x))
    if kind is None:
        kind, memoised = _classify(x)
        if memoised:
            _KINDS.put(type(x), kind)
    return kind


_SEEN_EPOCH: list[tuple[int, int]] = [(-1, -1)]


def _pytree_epoch() -> tuple[int, int]:
    """How many node types torch's and optree's registries hold (-1: not imported).

    Neither tells us of a registration: a change in size since the last walk
    means a type's kind may have changed.
    """
    pytree = sys.modules.get("torch.utils._pytree")
    optree = sys.modules.get("optree.registry")
    nodes = getattr(pytree, "SUPPORTED_NODES", None)
    registry = getattr(optree, "_NODETYPE_REGISTRY", None)  # no public size; absent: -1
    return (-1 if nodes is None else len(nodes), -1 if registry is None else len(registry))


def _forget_kinds_if_pytrees_changed() -> None:
    epoch = _pytree_epoch()
    if epoch != _SEEN_EPOCH[0]:
        _KINDS.clear()
        _SEEN_EPOCH[0] = epoch


# A container in a flattened tree: its node, what unflatten needs, the path
# entries, its children (a leaf index, or ~index of another container), and the
# container itself (held, so that its id stays unique while the record lives).
class _Record:
    __slots__ = ("aux", "children", "entries", "first", "held", "node", "obj")

    def __init__(
        self, node: Node, aux: Any, entries: Sequence[Any] | None, obj: Any, held: list[Any]
    ) -> None:
        self.node, self.aux, self.entries, self.obj = node, aux, entries, obj
        self.held = held  # the children it held, as flatten gave them
        self.children: list[int] | None = None  # None: leaves[first : first + count] only
        self.first = 0


class TreeDef:
    """The structure of a flattened tree: rebuilds it and names the path of each leaf.

    Containers are kept in the order they were met (a parent before its
    children), so that rebuilding them in reverse order finds every child
    built.  A tree that is a single leaf has no container.  Nothing here
    recurses: a tree nested as deep as memory allows is walked.
    """

    __slots__ = ("counts", "records")

    def __init__(self, records: list[_Record], counts: list[int]) -> None:
        self.records = records
        self.counts = counts  # per record: its number of children

    def unflatten(self, leaves: Sequence[Any], *, keep_unchanged: bool = False) -> Any:
        """The tree rebuilt with ``leaves`` in place of its leaves, in order.

        A container object that appeared twice is rebuilt once and appears
        twice, as :func:`copy.deepcopy` does.  ``keep_unchanged``: a container
        whose children are all the very objects it held is itself kept, not
        rebuilt (``compute_in`` hands a function its caller's own objects).
        """
        records = self.records
        if not records:
            return leaves[0]
        built: list[Any] = [None] * len(records)
        by_id: dict[int, Any] = {}
        for i in range(len(records) - 1, -1, -1):
            record = records[i]
            done = by_id.get(id(record.obj), _MISSING)
            if done is not _MISSING:
                built[i] = done
                continue
            refs = record.children
            if refs is None:
                children = list(leaves[record.first : record.first + self.counts[i]])
            else:
                children = [leaves[c] if c >= 0 else built[~c] for c in refs]
            if keep_unchanged and _unchanged(record, children):
                result = record.obj
            else:
                result = record.node.unflatten(record.aux, children)
            built[i] = by_id[id(record.obj)] = result
        return built[0]

    def paths(self, root: str = "tree") -> list[str]:
        """Each leaf's path, in leaf order, e.g. ``tree['coef_'][2]``."""
        records = self.records
        if not records:
            return [root]
        out: list[tuple[int, str]] = []
        prefixes = [root] + [""] * (len(records) - 1)
        for i, record in enumerate(records):
            refs = record.children
            count = self.counts[i]
            indices = range(record.first, record.first + count) if refs is None else refs
            for position, ref in enumerate(indices):
                entry = position if record.entries is None else record.entries[position]
                path = _entry_path(record.node.style, prefixes[i], entry)
                if ref >= 0:
                    out.append((ref, path))
                else:
                    prefixes[~ref] = path
        out.sort()
        return [path for _, path in out]


_MISSING = object()
_LEAF_KINDS = frozenset({ARRAY, SCALAR, OTHER})


def _unchanged(record: _Record, children: list[Any]) -> bool:
    return all(a is b for a, b in zip(record.held, children, strict=True))


def _entry_path(style: str, prefix: str, entry: Any) -> str:
    if style == _ATTR:
        return f"{prefix}.{entry}"
    if style == _STR:
        return f"{prefix}{entry}"
    return f"{prefix}[{entry!r}]"


def flatten(tree: Any) -> tuple[list[Any], TreeDef]:
    """The leaves of ``tree`` in order (one per path), and its :class:`TreeDef`.

    Raises
    ------
    ArgumentError
        The tree contains itself.
    """
    _forget_kinds_if_pytrees_changed()
    kind = _KINDS.data.get(type(tree)) or kind_of(tree)
    if type(kind) is not Node:
        return [tree], TreeDef([], [])
    leaves: list[Any] = []
    records: list[_Record] = []
    counts: list[int] = []
    kinds = _KINDS.data
    # Each open container: its record index, its children, the next child, and
    # the ids of the containers it sits in (a container inside itself is a cycle).
    stack: list[tuple[int, list[Any], int]] = []
    open_ids: set[int] = set()

    def enter(obj: Any, node: Node) -> tuple[int, list[Any], int] | None:
        """Record a container; the frame to walk its children in (None: all leaves, done)."""
        identity = id(obj)
        if identity in open_ids:
            raise ArgumentError(
                f"the tree contains itself (a {type(obj).__qualname__} inside itself): "
                f"a cyclic structure has no finite conversion"
            )
        children, aux, entries = node.flatten(obj)
        index = len(records)
        record = _Record(node, aux, entries, obj, children)
        record.first = len(leaves)
        records.append(record)
        counts.append(len(children))
        if _LEAF_KINDS.issuperset(map(kinds.get, set(map(type, children)))):  # a few types, in C
            leaves.extend(children)  # all leaves of known kinds: the common case, no loop
            return None
        open_ids.add(identity)
        record.children = []
        return index, children, 0

    first = enter(tree, kind)
    if first is not None:
        stack.append(first)
    while stack:
        index, children, position = stack.pop()
        record = records[index]
        refs = record.children
        assert refs is not None
        while position < len(children):
            child = children[position]
            position += 1
            kind = kinds.get(type(child)) or kind_of(child)
            if type(kind) is Node:
                refs.append(~len(records))
                frame = enter(child, kind)
                if frame is not None:  # walk the child's children first, then come back
                    stack += ((index, children, position), frame)
                    break
                continue
            refs.append(len(leaves))
            leaves.append(child)
        else:
            open_ids.discard(id(record.obj))
    return leaves, TreeDef(records, counts)
