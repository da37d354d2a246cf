"""backprop.linalg and the torch-level decompositions against PyTorch 2.13: forward values and
input gradients in float32 on every device (the fake CUDA device runs SciPy matrix by matrix,
as cupyx.scipy does), the create_graph first derivative, float64 gradcheck on well-conditioned
inputs, and torch's errors (LinAlgError for singular / non positive-definite inputs, shape and
batch mismatches).

Eigenvectors and singular vectors are defined up to sign, and LAPACK builds choose differently
(torch ships MKL, NumPy OpenBLAS): those cases compare sign-normalized vectors, which carry the
same gradient information."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import backprop as bp
from oracle import Case, Input, oracle_tests

I = Input  # noqa: E741 - short alias keeps the table readable


def _c(name, fn, *inputs, **kw):
    return Case(name, fn, list(inputs), **kw)


def _spd(m, a):
    """A well-conditioned symmetric positive-definite matrix from ``a``."""
    n = a.shape[-1]
    return a @ a.mT + n * m.eye(n, dtype=a.dtype, device=a.device)


def _wc(m, a):
    """A well-conditioned square matrix from ``a`` (diagonally shifted)."""
    n = a.shape[-1]
    return a + 3 * m.eye(n, dtype=a.dtype, device=a.device)


def _tri(m, a, upper):
    t = m.triu(a) if upper else m.tril(a)
    n = a.shape[-1]
    return t + 3 * m.eye(n, dtype=a.dtype, device=a.device)


def _signfix(v, axis):
    """``v`` with each vector's sign chosen by its largest-magnitude entry (a piecewise-constant factor)."""
    idx = v.abs().argmax(dim=axis, keepdim=True)
    s = v.gather(axis, idx).sign()
    return v * s


def _eigh(m, a, uplo="L"):
    w, v = m.linalg.eigh(_spd(m, a), UPLO=uplo)
    return w, _signfix(v, -2)


def _svd(m, a, full=False):
    U, S, Vh = m.linalg.svd(a, full_matrices=full)
    k = S.shape[-1]
    Uk, Vhk = U[..., :, :k], Vh[..., :k, :]
    idx = Uk.abs().argmax(dim=-2, keepdim=True)
    s = Uk.gather(-2, idx).sign()
    return Uk * s, S, Vhk * s.mT


def _torch_svd(m, a):
    U, S, V = m.svd(a, some=True)
    idx = U.abs().argmax(dim=-2, keepdim=True)
    s = U.gather(-2, idx).sign()
    return U * s, S, V * s


DISTINCT_SPEC = np.array([[4.0, 1.0, 0.5], [0.2, 2.0, 0.3], [0.1, 0.4, -1.0]])

