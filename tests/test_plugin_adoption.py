"""The pytest plugin as a drop-in for real suites: settings, hooks, variants, markers, declarations.

Each test writes a small suite with pytester and runs it in process, on the
few backends it needs.
"""

from __future__ import annotations

import inspect
import re
import sys

import array_api_compat
import pytest
from frameworks import SCIPY_ARRAY_API_COMPAT, needs_limited_devices, needs_torch

from xpbridge.errors import ArgumentError
from xpbridge.testing import (
    XPSettings,
    backends_table,
    capabilities,
    capabilities_table,
    xp_backends,
)

pytest_plugins = ["pytester"]

DEFAULT = [b.id for b in xp_backends(None)]


def _ids(result: pytest.RunResult, test: str) -> list[str]:
    return [line.partition("[")[2].rstrip("]") for line in result.outlines if f"::{test}[" in line]


def _verdicts(result: pytest.RunResult) -> dict[str, str]:
    """``{"test_x[numpy]": "PASSED", ...}`` from a ``-v`` run."""
    found = (re.match(r"^\S+::(\S+\[\S+\]) ([A-Z]+)", line) for line in result.outlines)
    return {m.group(1): m.group(2) for m in found if m}


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "-W", "error", "-rsx", *args)


# --- choosing backends ----------------------------------------------------------


@pytest.mark.parametrize("given", ["", ",", " , "])
def test_an_empty_selection_is_no_selection_from_the_option_and_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    pytester.makepyfile("def test_sum(xp):\n    pass\n")
    monkeypatch.delenv("XPBRIDGE_XP_BACKENDS", raising=False)
    everything = _ids(pytester.runpytest("--collect-only", "-q"), "test_sum")
    assert everything == DEFAULT
    assert "dask" in DEFAULT  # Dask runs by default where it is installed
    assert (
        _ids(pytester.runpytest("--collect-only", "-q", f"--xp-backends={given}"), "test_sum")
        == DEFAULT
    )
    monkeypatch.setenv("XPBRIDGE_XP_BACKENDS", given)
    assert _ids(pytester.runpytest("--collect-only", "-q"), "test_sum") == DEFAULT
    # An empty option falls back to the environment, as an absent one does.
    monkeypatch.setenv("XPBRIDGE_XP_BACKENDS", "numpy-readonly")
    result = pytester.runpytest("--collect-only", "-q", f"--xp-backends={given}")
    assert _ids(result, "test_sum") == ["numpy-readonly"]
    assert [b.id for b in xp_backends(given)] == ["numpy-readonly"]
    monkeypatch.delenv("XPBRIDGE_XP_BACKENDS")
    assert [b.id for b in xp_backends(given)] == DEFAULT


@needs_torch  # its backend selection names torch
@needs_limited_devices  # and array-api-strict's no_float64
def test_variants_and_devices_have_ids_and_a_capability_table() -> None:
    chosen = xp_backends(
        "numpy-readonly,torch-meta,array_api_strict-strictest-CPU_DEVICE,"
        "array_api_strict-no_float64,jax-jit,dask.array"
    )
    assert [b.id for b in chosen] == [
        "numpy-readonly",
        "torch-meta",
        "array_api_strict-strictest-CPU_DEVICE",
        "array_api_strict-no_float64",
        "jax-jit-cpu",
        "dask",
    ]
    table = backends_table(chosen).splitlines()
    assert table[0].startswith("| backend | library | device | eager | writable | float64 | data |")
    rows = {line.split(" | ")[0].strip("| "): line for line in table[2:]}
    assert rows["torch-meta"].startswith(
        "| torch-meta | torch | meta | yes | yes | yes | no | no |"
    )
    assert "| dask | dask | cpu | no |" in rows["dask"]
    # float64 no, data yes, not the CPU (a simulated other device)
    assert "| yes | yes | no | yes | no | no |" in rows["array_api_strict-no_float64"]
    assert "with jax_enable_x64" in rows["jax-jit-cpu"]
    caps = {b.id: b.capabilities for b in chosen}
    assert not caps["torch-meta"]["by_default"] and not caps["torch-meta"]["cpu"]
    assert not caps["jax-jit-cpu"]["eager"] and not caps["jax-jit-cpu"]["by_default"]
    assert not caps["array_api_strict-strictest-CPU_DEVICE"]["thread_safe"]
    assert caps["numpy-readonly"]["thread_safe"] and not caps["numpy-readonly"]["writable"]


