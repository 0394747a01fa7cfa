"""Pinned staging (xpbridge._lib.staging): device -> host copies hold bounded pinned memory.

spec/contract.toml, rule pinned-staging-bounded.  No GPU is needed: the
allocator is injected (a fake that counts what it hands out), the device side
is a fake transfer over host memory, and the pipeline drives the pool through
a fake-device backend (the pattern of tests/test_tree.py).  What CUDA itself
adds (the events, pinned memory) is checked on a GPU by tests/gpu/test_cuda.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import xpbridge as xb
from xpbridge._lib import staging
from xpbridge._lib.devices import Device
from xpbridge._lib.traits import Traits
from xpbridge.backends import Backend
from xpbridge.backends import torch as torch_backend

pytestmark = pytest.mark.rule("pinned-staging-bounded")


class CountingAllocator:
    """Hands out host buffers standing for pinned ones, and remembers each."""

    def __init__(self) -> None:
        self.buffers: list[np.ndarray] = []

    def __call__(self, nbytes: int) -> np.ndarray:
        buffer = np.empty(nbytes, dtype=np.uint8)
        self.buffers.append(buffer)
        return buffer

    @property
    def total(self) -> int:
        return sum(b.nbytes for b in self.buffers)


class HostTransfer:
    """A fake device: its memory is a NumPy array; copies are logged, waits checked."""

    def __init__(self, source: np.ndarray, log: list[str] | None = None) -> None:
        self.source = source
        self.result = np.zeros_like(source)
        self.log = log if log is not None else []
        self.in_flight: set[int] = set()  # ids of buffers a copy may still write into
        self.fail_at: int | None = None

    def issue(self, buffer: np.ndarray, start: int, stop: int) -> tuple[int, int]:
        assert id(buffer) not in self.in_flight, "a buffer reused while a copy writes into it"
        self.in_flight.add(id(buffer))
        buffer[: stop - start] = self.source[start:stop]
        self.log.append(f"issue {start}")
        return id(buffer), start

    def wait(self, token: tuple[int, int]) -> None:
        self.in_flight.discard(token[0])
        self.log.append(f"wait {token[1]}")

    def drain(self, buffer: np.ndarray, start: int, stop: int) -> None:
        assert id(buffer) not in self.in_flight, "drained before its copy was waited for"
        if self.fail_at == start:
            raise MemoryError("the host ran out while draining")
        self.result[start:stop] = buffer[: stop - start]
        self.log.append(f"drain {start}")


@given(
    nbytes=st.integers(0, 300),
    chunk=st.integers(1, 64),
    buffers=st.integers(1, 3),
    copies=st.integers(1, 4),
)
def test_every_copy_is_exact_and_the_pool_stays_within_its_bound(
    nbytes: int, chunk: int, buffers: int, copies: int
) -> None:
    allocate = CountingAllocator()
    pool = staging.StagingPool(allocate, chunk_bytes=chunk, buffers=buffers)
    rng = np.random.default_rng(nbytes)
    for _ in range(copies):
        source = rng.integers(0, 256, nbytes, dtype=np.uint8)
        transfer = HostTransfer(source)
        pool.copy(nbytes, transfer)
        assert transfer.result.tobytes() == source.tobytes()
        assert not transfer.in_flight  # every copy waited for before copy() returns
        assert pool.allocated == allocate.total <= pool.bound == chunk * buffers
        for buffer in allocate.buffers:  # the result never is a pinned buffer
            assert not np.shares_memory(buffer, transfer.result)
    # Allocated once, reused by every later copy.
    assert len(allocate.buffers) == min(buffers, -(-nbytes // chunk)) if nbytes else True


def test_the_device_fills_one_buffer_while_the_host_empties_the_other() -> None:
    log: list[str] = []
    pool = staging.StagingPool(CountingAllocator(), chunk_bytes=4, buffers=2)
    pool.copy(14, HostTransfer(np.arange(14, dtype=np.uint8), log))
    assert log == [
        "issue 0",
        "issue 4",  # the second chunk starts before the first is drained
        "wait 0",
        "drain 0",
        "issue 8",  # into the buffer chunk 0 left
        "wait 4",
        "drain 4",
        "issue 12",
        "wait 8",
        "drain 8",
        "wait 12",
        "drain 12",
    ]


def test_an_error_waits_for_every_issued_copy_before_it_propagates() -> None:
    allocate = CountingAllocator()
    pool = staging.StagingPool(allocate, chunk_bytes=4, buffers=2)
    transfer = HostTransfer(np.arange(16, dtype=np.uint8))
    transfer.fail_at = 4
    with pytest.raises(MemoryError):
        pool.copy(16, transfer)
    assert not transfer.in_flight  # no copy still writing into a buffer the pool reuses
    again = HostTransfer(np.arange(16, dtype=np.uint8))
    pool.copy(16, again)  # the pool is sound after a failure
    assert again.result.tolist() == list(range(16)) and len(allocate.buffers) == 2


@pytest.mark.thread_unsafe(reason="its own threads")
def test_concurrent_copies_share_the_bound() -> None:
    allocate = CountingAllocator()
    pool = staging.StagingPool(allocate, chunk_bytes=16, buffers=2)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for n in range(50):
                source = np.random.default_rng(seed * 100 + n).integers(0, 256, 200, np.uint8)
                transfer = HostTransfer(source)
                pool.copy(200, transfer)
                assert transfer.result.tobytes() == source.tobytes()
        except BaseException as e:  # noqa: BLE001 - reported from the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert allocate.total == pool.bound == 32


def test_the_default_pool_is_bounded_by_the_documented_constants() -> None:
    assert staging.CHUNK_BYTES == 8 << 20 and staging.BUFFERS == 2
    pool = staging.default_pool()
    assert pool is staging.default_pool()  # one per process
    assert pool.bound == 16 << 20
    assert pool.chunk_bytes & (pool.chunk_bytes - 1) == 0  # a power of two: torch never rounds it


# The torch backend's device -> host step, on CPU tensors with fake events.


class FakeEvent:
    recorded = 0
    waited = 0

    def record(self, stream: Any = None) -> None:
        FakeEvent.recorded += 1

    def synchronize(self) -> None:
        FakeEvent.waited += 1


@pytest.mark.thread_unsafe(reason="counts on class attributes")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bool, torch.complex64, torch.uint16])
def test_the_torch_step_copies_through_the_pool_into_pageable_memory(dtype: torch.dtype) -> None:
    allocate = CountingAllocator()
    pool = staging.StagingPool(
        lambda n: torch.from_numpy(allocate(n)), chunk_bytes=1 << 18, buffers=2
    )
    x = torch.arange(5 * (1 << 18) + 5).to(dtype).reshape(-1, 1)
    assert x.numel() * x.element_size() >= torch_backend.PINNED_STAGING_BYTES
    FakeEvent.recorded = FakeEvent.waited = 0
    result = torch_backend._cuda_to_host(x, pool, FakeEvent)
    assert result.dtype == dtype and result.shape == x.shape and torch.equal(result, x)
    assert FakeEvent.recorded == FakeEvent.waited > 1  # one event per chunk, each waited for
    assert len(allocate.buffers) == 2
    for buffer in allocate.buffers:
        assert not np.shares_memory(buffer, result.view(torch.uint8).numpy())
    small = torch.arange(10.0)
    assert torch.equal(torch_backend._cuda_to_host(small, pool, FakeEvent), small)  # no staging


# The pipeline drives the pool: a fake device backend, as in tests/test_tree.py.


class Staged(Backend):
    """A library on a fake 'cuda' device whose device -> host copies use the staging pool."""

    name: ClassVar[str] = "stageddevice"
    device_kinds = frozenset({"cpu", "cuda"})
    exchanges: ClassVar[dict[tuple[str, str], str]] = {("stageddevice", "numpy"): "to_numpy"}
    pool: ClassVar[staging.StagingPool]

    def owns(self, cls: type) -> bool:
        return cls is OnDevice

    def traits(self, x: Any) -> Traits:
        return Traits("stageddevice", "float64", Device("cuda", 0))

    def holds(self, dtype: str) -> bool:
        return dtype == "float64"

    def resolve_device(self, device: Device) -> Device:
        return device

    def device_of(self, x: Any) -> Device:
        return Device("cuda", 0)

    def extent(self, x: Any) -> None:
        return None

    def step_to_device(self, x: OnDevice, plan: Any) -> Any:
        raw = x.data.view(np.uint8).reshape(-1)
        transfer = HostTransfer(raw)
        self.pool.copy(raw.nbytes, transfer)
        return transfer.result.view(np.float64).reshape(x.data.shape)

    def step_to_numpy(self, x: Any, plan: Any) -> Any:
        return x


class OnDevice:
    def __init__(self, data: np.ndarray) -> None:
        self.data = data


@pytest.fixture
def staged_device(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingAllocator]:
    from xpbridge._lib.memo import Memo, clear_all
    from xpbridge.backends import registry as _registry

    for name in ("_REGISTERED", "_BACKENDS", "_ORIGIN", "_INSTALLED"):
        monkeypatch.setattr(
            _registry, name, type(getattr(_registry, name))(getattr(_registry, name))
        )
    monkeypatch.setattr(_registry, "_BY_TYPE", Memo("owners", "type", by_type=True, register=False))
    allocate = CountingAllocator()
    monkeypatch.setattr(
        Staged, "pool", staging.StagingPool(allocate, chunk_bytes=256, buffers=2), raising=False
    )
    xb.register_backend(Staged())
    yield allocate
    clear_all()


@pytest.mark.thread_unsafe(reason="registers a backend")
def test_many_conversions_keep_no_result_in_pinned_memory(staged_device: CountingAllocator) -> None:
    arrays = [np.random.default_rng(i).standard_normal(100 + 37 * i) for i in range(20)]
    tree = {f"w{i}": OnDevice(a) for i, a in enumerate(arrays)}
    results = [xb.convert(OnDevice(a), "numpy") for a in arrays]
    moved = xb.convert_tree(tree, "numpy")
    assert xb.plan(OnDevice(arrays[0]), "numpy").steps == ("to_device", "to_numpy")
    for i, a in enumerate(arrays):
        for result in (results[i], moved[f"w{i}"]):
            assert result.tolist() == a.tolist()
            for buffer in staged_device.buffers:
                assert not np.shares_memory(buffer, result)
    # 40 conversions of up to 6 KiB each; the pool held 512 bytes throughout.
    assert staged_device.total == 512