CASES = [
    # inverse, solve, determinants
    _c("inv", lambda m, a: m.linalg.inv(_wc(m, a)), I((2, 3, 3)), gradgradcheck=True),
    _c("inverse_method", lambda m, a: _wc(m, a).inverse(), I((3, 3))),
    _c("inv_ex", lambda m, a: m.linalg.inv_ex(_wc(m, a)), I((2, 3, 3))),
    _c("det", lambda m, a: m.linalg.det(_wc(m, a)), I((2, 3, 3)), gradgradcheck=True),
    _c("det_method_torch", lambda m, a: (m.det(_wc(m, a)), _wc(m, a).det()), I((3, 3))),
    _c("det_singular", lambda m, a: m.linalg.det(m.cat([a, a[..., :1, :]], -2)), I((2, 3)), gradcheck=False),
    _c("slogdet", lambda m, a: m.linalg.slogdet(_wc(m, a)), I((2, 3, 3)), gradgradcheck=True),
    _c("torch_slogdet", lambda m, a: tuple(m.slogdet(_wc(m, a))), I((3, 3))),
    _c("logdet", lambda m, a: m.logdet(_spd(m, a)), I((2, 3, 3))),
    _c("solve", lambda m, a, b: m.linalg.solve(_wc(m, a), b), I((2, 3, 3)), I((3, 2)), gradgradcheck=True),
    _c("solve_vector", lambda m, a, b: m.linalg.solve(_wc(m, a), b), I((2, 3, 3)), I((2, 3))),
    _c("solve_right", lambda m, a, b: m.linalg.solve(_wc(m, a), b, left=False), I((3, 3)), I((2, 4, 3))),
    _c("solve_ex", lambda m, a, b: m.linalg.solve_ex(_wc(m, a), b), I((3, 3)), I((3, 2))),
    _c("solve_triangular_upper", lambda m, a, b: m.linalg.solve_triangular(_tri(m, a, True), b, upper=True), I((2, 3, 3)), I((3, 2))),
    _c("solve_triangular_lower_right_unit", lambda m, a, b: m.linalg.solve_triangular(
        _tri(m, a, False), b, upper=False, left=False, unitriangular=True), I((3, 3)), I((2, 3))),
    _c("triangular_solve", lambda m, b, a: m.triangular_solve(b, _tri(m, a, True)), I((3, 2)), I((3, 3))),
    _c("triangular_solve_transpose", lambda m, b, a: b.triangular_solve(_tri(m, a, False), upper=False, transpose=True),
       I((2, 3, 2)), I((2, 3, 3))),
    # Cholesky
    _c("cholesky", lambda m, a: m.linalg.cholesky(_spd(m, a)), I((2, 3, 3)), gradgradcheck=True),
    _c("cholesky_upper", lambda m, a: m.linalg.cholesky(_spd(m, a), upper=True), I((3, 3))),
    _c("cholesky_ex", lambda m, a: m.linalg.cholesky_ex(_spd(m, a)), I((3, 3))),
    _c("torch_cholesky", lambda m, a: _spd(m, a).cholesky(), I((3, 3))),
    _c("cholesky_solve", lambda m, b, a: m.cholesky_solve(b, m.linalg.cholesky(_spd(m, a))), I((2, 3, 2)), I((3, 3))),
    _c("cholesky_inverse", lambda m, a: m.cholesky_inverse(_tri(m, a, False)), I((3, 3))),
    _c("cholesky_inverse_upper", lambda m, a: _tri(m, a, True).cholesky_inverse(upper=True), I((3, 3))),
    # QR, eigh, SVD
    _c("qr_tall", lambda m, a: m.linalg.qr(a), I((2, 4, 3))),
    _c("qr_wide", lambda m, a: m.linalg.qr(a), I((3, 5))),
    _c("qr_complete_square", lambda m, a: m.linalg.qr(a, mode="complete"), I((3, 3))),
    _c("qr_r", lambda m, a: m.linalg.qr(a, mode="r")[1], I((4, 3), requires_grad=False), gradcheck=False),
    _c("torch_qr", lambda m, a: tuple(a.qr()), I((4, 3))),
    _c("eigh", lambda m, a: _eigh(m, a), I((2, 3, 3)), gradgradcheck=True),
    _c("eigh_upper", lambda m, a: _eigh(m, a, "U"), I((3, 3))),
    _c("eigvalsh", lambda m, a: m.linalg.eigvalsh(_spd(m, a)), I((2, 4, 4))),
    _c("svd_tall", lambda m, a: _svd(m, a), I((2, 4, 3)), gradgradcheck=True),
    _c("svd_wide", lambda m, a: _svd(m, a), I((3, 5))),
    _c("svd_full", lambda m, a: _svd(m, a, True), I((4, 3))),
    _c("torch_svd", lambda m, a: _torch_svd(m, a), I((4, 3))),
    _c("svdvals", lambda m, a: m.linalg.svdvals(a), I((2, 3, 4))),
    # pseudo-inverse, least squares, rank, condition
    _c("pinv_tall", lambda m, a: m.linalg.pinv(a), I((2, 4, 3)), gradgradcheck=True),
    _c("pinv_wide", lambda m, a: m.linalg.pinv(a), I((3, 5))),
    _c("pinv_hermitian", lambda m, a: m.linalg.pinv(_spd(m, a), hermitian=True), I((3, 3))),
    _c("pinverse", lambda m, a: a.pinverse(), I((4, 2))),
    _c("lstsq", lambda m, a, b: m.linalg.lstsq(a, b).solution, I((2, 5, 3)), I((2, 5, 2)), gradgradcheck=True),
    _c("lstsq_gelsd", lambda m, a, b: tuple(m.linalg.lstsq(a, b, driver="gelsd")), I((5, 3)), I((5, 2)), gradcheck=False),
    _c("lstsq_gelsd_residuals", lambda m, a, b: m.linalg.lstsq(a, b, driver="gelsd").residuals, I((5, 3)), I((5, 2))),
    _c("matrix_rank", lambda m, a: m.linalg.matrix_rank(m.cat([a, a[..., :1, :]], -2)), I((2, 3, 4)), gradcheck=False),
    _c("cond", lambda m, a: m.linalg.cond(a), I((2, 3, 3))),
    # torch 2.13's own backward of cond(p='fro') fails (an in-place write to inv_ex's saved output)
    _c("cond_fro", lambda m, a: m.linalg.cond(_wc(m, a), "fro"), I((3, 3), requires_grad=False), gradcheck=False),
    # LU
    _c("lu_square", lambda m, a: m.linalg.lu(a), I((2, 3, 3)), gradgradcheck=True),
    _c("lu_tall", lambda m, a: m.linalg.lu(a), I((5, 3))),
    _c("lu_wide", lambda m, a: m.linalg.lu(a), I((3, 5))),
    _c("lu_factor", lambda m, a: tuple(m.linalg.lu_factor(a)), I((2, 4, 4))),
    _c("lu_factor_ex", lambda m, a: tuple(m.linalg.lu_factor_ex(a)), I((3, 3))),
    _c("lu_solve", lambda m, a, b: m.linalg.lu_solve(*m.linalg.lu_factor(_wc(m, a)), b), I((2, 3, 3)), I((3, 2))),
    _c("lu_solve_adjoint_right", lambda m, a, b: m.linalg.lu_solve(*m.linalg.lu_factor(_wc(m, a)), b, left=False, adjoint=True),
       I((3, 3)), I((2, 3))),
    _c("torch_lu_solve", lambda m, a, b: b.lu_solve(*m.linalg.lu_factor(_wc(m, a))), I((3, 3)), I((3, 2))),
    _c("torch_lu_unpack", lambda m, a: tuple(m.lu_unpack(*m.lu(a))), I((4, 3)), gradcheck=False),
    _c("torch_lu_unpack_LU", lambda m, a: tuple(m.lu_unpack(*m.lu(a)))[1:], I((4, 3))),
    # Householder products, matrix exponential, products
    _c("householder_product", lambda m, a, t: m.linalg.householder_product(a, t), I((4, 3)), I((2,), "unit")),
    _c("ormqr", lambda m, a, t, c: m.ormqr(a, t, c), I((4, 3)), I((3,), "unit"), I((4, 2))),
    _c("ormqr_right_transpose", lambda m, a, t, c: a.ormqr(t, c, left=False, transpose=True), I((3, 2)), I((2,), "unit"), I((2, 3))),
    _c("matrix_exp", lambda m, a: m.linalg.matrix_exp(a * 0.5), I((2, 3, 3)), gradgradcheck=True),
    _c("matrix_exp_method", lambda m, a: (a * 0.5).matrix_exp(), I((3, 3))),
    _c("matrix_power", lambda m, a: m.linalg.matrix_power(a, 3), I((2, 3, 3))),
    _c("matrix_power_negative", lambda m, a: m.linalg.matrix_power(_wc(m, a), -2), I((3, 3))),
    _c("matrix_power_zero", lambda m, a: a.matrix_power(0), I((3, 3))),
    _c("multi_dot", lambda m, a, b, c, d: m.linalg.multi_dot([a, b, c, d]), I((3,)), I((3, 4)), I((4, 2)), I((2,))),
    _c("tensorinv", lambda m, a: m.linalg.tensorinv(_wc(m, a.reshape(6, 6)).reshape(2, 3, 6), ind=2), I((6, 6))),
    _c("tensorsolve", lambda m, a, b: m.linalg.tensorsolve(_wc(m, a.reshape(6, 6)).reshape(2, 3, 6), b), I((6, 6)), I((2, 3))),
    _c("vander", lambda m, x: m.linalg.vander(x, N=4), I((2, 3))),
    _c("vecdot", lambda m, x, y: m.linalg.vecdot(x, y, dim=0), I((3, 2)), I((3, 1))),
    _c("diagonal", lambda m, a: m.linalg.diagonal(a, offset=1), I((2, 3, 4))),
    _c("addbmm", lambda m, i, a, b: m.addbmm(i, a, b, beta=0.5, alpha=2.0), I((3, 2)), I((4, 3, 5)), I((4, 5, 2))),
    _c("addr", lambda m, i, a, b: i.addr(a, b, alpha=0.5), I((3, 1)), I((3,)), I((4,))),
    _c("addr_inplace", lambda m, i, a, b: (i * 1).addr_(a, b, beta=2), I((3, 4)), I((3,)), I((4,))),
    _c("addbmm_inplace", lambda m, i, a, b: (i * 1).addbmm_(a, b), I((3, 2)), I((4, 3, 5)), I((4, 5, 2))),
    _c("orgqr", lambda m, a, t: m.orgqr(a, t), I((4, 3)), I((3,), "unit")),
    # norms
    _c("matrix_norm_nuc", lambda m, a: m.linalg.matrix_norm(a, "nuc"), I((2, 3, 4)), gradgradcheck=True),
    _c("matrix_norm_2", lambda m, a: m.linalg.matrix_norm(a, 2, keepdim=True), I((2, 3, 4))),
    _c("matrix_norm_m2_dims", lambda m, a: m.linalg.matrix_norm(a, -2, dim=(0, 2)), I((3, 2, 4))),
    _c("matrix_norm_inf", lambda m, a: m.linalg.matrix_norm(a, float("inf")), I((2, 3, 4), "distinct")),
    _c("matrix_norm_1", lambda m, a: m.linalg.matrix_norm(a, -1), I((3, 4), "distinct")),
    _c("linalg_norm_nuc", lambda m, a: m.linalg.norm(a, "nuc"), I((3, 4))),
    _c("linalg_norm_2d_ord2", lambda m, a: m.linalg.norm(a, 2), I((3, 4))),
    _c("torch_norm_nuc", lambda m, a: m.norm(a, "nuc"), I((3, 4))),
    _c("vector_norm_p_half_at_zero", lambda m, a: m.linalg.vector_norm(a * 0, 0.5), I((4,)), gradcheck=False),
    _c("vector_norm_p3", lambda m, a: m.linalg.vector_norm(a, 3, dim=1), I((2, 4)), gradgradcheck=True),
]


