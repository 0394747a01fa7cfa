"""Every fact of spec/upstream.toml, observed on the installed versions and checked against them.

Each fact says on which versions it holds (``holds = "torch<2.14"``, ``"always"``...).
``test_fact[<id>]`` is the one test that fails when an upstream release changes
a fact; its message says what changed, on which versions, and which rules of
the contract the fact motivates.  Every leg of the conformance matrix runs it.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import load_spec

from xpbridge._cli import upstream as _upstream
from xpbridge._cli.upstream import OBSERVE, difference, expected, missing_requirements

FACTS = load_spec("upstream.toml")["fact"]
RULES = {rule["id"]: rule for rule in load_spec("contract.toml")["rule"]}


def _fact_params() -> list[object]:
    params = []
    for fact in FACTS:
        marks = [pytest.mark.subprocess] if fact.get("subprocess") else []
        missing = missing_requirements(fact)
        if missing:
            marks.append(pytest.mark.skip(reason=f"needs {', '.join(missing)} (not here)"))
        params.append(pytest.param(fact, id=fact["id"], marks=marks))
    return params


@pytest.mark.parametrize("fact", _fact_params())
def test_fact(fact: dict[str, Any]) -> None:
    observed = OBSERVE[fact["id"]]()
    assert observed is expected(fact), difference(fact, observed)


def test_every_fact_is_observed() -> None:
    ids = {f["id"] for f in FACTS}
    assert set(OBSERVE) == ids, set(OBSERVE) ^ ids


def test_every_fact_says_where_it_holds_and_what_it_needs() -> None:
    for fact in FACTS:
        assert {"id", "claim", "source", "holds", "requires", "motivates", "how"} <= set(fact)
        holds = str(fact["holds"])
        named = set(_upstream._packages(holds))
        # A range names only what observing the fact needs (NumPy is always here).
        assert named <= {"numpy", *fact["requires"]}, (fact["id"], named)
        assert holds in {"always", "never"} or named, (fact["id"], holds)
        for group in holds.split("|"):  # every clause parses
            for clause in group.split(","):
                if holds not in {"always", "never"}:
                    assert _upstream._CLAUSE.fullmatch(clause), (fact["id"], clause)
        if holds not in {"always", "never"}:
            assert fact.get("otherwise"), f"{fact['id']}: say what happens where it does not hold"


def test_facts_motivate_real_rules_and_rules_cite_their_facts() -> None:
    ids = {f["id"] for f in FACTS}
    for fact in FACTS:
        assert fact["motivates"], f"{fact['id']} motivates no rule"
        assert set(fact["motivates"]) <= set(RULES), (
            fact["id"],
            set(fact["motivates"]) - set(RULES),
        )
    motivated = {(rule, f["id"]) for f in FACTS for rule in f["motivates"]}
    for rule in RULES.values():
        for ref in rule["refs"]:
            if ref.startswith("upstream:"):
                fact = ref.removeprefix("upstream:")
                assert fact in ids, (rule["id"], ref)
                assert (rule["id"], fact) in motivated, f"{fact} should list {rule['id']}"


@pytest.mark.parametrize(
    ("holds", "versions", "result"),
    [
        ("always", {}, True),
        ("never", {}, False),
        ("torch<2.14", {"torch": "2.13.0+cpu"}, True),
        ("torch<2.14", {"torch": "2.14.1"}, False),
        ("torch>=2.14", {"torch": "2.14.0rc1"}, True),
        ("numpy>=2.2.5", {"numpy": "2.2.5"}, True),
        ("numpy>=2.2.5", {"numpy": "2.2.4"}, False),
        ("numpy>=2.1", {"numpy": "2.1.0"}, True),
        ("numpy>=2.5, ml_dtypes>=0.7", {"numpy": "2.5.5", "ml_dtypes": "0.6.0"}, False),
        ("numpy>=2.5, ml_dtypes>=0.7", {"numpy": "2.5.5", "ml_dtypes": "0.7.0"}, True),
        ("numpy<2.5 | ml_dtypes<0.7", {"numpy": "2.5.5", "ml_dtypes": "0.6.0"}, True),
        ("numpy<2.5 | ml_dtypes<0.7", {"numpy": "2.5.5", "ml_dtypes": "0.7.0"}, False),
        ("jax>=0.12", {}, None),  # not installed: nothing to expect
        ("jax>=0.12 | numpy<2", {"numpy": "1.26.4"}, True),
    ],
)
def test_version_ranges_are_read_exactly(
    holds: str, versions: dict[str, str], result: bool | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_upstream, "_installed_version", versions.get)
    assert expected({"holds": holds}) is result


def test_a_changed_fact_names_what_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    # As if an upstream release had made torch.from_dlpack refuse negative strides
    # on a torch the spec says still aborts: the message a changed fact prints.
    fact = {
        "id": "torch-from-dlpack-negative-strides-aborts",
        "claim": "torch.from_dlpack(a[::-1]) aborts the interpreter",
        "holds": "torch<2.14",
        "otherwise": "torch 2.14 raises RuntimeError instead",
        "requires": ["torch"],
        "motivates": ["np-torch-negative-strides"],
    }
    monkeypatch.setattr(_upstream, "_installed_version", {"torch": "2.13.0+cpu"}.get)
    message = difference(fact, observed=False)
    assert "'torch-from-dlpack-negative-strides-aborts' does not hold with torch 2.13.0+cpu" in (
        message
    )
    assert "holds on torch<2.14, so it holds here" in message
    assert "torch 2.14 raises RuntimeError" in message  # what happens elsewhere
    assert "np-torch-negative-strides" in message  # the rules to check
