"""Python scalars and (nested) sequences: the target's own ``asarray`` infers the dtype.

The values are read (never copied) to describe them: the widest Python kind
among the leaves and how many bits their integers need.  That is enough for
the planner to say the exact result dtype (the target's inference rule) and
to refuse, in ``plan`` as in ``convert``, what the target cannot hold: ints
beyond 64 bits, negative values for an unsigned ``dtype=``, integers that are
asked to require grad.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .._lib.devices import CPU, Device
from .._lib.traits import Traits
from ._base import Backend, Extent

__all__ = ["PythonBackend", "python_kind"]

_ORDER = ("bool", "int", "float", "complex")


def python_kind(x: Any) -> tuple[str, int, bool]:
    """The widest kind of the leaves, the signed bits their ints need, and any negative int.

    The kind is ``"bool"``, ``"int"``, ``"float"``, ``"complex"``, or ``"mixed"``
    when a leaf is something else (an array, a string): then the target's
    ``asarray`` alone can say what it makes.

    Examples
    --------
    >>> python_kind([1, [2, -300]])
    ('int', 10, True)
    >>> python_kind((1.5, 2j))
    ('complex', 0, False)
    """
    widest = 0
    bits = 0
    negative = False
    stack = [x]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, bool):
            continue  # the narrowest kind: widest starts there
        elif isinstance(item, int):  # signed bits, the sign bit included
            bits = max(bits, (item if item >= 0 else ~item).bit_length() + 1)
            negative = negative or item < 0
            widest = max(widest, 1)
        elif isinstance(item, (float, complex)):
            widest = max(widest, 2 if isinstance(item, float) else 3)
        else:
            return "mixed", 0, False
    return _ORDER[widest], bits, negative


class PythonBackend(Backend):
    """Python scalars and sequences: the target's own ``asarray`` infers the dtype."""

    name: ClassVar[str] = "python"

    def owns(self, cls: type) -> bool:
        return issubclass(cls, (bool, int, float, complex, list, tuple))

    def traits(self, x: Any) -> Traits:
        kind, bits, negative = python_kind(x)
        return Traits("python", kind, scalar=True, int_bits=bits, negative_ints=negative)

    def device_of(self, x: Any) -> Device:
        return CPU

    def extent(self, x: Any) -> Extent | None:
        return None
