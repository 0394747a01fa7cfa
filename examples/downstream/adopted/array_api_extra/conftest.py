"""Pytest fixtures, on xpbridge's pytest plugin (docs/testing.md: "Adopt the plugin")."""

# array-api-extra 0.11.5's tests/main/conftest.py with the changes a project
# applies to adopt xpbridge's plugin.  The parts kept are array-api-extra's:
# MIT License, Copyright (c) 2024 Consortium for Python Data API Standards.

import contextlib
import functools
from collections.abc import Generator
from typing import Any

import array_api_extra.testing as xpx_testing
import numpy as np
import pytest
import xpbridge.testing as xpt
from array_api_extra._lib._backends import Backend
from array_api_extra._lib._compat import array_namespace
from array_api_extra._lib._compat import device as get_device
from array_api_extra._lib._typing import ArrayNamespace, Device
from array_api_extra.testing import patch_lazy_xp_functions

np_compat = array_namespace(np.empty(0))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

# The Backend enum in xpbridge's backend names.  sparse and mparray are not
# xpbridge's: markers naming them do nothing.
BACKENDS: dict[Backend, str | tuple[str, ...]] = {
    Backend.NUMPY: "numpy",
    Backend.NUMPY_READONLY: "numpy-readonly",
    Backend.TORCH: "torch-cpu",
    Backend.TORCH_GPU: "torch-cuda",
    Backend.ARRAY_API_STRICT: "array_api_strict",  # CPU_DEVICE and device1
    Backend.ARRAY_API_STRICTEST: "array_api_strict-strictest",
    Backend.DASK: "dask",
    Backend.JAX: "jax-jit-cpu",
    Backend.JAX_GPU: "jax-jit-gpu",
    Backend.CUPY: "cupy",
    Backend.SPARSE: (),
    Backend.MPARRAY: (),
}


def pytest_xp_settings(
    config: pytest.Config,
) -> xpt.XPSettings:  # numpydoc ignore=PR01,RT01
    """Backends, markers and Backend names for xpbridge's plugin."""
    return xpt.XPSettings(
        backends="numpy,numpy-readonly,torch-cpu,array_api_strict,"
        "array_api_strict-strictest-CPU_DEVICE,dask,jax-jit-cpu",
        markers={"skip_xp_backend": "xp_skip", "xfail_xp_backend": "xp_xfail"},
        aliases=BACKENDS,
    )


@pytest.fixture
def library(xp_backend: xpt.XPBackend) -> Backend:  # numpydoc ignore=PR01,RT03
    """
    Return the Backend enum of xpbridge's backend of this run.

    Returns
    -------
    The current Backend enum.
    """
    return _backend_of(xp_backend)


def _backend_of(xp_backend: xpt.XPBackend) -> Backend:
    if xp_backend.name == "array_api_strict-strictest":
        return Backend.ARRAY_API_STRICTEST
    if xp_backend.name == "numpy-readonly":
        return Backend.NUMPY_READONLY
    gpu = not xp_backend.cpu
    return {
        "numpy": Backend.NUMPY,
        "torch": Backend.TORCH_GPU if gpu else Backend.TORCH,
        "array_api_strict": Backend.ARRAY_API_STRICT,
        "dask": Backend.DASK,
        "jax": Backend.JAX_GPU if gpu else Backend.JAX,
        "cupy": Backend.CUPY,
    }[xp_backend.library]


