"""convert_tree, plan_tree and register_container: spec/trees.toml, rule by rule.

The last tests check that every rule in spec/trees.toml names tests that exist.
"""

from __future__ import annotations

import ast
import collections
import dataclasses
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np
import optree
import pytest
import torch
from capsules import CREATED, DELETED, Producer
from cases import CASES, contract_params
from conftest import OUTCOME_ERRORS, ROOT, load_spec

import xpbridge as xb
from xpbridge._lib import dlpack as _dlpack
from xpbridge._lib import transfers as _transfers
from xpbridge._lib.devices import Device
from xpbridge._lib.traits import Traits
from xpbridge.backends import Backend
from xpbridge.backends import registry as _registry
from xpbridge.backends.numpy import NumpyBackend
from xpbridge.testing import assert_bitwise_equal, snapshot

RULES = load_spec("contract.toml")["rule"]
TREE_RULES = load_spec("trees.toml")["rule"]
MODES = {"none": None, "true": True, "false": False}
TESTS = Path(__file__).parent

# Cases a tree treats differently from convert(), each proved by its own rule:
# a list is a container (tree-containers), an unknown object passes through
# (tree-passthrough), a Python scalar converts only with scalars=True (tree-scalars).
NOT_LEAVES = {"python_list", "python_object"}


def _error_of(function: Any, *args: Any, **keywords: Any) -> xb.ConversionError | None:
    try:
        function(*args, **keywords)
    except xb.ConversionError as e:
        return e
    return None


@pytest.mark.parametrize(
    ("rule", "case", "mode"), contract_params(RULES, skip_cases=frozenset(NOT_LEAVES))
)
def test_every_contract_rule_holds_inside_a_tree(
    rule: dict[str, Any], case: str, mode: str, tmp_path: Path
) -> None:
    x = CASES[case](tmp_path)
    before = snapshot(x)
    keywords = dict(rule.get("kwargs", {}), copy=MODES[mode], scalars=case == "python_scalar")
    single = {k: v for k, v in keywords.items() if k != "scalars"}
    to = rule["target"]
    tree = {"layer": [None, x]}
    path = "tree['layer'][1]"
    error = _error_of(xb.plan, x, to, **single)
    if error is not None:
        assert type(error).__name__ == rule[mode]
        # A leaf's error names its path; a request's (an unavailable device, say)
        # is raised before any leaf, so an empty tree raises it too, pathless.
        pathless = _error_of(xb.plan_tree, {}, to, **keywords) is not None
        message = str(error) if pathless else f"{path}: {error}"
        for function in (xb.plan_tree, xb.convert_tree):
            with pytest.raises(type(error)) as raised:
                function(tree, to, **keywords)
            assert str(raised.value) == message
        assert snapshot(x) == before
        return
    expected_plan = xb.plan(x, to, **single)
    tree_plan = xb.plan_tree(tree, to, **keywords)
    assert tree_plan.plans == {path: expected_plan}
    assert tree_plan.passed_through == ("tree['layer'][0]",)
    expected = xb.convert(x, to, **single)
    result = xb.convert_tree(tree, to, **keywords)["layer"]
    assert result[0] is None
    assert type(result[1]) is type(expected)
    assert (result[1] is x) is (expected is x)
    assert xb.shares_memory(x, result[1]) is xb.shares_memory(x, expected) is expected_plan.aliases
    if rule.get("values") == "inferred":
        assert np.array_equal(np.asarray(result[1]), np.asarray(expected))
    else:
        assert_bitwise_equal(result[1], expected)
    if isinstance(expected, np.ndarray):
        assert result[1].flags.writeable is expected.flags.writeable
    if isinstance(expected, torch.Tensor):
        assert result[1].requires_grad is expected.requires_grad
    assert snapshot(x) == before


# --- Walking -----------------------------------------------------------------


class Point(NamedTuple):
    x: Any
    y: Any


