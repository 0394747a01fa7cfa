"""Host copy bandwidth of each copy engine, next to np.copyto into an existing buffer.

Every copy xpbridge makes on the host goes through one of three engines
(``src/xpbridge/_lib/copy_engine.py``): NumPy allocates and copies (``numpy``), torch
allocates and copies (``torch``), or NumPy allocates and torch's kernel
copies into it (``numpy-buffer``).  This script times each engine forced,
the raw idioms they stand for, xpbridge's own calls (which pick an engine
by measurement) and ``np.copyto`` into a buffer that already exists, which
makes no allocation and takes no page fault: the machine's limit.

Interleaved rounds, one process, medians; GB/s counts the bytes of the result.

    python benchmarks/copy_bandwidth.py                 # 1, 64 and 256 MiB
    python benchmarks/copy_bandwidth.py --quick         # fewer rounds
    python benchmarks/copy_bandwidth.py --markdown docs/performance/copy_bandwidth.md
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import xpbridge as xb
from xpbridge._lib import copy_engine as _copy

MiB = 1 << 20


def paths(size: int) -> dict[str, tuple[str, Callable[[], Any]]]:
    """name -> (group, call).  Each call makes one new buffer of ``size`` bytes."""
    n = size // 4
    a = np.arange(n, dtype=np.float32)
    ro = a.copy()
    ro.flags.writeable = False
    t = torch.arange(n, dtype=torch.float32)
    g = torch.arange(n, dtype=torch.float32, requires_grad=True)
    half = np.arange(n // 2, dtype=np.float32)  # cast source: the result is `size` bytes
    existing = np.empty_like(a)
    return {
        "np.copyto(existing, a)  [machine limit]": ("limit", lambda: np.copyto(existing, a)),
        "a.copy()": ("ndarray", a.copy),
        "engine numpy (ndarray)": (
            "ndarray",
            lambda: _copy.copy_ndarray(a, numpy_memory=False, engine="numpy"),
        ),
        "engine numpy-buffer (ndarray)": (
            "ndarray",
            lambda: _copy.copy_ndarray(a, numpy_memory=False, engine="numpy-buffer"),
        ),
        "engine torch (ndarray)": (
            "ndarray",
            lambda: _copy.copy_ndarray(a, numpy_memory=False, engine="torch"),
        ),
        "engine numpy-buffer (read-only ndarray)": (
            "ndarray",
            lambda: _copy.copy_ndarray(ro, numpy_memory=False, engine="numpy-buffer"),
        ),
        "engine torch (read-only ndarray)": (
            "ndarray",
            lambda: _copy.copy_ndarray(ro, numpy_memory=False, engine="torch"),
        ),
        "xb.to_torch(read-only)": ("ndarray", lambda: xb.to_torch(ro)),
        "np.ascontiguousarray(a[::-1])": ("reversed", lambda: np.ascontiguousarray(a[::-1])),
        "engine numpy (reversed ndarray)": (
            "reversed",
            lambda: _copy.copy_ndarray(a[::-1], numpy_memory=False, engine="numpy"),
        ),
        "engine torch (reversed ndarray)": (
            "reversed",
            lambda: _copy.copy_ndarray(a[::-1], numpy_memory=False, engine="torch"),
        ),
        "xb.to_torch(a[::-1])": ("reversed", lambda: xb.to_torch(a[::-1])),
        "xb.to_numpy(a, copy=True)": ("ndarray", lambda: xb.to_numpy(a, copy=True)),
        "t.clone()": ("tensor", t.clone),
        "t.numpy().copy()": ("tensor", lambda: t.numpy().copy()),
        "engine numpy (tensor)": ("tensor", lambda: _copy.copy_tensor(t, engine="numpy")),
        "engine numpy-buffer (tensor)": (
            "tensor",
            lambda: _copy.copy_tensor(t, engine="numpy-buffer"),
        ),
        "engine torch (tensor)": ("tensor", lambda: _copy.copy_tensor(t, engine="torch")),
        "xb.to_numpy(t, copy=True)": ("tensor", lambda: xb.to_numpy(t, copy=True)),
        "xb.to_numpy(g, copy=True)  [requires grad]": (
            "tensor",
            lambda: xb.to_numpy(g, copy=True),
        ),
        "half.astype(float64)": ("cast", lambda: half.astype(np.float64)),
        "engine torch (cast float32 -> float64)": (
            "cast",
            lambda: _copy.cast_tensor(torch.from_numpy(half), torch.float64, engine="torch"),
        ),
        "engine numpy-buffer (cast float32 -> float64)": (
            "cast",
            lambda: _copy.cast_tensor(torch.from_numpy(half), torch.float64, engine="numpy-buffer"),
        ),
        "xb.to_torch(half, dtype='float64')": (
            "cast",
            lambda: xb.to_torch(half, dtype="float64"),
        ),
    }


def measure(size: int, rounds: int) -> dict[str, tuple[str, float, float, float]]:
    """name -> (group, median GB/s, lowest, highest) over interleaved rounds."""
    calls = paths(size)
    number = max(1, (64 * MiB) // size)  # about 64 MiB of copying per timing
    for _group, call in calls.values():  # warm up; xpbridge's own calls settle their engine
        for _ in range((_copy.WARMUP + _copy.SAMPLES) * len(_copy.ENGINES) + 1):
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, (_group, call) in calls.items():
            start = time.perf_counter()
            for _ in range(number):
                call()
            times[name].append((time.perf_counter() - start) / number)
    result = {}
    for name, (group, _call) in calls.items():
        rates = [size / s / 1e9 for s in times[name]]
        result[name] = (group, statistics.median(rates), min(rates), max(rates))
    return result


def markdown(results: dict[int, Any]) -> str:
    sizes = sorted(results)
    lines = [
        (
            f"Machine: {platform.machine()}, Python {platform.python_version()}, "
            f"NumPy {np.__version__}, torch {torch.__version__} "
            f"({torch.get_num_threads()} intra-op threads), xpbridge {xb.__version__}; "
            f"transparent huge pages: {_thp()}."
        ),
        "",
        "GB/s of result bytes, median of interleaved rounds (lowest-highest round).",
        "",
        "| copy | " + " | ".join(f"{s // MiB} MiB" for s in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for name in results[sizes[0]]:
        cells = []
        for s in sizes:
            _group, median, low, high = results[s][name]
            cells.append(f"{median:.1f} ({low:.1f}-{high:.1f})")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    chosen = sorted(
        f"{kind} copies from {_bytes(2 ** (bits - 1))} ({', '.join(engines)}): {engine}"
        for (kind, engines, bits), engine in _copy.chosen().items()
    )
    lines += ["", "Engines xpbridge chose in this run, by size class:", ""]
    lines += [f"- {line}" for line in chosen]
    return "\n".join(lines) + "\n"


def _bytes(n: int) -> str:
    return f"{n // MiB} MiB" if n >= MiB else f"{n // 1024} KiB"


def _thp() -> str:
    try:
        return Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text().strip()
    except OSError:
        return "unknown"


def run(quick: bool, sizes_mib: tuple[int, ...] = (1, 64, 256)) -> dict[int, Any]:
    rounds = 3 if quick else 15
    results = {}
    for mib in sizes_mib:
        results[mib * MiB] = measure(mib * MiB, rounds)
        print(f"copy bandwidth: {mib} MiB measured", file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke test)")
    parser.add_argument("--markdown", help="also write the table to this file")
    parser.add_argument(
        "--sizes", default="1,64,256", help="comma-separated sizes in MiB (default 1,64,256)"
    )
    args = parser.parse_args(argv)
    text = markdown(run(args.quick, tuple(int(s) for s in args.sizes.split(","))))
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
