"""Sources that xpbridge reaches through protocols, not by name.

- :class:`DLPackBackend`: anything with ``__dlpack__`` / ``__dlpack_device__``
  (array-api-strict, JAX, CuPy, ...).  The capsule is inspected before use.
- :class:`BufferBackend`: the buffer protocol and ``__array_interface__``
  (bytes, bytearray, memoryview, array.array, ...), viewed through NumPy.
"""

from __future__ import annotations

import array
from typing import Any, ClassVar

from .._devices import CPU, Device, parse_device
from .._dlpack import Exported, export
from .._dtypes import DTYPES
from .._traits import Traits
from ..errors import ConversionError, CopyError
from ._base import Backend, Extent
from .numpy import NumpyBackend

_NUMPY = NumpyBackend()  # buffers are described and measured as the NumPy views they are

__all__ = ["BufferBackend", "DLPackBackend"]


class DLPackBackend(Backend):
    """Any DLPack producer; its capsule is read before a consumer sees it."""

    name: ClassVar[str] = "dlpack"
    readonly_arrays = True
    negative_strides = True
    exchanges: ClassVar[dict[tuple[str, str], str]] = {("dlpack", "numpy"): "from_dlpack"}
    host_meets_as_numpy = True

    def owns(self, cls: type) -> bool:
        return hasattr(cls, "__dlpack__") and hasattr(cls, "__dlpack_device__")

    def device_of(self, x: Any) -> Device:
        return parse_device(tuple(int(v) for v in x.__dlpack_device__()))

    def prepare(self, x: Any, target: Backend, device: Device | None, copy: bool | None) -> Any:
        source = self.device_of(x)
        wanted = device or (source if source.kind in target.device_kinds else CPU)
        if wanted.kind == "cpu" and source.kind != "cpu":
            if copy is False:
                raise CopyError(
                    f"copy=False, but the source lives on {source} and {target.name} needs it "
                    f"on the host: that is a copy. Pass copy=None to allow it"
                )
            # The producer makes the host copy (DLPack 1.0 dl_device + copy).
            exported = export(x, dl_device=(1, 0), copy=True)
            exported.requested_copy = True
            return exported
        if source.kind != "cpu":
            # Consumed on its own device: the device must exist here, and the
            # producer orders its work before our current stream (the handshake).
            target.resolve_device(source)
            stream = target.consumer_stream(source)
            exported = export(x, copy=False if copy is False else None, stream=stream)
            if exported.header.negative_strides and copy is not False:
                # torch.from_dlpack aborts on negative strides: ask for a compact copy.
                exported = export(x, copy=True, stream=stream)
                exported.requested_copy = True
            return exported
        return export(x, copy=False if copy is False else None)

    def traits(self, x: Exported) -> Traits:
        h = x.header
        return Traits(
            "dlpack",
            h.dtype,
            h.device,
            size_zero=0 in h.shape,
            readonly=h.readonly,
            unaligned=(h.data + h.byte_offset) % h.itemsize != 0,
            negative_strides=h.negative_strides,
            copied=h.copied or x.requested_copy,
        )

    def holds(self, dtype: str) -> bool:
        row = DTYPES.get(dtype)
        return row is not None and row.dlpack is not None and row.host is not None

    def casts(self, source: str, target: str) -> bool:
        return False  # a producer is never asked to cast

    def extent(self, x: Any) -> Extent | None:
        try:
            h = export(x).header  # released right away: the deleter runs
        except ConversionError:
            return None  # a producer that will not export it: no memory we can point at
        return Extent(h.device, h.data + h.byte_offset, h.shape, h.strides, h.itemsize)

    def step_from_dlpack(self, x: Exported, plan: Any) -> Any:
        return x.to_numpy()


class BufferBackend(Backend):
    """The buffer protocol and ``__array_interface__``, seen as a NumPy array."""

    name: ClassVar[str] = "buffer"

    def owns(self, cls: type) -> bool:
        return issubclass(cls, (bytes, bytearray, memoryview, array.array)) or hasattr(
            cls, "__array_interface__"
        )

    def prepare(self, x: Any, target: Backend, device: Device | None, copy: bool | None) -> Any:
        import numpy as np

        if isinstance(x, (bytes, bytearray)):
            return np.frombuffer(x, dtype=np.uint8)  # bytes are read-only, bytearray writable
        return np.asarray(x)  # a view through the buffer / array interface

    def traits(self, x: Any) -> Traits:
        return _NUMPY.traits(x)  # x is the NumPy view prepare() made

    def device_of(self, x: Any) -> Device:
        return CPU

    def extent(self, x: Any) -> Extent | None:
        return _NUMPY.extent(self.prepare(x, self, None, None))
