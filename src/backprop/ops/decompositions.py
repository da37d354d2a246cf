"""Matrix decompositions and solvers: the primitives of ``backprop.linalg`` with their gradients.

Every factorization comes from the array library (``xp.linalg``: NumPy or CuPy) or from SciPy
(``backend_of(a).scipy("linalg")``: SciPy on the CPU, ``cupyx.scipy`` on CUDA); nothing here
factorizes a matrix by hand. Each primitive is a ``Function`` whose backward is written with
backprop ops on Tensors (``_array_backward = False``), so ``create_graph=True`` differentiates
the same formula again. Everything else (``lu_solve``, ``cholesky_solve``, ``matrix_power``,
``cond``, ``householder_product``...) is composed from these primitives and needs no backward.

The gradient conventions are torch's: Cholesky and ``eigh`` give the symmetric gradient (their
input is taken as symmetric), ``solve_triangular`` reads (and differentiates) one triangle,
``svd`` with ``full_matrices=True`` differentiates through the first ``min(m, n)`` vectors.
Complex inputs (complex64/complex128) follow torch's conjugate-Wirtinger convention: the same
formulas with conjugate transposes (``_H``; a plain transpose for real tensors), real singular
values, eigenvalues and log|det|, and a differentiable complex ``slogdet`` sign.
"""

from __future__ import annotations

import math
import warnings
from collections import namedtuple

import numpy

from .. import _dtype
from .._autocast import autocast_op
from .._backend import CPU, array_module, backend_of
from .._tensor import Tensor, _make, shape_str
from ..autograd.function import Function
from ..autograd.grad_mode import _state as grad_state
from . import _backward as B
from . import complex_ops as cx
from . import elementwise as ew
from . import movement as mv
from . import reduction as red
from ._utils import in_float32
from .inplace import write_out
from .linalg import matmul

__all__ = ["LinAlgError"]


class LinAlgError(RuntimeError):
    """A matrix the operation cannot handle (singular, not positive-definite): torch's
    ``torch.linalg.LinAlgError``, a RuntimeError."""


# Named results, as ``torch.return_types``.
linalg_slogdet = namedtuple("linalg_slogdet", ["sign", "logabsdet"])
slogdet_result = namedtuple("slogdet", ["sign", "logabsdet"])
linalg_eigh = namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])
linalg_eig = namedtuple("linalg_eig", ["eigenvalues", "eigenvectors"])
linalg_qr = namedtuple("linalg_qr", ["Q", "R"])
qr_result = namedtuple("qr", ["Q", "R"])
linalg_svd = namedtuple("linalg_svd", ["U", "S", "Vh"])
svd_result = namedtuple("svd", ["U", "S", "V"])
linalg_cholesky_ex = namedtuple("linalg_cholesky_ex", ["L", "info"])
linalg_inv_ex = namedtuple("linalg_inv_ex", ["inverse", "info"])
linalg_solve_ex = namedtuple("linalg_solve_ex", ["result", "info"])
linalg_lu = namedtuple("linalg_lu", ["P", "L", "U"])
lu_unpack_result = namedtuple("lu_unpack", ["P", "L", "U"])
linalg_lu_factor = namedtuple("linalg_lu_factor", ["LU", "pivots"])
linalg_lu_factor_ex = namedtuple("linalg_lu_factor_ex", ["LU", "pivots", "info"])
linalg_ldl_factor = namedtuple("linalg_ldl_factor", ["LD", "pivots"])
linalg_ldl_factor_ex = namedtuple("linalg_ldl_factor_ex", ["LD", "pivots", "info"])
linalg_lstsq = namedtuple("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])
triangular_solve_result = namedtuple("triangular_solve", ["solution", "cloned_coefficient"])
geqrf_result = namedtuple("geqrf", ["a", "tau"])


# ---------------------------------------------------------------------------- checks and helpers
def _type_name(t: Tensor) -> str:
    return ew._TORCH_TYPE_NAMES.get(t._data.dtype.name, t._data.dtype.name)


def check_matrix(A, op: str, name: str = "A", square: bool = True, floating: bool = True) -> None:
    """torch's argument checks of a linalg function: a Tensor of floats with >= 2 dims (square)."""
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(A).__name__}")
    if A._data.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor {name} must have at least 2 dimensions.")
    if square and A._data.shape[-1] != A._data.shape[-2]:
        raise RuntimeError(
            f"{op}: {name} must be batches of square matrices, but they are {A._data.shape[-2]} by "
            f"{A._data.shape[-1]} matrices"
        )
    if floating and A._data.dtype.kind not in "fc":
        raise RuntimeError(f"{op}: Expected a floating point or complex tensor as input. Got {_type_name(A)}")


def _same_dtype(op: str, A: Tensor, B: Tensor, names=("A", "B")) -> None:
    if A._data.dtype != B._data.dtype:
        raise RuntimeError(
            f"{op}: Expected {names[0]} and {names[1]} to have the same dtype, but found {names[0]} of type "
            f"{_type_name(A)} and {names[1]} of type {_type_name(B)} instead."
        )


def _batch_broadcast(op: str, *shapes) -> tuple:
    try:
        return tuple(numpy.broadcast_shapes(*shapes))
    except ValueError:
        raise RuntimeError(
            f"{op}: the batch dimensions of the inputs cannot be broadcast: "
            + " and ".join(shape_str(s) for s in shapes)
        ) from None


def _expand_batch(t: Tensor, batch: tuple) -> Tensor:
    shape = batch + tuple(t._data.shape[-2:])
    return t if tuple(t._data.shape) == shape else t.expand(shape)


def _scipy_linalg(arr):
    return backend_of(arr).scipy("linalg")


def _per_matrix(arr, fn, *others, batched: bool = True):
    """``fn`` on each matrix of ``arr`` (and of ``others``, same batch shape). SciPy's linalg
    takes whole batches (``batched``) on the CPU; cupyx.scipy and the LAPACK wrappers take
    one matrix, so there it runs matrix by matrix and the results are stacked."""
    batch = arr.shape[:-2]
    count = math.prod(batch)
    if not batch or (batched and backend_of(arr) is CPU and count):
        return fn(arr, *others)
    xp = array_module(arr)
    flat = [a.reshape((count,) + a.shape[len(batch):]) for a in (arr,) + others]
    if count == 0:  # run once on an identity-like matrix for the result shapes and dtypes
        probe = fn(*(xp.eye(a.shape[1], a.shape[2], dtype=a.dtype) if a.ndim == 3 else xp.ones(a.shape[1:], a.dtype)
                     for a in flat))
        probes = probe if isinstance(probe, tuple) else (probe,)
        outs = tuple(xp.zeros(batch + p.shape, dtype=p.dtype) for p in probes)
        return outs if isinstance(probe, tuple) else outs[0]
    results = [fn(*(a[i] for a in flat)) for i in range(count)]
    if isinstance(results[0], tuple):
        return tuple(xp.stack([r[j] for r in results]).reshape(batch + results[0][j].shape) for j in range(len(results[0])))
    return xp.stack(results).reshape(batch + results[0].shape)


def _batch_prefix(batch: tuple, index: int | None) -> str:
    if not batch or index is None:
        return ""
    return f"(Batch element {index}): "


def _singular_message(op: str, arr) -> str:
    """torch's message for a singular input: the first zero pivot of its LU factorization."""
    batch = arr.shape[:-2]
    host = backend_of(arr).to_host(arr).reshape((-1,) + arr.shape[-2:])
    for index, mat in enumerate(host):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lu, _ = CPU.scipy("linalg").lu_factor(mat, check_finite=False)
        zero = numpy.flatnonzero(numpy.diagonal(lu) == 0)
        if zero.size:
            where = _batch_prefix(batch, index)
            return (f"{op}: {where}The diagonal element {int(zero[0]) + 1} is zero, the inversion could not be "
                    "completed because the input matrix is singular.")
    return f"{op}: The input matrix is singular."


def _not_pd_message(op: str, arr) -> str:
    batch = arr.shape[:-2]
    host = backend_of(arr).to_host(arr).reshape((-1,) + arr.shape[-2:])
    for index, mat in enumerate(host):
        order = _failing_minor(mat)
        if order:
            return (f"{op}: {_batch_prefix(batch, index)}The factorization could not be completed because the input "
                    f"is not positive-definite (the leading minor of order {order} is not positive-definite).")
    return f"{op}: The factorization could not be completed because the input is not positive-definite."


def _failing_minor(mat) -> int:
    """Order of the first leading minor of host matrix ``mat`` that is not positive-definite (0: none)."""
    xp = array_module(mat)
    for k in range(1, mat.shape[-1] + 1):
        try:
            xp.linalg.cholesky(mat[:k, :k])
        except numpy.linalg.LinAlgError:
            return k
    return 0


def _H(t: Tensor) -> Tensor:
    """The conjugate transpose ``t.mH`` (just ``t.mT`` for real tensors: no conjugation node)."""
    return B.conj(t.mT)


def _real_dtype(dt):
    """The real dtype of a (complex) NumPy dtype: complex64 -> float32."""
    return numpy.dtype(dt).type(0).real.dtype


def _has_nonfinite(arr) -> bool:
    return not bool(array_module(arr).isfinite(arr).all())


# ---------------------------------------------------------------------------- inverse and solve
class Inv(Function):
    _array_backward = False

    @staticmethod
    def forward(ctx, A, op="linalg.inv"):
        arr = A._data
        xp = array_module(arr)
        if arr.shape[-1] == 0:
            out = xp.zeros(arr.shape, dtype=arr.dtype)
        else:
            try:
                out = xp.linalg.inv(arr)
            except numpy.linalg.LinAlgError:
                raise LinAlgError(_singular_message(op, arr)) from None
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (X,) = ctx.saved_tensors
        Xh = _H(X)
        return -(Xh @ g @ Xh), None


@autocast_op("inv")
def inv(A: Tensor, *, out=None) -> Tensor:
    """Inverse of (a batch of) square matrices; singular ones raise ``LinAlgError``."""
    check_matrix(A, "linalg.inv")
    return write_out(Inv.apply(A), out, "inv")


