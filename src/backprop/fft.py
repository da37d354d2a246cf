"""backprop.fft: torch.fft's discrete Fourier transforms, on the array module's FFT (NumPy's
pocketfft on the CPU, cuFFT through CuPy on a GPU).

Four primitives carry every transform: ``_Resize`` (zero-pad or cut the signal to ``n``/``s``),
``_C2C`` (fftn/ifftn), ``_R2C`` (rfftn) and ``_C2R`` (irfftn). A transform is linear, so its
gradient is its adjoint, itself a transform: fftn's is ifftn with the "dual" normalization
(``backward`` <-> ``forward``, ``ortho`` stays), rfftn's is ifftn of the zero-extended
half-spectrum (real part), irfftn's is rfftn with the doubled interior bins (torch's formulas).
The Hermitian transforms are compositions: ``hfftn(x) = irfftn(conj(x))`` and
``ihfftn(x) = conj(rfftn(x))`` with the dual normalization, as in NumPy.
"""

from __future__ import annotations

import numpy

from . import _dtype
from ._autocast import autocast_op
from ._backend import array_module
from ._tensor import Tensor, _make
from .autograd.function import Function
from .ops import _backward as B
from .ops._utils import normalize_dim
from .ops.inplace import write_out

__all__ = [
    "fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "rfft2", "irfft2", "hfft2", "ihfft2",
    "fftn", "ifftn", "rfftn", "irfftn", "hfftn", "ihfftn", "fftshift", "ifftshift", "fftfreq", "rfftfreq",
]

_DUAL = {"backward": "forward", "forward": "backward", "ortho": "ortho"}


# ---------------------------------------------------------------------------- primitives
def _resize_array(arr, axes: tuple, sizes: tuple):
    """``arr`` cut or zero-padded (at the end) to ``sizes`` along ``axes``."""
    cut = [slice(None)] * arr.ndim
    pad = [(0, 0)] * arr.ndim
    for ax, n in zip(axes, sizes):
        have = arr.shape[ax]
        if n < have:
            cut[ax] = slice(0, n)
        elif n > have:
            pad[ax] = (0, n - have)
    arr = arr[tuple(cut)]
    if any(p != (0, 0) for p in pad):
        arr = array_module(arr).pad(arr, pad)
    return arr


class _Resize(Function):
    @staticmethod
    def forward(ctx, x, axes, sizes):
        ctx.axes = axes
        return _resize_array(x._data, axes, sizes)

    @staticmethod
    def backward(ctx, grad):
        shape = ctx.input_shape(0)
        sizes = tuple(shape[a] for a in ctx.axes)
        if isinstance(grad, Tensor):
            return _Resize.apply(grad, ctx.axes, sizes), None, None
        return _resize_array(grad, ctx.axes, sizes), None, None


def _resize(x: Tensor, axes: tuple, sizes: tuple) -> Tensor:
    if all(x._data.shape[a] == n for a, n in zip(axes, sizes)):
        return x
    return _Resize.apply(x, axes, sizes)


class _C2C(Function):
    @staticmethod
    def forward(ctx, x, axes, norm, inverse):
        ctx.axes, ctx.norm, ctx.inverse = axes, norm, inverse
        fft = array_module(x._data).fft
        return (fft.ifftn if inverse else fft.fftn)(x._data, axes=axes, norm=norm)

    @staticmethod
    def backward(ctx, grad):  # the adjoint: the opposite transform, dual normalization
        if isinstance(grad, Tensor):
            return _C2C.apply(grad, ctx.axes, _DUAL[ctx.norm], not ctx.inverse), None, None, None
        fft = array_module(grad).fft
        return (fft.fftn if ctx.inverse else fft.ifftn)(grad, axes=ctx.axes, norm=_DUAL[ctx.norm]), None, None, None


class _R2C(Function):
    @staticmethod
    def forward(ctx, x, axes, norm):
        ctx.axes, ctx.norm = axes, norm
        return array_module(x._data).fft.rfftn(x._data, axes=axes, norm=norm)

    @staticmethod
    def backward(ctx, grad):
        # rfftn is fftn's first n//2+1 bins of the last axis: the adjoint is ifftn (dual norm)
        # of the half-spectrum zero-extended to the full length; the input is real.
        axes = ctx.axes
        n = ctx.input_shape(0)[axes[-1]]
        if isinstance(grad, Tensor):
            full = _resize(grad, (axes[-1],), (n,))
            return B.real(_C2C.apply(full, axes, _DUAL[ctx.norm], True)), None, None
        full = _resize_array(grad, (axes[-1],), (n,))
        return array_module(grad).fft.ifftn(full, axes=axes, norm=_DUAL[ctx.norm]).real, None, None


