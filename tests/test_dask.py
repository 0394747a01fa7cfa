"""Dask arrays as a source, convert_chunks, and compute_in inside map_blocks.

spec/trees.toml, rules dask-* and compute-in-map-blocks.  The cluster tests
start a real distributed LocalCluster (in-process workers, and one worker
process on loopback TCP) and close it, each within a timeout.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from frameworks import CONSUMERS, needs_torch, torch

import xpbridge as xb
from xpbridge.testing import assert_bitwise_equal

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
from dask.callbacks import Callback

TIMEOUT = 60  # seconds for a cluster to start and for a computation to finish


class CountTasks(Callback):  # type: ignore[misc]
    """Counts the tasks Dask's local schedulers run while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def _pretask(self, key: Any, dsk: Any, state: Any) -> None:
        self.count += 1


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            dashboard_address=":0",  # any free port: never a warning about 8787
            timeout=TIMEOUT,
        ) as cluster,
        distributed.Client(cluster, timeout=TIMEOUT) as client,
    ):
        yield client


def _array() -> Any:
    return da.from_array(np.arange(12, dtype=np.float32).reshape(3, 4), chunks=(2, 2))


def test_plan_computes_nothing() -> None:
    d = _array()
    with CountTasks() as counted:
        plans = {target: xb.plan(d, target) for target in CONSUMERS}
        xb.plan_tree({"d": d}, "numpy")
    assert counted.count == 0
    assert plans["numpy"].steps == ("compute",)
    if torch is not None:
        assert plans["torch"].steps == ("compute", "from_numpy") and not plans["torch"].aliases


def test_convert_computes_a_new_buffer() -> None:
    source = np.arange(12, dtype=np.float32).reshape(3, 4)
    d = da.from_array(source, chunks=(3, 4))  # one chunk: Dask may hand back its own buffer
    with CountTasks() as counted:
        result = xb.convert(d, "numpy")
    assert counted.count > 0  # computed through Dask's scheduler
    assert_bitwise_equal(result, source)
    assert result.flags.writeable and not np.shares_memory(result, source)
    result[0, 0] = 99.0
    assert d.compute()[0, 0] == 0.0
    if torch is not None:
        tensor = xb.convert(d, "torch", dtype="float64")
        assert tensor.dtype == torch.float64 and tensor.tolist() == source.tolist()
        copied = xb.convert(d, "torch", copy=True)
        assert_bitwise_equal(copied, source)
    scalar = xb.convert(d.sum(), "numpy")  # Dask computes a 0-d array to a NumPy scalar
    assert isinstance(scalar, np.ndarray) and scalar.shape == () and scalar == 66.0


@pytest.mark.parametrize("target", CONSUMERS)
def test_copy_false_is_a_copy_error(target: str) -> None:
    d = _array()
    with pytest.raises(xb.CopyError, match="computes it into a new buffer") as planned:
        xb.plan(d, target, copy=False)
    with CountTasks() as counted, pytest.raises(xb.CopyError) as converted:
        xb.convert(d, "numpy", copy=False)
    assert counted.count == 0
    assert str(planned.value).replace(target, "numpy") == str(converted.value)
    empty = da.zeros((0, 3), chunks=2)
    assert xb.convert(empty, target, copy=False).shape == (0, 3)  # no memory: nothing to copy


def test_dask_to_dask() -> None:
    d = _array()
    assert xb.convert(d, "dask") is d
    assert xb.convert(d, da, copy=False) is d
    assert xb.convert(d, _array()) is d
    copied = xb.convert(d, "dask", copy=True)
    assert copied is not d and isinstance(copied, da.Array)
    assert_bitwise_equal(copied.compute(), d.compute())


def test_numpy_to_dask_wraps() -> None:
    a = np.arange(6.0)
    xb.plan(np.ones(1), "dask")  # the first plan to Dask probes from_array once (two tasks)
    with CountTasks() as counted:
        p = xb.plan(a, "dask")
        d = xb.convert(a, "dask")
    assert counted.count == 0
    assert p.steps == ("from_array",) and isinstance(d, da.Array)
    assert d.compute().tolist() == a.tolist()
    a[0] = 7.0
    # Whether the Dask array sees the write is what this Dask's from_array does
    # (recent versions copy), probed once; the plan says which.
    assert bool(d.compute()[0] == 7.0) is p.aliases
    if not p.aliases:
        with pytest.raises(xb.CopyError):
            xb.convert(a, "dask", copy=False)
    assert d.dtype == np.float64
    if torch is not None:
        t = xb.convert(torch.ones(2), "dask", dtype="float64")
        assert t.dtype == np.float64 and t.compute().tolist() == [1.0, 1.0]