def test_builtin_containers_are_walked_and_rebuilt() -> None:
    a, b, c = np.ones(2), np.zeros(3), np.arange(4.0)
    default = collections.defaultdict(list, {"d": a})
    tree = {
        "list": [a, (b, Point(c, "label"))],
        "ordered": collections.OrderedDict([("z", b), ("a", c)]),
        "default": default,
        "deque": collections.deque([c], maxlen=3),
    }
    out = xb.convert_tree(tree, "torch")
    assert list(out) == list(tree)
    assert type(out["list"]) is list and type(out["list"][1]) is tuple
    point = out["list"][1][1]
    assert type(point) is Point and point.y == "label"
    assert_bitwise_equal(point.x, c)
    assert type(out["ordered"]) is collections.OrderedDict and list(out["ordered"]) == ["z", "a"]
    assert type(out["default"]) is collections.defaultdict
    assert out["default"].default_factory is list
    assert type(out["deque"]) is collections.deque and out["deque"].maxlen == 3
    for result, source in ((out["list"][0], a), (out["ordered"]["z"], b), (out["deque"][0], c)):
        assert isinstance(result, torch.Tensor) and xb.shares_memory(result, source)
    assert out["default"] is not default and tree["default"]["d"] is a  # the source is untouched


@dataclasses.dataclass(frozen=True)
class Fitted:
    coef_: Any
    name: str = "model"
    cache: Any = dataclasses.field(init=False, default=None)
    runs: ClassVar[list[str]] = []

    def __post_init__(self) -> None:
        Fitted.runs.append("post_init")
        object.__setattr__(self, "coef_", np.asarray(self.coef_))  # converts its input back


def test_dataclass_rebuilt_without_running_init_again() -> None:
    fitted = Fitted(np.arange(3.0))
    object.__setattr__(fitted, "cache", np.ones(2))
    object.__setattr__(fitted, "extra", "kept")
    Fitted.runs.clear()
    out = xb.convert_tree(fitted, "torch")
    assert Fitted.runs == []
    assert type(out) is Fitted and out is not fitted
    assert isinstance(out.coef_, torch.Tensor) and isinstance(out.cache, torch.Tensor)
    assert out.name == "model" and out.extra == "kept"  # type: ignore[attr-defined]
    assert isinstance(fitted.coef_, np.ndarray)
    assert str(xb.plan_tree(fitted, "torch")).count("tree.coef_") == 1


def test_unregistered_subclasses_pass_through() -> None:
    class Config(dict):  # type: ignore[type-arg]
        pass

    class Row(list):  # type: ignore[type-arg]
        pass

    config, row = Config(w=np.ones(2)), Row([np.ones(2)])
    out = xb.convert_tree({"config": config, "row": row}, "torch")
    assert out["config"] is config and out["row"] is row
    assert xb.plan_tree([config, row], "torch").passed_through == ("tree[0]", "tree[1]")


class Pair:
    def __init__(self, first: Any, second: Any) -> None:
        self.first, self.second = first, second


class Box:
    def __init__(self, content: Any) -> None:
        self.content = content


def test_registered_container() -> None:
    xb.register_container(
        Pair,
        lambda p: ([p.first, p.second], "meta", ["first", "second"]),
        lambda aux, children: Pair(*children),
        replace=True,
    )
    a = np.arange(3.0)
    out = xb.convert_tree({"pair": Pair(a, None)}, "torch")
    assert type(out["pair"]) is Pair and out["pair"].second is None
    assert xb.shares_memory(out["pair"].first, a)
    with pytest.raises(xb.CopyError, match=r"^tree\['pair'\]\['first'\]: copy=False"):
        xb.convert_tree({"pair": Pair(a[::-1], None)}, "torch", copy=False)
    xb.register_container(
        Box, lambda b: ([b.content], None), lambda aux, c: Box(c[0]), replace=True
    )
    with pytest.raises(xb.CopyError, match=r"^tree\[0\]: "):
        xb.convert_tree(Box(a[::-1]), "torch", copy=False)


@pytest.mark.thread_unsafe(reason="re-registers the process-wide container Pair, changing it")
def test_register_container_refuses_bad_input() -> None:
    with pytest.raises(xb.ArgumentError, match="needs a type"):
        xb.register_container("Pair", lambda p: p, lambda a, c: c)  # type: ignore[arg-type]
    with pytest.raises(xb.ArgumentError, match="callable"):
        xb.register_container(Pair, None, lambda a, c: c)  # type: ignore[arg-type]
    xb.register_container(Pair, lambda p: ([p.first], None), lambda a, c: c, replace=True)
    with pytest.raises(xb.ArgumentError, match="replace=True"):
        xb.register_container(Pair, lambda p: ([p.first], None), lambda a, c: c)
    xb.register_container(Pair, lambda p: [p.first], lambda a, c: c, replace=True)
    with pytest.raises(xb.ArgumentError, match=r"must return \(children, aux\)"):
        xb.convert_tree(Pair(1, 2), "torch")
    xb.register_container(
        Pair, lambda p: ([p.first], None, ["a", "b"]), lambda a, c: c, replace=True
    )
    with pytest.raises(xb.ArgumentError, match="1 children but 2 entries"):
        xb.convert_tree(Pair(1, 2), "torch")