@needs_torch  # its backend selection names torch
def test_a_wrapped_namespace_offers_the_identity_array_namespace_gives() -> None:
    for backend in xp_backends("numpy-readonly,array_api_strict-device1,torch-meta"):
        xp = backend.namespace()
        x = xp.asarray([1.0, 2.0])
        assert array_api_compat.array_namespace(x) == xp
        assert array_api_compat.array_namespace(x) is inspect.unwrap(xp)


# --- the suite's settings ---------------------------------------------------------

SUITE_WITH_ITS_OWN_NAMES = """
import enum
import pytest

class Backend(enum.Enum):
    NUMPY = "numpy"
    READONLY = "numpy:readonly"
    SPARSE = "sparse"

@pytest.mark.skip_xp_backend(Backend.READONLY, reason="writes")
def test_writes(xp):
    x = xp.asarray([1.0])
    x[0] = 2.0

@pytest.mark.xfail_xp_backend(Backend.NUMPY, reason="known bug", strict=True)
def test_bug(xp_backend):
    assert xp_backend.readonly

@pytest.mark.skip_xp_backend(Backend.SPARSE, reason="covered by the suite's own fixture")
def test_not_ours(xp):
    pass

@pytest.mark.parametrize("n", [1, pytest.param(2, marks=pytest.mark.skip_xp_backend(Backend.NUMPY))])
def test_param(xp, n):
    pass
"""

CONFTEST_WITH_ITS_OWN_NAMES = """
import pytest
from xpbridge.testing import XPSettings

def pytest_configure(config):
    config.addinivalue_line("markers", "skip_xp_backend(library): the suite's own")
    config.addinivalue_line("markers", "xfail_xp_backend(library): the suite's own")

def pytest_xp_settings(config):
    from test_suite import Backend
    return XPSettings(
        backends="numpy,numpy-readonly",
        markers={"skip_xp_backend": "xp_skip", "xfail_xp_backend": "xp_xfail"},
        aliases={Backend.NUMPY: "numpy", Backend.READONLY: "numpy-readonly", Backend.SPARSE: ()},
    )
"""


def test_a_suites_own_markers_and_backend_names_drive_the_plugin(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_suite=SUITE_WITH_ITS_OWN_NAMES)
    pytester.makeconftest(CONFTEST_WITH_ITS_OWN_NAMES)
    result = _run(pytester, "--strict-markers")
    # test_writes: numpy passes, readonly skipped; test_bug: numpy xfails, readonly
    # passes; test_not_ours: both pass (sparse is not xpbridge's: the marker is
    # inert); test_param: n=2 is skipped on numpy only.
    result.assert_outcomes(passed=7, skipped=2, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "test_suite.py::test_param * 1 passed 1 skipped * 2 passed",
            "SKIPPED [[]1[]] test_suite.py:*: numpy-readonly: writes",
            "SKIPPED [[]1[]] test_suite.py:*: numpy",
            "XFAIL test_suite.py::test_bug?numpy? - numpy: known bug",
        ]
    )


def test_an_unknown_backend_in_a_suites_marker_is_a_usage_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_suite="""
        import pytest

        @pytest.mark.skip_xp_backend("sparse")
        def test_x(xp):
            pass
        """
    )
    pytester.makeconftest(
        """
        from xpbridge.testing import XPSettings

        def pytest_configure(config):
            config.addinivalue_line("markers", "skip_xp_backend(library): the suite's own")

        def pytest_xp_settings(config):
            return XPSettings(backends="numpy", markers={"skip_xp_backend": "xp_skip"})
        """
    )
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*skip_xp_backend: unknown xp backend 'sparse'*XPSettings(aliases={'sparse': ()})*"]
    )


def test_settings_check_their_names_at_once() -> None:
    with pytest.raises(ArgumentError, match=r"XPSettings\(backends\): unknown xp backend 'nunpy'"):
        XPSettings(backends="numpy,nunpy")
    with pytest.raises(ArgumentError, match=r"aliases\['x'\]"):
        XPSettings(aliases={"x": "tourch"})
    with pytest.raises(ArgumentError, match="stands for xp_skip or xp_xfail"):
        XPSettings(markers={"skip_xp_backends": "skipif"})
    with pytest.raises(ArgumentError, match="backend_marks"):
        XPSettings(backend_marks={"jaks": []})


def test_settings_of_the_wrong_type_are_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(xp):\n    pass\n")
    pytester.makeconftest("def pytest_xp_settings(config):\n    return {'backends': 'numpy'}\n")
    result = _run(pytester)
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*pytest_xp_settings returned dict*XPSettings*"])


