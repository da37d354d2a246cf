"""The device seam: which array module and which kernels serve an array.

A Tensor's array lives on a device: a NumPy array in host memory (device ``cpu``) or a CuPy
array in a GPU's memory (``cuda:N``). Op code never imports NumPy or CuPy itself. It asks
the array it works on, at call time:

* ``array_module(a)``: NumPy or CuPy, the module whose functions take ``a`` (the role of
  Chainer's ``get_array_module``);
* ``backend_of(a)``: the ``Backend`` of ``a``'s device kind: that module, the device, the
  transfers, the NumPy idioms that not every array library has (``ufunc.at``,
  ``errstate``, ``as_strided``...), and ``kernels``, the fused kernels of that device.

So one op implementation serves every device, and CuPy is imported only when a CUDA tensor
is first asked for (``backend_for("cuda")``). The CPU backend lives in ``cpu.py``, the CUDA
one in ``cuda.py``; a test can register another (``register``).
"""

from __future__ import annotations

import numpy

from .base import Backend
from .cpu import CPUBackend

__all__ = [
    "Backend",
    "CPU",
    "array_module",
    "backend_of",
    "backend_for",
    "is_array",
    "move",
    "register",
    "unregister",
    "set_num_threads",
]

CPU: Backend = CPUBackend()

# Array type -> backend, and device type -> backend, for the backends loaded so far.
_BY_ARRAY_TYPE: dict[type, Backend] = {numpy.ndarray: CPU}
_BY_DEVICE_TYPE: dict[str, Backend] = {"cpu": CPU}
_NDARRAY = numpy.ndarray


def array_module(value):
    """The array module (NumPy or CuPy) for ``value``; NumPy for host data (scalars, lists)."""
    if type(value) is _NDARRAY:
        return numpy
    return _BY_ARRAY_TYPE.get(type(value), CPU).xp


def backend_of(value) -> Backend:
    """The backend of the device ``value`` lives on (the CPU for host data)."""
    return _BY_ARRAY_TYPE.get(type(value), CPU)


def is_array(value) -> bool:
    """Whether ``value`` is an array of some loaded backend (not a scalar, list or Tensor)."""
    return type(value) in _BY_ARRAY_TYPE


def backend_for(device) -> Backend:
    """The backend serving ``device`` (a ``backprop.device``, a string such as ``"cuda:0"``,
    or None for the CPU), loading it on first use. Raises like torch when it is unavailable."""
    kind = "cpu" if device is None else device if type(device) is str else device.type
    if ":" in kind:
        kind = kind.split(":", 1)[0]
    backend = _BY_DEVICE_TYPE.get(kind)
    if backend is not None:
        return backend
    if kind == "cuda":
        return register(_load_cuda())
    if kind in ("mps", "meta", "xpu"):
        raise RuntimeError(f"backprop has no {kind} backend; its devices are cpu and cuda")
    raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {device}")


_CUDA_HINT = (
    "backprop's CUDA backend runs on CuPy: pip install 'backprop[cuda]' (CuPy for CUDA 12, "
    "cupy-cuda12x; for CUDA 13 install cupy-cuda13x)"
)
_load_errors: dict[str, BaseException] = {}


def _load_cuda() -> Backend:
    """Import the CUDA backend. Without CuPy: AssertionError, as a torch built without CUDA
    raises; with CuPy but no usable GPU: RuntimeError, as torch without a driver. A failure
    is remembered, so ``cuda.is_available()`` stays cheap."""
    error = _load_errors.get("cuda")
    if error is None:
        try:
            from .cuda import CUDABackend
        except ImportError as exc:
            error = AssertionError(f"Torch not compiled with CUDA enabled: {_CUDA_HINT} ({exc})")
        else:
            backend = CUDABackend()
            if backend.device_count() > 0:
                return backend
            error = RuntimeError(
                "Found no NVIDIA driver on your system, or no CUDA GPU is visible: CuPy is installed, "
                "but cudaGetDeviceCount() reports no device. Please check that you have an NVIDIA GPU and "
                "installed a driver from http://www.nvidia.com/Download/index.aspx"
            )
        _load_errors["cuda"] = error
    raise type(error)(*error.args)


def move(array, device, dtype=None):
    """``array`` (of any backend) copied to ``device`` (a ``backprop.device``); the same array
    when it already is there (and of ``dtype``)."""
    source = backend_of(array)
    target = backend_for(device)
    if source is not target:
        array = source.to_host(array)
    return target.asarray(array, dtype=dtype, index=device.index)


def loaded_backend(kind: str) -> Backend | None:
    """The backend of device type ``kind`` if it is loaded, without loading it."""
    return _BY_DEVICE_TYPE.get(kind)


def register(backend: Backend) -> Backend:
    """Make ``backend`` serve its device type (replacing any other) and its array type."""
    old = _BY_DEVICE_TYPE.get(backend.type)
    if old is not None:
        _BY_ARRAY_TYPE.pop(old.array_type, None)
    _BY_DEVICE_TYPE[backend.type] = backend
    _BY_ARRAY_TYPE[backend.array_type] = backend
    return backend


def unregister(backend: Backend) -> None:
    """Undo ``register`` (tests that install a stand-in backend)."""
    if _BY_DEVICE_TYPE.get(backend.type) is backend and backend is not CPU:
        del _BY_DEVICE_TYPE[backend.type]
        _BY_ARRAY_TYPE.pop(backend.array_type, None)


def set_num_threads(n: int) -> None:
    """Set the BLAS thread count (threadpoolctl if installed; otherwise a no-op).

    NumPy's BLAS reads ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS`` at import; changing it
    afterwards needs threadpoolctl, an optional extra.
    """
    kernels = CPU.kernels
    if kernels is not None:  # the JIT kernels' thread pool
        kernels.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional dependency
        return
    threadpool_limits(limits=int(n))
