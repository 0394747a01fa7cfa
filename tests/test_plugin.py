"""The pytest plugin (xpbridge.testing.plugin), run on small suites written by pytester."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

import xpbridge as xb
from xpbridge.testing import xp_backends
from xpbridge.testing._backends import BACKENDS, parse_token

pytest_plugins = ["pytester"]

# Every backend whose library is installed here, and one whose library is not.
INSTALLED = [b.id for b in xp_backends()]
MISSING = [n for n, lib in BACKENDS.items() if importlib.util.find_spec(lib) is None]

USES_XP = """
import pytest
from xpbridge.testing import assert_equal

def test_plain():
    assert True

def test_sum(xp, xp_device):
    x = xp.asarray([1, 2, 3], device=xp_device)
    assert_equal(x + x, xp.asarray([2, 4, 6], device=xp_device))
"""


def _write_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sum=USES_XP)


def _ids(result: pytest.RunResult) -> list[str]:
    return [line.partition("[")[2].rstrip("]") for line in result.outlines if "::test_sum[" in line]


def test_tests_are_parametrised_per_backend_and_device_with_readable_ids(
    pytester: pytest.Pytester,
) -> None:
    _write_suite(pytester)
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider")
    assert _ids(result) == INSTALLED
    expected = {
        "numpy": ["numpy", "numpy-readonly"],
        "torch": ["torch-cpu"],
        "array_api_strict": ["array_api_strict-CPU_DEVICE", "array_api_strict-device1"],
        "jax": ["jax-cpu"],
        "dask": ["dask"],
    }
    for library, ids in expected.items():
        if library not in MISSING:
            assert set(ids) <= set(INSTALLED), library
    assert "test_sum.py::test_plain" in result.outlines  # untouched
    outcome = pytester.runpytest("-p", "no:cacheprovider", "-W", "error")
    outcome.assert_outcomes(passed=len(INSTALLED) + 1)


def test_xp_makes_arrays_on_the_device_of_the_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import array_api_compat

        def test_default_device(xp, xp_device, xp_backend):
            x = xp.asarray([1.0, 2.0])
            assert array_api_compat.device(x) == xp_device
            assert array_api_compat.array_namespace(x) == xp
            assert xp_backend.device is xp_device
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-W", "error", "-v")
    result.assert_outcomes(passed=len(INSTALLED))
    if "array_api_strict" not in MISSING:
        result.stdout.fnmatch_lines(["*test_default_device?array_api_strict-device1? PASSED*"])


def test_numpy_readonly_returns_read_only_views(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import numpy as np
        import pytest

        def test_readonly(xp, xp_backend):
            mine = np.arange(3.0)
            x = xp.asarray(mine)
            assert not x.flags.writeable
            assert mine.flags.writeable  # the caller's array is never changed
            assert not xp.linalg.matmul(xp.eye(2), xp.eye(2)).flags.writeable
            with pytest.raises(ValueError, match="read-only"):
                x += 1
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--xp-backends", "numpy-readonly")
    result.assert_outcomes(passed=1)


def test_choosing_backends_by_option_and_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_suite(pytester)
    result = pytester.runpytest("--collect-only", "-q", "--xp-backends", "numpy, numpy-readonly")
    assert _ids(result) == ["numpy", "numpy-readonly"]
    monkeypatch.setenv("XPBRIDGE_XP_BACKENDS", "numpy-readonly")
    assert _ids(pytester.runpytest("--collect-only", "-q")) == ["numpy-readonly"]
    # The option wins over the environment.
    result = pytester.runpytest("--collect-only", "-q", "--xp-backends=numpy")
    assert _ids(result) == ["numpy"]


@pytest.mark.skipif("array_api_strict" in MISSING, reason="needs array-api-strict")
def test_an_id_chooses_one_device(pytester: pytest.Pytester) -> None:
    _write_suite(pytester)
    result = pytester.runpytest(
        "--collect-only", "-q", "--xp-backends", "array_api_strict-device1,array_api_strict-device2"
    )
    assert _ids(result) == ["array_api_strict-device1", "array_api_strict-device2"]


@pytest.mark.skipif(not MISSING, reason="every backend's library is installed here")
def test_a_backend_asked_for_but_not_installed_is_an_error(pytester: pytest.Pytester) -> None:
    _write_suite(pytester)
    result = pytester.runpytest("--xp-backends", f"numpy,{MISSING[0]}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*--xp-backends asks for {MISSING[0]}, but * is not installed: pip install *"]
    )


def test_unknown_backends_and_devices_are_errors(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_suite(pytester)
    result = pytester.runpytest("--xp-backends", "nunpy")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown xp backend 'nunpy'*"])
    monkeypatch.setenv("XPBRIDGE_XP_BACKENDS", "numpy-cuda:7")
    result = pytester.runpytest()
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*there is no xp backend numpy-cuda:7 here: numpy has numpy*"])


def test_markers_skip_and_xfail_per_backend(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.xp_skip("numpy-readonly", reason="writes into its input")
        def test_skipped(xp):
            pass

        @pytest.mark.xp_xfail("numpy-readonly", reason="writes into its input")
        def test_writes(xp):
            x = xp.asarray([1.0, 2.0])
            x[0] = 5.0

        @pytest.mark.xp_xfail("numpy", reason="claimed to fail, passes")
        def test_strict_xpass_fails(xp):
            pass

        @pytest.mark.xp_xfail("numpy", reason="may pass", strict=False)
        def test_lenient_xpass(xp):
            pass
        """
    )
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--xp-backends", "numpy,numpy-readonly", "-rsxX"
    )
    result.assert_outcomes(passed=4, skipped=1, xfailed=1, failed=1, xpassed=1)
    result.stdout.fnmatch_lines(
        [
            "*SKIPPED*numpy-readonly: writes into its input*",
            "*XFAIL*test_writes?numpy-readonly?*numpy-readonly: writes into its input*",
        ]
    )
    result.stdout.fnmatch_lines(["?XPASS(strict)? numpy: claimed to fail, passes"])


