"""Movement ops: views (reshape, permute, expand, basic slicing, split) and copies (cat, stack,
repeat, flip, roll, tril/triu).

Four view primitives (``Reshape``, ``Permute``, ``Expand``, ``Slice``) and ``Split`` return
arrays that share the input's memory; ``make_view`` records the base and a function that
re-derives the view from the base's array, which in-place ops on views need
(``ops.inplace``). Every other shape op (squeeze, transpose, narrow, chunk, ...) is one of
these.
"""

from __future__ import annotations

import builtins
import functools

import numpy

from .. import _dtype
from .._backend import array_module, backend_of
from .._tensor import Tensor, _make, shape_str
from ..autograd.function import Function
from . import _backward as B
from ._utils import cast_to, normalize_dim, normalize_dims, parse_size


def make_view(out: Tensor, base: Tensor, view_fn) -> Tensor:
    """Mark ``out`` as a view of ``base``: shared version counter and a way to re-derive it."""
    out._version_counter = base._version_counter
    root = base._base
    if root is not None:
        parent_fn = base._view_fn
        out._base = root
        out._view_fn = lambda arr: view_fn(parent_fn(arr))
    else:
        out._base = base
        out._view_fn = view_fn
    out._view_version = out._version_counter[0]
    return out


# ---------------------------------------------------------------------------- reshape
class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        return a._data.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.input_shape(0)), None


def _infer_shape(shape: tuple, numel: int, op: str) -> tuple:
    if -1 in shape:
        if shape.count(-1) > 1:
            raise RuntimeError(f"{op}(): only one dimension can be inferred")
        known = 1
        for s in shape:
            if s != -1:
                known *= s
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{shape_str(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    n = 1
    for s in shape:
        n *= s
    if n != numel:
        raise RuntimeError(f"shape '{shape_str(shape)}' is invalid for input of size {numel}")
    return shape


def reshape(input: Tensor, *shape) -> Tensor:
    """A view when the memory layout allows it, otherwise a copy (as torch)."""
    arr = input._data
    shape = _infer_shape(parse_size(shape, "reshape"), arr.size, "reshape")
    if shape == arr.shape:
        return _alias_view(input)
    out = Reshape.apply(input, shape)
    if array_module(arr).may_share_memory(out._data, arr):
        make_view(out, input, lambda a: a.reshape(shape))
    return out


def view(input: Tensor, *shape) -> Tensor:
    """Like reshape, but never copies: raises when the layout does not allow a view."""
    if len(shape) == 1 and isinstance(shape[0], _dtype.dtype):
        raise NotImplementedError("Tensor.view(dtype) is not supported")
    arr = input._data
    shape = _infer_shape(parse_size(shape, "view"), arr.size, "view")
    # reshape returns a view where the layout allows one, else a copy (NumPy and CuPy alike)
    if arr.size and not array_module(arr).may_share_memory(arr.reshape(shape), arr):
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one dimension spans across "
            "two contiguous subspaces). Use .reshape(...) instead."
        )
    return reshape(input, shape)


def _alias_view(input: Tensor) -> Tensor:
    out = Reshape.apply(input, input._data.shape)
    return make_view(out, input, lambda a: a)


def view_as(input: Tensor, other: Tensor) -> Tensor:
    return view(input, other._data.shape)


def reshape_as(input: Tensor, other: Tensor) -> Tensor:
    return reshape(input, other._data.shape)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    shape = input._data.shape
    if input._data.ndim == 0:
        return reshape(input, (1,))
    s = normalize_dim(start_dim, len(shape), "flatten")
    e = normalize_dim(end_dim, len(shape), "flatten")
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    n = 1
    for d in shape[s : e + 1]:
        n *= d
    return reshape(input, shape[:s] + (n,) + shape[e + 1 :])


def ravel(input: Tensor) -> Tensor:
    return reshape(input, (-1,))


def unflatten(input: Tensor, dim: int, sizes) -> Tensor:
    shape = input._data.shape
    d = normalize_dim(dim, len(shape), "unflatten")
    sizes = tuple(int(s) for s in sizes)
    known = 1
    for s in sizes:
        if s != -1:
            known *= s
    if -1 in sizes:
        sizes = tuple(shape[d] // known if s == -1 else s for s in sizes)
    elif known != shape[d]:
        raise RuntimeError(
            f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {dim} ({shape[d]}) in the input tensor"
        )
    return reshape(input, shape[:d] + sizes + shape[d + 1 :])


def squeeze(input: Tensor, dim=None) -> Tensor:
    shape = input._data.shape
    if dim is None:
        new = tuple(s for s in shape if s != 1)
    else:
        dims = normalize_dims(dim, len(shape), "squeeze")
        new = tuple(s for i, s in enumerate(shape) if not (i in dims and s == 1))
    return reshape(input, new)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    shape = input._data.shape
    d = normalize_dim(dim, len(shape) + 1, "unsqueeze")
    return reshape(input, shape[:d] + (1,) + shape[d:])


# ---------------------------------------------------------------------------- permute
class Permute(Function):
    @staticmethod
    def forward(ctx, a, dims):
        ctx.dims = dims
        return a._data.transpose(dims)

    @staticmethod
    def backward(ctx, grad):
        inverse = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inverse[d] = i
        return B.permute(grad, tuple(inverse)), None


def permute(input: Tensor, *dims) -> Tensor:
    ndim = input._data.ndim
    if len(dims) == 1 and not isinstance(dims[0], int):
        dims = tuple(dims[0])
    if len(dims) != ndim:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match the length of the desired "
            f"ordering of dimensions i.e. input.dim() = {ndim} is not equal to len(dims) = {len(dims)}"
        )
    dims = tuple(normalize_dim(d, ndim, "permute") for d in dims)
    if len(set(dims)) != len(dims):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    out = Permute.apply(input, dims)
    return make_view(out, input, lambda a: a.transpose(dims))


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    ndim = input._data.ndim
    if ndim == 0:
        return _alias_view(input)
    d0 = normalize_dim(dim0, ndim, "transpose")
    d1 = normalize_dim(dim1, ndim, "transpose")
    dims = list(range(ndim))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return permute(input, tuple(dims))


swapaxes = swapdims = transpose


def t(input: Tensor) -> Tensor:
    if input._data.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input._data.ndim}D")
    if input._data.ndim < 2:
        return _alias_view(input)
    return transpose(input, 0, 1)


