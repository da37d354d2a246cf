"""Tensor creation: ``tensor``, ``as_tensor``, ``from_numpy``, ``zeros``/``ones``/``full``/``empty``
(+ ``_like``), ``arange``, ``linspace``, ``logspace``, ``eye`` -- with torch's dtype inference.

``device=None`` means the default device (``set_default_device``, ``with backprop.device(...)``),
except where torch keeps the data's own device: ``tensor(t)``/``as_tensor(t)`` of a tensor and
the ``*_like`` functions. Values that are computed (``arange``, ``linspace``, data from lists)
are built in host memory and copied once; fills (``zeros``, ``full``, ...) are made on the device.
"""

from __future__ import annotations

import ctypes
import math

import numpy

from . import _dtype
from ._backend import CPU, backend_for, backend_of, is_array, move
from ._backend.cpu import quiet_numpy, restore_numpy
from ._device import _state as _device_state
from ._device import as_device, target_device
from ._layout import check_layout
from ._tensor import Tensor, _make
from .ops._utils import creation_size, fitting_scalar, out_of_memory


def _finish(arr, requires_grad: bool, device=None) -> Tensor:
    """Wrap ``arr`` as a new tensor on ``device``: an explicit device, else the default device for
    host arrays (arrays already on a device stay there)."""
    if device is not None:
        d = as_device(device)
        if d.type != "cpu" or type(arr) is not numpy.ndarray:
            arr = move(arr, d)
    elif _device_state.default is not None and type(arr) is numpy.ndarray:
        arr = move(arr, _device_state.default)
    t = _make(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _fill_backend(device):
    """(backend, device index) that a fill on ``device`` (None: the default) runs on."""
    d = target_device(device)
    if d is None:
        return CPU, None
    return backend_for(d), d.index


def _contains_tensor(data) -> bool:
    if isinstance(data, Tensor):
        return True
    if isinstance(data, (list, tuple)):
        return any(_contains_tensor(d) for d in data)
    return False


def _unwrap(data):
    if isinstance(data, Tensor):
        arr = backend_of(data._data).to_host(data._data)
        return arr if arr.ndim else arr.item()
    if isinstance(data, (list, tuple)):
        return [_unwrap(d) for d in data]
    return data


def _has_typed_leaves(data) -> bool:
    if isinstance(data, (Tensor, numpy.generic)):
        return True
    if isinstance(data, (list, tuple)):
        return any(_has_typed_leaves(d) for d in data)
    return False


def _leaf_dtype(data):
    """torch's inference over a nested list: promote each leaf's dtype (Python float -> default float)."""
    if isinstance(data, (list, tuple)):
        out = None
        for d in data:
            leaf = _leaf_dtype(d)
            if leaf is not None:
                out = leaf if out is None else _dtype.promote_types(out, leaf)
        return out
    if isinstance(data, Tensor):
        return data.dtype
    if isinstance(data, numpy.generic):  # before float: np.float64 subclasses float
        return _dtype.from_numpy_dtype(data.dtype)
    if isinstance(data, (bool, int, float, complex)):
        return _dtype.scalar_dtype(data)
    return None


def _to_array(data, dtype=None):
    """Infer torch's dtype for ``data``: Python floats -> default float, ints -> int64, bools -> bool;
    NumPy arrays/scalars keep theirs. Tensors and device arrays stay on their device."""
    dt = _dtype.to_dtype(dtype) if dtype is not None else None
    if isinstance(data, Tensor):
        arr = data._data
    elif is_array(data) or isinstance(data, numpy.generic):
        arr = backend_of(data).asarray(data)
        _dtype.from_numpy_dtype(arr.dtype)  # raises TypeError on unsupported dtypes
    else:
        typed = _leaf_dtype(data) if _has_typed_leaves(data) else None
        if _contains_tensor(data):
            data = _unwrap(data)
        try:
            arr = numpy.asarray(data)
        except ValueError as exc:
            _check_nesting(data)
            raise ValueError(f"tensor(): could not build a tensor from the given data: {exc}") from None
        _check_python_values(arr, dt)
        if typed is not None and dt is None:
            # NumPy scalars / tensors inside a list keep their dtypes (promoted), as in torch.
            arr = arr.astype(typed.np)
        elif arr.dtype.kind == "f" or (arr.size == 0 and arr.dtype.kind not in "biu"):
            arr = arr.astype(_dtype._default_float.np) if dt is None else arr
        elif arr.dtype.kind == "i" and arr.dtype != numpy.int64 and dt is None:
            arr = arr.astype(numpy.int64)
        elif arr.dtype.kind == "c" and dt is None:  # Python complex numbers: the default complex dtype
            arr = arr.astype(_dtype._default_complex.np)
        elif arr.dtype.kind not in "biufc":
            raise _uninferable(data)
    if dt is not None and arr.dtype != dt.np:
        if arr.dtype.kind == "f" and dt._kind == 2:  # past float16's range is inf, without NumPy's warning (as torch)
            with numpy.errstate(over="ignore"):
                arr = arr.astype(dt.np)
        else:
            arr = arr.astype(dt.np)
    return arr


_NUMBER_TYPES = (bool, int, float, complex, numpy.generic)


def _leaves(data):
    if isinstance(data, (list, tuple)):
        for d in data:
            yield from _leaves(d)
    else:
        yield data


def _uninferable(data) -> Exception:
    """torch's error for data with a leaf that is no number (on the error path only): a string
    first is a ValueError, a string later a TypeError, anything else (None, dict, set...) a
    RuntimeError naming its type."""
    for i, leaf in enumerate(_leaves(data)):
        if isinstance(leaf, (Tensor, *_NUMBER_TYPES)):
            continue
        if isinstance(leaf, str) and i == 0 and isinstance(data, (list, tuple)):
            return ValueError("too many dimensions 'str'")
        if isinstance(leaf, (str, bytes)):
            return TypeError(f"new(): invalid data type '{type(leaf).__name__}'")
        return RuntimeError(f"Could not infer dtype of {type(leaf).__name__}")
    return TypeError(f"tensor(): could not infer dtype of {type(data).__name__}")


def _check_nesting(data, dim: int = 0) -> None:
    """torch's error for ragged nested lists (on the error path only): a number beside a sequence
    is a TypeError, sequences of different lengths a ValueError naming the dim."""
    if not isinstance(data, (list, tuple)) or not data:
        return
    first = data[0]
    first_seq = isinstance(first, (list, tuple))
    for item in data[1:]:
        seq = isinstance(item, (list, tuple))
        if first_seq and not seq:
            raise TypeError("not a sequence")
        if seq and not first_seq:
            if isinstance(first, float):
                raise TypeError(f"must be real number, not {type(item).__name__}")
            raise TypeError(f"'{type(item).__name__}' object cannot be interpreted as an integer")
        if seq and len(item) != len(first):
            raise ValueError(f"expected sequence of length {len(first)} at dim {dim + 1} (got {len(item)})")
    for item in data:
        _check_nesting(item, dim + 1)


def _check_python_values(arr, dt) -> None:
    """Python numbers must fit the tensor's dtype, as torch checks them one by one: integers past
    int64 are a ValueError, and numbers outside an integer ``dt``'s range torch's RuntimeError
    (``fitting_scalar``'s rule; one min and max over the data, only for an integer ``dt``)."""
    if arr.dtype == object or arr.dtype == numpy.uint64:  # integers past int64 (NumPy's uint64 or object)
        if any(type(v) is int and not -(2**63) <= v < 2**63 for v in arr.reshape(-1).tolist()):
            raise ValueError("Overflow when unpacking long long")
        return
    if dt is None or dt._kind != 1 or arr.size == 0 or arr.dtype.kind not in "iuf":
        return
    for v in (arr.min(), arr.max()):  # a NaN is the min
        fitting_scalar(v.item(), dt.np, c_name=False)


def tensor(data, *, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, numbers, arrays or tensors)."""
    arr = _to_array(data, dtype)
    if device is not None and backend_of(arr) is not backend_for(device):
        return _finish(arr, requires_grad, device)  # the move copies
    return _finish(arr.copy(), requires_grad, device)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but shares memory with ``data`` when it already is a suitable array/tensor."""
    if isinstance(data, Tensor):
        if (dtype is None or data.dtype is _dtype.to_dtype(dtype)) and (device is None or data.device == as_device(device)):
            return data
        return data.to(device=device, dtype=dtype)
    return _finish(_to_array(data, dtype), False, device)


asarray = as_tensor


def from_numpy(ndarray_: numpy.ndarray) -> Tensor:
    """A tensor sharing memory with a NumPy array (writes through either are seen by both)."""
    if not isinstance(ndarray_, numpy.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray_).__name__})")
    _dtype.from_numpy_dtype(ndarray_.dtype)
    return _make(ndarray_)


