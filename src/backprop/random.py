"""Random numbers: ``Generator``, ``manual_seed``, sampling functions and the in-place samplers
used by ``nn.init``.

Each device has its own generators, and ``manual_seed`` seeds them all, as in torch:

* CPU: NumPy's PCG64. A seed gives the same numbers run to run, but not torch's (torch uses a
  Mersenne Twister).
* CUDA: Philox4x32-10, a counter-based generator, as torch's CUDA generator. Its state is
  ``(seed, offset)``: every draw runs the counters ``offset, offset + 1, ...`` through
  ``backend.kernels.philox_uint32`` and advances the offset, so a state saves and restores
  exactly (checkpointing replays the same dropout masks). Same seed, same CUDA run.

Float32 samples are drawn in float32 directly.
"""

from __future__ import annotations

import contextlib
import json
import math

import numpy as np

from . import _dtype
from ._backend import array_module, backend_for, backend_of
from ._device import as_device, target_device
from ._layout import check_layout
from ._tensor import Tensor, _make
from .ops._utils import creation_size, out_of_memory
from .ops.inplace import write_out

_DEFAULT_SEED = 67280421310721  # torch's initial default seed
_MASK64 = 0xFFFFFFFFFFFFFFFF


def _check_seed(seed) -> int:
    """A seed as an unsigned 64-bit value: torch's accepted range, negative seeds wrapped."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise RuntimeError(f"manual_seed expected a long, but got {type(seed).__name__}")
    seed = int(seed)
    if not -(2**63) <= seed <= _MASK64:
        raise ValueError(f"Overflow when unpacking long long: manual_seed expected a seed in [-2**63, 2**64 - 1], got {seed}")
    return seed & _MASK64


class PhiloxStream:
    """Philox4x32-10 numbers on one CUDA device, with ``numpy.random.Generator``'s methods (those
    the samplers use), returning arrays on that device. ``seed`` and ``offset`` are the state."""

    def __init__(self, backend, index: int, seed: int, offset: int = 0) -> None:
        self.backend, self.index = backend, index
        self.seed, self.offset = seed & _MASK64, offset

    def _words(self, n: int):
        """``n`` uint32 words; advances the offset by the counters used (4 words each)."""
        with self.backend.use(self.index):
            words = self.backend.kernels.philox_uint32(self.seed, self.offset, n)
        self.offset += (n + 3) // 4
        return words

    def _unit(self, n: int, dtype):
        """``n`` uniform numbers on [0, 1) of float32 (24 random bits) or float64 (53 bits)."""
        xp = self.backend.xp
        if np.dtype(dtype) == np.float32:
            return (self._words(n) >> 8).astype(np.float32) * np.float32(2.0**-24)
        w = self._words(2 * n).astype(np.uint64)
        bits = (w[0::2] << np.uint64(21)) ^ (w[1::2] >> np.uint64(11))
        return (bits & np.uint64((1 << 53) - 1)).astype(xp.float64) * 2.0**-53

    def random(self, size=None, dtype=np.float64):
        shape = _shape(size)
        return self._unit(math.prod(shape), dtype).reshape(shape)

    def standard_normal(self, size=None, dtype=np.float64):
        """Box-Muller: each pair of uniforms gives two normal numbers."""
        xp = self.backend.xp
        shape = _shape(size)
        n = math.prod(shape)
        half = (n + 1) // 2
        u = self._unit(2 * half, dtype)
        radius = xp.sqrt(-2.0 * xp.log1p(-u[:half]))  # 1 - u in (0, 1]: never log(0)
        angle = u[half:] * (2 * math.pi)
        z = xp.concatenate([radius * xp.cos(angle), radius * xp.sin(angle)])[:n]
        return z.astype(dtype, copy=False).reshape(shape)

    def integers(self, low, high=None, size=None, dtype=np.int64):
        """Uniform integers on [low, high) from 64 random bits (bias below 2**-40 for spans < 2**24)."""
        if high is None:
            low, high = 0, low
        shape = _shape(size)
        n = math.prod(shape)
        w = self._words(2 * n).astype(np.uint64)
        bits = (w[0::2] << np.uint64(32)) | w[1::2]
        span = np.uint64(int(high) - int(low))
        return ((bits % span).astype(np.int64) + int(low)).astype(dtype).reshape(shape)

    def dropout_mask(self, shape: tuple, p: float, dtype):
        """Dropout's scaled keep-mask, drawn and thresholded in one kernel."""
        n = math.prod(shape)
        with self.backend.use(self.index):
            mask = self.backend.kernels.dropout_mask(self.seed, self.offset, tuple(shape), p, np.dtype(dtype))
        self.offset += (n + 3) // 4
        return mask

    def exponential(self, scale=1.0, size=None):
        return -scale * self.backend.xp.log1p(-self.random(size))

    def lognormal(self, mean=0.0, sigma=1.0, size=None):
        return self.backend.xp.exp(mean + sigma * self.standard_normal(size))

    def geometric(self, p, size=None):
        xp = self.backend.xp
        return xp.ceil(xp.log1p(-self.random(size)) / math.log1p(-p)).clip(1, None).astype(np.int64)

    def standard_cauchy(self, size=None):
        return self.backend.xp.tan(math.pi * (self.random(size) - 0.5))

    def permutation(self, n: int):
        return self.backend.xp.argsort(self.random(int(n)), kind="stable")

    def poisson(self, lam):
        """Drawn on the host from a NumPy generator keyed by this stream's state (a rare op)."""
        host = np.random.default_rng([self.seed, self.offset])
        self.offset += 1
        return self.backend.asarray(host.poisson(self.backend.to_host(lam)), index=self.index)