class Solve(Function):
    """``X`` with ``A X = B`` for matrices ``B`` (batch shapes already equal)."""

    _array_backward = False

    @staticmethod
    def forward(ctx, A, B, op="linalg.solve"):
        a, b = A._data, B._data
        xp = array_module(a)
        if a.shape[-1] == 0 or b.shape[-1] == 0:
            out = xp.zeros(b.shape, dtype=b.dtype)
        else:
            try:
                out = xp.linalg.solve(a, b)
            except numpy.linalg.LinAlgError:
                raise LinAlgError(f"torch.{op}: The solver failed because the input matrix is singular.") from None
        ctx.save_for_backward(A, out)
        return out

    @staticmethod
    def backward(ctx, g):
        A, X = ctx.saved_tensors
        gB = Solve.apply(_H(A), g)
        gA = -(gB @ _H(X)) if ctx.needs_input_grad[0] else None
        return gA, gB, None


def _solve_is_vector(A: Tensor, B: Tensor) -> bool:
    return B._data.ndim == 1 or (B._data.ndim == A._data.ndim - 1 and tuple(B._data.shape) == tuple(A._data.shape[:-1]))


@autocast_op("solve")
def solve(A: Tensor, B: Tensor, *, left: bool = True, out=None) -> Tensor:
    """``X`` with ``A X = B`` (``X A = B`` for ``left=False``); B a vector or matrices, batches broadcast."""
    return write_out(_solve(A, B, left, "linalg.solve"), out, "solve")


def _solve(A: Tensor, B: Tensor, left: bool, op: str) -> Tensor:
    check_matrix(A, op)
    if not isinstance(B, Tensor):
        raise TypeError(f"linalg.solve(): argument 'B' must be Tensor, not {type(B).__name__}")
    _same_dtype(op, A, B)
    vector = _solve_is_vector(A, B)
    if not left and vector:
        raise RuntimeError("linalg.solve: Vector broadcasting of the left hand side is not supported for left=False. "
                           "In this case linalg.solve is equivalent to B / A.squeeze(-1)")
    Bm = B.unsqueeze(-1) if vector else B
    if Bm._data.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor B must have at least 2 dimensions.")
    n = A._data.shape[-1]
    if left and Bm._data.shape[-2] != n or not left and Bm._data.shape[-1] != n:
        raise RuntimeError(
            f"{op}: Incompatible shapes of A and B for the equation {'AX = B' if left else 'XA = B'} "
            f"({_dims(A)} and {_dims(Bm)})"
        )
    if not left:
        return _solve(A.mT, Bm.mT, True, op).mT
    batch = _batch_broadcast(op, tuple(A._data.shape[:-2]), tuple(Bm._data.shape[:-2]))
    X = Solve.apply(_expand_batch(A, batch), _expand_batch(Bm, batch), op)
    return X.squeeze(-1) if vector else X


def _dims(t: Tensor) -> str:
    return "x".join(str(s) for s in t._data.shape[-2:])


def solve_ex(A: Tensor, B: Tensor, *, left: bool = True, check_errors: bool = False, out=None):
    """``solve`` and an int32 ``info`` per matrix (0: success; k: the k-th pivot is zero)."""
    op = "linalg.solve_ex"
    check_matrix(A, op)
    info = _lu_info(A)
    singular = info._data != 0
    if check_errors or not bool(singular.any()):
        return write_out(linalg_solve_ex(_solve(A, B, left, op), info), out, "solve_ex")
    # the solution for a singular matrix is unspecified (torch's is LAPACK's partial work): zero here
    xp = array_module(A._data)
    mask = _make(singular[..., None, None])
    safe = ew.where(mask, _make(xp.eye(A._data.shape[-1], dtype=A._data.dtype)), A)
    X = _solve(safe, B, left, op)
    zero_mask = mask if not _solve_is_vector(A, B) or not left else mask[..., 0]
    return write_out(linalg_solve_ex(ew.where(zero_mask, 0.0, X), info), out, "solve_ex")


def _lu_info(A: Tensor) -> Tensor:
    """LAPACK getrf's ``info`` of each matrix: 0, or the 1-based index of the first zero pivot of U."""
    arr = A._data
    xp = array_module(arr)
    if arr.shape[-1] == 0 or arr.shape[-2] == 0:
        return _make(xp.zeros(arr.shape[:-2], dtype=xp.int32))
    lu, _ = _lu_factor_arrays(arr)
    k = min(arr.shape[-2:])
    diag = xp.diagonal(lu[..., :k, :k], axis1=-2, axis2=-1)
    zero = diag == 0
    if backend_of(arr) is not CPU:  # cupyx's getrf leaves NaN (not 0) past a zero pivot
        zero = zero | ~xp.isfinite(diag)
    first = xp.argmax(zero, axis=-1) + 1
    return _make(xp.where(zero.any(axis=-1), first, 0).astype(xp.int32))


@autocast_op("inv_ex")
def inv_ex(A: Tensor, *, check_errors: bool = False, out=None):
    """``inv`` and an int32 ``info`` per matrix instead of raising (unless ``check_errors``).
    The inverse of a singular matrix is unspecified (torch returns LAPACK's partial work); here
    it is zero, and the others are inverted as usual."""
    check_matrix(A, "linalg.inv_ex")
    info = _lu_info(A)
    singular = info._data != 0
    if check_errors or not bool(singular.any()):
        return write_out(linalg_inv_ex(Inv.apply(A, "linalg.inv_ex"), info), out, "inv_ex")
    xp = array_module(A._data)
    eye = xp.eye(A._data.shape[-1], dtype=A._data.dtype)
    safe = ew.where(_make(singular[..., None, None]), _make(eye), A)
    inverse = ew.where(_make(singular[..., None, None]), 0.0, Inv.apply(safe, "linalg.inv_ex"))
    return write_out(linalg_inv_ex(inverse, info), out, "inv_ex")


# ---------------------------------------------------------------------------- triangular solves
class SolveTriangular(Function):
    """``A X = B`` (``X A = B`` for ``left=False``) reading one triangle of ``A``."""

    _array_backward = False

    @staticmethod
    def forward(ctx, A, B, upper, left, unitriangular):
        a, b = A._data, B._data
        xp = array_module(a)
        ctx.upper, ctx.left, ctx.unit = upper, left, unitriangular
        if a.shape[-1] == 0 or b.shape[-1] == 0 or b.shape[-2] == 0:
            out = xp.zeros(b.shape, dtype=b.dtype)
        else:
            sl = _scipy_linalg(a)
            if left:
                out = _per_matrix(a, lambda m, r: sl.solve_triangular(m, r, lower=not upper, unit_diagonal=unitriangular,
                                                                         check_finite=False), b)
            else:  # X A = B  <=>  A^T X^T = B^T
                at, bt = xp.swapaxes(a, -1, -2), xp.swapaxes(b, -1, -2)
                out = _per_matrix(at, lambda m, r: sl.solve_triangular(m, r, lower=upper, unit_diagonal=unitriangular,
                                                                          check_finite=False), bt)
                out = xp.swapaxes(out, -1, -2)
            out = xp.ascontiguousarray(out).astype(b.dtype, copy=False)
        ctx.save_for_backward(A, out)
        return out

    @staticmethod
    def backward(ctx, g):
        A, X = ctx.saved_tensors
        upper, left, unit = ctx.upper, ctx.left, ctx.unit
        gB = SolveTriangular.apply(_H(A), g, not upper, left, unit)
        gA = None
        if ctx.needs_input_grad[0]:
            gA = -(gB @ _H(X)) if left else -(_H(X) @ gB)
            k = 1 if unit else 0
            gA = mv.triu(gA, k) if upper else mv.tril(gA, -k)
        return gA, gB, None, None, None


def solve_triangular(A: Tensor, B: Tensor, *, upper: bool, left: bool = True, unitriangular: bool = False,
                     out=None) -> Tensor:
    """Solve a triangular system; only the ``upper`` (or lower) triangle of ``A`` is read."""
    op = "linalg.solve_triangular"
    check_matrix(A, op)
    check_matrix(B, op, "B", square=False)
    _same_dtype(op, A, B)
    n = A._data.shape[-1]
    if (B._data.shape[-2] if left else B._data.shape[-1]) != n:
        raise RuntimeError(
            f"{op}: Incompatible shapes of A and B for the equation {'AX = B' if left else 'XA = B'} "
            f"({_dims(A)} and {_dims(B)})"
        )
    batch = _batch_broadcast(op, tuple(A._data.shape[:-2]), tuple(B._data.shape[:-2]))
    X = SolveTriangular.apply(_expand_batch(A, batch), _expand_batch(B, batch), bool(upper), bool(left), bool(unitriangular))
    return write_out(X, out, "solve_triangular")


@autocast_op("triangular_solve")
def triangular_solve(b: Tensor, A: Tensor, upper: bool = True, transpose: bool = False, unitriangular: bool = False,
                     *, out=None):
    """torch.triangular_solve: ``(solution, cloned_coefficient)`` of ``op(A) X = b``."""
    op = "torch.triangular_solve"
    check_matrix(A, op, "A")
    check_matrix(b, op, "b", square=False)
    coef = A.mT if transpose else A
    X = solve_triangular(coef, b, upper=upper != bool(transpose), unitriangular=unitriangular)
    batch = tuple(X._data.shape[:-2])
    return write_out(triangular_solve_result(X, _expand_batch(A, batch).clone()), out, "triangular_solve")


# ---------------------------------------------------------------------------- determinants
class Det(Function):
    _array_backward = False

    @staticmethod
    def forward(ctx, A):
        arr = A._data
        out = array_module(arr).linalg.det(arr) if arr.shape[-1] else array_module(arr).ones(arr.shape[:-2], arr.dtype)
        out = array_module(arr).asarray(out, dtype=arr.dtype)
        ctx.save_for_backward(A, out)
        return out

    @staticmethod
    def backward(ctx, g):
        A, d = ctx.saved_tensors
        return g.unsqueeze(-1).unsqueeze(-1) * B.conj(_cofactor(A, d))  # det is holomorphic


def _cofactor(A: Tensor, d: Tensor) -> Tensor:
    """The cofactor matrix ``det(A) A^{-T}``, the gradient of ``det``. For a singular matrix
    (det exactly 0) torch's conventions are followed: a plain backward gives 0; a recorded one
    (``create_graph``) gives the true cofactor, from the SVD ``A = U S V^T`` as
    ``det(U) det(V) U diag(prod_{j!=i} s_j) V^T``."""
    n = A._data.shape[-1]
    if n == 0:
        return A * 0
    xp = array_module(A._data)
    singular = d._data == 0
    if not bool(singular.any()):
        return d.unsqueeze(-1).unsqueeze(-1) * Inv.apply(A).mT
    if not grad_state.enabled:
        eye = xp.eye(n, dtype=A._data.dtype)
        safe = _make(xp.where(singular[..., None, None], eye, A._data))
        return d.unsqueeze(-1).unsqueeze(-1) * Inv.apply(safe).mT  # d is 0 where singular
    U, S, Vh = SVD.apply(A, False)
    sign = _make(xp.asarray(xp.linalg.det(U._data) * xp.linalg.det(Vh._data), dtype=A._data.dtype))
    eye = _make(xp.eye(n, dtype=bool))
    others = red.prod(ew.where(eye, 1.0, _rows_of(S, n)), -1)
    # det(A) A^{-T} = det(U) det(Vh) conj(U) diag(others) conj(Vh)  (conj: no-op for real A)
    return sign.unsqueeze(-1).unsqueeze(-1) * ((B.conj(U) * others.unsqueeze(-2)) @ B.conj(Vh))


