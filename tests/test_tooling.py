"""The pre-commit hooks run the tools CI runs, at the versions CI runs.

A hook pinned behind the environment reports errors CI does not (ruff v0.15.0
gave 14 on code that ruff 0.17 passes), or misses what CI catches.  So the
ruff pin must satisfy the dependency groups' requirement and name the ruff
installed here, and mypy runs as the test group's mypy with pyproject.toml's
settings, as CI runs it.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import pytest
import yaml
from conftest import ROOT
from frameworks import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

CONFIG: dict[str, Any] = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
GROUPS: dict[str, list[Any]] = tomllib.loads((ROOT / "pyproject.toml").read_text())[
    "dependency-groups"
]


def _repo(url_end: str) -> dict[str, Any]:
    (repo,) = [r for r in CONFIG["repos"] if r["repo"].endswith(url_end)]
    return repo


def _requirements(name: str) -> list[Requirement]:
    """Every requirement on ``name`` in the dependency groups."""
    found = []
    for members in GROUPS.values():
        for member in members:
            if isinstance(member, str) and Requirement(member).name == name:
                found.append(Requirement(member))
    return found


def _installed(name: str) -> Version | None:
    try:
        return Version(version(name))
    except PackageNotFoundError:
        return None


def test_every_hook_is_pinned_to_a_release() -> None:
    for repo in CONFIG["repos"]:
        if repo["repo"] != "local":
            assert re.fullmatch(r"v\d+\.\d+\.\d+", repo["rev"]), repo


def test_ruff_hook_is_the_ruff_of_the_dependency_groups_and_of_this_environment() -> None:
    pinned = Version(_repo("astral-sh/ruff-pre-commit")["rev"].removeprefix("v"))
    wanted = _requirements("ruff")
    assert wanted, "ruff is in no dependency group"
    for requirement in wanted:
        assert pinned in requirement.specifier, f"{pinned} does not satisfy {requirement}"
    here = _installed("ruff")
    if here is None:
        pytest.skip("ruff is not installed here (it is in the dev group)")
    assert (pinned.major, pinned.minor) == (here.major, here.minor), (
        f".pre-commit-config.yaml pins ruff {pinned}, this environment runs {here}: "
        f"set its rev to v{here} (pre-commit autoupdate)"
    )


def test_mypy_hook_runs_the_test_groups_mypy_as_ci_does() -> None:
    hooks = {hook["id"]: hook for repo in CONFIG["repos"] for hook in repo["hooks"]}
    mypy = hooks["mypy"]
    local = next(r for r in CONFIG["repos"] if mypy in r["hooks"])
    assert local["repo"] == "local" and mypy["language"] == "system"
    # no file arguments and no options: pyproject.toml's [tool.mypy] (strict, files = src)
    assert mypy["entry"] == "mypy" and mypy["pass_filenames"] is False
    assert "args" not in mypy
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["strict"]
    assert _requirements("mypy"), "mypy is in no dependency group"
    assert "mypy" in CONFIG["ci"]["skip"]  # pre-commit.ci has no project environment
    # The test group's mypy, which this hook runs (the test-core group of the
    # floors legs has none; CI requires it: XPBRIDGE_REQUIRE_LIBRARIES).
    if _installed("mypy") is None:
        pytest.skip("mypy is not installed here (it is in the test group)")