def test_the_option_wins_over_the_suites_default_selection(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_sum(xp):\n    pass\n")
    pytester.makeconftest(
        "from xpbridge.testing import XPSettings\n"
        "def pytest_xp_settings(config):\n"
        "    return XPSettings(backends='numpy-readonly')\n"
    )
    assert _ids(pytester.runpytest("--collect-only", "-q"), "test_sum") == ["numpy-readonly"]
    result = pytester.runpytest("--collect-only", "-q", "--xp-backends=numpy")
    assert _ids(result, "test_sum") == ["numpy"]


@needs_torch  # its backend selection names torch
def test_the_namespace_comes_from_the_suites_array_api_compat(pytester: pytest.Pytester) -> None:
    if SCIPY_ARRAY_API_COMPAT is None:
        pytest.skip("needs SciPy (not installed here)")
    pytester.makepyfile(
        f"""
        import numpy as np
        from scipy._lib._array_api import array_namespace

        def test_namespace(xp, xp_backend):
            assert xp.__name__.startswith("{SCIPY_ARRAY_API_COMPAT}.")
            x = xp.asarray([1.0])
            if xp_backend.name == "numpy":
                assert array_namespace(x) is xp
        """
    )
    pytester.makeconftest(
        "from xpbridge.testing import XPSettings\n"
        "def pytest_xp_settings(config):\n"
        f"    return XPSettings(array_api_compat={SCIPY_ARRAY_API_COMPAT!r})\n"
    )
    _run(pytester, "--xp-backends=numpy,numpy-readonly,torch,dask").assert_outcomes(passed=4)
    pytester.makeconftest(
        "from xpbridge.testing import XPSettings\n"
        "def pytest_xp_settings(config):\n"
        "    return XPSettings(array_api_compat='no_such_package.array_api_compat')\n"
    )
    result = _run(pytester, "--xp-backends=numpy")
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["*array_api_compat='no_such_package.array_api_compat' has no numpy*"]
    )


@needs_torch  # its backend selection names torch
def test_backend_marks_from_the_settings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_sum(xp):\n    pass\n")
    pytester.makeconftest(
        """
        import pytest
        from xpbridge.testing import XPSettings

        def pytest_configure(config):
            config.addinivalue_line("markers", "heavy: the suite's own")

        def pytest_xp_settings(config):
            return XPSettings(backends="numpy,numpy-readonly,torch-cpu",
                              backend_marks={"torch": [pytest.mark.heavy]})
        """
    )
    result = pytester.runpytest("--collect-only", "-q", "-m", "not heavy")
    assert _ids(result, "test_sum") == ["numpy", "numpy-readonly"]


# --- per-test set-up --------------------------------------------------------------

SETUP_CONFTEST = """
import contextlib
import pytest

EVENTS = []

def pytest_xp_setup(backend, xp, request):
    EVENTS.append(("setup", backend.id, request.node.name))

    @contextlib.contextmanager
    def undo():
        EVENTS.append(("enter", backend.id, xp.__name__))
        yield
        EVENTS.append(("exit", backend.id, request.node.name))

    return undo() if backend.name == "numpy" else None

@pytest.fixture
def events():
    return EVENTS
"""


def test_the_setup_hook_runs_around_each_test_on_each_backend(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SETUP_CONFTEST)
    pytester.makepyfile(
        """
        def test_first(xp, events):
            assert events[-1][0] in {"enter", "setup"}

        def test_second(xp_device, events):
            pass

        def test_last(events):
            assert events == [
                ("setup", "numpy", "test_first[numpy]"),
                ("enter", "numpy", "array_api_compat.numpy"),
                ("exit", "numpy", "test_first[numpy]"),
                ("setup", "numpy-readonly", "test_first[numpy-readonly]"),
                ("setup", "numpy", "test_second[numpy]"),
                ("enter", "numpy", "array_api_compat.numpy"),
                ("exit", "numpy", "test_second[numpy]"),
                ("setup", "numpy-readonly", "test_second[numpy-readonly]"),
            ]
        """
    )
    _run(pytester, "--xp-backends=numpy,numpy-readonly").assert_outcomes(passed=5)


# --- variants ----------------------------------------------------------------------


