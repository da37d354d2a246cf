"""``backprop.nn.functional``: the stateless layer, activation and loss functions.

Composite functions (GELU, layer norm, cross-entropy, ...) are built from differentiable
primitives, so their gradients (and gradients of gradients) come from autograd. Primitives
live in ``backprop.ops``: convolution/pooling in ``ops.conv``; softmax, softplus, the BCE
losses and embedding in ``ops.nn_ops``.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy

from .. import _dtype
from .. import random as _random
from .._autocast import autocast_op
from .._backend import array_module, backend_of
from .._tensor import Tensor, _make, shape_str
from ..autograd.function import Function
from ..autograd.grad_mode import no_grad
from ..ops import _backward as B
from ..ops import conv as _conv
from ..ops import elementwise as ew
from ..ops import indexing as ix
from ..ops import movement as mv
from ..ops import nn_ops
from ..ops import reduction as red
from ..ops._utils import cast_to, in_float32
from ..ops.inplace import apply_inplace as _apply_inplace
from ..ops.linalg import einsum, matmul
from ..ops.nn_ops import log_softmax, softmax

__all__ = [name for name in dir() if not name.startswith("_")]  # extended at the bottom


# ============================================================================ linear
@autocast_op("linear")
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``; weight is (out_features, in_features)."""
    if input._data.shape[-1:] != weight._data.shape[-1:]:
        rows = math.prod(input._data.shape[:-1]) if input._data.ndim > 1 else 1
        raise RuntimeError(
            f"linear(): mat1 and mat2 shapes cannot be multiplied ({rows}x{input._data.shape[-1] if input._data.ndim else 1} and "
            f"{weight._data.shape[-1]}x{weight._data.shape[0]}) (input {shape_str(input._data.shape)}, weight {shape_str(weight._data.shape)})"
        )
    if weight._data.ndim == 2 and input._data.ndim >= 1 and input._data.dtype == weight._data.dtype and (bias is None or bias._data.dtype == weight._data.dtype) and input._data.dtype.kind not in "cV":  # complex, bfloat16: matmul below
        if input._data.ndim == 1:
            return mv.squeeze(nn_ops.Linear.apply(mv.unsqueeze(input, 0), weight, bias), 0)
        return nn_ops.Linear.apply(input, weight, bias)
    out = matmul(input, weight.mT if weight._data.ndim == 2 else weight)
    if bias is not None:
        out = out + bias
    return out


@autocast_op("bilinear")
def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    out = einsum("...i,oij,...j->...o", input1, weight, input2)
    return out + bias if bias is not None else out


# ============================================================================ activations
def _activation_in_float32(fn, input: Tensor, inplace: bool, *args) -> Tensor:
    """A bfloat16 or float16 activation as torch's kernels compute it: in float32, rounded once."""

    def run(t: Tensor) -> Tensor:
        if t._data.dtype == numpy.float16:
            return cast_to(fn(cast_to(t, _dtype.float32), *args), _dtype.float16)
        return in_float32(fn, t, *args)

    if inplace:
        return _apply_inplace(input, run, _name=f"{fn.__name__}_")
    return run(input)


def _from_input_copy(fn, input: Tensor, name: str, *args) -> Tensor:
    """``fn(input, *args)`` written into ``input``, for activations whose gradient needs the input:
    computed from a copy of it (torch's in-place silu, mish, hardswish... keep one too)."""
    return _apply_inplace(input, fn, *args, _name=name, _copy_input=True)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return input.relu_() if inplace else ew.relu(input)


def relu_(input: Tensor) -> Tensor:
    return input.relu_()


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return hardtanh(input, 0.0, 6.0, inplace)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    if input._data.dtype.kind in "iu":  # torch keeps integer inputs integral: the bounds truncate
        min_val, max_val = int(min_val), int(max_val)
    return input.clamp_(min_val, max_val) if inplace else ew.clamp(input, min_val, max_val)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return hardtanh(input, min_val, max_val, inplace=True)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, else ``negative_slope * x``. In place the gradient comes from the output
    (no copy kept), so backward raises for a negative slope, as torch."""
    _check_float_activation(input, "leaky_relu")
    slope = float(negative_slope)
    if inplace:
        return _apply_inplace(input, nn_ops.LeakyRelu.apply, slope, True, _name="leaky_relu_")
    return nn_ops.LeakyRelu.apply(input, slope)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return leaky_relu(input, negative_slope, inplace=True)


def _check_float_activation(input: Tensor, name: str, kinds: str = "fV") -> None:
    if input._data.dtype.kind not in kinds:
        raise NotImplementedError(f'"{name}_cpu" not implemented for \'{ew._TORCH_TYPE_NAMES[input._data.dtype.name]}\'')


def _elu(input: Tensor, alpha: float, scale: float, input_scale: float, inplace: bool, name: str) -> Tensor:
    """elu, celu and selu: one primitive (``nn_ops.Elu``); in place its gradient comes from the
    output, so backward raises for a negative alpha, as torch."""
    _check_float_activation(input, "elu")
    if inplace:
        return _apply_inplace(input, nn_ops.Elu.apply, alpha, scale, input_scale, True, _name=f"{name}_")
    return nn_ops.Elu.apply(input, alpha, scale, input_scale)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return _elu(input, float(alpha), 1.0, 1.0, inplace, "elu")


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return elu(input, alpha, inplace=True)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    return _elu(input, _SELU_ALPHA, _SELU_SCALE, 1.0, inplace, "selu")


def selu_(input: Tensor) -> Tensor:
    return selu(input, inplace=True)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    alpha = float(alpha)
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    return _elu(input, alpha, 1.0, 1.0 / alpha, inplace, "celu")


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return celu(input, alpha, inplace=True)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit: exact (x * Phi(x), via erf) or ``approximate='tanh'`` (a fused primitive)."""
    if input._data.dtype.kind == "V":  # bfloat16: in float32, rounded once, as torch
        return in_float32(nn_ops.gelu, input, approximate)
    return nn_ops.gelu(input, approximate)


