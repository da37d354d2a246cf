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
from .._autocast import autocast_op
from .._backend import array_module, backend_of
from .._tensor import Tensor, _make, shape_str
from ..autograd.function import Function
from . import _backward as B
from ._utils import cast_to, normalize_dim, normalize_dims, parse_size
from .inplace import _torch_type_name, write_out


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
    for i, s in enumerate(shape):
        if s < -1:
            raise RuntimeError(f"invalid shape dimension {s} at index {i} of shape {shape_str(shape)}")
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
    shape = _infer_shape(parse_size(shape, "reshape", check_negative=False), arr.size, "reshape")
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
    shape = _infer_shape(parse_size(shape, "view", check_negative=False), arr.size, "view")
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
    if len(src) != len(dst):
        raise RuntimeError(
            f"movedim: Invalid source or destination dims: source ({list(src)} dims) should contain the same number "
            f"of dims as destination ({list(dst)} dims)"
        )
    src = [normalize_dim(s, ndim, "movedim") for s in src]
    dst = [normalize_dim(d, ndim, "movedim") for d in dst]
    for name, dims, given in (("source", src, source), ("destination", dst, destination)):
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"movedim: repeated dim in `{name}` ({list(given) if not isinstance(given, int) else [given]})")
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
    if input._data.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = normalize_dim(dim, input._data.ndim, "narrow")
    size = input._data.shape[d]
    if isinstance(start, Tensor):
        if start._data.ndim != 0 or start._data.dtype.kind not in "iu":
            raise RuntimeError("start must be an 0-dim integral Tensor.")
        start = start.item()
    start = int(start)
    if start < -size or start > size:
        raise IndexError(f"start out of range (expected to be in range of [{-size}, {size}], but got {start})")
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
    if isinstance(indices_or_sections, Tensor):  # a 0-d tensor is a count of sections, a 1-d one indices
        if indices_or_sections._data.dtype.kind not in "iu" or indices_or_sections._data.ndim > 1:
            raise RuntimeError(
                "tensor_split expected tensor_indices_or_sections to have integer dtype and be 0-D or 1-D, but got "
                f"{indices_or_sections.dtype} of {indices_or_sections._data.ndim}-D"
            )
        indices_or_sections = indices_or_sections.tolist()
    if isinstance(indices_or_sections, int):
        n = indices_or_sections
        if n <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {n}")
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


@autocast_op("cat")
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
    if isinstance(out, Tensor) and target._kind > out.dtype._kind:  # e.g. float inputs into an integer out
        raise TypeError(f"torch.cat(): input types can't be cast to the desired output type {_torch_type_name(out.dtype)}")
    result = Cat.apply(d, ref._data.ndim != 1, *tensors)
    return write_out(result, out, "cat", tuple(tensors))


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


@autocast_op("stack")
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
    return write_out(Stack.apply(d, *tensors), out, "stack")


def hstack(tensors) -> Tensor:
    if len(tensors) == 0:
        raise RuntimeError("hstack expects a non-empty TensorList")
    tensors = [atleast_1d(t) for t in tensors]
    return cat(tensors, 0 if tensors[0]._data.ndim == 1 else 1)


def vstack(tensors) -> Tensor:
    if len(tensors) == 0:
        raise RuntimeError("vstack expects a non-empty TensorList")
    return cat([atleast_2d(t) for t in tensors], 0)


def _each(fn, tensors: tuple):
    """``atleast_*d`` of one tensor, or of several (given as arguments or one sequence): a tuple."""
    if len(tensors) == 1 and isinstance(tensors[0], Tensor):
        return fn(tensors[0])
    if len(tensors) == 1:
        tensors = tuple(tensors[0])
    return tuple(fn(t) for t in tensors)


def _atleast_1d(t: Tensor) -> Tensor:
    return reshape(t, (1,)) if t._data.ndim == 0 else t


