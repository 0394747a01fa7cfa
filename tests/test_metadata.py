"""The versions the package claims are the versions the conformance matrix tests.

pyproject.toml (requires-python, classifiers, the lower bound of every runtime
dependency and extra), the legs of noxfile.py (LEGS) and the README's "Tested
with" table must say the same thing: a claimed version nobody runs is not a claim.
The legs are read from noxfile.py as a literal, so nox need not be installed.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from conftest import ROOT
from frameworks import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
README = (ROOT / "README.md").read_text()

# The README table's columns after the leg and its Python: (heading, distribution).
COLUMNS = [
    ("NumPy", "numpy"),
    ("torch", "torch"),
    ("JAX", "jax"),
    ("array-api-strict", "array-api-strict"),
    ("ml_dtypes", "ml_dtypes"),
    ("array-api-compat", "array-api-compat"),
    ("Dask", "dask"),
    ("hypothesis", "hypothesis"),
]
# torch wheels lie on these machines' disk for one Python only; any other would
# be a CUDA build of several GB from the registry.
TORCH_ON_DISK = {"3.11": {"2.13.0", "2.14.1"}}


def _noxfile_literal(name: str) -> Any:
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"noxfile.py has no {name} = <literal>")


LEGS: list[dict[str, Any]] = _noxfile_literal("LEGS")
GROUP_LIBRARIES: dict[str, list[str]] = _noxfile_literal("GROUP_LIBRARIES")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(leg: dict[str, Any]) -> dict[str, str]:
    return {_canonical(n): p for n, p in leg["pins"].items()}


def _group_requirements(group: str) -> list[Requirement]:
    found = []
    for item in PYPROJECT["dependency-groups"][group]:
        if isinstance(item, dict):
            found += _group_requirements(item["include-group"])
        else:
            found.append(Requirement(item))
    return found


def _claimed() -> dict[str, Version]:
    """The lower bound of every runtime dependency and extra, by distribution."""
    floors = {}
    requirements = [Requirement(r) for r in PROJECT["dependencies"]]
    for extra in PROJECT["optional-dependencies"].values():
        requirements += [Requirement(r) for r in extra]
    for req in requirements:
        if req.marker is not None:  # tomli on old Pythons: not a library we convert
            continue
        (bound,) = [s for s in req.specifier if s.operator == ">="]
        floors[_canonical(req.name)] = Version(bound.version)
    return floors


def test_requires_python_and_classifiers_are_the_pythons_the_legs_run() -> None:
    pythons = sorted({leg["python"] for leg in LEGS}, key=Version)
    assert PROJECT["requires-python"] == f">={pythons[0]}"
    classified = [
        c.rpartition(":: ")[2]
        for c in PROJECT["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    assert classified == pythons


def test_every_lower_bound_is_a_leg_and_no_leg_is_below_one() -> None:
    for name, floor in _claimed().items():
        # a series ("2.0.*") counts as its first release
        pinned = [
            Version(_pins(leg)[name].removesuffix(".*")) for leg in LEGS if name in _pins(leg)
        ]
        assert floor in pinned, f"{name}>={floor} is claimed, but no leg pins {name}=={floor}"
        assert min(pinned) >= floor, f"a leg pins {name} {min(pinned)}, below its floor {floor}"


def test_the_groups_floors_are_the_claimed_ones() -> None:
    # The test and docs groups install what the floors legs pin: one floor per library.
    claimed = _claimed()
    for group in PYPROJECT["dependency-groups"]:
        for req in _group_requirements(group):
            name = _canonical(req.name)
            if name in claimed:
                (bound,) = [s for s in req.specifier if s.operator == ">="]
                assert Version(bound.version) == claimed[name], (group, str(req))


def test_torch_legs_take_only_the_wheels_on_disk() -> None:
    for leg in LEGS:
        torch = _pins(leg).get("torch")
        if torch is not None:
            assert torch in TORCH_ON_DISK.get(leg["python"], set()), leg["name"]


def test_every_leg_is_named_by_what_it_varies_and_installs_a_known_group() -> None:
    names = [leg["name"] for leg in LEGS]
    assert len(names) == len(set(names))
    for leg in LEGS:
        assert leg["group"] in GROUP_LIBRARIES and leg["group"] in PYPROJECT["dependency-groups"]
        assert leg["about"], leg["name"]
        varied = leg["name"].rpartition("-")[0] or leg["name"]
        if varied == "python":
            assert leg["name"] == f"python-{leg['python']}"
        elif varied in {"torch", "numpy"}:
            assert _pins(leg)[varied].startswith(leg["name"].rpartition("-")[2])
        else:
            assert leg["name"] in {"floors", "floors-torch"}, leg["name"]


def _cell(leg: dict[str, Any], distribution: str) -> str:
    """What the README says a leg installs of a library."""
    pin = _pins(leg).get(_canonical(distribution))
    if pin is not None:
        return pin.replace(".*", ".x")
    module = distribution.replace("-", "_")
    core = {"numpy", "array-api-compat", "hypothesis"}  # hypothesis: every group has it
    if distribution in core or module in GROUP_LIBRARIES[leg["group"]]:
        return "newest"
    return "-"


def _table_rows() -> list[list[str]]:
    return [
        [f"`{leg['name']}`", leg["python"], *(_cell(leg, d) for _, d in COLUMNS)] for leg in LEGS
    ]


def _readme_table() -> list[list[str]]:
    section = README.split("## Tested with", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header, rule, *body = lines
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "leg",
        "Python",
        *(heading for heading, _ in COLUMNS),
    ]
    assert set(rule) <= {"|", "-"}
    return [[c.strip() for c in line.strip("|").split("|")] for line in body]


def test_the_readme_table_is_the_matrix() -> None:
    assert _readme_table() == _table_rows(), "\n".join(
        "| " + " | ".join(row) + " |" for row in _table_rows()
    )


def test_the_readme_names_the_one_command_for_the_matrix() -> None:
    development = README.split("## Development", 1)[1].split("\n## ", 1)[0]
    assert "`nox -s conformance`" in development
    assert "`nox -s conformance`" in README.split("## Tested with", 1)[1].split("\n## ", 1)[0]


def test_the_modules_skipped_whole_without_torch_still_import_it() -> None:
    # tests/conftest.py skips these whole in a leg without torch; each must still
    # import torch at module level, or the list hides tests that could run there.
    from frameworks import TORCH_AT_MODULE_LEVEL

    for module in TORCH_AT_MODULE_LEVEL:
        assert (ROOT / module).exists(), f"{module} is gone: unlist it"
        tree = ast.parse((ROOT / module).read_text())
        top = [
            alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names
        ]
        assert "torch" in top, f"{module} no longer imports torch at module level: unlist it"
