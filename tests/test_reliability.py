"""Reliability: bounded memory over many conversions, and thread safety."""

from __future__ import annotations

import contextlib
import gc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import xpbridge as xb
from xpbridge.testing import assert_bitwise_equal

# Every conversion here crosses NumPy <-> torch.
torch = pytest.importorskip("torch", reason="needs torch (every test here converts to torch)")


def _rss_bytes() -> int:
    with Path("/proc/self/statm").open() as f:
        return int(f.read().split()[1]) * 4096


def _mixed_conversions(a: np.ndarray, t: torch.Tensor) -> None:
    xb.to_torch(a)
    xb.to_numpy(t)
    xb.to_torch(a[::-1])  # planned path, copy
    xb.to_numpy(t, copy=True)
    xb.plan(a, "torch", copy=False)
    with contextlib.suppress(xb.CopyError):
        xb.to_torch(a[::-1], copy=False)


def test_100k_conversions_grow_memory_by_less_than_5_mb() -> None:
    a = np.arange(16, dtype=np.float32)
    t = torch.arange(16, dtype=torch.float32, requires_grad=True)
    for _ in range(1000):  # warm caches and allocator pools first
        _mixed_conversions(a, t)
    gc.collect()
    before = _rss_bytes()
    for _ in range(100_000 // 6):  # six conversions each
        _mixed_conversions(a, t)
    gc.collect()
    grown = _rss_bytes() - before
    assert grown < 5 * 2**20, f"resident memory grew by {grown / 2**20:.1f} MiB"


def test_eight_threads_convert_concurrently() -> None:
    def work(seed: int) -> bool:
        rng = np.random.default_rng(seed)
        for i in range(300):
            a = rng.standard_normal(32).astype(np.float32)
            view = a[::-1] if i % 2 else a
            t = xb.to_torch(view)
            assert_bitwise_equal(t, view)
            back = xb.to_numpy(t.requires_grad_() if i % 3 == 0 else t, dtype="float64")
            assert np.array_equal(back, view.astype(np.float64))
            assert xb.shares_memory(t, a) is (i % 2 == 0)
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(work, range(8)))
