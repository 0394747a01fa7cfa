"""The pytest plugin: tests that ask for ``xp`` run once per installed backend and device.

Installed with xpbridge (entry point ``pytest11``, name ``xpbridge``; turn it
off with ``-p no:xpbridge``).  It stays out of the way of suites that do not
use it: it imports no array library at start-up, adds no test, and touches
only tests whose fixtures lead to ``xp_backend`` (through ``xp``,
``xp_device`` or ``xp_devices``; a suite with its own ``xp`` fixture keeps
it).

Fixtures
    ``xp`` (the array-API namespace), ``xp_device`` (the device),
    ``xp_devices`` (every device of the library, for device-propagation
    tests), ``xp_backend`` (the :class:`~xpbridge.testing.XPBackend`).
    ``xp_backend`` is a fixture with ``params=``: hypothesis treats each
    backend as its own parametrised test.
Options
    ``--xp-backends=numpy,torch`` (or ``XPBRIDGE_XP_BACKENDS``) chooses;
    ``--xp-report=PATH`` writes the outcome table as JSON;
    ``--xp-summary=tests|totals|no`` sets what the terminal shows.
Markers
    ``xp_skip(*backends, reason=..., np_only=, cpu_only=, eager_only=, exceptions=)``,
    ``xp_xfail(..., strict=True)``, ``xp_functions(*functions)``.
Hooks (in a conftest)
    ``pytest_xp_settings(config)`` returns :class:`~xpbridge.testing.XPSettings`;
    ``pytest_xp_setup(backend, xp, request)`` sets up each test.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ..errors import ArgumentError
from . import _hooks
from ._backends import (
    ENVIRONMENT_VARIABLE,
    XPBackend,
    check_selection,
    given_or_environment,
    select,
)
from ._catalogue import LIBRARIES
from ._lazy import lazy_functions
from ._marks import _matches, dtype_skip, rules_for
from ._settings import XPSettings
from ._summary import PROPERTY, Summary

__all__ = ["xp", "xp_backend", "xp_device", "xp_devices"]

_RUN_NAME = "xpbridge-run"


class _Run:
    """One pytest run: its settings, backend selection, the backends once listed, the outcomes.

    Registered as a plugin object at configure time, so each run (pytester
    nests them) keeps its own state.
    """

    def __init__(self, config: pytest.Config, selection: str | None, source: str) -> None:
        self.config = config
        self.selection = selection
        self.source = source
        self.summary = Summary()
        self.notes: list[str] = []
        self._settings: XPSettings | None = None
        self._backends: list[XPBackend] | None = None
        self._namespaces: dict[str, Any] = {}
        self._error: str | None = None

    @property
    def settings(self) -> XPSettings:
        """The suite's settings (its ``pytest_xp_settings`` hook), read on first use."""
        if self._settings is None:
            found = self.config.hook.pytest_xp_settings(config=self.config)
            if found is not None and not isinstance(found, XPSettings):
                raise pytest.UsageError(
                    f"pytest_xp_settings returned {type(found).__name__}; "
                    f"return an xpbridge.testing.XPSettings"
                )
            self._settings = found or XPSettings()
        return self._settings

    def backends(self) -> list[XPBackend]:
        """The backends to run on, listed (and their libraries imported) on first use."""
        if self._error is not None:
            raise pytest.UsageError(self._error)
        if self._backends is None:
            selection: str | Sequence[str] | None = self.selection
            source = self.source
            if selection is None and self.settings.backends is not None:
                selection, source = self.settings.backends, "XPSettings(backends=...)"
            try:
                self._backends, self.notes = select(selection, source)
            except ArgumentError as e:
                self._error = str(e)
                raise pytest.UsageError(self._error) from None
            for b in self._backends:
                version = getattr(sys.modules.get(LIBRARIES[b.library].module), "__version__", "")
                self.summary.backends[b.id] = {
                    "library": b.library,
                    "device": b.device_label,
                    "version": str(version),
                }
        return self._backends

    def namespace(self, backend: XPBackend) -> Any:
        """The ``xp`` of a backend (one object per backend for the whole run)."""
        found = self._namespaces.get(backend.id)
        if found is None:
            try:
                found = backend.namespace(self.settings.array_api_compat)
            except ArgumentError as e:
                raise pytest.UsageError(str(e)) from None
            self._namespaces[backend.id] = found
        return found

    def _backend_marks(self, backend: XPBackend) -> list[Any]:
        marks = [
            mark
            for token, given in self.settings.backend_marks.items()
            if _matches(token, backend)
            for mark in given
        ]
        if not backend.capabilities["thread_safe"] and _registered(self.config, "thread_unsafe"):
            marks.append(pytest.mark.thread_unsafe)
        return marks

    @pytest.hookimpl(tryfirst=True)
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Give the plugin's ``xp_backend`` fixture its ``params``, once, when a test first needs it.

        pytest's own fixture machinery then parametrises every test that
        uses it, so hypothesis and other plugins see a fixture with params.
        """
        if "xp_backend" not in metafunc.fixturenames:
            return
        definitions = getattr(metafunc, "_arg2fixturedefs", {}).get("xp_backend", ())
        for definition in definitions:
            if (
                getattr(definition.func, "__module__", None) == __name__
                and definition.params is None
            ):
                params = tuple(
                    pytest.param(b, id=b.id, marks=self._backend_marks(b)) for b in self.backends()
                )
                definition.params = params

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Label each backend test with its backend id, and mark it per its markers.

        Markers are read from the collected item, so ``pytest.param(...,
        marks=...)`` entries count as much as the test's own.
        """
        for item in items:
            callspec = getattr(item, "callspec", None)
            backend = callspec.params.get("xp_backend") if callspec is not None else None
            if not isinstance(backend, XPBackend):
                continue
            item.user_properties.append((PROPERTY, backend.id))
            try:
                rules = rules_for(item, self.settings)
                skip_dtype = dtype_skip(item, backend)
            except ArgumentError as e:
                raise pytest.UsageError(str(e)) from None
            for rule in rules:
                if rule.applies(backend):
                    reason = rule.reason_for(backend)
                    if rule.action == "xp_skip":
                        item.add_marker(pytest.mark.skip(reason=reason))
                    else:
                        item.add_marker(pytest.mark.xfail(reason=reason, strict=rule.strict))
            if skip_dtype is not None:
                item.add_marker(pytest.mark.skip(reason=skip_dtype))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        """Give each backend's run of a hypothesis test its own example-database key.

        hypothesis' pytest plugin means to key a parametrised test by its node
        id, but it skips that once the test's settings suppress both
        ``function_scoped_fixture`` (which an ``xp`` test must) and
        ``differing_executors`` (which that plugin adds on the first run):
        every backend after the first would share the first one's examples.
        The key is set the way hypothesis' plugin sets it, through the same
        attribute.
        """
        test = getattr(getattr(item, "obj", None), "hypothesis", None)
        callspec = getattr(item, "callspec", None)
        if test is not None and callspec is not None and "xp_backend" in callspec.params:
            test.inner_test._hypothesis_internal_add_digest = item.nodeid.encode()
        return (yield)

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

    @contextlib.contextmanager
    def set_up(self, backend: XPBackend, request: pytest.FixtureRequest) -> Iterator[None]:
        """The variant's own set-up, then the suite's ``pytest_xp_setup`` hooks, for one test."""
        xp = self.namespace(backend)
        with contextlib.ExitStack() as stack:
            if backend.kind.strict_flags:
                stack.enter_context(xp.ArrayAPIStrictFlags(**dict(backend.kind.strict_flags)))
            stack.enter_context(lazy_functions(getattr(request, "module", None), backend))
            for found in request.node.ihook.pytest_xp_setup(
                backend=backend, xp=xp, request=request
            ):
                if found is not None:
                    stack.enter_context(found)
            yield


