"""Autograd correctness that real programs hit (issue #14), against PyTorch 2.13:

1. in-place activations after a conv or BatchNorm (dcgan's ``LeakyReLU(0.2, inplace=True)``):
   torch's rule -- an op whose gradient comes from its output (relu, leaky_relu with slope >= 0,
   elu/celu/selu with alpha >= 0, sigmoid, tanh, exp...) saves the modified tensor itself, one
   whose gradient needs its input (silu, mish, hardswish, hardsigmoid, hardtanh, threshold...)
   keeps a copy -- with the same successes, failures and gradients as torch; a dcgan step;
2. Python ``range``s, NumPy arrays, tuples of lists, bool lists, 0-d tensors as indices;
3. gradient accumulation into one leaf from several threads.
"""

from __future__ import annotations

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
    ],
    ids=[
        "leaky_relu_negative_slope", "rrelu_eval_negative", "elu_negative_alpha", "celu_negative_alpha",
        "leaky_relu_then_mul_", "elu_then_add_", "relu_then_mul_", "sigmoid_then_add_", "exp_then_mul_",
        "tanh_then_clamp_", "sin_then_mul_", "pow_then_mul_", "mish_then_mul_",
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
        assert ours_msg == theirs_msg.replace("LeakyRelu1", "LeakyRelu").replace("Elu1", "Elu")


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
