"""The torch backend, and the two NumPy <-> torch exchange primitives."""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager, nullcontext
from operator import attrgetter
from typing import Any, ClassVar

from .._lib.copy_engine import cast_tensor, copy_tensor
from .._lib.devices import CPU, CURRENT, Device
from .._lib.dtypes import DTYPES, NATIVE_IN_BOTH, numpy_dtype, numpy_name, torch_dtype, torch_name
from .._lib.memo import Memo
from .._lib.staging import StagingPool, default_pool
from .._lib.traits import Traits
from .._lib.warnings import COMPLEX_HALF, ignoring
from ..errors import DeviceError, UnsupportedInputError
from ._base import Backend, Extent, Primitive

__all__ = ["TorchBackend"]

# Same-width integer types: the carrier for a bit-exact view of types that
# only one side knows natively (bfloat16, float8, complex32).
_CARRIER = {1: "uint8", 2: "int16", 4: "int32"}

_UNSUPPORTED_LAYOUT = "a {} tensor: call .to_dense() first"
# https://docs.pytorch.org/docs/stable/notes/mps.html: no float64 on MPS.
_NOT_ON_MPS = frozenset({"float64", "complex128"})
_COMPLEX_OF = {"float16": "complex32", "float32": "complex64", "float64": "complex128"}


def _quiet_if_complex_half(dtype: str) -> AbstractContextManager[None]:
    # torch warns whenever a complex32 tensor is made; the plan already names the dtype.
    return ignoring(COMPLEX_HALF) if dtype == "complex32" else nullcontext()


def _normalise(a: Any, name: str) -> Any:
    """A view of ``a`` that torch.from_numpy accepts, for the cases it rejects wrongly.

    torch checks the stride of a length-1 axis, which is never read (and the
    strides of an empty array, of which none is: NumPy calls an empty array
    with a negative stride C-contiguous), and knows
    NumPy's integer types by type code, so ``np.ulonglong`` ('Q') is refused
    although it is the same 64-bit type as ``np.uint64`` ('L') on LP64.
    """
    from numpy.lib.stride_tricks import as_strided

    if DTYPES[name].numpy is not None:
        a = a.view(numpy_dtype(name))
    if a.size == 0:  # no element is read: any strides, C order's (NumPy allows negative ones)
        strides = [a.itemsize] * a.ndim
        for axis in range(a.ndim - 2, -1, -1):
            strides[axis] = strides[axis + 1] * max(a.shape[axis + 1], 1)
    else:
        strides = [a.itemsize if n == 1 else s for n, s in zip(a.shape, a.strides, strict=True)]
    return as_strided(a, a.shape, strides, writeable=a.flags.writeable)


# Device -> host copies of at least this many bytes go through the pinned
# staging pool (xpbridge._lib.staging): below it, a pageable copy's fixed costs
# are most of the time anyway.
PINNED_STAGING_BYTES = 1 << 20


class _CudaTransfer:
    """One device -> host copy, chunk by chunk, on the device's current stream.

    The result is pageable host memory that xpbridge allocates (NumPy's
    allocator where the dtype is NumPy's: huge pages for large blocks).
    """

    def __init__(self, x: Any, event: Callable[[], Any] | None = None) -> None:
        import torch

        self.source = x.contiguous().reshape(-1).view(torch.uint8)  # on the device
        nbytes = self.source.numel()
        np = sys.modules.get("numpy")
        if np is not None:
            self.out = torch.from_numpy(np.empty(nbytes, dtype=np.uint8))
        else:
            self.out = torch.empty(nbytes, dtype=torch.uint8)
        self.result = self.out.view(x.dtype).reshape(x.shape)
        self.stream = torch.cuda.current_stream(x.device) if x.is_cuda else None
        self.event = event or torch.cuda.Event

    def issue(self, buffer: Any, start: int, stop: int) -> Any:
        # Ordered after the work already queued on the stream: the values are final.
        buffer[: stop - start].copy_(self.source[start:stop], non_blocking=True)
        done = self.event()
        if self.stream is None:
            done.record()
        else:
            done.record(self.stream)
        return done

    def wait(self, token: Any) -> None:
        token.synchronize()

    def drain(self, buffer: Any, start: int, stop: int) -> None:
        self.out[start:stop].copy_(buffer[: stop - start])


