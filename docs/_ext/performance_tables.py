"""Lay out the benchmark's ratio table for a 1280 px screen.

``python benchmarks/bench.py --publish docs/performance`` writes
``docs/performance/table.md``: one table of nine columns, about 1,900 px wide
at the docs' type size, then the import time and the copy-bandwidth section.
The benchmark decides every figure; this module only re-lays them out, with
nothing recomputed: one table per group of calls, with the fastest idiom each
call is measured against and the other idioms as a list under the table.  A
change of the benchmark's columns fails the docs build here (rather than
dropping a column silently).
"""

from __future__ import annotations

from pathlib import Path

from spec_tables import ROOT

TABLE = ROOT / "docs" / "performance" / "table.md"
COLUMNS = [
    "group",
    "call",
    "fastest idiom (baseline)",
    "ratio",
    "IQR",
    "min-max",
    "xpbridge (µs)",
    "target",
    "other idioms (times the fastest)",
]


# The laid-out tables.  The fastest idiom a call is measured against can be 65
# characters of code with no space to break at: it is listed under the table.
HEADER = ["call", "ratio", "IQR", "min-max", "xpbridge (µs)", "target"]


class TableFormatError(ValueError):
    """docs/performance/table.md does not have the columns this page lays out."""


def _cells(line: str) -> list[str]:
    # The benchmark escapes no "|" inside a cell: a plain split is exact.
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _split(text: str) -> tuple[list[str], list[list[str]], list[str]]:
    """The lines before the ratio table, its rows, and the lines after it."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("| group |"))
    except StopIteration:
        raise TableFormatError(f"{TABLE}: no ratio table (a row starting '| group |')") from None
    header = _cells(lines[start])
    if header != COLUMNS:
        raise TableFormatError(f"{TABLE}: the ratio table's columns are {header}, not {COLUMNS}")
    end = start + 2
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    rows = [_cells(line) for line in lines[start + 2 : end]]
    for row in rows:
        if len(row) != len(COLUMNS):
            raise TableFormatError(f"{TABLE}: a row has {len(row)} cells: {row}")
    return lines[:start], rows, lines[end:]


def _table(header: list[str], rows: list[list[str]]) -> str:
    # The cells are the benchmark's Markdown already: joined as they are.
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def ratios(text: str) -> str:
    """The ratio table: per group, one narrow table, and each call's idioms listed below it."""
    before, rows, after = _split(text)
    groups: dict[str, list[list[str]]] = {}
    for row in rows:
        groups.setdefault(row[0], []).append(row)
    out = "\n".join(before).rstrip() + "\n\n"
    for group, members in groups.items():
        body = [
            [call, ratio, iqr, spread, micros, target or "-"]
            for _, call, _, ratio, iqr, spread, micros, target, _ in members
        ]
        out += f"### {group}\n\n```{{container}} benchmarks\n{_table(HEADER, body)}```\n\n"
        out += "The fastest idiom each call is measured against (in parentheses, the other "
        out += "idioms' times as multiples of its time):\n\n"
        for _, call, baseline, *_, others in members:
            out += f"- {call}: against {baseline}" + (f" ({others})" if others else "") + "\n"
        out += "\n"
    return out + "\n".join(after).lstrip("\n") + "\n"


def write(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "performance.md"
    if TABLE.exists():
        text = ratios(TABLE.read_text(encoding="utf-8"))
    else:
        text = "No benchmark results yet: run `nox -s benchmarks`.\n"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
