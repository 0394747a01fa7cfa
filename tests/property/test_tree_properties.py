"""Properties over generated trees: every leaf follows the single-array contract.

The oracle walks the generated containers itself (it does not use
xpbridge's walker) and compares convert_tree / plan_tree with convert / plan
leaf by leaf.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import event, given
from hypothesis import strategies as st

import xpbridge as xb
from xpbridge.testing import assert_bitwise_equal, snapshot
from xpbridge.testing._trees import Node, Pair
from xpbridge.testing.strategies import trees

pytestmark = pytest.mark.property

TARGETS = st.sampled_from(["numpy", "torch"])
COPY = st.sampled_from([None, True, False])
GRAD = st.sampled_from(["detach", "raise"])


def _children(node: Any) -> list[tuple[str, Any]] | None:
    """(path suffix, child) of a container the strategy makes; None for a leaf."""
    if type(node) in (dict, OrderedDict):
        return [(f"[{k!r}]", v) for k, v in node.items()]
    if type(node) in (list, tuple):
        return [(f"[{i}]", v) for i, v in enumerate(node)]
    if type(node) is Pair:
        return [(".first", node.first), (".second", node.second)]
    if type(node) is Node:
        return [(f".{f.name}", getattr(node, f.name)) for f in dataclasses.fields(node)]
    return None


def _leaves(tree: Any, path: str = "tree") -> Iterator[tuple[str, Any]]:
    children = _children(tree)
    if children is None:
        yield path, tree
        return
    for suffix, child in children:
        yield from _leaves(child, path + suffix)


def _pairs(source: Any, result: Any, path: str = "tree") -> Iterator[tuple[str, Any, Any]]:
    """(path, source leaf, result leaf), checking that the structure is the same."""
    children = _children(source)
    if children is None:
        yield path, source, result
        return
    assert type(result) is type(source), path
    assert result is not source or source == (), path  # a new container (() is a singleton)
    if isinstance(source, dict):
        assert list(result) == list(source), path
    results = _children(result)
    assert results is not None and len(results) == len(children), path
    for (suffix, child), (_, out) in zip(children, results, strict=True):
        yield from _pairs(child, out, path + suffix)


def _is_array(x: Any) -> bool:
    return isinstance(x, (np.ndarray, torch.Tensor))


def _first_error(tree: Any, to: str, **keywords: Any) -> tuple[str, xb.ConversionError] | None:
    for path, leaf in _leaves(tree):
        if _is_array(leaf):
            try:
                xb.plan(leaf, to, **keywords)
            except xb.ConversionError as e:
                return path, e
    return None


@given(trees(), TARGETS, COPY, GRAD)
def test_convert_tree_is_convert_at_every_leaf(
    tree: Any, to: str, copy: bool | None, grad: str
) -> None:
    keywords = {"copy": copy, "grad": grad}
    before = [(path, snapshot(leaf)) for path, leaf in _leaves(tree)]
    failure = _first_error(tree, to, **keywords)
    event("a leaf fails" if failure else "every leaf converts")
    if failure is not None:
        return  # test_a_failing_tree_raises_like_its_first_failing_leaf
    result = xb.convert_tree(tree, to, **keywords)
    for path, source, out in _pairs(tree, result):
        if not _is_array(source):
            assert out is source, path  # passed through: the very object
            continue
        expected = xb.convert(source, to, **keywords)
        assert type(out) is type(expected), path
        assert (out is source) is (expected is source), path
        assert xb.shares_memory(source, out) is xb.shares_memory(source, expected), path
        if out.dtype != torch.bool or not isinstance(out, torch.Tensor) or out.numel():
            assert_bitwise_equal(out, expected)
        if isinstance(out, np.ndarray):
            assert out.flags.writeable is expected.flags.writeable, path
        else:
            assert out.requires_grad is expected.requires_grad, path
    assert [(path, snapshot(leaf)) for path, leaf in _leaves(tree)] == before


@given(trees(), TARGETS, COPY, GRAD)
def test_plan_tree_is_plan_at_every_leaf(tree: Any, to: str, copy: bool | None, grad: str) -> None:
    keywords = {"copy": copy, "grad": grad}
    failure = _first_error(tree, to, **keywords)
    if failure is not None:
        return
    p = xb.plan_tree(tree, to, **keywords)
    arrays = {path: leaf for path, leaf in _leaves(tree) if _is_array(leaf)}
    assert set(p.plans) == set(arrays)
    for path, leaf in arrays.items():
        assert p.plans[path] == xb.plan(leaf, to, **keywords), path
    passed = [path for path, leaf in _leaves(tree) if not _is_array(leaf)]
    assert list(p.passed_through) == [path for path in passed if path not in p.same_as]


@given(trees(), TARGETS, COPY)
def test_convert_tree_does_what_plan_tree_says(tree: Any, to: str, copy: bool | None) -> None:
    if _first_error(tree, to, copy=copy) is not None:
        return
    p = xb.plan_tree(tree, to, copy=copy)
    result = xb.convert_tree(tree, to, copy=copy)
    distinct: dict[int, tuple[bool, int]] = {}
    for path, source, out in _pairs(tree, result):
        if _is_array(source):
            plan = p.plans[path]
            assert xb.shares_memory(source, out) is (plan.aliases and _nonempty(source)), path
            size = source.numel() if isinstance(source, torch.Tensor) else source.size
            bits = np.dtype(out.dtype).itemsize * 8 if isinstance(out, np.ndarray) else None
            bits = bits or out.element_size() * 8
            distinct[id(source)] = (plan.aliases, 0 if plan.aliases else size * bits // 8)
    assert p.aliasing == sum(aliases for aliases, _ in distinct.values())
    assert p.copying == len(distinct) - p.aliasing
    assert p.bytes_copied == sum(nbytes for _, nbytes in distinct.values())


def _nonempty(x: Any) -> bool:
    return bool(x.numel() if isinstance(x, torch.Tensor) else x.size)


@given(trees(), TARGETS, COPY, GRAD)
def test_a_failing_tree_raises_like_its_first_failing_leaf(
    tree: Any, to: str, copy: bool | None, grad: str
) -> None:
    keywords = {"copy": copy, "grad": grad}
    failure = _first_error(tree, to, **keywords)
    event("a leaf fails" if failure else "every leaf converts")
    if failure is None:
        return  # test_convert_tree_is_convert_at_every_leaf
    path, error = failure
    before = [(p, snapshot(leaf)) for p, leaf in _leaves(tree)]
    for function in (xb.plan_tree, xb.convert_tree):
        with pytest.raises(type(error)) as raised:
            function(tree, to, **keywords)
        assert str(raised.value) == f"{path}: {error}"
    assert [(p, snapshot(leaf)) for p, leaf in _leaves(tree)] == before


@given(trees(), TARGETS)
def test_repeated_objects_stay_one_object(tree: Any, to: str) -> None:
    if _first_error(tree, to) is not None:
        return
    result = xb.convert_tree(tree, to)
    first: dict[int, Any] = {}
    for path, source, out in _pairs(tree, result):
        seen = first.setdefault(id(source), out)
        assert seen is out, path
    doubled = xb.convert_tree([tree, tree], to)
    assert doubled[0] is doubled[1]


def _failing_leaf(to: str) -> Any:
    """A leaf that cannot be converted to ``to`` under copy=False and grad='raise'."""
    if to == "torch":
        return np.frombuffer(b"\0" * 16, dtype=np.float32)  # read-only: torch would alias it
    return torch.ones(2, requires_grad=True)


@given(trees(), TARGETS, st.booleans())
def test_a_planted_failure_converts_nothing(tree: Any, to: str, last: bool) -> None:
    bad = _failing_leaf(to)
    planted = [tree, bad] if last else [bad, tree]
    keywords = {"copy": False, "grad": "raise"}
    failure = _first_error(planted, to, **keywords)
    assert failure is not None
    path, error = failure
    event("the planted leaf fails first" if path == f"tree[{int(last)}]" else "an earlier leaf")
    before = [(p, snapshot(leaf)) for p, leaf in _leaves(planted)]
    for function in (xb.plan_tree, xb.convert_tree):
        with pytest.raises(type(error)) as raised:
            function(planted, to, **keywords)
        assert str(raised.value) == f"{path}: {error}"
    assert [(p, snapshot(leaf)) for p, leaf in _leaves(planted)] == before
