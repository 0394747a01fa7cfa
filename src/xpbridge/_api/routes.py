"""compute_in beyond eager arrays: the route a call takes, decided by its arguments.

- ``eager``: arrays with data: convert, call, convert back.
- ``jax-callback``: a JAX tracer among the arguments (inside ``jax.jit``,
  ``vmap``): the function runs on the host through ``jax.pure_callback``, on
  NumPy arrays (converted to ``to`` as ever), and its results come back into
  the trace.  Their shapes and dtypes are what the function declares with
  ``result_shapes=`` or, by default, what it returns when run once at trace
  time on zeros of the arguments' shapes and dtypes (memoised per function
  and shapes).  Gradients cannot pass a host callback: differentiating one is
  a :class:`~xpbridge.GradError` raised while JAX traces the gradient, before
  anything runs.
- ``dask-task``: a Dask array among the arguments (and ``to`` is not Dask):
  nothing is computed at call time; the function is applied to the whole
  arrays as one deferred task, and every array it returns is a Dask array of
  the shape and dtype found as above (so a sort or a cumulative sum is the
  eager result, not a per-chunk one).
- ``dask-blocks``: the same with ``blockwise=True``, for a function that acts
  block by block: ``map_blocks`` over the chunks, one array back.

Under ``torch.compile`` the decorated function is opaque: the compiler breaks
its graph around the call, which runs eagerly (:func:`out_of_compile`).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from .._lib.memo import Memo
from ..errors import GradError, UnsupportedInputError

__all__ = [
    "DASK_BLOCKS",
    "DASK_TASK",
    "EAGER",
    "JAX_CALLBACK",
    "ShapeDtype",
    "out_of_compile",
    "route_of",
    "torch_compiling",
]

EAGER, JAX_CALLBACK, DASK_TASK, DASK_BLOCKS = "eager", "jax-callback", "dask-task", "dask-blocks"


class ShapeDtype(NamedTuple):
    """The shape and NumPy dtype of one array a traced or lazy call returns."""

    shape: tuple[int, ...]
    dtype: Any


def route_of(leaves: Sequence[Any], target: str, blockwise: bool) -> str:
    """The route of a call whose argument leaves are ``leaves``."""
    core = sys.modules.get("jax.core")
    if core is not None:
        tracer = core.Tracer
        if any(isinstance(x, tracer) for x in leaves):
            return JAX_CALLBACK
    da = sys.modules.get("dask.array")
    if da is not None and target != "dask":
        lazy = da.Array
        if any(isinstance(x, lazy) for x in leaves):
            return DASK_BLOCKS if blockwise else DASK_TASK
    return EAGER


# Inferred result shapes: (function, argument shapes and dtypes) -> results' (tree, shapes).
INFERRED: Memo[tuple[Any, list[ShapeDtype]]] = Memo(
    "result shapes of traced and lazy calls", "(function, the arguments' shapes and dtypes)", 256
)


def _abstract(x: Any) -> ShapeDtype:
    import numpy as np

    if any(math.isnan(n) for n in x.shape):  # a Dask array of unknown size
        raise UnsupportedInputError(
            "compute_in cannot tell what the function returns from an array of unknown "
            "size: call .compute_chunk_sizes() on the Dask array first, or pass "
            "blockwise=True for a function that acts block by block"
        )
    return ShapeDtype(tuple(int(n) for n in x.shape), np.dtype(x.dtype))


def result_shapes(
    host: Callable[..., Any],
    func: Any,
    arrays: Sequence[Any],
    declared: Callable[..., Any] | None,
) -> tuple[Any, list[ShapeDtype]]:
    """The results' structure and shapes: declared, or found by one run on zeros.

    ``host(*numpy_arrays)`` runs the call on NumPy arrays and returns
    ``(tree, numpy leaves)``; ``declared(*ShapeDtype)`` returns the result's
    ``(shape, dtype)`` instead, or a list of them for a tuple of results.
    """
    import numpy as np

    shapes = [_abstract(x) for x in arrays]
    if declared is not None:
        out = declared(*shapes)
        many = isinstance(out, list)
        leaves = [ShapeDtype(tuple(s), np.dtype(d)) for s, d in (out if many else [out])]
        return (tuple if many else None), leaves
    key = (func, tuple(shapes))
    found = INFERRED.get(key)
    if found is None:
        tree, out = host(*(np.zeros(s.shape, s.dtype) for s in shapes))
        found = INFERRED.put(key, (tree, [_abstract(x) for x in out]))
    return found


def jax_callback(
    host: Callable[..., Any], arrays: Sequence[Any], tree: Any, shapes: list[ShapeDtype]
) -> list[Any]:
    """The results of ``host`` on the traced ``arrays``, as traced JAX values."""
    import jax

    specs = [jax.ShapeDtypeStruct(s.shape, s.dtype) for s in shapes]  # type: ignore[no-untyped-call]

    def callback(*xs: Any) -> tuple[Any, ...]:
        return tuple(host(*xs)[1])

    def call(*xs: Any) -> Any:
        try:
            return jax.pure_callback(callback, specs, *xs, vmap_method="sequential")
        except TypeError:  # JAX before 0.4.34 names it vectorized=
            return jax.pure_callback(callback, specs, *xs, vectorized=False)

    @jax.custom_jvp
    def through_host(*xs: Any) -> Any:
        return call(*xs)

    @through_host.defjvp
    def refused(primals: Any, tangents: Any) -> Any:
        raise GradError(
            "compute_in runs the function on the host through jax.pure_callback, and "
            "gradients cannot pass a host callback: differentiate outside the call "
            "(jax.lax.stop_gradient on its arguments), or write the function in JAX"
        )

    return list(through_host(*arrays))


def dask_task(
    host: Callable[..., Any], arrays: Sequence[Any], shapes: list[ShapeDtype]
) -> list[Any]:
    """The results of ``host`` on the whole Dask ``arrays``: Dask arrays of one deferred task."""
    import dask.array as da
    import numpy as np
    from dask.delayed import delayed

    task = delayed(lambda *xs: host(*xs)[1], pure=False)(*arrays)
    return [
        da.from_delayed(  # type: ignore[no-untyped-call]
            task[i], s.shape, dtype=s.dtype, meta=np.empty((0,) * len(s.shape), s.dtype)
        )
        for i, s in enumerate(shapes)
    ]


def dask_blocks(host: Callable[..., Any], arrays: Sequence[Any], dtype: Any) -> Any:
    """``host`` block by block over the Dask ``arrays``: one Dask array of ``dtype``."""
    import numpy as np

    first = arrays[0]
    meta = np.empty((0,) * first.ndim, dtype)
    return first.map_blocks(lambda *xs: host(*xs)[1][0], *arrays[1:], dtype=dtype, meta=meta)


def torch_compiling() -> bool:
    """Whether Dynamo traces this call, or would trace the calls it makes.

    Dynamo skips a function marked ``_torchdynamo_disable`` (compute_in's
    wrapper is) but, unless its frame-evaluation callback is turned off, it
    still compiles every function that function calls, one frame at a time:
    JAX's and array-api-strict's internals among them, which it cannot trace.
    So a call made while the callback is set counts too, and runs through
    :func:`out_of_compile`, which turns it off.  torch is never imported to ask.
    """
    if "torch._dynamo" not in sys.modules:  # nothing traces before Dynamo is imported
        return False
    torch = sys.modules["torch"]
    if torch.compiler.is_compiling():
        return True
    return torch._C._dynamo.eval_frame.get_eval_frame_callback() not in (None, False)


_DISABLED: Memo[Callable[..., Any]] = Memo(
    "compute_in functions kept out of torch.compile", "the decorated function", 256
)


def out_of_compile(run: Callable[..., Any]) -> Callable[..., Any]:
    """``torch.compiler.disable(run)``, made once: Dynamo breaks its graph and runs it eagerly.

    A compute_in call asks :func:`torch_compiling` first; only a call made
    while Dynamo traces goes through this wrapper (it costs half a
    microsecond), so torch is not imported for it and eager calls skip it.
    """
    disabled = _DISABLED.get(run)
    if disabled is None:
        torch = sys.modules["torch"]
        disabled = _DISABLED.put(
            run, torch.compiler.disable(run, reason="compute_in converts on the host")
        )
    return disabled
