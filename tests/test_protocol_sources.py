"""Sources that speak a protocol: every buffer, every array interface, pyarrow, scipy.sparse.

Each convertible source goes to NumPy and to torch (where it is installed) under
every copy mode, and
``plan(...).aliases`` always equals ``shares_memory`` of the result.  Each
refused source gets a documented error whose remedy is run and works.
"""

from __future__ import annotations

import array
import ctypes
import mmap
import pickle
import re
import sys
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pytest
from frameworks import CONSUMERS, cuda_available, needs_torch, torch

import xpbridge as xb
from xpbridge.testing import snapshot

COPIES = [None, True, False]
_CALL = re.compile(r"call (\.[a-z_]+\([^)]*\))")  # "call .toarray()" in a message


def _run_the_remedies(error: BaseException, x: Any, target: str) -> list[str]:
    """Run each call the message names on the source, and convert what it gives."""
    calls = _CALL.findall(str(error))
    assert calls, str(error)
    for call in calls:
        fixed = eval(f"x{call}", {"x": x})  # the message's own words, on the source
        xb.convert(fixed, target)
    return calls


def _convert_every_way(x: Any, values: list[Any], writable: bool) -> None:
    """To NumPy and torch, every copy mode: the plan is exact and the source unchanged."""
    before = snapshot(_numpy_view(x))
    for target in CONSUMERS:
        for copy in COPIES:
            must_copy = target == "torch" and not writable  # torch has no read-only tensors
            if copy is False and must_copy:
                for call in (xb.plan, xb.convert):
                    with pytest.raises(xb.CopyError, match="read-only"):
                        call(x, target, copy=False)
                continue
            p = xb.plan(x, target, copy=copy)
            result = xb.convert(x, target, copy=copy)
            assert xb.to_numpy(result).tolist() == values
            assert p.aliases is xb.shares_memory(x, result)
            assert p.aliases is (copy is not True and not must_copy)
            if target == "numpy":  # a read-only source aliases read-only
                assert result.flags.writeable is p.writable is (writable or not p.aliases)
            del result
    assert snapshot(_numpy_view(x)) == before


def _numpy_view(x: Any) -> np.ndarray:
    return np.asarray(x) if hasattr(x, "__array_interface__") else np.asarray(memoryview(x))


def _ctypes_matrix() -> Any:
    m = (ctypes.c_int16 * 3 * 2)()
    for i in range(2):
        for j in range(3):
            m[i][j] = 3 * i + j
    return m


def _mmap(access: int) -> mmap.mmap:
    m = mmap.mmap(-1, 4)
    m.write(b"\x01\x02\x03\x04")
    if access == mmap.ACCESS_WRITE:
        return m
    readonly = mmap.mmap(-1, 4, access=mmap.ACCESS_READ)  # anonymous: zeros
    m.close()
    return readonly


BUFFERS: dict[str, tuple[Callable[[], Any], list[Any], bool]] = {
    "bytearray": (lambda: bytearray(b"\x01\x02\x03"), [1, 2, 3], True),
    "bytes": (lambda: b"\x01\x02\x03", [1, 2, 3], False),
    "memoryview": (lambda: memoryview(bytearray(b"\x05\x06")), [5, 6], True),
    "array.array": (lambda: array.array("d", [1.5, 2.5]), [1.5, 2.5], True),
    "mmap": (lambda: _mmap(mmap.ACCESS_WRITE), [1, 2, 3, 4], True),
    "mmap-read-only": (lambda: _mmap(mmap.ACCESS_READ), [0, 0, 0, 0], False),
    "ctypes-array": (lambda: (ctypes.c_double * 3)(1.0, 2.0, 3.0), [1.0, 2.0, 3.0], True),
    "ctypes-2d": (_ctypes_matrix, [[0, 1, 2], [3, 4, 5]], True),
    "ctypes-scalar": (lambda: ctypes.c_float(0.5), 0.5, True),
    "PickleBuffer": (lambda: pickle.PickleBuffer(bytearray(b"\x07\x08")), [7, 8], True),
    "PickleBuffer-read-only": (lambda: pickle.PickleBuffer(b"\x07\x08"), [7, 8], False),
}


