"""``backprop.cuda``: NVIDIA GPUs through the CuPy backend (torch.cuda's names).

Without CuPy or without a GPU, ``is_available()`` is False and ``device_count()`` 0, and what
needs a device raises as torch does (``pip install 'backprop[cuda]'`` gives the backend). The
answers are real: memory figures come from CuPy's memory pool (the peak recorded at every
allocation), events and streams are CUDA's.
"""

from __future__ import annotations

import contextlib

from .. import random as _random
from .._backend import backend_for, loaded_backend
from .._device import as_device
from ..ops._utils import OutOfMemoryError

__all__ = [
    "Event",
    "OutOfMemoryError",
    "Stream",
    "current_device",
    "current_stream",
    "default_stream",
    "device",
    "device_count",
    "empty_cache",
    "get_device_name",
    "get_rng_state",
    "init",
    "initial_seed",
    "is_available",
    "is_initialized",
    "manual_seed",
    "manual_seed_all",
    "max_memory_allocated",
    "max_memory_reserved",
    "memory_allocated",
    "memory_reserved",
    "reset_peak_memory_stats",
    "seed",
    "set_device",
    "set_rng_state",
    "stream",
    "synchronize",
]


def _backend():
    return backend_for("cuda")


def _index(dev) -> int | None:
    """A device argument (index, string, device or None) as a CUDA device index (None: current)."""
    if dev is None:
        return None
    if isinstance(dev, int):
        return dev
    d = as_device(dev)
    if d.type != "cuda":
        raise ValueError(f"Expected a cuda device, but got: {d}")
    return d.index


def is_available() -> bool:
    """Whether a CUDA GPU can be used (CuPy installed and a device visible)."""
    try:
        return _backend().device_count() > 0
    except (AssertionError, RuntimeError):
        return False


def device_count() -> int:
    try:
        return _backend().device_count()
    except (AssertionError, RuntimeError):
        return 0


def is_initialized() -> bool:
    return loaded_backend("cuda") is not None


def init() -> None:
    """Load the CUDA backend now (it also loads on first use)."""
    _backend()


def current_device() -> int:
    return _backend().current_device()


def set_device(dev) -> None:
    """Make ``dev`` the current CUDA device (where ``"cuda"`` tensors go)."""
    index = _index(dev)
    if index is not None and index >= 0:
        _backend().set_device(index)


class device:  # noqa: N801 - torch's name
    """Context manager making a CUDA device current: ``with backprop.cuda.device(1): ...``."""

    def __init__(self, dev) -> None:
        self.index = _index(dev)
        self._previous = None

    def __enter__(self):
        if self.index is not None and self.index >= 0:
            self._previous = current_device()
            set_device(self.index)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            set_device(self._previous)


def get_device_name(dev=None) -> str:
    return _backend().device_name(_index(dev))


def get_device_capability(dev=None) -> tuple[int, int]:
    """The device's CUDA compute capability as ``(major, minor)``, e.g. ``(9, 0)`` on an H100/H200."""
    return _backend().device_capability(_index(dev))


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """False: backprop keeps bfloat16 on the CPU (ml_dtypes); its CUDA tensors have no bfloat16, so
    programs that ask (nanoGPT) pick float16 with a GradScaler on the GPU, which backprop supports."""
    return False


def is_tf32_supported() -> bool:
    """Whether the current GPU has TF32 tensor cores (compute capability 8.0 or newer)."""
    return is_available() and get_device_capability() >= (8, 0)


def synchronize(dev=None) -> None:
    """Wait until every kernel queued on the device has finished."""
    _backend().synchronize(_index(dev))


# ---------------------------------------------------------------------------- memory
def memory_allocated(dev=None) -> int:
    """Bytes of device memory held by tensors now (CuPy's pool: bytes in use)."""
    return _backend().memory_allocated(_index(dev))


def max_memory_allocated(dev=None) -> int:
    """The peak of ``memory_allocated`` since start or ``reset_peak_memory_stats``."""
    return _backend().max_memory_allocated(_index(dev))


def memory_reserved(dev=None) -> int:
    """Bytes the caching allocator holds from the driver (in use or cached)."""
    return _backend().memory_reserved(_index(dev))


