"""Autograd correctness that real programs hit (issue #14), against PyTorch 2.13:

1. in-place activations after a conv or BatchNorm (dcgan's ``LeakyReLU(0.2, inplace=True)``):
   torch's rule -- an op whose gradient comes from its output (relu, leaky_relu with slope >= 0,
   elu/celu/selu with alpha >= 0, sigmoid, tanh, exp...) saves the modified tensor itself, one
   whose gradient needs its input (silu, mish, hardswish, hardsigmoid, hardtanh, threshold...)
   keeps a copy -- with the same successes, failures and gradients as torch; a dcgan step;
2. Python ``range``s, NumPy arrays, tuples of lists, bool lists, 0-d tensors as indices, with
   gradients, and IndexError for indices out of range;
3. gradient accumulation into one leaf from several threads.
"""

from __future__ import annotations

import re
import sys
import threading

import numpy as np
import pytest
import torch

import backprop as bp
from oracle import Case, Input, oracle_tests

I = Input  # noqa: E741 - short alias keeps the tables readable


# ============================================================================ 1. in-place activations
def _after_conv(act):
    """``act(m, F, h)`` applied in place to a conv's output (a non-leaf whose conv saved only its input)."""

    def fn(m, x, w):
        return act(m, m.nn.functional, m.nn.functional.conv2d(x, w))

    return fn


def _c(name, act, **kw):
    return Case(name, _after_conv(act), [I((2, 3, 5, 5)), I((4, 3, 3, 3))], noncontig=False, **kw)


INPLACE_CASES = [
    _c("leaky_relu_inplace", lambda m, f, h: f.leaky_relu(h, 0.2, inplace=True)),
    _c("leaky_relu_zero_slope", lambda m, f, h: f.leaky_relu(h, 0.0, inplace=True)),
    _c("leaky_relu_", lambda m, f, h: f.leaky_relu_(h, 0.1)),
    _c("LeakyReLU_module", lambda m, f, h: m.nn.LeakyReLU(0.2, inplace=True)(h)),
    _c("elu_inplace", lambda m, f, h: f.elu(h, 0.7, inplace=True)),
    _c("elu_", lambda m, f, h: f.elu_(h)),
    _c("elu_zero_alpha", lambda m, f, h: f.elu(h, 0.0, inplace=True)),
    _c("celu_inplace", lambda m, f, h: f.celu(h, 2.0, inplace=True)),
    _c("celu_torch", lambda m, f, h: m.celu_(h, 0.5)),
    _c("selu_inplace", lambda m, f, h: f.selu(h, inplace=True)),
    _c("selu_torch", lambda m, f, h: m.selu_(h)),
    _c("SELU_module", lambda m, f, h: m.nn.SELU(inplace=True)(h)),
    _c("silu_inplace", lambda m, f, h: f.silu(h, inplace=True)),
    _c("SiLU_module", lambda m, f, h: m.nn.SiLU(inplace=True)(h)),
    _c("mish_inplace", lambda m, f, h: f.mish(h, inplace=True)),
    _c("hardswish_inplace", lambda m, f, h: f.hardswish(h, inplace=True)),
    # torch's hardsigmoid backward is not differentiable again (no create_graph to compare with)
    _c("hardsigmoid_inplace", lambda m, f, h: f.hardsigmoid(h * 4, inplace=True), gradcheck=False),
    _c("hardtanh_inplace", lambda m, f, h: f.hardtanh(h, -0.5, 0.7, inplace=True)),
    _c("hardtanh_", lambda m, f, h: f.hardtanh_(h)),
    _c("relu6_inplace", lambda m, f, h: f.relu6(h * 4, inplace=True)),
    _c("rrelu_eval_inplace", lambda m, f, h: f.rrelu(h, 0.1, 0.3, training=False, inplace=True)),
    _c("RReLU_module_eval", lambda m, f, h: m.nn.RReLU(inplace=True).eval()(h)),
    _c("threshold_inplace", lambda m, f, h: f.threshold(h, 0.1, 2.0, inplace=True)),
    _c("threshold_torch", lambda m, f, h: m.threshold_(h, -0.2, 3.0)),
    _c("relu_torch", lambda m, f, h: m.relu_(h)),
    _c("relu_method", lambda m, f, h: h.relu_()),
    _c("ReLU_module", lambda m, f, h: m.nn.ReLU(inplace=True)(h)),
    _c("sigmoid_", lambda m, f, h: m.sigmoid_(h)),
    _c("tanh_", lambda m, f, h: h.tanh_()),
    _c("exp_", lambda m, f, h: (h * 0.3).exp_()),
    _c("sqrt_", lambda m, f, h: (h * h + 0.5).sqrt_()),
    # an in-place activation on a view: the base's history is rebased through CopySlices
    _c("leaky_relu_on_view", lambda m, f, h: (f.leaky_relu(h[:, 1:], 0.2, inplace=True), h)[1]),
    _c("elu_on_view", lambda m, f, h: (f.elu(h[0], inplace=True), h)[1]),
    _c("silu_on_view", lambda m, f, h: (f.silu(h[:, :, 1:], inplace=True), h)[1]),
    # the saved input copy of silu/hardtanh/threshold is not the tensor: changing it again is fine
    _c("silu_then_mul_", lambda m, f, h: f.silu(h, inplace=True).mul_(2)),
    _c("hardtanh_then_mul_", lambda m, f, h: f.hardtanh(h, inplace=True).mul_(2)),
    _c("threshold_then_add_", lambda m, f, h: f.threshold(h, 0.1, 2.0, inplace=True).add_(1)),
    # out of place, leaky_relu and elu save their input, so their output may change afterwards
    _c("leaky_relu_then_mul_", lambda m, f, h: f.leaky_relu(h, 0.2).mul_(2)),
    _c("elu_then_mul_", lambda m, f, h: f.elu(h).mul_(2)),
    _c("conv_bn_leaky_relu", lambda m, f, h: f.leaky_relu(f.batch_norm(h, None, None, training=True), 0.2, inplace=True)),
]

