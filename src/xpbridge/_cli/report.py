"""The conformance report: xpbridge's contract checked on this machine's versions.

Runs source library x target library x dtype x layout x copy mode over every
pair of the libraries installed here (NumPy always; torch, array-api-strict,
JAX and Dask when present), checks every
conversion against the contract (plan and result agree, copy semantics, values
bit for bit, the source untouched), and observes the upstream facts of
spec/upstream.toml: for each, the versions where spec/ says it holds, what that
means on the versions installed here, what is observed, and the rules of the
contract it motivates.
``xpbridge report`` prints it as text, Markdown or JSON.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterator
from typing import Any, NamedTuple, TextIO

__all__ = ["Report", "libraries", "render", "report_dtypes", "run_report", "summary"]

COPY_MODES: dict[str, bool | None] = {"None": None, "True": True, "False": False}
FORMATS = ("text", "markdown", "json")
LEGEND = "A = zero-copy alias, C = new buffer, an error name = that error, ! = a violation"


class Check(NamedTuple):
    source: str
    target: str
    layout: str
    dtype: str
    copy: str
    outcome: str  # A, C, or the error class name
    violation: str  # "" when the contract holds


class Fact(NamedTuple):
    id: str
    claim: str
    holds: str  # where spec/upstream.toml says it holds: "always", "never", "on torch<2.14"
    expected: bool | None  # what that means on the installed versions (None: cannot say)
    observed: bool | None  # None: cannot be observed on this install
    why_not: str  # why it cannot be observed ("" when it was)
    motivates: tuple[str, ...]  # the contract rules the fact is a reason for
    difference: str  # what changed, when it differs from spec/ ("" otherwise)

    @property
    def verdict(self) -> str:
        if self.observed is None:
            return f"not observable here ({self.why_not})"
        return "as spec/ expects" if self.observed is self.expected else "DIFFERS from spec/"


class Report(NamedTuple):
    checks: list[Check]
    facts: list[Fact]
    versions: dict[str, str]

    @property
    def violations(self) -> list[Check]:
        return [c for c in self.checks if c.violation]

    @property
    def fact_mismatches(self) -> list[Fact]:
        return [f for f in self.facts if f.difference]


def report_dtypes() -> list[str]:
    """The dtypes the matrix covers: those that cross NumPy <-> torch with this ml_dtypes."""
    from .._lib.dtypes import crossing_dtypes

    return crossing_dtypes()


def libraries() -> list[str]:
    """The source and target libraries of the matrix: those of LIBRARIES installed here."""
    from .._lib.environment import installed

    return [library for library in LIBRARIES if installed(library)]


def _numpy_sources(dtype: str) -> Iterator[tuple[str, Any]]:
    import numpy as np

    from .._lib.dtypes import numpy_dtype

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

    from .._lib.dtypes import DTYPES, torch_dtype
    from .._lib.warnings import quiet_complex_half
    from ..testing._bits import tensor_from_bits

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


# A library's own constructor makes its sources from NumPy's, so that the
# matrix never builds a source with the code it checks.  What a library cannot
# hold (array-api-strict has no float16, JAX no 64-bit types without x64) it
# has no source of; conversions *to* it still run, and expect the DTypeError.
_FROM_NUMPY = ("contiguous", "0-d", "size-0")


def _array_api_strict_sources(dtype: str) -> Iterator[tuple[str, Any]]:
    import array_api_strict as xp

    for layout, array in _numpy_sources(dtype):
        if layout in _FROM_NUMPY:
            made = _made(lambda a=array: xp.asarray(a), dtype)
            if made is not None:
                yield layout, made
    made = _made(lambda: xp.asarray(next(_numpy_sources(dtype))[1]), dtype)
    if made is not None and made.ndim == 1:
        yield "reversed-view", made[::-1]  # a view with a negative stride
        yield "strided-view", made[::2]


def _jax_sources(dtype: str) -> Iterator[tuple[str, Any]]:
    import jax.numpy as jnp

    for layout, array in _numpy_sources(dtype):
        if layout in _FROM_NUMPY:
            made = _made(lambda a=array: jnp.asarray(a), dtype)
            if made is not None:
                yield layout, made


def _dask_sources(dtype: str) -> Iterator[tuple[str, Any]]:
    import dask.array as da

    from_array: Any = da.from_array  # untyped
    for layout, array in _numpy_sources(dtype):
        if layout in _FROM_NUMPY:
            chunks = max(1, array.size // 2) if array.ndim else ()
            yield layout, from_array(array, chunks=chunks)


def _made(build: Any, dtype: str) -> Any:
    """What ``build()`` makes, if the library made exactly ``dtype`` (JAX narrows silently)."""
    try:
        made = build()
    except (TypeError, ValueError):  # the library has no such dtype
        return None
    name = str(made.dtype).rpartition(".")[2]  # array_api_strict.float32 -> float32
    return made if name == dtype else None


# The libraries the matrix covers, in the order of the report, and how each makes
# its sources.  (CuPy's arrays live on a GPU: not in the matrix.)
_SOURCES = {
    "numpy": _numpy_sources,
    "torch": _torch_sources,
    "array_api_strict": _array_api_strict_sources,
    "jax": _jax_sources,
    "dask": _dask_sources,
}
LIBRARIES = tuple(_SOURCES)


def _check(source: Any, target: str, copy: bool | None) -> tuple[str, str]:
    """The outcome of one conversion and its violation ("" when the contract holds).

    A warning that escapes plan() or convert() (torch's "not writable", say) is
    a violation too: the contract has xpbridge say what happens, not upstream.
    """
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        outcome, violation = _outcome(source, target, copy)
    if escaped:
        first = escaped[0]
        warned = f"a {first.category.__name__} escaped: {str(first.message).splitlines()[0]}"
        violation = f"{violation}; {warned}" if violation else warned
    return outcome, violation


def _outcome(source: Any, target: str, copy: bool | None) -> tuple[str, str]:
    from .. import errors
    from .._api import convert as _convert
    from ..testing import assert_bitwise_equal, snapshot

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
    # A non-empty source returned as itself aliases itself, whether or not
    # shares_memory can tell: it answers False for the very same Dask array,
    # which has no memory until computed (a size-0 source has none to share).
    itself = result is source and math.prod(source.shape) > 0
    shares = itself or _convert.shares_memory(source, result)
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
    from ..testing import snapshot

    return "" if snapshot(source) == before else "the source changed"


def _observe(fact: dict[str, Any]) -> Fact:
    from . import upstream as _upstream

    holds = _upstream.holds_text(fact)
    expected = _upstream.expected(fact)
    motivates = tuple(fact.get("motivates", ()))
    missing = _upstream.missing_requirements(fact)
    if missing:
        why_not = f"needs {', '.join(missing)}"
        return Fact(fact["id"], fact["claim"], holds, expected, None, why_not, motivates, "")
    seen = _upstream.observe(fact)
    differs = seen is not None and seen is not expected
    difference = _upstream.difference(fact, bool(seen)) if differs else ""
    return Fact(fact["id"], fact["claim"], holds, expected, seen, "", motivates, difference)


def run_report(
    dtypes: list[str] | None = None,
    facts: bool = True,
    progress: TextIO | None = None,
    only: list[str] | None = None,
) -> Report:
    """Run the conformance matrix (over ``dtypes``, default all that cross) and the facts.

    ``progress``: a stream to draw a progress bar on (only when it is a terminal).
    ``only``: the libraries of the matrix (default: every one installed here).
    """
    from .. import __version__
    from .._lib import spec as _spec
    from .._lib.environment import versions
    from .progress import Progress

    if dtypes is None:
        dtypes = report_dtypes()
    present = [library for library in libraries() if only is None or library in only]
    work = [
        (library, dtype, layout, x)
        for dtype in dtypes
        for library in present
        for layout, x in _SOURCES[library](dtype)
    ]
    claims = _spec.load("upstream")["fact"] if facts else []
    checks: list[Check] = []
    observed: list[Fact] = []
    total = len(work) * len(present) * len(COPY_MODES) + len(claims)
    with Progress(total, progress) as bar:
        for library, dtype, layout, x in work:
            for target in present:
                for name, copy in COPY_MODES.items():
                    bar.step(f"{library} -> {target} {dtype} {layout} copy={name}")
                    outcome, violation = _check(x, target, copy)
                    checks.append(Check(library, target, layout, dtype, name, outcome, violation))
        for fact in claims:
            bar.step(f"upstream fact {fact['id']}")
            observed.append(_observe(fact))
    return Report(checks, observed, {"xpbridge": __version__, **versions()})


def _summary_rows(report: Report) -> list[list[str]]:
    cells: dict[tuple[str, str, str], dict[str, set[str]]] = {}
    for c in report.checks:
        row = cells.setdefault((c.source, c.target, c.layout), {m: set() for m in COPY_MODES})
        row[c.copy].add(c.outcome + ("!" if c.violation else ""))
    return [
        [src, dst, layout, *("/".join(sorted(row[m])) for m in COPY_MODES)]
        for (src, dst, layout), row in cells.items()
    ]


def _holds(value: bool | None) -> str:
    return "-" if value is None else ("holds" if value else "does not hold")


FACT_HEADER = ["fact", "holds (spec/)", "so here", "observed here", "verdict", "motivates"]


def _fact_rows(report: Report) -> list[list[str]]:
    return [
        [
            f.id,
            f.holds,
            _holds(f.expected),
            _holds(f.observed),
            f.verdict,
            ", ".join(f.motivates) or "-",
        ]
        for f in report.facts
    ]


def _verdict(report: Report) -> str:
    unobservable = sum(f.observed is None for f in report.facts)
    return (
        f"{len(report.checks)} conversions checked, {len(report.violations)} contract "
        f"violations; {len(report.facts) - unobservable} upstream facts observed "
        f"({unobservable} not observable here), {len(report.fact_mismatches)} differ from spec/"
    )


def summary(report: Report, limit: int = 20) -> str:
    """What ``report -o FILE`` prints: the pairs checked, what failed, the verdict."""
    pairs = sorted({(c.source, c.target) for c in report.checks})
    seen = {library for pair in pairs for library in pair}
    present = [library for library in LIBRARIES if library in seen]
    lines = [f"{len(pairs)} library pairs over {', '.join(present) or 'no library'}"]
    lines += [f"VIOLATION {c}" for c in report.violations[:limit]]
    if len(report.violations) > limit:
        lines.append(f"... and {len(report.violations) - limit} more violations (in the file)")
    lines += [f"DIFFERS from spec/: upstream fact {f.id}" for f in report.fact_mismatches]
    lines.append(_verdict(report))
    return "\n".join(lines) + "\n"


def _json(report: Report) -> str:
    return json.dumps(
        {
            "versions": report.versions,
            "summary": {
                "conversions": len(report.checks),
                "violations": len(report.violations),
                "facts": len(report.facts),
                "facts_not_observable": sum(f.observed is None for f in report.facts),
                "facts_differing_from_spec": len(report.fact_mismatches),
            },
            "checks": [c._asdict() for c in report.checks],
            "facts": [
                {**f._asdict(), "motivates": list(f.motivates), "verdict": f.verdict}
                for f in report.facts
            ],
        },
        indent=1,
    )


def _markdown(report: Report) -> str:
    def table(header: list[str], body: list[list[str]]) -> str:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])

    versions = ", ".join(f"{k} {v}" for k, v in report.versions.items())
    head = ["source", "target", "layout", "copy=None", "copy=True", "copy=False"]
    parts = [
        f"# xpbridge conformance report\n\n{versions}\n\n{_verdict(report)}\n\n{LEGEND}\n",
        table(head, _summary_rows(report)),
        "\n## Upstream facts\n",
        table(FACT_HEADER, _fact_rows(report)),
    ]
    parts += [f"\n- violation: {c}" for c in report.violations]
    parts += [f"\n- {f.difference}" for f in report.fact_mismatches]
    return "\n".join(parts) + "\n"


def _text(report: Report) -> str:
    def aligned(rows: list[list[str]]) -> list[str]:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]

    head = ["source", "target", "layout", "copy=None", "copy=True", "copy=False"]
    lines = [", ".join(f"{k} {v}" for k, v in report.versions.items()), ""]
    lines += aligned([head, *_summary_rows(report)])
    lines += ["", LEGEND, ""]
    if report.facts:
        lines += aligned([FACT_HEADER, *_fact_rows(report)])
        lines.append("")
    lines += [f"VIOLATION {c}" for c in report.violations]
    lines += [f"UPSTREAM CHANGED: {f.difference}" for f in report.fact_mismatches]
    lines.append(_verdict(report))
    return "\n".join(lines) + "\n"


def render(report: Report, fmt: str = "text") -> str:
    """The report as ``text`` (a terminal), ``markdown`` or ``json``."""
    return {"json": _json, "markdown": _markdown, "text": _text}[fmt](report)
