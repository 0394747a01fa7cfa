"""DLPack capsules: ask for one, read its header, and consume it exactly once.

xpbridge reads a capsule's header (versioned and legacy layouts, dlpack.h)
before any consumer sees it, so the contract holds for producers it does not
know: negative strides never reach torch, a read-only capsule never becomes a
writable tensor, an unknown dtype is a DTypeError.  The consumer is our own
(written by hand: NumPy's ``from_dlpack`` rejects bfloat16 and, before 2.1,
``copy`` and ``dl_device``): a NumPy view whose owner calls the producer's
deleter when the last view dies.  A capsule that is never consumed is
released by its own destructor, which calls the deleter too.
"""

from __future__ import annotations

import ctypes
from typing import Any, NamedTuple

from ._devices import DLPACK_KINDS, Device
from ._dtypes import DTYPES
from .errors import CopyError, DeviceError

__all__ = ["Exported", "Header", "export", "read_header"]

READ_ONLY = 1 << 0  # DLPACK_FLAG_BITMASK_READ_ONLY
IS_COPIED = 1 << 1  # DLPACK_FLAG_BITMASK_IS_COPIED
MAX_VERSION = (1, 1)


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", _DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


_Deleter = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", _Deleter)]


class _DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class _DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [
        ("version", _DLPackVersion),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", _Deleter),
        ("flags", ctypes.c_uint64),
        ("dl_tensor", _DLTensor),
    ]


_api = ctypes.pythonapi
_api.PyCapsule_IsValid.restype = ctypes.c_int
_api.PyCapsule_IsValid.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_GetPointer.restype = ctypes.c_void_p
_api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_SetName.restype = ctypes.c_int
_api.PyCapsule_SetName.argtypes = [ctypes.py_object, ctypes.c_char_p]

# Names live for the whole process: PyCapsule_SetName keeps the pointer.
_VERSIONED, _USED_VERSIONED = b"dltensor_versioned", b"used_dltensor_versioned"
_LEGACY, _USED_LEGACY = b"dltensor", b"used_dltensor"


class Header(NamedTuple):
    """What a capsule says about its tensor."""

    versioned: bool
    flags: int
    data: int
    device: Device
    dtype: str  # canonical name, or "dlpack(code, bits, lanes)" when unknown
    itemsize: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]  # in bytes
    byte_offset: int

    @property
    def readonly(self) -> bool:
        return bool(self.flags & READ_ONLY)

    @property
    def negative_strides(self) -> bool:
        return any(s < 0 for n, s in zip(self.shape, self.strides, strict=True) if n > 1)

    @property
    def copied(self) -> bool:
        return bool(self.flags & IS_COPIED)


_BY_CODE = {row.dlpack: row.name for row in DTYPES.values() if row.dlpack is not None}


def _managed(capsule: Any) -> tuple[Any, bool]:
    for name, versioned, struct in (
        (_VERSIONED, True, _DLManagedTensorVersioned),
        (_LEGACY, False, _DLManagedTensor),
    ):
        if _api.PyCapsule_IsValid(capsule, name):
            pointer = _api.PyCapsule_GetPointer(capsule, name)
            return ctypes.cast(pointer, ctypes.POINTER(struct)).contents, versioned
    raise CopyError("the producer's __dlpack__ returned no unused DLPack capsule")


