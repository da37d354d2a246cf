"""Convolution and pooling kernels on strided windows, for any number of spatial dims.

``windows`` views an (N, C, *S) array as (N, C, *k, *out) without copying (``as_strided``); a
convolution is then one batched GEMM of the weights with those windows (im2col). The adjoint,
"col2im", adds prod(k) strided slices back (no per-pixel Python loop and no ``np.add.at``).
The same code serves conv1d (as 2-d with a unit height), conv2d and conv3d.

Three bilinear maps close under differentiation, so double backward works:
  ``Conv2d``      y  = conv(x, w)
  ``ConvInput``   dx = conv^T(g, w)      (the input gradient; also the transposed convolution)
  ``ConvWeight``  dw = C(x, g)           (the weight gradient)
Each one's backward is written with the other two. (``Conv2d``, ``MaxPool2d`` and ``AvgPool2d``
keep their historical names; they take any number of spatial dims.)

Where the CPU backend has its compiled kernels (``backend.kernels``, numba; see
``_backend/cpu_kernels.py``), some shapes take a faster array algorithm for the same Function:
stride-1 3x3 convolutions (forward, input gradient, weight gradient) use Winograd F(2x2, 3x3),
2-d col2im is one compiled pass, and 2x2 stride-2 max pooling is one pass each way. Without the
kernels (``BACKPROP_JIT=0``, no numba, other devices) the NumPy code below serves every shape.
(F(4x4, 3x3) was 1.8x faster again on the ResNet's layers but its float32 error, up to 9e-4
on unit-normal data with 128 channels, exceeds the 1e-4 tolerance the oracle tests hold to.)
"""

from __future__ import annotations

import itertools
import math

import numpy

from .._backend import array_module, backend_of
from .._dtype import is_float_array
from .._tensor import Tensor
from ..autograd.function import Function
from . import _backward as B
from ._utils import ones_vector


class ConvParams(tuple):
    """(stride, padding, dilation, groups) of an N-d convolution; padding as ((before, after), ...) per spatial dim."""

    __slots__ = ()

    def __new__(cls, stride, padding, dilation, groups):
        return tuple.__new__(cls, (tuple(stride), tuple(tuple(p) for p in padding), tuple(dilation), int(groups)))

    stride = property(lambda self: self[0])
    padding = property(lambda self: self[1])
    dilation = property(lambda self: self[2])
    groups = property(lambda self: self[3])


def output_size(size: int, k: int, stride: int, pad_before: int, pad_after: int, dilation: int, ceil_mode: bool = False) -> int:
    span = size + pad_before + pad_after - dilation * (k - 1) - 1
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + pad_before:  # the last window must start inside the input
            out -= 1
        return out
    return span // stride + 1


def pad_array(x, padding, value=0.0):
    """Pad the trailing len(padding) dims of ``x`` by ((before, after), ...) with ``value``."""
    if not any(b or a for b, a in padding):
        return x
    widths = ((0, 0),) * (x.ndim - len(padding)) + tuple(tuple(p) for p in padding)
    return array_module(x).pad(x, widths, constant_values=value)


def windows(xpad, kernel, out, stride, dilation):
    """(N, C, *Sp) -> a read-only (N, C, *kernel, *out) view of the receptive fields."""
    st = xpad.strides
    sp = st[2:]
    shape = xpad.shape[:2] + tuple(kernel) + tuple(out)
    strides = st[:2] + tuple(s * d for s, d in zip(sp, dilation)) + tuple(s * t for s, t in zip(sp, stride))
    return backend_of(xpad).as_strided(xpad, shape, strides)


def _offset_slices(kernel, stride, dilation, out):
    """(flat position, offset, per-dim slices) of every kernel offset: the strided block of input
    positions that offset sees across all output positions."""
    for pos, offset in enumerate(itertools.product(*(range(k) for k in kernel))):
        yield pos, offset, tuple(slice(i * d, i * d + s * (o - 1) + 1, s) for i, d, s, o in zip(offset, dilation, stride, out))


def col2im(cols, padded_shape, stride, dilation):
    """Adjoint of ``windows``: sum (N, C, *k, *out) window values back into a padded image."""
    nd = (cols.ndim - 2) // 2
    kernel, out_sz = cols.shape[2 : 2 + nd], cols.shape[2 + nd :]
    out = array_module(cols).zeros(padded_shape, dtype=cols.dtype)
    for _, offset, sl in _offset_slices(kernel, stride, dilation, out_sz):
        out[(slice(None), slice(None)) + sl] += cols[(slice(None), slice(None)) + offset]
    return out