class _C2R(Function):
    @staticmethod
    def forward(ctx, x, axes, n_last, norm):
        ctx.axes, ctx.norm = axes, norm
        arr = x._data
        s = tuple(arr.shape[a] for a in axes[:-1]) + (n_last,)
        return array_module(arr).fft.irfftn(arr, s=s, axes=axes, norm=norm)

    @staticmethod
    def backward(ctx, grad):
        # torch's: rfftn of the gradient (dual norm), the bins standing for two (k and n-k) doubled.
        axes = ctx.axes
        n = grad.shape[axes[-1]]
        m = n // 2 + 1
        twice = n - m  # bins 1..twice have a conjugate partner in the full spectrum
        weights = numpy.ones(m, dtype=numpy.float32)
        weights[1 : 1 + twice] = 2
        shape = [1] * grad.ndim
        shape[axes[-1]] = m
        if isinstance(grad, Tensor):
            g = _R2C.apply(grad, axes, _DUAL[ctx.norm])
            w = _make(array_module(grad._data).asarray(weights.reshape(shape), dtype=grad._data.dtype))
            return g * w, None, None, None
        xp = array_module(grad)
        g = xp.fft.rfftn(grad, axes=axes, norm=_DUAL[ctx.norm])
        return g * xp.asarray(weights.reshape(shape), dtype=grad.dtype), None, None, None


# ---------------------------------------------------------------------------- arguments
def _check_norm(norm) -> str:
    if norm is None:
        return "backward"
    if norm not in _DUAL:
        raise RuntimeError(f'Invalid normalization mode: "{norm}"')
    return norm


def _check_input(input, op: str) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if input._data.dtype == numpy.float16 or input._data.dtype.kind == "V":
        raise RuntimeError(f"Unsupported dtype {'Half' if input._data.dtype == numpy.float16 else 'BFloat16'}")


def _as_complex(x: Tensor) -> Tensor:
    kind = x._data.dtype.kind
    if kind == "c":
        return x
    if kind != "f":  # integers and bools: the default complex dtype
        return _make(x._data.astype(_dtype._default_complex.np))
    return x.to(_dtype.from_numpy_dtype(x._data.dtype).to_complex())


def _as_real(x: Tensor, op: str) -> Tensor:
    kind = x._data.dtype.kind
    if kind == "c":
        raise RuntimeError(f"{op} expects a real input tensor, but got {_complex_name(x)}")
    if kind != "f":
        return _make(x._data.astype(_dtype._default_float.np))
    return x


def _complex_name(x: Tensor) -> str:
    return "ComplexFloat" if x._data.dtype == numpy.complex64 else "ComplexDouble"


def _check_sizes(sizes) -> tuple:
    for n in sizes:
        if n < 1:
            raise RuntimeError(f"Invalid number of data points ({n}) specified")
    return tuple(sizes)


def _one_dim(input: Tensor, n, dim: int) -> tuple:
    """(axes, sizes) of a 1-D transform; ``sizes`` is None without ``n``."""
    if input._data.ndim == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    axis = normalize_dim(dim, input._data.ndim)
    return (axis,), (None if n is None else _check_sizes((int(n),)))


def _n_dims(input: Tensor, s, dim) -> tuple:
    """(axes, sizes) of an n-D transform with torch's defaults: no ``dim`` means the last
    ``len(s)`` dims (all dims without ``s``); ``-1`` in ``s`` keeps that dim's size."""
    ndim = input._data.ndim
    if isinstance(dim, int):
        dim = (dim,)
    if isinstance(s, int):
        s = (s,)
    if dim is None:
        if s is None:
            axes = tuple(range(ndim))
        else:
            if len(s) > ndim:
                raise RuntimeError(f"Got shape with {len(s)} values but input tensor only has {ndim} dimensions.")
            axes = tuple(range(ndim - len(s), ndim))
    else:
        if ndim == 0 and len(dim):
            raise IndexError(f"Dimension specified as {dim[0]} but tensor has no dimensions")
        axes = tuple(normalize_dim(d, ndim) for d in dim)
        if len(set(axes)) != len(axes):
            raise RuntimeError("FFT dims must be unique")
        if s is not None and len(s) != len(axes):
            raise RuntimeError("When given, dim and shape arguments must have the same length")
    if s is None:
        return axes, None
    sizes = tuple(input._data.shape[a] if int(n) == -1 else int(n) for a, n in zip(axes, s))
    return axes, _check_sizes(sizes)


