"""Hypothesis strategies over the arrays of every array library xpbridge knows.

:func:`numpy_arrays` and :func:`torch_tensors` cover every dtype that
crosses (the ml_dtypes types when ml_dtypes is installed), shapes including
0-d and size-0, the layouts that trip converters up (Fortran, transposed,
strided, negative and zero strides, storage offsets), the flags (read-only,
non-native byte order, unaligned; requires_grad, conjugate and negative bits)
and devices (CPU; CUDA when available; ``meta`` on request).  Their data
comes from raw bits, so floats carry every bit pattern: NaN payloads,
infinities, subnormals and negative zero.

:func:`arrays` does the same for any installed library: NumPy, torch,
array-api-strict, JAX, Dask, CuPy, or any array-API namespace (arrays of those
are drawn by ``hypothesis.extra.array_api``, on each of the library's devices;
Dask arrays are NumPy arrays cut into chunks).

Every strategy honours ``shape=`` in every layout, and checks its arguments
when it is built, so a dtype the installed libraries lack is an error at
once, not a failure inside a test.

Examples
--------
>>> from hypothesis import given, settings
>>> from xpbridge.testing.strategies import numpy_arrays
>>> @settings(max_examples=10)
... @given(numpy_arrays(shape=(2, 4), layouts=("transposed",)))
... def test_shape(a):
...     assert a.shape == (2, 4)
>>> test_shape()
"""

from __future__ import annotations

import contextlib
import importlib
import math
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, overload

try:
    from hypothesis import strategies as st
    from hypothesis.extra import array_api as hxp
    from hypothesis.extra import numpy as hnp
except ImportError as missing:  # pragma: no cover - exercised in a subprocess
    raise ModuleNotFoundError(
        "xpbridge.testing.strategies needs hypothesis: pip install 'xpbridge[testing]'",
        name="hypothesis",
    ) from missing

# hypothesis imports the module behind .flatmap() on first use, inside the call
# (hypothesis.extra.numpy.arrays flatmaps): threads that draw at once under
# pytest-run-parallel could see it half imported (ImportError FlatMapStrategy).
# It is imported here, once, before any thread draws.
with contextlib.suppress(ImportError):  # a hypothesis that moved it needs nothing here
    importlib.import_module("hypothesis.strategies._internal.flatmapped")

from .._lib.dtypes import DTYPES, SUB_BYTE, crossing_dtypes, ml_dtypes_has, numpy_dtype
from ..backends.registry import backend_named
from ..errors import ArgumentError, DTypeError, MissingLibraryError, install_line
from ._bits import quiet_complex_half
from ._catalogue import LIBRARIES, device_label, namespace_of
from ._layouts import (
    LAYOUTS,
    LAYOUTS_BY_LIBRARY,
    block_shape,
    layouts_for,
    numpy_view,
    torch_view,
    unaligned_copy,
    with_negative_bit,
)
from ._trees import tree_leaves, trees

if TYPE_CHECKING:
    import torch
    from numpy.typing import NDArray

__all__ = [
    "LAYOUTS",
    "NUMPY_LAYOUTS",
    "TORCH_LAYOUTS",
    "arrays",
    "crossing_dtypes",
    "numpy_arrays",
    "shapes",
    "torch_devices",
    "torch_tensors",
    "tree_leaves",
    "trees",
]

NUMPY_LAYOUTS = LAYOUTS_BY_LIBRARY["numpy"]
TORCH_LAYOUTS = LAYOUTS_BY_LIBRARY["torch"]

ShapeArg = int | tuple[int, ...] | st.SearchStrategy[tuple[int, ...]] | None


