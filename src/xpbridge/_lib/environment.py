"""What this install has: which libraries, and their versions, without importing them."""

from __future__ import annotations

import importlib.util
import sys
from importlib.metadata import PackageNotFoundError, version

__all__ = ["OPTIONAL", "installed", "versions"]

# The libraries xpbridge works with, by import name, and the distribution that ships each.
OPTIONAL = {
    "numpy": "numpy",
    "torch": "torch",
    "ml_dtypes": "ml_dtypes",
    "array_api_compat": "array-api-compat",
    "array_api_strict": "array-api-strict",
    "jax": "jax",
    "dask": "dask",
    "cupy": "cupy",
}


def installed(name: str) -> bool:
    """Whether ``import name`` can succeed here (an import hook that blocks it counts)."""
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a finder that refuses it, or a module without a spec
        return False


def versions() -> dict[str, str]:
    """The installed version of each library in :data:`OPTIONAL` (absent ones left out)."""
    found = {}
    for module, distribution in OPTIONAL.items():
        if not installed(module):
            continue
        try:
            found[module] = version(distribution)
        except PackageNotFoundError:  # importable but not installed as a distribution
            found[module] = str(getattr(sys.modules.get(module), "__version__", "unknown"))
    return found