def crop(xpad, padding, shape):
    """The unpadded (..., *S) block of a padded array (a copy), or ``xpad`` itself without padding."""
    nd = len(padding)
    sizes = tuple(shape[-nd:])
    if xpad.shape[-nd:] == sizes and not any(p[0] for p in padding):
        return xpad
    return xpad[(Ellipsis,) + tuple(slice(p[0], p[0] + s) for p, s in zip(padding, sizes))].copy()


def _out_spatial(x_shape, w_shape, p: ConvParams) -> tuple:
    return tuple(
        output_size(x_shape[2 + i], k, p.stride[i], p.padding[i][0], p.padding[i][1], p.dilation[i]) for i, k in enumerate(w_shape[2:])
    )


# The convolution kernels work in channels-last memory: im2col then reads the channel dim
# contiguously (about 10x cheaper than from NCHW memory), and results come back as NCHW-shaped
# views of NHWC arrays, which the next layer's im2col reads without a layout change.


def _to_last(nd: int) -> tuple:
    return (0,) + tuple(range(2, nd + 2)) + (1,)


def _to_first(nd: int) -> tuple:
    return (0, nd + 1) + tuple(range(1, nd + 1))


def to_nhwc(x, padding=None):
    """(N, C, *S) of any layout -> a C-contiguous (N, *Sp, C) array, zero-padded."""
    nd = x.ndim - 2
    if padding is None or not any(b or a for b, a in padding):
        last = x.transpose(_to_last(nd))
        return last if last.flags.c_contiguous else array_module(x).array(last, order="C")
    shape = (x.shape[0],) + tuple(s + b + a for s, (b, a) in zip(x.shape[2:], padding)) + (x.shape[1],)
    out = array_module(x).zeros(shape, dtype=x.dtype)
    out[(slice(None),) + tuple(slice(b, b + s) for s, (b, _) in zip(x.shape[2:], padding))] = x.transpose(_to_last(nd))
    return out


def _nhwc_kernels(a, nd: int):
    """The CPU backend's compiled col2im kernel for 2-d float data, else None."""
    backend = backend_of(a)
    if nd != 2 or backend.kernel("col2im2d", a) is None:
        return None
    return backend.kernels


def im2col_nhwc(xpad_nhwc, kernel, out, stride, dilation):
    """(N, *Sp, C) -> (N*prod(out), prod(kernel)*C) rows of receptive fields (one copy)."""
    n, c = xpad_nhwc.shape[0], xpad_nhwc.shape[-1]
    st = xpad_nhwc.strides
    sp = st[1:-1]
    shape = (n,) + tuple(out) + tuple(kernel) + (c,)
    strides = (st[0],) + tuple(s * t for s, t in zip(sp, stride)) + tuple(s * d for s, d in zip(sp, dilation)) + (st[-1],)
    view = backend_of(xpad_nhwc).as_strided(xpad_nhwc, shape, strides)
    return view.reshape(n * math.prod(out), math.prod(kernel) * c)


def _weight_rows(w):
    """(O, Cg, *k) -> (O, prod(k)*Cg), matching im2col_nhwc's column order."""
    return w.transpose(_to_last(w.ndim - 2)).reshape(w.shape[0], -1)


def _group_slices(c: int, groups: int):
    step = c // groups
    return [slice(g * step, (g + 1) * step) for g in range(groups)]


# Winograd F(2x2, 3x3) transform of a 3x3 kernel: U = G g G^T.
_WINOGRAD_G = numpy.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
# Smallest channel counts where Winograd beats im2col (the 16 GEMMs have K = C and N = O).
WINOGRAD_MIN_CHANNELS = 8


def _winograd_kernels(x, w, p: ConvParams, w_shape=None):
    """The CPU backend's compiled kernels when this convolution (of ``x`` with weights of
    ``w_shape``, default ``w.shape``; ``w`` may be the output gradient) takes the Winograd path: a 2-d,
    ungrouped, stride-1, undilated 3x3 convolution of float32/float64 arrays with at least
    WINOGRAD_MIN_CHANNELS input and output channels; else None."""
    w_shape = tuple(w.shape if w_shape is None else w_shape)
    if len(w_shape) != 4 or w_shape[2:] != (3, 3) or p.groups != 1 or p.stride != (1, 1) or p.dilation != (1, 1):
        return None
    if min(w_shape[:2]) < WINOGRAD_MIN_CHANNELS or min(_out_spatial(x.shape, w_shape, p)) < 1:
        return None
    backend = backend_of(x)
    if x.dtype != w.dtype or backend.kernel("winograd_input", x, w) is None:
        return None
    return backend.kernels