# ---------------------------------------------------------------------------- complex inputs
# Each case builds z = a + ib from two real inputs and returns real views of its complex results,
# so the gradients of a and b (the real and imaginary parts of torch's conjugate-Wirtinger
# gradient) are compared with torch's and gradchecked in float64.
def _z(m, a, b):
    return m.complex(a, b)


def _r(m, *outs):
    """Complex results as real views (real ones as they are)."""
    return tuple(m.view_as_real(o) if o.is_complex() else o for o in outs)


def _hpd(m, a, b):
    """A well-conditioned Hermitian positive-definite matrix."""
    z = _z(m, a, b)
    n = z.shape[-1]
    return z @ z.mH + n * m.eye(n, dtype=z.dtype, device=z.device)


def _wcz(m, a, b):
    return _wc(m, _z(m, a, b))


def _phase_fixed(m, v):
    """Eigen/singular vectors with each column's phase fixed (its first entry made real positive)."""
    first = v[..., :1, :]
    return v * (first.conj() / first.abs())


def _svd_phase_fixed(m, z):
    """``U, S, Vh`` with each pair (u_i, v_i) rotated by the phase that makes u_i's first entry real."""
    u, s, vh = m.linalg.svd(z, full_matrices=False)
    first = u[..., :1, :]
    phase = first.conj() / first.abs()
    return u * phase, s, vh * phase.mT.conj()