def _cuda_to_host(x: Any, pool: StagingPool | None = None, event: Any = None) -> Any:
    """``x`` in pageable host memory; large copies through the bounded pinned pool.

    ``pool`` and ``event`` are the pool and the event factory (tests inject
    fakes; by default the process pool and ``torch.cuda.Event``).
    """
    if x.numel() * x.element_size() < PINNED_STAGING_BYTES:
        return x.cpu()
    try:
        transfer = _CudaTransfer(x, event)
    except RuntimeError:  # a dtype with no byte view (a packed sub-byte type): torch's own copy
        return x.cpu()
    (pool or default_pool()).copy(transfer.source.numel(), transfer)
    return transfer.result


def _without_data(x: Any, torch: Any) -> str:
    """Why ``x`` is a tensor with no data to convert ("" when it has data).

    Checked before any other attribute: reading ``numel()`` of an uninitialised
    parameter raises, and a fake or functorch-wrapped tensor has no storage.
    """
    return _no_memory(x, torch) or _opaque(x, torch)


def _no_memory(x: Any, torch: Any) -> str:
    """Why ``x`` has no memory at all ("" when it may have some): nothing can share it."""
    cls = type(x)
    if cls is not torch.Tensor and cls is not torch.nn.Parameter:
        parameter = sys.modules.get("torch.nn.parameter")
        if parameter is not None and isinstance(x, parameter.UninitializedTensorMixin):
            return (
                "an uninitialised parameter (of a lazy module): it has no data until the "
                "module's first forward call; run it once, then convert"
            )
        fake = sys.modules.get("torch._subclasses.fake_tensor")
        if fake is not None and isinstance(x, fake.FakeTensor):
            return "a FakeTensor: it has metadata only, no data; convert a real tensor"
    return ""


def _opaque(x: Any, torch: Any) -> str:
    """Why ``x``'s values are not its own memory ("" when they are).

    A functorch-wrapped tensor's data is reachable only inside its transform;
    a tensor subclass whose operations run in Python (``__torch_dispatch__``,
    such as torch's ``TwoTensor``, a ``DTensor``) has no storage of its own,
    and ``Tensor.numpy`` refuses it with a RuntimeError.  Nested tensors in
    jagged layout are such subclasses too, and are named as nested tensors.
    """
    if torch._C._functorch.is_functorch_wrapped_tensor(x):
        return (
            "a tensor wrapped by a functorch transform (vmap, grad): its data is not "
            "reachable inside the transform; convert the result outside it"
        )
    cls = type(x)
    if (
        cls is not torch.Tensor
        and cls is not torch.nn.Parameter
        and getattr(cls, "__torch_dispatch__", None) is not torch.Tensor.__torch_dispatch__
        and not x.is_nested
    ):
        return (
            f"a {cls.__qualname__}, a tensor subclass whose operations run in Python "
            f"(__torch_dispatch__): its values are not one block of memory; "
            f"{_inner_tensors(x, 'convert')}"
        )
    return ""


def _inner_tensors(x: Any, verb: str) -> str:
    """The remedy for a wrapper subclass: its inner tensors, where it names them."""
    try:
        names, _ = x.__tensor_flatten__()  # torch's protocol for traceable wrapper subclasses
        inner = [f"x.{name}" for name in names if isinstance(name, str) and name.isidentifier()]
    except Exception:  # noqa: BLE001 - not a traceable wrapper: no names to give
        inner = []
    if inner:
        return f"{verb} its inner tensors instead: {', '.join(inner)}"
    return f"{verb} the plain tensor it stands for instead"


def _opaque_to_shares_memory(x: Any, torch: Any) -> str:
    """Why ``shares_memory`` cannot answer for ``x`` ("" when it can)."""
    if torch._C._functorch.is_functorch_wrapped_tensor(x):
        return (
            "shares_memory cannot see the memory of a tensor wrapped by a functorch "
            "transform (vmap, grad): ask outside the transform"
        )
    if _opaque(x, torch):
        return (
            f"shares_memory cannot see the memory of a {type(x).__qualname__}, a tensor "
            f"subclass whose operations run in Python (__torch_dispatch__); "
            f"{_inner_tensors(x, 'compare')}"
        )
    return ""