def _half_precision(input: Tensor) -> bool:
    """float16 or bfloat16: torch's kernels compute in float32 and round once."""
    return input._data.dtype.kind == "V" or input._data.dtype == numpy.float16


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    _check_float_activation(input, "silu", "fVc")
    if _half_precision(input):
        return _activation_in_float32(silu, input, inplace)
    if inplace:
        return _from_input_copy(silu, input, "silu_")
    return input * ew.sigmoid(input)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    _check_float_activation(input, "mish")
    if _half_precision(input):
        return _activation_in_float32(mish, input, inplace)
    if inplace:
        return _from_input_copy(mish, input, "mish_")
    return input * ew.tanh(softplus(input))


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6 (a primitive: torch's gradient at the kinks; in place it keeps a copy of the input)."""
    _check_float_activation(input, "hardswish")
    if inplace:
        return _apply_inplace(input, nn_ops.Hardswish.apply, _name="hardswish_")
    return nn_ops.Hardswish.apply(input)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6 (a primitive: torch's gradient at the kinks; in place it keeps a copy of the input)."""
    _check_float_activation(input, "hardsigmoid")
    if inplace:
        return _apply_inplace(input, nn_ops.Hardsigmoid.apply, _name="hardsigmoid_")
    return nn_ops.Hardsigmoid.apply(input)


def sigmoid(input: Tensor) -> Tensor:
    return ew.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    return ew.tanh(input)


@autocast_op("softplus")
def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return nn_ops.Softplus.apply(input, float(beta), float(threshold))


def softsign(input: Tensor) -> Tensor:
    return input / (ew.abs(input) + 1)


def logsigmoid(input: Tensor) -> Tensor:
    return -softplus(-input)


@autocast_op("softmin")
def softmin(input: Tensor, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    return softmax(-input, dim, dtype=dtype)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    if input._data.shape[dim] % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {dim} is size {input._data.shape[dim]}")
    a, b = mv.chunk(input, 2, dim)
    return a * ew.sigmoid(b)


def _threshold(input: Tensor, threshold: float, value: float) -> Tensor:
    return ew.where(input > threshold, input, value)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else ``value`` (in place nothing is copied: the gradient needs only the mask)."""
    if inplace:
        return _apply_inplace(input, _threshold, threshold, value, _name="threshold_")
    return _threshold(input, threshold, value)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    return _apply_inplace(input, _threshold, threshold, value, _name="threshold_")


@autocast_op("prelu")
def prelu(input: Tensor, weight: Tensor) -> Tensor:
    if weight._data.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight._data.ndim}")
    if weight._data.size > 1:
        if input._data.ndim == 0:
            raise RuntimeError("Not allow zero-dim input tensor.")
        channels = input._data.shape[1] if input._data.ndim >= 2 else 1
        if channels != weight._data.size:
            raise RuntimeError(
                f"Mismatch of parameter numbers and input channel size. Found parameter numbers = {weight._data.size} and channel size = {channels}."
            )
    w = weight if weight._data.ndim == 0 or input._data.ndim > 0 else weight.reshape(())
    if input._data.ndim >= 2 and weight._data.size > 1:
        w = weight.reshape((1, -1) + (1,) * (input._data.ndim - 2))
    return ew.where(input > 0, input, input * w)


def tanhshrink(input: Tensor) -> Tensor:
    return input - ew.tanh(input)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0."""
    return ew.where(ew.abs(input) > lambd, input, 0.0)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""
    if lambd < 0:
        raise RuntimeError(
            f"lambda must be in range [0, 3.40282e+38] for input dtype {ew._TORCH_TYPE_NAMES[input._data.dtype.name]}, but found {lambd:g}"
        )
    return ew.where(input > lambd, input - lambd, ew.where(input < -lambd, input + lambd, 0.0))


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False, inplace: bool = False) -> Tensor:
    """Randomized leaky ReLU: in training each non-positive element is scaled by a slope drawn
    from U(lower, upper); in eval the slope is fixed to (lower + upper) / 2."""
    if lower > upper:
        raise RuntimeError("Lower bound should be less than or equal to the upper bound")
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    arr = input._data
    xp = array_module(arr)
    slopes = _random._rng_for(input, None).random(arr.shape)  # float64, scaled in place: one temporary
    slopes *= upper - lower
    slopes += lower
    slopes = slopes.astype(arr.dtype, copy=False)
    noise = _make(xp.where(arr <= 0, slopes, xp.ones((), dtype=arr.dtype)).astype(arr.dtype, copy=False))
    return input.mul_(noise) if inplace else input * noise


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Tensor:
    return rrelu(input, lower, upper, training, inplace=True)


def gumbel_softmax(logits: Tensor, tau: float = 1, hard: bool = False, eps: float = 1e-10, dim: int = -1) -> Tensor:
    """Samples from the Gumbel-softmax distribution; ``hard`` returns one-hot samples whose
    gradient is the soft sample's (straight-through estimator)."""
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", UserWarning, stacklevel=2)
    arr = logits._data
    xp = array_module(arr)
    gumbels = -xp.log(_random._rng_for(logits, None).exponential(1.0, arr.shape)).astype(arr.dtype)
    y_soft = softmax((logits + _make(gumbels)) / tau, dim)
    if not hard:
        return y_soft
    d = dim % arr.ndim if arr.ndim else 0
    index = xp.argmax(y_soft._data, axis=d) if arr.ndim else xp.zeros((), dtype=numpy.int64)
    y_hard = xp.zeros_like(y_soft._data)
    if arr.ndim:
        xp.put_along_axis(y_hard, xp.expand_dims(index, d), 1.0, axis=d)
    else:
        y_hard[...] = 1.0
    return _make(y_hard) - y_soft.detach() + y_soft


# ============================================================================ convolution
def _check_conv_input(op: str, input: Tensor, weight: Tensor, groups: int, spatial: int, transposed: bool = False):
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    batched = input._data.ndim == spatial + 2
    if not batched and input._data.ndim != spatial + 1:
        raise RuntimeError(
            f"{op}: Expected {spatial + 1}D (unbatched) or {spatial + 2}D (batched) input to {op}, but got input of size: {shape_str(input._data.shape)}"
        )
    if weight._data.ndim != spatial + 2:
        raise RuntimeError(f"{op}: weight should have {spatial + 2} dimensions, got weight of size {shape_str(weight._data.shape)}")
    x = input if batched else mv.unsqueeze(input, 0)
    channels = x._data.shape[1]
    if transposed:
        expected = weight._data.shape[0]
    else:
        expected = weight._data.shape[1] * groups
        if weight._data.shape[0] % groups:
            raise RuntimeError(f"{op}: out_channels {weight._data.shape[0]} must be divisible by groups {groups}")
    if channels != expected:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {shape_str(weight._data.shape)}, expected input{shape_str(x._data.shape)} to have "
            f"{expected} channels, but got {channels} channels instead"
        )
    if input._data.dtype != weight._data.dtype:
        raise RuntimeError(f"{op}: Input type ({input.dtype}) and weight type ({weight.dtype}) should be the same")
    return x, batched


def _conv_padding(padding, kernel, dilation, stride, op: str):
    """Explicit ((before, after), ...) per spatial dim from an int/tuple/'same'/'valid'."""
    nd = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            pads = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise ValueError(f"Invalid padding string '{padding}', should be one of {{'valid', 'same'}}")
    pads = _conv.ntuple(padding, nd, "padding")
    if any(p < 0 for p in pads):
        raise RuntimeError(f"{op}: negative padding is not supported")
    return tuple((p, p) for p in pads)


def _check_stride_dilation(stride: tuple, dilation: tuple) -> None:
    if any(v <= 0 for v in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(v <= 0 for v in dilation):
        raise RuntimeError(f"dilation should be greater than zero, but got {list(dilation)}")


def _convnd(op: str, nd: int, input: Tensor, weight: Tensor, bias: Tensor | None, stride, padding, dilation, groups: int) -> Tensor:
    """conv1d/2d/3d: checks as torch, then the N-d convolution kernel."""
    x, batched = _check_conv_input(op, input, weight, groups, nd)
    if x._data.dtype.kind == "V":  # bfloat16: computed in float32 and rounded back, as torch accumulates
        return _convnd(op, nd, input.float(), weight.float(), None if bias is None else bias.float(), stride, padding,
                       dilation, groups).to(input.dtype)
    stride, dilation = _conv.ntuple(stride, nd, "stride"), _conv.ntuple(dilation, nd, "dilation")
    _check_stride_dilation(stride, dilation)
    kernel = weight._data.shape[2:]
    params = _conv.ConvParams(stride, _conv_padding(padding, kernel, dilation, stride, op), dilation, groups)
    padded = [x._data.shape[2 + i] + b + a for i, (b, a) in enumerate(params.padding)]
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    if any(p < k for p, k in zip(padded, spans)):
        raise RuntimeError(
            f"{op}: Calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
            f"Kernel size: ({' x '.join(map(str, spans))}). Kernel size can't be greater than actual input size"
        )
    if bias is not None:
        if bias._data.shape != (weight._data.shape[0],):
            raise RuntimeError(
                f"{op}: given weight of size {list(weight._data.shape)}, expected bias to be 1-dimensional with "
                f"{weight._data.shape[0]} elements, but got bias of size {list(bias._data.shape)} instead"
            )
        if bias._data.dtype != weight._data.dtype:
            raise RuntimeError(f"{op}: Input type ({x.dtype}) and bias type ({bias.dtype}) should be the same")
    out = (_conv.Conv2d if x._data.dtype.kind != "c" else _conv.Conv2d._complex).apply(x, weight, bias, params)
    return out if batched else mv.squeeze(out, 0)


@autocast_op("conv2d")
def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    return _convnd("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


@autocast_op("conv3d")
def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """3-d convolution over (N, C, D, H, W) (or unbatched (C, D, H, W)) input."""
    return _convnd("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


@autocast_op("conv1d")
def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    x, batched = _check_conv_input("conv1d", input, weight, groups, 1)
    s = stride if isinstance(stride, int) else stride[0]
    d = dilation if isinstance(dilation, int) else dilation[0]
    p = padding if isinstance(padding, (int, str)) else padding[0]
    pad2 = p if isinstance(p, str) else (0, p)
    out = conv2d(mv.unsqueeze(x, 2), mv.unsqueeze(weight, 2), bias, (1, s), pad2, (1, d), groups)
    out = mv.squeeze(out, 2)
    return out if batched else mv.squeeze(out, 0)


def _conv_transposend(op: str, nd: int, input: Tensor, weight: Tensor, bias, stride, padding, output_padding, groups: int, dilation) -> Tensor:
    x, batched = _check_conv_input(op, input, weight, groups, nd, transposed=True)
    if x._data.dtype.kind == "V":  # bfloat16: computed in float32 and rounded back
        return _conv_transposend(op, nd, input.float(), weight.float(), None if bias is None else bias.float(), stride,
                                 padding, output_padding, groups, dilation).to(input.dtype)
    stride, dilation = _conv.ntuple(stride, nd, "stride"), _conv.ntuple(dilation, nd, "dilation")
    _check_stride_dilation(stride, dilation)
    pads, out_pads = _conv.ntuple(padding, nd, "padding"), _conv.ntuple(output_padding, nd, "output_padding")
    if any(op_ >= max(s, d) for op_, s, d in zip(out_pads, stride, dilation)):
        raise RuntimeError("output padding must be smaller than either stride or dilation")
    kernel = weight._data.shape[2:]
    sizes = tuple((x._data.shape[2 + i] - 1) * stride[i] - 2 * pads[i] + dilation[i] * (kernel[i] - 1) + out_pads[i] + 1 for i in range(nd))
    c_out = weight._data.shape[1] * groups
    params = _conv.ConvParams(stride, tuple((p, p) for p in pads), dilation, groups)
    out = (_conv.ConvInput if x._data.dtype.kind != "c" else _conv.ConvInput._complex).apply(x, weight, (x._data.shape[0], c_out) + sizes, params)
    if bias is not None:
        out = out + bias.reshape((1, -1) + (1,) * nd)
    return out if batched else mv.squeeze(out, 0)


@autocast_op("conv_transpose2d")
def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    return _conv_transposend("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups, dilation)


@autocast_op("conv_transpose3d")
def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """3-d transposed convolution (the input gradient of conv3d), (N, C, D, H, W) input."""
    return _conv_transposend("conv_transpose3d", 3, input, weight, bias, stride, padding, output_padding, groups, dilation)


@autocast_op("conv_transpose1d")
def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    batched = input._data.ndim == 3
    x = input if batched else mv.unsqueeze(input, 0)
    first = lambda v: v if isinstance(v, int) else v[0]  # noqa: E731
    out = conv_transpose2d(
        mv.unsqueeze(x, 2), mv.unsqueeze(weight, 2), bias, (1, first(stride)), (0, first(padding)), (0, first(output_padding)), groups, (1, first(dilation))
    )
    out = mv.squeeze(out, 2)
    return out if batched else mv.squeeze(out, 0)


# ============================================================================ pooling
def _pool_args(kernel_size, stride, padding, dilation, op: str, nd: int = 2):
    k = _conv.ntuple(kernel_size, nd, "kernel_size")
    s = _conv.ntuple(stride, nd, "stride") if stride is not None and stride != [] and stride != () else k
    p = _conv.ntuple(padding, nd, "padding")
    d = _conv.ntuple(dilation, nd, "dilation")
    if any(v <= 0 for v in k):
        raise RuntimeError(f"{op}: kernel_size must be greater than zero, but got {k}")
    if any(v <= 0 for v in s):
        raise RuntimeError(f"{op}: stride should not be zero (got {s})")
    if any(v < 0 for v in p):
        raise RuntimeError(f"{op}: pad must be non-negative, but got pad: {p}")
    if any(v <= 0 for v in d):
        raise RuntimeError(f"{op}: dilation must be greater than zero, but got {d}")
    for pi, di, ki in zip(p, d, k):
        if pi > (di * (ki - 1) + 1) // 2:  # torch names the offending dim's values
            raise RuntimeError(f"{op}: pad should be at most half of effective kernel size, but got pad={pi}, kernel_size={ki} and dilation={di}")
    return k, s, p, d


def _check_pool_output(x: Tensor, k, s, p, d, ceil_mode: bool, op: str) -> None:
    if any(v == 0 for v in x._data.shape[1:]):
        raise RuntimeError(f"{op}: Expected input's non-batch dimensions to have positive length, but input has a shape of {shape_str(x._data.shape)}")
    out, _ = _conv._pool_geometry(x._data.shape, k, s, p, d, ceil_mode)
    if any(o < 1 for o in out):
        sizes = "x".join(str(v) for v in x._data.shape[1:])
        raise RuntimeError(f"{op}: Given input size: ({sizes}). Calculated output size: ({x._data.shape[1]}x{'x'.join(map(str, out))}). Output size is too small")


def _as_4d(input: Tensor, op: str, spatial: int = 2):
    if input._data.ndim == spatial + 2:
        return input, True
    if input._data.ndim == spatial + 1:
        return mv.unsqueeze(input, 0), False
    raise RuntimeError(f"{op}: Expected {spatial + 1}D or {spatial + 2}D input, got input of size {shape_str(input._data.shape)}")


def _max_poolnd(op: str, nd: int, input: Tensor, kernel_size, stride, padding, dilation, ceil_mode: bool, return_indices: bool):
    k, s, p, d = _pool_args(kernel_size, stride, padding, dilation, op, nd)
    x, batched = _as_4d(input, op, nd)
    _check_pool_output(x, k, s, p, d, ceil_mode, op)
    if not return_indices:
        out = _conv.MaxPool2d.apply(x, k, s, p, d, ceil_mode, False)
        return out if batched else mv.squeeze(out, 0)
    out, idx = _conv.MaxPool2d.apply(x, k, s, p, d, ceil_mode, True)
    if not batched:
        out, idx = mv.squeeze(out, 0), mv.squeeze(idx, 0)
    return out, idx


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False, return_indices: bool = False):
    return _max_poolnd("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@autocast_op("max_pool3d")
def max_pool3d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False, return_indices: bool = False):
    """3-d max pooling over (N, C, D, H, W) (or (C, D, H, W)); indices are flat in D*H*W, as torch's."""
    return _max_poolnd("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False, return_indices: bool = False):
    first = lambda v: v if isinstance(v, int) or v is None else v[0]  # noqa: E731
    x, batched = _as_4d(input, "max_pool1d", 1)
    s = first(stride)
    out = max_pool2d(mv.unsqueeze(x, 2), (1, first(kernel_size)), None if s is None else (1, s), (0, first(padding)), (1, first(dilation)), ceil_mode, return_indices)
    if return_indices:
        out, idx = out
        out, idx = mv.squeeze(out, 2), mv.squeeze(idx, 2)
        return (out, idx) if batched else (mv.squeeze(out, 0), mv.squeeze(idx, 0))
    out = mv.squeeze(out, 2)
    return out if batched else mv.squeeze(out, 0)


def _avg_poolnd(op: str, nd: int, input: Tensor, kernel_size, stride, padding, ceil_mode: bool, count_include_pad: bool, divisor_override) -> Tensor:
    k, s, p, _ = _pool_args(kernel_size, stride, padding, 1, op, nd)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    x, batched = _as_4d(input, op, nd)
    _check_pool_output(x, k, s, p, (1,) * nd, ceil_mode, op)
    if x._data.dtype.kind == "V":  # bfloat16: averaged in float32 and rounded once, as torch
        return in_float32(_avg_poolnd, op, nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    out = _conv.AvgPool2d.apply(x, k, s, p, ceil_mode, count_include_pad, divisor_override)
    return out if batched else mv.squeeze(out, 0)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True, divisor_override=None) -> Tensor:
    return _avg_poolnd("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


@autocast_op("avg_pool3d")
def avg_pool3d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True, divisor_override=None) -> Tensor:
    """3-d average pooling over (N, C, D, H, W) (or (C, D, H, W))."""
    return _avg_poolnd("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    first = lambda v: v if isinstance(v, int) or v is None else v[0]  # noqa: E731
    x, batched = _as_4d(input, "avg_pool1d", 1)
    s = first(stride)
    out = avg_pool2d(mv.unsqueeze(x, 2), (1, first(kernel_size)), None if s is None else (1, s), (0, first(padding)), ceil_mode, count_include_pad)
    out = mv.squeeze(out, 2)
    return out if batched else mv.squeeze(out, 0)


def _adaptive_bounds(size: int, out: int):
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def _adaptive_output_size(x: Tensor, output_size, nd: int, op: str) -> tuple:
    """torch's checks and defaults (None keeps the input's size) for an adaptive pool's output_size."""
    if isinstance(output_size, Tensor):
        output_size = output_size.tolist()
    if isinstance(output_size, (tuple, list)):
        sizes = list(output_size)
        if len(sizes) == 1 and nd > 1:
            sizes = sizes * nd
        if len(sizes) != nd:
            raise RuntimeError(f"{op}: 'output_size' should contain {'one int' if nd == 1 else f'{nd} ints'}, got {output_size}")
    else:
        sizes = [output_size] * nd
    in_sizes = x._data.shape[-nd:]
    sizes = tuple(int(in_sizes[i]) if v is None else int(v) for i, v in enumerate(sizes))
    if any(v < 0 for v in sizes):
        raise RuntimeError(f"{op}: elements of output_size must be greater than or equal to 0 but received {list(sizes)}")
    return sizes


def _adaptive_windows(x: Tensor, out: tuple):
    """(N, C, *S) -> ((N, C, *out, *kmax) windows, per-dim (o, kmax) input positions, window sizes).

    Window i of a dim covers [floor(i*S/o), ceil((i+1)*S/o)); windows shorter than the longest
    (kmax) repeat their last position, so a max ignores the padding and a mean masks it."""
    nd = len(out)
    in_sizes = x._data.shape[2:]
    xp = array_module(x._data)
    positions, lengths = [], []
    t = x
    for d, (size, o) in enumerate(zip(in_sizes, out)):
        bounds = _adaptive_bounds(size, o)
        kmax = max((e - b for b, e in bounds), default=1)
        start = numpy.array([b for b, _ in bounds], dtype=numpy.int64).reshape(-1, 1)
        end = numpy.array([e for _, e in bounds], dtype=numpy.int64).reshape(-1, 1)
        pos = numpy.minimum(start + numpy.arange(kmax), end - 1).reshape(o, kmax)
        positions.append(xp.asarray(pos))
        lengths.append(xp.asarray((end - start).reshape(-1)))
        axis = 2 + 2 * d
        index = _make(xp.asarray(pos.reshape(-1)))
        t = ix.index_select(t, axis, index)
        t = t.reshape(t.shape[:axis] + (o, kmax) + t.shape[axis + 1 :])
    perm = (0, 1) + tuple(2 + 2 * d for d in range(nd)) + tuple(3 + 2 * d for d in range(nd))
    return mv.permute(t, perm), positions, lengths


def _adaptive_poolnd(input: Tensor, output_size, nd: int, op: str, kind: str, return_indices: bool = False):
    if nd > 1 and isinstance(output_size, (tuple, list)) and input._data.ndim <= len(output_size):
        raise ValueError(f"Input dimension should be at least {len(output_size) + 1}")
    x, batched = _as_4d(input, op, nd)
    out = _adaptive_output_size(x, output_size, nd, op)
    if any(v == 0 for v in x._data.shape[2:]):
        raise RuntimeError(f"{op}: Expected input to have non-zero size for non-batch dimensions, but input has sizes {shape_str(input._data.shape)}")
    in_sizes = x._data.shape[2:]
    n, c = x._data.shape[:2]
    if not all(out):  # an empty output (torch's too), still in the graph
        res = red.sum(x, tuple(range(2, 2 + nd)), keepdim=True).expand((n, c) + out)
        idx = _make(array_module(x._data).zeros(res.shape, dtype=numpy.int64))
        if not batched:
            res, idx = mv.squeeze(res, 0), mv.squeeze(idx, 0)
        return (res, idx) if kind == "max" and return_indices else res
    kdims = tuple(range(2 + nd, 2 + 2 * nd))
    if kind == "avg":
        if all(s % o == 0 for s, o in zip(in_sizes, out)):
            # Equal windows: one reshape and one reduction.
            shape = (n, c) + tuple(v for o, s in zip(out, in_sizes) for v in (o, s // o))
            res = red.mean(x.reshape(shape), tuple(3 + 2 * d for d in range(nd)))
        else:
            win, positions, lengths = _adaptive_windows(x, out)
            xp = array_module(x._data)
            mask, count = 1, 1
            for d, (pos, length) in enumerate(zip(positions, lengths)):
                kmax = pos.shape[1]
                valid = xp.arange(kmax)[None, :] < length[:, None]  # (o, kmax)
                shape = [1] * (2 * nd)
                shape[d], shape[nd + d] = pos.shape
                mask = mask * valid.reshape(shape)
                count = count * length.reshape([-1 if i == d else 1 for i in range(nd)])
            weights = (mask / count.reshape(count.shape + (1,) * nd)).astype(x._data.dtype)
            res = red.sum(win * _make(weights), kdims)
        return res if batched else mv.squeeze(res, 0)
    win, positions, _ = _adaptive_windows(x, out)
    flat = win.reshape(win.shape[: 2 + nd] + (-1,))
    if flat.shape[-1] == 0 or math.prod(flat.shape) == 0:
        res = flat.sum(-1)
        idx = _make(array_module(x._data).zeros(res.shape, dtype=numpy.int64))
    else:
        res, arg = red.max(flat, -1)
        xp = array_module(x._data)
        rest = arg._data
        offsets = []
        for pos in reversed(positions):
            rest, k = xp.divmod(rest, pos.shape[1])
            offsets.append(k)
        offsets.reverse()
        index = 0
        for d, (pos, k) in enumerate(zip(positions, offsets)):
            o_idx = xp.arange(pos.shape[0]).reshape((-1,) + (1,) * (nd - 1 - d))
            index = index * in_sizes[d] + pos[o_idx, k]
        idx = _make(xp.ascontiguousarray(xp.broadcast_to(index, res.shape)).astype(numpy.int64))
    if not batched:
        res, idx = mv.squeeze(res, 0), mv.squeeze(idx, 0)
    return (res, idx) if return_indices else res


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    return _adaptive_poolnd(input, output_size, 1, "adaptive_avg_pool1d", "avg")


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    return _adaptive_poolnd(input, output_size, 2, "adaptive_avg_pool2d", "avg")


@autocast_op("adaptive_avg_pool3d")
def adaptive_avg_pool3d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed (D, H, W) output size over (N, C, D, H, W) (or (C, D, H, W))."""
    return _adaptive_poolnd(input, output_size, 3, "adaptive_avg_pool3d", "avg")


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    return _adaptive_poolnd(input, output_size, 1, "adaptive_max_pool1d", "max", return_indices)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    return _adaptive_poolnd(input, output_size, 2, "adaptive_max_pool2d", "max", return_indices)


@autocast_op("adaptive_max_pool3d")
def adaptive_max_pool3d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling to a fixed (D, H, W) output size; indices are flat in the input's D*H*W, as torch's."""
    return _adaptive_poolnd(input, output_size, 3, "adaptive_max_pool3d", "max", return_indices)


def _fractional_intervals(xp, samples, in_size: int, out_size: int, k: int):
    """Window starts (..., out_size) of fractional max pooling from uniform ``samples`` (...),
    torch's sequence: int((i + u) * alpha) - int(u * alpha), the last window flush with the end."""
    if out_size == 1:
        return xp.full(samples.shape + (1,), in_size - k, dtype=numpy.int64)
    alpha = (in_size - k) / (out_size - 1)
    i = xp.arange(out_size - 1, dtype=samples.dtype)
    u = samples[..., None]
    starts = ((i + u) * alpha).astype(numpy.int64) - (u * alpha).astype(numpy.int64)
    last = xp.full(samples.shape + (1,), in_size - k, dtype=numpy.int64)
    return xp.concatenate([starts, last], axis=-1)


def _fractional_max_poolnd(input: Tensor, kernel_size, output_size, output_ratio, return_indices: bool, _random_samples, nd: int):
    op = f"fractional_max_pool{nd}d"
    if output_size is None and output_ratio is None:
        raise ValueError(f"{op} requires specifying either an output_size or an output_ratio")
    if input._data.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}(): Expected {nd + 1}D or {nd + 2}D tensor, but got: {shape_str(input._data.shape)}")
    x, batched = _as_4d(input, op, nd)
    in_sizes = x._data.shape[2:]
    kernel = _conv.ntuple(kernel_size, nd, "kernel_size")
    if output_size is None:
        ratio = (output_ratio,) * nd if isinstance(output_ratio, (int, float)) else tuple(output_ratio)
        if len(ratio) == 1:
            ratio = ratio * nd
        out = tuple(int(s * r) for s, r in zip(in_sizes, ratio))
    else:
        out = _conv.ntuple(output_size, nd, "output_size")
    names = ("time", "height", "width")[3 - nd :] if nd == 3 else ("height", "width")
    for name, s, k, o in zip(names, in_sizes, kernel, out):
        if o + k - 1 > s:
            raise RuntimeError(f"{op}(): pool {name} {k} too large relative to input {name} {s} and output {name} {o}")
    n, c = x._data.shape[:2]
    xp = array_module(x._data)
    if _random_samples is None:
        samples = _random._rng_for(input, None).random((n, c, nd)).astype(x._data.dtype)
    else:
        samples = _random_samples._data
        if tuple(samples.shape) != (n, c, nd):
            raise RuntimeError(f"{op}(): Expected _random_samples to have shape ({n}, {c}, {nd}), but got {shape_str(samples.shape)}")
    # torch draws the 2-d samples as (width, height) and the 3-d ones as (time, height, width).
    order = (1, 0) if nd == 2 else (0, 1, 2)
    lin = 0
    for d in range(nd):
        starts = _fractional_intervals(xp, samples[..., order[d]], in_sizes[d], out[d], kernel[d])  # (N, C, o_d)
        pos = starts[..., :, None] + xp.arange(kernel[d])  # (N, C, o_d, k_d)
        shape = [n, c] + [1] * (2 * nd)
        shape[2 + d], shape[2 + nd + d] = out[d], kernel[d]
        lin = lin * in_sizes[d] + pos.reshape(shape)
    taps = math.prod(kernel)
    lin = xp.ascontiguousarray(xp.broadcast_to(lin, (n, c) + out + kernel)).reshape(n, c, math.prod(out) * taps)
    windows_ = ix.gather(x.reshape(n, c, math.prod(in_sizes)), 2, _make(lin)).reshape((n, c) + out + (taps,))
    values, arg = red.max(windows_, -1)
    lin_w = lin.reshape((n, c) + out + (taps,))
    indices = _make(xp.take_along_axis(lin_w, arg._data[..., None], axis=-1)[..., 0])
    if not batched:
        values, indices = mv.squeeze(values, 0), mv.squeeze(indices, 0)
    return (values, indices) if return_indices else values


@autocast_op("fractional_max_pool2d")
def fractional_max_pool2d(input: Tensor, kernel_size, output_size=None, output_ratio=None, return_indices: bool = False, _random_samples=None):
    """Max pooling over pseudo-randomly placed, overlapping windows (Graham, 2014): the window
    starts come from one uniform sample per (N, C) plane and dim (``_random_samples``)."""
    return _fractional_max_poolnd(input, kernel_size, output_size, output_ratio, return_indices, _random_samples, 2)


@autocast_op("fractional_max_pool3d")
def fractional_max_pool3d(input: Tensor, kernel_size, output_size=None, output_ratio=None, return_indices: bool = False, _random_samples=None):
    """3-d fractional max pooling over (N, C, T, H, W) (or (C, T, H, W))."""
    return _fractional_max_poolnd(input, kernel_size, output_size, output_ratio, return_indices, _random_samples, 3)


def _lp_poolnd(input: Tensor, norm_type: float, kernel_size, stride, ceil_mode: bool, nd: int) -> Tensor:
    """Power-average pooling: (sum over the window of x^p)^(1/p); p = +-inf is a max/min of |x|."""
    k = _conv.ntuple(kernel_size, nd, "kernel_size")
    max_pool = (max_pool1d, max_pool2d, max_pool3d)[nd - 1]
    if norm_type == math.inf:
        return max_pool(ew.abs(input), k, stride, 0, 1, ceil_mode)
    if norm_type == -math.inf:
        return -max_pool(-ew.abs(input), k, stride, 0, 1, ceil_mode)
    avg_pool = (avg_pool1d, avg_pool2d, avg_pool3d)[nd - 1]
    out = avg_pool(input**norm_type, k, stride, 0, ceil_mode)
    return (ew.sign(out) * relu(ew.abs(out))).mul(math.prod(k)) ** (1.0 / norm_type)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    return _lp_poolnd(input, norm_type, kernel_size, stride, ceil_mode, 1)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    return _lp_poolnd(input, norm_type, kernel_size, stride, ceil_mode, 2)


def lp_pool3d(input: Tensor, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    return _lp_poolnd(input, norm_type, kernel_size, stride, ceil_mode, 3)


# ============================================================================ normalization
def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize over every dim but the channel dim (1); update running stats when training."""
    if input._data.ndim < 2 and input._data.size == 0:
        return input.clone()  # torch returns an empty input as it is
    if input._data.ndim < 2:
        raise ValueError(f"batch_norm: expected at least 2D input (got {input._data.ndim}D input)")
    c = input._data.shape[1]
    _check_channel_params(c, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    if training:
        n = input._data.size // max(c, 1)
        if n == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.size()}")
    elif running_mean is None or running_var is None:
        raise RuntimeError("batch_norm: running_mean and running_var must be given when training=False")
    if input._data.dtype.kind == "V":  # bfloat16: normalized in float32 and rounded once, as torch
        x, w, b, rm, rv = (None if t is None else ew.cast_to(t, _dtype.float32) for t in (input, weight, bias, running_mean, running_var))
        out, batch_mean, batch_var = nn_ops.BatchNorm.apply(x, w, b, rm, rv, training, eps, input._data.dtype)
        out = ew.cast_to(out, input.dtype)
    else:
        out, batch_mean, batch_var = nn_ops.BatchNorm.apply(input, weight, bias, running_mean, running_var, training, eps)
    if training and (running_mean is not None or running_var is not None):
        with no_grad():
            if running_mean is not None:
                running_mean.mul_(1 - momentum).add_(batch_mean.to(running_mean.dtype) * momentum)
            if running_var is not None:
                running_var.mul_(1 - momentum).add_(batch_var.to(running_var.dtype) * (momentum * n / (n - 1)))
    return out


def _check_channel_params(channels: int, scale: int = 1, **params) -> None:
    """torch's check of the per-channel tensors of batch/instance norm (in its order: running_mean,
    running_var, weight, bias): one element per channel ("running_mean should contain 4 elements
    not 3"; instance norm counts batch x channels, ``scale`` = the batch size)."""
    for name, t in params.items():
        if t is not None and t._data.size != channels:
            raise RuntimeError(f"{name} should contain {channels * scale} elements not {t._data.size * scale}")


def instance_norm(
    input: Tensor,
    running_mean=None,
    running_var=None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    if input._data.ndim >= 2:
        _check_channel_params(input._data.shape[1], input._data.shape[0], running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    if input._data.dtype.kind == "V" and use_input_stats and input._data.ndim > 2:
        # bfloat16: torch's instance norm is batch norm over (1, N*C, ...), with its bfloat16 statistics
        n, c = input._data.shape[:2]
        x = input.reshape((1, n * c) + input._data.shape[2:])
        w = weight.repeat(n) if weight is not None else None
        b = bias.repeat(n) if bias is not None else None
        return batch_norm(x, None, None, w, b, True, momentum, eps).reshape(input._data.shape)
    if input._data.dtype.kind == "V":  # bfloat16: normalized in float32 and rounded once, as torch
        return in_float32(instance_norm, input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)
    dims = tuple(range(2, input._data.ndim))
    mean = red.mean(input, dims, keepdim=True)
    centered = input - mean
    var = red.mean(centered * centered, dims, keepdim=True)
    out = centered * ew.rsqrt(var + eps)
    shape = (1, input._data.shape[1]) + (1,) * (input._data.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


@autocast_op("layer_norm")
def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize over the trailing ``normalized_shape`` dims (biased variance), then scale and shift."""
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(normalized_shape)
    if not k:
        raise RuntimeError("Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element, but got normalized_shape = []")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t._data.shape) != normalized_shape:
            raise RuntimeError(
                f"Expected {name} to be of same shape as normalized_shape, but got {name} of shape {list(t._data.shape)} and normalized_shape = {list(normalized_shape)}"
            )
    if input._data.shape[input._data.ndim - k :] != normalized_shape:
        raise RuntimeError(
            f"Given normalized_shape={list(normalized_shape)}, expected input with shape [*, {', '.join(map(str, normalized_shape))}], "
            f"but got input of size{list(input._data.shape)}"
        )
    if input._data.dtype.kind == "V":  # bfloat16: normalized in float32 and rounded once, as torch
        return in_float32(nn_ops.LayerNorm.apply, input, weight, bias, k, eps)
    return nn_ops.LayerNorm.apply(ew.as_float(input) if not _dtype.is_float_array(input._data) else input, weight, bias, k, eps)


def rms_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, eps: float | None = None) -> Tensor:
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not normalized_shape:
        raise RuntimeError("Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element, but got normalized_shape = []")
    if tuple(input._data.shape[input._data.ndim - len(normalized_shape) :]) != normalized_shape:
        raise RuntimeError(
            f"Given normalized_shape={list(normalized_shape)}, expected input with shape [*, {', '.join(map(str, normalized_shape))}], "
            f"but got input of size{list(input._data.shape)}"
        )
    if weight is not None and tuple(weight._data.shape) != normalized_shape:
        raise RuntimeError(
            f"Expected weight to be of same shape as normalized_shape, but got weight of shape {list(weight._data.shape)} and normalized_shape = {list(normalized_shape)}"
        )
    dims = tuple(range(input._data.ndim - len(normalized_shape), input._data.ndim))
    if input._data.dtype.kind == "f" and (weight is None or weight._data.dtype == input._data.dtype):
        eps = _dtype.finfo(input.dtype).eps if eps is None else eps
        return nn_ops.LayerNorm.apply(input, weight, None, len(dims), eps, True)  # fused (one kernel on CUDA)
    # Mixed dtypes (a bfloat16 input under autocast with a float32 weight...): computed in at
    # least float32 (with that dtype's eps) and returned in the input's dtype, as torch's unfused path.
    x = input.float() if input._data.dtype.itemsize < 4 and input.is_floating_point() else input
    if eps is None:
        eps = _dtype.finfo(x.dtype).eps
    out = x * ew.rsqrt(red.mean(x * x, dims, keepdim=True) + eps)
    out = out * weight if weight is not None else out
    return out.to(input.dtype) if input.is_floating_point() and out.dtype is not input.dtype else out


@autocast_op("group_norm")
def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    if input._data.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input._data.ndim}")
    n, c = input._data.shape[:2]
    if c % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got input of shape {list(input._data.shape)} and num_groups={num_groups}")
    if input._data.dtype.kind == "V":  # bfloat16: normalized in float32 and rounded once, as torch
        return in_float32(group_norm, input, num_groups, weight, bias, eps)
    x = input.reshape(n, num_groups, input._data.size // max(n * num_groups, 1))
    mean = red.mean(x, -1, keepdim=True)
    centered = x - mean
    var = red.mean(centered * centered, -1, keepdim=True)
    out = (centered * ew.rsqrt(var + eps)).reshape(input._data.shape)
    shape = (1, c) + (1,) * (input._data.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


@autocast_op("normalize")
def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out=None) -> Tensor:
    n = red.vector_norm(input, p, dim, keepdim=True)
    return input / ew.clamp_min(n, eps)


@autocast_op("cosine_similarity")
def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    x1, x2 = mv.broadcast_tensors(x1, x2)  # the norms are over the broadcast shapes, as torch's
    n1 = ew.clamp_min(red.vector_norm(x1, 2, dim, keepdim=True), eps)
    n2 = ew.clamp_min(red.vector_norm(x2, 2, dim, keepdim=True), eps)
    return red.sum((x1 / n1) * (x2 / n2), dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    return red.vector_norm(x1 - x2 + eps, p, -1, keepdim)


@autocast_op("pdist")
def pdist(input: Tensor, p: float = 2) -> Tensor:
    """p-norm distances between every pair of rows of an (N, M) input: the upper triangle, row by row."""
    if input._data.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input._data.ndim}D")
    if not _dtype.is_float_array(input._data):
        raise RuntimeError("pdist only supports floating-point dtypes")
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    i, j = array_module(input._data).triu_indices(input._data.shape[0], 1)
    return red.vector_norm(input[_make(i)] - input[_make(j)], p, -1)


# ============================================================================ dropout
def _dropout_mask(like: Tensor, shape, p: float, dtype, generator=None):
    """A dropout mask (0 or 1/(1-p)) of ``shape`` on ``like``'s device, drawn from its generator
    (on CUDA drawn and thresholded in one kernel)."""
    rng = _random._rng_for(like, generator)
    if isinstance(rng, _random.PhiloxStream):
        return _make(rng.dropout_mask(tuple(shape), p, numpy.dtype(dtype)))
    keep = rng.random(shape, dtype=numpy.float32) >= p
    return _make((keep / (1.0 - p)).astype(dtype)) if p < 1 else _make(array_module(keep).zeros(shape, dtype=dtype))


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (training only)."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    mask = _dropout_mask(input, input._data.shape, p, input._data.dtype)
    return input.mul_(mask) if inplace else input * mask


def _channel_dropout(input: Tensor, p: float, training: bool, inplace: bool, spatial: int) -> Tensor:
    """dropout1d/2d/3d as torch's: one draw per (N, C) entry of a batched input, per C entry of an
    unbatched one (dropout1d's 2-D and dropout3d's 4-D input); dropout2d has no unbatched form, so a 2-D
    input (N, C) is dropped element-wise and a 3-D one as (N, C, L), with torch's warnings."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    ndim = input._data.ndim
    expected = (spatial + 1, spatial + 2)
    if spatial == 1 and ndim not in expected:
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {ndim}D input. Note that dropout1d exists to provide "
            "channel-wise dropout on inputs with 1 spatial dimension, a channel dimension, and an optional batch "
            "dimension (i.e. 2D or 3D inputs)."
        )
    if ndim not in expected:
        warnings.warn(
            f"dropout{spatial}d: Received a {ndim}-D input to dropout{spatial}d, which is deprecated and will result in "
            "an error in a future release. To retain the behavior and silence this warning, please use dropout "
            f"instead. Note that dropout{spatial}d exists to provide channel-wise dropout on inputs with {spatial} "
            f"spatial dimensions, a channel dimension, and an optional batch dimension (i.e. {expected[0]}D or "
            f"{expected[1]}D inputs).",
            stacklevel=3,
        )
    if spatial == 2 and ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior is desired "
            "- input is interpreted as shape (N, C, L), where C is the channel dim. This behavior will change in a "
            "future release to interpret the input as one without a batch dimension, i.e. shape (C, H, W). To "
            "maintain the 1D channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=3,
        )
    if not training or p == 0.0:
        return input
    batched = spatial == 2 or ndim == spatial + 2
    leading = 2 if batched else 1  # an unbatched input is torch's batch of one: its dim 0 is the channel
    if ndim + (0 if batched else 1) < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    shape = input._data.shape[:leading] + (1,) * (ndim - leading)
    mask = _dropout_mask(input, shape, p, input._data.dtype)
    return input.mul_(mask) if inplace else input * mask


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    return _channel_dropout(input, p, training, inplace, 1)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    return _channel_dropout(input, p, training, inplace, 2)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    return _channel_dropout(input, p, training, inplace, 3)


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Dropout that keeps SELU's self-normalization: dropped units take SELU's negative
    saturation value, then an affine map restores the mean and variance."""
    return _alpha_dropout(input, p, training, inplace, False)


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """``alpha_dropout`` of whole channels: one draw per (N, C) map."""
    return _alpha_dropout(input, p, training, inplace, True)


def _alpha_dropout(input: Tensor, p: float, training: bool, inplace: bool, feature: bool) -> Tensor:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:  # every unit dropped: zeros (torch's rule; the affine correction is undefined)
        return input.mul_(0.0) if inplace else input * 0.0
    alpha_p = -_SELU_ALPHA * _SELU_SCALE
    shape = input._data.shape
    if feature:
        if input._data.ndim < 2:
            raise RuntimeError(f"Feature dropout requires at least 2 dimensions in the input, got {input._data.ndim}")
        shape = shape[:2] + (1,) * (input._data.ndim - 2)
    keep = (_random._rng_for(input, None).random(shape) >= p).astype(input._data.dtype)
    a = ((1 - p) * (1 + p * alpha_p**2)) ** -0.5
    b = -a * alpha_p * p
    keep_t = _make(keep)
    if inplace:  # the gradient needs only the mask: nothing of the input is kept
        return _apply_inplace(input, lambda t: (t * keep_t + alpha_p * (1 - keep_t)) * a + b, _name="alpha_dropout_")
    return (input * keep_t + alpha_p * (1 - keep_t)) * a + b


# ============================================================================ embedding, one_hot
def embedding(input: Tensor, weight: Tensor, padding_idx=None, max_norm=None, norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    if weight._data.ndim != 2:
        raise RuntimeError("'weight' must be 2-D")
    if input._data.dtype.kind not in "iu":
        raise RuntimeError(
            f"Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; but got {input.dtype} instead (while checking arguments for embedding)"
        )
    idx = input._data
    num = weight._data.shape[0]
    ix.check_index_range(idx, num, 0, exc=IndexError, message="index out of range in self")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += num
    if max_norm is not None:
        _embedding_renorm(weight, idx, max_norm, norm_type)
    return nn_ops.Embedding.apply(weight, idx, padding_idx)


def _embedding_renorm(weight: Tensor, idx, max_norm: float, norm_type: float) -> None:
    """Rescale (in place, untracked) the rows ``idx`` refers to whose norm exceeds ``max_norm``."""
    xp = array_module(weight._data)
    with no_grad():
        rows = xp.unique(idx)
        norms = xp.linalg.norm(weight._data[rows], ord=norm_type, axis=1, keepdims=True)
        scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
        weight._data[rows] *= scale.astype(weight._data.dtype)


def _segment_heads(seg):
    """Whether each position of the non-empty sorted ``seg`` begins a run of equal values."""
    xp = array_module(seg)
    return xp.concatenate((xp.ones(1, dtype=bool), seg[1:] != seg[:-1]))


def _segment_starts(seg):
    """Positions where a run of equal values in the non-empty sorted ``seg`` begins."""
    return array_module(seg).flatnonzero(_segment_heads(seg))


class _SegmentSum(Function):
    """Sums of consecutive row segments: (K, D) rows, ``seg`` (K,) sorted bag ids -> (B, D).
    ``add.reduceat`` over the non-empty segments; the backward copies each bag's gradient to its rows."""

    @staticmethod
    def forward(ctx, rows, seg, num_bags):
        r = rows._data
        ctx.seg = seg
        out = array_module(r).zeros((num_bags,) + r.shape[1:], dtype=r.dtype)
        if seg.size:
            starts = _segment_starts(seg)
            out[seg[starts]] = backend_of(r).reduceat("add", r, starts, 0)
        return out

    @staticmethod
    def backward(ctx, g):
        from ..ops.indexing import IndexSelect

        return B.call(IndexSelect, g, 0, ctx.seg), None, None


class _ScaleGrad(Function):
    """Identity forward; the backward multiplies the gradient by a constant array (scale_grad_by_freq)."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x._data

    @staticmethod
    def backward(ctx, g):
        return g * B.constant(ctx.scale, g), None


def embedding_bag(
    input: Tensor,
    weight: Tensor,
    offsets: Tensor | None = None,
    max_norm: float | None = None,
    norm_type: float = 2,
    scale_grad_by_freq: bool = False,
    mode: str = "mean",
    sparse: bool = False,
    per_sample_weights: Tensor | None = None,
    include_last_offset: bool = False,
    padding_idx: int | None = None,
) -> Tensor:
    """Sums, means or maxima of bags of embeddings, without materializing the per-index rows
    of excluded (padding) entries; bags are consecutive index segments."""
    if per_sample_weights is not None and tuple(input._data.shape) != tuple(per_sample_weights._data.shape):
        raise ValueError(
            f"embedding_bag: If per_sample_weights ({per_sample_weights.shape}) is not None, then it must have the same shape as the input ({input.shape})"
        )
    if weight._data.ndim != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension {weight._data.ndim}")
    if weight._data.dtype.kind == "V" and max_norm is None:  # bfloat16: bags summed in float32, rounded once
        return in_float32(embedding_bag, input, weight, offsets, max_norm, norm_type, scale_grad_by_freq, mode, sparse,
                          per_sample_weights, include_last_offset, padding_idx)
    idx = input._data
    xp = array_module(idx)
    backend = backend_of(idx)
    if idx.ndim == 2:
        if offsets is not None:
            raise ValueError(
                "if input is 2D, then offsets has to be None, as input is treated is a mini-batch of fixed length sequences. "
                f"However, found offsets of type {type(offsets)}"
            )
        offs = xp.arange(0, idx.size, idx.shape[1] if idx.shape[1] else 1, dtype=numpy.int64)[: idx.shape[0]]
        idx = idx.reshape(-1)
        include_last_offset = False
    elif idx.ndim == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets._data.ndim != 1:
            raise ValueError("offsets has to be a 1D Tensor")
        offs = offsets._data
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {idx.ndim}")
    if mode not in ("sum", "mean", "max"):
        raise ValueError("mode has to be one of sum, mean or max")
    for arr, what in ((idx, "indices"), (offs, "offsets")):
        if arr.dtype.kind not in "iu":
            raise RuntimeError(
                f"Expected tensor for argument #1 '{what}' to have one of the following scalar types: Long, Int; "
                f"but got {_dtype.from_numpy_dtype(arr.dtype)} instead (while checking arguments for embedding_bag)"
            )
    num = weight._data.shape[0]
    if max_norm is not None:
        _embedding_renorm(weight, idx, max_norm, norm_type)
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(
            f"embedding_bag: per_sample_weights was not None. per_sample_weights is only supported for mode='sum' (got mode='{mode}'). "
            "Please open a feature request on GitHub."
        )
    if per_sample_weights is not None and per_sample_weights._data.dtype != weight._data.dtype:
        raise RuntimeError(
            "Expected tensor for argument #1 'weight' to have the same type as tensor for argument #1 'per_sample_weights'; "
            f"but type {weight.type()} does not equal {per_sample_weights.type()} (while checking arguments for embedding_bag)"
        )
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise RuntimeError(f"padding_idx must be within the number of embeddings, -{num} through {num - 1}, but got {padding_idx}")
        padding_idx = padding_idx % num
    offs = offs.astype(numpy.int64)
    if backend.checks_values:  # value checks read the arrays on the host: CPU only (CUDA kernels skip them, as torch's)
        bad = xp.flatnonzero((idx < 0) | (idx >= num))
        if bad.size:
            raise RuntimeError(f"Index {bad[0]} of input takes value {idx[bad[0]]} which is not in the valid range [0, {num})")
        if offs.size and offs[0] != 0:
            raise RuntimeError(
                f"offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start from position 0. However, got {offs[0]}"
            )
        if offs.size and offs[-1] > idx.size:
            raise RuntimeError(f"offsets[-1] can not be greater than input's length {idx.size} but got offsets[-1] of {offs[-1]}")
        if offs.size > 1 and xp.any(offs[1:] < offs[:-1]):
            raise RuntimeError("offsets has to be a non-decreasing sequence")
    starts = offs[:-1] if include_last_offset else offs
    ends = offs[1:] if include_last_offset else xp.concatenate((offs[1:], xp.full(1, idx.size, dtype=numpy.int64)))
    num_bags = starts.size
    # Bag of every index position; positions outside every bag or equal to padding_idx are dropped.
    pos = xp.arange(idx.size)
    seg = xp.searchsorted(starts, pos, side="right") - 1
    keep = seg >= 0
    keep &= pos < ends[xp.maximum(seg, 0)] if num_bags else False
    if padding_idx is not None:
        keep &= idx != padding_idx
    seg, kept = seg[keep], idx[keep]
    rows = nn_ops.Embedding.apply(weight, kept, None)
    if scale_grad_by_freq and mode != "max" and kept.size:
        counts = xp.bincount(idx, minlength=num)
        rows = _ScaleGrad.apply(rows, (1.0 / counts[kept]).astype(weight._data.dtype)[:, None])
    if mode == "max":
        if not kept.size:
            return _SegmentSum.apply(rows, seg, num_bags)
        vals = rows._data
        heads = _segment_heads(seg)
        first = xp.flatnonzero(heads)
        best = backend.reduceat("maximum", vals, first, 0)
        local = xp.cumsum(heads) - 1  # segment number of every kept row
        hit = (vals == best[local]) | xp.isnan(vals)
        where = xp.where(hit, xp.arange(kept.size)[:, None], kept.size)
        arg = backend.reduceat("minimum", where, first, 0)  # first maximum in each bag, as torch
        picked = ix.gather(rows, 0, _make(arg))
        return _SegmentSum.apply(picked, seg[first], num_bags)
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.reshape(-1)[_make(xp.flatnonzero(keep))].unsqueeze(1)
    out = _SegmentSum.apply(rows, seg, num_bags)
    if mode == "mean":
        counts = xp.bincount(seg, minlength=num_bags).astype(weight._data.dtype)
        out = out / _make(xp.maximum(counts, 1)[:, None])
    return out


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    if tensor._data.dtype != numpy.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    idx = tensor._data
    if num_classes == -1:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    if idx.size and backend_of(idx).checks_values and (idx.min() < 0 or idx.max() >= num_classes):
        raise RuntimeError("Class values must be smaller than num_classes." if idx.size and idx.min() >= 0 else "Class values must be non-negative.")
    out = (idx[..., None] == array_module(idx).arange(num_classes)).astype(numpy.int64)
    return _make(out)


# ============================================================================ pad, interpolate
def _pad_widths(ndim: int, pad_spec) -> tuple:
    pad_spec = tuple(int(p) for p in pad_spec)
    if len(pad_spec) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad_spec) // 2 > ndim:
        raise ValueError("Padding length too large")
    widths = [(0, 0)] * ndim
    for i in range(len(pad_spec) // 2):
        widths[ndim - 1 - i] = (pad_spec[2 * i], pad_spec[2 * i + 1])
    return tuple(widths)


def _pad_index(xp, size: int, before: int, after: int, mode: str):
    """The source index of every position of a padded dim, made with array module ``xp`` (the input's)."""
    i = xp.arange(-before, size + after)
    if mode == "reflect":
        if before >= size or after >= size:
            raise RuntimeError(
                f"Argument #4: Padding size should be less than the corresponding input dimension, but got: padding ({before}, {after}) at dimension of input {size}"
            )
        period = 2 * (size - 1)
        i = xp.abs(i) % period if period else xp.zeros_like(i)
        i = xp.where(i >= size, period - i, i)
    elif mode == "replicate":
        i = xp.clip(i, 0, size - 1)
    elif mode == "circular":
        if before > size or after > size:
            raise RuntimeError("Padding value causes wrapping around more than once.")
        # Negative widths crop first; the padding then wraps around the cropped block, as torch's.
        start, length = max(-before, 0), size + min(before, 0) + min(after, 0)
        i = start + xp.arange(-max(before, 0), length + max(after, 0)) % length
    else:
        raise NotImplementedError(f"padding mode '{mode}' is not supported")
    return _make(i.astype(numpy.int64))


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """torch's F.pad: ``pad`` lists (before, after) widths starting from the last dim."""
    widths = _pad_widths(input._data.ndim, pad)
    if mode == "constant":
        if any(size + b + e < 0 for size, (b, e) in zip(input._data.shape, widths)):  # cropped past nothing
            raise RuntimeError("narrow(): length must be non-negative.")
        return nn_ops.ConstantPad.apply(input, widths, 0.0 if value is None else value)
    out = input
    xp = array_module(input._data)
    for dim, (b, e) in enumerate(widths):
        if b or e:
            out = ix.index_select(out, dim, _pad_index(xp, input._data.shape[dim], b, e, mode))
    return out


def _interp_sizes(input: Tensor, size, scale_factor, spatial: int):
    in_sizes = input._data.shape[2:]
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        if isinstance(size, Tensor):
            size = size.tolist()
        sizes = (size,) * spatial if isinstance(size, int) else tuple(size)
        if len(sizes) != spatial:
            raise ValueError(
                f"Input and output must have the same number of spatial dimensions, but got input with spatial dimensions of "
                f"{list(in_sizes)} and output size of {list(sizes)}. Please provide input tensor in (N, C, d1, d2, ...,dK) format "
                f"and output size in (o1, o2, ...,oK) format."
            )
        return tuple(int(s) for s in sizes), [i / o if o else 0.0 for i, o in zip(in_sizes, sizes)]
    if scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    factors = (scale_factor,) * spatial if isinstance(scale_factor, (int, float)) else tuple(scale_factor)
    if len(factors) != spatial:
        raise ValueError(
            f"Input and scale_factor must have the same number of spatial dimensions, but got input with spatial dimensions of "
            f"{list(in_sizes)} and scale_factor of shape {list(factors)}. Please provide input tensor in (N, C, d1, d2, ...,dK) format "
            f"and scale_factor in (s1, s2, ...,sK) format."
        )
    out = tuple(int(math.floor(float(i) * f)) for i, f in zip(in_sizes, factors))
    return out, [1.0 / f for f in factors]


def _linear_weights(xp, in_size: int, out_size: int, scale: float, align_corners: bool):
    """Source indices and weights of linear interpolation along one dim (arrays of module ``xp``)."""
    dst = xp.arange(out_size, dtype=numpy.float64)
    if align_corners:
        src = dst * ((in_size - 1) / (out_size - 1)) if out_size > 1 else xp.zeros_like(dst)
    else:
        src = xp.maximum((dst + 0.5) * scale - 0.5, 0.0)
    i0 = xp.minimum(xp.floor(src).astype(numpy.int64), in_size - 1)
    i1 = xp.minimum(i0 + 1, in_size - 1)
    lam = src - i0
    return i0, i1, lam


_CUBIC_A = -0.75  # torch's bicubic coefficient (Keys' kernel)


def _cubic_taps(in_size: int, out_size: int, scale: float, align_corners: bool):
    """(out, 4) source indices and weights of torch's bicubic interpolation along one dim (host arrays)."""
    dst = numpy.arange(out_size, dtype=numpy.float64)
    if align_corners:
        src = dst * ((in_size - 1) / (out_size - 1) if out_size > 1 else 0.0)
    else:
        src = (dst + 0.5) * scale - 0.5
    base = numpy.floor(src)
    t = src - base
    a = _CUBIC_A

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    weights = numpy.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=1)
    idx = numpy.clip(base.astype(numpy.int64)[:, None] + numpy.arange(-1, 3), 0, in_size - 1)
    return idx, weights


def _aa_filter(mode: str):
    if mode == "bilinear":
        return 2, lambda x: numpy.clip(1.0 - numpy.abs(x), 0.0, None)
    a = -0.5

    def cubic(x):
        x = numpy.abs(x)
        return numpy.where(x < 1, ((a + 2) * x - (a + 3)) * x * x + 1, numpy.where(x < 2, (((x - 5) * x + 8) * x - 4) * a, 0.0))

    return 4, cubic


def _antialias_taps(in_size: int, out_size: int, scale: float, align_corners: bool, mode: str):
    """(out, K) source indices and normalized weights of torch's anti-aliased resampling: when
    downsampling, the filter widens by the scale so every input sample contributes."""
    if align_corners:
        scale = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    size, filt = _aa_filter(mode)
    support = size / 2 * scale if scale >= 1.0 else size / 2
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    center = scale * (numpy.arange(out_size) + 0.5)
    lo = numpy.maximum((center - support + 0.5).astype(numpy.int64), 0)
    hi = numpy.minimum((center + support + 0.5).astype(numpy.int64), in_size)
    k = max(int((hi - lo).max(initial=1)), 1)
    j = numpy.arange(k)
    idx = lo[:, None] + j
    valid = j < (hi - lo)[:, None]
    w = numpy.where(valid, filt((idx - center[:, None] + 0.5) * invscale), 0.0)
    total = w.sum(axis=1, keepdims=True)
    w = w / numpy.where(total == 0, 1.0, total)
    return numpy.minimum(idx, in_size - 1), w


def _resample(t: Tensor, dim: int, idx, weights) -> Tensor:
    """Along ``dim``: out[i] = sum_k weights[i, k] * t[idx[i, k]] (idx, weights: (out, K) host arrays)."""
    xp = array_module(t._data)
    o, k = idx.shape
    g = ix.index_select(t, dim, _make(xp.asarray(idx.reshape(-1))))
    shape = tuple(t._data.shape)
    g = g.reshape(shape[:dim] + (o, k) + shape[dim + 1 :])
    wshape = [1] * (len(shape) + 1)
    wshape[dim], wshape[dim + 1] = o, k
    return red.sum(g * _make(xp.asarray(weights.astype(t._data.dtype).reshape(wshape))), dim + 1)


_INTERP_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")


@autocast_op("interpolate")
def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None, recompute_scale_factor=None, antialias: bool = False) -> Tensor:
    """Resize the spatial dims of (N, C, *S) input, as torch's modes: 'nearest', 'nearest-exact',
    'linear' (3-D), 'bilinear'/'bicubic' (4-D, optionally anti-aliased), 'trilinear' (5-D) and
    'area' (adaptive average pooling). Each dim is resampled separately: a gather of the source
    taps and a weighted sum."""
    if input._data.dtype.kind == "V" and mode not in ("nearest", "nearest-exact"):  # bfloat16: in float32, rounded once
        return in_float32(interpolate, input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias)
    spatial = input._data.ndim - 2
    if mode not in _INTERP_MODES:
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input._data.ndim}D) for the modes: "
            f"nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact (got {mode})"
        )
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    if antialias and not (mode in ("bilinear", "bicubic") and input._data.ndim == 4):
        raise ValueError("Anti-alias option is restricted to bilinear and bicubic modes and requires a 4-D tensor as input")
    if spatial < 1 or spatial > 3:
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input._data.ndim}D) for the modes: "
            f"nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact (got {mode})"
        )
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    sizes, scales = _interp_sizes(input, size, scale_factor, spatial)
    if recompute_scale_factor or mode == "area":
        scales = [i / o if o else 0.0 for i, o in zip(input._data.shape[2:], sizes)]
    if mode == "area":
        return _adaptive_poolnd(input, sizes, spatial, "adaptive_avg_pool", "avg")
    expected = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}.get(mode)
    if expected is not None and spatial != expected:
        raise NotImplementedError(f"Got {input._data.ndim}D input, but {mode} mode needs {expected + 2}D input")
    return _resize(input, sizes, scales, mode, bool(align_corners), antialias)


def _resize(input: Tensor, sizes: tuple, scales: list, mode: str, ac: bool, antialias: bool) -> Tensor:
    """The resampling kernels of ``interpolate``: output ``sizes``; ``scales`` (input/output per dim)
    place the source positions."""
    out = input
    xp = array_module(input._data)
    if mode in ("nearest", "nearest-exact"):
        for d, (in_size, out_size, scale) in enumerate(zip(input._data.shape[2:], sizes, scales)):
            dst = xp.arange(out_size, dtype=numpy.float32)
            scale32 = numpy.float32(scale)
            src = xp.floor((dst + 0.5) * scale32) if mode == "nearest-exact" else xp.floor(dst * scale32)
            idx = xp.minimum(src.astype(numpy.int64), in_size - 1)
            out = ix.index_select(out, 2 + d, _make(idx))
        return out
    if antialias or mode == "bicubic":
        for d, (in_size, out_size, scale) in enumerate(zip(input._data.shape[2:], sizes, scales)):
            if antialias:
                idx, w = _antialias_taps(in_size, out_size, scale, ac, mode)
            else:
                idx, w = _cubic_taps(in_size, out_size, scale, ac)
            out = _resample(out, 2 + d, idx, w)
        return out
    for d, (in_size, out_size, scale) in enumerate(zip(input._data.shape[2:], sizes, scales)):
        i0, i1, lam = _linear_weights(xp, in_size, out_size, scale, ac)
        shape = [1] * out._data.ndim
        shape[2 + d] = out_size
        lam_t = _make(lam.astype(input._data.dtype).reshape(shape))
        a = ix.index_select(out, 2 + d, _make(i0))
        b = ix.index_select(out, 2 + d, _make(i1))
        out = a + (b - a) * lam_t
    return out


@autocast_op("upsample")
def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None) -> Tensor:
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """Deprecated alias of ``interpolate(mode='nearest')``, as torch's."""
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """Deprecated alias of ``interpolate(mode='bilinear', align_corners=True)``, as torch's."""
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def _upsample_bilinear2d_aa(input: Tensor, output_size, align_corners: bool, scales_h=None, scales_w=None, scale_factors=None) -> Tensor:
    """aten's anti-aliased bilinear resize (what ``interpolate(..., antialias=True)`` runs): both
    overloads, (output_size, align_corners, scales_h, scales_w) and (output_size, align_corners,
    scale_factors). Given scales place the source positions; the output size wins for the shape."""
    if isinstance(scales_h, (tuple, list)):
        scale_factors, scales_h = scales_h, None
    if scale_factors is not None:
        scales_h, scales_w = scale_factors
    if input._data.ndim != 4:
        raise RuntimeError(f"Non-empty 4D data tensor expected but got a tensor with sizes {shape_str(input._data.shape)}")
    in_sizes = input._data.shape[2:]
    if output_size is None:
        sizes = tuple(int(math.floor(i * f)) for i, f in zip(in_sizes, (scales_h, scales_w)))
    else:
        sizes = tuple(int(v) for v in output_size)
    scales = [1.0 / f if f else i / o for i, o, f in zip(in_sizes, sizes, (scales_h, scales_w))]
    return _resize(input, sizes, scales, "bilinear", bool(align_corners), True)