def _out(result: Tensor, out) -> Tensor:
    return write_out(result, out, "fft")


# ---------------------------------------------------------------------------- transforms
def _c2c(input, axes, sizes, norm, inverse: bool, out) -> Tensor:
    norm = _check_norm(norm)
    x = _as_complex(input)
    if sizes is not None:
        x = _resize(x, axes, sizes)
    if not axes:
        return _out(x.clone() if x is input else x, out)
    return _out(_C2C.apply(x, axes, norm, inverse), out)


def _r2c(input, axes, sizes, norm, op: str, out) -> Tensor:
    norm = _check_norm(norm)
    x = _as_real(input, op)
    if sizes is not None:
        x = _resize(x, axes, sizes)
    if not axes:
        raise RuntimeError(f"{op} must transform at least one axis")
    return _out(_R2C.apply(x, axes, norm), out)


def _c2r(input, axes, sizes, norm, op: str, out) -> Tensor:
    norm = _check_norm(norm)
    if not axes:
        raise RuntimeError(f"{op} must transform at least one axis")
    x = _as_complex(input)
    last = axes[-1]
    n_last = sizes[-1] if sizes is not None else 2 * (x._data.shape[last] - 1)
    _check_sizes((n_last,))
    target = tuple(x._data.shape[a] for a in axes[:-1]) if sizes is None else tuple(sizes[:-1])
    x = _resize(x, axes, target + (n_last // 2 + 1,))
    return _out(_C2R.apply(x, axes, n_last, norm), out)


@autocast_op("fft")
def fft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None, *, out=None) -> Tensor:
    """The 1-D discrete Fourier transform (complex output; ``n`` pads or trims the signal)."""
    _check_input(input, "fft")
    axes, sizes = _one_dim(input, n, dim)
    return _c2c(input, axes, sizes, norm, False, out)


@autocast_op("ifft")
def ifft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None, *, out=None) -> Tensor:
    """The 1-D inverse discrete Fourier transform."""
    _check_input(input, "ifft")
    axes, sizes = _one_dim(input, n, dim)
    return _c2c(input, axes, sizes, norm, True, out)


@autocast_op("rfft")
def rfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None, *, out=None) -> Tensor:
    """The 1-D FFT of a real signal: the ``n // 2 + 1`` non-negative frequencies."""
    _check_input(input, "rfft")
    axes, sizes = _one_dim(input, n, dim)
    return _r2c(input, axes, sizes, norm, "rfft", out)


@autocast_op("irfft")
def irfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None, *, out=None) -> Tensor:
    """The inverse of ``rfft``: a real signal of length ``n`` (default ``2 * (m - 1)``)."""
    _check_input(input, "irfft")
    axes, sizes = _one_dim(input, n, dim)
    return _c2r(input, axes, sizes, norm, "irfft", out)


@autocast_op("hfft")
def hfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None, *, out=None) -> Tensor:
    """The FFT of a Hermitian-symmetric signal given by its first half: a real spectrum."""
    _check_input(input, "hfft")
    axes, sizes = _one_dim(input, n, dim)
    return _c2r(B.conj(_as_complex(input)), axes, sizes, _DUAL[_check_norm(norm)], "hfft", out)


@autocast_op("ihfft")
def ihfft(input: Tensor, n: int | None = None, dim: int = -1, norm: str | None = None, *, out=None) -> Tensor:
    """The inverse of ``hfft``: the one-sided inverse FFT of a real signal."""
    _check_input(input, "ihfft")
    axes, sizes = _one_dim(input, n, dim)
    return _out(B.conj(_r2c(input, axes, sizes, _DUAL[_check_norm(norm)], "ihfft", None)), out)


@autocast_op("fftn")
def fftn(input: Tensor, s=None, dim=None, norm: str | None = None, *, out=None) -> Tensor:
    """The n-D discrete Fourier transform over ``dim`` (all dims by default)."""
    _check_input(input, "fftn")
    axes, sizes = _n_dims(input, s, dim)
    return _c2c(input, axes, sizes, norm, False, out)