def test_strictest_sets_its_flags_for_each_test_and_restores_them(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import array_api_strict

        def test_flags(xp, xp_backend):
            flags = array_api_strict.get_array_api_strict_flags()
            strictest = xp_backend.name == "array_api_strict-strictest"
            assert flags["boolean_indexing"] is not strictest
            assert flags["data_dependent_shapes"] is not strictest
            assert (flags["enabled_extensions"] == ()) is strictest

        def test_after():
            assert array_api_strict.get_array_api_strict_flags()["boolean_indexing"]
        """
    )
    result = _run(
        pytester, "--xp-backends=array_api_strict-CPU_DEVICE,array_api_strict-strictest-CPU_DEVICE"
    )
    result.assert_outcomes(passed=3)


@needs_torch  # its backend selection names torch
def test_torch_meta_is_a_device_that_holds_no_data(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from xpbridge.testing import assert_equal

        def test_meta(xp, xp_device, xp_devices):
            x = xp.asarray([1.0, 2.0])
            assert x.device == xp_device and str(xp_device) == "meta"
            assert_equal(x + x, xp.asarray([5.0, 7.0]))  # the facts only: no values
            assert "meta" not in {str(d) for d in xp_devices}
        """
    )
    _run(pytester, "--xp-backends=torch-meta").assert_outcomes(passed=1)


LAZY_MODULE = """
import pytest
from xpbridge.testing import capabilities

@capabilities()
def lazy_double(x):
    return x * 2

@capabilities()
def computes(x):
    return x * float(x.sum())

@capabilities(allow_dask_compute=1, jax_jit=False)
def computes_once(x):
    return x * float(x.sum())

def not_declared(x):
    return x * float(x.sum())

@pytest.mark.xp_skip("jax", reason="not under jit")
def test_lazy(xp, xp_backend):
    x = xp.asarray([1.0, 2.0])
    assert float(lazy_double(x)[1]) == 4.0
    assert float(not_declared(x)[0]) == 3.0
    assert float(computes_once(x)[0]) == 3.0
    if xp_backend.name == "dask":
        with pytest.raises(AssertionError, match=r"computes made Dask compute 1 times; .*never"):
            computes(x)
    elif xp_backend.name == "jax-jit":
        import jax
        with pytest.raises(jax.errors.ConcretizationTypeError):
            computes(x)
    else:
        assert float(computes(x)[0]) == 3.0

def test_restored():
    assert computes.__name__ == "computes" and not hasattr(computes, "__wrapped__")
"""


def test_declared_functions_run_lazily_on_dask_and_under_jax_jit(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_lazy=LAZY_MODULE)
    result = _run(pytester, "--xp-backends=numpy,jax,jax-jit,dask")
    result.assert_outcomes(passed=4, skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*jax-cpu: not under jit*"])


def test_stateful_variants_are_thread_unsafe_under_pytest_run_parallel(
    pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("pytest_run_parallel")
    pytester.makepyfile("def test_x(xp):\n    pass\n")
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--parallel-threads=2",
        "-v",
        "--xp-backends=numpy,dask,array_api_strict-strictest-CPU_DEVICE,jax-jit",
    )
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*test_x?numpy? PARALLEL PASSED*",
            "*test_x?dask? PASSED*thread_unsafe*",
            "*test_x?array_api_strict-strictest-CPU_DEVICE? PASSED*thread_unsafe*",
            "*test_x?jax-jit-cpu? PASSED*thread_unsafe*",
        ]
    )


# --- markers -----------------------------------------------------------------------


