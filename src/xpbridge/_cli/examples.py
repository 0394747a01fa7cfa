"""Example arrays built from typed descriptions, for ``xpbridge explain``.

A description names a source the way a user would type it::

    [LIBRARY:]DTYPE[(SHAPE)][INDEX][.T] [FLAG ...]

``float32[::-1]``, ``torch:bfloat16``, ``float64(3, 4).T readonly``,
``torch:float32 requires-grad``.  LIBRARY is ``numpy`` (the default),
``torch`` or an installed array-API library (``array_api_strict``, ``jax``);
DTYPE a canonical name (``xpbridge.dtypes()``), or for NumPy any dtype NumPy
names (``longdouble``, ``object``); SHAPE defaults to ``(4,)``; INDEX is
NumPy's basic indexing (integers, slices, ``...``, ``None``).  Only the traits
of a source decide its plan, so the values are zeros.

The expression is read with :mod:`ast` and only literal indices are accepted,
so a description can never run code.  Every mistake is a
:class:`DescriptionError` that says what is accepted.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["FLAGS", "PRESETS", "DescriptionError", "example", "example_tree"]

DEFAULT_SHAPE = (4,)

# Names the CLI has always accepted, kept as shorthands for a description.
PRESETS = {
    "contiguous": "float32",
    "reversed": "float32[::-1]",
    "readonly": "float32 readonly",
    "big-endian": "float32 byteswapped",
    "bfloat16-tensor": "torch:bfloat16",
    "requires-grad": "torch:float32 requires-grad",
}


class DescriptionError(ValueError):
    """A description that cannot be read, or that names something this install lacks."""


class Flag(NamedTuple):
    library: str
    help: str
    apply: Callable[[Any], Any]


def _readonly(a: Any) -> Any:
    view = a.view()
    view.flags.writeable = False
    return view


def _byteswapped(a: Any) -> Any:
    if a.dtype.itemsize == 1 or a.dtype.byteorder == "|":
        raise DescriptionError(f"{a.dtype} has no byte order to swap")
    return a.astype(a.dtype.newbyteorder("S"))


def _unaligned(a: Any) -> Any:
    # The testing toolkit is imported only by the descriptions that need it,
    # not by every command of the CLI.
    from ..testing._layouts import unaligned_copy

    if a.dtype.alignment == 1:
        raise DescriptionError(f"{a.dtype} is always aligned")
    return unaligned_copy(a)


def _memmap(a: Any) -> Any:
    import numpy as np

    fd, path = tempfile.mkstemp(suffix=".bin")
    os.close(fd)
    try:
        np.ascontiguousarray(a).tofile(path)
        return np.memmap(path, dtype=a.dtype, mode="r", shape=a.shape)
    finally:
        # The mapping stays valid, and nothing is left on disk.  Windows keeps a
        # mapped file: its temporary directory is cleaned up later.
        with contextlib.suppress(OSError):
            os.unlink(path)


def _scalar(a: Any) -> Any:
    if a.size == 0:
        raise DescriptionError("a size-0 array has no element to make a scalar of")
    return a.reshape(-1)[0]


def _masked(a: Any) -> Any:
    import numpy as np

    return np.ma.masked_array(a, mask=np.zeros(a.shape, dtype=bool))


def _negative_bit(t: Any) -> Any:
    import torch

    from ..testing._layouts import with_negative_bit

    if t.dtype not in (torch.float32, torch.float64):
        raise DescriptionError("neg applies to float32 and float64 tensors")
    return with_negative_bit(t)


FLAGS: dict[str, Flag] = {
    "readonly": Flag("numpy", "the writeable flag cleared", _readonly),
    "byteswapped": Flag("numpy", "non-native byte order", _byteswapped),
    "unaligned": Flag("numpy", "data at an odd address", _unaligned),
    "memmap": Flag("numpy", "a read-only memory map (mode='r')", _memmap),
    "scalar": Flag("numpy", "a NumPy scalar (np.float32(0)), not an array", _scalar),
    "masked": Flag("numpy", "a numpy.ma.MaskedArray", _masked),
    "requires-grad": Flag("torch", "a leaf that requires grad", lambda t: t.requires_grad_()),
    "conj": Flag("torch", "torch's lazy conjugate bit (x.conj())", lambda t: t.conj()),
    "neg": Flag("torch", "torch's lazy negative bit (x.conj().imag)", _negative_bit),
    "sparse": Flag("torch", "a sparse COO tensor", lambda t: t.to_sparse()),
}
# What a library raises when it cannot make what a description asks for.
_REFUSALS = (ValueError, TypeError, RuntimeError, IndexError, AttributeError, NotImplementedError)
_DEVICE_FLAG = re.compile(r"(cuda(:\d+)?|meta|mps|xpu(:\d+)?)$")
_LIBRARY = re.compile(r"([A-Za-z_][\w.]*):(?=\S)")


def _split(text: str) -> list[str]:
    """Words separated by spaces outside brackets, so ``float32(3, 4)`` stays one word."""
    words, depth, current = [], 0, ""
    for char in text.strip():
        depth += (char in "([") - (char in ")]")
        if char.isspace() and depth == 0:
            if current:
                words.append(current)
            current = ""
        else:
            current += char
    if depth != 0:
        raise DescriptionError(f"unbalanced brackets in {text!r}")
    return [*words, current] if current else words


def _index(node: ast.expr) -> Any:
    """One literal index: an integer, a slice of integers, ``...`` or ``None``."""
    if isinstance(node, ast.Constant) and (
        node.value is None or node.value is Ellipsis or type(node.value) is int
    ):
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and type(node.operand.value) is int
    ):
        return -node.operand.value
    if isinstance(node, ast.Slice):
        parts = (node.lower, node.upper, node.step)
        return slice(*(None if part is None else _index(part) for part in parts))
    if isinstance(node, ast.Tuple):
        return tuple(_index(element) for element in node.elts)
    raise DescriptionError(
        f"{ast.unparse(node)!r} is not an index: use integers, slices, '...' or None"
    )


def _parse(expression: str) -> tuple[str, tuple[int, ...], list[Any]]:
    """The dtype name, the shape, and the operations (indices, ``"T"``) in order."""
    try:
        tree = ast.parse(expression, mode="eval").body
    except SyntaxError:
        raise DescriptionError(f"cannot read {expression!r}") from None
    operations: list[Any] = []
    while not isinstance(tree, (ast.Name, ast.Call)):
        if isinstance(tree, ast.Subscript):
            operations.insert(0, _index(tree.slice))
        elif isinstance(tree, ast.Attribute) and tree.attr in {"T", "mT"}:
            operations.insert(0, tree.attr)
        else:
            raise DescriptionError(
                f"cannot read {ast.unparse(tree)!r} in {expression!r}: after the dtype "
                f"come a shape in parentheses, indices in brackets, or .T"
            )
        tree = tree.value
    if isinstance(tree, ast.Name):
        return tree.id, DEFAULT_SHAPE, operations
    if not isinstance(tree.func, ast.Name) or tree.keywords:
        raise DescriptionError(f"cannot read {expression!r}: write DTYPE(3, 4) for a shape")
    shape = tuple(_index(arg) for arg in tree.args)
    if not all(type(n) is int and n >= 0 for n in shape):
        raise DescriptionError(f"the shape in {expression!r} must be non-negative integers")
    return tree.func.id, shape, operations


def _numpy_dtype(name: str) -> Any:
    import numpy as np

    from .._lib.dtypes import DTYPES, ml_dtypes_has, numpy_dtype

    row = DTYPES.get(name)
    if row is None:
        try:
            return np.dtype(name)  # NumPy's own names: longdouble, object, datetime64
        except TypeError:
            raise DescriptionError(
                f"unknown dtype {name!r}: use a canonical name (xpbridge.dtypes() lists "
                f"them) or, for NumPy, a name NumPy knows"
            ) from None
    if row.numpy is not None or ml_dtypes_has(name):
        return numpy_dtype(name)
    if row.ml_dtypes is not None:
        raise DescriptionError(f"NumPy gets {name} from ml_dtypes: pip install ml_dtypes")
    raise DescriptionError(f"NumPy has no {name}; torch has: write torch:{name}")


def _torch_base(name: str, shape: tuple[int, ...], device: str) -> Any:
    from .._lib.dtypes import DTYPES, torch_dtype
    from .._lib.warnings import quiet_complex_half

    row = DTYPES.get(name)
    if row is None or row.torch is None:
        raise DescriptionError(f"torch has no dtype {name!r} (xpbridge.dtypes() lists them)")
    try:
        dtype = torch_dtype(name)
    except AttributeError:
        raise DescriptionError(f"this torch has no {name}: a newer torch has it") from None
    import torch

    try:
        with quiet_complex_half():
            try:
                return torch.zeros(shape, dtype=dtype, device=device)
            except (RuntimeError, NotImplementedError):
                return torch.empty(shape, dtype=dtype, device=device)  # storage-only dtypes
    except (RuntimeError, AssertionError) as e:  # AssertionError: a build without CUDA
        raise DescriptionError(f"torch cannot make a tensor on {device}: {e}") from None


def _installed(library: str) -> None:
    from .._lib.environment import installed

    root = library.partition(".")[0]
    if not installed(root):
        hint = "xpbridge[torch]" if root == "torch" else root.replace("_", "-")
        raise DescriptionError(f"{root} is not installed here: pip install '{hint}'")


def example(description: str) -> Any:
    """The array a description names (see the module docstring for the syntax).

    Examples
    --------
    >>> a = example("float32(2, 3)[:, ::-1] readonly")
    >>> a.shape, a.strides, a.flags.writeable
    ((2, 3), (12, -4), False)
    """
    description = PRESETS.get(description.strip(), description)
    words = _split(description)
    if not words:
        raise DescriptionError("an empty description: try float32 or torch:bfloat16")
    head, flags = words[0], words[1:]
    match = _LIBRARY.match(head)
    library, expression = (match[1], head[match.end() :]) if match else ("numpy", head)
    _installed(library)
    devices = [f for f in flags if _DEVICE_FLAG.match(f)]
    if devices and library != "torch":
        raise DescriptionError(f"the device flag {devices[0]} is for torch tensors")
    for flag in flags:
        if flag not in FLAGS and flag not in devices:
            raise DescriptionError(
                f"unknown flag {flag!r}: known are {', '.join(FLAGS)}, and for torch a "
                f"device (cuda, cuda:1, meta)"
            )
        if flag in FLAGS and FLAGS[flag].library != ("torch" if library == "torch" else "numpy"):
            raise DescriptionError(f"the flag {flag} is for {FLAGS[flag].library} sources")
    name, shape, operations = _parse(expression)
    try:
        if library == "torch":
            x = _torch_base(name, shape, devices[-1] if devices else "cpu")
        else:
            import numpy as np

            x = np.zeros(shape, dtype=_numpy_dtype(name))
            if library != "numpy":
                from .._api.convert import convert

                x = convert(x, library)
        for operation in operations:
            x = getattr(x, operation) if isinstance(operation, str) else x[operation]
        for flag in flags:
            if flag in FLAGS:
                x = FLAGS[flag].apply(x)
    except DescriptionError:
        raise
    except _REFUSALS as e:  # an upstream refusal, e.g. torch's negative-step slice
        raise DescriptionError(f"{library} cannot make {description!r}: {e}") from None
    return x


def example_tree(text: str) -> Any:
    """A tree of arrays from JSON whose strings are descriptions.

    Examples
    --------
    >>> tree = example_tree('{"w": "float32[::-1]", "rest": ["int64", null, 3]}')
    >>> tree["w"].strides, tree["rest"][0].dtype, tree["rest"][1:]
    ((-4,), dtype('int64'), [None, 3])
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DescriptionError(f"a tree is JSON whose strings are descriptions: {e}") from None

    def build(node: Any) -> Any:
        if isinstance(node, str):
            return example(node)
        if isinstance(node, list):
            return [build(child) for child in node]
        if isinstance(node, dict):
            return {key: build(child) for key, child in node.items()}
        return node  # numbers, booleans and null are leaves that pass through

    return build(data)
