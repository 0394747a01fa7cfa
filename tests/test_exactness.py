"""Exact for every library and every way of naming it (spec/contract.toml, issue 10 rules)."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import array_api_compat
import numpy as np
import pytest
from cases import CASES
from frameworks import SCIPY_ARRAY_API_COMPAT, needs_torch, torch, torch_param

import xpbridge as xb
from xpbridge.testing import snapshot

xps = pytest.importorskip("array_api_strict")
try:  # JAX has left NumPy 1.26 behind: its rows join where it is installed
    import jax
    import jax.numpy as jnp
except ImportError:
    jax = jnp = None
LIBRARIES = ["numpy", torch_param("torch")] + (["jax"] if jax is not None else [])


def _compat(name: str) -> Any:
    return importlib.import_module(name)


def _vendored(library: str) -> list[Any]:
    """SciPy's vendored copy of array-api-compat, where SciPy is installed (CI has it)."""
    if SCIPY_ARRAY_API_COMPAT is None:
        return []
    return [importlib.import_module(f"{SCIPY_ARRAY_API_COMPAT}.{library}")]


def _spellings(library: str, example: Any) -> list[Any]:
    """Every way backend-agnostic code names ``library``."""
    if library == "numpy":
        return [
            "numpy",
            np,
            _compat("array_api_compat.numpy"),
            array_api_compat.array_namespace(example),
            *_vendored("numpy"),  # a vendored copy
            "array_api_compat.numpy",
            example,
        ]
    if library == "torch":
        return [
            "torch",
            torch,
            _compat("array_api_compat.torch"),
            array_api_compat.array_namespace(example),
            *_vendored("torch"),
            example,
        ]
    return ["jax", jax, jnp, "jax.numpy", array_api_compat.array_namespace(example), example]


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and np.array_equal(np.asarray(a), np.asarray(b))


SOURCES = {
    "numpy": lambda: np.arange(6.0, dtype=np.float32),
    "numpy-reversed": lambda: np.arange(6.0, dtype=np.float32)[::-1],
    "numpy-readonly": lambda: np.frombuffer(np.arange(6.0, dtype=np.float32).tobytes(), np.float32),
    "torch": lambda: torch.arange(6.0),
    "torch-grad": lambda: torch.arange(6.0, requires_grad=True),
    "strict": lambda: xps.asarray([1.0, 2.0, 3.0], dtype=xps.float32),
}
EXAMPLES = {"numpy": np.zeros(1, np.float32)}
if torch is not None:
    EXAMPLES["torch"] = torch.zeros(1)
if jnp is not None:
    SOURCES["jax"] = lambda: jnp.arange(6.0)
    EXAMPLES["jax"] = jnp.zeros(1)


@pytest.mark.rule("namespace-spellings")
@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize(
    "source", [torch_param(s) if s.startswith("torch") else s for s in SOURCES]
)
@pytest.mark.parametrize("copy", [None, True, False])
def test_every_spelling_gives_the_same_plan_and_result(
    library: str, source: str, copy: bool | None
) -> None:
    outcomes = []
    for to in _spellings(library, EXAMPLES[library]):
        x = SOURCES[source]()
        try:
            p = xb.plan(x, to, copy=copy)
            result = xb.convert(x, to, copy=copy)
        except xb.ConversionError as e:
            outcomes.append((type(e), str(e)))
            continue
        assert p.aliases is (xb.shares_memory(x, result) or result is x)
        outcomes.append((p, type(result), result is x, getattr(result, "requires_grad", None)))
    assert all(o == outcomes[0] for o in outcomes), outcomes


@pytest.mark.rule("namespace-spellings")
@needs_torch
def test_a_namespace_keeps_autograd_and_devices_of_torch() -> None:
    compat_torch = _compat("array_api_compat.torch")
    w = torch.ones(3, requires_grad=True)
    assert xb.convert(w, compat_torch) is w  # the identity: the graph is kept
    assert xb.plan(w, compat_torch).steps == ()
    assert xb.convert(w, compat_torch, grad="raise") is w  # torch -> torch cuts nothing
    r = xb.convert(np.ones(2), compat_torch, requires_grad=True)
    assert r.requires_grad and r.is_leaf
    with pytest.raises(xb.DeviceError, match="cuda is not available"):
        xb.convert(np.ones(2), compat_torch, device="cuda")
    # read-only and reversed sources copy for the namespace exactly as for "numpy"
    ro = np.frombuffer(b"\x00" * 16, np.float32)
    for spelling in ("numpy", _compat("array_api_compat.numpy")):
        assert xb.convert(ro, spelling) is ro
        assert xb.convert(ro[::-1], spelling).base is ro


