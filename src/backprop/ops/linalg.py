"""Linear algebra: matmul (every 1-D/2-D/batched/broadcast case), mm, bmm, mv, dot, outer, einsum.

Backward passes are matmuls/einsums themselves, so they stay on BLAS and are differentiable.
"""

from __future__ import annotations

import math
import string
import warnings

from .. import _dtype
from .._autocast import autocast_op
from .._backend import array_module, is_array
from .._tensor import Tensor, shape_str
from ..autograd.function import Function
from . import _backward as B
from . import sparse as _sparse
from ._utils import broadcast_shapes, in_float32, number_operand, promote_operands, unbroadcast
from .inplace import write_out


def _dims_str(shape) -> str:
    return "x".join(str(s) for s in shape)


def matmul_arrays(a, b):
    """``a @ b``; a batch of rows times one matrix is one 2-D GEMM rather than NumPy's
    loop of small per-batch GEMMs (about 3x faster for transformer-sized activations)."""
    if a.ndim > 2 and b.ndim == 2:
        return (a.reshape(math.prod(a.shape[:-1]), a.shape[-1]) @ b).reshape(a.shape[:-1] + (b.shape[-1],))
    return array_module(a).matmul(a, b)


def _mm(a, b):
    """``a @ b`` for the backward formulas: arrays take ``matmul_arrays``, Tensors the op."""
    if is_array(a) and is_array(b):
        return matmul_arrays(a, b)
    return a @ b


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return matmul_arrays(a._data, b._data)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need = ctx.needs_input_grad
        a_shape, b_shape = a.shape, b.shape
        # Promote 1-D operands to matrices (as matmul does), then undo it at the end.
        a2 = B.unsqueeze(a, 0) if a.ndim == 1 else a
        b2 = B.unsqueeze(b, -1) if b.ndim == 1 else b
        g = grad
        if b.ndim == 1:
            g = B.unsqueeze(g, -1)
        if a.ndim == 1:
            g = B.unsqueeze(g, -2)
        ga = gb = None
        if need[0]:
            if b2.ndim == 2 and a2.ndim > 2:
                ga = _mm(g, B.matrix_transpose(b2))
            else:
                ga = unbroadcast(g @ B.matrix_transpose(b2), tuple(a2.shape))
            ga = ga.reshape(a_shape)
        if need[1]:
            if b2.ndim == 2 and a2.ndim > 2:
                # (..., n, k)^T @ (..., n, m) summed over the batch = one GEMM on flattened rows.
                k, rows = a2.shape[-1], math.prod(a2.shape[:-1])
                gb = B.matrix_transpose(a2.reshape(rows, k)) @ g.reshape(rows, g.shape[-1])
            else:
                gb = unbroadcast(B.matrix_transpose(a2) @ g, tuple(b2.shape))
            gb = gb.reshape(b_shape)
        return ga, gb


B.holomorphic(MatMul)  # complex inputs: grad @ conj(b)^T, conj(a)^T @ grad


class _MatMulBF16(MatMul):
    """bfloat16 operands: NumPy's matmul of ml_dtypes' bfloat16 gives float32; rounded back, as torch."""

    @staticmethod
    def forward(ctx, a, b):
        return MatMul.forward(ctx, a, b).astype(a._data.dtype)


_MATMUL_VARIANTS = {"c": MatMul._complex, "V": _MatMulBF16}


