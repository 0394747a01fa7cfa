"""The pipeline's memos: each gives what the work it skips gives, and forgets in time.

One memo type (``xpbridge._lib.memo.Memo``), one bounding policy, one
inventory: requests by spelling, compiled plans per request by traits key,
the backends' traits by cheap attributes, tree kinds by type.  Each must give
the same answer as the work it skips, for every kind of source and request;
each forgets when a registration changes what the pipeline decides; none
keeps a class alive.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from frameworks import NUMPY_MAX_DIMS

import xpbridge as xb
from xpbridge._lib import memo
from xpbridge._pipeline import request as _request
from xpbridge._pipeline.plan import make_plan
from xpbridge.backends import Backend
from xpbridge.backends import numpy as numpy_backend
from xpbridge.backends import registry as _registry
from xpbridge.backends.numpy import NumpyBackend
from xpbridge.backends.torch import TorchBackend


def _quantized() -> torch.Tensor:
    return torch.quantize_per_tensor(torch.ones(3), 0.5, 0, torch.qint8)


def _inference() -> torch.Tensor:
    with torch.inference_mode():
        return torch.ones(3)


# Making some of the kinds warns (prototype, beta or deprecated in torch).
_MAKING_WARNS = [
    pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors:UserWarning"),
    pytest.mark.filterwarnings("ignore:Sparse CSR tensor support:UserWarning"),
    pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning"),
]


def _making_warns(test: Any) -> Any:
    for mark in _MAKING_WARNS:
        test = mark(test)
    return test


TENSORS: dict[str, Callable[[], torch.Tensor]] = {
    "plain": lambda: torch.ones(3),
    "float64": lambda: torch.ones(3, dtype=torch.float64),
    "size zero": lambda: torch.ones(0),
    "scalar": lambda: torch.tensor(1.0),
    "33 dims": lambda: torch.ones((1,) * 33),
    "requires grad": lambda: torch.ones(3, requires_grad=True),
    "parameter": lambda: torch.nn.Parameter(torch.ones(3)),
    "conj": lambda: torch.ones(3, dtype=torch.complex64).conj(),
    "complex": lambda: torch.ones(3, dtype=torch.complex64),
    "neg": lambda: torch._neg_view(torch.ones(3)),
    "inference": _inference,
    "sparse": lambda: torch.eye(3).to_sparse(),
    "sparse csr": lambda: torch.eye(3).to_sparse_csr(),
    "nested": lambda: torch.nested.nested_tensor([torch.ones(2), torch.ones(3)]),
    "meta": lambda: torch.ones(3, device="meta"),
    "quantized": _quantized,
    "zero-size sparse": lambda: torch.zeros(0, 3).to_sparse(),
}


@_making_warns
@pytest.mark.parametrize("first", sorted(TENSORS))
def test_cached_torch_traits_are_the_computed_ones(first: str) -> None:
    # `first` fills the cache, then every kind is asked twice: a key shared by
    # two kinds would hand one the other's traits.
    backend = TorchBackend()
    backend.traits(TENSORS[first]())
    for name in [first, *sorted(TENSORS)]:
        x = TENSORS[name]()
        computed = backend._traits(x, torch)
        assert backend.traits(x) == computed, name
        assert backend.traits(x) == computed, name


def test_a_tensor_subclass_is_never_served_from_the_cache() -> None:
    class Sub(torch.Tensor):
        pass

    backend = TorchBackend()
    plain = torch.ones(3)
    sub = plain.as_subclass(Sub)
    assert backend.traits(plain) == backend.traits(sub)  # same traits, computed apart
    assert not any(key[0] is Sub for key in _torch_trait_keys())


def _torch_trait_keys() -> list[tuple[Any, ...]]:
    from xpbridge.backends import torch as torch_backend

    return list(torch_backend._TRAITS.data)


@_making_warns
@pytest.mark.parametrize("name", sorted(TENSORS))
def test_default_plans_match_uncached_plans(name: str) -> None:
    x = TENSORS[name]()
    for to in ("numpy", "torch"):
        r = _request.request_of(to, None, None, None, "detach", False)
        try:
            expected = make_plan(TorchBackend()._traits(x, torch), r)
        except xb.ConversionError as e:
            with pytest.raises(type(e), match=_escaped(str(e))):
                xb.plan(x, to)
            continue
        for _ in range(2):  # the second from the memos
            got = xb.plan(x, to)
            assert (got.steps, got.aliases, got.writable, got.dtype, got.device) == (
                expected.steps,
                expected.aliases,
                expected.writable,
                expected.dtype,
                expected.device,
            )


def _escaped(message: str) -> str:
    import re

    return re.escape(message)


class _Named(Backend):
    name = "memo_probe"

    def owns(self, cls: type) -> bool:
        return False


@pytest.mark.thread_unsafe(reason="registers and replaces a backend in the global registry")
def test_a_backend_that_takes_nothing_from_numpy_is_refused_not_recursed() -> None:
    # NumPy is where libraries without an exchange meet; before, a target with
    # no exchange from NumPy sent the planner round that meeting point forever.
    _registry.register_backend(_Named(), replace=True)
    for call in (xb.plan, xb.convert):
        for source in (np.zeros(2), torch.zeros(2), [1.0, 2.0]):
            with pytest.raises(xb.UnsupportedInputError, match="declares no exchange from numpy"):
                call(source, "memo_probe")


@pytest.mark.thread_unsafe(reason="registers and replaces a backend in the global registry")
def test_a_memoised_request_follows_a_replaced_backend() -> None:
    first, second = _Named(), _Named()
    for backend in (first, second):
        _registry.register_backend(backend, replace=True)
        for _ in range(2):  # the second from the memo
            with contextlib.suppress(xb.ConversionError):  # NumPy has no way to it
                xb.plan(np.zeros(1), "memo_probe")
            assert _request.BY_TARGET.data["memo_probe"].target is backend


def _arrays() -> dict[str, np.ndarray]:
    base = np.arange(16, dtype=np.float32)
    readonly = base.copy()
    readonly.flags.writeable = False
    raw = np.zeros(8 * 4 + 1, np.uint8)
    arrays = {
        "contiguous": base,
        "strided": base[::2],
        "reversed": base[::-1],
        "read-only": readonly,
        "byte-swapped": base.astype(">f4"),
        "complex": np.ones(4, np.complex64),
        "misaligned": raw[1:].view(np.float32),
        "misaligned complex": np.zeros(8 * 8 + 4, np.uint8)[4:].view(np.complex64),
        "fortran": np.asfortranarray(np.ones((3, 4))),
        "scalar array": np.array(1.0),
        "bool": np.ones(3, bool),
        "uint64": np.ones(3, np.uint64),
    }
    try:
        import ml_dtypes

        arrays["bfloat16"] = np.ones(3, ml_dtypes.bfloat16)
    except ImportError:
        pass
    return arrays


@pytest.mark.parametrize("name", sorted(_arrays()))
def test_to_torch_and_trees_find_one_compiled_plan(name: str) -> None:
    # A lone conversion and a tree's leaf of one kind go through one memo: the
    # entry the first compiles is the one the second runs, and both convert
    # exactly as the full path does.
    a = _arrays()[name]
    lone = xb.to_torch(a)
    leaf = xb.convert_tree({"leaf": a}, "torch")["leaf"]
    assert xb.shares_memory(a, lone) is xb.shares_memory(a, leaf) is xb.plan(a, "torch").aliases
    assert torch.equal(lone, leaf) or (lone.dtype.is_complex is False and lone.isnan().any())


def test_keys_that_do_not_decide_send_leaves_down_the_full_path() -> None:
    # Strides (reversed), a memory map's remedy (read-only) and a complex
    # array's address decide these plans: their keys compile no plan.
    arrays = _arrays()
    r = _request.request_of("torch", None, None, None, "detach", False)
    for name in ("reversed", "misaligned complex", "read-only", "strided"):
        a = arrays[name]
        out = xb.convert_tree({"leaf": a}, "torch")  # still converted, by the full path
        assert isinstance(out["leaf"], torch.Tensor)
        key = numpy_backend._KEY(a)
        assert r.table[key].plan is None, name


@pytest.mark.parametrize("first", sorted(_arrays()))
def test_cached_numpy_traits_are_the_computed_ones(first: str, tmp_path: Any) -> None:
    # `first` fills the caches, then every kind is asked twice: a cache entry
    # shared by two kinds would hand one the other's traits.  A read-only
    # memmap is contiguous like a plain array: only the plain one is cached.
    path = tmp_path / "data.bin"
    np.arange(16, dtype=np.float32).tofile(path)
    arrays = {**_arrays(), "memmap": np.memmap(path, np.float32, "r"), "empty": np.ones(0)}
    backend = NumpyBackend()
    backend.traits(arrays[first])
    for name in [first, *sorted(arrays)]:
        x = arrays[name]
        numpy_backend._PLAIN_TRAITS.clear()
        numpy_backend._TRAITS.clear()
        computed = backend.traits(x)
        backend.traits(arrays[first])
        assert backend.traits(x) == computed, name
        assert backend.traits(x) == computed, name


class _Wrapped:
    """A library's array type whose backend hands the planner the NumPy array inside."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a


