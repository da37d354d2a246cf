"""The numba-compiled CPU kernels (``_backend/cpu_kernels.py``) against the NumPy path, the
float64 references of ``kernel_reference.py`` and torch: float32 and float64, odd sizes, sizes on
both sides of ``PARALLEL_MIN``, non-contiguous inputs, and gradients through the public ops
(also under ``create_graph``). Skipped where numba is not installed."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")
torch = pytest.importorskip("torch")

import backprop  # noqa: E402
import kernel_reference as ref  # noqa: E402
from backprop._backend import CPU  # noqa: E402
from backprop._backend import cpu_kernels as K  # noqa: E402

F = backprop.nn.functional
TF = torch.nn.functional
DTYPES = (np.float32, np.float64)
TOL = {np.float32: {"rtol": 2e-5, "atol": 2e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-13}}
SIZES = (1, 7, 1003, K.PARALLEL_MIN + 5)


@pytest.fixture(params=[True, False], ids=["jit", "numpy"])
def jit(request):
    """Runs the test with the JIT kernels on and off (both states restored after)."""
    previous = CPU.set_jit(request.param)
    yield request.param
    CPU.set_jit(previous)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _close(ours, theirs, dtype, scale=1.0):
    tol = TOL[np.dtype(dtype).type]
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=tol["rtol"] * scale, atol=tol["atol"] * scale)


def _strided(x):
    """A non-contiguous view holding the same values as ``x``."""
    wide = np.empty(x.shape[:-1] + (2 * x.shape[-1],), x.dtype)
    wide[..., ::2] = x
    return wide[..., ::2]


# ---------------------------------------------------------------------------- GELU
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_kernels_match_the_reference(dtype, n, approximate):
    x = (_rng(n).standard_normal(n) * 4).astype(dtype)
    g = _rng(n + 1).standard_normal(n).astype(dtype)
    out, aux = K.gelu_forward(x, approximate)
    _close(out, ref.gelu_forward(x, approximate)[0], dtype)
    _close(K.gelu_backward(x, aux, g, approximate), ref.gelu_backward(x, None, g, approximate), dtype)
    strided = _strided(x.reshape(1, -1))
    out_s, aux_s = K.gelu_forward(strided, approximate)
    np.testing.assert_array_equal(out_s.reshape(-1), out)
    np.testing.assert_array_equal(K.gelu_backward(strided, aux_s, _strided(g.reshape(1, -1)), approximate).reshape(-1), K.gelu_backward(x, aux, g, approximate))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_float32_kernel_is_accurate_in_the_tails(approximate):
    """The float32 kernel runs on polynomial fits (Phi, exp), not the library's erf/tanh: within
    6e-7 of the exact GELU (float64) and its derivative over [-12, 12], and saturates like torch."""
    x = np.linspace(-12, 12, 48001, dtype=np.float32)
    out, aux = K.gelu_forward(x, approximate)
    np.testing.assert_allclose(out, ref.gelu_forward(x.astype(np.float64), approximate)[0], rtol=1e-6, atol=6e-7)
    ones = np.ones_like(x)
    grad = ref.gelu_backward(x.astype(np.float64), None, ones.astype(np.float64), approximate)
    np.testing.assert_allclose(K.gelu_backward(x, aux, ones, approximate), grad, rtol=1e-6, atol=6e-7)
    out, _ = K.gelu_forward(np.array([np.nan, np.inf, -100.0, 100.0, 0.0], np.float32), approximate)
    np.testing.assert_array_equal(out, [np.nan, np.inf, -0.0, 100.0, 0.0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_op_matches_torch(jit, dtype, approximate):
    x = (_rng(3).standard_normal((5, 3, K.PARALLEL_MIN // 7)) * 3).astype(dtype)
    g = _rng(4).standard_normal(x.shape).astype(dtype)
    ours = backprop.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    out, tout = F.gelu(ours, approximate=approximate), TF.gelu(theirs, approximate=approximate)
    _close(out.detach().numpy(), tout.detach().numpy(), dtype, 10)
    out.backward(backprop.tensor(g))
    tout.backward(torch.tensor(g))
    _close(ours.grad.numpy(), theirs.grad.numpy(), dtype, 10)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_create_graph(jit, approximate):
    x = backprop.tensor(_rng(5).standard_normal(40) * 3, requires_grad=True)
    assert backprop.autograd.gradgradcheck(lambda t: F.gelu(t, approximate=approximate), (x,))


# ---------------------------------------------------------------------------- rows: softmax, layer norm
ROW_SHAPES = (((1, 1), -1), ((3, 5, 7), -1), ((3, 5, 7), 1), ((5, 3), 0), ((9, 4, 33, 29), -1), ((3, K.PARALLEL_MIN // 64 + 1, 67), -1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("shape", "dim"), ROW_SHAPES)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_kernels_match_the_reference(dtype, shape, dim, log):
    x = (_rng(1).standard_normal(shape) * 4).astype(dtype)
    g = _rng(2).standard_normal(shape).astype(dtype)
    _close(K.softmax_forward(x, dim, log), ref.softmax_forward(x, dim, log), dtype)
    y = ref.softmax_forward(x, dim, log)
    _close(K.softmax_backward(y, g, dim, log), ref.softmax_backward(y, g, dim, log), dtype)
    np.testing.assert_array_equal(K.softmax_forward(_strided(x), dim, log), K.softmax_forward(x, dim, log))
    np.testing.assert_array_equal(K.softmax_backward(_strided(y), _strided(g), dim, log), K.softmax_backward(y, g, dim, log))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_kernel_causal_and_safe(dtype, log):
    """The attention's form: key j > query i masked, and (safe) a fully masked row gives zeros."""
    x = _rng(3).standard_normal((2, 3, 17, 17)).astype(dtype)
    out = K.softmax_forward(x, -1, log, False, True)
    expected = ref.softmax_forward(x, -1, log, False, True)
    np.testing.assert_array_equal(np.isinf(out), np.isinf(expected))
    _close(np.where(np.isinf(out), 0, out), np.where(np.isinf(expected), 0, expected), dtype)
    x[0, 1, 4] = -np.inf
    x[1, 2, 6, 3] = np.nan
    safe = K.softmax_forward(x, -1, False, True, False)
    np.testing.assert_array_equal(safe[0, 1, 4], 0)
    assert np.isnan(safe[1, 2, 6]).all() and not np.isnan(np.delete(safe[1, 2], 6, axis=0)).any()
    assert np.isnan(K.softmax_forward(x, -1, False)[0, 1, 4]).all()  # unsafe: NaN as torch


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [-1, 1])
def test_softmax_op_matches_torch(jit, dtype, name, dim):
    x = (_rng(4).standard_normal((4, 65, 33)) * 3).astype(dtype)
    g = _rng(5).standard_normal(x.shape).astype(dtype)
    ours, theirs = backprop.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, tout = getattr(F, name)(ours, dim), getattr(TF, name)(theirs, dim)
    _close(out.detach().numpy(), tout.detach().numpy(), dtype, 10)
    out.backward(backprop.tensor(g))
    tout.backward(torch.tensor(g))
    _close(ours.grad.numpy(), theirs.grad.numpy(), dtype, 10)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_create_graph(jit, name):
    x = backprop.tensor(_rng(6).standard_normal((3, 7)), requires_grad=True)
    assert backprop.autograd.gradgradcheck(lambda t: getattr(F, name)(t, 1), (x,))


