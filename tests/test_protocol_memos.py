"""The protocol paths' fast reads give what the slow reads gave."""

from __future__ import annotations

import ctypes

import array_api_strict as xps
import numpy as np
import pytest

import xpbridge as xb
from xpbridge import _dlpack
from xpbridge._devices import CPU
from xpbridge.backends.arrayapi import ArrayAPIBackend


def test_the_struct_layouts_are_dlpack_h_s() -> None:
    # The header is read with struct formats; dlpack.h's layout is the ctypes
    # structures' (the C compiler's alignment): every field at the same offset.
    versioned, tensor = _dlpack._DLManagedTensorVersioned, _dlpack._DLTensor
    end = tensor.byte_offset.offset + ctypes.sizeof(ctypes.c_uint64)
    assert _dlpack._VERSIONED_LAYOUT.size == versioned.dl_tensor.offset + end
    assert _dlpack._LEGACY_LAYOUT.size == end
    assert _dlpack._VERSION.size == ctypes.sizeof(_dlpack._DLPackVersion)


@pytest.mark.parametrize(
    "a",
    [
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.arange(6, dtype=np.int64)[::2],
        np.float64(1.0),
        np.zeros((0, 3)),
        np.ones((1,) * 40, np.int8),
        np.arange(6, dtype=np.float32).reshape(2, 3).T,
    ],
    ids=["2d", "strided", "0d", "empty", "40 dims", "transposed"],
)
def test_a_header_says_what_numpy_says(a: np.ndarray) -> None:
    a = np.asarray(a)
    header = _dlpack.read_header(a.__dlpack__())
    assert header.shape == a.shape
    assert header.strides == a.strides or 0 in a.shape
    assert header.data == a.ctypes.data or 0 in a.shape
    assert header.itemsize == a.itemsize
    assert header.device == CPU


class _Reports:
    def __init__(self, reply: object) -> None:
        self.reply = reply

    def __dlpack_device__(self) -> object:
        return self.reply


def test_a_device_seen_before_is_still_checked_per_reply() -> None:
    assert _dlpack.reported_device(_Reports((1, 0))) == CPU
    assert _dlpack.reported_device(_Reports((1, 0))) == CPU
    with pytest.raises(xb.UnsupportedInputError):
        _dlpack.reported_device(_Reports((1, 0, 0)))
    with pytest.raises(xb.UnsupportedInputError):
        _dlpack.reported_device(_Reports((1, -1)))
    with pytest.raises(xb.DeviceError):
        _dlpack.reported_device(_Reports((99, 0)))


def test_writable_is_asked_per_array_for_numpy() -> None:
    backend = ArrayAPIBackend("array_api_strict", xps)
    a = np.ones(3)
    assert backend.writable(a)
    a.flags.writeable = False
    assert not backend.writable(a)
    strict = xps.asarray([1.0])
    assert backend.writable(strict) == backend.writable(xps.asarray([2.0]))


@pytest.mark.thread_unsafe(reason="counts the deleters run process-wide")
@pytest.mark.parametrize("versioned", [True, False], ids=["versioned", "legacy"])
@pytest.mark.parametrize("readonly", [True, False], ids=["read-only", "writable"])
def test_numpy_s_consumer_keeps_the_flags_and_calls_the_deleter_once(
    versioned: bool, readonly: bool
) -> None:
    import gc

    from capsules import CREATED, DELETED, Producer

    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    producer = Producer(a, readonly=readonly, versioned=versioned)
    promised = xb.plan(producer, "numpy").writable
    gc.collect()
    created, deleted = len(CREATED), len(DELETED)
    out = xb.to_numpy(producer)
    assert out.flags.writeable is promised
    assert np.shares_memory(out, a)
    # A legacy capsule has no flags: its data is writable.
    assert out.flags.writeable is not (versioned and readonly)
    assert out.tolist() == a.tolist()
    mine = CREATED[created:]
    assert len(mine) == 1 and not set(DELETED[deleted:]) & set(mine)  # alive while viewed
    del out
    gc.collect()
    assert DELETED[deleted:].count(mine[0]) == 1