@autocast_op("matmul")
def matmul(input: Tensor, other: Tensor, *, out=None) -> Tensor:
    """torch.matmul: dot, matrix-vector, matrix-matrix and broadcast batched products."""
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError(f"matmul(): argument 'other' must be Tensor, not {type(other).__name__}")
    a, b = input, other
    if a._sparse_layout or b._sparse_layout:  # a sparse COO operand (ops/sparse.py)
        return _sparse.matmul(a, b)
    if a._data.ndim == 0 or b._data.ndim == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {a._data.ndim}D and {b._data.ndim}D"
        )
    dt = a._data.dtype
    if dt is not b._data.dtype and dt != b._data.dtype:  # (identity first: the common case, cheaply)
        raise RuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {a.dtype} != {b.dtype}"
        )
    k_a = a._data.shape[-1]
    k_b = b._data.shape[-2] if b._data.ndim > 1 else b._data.shape[0]
    if k_a != k_b:
        if a._data.ndim == 1 and b._data.ndim == 1:
            raise RuntimeError(
                f"inconsistent tensor size, expected tensor [{k_a}] and src [{k_b}] to have the same number of elements, but got {k_a} and {k_b} elements respectively"
            )
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({_dims_str(_as_matrix(a._data.shape))} and "
            f"{_dims_str(_as_matrix(b._data.shape, False))}) in matmul of {shape_str(a._data.shape)} and {shape_str(b._data.shape)}"
        )
    try:
        kind = dt.kind  # float: MatMul; complex and bfloat16 have their own variants
        result = (MatMul if kind == "f" else _MATMUL_VARIANTS.get(kind, MatMul)).apply(a, b)
    except ValueError:
        raise RuntimeError(
            f"matmul(): batch dimensions of {shape_str(a._data.shape)} and {shape_str(b._data.shape)} cannot be broadcast"
        ) from None
    return write_out(result, out, "matmul")


def _as_matrix(shape, left: bool = True) -> tuple:
    if len(shape) == 1:
        return (1, shape[0]) if left else (shape[0], 1)
    return (math.prod(shape[:-1]), shape[-1]) if left else tuple(shape[-2:])


@autocast_op("mm")
def mm(input: Tensor, mat2: Tensor) -> Tensor:
    if input._sparse_layout or mat2._sparse_layout:  # a sparse COO operand (ops/sparse.py)
        return _sparse.mm(input, mat2)
    if input._data.ndim != 2:
        raise RuntimeError(f"self must be a matrix, got {input._data.ndim}-D tensor of shape {shape_str(input._data.shape)}")
    if mat2._data.ndim != 2:
        raise RuntimeError(f"mat2 must be a matrix, got {mat2._data.ndim}-D tensor of shape {shape_str(mat2._data.shape)}")
    if input._data.shape[1] != mat2._data.shape[0]:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({_dims_str(input._data.shape)} and {_dims_str(mat2._data.shape)})"
        )
    return matmul(input, mat2)


@autocast_op("bmm")
def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    if input._data.ndim != 3:
        raise RuntimeError(f"batch1 must be a 3D tensor, got shape {shape_str(input._data.shape)}")
    if mat2._data.ndim != 3:
        raise RuntimeError(f"batch2 must be a 3D tensor, got shape {shape_str(mat2._data.shape)}")
    b, n, k = input._data.shape
    if mat2._data.shape[0] != b or mat2._data.shape[1] != k:
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{b}, {k}] but got: "
            f"[{mat2._data.shape[0]}, {mat2._data.shape[1]}]."
        )
    return matmul(input, mat2)


@autocast_op("mv")
def mv(input: Tensor, vec: Tensor) -> Tensor:
    if input._data.ndim != 2 or vec._data.ndim != 1:
        raise RuntimeError(
            f"vector + matrix @ vector expected, got {input._data.ndim}, {vec._data.ndim}D tensors"
        )
    return matmul(input, vec)


@autocast_op("dot")
def dot(input: Tensor, other: Tensor) -> Tensor:
    if input._data.ndim != 1 or other._data.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input._data.ndim}D and {other._data.ndim}D tensors")
    return matmul(input, other)


