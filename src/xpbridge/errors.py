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
    "MissingLibraryError",
    "UnsupportedInputError",
]


class ConversionError(Exception):
    """Base class of every error xpbridge raises.

    Examples
    --------
    >>> import xpbridge as xb
    >>> issubclass(xb.CopyError, xb.ConversionError)
    True
    """


class CopyError(ConversionError, BufferError, ValueError):
    """``copy=False`` was requested but the conversion needs a new buffer.

    Also a ``BufferError`` and a ``ValueError``, the errors upstream raises.

    Examples
    --------
    >>> import numpy as np, xpbridge as xb
    >>> try:
    ...     xb.to_numpy(np.arange(3), dtype="float32", copy=False)
    ... except BufferError as e:
    ...     print(type(e).__name__)
    CopyError
    """


class DTypeError(ConversionError, TypeError):
    """A dtype the target cannot represent, or an invalid ``dtype=``.

    Also a ``TypeError``.

    Examples
    --------
    >>> import numpy as np, xpbridge as xb
    >>> try:
    ...     xb.to_numpy(np.arange(3), dtype="float")
    ... except TypeError as e:
    ...     print(type(e).__name__)
    DTypeError
    """


class DeviceError(ConversionError, ValueError):
    """An unknown or unavailable device, or a target that cannot live there.

    Also a ``ValueError``.

    Examples
    --------
    >>> import numpy as np, xpbridge as xb
    >>> try:
    ...     xb.plan(np.arange(3), "numpy", device="cuda:0")
    ... except ValueError as e:
    ...     print(type(e).__name__)
    DeviceError
    """


class GradError(ConversionError, RuntimeError):
    """``grad="raise"`` and the source takes part in autograd.

    Also a ``RuntimeError``, as ``Tensor.numpy()`` raises.

    Examples
    --------
    >>> import torch, xpbridge as xb
    >>> try:
    ...     xb.to_numpy(torch.ones(2, requires_grad=True), grad="raise")
    ... except RuntimeError as e:
    ...     print(type(e).__name__)
    GradError
    """


class UnsupportedInputError(ConversionError, TypeError):
    """An input that cannot be converted without losing meaning.

    Also a ``TypeError``.

    Examples
    --------
    >>> import xpbridge as xb
    >>> try:
    ...     xb.to_numpy(object())
    ... except TypeError as e:
    ...     print(type(e).__name__)
    UnsupportedInputError
    """


class ArgumentError(ConversionError, ValueError):
    """An invalid keyword value (``copy=``, ``grad=``) or an unknown target library.

    Also a ``ValueError``.

    Examples
    --------
    >>> import numpy as np, xpbridge as xb
    >>> try:
    ...     xb.to_numpy(np.arange(3), grad="keep")  # type: ignore[arg-type]
    ... except ValueError as e:
    ...     print(e)
    grad must be 'detach' or 'raise', not 'keep'
    """


class MissingLibraryError(ArgumentError, ImportError):
    """The target (or a library a conversion needs) is not installed.

    Also an ``ImportError``, which is what code that handles a missing
    optional dependency catches, and an :class:`ArgumentError` (a
    ``ValueError``) as before.  The message names the install line.

    Examples
    --------
    >>> import xpbridge as xb
    >>> issubclass(xb.MissingLibraryError, ImportError)
    True
    """


# The import name of each library xpbridge has an extra for, and the extra
# (pyproject.toml's [project.optional-dependencies]; a test keeps the two
# equal): installing through the extra gets the tested versions.  The one
# table of install lines (the library's errors, the testing toolkit, the CLI).
EXTRAS = {
    "torch": "torch",
    "ml_dtypes": "ml-dtypes",
    "jax": "jax",
    "dask": "dask",
    "distributed": "dask",
    "hypothesis": "testing",
}


def install_line(library: str) -> str:
    """How to install ``library`` (an import name; its xpbridge extra where there is one).

    Examples
    --------
    >>> install_line("torch"), install_line("array_api_strict"), install_line("dask.array")
    ("pip install 'xpbridge[torch]'", "pip install 'array-api-strict'", "pip install 'xpbridge[dask]'")
    """
    root = library.partition(".")[0]
    extra = EXTRAS.get(root)
    return (
        f"pip install 'xpbridge[{extra}]'" if extra else f"pip install '{root.replace('_', '-')}'"
    )
