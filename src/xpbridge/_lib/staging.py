"""Device -> host copies through a bounded, reused pool of page-locked staging buffers.

A copy from a GPU into pageable host memory is staged by the driver through
its own small page-locked buffers, at a fraction of the bus's bandwidth; a
copy into page-locked ("pinned") memory runs at full speed.  Handing the
pinned buffer itself to the user, as xpbridge once did for copies of 1 MiB or
more, keeps every result page-locked for as long as it lives: pinned memory
cannot be swapped, torch rounds each pinned allocation up to a power of two
and caches it after it is freed (pytorch/pytorch#150517), so converting many
large device arrays locked most of the host's memory.

So results never live in pinned memory.  A copy of ``nbytes`` runs in chunks
of :data:`CHUNK_BYTES` through a pool of :data:`BUFFERS` pinned buffers that
is allocated once, on first use, and reused by every copy: the device copies
chunk ``k + 1`` into one buffer while the host copies chunk ``k`` out of the
other into the result (pageable memory).  The pinned memory xpbridge holds is
therefore bounded by ``CHUNK_BYTES * BUFFERS`` (16 MiB) for the life of the
process, however many or large the results; and since each buffer is a power
of two of bytes, torch's allocator adds nothing by rounding.

The device side is a :class:`Transfer` (the torch backend's wraps CUDA copies
and events); the allocator is injected, so the policy is tested without a
GPU.  One copy at a time uses the pool (a lock): the bus is shared anyway.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["BUFFERS", "CHUNK_BYTES", "StagingPool", "Transfer", "default_pool"]

# Large enough that a chunk's fixed cost (a launch and an event, some
# microseconds) is a few percent of its transfer; a power of two, which
# torch's pinned allocator does not round up.
CHUNK_BYTES = 8 << 20
# Two: the device fills one while the host empties the other.
BUFFERS = 2


class Transfer(Protocol):
    """The device side of one copy: bytes ``[start, stop)`` of the source, by chunks."""

    def issue(self, buffer: Any, start: int, stop: int) -> Any:
        """Start copying source bytes ``[start, stop)`` into ``buffer[: stop - start]``.

        Returns what :meth:`wait` waits for (an event); the copy may still run.
        """
        ...

    def wait(self, token: Any) -> None:
        """Return once the copy :meth:`issue` started is complete."""
        ...

    def drain(self, buffer: Any, start: int, stop: int) -> None:
        """Copy ``buffer[: stop - start]`` into the result's bytes ``[start, stop)``."""
        ...


class StagingPool:
    """A bounded, reused set of pinned buffers that device -> host copies run through.

    Parameters
    ----------
    allocate : callable
        ``allocate(nbytes) -> buffer``: one page-locked buffer (torch's
        ``torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)``); called at
        most ``buffers`` times in the pool's life.
    chunk_bytes : int
        The size of each buffer, and of each chunk of a copy.
    buffers : int
        How many buffers the pool may hold.

    Examples
    --------
    >>> import numpy as np
    >>> source = np.arange(10, dtype=np.uint8)
    >>> result = np.zeros(10, dtype=np.uint8)
    >>> class Host:
    ...     def issue(self, buffer, start, stop):
    ...         buffer[: stop - start] = source[start:stop]
    ...     def wait(self, token):
    ...         pass
    ...     def drain(self, buffer, start, stop):
    ...         result[start:stop] = buffer[: stop - start]
    >>> pool = StagingPool(lambda n: np.empty(n, np.uint8), chunk_bytes=4, buffers=2)
    >>> pool.copy(10, Host())
    >>> result.tolist() == source.tolist(), pool.allocated, pool.bound
    (True, 8, 8)
    """

    def __init__(
        self,
        allocate: Callable[[int], Any],
        *,
        chunk_bytes: int = CHUNK_BYTES,
        buffers: int = BUFFERS,
    ) -> None:
        if chunk_bytes < 1 or buffers < 1:
            raise ValueError("a staging pool needs a positive chunk size and buffer count")
        self.allocate = allocate
        self.chunk_bytes = chunk_bytes
        self.buffers = buffers
        self._held: list[Any] = []
        self._lock = threading.Lock()

    @property
    def bound(self) -> int:
        """The most pinned bytes the pool ever holds: ``chunk_bytes * buffers``."""
        return self.chunk_bytes * self.buffers

    @property
    def allocated(self) -> int:
        """The pinned bytes the pool holds now (allocated on first use, kept for reuse)."""
        return self.chunk_bytes * len(self._held)

    def copy(self, nbytes: int, transfer: Transfer) -> None:
        """Copy ``nbytes`` from the device to the result through the pool, chunk by chunk.

        The device copies a chunk into a free buffer while the host drains the
        previous one.  Every chunk the device was asked to copy is waited for
        before this returns or raises: no buffer is reused while a copy may
        still write into it.
        """
        chunk = self.chunk_bytes
        with self._lock:
            count = min(self.buffers, -(-nbytes // chunk))
            while len(self._held) < count:
                self._held.append(self.allocate(chunk))
            held = self._held
            pending: deque[tuple[Any, Any, int, int]] = deque()
            try:
                for number, start in enumerate(range(0, nbytes, chunk)):
                    buffer = held[number % count]
                    if len(pending) == count:  # that buffer holds an earlier chunk: empty it
                        self._drain(pending.popleft(), transfer)
                    stop = min(start + chunk, nbytes)
                    pending.append((transfer.issue(buffer, start, stop), buffer, start, stop))
                while pending:
                    self._drain(pending.popleft(), transfer)
            finally:
                for token, *_ in pending:  # an error: let the device finish with the buffers
                    transfer.wait(token)

    @staticmethod
    def _drain(issued: tuple[Any, Any, int, int], transfer: Transfer) -> None:
        token, buffer, start, stop = issued
        transfer.wait(token)
        transfer.drain(buffer, start, stop)


_DEFAULT: list[StagingPool] = []
_DEFAULT_LOCK = threading.Lock()


def _pinned(nbytes: int) -> Any:
    import torch

    return torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)


def default_pool() -> StagingPool:
    """The process's pool, with torch's pinned allocator (made on the first staged copy)."""
    if not _DEFAULT:
        with _DEFAULT_LOCK:
            if not _DEFAULT:
                _DEFAULT.append(StagingPool(_pinned))
    return _DEFAULT[0]
