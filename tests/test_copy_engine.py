"""The host copy engines (xpbridge._lib.copy_engine): every engine makes the same copy, and the choice is sound.

Each engine may serve any copy of its kind, chosen by timing, so each must
give the result the contract asks for: the same bits, dtype, shape and layout
as the library's own copy, a fresh writable buffer that shares nothing with
the source, and no autograd history where the data leaves torch.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from frameworks import needs_torch, torch

import xpbridge as xb
from xpbridge._lib import copy_engine as _copy
from xpbridge.testing import assert_bitwise_equal

N = 1 << 15  # elements: large enough that the engines are measured, small enough to be quick


def _values(n: int = N, dtype: Any = np.float32) -> np.ndarray:
    rng = np.random.default_rng(0)
    if np.dtype(dtype).kind == "c":
        return (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return rng.integers(0, 2, n).astype(bool)
    return (rng.standard_normal(n) * 100).astype(dtype)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _memmap(tmp_path: Path) -> np.ndarray:
    path = tmp_path / "data.bin"
    _values().tofile(path)
    return np.memmap(path, dtype=np.float32, mode="r", shape=(N,))


def _unaligned(n: int = N) -> np.ndarray:
    raw = np.zeros(n * 8 + 1, np.uint8)
    a = np.frombuffer(raw.data, np.float64, n, offset=1)
    assert not a.flags.aligned
    return a


def _complex_half_aligned() -> np.ndarray:
    # NumPy calls it aligned (8 bytes, a part's size); torch needs 16: it would crash.
    raw = np.zeros(N * 16 + 32, np.uint8)
    start = (-raw.__array_interface__["data"][0]) % 16 + 8
    a = raw[start : start + N * 16].view(np.complex128)
    assert a.flags.aligned and a.__array_interface__["data"][0] % 16 == 8
    a[:] = _values(dtype=np.complex128)
    return a


# (name, builder, the engines that can copy it)
NDARRAYS = {
    "c_contiguous": (lambda p: _values(), {"numpy", "numpy-buffer", "torch"}),
    "f_contiguous": (
        lambda p: np.asfortranarray(_values().reshape(128, -1)),
        {"numpy", "numpy-buffer", "torch"},
    ),
    "strided": (lambda p: _values(2 * N)[::2], {"numpy", "numpy-buffer"}),
    "transposed_slice": (
        lambda p: _values(2 * N).reshape(256, -1)[:, 1:].T,
        {"numpy", "numpy-buffer"},
    ),
    "read_only": (lambda p: _readonly(_values()), {"numpy", "numpy-buffer", "torch"}),
    "read_only_memmap": (_memmap, {"numpy", "numpy-buffer", "torch"}),
    "bool": (lambda p: _values(dtype=bool), {"numpy", "numpy-buffer", "torch"}),
    "complex128": (lambda p: _values(dtype=np.complex128), {"numpy", "numpy-buffer", "torch"}),
    "uint64": (
        lambda p: np.arange(N, dtype=np.uint64) * (2**60),
        {"numpy", "numpy-buffer", "torch"},
    ),
    # torch has no flip kernel for uint16/32/64: its engine flips the bits as int16/32/64.
    "negative_uint16": (lambda p: np.arange(N, dtype=np.uint16)[::-1], {"numpy", "torch"}),
    "negative_uint64_read_only": (
        lambda p: _readonly(np.arange(N, dtype=np.uint64) * (2**60))[::-1],
        {"numpy", "torch"},
    ),
    # torch reads the forward view and flips it (its own allocator only).
    "negative_strides": (lambda p: _values()[::-1], {"numpy", "torch"}),
    "negative_rows": (lambda p: _values(2 * N).reshape(256, -1)[::-1], {"numpy", "torch"}),
    "negative_inner_axis": (
        lambda p: _values(2 * N).reshape(256, -1)[:, ::-1],
        {"numpy", "torch"},
    ),
    "negative_read_only": (lambda p: _readonly(_values())[::-1], {"numpy", "torch"}),
    "negative_and_strided": (lambda p: _values(2 * N)[::-2], {"numpy"}),
    # C-contiguous, yet a negative stride on its length-1 axis, which torch rejects.
    "negative_length_1_axis": (
        lambda p: _values().reshape(1, -1)[::-1],
        {"numpy", "numpy-buffer", "torch"},
    ),
    "complex_aligned_to_its_parts": (lambda p: _complex_half_aligned(), {"numpy"}),
    "unaligned": (lambda p: _unaligned(), {"numpy"}),
    "non_native": (lambda p: _values().astype(">f4"), {"numpy"}),
    "bfloat16": (lambda p: _values().astype(ml_dtypes.bfloat16), {"numpy"}),
    "scalar": (lambda p: np.float32(1.5), {"numpy"}),
    "zero_d": (lambda p: np.array(2.5, np.float32), {"numpy", "numpy-buffer", "torch"}),
    "size_zero": (lambda p: np.zeros((0, 3), np.float32), {"numpy", "numpy-buffer", "torch"}),
}


# The engines as parameters: all but NumPy's own use torch (its allocator or its copy kernel).
ENGINES = [pytest.param(e, marks=[needs_torch] if e != "numpy" else []) for e in _copy.ENGINES]


def _strides(a: np.ndarray) -> tuple[int, ...]:
    return tuple(s for n, s in zip(a.shape, a.strides, strict=True) if n > 1)


def _shares(a: Any, b: Any) -> bool:
    return xb.shares_memory(a, b)


@pytest.mark.parametrize("name", sorted(NDARRAYS))
@pytest.mark.parametrize("engine", ENGINES)
def test_every_ndarray_engine_makes_numpys_copy(name: str, engine: str, tmp_path: Path) -> None:
    build, engines = NDARRAYS[name]
    a = build(tmp_path)
    before = np.array(a, copy=True)
    if engine not in engines:
        with pytest.raises(KeyError):
            _copy.copy_ndarray(a, numpy_memory=False, engine=engine)
        return
    result = _copy.copy_ndarray(a, numpy_memory=False, engine=engine)
    expected = np.array(a, copy=True, order="K", subok=False)
    assert type(result) is np.ndarray
    assert result.dtype == expected.dtype
    # The same layout, whichever engine (a length-1 axis's stride is never read).
    assert _strides(result) == _strides(expected)
    assert result.flags.writeable
    assert_bitwise_equal(result, expected)
    if a.size:
        assert not _shares(result, a)
    assert_bitwise_equal(np.array(a, copy=True), before)  # the source is untouched


@needs_torch
def test_numpy_memory_keeps_torch_allocator_out() -> None:
    a = _values()
    with pytest.raises(KeyError):
        _copy.copy_ndarray(a, numpy_memory=True, engine="torch")
    for engine in ("numpy", "numpy-buffer"):
        assert _copy.copy_ndarray(a, numpy_memory=True, engine=engine).flags.owndata


def _tensor(n: int = N, dtype: torch.dtype | None = None) -> torch.Tensor:
    return torch.from_numpy(_values(n)).to(dtype or torch.float32)


TENSORS = {
    "contiguous": (_tensor, {"numpy", "numpy-buffer", "torch"}),
    "bool": (lambda: torch.from_numpy(_values(dtype=bool)), {"numpy", "numpy-buffer", "torch"}),
    "complex64": (
        lambda: torch.from_numpy(_values(dtype=np.complex64)),
        {"numpy", "numpy-buffer", "torch"},
    ),
    "int16": (lambda: _tensor(dtype=torch.int16), {"numpy", "numpy-buffer", "torch"}),
    "strided": (lambda: _tensor(2 * N)[::2], {"torch"}),
    "transposed": (lambda: _tensor().reshape(128, -1).T, {"torch"}),
    "bfloat16": (lambda: _tensor(dtype=torch.bfloat16), {"torch"}),
    "conjugate_bit": (
        lambda: torch.from_numpy(_values(dtype=np.complex64)).conj(),
        {"torch"},
    ),
    "requires_grad": (lambda: _tensor().requires_grad_(), {"torch"}),
    "zero_d": (lambda: torch.tensor(2.5), {"numpy", "numpy-buffer", "torch"}),
}


@needs_torch
@pytest.mark.parametrize("name", sorted(TENSORS))
@pytest.mark.parametrize("engine", _copy.ENGINES)
def test_every_tensor_engine_makes_a_detached_copy(name: str, engine: str) -> None:
    build, engines = TENSORS[name]
    t = build()
    if engine not in engines:
        with pytest.raises(KeyError):
            _copy.copy_tensor(t, engine=engine)
        return
    result = _copy.copy_tensor(t, engine=engine)
    expected = t.detach().clone()
    assert type(result) is torch.Tensor
    assert result.dtype == t.dtype and result.shape == t.shape
    assert result.device.type == "cpu"
    assert torch.equal(result.resolve_conj(), expected.resolve_conj())
    if t.numel():
        assert not _shares(result, t)
    if not t.requires_grad:
        assert not result.requires_grad and result.grad_fn is None


CASTS = [
    ("float32", "float64"),
    ("float64", "float16"),
    ("float32", "int32"),  # out of range and NaN: torch's kernel decides, either way
    ("int64", "float32"),
    ("float32", "bool"),
    ("complex64", "float32"),
    ("float32", "complex128"),
]


# torch warns once per process, whichever call comes first: complex -> real
# discards the imaginary part (xpbridge's step_cast silences it).
@pytest.mark.filterwarnings("ignore:Casting complex values to real:UserWarning")
@needs_torch
@pytest.mark.parametrize(("source_name", "target_name"), CASTS, ids=[f"{a}-{b}" for a, b in CASTS])
@pytest.mark.parametrize("engine", ["torch", "numpy-buffer"])
def test_cast_engines_are_tensor_to(source_name: str, target_name: str, engine: str) -> None:
    source, target = getattr(torch, source_name), getattr(torch, target_name)
    values = _values(dtype=np.complex64 if source.is_complex else np.float32)
    values[:4] = [np.nan, np.inf, -np.inf, 3e38]
    t = torch.from_numpy(values).to(source)
    result = _copy.cast_tensor(t, target, engine=engine)
    expected = t.to(target)
    assert result.dtype == target
    assert_bitwise_equal(result, expected)
    assert not _shares(result, t)


@needs_torch
def test_cast_keeps_autograd_and_odd_tensors_on_tensor_to() -> None:
    g = _tensor().requires_grad_()
    with pytest.raises(KeyError):
        _copy.cast_tensor(g, torch.float64, engine="numpy-buffer")
    result = _copy.cast_tensor(g, torch.float64)
    assert result.grad_fn is not None  # Tensor.to: still differentiable
    with pytest.raises(KeyError):  # bfloat16 has no NumPy buffer
        _copy.cast_tensor(_tensor(), torch.bfloat16, engine="numpy-buffer")


# The choice.


@pytest.fixture
def fresh_choice() -> Any:
    _copy._reset()
    yield
    _copy._reset()


@pytest.mark.thread_unsafe(reason="resets the process-wide engine choice")
def test_the_fastest_engine_by_median_is_kept(fresh_choice: None) -> None:
    table = _copy.Engines("test", dict.fromkeys("abc", lambda job: job))
    key = (table, 30)
    engines = ("a", "b", "c")
    for _ in range(_copy.WARMUP * 3):  # the warm-up: each in turn, untimed
        trial, timed = _copy._next_trial(key, engines)
        assert not timed
    assert not _copy.chosen()
    rest = _copy.SAMPLES - 1
    timings = {"a": [3.0] * rest + [1.0], "b": [2.0] * (rest + 1), "c": [9.0] * rest + [0.5]}
    for _ in range(_copy.SAMPLES * 3):
        trial, timed = _copy._next_trial(key, engines)
        assert timed
        _copy._record(key, trial, timings[trial].pop())
    # One fast copy does not win: a median is robust to one lucky (or stalled) copy.
    assert _copy.chosen() == {("test", engines, 30): "b"}
    assert _copy._next_trial(key, engines) == ("b", False)


@needs_torch
@pytest.mark.thread_unsafe(reason="resets the process-wide engine choice")
def test_size_classes_are_decided_after_warm_up_and_samples(fresh_choice: None) -> None:
    a = _values()
    calls = (_copy.WARMUP + _copy.SAMPLES) * 3
    for i in range(calls):
        assert not _copy.chosen(), f"decided after {i} copies"
        assert_bitwise_equal(_copy.copy_ndarray(a, numpy_memory=False), a)
    (key, engine), *others = _copy.chosen().items()
    assert not others
    assert key == ("ndarray", ("numpy", "numpy-buffer", "torch"), a.nbytes.bit_length())
    assert engine in _copy.ENGINES
    assert_bitwise_equal(_copy.copy_ndarray(a, numpy_memory=False), a)


@pytest.mark.thread_unsafe(reason="resets the process-wide engine choice")
def test_decisions_are_measured_again_on_a_doubling_schedule(
    fresh_choice: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fake clock: each engine advances it by its cost, so timings are exact.
    clock = [0.0]
    cost = {"a": 2.0, "b": 1.0}
    used: list[str] = []

    def engine(name: str) -> Any:
        def run(job: object) -> str:
            clock[0] += cost[name]
            used.append(name)
            return name

        return run

    monkeypatch.setattr(_copy, "perf_counter", lambda: clock[0])
    engines = _copy.Engines("test", {"a": engine("a"), "b": engine("b")})
    nbytes = 1 << 20
    key = ("test", ("a", "b"), nbytes.bit_length())
    first = (_copy.WARMUP + _copy.SAMPLES) * 2
    for _ in range(first):
        _copy._run(engines, nbytes, None)
    assert _copy.chosen() == {key: "b"}
    cost["a"] = 0.5  # the machine changes: "a" is now the faster
    used.clear()
    for _ in range(_copy.RECHECK - 1):
        _copy._run(engines, nbytes, None)
    assert set(used) == {"b"}  # until the re-check, the decision stands
    for _ in range(_copy.SAMPLES * 2):  # warm engines: timed at once
        _copy._run(engines, nbytes, None)
    assert _copy.chosen() == {key: "a"}
    assert _copy._chosen[engines, nbytes.bit_length()].recheck == 2 * _copy.RECHECK


@needs_torch
@pytest.mark.thread_unsafe(reason="resets the process-wide engine choice")
def test_small_copies_are_not_measured(fresh_choice: None) -> None:
    a = _values(16)
    for _ in range(20):
        _copy.copy_ndarray(a, numpy_memory=False)
        _copy.copy_tensor(torch.from_numpy(a))
    assert _copy.chosen() == {}


@needs_torch
@pytest.mark.thread_unsafe(reason="resets the process-wide engine choice")
def test_concurrent_first_copies_agree_on_one_engine(fresh_choice: None) -> None:
    a = _values()
    t = torch.from_numpy(_values())
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work() -> None:
        try:
            start.wait()
            for _ in range(20):
                assert_bitwise_equal(_copy.copy_ndarray(a, numpy_memory=False), a)
                assert torch.equal(_copy.copy_tensor(t), t)
        except Exception as e:  # noqa: BLE001  # reported below, from the main thread
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    kinds = [key[0] for key in _copy.chosen()]
    assert sorted(kinds) == ["ndarray", "tensor"]  # one decision each, not one per thread


# Through the public functions, at sizes the engines serve.


@needs_torch
def test_conversions_that_copy_keep_the_contract() -> None:
    a = _values()
    ro = _readonly(_values())
    rev = _values()[::-1]
    for source in (ro, rev):
        for _ in range((_copy.WARMUP + _copy.SAMPLES) * 3 + 1):  # every engine, the decision
            t = xb.to_torch(source)
            assert_bitwise_equal(t, np.array(source))
            assert not _shares(t, source)
    g = torch.from_numpy(_values()).requires_grad_()
    for _ in range((_copy.WARMUP + _copy.SAMPLES) * 3 + 1):
        out = xb.to_numpy(g, copy=True)
        assert out.flags.writeable and not _shares(out, g)
        assert_bitwise_equal(out, g.detach())
        out64 = xb.to_torch(a, dtype="float64")
        assert_bitwise_equal(out64, torch.from_numpy(a).to(torch.float64))
        assert not _shares(out64, a)
    clone = xb.to_torch(g, copy=True)  # torch -> torch: still differentiable
    assert clone.grad_fn is not None and clone.requires_grad
    grad_cast = xb.to_torch(g, dtype="float64")
    assert grad_cast.grad_fn is not None


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_numpy_copies_never_import_torch() -> None:
    out = _run(
        "import sys, numpy as np, xpbridge as xb\n"
        "a = np.arange(1 << 16, dtype=np.float32); a.flags.writeable = False\n"
        "for _ in range(12): b = xb.to_numpy(a, copy=True)\n"
        "assert b.flags.writeable and (b == a).all()\n"
        "print('torch' in sys.modules)"
    )
    assert out == "False"


def test_a_torch_still_being_imported_is_not_used() -> None:
    # Another thread may be inside `import torch`: sys.modules has the module
    # before its __init__ has run.  The copy engines and the pipeline must
    # neither use it nor fail.
    out = _run(
        "import sys, types, numpy as np, xpbridge as xb\n"
        "from xpbridge._lib import copy_engine as _copy\n"
        "fake = types.ModuleType('torch')\n"
        "fake.__spec__ = types.SimpleNamespace(_initializing=True)\n"
        "sys.modules['torch'] = fake\n"
        "a = np.arange(1 << 16, dtype=np.float32); a.flags.writeable = False\n"
        "for _ in range(12): b = _copy.copy_ndarray(a, numpy_memory=False)\n"
        "assert (b == a).all() and _copy.chosen() == {}\n"
        "for _ in range(12): c = xb.to_numpy(a, copy=True)\n"
        "assert (c == a).all() and c.flags.writeable and xb.convert(a, 'numpy') is a\n"
        "print(_copy.chosen() == {}, _copy.ready_torch() is None)"
    )
    assert out == "True True"


@needs_torch
def test_a_lazy_bit_is_resolved_before_any_engine_copies() -> None:
    # The planner resolves a negative or conjugate bit (its own step) before
    # the copy, so an engine never sees one and the values are the resolved ones.
    z = torch.from_numpy(_values(dtype=np.complex64))
    for lazy in (torch._neg_view(_tensor()), z.conj()):
        assert lazy.is_neg() or lazy.is_conj()
        expected = lazy.resolve_conj().resolve_neg().numpy()
        assert (
            "resolve_neg" in xb.plan(lazy, "numpy").steps
            or "resolve_conj" in xb.plan(lazy, "numpy").steps
        )
        for copy in (None, True):
            assert_bitwise_equal(xb.to_numpy(lazy, copy=copy), expected)


@pytest.mark.rule("copy-engines-exact")
@needs_torch
def test_unsigned_reversed_copies_in_a_fresh_process() -> None:
    # The first copies of a size class rotate through the engines: torch's
    # came second and raised NotImplementedError ("flip_cpu" not implemented
    # for 'UInt16') for uint16/32/64.  Each engine's first use, in a fresh process.
    out = _run(
        "import numpy as np, xpbridge as xb\n"
        "for dtype in (np.uint16, np.uint32, np.uint64):\n"
        "    a = np.arange(98304, dtype=dtype)[::-1]\n"
        "    ro = np.arange(98304, dtype=dtype); ro.flags.writeable = False\n"
        "    for _ in range(30):\n"
        "        for source in (a, ro[::-1]):\n"
        "            for copy in (None, True):\n"
        "                t = xb.to_torch(source, copy=copy)\n"
        "                assert (t.numpy() == source).all()\n"
        "print('ok')"
    )
    assert out == "ok"
