"""Devices: one small value type, and the parsing of every accepted spelling.

A :class:`Device` is a kind (``"cpu"``, ``"cuda"``, ...) and an index.  It is
what descriptions and plans carry, so it must be hashable and cheap.  Whether a
device *exists* is a question for the target backend, asked once per request,
never by the planner.
"""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

from ..errors import DeviceError

__all__ = ["CPU", "DLPACK_KINDS", "Device", "parse_device"]


class Device(NamedTuple):
    """A device kind and its DLPack-style ``device_id``, e.g. ``Device("cuda", 1)``.

    Parameters
    ----------
    kind : str
        ``"cpu"``, ``"cuda"``, ``"rocm"``, ``"meta"``, ...
    id : int, optional
        The device index (0 for the host).

    Examples
    --------
    >>> from xpbridge.backends import Device
    >>> str(Device("cuda", 1)), str(Device("cpu"))
    ('cuda:1', 'cpu')
    """

    kind: str
    id: int = 0

    def __str__(self) -> str:
        if self.kind == "cpu" or self.id == -1:  # -1: the current device of that kind
            return self.kind
        return f"{self.kind}:{self.id}"


CPU = Device("cpu", 0)

# DLDeviceType codes (dlpack.h) and the device kind each names.
DLPACK_KINDS: dict[int, str] = {
    1: "cpu",
    2: "cuda",
    3: "cuda_host",
    4: "opencl",
    7: "vulkan",
    8: "metal",
    9: "vpi",
    10: "rocm",
    11: "rocm_host",
    13: "cuda_managed",
    14: "oneapi",
    15: "webgpu",
    16: "hexagon",
    17: "maia",
}

# A "cuda" with no index means the current device; the target backend fills it in.
CURRENT = -1


def parse_device(spec: Any) -> Device:
    """Parse a ``device=`` argument into a :class:`Device`.

    Accepts ``"cpu"``, ``"cuda"``, ``"cuda:1"``, a ``torch.device``, a DLPack
    ``(type, id)`` tuple, or a :class:`Device`.  An id of ``-1`` means "the
    current device of that kind".  Another library's host device object
    (array-api-strict's ``Device("CPU_DEVICE")``, a JAX ``CpuDevice``) is the
    host: what its own library says of it decides (:func:`_foreign_device`).

    Examples
    --------
    >>> parse_device("cuda:1")
    Device(kind='cuda', id=1)
    >>> parse_device((1, 0))
    Device(kind='cpu', id=0)
    """
    if isinstance(spec, Device):
        return spec
    if isinstance(spec, tuple) and len(spec) == 2 and all(isinstance(v, int) for v in spec):
        kind = DLPACK_KINDS.get(spec[0])
        if kind is None:
            raise DeviceError(f"unknown DLPack device type {spec[0]} in device={spec!r}")
        return Device(kind, 0 if kind == "cpu" else spec[1])
    if type(spec).__module__ == "torch" and type(spec).__name__ == "device":
        index = spec.index
        return Device(spec.type, 0 if spec.type == "cpu" else CURRENT if index is None else index)
    if isinstance(spec, str):
        kind, _, index = spec.partition(":")
        if kind and kind.isidentifier() and (not index or index.isdigit()):
            if kind == "cpu":
                return CPU
            return Device(kind, int(index) if index else CURRENT)
    foreign = _foreign_device(spec)
    if foreign is not None:
        return foreign
    raise DeviceError(
        f"cannot read device={spec!r}: pass 'cpu', 'cuda', 'cuda:N', a torch.device "
        f"or a DLPack (type, id) tuple"
    )


def _foreign_device(spec: Any) -> Device | None:
    """Where another library's device object keeps memory, as that library says (None: unknown).

    A JAX device names its platform (``d.platform``): ``"cpu"`` is the host.
    A device of an array-API namespace (array-api-strict's) is where an array
    the namespace makes on it says its memory is (``__dlpack_device__``):
    every array-api-strict device is host memory.  Only libraries already
    imported are asked (a device object's library is imported by then).
    """
    platform = getattr(spec, "platform", None)
    if isinstance(platform, str):
        return CPU if platform == "cpu" else None  # JAX accelerators: name them "cuda:N"
    module = sys.modules.get(type(spec).__module__.partition(".")[0])
    if module is None or not hasattr(module, "__array_api_version__"):
        return None
    try:
        code, index = module.asarray(0, device=spec).__dlpack_device__()
        kind = DLPACK_KINDS.get(int(code))
    except Exception:  # noqa: BLE001 - not a device of that namespace: unknown here
        return None
    if kind is None:
        return None
    return CPU if kind == "cpu" else Device(kind, int(index))
