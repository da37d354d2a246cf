"""Random numbers: ``Generator``, ``manual_seed``, sampling functions and the in-place samplers
used by ``nn.init``.

Backprop draws from NumPy's PCG64, so a seed gives reproducible numbers run to run, but not
the same numbers as torch's Mersenne Twister. Float32 samples are drawn in float32 directly.
"""

from __future__ import annotations

import json

import numpy as np

from . import _dtype
from ._backend import xp
from ._tensor import Tensor, _make
from .ops._utils import creation_size

_DEFAULT_SEED = 67280421310721  # torch's initial default seed


class Generator:
    """A random-number generator (torch.Generator) on NumPy's PCG64."""

    def __init__(self, device="cpu"):
        from ._device import check_device
        from ._device import device as device_cls

        if device_cls(device).type == "cuda":  # torch: no CUDA generator in a CPU-only build
            raise RuntimeError("Cannot get CUDA generator without ATen_cuda library (backprop runs on the CPU only)")
        check_device(device)
        self.device = device_cls(device)
        self.manual_seed(_DEFAULT_SEED)

    def manual_seed(self, seed: int) -> Generator:
        seed = int(seed)
        self._initial_seed = seed
        self.rng = np.random.Generator(np.random.PCG64(seed & 0xFFFFFFFFFFFFFFFF))
        return self

    def seed(self) -> int:
        seed = int(np.random.SeedSequence().entropy) & 0xFFFFFFFFFFFFFFFF
        self.manual_seed(seed)
        return seed

    def initial_seed(self) -> int:
        return self._initial_seed

    def get_state(self) -> Tensor:
        """The generator's state as a uint8 tensor (JSON bytes): saveable with ``backprop.save``."""
        state = {"seed": self._initial_seed, "bit_generator": self.rng.bit_generator.state}
        raw = json.dumps(state, default=int).encode()
        return _make(np.frombuffer(raw, dtype=np.uint8).copy())

    def set_state(self, new_state: Tensor) -> Generator:
        data = new_state._data if isinstance(new_state, Tensor) else np.asarray(new_state)
        try:
            state = json.loads(bytes(data.astype(np.uint8)).decode())
            self._initial_seed = int(state["seed"])
            self.rng = np.random.Generator(np.random.PCG64())
            self.rng.bit_generator.state = state["bit_generator"]
        except (ValueError, KeyError, TypeError) as exc:
            raise RuntimeError(f"Generator.set_state: invalid RNG state ({exc})") from None
        return self

    def clone_state(self) -> Generator:
        g = Generator()
        g.set_state(self.get_state())
        return g


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (all of backprop's random sampling draws from it)."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    return default_generator.get_state()


def set_rng_state(new_state: Tensor) -> None:
    default_generator.set_state(new_state)


def _rng(generator: Generator | None):
    return (generator or default_generator).rng


_TORCH_TYPE_NAMES = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _float_dtype(dtype, kernel: str = "check_uniform_bounds"):
    dt = _dtype.to_dtype(dtype) if dtype is not None else _dtype._default_float
    if not dt.is_floating_point:  # torch's kernels have no integer version
        raise NotImplementedError(f'"{kernel}" not implemented for \'{_TORCH_TYPE_NAMES[dt.name]}\'')
    return dt


def _sample_float(kind: str, rng, shape, dt):
    native = dt.np if dt.np in (np.float32, np.float64) else np.float32
    if kind == "uniform" and dt.np == np.float16:
        # multiples of 2**-11 (float16's mantissa): exact, so rounding can never reach 1.0
        return (rng.integers(0, 2**11, shape) * 2.0**-11).astype(np.float16)
    if kind == "uniform":
        arr = rng.random(shape, dtype=native)
    else:
        arr = rng.standard_normal(shape, dtype=native)
    return arr.astype(dt.np, copy=False)


def _finish(arr, requires_grad: bool, device) -> Tensor:
    from ._device import check_device

    check_device(device)
    t = _make(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def rand(*size, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Uniform samples on [0, 1)."""
    arr = _sample_float("uniform", _rng(generator), creation_size(size, "rand", varargs=True), _float_dtype(dtype))
    if out is not None:
        out._data = arr
        return out
    return _finish(arr, requires_grad, device)


def randn(*size, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Standard normal samples."""
    arr = _sample_float("normal", _rng(generator), creation_size(size, "randn", varargs=True), _float_dtype(dtype, "normal_kernel_cpu"))
    if out is not None:
        out._data = arr
        return out
    return _finish(arr, requires_grad, device)


def rand_like(input: Tensor, *, dtype=None, layout=None, device=None, requires_grad: bool = False, memory_format=None) -> Tensor:
    return rand(input._data.shape, dtype=dtype or input.dtype, requires_grad=requires_grad, device=device)


def randn_like(input: Tensor, *, dtype=None, layout=None, device=None, requires_grad: bool = False, memory_format=None) -> Tensor:
    return randn(input._data.shape, dtype=dtype or input.dtype, requires_grad=requires_grad, device=device)


def randint(low, high=None, size=None, *, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False) -> Tensor:
    """Integers uniform on [low, high); ``randint(high, size)`` uses low=0."""
    if size is None:
        if high is None:
            raise TypeError("randint() missing required argument 'size'")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    dt = _dtype.to_dtype(dtype) if dtype is not None else _dtype.int64
    shape = creation_size((size,) if isinstance(size, int) else tuple(size), "randint")
    arr = _rng(generator).integers(low, high, size=shape, dtype=np.int64).astype(dt.np)
    if out is not None:
        out._data = arr
        return out
    return _finish(arr, requires_grad, device)


def randint_like(input: Tensor, low=0, high=None, *, dtype=None, layout=None, device=None, requires_grad: bool = False, memory_format=None) -> Tensor:
    if high is None:
        low, high = 0, low
    return randint(low, high, input._data.shape, dtype=dtype or input.dtype, device=device)


def randperm(n: int, *, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A random permutation of 0..n-1."""
    dt = _dtype.to_dtype(dtype) if dtype is not None else _dtype.int64
    if n < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: [{n}]")
    arr = _rng(generator).permutation(int(n)).astype(dt.np)
    return _finish(arr, requires_grad, device)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator=None, out=None) -> Tensor:
    """Sample category indices with probability proportional to the (non-negative) weights in ``input``."""
    probs = input._data
    if probs.dtype.kind != "f":
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: {_TORCH_TYPE_NAMES[input.dtype.name]}")
    if probs.ndim not in (1, 2):
        raise RuntimeError(f"prob_dist must be 1 or 2 dim, got {probs.ndim}")
    p2 = probs.reshape(-1, probs.shape[-1]).astype(np.float64)
    if not np.isfinite(p2).all() or (p2 < 0).any():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    sums = p2.sum(axis=1, keepdims=True)
    if (sums <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    n_cat = p2.shape[1]
    if not replacement and num_samples > n_cat:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    if num_samples <= 0:
        raise RuntimeError(f"number of samples must be positive, got {num_samples}")
    rng = _rng(generator)
    if replacement:
        cdf = np.cumsum(p2 / sums, axis=1)
        cdf[:, -1] = 1.0
        u = rng.random((p2.shape[0], num_samples))
        idx = np.stack([np.searchsorted(c, row, side="right") for c, row in zip(cdf, u)])
        idx = np.minimum(idx, n_cat - 1)
    else:
        # Gumbel-top-k: equivalent to drawing without replacement, one category at a time.
        with np.errstate(divide="ignore"):
            keys = np.log(p2) - np.log(-np.log(rng.random(p2.shape)))
        idx = np.argsort(-keys, axis=1, kind="stable")[:, :num_samples]
    idx = idx.astype(np.int64)
    if probs.ndim == 1:
        idx = idx[0]
    return _make(idx)


def bernoulli(input: Tensor, p=None, *, generator=None, out=None) -> Tensor:
    """1 with probability ``input`` (or ``p``), else 0, in ``input``'s dtype."""
    if input._data.dtype.kind != "f":
        raise NotImplementedError(f'"bernoulli_tensor_cpu_p_" not implemented for \'{_TORCH_TYPE_NAMES[input.dtype.name]}\'')
    probs = input._data if p is None else np.full(input._data.shape, p)
    if not ((probs >= 0) & (probs <= 1)).all():
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
    u = _rng(generator).random(input._data.shape, dtype=np.float32 if input._data.dtype != np.float64 else np.float64)
    return _make((u < probs).astype(input._data.dtype))


def normal(mean, std=1.0, size=None, *, generator=None, out=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    rng = _rng(generator)
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        m = mean._data if isinstance(mean, Tensor) else mean
        s = std._data if isinstance(std, Tensor) else std
        shape = np.broadcast_shapes(np.shape(m), np.shape(s))
        ref = mean if isinstance(mean, Tensor) else std
        z = _sample_float("normal", rng, shape, ref.dtype)
        return _make((m + s * z).astype(ref._data.dtype))
    shape = creation_size((size,) if isinstance(size, int) else tuple(size), "normal")
    dt = _float_dtype(dtype, "normal_kernel_cpu")
    return _finish((mean + std * _sample_float("normal", rng, shape, dt)).astype(dt.np), requires_grad, device)


def poisson(input: Tensor, generator=None) -> Tensor:
    return _make(_rng(generator).poisson(input._data).astype(input._data.dtype))


# ---------------------------------------------------------------------------- in-place samplers
def _fill_random(t: Tensor, arr) -> Tensor:
    from .ops.inplace import check_inplace, write

    check_inplace(t)
    write(t, arr.astype(t._data.dtype, copy=False))
    return t


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0, *, generator=None) -> Tensor:
    u = _sample_float("uniform", _rng(generator), t._data.shape, t.dtype if t.is_floating_point() else _dtype.float64)
    return _fill_random(t, a + (b - a) * u)


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
    z = _sample_float("normal", _rng(generator), t._data.shape, t.dtype if t.is_floating_point() else _dtype.float64)
    return _fill_random(t, mean + std * z)


def bernoulli_(t: Tensor, p=0.5, *, generator=None) -> Tensor:
    probs = p._data if isinstance(p, Tensor) else p
    u = _rng(generator).random(t._data.shape)
    return _fill_random(t, (u < probs).astype(t._data.dtype))


def random_(t: Tensor, from_: int = 0, to: int | None = None, *, generator=None) -> Tensor:
    if to is None:
        to = 2**24 if t.is_floating_point() else int(np.iinfo(t._data.dtype).max) + 1
        if from_ != 0:
            from_, to = 0, from_
    return _fill_random(t, _rng(generator).integers(from_, to, size=t._data.shape))


def exponential_(t: Tensor, lambd: float = 1.0, *, generator=None) -> Tensor:
    return _fill_random(t, _rng(generator).exponential(1.0 / lambd, size=t._data.shape))


def log_normal_(t: Tensor, mean: float = 1.0, std: float = 2.0, *, generator=None) -> Tensor:
    return _fill_random(t, _rng(generator).lognormal(mean, std, size=t._data.shape))


def geometric_(t: Tensor, p: float, *, generator=None) -> Tensor:
    return _fill_random(t, _rng(generator).geometric(p, size=t._data.shape))


def cauchy_(t: Tensor, median: float = 0.0, sigma: float = 1.0, *, generator=None) -> Tensor:
    return _fill_random(t, median + sigma * _rng(generator).standard_cauchy(size=t._data.shape))


def fork_rng(devices=None, enabled: bool = True):
    """Context manager restoring the default generator's state on exit."""
    import contextlib

    @contextlib.contextmanager
    def _fork():
        state = get_rng_state()
        try:
            yield
        finally:
            if enabled:
                set_rng_state(state)

    return _fork()


_ = xp