def inner(input: Tensor, other: Tensor, *, out=None) -> Tensor:
    """Sum of products over the last dims: shape ``input.shape[:-1] + other.shape[:-1]``; a 0-d
    operand scales the other."""
    if input._data.ndim == 0 or other._data.ndim == 0:
        from .elementwise import mul

        result = mul(input, other)
    else:
        if input._data.shape[-1] != other._data.shape[-1]:
            raise RuntimeError(
                f"inner() the last dimension must match on both input tensors but got shapes {shape_str(input._data.shape)} "
                f"and {shape_str(other._data.shape)}"
            )
        if input._data.dtype != other._data.dtype:
            raise RuntimeError(f"expected scalar type {input.dtype} but found {other.dtype}")
        result = tensordot(input, other, ([-1], [-1]))
    return write_out(result, out, "inner")


@autocast_op("vdot")
def vdot(input: Tensor, other: Tensor) -> Tensor:
    """The dot product with the first vector conjugated (``dot`` for real vectors)."""
    if input._data.ndim != 1 or other._data.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input._data.ndim}D and {other._data.ndim}D tensors")
    if input._data.dtype.kind == "c":
        from .complex_ops import conj

        input = conj(input)
    return matmul(input, other)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    if input._data.ndim != 1 or vec2._data.ndim != 1:
        raise RuntimeError(f"outer: expected 1D tensors, got {input._data.ndim}D and {vec2._data.ndim}D")
    a, b = promote_operands(input, vec2, "outer")
    return a.unsqueeze(1) * b.unsqueeze(0)


ger = outer


def _integral_scalars(prod: Tensor, alpha, beta) -> tuple:
    """With integer tensors torch casts ``alpha``/``beta`` to the integer dtype (truncating)."""
    if prod._data.dtype.kind in "iu":
        return int(alpha), int(beta)
    return alpha, beta


@autocast_op("addmm")
def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta=1, alpha=1) -> Tensor:
    if mat1._data.dtype.kind == "V":  # bfloat16: beta * input + alpha * product in float32, rounded once, as torch
        return in_float32(addmm, input, mat1, mat2, beta=beta, alpha=alpha)
    prod = mm(mat1, mat2)
    alpha, beta = _integral_scalars(prod, alpha, beta)
    if alpha != 1:
        prod = prod * alpha
    return prod + (input if beta == 1 else input * beta)


@autocast_op("baddbmm")
def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:
    if batch1._data.dtype.kind == "V":  # bfloat16: beta * input + alpha * product in float32, rounded once, as torch
        return in_float32(baddbmm, input, batch1, batch2, beta=beta, alpha=alpha)
    prod = bmm(batch1, batch2)
    alpha, beta = _integral_scalars(prod, alpha, beta)
    if alpha != 1:
        prod = prod * alpha
    return prod + (input if beta == 1 else input * beta)


@autocast_op("addmv")
def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta=1, alpha=1) -> Tensor:
    if mat._data.dtype.kind == "V":  # bfloat16: beta * input + alpha * product in float32, rounded once, as torch
        return in_float32(addmv, input, mat, vec, beta=beta, alpha=alpha)
    prod = mv(mat, vec)
    alpha, beta = _integral_scalars(prod, alpha, beta)
    if alpha != 1:
        prod = prod * alpha
    return prod + (input if beta == 1 else input * beta)


@autocast_op("addbmm")
def addbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1, out=None) -> Tensor:
    """``beta * input + alpha * sum_b batch1[b] @ batch2[b]`` (``input`` broadcasts; ignored when beta is 0)."""
    if batch1._data.dtype.kind == "V" and batch1._data.shape[0] and out is None:
        # bfloat16: torch adds one product at a time (an addmm each, rounded to bfloat16)
        result = addmm(input, batch1[0], batch2[0], beta=beta, alpha=alpha)
        for b in range(1, batch1._data.shape[0]):
            result = addmm(result, batch1[b], batch2[b], alpha=alpha)
        return result
    prod = bmm(batch1, batch2).sum(0)
    target = _dtype.result_type(input, prod)
    if target is not _dtype.bool_ and not target.is_floating_point and not target.is_complex:
        beta, alpha = int(beta), int(alpha)  # torch truncates the scalars of an integral addbmm
    return _scaled_sum(input, prod, beta, alpha, out, "addbmm")


@autocast_op("addr")
def addr(input: Tensor, vec1: Tensor, vec2: Tensor, *, beta=1, alpha=1, out=None) -> Tensor:
    """``beta * input + alpha * outer(vec1, vec2)`` (``input`` broadcasts; ignored when beta is 0)."""
    if vec1._data.ndim != 1 or vec2._data.ndim != 1:
        raise RuntimeError(f"addr: Expected 1-D argument vec1, but got {vec1._data.ndim}-D" if vec1._data.ndim != 1
                           else f"addr: Expected 1-D argument vec2, but got {vec2._data.ndim}-D")
    if vec1._data.dtype.kind == "V" and out is None:
        if isinstance(input, Tensor) and input._data.dtype == vec1._data.dtype == vec2._data.dtype:
            # bfloat16: torch's kernel works in bfloat16 arithmetic, its scalars rounded to bfloat16:
            # beta * input + (alpha * vec1) * vec2, each step rounded
            from .elementwise import add, mul

            bf = vec1.dtype
            prod = mul(mul(vec1, number_operand(alpha, bf, vec1)).unsqueeze(1), vec2.unsqueeze(0))
            if beta == 0:
                return prod.expand(broadcast_shapes(input._data.shape, prod._data.shape, op="addr")).clone()
            return add(mul(input, number_operand(beta, bf, input)), prod)
        return in_float32(addr, input, vec1, vec2, beta=beta, alpha=alpha)
    return _scaled_sum(input, outer(vec1, vec2), beta, alpha, out, "addr")


def _scaled_sum(input: Tensor, prod: Tensor, beta, alpha, out, op: str) -> Tensor:
    """``beta * input + alpha * prod`` in the promoted dtype; bool tensors take bool scalars (and/or)."""
    from .elementwise import logical_or

    target = _dtype.result_type(input, prod)
    if target is _dtype.bool_:
        if isinstance(beta, float) or isinstance(alpha, float):
            raise RuntimeError("Boolean beta only supported for Boolean results.")
        result = prod if alpha else prod ^ prod
        if beta:
            result = logical_or(input.expand(prod.shape), result)
    else:
        if not target.is_floating_point and not target.is_complex and (isinstance(beta, float) or isinstance(alpha, float)):
            raise RuntimeError("For integral input tensors, argument beta must not be a floating point number.")
        prod = prod if prod.dtype is target else prod.to(target)
        result = prod * alpha if alpha != 1 else prod
        if beta != 0:
            inp = input if input.dtype is target else input.to(target)
            result = result + (inp if beta == 1 else inp * beta)
    return write_out(result, out, op)


# ---------------------------------------------------------------------------- einsum
def _parse_einsum(equation: str, shapes: list) -> tuple:
    """Explicit subscripts per operand and for the output, with '...' expanded to letters."""
    eq = equation.replace(" ", "")
    if "->" in eq:
        lhs, rhs = eq.split("->")
    else:
        lhs, rhs = eq, None
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise RuntimeError(f"einsum(): {len(terms)} operand subscripts given for {len(shapes)} operands")
    used = set(eq) - set(",.->")
    spare = [c for c in string.ascii_letters if c not in used]
    ell_ndim = 0
    for term, shape in zip(terms, shapes):
        if "..." in term:
            ell_ndim = max(ell_ndim, len(shape) - (len(term) - 3))
    ell = "".join(spare[:ell_ndim])
    explicit = []
    for term, shape in zip(terms, shapes):
        if "..." in term:
            n = len(shape) - (len(term) - 3)
            term = term.replace("...", ell[ell_ndim - n :] if n else "")
        if len(term) != len(shape):
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({len(term)}) does not match the number of "
                f"dimensions ({len(shape)}) for operand {len(explicit)}"
            )
        explicit.append(term)
    if rhs is None:
        counts = {}
        for term in explicit:
            for c in term:
                counts[c] = counts.get(c, 0) + 1
        rhs = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    else:
        rhs = rhs.replace("...", ell)
    return explicit, rhs


