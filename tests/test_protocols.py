"""Any library through the protocols: DLPack (inspected), array-API targets, buffers, plugins."""

from __future__ import annotations

import array
import contextlib
import gc
import importlib.machinery
import sys
import textwrap
from pathlib import Path

import array_api_strict as xp
import numpy as np
import pytest
from capsules import CREATED, DELETED, Producer
from frameworks import CONSUMERS, needs_torch, torch

import xpbridge as xb
from xpbridge.backends import registry as _registry
from xpbridge.testing import snapshot

COPIES = [None, True, False]


def _check(x: object, to: object, copy: bool | None, **kwargs: object) -> object:
    p = xb.plan(x, to, copy=copy, **kwargs)
    result = xb.convert(x, to, copy=copy, **kwargs)
    assert p.aliases is xb.shares_memory(x, result)
    if copy is True:
        assert not p.aliases
    return result


@pytest.mark.rule("array-api-targets")
@pytest.mark.parametrize("copy", COPIES)
def test_numpy_and_torch_to_array_api_strict(copy: bool | None) -> None:
    if copy is False and _registry.backend_named("array_api_strict").import_aliases != "always":
        with pytest.raises(xb.CopyError, match="only for some inputs"):  # NumPy < 2.1
            xb.convert(np.arange(6.0), "array_api_strict", copy=False)
        return
    a = np.arange(6.0)
    r = _check(a, "array_api_strict", copy)
    assert isinstance(r, xp.asarray(0).__class__)
    assert np.array_equal(np.asarray(r), a)
    if torch is not None:
        t = torch.arange(4.0)
        r2 = _check(t, xp, copy)  # a module works as a target too
        assert np.array_equal(np.asarray(r2), t.numpy())
    like = xp.asarray([0.0], device=xp.Device("device1"))
    r3 = _check(a, like, copy)  # an array: its library and device
    assert r3.device == xp.Device("device1")
    # zero-copy where array-api-strict's imports provably alias (NumPy >= 2.1); else a copy
    always = _registry.backend_named("array_api_strict").import_aliases == "always"
    assert xb.plan(a, "array_api_strict", copy=None).aliases is always


@pytest.mark.rule("array-api-targets")
@pytest.mark.parametrize("copy", COPIES)
@pytest.mark.parametrize("device", ["CPU_DEVICE", "device1"])
def test_array_api_strict_to_numpy_and_torch(copy: bool | None, device: str) -> None:
    x = xp.asarray([1.5, -2.0, 3.25], device=xp.Device(device))
    a = _check(x, "numpy", copy)
    assert a.tolist() == [1.5, -2.0, 3.25] and a.flags.writeable
    if torch is not None:
        t = _check(x, "torch", copy)
        assert t.tolist() == [1.5, -2.0, 3.25]
        assert xb.plan(x, "torch").steps == ("from_dlpack", "from_numpy")


@pytest.mark.rule("dlpack-non-host-producer")
def test_non_host_producer_copies_only_on_request() -> None:
    p = Producer(np.arange(4.0), device=(2, 0), host_copy_on_request=True)
    a = xb.to_numpy(p)
    assert a.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert p.requests[-1] == {"max_version": (1, 1), "dl_device": (1, 0), "copy": True}
    assert not xb.shares_memory(p, a) and not xb.plan(p, "numpy").aliases
    with pytest.raises(xb.CopyError, match="cuda:0"):
        xb.to_numpy(p, copy=False)
    with pytest.raises(xb.CopyError):
        xb.plan(p, "numpy", copy=False)


@pytest.mark.rule("dlpack-capsule-inspected")
@pytest.mark.parametrize("copy", COPIES)
def test_negative_stride_and_readonly_capsules_never_reach_torch_raw(copy: bool | None) -> None:
    base = np.arange(8.0)
    reversed_ = Producer(base[::-1])
    readonly = Producer(np.arange(4.0), readonly=True)
    for producer, values in ((reversed_, base[::-1].tolist()), (readonly, [0.0, 1.0, 2.0, 3.0])):
        before = snapshot(producer.a)
        if torch is None:
            pass  # torch's part needs torch; NumPy's, below, runs everywhere
        elif copy is False:
            with pytest.raises(xb.CopyError):
                xb.to_torch(producer, copy=False)
        else:
            t = xb.to_torch(producer, copy=copy)
            assert t.tolist() == values and not xb.shares_memory(producer, t)
        a = _check(producer, "numpy", copy)  # NumPy can hold both: zero-copy unless copy=True
        assert a.tolist() == values
        assert a.flags.writeable is (producer is reversed_ or copy is True)
        assert snapshot(producer.a) == before


