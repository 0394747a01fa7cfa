"""register_backend refuses what is not a backend instance, and leaves the registry as it was.

spec/contract.toml, rule register-backend-checked.  Before the check, the
class itself was accepted (every later list, bytes or DLPack conversion then
raised ``TypeError: owns() missing 'cls'``) and ``object()`` raised
AttributeError.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
import torch

import xpbridge as xb
from xpbridge.backends import Backend
from xpbridge.backends import registry as _registry


class Lists(Backend):
    name: ClassVar[str] = "lists-for-a-test"

    def owns(self, cls: type) -> bool:
        return False


class Nameless(Backend):
    def owns(self, cls: type) -> bool:
        return False


def _registry_state() -> Any:
    return (
        dict(_registry._BACKENDS),
        list(_registry._REGISTERED),
        dict(_registry._ORIGIN),
        xb.list_backends(),
    )


@pytest.mark.rule("register-backend-checked")
@pytest.mark.parametrize(
    ("candidate", "words"),
    [
        (Lists, "not the class Lists: pass Lists()"),
        (object(), "not object"),
        (Nameless(), "with a string name"),
        ("numpy", "not str"),
        (None, "not NoneType"),
    ],
    ids=["a class", "object()", "no name", "a name", "None"],
)
def test_what_is_not_a_backend_instance_is_refused(candidate: Any, words: str) -> None:
    before = _registry_state()
    with pytest.raises(xb.ArgumentError, match="register_backend needs") as refused:
        xb.register_backend(candidate)
    assert words in str(refused.value)
    assert _registry_state() == before  # nothing registered, nothing forgotten
    # Every kind of source still converts, as before the call.
    assert xb.to_numpy([1.0, 2.0]).tolist() == [1.0, 2.0]
    assert xb.to_numpy(b"ab").tolist() == [97, 98]
    assert xb.to_torch(np.arange(2.0)).tolist() == [0.0, 1.0]
    assert xb.to_numpy(torch.ones(1)).tolist() == [1.0]
