"""Which functions one call runs, in which modules: the first call and a warm one.

    python benchmarks/trace_call.py

Traces ``convert(a, array_namespace(t), copy=False)`` (the call
backend-agnostic code makes) with :func:`sys.setprofile`: every Python
function of xpbridge it enters, and every C function it calls, in order.
``docs/architecture.md`` quotes its output.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import array_api_compat
import numpy as np
import torch

import xpbridge as xb


def trace(call: Callable[[], Any]) -> list[str]:
    """The xpbridge functions ``call`` enters and the C functions it calls, in order."""
    seen: list[str] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and "xpbridge" in frame.f_code.co_filename:
            module = frame.f_code.co_filename.split("xpbridge/", 1)[-1].removesuffix(".py")
            seen.append(f"{module.replace('/', '.')}.{frame.f_code.co_name}")
        elif event == "c_call":
            seen.append(f"  (C) {getattr(arg, '__qualname__', arg)}")

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return seen[:-1]  # the last is setprofile itself


def main() -> None:
    a = np.arange(8, dtype=np.float32)
    xp = array_api_compat.array_namespace(torch.zeros(1))
    xb.convert(np.zeros(1, np.int8), "numpy")  # the package's modules imported first

    def call() -> Any:
        return xb.convert(a, xp, copy=False)

    first = [line for line in trace(call) if not line.startswith("  (C)")]
    print(f"first call: {len(first)} Python function calls")
    for line in first:
        print("   ", line)
    warm = trace(call)
    print(f"warm call: {len(warm)} calls")
    for line in warm:
        print("   ", line)


if __name__ == "__main__":
    main()
