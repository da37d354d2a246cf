"""Complex dtypes (and bfloat16) against torch: promotion, creation, printing, the complex ops
and their gradients under torch's convention (conjugate Wirtinger: for a real loss L of z,
the gradient is dL/dx + i dL/dy)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import backprop
from backprop import _dtype
from oracle import Case, Input, oracle_tests


def _c(name, fn, *inputs, **kw):
    return Case(name, fn, list(inputs), **kw)


I = Input


def _z(m, a, b):
    return m.complex(a, b)


def _out(m, z):
    """A complex result as real numbers (the oracle's losses are real)."""
    return m.view_as_real(z)


# Each case builds complex tensors from real leaves with ``complex`` and returns real values, so
# the oracle compares values and the gradients reaching the real leaves with torch's.
CASES = [
    _c("complex_polar", lambda m, a, b: _out(m, m.polar(a, b)), I((3, 4), "positive"), I((3, 4))),
    _c("polar_negative_abs", lambda m, a, b: _out(m, m.polar(a, b)), I((3, 4)), I((3, 4)), gradcheck=False),
    _c("complex_broadcast", lambda m, a, b: _out(m, m.complex(a, b)), I((3, 4)), I((4,))),
    _c("mul", lambda m, a, b, c, d: _out(m, _z(m, a, b) * _z(m, c, d)), I((3, 4)), I((3, 4)), I((4,)), I((4,))),
    _c("div", lambda m, a, b, c, d: _out(m, _z(m, a, b) / _z(m, c, d)), I((3, 4)), I((3, 4)),
       I((4,), "nonzero"), I((4,), "nonzero")),
    _c("add_sub_neg", lambda m, a, b, c: _out(m, -(_z(m, a, b) + c) - 2j * c), I((3, 4)), I((3, 4)), I((3, 4))),
    _c("mul_real_tensor", lambda m, a, b, c: _out(m, _z(m, a, b) * c), I((3, 4)), I((3, 4)), I((3, 4))),
    _c("mul_python_complex", lambda m, a, b: _out(m, _z(m, a, b) * (1.5 - 2j) + 1j), I((3,)), I((3,))),
    _c("real_times_python_complex", lambda m, a: _out(m, a * (0.5 + 1j)), I((3, 4))),
    _c("matmul", lambda m, a, b, c, d: _out(m, _z(m, a, b) @ _z(m, c, d)), I((2, 3, 4)), I((2, 3, 4)), I((4, 5)), I((4, 5))),
    _c("matmul_vec", lambda m, a, b, c, d: _out(m, _z(m, a, b) @ _z(m, c, d)), I((3, 4)), I((3, 4)), I((4,)), I((4,))),
    _c("mH", lambda m, a, b: _out(m, _z(m, a, b).mH @ _z(m, a, b)), I((3, 4)), I((3, 4))),
    _c("exp_log", lambda m, a, b: _out(m, m.exp(_z(m, a, b)) + m.log(_z(m, b, a))), I((3, 4)), I((3, 4), "positive")),
    _c("trig", lambda m, a, b: _out(m, m.sin(_z(m, a, b)) * m.cos(_z(m, b, a)) + m.tanh(_z(m, a, a))),
       I((3, 4), "unit"), I((3, 4), "unit")),
    _c("sqrt_reciprocal", lambda m, a, b: _out(m, m.sqrt(_z(m, a, b)) + m.reciprocal(_z(m, a, b))),
       I((3, 4), "positive"), I((3, 4), "positive")),
    _c("pow", lambda m, a, b: _out(m, _z(m, a, b) ** 2 + _z(m, a, b) ** 2.5), I((3, 4), "positive"), I((3, 4))),
    _c("sum_mean", lambda m, a, b: _out(m, (_z(m, a, b) ** 2).sum(0) + _z(m, a, b).mean(0)), I((3, 4)), I((3, 4))),
    _c("abs", lambda m, a, b: m.abs(_z(m, a, b)), I((3, 4), "nonzero"), I((3, 4))),
    _c("angle", lambda m, a, b: m.angle(_z(m, a, b)), I((3, 4), "nonzero"), I((3, 4))),
    _c("angle_real", lambda m, a: m.angle(a), I((3, 4)), gradcheck=False),
    _c("real_imag", lambda m, a, b: (m.real(_z(m, a, b) ** 2), m.imag(_z(m, a, b) ** 2), (_z(m, a, b) ** 3).imag),
       I((3, 4)), I((3, 4))),
    _c("conj", lambda m, a, b: _out(m, m.conj(_z(m, a, b)) * _z(m, b, a) + _z(m, a, b).conj_physical()), I((3, 4)), I((3, 4))),
    # (no create_graph check: torch's own first derivative has its lazy negative bit set)
    _c("resolve", lambda m, a, b: _out(m, m.resolve_neg(m.resolve_conj(_z(m, a, b).conj()))), I((3, 4)), I((3, 4)),
       gradcheck=False),
    _c("view_as_complex", lambda m, a: _out(m, m.view_as_complex(a) ** 2), I((3, 4, 2)), noncontig=False),
    _c("cast_to_complex", lambda m, a: _out(m, a.to(m.complex128) * (1 + 1j)), I((3, 4))),
    # (no gradcheck: float64 -> complex64 rounds)
    _c("sgn", lambda m, a, b: _out(m, m.sgn(_z(m, a, b))), I((3, 4), "nonzero"), I((3, 4))),
    _c("sigmoid", lambda m, a, b: _out(m, m.sigmoid(_z(m, a, b))), I((3, 4)), I((3, 4))),
    _c("var_std", lambda m, a, b: (m.var(_z(m, a, b), 1), _z(m, a, b).std(0, correction=0)), I((3, 4)), I((3, 4))),
    _c("prod_cumprod", lambda m, a, b: _out(m, _z(m, a, b).prod(1) + _z(m, a, b).cumprod(1)[:, -1]), I((3, 4), "nonzero"),
       I((3, 4))),
    _c("einsum", lambda m, a, b, c, d: _out(m, m.einsum("ij,jk->ik", _z(m, a, b), _z(m, c, d))), I((2, 3)), I((2, 3)),
       I((3, 4)), I((3, 4))),
    _c("linear", lambda m, a, b, c, d: _out(m, m.nn.functional.linear(_z(m, a, b), _z(m, c, d))), I((2, 3)), I((2, 3)),
       I((4, 3)), I((4, 3))),
    _c("conv2d", lambda m, a, b, c, d: _out(m, m.nn.functional.conv2d(_z(m, a, b), _z(m, c, d), padding=1)),
       I((1, 2, 4, 4)), I((1, 2, 4, 4)), I((3, 2, 3, 3)), I((3, 2, 3, 3)), noncontig=False),
    _c("cfloat_cdouble", lambda m, a: _out(m, a.cfloat() * 1j + a.double().cdouble().cfloat()), I((3, 4)), gradcheck=False),
]

test_matches_torch, test_matches_torch_noncontiguous, test_create_graph_matches_torch, test_gradcheck, _ = oracle_tests(CASES)

# ---- complex elementwise / reductions / misc ops (asinh, acosh, atanh, logaddexp, sinc, float_power,
# logsumexp, logcumsumexp, unfold, torch.masked): values and gradients under torch's convention.
_ONES = np.array([[True, False, True, True], [True, True, False, True], [False, True, True, True]])
MISC_CASES = [
    _c("asinh_acosh_atanh", lambda m, a, b: _out(m, m.asinh(_z(m, a, b)) + m.acosh(_z(m, b, a)) + m.atanh(_z(m, a, b))),
       I((3, 4), "unit"), I((3, 4), "unit")),
    _c("logaddexp", lambda m, a, b, c, d: _out(m, m.logaddexp(_z(m, a, b), _z(m, c, d))), I((3, 4)), I((3, 4)), I((4,)),
       I((4,))),
    _c("sinc", lambda m, a, b: _out(m, m.sinc(_z(m, a, b))), I((3, 4)), I((3, 4))),
    _c("float_power", lambda m, a, b, c: _out(m, m.float_power(_z(m, a, b), c) + m.float_power(c, 0.5 + 1j)),
       I((3, 4), "positive"), I((3, 4)), I((3, 4), "positive")),
    _c("logsumexp", lambda m, a, b: _out(m, m.logsumexp(_z(m, a, 3 * b), 1) + m.logsumexp(_z(m, a, b), (0, 1))),
       I((3, 4)), I((3, 4))),
    # (no create_graph check: torch's own first derivative has its lazy negative bit set)
    _c("logcumsumexp", lambda m, a, b: _out(m, m.logcumsumexp(_z(m, a, b), 1)), I((3, 4)), I((3, 4)), gradcheck=False),
    _c("unfold", lambda m, a, b: _out(m, m.nn.functional.unfold(_z(m, a, b), 2, padding=1)), I((1, 2, 3, 3)),
       I((1, 2, 3, 3)), noncontig=False),
    _c("masked_mean_var_std", lambda m, a, b, k: (_out(m, m.masked.mean(_z(m, a, b), 1, mask=k)),
                                                  _out(m, m.masked.var(_z(m, a, b), 1, mask=k)),
                                                  _out(m, m.masked.std(_z(m, a, b), 0, mask=k))),
       I((3, 4)), I((3, 4)), I(array=_ONES)),
    _c("masked_logsumexp_normalize", lambda m, a, b, k: (_out(m, m.masked.logsumexp(_z(m, a, b), 1, mask=k)),
                                                         _out(m, m.masked.normalize(_z(m, a, b), 2.0, 1, mask=k))),
       I((3, 4)), I((3, 4)), I(array=_ONES)),
]
(test_misc_matches_torch, test_misc_matches_torch_noncontiguous, test_misc_create_graph_matches_torch, test_misc_gradcheck,
 _) = oracle_tests(MISC_CASES)


def test_linspace_logspace_complex():
    for fn in ("linspace", "logspace"):
        for args, kw in [((4.3, -3, 1), {"dtype": "complex64"}), ((0, 1.2, 5), {"dtype": "complex128"}),
                         ((1 + 1j, 2 + 3j, 4), {}), ((1 + 1j, -2j, 3), {"dtype": "complex128"})]:
            ours = getattr(backprop, fn)(*args, **{k: getattr(backprop, v) for k, v in kw.items()})
            theirs = getattr(torch, fn)(*args, **{k: getattr(torch, v) for k, v in kw.items()})
            assert _name(ours.dtype) == _name(theirs.dtype)
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5)
        with pytest.raises(RuntimeError, match="can't be safely cast"):
            getattr(backprop, fn)(1 + 1j, 2, 3, dtype=backprop.float32)


