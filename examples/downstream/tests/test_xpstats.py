"""xpstats on every backend and device: the fixtures, markers and assertions of xpbridge.testing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xpbridge.testing import (
    XPBackend,
    assert_close,
    assert_equal,
    capabilities,
    capabilities_table,
    xp_functions,
)
from xpbridge.testing.strategies import arrays, shapes

import xpstats

# What each function supports, declared once.  xpstats itself does not depend on
# xpbridge, so the declarations live here (a library that does can decorate its
# functions instead).  They drive the marks of the tests below, the lazy runs on
# Dask and jax-jit (the names are this module's globals, which the tests call),
# and the table in this project's README.
standardize = capabilities(dtypes=["float32", "float64"])(xpstats.standardize)
center_inplace = capabilities(
    skip={"jax.numpy": "JAX arrays are immutable"},
    xfail={
        "numpy-readonly": "a read-only array cannot be centred in place",
        "dask": "a lazy run returns the computed result, not the input",
    },
)(xpstats.center_inplace)

README = Path(__file__).parents[1] / "README.md"


@xp_functions(standardize)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_standardize(xp: Any, xp_device: Any, dtype: str) -> None:
    """The result has the input's library, device and dtype (assert_close checks all three)."""
    x = xp.asarray([[1.0, 2.0], [3.0, 6.0]], dtype=getattr(xp, dtype), device=xp_device)
    expected = xp.asarray([[-1.0, -1.0], [1.0, 1.0]], dtype=getattr(xp, dtype), device=xp_device)
    assert_close(standardize(x, axis=0), expected)


def test_xp_makes_arrays_on_the_device_of_the_run(xp: Any) -> None:
    """Without device=, xp still makes arrays on this run's device (device1, cuda:0...)."""
    x = xp.asarray([1.0, 2.0, 3.0])
    assert_close(standardize(x), xp.asarray([-1.0, 0.0, 1.0]) * 1.224744871391589)


@xp_functions(center_inplace)
def test_center_inplace(xp: Any, xp_device: Any) -> None:
    """In place where the library allows it; the declaration records where it does not."""
    x = xp.asarray([1.0, 2.0, 6.0], device=xp_device)
    assert center_inplace(x) is x
    assert_equal(x, xp.asarray([-2.0, -1.0, 3.0], device=xp_device))


def test_the_readme_shows_the_declarations() -> None:
    """The README's support table is the one the declarations render."""
    table = capabilities_table(standardize, center_inplace)
    assert table in README.read_text()


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
