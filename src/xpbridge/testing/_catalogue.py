"""The array libraries the testing toolkit knows: namespaces, devices and their labels.

One table serves the pytest plugin (which backends and devices a test runs
on), the strategies (where generated arrays live) and the assertions (how a
device is named in a message).  Nothing here imports a library until a
function is asked about it.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ..errors import ArgumentError, MissingLibraryError, install_line

__all__ = [
    "LIBRARIES",
    "Library",
    "device_label",
    "installed",
    "library",
    "namespace_of",
]


@dataclass(frozen=True)
class Library:
    """How the toolkit reaches one array library.

    ``module`` is what must be importable, ``namespace`` the array-API
    namespace tests receive (array-api-compat's wrapper where the library
    needs one), ``compat`` that namespace's name inside array-api-compat
    (``None`` for a library that is its own namespace), so that a suite can
    take it from a vendored copy (``scipy._external.array_api_compat.numpy``).
    """

    name: str
    module: str
    namespace: str
    compat: str | None = None

    def is_installed(self) -> bool:
        """Whether the library can be found, without importing it."""
        return importlib.util.find_spec(self.module) is not None

    def load(self, array_api_compat: str | None = None) -> Any:
        """The array-API namespace; :class:`ArgumentError` when the library is missing.

        ``array_api_compat`` names the array-api-compat package the namespace
        comes from (default: the top-level ``array_api_compat``); libraries
        that are their own namespace (array-api-strict, JAX) ignore it.
        """
        if not self.is_installed():
            raise MissingLibraryError(f"{self.name} is not installed: {install_line(self.module)}")
        if array_api_compat is None or self.compat is None:
            return importlib.import_module(self.namespace)
        try:
            return importlib.import_module(f"{array_api_compat}.{self.compat}")
        except ImportError as e:
            raise ArgumentError(
                f"array_api_compat={array_api_compat!r} has no {self.compat} namespace ({e}): "
                "name an importable copy of array-api-compat, such as 'array_api_compat' "
                "itself or SciPy's ('scipy._external.array_api_compat' from SciPy 1.18, "
                "'scipy._lib.array_api_compat' before)"
            ) from None

    def devices(self) -> list[tuple[str, Any]]:
        """Every device the library reports here, as ``(label, device object)``."""
        return [(device_label(d), d) for d in _DEVICE_LISTERS[self.name](self.load())]

    def run_devices(self) -> list[tuple[str, Any]]:
        """The devices a test runs on unless one is asked for by name."""
        left_out = _ASKED_FOR_ONLY.get(self.name, frozenset())
        return [(label, d) for label, d in self.devices() if label not in left_out]

    def default_device(self) -> Any:
        """The device the library's creation functions use when given none."""
        return _DEFAULT_DEVICE[self.name](self.load())


def _numpy_devices(xp: Any) -> list[Any]:
    return ["cpu"]


