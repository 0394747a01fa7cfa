"""The NumPy backend."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Hashable
from operator import attrgetter
from typing import Any, ClassVar

from .._lib.copy_engine import copy_ndarray
from .._lib.devices import CPU, Device
from .._lib.dtypes import DTYPES, ml_dtypes_has, numpy_dtype, numpy_name
from .._lib.memo import Memo, memoised
from .._lib.numpy_flags import ALIGNED, CONTIGUOUS, WRITEABLE
from .._lib.traits import Traits
from ..errors import DeviceError, UnsupportedInputError
from ._base import Backend, Extent

__all__ = ["NumpyBackend"]


_DECIDING = ALIGNED | WRITEABLE
_TRAITS: Memo[Traits] = Memo(
    "NumPy traits by flags",
    "(dtype, aligned and writable flags, stride signs, size zero, memmap, misaligned)",
    4096,
)
# Aligned, writable, contiguous, non-empty arrays of a dtype whose alignment
# NumPy and torch agree on: dtype -> traits.
_PLAIN_TRAITS: Memo[Traits] = Memo("NumPy traits of plain arrays", "the dtype", 4096)
# The traits key of an exact ndarray: its dtype and flags, read in C.
_KEY = attrgetter("dtype", "flags.num")
# Flags under which the dtype decides the traits: writable (read-only memory may be
# a memory map, whose remedy differs) and C-contiguous (no stride to read).
_KEY_DECIDES = WRITEABLE | CONTIGUOUS
# What np.asarray makes of Python values (NumPy 2; NumPy 1.26 agrees for these):
# each int is discovered as int64, else uint64, else an object; int64 beside
# uint64 promotes to float64; an object int makes an object array.
_PYTHON_DTYPES = {
    "bool": "bool",
    "int": "int64",
    "uint": "uint64",
    "int65": "float64",
    "bigint": "refused",
    "float": "float64",
    "float-bigint": "refused",
    "complex": "complex128",
    "complex-bigint": "refused",
}


@memoised("NumPy casts", "(source, target) dtype names", 1024)
def _can_cast(source: str, target: str) -> bool:
    # ml_dtypes registers no casts between float8_e8m0fnu and the other float8
    # types; NumPy knows which casts exist.
    import numpy as np

    return bool(np.can_cast(numpy_dtype(source), numpy_dtype(target), casting="unsafe"))


@memoised("NumPy casts from outside the table", "(source, target) dtype names", 1024)
def _casts_from_outside_the_table(source: str, target: str) -> bool:
    """Whether NumPy's astype turns a dtype outside the table into ``target``.

    longdouble, clongdouble, datetime64 and timedelta64 cast to NumPy's numeric
    dtypes (not to every ml_dtypes type: datetime64 has no cast to bfloat16);
    object, string, bytes and structured arrays would cast value by value and
    may fail on the values, so they are never cast here.
    """
    import numpy as np

    try:
        dtype = np.dtype(source)
    except TypeError:
        return False
    return dtype.kind in "biufcmM" and bool(
        np.can_cast(dtype, numpy_dtype(target), casting="unsafe")
    )


@memoised("NumPy dimension limit", "nothing (one entry)", 1)
def _max_dims() -> int:
    import numpy as np

    return 64 if int(np.__version__.partition(".")[0]) >= 2 else 32


def _is_memmap(x: Any) -> bool:
    import mmap

    import numpy as np

    while x is not None:
        if isinstance(x, (np.memmap, mmap.mmap)):
            return True
        x = getattr(x, "base", None)
    return False


class NumpyBackend(Backend):
    """NumPy arrays and scalars (ml_dtypes types included)."""

    name: ClassVar[str] = "numpy"
    readonly_arrays = True
    negative_strides = True
    odd_strides = True
    nonnative_byte_order = True
    unaligned = True

    def owns(self, cls: type) -> bool:
        np = sys.modules.get("numpy")
        return np is not None and issubclass(cls, (np.ndarray, np.generic))

    def traits(self, x: Any) -> Traits:
        np = sys.modules["numpy"]
        if type(x) is not np.ndarray:
            return self._other_traits(x, np)
        dtype = x.dtype
        flags = x.flags.num  # one attribute instead of four: this runs on every call
        # The common array (aligned, writable, contiguous, not empty): its traits
        # follow from the dtype alone (no stride to walk, no memmap to look for),
        # so they are memoised by the dtype.
        plain = flags & _DECIDING == _DECIDING and flags & CONTIGUOUS and x.size
        if plain:
            traits = _PLAIN_TRAITS.data.get(dtype)
            if traits is not None:
                return traits
        negative = odd = False
        size_zero = x.size == 0
        if not flags & CONTIGUOUS or size_zero:  # NumPy calls every size-0 array contiguous
            itemsize = dtype.itemsize
            for n, s in zip(x.shape, x.strides, strict=True):
                if n > 1:  # a length-1 axis's stride is never read
                    negative = negative or s < 0
                    odd = odd or s % itemsize != 0
        memmap = not flags & WRITEABLE and _is_memmap(x)
        # NumPy aligns a complex number to its parts, torch (and DLPack) to the whole
        # item: an array NumPy calls aligned can crash torch on first use.
        address_matters = dtype.alignment < dtype.itemsize <= 16
        misaligned = bool(
            address_matters
            and flags & ALIGNED
            and x.__array_interface__["data"][0] % dtype.itemsize != 0
        )
        key = (dtype, flags & _DECIDING, negative, odd, size_zero, memmap, misaligned)
        traits = _TRAITS.data.get(key)
        if traits is None:
            traits = _TRAITS.put(
                key,
                Traits(
                    "numpy",
                    numpy_name(dtype),
                    CPU,
                    size_zero=size_zero,
                    readonly=not flags & WRITEABLE,
                    memmap=memmap,
                    nonnative=not dtype.isnative,
                    unaligned=not flags & ALIGNED or misaligned,
                    negative_strides=negative,
                    odd_strides=odd,
                ),
            )
        if plain and not address_matters:  # complex: the address decides, never memoised here
            _PLAIN_TRAITS.put(dtype, traits)
        return traits

    def traits_key(self, cls: type) -> Callable[[Any], Hashable] | None:
        return _KEY if cls is sys.modules["numpy"].ndarray else None

    def traits_of_key(self, key: Any, request: Any) -> Traits | None:
        dtype, flags = key
        if flags & _KEY_DECIDES != _KEY_DECIDES:
            return None  # strides, or whether it is a memory map, decide
        if dtype.alignment < dtype.itemsize <= 16:
            return None  # complex: NumPy aligns it to its parts, torch to the whole; the address decides
        return Traits(
            "numpy",
            numpy_name(dtype),
            CPU,
            nonnative=not dtype.isnative,
            unaligned=not flags & ALIGNED,
        )

    def _other_traits(self, x: Any, np: Any) -> Traits:
        if not isinstance(x, np.ndarray):  # a NumPy scalar: immutable, no buffer to share
            return Traits("numpy", numpy_name(x.dtype), scalar=True)
        ma = sys.modules.get("numpy.ma")
        if ma is not None and isinstance(x, ma.MaskedArray):
            return Traits(
                "numpy",
                "",
                unsupported="a masked array: its mask would be lost; call .filled(0) first "
                "(with the fill value you need), or numpy.asarray(x) if the mask is not needed",
            )
        return self.traits(x.view(np.ndarray))  # other subclasses: the same memory

    def holds(self, dtype: str) -> bool:
        row = DTYPES.get(dtype)
        if row is None or row.host is None:
            return False
        return row.host == "numpy" or ml_dtypes_has(dtype)

    def casts(self, source: str, target: str) -> bool:
        if not self.holds(target):
            return False
        if self.holds(source):
            return _can_cast(source, target)
        return _casts_from_outside_the_table(source, target)

    @property
    def max_dims(self) -> int:  # type: ignore[override]
        """NumPy's NPY_MAXDIMS: 64 since NumPy 2.0, 32 before."""
        return _max_dims()

    def python_dtype(self, kind: str) -> str:
        return _PYTHON_DTYPES.get(kind, "inferred")

    @property
    def python_max_dims(self) -> int:  # type: ignore[override]
        """NumPy makes arrays of at most :attr:`max_dims` dimensions from sequences too."""
        return self.max_dims

    def resolve_device(self, device: Device) -> Device:
        if device.kind != "cpu":
            raise DeviceError(
                f"NumPy arrays live in host memory, not on {device}: pass device='cpu' "
                f"or leave device=None"
            )
        return CPU

    def device_of(self, x: Any) -> Device:
        return CPU

    def extent(self, x: Any) -> Extent | None:
        import numpy as np

        if not isinstance(x, np.ndarray):
            return None
        return Extent(CPU, x.__array_interface__["data"][0], x.shape, x.strides, x.dtype.itemsize)

    # Steps.  Each takes (array, plan) and returns an array.

    exchanges: ClassVar[dict[tuple[str, str], str]] = {("python", "numpy"): "asarray"}

    def step_asarray(self, x: Any, plan: Any) -> Any:
        import numpy as np

        dtype = None if plan.dtype == "inferred" else numpy_dtype(plan.dtype)
        try:
            return np.array(x, dtype=dtype)
        except (TypeError, ValueError) as e:
            raise UnsupportedInputError(f"numpy cannot convert this object: {e}") from e

    def step_copy(self, x: Any, plan: Any) -> Any:
        import numpy as np

        if isinstance(x, np.ma.MaskedArray):
            return x.copy()  # NumPy -> NumPy: the mask is part of the array, never dropped
        # The result stays a NumPy array unless torch.from_numpy takes it next;
        # then torch's allocator may serve too (see _copy).
        return copy_ndarray(x, numpy_memory=plan.target != "torch")

    def step_byteswap(self, x: Any, plan: Any) -> Any:
        # astype allocates a native, aligned array with non-negative strides.
        return x.astype(x.dtype.newbyteorder("="), order="K")

    def step_cast(self, x: Any, plan: Any) -> Any:
        import numpy as np

        # NumPy's astype semantics without its warnings: a conversion never warns.
        # errstate covers overflow and invalid values; complex -> real also warns
        # ComplexWarning, and ml_dtypes' complex32 has no .real to take first, so
        # that one cast runs under a filter (the only place xpbridge touches the
        # warning filters).
        target = numpy_dtype(plan.dtype)
        with np.errstate(all="ignore"):
            row = DTYPES.get(numpy_name(x.dtype))
            complex_source = row.kind == "complex" if row is not None else x.dtype.kind == "c"
            if not complex_source or DTYPES[plan.dtype].kind == "complex":
                return x.astype(target, order="K")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
                return x.astype(target, order="K")

    def step_check_range(self, x: Any, plan: Any) -> Any:
        from .arrayapi import check_fits

        check_fits(sys.modules["numpy"], x, plan.dtype)
        return x

    def step_readonly(self, x: Any, plan: Any) -> Any:
        x.flags.writeable = False
        return x