def _shape(size) -> tuple:
    if size is None:
        return ()
    return (int(size),) if isinstance(size, (int, np.integer)) else tuple(int(s) for s in size)


class Generator:
    """A random-number generator (torch.Generator) of one device: PCG64 on the CPU, Philox on CUDA."""

    def __init__(self, device="cpu"):
        d = as_device(device)
        if d.type == "cuda":
            try:
                backend = backend_for(d)
            except (AssertionError, RuntimeError) as exc:  # torch's words for a build without CUDA
                raise RuntimeError(f"Cannot get CUDA generator without ATen_cuda library ({exc})") from None
            d = as_device(f"cuda:{d.index if d.index is not None else backend.current_device()}")
        elif d.type != "cpu":
            raise RuntimeError(f"backprop has no random generator for device type {d.type}")
        self.device = d
        self.manual_seed(_DEFAULT_SEED)

    def manual_seed(self, seed: int) -> Generator:
        """Seed this generator. As torch: any integer in [-2**63, 2**64 - 1]; a negative seed
        stands for its 64-bit two's complement (``initial_seed()`` reports that)."""
        seed = _check_seed(seed)
        self._initial_seed = seed
        if self.device.type == "cpu":
            self.rng = np.random.Generator(np.random.PCG64(seed & _MASK64))
        else:
            self.rng = PhiloxStream(backend_for(self.device), self.device.index, seed)
        return self

    def seed(self) -> int:
        seed = int(np.random.SeedSequence().entropy) & _MASK64
        self.manual_seed(seed)
        return seed

    def initial_seed(self) -> int:
        return self._initial_seed

    def get_state(self) -> Tensor:
        """The generator's state as a uint8 CPU tensor (JSON bytes): saveable with ``backprop.save``."""
        if self.device.type == "cpu":
            state = {"seed": self._initial_seed, "bit_generator": self.rng.bit_generator.state}
        else:
            state = {"seed": self._initial_seed, "philox": [self.rng.seed, self.rng.offset]}
        raw = json.dumps(state, default=int).encode()
        return _make(np.frombuffer(raw, dtype=np.uint8).copy())

    def set_state(self, new_state: Tensor) -> Generator:
        data = new_state._data if isinstance(new_state, Tensor) else np.asarray(new_state)
        try:
            state = json.loads(bytes(backend_of(data).to_host(data).astype(np.uint8)).decode())
            seed = int(state["seed"])
            if self.device.type == "cpu":
                rng = np.random.Generator(np.random.PCG64())
                rng.bit_generator.state = state["bit_generator"]
            else:
                key, offset = state["philox"]
                rng = PhiloxStream(backend_for(self.device), self.device.index, int(key), int(offset))
        except (ValueError, KeyError, TypeError) as exc:
            raise RuntimeError(f"Generator.set_state: invalid RNG state ({exc})") from None
        self._initial_seed, self.rng = seed, rng
        return self

    def clone_state(self) -> Generator:
        g = Generator(self.device)
        g.set_state(self.get_state())
        return g


