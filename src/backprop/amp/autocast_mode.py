"""``autocast`` and the autocast state functions (``torch.amp.autocast``, ``torch.is_autocast_enabled``...).

The state is per thread and per device type (``backprop._autocast.state``); the ops on
torch's autocast lists read it (see ``backprop/_autocast.py`` for the lists and the casts).
"""

from __future__ import annotations

import functools
import warnings

from .. import _autocast
from .._autocast import state as _state
from .._dtype import dtype as _dtype_cls
from .._dtype import float16, float64, get_bfloat16

__all__ = [
    "autocast",
    "custom_bwd",
    "custom_fwd",
    "is_autocast_available",
]

# The device types torch's device strings know (its error lists them in this order).
_DEVICE_TYPES = (
    "cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga", "maia", "xla", "lazy",
    "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone",
)  # fmt: skip
_NO_AUTOCAST = ("mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga", "lazy", "vulkan", "meta")


def _device_type(device_type: str) -> str:
    """``device_type`` without its index, checked as torch checks device strings."""
    kind = device_type.split(":", 1)[0]
    if kind not in _DEVICE_TYPES:
        raise RuntimeError(
            f"Expected one of {', '.join(_DEVICE_TYPES)} device type at start of device string: {device_type}"
        )
    return kind


def is_autocast_available(device_type: str) -> bool:
    """Whether autocast can be used on ``device_type`` (``"cpu"``, ``"cuda"``, ...)."""
    return _device_type(device_type) not in _NO_AUTOCAST


def is_autocast_enabled(device_type: str | None = None) -> bool:
    """Whether autocast is on for ``device_type`` on this thread (torch's default: CUDA)."""
    kind = "cuda" if device_type is None else _device_type(device_type)
    return bool(_state.enabled.get(kind, False))


def set_autocast_enabled(device_type, enabled: bool | None = None) -> None:
    """Turn autocast on or off for a device type (``set_autocast_enabled(True)``: CUDA, torch's legacy form)."""
    if enabled is None:
        device_type, enabled = "cuda", device_type
    _state.enabled[_device_type(device_type)] = bool(enabled)
    _state.refresh()


def get_autocast_dtype(device_type: str):
    """The lower-precision dtype autocast uses on ``device_type``."""
    return _autocast.get_dtype(_device_type(device_type))


def set_autocast_dtype(device_type: str, dtype) -> None:
    _state.dtype[_device_type(device_type)] = dtype


def is_autocast_cache_enabled() -> bool:
    return _state.cache_enabled


def set_autocast_cache_enabled(enabled: bool) -> None:
    _state.cache_enabled = bool(enabled)


def clear_autocast_cache() -> None:
    """Drop the cached lower-precision copies of the weights."""
    _state.cache.clear()


def autocast_increment_nesting() -> int:
    _state.nesting += 1
    return _state.nesting


def autocast_decrement_nesting() -> int:
    _state.nesting -= 1
    return _state.nesting


# torch's per-device spellings
def is_autocast_cpu_enabled() -> bool:
    return is_autocast_enabled("cpu")


def set_autocast_cpu_enabled(enabled: bool) -> None:
    set_autocast_enabled("cpu", enabled)


def get_autocast_cpu_dtype():
    return get_autocast_dtype("cpu")


def set_autocast_cpu_dtype(dtype) -> None:
    set_autocast_dtype("cpu", dtype)


def get_autocast_gpu_dtype():
    return get_autocast_dtype("cuda")


def set_autocast_gpu_dtype(dtype) -> None:
    set_autocast_dtype("cuda", dtype)


def is_autocast_ipu_enabled() -> bool:
    return is_autocast_enabled("ipu")


def set_autocast_ipu_enabled(enabled: bool) -> None:
    set_autocast_enabled("ipu", enabled)


def get_autocast_ipu_dtype():
    return get_autocast_dtype("ipu")


def set_autocast_ipu_dtype(dtype) -> None:
    set_autocast_dtype("ipu", dtype)


def is_autocast_xla_enabled() -> bool:
    return is_autocast_enabled("xla")


def set_autocast_xla_enabled(enabled: bool) -> None:
    set_autocast_enabled("xla", enabled)


def get_autocast_xla_dtype():
    return get_autocast_dtype("xla")


def set_autocast_xla_dtype(dtype) -> None:
    set_autocast_dtype("xla", dtype)


