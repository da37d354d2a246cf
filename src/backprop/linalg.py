"""``backprop.linalg``: torch.linalg on NumPy/CuPy and SciPy.

Norms (``vector_norm``, ``matrix_norm``, ``norm``), products (``multi_dot``, ``vecdot``,
``matrix_power``, ``cross``), inverses and solvers (``inv``, ``solve``, ``solve_triangular``,
``lstsq``, ``pinv``, ``tensorinv``, ``tensorsolve``), determinants, and the decompositions
(``cholesky``, ``qr``, ``eigh``, ``eig`` (complex results), ``svd``, ``lu``, ``ldl_factor``),
all batched over leading dims and differentiable where torch's are (``ops/decompositions.py``
holds the primitives and their gradients). A singular or non-positive-definite input raises ``LinAlgError``,
a RuntimeError, as torch's ``torch.linalg.LinAlgError``.
"""

from __future__ import annotations

from ._autocast import autocast_op
from .ops.decompositions import (
    LinAlgError,
    cholesky,
    cholesky_ex,
    cond,
    det,
    eig,
    eigh,
    eigvals,
    eigvalsh,
    householder_product,
    inv,
    inv_ex,
    ldl_factor,
    ldl_factor_ex,
    ldl_solve,
    lstsq,
    lu,
    lu_factor,
    lu_factor_ex,
    lu_solve,
    matrix_exp,
    matrix_norm,
    matrix_power,
    matrix_rank,
    multi_dot,
    norm,
    pinv,
    qr,
    slogdet,
    solve,
    solve_ex,
    solve_triangular,
    svd,
    svdvals,
    tensorinv,
    tensorsolve,
    vander,
    vecdot,
)
from .ops.decompositions import linalg_diagonal as diagonal
from .ops.inplace import write_out
from .ops.linalg import cross as _cross
from .ops.linalg import matmul  # torch.linalg.matmul is torch.matmul
from .ops.reduction import vector_norm

__all__ = [
    "LinAlgError", "cholesky", "cholesky_ex", "cond", "cross", "det", "diagonal", "eig", "eigh", "eigvals", "eigvalsh",
    "householder_product", "inv", "inv_ex", "ldl_factor", "ldl_factor_ex", "ldl_solve", "lstsq", "lu", "lu_factor",
    "lu_factor_ex", "lu_solve", "matmul", "matrix_exp", "matrix_norm", "matrix_power", "matrix_rank", "multi_dot",
    "norm", "pinv", "qr", "slogdet", "solve", "solve_ex", "solve_triangular", "svd", "svdvals", "tensorinv",
    "tensorsolve", "vander", "vecdot", "vector_norm",
]

@autocast_op("linalg_cross")
def cross(input, other, *, dim: int = -1, out=None):  # noqa: A002 - torch's name
    """Cross product of 3-vectors along ``dim`` (the last by default); inputs broadcast."""
    return write_out(_cross(input, other, dim), out, "linalg.cross")