def _atleast_2d(t: Tensor) -> Tensor:
    t = _atleast_1d(t)
    return unsqueeze(t, 0) if t._data.ndim == 1 else t


def atleast_1d(*tensors):
    return _each(_atleast_1d, tensors)


def atleast_2d(*tensors):
    return _each(_atleast_2d, tensors)


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


def repeat_interleave(input: Tensor, repeats=None, dim=None, *, output_size=None) -> Tensor:
    """Each element (or slice along ``dim``) repeated ``repeats`` times (an int, or one count
    per element); ``repeat_interleave(counts)`` alone repeats each index by its count."""
    from .indexing import index_select

    if repeats is None:  # torch.repeat_interleave(repeats): the indices, each repeated
        counts = input
        if counts._data.ndim > 1:
            raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
        if counts._data.dtype.kind not in "iu":
            raise RuntimeError("repeats has to be Long or Int tensor")
        host = backend_of(counts._data).to_host(counts._data).reshape(-1)
        if (host < 0).any():
            raise RuntimeError("repeats can not be negative")
        index = numpy.repeat(numpy.arange(host.size, dtype=numpy.int64), host)
        return _make(backend_of(counts._data).asarray(index, index=counts.device.index))
    if dim is None:
        input = reshape(input, (-1,))
        dim = 0
    d = normalize_dim(dim, builtins.max(input._data.ndim, 1), "repeat_interleave")
    if input._data.ndim == 0:
        input = reshape(input, (1,))
    n = input._data.shape[d]
    if isinstance(repeats, Tensor):  # the output's size depends on the counts: they are read on the host
        if repeats._data.ndim > 1:
            raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
        repeats = backend_of(repeats._data).to_host(repeats._data)
        if repeats.ndim == 1 and repeats.size == 1:
            repeats = int(repeats[0])
        elif repeats.ndim == 0:
            repeats = int(repeats)
    if isinstance(repeats, int):
        if repeats < 0:
            raise RuntimeError("repeats can not be negative")
        xp = array_module(input._data)
        index = xp.repeat(xp.arange(n), repeats)
    else:  # per-element counts: the index is built on the host, then copied to the input's device
        counts = numpy.asarray(repeats).reshape(-1)
        if counts.size != n:
            raise RuntimeError("repeats must have the same size as input along dim, but got repeats.size(0) = "
                               f"{counts.size} and input.size({d}) = {n}")
        if (counts < 0).any():
            raise RuntimeError("repeats can not be negative")
        index = backend_of(input._data).asarray(numpy.repeat(numpy.arange(n), counts), index=input.device.index)
    if output_size is not None and index.shape[0] != output_size:
        raise RuntimeError(f"allocated size does not match required size: output_size={output_size}, needed {index.shape[0]}")
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
    if input._data.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(input, (1,))


def flipud(input: Tensor) -> Tensor:
    if input._data.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
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
    n_shifts = 1 if isinstance(shifts, int) else len(shifts)
    n_dims = 0 if dims is None else 1 if isinstance(dims, int) else len(dims)
    if n_shifts == 0:
        raise RuntimeError("`shifts` required")
    if dims is None and n_shifts == 1 and not isinstance(shifts, int):
        shifts = shifts[0]
    elif n_dims != n_shifts and not (dims is None and n_shifts == 1):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {n_shifts}, dims:{n_dims}")
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


def _diagonal_view(a, offset: int, dim1: int, dim2: int):
    """The ``offset``-th diagonal of array ``a`` in dims (dim1, dim2), as a last dim: a writable
    view (NumPy's own ``diagonal`` is read-only)."""
    sl = [slice(None)] * a.ndim
    if offset >= 0:
        sl[dim2] = slice(offset, None)
    else:
        sl[dim1] = slice(-offset, None)
    b = a[tuple(sl)]
    n = builtins.max(builtins.min(b.shape[dim1], b.shape[dim2]), 0)
    keep = [i for i in range(a.ndim) if i not in (dim1, dim2)]
    shape = tuple(b.shape[i] for i in keep) + (n,)
    strides = tuple(b.strides[i] for i in keep) + (b.strides[dim1] + b.strides[dim2],)
    if b.size == 0:
        return array_module(a).diagonal(a, offset, dim1, dim2)
    return array_module(a).lib.stride_tricks.as_strided(b, shape=shape, strides=strides)


