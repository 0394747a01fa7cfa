"""Any array-API namespace (array-api-strict, jax.numpy, ...): a source and a target.

As a target, data arrives through the namespace's ``from_dlpack``.  As a
source, an array whose ``__array_namespace__`` is this namespace exports a
DLPack capsule, inspected before any consumer sees it (the DLPack backend's
machinery); between two arrays of the same namespace, the namespace's own
``asarray``/``astype``/``to_device`` do the work, so every dtype and device it
has is kept.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, ClassVar

from .._lib.devices import CPU, Device
from .._lib.dlpack import Exported, reported_device
from .._lib.dtypes import DTYPES, name_in
from .._lib.memo import Memo
from .._lib.traits import Traits
from ..errors import ConversionError, DeviceError, DTypeError, UnsupportedInputError
from ._base import Backend, Extent
from .numpy import NumpyBackend
from .protocol import DLPackBackend, capsule_traits

__all__ = ["ArrayAPIBackend", "is_namespace"]

# ArrayAPIBackend.writable of array types whose answer depends on the type alone.
_WRITABLE: Memo[bool] = Memo("writability by array type", "the exact type", 256, by_type=True)
_DLPACK = DLPackBackend()  # the capsule reader every namespace source shares
_NUMPY = NumpyBackend()  # describes the host views of producers that will not export


class _HostView:
    """A NumPy view of a host array whose producer refused to export a capsule.

    NumPy < 2.1 cannot export read-only arrays through DLPack, and its
    ``from_dlpack`` makes every import read-only: array-api-strict arrays made
    that way could not be converted at all.  Their ``__array__`` still gives
    NumPy the memory, read-only, and that is what crosses.
    """

    def __init__(self, array: Any) -> None:
        self.array = array


def _host_view(x: Any, namespace: Any) -> _HostView | None:
    """NumPy's view of a host array, through its ``__array__`` (None: it has none)."""
    import numpy as np

    try:
        if reported_device(x) != CPU:  # only host memory
            return None
        try:
            return _HostView(np.asarray(x))
        except RuntimeError:
            # array-api-strict gives NumPy only arrays on its default device; moving
            # a host array there is a new array object over the same memory.
            info = namespace.__array_namespace_info__()
            return _HostView(np.asarray(namespace.asarray(x, device=info.default_device())))
    except (ConversionError, TypeError, ValueError, RuntimeError, BufferError, AttributeError):
        return None


def _names(device: Any, name: str) -> bool:
    """Whether ``name`` names the namespace's ``device`` object."""
    if str(device) == name:
        return True
    try:
        return bool(type(device)(name) == device)
    except Exception:  # noqa: BLE001  # not a type made from a name (JAX's devices)
        return False


def check_fits(xp: Any, x: Any, dtype: str) -> None:
    """Raise DTypeError unless every value of the integer array ``x`` fits ``dtype``.

    With the namespace ``xp``'s own ``min``, ``max`` and ``iinfo``: what
    ``narrow=True`` checks before it narrows an integer array.
    """
    if not x.size:
        return
    info = xp.iinfo(getattr(xp, dtype))
    low, high = int(xp.min(x)), int(xp.max(x))
    if low < info.min or high > info.max:
        raise DTypeError(
            f"narrow=True narrows integers only where the values fit, and these span "
            f"{low}..{high}, beyond {dtype}: pass dtype='float32' (or another dtype the "
            f"device has) to convert them"
        )


def is_namespace(module: Any) -> bool:
    """Whether ``module`` looks like an array-API namespace."""
    return all(
        hasattr(module, name) for name in ("asarray", "from_dlpack", "__array_api_version__")
    )


