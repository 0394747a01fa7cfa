"""The public conversion functions: describe -> plan -> execute."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Literal, overload

from .._lib.copy_engine import (
    cast_tensor,
    copy_ndarray_to_tensor,
    copy_tensor_to_ndarray,
    ready_torch,
    torch_to_numpy_types,
)
from .._lib.dtypes import torch_dtype
from .._pipeline.plan import Plan
from .._pipeline.request import (
    check_keywords,
    default_request,
    plan_traits,
    resolve_target,
)
from ..backends import registry as _registry
from ..backends.torch import direct_dtypes
from ..errors import ConversionError
from .memory import shares_memory

if TYPE_CHECKING:
    import numpy
    import torch

    from .._lib.typing import Grad, NumpyModule, TorchModule

__all__ = ["convert", "plan", "shares_memory", "to_numpy", "to_torch"]


class _Never:
    """A type no object has: the fast paths stay off until both libraries are loaded."""


# The fast paths.  For a plain ndarray of a dtype torch takes as it is,
# aligned, writable and with no negative stride, torch.from_numpy either does
# exactly what the plan would (zero-copy, from_numpy) or raises (an odd
# stride); the same holds for Tensor.numpy on a plain tensor without grad
# (conj/neg bits, device, dtype, layout all raise).  So trying the primitive
# first and falling back to the planner on its exception keeps the contract;
# tests/test_fast_path.py checks that both paths agree.  The guards also keep
# out what is known to fail: a failing torch call costs about 7 us (torch
# builds a C++ exception), more than the whole planned conversion.  Set once
# numpy and torch are both imported.
_NDARRAY: Any = _Never  # Any, not type: a guard must not narrow x to object
_TENSOR: Any = _Never
_FROM_NUMPY: Any = None
_DIRECT_DTYPES: frozenset[Any] = frozenset()  # backends.torch.direct_dtypes()
_NUMPY_TENSOR_DTYPES: frozenset[Any] = frozenset()  # torch dtypes NumPy has, as they are


def _prime_fast_paths() -> None:
    global _NDARRAY, _TENSOR, _FROM_NUMPY, _DIRECT_DTYPES
    global _NUMPY_TENSOR_DTYPES  # noqa: PLW0603 - set once, read on every call
    # A module in sys.modules may still be importing in another thread: torch
    # is used once fully imported (the copy engine's test), NumPy once its
    # attributes exist.
    np, torch = sys.modules.get("numpy"), ready_torch()
    ndarray, dtype = getattr(np, "ndarray", None), getattr(np, "dtype", None)
    if torch is not None and None not in (ndarray, dtype):
        direct = direct_dtypes()
        # The function and the dtypes first, the guarded types last: a thread
        # that passes a guard always finds the rest set.
        _FROM_NUMPY, _DIRECT_DTYPES = torch.from_numpy, direct
        _NUMPY_TENSOR_DTYPES = frozenset(torch_to_numpy_types(torch, np))
        _TENSOR, _NDARRAY = torch.Tensor, ndarray


def _default_request(x: Any, to: str, planning: bool = False) -> tuple[Plan, Any]:
    """:func:`_request` with every keyword at its default (so valid)."""
    if _FROM_NUMPY is None and "torch" in sys.modules:  # no torch: nothing to prime
        _prime_fast_paths()
    return default_request(x, to, planning)


# (NumPy dtype, dtype argument) -> the torch dtype to_torch casts to after
# from_numpy, for aligned, writable, C-contiguous, non-empty arrays; None when
# the planner plans anything else for them.  Filled from the planner only.
_PLANNED_CASTS: dict[tuple[Any, Any], Any] = {}
_registry.on_change(_PLANNED_CASTS.clear)  # planned for the torch backend of the time
_MISSING = object()


def _planned_cast(x: Any, dtype: Any) -> Any:
    """The torch dtype of ``to_torch(x, dtype=dtype)``'s cast when its plan is from_numpy + cast.

    None otherwise: another plan, an error (raised again by the planner on
    the way that follows), a complex32 target (its cast runs under a warning
    filter), or a ``dtype`` argument that cannot be a key.
    """
    key = (x.dtype, dtype)
    try:
        cast = _PLANNED_CASTS.get(key, _MISSING)
    except TypeError:  # an unhashable dtype argument: the planner judges it
        return None
    if cast is _MISSING:
        try:
            p = plan(x, "torch", dtype=dtype)
        except ConversionError:
            cast = None
        else:
            steps = ("from_numpy", "cast")
            cast = torch_dtype(p.dtype) if p.steps == steps and p.dtype != "complex32" else None
        if len(_PLANNED_CASTS) >= 1024:
            _PLANNED_CASTS.clear()  # bounded; a cleared entry is only planned again
        _PLANNED_CASTS[key] = cast
    return cast


def _request(
    x: Any,
    to: Any,
    device: Any,
    dtype: Any,
    copy: Any,
    grad: Any,
    requires_grad: Any,
    planning: bool = False,
) -> tuple[Plan, Any]:
    """The plan, and what its steps work on (``x``, or what a protocol source exported).

    ``planning``: only the plan is wanted, so the source must not move or copy data.
    """
    if (
        type(to) is str
        and device is None
        and dtype is None
        and copy is None
        and grad == "detach"
        and requires_grad is False
    ):
        return _default_request(x, to, planning)
    if _FROM_NUMPY is None and "torch" in sys.modules:
        _prime_fast_paths()
    check_keywords(copy, grad, requires_grad)
    source = _registry.backend_of(x)  # an unknown source before an unknown target
    r = resolve_target(to, device, dtype, copy, grad, requires_grad)
    x = source.prepare(x, r.target, r.plan_device, copy, planning=planning)
    return plan_traits(source.traits(x), r), x


def _execute(request: tuple[Plan, Any]) -> Any:
    p, x = request
    for call in p.calls:
        x = call(x, p)
    return x


def plan(
    x: Any,
    to: Any,
    /,
    *,
    device: Any = None,
    dtype: Any = None,
    copy: bool | None = None,
    grad: Grad = "detach",
    requires_grad: bool = False,
) -> Plan:
    """Say what :func:`convert` would do, without doing it.

    Takes the same arguments as :func:`convert` and raises exactly the error
    it would raise, with the same message.  No data moves.

    Parameters
    ----------
    x : array_like
        The source: a NumPy array or scalar, a torch tensor, any object that
        speaks DLPack (``__dlpack__``) or the array API, a buffer (``bytes``,
        ``memoryview``, ``array.array``) or a Python scalar or sequence.
    to : str, module or array
        The target library: its name (``"numpy"``, ``"torch"``,
        ``"array_api_strict"``, any registered backend or installed array-API
        namespace), the module or namespace itself, or an array whose
        library and device the result takes.
    device : str, tuple, torch.device or None, optional
        ``None`` keeps the source's device when the target can hold it, else
        the host; otherwise ``"cpu"``, ``"cuda"``, ``"cuda:1"``, a
        ``torch.device``, a DLPack ``(type, id)`` tuple or the target
        library's own device object.
    dtype : str, numpy.dtype, torch.dtype or None, optional
        ``None`` keeps the dtype exactly; otherwise a canonical name
        (:func:`xpbridge.dtypes`), a NumPy dtype or a torch dtype.  Casts
        follow the target library's own ``astype``.
    copy : bool or None, optional
        ``None``: share memory when possible, else copy.  ``True``: always a
        new buffer.  ``False``: never copy; raise :class:`CopyError` instead.
    grad : {"detach", "raise"}, optional
        Leaving autograd (a torch source that requires grad, to a library
        without autograd): ``"detach"`` (default) detaches, ``"raise"``
        raises :class:`GradError`.
    requires_grad : bool, optional
        Ask for a result that requires grad (targets with autograd only).

    Returns
    -------
    Plan
        The steps, whether the result aliases the source, whether it is
        writable, its device and dtype, and why each copy happens.

    Raises
    ------
    CopyError
        ``copy=False`` but the conversion needs a new buffer (device, layout,
        read-only memory, dtype, scalar).
    DTypeError
        The dtype cannot be represented in the target, or ``dtype=`` is invalid.
    DeviceError
        The device is unknown or unavailable, or the target cannot live there.
    GradError
        ``grad="raise"`` and the source requires grad.
    UnsupportedInputError
        ``x`` cannot be converted without losing meaning (a masked array; a
        sparse, quantized, nested or meta tensor; an object with no array
        protocol).
    ArgumentError
        An invalid ``copy=``, ``grad=`` or ``requires_grad=`` value, or an
        unknown or missing target library.

    Examples
    --------
    >>> import numpy as np, xpbridge as xb
    >>> print(xb.plan(np.zeros(3, np.float32), "torch"))
    numpy float32 array on cpu -> torch float32 on cpu
      steps:   from_numpy
      result:  shares the source's memory (zero-copy), writable
    """
    if (  # _request's test, inlined: a call costs a tenth of the whole plan here
        type(to) is str
        and device is None
        and dtype is None
        and copy is None
        and grad == "detach"
        and requires_grad is False
    ):
        return default_request(x, to, True)[0]  # planning: no fast path to prime
    return _request(x, to, device, dtype, copy, grad, requires_grad, True)[0]


@overload
def convert(
    x: Any,
    to: Literal["numpy"] | NumpyModule | numpy.ndarray[Any, Any],
    /,
    *,
    device: Any = None,
    dtype: Any = None,
    copy: bool | None = None,
    grad: Grad = "detach",
    requires_grad: bool = False,
) -> numpy.ndarray[Any, Any]: ...
@overload
def convert(
    x: Any,
    to: Literal["torch"] | TorchModule | torch.Tensor,
    /,
    *,
    device: Any = None,
    dtype: Any = None,
    copy: bool | None = None,
    grad: Grad = "detach",
    requires_grad: bool = False,
) -> torch.Tensor: ...
@overload
def convert(
    x: Any,
    to: object,
    /,
    *,
    device: Any = None,
    dtype: Any = None,
    copy: bool | None = None,
    grad: Grad = "detach",
    requires_grad: bool = False,
) -> Any: ...
def convert(
    x: Any,
    to: object,
    /,
    *,
    device: Any = None,
    dtype: Any = None,
    copy: bool | None = None,
    grad: Grad = "detach",
    requires_grad: bool = False,
) -> Any:
    """Convert ``x`` to the library ``to``, sharing memory whenever the memory allows.

    The result is what :func:`plan` says it will be (a tested property): an
    alias of the source when possible, otherwise a new buffer, otherwise an
    error that names the fix.  The source is never modified.

    Parameters
    ----------
    x : array_like
        The source: a NumPy array or scalar, a torch tensor, any object that
        speaks DLPack (``__dlpack__``) or the array API, a buffer (``bytes``,
        ``memoryview``, ``array.array``) or a Python scalar or sequence.
    to : str, module or array
        The target library: its name (``"numpy"``, ``"torch"``,
        ``"array_api_strict"``, any registered backend or installed array-API
        namespace), the module or namespace itself, or an array whose
        library and device the result takes.
    device : str, tuple, torch.device or None, optional
        ``None`` keeps the source's device when the target can hold it, else
        the host; otherwise ``"cpu"``, ``"cuda"``, ``"cuda:1"``, a
        ``torch.device``, a DLPack ``(type, id)`` tuple or the target
        library's own device object.
    dtype : str, numpy.dtype, torch.dtype or None, optional
        ``None`` keeps the dtype exactly; otherwise a canonical name
        (:func:`xpbridge.dtypes`), a NumPy dtype or a torch dtype.  Casts
        follow the target library's own ``astype``.
    copy : bool or None, optional
        ``None``: share memory when possible, else copy.  ``True``: always a
        new buffer.  ``False``: never copy; raise :class:`CopyError` instead.
    grad : {"detach", "raise"}, optional
        Leaving autograd (a torch source that requires grad, to a library
        without autograd): ``"detach"`` (default) detaches, ``"raise"``
        raises :class:`GradError`.
    requires_grad : bool, optional
        Ask for a result that requires grad (targets with autograd only).

    Returns
    -------
    array
        An array of the target library: ``numpy.ndarray`` for ``"numpy"``,
        ``torch.Tensor`` for ``"torch"``.

    Raises
    ------
    CopyError
        ``copy=False`` but the conversion needs a new buffer (device, layout,
        read-only memory, dtype, scalar).
    DTypeError
        The dtype cannot be represented in the target, or ``dtype=`` is invalid.
    DeviceError
        The device is unknown or unavailable, or the target cannot live there.
    GradError
        ``grad="raise"`` and the source requires grad.
    UnsupportedInputError
        ``x`` cannot be converted without losing meaning (a masked array; a
        sparse, quantized, nested or meta tensor; an object with no array
        protocol).
    ArgumentError
        An invalid ``copy=``, ``grad=`` or ``requires_grad=`` value, or an
        unknown or missing target library.

    Examples
    --------
    >>> import numpy as np, xpbridge as xb
    >>> a = np.arange(3.0)
    >>> t = xb.convert(a, "torch")
    >>> t[0] = 7.0
    >>> a
    array([7., 1., 2.])
    """
    if (
        type(to) is str  # not ==: an array's __eq__ may be anything
        and device is None
        and dtype is None
        and copy is None
        and grad == "detach"
        and requires_grad is False
    ):
        # The fast paths of to_torch and to_numpy, inlined: a call costs a
        # tenth of the whole conversion here.
        if to == "torch":
            if (
                type(x) is _NDARRAY
                and x.dtype in _DIRECT_DTYPES
                and ((flags := x.flags).carray or (flags.behaved and min(x.strides) >= 0))
            ):
                try:
                    return _FROM_NUMPY(x)
                except (TypeError, ValueError):
                    pass  # the planner says why, and what to do
        elif to == "numpy" and type(x) is _TENSOR and not x.requires_grad:
            try:
                return x.numpy()
            except (TypeError, RuntimeError, ValueError):
                pass
        return _execute(_default_request(x, to))
    return _execute(_request(x, to, device, dtype, copy, grad, requires_grad))


def to_numpy(
    x: Any,
    /,
    *,
    dtype: Any = None,
    copy: bool | None = None,
    grad: Grad = "detach",
) -> numpy.ndarray[Any, Any]:
    """Convert ``x`` to a NumPy array; :func:`convert` with ``to="numpy"``.

    Parameters
    ----------
    x : array_like
        The source (see :func:`convert`).
    dtype : str, numpy.dtype, torch.dtype or None, optional
        ``None`` keeps the dtype exactly; otherwise the dtype to cast to.
    copy : bool or None, optional
        ``None``: share memory when possible; ``True``: always copy;
        ``False``: raise :class:`CopyError` rather than copy.
    grad : {"detach", "raise"}, optional
        A source that requires grad is detached (the result is then a
        read-only view) or, with ``"raise"``, refused with :class:`GradError`.

    Returns
    -------
    numpy.ndarray
        The array; a bfloat16 or float8 source gives the ml_dtypes type.

    Raises
    ------
    CopyError, DTypeError, GradError, UnsupportedInputError, ArgumentError
        As :func:`convert`.

    Examples
    --------
    >>> import torch, xpbridge as xb
    >>> w = torch.ones(2, requires_grad=True)
    >>> a = xb.to_numpy(w)          # detached, read-only view
    >>> a, a.flags.writeable
    (array([1., 1.], dtype=float32), False)
    """
    if dtype is None and copy is None and grad == "detach":
        # a model's parameters: never try what raises
        if type(x) is _TENSOR and not x.requires_grad:
            try:
                return x.numpy()  # type: ignore[no-any-return]
            except (TypeError, RuntimeError, ValueError):
                pass  # the planner says why, and what to do
        return _execute(_default_request(x, "numpy"))  # type: ignore[no-any-return]
    if (
        type(x) is _TENSOR
        and dtype is None
        and grad == "detach"
        and copy is True
        # What Tensor.numpy refuses most often, read before any copy is made.
        and x.dtype in _NUMPY_TENSOR_DTYPES
        and x.is_cpu
    ):
        # A new writable array: NumPy's view of the detached tensor (or of
        # torch's copy of it) raises for everything else the planner treats
        # otherwise (bits, layout), as Tensor.numpy does.
        try:
            return copy_tensor_to_ndarray(x.detach())  # type: ignore[no-any-return]
        except (TypeError, RuntimeError, ValueError):
            pass
    return _execute(_request(x, "numpy", None, dtype, copy, grad, False))  # type: ignore[no-any-return]


def to_torch(
    x: Any,
    /,
    *,
    device: Any = None,
    dtype: Any = None,
    copy: bool | None = None,
    requires_grad: bool = False,
) -> torch.Tensor:
    """Convert ``x`` to a torch tensor; :func:`convert` with ``to="torch"``.

    Parameters
    ----------
    x : array_like
        The source (see :func:`convert`).  A torch source keeps its autograd
        state: ``copy=None`` returns the tensor itself.
    device : str, tuple, torch.device or None, optional
        ``None`` keeps the source's device; otherwise the device to move to.
    dtype : str, numpy.dtype, torch.dtype or None, optional
        ``None`` keeps the dtype exactly; otherwise the dtype to cast to.
    copy : bool or None, optional
        ``None``: share memory when possible; ``True``: always copy;
        ``False``: raise :class:`CopyError` rather than copy.
    requires_grad : bool, optional
        Ask for a result that requires grad (a new leaf for sources from
        other libraries).

    Returns
    -------
    torch.Tensor
        The tensor.

    Raises
    ------
    CopyError, DTypeError, DeviceError, UnsupportedInputError, ArgumentError
        As :func:`convert`; an ``ArgumentError`` also when torch is not installed.

    Examples
    --------
    >>> import numpy as np, xpbridge as xb
    >>> xb.to_torch(np.arange(4)[::-1])       # negative strides: a safe copy
    tensor([3, 2, 1, 0])
    """
    if device is None and dtype is None and copy is None and requires_grad is False:
        # A dtype torch takes as it is: not complex (NumPy aligns it to its
        # parts, torch to the whole item), not ml_dtypes', native byte order.
        if type(x) is _NDARRAY and x.dtype in _DIRECT_DTYPES:
            flags = x.flags
            # backends.torch.from_numpy_is_exact (the trees' rule too), inlined:
            # a call costs a tenth of from_numpy here.  Aligned and writable,
            # C-contiguous or at least no stride < 0.
            if flags.carray or (flags.behaved and min(x.strides) >= 0):
                try:
                    return _FROM_NUMPY(x)  # type: ignore[no-any-return]
                except (TypeError, ValueError):
                    pass  # the planner says why, and what to do
            elif flags.aligned:
                # Read-only or reversed: the contract's answer is a copy
                # (rules np-torch-readonly, np-torch-negative-strides), made
                # by the copy engine; a reversed view never reaches from_numpy.
                return copy_ndarray_to_tensor(x, direct=True)  # type: ignore[no-any-return]
        return _execute(_default_request(x, "torch"))  # type: ignore[no-any-return]
    if (
        type(x) is _NDARRAY
        and device is None
        and copy is None
        and requires_grad is False
        and x.dtype in _DIRECT_DTYPES
        and x.flags.carray
        and x.size
    ):
        # A cast of a plain array: the planner's from_numpy and cast steps,
        # once it has planned them for this pair of dtypes.
        cast = _planned_cast(x, dtype)
        if cast is not None:
            try:
                view = _FROM_NUMPY(x)
            except (TypeError, ValueError):
                pass  # a length-1 axis's odd stride: the planner's from_numpy step
            else:
                return cast_tensor(view, cast, plain=True)  # type: ignore[no-any-return]
    return _execute(  # type: ignore[no-any-return]
        _request(x, "torch", device, dtype, copy, "detach", requires_grad)
    )
