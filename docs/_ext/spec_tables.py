"""Render spec/*.toml as Markdown tables for the docs (never hand-copied).

The docs build calls :func:`write_all` before reading sources; the test suite
parses the built HTML and compares it with spec/ so the two cannot drift.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomllib

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str) -> dict[str, Any]:
    with (ROOT / "spec" / f"{name}.toml").open("rb") as f:
        return tomllib.load(f)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def contract() -> str:
    rules = _load("contract")["rule"]
    tabled = [r for r in rules if r.get("driver") != "custom"]
    custom = [r for r in rules if r.get("driver") == "custom"]
    rows = [
        [
            f"`{r['id']}`",
            r["situation"],
            r["target"]
            + (
                f" ({', '.join(f'{k}={v!r}' for k, v in r['kwargs'].items())})"
                if r.get("kwargs")
                else ""
            ),
            r["none"],
            r["true"],
            r["false"],
            r["reason"],
        ]
        for r in tabled
    ]
    out = _table(["rule", "source", "target", "copy=None", "copy=True", "copy=False", "why"], rows)
    out += "\nRules proved by dedicated tests:\n\n"
    out += _table(
        ["rule", "situation", "guarantee"],
        [[f"`{r['id']}`", r["situation"], r["reason"]] for r in custom],
    )
    return out


def dtypes() -> str:
    rows = [
        [
            f"`{d['name']}`",
            d["kind"],
            d["bits"],
            d["numpy"] or ("ml_dtypes." + d["ml_dtypes"] if d["ml_dtypes"] else "-"),
            d["torch"] or "-",
            tuple(d["dlpack"]) if d["dlpack"] else "-",
            d["numpy_torch"],
        ]
        for d in _load("dtypes")["dtype"]
    ]
    return _table(
        ["name", "kind", "bits", "NumPy", "torch", "DLPack (code, bits)", "NumPy <-> torch"], rows
    )


def upstream() -> str:
    spec = _load("upstream")
    rows = [
        [
            f"`{f['id']}`",
            f["claim"],
            f["source"],
            ("holds" if f["holds"] else "**does not hold**")
            + (f" (when {f['when']})" if f.get("when") else ""),
            ("needs CUDA; " if f.get("requires") == "cuda" else "")
            + ("subprocess; " if f.get("subprocess") else "")
            + f["how"],
        ]
        for f in spec["fact"]
    ]
    return f"Observed with {spec['observed_with']}.\n\n" + _table(
        ["fact", "claim", "source", "here", "how it is observed"], rows
    )


def write_all(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, render in (("contract", contract), ("dtypes", dtypes), ("upstream", upstream)):
        path = out / f"{name}.md"
        text = render()
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