def _torch_devices(xp: Any) -> list[Any]:
    import torch

    devices = [torch.device("cpu")]
    devices += [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append(torch.device("mps"))
    # Shapes and dtypes without data: runs only when asked for (torch-meta).
    devices.append(torch.device("meta"))
    return devices


def _info_devices(xp: Any) -> list[Any]:
    return list(xp.__array_namespace_info__().devices())


def _jax_devices(xp: Any) -> list[Any]:
    import jax

    # JAX's namespace info lists None ("no placement") first: ask JAX itself.
    devices = list(jax.devices())
    if all(d.platform != "cpu" for d in devices):
        with contextlib.suppress(RuntimeError):  # a build without its CPU backend
            devices += jax.devices("cpu")
    return devices


def _jax_default(xp: Any) -> Any:
    import jax

    return getattr(jax.config, "jax_default_device", None) or jax.devices()[0]


def _info_default(xp: Any) -> Any:
    return xp.__array_namespace_info__().default_device()


def _torch_default(xp: Any) -> Any:
    import torch

    return torch.get_default_device()


def _cupy_default(xp: Any) -> Any:
    cupy = importlib.import_module("cupy")  # no stubs to check against
    return cupy.cuda.Device()


_DEVICE_LISTERS = {
    "numpy": _numpy_devices,
    "torch": _torch_devices,
    "array_api_strict": _info_devices,
    "jax": _jax_devices,
    "dask": _numpy_devices,  # Dask arrays over NumPy chunks live on the host
    "cupy": _info_devices,
}
# Devices that run only when asked for by id: array-api-strict's device2 repeats
# what device1 tests, and no_float64 / no_x64 remove dtypes; torch's meta device
# holds no data, so most tests cannot read their results there.
_ASKED_FOR_ONLY = {
    "array_api_strict": frozenset({"device2", "no_float64", "no_x64"}),
    "torch": frozenset({"meta"}),
}
_DEFAULT_DEVICE = {
    "numpy": lambda xp: "cpu",
    "torch": _torch_default,
    "array_api_strict": _info_default,
    "jax": _jax_default,
    "dask": lambda xp: "cpu",
    "cupy": _cupy_default,
}

LIBRARIES: dict[str, Library] = {
    lib.name: lib
    for lib in (
        Library("numpy", "numpy", "array_api_compat.numpy", "numpy"),
        Library("torch", "torch", "array_api_compat.torch", "torch"),
        Library("array_api_strict", "array_api_strict", "array_api_strict"),
        Library("jax", "jax", "jax.numpy"),
        Library("dask", "dask", "array_api_compat.dask.array", "dask.array"),
        Library("cupy", "cupy", "array_api_compat.cupy", "cupy"),
    )
}

# Names of namespaces as the libraries spell them; array-api-compat's wrappers
# (any copy of it, vendored ones included) are read from their last parts.
_NAMESPACE_NAMES = {
    "jax.numpy": "jax",
    "jax.experimental.array_api": "jax",
    "dask.array": "dask",
}
_COMPAT_NAMES = {"numpy": "numpy", "torch": "torch", "cupy": "cupy", "dask.array": "dask"}


def library(name: str) -> Library:
    """The catalogue entry for a library name; :class:`ArgumentError` for an unknown one."""
    entry = LIBRARIES.get(name)
    if entry is None:
        raise ArgumentError(
            f"unknown array library {name!r}: the toolkit knows {', '.join(LIBRARIES)}"
        )
    return entry


def installed() -> list[str]:
    """Names of the catalogued libraries that can be found here (nothing is imported)."""
    return [name for name, lib in LIBRARIES.items() if lib.is_installed()]


def namespace_of(module: ModuleType | Any) -> str:
    """The library name of a namespace or module: ``array_api_compat.numpy`` gives ``numpy``.

    Vendored copies of array-api-compat count as array-api-compat
    (``scipy._external.array_api_compat.numpy`` gives ``numpy``), and a namespace
    the plugin wraps counts as the one it wraps.

    Examples
    --------
    >>> import types
    >>> namespace_of(types.ModuleType("sklearn.externals.array_api_compat.dask.array"))
    'dask'
    """
    module = getattr(module, "__wrapped__", module)
    name = str(getattr(module, "__name__", type(module).__name__))
    _, compat, inner = name.rpartition("array_api_compat.")
    if compat and inner in _COMPAT_NAMES:
        return _COMPAT_NAMES[inner]
    return _NAMESPACE_NAMES.get(name, name.partition(".")[0])


_QUOTED = re.compile(r"\('([^']*)'\)")


def device_label(device: Any) -> str:
    """A short, stable name for a device of any library, as test ids show it.

    Examples
    --------
    >>> device_label("cpu")
    'cpu'
    """
    if isinstance(device, str):
        return device
    kind = type(device).__module__.partition(".")[0]
    if kind == "torch":
        return str(device)
    if kind in {"jax", "jaxlib"}:
        platform, index = device.platform, device.id
        return platform if platform == "cpu" and index == 0 else f"{platform}:{index}"
    if kind == "cupy":
        return f"cuda:{device.id}"
    # array-api-strict and others: the name inside Device('...') when there is one.
    text = repr(device)
    found = _QUOTED.search(text)
    return found.group(1) if found else text
