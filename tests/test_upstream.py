"""Every fact of spec/upstream.toml, observed on the installed NumPy and torch."""

from __future__ import annotations

import signal
import warnings
from collections.abc import Callable
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
import torch
from conftest import load_spec
from test_guarantees import run_python

FACTS = load_spec("upstream.toml")["fact"]
OBSERVE: dict[str, Callable[[Path], bool]] = {}


def observes(fn: Callable[[Path], bool]) -> Callable[[Path], bool]:
    OBSERVE[fn.__name__.removeprefix("observe_").replace("_", "-")] = fn
    return fn


def _died_by(code: str, *signals: int) -> bool:
    done = run_python(code)
    return done.returncode in {-s for s in signals} and "survived" not in done.stdout


@observes
def observe_torch_from_dlpack_negative_strides_aborts(tmp: Path) -> bool:
    return _died_by(
        "import numpy as np, torch\ntorch.from_dlpack(np.arange(4.0)[::-1])\nprint('survived')",
        signal.SIGABRT,
    )


@observes
def observe_torch_from_numpy_negative_strides_raises(tmp: Path) -> bool:
    with pytest.raises(ValueError, match="negative"):
        torch.from_numpy(np.arange(4.0)[::-1])
    return True


def _neg_bit() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.tensor([1 + 2j, 3 - 4j]).conj().imag
    return x, x.resolve_neg()


@observes
def observe_from_dlpack_ignores_neg_bit(tmp: Path) -> bool:
    x, right = _neg_bit()
    return not np.array_equal(np.from_dlpack(x), right.numpy()) and not torch.equal(
        torch.from_dlpack(x), right
    )


@observes
def observe_tensor_numpy_refuses_neg_bit(tmp: Path) -> bool:
    with pytest.raises(RuntimeError, match="negative bit"):
        _neg_bit()[0].numpy()
    return True


@observes
def observe_torch_from_numpy_readonly_warns_once(tmp: Path) -> bool:
    done = run_python(
        """
        import warnings, numpy as np, torch
        a, b = np.arange(3.0), np.arange(3.0)
        a.flags.writeable = b.flags.writeable = False
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            t = torch.from_numpy(a)
            torch.from_numpy(b)
        print(len(seen), t.data_ptr() == a.ctypes.data)
        """
    )
    return done.stdout.split() == ["1", "True"]


@observes
def observe_torch_from_dlpack_ignores_readonly(tmp: Path) -> bool:
    a = np.arange(3.0)
    a.flags.writeable = False
    back = np.from_dlpack(torch.from_dlpack(a))
    return bool(back.flags.writeable) and np.shares_memory(a, back)


@observes
def observe_memmap_readonly_write_segfaults(tmp: Path) -> bool:
    path = tmp / "m.bin"
    np.zeros(4).tofile(path)
    return _died_by(
        f"""
        import numpy as np, torch, warnings
        warnings.simplefilter("ignore")
        t = torch.from_numpy(np.memmap({str(path)!r}, dtype=np.float64, mode="r"))
        t[0] = 1.0
        print("survived")
        """,
        signal.SIGSEGV,
        signal.SIGBUS,
    )


@observes
def observe_torch_from_numpy_unaligned_complex_crashes(tmp: Path) -> bool:
    return _died_by(
        """
        import numpy as np, torch
        a = np.zeros(3 * 16 + 1, dtype=np.uint8)[1:].view(np.complex128)
        torch.from_numpy(a).clone()
        print("survived")
        """,
        signal.SIGSEGV,
        signal.SIGBUS,
        signal.SIGABRT,
    )


@observes
def observe_np_array_of_tensor_deprecation_warning(tmp: Path) -> bool:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        np.array(torch.arange(3.0))
    return any(issubclass(w.category, DeprecationWarning) for w in seen)


