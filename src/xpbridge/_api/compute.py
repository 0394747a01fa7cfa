"""compute_in: run a function in one library and hand its results back in the caller's.

A decorator for library code: convert the array arguments (nested, positional
and keyword) to ``to``, call the function, convert every array of the result
back to the library and device of the first array argument.  It is
:func:`xpbridge.convert_tree` twice around a call, with the same atomicity:
every argument is planned before any is converted.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

from .._lib.namespaces import PROTOCOLS
from .._lib.typing import Grad
from .._pipeline.request import Resolved, resolve
from .._trees.walk import _KINDS, ARRAY, flatten, kind_of
from ..backends import registry as _registry
from ..backends.registry import backend_of
from ..errors import ConversionError
from .trees import Shortcut, _LeafFailed, _located, convert_leaves, fast_path

__all__ = ["compute_in"]

P = ParamSpec("P")
R = TypeVar("R")


def compute_in(
    to: Any, /, *, device: Any = None, grad: Grad = "raise"
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
    resolved = resolve(to, device, None, None, grad, False, False)

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        context = f"compute_in of {getattr(func, '__qualname__', func)!s}: "
        found: list[Shortcut] = []  # fast_path(resolved), kept once numpy and torch are in
        # The way back of the common call.  Its first array is of the shortcut's
        # source type and the primitive took it, so it is on the host (an
        # ndarray, or a tensor Tensor.numpy accepted): one way back serves them all.
        home: list[tuple[Resolved, Shortcut | None]] = []
        call: Callable[..., Any] = func

        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            shortcut = found[0] if found else _shortcut(resolved, found)
            if not kwargs and shortcut is not None:
                # The common call: a few arrays and plain values, positional.
                # Every check of the planned path runs (convert_all's); what
                # it leaves out is resolved once per decorated function (the
                # shortcut and the way back).
                converted = shortcut.convert_all(args)
                if converted is not None:
                    source = shortcut.source
                    first = args[0] if args and type(args[0]) is source else _first_of(args, source)
                    if first is None:  # no array argument
                        return call(*args)  # type: ignore[no-any-return]
                    back = home[0] if home else _home(first, grad, home)
                    result = call(*converted)
                    to_caller = back[1]  # a tuple of arrays: _returned's first case, inline
                    if to_caller is not None and type(result) is tuple:
                        returned = to_caller.convert_all(result)
                        if returned is not None:
                            return returned  # type: ignore[return-value]
                    return _returned(context, result, back)  # type: ignore[no-any-return]
            arg_leaves, arg_def = flatten(args)
            kw_leaves, kw_def = flatten(kwargs)
            leaves = arg_leaves + kw_leaves
            caller = _first_array(leaves)
            if caller is None:
                return func(*args, **kwargs)

            # Resolved before anything is converted: a caller whose library
            # cannot take the results back is refused before the call, its
            # error located like a leaf's.
            def paths() -> list[str]:
                return arg_def.paths("args") + kw_def.paths("kwargs")

            try:
                back = _back(caller, grad)
            except ConversionError as e:
                index = next(i for i, x in enumerate(leaves) if x is caller)
                raise _located(_LeafFailed(index, e), paths, context) from e
            planned = convert_leaves(leaves, resolved, paths, shortcut, context)
            split = len(arg_leaves)
            result = call(*arg_def.unflatten(planned[:split]), **kw_def.unflatten(planned[split:]))
            return _returned(context, result, back)  # type: ignore[no-any-return]

        return run

    return decorate


_BACK: dict[tuple[str, Any, str], tuple[Resolved, Shortcut | None]] = {}
_BACK_BY_TYPE: dict[tuple[type, str], tuple[Resolved, Shortcut | None]] = {}
# Both hold the Backend objects of their time: decided again when a backend
# is registered or replaced.
_registry.on_change(_BACK.clear)
_registry.on_change(_BACK_BY_TYPE.clear)


def _shortcut(r: Resolved, found: list[Shortcut]) -> Shortcut | None:
    """:func:`fast_path` of ``r``, kept in ``found`` once there is one."""
    shortcut = fast_path(r)
    if shortcut is not None:
        found[:] = [shortcut]
    return shortcut


def _home(
    first: Any, grad: str, home: list[tuple[Resolved, Shortcut | None]]
) -> tuple[Resolved, Shortcut | None]:
    """:func:`_back` of the common call's first array, kept in ``home`` once it has a shortcut."""
    back = _back(first, grad)
    if back[1] is not None:
        home[:] = [back]
    return back


def _first_of(values: tuple[Any, ...], source: type) -> Any:
    """The first of ``values`` of exactly the type ``source``, or None."""
    for x in values:
        if type(x) is source:
            return x
    return None


def _first_array(leaves: Sequence[Any]) -> Any:
    """The first leaf that is an array: the results go back to its library and device."""
    for x in leaves:
        if (_KINDS.get(type(x)) or kind_of(x)) is ARRAY:
            return x
    return None


def _back(caller: Any, grad: str) -> tuple[Resolved, Shortcut | None]:
    """The request that hands results back to the caller's library and device (cached).

    Cached by library and device for the named backends (a protocol's arrays
    may belong to any library); by type alone where the library has a single
    device (NumPy), to skip asking for it.
    """
    known = _BACK_BY_TYPE.get((type(caller), grad))
    if known is not None:
        return known
    backend = backend_of(caller)
    key = None
    if backend.name not in PROTOCOLS:
        key = (backend.name, backend.device_of(caller), grad)
        known = _BACK.get(key)
        if known is not None:
            return known
    r = resolve(caller, None, None, None, grad, False, False)
    back = (r, fast_path(r))
    if key is not None and len(_BACK) < 256 and back[1] is not None:  # None: maybe not yet
        _BACK[key] = back
        if backend.device_kinds == {"cpu"} and len(_BACK_BY_TYPE) < 256:
            _BACK_BY_TYPE[type(caller), grad] = back
    return back


def _returned(context: str, result: Any, back: tuple[Resolved, Shortcut | None]) -> Any:
    """The function's result with every array converted back."""
    r, shortcut = back
    if shortcut is not None:
        if type(result) is shortcut.source:
            converted = shortcut.convert_all((result,))
            if converted is not None:
                return converted[0]
        elif type(result) is tuple:
            converted = shortcut.convert_all(result)
            if converted is not None:
                return converted
    leaves, treedef = flatten(result)
    return treedef.unflatten(
        convert_leaves(leaves, r, lambda: treedef.paths("result"), shortcut, context)
    )