# ============================================================================ spatial transformers
def affine_grid(theta: Tensor, size, align_corners=None) -> Tensor:
    """Sampling grid (N, *S, k) of the affine maps ``theta`` (N, k, k+1) for output ``size`` (N, C, *S),
    k = 2 or 3: each output position's normalized coordinates (x, y[, z], 1) times theta^T."""
    if align_corners is None:
        align_corners = False
    if not _dtype.is_float_array(theta._data):
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = [int(v) for v in size]
    nd = len(size) - 2
    if nd not in (2, 3):
        raise NotImplementedError(f"affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, respectively. Got size {size}.")
    if theta._data.ndim != 3 or tuple(theta._data.shape[1:]) != (nd, nd + 1) or theta._data.shape[0] != size[0]:
        raise ValueError(
            f"Expected a batch of {nd}D affine matrices of shape Nx{nd}x{nd + 1} for size {size}. Got {shape_str(theta._data.shape)}."
        )
    if min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    xp = array_module(theta._data)
    axes = []
    for s in reversed(size[2:]):  # x runs along the last dim
        line = numpy.linspace(-1.0, 1.0, s) if s > 1 else numpy.zeros(1)
        axes.append(line if align_corners else line * (s - 1) / s)
    mesh = numpy.meshgrid(*reversed(axes), indexing="ij")  # (D,) H, W arrays
    coords = [m for m in reversed(mesh)] + [numpy.ones(mesh[0].shape)]
    base = numpy.stack(coords, axis=-1).reshape(1, -1, nd + 1)
    grid = matmul(_make(xp.asarray(base.astype(theta._data.dtype))), theta.transpose(1, 2))
    return grid.reshape([size[0]] + size[2:] + [nd])


