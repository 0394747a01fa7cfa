"""What array-API namespaces refuse to cast, and other libraries' device objects.

spec/contract.toml, rules array-api-complex-to-real and foreign-host-devices.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import xpbridge as xb

xps = pytest.importorskip("array_api_strict")
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")


@pytest.mark.rule("array-api-complex-to-real")
@pytest.mark.parametrize("to", ["array_api_strict", "jax"])
@pytest.mark.parametrize(
    "source",
    [np.array([1 + 2j, 3 - 4j], np.complex64), torch.tensor([1 + 2j, 3 - 4j])],
    ids=["numpy", "torch"],
)
def test_a_complex_to_real_cast_into_a_namespace_runs_in_the_source(to: str, source: Any) -> None:
    # The standard forbids complex -> real astype (array-api-strict raises TypeError,
    # JAX deprecates it): the cast runs before the data crosses, and the plan says so.
    p = xb.plan(source, to, dtype="float32")
    assert p.steps.index("cast") < p.steps.index("from_dlpack")
    result = xb.convert(source, to, dtype="float32")
    assert np.asarray(result).tolist() == [1.0, 3.0] and p.dtype == "float32"


@pytest.mark.rule("array-api-complex-to-real")
def test_a_namespace_refuses_complex_to_real_for_its_own_arrays() -> None:
    for x, to in ((xps.asarray([1 + 2j]), xps), (jnp.asarray([1 + 2j]), jnp)):
        for dtype in ("float32", "bool", "int32"):
            with pytest.raises(xb.DTypeError, match="cannot cast") as planned:
                xb.plan(x, to, dtype=dtype)
            with pytest.raises(xb.DTypeError) as converted:
                xb.convert(x, to, dtype=dtype)
            assert str(planned.value) == str(converted.value)
        assert xb.convert(x, to, dtype="complex64").dtype == to.complex64  # "another dtype"
        assert np.asarray(xb.convert(x, "numpy", dtype="float32")).tolist() == [1.0]


HOST_DEVICES = {
    "array_api_strict CPU_DEVICE": lambda: xps.Device("CPU_DEVICE"),
    "array_api_strict device1": lambda: xps.Device("device1"),  # simulated, in host memory
    "JAX CpuDevice": lambda: jax.devices("cpu")[0],
}


@pytest.mark.rule("foreign-host-devices")
@pytest.mark.parametrize("device", sorted(HOST_DEVICES))
@pytest.mark.parametrize("to", ["numpy", "torch", "array_api_strict", "jax"])
def test_another_librarys_host_device_is_the_host(device: str, to: str) -> None:
    spelled = HOST_DEVICES[device]()
    source = np.arange(3, dtype=np.float32)
    p = xb.plan(source, to, device=spelled)
    result = xb.convert(source, to, device=spelled)
    assert p.device.kind == "cpu"
    assert xb.to_numpy(result).tolist() == [0.0, 1.0, 2.0]
    if to == "numpy":
        assert isinstance(result, np.ndarray) and p.aliases
    if to == "torch":
        assert result.device.type == "cpu" and xb.shares_memory(result, source) is p.aliases
    if to == "array_api_strict" and device.startswith("array_api_strict"):
        assert result.device == spelled  # its own device object: kept exactly


@pytest.mark.rule("foreign-host-devices")
def test_a_device_object_nobody_knows_is_still_a_device_error() -> None:
    class Accelerator:
        platform = "tpu"

    for spelled in (Accelerator(), object(), 3.5):
        with pytest.raises(xb.DeviceError, match="cannot read device="):
            xb.convert(np.ones(2), "torch", device=spelled)
