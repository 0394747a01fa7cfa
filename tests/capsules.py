"""A hand-made DLPack producer: capsules with any device, flags and strides, counting deletes.

Built with ctypes from dlpack.h's layout, independently of xpbridge's reader,
so the tests can feed xpbridge producers it has never seen.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import numpy as np

from xpbridge._lib.dlpack import (
    _Deleter,
    _DLManagedTensor,
    _DLManagedTensorVersioned,
    _VersionedHead,
)

_api = ctypes.pythonapi
_api.PyCapsule_New.restype = ctypes.py_object
_api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_Destructor = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_NAME_V, _NAME_L = b"dltensor_versioned", b"dltensor"
_KEEP: dict[int, Any] = {}  # producer-side state, keyed by the managed struct's address
DELETED: list[int] = []  # serial numbers of the capsules whose deleter ran (-1: a stray call)
CREATED: list[int] = []


@_Deleter
def _delete(address: int) -> None:
    state = _KEEP.pop(address, None)  # addresses are reused once freed: count serials
    DELETED.append(-1 if state is None else state[0])


def _capsule_destructor(capsule: int) -> None:
    # What every producer does: an unconsumed capsule calls its deleter.
    obj = ctypes.cast(capsule, ctypes.py_object)
    for name in (_NAME_V, _NAME_L):
        if _api.PyCapsule_IsValid(obj, name):
            _delete(_api.PyCapsule_GetPointer(obj, name))


_DESTRUCTOR = _Destructor(_capsule_destructor)
_api.PyCapsule_IsValid.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_GetPointer.restype = ctypes.c_void_p


def make_capsule(
    a: np.ndarray,
    *,
    device: tuple[int, int] = (1, 0),
    flags: int = 0,
    versioned: bool = True,
    code_bits: tuple[int, int] | None = None,
    version: tuple[int, int] = (1, 0),
    tamper: Callable[[Any], None] | None = None,
) -> Any:
    """A capsule over ``a``'s memory (strides in elements, as DLPack wants).

    ``tamper`` edits the finished struct (a NULL shape, a NULL data pointer...).
    """
    struct = _DLManagedTensorVersioned() if versioned else _DLManagedTensor()
    shape = (ctypes.c_int64 * a.ndim)(*a.shape)
    strides = (ctypes.c_int64 * a.ndim)(*(s // a.itemsize for s in a.strides))
    t = struct.dl_tensor
    t.data = a.__array_interface__["data"][0]
    t.device.device_type, t.device.device_id = device
    t.ndim = a.ndim
    code = {"f": 2, "i": 0, "u": 1, "b": 6, "c": 5}[a.dtype.kind]
    t.dtype.code, t.dtype.bits = code_bits or (code, a.itemsize * 8)
    t.dtype.lanes = 1
    t.shape, t.strides = shape, strides
    struct.deleter = _delete
    if versioned:
        struct.version.major, struct.version.minor = version
        struct.flags = flags
    if tamper is not None:
        tamper(struct)
    address = ctypes.addressof(struct)
    serial = len(CREATED)
    _KEEP[address] = (serial, struct, shape, strides, a)
    CREATED.append(serial)
    return _api.PyCapsule_New(
        address, _NAME_V if versioned else _NAME_L, ctypes.cast(_DESTRUCTOR, ctypes.c_void_p)
    )


def make_head_capsule(address: int, version: tuple[int, int]) -> Any:
    """A versioned capsule that is only the head dlpack.h keeps stable (version, deleter).

    Placed at ``address``, so a test can put unreadable memory right after it.
    """
    head = _VersionedHead.from_address(address)
    head.version.major, head.version.minor = version
    head.deleter = _delete
    serial = len(CREATED)
    _KEEP[address] = (serial, head)
    CREATED.append(serial)
    return _api.PyCapsule_New(address, _NAME_V, ctypes.cast(_DESTRUCTOR, ctypes.c_void_p))


class Producer:
    """An array of a library xpbridge does not know, speaking only DLPack."""

    def __init__(
        self,
        a: np.ndarray,
        *,
        device: tuple[int, int] = (1, 0),
        readonly: bool = False,
        versioned: bool = True,
        host_copy_on_request: bool = False,
    ) -> None:
        self.a, self.device, self.readonly = a, device, readonly
        self.versioned, self.host_copy_on_request = versioned, host_copy_on_request
        self.requests: list[dict[str, Any]] = []

    def __dlpack_device__(self) -> tuple[int, int]:
        return self.device

    def __dlpack__(self, **kwargs: Any) -> Any:
        self.requests.append(kwargs)
        if not self.versioned and kwargs and set(kwargs) - {"stream"}:
            raise TypeError("__dlpack__() got an unexpected keyword argument")
        if kwargs.get("dl_device") == (1, 0) and self.device != (1, 0):
            if not (self.host_copy_on_request and kwargs.get("copy") is True):
                raise BufferError("this producer copies to the host only when asked with copy=True")
            return make_capsule(self.a.copy(), flags=2)  # IS_COPIED
        if kwargs.get("copy") is True:  # a compact copy, on the producer's own device
            return make_capsule(np.ascontiguousarray(self.a), device=self.device, flags=2)
        flags = 1 if self.readonly else 0
        return make_capsule(self.a, device=self.device, flags=flags, versioned=self.versioned)


def _null_shape(s: Any) -> None:
    s.dl_tensor.shape = None


def _null_data(s: Any) -> None:
    s.dl_tensor.data = None


def _huge_ndim(s: Any) -> None:
    s.dl_tensor.ndim = 1 << 20


def _negative_ndim(s: Any) -> None:
    s.dl_tensor.ndim = -1


def _negative_extent(s: Any) -> None:
    s.dl_tensor.shape[0] = -3


# Ways to break a capsule's struct, each with what xpbridge must say about it.  Read
# as they are, a huge ndim is an out-of-bounds read that can crash the reader.
TAMPERS: dict[str, tuple[Callable[[Any], None], str]] = {
    "null-shape": (_null_shape, "shape pointer is NULL"),
    "null-data": (_null_data, "data pointer is NULL"),
    "huge-ndim": (_huge_ndim, "ndim is 1048576"),
    "negative-ndim": (_negative_ndim, "ndim is -1"),
    "negative-extent": (_negative_extent, "negative extent"),
}

_UNSET: Any = object()


class Hostile(Producer):
    """A producer that breaks DLPack in one chosen way.

    ``capsule_device``: the capsule's device, whatever ``__dlpack_device__`` says;
    ``version`` and ``tamper``: passed to :func:`make_capsule`; ``device_reply``:
    what ``__dlpack_device__`` returns (an exception instance: raised);
    ``returns``: what ``__dlpack__`` returns instead of a capsule; ``raises``:
    what ``__dlpack__`` raises.
    """

    def __init__(
        self,
        a: np.ndarray,
        *,
        device: tuple[int, int] = (1, 0),
        capsule_device: tuple[int, int] | None = None,
        version: tuple[int, int] = (1, 0),
        tamper: Callable[[Any], None] | None = None,
        device_reply: Any = _UNSET,
        returns: Any = _UNSET,
        raises: BaseException | None = None,
    ) -> None:
        super().__init__(a, device=device)
        self.capsule_device, self.version, self.tamper = capsule_device, version, tamper
        self.device_reply, self.returns, self.raises = device_reply, returns, raises

    def __dlpack_device__(self) -> Any:
        if isinstance(self.device_reply, BaseException):
            raise self.device_reply
        return self.device if self.device_reply is _UNSET else self.device_reply

    def __dlpack__(self, **kwargs: Any) -> Any:
        self.requests.append(kwargs)
        if self.raises is not None:
            raise self.raises
        if self.returns is not _UNSET:
            return self.returns
        return make_capsule(
            self.a,
            device=self.capsule_device or self.device,
            version=self.version,
            tamper=self.tamper,
        )
