"""Can torch's DLPack C exchange API beat ``t.numpy()`` from pure Python, every check kept?

torch 2.13 puts a ``DLPackExchangeAPI`` table (DLPack 1.3, ``dlpack.h``) on
``torch.Tensor.__dlpack_c_exchange_api__``: a capsule whose function
``dltensor_from_py_object_no_sync`` fills a caller's ``DLTensor`` with a
tensor's pointer, shape, strides, dtype and device, without a capsule,
without synchronising, and without torch's own checks (it describes a
tensor that requires grad, or has its conjugate or negative bit, as if it
were plain).  Reached from Python, the call goes through ctypes, and the
NumPy array over the pointer must then be made in Python as well.

This script times, interleaved in one process (medians over rounds):

- ``t.numpy()``, the zero-copy call xpbridge's fast path makes;
- the ctypes call alone (the floor of any pure-Python use of the table);
- the whole pure-Python path with every check xpbridge keeps (grad,
  conjugate and negative bits, device, dtype) and a NumPy array that keeps
  the tensor alive;
- ``np.from_dlpack(t)``, the standard exchange.

    python benchmarks/dlpack_c_exchange.py
"""

from __future__ import annotations

import ctypes
import statistics
import sys
import time
from typing import Any

import numpy as np
import torch

from xpbridge._lib.dlpack import _DLTensor

ROUNDS, NUMBER = 21, 20000


def exchange_table() -> dict[str, int]:
    """The function pointers of torch's DLPackExchangeAPI table."""
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    table = get_pointer(torch.Tensor.__dlpack_c_exchange_api__, b"dlpack_exchange_api")
    major = ctypes.c_uint32.from_address(table).value
    minor = ctypes.c_uint32.from_address(table + 4).value
    print(f"torch {torch.__version__}: DLPackExchangeAPI version {major}.{minor}")
    # The header (a DLPackVersion and the prev_api pointer, 16 bytes), then five
    # function pointers in the order dlpack.h declares them.
    names = (
        "managed_tensor_allocator",
        "managed_tensor_from_py_object_no_sync",
        "managed_tensor_to_py_object_no_sync",
        "dltensor_from_py_object_no_sync",
        "current_work_stream",
    )
    size = ctypes.sizeof(ctypes.c_void_p)
    return {
        name: ctypes.c_void_p.from_address(table + 16 + size * i).value or 0
        for i, name in enumerate(names)
    }


# PYFUNCTYPE, not CFUNCTYPE: the call keeps the GIL, as the producer may set a
# Python exception.
_FromPyObject = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object, ctypes.POINTER(_DLTensor))
_FLOAT32 = (2, 32, 1)  # DLPack (code, bits, lanes)


class _Keeper:
    """Keeps the tensor alive for as long as the NumPy view lives."""

    __slots__ = ("__array_interface__", "tensor")


def build(pointer: int) -> tuple[Any, Any]:
    from_py_object = _FromPyObject(pointer)
    out = _DLTensor()
    out_ref = ctypes.byref(out)

    def call_only(t: Any) -> int:
        return int(from_py_object(t, out_ref))

    def with_checks(t: Any) -> Any:
        # The checks Tensor.numpy makes, which the no-sync call skips.
        if t.requires_grad or t.is_conj() or t.is_neg():
            raise RuntimeError("the planner's case")
        if from_py_object(t, out_ref) != 0:
            raise RuntimeError("the producer refused")
        if out.device.device_type != 1:
            raise RuntimeError("not in host memory")
        dtype = out.dtype
        if (dtype.code, dtype.bits, dtype.lanes) != _FLOAT32:
            raise RuntimeError("this sketch maps float32 only")
        ndim = out.ndim
        shape = tuple(out.shape[i] for i in range(ndim))
        strides = tuple(out.strides[i] * 4 for i in range(ndim)) if out.strides else None
        keeper = _Keeper()
        keeper.tensor = t
        keeper.__array_interface__ = {
            "data": (out.data + out.byte_offset, False),
            "shape": shape,
            "strides": strides,
            "typestr": "<f4",
            "version": 3,
        }
        return np.asarray(keeper)

    return call_only, with_checks


def main() -> int:
    pointers = exchange_table()
    call_only, with_checks = build(pointers["dltensor_from_py_object_no_sync"])
    t = torch.arange(8, dtype=torch.float32)
    view = with_checks(t)
    assert np.shares_memory(view, t.numpy())
    assert (view == t.numpy()).all()
    g = torch.ones(3, requires_grad=True)
    assert call_only(g) == 0  # the no-sync call describes a tensor that requires grad
    # Every statement goes through one lambda: the same call overhead for each.
    statements = {
        "t.numpy()": lambda: t.numpy(),  # noqa: PLW0108
        "ctypes call alone (no checks, no array)": lambda: call_only(t),
        "C exchange + every check + NumPy view": lambda: with_checks(t),
        "np.from_dlpack(t)": lambda: np.from_dlpack(t),
    }
    times: dict[str, list[float]] = {name: [] for name in statements}
    for i in range(ROUNDS):
        order = list(statements) if i % 2 == 0 else list(statements)[::-1]
        for name in order:
            call = statements[name]
            start = time.perf_counter()
            for _ in range(NUMBER):
                call()
            times[name].append((time.perf_counter() - start) / NUMBER)
    base = statistics.median(times["t.numpy()"])
    print(f"8 x float32, median of {ROUNDS} interleaved rounds of {NUMBER} calls")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{median * 1e9:8.0f} ns  {median / base:5.2f} x t.numpy()  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