def matrix_transpose(input: Tensor) -> Tensor:
    """``mT``: swap the last two dims."""
    if input._data.ndim < 2:
        raise RuntimeError("tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor.")
    return transpose(input, -2, -1)


def movedim(input: Tensor, source, destination) -> Tensor:
    ndim = input._data.ndim
    src = (source,) if isinstance(source, int) else tuple(source)
    dst = (destination,) if isinstance(destination, int) else tuple(destination)
    src = [normalize_dim(s, ndim, "movedim") for s in src]
    dst = [normalize_dim(d, ndim, "movedim") for d in dst]
    order = [d for d in range(ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(input, tuple(order))


moveaxis = movedim


def reversed_dims(input: Tensor) -> Tensor:
    """``.T``: all dims reversed."""
    return permute(input, tuple(range(input._data.ndim - 1, -1, -1)))


# ---------------------------------------------------------------------------- expand
class Expand(Function):
    @staticmethod
    def forward(ctx, a, shape):
        return array_module(a._data).broadcast_to(a._data, shape)

    @staticmethod
    def backward(ctx, grad):
        return B.unbroadcast(grad, ctx.input_shape(0)), None


def expand(input: Tensor, *sizes) -> Tensor:
    sizes = parse_size(sizes, "expand")
    shape = input._data.shape
    if len(sizes) < len(shape):
        raise RuntimeError(
            f"expand(backprop.{input.dtype.name}{{{shape_str(shape)}}}, size={shape_str(sizes)}): the number of sizes provided "
            f"({len(sizes)}) must be greater or equal to the number of dimensions in the tensor ({len(shape)})"
        )
    lead = len(sizes) - len(shape)
    target = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s == -1:
                raise RuntimeError(f"expand: -1 is not allowed in a leading, non-existing dimension {i}")
            target.append(s)
            continue
        cur = shape[i - lead]
        if s == -1:
            s = cur
        elif cur != 1 and s != cur:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({cur}) at non-singleton "
                f"dimension {i}.  Target sizes: {shape_str(sizes)}.  Tensor sizes: {shape_str(shape)}"
            )
        target.append(s)
    target = tuple(target)
    if target == shape:
        return _alias_view(input)
    out = Expand.apply(input, target)
    return make_view(out, input, lambda a: array_module(a).broadcast_to(a, target))


def expand_as(input: Tensor, other: Tensor) -> Tensor:
    return expand(input, other._data.shape)


def broadcast_to(input: Tensor, size) -> Tensor:
    return expand(input, tuple(size))


def broadcast_tensors(*tensors) -> tuple:
    from ._utils import broadcast_shapes

    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    shape = broadcast_shapes(*(t._data.shape for t in tensors), op="broadcast_tensors")
    return tuple(expand(t, shape) for t in tensors)


# ---------------------------------------------------------------------------- basic slicing
class Slice(Function):
    """Basic indexing (ints, slices, None, Ellipsis): a view of the input."""

    @staticmethod
    def forward(ctx, a, index):
        ctx.index = index
        return a._data[index]

    @staticmethod
    def backward(ctx, grad):
        return B.call(SliceScatter, grad, ctx.input_shape(0), ctx.index), None


class SliceScatter(Function):
    """The gradient of basic indexing: ``grad`` placed into zeros of the input's shape."""

    @staticmethod
    def forward(ctx, grad, shape, index):
        ctx.index = index
        out = array_module(grad._data).zeros(shape, dtype=grad._data.dtype)
        out[index] = grad._data
        return out

    @staticmethod
    def backward(ctx, grad):
        return B.call(Slice, grad, ctx.index), None, None


def basic_index(input: Tensor, index: tuple) -> Tensor:
    """``input[index]`` for an index tuple of ints, slices, None and Ellipsis (a view)."""
    if Ellipsis not in index:
        index = index + (Ellipsis,)  # so NumPy returns a 0-d view, not a copied scalar
    out = Slice.apply(input, index)
    return make_view(out, input, lambda a: a[index])


def narrow(input: Tensor, dim: int, start, length: int) -> Tensor:
    d = normalize_dim(dim, input._data.ndim, "narrow")
    size = input._data.shape[d]
    start = int(start)
    if start < 0:
        start += size
    if start < 0 or start + length > size or length < 0:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    return basic_index(input, (slice(None),) * d + (slice(start, start + length),))


def select(input: Tensor, dim: int, index: int) -> Tensor:
    d = normalize_dim(dim, input._data.ndim, "select")
    size = input._data.shape[d]
    i = int(index)
    if i < -size or i >= size:
        raise IndexError(f"select(): index {i} out of range for tensor of size {shape_str(input._data.shape)} at dimension {d}")
    return basic_index(input, (slice(None),) * d + (i,))


# ---------------------------------------------------------------------------- split
class Split(Function):
    """Views of consecutive chunks along ``dim``; backward concatenates the chunks' gradients."""

    @staticmethod
    def forward(ctx, a, sizes, dim):
        ctx.dim = dim
        arr = a._data
        outs = []
        start = 0
        lead = (slice(None),) * dim
        for s in sizes:
            outs.append(arr[lead + (slice(start, start + s), Ellipsis)])
            start += s
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grads):
        return B.cat(grads, ctx.dim), None, None


