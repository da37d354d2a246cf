"""A stand-in CUDA device for machines without a GPU: CuPy's rules, NumPy's memory and math.

``FakeArray`` wraps a NumPy array but behaves as a CuPy array does at the host/device border,
which is where device bugs live:

* no implicit conversion to NumPy: ``numpy.asarray(a)`` raises TypeError (use ``.get()``);
* NumPy arrays are refused as operands and as arguments of the array module's functions
  (except ``asarray``/``array``, the explicit host-to-device copies);
* reductions return 0-d arrays, never NumPy scalars;
* ``flags`` has no ``writeable``; the module has only CuPy's names (no ``errstate``,
  ``nanquantile``, ...) and its ufuncs no ``at``/``accumulate``/``reduceat``;
* inside ``no_host_sync()`` every read of a device value on the host -- ``float``, ``int``,
  ``bool``, ``.item()``, ``.tolist()``, ``.get()``..., and the ops whose result's shape
  depends on the values (boolean-mask indexing, ``nonzero``, ``unique``, ...), which make a
  GPU wait for the device -- raises ``DeviceSynchronizeError``.

``FakeCUDABackend`` registers it as backprop's ``cuda`` backend (``install()``), so the device
plumbing -- creation on the device, ``.to()``, mixing errors, every op keeping its result on
its input's device, the fused-kernel code paths, optimizers and modules on the device -- is
tested on any machine. Its fused kernels are the NumPy references of the CUDA kernels
(tests/kernel_reference.py): only a real GPU tests the CUDA kernels themselves
(``pytest --device cuda``).
"""

from __future__ import annotations

import contextlib
import importlib
import types

import numpy

import backprop
import kernel_reference
from backprop._backend import Backend, register, unregister
from backprop._device import device

# NumPy names CuPy 14 does not have (read off cupy-cuda13x 14.2.0 with ``dir``).
_NOT_IN_CUPY = frozenset(
    "False_ ScalarType True_ asmatrix block bmat busday_count busday_offset busdaycalendar bytes_ char "
    "character clongdouble complex256 core ctypeslib datetime64 datetime_as_string datetime_data dtypes "
    "einsum_path emath errstate f2py flexible float128 frompyfunc fromregex geomspace get_include getbufsize "
    "geterr geterrcall histogram_bin_edges info insert is_busday isnat little_endian longdouble ma matrix "
    "matvec memmap nanpercentile nanquantile ndenumerate nditer nested_iters object_ polyder polydiv polyint "
    "rec recarray record sctypeDict setbufsize seterr seterrcall show_runtime spacing str_ strings test "
    "timedelta64 typecodes unstack vecdot vecmat void".split()
)
# Functions that take host data on purpose (the explicit copies to the device).
_ACCEPTS_HOST = frozenset({"asarray", "array", "asanyarray", "ascontiguousarray"})
# Functions whose result's shape depends on the input's values: the host needs them (a sync).
_VALUE_DEPENDENT = ("nonzero", "flatnonzero", "argwhere", "unique", "compress", "extract")
# cupy.ndarray's public methods and attributes (numpy.ndarray's, less these).
_NOT_ARRAY_METHODS = frozenset({"ctypes", "getfield", "resize", "setfield", "setflags", "to_device", "tofile", "dump", "dumps"})


class DeviceSynchronizeError(TypeError):
    """A device value was read on the host inside ``no_host_sync()``. A TypeError, as CuPy's
    refused implicit conversions are; a read the code under test catches is still reported
    when the block ends."""


class _SyncGuard:
    """One ``no_host_sync`` block: how many host reads it still allows, and those it refused."""

    __slots__ = ("allowed", "refused")

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.refused: list[str] = []


_guards: list[_SyncGuard] = []


def _host_read(what: str) -> None:
    """Called by every device-to-host read of a FakeArray: refused inside ``no_host_sync``."""
    if not _guards:
        return
    guard = _guards[-1]
    if guard.allowed > 0:
        guard.allowed -= 1
        return
    message = f"{what} reads a device value on the host (the GPU would wait for the device) inside no_host_sync()"
    guard.refused.append(message)
    raise DeviceSynchronizeError(message)


