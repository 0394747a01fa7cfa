"""xpstats: two statistics functions for arrays of any array-API library.

An example of a downstream project: it depends on array-api-compat only, and
its tests run on every installed backend and device through xpbridge's
pytest plugin.
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

__all__ = ["center_inplace", "standardize"]


def standardize(x: Any, /, *, axis: int | None = None) -> Any:
    """Return ``(x - mean) / std`` along ``axis``, in the library and on the device of ``x``.

    Parameters
    ----------
    x : array
        A floating-point array of any array-API library.
    axis : int, optional
        The axis to standardise along; all axes by default.

    Returns
    -------
    array
        A new array of the same library, device, dtype and shape.

    Examples
    --------
    >>> import numpy as np
    >>> standardize(np.asarray([1.0, 3.0]))
    array([-1.,  1.])
    """
    xp = array_namespace(x)
    mean = xp.mean(x, axis=axis, keepdims=True)
    std = xp.std(x, axis=axis, keepdims=True)
    return (x - mean) / std


def center_inplace(x: Any, /) -> Any:
    """Subtract the mean of ``x`` from ``x`` itself, and return ``x``.

    Parameters
    ----------
    x : array
        A writable floating-point array (not a JAX array, not a read-only
        NumPy array).

    Returns
    -------
    array
        ``x``, changed.

    Examples
    --------
    >>> import numpy as np
    >>> center_inplace(np.asarray([1.0, 3.0]))
    array([-1.,  1.])
    """
    xp = array_namespace(x)
    x[...] = x - xp.mean(x)
    return x