@pytest.mark.rule("protocol-names-are-not-targets")
@pytest.mark.parametrize(
    "to", ["python", "buffer", "dlpack", np.ndarray, torch_param(getattr(torch, "Tensor", None))]
)
def test_protocols_and_types_are_not_targets(to: Any) -> None:
    a = np.ones(2)
    with pytest.raises(xb.ArgumentError) as from_plan:
        xb.plan(a, to)
    with pytest.raises(xb.ArgumentError) as from_convert:
        xb.convert(a, to)
    assert str(from_plan.value) == str(from_convert.value)


# Same library, any dtype or layout -----------------------------------------


def _torch_same_library() -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "torch.quantize_per_tensor", UserWarning)
        warnings.filterwarnings("ignore", "The PyTorch API of nested tensors", UserWarning)
        warnings.filterwarnings("ignore", "Sparse CSR tensor support", UserWarning)
        return {
            "sparse": torch.eye(3).to_sparse(),
            "sparse_csr": torch.eye(3).to_sparse_csr(),
            "quantized": torch.quantize_per_tensor(torch.ones(3), 0.5, 0, torch.qint8),
            "nested": torch.nested.nested_tensor([torch.ones(2), torch.ones(3)]),
            "uint4": torch.tensor([1, 2, 3], dtype=torch.uint8).view(torch.uint4),
            "int3": torch.tensor([1, 2, 3], dtype=torch.uint8).view(torch.int3),
            "bits8": torch.tensor([1, 2, 3], dtype=torch.uint8).view(torch.bits8),
        }


TORCH_LAYOUTS = ["sparse", "sparse_csr", "quantized", "nested", "uint4", "int3", "bits8"]


@pytest.mark.rule("same-library-any-layout")
@needs_torch
@pytest.mark.parametrize("kind", TORCH_LAYOUTS)
def test_torch_to_torch_is_the_object_itself_for_every_layout(kind: str) -> None:
    x = _torch_same_library()[kind]
    before = snapshot(x)
    assert xb.to_torch(x) is x
    assert xb.to_torch(x, copy=False) is x
    assert xb.plan(x, "torch").aliases and xb.plan(x, "torch").steps == ()
    c = xb.to_torch(x, copy=True)
    assert c is not x and c.dtype == x.dtype and c.layout == x.layout
    assert snapshot(c)[1:] == snapshot(x)[1:]  # the same bits and metadata, a new buffer
    assert snapshot(x) == before
    if x.layout is torch.strided and not x.is_nested and not x.is_quantized:
        assert not xb.shares_memory(c, x)


@pytest.mark.rule("same-library-any-layout")
@pytest.mark.parametrize("case", ["numpy_object", "numpy_clongdouble", "numpy_strings"])
def test_numpy_to_numpy_is_the_object_itself_for_every_dtype(case: str, tmp_path: Path) -> None:
    x = CASES[case](tmp_path)
    assert xb.to_numpy(x) is x and xb.to_numpy(x, copy=False) is x
    c = xb.to_numpy(x, copy=True)
    assert c is not x and c.dtype == x.dtype and c.tolist() == x.tolist()
    assert not np.shares_memory(c, x)


@pytest.mark.rule("same-library-any-layout")
@pytest.mark.parametrize("device", ["CPU_DEVICE", "device1"])
def test_array_api_strict_to_itself_keeps_object_and_device(device: str) -> None:
    x = xps.asarray([1.0, 2.0, 3.0], device=xps.Device(device))
    assert xb.convert(x, xps) is x and xb.convert(x, "array_api_strict", copy=False) is x
    c = xb.convert(x, xps, copy=True)
    assert c is not x and c.device == x.device and xps.all(c == x)
    cast = xb.convert(x, xps, dtype=xps.float32)
    assert cast.dtype == xps.float32 and cast.device == x.device  # device=None keeps device1
    p = xb.plan(x, xps, dtype="float32")
    assert p.steps == ("cast",) and not p.aliases
    elsewhere = xps.Device("device2")
    moved = xb.convert(x, xps, device=elsewhere)
    assert moved.device == elsewhere and xb.plan(x, xps, device=elsewhere).steps == ("to_device",)


# dtype= and device= in any namespace's own objects ------------------------


@pytest.mark.rule("namespace-dtypes-and-devices")
@pytest.mark.parametrize(
    "dtype",
    [
        xps.float32,
        xps.asarray([1.0], dtype=xps.float32).dtype,
        "float32",
        *([jnp.float32] if jnp is not None else []),
    ],
)
@pytest.mark.parametrize("to", ["numpy", torch_param("torch"), "array_api_strict"])
def test_any_namespace_dtype_object_is_accepted(dtype: Any, to: str) -> None:
    r = xb.convert(np.arange(3.0), to, dtype=dtype)
    assert xb.plan(np.arange(3.0), to, dtype=dtype).dtype == "float32"
    assert str(r.dtype).rpartition(".")[2] == "float32"