default_generator = Generator()
_cuda_generators: dict[int, Generator] = {}  # per CUDA device index, created on first use
_cuda_seed = [None]  # the last manual_seed, for CUDA generators created after it


def cuda_generator(index: int | None = None) -> Generator:
    """The default generator of CUDA device ``index`` (None: the current device)."""
    if index is None:
        index = backend_for("cuda").current_device()
    g = _cuda_generators.get(index)
    if g is None:
        g = _cuda_generators[index] = Generator(f"cuda:{index}")
        if _cuda_seed[0] is not None:
            g.manual_seed(_cuda_seed[0])
    return g


def manual_seed(seed: int) -> Generator:
    """Seed the default generator of every device (CUDA ones also when created later).
    ``int(seed)`` first, as torch: floats and numeric strings are truncated to an integer."""
    seed = _check_seed(int(seed))
    _cuda_seed[0] = seed
    for g in _cuda_generators.values():
        g.manual_seed(seed)
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    return default_generator.get_state()


def set_rng_state(new_state: Tensor) -> None:
    default_generator.set_state(new_state)


def _rng(generator: Generator | None, device=None):
    """The random stream to draw from: ``generator``'s, else the default one of ``device``
    (a device, or None: the CPU)."""
    if generator is not None:
        kind = "cpu" if device is None else as_device(device).type
        if kind != generator.device.type:
            raise RuntimeError(f"Expected a '{kind}' device type for generator but found '{generator.device.type}'")
        return generator.rng
    if device is None:
        return default_generator.rng
    d = as_device(device)
    if d.type == "cpu":
        return default_generator.rng
    return cuda_generator(d.index).rng


def _rng_for(t: Tensor, generator: Generator | None):
    """The stream for sampling into (or like) tensor ``t``: its device's default unless given."""
    if generator is None and type(t._data) is np.ndarray:
        return default_generator.rng
    return _rng(generator, t.device)


_TORCH_TYPE_NAMES = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool",
                     "float16": "Half", "float32": "Float", "float64": "Double", "bfloat16": "BFloat16",
                     "complex64": "ComplexFloat", "complex128": "ComplexDouble"}


def _float_dtype(dtype, kernel: str = "check_uniform_bounds"):
    dt = _dtype.to_dtype(dtype) if dtype is not None else _dtype._default_float
    if not dt.is_floating_point and not dt.is_complex:  # torch's kernels have no integer version
        raise NotImplementedError(f'"{kernel}" not implemented for \'{_TORCH_TYPE_NAMES[dt.name]}\'')
    return dt


def _sample_float(kind: str, rng, shape, dt):
    if dt.is_complex:  # torch: independent parts, each of variance 1/2 for normal samples
        parts = _sample_float(kind, rng, tuple(shape) + (2,), dt.to_real())
        if kind != "uniform":
            parts = parts * 0.7071067811865476
        return parts.view(dt.np)[..., 0]
    native = dt.np if dt.np in (np.float32, np.float64) else np.float32
    if kind == "uniform" and dt.np == np.float16:
        # multiples of 2**-11 (float16's mantissa): exact, so rounding can never reach 1.0
        return (rng.integers(0, 2**11, shape) * 2.0**-11).astype(np.float16)
    try:
        if kind == "uniform":
            arr = rng.random(shape, dtype=native)
        else:
            arr = rng.standard_normal(shape, dtype=native)
    except MemoryError:  # torch's RuntimeError (OutOfMemoryError), not NumPy's MemoryError
        raise out_of_memory(shape, native) from None
    return arr.astype(dt.np, copy=False)


