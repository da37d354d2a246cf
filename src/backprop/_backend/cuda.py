"""The CUDA backend: CuPy arrays in NVIDIA GPU memory.

Imported only on the first CUDA request (``backend_for("cuda")``), so CPU users never import
CuPy. Memory comes from CuPy's pool, wrapped once to record the peak for
``backprop.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import importlib

import cupy
import cupyx

from .._device import device
from . import cuda_kernels
from .base import NULL_CONTEXT, Backend


class CUDABackend(Backend):
    type = "cuda"
    xp = cupy
    array_type = cupy.ndarray
    kernels = cuda_kernels
    checks_values = False

    def __init__(self) -> None:
        self._devices: dict[int, device] = {}
        self._scalars: dict[tuple, object] = {}
        self.pool = cupy.get_default_memory_pool()
        self.peak_bytes = 0  # peaks of used and reserved memory, recorded at every allocation
        self.peak_reserved = 0
        cupy.cuda.set_allocator(self._malloc)
        from ..backends import cuda as cuda_settings  # float32 matmul precision set before the GPU was used

        if cuda_settings.get_float32_matmul_precision() != "highest":
            cuda_settings.apply_matmul_precision(cupy)

    def _malloc(self, size: int):
        memory = self.pool.malloc(size)
        pool = self.pool
        if pool.used_bytes() > self.peak_bytes:
            self.peak_bytes = pool.used_bytes()
        if pool.total_bytes() > self.peak_reserved:
            self.peak_reserved = pool.total_bytes()
        return memory

    # ------------------------------------------------------------------ devices
    def device_of(self, array) -> device:
        index = array.device.id
        dev = self._devices.get(index)
        if dev is None:
            dev = self._devices[index] = device("cuda", index)
        return dev

    def device_count(self) -> int:
        try:
            return cupy.cuda.runtime.getDeviceCount()
        except cupy.cuda.runtime.CUDARuntimeError:
            return 0

    def current_device(self) -> int:
        return cupy.cuda.runtime.getDevice()

    def use(self, index: int | None):
        if index is None:
            return NULL_CONTEXT
        return cupy.cuda.Device(index)

    def set_device(self, index: int) -> None:
        cupy.cuda.Device(index).use()

    def device_name(self, index: int | None = None) -> str:
        props = cupy.cuda.runtime.getDeviceProperties(self.current_device() if index is None else index)
        name = props["name"]
        return name.decode() if isinstance(name, bytes) else str(name)

    def device_capability(self, index: int | None = None) -> tuple[int, int]:
        props = cupy.cuda.runtime.getDeviceProperties(self.current_device() if index is None else index)
        return int(props["major"]), int(props["minor"])

    def synchronize(self, index: int | None = None) -> None:
        with self.use(index):
            cupy.cuda.Device().synchronize()

    # ------------------------------------------------------------------ memory, events, streams
    def memory_allocated(self, index: int | None = None) -> int:
        return self.pool.used_bytes()

    def max_memory_allocated(self, index: int | None = None) -> int:
        return max(self.peak_bytes, self.pool.used_bytes())

    def memory_reserved(self, index: int | None = None) -> int:
        return self.pool.total_bytes()

    def max_memory_reserved(self, index: int | None = None) -> int:
        return max(self.peak_reserved, self.pool.total_bytes())

    def reset_peak_memory_stats(self, index: int | None = None) -> None:
        self.peak_bytes = self.pool.used_bytes()
        self.peak_reserved = self.pool.total_bytes()

    def empty_cache(self) -> None:
        self.pool.free_all_blocks()

    def new_event(self, enable_timing: bool, blocking: bool, interprocess: bool):
        return cupy.cuda.Event(block=blocking, disable_timing=not enable_timing, interprocess=interprocess)

    def elapsed_ms(self, start, end) -> float:
        return float(cupy.cuda.get_elapsed_time(start, end))

    def new_stream(self, index: int | None, priority: int):
        with self.use(index):
            return cupy.cuda.Stream(non_blocking=False, priority=priority)

    def current_stream(self, index: int | None):
        with self.use(index):
            return cupy.cuda.get_current_stream()

    def default_stream(self, index: int | None):
        return cupy.cuda.Stream.null

    # ------------------------------------------------------------------ data movement
    def asarray(self, value, dtype=None, index: int | None = None):
        if type(value) is cupy.ndarray:
            if index is not None and value.device.id != index:
                with cupy.cuda.Device(index):
                    value = value.copy()  # CuPy copies to the current device
            return value if dtype is None or value.dtype == dtype else value.astype(dtype)
        with self.use(index):
            return cupy.asarray(value, dtype=dtype)

    def to_host(self, array):
        return array.get()

    def pinned_copy(self, array):
        out = cupyx.empty_pinned(array.shape, array.dtype)
        out[...] = array
        return out

    def is_pinned(self, array) -> bool:
        base = array
        while base is not None:
            if isinstance(base, cupy.cuda.PinnedMemoryPointer):
                return True
            base = getattr(base, "base", None)
        return False

    def scalar(self, value, dtype, index: int | None = None):
        """A 0-d array holding ``value`` on device ``index`` (None: the current one), cached per
        (value, dtype, device): scalar operands then cost no host-to-device copy and no kernel
        launch after their first use. Op code never writes into an operand, so sharing one array
        is safe. Floats are keyed by their exact bits (``-0.0`` is not ``0.0``; NaN finds itself)."""
        if index is None:
            index = cupy.cuda.runtime.getDevice()
        key = (value.hex() if type(value) is float else value, type(value), dtype, index)
        arr = self._scalars.get(key)
        if arr is None:
            if len(self._scalars) > 4096:
                self._scalars.clear()
            with cupy.cuda.Device(index):
                arr = self._scalars[key] = cupy.full((), value, dtype=dtype)
        return arr

    # ------------------------------------------------------------------ SciPy
    def scipy(self, name: str):
        return importlib.import_module(f"cupyx.scipy.{name}")

    # ------------------------------------------------------------------ NumPy idioms
    def accumulate(self, name: str, array, axis: int):
        if name == "multiply":
            return cupy.cumprod(array, axis=axis)
        return super().accumulate(name, array, axis)
