"""Fused kernels of the CUDA backend (CuPy), called through ``backend_of(x).kernels``.

Ops call them by name where this backend has them (``nn_ops._fused``); on the CPU the ops' own
array code runs instead. ``tests/kernel_reference.py`` holds a NumPy reference of each, which
``tests/test_cuda.py`` checks these against on a GPU. Why fused: on a GPU an unfused
composite costs one launch and one full read and write of memory per elementary op (an 8-op
tanh-GELU: 172 us unfused, 16 us as one kernel on an H200). The kernels here cover what a
training step spends its elementwise time on: GELU, softmax/log-softmax (rows, with the
attention's causal mask), LayerNorm/RMSNorm rows, dropout masks drawn from Philox, and the
SGD/Adam/AdamW updates. Arithmetic is done in float32 for float32 data and float64 for float64
(``Acc<T>``); float16 data takes the generic array path.

Kernels compile on first use (CuPy caches the binaries on disk).
"""

from __future__ import annotations

import math

import cupy
import numpy

from .cuda_sources import ELEMENTWISE, ROWS


def _elementwise(key: str):
    in_params, out_params, operation, name, preamble = ELEMENTWISE[key]
    return cupy.ElementwiseKernel(in_params, out_params, operation, name, preamble=preamble)


# ---------------------------------------------------------------------------- random numbers

_PHILOX = _elementwise("philox")

# Element i of a mask uses word i of the Philox stream (counter offset + i / 4, word i % 4), the
# same uniform as PhiloxStream.random: (word >> 8) * 2**-24.
_DROPOUT_MASK = _elementwise("dropout_mask")


def philox_uint32(seed: int, offset: int, n: int):
    """``n`` random uint32 words: Philox4x32-10 with key ``seed`` of the counters ``offset, ...``
    (the Philox4x32-10 stream, checked against the published known answers), one thread per counter."""
    out = cupy.empty(n, dtype=numpy.uint32)
    blocks = (n + 3) // 4
    if blocks:
        _PHILOX(numpy.uint64(seed), numpy.uint64(offset), numpy.int64(n), out, size=blocks)
    return out


def dropout_mask(seed: int, offset: int, shape: tuple, p: float, dtype):
    """The scaled keep-mask of dropout (``1/(1-p)`` where kept, else 0) from Philox words
    ``offset*4 ...``: one kernel (element i keeps when ``(word_i >> 8) * 2**-24 >= p``)."""
    mask = cupy.empty(shape, dtype=dtype)
    if mask.size:
        scale = dtype.type(1.0 / (1.0 - p)) if p < 1 else dtype.type(0)
        _DROPOUT_MASK(numpy.uint64(seed), numpy.uint64(offset), numpy.float32(p), scale, mask)
    return mask


# ---------------------------------------------------------------------------- GELU
_GELU_FORWARD = _elementwise("gelu_forward")

_GELU_BACKWARD = _elementwise("gelu_backward")


def gelu_forward(x, approximate: str):
    """``(gelu(x), aux)``; on CUDA backward recomputes from ``x`` (cheaper than storing), so aux is None."""
    return _GELU_FORWARD(x, numpy.int32(approximate == "tanh")), None


def gelu_backward(x, aux, grad, approximate: str):
    return _GELU_BACKWARD(x, grad, numpy.int32(approximate == "tanh"))


# ---------------------------------------------------------------------------- rows: softmax, layer norm
_SUFFIX = {numpy.dtype(numpy.float32): "f32", numpy.dtype(numpy.float64): "f64"}
_row_module: list = []  # the compiled RawModule, made on first use
_NULL = numpy.uint64(0)  # a null pointer argument (no weight / no bias / no output)


def _row_launch(cols: int) -> int:
    """Threads per row block: enough for one pass over short rows, 256 for long ones."""
    return int(min(256, max(32, 1 << math.ceil(math.log2(max(cols, 1))))))


def _row_function(name: str, dtype):
    if not _row_module:
        _row_module.append(cupy.RawModule(code=ROWS, options=("-std=c++14",)))
    return _row_module[0].get_function(f"{name}_{_SUFFIX[numpy.dtype(dtype)]}")


def _in_float32(fn):
    """Row kernels exist for float32 and float64: float16 arrays run through float32."""

    def run(*args, **kwargs):
        if not any(getattr(a, "dtype", None) == numpy.float16 for a in args):
            return fn(*args, **kwargs)
        up = [a.astype(numpy.float32) if getattr(a, "dtype", None) == numpy.float16 else a for a in args]
        out = fn(*up, **kwargs)
        if isinstance(out, tuple):
            return tuple(o.astype(numpy.float16) if o is not None else None for o in out)
        return out.astype(numpy.float16)

    run.__name__, run.__doc__ = fn.__name__, fn.__doc__
    return run


