"""convert_chunks: a Dask array whose chunks are converted, lazily, where they are computed.

Built with ``map_blocks``, so nothing is computed when it is called: each
chunk is converted by the worker that computes it, with exactly
:func:`xpbridge.convert`'s contract.  The result's ``meta`` is the converted
empty ``meta`` of the source, so Dask knows the chunks' type and dtype
without running anything; converting it also raises, before any task runs,
the errors that depend on the dtype, device or autograd request.
"""

from __future__ import annotations

import sys
from typing import Any

from .._lib.typing import Grad
from .._pipeline.request import request_of
from ..errors import UnsupportedInputError
from .convert import convert

__all__ = ["convert_chunks"]


def _convert_chunk(chunk: Any, options: dict[str, Any]) -> Any:
    # Module level, so that workers unpickle it by reference.  The keywords
    # travel as one dict: map_blocks would take dtype= for itself.
    keywords = dict(options)
    return convert(chunk, keywords.pop("to"), **keywords)


def convert_chunks(
    array: Any,
    to: Any,
    /,
    *,
    device: Any = None,
    dtype: Any = None,
    copy: bool | None = None,
    grad: Grad = "detach",
    requires_grad: bool = False,
    narrow: bool | None = None,
) -> Any:
    """A Dask array whose chunks are ``to`` arrays, converted lazily on the workers.

    Nothing is computed by this call.  When the result is computed, each
    chunk is converted by :func:`xpbridge.convert` where it is computed (on
    the distributed workers when a ``Client`` is active), so the data never
    gathers in one process.

    Parameters
    ----------
    array
        A ``dask.array.Array``.
    to
        The target library: a name, a module or namespace, or an array (its
        library and device).  It reaches the workers as the library's name.
    device, dtype, copy, grad, requires_grad, narrow
        As for :func:`xpbridge.convert`, applied to every chunk.

    Returns
    -------
    dask.array.Array
        The same shape and chunks; its ``meta`` (``._meta``) is an empty
        array of the target library, of the result dtype.  For ``to="dask"``
        (the chunks stay NumPy arrays) it is :func:`xpbridge.convert` of the
        array: the array itself, or lazily cast or copied.  Computing the
        whole array at once needs Dask to know how to concatenate the
        target's arrays (NumPy and CuPy: yes; torch: no); chunk by chunk
        (``.blocks``, ``.to_delayed()``, ``map_blocks``) always works.

    Raises
    ------
    UnsupportedInputError
        ``array`` is not a Dask array.
    ConversionError
        Before any task runs: the error converting a chunk would raise that
        the dtype, device or autograd request decides (converting the empty
        ``meta`` raises it).  Errors that depend on a chunk's memory (a
        read-only chunk under ``copy=False``) are raised when it is computed.

    Examples
    --------
    >>> import dask.array as da, xpbridge as xb
    >>> d = da.arange(6, chunks=3)
    >>> t = xb.convert_chunks(d, "torch", dtype="float32")
    >>> type(t._meta).__name__, t.chunks
    ('Tensor', ((3, 3),))
    >>> t.blocks[1].compute()
    tensor([3., 4., 5.])
    """
    da = sys.modules.get("dask.array")
    if da is None or not isinstance(array, da.Array):
        cls = type(array)
        raise UnsupportedInputError(
            f"convert_chunks needs a dask.array.Array, not {cls.__module__}.{cls.__qualname__}; "
            f"use xpbridge.convert for a single array"
        )
    r = request_of(to, device, dtype, copy, grad, requires_grad, narrow)
    if r.target.name == "dask":
        # A Dask array's chunks are NumPy arrays already: wrapping each again
        # would give chunks that are Dask arrays, under a meta that says ndarray.
        return convert(
            array,
            to,
            device=device,
            dtype=dtype,
            copy=copy,
            grad=grad,
            requires_grad=requires_grad,
            narrow=narrow,
        )
    options = {
        # The library by name: a module or an array does not pickle to a worker.
        "to": r.target.name,
        "device": r.spelled_device,
        "dtype": dtype,
        "copy": copy,
        "grad": grad,
        "requires_grad": requires_grad,
        "narrow": r.narrow,  # the caller's setting, not the workers'
    }
    meta = _convert_chunk(array._meta, options)
    return array.map_blocks(_convert_chunk, meta=meta, token="xpbridge-convert", options=options)