class Einsum(Function):
    _array_backward = False  # its backward is built from einsum calls on Tensors

    @staticmethod
    def forward(ctx, equation, *operands):
        arrays = [o._data for o in operands]
        terms, out = _parse_einsum(equation, [a.shape for a in arrays])
        ctx.terms = terms
        ctx.out = out
        ctx.save_for_backward(*operands)
        return array_module(arrays[0]).einsum(",".join(terms) + "->" + out, *arrays, optimize=len(arrays) > 2)

    @staticmethod
    def backward(ctx, grad):
        operands = ctx.saved_tensors
        grads = [None]
        for i, term in enumerate(ctx.terms):
            if not ctx.needs_input_grad[i + 1]:
                grads.append(None)
                continue
            others = [o for j, o in enumerate(operands) if j != i]
            other_terms = [t for j, t in enumerate(ctx.terms) if j != i]
            grads.append(_einsum_operand_grad(grad, ctx.out, others, other_terms, term, operands[i].shape))
        return tuple(grads)


B.holomorphic(Einsum)


def _einsum_operand_grad(grad, out_term, others, other_terms, term, shape):
    """d(einsum)/d(operand with subscripts ``term``): another einsum, then broadcasting and diagonals."""
    available = set(out_term).union(*map(set, other_terms)) if other_terms else set(out_term)
    # Letters repeated inside ``term`` (diagonals) are produced once, then spread with an identity.
    unique = "".join(dict.fromkeys(term))
    produced = "".join(c for c in unique if c in available)
    g = einsum(",".join([out_term] + other_terms) + "->" + produced, grad, *others)
    # Letters only in this operand were summed out in forward: their gradient is broadcast.
    sizes = dict(zip(term, shape))
    if len(produced) != len(unique):
        view_shape = [sizes[c] if c in produced else 1 for c in unique]
        g = g.reshape(view_shape).expand([sizes[c] for c in unique])
    if len(unique) != len(term):
        letters = set(string.ascii_letters) - set(term)
        spare = iter(sorted(letters))
        target = []
        eyes = []
        seen = set()
        for c in term:
            if c in seen:
                new = next(spare)
                target.append(new)
                eyes.append((c, new))
            else:
                seen.add(c)
                target.append(c)
        from .._creation import eye

        eye_ops = [eye(sizes[c], dtype=g.dtype, device=g.device) for c, _ in eyes]
        g = einsum(",".join([unique] + [c + n for c, n in eyes]) + "->" + "".join(target), g, *eye_ops)
    return g


@autocast_op("einsum")
def einsum(equation: str, *operands) -> Tensor:
    """torch.einsum (explicit or implicit output, '...' broadcasting, repeated subscripts)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    target = _dtype.result_type(*operands) if len({o._data.dtype for o in operands}) > 1 else operands[0].dtype
    operands = tuple(o if o.dtype is target else o.to(target) for o in operands)
    if operands and operands[0]._data.dtype.kind == "V":  # bfloat16: NumPy's einsum has none; float32, rounded back
        return einsum(equation, *[o.float() for o in operands]).to(target)
    try:
        return (Einsum if operands[0]._data.dtype.kind != "c" else Einsum._complex).apply(equation, *operands)
    except ValueError as exc:
        raise RuntimeError(
            f"einsum(): operands do not match the equation '{equation}': {exc} (shapes "
            f"{', '.join(shape_str(o._data.shape) for o in operands)})"
        ) from None


@autocast_op("tensordot")
def tensordot(a: Tensor, b: Tensor, dims=2) -> Tensor:
    letters = iter(string.ascii_lowercase)
    ta = [next(letters) for _ in range(a._data.ndim)]
    tb = [next(letters) for _ in range(b._data.ndim)]
    if isinstance(dims, int):
        pairs = list(zip(range(a._data.ndim - dims, a._data.ndim), range(dims)))
    else:
        da, db = dims
        da = [da] if isinstance(da, int) else list(da)
        db = [db] if isinstance(db, int) else list(db)
        if len(da) != len(db):
            raise RuntimeError(f"both dimension lists should have same length, got {len(da)} and {len(db)}")
        pairs = [(i % a._data.ndim if a._data.ndim else i, j % b._data.ndim if b._data.ndim else j) for i, j in zip(da, db)]
    for i, j in pairs:
        na, nb = a._data.shape[i], b._data.shape[j]
        if na != nb:  # torch broadcasts a contracted dim of size 1: sum the other side over it
            if na == 1:
                b = b.sum(j, keepdim=True)
            elif nb == 1:
                a = a.sum(i, keepdim=True)
            else:
                raise RuntimeError(
                    f"contracted dimensions need to match, but first has size {na} in dim {i} and second has size {nb} in dim {j}"
                )
        tb[j] = ta[i]
    contracted = {ta[i] for i, _ in pairs}
    out = [c for c in ta if c not in contracted] + [c for c in tb if c not in contracted]
    return einsum("".join(ta) + "," + "".join(tb) + "->" + "".join(out), a, b)


@autocast_op("cross")
def cross(input: Tensor, other: Tensor, dim=None) -> Tensor:
    """Cross product of 3-vectors along ``dim`` (inputs broadcast). Without ``dim``, torch.cross
    takes the first dim of size 3; ``linalg.cross`` defaults to the last."""
    from .elementwise import mul, sub
    from .movement import broadcast_tensors, select, stack

    a, b = promote_operands(input, other, "cross")
    if a._data.ndim != b._data.ndim:
        raise RuntimeError(
            f"linalg.cross: inputs must have the same number of dimensions (got {shape_str(a._data.shape)} and "
            f"{shape_str(b._data.shape)})"
        )
    if dim is not None:
        nd = a._data.ndim
        if not -nd <= dim < nd:
            raise IndexError(f"Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], but got {dim})")
        sa, sb = a._data.shape[dim], b._data.shape[dim]
        if sa != 3 or sb != 3:
            raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got {sa} and {sb}")
    a, b = broadcast_tensors(a, b)
    shape = a._data.shape
    if dim is None:
        dim = next((i for i, s in enumerate(shape) if s == 3), None)
        if dim is None:
            raise RuntimeError(f"no dimension of size 3 in input: {shape_str(shape)}")
    d = dim + len(shape) if dim < 0 else dim
    if not 0 <= d < len(shape) or shape[d] != 3:
        raise RuntimeError(
            f"linalg.cross: inputs dimension {dim} must have length 3. Got {shape[d] if 0 <= d < len(shape) else 0} "
            f"and {shape[d] if 0 <= d < len(shape) else 0}"
        )
    a0, a1, a2 = (select(a, d, i) for i in range(3))
    b0, b1, b2 = (select(b, d, i) for i in range(3))
    return stack([sub(mul(a1, b2), mul(a2, b1)), sub(mul(a2, b0), mul(a0, b2)), sub(mul(a0, b1), mul(a1, b0))], d)


@autocast_op("cdist")
def cdist(x1: Tensor, x2: Tensor, p: float = 2.0, compute_mode=None) -> Tensor:
    """p-norm distances between each row of ``x1`` (..., P, M) and of ``x2`` (..., R, M): (..., P, R).
    Batch dims broadcast. The difference tensor (..., P, R, M) is materialized."""
    from .elementwise import sub
    from .reduction import vector_norm

    for name, x in (("X1", x1), ("X2", x2)):
        if x._data.ndim < 2:
            raise RuntimeError(f"cdist only supports at least 2D tensors, {name} got: {x._data.ndim}D")
    if x1._data.shape[-1] != x2._data.shape[-1]:
        raise RuntimeError(
            f"X1 and X2 must have the same number of columns. X1: {x1._data.shape[-1]} X2: {x2._data.shape[-1]}"
        )
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    if not _dtype.is_float_array(x1._data) or not _dtype.is_float_array(x2._data):
        raise RuntimeError(f"cdist only supports floating-point dtypes, X1 got: {x1.dtype}")
    diff = sub(x1.unsqueeze(-2), x2.unsqueeze(-3))
    return vector_norm(diff, p, -1)


def cov(input: Tensor, *, correction: int = 1, fweights: Tensor | None = None, aweights: Tensor | None = None) -> Tensor:
    """Covariance of the variables in the rows of ``input`` (observations in columns; a 1-D
    input is one variable), with optional integer frequency and float observation weights."""
    from .elementwise import div, mul, sub
    from .reduction import sum as sum_

    if input._data.ndim > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an input with {input._data.ndim} dimensions")
    x = input.reshape(1, -1) if input._data.ndim < 2 else input
    if x._data.dtype.kind not in "fcV":
        x = x.to(_dtype.get_default_dtype())
    n_obs = x._data.shape[1]
    w = None
    if fweights is not None:
        if fweights._data.dtype.kind not in "iu":
            raise RuntimeError("cov(): expected fweights to have integral dtype")
        if (fweights._data < 0).any():
            raise RuntimeError("cov(): fweights cannot be negative")
        w = fweights
    if aweights is not None:
        if not _dtype.is_float_array(aweights._data):
            raise RuntimeError("cov(): expected aweights to have floating point dtype")
        if (aweights._data < 0).any():
            raise RuntimeError("cov(): aweights cannot be negative")
        w = aweights if w is None else mul(w, aweights)
    for name, wt in (("fweights", fweights), ("aweights", aweights)):
        if wt is not None and (wt._data.ndim != 1 or wt._data.shape[0] != n_obs):
            raise RuntimeError(f"cov(): expected {name} to have one dimension and {n_obs} elements but got shape {shape_str(wt._data.shape)}")
    if w is None:
        w_sum = float(n_obs)
        avg = sum_(x, 1, keepdim=True) / max(n_obs, 1)
        norm = w_sum - correction
    else:
        # Weight sums stay in the weights' dtype (as torch's) and the normalizer stays a Tensor:
        # it depends on the weights, so it carries their gradient.
        w_sum_t = sum_(w)
        avg = div(sum_(mul(x, w), 1, keepdim=True), w_sum_t)
        if correction == 0:
            norm_t = w_sum_t
        elif aweights is None:
            norm_t = sub(w_sum_t, correction)
        else:
            norm_t = sub(w_sum_t, div(mul(sum_(mul(w, aweights)), correction), w_sum_t))
        norm = float(norm_t.item())
    centered = sub(x, avg)
    weighted = centered if w is None else mul(centered, w)
    out = matmul(weighted, B.conj(centered).mT)  # conj: no-op for real input
    if norm <= 0:
        warnings.warn(
            "cov(): degrees of freedom is <= 0. Correction should be strictly less than the number of observations.",
            UserWarning,
            stacklevel=2,
        )
        return mul(out, float("inf")).squeeze() if x._data.shape[0] == 1 else mul(out, float("inf"))
    out = div(out, norm if w is None else norm_t)
    return out.squeeze() if input._data.ndim < 2 or x._data.shape[0] == 1 else out


def corrcoef(input: Tensor) -> Tensor:
    """Pearson correlation coefficients of the rows of ``input`` (clipped to [-1, 1]; complex
    ones have their real and imaginary parts clipped)."""
    from .complex_ops import complex as complex_
    from .complex_ops import imag, real
    from .elementwise import clamp, div, sqrt
    from .movement import diagonal

    c = cov(input)
    if c._data.ndim == 0:
        return div(c, c)
    d = diagonal(c)
    complex_input = c._data.dtype.kind == "c"
    std = sqrt(real(d) if complex_input else d)
    c = div(div(c, std.unsqueeze(1)), std.unsqueeze(0))
    if complex_input:
        return complex_(clamp(real(c), -1, 1), clamp(imag(c), -1, 1))
    return clamp(c, -1, 1)