@observes
def observe_np_asarray_copy_false_raises(tmp: Path) -> bool:
    t = torch.arange(3.0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*__array__")
        with pytest.raises(ValueError, match="avoid copy"):
            np.asarray(t, copy=False)
    return np.shares_memory(np.asarray(t), t.numpy())


@observes
def observe_torch_asarray_0d_copy_false_copies(tmp: Path) -> bool:
    z = np.array(5.0)
    return torch.asarray(z, copy=False).data_ptr() != z.ctypes.data


@observes
def observe_torch_Tensor_int_scalar_uninitialised(tmp: Path) -> bool:
    return torch.Tensor(np.int64(7)).shape == (7,)


@observes
def observe_sub_byte_widened_by_dlpack(tmp: Path) -> bool:
    return np.from_dlpack(torch.zeros(2, dtype=torch.uint3)).dtype == np.uint8


@observes
def observe_masked_array_loses_mask(tmp: Path) -> bool:
    m = np.ma.masked_array([1.0, 99.0], mask=[False, True])
    return torch.from_numpy(m).tolist() == [1.0, 99.0]


@observes
def observe_bfloat16_crosses_no_path(tmp: Path) -> bool:
    a = np.zeros(2, dtype=ml_dtypes.bfloat16)
    t = torch.zeros(2, dtype=torch.bfloat16)
    calls = [
        lambda: torch.from_numpy(a),
        lambda: torch.from_dlpack(a),
        t.numpy,
        lambda: np.from_dlpack(t),
    ]
    failures = 0
    for call in calls:
        try:
            call()
        except (TypeError, RuntimeError, BufferError):
            failures += 1
    return failures == len(calls)


@observes
def observe_torch_from_numpy_ulonglong_rejected(tmp: Path) -> bool:
    assert np.dtype(np.ulonglong) == np.dtype(np.uint64)
    with pytest.raises(TypeError):
        torch.from_numpy(np.zeros(2, dtype=np.ulonglong))
    return True


@observes
def observe_torch_from_numpy_checks_length1_strides(tmp: Path) -> bool:
    a = np.lib.stride_tricks.as_strided(np.zeros(3, np.float32), (1, 3), (-7, 4))
    with pytest.raises(ValueError, match="stride"):
        torch.from_numpy(a)
    return True


@observes
def observe_seed_default_integer_int32(tmp: Path) -> bool:
    return np.array([5, 7, 1, 2, 4, 4]).dtype == np.int32


@observes
def observe_seed_torch_Tensor_casts_float32(tmp: Path) -> bool:
    a = np.array([5, 7, 1, 2, 4, 4])
    return (
        torch.Tensor(a).dtype == torch.float32
        and torch.tensor(a).dtype == torch.from_numpy(a).dtype == torch.int64
    )


@observes
def observe_seed_from_numpy_no_dtype_argument(tmp: Path) -> bool:
    a = np.arange(3.0)
    with pytest.raises(TypeError):
        torch.from_numpy(a, dtype=torch.float32)  # type: ignore[call-arg]
    return torch.tensor(a, dtype=torch.float32).dtype == torch.float32


@observes
def observe_seed_torch_tensor_copies(tmp: Path) -> bool:
    a = np.array([[1, 2], [3, 4]], dtype=np.float32)
    t = torch.tensor(a)
    a[0, 0] = 5
    return float(t[0, 0]) == 1.0


@observes
def observe_seed_from_numpy_shares_memory(tmp: Path) -> bool:
    a = np.array([[5, 6], [7, 8]], dtype=np.int64)
    t = torch.from_numpy(a)
    a[0, 0] = 9
    t[1, 1] = 10
    return int(t[0, 0]) == 9 and int(a[1, 1]) == 10


@observes
def observe_seed_tensor_keeps_float64(tmp: Path) -> bool:
    return torch.tensor(np.array([1.0, 2.0])).dtype == torch.float64


@observes
def observe_seed_numpy_requires_grad_raises(tmp: Path) -> bool:
    with pytest.raises(RuntimeError, match=r"detach\(\)"):
        torch.ones(2, requires_grad=True).numpy()
    return True


@observes
def observe_seed_tensors_built_on_numpy(tmp: Path) -> bool:
    if issubclass(torch.Tensor, np.ndarray):
        return True
    done = run_python(
        """
        import sys, warnings
        warnings.simplefilter("ignore")
        sys.modules["numpy"] = None
        import torch
        print(float(torch.arange(4.0).sum()))
        """
    )
    return done.stdout.strip() != "6.0"


@observes
def observe_seed_cuda_numpy_typeerror(tmp: Path) -> bool:
    t = torch.ones(2, device="cuda")
    with pytest.raises(TypeError, match=r"Tensor\.cpu\(\)"):
        t.numpy()
    return True


def _fact_params() -> list[object]:
    params = []
    for fact in FACTS:
        marks = [pytest.mark.subprocess] if fact.get("subprocess") else []
        if fact.get("requires") == "cuda" and not torch.cuda.is_available():
            marks.append(pytest.mark.skip(reason="observable only with CUDA"))
        params.append(pytest.param(fact, id=fact["id"], marks=marks))
    return params


@pytest.mark.parametrize("fact", _fact_params())
def test_fact(fact: dict[str, object], tmp_path: Path) -> None:
    assert OBSERVE[str(fact["id"])](tmp_path) is fact["holds"]


def test_every_fact_is_observed() -> None:
    ids = {f["id"] for f in FACTS}
    assert set(OBSERVE) == ids, set(OBSERVE) ^ ids


def test_contract_references_name_real_facts() -> None:
    ids = {f["id"] for f in FACTS}
    for rule in load_spec("contract.toml")["rule"]:
        for ref in rule["refs"]:
            if ref.startswith("upstream:"):
                assert ref.removeprefix("upstream:") in ids, (rule["id"], ref)