@pytest.mark.parametrize("target", CONSUMERS)
def test_non_numpy_chunks_are_unsupported(target: str) -> None:
    masked = da.ma.masked_array(da.arange(4, chunks=2), mask=[True, False, False, True])
    with pytest.raises(xb.UnsupportedInputError, match=r"Dask array of numpy\.ma"):
        xb.convert(masked, target)
    with pytest.raises(xb.UnsupportedInputError, match=r"^tree\[0\]: "):
        xb.convert_tree([masked], target)


@pytest.mark.parametrize("target", CONSUMERS)
def test_convert_uses_the_active_client(client: Any, target: str) -> None:
    d = _array()
    with distributed.get_task_stream(client) as stream:
        result = xb.convert(d, target)
    assert result.tolist() == d.compute().tolist()
    workers = {task["worker"] for task in stream.data}
    assert stream.data and workers <= set(client.scheduler_info()["workers"])


def _library(x: Any) -> str:
    return type(x).__module__.partition(".")[0]


def _dtype(x: Any) -> str:
    return str(x.dtype).rpartition(".")[2]


@pytest.mark.parametrize("target", CONSUMERS)
def test_convert_chunks_runs_no_task(client: Any, target: str) -> None:
    d = _array()
    before = set(client.cluster.scheduler.tasks)
    with CountTasks() as counted:
        converted = xb.convert_chunks(d, target)
    assert counted.count == 0  # Dask's local schedulers ran nothing
    # nor did the cluster: no task submitted (earlier tests' tasks may still be released)
    assert set(client.cluster.scheduler.tasks) - before == set()
    assert isinstance(converted, da.Array) and converted.chunks == d.chunks
    assert _library(converted._meta) == target and _dtype(converted._meta) == "float32"


@pytest.mark.parametrize("target", CONSUMERS)
def test_convert_chunks_on_a_local_cluster(client: Any, target: str) -> None:
    d = _array()
    converted = xb.convert_chunks(d, target, dtype="float64")
    with distributed.get_task_stream(client) as stream:
        blocks = client.gather(client.compute(list(converted.to_delayed().ravel())))
    expected = [b.compute() for b in d.to_delayed().ravel()]
    assert len(blocks) == len(expected) == 4
    for block, chunk in zip(blocks, expected, strict=True):
        assert _library(block) == target and _dtype(block) == "float64"
        assert block.tolist() == chunk.tolist()
    converting = [t for t in stream.data if "xpbridge-convert" in str(t["key"])]
    assert {t["key"][1:] for t in converting} == {(0, 0), (0, 1), (1, 0), (1, 1)}  # every chunk
    assert {t["worker"] for t in converting} <= set(client.scheduler_info()["workers"])


@pytest.mark.subprocess
@pytest.mark.parametrize("target", CONSUMERS)
def test_convert_chunks_on_worker_processes(target: str) -> None:
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",  # any free port: never a warning about 8787
            timeout=TIMEOUT,
        ) as cluster,
        distributed.Client(cluster, timeout=TIMEOUT) as client,
    ):
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        converted = xb.convert_chunks(_array(), target)
        blocks = client.gather(client.compute(list(converted.to_delayed().ravel())))
        assert all(_library(b) == target for b in blocks)
        assert sum(float(xb.to_numpy(b).sum()) for b in blocks) == 66.0
        (pid,) = client.run(os.getpid).values()
        assert pid != os.getpid()  # the chunks were converted in the worker's process


