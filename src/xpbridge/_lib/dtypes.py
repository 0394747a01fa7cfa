"""The canonical dtype table and the lookups that map library dtypes onto it.

One row per canonical name: where the type lives in NumPy (or in ml_dtypes,
which gives NumPy the low-precision types), in torch, and in DLPack.  A dtype
crosses between two libraries exactly when both columns are filled.  The
table is checked against ``spec/dtypes.toml`` by the test suite.

Nothing here imports a framework at module level; the maps from library dtype
objects to canonical names are built on first use.
"""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

from ..errors import DTypeError
from .memo import Memo, memoised

__all__ = ["DTYPES", "DTypeInfo", "canonical_name", "crosses", "crossing_dtypes"]


class DTypeInfo(NamedTuple):
    """One row of the dtype table."""

    name: str
    kind: str  # bool | int | uint | float | complex | bits
    bits: int
    numpy: str | None  # attribute of the numpy module
    ml_dtypes: str | None  # attribute of the ml_dtypes module
    torch: str | None  # attribute of the torch module
    dlpack: tuple[int, int] | None  # (DLDataTypeCode, bits)

    @property
    def host(self) -> str | None:
        """Where NumPy gets the type: ``"numpy"``, ``"ml_dtypes"`` or None."""
        if self.numpy is not None:
            return "numpy"
        return "ml_dtypes" if self.ml_dtypes is not None else None

    @property
    def differentiable(self) -> bool:
        """Whether a torch tensor of this dtype may require grad."""
        return self.torch is not None and self.kind in {"float", "complex"}


def _row(
    name: str,
    kind: str,
    bits: int,
    where: str,
    dlpack: tuple[int, int] | None,
) -> DTypeInfo:
    # where: "n" numpy, "m" ml_dtypes, "t" torch (the attribute is the name).
    return DTypeInfo(
        name,
        kind,
        bits,
        name if "n" in where else None,
        name if "m" in where else None,
        name if "t" in where else None,
        dlpack,
    )


# DLPack type codes (dlpack.h, DLDataTypeCode): 0 int, 1 uint, 2 float,
# 4 bfloat, 5 complex, 6 bool, 7.. 17 the float8/6/4 variants (DLPack 1.1).
DTYPES: dict[str, DTypeInfo] = {
    r.name: r
    for r in (
        _row("bool", "bool", 8, "nt", (6, 8)),
        _row("int8", "int", 8, "nt", (0, 8)),
        _row("int16", "int", 16, "nt", (0, 16)),
        _row("int32", "int", 32, "nt", (0, 32)),
        _row("int64", "int", 64, "nt", (0, 64)),
        _row("uint8", "uint", 8, "nt", (1, 8)),
        _row("uint16", "uint", 16, "nt", (1, 16)),
        _row("uint32", "uint", 32, "nt", (1, 32)),
        _row("uint64", "uint", 64, "nt", (1, 64)),
        _row("float16", "float", 16, "nt", (2, 16)),
        _row("float32", "float", 32, "nt", (2, 32)),
        _row("float64", "float", 64, "nt", (2, 64)),
        _row("complex64", "complex", 64, "nt", (5, 64)),
        _row("complex128", "complex", 128, "nt", (5, 128)),
        # Types torch has and NumPy gets from ml_dtypes: they cross as bit views.
        _row("bfloat16", "float", 16, "mt", (4, 16)),
        _row("complex32", "complex", 32, "mt", (5, 32)),
        _row("float8_e4m3fn", "float", 8, "mt", (10, 8)),
        _row("float8_e4m3fnuz", "float", 8, "mt", (11, 8)),
        _row("float8_e5m2", "float", 8, "mt", (12, 8)),
        _row("float8_e5m2fnuz", "float", 8, "mt", (13, 8)),
        _row("float8_e8m0fnu", "float", 8, "mt", (14, 8)),
        # ml_dtypes types torch lacks.
        _row("float8_e3m4", "float", 8, "m", (7, 8)),
        _row("float8_e4m3", "float", 8, "m", (8, 8)),
        _row("float8_e4m3b11fnuz", "float", 8, "m", (9, 8)),
        _row("float6_e2m3fn", "float", 6, "m", (15, 6)),
        _row("float6_e3m2fn", "float", 6, "m", (16, 6)),
        _row("float4_e2m1fn", "float", 4, "m", (17, 4)),
        _row("bcomplex32", "complex", 32, "m", None),
        _row("int1", "int", 1, "mt", None),
        _row("int2", "int", 2, "mt", None),
        _row("int4", "int", 4, "mt", None),
        _row("uint1", "uint", 1, "mt", None),
        _row("uint2", "uint", 2, "mt", None),
        _row("uint4", "uint", 4, "mt", None),
        # torch's sub-byte and opaque types: no NumPy equivalent, never widened.
        *(_row(f"int{b}", "int", b, "t", None) for b in (3, 5, 6, 7)),
        *(_row(f"uint{b}", "uint", b, "t", None) for b in (3, 5, 6, 7)),
        _row("bits1x8", "bits", 8, "t", None),
        _row("bits2x4", "bits", 8, "t", None),
        _row("bits4x2", "bits", 8, "t", None),
        _row("bits8", "bits", 8, "t", None),
        _row("bits16", "bits", 16, "t", None),
        _row("float4_e2m1fn_x2", "float", 8, "t", None),
    )
}