def test_complex_misc_dtypes():
    z = backprop.tensor([1 + 2j, -0.5j], dtype=backprop.complex64)
    assert backprop.float_power(z, 2).dtype == backprop.complex128
    assert backprop.float_power(backprop.tensor([2.0]), 1j).dtype == backprop.complex128
    with pytest.raises(NotImplementedError):
        backprop.logaddexp2(z, z)
    assert backprop.linalg.vector_norm(z, dtype=backprop.complex128).dtype == backprop.float64


def _name(d) -> str:
    return str(d).replace("torch.", "").replace("backprop.", "")


NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64", "complex64",
         "complex128", "bfloat16"]


def test_promote_types_matches_torch():
    for a in NAMES:
        for b in NAMES:
            ours = backprop.promote_types(getattr(backprop, a), getattr(backprop, b))
            assert _name(ours) == _name(torch.promote_types(getattr(torch, a), getattr(torch, b))), (a, b)


@pytest.mark.parametrize(
    "tensor_dtype,scalar",
    [
        (dtype, scalar)
        for dtype in ["int64", "float16", "float32", "float64", "complex64", "complex128", "bfloat16"]
        for scalar in [2, 2.5, 1 + 2j]
        if not (dtype == "float16" and isinstance(scalar, complex))  # torch: complex32, which NumPy lacks
    ],
)
def test_result_type_with_python_numbers(tensor_dtype, scalar):
    ours = backprop.result_type(backprop.ones(2, dtype=getattr(backprop, tensor_dtype)), scalar)
    theirs = torch.result_type(torch.ones(2, dtype=getattr(torch, tensor_dtype)), scalar)
    assert _name(ours) == _name(theirs)


