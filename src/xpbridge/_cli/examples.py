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
:class:`DescriptionError` that says what is accepted (and, for a mistyped
name, the closest known one).  What a description may ask for is bounded
before anything is built: at most :data:`MAX_LENGTH` characters and
:data:`MAX_ELEMENTS` elements (a plan depends on the dtype and the layout,
not on the size), and a tree at most :data:`MAX_TREE_DEPTH` levels deep with
:data:`MAX_TREE_LEAVES` leaves.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import json
import math
import os
import re
import tempfile
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

from .libraries import ARRAY_LIBRARIES, did_you_mean, install_hint, library_problem

__all__ = [
    "FLAGS",
    "MAX_BYTES",
    "MAX_ELEMENTS",
    "MAX_LENGTH",
    "MAX_TREE_DEPTH",
    "MAX_TREE_LEAVES",
    "PRESETS",
    "DescriptionError",
    "example",
    "example_tree",
]

DEFAULT_SHAPE = (4,)
# Bounds on what a description may ask for, checked before anything is built.
MAX_LENGTH = 1_000  # characters of one description
MAX_ELEMENTS = 2**24  # elements of the array it describes (64 MiB of float32)
MAX_BYTES = 2**28  # bytes of that array (a NumPy dtype can be large: V100000, U100000)
MAX_TREE_LENGTH = 100_000  # characters of a --tree JSON
MAX_TREE_DEPTH = 64  # levels of nesting in a tree
MAX_TREE_LEAVES = 1_000  # descriptions in a tree

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
    except (SyntaxError, ValueError):  # ValueError: a null byte
        raise DescriptionError(f"cannot read {expression!r}") from None
    except (RecursionError, MemoryError):  # Python's parser has a nesting limit
        raise DescriptionError(f"cannot read {expression[:40]!r}...: nested too deeply") from None
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
    if math.prod(shape) > MAX_ELEMENTS:
        raise DescriptionError(
            f"the shape {shape} has {math.prod(shape):,} elements; a description may have "
            f"at most {MAX_ELEMENTS:,} (a plan depends on the dtype and the layout, not the size)"
        )
    return tree.func.id, shape, operations


def _numpy_dtype(name: str) -> Any:
    import numpy as np

    from .._lib.dtypes import DTYPES, ml_dtypes_has, numpy_dtype

    row = DTYPES.get(name)
    if row is None:
        try:
            return np.dtype(name)  # NumPy's own names: longdouble, object, datetime64
        except TypeError:
            if name.casefold() in DTYPES:  # the canonical names are lower case
                return _numpy_dtype(name.casefold())
            raise DescriptionError(
                f"unknown dtype {name!r}{did_you_mean(name, DTYPES)}: use a canonical name "
                f"(xpbridge.dtypes() lists them) or, for NumPy, a name NumPy knows"
            ) from None
    if row.numpy is not None or ml_dtypes_has(name):
        return numpy_dtype(name)
    if row.ml_dtypes is not None:
        raise DescriptionError(f"NumPy gets {name} from ml_dtypes: {install_hint('ml_dtypes')}")
    raise DescriptionError(f"NumPy has no {name}; torch has: write torch:{name}")


def _torch_base(name: str, shape: tuple[int, ...], device: str) -> Any:
    from .._lib.dtypes import DTYPES, torch_dtype
    from .._lib.warnings import quiet_complex_half

    row = DTYPES.get(name) or DTYPES.get(name.casefold())
    if row is None or row.torch is None:
        torch_names = [n for n, r in DTYPES.items() if r.torch is not None]
        raise DescriptionError(
            f"torch has no dtype {name!r}{did_you_mean(name, torch_names)} "
            f"(xpbridge.dtypes() lists them)"
        )
    name = row.name
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
    problem = library_problem(library)
    if problem is not None:
        raise DescriptionError(problem)


