"""Sources that xpbridge reaches through protocols, not by name.

- :class:`DLPackBackend`: anything with ``__dlpack__`` / ``__dlpack_device__``
  (array-api-strict, JAX, CuPy, pyarrow, ...).  The capsule is checked before
  use, and a producer that breaks the protocol gets a documented error.
- :class:`BufferBackend`: memory an object describes itself: the buffer
  protocol (bytes, bytearray, memoryview, array.array, mmap, ctypes,
  PickleBuffer, ...) and ``__array_interface__``, viewed through NumPy, and
  ``__cuda_array_interface__``, viewed through torch where CUDA exists.

Planning never moves data: :meth:`DLPackBackend.prepare` with ``planning=True``
asks the producer only for an export in place and assumes the copy that
:func:`xpbridge.convert` would ask for.
"""

from __future__ import annotations

import array
import ctypes
import mmap
import re
import sys
from typing import Any, ClassVar

from .._lib.devices import CPU, Device
from .._lib.dlpack import IS_COPIED, READ_ONLY, Exported, Header, export, reported_device, type_name
from .._lib.dtypes import DTYPES
from .._lib.memo import Memo
from .._lib.traits import Traits
from ..errors import ConversionError, CopyError, DeviceError, DTypeError, UnsupportedInputError
from ._base import Backend, Extent
from .numpy import NumpyBackend
from .torch import TorchBackend

_NUMPY = NumpyBackend()  # buffers are described and measured as the NumPy views they are
_TORCH = TorchBackend()  # CUDA array interfaces, as the torch tensors torch makes of them

__all__ = ["BufferBackend", "DLPackBackend", "capsule_traits", "known_remedy", "unconvertible"]


def _has(x: Any, name: str) -> bool:
    """``hasattr`` that counts an attribute whose lookup fails otherwise as present.

    ``hasattr`` lets every exception but AttributeError escape; a property that
    raises is still the object claiming the protocol, and :meth:`prepare` says
    what went wrong.
    """
    try:
        getattr(x, name)
    except AttributeError:
        return False
    except Exception:  # noqa: BLE001 - present, but broken: prepare reports it
        return True
    return True


def immutable(x: Any) -> bool:
    """Whether ``x``'s library never lets its memory be written, whatever its capsule says.

    Arrow memory is immutable, but pyarrow before 26 exports only unversioned
    DLPack capsules, which have no read-only flag (the fact
    ``pyarrow-dlpack-read-only``): its arrays are read-only by their type.
    """
    pa = sys.modules.get("pyarrow")
    return pa is not None and isinstance(x, pa.Array)


def known_remedy(x: Any) -> str:
    """A way out for a producer that refused to export, where its library has one."""
    pa = sys.modules.get("pyarrow")
    if pa is None or not isinstance(x, pa.Array):
        return ""
    kind, nulls = x.type, x.null_count
    if nulls and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return (
            f". The pyarrow array has {nulls} null value(s), which DLPack cannot carry: "
            f"fill them first (call .fill_null(0), or another value)"
        )
    if pa.types.is_boolean(kind) and not nulls:
        return (
            ". pyarrow packs booleans into bits, which DLPack cannot describe: "
            "call .to_numpy(zero_copy_only=False) for a NumPy bool array (a copy)"
        )
    return ""


def unconvertible(x: Any) -> str:
    """Why ``x`` cannot be converted, for an object no backend owns, with a way out that works."""
    sparse = sys.modules.get("scipy.sparse")
    if sparse is not None and sparse.issparse(x):
        return (
            f"cannot convert a {type_name(x)}: scipy.sparse data has no dense memory to share, "
            f"and xpbridge never densifies silently: call .toarray() for a dense NumPy array"
        )
    why = (
        f"cannot convert an object of type {type_name(x)}: it speaks no array protocol "
        f"xpbridge reads (DLPack, the buffer protocol, __array_interface__, "
        f"__cuda_array_interface__) and no registered backend owns it"
    )
    if _has(x, "__array__"):
        return f"{why}. It defines __array__: numpy.asarray(x) gives a NumPy array of it"
    return (
        f"{why}; convert it to an array of a supported library yourself, or register a "
        f"backend for its type"
    )


