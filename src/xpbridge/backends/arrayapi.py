"""Any array-API namespace as a target (array-api-strict, jax.numpy, ...), through DLPack."""

from __future__ import annotations

from typing import Any, ClassVar

from .._devices import CPU, Device
from .._dtypes import DTYPES
from .._traits import Traits
from ..errors import ConversionError, DeviceError
from ._base import Backend, Extent

__all__ = ["ArrayAPIBackend", "is_namespace"]


def is_namespace(module: Any) -> bool:
    """Whether ``module`` looks like an array-API namespace."""
    return all(
        hasattr(module, name) for name in ("asarray", "from_dlpack", "__array_api_version__")
    )


class ArrayAPIBackend(Backend):
    """A target reached through its namespace's ``from_dlpack``, data on the host.

    Its capabilities are what the standard guarantees, nothing more: no
    read-only arrays, negative strides or lazy bits are assumed, and whether
    ``from_dlpack`` aliases is probed once, on a small NumPy array.
    """

    name: ClassVar[str]  # set per instance

    def __init__(self, name: str, namespace: Any) -> None:
        self.name = name  # type: ignore[misc]
        self.namespace = namespace
        self.exchanges = {("numpy", name): "from_dlpack"}  # type: ignore[misc]
        info = getattr(namespace, "__array_namespace_info__", None)
        self.devices: list[Any] = list(info().devices()) if info is not None else []
        self._probed: str | None = None

    @property
    def import_aliases(self) -> str:  # type: ignore[override]
        """Whether ``from_dlpack`` shares memory, probed once on aligned and misaligned data."""
        if self._probed is None:
            import numpy as np

            from .._dlpack import export

            shared = set()
            # JAX, for one, shares only 64-byte-aligned memory, and copies float64
            # to float32 unless x64 is on: probe both alignments and both widths.
            for dtype in (np.float32, np.float64):
                block = np.zeros(64, dtype=dtype)
                start = (-block.__array_interface__["data"][0] % 64) // block.itemsize
                for probe in (block[start : start + 8], block[start + 1 : start + 9]):
                    result = self.namespace.from_dlpack(probe)
                    try:
                        address = export(result).header.data
                    except ConversionError:  # it will not say (NumPy < 2.1: read-only)
                        shared |= {True, False}
                        continue
                    shared.add(address == probe.__array_interface__["data"][0])
            self._probed = (
                "sometimes" if len(shared) == 2 else "always" if True in shared else "never"
            )
        return self._probed

    def owns(self, cls: type) -> bool:
        return False  # its arrays are sources through DLPack

    def holds(self, dtype: str) -> bool:
        row = DTYPES.get(dtype)
        return row is not None and row.dlpack is not None and hasattr(self.namespace, dtype)

    def casts(self, source: str, target: str) -> bool:
        return False  # casts run in NumPy before the exchange

    def resolve_device(self, device: Any) -> Device:
        if isinstance(device, Device) and device.kind == "cpu":
            return CPU
        raise DeviceError(
            f"{self.name} arrays are made on the host here: pass device=None or 'cpu'"
        )

    def native_device(self, device: Any) -> Any:
        """The namespace's own device object, when ``device`` is one; else None."""
        for candidate in self.devices:
            if device is candidate or (type(device) is type(candidate) and device == candidate):
                return candidate
        return None

    def device_of(self, x: Any) -> Device:
        return CPU

    def extent(self, x: Any) -> Extent | None:
        return None

    def traits(self, x: Any) -> Traits:
        raise NotImplementedError

    def step_from_dlpack(self, a: Any, plan: Any) -> Any:
        device = getattr(plan, "native_device", None)
        if device is None:
            return self.namespace.from_dlpack(a)
        return self.namespace.from_dlpack(a, device=device)
