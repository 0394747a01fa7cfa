"""Hypothesis strategies over trees of arrays: nested containers, repeated objects included.

Examples
--------
>>> from hypothesis import given, settings
>>> import xpbridge as xb
>>> from xpbridge.testing._trees import trees
>>> @settings(max_examples=5)
... @given(trees())
... def test_structure_is_kept(tree):
...     xb.convert_tree(tree, "numpy", grad="detach")
>>> test_structure_is_kept()
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict, namedtuple
from typing import Any

from hypothesis import strategies as st

__all__ = ["Node", "Pair", "tree_leaves", "trees"]

Pair = namedtuple("Pair", ["first", "second"])


@dataclasses.dataclass
class Node:
    """A dataclass container, as fitted estimators and model states are."""

    left: Any
    right: Any = None


def tree_leaves() -> st.SearchStrategy[Any]:
    """The default leaves: NumPy arrays, torch tensors (when torch is installed) and plain values.

    Plain values are what a tree passes through: None, ints, floats, strings.
    """
    from .strategies import numpy_arrays, torch_tensors

    plain = st.one_of(
        st.none(), st.integers(-3, 3), st.floats(allow_nan=False), st.text(max_size=3)
    )
    arrays: list[st.SearchStrategy[Any]] = [numpy_arrays()]
    try:
        import torch  # noqa: F401

        arrays.append(torch_tensors())
    except ImportError:
        pass
    return st.one_of(*arrays, plain)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.text(min_size=1, max_size=3) | st.integers(0, 9)
    return st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(keys, children, max_size=3),
        st.dictionaries(keys, children, max_size=3).map(OrderedDict),
        st.builds(Pair, children, children),
        st.builds(Node, children, children),
        children.map(lambda child: [child, child]),  # one object at two paths
    )


def trees(
    leaves: st.SearchStrategy[Any] | None = None, *, max_leaves: int = 8
) -> st.SearchStrategy[Any]:
    """Nested lists, tuples, dicts, OrderedDicts, namedtuples and dataclasses of ``leaves``.

    A tree may hold one object (a leaf or a container) at several paths.

    Parameters
    ----------
    leaves
        The strategy for the leaves (default: :func:`tree_leaves`).
    max_leaves
        About how many leaves a tree has at most (hypothesis's ``recursive``).

    Returns
    -------
    SearchStrategy
        Trees, from a single leaf to nested containers.
    """
    return st.recursive(leaves or tree_leaves(), _containers, max_leaves=max_leaves)