def _rows_of(S: Tensor, n: int) -> Tensor:
    """(..., n, n) with every row equal to ``S``."""
    return S.unsqueeze(-2).expand(tuple(S.shape[:-1]) + (n, n))


def det(A: Tensor, *, out=None) -> Tensor:
    """Determinant of (a batch of) square matrices."""
    check_matrix(A, "linalg.det")
    return write_out(Det.apply(A), out, "det")


class Slogdet(Function):
    _array_backward = False

    @staticmethod
    def forward(ctx, A):
        ctx.set_materialize_grads(False)
        arr = A._data
        xp = array_module(arr)
        real = _real_dtype(arr.dtype)
        if arr.shape[-1] == 0:
            sign, logabs = xp.ones(arr.shape[:-2], arr.dtype), xp.zeros(arr.shape[:-2], real)
        else:
            sign, logabs = xp.linalg.slogdet(arr)
        sign = xp.asarray(sign, dtype=arr.dtype)
        logabs = xp.asarray(logabs, dtype=real)
        ctx.save_for_backward(A, sign)
        if arr.dtype.kind != "c":  # a complex sign, det / |det|, is differentiable (its phase)
            ctx.mark_non_differentiable(sign)
        return sign, logabs

    @staticmethod
    def backward(ctx, g_sign, g_logabs):
        A, sign = ctx.saved_tensors
        if g_sign is not None and A._data.dtype.kind == "c":
            # d log det = tr(A^{-1} dA) = d logabs + i d(phase), sign = exp(i phase): the phase's
            # gradient is Im(g_sign conj(sign)), entering as the imaginary part of d log det's.
            phase = cx.imag(g_sign * B.conj(sign)) * 1j
            g_logabs = phase if g_logabs is None else g_logabs + phase
        if g_logabs is None:
            return None
        if A._data.shape[-1] == 0:
            return A * 0
        return g_logabs.unsqueeze(-1).unsqueeze(-1) * _H(Inv.apply(A))


def slogdet(A: Tensor, *, out=None):
    """``(sign, log|det|)`` of square matrices; the log-determinant is differentiable."""
    check_matrix(A, "linalg.slogdet")
    sign, logabs = Slogdet.apply(A)
    return write_out(linalg_slogdet(sign, logabs), out, "slogdet")


def torch_slogdet(input: Tensor):  # noqa: A002 - torch's name
    """torch.slogdet (named result ``slogdet``)."""
    check_matrix(input, "linalg.slogdet")
    sign, logabs = Slogdet.apply(input)
    return slogdet_result(sign, logabs)


def logdet(input: Tensor) -> Tensor:  # noqa: A002 - torch's name
    """log(det(A)): NaN for a negative determinant, -inf for a zero one."""
    check_matrix(input, "logdet")
    sign, logabs = Slogdet.apply(input)
    if sign._data.dtype.kind == "c":  # the complex log of det: log|det| + i phase (differentiable)
        return logabs + ew.log(sign)
    xp = array_module(sign._data)
    with backend_of(sign._data).errstate(divide="ignore", invalid="ignore"):
        shift = xp.log(sign._data)
    return logabs + _make(shift.astype(logabs._data.dtype))


# ---------------------------------------------------------------------------- Cholesky
class Cholesky(Function):
    _array_backward = False

    @staticmethod
    def forward(ctx, A, op="linalg.cholesky"):
        arr = A._data
        xp = array_module(arr)
        if arr.shape[-1] == 0:
            out = xp.zeros(arr.shape, arr.dtype)
        else:
            try:
                out = xp.linalg.cholesky(arr)
            except numpy.linalg.LinAlgError:
                raise LinAlgError(_not_pd_message(op, arr)) from None
            if backend_of(arr).checks_values and _has_nonfinite(out) and not _has_nonfinite(arr):
                raise LinAlgError(_not_pd_message(op, arr))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, gL):
        (L,) = ctx.saved_tensors
        if L._data.dtype.kind == "c":
            # A = L L^H: gA = L^{-H} phi L^{-1}, phi = (tril(M) + tril(M, -1)^H) / 2, M = L^H gL
            # (torch's formula; for real L it equals the symmetrized one below)
            M = _H(L) @ gL
            phi = (mv.tril(M) + _H(mv.tril(M, -1))) * 0.5
            gA = SolveTriangular.apply(_H(L), phi, True, True, False)
            return SolveTriangular.apply(L, gA, False, False, False), None
        # A = L L^T: gA = sym(L^{-T} phi(L^T gL) L^{-1}), phi = lower triangle with halved diagonal
        M = L.mT @ gL
        phi = mv.tril(M, -1) + mv.diag_embed(mv.diagonal(M, 0, -2, -1) * 0.5)
        gA = SolveTriangular.apply(L.mT, phi, True, True, False)
        gA = SolveTriangular.apply(L, gA, False, False, False)
        return (gA + gA.mT) * 0.5, None


@autocast_op("cholesky")
def cholesky(A: Tensor, *, upper: bool = False, out=None) -> Tensor:
    """Cholesky factor of symmetric positive-definite matrices (lower; ``upper`` gives L^T)."""
    check_matrix(A, "linalg.cholesky")
    L = Cholesky.apply(A)
    return write_out(_H(L) if upper else L, out, "cholesky")


@autocast_op("cholesky_ex")
def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool = False, out=None):
    """``cholesky`` and an int32 ``info`` per matrix (the order of the first leading minor that
    is not positive-definite, 0 on success) instead of raising."""
    check_matrix(A, "linalg.cholesky_ex")
    arr = A._data
    xp = array_module(arr)
    try:
        L = Cholesky.apply(A, "linalg.cholesky_ex")
        info = _make(xp.zeros(arr.shape[:-2], dtype=xp.int32))
    except LinAlgError:
        if check_errors:
            raise
        host = backend_of(arr).to_host(arr).reshape((-1,) + arr.shape[-2:])
        orders = numpy.array([_failing_minor(m) for m in host], dtype=numpy.int32).reshape(arr.shape[:-2])
        info = _make(backend_of(arr).asarray(orders))
        with backend_of(arr).errstate(invalid="ignore"):
            L = _make(xp.full(arr.shape, xp.nan, dtype=arr.dtype))
    return write_out(linalg_cholesky_ex(_H(L) if upper else L, info), out, "cholesky_ex")


@autocast_op("cholesky")
def torch_cholesky(input: Tensor, upper: bool = False, *, out=None) -> Tensor:  # noqa: A002
    """torch.cholesky (deprecated in torch in favour of ``linalg.cholesky``)."""
    check_matrix(input, "cholesky")
    return cholesky(input, upper=upper, out=out)


@autocast_op("cholesky_solve")
def cholesky_solve(B: Tensor, L: Tensor, upper: bool = False, *, out=None) -> Tensor:
    """``X`` with ``(L L^T) X = B`` for a Cholesky factor ``L`` (``U^T U`` if ``upper``)."""
    op = "cholesky_solve"
    check_matrix(L, op, "A")
    check_matrix(B, op, "B", square=False)
    _same_dtype(op, B, L, ("self", "A"))
    F = _H(L) if upper else L
    return write_out(solve(F @ _H(F), B), out, "cholesky_solve")


@autocast_op("cholesky_inverse")
def cholesky_inverse(L: Tensor, upper: bool = False, *, out=None) -> Tensor:
    """``(L L^T)^{-1}`` from a Cholesky factor (``(U^T U)^{-1}`` if ``upper``)."""
    check_matrix(L, "cholesky_inverse", "input")
    F = _H(L) if upper else L
    return write_out(inv(F @ _H(F)), out, "cholesky_inverse")


# ---------------------------------------------------------------------------- QR
class QR(Function):
    _array_backward = False

    @staticmethod
    def forward(ctx, A, mode):
        ctx.set_materialize_grads(False)
        arr = A._data
        xp = array_module(arr)
        m, n = arr.shape[-2:]
        ctx.mode = mode
        if m == 0 or n == 0:
            k = m if mode == "complete" else min(m, n)
            q = xp.broadcast_to(xp.eye(m, k, dtype=arr.dtype), arr.shape[:-2] + (m, k)).copy()
            r = xp.zeros(arr.shape[:-2] + (k, n), dtype=arr.dtype)
        else:
            q, r = xp.linalg.qr(arr, mode="complete" if mode == "complete" else "reduced")
        if mode == "r":
            q = xp.zeros((0,), dtype=arr.dtype)
        ctx.save_for_backward(A, q, r)
        return q, r

    @staticmethod
    def backward(ctx, gQ, gR):
        A, Q, R = ctx.saved_tensors
        m, n = A._data.shape[-2:]
        if ctx.mode == "r":
            raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed when mode='r'. "
                               "Please use linalg.qr(A, mode='reduced') if you are going to differentiate through "
                               "linalg.qr.")
        if ctx.mode == "complete" and m > n:
            raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
        gQ = Q * 0 if gQ is None else gQ
        gR = R * 0 if gR is None else gR
        return _qr_backward(Q, R, gQ, gR, m, n), None


def _copyltu(M: Tensor) -> Tensor:
    """``tril(M, -1) + tril(M, -1)^H + Re(diag(M))``."""
    low = mv.tril(M, -1)
    diag = mv.diagonal(M, 0, -2, -1)
    if M._data.dtype.kind == "c":
        diag = cx.real(diag)
    return low + _H(low) + mv.diag_embed(diag)


def _qr_backward(Q, R, gQ, gR, m, n):
    if m >= n:
        # A = QR (Q m x n): gA = (gQ + Q copyltu(M)) R^{-H}, M = R gR^H - gQ^H Q
        M = R @ _H(gR) - _H(gQ) @ Q
        b = gQ + Q @ _copyltu(M)
        return _right_solve_rt(R, b)
    # wide: A = Q [U | V]; X = A[:, :m] = Q U, Y = A[:, m:] = Q V
    U, V = R[..., :, :m], R[..., :, m:]
    gU, gV = gR[..., :, :m], gR[..., :, m:]
    Y = Q @ V
    gX = _qr_backward(Q, U, gQ + Y @ _H(gV), gU, m, m)
    gY = Q @ gV
    return mv.cat([gX, gY], -1)


