"""The least a pure-Python conversion function can cost: the floor under xpbridge's fast paths.

Each function here has the public signature of the call it stands for
(keyword-only arguments with their defaults: CPython fills each one in on
every call) and makes only the checks that the primitive does not make
itself and that the contract needs:

- ``to_torch`` / ``convert(a, "torch")``: the exact type, a dtype torch takes
  as it is (not complex, not ml_dtypes', native byte order), aligned, writable
  and C-contiguous (``torch.from_numpy`` would alias read-only memory as
  writable and does not check alignment);
- ``to_numpy`` / ``convert(t, "numpy")``: the exact type and no grad
  (``Tensor.numpy`` raises for a tensor that requires grad, and a raised C++
  exception costs microseconds).

They convert nothing else (everything outside the common case returns None),
so they are a floor, not an alternative: ``bench.py`` times them beside the
primitive to show how much of a ratio target is left to xpbridge at all.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from xpbridge.backends.torch import direct_dtypes

__all__ = ["floor_convert", "floor_to_numpy", "floor_to_torch"]

_NDARRAY = np.ndarray
_TENSOR = torch.Tensor
_FROM_NUMPY = torch.from_numpy
_DIRECT = direct_dtypes()  # the dtypes xpbridge's fast paths take (one table)


def floor_to_torch(
    x: Any,
    /,
    *,
    device: Any = None,
    dtype: Any = None,
    copy: bool | None = None,
    requires_grad: bool = False,
) -> Any:
    if (
        type(x) is _NDARRAY
        and device is None
        and dtype is None
        and copy is None
        and requires_grad is False
        and x.dtype in _DIRECT
        and x.flags.carray
    ):
        return _FROM_NUMPY(x)
    return None


def floor_to_numpy(
    x: Any, /, *, dtype: Any = None, copy: bool | None = None, grad: str = "detach"
) -> Any:
    if (
        type(x) is _TENSOR
        and dtype is None
        and copy is None
        and grad == "detach"
        and not x.requires_grad
    ):
        return x.numpy()
    return None


def floor_convert(
    x: Any,
    to: Any,
    /,
    *,
    device: Any = None,
    dtype: Any = None,
    copy: bool | None = None,
    grad: str = "detach",
    requires_grad: bool = False,
) -> Any:
    if (
        type(to) is str
        and device is None
        and dtype is None
        and copy is None
        and grad == "detach"
        and requires_grad is False
    ):
        if to == "torch":
            if type(x) is _NDARRAY and x.dtype in _DIRECT and x.flags.carray:
                return _FROM_NUMPY(x)
        elif to == "numpy" and type(x) is _TENSOR and not x.requires_grad:
            return x.numpy()
    return None
