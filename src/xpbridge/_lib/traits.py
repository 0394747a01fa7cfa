"""What the planner reads about a source: its traits.

A plain named tuple: it hashes in C and makes a cheap cache key.
Traits hold only what decides a plan (flags, dtype, device), never shapes or
addresses, so one cached plan serves every array of the same kind.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .devices import CPU, Device

__all__ = ["Traits"]


class Traits(NamedTuple):
    """The plan-relevant description of a source array.

    What a backend's :meth:`~xpbridge.backends.Backend.traits` returns and the
    planner reads: flags, dtype and device, never shapes or addresses, so one
    cached plan serves every array of the same kind.

    Parameters
    ----------
    library : str
        The backend's name.
    dtype : str
        The canonical dtype name (or the library's own name, outside the table).
    device : Device, optional
        Where the array lives.
    size_zero, scalar, readonly, memmap, nonnative, unaligned : bool, optional
        Flags of the array (``scalar``: an immutable scalar without a buffer).
    negative_strides, odd_strides : bool, optional
        Strides torch cannot represent.
    requires_grad, conj, neg : bool, optional
        Autograd state and torch's lazy conjugate and negative bits.
    unsupported : str, optional
        Why the input cannot be converted at all, with the remedy ("" if it can).
    copied : bool, optional
        The producer already made a copy (DLPack ``IS_COPIED``).

    Examples
    --------
    >>> import numpy as np
    >>> from xpbridge.backends.registry import backend_of
    >>> a = np.arange(4.0)[::-1]
    >>> t = backend_of(a).traits(a)
    >>> t.library, t.dtype, t.negative_strides
    ('numpy', 'float64', True)
    """

    library: str
    dtype: str  # canonical name, or the library's own name when not in the table
    device: Device = CPU
    size_zero: bool = False
    scalar: bool = False  # an immutable scalar with no shareable buffer
    readonly: bool = False
    memmap: bool = False  # read-only memory mapped from a file
    nonnative: bool = False  # non-native byte order
    unaligned: bool = False
    negative_strides: bool = False
    odd_strides: bool = False  # a stride that is not a multiple of the item size
    requires_grad: bool = False
    conj: bool = False  # torch's lazy conjugation bit
    neg: bool = False  # torch's lazy negation bit
    unsupported: str = ""  # why the input cannot be converted at all, with the remedy
    copied: bool = False  # the producer already made a copy (DLPack IS_COPIED)
    inference: bool = False  # a torch inference tensor (it can never require grad)
    # The number of dimensions when above 32 (NumPy 1.x's limit; NumPy 2's is 64), else 0.
    many_dims: int = 0
    native_device: object = None  # the library's own device object, where it has several
    # Python sources: what the scan read of the values (xpbridge.backends.python.Values).
    values: Any = None