def _refuse_index(self):
    _host_read("operator.index() of a device array")
    raise TypeError("'FakeArray' (CuPy ndarray) object cannot be interpreted as an integer")


@contextlib.contextmanager
def no_host_sync(allowed: int = 0):
    """Fail if a fake-CUDA array is read on the host inside the block (more than ``allowed``
    times): ``float``/``int``/``bool``/``complex``/``operator.index``, ``.item()``,
    ``.tolist()``, ``.get()``, boolean-array keys of ``[]`` (get and set),
    and the value-dependent ``nonzero``, ``flatnonzero``, ``argwhere``, ``unique``,
    ``compress``, ``extract``: what makes a real GPU wait for the device. A refused read raises
    ``DeviceSynchronizeError``; one that the code under test caught is raised when the block
    ends. ``numpy.asarray`` of a device array, refused everywhere, raises it too. Yields the
    guard (``.allowed``: the reads left). Nests; with no fake device installed it just runs."""
    guard = _SyncGuard(allowed)
    _guards.append(guard)
    FakeArray.__index__ = _refuse_index  # CuPy arrays have no __index__: only here, to name the read
    try:
        yield guard
    finally:
        _guards.remove(guard)
        if not _guards:
            del FakeArray.__index__
    if guard.refused:
        raise DeviceSynchronizeError(f"{len(guard.refused)} host read(s) caught inside no_host_sync(): {guard.refused[0]}")


def _is_mask(key) -> bool:
    """Whether index ``key`` holds a boolean device array (the result's shape depends on its values)."""
    if type(key) is FakeArray:
        return key._a.dtype == numpy.bool_
    if type(key) is tuple:
        return any(type(k) is FakeArray and k._a.dtype == numpy.bool_ for k in key)
    return False


def _unwrap(value, host_ok: bool = False):
    """FakeArrays -> their NumPy arrays, recursively; plain NumPy arrays raise, as CuPy does."""
    tv = type(value)
    if tv is FakeArray:
        return value._a
    if tv is numpy.ndarray:
        if host_ok:
            return value
        raise TypeError(f"Unsupported type {tv}: a NumPy array where the device expects a device array")
    if tv in (list, tuple):
        return tv(_unwrap(v, host_ok) for v in value)
    if tv is dict:
        return {k: _unwrap(v, host_ok) for k, v in value.items()}
    if tv is slice:
        return slice(_unwrap(value.start, host_ok), _unwrap(value.stop, host_ok), _unwrap(value.step, host_ok))
    return value


def _wrap(value):
    """NumPy results -> FakeArrays (scalars become 0-d arrays, as CuPy returns)."""
    tv = type(value)
    if tv is numpy.ndarray:
        return FakeArray(value)
    if isinstance(value, numpy.generic):
        return FakeArray(numpy.asarray(value))
    if isinstance(value, tuple):  # named tuples too (linalg.qr, svd, eigh, slogdet)
        items = [_wrap(v) for v in value]
        return tv(*items) if hasattr(value, "_fields") else tuple(items)
    if tv is list:
        return [_wrap(v) for v in value]
    return value


def _index(key):
    """Index keys: device arrays unwrap; NumPy index arrays are refused (copy them first)."""
    return _unwrap(key)


class _Flags:
    __slots__ = ("c_contiguous", "f_contiguous", "owndata")

    def __init__(self, a: numpy.ndarray) -> None:
        self.c_contiguous = a.flags.c_contiguous
        self.f_contiguous = a.flags.f_contiguous
        self.owndata = a.flags.owndata


class _Device:
    id = 0

    def synchronize(self) -> None:
        pass

    def __eq__(self, other) -> bool:
        return isinstance(other, _Device)

    def __hash__(self) -> int:
        return 0


class _Pointer:
    __slots__ = ("ptr",)

    def __init__(self, ptr: int) -> None:
        self.ptr = ptr


