"""Upstream warnings a conversion must not emit, filtered where they arise.

A conversion never warns: what a user must know is an error or is in the plan.
torch warns on every complex32 tensor it makes, on complex -> real casts and on
sequences of NumPy arrays; each path that meets one filters it by its message,
and only that path pays for ``catch_warnings``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["COMPLEX_HALF", "ignoring", "quiet_complex_half"]

COMPLEX_HALF = "ComplexHalf support is experimental"


@contextmanager
def ignoring(*messages: str) -> Iterator[None]:
    """Ignore torch's ``UserWarning``s that start with ``messages``, inside the block."""
    with warnings.catch_warnings():
        for message in messages:
            warnings.filterwarnings("ignore", message, UserWarning)
        yield


@contextmanager
def quiet_complex_half() -> Iterator[None]:
    """Silence torch's "ComplexHalf support is experimental", raised by every complex32 op."""
    with ignoring(COMPLEX_HALF):
        yield
