"""Run a real project's test suite on its own fixtures and on xpbridge's, and compare per backend.

    python examples/downstream/adopted/run.py array-api-extra   # its tests/main, from its wheel
    python examples/downstream/adopted/run.py scipy             # scipy.special's test_logsumexp

Each suite runs twice, in fresh pytest processes, from copies of the
installed test files in a temporary directory:

- **own**: the suite with its own conftest (array-api-extra's
  ``tests/main/conftest.py``; SciPy's ``scipy/conftest.py``, read from the
  installed SciPy), xpbridge's plugin disabled;
- **xpbridge**: the same test files, unchanged, with the conftest next to
  this script (``array_api_extra/conftest.py``, ``scipy/conftest.py``) in
  place of the suite's own.

Both runs use the same pytest configuration (``pytest.ini`` below), and
``tally.py`` counts outcomes per backend in each.  The tables print the
suite's backends side by side (xpbridge's ids mapped to the suite's names),
then the backends only one side has, then every test that failed or erred
with xpbridge's fixtures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")

PYTEST_INI = """\
[pytest]
addopts = -ra --strict-config -p no:cacheprovider
xfail_strict = true
filterwarnings =
    error
    # SciPy 1.17's test_logsumexp parametrizes with an iterator (pytest 9 deprecates it).
    ignore::pytest.PytestRemovedIn10Warning
markers =
    skip_xp_backend(library, /, *, reason=None): Skip test for a specific backend
    xfail_xp_backend(library, /, *, reason=None, strict=None): Xfail test for a specific backend
    array_api_backends: SciPy's conftest marks its xp parameters with it as it is imported
"""

# xpbridge's backend ids, as each suite names the same backend.
SAME_BACKEND = {
    "array-api-extra": {
        "numpy": "numpy",
        "numpy-readonly": "numpy:readonly",
        "torch-cpu": "torch",
        "array_api_strict-CPU_DEVICE": "array_api_strict",
        "array_api_strict-strictest-CPU_DEVICE": "array_api_strictest",
        "dask": "dask",
        "jax-jit-cpu": "jax",
    },
    "scipy": {
        "numpy": "numpy",
        "array_api_strict-CPU_DEVICE": "array_api_strict",
        "torch-cpu": "torch",
        "jax-jit-cpu": "jax.numpy",
        "dask": "dask.array",
    },
}


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"{name} is not installed in {sys.executable}")
    return Path(next(iter(spec.submodule_search_locations)))


def _pytest(cwd: Path, args: list[str], env: dict[str, str]) -> int:
    command = [sys.executable, "-m", "pytest", *args]
    print(f"$ (cd {cwd} && {' '.join(command)})", flush=True)
    return subprocess.call(command, cwd=cwd, env=env)


def _environment(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("XPBRIDGE_XP_BACKENDS", None)  # the adopted conftests choose the backends
    env.update(extra)
    return env


def array_api_extra(work: Path, extra: list[str]) -> tuple[dict, dict, dict]:
    """Run array-api-extra's tests/main both ways."""
    tests = _package_dir("array_api_extra") / "tests" / "main"
    for run in ("own", "xpbridge"):
        shutil.copytree(tests, work / run / "main", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(
        HERE / "array_api_extra" / "conftest.py", work / "xpbridge" / "main" / "conftest.py"
    )
    return _both(work, ["main"], {}, extra)


def scipy(work: Path, extra: list[str]) -> tuple[dict, dict, dict]:
    """Run SciPy's test_logsumexp both ways."""
    test = _package_dir("scipy") / "special" / "tests" / "test_logsumexp.py"
    (work / "xpbridge").mkdir(parents=True)
    shutil.copy(test, work / "xpbridge" / test.name)
    shutil.copy(HERE / "scipy" / "conftest.py", work / "xpbridge" / "conftest.py")
    env = {"SCIPY_ARRAY_API": "1"}
    # SciPy's own run is of the installed file itself, under SciPy's own conftest.
    (work / "own").mkdir()
    own_args = ["--pyargs", "scipy.special.tests.test_logsumexp"]
    return _both(work, [test.name], env, extra, own_args=own_args)


def _both(
    work: Path,
    targets: list[str],
    env_extra: dict[str, str],
    extra: list[str],
    own_args: list[str] | None = None,
) -> tuple[dict, dict, dict]:
    env = _environment(env_extra)
    results = {}
    for run in ("own", "xpbridge"):
        (work / run / "pytest.ini").write_text(PYTEST_INI)
        tally = work / f"{run}.json"
        args = [*(own_args if run == "own" and own_args else targets), "-q", "-p", "tally"]
        args += ["--tally", str(tally), *extra]
        if run == "own":
            args += ["-p", "no:xpbridge"]
        else:
            args += ["--xp-summary=totals", f"--xp-report={work / 'xp-report.json'}"]
        _pytest(work / run, args, env)
        results[run] = json.loads(tally.read_text())
    report = json.loads((work / "xp-report.json").read_text())
    return results["own"], results["xpbridge"], report


def _row(label: str, counts: dict[str, int]) -> list[str]:
    return [label, *(str(counts.get(o, 0)) for o in OUTCOMES)]


def _print_table(title: str, rows: list[list[str]]) -> None:
    print(f"\n{title}")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        cells = zip(r, widths, strict=True)
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells)))


