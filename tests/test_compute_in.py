"""compute_in: arguments converted in, results converted back (spec/trees.toml, compute-in-*)."""

from __future__ import annotations

import inspect
import typing
from typing import Any

import array_api_compat
import array_api_strict as xps
import numpy as np
import pytest
import torch
from capsules import Producer

import xpbridge as xb
from xpbridge._api.compute import compute_in
from xpbridge.testing import assert_bitwise_equal


def test_arguments_are_converted_others_untouched() -> None:
    seen: list[Any] = []
    marker, name = object(), "label"

    @xb.compute_in("numpy")
    def record(x: Any, y: Any, n: int, label: str, extra: Any, nothing: None) -> Any:
        seen.extend([x, y, n, label, extra, nothing])
        return x + y

    x, y = torch.arange(3.0), torch.ones(3)
    result = record(x, y, 7, name, marker, None)
    assert isinstance(seen[0], np.ndarray) and isinstance(seen[1], np.ndarray)
    assert xb.shares_memory(seen[0], x)  # converted as convert_tree would: zero-copy
    assert seen[2] == 7 and seen[3] is name and seen[4] is marker and seen[5] is None
    assert isinstance(result, torch.Tensor) and result.tolist() == [1.0, 2.0, 3.0]


def test_nested_and_keyword_arguments() -> None:
    @xb.compute_in("torch")
    def combine(parts: list[Any], *, weights: dict[str, Any], scale: float = 1.0) -> Any:
        assert all(isinstance(p, torch.Tensor) for p in parts)
        assert isinstance(weights["w"], torch.Tensor) and weights["tag"] == "t"
        total = sum(parts) * weights["w"] * scale
        return {"total": total, "parts": tuple(parts), "n": len(parts)}

    a, b = np.arange(3.0), np.ones(3)
    out = combine([a, b], weights={"w": np.full(3, 2.0), "tag": "t"}, scale=0.5)
    assert isinstance(out["total"], np.ndarray) and out["total"].tolist() == [1.0, 2.0, 3.0]
    assert type(out["parts"]) is tuple and out["n"] == 2
    assert xb.shares_memory(out["parts"][0], a)  # torch.from_numpy there, .numpy() back


def test_results_go_back_to_the_first_array_argument() -> None:
    @xb.compute_in("numpy")
    def widen(x: Any, y: Any) -> Any:
        return (x + y).astype(np.float64), None, "done"

    first, second = np.ones(2, np.float32), torch.ones(2)
    result = widen(first, second)  # the first array argument is NumPy
    assert isinstance(result[0], np.ndarray) and result[0].dtype == np.float64
    result = widen(second, first)  # now torch: results come back as torch
    assert isinstance(result[0], torch.Tensor) and result[0].dtype == torch.float64
    assert result[1:] == (None, "done")


def test_array_api_strict_caller_keeps_its_device() -> None:
    device = xps.Device("device1")

    @xb.compute_in("numpy")
    def descending(x: Any) -> Any:
        assert isinstance(x, np.ndarray)
        return np.sort(x)[::-1] * 2  # negative strides: copied on the way back

    x = xps.asarray([3.0, 1.0, 2.0], device=device)
    result = descending(x)
    assert type(result) is type(x) and result.device == device
    assert_bitwise_equal(xb.to_numpy(result), np.array([6.0, 4.0, 2.0]))
    namespace = array_api_compat.array_namespace(x)
    assert xb.compute_in(namespace)(lambda v: v)(np.ones(2)).tolist() == [1.0, 1.0]


def test_no_array_arguments() -> None:
    calls: list[Any] = []
    config = {"n": 3}

    @xb.compute_in("torch")
    def make(n: int, *, config: dict[str, int]) -> Any:
        calls.append((n, config))
        return np.arange(n)

    result = make(2, config=config)
    assert calls == [(2, config)] and calls[0][1] is config
    assert isinstance(result, np.ndarray)  # no caller library: returned as produced


