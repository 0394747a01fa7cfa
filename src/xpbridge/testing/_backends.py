"""The backends and devices a test runs on, and how a project chooses them.

A backend is a library as tests see it, possibly in a variant: ``numpy``,
``numpy-readonly``, ``torch``, ``array_api_strict``,
``array_api_strict-strictest``, ``jax``, ``jax-jit``, ``dask``, ``cupy``.
Each runs on its devices, and each (backend, device) pair is one
:class:`XPBackend` with a readable id: ``numpy``, ``torch-cuda:0``,
``array_api_strict-device1``, ``jax-jit-cpu``.  Choosing by name needs no
import; listing devices imports the library, which happens only when a test
asks for one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..errors import ArgumentError, install_line
from ._catalogue import LIBRARIES, device_label
from ._namespaces import BoundNamespace

__all__ = [
    "BACKENDS",
    "ENVIRONMENT_VARIABLE",
    "KINDS",
    "MODULE_NAMES",
    "BackendKind",
    "XPBackend",
    "check_selection",
    "check_token",
    "given_or_environment",
    "parse_token",
    "select",
    "xp_backends",
]

ENVIRONMENT_VARIABLE = "XPBRIDGE_XP_BACKENDS"

# array-api-strict flags of the "strictest" variant: what array-api-extra's own
# suite runs as its strictest backend (no boolean indexing, no data-dependent
# shapes, no optional extensions).
STRICTEST_FLAGS: tuple[tuple[str, Any], ...] = (
    ("boolean_indexing", False),
    ("data_dependent_shapes", False),
    ("enabled_extensions", ()),
)


@dataclass(frozen=True)
class BackendKind:
    """One backend name: the library behind it and what sets it apart.

    ``readonly``: NumPy arrays its namespace returns are read-only views.
    ``lazy``: functions declared with :func:`~xpbridge.testing.capabilities`
    run lazily there (``"dask"``: Dask's compute is counted and limited;
    ``"jit"``: under ``jax.jit``).  ``strict_flags``: array-api-strict flags
    set for each test.  ``by_default``: whether it runs when no selection is
    given (variants run only when asked for).
    """

    name: str
    library: str
    summary: str
    readonly: bool = False
    lazy: str | None = None
    strict_flags: tuple[tuple[str, Any], ...] = ()
    by_default: bool = True


KINDS: dict[str, BackendKind] = {
    kind.name: kind
    for kind in (
        BackendKind("numpy", "numpy", "NumPy, through array-api-compat"),
        BackendKind(
            "numpy-readonly",
            "numpy",
            "NumPy whose functions return read-only views",
            readonly=True,
        ),
        BackendKind("torch", "torch", "PyTorch, through array-api-compat"),
        BackendKind("array_api_strict", "array_api_strict", "array-api-strict"),
        BackendKind(
            "array_api_strict-strictest",
            "array_api_strict",
            "array-api-strict without boolean indexing, data-dependent shapes or extensions",
            strict_flags=STRICTEST_FLAGS,
            by_default=False,
        ),
        BackendKind("jax", "jax", "JAX, eager"),
        BackendKind(
            "jax-jit",
            "jax",
            "JAX; declared functions run under jax.jit",
            lazy="jit",
            by_default=False,
        ),
        BackendKind(
            "dask", "dask", "Dask over NumPy; declared functions may not compute", lazy="dask"
        ),
        BackendKind("cupy", "cupy", "CuPy, through array-api-compat"),
    )
}

# Backend name -> the library behind it.
BACKENDS = {name: kind.library for name, kind in KINDS.items()}

# Names the ecosystem's suites use for namespaces (SciPy's backend ids are module
# names): each stands for these backend names.
MODULE_NAMES: dict[str, tuple[str, ...]] = {
    "jax.numpy": ("jax", "jax-jit"),
    "dask.array": ("dask",),
    "array_api_compat.numpy": ("numpy", "numpy-readonly"),
    "array_api_compat.torch": ("torch",),
    "array_api_compat.cupy": ("cupy",),
}

# Libraries with one device: their ids carry no device.
_ONE_DEVICE = frozenset({"numpy", "dask"})


@dataclass(frozen=True)
class XPBackend:
    """One backend on one device: what a test parametrised by ``xp`` runs with.

    Attributes
    ----------
    name : str
        The backend: ``"numpy"``, ``"numpy-readonly"``, ``"torch"``,
        ``"array_api_strict"``, ``"array_api_strict-strictest"``, ``"jax"``,
        ``"jax-jit"``, ``"dask"`` or ``"cupy"``.
    library : str
        The library behind it (``"numpy"`` for both NumPy backends).
    device_label : str
        The device as ids spell it: ``"cpu"``, ``"cuda:0"``, ``"device1"``, ``"meta"``.
    device : object
        The library's own device object (``"cpu"`` for NumPy and Dask): what
        ``xp_device`` gives and creation functions accept as ``device=``.
    default_device : bool
        Whether it is the device the library uses when given none.

    Examples
    --------
    >>> backend = xp_backends("array_api_strict-device1")[0]
    >>> backend.id, backend.library, backend.default_device
    ('array_api_strict-device1', 'array_api_strict', False)
    >>> backend.namespace().asarray([1.0]).device == backend.device
    True
    >>> xp_backends("jax-jit")[0].lazy
    'jit'
    """

    name: str
    library: str
    device_label: str
    device: Any = field(compare=False, hash=False, repr=False)
    default_device: bool = True

    @property
    def id(self) -> str:
        """The test id: the backend name, and the device for libraries with several.

        Examples
        --------
        >>> XPBackend("torch", "torch", "cuda:0", None, False).id
        'torch-cuda:0'
        >>> XPBackend("numpy-readonly", "numpy", "cpu", "cpu").id
        'numpy-readonly'
        """
        return self.name if self.library in _ONE_DEVICE else f"{self.name}-{self.device_label}"

    @property
    def kind(self) -> BackendKind:
        """What the backend name stands for (library, variant, laziness)."""
        return KINDS[self.name]

    @property
    def readonly(self) -> bool:
        """Whether NumPy arrays made through its namespace are read-only."""
        return self.kind.readonly

    @property
    def lazy(self) -> str | None:
        """``"dask"`` or ``"jit"`` where declared functions run lazily, else None."""
        return self.kind.lazy

    @property
    def cpu(self) -> bool:
        """Whether NumPy can read the arrays where they are: the CPU (not a GPU, not ``meta``).

        array-api-strict's devices other than ``CPU_DEVICE`` stand for other
        devices and refuse NumPy as a GPU would, so they do not count.
        """
        if self.library == "array_api_strict":
            return self.device_label == "CPU_DEVICE"
        return self.device_label == "cpu" or self.device_label.startswith("cpu:")

    @property
    def capabilities(self) -> dict[str, Any]:
        """What tests can rely on here, as the capability table prints it.

        ``eager`` (values can be read at any time; False for the lazy
        backends), ``writable`` (arrays support in-place writes), ``float64``
        (the device holds 64-bit floats; JAX only with ``jax_enable_x64``),
        ``data`` (values exist: False on torch's ``meta``), ``cpu`` (NumPy
        reads the arrays where they are), ``default_device``, ``thread_safe`` (False where the
        set-up changes process-wide state: the plugin then marks the test
        ``thread_unsafe`` for pytest-run-parallel), ``by_default`` (runs
        without a selection).

        Examples
        --------
        >>> xp_backends("numpy-readonly")[0].capabilities["writable"]
        False
        """
        label = self.device_label
        float64: bool | str = label not in {"no_float64", "no_x64"}
        if self.library == "jax":
            float64 = "with jax_enable_x64"
        return {
            "eager": self.lazy is None,
            "writable": not self.readonly and self.library != "jax",
            "float64": float64,
            "data": label != "meta",
            "cpu": self.cpu,
            "default_device": self.default_device,
            "thread_safe": not (self.kind.strict_flags or self.lazy),
            "by_default": self.kind.by_default
            and label in {lab for lab, _ in LIBRARIES[self.library].run_devices()},
        }

    def namespace(self, array_api_compat: str | None = None) -> Any:
        """The array-API namespace tests receive as ``xp``.

        The library's own namespace (through array-api-compat where it needs
        one), or a :class:`~xpbridge.testing._namespaces.BoundNamespace` for
        read-only NumPy and for devices other than the library's default.

        Parameters
        ----------
        array_api_compat : str, optional
            The array-api-compat package that NumPy's, torch's, CuPy's and
            Dask's namespaces come from, for a suite whose code compares
            namespaces with a vendored copy (``"scipy._external.array_api_compat"``).
            Default: ``array_api_compat`` itself.

        Returns
        -------
        module or BoundNamespace
            Imported on first call.

        Raises
        ------
        ArgumentError
            If the library is not installed, or the array-api-compat named
            has no namespace for it.

        Examples
        --------
        >>> xp_backends("numpy")[0].namespace().__name__
        'array_api_compat.numpy'
        """
        namespace = LIBRARIES[self.library].load(array_api_compat)
        if self.readonly or not self.default_device:
            device = None if self.default_device else self.device
            return BoundNamespace(namespace, device=device, readonly=self.readonly, label=self.id)
        return namespace


def check_token(token: str, context: str) -> None:
    """Raise :class:`ArgumentError`, its message led by ``context``, unless ``token`` names a backend."""
    try:
        parse_token(token)
    except ArgumentError as e:
        raise ArgumentError(f"{context}: {e}") from None


def parse_token(token: str) -> tuple[str, str | None]:
    """Split ``"torch-cuda:0"`` into ``("torch", "cuda:0")``; a bare name has no device.

    Module names stand for their backend (``"jax.numpy"`` is ``"jax"``,
    ``"dask.array"`` is ``"dask"``).

    Raises
    ------
    ArgumentError
        If the token names no known backend.

    Examples
    --------
    >>> parse_token("numpy-readonly"), parse_token("array_api_strict-device1")
    (('numpy-readonly', None), ('array_api_strict', 'device1'))
    >>> parse_token("jax-jit-cpu"), parse_token("dask.array")
    (('jax-jit', 'cpu'), ('dask', None))
    """
    token = token.strip()
    if token in KINDS:
        return token, None
    if token in MODULE_NAMES:
        return MODULE_NAMES[token][0], None
    for name in sorted(KINDS, key=len, reverse=True):
        if token.startswith(name + "-"):
            return name, token[len(name) + 1 :]
    raise ArgumentError(
        f"unknown xp backend {token!r}: the backends are {', '.join(KINDS)}, "
        f"optionally with a device, as in torch-cuda:0 or array_api_strict-device1"
    )


def _tokens(selection: str | Sequence[str]) -> list[str]:
    if isinstance(selection, str):
        selection = selection.split(",")
    return [t.strip() for t in selection if t.strip()]


def check_selection(selection: str | Sequence[str], source: str) -> None:
    """Check, without importing anything, that every backend asked for is known and installed.

    Raises
    ------
    ArgumentError
        For an unknown name or a library that is not installed: a backend
        asked for is never skipped silently.
    """
    for token in _tokens(selection):
        name, _ = parse_token(token)
        library = LIBRARIES[BACKENDS[name]]
        if not library.is_installed():
            raise ArgumentError(
                f"{source} asks for {token}, but {library.name} is not installed: "
                f"{install_line(library.module)}, or leave {token} out"
            )


def _pairs(name: str, label: str | None) -> list[XPBackend]:
    library = LIBRARIES[BACKENDS[name]]
    devices = library.devices() if label is not None else library.run_devices()
    default = device_label(library.default_device())
    found = [
        XPBackend(name, library.name, lab, device, lab == default)
        for lab, device in devices
        if label is None or lab == label
    ]
    if not found:
        known = ", ".join(XPBackend(name, library.name, lab, d).id for lab, d in devices)
        raise ArgumentError(f"there is no xp backend {name}-{label} here: {name} has {known}")
    return found


def select(selection: str | Sequence[str] | None, source: str) -> tuple[list[XPBackend], list[str]]:
    """The backends for a selection (None: every installed one), and notes on those left out.

    ``source`` names where the selection came from, for error messages.  A
    selection with no names in it (``""``, ``","``) is no selection: every
    installed backend, as when none is given.
    """
    if selection is None or not _tokens(selection):
        found: list[XPBackend] = []
        notes = []
        for name, kind in KINDS.items():
            if not kind.by_default or not LIBRARIES[kind.library].is_installed():
                continue
            try:
                found += _pairs(name, None)
            except (ImportError, RuntimeError, OSError) as e:  # CuPy without a GPU, say
                notes.append(f"{name} is installed but cannot run here: {e}")
        return found, notes
    check_selection(selection, source)
    chosen: list[XPBackend] = []
    for token in _tokens(selection):
        chosen += [b for b in _pairs(*parse_token(token)) if b not in chosen]
    return chosen, []


def xp_backends(selection: str | Sequence[str] | None = None) -> list[XPBackend]:
    """The backends and devices that tests using ``xp`` run on here.

    For parametrising by hand what the ``xp`` fixture parametrises, or for
    listing what a run will cover.

    Parameters
    ----------
    selection : str or sequence of str, optional
        Backend names or ids, as a list or one comma-separated string:
        ``"numpy,torch"``, ``["torch-cuda:0"]``, ``"jax-jit"``.  A name gives
        each of its devices that runs by default (array-api-strict:
        ``CPU_DEVICE`` and ``device1``); an id gives that device only, also
        one that runs only when asked for (``torch-meta``,
        ``array_api_strict-no_float64``).  Default: the
        ``XPBRIDGE_XP_BACKENDS`` environment variable, else every installed
        backend that runs by default.  An empty selection (``""``) is no
        selection.

    Returns
    -------
    list of XPBackend
        In the order of the selection (default: numpy, numpy-readonly,
        torch, array_api_strict, jax, dask, cupy), devices in the library's
        order.

    Raises
    ------
    ArgumentError
        If a backend asked for is unknown, not installed, or has no such
        device here: a backend asked for is never skipped silently.

    Examples
    --------
    >>> [b.id for b in xp_backends("numpy,array_api_strict")]
    ['numpy', 'array_api_strict-CPU_DEVICE', 'array_api_strict-device1']
    >>> [b.id for b in xp_backends("torch-meta,dask,jax-jit")]
    ['torch-meta', 'dask', 'jax-jit-cpu']
    """
    return select(*given_or_environment(selection, "the selection"))[0]


def backends_table(backends: Sequence[XPBackend]) -> str:
    """The capability table of some backends, as Markdown (one row per backend id).

    Parameters
    ----------
    backends : sequence of XPBackend
        The rows, as :func:`xp_backends` lists them.

    Returns
    -------
    str
        A Markdown table: the id, library and device of each backend, and
        its :attr:`XPBackend.capabilities` (``yes`` / ``no``, or a condition
        such as ``with jax_enable_x64``).

    Raises
    ------
    AttributeError
        If an item is not an :class:`XPBackend`.

    Examples
    --------
    >>> print(backends_table(xp_backends("numpy-readonly,dask")))
    | backend | library | device | eager | writable | float64 | data | cpu | default_device | thread_safe | by_default |
    |---|---|---|---|---|---|---|---|---|---|---|
    | numpy-readonly | numpy | cpu | yes | no | yes | yes | yes | yes | yes | yes |
    | dask | dask | cpu | no | yes | yes | yes | yes | yes | no | yes |
    """
    keys = list(XPBackend("numpy", "numpy", "cpu", "cpu").capabilities)
    lines = [
        "| backend | library | device | " + " | ".join(keys) + " |",
        "|" + "---|" * (3 + len(keys)),
    ]
    for b in backends:
        caps = b.capabilities
        cells = [_yes_no(caps[k]) for k in keys]
        lines.append(f"| {b.id} | {b.library} | {b.device_label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _yes_no(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


_Selection = TypeVar("_Selection", str, str | Sequence[str])


def given_or_environment(
    selection: _Selection | None, source: str
) -> tuple[_Selection | str | None, str]:
    """``selection`` and ``source`` as given, else ``$XPBRIDGE_XP_BACKENDS`` and its name.

    ``None`` (from neither, or an empty value from either): every installed backend.
    """
    if selection is None or not _tokens(selection):
        return os.environ.get(ENVIRONMENT_VARIABLE) or None, ENVIRONMENT_VARIABLE
    return selection, source
