"""The CPU backend: NumPy arrays in host memory."""

from __future__ import annotations

import functools
import importlib
import os
import warnings

import numpy

from .._device import device
from .base import Backend

_CPU_DEVICE = device("cpu")

# Ops run without NumPy's floating-point warnings (``Function.apply`` around each forward, the
# autograd engine around each backward pass): torch gives inf/nan from x / 0, log(0), exp(1000),
# float16 overflow... silently. NumPy keeps that state in a context variable; setting it directly
# to an "ignore everything" state costs ~0.1 us a call against ~1.1 us for
# ``numpy.errstate(all="ignore")`` (NumPy 2's internals; the public errstate where they are missing).
# The user's own NumPy code outside backprop's ops keeps its settings.
try:
    from numpy._core._ufunc_config import _extobj_contextvar

    with numpy.errstate(all="ignore"):
        _IGNORE_ALL = _extobj_contextvar.get()
except (ImportError, AttributeError):  # pragma: no cover - another NumPy layout
    _extobj_contextvar = None


if _extobj_contextvar is not None:
    # C-level callables (no Python frame): quiet_numpy() returns the token restore_numpy(token) takes
    quiet_numpy = functools.partial(_extobj_contextvar.set, _IGNORE_ALL)
    restore_numpy = _extobj_contextvar.reset
else:  # pragma: no cover - another NumPy layout

    def quiet_numpy():
        """Turn NumPy's floating-point warnings off in this context; returns what ``restore_numpy`` takes."""
        state = numpy.errstate(all="ignore")
        state.__enter__()
        return state

    def restore_numpy(token) -> None:
        """Undo ``quiet_numpy``."""
        token.__exit__(None, None, None)


class OutOfMemoryError(RuntimeError, MemoryError):
    """An allocation the memory cannot hold. torch raises a RuntimeError there (CPU) or its
    ``OutOfMemoryError``, a RuntimeError subclass (CUDA); this is both a RuntimeError and a
    MemoryError, so code catching either keeps working."""


def as_out_of_memory(exc: MemoryError) -> OutOfMemoryError:
    """``exc`` (NumPy's MemoryError, CuPy's OutOfMemoryError) as ours, or itself when it is one."""
    if isinstance(exc, OutOfMemoryError):
        return exc
    prefix = "CUDA out of memory. " if "cupy" in type(exc).__module__ else "DefaultCPUAllocator: can't allocate memory: "
    return OutOfMemoryError(f"{prefix}{exc}")


# The rest of backprop's own array code (optimizers' updates, gradient clipping, kernels run outside
# an op) gets the same: NumPy's floating-point warnings raised from backprop's modules are filtered
# once, which costs nothing per call. Integer division by zero is an error, checked by the ops.
warnings.filterwarnings(
    "ignore",
    message=r"(divide by zero|invalid value|overflow|underflow) encountered",
    category=RuntimeWarning,
    module=r"backprop\.",
)


def jit_requested() -> bool:
    """Whether the JIT kernels may be used: ``BACKPROP_JIT=0`` turns them off (the NumPy path)."""
    return os.environ.get("BACKPROP_JIT", "1") != "0"


def load_jit_kernels(force: bool = False):
    """``cpu_kernels`` (numba-compiled fused kernels), or None when numba is not installed or
    ``BACKPROP_JIT=0`` (unless ``force``); then the ops' NumPy code serves. Imported on first
    use, so numba loads only when an op asks for a kernel. A numba that cannot set up its kernels
    (no writable cache directory, say) warns once and leaves the NumPy path."""
    if not (force or jit_requested()):
        return None
    try:
        return importlib.import_module("backprop._backend.cpu_kernels")
    except ImportError:  # the optional extra backprop[jit] is not installed
        return None
    except Exception as exc:  # numba present but unusable here: the NumPy path still works
        warnings.warn(f"backprop: the JIT kernels are off ({type(exc).__name__}: {exc}); using the NumPy path", RuntimeWarning, stacklevel=2)
        return None


class CPUBackend(Backend):
    type = "cpu"
    xp = numpy
    array_type = numpy.ndarray

    @functools.cached_property
    def kernels(self):
        """The JIT kernels (``cpu_kernels``) or None, resolved on first access and then a plain
        attribute read. ``set_jit`` switches at run time."""
        return load_jit_kernels()

    def set_jit(self, enabled: bool) -> bool:
        """Use the JIT kernels (if numba is installed, whatever ``BACKPROP_JIT`` says) or the
        NumPy path; returns whether the kernels were in use."""
        previous = self.kernels is not None
        self.__dict__["kernels"] = load_jit_kernels(force=True) if enabled else None
        return previous

    def device_of(self, array) -> device:
        return _CPU_DEVICE

    def asarray(self, value, dtype=None, index: int | None = None):
        return numpy.asarray(value, dtype=dtype)

    def to_host(self, array) -> numpy.ndarray:
        return numpy.asarray(array)

    def errstate(self, **kwargs):
        return numpy.errstate(**kwargs)

    def is_writeable(self, array) -> bool:
        return array.flags.writeable

    def make_read_only(self, array):
        array.flags.writeable = False
        return array

    def as_strided(self, array, shape: tuple, strides: tuple):
        return numpy.lib.stride_tricks.as_strided(array, shape, strides, writeable=False)

    def accumulate(self, name: str, array, axis: int):
        return getattr(numpy, name).accumulate(array, axis=axis)

    def reduceat(self, name: str, array, starts, axis: int = 0):
        return getattr(numpy, name).reduceat(array, starts, axis=axis)