def test_zero_dim_complex_with_float64_tensor():
    ours = backprop.ones(3, dtype=backprop.float64) + backprop.tensor(1j)
    theirs = torch.ones(3, dtype=torch.float64) + torch.tensor(1j)
    assert _name(ours.dtype) == _name(theirs.dtype) == "complex128"


def test_dtype_attributes():
    for name in ("complex64", "complex128", "float32", "bfloat16", "int64"):
        ours, theirs = getattr(backprop, name), getattr(torch, name)
        assert ours.is_complex == theirs.is_complex
        assert ours.is_floating_point == theirs.is_floating_point
        assert ours.is_signed == theirs.is_signed
        assert ours.itemsize == theirs.itemsize
    assert backprop.cfloat is backprop.complex64 and backprop.cdouble is backprop.complex128


def test_default_complex_follows_default_float():
    assert backprop.tensor([1j]).dtype is backprop.complex64
    assert backprop.tensor([1, 2.5j]).dtype is backprop.complex64
    assert backprop.full((2,), 1j).dtype is backprop.complex64
    backprop.set_default_dtype(backprop.float64)
    try:
        assert backprop.tensor([1j]).dtype is backprop.complex128
        assert (backprop.ones(2, dtype=backprop.int64) * 1j).dtype is backprop.complex128
    finally:
        backprop.set_default_dtype(backprop.float32)


