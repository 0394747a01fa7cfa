"""DLPack capsules: ask for one, check its header, and consume it exactly once.

xpbridge reads a capsule's header (versioned and legacy layouts, dlpack.h)
before any consumer sees it, so the contract holds for producers it does not
know: negative strides never reach torch, a read-only capsule never becomes a
writable tensor, an unknown dtype is a DTypeError.  A producer that breaks the
protocol (a DLPack major version this reader does not know, NULL shape or data
pointers, a capsule on another device than ``__dlpack_device__`` says, a
non-capsule) is refused with a documented error and its capsule is released
at once, unread past what the protocol allows.  The consumer is our own
(written by hand: NumPy's ``from_dlpack`` rejects bfloat16 and, before 2.1,
``copy`` and ``dl_device``): a NumPy view whose owner calls the producer's
deleter when the last view dies.  A capsule that is never consumed is
released by its own destructor, which calls the deleter too.
"""

from __future__ import annotations

import ctypes
import operator
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from ..errors import ConversionError, CopyError, DeviceError, UnsupportedInputError
from .devices import CPU, DLPACK_KINDS, Device, parse_device
from .dtypes import DTYPES
from .memo import Memo

__all__ = [
    "Exported",
    "Header",
    "export",
    "read_header",
    "reported_device",
]

READ_ONLY = 1 << 0  # DLPACK_FLAG_BITMASK_READ_ONLY
IS_COPIED = 1 << 1  # DLPACK_FLAG_BITMASK_IS_COPIED
MAX_VERSION = (1, 1)
# NumPy's limit (NPY_MAXDIMS), which every host consumer meets: a larger ndim is
# refused before the shape array is read.
MAX_NDIM = 64


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


class _VersionedHead(ctypes.Structure):
    # What dlpack.h keeps stable across major versions, so that a consumer can
    # always read the version and call the deleter: nothing past these fields.
    _fields_ = [
        ("version", _DLPackVersion),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", _Deleter),
    ]


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
_get_pointer = _api.PyCapsule_GetPointer

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
        strides = self.strides
        if not strides or min(strides) >= 0:
            return False  # the common case, decided without a generator
        return any(s < 0 for n, s in zip(self.shape, strides, strict=True) if n > 1)

    @property
    def copied(self) -> bool:
        return bool(self.flags & IS_COPIED)

    def as_copy(self, device: Device) -> Header:
        """The header of the compact copy a producer makes on ``device`` when asked."""
        return self._replace(
            flags=IS_COPIED,
            data=0,
            device=device,
            strides=_compact(self.shape, self.itemsize),
            byte_offset=0,
        )


# Header's own constructor without its Python frame (read_header makes one per call).
_new_tuple = tuple.__new__

_BY_CODE = {row.dlpack: row.name for row in DTYPES.values() if row.dlpack is not None}


def type_name(x: Any) -> str:
    """The qualified name of ``x``'s type, for messages."""
    cls = type(x)
    return f"{cls.__module__}.{cls.__qualname__}"