@pytest.mark.rule("dlpack-unknown-dtype")
def test_unknown_capsule_dtype_is_a_dtype_error() -> None:
    from capsules import make_capsule

    class Odd(Producer):
        def __dlpack__(self, **kwargs: object) -> object:
            return make_capsule(self.a, code_bits=(7, 8))  # float8_e3m4: torch lacks it

    if torch is not None:
        with pytest.raises(xb.DTypeError):
            xb.to_torch(Odd(np.zeros(4, np.uint8)))
    assert xb.to_numpy(Odd(np.zeros(4, np.uint8))).dtype.name == "float8_e3m4"


@pytest.mark.rule("dlpack-legacy-producer")
def test_legacy_producer_is_asked_again_without_keywords() -> None:
    p = Producer(np.arange(3.0), versioned=False)
    assert xb.to_numpy(p).tolist() == [0.0, 1.0, 2.0]
    assert p.requests == [{"max_version": (1, 1)}, {}]


@pytest.mark.rule("dlpack-capsules-released")
def test_every_capsule_is_consumed_or_deleted() -> None:
    gc.collect()
    start_created, start_deleted = len(CREATED), len(DELETED)
    kept = []
    for copy in COPIES:
        for producer in (Producer(np.arange(4.0)[::-1]), Producer(np.arange(4.0), readonly=True)):
            for target in CONSUMERS:
                with contextlib.suppress(xb.CopyError):
                    kept.append(xb.convert(producer, target, copy=copy))
                xb.plan(producer, target)  # planning asks for a capsule too, and releases it
                xb.shares_memory(producer, producer.a)
    created = len(CREATED) - start_created
    assert created > 0
    del kept
    gc.collect()
    deleted = DELETED[start_deleted:]
    assert sorted(deleted) == CREATED[start_created:]  # every deleter ran, exactly once


@pytest.mark.rule("buffer-sources")
def test_buffer_protocol_sources() -> None:
    data = bytearray(b"\x01\x02\x03\x04")
    for target in CONSUMERS:
        r = xb.convert(data, target)
        assert r.tolist() == [1, 2, 3, 4] and xb.shares_memory(data, r)
    if torch is not None:
        frozen = bytes(4)
        assert not xb.plan(frozen, "torch").aliases  # read-only memory: copied for torch
        with pytest.raises(xb.CopyError):
            xb.to_torch(frozen, copy=False)
    doubles = array.array("d", [1.0, 2.0])
    assert xb.to_numpy(doubles).dtype == np.float64 and xb.shares_memory(
        doubles, xb.to_numpy(doubles)
    )


@needs_torch
def test_python_objects_follow_the_targets_inference() -> None:
    assert xb.to_torch([1.0, 2.0]).dtype == torch.float32  # torch's default dtype
    assert xb.to_numpy([1.0, 2.0]).dtype == np.float64
    assert xb.to_torch([[1, 2]], dtype="int16").dtype == torch.int16
    assert xb.to_torch(3.5).shape == ()
    with pytest.raises(xb.CopyError):
        xb.to_torch([1.0], copy=False)
    with pytest.raises(xb.UnsupportedInputError):
        xb.to_torch([[1.0], [2.0, 3.0]])  # ragged


TOY = '''
import numpy as np
from xpbridge.backends import Backend, Traits

class ToyArray:
    """An array library nobody here wrote: it speaks no protocol at all."""
    def __init__(self, values):
        self.values = np.asarray(values, dtype=np.float64)
'''

TOY_PLUGIN = """
import sys
from typing import Any, ClassVar
import numpy as np
from xpbridge.backends import Backend, Device, Extent, Traits

class ToyBackend(Backend):
    name: ClassVar[str] = "toyarray"
    readonly_arrays = True
    negative_strides = True
    exchanges = {("toyarray", "numpy"): "to_numpy", ("numpy", "toyarray"): "from_numpy"}

    def owns(self, cls):
        toy = sys.modules.get("toyarray")
        return toy is not None and issubclass(cls, toy.ToyArray)

    def traits(self, x):
        return Traits("toyarray", "float64")

    def holds(self, dtype):
        return dtype == "float64"

    def device_of(self, x):
        return Device("cpu")

    def extent(self, x):
        v = x.values
        return Extent(Device("cpu"), v.__array_interface__["data"][0], v.shape, v.strides, 8)

    def step_to_numpy(self, x, plan):
        return x.values

    def step_from_numpy(self, a, plan):
        import toyarray
        out = toyarray.ToyArray.__new__(toyarray.ToyArray)
        out.values = np.asarray(a, dtype=np.float64)
        return out

    def step_copy(self, x, plan):
        import toyarray
        return toyarray.ToyArray(x.values.copy())
"""


