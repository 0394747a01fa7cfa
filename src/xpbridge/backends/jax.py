"""JAX: the ``jax.numpy`` namespace, with what the generic namespace cannot know.

- JAX arrays are immutable: a NumPy view of one is read-only, and torch (which
  has no read-only tensors) gets a copy.
- Without ``jax_enable_x64`` JAX has no 64-bit types: ``jnp.asarray`` of an
  int64 array silently gives int32 (``2**40`` becomes ``0``).  Here that is a
  :class:`~xpbridge.DTypeError` naming the flag and ``dtype=``.  The flag can
  change at run time, so it is part of every cached plan's key.
- A tracer (inside ``jit``/``grad``/``vmap``) has no data to convert.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from .._dtypes import DTYPES
from .._traits import Traits
from .arrayapi import ArrayAPIBackend

__all__ = ["JaxBackend"]

# complex64 is two 32-bit floats: JAX has it without x64.
_X64 = frozenset(
    name
    for name, row in DTYPES.items()
    if (row.bits == 64 and row.kind != "complex") or name == "complex128"
)


def _x64_enabled() -> bool:
    jax = sys.modules.get("jax")
    return jax is not None and bool(jax.config.read("jax_enable_x64"))


class JaxBackend(ArrayAPIBackend):
    """JAX arrays (``jax.Array``) through ``jax.numpy``."""

    immutable_arrays: ClassVar[bool] = True

    def owns(self, cls: type) -> bool:
        jax = sys.modules.get("jax")
        return jax is not None and issubclass(cls, jax.Array)

    def writable(self, x: Any) -> bool:
        return False

    def traits(self, x: Any) -> Traits:
        core = sys.modules.get("jax.core")
        producer = getattr(x, "producer", x)
        if core is not None and isinstance(producer, core.Tracer):
            return Traits(
                self.name,
                "",
                unsupported="a traced JAX value (inside jit, grad or vmap): it has no data "
                "yet; convert the concrete result outside the transformation",
            )
        return super().traits(x)

    def holds(self, dtype: str) -> bool:
        return super().holds(dtype) and (dtype not in _X64 or _x64_enabled())

    def dtype_hint(self, dtype: str) -> str:
        if dtype in _X64 and not _x64_enabled():
            return (
                "JAX has 64-bit types only with jax.config.update('jax_enable_x64', True); "
                "enable it, or "
            )
        return ""

    def plan_epoch(self) -> object:
        return _x64_enabled()
