"""The protocol paths' fast reads give what the slow reads gave."""

from __future__ import annotations

import ctypes
from typing import Any

import array_api_strict as xps
import numpy as np
import pytest

import xpbridge as xb
from xpbridge._lib import dlpack as _dlpack
from xpbridge._lib.devices import CPU
from xpbridge.backends.arrayapi import ArrayAPIBackend


def test_the_struct_layouts_are_dlpack_h_s() -> None:
    # The header is read with struct formats; dlpack.h's layout is the ctypes
    # structures' (the C compiler's alignment): every field at the same offset.
    versioned, tensor = _dlpack._DLManagedTensorVersioned, _dlpack._DLTensor
    end = tensor.byte_offset.offset + ctypes.sizeof(ctypes.c_uint64)
    assert _dlpack._VERSIONED_LAYOUT.size == versioned.dl_tensor.offset + end
    assert _dlpack._LEGACY_LAYOUT.size == end
    assert _dlpack._VERSION.size == ctypes.sizeof(_dlpack._DLPackVersion)


# More than the 32 dimensions of NumPy 1.x where NumPy 2's 64 allow it.
_MANY_DIMS = 40 if int(np.__version__.partition(".")[0]) >= 2 else 32


@pytest.mark.parametrize(
    "a",
    [
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.arange(6, dtype=np.int64)[::2],
        np.float64(1.0),
        np.zeros((0, 3)),
        np.ones((1,) * _MANY_DIMS, np.int8),
        np.arange(6, dtype=np.float32).reshape(2, 3).T,
    ],
    ids=["2d", "strided", "0d", "empty", "many dims", "transposed"],
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


# --- the memos of the protocol paths change no answer and skip no check ------------------


def _side_by_side(s: Any) -> None:
    # Shape and strides in one allocation, as NumPy and torch make them: read in one go.
    t = s.dl_tensor
    both = (ctypes.c_int64 * (2 * t.ndim))(
        *(t.shape[i] for i in range(t.ndim)), *(t.strides[i] for i in range(t.ndim))
    )
    _KEEP_ALIVE.append(both)
    t.shape = ctypes.cast(both, ctypes.POINTER(ctypes.c_int64))
    t.strides = ctypes.cast(ctypes.byref(both, 8 * t.ndim), ctypes.POINTER(ctypes.c_int64))


_KEEP_ALIVE: list[Any] = []


@pytest.mark.parametrize("side_by_side", [True, False], ids=["one-allocation", "two"])
@pytest.mark.parametrize(
    "a",
    [
        np.arange(24, dtype=np.int16).reshape(2, 3, 4)[:, ::-1, 1:3],
        np.arange(6, dtype=np.uint8)[::2],
        np.zeros((3, 0), dtype=np.complex64),
    ],
    ids=["3d-reversed", "uint8-strided", "empty"],
)
def test_shape_and_strides_read_in_one_go_or_two_are_the_same(
    a: np.ndarray, side_by_side: bool
) -> None:
    from capsules import make_capsule

    capsule = make_capsule(a, tamper=_side_by_side if side_by_side else None)
    header = _dlpack.read_header(capsule)
    assert header.shape == a.shape
    assert header.strides == a.strides
    assert header.itemsize == a.itemsize
    assert header.negative_strides == any(
        s < 0 for n, s in zip(a.shape, a.strides, strict=True) if n > 1
    )


@pytest.mark.parametrize(
    ("tamper", "match"),
    [
        ("huge-ndim", "ndim is 1048576"),
        ("negative-ndim", "ndim is -1"),
        ("null-shape", "shape pointer is NULL"),
        ("negative-extent", "negative extent"),
        ("null-data", "data pointer is NULL"),
    ],
)
def test_a_capsule_like_a_good_one_read_before_is_still_checked(tamper: str, match: str) -> None:
    # The (device, ndim, dtype) meanings are memoised: a broken capsule that
    # differs from a good one only where the memo does not look is refused all the same.
    from capsules import TAMPERS, make_capsule

    a = np.arange(6.0).reshape(2, 3)
    _dlpack.read_header(make_capsule(a))  # the good one, first
    broken = make_capsule(a, tamper=TAMPERS[tamper][0])
    with pytest.raises(xb.UnsupportedInputError, match=match):
        _dlpack.read_header(broken)
    _dlpack._release(broken)


def test_capsule_traits_are_one_object_per_kind_and_equal_fresh_traits() -> None:
    from capsules import Producer

    from xpbridge._lib.traits import Traits
    from xpbridge.backends.protocol import DLPackBackend, capsule_traits

    backend, numpy = DLPackBackend(), xb.backends.registry.backend_named("numpy")
    a = np.arange(6, dtype=np.float32)
    kinds = {
        "plain": Producer(a),
        "plain again": Producer(a.copy()),
        "read-only": Producer(a, readonly=True),
        "reversed": Producer(a[::-1]),
        "empty": Producer(a[:0]),
        "other dtype": Producer(a.astype(np.int32)),
    }
    traits = {}
    for kind, producer in kinds.items():
        exported = backend.prepare(producer, numpy, None, None)
        h = exported.header
        fresh = Traits(
            "dlpack",
            h.dtype,
            h.device,
            size_zero=0 in h.shape,
            readonly=h.readonly,
            unaligned=(h.data + h.byte_offset) % h.itemsize != 0,
            negative_strides=h.negative_strides,
            copied=h.copied or exported.requested_copy,
        )
        traits[kind] = backend.traits(exported)
        assert traits[kind] == fresh, kind
        # A namespace's capsule: its own library, read-only when its arrays refuse writes.
        assert capsule_traits(exported, "lib", readonly=True) == fresh._replace(
            library="lib", readonly=True
        )
    assert traits["plain"] is traits["plain again"]
    assert len({id(t) for t in traits.values()}) == len(kinds) - 1


def test_namespace_memos_give_what_the_namespace_says() -> None:
    fresh = ArrayAPIBackend("array_api_strict", xps)
    for name in ("bool", "int8", "uint64", "float32", "complex128"):
        dtype = getattr(xps, name)
        assert fresh.dtype_name(dtype) == name
        assert fresh.dtype_name(dtype) == name  # memoised: the same answer
    x = xps.asarray([1.0, 2.0])
    device1 = xps.Device("device1")
    kinds = [x, xps.asarray([3.0, 4.0]), xps.asarray([1, 2]), x[:0], xps.asarray(x, device=device1)]
    traits = [fresh.traits(k) for k in kinds]
    assert traits[0] is traits[1]
    assert [t.dtype for t in traits] == ["float64", "float64", "int64", "float64", "float64"]
    assert [t.size_zero for t in traits] == [False, False, False, True, False]
    assert traits[4].native_device == device1 != traits[0].native_device
    assert len({id(t) for t in traits}) == 4
    # Another backend of the same namespace (a replaced one) keeps its own memos.
    assert len(ArrayAPIBackend("array_api_strict", xps)._traits) == 0


def test_library_names_are_memoised_but_protocols_still_refused() -> None:
    from xpbridge._lib.namespaces import library_of_name

    for _ in range(2):
        assert library_of_name("sklearn.externals.array_api_compat.numpy") == "numpy"
        assert library_of_name("jax.numpy") == "jax"
        for protocol in ("dlpack", "buffer", "python"):
            with pytest.raises(xb.ArgumentError, match="names a protocol"):
                library_of_name(protocol)


@pytest.mark.thread_unsafe(reason="starts its own threads")
def test_protocol_memos_under_concurrent_first_use() -> None:
    # Threads convert and plan every kind of capsule at once, from empty memos:
    # each gets the plan's promise and the right values.
    import threading

    from capsules import Producer

    from xpbridge.backends import protocol

    protocol._CAPSULE_TRAITS.clear()
    _dlpack._MEANINGS.clear()
    sources = [
        Producer(np.arange(6, dtype=dtype).reshape(shape)[view], readonly=readonly)
        for dtype in (np.float32, np.int64, np.uint8)
        for shape, view in (((6,), slice(None)), ((2, 3), (slice(None), slice(None, None, -1))))
        for readonly in (False, True)
    ] + [xps.asarray(np.arange(4, dtype=np.float64)), xps.asarray(np.arange(4, dtype=np.int16))]
    barrier = threading.Barrier(4)
    failures: list[str] = []

    def work() -> None:
        barrier.wait()
        for _ in range(20):
            for source in sources:
                for target in ("numpy", "torch"):
                    promised = xb.plan(source, target)
                    out = xb.convert(source, target)
                    expected = np.asarray(getattr(source, "a", source))
                    got = out if target == "numpy" else out.numpy()
                    if got.tolist() != expected.tolist() or str(promised.dtype) != str(
                        expected.dtype
                    ):
                        failures.append(f"{source!r} -> {target}")
                    if target == "numpy" and out.flags.writeable is not promised.writable:
                        failures.append(f"{source!r} -> numpy writability")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