@pytest.mark.rule("namespace-dtypes-and-devices")
def test_python_types_and_foreign_objects_stay_refused_as_dtypes() -> None:
    for bad in (float, bool, b"a", object(), xps):
        with pytest.raises(xb.DTypeError):
            xb.convert(np.ones(1), "numpy", dtype=bad)


@pytest.mark.rule("namespace-dtypes-and-devices")
def test_namespace_device_objects_are_accepted() -> None:
    device1 = xps.Device("device1")
    r = xb.convert(np.ones(2), xps, device=device1)
    assert r.device == device1
    like = xps.asarray([0.0], device=device1)
    assert xb.convert(np.ones(2), like).device == device1  # to=array: its device
    assert xb.convert(np.ones(2), xps, device="device1").device == device1  # by its name
    if jnp is not None:
        assert xb.plan(np.ones(2, np.float32), jnp, device="cpu:0").device.kind == "cpu"
    with pytest.raises(xb.DeviceError):
        xb.convert(np.ones(2), xps, device="device9")


# Python values -------------------------------------------------------------


@pytest.mark.rule("python-values-planned-exactly")
@pytest.mark.parametrize(
    ("value", "to", "dtype"),
    [
        (0.5, "numpy", "float64"),
        ([1, 2], "numpy", "int64"),
        torch_param([True, False], "torch", "bool"),
        torch_param([1.0, 2.0], "torch", "float32"),
        torch_param([1j], "torch", "complex64"),
        (2**63, "numpy", "uint64"),
        ([1.5, 2.5], "array_api_strict", "float64"),
        (0.5, _compat("array_api_compat.numpy"), "float64"),
    ],
)
def test_python_values_plan_the_dtype_they_get(value: Any, to: Any, dtype: str) -> None:
    p = xb.plan(value, to)
    r = xb.convert(value, to)
    assert p.dtype == dtype == str(r.dtype).rpartition(".")[2]


@pytest.mark.rule("python-values-planned-exactly")
@pytest.mark.parametrize(
    ("value", "kwargs", "remedy"),
    [
        (-1, {"dtype": "uint8"}, {"dtype": "int64"}),
        ([1, 300], {"dtype": "int8"}, {"dtype": "int64"}),
        ([1, 2], {"requires_grad": True}, {"requires_grad": True, "dtype": "float32"}),
        (2**70, {}, {"dtype": "float64"}),
    ],
)
@pytest.mark.parametrize("to", ["numpy", torch_param("torch")])
def test_python_values_a_dtype_cannot_hold_are_dtype_errors(
    value: Any, kwargs: dict[str, Any], remedy: dict[str, Any], to: str
) -> None:
    if "requires_grad" in kwargs and to == "numpy":
        return
    with pytest.raises(xb.DTypeError) as from_plan:
        xb.plan(value, to, **kwargs)
    with pytest.raises(xb.DTypeError) as from_convert:
        xb.convert(value, to, **kwargs)
    assert str(from_plan.value) == str(from_convert.value)
    name = remedy["dtype"]
    assert f"dtype='{name}'" in str(from_convert.value)  # the remedy it names works
    assert str(xb.convert(value, to, **remedy).dtype).rpartition(".")[2] == name


@pytest.mark.rule("python-values-planned-exactly")
@needs_torch
def test_python_sequences_convert_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = xb.to_torch([np.zeros(3), np.ones(3)])
        assert t.shape == (2, 3)
        assert xb.to_torch([1.0, 2.0], dtype="complex32").dtype == torch.complex32


# Tensors without data -------------------------------------------------------


def _fake() -> Any:
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        return torch.ones(2)


def _wrapped_plan() -> Any:
    from torch.func import vmap

    seen: list[Any] = []

    def inside(row: Any) -> Any:
        with pytest.raises(xb.UnsupportedInputError, match="functorch") as from_plan:
            xb.plan(row, "numpy")
        with pytest.raises(xb.UnsupportedInputError) as from_convert:
            xb.to_numpy(row)
        seen.append(str(from_plan.value) == str(from_convert.value))
        return row * 2

    vmap(inside)(torch.ones(2, 3))
    return seen


WITHOUT_DATA = {
    "fake": _fake,
    "uninitialized": lambda: torch.nn.UninitializedParameter(),  # noqa: PLW0108  # torch may be None
    "65-dims": lambda: torch.ones([1] * 65),
}