_GRID_MODES = {"bilinear": 0, "nearest": 1, "bicubic": 2}
_GRID_PADDING = {"zeros": 0, "border": 1, "reflection": 2}


def _grid_unnormalize(coord: Tensor, size: int, align_corners: bool) -> Tensor:
    if align_corners:
        return (coord + 1) * ((size - 1) / 2)
    return ((coord + 1) * size - 1) / 2


def _reflect(coord, twice_low: int, twice_high: int, xp):
    """Reflect ``coord`` (a Tensor or an array) into [twice_low/2, twice_high/2], as torch's grid sampler."""
    if twice_low == twice_high:
        return coord * 0
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    dist = (coord - low).abs() if isinstance(coord, Tensor) else xp.abs(coord - low)
    flips = xp.floor((dist._data if isinstance(dist, Tensor) else dist) / span)
    extra = dist - flips * span
    even = (flips % 2) == 0
    if isinstance(coord, Tensor):
        return ew.where(_make(even), extra + low, (extra * -1) + (span + low))
    return xp.where(even, extra + low, span - extra + low)


def _grid_pad(coord, size: int, padding: int, align_corners: bool, xp):
    """torch's padding of a source coordinate: border clips, reflection reflects then clips."""
    if padding == 0:
        return coord
    if padding == 2:
        coord = _reflect(coord, 0, 2 * (size - 1), xp) if align_corners else _reflect(coord, -1, 2 * size - 1, xp)
    if isinstance(coord, Tensor):
        return ew.clamp(coord, 0, size - 1)
    return xp.clip(coord, 0, size - 1)


