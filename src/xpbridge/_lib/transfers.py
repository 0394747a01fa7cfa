"""Device transfers of many arrays: issued together, waited for once.

A backend that must wait for a transfer (a device -> host copy into pinned
memory, say) hands the wait to :func:`synchronise` instead of waiting itself.
Outside a batch the wait runs at once; inside :func:`deferred_synchronisation`
it runs when the batch ends, once per key (a stream), so converting a tree
of N device arrays costs one synchronisation per stream, not N.  The tree
executor ends the batch before any step that reads the transferred data.

The batch is a context variable: threads and asyncio tasks each have their own.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["deferred_synchronisation", "synchronise"]

_PENDING: ContextVar[dict[Hashable, Callable[[], object]] | None] = ContextVar(
    "xpbridge_pending_synchronisations", default=None
)


def synchronise(key: Hashable, wait: Callable[[], object]) -> None:
    """Run ``wait`` now, or once for ``key`` when the enclosing batch ends."""
    pending = _PENDING.get()
    if pending is None:
        wait()
    else:
        pending.setdefault(key, wait)


@contextmanager
def deferred_synchronisation() -> Iterator[None]:
    """Collect the waits of the transfers issued inside; run each distinct one at the end.

    The waits also run when the block raises: memory a transfer still writes
    to must not be released under it.
    """
    pending: dict[Hashable, Callable[[], object]] = {}
    token = _PENDING.set(pending)
    try:
        yield
    finally:
        _PENDING.reset(token)
        for wait in pending.values():
            wait()
