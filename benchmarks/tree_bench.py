"""Tree benchmarks: convert_tree, plan_tree and compute_in against the fastest hand-written idiom.

Every row times two statements in the same process, interleaved over rounds
(ours, then the baseline, then ours ...; each the best of three timings), and
reports the median of the per-round ratios ``time(ours) / time(baseline)``
with their range.

- A 1,000-leaf dict of 8-element float32 arrays -> torch, against
  ``{k: torch.from_numpy(v) for k, v in d.items()}``: ``convert_tree``
  (target 1.3x), ``plan_tree`` (target 2x), and the peers autoray's ``to`` and
  scikit-learn's ``move_to`` (``sklearn.utils._array_api.move_to``: the
  function is in a private module of the released scikit-learn; its result,
  a tuple, is zipped back into a dict to give the same result).
- ``compute_in`` with three array arguments and three results, against the
  six conversions written by hand (target 1.5x): a NumPy caller computing in
  torch, and a torch caller computing in NumPy.

    python benchmarks/tree_bench.py                    # print the Markdown table
    python benchmarks/tree_bench.py --quick            # fewer rounds
    python benchmarks/tree_bench.py --markdown out.md  # also write it to a file
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import timeit
from dataclasses import dataclass, field
from typing import Any

# scikit-learn's array API support needs SciPy's, switched on before either is imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import torch

import xpbridge as xb


@dataclass
class Row:
    name: str
    ours: Any  # a callable with no arguments
    baseline: Any
    baseline_text: str
    target: float | None = None
    ratios: list[float] = field(default_factory=list)
    ours_us: list[float] = field(default_factory=list)
    base_us: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    def verdict(self) -> str:
        if self.target is None:
            return "peer"
        if self.median <= self.target:
            return f"meets ({self.target}x)"
        return f"misses {self.target}x by {self.median / self.target - 1:.0%}"


def _time(function: Any, number: int) -> float:
    # The best of three: on a shared machine the other two absorb load spikes.
    return min(timeit.repeat(function, number=number, repeat=3)) / number


def measure(row: Row, rounds: int, number: int) -> Row:
    for function in (row.ours, row.baseline):  # warm up: first calls prime caches
        _time(function, max(1, number // 5))
    for _ in range(rounds):
        ours = _time(row.ours, number)
        base = _time(row.baseline, number)
        row.ratios.append(ours / base)
        row.ours_us.append(ours * 1e6)
        row.base_us.append(base * 1e6)
    return row


def tree_rows(leaves: int) -> list[Row]:
    d = {f"layer{i}": np.zeros(8, np.float32) for i in range(leaves)}
    from_numpy = torch.from_numpy

    def by_hand() -> Any:
        return {k: from_numpy(v) for k, v in d.items()}

    rows = [
        Row("convert_tree(d, 'torch')", lambda: xb.convert_tree(d, "torch"), by_hand, "", 1.3),
        Row("plan_tree(d, 'torch')", lambda: xb.plan_tree(d, "torch"), by_hand, "", 2.0),
    ]
    try:
        import autoray

        rows.append(
            Row("autoray.to(d, like='torch')", lambda: autoray.to(d, like="torch"), by_hand, "")
        )
    except ImportError:
        print("autoray is not installed: its row is left out", file=sys.stderr)
    try:
        import sklearn
        import sklearn.externals.array_api_compat.torch as sklearn_torch
        from sklearn.utils._array_api import move_to

        cpu = torch.device("cpu")

        def sklearn_move_to() -> Any:
            with sklearn.config_context(array_api_dispatch=True):
                return dict(zip(d, move_to(*d.values(), xp=sklearn_torch, device=cpu), strict=True))

        rows.append(Row("sklearn move_to(*d.values())", sklearn_move_to, by_hand, ""))
    except ImportError:
        print("scikit-learn (with move_to) is not installed: its row is left out", file=sys.stderr)
    for row in rows:
        row.baseline_text = "{k: torch.from_numpy(v) for k, v in d.items()}"
    _check_tree_results(d, rows)
    return rows


def _check_tree_results(d: dict[str, Any], rows: list[Row]) -> None:
    """Every converting row gives the baseline's result: a dict of tensors over the same memory."""
    for row in rows:
        if row.name.startswith("plan_tree"):
            continue
        out = row.ours()
        assert list(out) == list(d), row.name
        for key in ("layer0", next(reversed(d))):
            assert isinstance(out[key], torch.Tensor), row.name
            assert out[key].dtype == torch.float32, row.name
            assert out[key].data_ptr() == d[key].__array_interface__["data"][0], row.name


def compute_in_rows() -> list[Row]:
    from_numpy = torch.from_numpy

    def body(x: Any, y: Any, z: Any) -> Any:
        return x, y, z

    a, b, c = (np.full(8, float(i), np.float32) for i in range(3))
    in_torch = xb.compute_in("torch")(body)

    def numpy_by_hand() -> Any:
        x, y, z = body(from_numpy(a), from_numpy(b), from_numpy(c))
        return x.numpy(), y.numpy(), z.numpy()

    t, u, v = (torch.full((8,), float(i)) for i in range(3))
    in_numpy = xb.compute_in("numpy")(body)

    def torch_by_hand() -> Any:
        x, y, z = body(t.numpy(), u.numpy(), v.numpy())
        return from_numpy(x), from_numpy(y), from_numpy(z)

    # The same result as the hand-written calls: the caller's type, over the caller's memory.
    for result, sources in ((in_torch(a, b, c), (a, b, c)), (in_numpy(t, u, v), (t, u, v))):
        for out, source in zip(result, sources, strict=True):
            assert type(out) is type(source)
            assert xb.shares_memory(out, source)
    return [
        Row(
            "compute_in('torch')(f)(a, b, c)",
            lambda: in_torch(a, b, c),
            numpy_by_hand,
            "f(from_numpy(a), from_numpy(b), from_numpy(c)), then .numpy() of each result",
            1.5,
        ),
        Row(
            "compute_in('numpy')(f)(t, u, v)",
            lambda: in_numpy(t, u, v),
            torch_by_hand,
            "f(t.numpy(), u.numpy(), v.numpy()), then from_numpy() of each result",
            1.5,
        ),
    ]


def table(rows: list[Row]) -> str:
    lines = [
        "| row | baseline | ours (µs) | baseline (µs) | ratio (median) | range | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| `{row.name}` | `{row.baseline_text}` | {statistics.median(row.ours_us):.1f} | "
        f"{statistics.median(row.base_us):.1f} | {row.median:.2f}x | "
        f"{min(row.ratios):.2f}-{max(row.ratios):.2f} | {row.verdict()} |"
        for row in rows
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke test)")
    parser.add_argument("--leaves", type=int, default=1000)
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args(argv)
    rounds = 5 if args.quick else 21
    rows = [measure(row, rounds, 10) for row in tree_rows(args.leaves)]
    rows += [measure(row, rounds, 1000) for row in compute_in_rows()]
    versions = ", ".join(
        f"{name} {module.__version__}"
        for name, module in (("xpbridge", xb), ("numpy", np), ("torch", torch))
    )
    extra = []
    for name in ("autoray", "sklearn"):
        module = sys.modules.get(name)
        if module is not None:
            extra.append(f"{name} {module.__version__}")
    head = (
        f"Python {platform.python_version()}, {', '.join([versions, *extra])}; "
        f"{rounds} interleaved rounds, {args.leaves}-leaf dict of 8 x float32.\n\n"
    )
    text = head + table(rows)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