# TorchBackend.traits of plain tensors, by the cheap attributes that decide
# them (NumpyBackend.traits caches by flags the same way).  Reads and writes of
# a dict are atomic, and every thread computes the same value for a key.
_TRAITS: Memo[Traits] = Memo(
    "torch traits by attributes",
    "(type, dtype, device, layout, nested, grad, conj, neg, inference, size zero, dims)",
)
# torch.Tensor and torch.nn.Parameter, and functorch's wrapped-tensor test:
# set on the first call of TorchBackend.traits (torch is imported by then).
_PLAIN_TENSORS: tuple[type, ...] = ()
_COMPLEX_DTYPES: frozenset[Any] = frozenset()  # a set lookup is cheaper than dtype.is_complex
_STRIDED: Any = None  # torch.strided
_TENSOR: Any = None  # torch.Tensor
# Plain CPU tensors with every flag at its usual value: dtype -> traits (a
# few dozen dtypes at most).
_COMMON_TRAITS: Memo[Traits] = Memo("torch traits of plain CPU tensors", "the dtype")
# The traits key of a tensor: its dtype and whether it requires grad, read in C.
# It leaves the rest open (device, lazy bits, layout): Tensor.numpy refuses
# every tensor where they would change the plan (TorchBackend.primitive).
_KEY = attrgetter("dtype", "requires_grad")
_IS_WRAPPED: Any = None


def _prime_plain_tensors() -> None:
    global _PLAIN_TENSORS, _COMPLEX_DTYPES, _STRIDED, _TENSOR, _IS_WRAPPED  # noqa: PLW0603
    import torch

    # _TENSOR last: a thread whose tensor passes `type(x) is _TENSOR` finds the rest set.
    _IS_WRAPPED = torch._C._functorch.is_functorch_wrapped_tensor
    _STRIDED = torch.strided
    _COMPLEX_DTYPES = frozenset(
        torch_dtype(name) for name, row in DTYPES.items() if row.kind == "complex" and row.torch
    )
    _PLAIN_TENSORS = (torch.Tensor, torch.nn.Parameter)
    _TENSOR = torch.Tensor


# The NumPy dtypes torch.from_numpy takes as they are: not complex (NumPy
# aligns it to its parts, torch to the whole item), not ml_dtypes', native
# byte order (a dtype of the other order is not equal to these).
DIRECT_DTYPE_NAMES = tuple(name for name in NATIVE_IN_BOTH if DTYPES[name].kind != "complex")
_DIRECT_DTYPES: frozenset[Any] = frozenset()


def direct_dtypes() -> frozenset[Any]:
    """:data:`DIRECT_DTYPE_NAMES` as NumPy dtypes (NumPy is imported by the caller)."""
    global _DIRECT_DTYPES  # noqa: PLW0603 - set once, read on every call
    if not _DIRECT_DTYPES:
        import numpy as np

        _DIRECT_DTYPES = frozenset(np.dtype(name) for name in DIRECT_DTYPE_NAMES)
    return _DIRECT_DTYPES


_SEQUENCE_DEPTH: list[int] = []
# Whether torch.asarray makes a dtype from Python values of a kind, probed once.
_MAKES: Memo[bool] = Memo("torch dtypes made from Python values", "(dtype, kind of values)", 256)


def _python_max_dims() -> int:
    """The deepest nested list torch.asarray accepts, found once by bisection (a dozen tries)."""
    if not _SEQUENCE_DEPTH:
        import torch

        def takes(depth: int) -> bool:
            nested: Any = 0
            for _ in range(depth):
                nested = [nested]
            try:
                torch.asarray(nested)
            except (ValueError, RuntimeError, TypeError):
                return False
            return True

        low, high = 1, 4096  # takes(low); the answer is below high
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if takes(middle) else (low, middle)
        _SEQUENCE_DEPTH.append(low)
    return _SEQUENCE_DEPTH[0]