class DLPackBackend(Backend):
    """Any DLPack producer; its capsule is checked before a consumer sees it."""

    name: ClassVar[str] = "dlpack"
    readonly_arrays = True
    negative_strides = True
    exchanges: ClassVar[dict[tuple[str, str], str]] = {("dlpack", "numpy"): "from_dlpack"}
    host_meets_as_numpy = True

    def owns(self, cls: type) -> bool:
        return hasattr(cls, "__dlpack__") and hasattr(cls, "__dlpack_device__")

    def device_of(self, x: Any) -> Device:
        return reported_device(x, known_remedy)

    def prepare(
        self,
        x: Any,
        target: Backend,
        device: Device | None,
        copy: bool | None,
        *,
        planning: bool = False,
    ) -> Exported:
        source = reported_device(x, known_remedy)
        in_place = False if copy is False else None  # None lets the producer copy only if it must
        if source.kind == "cpu":  # on the host: exported in place wherever it goes next
            exported = export(x, copy=in_place, device=source, remedy=known_remedy)
            if planning:  # planning holds no capsule: released as its last reference goes
                exported.capsule = None
            return exported
        wanted = device or (source if source.kind in target.device_kinds else CPU)
        if wanted.kind == "cpu":
            if copy is False:
                raise CopyError(
                    f"copy=False, but the source lives on {source} and {target.name} needs it "
                    f"on the host: that is a copy. Pass copy=None to allow it"
                )
            if planning:
                # Read the dtype and shape where the data is, and describe the copy
                # convert will ask for.  Not checked against `source`: convert checks
                # the capsule it gets (on the host), not this one.
                return Exported.described(x, _peek(x).as_copy(CPU), requested_copy=True)
            # The producer makes the host copy (DLPack 1.0 dl_device + copy).
            exported = export(x, dl_device=(1, 0), copy=True, remedy=known_remedy)
            exported.requested_copy = True
            return _checked_copy(x, exported)
        # Consumed on its own device: the device must exist here, and the
        # producer orders its work before our current stream (the handshake).
        target.resolve_device(source)
        stream = target.consumer_stream(source)
        exported = export(x, copy=in_place, stream=stream, device=source, remedy=known_remedy)
        if exported.header.negative_strides and copy is not False:
            # torch.from_dlpack aborts on negative strides: ask for a compact copy
            # (the first capsule is released as its last reference goes).
            if planning:
                copy_header = exported.header.as_copy(source)
                return Exported.described(x, copy_header, requested_copy=True)
            exported = export(x, copy=True, stream=stream, device=source, remedy=known_remedy)
            exported.requested_copy = True
            exported = _checked_copy(x, exported)
        if planning:  # the capsule is released as its last reference goes
            return Exported.described(x, exported.header, requested_copy=False)
        return exported

    def traits(self, x: Exported) -> Traits:
        return capsule_traits(x, "dlpack", not x.requested_copy and immutable(x.producer))

    def holds(self, dtype: str) -> bool:
        row = DTYPES.get(dtype)
        return row is not None and row.dlpack is not None and row.host is not None

    def casts(self, source: str, target: str) -> bool:
        return False  # a producer is never asked to cast

    def extent(self, x: Any) -> Extent | None:
        try:
            h = _peek(x)
        except ConversionError:
            return None  # a producer that will not export it: no memory we can point at
        return Extent(h.device, h.data + h.byte_offset, h.shape, h.strides, h.itemsize)

    def step_from_dlpack(self, x: Exported, plan: Any) -> Any:
        return x.to_numpy()


# Traits of checked capsules, by their values: one object per kind of source,
# so the planner's identity memo (xpbridge._pipeline.request.default_request) finds its
# plan without hashing every field.  Dict reads and writes are atomic and
# every thread makes equal values, so no lock; bounded by clearing when full
# (a cleared entry is only made again).
_CAPSULE_TRAITS: Memo[Traits] = Memo("capsule traits", "a checked capsule's planning values")