def from_dlpack(ext_tensor: object) -> Tensor:
    """A tensor sharing memory with ``ext_tensor``, any object with ``__dlpack__`` (a torch
    tensor, a NumPy or CuPy array, ...) or a DLPack capsule (which DLPack exports read-only).
    Host memory becomes a CPU tensor, CUDA memory a CUDA tensor (CuPy reads it)."""
    if type(ext_tensor).__name__ == "PyCapsule":
        ext_tensor = _Capsule(ext_tensor)
    kind, index = ext_tensor.__dlpack_device__()
    if kind in (2, 13):  # kDLCUDA, kDLCUDAManaged (kDLCUDAHost, pinned host memory, NumPy reads)
        arr = backend_for("cuda").xp.from_dlpack(ext_tensor)
    else:
        arr = numpy.from_dlpack(ext_tensor)
    _dtype.from_numpy_dtype(arr.dtype)
    return _make(arr)


# The C-API's capsule accessors, with prototypes of our own (``ctypes.pythonapi``'s are shared).
_capsule_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(("PyCapsule_GetName", ctypes.pythonapi))
_capsule_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(("PyCapsule_GetPointer", ctypes.pythonapi))
_POINTER = ctypes.sizeof(ctypes.c_void_p)
# Where the DLTensor's ``device`` (int32 device_type, int32 device_id) sits in the capsule's struct:
# DLManagedTensor starts with the DLTensor (void* data, then device); DLManagedTensorVersioned
# puts its version (2 x uint32), manager_ctx, deleter and flags (uint64) first.
_DEVICE_OFFSET = {b"dltensor": _POINTER, b"dltensor_versioned": 8 + 2 * _POINTER + 8 + _POINTER}


