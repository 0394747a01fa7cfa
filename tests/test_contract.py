"""Every rule of spec/contract.toml, under every copy mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cases import CASES, contract_params
from conftest import OUTCOME_ERRORS, load_spec
from frameworks import torch

import xpbridge as xb
from xpbridge.testing import assert_bitwise_equal, snapshot

RULES = load_spec("contract.toml")["rule"]
MODES = {"none": None, "true": True, "false": False}
ERRORS = {name: getattr(xb, name) for name in OUTCOME_ERRORS}


def _convert(x: Any, rule: dict[str, Any], copy: bool | None) -> tuple[Any, Any]:
    kwargs = dict(rule.get("kwargs", {}))
    return xb.plan(x, rule["target"], copy=copy, **kwargs), xb.convert(
        x, rule["target"], copy=copy, **kwargs
    )


@pytest.mark.rule("plan-matches-convert", "source-unchanged")
@pytest.mark.parametrize(("rule", "case", "mode"), contract_params(RULES))
def test_rule(rule: dict[str, Any], case: str, mode: str, tmp_path: Path) -> None:
    x = CASES[case](tmp_path)
    before = snapshot(x)
    expected = rule[mode]
    copy = MODES[mode]
    if expected in ERRORS:
        error = ERRORS[expected]
        kwargs = dict(rule.get("kwargs", {}))
        with pytest.raises(error) as from_plan:
            xb.plan(x, rule["target"], copy=copy, **kwargs)
        with pytest.raises(error) as from_convert:
            xb.convert(x, rule["target"], copy=copy, **kwargs)
        assert str(from_plan.value) == str(from_convert.value)
        assert str(from_convert.value)  # every error says what to do
    else:
        p, result = _convert(x, rule, copy)
        aliases = expected == "A"
        assert p.aliases is aliases
        assert xb.shares_memory(x, result) is aliases
        assert (result is x) is bool(rule.get("same_object") and aliases)
        library = {"numpy": "numpy", "torch": "torch"}[rule["target"]]
        assert type(result).__module__.partition(".")[0] == library or (
            library == "torch" and isinstance(result, torch.Tensor)
        )
        assert str(p.device) == ("cpu" if library == "numpy" else str(result.device))
        if rule.get("values") == "inferred":  # the target's own dtype inference
            assert np.array_equal(
                np.asarray(result, dtype=np.float64), np.asarray(x, dtype=np.float64)
            )
        elif "dtype" not in rule.get("kwargs", {}):
            assert_bitwise_equal(result, x)
        if library == "numpy":
            if rule.get("same_object") and aliases:
                writable = x.flags.writeable
            else:
                writable = rule.get("alias_writable", True) or not aliases
            assert result.flags.writeable is writable is p.writable
    assert snapshot(x) == before
