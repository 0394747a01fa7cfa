"""Every kind of tensor the contract names: shares_memory answers exactly or raises,
conversions refuse what NumPy cannot hold with a remedy that works, and
requires_grad=True is checked against the result's dtype for every source.

spec/contract.toml, rules shares-memory-every-kind, tensor-subclasses-in-python,
tensors-without-data and requires-grad-needs-a-float-result.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import xpbridge as xb

TwoTensor = pytest.importorskip("torch.testing._internal.two_tensor").TwoTensor


def _quiet(make: Callable[[], Any]) -> Any:
    # torch's own warnings while making exotic tensors (quantized tensors are
    # deprecated; sparse CSR and strided nested tensors are beta/prototype).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make()


def _fake() -> Any:
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        return torch.ones(6)


def _many_dims() -> Any:
    # 65 dimensions (more than NumPy's 64), ten of them broadcast: 6,144 elements.
    base = torch.arange(6.0).reshape([1] * 63 + [2, 3])
    return base.expand([2] * 10 + [1] * 53 + [2, 3])


# kind -> (make, (view_a, view_b) that overlap, (view_a, view_b) that do not)
DENSE: dict[str, Callable[[], Any]] = {
    "float32": lambda: torch.arange(12.0),
    "parameter": lambda: torch.nn.Parameter(torch.arange(12.0)),
    "requires grad": lambda: torch.arange(12.0, requires_grad=True),
    "conjugate bit": lambda: torch.arange(12.0).to(torch.complex64).conj(),
    "negative bit": lambda: torch._neg_view(torch.arange(12.0)),
    "bfloat16": lambda: torch.arange(12.0).to(torch.bfloat16),
    "float8_e4m3fn": lambda: torch.arange(12.0).to(torch.float8_e4m3fn),
    "complex32": lambda: _quiet(lambda: torch.arange(12.0).to(torch.complex32)),
    "uint4 (sub-byte)": lambda: torch.empty(12, dtype=torch.uint4),
    "inference": lambda: _inference(),  # noqa: PLW0108 - defined below
    "quantized": lambda: _quiet(
        lambda: torch.quantize_per_tensor(torch.arange(12.0), 0.1, 0, torch.quint8)
    ),
    # Zero strides: each of 3 elements seen 4 times (reshape keeps the view).
    "expanded": lambda: torch.arange(3.0).reshape(3, 1).expand(3, 4),
}
NO_MEMORY: dict[str, Callable[[], Any]] = {
    "meta": lambda: torch.ones(6, device="meta"),
    "FakeTensor": _fake,
    "UninitializedParameter": torch.nn.UninitializedParameter,
}


def _inference() -> Any:
    with torch.inference_mode():
        return torch.arange(12.0)


@pytest.mark.rule("shares-memory-every-kind")
@given(kind=st.sampled_from(sorted(DENSE)), cut=st.integers(1, 11), step=st.integers(2, 3))
def test_dense_kinds_are_answered_exactly(kind: str, cut: int, step: int) -> None:
    t = DENSE[kind]()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # never a warning
        assert xb.shares_memory(t, t)
        flat = t.reshape(-1) if kind != "quantized" else t
        assert xb.shares_memory(flat[:cut], flat[cut - 1 :])  # one element in common
        assert not xb.shares_memory(flat[:cut], flat[cut:])  # side by side
        if kind != "expanded":  # an expanded view repeats its elements
            assert not xb.shares_memory(flat[::step], flat[1::step])  # interleaved
        assert not xb.shares_memory(t, _new_buffer(t))
        assert not xb.shares_memory(t, torch.arange(12.0))


def _new_buffer(t: Any) -> Any:
    try:
        return _quiet(t.clone)
    except NotImplementedError:  # torch cannot clone its sub-byte types
        return torch.empty_like(t)


@pytest.mark.rule("shares-memory-every-kind")
def test_sparse_and_nested_tensors_are_answered_by_their_parts() -> None:
    coo = torch.eye(4).to_sparse()
    csr = _quiet(lambda: torch.eye(4).to_sparse_csr())
    csc = _quiet(lambda: torch.eye(4).to_sparse_csc())
    bsr = _quiet(lambda: torch.eye(4).to_sparse_bsr((2, 2)))
    nested = _quiet(lambda: torch.nested.nested_tensor([torch.ones(2), torch.ones(3)]))
    jagged = torch.nested.nested_tensor([torch.ones(2), torch.ones(3)], layout=torch.jagged)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert xb.shares_memory(coo, coo._values()) and xb.shares_memory(coo, coo._indices())
        assert xb.shares_memory(csr, csr.values()) and xb.shares_memory(csr, csr.col_indices())
        assert xb.shares_memory(csc, csc.row_indices()) and xb.shares_memory(bsr, bsr.values())
        assert xb.shares_memory(nested, nested.unbind()[1])
        assert xb.shares_memory(jagged, jagged.values()) and xb.shares_memory(
            jagged, jagged.offsets()
        )
        for x in (coo, csr, csc, bsr, nested):
            assert xb.shares_memory(x, x)
            assert not xb.shares_memory(x, _quiet(x.clone)) and not xb.shares_memory(
                x, torch.eye(4)
            )
        copied = jagged.clone()  # new values; torch keeps the very offsets tensor
        assert not xb.shares_memory(copied.values(), jagged.values())
        same_offsets = copied.offsets().data_ptr() == jagged.offsets().data_ptr()
        assert xb.shares_memory(copied, jagged) is same_offsets
    shared = torch.arange(3.0)
    indices = torch.tensor([[0, 1, 2]])
    built = torch.sparse_coo_tensor(indices, shared, (4,), check_invariants=True)
    assert xb.shares_memory(built, shared)  # a sparse tensor over the caller's values


@pytest.mark.rule("shares-memory-every-kind")
@pytest.mark.parametrize("kind", sorted(NO_MEMORY))
def test_tensors_without_memory_share_none(kind: str) -> None:
    t = NO_MEMORY[kind]()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a FakeTensor's data pointer warned before
        assert not xb.shares_memory(t, t)
        assert not xb.shares_memory(t, torch.ones(2))
        assert not xb.shares_memory(np.ones(2), t)


@pytest.mark.rule("shares-memory-every-kind")
def test_more_dimensions_than_numpy_has_are_answered_exactly() -> None:
    big = _many_dims()
    assert big.dim() == 65
    assert xb.shares_memory(big, big)
    assert xb.shares_memory(big[..., 1:], big[..., 2])
    assert not xb.shares_memory(big[..., :1], big[..., 1:])  # columns 0 and 1-2: disjoint
    assert not xb.shares_memory(big, np.ones(3))
    memory = torch.arange(1000.0)
    crafted = memory.as_strided([2] * 40, list(range(1, 41)))  # 40 distinct strides
    with pytest.raises(xb.UnsupportedInputError, match="distinct strides"):
        xb.shares_memory(crafted, memory)  # never guessed


@pytest.mark.rule("shares-memory-every-kind")
def test_memory_that_is_not_the_tensors_own_is_an_error_naming_what_to_compare() -> None:
    tt = TwoTensor(torch.ones(3), torch.zeros(3))
    with pytest.raises(xb.UnsupportedInputError, match=r"x\.a, x\.b") as caught:
        xb.shares_memory(tt, tt.a)
    assert "compare its inner tensors" in str(caught.value)
    assert xb.shares_memory(tt.a, tt.a) and not xb.shares_memory(tt.a, tt.b)  # what it names
    from torch.func import vmap

    seen: list[str] = []

    def inside(row: Any) -> Any:
        with pytest.raises(xb.UnsupportedInputError, match="outside the transform") as caught:
            xb.shares_memory(row, row)
        seen.append(str(caught.value))
        return row

    batch = torch.ones(2, 3)
    vmap(inside)(batch)
    assert seen and xb.shares_memory(batch, batch[1])  # outside: answered


# Conversions of tensor subclasses whose operations run in Python -----------------


@pytest.mark.rule("tensor-subclasses-in-python")
@pytest.mark.parametrize("to", ["numpy", "jax", "array_api_strict"])
def test_a_dispatch_subclass_is_refused_naming_its_inner_tensors(to: str) -> None:
    pytest.importorskip(to if to != "jax" else "jax.numpy")
    tt = TwoTensor(torch.arange(3.0), torch.zeros(3))
    with pytest.raises(xb.UnsupportedInputError, match="__torch_dispatch__") as planned:
        xb.plan(tt, to)
    with pytest.raises(xb.UnsupportedInputError) as converted:
        xb.convert(tt, to)  # torch's raw RuntimeError before
    assert str(planned.value) == str(converted.value)
    assert "convert its inner tensors instead: x.a, x.b" in str(converted.value)
    assert np.asarray(xb.convert(tt.a, to)).tolist() == [0.0, 1.0, 2.0]  # the remedy works
    assert xb.to_torch(tt) is tt  # torch -> torch: the object itself


# requires_grad=True and the result's dtype ----------------------------------------


@pytest.mark.rule("requires-grad-needs-a-float-result")
@pytest.mark.parametrize(
    "source",
    [
        torch.ones(3, requires_grad=True),  # its request was dropped silently before
        torch.ones(3),
        np.ones(3),
        [1.0, 2.0],
    ],
    ids=["tensor with grad", "tensor", "ndarray", "list"],
)
def test_requires_grad_with_an_integer_dtype_is_a_dtype_error(source: Any) -> None:
    with pytest.raises(xb.DTypeError, match="floating-point or complex") as planned:
        xb.plan(source, "torch", dtype="int16", requires_grad=True)
    with pytest.raises(xb.DTypeError) as converted:
        xb.to_torch(source, dtype="int16", requires_grad=True)
    assert str(planned.value) == str(converted.value)
    result = xb.to_torch(source, dtype="float32", requires_grad=True)  # the remedy it names
    assert result.requires_grad and result.dtype == torch.float32