def test_causal_attention_matches_torch(jit):
    q, k, v = (_rng(i).standard_normal((2, 3, 19, 8)).astype(np.float32) for i in range(3))
    ours = [backprop.tensor(a, requires_grad=True) for a in (q, k, v)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*ours, is_causal=True)
    tout = TF.scaled_dot_product_attention(*theirs, is_causal=True)
    _close(out.detach().numpy(), tout.detach().numpy(), np.float32, 10)
    out.sum().backward()
    tout.sum().backward()
    for a, b in zip(ours, theirs):
        _close(a.grad.numpy(), b.grad.numpy(), np.float32, 10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [1, 37, K.PARALLEL_MIN // 100 + 3])
@pytest.mark.parametrize("rms", [False, True])
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
def test_norm_rows_kernels_match_the_reference(dtype, rows, rms, affine):
    cols = 101
    rng = _rng(rows)
    x = (rng.standard_normal((rows, cols)) * 2 + 1).astype(dtype)
    g = rng.standard_normal((rows, cols)).astype(dtype)
    w = rng.standard_normal(cols).astype(dtype) if affine in ("both", "weight") else None
    b = rng.standard_normal(cols).astype(dtype) if affine in ("both", "bias") else None
    out, mean, invstd = K.norm_rows_forward(_strided(x), w, b, 1e-5, rms)
    for ours, theirs in zip((out, mean, invstd), ref.norm_rows_forward(x, w, b, 1e-5, rms)):
        _close(ours, theirs, dtype)
    gx, gxhat = K.norm_rows_backward(_strided(x), w, _strided(g), mean, invstd, rms, True, True)
    rgx, rgxhat = ref.norm_rows_backward(x, w, g, mean, invstd, rms, True, True)
    _close(gx, rgx, dtype)
    _close(gxhat, rgxhat, dtype)
    assert K.norm_rows_backward(x, w, g, mean, invstd, rms, False, True)[0] is None
    np.testing.assert_array_equal(K.norm_rows_backward(x, w, g, mean, invstd, rms, True, False)[0], gx)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["layer_norm", "rms_norm"])
@pytest.mark.parametrize("affine", [True, False])
def test_norm_ops_match_torch(jit, dtype, name, affine):
    x = (_rng(7).standard_normal((4, 9, 6, 5)) * 2 + 1).astype(dtype)
    g = _rng(8).standard_normal(x.shape).astype(dtype)
    w = _rng(9).standard_normal((6, 5)).astype(dtype)
    b = _rng(10).standard_normal((6, 5)).astype(dtype)
    ours = [backprop.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]

    def run(lib, fn, t):
        extra = (t[1], t[2]) if name == "layer_norm" else (t[1],)
        return getattr(fn, name)(t[0], (6, 5), *(extra if affine else ()), eps=1e-5)

    out, tout = run(backprop, F, ours), run(torch, TF, theirs)
    _close(out.detach().numpy(), tout.detach().numpy(), dtype, 10)
    out.backward(backprop.tensor(g))
    tout.backward(torch.tensor(g))
    used = 3 if name == "layer_norm" else 2
    for a, t in zip(ours[: used if affine else 1], theirs):
        _close(a.grad.numpy(), t.grad.numpy(), dtype, 10)


@pytest.mark.parametrize("name", ["layer_norm", "rms_norm"])
def test_norm_create_graph(jit, name):
    x = backprop.tensor(_rng(11).standard_normal((3, 8)), requires_grad=True)
    w = backprop.tensor(_rng(12).standard_normal(8), requires_grad=True)
    assert backprop.autograd.gradgradcheck(lambda t, u: getattr(F, name)(t, (8,), u), (x, w))


# ---------------------------------------------------------------------------- optimizer steps
ADAM_CASES = [  # weight_decay, decoupled, maximize
    (0.0, False, False),
    (0.1, False, False),
    (0.1, True, False),
    (0.0, False, True),
    (0.05, True, True),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize(("weight_decay", "decoupled", "maximize"), ADAM_CASES)
@pytest.mark.parametrize("strided", [False, True])
def test_adam_step_kernel_matches_the_reference(dtype, n, weight_decay, decoupled, maximize, strided):
    rng = _rng(n)
    arrays = [rng.standard_normal((1, n)).astype(dtype) for _ in range(3)] + [rng.random((1, n)).astype(dtype)]
    expected = [a.copy() for a in arrays]
    args = (1e-2, 0.9, 0.999, 1e-8, weight_decay, 1 - 0.9**3, (1 - 0.999**3) ** 0.5, decoupled, maximize)
    ref.adam_step(*expected, *args)
    if strided:
        views = [_strided(a) for a in arrays]
        K.adam_step(*views, *args)
        arrays = views
    else:
        K.adam_step(*arrays, *args)
    for ours, theirs in zip(arrays, expected):
        _close(ours, theirs, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize(("dampening", "weight_decay", "nesterov", "maximize"), [(0.0, 0.0, False, False), (0.1, 1e-3, False, True), (0.0, 1e-2, True, False)])
@pytest.mark.parametrize("strided", [False, True])
def test_sgd_step_kernel_matches_the_reference(dtype, n, momentum, dampening, weight_decay, nesterov, maximize, strided):
    rng = _rng(n)
    p, g, buf = (rng.standard_normal((1, n)).astype(dtype) for _ in range(3))
    for first in (True, False):
        expected = [p.copy(), g, None if momentum == 0 else buf.copy()]
        args = (0.05, momentum, dampening, weight_decay, nesterov, maximize, first)
        ref.sgd_step(*expected, *args)
        arrays = [p, g, None if momentum == 0 else buf]
        if strided:
            arrays = [None if a is None else _strided(a) for a in arrays]
        K.sgd_step(*arrays, *args)
        _close(arrays[0], expected[0], dtype)
        if momentum:
            _close(arrays[2], expected[2], dtype)
        p, buf = np.array(arrays[0]), (buf if momentum == 0 else np.array(arrays[2]))


OPTIMIZERS = {
    "sgd": lambda optim, ps: optim.SGD(ps, lr=0.05),
    "sgd_momentum": lambda optim, ps: optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-3),
    "sgd_nesterov": lambda optim, ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, dampening=0.0, maximize=True),
    "sgd_dampening": lambda optim, ps: optim.SGD(ps, lr=0.05, momentum=0.8, dampening=0.3),
    "adam": lambda optim, ps: optim.Adam(ps, lr=1e-2),
    "adam_l2": lambda optim, ps: optim.Adam(ps, lr=1e-2, weight_decay=0.1, maximize=True),
    "adam_amsgrad": lambda optim, ps: optim.Adam(ps, lr=1e-2, amsgrad=True),
    "adamw": lambda optim, ps: optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_steps_match_torch(jit, dtype, name):
    """Five steps on parameters of odd sizes (one above PARALLEL_MIN, one non-contiguous)."""
    rng = _rng(13)
    values = [rng.standard_normal(s).astype(dtype) for s in ((7,), (3, 5), (K.PARALLEL_MIN + 3,))]
    values.append(rng.standard_normal((6, 4)).astype(dtype).T)
    ours = [backprop.nn.Parameter(backprop.tensor(v)) for v in values]
    ours[-1] = backprop.nn.Parameter(backprop.tensor(values[-1].T).t())  # a non-contiguous parameter
    assert not ours[-1]._data.flags.c_contiguous
    theirs = [torch.nn.Parameter(torch.tensor(np.ascontiguousarray(v))) for v in values]
    opt, topt = OPTIMIZERS[name](backprop.optim, ours), OPTIMIZERS[name](torch.optim, theirs)
    for _ in range(5):
        grads = [rng.standard_normal(v.shape).astype(dtype) for v in values]
        for p, t, gr in zip(ours, theirs, grads):
            p.grad, t.grad = backprop.tensor(gr), torch.tensor(gr)
        opt.step()
        topt.step()
    for p, t in zip(ours, theirs):
        _close(p.detach().numpy(), t.detach().numpy(), dtype, 10)


# ---------------------------------------------------------------------------- batch norm
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [2, 37, K.PARALLEL_MIN // 8 + 1])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_kernels_match_numpy(dtype, rows, training, affine):
    c = 11
    rng = _rng(rows)
    x = (rng.standard_normal((rows, c)) * 3 + 2).astype(dtype)
    g = rng.standard_normal((rows, c)).astype(dtype)
    w, b = (rng.standard_normal(c).astype(dtype) for _ in range(2)) if affine else (None, None)
    rmean, rvar = rng.standard_normal(c).astype(dtype), rng.random(c).astype(dtype) + 0.5
    out, mean, var, invstd = K.batch_norm_forward(x, w, b, rmean, rvar, training, 1e-5)
    x64 = x.astype(np.float64)
    m64 = x64.mean(0) if training else rmean.astype(np.float64)
    v64 = x64.var(0) if training else rvar.astype(np.float64)
    xhat = (x64 - m64) / np.sqrt(v64 + 1e-5)
    expected = xhat * (w if affine else 1) + (b if affine else 0)
    _close(out, expected, dtype)
    _close(mean, m64, dtype)
    _close(var, v64, dtype)
    gx, gw, gb = K.batch_norm_backward(x, g, mean, invstd, w, training, True)
    gy = g * (w if affine else 1)
    if training:
        egx = (gy - gy.mean(0) - xhat * (gy * xhat).mean(0)) / np.sqrt(v64 + 1e-5)
    else:
        egx = gy / np.sqrt(v64 + 1e-5)
    _close(gx, egx, dtype, 10)
    _close(gw, (g * xhat).sum(0), dtype, 10)
    _close(gb, g.sum(0), dtype, 10)
    assert K.batch_norm_backward(x, g, mean, invstd, w, training, False)[0] is None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("layout", ["channels_last", "nchw", "2d"])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_op_matches_torch(jit, dtype, training, layout, affine):
    """The kernel serves channels-last memory (the convolutions' output) and 2-d input; NCHW
    memory keeps the NumPy path. Outputs, gradients and the running statistics against torch."""
    rng = _rng(14)
    shape = (6, 5) if layout == "2d" else (4, 3, 5, 7)
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    if layout == "channels_last":
        leaf = backprop.tensor(np.ascontiguousarray(np.moveaxis(x, 1, -1)), requires_grad=True)
        ours_x = leaf.permute(0, 3, 1, 2)
        assert not ours_x._data.flags.c_contiguous
    else:
        leaf = ours_x = backprop.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    make = (lambda m, c: m.nn.BatchNorm1d(c, affine=affine)) if layout == "2d" else (lambda m, c: m.nn.BatchNorm2d(c, affine=affine))
    ours_bn, torch_bn = make(backprop, shape[1]).to(getattr(backprop, np.dtype(dtype).name)), make(torch, shape[1]).to(getattr(torch, np.dtype(dtype).name))
    stats = (rng.standard_normal(shape[1]).astype(dtype), rng.random(shape[1]).astype(dtype) + 0.5)
    for bn, lib in ((ours_bn, backprop), (torch_bn, torch)):
        bn.running_mean.copy_(lib.tensor(stats[0]))
        bn.running_var.copy_(lib.tensor(stats[1]))
        bn.train(training)
    out, tout = ours_bn(ours_x), torch_bn(tx)
    _close(out.detach().numpy(), tout.detach().numpy(), dtype, 10)
    out.backward(backprop.tensor(g))
    tout.backward(torch.tensor(g))
    grad = leaf.grad.numpy()
    if layout == "channels_last":
        grad = np.moveaxis(grad, -1, 1)
    _close(grad, tx.grad.numpy(), dtype, 10)
    if affine:
        _close(ours_bn.weight.grad.numpy(), torch_bn.weight.grad.numpy(), dtype, 10)
        _close(ours_bn.bias.grad.numpy(), torch_bn.bias.grad.numpy(), dtype, 10)
    _close(ours_bn.running_mean.numpy(), torch_bn.running_mean.numpy(), dtype, 10)
    _close(ours_bn.running_var.numpy(), torch_bn.running_var.numpy(), dtype, 10)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_channels_last_create_graph(jit, training):
    leaf = backprop.tensor(_rng(15).standard_normal((3, 4, 4, 2)), requires_grad=True)
    w = backprop.tensor(_rng(16).standard_normal(2), requires_grad=True)
    rm, rv = backprop.zeros(2), backprop.ones(2)
    fn = lambda t, u: F.batch_norm(t.permute(0, 3, 1, 2), rm, rv, u, None, training=training)  # noqa: E731
    assert backprop.autograd.gradgradcheck(fn, (leaf, w))


# ---------------------------------------------------------------------------- ReLU backward
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (7, 3), (3, 5, 4, 2), (2, K.PARALLEL_MIN + 9)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_relu_backward_kernel_matches_numpy(dtype, shape, channels_last):
    rng = _rng(17)
    y = np.maximum(rng.standard_normal(shape), 0).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    y.reshape(-1)[:3] = [np.nan, 0.0, 1.0][: y.size]
    g.reshape(-1)[:3] = [2.0, -3.0, np.inf][: g.size]
    if channels_last and len(shape) == 4:
        y, g = (np.ascontiguousarray(np.moveaxis(a, 1, -1)) for a in (y, g))
        y, g = (np.moveaxis(a, -1, 1) for a in (y, g))
    out = K.relu_backward(y, g)
    np.testing.assert_array_equal(out, g * (y > 0))
    np.testing.assert_array_equal(np.signbit(out), np.signbit(g * (y > 0)))
    assert out.strides == g.strides
    if len(shape) > 1:  # layouts that differ: the caller's array code serves
        assert K.relu_backward(np.asfortranarray(y), np.ascontiguousarray(g)) is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_op_matches_torch(jit, dtype):
    x = _rng(18).standard_normal((3, 4, 5, 6)).astype(dtype)
    leaf = backprop.tensor(np.ascontiguousarray(np.moveaxis(x, 1, -1)), requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    out, tout = F.relu(leaf.permute(0, 3, 1, 2)), TF.relu(tx)
    g = _rng(19).standard_normal(x.shape).astype(dtype)
    out.backward(backprop.tensor(g))
    tout.backward(torch.tensor(g))
    np.testing.assert_array_equal(np.moveaxis(leaf.grad.numpy(), -1, 1), tx.grad.numpy())
    y = backprop.tensor(_rng(20).standard_normal((4, 3)), requires_grad=True)
    assert backprop.autograd.gradgradcheck(lambda t: F.relu(t) * t, (y,))


# ---------------------------------------------------------------------------- the seam's edge cases
@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_optimizer_kernels_take_a_read_only_broadcast_gradient(name):
    """A gradient that is an expanded (read-only) view: the kernels read it through a copy and
    never write it back; the update equals the NumPy path's and torch's."""
    results = []
    for jit in (True, False):
        previous = CPU.set_jit(jit)
        try:
            p = backprop.nn.Parameter(backprop.zeros(4, 3))
            p.grad = backprop.arange(3.0).reshape(1, 3).expand(4, 3)
            getattr(backprop.optim, name)([p], lr=0.1, **({"momentum": 0.9} if name == "SGD" else {})).step()
            results.append(p.detach().numpy().copy())
        finally:
            CPU.set_jit(previous)
    tp = torch.nn.Parameter(torch.zeros(4, 3))
    tp.grad = torch.arange(3.0).reshape(1, 3).expand(4, 3)
    getattr(torch.optim, name)([tp], lr=0.1, **({"momentum": 0.9} if name == "SGD" else {})).step()
    np.testing.assert_allclose(results[0], tp.detach().numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(results[0], results[1])


def test_an_unusable_numba_leaves_the_numpy_path(monkeypatch):
    """numba present but failing to set up (no writable cache, say): a warning and no kernels,
    not an error from every op."""
    from backprop._backend import cpu as cpu_backend

    def broken(name):
        raise RuntimeError("cannot cache function: no locator available")

    monkeypatch.setattr(cpu_backend.importlib, "import_module", broken)
    with pytest.warns(RuntimeWarning, match="JIT kernels are off"):
        assert cpu_backend.load_jit_kernels(force=True) is None


def test_set_jit_switches_and_reports_the_previous_state():
    previous = CPU.set_jit(False)
    try:
        assert CPU.kernels is None and CPU.kernel("gelu_forward", np.ones(3, np.float32)) is None
        assert CPU.set_jit(True) is False
        assert CPU.kernels is K  # even under BACKPROP_JIT=0: set_jit(True) asks for the kernels
        assert CPU.kernel("gelu_forward", np.ones(3, np.float32)) is K.gelu_forward
        assert CPU.kernel("gelu_forward", np.ones(3, np.float16)) is None  # float32/float64 only
        assert CPU.kernel("no_such_kernel", np.ones(3, np.float32)) is None
    finally:
        CPU.set_jit(previous)
