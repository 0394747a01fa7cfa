"""spec/dtypes.toml is the runtime dtype table, and each row behaves as it says."""

from __future__ import annotations

import warnings

import ml_dtypes
import numpy as np
import pytest
from conftest import load_spec
from frameworks import needs_torch, torch

import xpbridge as xb
from xpbridge._lib.dtypes import DTYPES, crosses
from xpbridge.testing import assert_bitwise_equal

ROWS = load_spec("dtypes.toml")["dtype"]


def _needs_ml(row: dict[str, object]) -> None:
    if row["ml_dtypes"] and not hasattr(ml_dtypes, str(row["ml_dtypes"])):
        pytest.skip(f"ml_dtypes {ml_dtypes.__version__} has no {row['ml_dtypes']}")


def test_spec_equals_runtime_table() -> None:
    assert [r["name"] for r in ROWS] == list(DTYPES)
    for row in ROWS:
        code = DTYPES[row["name"]]
        assert row["kind"] == code.kind and row["bits"] == code.bits
        assert (row["numpy"] or None) == code.numpy
        assert (row["ml_dtypes"] or None) == code.ml_dtypes
        assert (row["torch"] or None) == code.torch
        assert (tuple(row["dlpack"]) or None) == code.dlpack
        via = "none" if not crosses(code.name) else "native" if code.numpy else "bit-view"
        assert row["numpy_torch"] == via


def test_library_columns_name_real_types() -> None:
    for row in ROWS:
        if row["numpy"]:
            assert np.dtype(row["numpy"]).name == row["name"]
        if row["ml_dtypes"] and hasattr(ml_dtypes, row["ml_dtypes"]):  # older ml_dtypes lack some
            assert np.dtype(getattr(ml_dtypes, row["ml_dtypes"])).name == row["name"]


@needs_torch
def test_torch_column_names_real_types() -> None:
    for row in ROWS:
        if row["torch"]:
            assert str(getattr(torch, row["torch"])) == f"torch.{row['name']}"


@needs_torch
@pytest.mark.parametrize(
    "row", [r for r in ROWS if r["numpy_torch"] != "none"], ids=lambda r: r["name"]
)
def test_crossing_rows_round_trip_zero_copy(row: dict[str, object]) -> None:
    _needs_ml(row)
    name = str(row["name"])
    dtype = xb._lib.dtypes.numpy_dtype(name)
    a = np.arange(0, 256 * dtype.itemsize, 3).astype(np.uint8)
    a = a[: a.size - a.size % dtype.itemsize].view(dtype)
    t = xb.to_torch(a)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "ComplexHalf support", UserWarning)
        assert t.dtype == getattr(torch, str(row["torch"]))
    back = xb.to_numpy(t)
    assert back.dtype == dtype
    assert xb.shares_memory(a, t) and xb.shares_memory(back, a)
    assert_bitwise_equal(back, a)


@needs_torch
@pytest.mark.parametrize(
    "row", [r for r in ROWS if r["numpy_torch"] == "none"], ids=lambda r: r["name"]
)
def test_other_rows_refuse(row: dict[str, object]) -> None:
    _needs_ml(row)
    name = str(row["name"])
    if row["torch"]:
        with pytest.raises(xb.DTypeError):
            xb.plan(torch.empty(2, dtype=getattr(torch, str(row["torch"]))), "numpy")
    if row["ml_dtypes"]:
        with pytest.raises(xb.DTypeError):
            xb.plan(np.zeros(2, dtype=getattr(ml_dtypes, str(row["ml_dtypes"]))), "torch")
    assert row["torch"] or row["ml_dtypes"], name
