"""The NumPy backend."""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from .._devices import CPU, Device
from .._dtypes import DTYPES, ml_dtypes_available, numpy_dtype, numpy_name
from .._traits import Traits
from ..errors import DeviceError
from ._base import Backend, Extent

__all__ = ["NumpyBackend"]


def _is_memmap(x: Any) -> bool:
    import mmap

    import numpy as np

    while x is not None:
        if isinstance(x, (np.memmap, mmap.mmap)):
            return True
        x = getattr(x, "base", None)
    return False


class NumpyBackend(Backend):
    """NumPy arrays and scalars (ml_dtypes types included)."""

    name: ClassVar[str] = "numpy"
    readonly_arrays = True
    negative_strides = True
    odd_strides = True
    nonnative_byte_order = True
    unaligned = True

    def owns(self, cls: type) -> bool:
        np = sys.modules.get("numpy")
        return np is not None and issubclass(cls, (np.ndarray, np.generic))

    def traits(self, x: Any) -> Traits:
        import numpy as np

        if not isinstance(x, np.ndarray):  # a NumPy scalar: immutable, no buffer to share
            return Traits("numpy", numpy_name(x.dtype), scalar=True)
        if type(x) is not np.ndarray:
            ma = sys.modules.get("numpy.ma")
            if ma is not None and isinstance(x, ma.MaskedArray):
                return Traits(
                    "numpy",
                    "",
                    unsupported="a masked array: its mask would be lost; pass "
                    "x.filled(fill_value) or np.asarray(x) if the mask is not needed",
                )
        dtype = x.dtype
        flags = x.flags
        negative = odd = False
        if not (flags.c_contiguous or flags.f_contiguous):
            itemsize = dtype.itemsize
            for n, s in zip(x.shape, x.strides, strict=True):
                if n > 1:  # a length-1 axis's stride is never read
                    negative = negative or s < 0
                    odd = odd or s % itemsize != 0
        readonly = not flags.writeable
        return Traits(
            "numpy",
            numpy_name(dtype),
            CPU,
            size_zero=x.size == 0,
            readonly=readonly,
            memmap=readonly and _is_memmap(x),
            nonnative=not dtype.isnative,
            unaligned=not flags.aligned,
            negative_strides=negative,
            odd_strides=odd,
        )

    def holds(self, dtype: str) -> bool:
        row = DTYPES.get(dtype)
        if row is None or row.host is None:
            return False
        return row.host == "numpy" or ml_dtypes_available()

    def resolve_device(self, device: Device) -> Device:
        if device.kind != "cpu":
            raise DeviceError(
                f"NumPy arrays live in host memory, not on {device}: pass device='cpu' "
                f"or leave device=None"
            )
        return CPU

    def device_of(self, x: Any) -> Device:
        return CPU

    def extent(self, x: Any) -> Extent | None:
        import numpy as np

        if not isinstance(x, np.ndarray):
            return None
        return Extent(CPU, x.__array_interface__["data"][0], x.shape, x.strides, x.dtype.itemsize)

    # Steps.  Each takes (array, plan) and returns an array.

    def step_copy(self, x: Any, plan: Any) -> Any:
        import numpy as np

        return np.array(x, copy=True, order="K", subok=False)

    def step_byteswap(self, x: Any, plan: Any) -> Any:
        # astype allocates a native, aligned array with non-negative strides.
        return x.astype(x.dtype.newbyteorder("="), order="K")

    def step_cast(self, x: Any, plan: Any) -> Any:
        import numpy as np

        # NumPy's astype semantics, without its RuntimeWarnings: a conversion never warns.
        with np.errstate(all="ignore"):
            return x.astype(numpy_dtype(plan.dtype), order="K")

    def step_readonly(self, x: Any, plan: Any) -> Any:
        x.flags.writeable = False
        return x