@pytest.mark.rule("buffer-protocol-any-object")
@pytest.mark.parametrize("kind", list(BUFFERS))
def test_every_buffer_protocol_object(kind: str) -> None:
    make, values, writable = BUFFERS[kind]
    _convert_every_way(make(), values, writable)


@pytest.mark.rule("buffer-protocol-any-object")
def test_a_buffer_type_known_only_by_its_instances() -> None:
    # pyarrow.Buffer is a C type whose buffer support no class attribute shows
    # before Python 3.12 (PEP 688's __buffer__): found per object, not cached.
    pa = pytest.importorskip("pyarrow")
    from xpbridge.backends import registry as _registry

    source = bytearray(b"\x09\x0a")
    x = pa.py_buffer(source)
    a = xb.to_numpy(x)
    assert a.tolist() == [9, 10] and xb.shares_memory(x, a) and xb.shares_memory(source, a)
    assert _registry.backend_of(x).name == "buffer"
    assert (type(x) in _registry._BY_TYPE) is (sys.version_info >= (3, 12))


@pytest.mark.rule("buffer-protocol-any-object")
@pytest.mark.parametrize("target", CONSUMERS)
def test_writes_through_a_buffer_alias_reach_the_source(target: str) -> None:
    m = _mmap(mmap.ACCESS_WRITE)
    alias = xb.convert(m, target)
    alias[0] = 42
    assert m[0] == 42
    c = (ctypes.c_double * 2)(1.0, 2.0)
    xb.to_numpy(c)[1] = -1.0
    assert c[1] == -1.0


class _Pair(ctypes.Structure):
    _fields_ = [("flag", ctypes.c_int8), ("value", ctypes.c_double)]  # padded: 16 bytes


@pytest.mark.rule("buffer-structured-format")
@pytest.mark.parametrize(
    "make",
    [_Pair * 2, lambda: ctypes.pointer(ctypes.c_int(1))],
    ids=["ctypes-structure", "ctypes-pointer"],
)
def test_buffers_that_are_not_numbers_are_a_dtype_error_without_a_warning(
    make: Callable[[], Any],
) -> None:
    # warnings are errors here: NumPy's "best-guess" RuntimeWarning would fail the test
    for call in (xb.plan, xb.convert):
        for target in CONSUMERS:
            with pytest.raises(xb.DTypeError, match="not one number type"):
                call(make(), target)


@pytest.mark.rule("buffer-protocol-any-object")
def test_a_closed_mmap_is_unsupported_input() -> None:
    m = mmap.mmap(-1, 4)
    m.close()
    with pytest.raises(xb.UnsupportedInputError, match="closed") as info:
        xb.to_numpy(m)
    assert isinstance(info.value.__cause__, ValueError)


# --- __array_interface__, however it is defined --------------------------------------------


class _OnInstance:
    def __init__(self, base: np.ndarray) -> None:
        self.base = base
        self.__array_interface__ = base.__array_interface__


class _AsProperty:
    def __init__(self, base: np.ndarray) -> None:
        self.base = base

    @property
    def __array_interface__(self) -> dict[str, Any]:
        return self.base.__array_interface__


class _ThroughGetattr:
    def __init__(self, base: np.ndarray) -> None:
        self.base = base

    def __getattr__(self, name: str) -> Any:
        if name == "__array_interface__":
            return self.base.__array_interface__
        raise AttributeError(name)


@pytest.mark.rule("array-interface-any-definition")
@pytest.mark.parametrize("kind", [_OnInstance, _AsProperty, _ThroughGetattr])
@pytest.mark.parametrize("writable", [True, False])
def test_array_interface_however_it_is_defined(kind: type, writable: bool) -> None:
    base = np.arange(6.0).reshape(2, 3)
    base.flags.writeable = writable
    x = kind(base)
    _convert_every_way(x, base.tolist(), writable)
    assert xb.shares_memory(x, base)