def capsule_traits(x: Exported, library: str, readonly: bool = False) -> Traits:
    """The traits of a checked capsule of ``library`` (``readonly``: its source refuses writes)."""
    h = x.header
    flags = h.flags
    key = (
        library,
        h.dtype,
        h.device,
        0 in h.shape,
        readonly or flags & READ_ONLY != 0,
        (h.data + h.byte_offset) % h.itemsize != 0,
        h.negative_strides,
        flags & IS_COPIED != 0 or x.requested_copy,
    )
    traits = _CAPSULE_TRAITS.data.get(key)
    if traits is None:
        _, dtype, device, size_zero, readonly, unaligned, negative_strides, copied = key
        traits = Traits(
            library,
            dtype,
            device,
            size_zero=size_zero,
            readonly=readonly,
            unaligned=unaligned,
            negative_strides=negative_strides,
            copied=copied,
        )
        _CAPSULE_TRAITS.put(key, traits)
    return traits


def _checked_copy(x: Any, exported: Exported) -> Exported:
    """A capsule asked for as a copy, refused when it is the producer's own memory.

    A producer that sets IS_COPIED said so; one that does not is compared with
    an in-place export: the same data pointer means it ignored ``copy=True``,
    and the result would alias memory the plan calls a new buffer.
    """
    h = exported.header
    if not h.copied and _address(h) == _address(_peek(x)):
        raise UnsupportedInputError(
            f"{type(x).__qualname__}.__dlpack__ ignored copy=True: the capsule it returned "
            f"is its own memory, so the copy the plan promises cannot be made"
        )
    return exported


def _address(h: Header) -> int:
    return h.data + h.byte_offset


def _peek(x: Any) -> Header:
    """The header of an in-place export; the capsule is released on return."""
    return export(x, remedy=known_remedy).header


# PEP 3118 formats of one number type, which NumPy reads exactly.  Anything else
# (C structures "T{...}", pointers "&", characters "c" / "u") is refused before NumPy
# guesses (it warns and makes a best-guess dtype for some ctypes structures).
_NUMBER_FORMAT = re.compile(r"[@=<>!]?(?:[?bBhHiIlLqQnNefdg]|Z[fdg])")


class BufferBackend(Backend):
    """Memory an object describes itself: buffer protocol and array interfaces.

    Host memory is seen as a NumPy view (planned and carried out as NumPy);
    ``__cuda_array_interface__`` memory as the torch tensor torch makes of it,
    where this machine has CUDA, and a :class:`DeviceError` where it has not.
    """

    name: ClassVar[str] = "buffer"

    def owns(self, cls: type) -> bool:
        return (
            issubclass(cls, (bytes, bytearray, memoryview, array.array, mmap.mmap))
            or issubclass(cls, (ctypes.Array, ctypes.Structure, ctypes.Union))
            or issubclass(cls, ctypes._SimpleCData)
            or hasattr(cls, "__array_interface__")
            or hasattr(cls, "__cuda_array_interface__")
            or hasattr(cls, "__buffer__")  # PEP 688 (Python 3.12+): any buffer-protocol type
            or _is_pickle_buffer(cls)
        )

    def owns_instance(self, x: Any) -> bool:
        """Whether ``x`` itself speaks a protocol its type does not show.

        An ``__array_interface__`` set on the instance, or the buffer protocol of
        a C type before Python 3.12 (no ``__buffer__`` to see).  Asked per object.
        """
        if _has(x, "__array_interface__") or _has(x, "__cuda_array_interface__"):
            return True
        try:
            memoryview(x).release()
        except TypeError:
            return False
        except Exception:  # noqa: BLE001 - a buffer unreadable now (a closed mmap): prepare says why
            return True
        return True

    def prepare(
        self,
        x: Any,
        target: Backend,
        device: Device | None,
        copy: bool | None,
        *,
        planning: bool = False,
    ) -> Any:
        import numpy as np

        if type(x) is bytes or type(x) is bytearray:
            return np.frombuffer(x, dtype=np.uint8)  # bytes read-only, bytearray writable
        if _has(x, "__array_interface__"):
            try:
                interface = x.__array_interface__
                view = np.asarray(x)  # a view through the interface
            except Exception as e:
                raise UnsupportedInputError(
                    f"cannot read the __array_interface__ of {type_name(x)}: {type(e).__name__}: {e}"
                ) from e
            if isinstance(interface, dict) and interface.get("mask") is not None:
                raise UnsupportedInputError(  # NumPy reads the data and drops the mask
                    f"cannot convert {type_name(x)}: its __array_interface__ has a mask, which "
                    f"would be lost, as for a masked array"
                )
        else:
            try:
                memory = memoryview(x)
            except TypeError as e:
                if _has(x, "__cuda_array_interface__"):
                    return _cuda_tensor(x, planning)
                raise UnsupportedInputError(
                    f"{type_name(x)} exports no buffer, array interface or CUDA array interface"
                ) from e
            except Exception as e:
                raise UnsupportedInputError(
                    f"cannot read the buffer of {type_name(x)}: {type(e).__name__}: {e}"
                ) from e
            view = _buffer_view(x, memory)
        if view.dtype.hasobject:
            raise UnsupportedInputError(
                f"the array interface of {type_name(x)} describes Python objects, not numbers"
            )
        return view

    def traits(self, x: Any) -> Traits:
        # x is the NumPy view (or, for CUDA memory, the torch tensor) prepare() made
        return (_NUMPY if type(x).__module__ == "numpy" else _TORCH).traits(x)

    def device_of(self, x: Any) -> Device:
        return CPU

    def extent(self, x: Any) -> Extent | None:
        try:
            view = self.prepare(x, self, None, None, planning=True)
        except DeviceError:
            return None  # CUDA memory on a machine without CUDA: nothing here can share it
        return (_NUMPY if type(view).__module__ == "numpy" else _TORCH).extent(view)


