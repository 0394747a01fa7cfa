"""DLPack producers that lie, break the protocol or fail: documented errors, capsules released.

Every case runs through both ``plan`` and ``convert`` (to NumPy, and to torch
where it is installed): they raise the same documented error, the producer's deleter has run before
the error reaches the caller, and no consumer ever saw the data.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import sys
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from capsules import CREATED, DELETED, Hostile, Producer, make_capsule
from frameworks import CONSUMERS, needs_torch, torch, torch_param

import xpbridge as xb
from xpbridge._cli.upstream import run_python
from xpbridge._pipeline.pipeline import compiled_for
from xpbridge._pipeline.request import request_of
from xpbridge.backends.torch import TorchBackend


def _request(x: Any, to: str, device: Any, dtype: Any, copy: Any) -> tuple[Any, Any]:
    """The plan convert follows for ``x``, and what its steps work on."""
    entry, prepared = compiled_for(x, request_of(to, device, dtype, copy, "detach", False))
    return entry.plan, prepared


@contextlib.contextmanager
def released_at_once() -> Iterator[None]:
    """Every capsule made inside has had its deleter run, exactly once, when the block ends.

    No garbage collection is asked for first: a refused capsule is released
    when it is refused, not when a traceback that holds it dies.
    """
    gc.collect()
    created, deleted = len(CREATED), len(DELETED)
    yield
    made = CREATED[created:]
    assert made, "the producer made no capsule"
    ran = DELETED[deleted:]
    assert -1 not in ran
    assert sorted(s for s in ran if s >= made[0]) == made


def _same_error_everywhere(
    make: Callable[[], Any],
    error: type[xb.ConversionError],
    match: str,
    targets: tuple[str, ...] = CONSUMERS,
) -> list[BaseException]:
    """plan and convert, to each target: all raise ``error``; the messages agree."""
    seen = []
    for target in targets:
        for call in (xb.plan, xb.convert):
            with pytest.raises(error, match=match) as info:
                call(make(), target)
            seen.append(info.value)
    assert len({str(e) for e in seen}) == 1, {str(e) for e in seen}
    return seen


# --- the capsule disagrees with __dlpack_device__ ------------------------------------


@pytest.mark.rule("dlpack-device-mismatch")
def test_a_host_capsule_that_is_not_on_the_host_is_refused() -> None:
    with released_at_once():
        _same_error_everywhere(
            lambda: Hostile(np.arange(4.0), device=(1, 0), capsule_device=(2, 0)),
            xb.DeviceError,
            r"capsule on cuda:0, but its data should be on cpu",
        )


@pytest.mark.rule("dlpack-device-mismatch")
@needs_torch
@pytest.mark.parametrize("capsule", [(1, 0), (2, 1)], ids=["cpu", "cuda:1"])
def test_a_device_capsule_elsewhere_than_dlpack_device_says_is_refused(
    capsule: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # torch pretends to hold cuda:0, so the capsule is asked for in place, as on a GPU.
    monkeypatch.setattr(TorchBackend, "resolve_device", lambda self, d: d)
    monkeypatch.setattr(TorchBackend, "consumer_stream", lambda self, d: None)
    with released_at_once():
        _same_error_everywhere(
            lambda: Hostile(np.arange(4.0), device=(2, 0), capsule_device=capsule),
            xb.DeviceError,
            r"but its data should be on cuda:0",
            targets=("torch",),
        )


@pytest.mark.rule("dlpack-device-mismatch")
def test_a_host_copy_that_is_not_on_the_host_is_refused() -> None:
    class Liar(Producer):
        def __dlpack__(self, **kwargs: Any) -> Any:  # "copies" to the host, stays on cuda
            from capsules import make_capsule

            self.requests.append(kwargs)
            return make_capsule(self.a.copy(), device=(2, 0), flags=2)

    with released_at_once(), pytest.raises(xb.DeviceError, match="asked for with dl_device"):
        xb.to_numpy(Liar(np.arange(3.0), device=(2, 0)))  # plan() cannot know: it asks no copy


# --- versions this reader does not know -------------------------------------------------


@pytest.mark.rule("dlpack-unknown-version")
@pytest.mark.parametrize("version", [(2, 0), (0, 9), (7, 3)])
def test_capsule_of_an_unknown_major_version_is_released_unread(
    version: tuple[int, int],
) -> None:
    with released_at_once():
        _same_error_everywhere(
            lambda: Hostile(np.arange(3.0), version=version),
            xb.UnsupportedInputError,
            rf"version {version[0]}\.{version[1]}",
        )


@pytest.mark.rule("dlpack-unknown-version")
def test_a_newer_minor_version_is_read() -> None:
    p = Hostile(np.arange(3.0), version=(1, 7))  # minor versions keep the layout
    assert xb.to_numpy(p).tolist() == [0.0, 1.0, 2.0]


_GUARDED = """
import ctypes, mmap
import xpbridge as xb
from capsules import CREATED, DELETED, make_head_capsule

