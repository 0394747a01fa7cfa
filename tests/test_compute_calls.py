"""compute_in against what it stands for: convert_tree, call, convert_tree back.

``compute_in(to)(f)(*args)`` converts every array argument to ``to`` as
``convert_tree`` would (every leaf planned before any is converted), calls
``f``, and converts every array of the result back to the library and device
of the first array argument.  The composition written out by hand must be
observably the same, call by call: the same arguments reach the function, the
same results (library, dtype, values, writability, grad, memory shared with
the arguments, one object where the function returned one object) or the same
error, and the function is called exactly when the composition calls it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import xpbridge as xb
from xpbridge._trees.walk import ARRAY, kind_of
from xpbridge.testing import assert_bitwise_equal

pytestmark = pytest.mark.property


class _Subclass(np.ndarray):
    """An ndarray subclass: no traits key of its own."""


class _TensorSubclass(torch.Tensor):
    """A Tensor subclass: no traits key of its own."""


def _numpy_arrays() -> dict[str, Callable[[], Any]]:
    """Fresh NumPy sources, one for each thing a traits key and the type decide."""

    def read_only() -> np.ndarray:
        a = np.arange(4, dtype=np.float32)
        a.flags.writeable = False
        return a

    def misaligned() -> np.ndarray:
        return np.zeros(4 * 4 + 1, np.uint8)[1:].view(np.float32)

    def misaligned_complex() -> np.ndarray:
        return np.zeros(8 * 4 + 4, np.uint8)[4:].view(np.complex64)

    makers: dict[str, Callable[[], Any]] = {
        "contiguous": lambda: np.arange(4, dtype=np.float32),
        "0-d": lambda: np.array(2.5),
        "strided": lambda: np.arange(8.0)[::2],
        "reversed": lambda: np.arange(4.0)[::-1],
        "fortran": lambda: np.asfortranarray(np.ones((2, 3))),
        "read-only": read_only,
        "misaligned": misaligned,
        "misaligned complex": misaligned_complex,
        "byte-swapped": lambda: np.arange(3, dtype=">f4"),
        "bool": lambda: np.array([True, False]),
        "subclass": lambda: np.arange(4.0).view(_Subclass),
        "numpy scalar": lambda: np.float32(1.5),
    }
    try:
        import ml_dtypes

        makers["bfloat16"] = lambda: np.ones(3, ml_dtypes.bfloat16)
    except ImportError:
        pass
    return makers


def _torch_tensors() -> dict[str, Callable[[], Any]]:
    """Fresh torch sources, one for each thing Tensor.numpy and the type check decide."""
    return {
        "plain": lambda: torch.arange(4.0),
        "0-d": lambda: torch.tensor(3),
        "strided": lambda: torch.arange(8.0)[::2],
        "requires grad": lambda: torch.ones(2, requires_grad=True),
        "parameter (a subclass)": lambda: torch.nn.Parameter(torch.ones(2), requires_grad=False),
        "conjugate bit": lambda: torch.tensor([1 + 2j]).conj(),
        "negative bit": lambda: torch.tensor([1 + 2j]).conj().imag,
        "bfloat16": lambda: torch.ones(2, dtype=torch.bfloat16),
        "meta": lambda: torch.empty(2, device="meta"),
    }


_PLAIN: dict[str, Callable[[], Any]] = {
    "None": lambda: None,
    "int": lambda: 7,
    "float": lambda: 0.5,
    "str": lambda: "label",
    "object": object,
}


def _made_inside(to: str) -> dict[str, Callable[[], Any]]:
    """Results the function makes itself in the library it computes in."""
    if to == "torch":
        return {
            "new": lambda: torch.ones(3),
            "requires grad": lambda: torch.ones(2, requires_grad=True),
            "conjugate bit": lambda: torch.tensor([1 - 1j]).conj(),
            "float64": lambda: torch.zeros(2, dtype=torch.float64),
            "subclass": lambda: torch.ones(2).as_subclass(_TensorSubclass),
            "None": lambda: None,
        }

    def read_only() -> np.ndarray:
        a = np.ones(3)
        a.flags.writeable = False
        return a

    return {
        "new": lambda: np.ones(3, np.float32),
        "reversed": lambda: np.arange(3.0)[::-1],
        "read-only": read_only,
        "longdouble": lambda: np.ones(2, np.longdouble),
        "None": lambda: None,
    }


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, str, list[str], list[tuple[str, Any]], str]:
    """A target, grad, the arguments (names; repeats are one object twice), results and shape."""
    to = draw(st.sampled_from(["torch", "numpy"]))
    grad = draw(st.sampled_from(["raise", "detach"]))
    pool = [*_numpy_arrays(), *(f"torch {n}" for n in _torch_tensors()), *_PLAIN]
    names = draw(st.lists(st.sampled_from(pool), max_size=5))
    if names and draw(st.booleans()):  # one object at two positions
        names.insert(
            draw(st.integers(0, len(names))), f"again {draw(st.integers(0, len(names) - 1))}"
        )
    inside = list(_made_inside(to))
    result = st.one_of(
        st.tuples(st.just("arg"), st.integers(0, max(len(names) - 1, 0))),
        st.tuples(st.just("new"), st.sampled_from(inside)),
    )
    results = draw(st.lists(result, min_size=1, max_size=4))
    shape = draw(st.sampled_from(["tuple", "single", "list"]))
    return to, grad, names, results, shape


def _arguments(names: list[str]) -> list[Any]:
    numpy_arrays, tensors = _numpy_arrays(), _torch_tensors()
    made: list[Any] = []
    for name in names:
        if name.startswith("again "):
            index = int(name.split()[1])
            made.append(made[min(index, len(made) - 1)] if made else None)
        elif name.startswith("torch "):
            made.append(tensors[name.removeprefix("torch ")]())
        elif name in numpy_arrays:
            made.append(numpy_arrays[name]())
        else:
            made.append(_PLAIN[name]())
    return made


def _is_array(x: Any) -> bool:
    return isinstance(x, (np.ndarray, torch.Tensor))


def _describe(values: Any, sources: list[Any]) -> list[tuple[Any, ...]]:
    """What can be observed of each value: type, dtype, grad, writability, memory, identity."""
    values = values if isinstance(values, (tuple, list)) else [values]
    out = []
    for i, v in enumerate(values):
        same_as = next(j for j, w in enumerate(values) if w is v)  # one object at several places
        if not _is_array(v):
            out.append(
                (
                    "plain",
                    type(v),
                    same_as,
                    repr(v) if v is None or isinstance(v, (int, float, str)) else None,
                )
            )
            continue
        if isinstance(v, torch.Tensor) and v.device.type == "meta":
            out.append(("meta", type(v), same_as))
            continue
        shares = tuple(j for j, s in enumerate(sources) if _is_array(s) and xb.shares_memory(v, s))
        flag = v.flags.writeable if isinstance(v, np.ndarray) else v.requires_grad
        out.append((type(v), v.dtype, tuple(v.shape), flag, shares, same_as, i))
    return out


def _leaf_message(error: BaseException) -> str:
    """The leaf's own message, without where the leaf is (the two name it differently)."""
    text = str(error)
    if text.startswith("compute_in of "):
        text = text.partition(".compute: ")[2]
    head, separator, rest = text.partition(": ")
    return rest if separator and head.startswith(("args", "kwargs", "result", "tree")) else text


