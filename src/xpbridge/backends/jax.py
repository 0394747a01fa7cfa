"""JAX: the ``jax.numpy`` namespace, with what the generic namespace cannot know.

- JAX arrays are immutable: a NumPy view of one is read-only, and torch (which
  has no read-only tensors) gets a copy.
- Without ``jax_enable_x64`` JAX has no 64-bit types: ``jnp.asarray`` of an
  int64 array silently gives int32 (``2**40`` becomes ``0``).  Here that is a
  :class:`~xpbridge.DTypeError` naming the flag and ``dtype=``.  The flag can
  change at run time, so it is part of every cached plan's key.
- A tracer (inside ``jit``/``grad``/``vmap``) has no data to convert.
- A low-precision type (ml_dtypes') that ``jax.numpy`` names is probed once with
  a one-element array before it counts as held: JAX 0.12 names ``complex32`` but
  cannot make an array of it (the fact ``jax-names-complex32-it-cannot-make``).
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from .._lib.dtypes import DTYPES
from .._lib.traits import Traits
from ..errors import UnsupportedInputError
from .arrayapi import ArrayAPIBackend

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


class JaxBackend(ArrayAPIBackend):
    """JAX arrays (``jax.Array``) through ``jax.numpy``."""

    immutable_arrays: ClassVar[bool] = True

    def __init__(self, name: str, namespace: Any) -> None:
        super().__init__(name, namespace)
        # Python values go straight to jnp.asarray, which makes 32-bit types
        # without x64 (through NumPy they would be 64-bit, and refused).
        self.exchanges = {**self.exchanges, ("python", name): "asarray"}  # type: ignore[misc]
        self._makes_arrays: dict[str, bool] = {}  # ml_dtypes types, probed once each

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
        return super().prepare(x, target, device, copy, planning=planning)

    def traits(self, x: Any) -> Traits:
        if _is_tracer(x):
            return Traits(
                self.name,
                "",
                unsupported="a traced JAX value (inside jit, grad or vmap): it has no data "
                "yet; convert the concrete result outside the transformation",
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
            self._makes_arrays[dtype] = known
        return known

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
        wide = _x64_enabled()
        return {
            "bool": "bool",
            "int": "int64" if wide else "int32",
            "uint": "uint64" if wide else "inferred",
            "float": "float64" if wide else "float32",
            "complex": "complex128" if wide else "complex64",
        }.get(kind, "inferred")

    def plan_epoch(self) -> object:
        return _x64_enabled()

    def step_asarray(self, x: Any, plan: Any) -> Any:
        dtype = None if plan.dtype == "inferred" else getattr(self.namespace, plan.dtype)
        try:
            return self.namespace.asarray(x, dtype=dtype, device=plan.native_device)
        except (TypeError, ValueError, OverflowError) as e:
            raise UnsupportedInputError(f"jax.numpy.asarray cannot convert this object: {e}") from e
