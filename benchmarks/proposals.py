"""Measured estimates for planning and protocol speed-ups, by patching this process only.

Each step patches one more proposal into the running process (nothing is
written to disk), then times the rows it should speed up, interleaved with
their baselines: the median over rounds of ``time(xpbridge) / time(baseline)``.

Planning (``plan(t, "numpy")`` against ``t.numpy()``):

1. TorchBackend.traits cached, keyed by the cheap attributes that decide it
   (type, dtype, device, layout, nested, requires_grad, conj, neg, inference,
   size zero, many dims), as NumpyBackend.traits already caches by flags;
2. _request returning a memoised plan for the default request, keyed by the
   same attributes (skips traits, argument normalising and the lru_cache).

Protocols (array-api-strict, 8 x float32, against ``np.from_dlpack(x)`` and
``torch.from_dlpack(x)``):

1. _dlpack.read_header with one ``struct.unpack_from`` over the capsule's
   header, not ctypes structures field by field;
2. DLPackBackend.device_of cached by the raw ``__dlpack_device__()`` tuple;
3. ArrayAPIBackend.writable cached per type (array-api-compat decides it by
   type for every library but NumPy).

    python benchmarks/proposals.py

The torch traits cache, a memoised default request (by the traits object,
not by tensor attributes), the struct header read and both per-type caches
are now in the library, so "as it is" measures them; the steps that follow
patch them again and show what remains.
"""

from __future__ import annotations

import ctypes
import statistics
import struct
import sys
import timeit
from typing import Any

import array_api_strict as xps
import numpy as np
import torch

import xpbridge as xb
from xpbridge import _convert, _devices, _dlpack
from xpbridge.backends import arrayapi, protocol
from xpbridge.backends.torch import TorchBackend

ROUNDS, NUMBER = 21, 5000
t = torch.arange(8, dtype=torch.float32)
x = xps.asarray(np.arange(8, dtype=np.float32))
ENV: dict[str, Any] = {"xb": xb, "t": t, "x": x, "np": np, "torch": torch}


def ratio(ours: str, baseline: str) -> tuple[float, float]:
    """Median of per-round ratios, and the median time of ``ours`` in µs."""
    ratios, times = [], []
    for i in range(ROUNDS):
        pair = (ours, baseline) if i % 2 == 0 else (baseline, ours)
        seconds = {s: timeit.timeit(s, globals=ENV, number=NUMBER) for s in pair}
        ratios.append(seconds[ours] / seconds[baseline])
        times.append(seconds[ours] / NUMBER * 1e6)
    return statistics.median(ratios), statistics.median(times)


def planning(label: str) -> None:
    r, us = ratio("xb.plan(t, 'numpy')", "t.numpy()")
    print(f"  {label:46s} plan(t, 'numpy') {us:6.2f} us = {r:.2f} x t.numpy()")


def protocols(label: str) -> None:
    rn, un = ratio("xb.to_numpy(x)", "np.from_dlpack(x)")
    rt, ut = ratio("xb.to_torch(x)", "torch.from_dlpack(x)")
    print(
        f"  {label:46s} to_numpy(x) {un:6.2f} us = {rn:.2f} x np.from_dlpack(x); "
        f"to_torch(x) {ut:6.2f} us = {rt:.2f} x torch.from_dlpack(x)"
    )


# Planning proposals.

_original_traits = TorchBackend.traits
_original_request = _convert._request
_PLAIN = (torch.Tensor, torch.nn.Parameter)
_wrapped = torch._C._functorch.is_functorch_wrapped_tensor


def _cheap_key(x: Any) -> tuple[Any, ...]:
    dims = x.dim()
    return (
        type(x),
        x.dtype,
        x.device,
        x.layout,
        x.is_nested,
        x.requires_grad,
        x.is_conj(),
        x.is_neg(),
        x.is_inference(),
        x.numel() == 0,
        dims if dims > 32 else 0,
    )


_TRAITS: dict[tuple[Any, ...], Any] = {}


def cached_traits(self: Any, x: Any) -> Any:
    if type(x) not in _PLAIN or _wrapped(x):
        return _original_traits(self, x)
    key = _cheap_key(x)
    traits = _TRAITS.get(key)
    if traits is None:
        traits = _TRAITS[key] = _original_traits(self, x)
    return traits


_PLANS: dict[tuple[Any, ...], Any] = {}


