"""compute_in: convert the arguments, call, convert the results back.

A decorator for library code: the array arguments (nested, positional and
keyword) go to ``to`` as :func:`xpbridge.convert_tree` would take them (every
one planned before any is converted), the function is called, and every
array of its result goes back to the library and device of the first array
argument.  Arguments that hold no array are the caller's very objects.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

from .._lib.memo import Memo
from .._lib.typing import Grad
from .._pipeline.leaves import LeafFailed, convert_leaves, located, views_of
from .._pipeline.request import Request, request_of
from .._trees.walk import _KINDS, _LEAF_KINDS, ARRAY, flatten, kind_of
from ..errors import ArgumentError, ConversionError, UnsupportedInputError
from .routes import (
    DASK_BLOCKS,
    DASK_TASK,
    EAGER,
    ShapeDtype,
    dask_blocks,
    dask_task,
    jax_callback,
    out_of_compile,
    result_shapes,
    route_of,
    torch_compiling,
)
from .trees import TreePlan, tree_plan

__all__ = ["compute_in"]

P = ParamSpec("P")
R = TypeVar("R")


def compute_in(
    to: Any,
    /,
    *,
    device: Any = None,
    grad: Grad = "raise",
    narrow: bool | None = None,
    blockwise: bool = False,
    result_shapes: Callable[..., Any] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the decorated function in the library ``to``, results back in the caller's library.

    Every array argument (also inside lists, tuples, dicts, dataclasses and
    registered containers, positional or keyword) is converted to ``to`` and
    ``device`` as :func:`convert_tree` would; the function is called; every
    array in its result is converted back to the library and device of the
    first array argument, keeping the dtype the function produced.  Other
    arguments are passed unchanged.  A call with no array argument runs the
    function as it is and returns its result unchanged.

    Parameters
    ----------
    to
        The library the function computes in: a name, a module or namespace,
        or an array (its library and device).
    device
        The device the arguments are moved to (default: as
        :func:`xpbridge.convert` decides).
    grad
        ``"raise"`` (default): an argument or result that requires grad and
        would leave autograd raises :class:`GradError`, since library code
        must not cut its caller's graph silently.  ``"detach"`` detaches.
    narrow
        As for :func:`xpbridge.convert`, for the arguments (a float32-only
        device computes in float32) and for results going back into JAX.
    blockwise
        For Dask arguments: the function acts block by block, so it runs on
        each chunk (``map_blocks``; one array back).  Default: on the whole
        arrays, as one deferred task.
    result_shapes
        For traced (``jax.jit``) and Dask arguments: ``result_shapes(*args)``,
        given one ``(shape, dtype)`` per array argument, returns the result's
        ``(shape, dtype)``, or a list of them for a tuple of results.  Default:
        found by running the function once on zeros of those shapes and
        dtypes (see :mod:`xpbridge._api.routes`).

    Returns
    -------
    callable
        A decorator.  The decorated function keeps the wrapped function's
        name, docstring and signature (``functools.wraps``), and its type.

    Raises
    ------
    ArgumentError
        At decoration: an unknown ``to`` or an invalid ``grad`` or ``device``.
    ConversionError
        At a call: the error of the first argument (or result) that cannot be
        converted, its message naming it (``args[0]``, ``kwargs['w']``,
        ``result[1]``); nothing is converted and the function is not called.
    GradError
        While JAX traces a gradient of a traced call: gradients cannot pass
        the host callback.

    Examples
    --------
    A routine written for NumPy, used on torch tensors:

    >>> import numpy as np, torch, xpbridge as xb
    >>> @xb.compute_in("numpy")
    ... def normalise(x, *, eps=1e-12):
    ...     return x / max(np.linalg.norm(x), eps)
    >>> normalise(torch.tensor([3.0, 4.0]))
    tensor([0.6000, 0.8000])
    >>> normalise.__name__
    'normalise'
    """
    request_of(to, device, None, None, grad, False, narrow)  # refused at decoration
    if blockwise is not True and blockwise is not False:
        raise ArgumentError(f"blockwise must be True or False, not {blockwise!r}")

    spelling = (to, device, grad, narrow)

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        context = f"compute_in of {getattr(func, '__qualname__', func)!s}: "
        call: Callable[..., Any] = func

        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            if torch_compiling():  # Dynamo traces this call: it runs eagerly, untraced
                return out_of_compile(run)(*args, **kwargs)  # type: ignore[no-any-return]
            if not kwargs:
                # The common call (a few arrays, positional, each by views):
                # the same compiled plans, without walking or planning a tree.
                caller = _first_array(args)
                ways = None if caller is None else _ways(spelling, caller)
                views = None if ways is None else views_of(args, ways[0])
                if views is not None:
                    result = call(*views)
                    back = ways[1]  # type: ignore[index]
                    returned = views_of(result, back) if type(result) is tuple else None
                    if returned is not None:
                        return returned  # type: ignore[return-value]
                    return _returned(context, result, back)  # type: ignore[no-any-return]
            if not kwargs and _flat(args):  # positional leaves only: nothing to walk
                leaves: Sequence[Any] = args
                treedef = None
            else:
                leaves, treedef = flatten((args, kwargs))

            def paths() -> list[str]:
                if treedef is None:
                    return [f"args[{i}]" for i in range(len(leaves))]
                return [_argument_path(path) for path in treedef.paths("")]

            def rebuild(converted: Sequence[Any]) -> Any:
                if treedef is None:
                    return call(*converted)
                new_args, new_kwargs = treedef.unflatten(converted, keep_unchanged=True)
                return call(*new_args, **new_kwargs)

            caller = _first_array(leaves)
            if caller is None:
                return func(*args, **kwargs)
            there = request_of(to, device, None, None, grad, False, narrow)
            route = route_of(leaves, there.target.name, blockwise)
            if route != EAGER:
                lazy = _Lazy(func, leaves, there, grad, narrow, context, paths, rebuild)
                return lazy.run(route, result_shapes)  # type: ignore[no-any-return]
            # The way back, resolved before anything is converted: a caller whose
            # library cannot take the results back is refused before the call,
            # its error located like a leaf's.
            try:
                back = request_of(caller, None, None, None, grad, False)
            except ConversionError as e:
                index = next(i for i, x in enumerate(leaves) if x is caller)
                raise located(LeafFailed(index, e), paths, context) from e
            converted = convert_leaves(leaves, there, False, paths, context)
            return _returned(context, rebuild(converted), back)  # type: ignore[no-any-return]

        def plan(*args: Any, **kwargs: Any) -> TreePlan:
            """What a call with these arguments does: its route and each argument's plan.

            For a traced or lazy call, the plans are for the NumPy arrays the
            function receives on the host.
            """
            leaves, treedef = flatten((args, kwargs))
            there = request_of(to, device, None, None, grad, False, narrow)
            route = route_of(leaves, there.target.name, blockwise)
            if route != EAGER:
                leaves = [_on_the_host(x) for x in leaves]
            paths = [_argument_path(path) for path in treedef.paths("")]
            return tree_plan(leaves, lambda: paths, there, False, route)

        # Dynamo breaks its graph at a call of this function (the attribute is
        # what torch.compiler.disable sets), so it runs outside compiled graphs.
        run._torchdynamo_disable = True  # type: ignore[attr-defined]
        run.plan = plan  # type: ignore[attr-defined]
        return run

    return decorate