def _buffer_view(x: Any, memory: memoryview) -> Any:
    """A NumPy view of a buffer: its own format and shape (bytes: read-only uint8)."""
    import numpy as np

    layout = memory.format
    if not _NUMBER_FORMAT.fullmatch(layout):
        memory.release()
        raise DTypeError(
            f"the buffer of {type_name(x)} has the PEP 3118 format {layout!r}: not one number type "
            f"(a C structure, pointers or characters), so no target has a dtype for it"
        )
    try:
        return np.asarray(memory)
    except Exception as e:  # suboffsets, a format this NumPy lacks
        memory.release()
        raise UnsupportedInputError(
            f"NumPy cannot view the buffer of {type_name(x)}: {type(e).__name__}: {e}"
        ) from e


def _is_pickle_buffer(cls: type) -> bool:
    pickle = sys.modules.get("pickle")  # a PickleBuffer exists only once pickle is imported
    return pickle is not None and issubclass(cls, pickle.PickleBuffer)


def _torch_with_cuda() -> Any:
    """torch, where it is installed and sees a CUDA device; else None."""
    from .._lib.environment import installed  # importlib.metadata: only on this rare path

    if not installed("torch"):
        return None
    import torch

    return torch if torch.cuda.is_available() else None


def _cuda_tensor(x: Any, planning: bool) -> Any:
    """The torch tensor over the CUDA memory ``x.__cuda_array_interface__`` describes."""
    torch = _torch_with_cuda()
    if torch is None:
        raise DeviceError(
            f"cannot convert {type_name(x)}: its __cuda_array_interface__ describes CUDA device "
            f"memory, and this machine has no CUDA device that torch can use, so nothing "
            f"here can read that memory"
        )
    try:
        interface = x.__cuda_array_interface__
        readonly = bool(interface["data"][1])
        stream = interface.get("stream")
    except Exception as e:
        raise UnsupportedInputError(
            f"cannot read the __cuda_array_interface__ of {type_name(x)}: {type(e).__name__}: {e}"
        ) from e
    if readonly:
        raise UnsupportedInputError(
            f"{type_name(x)} describes read-only CUDA memory, which torch (the only CUDA consumer "
            f"xpbridge has) cannot import without making it writable; export it with DLPack "
            f"from its own library instead"
        )
    try:
        tensor = torch.as_tensor(x)  # zero-copy, on the device that owns the pointer
    except Exception as e:
        raise UnsupportedInputError(
            f"torch cannot import the CUDA memory of {type_name(x)}: {type(e).__name__}: {e}"
        ) from e
    if stream is not None and not planning:
        torch.cuda.synchronize(tensor.device)  # the producer's pending work on its stream
    return tensor