@needs_torch
def test_compute_in_inside_map_blocks(client: Any) -> None:
    @xb.compute_in("torch")
    def softplus(chunk: Any) -> Any:
        assert isinstance(chunk, torch.Tensor)  # on the worker: raises there if not
        return torch.nn.functional.softplus(chunk)

    d = _array()
    with distributed.get_task_stream(client) as stream:
        result = d.map_blocks(softplus, dtype=np.float32).compute()
    assert isinstance(result, np.ndarray) and result.dtype == np.float32
    expected = torch.nn.functional.softplus(torch.arange(12.0).reshape(3, 4)).numpy()
    np.testing.assert_allclose(result, expected, rtol=1e-6)
    ran = {t["key"][1:] for t in stream.data if "softplus" in str(t["key"])}
    assert ran == {(0, 0), (0, 1), (1, 0), (1, 1)}


def _read_only(chunk: Any) -> Any:
    view = chunk.view()
    view.flags.writeable = False
    return view


@pytest.mark.parametrize("target", CONSUMERS)
def test_convert_chunks_errors_come_early(target: str) -> None:
    with CountTasks() as counted:
        with pytest.raises(xb.DeviceError):
            xb.convert_chunks(_array(), "numpy", device="cuda")
        with pytest.raises(xb.ArgumentError, match="copy must be"):
            xb.convert_chunks(_array(), target, copy="no")
    assert counted.count == 0
    with pytest.raises(xb.UnsupportedInputError, match=r"needs a dask\.array\.Array"):
        xb.convert_chunks(np.ones(2), target)


@needs_torch  # the errors that only a torch target has
def test_convert_chunks_errors_come_early_for_torch() -> None:
    wide = da.from_array(np.ones(4, dtype=np.longdouble), chunks=2)
    with CountTasks() as counted, pytest.raises(xb.DTypeError):
        xb.convert_chunks(wide, "torch")
    assert counted.count == 0
    readonly = da.ones(4, chunks=2).map_blocks(_read_only, dtype=np.float64)
    lazy = xb.convert_chunks(readonly, "torch", copy=False)
    with pytest.raises(xb.CopyError):  # a chunk's memory decides: raised when computed
        lazy.blocks[0].compute(scheduler="sync")


def test_a_cast_of_a_dask_array_is_lazy() -> None:
    d = da.arange(6, chunks=3)
    for dtype in ("float32", "int8", "complex64", "bool", "uint16"):  # every one failed before
        with CountTasks() as counted:
            p = xb.plan(d, "dask", dtype=dtype)
            cast = xb.convert(d, "dask", dtype=dtype)
        assert counted.count == 0  # nothing computed
        assert p.steps == ("cast",) and not p.aliases
        assert isinstance(cast, da.Array) and cast.dtype == np.dtype(dtype)
        assert type(cast._meta) is np.ndarray and cast._meta.dtype == np.dtype(dtype)
        assert_bitwise_equal(cast.compute(), np.arange(6).astype(dtype))
    with pytest.raises(xb.CopyError):
        xb.convert(d, "dask", dtype="float32", copy=False)  # a cast is a new buffer
    complex_values = da.from_array(np.array([1 + 2j, 3e40 + 1j]), chunks=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's own casts, without their warnings
        narrowed = xb.convert(complex_values, "dask", dtype="float32").compute()
    assert narrowed.tolist() == [1.0, np.inf]


def test_convert_chunks_to_dask_is_convert() -> None:
    d = da.arange(6, chunks=3)
    assert xb.convert_chunks(d, "dask") is d
    computed = xb.convert_chunks(d, "dask").compute()
    assert type(computed) is np.ndarray  # a Dask array whose blocks were Dask arrays before
    cast = xb.convert_chunks(d, "dask", dtype="float32")
    assert type(cast.blocks[0].compute()) is np.ndarray and cast.compute().dtype == np.float32


@needs_torch
def test_a_dask_array_of_torch_chunks_names_a_remedy_that_works() -> None:
    t = xb.convert_chunks(da.arange(6, chunks=3), "torch")
    with pytest.raises(xb.UnsupportedInputError, match=r"convert_chunks\(x, 'numpy'\)") as planned:
        xb.plan(t, "numpy")
    with pytest.raises(xb.UnsupportedInputError) as converted:
        xb.to_numpy(t)
    assert str(planned.value) == str(converted.value)
    with pytest.raises(TypeError, match="as a data type"):  # what the old message advised
        t.compute()
    assert xb.to_numpy(xb.convert_chunks(t, "numpy")).tolist() == list(range(6))  # the remedy
