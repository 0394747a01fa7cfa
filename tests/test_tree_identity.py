"""Trees never change the caller's objects, keep the identity of what they do not convert,
and are walked at any depth (spec/trees.toml: tree-dataclass-rebuild,
compute-in-arguments, tree-depth, tree-cycle).

Each of these failed on the walker before the one-pipeline rewrite: a
``__copy__`` that returns ``self`` let the rebuilt tree write into the
caller's dataclass; ``compute_in`` handed the function shallow copies of
arguments that hold no arrays; a tree nested 3,000 deep raised RecursionError.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import xpbridge as xb
from xpbridge.testing import snapshot


@dataclasses.dataclass(frozen=True)
class Frozen:
    """Immutable by convention, so its copy is itself (as attrs and some configs do)."""

    weights: Any
    name: str = "layer"

    def __copy__(self) -> Frozen:
        return self


@pytest.mark.parametrize("to", ["torch", "numpy"])
def test_a_dataclass_whose_copy_is_itself_is_never_written_into(to: str) -> None:
    a = np.arange(3.0)
    source = Frozen(a if to == "torch" else torch.arange(3.0))
    field = source.weights
    moved = xb.convert_tree({"layer": source}, to)["layer"]
    assert moved is not source and type(moved) is Frozen
    assert source.weights is field  # the caller's object keeps its field
    assert type(moved.weights).__module__.partition(".")[0] == to and moved.name == "layer"


def test_compute_in_never_writes_into_a_dataclass_whose_copy_is_itself() -> None:
    seen: list[Any] = []

    @xb.compute_in("torch")
    def use(layer: Frozen) -> Any:
        seen.append(layer)
        return layer.weights * 2

    source = Frozen(np.arange(3.0))
    result = use(source)
    assert isinstance(seen[0].weights, torch.Tensor) and seen[0] is not source
    assert isinstance(source.weights, np.ndarray)  # the caller's field is still its array
    assert result.tolist() == [0.0, 2.0, 4.0]


class Estimator:
    """A method's ``self`` holds state the function updates; it holds no array."""

    def __init__(self) -> None:
        self.n_seen_ = 0

    @xb.compute_in("numpy")
    def partial_fit(self, x: Any, out: list[Any], options: dict[str, Any]) -> Any:
        self.n_seen_ += len(x)
        out.append(float(x.sum()))  # a Python number: the list still holds no array
        options["called"] = True
        return x * 2


def test_compute_in_hands_the_function_the_callers_own_objects() -> None:
    model, out, options = Estimator(), [], {"scale": 1.0}
    model.partial_fit(torch.ones(3), out, options)
    model.partial_fit(torch.ones(2), out, options)
    assert model.n_seen_ == 5  # the function's writes reach the caller's objects
    assert out == [3.0, 2.0]
    assert options == {"scale": 1.0, "called": True}


def test_compute_in_rebuilds_only_the_containers_that_hold_arrays() -> None:
    received: list[Any] = []

    @xb.compute_in("torch")
    def f(data: dict[str, Any], config: dict[str, Any], rows: list[Any]) -> Any:
        received.extend([data, config, rows])
        return data["x"]

    data, config, rows = {"x": np.ones(2)}, {"lr": 0.1}, [[1, 2], ["a"]]
    f(data, config, rows)
    assert received[0] is not data and isinstance(received[0]["x"], torch.Tensor)
    assert isinstance(data["x"], np.ndarray)  # the caller's container is untouched
    assert received[1] is config and received[2] is rows and received[2][0] is rows[0]


def _nested(depth: int, leaf: Any, kind: str) -> Any:
    tree = leaf
    for i in range(depth):
        tree = {"k": tree} if kind == "dict" else [tree] if kind == "list" else (tree, i)
    return tree


def _innermost(tree: Any, depth: int, kind: str) -> Any:
    for _ in range(depth):
        tree = tree["k"] if kind == "dict" else tree[0]
    return tree


@pytest.mark.parametrize("kind", ["dict", "list", "tuple"])
def test_trees_nested_deeper_than_the_recursion_limit_are_walked(kind: str) -> None:
    depth = max(3_000, sys.getrecursionlimit() + 500)
    tree = _nested(depth, np.arange(2.0), kind)
    moved = xb.convert_tree(tree, "torch")
    assert isinstance(_innermost(moved, depth, kind), torch.Tensor)
    plans = xb.plan_tree(tree, "torch").plans
    assert len(plans) == 1 and next(iter(plans.values())).steps == ("from_numpy",)
    assert xb.convert_tree(moved, "numpy", copy=True) is not moved


def test_a_cycle_deep_down_is_an_argument_error() -> None:
    depth = 3_000
    tree = _nested(depth, None, "list")
    _innermost(tree, depth - 1, "list")[0] = tree  # the innermost list holds the root
    with pytest.raises(xb.ArgumentError, match="contains itself"):
        xb.convert_tree(tree, "torch")
    with pytest.raises(xb.ArgumentError, match="contains itself"):
        xb.plan_tree(tree, "torch")


# A property over random trees: the source never changes, non-array containers keep
# their identity in compute_in, and depth does not matter.

LEAVES = st.one_of(
    st.builds(lambda n: np.arange(float(n)), st.integers(0, 4)),
    st.builds(lambda n: torch.arange(float(n)), st.integers(0, 4)),
    st.sampled_from([None, "text", 3, 2.5, b"raw"]),
)


def _trees(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from("abc"), inner, max_size=3),
            st.lists(inner, max_size=3).map(tuple),
            st.builds(Frozen, inner),
        ),
        max_leaves=10,
    )


def _holds_array(x: Any) -> bool:
    if isinstance(x, (np.ndarray, torch.Tensor)):
        return True
    if isinstance(x, dict):
        return any(_holds_array(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return any(_holds_array(v) for v in x)
    if isinstance(x, Frozen):
        return _holds_array(x.weights)
    return False


def _containers(x: Any) -> list[Any]:
    if isinstance(x, dict):
        inner = list(x.values())
    elif isinstance(x, (list, tuple)):
        inner = list(x)
    elif isinstance(x, Frozen):
        inner = [x.weights]
    else:
        return []
    return [x] + [c for child in inner for c in _containers(child)]


def _state(x: Any) -> Any:
    """Everything the caller could observe of a tree: structure, identities, array bytes."""
    if isinstance(x, (np.ndarray, torch.Tensor)):
        return ("array", id(x), snapshot(x))
    if isinstance(x, dict):
        return ("dict", id(x), [(k, _state(v)) for k, v in x.items()])
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, id(x), [_state(v) for v in x])
    if isinstance(x, Frozen):
        return ("frozen", id(x), _state(x.weights), x.name)
    return ("leaf", x)


@given(_trees(LEAVES), st.sampled_from(["numpy", "torch"]), st.integers(0, 400))
def test_trees_change_nothing_they_are_given_and_keep_what_holds_no_array(
    tree: Any, to: str, depth: int
) -> None:
    tree = _nested(depth, tree, "list")
    before = _state(tree)
    xb.convert_tree(tree, to)
    xb.plan_tree(tree, to)
    received: list[Any] = []

    @xb.compute_in(to, grad="detach")
    def f(argument: Any) -> None:
        received.append(argument)

    f(tree)
    assert _state(tree) == before  # nothing the caller holds changed
    given_containers = _containers(received[0])
    for container in _containers(tree):
        if not _holds_array(container):  # held no array: the very object reached the function
            assert any(c is container for c in given_containers)
