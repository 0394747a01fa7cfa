"""The Dask backend: a Dask array is converted by computing it.

As a source, a Dask array (NumPy chunks) is computed through the active
scheduler (``Array.compute()``: the distributed ``Client`` when one is
active, else Dask's configured scheduler) into a NumPy array, which is then
converted like any NumPy array.  Computing always makes a new buffer, so the
plan is a copy and ``copy=False`` is a :class:`CopyError`.  Chunk by chunk
conversion, lazily and on the workers, is :func:`xpbridge.convert_chunks`.

As a target (``to="dask"`` or a Dask array, e.g. when :func:`compute_in`
hands results back to a Dask caller), a NumPy array is wrapped with
``dask.array.from_array``, as Dask itself does: nothing is computed.  Recent
Dask versions copy the array there; whether this one does is probed once.
A cast of a Dask array (``convert(d, "dask", dtype=...)``) is lazy too: each
chunk is cast by NumPy's ``astype`` when it is computed, without warnings.

Dask is never imported to recognise its arrays: a Dask array exists only
once ``dask.array`` is in ``sys.modules``.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any, ClassVar

from .._lib.devices import CPU, Device
from .._lib.dtypes import numpy_dtype, numpy_name
from .._lib.traits import Traits
from ..errors import CopyError
from ._base import Backend, Extent
from .numpy import NumpyBackend

__all__ = ["DaskBackend"]

_NUMPY = NumpyBackend()


class _ToCompute:
    """A Dask array on its way to another library: the compute step's input."""

    __slots__ = ("array",)

    def __init__(self, array: Any) -> None:
        self.array = array


def _cast_chunk(chunk: Any, dtype: str) -> Any:
    # Module level, so that workers unpickle it by reference; NumPy's own
    # astype, without its warnings, as for a NumPy source.
    return _NUMPY.step_cast(chunk, SimpleNamespace(dtype=dtype))


def _other_chunks(meta: Any) -> str:
    """Why a Dask array of ``meta`` chunks cannot be converted whole, and what works."""
    from . import registry  # the registry imports this module

    cls = type(meta)
    name = f"{cls.__module__}.{cls.__qualname__}"
    try:
        owner = registry.backend_of(meta)
    except Exception:  # noqa: BLE001 - a chunk type no backend converts
        owner = None
    if owner is not None and owner.name not in ("numpy", "dask", "python", "buffer", "dlpack"):
        # Dask cannot concatenate them (x.compute() raises): each chunk crosses on its own.
        return (
            f"a Dask array of {name} chunks: Dask cannot compute it into one array; convert "
            f"its chunks to NumPy first with xpbridge.convert_chunks(x, 'numpy'), then this array"
        )
    return (
        f"a Dask array of {name} chunks: compute it first (x.compute()) and convert the "
        f"result, or convert its chunks with xpbridge.convert_chunks"
    )


class DaskBackend(Backend):
    """Dask arrays whose chunks are NumPy arrays."""

    name: ClassVar[str] = "dask"
    # As a target, a Dask array wraps any NumPy array as it is.
    readonly_arrays = True
    negative_strides = True
    odd_strides = True
    nonnative_byte_order = True
    unaligned = True
    copied_reason: ClassVar[str] = "computing the Dask array makes a new buffer"
    import_copies_reason: ClassVar[str] = "dask.array.from_array copies the array it wraps"
    exchanges: ClassVar[dict[tuple[str, str], str]] = {
        ("dask", "numpy"): "compute",
        ("numpy", "dask"): "from_array",
    }

    _probed: str | None = None

    @property
    def import_aliases(self) -> str:  # type: ignore[override]
        """Whether ``from_array`` shares the array's memory: probed once, on two elements."""
        if self._probed is None:
            import dask.array as da
            import numpy as np

            probe = np.zeros(2)
            wrapped = da.from_array(probe, name=False)  # type: ignore[no-untyped-call]
            probe[0] = 1.0  # seen when computed only if from_array kept the array itself
            seen = wrapped.compute(scheduler="sync")[0] == 1.0  # never a cluster
            self._probed = "always" if seen else "never"
        return self._probed

    def owns(self, cls: type) -> bool:
        da = sys.modules.get("dask.array")
        return da is not None and issubclass(cls, da.Array)

    def prepare(
        self,
        x: Any,
        target: Backend,
        device: Device | None,
        copy: bool | None,
        *,
        planning: bool = False,
    ) -> Any:
        if target is self:
            return x  # the same library: no compute
        if copy is False and 0 not in x.shape:
            raise CopyError(
                f"copy=False, but converting a Dask array to {target.name} computes it into "
                f"a new buffer. Pass copy=None, or convert it chunk by chunk on the workers "
                f"with xpbridge.convert_chunks"
            )
        return _ToCompute(x)

    def traits(self, x: Any) -> Traits:
        computing = type(x) is _ToCompute
        array = x.array if computing else x
        np = sys.modules["numpy"]
        meta = type(getattr(array, "_meta", None))
        if meta is not np.ndarray:
            return Traits("dask", "", unsupported=_other_chunks(array._meta))
        # Computing hands over a new buffer: the closest trait the planner reads.
        return Traits(
            "dask", numpy_name(array.dtype), CPU, size_zero=0 in array.shape, copied=computing
        )

    def holds(self, dtype: str) -> bool:
        return _NUMPY.holds(dtype)

    def casts(self, source: str, target: str) -> bool:
        return _NUMPY.casts(source, target)  # lazily, by NumPy chunk by chunk (step_cast)

    def device_of(self, x: Any) -> Device:
        return CPU

    def extent(self, x: Any) -> Extent | None:
        return None  # lazy: no memory until computed

    def step_compute(self, x: _ToCompute, plan: Any) -> Any:
        np = sys.modules["numpy"]
        result = np.asarray(x.array.compute())  # a 0-d array computes to a NumPy scalar
        if not (result.flags.owndata and result.flags.writeable):
            # The plan promises a new writable buffer; a scheduler may hand back
            # a view of memory it keeps (a persisted chunk) or a read-only
            # buffer received from a worker.
            result = result.copy()
        return result

    def step_from_array(self, a: Any, plan: Any) -> Any:
        import dask.array as da

        # name=False: a random name, not a hash of the data
        return da.from_array(a, name=False)  # type: ignore[no-untyped-call]

    def step_copy(self, x: Any, plan: Any) -> Any:
        return x.copy()

    def step_cast(self, x: Any, plan: Any) -> Any:
        np = sys.modules["numpy"]
        dtype = numpy_dtype(plan.dtype)
        meta = np.empty((0,) * x.ndim, dtype=dtype)
        return x.map_blocks(_cast_chunk, plan.dtype, dtype=dtype, meta=meta)