def _split_sizes(total: int, split_size_or_sections, op: str) -> list:
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            if step == 0 and total == 0:
                return [0]
            raise RuntimeError(f"{op} expects split_size be non-negative, but got split_size={step}")
        sizes = [step] * (total // step)
        if total % step or not sizes:
            sizes.append(total % step)
        return sizes
    sizes = [int(s) for s in split_size_or_sections]
    if builtins.sum(sizes) != total:
        raise RuntimeError(
            f"split_with_sizes expects split_sizes to sum exactly to {total} (input tensor's size at dimension), "
            f"but got split_sizes={sizes}"
        )
    return sizes


def split(tensor: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    d = normalize_dim(dim, tensor._data.ndim, "split")
    sizes = _split_sizes(tensor._data.shape[d], split_size_or_sections, "split")
    outs = Split.apply(tensor, sizes, d)
    if not isinstance(outs, tuple):
        outs = (outs,)
    for i, o in enumerate(outs):
        start = builtins.sum(sizes[:i])
        sl = (slice(None),) * d + (slice(start, start + sizes[i]), Ellipsis)
        make_view(o, tensor, lambda a, sl=sl: a[sl])
    return outs


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
    d = normalize_dim(dim, input._data.ndim, "chunk")
    size = input._data.shape[d]
    step = -(-size // chunks) if size else 0
    if step == 0:
        return split(input, [0] * builtins.min(chunks, 1) if size == 0 else [size], d)
    return split(input, step, d)


def tensor_split(input: Tensor, indices_or_sections, dim: int = 0) -> tuple:
    d = normalize_dim(dim, input._data.ndim, "tensor_split")
    size = input._data.shape[d]
    if isinstance(indices_or_sections, int):
        n = indices_or_sections
        base, extra = divmod(size, n)
        sizes = [base + 1] * extra + [base] * (n - extra)
    else:
        bounds = [0] + [builtins.min(builtins.max(int(i), 0), size) for i in indices_or_sections] + [size]
        sizes = [builtins.max(b - a, 0) for a, b in zip(bounds[:-1], bounds[1:])]
    return split(input, sizes, d)


def unbind(input: Tensor, dim: int = 0) -> tuple:
    d = normalize_dim(dim, input._data.ndim, "unbind")
    return tuple(select(input, d, i) for i in range(input._data.shape[d]))


# ---------------------------------------------------------------------------- cat / stack
class Cat(Function):
    """Concatenation; 1-D empty tensors (torch's legacy "no-op" inputs) are skipped when
    ``skip_empty`` and get an empty gradient."""

    @staticmethod
    def forward(ctx, dim, skip_empty, *tensors):
        ctx.dim = dim
        ctx.skip_empty = skip_empty
        arrays = [t._data for t in tensors if not (skip_empty and _is_legacy_empty(t))]
        return array_module(tensors[0]._data).concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        d = ctx.dim
        lead = (slice(None),) * d
        grads = [None, None]
        start = 0
        for i in range(2, len(ctx._edges)):
            shape = ctx.input_shape(i)
            if ctx.skip_empty and shape == (0,):
                grads.append(B.zeros((0,), grad) if ctx.needs_input_grad[i] else None)
                continue
            size = shape[d]
            grads.append(grad[lead + (slice(start, start + size),)] if ctx.needs_input_grad[i] else None)
            start += size
        return tuple(grads)


def _is_legacy_empty(t: Tensor) -> bool:
    return t._data.ndim == 1 and t._data.shape[0] == 0


def cat(tensors, dim: int = 0, *, out=None) -> Tensor:
    if isinstance(tensors, Tensor):
        raise TypeError("cat(): argument 'tensors' (position 1) must be tuple of Tensors, not Tensor")
    tensors = list(tensors)
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"cat(): expected a sequence of Tensors, but element {i} is {type(t).__name__}")
        if t._data.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    target = _dtype.result_type(*tensors) if len({t._data.dtype for t in tensors}) > 1 else tensors[0].dtype
    tensors = [cast_to(t, target) for t in tensors]
    ref = next((t for t in tensors if not _is_legacy_empty(t)), tensors[0])
    d = normalize_dim(dim, ref._data.ndim, "cat")
    for i, t in enumerate(tensors):
        if _is_legacy_empty(t) and ref._data.ndim != 1:
            continue
        if t._data.ndim != ref._data.ndim:
            raise RuntimeError(
                f"Tensors must have same number of dimensions: got {ref._data.ndim} and {t._data.ndim}"
            )
        for j, (a, b) in enumerate(zip(ref._data.shape, t._data.shape)):
            if j != d and a != b:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {d}. Expected size {a} but got size {b} for "
                    f"tensor number {i} in the list."
                )
    result = Cat.apply(d, ref._data.ndim != 1, *tensors)
    if out is not None:
        out.copy_(result)
        return out
    return result


concat = concatenate = cat


class Stack(Function):
    @staticmethod
    def forward(ctx, dim, *tensors):
        ctx.dim = dim
        return array_module(tensors[0]._data).stack([t._data for t in tensors], axis=dim)

    @staticmethod
    def backward(ctx, grad):
        lead = (slice(None),) * ctx.dim
        need = ctx.needs_input_grad[1:]
        return (None,) + tuple(grad[lead + (i,)] if n else None for i, n in enumerate(need))


def stack(tensors, dim: int = 0, *, out=None) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0]._data.shape
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"stack(): expected a sequence of Tensors, but element {i} is {type(t).__name__}")
        if t._data.shape != shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {shape_str(shape)} at entry 0 and "
                f"{shape_str(t._data.shape)} at entry {i}"
            )
    target = _dtype.result_type(*tensors) if len({t._data.dtype for t in tensors}) > 1 else tensors[0].dtype
    tensors = [cast_to(t, target) for t in tensors]
    d = normalize_dim(dim, len(shape) + 1, "stack")
    result = Stack.apply(d, *tensors)
    if out is not None:
        out.copy_(result)
        return out
    return result


