"""What type checkers infer for the public API (checked by tests/test_typing.py).

mypy --strict and pyright --strict must both accept this file: each
``assert_type`` states the type a user's checker sees, and each
``# type: ignore[...]`` marks a call that must be rejected (both checkers
report an ignore that is not needed, so a call that stops being rejected
fails the check).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from typing_extensions import assert_type

import xpbridge as xb

Array = np.ndarray[Any, Any]


def conversions(a: Array, t: torch.Tensor) -> None:
    # A library name, the module, or an array of the library: the result's type.
    assert_type(xb.convert(a, "torch"), torch.Tensor)
    assert_type(xb.convert(a, torch), torch.Tensor)
    assert_type(xb.convert(a, t), torch.Tensor)
    assert_type(xb.convert(t, "numpy"), Array)
    assert_type(xb.convert(t, np), Array)
    assert_type(xb.convert(t, a), Array)
    assert_type(xb.convert(a, "torch", copy=False, dtype="bfloat16", grad="raise"), torch.Tensor)
    # Any other library: the checker cannot know its array type.
    assert_type(xb.convert(a, "array_api_strict"), Any)
    assert_type(xb.to_torch(a), torch.Tensor)
    assert_type(xb.to_torch(a, device="cuda", requires_grad=True), torch.Tensor)
    assert_type(xb.to_numpy(t), Array)
    assert_type(xb.to_numpy(t, grad="raise"), Array)
    assert_type(xb.plan(a, "torch"), xb.Plan)
    assert_type(xb.plan(a, "torch").aliases, bool)
    assert_type(xb.plan(a, "torch").steps, tuple[str, ...])
    assert_type(xb.shares_memory(a, t), bool)
    assert_type(xb.dtypes(), tuple[str, ...])
    assert_type(xb.list_backends(), dict[str, str])


def mistakes(a: Array, t: torch.Tensor) -> None:
    xb.convert(a, "torch", grad="detch")  # type: ignore[call-overload]
    xb.to_numpy(t, grad="keep")  # type: ignore[arg-type]
    xb.plan(a, "torch", grad="no")  # type: ignore[arg-type]
    xb.to_torch(a, copy="never")  # type: ignore[arg-type]
    xb.convert(a)  # type: ignore[call-overload]
