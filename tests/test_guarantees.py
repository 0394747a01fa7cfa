"""Contract rules proved by dedicated tests (driver = "custom" in spec/contract.toml)."""

from __future__ import annotations

import warnings
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from frameworks import cuda_available, needs_torch, torch, torch_param

import xpbridge as xb
from xpbridge._cli.upstream import run_python
from xpbridge._lib.devices import Device
from xpbridge._lib.traits import Traits
from xpbridge._pipeline.plan import make_plan
from xpbridge._pipeline.request import Request as _Request
from xpbridge.backends.registry import backend_named
from xpbridge.testing import assert_bitwise_equal, snapshot


@pytest.mark.subprocess
@pytest.mark.rule("import-no-framework")
def test_import_imports_no_framework() -> None:
    done = run_python(
        """
        import sys, xpbridge, xpbridge.testing
        loaded = sorted({"numpy", "torch", "ml_dtypes", "array_api_compat"} & set(sys.modules))
        print(loaded)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.subprocess
@pytest.mark.rule("negative-strides-never-reach-dlpack")
@needs_torch
def test_negative_strides_never_reach_torch_from_dlpack() -> None:
    # What torch.from_dlpack does with them depends on its version (it aborts the
    # interpreter up to 2.13 and raises from 2.14: the fact
    # torch-from-dlpack-negative-strides-aborts, checked by test_upstream.py).
    # xpbridge never hands them over, on any version; in a child interpreter, so
    # that a regression on an aborting torch fails this test instead of the run.
    ours = run_python(
        """
        import numpy as np, torch, xpbridge as xb
        a = np.arange(4.0)[::-1]
        t = xb.to_torch(a)
        assert t.tolist() == [3.0, 2.0, 1.0, 0.0], t
        assert xb.plan(a, "torch").steps == ("copy", "from_numpy")
        try:
            xb.to_torch(a, copy=False)
        except xb.CopyError:
            print("survived")
        """
    )
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout.strip() == "survived"


@pytest.mark.subprocess
@pytest.mark.rule("ml-dtypes-missing")
@needs_torch
def test_without_ml_dtypes() -> None:
    done = run_python(
        """
        import sys
        sys.modules["ml_dtypes"] = None  # import ml_dtypes now raises ImportError
        import torch, xpbridge as xb
        t = torch.tensor([1.5, -2.25], dtype=torch.bfloat16)
        for call in (lambda: xb.to_numpy(t), lambda: xb.plan(t, "numpy"), lambda: xb.to_numpy(t, copy=True)):
            try:
                call()
            except xb.DTypeError as e:
                assert "install ml_dtypes" in str(e) and "dtype=" in str(e), e
            else:
                raise AssertionError("no DTypeError")
        a = xb.to_numpy(t, dtype="float32")
        assert a.dtype.name == "float32" and a.tolist() == [1.5, -2.25]
        assert xb.plan(t, "numpy", dtype="float32").steps == ("cast", "numpy")
        print("ok")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.rule("no-warning")
@needs_torch
def test_conversions_never_warn(tmp_path: Path) -> None:
    readonly = np.arange(4.0)
    readonly.flags.writeable = False
    half = torch.zeros(2, dtype=torch.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):  # torch warns once per process for read-only arrays
            xb.to_torch(readonly)
        c32 = xb.to_torch(np.zeros(3, dtype=np.complex64), dtype="complex32")
        xb.to_numpy(c32, copy=True, dtype="complex64")
        xb.to_torch(half, dtype="complex32")
        xb.to_numpy(np.array([np.nan, 1e300]), dtype="int32")
        xb.to_torch(np.array([np.nan, 1e300]), dtype="int32")


@pytest.mark.rule("memmap-message")
@needs_torch
def test_memmap_copy_error_names_mode_c(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    np.arange(4, dtype=np.float32).tofile(path)
    readonly = np.memmap(path, dtype=np.float32, mode="r")
    with pytest.raises(xb.CopyError, match=r"mode='c'"):
        xb.to_torch(readonly, copy=False)
    copied = xb.to_torch(readonly)
    copied[0] = 99.0
    assert readonly[0] == 0.0
    cow = np.memmap(path, dtype=np.float32, mode="c")
    shared = xb.to_torch(cow, copy=False)
    shared[1] = 5.0
    assert cow[1] == 5.0 and readonly[1] == 1.0


def Request(target: str, **keywords: object) -> _Request:
    """A request for the planner alone: its device is not checked against this machine."""
    return _Request(backend_named(target), **keywords)  # type: ignore[arg-type]


@pytest.mark.rule("device-model")
@needs_torch  # the planner asks torch's backend about torch's devices
def test_planner_models_cuda_without_hardware() -> None:
    cuda = Traits("torch", "float32", Device("cuda", 1))
    p = make_plan(cuda, Request("numpy"))
    assert p.steps == ("to_device", "numpy") and str(p.device) == "cpu" and not p.aliases
    assert any("cuda:1 to cpu" in r for r in p.reasons)
    with pytest.raises(xb.CopyError, match="cuda:1"):
        make_plan(cuda, Request("numpy", copy=False))
    stays = make_plan(cuda, Request("torch"))
    assert stays.steps == () and str(stays.device) == "cuda:1" and stays.aliases
    host = Traits("numpy", "float32")
    up = make_plan(host, Request("torch", device=Device("cuda", 0)))
    assert up.steps == ("from_numpy", "to_device") and not up.aliases
    grad = Traits("torch", "bfloat16", Device("cuda", 0), requires_grad=True)
    assert make_plan(grad, Request("numpy")).steps == ("detach", "to_device", "numpy")


@needs_torch
@pytest.mark.rule("device-model")
def test_devices_torch_lacks_are_device_errors() -> None:
    if not cuda_available():
        for device in ("cuda", "cuda:3", torch.device("cuda", 0), (2, 0)):
            with pytest.raises(xb.DeviceError, match="not available"):
                xb.to_torch(np.zeros(2), device=device)
    with pytest.raises(xb.DeviceError):
        xb.to_torch(np.zeros(2), device="meta")
    with pytest.raises(xb.DeviceError):
        xb.to_torch(np.zeros(2), device="bogus:device")


@pytest.mark.rule("source-unchanged")
@pytest.mark.parametrize("copy", [None, True, False])
@needs_torch
def test_failing_calls_leave_source_unchanged(copy: bool | None) -> None:
    failing = [
        (np.arange(4.0)[::-1], "torch", {"dtype": "uint3"}),
        (np.arange(4.0)[::-1], "torch", {"device": "cuda:9"}),
        (np.arange(4.0)[::-1], "torch", {"dtype": "nope"}),
        (torch.ones(3, requires_grad=True), "numpy", {"grad": "raise"}),
        (torch.ones(3, requires_grad=True), "numpy", {"dtype": "uint3"}),
        (torch.ones(2, dtype=torch.complex64).conj(), "numpy", {"device": "cuda:9"}),
        (torch.ones(2, dtype=torch.complex64).conj(), "torch", {"dtype": "bits8"}),
    ]
    for x, target, kwargs in failing:
        before = snapshot(x)
        with pytest.raises(xb.ConversionError):
            xb.convert(x, target, copy=copy, **kwargs)
        assert snapshot(x) == before


@needs_torch
def test_round_trips_are_bitwise_and_zero_copy() -> None:
    for name in ("bfloat16", "float8_e4m3fn", "float8_e5m2", "complex32", "float8_e8m0fnu"):
        if not hasattr(ml_dtypes, name):  # complex32 came in ml_dtypes 0.6
            continue
        dtype = np.dtype(getattr(ml_dtypes, name))
        carrier = {1: np.uint8, 2: np.uint16, 4: np.uint32}[dtype.itemsize]
        # every pattern of a byte, or a spread with NaN payloads of wider types
        a = np.arange(0, 2 ** (8 * dtype.itemsize), 997).astype(carrier).view(dtype)
        t = xb.to_torch(a)
        back = xb.to_numpy(t)
        assert xb.shares_memory(a, t) and xb.shares_memory(t, back)
        assert back.dtype == dtype
        assert_bitwise_equal(back, a)
        assert_bitwise_equal(t, a)


@needs_torch
def test_writes_are_visible_both_ways_when_aliasing() -> None:
    a = np.zeros(3, dtype=np.float32)
    t = xb.to_torch(a)
    t[0] = 1.0
    a[1] = 2.0
    assert a.tolist() == t.tolist() == [1.0, 2.0, 0.0]
    w = torch.zeros(2, requires_grad=True)
    view = xb.to_numpy(w)
    with pytest.raises(ValueError, match="read-only"):
        view[0] = 1.0
    fresh = xb.to_numpy(w, copy=True)
    fresh[0] = 1.0
    assert w[0].item() == 0.0


@needs_torch
def test_requires_grad_results() -> None:
    a = np.ones(2, dtype=np.float32)
    t = xb.to_torch(a, requires_grad=True)
    assert t.requires_grad and t.is_leaf and xb.shares_memory(a, t)
    (t * 3).sum().backward()
    assert t.grad is not None and t.grad.tolist() == [3.0, 3.0]
    src = torch.ones(2)
    leaf = xb.to_torch(src, requires_grad=True)
    assert leaf.requires_grad and not src.requires_grad and xb.shares_memory(src, leaf)
    w = torch.ones(2, requires_grad=True)
    assert xb.to_torch(w) is w
    c = xb.to_torch(w, copy=True)
    assert c.requires_grad and c.grad_fn is not None  # clone stays differentiable
    with pytest.raises(xb.ArgumentError):
        xb.convert(a, "numpy", requires_grad=True)


@needs_torch
def test_dtype_arguments_accept_every_spelling() -> None:
    a = np.arange(3, dtype=np.int32)
    for spelling in ("float64", np.float64, np.dtype("f8"), np.dtype(">f8"), torch.float64):
        assert xb.to_torch(a, dtype=spelling).dtype == torch.float64
    assert xb.to_torch(a, dtype=ml_dtypes.bfloat16).dtype == torch.bfloat16
    for bad in ("float", float, int, "f8", object(), b"a", "a", [("x", "f4")]):
        with pytest.raises(xb.DTypeError):
            xb.to_torch(a, dtype=bad)
    with pytest.raises(xb.DTypeError, match="numpy has no dtype 'uint3'"):
        xb.to_numpy(torch.ones(2), dtype="uint3")


@needs_torch
def test_tensor_to_numpy_bfloat16_cast_runs_in_target() -> None:
    t = torch.tensor([1.0, 2.5, -3.0])
    a = xb.to_numpy(t, dtype="bfloat16")
    assert a.dtype == np.dtype(ml_dtypes.bfloat16)
    assert xb.plan(t, "numpy", dtype="bfloat16").steps == ("numpy", "cast")
    assert_bitwise_equal(a, t.numpy().astype(ml_dtypes.bfloat16))


@needs_torch
def test_to_accepts_modules_and_arrays() -> None:
    a = np.arange(3.0)
    assert isinstance(xb.convert(a, torch), torch.Tensor)
    assert isinstance(xb.convert(torch.ones(2), np), np.ndarray)
    like = torch.zeros(1)
    assert isinstance(xb.convert(a, like), torch.Tensor)
    for bad in (object(), 3, None):
        with pytest.raises(xb.ArgumentError):
            xb.convert(a, bad)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"copy": 1}, xb.ArgumentError),
        ({"copy": "no"}, xb.ArgumentError),
        ({"grad": "keep"}, xb.ArgumentError),
    ],
)
@pytest.mark.parametrize("to", ["numpy", torch_param("torch")])
def test_invalid_keywords(kwargs: dict[str, object], error: type[Exception], to: str) -> None:
    with pytest.raises(error):
        xb.convert(np.zeros(1), to, **kwargs)  # type: ignore[arg-type]