def pytest_xp_setup(
    backend: xpt.XPBackend, xp: ArrayNamespace, request: pytest.FixtureRequest
) -> contextlib.AbstractContextManager[Any]:  # numpydoc ignore=PR01,RT01
    """Set up a backend as the suite's own xp fixture did."""
    library = _backend_of(backend)
    if library.like(Backend.ARRAY_API_STRICT):
        xp.set_array_api_strict_flags(api_version="2025.12")

    if library in (Backend.NUMPY_READONLY, Backend.ARRAY_API_STRICTEST):
        return contextlib.nullcontext()  # strictest: xpbridge sets its flags

    if library.like(Backend.JAX):
        _setup_jax(library)
    elif library.like(Backend.TORCH):
        _setup_torch(library)

    # On Dask and JAX, monkey-patch all functions tagged by `lazy_xp_function`
    # in the global scope of the module containing the test function.
    return patch_lazy_xp_functions(request, xp=xp)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Use xpbridge's assertions, with check_scalar=False (but in test_testing.py)."""
    equal = functools.partial(xpt.assert_equal, check_scalar=False)
    close = functools.partial(xpt.assert_close, check_scalar=False)
    for module in {item.module for item in items if isinstance(item, pytest.Function)}:
        if module.__name__.endswith("test_testing"):
            continue  # it tests array-api-extra's own assertions
        if getattr(module, "assert_equal", None) is xpx_testing.assert_equal:
            module.assert_equal = equal
        if getattr(module, "assert_close", None) is xpx_testing.assert_close:
            module.assert_close = close


def _setup_jax(library: Backend) -> None:
    import jax

    # suppress unused-ignore to run mypy in -e lint as well as -e dev
    jax.config.update("jax_enable_x64", True)  # type: ignore[no-untyped-call,unused-ignore]

    if library == Backend.JAX_GPU:
        try:
            device = jax.devices("cuda")[0]
        except RuntimeError:
            pytest.skip("no CUDA device available")
    else:
        device = jax.devices("cpu")[0]
    jax.config.update("jax_default_device", device)


def _setup_torch(library: Backend) -> None:
    import torch

    # This is already the default, but some tests or env variables may change it.
    # TODO test both float32 and float64, like in scipy.
    torch.set_default_dtype(torch.float32)

    if library == Backend.TORCH_GPU:
        import torch.cuda

        if not torch.cuda.is_available():
            pytest.skip("no CUDA device available")
        torch.set_default_device("cuda")
    else:
        assert library == Backend.TORCH
        torch.set_default_device("cpu")


# Can select the test with `pytest -k dask`
@pytest.fixture(params=[Backend.DASK.pytest_param()])
def da(
    request: pytest.FixtureRequest,
) -> Generator[ArrayNamespace]:  # numpydoc ignore=PR01,RT01
    """Variant of the `xp` fixture that only yields dask.array."""
    xp = pytest.importorskip("dask.array")
    xp = array_namespace(xp.empty(0))
    with patch_lazy_xp_functions(request, xp=xp):
        yield xp


@pytest.fixture(params=[Backend.JAX.pytest_param(), Backend.JAX_GPU.pytest_param()])
def jnp(
    request: pytest.FixtureRequest,
) -> Generator[ArrayNamespace]:  # numpydoc ignore=PR01,RT01
    """Variant of the `xp` fixture that only yields jax.numpy."""
    xp = pytest.importorskip("jax.numpy")
    _setup_jax(request.param)
    with patch_lazy_xp_functions(request, xp=xp):
        yield xp


@pytest.fixture(params=[Backend.TORCH, Backend.TORCH_GPU])
def torch(
    request: pytest.FixtureRequest,
) -> ArrayNamespace:  # numpydoc ignore=PR01,RT01
    """Variant of the `xp` fixture that only yields torch."""
    xp = pytest.importorskip("torch")
    xp = array_namespace(xp.empty(0))
    _setup_torch(request.param)
    return xp


@pytest.fixture
def device(
    library: Backend, xp: ArrayNamespace
) -> Device:  # numpydoc ignore=PR01,RT01,RT03
    """
    Return a valid device for the backend.

    Where possible, return a device that is not the default one.
    """
    if library == Backend.ARRAY_API_STRICT:
        return xp.Device("device1")
    if library == Backend.TORCH:
        return xp.device("meta")
    if library == Backend.TORCH_GPU:
        return xp.device("cpu")
    return get_device(xp.empty(0))


@pytest.fixture
def infinity(library: Backend) -> float:
    """Retrieve the positive infinity value for the given backend."""
    if library in (Backend.TORCH, Backend.TORCH_GPU):
        return 3.4028235e38
    return 1.7976931348623157e308
