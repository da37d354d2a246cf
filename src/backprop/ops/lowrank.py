"""Randomized low-rank SVD and PCA (Halko, Martinsson and Tropp 2009), as torch's
``svd_lowrank``/``pca_lowrank``: a random range finder refined by ``niter`` power iterations,
then the SVD of the small projected matrix. Composed of differentiable ops (matmul, QR, SVD),
so gradients need no formula of their own. The random matrix comes from backprop's generator:
results equal torch's up to the signs of singular vectors (and the approximation itself when
``q`` is below the rank)."""

from __future__ import annotations

from .._tensor import Tensor
from ..random import randn
from .decompositions import qr, svd
from .linalg import matmul


def _approximate_basis(A: Tensor, q: int, niter: int, M: Tensor | None) -> Tensor:
    """An orthonormal basis (..., m, q) approximating the range of ``A - M``."""
    R = randn(A.shape[-1], q, dtype=A.dtype, device=A.device)
    X = matmul(A, R)
    if M is not None:
        X = X - matmul(M, R)
    Q = qr(X).Q
    for _ in range(niter):
        X = matmul(A.mT, Q)
        if M is not None:
            X = X - matmul(M.mT, Q)
        Q = qr(X).Q
        X = matmul(A, Q)
        if M is not None:
            X = X - matmul(M, Q)
        Q = qr(X).Q
    return Q


def svd_lowrank(A: Tensor, q: int | None = 6, niter: int | None = 2, M: Tensor | None = None) -> tuple:
    """``U, S, V`` (rank ``q``) with ``A - M ~= U diag(S) V^T``."""
    q = 6 if q is None else q
    niter = 2 if niter is None else niter
    m, n = A.shape[-2:]
    if M is not None:
        M = M.broadcast_to(A.shape)
    if m < n:
        A = A.mT
        M = M.mT if M is not None else None
    Q = _approximate_basis(A, q, niter, M)
    B = matmul(Q.mT, A)
    if M is not None:
        B = B - matmul(Q.mT, M)
    U, S, Vh = svd(B, full_matrices=False)
    V = Vh.mT
    U = matmul(Q, U)
    if m < n:
        U, V = V, U
    return U, S, V


def pca_lowrank(A: Tensor, q: int | None = None, center: bool = True, niter: int = 2) -> tuple:
    """Principal components of the rows of ``A``: ``svd_lowrank`` of the (centered) data."""
    m, n = A.shape[-2:]
    if q is None:
        q = min(6, m, n)
    elif not 0 <= q <= min(m, n):
        raise ValueError(f"q(={q}) must be non-negative integer and not greater than min(m, n)={min(m, n)}")
    if not niter >= 0:
        raise ValueError(f"niter(={niter}) must be non-negative integer")
    if not center:
        return svd_lowrank(A, q, niter=niter)
    return svd_lowrank(A - A.mean(dim=(-2,), keepdim=True), q, niter=niter)