def capsule_device(capsule) -> tuple:
    """``(device_type, device_id)`` of a DLPack capsule, as ``__dlpack_device__`` reports it
    (``(1, 0)`` host memory, ``(2, N)`` CUDA device N), read without consuming it."""
    name = _capsule_name(capsule)
    offset = _DEVICE_OFFSET.get(name)
    if offset is None:
        raise ValueError(
            f"from_dlpack: expected an unconsumed DLPack capsule ('dltensor' or 'dltensor_versioned'), got one named {name!r}"
            " (a capsule can be consumed only once)"
        )
    device = (ctypes.c_int32 * 2).from_address(_capsule_pointer(capsule, name) + offset)
    return int(device[0]), int(device[1])


class _Capsule:
    """A bare DLPack capsule behind the ``__dlpack__`` protocol, with the device it holds."""

    def __init__(self, capsule) -> None:
        self.capsule = capsule
        self.device = capsule_device(capsule)

    def __dlpack__(self, **kwargs):
        return self.capsule

    def __dlpack_device__(self) -> tuple:
        return self.device


def _creation_dtype(dtype, default=None) -> _dtype.dtype:
    if dtype is not None:
        return _dtype.to_dtype(dtype)
    return default if default is not None else _dtype._default_float


def _filled(fill: str, size, dtype, requires_grad, device, out, op="zeros", value=None):
    """``xp.<fill>`` (zeros, ones, empty, full) of a shape, on the target device."""
    shape = creation_size(size, op, varargs=fill != "full")
    dt = _creation_dtype(dtype) if fill != "full" else dtype
    if value is not None:
        # full((2,), 300, dtype=int8) and full((2,), 1e6, dtype=float16) raise as torch (which lets a
        # one-element half fill through, its single-element path: not copied)
        value = fitting_scalar(value, dt.np, half=True)
    if out is None and device is None and _device_state.default is None:  # the CPU, directly
        quiet = quiet_numpy()  # full(1e6, float16) is inf without NumPy's warning, as torch
        try:
            arr = getattr(numpy, fill)(shape, dt.np) if value is None else numpy.full(shape, value, dtype=dt.np)
        except MemoryError:
            raise out_of_memory(shape, dt.np) from None
        finally:
            restore_numpy(quiet)
        return _leaf(arr, requires_grad)
    if out is not None:
        device = out.device
    backend, index = _fill_backend(device)
    args = (shape,) if value is None else (shape, value)
    quiet = quiet_numpy()
    try:
        with backend.use(index):
            arr = getattr(backend.xp, fill)(*args, dtype=dt.np)
    except MemoryError:  # NumPy's, and CuPy's OutOfMemoryError (a MemoryError too)
        raise out_of_memory(shape, dt.np, "cpu" if backend is CPU else "cuda") from None
    finally:
        restore_numpy(quiet)
    if out is not None:
        out._data = arr
        return out
    return _leaf(arr, requires_grad)


