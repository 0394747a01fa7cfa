"""The memos of the common call give what the uncached planning gives.

``TorchBackend.traits`` caches plain tensors' traits by cheap attributes,
``_request`` memoises the resolved request and the plan of the default call,
and the tree fast paths share ``to_torch``'s guard.  Each memo must give the
same answer as the work it skips, for every kind of tensor and request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import xpbridge as xb
from xpbridge._api import convert as _convert
from xpbridge._pipeline import request as _request
from xpbridge.backends import Backend
from xpbridge.backends import numpy as numpy_backend
from xpbridge.backends import registry as _registry
from xpbridge.backends.numpy import NumpyBackend
from xpbridge.backends.torch import TorchBackend, from_numpy_is_exact


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

    return list(torch_backend._TRAITS)


@_making_warns
@pytest.mark.parametrize("name", sorted(TENSORS))
def test_default_plans_match_uncached_plans(name: str) -> None:
    x = TENSORS[name]()
    for to in ("numpy", "torch"):
        r = _request.resolve_target(to, None, None, None, "detach", False)
        try:
            expected = _request.plan_traits(TorchBackend()._traits(x, torch), r)
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
            assert _request._DEFAULT_REQUESTS["memo_probe"].target is backend


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


@pytest.mark.thread_unsafe(reason="replaces the module-wide fast path function")
@pytest.mark.parametrize("name", sorted(_arrays()))
def test_to_torch_and_trees_share_one_fast_path_rule(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # to_torch inlines from_numpy_is_exact; the trees call it.  An array goes
    # to torch.from_numpy as it is exactly when the rule says so.
    a = _arrays()[name]
    xb.convert(torch.zeros(1), "numpy")  # primes the fast paths
    tried: list[np.ndarray] = []

    def spy(x: np.ndarray) -> torch.Tensor:
        tried.append(x)
        return torch.from_numpy(x)

    monkeypatch.setattr(_convert, "_FROM_NUMPY", spy)
    xb.to_torch(a)
    assert any(x is a for x in tried) is from_numpy_is_exact(a)


def test_reversed_and_bfloat16_leaves_stay_off_the_tree_fast_path() -> None:
    arrays = _arrays()
    for name in ("reversed", "bfloat16", "misaligned complex", "read-only"):
        if name in arrays:
            assert not from_numpy_is_exact(arrays[name]), name
            out = xb.convert_tree(
                {"leaf": arrays[name]}, "torch"
            )  # still converted, by the planner
            assert isinstance(out["leaf"], torch.Tensor)


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


@pytest.mark.thread_unsafe(reason="registers a backend in the global registry")
def test_memos_keyed_by_a_library_name_forget_a_replaced_backend() -> None:
    from xpbridge._pipeline import plan as _plan

    xb.to_torch(np.arange(3, dtype=np.float32), dtype="float64")  # fills both memos
    xb.plan(np.arange(3.0), "torch", copy=True)
    assert _convert._PLANNED_CASTS and _plan.cached_plan.cache_info().currsize
    _registry.register_backend(_Named(), replace=True)
    assert not _convert._PLANNED_CASTS
    assert _plan.cached_plan.cache_info().currsize == 0
