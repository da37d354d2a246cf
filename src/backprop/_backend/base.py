"""``Backend``: what one kind of device provides, and the backend-neutral forms of NumPy idioms.

A backend has an array module (``xp``: NumPy or CuPy, which share NumPy's API), the array
type it owns, its devices, transfers to and from host memory, and ``kernels``: fused kernels
that op code prefers by name when the device has them (``getattr(backend.kernels,
"gelu_forward", None)``; CUDA's are in ``cuda_kernels.py``), else the op's array code runs. The methods below cover the NumPy idioms that not every
array library has; op code calls them instead of the NumPy spelling, so it runs on any
backend. Each has a generic implementation in terms of ``xp`` here; a backend overrides it
where its library has a faster or native form.
"""

from __future__ import annotations

import contextlib
import importlib

import numpy

from .._device import device

NULL_CONTEXT = contextlib.nullcontext()  # reusable: entering it has no effect


class Backend:
    """One kind of device (``type``: ``"cpu"`` or ``"cuda"``)."""

    type: str = ""
    xp = numpy  # the array module
    array_type: type = numpy.ndarray
    kernels = None  # module of fused kernels an op may call by name (None: the ops' array code serves)
    # Whether ops may read array values on the host for checks (index bounds...): cheap on the
    # CPU; on a GPU each read waits for the device, so hot ops skip them there, as torch's
    # CUDA kernels do (its device-side asserts).
    checks_values = True

    def kernel(self, name: str, *arrays):
        """The fused kernel ``name`` for ``arrays``, or None, where the op's array code serves: the
        backend has no kernels or none of that name, or its ``supports(*arrays)`` refuses them
        (the CPU's JIT kernels take float32/float64 only)."""
        kernels = self.kernels
        if kernels is None:
            return None
        fn = getattr(kernels, name, None)
        if fn is None:
            return None
        supports = getattr(kernels, "supports", None)
        if supports is not None and not supports(*arrays):
            return None
        return fn

    # ------------------------------------------------------------------ devices
    def device_of(self, array) -> device:
        """The ``backprop.device`` holding ``array``."""
        raise NotImplementedError

    def is_available(self) -> bool:
        return self.device_count() > 0

    def device_count(self) -> int:
        return 1

    def current_device(self) -> int:
        return 0

    def use(self, index: int | None):
        """A context in which new arrays go to device ``index`` (None: the current one)."""
        return NULL_CONTEXT

    def synchronize(self, index: int | None = None) -> None:
        """Wait until the device has finished all queued work."""

    # ------------------------------------------------------------------ data movement
    def asarray(self, value, dtype=None, index: int | None = None):
        """``value`` (host data, or an array of this backend) as an array on this backend's
        device ``index``; no copy when it already is one there with ``dtype``. Arrays of
        another backend go through ``backprop._backend.move``."""
        raise NotImplementedError

    def to_host(self, array) -> numpy.ndarray:
        """``array`` as a NumPy array (a copy unless it already lives in host memory)."""
        raise NotImplementedError

    def pinned_copy(self, array):
        """A copy of host array ``array`` in page-locked memory (for fast copies to the device)."""
        return array.copy()

    def is_pinned(self, array) -> bool:
        return False

    def scalar(self, value, dtype, index: int | None = None):
        """A 0-d array holding the Python number ``value`` on device ``index`` (operands of ``x * 2``)."""
        with self.use(index):
            return self.xp.asarray(value, dtype=dtype)

    # ------------------------------------------------------------------ SciPy
    def scipy(self, name: str):
        """The SciPy submodule ``name`` (``"special"``, ``"linalg"``, ``"signal"``...) for this
        backend's arrays: SciPy on the CPU, ``cupyx.scipy`` on CUDA. Imported on first use, so
        SciPy loads only when an op that needs it runs."""
        return importlib.import_module(f"scipy.{name}")

    # ------------------------------------------------------------------ NumPy idioms
    def errstate(self, **kwargs):
        """NumPy's ``errstate`` (floating-point warnings); other libraries do not warn."""
        return NULL_CONTEXT

    def is_writeable(self, array) -> bool:
        """Whether ``array`` may be written: not a broadcast view (a zero stride over more than
        one element would write several elements to one address). NumPy also has read-only flags."""
        return all(stride != 0 or size <= 1 for stride, size in zip(array.strides, array.shape))

    def make_read_only(self, array):
        """Mark ``array`` read-only where the library can; returns it."""
        return array

    def as_strided(self, array, shape: tuple, strides: tuple):
        """A view of ``array`` with the given shape and byte strides (read-only where possible)."""
        return self.xp.lib.stride_tricks.as_strided(array, shape, strides)

    def ufunc_at(self, name: str, target, index, values) -> None:
        """``numpy.<name>.at(target, index, values)``: unbuffered in-place ``add``/``maximum``/
        ``minimum`` at (possibly repeated) indices."""
        getattr(self.xp, name).at(target, index, values)

    def accumulate(self, name: str, array, axis: int):
        """``numpy.<name>.accumulate(array, axis)`` for an associative binary ufunc
        (``maximum``, ``fmin``, ``logaddexp``, ``logical_or``...): a log-step (Hillis-Steele)
        scan of whole-array passes, so it needs nothing but the ufunc itself."""
        xp = self.xp
        if name == "add":
            return xp.cumsum(array, axis=axis)
        op = getattr(xp, name)
        out = xp.moveaxis(array, axis, -1).copy()
        step, n = 1, out.shape[-1]
        while step < n:
            out[..., step:] = op(out[..., step:], out[..., :-step])  # the right side is read before the write
            step *= 2
        return xp.moveaxis(out, -1, axis)

    def reduceat(self, name: str, array, starts, axis: int = 0):
        """``numpy.<name>.reduceat(array, starts, axis)`` for increasing ``starts`` (non-empty
        segments) and ``add``/``maximum``/``minimum``: a sum through ``ufunc_at``; a max or min
        by a segmented log-step scan (exact in every dtype, deterministic), read at each
        segment's last row."""
        xp = self.xp
        moved = xp.moveaxis(array, axis, 0)
        n = moved.shape[0]
        marks = xp.zeros(n, dtype=xp.int64)
        marks[starts] = 1
        segment = xp.cumsum(marks) - 1
        if name == "add":
            out = xp.zeros((len(starts),) + moved.shape[1:], dtype=array.dtype)
            self.ufunc_at("add", out, segment, moved)
            return xp.moveaxis(out, 0, axis)
        op = getattr(xp, name)
        scan = moved.copy()
        tail = (1,) * (moved.ndim - 1)
        step = 1
        while step < n:
            same = (segment[step:] == segment[:-step]).reshape((-1,) + tail)
            scan[step:] = xp.where(same, op(scan[step:], scan[:-step]), scan[step:])
            step *= 2
        ends = xp.concatenate([xp.asarray(starts[1:], dtype=xp.int64) - 1, xp.asarray([n - 1], dtype=xp.int64)])
        return xp.moveaxis(scan[ends], 0, axis)

    def __repr__(self) -> str:
        return f"<backprop backend {self.type!r} on {self.xp.__name__}>"