def shapes(
    *, min_dims: int = 0, max_dims: int = 3, min_side: int = 0, max_side: int = 4
) -> st.SearchStrategy[tuple[int, ...]]:
    """Shapes with ``min_dims`` to ``max_dims`` axes of length ``min_side`` to ``max_side``.

    The default includes 0-d shapes ``()`` and size-0 shapes such as ``(3, 0)``.

    Parameters
    ----------
    min_dims, max_dims : int, default 0, 3
        The fewest and most axes.
    min_side, max_side : int, default 0, 4
        The shortest and longest axis.

    Returns
    -------
    SearchStrategy[tuple[int, ...]]
        Drawn by ``hypothesis.extra.numpy.array_shapes``.

    Raises
    ------
    hypothesis.errors.InvalidArgument
        If a minimum exceeds its maximum (on first use, as hypothesis checks).

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10)
    ... @given(shapes(min_dims=2, max_dims=2, min_side=1))
    ... def test_matrices(shape):
    ...     assert len(shape) == 2 and min(shape) >= 1
    >>> test_matrices()
    """
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def _shape_strategy(shape: ShapeArg) -> st.SearchStrategy[tuple[int, ...]]:
    # `shape or shapes()` would ask a strategy for its truth value, which
    # hypothesis warns about (and a suite with warnings as errors fails on).
    if shape is None:
        return shapes()
    if isinstance(shape, st.SearchStrategy):
        return shape
    if isinstance(shape, int):
        shape = (shape,)
    dims: Any = shape  # checked here, whatever the annotation promises
    if isinstance(dims, tuple) and all(isinstance(n, int) and n >= 0 for n in dims):
        return st.just(dims)
    raise ArgumentError(
        f"shape={shape!r}: pass a tuple of non-negative ints, an int, or a strategy of shapes"
    )


# --- dtypes -----------------------------------------------------------------


def _whole_bytes(name: str) -> None:
    row = DTYPES[name]
    if row.bits < 8 or name in SUB_BYTE or row.kind == "bits" or name == "float4_e2m1fn_x2":
        raise DTypeError(
            f"{name} packs values into less than a byte: the strategies generate "
            f"dtypes of whole bytes"
        )


def _known(name: Any) -> str:
    if not isinstance(name, str) or name not in DTYPES:
        raise DTypeError(
            f"unknown dtype {name!r}: pass canonical names such as 'float32' or "
            f"'bfloat16' (xpbridge.dtypes() lists them)"
        )
    return name


def _numpy_dtypes(dtypes: Sequence[str] | None) -> list[str]:
    if dtypes is None:
        return crossing_dtypes()
    names = [_known(n) for n in dtypes]
    for name in names:
        row = DTYPES[name]
        _whole_bytes(name)
        if row.host is None:
            raise DTypeError(f"NumPy has no {name} type (only torch has it): leave it out")
        if row.numpy is None and not ml_dtypes_has(name):
            raise DTypeError(
                f"NumPy arrays of {name} need ml_dtypes (it gives NumPy that type): "
                f"{install_line('ml_dtypes')}"
            )
    return names


def _torch_dtypes(dtypes: Sequence[str] | None) -> list[str]:
    torch = _import("torch")
    if dtypes is None:
        return crossing_dtypes()
    names = [_known(n) for n in dtypes]
    for name in names:
        row = DTYPES[name]
        _whole_bytes(name)
        if row.torch is None or not hasattr(torch, row.torch):
            raise DTypeError(f"this torch has no {name} type: leave it out")
    return names


def _namespace_dtypes(xp: Any, library: str, dtypes: Sequence[str] | None) -> list[str]:
    available = list(xp.__array_namespace_info__().dtypes())
    if dtypes is None:
        return [n for n in available if n in DTYPES]
    names = [_known(n) for n in dtypes]
    for name in names:
        if name in available:
            continue
        # Types outside the standard (JAX's bfloat16, say) come through NumPy.
        if name not in _STANDARD_DTYPES and hasattr(xp, name):
            _numpy_dtypes([name])
            continue
        raise DTypeError(
            f"{library} cannot hold {name} here (it lists {', '.join(available)}"
            + ("; 64-bit types need jax_enable_x64" if library == "jax" else "")
            + ")"
        )
    return names