def _tile_chunk(c: int, o: int) -> int:
    """Tiles per GEMM call in the Winograd products: OpenBLAS runs these (tiles, 16-64) GEMMs up
    to 3x faster in blocks of about 16K elements per operand row block than over all tiles at once
    (ResNet stage 1, one core: weight gradient 1.8 -> 0.7 ms, forward 1.3 -> 0.8 ms)."""
    return max(256, 16384 // max(c, o, 1))


def winograd_products(v, u):
    """(P, T, C) @ (P, C, O) -> (P, T, O) in blocks of tiles."""
    xp = array_module(v)
    p, t, c = v.shape
    m = xp.empty((p, t, u.shape[2]), dtype=xp.result_type(v, u))
    step = _tile_chunk(c, u.shape[2])
    for i in range(0, t, step):
        xp.matmul(v[:, i : i + step], u, out=m[:, i : i + step])
    return m


def winograd_products_t(v, mg):
    """sum over tiles: (P, T, C)^T @ (P, T, O) -> (P, C, O) in blocks of tiles."""
    xp = array_module(v)
    p, t, c = v.shape
    step = _tile_chunk(c, mg.shape[2])
    total = xp.matmul(v[:, :step].transpose(0, 2, 1), mg[:, :step])
    for i in range(step, t, step):
        total += xp.matmul(v[:, i : i + step].transpose(0, 2, 1), mg[:, i : i + step])
    return total


def winograd_weight(w):
    """(O, C, 3, 3) -> the (16, C, O) transformed kernel G g G^T (computed in float64)."""
    o, c = w.shape[:2]
    g = w.astype(numpy.float64).transpose(2, 3, 1, 0).reshape(3, 3 * c * o)  # (kh, (kw, C, O))
    u = (_WINOGRAD_G @ g).reshape(4, 3, c * o)  # (a, kw, (C, O))
    u = numpy.matmul(_WINOGRAD_G, u)  # (a, b, (C, O))
    return numpy.ascontiguousarray(u.reshape(16, c, o), dtype=w.dtype)


def winograd_conv2d(kernels, x, w, p: ConvParams, bias=None):
    """A stride-1 3x3 convolution by Winograd F(2x2, 3x3): transformed 4x4 input tiles (one
    compiled pass), 16 GEMMs (tiles, C) @ (C, O) in one batched matmul, and the output transform
    (one compiled pass, adding the bias). 2.25x fewer multiply-adds than im2col; on the CIFAR
    ResNet's 16-64 channel layers 1.5-2x faster (single core, AMD EPYC). Errors stay at float
    rounding level (the transforms only add and halve). Returns an (N, O, H, W) view of an NHWC array."""
    ho, wo, th, tw, xpad = _winograd_tiles(x, w.shape, p)
    m = winograd_products(kernels.winograd_input(xpad, th, tw), winograd_weight(w))
    return kernels.winograd_output(m, x.shape[0], ho, wo, th, tw, bias).transpose(0, 3, 1, 2)


def _winograd_tiles(x, w_shape, p: ConvParams):
    """(ho, wo, th, tw, xpad): output size, 2x2 tile counts, and the channels-last input padded
    (beyond the convolution's padding where the tiles overhang) so every 4x4 tile lies inside it."""
    ho, wo = _out_spatial(x.shape, w_shape, p)
    th, tw = (ho + 1) // 2, (wo + 1) // 2
    (pt, pb), (pl, pr) = p.padding
    extra_h, extra_w = 2 * th + 2 - (x.shape[2] + pt + pb), 2 * tw + 2 - (x.shape[3] + pl + pr)
    return ho, wo, th, tw, to_nhwc(x, ((pt, pb + extra_h), (pl, pr + extra_w)))


def winograd_weight_grad(kernels, x, gy, w_shape, p: ConvParams):
    """The weight gradient of ``winograd_conv2d``: the adjoint of its output transform applied to
    ``gy``, 16 GEMMs (C, tiles) @ (tiles, O) summing over the tiles, and G^T (.) G back to 3x3."""
    ho, wo, th, tw, xpad = _winograd_tiles(x, w_shape, p)
    v = kernels.winograd_input(xpad, th, tw)
    g = to_nhwc(gy, ((0, 2 * th - ho), (0, 2 * tw - wo)))
    du = winograd_products_t(v, kernels.winograd_output_adjoint(g, th, tw))  # (16, C, O)
    o, c = w_shape[:2]
    du = du.astype(numpy.float64).reshape(4, 4 * c * o)
    dw = (_WINOGRAD_G.T @ du).reshape(3, 4, c * o)  # (i, b, (C, O))
    dw = numpy.matmul(_WINOGRAD_G.T, dw)  # (i, j, (C, O))
    return numpy.ascontiguousarray(dw.reshape(3, 3, c, o).transpose(3, 2, 0, 1), dtype=x.dtype)


def conv2d_array(x, w, p: ConvParams, bias=None):
    """The N-d convolution of arrays (the name is historical)."""
    kernels = _winograd_kernels(x, w, p)
    if kernels is not None:
        return winograd_conv2d(kernels, x, w, p, bias)
    n, nd = x.shape[0], x.ndim - 2
    o = w.shape[0]
    kernel = w.shape[2:]
    out = _out_spatial(x.shape, w.shape, p)
    xpad = to_nhwc(x, p.padding)
    if p.groups == 1:
        y = im2col_nhwc(xpad, kernel, out, p.stride, p.dilation) @ _weight_rows(w).T
    else:
        xp = array_module(x)
        y = xp.empty((n * math.prod(out), o), dtype=x.dtype)
        og = o // p.groups
        for g, cs in enumerate(_group_slices(x.shape[1], p.groups)):
            cols = im2col_nhwc(xpad[..., cs], kernel, out, p.stride, p.dilation)
            xp.matmul(cols, _weight_rows(w[g * og : (g + 1) * og]).T, out=y[:, g * og : (g + 1) * og])
    if bias is not None:
        add_to_rows(y, bias)
    return y.reshape((n,) + out + (o,)).transpose(_to_first(nd))


def add_to_rows(rows, v) -> None:
    """``rows += v`` for a contiguous (R, C) matrix and a (C,) vector, through a (R/k, k*C)
    view so NumPy's inner loop runs k*C wide instead of C (2-3x faster for C <= 64)."""
    r, c = rows.shape
    k = math.gcd(r, max(1, 1024 // max(c, 1)))
    rows.reshape(r // k, k * c).__iadd__(array_module(rows).tile(v.astype(rows.dtype, copy=False), k))


def _rows_nhwc(gy):
    """(N, O, *out) of any layout -> (N*prod(out), O) rows (free for channels-last gradients)."""
    return to_nhwc(gy).reshape(-1, gy.shape[1])


def col2im_nhwc(dcols, padded_shape, kernel, out, stride, dilation):
    """Adjoint of im2col_nhwc: add (N, *out, *k, C) rows back into (N, *Sp, C) (for 2-d float
    data on the CPU in one compiled pass: the ResNet's stride-2 input gradients 1.4-2x faster)."""
    nd = len(kernel)
    kernels = _nhwc_kernels(dcols, nd)
    if kernels is not None:
        return kernels.col2im2d(dcols, padded_shape, kernel, out, stride, dilation)
    res = array_module(dcols).zeros(padded_shape, dtype=dcols.dtype)
    lead = (slice(None),) * (1 + nd)
    for _, offset, sl in _offset_slices(kernel, stride, dilation, out):
        res[(slice(None),) + sl] += dcols[lead + offset]
    return res


def conv2d_input_grad_array(gy, w, x_shape, p: ConvParams):
    """The input gradient (a transposed convolution). For stride 1 it is itself a convolution
    of the padded output gradient with the spatially flipped, transposed kernel -- one im2col
    and one GEMM; other strides add the GEMM's columns back with ``col2im_nhwc``."""
    nd = gy.ndim - 2
    full = _full_conv_padding(gy.shape, w.shape, x_shape, p)
    if full is not None:
        flipped = w[(slice(None), slice(None)) + (slice(None, None, -1),) * nd].transpose((1, 0) + tuple(range(2, nd + 2)))
        return conv2d_array(gy, flipped, ConvParams((1,) * nd, full, p.dilation, 1))
    n, o = gy.shape[:2]
    out = gy.shape[2:]
    cg = w.shape[1]
    kernel = w.shape[2:]
    c = cg * p.groups
    rows = _rows_nhwc(gy)
    if p.groups == 1:
        dcols = (rows @ _weight_rows(w)).reshape((n,) + out + kernel + (c,))
    else:
        og = o // p.groups
        dcols = array_module(gy).empty((n,) + out + kernel + (c,), dtype=gy.dtype)
        for g, cs in enumerate(_group_slices(c, p.groups)):
            part = rows[:, g * og : (g + 1) * og] @ _weight_rows(w[g * og : (g + 1) * og])
            dcols[..., cs] = part.reshape((n,) + out + kernel + (cg,))
    sizes = tuple(x_shape[2:])
    padded = (n,) + tuple(s + b + a for s, (b, a) in zip(sizes, p.padding)) + (c,)
    dxpad = col2im_nhwc(dcols, padded, kernel, out, p.stride, p.dilation)
    inner = dxpad[(slice(None),) + tuple(slice(b, b + s) for s, (b, _) in zip(sizes, p.padding))]
    return inner.transpose(_to_first(nd))


def _full_conv_padding(gy_shape, w_shape, x_shape, p: ConvParams):
    """Padding that turns the stride-1 input gradient into a plain convolution of ``gy``, or
    None when that does not apply (strided or grouped, or padding wider than the kernel)."""
    nd = len(p.stride)
    if any(s != 1 for s in p.stride) or p.groups != 1:
        return None
    pads = []
    for axis in range(nd):
        k, d = w_shape[2 + axis], p.dilation[axis]
        span = d * (k - 1)
        before = span - p.padding[axis][0]
        after = x_shape[2 + axis] + span - gy_shape[2 + axis] - before
        if before < 0 or after < 0:
            return None
        pads.append((before, after))
    return tuple(pads)


def conv2d_weight_grad_array(x, gy, w_shape, p: ConvParams):
    kernels = _winograd_kernels(x, gy, p, w_shape)
    if kernels is not None:
        return winograd_weight_grad(kernels, x, gy, w_shape, p)
    xp = array_module(x)
    o, cg = w_shape[:2]
    kernel = tuple(w_shape[2:])
    out = gy.shape[2:]
    xpad = to_nhwc(x, p.padding)
    rows = _rows_nhwc(gy)
    if p.groups == 1:
        cols = im2col_nhwc(xpad, kernel, out, p.stride, p.dilation)
        # (O, prod(k)*C): one GEMM summing over the batch; OpenBLAS runs this tall-skinny
        # product 1.2-1.5x faster as (cols.T @ rows).T than as rows.T @ cols.
        dw = (cols.T @ rows).T
    else:
        og = o // p.groups
        dw = xp.empty((o, math.prod(kernel) * cg), dtype=x.dtype)
        for g, cs in enumerate(_group_slices(x.shape[1], p.groups)):
            cols = im2col_nhwc(xpad[..., cs], kernel, out, p.stride, p.dilation)
            xp.matmul(rows[:, g * og : (g + 1) * og].T, cols, out=dw[g * og : (g + 1) * og])
    return xp.ascontiguousarray(dw.reshape((o,) + kernel + (cg,)).transpose(_to_first(len(kernel))))


class Conv2d(Function):
    """conv(x, w) (+ bias), any number of spatial dims. The bias is added to the GEMM's
    (rows, O) output, where a row broadcast is cheap; as a separate broadcast add on the
    channels-last result, forward and backward each cost more than a small convolution's GEMM."""

    @staticmethod
    def forward(ctx, x, w, bias, params):
        ctx.params = params
        ctx.save_for_backward(x, w)
        return conv2d_array(x._data, w._data, params, None if bias is None else bias._data)

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        gx = B.call(ConvInput, gy, w, x.shape, ctx.params) if need[0] else None
        gw = B.call(ConvWeight, x, gy, w.shape, ctx.params) if need[1] else None
        gb = None
        if len(need) > 2 and need[2]:
            if B.is_array(gy):
                rows = _rows_nhwc(gy)
                gb = ones_vector(rows.shape[0], rows) @ rows
            else:
                gb = B.sum(gy, (0,) + tuple(range(2, len(gy.shape))))
        return gx, gw, gb, None


def _conv_to(y, shape):
    """A convolution's output cropped to ``shape``: an output_padding wider than the stride (a
    transposed convolution) adds input positions that no forward window reached, whose
    convolution outputs have no counterpart."""
    if tuple(y.shape) == tuple(shape):
        return y
    return y[(slice(None), slice(None)) + tuple(slice(0, s) for s in shape[2:])]


class ConvInput(Function):
    """conv^T(g, w): the input gradient of a convolution, i.e. a transposed convolution."""

    @staticmethod
    def forward(ctx, gy, w, x_shape, params):
        ctx.params = params
        ctx.save_for_backward(gy, w)
        return conv2d_input_grad_array(gy._data, w._data, tuple(x_shape), params)

    @staticmethod
    def backward(ctx, gx):
        gy, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        d_gy = _conv_to(B.call(Conv2d, gx, w, None, ctx.params), gy.shape) if need[0] else None
        d_w = B.call(ConvWeight, gx, gy, w.shape, ctx.params) if need[1] else None
        return d_gy, d_w, None, None


class ConvWeight(Function):
    """C(x, g): the weight gradient of a convolution."""

    @staticmethod
    def forward(ctx, x, gy, w_shape, params):
        ctx.params = params
        ctx.save_for_backward(x, gy)
        return conv2d_weight_grad_array(x._data, gy._data, tuple(w_shape), params)

    @staticmethod
    def backward(ctx, gw):
        x, gy = ctx.saved_tensors
        need = ctx.needs_input_grad
        d_x = B.call(ConvInput, gy, gw, x.shape, ctx.params) if need[0] else None
        d_gy = _conv_to(B.call(Conv2d, x, gw, None, ctx.params), gy.shape) if need[1] else None
        return d_x, d_gy, None, None


# ---------------------------------------------------------------------------- pooling
def _pool_geometry(shape, kernel, stride, padding, dilation, ceil_mode):
    """(output sizes, ((before, after), ...) padding) of a pooling over the trailing len(kernel) dims."""
    out, pads = [], []
    for size, k, s, p, d in zip(shape[-len(kernel) :], kernel, stride, padding, dilation):
        o = output_size(size, k, s, p, p, d, ceil_mode)
        # ceil_mode may need extra padding at the end so every window fits.
        extra = max((o - 1) * s + d * (k - 1) + 1 - (size + 2 * p), 0)
        out.append(o)
        pads.append((p, p + extra))
    return tuple(out), tuple(pads)


def is_channels_last(a) -> bool:
    return a.ndim == 4 and a.transpose(0, 2, 3, 1).flags.c_contiguous and not a.flags.c_contiguous


def zeros_like_layout(like, shape):
    """Zeros of NCHW ``shape`` in ``like``'s memory layout (channels-last stays channels-last)."""
    if is_channels_last(like):
        n, c, h, w = shape
        return array_module(like).zeros((n, h, w, c), dtype=like.dtype).transpose(0, 3, 1, 2)
    return array_module(like).zeros(shape, dtype=like.dtype)


def _kernel_slices(kernel, stride, dilation, out):
    """(position, index) of every kernel offset: the strided block of input values that offset
    sees across all output positions, as an index into the padded (N, C, *S) array."""
    for pos, _, sl in _offset_slices(kernel, stride, dilation, out):
        yield pos, (Ellipsis,) + sl


def _padded_shape(shape, pads) -> tuple:
    nd = len(pads)
    return tuple(shape[:-nd]) + tuple(s + b + a for s, (b, a) in zip(shape[-nd:], pads))


# Complex inputs: the same formulas between conjugations (see _backward.holomorphic).
for _fn in (Conv2d, ConvInput, ConvWeight):
    B.holomorphic(_fn)


def _pool2x2_kernels(arr, kernel, stride, dilation, pads):
    """The CPU backend's compiled kernels when a max pooling of ``arr`` takes the one-pass 2x2,
    stride-2 path (2-d, no padding, no dilation, float32/float64); else None."""
    if arr.ndim != 4 or tuple(kernel) != (2, 2) or tuple(stride) != (2, 2) or tuple(dilation) != (1, 1):
        return None
    if any(b or a for b, a in pads):
        return None
    backend = backend_of(arr)
    return backend.kernels if backend.kernel("max_pool2x2", arr) is not None else None


def _max_pool2x2(kernels, arr):
    """(maxima, int16 argmax) of 2x2 stride-2 max pooling, in ``arr``'s layout (channels-last stays so)."""
    n, c, h, w = arr.shape
    if is_channels_last(arr):
        best, arg = kernels.max_pool2x2(arr.transpose(0, 2, 3, 1), True)
        return best.transpose(0, 3, 1, 2), arg.transpose(0, 3, 1, 2)
    best, arg = kernels.max_pool2x2(arr.reshape(n * c, h, w), False)
    return best.reshape(n, c, h // 2, w // 2), arg.reshape(n, c, h // 2, w // 2)


def _max_pool2x2_backward(kernels, g, arg, shape):
    """The input gradient of ``_max_pool2x2`` (``g`` already in ``arg``'s layout), in that layout."""
    n, c, h, w = shape
    if is_channels_last(arg):
        gx = kernels.max_pool2x2_backward(g.transpose(0, 2, 3, 1), arg.transpose(0, 2, 3, 1), h, w, True)
        return gx.transpose(0, 3, 1, 2)
    ho, wo = arg.shape[2:]
    gx = kernels.max_pool2x2_backward(g.reshape(n * c, ho, wo), arg.reshape(n * c, ho, wo), h, w, False)
    return gx.reshape(shape)


class MaxPool2d(Function):
    """Running maximum over the kernel offsets (any number of spatial dims): prod(k) strided
    passes, no window copies. The first maximum wins, as in torch; windows holding NaN take the
    exact (slower) path. On a GPU (where the NaN test would wait for the device) the exact path
    is the only one: a max and an argmax reduction over the windows."""

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, dilation, ceil_mode, return_indices):
        arr = x._data
        backend = backend_of(arr)
        xp = backend.xp
        out, pads = _pool_geometry(arr.shape, kernel, stride, padding, dilation, ceil_mode)
        fill = -numpy.inf if is_float_array(arr) else numpy.iinfo(arr.dtype).min
        xpad = pad_array(arr, pads, fill)
        n, c = arr.shape[:2]
        flat = (n, c, -1) + out
        kernels = _pool2x2_kernels(arr, kernel, stride, dilation, pads)
        if kernels is not None:
            best, arg = _max_pool2x2(kernels, arr)
        elif backend.checks_values:
            slices = list(_kernel_slices(kernel, stride, dilation, out))
            best = xpad[slices[0][1]].copy(order="K")  # keep the input's (channels-last) layout
            arg = xp.zeros_like(best, dtype=numpy.int16)
            for pos, sl in slices[1:]:
                v = xpad[sl]
                better = xp.greater(v, best).view(numpy.int8)
                xp.maximum(best, v, out=best)
                arg += better * numpy.int16(pos) - better * arg  # arg = where(better, pos, arg)
            if is_float_array(arr) and xp.isnan(best).any():
                win = windows(xpad, kernel, out, stride, dilation).reshape(flat)
                arg = xp.argmax(win, axis=2).astype(numpy.int16)  # argmax returns the first NaN
        else:
            win = windows(xpad, kernel, out, stride, dilation).reshape(flat)
            best = win.max(axis=2)  # NaN propagates, as in torch
            arg = xp.argmax(win, axis=2).astype(numpy.int16)  # the first maximum (or NaN) wins
        ctx.geometry = (arr.shape, tuple(kernel), tuple(stride), tuple(dilation), pads, out)
        ctx.arg = arg
        if not return_indices:
            return best
        indices = _flat_indices(xp, arg, arr.shape, kernel, stride, dilation, pads, out)
        ctx.mark_non_differentiable(indices)
        return best, indices

    @staticmethod
    def backward(ctx, gy, _gi=None):
        return B.call(MaxPool2dBackward, gy, ctx.arg, ctx.geometry), None, None, None, None, None, None


def _flat_indices(xp, arg, shape, kernel, stride, dilation, pads, out):
    """Flat index of each window's maximum in the (unpadded) input plane, as torch's return_indices."""
    nd = len(kernel)
    rest = arg.astype(numpy.int64)
    offsets = []
    for k in reversed(kernel):
        rest, o = xp.divmod(rest, k)
        offsets.append(o)
    offsets.reverse()
    index = 0
    for i in range(nd):
        pos = xp.arange(out[i]).reshape((-1,) + (1,) * (nd - 1 - i)) * stride[i] + offsets[i] * dilation[i] - pads[i][0]
        index = index * shape[2 + i] + pos
    return index


class MaxPool2dBackward(Function):
    """Routes each output gradient to its window's maximum; its own backward picks those entries."""

    @staticmethod
    def forward(ctx, gy, arg, geometry):
        shape, kernel, stride, dilation, pads, out = geometry
        ctx.arg = arg
        ctx.geometry = geometry
        g = gy._data
        xp = array_module(g)
        if is_channels_last(arg) != is_channels_last(g):  # one small copy beats mixed-layout passes
            g = g.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2) if is_channels_last(arg) else xp.array(g, order="C")
        kernels = _pool2x2_kernels(g, kernel, stride, dilation, pads)
        if kernels is not None:
            return _max_pool2x2_backward(kernels, g, arg, shape)
        padded = zeros_like_layout(arg, _padded_shape(shape, pads))
        padded = padded.astype(g.dtype, copy=False)
        # Windows that do not overlap write each input position at most once: a plain multiply.
        disjoint = all(s >= d * (k - 1) + 1 for s, d, k in zip(stride, dilation, kernel))
        for pos, sl in _kernel_slices(kernel, stride, dilation, out):
            view = padded[sl]
            if disjoint:
                xp.multiply(g, arg == pos, out=view)
            else:
                view += g * (arg == pos)
        return crop(padded, pads, shape)

    @staticmethod
    def backward(ctx, ggx):
        return B.call(_PickAtArg, ggx, ctx.arg, ctx.geometry), None, None


class _PickAtArg(Function):
    """Each window's value at the recorded argmax (the double backward of max pooling)."""

    @staticmethod
    def forward(ctx, x, arg, geometry):
        shape, kernel, stride, dilation, pads, out = geometry
        ctx.arg = arg
        ctx.geometry = geometry
        xpad = pad_array(x._data, pads)
        xp = array_module(xpad)
        res = xp.zeros(arg.shape, dtype=x._data.dtype)
        for pos, sl in _kernel_slices(kernel, stride, dilation, out):
            xp.copyto(res, xpad[sl], where=arg == pos)
        return res

    @staticmethod
    def backward(ctx, g):
        return B.call(MaxPool2dBackward, g, ctx.arg, ctx.geometry), None, None


def _avg_divisor(shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override, dtype, xp):
    """Per-output-position divisor of average pooling (torch's rules for padding and ceil_mode),
    an array of array module ``xp``."""
    if divisor_override:
        return float(divisor_override)
    nd = len(kernel)
    out, _ = _pool_geometry(shape, kernel, stride, padding, (1,) * nd, ceil_mode)
    total = 1
    for i, (size, k, s, p, o) in enumerate(zip(shape[-nd:], kernel, stride, padding, out)):
        start = xp.arange(o) * s - p
        end = xp.minimum(start + k, size + p)
        count = end - start if count_include_pad else xp.minimum(end, size) - xp.maximum(start, 0)
        total = total * count.reshape((-1,) + (1,) * (nd - 1 - i))
    return total.astype(dtype)


def _window_mean(arr, geometry):
    shape, kernel, stride, pads, out, divisor = geometry
    win = windows(pad_array(arr, pads), kernel, out, stride, (1,) * len(kernel))
    return (win.sum(axis=tuple(range(2, 2 + len(kernel)))) / divisor).astype(arr.dtype, copy=False)


class AvgPool2d(Function):
    """Average pooling over any number of spatial dims."""

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
        arr = x._data
        out, pads = _pool_geometry(arr.shape, kernel, stride, padding, (1,) * len(kernel), ceil_mode)
        xp = array_module(arr)
        divisor = _avg_divisor(arr.shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override, arr.dtype, xp)
        ctx.geometry = (arr.shape, tuple(kernel), tuple(stride), pads, out, divisor)
        return _window_mean(arr, ctx.geometry)

    @staticmethod
    def backward(ctx, gy):
        return B.call(AvgPool2dBackward, gy, ctx.geometry), None, None, None, None, None, None


class AvgPool2dBackward(Function):
    @staticmethod
    def forward(ctx, gy, geometry):
        shape, kernel, stride, pads, out, divisor = geometry
        ctx.geometry = geometry
        g = (gy._data / divisor).astype(gy._data.dtype, copy=False)
        nd = len(kernel)
        cols = array_module(g).broadcast_to(g[(slice(None), slice(None)) + (None,) * nd], g.shape[:2] + kernel + out)
        return crop(col2im(cols, _padded_shape(shape, pads), stride, (1,) * nd), pads, shape)

    @staticmethod
    def backward(ctx, ggx):
        return B.call(_AvgPoolAgain, ggx, ctx.geometry), None


class _AvgPoolAgain(Function):
    """Average pooling with a fixed geometry (the backward of AvgPool2dBackward)."""

    @staticmethod
    def forward(ctx, x, geometry):
        ctx.geometry = geometry
        return _window_mean(x._data, geometry)

    @staticmethod
    def backward(ctx, g):
        return B.call(AvgPool2dBackward, g, ctx.geometry), None


def ntuple(v, n: int, name: str = "value") -> tuple:
    """``v`` (an int, a Tensor or a sequence of 1 or n ints) as an n-tuple of ints."""
    if isinstance(v, Tensor):
        v = v.tolist()
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return (int(v[0]),) * n
        if len(v) != n:
            raise ValueError(f"{name} must be an int or {'a pair' if n == 2 else f'a tuple of {n}'} ints, got {v}")
        return tuple(int(e) for e in v)
    return (int(v),) * n


def pair(v, name: str = "value") -> tuple:
    return ntuple(v, 2, name)
