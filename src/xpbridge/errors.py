"""The errors xpbridge raises.

Every error is a :class:`ConversionError` and also an instance of the builtin
exception that upstream libraries raise for the same situation, so code that
already catches ``BufferError``, ``ValueError``, ``TypeError`` or
``RuntimeError`` keeps working.

Examples
--------
>>> from xpbridge.errors import CopyError
>>> issubclass(CopyError, BufferError) and issubclass(CopyError, ValueError)
True
"""

from __future__ import annotations

__all__ = [
    "ArgumentError",
    "ConversionError",
    "CopyError",
    "DTypeError",
    "DeviceError",
    "GradError",
    "UnsupportedInputError",
]


class ConversionError(Exception):
    """Base class of every error xpbridge raises."""


class CopyError(ConversionError, BufferError, ValueError):
    """``copy=False`` was requested but the conversion needs a new buffer."""


class DTypeError(ConversionError, TypeError):
    """A dtype the target cannot represent, or an invalid ``dtype=``."""


class DeviceError(ConversionError, ValueError):
    """An unknown or unavailable device, or a target that cannot live there."""


class GradError(ConversionError, RuntimeError):
    """``grad="raise"`` and the source takes part in autograd."""


class UnsupportedInputError(ConversionError, TypeError):
    """An input that cannot be converted without losing meaning."""


class ArgumentError(ConversionError, ValueError):
    """An invalid keyword value (``copy=``, ``grad=``) or an unknown target library."""
