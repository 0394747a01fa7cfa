"""A pytest plugin that counts outcomes per backend, whichever fixtures chose the backend.

``-p tally --tally=PATH`` writes ``{backend label: {outcome: count}}`` as JSON.
A test's backend is the first parameter of its call spec that names one:
an xpbridge ``XPBackend`` (its id), array-api-extra's ``Backend`` enum (its
pytest id, as ``numpy:readonly``), or a module (SciPy's ``xp`` parameters:
``jax.numpy``).  Tests with none count under ``(none)``.  Outcomes are
pytest's own: the first settled phase, a teardown error after the call
counting as an error, as in xpbridge's own tables.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

# The outcome rules of xpbridge's own tables (a module of the package, not its
# API: this runner ships beside it), so both runs are counted alike.
from xpbridge.testing._summary import outcome_of, settles


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--tally``."""
    parser.addoption("--tally", default=None, metavar="PATH", help="write outcomes per backend")


def _label(value: Any) -> str | None:
    if type(value).__name__ == "XPBackend":
        return str(value.id)
    pytest_param = getattr(value, "pytest_param", None)
    if callable(pytest_param):  # array-api-extra's Backend enum
        return str(pytest_param().id)
    if isinstance(value, ModuleType):
        return value.__name__
    return None


class _Tally:
    def __init__(self, path: str) -> None:
        self.path = path
        self.labels: dict[str, str] = {}
        self.final: dict[str, str] = {}

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            callspec = getattr(item, "callspec", None)
            params = callspec.params.values() if callspec is not None else ()
            labels = [label for label in map(_label, params) if label is not None]
            self.labels[item.nodeid] = labels[0] if labels else "(none)"

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome = outcome_of(report)
        if outcome is not None and settles(self.final.get(report.nodeid), outcome):
            self.final[report.nodeid] = outcome

    def pytest_sessionfinish(self) -> None:
        table: dict[str, Counter[str]] = {}
        for nodeid, outcome in self.final.items():
            table.setdefault(self.labels.get(nodeid, "(none)"), Counter())[outcome] += 1
        failures = sorted(n for n, o in self.final.items() if o in {"failed", "error"})
        out = {"totals": {k: dict(v) for k, v in table.items()}, "failures": failures}
        Path(self.path).write_text(json.dumps(out, indent=1) + "\n")


def pytest_configure(config: pytest.Config) -> None:
    """Record this run when ``--tally`` asks for it."""
    path = config.getoption("tally")
    if path is not None:
        config.pluginmanager.register(_Tally(path), "tally-recorder")
