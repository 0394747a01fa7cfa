"""Ratio benchmarks: xpbridge against the raw upstream calls and the peers, in one process.

Every row times two statements interleaved over several rounds (ours, then
the baseline, then ours ...) and reports the median of the per-round ratios
``time(ours) / time(baseline)`` with the spread (min-max over rounds).  A
ratio of 1.3 means xpbridge takes 30% longer than the baseline; for copies,
"speed" is ``1 / ratio`` (>= 0.9x is the target).

    python benchmarks/bench.py                 # print the table
    python benchmarks/bench.py --markdown docs/performance-table.md --json out.json
    python benchmarks/bench.py --quick         # fewer rounds (smoke test)
    python benchmarks/bench.py --publish docs/performance   # the docs' table and plot
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import timeit
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import xpbridge as xb

MiB = 1 << 20


@dataclass
class Row:
    group: str
    name: str
    ours: str
    baseline: str
    ratios: list[float] = field(default_factory=list)
    ours_us: list[float] = field(default_factory=list)
    target: float | None = None  # the largest acceptable median ratio

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    def verdict(self) -> str:
        if self.target is None:
            return ""
        return (
            "meets"
            if self.median <= self.target
            else f"misses by {self.median / self.target - 1:.0%}"
        )


def _time(stmt: str, env: dict[str, Any], number: int) -> float:
    return timeit.timeit(stmt, globals=env, number=number) / number


def measure(row: Row, env: dict[str, Any], rounds: int, number: int) -> Row:
    for stmt in (row.ours, row.baseline):  # warm up: first calls prime caches
        _time(stmt, env, max(1, number // 10))
    for _ in range(rounds):
        ours = _time(row.ours, env, number)
        base = _time(row.baseline, env, number)
        row.ratios.append(ours / base)
        row.ours_us.append(ours * 1e6)
    return row


def small_rows() -> tuple[list[Row], dict[str, Any]]:
    a = np.arange(8, dtype=np.float32)
    t = torch.arange(8, dtype=torch.float32)
    env = {
        "xb": xb,
        "np": np,
        "torch": torch,
        "a": a,
        "t": t,
        "to_torch": xb.to_torch,
        "to_numpy": xb.to_numpy,
        "from_numpy": torch.from_numpy,
    }
    rows = [
        Row(
            "zero-copy 8 x float32",
            "to_torch(a) / torch.from_numpy(a)",
            "to_torch(a)",
            "from_numpy(a)",
            target=1.3,
        ),
        Row(
            "zero-copy 8 x float32",
            "convert(a, 'torch') / torch.from_numpy(a)",
            "xb.convert(a, 'torch')",
            "from_numpy(a)",
        ),
        Row(
            "zero-copy 8 x float32",
            "to_torch(a) / torch.as_tensor(a)",
            "to_torch(a)",
            "torch.as_tensor(a)",
        ),
        Row(
            "zero-copy 8 x float32",
            "to_torch(a) / torch.from_dlpack(a)",
            "to_torch(a)",
            "torch.from_dlpack(a)",
        ),
        Row(
            "zero-copy 8 x float32",
            "to_numpy(t) / t.numpy()",
            "to_numpy(t)",
            "t.numpy()",
            target=1.3,
        ),
        Row(
            "zero-copy 8 x float32",
            "convert(t, 'numpy') / t.numpy()",
            "xb.convert(t, 'numpy')",
            "t.numpy()",
        ),
        Row("zero-copy 8 x float32", "to_numpy(t) / np.asarray(t)", "to_numpy(t)", "np.asarray(t)"),
        Row(
            "zero-copy 8 x float32",
            "to_numpy(t) / np.from_dlpack(t)",
            "to_numpy(t)",
            "np.from_dlpack(t)",
        ),
        Row(
            "planning",
            "plan(a, 'torch') / torch.from_numpy(a)",
            "xb.plan(a, 'torch')",
            "from_numpy(a)",
        ),
        Row(
            "planning",
            "to_torch(a, copy=False) / torch.from_numpy(a)",
            "to_torch(a, copy=False)",
            "from_numpy(a)",
        ),
    ]
    try:
        import autoray

        env["autoray"] = autoray
        rows += [
            Row(
                "peers",
                "autoray.do('asarray', a, like='torch') / from_numpy(a)",
                "autoray.do('asarray', a, like='torch')",
                "from_numpy(a)",
            ),
            Row("peers", "autoray.to_numpy(t) / t.numpy()", "autoray.to_numpy(t)", "t.numpy()"),
        ]
    except ImportError:
        print("peers: autoray not installed, its rows are skipped", file=sys.stderr)
    try:
        import arraybridge

        env["ab"] = arraybridge
        rows += [
            Row(
                "peers",
                "arraybridge.convert_memory(a -> torch) / from_numpy(a)",
                "ab.convert_memory(a, 'numpy', 'torch', ab.HOST)",
                "from_numpy(a)",
            ),
            Row(
                "peers",
                "arraybridge.convert_memory(t -> numpy) / t.numpy()",
                "ab.convert_memory(t, 'torch', 'numpy', ab.HOST)",
                "t.numpy()",
            ),
        ]
    except ImportError:
        print("peers: arraybridge not installed, its rows are skipped", file=sys.stderr)
    return rows, env


def copy_rows(size: int) -> tuple[list[Row], dict[str, Any]]:
    n = size // 4
    a = np.arange(n, dtype=np.float32)
    readonly = a.copy()
    readonly.flags.writeable = False
    grad = torch.arange(n, dtype=torch.float32, requires_grad=True)
    label = f"copy {size // MiB} MiB"
    env = {"xb": xb, "np": np, "torch": torch, "rev": a[::-1], "ro": readonly, "a": a, "g": grad}
    rows = [
        Row(
            label,
            "to_torch(a[::-1]) / from_numpy(a[::-1].copy())",
            "xb.to_torch(rev)",
            "torch.from_numpy(rev.copy())",
            target=1 / 0.9,
        ),
        Row(
            label,
            "to_torch(read-only) / from_numpy(ro.copy())",
            "xb.to_torch(ro)",
            "torch.from_numpy(ro.copy())",
            target=1 / 0.9,
        ),
        Row(
            label,
            "to_numpy(grad, copy=True) / g.detach().clone().numpy()",
            "xb.to_numpy(g, copy=True)",
            "g.detach().clone().numpy()",
            target=1 / 0.9,
        ),
        Row(
            label,
            "to_torch(a, dtype=float64) / from_numpy(a).to(float64)",
            "xb.to_torch(a, dtype='float64')",
            "torch.from_numpy(a).to(torch.float64)",
            target=1 / 0.9,
        ),
        Row(
            label,
            "to_numpy(g, dtype=float16) / g.detach().numpy().astype(f2)",
            "xb.to_numpy(g, dtype='float16')",
            "g.detach().numpy().astype(np.float16)",
            target=1 / 0.9,
        ),
    ]
    return rows, env


def import_cost(runs: int) -> dict[str, Any]:
    def wall(code: str) -> float:
        times = []
        for _ in range(runs):
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)",
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            times.append(float(out.stdout))
        return statistics.median(times)

    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, xpbridge; print(sorted({'numpy', 'torch'} & set(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return {
        "import_xpbridge_ms": wall("import xpbridge") * 1e3,
        "import_numpy_ms": wall("import numpy") * 1e3,
        "frameworks_imported": probe.stdout.strip(),
    }


def run(quick: bool) -> tuple[list[Row], dict[str, Any]]:
    rounds, number = (5, 2000) if quick else (21, 5000)
    rows, env = small_rows()
    results = [measure(r, env, rounds, number) for r in rows]
    for size, count in ((MiB, 50), (64 * MiB, 3)):
        rows, env = copy_rows(size)
        results += [measure(r, env, max(3, rounds // 3), count) for r in rows]
    return results, import_cost(5 if quick else 15)


def markdown(rows: list[Row], imports: dict[str, Any]) -> str:
    machine = (
        f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
        f"Python {platform.python_version()}, NumPy {np.__version__}, "
        f"torch {torch.__version__}, xpbridge {xb.__version__}."
    )
    lines = [
        machine,
        "",
        "| group | ours / baseline | median ratio | spread | ours (µs) | target |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        target = "" if r.target is None else f"<= {r.target:.2f}: {r.verdict()}"
        lines.append(
            f"| {r.group} | `{r.name}` | {r.median:.2f} | {min(r.ratios):.2f}-{max(r.ratios):.2f} "
            f"| {statistics.median(r.ours_us):.2f} | {target} |"
        )
    imported = (
        f"`import xpbridge`: {imports['import_xpbridge_ms']:.1f} ms in a fresh interpreter "
        f"(`import numpy`: {imports['import_numpy_ms']:.1f} ms); "
        f"frameworks imported: {imports['frameworks_imported']}."
    )
    lines += ["", imported]
    return "\n".join(lines) + "\n"


def plot(rows: list[Row], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 0.32 * len(rows) + 1.2))
    names = [f"{r.group}: {r.name}" for r in rows]
    medians = [r.median for r in rows]
    low = [r.median - min(r.ratios) for r in rows]
    high = [max(r.ratios) - r.median for r in rows]
    colors = [
        "tab:green" if r.target and r.median <= r.target else "tab:red" if r.target else "tab:gray"
        for r in rows
    ]
    ax.barh(range(len(rows)), medians, xerr=[low, high], color=colors, alpha=0.8)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.axvline(1.3, color="tab:orange", lw=0.8, ls="--", label="1.3x (zero-copy target)")
    ax.axvline(1 / 0.9, color="tab:blue", lw=0.8, ls=":", label="1/0.9 (copy target)")
    ax.set_yticks(range(len(rows)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("time(xpbridge) / time(baseline), median over rounds (log scale)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--markdown")
    parser.add_argument("--json")
    parser.add_argument(
        "--publish", metavar="DIR", help="write DIR/table.md, DIR/ratios.png, DIR/results.json"
    )
    args = parser.parse_args(argv)
    rows, imports = run(args.quick)
    text = markdown(rows, imports)
    print(text)
    if args.publish:
        args.markdown = f"{args.publish}/table.md"
        args.json = f"{args.publish}/results.json"
        plot(rows, f"{args.publish}/ratios.png")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": [r.__dict__ for r in rows], "imports": imports}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
