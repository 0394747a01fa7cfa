"""What each test did on each backend: the end-of-run tables and their JSON form.

Outcomes are read from pytest's reports, so they are pytest's own (passed,
failed, error, skipped, xfailed, xpassed).  A report belongs to a backend
when its test carries the ``xp_backend`` user property the plugin sets at
collection (the report carries it, not the plugin's memory of the item).
The JSON is the capability table a project publishes: per test, per backend,
the outcome counts and the skip and xfail reasons.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["OUTCOMES", "PROPERTY", "Summary", "outcome_of", "settles"]

PROPERTY = "xp_backend"  # the user property naming a test's backend id
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
_SHOWN = {"failed": "FAILED", "error": "ERROR", "xpassed": "XPASS"}


def outcome_of(report: Any) -> str | None:
    """The outcome a phase report settles (None for a setup or teardown that passed)."""
    xfail = hasattr(report, "wasxfail")
    if report.when == "call":
        if report.passed:
            return "xpassed" if xfail else "passed"
        if report.skipped:
            return "xfailed" if xfail else "skipped"
        return "failed"
    if report.failed:
        return "error"
    if report.skipped:
        return "xfailed" if xfail else "skipped"
    return None


def settles(previous: str | None, outcome: str) -> bool:
    """Whether ``outcome`` becomes a test's outcome, given the one it has so far (if any).

    The first settled outcome stands (a skip in setup, say), except that an
    error in teardown after the call makes the test an error.
    """
    return previous is None or (outcome == "error" and previous in {"passed", "failed"})


def _reason(report: Any) -> str | None:
    if hasattr(report, "wasxfail"):
        return str(report.wasxfail) or None
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return None


class Summary:
    """Outcomes of the tests that ran on a backend, by test and by backend.

    Examples
    --------
    >>> from types import SimpleNamespace as Report
    >>> summary = Summary()
    >>> summary.record(Report(nodeid="t.py::test_f[numpy]", when="call", passed=True,
    ...                       skipped=False, failed=False, user_properties=[("xp_backend", "numpy")]))
    >>> summary.as_json()["totals"]
    {'numpy': {'passed': 1}}
    """

    def __init__(self) -> None:
        self._final: dict[str, tuple[str, str, str]] = {}  # nodeid -> (test, backend, outcome)
        self._reasons: dict[str, set[str]] = {}
        self.backends: dict[str, dict[str, str]] = {}  # id -> library, device, version

    def record(self, report: Any) -> None:
        """Take one phase report; reports of tests that use no backend are ignored."""
        backend = dict(getattr(report, "user_properties", ())).get(PROPERTY)
        outcome = outcome_of(report) if backend is not None else None
        if outcome is None:
            return
        previous = self._final.get(report.nodeid)
        if not settles(previous[2] if previous is not None else None, outcome):
            return
        self._final[report.nodeid] = (report.nodeid.partition("[")[0], str(backend), outcome)
        reason = _reason(report)
        if reason:
            self._reasons.setdefault(report.nodeid, set()).add(reason)

    def __bool__(self) -> bool:
        return bool(self._final)

    def _table(self) -> tuple[list[str], dict[str, dict[str, Counter[str]]]]:
        backends = list(self.backends)
        tests: dict[str, dict[str, Counter[str]]] = {}
        for test, backend, outcome in self._final.values():
            if backend not in backends:
                backends.append(backend)
            tests.setdefault(test, {}).setdefault(backend, Counter())[outcome] += 1
        return backends, tests

    def totals(self) -> dict[str, Counter[str]]:
        """Outcome counts per backend id."""
        return _totals(*self._table())

    def as_json(self) -> dict[str, Any]:
        """The tables as plain data: ``backends``, ``tests`` and ``totals``."""
        backends, tests = self._table()
        reasons: dict[tuple[str, str], set[str]] = {}
        for nodeid, (test, backend, _) in self._final.items():
            reasons.setdefault((test, backend), set()).update(self._reasons.get(nodeid, ()))
        cells: dict[str, dict[str, dict[str, Any]]] = {}
        for test, row in tests.items():
            for backend in backends:
                if backend in row:
                    cell: dict[str, Any] = dict(sorted(row[backend].items(), key=_order))
                    if reasons.get((test, backend)):
                        cell["reasons"] = sorted(reasons[(test, backend)])
                    cells.setdefault(test, {})[backend] = cell
        return {
            "backends": {b: self.backends.get(b, {}) for b in backends},
            "tests": cells,
            "totals": {
                b: dict(sorted(c.items(), key=_order))
                for b, c in _totals(backends, tests).items()
                if c
            },
        }

    def lines(self, per_test: bool = True) -> list[str]:
        """The terminal tables: outcomes per backend, then (``per_test``) per test and backend."""
        backends, tests = self._table()
        totals = _totals(backends, tests)
        shown = [
            o for o in OUTCOMES if o in {"passed", "failed"} or any(t[o] for t in totals.values())
        ]
        rows = [["backend", *shown]]
        rows += [[b, *(str(totals[b][o]) for o in shown)] for b in backends if totals[b]]
        out = _align(rows, right=True)
        if per_test:
            grid = [["test", *backends]]
            grid += [[test, *(_cell(row.get(b)) for b in backends)] for test, row in tests.items()]
            out += ["", *_align(grid, right=False)]
        return out


def _totals(
    backends: list[str], tests: dict[str, dict[str, Counter[str]]]
) -> dict[str, Counter[str]]:
    totals: dict[str, Counter[str]] = {b: Counter() for b in backends}
    for row in tests.values():
        for backend, counts in row.items():
            totals[backend].update(counts)
    return totals


def _order(item: tuple[str, Any]) -> int:
    return OUTCOMES.index(item[0]) if item[0] in OUTCOMES else len(OUTCOMES)


def _cell(counts: Counter[str] | None) -> str:
    if not counts:
        return "-"
    if len(counts) == 1 and sum(counts.values()) == 1:
        outcome = next(iter(counts))
        return _SHOWN.get(outcome, outcome)
    return " ".join(f"{n} {_SHOWN.get(o, o)}" for o, n in sorted(counts.items(), key=_order))


def _align(rows: list[list[str]], right: bool) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [
            c.rjust(w) if right else c.ljust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines
