"""The Tensor class: an array plus what autograd needs to know about it.

Kept thin on purpose. This file holds the data model (array, dtype, device, version
counter, the link into the backward graph) and the conversions to Python and NumPy.
Every method that computes something is an op from ``backprop.ops`` bound onto the class
in ``_tensor_methods.py``, so there is exactly one implementation of each op.
"""

from __future__ import annotations

import threading
import warnings
import weakref

import numpy

from . import _dtype
from ._backend import _BY_ARRAY_TYPE, backend_of
from ._device import CPU as _CPU
from ._device import device as _device_cls

_FROM_NUMPY = _dtype._FROM_NUMPY
_NDARRAY = numpy.ndarray
_object_new = object.__new__

# Held while a gradient is added into a tensor's ``.grad`` (AccumulateGrad, retain_grad): backward
# calls running in several threads into one shared leaf must not lose updates (as in torch).
grad_accumulation_lock = threading.Lock()

_autograd_backward = None  # backprop.autograd.backward, bound on the first Tensor.backward call


class Size(tuple):
    """torch.Size: a tuple of ints with ``numel()``."""

    __slots__ = ()

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, item):
        out = tuple.__getitem__(self, item)
        return Size(out) if isinstance(item, slice) else out

    def __add__(self, other) -> Size:
        return Size(tuple.__add__(self, tuple(other)))

    def __radd__(self, other) -> Size:
        return Size(tuple(other) + tuple(self))

    def __repr__(self) -> str:
        return f"backprop.Size([{', '.join(str(s) for s in self)}])"


def shape_str(shape) -> str:
    """A shape as torch prints it in messages: ``[2, 3]``."""
    return "[" + ", ".join(str(int(s)) for s in shape) + "]"


