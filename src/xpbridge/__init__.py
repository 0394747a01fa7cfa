"""xpbridge: move arrays between NumPy, PyTorch and other array libraries.

One contract for every conversion: zero-copy whenever the memory allows,
explicit ``copy=None/True/False`` semantics from the array API standard,
explicit device, dtype and autograd policy, and errors that say what to do.

Importing xpbridge imports no array library.
"""

from __future__ import annotations

from ._convert import convert, plan, shares_memory, to_numpy, to_torch
from ._dtypes import DTYPES as _DTYPES
from ._plan import Plan
from .errors import (
    ArgumentError,
    ConversionError,
    CopyError,
    DeviceError,
    DTypeError,
    GradError,
    UnsupportedInputError,
)

__all__ = [
    "ArgumentError",
    "ConversionError",
    "CopyError",
    "DTypeError",
    "DeviceError",
    "GradError",
    "Plan",
    "UnsupportedInputError",
    "__version__",
    "convert",
    "dtypes",
    "plan",
    "shares_memory",
    "to_numpy",
    "to_torch",
]

__version__ = "0.1.0"


def dtypes() -> tuple[str, ...]:
    """The canonical dtype names xpbridge knows.

    Examples
    --------
    >>> "bfloat16" in dtypes()
    True
    """
    return tuple(_DTYPES)