def _cx(name, fn, shape, *more, **kw):
    return _c("complex_" + name, fn, I(shape), I(shape), *more, **kw)


CASES_COMPLEX = [
    _cx("inv", lambda m, a, b: _r(m, m.linalg.inv(_wcz(m, a, b))), (2, 3, 3), gradgradcheck=True),
    _cx("solve", lambda m, a, b, c: _r(m, m.linalg.solve(_wcz(m, a, b), _z(m, c, c * 0.5))), (3, 3), I((3, 2))),
    _cx("det", lambda m, a, b: _r(m, m.linalg.det(_wcz(m, a, b))), (2, 3, 3)),
    _cx("slogdet", lambda m, a, b: _r(m, *m.linalg.slogdet(_wcz(m, a, b))), (2, 3, 3), gradgradcheck=True),
    _cx("logdet", lambda m, a, b: _r(m, m.logdet(_wcz(m, a, b))), (3, 3)),
    _cx("cholesky", lambda m, a, b: _r(m, m.linalg.cholesky(_hpd(m, a, b), upper=True)), (2, 3, 3), gradgradcheck=True),
    _cx("solve_triangular", lambda m, a, b: _r(m, m.linalg.solve_triangular(
        _tri(m, _z(m, a, b), True), _z(m, b, a), upper=True)), (3, 3)),
    _cx("qr", lambda m, a, b: _r(m, *m.linalg.qr(_z(m, a, b))), (4, 3), gradgradcheck=True),
    _cx("lu", lambda m, a, b: _r(m, *m.linalg.lu(_z(m, a, b))[1:]), (3, 4)),
    _cx("lu_solve_adjoint", lambda m, a, b: _r(m, m.linalg.lu_solve(
        *m.linalg.lu_factor(_wcz(m, a, b)), _z(m, b, a), adjoint=True)), (3, 3)),
    _cx("eigh", lambda m, a, b: _r(m, m.linalg.eigh(_hpd(m, a, b))[0],
                                   _phase_fixed(m, m.linalg.eigh(_hpd(m, a, b))[1])), (3, 3), gradgradcheck=True),
    _cx("svd", lambda m, a, b: _r(m, *_svd_phase_fixed(m, _z(m, a, b))), (4, 3)),
    _cx("pinv", lambda m, a, b: _r(m, m.linalg.pinv(_z(m, a, b))), (4, 3)),
    _cx("matrix_norm_nuc", lambda m, a, b: m.linalg.matrix_norm(_z(m, a, b), "nuc"), (3, 4)),
    _cx("matrix_exp", lambda m, a, b: _r(m, m.linalg.matrix_exp(_z(m, a, b) * 0.5)), (3, 3)),
    _cx("cov_corrcoef", lambda m, a, b: _r(m, m.cov(_z(m, a, b)), m.corrcoef(_z(m, a, b))), (3, 5)),
    _cx("addbmm", lambda m, a, b: _r(m, m.addbmm(_z(m, a[0], b[0]), _z(m, a, b), _z(m, b, a), beta=1 + 2j,
                                                 alpha=0.5 - 1j)), (2, 3, 3)),
    _cx("vecdot", lambda m, a, b: _r(m, m.linalg.vecdot(_z(m, a, b), _z(m, b, a * 2))), (2, 3)),
]

