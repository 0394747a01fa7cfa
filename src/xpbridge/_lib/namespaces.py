"""Every way code names an array library, reduced to one library name.

Backend-agnostic code holds ``xp = array_api_compat.array_namespace(x)``, not
the string ``"torch"``; scikit-learn and SciPy hold their own vendored copy of
array-api-compat.  All of these name the same library, and must give the same
plan and the same result: ``"numpy"``, ``numpy``, ``array_api_compat.numpy``,
``sklearn.externals.array_api_compat.numpy`` are NumPy; ``"jax"``, ``jax`` and
``jax.numpy`` are JAX.

array-api-compat classifies the namespaces it wraps (its ``is_*_namespace``
helpers know their own module name); vendored copies are recognised by the
same rule applied to their module path.  Nothing here imports a framework.
"""

from __future__ import annotations

from typing import Any

from ..errors import ArgumentError
from .memo import memoised

__all__ = ["PROTOCOLS", "library_of_name", "namespace_module"]

# The library each namespace module name stands for, where the two differ.
_ALIASES = {"jax.numpy": "jax", "dask.array": "dask", "cupy.array_api": "cupy"}

# Libraries that array-api-compat wraps, by the last part of the wrapper's name
# (array_api_compat.numpy, array_api_compat.torch, ...).
_WRAPPED = {"numpy": "numpy", "torch": "torch", "cupy": "cupy", "dask.array": "dask"}

# Sources xpbridge reads through a protocol: they are not libraries one converts to.
PROTOCOLS = frozenset({"dlpack", "buffer", "python"})

# The namespace module of a library whose name is not its namespace.
_NAMESPACE_MODULES = {"jax": "jax.numpy", "dask": "dask.array"}


def library_of_name(name: str) -> str:
    """The library a module or library name stands for.

    Examples
    --------
    >>> library_of_name("jax.numpy"), library_of_name("array_api_compat.torch")
    ('jax', 'torch')
    >>> library_of_name("sklearn.externals.array_api_compat.numpy")
    'numpy'
    >>> library_of_name("array_api_strict")
    'array_api_strict'
    """
    if name in PROTOCOLS:
        raise ArgumentError(
            f"{name!r} names a protocol xpbridge reads sources through, not a library to "
            f"convert to: name the target library, e.g. 'numpy' or 'torch'"
        )
    return _library_of(name)


@memoised("library names", "a module or library name", 256)
def _library_of(name: str) -> str:
    alias = _ALIASES.get(name)
    if alias is not None:
        return alias
    for wrapped, library in _WRAPPED.items():
        # array_api_compat.numpy, and vendored copies: <anything>.array_api_compat.numpy
        prefix = name.removesuffix("." + wrapped)
        if prefix != name and prefix.rpartition(".")[2] == "array_api_compat":
            return library
    return name


def namespace_module(library: str) -> str:
    """The importable namespace module of a library (``"jax"`` -> ``"jax.numpy"``)."""
    return _NAMESPACE_MODULES.get(library, library)


def name_of(to: Any) -> str | None:
    """The module name of a module or namespace object, else None."""
    name = getattr(to, "__name__", None)
    if isinstance(name, str) and not isinstance(to, type):
        return name
    return None