@pytest.mark.rule("plugin-entry-points")
def test_third_party_backend_through_an_entry_point(tmp_path: Path) -> None:
    (tmp_path / "toyarray.py").write_text(textwrap.dedent(TOY))
    (tmp_path / "toyarray_xpbridge.py").write_text(textwrap.dedent(TOY_PLUGIN))
    info = tmp_path / "toyarray_xpbridge-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toyarray-xpbridge\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[xpbridge.backends]\ntoyarray = toyarray_xpbridge:ToyBackend\n"
    )
    sys.path.insert(0, str(tmp_path))
    saved = (
        _registry._ENTRY_POINTS["loaded"],
        dict(_registry._BACKENDS),
        list(_registry._REGISTERED),
        dict(_registry._ORIGIN),
    )
    _registry._ENTRY_POINTS["loaded"] = False
    try:
        import toyarray

        assert "toyarray_xpbridge" not in sys.modules
        assert "not loaded" in xb.list_backends()["toyarray"]
        for target in CONSUMERS:
            xb.convert(np.arange(3.0), target)  # known types never load plugins
        assert "toyarray_xpbridge" not in sys.modules
        toy = toyarray.ToyArray([1.0, 2.0, 3.0])
        a = xb.to_numpy(toy)  # an unknown type: now the entry points load
        assert "toyarray_xpbridge" in sys.modules
        assert a.tolist() == [1.0, 2.0, 3.0] and xb.shares_memory(toy, a)
        if torch is not None:
            t = xb.to_torch(toy)  # no direct exchange: through host memory, zero-copy
            assert t.tolist() == [1.0, 2.0, 3.0] and xb.shares_memory(toy, t)
            back = xb.convert(t, "toyarray")
            assert isinstance(back, toyarray.ToyArray) and xb.shares_memory(back, t)
        back = xb.convert(a, "toyarray")
        assert isinstance(back, toyarray.ToyArray) and xb.shares_memory(back, a)
        assert xb.list_backends()["toyarray"].startswith("entry point toyarray_xpbridge")
    finally:
        sys.path.remove(str(tmp_path))
        _registry._ENTRY_POINTS["loaded"], backends_, registered, origin = saved
        _registry._BACKENDS.clear()
        _registry._BACKENDS.update(backends_)
        _registry._REGISTERED[:] = registered
        _registry._ORIGIN.clear()
        _registry._ORIGIN.update(origin)
        _registry._BY_TYPE.clear()
        for name in ("toyarray", "toyarray_xpbridge"):
            sys.modules.pop(name, None)


@pytest.mark.rule("array-api-targets")
@pytest.mark.parametrize("copy", COPIES)
def test_a_namespace_that_aliases_only_aligned_data_keeps_the_plan_exact(
    copy: bool | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    import array_api_strict

    def from_dlpack(x: object, **kwargs: object) -> object:
        a = np.from_dlpack(x)
        if a.__array_interface__["data"][0] % 64:  # like JAX: misaligned data is copied
            a = a.copy()
        return array_api_strict.asarray(a)

    fussy = types.ModuleType("fussy")
    fussy.__spec__ = importlib.machinery.ModuleSpec("fussy", None)
    fussy.asarray, fussy.from_dlpack, fussy.__array_api_version__ = (
        xp.asarray,
        from_dlpack,
        "2024.12",
    )
    fussy.float64 = xp.float64
    monkeypatch.setitem(sys.modules, "fussy", fussy)
    try:
        assert _registry.backend_named("fussy").import_aliases == "sometimes"
        sources = [np.arange(16.0)[1:9], np.arange(16.0)]
        if torch is not None:
            sources.append(torch.arange(8.0, dtype=torch.float64))
        for source in sources:
            if copy is False:
                with pytest.raises(xb.CopyError, match="only for some inputs"):
                    xb.convert(source, "fussy", copy=False)
            else:
                result = _check(source, "fussy", copy)
                assert not xb.shares_memory(source, result)
    finally:
        _registry._BACKENDS.pop("fussy", None)
        _registry._ORIGIN.pop("fussy", None)
        _registry._INSTALLED.discard("fussy")


@pytest.mark.rule("immutable-sources")
@pytest.mark.parametrize("copy", [None, True])
def test_a_namespace_array_that_refuses_to_export_meets_numpy_in_host_memory(
    copy: bool | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What NumPy < 2.1 does with the read-only arrays its from_dlpack makes: the
    # export is refused with a BufferError, which xpbridge wraps (chained), and the
    # namespace's host memory is used instead, read-only.
    y = xp.asarray([1.0, 2.0])

    def refuse(self: object, **kwargs: object) -> object:
        raise BufferError("Cannot export readonly array since signalling readonly is unsupported")

    monkeypatch.setattr(type(y), "__dlpack__", refuse)
    p = xb.plan(y, "numpy", copy=copy)
    a = xb.to_numpy(y, copy=copy)
    assert a.tolist() == [1.0, 2.0]
    assert p.writable is a.flags.writeable is (copy is True)
    assert p.aliases is xb.shares_memory(a, y) is (copy is None)