def test_tensor_predicates():
    z = backprop.tensor([1 + 2j])
    assert z.is_complex() and not z.is_floating_point()
    assert not backprop.tensor([1.0]).is_complex()
    assert not z.is_conj() and not z.conj().is_conj() and not z.is_neg()
    x = backprop.tensor([1.0, -2.0])
    assert x.conj() is x and x.real is x


@pytest.mark.parametrize("values", [[1 + 2j, 3.5 - 1j], [[1e-5 + 2j, 3 - 1j], [0, -0.5j]], [1j], 2 + 1j])
@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_repr_matches_torch(values, dtype):
    ours = repr(backprop.tensor(values, dtype=getattr(backprop, dtype)))
    assert ours.replace("backprop.", "torch.") == repr(torch.tensor(values, dtype=getattr(torch, dtype)))


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_complex_leaf_gradients_match_torch(dtype, device):
    """Complex leaves: the gradient reaching them is torch's (conjugate Wirtinger) one."""
    rng = np.random.default_rng(0)
    zs = (rng.standard_normal((2, 3)) + 1j * rng.standard_normal((2, 3))).astype(dtype)
    ws = (rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))).astype(dtype)

    def f(m, z, w):
        y = m.exp(z) @ w / (z.abs() + 1)[:, :1] * z.conj()
        return (y.abs() ** 2).sum() + m.angle(y).sum() + y.real.sum() * 3 - y.imag.mean()

    tz, tw = torch.tensor(zs, requires_grad=True), torch.tensor(ws, requires_grad=True)
    bz = backprop.tensor(zs, requires_grad=True, device=device)
    bw = backprop.tensor(ws, requires_grad=True, device=device)
    f(torch, tz, tw).backward()
    f(backprop, bz, bw).backward()
    tol = 1e-4 if dtype == "complex64" else 1e-10
    np.testing.assert_allclose(bz.grad.cpu().numpy(), tz.grad.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(bw.grad.cpu().numpy(), tw.grad.numpy(), rtol=tol, atol=tol)
    assert bz.grad.dtype.name == dtype


def test_backward_of_complex_scalar_raises():
    z = backprop.tensor(1 + 1j, requires_grad=True)
    with pytest.raises(RuntimeError, match="real scalar"):
        (z * 2).backward()


def test_view_as_real_shares_storage():
    z = backprop.tensor([1 + 2j, 3 - 4j])
    r = backprop.view_as_real(z)
    assert r.tolist() == [[1.0, 2.0], [3.0, -4.0]]
    z.real = backprop.tensor([5.0, 6.0])
    assert z.tolist() == [5 + 2j, 6 - 4j]


def test_complex_to_real_cast_warns_and_keeps_real_part():
    z = backprop.tensor([1 + 2j])
    with pytest.warns(UserWarning, match="discards the imaginary part"):
        assert z.float().tolist() == [1.0]


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.imag(m.ones(2)),
        lambda m: m.view_as_real(m.ones(2)),
        lambda m: m.view_as_complex(m.ones(2, 3)),
        lambda m: m.view_as_complex(m.ones(2, 4)[:, ::2]),
        lambda m: m.view_as_complex(m.ones(2, dtype=m.int64)),
        lambda m: m.complex(m.ones(2), m.ones(2, dtype=m.float64)),
        lambda m: m.complex(m.ones(2, dtype=m.int64), m.ones(2, dtype=m.int64)),
        lambda m: m.polar(m.ones(2), m.ones(3)),
        lambda m: m.maximum(m.ones(2, dtype=m.complex64), m.ones(2, dtype=m.complex64)),
    ],
)
def test_errors_match_torch_types(call):
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(type(theirs.value)):
        call(backprop)