def memo_request(
    x: Any,
    to: Any,
    device: Any,
    dtype: Any,
    copy: Any,
    grad: Any,
    requires_grad: Any,
    **options: Any,
) -> Any:
    if (
        type(x) in _PLAIN
        and type(to) is str
        and device is None
        and dtype is None
        and copy is None
        and grad == "detach"
        and requires_grad is False
        and not _wrapped(x)
    ):
        key = (to, *_cheap_key(x))
        plan = _PLANS.get(key)
        if plan is None:
            plan = _PLANS[key] = _original_request(
                x, to, device, dtype, copy, grad, False, **options
            )[0]
        return plan, x
    return _original_request(x, to, device, dtype, copy, grad, requires_grad, **options)


# Protocol proposals.

_api = ctypes.pythonapi
_VERSIONED = struct.Struct("@IIPPQPiiiBBHPPQ")  # DLManagedTensorVersioned, dlpack.h
_original_read_header = _dlpack.read_header


def struct_read_header(capsule: Any) -> Any:
    if not _api.PyCapsule_IsValid(capsule, _dlpack._VERSIONED):
        return _original_read_header(capsule)
    pointer = _api.PyCapsule_GetPointer(capsule, _dlpack._VERSIONED)
    raw = (ctypes.c_char * _VERSIONED.size).from_address(pointer)
    fields = _VERSIONED.unpack_from(raw)
    flags, data, kind_code, device_id, ndim, code, bits, lanes, shape_at, strides_at, offset = (
        fields[4:]
    )
    name = _dlpack._BY_CODE.get((code, bits), "") if lanes == 1 else ""
    name = name or f"dlpack(code={code}, bits={bits}, lanes={lanes})"
    itemsize = max(1, bits * lanes // 8)

    def int64s(at: int) -> tuple[int, ...]:
        return struct.unpack_from(f"@{ndim}q", (ctypes.c_char * (8 * ndim)).from_address(at))

    shape = int64s(shape_at) if ndim else ()
    if strides_at:
        strides = tuple(s * itemsize for s in int64s(strides_at)) if ndim else ()
    else:
        compact: list[int] = []
        step = itemsize
        for n in reversed(shape):
            compact.insert(0, step)
            step *= max(n, 1)
        strides = tuple(compact)
    kind = _devices.DLPACK_KINDS.get(kind_code, f"dlpack{kind_code}")
    device = _devices.CPU if kind == "cpu" else _devices.Device(kind, device_id)
    return _dlpack.Header(True, flags, data or 0, device, name, itemsize, shape, strides, offset)


_DEVICES: dict[Any, Any] = {}


def cached_device_of(self: Any, x: Any) -> Any:
    raw = x.__dlpack_device__()
    device = _DEVICES.get(raw)
    if device is None:
        device = _DEVICES[raw] = _devices.parse_device(tuple(int(v) for v in raw))
    return device


_original_writable = arrayapi.ArrayAPIBackend.writable
_WRITABLE: dict[type, bool] = {}


def cached_writable(self: Any, x: Any) -> bool:
    if isinstance(x, np.ndarray):
        return bool(_original_writable(self, x))
    known = _WRITABLE.get(type(x))
    if known is None:
        known = _WRITABLE[type(x)] = bool(_original_writable(self, x))
    return known


def main() -> int:
    xb.plan(t, "numpy")
    xb.to_numpy(x)
    xb.to_torch(x)
    print(f"xpbridge at {xb.__file__}; torch {torch.__version__}, NumPy {np.__version__}")
    print("planning:")
    planning("as it is")
    TorchBackend.traits = cached_traits  # type: ignore[method-assign]
    planning("+ torch traits cached by cheap attributes")
    _convert._request = memo_request
    planning("+ plan memoised for the default request")
    TorchBackend.traits = _original_traits  # type: ignore[method-assign]
    _convert._request = _original_request
    sample = x.__dlpack__(max_version=(1, 1))
    assert struct_read_header(sample) == _original_read_header(sample)
    print("protocols (array-api-strict):")
    protocols("as it is")
    _dlpack.read_header = struct_read_header
    protocols("+ header read with one struct.unpack_from")
    protocol.DLPackBackend.device_of = cached_device_of  # type: ignore[method-assign]
    protocols("+ device_of cached by the raw tuple")
    arrayapi.ArrayAPIBackend.writable = cached_writable  # type: ignore[method-assign]
    protocols("+ writable cached per type")
    r, us = ratio("np.asarray(x)", "np.from_dlpack(x)")
    print(f"  for scale: np.asarray(x) {us:.2f} us = {r:.2f} x np.from_dlpack(x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
