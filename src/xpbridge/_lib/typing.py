"""Types of the public signatures: which ``to`` gives which result type.

Type checkers match a module against a protocol (PEP 544), so ``to=numpy``
and ``to=torch`` select the overload of :func:`xpbridge.convert` that returns
an ``ndarray`` or a ``Tensor``, as ``to="numpy"``, ``to="torch"`` and an array
of either library do.  Nothing here imports a framework at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import numpy
    import torch

__all__ = ["Grad", "NumpyModule", "TorchModule"]

Grad = Literal["detach", "raise"]
"""What leaving autograd does: detach the result, or raise :class:`~xpbridge.GradError`."""


class NumpyModule(Protocol):
    """The ``numpy`` module, as a ``to=`` argument."""

    @property
    def ndarray(self) -> type[numpy.ndarray[Any, Any]]: ...


class TorchModule(Protocol):
    """The ``torch`` module, as a ``to=`` argument."""

    @property
    def Tensor(self) -> type[torch.Tensor]: ...