# ---------------------------------------------------------------------------- bfloat16
def test_bfloat16_values_and_promotion():
    x = backprop.tensor([1.0, 2.5, 3.14159]).bfloat16()
    t = torch.tensor([1.0, 2.5, 3.14159]).bfloat16()
    assert x.dtype is backprop.bfloat16 and x.is_floating_point()
    np.testing.assert_array_equal(x.float().numpy(), t.float().numpy())
    assert (x + backprop.ones(3, dtype=backprop.float16)).dtype is backprop.float32
    assert (x * backprop.ones(3)).dtype is backprop.float32
    assert (x * backprop.ones(3, dtype=backprop.int64)).dtype is backprop.bfloat16
    assert (x * 2.5).dtype is backprop.bfloat16
    assert repr(x).replace("backprop.", "torch.") == repr(t)


def test_bfloat16_finfo_matches_torch():
    ours, theirs = backprop.finfo(backprop.bfloat16), torch.finfo(torch.bfloat16)
    for attr in ("bits", "eps", "max", "min", "tiny", "resolution"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr


def test_bfloat16_gradients_match_torch():
    a = np.array([0.5, -1.25, 2.0], dtype=np.float32)
    xb = backprop.tensor(a, dtype=backprop.bfloat16, requires_grad=True)
    xt = torch.tensor(a, dtype=torch.bfloat16, requires_grad=True)
    (backprop.exp(xb) * xb).sum().backward()
    (torch.exp(xt) * xt).sum().backward()
    assert xb.grad.dtype is backprop.bfloat16
    np.testing.assert_allclose(xb.grad.float().numpy(), xt.grad.float().numpy(), rtol=2e-2)


def test_bfloat16_missing_ml_dtypes_is_a_clear_error(monkeypatch):
    import sys

    monkeypatch.setattr(_dtype, "_bfloat16", None)
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)
    with pytest.raises(ImportError, match="ml_dtypes"):
        _dtype.get_bfloat16()


