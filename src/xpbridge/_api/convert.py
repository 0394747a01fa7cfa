"""The public conversion functions: request -> describe -> plan -> execute.

Each reads the pipeline's memos inline (:mod:`xpbridge._pipeline`): the
request of its spelling, then the plan compiled for the source's traits key,
and runs it; a miss anywhere goes down the pipeline (which fills the memos).
The memo hits are read here, not behind a function call, because a call
costs a tenth of a warm conversion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, overload

from .._pipeline.describe import KEYS
from .._pipeline.pipeline import convert_with, plan_with
from .._pipeline.plan import Plan
from .._pipeline.request import BY_SPELLING, BY_TARGET, request_of, same_spelling
from .memory import shares_memory

if TYPE_CHECKING:
    import numpy
    import torch

    from .._lib.typing import Grad, NumpyModule, TorchModule

__all__ = ["convert", "plan", "shares_memory", "to_numpy", "to_torch"]

# The memos' dicts, read inline by the warm path (subscripts, not .get():
# a miss is the rare case, and a KeyError caught costs nothing until raised).
_BY_TARGET = BY_TARGET.data
_BY_SPELLING = BY_SPELLING.data
_KEYS = KEYS.data


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
    narrow: bool | None = None,
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
    narrow : bool or None, optional
        Where the target's device lacks float64 or complex128 (or int64 on
        JAX without x64): ``True`` narrows to the 32-bit type (integers only
        where the values fit) and the plan says so; ``False`` refuses with
        :class:`DTypeError`; ``None`` (default) follows
        :func:`set_narrowing` (which refuses unless set).

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
    r = None
    if (
        device is None
        and dtype is None
        and copy is None
        and grad == "detach"
        and requires_grad is False
        and narrow is None
    ):
        try:
            r = _BY_TARGET.get(to)
        except TypeError:  # an unhashable target: resolved below
            r = None
    if r is None:
        r = request_of(to, device, dtype, copy, grad, requires_grad, narrow)
    return plan_with(x, r)


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
    narrow: bool | None = None,
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
    narrow: bool | None = None,
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
    narrow: bool | None = None,
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
    narrow: bool | None = None,
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
    narrow : bool or None, optional
        Where the target's device lacks float64 or complex128 (or int64 on
        JAX without x64): ``True`` narrows to the 32-bit type (integers only
        where the values fit) and the plan says so; ``False`` refuses with
        :class:`DTypeError`; ``None`` (default) follows
        :func:`set_narrowing` (which refuses unless set).

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
    try:
        if (
            device is None
            and dtype is None
            and copy is None
            and grad == "detach"
            and requires_grad is False
            and narrow is None
        ):
            r = _BY_TARGET.get(to)
        else:
            r = _BY_SPELLING.get((to, device, dtype, copy, grad, requires_grad, narrow))
            if r is not None and not same_spelling(r, copy, requires_grad, narrow):
                r = None  # equal is not valid: copy=1 == True, but only True is a copy=
    except Exception:  # noqa: BLE001 - an unhashable or incomparable spelling: resolved below
        r = None
    if r is None:
        r = request_of(to, device, dtype, copy, grad, requires_grad, narrow)
    try:
        entry = r.table[_KEYS[type(x)](x)]
    except KeyError:  # a type without a key function, or traits not planned yet
        return convert_with(x, r)
    try:
        return entry.run(x)
    except entry.refusals:  # the key did not decide this source: the full path says what to do
        return convert_with(x, r)


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
        r = _BY_TARGET.get("numpy")
    else:
        try:
            r = _BY_SPELLING.get(("numpy", None, dtype, copy, grad, False, None))
        except Exception:  # noqa: BLE001 - an unhashable or incomparable spelling
            r = None
        if r is not None and r.copy is not copy:
            r = None
    if r is None:
        r = request_of("numpy", None, dtype, copy, grad, False)
    try:
        entry = r.table[_KEYS[type(x)](x)]
    except KeyError:  # a type without a key function, or traits not planned yet
        return convert_with(x, r)  # type: ignore[no-any-return]
    try:
        return entry.run(x)  # type: ignore[no-any-return]
    except entry.refusals:  # the key did not decide this source: the full path says what to do
        return convert_with(x, r)  # type: ignore[no-any-return]


def to_torch(
    x: Any,
    /,
    *,
    device: Any = None,
    dtype: Any = None,
    copy: bool | None = None,
    requires_grad: bool = False,
    narrow: bool | None = None,
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
    narrow : bool or None, optional
        As :func:`convert` (Apple MPS devices have no float64).

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
    if (
        device is None
        and dtype is None
        and copy is None
        and requires_grad is False
        and narrow is None
    ):
        r = _BY_TARGET.get("torch")
    else:
        try:
            spelling = ("torch", device, dtype, copy, "detach", requires_grad, narrow)
            r = _BY_SPELLING.get(spelling)
        except Exception:  # noqa: BLE001 - an unhashable or incomparable spelling
            r = None
        if r is not None and not same_spelling(r, copy, requires_grad, narrow):
            r = None
    if r is None:
        r = request_of("torch", device, dtype, copy, "detach", requires_grad, narrow)
    try:
        entry = r.table[_KEYS[type(x)](x)]
    except KeyError:  # a type without a key function, or traits not planned yet
        return convert_with(x, r)  # type: ignore[no-any-return]
    try:
        return entry.run(x)  # type: ignore[no-any-return]
    except entry.refusals:  # the key did not decide this source: the full path says what to do
        return convert_with(x, r)  # type: ignore[no-any-return]