class _WrappedBackend(NumpyBackend):
    name = "memo_wrapped"

    def owns(self, cls: type) -> bool:
        return cls is _Wrapped


def _unwrap(
    self: Any, x: Any, target: Any, device: Any, copy: Any, *, planning: bool = False
) -> Any:
    return x.a


@pytest.mark.thread_unsafe(reason="registers a backend in the global registry")
def test_a_prepare_set_after_the_class_is_called() -> None:
    # The common call skips a backend's prepare() only while its class keeps
    # the base one: a method set on the class later (a plugin, a patch) counts.
    _WrappedBackend.prepare = _unwrap  # type: ignore[method-assign]
    _registry.register_backend(_WrappedBackend(), replace=True)
    w = _Wrapped(np.arange(3.0))
    for result in (
        xb.convert(w, "torch"),
        xb.to_torch(w),
        xb.to_torch(w, copy=True),
        xb.convert_tree([w], "torch")[0],
    ):
        assert torch.equal(result, torch.arange(3.0, dtype=torch.float64))
    assert xb.plan(w, "torch").steps == xb.plan(w.a, "torch").steps


@pytest.mark.rule("one-pipeline")
@pytest.mark.thread_unsafe(reason="registers a backend in the global registry")
def test_every_memo_forgets_when_a_backend_is_registered() -> None:
    xb.to_torch(np.arange(3, dtype=np.float32), dtype="float64")  # fills the memos
    xb.plan(np.arange(3.0), "torch", copy=True)
    xb.convert_tree({"a": [np.zeros(2)]}, "torch")
    filled = [m.name for m in memo._REGISTERED if len(m)]
    assert {"requests by spelling", "requests by target", "tree kinds by type"} <= set(filled)
    _registry.register_backend(_Named(), replace=True)
    assert [m.name for m in memo._REGISTERED if len(m)] == []