@autocast_op("ifftn")
def ifftn(input: Tensor, s=None, dim=None, norm: str | None = None, *, out=None) -> Tensor:
    """The n-D inverse discrete Fourier transform."""
    _check_input(input, "ifftn")
    axes, sizes = _n_dims(input, s, dim)
    return _c2c(input, axes, sizes, norm, True, out)


@autocast_op("rfftn")
def rfftn(input: Tensor, s=None, dim=None, norm: str | None = None, *, out=None) -> Tensor:
    """The n-D FFT of a real signal (the last transformed dim one-sided)."""
    _check_input(input, "rfftn")
    axes, sizes = _n_dims(input, s, dim)
    return _r2c(input, axes, sizes, norm, "rfftn", out)


@autocast_op("irfftn")
def irfftn(input: Tensor, s=None, dim=None, norm: str | None = None, *, out=None) -> Tensor:
    """The inverse of ``rfftn``: a real signal."""
    _check_input(input, "irfftn")
    axes, sizes = _n_dims(input, s, dim)
    return _c2r(input, axes, sizes, norm, "irfftn", out)


def hfftn(input: Tensor, s=None, dim=None, norm: str | None = None, *, out=None) -> Tensor:
    """The n-D FFT of a Hermitian-symmetric signal given by its one-sided half (real output)."""
    _check_input(input, "hfftn")
    axes, sizes = _n_dims(input, s, dim)
    return _c2r(B.conj(_as_complex(input)), axes, sizes, _DUAL[_check_norm(norm)], "hfftn", out)


def ihfftn(input: Tensor, s=None, dim=None, norm: str | None = None, *, out=None) -> Tensor:
    """The inverse of ``hfftn``: the one-sided n-D inverse FFT of a real signal."""
    _check_input(input, "ihfftn")
    axes, sizes = _n_dims(input, s, dim)
    return _out(B.conj(_r2c(input, axes, sizes, _DUAL[_check_norm(norm)], "ihfftn", None)), out)


@autocast_op("fft2")
def fft2(input: Tensor, s=None, dim=(-2, -1), norm: str | None = None, *, out=None) -> Tensor:
    """``fftn`` over two dims (the last two by default)."""
    return fftn(input, s, dim, norm, out=out)


@autocast_op("ifft2")
def ifft2(input: Tensor, s=None, dim=(-2, -1), norm: str | None = None, *, out=None) -> Tensor:
    return ifftn(input, s, dim, norm, out=out)


@autocast_op("rfft2")
def rfft2(input: Tensor, s=None, dim=(-2, -1), norm: str | None = None, *, out=None) -> Tensor:
    return rfftn(input, s, dim, norm, out=out)


@autocast_op("irfft2")
def irfft2(input: Tensor, s=None, dim=(-2, -1), norm: str | None = None, *, out=None) -> Tensor:
    return irfftn(input, s, dim, norm, out=out)


def hfft2(input: Tensor, s=None, dim=(-2, -1), norm: str | None = None, *, out=None) -> Tensor:
    return hfftn(input, s, dim, norm, out=out)


def ihfft2(input: Tensor, s=None, dim=(-2, -1), norm: str | None = None, *, out=None) -> Tensor:
    return ihfftn(input, s, dim, norm, out=out)


