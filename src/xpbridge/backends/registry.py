"""The backend registry: which library owns an object, and how two libraries exchange.

Detection never imports a framework: a backend is only asked about a type
when its library is already in ``sys.modules`` (an object of a library that
was never imported cannot exist).  The answer is memoised per type, so a
conversion's dispatch is one dict lookup.

Order of asking: the built-in NumPy, torch and Dask backends, then backends
registered with :func:`register_backend` or found through the
``xpbridge.backends`` entry-point group (loaded only when an object no
backend owns turns up), then array-API namespaces (an object whose
``__array_namespace__`` names a namespace belongs to that library, e.g.
array-api-strict or JAX), then the protocols (DLPack, buffer, Python objects).

Thread safety: every change of the tables (registration, entry-point loading,
a namespace seen for the first time) happens under one re-entrant lock, and a
table is filled completely before other threads can read the entry.  Lookups
read dicts without the lock (a dict read is atomic in CPython).
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from importlib.metadata import entry_points
from typing import Any

from .._lib.memo import Memo, clear_all
from .._lib.namespaces import PROTOCOLS, library_of_name, name_of, namespace_module
from ..errors import ArgumentError, MissingLibraryError, UnsupportedInputError, install_line
from ._base import Backend, Step
from .arrayapi import ArrayAPIBackend, is_namespace
from .dask import DaskBackend
from .jax import JaxBackend
from .numpy import NumpyBackend
from .protocol import BufferBackend, DLPackBackend, unconvertible
from .python import PythonBackend
from .torch import TorchBackend

__all__ = [
    "backend_named",
    "backend_of",
    "exchange",
    "list_backends",
    "owner_of_type",
    "register_backend",
    "target_of",
]

ENTRY_POINT_GROUP = "xpbridge.backends"

_BUILTIN: list[Backend] = [NumpyBackend(), TorchBackend(), DaskBackend()]
_BUFFER = BufferBackend()
_PROTOCOLS: list[Backend] = [DLPackBackend(), _BUFFER, PythonBackend()]
_REGISTERED: list[Backend] = []
_ORIGIN: dict[str, str] = {b.name: "built-in" for b in _BUILTIN} | {
    b.name: "protocol" for b in _PROTOCOLS
}
_BACKENDS: dict[str, Backend] = {b.name: b for b in (*_BUILTIN, *_PROTOCOLS)}
# Which backend owns each type, decided once (objects whose owner is found per
# instance are asked every time).
_BY_TYPE: Memo[Backend] = Memo("owners by type", "the exact type of a source", by_type=True)
_INSTALLED: set[str] = {"dlpack", "buffer", "python"}
_ENTRY_POINTS = {"loaded": False}
# Held while a table changes; re-entrant because loading an entry point registers.
_LOCK = threading.RLock()
# Namespace backends with a class of their own (the rest are ArrayAPIBackend).
_NAMESPACE_CLASSES: dict[str, type[ArrayAPIBackend]] = {"jax": JaxBackend}


def register_backend(backend: Backend, *, replace: bool = False) -> None:
    """Register a backend for a third-party array library.

    It is asked before the protocol backends, so it can claim types that also
    speak DLPack.

    Parameters
    ----------
    backend : xpbridge.backends.Backend
        An instance of a :class:`~xpbridge.backends.Backend` subclass; its
        ``name`` is the library name users pass as ``to=``.
    replace : bool, optional
        Replace a backend registered under the same name (default: refuse).

    Returns
    -------
    None

    Raises
    ------
    ArgumentError
        ``backend`` is not an instance of a Backend subclass with a string
        ``name``, or a backend of that name is registered already and
        ``replace`` is false.  The registry is left as it was.

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
    candidate: object = backend  # the annotation is what callers should pass, not a check
    if isinstance(candidate, type):
        name = candidate.__qualname__
        raise ArgumentError(
            f"register_backend needs a backend instance, not the class {name}: pass {name}()"
        )
    if not isinstance(candidate, Backend) or not isinstance(getattr(candidate, "name", None), str):
        raise ArgumentError(
            f"register_backend needs an instance of a xpbridge.backends.Backend subclass with "
            f"a string name, not {type(candidate).__qualname__}"
        )
    with _LOCK:
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
        clear_all()  # every memo decided with the backends of their time


def _entry_points_loaded() -> bool:
    return _ENTRY_POINTS["loaded"]


def _load_entry_points() -> bool:
    """Load the ``xpbridge.backends`` entry points once; whether any was new.

    The group counts as loaded only once every plugin is registered: a thread
    that arrives meanwhile waits on the lock instead of seeing a half-loaded
    registry (and calling the object unsupported).
    """
    if _entry_points_loaded():
        return False
    with _LOCK:
        if _entry_points_loaded():
            return True  # another thread loaded them while this one waited: ask again
        found = False
        try:
            for point in entry_points(group=ENTRY_POINT_GROUP):
                if point.name in _BACKENDS:
                    continue
                loaded = point.load()
                backend = loaded() if isinstance(loaded, type) else loaded
                register_backend(backend)
                _ORIGIN[backend.name] = f"entry point {point.value}"
                found = True
        finally:
            _ENTRY_POINTS["loaded"] = True
        return found