class _StepsLogged(TorchBackend):
    """A torch backend that carries out its exchange to NumPy its own way."""

    log: list[str] = []  # noqa: RUF012 - shared on purpose: the test reads it

    def step_numpy(self, t: Any, plan: Any) -> Any:
        self.log.append("numpy")
        return super().step_numpy(t, plan)


@pytest.mark.rule("one-pipeline")
@pytest.mark.thread_unsafe(reason="replaces the torch backend in the global registry")
def test_a_replaced_backend_s_steps_run_for_sources_seen_before() -> None:
    w = torch.ones(3, requires_grad=True)
    t = torch.ones(3)
    for x in (w, t):
        xb.to_numpy(x)
        xb.to_numpy(x)  # warm: a compiled plan of the built-in backend
    try:
        _registry.register_backend(_StepsLogged(), replace=True)
        for x in (w, t):
            _StepsLogged.log.clear()
            assert xb.to_numpy(x).tolist() == [1.0, 1.0, 1.0]
            assert _StepsLogged.log == ["numpy"], "the new backend's step must run"
    finally:
        _registry.register_backend(TorchBackend(), replace=True)


@pytest.mark.thread_unsafe(reason="registers a node type with torch's pytree")
def test_a_pytree_registration_after_a_first_walk_is_honoured() -> None:
    from torch.utils import _pytree as pytree

    class Bag(list):  # type: ignore[type-arg]
        pass

    a = np.arange(2.0)
    assert xb.convert_tree(Bag([a]), "torch")[0] is a  # a list subclass: a leaf, passed through
    pytree.register_pytree_node(Bag, lambda b: (list(b), None), lambda c, _: Bag(c))
    walked = xb.convert_tree(Bag([a]), "torch")
    assert type(walked) is Bag and isinstance(walked[0], torch.Tensor)


