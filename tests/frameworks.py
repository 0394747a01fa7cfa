"""The array libraries this environment has, and marks for the tests that need one.

A conformance leg without torch (Python 3.12 and 3.13 here) runs every test
that does not involve torch; a test that does is marked ``needs_torch`` and
skips there with that reason.  ``torch`` is the module, or None without it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

import pytest

# For the tests that read TOML, on every Python the matrix runs.
if sys.version_info >= (3, 11):
    import tomllib as tomllib
else:  # Python 3.10: the backport xpbridge itself depends on there
    import tomli as tomllib  # noqa: F401 - re-exported, as tomllib is above


def installed(name: str) -> bool:
    """Whether ``name`` can be imported here (importing only its parent packages)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def optional(name: str) -> ModuleType | None:
    """The module, or None when it is not installed."""
    return importlib.import_module(name) if installed(name) else None


HAS_TORCH = installed("torch")
torch = optional("torch")

needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="needs torch (not installed here)")


def cuda_available() -> bool:
    """Whether torch is installed and sees a CUDA device."""
    return torch is not None and bool(torch.cuda.is_available())


def needs(name: str) -> pytest.MarkDecorator:
    """Skip unless ``name`` is installed."""
    return pytest.mark.skipif(not installed(name), reason=f"needs {name} (not installed here)")


def targets(*names: str) -> list[object]:
    """Conversion targets as pytest params: each library that is absent skips, with its reason."""
    return [pytest.param(n, marks=needs(n), id=n) for n in names]


def torch_param(*values: object, id: str | None = None) -> object:  # id: as pytest.param names it
    """A pytest param that involves torch: it skips where torch is missing."""
    return pytest.param(*values, marks=needs_torch, id=id)


# Where SciPy vendors array-api-compat: scipy._lib before SciPy 1.18, scipy._external
# from 1.18 on (None without SciPy).  Downstream suites name it in XPSettings.
SCIPY_ARRAY_API_COMPAT = next(
    (
        name
        for name in ("scipy._external.array_api_compat", "scipy._lib.array_api_compat")
        if installed(name)
    ),
    None,
)


def _numpy_max_dims() -> int:
    """NumPy's limit on dimensions as NumPy itself shows it: 64 from NumPy 2.0, 32 before."""
    import numpy as np

    try:
        np.empty((1,) * 64)
    except ValueError:
        return 32
    return 64


NUMPY_MAX_DIMS = _numpy_max_dims()


def _strict_has_limited_devices() -> bool:
    """Whether array-api-strict models float32-only devices (Device('no_float64'), 2.4 on)."""
    if not installed("array_api_strict"):
        return False
    import array_api_strict as xps

    names = {str(d) for d in xps.__array_namespace_info__().devices()}
    return {f"array_api_strict.Device('{n}')" for n in ("no_float64", "no_x64")} <= names


STRICT_HAS_LIMITED_DEVICES = _strict_has_limited_devices()
needs_limited_devices = pytest.mark.skipif(
    not STRICT_HAS_LIMITED_DEVICES,
    reason="needs array-api-strict's Device('no_float64') and Device('no_x64') (2.4 on)",
)

# Doctests (in src/ and docs/) that use what a leg may not have: a doctest whose
# source matches a pattern skips, with the reason, where the thing is missing.
DOCTEST_NEEDS: tuple[tuple[str, bool, str], ...] = (
    (r"torch", HAS_TORCH, "needs torch (the doctest uses torch)"),
    (r"sklearn", installed("sklearn"), "needs scikit-learn (the doctest uses it)"),
    (
        r"no_float64|no_x64",
        STRICT_HAS_LIMITED_DEVICES,
        "needs array-api-strict's float32-only devices (2.4 on; the doctest uses them)",
    ),
)


# The libraries a source is converted to when a test tries every consumer: NumPy,
# and torch where it is installed.
CONSUMERS: tuple[str, ...] = ("numpy", "torch") if HAS_TORCH else ("numpy",)


# Test modules built around torch, which import it at module level: most of
# their tests convert to or from a tensor.  Without torch each is skipped whole,
# with that reason, instead of failing its collection (tests/conftest.py).
TORCH_AT_MODULE_LEVEL = frozenset(
    {
        "tests/test_compute_in.py",
        "tests/test_tree.py",
        "tests/property/test_properties.py",
        "tests/property/test_tree_properties.py",
        "tests/property/test_copy_engines.py",
        "tests/property/test_python_values.py",
        "tests/test_compute_calls.py",
        "tests/test_foreign_casts_and_devices.py",
        "tests/test_memo_hits.py",
        "tests/test_memos.py",
        "tests/test_narrowing.py",
        "tests/test_objects.py",
        "tests/test_observe.py",
        "tests/test_python_values.py",
        "tests/test_register_backend.py",
        "tests/test_staging.py",
        "tests/test_tensor_kinds.py",
        "tests/test_traced.py",
        "tests/test_tree_identity.py",
    }
)

# Tests in modules that run without torch, which call torch in their body.
TORCH_IN_THE_BODY = frozenset(
    {
        "tests/test_protocol_memos.py::test_protocol_memos_under_concurrent_first_use",
        "tests/test_threads.py::test_conversions_while_another_thread_imports_torch",
        "tests/test_threads.py::test_many_threads_make_their_first_conversion_at_once",
    }
)
