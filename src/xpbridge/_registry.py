"""The backend registry: which library owns an object, and how two libraries exchange.

Detection never imports a framework: a backend is only asked about a type
when its library is already in ``sys.modules`` (an object of a library that
was never imported cannot exist).  The answer is cached per type, so a
conversion's dispatch is one dict lookup.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

from ._devices import Device
from .backends._base import Backend, Step
from .backends.numpy import NumpyBackend
from .backends.torch import TorchBackend
from .errors import ArgumentError, UnsupportedInputError

__all__ = ["backend_named", "backend_of", "exchange", "target_of"]

_BACKENDS: dict[str, Backend] = {b.name: b for b in (NumpyBackend(), TorchBackend())}
_BY_TYPE: dict[type, Backend] = {}
_INSTALLED: set[str] = set()


def backend_named(name: str) -> Backend:
    """The backend registered under ``name``."""
    backend = _BACKENDS.get(name)
    if backend is None:
        raise ArgumentError(
            f"unknown target library {name!r}: known are {', '.join(sorted(_BACKENDS))}"
        )
    if name not in _INSTALLED:
        if importlib.util.find_spec(name) is None:
            raise ArgumentError(f"{name} is not installed: pip install {name}")
        _INSTALLED.add(name)
    return backend


def backend_of(x: Any) -> Backend:
    """The backend that owns ``x``, or :class:`UnsupportedInputError`."""
    cls = type(x)
    backend = _BY_TYPE.get(cls)
    if backend is None:
        for candidate in _BACKENDS.values():
            if candidate.owns(cls):
                backend = _BY_TYPE[cls] = candidate
                break
        else:
            raise UnsupportedInputError(
                f"cannot convert an object of type {cls.__module__}.{cls.__qualname__}: "
                f"xpbridge converts arrays of {', '.join(sorted(_BACKENDS))}; wrap other "
                f"data with numpy.asarray first"
            )
    return backend


def exchange(source: str, target: str) -> tuple[str, Step]:
    """The name and function of the primitive that hands data from one library to another."""
    for backend in _BACKENDS.values():
        step = getattr(backend, "exchanges", {}).get((source, target))
        if step is not None:
            return step, backend.step(step)
    raise ArgumentError(f"no exchange from {source} to {target} is registered")


def target_of(to: Any) -> tuple[Backend, Device | None]:
    """Resolve ``to`` (a library name, a module, or an array) to a backend and default device."""
    if isinstance(to, str):
        return backend_named(to), None
    if isinstance(to, ModuleType):
        return backend_named(to.__name__.partition(".")[0]), None
    try:
        backend = backend_of(to)
    except UnsupportedInputError:
        raise ArgumentError(
            f"to={to!r} is neither a library name, a module nor an array of a known library"
        ) from None
    return backend, backend.device_of(to)
