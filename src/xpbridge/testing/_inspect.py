"""What an array is (library, dtype, shape, device, lazy bits) and its values on the host.

Built from upstream calls only (NumPy, torch, array-api-compat), so that the
assertions never trust the conversion code they check.  Torch's conjugate
and negative bits are resolved by torch itself before any value is read:
DLPack and ``__array__`` would hand the unresolved memory over and flip signs.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

from .._lib.dtypes import DTYPES, numpy_name, torch_name
from ._bits import quiet_complex_half
from ._catalogue import device_label, namespace_of

__all__ = ["Described", "describe", "host_values", "shape_unknown"]

_PYTHON_SCALARS = (bool, int, float, complex)


@dataclass(frozen=True)
class Described:
    """The facts about an array that the assertions compare and print."""

    library: str  # "numpy", "torch", "jax", "array_api_strict", "python", ...
    type_name: str  # "numpy.ndarray", "numpy.float64", "torch.Tensor", "float"
    scalar: bool  # a NumPy scalar or a Python number, not a 0-d array
    dtype: str  # canonical name where xpbridge knows the type
    shape: tuple[int, ...]
    device: str  # as device_label() spells it
    native_device: Any
    dlpack_device: tuple[int, int] | None
    lazy_bits: tuple[str, ...] = ()  # torch's unresolved "conjugate bit" / "negative bit"

    def __str__(self) -> str:
        kind = "scalar" if self.scalar else f"shape {self.shape}"
        bits = "".join(f", {bit}" for bit in self.lazy_bits)
        return f"{self.type_name} {self.dtype}, {kind}, on {self.device}{bits}"


def _type_name(x: Any) -> str:
    cls = type(x)
    module = cls.__module__.partition(".")[0]
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _dlpack_device(x: Any) -> tuple[int, int] | None:
    try:
        kind, index = x.__dlpack_device__()
    except (AttributeError, TypeError, RuntimeError, ValueError, BufferError):
        return None
    return int(kind), int(index)


def _generic_dtype_name(dtype: Any) -> str:
    import numpy as np

    try:
        return numpy_name(np.dtype(dtype))
    except TypeError:  # not a NumPy dtype (array-api-strict's, for one): its printed name
        return str(dtype).rpartition(".")[2]


def shape_unknown(x: Any) -> bool:
    """Whether ``x`` is a lazy array whose shape is not known yet (Dask's NaN chunk sizes)."""
    shape = getattr(x, "shape", None)
    if not isinstance(shape, tuple) or type(x).__module__.partition(".")[0] != "dask":
        return False
    return any(isinstance(s, float) and math.isnan(s) for s in shape)


def describe(x: Any, values: Any = None) -> Described:
    """Describe ``x``; :class:`TypeError` when it is not an array, scalar or sequence.

    ``values`` are ``x``'s values when they were computed already; the shape
    is read from them (for a lazy array whose shape is unknown).
    """
    np = sys.modules.get("numpy")
    torch = sys.modules.get("torch")
    if np is not None and isinstance(x, np.ndarray | np.generic):
        return Described(
            "numpy",
            _type_name(x),
            isinstance(x, np.generic),
            numpy_name(x.dtype),
            tuple(x.shape),
            "cpu",
            "cpu",
            (1, 0),
        )
    if torch is not None and isinstance(x, torch.Tensor):
        bits: tuple[str, ...] = ("conjugate bit",) if x.is_conj() else ()
        bits += ("negative bit",) if x.is_neg() else ()
        return Described(
            "torch",
            "torch.Tensor",
            False,
            torch_name(x.dtype),
            tuple(x.shape),
            str(x.device),
            x.device,
            _dlpack_device(x) if x.layout is torch.strided else None,
            bits,
        )
    if isinstance(x, _PYTHON_SCALARS):
        return Described("python", type(x).__name__, True, type(x).__name__, (), "cpu", None, None)
    if isinstance(x, list | tuple):
        import numpy

        values = numpy.asarray(x)
        return Described(
            "python",
            type(x).__name__,
            False,
            numpy_name(values.dtype),
            values.shape,
            "cpu",
            None,
            None,
        )
    import array_api_compat

    try:
        xp = array_api_compat.array_namespace(x)
    except TypeError:
        raise TypeError(f"{_type_name(x)} is not an array, a scalar or a sequence") from None
    device = array_api_compat.device(x)
    library = namespace_of(xp)
    return Described(
        library,
        "jax.Array" if library == "jax" else _type_name(x),  # not jaxlib's ArrayImpl
        False,
        _generic_dtype_name(x.dtype),
        tuple(x.shape) if values is None else tuple(values.shape),
        device_label(device),
        device,
        _dlpack_device(x),
    )


def _torch_values(t: Any) -> Any:
    import torch

    t = t.detach()
    if t.layout is not torch.strided:
        t = t.to_dense()
    if t.is_quantized:
        t = t.dequantize()
    if t.device.type == "meta":
        return None
    with quiet_complex_half():
        t = t.resolve_conj().resolve_neg().cpu()
        name = torch_name(t.dtype)
        row = DTYPES.get(name)
        if row is not None and row.numpy is not None:
            return t.numpy()
        if row is not None and row.kind == "float":  # bfloat16, float8: exact in float32
            return t.to(torch.float32).numpy()
        if name == "complex32":
            return t.to(torch.complex64).numpy()
    raise TypeError(f"the values of a torch.{name} tensor cannot be read on the host")


def host_values(x: Any) -> Any:
    """The values of ``x`` as a NumPy array on the host (None for a meta tensor).

    Torch dtypes NumPy lacks are widened exactly (bfloat16 and float8 to
    float32, complex32 to complex64); every other dtype is kept.
    """
    import numpy as np

    torch = sys.modules.get("torch")
    if isinstance(x, np.ndarray | np.generic):
        return np.asarray(x)
    if torch is not None and isinstance(x, torch.Tensor):
        return _torch_values(x)
    if isinstance(x, (*_PYTHON_SCALARS, list, tuple)):
        return np.asarray(x)
    import array_api_compat

    if array_api_compat.is_cupy_array(x):
        return x.get()
    if array_api_compat.is_dask_array(x):
        lazy: Any = x
        return np.asarray(lazy.compute())
    if array_api_compat.is_jax_array(x):
        return np.asarray(x)
    try:
        # DLPack first: array-api-strict's __array__ refuses its simulated devices
        # (device1), and its to_device fails on NumPy 1.26.
        return np.from_dlpack(x)
    except (TypeError, BufferError, RuntimeError, ValueError):
        pass
    xp = array_api_compat.array_namespace(x)
    info = getattr(xp, "__array_namespace_info__", None)
    if info is not None and hasattr(x, "to_device"):
        x = x.to_device(info().default_device())  # to the namespace's host device
    return np.asarray(x)