# The types NumPy and torch both have natively: torch.from_numpy takes them and
# Tensor.numpy gives them back.
NATIVE_IN_BOTH = tuple(
    name for name, row in DTYPES.items() if row.numpy is not None and row.torch is not None
)

# ml_dtypes and torch share the names int1/int2/int4/uint1/uint2/uint4, but
# ml_dtypes stores one value per byte while torch's sub-byte types are packed
# storage types: same name, different memory, so they never cross.
SUB_BYTE = frozenset({"int1", "int2", "int4", "uint1", "uint2", "uint4"})


def crosses(name: str) -> bool:
    """Whether the dtype exists in both NumPy (or ml_dtypes) and torch."""
    row = DTYPES.get(name)
    return (
        row is not None and row.host is not None and row.torch is not None and name not in SUB_BYTE
    )


def crossing_dtypes() -> list[str]:
    """Canonical names that cross NumPy <-> torch here (with the installed ml_dtypes)."""
    return [n for n in DTYPES if crosses(n) and (DTYPES[n].numpy is not None or ml_dtypes_has(n))]


@memoised("ml_dtypes importable", "nothing (one entry)", 1)
def ml_dtypes_available() -> bool:
    """Whether ml_dtypes can be imported (probed once)."""
    try:
        import ml_dtypes  # noqa: F401
    except ImportError:
        return False
    return True


@memoised("ml_dtypes types", "a canonical dtype name", 256)
def ml_dtypes_has(name: str) -> bool:
    """Whether the installed ml_dtypes has the type (complex32 came in 0.6, for one)."""
    if not ml_dtypes_available():
        return False
    import ml_dtypes

    row = DTYPES.get(name)
    return row is not None and row.ml_dtypes is not None and hasattr(ml_dtypes, row.ml_dtypes)


def numpy_dtype(name: str) -> Any:
    """The NumPy dtype object for a canonical name (importing ml_dtypes if needed)."""
    import numpy as np

    row = DTYPES[name]
    if row.numpy is not None:
        return np.dtype(row.numpy)
    import ml_dtypes

    return np.dtype(getattr(ml_dtypes, row.ml_dtypes or name))


def torch_dtype(name: str) -> Any:
    """The torch dtype object for a canonical name."""
    import torch

    return getattr(torch, DTYPES[name].torch or name)


# The table's names by dtype object, filled from DTYPES on a miss (the objects
# exist only once NumPy, ml_dtypes or torch is imported).
_numpy_names: Memo[str] = Memo("NumPy dtype names", "a NumPy dtype object", 256)
_torch_names: Memo[str] = Memo("torch dtype names", "a torch dtype object", 256)


def _fill_numpy_names() -> None:
    import numpy as np

    for row in DTYPES.values():
        if row.numpy is not None:
            _numpy_names.put(np.dtype(row.numpy), row.name)
    ml = sys.modules.get("ml_dtypes")
    if ml is not None:
        for row in DTYPES.values():
            if row.ml_dtypes is not None and row.numpy is None and hasattr(ml, row.ml_dtypes):
                _numpy_names.put(np.dtype(getattr(ml, row.ml_dtypes)), row.name)