def hstack(tensors) -> Tensor:
    tensors = [atleast_1d(t) for t in tensors]
    return cat(tensors, 0 if tensors[0]._data.ndim == 1 else 1)


def vstack(tensors) -> Tensor:
    return cat([atleast_2d(t) for t in tensors], 0)


def atleast_1d(t: Tensor) -> Tensor:
    return reshape(t, (1,)) if t._data.ndim == 0 else t


def atleast_2d(t: Tensor) -> Tensor:
    t = atleast_1d(t)
    return unsqueeze(t, 0) if t._data.ndim == 1 else t


# ---------------------------------------------------------------------------- copies
class Repeat(Function):
    @staticmethod
    def forward(ctx, a, repeats):
        arr = a._data
        lead = len(repeats) - arr.ndim
        ctx.expanded_shape = (1,) * lead + arr.shape
        ctx.repeats = repeats
        return array_module(arr).tile(arr.reshape(ctx.expanded_shape), repeats)

    @staticmethod
    def backward(ctx, grad):
        # (r0*s0, r1*s1, ...) -> (r0, s0, r1, s1, ...) -> sum over the r axes.
        split_shape = []
        for r, s in zip(ctx.repeats, ctx.expanded_shape):
            split_shape += [r, s]
        g = B.sum(grad.reshape(tuple(split_shape)), tuple(range(0, 2 * len(ctx.repeats), 2)))
        return g.reshape(ctx.input_shape(0)), None


