"""GPU transfer benchmarks: bandwidth and ratios against the idioms users type today.

    python benchmarks/gpu_bench.py            # needs a CUDA device

Device -> NumPy: ``to_numpy(t)`` against ``t.cpu().numpy()`` and
``t.detach().cpu().numpy()``; NumPy -> device: ``to_torch(a, device="cuda")``
against ``torch.from_numpy(a).cuda()`` and ``torch.tensor(a, device="cuda")``;
at 1 MiB, 64 MiB and 1 GiB.  Each timing synchronises the device, rounds are
interleaved, and the table gives medians.  Device -> host copies of 1 MiB or
more run through xpbridge's bounded pinned staging pool (xpbridge._lib.staging);
the last line says how much pinned memory it holds.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

import xpbridge as xb

SIZES = {"1 MiB": 1 << 20, "64 MiB": 64 << 20, "1 GiB": 1 << 30}


def _time(fn: Callable[[], object], repeat: int) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeat


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to measure", file=sys.stderr)
        return 1
    print(
        f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, numpy {np.__version__}"
    )
    print("| direction | size | ours GB/s | baseline | baseline GB/s | ours/baseline time |")
    print("|---|---|---|---|---|---|")
    for label, nbytes in SIZES.items():
        repeat = 20 if nbytes <= 64 << 20 else 3
        t = torch.rand(nbytes // 4, device="cuda")
        a = np.random.default_rng(0).random(nbytes // 4, dtype=np.float32)
        rows = [
            ("device -> NumPy", lambda: xb.to_numpy(t), "t.cpu().numpy()", lambda: t.cpu().numpy()),
            (
                "device -> NumPy",
                lambda: xb.to_numpy(t),
                "t.detach().cpu().numpy()",
                lambda: t.detach().cpu().numpy(),
            ),
            (
                "NumPy -> device",
                lambda: xb.to_torch(a, device="cuda"),
                "torch.from_numpy(a).cuda()",
                lambda: torch.from_numpy(a).cuda(),
            ),
            (
                "NumPy -> device",
                lambda: xb.to_torch(a, device="cuda"),
                "torch.tensor(a, device='cuda')",
                lambda: torch.tensor(a, device="cuda"),
            ),
        ]
        for direction, ours, name, base in rows:
            ours(), base()  # warm up
            pairs = [(_time(ours, repeat), _time(base, repeat)) for _ in range(5)]
            o = statistics.median(p[0] for p in pairs)
            b = statistics.median(p[1] for p in pairs)
            print(
                f"| {direction} | {label} | {nbytes / o / 1e9:.1f} | `{name}` | {nbytes / b / 1e9:.1f} | {o / b:.2f} |"
            )
    from xpbridge._lib.staging import default_pool

    pool = default_pool()
    print(
        f"\npinned staging pool: {pool.allocated >> 20} MiB held (bound {pool.bound >> 20} MiB); "
        f"results are pageable: {not torch.from_numpy(xb.to_numpy(t)).is_pinned()}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