def example(description: str) -> Any:
    """The array a description names (see the module docstring for the syntax).

    Examples
    --------
    >>> a = example("float32(2, 3)[:, ::-1] readonly")
    >>> a.shape, a.strides, a.flags.writeable
    ((2, 3), (12, -4), False)
    """
    if len(description) > MAX_LENGTH:
        raise DescriptionError(
            f"a description is at most {MAX_LENGTH:,} characters; this one has {len(description):,}"
        )
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
                f"unknown flag {flag!r}{did_you_mean(flag, FLAGS)}: known are "
                f"{', '.join(FLAGS)}, and for torch a device (cuda, cuda:1, meta)"
            )
        if flag in FLAGS and FLAGS[flag].library != ("torch" if library == "torch" else "numpy"):
            raise DescriptionError(f"the flag {flag} is for {FLAGS[flag].library} sources")
    name, shape, operations = _parse(expression)
    if library in ARRAY_LIBRARIES:
        importlib.import_module(library)  # its import warnings are not the description's
    try:
        # A library's warning (a deprecated NumPy alias, say) is its verdict on the
        # description: said as a usage error, not printed between the lines.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return _build(library, name, shape, operations, flags, devices)
    except DescriptionError:
        raise
    except Warning as e:
        raise DescriptionError(f"{library} warns about {description!r}: {e}") from None
    except _REFUSALS as e:  # an upstream refusal, e.g. torch's negative-step slice
        raise DescriptionError(f"{library} cannot make {description!r}: {e}") from None


def _build(
    library: str,
    name: str,
    shape: tuple[int, ...],
    operations: list[Any],
    flags: list[str],
    devices: list[str],
) -> Any:
    """The array of a checked description: its base, the operations, the flags."""
    if library == "torch":
        x = _torch_base(name, shape, devices[-1] if devices else "cpu")
    else:
        import numpy as np

        dtype = _numpy_dtype(name)
        if dtype.itemsize * math.prod(shape) > MAX_BYTES:  # a large void or str dtype
            raise DescriptionError(
                f"{name}{shape} takes {dtype.itemsize * math.prod(shape):,} bytes; a "
                f"description may take at most {MAX_BYTES:,}"
            )
        x = np.zeros(shape, dtype=dtype)
        if library != "numpy":
            from .._api.convert import convert

            x = convert(x, library)
    for operation in operations:
        if operation == "T" and library == "torch":
            # NumPy's .T (every axis reversed), which torch deprecates beyond 2-d
            x = x.permute(*reversed(range(x.ndim)))
        elif isinstance(operation, str):
            x = getattr(x, operation)
        else:
            x = x[operation]
    for flag in flags:
        if flag in FLAGS:
            x = FLAGS[flag].apply(x)
    return x


def example_tree(text: str) -> Any:
    """A tree of arrays from JSON whose strings are descriptions.

    Examples
    --------
    >>> tree = example_tree('{"w": "float32[::-1]", "rest": ["int64", null, 3]}')
    >>> tree["w"].strides, tree["rest"][0].dtype, tree["rest"][1:]
    ((-4,), dtype('int64'), [None, 3])
    """
    if len(text) > MAX_TREE_LENGTH:
        raise DescriptionError(f"a tree is at most {MAX_TREE_LENGTH:,} characters of JSON")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DescriptionError(f"a tree is JSON whose strings are descriptions: {e}") from None
    except RecursionError:  # the JSON decoder's own nesting limit
        raise DescriptionError(f"a tree is at most {MAX_TREE_DEPTH} levels deep") from None
    _check_tree_size(data)

    def build(node: Any) -> Any:
        if isinstance(node, str):
            return example(node)
        if isinstance(node, list):
            return [build(child) for child in node]
        if isinstance(node, dict):
            return {key: build(child) for key, child in node.items()}
        return node  # numbers, booleans and null are leaves that pass through

    return build(data)


def _check_tree_size(data: Any) -> None:
    """Refuse a tree deeper than MAX_TREE_DEPTH or wider than MAX_TREE_LEAVES (no recursion)."""
    leaves = 0
    stack = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise DescriptionError(f"a tree is at most {MAX_TREE_DEPTH} levels deep")
        if isinstance(node, (list, dict)):
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
        else:
            leaves += 1
            if leaves > MAX_TREE_LEAVES:
                raise DescriptionError(f"a tree has at most {MAX_TREE_LEAVES:,} leaves")