def repeat(input: Tensor, *sizes) -> Tensor:
    sizes = parse_size(sizes, "repeat")
    if len(sizes) < input._data.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor"
        )
    return Repeat.apply(input, sizes)


def tile(input: Tensor, dims) -> Tensor:
    dims = tuple(dims)
    if len(dims) < input._data.ndim:
        dims = (1,) * (input._data.ndim - len(dims)) + dims
    return repeat(input, dims)


def repeat_interleave(input: Tensor, repeats, dim=None) -> Tensor:
    from .indexing import index_select

    if dim is None:
        input = reshape(input, (-1,))
        dim = 0
    d = normalize_dim(dim, input._data.ndim, "repeat_interleave")
    n = input._data.shape[d]
    if isinstance(repeats, Tensor):  # the output's size depends on the counts: they are read on the host
        repeats = backend_of(repeats._data).to_host(repeats._data)
    if isinstance(repeats, int):
        xp = array_module(input._data)
        index = xp.repeat(xp.arange(n), repeats)
    else:  # per-element counts: the index is built on the host, then copied to the input's device
        index = backend_of(input._data).asarray(numpy.repeat(numpy.arange(n), repeats), index=input.device.index)
    return index_select(input, d, _make(index.astype(numpy.int64)))


class Flip(Function):
    @staticmethod
    def forward(ctx, a, dims):
        ctx.dims = dims
        return array_module(a._data).flip(a._data, dims).copy()

    @staticmethod
    def backward(ctx, grad):
        return B.call(Flip, grad, ctx.dims), None


def flip(input: Tensor, dims) -> Tensor:
    dims = normalize_dims((dims,) if isinstance(dims, int) else dims, input._data.ndim, "flip")
    return Flip.apply(input, dims)


def fliplr(input: Tensor) -> Tensor:
    return flip(input, (1,))


def flipud(input: Tensor) -> Tensor:
    return flip(input, (0,))


class Roll(Function):
    @staticmethod
    def forward(ctx, a, shifts, dims):
        ctx.shifts = shifts
        ctx.dims = dims
        return array_module(a._data).roll(a._data, shifts, dims)

    @staticmethod
    def backward(ctx, grad):
        neg = tuple(-s for s in ctx.shifts) if isinstance(ctx.shifts, tuple) else -ctx.shifts
        return B.call(Roll, grad, neg, ctx.dims), None, None


