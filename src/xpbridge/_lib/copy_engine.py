"""Host copies through the engine that is fastest for their size, chosen by measurement.

A new host buffer costs an allocation, the page faults of its first touch,
and the copy itself, and NumPy and torch differ on all three:

- NumPy's allocator asks the kernel for transparent huge pages for large
  blocks (``madvise``), so a fresh 64 MiB buffer takes 32 page faults where
  torch's allocator takes 16,384; above the C library's mmap threshold every
  allocation is fresh memory, and torch's ``clone()`` spends as much time
  faulting as copying;
- torch's copy kernel runs on its intra-op threads; NumPy copies on one.

So the fastest way to make the same copy depends on its size, the machine
(huge page policy, cores, load) and the libraries' builds.  Three engines
make every copy this module is asked for:

``numpy``
    NumPy allocates and copies (``np.array(x, order="K")``).
``torch``
    torch allocates and copies (``Tensor.clone``, ``Tensor.to``, ``Tensor.flip``
    for reversed axes; for a dtype torch has no flip kernel for, such as
    uint16/32/64, the flip runs on a same-width integer view of the bits).
``numpy-buffer``
    NumPy allocates, torch's kernel copies into it (``Tensor.copy_``).

No engine is guessed: the first copies of each size class (a power of two
of bytes) rotate through the engines that can make that copy; after
:data:`WARMUP` untimed copies each, :data:`SAMPLES` copies of each are timed,
and the fastest by median is kept.  The machine's state moves (huge pages
may need compaction; other processes take the cores torch's threads wait
for), so a decision is measured again after :data:`RECHECK` copies, then
after twice as many, and so on.  Every engine makes the same result (values, dtype,
shape, a fresh writable buffer that shares nothing with the source), so the
choice changes the speed only (``tests/property/test_copy_engines.py``
checks every dtype and layout under every engine, forced).
``benchmarks/copy_bandwidth.py`` measures each engine against ``np.copyto``
into an existing buffer.

torch is never imported here: its engines are offered only when torch is
already imported and fully initialised.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from time import perf_counter
from typing import Any

from .dtypes import NATIVE_IN_BOTH
from .memo import Memo
from .numpy_flags import ALIGNED, CONTIGUOUS, WRITEABLE

__all__ = [
    "ENGINES",
    "RECHECK",
    "SAMPLES",
    "WARMUP",
    "Engines",
    "cast_tensor",
    "chosen",
    "copy_ndarray",
    "copy_tensor",
    "ready_torch",
]

NUMPY, TORCH, NUMPY_BUFFER = "numpy", "torch", "numpy-buffer"
ENGINES = (NUMPY, TORCH, NUMPY_BUFFER)

# A size class is decided from SAMPLES timings of each engine, after each has
# made WARMUP copies untimed: the first copies of a size are slower and say
# little (torch starts its thread pool; the C library's allocator moves its
# mmap threshold, so early buffers are fresh pages that fault).  Five timings,
# not three: with three, two copies stalled by another process (a 64 MiB copy
# waits for page faults or for a core) decided for the slower engine.
WARMUP = 4
SAMPLES = 5
# A decision is measured again after RECHECK copies, then after twice as many
# since, and so on: what is fastest moves with the machine's state (whether
# the kernel has huge pages at hand or must compact memory for them; whether
# another process holds the cores torch's threads wait for), and a doubling
# schedule keeps the cost of looking again bounded (log2 of the copies made).
RECHECK = 256
# Below this many bytes every engine's time is its fixed cost (about a
# microsecond; benchmarks/copy_bandwidth.py shows where the engines part),
# so the source library's own copy is used without measuring.
MEASURED_FROM_BYTES = 1 << 16

# Decisions, not memos: what was measured on this machine, under a lock
# (trials are shared counters), kept across clear_all (re-measuring decides
# nothing new); xpbridge._lib.memo holds every memo of the pipeline.
_lock = threading.Lock()
_chosen: dict[tuple[Any, ...], _Decision] = {}
_trials: dict[tuple[Any, ...], _Trials] = {}


class _Trials:
    """The copies made so far in one size class that is being measured."""

    __slots__ = ("recheck", "samples", "warm")

    def __init__(self, engines: tuple[str, ...], warm: int, recheck: int) -> None:
        self.warm = warm  # untimed copies made
        self.samples: dict[str, list[float]] = {name: [] for name in engines}
        self.recheck = recheck  # copies the decision will make before the next measurement


class _Decision:
    """The engine of one size class, and when to measure again."""

    __slots__ = ("engine", "recheck", "uses")

    def __init__(self, engine: str, recheck: int) -> None:
        self.engine = engine
        self.recheck = recheck
        self.uses = 0  # counted without a lock: a lost count only delays a re-check


def chosen() -> dict[tuple[Any, ...], str]:
    """The decisions so far: ``(kind, engines, size class) -> engine`` (a copy)."""
    return {
        (engines.kind, engines.names, size_class): decision.engine
        for (engines, size_class), decision in list(_chosen.items())
    }


def _reset() -> None:
    """Forget every decision (for tests and benchmarks)."""
    with _lock:
        _chosen.clear()
        _trials.clear()


def _next_trial(key: tuple[Any, ...], engines: tuple[str, ...]) -> tuple[str, bool]:
    """The engine to use next for ``key``, and whether to time it.

    The decision once there is one; else the engines in turn, untimed while
    they warm up, then the least measured one, timed.
    """
    with _lock:
        decided = _chosen.get(key)
        if decided is not None:
            return decided.engine, False
        trials = _trials.get(key)
        if trials is None:
            trials = _trials[key] = _Trials(engines, 0, RECHECK)
        if trials.warm < WARMUP * len(engines):
            trials.warm += 1
            return engines[trials.warm % len(engines)], False
        samples = trials.samples
        return min(engines, key=lambda name: len(samples[name])), True


def _record(key: tuple[Any, ...], engine: str, seconds_per_byte: float) -> None:
    with _lock:
        trials = _trials.get(key)
        if trials is None:  # decided by another thread meanwhile
            return
        samples = trials.samples
        samples[engine].append(seconds_per_byte)
        if all(len(timings) >= SAMPLES for timings in samples.values()):
            fastest = min(samples, key=lambda name: _median(samples[name]))
            _chosen[key] = _Decision(fastest, trials.recheck)
            del _trials[key]


def _reopen(key: tuple[Any, ...], engines: tuple[str, ...], decision: _Decision) -> None:
    """Measure a decided size class again (its engines are warm: no warm-up)."""
    with _lock:
        if _chosen.get(key) is decision:
            del _chosen[key]
            _trials[key] = _Trials(engines, WARMUP * len(engines), 2 * decision.recheck)


def _median(samples: list[float]) -> float:
    # The median, not the minimum: a copy stalled by another process (torch's
    # threads wait for a core) or one lucky copy must not decide.
    return sorted(samples)[len(samples) // 2]


# An engine makes one copy from a job (the tuple its caller packed): a plain
# function, so a copy builds no closures.
Engine = Callable[[Any], Any]


class Engines:
    """The engines that can make one kind of copy, in the order they are tried.

    Module constants, one per kind of copy and set of engines: a decision is
    keyed by the object itself and the size class, so finding it hashes no
    names.
    """

    __slots__ = ("kind", "names", "table")

    def __init__(self, kind: str, table: dict[str, Engine]) -> None:
        self.kind = kind
        self.table = table
        self.names = tuple(table)

    def __repr__(self) -> str:
        return f"Engines({self.kind!r}, {self.names})"


def _run(engines: Engines, nbytes: int, job: Any, engine: str | None = None) -> Any:
    """Make the copy with the chosen engine, or with one on trial while the size class is open.

    ``engine`` names one to use instead (tests and benchmarks); ``KeyError``
    when it cannot make this copy.
    """
    table = engines.table
    if engine is not None:
        return table[engine](job)
    names = engines.names
    if len(names) == 1 or nbytes < MEASURED_FROM_BYTES:
        return table[names[0]](job)
    key = (engines, nbytes.bit_length())
    decided = _chosen.get(key)  # the common case: one dict lookup, no lock
    if decided is not None:
        decided.uses += 1
        if decided.uses < decided.recheck:
            return table[decided.engine](job)
        _reopen(key, names, decided)
    trial, timed = _next_trial(key, names)
    if not timed:
        return table[trial](job)
    start = perf_counter()
    result = table[trial](job)
    _record(key, trial, (perf_counter() - start) / nbytes)
    return result


_TORCH: list[Any] = []  # torch, once seen fully imported


def ready_torch() -> Any:
    """torch, when it is imported and fully initialised (never mid-import in another thread)."""
    if _TORCH:
        return _TORCH[0]
    torch = sys.modules.get("torch")
    if torch is None or getattr(getattr(torch, "__spec__", None), "_initializing", False):
        return None
    if getattr(torch, "from_numpy", None) is None or getattr(torch, "Tensor", None) is None:
        return None
    _TORCH[:] = [torch]
    return torch


# "numpy": the frozenset of NumPy dtypes both hold; "torch": torch -> NumPy dtype.
_SHARED: Memo[Any] = Memo("dtypes both hold natively", "'numpy' or 'torch'", 2)


def _shared_numpy_types(np: Any) -> Any:
    cached = _SHARED.data.get("numpy")
    if cached is None:  # a race builds the same value twice
        cached = _SHARED.put("numpy", frozenset(np.dtype(name) for name in NATIVE_IN_BOTH))
    return cached


def torch_to_numpy_types(torch: Any, np: Any) -> Any:
    """The NumPy dtype of each torch dtype both hold natively (torch fully imported)."""
    cached = _SHARED.data.get("torch")
    if cached is None:
        cached = _SHARED.put("torch", {getattr(torch, n): np.dtype(n) for n in NATIVE_IN_BOTH})
    return cached


# NumPy sources.


def _read_only_view(torch: Any, a: Any) -> Any:
    """A tensor over read-only ``a``'s memory, only read from; None when torch will not view it.

    It goes through DLPack, which torch imports without the "not writable"
    warning that ``from_numpy`` prints (the tensor is the source of a copy
    and dropped right after); NumPy before 2.1 exports no read-only array.
    A writable array is viewed with ``from_numpy`` by the callers.
    """
    try:
        return torch.from_dlpack(a)
    except (BufferError, TypeError, ValueError, RuntimeError):
        return None


def _positive_view(np: Any, a: Any) -> tuple[Any, tuple[int, ...]] | None:
    """A view of ``a`` that torch can read in place, and the axes reversed to get it.

    None when torch must not read ``a``: a type it lacks, unaligned (torch
    can crash on it), non-native byte order, a stride that is not a multiple
    of the item size.  Negative strides are reversed (the copy flips them
    back); a length-1 axis's stride is never read, but torch checks it, so it
    is reset.
    """
    dtype = a.dtype
    if dtype not in (_SHARED.get("numpy") or _shared_numpy_types(np)):
        return None  # the shared types are all native
    if not a.flags.num & ALIGNED:
        return None
    itemsize = dtype.itemsize
    if dtype.alignment < itemsize and a.__array_interface__["data"][0] % itemsize:
        return None  # NumPy aligns complex to its parts, torch to the whole item
    if type(a) is np.ndarray:
        seen = _one_dimension(a)
        if seen is not None:
            return seen
    flips = []
    unit_axes_odd = False
    for axis, (n, stride) in enumerate(zip(a.shape, a.strides, strict=True)):
        if n == 1:
            unit_axes_odd = unit_axes_odd or stride < 0 or stride % itemsize != 0
        elif stride % itemsize:
            return None
        elif stride < 0:
            flips.append(axis)
    if type(a) is not np.ndarray:
        a = a.view(np.ndarray)  # a memmap or another subclass: the same memory
    if flips:
        a = a[tuple(slice(None, None, -1) if i in flips else slice(None) for i in range(a.ndim))]
    if unit_axes_odd:
        from numpy.lib.stride_tricks import as_strided

        strides = tuple(itemsize if n == 1 else s for n, s in zip(a.shape, a.strides, strict=True))
        a = as_strided(a, a.shape, strides, writeable=a.flags.writeable)
    return a, tuple(flips)


def _one_dimension(a: Any) -> tuple[Any, tuple[int, ...]] | None:
    """The common cases of :func:`_positive_view`: one dimension, its items side by side.

    Forwards, or reversed; None for anything else.  ``a`` is an exact ndarray.
    """
    if a.ndim == 1 and a.shape[0] > 1:
        stride, itemsize = a.strides[0], a.itemsize
        if stride == itemsize:
            return a, ()
        if stride == -itemsize:
            return a[::-1], (0,)
    return None


# The job of an ndarray copy: (numpy, torch, the array, the positive view,
# the axes it reversed, whether the view is writable).


def _ndarray_by_numpy(job: Any) -> Any:
    return job[0].array(job[2], copy=True, order="K", subok=False)


def _ndarray_by_numpy_buffer(job: Any) -> Any:
    np, torch, _, positive, _, writable = job
    source = torch.from_numpy(positive) if writable else _read_only_view(torch, positive)
    if source is None:
        return _ndarray_by_numpy(job)
    out = np.empty_like(positive, order="K")
    torch.from_numpy(out).copy_(source)
    return out


def _ndarray_by_torch(job: Any) -> Any:
    _, torch, _, positive, flips, writable = job
    if writable:
        source = torch.from_numpy(positive)
        # torch's flip kernel reverses in SIMD registers; NumPy's copy of a
        # reversed view goes item by item (several times slower to 8 MiB).
        result = _flip(torch, source, flips) if flips else source.clone()
    elif flips or positive.ndim == 0:
        # (A 0-d array: torch.asarray reads it through from_numpy, which warns
        # that it is not writable, copy=True or not.)
        source = _read_only_view(torch, positive)
        if source is None:
            return _ndarray_by_numpy(job)
        result = _flip(torch, source, flips) if flips else source.clone()
    else:
        # torch's own copy of read-only memory, without from_numpy's warning
        # (and cheaper than a DLPack view and a clone).
        result = torch.asarray(positive, copy=True)
    return result.numpy()


# Whether torch's flip kernel takes a dtype (uint16/32/64 have none in torch
# 2.13: "flip_cpu" not implemented), probed once per dtype.
_FLIPS: Memo[bool] = Memo("torch flip kernels by dtype", "a torch dtype", 64)
# The signed integer of each item size: a bit-exact carrier for a flip.
_CARRIERS = {1: "int8", 2: "int16", 4: "int32", 8: "int64"}


def _flip(torch: Any, t: Any, flips: tuple[int, ...]) -> Any:
    """``t.flip(*flips)``, through a same-width integer view where torch has no flip kernel.

    A flip moves items and never reads their values, so flipping the bits as
    a signed integer of the same width is the same copy, bit for bit.  The
    axes go as separate arguments: torch parses a tuple of them 0.3 us slower.
    """
    dtype = t.dtype
    flips_it = _FLIPS.data.get(dtype)
    if flips_it is None:
        try:
            torch.zeros(2, dtype=dtype).flip(0)
        except (NotImplementedError, RuntimeError):
            flips_it = False
        else:
            flips_it = True
        _FLIPS.put(dtype, flips_it)
    if flips_it:
        return t.flip(*flips)
    carrier = getattr(torch, _CARRIERS[t.element_size()])
    return t.view(carrier).flip(*flips).view(dtype)


_NDARRAY_BY_NUMPY = Engines("ndarray", {NUMPY: _ndarray_by_numpy})
_NDARRAY_FOR_NUMPY = Engines(
    "ndarray", {NUMPY: _ndarray_by_numpy, NUMPY_BUFFER: _ndarray_by_numpy_buffer}
)
_NDARRAY_ANY = Engines(
    "ndarray",
    {NUMPY: _ndarray_by_numpy, NUMPY_BUFFER: _ndarray_by_numpy_buffer, TORCH: _ndarray_by_torch},
)
_REVERSED_BY_NUMPY = Engines("reversed ndarray", {NUMPY: _ndarray_by_numpy})
_REVERSED_ANY = Engines("reversed ndarray", {NUMPY: _ndarray_by_numpy, TORCH: _ndarray_by_torch})


def copy_ndarray(a: Any, *, numpy_memory: bool, engine: str | None = None) -> Any:
    """A new writable base-class ndarray equal to ``a``, laid out as ``np.array(a, order="K")``.

    ``numpy_memory`` asks for a buffer NumPy allocated (the result is the
    user's array); otherwise torch's allocator may serve too (the result is
    handed straight to ``torch.from_numpy``).  ``engine`` forces one
    (``KeyError`` when it cannot make this copy).
    """
    np = sys.modules["numpy"]
    nbytes = a.nbytes
    if engine is None and nbytes < MEASURED_FROM_BYTES:
        return np.array(a, copy=True, order="K", subok=False)
    torch = _TORCH[0] if _TORCH else ready_torch()
    seen = None if torch is None or not isinstance(a, np.ndarray) else _positive_view(np, a)
    if seen is None:
        return _run(_NDARRAY_BY_NUMPY, nbytes, (np, torch, a, a, (), False), engine)
    positive, flips = seen
    flags = positive.flags.num
    job = (np, torch, a, positive, flips, flags & WRITEABLE)
    # torch lays out other strides its own way: its allocator only for dense views.
    torch_may_allocate = not numpy_memory and flags & CONTIGUOUS
    if flips:
        return _run(
            _REVERSED_ANY if torch_may_allocate else _REVERSED_BY_NUMPY, nbytes, job, engine
        )
    return _run(_NDARRAY_ANY if torch_may_allocate else _NDARRAY_FOR_NUMPY, nbytes, job, engine)


# torch sources.


def _numpy_dtype(t: Any) -> Any:
    """The NumPy dtype of ``t`` when ``t.numpy()`` is a contiguous view of ``t`` as it is.

    Else None.  Contiguous only: for those every engine makes the same layout.
    """
    np = sys.modules.get("numpy")
    if np is None:
        return None
    dtype = torch_to_numpy_types(sys.modules["torch"], np).get(t.dtype)
    if (
        dtype is None
        or not t.is_cpu
        or t.requires_grad
        or t.is_conj()
        or t.is_neg()
        or not t.is_contiguous()
    ):
        return None
    return dtype


# The job of a tensor copy or cast: (numpy, torch, the tensor, the NumPy dtype
# of the result, the torch dtype of the result).


def _tensor_by_torch(job: Any) -> Any:
    return job[2].clone()


def _tensor_by_numpy(job: Any) -> Any:
    _, torch, t, _, _ = job
    return torch.from_numpy(t.numpy().copy())


def _tensor_by_numpy_buffer(job: Any) -> Any:
    np, torch, t, dtype, _ = job
    return torch.from_numpy(np.empty(tuple(t.shape), dtype)).copy_(t)


def _cast_by_torch(job: Any) -> Any:
    return job[2].to(job[4])


_TENSOR_BY_TORCH = Engines("tensor", {TORCH: _tensor_by_torch})
_TENSOR_ANY = Engines(
    "tensor",
    {TORCH: _tensor_by_torch, NUMPY: _tensor_by_numpy, NUMPY_BUFFER: _tensor_by_numpy_buffer},
)
_CAST_BY_TORCH = Engines("cast", {TORCH: _cast_by_torch})
_CAST_ANY = Engines("cast", {TORCH: _cast_by_torch, NUMPY_BUFFER: _tensor_by_numpy_buffer})


def copy_tensor(t: Any, *, engine: str | None = None) -> Any:
    """A new tensor equal to ``t`` whose data is about to leave torch.

    Not differentiable, unlike ``clone`` (torch -> torch copies do not come
    here).  ``engine`` forces one (``KeyError`` when it cannot make this copy).
    """
    nbytes = t.numel() * t.element_size()
    if engine is None and nbytes < MEASURED_FROM_BYTES:
        return t.clone()
    dtype = _numpy_dtype(t)
    engines = _TENSOR_BY_TORCH if dtype is None else _TENSOR_ANY
    job = (sys.modules.get("numpy"), sys.modules["torch"], t, dtype, None)
    return _run(engines, nbytes, job, engine)


def cast_tensor(t: Any, dtype: Any, *, plain: bool = False, engine: str | None = None) -> Any:
    """``t.to(dtype)``: torch's own cast, into a buffer from the faster allocator.

    Both engines run the same kernel (``Tensor.to`` is an empty tensor and
    ``copy_``), so the values are torch's whichever allocator serves.  Only
    for data without autograd history that came from NumPy or leaves torch:
    the result may be NumPy memory, whose storage torch cannot resize.
    ``plain``: the caller knows ``t`` is a C-contiguous CPU tensor without
    grad or lazy bits (``from_numpy`` of a C-contiguous array), so it is not
    read again.  ``engine`` forces one (``KeyError`` when it cannot make this
    cast).
    """
    nbytes = t.numel() * dtype.itemsize
    if engine is None and nbytes < MEASURED_FROM_BYTES:
        return t.to(dtype)
    np = sys.modules.get("numpy")
    torch = sys.modules["torch"]
    target = None if np is None else torch_to_numpy_types(torch, np).get(dtype)
    engines = _CAST_BY_TORCH
    if target is not None and (plain or _numpy_dtype(t) is not None):
        engines = _CAST_ANY
    return _run(engines, nbytes, (np, torch, t, target, dtype), engine)
