"""compute_in beyond eager arrays: under jax.jit and vmap, torch.compile, and lazy Dask.

Each route gives what the eager call gives (bit for bit where the function is
the same NumPy code), or a documented error raised before anything runs.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch

import xpbridge as xb
from xpbridge.backends.registry import backend_of

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
da = pytest.importorskip("dask.array")

# torch.compile imports modules of its own that warn on import (not ours).
_COMPILE_WARNS = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"
)


@xb.compute_in("numpy")
def sort_twice(x: Any) -> Any:
    return np.sort(x) * 2


@xb.compute_in("numpy")
def running_sum(x: Any) -> Any:
    return np.cumsum(x)


def test_under_jit_the_function_runs_on_the_host_and_equals_eager() -> None:
    x = jnp.asarray([3.0, 1.0, 2.0, 5.0, 4.0])
    eager = sort_twice(x)
    traced = jax.jit(sort_twice)(x)
    assert type(traced) is type(eager) and traced.dtype == eager.dtype
    np.testing.assert_array_equal(np.asarray(traced), np.asarray(eager))
    np.testing.assert_array_equal(np.asarray(traced), np.sort(np.asarray(x)) * 2)
    batched = jax.vmap(sort_twice)(jnp.stack([x, x[::-1] * 3]))
    np.testing.assert_array_equal(np.asarray(batched[1]), np.sort(np.asarray(x)) * 6)


def test_under_jit_several_arguments_and_results_keep_their_structure() -> None:
    @xb.compute_in("torch")
    def stats(pair: Any, *, scale: float) -> Any:
        a, b = pair
        return {"sum": (a + b) * scale, "prod": a * b, "label": "stats"}

    a, b = jnp.arange(3.0), jnp.ones(3)
    eager = stats((a, b), scale=2.0)
    labels: list[str] = []

    def arrays_only(a: Any, b: Any) -> Any:
        out = stats((a, b), scale=2.0)
        labels.append(out.pop("label"))  # a constant of the result, as the function gave it
        return out

    traced = jax.jit(arrays_only)(a, b)
    assert labels == ["stats"]
    for key in ("sum", "prod"):
        np.testing.assert_array_equal(np.asarray(traced[key]), np.asarray(eager[key]))


def test_gradients_through_the_host_callback_are_refused_before_anything_runs() -> None:
    calls: list[int] = []

    @xb.compute_in("numpy")
    def counted(x: Any) -> Any:
        calls.append(1)
        return x * 2

    jax.jit(counted)(jnp.ones(2))  # traced once: a run on zeros finds the result's shape
    ran = len(calls)
    with pytest.raises(xb.GradError, match="gradients cannot pass a host callback"):
        jax.grad(lambda x: jax.jit(counted)(x).sum())(jnp.ones(2))
    assert len(calls) == ran  # refused while tracing the gradient


def test_declared_result_shapes_spare_the_run_on_zeros() -> None:
    calls: list[int] = []

    @xb.compute_in("numpy", result_shapes=lambda x: (x.shape, x.dtype))
    def declared(x: Any) -> Any:
        calls.append(1)
        return x + 1

    traced = jax.jit(declared)
    assert len(calls) == 0
    np.testing.assert_array_equal(np.asarray(traced(jnp.arange(3.0))), [1.0, 2.0, 3.0])
    assert len(calls) == 1  # only the real call


def test_results_jax_cannot_hold_follow_the_dtype_policy() -> None:
    if jax.config.read("jax_enable_x64"):
        pytest.skip("x64 is on here")

    def wide(x: Any) -> Any:
        return np.asarray(x, dtype=np.float64) + 0.5

    with pytest.raises(xb.DTypeError, match="narrow=True"):
        jax.jit(xb.compute_in("numpy")(wide))(jnp.arange(2.0))
    narrowed = jax.jit(xb.compute_in("numpy", narrow=True)(wide))(jnp.arange(2.0))
    assert narrowed.dtype == np.float32 and np.asarray(narrowed).tolist() == [0.5, 1.5]


def test_converting_a_tracer_names_compute_in() -> None:
    def inside(x: Any) -> Any:
        for call in (xb.plan, xb.convert):
            with pytest.raises(xb.UnsupportedInputError, match=r"xpbridge\.compute_in"):
                call(x, "numpy")
        return x

    jax.jit(inside)(jnp.ones(2))


@_COMPILE_WARNS
def test_under_torch_compile_the_call_is_opaque_and_equals_eager() -> None:
    def caller(x: Any) -> Any:
        return running_sum(x) + 1

    x = torch.tensor([3.0, 1.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing of ours is traced: no Dynamo warning
        warnings.filterwarnings(
            "ignore", "`torch.jit.script_method` is deprecated", DeprecationWarning
        )
        compiled = torch.compile(caller)(x)
        alone = torch.compile(running_sum)(x)
    assert torch.equal(compiled, caller(x)) and torch.equal(alone, running_sum(x))


def _counted(values: np.ndarray, chunk: int, seen: list[int]) -> Any:
    """A Dask array whose chunks record when they are computed."""

    def make(block: np.ndarray) -> np.ndarray:
        seen.append(len(block))
        return block

    meta = np.empty(0, values.dtype)  # given: Dask does not call make() to find it
    return da.from_array(values, chunks=chunk).map_blocks(make, dtype=values.dtype, meta=meta)


@pytest.mark.parametrize("function", [sort_twice, running_sum], ids=["sort", "cumsum"])
def test_a_lazy_dask_caller_gets_a_lazy_result_of_the_whole_array(function: Any) -> None:
    values = np.random.default_rng(0).standard_normal(10)
    seen: list[int] = []
    result = function(_counted(values, 3, seen))
    assert isinstance(result, da.Array) and seen == []  # nothing computed at call time
    np.testing.assert_array_equal(result.compute(), function(values))  # not per chunk


def test_blockwise_runs_chunk_by_chunk() -> None:
    @xb.compute_in("torch", blockwise=True)
    def scaled(x: Any) -> Any:
        return x * 2

    d = da.arange(10, chunks=4)
    result = scaled(d)
    assert result.chunks == d.chunks
    np.testing.assert_array_equal(result.compute(), np.arange(10) * 2)


def test_unknown_chunk_sizes_are_refused_with_a_remedy_that_works() -> None:
    d = da.arange(10, chunks=4)
    unknown = d[d > 2]
    with pytest.raises(xb.UnsupportedInputError, match=r"compute_chunk_sizes\(\)"):
        sort_twice(unknown)
    known = unknown.compute_chunk_sizes()
    np.testing.assert_array_equal(sort_twice(known).compute(), np.arange(3, 10) * 2)


def test_the_plan_says_which_route_a_call_takes() -> None:
    assert sort_twice.plan(np.ones(2)).route == "eager"
    assert sort_twice.plan(da.ones(4, chunks=2)).route == "dask-task"
    plans: list[Any] = []

    def inside(x: Any) -> Any:
        plans.append(sort_twice.plan(x))
        return x

    jax.jit(inside)(jnp.ones(2))
    assert [p.route for p in plans] == ["jax-callback"]
    assert "through jax.pure_callback" in str(plans[0])


def _strict(values: np.ndarray) -> Any:
    import array_api_strict

    return array_api_strict.asarray(values)


_CALLERS = {
    "numpy": lambda v: v,
    "torch": torch.from_numpy,
    "jax": jnp.asarray,
    "array_api_strict": _strict,
}


_VALUES = np.array([3.0, 1.0, 2.0], np.float32)


def _sort_twice_in(to: str) -> Any:
    """``np.sort(y) * 2`` computed in ``to`` (NumPy or torch), decorated afresh."""

    @xb.compute_in(to)
    def sort_twice_in(y: Any) -> Any:
        return (np.sort(y) if to == "numpy" else torch.sort(y).values) * 2

    return sort_twice_in


@pytest.mark.parametrize("caller", sorted(_CALLERS))
@pytest.mark.parametrize("to", ["numpy", "torch"])
def test_every_caller_eager_gets_its_library_back_equal(caller: str, to: str) -> None:
    x = _CALLERS[caller](_VALUES)
    sort_twice_in = _sort_twice_in(to)
    assert sort_twice_in.plan(x).route == "eager"
    result = sort_twice_in(x)
    assert backend_of(result).name == caller
    np.testing.assert_array_equal(xb.to_numpy(result), np.sort(_VALUES) * 2)


@_COMPILE_WARNS
@pytest.mark.parametrize("caller", sorted(_CALLERS))
@pytest.mark.parametrize("to", ["numpy", "torch"])
def test_under_torch_compile_every_caller_gets_its_library_back_equal(caller: str, to: str) -> None:
    # Dynamo skips compute_in's wrapper but would still compile each function
    # it calls, JAX's and array-api-strict's internals among them (it failed
    # inside jax.numpy.arange): the call runs with Dynamo turned off.
    x = _CALLERS[caller](_VALUES)
    sort_twice_in = _sort_twice_in(to)

    def user(y: Any) -> Any:
        return sort_twice_in(y)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing of ours is traced: no Dynamo warning
        warnings.filterwarnings(
            "ignore", "`torch.jit.script_method` is deprecated", DeprecationWarning
        )
        result = torch.compile(user)(x)
    assert backend_of(result).name == caller
    np.testing.assert_array_equal(xb.to_numpy(result), np.sort(_VALUES) * 2)


@_COMPILE_WARNS
def test_under_torch_compile_a_numpy_caller_is_opaque_too() -> None:
    # torch.compile traces NumPy code as well: the call still runs eagerly.
    def caller(x: Any) -> Any:
        return sort_twice(x) + 1

    x = np.array([3.0, 1.0, 2.0])
    np.testing.assert_array_equal(torch.compile(caller)(x), caller(x))


@pytest.mark.parametrize("to", ["numpy", "torch"])
def test_under_jit_any_target_runs_through_the_host_callback(to: str) -> None:
    @xb.compute_in(to)
    def doubled(y: Any) -> Any:
        return y * 2

    x = jnp.asarray([1.0, 2.0])
    np.testing.assert_array_equal(np.asarray(jax.jit(doubled)(x)), np.asarray(doubled(x)))