@needs_torch
def test_plan_is_readable_and_cached() -> None:
    a = np.arange(3.0)[::-1]
    p = xb.plan(a, "torch", copy=True)
    assert xb.plan(np.arange(9.0)[::-1], "torch", copy=True) is p  # same traits, same plan
    text = str(p)
    assert "numpy float64 array on cpu -> torch float64 on cpu" in text
    assert "negative strides" in text and "a new buffer" in text
    with pytest.raises(AttributeError):
        p.aliases = True  # type: ignore[misc]


@needs_torch
def test_shares_memory_across_libraries() -> None:
    a = np.arange(12.0).reshape(3, 4)
    t = xb.to_torch(a)
    assert xb.shares_memory(a, t) and xb.shares_memory(t[1], a[1:2, 1:])
    assert not xb.shares_memory(t[0], a[1])
    assert not xb.shares_memory(a[:, ::2], t[:, 1::2])  # interleaved, exact
    assert not xb.shares_memory(a[:0], t)
    assert not xb.shares_memory(np.float64(1.0), a)
    assert not xb.shares_memory([1.0], a)  # a Python list has no buffer
    with pytest.raises(xb.UnsupportedInputError):
        xb.shares_memory(object(), a)


@needs_torch
def test_deleting_the_source_keeps_an_alias_valid() -> None:
    a = np.arange(1000.0)
    t = xb.to_torch(a)
    del a
    assert float(t.sum()) == sum(range(1000))
    t2 = torch.arange(1000.0)
    n = xb.to_numpy(t2)
    del t2
    assert float(n.sum()) == sum(range(1000))