(
    test_inplace_matches_torch,
    _,
    test_inplace_create_graph_matches_torch,
    test_inplace_gradcheck,
    _,
) = oracle_tests(INPLACE_CASES)


def _backward_outcome(m, act):
    """What ``act`` on a conv's output then backward does: ``("ok", grad)`` or ``(type, message)``."""
    rng = np.random.default_rng(3)
    x = m.tensor(rng.standard_normal((1, 2, 4, 4)), requires_grad=True)
    w = m.tensor(rng.standard_normal((2, 2, 1, 1)))
    y = act(m, m.nn.functional, m.nn.functional.conv2d(x, w))
    try:
        y.sum().backward()
    except RuntimeError as exc:
        return "RuntimeError", str(exc)
    return "ok", x.grad.numpy()


@pytest.mark.parametrize(
    "act",
    [
        # a negative slope/alpha in place: the output no longer tells the input's sign
        lambda m, f, h: f.leaky_relu(h, -0.2, inplace=True),
        lambda m, f, h: f.rrelu(h, -0.5, -0.1, training=False, inplace=True),
        lambda m, f, h: f.elu(h, -1.0, inplace=True),
        lambda m, f, h: f.celu(h, -1.0, inplace=True),
        # the saved output is the tensor itself: changing it again is caught
        lambda m, f, h: f.leaky_relu(h, 0.2, inplace=True).mul_(2),
        lambda m, f, h: f.elu(h, inplace=True).add_(1),
        lambda m, f, h: h.relu_().mul_(2),
        lambda m, f, h: h.sigmoid_().add_(2),
        lambda m, f, h: h.exp_().mul_(2),
        lambda m, f, h: h.tanh_().clamp_(-0.5, 0.5),
        # ... but not for ops that saved the input
        lambda m, f, h: h.sin_().mul_(2),
        lambda m, f, h: h.pow_(2).mul_(2),
        lambda m, f, h: f.mish(h, inplace=True).mul_(2),
        # what mul, div and pow save: an operand only for the other's gradient, pow's output only
        # for the exponent's; so x * c, x / c, x ** 2 leave x (or the power) free to change
        lambda m, f, h: (h * m.full((4, 4), 3.0), h.relu_())[0],
        lambda m, f, h: (h / 3.0, h.relu_())[0],
        lambda m, f, h: (h ** 2).relu_(),
        lambda m, f, h: (3.0 / h, h.relu_())[0],
        lambda m, f, h: (h * h.detach().requires_grad_(), h.relu_())[0],
        lambda m, f, h: ((h.abs() + 1) ** h.detach().requires_grad_()).relu_(),
        # views share the version counter of their base
        lambda m, f, h: (f.leaky_relu(h, 0.2, inplace=True), h.__setitem__((0, 0), 5.0), h)[2],
        lambda m, f, h: (h[0, 1:].relu_(), h[0].tanh_(), h)[2],
        lambda m, f, h: (f.elu(h.transpose(2, 3), inplace=True), h)[1],
        lambda m, f, h: (lambda d: (f.silu(d[0], inplace=True), d[1:] + d[0].sum())[1])(h[0]),
    ],
    ids=[
        "leaky_relu_negative_slope", "rrelu_eval_negative", "elu_negative_alpha", "celu_negative_alpha",
        "leaky_relu_then_mul_", "elu_then_add_", "relu_then_mul_", "sigmoid_then_add_", "exp_then_mul_",
        "tanh_then_clamp_", "sin_then_mul_", "pow_then_mul_", "mish_then_mul_",
        "mul_constant_then_relu_", "div_constant_then_relu_", "square_then_relu_", "rdiv_then_relu_",
        "mul_by_grad_tensor_then_relu_", "pow_grad_exponent_then_relu_",
        "leaky_relu_then_setitem", "relu_on_view_then_tanh_on_base", "elu_on_transpose", "silu_on_view_then_sibling",
    ],
)  # fmt: skip
def test_inplace_success_and_failure_as_torch(act):
    ours, theirs = _backward_outcome(bp, act), _backward_outcome(torch, act)
    assert ours[0] == theirs[0], (ours, theirs)
    if ours[0] == "ok":
        np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6, atol=1e-6)
    else:
        # torch's message, naming the op (Relu, LeakyRelu...) and the versions, or the negative slope
        ours_msg = ours[1].replace("backprop", "torch").split(" Hint")[0]
        theirs_msg = theirs[1].split(" Hint")[0].split(" File an issue")[0]
        # torch numbers the overloads of one op (LeakyRelu1 is leaky_relu_, Pow1 pow(Tensor, Tensor))
        assert ours_msg == re.sub(r"of ([A-Za-z]+)\d,", r"of \1,", theirs_msg)


