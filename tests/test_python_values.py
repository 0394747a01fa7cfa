"""Python scalars and sequences: shape, inferred dtype, values held, arrays inside.

spec/contract.toml, rules python-sequence-shape, python-values-planned-exactly,
python-values-held and python-sequences-of-arrays.  The properties over
random values are in tests/property/test_python_values.py.
"""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from frameworks import NUMPY_MAX_DIMS

import xpbridge as xb

jnp = pytest.importorskip("jax.numpy")


def _cyclic() -> list[Any]:
    loop: list[Any] = [1.0]
    loop.append(loop)
    return loop


def _wide_cycle() -> list[Any]:
    # Each level twice as wide as the one above: walked naively, 2**depth lists.
    loop: list[Any] = [1.0, 2.0]
    loop[1] = [loop, loop]
    return loop


def _deep(depth: int, leaf: Any = 1.0) -> Any:
    nested = leaf
    for _ in range(depth - 1):
        nested = [nested]
    return [nested]


@pytest.mark.rule("python-sequence-shape")
@pytest.mark.parametrize("to", ["numpy", "torch", "jax", "array_api_strict"])
@pytest.mark.parametrize("make", [_cyclic, _wide_cycle], ids=["self", "wide"])
def test_a_sequence_that_contains_itself_is_refused_at_once(to: str, make: Any) -> None:
    start = time.perf_counter()
    with pytest.raises(xb.UnsupportedInputError, match="contains itself") as planned:
        xb.plan(make(), to)
    with pytest.raises(xb.UnsupportedInputError) as converted:
        xb.convert(make(), to)
    assert str(planned.value) == str(converted.value)
    with pytest.raises(xb.ArgumentError, match="contains itself"):  # a tree walks lists itself
        xb.convert_tree({"x": make()}, to, scalars=True)
    assert time.perf_counter() - start < 5  # it hung before (the scan never ended)


def test_torch_itself_crashes_on_such_a_list_xpbridge_never_hands_it_over() -> None:
    # torch.asarray of [1.0, [loop, loop]] kills the interpreter (SIGSEGV, torch 2.13):
    # shown in a child; xpbridge refuses it in the parent.
    code = "import torch\nl = [1.0, 2.0]\nl[1] = [l, l]\ntorch.asarray(l)\nprint('survived')"
    child = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    if child.returncode == 0 or "survived" in child.stdout:
        pytest.skip("this torch raises instead of crashing")
    with pytest.raises(xb.UnsupportedInputError, match="contains itself"):
        xb.to_torch(_wide_cycle())


@pytest.mark.rule("python-sequence-shape")
@pytest.mark.parametrize(
    ("to", "limit"), [("numpy", NUMPY_MAX_DIMS), ("torch", 128), ("jax", NUMPY_MAX_DIMS)]
)
def test_sequences_deeper_than_the_targets_arrays_are_refused(to: str, limit: int) -> None:
    assert np.ndim(xb.convert(_deep(limit), to)) == limit
    for depth in (limit + 1, 5_000):
        with pytest.raises(xb.UnsupportedInputError, match=f"at most {limit} dimensions") as p:
            xb.plan(_deep(depth), to)
        with pytest.raises(xb.UnsupportedInputError) as c:
            xb.convert(_deep(depth), to)
        assert str(p.value) == str(c.value)
    with pytest.raises(xb.UnsupportedInputError, match="more than 1024 deep"):
        xb.plan(_deep(100_000), to)


@pytest.mark.rule("python-sequence-shape")
@pytest.mark.parametrize("to", ["numpy", "torch", "jax"])
@pytest.mark.parametrize(
    "ragged", [[[1.0], [2.0, 3.0]], [1, [2]], [[[]], []], [[], [1.5j]]], ids=str
)
def test_ragged_sequences_are_refused_by_plan_too(to: str, ragged: Any) -> None:
    with pytest.raises(ValueError, match="inhomogeneous"):
        np.asarray(ragged)  # NumPy's rule; torch accepts a ragged list holding no value
    with pytest.raises(xb.UnsupportedInputError, match="ragged") as planned:
        xb.plan(ragged, to)
    with pytest.raises(xb.UnsupportedInputError) as converted:
        xb.convert(ragged, to)
    assert str(planned.value) == str(converted.value)


