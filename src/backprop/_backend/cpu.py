"""The CPU backend: NumPy arrays in host memory."""

from __future__ import annotations

import warnings

import numpy

from .._device import device
from .base import Backend

_CPU_DEVICE = device("cpu")

# In torch, inf and NaN are values, never warnings (log(0), x / 0., inf * 0, an overflowing exp).
# NumPy warns about them; its floating-point warnings raised from backprop's own code are silenced
# here once, which costs nothing per op (a per-op ``numpy.errstate`` costs ~1 us). A user's own
# NumPy code keeps NumPy's warnings. Integer division by zero is an error, checked by the ops.
warnings.filterwarnings(
    "ignore",
    message=r"(divide by zero|invalid value|overflow|underflow) encountered",
    category=RuntimeWarning,
    module=r"backprop\.",
)


class CPUBackend(Backend):
    type = "cpu"
    xp = numpy
    array_type = numpy.ndarray
    kernels = None  # no fused kernels: the ops' array code, written for NumPy's loops, serves

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