page = mmap.PAGESIZE
memory = mmap.mmap(-1, 2 * page)
base = ctypes.addressof(ctypes.c_char.from_buffer(memory))
libc = ctypes.CDLL(None)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
assert libc.mprotect(base + page, page, 0) == 0  # PROT_NONE: reading it is SIGSEGV
head = base + page - 24  # version, manager_ctx, deleter: the guard page follows

class Producer:
    def __dlpack_device__(self):
        return (1, 0)
    def __dlpack__(self, **kwargs):
        return make_head_capsule(head, VERSION)

try:
    xb.to_numpy(Producer())
except xb.UnsupportedInputError as e:
    print("refused:", e)
print("deleted:", DELETED == CREATED == [0])
"""


@pytest.mark.rule("dlpack-unknown-version")
@pytest.mark.subprocess
@pytest.mark.skipif(sys.platform != "linux", reason="mprotect through libc, as on Linux")
def test_nothing_past_the_version_is_read() -> None:
    # The capsule is only the head dlpack.h keeps stable across versions, with a
    # page that cannot be read right after it.  A 2.0 capsule is refused and its
    # deleter called without touching that page; a 1.0 capsule (read in full) dies
    # there, which shows the guard works.
    newer = run_python(textwrap.dedent(_GUARDED).replace("VERSION", "(2, 0)"))
    assert newer.returncode == 0, newer.stderr
    assert "refused:" in newer.stdout and "version 2.0" in newer.stdout
    assert "deleted: True" in newer.stdout
    known = run_python(textwrap.dedent(_GUARDED).replace("VERSION", "(1, 0)"))
    assert known.returncode == -signal.SIGSEGV, (known.returncode, known.stdout, known.stderr)


# --- malformed capsules ------------------------------------------------------------------


_MALFORMED = """
import importlib.util
import numpy as np
import xpbridge as xb
from capsules import CREATED, DELETED, TAMPERS, Hostile

targets = ("numpy", "torch") if importlib.util.find_spec("torch") else ("numpy",)
for name, (tamper, match) in TAMPERS.items():
    for target in targets:
        for call in (xb.plan, xb.convert):
            made = len(CREATED)
            try:
                call(Hostile(np.arange(6.0).reshape(2, 3), tamper=tamper), target)
            except xb.UnsupportedInputError as e:
                released = DELETED[-1:] == CREATED[made:]  # released at once, no GC
                print(name, target, call.__name__, match in str(e) and released, flush=True)
            else:
                print(name, target, call.__name__, "accepted", flush=True)