(test_complex_matches_torch, test_complex_matches_torch_noncontiguous, test_complex_create_graph_matches_torch,
 test_complex_gradcheck, test_complex_gradgradcheck) = oracle_tests(CASES_COMPLEX)

test_matches_torch, test_matches_torch_noncontiguous, test_create_graph_matches_torch, test_gradcheck, test_gradgradcheck = (
    oracle_tests(CASES)
)


# ---------------------------------------------------------------------------- no-gradient ops
def _both(fn, *arrays, device="cpu"):
    with bp.device(device):
        ours = fn(bp, *[bp.tensor(a, device=device) for a in arrays])
    theirs = fn(torch, *[torch.tensor(a) for a in arrays])
    for o, t in zip(ours if isinstance(ours, tuple) else (ours,), theirs if isinstance(theirs, tuple) else (theirs,)):
        assert o.dtype.name == str(t.dtype).replace("torch.", "")
        assert o.device.type == bp.device(device).type
        np.testing.assert_allclose(o.cpu().numpy(), t.numpy(), rtol=1e-5, atol=1e-5)


def test_ldl_factor_and_solve(device):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 4, 4))
    a = a + np.swapaxes(a, -1, -2)  # symmetric indefinite: 2x2 pivots appear
    b = rng.standard_normal((2, 4, 3))
    _both(lambda m, x: tuple(m.linalg.ldl_factor(x)), a, device=device)
    _both(lambda m, x: tuple(m.linalg.ldl_factor_ex(x)), a, device=device)
    _both(lambda m, x, y: m.linalg.ldl_solve(*m.linalg.ldl_factor(x), y), a, b, device=device)