def _leaf(arr, requires_grad: bool) -> Tensor:
    t = _make(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*size, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    check_layout(layout, "zeros")
    return _filled("zeros", size, dtype, requires_grad, device, out)


def ones(*size, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    check_layout(layout, "ones")
    return _filled("ones", size, dtype, requires_grad, device, out, "ones")


def empty(*size, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False, pin_memory: bool = False, memory_format=None) -> Tensor:
    check_layout(layout, "empty")
    return _filled("empty", size, dtype, requires_grad, device, out, "empty")


def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False) -> Tensor:
    check_layout(layout, "full")
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    dt = _dtype.to_dtype(dtype) if dtype is not None else _dtype.scalar_dtype(fill_value)
    shape = creation_size((size,) if isinstance(size, int) else tuple(size), "full")
    return _filled("full", shape, dt, requires_grad, device, out, "full", fill_value)


def _like(fill: str, input: Tensor, dtype, device, requires_grad, value=None) -> Tensor:
    """``*_like``: the input's shape, and its dtype and device unless given."""
    dt = _dtype.to_dtype(dtype) if dtype is not None else input.dtype
    return _filled(fill, (input._data.shape,), dt, requires_grad, device if device is not None else input.device, None, fill, value)


def zeros_like(input: Tensor, *, dtype=None, layout=None, device=None, requires_grad: bool = False, memory_format=None) -> Tensor:
    check_layout(layout, "zeros_like")
    return _like("zeros", input, dtype, device, requires_grad)


def ones_like(input: Tensor, *, dtype=None, layout=None, device=None, requires_grad: bool = False, memory_format=None) -> Tensor:
    check_layout(layout, "ones_like")
    return _like("ones", input, dtype, device, requires_grad)


def empty_like(input: Tensor, *, dtype=None, layout=None, device=None, requires_grad: bool = False, memory_format=None) -> Tensor:
    check_layout(layout, "empty_like")
    return _like("empty", input, dtype, device, requires_grad)


def full_like(input: Tensor, fill_value, *, dtype=None, layout=None, device=None, requires_grad: bool = False, memory_format=None) -> Tensor:
    check_layout(layout, "full_like")
    return _like("full", input, dtype, device, requires_grad, fill_value)


def _num(v):
    return v.item() if isinstance(v, Tensor) else v


def arange(start=0, end=None, step=1, *, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False) -> Tensor:
    """Values from ``start`` up to (not including) ``end``; float if any argument is a float."""
    check_layout(layout, "arange")
    if end is None:
        start, end = 0, start
    start, end, step = _num(start), _num(end), _num(step)
    if not all(math.isfinite(v) for v in (start, end)):
        raise RuntimeError(f"unsupported range: {start} -> {end}")
    if step == 0:
        raise RuntimeError("step must be nonzero")
    for v in (start, end):
        if isinstance(v, float) and not math.isfinite(v):
            raise RuntimeError(f"unsupported range: {start} -> {end}")
    if (end - start) * step < 0 and end != start:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    if dtype is not None:
        dt = _dtype.to_dtype(dtype)
    elif out is not None:
        dt = out.dtype
    else:
        is_float = any(isinstance(v, float) for v in (start, end, step))
        dt = _dtype._default_float if is_float else _dtype.int64
    if not dt.is_floating_point:
        # torch: an integer arange takes start, end and step in the integer type (truncated)
        start, end, step = int(start), int(end), int(step)
        if step == 0:
            raise ValueError("step must be nonzero")
    n = max(int(math.ceil((end - start) / step)), 0)
    np = numpy
    if dt.is_floating_point:
        arr = (start + np.arange(n, dtype=np.float64) * step).astype(dt.np)
    else:
        arr = (start + np.arange(n, dtype=np.int64) * step).astype(dt.np) if all(isinstance(v, int) for v in (start, step)) else np.floor(start + np.arange(n) * step).astype(dt.np)
    if out is not None:
        out._data = move(arr, out.device)
        return out
    return _finish(arr, requires_grad, device)


def range_(start=0, end=None, step=1, *, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False) -> Tensor:
    """Deprecated torch.range: like arange but includes ``end``."""
    check_layout(layout, "range")
    if end is None:
        start, end = 0, start
    n = int(math.floor((end - start) / step)) + 1
    dt = _dtype.to_dtype(dtype) if dtype is not None else _dtype._default_float
    arr = (start + numpy.arange(n, dtype=numpy.float64) * step).astype(dt.np)
    if out is not None:
        out._data = move(arr, out.device)
        return out
    return _finish(arr, requires_grad, device)


def _check_steps(op: str, start, end, steps) -> None:
    if not isinstance(steps, (int, numpy.integer)) or isinstance(steps, bool):
        raise TypeError(
            f"{op}() received an invalid combination of arguments - got ({type(start).__name__}, {type(end).__name__}, "
            f"{type(steps).__name__}): steps must be an int"
        )


def _space_dtype(op: str, start, end, dtype):
    """linspace/logspace's dtype: ``dtype``, else the default float (complex if an end is complex);
    complex ends into a real ``dtype`` are torch's RuntimeError."""
    complex_ends = isinstance(start, complex) or isinstance(end, complex)
    if dtype is None:
        return _dtype._default_complex if complex_ends else _dtype._default_float
    dt = _dtype.to_dtype(dtype)
    if complex_ends and not dt.is_complex:
        inferred = "c10::complex<double>" if _dtype._default_float == _dtype.float64 else "c10::complex<float>"
        name = {"float16": "Half", "float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int", "int16": "Short",
                "int8": "Char", "uint8": "Byte", "bool": "Bool", "bfloat16": "BFloat16"}.get(dt.np.name, str(dt))  # fmt: skip
        raise RuntimeError(f"torch.{op}(): inferred dtype {inferred} can't be safely cast to passed dtype {name}")
    return dt


def linspace(start, end, steps: int, *, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False) -> Tensor:
    check_layout(layout, "linspace")
    _check_steps("linspace", start, end, steps)
    start, end = _num(start), _num(end)
    dt = _space_dtype("linspace", start, end, dtype)
    if not (dt.is_floating_point or dt.is_complex):  # torch casts the ends to the integer dtype first
        start, end = int(start), int(end)
    if steps < 0:
        raise RuntimeError("linspace(): number of steps must be non-negative")
    np = numpy
    work = np.complex128 if dt.is_complex else np.float64
    if steps == 1:
        arr = np.full((1,), start, dtype=work)
    else:
        # torch fills the first half from ``start`` and the second half back from ``end``.
        step = (end - start) / (steps - 1) if steps > 1 else 0.0
        i = np.arange(steps, dtype=np.float64)
        half = steps // 2
        arr = np.where(i < half, start + step * i, end - step * (steps - 1 - i)).astype(work, copy=False)
    arr = arr.astype(dt.np) if dt.is_floating_point or dt.is_complex else np.trunc(arr).astype(dt.np)
    if out is not None:
        out._data = move(arr, out.device)
        return out
    return _finish(arr, requires_grad, device)


def logspace(start, end, steps: int, base: float = 10.0, *, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False) -> Tensor:
    check_layout(layout, "logspace")
    _check_steps("logspace", start, end, steps)
    start, end = _num(start), _num(end)
    dt = _space_dtype("logspace", start, end, dtype)
    if not (dt.is_floating_point or dt.is_complex):  # torch casts the ends to the integer dtype first
        start, end = int(start), int(end)
    if dt.np.kind == "V" and steps > 1:
        # bfloat16: torch rounds the ends and their difference to bfloat16, then takes the powers
        # in float64 (filling the first half from ``start``, the second back from ``end``)
        lo, hi = (float(numpy.asarray(v, dtype=numpy.float32).astype(dt.np)) for v in (start, end))
        step = float(numpy.asarray(hi - lo, dtype=numpy.float32).astype(dt.np)) / (steps - 1)
        i = numpy.arange(steps, dtype=numpy.float64)
        exps = numpy.where(i < steps // 2, lo + step * i, hi - step * (steps - 1 - i))
    else:
        exps = linspace(start, end, steps, dtype=_dtype.complex128 if dt.is_complex else _dtype.float64, device="cpu")._data
    arr = (base**exps).astype(dt.np)
    if out is not None:
        out._data = move(arr, out.device)
        return out
    return _finish(arr, requires_grad, device)


def eye(n: int, m: int | None = None, *, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False) -> Tensor:
    check_layout(layout, "eye")
    dt = _creation_dtype(dtype)
    if n < 0:
        raise RuntimeError(f"n must be greater or equal to 0, got {n}")
    if m is not None and m < 0:
        raise RuntimeError(f"m must be greater or equal to 0, got {m}")
    if out is not None:
        device = out.device
    backend, index = _fill_backend(device)
    with backend.use(index):
        arr = backend.xp.eye(n, m if m is not None else n, dtype=dt.np)
    if out is not None:
        out._data = arr
        return out
    return _leaf(arr, requires_grad)


def scalar_tensor(value, *, dtype=None, layout=None, device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    check_layout(layout, "scalar_tensor")
    dt = _creation_dtype(dtype)
    with numpy.errstate(over="ignore"):  # past float16's range: inf, as torch
        arr = numpy.asarray(fitting_scalar(value, dt.np), dtype=dt.np)
    return _finish(arr, requires_grad, device)


def meshgrid(*tensors, indexing: str | None = None) -> tuple:
    """Coordinate grids of 0-d or 1-d tensors: with ``"ij"`` dim i of every output runs along
    tensor i; ``"xy"`` swaps the first two dims (Cartesian, as NumPy's default)."""
    from .ops.movement import expand, reshape

    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    indexing = indexing or "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but received: {indexing}")
    ts = list(tensors)
    if not ts:
        raise RuntimeError("torch.meshgrid: Expected at least one tensor")
    for t in ts:
        if t._data.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got: {t}")
        if t.dtype is not ts[0].dtype:
            raise RuntimeError("torch.meshgrid: Expected all tensors in the tensor list to have the same dtype")
        if t.device != ts[0].device:
            raise RuntimeError("torch.meshgrid: Expected all tensors in the tensor list to have the same device")
    axes = list(range(len(ts)))  # the output dim each tensor runs along
    if indexing == "xy" and len(ts) >= 2:
        axes[0], axes[1] = 1, 0
    shape = [0] * len(ts)
    for t, ax in zip(ts, axes):
        shape[ax] = t._data.size
    outs = []
    for t, ax in zip(ts, axes):
        view = [1] * len(ts)
        view[ax] = -1
        outs.append(expand(reshape(t, tuple(view)), tuple(shape)))
    return tuple(outs)


def cartesian_prod(*tensors) -> Tensor:
    """Every combination of one element from each 1-d tensor, as rows; one tensor: itself."""
    from .ops.movement import stack

    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    for t in tensors:
        if t._data.ndim != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(t._data.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return stack([g.reshape(-1) for g in grids], dim=1)


def _triangle_indices(row: int, col: int, offset: int, upper: bool, dtype, device, layout, op: str) -> Tensor:
    check_layout(layout, op)
    if row < 0 or col < 0:
        raise RuntimeError(f"{op}: row ({row}) and col ({col}) must be non-negative")
    dt = _dtype.to_dtype(dtype) if dtype is not None else _dtype.int64
    if dt not in (_dtype.int64, _dtype.int32):
        raise RuntimeError(f'"{op}" not implemented for \'{dt}\'')
    r, c = numpy.indices((row, col)).reshape(2, -1)
    keep = c - r >= offset if upper else c - r <= offset
    return _finish(numpy.stack([r[keep], c[keep]]).astype(dt.np), False, device)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None, layout=None) -> Tensor:
    """The (2, N) row and column indices of the lower triangle of a row x col matrix (row-major)."""
    return _triangle_indices(row, col, offset, False, dtype, device, layout, "tril_indices")


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None, layout=None) -> Tensor:
    """The (2, N) row and column indices of the upper triangle of a row x col matrix (row-major)."""
    return _triangle_indices(row, col, offset, True, dtype, device, layout, "triu_indices")


def empty_strided(size, stride, *, dtype=None, layout=None, device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """An uninitialized tensor with the given sizes and (element) strides: a view of a storage
    just large enough for them."""
    from .ops.movement import as_strided

    check_layout(layout, "empty_strided")
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride):
        raise RuntimeError("mismatch in length of strides and shape")
    n = 0 if any(s == 0 for s in size) else 1 + sum((s - 1) * st for s, st in zip(size, stride))
    storage = empty(n, dtype=dtype, device=device)
    out = as_strided(storage, size, stride, 0)
    out = _make(out._data)  # a leaf of its own
    if requires_grad:
        out.requires_grad_(True)
    return out


def empty_permuted(size, physical_layout, *, dtype=None, layout=None, device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """An uninitialized tensor of logical ``size`` whose memory holds the dims in the order
    ``physical_layout`` (outermost first)."""
    check_layout(layout, "empty_permuted")
    size, order = tuple(int(s) for s in size), tuple(int(d) for d in physical_layout)
    if sorted(order) != list(range(len(size))):
        raise RuntimeError(f"Dimension order {list(order)} is not a permutation of the tensor's dims")
    physical = empty(tuple(size[d] for d in order), dtype=dtype, device=device)
    inverse = [0] * len(order)
    for i, d in enumerate(order):
        inverse[d] = i
    out = _make(physical._data.transpose(inverse))
    if requires_grad:
        out.requires_grad_(True)
    return out


def _legacy_tensor(*args, **kwargs):
    """``Tensor(...)``: sizes -> uninitialized float tensor; data -> a float copy of it."""
    device = kwargs.get("device")
    if not args:
        arr = numpy.empty((0,), dtype=_dtype._default_float.np)
    elif all(isinstance(a, int) for a in args):
        arr = numpy.empty(args, dtype=_dtype._default_float.np)
    elif len(args) == 1:
        data = args[0]
        if isinstance(data, Tensor):
            return data._data
        arr = _to_array(data, _dtype._default_float)
    else:
        raise TypeError("Tensor(): invalid arguments")
    return move(arr, as_device(device)) if device is not None else arr
