"""``xpbridge demo``: the main job in a few conversions, on whatever is installed.

NumPy alone shows the contract between NumPy arrays, buffers and Python
objects; with torch the demo goes on to the NumPy <-> torch hazards xpbridge
exists for.  Without torch it says what torch would add.
"""

from __future__ import annotations

from .._lib.environment import installed
from .libraries import install_hint

__all__ = ["demo"]

TORCH_ADDS = """\
torch is not installed, so this was the NumPy-only part. With torch
({install}) the demo goes on to show:
  - to_torch(a) sharing memory with the array (writes show both ways)
  - a safe copy for negative strides, where torch.from_dlpack aborts the interpreter
  - a read-only NumPy view of a tensor that requires grad
  - the negative bit resolved, where np.from_dlpack flips signs silently
  - bfloat16 crossing zero-copy and bit-exact through ml_dtypes"""


def _numpy_part() -> None:
    import numpy as np

    import xpbridge as xb

    a = np.arange(4.0)
    print(f"to_numpy(a) is a: {xb.to_numpy(a) is a} (same library, copy=None: the object itself)")
    c = xb.to_numpy(a, copy=True)
    print(f"to_numpy(a, copy=True) shares memory: {xb.shares_memory(a, c)}")
    print(xb.plan(a, "numpy", dtype="float32"))
    try:
        xb.to_numpy(a, dtype="float32", copy=False)
    except xb.CopyError as e:
        print(f"CopyError: {e}")
    data = bytearray(16)
    view = xb.to_numpy(data)
    view[0] = 255
    print(f"to_numpy(bytearray) is a zero-copy view: data[0] is now {data[0]}")
    frozen = xb.to_numpy(b"\x00" * 8)
    print(f"to_numpy(bytes) is read-only: writeable={frozen.flags.writeable}")
    try:
        xb.to_numpy(object())  # speaks no array protocol
    except xb.UnsupportedInputError as e:
        print(f"UnsupportedInputError: {e}")


def _torch_part() -> None:
    import numpy as np
    import torch

    import xpbridge as xb

    a = np.arange(4, dtype=np.float32)
    t = xb.to_torch(a)
    t[0] = 10.0
    print(f"to_torch(a) shares memory: a[0] is now {a[0]}")
    print(xb.plan(a[::-1], "torch"))
    try:
        xb.to_torch(a[::-1], copy=False)
    except xb.CopyError as e:
        print(f"CopyError: {e}")
    w = torch.ones(3, requires_grad=True)
    view = xb.to_numpy(w)
    print(f"to_numpy(requires-grad tensor): read-only view, writeable={view.flags.writeable}")
    z = torch.tensor([1 + 2j]).conj().imag
    print(f"negative bit resolved: to_numpy(x.conj().imag) = {xb.to_numpy(z)}")
    try:
        b = torch.tensor([1.5, 2.5], dtype=torch.bfloat16)
        n = xb.to_numpy(b)
        print(f"bfloat16 -> NumPy zero-copy: dtype={n.dtype}, shares={xb.shares_memory(b, n)}")
    except xb.DTypeError as e:
        print(f"DTypeError: {e}")


def demo() -> None:
    """Print the demonstration for this install."""
    print("== NumPy ==")
    _numpy_part()
    print()
    if installed("torch"):
        print("== NumPy <-> torch ==")
        _torch_part()
    else:
        print(TORCH_ADDS.format(install=install_hint("torch")))