def _grid_fetch(flat: Tensor, sizes: tuple, index: list, xp) -> Tensor:
    """Values of (N, C, L) ``flat`` at integer (N, P) coordinates ``index`` (one per spatial dim),
    zero where any coordinate is out of bounds: (N, C, P)."""
    n, c = flat._data.shape[:2]
    valid = None
    lin = 0
    for i, s in zip(index, sizes):
        ok = (i >= 0) & (i < s)
        valid = ok if valid is None else valid & ok
        lin = lin * s + xp.clip(i, 0, s - 1)
    p = lin.shape[1]
    vals = ix.gather(flat, 2, _make(xp.ascontiguousarray(xp.broadcast_to(lin[:, None, :].astype(numpy.int64), (n, c, p)))))
    if backend_of(valid).checks_values and bool(valid.all()):
        return vals
    return vals * _make(valid[:, None, :].astype(flat._data.dtype))


def _cubic_near(x, a: float = _CUBIC_A):
    """Keys' cubic kernel for |x| <= 1 (Tensors or arrays)."""
    return ((x * (a + 2) - (a + 3)) * x * x) + 1


def _cubic_far(x, a: float = _CUBIC_A):
    """Keys' cubic kernel for 1 < |x| < 2."""
    return ((x * a - 5 * a) * x + 8 * a) * x - 4 * a


def _grid_sampler(input: Tensor, grid: Tensor, mode: int, padding: int, align_corners: bool, op: str) -> Tensor:
    nd = input._data.ndim - 2
    if grid._data.ndim != nd + 2 or grid._data.shape[-1] != nd:
        raise RuntimeError(
            f"{op}: expected grid to have size {nd} in last dimension and {nd + 2} dims, but got grid with sizes {shape_str(grid._data.shape)}"
        )
    if input._data.shape[0] != grid._data.shape[0]:
        raise RuntimeError(
            f"{op}: expected grid and input to have same batch size, but got input with sizes {shape_str(input._data.shape)} "
            f"and grid with sizes {shape_str(grid._data.shape)}"
        )
    if input._data.dtype != grid._data.dtype:
        raise RuntimeError(f"{op}: expected input and grid to have same dtype, but input has {input.dtype} and grid has {grid.dtype}")
    if any(v == 0 for v in input._data.shape[2:]):
        raise RuntimeError(f"{op}: expected input to have non-empty spatial dimensions, but input has sizes {shape_str(input._data.shape)}")
    if mode == 2 and nd != 2:
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")
    xp = array_module(input._data)
    n, c = input._data.shape[:2]
    sizes = tuple(input._data.shape[2:])
    out_sp = tuple(grid._data.shape[1:-1])
    flat = input.reshape(n, c, -1)
    g = grid.reshape(n, -1, nd)
    # Coordinate k of the grid indexes spatial dim nd-1-k (x runs along the last dim).
    coords = [_grid_unnormalize(g[:, :, nd - 1 - d], sizes[d], align_corners) for d in range(nd)]
    if mode == 2:
        out = None
        base = [xp.floor(cd._data) for cd in coords]
        weights = []
        for cd, b in zip(coords, base):
            t = cd - _make(b)
            weights.append([_cubic_far(t + 1), _cubic_near(t), _cubic_near(t * -1 + 1), _cubic_far(t * -1 + 2)])
        for taps in itertools.product(range(4), repeat=nd):
            index = []
            w = None
            for d, k in enumerate(taps):
                pos = _grid_pad(base[d] - 1 + k, sizes[d], padding, align_corners, xp)
                index.append(xp.trunc(pos).astype(numpy.int64))
                w = weights[d][k] if w is None else w * weights[d][k]
            term = _grid_fetch(flat, sizes, index, xp) * mv.unsqueeze(w, 1)
            out = term if out is None else out + term
        return out.reshape((n, c) + out_sp)
    coords = [_grid_pad(cd, s, padding, align_corners, xp) for cd, s in zip(coords, sizes)]
    if mode == 1:
        index = [xp.rint(cd._data).astype(numpy.int64) for cd in coords]  # round half to even, as torch
        return _grid_fetch(flat, sizes, index, xp).reshape((n, c) + out_sp)
    base = [xp.floor(cd._data) for cd in coords]
    frac = [cd - _make(b) for cd, b in zip(coords, base)]
    out = None
    for corner in itertools.product((0, 1), repeat=nd):
        w = None
        for d, bit in enumerate(corner):
            wd = frac[d] if bit else (frac[d] * -1 + 1)
            w = wd if w is None else w * wd
        index = [(b + bit).astype(numpy.int64) for b, bit in zip(base, corner)]
        term = _grid_fetch(flat, sizes, index, xp) * mv.unsqueeze(w, 1)
        out = term if out is None else out + term
    return out.reshape((n, c) + out_sp)


@autocast_op("grid_sample")
def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear", padding_mode: str = "zeros", align_corners=None) -> Tensor:
    """Sample (N, C, *S) ``input`` at the normalized coordinates of ``grid`` (N, *out, 2 or 3), in
    [-1, 1] per dim (x first): bilinear/trilinear, nearest or bicubic (2-D), with zeros, border or
    reflection padding. Differentiable in both the input and the grid."""
    if mode not in _GRID_MODES:
        raise ValueError(f"nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: '{mode}'")
    if padding_mode not in _GRID_PADDING:
        raise ValueError(f"nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or 'reflection', but got: '{padding_mode}'")
    if input._data.ndim not in (4, 5):
        raise RuntimeError(f"grid_sampler(): expected 4D or 5D input and grid with same number of dimensions, but got input with sizes {shape_str(input._data.shape)}")
    return _grid_sampler(input, grid, _GRID_MODES[mode], _GRID_PADDING[padding_mode], bool(align_corners), "grid_sampler()")


def grid_sampler_2d(input: Tensor, grid: Tensor, interpolation_mode: int, padding_mode: int, align_corners: bool) -> Tensor:
    """aten's 2-d grid sampler: modes 0 bilinear, 1 nearest, 2 bicubic; padding 0 zeros, 1 border, 2 reflection."""
    if input._data.ndim != 4:
        raise RuntimeError(f"grid_sampler_2d(): expected 4D input, but got input with sizes {shape_str(input._data.shape)}")
    return _grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners, "grid_sampler_2d()")