def _run(call: Callable[[], Any], seen: list[Any]) -> tuple[Any, Any]:
    """The result or the error (its type and the leaf's own message)."""
    del seen[:]
    try:
        return call(), None
    except xb.ConversionError as e:
        return None, (type(e), _leaf_message(e))


def _by_hand(to: str, grad: str, compute: Callable[..., Any], args: list[Any]) -> Any:
    """compute_in(to, grad=grad)(compute)(*args), written out with convert_tree."""
    first = next((a for a in args if kind_of(a) is ARRAY), None)  # NumPy scalars too
    if first is None:
        return compute(*args)
    xb.plan_tree([], first, grad=grad)  # the way back is checked before the call
    converted = xb.convert_tree(list(args), to, grad=grad)
    return xb.convert_tree(compute(*converted), first, grad=grad)


@given(calls())
def test_compute_in_is_convert_tree_call_convert_tree_back(call: Any) -> None:
    to, grad, names, wanted, shape = call
    made_inside = _made_inside(to)

    seen: list[Any] = []

    def compute(*args: Any) -> Any:
        seen.append(args)
        outs = [
            args[i] if kind == "arg" else made_inside[i]()
            for kind, i in wanted
            if kind == "new" or i < len(args)
        ] or [None]
        if shape == "single":
            return outs[0]
        return tuple(outs) if shape == "tuple" else outs

    function = xb.compute_in(to, grad=grad)(compute)
    args = _arguments(names)
    before = _describe(args, args)
    fast_result, fast_error = _run(lambda: function(*args), seen)
    fast_seen = list(seen)
    args_again = _arguments(names)
    planned_result, planned_error = _run(lambda: _by_hand(to, grad, compute, args_again), seen)
    planned_seen = list(seen)
    assert fast_error == planned_error
    assert len(fast_seen) == len(planned_seen)  # called in both, or in neither
    if fast_seen:
        assert _describe(fast_seen[0], args) == _describe(planned_seen[0], args_again)
    if fast_error is None:
        assert type(fast_result) is type(planned_result)
        assert _describe(fast_result, args) == _describe(planned_result, args_again)
        pairs = zip(
            fast_result if isinstance(fast_result, (tuple, list)) else [fast_result],
            planned_result if isinstance(planned_result, (tuple, list)) else [planned_result],
            strict=True,
        )
        for ours, theirs in pairs:
            meta = isinstance(ours, torch.Tensor) and ours.device.type == "meta"
            if _is_array(ours) and not meta:
                assert_bitwise_equal(ours, theirs)
    assert _describe(args, args) == before  # the sources are unchanged


@pytest.mark.parametrize("to", ["torch", "numpy"])
def test_first_calls_from_many_threads_at_once(to: str) -> None:
    # The requests and compiled plans are memoised on first use: threads that make
    # a freshly decorated function's first calls together all get exact results.
    def swap(x: Any, y: Any) -> Any:
        return y, x

    swapped = xb.compute_in(to)(swap)
    n = 8
    barrier = threading.Barrier(n)
    failures: list[str] = []

    def work(i: int) -> None:
        make = (lambda v: torch.full((3,), v)) if to == "numpy" else (lambda v: np.full(3, v))
        x, y = make(float(i)), make(-float(i))
        barrier.wait()
        for _ in range(200):
            out = swapped(x, y)
            ok = (
                type(out) is tuple
                and all(type(o) is type(x) for o in out)
                and xb.shares_memory(out[0], y)
                and xb.shares_memory(out[1], x)
            )
            if not ok:
                failures.append(f"thread {i}: {out!r}")
                return

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
