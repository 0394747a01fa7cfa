"""Device semantics proven without a GPU: fake CUDA producers, device spellings, planning."""

from __future__ import annotations

import numpy as np
import pytest
from capsules import Producer
from frameworks import cuda_available, needs_torch, torch

import xpbridge as xb
from xpbridge._lib.devices import Device, parse_device
from xpbridge.backends.protocol import DLPackBackend
from xpbridge.backends.torch import TorchBackend

pytestmark = pytest.mark.skipif(cuda_available(), reason="fakes stand in for CUDA only without it")


@pytest.mark.rule("device-spellings")
def test_every_device_spelling() -> None:
    assert parse_device("cpu") == parse_device((1, 0)) == Device("cpu")
    assert parse_device("cuda:1") == parse_device((2, 1)) == Device("cuda", 1)
    assert parse_device("cuda").id == -1  # the current device
    if torch is not None:  # and torch's own device objects
        assert parse_device(torch.device("cpu")) == Device("cpu")
        assert parse_device(torch.device("cuda", 1)) == Device("cuda", 1)
        assert parse_device(torch.device("cuda")).id == -1
    for bad in ("", "cuda:x", "gpu 0", (99, 0), 3.5, object()):
        with pytest.raises(xb.DeviceError):
            parse_device(bad)


@pytest.mark.rule("device-fake-producers")
def test_fake_cuda_producer_to_numpy_is_a_host_copy() -> None:
    p = Producer(np.arange(5.0), device=(2, 0), host_copy_on_request=True)
    a = xb.to_numpy(p)
    assert a.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert all("stream" not in r for r in p.requests)  # a host consumer passes no stream
    assert xb.plan(p, "numpy").steps == ("from_dlpack",) and not xb.plan(p, "numpy").aliases
    with pytest.raises(xb.CopyError, match="cuda:0"):
        xb.to_numpy(p, copy=False)


@pytest.mark.rule("device-fake-producers")
@needs_torch
def test_fake_cuda_producer_to_torch_needs_the_device_or_a_host_copy() -> None:
    p = Producer(np.arange(3.0), device=(2, 0), host_copy_on_request=True)
    with pytest.raises(xb.DeviceError, match="not available"):
        xb.to_torch(p)  # it would stay on cuda:0, which this machine lacks
    assert p.requests == []  # refused before any capsule was asked for
    t = xb.to_torch(p, device="cpu")
    assert t.tolist() == [0.0, 1.0, 2.0] and not xb.shares_memory(p, t)
    with pytest.raises(xb.CopyError):
        xb.to_torch(p, device="cpu", copy=False)


@pytest.mark.rule("device-shares-memory")
def test_shares_memory_never_crosses_devices() -> None:
    a = np.arange(4.0)
    on_device = Producer(a, device=(2, 0))  # the same address, but on another device
    assert not xb.shares_memory(on_device, a)
    assert xb.shares_memory(Producer(a), a)


@pytest.mark.rule("device-stream-handshake")
@needs_torch
def test_device_capsules_carry_the_consumers_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend torch has cuda:0 with current stream 7, and watch what is asked of the producer.
    monkeypatch.setattr(
        TorchBackend, "resolve_device", lambda self, d: Device("cuda", max(d.id, 0))
    )
    monkeypatch.setattr(TorchBackend, "consumer_stream", lambda self, d: 7)
    p = Producer(np.arange(4.0), device=(2, 0))
    plan = xb.plan(p, "torch")  # planning only: torch.from_dlpack would need a real GPU
    assert plan.steps == ("from_dlpack",) and plan.aliases and str(plan.device) == "cuda:0"
    assert p.requests == [{"max_version": (1, 1), "stream": 7}]
    reversed_ = Producer(np.arange(4.0)[::-1], device=(2, 0))
    plan = xb.plan(reversed_, "torch")  # negative strides: convert asks for a compact copy
    assert reversed_.requests == [{"max_version": (1, 1), "stream": 7}]  # planning copies nothing
    assert not plan.aliases
    DLPackBackend().prepare(reversed_, TorchBackend(), None, None)  # what convert asks for
    assert reversed_.requests[-1] == {"max_version": (1, 1), "copy": True, "stream": 7}
    readonly = Producer(np.arange(4.0), device=(2, 0), readonly=True)
    assert xb.plan(readonly, "torch").steps == ("from_dlpack", "copy")  # the alias never escapes
    with pytest.raises(xb.CopyError):
        xb.plan(readonly, "torch", copy=False)
    assert all(r.get("stream") != -1 for q in (p, reversed_, readonly) for r in q.requests)


@pytest.mark.rule("device-model")
@needs_torch
def test_torch_cuda_consumer_stream_is_never_minus_one() -> None:
    assert TorchBackend().consumer_stream(Device("cpu")) is None