def grid_sampler_3d(input: Tensor, grid: Tensor, interpolation_mode: int, padding_mode: int, align_corners: bool) -> Tensor:
    """aten's 3-d grid sampler: modes 0 (tri)linear, 1 nearest; padding 0 zeros, 1 border, 2 reflection."""
    if input._data.ndim != 5:
        raise RuntimeError(f"grid_sampler_3d(): expected 5D input, but got input with sizes {shape_str(input._data.shape)}")
    return _grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners, "grid_sampler_3d()")


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C*r^2, H, W) -> (*, C, H*r, W*r)."""
    shape = input._data.shape
    if len(shape) < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with {len(shape)} dimension(s)")
    r = int(upscale_factor)
    if r <= 0:
        raise RuntimeError(f"pixel_shuffle expects a positive upscale_factor, but got {r}")
    *lead, c, h, w = shape
    if c % (r * r):
        raise RuntimeError(
            f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}"
        )
    k = len(lead)
    out = input.reshape(*lead, c // (r * r), r, r, h, w).permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)
    return out.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H*r, W*r) -> (*, C*r^2, H, W), the inverse of ``pixel_shuffle``."""
    shape = input._data.shape
    if len(shape) < 3:
        raise RuntimeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but got input with {len(shape)} dimension(s)")
    r = int(downscale_factor)
    if r <= 0:
        raise RuntimeError(f"pixel_unshuffle expects a positive downscale_factor, but got {r}")
    *lead, c, h, w = shape
    if h % r:
        raise RuntimeError(f"pixel_unshuffle expects height to be divisible by downscale_factor, but input.size(-2)={h} is not divisible by {r}")
    if w % r:
        raise RuntimeError(f"pixel_unshuffle expects width to be divisible by downscale_factor, but input.size(-1)={w} is not divisible by {r}")
    k = len(lead)
    out = input.reshape(*lead, c, h // r, r, w // r, r).permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)
    return out.reshape(*lead, c * r * r, h // r, w // r)


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """(N, C, *) with C = g * m -> channels reordered as (m, g): ShuffleNet's channel shuffle."""
    shape = input._data.shape
    if len(shape) <= 2:
        raise RuntimeError(f"channel_shuffle expects input with > 2 dims, but got input with sizes {shape_str(shape)}")
    if groups <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of groups:{groups}")
    n, c, *rest = shape
    if c % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels and {groups} groups.")
    return mv.transpose(input.reshape(n, groups, c // groups, *rest), 1, 2).reshape(shape)


native_channel_shuffle = channel_shuffle


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """x / (k + alpha * mean of x^2 over ``size`` neighbouring channels)^beta (zero-padded at the ends)."""
    ndim = input._data.ndim
    if ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {ndim} dimensions)")
    if input._data.size == 0:
        return input
    sq = input * input
    c = input._data.shape[1]
    widths = [(0, 0)] * ndim
    widths[1] = (size // 2, (size - 1) // 2)
    padded = nn_ops.ConstantPad.apply(sq, tuple(widths), 0.0)
    window = padded[:, 0:c]
    for i in range(1, size):  # a loop over the (small) window, not over elements
        window = window + padded[:, i : i + c]
    div = (window * (alpha / size) + k) ** beta
    return input / div


def _unpool_output_size(input: Tensor, kernel, stride, padding, output_size, spatial: int):
    in_size = input._data.shape[-spatial:]
    default = tuple((in_size[d] - 1) * stride[d] + kernel[d] - 2 * padding[d] for d in range(spatial))
    if output_size is None:
        return default
    output_size = tuple(int(v) for v in output_size)
    if len(output_size) == spatial + 2:
        output_size = output_size[2:]
    if len(output_size) != spatial:
        raise ValueError(f"output_size should be a sequence containing {spatial} or {spatial + 2} elements, but it has a length of '{len(output_size)}'")
    for d in range(spatial):
        lo = default[d] - stride[d]
        hi = default[d] + stride[d]
        if not lo < output_size[d] < hi:
            raise ValueError(f'invalid output_size "{output_size}" (dim {d} must be between {lo} and {hi})')
    return output_size


def _max_unpool(input: Tensor, indices: Tensor, out_hw, name: str, spatial: int) -> Tensor:
    idx = indices._data
    if idx.dtype != numpy.int64:
        raise RuntimeError(f"elements in indices should be type int64 but got: {ew._TORCH_TYPE_NAMES[idx.dtype.name]}")
    if idx.shape != input._data.shape:
        raise RuntimeError(
            f"Expected shape of indices to be same as that of the input tensor ({shape_str(input._data.shape)}) but got indices tensor with shape: {shape_str(idx.shape)}"
        )
    batched = input._data.ndim == spatial + 2
    if not batched and input._data.ndim != spatial + 1 and spatial == 2:
        raise RuntimeError(f"Input to {name} should be a 3d or 4d Tensor, but got a tensor with {input._data.ndim} dimensions.")
    lead = input._data.shape[: input._data.ndim - spatial]
    plane = math.prod(out_hw)
    flat_idx = idx.reshape(*lead, -1)
    if flat_idx.size and backend_of(flat_idx).checks_values and (flat_idx.min() < 0 or flat_idx.max() >= plane):
        bad = flat_idx[(flat_idx < 0) | (flat_idx >= plane)][0]
        dims = "x".join(str(v) for v in (out_hw if spatial != 1 else (out_hw[0], 1)))
        raise RuntimeError(f"Found an invalid max index: {bad} (output volumes are of size {dims})")
    base = _make(array_module(input._data).zeros((*lead, plane), dtype=input._data.dtype))
    out = ix.Scatter.apply(base, len(lead), flat_idx, input.reshape(*lead, -1))
    return out.reshape(*lead, *out_hw)


@autocast_op("max_unpool2d")
def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """Partial inverse of ``max_pool2d``: each value goes to its recorded index, zeros elsewhere."""
    if input._data.ndim not in (3, 4):
        raise RuntimeError(f"Input to max_unpooling2d should be a 3d or 4d Tensor, but got a tensor with {input._data.ndim} dimensions.")
    k = _conv.pair(kernel_size, "kernel_size")
    s = _conv.pair(stride, "stride") if stride is not None else k
    p = _conv.pair(padding, "padding")
    out_hw = _unpool_output_size(input, k, s, p, output_size, 2)
    return _max_unpool(input, indices, out_hw, "max_unpooling2d", 2)


@autocast_op("max_unpool3d")
def max_unpool3d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """Partial inverse of ``max_pool3d``: each value goes to its recorded flat D*H*W index, zeros elsewhere."""
    if input._data.ndim not in (4, 5):
        raise RuntimeError(f"Input to max_unpooling3d should be a 4d or 5d Tensor, but got a tensor with {input._data.ndim} dimensions.")
    k = _conv.ntuple(kernel_size, 3, "kernel_size")
    s = _conv.ntuple(stride, 3, "stride") if stride is not None else k
    p = _conv.ntuple(padding, 3, "padding")
    if any(v <= 0 for v in s):
        raise RuntimeError(f"max_unpooling3d: strides should be greater than zero, but got stride: {s}")
    out = _unpool_output_size(input, k, s, p, output_size, 3)
    return _max_unpool(input, indices, out, "max_unpooling3d", 3)


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """Partial inverse of ``max_pool1d``."""
    if input._data.ndim not in (2, 3):
        raise RuntimeError(f"Input to max_unpooling1d should be a 2d or 3d Tensor, but got a tensor with {input._data.ndim} dimensions.")
    first = lambda v: v if isinstance(v, int) or v is None else v[0]  # noqa: E731
    k = (first(kernel_size),)
    s = (first(stride),) if stride is not None else k
    p = (first(padding),)
    out = _unpool_output_size(input, k, s, p, output_size, 1)
    return _max_unpool(input, indices, out, "max_unpooling1d", 1)


def _fold_geometry(kernel_size, dilation, padding, stride):
    k, d = _conv.pair(kernel_size, "kernel_size"), _conv.pair(dilation, "dilation")
    p, s = _conv.pair(padding, "padding"), _conv.pair(stride, "stride")
    if k[0] <= 0 or k[1] <= 0:
        raise RuntimeError(f"kernel size should be greater than zero, but got kernel_height: {k[0]} kernel_width: {k[1]}")
    if d[0] <= 0 or d[1] <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got dilation_height: {d[0]} dilation_width: {d[1]}")
    if p[0] < 0 or p[1] < 0:
        raise RuntimeError(f"padding should be non-negative, but got pad_height: {p[0]} pad_width: {p[1]}")
    if s[0] <= 0 or s[1] <= 0:
        raise RuntimeError(f"stride should be greater than zero, but got stride_height: {s[0]} stride_width: {s[1]}")
    return k, d, p, s


def _blocks(hw, k, d, p, s):
    return tuple(_conv.output_size(hw[i], k[i], s[i], p[i], p[i], d[i]) for i in range(2))


class _Unfold(Function):
    """im2col: (N, C, H, W) -> (N, C*kh*kw, L), one strided view and one copy; its adjoint is ``_Fold``."""

    @staticmethod
    def forward(ctx, x, geometry):
        k, d, p, s = geometry
        arr = x._data
        n, c, h, w = arr.shape
        oh, ow = _blocks((h, w), k, d, p, s)
        ctx.geometry, ctx.hw = geometry, (h, w)
        win = _conv.windows(_conv.pad_array(arr, ((p[0], p[0]), (p[1], p[1]))), k, (oh, ow), s, d)
        return win.reshape(n, c * k[0] * k[1], oh * ow)

    @staticmethod
    def backward(ctx, g):
        return B.call(_Fold, g, ctx.hw, ctx.geometry), None


class _Fold(Function):
    """col2im: (N, C*kh*kw, L) -> (N, C, H, W), overlapping blocks summed; the adjoint of ``_Unfold``."""

    @staticmethod
    def forward(ctx, cols, hw, geometry):
        k, d, p, s = geometry
        arr = cols._data
        n = arr.shape[0]
        c = arr.shape[1] // (k[0] * k[1])
        oh, ow = _blocks(hw, k, d, p, s)
        ctx.geometry = geometry
        padded = (n, c, hw[0] + 2 * p[0], hw[1] + 2 * p[1])
        img = _conv.col2im(arr.reshape(n, c, k[0], k[1], oh, ow), padded, s, d)
        return _conv.crop(img, ((p[0], p[0]), (p[1], p[1])), (n, c) + tuple(hw))

    @staticmethod
    def backward(ctx, g):
        return B.call(_Unfold, g, ctx.geometry), None, None


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Extract sliding local blocks (im2col): (N, C, H, W) -> (N, C*kh*kw, L)."""
    geometry = _fold_geometry(kernel_size, dilation, padding, stride)
    nd = input._data.ndim
    if nd not in (3, 4) or any(v == 0 for v in input._data.shape[nd - 3 :]):
        raise RuntimeError(
            f"Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other non-zero dimensions for input, but got: {shape_str(input._data.shape)}"
        )
    if input._data.dtype.kind not in "fbcV":  # V: bfloat16
        raise NotImplementedError(f'"im2col_out_cpu" not implemented for \'{ew._TORCH_TYPE_NAMES[input._data.dtype.name]}\'')
    k, d, p, s = geometry
    hw = input._data.shape[-2:]
    oh, ow = (((hw[i] + 2 * p[i] - (d[i] * (k[i] - 1) + 1)) // s[i]) + 1 for i in range(2))
    if oh < 1 or ow < 1:
        raise RuntimeError(
            f"Given input with spatial size ({hw[0]}, {hw[1]}), kernel_size=({k[0]}, {k[1]}), dilation=({d[0]}, {d[1]}), padding=({p[0]}, {p[1]}), "
            f"calculated shape of the array of sliding blocks as ({oh}, {ow}), but its components must be at least one."
        )
    x = input if nd == 4 else mv.unsqueeze(input, 0)
    out = _Unfold.apply(x, geometry)
    return out if nd == 4 else mv.squeeze(out, 0)


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Combine sliding local blocks into an image (col2im, the adjoint of ``unfold``): (N, C*kh*kw, L) -> (N, C, H, W)."""
    hw = _conv.pair(output_size, "output_size")
    geometry = _fold_geometry(kernel_size, dilation, padding, stride)
    k, d, p, s = geometry
    nd = input._data.ndim
    if nd not in (2, 3) or any(v == 0 for v in input._data.shape[nd - 2 :]):
        raise RuntimeError(
            f"Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and non-zero dimensions for input, but got: {shape_str(input._data.shape)}"
        )
    if input._data.dtype.kind not in "fbcV":  # V: bfloat16
        raise NotImplementedError(f'"col2im_out_cpu" not implemented for \'{ew._TORCH_TYPE_NAMES[input._data.dtype.name]}\'')
    rows, length = input._data.shape[-2:]
    if rows % (k[0] * k[1]):
        raise RuntimeError(
            f"Expected size of input's dimension 1 to be divisible by the product of kernel_size, but got input.size(1)={rows} and kernel_size=({k[0]}, {k[1]})."
        )
    oh, ow = (((hw[i] + 2 * p[i] - (d[i] * (k[i] - 1) + 1)) // s[i]) + 1 for i in range(2))
    if length != oh * ow:
        raise RuntimeError(
            f"Given output_size=({hw[0]}, {hw[1]}), kernel_size=({k[0]}, {k[1]}), dilation=({d[0]}, {d[1]}), padding=({p[0]}, {p[1]}), stride=({s[0]}, {s[1]}), "
            f"expected size of input's dimension {nd - 1} to match the calculated number of sliding blocks {oh} * {ow} = {oh * ow}, but got input.size({nd - 1})={length}."
        )
    if oh < 1 or ow < 1:
        raise RuntimeError(
            f"Given output_size=({hw[0]}, {hw[1]}), kernel_size=({k[0]}, {k[1]}), dilation=({d[0]}, {d[1]}), padding=({p[0]}, {p[1]}), stride=({s[0]}, {s[1]}), "
            f"calculated shape of the array of sliding blocks as ({oh}, {ow}), but its components must be at least one."
        )
    x = input if nd == 3 else mv.unsqueeze(input, 0)
    out = _Fold.apply(x, hw, geometry)
    return out if nd == 3 else mv.squeeze(out, 0)


# ============================================================================ losses
def _reduction(size_average, reduce, reduction: str) -> str:
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return red.mean(loss)
    if reduction == "sum":
        return red.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _check_target_size(input: Tensor, target: Tensor, op: str) -> None:
    if target._data.shape != input._data.shape:
        warnings.warn(
            f"Using a target size ({target.size()}) that is different to the input size ({input.size()}). "
            "This will likely lead to incorrect results due to broadcasting. Please ensure they have the same size.",
            UserWarning,
            stacklevel=3,
        )


@autocast_op("mse_loss")
def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean", weight=None) -> Tensor:
    _check_target_size(input, target, "mse_loss")
    diff = input - target
    return _reduce(diff * diff, _reduction(size_average, reduce, reduction))


@autocast_op("l1_loss")
def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    _check_target_size(input, target, "l1_loss")
    return _reduce(ew.abs(input - target), _reduction(size_average, reduce, reduction))


@autocast_op("smooth_l1_loss")
def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    _check_target_size(input, target, "smooth_l1_loss")
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    diff = ew.abs(input - target)
    if beta == 0:
        loss = diff
    else:
        loss = ew.where(diff < beta, diff * diff * (0.5 / beta), diff - 0.5 * beta)
    return _reduce(loss, _reduction(size_average, reduce, reduction))


@autocast_op("huber_loss")
def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0, weight=None) -> Tensor:
    _check_target_size(input, target, "huber_loss")
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    diff = ew.abs(input - target)
    loss = ew.where(diff < delta, diff * diff * 0.5, (diff - 0.5 * delta) * delta)
    return _reduce(loss, reduction)


def _check_class_target(target: Tensor, op: str) -> None:
    if target._data.dtype != numpy.int64:
        raise RuntimeError(f"{op}: expected scalar type Long but found {target.dtype.name.capitalize()}")


def _class_weights(target, weight, ignore_index: int, n_classes: int, dtype):
    """The per-element weights of class-index ``target`` (an array): ``weight[target]`` (1
    without ``weight``), 0 where the target is ``ignore_index``; and the targets with the
    ignored ones replaced by class 0 (safe to index with). No value is read on the host but
    on backends that check values (the CPU)."""
    xp = array_module(target)
    ignored = target == ignore_index
    safe = xp.where(ignored, 0, target)
    if safe.size and backend_of(target).checks_values and (safe.min() < 0 or safe.max() >= n_classes):
        bad = int(safe.max() if safe.max() >= n_classes else safe.min())
        raise IndexError(f"Target {bad} is out of bounds.")
    if weight is None:
        return safe, _make((~ignored).astype(dtype))
    w = ix.Index.apply(weight, (safe,)) if isinstance(weight, Tensor) else _make(xp.asarray(weight)[safe])
    return safe, w * _make(~ignored)


def _nll_loss(input: Tensor, target: Tensor, weight, ignore_index: int, reduction: str) -> tuple:
    """``nll_loss`` and the per-element class weights it used (``_class_weights``), whose sum is
    its ``mean`` denominator."""
    unbatched = input._data.ndim == 1
    if unbatched:
        input = mv.unsqueeze(input, 0)
        target = mv.unsqueeze(target, 0)
    if input._data.ndim < 2:
        raise ValueError(f"Expected 2 or more dimensions (got {input._data.ndim})")
    if input._data.shape[0] != target._data.shape[0] or input._data.shape[2:] != target._data.shape[1:]:
        raise ValueError(
            f"Expected input batch_size ({input._data.shape[0]}) to match target batch_size ({target._data.shape[0]})."
            if input._data.shape[0] != target._data.shape[0]
            else f"Expected target size {list((input._data.shape[0],) + input._data.shape[2:])}, got {list(target._data.shape)}"
        )
    safe, w = _class_weights(target._data, weight, ignore_index, input._data.shape[1], input._data.dtype)
    picked = mv.squeeze(ix.gather(input, 1, _make(safe[:, None])), 1)
    loss = -picked * w
    if unbatched and reduction == "none":
        loss = mv.squeeze(loss, 0)
    if reduction == "mean":
        return red.sum(loss) / red.sum(w), w
    return _reduce(loss, reduction), w


@autocast_op("nll_loss")
def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None, ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class-index targets; ``input`` holds log-probabilities (N, C, ...)."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_class_target(target, "nll_loss")
    return _nll_loss(input, target, weight, ignore_index, reduction)[0]


@autocast_op("cross_entropy")
def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy of logits (N, C, ...) against class indices (N, ...) or class probabilities."""
    reduction = _reduction(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    class_dim = 0 if input._data.ndim == 1 else 1
    logp = log_softmax(input, class_dim)
    n_classes = input._data.shape[class_dim]
    if _dtype.is_float_array(target._data):
        if target._data.shape != input._data.shape:
            raise RuntimeError(
                f"cross_entropy: expected probability targets of the input's shape {shape_str(input._data.shape)}, got {shape_str(target._data.shape)}"
            )
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / n_classes
        prod = logp * target
        if weight is not None:
            prod = prod * weight.reshape((-1,) + (1,) * (input._data.ndim - class_dim - 1))
        if reduction == "mean":
            return -red.sum(prod) / (input._data.size / n_classes)
        if reduction == "sum":
            return -red.sum(prod)
        return -red.sum(prod, class_dim)
    _check_class_target(target, "nll_loss")
    nll, w = _nll_loss(logp, target, weight, ignore_index, reduction)
    if label_smoothing == 0:
        return nll
    ignored = _make(target._data == ignore_index)
    if weight is not None:
        wshape = [1] * input._data.ndim
        wshape[class_dim] = n_classes
        smooth = -red.sum(logp * weight.reshape(wshape), class_dim)
    else:
        smooth = -red.sum(logp, class_dim)
    smooth = ix.masked_fill(smooth, ignored, 0.0)
    if reduction == "mean":  # nll_loss's denominator: the kept targets' class weights (their count without weight)
        smooth_term = red.sum(smooth) / red.sum(w)
    elif reduction == "sum":
        smooth_term = red.sum(smooth)
    else:
        smooth_term = smooth
    return nll * (1 - label_smoothing) + smooth_term * (label_smoothing / n_classes)


def linear_cross_entropy(
    input: Tensor,
    linear_weight: Tensor,
    target: Tensor,
    *,
    linear_bias: Tensor | None = None,
    weight: Tensor | None = None,
    reduction: str = "mean",
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    options=None,
) -> Tensor:
    """``cross_entropy(linear(input, linear_weight, linear_bias), target, ...)``; a (C, d1..dK,
    in_features) weight gives K-dimensional logits (N, C, d1..dK). ``options`` (torch's chunking
    configuration) only changes how torch schedules memory: the result is the reference one."""
    if input._data.ndim < 1 or input._data.ndim > 2:
        raise RuntimeError(f"expected input with dimensionality 1 or 2, got {input._data.ndim}")
    if linear_weight._data.ndim < 2:
        raise RuntimeError(f"expected linear_weight with dimensionality at least 2, got {linear_weight._data.ndim}")
    batch = tuple(input._data.shape[:-1])
    in_features = input._data.shape[-1]
    if in_features != linear_weight._data.shape[-1]:
        raise RuntimeError(
            "expected equal input and linear_weight last dimensions (in_features), "
            f"got {in_features} and {linear_weight._data.shape[-1]}, respectively"
        )
    classes = linear_weight._data.shape[0]
    out_features = tuple(linear_weight._data.shape[1:-1])
    if linear_bias is not None and tuple(linear_bias._data.shape) != (classes, *out_features):
        raise RuntimeError(f"expected linear_bias shape {(classes, *out_features)}, got {tuple(linear_bias._data.shape)}")
    if out_features and not batch:
        raise RuntimeError(
            f"K-dimensional loss defined by linear_weight shape {tuple(linear_weight._data.shape)} requires"
            f" batched input, (N, {in_features}), got unbatched input with shape {tuple(input._data.shape)}"
        )
    logits_shape = (*batch, classes, *out_features)
    if tuple(target._data.shape) == logits_shape and ignore_index is not None:
        raise RuntimeError("ignore_index cannot be specified when target contains probabilities")
    logits = matmul(input, linear_weight.reshape(-1, in_features).transpose(0, 1)).reshape(logits_shape)
    if linear_bias is not None:
        logits = logits + linear_bias
    return cross_entropy(
        logits, target, weight, ignore_index=-100 if ignore_index is None else ignore_index, reduction=reduction, label_smoothing=label_smoothing
    )


def _logaddexp3(xp, a, b, c):
    m = xp.maximum(xp.maximum(a, b), c)
    safe = xp.where(xp.isneginf(m), 0.0, m)
    with numpy.errstate(divide="ignore"):  # log(0) = -inf: an unreachable position
        return safe + xp.log(xp.exp(a - safe) + xp.exp(b - safe) + xp.exp(c - safe))


class _CTC(Function):
    """Per-sample CTC negative log-likelihood by the forward (alpha) recursion over time, all
    samples and extended-label positions at once. Backward uses the beta recursion and torch's
    formula for the gradient w.r.t. ``log_probs`` (which assumes they come from log_softmax:
    exp(lp) minus the posterior of each label), zero past each input's length."""

    @staticmethod
    def forward(ctx, log_probs, labels, input_lengths, label_lengths, zero_infinity):
        lp = log_probs._data  # (T, N, C)
        xp = array_module(lp)
        t_max, n = lp.shape[:2]
        width = labels.shape[1]  # extended labels: blank, l1, blank, l2, ..., blank
        neg = -numpy.inf
        ext_lp = xp.take_along_axis(lp, xp.broadcast_to(labels[None], (t_max, n, width)), axis=2)  # (T, N, L')
        pos = xp.arange(width)
        valid = pos[None, :] < (2 * label_lengths + 1)[:, None]
        # s may also come from s-2 when l'_s is not blank and differs from l'_{s-2}.
        skip = xp.zeros((n, width), dtype=bool)
        if width > 2:
            skip[:, 2:] = (labels[:, 2:] != labels[:, :-2]) & (pos[2:] % 2 == 1)
        alpha = xp.full((t_max, n, width), neg, dtype=lp.dtype)
        if t_max:
            first = xp.full((n, width), neg, dtype=lp.dtype)
            first[:, 0] = ext_lp[0, :, 0]
            if width > 1:
                first[:, 1] = xp.where(label_lengths > 0, ext_lp[0, :, 1], neg)
            alpha[0] = xp.where(valid, first, neg)
        for t in range(1, t_max):
            prev = alpha[t - 1]
            one = xp.concatenate([xp.full((n, 1), neg, dtype=lp.dtype), prev[:, :-1]], axis=1)
            two = xp.where(skip, xp.concatenate([xp.full((n, 2), neg, dtype=lp.dtype), prev[:, :-2]], axis=1)[:, :width], neg)
            alpha[t] = xp.where(valid, _logaddexp3(xp, prev, one, two) + ext_lp[t], neg)
        last_t = xp.clip(input_lengths - 1, 0, max(t_max - 1, 0))
        rows = xp.arange(n)
        end = 2 * label_lengths
        a_end = alpha[last_t, rows, end]
        a_prev = xp.where(label_lengths > 0, alpha[last_t, rows, xp.maximum(end - 1, 0)], neg)
        nll = -xp.logaddexp(a_end, a_prev)
        impossible = xp.isinf(nll)
        ctx.state = (alpha, ext_lp, labels, input_lengths, label_lengths, valid, skip, nll, impossible if zero_infinity else None)
        if zero_infinity:
            nll = xp.where(impossible, 0.0, nll)
        ctx.save_for_backward(log_probs)
        return nll.astype(lp.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (log_probs,) = ctx.saved_tensors
        lp = log_probs._data if isinstance(log_probs, Tensor) else log_probs
        alpha, ext_lp, labels, input_lengths, label_lengths, valid, skip, nll, impossible = ctx.state
        xp = array_module(lp)
        t_max, n, c = lp.shape
        width = labels.shape[1]
        neg = -numpy.inf
        rows = xp.arange(n)
        end = 2 * label_lengths
        beta = xp.full((t_max, n, width), neg, dtype=lp.dtype)
        skip_next = xp.zeros((n, width), dtype=bool)  # s+2 reachable from s
        skip_next[:, : width - 2] = skip[:, 2:]
        for t in range(t_max - 1, -1, -1):
            init = xp.full((n, width), neg, dtype=lp.dtype)
            init[rows, end] = ext_lp[t, rows, end]
            init[rows, xp.maximum(end - 1, 0)] = xp.where(label_lengths > 0, ext_lp[t, rows, xp.maximum(end - 1, 0)], init[rows, xp.maximum(end - 1, 0)])
            if t + 1 < t_max:
                nxt = beta[t + 1]
                one = xp.concatenate([nxt[:, 1:], xp.full((n, 1), neg, dtype=lp.dtype)], axis=1)
                two = xp.where(skip_next, xp.concatenate([nxt[:, 2:], xp.full((n, 2), neg, dtype=lp.dtype)], axis=1)[:, :width], neg)
                step = xp.where(valid, _logaddexp3(xp, nxt, one, two) + ext_lp[t], neg)
            else:
                step = init
            here = xp.where((t == input_lengths - 1)[:, None], init, xp.where((t < input_lengths - 1)[:, None], step, neg))
            beta[t] = here
        # Posterior of passing through extended position s at time t, per label class.
        post = xp.exp(alpha + beta + nll[None, :, None] - ext_lp)  # (T, N, L')
        post = xp.where(xp.isnan(post), 0.0, post)
        onehot = (labels[:, :, None] == xp.arange(c)).astype(lp.dtype)  # (N, L', C)
        occupancy = xp.einsum("tns,nsc->tnc", post, onehot)
        g = xp.exp(lp) - occupancy
        active = (xp.arange(t_max)[:, None] < input_lengths[None, :])[:, :, None]
        g = xp.where(active, g, 0.0)
        if impossible is not None:  # zero_infinity: no gradient from samples without an alignment
            g = xp.where(impossible[None, :, None], 0.0, g)
        g = g.astype(lp.dtype, copy=False)
        if B.is_array(grad):
            return grad[None, :, None] * g, None, None, None, None
        return mv.unsqueeze(mv.unsqueeze(grad, 0), 2) * _make(g), None, None, None, None


def _lengths(v, name: str):
    if isinstance(v, Tensor):
        if v._data.dtype.kind not in "iu":
            raise RuntimeError(f"ctc_loss: {name} must be integral, got {v.dtype}")
        return numpy.asarray(v.detach().cpu().numpy(), dtype=numpy.int64).reshape(-1)  # lengths live on the host, as torch's
    if not isinstance(v, (tuple, list)):
        raise TypeError(f"ctc_loss(): {name} must be a tuple of ints or a Tensor, not {type(v).__name__}")
    return numpy.asarray(list(v), dtype=numpy.int64).reshape(-1)


@autocast_op("ctc_loss")
def ctc_loss(
    log_probs: Tensor, targets: Tensor, input_lengths, target_lengths, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False
) -> Tensor:
    """Connectionist Temporal Classification loss of (T, N, C) (or (T, C)) log-probabilities
    against padded (N, S) or concatenated targets; 'mean' divides each sample's loss by its
    target length before averaging, as torch's."""
    _check_reduction(reduction)
    batched = log_probs._data.ndim == 3
    if log_probs._data.ndim not in (2, 3):
        raise RuntimeError(f"ctc_loss: expected log_probs to be 2-D or 3-D, got {shape_str(log_probs._data.shape)}")
    lp = log_probs if batched else mv.unsqueeze(log_probs, 1)
    t_max, n, c = lp._data.shape
    in_len = _lengths(input_lengths, "input_lengths")
    tg_len = _lengths(target_lengths, "target_lengths")
    if len(in_len) != n:
        raise RuntimeError(f"input_lengths must be of size batch_size, but got {len(in_len)} for batch size {n}")
    if len(tg_len) != n:
        raise RuntimeError(f"target_lengths must be of size batch_size, but got {len(tg_len)} for batch size {n}")
    if blank < 0 or blank >= c:
        raise RuntimeError(f"blank must be in label range, got blank {blank} for {c} classes")
    if (in_len > t_max).any():
        raise RuntimeError(f"Expected input_lengths to have value at most {t_max}, but got value {int(in_len.max())}")
    if (in_len < 0).any() or (tg_len < 0).any():
        raise RuntimeError("ctc_loss: input_lengths and target_lengths must be non-negative")
    tgt = targets.detach().cpu().numpy().astype(numpy.int64)  # label layout is host bookkeeping
    if not batched and tgt.ndim == 1 and tgt.size == tg_len.sum() and n == 1:
        tgt = tgt.reshape(1, -1)
    s_max = int(tg_len.max(initial=0))
    padded = numpy.zeros((n, s_max), dtype=numpy.int64)
    if tgt.ndim == 2:
        if tgt.shape[1] < s_max:
            raise RuntimeError(f"Expected tensor to have size at least {s_max} at dimension 1, but got size {tgt.shape[1]}")
        padded[:] = tgt[:, :s_max] * (numpy.arange(s_max) < tg_len[:, None])
    else:
        if tgt.size < tg_len.sum():
            raise RuntimeError(f"Expected tensor to have size at least {int(tg_len.sum())} at dimension 0, but got size {tgt.size}")
        offsets = numpy.concatenate([[0], numpy.cumsum(tg_len)[:-1]]).astype(numpy.int64)
        take = numpy.minimum(offsets[:, None] + numpy.arange(s_max), max(tgt.size - 1, 0))
        padded[:] = numpy.where(numpy.arange(s_max) < tg_len[:, None], tgt.reshape(-1)[take] if tgt.size else 0, 0)
    labels = numpy.full((n, 2 * s_max + 1), blank, dtype=numpy.int64)
    labels[:, 1::2] = numpy.where(numpy.arange(s_max) < tg_len[:, None], padded, blank)
    xp = array_module(lp._data)
    nll = _CTC.apply(lp, xp.asarray(labels), xp.asarray(in_len), xp.asarray(tg_len), zero_infinity)
    if reduction == "none":
        return nll if batched else nll.reshape(())
    if reduction == "sum":
        return red.sum(nll)
    return red.mean(nll / _make(xp.asarray(numpy.maximum(tg_len, 1).astype(lp._data.dtype))))


@autocast_op("binary_cross_entropy")
def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    reduction = _reduction(size_average, reduce, reduction)
    if target._data.shape != input._data.shape:
        raise ValueError(
            f"Using a target size ({target.size()}) that is different to the input size ({input.size()}) is deprecated. Please ensure they have the same size."
        )
    if input._data.size and backend_of(input._data).checks_values and (input._data.min() < 0 or input._data.max() > 1):
        raise RuntimeError("all elements of input should be between 0 and 1")
    w = mv.expand(weight, input._data.shape) if weight is not None else None
    return _reduce(nn_ops.BinaryCrossEntropy.apply(input, target, w), reduction)


@autocast_op("binary_cross_entropy_with_logits")
def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    reduction = _reduction(size_average, reduce, reduction)
    if target._data.shape != input._data.shape:
        raise ValueError(f"Target size ({target.size()}) must be the same as input size ({input.size()})")
    w = mv.expand(weight, input._data.shape) if weight is not None else None
    pw = mv.expand(pos_weight, input._data.shape) if pos_weight is not None else None
    return _reduce(nn_ops.BinaryCrossEntropyWithLogits.apply(input, target, w, pw), reduction)


@autocast_op("kl_div")
def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL(target || exp(input)) pointwise: ``target * (log target - input)`` (0 where target is 0)."""
    reduction = _reduction(size_average, reduce, reduction)
    if log_target:
        loss = ew.exp(target) * (target - input)
    else:
        positive = target > 0
        safe_log = ew.log(ew.where(positive, target, 1.0))
        loss = ew.where(positive, target * (safe_log - input), -target * input * 0.0)
    if reduction == "batchmean":
        return red.sum(loss) / input._data.shape[0] if input._data.ndim else red.sum(loss)
    if reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support size."
            "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
            "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
            UserWarning,
            stacklevel=2,
        )
    return _reduce(loss, reduction)


@autocast_op("poisson_nll_loss")
def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False, size_average=None, eps: float = 1e-8, reduce=None, reduction: str = "mean") -> Tensor:
    if log_input:
        loss = ew.exp(input) - target * input
    else:
        loss = input - target * ew.log(input + eps)
    if full:
        stirling = target * ew.log(ew.where(target > 1, target, 1.0)) - target + ew.log(ew.where(target > 1, target, 1.0) * 2 * math.pi) * 0.5
        loss = loss + ew.where(target > 1, stirling, 0.0)
    return _reduce(loss, _reduction(size_average, reduce, reduction))


def gaussian_nll_loss(input: Tensor, target: Tensor, var: Tensor, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    if not isinstance(var, Tensor):
        var = _make(array_module(input._data).full(input._data.shape, var, dtype=input._data.dtype))
    in_shape, var_shape = tuple(input._data.shape), tuple(var._data.shape)
    if var_shape != in_shape:
        if in_shape[:-1] == var_shape:  # one variance per sample, shared by its last dim
            var = mv.unsqueeze(var, -1)
        elif not (in_shape[:-1] == var_shape[:-1] and var_shape[-1:] == (1,)):
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not valid")
    if backend_of(var._data).checks_values and bool((var._data < 0).any()):
        raise ValueError("var has negative entry/entries")
    # torch clamps a copy of var without recording it: the gradient passes the clamp unchanged.
    v = var + (ew.clamp(var, min=eps) - var).detach()
    loss = (ew.log(v) + (input - target) ** 2 / v) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


@autocast_op("margin_ranking_loss")
def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    return _reduce(ew.clamp_min(-target * (input1 - input2) + margin, 0.0), _reduction(size_average, reduce, reduction))


@autocast_op("hinge_embedding_loss")
def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    # torch's definition for any target: the margin term where target != 1, the input where target != -1.
    loss = ew.where(target != 1, ew.clamp_min(margin - input, 0.0), 0.0) + ew.where(target != -1, input, 0.0)
    return _reduce(loss, _reduction(size_average, reduce, reduction))


@autocast_op("soft_margin_loss")
def soft_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    return _reduce(softplus(-target * input), _reduction(size_average, reduce, reduction))


@autocast_op("cosine_embedding_loss")
def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    cos = cosine_similarity(input1, input2, dim=-1, eps=1e-12)
    loss = ew.where(target == 1, 1 - cos, ew.clamp_min(cos - margin, 0.0))
    return _reduce(loss, _reduction(size_average, reduce, reduction))


@autocast_op("triplet_margin_loss")
def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0, p: float = 2, eps: float = 1e-6, swap: bool = False, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    if margin <= 0:
        raise ValueError(f"TripletMarginLoss: expected margin to be greater than 0, got {margin} instead")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = ew.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce(ew.clamp_min(d_pos - d_neg + margin, 0.0), _reduction(size_average, reduce, reduction))


def triplet_margin_with_distance_loss(
    anchor: Tensor, positive: Tensor, negative: Tensor, *, distance_function=None, margin: float = 1.0, swap: bool = False, reduction: str = "mean"
) -> Tensor:
    """max(d(a, p) - d(a, n) + margin, 0) for any distance function (default: pairwise L2)."""
    if margin <= 0:
        raise ValueError(f"TripletMarginWithDistanceLoss: expected margin to be greater than 0, got {margin} instead")
    dims = (anchor._data.ndim, positive._data.ndim, negative._data.ndim)
    if len(set(dims)) != 1:
        raise RuntimeError(
            f"The anchor, positive, and negative tensors are expected to have the same number of dimensions, but got: "
            f"anchor {dims[0]}D, positive {dims[1]}D, and negative {dims[2]}D inputs"
        )
    dist = distance_function if distance_function is not None else pairwise_distance
    d_pos = dist(anchor, positive)
    d_neg = dist(anchor, negative)
    if swap:
        d_neg = ew.minimum(d_neg, dist(positive, negative))
    return _reduce(ew.clamp_min(d_pos - d_neg + margin, 0.0), reduction)


def _check_reduction(reduction: str) -> None:
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _margin_input(input: Tensor, target: Tensor, op: str, target_ndim_same: bool) -> tuple:
    """(input as (N, C), target as (N,) or (N, C), batched) with torch's shape checks."""
    nd = input._data.ndim
    if nd > 2:
        raise RuntimeError(f"{op}: Expected non-empty vector or matrix with optional 0-dim batch size, but got: {shape_str(input._data.shape)}")
    if target._data.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: expected target of an integer type, but got {target.dtype}")
    batched = nd == 2
    x = input if batched else input.reshape(1, -1)
    if target_ndim_same:
        t = target if target._data.ndim == 2 else target.reshape(1, -1)
        if tuple(t._data.shape) != tuple(x._data.shape):
            raise RuntimeError(f"{op}: inconsistent target size: {shape_str(target._data.shape)} for input of size: {shape_str(input._data.shape)}")
    else:
        t = target.reshape(-1)
        if t._data.shape[0] != x._data.shape[0] or target._data.ndim > 1:
            raise RuntimeError(f"{op}: inconsistent target size, expected {x._data.shape[0]} but got {shape_str(target._data.shape)}")
    if x._data.shape[1] == 0 and x._data.shape[0]:
        raise RuntimeError(f"{op}: Expected non-empty vector or matrix with optional 0-dim batch size, but got: {shape_str(input._data.shape)}")
    return x, t, batched


@autocast_op("multi_margin_loss")
def multi_margin_loss(
    input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0, weight: Tensor | None = None, size_average=None, reduce=None, reduction: str = "mean"
) -> Tensor:
    """Multi-class hinge loss: sum over classes i != y of max(0, margin - x[y] + x[i])^p (times
    weight[y]), divided by the number of classes."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight._data.ndim != 1:
        raise ValueError("weight must be one-dimensional")
    x, t, batched = _margin_input(input, target, "multi_margin_loss", False)
    n, c = x._data.shape
    if weight is not None and weight._data.size != c:
        raise RuntimeError(f"multi_margin_loss: inconsistent weight size, expected {c} but got {shape_str(weight._data.shape)}")
    xp = array_module(x._data)
    if n and backend_of(t._data).checks_values and (int(t._data.min()) < 0 or int(t._data.max()) >= c):
        raise RuntimeError(f"target out of range: target values should be in [0, {c})")
    idx = t.reshape(n, 1)
    x_y = ix.gather(x, 1, idx)
    z = ew.clamp_min(x - x_y + margin, 0.0)
    if p == 2:
        z = z * z
    if weight is not None:
        z = z * ix.gather(weight.reshape(1, -1).expand(n, c), 1, idx)
    others = _make((xp.arange(c)[None, :] != t._data.reshape(n, 1)).astype(x._data.dtype))
    loss = red.sum(z * others, 1) / c
    if not batched:
        loss = loss.reshape(())
    return _reduce(loss, reduction)


@autocast_op("multilabel_margin_loss")
def multilabel_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Multi-label hinge loss: ``target`` lists each sample's classes, ended by the first -1; every
    (target class j, non-target class i) pair adds max(0, 1 - (x[j] - x[i])), divided by C."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    x, t, batched = _margin_input(input, target, "multilabel_margin_loss", True)
    n, c = x._data.shape
    xp = array_module(x._data)
    tgt = t._data
    if tgt.size and backend_of(tgt).checks_values and (int(tgt.min()) < -1 or int(tgt.max()) >= c):
        raise RuntimeError(f"multilabel_margin_loss: target values should be in [-1, {c})")
    valid = xp.cumprod(tgt != -1, axis=1).astype(bool)  # the targets before the first -1
    safe = xp.where(valid, tgt, 0)
    is_target = ((safe[:, :, None] == xp.arange(c)) & valid[:, :, None]).any(axis=1)  # (N, C)
    x_j = ix.gather(x, 1, _make(safe.astype(numpy.int64)))  # (N, J)
    pair = ew.clamp_min(1.0 - mv.unsqueeze(x_j, 2) + mv.unsqueeze(x, 1), 0.0)  # (N, J, I)
    mask = (valid[:, :, None] & ~is_target[:, None, :]).astype(x._data.dtype)
    loss = red.sum(pair * _make(mask), (1, 2)) / c
    if not batched:
        loss = loss.reshape(())
    return _reduce(loss, reduction)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight=None, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    loss = red.mean(loss, -1)
    return _reduce(loss, _reduction(size_average, reduce, reduction))


# ============================================================================ attention
def _sdpa_check(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None, is_causal: bool) -> None:
    q, k, v = query._data, key._data, value._data
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise RuntimeError(
            "Expected query, key, and value to all be  at least 2 dimensional, but got query.dim: "
            f"{q.ndim} key.dim: {k.ndim} and value.dim: {v.ndim} instead."
        )
    if not (q.dtype == k.dtype == v.dtype):
        raise RuntimeError(
            "Expected query, key, and value to have the same dtype, but got query.dtype: "
            f"{query.dtype} key.dtype: {key.dtype} and value.dtype: {value.dtype} instead."
        )
    if not _dtype.is_float_array(q):
        raise RuntimeError(f"scaled_dot_product_attention: expected a floating point query, got {query.dtype}")
    if attn_mask is not None and attn_mask._data.dtype != bool and attn_mask._data.dtype != q.dtype:
        raise RuntimeError(
            "Expected attn_mask dtype to be bool or float or to match query dtype, but got attn_mask.dtype: "
            f"{attn_mask.dtype} and  query.dtype: {query.dtype} instead."
        )
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True")
    if k.shape[-1] != q.shape[-1]:
        raise RuntimeError(f"scaled_dot_product_attention: query and key embedding dims differ ({q.shape[-1]} and {k.shape[-1]})")
    if v.shape[-2] != k.shape[-2]:
        raise RuntimeError(f"scaled_dot_product_attention: key and value sequence lengths differ ({k.shape[-2]} and {v.shape[-2]})")


def _repeat_kv_heads(query: Tensor, key: Tensor, value: Tensor) -> tuple:
    """Grouped-query attention: each key/value head serves ``Hq // H`` consecutive query heads."""
    if query._data.ndim < 3 or key._data.ndim < 3:
        return key, value
    hq, hk, hv = query._data.shape[-3], key._data.shape[-3], value._data.shape[-3]
    if hq == hk and hq == hv:
        return key, value
    if hk != hv or hq % hk != 0:
        raise RuntimeError("Number of heads in key and value must divide the number of heads in query")
    return mv.repeat_interleave(key, hq // hk, dim=-3), mv.repeat_interleave(value, hq // hv, dim=-3)


@autocast_op("scaled_dot_product_attention")
def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """softmax(query @ key^T * scale + mask) @ value over the last two dims, batch dims broadcast.

    ``attn_mask``: bool (True = take part) or float (added to the scores), broadcastable to
    (..., L, S). ``is_causal``: upper-left causal mask (exclusive with ``attn_mask``). Rows with
    every key masked give 0 (and finite gradients), as torch. Dropout (``dropout_p``) acts on the
    attention weights whether or not a module is training, as in torch.
    """
    from ..ops.attention import attention

    _sdpa_check(query, key, value, attn_mask, is_causal)
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {dropout_p}")
    if enable_gqa:
        key, value = _repeat_kv_heads(query, key, value)
    if scale is None:
        scale = 1.0 / math.sqrt(query._data.shape[-1])
    drop = None
    if dropout_p > 0.0:
        ls = (query._data.shape[-2], key._data.shape[-2])
        shape = numpy.broadcast_shapes(query._data.shape[:-2] + ls, key._data.shape[:-2] + ls)
        if attn_mask is not None:
            shape = numpy.broadcast_shapes(shape, attn_mask._data.shape)
        drop = _dropout_mask(query, shape, dropout_p, query._data.dtype)
    try:
        out, _ = attention(query, key, value, attn_mask, float(scale), bool(is_causal), drop)
    except ValueError:
        shapes = ", ".join(shape_str(t._data.shape) for t in (query, key, value) + ((attn_mask,) if attn_mask is not None else ()))
        raise RuntimeError(f"scaled_dot_product_attention: shapes {shapes} cannot be broadcast") from None
    return out


def _canonical_mask(mask: Tensor | None, mask_name: str, other_type, other_name: str, target_type, check_other: bool = True) -> Tensor | None:
    """A bool mask (True = masked out) becomes an additive float mask (-inf / 0) of ``target_type``."""
    if mask is None:
        return None
    kind = mask._data.dtype.kind
    if kind != "b" and not _dtype.is_float_kind(kind):
        raise AssertionError(f"only bool and floating types of {mask_name} are supported")
    if check_other and other_type is not None and mask.dtype != other_type:
        warnings.warn(f"Support for mismatched {mask_name} and {other_name} is deprecated. Use same type for both instead.", stacklevel=2)
    if kind == "b":
        np_dtype = _dtype.to_dtype(target_type).np
        mask = _make(array_module(mask._data).where(mask._data, -numpy.inf, 0.0).astype(np_dtype))
    return mask


def _none_or_dtype(input: Tensor | None):
    if input is None:
        return None
    if isinstance(input, Tensor):
        return input.dtype
    raise RuntimeError("input to _none_or_dtype() must be None or torch.Tensor")


def _mha_shape_check(query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Tensor | None, attn_mask: Tensor | None, num_heads: int) -> bool:
    qd, kd, vd = query._data.ndim, key._data.ndim, value._data.ndim
    if qd == 3:
        if kd != 3 or vd != 3:
            raise AssertionError(
                f"For batched (3-D) `query`, expected `key` and `value` to be 3-D but found {kd}-D and {vd}-D tensors respectively"
            )
        if key_padding_mask is not None and key_padding_mask._data.ndim != 2:
            raise AssertionError(
                f"For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D but found {key_padding_mask._data.ndim}-D tensor instead"
            )
        if attn_mask is not None and attn_mask._data.ndim not in (2, 3):
            raise AssertionError(
                f"For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but found {attn_mask._data.ndim}-D tensor instead"
            )
        return True
    if qd == 2:
        if kd != 2 or vd != 2:
            raise AssertionError(
                f"For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but found {kd}-D and {vd}-D tensors respectively"
            )
        if key_padding_mask is not None and key_padding_mask._data.ndim != 1:
            raise AssertionError(
                f"For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D but found {key_padding_mask._data.ndim}-D tensor instead"
            )
        if attn_mask is not None:
            if attn_mask._data.ndim not in (2, 3):
                raise AssertionError(
                    f"For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but found {attn_mask._data.ndim}-D tensor instead"
                )
            expected = (num_heads, query._data.shape[0], key._data.shape[0])
            if attn_mask._data.ndim == 3 and attn_mask._data.shape != expected:
                raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got {shape_str(attn_mask._data.shape)}")
        return False
    raise AssertionError(f"query should be unbatched 2D or batched 3D tensor but received {qd}-D query tensor")


def _in_projection_packed(q: Tensor, k: Tensor, v: Tensor, w: Tensor, b: Tensor | None) -> tuple:
    e = q._data.shape[-1]
    if k is v:
        if q is k:  # self-attention: one GEMM for q, k and v
            return tuple(mv.chunk(linear(q, w, b), 3, -1))
        w_q, w_kv = mv.split(w, [e, 2 * e])
        b_q, b_kv = mv.split(b, [e, 2 * e]) if b is not None else (None, None)
        k_proj, v_proj = mv.chunk(linear(k, w_kv, b_kv), 2, -1)
        return linear(q, w_q, b_q), k_proj, v_proj
    w_q, w_k, w_v = mv.chunk(w, 3)
    b_q, b_k, b_v = mv.chunk(b, 3) if b is not None else (None, None, None)
    return linear(q, w_q, b_q), linear(k, w_k, b_k), linear(v, w_v, b_v)


def multi_head_attention_forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight: Tensor | None,
    in_proj_bias: Tensor | None,
    bias_k: Tensor | None,
    bias_v: Tensor | None,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight: Tensor,
    out_proj_bias: Tensor | None,
    training: bool = True,
    key_padding_mask: Tensor | None = None,
    need_weights: bool = True,
    attn_mask: Tensor | None = None,
    use_separate_proj_weight: bool = False,
    q_proj_weight: Tensor | None = None,
    k_proj_weight: Tensor | None = None,
    v_proj_weight: Tensor | None = None,
    static_k: Tensor | None = None,
    static_v: Tensor | None = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple:
    """torch's MultiheadAttention forward on (L, N, E) (or unbatched (L, E)) inputs; returns (output, weights or None).

    Weights (``need_weights``) use plain softmax (NaN for fully masked rows, as torch);
    otherwise the SDPA path's safe softmax is used.
    """
    from ..ops.attention import attention

    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:
        query, key, value = mv.unsqueeze(query, 1), mv.unsqueeze(key, 1), mv.unsqueeze(value, 1)
        if key_padding_mask is not None:
            key_padding_mask = mv.unsqueeze(key_padding_mask, 0)
    tgt_len, bsz, embed_dim = query._data.shape
    src_len = key._data.shape[0]
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", _none_or_dtype(attn_mask), "attn_mask", query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError(
            "Need attn_mask if specifying the is_causal hint. You may use the Transformer module method "
            "`generate_square_subsequent_mask` to create this mask."
        )
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype, check_other=False)
        if key_padding_mask is not None:
            is_causal = False
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if key._data.shape[:2] != value._data.shape[:2]:
            raise AssertionError(f"key's sequence and batch dims {shape_str(key._data.shape[:2])} do not match value's {shape_str(value._data.shape[:2])}")
        b_q, b_k, b_v = mv.chunk(in_proj_bias, 3) if in_proj_bias is not None else (None, None, None)
        q, k, v = linear(query, q_proj_weight, b_q), linear(key, k_proj_weight, b_k), linear(value, v_proj_weight, b_v)
    else:
        if key._data.shape != value._data.shape:
            raise AssertionError(f"key shape {shape_str(key._data.shape)} does not match value shape {shape_str(value._data.shape)}")
        q, k, v = _in_projection_packed(query, key, value, in_proj_weight, in_proj_bias)

    if attn_mask is not None:
        if attn_mask._data.ndim == 2:
            if attn_mask._data.shape != (tgt_len, src_len):
                raise RuntimeError(f"The shape of the 2D attn_mask is {shape_str(attn_mask._data.shape)}, but should be {(tgt_len, src_len)}.")
            attn_mask = mv.unsqueeze(attn_mask, 0)
        elif attn_mask._data.shape != (bsz * num_heads, tgt_len, src_len):
            raise RuntimeError(
                f"The shape of the 3D attn_mask is {shape_str(attn_mask._data.shape)}, but should be {(bsz * num_heads, tgt_len, src_len)}."
            )
    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise AssertionError("bias cannot be added to static key.")
        k = mv.cat([k, bias_k.repeat(1, bsz, 1)])
        v = mv.cat([v, bias_v.repeat(1, bsz, 1)])
        attn_mask = pad(attn_mask, (0, 1)) if attn_mask is not None else None
        key_padding_mask = pad(key_padding_mask, (0, 1)) if key_padding_mask is not None else None
    elif bias_k is not None or bias_v is not None:
        raise AssertionError("bias_k and bias_v must both be set or both be None")

    # (L, N, E) -> (N * heads, L, head_dim)
    q = mv.transpose(q.reshape(tgt_len, bsz * num_heads, head_dim), 0, 1)
    k = mv.transpose(k.reshape(k._data.shape[0], bsz * num_heads, head_dim), 0, 1) if static_k is None else static_k
    v = mv.transpose(v.reshape(v._data.shape[0], bsz * num_heads, head_dim), 0, 1) if static_v is None else static_v
    if add_zero_attn:
        zeros = _make(array_module(k._data).zeros((bsz * num_heads, 1, head_dim), dtype=k._data.dtype))
        k = mv.cat([k, zeros], dim=1)
        v = mv.cat([v, zeros], dim=1)
        attn_mask = pad(attn_mask, (0, 1)) if attn_mask is not None else None
        key_padding_mask = pad(key_padding_mask, (0, 1)) if key_padding_mask is not None else None
    src_len = k._data.shape[1]
    if key_padding_mask is not None:
        if key_padding_mask._data.shape != (bsz, src_len):
            raise AssertionError(f"Expected key_padded_mask.shape to be {(bsz, src_len)}, but got {shape_str(key_padding_mask._data.shape)}")
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(-1, num_heads, -1, -1).reshape(bsz * num_heads, 1, src_len)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0
    drop = None
    if dropout_p > 0.0:
        drop = _dropout_mask(q, (bsz * num_heads, tgt_len, src_len), dropout_p, q._data.dtype)
    out, weights = attention(q, k, v, attn_mask, 1.0 / math.sqrt(head_dim), bool(is_causal and attn_mask is None), drop, not need_weights)
    out = mv.transpose(out, 0, 1).reshape(tgt_len * bsz, embed_dim)
    out = linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, -1)
    if not is_batched:
        out = mv.squeeze(out, 1)
    if not need_weights:
        return out, None
    if drop is not None:
        weights = weights * drop
    weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
    if average_attn_weights:
        weights = red.mean(weights, 1)
    if not is_batched:
        weights = mv.squeeze(weights, 0)
    return out, weights


__all__ = sorted(name for name, value in list(globals().items()) if not name.startswith("_") and callable(value) and getattr(value, "__module__", "") in (__name__, nn_ops.__name__))


# ============================================================================ aten-level entry points
# torch's namespace also exposes the kernels behind the layers (``torch.native_batch_norm``...):
# here they are compositions of the functional ops above, returning torch's extra outputs.
def constant_pad_nd(input: Tensor, pad, value: float = 0) -> Tensor:
    """Pad (or, with negative widths, crop) the trailing dims with ``value``: ``pad`` lists
    (before, after) pairs from the last dim backwards, as ``pad(mode='constant')``."""
    return nn_ops.ConstantPad.apply(input, _pad_widths(input._data.ndim, pad), value)


class _SavedStat(Function):
    """A statistic saved by a fused normalization (``native_*_norm``'s mean/invstd): it requires
    grad with the input, but, as in torch, gradients reaching it are dropped (its kernel's
    backward uses the gradient of the normalized output only)."""

    @staticmethod
    def forward(ctx, input, value):
        return value._data

    @staticmethod
    def backward(ctx, grad):
        return None, None


def _saved_stat(input: Tensor, value: Tensor) -> Tensor:
    with no_grad():
        value = value.detach()
    return _SavedStat.apply(input, value)


def _stat_dims(input: Tensor) -> tuple:
    return (0,) + tuple(range(2, input._data.ndim))


def _empty_stat(input: Tensor) -> Tensor:
    return _make(array_module(input._data).zeros((0,), dtype=input._data.dtype))


def native_batch_norm(input: Tensor, weight, bias, running_mean, running_var, training: bool, momentum: float, eps: float) -> tuple:
    """(output, save_mean, save_invstd): batch normalization with torch's saved statistics (the
    batch mean and 1/sqrt(biased var + eps) when training, empty tensors otherwise); running
    statistics are updated in place when training."""
    out = batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)
    if not training:
        return out, _empty_stat(input), _empty_stat(input)
    with no_grad():
        dims = _stat_dims(input)
        mean = red.mean(input, dims)
        invstd = ew.rsqrt(red.var(input, dims, correction=0) + eps)
    return out, _saved_stat(input, mean), _saved_stat(input, invstd)


def _native_batch_norm_legit(input: Tensor, weight, bias, *args) -> tuple:
    """``native_batch_norm``; also the overload without running statistics
    ``(input, weight, bias, training, momentum, eps)``."""
    if len(args) == 3:
        return native_batch_norm(input, weight, bias, None, None, *args)
    return native_batch_norm(input, weight, bias, *args)


def _batch_norm_with_update(input: Tensor, weight, bias, running_mean: Tensor, running_var: Tensor, momentum: float, eps: float) -> tuple:
    """Training-mode batch norm that updates the running statistics: (output, save_mean,
    save_invstd, reserve); the saved statistics are not differentiable (as torch's)."""
    out, mean, invstd = native_batch_norm(input, weight, bias, running_mean, running_var, True, momentum, eps)
    reserve = _make(array_module(input._data).zeros((0,), dtype=numpy.uint8))
    return out, mean.detach(), invstd.detach(), reserve


def native_layer_norm(input: Tensor, normalized_shape, weight, bias, eps: float) -> tuple:
    """(output, mean, rstd) of layer normalization; the statistics keep the normalized dims as 1s."""
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if input._data.dtype.kind == "V":  # bfloat16: computed in float32 and rounded once, as torch
        return in_float32(native_layer_norm, input, normalized_shape, weight, bias, eps)
    out = layer_norm(input, normalized_shape, weight, bias, eps)
    dims = tuple(range(input._data.ndim - len(normalized_shape), input._data.ndim))
    with no_grad():
        x = ew.as_float(input) if not _dtype.is_float_array(input._data) else input
        mean = red.mean(x, dims, keepdim=True)
        rstd = ew.rsqrt(red.var(x, dims, keepdim=True, correction=0) + eps)
    return out, _saved_stat(input, mean), _saved_stat(input, rstd)


def native_group_norm(input: Tensor, weight, bias, N: int, C: int, HxW: int, group: int, eps: float) -> tuple:  # noqa: N803 - aten's names
    """(output, mean, rstd) of group normalization; the statistics are (N, group)."""
    if input._data.size != N * C * HxW:
        raise RuntimeError(f"Expected input to have {N * C * HxW} elements (N={N}, C={C}, HxW={HxW}), but got input of size {shape_str(input._data.shape)}")
    if input._data.dtype.kind == "V":  # bfloat16: computed in float32 and rounded once, as torch
        return in_float32(native_group_norm, input, weight, bias, N, C, HxW, group, eps)
    out = group_norm(input, group, weight, bias, eps)
    # Unlike layer/batch norm's, torch differentiates group norm's statistics too.
    x = input.reshape(N, group, (C // group) * HxW)
    mean = red.mean(x, -1)
    rstd = ew.rsqrt(red.var(x, -1, correction=0) + eps)
    return out, mean, rstd


def _safe_softmax(input: Tensor, dim: int, dtype=None) -> Tensor:
    """Softmax whose fully masked rows (every element -inf) give zeros instead of NaN: what
    attention with a row masked out entirely needs."""
    masked = (input == float("-inf")).all(dim, keepdim=True)
    out = softmax(ew.where(masked, 0.0, input), dim, dtype=dtype)  # finite rows: no NaN in the gradient
    return ew.where(masked, 0.0, out)


def _softmax_backward_data(grad_output: Tensor, output: Tensor, dim: int, input_dtype) -> Tensor:
    """The input gradient of ``softmax`` from its output: output * (grad - sum(grad * output))."""
    if grad_output._data.dtype.kind == "V" or output._data.dtype.kind == "V":  # bfloat16: in float32, rounded once
        return in_float32(_softmax_backward_data, grad_output, output, dim, _dtype.float32).to(input_dtype)
    g = grad_output * output
    out = g - output * red.sum(g, dim, keepdim=True)
    return out.to(input_dtype) if out.dtype != input_dtype else out


def native_dropout_backward(grad_output: Tensor, mask: Tensor, scale: float) -> Tensor:
    """The input gradient of dropout: grad * mask * scale."""
    return grad_output * mask.to(grad_output.dtype) * scale


def max_pool2d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False, return_indices: bool = True):
    """``max_pool2d`` returning (values, indices)."""
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices_backward(grad_output: Tensor, input: Tensor, kernel_size, stride, padding, dilation, ceil_mode: bool, indices: Tensor) -> Tensor:
    """The input gradient of 2-d max pooling: each output gradient added at its recorded flat index."""
    lead = input._data.shape[:-2]
    plane = input._data.shape[-2] * input._data.shape[-1]
    base = _make(array_module(grad_output._data).zeros(lead + (plane,), dtype=grad_output._data.dtype))
    flat = grad_output.reshape(lead + (-1,))
    out = ix.scatter_add(base, len(lead), indices.reshape(lead + (-1,)), flat)
    return out.reshape(input._data.shape)