class Diagonal(Function):
    """A diagonal as a view of the input (as torch's ``diagonal``)."""

    @staticmethod
    def forward(ctx, a, offset, dim1, dim2):
        ctx.args = (offset, dim1, dim2)
        return _diagonal_view(a._data, offset, dim1, dim2)

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
    offset = int(offset)
    out = Diagonal.apply(input, offset, d1, d2)
    return make_view(out, input, lambda a: _diagonal_view(a, offset, d1, d2))


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """1-D -> a square matrix with ``input`` on a diagonal; 2-D -> that diagonal."""
    if input._data.ndim == 1:
        n = input._data.shape[0] + builtins.abs(diagonal)
        return DiagonalScatter.apply(input, (n, n), int(diagonal), 0, 1)
    if input._data.ndim == 2:  # a copy (torch.diag is not a view)
        return _copy_of(Diagonal.apply(input, int(diagonal), 0, 1))
    raise RuntimeError("diag(): Supports 1D or 2D tensors. Got " + f"{input._data.ndim}D")


def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices (in dims ``dim1``, ``dim2`` of the result) with the last dim of ``input`` on a diagonal."""
    out_ndim = input._data.ndim + 1
    d1, d2 = normalize_dim(dim1, out_ndim, "diag_embed"), normalize_dim(dim2, out_ndim, "diag_embed")
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    n = input._data.shape[-1] + builtins.abs(offset)
    batch = list(input._data.shape[:-1])
    shape = [0] * out_ndim
    rest = iter(batch)
    for d in range(out_ndim):
        shape[d] = n if d in (d1, d2) else next(rest)
    return DiagonalScatter.apply(input, tuple(shape), int(offset), d1, d2)


@autocast_op("trace")
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
    if not isinstance(indices_or_sections, (int, list, tuple, Tensor)):
        raise TypeError(
            f"{name}() received an invalid combination of arguments - got (Tensor, {type(indices_or_sections).__name__})"
        )
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


def _windows_view(arr, dim: int, size: int, step: int):
    """Every window of ``size`` elements along ``dim``, ``step`` apart, as a new last dim of a
    view of ``arr`` (no copy: the windows overlap in memory when step < size)."""
    n = arr.shape[dim]
    windows = (n - size) // step + 1
    shape = arr.shape[:dim] + (windows,) + arr.shape[dim + 1 :] + (size,)
    strides = arr.strides[:dim] + (arr.strides[dim] * step,) + arr.strides[dim + 1 :] + (arr.strides[dim],)
    if arr.size == 0:
        return array_module(arr).zeros(shape, dtype=arr.dtype)
    return array_module(arr).lib.stride_tricks.as_strided(arr, shape=shape, strides=strides)


class Unfold(Function):
    """``Tensor.unfold`` (a view); the gradient adds each window back where it came from."""

    @staticmethod
    def forward(ctx, a, dim, size, step):
        ctx.args = (dim, size, step)
        return _windows_view(a._data, dim, size, step)

    @staticmethod
    def backward(ctx, grad):
        from .indexing import IndexAdd

        dim, size, step = ctx.args
        shape = ctx.input_shape(0)
        windows = (shape[dim] - size) // step + 1
        xp = array_module(grad if B.is_array(grad) else grad._data)
        index = (xp.arange(windows)[:, None] * step + xp.arange(size)[None, :]).reshape(-1).astype(numpy.int64)
        nd = len(shape) + 1
        order = list(range(dim + 1)) + [nd - 1] + list(range(dim + 1, nd - 1))  # the window dim next to its count
        g = B.permute(grad, tuple(order)).reshape(shape[:dim] + (windows * size,) + shape[dim + 1 :])
        return B.call(IndexAdd, B.zeros(shape, grad), dim, index, g), None, None, None


def unfold(input: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """``Tensor.unfold``: every window of ``size`` elements along ``dimension``, ``step`` apart,
    as a new last dim (that dim's size becomes the number of windows); a view, as torch's."""
    x = input if input._data.ndim else input.reshape(1)
    d = normalize_dim(dimension, x._data.ndim, "unfold")
    n = x._data.shape[d]
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    out = make_view(Unfold.apply(x, d, size, step), x, lambda a: _windows_view(a, d, size, step))
    if input._data.ndim == 0:  # torch gives a 0-d tensor's one window as shape (size,)
        return reshape(out, (size,))
    return out


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


# ---------------------------------------------------------------------------- stacking helpers, *_copy, scatters, strided views
def _atleast_3d(t: Tensor) -> Tensor:
    nd = t._data.ndim
    if nd == 0:
        return reshape(t, (1, 1, 1))
    if nd == 1:
        return reshape(t, (1, t._data.shape[0], 1))
    if nd == 2:
        return unsqueeze(t, 2)
    return t


def atleast_3d(*tensors):
    """Views with at least three dims: (N,) -> (1, N, 1), (M, N) -> (M, N, 1), as torch."""
    return _each(_atleast_3d, tensors)


def _nonempty_list(tensors, op: str) -> list:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError(f"{op} expects a non-empty TensorList")
    return tensors


def column_stack(tensors, *, out=None) -> Tensor:
    """0-d and 1-d tensors become columns (n, 1); everything is concatenated along dim 1."""
    tensors = _nonempty_list(tensors, "column_stack")
    cols = [reshape(t, (t._data.size, 1)) if t._data.ndim <= 1 else t for t in tensors]
    return cat(cols, 1, out=out)


def dstack(tensors, *, out=None) -> Tensor:
    """``atleast_3d`` of each tensor, concatenated along dim 2."""
    tensors = _nonempty_list(tensors, "dstack")
    return cat([_atleast_3d(t) for t in tensors], 2, out=out)


def _copy_of(view: Tensor) -> Tensor:
    """A contiguous copy of ``view`` (the ``*_copy`` ops: the view op's result, not sharing memory)."""
    from .elementwise import Contiguous

    return Contiguous.apply(view)


def alias_copy(input: Tensor) -> Tensor:
    return _copy_of(input)


def diagonal_copy(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    return _copy_of(diagonal(input, offset, dim1, dim2))


def expand_copy(input: Tensor, size, *, implicit: bool = False) -> Tensor:
    return _copy_of(expand(input, tuple(size)))


def narrow_copy(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    if input._data.ndim and dim >= input._data.ndim:  # torch checks a too-large dim by assertion (a negative one: IndexError)
        raise RuntimeError(f"Expected dim < static_cast<int64_t>(self_sizes.size()) to be true, but got false. (dim {dim})")
    return _copy_of(narrow(input, dim, start, length))


def permute_copy(input: Tensor, dims) -> Tensor:
    return _copy_of(permute(input, tuple(dims)))


def squeeze_copy(input: Tensor, dim=None) -> Tensor:
    return _copy_of(squeeze(input, dim))


def t_copy(input: Tensor) -> Tensor:
    return _copy_of(t(input))


def transpose_copy(input: Tensor, dim0: int, dim1: int) -> Tensor:
    return _copy_of(transpose(input, dim0, dim1))


def unsqueeze_copy(input: Tensor, dim: int) -> Tensor:
    return _copy_of(unsqueeze(input, dim))


def unfold_copy(input: Tensor, dimension: int, size: int, step: int) -> Tensor:
    return _copy_of(unfold(input, dimension, size, step))


def view_copy(input: Tensor, *size) -> Tensor:
    """A copy in the shape ``view`` would give (any input layout: the copy needs no view)."""
    if len(size) == 1 and isinstance(size[0], _dtype.dtype):
        raise NotImplementedError("view_copy(dtype) is not supported")
    return _copy_of(reshape(input, *size))


def unbind_copy(input: Tensor, dim: int = 0) -> tuple:
    return tuple(_copy_of(v) for v in unbind(input, dim))


def split_with_sizes(input: Tensor, split_sizes, dim: int = 0) -> tuple:
    """Views of consecutive pieces of the given sizes along ``dim`` (they must sum to its size)."""
    if isinstance(split_sizes, int):
        raise TypeError("split_with_sizes(): argument 'split_sizes' must be tuple of ints, not int")
    d = normalize_dim(dim, input._data.ndim, "split_with_sizes")
    sizes = [int(s) for s in split_sizes]
    if any(s < 0 for s in sizes):
        raise RuntimeError(f"split_with_sizes expects split_sizes have only non-negative entries, but got split_sizes={sizes}")
    return split(input, sizes, d)


def split_with_sizes_copy(input: Tensor, split_sizes, dim: int = 0) -> tuple:
    return tuple(_copy_of(v) for v in split_with_sizes(input, split_sizes, dim))


def unsafe_split(input: Tensor, split_size, dim: int = 0) -> tuple:
    """``split`` (torch's variant skips view tracking; here the pieces are ordinary views)."""
    return split(input, split_size, dim)


def unsafe_chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:
    return chunk(input, chunks, dim)


def diagflat(input: Tensor, offset: int = 0) -> Tensor:
    """A square matrix with the flattened ``input`` on the ``offset``-th diagonal."""
    return diag(reshape(input, (-1,)), offset)


def _slice_index(dim: int, start, end, step: int, op: str) -> tuple:
    if step <= 0:
        raise RuntimeError(f"{op}(): slice step must be positive")
    return (builtins.slice(None),) * dim + (builtins.slice(start, end, step),)


def slice_tensor(input: Tensor, dim: int = 0, start=None, end=None, step: int = 1) -> Tensor:
    """aten's ``slice.Tensor``: ``input[..., start:end:step, ...]`` along ``dim`` (a view)."""
    if input._data.ndim == 0:
        raise RuntimeError("slice() cannot be applied to a 0-dim tensor.")
    d = normalize_dim(dim, input._data.ndim, "slice")
    return basic_index(input, _slice_index(d, start, end, int(step), "slice"))


def _scatter_into(input: Tensor, src: Tensor, index: tuple, op: str) -> Tensor:
    """``input`` with ``input[index]`` replaced by ``src`` (a copy; gradient to both)."""
    from .indexing import setitem

    if not isinstance(src, Tensor):
        raise TypeError(f"{op}(): argument 'src' must be Tensor, not {type(src).__name__}")
    region = input._data[index]
    if tuple(region.shape) != src._data.shape:
        raise RuntimeError(
            f"{op}: Expected src to have a size equal to the slice of self. src size = {shape_str(src._data.shape)}, "
            f"slice size = {shape_str(region.shape)}"
        )
    out = input.clone()
    setitem(out, index, src)
    return out


def slice_scatter(input: Tensor, src: Tensor, dim: int = 0, start=None, end=None, step: int = 1) -> Tensor:
    """``input`` with ``src`` embedded at ``input[..., start:end:step, ...]`` along ``dim``."""
    d = normalize_dim(dim, builtins.max(input._data.ndim, 1), "slice_scatter")
    index = _slice_index(d, start, end, int(step), "slice_scatter")
    return _scatter_into(input, src, index, "slice_scatter")


def select_scatter(input: Tensor, src: Tensor, dim: int, index: int) -> Tensor:
    """``input`` with ``src`` embedded at index ``index`` of dim ``dim``."""
    d = normalize_dim(dim, input._data.ndim, "select_scatter")
    size = input._data.shape[d]
    i = int(index)
    if i < -size or i >= size:
        raise IndexError(f"select(): index {i} out of range for tensor of size {shape_str(input._data.shape)} at dimension {d}")
    return _scatter_into(input, src, (builtins.slice(None),) * d + (i,), "select_scatter")


class _DiagonalInto(Function):
    """``input`` with a diagonal replaced by ``src``."""

    @staticmethod
    def forward(ctx, a, src, offset, dim1, dim2):
        ctx.args = (offset, dim1, dim2)
        xp = array_module(a._data)
        out = a._data.copy()
        moved = xp.moveaxis(out, (dim1, dim2), (-2, -1))
        i = xp.arange(src._data.shape[-1])
        moved[..., i + builtins.max(-offset, 0), i + builtins.max(offset, 0)] = src._data
        return out

    @staticmethod
    def backward(ctx, grad):
        need = ctx.needs_input_grad
        on_diag = B.call(Diagonal, grad, *ctx.args)
        ga = grad - B.call(DiagonalScatter, on_diag, ctx.input_shape(0), *ctx.args) if need[0] else None
        return ga, (on_diag if need[1] else None), None, None, None


def diagonal_scatter(input: Tensor, src: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """``input`` with its ``diagonal(offset, dim1, dim2)`` replaced by ``src``."""
    nd = input._data.ndim
    d1, d2 = normalize_dim(dim1, nd, "diagonal_scatter"), normalize_dim(dim2, nd, "diagonal_scatter")
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    expected = array_module(input._data).diagonal(input._data, int(offset), d1, d2).shape
    if tuple(expected) != src._data.shape:
        raise RuntimeError(
            f"diagonal_scatter: Expected src to have a size equal to the slice of self. src size = "
            f"{shape_str(src._data.shape)}, slice size = {shape_str(expected)}"
        )
    if src._data.dtype != input._data.dtype:
        src = cast_to(src, input.dtype)
    return _DiagonalInto.apply(input, src, int(offset), d1, d2)


# -- as_strided: a view into the tensor's storage (the contiguous array its base owns)
def _storage_of(input: Tensor):
    """(flat storage array, ``input``'s offset in it, the tensor owning it) when ``input``'s
    memory lies in a contiguous base array; else (None, 0, None): the op then works on a copy."""
    root = input._base if input._base is not None else input
    arr = root._data
    if not arr.flags.c_contiguous:
        return None, 0, None
    item = arr.itemsize
    offset = (input.data_ptr() - root.data_ptr()) // item if arr.size else 0
    return arr.reshape(-1), offset, root


def _strided_positions(xp, size: tuple, stride: tuple, offset: int):
    """Flat storage positions of every element of a (size, stride, offset) view."""
    pos = xp.full(size, offset, dtype=numpy.int64)
    for d, (n, s) in enumerate(zip(size, stride)):
        shape = [1] * len(size)
        shape[d] = n
        pos = pos + (xp.arange(n, dtype=numpy.int64) * s).reshape(shape)
    return pos


def _check_strided(size: tuple, stride: tuple, offset: int, storage_size: int, op: str) -> None:
    if len(size) != len(stride):
        raise RuntimeError("mismatch in length of strides and shape")
    if any(s < 0 for s in stride):
        raise RuntimeError(f"{op}: Negative strides are not supported at the moment, got strides: {list(stride)}")
    if offset < 0:
        raise RuntimeError(f"Tensor: invalid storage offset {offset}")
    if any(n < 0 for n in size):
        raise RuntimeError(f"Trying to create tensor with negative dimension: {list(size)}")
    numel = 1
    for n in size:
        numel *= n
    need = 0 if numel == 0 else offset + 1 + builtins.sum((n - 1) * s for n, s in zip(size, stride))
    if need > storage_size:
        raise RuntimeError(
            f"setStorage: sizes {list(size)}, strides {list(stride)}, storage offset {offset}, and itemsize requiring a "
            f"storage size of {need} are out of bounds for storage of size {storage_size}"
        )


def _strided_array(flat, size: tuple, stride: tuple, offset: int):
    """The (size, stride) view of 1-d array ``flat`` starting at ``offset`` (no copy)."""
    xp = array_module(flat)
    item = flat.itemsize
    start = flat[offset:] if offset < flat.size else flat[:0]
    if start.size == 0:
        return xp.zeros(size, dtype=flat.dtype)
    return xp.lib.stride_tricks.as_strided(start, shape=size, strides=tuple(s * item for s in stride))


class AsStrided(Function):
    """A (size, stride, offset) view of the input's storage; the gradient adds each output
    element back into the storage position it came from, then reads the input's own elements."""

    @staticmethod
    def forward(ctx, a, flat, size, stride, offset, input_geometry):
        ctx.geometry = (flat.size, size, stride, offset, input_geometry)
        return _strided_array(flat, size, stride, offset)

    @staticmethod
    def backward(ctx, grad):
        from .indexing import index_add, index_select

        n, size, stride, offset, (in_shape, in_stride, in_offset) = ctx.geometry
        arrays = B.is_array(grad)
        g = _make(grad) if arrays else grad
        xp = array_module(g._data)
        out_pos = _make(_strided_positions(xp, size, stride, offset).reshape(-1))
        in_pos = _make(_strided_positions(xp, in_shape, in_stride, in_offset).reshape(-1))
        storage = index_add(B.zeros((n,), g), 0, out_pos, g.reshape(-1))
        gi = index_select(storage, 0, in_pos).reshape(in_shape)
        return (gi._data if arrays else gi), None, None, None, None, None


def as_strided(input: Tensor, size, stride, storage_offset=None) -> Tensor:
    """A view with the given sizes and (element) strides into ``input``'s storage, from
    ``storage_offset`` (default: ``input``'s own offset). Overlapping views are allowed; their
    gradient sums over every output element that reads a storage position."""
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    flat, own_offset, root = _storage_of(input)
    if flat is None:  # memory not in one contiguous array: the view reads a contiguous copy
        flat, own_offset = array_module(input._data).ascontiguousarray(input._data).reshape(-1), 0
    offset = own_offset if storage_offset is None else int(storage_offset)
    _check_strided(size, stride, offset, flat.size, "as_strided")
    in_geometry = (input._data.shape, input.stride(), own_offset)
    out = AsStrided.apply(input, flat, size, stride, offset, in_geometry)
    if root is None:
        return out
    out._version_counter = root._version_counter
    out._base = root
    out._view_fn = lambda arr: _strided_array(arr.reshape(-1), size, stride, offset)
    out._view_version = out._version_counter[0]
    return out


def as_strided_copy(input: Tensor, size, stride, storage_offset=None) -> Tensor:
    return _copy_of(as_strided(input, size, stride, storage_offset))


class AsStridedScatter(Function):
    """A contiguous copy of ``a`` with the (size, stride, offset) positions of its storage set to ``src``."""

    @staticmethod
    def forward(ctx, a, src, positions):
        ctx.positions = positions
        out = array_module(a._data).array(a._data, order="C")
        out.reshape(-1)[positions] = src._data
        return out

    @staticmethod
    def backward(ctx, grad):
        from .indexing import ZeroAtIndex

        need = ctx.needs_input_grad
        flat = grad.reshape(-1)
        ga = B.call(ZeroAtIndex, flat, ctx.positions).reshape(ctx.input_shape(0)) if need[0] else None
        gs = flat[_make(ctx.positions)] if need[1] else None
        return ga, gs, None


def as_strided_scatter(input: Tensor, src: Tensor, size, stride, storage_offset=None) -> Tensor:
    """``input`` (as a contiguous copy) with ``src`` written through its ``as_strided(size, stride,
    storage_offset)`` view."""
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    offset = 0 if storage_offset is None else int(storage_offset)
    _check_strided(size, stride, offset, input._data.size, "as_strided_scatter")
    if src._data.shape != size:
        raise RuntimeError(
            f"expected src to have a size equal to the slice of self. src size = {shape_str(src._data.shape)}, slice "
            f"size = {shape_str(size)}"
        )
    positions = _strided_positions(array_module(input._data), size, stride, offset)
    if src._data.dtype != input._data.dtype:
        src = cast_to(src, input.dtype)
    return AsStridedScatter.apply(input, src, positions)


def resized(input: Tensor, size) -> Tensor:
    """The array ``resize_`` gives ``input``: its elements, flat, in the new shape (cut, or
    extended with zeros where torch leaves memory uninitialized)."""
    size = parse_size((size,) if isinstance(size, int) else tuple(size), "resize_")
    if any(s < 0 for s in size):
        raise RuntimeError(f"Trying to create tensor with negative dimension {builtins.min(size)}: {list(size)}")
    n = 1
    for s in size:
        n *= s
    arr = input._data
    if n == arr.size:
        return reshape(input, size)
    xp = array_module(arr)
    flat = xp.zeros(n, dtype=arr.dtype)
    k = builtins.min(n, arr.size)
    flat[:k] = arr.reshape(-1)[:k]
    return _make(flat.reshape(size))


def _chunk_cat(tensors, dim: int, num_chunks: int, *, out=None) -> Tensor:
    """Each tensor split into ``num_chunks`` chunks along ``dim`` (zero-padded to a multiple),
    each chunk flattened past ``dim``; chunk ``i`` of all tensors concatenated: shape
    ``(*lead, num_chunks, total)``."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("_chunk_cat expects a non-empty input tensor list")
    if num_chunks < 1:
        raise RuntimeError("_chunk_cat expects positive num_chunks")
    nd = tensors[0]._data.ndim
    if nd == 0:
        raise RuntimeError("_chunk_cat expects non-scalar input tensors")
    d = normalize_dim(dim, nd, "_chunk_cat")
    lead = tensors[0]._data.shape[:d]
    dtype = functools.reduce(_dtype.promote_types, (t.dtype for t in tensors))
    pieces = []
    for t in tensors:
        if t._data.size == 0:
            raise RuntimeError("_chunk_cat expects non-empty tensor")
        if t._data.ndim <= d:
            raise RuntimeError("_chunk_cat expects tensors with more than dim dimensions")
        if t._data.shape[:d] != lead:
            raise RuntimeError("_chunk_cat expects same sizes of 0,...,dim-1 dimensions for all tensors")
        n = t._data.shape[d]
        step = -(-n // num_chunks)
        pad = step * num_chunks - n
        t = cast_to(t, dtype)
        if pad:
            from .._creation import zeros

            extra = zeros(*(t._data.shape[:d] + (pad,) + t._data.shape[d + 1 :]), dtype=dtype, device=t.device)
            t = cat([t, extra], d)
        pieces.append(reshape(t, lead + (num_chunks, -1)))
    return cat(pieces, d + 1, out=out)


def combinations(input: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    """The length-``r`` combinations of the elements of 1-d ``input`` (as ``itertools``), one per
    row: shape (count, r); differentiable (the rows are gathered from ``input``)."""
    import itertools

    from .indexing import index_select

    if input._data.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(input._data.shape)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return basic_index(input, (builtins.slice(0, 0),))
    n = input._data.shape[0]
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    rows = numpy.asarray(list(pick(range(n), r)), dtype=numpy.int64).reshape(-1, r)
    index = backend_of(input._data).asarray(rows.reshape(-1), index=input.device.index)
    return reshape(index_select(input, 0, _make(index)), (rows.shape[0], r))