def _compact(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    strides: list[int] = []
    step = itemsize
    for n in reversed(shape):
        strides.insert(0, step)
        step *= max(n, 1)
    return tuple(strides)


def _pointer(capsule: Any) -> tuple[int, bool]:
    """The managed tensor's address, and whether it is the versioned layout."""
    try:
        # One call for the common case: PyCapsule_GetPointer checks that the object
        # is a capsule of that very name, else raises ValueError (and reads nothing).
        return _get_pointer(capsule, _VERSIONED), True
    except ValueError:
        return _legacy_pointer(capsule), False


def _legacy_pointer(capsule: Any) -> int:
    if _api.PyCapsule_IsValid(capsule, _LEGACY):
        return _get_pointer(capsule, _LEGACY)  # type: ignore[no-any-return]
    what = type(capsule).__qualname__
    raise UnsupportedInputError(
        f"the producer's __dlpack__ returned a {what}, not an unused DLPack capsule "
        f"('dltensor_versioned' or 'dltensor'); it breaks the DLPack protocol, so "
        f"xpbridge cannot read its data"
    )


def _mark_used(capsule: Any, versioned: bool) -> None:
    # A used capsule's destructor no longer calls the deleter: it is ours to call.
    if _api.PyCapsule_SetName(capsule, _USED_VERSIONED if versioned else _USED_LEGACY) != 0:
        raise UnsupportedInputError("could not mark the producer's DLPack capsule as used")


def _release(capsule: Any) -> None:
    """Hand an unconsumed capsule back now: mark it used and call the producer's deleter.

    Reads only what dlpack.h promises for any version: the head of the
    versioned layout, or the legacy layout (which has no version).
    """
    for name, used, layout in (
        (_VERSIONED, _USED_VERSIONED, _VersionedHead),
        (_LEGACY, _USED_LEGACY, _DLManagedTensor),
    ):
        if _api.PyCapsule_IsValid(capsule, name):
            pointer = _api.PyCapsule_GetPointer(capsule, name)
            if _api.PyCapsule_SetName(capsule, used) == 0:
                deleter = ctypes.cast(pointer, ctypes.POINTER(layout)).contents.deleter
                if deleter:
                    deleter(pointer)
            return
    # Not an unused capsule: nothing of the producer's is ours to release.


def _broken(why: str) -> UnsupportedInputError:
    return UnsupportedInputError(
        f"the producer's DLPack capsule is malformed: {why}; xpbridge released it "
        f"without reading its data"
    )


# The layouts of dlpack.h read with one struct.unpack_from each ("@": native
# sizes and alignment, as the C compiler lays them out): a fifth of the cost
# of reading ctypes structures field by field.  The versioned layout's first
# 8 bytes are its version, read alone first: past them, another major
# version's layout may differ.
_VERSION = struct.Struct("@II")
# DLManagedTensorVersioned: version, manager_ctx, deleter, flags, then the DLTensor
# (data, device type and id, ndim, dtype code, bits and lanes, shape, strides,
# byte_offset).
_VERSIONED_LAYOUT = struct.Struct("@IIPPQPiiiBBHPPQ")
# DLManagedTensor: the DLTensor first (manager_ctx and deleter follow, unread).
_LEGACY_LAYOUT = struct.Struct("@PiiiBBHPPQ")


# ctypes array types of the sizes read, made once (a type per call costs more
# than the read), and the int64 arrays' formats by their count.
_VERSIONED_BYTES = ctypes.c_char * _VERSIONED_LAYOUT.size
_LEGACY_BYTES = ctypes.c_char * _LEGACY_LAYOUT.size
# Made on first use (dict writes are atomic; two threads make equal entries).
_INT64S: Memo[tuple[struct.Struct, Any]] = Memo("int64 array readers", "a count of int64s", 256)

# What a header's (device type, device id, ndim, type code, bits, lanes) mean:
# its device, dtype name and item size.  Checked once per combination (they
# are few: bounded all the same); only combinations that pass are kept, so a
# hit is a passed check, and the checks of the rest run as before.
_MEANINGS: Memo[tuple[Device, str, int]] = Memo(
    "DLPack header meanings", "(device type, device id, ndim, type code, bits, lanes)"
)


def _meaning(key: tuple[int, ...]) -> tuple[Device, str, int]:
    code, device_id, ndim, type_code, bits, lanes = key
    if not 0 <= ndim <= MAX_NDIM:
        raise _broken(f"ndim is {ndim}, outside 0..{MAX_NDIM}")
    name = _BY_CODE.get((type_code, bits), "") if lanes == 1 else ""
    name = name or f"dlpack(code={type_code}, bits={bits}, lanes={lanes})"
    kind = DLPACK_KINDS.get(code) or f"dlpack{code}"
    device = CPU if kind == "cpu" else Device(kind, device_id)
    return _MEANINGS.put(key, (device, name, max(1, bits * lanes // 8)))


def read_header(capsule: Any) -> Header:
    """Read and check a capsule's header without consuming it.

    Raises :class:`UnsupportedInputError` for a capsule this reader must not
    trust; the capsule is then still unconsumed (the caller releases it).
    """
    flags = 0
    pointer, versioned = _pointer(capsule)
    if not versioned:
        fields = _LEGACY_LAYOUT.unpack_from(_LEGACY_BYTES.from_address(pointer))
    else:
        # A ctypes view of the memory reads nothing until unpacked: the version first.
        raw = _VERSIONED_BYTES.from_address(pointer)
        major, minor = _VERSION.unpack_from(raw)
        if major != MAX_VERSION[0]:
            raise UnsupportedInputError(
                f"the producer's DLPack capsule has version {major}.{minor}, "
                f"and xpbridge reads DLPack {MAX_VERSION[0]}.x only (its layout may differ); "
                f"xpbridge released it without reading past the version"
            )
        fields = _VERSIONED_LAYOUT.unpack_from(raw)
        flags = fields[4]
        fields = fields[5:]
    data, _, _, ndim, _, _, _, shape_at, strides_at, offset = fields
    key = fields[1:7]  # device type and id, ndim, dtype code, bits and lanes
    device, name, itemsize = _MEANINGS.data.get(key) or _meaning(key)
    steps: tuple[int, ...] | None
    if ndim:
        if not shape_at:
            raise _broken(f"ndim is {ndim} but the shape pointer is NULL")
        if strides_at == shape_at + 8 * ndim:
            # Shape and strides side by side (as NumPy and torch allocate them): one read.
            both = _int64s(shape_at, 2 * ndim)
            shape, steps = both[:ndim], both[ndim:]
        else:
            shape = _int64s(shape_at, ndim)
            steps = _int64s(strides_at, ndim) if strides_at else None
        if min(shape) < 0:
            raise _broken(f"the shape {shape} has a negative extent")
    else:
        shape, steps = (), ()
    if not data:
        data = 0  # NULL arrives as None
        if 0 not in shape:
            raise _broken(f"the data pointer is NULL for data of shape {shape}")
    if steps is None:  # NULL strides (legacy capsules): compact row-major
        strides = _compact(shape, itemsize)
    else:
        strides = (
            steps
            if itemsize == 1
            else (steps[0] * itemsize,)  # one dimension: no list to build
            if ndim == 1
            else tuple([s * itemsize for s in steps])
        )
    return _new_tuple(
        Header, (versioned, flags, data, device, name, itemsize, shape, strides, offset)
    )


def _int64s(address: int, n: int) -> tuple[int, ...]:
    """``n`` (1 to 2 * MAX_NDIM) int64 values at ``address``: the shape or strides array."""
    known = _INT64S.data.get(n)
    if known is None:
        known = _INT64S.put(n, (struct.Struct(f"@{n}q"), ctypes.c_char * (8 * n)))
    layout, raw = known
    return layout.unpack_from(raw.from_address(address))


def _int_pair(reply: Any) -> tuple[int, int] | None:
    """``reply`` as two integers (IntEnum device types count), or None."""
    if type(reply) is tuple and len(reply) == 2:
        code, index = reply
        if type(code) is int and type(index) is int:
            return code, index  # the common case, decided without a generator
    if not isinstance(reply, tuple) or len(reply) != 2 or any(isinstance(v, bool) for v in reply):
        return None
    try:
        return operator.index(reply[0]), operator.index(reply[1])
    except Exception:  # noqa: BLE001 - whatever __index__ raises, it is no integer
        return None


def reported_device(producer: Any, remedy: Callable[[Any], str] | None = None) -> Device:
    """The device ``producer.__dlpack_device__()`` names, checked.

    A reply that is not a ``(device_type, device_id)`` pair of integers is an
    :class:`UnsupportedInputError`; a device type DLPack does not define is a
    :class:`DeviceError`.  Exceptions the producer raises are wrapped, the
    original chained; ``BaseException``-only ones (KeyboardInterrupt) pass.
    ``remedy`` adds a library-specific way out to that message (pyarrow before
    26 refuses an array with nulls already here, not in ``__dlpack__``).
    """
    try:
        reply = producer.__dlpack_device__()
    except Exception as e:
        hint = remedy(producer) if remedy is not None else ""
        raise UnsupportedInputError(
            f"{type_name(producer)}.__dlpack_device__() raised {type(e).__name__}: {e}{hint}"
        ) from e
    if type(reply) is tuple and len(reply) == 2 and type(reply[0]) is type(reply[1]) is int:
        known = _DEVICES.data.get(reply)  # a pair of plain ints seen before: checked then
        if known is not None:
            return known
    pair = _int_pair(reply)
    known = _DEVICES.data.get(pair)
    if known is not None:
        return known
    if pair is None:
        raise UnsupportedInputError(
            f"{type_name(producer)}.__dlpack_device__() returned {reply!r}, not a (device_type, "
            f"device_id) pair of integers; it breaks the DLPack protocol"
        )
    code, index = pair
    kind = DLPACK_KINDS.get(code)
    if kind is None:
        raise DeviceError(
            f"{type_name(producer)}.__dlpack_device__() names DLPack device type {code}, which DLPack "
            f"{MAX_VERSION[0]}.{MAX_VERSION[1]} does not define; xpbridge cannot tell "
            f"where its memory is"
        )
    if index < 0:
        raise UnsupportedInputError(
            f"{type_name(producer)}.__dlpack_device__() returned the device id {index}; ids are "
            f"never negative"
        )
    device = Device(kind, 0 if kind == "cpu" else index)
    return _DEVICES.put(pair, device)


# Devices already checked, by the (device_type, device_id) pair that named them:
# every check above depends on the pair alone (only errors name the producer,
# and errors are not kept).
_DEVICES: Memo[Device] = Memo("DLPack devices", "a (device_type, device_id) pair", 256)


# The dtypes NumPy's from_dlpack reads (its own types; not ml_dtypes', which it
# refuses).  It consumes a checked capsule only from NumPy 2.2.5, which honours
# the read-only flag; before, it made every view read-only.
_NUMPY_READS = frozenset(
    name for name, row in DTYPES.items() if row.numpy is not None and row.dlpack is not None
)
# NumPy's from_dlpack where it honours the read-only flag (else None), looked up
# once: [] until then (two threads may both look; they find the same).
_NUMPY_CONSUMER: list[Any] = []


def _numpy_consumer() -> Any:
    if not _NUMPY_CONSUMER:
        import numpy as np

        # Before 2.2.5 every imported array is read-only (upstream fact
        # numpy-from-dlpack-keeps-writable).
        honours = np.lib.NumpyVersion(np.__version__) >= "2.2.5"
        _NUMPY_CONSUMER.append(np.from_dlpack if honours else None)
    return _NUMPY_CONSUMER[0]


class _Checked:
    """Hands NumPy's from_dlpack a capsule already read and checked, on the host."""

    __slots__ = ("capsule",)

    def __init__(self, capsule: Any) -> None:
        self.capsule = capsule

    def __dlpack__(self, **keywords: Any) -> Any:
        return self.capsule

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)


class _View:
    def __init__(self, owner: _Owner, interface: dict[str, Any]) -> None:
        self.owner = owner
        self.__array_interface__ = interface


class _Owner:
    """Keeps a consumed capsule's memory alive; calls the producer's deleter once."""

    def __init__(self, pointer: int, deleter: Any) -> None:
        self._pointer, self._deleter = pointer, deleter

    def __del__(self) -> None:
        if self._deleter:
            self._deleter(self._pointer)


class Exported:
    """A capsule asked of a producer, its header read and checked, not yet consumed."""

    __slots__ = ("capsule", "header", "producer", "requested_copy")

    def __init__(self, producer: Any, capsule: Any, header: Header) -> None:
        self.producer = producer
        self.capsule = capsule
        self.header = header
        self.requested_copy = False  # we asked the producer for copy=True

    @classmethod
    def described(cls, producer: Any, header: Header, *, requested_copy: bool) -> Exported:
        """What planning reads: the header a conversion will see, and no capsule held."""
        exported = cls(producer, None, header)
        exported.requested_copy = requested_copy
        return exported

    def to_numpy(self) -> Any:
        """Consume the capsule into a NumPy array over the same memory."""
        h = self.header
        if (
            h.versioned  # NumPy makes a legacy capsule's view read-only
            and h.dtype in _NUMPY_READS
            and h.device.kind == "cpu"
            and 0 not in h.shape
        ):
            consume = _NUMPY_CONSUMER[0] if _NUMPY_CONSUMER else _numpy_consumer()
            # The capsule is checked (header, device): NumPy's own consumer makes
            # the same view (read-only exactly when the flag says so) for a twentieth
            # of the cost of the one below.  If it refuses, it has not consumed
            # the capsule, and the one below says why.
            if consume is not None:
                try:
                    return consume(_Checked(self.capsule))
                except (BufferError, RuntimeError, TypeError, ValueError):
                    pass
        import numpy as np

        from .dtypes import numpy_dtype

        target = numpy_dtype(h.dtype)
        pointer, versioned = _pointer(self.capsule)
        _mark_used(self.capsule, versioned)
        layout = _VersionedHead if versioned else _DLManagedTensor
        owner = _Owner(pointer, ctypes.cast(pointer, ctypes.POINTER(layout)).contents.deleter)
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
        try:
            array = np.asarray(view)
        except ValueError as e:  # e.g. more dimensions than this NumPy allows (32 before 2.0)
            raise UnsupportedInputError(f"NumPy cannot view the capsule's data: {e}") from e
        return array if carrier is target else array.view(target)


# What a __dlpack__ that predates a keyword says when it is passed one: CPython's
# and Cython's wording, and pybind11's / nanobind's.  Only an exact TypeError
# counts: a subclass (pyarrow's ArrowTypeError) is the producer refusing the array.
_REJECTED_KEYWORD = (
    "unexpected keyword argument",
    "invalid keyword argument",
    "takes no keyword arguments",
    "incompatible function arguments",
)


def _rejects_keywords(error: Exception) -> bool:
    """Whether ``__dlpack__`` refused the call's keywords (an older signature), not the array."""
    message = str(error)
    if type(error) is TypeError:
        return any(phrase in message for phrase in _REJECTED_KEYWORD)
    # array-api-strict on NumPy < 2.1: "The max_version argument to __dlpack__ is
    # not yet implemented".
    return type(error) is NotImplementedError and "argument" in message


def _refusal(
    producer: Any,
    error: Exception,
    copy: bool | None,
    dl_device: tuple[int, int] | None,
    remedy: Callable[[Any], str] | None,
) -> ConversionError:
    """The documented error for a producer that would not export (the original is chained)."""
    said = f"{type(error).__name__}: {error}"
    if copy is False and isinstance(error, (BufferError, ValueError)):
        return CopyError(
            f"copy=False, but {type_name(producer)} needs a copy to export this array ({said}). "
            f"Pass copy=None to allow it"
        )
    if dl_device is not None and isinstance(error, (BufferError, ValueError)):
        return DeviceError(
            f"{type_name(producer)} cannot hand this array over in host memory ({said}); copy it "
            f"to the host with its own library first"
        )
    hint = remedy(producer) if remedy is not None else ""
    return UnsupportedInputError(
        f"{type_name(producer)}.__dlpack__ refused to export this array ({said}){hint}"
    )


def _ask(
    producer: Any,
    dl_device: tuple[int, int] | None,
    copy: bool | None,
    stream: Any,
    remedy: Callable[[Any], str] | None,
) -> Any:
    """Call ``__dlpack__``: versioned first, the legacy signature only when the keywords are refused."""
    try:
        if dl_device is None and copy is None and stream is None:
            return producer.__dlpack__(max_version=MAX_VERSION)  # the common call, no dict
        kwargs: dict[str, Any] = {"max_version": MAX_VERSION}
        if dl_device is not None:
            kwargs["dl_device"] = dl_device
        if copy is not None:
            kwargs["copy"] = copy
        if stream is not None:
            kwargs["stream"] = stream
        return producer.__dlpack__(**kwargs)
    except Exception as e:
        if not _rejects_keywords(e):
            raise _refusal(producer, e, copy, dl_device, remedy) from e
        if dl_device is not None or copy is True:  # a legacy export never copies
            raise DeviceError(
                f"{type_name(producer)}.__dlpack__ predates DLPack 1.0 and cannot honour copy= or "
                f"dl_device=: its data can be read only on its own device"
            ) from e
    try:
        return producer.__dlpack__(**({"stream": stream} if stream is not None else {}))
    except Exception as e:
        raise _refusal(producer, e, copy, dl_device, remedy) from e


def export(
    producer: Any,
    *,
    dl_device: tuple[int, int] | None = None,
    copy: bool | None = None,
    stream: Any = None,
    device: Device | None = None,
    remedy: Callable[[Any], str] | None = None,
) -> Exported:
    """Ask ``producer`` for a capsule and check it before anyone reads its data.

    ``device`` is where ``__dlpack_device__`` said the data is; the capsule
    must agree (with ``dl_device``, it must be on that device instead).
    ``remedy`` adds a library-specific way out to a refusal's message.  A
    capsule that fails a check is released at once.
    """
    capsule = _ask(producer, dl_device, copy, stream, remedy)
    expected = parse_device(dl_device) if dl_device is not None else device
    try:
        header = read_header(capsule)
        if expected is not None and header.device != expected:
            asked = " (asked for with dl_device)" if dl_device is not None else ""
            raise DeviceError(
                f"{type_name(producer)} handed over a DLPack capsule on {header.device}, but "
                f"its data should be on {expected}{asked}; xpbridge does not guess which "
                f"is true and released the capsule unread"
            )
    except ConversionError:
        _release(capsule)
        raise
    return Exported(producer, capsule, header)