def _to(x: Any, dtype: Any) -> Any:
    return x.to(dtype)


def _castable(dtype: str) -> bool:
    row = DTYPES.get(dtype)
    # torch has no casts to or from its sub-byte, bits and packed float4 types.
    return (
        row is not None
        and row.torch is not None
        and row.kind != "bits"
        and row.bits >= 8
        and row.name != "float4_e2m1fn_x2"
    )


class TorchBackend(Backend):
    """torch tensors (subclasses such as ``nn.Parameter`` included)."""

    name: ClassVar[str] = "torch"
    device_kinds = frozenset({"cpu", "cuda", "mps", "xpu"})
    autograd = True
    lazy_bits = True
    exchanges: ClassVar[dict[tuple[str, str], str]] = {
        ("numpy", "torch"): "from_numpy",
        ("torch", "numpy"): "numpy",
        ("python", "torch"): "asarray",
        ("dlpack", "torch"): "from_dlpack",  # capsules on a device; host ones meet as NumPy
    }

    def owns(self, cls: type) -> bool:
        torch = sys.modules.get("torch")
        return torch is not None and issubclass(cls, torch.Tensor)

    def traits(self, x: Any) -> Traits:
        if type(x) is _TENSOR and not _IS_WRAPPED(x):
            dtype = x.dtype
            if (
                x.is_cpu
                and x.layout is _STRIDED
                and not x.requires_grad
                and not x.is_neg()
                and not x.is_inference()
                and not x.is_nested
                and x.numel()
                and x.dim() <= 32
                and (dtype not in _COMPLEX_DTYPES or not x.is_conj())
            ):
                # The common tensor: every flag the key below reads is at its
                # usual value, so the dtype decides (no key tuple to build).
                traits = _COMMON_TRAITS.data.get(dtype)
                if traits is None:
                    traits = _COMMON_TRAITS.put(dtype, self._traits(x, sys.modules["torch"]))
                return traits
        if _TENSOR is None:
            _prime_plain_tensors()
        if type(x) in _PLAIN_TENSORS and not _IS_WRAPPED(x):
            # A plain tensor (not a subclass, not functorch-wrapped): _without_data
            # has nothing else to refuse, and every attribute the traits read
            # decides the key (is_quantized is decided by the dtype, the meta
            # device by the device; only complex tensors carry the conj bit).
            dtype = x.dtype
            dims = x.dim()
            key = (
                type(x),
                dtype,
                True if x.is_cpu else x.device,
                x.layout,
                x.is_nested,
                x.requires_grad,
                dtype in _COMPLEX_DTYPES and x.is_conj(),
                x.is_neg(),
                x.is_inference(),
                x.numel() == 0,
                dims if dims > 32 else 0,
            )
            traits = _TRAITS.data.get(key)
            if traits is None:
                import torch

                traits = _TRAITS.put(key, self._traits(x, torch))
            return traits
        import torch

        return self._traits(x, torch)

    key_is_checked = True

    def traits_key(self, cls: type) -> Callable[[Any], Hashable] | None:
        torch = sys.modules["torch"]
        return _KEY if cls is torch.Tensor or cls is torch.nn.Parameter else None

    def traits_of_key(self, key: Any, request: Any) -> Traits | None:
        dtype, requires_grad = key
        return Traits("torch", torch_name(dtype), CPU, requires_grad=requires_grad)

    def primitive(self, step: str, plan: Any, dtype: str) -> Primitive | None:
        import torch  # the step itself would import it

        cls = type(self)  # a subclass that carries out a step its own way keeps its step
        if (
            step == "from_numpy"
            and dtype in DIRECT_DTYPE_NAMES
            and cls.step_from_numpy is _FROM_NUMPY
        ):
            # Refuses a stride torch cannot take (a length-1 axis's odd one,
            # which the full step resets).
            return torch.from_numpy, (TypeError, ValueError)
        if step == "numpy" and dtype in NATIVE_IN_BOTH and cls.step_numpy is _NUMPY:
            # Refuses every tensor whose open traits would change the plan: on a
            # device, with a lazy bit, sparse, nested, quantized or meta, over
            # NumPy's dimension limit.
            return torch.Tensor.numpy, (TypeError, RuntimeError, ValueError)
        if dtype in _BIT_VIEWS:  # bfloat16, float8: the same views through a carrier
            if step == "from_numpy" and cls.step_from_numpy is _FROM_NUMPY:
                return _bit_view_from_numpy(torch, dtype), (TypeError, ValueError)
            if step == "numpy" and cls.step_numpy is _NUMPY:
                return _bit_view_numpy(torch, dtype), (TypeError, RuntimeError, ValueError)
        return None

    def _traits(self, x: Any, torch: Any) -> Traits:
        unsupported = _without_data(x, torch)
        if unsupported:
            return Traits("torch", "", unsupported=unsupported)
        if x.is_nested:
            unsupported = "a nested tensor: call .to_padded_tensor(0.0) or .unbind() first"
        elif x.layout is not torch.strided:
            unsupported = _UNSUPPORTED_LAYOUT.format(str(x.layout).removeprefix("torch."))
        elif x.is_quantized:
            unsupported = "a quantized tensor: call .dequantize() first"
        elif x.device.type == "meta":
            unsupported = "a meta tensor: it has no data; create it on a real device"
        dims = x.dim()
        return Traits(
            "torch",
            torch_name(x.dtype),
            CPU if unsupported else self.device_of(x),
            size_zero=not unsupported and x.numel() == 0,
            requires_grad=x.requires_grad,
            conj=x.is_conj(),
            neg=x.is_neg(),
            unsupported=unsupported,
            inference=x.is_inference(),
            many_dims=dims if dims > 32 else 0,
        )

    def holds(self, dtype: str) -> bool:
        row = DTYPES.get(dtype)
        return row is not None and row.torch is not None

    def casts(self, source: str, target: str) -> bool:
        return _castable(source) and _castable(target)

    def python_dtype(self, kind: str) -> str:
        import torch

        kind = kind.removesuffix("-bigint")  # torch converts such ints to its float
        if kind in {"float", "complex"}:
            # torch.asarray follows the default dtype, a run-time setting.
            default = torch_name(torch.get_default_dtype())
            return _COMPLEX_OF.get(default, "inferred") if kind == "complex" else default
        if kind == "bool":
            return "bool"
        # Every int is an int64 to torch: one beyond it raises (the planner refuses it).
        return "int64" if kind in {"int", "uint", "int65", "bigint"} else "inferred"

    def python_makes(self, dtype: str, kind: str) -> bool:
        """Probed once per pair: torch.asarray([1.0], dtype=torch.uint64) raises TypeError."""
        key = (dtype, kind)
        known = _MAKES.data.get(key)
        if known is None:
            import torch

            value = {"bool": True, "int": 1, "float": 1.0, "complex": 1 + 0j}.get(kind)
            try:
                with _quiet_if_complex_half(dtype):
                    torch.asarray([value], dtype=torch_dtype(dtype))
            except (TypeError, ValueError, RuntimeError):
                known = False
            else:
                known = True
            _MAKES.put(key, known)
        return known

    @property
    def python_max_dims(self) -> int:  # type: ignore[override]
        """How deep torch.asarray takes nested sequences: probed once (128 in torch 2.x)."""
        return _python_max_dims()

    def holds_on(self, dtype: str, request: Any) -> bool:
        # Apple's MPS has no 64-bit floating point types (PyTorch's MPS backend
        # refuses float64 tensors), so neither float64 nor complex128 lives there.
        device = request.device
        if device is not None and device.kind == "mps" and dtype in _NOT_ON_MPS:
            return False
        return self.holds(dtype)

    def resolve_device(self, device: Device) -> Device:
        import torch

        if device.kind == "cpu":
            return CPU
        if device.kind not in self.device_kinds:
            raise DeviceError(
                f"torch cannot hold converted data on {device.kind!r}: pass device='cpu' "
                f"or a device of kind {sorted(self.device_kinds)}"
            )
        module = getattr(torch, device.kind, None)
        if module is None or not module.is_available():
            raise DeviceError(
                f"device {device} is not available: this torch build or machine has no "
                f"{device.kind}; pass device='cpu'"
            )
        count = module.device_count()
        index = module.current_device() if device.id == CURRENT else device.id
        if not 0 <= index < count:
            raise DeviceError(
                f"device {device.kind}:{index} does not exist: this machine has {count} "
                f"{device.kind} device(s)"
            )
        return Device(device.kind, index)

    def device_of(self, x: Any) -> Device:
        device = x.device
        return CPU if device.type == "cpu" else Device(device.type, device.index or 0)

    def extent(self, x: Any) -> Extent | None:
        torch = sys.modules["torch"]
        if _without_data(x, torch) or x.is_nested or x.device.type == "meta":
            return None
        if x.layout is not torch.strided:
            return None
        itemsize = x.element_size()  # a quantized tensor: its integer values' size
        return Extent(
            self.device_of(x),
            x.data_ptr(),
            tuple(x.shape),
            tuple(s * itemsize for s in x.stride()),
            itemsize,
        )

    def extents(self, x: Any) -> tuple[Extent, ...]:
        """Every block of memory a tensor's values are read from.

        A strided tensor (quantized ones too) is one block; a sparse tensor its
        index and value tensors; a nested tensor its buffer (and a jagged one
        its offsets).  A tensor without memory (meta, fake, an uninitialised
        parameter) has none.  A functorch-wrapped tensor and a
        ``__torch_dispatch__`` subclass have memory that is not their own:
        :class:`UnsupportedInputError`, never a guess.
        """
        torch = sys.modules["torch"]
        if _no_memory(x, torch):  # before any attribute: a FakeTensor's storage warns
            return ()
        opaque = _opaque_to_shares_memory(x, torch)
        if opaque:
            raise UnsupportedInputError(opaque)
        if x.device.type == "meta":
            return ()
        layout = x.layout
        if x.is_nested:
            parts = [x.values()]
            if layout is not torch.strided:  # jagged: the offsets (and lengths) are memory too
                parts += [t for t in (x.offsets(), x.lengths()) if t is not None]
        elif layout is torch.sparse_coo:
            parts = [x._indices(), x._values()]
        elif layout in (torch.sparse_csr, torch.sparse_bsr):
            parts = [x.crow_indices(), x.col_indices(), x.values()]
        elif layout in (torch.sparse_csc, torch.sparse_bsc):
            parts = [x.ccol_indices(), x.row_indices(), x.values()]
        else:
            extent = self.extent(x)
            return () if extent is None else (extent,)
        return tuple(extent for part in parts for extent in self.extents(part))

    # Steps.  Each takes (array, plan) and returns an array.

    def step_detach(self, x: Any, plan: Any) -> Any:
        return x.detach()

    def step_resolve_conj(self, x: Any, plan: Any) -> Any:
        return x.resolve_conj()

    def step_resolve_neg(self, x: Any, plan: Any) -> Any:
        return x.resolve_neg()

    def step_copy(self, x: Any, plan: Any) -> Any:
        name = torch_name(x.dtype)
        if name in DTYPES and DTYPES[name].bits < 8:
            # torch has no copy kernel for some sub-byte types: copy the bytes.
            return x.view(torch_dtype(_CARRIER[x.element_size()])).clone().view(x.dtype)
        with _quiet_if_complex_half(name):
            if plan.target == self.name:
                return x.clone()  # torch -> torch: differentiable, torch's own storage
            return copy_tensor(x)  # the data leaves torch: the fastest engine (_copy)

    def step_to_device(self, x: Any, plan: Any) -> Any:
        if plan.device.kind == "cpu" and x.device.type == "cuda":
            return _cuda_to_host(x)
        return x.to(str(plan.device))

    def step_cast(self, x: Any, plan: Any) -> Any:
        target = torch_dtype(plan.dtype)
        # Data that came from NumPy (already NumPy memory) or leaves torch may
        # be cast into a buffer from the faster allocator, by the same kernel
        # as Tensor.to (_copy); torch -> torch keeps Tensor.to.
        cast = cast_tensor if plan.target != self.name or "from_numpy" in plan.steps else _to
        if x.is_complex() and not target.is_complex:
            # Tensor.to's own result (x.real.to differs for out-of-range values),
            # without its "discards the imaginary part" warning: this one path
            # pays for catch_warnings.
            with ignoring("Casting complex values to real", COMPLEX_HALF):
                return cast(x, target)
        if plan.dtype == "complex32":
            with _quiet_if_complex_half(plan.dtype):
                return cast(x, target)
        return cast(x, target)

    def step_check_range(self, x: Any, plan: Any) -> Any:
        from .arrayapi import check_fits

        check_fits(sys.modules["torch"], x, plan.dtype)
        return x

    def step_require_grad(self, x: Any, plan: Any) -> Any:
        # detach() so that an alias never changes the source's own flag.
        return x.detach().requires_grad_()

    def consumer_stream(self, device: Device) -> int | None:
        """The DLPack ``stream`` to ask a producer on ``device`` for: our current stream."""
        import torch

        if device.kind != "cuda":
            return None
        handle = int(torch.cuda.current_stream(device.id).cuda_stream)
        return handle or 1  # DLPack: 1 names the legacy default stream; -1 is never sent

    # Exchanges.

    def step_from_dlpack(self, x: Any, plan: Any) -> Any:
        from torch.utils.dlpack import from_dlpack

        return from_dlpack(x.capsule)  # inspected already; torch consumes it

    def step_asarray(self, x: Any, plan: Any) -> Any:
        import torch

        dtype = None if plan.dtype == "inferred" else torch_dtype(plan.dtype)
        try:
            # A sequence of NumPy arrays converts correctly, only slowly; and the plan
            # already names a complex32 result.
            with ignoring("Creating a tensor from a list", COMPLEX_HALF):
                return torch.asarray(x, dtype=dtype, device=str(plan.device))
        except (TypeError, ValueError, RuntimeError, OverflowError) as e:
            raise UnsupportedInputError(f"torch.asarray cannot convert this object: {e}") from e

    def step_from_numpy(self, a: Any, plan: Any) -> Any:
        import torch

        name = numpy_name(a.dtype)
        bit_view = DTYPES[name].numpy is None
        if bit_view:
            a = a.view(_CARRIER[a.dtype.itemsize])
        try:
            t = torch.from_numpy(a)
        except (TypeError, ValueError):
            t = torch.from_numpy(_normalise(a, name))
        if not bit_view:
            return t
        with _quiet_if_complex_half(name):
            return t.view(torch_dtype(name))

    def step_numpy(self, t: Any, plan: Any) -> Any:
        name = torch_name(t.dtype)
        if DTYPES[name].numpy is not None:
            return t.numpy()
        carrier = getattr(sys.modules["torch"], _CARRIER[t.element_size()])
        return t.view(carrier).numpy().view(numpy_dtype(name))


# Types NumPy gets from ml_dtypes and torch has: they cross as bit views of a
# same-width integer (complex32 aside: torch warns whenever it makes one).
_BIT_VIEWS = frozenset(
    name
    for name, row in DTYPES.items()
    if row.numpy is None
    and row.torch is not None
    and row.ml_dtypes is not None
    and row.bits >= 8
    and row.kind != "complex"
)


def _bit_view_from_numpy(torch: Any, dtype: str) -> Any:
    carrier, target = numpy_dtype(_CARRIER[DTYPES[dtype].bits // 8]), torch_dtype(dtype)

    def from_numpy(a: Any) -> Any:
        return torch.from_numpy(a.view(carrier)).view(target)

    return from_numpy


def _bit_view_numpy(torch: Any, dtype: str) -> Any:
    carrier = getattr(torch, _CARRIER[DTYPES[dtype].bits // 8])
    target = numpy_dtype(dtype)

    def to_numpy(t: Any) -> Any:
        return t.view(carrier).numpy().view(target)

    return to_numpy


_FROM_NUMPY = TorchBackend.step_from_numpy  # the steps TorchBackend.primitive stands for
_NUMPY = TorchBackend.step_numpy
