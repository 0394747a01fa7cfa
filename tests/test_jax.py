"""JAX on the CPU, a library nobody here wrote (installed by the `test` group, so CI runs it)."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
torch = pytest.importorskip("torch")

import xpbridge as xb


@pytest.mark.parametrize("copy", [None, True])
def test_numpy_and_torch_to_jax(copy: bool | None) -> None:
    a = np.arange(6.0, dtype=np.float32)
    for source in (a, torch.arange(6.0)):
        p = xb.plan(source, jnp, copy=copy)
        result = xb.convert(source, jnp, copy=copy)
        assert isinstance(result, jax.Array)
        assert np.array_equal(np.asarray(result), np.arange(6.0))
        assert p.aliases is xb.shares_memory(source, result)


@pytest.mark.parametrize("copy", [None, True, False])
def test_jax_to_numpy_and_torch(copy: bool | None) -> None:
    x = jnp.arange(5.0)
    for target in ("numpy", "torch"):
        try:
            p = xb.plan(x, target, copy=copy)
        except xb.CopyError:
            assert copy is False
            continue
        result = xb.convert(x, target, copy=copy)
        assert np.array_equal(np.asarray(result), np.arange(5.0))
        assert p.aliases is xb.shares_memory(x, result)


def test_bfloat16_from_jax_is_bit_exact() -> None:
    x = jnp.array([1.5, -2.25, 3.0], dtype=jnp.bfloat16)
    t = xb.to_torch(x)
    assert t.dtype == torch.bfloat16 and t.tolist() == [1.5, -2.25, 3.0]
