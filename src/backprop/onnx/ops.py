"""ONNX translations of backprop's primitives (and of the ops traced without a Function).

A converter is ``fn(g, rec)``: ``g`` is the ``Emitter`` (``g.name(value)``, ``g.op(...)``,
``g.const(array)``, ...), ``rec`` the traced call (``rec.args`` as passed to ``apply`` with
Tensors replaced by Values, ``rec.outputs``, ``rec.ctx``). It returns the ONNX name of each
output (a string for one output), possibly an input's name (an alias, no node).
``register_converter`` adds one for a user-defined ``autograd.Function``.

Converters run on the host, whatever the model's device: the data of constants (``Value.data``)
are NumPy snapshots and the arrays they build are NumPy arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy

from .._backend import backend_of, is_array
from .._tensor import Tensor
from ._graph import INT64_MAX, INT64_MIN
from ._trace import Value

Converter = Callable  # (Emitter, Record) -> str | list[str | None]

_CUSTOM: dict = {}


def register_converter(op, converter: Converter) -> None:
    """Use ``converter(g, record)`` to export calls of the Function class ``op`` (see module doc);
    ``None`` removes a registration."""
    if converter is None:
        _CUSTOM.pop(op, None)
    else:
        _CUSTOM[op] = converter
    _TABLE.clear()


# ---------------------------------------------------------------------------- elementwise
_UNARY = {
    "Neg": "Neg", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt", "Reciprocal": "Reciprocal", "Sin": "Sin", "Cos": "Cos",
    "Tan": "Tan", "Asin": "Asin", "Acos": "Acos", "Atan": "Atan", "Sinh": "Sinh", "Cosh": "Cosh", "Tanh": "Tanh",
    "Sigmoid": "Sigmoid", "Relu": "Relu", "Abs": "Abs", "Erf": "Erf",
}  # fmt: skip
_BINARY = {"Add": "Add", "Sub": "Sub", "Mul": "Mul", "Div": "Div", "Pow": "Pow", "Maximum": "Max", "Minimum": "Min"}


def _unary(op_type):
    def convert(g, rec):
        return g.op(op_type, [g.name(rec.args[0])])

    return convert


def _binary(op_type):
    def convert(g, rec):
        return g.op(op_type, [g.name(rec.args[0]), g.name(rec.args[1])])

    return convert


def _alias(g, rec):
    return g.name(rec.args[0])


def _to_dtype(g, rec):
    a = rec.args[0]
    return g.cast(g.name(a), a.dtype, rec.outputs[0].dtype) if a.dtype != rec.outputs[0].dtype else g.op("Identity", [g.name(a)])


def _exp2(g, rec):
    a = rec.args[0]
    return g.op("Pow", [g.scalar(2.0, a.dtype), g.name(a)])


def _expm1(g, rec):
    a = rec.args[0]
    return g.op("Sub", [g.op("Exp", [g.name(a)]), g.scalar(1.0, a.dtype)])


def _log_base(base):
    def convert(g, rec):
        a = rec.args[0]
        return g.op("Div", [g.op("Log", [g.name(a)]), g.scalar(math.log(base), a.dtype)])

    return convert


def _log1p(g, rec):
    a = rec.args[0]
    return g.op("Log", [g.op("Add", [g.name(a), g.scalar(1.0, a.dtype)])])


def _rsqrt(g, rec):
    return g.op("Reciprocal", [g.op("Sqrt", [g.name(rec.args[0])])])


def _fmod(g, rec):
    return g.op("Mod", [g.name(rec.args[0]), g.name(rec.args[1])], fmod=1)


def _remainder(g, rec):
    a, b = rec.args
    if a.dtype.kind in "iu":
        return g.op("Mod", [g.name(a), g.name(b)], fmod=0)
    x, y = g.name(a), g.name(b)
    return g.op("Sub", [x, g.op("Mul", [g.op("Floor", [g.op("Div", [x, y])]), y])])


_PROBE = numpy.array([-2.5, -1.5, -0.7, -0.5, 0.0, 0.3, 0.5, 1.5, 2.5, 3.7])  # host data: the probe runs on the CPU


def _zero_grad(g, rec):
    a, fn = rec.args
    x = g.name(a)
    try:
        got = fn(_PROBE)  # the op's array function (it takes any backend's arrays)
    except Exception:  # noqa: BLE001 - an unknown function: unsupported below
        got = None
    for op_type, ref in (("Floor", numpy.floor), ("Ceil", numpy.ceil), ("Round", numpy.round), ("Sign", numpy.sign), ("Trunc", numpy.trunc)):
        if got is not None and numpy.array_equal(got, ref(_PROBE)):
            if op_type == "Trunc":
                return g.op("Mul", [g.op("Sign", [x]), g.op("Floor", [g.op("Abs", [x])])])
            return g.op(op_type, [x])
    g.unsupported("this rounding function has no ONNX translation")


def _bound(g, bound, dtype):
    return g.name(bound) if isinstance(bound, Value) else g.scalar(bound, dtype)


def _clamp(g, rec):
    a, lo, hi = rec.args
    x = g.name(a)
    if isinstance(lo, Value) or isinstance(hi, Value):
        if lo is not None:
            x = g.op("Max", [x, _bound(g, lo, a.dtype)])
        if hi is not None:
            x = g.op("Min", [x, _bound(g, hi, a.dtype)])
        return x
    return g.op("Clip", [x, _bound(g, lo, a.dtype) if lo is not None else "", _bound(g, hi, a.dtype) if hi is not None else ""])


def _where(g, rec):
    c, a, b = rec.args
    return g.op("Where", [g.name(c), g.name(a), g.name(b)])


# ---------------------------------------------------------------------------- reductions
def _reduce_to(op_type):
    def convert(g, rec):
        a, dims, keepdim = rec.args[:3]
        x = g.name(a)
        dtype = rec.args[3] if len(rec.args) > 3 and op_type in ("ReduceSum", "ReduceProd") else None
        if dtype is not None:
            x = g.cast(x, a.dtype, dtype)
        if not dims:
            return g.op("Identity", [x])
        return g.reduce(op_type, x, dims, keepdim)

    return convert


def _extreme_all(g, rec):
    a, dims, keepdim, use_max = rec.args
    if not dims:
        return g.op("Identity", [g.name(a)])
    return g.reduce("ReduceMax" if use_max else "ReduceMin", g.name(a), dims, keepdim)


def _extreme_dim(g, rec):
    a, dim, keepdim, use_max = rec.args
    x = g.name(a)
    values = g.reduce("ReduceMax" if use_max else "ReduceMin", x, [dim], keepdim)
    indices = g.op("ArgMax" if use_max else "ArgMin", [x], axis=dim, keepdims=int(keepdim))
    return [values, indices]


def _sum_to_size(g, rec):
    a, shape = rec.args
    lead = a.ndim - len(shape)
    axes = list(range(lead)) + [i + lead for i, s in enumerate(shape) if s == 1 and a.shape[i + lead] != 1]
    x = g.name(a)
    if not axes:
        return g.op("Identity", [x])
    x = g.reduce("ReduceSum", x, axes, True)
    return g.squeeze(x, list(range(lead))) if lead else x


def _cumsum(g, rec):
    a, dim, dtype = rec.args
    x = g.cast(g.name(a), a.dtype, dtype) if dtype is not None else g.name(a)
    return g.op("CumSum", [x, g.const(numpy.asarray(dim, dtype=numpy.int64))])


# ---------------------------------------------------------------------------- movement
def _reshape(g, rec):
    a, out = rec.args[0], rec.outputs[0]
    d1, d2 = out.shape, out.dims2
    allowzero = any(s == 0 for s in d1)
    items, open_dims = [], []
    for i, (p, q) in enumerate(zip(d1, d2)):
        if p == q:
            items.append(p)
        elif not allowzero and i < a.ndim and a.shape[i] == p and a.dims2[i] == q:
            items.append(0)
        else:
            items.append(None)
            open_dims.append(i)
    if len(open_dims) > 1:
        for i in open_dims:
            d = g.dim(d1[i], d2[i], prefer=[a])
            if d is not None:
                items[i] = d
        if sum(it is None for it in items) > 1:
            g.unsupported("a reshape with several dynamic dims that cannot be traced back to input dims")
    items = [-1 if it is None else it for it in items]
    return g.op("Reshape", [g.name(a), g.build_shape(items)], allowzero=1 if allowzero else None)


def _permute(g, rec):
    return g.op("Transpose", [g.name(rec.args[0])], perm=list(rec.args[1]))


def _expand(g, rec):
    a, out = rec.args[0], rec.outputs[0]
    n, m = out.ndim, a.ndim
    items = []
    for i, (p, q) in enumerate(zip(out.shape, out.dims2)):
        j = i - (n - m)
        if p == q:
            items.append(p)
        elif j >= 0 and a.shape[j] == p and a.dims2[j] == q:
            items.append(1)
        else:
            d = g.dim(p, q, prefer=[a])
            if d is None:
                g.unsupported("an expand to a dynamic size that cannot be traced back to an input dim")
            items.append(d)
    return g.op("Expand", [g.name(a), g.build_shape(items)])


def _expand_ellipsis(index, ndim):
    index = list(index)
    if Ellipsis in index:
        k = index.index(Ellipsis)
        used = sum(1 for c in index if c is not None and c is not Ellipsis)
        index[k : k + 1] = [slice(None)] * (ndim - used)
    return index


def _bound_item(g, v1, v2):
    if v1 == v2:
        return v1
    if v1 >= 0 and v2 >= 0:
        d = g.dim(v1, v2)
    elif v1 < 0 and v2 < 0:
        d = g.dim(-v1, -v2)
        d = g.op("Neg", [d]) if d is not None else None
    else:
        d = None
    if d is None:
        g.unsupported("a slice bound that depends on a dynamic axis in a way the exporter cannot trace")
    return d


def _basic_index(g, rec):
    a, index = rec.args[0], rec.args[1]
    comps = _expand_ellipsis(index, a.ndim)
    comps2 = comps
    if rec.twin is not None:
        twin = _expand_ellipsis(rec.twin.args[1], rec.twin.args[0].ndim)
        if len(twin) == len(comps) and all(type(c) is type(t) for c, t in zip(comps, twin)):
            comps2 = twin
    x = g.name(a)
    starts, ends, axes, steps, gathers, nones = [], [], [], [], [], []
    d = o = 0
    for c, c2 in zip(comps, comps2):
        if c is None:
            nones.append(o)
            o += 1
        elif isinstance(c, slice):
            full = (c.start in (None, 0)) and c.stop is None and (c.step in (None, 1))
            if not full:
                start = 0 if c.start is None else c.start
                start2 = 0 if c2.start is None else c2.start
                stop = INT64_MAX if c.stop is None else c.stop
                stop2 = INT64_MAX if c2.stop is None else c2.stop
                starts.append(_bound_item(g, start, start2))
                ends.append(_bound_item(g, stop, stop2))
                axes.append(d)
                steps.append(1 if c.step is None else c.step)
            d += 1
            o += 1
        else:
            if c != c2:
                g.unsupported("an integer index that depends on a dynamic axis")
            gathers.append((d, int(c)))
            d += 1
    if axes:
        x = g.op("Slice", [x, g.build_shape(starts), g.build_shape(ends), g.i64(axes), g.i64(steps)])
    for axis, i in sorted(gathers, reverse=True):
        x = g.op("Gather", [x, g.const(numpy.asarray(i, dtype=numpy.int64))], axis=axis)
    if nones:
        x = g.unsqueeze(x, nones)
    if x == g.name(a):
        x = g.op("Identity", [x])
    return x


def _split(g, rec):
    a, sizes, dim = rec.args
    if rec.twin is not None and list(rec.twin.args[1]) != list(sizes):
        g.unsupported("a split whose sizes follow a dynamic axis")
    n = len(sizes)
    outs = g.op("Split", [g.name(a), g.i64(sizes)], n_out=n, axis=dim)
    return outs if n != 1 else [outs]


def _cat(g, rec):
    dim, skip_empty = rec.args[0], rec.args[1]
    tensors = [t for t in rec.args[2:] if not (skip_empty and t.shape == (0,))]
    return g.op("Concat", [g.name(t) for t in tensors], axis=dim)


def _stack(g, rec):
    dim = rec.args[0]
    return g.op("Concat", [g.unsqueeze(g.name(t), [dim]) for t in rec.args[1:]], axis=dim)


def _repeat(g, rec):
    a, repeats = rec.args
    x = g.name(a)
    lead = len(repeats) - a.ndim
    if lead:
        x = g.unsqueeze(x, list(range(lead)))
    return g.op("Tile", [x, g.i64(repeats)])


def _flip(g, rec):
    a, dims = rec.args
    k = len(dims)
    return g.op("Slice", [g.name(a), g.i64([-1] * k), g.i64([INT64_MIN] * k), g.i64(dims), g.i64([-1] * k)])


def _roll(g, rec):
    a, shifts, dims = rec.args
    if isinstance(shifts, int):
        shifts, dims = (shifts,), (dims,) if isinstance(dims, int) else tuple(dims)
    x = g.name(a)
    for s, d in zip(shifts, dims):
        n = a.shape[d]
        if n == 0 or a.shape[d] != a.dims2[d]:
            if a.shape[d] != a.dims2[d]:
                g.unsupported("roll along a dynamic axis")
            continue
        s %= n
        if s == 0:
            continue
        head = g.op("Slice", [x, g.i64([n - s]), g.i64([n]), g.i64([d])])
        tail = g.op("Slice", [x, g.i64([0]), g.i64([n - s]), g.i64([d])])
        x = g.op("Concat", [head, tail], axis=d)
    return x if x != g.name(a) else g.op("Identity", [x])


def _triangle(g, rec):
    a, diagonal, upper = rec.args
    return g.op("Trilu", [g.name(a), g.const(numpy.asarray(diagonal, dtype=numpy.int64))], upper=int(upper))


# ---------------------------------------------------------------------------- indexing
def _as_index(g, v: Value) -> str:
    return g.cast(g.name(v), v.dtype, numpy.int64)


def _advanced_index(g, rec):
    a, index = rec.args
    comps = _expand_ellipsis(index, a.ndim)
    full = [isinstance(c, slice) and c == slice(None) for c in comps]
    arrays = [i for i, c in enumerate(comps) if isinstance(c, Value) or (isinstance(c, int) and not isinstance(c, bool))]
    others_ok = all(full[i] for i in range(len(comps)) if i not in arrays)
    if not others_ok or not arrays:
        g.unsupported("this combination of advanced and basic indices")
    x = g.name(a)
    if len(arrays) == 1 and isinstance(comps[arrays[0]], Value):
        p = arrays[0]
        idx = comps[p]
        if idx.dtype == bool:
            if p != 0:
                g.unsupported("a boolean mask index after other dims")
            nz = g.op("Transpose", [g.op("NonZero", [g.name(idx)])], perm=[1, 0])
            return g.op("GatherND", [x, nz])
        return g.op("Gather", [x, _as_index(g, idx)], axis=p)
    if arrays != list(range(len(arrays))) or any(isinstance(comps[i], Value) and comps[i].dtype == bool for i in arrays):
        g.unsupported("several index tensors that are not the leading dims")
    shapes1 = [comps[i].shape if isinstance(comps[i], Value) else () for i in arrays]
    shapes2 = [comps[i].dims2 if isinstance(comps[i], Value) else () for i in arrays]
    b1, b2 = numpy.broadcast_shapes(*shapes1), numpy.broadcast_shapes(*shapes2)
    prefer = [comps[i] for i in arrays if isinstance(comps[i], Value)]
    shape = g.shape_tensor(b1, b2, prefer)
    parts = []
    for i in arrays:
        c = comps[i]
        t = _as_index(g, c) if isinstance(c, Value) else g.const(numpy.asarray(c, dtype=numpy.int64))
        t = g.op("Expand", [t, shape])
        parts.append(g.unsqueeze(t, [-1]))
    idx = g.op("Concat", parts, axis=-1) if len(parts) > 1 else parts[0]
    return g.op("GatherND", [x, idx])


def _leading_slice(g, x: str, v: Value, shape, skip: int | None = None):
    """``v`` cut to the leading corner ``shape`` (all dims but ``skip``)."""
    axes = [d for d in range(len(shape)) if d != skip and v.shape[d] != shape[d]]
    if not axes:
        return x
    ends = [shape[d] for d in axes]
    return g.op("Slice", [x, g.i64([0] * len(axes)), g.i64(ends), g.i64(axes)])


def _gather(g, rec):
    a, dim, index = rec.args
    x = _leading_slice(g, g.name(a), a, index.shape, skip=dim)
    return g.op("GatherElements", [x, _as_index(g, index)], axis=dim)


def _scatter(reduction):
    def convert(g, rec):
        a, dim, index, src = rec.args
        if reduction is not None and g.opset < 16:
            g.unsupported("scatter_add needs opset 16 or later")
        if src.ndim == 0:
            upd = g.op("Expand", [g.name(src), g.i64(index.shape)])
        else:
            upd = _leading_slice(g, g.name(src), src, index.shape)
        return g.op("ScatterElements", [g.name(a), _as_index(g, index), upd], axis=dim, reduction=reduction)

    return convert


def _index_put(g, rec):
    a, index, value = rec.args
    if a.shape != a.dims2:
        g.unsupported("assignment into a tensor with dynamic dims")
    comps = []
    for c in index:
        if isinstance(c, Value):
            if not c.const or not g.stable(c):
                g.unsupported("assignment at indices that depend on the inputs")
            c = c.data
        comps.append(c)
    grid = numpy.indices(a.shape, dtype=numpy.int64) if a.ndim else numpy.zeros((0,), dtype=numpy.int64)
    coords = numpy.stack([gr[tuple(comps)] for gr in grid], axis=-1) if a.ndim else grid
    region = coords.shape[:-1]
    upd = g.op("Expand", [g.cast(g.name(value), value.dtype, a.dtype), g.i64(region)])
    return g.op("ScatterND", [g.name(a), g.const(coords), upd])


def _index_select(g, rec):
    a, dim, index = rec.args
    return g.op("Gather", [g.name(a), _as_index(g, index)], axis=dim)


# ---------------------------------------------------------------------------- nn
def _softmax(op_type):
    def convert(g, rec):
        return g.op(op_type, [g.name(rec.args[0])], axis=rec.args[1])

    return convert


def _softplus(g, rec):
    a, beta, threshold = rec.args
    x = g.name(a)
    bx = x if beta == 1 else g.op("Mul", [x, g.scalar(beta, a.dtype)])
    sp = g.op("Softplus", [bx])
    if beta != 1:
        sp = g.op("Div", [sp, g.scalar(beta, a.dtype)])
    return g.op("Where", [g.op("Greater", [bx, g.scalar(threshold, a.dtype)]), x, sp])


def _leaky_relu(g, rec):
    a, slope = rec.args[0], rec.args[1]
    return g.op("LeakyRelu", [g.name(a)], alpha=float(slope))


def _elu(g, rec):
    """nn_ops.Elu is elu, celu or selu: ONNX has an operator for each."""
    a, alpha, scale, input_scale = rec.args[:4]
    x = g.name(a)
    if scale == 1.0 and input_scale == 1.0:
        return g.op("Elu", [x], alpha=float(alpha))
    if scale == 1.0 and input_scale == 1.0 / alpha:
        return g.op("Celu", [x], alpha=float(alpha))
    if input_scale == 1.0:
        return g.op("Selu", [x], alpha=float(alpha), gamma=float(scale))
    raise NotImplementedError("elu with scale and input_scale both set has no ONNX operator")


def _hardswish(g, rec):
    return g.op("HardSwish", [g.name(rec.args[0])])


def _hardsigmoid(g, rec):
    return g.op("HardSigmoid", [g.name(rec.args[0])], alpha=1.0 / 6.0, beta=0.5)


def _gelu(g, rec):
    a, approximate = rec.args[0], rec.args[1] if len(rec.args) > 1 else "none"
    x = g.name(a)
    half = g.op("Mul", [x, g.scalar(0.5, a.dtype)])
    if approximate == "tanh":
        cube = g.op("Mul", [g.op("Mul", [x, x]), x])
        inner = g.op("Add", [x, g.op("Mul", [cube, g.scalar(0.044715, a.dtype)])])
        t = g.op("Tanh", [g.op("Mul", [inner, g.scalar(math.sqrt(2.0 / math.pi), a.dtype)])])
    else:
        t = g.op("Erf", [g.op("Mul", [x, g.scalar(1.0 / math.sqrt(2.0), a.dtype)])])
    return g.op("Mul", [half, g.op("Add", [t, g.scalar(1.0, a.dtype)])])


def _batch_norm(g, rec):
    """BatchNorm in eval mode: ONNX BatchNormalization (training-mode export is not supported)."""
    x, weight, bias, mean, var, training, eps = rec.args
    if training:
        g.unsupported("BatchNorm in training mode (export puts the model in eval mode)")
    c = x.shape[1]
    scale = g.name(weight) if weight is not None else g.const(numpy.ones(c, dtype=x.dtype))
    shift = g.name(bias) if bias is not None else g.const(numpy.zeros(c, dtype=x.dtype))
    y = g.op("BatchNormalization", [g.name(x), scale, shift, g.name(mean), g.name(var)], epsilon=float(eps))
    return [y, g.name(mean), g.name(var)]


def _layer_norm(g, rec):
    """LayerNormalization (opset >= 17), or its decomposition for older opsets."""
    x, weight, bias, n_dims, eps = rec.args
    norm_shape = x.shape[x.ndim - n_dims :]
    scale = g.name(weight) if weight is not None else g.const(numpy.ones(norm_shape, dtype=x.dtype))
    if g.opset >= 17:
        inputs = [g.name(x), scale] + ([g.name(bias)] if bias is not None else [])
        return g.op("LayerNormalization", inputs, axis=-n_dims, epsilon=float(eps))
    axes = list(range(x.ndim - n_dims, x.ndim))
    xn = g.name(x)
    centered = g.op("Sub", [xn, g.reduce("ReduceMean", xn, axes, True)])
    var = g.reduce("ReduceMean", g.op("Mul", [centered, centered]), axes, True)
    inv = g.op("Reciprocal", [g.op("Sqrt", [g.op("Add", [var, g.scalar(eps, x.dtype)])])])
    y = g.op("Mul", [g.op("Mul", [centered, inv]), scale])
    return g.op("Add", [y, g.name(bias)]) if bias is not None else y


def _linear(g, rec):
    """Linear: Gemm for 2-D input, MatMul with the transposed weight (+ Add) otherwise."""
    x, w, b = rec.args
    if x.ndim == 2:
        return g.op("Gemm", [g.name(x), g.name(w)] + ([g.name(b)] if b is not None else []), transB=1)
    y = g.op("MatMul", [g.name(x), g.op("Transpose", [g.name(w)], perm=[1, 0])])
    return g.op("Add", [y, g.name(b)]) if b is not None else y


def _embedding(g, rec):
    weight, indices = rec.args[0], rec.args[1]
    return g.op("Gather", [g.name(weight), _as_index(g, indices)], axis=0)


def _constant_pad(g, rec):
    a, widths, value = rec.args
    pads = [b for b, _ in widths] + [e for _, e in widths]
    return g.op("Pad", [g.name(a), g.i64(pads), g.scalar(value, a.dtype)], mode="constant")


def _conv2d(g, rec):
    x, w, bias, params = rec.args
    stride, padding, dilation, groups = params
    return g.op(
        "Conv", [g.name(x), g.name(w)] + ([g.name(bias)] if bias is not None else []), kernel_shape=list(w.shape[2:]),
        pads=[b for b, _ in padding] + [a for _, a in padding], strides=list(stride), dilations=list(dilation), group=int(groups),
    )  # fmt: skip


def _conv_transpose(g, rec):
    x, w, x_shape, params = rec.args
    stride, padding, dilation, groups = params
    kernel = list(w.shape[2:])
    base = [(x.shape[2 + i] - 1) * stride[i] - b - a + dilation[i] * (k - 1) + 1 for i, (k, (b, a)) in enumerate(zip(kernel, padding))]
    return g.op(
        "ConvTranspose", [g.name(x), g.name(w)], kernel_shape=kernel, pads=[b for b, _ in padding] + [a for _, a in padding],
        strides=list(stride), dilations=list(dilation), group=int(groups), output_padding=[x_shape[2 + i] - base[i] for i in range(len(kernel))],
    )  # fmt: skip


def _interp_factors(meta: dict, spatial: int):
    """The scale factors ``interpolate`` places its sources with, or None when it uses the sizes."""
    sf = meta.get("scale_factor")
    if sf is None or meta.get("recompute_scale_factor"):
        return None
    return [float(sf)] * spatial if isinstance(sf, (int, float)) else [float(f) for f in sf]


def _resize_supported(shape: tuple, dtype, meta: dict) -> bool:
    """Whether ONNX ``Resize`` reproduces this ``interpolate`` call (else its primitives are exported):
    nearest / nearest-exact on 3-5-D input, bilinear on 4-D, float32 or float16, no anti-aliasing."""
    if numpy.dtype(dtype) not in (numpy.float32, numpy.float16) or meta.get("antialias"):
        return False
    mode = meta.get("mode")
    if mode not in ("nearest", "nearest-exact", "bilinear") or (mode == "bilinear" and len(shape) != 4):
        return False
    factors = _interp_factors(meta, len(shape) - 2)
    return factors is None or all(f > 0 for f in factors)


_COMPOSITES = {"interpolate": _resize_supported}


def composite_supported(op: str, shape: tuple, dtype, meta: dict) -> bool:
    """Whether the composite ``op`` with these arguments is exported as one ONNX operator."""
    check = _COMPOSITES.get(op)
    return check is not None and check(shape, dtype, meta)


def _interpolate(g, rec):
    """``interpolate`` as ``Resize``: torch's nearest is ONNX's asymmetric/floor, nearest-exact its
    half_pixel/round_prefer_ceil, bilinear its linear with half_pixel (or align_corners). With a
    scale factor the graph gets the factors (so dynamic spatial dims keep working), else the sizes."""
    (a,) = rec.args
    meta, out = rec.meta, rec.outputs[0]
    mode = meta["mode"]
    if mode == "nearest":
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    elif mode == "nearest-exact":
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "half_pixel", "nearest_mode": "round_prefer_ceil"}
    else:
        ac = bool(meta.get("align_corners"))
        attrs = {"mode": "linear", "coordinate_transformation_mode": "align_corners" if ac else "half_pixel"}
    factors = _interp_factors(meta, a.ndim - 2)
    if factors is not None:
        inputs = [g.name(a), "", g.const(numpy.asarray([1.0, 1.0, *factors], dtype=numpy.float32))]
    else:
        inputs = [g.name(a), "", "", g.shape_tensor(out.shape, out.dims2, prefer=[a])]
    return g.op("Resize", inputs, **attrs)


def _max_pool(g, rec):
    x, kernel, stride, padding, dilation, ceil_mode, return_indices = rec.args
    out = g.op(
        "MaxPool", [g.name(x)], kernel_shape=list(kernel), strides=list(stride), pads=list(padding) * 2,
        dilations=list(dilation), ceil_mode=int(ceil_mode),
    )  # fmt: skip
    return [out, None] if return_indices else out


def _avg_pool(g, rec):
    x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override = rec.args
    include = 1 if (count_include_pad or divisor_override) else 0
    out = g.op(
        "AveragePool", [g.name(x)], kernel_shape=list(kernel), strides=list(stride), pads=list(padding) * 2,
        ceil_mode=int(ceil_mode), count_include_pad=include,
    )  # fmt: skip
    if divisor_override:
        out = g.op("Mul", [out, g.scalar(math.prod(kernel) / divisor_override, x.dtype)])
    return out


def _matmul(g, rec):
    return g.op("MatMul", [g.name(rec.args[0]), g.name(rec.args[1])])


def _einsum(g, rec):
    ctx = rec.ctx
    return g.op("Einsum", [g.name(v) for v in rec.args[1:]], equation=",".join(ctx.terms) + "->" + ctx.out)


def _sdpa(g, rec):
    q, k, v, mask, scale, causal, drop = rec.args[:7]
    safe = rec.args[7] if len(rec.args) > 7 else True
    dtype = q.dtype
    kt = g.op("Transpose", [g.name(k)], perm=list(range(k.ndim - 2)) + [k.ndim - 1, k.ndim - 2])
    s = g.op("Mul", [g.op("MatMul", [g.name(q), kt]), g.scalar(scale, dtype)])
    neg_inf = g.scalar(-numpy.inf, dtype)
    if mask is not None:
        s = g.op("Where", [g.name(mask), s, neg_inf]) if mask.dtype == bool else g.op("Add", [s, g.name(mask)])
    if causal:
        shape = rec.outputs[1]
        size = g.shape_tensor(shape.shape[-2:], shape.dims2[-2:], prefer=[q, k])
        ones = g.op("ConstantOfShape", [size], value=g.helper.make_tensor("value", g.onnx_type(bool), [1], [True]))
        s = g.op("Where", [g.op("Trilu", [ones], upper=0), s, neg_inf])
    if safe:
        m = g.reduce("ReduceMax", s, [-1], True)
        m = g.op("Where", [g.op("IsInf", [m]), g.scalar(0.0, dtype), m])
        e = g.op("Exp", [g.op("Sub", [s, m])])
        den = g.reduce("ReduceSum", e, [-1], True)
        den = g.op("Where", [g.op("Equal", [den, g.scalar(0.0, dtype)]), g.scalar(1.0, dtype), den])
        w = g.op("Div", [e, den])
    else:
        w = g.op("Softmax", [s], axis=-1)
    used = g.op("Mul", [w, g.name(drop)]) if drop is not None else w
    return [g.op("MatMul", [used, g.name(v)]), w]


_RNN_OPS = {"RNN_TANH": ("RNN", 1, None), "RNN_RELU": ("RNN", 1, None), "LSTM": ("LSTM", 4, (0, 3, 1, 2)), "GRU": ("GRU", 3, (1, 0, 2))}


def _gates(g, w: Value, n: int, order) -> str:
    """``w`` (gates*H, ...) with its gate blocks in ONNX's order, as (1, gates*H, ...)."""
    x = g.name(w)
    if order is not None:
        parts = g.op("Split", [x, g.i64([w.shape[0] // n] * n)], n_out=n, axis=0)
        x = g.op("Concat", [parts[i] for i in order], axis=0)
    return g.unsqueeze(x, [0])


def _rnn_layer(g, rec):
    x, h0, c0, w_ih, w_hh, b_ih, b_hh, mode, reverse, batch_sizes = rec.args[:10]
    if batch_sizes is not None and any(int(n) != x.shape[1] for n in batch_sizes):
        g.unsupported("packed sequences of different lengths")
    op_type, n, order = _RNN_OPS[mode]
    hidden = w_hh.shape[1]
    bias = ""
    if b_ih is not None or b_hh is not None:
        zeros = g.const(numpy.zeros((1, n * hidden), dtype=x.dtype))
        bias = g.op("Concat", [_gates(g, b, n, order) if b is not None else zeros for b in (b_ih, b_hh)], axis=1)
    inputs = [g.name(x), _gates(g, w_ih, n, order), _gates(g, w_hh, n, order), bias, ""]
    inputs.append(g.unsqueeze(g.name(h0), [0]) if h0 is not None else "")
    if op_type == "LSTM":
        inputs.append(g.unsqueeze(g.name(c0), [0]) if c0 is not None else "")
    attrs = {"hidden_size": hidden, "direction": "reverse" if reverse else "forward"}
    if op_type == "RNN":
        attrs["activations"] = ["Relu" if mode == "RNN_RELU" else "Tanh"]
    if op_type == "GRU":
        attrs["linear_before_reset"] = 1
    while inputs and inputs[-1] == "":
        inputs.pop()
    outs = g.op(op_type, inputs, n_out=3 if op_type == "LSTM" else 2, **attrs)
    return [g.squeeze(outs[0], [1])] + [g.squeeze(o, [0]) for o in outs[1:]]


# ---------------------------------------------------------------------------- in-place bookkeeping
def _copy_into(g, rec):
    dst, src = rec.args
    out = rec.outputs[0]
    x = g.cast(g.name(src), src.dtype, dst.dtype)
    if src.shape == dst.shape and src.dims2 == dst.dims2:
        return x if x != g.name(src) else g.op("Identity", [x])
    return g.op("Expand", [x, g.shape_tensor(out.shape, out.dims2, prefer=[dst])])


def _write(g, rec):
    (src,) = rec.args
    out = rec.outputs[0]
    x = g.cast(g.name(src), src.dtype, rec.meta["dtype"])
    return g.op("Expand", [x, g.shape_tensor(out.shape, out.dims2, prefer=[src])])


def _identity_many(g, rec):
    return [g.name(v) for v in rec.args[2:]]


# ---------------------------------------------------------------------------- ops traced without a Function
def _operand(g, v, dtype):
    if isinstance(v, Value):
        return g.cast(g.name(v), v.dtype, dtype)
    return g.scalar(v, dtype)


def _to_bool(g, v):
    if isinstance(v, Value):
        return g.cast(g.name(v), v.dtype, bool)
    return g.scalar(bool(v), bool)


def _operands(rec):
    args = list(rec.args)
    if len(args) < 2:
        args.append(rec.kwargs.get("other"))
    return args[0], args[1]


def _compare(op_type, negate=False):
    def convert(g, rec):
        a, b = _operands(rec)
        dtype = rec.meta if rec.meta is not None else (a.dtype if isinstance(a, Value) else b.dtype)
        out = g.op(op_type, [_operand(g, a, dtype), _operand(g, b, dtype)])
        return g.op("Not", [out]) if negate else out

    return convert


def _logical(op_type):
    def convert(g, rec):
        a, b = _operands(rec)
        return g.op(op_type, [_to_bool(g, a), _to_bool(g, b)])

    return convert


def _bitwise(bool_op, int_op):
    def convert(g, rec):
        a, b = _operands(rec)
        dtype = numpy.dtype(rec.meta) if rec.meta is not None else None
        if dtype is not None and dtype.kind == "b":
            return g.op(bool_op, [_operand(g, a, bool), _operand(g, b, bool)])
        if g.opset < 18 or dtype is None:
            g.unsupported("bitwise ops on integer tensors need opset 18 or later")
        return g.op(int_op, [_operand(g, a, dtype), _operand(g, b, dtype)])

    return convert


def _logical_not(g, rec):
    return g.op("Not", [_to_bool(g, rec.args[0])])


def _bitwise_not(g, rec):
    a = rec.args[0]
    if a.dtype == bool:
        return g.op("Not", [g.name(a)])
    if g.opset < 18:
        g.unsupported("bitwise_not on integer tensors needs opset 18 or later")
    return g.op("BitwiseNot", [g.name(a)])


def _float_input(g, a):
    return g.name(a) if a.dtype.kind == "f" else g.cast(g.name(a), a.dtype, numpy.float32)


def _isnan(g, rec):
    return g.op("IsNaN", [_float_input(g, rec.args[0])])


def _isinf(g, rec):
    return g.op("IsInf", [_float_input(g, rec.args[0])])


def _isfinite(g, rec):
    x = _float_input(g, rec.args[0])
    return g.op("Not", [g.op("Or", [g.op("IsNaN", [x]), g.op("IsInf", [x])])])


def _div_rounding(g, rec):
    a, b = _operands(rec)
    mode = rec.meta.get("rounding_mode")
    dtype = rec.outputs[0].dtype
    x, y = _operand(g, a, dtype), _operand(g, b, dtype)
    if mode is None:
        return g.op("Div", [x, y])
    if dtype.kind == "f":
        q = g.op("Div", [x, y])
        if mode == "floor":
            return g.op("Floor", [q])
        return g.op("Mul", [g.op("Sign", [q]), g.op("Floor", [g.op("Abs", [q])])])
    q = g.op("Div", [x, y])  # integer Div truncates
    if mode == "trunc":
        return q
    zero = g.scalar(0, dtype)
    r = g.op("Sub", [x, g.op("Mul", [q, y])])
    fix = g.op("And", [g.op("Not", [g.op("Equal", [r, zero])]), g.op("Xor", [g.op("Less", [x, zero]), g.op("Less", [y, zero])])])
    return g.op("Sub", [q, g.cast(fix, bool, dtype)])


def _arg_extreme(op_type):
    def convert(g, rec):
        a = rec.args[0]
        dim, keepdim = rec.meta["dim"], bool(rec.meta["keepdim"])
        x = g.name(a)
        if dim is None:
            flat = g.op(op_type, [g.op("Reshape", [x, g.i64([-1])])], axis=0, keepdims=0)
            return g.op("Reshape", [flat, g.i64([1] * a.ndim)]) if keepdim else flat
        return g.op(op_type, [x], axis=dim % max(a.ndim, 1), keepdims=int(keepdim))

    return convert


def _top(g, a: Value, k, dim: int, largest: bool):
    dim %= max(a.ndim, 1)
    kk = g.i64([k]) if isinstance(k, int) else k
    return g.op("TopK", [g.name(a), kk], n_out=2, axis=dim, largest=int(largest), sorted=1)


def _sort(g, rec):
    a, meta = rec.args[0], rec.meta
    dim = meta["dim"] % max(a.ndim, 1)
    k = g.dim(a.shape[dim], a.dims2[dim], prefer=[a])
    values, indices = _top(g, a, k, dim, bool(meta["descending"]))
    return [values, indices] if rec.op == "sort" else indices


def _topk(g, rec):
    a, meta = rec.args[0], rec.meta
    if rec.twin is not None and rec.twin.meta["k"] != meta["k"]:
        g.unsupported("a k that depends on a dynamic axis")
    return list(_top(g, a, int(meta["k"]), meta["dim"], bool(meta["largest"])))


def _one_hot(g, rec):
    a, out = rec.args[0], rec.outputs[0]
    n = out.shape[-1]
    classes = g.const(numpy.arange(n, dtype=numpy.int64))
    hit = g.op("Equal", [g.unsqueeze(_as_index(g, a), [-1]), classes])
    return g.cast(hit, bool, out.dtype)


def _cast_out(g, rec):
    a = rec.args[0]
    out = g.cast(g.name(a), a.dtype, rec.outputs[0].dtype)
    return out if out != g.name(a) else g.op("Identity", [out])


def _fill_like(fill):
    def convert(g, rec):
        a, out = rec.args[0], rec.outputs[0]
        value = fill if fill is not None else rec.meta["fill_value"]
        if isinstance(value, Tensor):  # a 0-d tensor as the fill, possibly on a device
            value = value._data
        if is_array(value):
            value = backend_of(value).to_host(value)
        tensor = g.helper.make_tensor("value", g.onnx_type(out.dtype), [1], [numpy.asarray(value, dtype=out.dtype).item()])
        return g.op("ConstantOfShape", [g.shape_of(a)], value=tensor)

    return convert


def _build_table() -> dict:
    from ..nn.modules import module as module_mod
    from ..ops import conv, elementwise, indexing, inplace, linalg, movement, nn_ops, reduction

    table = {getattr(elementwise, n): _unary(t) for n, t in _UNARY.items()}
    table.update({getattr(elementwise, n): _binary(t) for n, t in _BINARY.items()})
    table.update({
        elementwise.ToDtype: _to_dtype, elementwise.Clone: _alias, elementwise.Contiguous: _alias,
        elementwise.Exp2: _exp2, elementwise.Expm1: _expm1, elementwise.Log2: _log_base(2.0),
        elementwise.Log10: _log_base(10.0), elementwise.Log1p: _log1p, elementwise.Rsqrt: _rsqrt,
        elementwise.Fmod: _fmod, elementwise.Remainder: _remainder, elementwise.ZeroGrad: _zero_grad,
        elementwise.Clamp: _clamp, elementwise.Where: _where,
        reduction.Sum: _reduce_to("ReduceSum"), reduction.Mean: _reduce_to("ReduceMean"),
        reduction.Prod: _reduce_to("ReduceProd"), reduction.LogSumExp: _reduce_to("ReduceLogSumExp"),
        reduction.Norm2: _reduce_to("ReduceL2"), reduction._ExtremeAll: _extreme_all,
        reduction._ExtremeDim: _extreme_dim, reduction.SumToSize: _sum_to_size, reduction.Cumsum: _cumsum,
        movement.Reshape: _reshape, movement.Permute: _permute, movement.Expand: _expand, movement.Slice: _basic_index,
        movement.Split: _split, movement.Cat: _cat, movement.Stack: _stack, movement.Repeat: _repeat,
        movement.Flip: _flip, movement.Roll: _roll, movement._Triangle: _triangle,
        indexing.Index: _advanced_index, indexing.Gather: _gather, indexing.Scatter: _scatter(None),
        indexing.ScatterAdd: _scatter("add"), indexing.IndexSelect: _index_select, indexing.IndexPut: _index_put,
        nn_ops.Softmax: _softmax("Softmax"), nn_ops.LogSoftmax: _softmax("LogSoftmax"), nn_ops.Softplus: _softplus, nn_ops.LeakyRelu: _leaky_relu, nn_ops.Elu: _elu,
        nn_ops.Hardswish: _hardswish, nn_ops.Hardsigmoid: _hardsigmoid,
        nn_ops.Embedding: _embedding, nn_ops.ConstantPad: _constant_pad,
        conv.Conv2d: _conv2d, conv.ConvInput: _conv_transpose, conv.MaxPool2d: _max_pool, conv.AvgPool2d: _avg_pool,
        linalg.MatMul: _matmul, linalg.Einsum: _einsum,
        inplace.CopyInto: _copy_into, module_mod._Identity: _identity_many,
        # ops traced without a Function (see _trace.patched_ops)
        "eq": _compare("Equal"), "ne": _compare("Equal", negate=True), "lt": _compare("Less"),
        "le": _compare("LessOrEqual"), "gt": _compare("Greater"), "ge": _compare("GreaterOrEqual"),
        "logical_and": _logical("And"), "logical_or": _logical("Or"), "logical_xor": _logical("Xor"),
        "bitwise_and": _bitwise("And", "BitwiseAnd"), "bitwise_or": _bitwise("Or", "BitwiseOr"),
        "bitwise_xor": _bitwise("Xor", "BitwiseXor"), "logical_not": _logical_not, "bitwise_not": _bitwise_not,
        "isnan": _isnan, "isinf": _isinf, "isfinite": _isfinite, "div": _div_rounding,
        "argmax": _arg_extreme("ArgMax"), "argmin": _arg_extreme("ArgMin"), "as_float": _cast_out, "cast_to": _cast_out,
        "sort": _sort, "argsort": _sort, "topk": _topk, "one_hot": _one_hot,
        "zeros_like": _fill_like(0), "ones_like": _fill_like(1), "empty_like": _fill_like(0), "full_like": _fill_like(None),
        "detach": _alias, "write": _write, "reshape_array": _reshape,
        # composites recorded as one call (see _trace.Tracer.composite)
        "interpolate": _interpolate,
    })  # fmt: skip
    for name, fn in (("Gelu", _gelu), ("BatchNorm", _batch_norm), ("LayerNorm", _layer_norm), ("Linear", _linear)):  # fused primitives
        if hasattr(nn_ops, name):
            table[getattr(nn_ops, name)] = fn
    try:
        from ..ops import attention

        table[attention.ScaledDotProductAttention] = _sdpa
    except (ImportError, AttributeError):  # pragma: no cover - the fused attention op is optional
        pass
    try:
        from ..ops import rnn_ops

        table[rnn_ops.RNNLayer] = _rnn_layer
    except (ImportError, AttributeError):  # pragma: no cover - the fused recurrent op is optional
        pass
    table.update(_CUSTOM)
    return table


_TABLE: dict = {}


def converters() -> dict:
    """The converter of every supported primitive (Function class or untraced op name)."""
    if not _TABLE:
        _TABLE.update(_build_table())
    return _TABLE


def supported_ops() -> list[str]:
    """Names of the primitives (and untraced ops) the exporter translates."""
    return sorted({k if isinstance(k, str) else k.__name__ for k in converters()})
