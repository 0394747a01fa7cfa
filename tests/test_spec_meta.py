"""The spec and the tests must not drift: every rule is tested, every test names a real rule."""

from __future__ import annotations

import ast
from pathlib import Path

from cases import CASES
from conftest import OUTCOME_ERRORS, load_spec
from frameworks import HAS_TORCH

RULES = load_spec("contract.toml")["rule"]
TESTS = Path(__file__).parent


def _rule_marks() -> set[str]:
    """Rule ids named by @pytest.mark.rule(...) anywhere in the test suite."""
    named: set[str] = set()
    for path in TESTS.rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "rule"
                and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr == "mark"
            ):
                named |= {a.value for a in node.args if isinstance(a, ast.Constant)}
    return named


def test_rule_ids_are_unique() -> None:
    ids = [r["id"] for r in RULES]
    assert len(ids) == len(set(ids))


def test_every_rule_has_a_test() -> None:
    marked = _rule_marks()
    for rule in RULES:
        if rule.get("driver") == "custom":
            assert rule["id"] in marked, f"rule {rule['id']} has no @pytest.mark.rule test"
        else:
            assert rule["cases"], f"rule {rule['id']} names no case"
            for mode in ("none", "true", "false"):
                assert rule[mode], f"rule {rule['id']} has no outcome for copy={mode}"


def test_every_named_rule_exists() -> None:
    ids = {r["id"] for r in RULES}
    assert _rule_marks() <= ids, _rule_marks() - ids


def test_cases_and_rules_match() -> None:
    used = {case for rule in RULES for case in rule.get("cases", [])}
    if not HAS_TORCH:  # torch sources exist only with torch: a leg with torch checks them
        used = {case for case in used if not case.startswith("torch_")}
    assert used <= set(CASES), used - set(CASES)
    assert set(CASES) <= used, f"cases no rule uses: {set(CASES) - used}"


def test_rules_have_the_documented_fields() -> None:
    outcomes = {"A", "C", *OUTCOME_ERRORS}
    for rule in RULES:
        assert {"id", "situation", "reason", "refs"} <= set(rule), rule["id"]
        if rule.get("driver") != "custom":
            assert {rule["none"], rule["true"], rule["false"]} <= outcomes, rule["id"]
