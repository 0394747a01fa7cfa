"""Observations of the upstream facts in spec/upstream.toml, on the installed versions.

Each function observes one claim and returns whether it holds here.  A fact's
``holds`` says on which versions it holds (``"torch<2.14"``, ``"always"``...);
:func:`expected` reads it for the installed versions, the test suite checks
every observation against it (and :func:`difference` says what changed when
one disagrees), and ``python -m xpbridge report`` runs them to tell a user what
their own NumPy, torch and JAX do.  Facts that kill the interpreter are
observed in a child process.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "OBSERVE",
    "difference",
    "expected",
    "holds_text",
    "missing_requirements",
    "observe",
    "run_python",
]

OBSERVE: dict[str, Callable[[], bool]] = {}


def _fact(fn: Callable[[], bool]) -> Callable[[], bool]:
    OBSERVE[fn.__name__.lstrip("_").replace("_", "-")] = fn
    return fn


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with this one's import path."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": ":".join(p for p in sys.path if p), "PATH": "/usr/bin:/bin"},
        check=False,
    )


def _died_by(code: str, *signals: int) -> bool:
    done = run_python(code)
    return done.returncode in {-s for s in signals} and "survived" not in done.stdout


def _raises(
    error: type[BaseException] | tuple[type[BaseException], ...],
    call: Callable[[], Any],
    match: str = "",
) -> bool:
    try:
        call()
    except error as e:
        return re.search(match, str(e)) is not None
    return False


@_fact
def _torch_from_dlpack_negative_strides_aborts() -> bool:
    return _died_by(
        "import numpy as np, torch\ntorch.from_dlpack(np.arange(4.0)[::-1])\nprint('survived')",
        signal.SIGABRT,
    )


@_fact
def _torch_from_dlpack_negative_strides_raises() -> bool:
    done = run_python(
        """
        import numpy as np, torch
        try:
            torch.from_dlpack(np.arange(4.0)[::-1])
        except RuntimeError as e:
            print("RuntimeError:", e)
        """
    )
    return done.returncode == 0 and "RuntimeError: Storage size calculation" in done.stdout


@_fact
def _torch_from_numpy_negative_strides_raises() -> bool:
    import numpy as np
    import torch

    return _raises(ValueError, lambda: torch.from_numpy(np.arange(4.0)[::-1]), "negative")


def _neg_bit() -> tuple[Any, Any]:
    import torch

    x = torch.tensor([1 + 2j, 3 - 4j]).conj().imag
    return x, x.resolve_neg()


@_fact
def _from_dlpack_ignores_neg_bit() -> bool:
    import numpy as np
    import torch

    x, right = _neg_bit()
    return not np.array_equal(np.from_dlpack(x), right.numpy()) and not torch.equal(
        torch.from_dlpack(x), right
    )


@_fact
def _tensor_numpy_refuses_neg_bit() -> bool:
    return _raises(RuntimeError, _neg_bit()[0].numpy, "negative bit")


@_fact
def _torch_from_numpy_readonly_warns_once() -> bool:
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


def _readonly_through_torch() -> tuple[Any, Any]:
    import numpy as np
    import torch

    a = np.arange(3.0)
    a.flags.writeable = False
    return a, torch.from_dlpack(a)


@_fact
def _torch_from_dlpack_ignores_readonly() -> bool:
    try:
        a, t = _readonly_through_torch()
    except BufferError:
        return False
    t[0] = 5.0  # the memory was never the tensor's to write
    return bool(a[0] == 5.0)


@_fact
def _dlpack_round_trip_launders_readonly() -> bool:
    import numpy as np

    try:
        a, t = _readonly_through_torch()
    except BufferError:
        return False
    back = np.from_dlpack(t)
    return bool(back.flags.writeable) and bool(np.shares_memory(a, back))


@_fact
def _numpy_from_dlpack_keeps_writable() -> bool:
    import numpy as np

    return bool(np.from_dlpack(np.arange(3.0)).flags.writeable)


@_fact
def _memmap_readonly_write_segfaults() -> bool:
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.bin"
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


@_fact
def _torch_from_numpy_unaligned_complex_crashes() -> bool:
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


@_fact
def _np_array_of_tensor_deprecation_warning() -> bool:
    import numpy as np
    import torch

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        np.array(torch.arange(3.0))
    return any(issubclass(w.category, DeprecationWarning) for w in seen)


@_fact
def _np_asarray_copy_false_raises() -> bool:
    import numpy as np
    import torch

    t = torch.arange(3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # NumPy < 2.0 has no copy= on asarray at all: a TypeError, not this refusal
        refused = _raises((ValueError, TypeError), lambda: np.asarray(t, copy=False), "avoid copy")
    return refused and bool(np.shares_memory(np.asarray(t), t.numpy()))


@_fact
def _torch_asarray_0d_copy_false_copies() -> bool:
    import numpy as np
    import torch

    z = np.array(5.0)
    return bool(torch.asarray(z, copy=False).data_ptr() != z.ctypes.data)


@_fact
def _torch_Tensor_int_scalar_uninitialised() -> bool:
    import numpy as np
    import torch

    return tuple(torch.Tensor(np.int64(7)).shape) == (7,)


@_fact
def _sub_byte_widened_by_dlpack() -> bool:
    import numpy as np
    import torch

    return bool(np.from_dlpack(torch.zeros(2, dtype=torch.uint3)).dtype == np.uint8)


@_fact
def _masked_array_loses_mask() -> bool:
    import numpy as np
    import torch

    m = np.ma.masked_array([1.0, 99.0], mask=[False, True])
    return bool(torch.from_numpy(m).tolist() == [1.0, 99.0])


@_fact
def _bfloat16_crosses_no_path() -> bool:
    import ml_dtypes
    import numpy as np
    import torch

    a = np.zeros(2, dtype=ml_dtypes.bfloat16)
    t = torch.zeros(2, dtype=torch.bfloat16)
    calls = [
        lambda: torch.from_numpy(a),
        lambda: torch.from_dlpack(a),
        t.numpy,
        lambda: np.from_dlpack(t),
    ]
    return all(_raises((TypeError, RuntimeError, BufferError), call) for call in calls)


@_fact
def _numpy_dlpack_reads_ml_dtypes() -> bool:
    import ml_dtypes
    import numpy as np

    try:
        back = np.from_dlpack(np.zeros(2, dtype=ml_dtypes.bfloat16))
    except (BufferError, RuntimeError, TypeError):
        return False
    return bool(back.dtype == np.dtype(ml_dtypes.bfloat16))


class _ClaimsCuda:
    """NumPy's own DLPack export of an empty array, its device rewritten to cuda:0.

    NumPy's capsule keeps NumPy's destructor (C code), so a refusal releases it
    cleanly; a capsule with a Python destructor would turn the refusal into a
    SystemError on some versions (numpy/numpy#32697).
    """

    def __init__(self) -> None:
        import ctypes

        import numpy as np

        from .._lib.dlpack import _DLManagedTensor

        self.capsule = np.zeros(0, dtype=np.float32).__dlpack__()  # unversioned: every NumPy
        pointer = ctypes.pythonapi.PyCapsule_GetPointer
        pointer.restype, pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
        managed = _DLManagedTensor.from_address(pointer(self.capsule, b"dltensor"))
        managed.dl_tensor.device.device_type = 2  # kDLCUDA; size 0: no data is ever read

    def __dlpack__(self, **kwargs: Any) -> Any:
        return self.capsule

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)  # as a producer that lies about its device would


@_fact
def _numpy_from_dlpack_refusal_is_buffer_error() -> bool:
    import numpy as np

    try:
        np.from_dlpack(_ClaimsCuda())
    except BufferError:
        return True
    except RuntimeError:
        return False
    raise AssertionError("np.from_dlpack accepted a tensor on cuda:0")


@_fact
def _torch_from_numpy_ulonglong_rejected() -> bool:
    import numpy as np
    import torch

    same = np.dtype(np.ulonglong) == np.dtype(np.uint64)
    return same and _raises(TypeError, lambda: torch.from_numpy(np.zeros(2, dtype=np.ulonglong)))


@_fact
def _torch_from_numpy_checks_length1_strides() -> bool:
    import numpy as np
    import torch

    a = np.lib.stride_tricks.as_strided(np.zeros(3, np.float32), (1, 3), (-7, 4))
    return _raises(ValueError, lambda: torch.from_numpy(a), "stride")


@_fact
def _seed_default_integer_int32() -> bool:
    import numpy as np

    return bool(np.array([5, 7, 1, 2, 4, 4]).dtype == np.int32)


@_fact
def _seed_torch_Tensor_casts_float32() -> bool:
    import numpy as np
    import torch

    a = np.array([5, 7, 1, 2, 4, 4])
    return bool(
        torch.Tensor(a).dtype == torch.float32
        and torch.tensor(a).dtype == torch.from_numpy(a).dtype == torch.int64
    )


@_fact
def _seed_from_numpy_no_dtype_argument() -> bool:
    import numpy as np
    import torch

    a = np.arange(3.0)
    refused = _raises(TypeError, lambda: torch.from_numpy(a, dtype=torch.float32))
    return refused and torch.tensor(a, dtype=torch.float32).dtype == torch.float32


@_fact
def _seed_torch_tensor_copies() -> bool:
    import numpy as np
    import torch

    a = np.array([[1, 2], [3, 4]], dtype=np.float32)
    t = torch.tensor(a)
    a[0, 0] = 5
    return float(t[0, 0]) == 1.0


@_fact
def _seed_from_numpy_shares_memory() -> bool:
    import numpy as np
    import torch

    a = np.array([[5, 6], [7, 8]], dtype=np.int64)
    t = torch.from_numpy(a)
    a[0, 0] = 9
    t[1, 1] = 10
    return int(t[0, 0]) == 9 and int(a[1, 1]) == 10


@_fact
def _seed_tensor_keeps_float64() -> bool:
    import numpy as np
    import torch

    return bool(torch.tensor(np.array([1.0, 2.0])).dtype == torch.float64)


@_fact
def _seed_numpy_requires_grad_raises() -> bool:
    import torch

    return _raises(RuntimeError, torch.ones(2, requires_grad=True).numpy, r"detach\(\)")


@_fact
def _seed_tensors_built_on_numpy() -> bool:
    import numpy as np
    import torch

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


@_fact
def _seed_cuda_numpy_typeerror() -> bool:
    import torch

    return _raises(TypeError, torch.ones(2, device="cuda").numpy, r"Tensor\.cpu\(\)")


_CLAUSE = re.compile(r"\s*([A-Za-z][\w.-]*)\s*(>=|<=|==|!=|>|<)\s*(\d[\w.]*)\s*")


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _installed_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _clause_holds(clause: str) -> bool | None:
    """One ``name OP version`` clause on the installed version (None: not installed).

    Versions compare on as many parts as the clause writes: ``torch<2.14`` holds
    for 2.13.0 and not for 2.14.1 (whose local part, ``+cpu``, is ignored).
    """
    match = _CLAUSE.fullmatch(clause)
    if match is None:
        raise ValueError(f"not a version clause: {clause!r} (e.g. 'torch<2.14')")
    name, op, bound = match.groups()
    installed = _installed_version(name)
    if installed is None:
        return None
    want = _numbers(bound)
    have = _numbers(installed)[: len(want)]
    return {
        ">=": have >= want,
        "<=": have <= want,
        "==": have == want,
        "!=": have != want,
        ">": have > want,
        "<": have < want,
    }[op]


def _packages(holds: str) -> list[str]:
    """The packages a ``holds`` requirement names, in order, once each."""
    names = [m.group(1) for m in _CLAUSE.finditer(holds)]
    return list(dict.fromkeys(names))


def expected(fact: dict[str, Any]) -> bool | None:
    """Whether spec/upstream.toml says the fact holds on the installed versions.

    ``holds`` is ``"always"``, ``"never"``, or clauses joined by ``,`` (all)
    and ``|`` (either side).  None when it names a package that is not installed.
    Written by hand to keep the runtime dependencies to NumPy and array-api-compat.
    """
    holds = str(fact["holds"]).strip()
    if holds in {"always", "never"}:
        return holds == "always"
    either = []
    for group in holds.split("|"):
        every = [_clause_holds(clause) for clause in group.split(",")]
        either.append(None if None in every else all(every))
    if True in either:
        return True
    return None if None in either else False


def holds_text(fact: dict[str, Any]) -> str:
    """``holds`` in words: "always", "never", or "on torch<2.14"."""
    holds = str(fact["holds"]).strip()
    return holds if holds in {"always", "never"} else f"on {holds.replace('|', 'or')}"


def versions_named(fact: dict[str, Any]) -> str:
    """The installed versions of what the fact's ``holds`` names (else what it requires)."""
    names = _packages(str(fact["holds"])) or [r for r in fact.get("requires", []) if r != "cuda"]
    return ", ".join(f"{n} {_installed_version(n) or 'not installed'}" for n in names or ["numpy"])


def difference(fact: dict[str, Any], observed: bool) -> str:
    """What changed: the message of the one test that fails when upstream moves."""
    says = "holds" if expected(fact) else "does not hold"
    seen = "holds" if observed else "does not hold"
    where = holds_text(fact)
    otherwise = f" Where it does not hold: {fact['otherwise']}." if fact.get("otherwise") else ""
    rules = ", ".join(fact.get("motivates", [])) or "none"
    return (
        f"upstream changed: the fact {fact['id']!r} {seen} with {versions_named(fact)}, "
        f"but spec/upstream.toml says it holds {where}, so it {says} here.\n"
        f"  claim: {fact['claim']}.{otherwise}\n"
        f"  Find the release that changed it, write the versions where the claim holds "
        f"into its `holds` (and what happens elsewhere into `otherwise`), and check the "
        f"rules it motivates: {rules}."
    )


def missing_requirements(fact: dict[str, Any]) -> list[str]:
    """What the fact's ``requires`` names that is not here ("cuda": no CUDA device)."""
    missing = []
    for need in fact.get("requires", []):
        if need == "cuda":
            torch_here = importlib.util.find_spec("torch") is not None
            if not torch_here or not importlib.import_module("torch").cuda.is_available():
                missing.append("a CUDA device")
        elif importlib.util.find_spec(need) is None:
            missing.append(need)
    return missing


def observe(fact: dict[str, Any]) -> bool | None:
    """Whether the fact holds here, or None when what it requires is not installed."""
    if missing_requirements(fact):
        return None
    return OBSERVE[fact["id"]]()


# --- protocol sources: pyarrow and scipy.sparse (facts that `require` them) ---------


@_fact
def _pyarrow_legacy_dlpack_deprecated() -> bool:
    pa = importlib.import_module("pyarrow")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pa.array([1.0, 2.0]).__dlpack__()
    return any(
        issubclass(w.category, DeprecationWarning) and "unversioned DLPack" in str(w.message)
        for w in caught
    )


@_fact
def _pyarrow_dlpack_nulls_raise_typeerror_subclass() -> bool:
    pa = importlib.import_module("pyarrow")
    try:
        pa.array([1.0, None]).__dlpack__(max_version=(1, 1))
    except TypeError as e:
        return type(e) is not TypeError and "null" in str(e)
    return False


@_fact
def _pyarrow_dlpack_read_only() -> bool:
    from .._lib.dlpack import read_header

    pa = importlib.import_module("pyarrow")
    try:
        capsule = pa.array([1.0]).__dlpack__(max_version=(1, 1))
    except TypeError:  # no versioned capsules (pyarrow 25 and older): no flags at all
        return False
    return read_header(capsule).readonly


@_fact
def _numpy_asarray_scipy_sparse_is_object() -> bool:
    import numpy as np

    sparse = importlib.import_module("scipy.sparse")
    dense = np.eye(2)
    result = np.asarray(sparse.csr_matrix(dense))
    return result.shape == dense.shape and bool((result == dense).all())


@_fact
def _jax_names_complex32_it_cannot_make() -> bool:
    jnp = importlib.import_module("jax.numpy")
    if not hasattr(jnp, "complex32"):
        return False
    try:
        jnp.zeros(1, dtype=jnp.complex32).block_until_ready()
    except Exception:  # noqa: BLE001  # JaxRuntimeError, whose module moves between versions
        return True
    return False


@_fact
def _jax_from_dlpack_misreads_strides() -> bool:
    from ..backends.jax import misreads_strided_imports

    return misreads_strided_imports(importlib.import_module("jax.numpy"))
