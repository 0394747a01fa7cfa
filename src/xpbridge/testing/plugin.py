"""The pytest plugin: tests that ask for ``xp`` run once per installed backend and device.

Installed with xpbridge (entry point ``pytest11``, name ``xpbridge``; turn it
off with ``-p no:xpbridge``).  It stays out of the way of suites that do not
use it: it imports no array library at start-up, adds no test, and touches
only tests whose fixtures lead to ``xp_backend`` (through ``xp`` or
``xp_device``; a suite with its own ``xp`` fixture keeps it).

Fixtures
    ``xp`` (the array-API namespace), ``xp_device`` (the device),
    ``xp_backend`` (the :class:`~xpbridge.testing.XPBackend`).
Options
    ``--xp-backends=numpy,torch`` (or ``XPBRIDGE_XP_BACKENDS``) chooses;
    ``--xp-report=PATH`` writes the outcome table as JSON;
    ``--xp-summary=tests|totals|no`` sets what the terminal shows.
Markers
    ``xp_skip(*backends, reason=...)``,
    ``xp_xfail(*backends, reason=..., strict=True)``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ..errors import ArgumentError
from ._backends import (
    ENVIRONMENT_VARIABLE,
    XPBackend,
    check_selection,
    given_or_environment,
    parse_token,
    select,
)
from ._summary import PROPERTY, Summary

__all__ = ["xp", "xp_backend", "xp_device"]

_MARKERS = {"xp_skip": {"reason"}, "xp_xfail": {"reason", "strict"}}
_RUN_NAME = "xpbridge-run"


class _Run:
    """One pytest run: its backend selection, the backends once listed, the outcomes.

    Registered as a plugin object at configure time, so each run (pytester
    nests them) keeps its own state.
    """

    def __init__(self, config: pytest.Config, selection: str | None, source: str) -> None:
        self.config = config
        self.selection = selection
        self.source = source
        self.summary = Summary()
        self.notes: list[str] = []
        self._backends: list[XPBackend] | None = None
        self._error: str | None = None

    def backends(self) -> list[XPBackend]:
        """The backends to run on, listed (and their libraries imported) on first use."""
        if self._error is not None:
            raise pytest.UsageError(self._error)
        if self._backends is None:
            try:
                self._backends, self.notes = select(self.selection, self.source)
            except ArgumentError as e:
                self._error = str(e)
                raise pytest.UsageError(self._error) from None
            for b in self._backends:
                version = getattr(sys.modules.get(b.library), "__version__", "")
                self.summary.backends[b.id] = {
                    "library": b.library,
                    "device": b.device_label,
                    "version": str(version),
                }
        return self._backends

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrise every test that uses ``xp_backend`` (through ``xp`` or ``xp_device``)."""
        if "xp_backend" not in metafunc.fixturenames:
            return
        for marker in metafunc.definition.iter_markers("parametrize"):
            names = marker.args[0] if marker.args else ""
            if "xp_backend" in (names.split(",") if isinstance(names, str) else names):
                return  # the test chose its backends itself
        marks = _marks(metafunc.definition)
        params = [pytest.param(b, id=b.id, marks=marks(b)) for b in self.backends()]
        metafunc.parametrize("xp_backend", params, indirect=True)

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Label each backend test's reports with its backend id (the tables read it)."""
        for item in items:
            callspec = getattr(item, "callspec", None)
            backend = callspec.params.get("xp_backend") if callspec is not None else None
            if isinstance(backend, XPBackend):
                item.user_properties.append((PROPERTY, backend.id))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Count the outcome of a backend test."""
        self.summary.record(report)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Print the outcome tables, when any test ran on a backend."""
        mode = self.config.getoption("xp_summary")
        if mode == "no" or not (self.summary or self.notes):
            return
        terminalreporter.write_sep("=", "xpbridge: outcomes per backend")
        for note in self.notes:
            terminalreporter.write_line(f"note: {note}")
        if self.summary:
            for line in self.summary.lines(per_test=mode == "tests"):
                terminalreporter.write_line(line)

    def pytest_sessionfinish(self) -> None:
        """Write the JSON table when ``--xp-report`` asks for it."""
        path = self.config.getoption("xp_report")
        if path is None:
            return
        target = Path(self.config.invocation_params.dir) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.summary.as_json(), indent=2) + "\n")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``--xp-*`` options."""
    group = parser.getgroup("xpbridge", "xpbridge: tests over array backends and devices")
    group.addoption(
        "--xp-backends",
        default=None,
        metavar="NAMES",
        help="backends for tests that use the xp fixture, comma-separated names or ids "
        "(numpy,numpy-readonly,torch,array_api_strict,jax,cupy; torch-cuda:0). "
        f"Default: ${ENVIRONMENT_VARIABLE}, else every installed backend. "
        "A backend asked for but not installed is an error.",
    )
    group.addoption(
        "--xp-report",
        default=None,
        metavar="PATH",
        help="write the outcome of every xp test on every backend as JSON to PATH",
    )
    group.addoption(
        "--xp-summary",
        default="tests",
        choices=("tests", "totals", "no"),
        help="the outcome tables at the end of the run: per backend and per test "
        "(tests, the default), per backend only (totals), or none (no)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers; check a backend selection (by name, importing nothing)."""
    config.addinivalue_line(
        "markers",
        "xp_skip(*backends, reason=''): skip the test on these xp backends "
        "(names such as torch, or ids such as torch-cuda:0)",
    )
    config.addinivalue_line(
        "markers",
        "xp_xfail(*backends, reason='', strict=True): the test is expected to fail "
        "on these xp backends; strict: passing there fails the run",
    )
    selection, source = given_or_environment(config.getoption("xp_backends"), "--xp-backends")
    if selection is not None:
        try:
            check_selection(selection, source)
        except ArgumentError as e:
            raise pytest.UsageError(str(e)) from None
    config.pluginmanager.register(_Run(config, selection, source), _RUN_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Drop this run's state."""
    run = config.pluginmanager.get_plugin(_RUN_NAME)
    if run is not None:
        config.pluginmanager.unregister(run, _RUN_NAME)


def _marks(definition: Any) -> Callable[[XPBackend], list[pytest.MarkDecorator]]:
    """For one test: which skip and xfail marks each backend gets from xp_skip / xp_xfail."""
    rules: list[tuple[str, set[str], dict[str, Any]]] = []
    for name, allowed in _MARKERS.items():
        for marker in definition.iter_markers(name):
            extra = set(marker.kwargs) - allowed
            if extra or not marker.args:
                raise pytest.UsageError(
                    f"{definition.nodeid}: {name} takes backend names or ids and "
                    f"{', '.join(sorted(allowed))}=, not {marker.args!r} {marker.kwargs!r}"
                )
            try:
                for token in marker.args:
                    parse_token(token)
            except ArgumentError as e:
                raise pytest.UsageError(f"{definition.nodeid}: {name}: {e}") from None
            rules.append((name, set(marker.args), dict(marker.kwargs)))

    def marks(backend: XPBackend) -> list[pytest.MarkDecorator]:
        out = []
        for name, tokens, kwargs in rules:
            if backend.name in tokens or backend.id in tokens:
                reason = f"{backend.id}: {kwargs['reason']}" if kwargs.get("reason") else backend.id
                if name == "xp_skip":
                    out.append(pytest.mark.skip(reason=reason))
                else:
                    strict = bool(kwargs.get("strict", True))
                    out.append(pytest.mark.xfail(reason=reason, strict=strict))
        return out

    return marks


@pytest.fixture
def xp_backend(request: pytest.FixtureRequest) -> XPBackend:
    """The backend and device this run of the test uses (an :class:`XPBackend`)."""
    backend = getattr(request, "param", None)
    if not isinstance(backend, XPBackend):
        raise pytest.UsageError(
            f"{request.node.nodeid}: xp_backend is parametrised per test function; "
            f"a {request.scope}-scoped fixture cannot use it"
        )
    return backend


@pytest.fixture
def xp(xp_backend: XPBackend) -> Any:
    """The array-API namespace of this run's backend (imported on first use).

    NumPy, torch and CuPy come through array-api-compat; array-api-strict and
    JAX are their own namespaces.  On ``numpy-readonly`` every NumPy array its
    functions return is read-only; on a device other than the library's
    default, its creation functions (``asarray``, ``zeros``, ...) make arrays
    on that device.
    """
    return xp_backend.namespace()


@pytest.fixture
def xp_device(xp_backend: XPBackend) -> Any:
    """The device of this run: ``"cpu"`` for NumPy, else the library's device object."""
    return xp_backend.device
