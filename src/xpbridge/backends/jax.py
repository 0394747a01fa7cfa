"""JAX: the ``jax.numpy`` namespace, with what the generic namespace cannot know.

- JAX arrays are immutable: a NumPy view of one is read-only, and torch (which
  has no read-only tensors) gets a copy.
- Without ``jax_enable_x64`` JAX has no 64-bit types: ``jnp.asarray`` of an
  int64 array silently gives int32 (``2**40`` becomes ``0``).  Here that is a
  :class:`~xpbridge.DTypeError` naming the flag and ``dtype=``.  The flag can
  change at run time, so it is part of every cached plan's key.
- A tracer (inside ``jit``/``grad``/``vmap``) has no data to convert.
- On the host, NumPy views a JAX array in place (``numpy.asarray(x)``, the
  buffer protocol: read-only, no DLPack round trip).  Whether this JAX does
  so is probed once; where it does, that is the exchange to NumPy
  (``numpy_asarray``), and a warm conversion is that one call.
- A low-precision type (ml_dtypes') that ``jax.numpy`` names is probed once with
  a one-element array before it counts as held: JAX 0.12 names ``complex32`` but
  cannot make an array of it (the fact ``jax-names-complex32-it-cannot-make``).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Hashable
from typing import Any, ClassVar

from .._lib.devices import CPU
from .._lib.dtypes import DTYPES
from .._lib.memo import Memo
from .._lib.traits import Traits
from ..errors import UnsupportedInputError
from ._base import Primitive, Step
from .arrayapi import ArrayAPIBackend
from .numpy import NumpyBackend

_NUMPY = NumpyBackend()  # whose limits jnp.asarray inherits

__all__ = ["JaxBackend"]

# complex64 is two 32-bit floats: JAX has it without x64.
_X64 = frozenset(
    name
    for name, row in DTYPES.items()
    if (row.bits == 64 and row.kind != "complex") or name == "complex128"
)


def _is_tracer(x: Any) -> bool:
    core = sys.modules.get("jax.core")
    return core is not None and isinstance(x, core.Tracer)


def _x64_enabled() -> bool:
    jax = sys.modules.get("jax")
    return jax is not None and bool(jax.config.read("jax_enable_x64"))


HOST_VIEW = "numpy_asarray"  # the exchange step: NumPy's view of a host array


def _host_key(x: Any) -> Hashable:
    """A JAX array's traits key: its dtype, its sharding's kind and its platform."""
    return x.dtype, type(x.sharding), x.platform()


def misreads_strided_imports(jnp: Any) -> bool:
    """Whether ``jnp.from_dlpack`` reads a Fortran-order NumPy array as if it were C order.

    JAX 0.6 aliases an aligned buffer it imports and loses its strides (its
    unaligned imports are copied, correctly): the upstream fact
    ``jax-from-dlpack-misreads-strides`` (jax-ml/jax#17784).  The probe is a
    3 x 4 Fortran-order array on a 256-byte boundary, so that JAX aliases it.
    """
    import numpy as np

    items = np.empty(12 + 64, np.float32)
    start = (-items.__array_interface__["data"][0] % 256) // items.itemsize
    probe = items[start : start + 12].reshape(3, 4, order="F")
    probe[...] = np.arange(12, dtype=np.float32).reshape(3, 4)
    return not np.array_equal(np.asarray(jnp.from_dlpack(probe)), probe)


class JaxBackend(ArrayAPIBackend):
    """JAX arrays (``jax.Array``) through ``jax.numpy``."""

    immutable_arrays: ClassVar[bool] = True
    readonly_results: ClassVar[frozenset[str]] = frozenset({HOST_VIEW})

    def __init__(self, name: str, namespace: Any) -> None:
        super().__init__(name, namespace)
        # Python values go straight to jnp.asarray, which makes 32-bit types
        # without x64 (through NumPy they would be 64-bit, and refused).
        self.exchanges = {**self.exchanges, ("python", name): "asarray"}  # type: ignore[misc]
        self._makes_arrays: Memo[bool] = Memo(
            f"{name} makes arrays of ml_dtypes types", "a canonical dtype name", 64
        )
        self._view_lock = threading.Lock()
        self._views: list[bool] = []  # the probe's answer, once made
        self._strided: list[bool] = []  # misreads_strided_imports' answer, once made

    def views_host_arrays(self) -> bool:
        """Whether ``numpy.asarray`` of a host JAX array is a view of its buffer (probed once)."""
        if not self._views:
            with self._view_lock:
                if not self._views:
                    import numpy as np

                    probe = self.namespace.arange(4.0)
                    view = np.asarray(probe)
                    shared = view.__array_interface__["data"][0] == probe.unsafe_buffer_pointer()
                    self._views.append(bool(shared and not view.flags.writeable))
        return self._views[0]

    def reads_strided_imports(self) -> bool:
        """Whether ``from_dlpack`` keeps the strides of what it imports (probed once)."""
        if not self._strided:
            with self._view_lock:
                if not self._strided:
                    self._strided.append(not misreads_strided_imports(self.namespace))
        return self._strided[0]

    def step_from_dlpack(self, a: Any, plan: Any) -> Any:
        np = sys.modules.get("numpy")
        if (
            np is not None
            and type(a) is np.ndarray
            and not a.flags.c_contiguous
            and not self.reads_strided_imports()
        ):
            # A JAX that would read these values in the wrong order gets them in
            # C order (the plan's result is a new buffer either way).
            a = np.ascontiguousarray(a)
        return super().step_from_dlpack(a, plan)

    def _on_host(self, x: Any) -> bool:
        """Whether ``x`` lives whole in host memory, on one device."""
        sharding = getattr(x, "sharding", None)
        if type(sharding).__name__ != "SingleDeviceSharding":
            return False
        platform = getattr(x, "platform", None)
        return callable(platform) and platform() == "cpu"

    def exchange_for(self, target: str, traits: Traits) -> tuple[str, Step] | None:
        if target == "numpy" and traits.device == CPU and self.views_host_arrays():
            return HOST_VIEW, self.step_numpy_asarray
        return None

    def traits_key(self, cls: type) -> Callable[[Any], Hashable] | None:
        jax = sys.modules["jax"]
        if issubclass(cls, jax.Array) and callable(getattr(cls, "platform", None)):
            return _host_key
        return None

    def traits_of_key(self, key: Any, request: Any) -> Traits | None:
        dtype, sharding, platform = key
        if platform != "cpu" or sharding.__name__ != "SingleDeviceSharding":
            return None  # on a device, or sharded: described in full
        if request.target is self and request.native_device is not None:
            return None  # the key does not say which of JAX's devices it is on
        if not self.views_host_arrays():
            return None
        return Traits(self.name, self.dtype_name(dtype), CPU, readonly=True)

    def primitive(self, step: str, plan: Any, dtype: str) -> Primitive | None:
        if step == HOST_VIEW and type(self).step_numpy_asarray is JaxBackend.step_numpy_asarray:
            # JAX refuses to read a deleted (donated) array: described in full then.
            return sys.modules["numpy"].asarray, (RuntimeError,)
        return None

    def step_numpy_asarray(self, x: Any, plan: Any) -> Any:
        return sys.modules["numpy"].asarray(x)

    def owns(self, cls: type) -> bool:
        jax = sys.modules.get("jax")
        if jax is None:
            return False
        # A tracer is an instance of jax.Array only virtually (isinstance, not issubclass).
        core = sys.modules.get("jax.core")
        return issubclass(cls, jax.Array) or (core is not None and issubclass(cls, core.Tracer))

    def writable(self, x: Any) -> bool:
        return False

    def prepare(
        self, x: Any, target: Any, device: Any, copy: bool | None, *, planning: bool = False
    ) -> Any:
        if _is_tracer(x):
            return x  # no data to export: traits() says so
        if target is not self and self._on_host(x) and self.views_host_arrays():
            return x  # NumPy views it in place (the numpy_asarray exchange)
        return super().prepare(x, target, device, copy, planning=planning)

    def traits(self, x: Any) -> Traits:
        if _is_tracer(x):
            return Traits(
                self.name,
                "",
                unsupported="a traced JAX value (inside jit, grad or vmap): it has no data "
                "yet; convert the concrete result outside the transformation, or wrap the "
                "code that needs another library in xpbridge.compute_in, which runs it on "
                "the host through jax.pure_callback",
            )
        return super().traits(x)

    def holds(self, dtype: str) -> bool:
        return (
            super().holds(dtype)
            and (dtype not in _X64 or _x64_enabled())
            and (DTYPES[dtype].numpy is not None or self._makes_arrays_of(dtype))
        )

    def _makes_arrays_of(self, dtype: str) -> bool:
        """Whether JAX can make an array of a type NumPy gets from ml_dtypes (probed once)."""
        known = self._makes_arrays.get(dtype)
        if known is None:
            try:
                self.namespace.zeros(1, dtype=getattr(self.namespace, dtype))
            except Exception:  # noqa: BLE001  # XLA's error type moves between JAX versions
                known = False
            else:
                known = True
            self._makes_arrays.put(dtype, known)
        return known

    def has(self, dtype: str) -> bool:
        return super().holds(dtype)  # an array made while x64 was on keeps its dtype

    def dtype_hint(self, dtype: str) -> str:
        if dtype in _X64 and not _x64_enabled():
            return (
                "JAX has 64-bit types only with jax.config.update('jax_enable_x64', True); "
                "enable it, or "
            )
        if hasattr(self.namespace, dtype):
            return f"JAX names {dtype} in jax.numpy but cannot make arrays of it; "
        return ""

    def python_dtype(self, kind: str) -> str:
        # jnp.asarray: ints are its default int (one it cannot hold raises: the
        # planner refuses it), floats and complex numbers its default types.
        wide = _x64_enabled()
        kind = kind.removesuffix("-bigint")
        if kind in {"int", "uint", "int65", "bigint"}:
            return "int64" if wide else "int32"
        return {
            "bool": "bool",
            "float": "float64" if wide else "float32",
            "complex": "complex128" if wide else "complex64",
        }.get(kind, "inferred")

    @property
    def python_max_dims(self) -> int:  # type: ignore[override]
        """jnp.asarray makes its arrays of nested sequences through NumPy: NumPy's limit."""
        return int(_NUMPY.max_dims)

    def plan_epoch(self) -> object:
        return _x64_enabled()

    def step_asarray(self, x: Any, plan: Any) -> Any:
        dtype = None if plan.dtype == "inferred" else getattr(self.namespace, plan.dtype)
        try:
            return self.namespace.asarray(x, dtype=dtype, device=plan.native_device)
        except (TypeError, ValueError, OverflowError) as e:
            raise UnsupportedInputError(f"jax.numpy.asarray cannot convert this object: {e}") from e
