"""narrow=: devices without the wide types (float32-only devices, JAX without x64).

Refusing stays the default: a dtype the target's device lacks is a DTypeError
that names ``narrow=True``.  With ``narrow=True`` (or ``set_narrowing(True)``)
float64 becomes float32 and complex128 complex64 before the data moves, and
int64 / uint64 become int32 / uint32 where the values fit; the plan names the
narrowing and why.  Modelled devices: array-api-strict's ``Device("no_float64")``
and ``Device("no_x64")``, JAX with x64 off, and (planner only) Apple's MPS.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

import xpbridge as xb
from xpbridge._lib.devices import Device
from xpbridge._lib.traits import Traits
from xpbridge._pipeline.plan import make_plan
from xpbridge._pipeline.request import Request
from xpbridge.backends.registry import backend_named

xps = pytest.importorskip("array_api_strict")
pytestmark = pytest.mark.rule("narrow-policy")


def _device(name: str) -> Any:
    devices = {str(d): d for d in xps.__array_namespace_info__().devices()}
    wanted = f"array_api_strict.Device('{name}')"
    if wanted not in devices:
        pytest.skip(f"array-api-strict {xps.__version__} has no Device({name!r})")
    return devices[wanted]


@pytest.fixture
def narrowing_off() -> Iterator[None]:
    previous = xb.set_narrowing(False)
    yield
    xb.set_narrowing(previous)


@pytest.mark.parametrize(
    ("dtype", "narrowed"), [("float64", "float32"), ("complex128", "complex64")]
)
def test_a_float32_only_device_refuses_by_default_and_narrows_on_request(
    dtype: str, narrowed: str, narrowing_off: None
) -> None:
    device = _device("no_float64")
    a = np.arange(3).astype(dtype)
    with pytest.raises(xb.DTypeError, match=r"[Pp]ass narrow=True") as planned:
        xb.plan(a, "array_api_strict", device=device)
    with pytest.raises(xb.DTypeError) as converted:
        xb.convert(a, "array_api_strict", device=device)
    assert str(planned.value) == str(converted.value)
    p = xb.plan(a, "array_api_strict", device=device, narrow=True)
    assert p.dtype == narrowed and p.steps.index("cast") < p.steps.index("from_dlpack")
    assert any("narrow=True" in reason and dtype in reason for reason in p.reasons)
    result = xb.convert(a, "array_api_strict", device=device, narrow=True)
    assert result.device == device and str(result.dtype).endswith(narrowed)
    assert np.array_equal(xb.to_numpy(result), a.astype(narrowed))
    assert a.dtype == dtype  # the source is never modified


def test_a_device_that_holds_the_type_is_never_narrowed(narrowing_off: None) -> None:
    a = np.arange(3, dtype=np.int64)
    p = xb.plan(a, "array_api_strict", device=_device("no_float64"), narrow=True)
    assert p.dtype == "int64" and "cast" not in p.steps  # int64 lives there
    assert xb.plan(np.arange(3.0), "array_api_strict", narrow=True).dtype == "float64"


@pytest.mark.parametrize(("dtype", "narrowed"), [("int64", "int32"), ("uint64", "uint32")])
def test_integers_are_narrowed_only_where_their_values_fit(
    dtype: str, narrowed: str, narrowing_off: None
) -> None:
    device = _device("no_x64")
    small = np.arange(4).astype(dtype)
    p = xb.plan(small, "array_api_strict", device=device, narrow=True)
    assert p.steps[:2] == ("check_range", "cast") and p.dtype == narrowed
    result = xb.convert(small, "array_api_strict", device=device, narrow=True)
    assert str(result.dtype).endswith(narrowed) and xb.to_numpy(result).tolist() == [0, 1, 2, 3]
    big = np.array([0, 2**40], dtype=dtype)
    xb.plan(big, "array_api_strict", device=device, narrow=True)  # values are not planned
    with pytest.raises(xb.DTypeError, match="only where the values fit"):
        xb.convert(big, "array_api_strict", device=device, narrow=True)


def test_jax_without_x64(narrowing_off: None) -> None:
    jax = pytest.importorskip("jax")
    if jax.config.read("jax_enable_x64"):
        pytest.skip("x64 is on here")
    with pytest.raises(xb.DTypeError, match=r"jax_enable_x64.*narrow=True"):
        xb.convert(np.arange(3.0), "jax")
    floats = xb.convert(np.arange(3.0), "jax", narrow=True)
    assert floats.dtype == np.float32 and floats.tolist() == [0.0, 1.0, 2.0]
    ints = xb.convert(np.arange(3), "jax", narrow=True)
    assert ints.dtype == np.int32
    with pytest.raises(xb.DTypeError, match="only where the values fit"):
        xb.convert(np.array([2**40]), "jax", narrow=True)
    from_torch = xb.convert(torch.arange(3.0, dtype=torch.float64), "jax", narrow=True)
    assert from_torch.dtype == np.float32


def test_the_process_wide_setting_is_what_narrow_none_means(narrowing_off: None) -> None:
    device = _device("no_float64")
    a = np.arange(3.0)
    xb.convert(a, "array_api_strict", device=device, narrow=True)  # memoise both spellings
    with pytest.raises(xb.DTypeError):
        xb.convert(a, "array_api_strict", device=device)
    assert xb.set_narrowing(True) is False
    assert str(xb.convert(a, "array_api_strict", device=device).dtype).endswith("float32")
    with pytest.raises(xb.DTypeError):  # an explicit narrow=False still refuses
        xb.convert(a, "array_api_strict", device=device, narrow=False)
    assert xb.set_narrowing(False) is True
    with pytest.raises(xb.DTypeError):
        xb.convert(a, "array_api_strict", device=device)


def test_trees_and_compute_in_take_narrow(narrowing_off: None) -> None:
    device = _device("no_float64")
    tree = {"w": np.ones(2), "n": 3}
    out = xb.convert_tree(tree, "array_api_strict", device=device, narrow=True)
    assert str(out["w"].dtype).endswith("float32") and out["n"] == 3
    assert "narrow=True" in str(xb.plan_tree(tree, "array_api_strict", device=device, narrow=True))
    with pytest.raises(xb.DTypeError, match=r"^tree\['w'\]"):
        xb.convert_tree(tree, "array_api_strict", device=device)

    @xb.compute_in("array_api_strict", device=device, narrow=True)
    def double(x: Any) -> Any:
        return x * 2

    result = double(np.ones(2))
    assert type(result) is np.ndarray and result.dtype == np.float32  # computed in float32


@pytest.mark.parametrize("value", [1, 0, "yes"])
def test_narrow_takes_none_true_or_false(value: object) -> None:
    for call in (xb.plan, xb.convert):
        with pytest.raises(xb.ArgumentError, match="narrow must be"):
            call(np.ones(2), "torch", narrow=value)  # type: ignore[arg-type]
    with pytest.raises(xb.ArgumentError):
        xb.set_narrowing(value)  # type: ignore[arg-type]


def test_mps_holds_no_float64() -> None:
    # No MPS device here: the planner, which never touches data, models it.
    torch_backend = backend_named("torch")
    host = Traits("numpy", "float64")
    for narrow in (False, True):
        r = Request(torch_backend, device=Device("mps", 0), narrow=narrow)
        if not narrow:
            with pytest.raises(xb.DTypeError, match="mps:0 has no float64"):
                make_plan(host, r)
            continue
        p = make_plan(host, r)
        assert p.dtype == "float32" and p.steps == ("cast", "from_numpy", "to_device")
    assert make_plan(Traits("numpy", "float32"), Request(torch_backend, device=Device("mps", 0)))
