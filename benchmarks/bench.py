"""Ratio benchmarks: xpbridge against the fastest idiom a user could type for the same result.

Each row times xpbridge's call and every idiom that gives the same result
(same type, dtype, shape and values: checked before timing), interleaved in
one process: each round times every statement once, in alternating order.
The baseline of a row is the idiom with the lowest median time, and the
row's ratio is the median over rounds of ``time(ours) / time(baseline)``
(1.3 means xpbridge takes 30% longer).  The other idioms are shown with
their time relative to the fastest, so no baseline flatters xpbridge.

    python benchmarks/bench.py                  # print the table
    python benchmarks/bench.py --quick          # fewer rounds (a smoke test)
    python benchmarks/bench.py --publish docs/performance
        # writes table.md (with the copy-bandwidth table of copy_bandwidth.py),
        # ratios.png and results.json: the docs' performance page

Peers (autoray, arraybridge, array-api-compat, scikit-learn's ``move_to``)
are rows of their own, against the same fastest idioms; they are skipped
when not installed.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import timeit
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import floors  # beside this file: the pure-Python floor of the fast paths
import numpy as np
import torch

import xpbridge as xb
from xpbridge._lib import copy_engine as _copy

MiB = 1 << 20
# The share of the bytes copied that one timing of a copy row covers.
COPY_BYTES_PER_TIMING = 64 * MiB
# More than xpbridge's copy engine needs to settle: every engine's untimed and
# timed copies of a size class, three engines at most.
WARM_UP_CALLS = (_copy.WARMUP + _copy.SAMPLES) * len(_copy.ENGINES) + 1


@dataclass
class Row:
    group: str
    name: str  # the call, as the table shows it
    ours: str
    idioms: dict[str, str]  # label -> statement: ways to get the same result
    target: float | None = None  # the largest acceptable median ratio
    number: int = 5000  # calls per timing
    same_result: bool = True  # False: ours plans, the idioms convert (a planning row)
    # Idioms timed and shown but never the baseline: label -> why their result differs.
    differs: dict[str, str] = field(default_factory=dict)
    times: dict[str, list[float]] = field(default_factory=dict)  # statement -> seconds per call
    warns: list[str] = field(default_factory=list)  # idioms that warn (timed all the same)
    # The idiom the target is stated against, when it is not the fastest one
    # (the protocol targets are "within 2x of from_dlpack"); the ratio
    # against the fastest idiom is shown all the same.
    target_against: str | None = None
    # A spelling row: the default spelling of the same conversion, timed in the
    # same rounds (never a baseline), and the largest acceptable ratio to it.
    default: str | None = None
    default_target: float = 1.3

    def median(self, statement: str) -> float:
        return statistics.median(self.times[statement])

    @property
    def baseline(self) -> str:
        """The label of the fastest idiom that gives the same result."""
        same = [label for label in self.idioms if label not in self.differs]
        return min(same, key=lambda label: self.median(self.idioms[label]))

    @property
    def ratios(self) -> list[float]:
        base = self.times[self.idioms[self.baseline]]
        return [o / b for o, b in zip(self.times[self.ours], base, strict=True)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    def quartiles(self, label: str | None = None) -> tuple[float, float]:
        """The quartiles of the ratios against the idiom ``label`` (default: the fastest)."""
        base = self.times[self.idioms[label or self.baseline]]
        ratios = [o / b for o, b in zip(self.times[self.ours], base, strict=True)]
        q = statistics.quantiles(ratios, n=4)
        return q[0], q[2]

    def ratio_to(self, label: str) -> float:
        """The median over rounds of time(ours) / time(the idiom ``label``)."""
        base = self.times[self.idioms[label]]
        return statistics.median(o / b for o, b in zip(self.times[self.ours], base, strict=True))

    @property
    def target_ratio(self) -> float:
        """The ratio the target is judged on."""
        return self.ratio if self.target_against is None else self.ratio_to(self.target_against)

    @property
    def default_ratio(self) -> float:
        """The median over rounds of time(ours) / time(the default spelling)."""
        assert self.default is not None
        return statistics.median(
            o / d for o, d in zip(self.times[self.ours], self.times[self.default], strict=True)
        )

    def verdict(self) -> str:
        if self.target is None:
            return ""
        misses = []
        ratio = self.target_ratio
        if ratio > self.target:
            misses.append(f"missed by {ratio / self.target - 1:.0%}")
        if self.default is not None and self.default_ratio > self.default_target:
            misses.append(
                f"{self.default_ratio:.2f}x the default spelling: missed by "
                f"{self.default_ratio / self.default_target - 1:.0%}"
            )
        return "; ".join(misses) or "met"

    def target_text(self) -> str:
        if self.target is None:
            return ""
        if self.default is not None:
            return (
                f"<= {self.target:g}, and <= {self.default_target:g}x `{self.default}` "
                f"({self.default_ratio:.2f}): {self.verdict()}"
            )
        if self.target_against is None:
            return f"<= {self.target:g}: {self.verdict()}"
        return (
            f"<= {self.target:g} against `{self.target_against}`: "
            f"{self.target_ratio:.2f}, {self.verdict()}"
        )


def _same_result(ours: Any, theirs: Any) -> str:
    """Why two results differ ("" when they are the same result)."""
    if type(ours) is not type(theirs):
        return f"type {type(theirs).__name__} != {type(ours).__name__}"
    if isinstance(ours, (tuple, list)):
        if len(ours) != len(theirs):
            return f"{len(theirs)} items != {len(ours)}"
        return next(filter(None, map(_same_result, ours, theirs)), "")
    if isinstance(ours, dict):
        if list(ours) != list(theirs):
            return "different keys"
        return next(filter(None, map(_same_result, ours.values(), theirs.values())), "")
    if isinstance(ours, torch.Tensor):
        ours, theirs = ours.detach().resolve_conj().numpy(), theirs.detach().numpy()
    if ours.dtype != theirs.dtype or ours.shape != theirs.shape:
        return f"{theirs.dtype}{theirs.shape} != {ours.dtype}{ours.shape}"
    if not np.array_equal(ours.view(np.uint8), theirs.view(np.uint8)):
        return "different values"
    return ""


def _time(timer: timeit.Timer, number: int) -> float:
    """Seconds per call: timeit's compiled loop, whose own cost per call (a
    ``for`` step, tens of nanoseconds) is all that both sides of a ratio share;
    an ``eval`` per call would add a constant that flatters every ratio."""
    return timer.timeit(number) / number


def measure(row: Row, env: dict[str, Any], rounds: int) -> Row:
    statements = [row.ours, *row.idioms.values()]
    if row.default is not None and row.default not in statements:
        statements.append(row.default)
    codes = {s: compile(s, "<bench>", "eval") for s in statements}
    timers = {s: timeit.Timer(s, globals=env) for s in statements}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = eval(codes[row.ours], env)  # xpbridge never warns
    for label, statement in row.idioms.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            theirs = eval(codes[statement], env)
        if caught:
            row.warns.append(label)
        why = _same_result(ours, theirs) if row.same_result else ""
        if why:
            raise AssertionError(f"{row.name}: {label} is not the same result: {why}")
    # Warm up: first calls fill caches, and xpbridge's copy engine tries its
    # engines on the first copies of a size class (src/xpbridge/_copy.py:
    # WARMUP untimed and SAMPLES timed copies each) before it settles.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for statement in statements:
            _time(timers[statement], max(WARM_UP_CALLS, row.number // 10))
        row.times = {s: [] for s in statements}
        for i in range(rounds):
            for statement in statements if i % 2 == 0 else statements[::-1]:
                row.times[statement].append(_time(timers[statement], row.number))
    return row


ZERO_COPY_TORCH = {
    "torch.from_numpy(a)": "from_numpy(a)",
    "torch.as_tensor(a)": "as_tensor(a)",
    "torch.asarray(a)": "asarray(a)",
    "torch.from_dlpack(a)": "from_dlpack(a)",
}
ZERO_COPY_NUMPY = {
    "t.numpy()": "t.numpy()",
    "np.asarray(t)": "np.asarray(t)",
    "np.from_dlpack(t)": "np.from_dlpack(t)",
}


def _env() -> dict[str, Any]:
    return {
        "np": np,
        "torch": torch,
        "xb": xb,
        "to_torch": xb.to_torch,
        "to_numpy": xb.to_numpy,
        "convert": xb.convert,
        "plan": xb.plan,
        "from_numpy": torch.from_numpy,
        "from_dlpack": torch.from_dlpack,
        "as_tensor": torch.as_tensor,
        "asarray": torch.asarray,
        "floor_to_torch": floors.floor_to_torch,
        "floor_to_numpy": floors.floor_to_numpy,
        "floor_convert": floors.floor_convert,
    }


def small_rows() -> tuple[list[Row], dict[str, Any]]:
    env = _env()
    env["a"] = np.arange(8, dtype=np.float32)
    env["t"] = torch.arange(8, dtype=torch.float32)
    group = "zero-copy, 8 x float32"
    rows = [
        Row(group, "to_torch(a)", "to_torch(a)", ZERO_COPY_TORCH, 1.2),
        Row(group, "to_numpy(t)", "to_numpy(t)", ZERO_COPY_NUMPY, 1.2),
        Row(group, "convert(a, 'torch')", "convert(a, 'torch')", ZERO_COPY_TORCH, 1.3),
        Row(group, "convert(t, 'numpy')", "convert(t, 'numpy')", ZERO_COPY_NUMPY, 1.3),
        # The floor under the fast paths (benchmarks/floors.py): a pure-Python
        # function with the same signature and only the checks the contract
        # needs.  No target: they show how much of a target is left at all.
        Row("floors", "floor_to_torch(a)", "floor_to_torch(a)", ZERO_COPY_TORCH),
        Row("floors", "floor_to_numpy(t)", "floor_to_numpy(t)", ZERO_COPY_NUMPY),
        Row("floors", "floor_convert(a, 'torch')", "floor_convert(a, 'torch')", ZERO_COPY_TORCH),
        Row("floors", "floor_convert(t, 'numpy')", "floor_convert(t, 'numpy')", ZERO_COPY_NUMPY),
        Row(
            "planning",
            "plan(a, 'torch')",
            "plan(a, 'torch')",
            ZERO_COPY_TORCH,
            2.0,
            same_result=False,
        ),
        Row(
            "planning",
            "plan(t, 'numpy')",
            "plan(t, 'numpy')",
            ZERO_COPY_NUMPY,
            2.0,
            same_result=False,
        ),
        Row(
            "planning",
            "to_torch(a, copy=False)",
            "to_torch(a, copy=False)",
            {"torch.from_numpy(a)": "from_numpy(a)"},
        ),
    ]
    try:
        import array_api_strict

        env["x"] = array_api_strict.asarray(np.arange(8, dtype=np.float32))
        group = "protocols, array-api-strict 8 x float32"
        rows += [
            Row(
                group,
                "to_numpy(strict_array)",
                "to_numpy(x)",
                {"np.from_dlpack(x)": "np.from_dlpack(x)", "np.asarray(x)": "np.asarray(x)"},
                2.0,
                target_against="np.from_dlpack(x)",
            ),
            Row(
                group,
                "to_torch(strict_array)",
                "to_torch(x)",
                {
                    "torch.from_dlpack(x)": "from_dlpack(x)",
                    "torch.asarray(x)": "asarray(x)",
                    # Python 3.11: array-api-strict's __array__ hands over its ndarray.
                    "torch.from_numpy(np.asarray(x))": "from_numpy(np.asarray(x))",
                },
                2.0,
                target_against="torch.from_dlpack(x)",
            ),
        ]
    except ImportError:
        print("array_api_strict not installed: its rows are skipped", file=sys.stderr)
    return rows + spelling_rows(env) + tree_rows(env) + peer_rows(env), env


def spelling_rows(env: dict[str, Any]) -> list[Row]:
    """Every way backend-agnostic code spells a zero-copy conversion, against the raw idiom.

    Targets: within 2x of the fastest raw idiom for the same result, and
    within 1.3x of the default spelling's own time (``to_torch(a)``,
    ``to_numpy(t)``), timed in the same rounds.
    """
    import array_api_compat

    env["xp"] = array_api_compat.array_namespace(env["t"])
    env["xpn"] = array_api_compat.array_namespace(env["a"])
    group = "spellings, 8 x float32"
    to_torch = {
        "to_torch(a, copy=False)": "to_torch(a, copy=False)",
        "to_torch(a, dtype='float32')": "to_torch(a, dtype='float32')",
        "to_torch(a, dtype=torch.float32)": "to_torch(a, dtype=torch.float32)",
        "to_torch(a, device='cpu')": "to_torch(a, device='cpu')",
        "convert(a, torch)": "convert(a, torch)",
        "convert(a, t)": "convert(a, t)",
        "convert(a, array_namespace(t))": "convert(a, xp)",
        "convert(a, xp, device=t.device, copy=False)": "convert(a, xp, device=t.device, copy=False)",
    }
    to_numpy = {
        "to_numpy(t, copy=False)": "to_numpy(t, copy=False)",
        "to_numpy(t, grad='raise')": "to_numpy(t, grad='raise')",
        "convert(t, np)": "convert(t, np)",
        "convert(t, array_namespace(a))": "convert(t, xpn)",
        "convert(t, a)": "convert(t, a)",
        "convert(t, xpn, device='cpu', copy=False)": "convert(t, xpn, device='cpu', copy=False)",
    }
    rows = [
        Row(group, name, ours, ZERO_COPY_TORCH, 2.0, default="to_torch(a)")
        for name, ours in to_torch.items()
    ]
    rows += [
        Row(group, name, ours, ZERO_COPY_NUMPY, 2.0, default="to_numpy(t)")
        for name, ours in to_numpy.items()
    ]
    try:
        import jax.numpy as jnp

        env["j"] = jnp.arange(8, dtype=jnp.float32)
        rows.append(
            Row(
                group, "to_numpy(jax_array)", "to_numpy(j)", {"np.asarray(j)": "np.asarray(j)"}, 2.0
            )
        )
    except ImportError:
        print("jax not installed: its row is skipped", file=sys.stderr)
    return rows


def tree_rows(env: dict[str, Any]) -> list[Row]:
    """Trees and compute_in in every spelling, against the conversions written out."""
    import array_api_compat

    env["d"] = {f"w{i}": np.arange(8, dtype=np.float32) for i in range(1000)}
    env["xp"] = array_api_compat.array_namespace(env["t"])
    group = "trees, 1,000 x 8 float32"
    by_hand = {
        "{k: torch.from_numpy(v) for k, v in d.items()}": "{k: from_numpy(v) for k, v in d.items()}"
    }
    rows = [
        Row(
            group,
            "convert_tree(d, 'torch')",
            "xb.convert_tree(d, 'torch')",
            by_hand,
            1.3,
            number=20,
        ),
    ]
    rows += [
        Row(group, name, ours, by_hand, 1.3, number=20, default="xb.convert_tree(d, 'torch')")
        for name, ours in {
            "convert_tree(d, 'torch', copy=False)": "xb.convert_tree(d, 'torch', copy=False)",
            "convert_tree(d, array_namespace(t))": "xb.convert_tree(d, xp)",
            "convert_tree(d, t, copy=False)": "xb.convert_tree(d, t, copy=False)",
        }.items()
    ]

    def body(x: Any, y: Any, z: Any) -> Any:
        return x, y, z

    env["body"] = body
    env["b"], env["c"] = np.arange(8, dtype=np.float32), np.arange(8, dtype=np.float32)
    env["in_torch"] = xb.compute_in("torch")(body)
    env["in_xp"] = xb.compute_in(env["xp"], device="cpu")(body)
    env["in_numpy"] = xb.compute_in("numpy")(body)
    env["u"], env["v"] = torch.arange(8.0), torch.arange(8.0)
    group = "compute_in, 3 arrays in and out"
    numpy_caller = {
        "f(from_numpy(a), ...), then .numpy() of each result": (
            "tuple(r.numpy() for r in body(from_numpy(a), from_numpy(b), from_numpy(c)))"
        )
    }
    torch_caller = {
        "f(t.numpy(), ...), then from_numpy() of each result": (
            "tuple(map(from_numpy, body(t.numpy(), u.numpy(), v.numpy())))"
        )
    }
    rows += [
        Row(group, "compute_in('torch')(f)(a, b, c)", "in_torch(a, b, c)", numpy_caller, 2.0),
        Row(
            group,
            "compute_in(array_namespace(t), device='cpu')(f)(a, b, c)",
            "in_xp(a, b, c)",
            numpy_caller,
            2.0,
            default="in_torch(a, b, c)",
        ),
        Row(group, "compute_in('numpy')(f)(t, u, v)", "in_numpy(t, u, v)", torch_caller, 2.0),
    ]
    return rows


def peer_rows(env: dict[str, Any]) -> list[Row]:
    rows = []
    try:
        import autoray

        env["autoray"] = autoray
        rows += [
            Row(
                "peers",
                "autoray.do('asarray', a, like='torch')",
                "autoray.do('asarray', a, like='torch')",
                ZERO_COPY_TORCH,
            ),
            Row("peers", "autoray.to_numpy(t)", "autoray.to_numpy(t)", ZERO_COPY_NUMPY),
        ]
    except ImportError:
        print("autoray not installed: its rows are skipped", file=sys.stderr)
    try:
        import arraybridge

        env["ab"] = arraybridge
        rows += [
            Row(
                "peers",
                "arraybridge.convert_memory(a -> torch)",
                "ab.convert_memory(a, 'numpy', 'torch', ab.HOST)",
                ZERO_COPY_TORCH,
            ),
            Row(
                "peers",
                "arraybridge.convert_memory(t -> numpy)",
                "ab.convert_memory(t, 'torch', 'numpy', ab.HOST)",
                ZERO_COPY_NUMPY,
            ),
        ]
    except ImportError:
        print("arraybridge not installed: its rows are skipped", file=sys.stderr)
    try:
        import array_api_compat

        env["xp_torch"] = array_api_compat.array_namespace(env["t"])
        env["xp_numpy"] = array_api_compat.array_namespace(env["a"])
        rows += [
            Row(
                "peers",
                "array_api_compat.torch.asarray(a)",
                "xp_torch.asarray(a)",
                ZERO_COPY_TORCH,
            ),
            Row(
                "peers",
                "array_api_compat.numpy.asarray(t)",
                "xp_numpy.asarray(t)",
                ZERO_COPY_NUMPY,
            ),
        ]
        from sklearn.utils._array_api import move_to

        env["move_to"] = move_to
        rows += [
            Row(
                "peers",
                "scikit-learn move_to(a, xp=torch namespace)",
                "move_to(a, xp=xp_torch, device='cpu')",
                ZERO_COPY_TORCH,
            ),
            Row(
                "peers",
                "scikit-learn move_to(t, xp=numpy namespace)",
                "move_to(t, xp=xp_numpy, device='cpu')",
                ZERO_COPY_NUMPY,
            ),
        ]
    except ImportError:
        print("array-api-compat or scikit-learn missing: their rows are skipped", file=sys.stderr)
    return rows


def copy_rows(size: int) -> tuple[list[Row], dict[str, Any]]:
    n = size // 4
    values = np.random.default_rng(0).standard_normal(n, dtype=np.float32)  # in float16's range
    readonly = values.copy()
    readonly.flags.writeable = False
    env = _env()
    env |= {
        "a": values,
        "rev": values.copy()[::-1],
        "ro": readonly,
        "tg": torch.from_numpy(values.copy()).requires_grad_(),
    }
    group = f"copies, {size // MiB} MiB float32"
    number = max(1, COPY_BYTES_PER_TIMING // size)
    rows = [
        Row(
            group,
            "to_numpy(tg, copy=True), tg requires grad",
            "to_numpy(tg, copy=True)",
            {
                "tg.detach().numpy().copy()": "tg.detach().numpy().copy()",
                "np.array(tg.detach().numpy())": "np.array(tg.detach().numpy())",
                "np.copy(tg.detach().numpy())": "np.copy(tg.detach().numpy())",
                "tg.detach().clone().numpy()": "tg.detach().clone().numpy()",
                "torch.from_numpy(np.empty(n)).copy_(tg.detach()).numpy()": (
                    "from_numpy(np.empty(tg.shape, np.float32)).copy_(tg.detach()).numpy()"
                ),
            },
            1.1,
            number,
        ),
        Row(
            group,
            "to_torch(a[::-1])",
            "to_torch(rev)",
            {
                "torch.from_numpy(a[::-1].copy())": "from_numpy(rev.copy())",
                "torch.from_numpy(np.ascontiguousarray(a[::-1]))": (
                    "from_numpy(np.ascontiguousarray(rev))"
                ),
                "torch.from_numpy(a).flip(0)": "from_numpy(rev[::-1]).flip(0)",
            },
            1.1,
            number,
        ),
        Row(
            group,
            "to_torch(ro), ro read-only",
            "to_torch(ro)",
            {
                "torch.from_numpy(ro.copy())": "from_numpy(ro.copy())",
                "torch.asarray(ro, copy=True)": "asarray(ro, copy=True)",
                "torch.tensor(ro)": "torch.tensor(ro)",
                "torch.from_numpy(np.empty_like(ro)).copy_(torch.from_dlpack(ro))": (
                    "from_numpy(np.empty_like(ro)).copy_(from_dlpack(ro))"
                ),
            },
            1.1,
            number,
        ),
        Row(
            group,
            "to_torch(a, dtype='float64')",
            "to_torch(a, dtype='float64')",
            {
                "torch.from_numpy(a).to(torch.float64)": "from_numpy(a).to(torch.float64)",
                "torch.from_numpy(a.astype(np.float64))": "from_numpy(a.astype(np.float64))",
                "torch.asarray(a, dtype=torch.float64)": "asarray(a, dtype=torch.float64)",
                "torch.from_numpy(np.empty(n, np.float64)).copy_(torch.from_numpy(a))": (
                    "from_numpy(np.empty(a.shape, np.float64)).copy_(from_numpy(a))"
                ),
            },
            1.1,
            number,
        ),
        Row(
            group,
            "to_numpy(tg, dtype='float16')",
            "to_numpy(tg, dtype='float16')",
            {
                "tg.detach().numpy().astype(np.float16)": "tg.detach().numpy().astype(np.float16)",
                "tg.detach().to(torch.float16).numpy()": "tg.detach().to(torch.float16).numpy()",
            },
            1.1,
            number,
            # The contract casts in the target library (NumPy's astype); torch's cast
            # quiets signalling NaNs, NumPy's keeps them (float32 0x7f800001 becomes
            # float16 0x7c01 in NumPy, 0x7e00 in torch).
            differs={
                "tg.detach().to(torch.float16).numpy()": "torch's cast quiets signalling NaNs"
            },
        ),
    ]
    return rows, env


def run(quick: bool, only: str = "") -> tuple[list[Row], dict[str, Any]]:
    rounds = 5 if quick else 21
    rows, env = small_rows()
    results = [measure(r, env, rounds) for r in rows if r.group.startswith(only)]
    for size in (MiB, 64 * MiB):
        rows, env = copy_rows(size)
        results += [measure(r, env, rounds) for r in rows if r.group.startswith(only)]
    return results, import_cost(5 if quick else 15)


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


def machine() -> str:
    return (
        f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
        f"Python {platform.python_version()}, NumPy {np.__version__}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"xpbridge {xb.__version__}."
    )


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.2f}" if seconds < 1e-4 else f"{seconds * 1e6:,.0f}"


def markdown(rows: list[Row], imports: dict[str, Any]) -> str:
    lines = [
        machine(),
        "",
        (
            "Ratio: median over interleaved rounds of time(xpbridge) / time(fastest idiom); "
            "IQR and min-max are over the same rounds. Other idioms: their median time as a "
            "multiple of the fastest one's."
        ),
        "",
        (
            "| group | call | fastest idiom (baseline) | ratio | IQR | min-max | xpbridge (µs) "
            "| target | other idioms (times the fastest) |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        base = r.median(r.idioms[r.baseline])
        low, high = r.quartiles()
        others = ", ".join(
            f"`{label}` {r.median(s) / base:.2f}"
            + (" (warns)" if label in r.warns else "")
            + (f" (not the same result: {r.differs[label]})" if label in r.differs else "")
            for label, s in r.idioms.items()
            if label != r.baseline
        )
        target = r.target_text()
        lines.append(
            f"| {r.group} | `{r.name}` | `{r.baseline}` | **{r.ratio:.2f}** | {low:.2f}-{high:.2f} "
            f"| {min(r.ratios):.2f}-{max(r.ratios):.2f} | {_us(r.median(r.ours))} | {target} "
            f"| {others} |"
        )
    lines += [
        "",
        (
            f"`import xpbridge`: {imports['import_xpbridge_ms']:.1f} ms in a fresh interpreter "
            f"(`import numpy`: {imports['import_numpy_ms']:.1f} ms); "
            f"frameworks imported: {imports['frameworks_imported']}."
        ),
    ]
    return "\n".join(lines) + "\n"


# Docs: furo's content column is 46em (736 px); the figure is scaled down to it.
# A font of F points on a figure W inches wide shows at F / 72 * 736 / W px.
FIGURE_WIDTH_IN = 11.0
FONT_PT = 13.0  # shows at 12 px in the docs


def plot(rows: list[Row], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    plt.rcParams.update({"font.size": FONT_PT})
    height = 0.42 * len(rows) + 2.0
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, height), layout="constrained")
    # A row whose target is stated against another idiom is drawn against that one.
    names = [
        f"{r.name}  [{_short(r.group)}]"
        + ("" if r.target_against is None else f" vs {r.target_against}")
        for r in rows
    ]
    medians = [r.target_ratio for r in rows]
    quartiles = [r.quartiles(r.target_against) for r in rows]
    err = [[m - q[0] for m, q in zip(medians, quartiles, strict=True)]]
    err.append([q[1] - m for m, q in zip(medians, quartiles, strict=True)])
    colors = [
        "tab:gray" if r.target is None else "tab:green" if r.verdict() == "met" else "tab:red"
        for r in rows
    ]
    y = range(len(rows))
    ax.barh(y, medians, xerr=err, color=colors, alpha=0.85, capsize=3)
    for i, r in enumerate(rows):
        if r.target is not None:
            ax.plot([r.target, r.target], [i - 0.45, i + 0.45], color="black", lw=2.5)
    ax.axvline(1.0, color="tab:blue", lw=1.2, ls="--")
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("time(xpbridge) / time(fastest idiom), log scale; whiskers: IQR")
    fig.suptitle("xpbridge against the fastest idiom for the same result", x=0.02, ha="left")
    fig.legend(
        handles=[
            Patch(color="tab:green", label="target met"),
            Patch(color="tab:red", label="target missed"),
            Patch(color="tab:gray", label="no target (peers, extra rows)"),
            Line2D([], [], color="black", lw=2.5, label="target of the row"),
            Line2D([], [], color="tab:blue", lw=1.2, ls="--", label="as fast as the idiom"),
        ],
        loc="outside lower center",
        ncols=3,
    )
    fig.savefig(path, dpi=100)


def _short(group: str) -> str:
    """ "copies, 64 MiB float32" -> "copy 64 MiB"; "zero-copy, 8 x float32" -> "zero-copy"."""
    head, _, rest = group.partition(", ")
    if head == "copies":
        return "copy " + " ".join(rest.split()[:2])
    return head


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke test)")
    parser.add_argument("--only", default="", help="only the groups that start with this")
    parser.add_argument(
        "--torch-threads", type=int, help="torch.set_num_threads(N) first (default: torch's)"
    )
    parser.add_argument("--markdown", help="write the table to this file")
    parser.add_argument("--json", help="write every timing to this file")
    parser.add_argument(
        "--publish",
        metavar="DIR",
        help="write DIR/table.md (with the copy bandwidth), DIR/ratios.png, DIR/results.json",
    )
    args = parser.parse_args(argv)
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    rows, imports = run(args.quick, args.only)
    text = markdown(rows, imports)
    print(text)
    if args.publish:
        import copy_bandwidth

        bandwidth = copy_bandwidth.markdown(copy_bandwidth.run(args.quick))
        print(bandwidth)
        text += "\n## Copy bandwidth\n\n" + bandwidth
        args.markdown = f"{args.publish}/table.md"
        args.json = f"{args.publish}/results.json"
        plot(rows, f"{args.publish}/ratios.png")
    if args.markdown:
        Path(args.markdown).write_text(text)
    if args.json:
        data = {
            "machine": machine(),
            "rows": [
                {
                    "group": r.group,
                    # "ours / theirs", as docs/_ext/comparison.py reads it
                    "name": f"{r.name} / {r.baseline}",
                    "call": r.name,
                    "ours": r.ours,
                    "idioms": r.idioms,
                    "baseline": r.baseline,
                    "ratios": r.ratios,
                    "ratio": r.ratio,
                    "target": r.target,
                    "target_against": r.target_against,
                    "target_ratio": r.target_ratio,
                    "seconds": r.times,
                    "warns": r.warns,
                    "differs": r.differs,
                }
                for r in rows
            ],
            "imports": imports,
        }
        Path(args.json).write_text(json.dumps(data, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))  # copy_bandwidth, beside this file
    raise SystemExit(main())
