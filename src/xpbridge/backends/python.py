"""Python scalars and (nested) sequences: the target's own ``asarray`` infers the dtype.

The values are read (never copied) to describe them, level by level, in C
where it can (``map``, ``min``, ``max``): the shape (or why there is none: a
ragged sequence, one that contains itself, one nested deeper than any
library's arrays), the widest Python kind among the leaves, the range of the
integers and of every real value (complex parts included), and whether
``inf`` or NaN occurs.  That is enough for the planner to say the exact
result dtype (the target's inference rule) and to refuse, in ``plan`` as in
``convert``, what the result cannot hold.

Arrays inside a sequence (``[t0, t1]`` of 0-d tensors, a list of NumPy
arrays) are described by their own backends; the plan converts each to NumPy
through the pipeline first (detached, or refused under ``grad="raise"``),
then the target's ``asarray`` makes one array of them.
"""

from __future__ import annotations

from itertools import chain
from math import isfinite, isinf, isnan
from typing import Any, ClassVar, NamedTuple

from .._lib.devices import CPU, Device
from .._lib.traits import Traits
from ._base import Backend, Extent

__all__ = ["SCAN_DEPTH", "PythonBackend", "Values", "scan"]

_ORDER = ("empty", "bool", "int", "float", "complex")
_SEQUENCES = (list, tuple)
_SCALARS = (bool, int, float, complex)
_EXACT_SEQUENCES = frozenset(_SEQUENCES)
_EXACT_SCALARS = frozenset(_SCALARS)

# Deeper than any library makes arrays from nested sequences (torch: 128,
# NumPy: 64): the scan stops there, so a sequence that contains itself ends.
SCAN_DEPTH = 1024


class Values(NamedTuple):
    """What the planner reads of Python values.

    Attributes
    ----------
    kind : str
        The widest kind among the leaves: ``"bool"``, ``"int"``, ``"float"``,
        ``"complex"``; ``"empty"`` (no leaf: ``[]``, ``[[], []]``); ``"mixed"``
        when a leaf is something else (an array, a string).
    ndim : int
        How deep the sequences are nested (0 for a scalar); past
        :data:`SCAN_DEPTH` the scan stops and says ``SCAN_DEPTH + 1``.
    ragged : bool
        Sequences of one depth differ in length, or mix values and sequences.
    cyclic : bool
        A sequence contains itself.
    int_low, int_high : int or None
        The smallest and largest int (bools aside).
    low, high : int or float or None
        The smallest and largest finite real value: bools (as 0 and 1), ints,
        floats and the parts of complex numbers.
    inf, nan : bool
        Whether an infinity or a NaN occurs (a complex part included).
    arrays : tuple of Traits
        The distinct traits of the array leaves whose backends describe them
        in place (NumPy, torch, ...).
    more_arrays : bool
        An array leaf whose backend describes it only once it is exported (a
        protocol source): the plan cannot read it, the conversion does.
    """

    kind: str
    ndim: int
    ragged: bool = False
    cyclic: bool = False
    int_low: int | None = None
    int_high: int | None = None
    low: float | None = None
    high: float | None = None
    inf: bool = False
    nan: bool = False
    arrays: tuple[Traits, ...] = ()
    more_arrays: bool = False


class _Seen:
    """The scan's running summary of the leaves."""

    def __init__(self) -> None:
        self.widest = 0
        self.mixed = False
        self.int_low: int | None = None
        self.int_high: int | None = None
        self.low: float | None = None
        self.high: float | None = None
        self.inf = self.nan = False
        self.arrays: dict[Traits, None] = {}  # ordered, distinct
        self.more_arrays = False

    def kind(self, index: int) -> None:
        self.widest = max(self.widest, index)

    def reals(self, values: list[Any], finite: bool = False) -> None:
        """Take in real values (``finite``: ints, which are, and may be beyond any float)."""
        if not values:
            return
        if not finite and not all(map(isfinite, values)):
            self.inf = self.inf or any(map(isinf, values))
            self.nan = self.nan or any(map(isnan, values))
            values = [v for v in values if isfinite(v)]
            if not values:
                return
        low, high = min(values), max(values)
        self.low = low if self.low is None else min(self.low, low)
        self.high = high if self.high is None else max(self.high, high)

    def ints(self, values: list[Any]) -> None:
        low, high = min(values), max(values)
        self.int_low = low if self.int_low is None else min(self.int_low, low)
        self.int_high = high if self.int_high is None else max(self.int_high, high)
        self.reals([low, high], finite=True)
        self.kind(2)

    def leaves(self, items: list[Any], types: set[type]) -> None:
        """Take in one level's leaves (no sequence among them)."""
        for cls in types:
            group: list[Any] = items if len(types) == 1 else [v for v in items if type(v) is cls]
            if cls is bool:
                self.reals([int(min(group)), int(max(group))], finite=True)  # 0 and 1 need holding
                self.kind(1)
            elif cls is int or (issubclass(cls, int) and not issubclass(cls, bool)):
                self.ints(group if cls is int else [int(v) for v in group])  # IntEnum: its value
            elif cls is float:
                self.reals(group)
                self.kind(3)
            elif cls is complex:
                self.reals([v.real for v in group] + [v.imag for v in group])
                self.kind(4)
            else:
                # NumPy's scalars (np.float64 is a float subclass) among them: the
                # libraries infer their dtypes from them, so they are arrays here.
                self.others(group)

    def others(self, group: list[Any]) -> None:
        """Leaves that are not Python numbers: arrays (described by their backends) or objects."""
        self.mixed = True
        for item in group:
            backend = _array_backend(item)
            if backend is None:
                continue  # a string, None, an object: the target's asarray decides
            if type(backend).prepare is Backend.prepare:
                self.arrays.setdefault(backend.traits(item))
            else:
                self.more_arrays = True

    def values(self, ndim: int, ragged: bool = False, cyclic: bool = False) -> Values:
        return Values(
            "mixed" if self.mixed else _ORDER[self.widest],
            ndim,
            ragged,
            cyclic,
            self.int_low,
            self.int_high,
            self.low,
            self.high,
            self.inf,
            self.nan,
            tuple(self.arrays),
            self.more_arrays,
        )


