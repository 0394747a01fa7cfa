"""compute_in: convert the arguments, call, convert the results back.

A decorator for library code: the array arguments (nested, positional and
keyword) go to ``to`` as :func:`xpbridge.convert_tree` would take them (every
one planned before any is converted), the function is called, and every
array of its result goes back to the library and device of the first array
argument.  Arguments that hold no array are the caller's very objects.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

from .._lib.typing import Grad
from .._pipeline.leaves import LeafFailed, convert_leaves, located
from .._pipeline.request import Request, request_of
from .._trees.walk import _KINDS, _LEAF_KINDS, ARRAY, flatten, kind_of
from ..errors import ConversionError

__all__ = ["compute_in"]

P = ParamSpec("P")
R = TypeVar("R")


def compute_in(
    to: Any, /, *, device: Any = None, grad: Grad = "raise", narrow: bool | None = None
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
        device computes in float32); results go back exactly.

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

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        context = f"compute_in of {getattr(func, '__qualname__', func)!s}: "
        call: Callable[..., Any] = func

        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            if not kwargs and _flat(args):  # positional leaves only: nothing to walk
                leaves: Sequence[Any] = args
                treedef = None
            else:
                leaves, treedef = flatten((args, kwargs))
            caller = _first_array(leaves)
            if caller is None:
                return func(*args, **kwargs)

            def paths() -> list[str]:
                if treedef is None:
                    return [f"args[{i}]" for i in range(len(leaves))]
                return [_argument_path(path) for path in treedef.paths("")]

            # The way back, resolved before anything is converted: a caller whose
            # library cannot take the results back is refused before the call,
            # its error located like a leaf's.
            try:
                back = request_of(caller, None, None, None, grad, False)
            except ConversionError as e:
                index = next(i for i, x in enumerate(leaves) if x is caller)
                raise located(LeafFailed(index, e), paths, context) from e
            there = request_of(to, device, None, None, grad, False, narrow)
            converted = convert_leaves(leaves, there, False, paths, context)
            if treedef is None:
                return _returned(context, call(*converted), back)  # type: ignore[no-any-return]
            new_args, new_kwargs = treedef.unflatten(converted, keep_unchanged=True)
            return _returned(context, func(*new_args, **new_kwargs), back)  # type: ignore[no-any-return]

        return run

    return decorate


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