def test_a_marker_naming_no_backend_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.xp_skip("tourch")
        def test_typo(xp):
            pass
        """
    )
    result = pytester.runpytest("--xp-backends", "numpy")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_typo?numpy?: xp_skip: unknown xp backend 'tourch'*"])


def test_summary_tables_and_json(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", [1, 2])
        def test_twice(xp, n):
            pass

        @pytest.mark.xp_skip("numpy-readonly", reason="no writes")
        def test_writes(xp):
            pass

        @pytest.mark.xp_xfail("numpy", reason="known bug")
        def test_bug(xp_backend):
            assert xp_backend.readonly
        """
    )
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--xp-backends",
        "numpy,numpy-readonly",
        "--xp-report",
        "out/xp.json",
    )
    result.assert_outcomes(passed=6, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "*= xpbridge: outcomes per backend =*",
            "backend * passed * failed * skipped * xfailed",
            "numpy * 3 * 0 * 0 * 1",
            "numpy-readonly * 3 * 0 * 1 * 0",
            "",
            "test * numpy * numpy-readonly",
            "test_summary_tables_and_json.py::test_twice * 2 passed * 2 passed",
            "test_summary_tables_and_json.py::test_writes * passed * skipped",
            "test_summary_tables_and_json.py::test_bug * xfailed * passed",
        ]
    )
    table = json.loads((pytester.path / "out" / "xp.json").read_text())
    assert set(table["backends"]) == {"numpy", "numpy-readonly"}
    assert table["backends"]["numpy"]["library"] == "numpy"
    assert table["backends"]["numpy"]["version"] == sys.modules["numpy"].__version__
    assert table["totals"] == {
        "numpy": {"passed": 3, "xfailed": 1},
        "numpy-readonly": {"passed": 3, "skipped": 1},
    }
    tests = table["tests"]
    assert tests["test_summary_tables_and_json.py::test_twice"]["numpy"] == {"passed": 2}
    assert tests["test_summary_tables_and_json.py::test_bug"]["numpy"] == {
        "xfailed": 1,
        "reasons": ["numpy: known bug"],
    }
    assert tests["test_summary_tables_and_json.py::test_writes"]["numpy-readonly"] == {
        "skipped": 1,
        "reasons": ["numpy-readonly: no writes"],
    }
    totals_only = pytester.runpytest("--xp-backends", "numpy", "--xp-summary", "totals")
    assert not any(line.startswith("test ") for line in totals_only.outlines)
    quiet = pytester.runpytest("--xp-backends", "numpy", "--xp-summary", "no")
    assert "xpbridge: outcomes per backend" not in quiet.stdout.str()


def test_errors_in_setup_and_teardown_count_as_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def broken_teardown(xp):
            yield
            raise RuntimeError("teardown")

        def test_teardown(broken_teardown):
            pass
        """
    )
    result = pytester.runpytest("--xp-backends", "numpy")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["numpy * 0 * 0 * 1"])


SUITE_WITHOUT_XP = """
import sys
import pytest