def _right_solve_rt(R: Tensor, b: Tensor) -> Tensor:
    """``b R^{-H}`` for upper-triangular ``R``: ``X R^H = b``."""
    return SolveTriangular.apply(_H(R), b, False, False, False)


@autocast_op("qr")
def qr(A: Tensor, mode: str = "reduced", *, out=None):
    """QR decomposition (``mode``: 'reduced', 'complete', or 'r' for R alone)."""
    check_matrix(A, "linalg.qr", square=False)
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), 'r', or 'complete'")
    Q, R = QR.apply(A, mode)
    return write_out(linalg_qr(Q, R), out, "qr")


@autocast_op("qr")
def torch_qr(input: Tensor, some: bool = True, *, out=None):  # noqa: A002
    """torch.qr: ``some=False`` is linalg.qr's 'complete' mode."""
    Q, R = qr(input, "reduced" if some else "complete")
    return write_out(qr_result(Q, R), out, "qr")


@autocast_op("geqrf")
def geqrf(input: Tensor, *, out=None):  # noqa: A002
    """LAPACK's geqrf: R above the diagonal, the Householder vectors below, and ``tau``."""
    check_matrix(input, "geqrf", "input", square=False)
    arr = input._data
    xp = array_module(arr)
    m, n = arr.shape[-2:]
    if m == 0 or n == 0:
        h, tau = xp.zeros(arr.shape, arr.dtype), xp.zeros(arr.shape[:-2] + (min(m, n),), arr.dtype)
    else:
        h, tau = xp.linalg.qr(arr, mode="raw")
        h = xp.ascontiguousarray(xp.swapaxes(h, -1, -2)).astype(arr.dtype, copy=False)
        tau = tau.astype(arr.dtype, copy=False)
    return write_out(geqrf_result(_make(h), _make(tau)), out, "geqrf")


def _householder_full(A: Tensor, tau: Tensor, m: int) -> Tensor:
    """``H_1 H_2 ... H_k`` (m x m), ``H_i = I - tau_i v_i v_i^T``, ``v_i`` the i-th column of
    ``A`` below the diagonal with a unit i-th entry: a product of reflectors, differentiable."""
    k = tau._data.shape[-1]
    xp = array_module(A._data)
    Q = _make(xp.broadcast_to(xp.eye(m, dtype=A._data.dtype), tuple(A._data.shape[:-2]) + (m, m)))
    if k == 0:  # no reflector: the identity, still a function of the inputs (zero gradient) as torch's
        return Q + (red.sum(A) + red.sum(tau)) * 0
    V = mv.tril(A[..., :, :k], -1) + _make(xp.eye(m, k, dtype=A._data.dtype))
    for i in range(k):
        v = V[..., :, i : i + 1]
        Q = Q - (Q @ v) @ (_H(v) * tau[..., i : i + 1].unsqueeze(-1))
    return Q


@autocast_op("householder_product")
def householder_product(A: Tensor, tau: Tensor, *, out=None) -> Tensor:
    """The first n columns of the product of the Householder reflectors stored in ``A`` (m x n)."""
    op = "torch.linalg.householder_product"
    check_matrix(A, op, "input", square=False)
    m, n = A._data.shape[-2:]
    if m < n:
        raise RuntimeError(f"{op}: input.shape[-2] must be greater than or equal to input.shape[-1]")
    if tau._data.shape[-1] > n:
        raise RuntimeError(f"{op}: input.shape[-1] must be greater than or equal to tau.shape[-1]")
    if tau._data.ndim != A._data.ndim - 1 or tuple(tau._data.shape[:-1]) != tuple(A._data.shape[:-2]):
        raise RuntimeError(f"{op}: Expected batch dimensions of tau to be equal to input.shape[:-2], but got "
                           f"{shape_str(tau._data.shape[:-1])}")
    _same_dtype(op, A, tau, ("input", "tau"))
    return write_out(_householder_full(A, tau, m)[..., :, :n], out, "householder_product")


@autocast_op("ormqr")
def ormqr(input: Tensor, input2: Tensor, input3: Tensor, left: bool = True, transpose: bool = False, *,  # noqa: A002
          out=None) -> Tensor:
    """``op(Q) C`` (or ``C op(Q)``) for the Q of a geqrf result ``(input, input2 = tau)``."""
    op = "torch.ormqr"
    A, tau, C = input, input2, input3
    if A._data.ndim < 2:
        raise RuntimeError(f"{op}: input must have at least 2 dimensions.")
    if C._data.ndim < 2:
        raise RuntimeError(f"{op}: other must have at least 2 dimensions.")
    side = C._data.shape[-2] if left else C._data.shape[-1]
    if A._data.shape[-2] != side:
        raise RuntimeError(f"{op}: input.shape[-2] must be equal to other.shape[{-2 if left else -1}]")
    if tau._data.shape[-1] > A._data.shape[-1]:
        raise RuntimeError(f"{op}: tau.shape[-1] must be less than or equal to input.shape[-1]")
    if tau._data.ndim != A._data.ndim - 1:
        raise RuntimeError(f"{op}: input.dim() must be equal to tau.dim() + 1")
    if A._data.ndim > 2:
        if tuple(tau._data.shape[:-1]) != tuple(A._data.shape[:-2]):
            raise RuntimeError(f"{op}: Expected batch dimensions of tau to be equal to input.shape[:-2]")
        if tuple(C._data.shape[:-2]) != tuple(A._data.shape[:-2]):
            raise RuntimeError(f"{op}: Expected batch dimensions of other to be equal to input.shape[:-2]")
    if C._data.ndim != A._data.ndim:
        raise RuntimeError(f"{op}: input.dim() must be equal to other.dim()")
    _same_dtype(op, A, tau, ("input", "tau"))
    _same_dtype(op, A, C, ("input", "other"))
    Q = _householder_full(A, tau, A._data.shape[-2])
    if transpose:  # the conjugate transpose, for complex Q
        Q = _H(Q)
    return write_out(Q @ C if left else C @ Q, out, "ormqr")


# ---------------------------------------------------------------------------- symmetric eigenproblem
class Eigh(Function):
    _array_backward = False

    @staticmethod
    def forward(ctx, A, uplo):
        ctx.set_materialize_grads(False)
        arr = A._data
        xp = array_module(arr)
        if arr.shape[-1] == 0:
            w, v = xp.zeros(arr.shape[:-1], arr.dtype), xp.zeros(arr.shape, arr.dtype)
        else:
            w, v = xp.linalg.eigh(arr, UPLO=uplo)
        w, v = w.astype(_real_dtype(arr.dtype), copy=False), v.astype(arr.dtype, copy=False)
        ctx.save_for_backward(w, v)
        return w, v

    @staticmethod
    def backward(ctx, gL, gV):
        L, V = ctx.saved_tensors
        n = L._data.shape[-1]
        xp = array_module(L._data)
        inner = mv.diag_embed(gL if gL is not None else L * 0)
        if V._data.dtype != inner._data.dtype:  # complex eigenvectors, real eigenvalues
            inner = inner.to(V.dtype)
        if gV is not None:
            VtgV = _H(V) @ gV
            skew = (VtgV - _H(VtgV)) * 0.5
            E = L.unsqueeze(-2) - L.unsqueeze(-1)  # E_ij = L_j - L_i
            E = ew.where(_make(xp.eye(n, dtype=bool)), 1.0, E)
            inner = inner + skew / E
        return V @ inner @ _H(V), None