def _add(into: dict[str, int], counts: dict[str, int]) -> None:
    for outcome, n in counts.items():
        into[outcome] = into.get(outcome, 0) + n


def report(suite: str, own: dict, ours: dict, xp_report: dict) -> list[str]:
    """Print the tables; return the backends both runs have whose passes differ."""
    same = SAME_BACKEND[suite]
    mapped: dict[str, dict[str, int]] = {}
    only_ours: dict[str, dict[str, int]] = {}
    for label, counts in ours["totals"].items():
        if label in same:
            _add(mapped.setdefault(same[label], {}), counts)
        elif label in own["totals"]:  # the suite's own single-library fixtures (da, jnp, torch)
            _add(mapped.setdefault(label, {}), counts)
        else:
            only_ours[label] = counts
    header = ["backend", *OUTCOMES]
    rows = [header]
    for label in sorted(own["totals"]):
        rows.append(_row(f"{label} (own)", own["totals"][label]))
        rows.append(_row(f"{label} (xpbridge)", mapped.get(label, {})))
    _print_table(f"{suite}: its own fixtures and xpbridge's, per backend", rows)
    if only_ours:
        rows = [header] + [_row(k, v) for k, v in sorted(only_ours.items())]
        _print_table("backends only xpbridge's run has", rows)
    rows = [["xpbridge backend id", *OUTCOMES]]
    rows += [_row(k, v) for k, v in xp_report["totals"].items()]
    _print_table("xpbridge's own table (tests that use xp)", rows)
    differ = [
        label
        for label in own["totals"]
        if own["totals"][label].get("passed", 0) != mapped.get(label, {}).get("passed", 0)
    ]
    total = {
        run: sum(c.get("passed", 0) for c in t["totals"].values())
        for run, t in (("own", own), ("xpbridge", ours))
    }
    print(f"\npassed in all: own {total['own']}, xpbridge {total['xpbridge']}")
    print(f"backends both runs have whose passes differ: {', '.join(differ) or 'none'}")
    print(f"failed or erred with xpbridge's fixtures: {len(ours['failures'])}")
    for nodeid in ours["failures"]:
        print(f"  {nodeid}")
    return differ


def main() -> int:
    """Run one suite both ways and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", choices=sorted(SAME_BACKEND))
    parser.add_argument("--work", help="keep the runs in this directory (default: a temporary one)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a backend both runs have passes a different number of tests",
    )
    parser.add_argument("pytest_args", nargs="*", help="passed to both pytest runs (after --)")
    args = parser.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="xpbridge-downstream-"))
    if work.exists() and any(work.iterdir()):
        sys.exit(f"{work} is not empty")
    work.mkdir(parents=True, exist_ok=True)
    runner = array_api_extra if args.suite == "array-api-extra" else scipy
    own, ours, xp_report = runner(work, args.pytest_args)
    differ = report(args.suite, own, ours, xp_report)
    return 1 if args.check and differ else 0


if __name__ == "__main__":
    sys.exit(main())
