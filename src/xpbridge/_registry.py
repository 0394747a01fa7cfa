"""The backend registry: which library owns an object, and how two libraries exchange.

Detection never imports a framework: a backend is only asked about a type
when its library is already in ``sys.modules`` (an object of a library that
was never imported cannot exist).  The answer is cached per type, so a
conversion's dispatch is one dict lookup.

Order of asking: the built-in NumPy, torch and Dask backends, then backends
registered with :func:`register_backend` or found through the
``xpbridge.backends`` entry-point group (loaded only when an object no
backend owns turns up), then the protocols (DLPack, buffer, Python objects).
"""

from __future__ import annotations

import importlib
import importlib.util
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from .backends._base import Backend, Step
from .backends.arrayapi import ArrayAPIBackend, is_namespace
from .backends.dask import DaskBackend
from .backends.numpy import NumpyBackend
from .backends.protocol import BufferBackend, DLPackBackend, PythonBackend
from .backends.torch import TorchBackend
from .errors import ArgumentError, UnsupportedInputError

__all__ = [
    "backend_named",
    "backend_of",
    "exchange",
    "list_backends",
    "register_backend",
    "target_of",
]

ENTRY_POINT_GROUP = "xpbridge.backends"

_BUILTIN: list[Backend] = [NumpyBackend(), TorchBackend(), DaskBackend()]
_PROTOCOLS: list[Backend] = [DLPackBackend(), BufferBackend(), PythonBackend()]
_REGISTERED: list[Backend] = []
_ORIGIN: dict[str, str] = {b.name: "built-in" for b in _BUILTIN} | {
    b.name: "protocol" for b in _PROTOCOLS
}
_BACKENDS: dict[str, Backend] = {b.name: b for b in (*_BUILTIN, *_PROTOCOLS)}
_BY_TYPE: dict[type, Backend] = {}
_INSTALLED: set[str] = {"dlpack", "buffer", "python"}
_ENTRY_POINTS = {"loaded": False}


def register_backend(backend: Backend, *, replace: bool = False) -> None:
    """Register a backend for a third-party array library.

    It is asked before the protocol backends, so it can claim types that also
    speak DLPack.  ``replace=True`` replaces a backend of the same name.

    Examples
    --------
    >>> from xpbridge.backends import Backend
    >>> class Nothing(Backend):
    ...     name = "nothing"
    ...     def owns(self, cls):
    ...         return False
    >>> register_backend(Nothing())
    >>> list_backends()["nothing"]
    'registered'
    """
    if backend.name in _BACKENDS and not replace:
        raise ArgumentError(
            f"a backend named {backend.name!r} is registered already; pass replace=True"
        )
    old = _BACKENDS.get(backend.name)
    if old is not None:
        _REGISTERED[:] = [b for b in _REGISTERED if b is not old]
        _BUILTIN[:] = [b for b in _BUILTIN if b is not old]
    _REGISTERED.append(backend)
    _BACKENDS[backend.name] = backend
    _ORIGIN.setdefault(backend.name, "registered")
    _INSTALLED.add(backend.name)
    _BY_TYPE.clear()


def _load_entry_points() -> bool:
    """Load the ``xpbridge.backends`` entry points once; whether any was new."""
    if _ENTRY_POINTS["loaded"]:
        return False
    _ENTRY_POINTS["loaded"] = True
    found = False
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name in _BACKENDS:
            continue
        loaded = point.load()
        backend = loaded() if isinstance(loaded, type) else loaded
        register_backend(backend)
        _ORIGIN[backend.name] = f"entry point {point.value}"
        found = True
    return found


def list_backends() -> dict[str, str]:
    """The registered backends and where each came from (entry points not yet loaded included).

    Examples
    --------
    >>> list_backends()["numpy"], list_backends()["dlpack"]
    ('built-in', 'protocol')
    """
    listing = dict(_ORIGIN)
    if not _ENTRY_POINTS["loaded"]:
        for point in entry_points(group=ENTRY_POINT_GROUP):
            listing.setdefault(point.name, f"entry point {point.value} (not loaded)")
    return listing


def _namespace_backend(name: str, module: Any = None) -> Backend | None:
    if module is None:
        if not all(part.isidentifier() for part in name.split(".")):
            return None
        try:
            if importlib.util.find_spec(name.partition(".")[0]) is None:
                return None
            module = importlib.import_module(name)
        except (ImportError, ValueError):  # ValueError: a module made at run time, no spec
            return None
    if not is_namespace(module):
        return None
    backend = ArrayAPIBackend(name, module)
    _BACKENDS[name] = backend
    _ORIGIN[name] = "array API namespace"
    _INSTALLED.add(name)
    return backend


def backend_named(name: str) -> Backend:
    """The backend registered under ``name``, or an array-API namespace of that name."""
    backend = _BACKENDS.get(name)
    if backend is None and _load_entry_points():
        backend = _BACKENDS.get(name)
    if backend is None:
        backend = _namespace_backend(name)
    if backend is None:
        raise ArgumentError(
            f"unknown target library {name!r}: known are {', '.join(sorted(_BACKENDS))}, "
            f"and any installed array-API namespace; register others with "
            f"xpbridge.register_backend or the {ENTRY_POINT_GROUP!r} entry point"
        )
    if name not in _INSTALLED:
        if importlib.util.find_spec(name) is None:
            raise ArgumentError(f"{name} is not installed: pip install {name}")
        _INSTALLED.add(name)
    return backend


def _owner(cls: type) -> Backend | None:
    for candidate in (*_BUILTIN, *_REGISTERED, *_PROTOCOLS):
        if candidate.owns(cls):
            return candidate
    return None


def backend_of(x: Any) -> Backend:
    """The backend that owns ``x``, or :class:`UnsupportedInputError`."""
    cls = type(x)
    backend = _BY_TYPE.get(cls)
    if backend is None:
        backend = _owner(cls)
        if (backend is None or backend in _PROTOCOLS) and _load_entry_points():
            backend = _owner(cls)
        if backend is None:
            raise UnsupportedInputError(
                f"cannot convert an object of type {cls.__module__}.{cls.__qualname__}: it "
                f"speaks no array protocol (DLPack, buffer, __array_interface__) and no "
                f"registered backend owns it; wrap it with numpy.asarray first"
            )
        _BY_TYPE[cls] = backend
    return backend


def exchange(source: str, target: str) -> tuple[str, Step] | None:
    """The name and function of the primitive that hands data from one library to another."""
    for name in (target, source):
        backend = _BACKENDS[name]
        step = backend.exchanges.get((source, target))
        if step is not None:
            return step, backend.step(step)
    return None


def target_of(to: Any) -> tuple[Backend, Any]:
    """Resolve ``to`` (a library name, a module, or an array) to a backend and default device."""
    if isinstance(to, str):
        return backend_named(to), None
    if isinstance(to, ModuleType):
        name = to.__name__
        backend = _BACKENDS.get(name) or _BACKENDS.get(name.partition(".")[0])
        return backend or _namespace_backend(name, to) or backend_named(name), None
    owner = _owner(type(to))
    if owner is not None and owner not in _PROTOCOLS:
        return owner, owner.device_of(to)
    space = getattr(to, "__array_namespace__", None)
    if space is not None:
        module = space()
        backend = _BACKENDS.get(module.__name__) or _namespace_backend(module.__name__, module)
        if backend is not None:
            return backend, getattr(to, "device", None)
    raise ArgumentError(
        f"to={to!r} is neither a library name, a module nor an array of a known library"
    )