class _Lazy:
    """A traced or lazy call: the function runs on the host, on NumPy arrays."""

    def __init__(
        self,
        func: Callable[..., Any],
        leaves: Sequence[Any],
        there: Request,
        grad: str,
        narrow: bool | None,
        context: str,
        paths: Callable[[], list[str]],
        rebuild: Callable[[Sequence[Any]], Any],
    ) -> None:
        kinds = _KINDS.data
        self.func, self.leaves, self.there, self.context = func, leaves, there, context
        self.paths, self.rebuild, self.grad, self.narrow = paths, rebuild, grad, narrow
        self.positions = [
            i for i, x in enumerate(leaves) if (kinds.get(type(x)) or kind_of(x)) is ARRAY
        ]
        self.host_back = request_of("numpy", None, None, None, grad, False)

    def host(self, *arrays: Any) -> tuple[Any, list[Any]]:
        """The call on NumPy arrays: (the result's tree and constant leaves, its arrays)."""
        leaves = list(self.leaves)
        for i, a in zip(self.positions, arrays, strict=True):
            leaves[i] = a
        converted = convert_leaves(leaves, self.there, False, self.paths, self.context)
        result = self.rebuild(converted)
        out, treedef = flatten(result)
        out = convert_leaves(
            out, self.host_back, True, lambda: treedef.paths("result"), self.context
        )
        kinds = _KINDS.data
        where = [i for i, x in enumerate(out) if (kinds.get(type(x)) or kind_of(x)) is ARRAY]
        constants = [None if i in where else x for i, x in enumerate(out)]
        return (treedef, constants, where), [out[i] for i in where]

    def run(self, route: str, declared: Callable[..., Any] | None) -> Any:
        arrays = [self.leaves[i] for i in self.positions]
        if route == DASK_BLOCKS:
            meta_probe = self.host(*(a._meta for a in arrays))[1]
            if len(meta_probe) != 1:
                raise UnsupportedInputError(
                    f"{self.context}blockwise=True needs a function that returns one array, "
                    f"not {len(meta_probe)}: drop blockwise=True to run it as one task"
                )
            return dask_blocks(self.host, arrays, meta_probe[0].dtype)
        tree, shapes = result_shapes(self.host, self.func, arrays, declared)
        if route == DASK_TASK:
            outs = dask_task(self.host, arrays, shapes)
        else:
            outs = jax_callback(self._to_jax, arrays, tree, self._jax_shapes(shapes))
        if tree is tuple or tree is None:  # declared: the results themselves
            return tuple(outs) if tree is tuple else outs[0]
        treedef, constants, where = tree
        leaves = list(constants)
        for i, x in zip(where, outs, strict=True):
            leaves[i] = x
        return treedef.unflatten(leaves)

    def _jax_shapes(self, shapes: list[ShapeDtype]) -> list[ShapeDtype]:
        """The dtypes JAX holds the results in: what convert(result, "jax") gives."""
        from .convert import plan

        np = sys.modules["numpy"]
        return [
            ShapeDtype(
                s.shape, np.dtype(plan(np.empty(0, s.dtype), "jax", narrow=self.narrow).dtype)
            )
            for s in shapes
        ]

    def _to_jax(self, *arrays: Any) -> tuple[Any, list[Any]]:
        tree, out = self.host(*arrays)
        np = sys.modules["numpy"]
        shapes = self._jax_shapes([ShapeDtype(x.shape, x.dtype) for x in out])
        return tree, [np.asarray(x, dtype=s.dtype) for x, s in zip(out, shapes, strict=True)]