def test_registration_after_first_use_is_honoured() -> None:
    class Late:
        def __init__(self, value: Any) -> None:
            self.value = value

    late = Late(np.ones(2))
    assert xb.convert_tree([late], "torch")[0] is late  # unknown: passed through
    xb.register_container(Late, lambda x: ([x.value], None), lambda aux, c: Late(c[0]))
    assert isinstance(xb.convert_tree([late], "torch")[0].value, torch.Tensor)


def test_optree_nodes_are_walked() -> None:

    class Node3:
        def __init__(self, *values: Any) -> None:
            self.values = values

    class Named:
        def __init__(self, value: Any) -> None:
            self.value = value

    # optree's own default view (tree_flatten without a namespace) is the global
    # registry; a type registered in a named namespace is a leaf there, and here.
    everywhere = getattr(optree.registry, "__GLOBAL_NAMESPACE")
    flatten = (lambda n: (n.values, None, ("a", "b", "c")), lambda aux, c: Node3(*c))
    optree.register_pytree_node(Node3, *flatten, namespace=everywhere)
    optree.register_pytree_node(
        Named, lambda n: ([n.value], None), lambda a, c: Named(*c), namespace="mine"
    )
    try:
        a = np.ones(2)
        assert optree.tree_leaves(Node3(a, "x", None), none_is_leaf=True)[1] == "x"
        out = xb.convert_tree(Node3(a, "x", a[::-1]), "torch")
        assert type(out) is Node3 and out.values[1] == "x"
        assert xb.shares_memory(out.values[0], a)
        with pytest.raises(xb.CopyError, match=r"^tree\['c'\]: "):
            xb.convert_tree(Node3(a, "x", a[::-1]), "torch", copy=False)
        named = Named(a)
        assert optree.tree_leaves(named) == [named]
        assert xb.convert_tree([named], "torch")[0] is named
    finally:
        optree.unregister_pytree_node(Node3, namespace=everywhere)
        optree.unregister_pytree_node(Named, namespace="mine")


def test_torch_pytree_nodes_are_walked() -> None:
    from torch.utils import _pytree

    values, indices = torch.max(torch.tensor([[1.0, 5.0], [7.0, 2.0]]), dim=1)
    result = torch.max(torch.tensor([[1.0, 5.0], [7.0, 2.0]]), dim=1)  # a structseq
    out = xb.convert_tree(result, "numpy")
    assert type(out) is type(result)
    assert_bitwise_equal(out.values, values.numpy())
    assert_bitwise_equal(out.indices, indices.numpy())
    assert list(xb.plan_tree(result, "numpy").plans) == ["tree[0]", "tree[1]"]  # torch's keys

    class Wrapped:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

    _pytree.register_pytree_node(
        Wrapped, lambda w: ([w.inner], None), lambda children, context: Wrapped(children[0])
    )
    out = xb.convert_tree([Wrapped(torch.ones(2))], "numpy")
    assert type(out[0]) is Wrapped and isinstance(out[0].inner, np.ndarray)