class FakeArray:
    """A device array of the fake CUDA backend (see the module docstring)."""

    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 100

    def __init__(self, a: numpy.ndarray) -> None:
        self._a = a

    # -- what CuPy has, delegated
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    T = property(lambda self: FakeArray(self._a.T))
    mT = property(lambda self: FakeArray(self._a.mT))  # noqa: N815 - CuPy's name
    flags = property(lambda self: _Flags(self._a))
    device = property(lambda self: _Device())
    data = property(lambda self: _Pointer(self._a.ctypes.data))

    @property
    def base(self):
        return None if self._a.base is None else FakeArray(self._a.base) if isinstance(self._a.base, numpy.ndarray) else self._a.base

    def get(self, stream=None, order="C", out=None, blocking=True) -> numpy.ndarray:
        """The explicit device-to-host copy."""
        _host_read(".get()")
        return self._a.copy()

    def item(self, *args):
        _host_read(".item()")
        return self._a.item(*args)

    def tolist(self):
        _host_read(".tolist()")
        return self._a.tolist()

    def nonzero(self):
        _host_read(".nonzero()")
        return _wrap(self._a.nonzero())

    def compress(self, condition, axis=None, out=None):
        _host_read(".compress()")
        return _wrap(self._a.compress(_unwrap(condition), axis, _unwrap(out)))

    def set(self, arr, stream=None) -> None:
        self._a[...] = arr

    def __getattr__(self, name: str):
        if name.startswith("__") or name in _NOT_ARRAY_METHODS or not hasattr(numpy.ndarray, name):
            raise AttributeError(f"'FakeArray' (CuPy ndarray) object has no attribute '{name}'")
        method = getattr(self._a, name)
        if not callable(method):  # an array property (real, imag, flat)
            return _wrap(method)

        def call(*args, **kwargs):
            return _wrap(method(*_unwrap(args), **_unwrap(kwargs)))

        return call

    # -- the host/device border
    def __array__(self, dtype=None, copy=None):
        if _guards:  # refused on every device (no copy is made, so nothing to count or report later)
            raise DeviceSynchronizeError("numpy.asarray() of a device array inside no_host_sync(): use .get() outside it")
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__":
            return NotImplemented
        try:
            args = _unwrap(inputs)
            kwargs = _unwrap(kwargs)
        except TypeError:
            return NotImplemented
        return _wrap(getattr(ufunc, method)(*args, **kwargs))

    def __array_function__(self, func, types_, args, kwargs):
        if func.__name__ in _NOT_IN_CUPY:
            return NotImplemented
        if _guards and func.__name__ in _VALUE_DEPENDENT:
            _host_read(f"numpy.{func.__name__}() of a device array")
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    def __dlpack_device__(self) -> tuple:
        return (2, 0)

    # -- Python protocol
    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self):
        for row in self._a:
            yield _wrap(row)

    def __bool__(self) -> bool:
        _host_read("bool()")
        return bool(self._a)

    def __int__(self) -> int:
        _host_read("int()")
        return int(self._a)

    def __float__(self) -> float:
        _host_read("float()")
        return float(self._a)

    def __complex__(self) -> complex:
        _host_read("complex()")
        return complex(self._a)

    def __repr__(self) -> str:
        return f"fakecuda.array({self._a!r})"

    def __getitem__(self, key):
        if _guards and _is_mask(key):
            _host_read("indexing with a boolean device array")
        return _wrap(self._a[_index(key)])

    def __setitem__(self, key, value) -> None:
        if _guards and _is_mask(key):
            _host_read("assigning through a boolean device array")
        self._a[_index(key)] = _unwrap(value)

    def __copy__(self):
        return FakeArray(self._a.copy())

    def __deepcopy__(self, memo):
        return FakeArray(self._a.copy())

    def __reduce__(self):
        return (FakeArray, (self._a,))


def _binary_operator(name: str, reflected: bool = False):
    op = getattr(numpy.ndarray, name)

    def method(self, other):
        if type(other) is numpy.ndarray:
            raise TypeError(f"Unsupported type {type(other)}: a NumPy array as an operand of a device array")
        return _wrap(op(self._a, _unwrap(other)))

    method.__name__ = name
    return method