@pytest.fixture
def xp():
    return "the suite's own xp"

def test_own_fixture(xp):
    assert xp == "the suite's own xp"

@pytest.mark.parametrize("n", [1, 2, 3])
def test_param(n):
    assert n != 2

@pytest.mark.skip(reason="not today")
def test_skip():
    pass
"""

CONFTEST_RECORDING_IMPORTS = """
import sys

def pytest_collection_finish(session):
    frameworks = {"numpy", "torch", "jax", "array_api_strict", "array_api_compat", "ml_dtypes", "cupy"}
    print("FRAMEWORKS:", sorted(frameworks & set(sys.modules)))
"""


@pytest.mark.subprocess
def test_a_suite_that_does_not_use_the_plugin_runs_the_same_with_and_without_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_suite=SUITE_WITHOUT_XP)
    pytester.makeconftest(CONFTEST_RECORDING_IMPORTS)
    runs = {}
    for name, extra in (("with", []), ("without", ["-p", "no:xpbridge"])):
        result = pytester.runpytest_subprocess("-v", "-s", "-p", "no:cacheprovider", *extra)
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        runs[name] = result
        assert "xpbridge: outcomes per backend" not in result.stdout.str()
    with_plugin, without = (sorted(_verdicts(runs[n])) for n in ("with", "without"))
    assert with_plugin == without
    # Whatever other plugins import at start-up, this one adds nothing.
    assert _frameworks(runs["with"]) == _frameworks(runs["without"])
    assert len(with_plugin) == 5
    assert runs["with"].parseoutcomes() == runs["without"].parseoutcomes()
    assert "xpbridge-" in "\n".join(runs["with"].outlines[:8])  # it was loaded


def _verdicts(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if line.startswith("test_suite.py::")]


def _frameworks(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if line.startswith("FRAMEWORKS:")]


@pytest.mark.subprocess
def test_loading_the_plugin_imports_no_array_library(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE_WITHOUT_XP)
    pytester.makeconftest(CONFTEST_RECORDING_IMPORTS)
    # pytest-run-parallel imports NumPy itself: leave it out to see this plugin alone.
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider", "-p", "no:run-parallel")
    result.stdout.fnmatch_lines(["plugins:*xpbridge-*", "FRAMEWORKS: []"])


@pytest.mark.subprocess
def test_the_plugin_under_pytest_run_parallel(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_run_parallel")
    _write_suite(pytester)
    # Strategies drawn inside the threads: nothing is imported lazily there.
    pytester.makepyfile(
        test_drawn="""
        from hypothesis import HealthCheck, given, settings, strategies as st
        from xpbridge.testing import assert_equal
        from xpbridge.testing.strategies import arrays

        @settings(max_examples=5, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(data=st.data())
        def test_drawn(xp_backend, data):
            x = data.draw(arrays(xp_backend.library, dtypes=["int32"], shape=(2,),
                                 devices=[xp_backend.device_label], flags=False))
            assert_equal(x, x)
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-W", "error", "--parallel-threads=4", "-v"
    )
    result.assert_outcomes(passed=2 * len(INSTALLED) + 1)
    # pytest-run-parallel runs a hypothesis test in threads only from the first
    # thread-safe hypothesis (6.136.3); before it, in one thread, and says why.
    import hypothesis

    threaded = tuple(map(int, hypothesis.__version__.split(".")[:3])) >= (6, 136, 3)
    drawn = "PARALLEL PASSED" if threaded else "PASSED [[]thread-unsafe[]]: uses hypothesis"
    result.stdout.fnmatch_lines([f"*test_drawn?numpy? {drawn}*"])
    result.stdout.fnmatch_lines(["*test_sum?numpy? PARALLEL PASSED*"])


def test_parse_token_and_xp_backends() -> None:
    assert parse_token("torch-cuda:0") == ("torch", "cuda:0")
    assert parse_token("numpy") == ("numpy", None)
    with pytest.raises(xb.ArgumentError, match="unknown xp backend"):
        parse_token("numpyy")
    assert [b.id for b in xp_backends("numpy")] == ["numpy"]
    with pytest.raises(xb.ArgumentError, match="no xp backend numpy-gpu here"):
        xp_backends("numpy-gpu")


def test_the_entry_point_names_the_plugin_module() -> None:
    from importlib.metadata import entry_points

    (point,) = [p for p in entry_points(group="pytest11") if p.name == "xpbridge"]
    assert point.value == "xpbridge.testing.plugin"
    assert Path(point.load().__file__).name == "plugin.py"
