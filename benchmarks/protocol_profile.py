"""The protocol paths against ``np.from_dlpack`` / ``torch.from_dlpack``, piece by piece.

An array-api-strict array of 8 float32 crosses to NumPy and torch through a
checked DLPack capsule.  Each round times every statement once, in
alternating order; the ratio is the median over rounds of
``time(ours) / time(raw from_dlpack)``, measured in this one process.  Then
the pieces of one ``to_numpy`` (the producer's own ``__dlpack__``, the header
read, the traits) are timed alone, to show where the rest of the time goes.

    python benchmarks/protocol_profile.py
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable
from typing import Any

import array_api_strict as xps
import numpy as np
import torch

import xpbridge as xb
from xpbridge._lib import dlpack as _dlpack
from xpbridge.backends import registry as _registry

ROUNDS, NUMBER = 40, 2000


def interleaved(stmts: dict[str, Callable[[], Any]]) -> dict[str, list[float]]:
    """Microseconds per call of each statement, one list per statement, over the rounds."""
    for call in stmts.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in stmts}
    for r in range(ROUNDS):
        order = list(stmts.items())
        for name, call in order if r % 2 else reversed(order):
            times[name].append(timeit.timeit(call, number=NUMBER) / NUMBER * 1e6)
    return times


def main() -> None:
    x = xps.asarray(np.arange(8, dtype=np.float32))
    rows = {  # call -> its raw baseline
        "to_numpy(x)": (lambda: xb.to_numpy(x), "np.from_dlpack(x)"),
        "convert(x, 'numpy')": (lambda: xb.convert(x, "numpy"), "np.from_dlpack(x)"),
        "plan(x, 'numpy')": (lambda: xb.plan(x, "numpy"), "np.from_dlpack(x)"),
        "to_torch(x)": (lambda: xb.to_torch(x), "torch.from_dlpack(x)"),
        "convert(x, 'torch')": (lambda: xb.convert(x, "torch"), "torch.from_dlpack(x)"),
        "plan(x, 'torch')": (lambda: xb.plan(x, "torch"), "torch.from_dlpack(x)"),
    }
    stmts: dict[str, Callable[[], Any]] = {
        "np.from_dlpack(x)": lambda: np.from_dlpack(x),
        "torch.from_dlpack(x)": lambda: torch.from_dlpack(x),
    }
    stmts |= {name: call for name, (call, _) in rows.items()}
    times = interleaved(stmts)
    print(f"{'call':24} {'us':>6}  ratio (median of rounds)")
    for name in ("np.from_dlpack(x)", "torch.from_dlpack(x)"):
        print(f"{name:24} {statistics.median(times[name]):6.2f}")
    for name, (_, base) in rows.items():
        ratio = statistics.median(a / b for a, b in zip(times[name], times[base], strict=True))
        print(f"{name:24} {statistics.median(times[name]):6.2f}  {ratio:.2f} x {base}")

    source = _registry.backend_of(x)
    numpy = _registry.backend_named("numpy")
    capsule = x.__dlpack__(max_version=_dlpack.MAX_VERSION)
    exported = source.prepare(x, numpy, None, None)
    pieces: dict[str, Callable[[], Any]] = {
        "x.__dlpack__ (producer)": lambda: x.__dlpack__(max_version=_dlpack.MAX_VERSION),
        "reported_device(x)": lambda: _dlpack.reported_device(x),
        "read_header(capsule)": lambda: _dlpack.read_header(capsule),
        "prepare (export+checks)": lambda: source.prepare(x, numpy, None, None),
        "traits(exported)": lambda: source.traits(exported),
    }
    print("\npieces of to_numpy(x):")
    for name, samples in interleaved(pieces).items():
        print(f"{name:24} {statistics.median(samples):6.2f}")


if __name__ == "__main__":
    main()