@pytest.mark.rule("python-values-planned-exactly")
@pytest.mark.parametrize("value", [[], [[], []], (), [[[]]]], ids=str)
def test_no_values_make_the_targets_default_float(value: Any) -> None:
    cases = [
        ("numpy", np.asarray(value).dtype.name),
        ("torch", str(torch.asarray(value).dtype).removeprefix("torch.")),
        ("jax", str(jnp.asarray(value).dtype)),
    ]
    for to, own in cases:
        assert own in ("float64", "float32")
        assert (
            xb.plan(value, to).dtype == own == str(xb.convert(value, to).dtype).rpartition(".")[2]
        )
    assert xb.to_numpy([]).dtype == np.float64 and xb.to_torch([]).dtype == torch.float32


@pytest.mark.rule("python-values-planned-exactly")
def test_torchs_default_dtype_is_read_when_planning() -> None:
    previous = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float64)
        assert xb.plan([], "torch").dtype == "float64" == str(xb.to_torch([]).dtype)[6:]
    finally:
        torch.set_default_dtype(previous)
    assert xb.plan([], "torch").dtype == "float32"


@pytest.mark.rule("python-values-planned-exactly")
@pytest.mark.parametrize(
    ("value", "numpy_dtype"),
    [
        ([0, 2**64 - 1], "float64"),  # int64 beside uint64: NumPy promotes to float64
        ([-1, 2**63], "float64"),
        ([2**63, 2**64 - 1], "uint64"),
        ([True, 2**63], "uint64"),
        ([1.5, 2**63], "float64"),
    ],
    ids=str,
)
def test_ints_are_inferred_as_numpy_discovers_them(value: Any, numpy_dtype: str) -> None:
    assert np.asarray(value).dtype == numpy_dtype
    assert xb.plan(value, "numpy").dtype == numpy_dtype
    assert xb.to_numpy(value).dtype == numpy_dtype


# Values a dtype cannot hold -----------------------------------------------------

HELD_CASES = [
    ([1e10], "numpy", "int32", "int64"),
    ([300.0], "numpy", "uint8", "uint64"),
    ([float("inf")], "numpy", "int32", "float64"),
    ([float("nan")], "torch", "int64", "float64"),
    ([1e300], "numpy", "float32", "float64"),
    ([70000], "numpy", "float16", "float64"),
    ([-0.5], "torch", "uint8", "int64"),
    ([1 + 2j], "numpy", "float64", "complex128"),
    ([1e39j], "torch", "complex64", "complex128"),
    ([2**1100], "numpy", "float64", None),
    ([1.0], "torch", "uint64", "int64"),  # torch makes no uint64 array of Python floats
    ([float("inf")], "numpy", "float8_e4m3fn", "float64"),
]