class autocast:  # noqa: N801 - torch's name
    """A region where the ops on torch's autocast lists run in mixed precision.

    ``autocast(device_type, dtype=None, enabled=True, cache_enabled=None)``: inside, on tensors
    of ``device_type``, matmul/linear/conv/attention... cast their floating inputs to
    ``dtype`` (default: float16 on CUDA, bfloat16 on CPU); losses, norms and the other
    precision-sensitive ops run in float32; ops off the lists run in their inputs' dtype.
    Regions nest (``autocast(..., enabled=False)`` turns it off inside); also a decorator.
    Backward runs outside it, in the dtypes forward used.
    """

    def __init__(self, device_type: str, dtype=None, enabled: bool = True, cache_enabled: bool | None = None) -> None:
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        self.device = _device_type(device_type)
        if not is_autocast_available(self.device):
            raise RuntimeError(f"User specified an unsupported autocast device_type '{self.device}'")
        self.fast_dtype = get_autocast_dtype(self.device) if dtype is None else dtype
        self.custom_backend_name = None
        self._cache_enabled = is_autocast_cache_enabled() if cache_enabled is None else cache_enabled
        self._enabled = bool(enabled)
        if not isinstance(self.fast_dtype, _dtype_cls):
            raise ValueError(f"Expected `dtype` to be a backprop dtype, got: {self.fast_dtype!r}")
        if not self._enabled:
            return
        if self.device == "cpu":
            if self.fast_dtype not in (get_bfloat16(), float16):
                warnings.warn(
                    "In CPU autocast, but the target dtype is not supported. Disabling autocast.\n"
                    "CPU Autocast only supports dtypes of torch.bfloat16, torch.float16 currently.",
                    stacklevel=2,
                )
                self._enabled = False
        elif self.device == "cuda":
            from .. import cuda

            if not cuda.is_available():
                warnings.warn("CUDA is not available or torch_xla is imported. Disabling autocast.", stacklevel=2)
                self._enabled = False
            elif self.fast_dtype not in (float16, get_bfloat16()):
                warnings.warn(
                    "In CUDA autocast, but the target dtype is not supported. Disabling autocast.\n"
                    "CUDA Autocast only supports dtypes of torch.float16, torch.bfloat16 currently.",
                    stacklevel=2,
                )
                self._enabled = False

    def __enter__(self):
        self._prev = (
            _state.enabled.get(self.device, False),
            _state.dtype.get(self.device),
            _state.cache_enabled,
            _state.active,
        )
        _state.enabled[self.device] = self._enabled
        _state.dtype[self.device] = self.fast_dtype
        _state.cache_enabled = self._cache_enabled
        _state.nesting += 1
        _state.refresh()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb) -> bool:
        _state.nesting -= 1
        if _state.nesting == 0:
            _state.cache.clear()
        enabled, dtype, cache, active = self._prev
        _state.enabled[self.device] = enabled
        _state.dtype[self.device] = dtype
        _state.cache_enabled = cache
        _state.active = active  # as before the region (still suspended inside an autocast op or a backward)
        return False

    def __call__(self, func):
        """Use as a decorator: every call of ``func`` runs in a fresh region with these settings."""
        settings = (self.device, self.fast_dtype, self._enabled, self._cache_enabled)

        @functools.wraps(func)
        def decorated(*args, **kwargs):
            with _quiet_autocast(*settings):
                return func(*args, **kwargs)

        return decorated


def _quiet_autocast(device: str, dtype, enabled: bool, cache_enabled: bool) -> autocast:
    """An ``autocast`` with settings already checked (no second warning per decorated call)."""
    region = object.__new__(autocast)
    region.device, region.fast_dtype, region._enabled, region._cache_enabled = device, dtype, enabled, cache_enabled
    region.custom_backend_name = None
    return region


def _cast_inputs(value, dtype):
    from .._tensor import Tensor

    if isinstance(value, Tensor):
        if value.is_floating_point() and value.dtype is not float64:
            return value.to(dtype)
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_inputs(v, dtype) for v in value)
    if isinstance(value, dict):
        return {k: _cast_inputs(v, dtype) for k, v in value.items()}
    return value


def custom_fwd(fwd=None, *, device_type: str, cast_inputs=None):
    """Decorator for a custom ``Function.forward``: with ``cast_inputs`` set, inside an enabled
    region its floating inputs are cast to that dtype and it runs with autocast off; the
    autocast state is recorded for ``custom_bwd``."""
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)
    kind = _device_type(device_type)

    @functools.wraps(fwd)
    def decorate_fwd(*args, **kwargs):
        ctx = args[0]
        ctx._dtype = get_autocast_dtype(kind)
        if cast_inputs is None:
            ctx._fwd_used_autocast = is_autocast_enabled(kind)
            return fwd(*args, **kwargs)
        ctx._fwd_used_autocast = False
        if is_autocast_enabled(kind):
            with _quiet_autocast(kind, ctx._dtype, False, is_autocast_cache_enabled()):
                return fwd(*_cast_inputs(args, cast_inputs), **_cast_inputs(kwargs, cast_inputs))
        return fwd(*args, **kwargs)

    return decorate_fwd


def custom_bwd(bwd=None, *, device_type: str):
    """Decorator for a custom ``Function.backward``: it runs with the autocast state its forward had."""
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)
    kind = _device_type(device_type)

    @functools.wraps(bwd)
    def decorate_bwd(*args, **kwargs):
        ctx = args[0]
        with _quiet_autocast(kind, ctx._dtype, ctx._fwd_used_autocast, is_autocast_cache_enabled()):
            return bwd(*args, **kwargs)

    return decorate_bwd