for _name in (
    "__add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __truediv__ __rtruediv__ __floordiv__ __rfloordiv__ "
    "__mod__ __rmod__ __pow__ __rpow__ __matmul__ __rmatmul__ __and__ __rand__ __or__ __ror__ __xor__ __rxor__ "
    "__lshift__ __rshift__ __eq__ __ne__ __lt__ __le__ __gt__ __ge__ __divmod__"
).split():
    setattr(FakeArray, _name, _binary_operator(_name))


def _inplace_operator(name: str):
    op = getattr(numpy.ndarray, name)

    def method(self, other):
        if type(other) is numpy.ndarray:
            raise TypeError(f"Unsupported type {type(other)}: a NumPy array as an operand of a device array")
        op(self._a, _unwrap(other))
        return self

    method.__name__ = name
    return method


for _name in "__iadd__ __isub__ __imul__ __itruediv__ __ifloordiv__ __imod__ __ipow__ __iand__ __ior__ __ixor__".split():
    setattr(FakeArray, _name, _inplace_operator(_name))

for _name in ("__neg__", "__pos__", "__abs__", "__invert__"):
    setattr(FakeArray, _name, (lambda op: lambda self: _wrap(op(self._a)))(getattr(numpy.ndarray, _name)))

FakeArray.__hash__ = None


class _Ufunc:
    """A ufunc of the fake module: a call only (CuPy's ``at``/``accumulate``/``reduceat`` are partial;
    op code goes through the Backend's neutral forms)."""

    def __init__(self, ufunc) -> None:
        self._u = ufunc
        self.__name__ = ufunc.__name__
        self.nin, self.nout = ufunc.nin, ufunc.nout

    def __call__(self, *args, **kwargs):
        return _wrap(self._u(*_unwrap(args), **_unwrap(kwargs)))

    def reduce(self, *args, **kwargs):
        if self.__name__ not in ("add", "multiply"):  # CuPy 14's ufunc.reduce covers these two only
            raise NotImplementedError(f"`{self.__name__}.reduce` is not supported yet")
        return _wrap(self._u.reduce(*_unwrap(args), **_unwrap(kwargs)))


class _Namespace(types.SimpleNamespace):
    """A module-like view of a NumPy (sub)module with CuPy's rules."""

    def __init__(self, module, name: str, missing=frozenset()) -> None:
        super().__init__()
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "__name__", name)
        object.__setattr__(self, "_missing", missing)

    def __getattr__(self, name: str):
        if name.startswith("__") or name in self._missing:
            raise AttributeError(f"module '{self.__name__}' has no attribute '{name}'")
        value = getattr(self._module, name)
        if name == "ndarray":
            return FakeArray
        if isinstance(value, numpy.ufunc):
            wrapped = _Ufunc(value)
        elif isinstance(value, types.ModuleType):
            wrapped = _Namespace(value, f"{self.__name__}.{name}")
        elif callable(value) and not isinstance(value, type) and name not in ("finfo", "iinfo", "dtype"):
            wrapped = _function(value, name in _ACCEPTS_HOST)
        else:
            wrapped = value
        object.__setattr__(self, name, wrapped)
        return wrapped


def _function(fn, host_ok: bool):
    def call(*args, **kwargs):
        kwargs.pop("blocking", None)
        return _wrap(fn(*_unwrap(args, host_ok), **_unwrap(kwargs, host_ok)))

    call.__name__ = getattr(fn, "__name__", "function")
    return call


fakecupy = _Namespace(numpy, "fakecupy", _NOT_IN_CUPY)


def _value_dependent(name: str):
    """A function of the fake module whose result's shape depends on the values: a host read."""
    fn = _function(getattr(numpy, name), False)

    def call(*args, **kwargs):
        _host_read(f"{name}()")
        return fn(*args, **kwargs)

    call.__name__ = name
    return call


for _name in _VALUE_DEPENDENT:
    setattr(fakecupy, _name, _value_dependent(_name))


def _take(a, indices, axis=None, out=None):
    """CuPy's ``take``: no ``mode`` argument; out-of-range indices wrap."""
    a = _unwrap(a)
    size = a.size if axis is None else a.shape[axis]
    return _wrap(numpy.take(a, numpy.mod(_unwrap(indices), size) if size else _unwrap(indices), axis=axis, out=_unwrap(out)))


