"""Real-GPU tests (marker: cuda).  Skipped cleanly where torch has no CUDA."""

from __future__ import annotations

import numpy as np
import pytest

import xpbridge as xb

torch = pytest.importorskip("torch", reason="needs torch (and a CUDA device)")

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("n", [8, 1 << 22])  # below and above the pinned-staging threshold
def test_cuda_tensor_to_numpy(n: int) -> None:
    t = torch.arange(n, dtype=torch.float32, device="cuda")
    for copy in (None, True):
        a = xb.to_numpy(t, copy=copy)
        assert a.shape == (n,) and a[-1] == n - 1 and a.flags.writeable
        assert not xb.shares_memory(t, a)
    with pytest.raises(xb.CopyError):
        xb.to_numpy(t, copy=False)
    w = t.clone().requires_grad_()
    assert xb.to_numpy(w)[-1] == n - 1


def test_numpy_to_cuda_and_missing_devices() -> None:
    a = np.arange(1000, dtype=np.float64)
    t = xb.to_torch(a, device="cuda")
    assert t.device.type == "cuda" and torch.equal(t.cpu(), torch.from_numpy(a))
    with pytest.raises(xb.CopyError):
        xb.to_torch(a, device="cuda", copy=False)
    with pytest.raises(xb.DeviceError):
        xb.to_torch(a, device=f"cuda:{torch.cuda.device_count()}")
    assert xb.to_torch(t) is t
    assert xb.shares_memory(t, t[1:]) and not xb.shares_memory(t, a)


@pytest.mark.rule("device-stream-ordering")
def test_work_on_a_side_stream_is_visible_in_the_result() -> None:
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        x = torch.ones(1 << 22, device="cuda")
        torch.cuda._sleep(50_000_000)  # keep the stream busy so a missing wait would show
        y = x * 2
        a = xb.to_numpy(y)
    assert (a == 2).all()


def test_bfloat16_from_cuda_is_bit_exact() -> None:
    t = torch.randn(1 << 20, device="cuda").to(torch.bfloat16)
    a = xb.to_numpy(t)
    assert np.array_equal(a.view(np.uint16), t.cpu().view(torch.int16).numpy().view(np.uint16))


@pytest.mark.rule("pinned-staging-bounded")
def test_large_results_are_pageable_and_the_pinned_pool_is_bounded() -> None:
    from xpbridge._lib import staging

    tensors = [torch.randn((1 << 22) + i, device="cuda") for i in range(8)]  # 16 MiB each
    for t in tensors:
        a = xb.to_numpy(t)
        assert not torch.from_numpy(a).is_pinned()  # the result is pageable memory
        assert np.array_equal(a, t.cpu().numpy())
        host = xb.to_torch(t, device="cpu")
        assert not host.is_pinned() and torch.equal(host, t.cpu())
    pool = staging.default_pool()
    assert 0 < pool.allocated <= pool.bound == 16 << 20
