"""Convolution and pooling kernels on strided windows.

``windows`` views an (N, C, H, W) array as (N, C, kh, kw, OH, OW) without copying
(``as_strided``); a convolution is then one batched GEMM of the weights with those windows
(im2col). The adjoint, "col2im", adds kh*kw strided slices back (no per-pixel Python loop
and no ``np.add.at``).

Three bilinear maps close under differentiation, so double backward works:
  ``Conv2d``      y  = conv(x, w)
  ``ConvInput``   dx = conv^T(g, w)      (the input gradient; also the transposed convolution)
  ``ConvWeight``  dw = C(x, g)           (the weight gradient)
Each one's backward is written with the other two.
"""

from __future__ import annotations

import math

import numpy

from .._backend import array_module, backend_of
from .._tensor import Tensor
from ..autograd.function import Function
from . import _backward as B
from ._utils import ones_vector


class ConvParams(tuple):
    """(stride, padding, dilation, groups) of a 2-D convolution; padding as ((top, bottom), (left, right))."""

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
    (pt, pb), (pl, pr) = padding
    if not (pt or pb or pl or pr):
        return x
    return array_module(x).pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=value)


def windows(xpad, kh: int, kw: int, oh: int, ow: int, stride, dilation):
    """(N, C, Hp, Wp) -> a read-only (N, C, kh, kw, OH, OW) view of the receptive fields."""
    n, c = xpad.shape[:2]
    s_n, s_c, s_h, s_w = xpad.strides
    (sh, sw), (dh, dw) = stride, dilation
    return backend_of(xpad).as_strided(xpad, (n, c, kh, kw, oh, ow), (s_n, s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw))


def col2im(cols, padded_shape, stride, dilation):
    """Adjoint of ``windows``: sum (N, C, kh, kw, OH, OW) window values back into a padded image."""
    n, c, kh, kw, oh, ow = cols.shape
    (sh, sw), (dh, dw) = stride, dilation
    out = array_module(cols).zeros(padded_shape, dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i * dh : i * dh + sh * (oh - 1) + 1 : sh, j * dw : j * dw + sw * (ow - 1) + 1 : sw] += cols[:, :, i, j]
    return out


def crop(xpad, padding, shape):
    (pt, _), (pl, _) = padding
    h, w = shape[-2:]
    if xpad.shape[-2:] == (h, w) and pt == 0 and pl == 0:
        return xpad
    return xpad[:, :, pt : pt + h, pl : pl + w].copy()


def _out_hw(x_shape, w_shape, p: ConvParams):
    kh, kw = w_shape[-2:]
    (pt, pb), (pl, pr) = p.padding
    return (
        output_size(x_shape[2], kh, p.stride[0], pt, pb, p.dilation[0]),
        output_size(x_shape[3], kw, p.stride[1], pl, pr, p.dilation[1]),
    )


# The convolution kernels work in channels-last memory: im2col then reads the channel dim
# contiguously (about 10x cheaper than from NCHW memory), and results come back as NCHW-shaped
# views of NHWC arrays, which the next layer's im2col reads without a layout change.


def to_nhwc(x, padding=((0, 0), (0, 0))):
    """(N, C, H, W) of any layout -> a C-contiguous (N, Hp, Wp, C) array, zero-padded."""
    (pt, pb), (pl, pr) = padding
    n, c, h, w = x.shape
    if not (pt or pb or pl or pr):
        nhwc = x.transpose(0, 2, 3, 1)
        return nhwc if nhwc.flags.c_contiguous else array_module(x).array(nhwc, order="C")
    out = array_module(x).zeros((n, h + pt + pb, w + pl + pr, c), dtype=x.dtype)
    out[:, pt : pt + h, pl : pl + w] = x.transpose(0, 2, 3, 1)
    return out


def im2col_nhwc(xpad_nhwc, kh: int, kw: int, oh: int, ow: int, stride, dilation):
    """(N, Hp, Wp, C) -> (N*OH*OW, kh*kw*C) rows of receptive fields (one copy)."""
    n, _, _, c = xpad_nhwc.shape
    s_n, s_h, s_w, s_c = xpad_nhwc.strides
    (sh, sw), (dh, dw) = stride, dilation
    shape, strides = (n, oh, ow, kh, kw, c), (s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c)
    view = backend_of(xpad_nhwc).as_strided(xpad_nhwc, shape, strides)
    return view.reshape(n * oh * ow, kh * kw * c)


