"""Every fact of spec/upstream.toml, observed on the installed NumPy and torch."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from conftest import load_spec

from xpbridge._cli.upstream import OBSERVE, expected

FACTS = load_spec("upstream.toml")["fact"]


def _fact_params() -> list[object]:
    params = []
    for fact in FACTS:
        marks = [pytest.mark.subprocess] if fact.get("subprocess") else []
        requires = str(fact.get("requires", ""))
        if requires == "cuda" and not torch.cuda.is_available():
            marks.append(pytest.mark.skip(reason="observable only with CUDA"))
        elif requires not in ("", "cuda") and importlib.util.find_spec(requires) is None:
            marks.append(pytest.mark.skip(reason=f"observable only with {requires} installed"))
        params.append(pytest.param(fact, id=fact["id"], marks=marks))
    return params


@pytest.mark.parametrize("fact", _fact_params())
def test_fact(fact: dict[str, object]) -> None:
    assert OBSERVE[str(fact["id"])]() is expected(fact)


def test_every_fact_is_observed() -> None:
    ids = {f["id"] for f in FACTS}
    assert set(OBSERVE) == ids, set(OBSERVE) ^ ids


def test_contract_references_name_real_facts() -> None:
    ids = {f["id"] for f in FACTS}
    for rule in load_spec("contract.toml")["rule"]:
        for ref in rule["refs"]:
            if ref.startswith("upstream:"):
                assert ref.removeprefix("upstream:") in ids, (rule["id"], ref)
