"""Render spec/*.toml as Markdown tables for the docs (never hand-copied).

The docs build calls :func:`write_all` before reading sources; the test suite
parses the built HTML and compares it with spec/ so the two cannot drift.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the backport xpbridge itself depends on there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str) -> dict[str, Any]:
    with (ROOT / "spec" / f"{name}.toml").open("rb") as f:
        return tomllib.load(f)


def _cell(text: object) -> str:
    # "__array__" would otherwise read as bold "array", and "<function>" outside
    # code as an HTML tag (dropped from the page).
    parts = str(text).replace("|", "\\|").replace("\n", " ").replace("__", "\\_\\_").split("`")
    return "`".join(p if i % 2 else p.replace("<", "\\<") for i, p in enumerate(parts))


def _table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


LIBRARIES = {"numpy": "NumPy", "torch": "torch", "python": "Python objects"}


def _source(rule: dict[str, Any]) -> str:
    """The source library of a rule, read from its case builders (``numpy_*``, ``torch_*``)."""
    return rule["cases"][0].partition("_")[0]


def _situation(rule: dict[str, Any]) -> str:
    kwargs = ", ".join(f"`{k}={v!r}`" for k, v in rule.get("kwargs", {}).items())
    target = "" if rule["target"] in LIBRARIES else f" (to `{rule['target']}`)"
    return f"{rule['situation']}{target}" + (f"; {kwargs}" if kwargs else "")


def _outcome(name: str) -> str:
    """An outcome, allowed to break after "Unsupported" (a soft hyphen) in a narrow column."""
    return name.replace("UnsupportedInput", "Unsupported\u00adInput")


def contract() -> str:
    """One table per source -> target, four narrow columns, and why each rule holds below it.

    Narrow enough for a 1280 px screen: the reasons, the longest text, are a
    list under each table rather than a column of it.
    """
    rules = _load("contract")["rule"]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rules:
        if r.get("driver") != "custom":
            target = r["target"] if r["target"] in LIBRARIES else "other"
            groups.setdefault((_source(r), target), []).append(r)
    out = ""
    for (source, target), members in groups.items():
        title = f"{LIBRARIES[source]} -> " + (
            "any other target" if target == "other" else LIBRARIES[target]
        )
        out += f"## {title}\n\n```{{container}} outcomes\n"
        out += _table(
            ["situation (rule)", "copy=None", "copy=True", "copy=False"],
            [
                [
                    f"{_situation(r)} (`{r['id']}`)",
                    *map(_outcome, (r["none"], r["true"], r["false"])),
                ]
                for r in members
            ],
        )
        out += "```\n"
        out += "\nWhy:\n\n" + "".join(f"- `{r['id']}`: {_cell(r['reason'])}\n" for r in members)
        out += "\n"
    custom = [r for r in rules if r.get("driver") == "custom"]
    out += "## Rules proved by dedicated tests\n\n"
    out += _table(
        ["rule", "guarantee"],
        [[f"`{r['id']}`: {r['situation']}", r["reason"]] for r in custom],
    )
    return out


def dtypes() -> str:
    """The dtype table; where a library's attribute is the canonical name, only the library."""

    def where(d: dict[str, Any]) -> str:
        for module in ("numpy", "ml_dtypes"):
            if d[module]:
                return module if d[module] == d["name"] else f"{module}.{d[module]}"
        return "-"

    rows = [
        [
            f"`{d['name']}`",
            f"{d['kind']} {d['bits']}",
            where(d),
            ("torch" if d["torch"] == d["name"] else f"torch.{d['torch']}") if d["torch"] else "-",
            ", ".join(map(str, d["dlpack"])) if d["dlpack"] else "-",
            d["numpy_torch"],
        ]
        for d in _load("dtypes")["dtype"]
    ]
    return _table(["name", "kind, bits", "NumPy", "torch", "DLPack", "NumPy <-> torch"], rows)


_URL = re.compile(r"https://github\.com/([\w-]+)/([\w-]+)/(?:issues|pull)/(\d+)|https://\S+")


def _links(text: str) -> str:
    """Long URLs as short links (``pytorch#59786``), so that they wrap."""

    def short(m: re.Match[str]) -> str:
        label = f"{m[2]}#{m[3]}" if m[3] else m[0].split("/")[2]
        return f"[{label}]({m[0]})"

    return _URL.sub(short, text)


def _holds(fact: dict) -> str:
    """Where a fact holds, in words (as ``xpbridge report`` says it), then what happens elsewhere."""
    holds = str(fact["holds"])
    words = {"always": "always", "never": "**never**"}.get(holds, f"on {holds.replace('|', 'or')}")
    return words + (f". Elsewhere: {fact['otherwise']}" if fact.get("otherwise") else "")


def upstream() -> str:
    """The facts: claim (and id) and where it holds; how each is observed, and what it motivates, below.

    Two columns, so that a claim quoting a long expression still fits a 1280 px
    screen: the longest text (how it is observed, the rules, the source) is a list.
    """
    spec = _load("upstream")
    rows = [[f"{f['claim']} (`{f['id']}`)", _holds(f)] for f in spec["fact"]]
    how = "".join(
        f"- `{f['id']}`: "
        + ("needs " + ", ".join(f["requires"]) + "; " if f["requires"] else "")
        + ("subprocess; " if f.get("subprocess") else "")
        + f"{f['how']}. Motivates: "
        + ", ".join(f"`{rule}`" for rule in f["motivates"])
        + f". Source: {_links(f['source'])}\n"
        for f in spec["fact"]
    )
    return (
        f"Observed with {spec['observed_with']}.\n\n"
        + _table(["claim (fact)", "holds"], rows)
        + "\nHow each is observed, and the rules it motivates:\n\n"
        + how
    )


def trees() -> str:
    """The tree rules: situation (rule) and outcome; why each holds, and its tests, below."""
    rules = _load("trees")["rule"]
    out = _table(
        ["situation (rule)", "outcome"],
        [[f"{r['situation']} (`{r['id']}`)", r["outcome"]] for r in rules],
    )
    out += "\nWhy, and the tests that prove it:\n\n"
    for r in rules:
        refs = ", ".join(_links(ref) for ref in r.get("refs", []))
        tests = ", ".join(f"`{t}`" for t in r["tests"])
        out += f"- `{r['id']}`: {_cell(r['reason'])}" + (f" See {refs}." if refs else "")
        out += f" Tests: {tests}.\n"
    return out


def write_all(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    renders = (("contract", contract), ("dtypes", dtypes), ("upstream", upstream), ("trees", trees))
    for name, render in renders:
        path = out / f"{name}.md"
        text = render()
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