def roll(input: Tensor, shifts, dims=None) -> Tensor:
    if dims is None:
        flat = reshape(input, (-1,))
        return reshape(Roll.apply(flat, shifts, 0), input._data.shape)
    if isinstance(shifts, int):
        shifts = (shifts,)
    if isinstance(dims, int):
        dims = (dims,)
    dims = tuple(normalize_dim(d, input._data.ndim, "roll") for d in dims)
    return Roll.apply(input, tuple(shifts), dims)


class _Triangle(Function):
    @staticmethod
    def forward(ctx, a, diagonal, upper):
        ctx.diagonal = diagonal
        ctx.upper = upper
        xp = array_module(a._data)
        return (xp.triu if upper else xp.tril)(a._data, diagonal)

    @staticmethod
    def backward(ctx, grad):
        return B.call(_Triangle, grad, ctx.diagonal, ctx.upper), None, None


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    if input._data.ndim < 2:
        raise RuntimeError("tril: input tensor must have at least 2 dimensions")
    return _Triangle.apply(input, int(diagonal), False)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    if input._data.ndim < 2:
        raise RuntimeError("triu: input tensor must have at least 2 dimensions")
    return _Triangle.apply(input, int(diagonal), True)


class Diagonal(Function):
    @staticmethod
    def forward(ctx, a, offset, dim1, dim2):
        ctx.args = (offset, dim1, dim2)
        return array_module(a._data).diagonal(a._data, offset, dim1, dim2).copy()

    @staticmethod
    def backward(ctx, grad):
        return B.call(DiagonalScatter, grad, ctx.input_shape(0), *ctx.args), None, None, None


class DiagonalScatter(Function):
    """The gradient of ``diagonal``: ``grad`` written onto a diagonal of zeros of ``shape``."""

    @staticmethod
    def forward(ctx, grad, shape, offset, dim1, dim2):
        ctx.args = (offset, dim1, dim2)
        xp = array_module(grad._data)
        out = xp.zeros(shape, dtype=grad._data.dtype)
        moved = xp.moveaxis(out, (dim1, dim2), (-2, -1))  # a writable view of ``out``
        n = grad._data.shape[-1]
        i = xp.arange(n)
        moved[..., i + builtins.max(-offset, 0), i + builtins.max(offset, 0)] = grad._data
        return out

    @staticmethod
    def backward(ctx, grad):
        return B.call(Diagonal, grad, *ctx.args), None, None, None, None


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    nd = input._data.ndim
    d1, d2 = normalize_dim(dim1, nd, "diagonal"), normalize_dim(dim2, nd, "diagonal")
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return Diagonal.apply(input, int(offset), d1, d2)


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """1-D -> a square matrix with ``input`` on a diagonal; 2-D -> that diagonal."""
    if input._data.ndim == 1:
        n = input._data.shape[0] + builtins.abs(diagonal)
        return DiagonalScatter.apply(input, (n, n), int(diagonal), 0, 1)
    if input._data.ndim == 2:
        return Diagonal.apply(input, int(diagonal), 0, 1)
    raise RuntimeError("diag(): Supports 1D or 2D tensors. Got " + f"{input._data.ndim}D")


def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    n = input._data.shape[-1] + builtins.abs(offset)
    shape = input._data.shape[:-1] + (n, n)
    if (dim1, dim2) not in ((-2, -1), (input._data.ndim - 1, input._data.ndim)):
        raise NotImplementedError("diag_embed supports only the last two dims")
    return DiagonalScatter.apply(input, shape, int(offset), len(shape) - 2, len(shape) - 1)


def trace(input: Tensor) -> Tensor:
    from .reduction import sum as sum_

    if input._data.ndim != 2:
        raise RuntimeError("trace: expected a matrix")
    return sum_(diagonal(input))


