"""The conformance report: xpbridge's contract checked on this machine's versions.

Runs source library x target library x dtype x layout x copy mode, checks
every conversion against the contract (plan and result agree, copy semantics,
values bit for bit, the source untouched), and observes the upstream facts of
spec/upstream.toml.  ``python -m xpbridge report`` prints it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

__all__ = ["Report", "run_report"]

COPY_MODES: dict[str, bool | None] = {"None": None, "True": True, "False": False}


class Check(NamedTuple):
    source: str
    target: str
    layout: str
    dtype: str
    copy: str
    outcome: str  # A, C, or the error class name
    violation: str  # "" when the contract holds


class Report(NamedTuple):
    checks: list[Check]
    facts: list[dict[str, Any]]
    versions: dict[str, str]

    @property
    def violations(self) -> list[Check]:
        return [c for c in self.checks if c.violation]

    @property
    def fact_mismatches(self) -> list[dict[str, Any]]:
        from ._upstream import expected

        return [f for f in self.facts if f["observed"] is not None and f["observed"] != expected(f)]


def _numpy_sources(dtype: str) -> Iterator[tuple[str, Any]]:
    import numpy as np

    from ._dtypes import numpy_dtype

    dt = numpy_dtype(dtype)
    base = np.arange(24, dtype=np.uint8).view(np.uint8)
    if dtype == "bool":
        base = base % 2
    flat = np.resize(base, 12 * dt.itemsize).view(dt)
    yield "contiguous", flat.copy()
    yield "reversed", flat.copy()[::-1]
    yield "strided", flat.copy().reshape(3, 4)[:, ::2]
    yield "fortran", np.asfortranarray(flat.copy().reshape(3, 4))
    readonly = flat.copy()
    readonly.flags.writeable = False
    yield "read-only", readonly
    if dt.itemsize > 1 and dt.isnative and dt.kind in "biufc":
        yield "byte-swapped", flat.astype(dt.newbyteorder("S"))
    yield "0-d", flat[:1].reshape(()).copy()
    yield "size-0", flat[:0].copy()


def _torch_sources(dtype: str) -> Iterator[tuple[str, Any]]:
    import torch

    from ._dtypes import DTYPES, torch_dtype
    from .testing._bits import quiet_complex_half, tensor_from_bits

    for layout, array in _numpy_sources(dtype):
        if layout in {"contiguous", "0-d", "size-0"}:
            yield layout, tensor_from_bits(array)
    with quiet_complex_half():
        square = torch.arange(16).reshape(4, 4).to(torch_dtype(dtype))
        yield "transposed", square.T
        yield "strided", square[:, ::2]
        yield "expanded", square[:1].expand(3, 4)
        kind = DTYPES[dtype].kind
        if kind in {"float", "complex"}:
            yield "requires-grad", square.clone().requires_grad_()
        if kind == "complex" and dtype != "complex32":
            yield "conjugate-bit", square.conj()
            yield "negative-bit", square.conj().imag


def _check(source: Any, target: str, copy: bool | None) -> tuple[str, str]:
    from . import _convert, errors
    from .testing import assert_bitwise_equal, snapshot

    before = snapshot(source)
    try:
        p = _convert.plan(source, target, copy=copy)
    except errors.ConversionError as planned:
        try:
            _convert.convert(source, target, copy=copy)
        except errors.ConversionError as raised:
            ok = type(raised) is type(planned) and str(raised) == str(planned)
            violation = "" if ok else "plan and convert raised different errors"
        else:
            violation = "plan raised but convert succeeded"
        if copy is not False and type(planned).__name__ == "CopyError":
            violation = violation or "CopyError without copy=False"
        return type(planned).__name__, violation or _unchanged(source, before)
    result = _convert.convert(source, target, copy=copy)
    shares = _convert.shares_memory(source, result)
    outcome = "A" if p.aliases else "C"
    problems = []
    if shares is not p.aliases:
        problems.append(f"plan.aliases={p.aliases} but shares_memory={shares}")
    if copy is True and shares:
        problems.append("copy=True aliases")
    try:
        assert_bitwise_equal(result, source)
    except AssertionError as e:
        problems.append(f"values differ: {str(e).splitlines()[0]}")
    if target == "numpy" and bool(result.flags.writeable) is not p.writable:
        problems.append("writability differs from the plan")
    return outcome, "; ".join(problems) or _unchanged(source, before)


def _unchanged(source: Any, before: Any) -> str:
    from .testing import snapshot

    return "" if snapshot(source) == before else "the source changed"


def run_report(
    progress: Callable[[int, int], None] | None = None,
    dtypes: list[str] | None = None,
    facts: bool = True,
) -> Report:
    """Run the conformance matrix (over ``dtypes``, default all that cross) and the facts."""
    import numpy as np

    from . import _spec, _upstream
    from ._dtypes import crossing_dtypes

    if dtypes is None:
        dtypes = crossing_dtypes()
    work: list[tuple[str, str, str, Any]] = []
    for dtype in dtypes:
        work += [("numpy", dtype, layout, x) for layout, x in _numpy_sources(dtype)]
        work += [("torch", dtype, layout, x) for layout, x in _torch_sources(dtype)]
    claims = _spec.load("upstream")["fact"] if facts else []
    total = len(work) * 2 * len(COPY_MODES) + len(claims)
    done = 0
    checks = []
    for library, dtype, layout, x in work:
        for target in ("numpy", "torch"):
            for name, copy in COPY_MODES.items():
                outcome, violation = _check(x, target, copy)
                checks.append(Check(library, target, layout, dtype, name, outcome, violation))
                done += 1
                if progress is not None and done % 50 == 0:
                    progress(done, total)
    observed = []
    for fact in claims:
        try:
            seen: bool | None = _upstream.observe(fact)
        except ImportError:
            seen = None
        observed.append({**fact, "observed": seen})
        done += 1
        if progress is not None:
            progress(done, total)
    import torch

    from . import __version__

    versions = {"xpbridge": __version__, "numpy": np.__version__, "torch": torch.__version__}
    return Report(checks, observed, versions)


def _summary_rows(report: Report) -> list[list[str]]:
    cells: dict[tuple[str, str, str], dict[str, set[str]]] = {}
    for c in report.checks:
        row = cells.setdefault((c.source, c.target, c.layout), {m: set() for m in COPY_MODES})
        row[c.copy].add(c.outcome + ("!" if c.violation else ""))
    return [
        [src, dst, layout, *("/".join(sorted(row[m])) for m in COPY_MODES)]
        for (src, dst, layout), row in cells.items()
    ]


def render(report: Report, fmt: str = "text") -> str:
    """The report as ``text`` (a terminal), ``markdown`` or ``json``."""
    if fmt == "json":
        return json.dumps(
            {
                "versions": report.versions,
                "checks": [c._asdict() for c in report.checks],
                "facts": [
                    {k: f[k] for k in ("id", "claim", "holds", "observed")} for f in report.facts
                ],
            },
            indent=1,
        )
    from ._upstream import expected

    head = ["source", "target", "layout", "copy=None", "copy=True", "copy=False"]
    rows = _summary_rows(report)
    facts = [
        [
            f["id"],
            "n/a here"
            if f["observed"] is None
            else ("holds" if f["observed"] else "does not hold"),
            "" if f["observed"] is None or f["observed"] == expected(f) else "differs from spec",
        ]
        for f in report.facts
    ]
    versions = ", ".join(f"{k} {v}" for k, v in report.versions.items())
    unobservable = sum(f["observed"] is None for f in report.facts)
    verdict = (
        f"{len(report.checks)} conversions checked, {len(report.violations)} contract violations; "
        f"{len(report.facts) - unobservable} upstream facts observed ({unobservable} not "
        f"observable here), {len(report.fact_mismatches)} differ from spec/"
    )
    legend = "A = zero-copy alias, C = new buffer, an error name = that error, ! = a violation"
    if fmt == "markdown":

        def table(header: list[str], body: list[list[str]]) -> str:
            lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])

        parts = [
            f"# xpbridge conformance report\n\n{versions}\n\n{verdict}\n\n{legend}\n",
            table(head, rows),
            "\n## Upstream facts\n",
            table(["fact", "observed", ""], facts),
        ]
        parts += [f"\n- violation: {c}" for c in report.violations]
        return "\n".join(parts) + "\n"
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = [versions, "", "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines += ["", legend, ""]
    fw = max((len(f[0]) for f in facts), default=0)
    lines += [f"{f[0].ljust(fw)}  {f[1]}  {f[2]}".rstrip() for f in facts]
    lines += ["", *(f"VIOLATION {c}" for c in report.violations), verdict]
    return "\n".join(lines) + "\n"


def print_progress(done: int, total: int) -> None:
    """A one-line progress bar on standard error, when it is a terminal."""
    if sys.stderr.isatty():
        filled = 30 * done // total
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()