@needs_torch  # its backend selection names torch
def test_category_markers_with_exceptions(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.xp_skip(np_only=True, exceptions=["torch"])
        def test_np_only(xp):
            pass

        @pytest.mark.xp_skip(cpu_only=True, reason="calls NumPy")
        def test_cpu_only(xp):
            pass

        @pytest.mark.xp_xfail(eager_only=True, exceptions=["dask.array"], reason="bool()")
        def test_eager_only(xp_backend):
            assert xp_backend.lazy != "jit"
        """
    )
    backends = "numpy,numpy-readonly,torch-cpu,torch-meta,dask,jax-jit"
    result = _run(pytester, f"--xp-backends={backends}", "-v")
    outcomes = _verdicts(result)
    expected = {
        "test_np_only": "PASSED PASSED PASSED PASSED SKIPPED SKIPPED",
        "test_cpu_only": "PASSED PASSED PASSED SKIPPED PASSED PASSED",
        "test_eager_only": "PASSED PASSED PASSED PASSED PASSED XFAIL",
    }
    order = ["numpy", "numpy-readonly", "torch-cpu", "torch-meta", "dask", "jax-jit-cpu"]
    for test, verdicts in expected.items():
        got = " ".join(outcomes[f"{test}[{b}]"] for b in order)
        assert got == verdicts, test
    result.stdout.fnmatch_lines(["*SKIPPED*torch-meta: calls NumPy*"])


def test_module_names_stand_for_their_backends(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.xp_skip("jax.numpy")
        @pytest.mark.xp_skip("dask.array")
        def test_x(xp):
            pass
        """
    )
    result = _run(pytester, "--xp-backends=numpy,jax,jax-jit,dask")
    result.assert_outcomes(passed=1, skipped=3)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("xp_skip('torch', np_only=True)", "give backends, or one of"),
        ("xp_skip(np_only=True, cpu_only=True)", "give backends, or one of"),
        ("xp_skip()", "name a backend, or one of"),
        ("xp_skip('torch', exceptions=['jax'])", "exceptions= goes with"),
        ("xp_xfail('torch', strict=False, because='x')", "not ['because']"),
        ("xp_skip(np_only=True, exceptions=['tourch'])", "unknown xp backend 'tourch'"),
    ],
)
def test_marker_arguments_are_checked(pytester: pytest.Pytester, marker: str, message: str) -> None:
    pytester.makepyfile(f"import pytest\n\n@pytest.mark.{marker}\ndef test_x(xp):\n    pass\n")
    result = _run(pytester, "--xp-backends=numpy")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


@needs_torch  # its backend selection names torch
def test_markers_for_backends_that_are_known_but_absent_do_nothing(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        "import pytest\n\n@pytest.mark.xp_skip('cupy')\n@pytest.mark.xp_xfail('torch-cuda')\n"
        "def test_x(xp):\n    pass\n"
    )
    _run(pytester, "--xp-backends=numpy,torch-cpu").assert_outcomes(passed=2)


# --- hypothesis ----------------------------------------------------------------------

HYPOTHESIS_SUITE = """
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

class TestInAClass:
    # hypothesis' differing_executors check is left on: the plugin's xp_backend
    # is a fixture with params, which hypothesis recognises as parametrisation.
    @settings(max_examples=5, deadline=None, database=DirectoryBasedExampleDatabase("db"),
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(n=st.integers(0, 10))
    def test_method(self, xp, n):
        assert xp.asarray(n) >= 0

    @settings(max_examples=5, deadline=None, database=DirectoryBasedExampleDatabase("db"),
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(n=st.integers(0, 10))
    def test_fails(self, xp, n):
        assert n < 3
"""


@needs_torch  # its backend selection names torch
def test_hypothesis_sees_one_parametrised_test_per_backend(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_hyp=HYPOTHESIS_SUITE)
    # What hypothesis keys each run's examples by: its pytest plugin gives a
    # parametrised test (a fixture with params counts) the item's node id.
    # (Counting the database's folders says nothing: a key's shrinking and
    # secondary examples have folders of their own, as many as the run needs.)
    pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_call(item):
            try:
                return (yield)
            finally:
                inner = item.obj.hypothesis.inner_test
                digest = getattr(inner, "_hypothesis_internal_add_digest", b"")
                print(f"KEY {item.nodeid} {digest.decode()}")
        """
    )
    result = _run(pytester, "--xp-backends=numpy,numpy-readonly,torch-cpu", "-s")
    result.assert_outcomes(passed=3, failed=3)
    assert "differing_executors" not in result.stdout.str()
    # Each backend's examples are saved under its own key in the example database.
    keys = dict(re.findall(r"KEY (\S+) (\S+)", result.stdout.str()))
    assert len(keys) == 6 and all(node == key for node, key in keys.items()), keys


# --- declarations ------------------------------------------------------------------

DECLARED = """
import pytest
from xpbridge.testing import capabilities, xp_functions

@capabilities(skip={"jax": "immutable"}, xfail=["torch-meta"], dtypes=["float32", "float64"])
def center(x):
    return x

@capabilities(np_only=True, exceptions=["dask"], reason="calls NumPy")
def via_numpy(x):
    return x

def undeclared(x):
    return x

@xp_functions(center)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int8"])
def test_center(xp, xp_backend, dtype):
    assert xp_backend.device_label != "meta"

@pytest.mark.parametrize("f", [pytest.param(center, marks=xp_functions(center)),
                               pytest.param(via_numpy, marks=xp_functions(via_numpy))])