@pytest.mark.subprocess
def test_walking_imports_no_tree_library() -> None:
    code = (
        "import sys, numpy as np, dataclasses, collections, xpbridge as xb\n"
        "P = collections.namedtuple('P', 'a b')\n"
        "@dataclasses.dataclass\n"
        "class D:\n"
        "    w: object\n"
        "out = xb.convert_tree({'d': D(np.ones(2)), 'p': P(np.zeros(1), [1, None])}, 'numpy')\n"
        "xb.plan_tree(out, 'numpy')\n"
        "assert type(out['d']) is D\n"
        "print(sorted(m for m in ('optree', 'torch', 'jax', 'dask') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"


def test_cycle_is_an_argument_error() -> None:
    loop: list[Any] = [np.ones(1)]
    loop.append({"again": loop})
    for function in (xb.convert_tree, xb.plan_tree):
        with pytest.raises(xb.ArgumentError, match="contains itself"):
            function(loop, "torch")


# --- Leaves ------------------------------------------------------------------


def test_non_arrays_pass_through_unchanged() -> None:
    leaves = [None, "text", b"bytes", True, 3, 2.5, 1j, {1, 2}, object(), Ellipsis]
    out = xb.convert_tree({"leaves": leaves}, "torch")
    assert all(o is leaf for o, leaf in zip(out["leaves"], leaves, strict=True))
    assert out["leaves"] is not leaves  # new containers
    p = xb.plan_tree(leaves, "numpy")
    assert p.plans == {} and len(p.passed_through) == len(leaves)
    assert "tree[8]  passed through (object)" in str(p)


def test_scalars_keyword_converts_python_scalars() -> None:
    out = xb.convert_tree({"n": 3, "x": 2.5, "flag": True, "name": "w"}, "torch", scalars=True)
    assert out["n"].dtype == torch.int64 and out["x"].dtype == torch.float32
    assert out["flag"].dtype == torch.bool and out["name"] == "w"
    assert xb.convert_tree([2.5], "numpy", scalars=True)[0].dtype == np.float64
    with pytest.raises(xb.CopyError, match=r"^tree\[0\]: copy=False"):
        xb.convert_tree([2.5], "numpy", scalars=True, copy=False)
    assert xb.convert_tree([2.5], "numpy", copy=False) == [2.5]


def test_one_object_twice_is_converted_once() -> None:
    tied = np.arange(3.0)[::-1]  # a copy: converting twice would make two buffers
    shared = [tied]
    tree = {"encoder": tied, "decoder": tied, "a": shared, "b": shared}
    out = xb.convert_tree(tree, "torch")
    assert out["encoder"] is out["decoder"] is out["a"][0]
    assert out["a"] is out["b"] and out["a"] is not shared
    p = xb.plan_tree(tree, "torch")
    assert (p.copying, p.bytes_copied) == (1, 24)
    assert dict(p.same_as) == {
        "tree['decoder']": "tree['encoder']",
        "tree['a'][0]": "tree['encoder']",
        "tree['b'][0]": "tree['encoder']",
    }
    assert set(p.plans) == {"tree['encoder']", "tree['decoder']", "tree['a'][0]", "tree['b'][0]"}
    assert "tree['decoder']  the same object as tree['encoder']" in str(p)
    fast = np.ones(2)  # through the NumPy -> torch shortcut
    out = xb.convert_tree([fast, fast], "torch")
    assert out[0] is out[1]


# --- Planning and executing --------------------------------------------------


def test_failure_at_the_last_leaf_converts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    consumed: list[Any] = []
    consume = _dlpack.Exported.to_numpy

    def counting(self: _dlpack.Exported) -> Any:
        consumed.append(self)
        return consume(self)

    monkeypatch.setattr(_dlpack.Exported, "to_numpy", counting)
    producers = [Producer(np.arange(4.0) + i) for i in range(5)]
    created = len(CREATED)
    last = torch.tensor([1 + 2j]).conj()  # to NumPy under copy=False: a CopyError
    tree = {"producers": producers, "last": last}
    with pytest.raises(xb.CopyError, match=r"^tree\['last'\]: copy=False"):
        xb.convert_tree(tree, "numpy", copy=False)
    assert [len(p.requests) for p in producers] == [1] * 5  # asked once each, while planning
    assert consumed == []  # and no capsule consumed: nothing converted
    serials = CREATED[created:]
    assert len(serials) == 5 and set(serials) <= set(DELETED)  # every capsule released
    out = xb.convert_tree({"producers": producers}, "numpy", copy=False)
    assert [len(p.requests) for p in producers] == [2] * 5  # one export per conversion
    assert len(consumed) == 5
    for result, producer in zip(out["producers"], producers, strict=True):
        assert xb.shares_memory(result, producer.a)


def test_errors_name_the_path() -> None:
    weights = torch.ones(2, requires_grad=True)
    tree = {"coef_": [np.ones(2), torch.zeros(2), weights], "n": 1}
    with pytest.raises(xb.GradError, match=r"^tree\['coef_'\]\[2\]: the source requires grad"):
        xb.convert_tree(tree, "numpy", grad="raise")
    assert weights.requires_grad  # untouched
    point = Point(np.ones(2), np.array([1.0], dtype=np.longdouble))
    with pytest.raises(
        xb.DTypeError, match=r"^tree\.y: cannot convert numpy (longdouble|float128) array"
    ):
        xb.plan_tree(point, "torch")
    with pytest.raises(xb.UnsupportedInputError, match=r"^tree: cannot convert a masked array"):
        xb.convert_tree(np.ma.masked_array([1.0]), "torch")


def test_keywords_are_checked_without_array_leaves() -> None:
    for function in (xb.convert_tree, xb.plan_tree):
        with pytest.raises(xb.ArgumentError, match="unknown target library"):
            function({}, "no-such-library")
        with pytest.raises(xb.ArgumentError, match="copy must be"):
            function({}, "torch", copy="yes")
        with pytest.raises(xb.ArgumentError, match="grad must be"):
            function({}, "numpy", grad="keep")
        with pytest.raises(xb.ArgumentError, match="scalars must be"):
            function({}, "numpy", scalars=1)
        with pytest.raises(xb.ArgumentError, match="requires_grad=True needs"):
            function({}, "numpy", requires_grad=True)
        with pytest.raises(xb.DTypeError):
            function({}, "torch", dtype="float")
        with pytest.raises(xb.DeviceError):
            function({}, "numpy", device="cuda")
    assert xb.convert_tree({}, "torch") == {}


class FakeDevice(Backend):
    """A library on a fake 'cuda' device that logs its steps and hands its waits to xpbridge."""

    name: ClassVar[str] = "fakedevice"
    device_kinds = frozenset({"cpu", "cuda"})
    exchanges: ClassVar[dict[tuple[str, str], str]] = {("fakedevice", "numpy"): "to_numpy"}
    log: ClassVar[list[str]] = []

    def owns(self, cls: type) -> bool:
        return cls is OnDevice

    def traits(self, x: Any) -> Traits:
        return Traits("fakedevice", "float64", Device("cuda", 0))

    def holds(self, dtype: str) -> bool:
        return dtype in ("float64", "float32")

    def casts(self, source: str, target: str) -> bool:
        return False

    def resolve_device(self, device: Device) -> Device:
        return device

    def device_of(self, x: Any) -> Device:
        return Device("cuda", 0)

    def extent(self, x: Any) -> None:
        return None

    def step_to_device(self, x: OnDevice, plan: Any) -> OnDevice:
        self.log.append(f"issue {x.name}")
        stream = x.stream
        _transfers.synchronise(("stream", stream), lambda: self.log.append(f"wait {stream}"))
        return OnDevice(x.name, x.data, "host")

    def step_to_numpy(self, x: OnDevice, plan: Any) -> Any:
        self.log.append(f"read {x.name}")
        return x.data.copy()


class OnDevice:
    def __init__(self, name: str, data: Any, stream: str) -> None:
        self.name, self.data, self.stream = name, data, stream


@pytest.fixture
def fake_device(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeDevice]]:
    from xpbridge._lib.memo import Memo, clear_all
    from xpbridge.backends import registry as _registry

    # A registry of our own for this test: the fake backend never leaks into other tests.
    for name in ("_REGISTERED", "_BACKENDS", "_ORIGIN", "_INSTALLED"):
        monkeypatch.setattr(
            _registry, name, type(getattr(_registry, name))(getattr(_registry, name))
        )
    monkeypatch.setattr(_registry, "_BY_TYPE", Memo("owners", "type", by_type=True, register=False))
    xb.register_backend(FakeDevice())
    FakeDevice.log.clear()
    yield FakeDevice
    clear_all()  # the memos decided with the fake backend forget it


