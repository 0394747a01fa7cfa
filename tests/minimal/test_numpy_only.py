"""Run without torch or ml_dtypes installed (nox -s minimal); also passes with them."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import xpbridge as xb

HAS_TORCH = importlib.util.find_spec("torch") is not None


def test_numpy_to_numpy_follows_the_contract() -> None:
    a = np.arange(4.0)
    assert xb.to_numpy(a) is a
    c = xb.to_numpy(a, copy=True)
    assert not xb.shares_memory(a, c)
    assert xb.to_numpy(a, dtype="float32").dtype == np.float32
    with pytest.raises(xb.CopyError):
        xb.to_numpy(a, dtype="float32", copy=False)
    assert xb.plan(a[::-1], "numpy").aliases


@pytest.mark.skipif(HAS_TORCH, reason="checks the message when torch is missing")
def test_torch_missing_is_a_clear_error() -> None:
    with pytest.raises(xb.MissingLibraryError, match=r"pip install 'xpbridge\[torch\]'"):
        xb.to_torch(np.arange(3.0))


def test_errors_and_testing_helpers_need_no_torch() -> None:
    from xpbridge.testing import assert_bitwise_equal

    assert_bitwise_equal(np.array([np.nan]), np.array([np.nan]))
    with pytest.raises(xb.UnsupportedInputError):
        xb.to_numpy(object())
    assert xb.to_numpy([1.0, 2.0]).dtype == np.float64  # NumPy's own inference