# ---------------------------------------------------------------------------- helpers
def _shift(input: Tensor, dim, sign: int) -> Tensor:
    from .ops.movement import roll

    ndim = input._data.ndim
    dims = tuple(range(ndim)) if dim is None else (dim,) if isinstance(dim, int) else tuple(dim)
    dims = tuple(normalize_dim(d, ndim) for d in dims)
    if not dims:
        return input.clone()
    shifts = tuple(sign * (input._data.shape[d] // 2) for d in dims)
    return roll(input, shifts, dims)


def fftshift(input: Tensor, dim=None) -> Tensor:
    """Move the zero frequency to the centre (a roll by ``n // 2`` along ``dim``, all dims by default)."""
    return _shift(input, dim, 1)


def ifftshift(input: Tensor, dim=None) -> Tensor:
    """The inverse of ``fftshift`` (a roll by ``-(n // 2)``)."""
    return _shift(input, dim, -1)


def _freq(values, dtype, device, requires_grad) -> Tensor:
    from ._creation import tensor

    dt = _dtype.get_default_dtype() if dtype is None else _dtype.to_dtype(dtype)
    return tensor(values, dtype=dt, device=device, requires_grad=requires_grad)


def fftfreq(n: int, d: float = 1.0, *, out=None, dtype=None, layout=None, device=None,
            requires_grad: bool = False) -> Tensor:
    """The sample frequencies of an ``n``-point FFT with sample spacing ``d``."""
    return _out(_freq(numpy.fft.fftfreq(int(n), d), dtype, device, requires_grad), out)


def rfftfreq(n: int, d: float = 1.0, *, out=None, dtype=None, layout=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """The sample frequencies of ``rfft`` of ``n`` points with sample spacing ``d``."""
    return _out(_freq(numpy.fft.rfftfreq(int(n), d), dtype, device, requires_grad), out)


# ---------------------------------------------------------------------------- short-time transforms
# torch.stft / torch.istft (top-level in torch; here beside the transforms they are built from).
def _stft_signature(op: str, x: Tensor, n_fft, hop, win, window) -> str:
    shape = ", ".join(str(s) for s in x._data.shape)
    w = "None" if window is None else f"[{', '.join(str(s) for s in window._data.shape)}]"
    return f"{op}(Tensor[{shape}], n_fft={n_fft}, hop_length={hop}, win_length={win}, window={w})"


def _full_window(window, n_fft: int, win: int, like: Tensor, op: str, hop) -> Tensor:
    """The window (rectangular by default) centred in ``n_fft`` samples, zeros either side."""
    from ._creation import ones, zeros
    from .ops.movement import cat

    real = like._data.real.dtype if like._data.dtype.kind == "c" else like._data.dtype
    if window is None:
        window = ones(win, dtype=_dtype.from_numpy_dtype(real), device=like.device)
    elif window._data.ndim != 1 or window._data.shape[0] != win:
        raise RuntimeError(
            f"{_stft_signature(op, like, n_fft, hop, win, window)} : expected a 1D window tensor of size equal to "
            f"win_length={win}, but got window with size {list(window._data.shape)}"
        )
    if win == n_fft:
        return window
    left = (n_fft - win) // 2
    pad = [zeros(left, dtype=window.dtype, device=window.device), window,
           zeros(n_fft - win - left, dtype=window.dtype, device=window.device)]
    return cat(pad)


def _overlap_add(frames: Tensor, hop: int, length: int) -> Tensor:
    """Sum frames (..., T, n) placed ``hop`` apart into a signal (..., length)."""
    from ._creation import zeros
    from .ops.indexing import index_add

    t, n = frames._data.shape[-2:]
    xp = array_module(frames._data)
    index = _make((xp.arange(t)[:, None] * hop + xp.arange(n)[None, :]).reshape(-1).astype(numpy.int64))
    lead = frames._data.shape[:-2]
    out = zeros(*lead, length, dtype=frames.dtype, device=frames.device)
    return index_add(out, len(lead), index, frames.reshape(*lead, t * n))


@autocast_op("stft")
def stft(input: Tensor, n_fft: int, hop_length: int | None = None, win_length: int | None = None,
         window: Tensor | None = None, center: bool = True, pad_mode: str = "reflect", normalized: bool = False,
         onesided: bool | None = None, return_complex: bool | None = None, align_to_window: bool | None = None) -> Tensor:
    """torch.stft: the FFT of windowed frames ``hop_length`` apart, shape (batch?, freq, frames)."""
    from .nn.functional import pad

    if not isinstance(input, Tensor):
        raise TypeError(f"stft(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    complex_input = input._data.dtype.kind == "c" or (window is not None and window._data.dtype.kind == "c")
    if return_complex is None:
        if not complex_input:
            raise RuntimeError(
                "stft requires the return_complex parameter be given for real inputs, and will further require that "
                "return_complex=True in a future PyTorch release."
            )
        return_complex = True
    hop = n_fft // 4 if hop_length is None else hop_length
    win = n_fft if win_length is None else win_length
    x = input
    if x._data.ndim not in (1, 2):
        raise RuntimeError(f"{_stft_signature('stft', x, n_fft, hop, win, window)} : expected a 1D or 2D tensor")
    batched = x._data.ndim == 2
    if not batched:
        x = x.unsqueeze(0)
    if center:
        p = n_fft // 2
        x = pad(x.unsqueeze(0), [p, p], mode=pad_mode).squeeze(0)
    length = x._data.shape[-1]
    if not 0 < n_fft <= length:
        raise RuntimeError(
            f"{_stft_signature('stft', input, n_fft, hop, win, window)} : expected 0 < n_fft < {length}, but got n_fft={n_fft}"
        )
    if hop <= 0:
        raise RuntimeError(f"{_stft_signature('stft', input, n_fft, hop, win, window)} : expected hop_length > 0, but got hop_length={hop}")
    if not 0 < win <= n_fft:
        raise RuntimeError(
            f"{_stft_signature('stft', input, n_fft, hop, win, window)} : expected 0 < win_length <= n_fft, but got win_length={win}"
        )
    if onesided is None:
        onesided = not complex_input
    elif onesided and complex_input:
        raise RuntimeError("Cannot have onesided output if window or input is complex")
    frames = x.unfold(-1, n_fft, hop)  # (batch, frames, n_fft)
    frames = frames * _full_window(window, n_fft, win, x, "stft", hop)
    norm = "ortho" if normalized else "backward"
    spec = rfft(frames, dim=-1, norm=norm) if onesided else fft(frames, dim=-1, norm=norm)
    spec = spec.transpose(-1, -2)
    if not batched:
        spec = spec.squeeze(0)
    if not return_complex:
        from .ops.complex_ops import view_as_real

        return view_as_real(spec)
    return spec


def istft(input: Tensor, n_fft: int, hop_length: int | None = None, win_length: int | None = None,
          window: Tensor | None = None, center: bool = True, normalized: bool = False, onesided: bool | None = None,
          length: int | None = None, return_complex: bool = False) -> Tensor:
    """torch.istft: the inverse of ``stft`` by windowed overlap-add, divided by the window envelope."""
    if not isinstance(input, Tensor):
        raise TypeError(f"istft(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if input._data.dtype.kind != "c":
        raise RuntimeError("istft requires a complex-valued input tensor matching the output from stft with return_complex=True.")
    hop = n_fft // 4 if hop_length is None else hop_length
    win = n_fft if win_length is None else win_length
    sig = _stft_signature("istft", input, n_fft, hop, win, window)
    if input._data.ndim not in (2, 3):
        raise RuntimeError(f"{sig} : expected a tensor with 2 or 3 dimensions of complex dtype, but got {input._data.ndim}")
    batched = input._data.ndim == 3
    spec = input if batched else input.unsqueeze(0)
    n_freq, n_frames = spec._data.shape[-2:]
    if onesided is None:
        onesided = n_freq != n_fft
    if onesided and n_freq != n_fft // 2 + 1:
        raise RuntimeError(
            f"{sig} : expected the frequency dimension (3rd to the last) of the input tensor to match n_fft / 2 + 1 "
            f"when onesided=True, but got {n_freq}"
        )
    if not onesided and n_freq != n_fft:
        raise RuntimeError(
            f"{sig} : expected the frequency dimension (3rd to the last) of the input tensor to match n_fft when "
            f"onesided=False, but got {n_freq}"
        )
    if not 0 < hop <= win:
        raise RuntimeError(f"{sig} : expected 0 < hop_length <= win_length")
    if not 0 < win <= n_fft:
        raise RuntimeError(f"{sig} : expected 0 < win_length <= n_fft")
    if return_complex and onesided:
        raise RuntimeError("cannot have onesided output if window or input is complex")
    norm = "ortho" if normalized else "backward"
    frames_spec = spec.transpose(-1, -2)  # (batch, frames, freq)
    if return_complex:
        frames = ifft(frames_spec, n=n_fft, dim=-1, norm=norm)
    else:
        if window is not None and window._data.dtype.kind == "c":
            raise RuntimeError("Complex windows are incompatible with return_complex=False")
        if not onesided:
            frames_spec = frames_spec[..., : n_fft // 2 + 1]
        frames = irfft(frames_spec, n=n_fft, dim=-1, norm=norm)
    w = _full_window(window, n_fft, win, frames, "istft", hop)
    expected = n_fft + hop * (n_frames - 1)
    y = _overlap_add(frames * w, hop, expected)
    envelope = _overlap_add((w * w).expand(n_frames, n_fft), hop, expected)
    start = n_fft // 2 if center else 0
    if length is not None:
        end = start + length
    else:
        end = expected - n_fft // 2 if center else expected
    y = y[..., start:end]
    envelope = envelope[start:end]
    if bool((envelope.abs() < 1e-11).any()):
        raise RuntimeError(f"{sig} window overlap add min: 1")
    y = y / envelope
    if end > expected:
        from .nn.functional import pad

        y = pad(y, [0, end - expected])
    return y if batched else y.squeeze(0)