def numpy_name(dtype: Any) -> str:
    """Canonical name of a NumPy dtype object, byte order ignored.

    Unknown dtypes (``longdouble``, datetime, strings, structured, object)
    keep NumPy's own name, which is not in the table.
    """
    name = _numpy_names.data.get(dtype)
    if name is not None:
        return name
    # First call, a non-native byte order, or ml_dtypes imported since.
    _fill_numpy_names()
    native = dtype.newbyteorder("=") if dtype.byteorder not in "=|" else dtype
    return _numpy_names.data.get(native) or str(dtype.name)


def torch_name(dtype: Any) -> str:
    """Canonical name of a torch dtype object (quantized types keep torch's name)."""
    name = _torch_names.data.get(dtype)
    if name is None:
        import torch

        for row in DTYPES.values():
            if row.torch is not None and hasattr(torch, row.torch):
                _torch_names.put(getattr(torch, row.torch), row.name)
        name = _torch_names.data.get(dtype) or str(dtype).removeprefix("torch.")
    return name


def _namespace_dtype_name(dtype: Any, np: Any) -> str:
    """The canonical name of another namespace's dtype object ("" if it is none).

    JAX's scalar types carry a NumPy dtype (``jnp.float32.dtype``); other
    namespaces' dtypes (``array_api_strict.float32``) are attributes of their
    namespace module under the canonical name.  Python's own types never are.
    """
    inner = getattr(dtype, "dtype", None)
    if isinstance(inner, np.dtype):
        return numpy_name(inner)
    owner = type(dtype).__module__.partition(".")[0]
    namespace = sys.modules.get(owner) if owner != "builtins" else None
    if namespace is None:
        return ""
    return name_in(namespace, dtype)


def name_in(namespace: Any, dtype: Any) -> str:
    """The canonical name under which ``namespace`` holds ``dtype`` ("" if it holds it under none)."""
    for name in DTYPES:
        candidate = getattr(namespace, name, None)
        try:
            if candidate is dtype or (candidate is not None and bool(candidate == dtype)):
                return name
        except Exception:  # noqa: BLE001, S112  # a foreign __eq__ may refuse to compare
            continue
    return ""


def canonical_name(dtype: Any) -> str:
    """Normalise a ``dtype=`` argument to a canonical name.

    Accepts a canonical name, a NumPy dtype or scalar type (ml_dtypes types
    included), a torch dtype, or any array-API namespace's dtype object
    (``array_api_strict.float32``, ``jax.numpy.float32``, ``x.dtype``).
    Anything else is a :class:`DTypeError`.

    Examples
    --------
    >>> canonical_name("bfloat16")
    'bfloat16'
    >>> import numpy as np
    >>> canonical_name(np.dtype(">f4"))
    'float32'
    """
    if isinstance(dtype, str):
        if dtype in DTYPES:
            return dtype
        raise DTypeError(
            f"unknown dtype name {dtype!r}: pass a canonical name such as 'float32', "
            f"'int64' or 'bfloat16' (xpbridge.dtypes() lists them all), a NumPy dtype "
            f"or a torch dtype"
        )
    module = type(dtype).__module__.partition(".")[0]
    if module == "torch":
        name = torch_name(dtype)
    elif "numpy" in sys.modules:
        import numpy as np

        # Only real dtype objects and scalar types: np.dtype() would also parse
        # arbitrary strings, bytes and Python's platform-dependent int/float,
        # and warns on deprecated spellings.
        if isinstance(dtype, np.dtype) or (
            isinstance(dtype, type) and issubclass(dtype, np.generic)
        ):
            name = numpy_name(np.dtype(dtype))
        else:
            name = _namespace_dtype_name(dtype, np)
    else:
        name = ""
    if name in DTYPES:
        return name
    raise DTypeError(
        f"dtype={dtype!r} is not a dtype xpbridge can convert to: pass a canonical name "
        f"such as 'float64', or a dtype object of NumPy, torch or an array-API namespace "
        f"(Python's int/float are platform-dependent and not accepted)"
    )
