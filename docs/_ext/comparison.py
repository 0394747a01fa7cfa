"""Render the comparison page's tables from spec/ and the benchmark results.

Nothing on that page is typed by hand: the behaviour table pairs each rule of
spec/contract.toml that cites an upstream fact with that fact (what the raw
upstream call does, as observed by the test suite), and the speed table reads
docs/performance/results.json, written by ``python benchmarks/bench.py
--publish docs/performance``.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from spec_tables import ROOT, _cell, _load, _table

RESULTS = ROOT / "docs" / "performance" / "results.json"

# The tools the page compares with, and how a benchmark row names each one: other
# converters on the left of "ours / theirs" (timed against the raw call), the raw
# calls on the right (timed against xpbridge).
TOOLS = {
    "array-api-compat": "array_api_compat",
    "autoray": "autoray",
    "arraybridge": "arraybridge",
    "scikit-learn move_to": "move_to",
}
RAW_CALLS = {
    "torch.from_numpy": ("from_numpy(",),
    "Tensor.numpy": (".numpy()",),
    "np.from_dlpack": ("np.from_dlpack(",),
    "torch.from_dlpack": ("torch.from_dlpack(",),
    "torch.as_tensor, np.asarray": ("as_tensor(", "np.asarray("),
}


def _peer(name: str) -> str | None:
    left, _, right = name.partition(" / ")
    for peer, marker in TOOLS.items():
        if marker in left:
            return peer
    for peer, markers in RAW_CALLS.items():
        if any(m in right for m in markers):
            return peer
    return None


def behaviour() -> str:
    facts = {f["id"]: f for f in _load("upstream")["fact"]}
    rows = []
    for rule in _load("contract")["rule"]:
        for ref in rule.get("refs", []):
            fact = facts.get(ref.removeprefix("upstream:")) if ref.startswith("upstream:") else None
            if fact is None or rule.get("driver") == "custom":
                continue
            here = "holds" if fact["holds"] else "does not hold"
            rows.append(
                [
                    rule["situation"],
                    f"{fact['claim']} ({here}; `{fact['id']}`)",
                    f"copy=None: {rule['none']}, copy=False: {rule['false']} (`{rule['id']}`)",
                ]
            )
    return _table(["situation", "the raw upstream call", "xpbridge"], rows)


def _median(row: dict[str, Any]) -> float | None:
    ratios = row.get("ratios") or []
    return statistics.median(ratios) if ratios else None


def speed() -> str:
    if not RESULTS.exists():
        return "No benchmark results yet: run `nox -s benchmarks`.\n"
    rows = json.loads(RESULTS.read_text()).get("rows", [])
    body = []
    for peer in [*RAW_CALLS, *TOOLS]:
        matched = [r for r in rows if _peer(r.get("name", "")) == peer]
        if not matched:
            body.append([f"{peer}: not measured in docs/performance/results.json", "-", "-"])
        for r in matched:
            median = _median(r)
            spread = r.get("ratios") or []
            body.append(
                [
                    f"{peer}; {r.get('group', '')}: `{_cell(r['name'])}`",
                    "-" if median is None else f"{median:.2f}",
                    f"{min(spread):.2f}-{max(spread):.2f}" if spread else "-",
                ]
            )
    # Three columns: a benchmark's name can be 65 characters of code with no
    # space to break at, and it must fit a 1280 px screen next to its figures.
    return _table(["compared with; benchmark: left / right", "median ratio", "spread"], body)


def write(out: Path) -> None:
    text = "## Behaviour\n\n" + behaviour() + "\n## Speed\n\n" + speed()
    path = out / "comparison.md"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