def test_geqrf_and_matrix_rank(device):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2, 5, 3))
    _both(lambda m, x: tuple(m.geqrf(x)), a, device=device)
    low = rng.standard_normal((3, 5, 2)) @ rng.standard_normal((3, 2, 4))
    _both(lambda m, x: m.linalg.matrix_rank(x), low, device=device)
    _both(lambda m, x: m.linalg.matrix_rank(x, atol=1.0, rtol=0.1), low, device=device)
    _both(lambda m, x: m.linalg.matrix_rank(x @ x.mT, hermitian=True), low, device=device)


def test_lstsq_outputs_per_driver():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    for driver in ("gels", "gelsy", "gelsd", "gelss"):
        ours = bp.linalg.lstsq(bp.tensor(a), bp.tensor(b), driver=driver)
        theirs = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), driver=driver)
        for o, t in zip(ours, theirs):
            assert tuple(o.shape) == tuple(t.shape), driver
            np.testing.assert_allclose(o.numpy(), t.numpy(), rtol=1e-7, atol=1e-7)


def test_svd_lowrank_reconstructs():
    rng = np.random.default_rng(3)
    a = bp.tensor(rng.standard_normal((6, 2)) @ rng.standard_normal((2, 5)))
    U, S, V = bp.svd_lowrank(a, q=2)
    np.testing.assert_allclose((U * S.unsqueeze(-2) @ V.mT).numpy(), a.numpy(), atol=1e-8)
    np.testing.assert_allclose(S.numpy(), torch.linalg.svdvals(torch.tensor(a.numpy()))[:2].numpy(), rtol=1e-8)
    U, S, V = bp.pca_lowrank(a, q=2, center=True)
    assert tuple(U.shape) == (6, 2) and tuple(V.shape) == (5, 2)


def test_det_gradient_of_singular_matrix_follows_torch():
    """det exactly 0: torch's plain backward gives 0, its create_graph backward the cofactor."""
    a = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    for create_graph in (False, True):
        x = bp.tensor(a, requires_grad=True)
        t = torch.tensor(a, requires_grad=True)
        (gx,) = bp.autograd.grad(bp.linalg.det(x), x, create_graph=create_graph)
        (gt,) = torch.autograd.grad(torch.linalg.det(t), t, create_graph=create_graph)
        np.testing.assert_allclose(gx.detach().numpy(), gt.detach().numpy(), atol=1e-12)
    assert np.any(gt.detach().numpy() != 0)


def test_linalg_error_is_a_runtime_error():
    assert issubclass(bp.linalg.LinAlgError, RuntimeError)


# ---------------------------------------------------------------------------- errors
SINGULAR = np.array([[1.0, 2.0], [2.0, 4.0]])
NOT_PD = np.array([[1.0, 2.0], [2.0, 1.0]])