def _finish(arr, requires_grad: bool, out=None) -> Tensor:
    if out is not None:
        out._data = arr
        return out
    t = _make(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _target(device, out=None):
    """The device a sampler draws on: ``out``'s, else ``device``, else the default device."""
    if out is not None:
        return out.device
    return target_device(device)


def rand(*size, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Uniform samples on [0, 1)."""
    rng = _rng(generator, _target(device, out))
    arr = _sample_float("uniform", rng, creation_size(size, "rand", varargs=True), _float_dtype(dtype))
    return _finish(arr, requires_grad, out)


def randn(*size, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Standard normal samples."""
    rng = _rng(generator, _target(device, out))
    arr = _sample_float("normal", rng, creation_size(size, "randn", varargs=True), _float_dtype(dtype, "normal_kernel_cpu"))
    return _finish(arr, requires_grad, out)


def rand_like(input: Tensor, *, dtype=None, layout=None, device=None, requires_grad: bool = False, memory_format=None) -> Tensor:
    return rand(input._data.shape, dtype=dtype or input.dtype, requires_grad=requires_grad, device=device or input.device)


def randn_like(input: Tensor, *, dtype=None, layout=None, device=None, requires_grad: bool = False, memory_format=None) -> Tensor:
    return randn(input._data.shape, dtype=dtype or input.dtype, requires_grad=requires_grad, device=device or input.device)


def randint(low, high=None, size=None, *, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False) -> Tensor:
    """Integers uniform on [low, high); ``randint(high, size)`` uses low=0."""
    if size is None:
        if high is None:
            raise TypeError("randint() missing required argument 'size'")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    dt = _dtype.to_dtype(dtype) if dtype is not None else _dtype.int64
    _check_integer_range(dt, low, high)
    shape = creation_size((size,) if isinstance(size, int) else tuple(size), "randint")
    arr = _rng(generator, _target(device, out)).integers(low, high, size=shape, dtype=np.int64).astype(dt.np)
    return _finish(arr, requires_grad, out)


def randint_like(input: Tensor, low=0, high=None, *, dtype=None, layout=None, device=None, requires_grad: bool = False, memory_format=None) -> Tensor:
    if high is None:
        low, high = 0, low
    return randint(low, high, input._data.shape, dtype=dtype or input.dtype, device=device or input.device)


def randperm(n: int, *, generator=None, out=None, dtype=None, layout=None, device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A random permutation of 0..n-1."""
    if isinstance(n, Tensor):
        n = n.item()
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"randperm(): argument 'n' (position 1) must be int, not {type(n).__name__}")
    dt = _dtype.to_dtype(dtype) if dtype is not None else _dtype.int64
    if n < 0:
        raise RuntimeError(f"Trying to create tensor with negative dimension {n}: [{n}]")
    arr = _rng(generator, _target(device, out)).permutation(int(n)).astype(dt.np)
    return _finish(arr, requires_grad, out)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator=None, out=None) -> Tensor:
    """Sample category indices with probability proportional to the (non-negative) weights in ``input``."""
    if isinstance(out, Tensor) and out.dtype is not _dtype.int64:
        raise RuntimeError(f"multinomial expects Long tensor out, got: {_TORCH_TYPE_NAMES[out.dtype.name]}")
    probs = input._data
    xp = array_module(probs)
    if probs.dtype.kind == "V":  # bfloat16 weights: sampled through float32
        probs = probs.astype(np.float32)
    if probs.dtype.kind != "f":
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: {_TORCH_TYPE_NAMES[input.dtype.name]}")
    if probs.ndim not in (1, 2):
        raise RuntimeError(f"prob_dist must be 1 or 2 dim, got {probs.ndim}")
    if not replacement and num_samples > probs.shape[-1]:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    if probs.shape[-1] == 0:
        raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the operation has no identity.")
    p2 = probs.reshape(-1, probs.shape[-1]).astype(np.float64)
    sums = p2.sum(axis=1, keepdims=True)
    # One check on the host for the whole batch (torch checks too).
    invalid, empty = (bool(v) for v in xp.stack([~xp.isfinite(p2).all() | (p2 < 0).any(), (sums <= 0).any()]).tolist())
    if invalid:
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if empty:
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    rows, n_cat = p2.shape
    if not replacement and num_samples > n_cat:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    if num_samples <= 0:
        raise RuntimeError(f"number of samples must be positive, got {num_samples}")
    rng = _rng_for(input, generator)
    if replacement:
        # Each row's CDF shifted by its row number: one sorted array, one searchsorted for all rows.
        cdf = xp.cumsum(p2 / sums, axis=1)
        cdf[:, -1] = 1.0
        shift = xp.arange(rows, dtype=np.float64)[:, None]
        u = rng.random((rows, num_samples))
        idx = xp.searchsorted((cdf + shift).ravel(), (u + shift).ravel(), side="right").reshape(rows, num_samples)
        idx = xp.minimum(idx - shift.astype(np.int64) * n_cat, n_cat - 1)
    else:
        # Gumbel-top-k: equivalent to drawing without replacement, one category at a time.
        with backend_of(p2).errstate(divide="ignore"):
            keys = xp.log(p2) - xp.log(-xp.log(rng.random(p2.shape)))
        idx = xp.argsort(-keys, axis=1, kind="stable")[:, :num_samples]
    idx = idx.astype(np.int64)
    if probs.ndim == 1:
        idx = idx[0]
    return write_out(_make(idx), out, "multinomial", (input,))


def bernoulli(input: Tensor, p=None, *, generator=None, out=None) -> Tensor:
    """1 with probability ``input`` (or ``p``), else 0, in ``input``'s dtype."""
    data = input._data
    if data.dtype.kind not in "fV":  # V: ml_dtypes' bfloat16
        raise NotImplementedError(f'"bernoulli_tensor_cpu_p_" not implemented for \'{_TORCH_TYPE_NAMES[input.dtype.name]}\'')
    if p is None:
        if backend_of(data).checks_values and not bool(((data >= 0) & (data <= 1)).all()):
            raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
        probs = data
    else:
        if not 0 <= p <= 1:
            raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
        probs = p
    u = _rng_for(input, generator).random(data.shape, dtype=np.float32 if data.dtype != np.float64 else np.float64)
    # out=: torch fills ``out`` in its own dtype (no cast check), after the overlap check
    result = _make((u < probs).astype(out._data.dtype if isinstance(out, Tensor) else data.dtype))
    return write_out(result, out, "bernoulli", (input,))


def normal(mean, std=1.0, size=None, *, generator=None, out=None, dtype=None, layout=None, device=None, pin_memory: bool = False,
           requires_grad: bool = False) -> Tensor:
    check_layout(layout, "normal")
    _check_std(std)
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        ref = mean if isinstance(mean, Tensor) else std
        m = mean._data if isinstance(mean, Tensor) else mean
        s = std._data if isinstance(std, Tensor) else std
        shape = np.broadcast_shapes(np.shape(m), np.shape(s))
        z = _sample_float("normal", _rng_for(ref, generator), shape, ref.dtype)
        return _make((m + s * z).astype(ref._data.dtype))
    shape = creation_size((size,) if isinstance(size, int) else tuple(size), "normal")
    dt = _float_dtype(dtype, "normal_kernel_cpu")
    z = _sample_float("normal", _rng(generator, _target(device, out)), shape, dt)
    return _finish((mean + std * z).astype(dt.np), requires_grad, out)


def poisson(input: Tensor, generator=None) -> Tensor:
    data = input._data
    if backend_of(data).checks_values and data.size and not bool((data >= 0).all()):  # NaN too
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
    return _make(_rng_for(input, generator).poisson(input._data).astype(input._data.dtype))


# ---------------------------------------------------------------------------- parameter checks (torch's)
# the C++ type torch names when a bound does not fit a dtype
_C_NAMES = {"float16": "c10::Half", "bfloat16": "c10::BFloat16", "float32": "float", "float64": "double", "int8": "signed char",
            "uint8": "unsigned char", "int16": "short int", "int32": "int", "int64": "long int", "bool": "bool"}  # fmt: skip


def _num(v) -> str:
    """A number as torch's C++ prints it (``-1.5``, ``-1``, ``3e+38``)."""
    return f"{v:g}" if isinstance(v, float) else str(v)


def _check_integer_range(dt, from_: int, to: int, op: str = "random_") -> None:
    """``from`` and ``to - 1`` must fit an integer dtype (torch: "to - 1 is out of bounds for unsigned char")."""
    if from_ >= to:
        raise RuntimeError(f"{op} expects 'from' to be less than 'to', but got from={from_} >= to={to}")
    if dt.np.kind in "iu":
        info = np.iinfo(dt.np)
        if not info.min <= from_ <= info.max:
            raise RuntimeError(f"from is out of bounds for {_C_NAMES[dt.np.name]}")
        if not info.min <= to - 1 <= info.max:
            raise RuntimeError(f"to - 1 is out of bounds for {_C_NAMES[dt.np.name]}")


def _check_uniform_bounds(t: Tensor, a: float, b: float) -> None:
    """torch's uniform_ checks: a floating dtype, finite bounds within it, from <= to, to - from finite."""
    _float_dtype(t.dtype, "check_uniform_bounds")
    name = t._data.dtype.name
    limit = float(_dtype.finfo(t.dtype).max)
    for label, v in (("from", a), ("to", b)):
        if not -limit <= v <= limit:  # also NaN
            raise RuntimeError(f"{label} is out of bounds for {_C_NAMES.get(name, name)}")
    if a > b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={_num(a)} > to={_num(b)}")
    if b - a > limit:
        kind = {"float16": "Half", "bfloat16": "BFloat16", "float32": "Float", "float64": "Double"}.get(name, name)
        raise RuntimeError(
            f"uniform_ expects to-from <= std::numeric_limits<{kind}>::max(), but found to={_num(b)} and from={_num(a)} which "
            "result in to-from to exceed the limit"
        )


def _check_std(std) -> None:
    """normal's ``std``: a number must be >= 0; a tensor's elements too (read on the host, CPU only)."""
    if isinstance(std, Tensor):
        if backend_of(std._data).checks_values and std._data.size and bool((std._data < 0).any()):
            raise RuntimeError("normal expects all elements of std >= 0.0")
    elif std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {_num(std)}")


# ---------------------------------------------------------------------------- in-place samplers
def _fill_random(t: Tensor, arr) -> Tensor:
    from .ops.inplace import check_inplace, write

    check_inplace(t)
    write(t, arr.astype(t._data.dtype, copy=False))
    return t


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0, *, generator=None) -> Tensor:
    _check_uniform_bounds(t, a, b)
    u = _sample_float("uniform", _rng_for(t, generator), t._data.shape, t.dtype if t.is_floating_point() else _dtype.float64)
    return _fill_random(t, a + (b - a) * u)


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
    _float_dtype(t.dtype, "normal_kernel_cpu")
    _check_std(std)
    z = _sample_float("normal", _rng_for(t, generator), t._data.shape, t.dtype)
    return _fill_random(t, mean + std * z)


def bernoulli_(t: Tensor, p=0.5, *, generator=None) -> Tensor:
    if isinstance(p, Tensor):
        if backend_of(p._data).checks_values and p._data.size and not bool(((p._data >= 0) & (p._data <= 1)).all()):
            raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
    elif not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={_num(p)}")
    probs = p._data if isinstance(p, Tensor) else p
    u = _rng_for(t, generator).random(t._data.shape)
    return _fill_random(t, (u < probs).astype(t._data.dtype))


def random_(t: Tensor, from_: int | None = None, to: int | None = None, *, generator=None) -> Tensor:
    """Integers on [from, to); ``random_(to)`` draws on [0, to), ``random_()`` on the dtype's range
    (floats: [0, 2**mantissa bits])."""
    if to is None:
        if from_ is None:
            from_, to = 0, (2**24 if t.is_floating_point() else int(np.iinfo(t._data.dtype).max) + 1)
        else:
            from_, to = 0, from_
    elif from_ is None:
        from_ = 0
    _check_integer_range(t.dtype, from_, to)
    return _fill_random(t, _rng_for(t, generator).integers(from_, to, size=t._data.shape))


def exponential_(t: Tensor, lambd: float = 1.0, *, generator=None) -> Tensor:
    if not lambd > 0.0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
    return _fill_random(t, _rng_for(t, generator).exponential(1.0 / lambd, size=t._data.shape))


def log_normal_(t: Tensor, mean: float = 1.0, std: float = 2.0, *, generator=None) -> Tensor:
    if not std > 0.0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
    return _fill_random(t, _rng_for(t, generator).lognormal(mean, std, size=t._data.shape))


def geometric_(t: Tensor, p: float, *, generator=None) -> Tensor:
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
    return _fill_random(t, _rng_for(t, generator).geometric(p, size=t._data.shape))


def cauchy_(t: Tensor, median: float = 0.0, sigma: float = 1.0, *, generator=None) -> Tensor:
    if not sigma > 0.0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma}")
    return _fill_random(t, median + sigma * _rng_for(t, generator).standard_cauchy(size=t._data.shape))


def fork_rng(devices=None, enabled: bool = True, device_type: str = "cuda"):
    """Context manager restoring the default generators' states on exit: the CPU's, and those of
    the CUDA devices in ``devices`` (default: every CUDA generator in use)."""
    @contextlib.contextmanager
    def _fork():
        if not enabled:
            yield
            return
        indices = list(_cuda_generators) if devices is None else [as_device(d).index or 0 if not isinstance(d, int) else d for d in devices]
        cuda_states = {i: cuda_generator(i).get_state() for i in indices}
        state = get_rng_state()
        try:
            yield
        finally:
            set_rng_state(state)
            for i, s in cuda_states.items():
                cuda_generator(i).set_state(s)

    return _fork()