def _registered(config: pytest.Config, marker: str) -> bool:
    """Whether a marker is registered (``thread_unsafe`` is pytest-run-parallel's)."""
    lines = config.getini("markers")
    return any(str(line).split(":")[0].split("(")[0].strip() == marker for line in lines)


def _run(config: pytest.Config) -> _Run:
    run = config.pluginmanager.get_plugin(_RUN_NAME)
    assert isinstance(run, _Run)
    return run


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Register ``pytest_xp_settings`` and ``pytest_xp_setup`` for conftests to implement."""
    pluginmanager.add_hookspecs(_hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``--xp-*`` options."""
    group = parser.getgroup("xpbridge", "xpbridge: tests over array backends and devices")
    group.addoption(
        "--xp-backends",
        default=None,
        metavar="NAMES",
        help="backends for tests that use the xp fixture, comma-separated names or ids "
        "(numpy,numpy-readonly,torch,array_api_strict,jax,dask,cupy; variants "
        "array_api_strict-strictest,jax-jit; ids such as torch-cuda:0, torch-meta). "
        f"Default: ${ENVIRONMENT_VARIABLE}, else the suite's XPSettings(backends=), "
        "else every installed backend. An empty value is no selection. "
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
        "xp_skip(*backends, reason='', np_only=False, cpu_only=False, eager_only=False, "
        "exceptions=()): skip the test on these xp backends (names such as torch, ids "
        "such as torch-cuda:0), or on every backend of a category but the exceptions",
    )
    config.addinivalue_line(
        "markers",
        "xp_xfail(*backends, reason='', strict=True, np_only=False, cpu_only=False, "
        "eager_only=False, exceptions=()): the test is expected to fail on these xp "
        "backends; strict: passing there fails the run",
    )
    config.addinivalue_line(
        "markers",
        "xp_functions(*functions): the functions the test tests; their "
        "xpbridge.testing.capabilities declarations skip and xfail it per backend",
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


@pytest.fixture
def xp_backend(request: pytest.FixtureRequest) -> Iterator[XPBackend]:
    """The backend and device this run of the test uses (an :class:`XPBackend`).

    Before the test runs, the backend's own set-up (array-api-strict flags
    of a variant, lazy functions on ``dask`` and ``jax-jit``) and the
    suite's ``pytest_xp_setup`` hooks; after it, their undoing.
    """
    backend = getattr(request, "param", None)
    if not isinstance(backend, XPBackend):
        raise pytest.UsageError(
            f"{request.node.nodeid}: xp_backend is parametrised per test function; "
            f"a {request.scope}-scoped fixture cannot use it"
        )
    with _run(request.config).set_up(backend, request):
        yield backend


@pytest.fixture
def xp(xp_backend: XPBackend, request: pytest.FixtureRequest) -> Any:
    """The array-API namespace of this run's backend (imported on first use).

    NumPy, torch, Dask and CuPy come through array-api-compat (the suite's
    own copy when its settings name one); array-api-strict and JAX are their
    own namespaces.  On ``numpy-readonly`` every NumPy array its functions
    return is read-only; on a device other than the library's default, its
    creation functions (``asarray``, ``zeros``, ...) make arrays on that
    device.
    """
    return _run(request.config).namespace(xp_backend)


@pytest.fixture
def xp_device(xp_backend: XPBackend) -> Any:
    """The device of this run: ``"cpu"`` for NumPy and Dask, else the library's device object."""
    return xp_backend.device


@pytest.fixture
def xp_devices(xp_backend: XPBackend) -> list[Any]:
    """Every device of this run's library that holds data, for device-propagation tests.

    NumPy and Dask: ``["cpu"]``; torch: its CPU and accelerators (not
    ``meta``); array-api-strict: all its devices; JAX: its devices.
    """
    return [d for label, d in LIBRARIES[xp_backend.library].devices() if label != "meta"]
