"""torch.special's SciPy-backed functions (Bessel and Airy functions, orthogonal polynomials,
erfc/erfcx, i0/i1 and their scaled forms, the normal distribution's ndtr/ndtri/log_ndtr, entr,
xlog1py, zeta, the incomplete gamma functions, mvlgamma) against PyTorch 2.13: values and
gradients on cpu and fake-cuda, first derivatives under create_graph, gradcheck and
gradgradcheck in float64, integer promotion, torch's no-gradient ops, aliases and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import backprop
import fake_cuda
from oracle import Case, Input, oracle_tests


class A(Input):
    """Fixed values, in the dtype the harness asks for."""

    def draw(self, rng, dtype):
        return np.array(self.array, dtype=dtype)


def _c(name, fn, *inputs, **kw):
    return Case(name, fn, list(inputs), **kw)


X = [-3.5, -1.2, -0.3, 0.0, 0.4, 1.1, 2.7, 6.0]  # includes 0 (i1/i1e's special gradient point)
X_NONZERO = [v for v in X if v != 0]
PROB = [0.001, 0.05, 0.3, 0.5, 0.77, 0.95, 0.999]
POS = [0.05, 0.4, 1.0, 2.5, 7.0, 30.0]
Q = [0.3, 1.0, 2.5, 9.0]  # zeta's q
S = A(array=[1.5, 2.0, 3.25, 6.0], requires_grad=False)  # zeta's s: no derivative in torch

DIFFERENTIABLE = [
    _c("erfc", lambda m, a: m.erfc(a), A(array=X), gradgradcheck=True),
    _c("erfc_method", lambda m, a: a.erfc(), Input((3, 4))),
    _c("special_erfc", lambda m, a: m.special.erfc(a), Input((5,))),
    _c("erfcx", lambda m, a: m.special.erfcx(a), A(array=X + [25.0, -4.0]), gradgradcheck=True, rtol=2e-5),
    _c("i0", lambda m, a: m.i0(a), A(array=X), gradgradcheck=True),
    _c("i0_method", lambda m, a: a.i0(), Input((3, 4))),
    _c("special_i0", lambda m, a: m.special.i0(a), Input((5,))),
    _c("i0e", lambda m, a: m.special.i0e(a), A(array=X)),
    _c("i1", lambda m, a: m.special.i1(a), A(array=X)),
    _c("i1e", lambda m, a: m.special.i1e(a), A(array=X)),
    # second derivatives away from 0 (i0e and i1e have a kink there; i1's formula is 0/0)
    _c("i0e_nonzero", lambda m, a: m.special.i0e(a), A(array=X_NONZERO), gradgradcheck=True),
    _c("i1_nonzero", lambda m, a: m.special.i1(a), A(array=X_NONZERO), gradgradcheck=True),
    _c("i1e_nonzero", lambda m, a: m.special.i1e(a), A(array=X_NONZERO), gradgradcheck=True),
    _c("ndtr", lambda m, a: m.special.ndtr(a), A(array=X), gradgradcheck=True),
    _c("ndtri", lambda m, a: m.special.ndtri(a), A(array=PROB), gradgradcheck=True, rtol=1e-4),
    _c("log_ndtr", lambda m, a: m.special.log_ndtr(a), A(array=X + [-20.0]), gradgradcheck=True),
    _c("entr", lambda m, a: m.special.entr(a), A(array=POS), gradgradcheck=True),
    _c("xlog1py", lambda m, a, b: m.special.xlog1py(a, b), Input((3, 4)), Input((3, 4), "positive"), gradgradcheck=True),
    _c("xlog1py_broadcast", lambda m, a, b: m.special.xlog1py(a, b), Input((2, 3, 4)), Input((3, 1), "positive")),
    _c("xlog1py_scalar", lambda m, b: m.special.xlog1py(2.0, b), Input((4,), "positive")),
    _c("zeta_q", lambda m, s, q: m.special.zeta(s, q), S, A(array=Q), gradgradcheck=True, rtol=1e-4),
    _c("zeta_scalar_s", lambda m, q: m.special.zeta(3.0, q), A(array=Q), rtol=1e-4),
    _c("igamma_x", lambda m, a, x: m.igamma(a, x), A(array=[0.5, 1.0, 2.5, 4.0], requires_grad=False), A(array=POS[:4]), gradgradcheck=True),
    _c("igammac_x", lambda m, a, x: m.igammac(a, x), A(array=[0.5, 1.0, 2.5, 4.0], requires_grad=False), A(array=POS[:4]), gradgradcheck=True),
    _c("igamma_method", lambda m, a, x: a.igamma(x), A(array=[0.7, 3.0], requires_grad=False), A(array=[1.2, 0.4])),
    _c("gammaincc_special", lambda m, a, x: m.special.gammaincc(a, x), A(array=[0.7, 3.0], requires_grad=False), A(array=[1.2, 0.4])),
    _c("mvlgamma_p1", lambda m, a: m.mvlgamma(a, 1), A(array=POS), gradgradcheck=True),
    _c("mvlgamma_p3", lambda m, a: m.mvlgamma(a, p=3), A(array=[1.2, 2.5, 7.0]), gradgradcheck=True),
    _c("mvlgamma_method", lambda m, a: a.mvlgamma(2), A(array=[[0.8, 3.5], [1.5, 9.0]])),
    _c("multigammaln", lambda m, a: m.special.multigammaln(a, 4), A(array=[1.7, 4.5])),
    _c("chain", lambda m, a: m.special.log_ndtr(m.special.i0e(a)) * m.erfc(a), Input((2, 3)), gradgradcheck=True),
]

test_matches_torch, test_matches_torch_noncontiguous, test_create_graph_matches_torch, test_gradcheck, test_gradgradcheck = (
    oracle_tests(DIFFERENTIABLE)
)


# ---------------------------------------------------------------------------- no-gradient ops
def _nograd(name, fn, *inputs, **kw):
    inputs = [A(array=i.array, requires_grad=False) if isinstance(i, A) else i for i in inputs]
    return Case(name, fn, inputs, gradcheck=False, **kw)


BX = [-7.5, -2.0, -0.5, 0.0, 0.25, 1.0, 3.3, 12.0]
BPOS = [0.1, 0.5, 1.0, 3.3, 12.0, 40.0]
PX = [-1.5, -1.0, -0.7, -0.2, 0.0, 0.3, 0.9, 1.0, 2.0]
N = [-2.0, 0.0, 1.0, 2.0, 3.7, 5.0, 7.0, 9.0, 4.0]  # negative degrees give 0, fractions truncate

NO_GRAD = [
    _nograd("airy_ai", lambda m, a: m.special.airy_ai(a), A(array=BX)),
    _nograd("bessel_j0", lambda m, a: m.special.bessel_j0(a), A(array=BX)),
    _nograd("bessel_j1", lambda m, a: m.special.bessel_j1(a), A(array=BX)),
    _nograd("bessel_y0", lambda m, a: m.special.bessel_y0(a), A(array=BPOS)),
    _nograd("bessel_y1", lambda m, a: m.special.bessel_y1(a), A(array=BPOS)),
    _nograd("modified_bessel_i0", lambda m, a: m.special.modified_bessel_i0(a), A(array=BX)),
    _nograd("modified_bessel_i1", lambda m, a: m.special.modified_bessel_i1(a), A(array=BX)),
    _nograd("modified_bessel_k0", lambda m, a: m.special.modified_bessel_k0(a), A(array=BPOS)),
    _nograd("modified_bessel_k1", lambda m, a: m.special.modified_bessel_k1(a), A(array=BPOS)),
    _nograd("scaled_modified_bessel_k0", lambda m, a: m.special.scaled_modified_bessel_k0(a), A(array=BPOS)),
    _nograd("scaled_modified_bessel_k1", lambda m, a: m.special.scaled_modified_bessel_k1(a), A(array=BPOS)),
    _nograd("spherical_bessel_j0", lambda m, a: m.special.spherical_bessel_j0(a), A(array=BX)),
    *[
        _nograd(name, lambda m, x, n, name=name: getattr(m.special, name)(x, n), A(array=PX), A(array=N), rtol=1e-4, atol=1e-4)
        for name in (
            "chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v", "chebyshev_polynomial_w",
            "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
            "shifted_chebyshev_polynomial_w", "hermite_polynomial_h", "hermite_polynomial_he", "laguerre_polynomial_l",
            "legendre_polynomial_p",
        )
    ],  # fmt: skip
    _nograd("chebyshev_t_scalar_n", lambda m, x: m.special.chebyshev_polynomial_t(x, 3), A(array=PX)),
    _nograd("hermite_scalar_x", lambda m, n: m.special.hermite_polynomial_h(0.5, n), A(array=N)),
    _nograd("legendre_broadcast", lambda m, x, n: m.special.legendre_polynomial_p(x, n), A(array=[[0.1], [0.5], [-0.8]]),
            A(array=[0.0, 1.0, 2.0, 6.0])),
]

test_no_grad_ops_match_torch = oracle_tests(NO_GRAD)[0]


@pytest.mark.parametrize("name", ["bessel_j0", "modified_bessel_k1", "airy_ai", "spherical_bessel_j0"])
def test_no_grad_ops_do_not_require_grad(name):
    for m in (backprop, torch):
        x = m.tensor([0.5, 2.0], requires_grad=True)
        assert not getattr(m.special, name)(x).requires_grad
        assert not m.special.chebyshev_polynomial_t(x, 2).requires_grad


def test_float64_values_match_torch_on_wide_grids():
    x = np.concatenate([np.linspace(-30, 30, 301), [0.0, -0.0, 1e-300]])
    p = np.linspace(1e-6, 1 - 1e-6, 101)
    for name, arg in [("erfc", x), ("i0", x / 3)]:
        np.testing.assert_allclose(getattr(backprop, name)(backprop.tensor(arg)).numpy(), getattr(torch, name)(torch.tensor(arg)).numpy(), rtol=1e-12, atol=1e-300)
    for name, arg in [("erfcx", x), ("i0e", x), ("i1", x / 3), ("i1e", x), ("ndtr", x), ("log_ndtr", x), ("ndtri", p), ("entr", np.abs(x))]:
        ours = getattr(backprop.special, name)(backprop.tensor(arg)).numpy()
        theirs = getattr(torch.special, name)(torch.tensor(arg)).numpy()
        # (torch's ndtr flushes to 0 below -26 where SciPy keeps the tail: absolute 1e-16)
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-16, err_msg=name)


def test_special_points_match_torch():
    x = [0.0, -0.0, math.inf, -math.inf, math.nan, -1.0, 1.0]
    for mod, name in [("", "erfc"), ("", "i0"), ("special", "erfcx"), ("special", "i1e"), ("special", "ndtr"), ("special", "ndtri"),
                      ("special", "log_ndtr"), ("special", "entr"), ("special", "bessel_y0"), ("special", "modified_bessel_k0"),
                      ("special", "spherical_bessel_j0"), ("special", "airy_ai")]:  # fmt: skip
        ours = getattr(getattr(backprop, mod) if mod else backprop, name)(backprop.tensor(x, dtype=backprop.float64)).numpy()
        theirs = getattr(getattr(torch, mod) if mod else torch, name)(torch.tensor(x, dtype=torch.float64)).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, equal_nan=True, err_msg=name)
    a, y = [0.0, 0.0, 1.0, 2.0, 0.0], [math.nan, -1.0, 0.0, -1.0, 3.0]
    np.testing.assert_array_equal(
        backprop.special.xlog1py(backprop.tensor(a), backprop.tensor(y)).numpy(), torch.special.xlog1py(torch.tensor(a), torch.tensor(y)).numpy()
    )


def test_i1_gradient_at_zero_and_erfcx_gradient_formula():
    for m in (backprop, torch):
        x = m.tensor([0.0, 0.0], dtype=m.float64, requires_grad=True)
        (g1,) = m.autograd.grad(m.special.i1(x[:1]).sum() + m.special.i1e(x[1:]).sum(), x)
        assert g1.tolist() == [0.5, 0.5]
    x = backprop.tensor([-1.0, 0.5, 3.0], dtype=backprop.float64, requires_grad=True)
    (g,) = backprop.autograd.grad(backprop.special.erfcx(x).sum(), x)
    v = x.detach()
    np.testing.assert_allclose(g.numpy(), (2 * v * backprop.special.erfcx(v) - 2 / math.sqrt(math.pi)).numpy(), rtol=1e-14)


@pytest.mark.parametrize(
    "fn",
    [
        lambda m, t: m.erfc(t), lambda m, t: m.i0(t), lambda m, t: m.special.ndtr(t), lambda m, t: m.special.i1e(t),
        lambda m, t: m.special.bessel_j0(t), lambda m, t: m.special.xlog1py(t, t), lambda m, t: m.special.zeta(t + 2, t + 1),
        lambda m, t: m.special.chebyshev_polynomial_u(t, t), lambda m, t: m.mvlgamma(t + 1, 2),
    ],
)
@pytest.mark.parametrize("src", ["int64", "bool"])
def test_integer_and_bool_inputs_promote_like_torch(fn, src):
    arr = np.array([1, 2, 0], dtype=src) if src != "bool" else np.array([True, False, True])
    ours, theirs = fn(backprop, backprop.tensor(arr)), fn(torch, torch.tensor(arr))
    assert ours.dtype.name == str(theirs.dtype).replace("torch.", "") == "float32"
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6, equal_nan=True)


def test_float64_and_mixed_dtypes_promote_like_torch():
    d, f = np.array([0.5, 1.5]), np.array([0.5, 1.5], dtype=np.float32)
    for fn in (lambda m, a, b: m.special.xlog1py(a, b), lambda m, a, b: m.special.zeta(a + 1, b), lambda m, a, b: m.igamma(a, b),
               lambda m, a, b: m.special.hermite_polynomial_he(a, b)):  # fmt: skip
        ours = fn(backprop, backprop.tensor(f), backprop.tensor(d))
        theirs = fn(torch, torch.tensor(f), torch.tensor(d))
        assert ours.dtype == backprop.float64 and theirs.dtype == torch.float64
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name,args", [("erfc_", ()), ("i0_", ()), ("igamma_", (1.5,)), ("igammac_", (0.5,)), ("mvlgamma_", (2,))])
def test_inplace_methods_match_torch(name, args):
    vals = np.array([1.15, 1.5, 2.7], dtype=np.float32)
    ours, theirs = backprop.tensor(vals), torch.tensor(vals)
    targs = tuple(torch.tensor(a) if isinstance(a, float) else a for a in args)
    bargs = tuple(backprop.tensor(a) if isinstance(a, float) else a for a in args)
    assert getattr(ours, name)(*bargs) is ours and getattr(theirs, name)(*targs) is theirs
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5)


def test_aliases_and_out():
    s = backprop.special
    assert s.gammainc is backprop.igamma and s.gammaincc is backprop.igammac
    assert s.erfc is backprop.erfc and s.i0 is backprop.i0 and s.psi is backprop.digamma
    x = backprop.tensor([0.5, 1.5])
    out = backprop.empty(2)
    assert s.ndtr(x, out=out) is out
    np.testing.assert_allclose(out.numpy(), torch.special.ndtr(torch.tensor([0.5, 1.5])).numpy(), rtol=1e-6)
    assert backprop.igamma(x, x, out=out) is out
    assert s.chebyshev_polynomial_t(x, 2, out=out) is out
    np.testing.assert_allclose(out.numpy(), [-0.5, 3.5], rtol=1e-6)


@pytest.mark.parametrize(
    "call,exc",
    [
        (lambda m: m.igamma(m.tensor([1, 2]), m.tensor([1, 2])), NotImplementedError),
        (lambda m: m.igamma(2, 3), TypeError),
        (lambda m: m.igamma(m.ones(2), 2), TypeError),
        (lambda m: m.igammac(2.0, m.ones(2)), TypeError),
        (lambda m: m.special.zeta(2, 3), TypeError),
        (lambda m: m.special.xlog1py(2.0, 3.0), TypeError),
        (lambda m: m.special.chebyshev_polynomial_t(2, 3), TypeError),
        (lambda m: m.special.xlog1py(m.ones(2), m.ones(3)), RuntimeError),
        (lambda m: m.special.hermite_polynomial_h(m.ones(2), m.ones(3)), RuntimeError),
        (lambda m: m.mvlgamma(m.tensor([2.5]), 0), RuntimeError),
        (lambda m: m.erfc(0.5), TypeError),
        (lambda m: m.special.ndtri([0.5]), TypeError),
    ],
)
def test_errors_match_torch(call, exc):
    with pytest.raises(exc):
        call(torch)
    with pytest.raises(exc):
        call(backprop)


@pytest.mark.parametrize(
    "fn,message",
    [
        (lambda m, x: m.special.zeta(x, 2.0), "the derivative for 'zeta' is not implemented."),
        (lambda m, x: m.igamma(x, x), "the derivative for 'igamma: input' is not implemented."),
        (lambda m, x: m.igammac(x, x * 2), "the derivative for 'igammac: input' is not implemented."),
    ],
)
def test_missing_derivatives_raise_like_torch(fn, message):
    for m in (torch, backprop):
        x = m.tensor([1.5, 2.5], requires_grad=True)
        with pytest.raises(NotImplementedError, match=message.replace("(", r"\(")):
            fn(m, x).sum().backward()


# cupyx.scipy.special (CuPy 14) has no airy and no eval_* polynomials: on CUDA those ops run
# SciPy on host copies. The fake CUDA backend has all of SciPy, so hide them to test that path.
_CUPYX_LACKS = frozenset({"airy", "eval_chebyt", "eval_chebyu", "eval_hermite", "eval_hermitenorm", "eval_laguerre", "eval_legendre"})


class _CupyxLike:
    def __init__(self, module) -> None:
        self._module = module

    def __getattr__(self, name: str):
        if name in _CUPYX_LACKS:
            raise AttributeError(name)
        return getattr(self._module, name)


@pytest.fixture
def fake_cuda_device():
    """The fake CUDA device alone (this test emulates cupyx there; the device axis would add cpu)."""
    fake_cuda.install()
    try:
        yield "cuda"
    finally:
        fake_cuda.uninstall()


def test_functions_cupyx_lacks_run_on_host_copies(fake_cuda_device, monkeypatch):
    device = fake_cuda_device
    original = fake_cuda.FakeCUDABackend.scipy
    monkeypatch.setattr(fake_cuda.FakeCUDABackend, "scipy", lambda self, name: _CupyxLike(original(self, name)))
    x = np.array([-1.5, -0.2, 0.4, 2.0])
    n = np.array([0.0, 3.0, 5.0, 2.0])
    for name in ("chebyshev_polynomial_t", "shifted_chebyshev_polynomial_w", "hermite_polynomial_he", "legendre_polynomial_p",
                 "laguerre_polynomial_l"):  # fmt: skip
        ours = getattr(backprop.special, name)(backprop.tensor(x, device=device), backprop.tensor(n, device=device))
        assert ours.device.type == "cuda"
        np.testing.assert_allclose(ours.cpu().numpy(), getattr(torch.special, name)(torch.tensor(x), torch.tensor(n)).numpy(), rtol=1e-12)
    ai = backprop.special.airy_ai(backprop.tensor(x, device=device))
    assert ai.device.type == "cuda"
    np.testing.assert_allclose(ai.cpu().numpy(), torch.special.airy_ai(torch.tensor(x)).numpy(), rtol=1e-12)


def test_bessel_float64_closer_to_mpmath_than_torch():
    """op_db's float64 bessel_j0/bessel_y1 samples differ from torch by ~2e-7 next to the zeros
    (x ~ 5.4-5.6): there torch's float64 values are off, SciPy's agree with mpmath."""
    import mpmath

    x = np.array([-5.4215280659972755, 5.576059452216908, -5.439777184204883])
    for name, ref in [("bessel_j0", lambda v: mpmath.besselj(0, v)), ("bessel_y1", lambda v: mpmath.bessely(1, v))]:
        pts = x if name == "bessel_j0" else x[1:2]
        exact = np.array([float(ref(mpmath.mpf(float(v)))) for v in pts])
        ours = getattr(backprop.special, name)(backprop.tensor(pts)).numpy()
        theirs = getattr(torch.special, name)(torch.tensor(pts)).numpy()
        assert np.max(np.abs(ours - exact)) < 1e-15
        assert np.max(np.abs(theirs - exact)) > 1e-7


def test_scipy_loads_only_when_an_op_needs_it():
    """SciPy is required but imported lazily: a training step of plain ops never loads it."""
    import subprocess
    import sys

    code = (
        "import sys, backprop; x = backprop.ones(3, requires_grad=True); (x * 2).exp().sum().backward(); "
        "print('scipy' in sys.modules); backprop.special.i0e(x); print('scipy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