def _weight_rows(w):
    """(O, Cg, kh, kw) -> (O, kh*kw*Cg), matching im2col_nhwc's column order."""
    o = w.shape[0]
    return w.transpose(0, 2, 3, 1).reshape(o, -1)


def _group_slices(c: int, groups: int):
    step = c // groups
    return [slice(g * step, (g + 1) * step) for g in range(groups)]


def conv2d_array(x, w, p: ConvParams, bias=None):
    n = x.shape[0]
    o, cg, kh, kw = w.shape
    oh, ow = _out_hw(x.shape, w.shape, p)
    xpad = to_nhwc(x, p.padding)
    if p.groups == 1:
        y = im2col_nhwc(xpad, kh, kw, oh, ow, p.stride, p.dilation) @ _weight_rows(w).T
    else:
        xp = array_module(x)
        y = xp.empty((n * oh * ow, o), dtype=x.dtype)
        og = o // p.groups
        for g, cs in enumerate(_group_slices(x.shape[1], p.groups)):
            cols = im2col_nhwc(xpad[..., cs], kh, kw, oh, ow, p.stride, p.dilation)
            xp.matmul(cols, _weight_rows(w[g * og : (g + 1) * og]).T, out=y[:, g * og : (g + 1) * og])
    if bias is not None:
        add_to_rows(y, bias)
    return y.reshape(n, oh, ow, o).transpose(0, 3, 1, 2)


