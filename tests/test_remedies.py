"""Every remedy an error message names works: the meta-test runs it.

Messages are collected from every error outcome of spec/contract.toml (each
case under each copy mode) and from the failures listed below, which the
contract table cannot express.  Each remedy a message names is recognised by
its wording and executed:

- ``pass copy=None`` / ``grad='detach'`` / ``device='cpu'`` / ``dtype='x'``
  (or ``dtype=`` with an example): the same call with that keyword;
- ``call .to_dense()`` (any method the message names): the call on the
  method's result;
- ``open the memmap with mode='c'``: the same file opened copy-on-write;
- ``pass dtype= ... (e.g. dtype='float32')``: the example dtype.

A message that names no call (e.g. "reshape it first") is counted as such.
The test fails if any executed remedy raises, or if a message's wording looks
like a remedy that this test cannot recognise.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cases import CASES, missing_ml_dtype, needs_torch_case
from conftest import OUTCOME_ERRORS, load_spec
from frameworks import HAS_TORCH, needs_torch, optional, torch

import xpbridge as xb
from xpbridge._lib.dtypes import SUB_BYTE, ml_dtypes_has

jnp = optional("jax.numpy")  # JAX's failures join where JAX is installed
xps = pytest.importorskip("array_api_strict")

pytestmark = pytest.mark.rule("remedies-work")

RULES = load_spec("contract.toml")["rule"]
# The sub-byte types this ml_dtypes lacks (0.5.x: int1, uint1): their refusal's
# message is wrong there (test_a_sub_byte_refusal_never_names_ml_dtypes).
ML_LACKS = sorted(name for name in SUB_BYTE if not ml_dtypes_has(name))
MODES = {"none": None, "true": True, "false": False}

# keyword remedies: "pass copy=None", "Pass grad='detach'", "pass device='cpu'", "dtype='int64'"
_KEYWORD = re.compile(r"[Pp]ass (copy|grad|device|dtype|narrow)=('[^']*'|None|True|False)")
_DTYPE_EXAMPLE = re.compile(r"e\.g\. dtype='([a-z0-9_]+)'")
_METHOD = re.compile(r"call (\.[a-z_]+\([^)]*\))")
_REMEDY_WORDS = re.compile(
    r"\b(pass|call|install|open|convert|reshape|run|enable|wrap)\b", re.IGNORECASE
)


class Failure:
    """A failing call: the source builder, the target, and the keywords."""

    def __init__(self, label: str, make: Callable[[], Any], to: Any, **kwargs: Any) -> None:
        self.label, self.make, self.to, self.kwargs = label, make, to, kwargs

    @property
    def runs_here(self) -> bool:
        """Whether the libraries it involves are installed (torch: a target or a source)."""
        return HAS_TORCH or (self.to != "torch" and not self.label.startswith("torch:"))

    def run(self, x: Any | None = None, **changes: Any) -> Any:
        kwargs = {**self.kwargs, **changes}
        return xb.convert(self.make() if x is None else x, self.to, **kwargs)


def _contract_failures(tmp: Path) -> list[Failure]:
    failures = []
    for rule in RULES:
        if rule.get("driver") == "custom" or rule.get("requires") == "cuda":
            continue
        for case in rule["cases"]:
            if missing_ml_dtype(case) or needs_torch_case(case):
                continue
            if case.removeprefix("torch_") in ML_LACKS:
                continue  # a known wrong message: the xfail below
            for mode, copy in MODES.items():
                if rule[mode] in OUTCOME_ERRORS:
                    failures.append(
                        Failure(
                            f"{rule['id']}/{case}/copy={copy}",
                            lambda case=case: CASES[case](tmp),
                            rule["target"],
                            copy=copy,
                            **rule.get("kwargs", {}),
                        )
                    )
    return failures


def _more_failures() -> list[Failure]:
    # A label "torch:..." marks a torch source.
    return [
        Failure("python-negative-uint", lambda: -1, "numpy", dtype="uint8"),
        Failure("python-int-grad", lambda: [1, 2], "torch", requires_grad=True),
        Failure("python-huge-int", lambda: 2**70, "torch"),
        Failure("longdouble-to-torch", lambda: np.zeros(2, np.longdouble), "torch"),
        Failure("torch:bfloat16-to-strict", lambda: torch.ones(2, dtype=torch.bfloat16), xps),
        Failure("torch:sparse-to-numpy", lambda: torch.eye(2).to_sparse(), "numpy"),
        Failure("torch:65-dims", lambda: torch.ones([1] * 65), "numpy"),
        Failure(
            "torch:grad-raise", lambda: torch.ones(2, requires_grad=True), "numpy", grad="raise"
        ),
        Failure("cuda-missing", lambda: np.ones(2), "torch", device="cuda"),
        Failure("cuda-to-numpy", lambda: np.ones(2), "numpy", device="cuda:0"),
        Failure("protocol-target", lambda: np.ones(2), "dlpack"),
        Failure("type-target", lambda: np.ones(2), np.ndarray),
        Failure("bad-dtype-name", lambda: np.ones(2), "torch", dtype="float"),
        Failure("array-only-object", _ExportsOnlyArray, "torch"),
        Failure("cuda-interface-only", _CudaInterfaceOnly, "numpy"),
        Failure("python-float-as-int32", lambda: [1e10], "numpy", dtype="int32"),
        Failure("python-float-as-uint8", lambda: [300.0], "numpy", dtype="uint8"),
        Failure("python-inf-as-int32", lambda: [float("inf")], "numpy", dtype="int32"),
        Failure("python-overflow-float32", lambda: [1e300], "numpy", dtype="float32"),
        Failure("python-overflow-inferred", lambda: [1e300], "torch"),
        Failure("python-complex-as-real", lambda: [1 + 2j], "numpy", dtype="float64"),
        Failure("python-float-as-torch-uint64", lambda: [1.0], "torch", dtype="uint64"),
        Failure("python-beyond-64-bits", lambda: [1.5, 2**70], "numpy"),
        Failure("python-cyclic", _cyclic, "numpy"),
        Failure("python-too-deep", lambda: _deep(65), "numpy"),
        Failure("python-ragged", lambda: [[1.0], [2.0, 3.0]], "torch"),
        Failure("torch:python-grad-inside", _grad_inside, "numpy", grad="raise"),
        Failure("grad-int-result", _grad_tensor, "torch", dtype="int16", requires_grad=True),
        Failure("torch:dispatch-subclass", _two_tensor, "numpy"),
        Failure("torch:dask-torch-chunks", _dask_torch_chunks, "numpy"),
        *_optional_failures(),
    ]


def _cyclic() -> list[Any]:
    loop: list[Any] = [1.0]
    loop.append(loop)
    return loop


def _deep(depth: int) -> Any:
    nested: Any = 1.0
    for _ in range(depth):
        nested = [nested]
    return nested


def _grad_inside() -> list[Any]:
    return [torch.tensor(1.0, requires_grad=True), torch.tensor(2.0)]


def _grad_tensor() -> Any:
    return torch.ones(2, requires_grad=True)


def _two_tensor() -> Any:
    from torch.testing._internal.two_tensor import TwoTensor

    return TwoTensor(torch.ones(2), torch.zeros(2))


def _dask_torch_chunks() -> Any:
    da = pytest.importorskip("dask.array")
    return xb.convert_chunks(da.arange(4, chunks=2), "torch")


class _ExportsOnlyArray:
    """Speaks no protocol xpbridge reads, but NumPy can make an array of it."""

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.arange(3.0)


class _CudaInterfaceOnly:
    def __init__(self) -> None:
        self.__cuda_array_interface__ = {
            "shape": (3,),
            "typestr": "<f4",
            "data": (1 << 40, False),
            "version": 3,
        }


def _optional_failures() -> list[Failure]:
    """Sources and targets of libraries CI installs, where they are installed."""
    failures = []
    if jnp is not None:
        failures += [
            Failure("jax-x64", lambda: np.array([2**40, -1]), "jax"),
            Failure("jax-to-torch-no-copy", lambda: jnp.arange(3.0), "torch", copy=False),
        ]
    try:
        import pyarrow as pa
    except ImportError:
        pass
    else:
        failures += [
            Failure("pyarrow-nulls", lambda: pa.array([1.0, None, 3.0]), "numpy"),
            Failure("pyarrow-bool", lambda: pa.array([True, False]), "torch"),
        ]
    try:
        import scipy.sparse as sparse
    except ImportError:
        pass
    else:
        failures.append(Failure("scipy-sparse", lambda: sparse.eye(3, format="csr"), "numpy"))
    return failures


def _execute(failure: Failure, message: str, tmp: Path) -> list[str]:
    """Run every remedy ``message`` names; return the ones executed."""
    done = []
    for keyword, value in _KEYWORD.findall(message):
        changes: dict[str, Any] = {keyword: None if value == "None" else value.strip("'")}
        if keyword == "dtype" and "requires_grad" in failure.kwargs:
            changes["requires_grad"] = True
        if keyword == "narrow":
            changes["narrow"] = True
            if "where the values fit" in message:
                # A remedy for the values that fit: the others get a DTypeError whose
                # own remedy must work in turn.
                refused: str | None = None
                try:
                    failure.run(**changes)
                except xb.DTypeError as e:
                    refused = str(e)
                if refused is not None:
                    assert "only where the values fit" in refused
                    assert _execute(failure, refused, tmp)
                done.append("narrow=True")
                continue
        failure.run(**changes)
        done.append(f"{keyword}={value}")
    example = _DTYPE_EXAMPLE.search(message)
    if example or re.search(r"[Pp]ass dtype= ", message):  # its example, or float32
        dtype = example.group(1) if example else "float32"
        changes = {"dtype": dtype, "copy": None}
        if "requires_grad" in failure.kwargs:
            changes["requires_grad"] = True
        failure.run(**changes)
        done.append(f"dtype={dtype}")
    if "numpy.asarray(x)" in message:
        failure.run(np.asarray(failure.make()))
        done.append("numpy.asarray(x)")
    for method in _METHOD.findall(message):
        x = failure.make()
        failure.run(eval(f"x{method}", {"x": x}))  # the message's own words, on the source
        done.append(method)
    inner = re.search(r"instead: (x\.\w+(?:, x\.\w+)*)", message)
    if inner:  # "convert its inner tensors instead: x.a, x.b"
        for name in re.findall(r"x\.(\w+)", inner.group(1)):
            failure.run(getattr(failure.make(), name))
            done.append(f"x.{name}")
    if "xpbridge.convert_chunks(x, 'numpy')" in message:
        failure.run(xb.convert_chunks(failure.make(), "numpy"))
        done.append("convert_chunks(x, 'numpy')")
    if "mode='c'" in message:
        path = tmp / "remedy.bin"
        np.arange(4.0).tofile(path)
        failure.run(np.memmap(path, dtype=np.float64, mode="c"))
        done.append("memmap mode='c'")
    return done


def test_every_remedy_a_message_names_works(tmp_path: Path) -> None:
    messages: dict[str, list[str]] = {}
    unexecuted: list[str] = []
    executed = 0
    failures = [*_contract_failures(tmp_path), *_more_failures()]
    for failure in (f for f in failures if f.runs_here):
        with pytest.raises(xb.ConversionError) as caught:
            failure.run()
        message = str(caught.value)
        if message in messages:
            continue
        done = _execute(failure, message, tmp_path)
        messages[message] = done
        executed += len(done)
        if not done and _has_unrecognised_remedy(message):
            unexecuted.append(f"{failure.label}: {message}")
    assert not unexecuted, "\n".join(unexecuted)
    print(
        f"{len(messages)} distinct messages, {executed} remedies executed, "
        f"{sum(1 for d in messages.values() if not d)} name no call, 0 failed"
    )
    assert executed >= (20 if HAS_TORCH else 5)  # most failures are NumPy <-> torch


def _has_unrecognised_remedy(message: str) -> bool:
    """Whether a message with no recognised remedy still seems to name a call."""
    allowed = (
        "reshape it first",  # words, not a call
        "run it once, then convert",
        "convert the result outside it",
        "convert a real tensor",
        "create it on a real device",
        "convert the concrete result outside the transformation",
        "wrap the code that needs another library in xpbridge.compute_in",
        "known are",  # the list of target libraries
        "yourself",
        "install ml_dtypes",  # the package, where it is missing (pip install ml_dtypes)
        "pass the library's module or name",
        "name the target library",
        "convert its values to a numeric dtype",
        "pass a canonical name such as 'float32'",
        "register a backend for its type",
    )
    if any(words in message for words in allowed):
        return False
    return bool(_REMEDY_WORDS.search(message.replace("cannot convert", "")))


def test_the_recognisers_find_the_remedies_they_claim() -> None:
    # The meta-test is only as good as its parsing: check it on known wordings.
    assert _KEYWORD.findall("Pass copy=None to allow the copy") == [("copy", "None")]
    assert _KEYWORD.findall("pass grad='detach' for a detached result") == [("grad", "'detach'")]
    assert _METHOD.findall("a sparse_coo tensor: call .to_dense() first") == [".to_dense()"]
    assert _has_unrecognised_remedy("call xb.frobnicate(x) first")
    inner = re.search(
        r"instead: (x\.\w+(?:, x\.\w+)*)", "convert its inner tensors instead: x.a, x.b"
    )
    assert inner is not None and re.findall(r"x\.(\w+)", inner.group(1)) == ["a", "b"]


@needs_torch
@pytest.mark.xfail(
    bool(ML_LACKS),
    strict=True,
    reason="xpbridge bug, in _pipeline/plan.py (_no_crossing): with an ml_dtypes that lacks "
    "the type (0.5.x: int1, uint1) a torch sub-byte tensor is refused with 'ml_dtypes is not "
    "installed' and a dtype= remedy that cannot work; sub-byte types never cross (crosses())",
)
def test_a_sub_byte_refusal_never_names_ml_dtypes() -> None:
    for name in ("uint1", "int1", "uint4"):
        t = torch.empty(4, dtype=getattr(torch, name))
        with pytest.raises(xb.DTypeError) as refused:
            xb.plan(t, "numpy")
        assert "ml_dtypes" not in str(refused.value), str(refused.value)
