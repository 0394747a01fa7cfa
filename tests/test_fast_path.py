"""The fast paths of to_torch / to_numpy agree with the planner on every contract case."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from cases import CASES, missing_ml_dtype

import xpbridge as xb
from xpbridge import _convert
from xpbridge.testing import assert_bitwise_equal


def _slow(x: object, to: str) -> object:
    return _convert._execute(_convert._request(x, to, None, None, None, "detach", False))


@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_and_planned_paths_agree(case: str, tmp_path: Path) -> None:
    if missing_ml_dtype(case):
        pytest.skip(missing_ml_dtype(case))
    x = CASES[case](tmp_path)
    xb.plan(torch.zeros(1), "numpy")  # primes the fast paths
    assert _convert._NDARRAY is not _convert._Never
    to = "numpy" if isinstance(x, torch.Tensor) else "torch"
    try:
        expected = _slow(x, to)
    except xb.ConversionError as e:
        with pytest.raises(type(e)):
            xb.convert(x, to)
        return
    fast = xb.convert(x, to)
    assert type(fast) is type(expected)
    assert xb.shares_memory(x, fast) is xb.shares_memory(x, expected)
    if to == "numpy":
        assert fast.flags.writeable is expected.flags.writeable
    assert_bitwise_equal(fast, expected)