def list_backends() -> dict[str, str]:
    """The registered backends and where each came from (entry points not yet loaded included).

    Returns
    -------
    dict of str to str
        Backend name -> origin: ``"built-in"``, ``"protocol"``,
        ``"registered"``, ``"array API namespace"`` or ``"entry point ..."``.

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
    """The backend of an array-API namespace module, made once (None: not a namespace)."""
    library = library_of_name(name)
    backend = _BACKENDS.get(library)
    if backend is not None:
        return backend
    if module is None:
        module_name = namespace_module(library)
        if not all(part.isidentifier() for part in module_name.split(".")):
            return None
        try:
            if importlib.util.find_spec(module_name.partition(".")[0]) is None:
                return None
            module = importlib.import_module(module_name)
        except (ImportError, ValueError):  # ValueError: a module made at run time, no spec
            return None
    if not is_namespace(module):
        return None
    with _LOCK:
        backend = _BACKENDS.get(library)
        if backend is None:
            backend = _NAMESPACE_CLASSES.get(library, ArrayAPIBackend)(library, module)
            _BACKENDS[library] = backend
            _ORIGIN[library] = "array API namespace"
            _INSTALLED.add(library)
    return backend


def backend_named(name: str) -> Backend:
    """The backend registered under ``name``, or an array-API namespace of that name."""
    backend = _BACKENDS.get(name)
    if backend is None:
        name = library_of_name(name)  # spellings: "jax.numpy", "array_api_compat.torch", ...
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
            raise MissingLibraryError(f"{name} is not installed: {install_line(name)}")
        _INSTALLED.add(name)
    return backend


def _namespace_owner(x: Any) -> Backend | None:
    """The namespace backend of an array whose ``__array_namespace__`` names one."""
    space = getattr(x, "__array_namespace__", None)
    if space is None or isinstance(x, type):
        return None
    try:
        module = space()
    except Exception:  # noqa: BLE001  # a producer's own failure: no array-API array here
        return None
    name = name_of(module)
    return None if name is None else _namespace_backend(name, module)


def _owner(cls: type, x: Any = None) -> Backend | None:
    for candidate in (*_BUILTIN, *_REGISTERED):
        if candidate.owns(cls):
            return candidate
    if x is not None:
        backend = _namespace_owner(x)
        if backend is not None and backend.owns(cls):
            return backend
    for candidate in _PROTOCOLS:
        if candidate.owns(cls):
            return candidate
    return None


def owner_of_type(cls: type) -> Backend | None:
    """The backend that owns every object of ``cls``, once :func:`backend_of` has decided it."""
    return _BY_TYPE.get(cls)


def backend_of(x: Any) -> Backend:
    """The backend that owns ``x``, or :class:`UnsupportedInputError`."""
    cls = type(x)
    backend = _BY_TYPE.data.get(cls) or _BY_TYPE.get(cls)
    if backend is None:
        backend = _owner(cls, x)
        if (backend is None or backend in _PROTOCOLS) and _load_entry_points():
            backend = _owner(cls, x)
        if backend is None:
            # A protocol the object speaks but its type does not show (an
            # __array_interface__ set on the instance, a C type's buffer before
            # Python 3.12): asked per object, so never cached by type.
            if _BUFFER.owns_instance(x):
                return _BUFFER
            raise UnsupportedInputError(unconvertible(x))
        _BY_TYPE.put(cls, backend)
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
    """Resolve ``to`` to a backend and a default device.

    ``to`` is a library name, a module or namespace (``numpy``,
    ``array_api_compat.torch``, ``jax.numpy``, a vendored array-api-compat), or
    an array, whose library and device the result takes.
    """
    if isinstance(to, str):
        backend = _BACKENDS.get(to)  # the common case, one dict lookup: "torch", "numpy"
        if backend is None or to in PROTOCOLS:
            backend = backend_named(library_of_name(to))
        return backend, None
    if isinstance(to, type):
        raise ArgumentError(
            f"to={to.__module__}.{to.__qualname__} is a type: pass the library's module "
            f"or name (e.g. {to.__module__.partition('.')[0]!r}), or an array of it"
        )
    name = name_of(to)
    if name is not None:  # a module or a namespace object
        library = library_of_name(name)
        backend = _BACKENDS.get(library) or _namespace_backend(name, to)
        return backend or backend_named(library), None
    owner = _BY_TYPE.get(type(to)) or _owner(type(to), to)
    if owner is not None and owner.name not in PROTOCOLS:
        return owner, owner.target_device(to)
    raise ArgumentError(
        f"to={to!r} is neither a library name, a module nor an array of a known library"
    )