def test_each(xp_backend, f):
    assert xp_backend.device_label != "meta"
"""


@needs_torch  # its backend selection names torch
def test_declarations_drive_skips_xfails_and_dtypes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_declared=DECLARED)
    result = _run(pytester, "--xp-backends=numpy,torch-meta,jax,dask", "-v")
    verdicts = _verdicts(result)
    assert verdicts["test_center[numpy-float32]"] == "PASSED"
    assert verdicts["test_center[numpy-int8]"] == "SKIPPED"  # not a declared dtype
    assert verdicts["test_center[torch-meta-float64]"] == "XFAIL"
    assert verdicts["test_center[jax-cpu-float32]"] == "SKIPPED"
    assert verdicts["test_each[numpy-center]"] == "PASSED"
    assert verdicts["test_each[torch-meta-center]"] == "XFAIL"
    assert verdicts["test_each[jax-cpu-center]"] == "SKIPPED"
    assert verdicts["test_each[jax-cpu-via_numpy]"] == "SKIPPED"  # np_only
    assert verdicts["test_each[dask-via_numpy]"] == "PASSED"  # the exception
    assert verdicts["test_each[torch-meta-via_numpy]"] == "SKIPPED"
    result.stdout.fnmatch_lines(
        ["*SKIPPED*numpy: center does not take int8*", "*SKIPPED*jax-cpu: immutable*"]
    )
    pytester.makepyfile(
        test_declared="import pytest\n\ndef f(x):\n    return x\n\n"
        "@pytest.mark.xp_functions.with_args(f)\ndef test_f(xp):\n    pass\n"
    )
    result = _run(pytester, "--xp-backends=numpy")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "xp_functions names 'f', which has no declaration" in result.stderr.str()


def test_the_capabilities_table_is_rendered_from_the_declarations() -> None:
    @capabilities(skip={"jax.numpy": "immutable"}, xfail=["torch"], dtypes=["float32"])
    def center(x: object) -> object:
        return x

    @capabilities(cpu_only=True, allow_dask_compute=True, jax_jit=False)
    def solve(x: object) -> object:
        return x

    table = capabilities_table(
        center, solve, backends=["numpy", "torch", "jax", "jax-jit", "dask", "cupy"]
    )
    assert table.splitlines() == [
        "| function | numpy | torch | jax | jax-jit | dask | cupy | dtypes |",
        "|---|---|---|---|---|---|---|---|",
        "| center | yes | no (known failure) | no | no | yes | yes | float32 |",
        (
            "| solve | yes | yes: CPU only | yes: CPU only | yes: CPU only, not jitted "
            "| yes: computes | no | any |"
        ),
    ]
    with pytest.raises(ArgumentError, match="has no declaration"):
        capabilities_table(len)
    with pytest.raises(ArgumentError, match="unknown backend names"):
        capabilities_table(center, backends=["numpyy"])
    with pytest.raises(ArgumentError, match="unknown xp backend 'jaks'"):
        capabilities(skip=["jaks"])
    with pytest.raises(ArgumentError, match="unknown dtype names"):
        capabilities(dtypes=["float"])


@pytest.mark.subprocess
def test_importing_the_toolkit_still_imports_no_array_library() -> None:
    import subprocess

    code = (
        "import sys, xpbridge.testing, xpbridge.testing.plugin\n"
        "from xpbridge.testing import capabilities, XPSettings\n"
        "@capabilities(skip=['jax'])\ndef f(x): return x\n"
        "XPSettings(backends='numpy,dask', aliases={'sparse': ()})\n"
        "print(sorted({'numpy', 'torch', 'jax', 'dask', 'array_api_strict'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_xp_markers_on_pytest_param_entries_apply_to_that_entry(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", [
            1,
            pytest.param(2, marks=pytest.mark.xp_skip("numpy-readonly", reason="two")),
            pytest.param(3, marks=pytest.mark.xp_xfail("numpy", reason="three")),
        ])
        def test_entry(xp_backend, n):
            assert n != 3
        """
    )
    result = _run(pytester, "--xp-backends=numpy,numpy-readonly", "-v")
    assert _verdicts(result) == {
        "test_entry[numpy-1]": "PASSED",
        "test_entry[numpy-2]": "PASSED",
        "test_entry[numpy-3]": "XFAIL",
        "test_entry[numpy-readonly-1]": "PASSED",
        "test_entry[numpy-readonly-2]": "SKIPPED",
        "test_entry[numpy-readonly-3]": "FAILED",
    }