@pytest.mark.rule("python-values-held")
@pytest.mark.parametrize(("values", "to", "dtype", "remedy"), HELD_CASES, ids=str)
def test_values_a_dtype_cannot_hold_are_dtype_errors_with_a_remedy_that_works(
    values: Any, to: str, dtype: str, remedy: str | None
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's overflow warning escaped before
        with pytest.raises(xb.DTypeError) as planned:
            xb.plan(values, to, dtype=dtype)
        with pytest.raises(xb.DTypeError) as converted:
            xb.convert(values, to, dtype=dtype)
        assert str(planned.value) == str(converted.value)
        if remedy is None:
            assert "dtype='" not in str(converted.value)
            return
        assert f"pass dtype='{remedy}'" in str(converted.value)
        result = xb.convert(values, to, dtype=remedy)
    assert str(result.dtype).rpartition(".")[2] == remedy
    assert (
        np.asarray(result).tolist() == np.asarray(values, dtype=remedy).tolist()
        or np.isnan(np.asarray(result)).any()
    )


@pytest.mark.rule("python-values-held")
def test_an_inferred_dtype_must_hold_the_values_too() -> None:
    # torch makes float32 of Python floats: 1e300 would silently become inf.
    with pytest.raises(xb.DTypeError, match="the dtype torch infers for them") as caught:
        xb.plan([1e300], "torch")
    assert "pass dtype='float64'" in str(caught.value)
    assert xb.to_torch([1e300], dtype="float64").item() == 1e300
    with pytest.raises(xb.DTypeError, match="pass dtype='uint64'"):
        xb.to_torch([2**63])  # torch.asarray raises a ValueError for it
    assert xb.to_torch([2**63], dtype="uint64").item() == 2**63
    with pytest.raises(xb.DTypeError, match="an int of 71 bits"):
        xb.to_numpy([1.5, 2**70])  # NumPy makes an object array of them


@pytest.mark.rule("python-values-held")
def test_values_that_fit_convert_as_the_library_converts_them() -> None:
    assert xb.to_numpy([2.5, -0.0], dtype="int32").tolist() == [2, 0]  # truncated, as astype
    assert xb.to_numpy([65519.0], dtype="float16").tolist() == [65504.0]  # rounds to the largest
    assert xb.to_numpy([float("inf"), float("nan")], dtype="float32").dtype == np.float32
    assert xb.to_numpy([1j, 0], dtype="bool").tolist() == [True, False]


# Arrays inside sequences -------------------------------------------------------


@pytest.mark.rule("python-sequences-of-arrays")
def test_arrays_that_require_grad_are_detached_or_refused() -> None:
    w = torch.tensor(1.0, requires_grad=True)
    values = [w, torch.tensor(2.0)]
    a = xb.to_numpy(values)  # torch's raw RuntimeError before
    assert a.tolist() == [1.0, 2.0] and a.dtype == np.float32
    t = xb.to_torch(values)
    assert t.tolist() == [1.0, 2.0] and not t.requires_grad
    assert xb.plan(values, "numpy").steps == ("convert_arrays", "asarray")
    for to in ("numpy", "torch", "jax"):
        with pytest.raises(xb.GradError, match="grad='raise'") as planned:
            xb.plan([[w]], to, grad="raise")
        with pytest.raises(xb.GradError) as converted:
            xb.convert([[w]], to, grad="raise")
        assert str(planned.value) == str(converted.value)
        assert xb.convert([[w]], to, grad="detach").shape == (1, 1)  # the remedy it names
    assert w.requires_grad and w.grad is None  # the source is untouched


@pytest.mark.rule("python-sequences-of-arrays")
def test_other_arrays_inside_sequences_convert_as_the_pipeline_would() -> None:
    z = torch.tensor([1 + 2j, 3 - 1j]).conj()  # the conjugate bit: resolved, never dropped
    assert xb.to_numpy([z, z]).tolist() == [[1 - 2j, 3 + 1j]] * 2
    bf16 = torch.tensor([1.5, 2.5], dtype=torch.bfloat16)
    out = xb.to_numpy([bf16, bf16])  # through ml_dtypes, bit-exact
    assert str(out.dtype) == "bfloat16" and out.astype(np.float32).tolist() == [[1.5, 2.5]] * 2
    stacked = xb.to_torch([torch.ones(2), torch.zeros(2)])  # torch.asarray itself refuses this
    assert stacked.tolist() == [[1.0, 1.0], [0.0, 0.0]]
    assert xb.to_numpy([jnp.ones(2), np.zeros(2)]).tolist() == [[1.0, 1.0], [0.0, 0.0]]
    mixed = [np.float32(1.5), 2.0]  # NumPy's scalars: the library's own inference
    assert xb.to_numpy(mixed).dtype == np.asarray(mixed).dtype
    with pytest.raises(xb.UnsupportedInputError, match="inside the Python sequence") as planned:
        xb.plan([torch.eye(2).to_sparse()], "numpy")
    with pytest.raises(xb.UnsupportedInputError) as converted:
        xb.convert([torch.eye(2).to_sparse()], "numpy")
    assert str(planned.value) == str(converted.value)