def test_transfers_are_waited_for_once_before_data_is_read(fake_device: type[FakeDevice]) -> None:
    tree = {
        "a": OnDevice("a", np.ones(2), "s0"),
        "b": [OnDevice("b", np.zeros(2), "s0"), OnDevice("c", np.arange(2.0), "s1")],
    }
    assert xb.plan_tree(tree, "numpy").plans["tree['a']"].steps == ("to_device", "to_numpy")
    steps = xb.plan_tree(tree, "numpy", dtype="float32").plans["tree['a']"].steps
    assert steps == ("to_device", "to_numpy", "cast")  # the cast reads the data
    out = xb.convert_tree(tree, "numpy", dtype="float32")
    assert fake_device.log == [
        "issue a",
        "issue b",
        "issue c",
        "wait s0",  # one wait per stream, after every transfer was issued
        "wait s1",
        "read a",  # and only then the steps that read the data
        "read b",
        "read c",
    ]
    assert out["b"][1].dtype == np.float32 and out["b"][1].tolist() == [0.0, 1.0]
    fake_device.log.clear()
    xb.convert(OnDevice("x", np.ones(1), "s0"), "numpy")  # alone: waits at once
    assert fake_device.log == ["issue x", "wait s0", "read x"]


def test_deferred_synchronisation() -> None:
    waits: list[str] = []
    _transfers.synchronise("k", lambda: waits.append("now"))
    assert waits == ["now"]

    def failing_batch() -> None:
        with _transfers.deferred_synchronisation():
            _transfers.synchronise("k", lambda: waits.append("k"))
            _transfers.synchronise("k", lambda: waits.append("k again"))
            _transfers.synchronise("j", lambda: waits.append("j"))
            assert waits == ["now"]
            raise RuntimeError("the waits still run")

    with pytest.raises(RuntimeError, match="the waits still run"):
        failing_batch()
    assert waits == ["now", "k", "j"]
    seen: list[str] = []

    def other_thread() -> None:  # a batch is per thread: this wait is not deferred
        _transfers.synchronise("t", lambda: seen.append("t"))

    with _transfers.deferred_synchronisation():
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert seen == ["t"]


