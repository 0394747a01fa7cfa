"""xpstats on every backend and device: the fixtures, markers and assertions of xpbridge.testing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xpbridge.testing import XPBackend, assert_close, assert_equal
from xpbridge.testing.strategies import arrays, shapes

import xpstats


def test_standardize(xp: Any, xp_device: Any) -> None:
    """The result has the input's library, device and dtype (assert_close checks all three)."""
    x = xp.asarray([[1.0, 2.0], [3.0, 6.0]], dtype=xp.float32, device=xp_device)
    expected = xp.asarray([[-1.0, -1.0], [1.0, 1.0]], dtype=xp.float32, device=xp_device)
    assert_close(xpstats.standardize(x, axis=0), expected)


def test_xp_makes_arrays_on_the_device_of_the_run(xp: Any) -> None:
    """Without device=, xp still makes arrays on this run's device (device1, cuda:0...)."""
    x = xp.asarray([1.0, 2.0, 3.0])
    assert_close(xpstats.standardize(x), xp.asarray([-1.0, 0.0, 1.0]) * 1.224744871391589)


@pytest.mark.xp_skip("jax", reason="JAX arrays are immutable")
@pytest.mark.xp_xfail("numpy-readonly", reason="a read-only array cannot be centred in place")
def test_center_inplace(xp: Any, xp_device: Any) -> None:
    """In place where the library allows it; the markers record where it does not."""
    x = xp.asarray([1.0, 2.0, 6.0], device=xp_device)
    assert xpstats.center_inplace(x) is x
    assert_equal(x, xp.asarray([-2.0, -1.0, 3.0], device=xp_device))


# xp_backend is the same for every example hypothesis draws: sharing it is safe.
@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_standardize_leaves_its_input_alone(xp_backend: XPBackend, data: st.DataObject) -> None:
    """Any float32 array of this backend's library, on this device, is left unchanged."""
    x = data.draw(
        arrays(
            xp_backend.library,
            dtypes=["float32"],
            shape=shapes(min_dims=1, max_dims=2, min_side=1),
            devices=[xp_backend.device_label],
            flags=False,  # True adds read-only and byte-swapped arrays, autograd, lazy bits
        )
    )
    xp = xp_backend.namespace()
    before = xp.asarray(x, copy=True)
    with np.errstate(all="ignore"):  # raw bits: infinities and NaNs make NumPy warn
        z = xpstats.standardize(x)
    assert_equal(x, before)
    assert tuple(z.shape) == tuple(x.shape)