@_in_float32
def softmax_forward(x, dim: int, log: bool, safe: bool = False, causal: bool = False):
    """softmax (``log``: log_softmax) along ``dim``; one block per row. ``causal``: the last
    two axes are (queries, keys) and key j > query i is masked (upper-left aligned)."""
    moved = dim != x.ndim - 1 and dim != -1
    work = cupy.ascontiguousarray(cupy.moveaxis(x, dim, -1) if moved else x)
    cols = work.shape[-1] if work.ndim else 1
    rows = work.size // max(cols, 1)
    out = cupy.empty_like(work)
    if rows and cols:
        causal_rows = work.shape[-2] if causal else 0
        _row_function("softmax", work.dtype)(
            (rows,), (_row_launch(cols),), (work, out, numpy.int64(cols), numpy.int32(log), numpy.int32(safe), numpy.int64(causal_rows))
        )
    return cupy.moveaxis(out, -1, dim) if moved else out


@_in_float32
def softmax_backward(y, grad, dim: int, log: bool):
    moved = dim != y.ndim - 1 and dim != -1
    yw = cupy.ascontiguousarray(cupy.moveaxis(y, dim, -1) if moved else y)
    gw = cupy.ascontiguousarray(cupy.moveaxis(grad, dim, -1) if moved else grad)
    cols = yw.shape[-1] if yw.ndim else 1
    rows = yw.size // max(cols, 1)
    out = cupy.empty_like(yw)
    if rows and cols:
        _row_function("softmax_backward", yw.dtype)((rows,), (_row_launch(cols),), (yw, gw, out, numpy.int64(cols), numpy.int32(log)))
    return cupy.moveaxis(out, -1, dim) if moved else out


@_in_float32
def norm_rows_forward(x2d, weight, bias, eps: float, rms: bool):
    """LayerNorm (``rms``: RMSNorm) of each row of a (rows, cols) array, with the optional
    (cols,) ``weight``/``bias``: ``(out, mean, invstd)`` (mean and 1/std per row)."""
    x2d = cupy.ascontiguousarray(x2d)
    rows, cols = x2d.shape
    out = cupy.empty_like(x2d)
    mean = cupy.empty(rows, dtype=x2d.dtype)
    invstd = cupy.empty(rows, dtype=x2d.dtype)
    if rows and cols:
        w = cupy.ascontiguousarray(weight) if weight is not None else _NULL
        b = cupy.ascontiguousarray(bias) if bias is not None else _NULL
        _row_function("norm", x2d.dtype)(
            (rows,), (_row_launch(cols),), (x2d, w, b, out, mean, invstd, numpy.int64(cols), numpy.float64(eps), numpy.int32(rms))
        )
    return out, mean, invstd


@_in_float32
def norm_rows_backward(x2d, weight, grad2d, mean, invstd, rms: bool, need_x: bool, need_weight: bool):
    """Gradients of ``norm_rows_forward``: ``(gx or None, g * xhat or None)`` (the weight's and
    the bias's gradients are the column sums of ``g * xhat`` and of ``g``: a GEMV each)."""
    x2d = cupy.ascontiguousarray(x2d)
    grad2d = cupy.ascontiguousarray(grad2d)
    rows, cols = x2d.shape
    gx = cupy.empty_like(x2d) if need_x else None
    gxhat = cupy.empty_like(x2d) if need_weight else None
    if rows and cols and (need_x or need_weight):
        w = cupy.ascontiguousarray(weight) if weight is not None else _NULL
        _row_function("norm_backward", x2d.dtype)(
            (rows,),
            (_row_launch(cols),),
            (x2d, w, grad2d, mean, invstd, gx if gx is not None else _NULL, gxhat if gxhat is not None else _NULL, numpy.int64(cols), numpy.int32(rms)),
        )
    return gx, gxhat


# ---------------------------------------------------------------------------- optimizer steps
_ADAM = _elementwise("adam")

_SGD_MOMENTUM = _elementwise("sgd_momentum")

_SGD = _elementwise("sgd")


def adam_step(p, g, m, v, lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2_sqrt, decoupled, maximize) -> None:
    """One Adam/AdamW update of parameter ``p`` with moments ``m``, ``v``, in place, in one kernel."""
    _ADAM(g, lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2_sqrt, numpy.int32(decoupled), numpy.int32(maximize), p, m, v)


def sgd_step(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first) -> None:
    """One SGD update (momentum buffer ``buf``, None without momentum), in place, in one kernel."""
    if buf is None:
        _SGD(g, lr, weight_decay, numpy.int32(maximize), p)
    else:
        _SGD_MOMENTUM(g, lr, momentum, dampening, weight_decay, numpy.int32(nesterov), numpy.int32(maximize), numpy.int32(first), p, buf)