def add_to_rows(rows, v) -> None:
    """``rows += v`` for a contiguous (R, C) matrix and a (C,) vector, through a (R/k, k*C)
    view so NumPy's inner loop runs k*C wide instead of C (2-3x faster for C <= 64)."""
    r, c = rows.shape
    k = math.gcd(r, max(1, 1024 // max(c, 1)))
    rows.reshape(r // k, k * c).__iadd__(array_module(rows).tile(v.astype(rows.dtype, copy=False), k))


def _rows_nhwc(gy):
    """(N, O, OH, OW) of any layout -> (N*OH*OW, O) rows (free for channels-last gradients)."""
    n, o, oh, ow = gy.shape
    return to_nhwc(gy).reshape(n * oh * ow, o)


def col2im_nhwc(dcols, padded_shape, kh: int, kw: int, oh: int, ow: int, stride, dilation):
    """Adjoint of im2col_nhwc: add (N, OH, OW, kh, kw, C) rows back into (N, Hp, Wp, C)."""
    (sh, sw), (dh, dw) = stride, dilation
    out = array_module(dcols).zeros(padded_shape, dtype=dcols.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, i * dh : i * dh + sh * (oh - 1) + 1 : sh, j * dw : j * dw + sw * (ow - 1) + 1 : sw] += dcols[:, :, :, i, j]
    return out


def conv2d_input_grad_array(gy, w, x_shape, p: ConvParams):
    """The input gradient (a transposed convolution). For stride 1 it is itself a convolution
    of the padded output gradient with the spatially flipped, transposed kernel -- one im2col
    and one GEMM; other strides add the GEMM's columns back with ``col2im_nhwc``."""
    full = _full_conv_padding(gy.shape, w.shape, x_shape, p)
    if full is not None:
        flipped = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
        return conv2d_array(gy, flipped, ConvParams((1, 1), full, p.dilation, 1))
    n, o, oh, ow = gy.shape
    _, cg, kh, kw = w.shape
    c = cg * p.groups
    (pt, pb), (pl, pr) = p.padding
    h, wd = x_shape[2], x_shape[3]
    rows = _rows_nhwc(gy)
    if p.groups == 1:
        dcols = (rows @ _weight_rows(w)).reshape(n, oh, ow, kh, kw, c)
    else:
        og = o // p.groups
        dcols = array_module(gy).empty((n, oh, ow, kh, kw, c), dtype=gy.dtype)
        for g, cs in enumerate(_group_slices(c, p.groups)):
            part = rows[:, g * og : (g + 1) * og] @ _weight_rows(w[g * og : (g + 1) * og])
            dcols[..., cs] = part.reshape(n, oh, ow, kh, kw, cg)
    dxpad = col2im_nhwc(dcols, (n, h + pt + pb, wd + pl + pr, c), kh, kw, oh, ow, p.stride, p.dilation)
    return dxpad[:, pt : pt + h, pl : pl + wd].transpose(0, 3, 1, 2)


def _full_conv_padding(gy_shape, w_shape, x_shape, p: ConvParams):
    """Padding that turns the stride-1 input gradient into a plain convolution of ``gy``, or
    None when that does not apply (strided or grouped, or padding wider than the kernel)."""
    if p.stride != (1, 1) or p.groups != 1:
        return None
    pads = []
    for axis in range(2):
        k, d = w_shape[2 + axis], p.dilation[axis]
        span = d * (k - 1)
        before = span - p.padding[axis][0]
        after = x_shape[2 + axis] + span - gy_shape[2 + axis] - before
        if before < 0 or after < 0:
            return None
        pads.append((before, after))
    return tuple(pads)


def conv2d_weight_grad_array(x, gy, w_shape, p: ConvParams):
    xp = array_module(x)
    o, cg, kh, kw = w_shape
    oh, ow = gy.shape[2:]
    xpad = to_nhwc(x, p.padding)
    rows = _rows_nhwc(gy)
    if p.groups == 1:
        cols = im2col_nhwc(xpad, kh, kw, oh, ow, p.stride, p.dilation)
        # (O, kh*kw*C): one GEMM summing over the batch; OpenBLAS runs this tall-skinny
        # product 1.2-1.5x faster as (cols.T @ rows).T than as rows.T @ cols.
        dw = (cols.T @ rows).T
    else:
        og = o // p.groups
        dw = xp.empty((o, kh * kw * cg), dtype=x.dtype)
        for g, cs in enumerate(_group_slices(x.shape[1], p.groups)):
            cols = im2col_nhwc(xpad[..., cs], kh, kw, oh, ow, p.stride, p.dilation)
            xp.matmul(rows[:, g * og : (g + 1) * og].T, cols, out=dw[g * og : (g + 1) * og])
    return xp.ascontiguousarray(dw.reshape(o, kh, kw, cg).transpose(0, 3, 1, 2))


class Conv2d(Function):
    """conv(x, w) (+ bias). The bias is added to the GEMM's (rows, O) output, where a row
    broadcast is cheap; as a separate broadcast add on the channels-last result, forward and
    backward each cost more than a small convolution's GEMM."""

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
                gb = B.sum(gy, (0, 2, 3))
        return gx, gw, gb, None


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
        d_gy = B.call(Conv2d, gx, w, None, ctx.params) if need[0] else None
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
        d_gy = B.call(Conv2d, x, gw, None, ctx.params) if need[1] else None
        return d_x, d_gy, None, None


# ---------------------------------------------------------------------------- pooling
def _pool_geometry(shape, kernel, stride, padding, dilation, ceil_mode):
    h, w = shape[-2:]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    oh = output_size(h, kh, sh, ph, ph, dh, ceil_mode)
    ow = output_size(w, kw, sw, pw, pw, dw, ceil_mode)
    # ceil_mode may need extra padding on the bottom/right so every window fits.
    eh = max((oh - 1) * sh + dh * (kh - 1) + 1 - (h + 2 * ph), 0)
    ew = max((ow - 1) * sw + dw * (kw - 1) + 1 - (w + 2 * pw), 0)
    return oh, ow, ((ph, ph + eh), (pw, pw + ew))


def is_channels_last(a) -> bool:
    return a.ndim == 4 and a.transpose(0, 2, 3, 1).flags.c_contiguous and not a.flags.c_contiguous


def zeros_like_layout(like, shape):
    """Zeros of NCHW ``shape`` in ``like``'s memory layout (channels-last stays channels-last)."""
    if is_channels_last(like):
        n, c, h, w = shape
        return array_module(like).zeros((n, h, w, c), dtype=like.dtype).transpose(0, 3, 1, 2)
    return array_module(like).zeros(shape, dtype=like.dtype)


def _kernel_slices(kernel, stride, dilation, oh: int, ow: int):
    """(position, (row slice, col slice)) of every kernel offset: the strided plane of input
    values that offset sees across all output positions."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
            yield i * kw + j, (Ellipsis, rows, cols)


# Complex inputs: the same formulas between conjugations (see _backward.holomorphic).
for _fn in (Conv2d, ConvInput, ConvWeight):
    B.holomorphic(_fn)


class MaxPool2d(Function):
    """Running maximum over the kernel offsets: kh*kw strided passes, no window copies. The
    first maximum wins, as in torch; windows holding NaN take the exact (slower) path. On a
    GPU (where the NaN test would wait for the device) the exact path is the only one: a max
    and an argmax reduction over the windows."""

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, dilation, ceil_mode, return_indices):
        arr = x._data
        backend = backend_of(arr)
        xp = backend.xp
        oh, ow, pads = _pool_geometry(arr.shape, kernel, stride, padding, dilation, ceil_mode)
        fill = -numpy.inf if arr.dtype.kind == "f" else numpy.iinfo(arr.dtype).min
        xpad = pad_array(arr, pads, fill)
        n, c = arr.shape[:2]
        if backend.checks_values:
            slices = list(_kernel_slices(kernel, stride, dilation, oh, ow))
            best = xpad[slices[0][1]].copy(order="K")  # keep the input's (channels-last) layout
            arg = xp.zeros_like(best, dtype=numpy.int16)
            for pos, sl in slices[1:]:
                v = xpad[sl]
                better = xp.greater(v, best).view(numpy.int8)
                xp.maximum(best, v, out=best)
                arg += better * numpy.int16(pos) - better * arg  # arg = where(better, pos, arg)
            if arr.dtype.kind == "f" and xp.isnan(best).any():
                win = windows(xpad, kernel[0], kernel[1], oh, ow, stride, dilation).reshape(n, c, -1, oh, ow)
                arg = xp.argmax(win, axis=2).astype(numpy.int16)  # argmax returns the first NaN
        else:
            win = windows(xpad, kernel[0], kernel[1], oh, ow, stride, dilation).reshape(n, c, -1, oh, ow)
            best = win.max(axis=2)  # NaN propagates, as in torch
            arg = xp.argmax(win, axis=2).astype(numpy.int16)  # the first maximum (or NaN) wins
        ctx.geometry = (arr.shape, kernel, stride, dilation, pads, oh, ow)
        ctx.arg = arg
        if not return_indices:
            return best
        # Flat index of each maximum in the (unpadded) input plane, as torch's return_indices.
        ki, kj = xp.divmod(arg.astype(numpy.int64), kernel[1])
        rows = xp.arange(oh)[:, None] * stride[0] + ki * dilation[0] - pads[0][0]
        cols = xp.arange(ow)[None, :] * stride[1] + kj * dilation[1] - pads[1][0]
        indices = rows * arr.shape[3] + cols
        ctx.mark_non_differentiable(indices)
        return best, indices

    @staticmethod
    def backward(ctx, gy, _gi=None):
        return B.call(MaxPool2dBackward, gy, ctx.arg, ctx.geometry), None, None, None, None, None, None


class MaxPool2dBackward(Function):
    """Routes each output gradient to its window's maximum; its own backward picks those entries."""

    @staticmethod
    def forward(ctx, gy, arg, geometry):
        shape, kernel, stride, dilation, pads, oh, ow = geometry
        ctx.arg = arg
        ctx.geometry = geometry
        g = gy._data
        xp = array_module(g)
        n, c = g.shape[:2]
        if is_channels_last(arg) != is_channels_last(g):  # one small copy beats mixed-layout passes
            g = g.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2) if is_channels_last(arg) else xp.array(g, order="C")
        padded = zeros_like_layout(arg, (n, c, shape[2] + pads[0][0] + pads[0][1], shape[3] + pads[1][0] + pads[1][1]))
        padded = padded.astype(g.dtype, copy=False)
        # Windows that do not overlap write each input position at most once: a plain multiply.
        disjoint = all(s >= d * (k - 1) + 1 for s, d, k in zip(stride, dilation, kernel))
        for pos, sl in _kernel_slices(kernel, stride, dilation, oh, ow):
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
        shape, kernel, stride, dilation, pads, oh, ow = geometry
        ctx.arg = arg
        ctx.geometry = geometry
        xpad = pad_array(x._data, pads)
        xp = array_module(xpad)
        out = xp.zeros(arg.shape, dtype=x._data.dtype)
        for pos, sl in _kernel_slices(kernel, stride, dilation, oh, ow):
            xp.copyto(out, xpad[sl], where=arg == pos)
        return out

    @staticmethod
    def backward(ctx, g):
        return B.call(MaxPool2dBackward, g, ctx.arg, ctx.geometry), None, None


def _avg_divisor(shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override, dtype, xp):
    """Per-output-position divisor of average pooling (torch's rules for padding and ceil_mode),
    an array of array module ``xp``."""
    if divisor_override:
        return float(divisor_override)
    h, w = shape[-2:]
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow, _ = _pool_geometry(shape, kernel, stride, padding, (1, 1), ceil_mode)

    def counts(size, k, s, p, o):
        start = xp.arange(o) * s - p
        end = xp.minimum(start + k, size + p)
        full = end - start
        if count_include_pad:
            return full
        return xp.minimum(end, size) - xp.maximum(start, 0)

    ch = counts(h, kh, sh, ph, oh)
    cw = counts(w, kw, sw, pw, ow)
    return (ch[:, None] * cw[None, :]).astype(dtype)


class AvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
        arr = x._data
        oh, ow, pads = _pool_geometry(arr.shape, kernel, stride, padding, (1, 1), ceil_mode)
        kh, kw = kernel
        win = windows(pad_array(arr, pads), kh, kw, oh, ow, stride, (1, 1))
        xp = array_module(arr)
        divisor = _avg_divisor(arr.shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override, arr.dtype, xp)
        ctx.geometry = (arr.shape, kernel, stride, pads, oh, ow, divisor)
        return (win.sum(axis=(2, 3)) / divisor).astype(arr.dtype, copy=False)

    @staticmethod
    def backward(ctx, gy):
        return B.call(AvgPool2dBackward, gy, ctx.geometry), None, None, None, None, None, None


class AvgPool2dBackward(Function):
    @staticmethod
    def forward(ctx, gy, geometry):
        shape, (kh, kw), stride, pads, oh, ow, divisor = geometry
        ctx.geometry = geometry
        g = (gy._data / divisor).astype(gy._data.dtype, copy=False)
        n, c = g.shape[:2]
        cols = array_module(g).broadcast_to(g[:, :, None, None], (n, c, kh, kw, oh, ow))
        padded = (n, c, shape[2] + pads[0][0] + pads[0][1], shape[3] + pads[1][0] + pads[1][1])
        return crop(col2im(cols, padded, stride, (1, 1)), pads, shape)

    @staticmethod
    def backward(ctx, ggx):
        return B.call(_AvgPoolAgain, ggx, ctx.geometry), None


class _AvgPoolAgain(Function):
    """Average pooling with a fixed geometry (the backward of AvgPool2dBackward)."""

    @staticmethod
    def forward(ctx, x, geometry):
        shape, kernel, stride, pads, oh, ow, divisor = geometry
        ctx.geometry = geometry
        win = windows(pad_array(x._data, pads), kernel[0], kernel[1], oh, ow, stride, (1, 1))
        return (win.sum(axis=(2, 3)) / divisor).astype(x._data.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        return B.call(AvgPool2dBackward, g, ctx.geometry), None


def pair(v, name: str = "value") -> tuple:
    if isinstance(v, Tensor):
        v = v.tolist()
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return (int(v[0]), int(v[0]))
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {v}")
        return (int(v[0]), int(v[1]))
    return (int(v), int(v))