_STANDARD_DTYPES = frozenset(
    {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
    | {"float32", "float64", "complex64", "complex128"}
)


# --- data -------------------------------------------------------------------

_UNSIGNED = {1: "uint8", 2: "uint16", 4: "uint32", 8: "uint64"}
_SIGNED = {1: "uint8", 2: "int16", 4: "int32", 8: "int64"}  # torch views from these


def _bits(name: str, count: int, carriers: dict[int, str]) -> st.SearchStrategy[Any]:
    """A 1-d integer array holding the raw bits of ``count`` elements of dtype ``name``."""
    itemsize = DTYPES[name].bits // 8
    width = min(itemsize, 8)
    elements = st.integers(0, 1) if name == "bool" else None
    return hnp.arrays(carriers[width], count * (itemsize // width), elements=elements)


@st.composite
def _numpy_block(draw: st.DrawFn, name: str, shape: tuple[int, ...]) -> Any:
    bits = draw(_bits(name, math.prod(shape), _UNSIGNED))
    return bits.view(numpy_dtype(name)).reshape(shape)


@st.composite
def _numpy_array(
    draw: st.DrawFn,
    dtypes: list[str],
    shape: st.SearchStrategy[tuple[int, ...]],
    layouts: tuple[str, ...],
    flags: bool,
) -> Any:
    name = draw(st.sampled_from(dtypes))
    layout = draw(st.sampled_from(layouts))
    dims = draw(shape)
    block = draw(_numpy_block(name, block_shape(layout, dims)))
    if flags and block.dtype.itemsize > 1:
        if DTYPES[name].numpy is not None and draw(st.booleans()):
            block = block.astype(block.dtype.newbyteorder("S"))  # same values, swapped bytes
        if block.size and draw(st.integers(0, 4)) == 0:
            block = unaligned_copy(block)
    a = numpy_view(block, layout, dims)
    if flags and draw(st.integers(0, 3)) == 0:
        a = a.view()
        a.flags.writeable = False
    return a


def numpy_arrays(
    dtypes: Sequence[str] | None = None,
    shape: ShapeArg = None,
    layouts: Sequence[str] = NUMPY_LAYOUTS,
    flags: bool = True,
) -> st.SearchStrategy[NDArray[Any]]:
    """NumPy arrays over dtypes, shapes, layouts and flags.

    Parameters
    ----------
    dtypes : sequence of str, optional
        Canonical dtype names.  Default: every dtype that crosses between
        NumPy and torch here (the ml_dtypes types when ml_dtypes is installed).
    shape : tuple of int, int or SearchStrategy, optional
        A fixed shape or a strategy of shapes (default :func:`shapes`).
        Every layout honours it.
    layouts : sequence of str, default NUMPY_LAYOUTS
        Drawn from ``C``, ``F``, ``transposed`` (last two axes swapped),
        ``strided``, ``negative``, ``zero`` (first axis of stride 0) and
        ``offset``.
    flags : bool, default True
        Whether arrays may also be read-only, in non-native byte order or
        unaligned.

    Returns
    -------
    SearchStrategy[numpy.ndarray]
        Arrays whose data are raw bits (every NaN payload, infinities,
        subnormals, signed zeros).

    Raises
    ------
    DTypeError
        For an unknown dtype name, one NumPy lacks, a sub-byte dtype, or an
        ml_dtypes type when ml_dtypes is not installed (the message says
        ``pip install 'xpbridge[ml-dtypes]'``).
    ArgumentError
        For an unknown layout or a malformed ``shape``.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10)
    ... @given(numpy_arrays(dtypes=["float32"], shape=(3,), flags=False))
    ... def test_float32(a):
    ...     assert a.dtype == "float32" and a.shape == (3,) and a.flags.writeable
    >>> test_float32()
    """
    return _numpy_array(
        _numpy_dtypes(dtypes), _shape_strategy(shape), layouts_for("numpy", layouts), flags
    )


# --- torch ------------------------------------------------------------------


def torch_devices() -> list[str]:
    """The devices tensors are generated on by default: CPU, and CUDA devices when present.

    Returns
    -------
    list of str
        ``["cpu"]``, then ``"cuda:0"``, ``"cuda:1"``... (imports nothing:
        without torch imported, only ``"cpu"``).

    Examples
    --------
    >>> torch_devices()[0]
    'cpu'
    """
    torch = sys.modules.get("torch")
    devices = ["cpu"]
    if torch is not None and torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return devices


def _torch_block(draw: st.DrawFn, name: str, shape: tuple[int, ...], device: str) -> Any:
    import torch

    count = math.prod(shape)
    per_element = max(1, DTYPES[name].bits // 64)  # complex128: two int64
    bits = draw(_bits(name, count, _SIGNED)).reshape(count, per_element)
    with quiet_complex_half():
        t = torch.from_numpy(bits).view(getattr(torch, DTYPES[name].torch or name))
        t = t.reshape(shape)
        return t if device == "cpu" else t.to(device)


@st.composite
def _torch_tensor(
    draw: st.DrawFn,
    dtypes: list[str],
    shape: st.SearchStrategy[tuple[int, ...]],
    layouts: tuple[str, ...],
    flags: bool,
    devices: list[str],
) -> Any:
    name = draw(st.sampled_from(dtypes))
    layout = draw(st.sampled_from(layouts))
    dims = draw(shape)
    device = draw(st.sampled_from(devices))
    with quiet_complex_half():
        block = _torch_block(draw, name, block_shape(layout, dims), device)
        negative = flags and name in {"float32", "float64"} and draw(st.integers(0, 3)) == 0
        t = torch_view(with_negative_bit(block) if negative else block, layout, dims)
        if flags and name in {"complex64", "complex128"} and draw(st.booleans()):
            t = t.conj()
        if flags and DTYPES[name].kind in {"float", "complex"} and draw(st.booleans()):
            t = t.detach().requires_grad_()
    return t


def torch_tensors(
    dtypes: Sequence[str] | None = None,
    shape: ShapeArg = None,
    layouts: Sequence[str] = TORCH_LAYOUTS,
    flags: bool = True,
    devices: Sequence[str] | None = None,
) -> st.SearchStrategy[torch.Tensor]:
    """Torch tensors over dtypes, shapes, layouts, flags and devices.

    Parameters
    ----------
    dtypes : sequence of str, optional
        Canonical dtype names; default every dtype that crosses to NumPy
        here.  bfloat16 and the float8 types need no ml_dtypes.
    shape : tuple of int, int or SearchStrategy, optional
        A fixed shape or a strategy of shapes (default :func:`shapes`).
    layouts : sequence of str, default TORCH_LAYOUTS
        As for :func:`numpy_arrays`, without ``negative`` (torch has no
        negative strides); ``contiguous`` and ``expanded`` are accepted as
        ``C`` and ``zero``.
    flags : bool, default True
        Whether float and complex tensors may require grad, complex64 and
        complex128 tensors carry the conjugate bit, and float32 and float64
        tensors the negative bit.  A negative-bit tensor lies every other
        element in memory, so its strides double; shape and dtype never change.
    devices : sequence of str, optional
        Default :func:`torch_devices`.  Include ``"meta"`` for tensors
        without data.  A device torch does not have here is an error.

    Returns
    -------
    SearchStrategy[torch.Tensor]

    Raises
    ------
    ArgumentError
        If torch is not installed, or for an unknown layout.
    DTypeError
        For an unknown dtype name, a sub-byte dtype, or one this torch lacks.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10)
    ... @given(torch_tensors(dtypes=["bfloat16"], shape=(2, 4), layouts=("F",)))
    ... def test_bfloat16(t):
    ...     assert tuple(t.shape) == (2, 4) and str(t.dtype) == "torch.bfloat16"
    >>> test_bfloat16()
    """
    names = _torch_dtypes(dtypes)
    chosen = _devices("torch", None, devices)
    return _torch_tensor(
        names, _shape_strategy(shape), layouts_for("torch", layouts), flags, chosen
    )


# --- any array-API library ----------------------------------------------------


def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingLibraryError(f"{module} is not installed: {install_line(module)}") from None


def _resolve(library: str | ModuleType | Any) -> tuple[str, Any]:
    """A library given by name, module or namespace: its name and array-API namespace."""
    if not isinstance(library, str):
        return namespace_of(library), library
    entry = LIBRARIES.get(library)
    if entry is not None:
        return library, entry.load()
    namespace = getattr(backend_named(library), "namespace", None)
    if namespace is None:
        raise ArgumentError(
            f"{library!r} has no array-API namespace to draw arrays with: pass the "
            f"namespace itself (arrays(my_library_namespace))"
        )
    return namespace_of(namespace), namespace


def _known_devices(name: str, xp: Any, requested: bool) -> list[tuple[str, Any]]:
    """``(label, device)`` of a library: all it has when devices are requested, else the default set."""
    if name == "numpy":
        return [("cpu", "cpu")]
    if name == "torch":
        labels = [*torch_devices(), "meta"] if requested else torch_devices()
        return [(label, label) for label in labels]
    entry = LIBRARIES.get(name)
    if entry is not None:
        return entry.devices() if requested else entry.run_devices()
    return [(device_label(d), d) for d in xp.__array_namespace_info__().devices()]


def _devices(name: str, xp: Any, devices: Sequence[Any] | None) -> list[Any]:
    """The requested devices that the library has (all of its default set when None)."""
    known = _known_devices(name, xp, devices is not None)
    if devices is None:
        return [d for _, d in known]
    labels = {d if isinstance(d, str) else device_label(d) for d in devices}
    chosen = [d for label, d in known if label in labels]
    if not chosen:
        raise ArgumentError(
            f"{name} has none of the devices {', '.join(sorted(labels))} here: it has "
            f"{', '.join(label for label, _ in known)}"
        )
    return chosen


def _api_version(xp: Any) -> Any:
    version = getattr(xp, "__array_api_version__", None)
    return version if version in hxp.RELEASED_VERSIONS else hxp.RELEASED_VERSIONS[-1]


@st.composite
def _namespace_array(
    draw: st.DrawFn,
    xp: Any,
    xps: Any,
    dtypes: list[str],
    shape: st.SearchStrategy[tuple[int, ...]],
    devices: list[Any],
) -> Any:
    name = draw(st.sampled_from(dtypes))
    device = draw(st.sampled_from(devices))
    if name in _STANDARD_DTYPES:
        x = draw(xps.arrays(getattr(xp, name), shape))
        # asarray, not x.to_device: array-api-strict's to_device fails on NumPy 1.26.
        return xp.asarray(x, device=device)
    block = draw(_numpy_block(name, draw(shape)))
    return xp.asarray(block, device=device)


@st.composite
def _dask_array(draw: st.DrawFn, numpy_arrays: st.SearchStrategy[Any]) -> Any:
    """A Dask array over a drawn NumPy array, each axis cut into one or two chunks."""
    import dask.array as da

    a = draw(numpy_arrays)
    chunks = tuple(
        max(1, draw(st.integers(1, side))) if side > 1 else max(side, 1) for side in a.shape
    )
    return da.from_array(a, chunks=chunks)  # type: ignore[no-untyped-call]


def _one_library(
    library: str | ModuleType | Any,
    dtypes: Sequence[str] | None,
    shape: st.SearchStrategy[tuple[int, ...]],
    layouts: Sequence[str] | None,
    flags: bool,
    devices: Sequence[Any] | None,
) -> st.SearchStrategy[Any]:
    name, xp = _resolve(library)
    if name == "numpy":
        _devices(name, xp, devices)
        return _numpy_array(_numpy_dtypes(dtypes), shape, layouts_for("numpy", layouts), flags)
    if name == "torch":
        names = _torch_dtypes(dtypes)
        chosen = _devices(name, xp, devices)
        return _torch_tensor(names, shape, layouts_for("torch", layouts), flags, chosen)
    layouts_for(name, layouts)  # only C: an array-API library does not show its layout
    if name == "dask":
        _devices(name, xp, devices)
        return _dask_array(_numpy_array(_numpy_dtypes(dtypes), shape, ("C",), False))
    names = _namespace_dtypes(xp, name, dtypes)
    xps = hxp.make_strategies_namespace(xp, api_version=_api_version(xp))
    return _namespace_array(xp, xps, names, shape, _devices(name, xp, devices))


@overload
def arrays(
    library: Literal["numpy"],
    *,
    dtypes: Sequence[str] | None = ...,
    shape: ShapeArg = ...,
    layouts: Sequence[str] | None = ...,
    flags: bool = ...,
    devices: Sequence[Any] | None = ...,
) -> st.SearchStrategy[NDArray[Any]]: ...
@overload
def arrays(
    library: Literal["torch"],
    *,
    dtypes: Sequence[str] | None = ...,
    shape: ShapeArg = ...,
    layouts: Sequence[str] | None = ...,
    flags: bool = ...,
    devices: Sequence[Any] | None = ...,
) -> st.SearchStrategy[torch.Tensor]: ...
@overload
def arrays(
    library: str | ModuleType | Sequence[str] | None = ...,
    *,
    dtypes: Sequence[str] | None = ...,
    shape: ShapeArg = ...,
    layouts: Sequence[str] | None = ...,
    flags: bool = ...,
    devices: Sequence[Any] | None = ...,
) -> st.SearchStrategy[Any]: ...
def arrays(
    library: str | ModuleType | Sequence[str] | None = None,
    *,
    dtypes: Sequence[str] | None = None,
    shape: ShapeArg = None,
    layouts: Sequence[str] | None = None,
    flags: bool = True,
    devices: Sequence[Any] | None = None,
) -> st.SearchStrategy[Any]:
    """Arrays of one or several libraries, with the layouts and flags each can hold.

    Parameters
    ----------
    library : str, module, namespace or sequence of str, optional
        ``"numpy"``, ``"torch"``, ``"array_api_strict"``, ``"jax"``,
        ``"cupy"``, the name of a backend registered with xpbridge, an
        array-API namespace, or several names.  Default: NumPy and, when
        torch is installed, torch.
    dtypes : sequence of str, optional
        Canonical dtype names.  Default: per library, the dtypes that cross
        between NumPy and torch (NumPy, torch) or those the namespace lists
        in ``__array_namespace_info__().dtypes()`` (JAX without x64 lists
        no 64-bit types).
    shape : tuple of int, int or SearchStrategy, optional
        A fixed shape or a strategy of shapes, honoured by every library and
        layout.
    layouts : sequence of str, optional
        Each library draws from the requested layouts it can hold (default
        all of them): NumPy all of ``LAYOUTS``, torch all but ``negative``,
        any other library ``C`` only (its layout is not observable).
    flags : bool, default True
        NumPy's and torch's flags, as for :func:`numpy_arrays` and
        :func:`torch_tensors`; other libraries have none.
    devices : sequence, optional
        Device labels (``"cpu"``, ``"cuda:0"``, ``"meta"``, ``"device1"``)
        or device objects; each library takes those it has (and it is an
        error when it has none of them).  Default: torch's
        :func:`torch_devices`; array-api-strict's ``CPU_DEVICE`` and
        ``device1``; every device of any other library.

    Returns
    -------
    SearchStrategy
        ``SearchStrategy[numpy.ndarray]`` for ``"numpy"``,
        ``SearchStrategy[torch.Tensor]`` for ``"torch"``.  Arrays of other
        libraries are drawn by ``hypothesis.extra.array_api`` (types outside
        the standard, such as JAX's bfloat16, from raw bits through NumPy).

    Raises
    ------
    ArgumentError
        If a library is not installed or unknown, a layout no chosen library
        can hold, a device the library lacks.
    DTypeError
        If a chosen library cannot hold a requested dtype (the message names
        what to install or enable).

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10)
    ... @given(arrays("array_api_strict", dtypes=["float32"], shape=(2, 3)))
    ... def test_strict(x):
    ...     assert x.shape == (2, 3) and x.dtype == xp.float32
    >>> import array_api_strict as xp
    >>> test_strict()
    """
    if library is None:
        chosen: list[Any] = ["numpy", "torch"] if LIBRARIES["torch"].is_installed() else ["numpy"]
    elif isinstance(library, str) or not isinstance(library, Sequence):
        chosen = [library]
    else:
        chosen = list(library)
    shape_strategy = _shape_strategy(shape)
    return st.one_of(
        *(_one_library(lib, dtypes, shape_strategy, layouts, flags, devices) for lib in chosen)
    )