def test_tree_plan_fields_and_text() -> None:
    tree = {
        "w": np.zeros((2, 3), np.float32),
        "rev": np.arange(4, dtype=np.int16)[::-1],
        "bf": torch.ones(3, dtype=torch.bfloat16),
        "n": 10,
    }
    p = xb.plan_tree(tree, "numpy", copy=None)
    assert p.target == "numpy"
    assert list(p.plans) == ["tree['w']", "tree['rev']", "tree['bf']"]
    assert p.plans["tree['rev']"] == xb.plan(tree["rev"], "numpy")
    assert (p.aliasing, p.copying, p.bytes_copied) == (3, 0, 0)  # numpy -> numpy: the objects
    p = xb.plan_tree(tree, "torch", dtype="float64")  # three casts: 6, 4 and 3 elements
    assert (p.aliasing, p.copying, p.bytes_copied) == (0, 3, (6 + 4 + 3) * 8)
    p = xb.plan_tree(tree, "torch")  # only the reversed int16 array is copied
    assert (p.aliasing, p.copying, p.bytes_copied) == (2, 1, 4 * 2)
    assert p.passed_through == ("tree['n']",)
    text = str(p)
    assert text.splitlines()[0] == (
        "tree -> torch: 3 arrays (2 zero-copy, 1 copied: 8 bytes), 1 leaf passed through"
    )
    for path, plan in p.plans.items():
        assert path in text and ", ".join(plan.steps) in text
        assert all(reason in text for reason in plan.reasons)
    assert "tree['n']    passed through (int)" in text
    assert repr(p).startswith("TreePlan(target='torch', leaves=3")
    with pytest.raises(AttributeError, match="immutable"):
        p.copying = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        p.plans["x"] = p.plans["tree['w']"]  # type: ignore[index]
    assert p == xb.plan_tree(tree, "torch") != xb.plan_tree(tree, "torch", dtype="float64")
    # Every spelling of one library gives the same plan.
    assert (
        xb.plan_tree(tree, torch)
        == xb.plan_tree(tree, "torch")
        == xb.plan_tree(tree, torch.ones(1))
    )


def test_trees_convert_concurrently() -> None:
    trees = [{"a": [np.full(3, float(i)), np.arange(3.0)[::-1] + i], "n": i} for i in range(8)]
    results: list[Any] = [None] * len(trees)
    barrier = threading.Barrier(len(trees))

    def work(i: int) -> None:
        barrier.wait()
        for _ in range(50):
            results[i] = xb.convert_tree(trees[i], "torch")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(trees))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, out in enumerate(results):
        assert out["n"] == i and out["a"][0].tolist() == [float(i)] * 3
        assert out["a"][1].tolist() == [2.0 + i, 1.0 + i, float(i)]