def test_version_counter_as_torch():
    """One bump per in-place op, also on a view (its base shares the counter), as torch's ``_version``."""

    def versions(m):
        h = m.ones(3, 4, requires_grad=True) * 1
        out = [h._version]
        v = h[0]
        v.relu_()
        out += [h._version, v._version]
        h[1] = 2.0
        out += [h._version, v._version]
        v.mul_(2)
        h.t().add_(1)
        m.nn.functional.leaky_relu(h[:, 1], 0.1, inplace=True)
        out.append(h._version)
        with m.no_grad():
            h[0, 0] = 1
        out.append(h._version)
        return out

    assert versions(bp) == versions(torch)


def test_inplace_output_op_keeps_no_copy():
    """relu_/leaky_relu_ save the modified tensor itself (torch's memory behaviour): the saved
    value is the tensor's own array, and a second in-place change is detected."""
    x = bp.randn(3, 4, requires_grad=True)
    h = x * 2
    y = bp.nn.functional.leaky_relu(h, 0.2, inplace=True)
    assert y is h and y.grad_fn.name() == "LeakyReluBackward0"
    saved = y.grad_fn._saved[0]
    assert saved.data is h._data  # no separate result array kept alive
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.where(h.detach().numpy() > 0, 2.0, 0.4), rtol=1e-6)