def _check_uplo(UPLO: str) -> str:
    if UPLO not in ("L", "U", "l", "u"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    return UPLO.upper()


@autocast_op("eigh")
def eigh(A: Tensor, UPLO: str = "L", *, out=None):  # noqa: N803 - torch's name
    """Eigenvalues (ascending) and orthonormal eigenvectors of symmetric matrices (one triangle read)."""
    check_matrix(A, "linalg.eigh")
    w, v = Eigh.apply(A, _check_uplo(UPLO))
    return write_out(linalg_eigh(w, v), out, "eigh")


@autocast_op("eigvalsh")
def eigvalsh(A: Tensor, UPLO: str = "L", *, out=None) -> Tensor:  # noqa: N803
    """Eigenvalues (ascending) of symmetric matrices."""
    check_matrix(A, "linalg.eigvalsh")
    return write_out(Eigh.apply(A, _check_uplo(UPLO))[0], out, "eigvalsh")


class Eig(Function):
    """Eigenvalues and eigenvectors of general square matrices: complex, as torch returns them
    (eigenvectors of unit norm, LAPACK's geev). CuPy has no general eigensolver: on CUDA the
    decomposition runs on a host copy."""

    _array_backward = False

    @staticmethod
    def forward(ctx, A):
        ctx.set_materialize_grads(False)
        arr = A._data
        backend = backend_of(arr)
        complex_dtype = numpy.result_type(arr.dtype, numpy.complex64)
        ctx.real_input = arr.dtype.kind != "c"
        host = backend.to_host(arr)
        if host.shape[-1] == 0:
            w, v = numpy.zeros(host.shape[:-1], complex_dtype), numpy.zeros(host.shape, complex_dtype)
        else:
            w, v = numpy.linalg.eig(host)
        w = backend.asarray(numpy.ascontiguousarray(w.astype(complex_dtype, copy=False)))
        v = backend.asarray(numpy.ascontiguousarray(v.astype(complex_dtype, copy=False)))
        ctx.save_for_backward(w, v)
        return w, v

    @staticmethod
    def backward(ctx, gL, gV):
        # torch's formula: gA = V^-H (W / conj(E) + diag(gL)) V^H, with W = V^H gV minus the part
        # along each (unit-norm) eigenvector's own phase, E_ij = L_j - L_i.
        L, V = ctx.saved_tensors
        n = L._data.shape[-1]
        xp = array_module(L._data)
        Vh = _H(V)
        if gV is not None:
            VhgV = Vh @ gV
            along = B.real(mv.diagonal(VhgV, 0, -2, -1))
            inner = VhgV - Vh @ (V * along.unsqueeze(-2).to(V.dtype))
        else:
            inner = _make(xp.zeros(V._data.shape, V._data.dtype))
        if gL is not None:
            inner = inner + mv.diag_embed(gL)
        Lc = B.conj(L)
        E = Lc.unsqueeze(-2) - Lc.unsqueeze(-1)
        E = ew.where(_make(xp.eye(n, dtype=bool)), 1.0, E)
        gA = solve(Vh, (inner / E) @ Vh)
        return B.real(gA) if ctx.real_input else gA


@autocast_op("eig")
def eig(A: Tensor, *, out=None):
    """Eigenvalues and eigenvectors (complex) of general square matrices."""
    check_matrix(A, "linalg.eig")
    w, v = Eig.apply(A)
    return write_out(linalg_eig(w, v), out, "eig")


@autocast_op("eigvals")
def eigvals(A: Tensor, *, out=None) -> Tensor:
    """Eigenvalues (complex) of general square matrices."""
    check_matrix(A, "linalg.eigvals")
    return write_out(Eig.apply(A)[0], out, "eigvals")


# ---------------------------------------------------------------------------- SVD
class SVD(Function):
    _array_backward = False

    @staticmethod
    def forward(ctx, A, full_matrices):
        ctx.set_materialize_grads(False)
        arr = A._data
        xp = array_module(arr)
        m, n = arr.shape[-2:]
        k = min(m, n)
        if k == 0:
            batch = arr.shape[:-2]
            um, vn = (m, n) if full_matrices else (k, k)
            u = xp.broadcast_to(xp.eye(m, um, dtype=arr.dtype), batch + (m, um)).copy()
            vh = xp.broadcast_to(xp.eye(vn, n, dtype=arr.dtype), batch + (vn, n)).copy()
            s = xp.zeros(batch + (0,), _real_dtype(arr.dtype))
        else:
            u, s, vh = xp.linalg.svd(arr, full_matrices=full_matrices)
        u, vh = (x.astype(arr.dtype, copy=False) for x in (u, vh))
        s = s.astype(_real_dtype(arr.dtype), copy=False)
        ctx.save_for_backward(u, s, vh)
        return u, s, vh

    @staticmethod
    def backward(ctx, gU, gS, gVh):
        U, S, Vh = ctx.saved_tensors
        k = S._data.shape[-1]
        m, n = U._data.shape[-2], Vh._data.shape[-1]
        U, Vh = U[..., :, :k], Vh[..., :k, :]
        if gU is not None:
            gU = gU[..., :, :k]
        if gVh is not None:
            gVh = gVh[..., :k, :]
        inner = mv.diag_embed(gS) if gS is not None else None
        if inner is not None and U._data.dtype != inner._data.dtype:  # complex U, V; real S
            inner = inner.to(U.dtype)
        if gU is None and gVh is None:
            return U @ inner @ Vh if inner is not None else None, None
        xp = array_module(S._data)
        complex_ = U._data.dtype.kind == "c"
        eye = _make(xp.eye(k, dtype=bool))
        E = S.unsqueeze(-2) ** 2 - S.unsqueeze(-1) ** 2  # E_ij = s_j^2 - s_i^2
        E0 = ew.where(eye, 1.0, E)
        total = inner
        extra = None
        if gU is not None:
            UtgU = _H(U) @ gU
            # complex: the diagonal of the skew part, 2i Im(U^H gU)_ii, enters as i Im(U^H gU)_ii / s_i
            # (dividing by 2 s_i^2 before the product with s_i); real: that diagonal is 0
            EU = ew.where(eye, 2 * S.unsqueeze(-2) ** 2, E) if complex_ else E0
            term = (UtgU - _H(UtgU)) / EU * S.unsqueeze(-2)
            total = term if total is None else total + term
            if m > k:
                extra = (gU - U @ UtgU) / S.unsqueeze(-2) @ Vh
        V, gV = _H(Vh), (_H(gVh) if gVh is not None else None)
        if gV is not None:
            VtgV = _H(V) @ gV
            skew = VtgV - _H(VtgV)
            if complex_:  # the phase of a pair (u_i, v_i) is counted once, on the U side
                skew = ew.where(eye, 0.0, skew)
            term = S.unsqueeze(-1) * (skew / E0)
            total = term if total is None else total + term
            if n > k:
                term2 = U @ _H((gV - V @ VtgV) / S.unsqueeze(-2))
                extra = term2 if extra is None else extra + term2
        gA = U @ total @ Vh
        return (gA if extra is None else gA + extra), None


@autocast_op("svd")
def svd(A: Tensor, full_matrices: bool = True, *, driver=None, out=None):
    """``U, S, Vh`` with ``A = U diag(S) Vh``, singular values descending."""
    check_matrix(A, "linalg.svd", square=False)
    U, S, Vh = SVD.apply(A, bool(full_matrices))
    return write_out(linalg_svd(U, S, Vh), out, "svd")


@autocast_op("svdvals")
def svdvals(A: Tensor, *, driver=None, out=None) -> Tensor:
    """Singular values, descending."""
    check_matrix(A, "linalg.svdvals", square=False)
    return write_out(SVD.apply(A, False)[1], out, "svdvals")


@autocast_op("svd")
def torch_svd(input: Tensor, some: bool = True, compute_uv: bool = True, *, out=None):  # noqa: A002
    """torch.svd: ``U, S, V`` (V, not V^T); ``compute_uv=False`` gives zero-filled U and V."""
    check_matrix(input, "linalg.svd", square=False)
    if compute_uv:
        U, S, Vh = SVD.apply(input, not some)
        return write_out(svd_result(U, S, _H(Vh)), out, "svd")
    S = SVD.apply(input, False)[1]
    m, n = input._data.shape[-2:]
    xp = array_module(input._data)
    batch = tuple(input._data.shape[:-2])
    U = _make(xp.zeros(batch + (m, m), input._data.dtype))
    V = _make(xp.zeros(batch + (n, n), input._data.dtype))
    return write_out(svd_result(U, S, V), out, "svd")


# ---------------------------------------------------------------------------- pseudo-inverse, rank, lstsq
def _tolerances(A: Tensor, atol, rtol, smax: Tensor) -> Tensor:
    """torch's cutoff ``max(atol, rtol * sigma_max)``; with neither given, rtol is eps * max(m, n);
    with only atol > 0 given, rtol is 0."""
    xp = array_module(A._data)
    dt = _real_dtype(A._data.dtype)
    m, n = A._data.shape[-2:]

    def as_array(v):
        if v is None:
            return None
        return v._data.astype(dt, copy=False) if isinstance(v, Tensor) else xp.asarray(v, dtype=dt)

    a, r = as_array(atol), as_array(rtol)
    if r is None:
        if a is None:
            r = xp.asarray(numpy.finfo(dt).eps * max(m, n), dtype=dt)
        else:
            r = xp.where(a > 0, xp.asarray(0, dt), xp.asarray(numpy.finfo(dt).eps * max(m, n), dt))
    if a is None:
        a = xp.zeros((), dtype=dt)
    return _make(xp.maximum(a, r * smax._data))


class Pinv(Function):
    """The pseudo-inverse of ``A``, given as the array ``P`` the caller computed from the SVD,
    with the gradient of the pseudo-inverse at constant rank."""

    _array_backward = False

    @staticmethod
    def forward(ctx, A, P):
        ctx.save_for_backward(A, P)  # P, the output, is saved as such: differentiable again
        return P

    @staticmethod
    def backward(ctx, G):
        A, P = ctx.saved_tensors
        Gt, Ph = _H(G), _H(P)
        PPt = P @ Ph
        PtP = Ph @ P
        gA = -(Ph @ G @ Ph)
        gA = gA + (Gt @ PPt - A @ (P @ (Gt @ PPt)))
        gA = gA + (PtP @ Gt - ((PtP @ Gt) @ P) @ A)
        return gA, None


def pinv(A: Tensor, *, atol=None, rtol=None, hermitian: bool = False, out=None) -> Tensor:
    """Moore-Penrose pseudo-inverse; singular values below ``max(atol, rtol * sigma_max)`` are dropped."""
    check_matrix(A, "linalg.pinv", square=hermitian)
    arr = A._data
    xp = array_module(arr)
    m, n = arr.shape[-2:]
    if m == 0 or n == 0:
        return write_out(Pinv.apply(A, xp.zeros(arr.shape[:-2] + (n, m), arr.dtype)), out, "pinv")
    if hermitian:
        w, v = xp.linalg.eigh(arr)
        absw = xp.abs(w)
        cutoff = _tolerances(A, atol, rtol, _make(xp.max(absw, axis=-1)))._data
        keep = absw > cutoff[..., None]
        winv = xp.where(keep, 1 / xp.where(keep, w, 1), 0).astype(arr.dtype)
        P = (v * winv[..., None, :]) @ xp.conj(xp.swapaxes(v, -1, -2))
    else:
        u, s, vh = xp.linalg.svd(arr, full_matrices=False)
        cutoff = _tolerances(A, atol, rtol, _make(s[..., 0]))._data
        keep = s > cutoff[..., None]
        sinv = xp.where(keep, 1 / xp.where(keep, s, 1), 0).astype(arr.dtype)
        P = (xp.conj(xp.swapaxes(vh, -1, -2)) * sinv[..., None, :]) @ xp.conj(xp.swapaxes(u, -1, -2))
    return write_out(Pinv.apply(A, xp.ascontiguousarray(P.astype(arr.dtype, copy=False))), out, "pinv")


@autocast_op("pinverse")
def pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:  # noqa: A002
    """torch.pinverse: ``pinv`` with a relative cutoff ``rcond``."""
    return pinv(input, rtol=rcond)


@autocast_op("matrix_rank")
def matrix_rank(A: Tensor, tol=None, hermitian: bool = False, *, atol=None, rtol=None, out=None) -> Tensor:
    """Number of singular values (|eigenvalues| if ``hermitian``) above the cutoff, as int64."""
    check_matrix(A, "torch.linalg.matrix_rank", square=hermitian)
    arr = A._data
    xp = array_module(arr)
    if tol is not None:
        atol, rtol = tol, 0.0
    m, n = arr.shape[-2:]
    if m == 0 or n == 0:
        return write_out(_make(xp.zeros(arr.shape[:-2], dtype=xp.int64)), out, "matrix_rank")
    if hermitian:
        s = xp.abs(xp.linalg.eigvalsh(arr))
        smax = xp.max(s, axis=-1)
    else:
        s = xp.linalg.svd(arr, compute_uv=False)
        smax = s[..., 0]
    cutoff = _tolerances(A, atol, rtol, _make(smax))._data
    return write_out(_make((s > cutoff[..., None]).sum(axis=-1).astype(xp.int64)), out, "matrix_rank")


@autocast_op("lstsq")
def lstsq(A: Tensor, B: Tensor, rcond=None, *, driver=None):
    """Least-squares solutions of ``A X = B`` (torch's results: solution, residuals, rank,
    singular values, the last three as the CPU ``driver`` computes them). The solution is the
    minimum-norm one, ``pinv(A) B``, and is differentiated as such (torch's gradient)."""
    op = "torch.linalg.lstsq"
    if not isinstance(A, Tensor) or not isinstance(B, Tensor):
        raise TypeError(f"linalg.lstsq(): argument 'b' must be Tensor, not {type(B).__name__}")
    if A._data.ndim < 2:
        raise RuntimeError(f"{op}: input must have at least 2 dimensions.")
    if A._data.dtype.kind not in "fc":
        raise RuntimeError(f"{op}: Expected a floating point or complex tensor as input. Got {_type_name(A)}")
    _same_dtype(op, A, B, ("input", "b"))
    vector = B._data.ndim == A._data.ndim - 1
    if B._data.ndim < 1 or (not vector and B._data.ndim != A._data.ndim) and B._data.ndim < 2:
        raise RuntimeError(f"{op}: input.dim() must be greater or equal to other.dim() and (input.dim() - other.dim()) <= 1")
    if B._data.ndim > A._data.ndim or A._data.ndim - B._data.ndim > 1:
        raise RuntimeError(f"{op}: input.dim() must be greater or equal to other.dim() and (input.dim() - other.dim()) <= 1")
    Bm = B.unsqueeze(-1) if vector else B
    m, n = A._data.shape[-2:]
    if Bm._data.shape[-2] != m:
        raise RuntimeError(
            f"{op}: input.size(-2) should match other.size({-1 if vector else -2})")
    if driver is None:
        driver = "gelsy"
    if driver not in ("gels", "gelsy", "gelsd", "gelss"):
        raise RuntimeError(f"{op}: parameter `driver` should be one of (gels, gelsy, gelsd, gelss)")
    batch = _batch_broadcast(op, tuple(A._data.shape[:-2]), tuple(Bm._data.shape[:-2]))
    Ab, Bb = _expand_batch(A, batch), _expand_batch(Bm, batch)
    xp = array_module(A._data)
    dt = A._data.dtype
    rtol = rcond if rcond is not None and rcond > 0 else None
    X = pinv(Ab, rtol=rtol) @ Bb if driver != "gels" else pinv(Ab, rtol=0.0) @ Bb
    empty = _make(xp.zeros((0,), dtype=_real_dtype(dt)))
    if driver == "gels":
        rank = _make(xp.zeros((0,), dtype=xp.int64))
    else:
        rank = matrix_rank(Ab.detach(), rtol=rtol if rtol is not None else numpy.finfo(dt).eps * max(m, n))
    if driver in ("gelsd", "gelss"):
        sv = svdvals(Ab.detach())
    else:
        sv = empty
    # residuals: the drivers other than gelsy compute them for tall full-rank matrices
    full = m > n and driver != "gelsy" and (driver == "gels" or bool((rank._data == n).all()))
    if full:
        r = Ab @ X - Bb
        resid = red.sum((ew.abs(r) if r._data.dtype.kind == "c" else r) ** 2, -2)
        if vector:
            resid = resid.squeeze(-1) if resid._data.ndim else resid
    else:
        resid = X.reshape(-1)[:0]  # empty, but part of the graph as torch's
        if resid._data.dtype.kind == "c":
            resid = cx.real(resid)
    sol = X.squeeze(-1) if vector else X
    return linalg_lstsq(sol, resid, rank, sv)


# ---------------------------------------------------------------------------- LU
def _lu_factor_arrays(arr):
    """LAPACK getrf through SciPy: the packed LU and 0-based pivots (each matrix)."""
    sl = _scipy_linalg(arr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _per_matrix(arr, lambda a: sl.lu_factor(a, check_finite=False))


def _perm_from_pivots(piv, m: int):
    """The row permutation ``perm`` (``P^T A = A[perm]``) from 0-based getrf pivots."""
    xp = array_module(piv)
    batch = piv.shape[:-1]
    perm = xp.broadcast_to(xp.arange(m), batch + (m,)).copy()
    if perm.size == 0:
        return perm
    flat = perm.reshape(-1, m)
    pv = piv.reshape(-1, piv.shape[-1])
    rows = xp.arange(flat.shape[0])
    for i in range(pv.shape[-1]):
        j = pv[:, i]
        a, b = flat[rows, i].copy(), flat[rows, j].copy()
        flat[rows, i] = b
        flat[rows, j] = a
    return flat.reshape(batch + (m,))


def _perm_matrix(perm, dtype):
    """``P`` with ``P[perm[j], j] = 1`` (so ``A = P L U`` when ``A[perm] = L U``)."""
    xp = array_module(perm)
    m = perm.shape[-1]
    return (perm[..., :, None] == xp.arange(m)).swapaxes(-1, -2).astype(dtype)


class LU(Function):
    """``A = P L U`` (partial pivoting); ``P`` and the pivots are not differentiable."""

    _array_backward = False

    @staticmethod
    def forward(ctx, A, pivot):
        ctx.set_materialize_grads(False)
        arr = A._data
        xp = array_module(arr)
        m, n = arr.shape[-2:]
        k = min(m, n)
        batch = arr.shape[:-2]
        if not pivot:
            raise RuntimeError("linalg.lu_factor: LU without pivoting is not implemented on the CPU")
        if k == 0:
            lu = xp.zeros(arr.shape, arr.dtype)
            piv = xp.zeros(batch + (0,), xp.int64)
        else:
            lu, piv = _lu_factor_arrays(arr)
            lu = lu.astype(arr.dtype, copy=False)
        perm = _perm_from_pivots(piv, m)
        P = _perm_matrix(perm, arr.dtype)
        L = xp.tril(lu[..., :, :k], -1) + xp.eye(m, k, dtype=arr.dtype)
        U = xp.triu(lu[..., :k, :])
        ctx.save_for_backward(P, L, U)
        ctx.mark_non_differentiable(P)
        ctx.packed = lu
        ctx.pivots = (piv + 1).astype(xp.int32)
        return P, L, U

    @staticmethod
    def backward(ctx, gP, gL, gU):
        P, L, U = ctx.saved_tensors
        m, n = L._data.shape[-2], U._data.shape[-1]
        k = min(m, n)
        if gL is None:
            gL = L * 0
        if gU is None:
            gU = U * 0
        if m == n:
            return P @ _lu_square_grad(L, U, gL, gU), None
        if m < n:  # A = P L [U1 | U2]
            U1, U2 = U[..., :, :k], U[..., :, k:]
            gU1, gU2 = gU[..., :, :k], gU[..., :, k:]
            gA2 = SolveTriangular.apply(_H(L), gU2, True, True, True)  # L^{-H} gU2
            gL = gL - gA2 @ _H(U2)
            gA1 = _lu_square_grad(L, U1, gL, gU1)
            return P @ mv.cat([gA1, gA2], -1), None
        # m > n: A = P [L1; L2] U
        L1, L2 = L[..., :k, :], L[..., k:, :]
        gL1, gL2 = gL[..., :k, :], gL[..., k:, :]
        gA2 = SolveTriangular.apply(_H(U), gL2, False, False, False)  # gL2 U^{-H}
        gU = gU - _H(L2) @ gA2
        gA1 = _lu_square_grad(L1, U, gL1, gU)
        return P @ mv.cat([gA1, gA2], -2), None


def _lu_square_grad(L, U, gL, gU):
    """``P^T gA`` for a square block ``L U``: ``L^{-H} [tril(L^H gL, -1) + triu(gU U^H)] U^{-H}``."""
    inner = mv.tril(_H(L) @ gL, -1) + mv.triu(gU @ _H(U))
    X = SolveTriangular.apply(_H(L), inner, True, True, True)
    return SolveTriangular.apply(_H(U), X, False, False, False)


def _lu(A: Tensor, op: str, pivot: bool = True):
    check_matrix(A, op, square=False)
    if not pivot:
        raise RuntimeError(f"{op}: LU without pivoting is not implemented on the CPU")
    return LU.apply(A, True)


def lu(A: Tensor, *, pivot: bool = True, out=None):
    """``P, L, U`` with ``A = P L U`` (L unit lower-trapezoidal, U upper-trapezoidal)."""
    P, L, U = _lu(A, "linalg.lu", pivot)
    return write_out(linalg_lu(P, L, U), out, "lu")


def _pack(L: Tensor, U: Tensor) -> Tensor:
    """The packed LU matrix (``tril(L, -1) + U``, zero-padded to m x n): differentiable."""
    m, k = L._data.shape[-2:]
    n = U._data.shape[-1]
    low = mv.tril(L, -1)
    up = U
    from ..nn.functional import pad

    if n > k:
        low = pad(low, (0, n - k))
    if m > k:
        up = pad(up, (0, 0, 0, m - k))
    return low + up


def _pivots_of(A: Tensor) -> Tensor:
    arr = A._data
    xp = array_module(arr)
    m, n = arr.shape[-2:]
    if min(m, n) == 0:
        return _make(xp.zeros(arr.shape[:-2] + (0,), xp.int32))
    _, piv = _lu_factor_arrays(arr)
    return _make((piv + 1).astype(xp.int32))


def lu_factor(A: Tensor, *, pivot: bool = True, out=None):
    """The packed LU factorization and its 1-based int32 pivots (LAPACK getrf's)."""
    _, L, U = _lu(A, "linalg.lu_factor", pivot)
    return write_out(linalg_lu_factor(_pack(L, U), _pivots_of(A)), out, "lu_factor")


def lu_factor_ex(A: Tensor, *, pivot: bool = True, check_errors: bool = False, out=None):
    """``lu_factor`` and getrf's int32 ``info`` (k > 0: U[k-1, k-1] is zero)."""
    _, L, U = _lu(A, "linalg.lu_factor_ex", pivot)
    info = _lu_info(A) if min(A._data.shape[-2:]) else _make(array_module(A._data).zeros(A._data.shape[:-2], "int32"))
    if check_errors and not bool((info._data == 0).all()):
        k = int(info._data.reshape(-1)[int(array_module(info._data).argmax(info._data.reshape(-1) != 0))])
        raise RuntimeError(
            f"torch.linalg.lu_factor_ex: U[{k},{k}] is zero and using it on lu_solve would result in a division by "
            "zero. If you still want to perform the factorization, consider calling linalg.lu(A, pivot) or "
            "linalg.lu_factor_ex(A, pivot)")
    return write_out(linalg_lu_factor_ex(_pack(L, U), _pivots_of(A), info), out, "lu_factor_ex")


def torch_lu(A: Tensor, pivot: bool = True, get_infos: bool = False, out=None):
    """torch.lu: ``(LU, pivots)`` or ``(LU, pivots, infos)``."""
    res = lu_factor_ex(A, pivot=pivot)
    if get_infos:
        return tuple(res)
    return res.LU, res.pivots


def lu_unpack(LU_data: Tensor, LU_pivots: Tensor, unpack_data: bool = True, unpack_pivots: bool = True, *,  # noqa: N803
              out=None):
    """``P, L, U`` from a packed LU and its 1-based pivots (L, U differentiable in the packed matrix)."""
    op = "torch.lu_unpack"
    if LU_pivots._data.dtype.kind not in "iu":
        raise RuntimeError(f"{op}: LU_pivots is expected to be a contiguous tensor of torch.int32 dtype. "
                           f"Note: this function is intended to be used with the output produced by torch.linalg.lu_factor")
    m, n = LU_data._data.shape[-2:]
    k = min(m, n)
    xp = array_module(LU_data._data)
    dt = LU_data._data.dtype
    if unpack_data:
        L = mv.tril(LU_data[..., :, :k], -1) + _make(xp.eye(m, k, dtype=dt))
        U = mv.triu(LU_data[..., :k, :])
    else:
        L = _make(xp.zeros((0,), dt))
        U = _make(xp.zeros((0,), dt))
    if unpack_pivots:
        piv = LU_pivots._data.astype(xp.int64) - 1
        batch = tuple(LU_data._data.shape[:-2])
        piv = xp.broadcast_to(piv, batch + piv.shape[-1:])
        P = _make(_perm_matrix(_perm_from_pivots(piv, m), dt))
    else:
        P = _make(xp.zeros((0,), dt))
    return write_out(lu_unpack_result(P, L, U), out, "lu_unpack")


@autocast_op("linalg_lu_solve")
def lu_solve(LU: Tensor, pivots: Tensor, B: Tensor, *, left: bool = True, adjoint: bool = False, out=None) -> Tensor:  # noqa: N803
    """Solve ``A X = B`` (``A^T``: ``adjoint``; ``X A = B``: ``left=False``) from ``lu_factor``'s result."""
    op = "linalg.lu_solve"
    check_matrix(LU, op, "LU")
    check_matrix(B, op, "B", square=False)
    _same_dtype(op, LU, B, ("LU", "B"))
    n = LU._data.shape[-1]
    if (B._data.shape[-2] if left else B._data.shape[-1]) != n:
        raise RuntimeError(f"{op}: Incompatible shapes of A and B for the equation "
                           f"{'AX = B' if left else 'XA = B'} ({_dims(LU)} and {_dims(B)})")
    if pivots._data.shape[-1] != n:
        raise RuntimeError(f"{op}: Expected pivots.size(-1) == LU.size(-1)")
    P, L, U = lu_unpack(LU, pivots)
    batch = _batch_broadcast(op, tuple(LU._data.shape[:-2]), tuple(B._data.shape[:-2]))
    P, L, U = (_expand_batch(t, batch) for t in (P, L, U))
    Bb = _expand_batch(B, batch)
    # A = P L U
    if left and not adjoint:  # X = U^{-1} L^{-1} P^T B
        Y = SolveTriangular.apply(L, P.mT @ Bb, False, True, True)
        X = SolveTriangular.apply(U, Y, True, True, False)
    elif left:  # A^H X = B: U^H L^H P^T X = B
        Y = SolveTriangular.apply(_H(U), Bb, False, True, False)
        X = P @ SolveTriangular.apply(_H(L), Y, True, True, True)
    elif not adjoint:  # X P L U = B
        Y = SolveTriangular.apply(U, Bb, True, False, False)
        X = SolveTriangular.apply(L, Y, False, False, True) @ P.mT
    else:  # X A^H = B: X U^H L^H P^T = B
        Y = SolveTriangular.apply(_H(L), Bb @ P, True, False, True)
        X = SolveTriangular.apply(_H(U), Y, False, False, False)
    return write_out(X, out, "lu_solve")


@autocast_op("lu_solve")
def torch_lu_solve(b: Tensor, LU_data: Tensor, LU_pivots: Tensor, *, out=None) -> Tensor:  # noqa: N803
    """torch.lu_solve (argument order of the deprecated API)."""
    return lu_solve(LU_data, LU_pivots, b, out=out)


# ---------------------------------------------------------------------------- LDL^T (no gradient in torch)
def _lapack(arr, name: str):
    """The LAPACK routine ``name`` for ``arr``'s dtype (SciPy's lapack module of its backend)."""
    prefix = {"float32": "s", "float64": "d", "complex64": "c", "complex128": "z"}[arr.dtype.name]
    return getattr(backend_of(arr).scipy("linalg.lapack"), prefix + name)


def ldl_factor_ex(A: Tensor, *, hermitian: bool = False, check_errors: bool = False, out=None):
    """LAPACK sytrf's compact ``LD``, its 1-based int32 pivots (negative for 2x2 blocks), ``info``."""
    op = "torch.linalg.ldl_factor_ex"
    check_matrix(A, op)
    arr = A._data
    xp = array_module(arr)
    n = arr.shape[-1]
    if n == 0:
        LD = xp.zeros(arr.shape, arr.dtype)
        piv = xp.zeros(arr.shape[:-1], xp.int32)
        info = xp.zeros(arr.shape[:-2], xp.int32)
    else:
        sytrf = _lapack(arr, "hetrf" if hermitian and arr.dtype.kind == "c" else "sytrf")

        def one(a):
            ld, ipiv, inf = sytrf(a, lower=1)
            return xp.tril(xp.asarray(ld)), xp.asarray(ipiv).astype(xp.int32), xp.asarray(inf, dtype=xp.int32)

        LD, piv, info = _per_matrix(arr, one, batched=False)
    if check_errors and bool((info != 0).any()):
        raise LinAlgError(f"{op}: The factorization could not be completed because the input is singular.")
    return write_out(linalg_ldl_factor_ex(_make(LD.astype(arr.dtype)), _make(piv), _make(info)), out, "ldl_factor_ex")


def ldl_factor(A: Tensor, *, hermitian: bool = False, out=None):
    """``LD`` and pivots of the LDL^T (Bunch-Kaufman) factorization; raises on singular input."""
    res = ldl_factor_ex(A, hermitian=hermitian, check_errors=True)
    return write_out(linalg_ldl_factor(res.LD, res.pivots), out, "ldl_factor")


def ldl_solve(LD: Tensor, pivots: Tensor, B: Tensor, *, hermitian: bool = False, out=None) -> Tensor:  # noqa: N803
    """Solve ``A X = B`` from ``ldl_factor``'s result (LAPACK sytrs)."""
    op = "torch.linalg.ldl_solve"
    check_matrix(LD, op, "LD")
    check_matrix(B, op, "B", square=False)
    _same_dtype(op, LD, B, ("LD", "B"))
    if B._data.shape[-2] != LD._data.shape[-1]:
        raise RuntimeError(f"{op}: Incompatible shapes of A and B for the equation AX = B ({_dims(LD)} and {_dims(B)})")
    batch = _batch_broadcast(op, tuple(LD._data.shape[:-2]), tuple(B._data.shape[:-2]))
    ld = xp_broadcast(LD._data, batch)
    b = xp_broadcast(B._data, batch)
    piv = array_module(ld).broadcast_to(pivots._data, batch + pivots._data.shape[-1:])
    xp = array_module(ld)
    if ld.shape[-1] == 0 or b.shape[-1] == 0:
        return write_out(_make(xp.zeros(b.shape, b.dtype)), out, "ldl_solve")
    sytrs = _lapack(ld, "hetrs" if hermitian and ld.dtype.kind == "c" else "sytrs")

    def one(a, p, r):
        x, _ = sytrs(a, p, r, lower=1)
        return xp.asarray(x)

    X = _per_matrix(ld, one, xp.ascontiguousarray(piv), b, batched=False)
    return write_out(_make(X.astype(b.dtype, copy=False)), out, "ldl_solve")


def xp_broadcast(arr, batch):
    xp = array_module(arr)
    return xp.ascontiguousarray(xp.broadcast_to(arr, batch + arr.shape[-2:]))


# ---------------------------------------------------------------------------- matrix exponential
class MatrixExp(Function):
    _array_backward = False

    @staticmethod
    def forward(ctx, A):
        arr = A._data
        xp = array_module(arr)
        if arr.shape[-1] == 0:
            return xp.zeros(arr.shape, arr.dtype)
        sl = _scipy_linalg(arr)
        # float32 is exponentiated in float64: expm's scaling and squaring amplifies rounding
        out = _per_matrix(arr.astype(xp.complex128 if arr.dtype.kind == "c" else xp.float64), lambda a: sl.expm(a))
        ctx.save_for_backward(A)
        return xp.asarray(out).astype(arr.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        # d exp(A)[E] is the upper-right block of exp([[A, E], [0, A]]); its adjoint at g is
        # the upper-right block of exp([[A^H, g], [0, A^H]]).
        (A,) = ctx.saved_tensors
        n = A._data.shape[-1]
        At = _H(A)
        top = mv.cat([At, g], -1)
        bottom = mv.cat([At * 0, At], -1)
        big = MatrixExp.apply(mv.cat([top, bottom], -2))
        return big[..., :n, n:]


def matrix_exp(A: Tensor) -> Tensor:
    """The matrix exponential (SciPy's ``expm``) of square matrices."""
    if isinstance(A, Tensor) and A._data.dtype.kind == "V":  # bfloat16: in float32, rounded once
        return in_float32(matrix_exp, A)
    check_matrix(A, "linalg.matrix_exp")
    return MatrixExp.apply(A)


# ---------------------------------------------------------------------------- composites
def matrix_power(A: Tensor, n: int, *, out=None) -> Tensor:
    """``A^n`` by repeated squaring (``n < 0``: of the inverse; ``n = 0``: the identity)."""
    check_matrix(A, "linalg.matrix_power", "input", floating=False)
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"matrix_power(): argument 'n' must be int, not {type(n).__name__}")
    m = A._data.shape[-1]
    if n == 0:
        xp = array_module(A._data)
        eye = xp.broadcast_to(xp.eye(m, dtype=A._data.dtype), A._data.shape).copy()
        return write_out(_make(eye) + A * 0 if A.requires_grad else _make(eye), out, "matrix_power")
    base = inv(A) if n < 0 else A
    k = abs(n)
    result = None
    while k:
        if k & 1:
            result = base if result is None else matmul(result, base)
        k >>= 1
        if k:
            base = matmul(base, base)
    return write_out(result if result is not A else A.clone(), out, "matrix_power")


@autocast_op("multi_dot")
def multi_dot(tensors, *, out=None) -> Tensor:
    """The product of a chain of matrices (the first and last may be vectors)."""
    op = "multi_dot"
    tensors = list(tensors)
    if len(tensors) < 2:
        raise RuntimeError(f"{op}(): expected at least 2 tensors but got {len(tensors)}")
    for i, t in enumerate(tensors):
        nd = t._data.ndim
        if (i in (0, len(tensors) - 1) and nd not in (1, 2)) or (0 < i < len(tensors) - 1 and nd != 2):
            which = "first" if i == 0 else "last" if i == len(tensors) - 1 else None
            if which:
                raise RuntimeError(f"{op}(): the {which} tensor must be 1D or 2D but got {nd}D")
            raise RuntimeError(f"{op}(): tensor {i} must be 2D but got {nd}D")
    dt = tensors[0]._data.dtype
    for t in tensors[1:]:
        if t._data.dtype != dt:
            raise RuntimeError(f"{op}(): all tensors must have be the same dtype but tensor 0 is {tensors[0].dtype} "
                               f"and another tensor is {t.dtype}")
    first_vec = tensors[0]._data.ndim == 1
    last_vec = tensors[-1]._data.ndim == 1
    mats = list(tensors)
    if first_vec:
        mats[0] = mats[0].unsqueeze(0)
    if last_vec:
        mats[-1] = mats[-1].unsqueeze(-1)
    for i in range(len(mats) - 1):
        if mats[i]._data.shape[1] != mats[i + 1]._data.shape[0]:
            raise RuntimeError(
                f"{op}(): tensors {i} and {i + 1} with shapes {shape_str(mats[i]._data.shape)} and "
                f"{shape_str(mats[i + 1]._data.shape)} cannot be multiplied")
    result = mats[0]
    for M in mats[1:]:
        result = matmul(result, M)
    if first_vec:
        result = result.squeeze(0)
    if last_vec:
        result = result.squeeze(-1)
    return write_out(result, out, "multi_dot")


@autocast_op("tensorinv")
def tensorinv(A: Tensor, ind: int = 2, *, out=None) -> Tensor:
    """The inverse of ``A`` seen as a linear map from its last dims to its first ``ind`` dims."""
    if ind <= 0:
        raise RuntimeError(f"Expected a strictly positive integer for 'ind', but got {ind}")
    shape = tuple(A._data.shape)
    rows, cols = math.prod(shape[:ind]), math.prod(shape[ind:])
    if rows != cols:
        raise RuntimeError(f"Expected self to satisfy the requirement prod(self.shape[ind:]) == prod(self.shape[:ind]), "
                           f"but got {cols} != {rows}")
    return write_out(inv(A.reshape(rows, cols)).reshape(shape[ind:] + shape[:ind]), out, "tensorinv")


@autocast_op("tensorsolve")
def tensorsolve(A: Tensor, B: Tensor, dims=None, *, out=None) -> Tensor:
    """``X`` with ``tensordot(A, X, X.ndim) = B``."""
    if dims is not None:
        nd = A._data.ndim
        dims = [d % nd for d in dims]
        rest = [d for d in range(nd) if d not in dims]
        A = A.permute(rest + dims)
    shape = tuple(A._data.shape)
    rows = math.prod(B._data.shape)
    result_shape = shape[B._data.ndim:]
    cols = math.prod(result_shape)
    if rows != cols or tuple(shape[: B._data.ndim]) != tuple(B._data.shape) and math.prod(shape[: B._data.ndim]) != rows:
        raise RuntimeError(f"Expected self to satisfy the requirement prod(self.shape[other.ndim:]) == prod(self.shape[:other.ndim]), "
                           f"but got {cols} != {rows}")
    X = solve(A.reshape(rows, cols), B.reshape(rows))
    return write_out(X.reshape(result_shape), out, "tensorsolve")


def vander(x: Tensor, N: int | None = None) -> Tensor:  # noqa: N803
    """``x^0, x^1, ..., x^(N-1)`` along a new last dim (increasing powers)."""
    if x._data.ndim == 0:
        x = x.reshape(1)
    n = x._data.shape[-1] if N is None else N
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    xp = array_module(x._data)
    if x._data.dtype.kind == "b":
        x = x.to(_dtype.int64)
    if n == 0:
        return _make(xp.zeros(x._data.shape + (0,), x._data.dtype))
    cols = [mv.unsqueeze(x * 0 + 1, -1)]
    cur = x
    for _ in range(1, n):
        cols.append(cur.unsqueeze(-1))
        cur = cur * x
    return mv.cat(cols, -1)


@autocast_op("vecdot")
def vecdot(x: Tensor, y: Tensor, *, dim: int = -1, out=None) -> Tensor:
    """Dot products ``sum(conj(x) * y)`` of vectors along ``dim`` (inputs broadcast)."""
    if x._data.dtype != y._data.dtype:
        raise RuntimeError(f"linalg.vecdot: Expected x and y to have the same dtype, but found x of type "
                           f"{_type_name(x)} and y of type {_type_name(y)} instead")
    return write_out(red.sum(B.conj(x) * y, dim), out, "vecdot")


def linalg_diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """The diagonal (``offset`` above the main one) of each matrix over ``dim1``, ``dim2``."""
    return mv.diagonal(A, offset, dim1, dim2)


@autocast_op("cond")
def cond(A: Tensor, p=None, *, out=None) -> Tensor:
    """Condition number: ``sigma_max / sigma_min`` (p None or 2; -2 inverts), else ``||A|| ||A^-1||``."""
    check_matrix(A, "linalg.cond", square=p not in (None, 2, -2))
    if p in (None, 2, -2):
        S = svdvals(A)
        ratio = S[..., 0] / S[..., -1] if S._data.shape[-1] else red.sum(S, -1)
        return write_out(ratio if p != -2 else (S[..., -1] / S[..., 0] if S._data.shape[-1] else ratio), out, "cond")
    if p not in ("fro", "nuc", float("inf"), float("-inf"), 1, -1):
        raise RuntimeError(f"linalg.cond got an invalid norm type: {p}")
    info = _lu_info(A)
    if bool((info._data != 0).any()):
        xp = array_module(A._data)
        good = info._data == 0
        safe = _make(xp.where(good[..., None, None], A._data, xp.eye(A._data.shape[-1], dtype=A._data.dtype)))
        val = matrix_norm(A, p) * matrix_norm(inv(safe), p)
        return write_out(ew.where(_make(good), val, float("inf")), out, "cond")
    return write_out(matrix_norm(A, p) * matrix_norm(inv(A), p), out, "cond")


# ---------------------------------------------------------------------------- norms
@autocast_op("matrix_norm")
def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None, out=None) -> Tensor:  # noqa: A002
    """Matrix norms over the two dims ``dim``: 'fro', 'nuc', inf, -inf, 1, -1, 2, -2."""
    op = "linalg.matrix_norm"
    if A._data.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor A must have at least 2 dimensions.")
    if A._data.dtype.kind == "V" and dtype is None:  # bfloat16: in float32, rounded once
        return in_float32(matrix_norm, A, ord, dim, keepdim, out=out)
    if A._data.dtype.kind not in "fc":
        raise RuntimeError(f"{op}: Expected a floating point or complex tensor as input. Got {_type_name(A)}")
    if dtype is not None:
        A = A.to(dtype)
    dim = tuple(dim)
    if len(dim) != 2:
        raise RuntimeError(f"{op}: dim must be a 2-tuple. Got {' '.join(map(str, dim))}")
    nd = A._data.ndim
    d0, d1 = dim[0] % nd, dim[1] % nd
    if d0 == d1:
        raise RuntimeError(f"{op}: dims must be different. Got ({dim[0]}, {dim[1]})")
    if ord == "fro":
        return write_out(red.vector_norm(A, 2, (d0, d1), keepdim), out, "matrix_norm")
    if ord in ("nuc", 2, -2):
        moved = mv.movedim(A, (d0, d1), (-2, -1))
        if 0 in moved._data.shape[-2:] and ord != "nuc":
            raise RuntimeError(f"{op}: Expected a non-empty tensor for ord={ord}")
        S = svdvals(moved)
        if ord == "nuc":
            res = red.sum(S, -1)
        elif ord == 2:
            res = red.amax(S, -1)
        else:
            res = red.amin(S, -1)
        if keepdim:
            res = res.unsqueeze(min(d0, d1)).unsqueeze(max(d0, d1))
        return write_out(res, out, "matrix_norm")
    if ord in (float("inf"), float("-inf"), 1, -1):
        if ord in (float("inf"), float("-inf")):
            d0, d1 = d1, d0  # sum over columns (dim[1]), extreme over rows
        absA = ew.abs(A)
        sums = red.sum(absA, d0, keepdim=True)
        ext = red.amax(sums, d1, keepdim=True) if ord in (1, float("inf")) else red.amin(sums, d1, keepdim=True)
        if not keepdim:
            ext = ext.squeeze(max(d0, d1)).squeeze(min(d0, d1))
        return write_out(ext, out, "matrix_norm")
    raise RuntimeError(f"{op}: Order {ord} not supported.")


@autocast_op("linalg_norm")
def norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *, dtype=None, out=None) -> Tensor:  # noqa: A002
    """Vector or matrix norm: a matrix norm for string ``ord`` or a 2-tuple ``dim`` (or 2-D input with ``ord``)."""
    if dim is not None and not isinstance(dim, int):
        dim = tuple(dim)
        if len(dim) == 1:
            dim = dim[0]
    if isinstance(ord, str) or isinstance(dim, tuple) and len(dim) == 2 or (dim is None and ord is not None and A._data.ndim == 2):
        if dim is None:
            if A._data.ndim != 2:
                raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got {A._data.ndim}D.")
            dim = (-2, -1)
        if isinstance(dim, int):
            raise RuntimeError(f"linalg.norm: If ord is a string, dim must be a 2-tuple. Got {dim}")
        return matrix_norm(A, "fro" if ord is None else ord, dim, keepdim, dtype=dtype, out=out)
    if dim is None and ord is not None and A._data.ndim > 2:
        raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got {A._data.ndim}D.")
    return write_out(red.vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype), out, "norm")