def _array_backend(item: Any) -> Backend | None:
    """The backend of an array leaf of a sequence (None: not an array xpbridge converts)."""
    from ..errors import UnsupportedInputError
    from . import registry  # the registry imports this module

    try:
        backend = registry.backend_of(item)
    except UnsupportedInputError:
        return None
    # A Python number subclass or a sequence subclass is not an array; bytes
    # and str are text to NumPy, not buffers.
    return None if backend.name in ("python", "buffer") else backend


def scan(x: Any) -> Values:
    """Describe Python values level by level, without copying them.

    Examples
    --------
    >>> v = scan([1, [2, -300]])
    >>> v.kind, v.ragged, v.int_low, v.int_high
    ('int', True, -300, 2)
    >>> v = scan([[], []])
    >>> v.kind, v.ndim
    ('empty', 2)
    >>> loop = [1.0]
    >>> loop.append(loop)
    >>> scan(loop).cyclic
    True
    """
    seen = _Seen()
    if not isinstance(x, _SEQUENCES):
        seen.leaves([x], {type(x)})
        return seen.values(0)
    level: list[Any] = [x]
    depth = 0
    ragged = False
    while level:
        depth += 1
        if depth > SCAN_DEPTH:
            return seen.values(depth, ragged, _contains_itself(x))
        if len(level) > 1:
            if len(set(map(id, level))) < len(level):
                # One object at many places (shared rows): described once, so that
                # sharing never multiplies the work.
                level = list({id(s): s for s in level}.values())
            ragged = ragged or len(set(map(len, level))) > 1
            items = list(chain.from_iterable(level))
        else:
            items = list(level[0])
        types = set(map(type, items))
        if types <= _EXACT_SCALARS or not any(issubclass(c, _SEQUENCES) for c in types):
            level = []  # the common case of the innermost level: only values
        elif types <= _EXACT_SEQUENCES or all(issubclass(c, _SEQUENCES) for c in types):
            level = items  # the common case of an inner level: only sequences
            continue
        else:
            ragged = True  # values beside sequences at one depth
            level = [v for v in items if isinstance(v, _SEQUENCES)]
            items = [v for v in items if not isinstance(v, _SEQUENCES)]
            types = set(map(type, items))
        seen.leaves(items, types)
    return seen.values(depth, ragged)


def _contains_itself(x: Any) -> bool:
    """Whether a list or tuple holds itself, at any depth (each sequence visited once)."""
    on_path = {id(x)}
    done: set[int] = set()
    stack = [(x, iter(x))]
    while stack:
        node, children = stack[-1]
        for child in children:
            if isinstance(child, _SEQUENCES):
                key = id(child)
                if key in on_path:
                    return True
                if key not in done:
                    on_path.add(key)
                    stack.append((child, iter(child)))
                    break
        else:
            stack.pop()
            on_path.discard(id(node))
            done.add(id(node))
    return False


class PythonBackend(Backend):
    """Python scalars and sequences: the target's own ``asarray`` infers the dtype."""

    name: ClassVar[str] = "python"

    def owns(self, cls: type) -> bool:
        return issubclass(cls, (bool, int, float, complex, list, tuple))

    def traits(self, x: Any) -> Traits:
        values = scan(x)
        return Traits("python", values.kind, scalar=True, values=values)

    def device_of(self, x: Any) -> Device:
        return CPU

    def extent(self, x: Any) -> Extent | None:
        return None

    def step_convert_arrays(self, x: Any, plan: Any) -> Any:
        """The sequence with each array in it converted to NumPy by the pipeline (detached).

        Arrays that require grad reach this step only where the plan allows
        cutting the graph (``grad="detach"``); a NumPy array is itself.
        """
        from .._api.convert import convert  # the pipeline imports the backends

        def replaced(item: Any) -> Any:
            if isinstance(item, _SEQUENCES):
                return [replaced(child) for child in item]  # its depth is checked by the plan
            if type(item) in _SCALARS or _array_backend(item) is None:
                return item
            array = convert(item, "numpy")
            # A 0-d array as a NumPy scalar: torch.asarray reads those (and n-d
            # arrays), not 0-d arrays; NumPy and JAX read both alike.
            return array[()] if array.ndim == 0 else array

        return replaced(x)