def max_memory_reserved(dev=None) -> int:
    """The peak of ``memory_reserved`` since start or ``reset_peak_memory_stats``."""
    return _backend().max_memory_reserved(_index(dev))


def reset_peak_memory_stats(dev=None) -> None:
    _backend().reset_peak_memory_stats(_index(dev))


def empty_cache() -> None:
    """Return cached, unused blocks to the driver (no-op when CUDA was never used)."""
    backend = loaded_backend("cuda")
    if backend is not None:
        backend.empty_cache()


# ---------------------------------------------------------------------------- random
def manual_seed(seed: int) -> None:
    """Seed the current CUDA device's generator (remembered for devices used later)."""
    seed = _random._check_seed(int(seed))
    _random._cuda_seed[0] = seed
    if is_initialized():
        _random.cuda_generator().manual_seed(seed)


def manual_seed_all(seed: int) -> None:
    """Seed every CUDA device's generator (also those used later)."""
    seed = _random._check_seed(int(seed))
    _random._cuda_seed[0] = seed
    for g in _random._cuda_generators.values():
        g.manual_seed(seed)


def seed() -> None:
    _random.cuda_generator().seed()


def initial_seed() -> int:
    return _random.cuda_generator().initial_seed()


def get_rng_state(dev="cuda"):
    """The state of a CUDA device's generator as a uint8 CPU tensor (Philox seed and offset)."""
    return _random.cuda_generator(_index(dev)).get_state()


def set_rng_state(new_state, dev="cuda") -> None:
    _random.cuda_generator(_index(dev)).set_state(new_state)


def get_rng_state_all() -> list:
    return [get_rng_state(i) for i in range(device_count())]


def set_rng_state_all(new_states) -> None:
    for i, state in enumerate(new_states):
        set_rng_state(state, i)


# ---------------------------------------------------------------------------- events and streams
class Event:
    """A CUDA event: ``record()`` it on a stream, then ``synchronize()``, ``query()`` or time the
    gap to another event with ``elapsed_time`` (milliseconds; needs ``enable_timing=True``)."""

    def __init__(self, enable_timing: bool = False, blocking: bool = False, interprocess: bool = False) -> None:
        self._event = _backend().new_event(enable_timing, blocking, interprocess)

    def record(self, stream: Stream | None = None) -> None:
        self._event.record(None if stream is None else stream._stream)

    def wait(self, stream: Stream | None = None) -> None:
        (stream or current_stream())._stream.wait_event(self._event)

    def query(self) -> bool:
        return self._event.done

    def synchronize(self) -> None:
        self._event.synchronize()

    def elapsed_time(self, end_event: Event) -> float:
        return _backend().elapsed_ms(self._event, end_event._event)


class Stream:
    """A CUDA stream: kernels queued on it run in order; ``with backprop.cuda.stream(s):`` queues
    there."""

    def __init__(self, device=None, priority: int = 0, _stream=None) -> None:
        self._stream = _stream if _stream is not None else _backend().new_stream(_index(device), priority)

    def synchronize(self) -> None:
        self._stream.synchronize()

    def query(self) -> bool:
        return self._stream.done

    def wait_event(self, event: Event) -> None:
        self._stream.wait_event(event._event)

    def wait_stream(self, other: Stream) -> None:
        self._stream.wait_event(other.record_event()._event)

    def record_event(self, event: Event | None = None) -> Event:
        event = event or Event()
        event.record(self)
        return event

    @property
    def cuda_stream(self) -> int:
        return self._stream.ptr

    def __enter__(self):
        self._stream.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._stream.__exit__(*exc)


def current_stream(dev=None) -> Stream:
    return Stream(_stream=_backend().current_stream(_index(dev)))


def default_stream(dev=None) -> Stream:
    return Stream(_stream=_backend().default_stream(_index(dev)))


def stream(s: Stream | None):
    """``with backprop.cuda.stream(s):`` queues the block's kernels on ``s`` (None: unchanged)."""
    return contextlib.nullcontext() if s is None else s


from . import amp  # noqa: E402 - torch.cuda.amp (deprecated spellings of backprop.amp)