def read_header(capsule: Any) -> Header:
    """Read a capsule's header without consuming it."""
    managed, versioned = _managed(capsule)
    tensor = managed.dl_tensor
    dtype = tensor.dtype
    key = (dtype.code, dtype.bits)
    name = _BY_CODE.get(key, "") if dtype.lanes == 1 else ""
    name = name or f"dlpack(code={dtype.code}, bits={dtype.bits}, lanes={dtype.lanes})"
    itemsize = max(1, dtype.bits * dtype.lanes // 8)
    shape = tuple(tensor.shape[i] for i in range(tensor.ndim))
    if tensor.strides:
        strides = tuple(tensor.strides[i] * itemsize for i in range(tensor.ndim))
    else:  # NULL strides: compact row-major
        compact: list[int] = []
        step = itemsize
        for n in reversed(shape):
            compact.insert(0, step)
            step *= max(n, 1)
        strides = tuple(compact)
    kind = DLPACK_KINDS.get(tensor.device.device_type, f"dlpack{tensor.device.device_type}")
    device = Device(kind, 0 if kind == "cpu" else tensor.device.device_id)
    return Header(
        versioned,
        managed.flags if versioned else 0,
        tensor.data or 0,
        device,
        name,
        itemsize,
        shape,
        strides,
        tensor.byte_offset,
    )


class _Owner:
    """Keeps a consumed capsule's memory alive; calls the producer's deleter once."""

    def __init__(self, managed: Any) -> None:
        self._managed = managed

    def __del__(self) -> None:
        deleter = self._managed.deleter
        if deleter:
            deleter(ctypes.addressof(self._managed))


class _View:
    def __init__(self, owner: _Owner, interface: dict[str, Any]) -> None:
        self.owner = owner
        self.__array_interface__ = interface


class Exported:
    """A capsule asked of a producer, with its header read, not yet consumed."""

    def __init__(self, producer: Any, capsule: Any) -> None:
        self.producer = producer
        self.capsule = capsule
        self.header = read_header(capsule)
        self.requested_copy = False  # we asked the producer for copy=True

    def to_numpy(self) -> Any:
        """Consume the capsule into a NumPy array over the same memory."""
        import numpy as np

        from ._dtypes import numpy_dtype

        h = self.header
        target = numpy_dtype(h.dtype)
        managed, versioned = _managed(self.capsule)
        if (
            not _api.PyCapsule_SetName(self.capsule, _USED_VERSIONED if versioned else _USED_LEGACY)
            == 0
        ):
            raise CopyError("could not mark the DLPack capsule as used")
        owner = _Owner(managed)
        if 0 in h.shape:
            return np.empty(h.shape, dtype=target)  # no memory; the owner releases now
        carrier = target if DTYPES[h.dtype].numpy is not None else np.dtype(f"u{h.itemsize}")
        view = _View(
            owner,
            {
                "data": (h.data + h.byte_offset, h.readonly),
                "shape": h.shape,
                "strides": h.strides,
                "typestr": carrier.str,
                "version": 3,
            },
        )
        array = np.asarray(view)
        return array if carrier is target else array.view(target)


def export(
    producer: Any,
    *,
    dl_device: tuple[int, int] | None = None,
    copy: bool | None = None,
    stream: Any = None,
) -> Exported:
    """Ask ``producer`` for a capsule: versioned first, older signatures only when refused."""
    kwargs: dict[str, Any] = {"max_version": MAX_VERSION}
    if dl_device is not None:
        kwargs["dl_device"] = dl_device
    if copy is not None:
        kwargs["copy"] = copy
    if stream is not None:
        kwargs["stream"] = stream
    try:
        try:
            capsule = producer.__dlpack__(**kwargs)
        except (TypeError, NotImplementedError):
            # TypeError is what DLPack asks of old producers; array-api-strict on
            # NumPy 2.0 raises NotImplementedError for max_version instead.
            if dl_device is not None or copy is True:  # a legacy export never copies
                raise DeviceError(
                    f"{type(producer).__qualname__}.__dlpack__ predates DLPack 1.0 and cannot "
                    f"honour copy= or dl_device=; convert it on its own device first"
                ) from None
            capsule = producer.__dlpack__(**({"stream": stream} if stream is not None else {}))
    except (BufferError, ValueError) as e:
        if copy is False:
            raise CopyError(
                f"the producer needs a copy to export this array ({e}); pass copy=None"
            ) from e
        raise DeviceError(f"the producer refused to export this array: {e}") from e
    return Exported(producer, capsule)