@pytest.mark.rule("tensors-without-data")
@needs_torch
@pytest.mark.parametrize("make", list(WITHOUT_DATA))
@pytest.mark.parametrize("copy", [None, True, False])
def test_tensors_without_data_are_unsupported(make: str, copy: bool | None) -> None:
    x = WITHOUT_DATA[make]()
    with pytest.raises(xb.UnsupportedInputError) as from_plan:
        xb.plan(x, "numpy", copy=copy)
    with pytest.raises(xb.UnsupportedInputError) as from_convert:
        xb.to_numpy(x, copy=copy)
    assert str(from_plan.value) == str(from_convert.value)


@pytest.mark.rule("tensors-without-data")
@needs_torch
def test_functorch_wrapped_tensors_are_unsupported() -> None:
    assert _wrapped_plan() == [True]


@pytest.mark.rule("tensors-without-data")
@needs_torch
def test_numpy_dimension_limit_is_numpy_s_own() -> None:
    limit = 64 if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else 32
    assert xb.to_numpy(torch.ones([1] * limit)).ndim == limit
    assert xb.to_torch(torch.ones([1] * 65)).ndim == 65  # torch -> torch: the tensor itself


@pytest.mark.rule("tensors-without-data")
@pytest.mark.subprocess
@needs_torch
def test_first_use_prints_nothing() -> None:
    # torch printed "'mkldnn' is no longer used as device type" on first use.
    code = (
        "import warnings; warnings.simplefilter('error')\n"
        "import numpy as np, torch, array_api_compat.torch as xt, xpbridge as xb\n"
        "w = torch.ones(2, requires_grad=True)\n"
        "assert xb.convert(w, xt) is w\n"
        "xb.to_numpy(w); xb.to_torch(np.ones(2)); xb.plan(w, 'numpy')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


@pytest.mark.rule("same-library-any-layout")
@pytest.mark.parametrize("to", ["array_api_strict", torch_param("torch"), "numpy"])
def test_a_numpy_scalar_with_a_cast_becomes_a_0d_array_first(to: str) -> None:
    # Before: NumPy's scalar cast gave a scalar, which has no __dlpack__ (AttributeError).
    x = np.float64(1.5)
    p = xb.plan(x, to, dtype="float32")
    r = xb.convert(x, to, dtype="float32")
    assert p.steps[0] == "copy" and not p.aliases
    assert str(r.dtype).rpartition(".")[2] == "float32" and float(r) == 1.5


@pytest.mark.rule("immutable-sources")
@pytest.mark.parametrize("copy", [None, True])
def test_array_api_strict_round_trips_with_writes(copy: bool | None) -> None:
    # NumPy < 2.1 makes every DLPack import read-only and cannot export one again:
    # the plan said writable and to_numpy raised DeviceError.  Each NumPy leg of
    # the conformance matrix runs this.
    a = np.arange(4.0)
    p = xb.plan(a, xps, copy=copy)
    y = xb.convert(a, xps, copy=copy)
    if p.writable:
        y[0] = 5.0
        assert float(y[0]) == 5.0
    else:
        with pytest.raises((ValueError, TypeError, RuntimeError)):
            y[0] = 5.0
    back = xb.to_numpy(y, copy=copy)
    assert back.tolist() == [float(v) for v in xps.asarray(y, copy=True)]
    assert xb.plan(y, "numpy", copy=copy).writable is back.flags.writeable
    if back.flags.writeable and xb.shares_memory(back, y):
        back[1] = 7.0
        assert float(y[1]) == 7.0  # a writable alias writes through
    if torch is not None:  # and through torch, where it is installed
        t = xb.to_torch(y)
        t[2] = -1.0  # torch's result is always the caller's to write
        assert xb.to_numpy(xb.convert(t, xps))[2] == -1.0


@needs_torch
def test_an_empty_bit_view_with_a_negative_stride_reaches_torch() -> None:
    # NumPy calls an empty array with a negative stride C-contiguous; torch.from_numpy
    # still refuses the stride (no element is read): the exchange re-strides it.
    from numpy.lib.stride_tricks import as_strided

    ml_dtypes = pytest.importorskip("ml_dtypes")
    base = np.zeros(4, ml_dtypes.bfloat16)
    empty = as_strided(base[2:], (0, 2), (4, -2))
    assert empty.flags.c_contiguous and empty.strides[1] < 0
    for dtype in (None, "bool", "float32"):
        result = xb.convert(empty, "torch", dtype=dtype)
        assert tuple(result.shape) == (0, 2)