@pytest.mark.rule("array-interface-any-definition")
def test_an_instance_interface_is_not_cached_for_its_type() -> None:
    base = np.arange(3.0)
    assert xb.to_numpy(_OnInstance(base)).tolist() == [0.0, 1.0, 2.0]
    bare = _OnInstance.__new__(_OnInstance)  # same type, no interface on this one
    with pytest.raises(xb.UnsupportedInputError, match="speaks no array protocol"):
        xb.to_numpy(bare)


@pytest.mark.rule("array-interface-any-definition")
def test_a_broken_array_interface_is_unsupported_input() -> None:
    class Raises:
        @property
        def __array_interface__(self) -> dict[str, Any]:
            raise RuntimeError("backing store is gone")

    class Malformed:
        __array_interface__: ClassVar = {"shape": (2,), "version": 3}  # no typestr, no data

    class Objects:
        def __init__(self) -> None:
            self.base = np.array([object(), object()])
            self.__array_interface__ = self.base.__array_interface__

    for x in (Raises(), Malformed(), Objects()):
        for call in (xb.plan, xb.convert):
            for target in CONSUMERS:
                with pytest.raises(
                    xb.UnsupportedInputError, match=r"array interface|__array_interface"
                ):
                    call(x, target)


# --- __cuda_array_interface__ --------------------------------------------------------------


class _CudaOnly:
    """An object that speaks only the CUDA array interface (as numba's device arrays)."""

    def __init__(self, interface: dict[str, Any], keep: Any = None) -> None:
        self.__cuda_array_interface__ = interface
        self.keep = keep


@pytest.mark.rule("cuda-array-interface")
@pytest.mark.skipif(cuda_available(), reason="the machine has CUDA")
def test_cuda_array_interface_without_cuda_is_a_device_error() -> None:
    x = _CudaOnly({"shape": (3,), "typestr": "<f4", "data": (1 << 40, False), "version": 3})
    for target in (*CONSUMERS, "array_api_strict"):
        for call in (xb.plan, xb.convert):
            with pytest.raises(xb.DeviceError, match="no CUDA device"):
                call(x, target)
    assert not xb.shares_memory(x, np.zeros(3))  # nothing here can share CUDA memory


@pytest.mark.rule("cuda-array-interface")
@pytest.mark.cuda
@pytest.mark.skipif(not cuda_available(), reason="needs CUDA")
def test_cuda_array_interface_with_cuda_goes_through_torch() -> None:
    t = torch.arange(4.0, device="cuda")
    x = _CudaOnly(t.__cuda_array_interface__, keep=t)
    same = xb.to_torch(x)
    assert same.device == t.device and xb.shares_memory(x, same) and xb.plan(x, "torch").aliases
    a = xb.to_numpy(x)
    assert a.tolist() == [0.0, 1.0, 2.0, 3.0] and not xb.plan(x, "numpy").aliases
    readonly = _CudaOnly({**t.__cuda_array_interface__, "data": (t.data_ptr(), True)}, keep=t)
    with pytest.raises(xb.UnsupportedInputError, match="read-only CUDA memory"):
        xb.to_torch(readonly)


# --- pyarrow ----------------------------------------------------------------------------


PRIMITIVES = ["int8", "int16", "int32", "int64", "uint8", "uint64", "float16", "float32", "float64"]


@pytest.mark.rule("pyarrow-arrays")
@pytest.mark.parametrize("dtype", PRIMITIVES)
def test_pyarrow_primitive_arrays_cross_through_dlpack(dtype: str) -> None:
    pa = pytest.importorskip("pyarrow")
    values = np.arange(1, 6).astype(dtype)
    x = pa.array(values).slice(1)  # an offset into the buffer, too
    a = xb.to_numpy(x)
    assert a.dtype == np.dtype(dtype) and a.tolist() == values[1:].tolist()
    assert xb.shares_memory(x, a) and not a.flags.writeable  # pyarrow memory is immutable
    assert xb.plan(x, "numpy").aliases and not xb.plan(x, "numpy").writable
    if torch is not None:  # torch has no read-only tensors: a copy
        t = xb.to_torch(x)
        assert t.tolist() == values[1:].tolist() and not xb.shares_memory(x, t)
        with pytest.raises(xb.CopyError):
            xb.to_torch(x, copy=False)