def test_inplace_activation_errors_as_torch():
    h = bp.randn(3)
    with pytest.raises(RuntimeError, match="alpha cannot be 0 for CELU"):
        bp.nn.functional.celu(h, 0.0, inplace=True)
    with pytest.raises(NotImplementedError, match="leaky_relu_cpu"):
        bp.nn.functional.leaky_relu_(bp.tensor([1, -2]))
    with pytest.raises(NotImplementedError, match="elu_cpu"):
        bp.nn.functional.selu(bp.tensor([1, -2]), inplace=True)
    leaf = bp.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        bp.nn.functional.leaky_relu(leaf, 0.2, inplace=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        bp.nn.functional.silu(leaf, inplace=True)


def test_inplace_activation_without_grad_and_bfloat16():
    """No graph: the activation is just written (no copy); bfloat16 computes in float32, rounded once."""
    a = np.array([-2.0, -0.5, 0.0, 0.5, 3.0], dtype=np.float32)
    for name, kw in [("leaky_relu", {"negative_slope": 0.2}), ("elu", {}), ("selu", {}), ("celu", {"alpha": 0.5}), ("silu", {}), ("hardswish", {})]:
        ours = bp.tensor(a)
        theirs = torch.tensor(a)
        getattr(bp.nn.functional, name)(ours, inplace=True, **kw)
        getattr(torch.nn.functional, name)(theirs, inplace=True, **kw)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7, err_msg=name)
        ours16 = bp.tensor(a, dtype=bp.bfloat16)
        theirs16 = torch.tensor(a, dtype=torch.bfloat16)
        getattr(bp.nn.functional, name)(ours16, inplace=True, **kw)
        getattr(torch.nn.functional, name)(theirs16, inplace=True, **kw)
        np.testing.assert_array_equal(ours16.float().numpy(), theirs16.float().numpy(), err_msg=name)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("inplace", [False, True])
def test_low_precision_activations_round_once_as_torch(dtype, inplace):
    """Activations in half and bfloat16: computed in float32 and rounded once, in forward and
    backward, from the input (out of place) or the output (in place), as torch's kernels."""
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(500) * 3).astype(np.float32)
    g = rng.standard_normal(500).astype(np.float32)
    activations = [("leaky_relu", {"negative_slope": 0.2}), ("elu", {"alpha": 0.7}), ("selu", {}), ("celu", {"alpha": 1.5})]
    activations += [("silu", {}), ("mish", {}), ("hardswish", {}), ("hardsigmoid", {})]
    ulp_of = 2.0**-7 if dtype == "bfloat16" else 2.0**-10
    for name, kw in activations:
        results = []
        for m in (bp, torch):
            x = m.tensor(a, dtype=getattr(m, dtype), requires_grad=True)
            y = getattr(m.nn.functional, name)(x * 1, inplace=inplace, **kw)
            (y * m.tensor(g, dtype=getattr(m, dtype))).sum().backward()
            results.append((y.detach().float().numpy(), x.grad.float().numpy()))
        (ours_y, ours_g), (theirs_y, theirs_g) = results
        # coefficients may round in another order: at most one unit in the last place apart
        assert np.all(np.abs(ours_y - theirs_y) <= np.abs(theirs_y) * ulp_of), name
        assert np.all(np.abs(ours_g - theirs_g) <= np.abs(theirs_g) * ulp_of), name


def test_hardswish_hardsigmoid_gradient_at_the_kinks_as_torch():
    """At x = -3 and x = 3 torch picks: hardswish' = 0 and 1, hardsigmoid' = 0 and 0."""
    a = np.array([-4.0, -3.0, -1.0, 0.0, 3.0, 4.0])
    for name in ("hardswish", "hardsigmoid"):
        grads = []
        for m in (bp, torch):
            x = m.tensor(a, requires_grad=True)
            (g,) = m.autograd.grad(getattr(m.nn.functional, name)(x).sum(), x)
            grads.append(g.numpy())
        np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12, atol=0, err_msg=name)


# ---------------------------------------------------------------------------- a dcgan training step
def _generator(m, nz: int = 8, ngf: int = 8):
    nn = m.nn
    return nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 2, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, 1, 4, 2, 1, bias=False), nn.Tanh(),
    )  # fmt: skip


def _discriminator(m, ndf: int = 8):
    nn = m.nn
    return nn.Sequential(
        nn.Conv2d(1, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False), nn.Sigmoid(),
    )  # fmt: skip