"""


@pytest.mark.rule("dlpack-malformed-capsule")
@pytest.mark.subprocess
def test_malformed_capsules_are_refused() -> None:
    # In a child interpreter: read as they are, some of these capsules can crash the reader.
    from capsules import TAMPERS

    done = run_python(_MALFORMED)
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    lines = done.stdout.splitlines()
    assert len(lines) == 2 * len(CONSUMERS) * len(TAMPERS)
    assert all(line.endswith(" True") for line in lines), done.stdout


@pytest.mark.rule("dlpack-malformed-capsule")
@needs_torch
def test_a_null_data_pointer_is_fine_for_size_zero() -> None:
    from capsules import TAMPERS

    null_data = TAMPERS["null-data"][0]
    p = Hostile(np.zeros((0, 3)), tamper=null_data)  # dlpack.h: size 0 may have NULL data
    with released_at_once():
        a = xb.to_numpy(p, copy=False)
        t = xb.to_torch(p)
        assert a.shape == (0, 3) and tuple(t.shape) == (0, 3)
        del a, t


# --- __dlpack_device__ returns garbage --------------------------------------------------


@pytest.mark.rule("dlpack-garbage-device")
@pytest.mark.parametrize(
    "reply",
    [(1,), (1, 0, 0), ("1", 0), (1.0, 0), (1, None), (True, 0), None, 5, [1, 0], (2, -1)],
    ids=repr,
)
def test_garbage_from_dlpack_device_is_unsupported_input(reply: Any) -> None:
    p = Hostile(np.arange(3.0), device_reply=reply)
    _same_error_everywhere(lambda: p, xb.UnsupportedInputError, r"__dlpack_device__\(\)")
    assert p.requests == []  # refused before any capsule was asked for


@pytest.mark.rule("dlpack-garbage-device")
def test_an_unknown_device_type_is_a_device_error() -> None:
    p = Hostile(np.arange(3.0), device_reply=(99, 0))
    _same_error_everywhere(lambda: p, xb.DeviceError, "DLPack device type 99")
    assert p.requests == []


# --- __dlpack__ returns something that is not a capsule ----------------------------------


def _used_capsule() -> Any:
    capsule = torch.utils.dlpack.to_dlpack(torch.arange(3.0))
    torch.utils.dlpack.from_dlpack(capsule)  # consumed: renamed "used_dltensor"
    return capsule


def _foreign_capsule() -> Any:
    from capsules import _api

    return _api.PyCapsule_New(id(_foreign_capsule), b"not_a_dltensor", None)


_NOT_CAPSULES: dict[str, Callable[[], Any]] = {
    "None": lambda: None,
    "str": lambda: "dltensor",
    "int": lambda: 7,
    "ndarray": lambda: np.arange(3),
    "used-capsule": _used_capsule,
    "foreign-capsule": _foreign_capsule,
}


@pytest.mark.rule("dlpack-not-a-capsule")
@pytest.mark.parametrize(
    "reply", [torch_param(r) if r == "used-capsule" else r for r in _NOT_CAPSULES]
)
def test_dlpack_returning_no_capsule_is_unsupported_input(reply: str) -> None:
    _same_error_everywhere(
        lambda: Hostile(np.arange(3.0), returns=_NOT_CAPSULES[reply]()),
        xb.UnsupportedInputError,
        "not an unused DLPack capsule",
    )


# --- producer exceptions ------------------------------------------------------------------


@pytest.mark.rule("dlpack-producer-exceptions")
@pytest.mark.parametrize(
    "raised",
    [RuntimeError("device lost"), KeyError("shape"), AttributeError("_impl"), OSError(5, "io")],
    ids=lambda e: type(e).__name__,
)
def test_producer_exceptions_are_wrapped_with_the_original_chained(raised: Exception) -> None:
    seen = _same_error_everywhere(
        lambda: Hostile(np.arange(3.0), raises=raised),
        xb.UnsupportedInputError,
        rf"__dlpack__ refused to export this array \({type(raised).__name__}",
    )
    assert all(e.__cause__ is raised for e in seen)
    broken = Hostile(np.arange(3.0), device_reply=raised)
    with pytest.raises(xb.UnsupportedInputError, match="__dlpack_device__") as info:
        xb.to_numpy(broken)
    assert info.value.__cause__ is raised


@pytest.mark.rule("dlpack-producer-exceptions")
@pytest.mark.parametrize("copy", [None, True, False])
def test_a_buffer_error_is_a_copy_error_only_under_copy_false(copy: bool | None) -> None:
    refused = BufferError("cannot export this layout without a copy")
    p = Hostile(np.arange(3.0), raises=refused)
    expected = xb.CopyError if copy is False else xb.UnsupportedInputError
    for call in (xb.plan, xb.convert):
        with pytest.raises(expected) as info:
            call(p, "numpy", copy=copy)
        assert info.value.__cause__ is refused


@pytest.mark.rule("dlpack-producer-exceptions")
@pytest.mark.parametrize("raised", [KeyboardInterrupt(), SystemExit(3)], ids=repr)
@pytest.mark.parametrize("where", ["__dlpack__", "__dlpack_device__"])
def test_base_exception_only_ones_pass_through_raw(raised: BaseException, where: str) -> None:
    if where == "__dlpack__":
        p = Hostile(np.arange(3.0), raises=raised)
    else:
        p = Hostile(np.arange(3.0), device_reply=raised)
    for call in (xb.plan, xb.convert):
        with pytest.raises(type(raised)) as info:
            call(p, "numpy")
        assert info.value is raised and not isinstance(info.value, xb.ConversionError)


# --- legacy retry: the signature, never the producer's own refusal ------------------------


class Legacy:
    """A producer from before DLPack 1.0: its __dlpack__ has no keywords but stream."""

    def __init__(self, a: np.ndarray) -> None:
        self.a, self.calls = a, 0

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)

    def __dlpack__(self, stream: Any = None) -> Any:
        from capsules import make_capsule

        self.calls += 1
        return make_capsule(self.a, versioned=False)


class ArrowLikeTypeError(TypeError):
    """A TypeError subclass a library raises for its own reasons (as pyarrow's ArrowTypeError)."""


@pytest.mark.rule("dlpack-refusal-not-retried")
def test_a_real_signature_rejection_is_retried_with_the_legacy_call() -> None:
    p = Legacy(np.arange(3.0))
    assert xb.to_numpy(p).tolist() == [0.0, 1.0, 2.0]
    assert p.calls == 1  # the versioned call never entered the body: Python refused it

    class OldStrict(Producer):  # array-api-strict on NumPy < 2.1
        def __dlpack__(self, **kwargs: Any) -> Any:
            if "max_version" in kwargs:
                self.requests.append(kwargs)
                raise NotImplementedError(
                    "The max_version argument to __dlpack__ is not yet implemented"
                )
            return super().__dlpack__(**kwargs)

    q = OldStrict(np.arange(2.0))
    assert xb.to_numpy(q).tolist() == [0.0, 1.0]
    assert q.requests == [{"max_version": (1, 1)}, {}]


@pytest.mark.rule("dlpack-refusal-not-retried")
@pytest.mark.parametrize(
    "refusal",
    [
        ArrowLikeTypeError("Can only use DLPack on arrays with no nulls."),
        TypeError("dtype object cannot be exported"),
        NotImplementedError("complex128 export is not implemented"),
    ],
    ids=["TypeError-subclass", "TypeError-about-the-array", "NotImplementedError-not-an-argument"],
)
def test_the_producers_own_refusal_is_never_retried(refusal: Exception) -> None:
    class Refuses(Producer):
        def __dlpack__(self, **kwargs: Any) -> Any:
            self.requests.append(kwargs)
            if not kwargs:
                import warnings

                warnings.warn("legacy export is deprecated", DeprecationWarning, stacklevel=2)
            raise refusal

    p = Refuses(np.arange(3.0))
    with pytest.raises(xb.UnsupportedInputError, match="refused to export") as info:
        xb.to_numpy(p)
    assert info.value.__cause__ is refusal
    assert p.requests == [{"max_version": (1, 1)}]  # asked once: no legacy retry, no warning


# --- plan() never moves or copies data ------------------------------------------------------


def _copy_requests(p: Producer) -> list[dict[str, Any]]:
    return [r for r in p.requests if r.get("copy") is True or "dl_device" in r]


@pytest.mark.rule("plan-never-copies")
@pytest.mark.parametrize("copy", [None, True])
@pytest.mark.parametrize("target", ["numpy", torch_param("torch"), "array_api_strict"])
def test_planning_a_device_producer_asks_for_no_copy(copy: bool | None, target: str) -> None:
    p = Producer(np.arange(4.0), device=(2, 0), host_copy_on_request=True)
    device = "cpu" if target == "torch" else None  # torch would keep it on cuda:0
    with released_at_once():
        planned = xb.plan(p, target, device=device, copy=copy)
    assert _copy_requests(p) == [] and len(p.requests) == 1  # read in place, once
    assert "stream" not in p.requests[0]  # a host consumer passes no stream
    converting, exported = _request(p, target, device, None, copy)
    assert planned == converting  # the plan convert follows is the one plan() gave
    assert _copy_requests(p) == [{"max_version": (1, 1), "dl_device": (1, 0), "copy": True}]
    del exported
    result = xb.convert(p, target, device=device, copy=copy)
    assert xb.to_numpy(result).tolist() == [0.0, 1.0, 2.0, 3.0]
    assert not xb.shares_memory(p, result) and not planned.aliases


@pytest.mark.rule("plan-never-copies")
@needs_torch
def test_planning_a_negative_stride_device_array_asks_for_no_copy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(TorchBackend, "resolve_device", lambda self, d: d)
    monkeypatch.setattr(TorchBackend, "consumer_stream", lambda self, d: None)
    p = Producer(np.arange(4.0)[::-1], device=(2, 0))
    with released_at_once():
        planned = xb.plan(p, "torch")
    assert _copy_requests(p) == []
    converting, _ = _request(p, "torch", None, None, None)
    assert _copy_requests(p) == [{"max_version": (1, 1), "copy": True}]
    assert planned == converting and not planned.aliases


@pytest.mark.rule("plan-never-copies")
@pytest.mark.parametrize("copy", [None, True, False])
@pytest.mark.parametrize("target", ["numpy", torch_param("torch")])
def test_planning_a_host_producer_asks_for_an_export_in_place_only(
    copy: bool | None, target: str
) -> None:
    p = Producer(np.arange(4.0))
    with released_at_once():
        planned = xb.plan(p, target, copy=copy)
    assert _copy_requests(p) == []
    assert planned == _request(p, target, None, None, copy)[0]


class _IgnoresCopy(Producer):
    """Claims a device, and answers a host copy request with its own memory, unflagged."""

    def __dlpack__(self, **kwargs: Any) -> Any:
        self.requests.append(kwargs)
        if kwargs.get("copy") is True:
            return make_capsule(self.a)  # in place, no IS_COPIED: copy=True ignored
        return make_capsule(self.a, device=self.device)


@pytest.mark.rule("dlpack-device-mismatch")
@pytest.mark.parametrize("target", ["numpy", torch_param("torch")])
def test_a_producer_that_ignores_copy_true_is_refused(target: str) -> None:
    a = np.arange(3.0)
    p = _IgnoresCopy(a, device=(2, 0))
    with released_at_once(), pytest.raises(xb.UnsupportedInputError, match="ignored copy=True"):
        xb.convert(p, target, device="cpu")
    assert a.tolist() == [0.0, 1.0, 2.0]  # nothing aliased, nothing written
    honest = Producer(np.arange(3.0), device=(2, 0), host_copy_on_request=True)
    assert xb.to_numpy(honest).tolist() == [0.0, 1.0, 2.0]  # a real copy passes
