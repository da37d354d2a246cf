"""bfloat16 against torch: ops that torch computes in float32 and rounds once (norms, softmax,
pooling, interpolation, attention, addmm family, Python numbers in mul/div) must give torch's
bfloat16 values, and ops that test "is floating" must accept bfloat16 (ml_dtypes' dtype kind "V")."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import backprop

BF16_TOL = {"rtol": 1e-2, "atol": 1e-2}  # about two bfloat16 ulps; the old paths were off by more


def _pair(device: str, *shapes, seed: int = 0, scale: float = 3.0, grad: bool = True):
    """The same bfloat16 values as backprop tensors (on ``device``) and torch tensors."""
    rng = np.random.default_rng(seed)
    ours, theirs = [], []
    for shape in shapes:
        a = (rng.standard_normal(shape) * scale).astype(np.float32)
        t = torch.tensor(a).bfloat16().requires_grad_(grad)
        b = backprop.tensor(t.detach().float().numpy(), device=device).bfloat16().requires_grad_(grad)
        ours.append(b)
        theirs.append(t)
    return ours, theirs


def _np(t) -> np.ndarray:
    return t.detach().float().cpu().numpy()


def _check(fn, device: str, *shapes, seed: int = 0, exact: bool = False, grad: bool = True, **tol):
    """``fn(module, *tensors)`` on both frameworks: bfloat16 outputs, values, input gradients."""
    ours, theirs = _pair(device, *shapes, seed=seed, grad=grad)
    out_b, out_t = fn(backprop, *ours), fn(torch, *theirs)
    assert out_b.dtype is backprop.bfloat16 and out_t.dtype is torch.bfloat16
    tol = tol or BF16_TOL
    if exact:
        np.testing.assert_array_equal(_np(out_b), _np(out_t))
    else:
        np.testing.assert_allclose(_np(out_b), _np(out_t), **tol)
    if grad:
        cot = np.random.default_rng(seed + 1).standard_normal(out_t.shape).astype(np.float32)
        ct = torch.tensor(cot).bfloat16()
        out_t.backward(ct)
        out_b.backward(backprop.tensor(_np(ct), device=device).bfloat16())
        for b, t in zip(ours, theirs):
            assert b.grad.dtype is backprop.bfloat16
            np.testing.assert_allclose(_np(b.grad), _np(t.grad), **tol)


@pytest.mark.parametrize(
    "name, fn, shapes",
    [
        ("softmax", lambda m, x: m.softmax(x, -1), [(4, 7)]),
        ("log_softmax", lambda m, x: m.log_softmax(x, 1), [(3, 6, 2)]),
        ("layer_norm", lambda m, x, w, b: m.nn.functional.layer_norm(x, (5,), w, b), [(4, 5), (5,), (5,)]),
        ("group_norm", lambda m, x: m.nn.functional.group_norm(x, 2), [(3, 4, 5)]),
        ("batch_norm", lambda m, x: m.nn.functional.batch_norm(x, None, None, training=True), [(6, 3, 4)]),
        ("avg_pool2d", lambda m, x: m.nn.functional.avg_pool2d(x, 3, 2, 1), [(1, 2, 7, 7)]),
        ("max_pool2d", lambda m, x: m.nn.functional.max_pool2d(x, 3, 2, ceil_mode=True), [(1, 2, 6, 7)]),
        ("bilinear", lambda m, x: m.nn.functional.interpolate(x, (7, 9), mode="bilinear", align_corners=True), [(1, 2, 4, 5)]),
        ("sdpa", lambda m, q, k, v: m.nn.functional.scaled_dot_product_attention(q, k, v), [(2, 3, 8), (2, 5, 8), (2, 5, 8)]),
        ("addcdiv", lambda m, a, b, c: m.addcdiv(a, b, c.abs() + 1, value=3.14), [(4, 5), (4, 5), (4, 5)]),
        ("addmm", lambda m, a, b, c: m.addmm(a, b, c, beta=0.6, alpha=0.2), [(4, 5), (4, 6), (6, 5)]),
    ],
)
def test_float32_computed_ops_match_torch(device, name, fn, shapes):
    _check(fn, device, *shapes)


def test_python_numbers_are_float32_in_mul_and_div(device):
    # torch keeps a Python number in float32 (3.14, not bfloat16's 3.140625): bit-exact results
    _check(lambda m, x: x * 3.14, device, (400,), exact=True)
    _check(lambda m, x: x / 3.14, device, (400,), exact=True)
    _check(lambda m, x: 3.14 / x, device, (400,), exact=True, grad=False)
    _check(lambda m, x: m.addbmm(x[0, :4, :6], x[:, :4], x[:, 4:10].mT), device, (3, 10, 10), exact=True, grad=False)


def test_floating_checks_accept_bfloat16(device):
    (x,), (t,) = _pair(device, (3, 5), grad=False)
    x[1, 2] = float("nan")
    t[1, 2] = float("nan")
    np.testing.assert_array_equal(_np(backprop.nansum(x, 1)), _np(torch.nansum(t, 1)))
    np.testing.assert_array_equal(_np(backprop.sort(x, 1, descending=True)[0]), _np(torch.sort(t, 1, descending=True)[0]))
    (x,), (t,) = _pair(device, (3, 5), grad=False)
    np.testing.assert_array_equal(_np(backprop.topk(x, 2).values), _np(torch.topk(t, 2).values))
    np.testing.assert_array_equal(_np(backprop.frexp(x).mantissa), _np(torch.frexp(t).mantissa))
    np.testing.assert_allclose(_np(backprop.dist(x, x * 2)), _np(torch.dist(t, t * 2)), **BF16_TOL)
    np.testing.assert_allclose(_np(backprop.linalg.matrix_norm(x)), _np(torch.linalg.matrix_norm(t)), **BF16_TOL)
    target = backprop.softmax(x, 1)
    loss = backprop.nn.functional.cross_entropy(x, target)  # probability targets in bfloat16
    theirs = torch.nn.functional.cross_entropy(t, torch.softmax(t, 1))
    np.testing.assert_allclose(_np(loss), _np(theirs), **BF16_TOL)
    out, idx = backprop.nn.functional.max_pool1d(x[None], 3, 2, return_indices=True)
    out_t, idx_t = torch.nn.functional.max_pool1d(t[None], 3, 2, return_indices=True)
    np.testing.assert_array_equal(_np(out), _np(out_t))
    np.testing.assert_array_equal(idx.cpu().numpy(), idx_t.numpy())


def test_logspace_rounds_like_torch():
    for start, end, steps, base in ((4.3, -3, 2, 10.0), (-2.2, 7.7, 11, 3.3), (1.1, 9.3, 37, 2.5)):
        ours = backprop.logspace(start, end, steps, base=base, dtype=backprop.bfloat16)
        theirs = torch.logspace(start, end, steps, base=base, dtype=torch.bfloat16)
        np.testing.assert_array_equal(_np(ours), _np(theirs))


def test_layer_norm_statistics_are_bfloat16(device):
    (x, w), (t, tw) = _pair(device, (2, 3, 4), (4,), grad=False)
    ours = backprop.native_layer_norm(x, [4], w, w, 1e-5)
    theirs = torch.native_layer_norm(t, [4], tw, tw, 1e-5)
    for o, e in zip(ours, theirs):
        assert o.dtype is backprop.bfloat16
        np.testing.assert_allclose(_np(o), _np(e), **BF16_TOL)


def test_bfloat16_kernels_round_like_torch(device):
    # floor division rounds each step to bfloat16 (NumPy's floor_divide on bfloat16 differs)
    (a, b), (ta, tb) = _pair(device, (4000,), (4000,), seed=5, grad=False)
    np.testing.assert_array_equal(_np(backprop.floor_divide(a, b)), _np(torch.floor_divide(ta, tb)))
    np.testing.assert_array_equal(_np(backprop.div(a, b, rounding_mode="trunc")), _np(torch.div(ta, tb, rounding_mode="trunc")))
    # running product in float32, each output rounded
    (x,), (t,) = _pair(device, (20, 60), seed=6, scale=1.0, grad=False)
    np.testing.assert_array_equal(_np(backprop.cumprod(x, 1)), _np(torch.cumprod(t, 1)))
    # histc's bin index in bfloat16 arithmetic
    np.testing.assert_array_equal(_np(backprop.histc(x, 7, -2, 2)), _np(torch.histc(t, 7, -2, 2)))
    # xlog1py rounds log1p(y) and the product
    np.testing.assert_array_equal(_np(backprop.special.xlog1py(x, x.abs())), _np(torch.special.xlog1py(t, t.abs())))


@pytest.mark.parametrize(
    "name, fn, shapes",
    [
        ("vector_norm", lambda m, x: m.linalg.vector_norm(x, 6, dim=1), [(3, 40)]),
        ("instance_norm", lambda m, x, w: m.nn.functional.instance_norm(x, weight=w, bias=w, eps=0.5), [(3, 2, 3, 4), (2,)]),
        ("remainder", lambda m, a, b: m.remainder(a, b), [(5, 10, 5), (10, 5)]),
        ("addcmul", lambda m, a, b, c: m.addcmul(a, b, c, value=3.14), [(5, 5), (5, 1), (1, 5)]),
    ],
)
def test_bfloat16_gradients_round_like_torch(device, name, fn, shapes):
    _check(fn, device, *shapes, seed=3)



@pytest.mark.parametrize("name", ["silu", "mish", "hardswish", "elu", "selu", "sigmoid", "rsqrt"])
def test_activations_round_once(device, name):
    def fn(m, x):
        if name in ("sigmoid", "rsqrt"):
            return getattr(m, name)(x.abs() + 0.5 if name == "rsqrt" else x)
        return getattr(m.nn.functional, name)(x)

    # bit-exact (rsqrt: torch's kernel differs from 1/sqrt in float32 in ~0.03% of cases)
    _check(fn, device, (300,), seed=9, exact=name != "rsqrt", grad=False)
    _check(fn, device, (40,), seed=10)
