"""Named source arrays for the contract in spec/contract.toml.

Each builder returns a fresh source; the contract's rules name builders by
key, and a meta-test checks that every key is used and every used key exists.
The torch builders exist only where torch is installed; rules and cases that
need torch skip elsewhere (``contract_params`` says why).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
from frameworks import HAS_TORCH, cuda_available, torch

CASES: dict[str, Callable[[Path], Any]] = {}

# Types this project knows that the installed ml_dtypes may predate (complex32 came in 0.6).
ML_NAMES = (
    "bfloat16",
    "float8_e4m3fn",
    "float8_e4m3fnuz",
    "float8_e5m2",
    "float8_e5m2fnuz",
    "float8_e8m0fnu",
    "complex32",
    "float8_e3m4",
    "float8_e4m3",
    "float8_e4m3b11fnuz",
    "float6_e2m3fn",
    "float6_e3m2fn",
    "float4_e2m1fn",
    "int4",
    "bcomplex32",
)
MISSING_ML = {name for name in ML_NAMES if not hasattr(ml_dtypes, name)}


def missing_ml_dtype(case_name: str) -> str | None:
    """Why a case cannot run here (its ml_dtypes type is missing), or None."""
    for name in MISSING_ML:
        if case_name.endswith(f"_{name}"):
            return f"ml_dtypes {ml_dtypes.__version__} has no {name}"
    return None


def needs_torch_case(case_name: str) -> str | None:
    """Why a case cannot run here (it is a torch source and torch is missing), or None."""
    if case_name.startswith("torch_") and not HAS_TORCH:
        return "needs torch (a torch source; not installed here)"
    return None


def contract_params(
    rules: list[dict[str, Any]], skip_cases: frozenset[str] = frozenset()
) -> list[Any]:
    """One pytest param per (generic rule, case, copy mode), with the skips this machine needs."""
    import pytest

    params = []
    for rule in rules:
        if rule.get("driver") == "custom":
            continue
        marks = []
        needs = rule.get("requires")
        if needs == "cuda" and not cuda_available():
            marks.append(pytest.mark.skip(reason="needs CUDA"))
        if needs == "no-cuda" and cuda_available():
            marks.append(pytest.mark.skip(reason="CUDA is available here"))
        if not HAS_TORCH and rule.get("target") == "torch":
            marks.append(pytest.mark.skip(reason="needs torch (the target; not installed here)"))
        for case_name in rule["cases"]:
            if case_name in skip_cases:
                continue
            missing = missing_ml_dtype(case_name) or needs_torch_case(case_name)
            case_marks = [*marks, pytest.mark.skip(reason=missing)] if missing else marks
            for mode in ("none", "true", "false"):
                params.append(
                    pytest.param(
                        rule,
                        case_name,
                        mode,
                        id=f"{rule['id']}-{case_name}-{mode}",
                        marks=case_marks,
                    )
                )
    return params


def case(fn: Callable[..., Any]) -> Callable[..., Any]:
    CASES[fn.__name__] = fn
    return fn


def _floats(n: int = 6, dtype: Any = np.float32) -> np.ndarray:
    return (np.arange(n) - 2.5).astype(dtype)


# NumPy sources -------------------------------------------------------------


@case
def numpy_writable(tmp: Path) -> Any:
    return _floats()


@case
def numpy_readonly_flag(tmp: Path) -> Any:
    a = _floats()
    a.flags.writeable = False
    return a


@case
def numpy_frombuffer_bytes(tmp: Path) -> Any:
    return np.frombuffer(_floats().tobytes(), dtype=np.float32)


@case
def numpy_broadcast_to(tmp: Path) -> Any:
    return np.broadcast_to(_floats(3), (2, 3))


@case
def numpy_memmap_r(tmp: Path) -> Any:
    path = tmp / "data.bin"
    _floats().tofile(path)
    return np.memmap(path, dtype=np.float32, mode="r")


@case
def numpy_memmap_c(tmp: Path) -> Any:
    path = tmp / "data.bin"
    _floats().tofile(path)
    return np.memmap(path, dtype=np.float32, mode="c")


@case
def numpy_negative_strides(tmp: Path) -> Any:
    return _floats()[::-1]


@case
def numpy_negative_strides_2d(tmp: Path) -> Any:
    return _floats(12).reshape(3, 4)[:, ::-2]


@case
def numpy_big_endian(tmp: Path) -> Any:
    return _floats(dtype=np.dtype(">f8"))


@case
def numpy_unaligned_complex128(tmp: Path) -> Any:
    raw = np.zeros(3 * 16 + 1, dtype=np.uint8)
    a = raw[1:].view(np.complex128)
    a[:] = [1 + 2j, 3 - 4j, -5 + 6j]
    assert not a.flags.aligned
    return a


@case
def numpy_odd_strides(tmp: Path) -> Any:
    # int16 elements 3 bytes apart: torch requires strides in whole elements
    return np.lib.stride_tricks.as_strided(np.arange(12, dtype=np.int16), (3,), (3,))


@case
def numpy_fortran(tmp: Path) -> Any:
    return np.asfortranarray(_floats(12).reshape(3, 4))


@case
def numpy_strided_offset(tmp: Path) -> Any:
    return _floats(24).reshape(4, 6)[1:, 2::2]


@case
def numpy_zero_strides_writable(tmp: Path) -> Any:
    base = _floats(3)
    return np.lib.stride_tricks.as_strided(base, (4, 3), (0, base.strides[0]))


@case
def numpy_length1_odd_stride(tmp: Path) -> Any:
    return np.lib.stride_tricks.as_strided(_floats(3), (1, 3), (-7, 4))


@case
def numpy_0d(tmp: Path) -> Any:
    return np.array(3.5, dtype=np.float64)


@case
def numpy_size0(tmp: Path) -> Any:
    return np.zeros((0, 3), dtype=np.float32)


@case
def numpy_size0_readonly_negative(tmp: Path) -> Any:
    a = np.zeros((3, 0), dtype=np.float32)[::-1]
    a.flags.writeable = False
    return a


@case
def numpy_size0_negative_flagged_contiguous(tmp: Path) -> Any:
    a = np.zeros((0, 3), dtype=np.float32)[:, ::-1]
    assert a.flags.c_contiguous  # NumPy calls every size-0 array contiguous
    return a


@case
def numpy_scalar(tmp: Path) -> Any:
    return np.float32(1.5)


@case
def numpy_bool(tmp: Path) -> Any:
    return np.array([True, False, True])


def _ints(dtype: Any) -> Callable[[Path], Any]:
    def build(tmp: Path) -> Any:
        info = np.iinfo(dtype)
        return np.array([info.min, 0, 1, info.max], dtype=dtype)

    build.__name__ = f"numpy_{np.dtype(dtype).name}"
    return build


for _t in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64):
    case(_ints(_t))


@case
def numpy_ulonglong(tmp: Path) -> Any:
    return np.array([0, 2**64 - 1], dtype=np.ulonglong)


@case
def numpy_longlong(tmp: Path) -> Any:
    return np.array([-(2**63), 2**63 - 1], dtype=np.longlong)


@case
def numpy_float16(tmp: Path) -> Any:
    return _floats(dtype=np.float16)


@case
def numpy_complex64(tmp: Path) -> Any:
    return (_floats() + 1j * _floats()[::-1]).astype(np.complex64)


@case
def numpy_complex128(tmp: Path) -> Any:
    return _floats(dtype=np.float64) - 2j


@case
def numpy_matrix(tmp: Path) -> Any:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "the matrix subclass", PendingDeprecationWarning)
        return np.matrix([[1.0, 2.0], [3.0, 4.0]])


@case
def numpy_masked(tmp: Path) -> Any:
    return np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])


def _ml(name: str) -> Callable[[Path], Any]:
    def build(tmp: Path) -> Any:
        dtype = np.dtype(getattr(ml_dtypes, name))
        # bit patterns spread over the whole range: NaN payloads and infinities included
        patterns = np.arange(0, 2 ** (8 * dtype.itemsize), 2 ** (8 * dtype.itemsize) // 256 + 1)
        carrier = {1: np.uint8, 2: np.uint16, 4: np.uint32}[dtype.itemsize]
        return patterns.astype(carrier).view(dtype)

    build.__name__ = f"numpy_{name}"
    return build


for _name in ML_NAMES:
    case(_ml(_name))


@case
def numpy_bfloat16_nan_payloads(tmp: Path) -> Any:
    return np.array([0x7FC1, 0xFF81, 0x7F81, 0x0001, 0x8000], dtype=np.uint16).view(
        ml_dtypes.bfloat16
    )


@case
def numpy_longdouble(tmp: Path) -> Any:
    return np.arange(3, dtype=np.longdouble)


@case
def numpy_datetime(tmp: Path) -> Any:
    return np.array(["2026-01-01"], dtype="datetime64[D]")


@case
def numpy_object(tmp: Path) -> Any:
    return np.array([1, "a"], dtype=object)


@case
def numpy_strings(tmp: Path) -> Any:
    return np.array(["ab", "c"])


@case
def numpy_structured(tmp: Path) -> Any:
    return np.zeros(2, dtype=[("x", "f4"), ("y", "i4")])


@case
def numpy_void(tmp: Path) -> Any:
    return np.zeros(2, dtype="V4")


# torch sources (only where torch is installed) --------------------------------

if torch is not None:

    def _tfloats(n: int = 6, dtype: Any = torch.float32) -> torch.Tensor:
        return (torch.arange(n) - 2.5).to(dtype)

    @case
    def torch_cpu(tmp: Path) -> Any:
        return _tfloats()

    @case
    def torch_strided_offset(tmp: Path) -> Any:
        return _tfloats(24).reshape(4, 6)[1:, 2::2]

    @case
    def torch_expanded(tmp: Path) -> Any:
        return _tfloats(3).expand(4, 3)

    @case
    def torch_transposed(tmp: Path) -> Any:
        return _tfloats(12).reshape(3, 4).T

    @case
    def torch_0d(tmp: Path) -> Any:
        return torch.tensor(2.5)

    @case
    def torch_size0(tmp: Path) -> Any:
        return torch.zeros(2, 0)

    @case
    def torch_size0_grad(tmp: Path) -> Any:
        return torch.zeros(0, requires_grad=True)

    @case
    def torch_requires_grad(tmp: Path) -> Any:
        return _tfloats().requires_grad_()

    @case
    def torch_nonleaf_grad(tmp: Path) -> Any:
        return _tfloats().requires_grad_() * 2

    @case
    def torch_parameter(tmp: Path) -> Any:
        return torch.nn.Parameter(_tfloats())

    class _Subclass(torch.Tensor):
        pass

    @case
    def torch_subclass(tmp: Path) -> Any:
        return _tfloats().as_subclass(_Subclass)

    @case
    def torch_inference(tmp: Path) -> Any:
        with torch.inference_mode():
            return _tfloats()

    @case
    def torch_conj(tmp: Path) -> Any:
        return torch.complex(_tfloats(), _tfloats().flip(0)).conj()

    @case
    def torch_neg(tmp: Path) -> Any:
        return torch.complex(_tfloats(), _tfloats().flip(0)).conj().imag

    @case
    def torch_bool(tmp: Path) -> Any:
        return torch.tensor([True, False])

    @case
    def torch_uint64(tmp: Path) -> Any:
        return torch.tensor([0, 2**63 - 1], dtype=torch.uint64)

    def _tml(name: str) -> Callable[[Path], Any]:
        def build(tmp: Path) -> Any:
            dtype = getattr(torch, name)
            carrier = {1: torch.uint8, 2: torch.int16, 4: torch.int32}[dtype.itemsize]
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "ComplexHalf support", UserWarning)
                return torch.arange(64).to(carrier).view(dtype)

        build.__name__ = f"torch_{name}"
        return build

    for _name in (
        "bfloat16",
        "float8_e4m3fn",
        "float8_e4m3fnuz",
        "float8_e5m2",
        "float8_e5m2fnuz",
        "float8_e8m0fnu",
        "complex32",
    ):
        case(_tml(_name))

    def _tsub(name: str) -> Callable[[Path], Any]:
        def build(tmp: Path) -> Any:
            return torch.empty(4, dtype=getattr(torch, name))

        build.__name__ = f"torch_{name}"
        return build

    for _name in ("uint1", "uint3", "int4", "int7", "bits8", "bits16", "float4_e2m1fn_x2"):
        case(_tsub(_name))

    @case
    def torch_sparse(tmp: Path) -> Any:
        return torch.eye(3).to_sparse()

    @case
    def torch_quantized(tmp: Path) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "torch.quantize_per_tensor", UserWarning)
            return torch.quantize_per_tensor(torch.ones(3), 0.5, 0, torch.qint8)

    @case
    def torch_nested(tmp: Path) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The PyTorch API of nested tensors", UserWarning)
            return torch.nested.nested_tensor([torch.ones(2), torch.ones(3)])

    @case
    def torch_meta(tmp: Path) -> Any:
        return torch.empty(3, device="meta")


@case
def python_list(tmp: Path) -> Any:
    return [[1.0, 2.0], [3.0, 4.5]]


@case
def python_scalar(tmp: Path) -> Any:
    return 7


@case
def python_object(tmp: Path) -> Any:
    return object()


# Issue 10: alignment by the consumer's rule, dtypes outside the table ----------


def _misaligned(dtype: Any, offset: int) -> Any:
    """An array NumPy calls aligned whose address is ``offset`` mod its item size."""
    itemsize = np.dtype(dtype).itemsize
    block = np.zeros(8 * itemsize + 64, dtype=np.uint8)
    start = (-block.__array_interface__["data"][0]) % 64 + offset
    a = block[start : start + 4 * itemsize].view(dtype)
    a[...] = np.arange(4) + 1j * np.arange(4)
    assert a.flags.aligned and a.__array_interface__["data"][0] % itemsize == offset
    return a


@case
def numpy_complex128_offset8(tmp: Path) -> Any:
    return _misaligned(np.complex128, 8)


@case
def numpy_complex64_offset4(tmp: Path) -> Any:
    return _misaligned(np.complex64, 4)


@case
def numpy_clongdouble(tmp: Path) -> Any:
    return np.arange(3, dtype=np.clongdouble)


@case
def numpy_timedelta(tmp: Path) -> Any:
    return np.array([1, 2], dtype="timedelta64[s]")