class Tensor:
    """A multi-dimensional array that can record the ops applied to it for backpropagation.

    Attributes read on the hot path are slots: ``_data`` (the array: NumPy on the CPU, CuPy on
    a GPU; its type tells the device, see ``_backend``), ``_requires_grad``,
    ``_grad_fn``/``_output_nr`` (the edge into the backward graph; ``None`` for leaves),
    ``_grad`` and ``_version_counter`` (a one-element list, shared with views, bumped by
    every in-place op so backward can refuse stale saved values). Rarely used fields
    (view base, hooks) live in the instance ``__dict__`` with class-level defaults.
    """

    __slots__ = (
        "_data",
        "_requires_grad",
        "_grad_fn",
        "_output_nr",
        "_grad",
        "_version_counter",
        "__dict__",
        "__weakref__",
    )

    # Rare fields (class-level defaults, set per instance only when used).
    _base = None  # the Tensor whose storage this view shares (views only)
    _view_fn = None  # array -> array: re-derives this view from the base's array
    _view_version = 0  # base version when this view's grad_fn was last set
    _hooks = None  # leaf gradient hooks: list of callables
    _post_accumulate_hooks = None
    # Set (on the class) once any hook that may write into a leaf's .grad during backward is
    # registered: from then on the engine watches for gradient arrays shared between inputs.
    _grad_writing_hooks_seen = False
    _accumulator = None  # weakref to this leaf's AccumulateGrad node
    _retains_grad = False
    _is_param = False
    _sparse_layout = False  # True on sparse COO tensors (ops/sparse.py's Tensor subclass)

    __array_priority__ = 1000  # ndarray <op> Tensor defers to Tensor's reflected operator

    def __new__(cls, *args, **kwargs):
        # The legacy constructor: Tensor([1, 2]) -> float tensor; Tensor(2, 3) -> uninitialized.
        from ._creation import _legacy_tensor

        data = _legacy_tensor(*args, **kwargs)
        t = _object_new(cls)
        _init(t, data)
        return t

    def __init__(self, *args, **kwargs):
        pass

    # ------------------------------------------------------------------ data model
    @property
    def data(self) -> Tensor:
        """The same storage, detached, with its own version counter (torch semantics)."""
        return _make(self._data)

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be a Tensor, got {type(value).__name__}")
        self._data = value._data

    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None):
        if dim is None:
            return Size(self._data.shape)
        from .ops._utils import normalize_dim

        return self._data.shape[normalize_dim(dim, self._data.ndim, "size")]

    @property
    def dtype(self) -> _dtype.dtype:
        return _FROM_NUMPY[self._data.dtype]

    @property
    def device(self) -> _device_cls:
        data = self._data
        if type(data) is _NDARRAY:
            return _CPU
        return backend_of(data).device_of(data)

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def is_cpu(self) -> bool:
        return type(self._data) is _NDARRAY

    @property
    def is_mps(self) -> bool:
        return False

    @property
    def is_xpu(self) -> bool:
        return False

    @property
    def is_sparse(self) -> bool:
        return False

    @property
    def is_quantized(self) -> bool:
        return False

    @property
    def is_meta(self) -> bool:
        return False

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def ndimension(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return self._data.size

    nelement = numel

    def element_size(self) -> int:
        return self._data.itemsize

    @property
    def itemsize(self) -> int:
        return self._data.itemsize

    @property
    def nbytes(self) -> int:
        return self._data.nbytes

    def stride(self, dim: int | None = None):
        item = self._data.itemsize
        strides = tuple(s // item for s in self._data.strides)
        if dim is None:
            return strides
        from .ops._utils import normalize_dim

        return strides[normalize_dim(dim, self._data.ndim, "stride")]

    def is_contiguous(self, memory_format=None) -> bool:
        return bool(self._data.flags.c_contiguous)

    def data_ptr(self) -> int:
        data = self._data
        if type(data) is _NDARRAY:
            return int(data.__array_interface__["data"][0])
        return int(data.data.ptr)

    def is_floating_point(self) -> bool:
        kind = self._data.dtype.kind
        return kind == "f" or kind == "V"  # V: ml_dtypes' bfloat16

    def is_complex(self) -> bool:
        return self._data.dtype.kind == "c"

    def get_device(self) -> int:
        """The CUDA device index, or -1 for a CPU tensor."""
        dev = self.device
        return -1 if dev.type == "cpu" else dev.index

    @property
    def _version(self) -> int:
        return self._version_counter[0]

    # ------------------------------------------------------------------ autograd state
    @property
    def requires_grad(self) -> bool:
        if self._base is not None and not self._requires_grad:
            _refresh_view_grad_fn(self)  # the base may have come to require grad through an in-place op
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self._grad_fn is not None:
            if value:  # a non-leaf already requires grad: a no-op, as in torch
                return
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach()."
            )
        if value and self._data.dtype.kind not in "fcV":  # V: ml_dtypes' bfloat16
            raise RuntimeError(
                "only Tensors of floating point and complex dtype can require gradients "
                f"(got {self.dtype})"
            )
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    @property
    def grad_fn(self):
        if self._base is not None and self._requires_grad:
            _refresh_view_grad_fn(self)
        return self._grad_fn

    @property
    def is_leaf(self) -> bool:
        if self._base is not None:
            _refresh_view_grad_fn(self)
        return self._grad_fn is None

    @property
    def output_nr(self) -> int:
        return self._output_nr

    @property
    def grad(self) -> Tensor | None:
        if self._grad_fn is not None and not self._retains_grad and self._grad is None:
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its "
                ".grad attribute won't be populated during autograd.backward(). If you indeed "
                "want the .grad field to be populated for a non-leaf Tensor, use .retain_grad() "
                "on the non-leaf Tensor.",
                UserWarning,
                stacklevel=2,
            )
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type {type(value).__name__}")
            if value._data.shape != self._data.shape:
                raise RuntimeError(
                    f"assigned grad has data of a different size: grad {shape_str(value._data.shape)} "
                    f"vs tensor {shape_str(self._data.shape)}"
                )
            if value._data.dtype != self._data.dtype:
                raise RuntimeError(
                    f"assigned grad has data of a different type: grad {value.dtype} vs tensor {self.dtype}"
                )
            if value.device != self.device:
                raise RuntimeError(
                    f"assigned grad has data located on a different device: grad on {value.device} vs tensor on {self.device}"
                )
        self._grad = value

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward (a no-op for leaves)."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self._grad_fn is None or self._retains_grad:
            return
        from .autograd.grad_mode import _state as _grad_state

        ref = weakref.ref(self)

        def retain(grad):
            t = ref()
            if t is not None:
                g = grad.detach() if not _grad_state.enabled else grad
                with grad_accumulation_lock:
                    t._grad = _make(g._data.copy()) if t._grad is None else t._grad + g
            return grad

        # The handle lets an in-place op move the hook onto this tensor's new grad_fn (ops.inplace).
        self._retain_handle = self.grad_fn._add_tensor_hook(self._output_nr, retain, retain=True)
        self._retains_grad = True

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor replaces it.

        Returns a handle with ``remove()``.
        """
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._grad_fn is None:
            if self._hooks is None:
                self._hooks = []
            return _RemovableHandle(self._hooks, hook)
        return self.grad_fn._add_tensor_hook(self._output_nr, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` after this leaf's ``.grad`` has been accumulated."""
        if self._grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        if self._post_accumulate_hooks is None:
            self._post_accumulate_hooks = []
        Tensor._grad_writing_hooks_seen = True
        return _RemovableHandle(self._post_accumulate_hooks, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None) -> None:
        """Backpropagate from this tensor: accumulate d(self)/d(leaf) into every leaf's ``.grad``."""
        global _autograd_backward
        if _autograd_backward is None:
            from .autograd import backward as _autograd_backward  # autograd builds on this module

        _autograd_backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    def detach(self) -> Tensor:
        """A tensor sharing storage and version counter, cut from the graph."""
        t = _make(self._data)
        t._version_counter = self._version_counter
        return t

    def detach_(self) -> Tensor:
        if self._base is not None:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self._grad_fn = None
        self._requires_grad = False
        return self

    # ------------------------------------------------------------------ Python / NumPy
    def numpy(self, *, force: bool = False):
        """The underlying NumPy array (shares memory). A CUDA tensor raises, as in torch, unless
        ``force=True``, which copies it to host memory."""
        data = self._data
        if type(data) is not _NDARRAY:
            if not force:
                raise TypeError(
                    f"can't convert {self.device} device type tensor to numpy. Use Tensor.cpu() to copy the tensor "
                    "to host memory first."
                )
            return backend_of(data).to_host(data)
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return data

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        if dtype is not None and arr.dtype != dtype:
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def __dlpack__(self, stream=None, *, max_version=None, dl_device=None, copy=None):
        """Export as a DLPack capsule sharing memory; for CUDA memory ``stream`` is the consumer's
        stream, which the producer's pending work is ordered before (the DLPack protocol)."""
        if self._requires_grad:
            raise RuntimeError("Can't export tensors that require gradient, use tensor.detach()")
        kwargs = {k: v for k, v in (("max_version", max_version), ("dl_device", dl_device), ("copy", copy)) if v is not None}
        if stream is not None and type(self._data) is not _NDARRAY:
            kwargs["stream"] = stream
        return self._data.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple:
        """(device type, device id) of the DLPack export: ``(1, 0)`` for the CPU, ``(2, N)`` for cuda:N."""
        return self._data.__dlpack_device__()

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return self._data.reshape(()).item()

    def tolist(self):
        return self._data.tolist()

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._data.reshape(())[()])

    def __float__(self) -> float:
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return float(self.item())

    def __int__(self) -> int:
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return int(self.item())

    def __complex__(self) -> complex:
        return complex(self.item())

    def __index__(self) -> int:
        if self._data.size != 1 or self._data.dtype.kind not in "iub":
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        from ._tensor_str import tensor_repr

        return tensor_repr(self)

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __reduce_ex__(self, protocol):
        # For multiprocessing (DataLoader workers); checkpoints never use pickle (see serialization).
        return (_rebuild_tensor, (self._data, self._requires_grad, type(self)))

    def __deepcopy__(self, memo):
        if self._grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol at the moment."
            )
        if id(self) in memo:
            return memo[id(self)]
        new = _rebuild_tensor(self._data.copy(), self._requires_grad, type(self))
        if self._grad is not None:
            new._grad = _make(self._grad._data.copy())
        new.__dict__.update({k: v for k, v in self.__dict__.items() if not k.startswith("_")})
        memo[id(self)] = new
        return new

    @property
    def __cuda_array_interface__(self):
        """CUDA tensors share their memory with Numba, CuPy, ... through this protocol."""
        data = self._data
        if type(data) is _NDARRAY:
            raise AttributeError(
                f"Can't get __cuda_array_interface__ on non-CUDA tensor type: {self.type()} "
                "If CUDA data is required use tensor.cuda() to copy tensor to device memory."
            )
        if self._requires_grad:
            raise RuntimeError(
                "Can't get __cuda_array_interface__ on Variable that requires grad. If gradients aren't "
                "required, use var.detach() to get Variable that doesn't require grad."
            )
        return data.__cuda_array_interface__