# The requests of a call, there and back.
WAYS: Memo[tuple[Request, Request]] = Memo(
    "compute_in requests there and back",
    "(the decoration's to, device, grad and narrow; the first array's type and device)",
)


def _ways(spelling: tuple[Any, ...], caller: Any) -> tuple[Request, Request] | None:
    """The requests a call converts its arguments and results by (None: found the long way).

    The way back is the request of ``caller`` as a target, which its type
    and device decide (as :data:`~xpbridge._pipeline.request.BY_ARRAY` finds it).
    """
    try:
        key = (spelling, type(caller), getattr(caller, "device", None))
        found = WAYS.data.get(key)
    except Exception:  # noqa: BLE001 - an unhashable device or spelling
        return None
    if found is None:
        to, device, grad, narrow = spelling
        there = request_of(to, device, None, None, grad, False, narrow)
        if route_of((caller,), there.target.name, False) != EAGER:
            return None  # a traced or lazy caller: the call takes its route
        try:
            back = request_of(caller, None, None, None, grad, False)
        except ConversionError:  # refused by the long way, with the argument's path
            return None
        found = WAYS.put(key, (there, back))
    return found


def _on_the_host(x: Any) -> Any:
    """What a traced or lazy argument is on the host: a NumPy array of its dtype."""
    if (_KINDS.data.get(type(x)) or kind_of(x)) is not ARRAY or not hasattr(x, "shape"):
        return x
    np = sys.modules["numpy"]
    return np.zeros((1,) * len(x.shape), np.dtype(x.dtype))


def _flat(values: tuple[Any, ...]) -> bool:
    """Whether every value is a leaf of a known kind (no container to walk)."""
    return _LEAF_KINDS.issuperset(map(_KINDS.data.get, map(type, values)))


def _argument_path(path: str) -> str:
    """``[0][2]['w']`` (a path in ``(args, kwargs)``) as ``args[2]['w']``."""
    head, rest = path[:3], path[3:]
    return ("args" if head == "[0]" else "kwargs") + rest


def _first_array(leaves: Sequence[Any]) -> Any:
    """The first leaf that is an array: the results go back to its library and device."""
    kinds = _KINDS.data
    for x in leaves:
        if (kinds.get(type(x)) or kind_of(x)) is ARRAY:
            return x
    return None


def _returned(context: str, result: Any, back: Request) -> Any:
    """The function's result with every array converted back."""
    if type(result) is tuple and _flat(result):  # a tuple of arrays: nothing to walk
        converted = convert_leaves(
            result, back, False, lambda: [f"result[{i}]" for i in range(len(result))], context
        )
        return tuple(converted)
    leaves, treedef = flatten(result)
    converted = convert_leaves(leaves, back, False, lambda: treedef.paths("result"), context)
    return treedef.unflatten(converted, keep_unchanged=True)
