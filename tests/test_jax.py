"""JAX on the CPU, a library nobody here wrote (installed by the `test` group, so CI runs it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from frameworks import CONSUMERS, needs_torch, torch

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

import xpbridge as xb
from xpbridge.backends.registry import backend_named


@pytest.mark.parametrize("copy", [None, True])
def test_numpy_and_torch_to_jax(copy: bool | None) -> None:
    a = np.arange(6.0, dtype=np.float32)
    for source in (a, *([torch.arange(6.0)] if torch is not None else [])):
        p = xb.plan(source, jnp, copy=copy)
        result = xb.convert(source, jnp, copy=copy)
        assert isinstance(result, jax.Array)
        assert np.array_equal(np.asarray(result), np.arange(6.0))
        assert p.aliases is xb.shares_memory(source, result)


@pytest.mark.parametrize("copy", [None, True, False])
def test_jax_to_numpy_and_torch(copy: bool | None) -> None:
    x = jnp.arange(5.0)
    for target in CONSUMERS:
        try:
            p = xb.plan(x, target, copy=copy)
        except xb.CopyError:
            assert copy is False
            continue
        result = xb.convert(x, target, copy=copy)
        assert np.array_equal(np.asarray(result), np.arange(5.0))
        assert p.aliases is xb.shares_memory(x, result)


@needs_torch
def test_bfloat16_from_jax_is_bit_exact() -> None:
    x = jnp.array([1.5, -2.25, 3.0], dtype=jnp.bfloat16)
    t = xb.to_torch(x)
    assert t.dtype == torch.bfloat16 and t.tolist() == [1.5, -2.25, 3.0]


# Issue 10: JAX is a library of its own (spec/contract.toml rules) --------------------


@pytest.mark.rule("same-library-any-layout")
def test_jax_to_jax_is_the_object_itself() -> None:
    x = jnp.arange(4.0)
    assert xb.convert(x, jnp) is x and xb.convert(x, "jax", copy=False) is x
    c = xb.convert(x, "jax", copy=True)
    assert c is not x and bool(jnp.all(c == x))
    assert xb.convert(x, jax, dtype="int32").dtype == jnp.int32


# Immutable sources, no silent narrowing ---------------------------------------


@pytest.mark.rule("immutable-sources")
def test_jax_arrays_never_become_writable_aliases() -> None:
    x = jnp.arange(4.0)
    a = xb.to_numpy(x)
    assert not a.flags.writeable and xb.shares_memory(a, x)
    assert xb.plan(x, "numpy").aliases and not xb.plan(x, "numpy").writable
    assert xb.to_numpy(x, copy=True).flags.writeable  # a copy is the caller's own


def _aligned(order: str) -> np.ndarray:
    """A 3 x 4 float32 array in ``order`` on a 256-byte boundary (what JAX aliases)."""
    items = np.empty(12 + 64, np.float32)
    start = (-items.__array_interface__["data"][0] % 256) // items.itemsize
    a = items[start : start + 12].reshape(3, 4, order=order)
    a[...] = np.arange(12, dtype=np.float32).reshape(3, 4)
    return a


@pytest.mark.rule("array-api-targets")
@pytest.mark.parametrize("copy", [None, True])
@pytest.mark.parametrize("layout", ["fortran", "transposed", "strided"])
def test_strided_sources_reach_jax_with_their_values(copy: bool | None, layout: str) -> None:
    # JAX 0.6 reads an aligned Fortran-order import as C order (the fact
    # jax-from-dlpack-misreads-strides): the values must arrive all the same.
    a = {
        "fortran": _aligned("F"),
        "transposed": _aligned("C").T,
        "strided": _aligned("C")[:, ::2],
    }[layout]
    before = a.copy()
    for _ in range(3):  # the first conversion and the compiled one
        j = xb.convert(a, "jax", copy=copy)
        np.testing.assert_array_equal(np.asarray(j), before)
    np.testing.assert_array_equal(a, before)
    if layout == "strided":
        return  # not compact: every JAX copies it before the import (the plan says so)
    # xpbridge copies before the import, and JAX misreads only the copies that
    # happen to lie on its alignment: the import step itself, given an aligned
    # compact array, is where the values must survive.
    imported = backend_named("jax").step_from_dlpack(a, xb.plan(a, "jax", copy=copy))
    np.testing.assert_array_equal(np.asarray(imported), before)


@pytest.mark.rule("immutable-sources")
@needs_torch
def test_jax_arrays_reach_torch_as_copies() -> None:
    x = jnp.arange(4.0)
    t = xb.to_torch(x)
    t[0] = 100.0
    assert float(x[0]) == 0.0  # the JAX array is untouched: torch got a copy
    p = xb.plan(x, "torch")
    assert not p.aliases and any("read-only" in reason for reason in p.reasons)
    with pytest.raises(xb.CopyError, match="read-only"):
        xb.to_torch(x, copy=False)


@pytest.mark.rule("immutable-sources")
def test_results_of_an_immutable_library_are_not_called_writable() -> None:
    p = xb.plan(np.arange(4.0, dtype=np.float32), "jax")
    assert p.writable is False
    # array-api-strict is not immutable: its result is writable exactly when the
    # plan says so (from NumPy 2.2.5, whose DLPack imports keep writes).
    strict = xb.plan(np.arange(4.0), "array_api_strict")
    result = xb.convert(np.arange(4.0), "array_api_strict")
    try:
        result[0] = 5.0
    except (ValueError, TypeError, RuntimeError):
        written = False
    else:
        written = True
    assert strict.writable is written


@contextmanager
def _x64(enabled: bool) -> Iterator[None]:
    before = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", enabled)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


@pytest.mark.rule("no-silent-narrowing")
@pytest.mark.thread_unsafe(reason="toggles JAX's process-wide x64 flag")
@pytest.mark.parametrize("copy", [None, True, False])
def test_jax_without_x64_refuses_64_bit_sources(copy: bool | None) -> None:
    a = np.array([2**40, -1])
    with _x64(False):
        with pytest.raises(xb.DTypeError, match="jax_enable_x64") as from_plan:
            xb.plan(a, "jax", copy=copy)
        with pytest.raises(xb.DTypeError, match="dtype=") as from_convert:
            xb.convert(a, jnp, copy=copy)
        assert str(from_plan.value) == str(from_convert.value)
        if copy is not False:  # the remedy named: dtype= a type JAX has
            r = xb.convert(a.astype(np.int32), jnp, copy=copy)
            assert r.dtype == jnp.int32
            p = xb.plan(np.arange(3.0), "jax", dtype="float32", copy=copy)
            r = xb.convert(np.arange(3.0), "jax", dtype="float32", copy=copy)
            assert p.dtype == "float32" == str(r.dtype)
    with _x64(True):  # the flag is part of the plan's cache key
        p = xb.plan(a, "jax")
        r = xb.convert(a, "jax")
        assert p.dtype == "int64" == str(r.dtype) and r.tolist() == [2**40, -1]


@pytest.mark.rule("no-silent-narrowing")
@pytest.mark.thread_unsafe(reason="toggles JAX's process-wide x64 flag")
def test_only_64_bit_types_need_x64() -> None:
    with _x64(False):
        for dtype in ("complex64", "float32", "int32", "bfloat16"):
            x = jnp.zeros(2, dtype=dtype)
            assert str(xb.convert(x, "numpy").dtype) == dtype
            assert str(xb.convert(xb.to_numpy(x), "jax").dtype) == dtype
        for dtype in ("complex128", "float64", "int64", "uint64"):
            with pytest.raises(xb.DTypeError, match="jax_enable_x64"):
                xb.plan(np.zeros(2, dtype=dtype), "jax")


@pytest.mark.rule("no-silent-narrowing")
@pytest.mark.thread_unsafe(reason="toggles JAX's process-wide x64 flag")
@pytest.mark.parametrize("dtype", ["float64", "int64", "complex128"])
def test_a_64_bit_array_made_while_x64_was_on_converts_after(dtype: str) -> None:
    # The flag says what JAX makes, not what an array already has: np.asarray
    # reads it after the block, and so does every conversion that makes nothing
    # 64-bit in JAX.
    with _x64(True):
        j = jnp.arange(3).astype(dtype)
    with _x64(False):
        host = xb.to_numpy(j)
        assert str(host.dtype) == dtype and np.shares_memory(host, np.asarray(j))
        assert xb.plan(j, "numpy").aliases and not host.flags.writeable
        if torch is not None:
            t = xb.to_torch(j)
            assert str(t.dtype) == f"torch.{dtype}" and t.tolist() == np.asarray(j).tolist()
        assert xb.convert(j, "jax") is j  # its own array, kept as it is
        narrow = {"float64": "float32", "int64": "int32", "complex128": "complex64"}[dtype]
        for to in ("jax", *CONSUMERS):
            p = xb.plan(j, to, dtype=narrow)
            r = xb.convert(j, to, dtype=narrow)
            assert p.dtype == narrow and str(r.dtype).removeprefix("torch.") == narrow
        with pytest.raises(xb.DTypeError, match="jax_enable_x64"):  # making one still needs it
            xb.convert(host, "jax")


@pytest.mark.rule("python-values-planned-exactly")
@pytest.mark.thread_unsafe(reason="toggles JAX's process-wide x64 flag")
def test_python_values_go_to_jnp_asarray() -> None:
    cases = [(1.5, "float32", "float64"), (1, "int32", "int64"), (1j, "complex64", "complex128")]
    for enabled in (False, True):
        with _x64(enabled):
            for value, narrow, wide in [*cases, ([True], "bool", "bool")]:
                p = xb.plan(value, "jax")
                r = xb.convert(value, jnp)
                assert p.dtype == str(r.dtype) == (wide if enabled else narrow)
                assert p.steps == ("asarray",) and not p.writable
            tree = xb.convert_tree({"a": 1.5, "b": [2]}, "jax", scalars=True)
            assert str(tree["a"].dtype) == ("float64" if enabled else "float32")
    with _x64(False):
        with pytest.raises(xb.DTypeError, match="jax_enable_x64") as from_plan:
            xb.plan(2**40, "jax")
        with pytest.raises(xb.DTypeError, match="dtype='float32'") as from_convert:
            xb.convert(2**40, "jax")
        assert str(from_plan.value) == str(from_convert.value)
        assert float(xb.convert(2**40, "jax", dtype="float32")) == 2.0**40  # the remedy


@pytest.mark.rule("tensors-without-data")
def test_a_traced_jax_value_has_no_data() -> None:
    seen: list[str] = []

    @jax.jit
    def f(x: Any) -> Any:
        for call in (
            lambda: xb.plan(x, "numpy"),
            lambda: xb.convert(x, CONSUMERS[-1]),  # torch, where it is installed
            lambda: xb.convert_tree({"w": x}, "numpy"),
        ):
            with pytest.raises(xb.UnsupportedInputError, match="traced JAX value") as caught:
                call()
            seen.append(str(caught.value))
        assert xb.convert(x, jnp) is x  # JAX -> JAX: the tracer itself
        return x * 2

    assert f(jnp.ones(2)).tolist() == [2.0, 2.0]
    assert len(seen) == 3 and seen[2].startswith("tree['w']: ")


@pytest.mark.rule("namespace-spellings")
@needs_torch
@pytest.mark.parametrize("to", ["jax", "array_api_strict"])
def test_a_grad_error_names_the_target_not_the_numpy_hop(to: str) -> None:
    pytest.importorskip(to)
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(xb.GradError, match=f"and {to} has no autograd") as from_plan:
        xb.plan(w, to, grad="raise")
    with pytest.raises(xb.GradError) as from_convert:
        xb.convert(w, to, grad="raise")
    assert str(from_plan.value) == str(from_convert.value)
