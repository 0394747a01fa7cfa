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
    UnsupportedInputError,
)

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs ~5 ms
if TYPE_CHECKING:
    from typing import Any

    from ._chunks import convert_chunks
    from ._compute import compute_in
    from ._convert import convert, plan, shares_memory, to_numpy, to_torch
    from ._plan import Plan
    from ._registry import list_backends, register_backend
    from ._tree import register_container
    from ._tree_plan import TreePlan, convert_tree, plan_tree

__all__ = [
    "ArgumentError",
    "ConversionError",
    "CopyError",
    "DTypeError",
    "DeviceError",
    "GradError",
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
    "plan",
    "plan_tree",
    "register_backend",
    "register_container",
    "shares_memory",
    "to_numpy",
    "to_torch",
]

__version__ = "0.1.0"

_LAZY = {
    "convert": "_convert",
    "plan": "_convert",
    "shares_memory": "_convert",
    "to_numpy": "_convert",
    "to_torch": "_convert",
    "Plan": "_plan",
    "list_backends": "_registry",
    "register_backend": "_registry",
    "convert_tree": "_tree_plan",
    "plan_tree": "_tree_plan",
    "TreePlan": "_tree_plan",
    "register_container": "_tree",
    "compute_in": "_compute",
    "convert_chunks": "_chunks",
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
    from ._dtypes import DTYPES

    return tuple(DTYPES)