def test_complex_dot_vdot_and_bfloat16_matmul_match_torch():
    rng = np.random.default_rng(3)
    a = (rng.standard_normal(4) + 1j * rng.standard_normal(4)).astype(np.complex128)
    b = (rng.standard_normal(4) + 1j * rng.standard_normal(4)).astype(np.complex128)
    for op in ("dot", "vdot", "inner"):
        ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        ba, bb = backprop.tensor(a, requires_grad=True), backprop.tensor(b, requires_grad=True)
        out_t, out_b = getattr(torch, op)(ta, tb), getattr(backprop, op)(ba, bb)
        np.testing.assert_allclose(out_b.item(), out_t.item())
        out_t.abs().backward()
        out_b.abs().backward()
        np.testing.assert_allclose(ba.grad.numpy(), ta.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(bb.grad.numpy(), tb.grad.numpy(), rtol=1e-10)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    ours = backprop.tensor(x).bfloat16() @ backprop.tensor(x.T.copy()).bfloat16()
    theirs = torch.tensor(x).bfloat16() @ torch.tensor(x.T.copy()).bfloat16()
    assert ours.dtype is backprop.bfloat16
    np.testing.assert_allclose(ours.float().numpy(), theirs.float().numpy(), rtol=2e-2, atol=2e-2)


def test_random_complex_dtypes():
    z = backprop.randn(2000, dtype=backprop.complex64)
    assert z.dtype is backprop.complex64 and z.shape == (2000,)
    assert abs(z.real.var().item() - 0.5) < 0.1 and abs(z.imag.var().item() - 0.5) < 0.1  # torch: variance 1/2 each
    u = backprop.rand_like(z)
    assert u.dtype is backprop.complex64 and 0 <= u.real.min().item() and u.imag.max().item() < 1


def test_bfloat16_ops_keep_bfloat16():
    x = backprop.randn(1, 2, 5, 5).bfloat16()
    w = backprop.randn(3, 2, 3, 3).bfloat16()
    assert backprop.nn.functional.conv2d(x, w).dtype is backprop.bfloat16
    assert backprop.nn.functional.linear(x.reshape(10, 5), w.reshape(18, 3)[:4, :].repeat(1, 2)[:, :5]).dtype is backprop.bfloat16
    assert backprop.einsum("ij,jk->ik", x.reshape(10, 5), x.reshape(5, 10)).dtype is backprop.bfloat16
    t = torch.tensor(x.float().numpy()).bfloat16()
    np.testing.assert_allclose(x.var().float().item(), t.var().float().item(), rtol=1e-2)


def test_complex_norms_and_linspace_match_torch():
    rng = np.random.default_rng(4)
    z = (rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))).astype(np.complex128)
    for kw in ({}, {"ord": 1, "dim": 1}, {"ord": float("inf"), "dim": 0}, {"dim": 1, "keepdim": True}):
        tz, bz = torch.tensor(z, requires_grad=True), backprop.tensor(z, requires_grad=True)
        out_t, out_b = torch.linalg.vector_norm(tz, **kw), backprop.linalg.vector_norm(bz, **kw)
        assert out_b.dtype is backprop.float64
        np.testing.assert_allclose(out_b.detach().numpy(), out_t.detach().numpy(), rtol=1e-10)
        out_t.sum().backward()
        out_b.sum().backward()
        np.testing.assert_allclose(bz.grad.numpy(), tz.grad.numpy(), rtol=1e-8, atol=1e-12)
    ours = backprop.linspace(-2.0, -3, 7, dtype=backprop.complex64)
    np.testing.assert_allclose(ours.numpy(), torch.linspace(-2.0, -3, 7, dtype=torch.complex64).numpy())


def test_bfloat16_reductions_accumulate_in_float32():
    x = np.random.default_rng(5).uniform(0.5, 2.0, (64, 64)).astype(np.float32)
    ours, theirs = backprop.tensor(x).bfloat16(), torch.tensor(x).bfloat16()
    for name, kw in (("sum", {}), ("mean", {"dim": 1}), ("cumsum", {"dim": 0})):
        a, b = getattr(ours, name)(**kw), getattr(theirs, name)(**kw)
        assert a.dtype is backprop.bfloat16
        np.testing.assert_array_equal(a.float().numpy(), b.float().numpy())


def test_save_load_complex_and_bfloat16(tmp_path):
    pytest.importorskip("safetensors")
    from safetensors.torch import load_file

    z = backprop.tensor([1 + 2j, -3j])
    b = backprop.tensor([1.5, -2.25]).bfloat16()
    path = tmp_path / "x.pt"
    backprop.save({"z": z, "b": b, "dtype": backprop.bfloat16}, path)
    out = backprop.load(path)
    assert out["dtype"] is backprop.bfloat16 and out["b"].dtype is backprop.bfloat16
    assert out["z"].tolist() == z.tolist() and out["b"].float().tolist() == [1.5, -2.25]
    backprop.save({"b": b}, path)  # a state_dict: readable by torch's safetensors loader
    assert load_file(str(path))["b"].dtype == torch.bfloat16


def test_logcumsumexp_complex_gradcheck():
    """gradcheck and gradgradcheck through real leaves (the oracle's create_graph check cannot read
    torch's negative-bit first derivative for this op)."""
    rng = np.random.default_rng(1)
    a, b = (backprop.tensor(rng.standard_normal((3, 4)), requires_grad=True) for _ in range(2))

    def f(a, b):
        return backprop.view_as_real(backprop.logcumsumexp(backprop.complex(a, b), 1))

    assert backprop.autograd.gradcheck(f, (a, b))
    assert backprop.autograd.gradgradcheck(f, (a, b))