@pytest.mark.rule("pyarrow-nulls")
@pytest.mark.parametrize("values", [[1.0, None, 3.0], [1, None, 3]], ids=["float64", "int64"])
def test_pyarrow_nulls_name_fill_null_and_it_works(values: list[Any]) -> None:
    pa = pytest.importorskip("pyarrow")
    x = pa.array(values)
    for target in CONSUMERS:
        for call in (xb.plan, xb.convert):
            with pytest.raises(xb.UnsupportedInputError, match=r"\.fill_null\(0\)") as info:
                call(x, target)
            assert isinstance(info.value.__cause__, pa.ArrowTypeError)
            assert isinstance(info.value.__cause__, TypeError)  # a subclass: never retried
        assert _run_the_remedies(info.value, x, target) == [".fill_null(0)"]
    assert xb.to_numpy(x.fill_null(0)).tolist() == [v or 0 for v in values]


@pytest.mark.rule("pyarrow-nulls")
@pytest.mark.parametrize("target", CONSUMERS)
def test_other_pyarrow_types_say_why_and_booleans_get_a_working_remedy(target: str) -> None:
    pa = pytest.importorskip("pyarrow")
    flags = pa.array([True, False, True])
    with pytest.raises(xb.UnsupportedInputError, match="bits") as info:
        xb.convert(flags, target)
    assert _run_the_remedies(info.value, flags, target) == [".to_numpy(zero_copy_only=False)"]
    fixed = xb.convert(flags.to_numpy(zero_copy_only=False), target)
    assert xb.to_numpy(fixed).tolist() == [True, False, True]
    with pytest.raises(xb.UnsupportedInputError, match="string") as info:
        xb.to_numpy(pa.array(["a", "b"]))
    assert not _CALL.search(str(info.value))  # nothing would work: no call is named


# --- scipy.sparse and objects that speak no protocol ------------------------------------------


@pytest.mark.rule("scipy-sparse")
@pytest.mark.parametrize("kind", ["csr_matrix", "csr_array", "coo_array", "dia_matrix"])
def test_scipy_sparse_names_toarray_and_it_works(kind: str) -> None:
    sparse = pytest.importorskip("scipy.sparse")
    dense = np.arange(6.0).reshape(2, 3)
    x = getattr(sparse, kind)(dense)
    for target in CONSUMERS:
        for call in (xb.plan, xb.convert):
            with pytest.raises(xb.UnsupportedInputError, match=r"\.toarray\(\)") as info:
                call(x, target)
        assert _run_the_remedies(info.value, x, target) == [".toarray()"]
        assert np.array_equal(xb.to_numpy(xb.convert(x.toarray(), target)), dense)


@pytest.mark.rule("unknown-object-advice")
def test_the_advice_for_unknown_objects_is_true() -> None:
    class Nothing:
        pass

    with pytest.raises(xb.UnsupportedInputError) as info:
        xb.to_numpy(Nothing())
    assert "numpy.asarray" not in str(info.value)  # it would make a 0-d object array
    assert not _CALL.search(str(info.value))


@pytest.mark.rule("unknown-object-advice")
@needs_torch
def test_the_advice_for_objects_with_only_array_is_true() -> None:
    class Exports:  # __array__ only: numpy.asarray(x) is a real array, as the message says
        def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
            return np.arange(3.0)

    with pytest.raises(xb.UnsupportedInputError, match=r"numpy\.asarray\(x\)"):
        xb.to_torch(Exports())
    assert xb.to_torch(np.asarray(Exports())).tolist() == [0.0, 1.0, 2.0]


@pytest.mark.rule("array-interface-any-definition")
def test_an_array_interface_with_a_mask_is_refused() -> None:
    data, mask = np.arange(3.0), np.array([False, True, False])

    class Masked:
        def __init__(self) -> None:
            self.__array_interface__ = {**data.__array_interface__, "mask": mask}

    for call in (xb.plan, xb.convert):
        with pytest.raises(xb.UnsupportedInputError, match="mask"):
            call(Masked(), "numpy")