class _RemovableHandle:
    """What ``register_hook`` returns: ``remove()`` takes the hook out again."""

    def __init__(self, hooks, hook):
        self._hooks = hooks
        self._hook = hook
        hooks.append(hook)

    def remove(self) -> None:
        try:
            self._hooks.remove(self._hook)
        except ValueError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _init(t: Tensor, data, requires_grad: bool = False) -> None:
    t._data = data
    t._requires_grad = requires_grad
    t._grad_fn = None
    t._output_nr = 0
    t._grad = None
    t._version_counter = [0]


def _make(data, requires_grad: bool = False, cls=Tensor) -> Tensor:
    """Wrap an array of any backend (or a NumPy scalar, which becomes a 0-d CPU array) in a new
    leaf Tensor without copying."""
    if type(data) not in _BY_ARRAY_TYPE:
        data = numpy.asarray(data)
    t = _object_new(cls)
    t._data = data
    t._requires_grad = requires_grad
    t._grad_fn = None
    t._output_nr = 0
    t._grad = None
    t._version_counter = [0]
    return t


def _rebuild_tensor(data, requires_grad, cls=Tensor):
    t = _make(data, cls=cls)
    t._requires_grad = requires_grad
    return t


def _refresh_view_grad_fn(view: Tensor) -> None:
    """Re-derive a view's grad_fn from its base after the base changed in place (see ops.inplace)."""
    from .autograd.grad_mode import _state as _grad_state

    base = view._base
    if view._view_version != base._version_counter[0] and base._requires_grad and _grad_state.enabled:
        from .ops.inplace import regenerate_view

        regenerate_view(view)
