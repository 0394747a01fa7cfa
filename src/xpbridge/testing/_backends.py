"""The backends and devices a test runs on, and how a project chooses them.

A backend is a library as tests see it (``numpy``, ``numpy-readonly``,
``torch``, ``array_api_strict``, ``jax``, ``cupy``); each runs on its
devices, and each (backend, device) pair is one :class:`XPBackend` with a
readable id: ``numpy``, ``torch-cuda:0``, ``array_api_strict-device1``.
Choosing by name needs no import; listing devices imports the library, which
happens only when a test asks for one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..errors import ArgumentError
from ._catalogue import LIBRARIES, device_label
from ._namespaces import BoundNamespace

__all__ = [
    "BACKENDS",
    "ENVIRONMENT_VARIABLE",
    "XPBackend",
    "check_selection",
    "given_or_environment",
    "parse_token",
    "select",
    "xp_backends",
]

ENVIRONMENT_VARIABLE = "XPBRIDGE_XP_BACKENDS"

# Backend name -> the library behind it.
BACKENDS = {
    "numpy": "numpy",
    "numpy-readonly": "numpy",
    "torch": "torch",
    "array_api_strict": "array_api_strict",
    "jax": "jax",
    "cupy": "cupy",
}


@dataclass(frozen=True)
class XPBackend:
    """One backend on one device: what a test parametrised by ``xp`` runs with.

    Attributes
    ----------
    name : str
        The backend: ``"numpy"``, ``"numpy-readonly"``, ``"torch"``,
        ``"array_api_strict"``, ``"jax"`` or ``"cupy"``.
    library : str
        The library behind it (``"numpy"`` for both NumPy backends).
    device_label : str
        The device as ids spell it: ``"cpu"``, ``"cuda:0"``, ``"device1"``.
    device : object
        The library's own device object (``"cpu"`` for NumPy): what
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
        return self.name if self.library == "numpy" else f"{self.name}-{self.device_label}"

    @property
    def readonly(self) -> bool:
        """Whether NumPy arrays made through its namespace are read-only."""
        return self.name == "numpy-readonly"

    def namespace(self) -> Any:
        """The array-API namespace tests receive as ``xp``.

        The library's own namespace (through array-api-compat where it needs
        one), or a :class:`~xpbridge.testing._namespaces.BoundNamespace` for
        read-only NumPy and for devices other than the library's default.

        Returns
        -------
        module or BoundNamespace
            Imported on first call.

        Raises
        ------
        ArgumentError
            If the library is not installed.

        Examples
        --------
        >>> xp_backends("numpy")[0].namespace().__name__
        'array_api_compat.numpy'
        """
        namespace = LIBRARIES[self.library].load()
        if self.readonly or not self.default_device:
            device = None if self.default_device else self.device
            return BoundNamespace(namespace, device=device, readonly=self.readonly, label=self.id)
        return namespace


def parse_token(token: str) -> tuple[str, str | None]:
    """Split ``"torch-cuda:0"`` into ``("torch", "cuda:0")``; a bare name has no device.

    Raises
    ------
    ArgumentError
        If the token names no known backend.

    Examples
    --------
    >>> parse_token("numpy-readonly"), parse_token("array_api_strict-device1")
    (('numpy-readonly', None), ('array_api_strict', 'device1'))
    """
    token = token.strip()
    if token in BACKENDS:
        return token, None
    for name in sorted(BACKENDS, key=len, reverse=True):
        if token.startswith(name + "-"):
            return name, token[len(name) + 1 :]
    raise ArgumentError(
        f"unknown xp backend {token!r}: the backends are {', '.join(BACKENDS)}, "
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
                f"pip install {library.pip}, or leave {token} out"
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

    ``source`` names where the selection came from, for error messages.
    """
    if selection is None:
        found: list[XPBackend] = []
        notes = []
        for name, lib in BACKENDS.items():
            if not LIBRARIES[lib].is_installed():
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
        ``"numpy,torch"``, ``["torch-cuda:0"]``.  A name gives each of its
        devices (array-api-strict: ``CPU_DEVICE`` and ``device1``); an id
        gives that device only.  Default: the ``XPBRIDGE_XP_BACKENDS``
        environment variable, else every installed backend that can run here.

    Returns
    -------
    list of XPBackend
        In the order of the selection (default: numpy, numpy-readonly,
        torch, array_api_strict, jax, cupy), devices in the library's order.

    Raises
    ------
    ArgumentError
        If a backend asked for is unknown, not installed, or has no such
        device here: a backend asked for is never skipped silently.

    Examples
    --------
    >>> [b.id for b in xp_backends("numpy,array_api_strict")]
    ['numpy', 'array_api_strict-CPU_DEVICE', 'array_api_strict-device1']
    """
    return select(*given_or_environment(selection, "the selection"))[0]


_Selection = TypeVar("_Selection", str, str | Sequence[str])


def given_or_environment(
    selection: _Selection | None, source: str
) -> tuple[_Selection | str | None, str]:
    """``selection`` and ``source`` as given, else ``$XPBRIDGE_XP_BACKENDS`` and its name.

    ``None`` (from neither): every installed backend.
    """
    if selection is None:
        return os.environ.get(ENVIRONMENT_VARIABLE) or None, ENVIRONMENT_VARIABLE
    return selection, source