class ArrayAPIBackend(Backend):
    """One array-API namespace, as a source and as a target, data on the host.

    Its capabilities are what the standard guarantees, nothing more: no
    read-only arrays, negative strides or lazy bits are assumed.  Whether
    ``from_dlpack`` aliases, and whether its results can be written to, is
    probed once, on small NumPy arrays.
    """

    name: ClassVar[str]  # set per instance
    host_meets_as_numpy = True
    exports_capsules = True

    def __init__(self, name: str, namespace: Any) -> None:
        self.name = name  # type: ignore[misc]
        self.namespace = namespace
        self.exchanges = {  # type: ignore[misc]
            ("numpy", name): "from_dlpack",  # NumPy data into this namespace
            (name, "numpy"): "from_dlpack",  # this namespace's capsule, as a NumPy view
        }
        info = getattr(namespace, "__array_namespace_info__", None)
        self.devices: list[Any] = list(info().devices()) if info is not None else []
        self._probe_lock = threading.Lock()
        self._probed: tuple[str, bool] | None = None
        # Per namespace, so replacing the backend starts them afresh: the
        # canonical name of each dtype object seen, and the traits of each kind
        # of array (one object per kind, which the pipeline's identity memo finds).
        self._dtype_names: Memo[str] = Memo(f"{name} dtype names", "a dtype object", 256)
        self._traits: Memo[Traits] = Memo(
            f"{name} traits", "(dtype, device, own device, size zero, read-only)", 256
        )
        self._device_dtypes: Memo[frozenset[str]] = Memo(
            f"{name} dtypes by device", "one of the namespace's device objects", 64
        )

    # Capabilities probed once: (import_aliases, immutable results).

    def _probe(self) -> tuple[str, bool]:
        probed = self._probed  # set once, whole, under the lock: read without it
        if probed is None:
            with self._probe_lock:
                if self._probed is None:
                    self._probed = (self._probe_aliasing(), self._probe_immutable())
                probed = self._probed
        return probed

    def _probe_aliasing(self) -> str:
        import numpy as np

        from .._lib.dlpack import export

        shared = set()
        # JAX, for one, shares only 64-byte-aligned memory, and copies float64
        # to float32 unless x64 is on: probe both alignments and both widths.
        for dtype in (np.float32, np.float64):
            block = np.zeros(64, dtype=dtype)
            start = (-block.__array_interface__["data"][0] % 64) // block.itemsize
            for probe in (block[start : start + 8], block[start + 1 : start + 9]):
                result = self.namespace.from_dlpack(probe)
                try:
                    address = export(result).header.data
                except ConversionError:  # it will not say (NumPy < 2.1: read-only)
                    shared |= {True, False}
                    continue
                shared.add(address == probe.__array_interface__["data"][0])
        return "sometimes" if len(shared) == 2 else "always" if True in shared else "never"

    def _probe_immutable(self) -> bool:
        import numpy as np

        # There is no standard flag: write into a result of our own (NumPy < 2.1
        # imports are read-only; JAX arrays are immutable by design).
        result = self.namespace.from_dlpack(np.zeros(1))
        try:
            result[0] = 1.0
        except Exception:  # noqa: BLE001  # each library refuses with its own error
            return True
        return False

    @property
    def import_aliases(self) -> str:  # type: ignore[override]
        """Whether ``from_dlpack`` shares memory: "always", "never" or "sometimes"."""
        return self._probe()[0]

    @property
    def immutable_arrays(self) -> bool:  # type: ignore[override]
        """Whether this namespace's arrays (as ``from_dlpack`` makes them) refuse writes."""
        return self._probe()[1]

    # Sources.

    def owns(self, cls: type) -> bool:
        # Asked only for objects whose __array_namespace__ is this namespace.
        return _DLPACK.owns(cls)

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
            return x  # the namespace's own functions work on the array itself
        try:
            return _DLPACK.prepare(x, target, device, copy, planning=planning)
        except (DeviceError, UnsupportedInputError) as e:
            # The producer refused to export (its BufferError, chained): its host
            # memory, read-only.
            if not isinstance(e.__cause__, (BufferError, ValueError)):
                raise
            view = _host_view(x, self.namespace)
            if view is None:
                raise
            return view

    def writable(self, x: Any) -> bool:
        """Whether writes into ``x`` are allowed (array-api-compat knows immutable libraries)."""
        cls = type(x)
        known = _WRITABLE.data.get(cls)
        if known is not None:
            return known
        from array_api_compat import is_writeable_array

        answer = bool(is_writeable_array(x))
        # array-api-compat decides by type (its own per-type cache) for every
        # class but NumPy's arrays (their flags) and classes without
        # __array_namespace__ (then it asks the instance): only those are
        # asked again.
        numpy = sys.modules.get("numpy")
        by_type = hasattr(cls, "__array_namespace__") and not (
            numpy is not None and issubclass(cls, numpy.ndarray)
        )
        if by_type:
            _WRITABLE.put(cls, answer)
        return answer

    def traits(self, x: Any) -> Traits:
        if isinstance(x, Exported):  # the common case first
            return capsule_traits(x, self.name, not self.writable(x.producer))
        if isinstance(x, _HostView):
            t = _NUMPY.traits(x.array)
            return t._replace(library=self.name, readonly=True)
        size_zero = getattr(x, "size", None) == 0
        key = (x.dtype, self.device_of(x), x.device, size_zero, not self.writable(x))
        try:
            traits = self._traits.data.get(key)
        except TypeError:  # an unhashable dtype or device object: described afresh
            return self._array_traits(*key)
        if traits is None:
            traits = self._traits.put(key, self._array_traits(*key))
        return traits

    def _array_traits(
        self, dtype: Any, device: Device, native: Any, size_zero: bool, readonly: bool
    ) -> Traits:
        return Traits(
            self.name,
            self.dtype_name(dtype),
            device,
            size_zero=size_zero,
            readonly=readonly,
            native_device=native,
        )

    def dtype_name(self, dtype: Any) -> str:
        """The canonical name of one of this namespace's dtypes (else its own name)."""
        try:
            known = self._dtype_names.data.get(dtype)
        except TypeError:  # unhashable: looked up afresh
            return self._find_dtype_name(dtype)
        if known is None:
            known = self._dtype_names.put(dtype, self._find_dtype_name(dtype))
        return known

    def _find_dtype_name(self, dtype: Any) -> str:
        return name_in(self.namespace, dtype) or str(dtype)

    def holds(self, dtype: str) -> bool:
        row = DTYPES.get(dtype)
        return row is not None and row.dlpack is not None and hasattr(self.namespace, dtype)

    def holds_on(self, dtype: str, request: Any) -> bool:
        # The namespace says what each of its devices holds (array-api-strict's
        # Device("no_float64") has no float64); a device it does not list holds all.
        if not self.holds(dtype):
            return False
        device = request.native_device
        if device is None:
            return True
        held = self._device_dtypes.data.get(device)
        if held is None:
            info = getattr(self.namespace, "__array_namespace_info__", None)
            try:
                held = frozenset(info().dtypes(device=device)) if info is not None else None
            except Exception:  # noqa: BLE001 - a namespace that cannot say: it holds all
                held = None
            held = self._device_dtypes.put(device, held or frozenset(DTYPES))
        return dtype in held

    def step_check_range(self, x: Any, plan: Any) -> Any:
        check_fits(self.namespace, x, plan.dtype)
        return x

    def casts(self, source: str, target: str) -> bool:
        """The standard's ``astype``: every cast between dtypes it holds, but complex -> real.

        The standard says a complex -> real (or bool) cast "should not be
        permitted"; array-api-strict raises TypeError and JAX deprecates it.
        Such a cast runs in the source library before the data crosses, or is
        refused between two arrays of this namespace.
        """
        if not (self.has(source) and self.holds(target)):
            return False
        return DTYPES[source].kind != "complex" or DTYPES[target].kind == "complex"

    def imports_dtype(self, dtype: str) -> bool:
        # NumPy's __dlpack__ exports only NumPy's own types, not ml_dtypes' (bfloat16,
        # float8): those reach the namespace through its asarray, as a copy.
        row = DTYPES.get(dtype)
        return row is None or row.numpy is not None

    def resolve_device(self, device: Any) -> Device:
        if isinstance(device, Device) and device.kind == "cpu":
            return CPU
        raise DeviceError(
            f"{self.name} arrays are made on the host here: pass device=None, 'cpu' or one "
            f"of {self.name}'s own devices"
        )

    def native_device(self, device: Any) -> Any:
        """The namespace's own device object, when ``device`` is one or names one; else None.

        A name is what the namespace's device prints as (JAX's ``"cpu:0"``) or
        what its device type is made from (array-api-strict's ``"device1"``).
        """
        for candidate in self.devices:
            if candidate is None:
                continue
            if device is candidate or (type(device) is type(candidate) and device == candidate):
                return candidate
            if isinstance(device, str) and device != "cpu" and _names(candidate, device):
                return candidate
        return None

    def device_of(self, x: Any) -> Device:
        return CPU

    def target_device(self, x: Any) -> Any:
        return x.device  # the namespace's own device object: the result is made there

    def extent(self, x: Any) -> Extent | None:
        extent = _DLPACK.extent(x)  # where its capsule says the elements lie
        if extent is None:
            view = _host_view(x, self.namespace)
            extent = None if view is None else _NUMPY.extent(view.array)
        return extent

    # Steps between arrays of this namespace.

    def step_copy(self, x: Any, plan: Any) -> Any:
        return self.namespace.asarray(x, copy=True)

    def step_cast(self, x: Any, plan: Any) -> Any:
        return self.namespace.astype(x, getattr(self.namespace, plan.dtype))

    def step_to_device(self, x: Any, plan: Any) -> Any:
        # asarray, not Array.to_device: array-api-strict 2.6's to_device calls
        # np.asarray(copy=...), which NumPy 1.26 lacks; the plan says a new buffer.
        return self.namespace.asarray(x, device=plan.native_device, copy=True)

    # Exchanges: both directions are a DLPack import, into NumPy or into this namespace.

    def step_from_dlpack(self, a: Any, plan: Any) -> Any:
        if isinstance(a, Exported):  # this namespace's capsule, as a NumPy view
            return a.to_numpy()
        if isinstance(a, _HostView):
            return a.array
        device = getattr(plan, "native_device", None)
        if not self.imports_dtype(plan.dtype):
            return self.namespace.asarray(a, copy=True, device=device)
        if device is None:
            return self.namespace.from_dlpack(a)
        return self.namespace.from_dlpack(a, device=device)