ERRORS = [
    ("inv_singular", lambda m: m.linalg.inv(m.tensor(SINGULAR))),
    ("inv_singular_batch", lambda m: m.linalg.inv(m.stack([m.eye(2, dtype=m.float64), m.tensor(SINGULAR)]))),
    ("solve_singular", lambda m: m.linalg.solve(m.tensor(SINGULAR), m.ones(2, dtype=m.float64))),
    ("cholesky_not_pd", lambda m: m.linalg.cholesky(m.tensor(NOT_PD))),
    ("lu_factor_ex_check", lambda m: m.linalg.lu_factor_ex(m.tensor(SINGULAR), check_errors=True)),
    ("inv_not_square", lambda m: m.linalg.inv(m.ones(2, 3))),
    ("inv_1d", lambda m: m.linalg.inv(m.ones(3))),
    ("inv_int", lambda m: m.linalg.inv(m.ones(2, 2, dtype=m.int64))),
    ("det_not_square", lambda m: m.linalg.det(m.ones(3, 2))),
    ("cholesky_not_square", lambda m: m.linalg.cholesky(m.ones(2, 3))),
    ("eigh_not_square", lambda m: m.linalg.eigh(m.ones(2, 3))),
    ("eigh_bad_uplo", lambda m: m.linalg.eigh(m.eye(2), UPLO="X")),
    ("solve_batch_mismatch", lambda m: m.linalg.solve(m.ones(2, 3, 3), m.ones(4, 3, 1))),
    ("solve_shape_mismatch", lambda m: m.linalg.solve(m.eye(3), m.ones(4, 2))),
    ("solve_dtype_mismatch", lambda m: m.linalg.solve(m.eye(3), m.ones(3, 2, dtype=m.float64))),
    ("solve_triangular_mismatch", lambda m: m.linalg.solve_triangular(m.eye(3), m.ones(2, 2), upper=True)),
    ("lu_solve_mismatch", lambda m: m.linalg.lu_solve(*m.linalg.lu_factor(m.eye(3)), m.ones(2, 1))),
    ("qr_bad_mode", lambda m: m.linalg.qr(m.eye(3), mode="full")),
    ("multi_dot_one", lambda m: m.linalg.multi_dot([m.eye(2)])),
    ("multi_dot_shapes", lambda m: m.linalg.multi_dot([m.ones(2, 3), m.ones(2, 3)])),
    ("householder_wide", lambda m: m.linalg.householder_product(m.ones(2, 3), m.ones(1))),
    ("matrix_norm_1d", lambda m: m.linalg.matrix_norm(m.ones(3))),
    ("norm_nuc_3d_no_dim", lambda m: m.linalg.norm(m.ones(2, 2, 2), "nuc")),
    ("cond_bad_p", lambda m: m.linalg.cond(m.eye(2), 3)),
    ("tensorinv_bad", lambda m: m.linalg.tensorinv(m.ones(2, 3), ind=1)),
    ("lstsq_rows", lambda m: m.linalg.lstsq(m.ones(3, 2), m.ones(4, 1))),
    ("diagonal_same_dims", lambda m: m.linalg.diagonal(m.ones(3, 3), dim1=1, dim2=1)),
    ("cross_not_3", lambda m: m.linalg.cross(m.ones(5, 3), m.ones(5, 1))),
]