fakecupy.take = _take
fakecupy.lib = types.SimpleNamespace(
    stride_tricks=types.SimpleNamespace(
        as_strided=lambda a, shape=None, strides=None: FakeArray(numpy.lib.stride_tricks.as_strided(a._a, shape, strides)),
        sliding_window_view=_function(numpy.lib.stride_tricks.sliding_window_view, False),
    )
)


def _from_dlpack(obj):
    raise TypeError("the fake CUDA device holds host memory: it cannot import DLPack capsules")


fakecupy.from_dlpack = _from_dlpack


class _UnwrappingKernels:
    """The CUDA kernels' NumPy references (tests/kernel_reference.py), run on the unwrapped
    arrays (results wrapped back), so the ops' fused-kernel paths run here too."""

    def __getattr__(self, name: str):
        kernel = getattr(kernel_reference, name)

        def call(*args, **kwargs):
            return _wrap(kernel(*_unwrap(args), **_unwrap(kwargs)))

        return call


class _UnwrappingModule:
    """A SciPy submodule whose functions run on the unwrapped arrays (results wrapped back), as
    ``cupyx.scipy`` runs on CuPy arrays."""

    def __init__(self, module) -> None:
        self._module = module

    def __getattr__(self, name: str):
        fn = getattr(self._module, name)
        if not callable(fn):
            return fn

        def call(*args, **kwargs):
            return _wrap(fn(*_unwrap(args), **_unwrap(kwargs)))

        return call


class FakeCUDABackend(Backend):
    """backprop's ``cuda`` backend on ``FakeArray``s: one device, ``cuda:0``."""

    type = "cuda"
    xp = fakecupy
    array_type = FakeArray
    kernels = _UnwrappingKernels()
    checks_values = False

    def __init__(self) -> None:
        self._device = device("cuda", 0)
        self.peak_bytes = 0

    def device_of(self, array) -> device:
        return self._device

    def device_count(self) -> int:
        return 1

    def use(self, index):
        if index not in (None, 0):
            raise RuntimeError(f"CUDA error: invalid device ordinal (the fake CUDA backend has device 0 only, got {index})")
        return contextlib.nullcontext()

    def asarray(self, value, dtype=None, index=None):
        self.use(index)
        if type(value) is FakeArray:
            return value if dtype is None or value.dtype == dtype else value.astype(dtype)
        if hasattr(value, "__cuda_array_interface__") or isinstance(value, backprop.Tensor):
            raise TypeError(f"asarray: unsupported input {type(value).__name__}")
        return FakeArray(numpy.array(value, dtype=dtype))

    def to_host(self, array) -> numpy.ndarray:
        return array.get()

    def scalar(self, value, dtype, index=None):
        return FakeArray(numpy.asarray(value, dtype=dtype))

    def errstate(self, **kwargs):
        """The math runs on NumPy here: silence its warnings as the CPU backend does (a GPU has none)."""
        return numpy.errstate(**kwargs)

    def as_strided(self, array, shape, strides):
        return FakeArray(numpy.lib.stride_tricks.as_strided(array._a, shape, strides))

    def ufunc_at(self, name: str, target, index, values) -> None:
        if name not in ("add", "maximum", "minimum"):
            raise NotImplementedError(f"{name}.at has no CUDA form")
        getattr(numpy, name).at(target._a, _unwrap(index), _unwrap(values))

    def scipy(self, name: str):
        return _UnwrappingModule(importlib.import_module(f"scipy.{name}"))

    def pinned_copy(self, array: numpy.ndarray) -> numpy.ndarray:
        return array.copy()

    def is_pinned(self, array) -> bool:
        return False


_installed: list = []


def install() -> FakeCUDABackend:
    """Make the fake backend serve ``cuda`` until ``uninstall()``."""
    backend = FakeCUDABackend()
    register(backend)
    _installed.append(backend)
    return backend


def uninstall() -> None:
    while _installed:
        unregister(_installed.pop())