def rot90(input: Tensor, k: int = 1, dims=(0, 1)) -> Tensor:
    """Rotate by 90 degrees ``k`` times in the plane of ``dims`` (from the first towards the second)."""
    dims = list(dims)
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    nd = input._data.ndim
    if nd < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {nd}")
    d0, d1 = normalize_dim(dims[0], nd, "rot90"), normalize_dim(dims[1], nd, "rot90")
    if d0 == d1:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}")
    k %= 4
    if k == 1:
        return transpose(flip(input, (d1,)), d0, d1)
    if k == 2:
        return flip(input, (d0, d1))
    if k == 3:
        return transpose(flip(input, (d0,)), d0, d1)
    return input.clone()


def _split_along(input: Tensor, indices_or_sections, dim: int, name: str, min_dims: int) -> tuple:
    nd = input._data.ndim
    if nd < min_dims:
        raise RuntimeError(
            f"torch.{name} requires a tensor with at least {min_dims} dimension, but got a tensor with {nd} dimensions!"
        )
    if isinstance(indices_or_sections, int):
        size = input._data.shape[dim]
        if indices_or_sections == 0 or size % indices_or_sections:
            raise RuntimeError(
                f"torch.{name} attempted to split along dimension {dim}, but the size of the dimension {size} is not "
                f"divisible by the split_size {indices_or_sections}!"
            )
    return tensor_split(input, indices_or_sections, dim)


def hsplit(input: Tensor, indices_or_sections) -> tuple:
    """``tensor_split`` along dim 1 (dim 0 for 1-D tensors); an int must divide the size."""
    return _split_along(input, indices_or_sections, 0 if input._data.ndim == 1 else 1, "hsplit", 1)


def vsplit(input: Tensor, indices_or_sections) -> tuple:
    return _split_along(input, indices_or_sections, 0, "vsplit", 2)


def dsplit(input: Tensor, indices_or_sections) -> tuple:
    return _split_along(input, indices_or_sections, 2, "dsplit", 3)


def unfold(input: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """``Tensor.unfold``: every window of ``size`` elements along ``dimension``, ``step`` apart,
    as a new last dim (that dim's size becomes the number of windows). Unlike torch's, the
    result is a copy, not a view; its gradient adds back into overlapping windows."""
    from .indexing import index_select

    x = input if input._data.ndim else input.reshape(1)
    d = normalize_dim(dimension, x._data.ndim, "unfold")
    n = x._data.shape[d]
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    windows = (n - size) // step + 1
    xp = array_module(x._data)
    index = (xp.arange(windows)[:, None] * step + xp.arange(size)[None, :]).reshape(-1)
    picked = index_select(x, d, _make(index.astype(numpy.int64)))
    shape = x._data.shape[:d] + (windows, size) + x._data.shape[d + 1 :]
    if input._data.ndim == 0:  # torch gives a 0-d tensor's one window as shape (size,)
        return picked.reshape(size)
    return movedim(picked.reshape(shape), d + 1, -1)


def kron(input: Tensor, other: Tensor) -> Tensor:
    """Kronecker product: every element of ``input`` times all of ``other``, blockwise."""
    from .elementwise import mul

    nd = builtins.max(input._data.ndim, other._data.ndim)
    a_shape = (1,) * (nd - input._data.ndim) + input._data.shape
    b_shape = (1,) * (nd - other._data.ndim) + other._data.shape
    a = input.reshape(tuple(s for n in a_shape for s in (n, 1)))
    b = other.reshape(tuple(s for n in b_shape for s in (1, n)))
    return mul(a, b).reshape(tuple(m * n for m, n in zip(a_shape, b_shape)))


def block_diag(*tensors) -> Tensor:
    """A block-diagonal matrix of the given 0-, 1- or 2-D tensors (dtypes promoted)."""
    from .._creation import zeros

    blocks = []
    for i, t in enumerate(tensors):
        nd = t._data.ndim
        if nd > 2:
            raise RuntimeError(
                f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {i} has {nd} dimensions"
            )
        blocks.append(t.reshape(1, 1) if nd == 0 else t.reshape(1, -1) if nd == 1 else t)
    dtype = functools.reduce(_dtype.promote_types, (t.dtype for t in tensors)) if tensors else None
    width = builtins.sum(b._data.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        h, w = b._data.shape
        parts = [zeros(h, left, dtype=dtype, device=b.device), b.to(dtype), zeros(h, width - left - w, dtype=dtype, device=b.device)]
        rows.append(cat(parts, 1))
        left += w
    if not rows:
        return zeros(1, 0)
    return cat(rows, 0)