@pytest.mark.parametrize("name,fn", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_match_torch(name, fn):
    with pytest.raises(Exception) as theirs:
        fn(torch)
    with pytest.raises(Exception) as ours:
        fn(bp)
    expected = type(theirs.value)
    if issubclass(expected, torch.linalg.LinAlgError):  # <-> backprop.linalg.LinAlgError
        assert isinstance(ours.value, bp.linalg.LinAlgError), f"{name}: {type(ours.value).__name__}: {ours.value}"
    else:
        assert isinstance(ours.value, expected), f"{name}: {type(ours.value).__name__}: {ours.value}; torch {expected.__name__}"


def test_singular_messages_name_the_op_and_element():
    with pytest.raises(bp.linalg.LinAlgError, match=r"linalg.inv: \(Batch element 1\): The diagonal element 2 is zero"):
        bp.linalg.inv(bp.stack([bp.eye(2, dtype=bp.float64), bp.tensor(SINGULAR)]))
    with pytest.raises(bp.linalg.LinAlgError, match="leading minor of order 2 is not positive-definite"):
        bp.linalg.cholesky(bp.tensor(NOT_PD))


def test_cholesky_ex_reports_info():
    ours = bp.linalg.cholesky_ex(bp.stack([bp.eye(2, dtype=bp.float64), bp.tensor(NOT_PD)]))
    theirs = torch.linalg.cholesky_ex(torch.stack([torch.eye(2, dtype=torch.float64), torch.tensor(NOT_PD)]))
    np.testing.assert_array_equal(ours.info.numpy(), theirs.info.numpy())
    assert ours.info.dtype == bp.int32


def test_inv_ex_reports_info():
    ours = bp.linalg.inv_ex(bp.tensor(SINGULAR))
    theirs = torch.linalg.inv_ex(torch.tensor(SINGULAR))
    np.testing.assert_array_equal(ours.info.numpy(), theirs.info.numpy())


def test_out_arguments_are_written_and_resized():
    a = np.array([[2.0, 1.0], [1.0, 3.0]])
    out = bp.empty(0, dtype=bp.float64)
    result = bp.linalg.inv(bp.tensor(a), out=out)
    assert result is out
    np.testing.assert_allclose(out.numpy(), np.linalg.inv(a))
    sign, logabs = bp.empty(0, dtype=bp.float64), bp.empty(0, dtype=bp.float64)
    bp.linalg.slogdet(bp.tensor(a), out=(sign, logabs))
    np.testing.assert_allclose(logabs.numpy(), np.log(5.0))
    L = bp.zeros(2, 2, dtype=bp.float64)
    bp.linalg.cholesky(bp.tensor(a), out=L)
    np.testing.assert_allclose(L.numpy(), np.linalg.cholesky(a))


def test_ex_variants_report_singular_matrices_without_raising():
    a = np.array([[[1.0, 2.0], [2.0, 4.0]], [[2.0, 0.0], [0.0, 2.0]]])
    ours = bp.linalg.solve_ex(bp.tensor(a), bp.ones(2, dtype=bp.float64))
    theirs = torch.linalg.solve_ex(torch.tensor(a), torch.ones(2, dtype=torch.float64))
    np.testing.assert_array_equal(ours.info.numpy(), theirs.info.numpy())
    np.testing.assert_allclose(ours.result[1].numpy(), theirs.result[1].numpy())  # the regular one
    with pytest.raises(bp.linalg.LinAlgError, match="solve_ex"):
        bp.linalg.solve_ex(bp.tensor(a), bp.ones(2, dtype=bp.float64), check_errors=True)
    with pytest.raises(RuntimeError, match=r"U\[2,2\] is zero"):
        bp.linalg.lu_factor_ex(bp.tensor(a[0]), check_errors=True)


@pytest.mark.parametrize("dtype", ["float64", "complex128"])
def test_eig_matches_torch(dtype, device):
    """linalg.eig/eigvals: complex results and torch's gradient (through a phase-invariant loss)."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((2, 4, 4))
    if dtype == "complex128":
        a = a + 1j * rng.standard_normal((2, 4, 4))
    ours_in = bp.tensor(a, device=device, requires_grad=True)
    theirs_in = torch.tensor(a, requires_grad=True)

    def loss(m, x):
        w, v = m.linalg.eig(x)
        return (w.abs() ** 2).sum() + (w.real * 0.5).sum() + v.abs().sum() + m.linalg.eigvals(x).imag.abs().sum()

    ours, theirs = loss(bp, ours_in), loss(torch, theirs_in)
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-10)
    ours.backward()
    theirs.backward()
    assert ours_in.grad.device.type == device
    np.testing.assert_allclose(ours_in.grad.cpu().numpy(), theirs_in.grad.numpy(), rtol=1e-8, atol=1e-10)