# --- spec/trees.toml and the tests stay in step ----------------------------------


# CPython 3.11's AST constructor can fail with "AST constructor recursion depth
# mismatch" when threads parse at once (pytest --parallel-threads; reported in
# https://github.com/python/cpython/issues/106905): one parse at a time.
_PARSING = threading.Lock()


def _test_names(relative: str) -> set[str]:
    with _PARSING:
        tree = ast.parse((TESTS / relative).read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def test_every_tree_rule_names_existing_tests() -> None:
    ids = [rule["id"] for rule in TREE_RULES]
    assert len(ids) == len(set(ids))
    for rule in TREE_RULES:
        assert {"id", "situation", "outcome", "reason", "refs", "tests"} <= set(rule), rule["id"]
        assert rule["tests"], f"rule {rule['id']} names no test"
        for test in rule["tests"]:
            relative, _, name = test.partition("::")
            assert name.startswith("test_"), test
            assert name in _test_names(relative), f"rule {rule['id']}: no test {test}"


def test_tree_rule_outcomes_name_real_errors() -> None:
    for rule in TREE_RULES:
        for word in re.findall(r"\b\w+Error\b", rule["outcome"]):
            assert word in OUTCOME_ERRORS, (rule["id"], word)


def test_spec_readme_describes_trees() -> None:
    readme = (ROOT / "spec" / "README.md").read_text()
    assert "## trees.toml" in readme
    for field in ("situation", "outcome", "reason", "refs", "tests"):
        assert f"`{field}`" in readme


@pytest.mark.rule("plan-never-copies")
@pytest.mark.parametrize("copy", [None, True])
def test_plan_tree_asks_device_producers_for_no_copy(copy: bool | None) -> None:
    # plan_tree plans each leaf exactly as plan() does: reading, never copying.
    producers = [Producer(np.arange(4.0), device=(2, 0), host_copy_on_request=True) for _ in "ab"]
    tree = {"a": producers[0], "b": [producers[1]]}
    planned = xb.plan_tree(tree, "numpy", copy=copy)
    for p in producers:
        assert [r for r in p.requests if r.get("copy") is True or "dl_device" in r] == []
    assert planned.plans["tree['a']"] == xb.plan(producers[0], "numpy", copy=copy)
    result = xb.convert_tree(tree, "numpy", copy=copy)
    assert result["b"][0].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_an_owner_found_for_one_instance_is_not_cached_for_its_type() -> None:
    class Holder:
        pass

    with_interface, without = Holder(), Holder()
    data = np.arange(3.0)
    with_interface.__array_interface__ = data.__array_interface__  # type: ignore[attr-defined]
    with_interface.keep = data  # type: ignore[attr-defined]
    assert xb.convert_tree({"a": without}, "torch")["a"] is without  # passes through
    assert isinstance(xb.convert_tree({"a": with_interface}, "torch")["a"], torch.Tensor)
    assert xb.convert_tree({"a": without}, "torch")["a"] is without  # still passes through


def test_equal_python_scalars_become_separate_arrays() -> None:
    # Python caches small ints: {'n': 3, 'm': 3} holds one object twice, and the
    # two results must still be two tensors (a write to one never shows in the other).
    tree = {"n": 3, "m": 3, "s": "a", "t": "a"}
    r = xb.convert_tree(tree, "torch", scalars=True)
    assert r["n"] is not r["m"]
    r["n"].add_(1)
    assert int(r["m"]) == 3 and r["s"] is r["t"] == "a"
    p = xb.plan_tree(tree, "torch", scalars=True)
    assert not p.same_as


class _Vector(list):  # type: ignore[type-arg]
    """A list subclass a library later claims as its array type."""


class _VectorBackend(NumpyBackend):
    name = "tree_vectors"

    def owns(self, cls: type) -> bool:
        return cls is _Vector


@pytest.mark.thread_unsafe(reason="registers a backend in the global registry")
def test_a_type_claimed_by_a_new_backend_is_an_array_leaf_from_then_on() -> None:
    from xpbridge._trees import walk as _tree

    v = _Vector([1.0, 2.0])
    assert _tree.kind_of(v) is not _tree.ARRAY  # a list: a container
    _registry.register_backend(_VectorBackend(), replace=True)
    assert _tree.kind_of(v) is _tree.ARRAY  # the kind memo forgot the old answer
