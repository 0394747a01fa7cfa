"""The namespace a test receives as ``xp`` when the library's own would not do.

Two cases need one: read-only NumPy (every NumPy array a function returns is
a read-only view, so a library that writes into its inputs fails loudly), and
a device that is not the library's default (``torch-cuda:0``,
``array_api_strict-device1``: creation functions make arrays there unless told
otherwise, so a test written as ``xp.asarray([1, 2])`` runs on that device).
Everything else is the library's namespace itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["CREATION_FUNCTIONS", "BoundNamespace"]

# The array API standard's creation functions that take ``device=`` and do not
# follow an input array (the *_like functions and from_dlpack do).
CREATION_FUNCTIONS = frozenset(
    {"arange", "asarray", "empty", "eye", "full", "linspace", "ones", "zeros"}
)


def _read_only(result: Any) -> Any:
    import numpy as np

    if isinstance(result, np.ndarray):
        view = result.view()  # never the caller's own array: asarray(a) may return `a`
        view.flags.writeable = False
        return view
    if isinstance(result, tuple | list):
        items = [_read_only(item) for item in result]
        return type(result)(*items) if hasattr(result, "_fields") else type(result)(items)
    return result


class BoundNamespace:
    """An array-API namespace with read-only results and/or a default device.

    Every attribute is the wrapped namespace's, except that (with
    ``readonly``) each function's NumPy array results come back as read-only
    views, and (with ``device``) the creation functions default to that
    device.  Submodules (``linalg``, ``fft``) are wrapped the same way.  It
    compares equal to the namespace it wraps, so
    ``array_api_compat.array_namespace(x) == xp`` holds for arrays it made;
    ``array_namespace(x) is xp`` cannot (``array_namespace`` returns the
    library's namespace, and a test's ``xp`` must stay a wrapper so that the
    code under test, which asks ``array_namespace``, never sees the test's
    defaults).  The namespace itself is ``xp.__wrapped__``, so
    ``inspect.unwrap(xp)`` is the identity a suite can compare with.

    Parameters
    ----------
    namespace : module
        The array-API namespace to wrap.
    device : object, optional
        The device creation functions use when called without ``device=``.
    readonly : bool, default False
        Whether NumPy arrays returned by its functions are read-only.
    label : str, default ""
        Shown in ``repr``.

    Examples
    --------
    >>> import array_api_compat.numpy as np_xp
    >>> xp = BoundNamespace(np_xp, readonly=True, label="numpy-readonly")
    >>> xp.asarray([1, 2]).flags.writeable
    False
    >>> xp == np_xp
    True
    >>> import inspect
    >>> inspect.unwrap(xp) is np_xp
    True
    """

    def __init__(
        self, namespace: Any, *, device: Any = None, readonly: bool = False, label: str = ""
    ) -> None:
        self._namespace = namespace
        self._device = device
        self._readonly = readonly
        self._label = label

    @property
    def __wrapped__(self) -> Any:
        """The namespace this one wraps (what ``inspect.unwrap`` returns)."""
        return self._namespace

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._namespace, name)
        if isinstance(value, ModuleType):
            return BoundNamespace(
                value, device=self._device, readonly=self._readonly, label=self._label
            )
        if not callable(value) or isinstance(value, type):
            return value  # constants, dtypes, classes
        if name.startswith("__"):
            return value  # __array_namespace_info__ and the like
        return self._wrap(name, value)

    def _wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        device = self._device if name in CREATION_FUNCTIONS else None
        readonly = self._readonly
        if device is None and not readonly:
            return function

        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            if device is not None and kwargs.get("device") is None:
                kwargs["device"] = device
            result = function(*args, **kwargs)
            return _read_only(result) if readonly else result

        return call

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BoundNamespace):
            return bool(self._namespace is other._namespace)
        return bool(self._namespace is other)

    def __hash__(self) -> int:
        return hash(self._namespace)

    def __repr__(self) -> str:
        name = getattr(self._namespace, "__name__", repr(self._namespace))
        return f"<namespace {name} for {self._label or 'xpbridge tests'}>"

    def __dir__(self) -> list[str]:
        return sorted(set(dir(self._namespace)) | set(object.__dir__(self)))