def _dcgan_steps(m, state_g, state_d, real, noises, device=None):
    """dcgan's loop: D on real (label 1) and on G(noise).detach() (label 0), an Adam step for D;
    then G against D's fresh verdict (label 1), an Adam step for G. Returns the losses and grads."""
    netG, netD = _generator(m), _discriminator(m)
    netG.load_state_dict(state_g)
    netD.load_state_dict(state_d)
    if device is not None:
        netG.to(device)
        netD.to(device)
    criterion = m.nn.BCELoss()
    optD = m.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = m.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    kw = {"device": device} if device is not None else {}
    x = m.tensor(real, **kw)
    record = []
    for noise in noises:
        netD.zero_grad()
        out = netD(x).view(-1)
        errD_real = criterion(out, m.full((x.shape[0],), 1.0, **kw))
        errD_real.backward()
        fake = netG(m.tensor(noise, **kw))
        out = netD(fake.detach()).view(-1)
        errD_fake = criterion(out, m.full((x.shape[0],), 0.0, **kw))
        errD_fake.backward()
        optD.step()
        d_grads = [p.grad.cpu().numpy().copy() for p in netD.parameters()]
        netG.zero_grad()
        out = netD(fake).view(-1)
        errG = criterion(out, m.full((x.shape[0],), 1.0, **kw))
        errG.backward()
        optG.step()
        g_grads = [p.grad.cpu().numpy().copy() for p in netG.parameters()]
        record.append(([errD_real.item(), errD_fake.item(), errG.item()], d_grads, g_grads))
    return record, [p.detach().cpu().numpy() for p in netG.parameters()]


def test_dcgan_steps_match_torch(device):
    torch.manual_seed(0)
    th_g, th_d = _generator(torch), _discriminator(torch)
    rng = np.random.default_rng(0)
    real = np.tanh(rng.standard_normal((4, 1, 16, 16))).astype(np.float32)
    noises = [rng.standard_normal((4, 8, 1, 1)).astype(np.float32) for _ in range(3)]
    ours, ours_g = _dcgan_steps(bp, th_g.state_dict(), th_d.state_dict(), real, noises, device)
    theirs, theirs_g = _dcgan_steps(torch, th_g.state_dict(), th_d.state_dict(), real, noises)
    for step, ((lo, dgo, ggo), (lt, dgt, ggt)) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(lo, lt, rtol=1e-5, atol=1e-6, err_msg=f"losses at step {step}")
        for i, (a, b) in enumerate(zip(dgo + ggo, dgt + ggt)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"grad of parameter {i} at step {step}")
    for a, b in zip(ours_g, theirs_g):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ============================================================================ 2. index types
_Y = [1, 0, 5, 2]


def _set(index, value):
    """``h[index(m)] = value`` on a non-leaf, returning it (the gradient flows to ``h``'s leaf and to ``value``)."""

    def fn(m, h, v):
        h = h * 1.0
        h[index(m)] = value(v)
        return h

    return fn


def _get(index):
    return lambda m, h: h[index(m)]


_H = I((4, 6))
INDEX_CASES = [
    Case("range_and_list", _get(lambda m: (range(4), _Y)), [_H]),
    Case("range_and_tensor", _get(lambda m: (range(4), m.tensor(_Y))), [_H]),
    Case("range_alone", _get(lambda m: range(1, 3)), [_H]),
    Case("range_step", _get(lambda m: range(0, 4, 2)), [_H]),
    Case("range_negative", _get(lambda m: range(-2, 0)), [_H]),
    Case("range_empty", _get(lambda m: range(0)), [_H]),
    Case("slice_and_range", _get(lambda m: (slice(1, None), range(3))), [_H]),
    Case("numpy_int_array", _get(lambda m: np.array([0, 2, 3, 2])), [_H]),
    Case("numpy_int32_arrays", _get(lambda m: (np.array([0, 2], dtype=np.int32), np.array([1, 5]))), [_H]),
    Case("numpy_int_scalars", _get(lambda m: (np.int64(2), np.int32(-1))), [_H]),
    Case("numpy_bool_array", _get(lambda m: np.array([True, False, True, False])), [_H]),
    Case("tuple_of_lists", _get(lambda m: ([0, 1, 1], [2, 3, 3])), [_H]),
    Case("bool_list", _get(lambda m: [True, False, True, True]), [_H]),
    Case("bool_list_dim1", _get(lambda m: (slice(None), [True, False, True, False, True, True])), [_H]),
    Case("ellipsis_none", _get(lambda m: (Ellipsis, None)), [_H]),
    Case("none_ellipsis_list", _get(lambda m: (None, Ellipsis, [1, 2])), [_H]),
    Case("ellipsis_list_none", _get(lambda m: (Ellipsis, [0, 1], None)), [_H]),
    Case("zero_dim_tensor", _get(lambda m: m.tensor(2)), [_H]),
    Case("zero_dim_tensors", _get(lambda m: (m.tensor(2), m.tensor(3))), [_H]),
    Case("zero_dim_tensor_and_list", _get(lambda m: (m.tensor(1), [0, 2])), [_H]),
    Case("zero_dim_bool_tensor", _get(lambda m: m.tensor(True)), [_H]),
    # host numbers that are not integers become a long index (truncated toward zero), as in torch
    Case("float_list", _get(lambda m: [1.7, -1.5, 0.2]), [_H]),
    Case("numpy_float_array", _get(lambda m: (np.array([2.5, 0.2]), slice(1, 3))), [_H]),
    Case("set_range_and_list", _set(lambda m: (range(4), _Y), lambda v: v), [_H, I(())]),
    Case("set_range_rows", _set(lambda m: range(2), lambda v: v), [_H, I((6,))]),
    Case("set_numpy_array", _set(lambda m: np.array([0, 2]), lambda v: v), [_H, I((2, 1))]),
    Case("set_tuple_of_lists", _set(lambda m: ([0, 1], [2, 3]), lambda v: v), [_H, I((2,))]),
    Case("set_bool_list", _set(lambda m: [True, False, True, False], lambda v: v), [_H, I(())]),
    Case("set_zero_dim_tensor", _set(lambda m: m.tensor(1), lambda v: v), [_H, I((6,))]),
]

