"""Declared functions run lazily on the lazy backends, for the length of one test.

On ``dask`` a declared function may make Dask compute at most
``allow_dask_compute`` times per call (a counting scheduler around Dask's
synchronous one), and its Dask results are persisted before it returns, so
errors surface inside the call as they would eagerly.  On ``jax-jit`` it
runs under ``jax.jit``: its JAX array arguments are traced, everything else
(Python numbers, strings, other objects) is passed as is, and results that
are not arrays come back as the trace produced them.

The test module's globals are what the test body calls, so the plugin
replaces the declared functions there during the test and puts them back
after: a process-wide change, so these backends carry ``thread_unsafe``
under pytest-run-parallel.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from ._backends import XPBackend
from ._capabilities import Capabilities, declared

__all__ = ["DaskComputeError", "lazy_functions"]


class DaskComputeError(AssertionError):
    """A declared function made Dask compute more often than it declared."""


def _counting_scheduler(limit: int | None, name: str) -> Callable[..., Any]:
    from dask.local import get_sync  # Dask's synchronous scheduler

    calls = 0

    def get(graph: Any, keys: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if limit is not None and calls > limit:
            allowed = f"at most {limit} times" if limit else "never"
            raise DaskComputeError(
                f"{name} made Dask compute {calls} times; its declaration allows "
                f"{allowed}: declare @capabilities(allow_dask_compute={calls}) if that "
                f"is intended (each compute runs the whole graph again)"
            )
        return get_sync(graph, keys, **kwargs)

    return get


def _persisted(out: Any) -> Any:
    """``out`` with its Dask arrays (in tuples, lists and dicts) computed into memory."""
    import dask.array as da

    if isinstance(out, da.Array):
        return out.persist(scheduler="sync")  # type: ignore[no-untyped-call]
    if isinstance(out, tuple | list):
        items = [_persisted(v) for v in out]
        return type(out)(*items) if hasattr(out, "_fields") else type(out)(items)
    if isinstance(out, dict):
        return {k: _persisted(v) for k, v in out.items()}
    return out


def _dask_wrapper(function: Any, declaration: Capabilities) -> Any:
    import dask

    name = getattr(function, "__name__", repr(function))

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        scheduler = _counting_scheduler(declaration.dask_computes(), name)
        with dask.config.set(scheduler=scheduler):
            out = function(*args, **kwargs)
        return _persisted(out)

    return call


def _jit_wrapper(function: Any) -> Any:
    import jax

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        leaves, tree = jax.tree_util.tree_flatten((args, kwargs))
        traced = [isinstance(leaf, jax.Array) for leaf in leaves]
        out_parts: dict[str, Any] = {}

        def inner(*arrays: Any) -> list[Any]:
            given = iter(arrays)
            merged = [next(given) if t else leaf for leaf, t in zip(leaves, traced, strict=True)]
            a, k = jax.tree_util.tree_unflatten(tree, merged)
            result_leaves, result_tree = jax.tree_util.tree_flatten(function(*a, **k))
            is_array = [isinstance(leaf, jax.Array) for leaf in result_leaves]
            out_parts["tree"] = result_tree
            out_parts["static"] = [
                None if t else v for v, t in zip(result_leaves, is_array, strict=True)
            ]
            out_parts["is_array"] = is_array
            return [v for v, t in zip(result_leaves, is_array, strict=True) if t]

        arrays = jax.jit(inner)(*[leaf for leaf, t in zip(leaves, traced, strict=True) if t])
        computed = iter(arrays)
        result = [
            next(computed) if t else v
            for v, t in zip(out_parts["static"], out_parts["is_array"], strict=True)
        ]
        return jax.tree_util.tree_unflatten(out_parts["tree"], result)

    return call


def _wrapped(function: Any, declaration: Capabilities, backend: XPBackend) -> Any | None:
    if backend.lazy == "dask":
        return _dask_wrapper(function, declaration)
    if backend.lazy == "jit" and declaration.jax_jit:
        return _jit_wrapper(function)
    return None


@contextlib.contextmanager
def lazy_functions(module: ModuleType | None, backend: XPBackend) -> Iterator[None]:
    """Within the block, the declared functions in ``module``'s globals run lazily on ``backend``."""
    replaced: list[tuple[str, Any]] = []
    if module is not None and backend.lazy is not None:
        for name, value in list(vars(module).items()):
            declaration = declared(value)
            if declaration is None:
                continue
            wrapper = _wrapped(value, declaration, backend)
            if wrapper is not None:
                replaced.append((name, value))
                setattr(module, name, wrapper)
    try:
        yield
    finally:
        for name, value in reversed(replaced):
            setattr(module, name, value)
