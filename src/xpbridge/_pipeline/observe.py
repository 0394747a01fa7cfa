"""Observe copies as they happen: the ``xpbridge`` logger and ``no_copies()``.

A compiled plan that makes a new buffer (its plan has reasons) first asks
:func:`copy_made`, which

- inside ``with no_copies():`` raises :class:`~xpbridge.CopyError` (or, with
  ``action="warn"``, warns :class:`CopyWarning`) before anything is copied;
- logs a DEBUG record to the ``xpbridge`` logger with the plan and why it
  copies, when that logger is enabled for DEBUG.

Zero-copy plans ask nothing, so they cost nothing more.  The block is a
context variable: each thread and asyncio task has its own.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from ..errors import ArgumentError, CopyError

__all__ = ["LOGGER", "CopyWarning", "copy_made", "no_copies"]

LOGGER = logging.getLogger("xpbridge")

_BLOCK: ContextVar[str | None] = ContextVar("xpbridge_no_copies", default=None)


class CopyWarning(UserWarning):
    """A conversion copied inside ``with xpbridge.no_copies(action="warn")``.

    Examples
    --------
    >>> import warnings, numpy as np, xpbridge as xb
    >>> with warnings.catch_warnings(record=True) as caught, xb.no_copies(action="warn"):
    ...     warnings.simplefilter("always")
    ...     t = xb.to_torch(np.arange(3.0)[::-1])
    >>> caught[0].category is xb.CopyWarning
    True
    """


def _describe(plan: Any) -> str:
    return (
        f"{plan.source} -> {plan.target} {plan.dtype} on {plan.device} copies "
        f"({', '.join(plan.steps)}) because {'; '.join(plan.reasons)}"
    )


def copy_made(plan: Any) -> None:
    """Called before a plan that makes a new buffer runs: the block's check, then the log."""
    action = _BLOCK.get()
    if action is not None:
        message = (
            f"a conversion inside no_copies() copies: {_describe(plan)}. Convert outside "
            f"the block if the copy is intended"
        )
        if action == "raise":
            raise CopyError(message)
        warnings.warn(message, CopyWarning, stacklevel=4)
    if LOGGER.isEnabledFor(logging.DEBUG):
        LOGGER.debug("%s", _describe(plan))


def blocked() -> bool:
    """Whether a ``no_copies(action="raise")`` block is active here."""
    return _BLOCK.get() == "raise"


@contextmanager
def no_copies(action: str = "raise") -> Iterator[None]:
    """Inside the block, a conversion that would copy raises (or warns) instead.

    For a training loop or library code that must stay zero-copy: every
    conversion in the block (single arrays, tree leaves, ``compute_in``
    arguments) that plans a new buffer raises :class:`~xpbridge.CopyError`
    before anything is copied (a tree: before any leaf is converted), or with
    ``action="warn"`` warns :class:`CopyWarning` and copies.  Conversions
    that share memory are untouched.  Blocks nest; each thread and asyncio
    task has its own.

    Parameters
    ----------
    action : {"raise", "warn"}
        What a copy inside the block does.

    Returns
    -------
    contextmanager
        The block.

    Raises
    ------
    ArgumentError
        An ``action`` other than ``"raise"`` or ``"warn"``.

    Examples
    --------
    >>> import numpy as np, xpbridge as xb
    >>> a = np.arange(4.0)
    >>> with xb.no_copies():
    ...     t = xb.to_torch(a)          # zero-copy: fine
    ...     xb.to_torch(a[::-1])        # negative strides: a copy
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xpbridge.errors.CopyError: a conversion inside no_copies() copies: numpy float64 array on cpu -> torch float64 on cpu copies (copy, from_numpy) because the source has negative strides, which torch cannot represent. Convert outside the block if the copy is intended
    """
    if action not in ("raise", "warn"):
        raise ArgumentError(f"no_copies action must be 'raise' or 'warn', not {action!r}")
    token = _BLOCK.set(action)
    try:
        yield
    finally:
        _BLOCK.reset(token)