(
    test_index_types_match_torch,
    test_index_types_match_torch_noncontiguous,
    test_index_types_create_graph_matches_torch,
    test_index_types_gradcheck,
    _,
) = oracle_tests(INDEX_CASES)


def _overlay_y_on_x(m, x, y):
    """mnist_forward_forward's label overlay: the first 10 pixels replaced by a one-hot of y."""
    x_ = x.clone()
    x_[:, :10] *= 0.0
    x_[range(x.shape[0]), y] = x.max()
    return x_


def test_forward_forward_overlay_matches_torch(device):
    rng = np.random.default_rng(0)
    x = rng.random((5, 16)).astype(np.float32)
    y = rng.integers(0, 10, 5)
    theirs_in = torch.tensor(x, requires_grad=True)
    theirs = _overlay_y_on_x(torch, theirs_in, torch.tensor(y))
    ours_in = bp.tensor(x, requires_grad=True, device=device)
    ours = _overlay_y_on_x(bp, ours_in, bp.tensor(y, device=device))
    np.testing.assert_array_equal(ours.detach().cpu().numpy(), theirs.detach().numpy())
    g = rng.standard_normal((5, 16)).astype(np.float32)
    (theirs * torch.tensor(g)).sum().backward()
    (ours * bp.tensor(g, device=device)).sum().backward()
    np.testing.assert_allclose(ours_in.grad.cpu().numpy(), theirs_in.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_list_of_sequences_is_a_tuple_with_torch_warning():
    """torch 2.13 still reads a short list holding sequences, tensors, slices, None or ... as a
    tuple (with a deprecation warning); a list of ints is one index tensor."""
    a = np.arange(24.0).reshape(4, 6)
    cases = [
        lambda m: [[0, 1], [2, 3]],
        lambda m: [m.tensor(1), m.tensor(2)],
        lambda m: [range(2)],
        lambda m: [slice(1, 3)],
        lambda m: [None, 1],
        lambda m: [Ellipsis, 1],
        lambda m: [[0, 1], 2],
    ]
    for index in cases:
        with pytest.warns(UserWarning, match="non-tuple sequence for multidimensional indexing"):
            ours = bp.tensor(a)[index(bp)]
        with pytest.warns(UserWarning):
            theirs = torch.tensor(a)[index(torch)]
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    np.testing.assert_array_equal(bp.tensor(a)[list(range(3)) * 11].numpy(), a[list(range(3)) * 11])  # 33 ints: one index


@pytest.mark.parametrize(
    "index",
    [
        lambda m: [0, 4],
        lambda m: range(3, 5),
        lambda m: (range(4), [0, 1, 2, 6]),
        lambda m: np.array([0, 9]),
        lambda m: 4,
        lambda m: [-5],
        lambda m: (m.tensor(1), m.tensor(6)),
    ],
)
def test_out_of_range_index_raises_index_error(index):
    """An index out of range raises IndexError naming the dimension and its size, as torch's."""
    with pytest.raises(IndexError) as theirs:
        torch.zeros(4, 6)[index(torch)]
    for op in ("get", "set"):
        with pytest.raises(IndexError) as ours:
            if op == "get":
                bp.zeros(4, 6)[index(bp)]
            else:
                bp.zeros(4, 6)[index(bp)] = 1.0
        assert str(ours.value).startswith(str(theirs.value)), (str(ours.value), str(theirs.value))


def test_bad_index_types_raise_as_torch():
    x = bp.zeros(4, 6)
    with pytest.raises(IndexError, match="tensors used as indices must be long, int, byte or bool tensors"):
        x[bp.tensor(1.0)]
    with pytest.raises(IndexError, match="only integers, slices"):
        x[np.float64(1.0)]
    with pytest.raises(IndexError, match="only integers, slices"):
        x[np.bool_(True)]


# ============================================================================ 3. threads
def _in_threads(work, n_threads: int = 8) -> None:
    errors = []

    def run():
        try:
            work()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show up at once
    try:
        threads = [threading.Thread(target=run) for _ in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switch)
    assert not errors, errors


@pytest.mark.parametrize("size", [3, 100_000])  # a large .grad: NumPy releases the GIL while adding
def test_backward_from_threads_into_one_leaf_is_exact(size):
    """8 threads x 40 backward calls into one shared leaf, 3 times: no update is lost (torch's
    AccumulateGrad holds a lock, so does ours); a retained non-leaf gradient too."""
    w = bp.zeros(size, requires_grad=True)
    calls = 40
    for _ in range(3):
        w.grad = None

        def work():
            for _ in range(calls):
                (w * 1.0 + w * 2.0).sum().backward()

        _in_threads(work)
        np.testing.assert_array_equal(w.grad.numpy(), np.full(size, 3.0 * calls * 8, dtype=np.float32))

    h = w * 2
    h.retain_grad()

    def shared_graph():
        for _ in range(calls):
            h.sum().backward(retain_graph=True)

    w.grad = None
    _in_threads(shared_graph)
    np.testing.assert_array_equal(h.grad.numpy(), np.full(size, calls * 8, dtype=np.float32))
    np.testing.assert_array_equal(w.grad.numpy(), np.full(size, 2.0 * calls * 8, dtype=np.float32))


def test_backward_into_a_leaf_while_another_pass_still_uses_its_grad():
    """A pass stores an add's gradient as ``w.grad`` without a copy and still sends the same
    array to ``u``'s branch; another backward into ``w`` meanwhile (another thread, here a hook)
    must not change that array in place (``u.grad`` came out 6x too large)."""

    def run(m):
        w = m.zeros(4, requires_grad=True)
        u = m.zeros(4, requires_grad=True)
        t = u * 3.0

        def hook(grad):
            with m.enable_grad():
                (w * 5.0).sum().backward()

        t.register_hook(hook)
        (t + w).add(1.0).pow(2).mul(0.5).sum().backward()
        return w.grad.numpy(), u.grad.numpy()

    for ours, theirs in zip(run(bp), run(torch)):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    "act",
    [
        lambda f, h: f.alpha_dropout(h, 0.3, training=True, inplace=True),
        lambda f, h: f.feature_alpha_dropout(h, 0.3, training=True, inplace=True),
        lambda f, h: f.dropout(h, 0.3, training=True, inplace=True),
        lambda f, h: f.rrelu(h, training=True, inplace=True),
    ],
    ids=["alpha_dropout", "feature_alpha_dropout", "dropout", "rrelu_train"],
)
def test_random_inplace_activations_match_their_out_of_place_form(act):
    """Random masks/slopes cannot be compared with torch's: in place (after a conv) must give
    the out-of-place values and gradients under the same seed."""
    rng = np.random.default_rng(0)
    x_np, w_np = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    results = []
    for inplace in (False, True):
        bp.manual_seed(0)
        x = bp.tensor(x_np, requires_grad=True)
        h = bp.nn.functional.conv2d(x, bp.tensor(w_np))
        y = act(bp.nn.functional, h) if inplace else act(_OutOfPlace(bp.nn.functional), h)
        (y * y).sum().backward()
        results.append((y.detach().numpy(), x.grad.numpy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-12)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-10)


class _OutOfPlace:
    """``nn.functional`` with every ``inplace=True`` turned into ``inplace=False``."""

    def __init__(self, functional):
        self._f = functional

    def __getattr__(self, name):
        fn = getattr(self._f, name)
        return lambda *args, **kw: fn(*args, **{**kw, "inplace": False})