def test_grad_raise_is_the_default() -> None:
    calls: list[Any] = []

    @xb.compute_in("numpy")
    def double(x: Any) -> Any:
        calls.append(x)
        return x * 2

    w = torch.ones(2, requires_grad=True)
    with pytest.raises(xb.GradError, match=r"^compute_in of .*double: args\[0\]: the source"):
        double(w)
    assert calls == []
    detached = xb.compute_in("numpy", grad="detach")(double.__wrapped__)
    result = detached(w)
    assert isinstance(result, torch.Tensor) and not result.requires_grad
    assert result.tolist() == [2.0, 2.0]

    @xb.compute_in("torch")
    def trainable(x: Any) -> Any:
        return torch.nn.Parameter(torch.as_tensor(x))

    with pytest.raises(xb.GradError, match=r"of .*trainable: result: the source requires grad"):
        trainable(np.ones(2))


def test_failing_argument_means_no_call(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []

    @xb.compute_in("torch")
    def total(x: Any, *, mask: Any) -> Any:
        calls.append(x)
        return x.sum()

    producer = Producer(np.arange(3.0))
    masked = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    with pytest.raises(xb.UnsupportedInputError, match=r"^compute_in of .*: kwargs\['mask'\]: "):
        total(np.ones(2), mask=masked)
    assert calls == []
    with pytest.raises(xb.ArgumentError, match="neither a library name"):
        total(producer, mask=None)  # its library cannot take the results back
    assert calls == [] and producer.requests == []  # refused before anything was asked

    @xb.compute_in("numpy")
    def too_wide(x: Any) -> Any:
        return {"x": np.ones(2, dtype=np.longdouble)}

    with pytest.raises(xb.DTypeError, match=r"^compute_in of .*too_wide: result\['x'\]: "):
        too_wide(torch.ones(2))


def test_wraps_metadata() -> None:
    def solve(a: Any, b: Any, /, *, tol: float = 1e-8) -> Any:
        """Solve a x = b."""
        return np.linalg.solve(a, b)

    wrapped = xb.compute_in("numpy")(solve)
    assert wrapped.__name__ == "solve" and wrapped.__doc__ == "Solve a x = b."
    assert wrapped.__qualname__ == solve.__qualname__ and wrapped.__module__ == __name__
    assert wrapped.__wrapped__ is solve  # type: ignore[attr-defined]
    assert inspect.signature(wrapped) == inspect.signature(solve)
    x = wrapped(torch.eye(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64))
    assert isinstance(x, torch.Tensor) and x.tolist() == [1.0, 1.0]


def test_typing_is_kept() -> None:
    hints = typing.get_type_hints(compute_in)
    decorator = hints["return"]
    (takes,), gives = typing.get_args(decorator)
    assert takes == gives  # Callable[P, R] -> Callable[P, R]: the same parameters and result
    parameters, result = typing.get_args(gives)
    assert isinstance(parameters, typing.ParamSpec) and isinstance(result, typing.TypeVar)


def test_decoration_checks_its_keywords() -> None:
    with pytest.raises(xb.ArgumentError, match="grad must be"):
        xb.compute_in("numpy", grad="keep")
    with pytest.raises(xb.ArgumentError, match="unknown target library"):
        xb.compute_in("no-such-library")
    with pytest.raises(xb.DeviceError):
        xb.compute_in("numpy", device="cuda")


def test_same_argument_twice_is_converted_once() -> None:
    @xb.compute_in("torch")
    def same(x: Any, y: Any) -> Any:
        return x is y

    a = np.ones(2)
    assert same(a, a) is True
    assert same(a, np.ones(2)) is False


def test_a_caller_whose_library_cannot_take_results_back_is_named() -> None:
    # A meta tensor has no data: the argument is refused, its path named, before the call.
    called = []

    @xb.compute_in("numpy")
    def f(x: Any) -> Any:
        called.append(x)
        return x

    with pytest.raises(xb.ConversionError, match=r"args\[0\]: ") as caught:
        f(torch.empty(2, device="meta"))
    assert not called and isinstance(caught.value, (xb.UnsupportedInputError, xb.DeviceError))
