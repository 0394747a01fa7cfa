"""xpbridge: move arrays between NumPy, PyTorch and other array libraries.

One contract for every conversion: zero-copy whenever the memory allows,
explicit ``copy=None/True/False`` semantics from the array API standard,
explicit device, dtype and autograd policy, and errors that say what to do.

Importing xpbridge imports no array library, and the conversion machinery
itself loads on first use (SPEC 1 lazy loading), so that packages can import
xpbridge at no cost.
"""

from __future__ import annotations

from .errors import (
    ArgumentError,
    ConversionError,
    CopyError,
    DeviceError,
    DTypeError,
    GradError,
    MissingLibraryError,
    UnsupportedInputError,
)

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs ~5 ms
if TYPE_CHECKING:
    from typing import Any

    from ._api.chunks import convert_chunks
    from ._api.compute import compute_in
    from ._api.convert import convert, plan, shares_memory, to_numpy, to_torch
    from ._api.trees import TreePlan, convert_tree, plan_tree
    from ._pipeline.observe import CopyWarning, no_copies
    from ._pipeline.plan import Plan
    from ._pipeline.request import set_narrowing
    from ._trees.walk import register_container
    from .backends.registry import list_backends, register_backend

__all__ = [
    "ArgumentError",
    "ConversionError",
    "CopyError",
    "CopyWarning",
    "DTypeError",
    "DeviceError",
    "GradError",
    "MissingLibraryError",
    "Plan",
    "TreePlan",
    "UnsupportedInputError",
    "__version__",
    "compute_in",
    "convert",
    "convert_chunks",
    "convert_tree",
    "dtypes",
    "list_backends",
    "no_copies",
    "plan",
    "plan_tree",
    "register_backend",
    "register_container",
    "set_narrowing",
    "shares_memory",
    "to_numpy",
    "to_torch",
]

__version__ = "0.1.0"

_LAZY = {
    "convert": "_api.convert",
    "plan": "_api.convert",
    "shares_memory": "_api.convert",
    "to_numpy": "_api.convert",
    "to_torch": "_api.convert",
    "Plan": "_pipeline.plan",
    "list_backends": "backends.registry",
    "register_backend": "backends.registry",
    "convert_tree": "_api.trees",
    "plan_tree": "_api.trees",
    "TreePlan": "_api.trees",
    "register_container": "_trees.walk",
    "set_narrowing": "_pipeline.request",
    "no_copies": "_pipeline.observe",
    "CopyWarning": "_pipeline.observe",
    "compute_in": "_api.compute",
    "convert_chunks": "_api.chunks",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'xpbridge' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def dtypes() -> tuple[str, ...]:
    """Return the canonical dtype names xpbridge knows.

    Returns
    -------
    tuple of str
        Every name ``dtype=`` accepts, in the order of the dtype table.

    Examples
    --------
    >>> "bfloat16" in dtypes()
    True
    """
    from ._lib.dtypes import DTYPES

    return tuple(DTYPES)
