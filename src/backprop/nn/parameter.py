"""``nn.Parameter``: a leaf tensor that a ``Module`` registers as a learnable weight, and
``nn.Buffer`` for tensors a module keeps in its ``state_dict`` without learning them.

A parameter wraps its data's array as it is: made from a CUDA tensor (or a CuPy array) it lives
on that device; host data (lists, NumPy arrays) stays in host memory, as in torch."""

from __future__ import annotations

import numpy

from .._backend import is_array
from .._creation import empty
from .._tensor import Tensor, _init, _make


def _as_array(value):
    """The array behind ``value``, where it lives: a backprop tensor's own (any device), a
    NumPy or device array as is, a foreign tensor (torch) copied to host memory, other host
    data (lists, numbers) as a NumPy array. Shared by ``Parameter``/``Buffer``,
    ``Module.load_state_dict`` and ``Optimizer.load_state_dict``."""
    if isinstance(value, Tensor):
        return value._data
    if is_array(value):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # e.g. a torch.Tensor
        return numpy.asarray(value.detach().cpu().numpy())
    return numpy.asarray(value)


class Parameter(Tensor):
    """A tensor that requires grad by default and is registered when assigned to a Module."""

    _is_param = True

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True):
        arr = numpy.empty((0,), dtype=numpy.float32) if data is None else _as_array(data)
        p = object.__new__(cls)
        _init(p, arr)
        if requires_grad:
            p.requires_grad_(True)
        return p

    def __init__(self, data=None, requires_grad: bool = True):
        pass

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self._data, self._requires_grad))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        new = Parameter(_make(self._data.copy()), self._requires_grad)
        if self._grad is not None:
            new._grad = _make(self._grad._data.copy())
        memo[id(self)] = new
        return new


def _rebuild_parameter(data, requires_grad):
    return Parameter(_make(data), requires_grad)


class Buffer(Tensor):
    """Marks a tensor to be registered as a buffer when assigned to a Module (torch.nn.Buffer)."""

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True):
        t = data if isinstance(data, Tensor) else _make(_as_array(data if data is not None else numpy.empty(0)))
        t._buffer_persistent = persistent
        t._is_buffer_marker = True
        return t


_UNINITIALIZED_SHAPE = (
    "Can't access the shape of an uninitialized parameter or buffer. This error usually happens in `load_state_dict` when "
    "trying to load an uninitialized parameter into an initialized one. Call `forward` to initialize the parameters before "
    "accessing their attributes."
)


class UninitializedParameter(Parameter):
    """A parameter whose shape is not known yet (lazy modules): it holds no data until
    ``materialize(shape)`` turns it, in place, into an ordinary ``Parameter``."""

    cls_to_become = Parameter

    def __new__(cls, requires_grad: bool = True, device=None, dtype=None):
        from .. import _dtype

        dt = _dtype.to_dtype(dtype) if dtype is not None else _dtype.get_default_dtype()
        p = object.__new__(cls)
        _init(p, empty(0, dtype=dt, device=device)._data)  # an empty array on the device it will have
        if requires_grad:
            p.requires_grad_(True)
        return p

    def __init__(self, requires_grad: bool = True, device=None, dtype=None):
        pass

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Allocate (uninitialized) data of ``shape`` on ``device`` (default: this parameter's)
        and become a plain ``Parameter``."""
        from .. import _dtype

        dt = _dtype.to_dtype(dtype) if dtype is not None else _dtype.from_numpy_dtype(self._data.dtype)
        self._data = empty(tuple(int(s) for s in shape), dtype=dt, device=self.device if device is None else device)._data
        self.__class__ = self.cls_to_become

    @property
    def shape(self):
        raise RuntimeError(_UNINITIALIZED_SHAPE)

    def size(self, dim=None):
        raise RuntimeError(_UNINITIALIZED_SHAPE)

    def __repr__(self) -> str:
        return "<UninitializedParameter>"

    def __reduce_ex__(self, protocol):
        return (UninitializedParameter, (self._requires_grad, self.device, self.dtype))

    def __deepcopy__(self, memo):
        if id(self) not in memo:
            memo[id(self)] = UninitializedParameter(self._requires_grad, self.device, self.dtype)
        return memo[id(self)]


def is_lazy(param) -> bool:
    return isinstance(param, UninitializedParameter)