@pytest.mark.parametrize("make", ["namedtuple", "dataclass"])
def test_walking_many_classes_keeps_none_of_them_alive(make: str) -> None:
    import collections
    import dataclasses
    import gc
    import weakref

    refs = []
    for i in range(3000):
        if make == "namedtuple":
            cls: Any = collections.namedtuple(f"Point{i}", ["x"])
        else:
            cls = dataclasses.make_dataclass(f"Point{i}", ["x"])
        xb.convert_tree(cls(np.zeros(1)), "torch")
        refs.append(weakref.ref(cls))
        del cls
    gc.collect()
    assert sum(ref() is not None for ref in refs) == 0


def test_a_tensor_over_numpy_s_dimension_limit_is_refused_the_same_everywhere() -> None:
    t = torch.ones((1,) * (NUMPY_MAX_DIMS + 1))
    with pytest.raises(
        xb.UnsupportedInputError, match=f"at most {NUMPY_MAX_DIMS} dimensions"
    ) as lone:
        xb.convert(t, "numpy")
    with pytest.raises(xb.UnsupportedInputError, match=r"^tree\['t'\]: ") as leaf:
        xb.convert_tree({"t": t}, "numpy")
    with pytest.raises(xb.UnsupportedInputError, match=r"args\[0\]: ") as argument:
        xb.compute_in("numpy")(lambda x: x)(t)
    for error in (leaf, argument):
        assert str(error.value).endswith(str(lone.value))


def test_the_inventory_lists_every_memo_with_its_bound() -> None:
    rows = memo.inventory()
    names = [row.name for row in rows]
    assert len(names) == len(set(names))
    for expected in (
        "requests by target",
        "requests by spelling",
        "requests by value",
        "owners by type",
        "traits key functions by source type",
        "tree kinds by type",
        "NumPy traits of plain arrays",
        "torch traits of plain CPU tensors",
        "DLPack header meanings",
        "capsule traits",
        "library names",
    ):
        assert expected in names
    assert all(row.limit > 0 and row.invalidated_by for row in rows)


def test_the_architecture_page_names_every_memo() -> None:
    xb.compute_in("torch")(lambda x: x)(np.ones(2))  # modules that hold memos, loaded
    xb.convert_tree({"a": np.ones(2)}, "torch")
    page = (Path(__file__).parents[1] / "docs" / "architecture.md").read_text()
    table = {
        name.strip()
        for line in page.splitlines()
        if line.startswith("| ") and not line.startswith("| memo ")
        for name in line.split("|")[1].split("(")[0].split(",")
    }
    named = {row.name for row in memo.inventory()}
    assert named - table == set()


def test_every_memo_is_a_memo() -> None:
    """One caching idiom: no functools cache hides outside the inventory."""
    package = Path(xb.__file__).parent
    hidden = [
        f"{path.relative_to(package)}:{n}"
        for path in sorted(package.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\b(lru_cache|functools\.cache|cached_property)\b|^\s*@cache\b", line)
    ]
    assert hidden == []


def test_memoised_functions_answer_again_after_clear_all() -> None:
    from xpbridge._lib import spec

    first = spec.load("contract")
    assert "contract" in spec.load.memo  # type: ignore[attr-defined]
    memo.clear_all()
    assert "contract" not in spec.load.memo  # type: ignore[attr-defined]
    assert spec.load("contract") == first


def test_a_full_memo_starts_again_and_still_answers() -> None:
    m: memo.Memo[int] = memo.Memo("probe", "an int", 4, register=False)
    for i in range(10):
        m.put(i, i * i)
        assert len(m) <= 4 and m.get(i) == i * i


@pytest.mark.thread_unsafe(reason="starts threads of its own and clears every memo")
def test_memos_cleared_while_other_threads_convert_still_answer_exactly() -> None:
    import threading

    stop = threading.Event()
    failures: list[str] = []
    arrays = _arrays()

    def convert_all(offset: int) -> None:
        names = sorted(arrays)
        i = offset
        while not stop.is_set():
            name = names[i % len(names)]
            a = arrays[name]
            for to in ("torch", "numpy"):
                try:
                    expected = xb.plan(a, to)
                    result = xb.convert(a, to)
                except xb.ConversionError as e:
                    failures.append(f"{name} -> {to}: {e}")
                    return
                if xb.shares_memory(a, result) is not expected.aliases:
                    failures.append(f"{name} -> {to}: aliasing differs from the plan")
                    return
            i += 1

    threads = [threading.Thread(target=convert_all, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(200):
        memo.clear_all()
    stop.set()
    for thread in threads:
        thread.join()
    assert failures == []
