# ruff: noqa: N803, N806 - matrix names (L, P, gA) as in the math and in torch
"""Differentiable Cholesky factorization and triangular solve, the two matrix ops
``MultivariateNormal`` needs. Backward formulas follow torch's (``cholesky_backward``,
``linalg_solve_triangular`` backward); both run on arrays, so second derivatives through
them are not supported."""

from __future__ import annotations

import numpy

from .._backend import array_module
from .._tensor import Tensor, _make
from ..autograd.function import Function


def _arr(x):
    return x._data if isinstance(x, Tensor) else x


def _like(result, grad):
    return _make(result) if isinstance(grad, Tensor) else result


def _mT(a):
    return a.swapaxes(-1, -2)


def _solve_tri(a, b, upper: bool):
    """a^{-1} b for triangular a (batched; ``xp.linalg.solve`` is exact enough here)."""
    del upper  # a general solve handles either triangle
    return array_module(a).linalg.solve(a, b)


class _Cholesky(Function):
    @staticmethod
    def forward(ctx, a):
        xp = array_module(a._data)
        try:
            L = xp.linalg.cholesky(a._data)
        except numpy.linalg.LinAlgError:
            L = None
        # CuPy does not raise: a failed factorization leaves a non-positive (or NaN) pivot on the diagonal
        if L is None or (xp is not numpy and not bool((xp.diagonal(L, axis1=-2, axis2=-1) > 0).all())):
            raise RuntimeError(
                "linalg.cholesky: The factorization could not be completed because the input is not positive-definite."
            ) from None
        ctx.L = L
        return L

    @staticmethod
    def backward(ctx, grad):
        L = ctx.L
        xp = array_module(L)
        gA = xp.tril(_mT(L) @ _arr(grad))
        gA = 0.5 * (gA + _mT(xp.tril(gA, -1)))  # phi(L^T gL), symmetrized
        gA = _solve_tri(_mT(L), gA, upper=True)  # L^{-T} X
        gA = _mT(_solve_tri(_mT(L), _mT(gA), upper=True))  # ... L^{-1}
        return _like(gA.astype(L.dtype, copy=False), grad)


class _SolveTriangular(Function):
    @staticmethod
    def forward(ctx, a, b, upper):
        x = _solve_tri(a._data, b._data, upper)
        ctx.a, ctx.x, ctx.upper = a._data, x, upper
        return x

    @staticmethod
    def backward(ctx, grad):
        gB = _solve_tri(_mT(ctx.a), _arr(grad), not ctx.upper)
        gA = -(gB @ _mT(ctx.x))
        xp = array_module(gA)
        gA = xp.triu(gA) if ctx.upper else xp.tril(gA)
        return _like(gA, grad), _like(gB, grad), None


def cholesky(a: Tensor) -> Tensor:
    """Lower Cholesky factor of a batch of symmetric positive-definite matrices."""
    return _Cholesky.apply(a)


def solve_triangular(a: Tensor, b: Tensor, *, upper: bool) -> Tensor:
    """Solve ``a x = b`` for triangular ``a``; batch dims broadcast."""
    batch = numpy.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
    a = a.expand(tuple(batch) + tuple(a.shape[-2:]))
    b = b.expand(tuple(batch) + tuple(b.shape[-2:]))
    return _SolveTriangular.apply(a, b, upper)
