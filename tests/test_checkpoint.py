"""``utils.checkpoint`` against torch 2.13: values and gradients of checkpointed models equal
torch's (and the uncheckpointed run's), dropout masks repeat in the recomputation, the graph
keeps no intermediate nodes, and torch's warnings and errors. The ``device`` tests (cpu and
fake-cuda by default) run the model and data on that device: the recomputation replays the CUDA
generator too, and ``autograd.gradcheck`` checks a checkpointed function there."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.utils.checkpoint as th_checkpoint

import backprop as bp
from backprop.utils import checkpoint as bp_checkpoint

R = np.random.default_rng(0)


def _models(device: str = "cpu"):
    torch.manual_seed(0)
    th = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.GELU(), torch.nn.Linear(8, 3))
    ours = bp.nn.Sequential(bp.nn.Linear(4, 8), bp.nn.Tanh(), bp.nn.Linear(8, 8), bp.nn.GELU(), bp.nn.Linear(8, 3))
    ours.load_state_dict({k: bp.tensor(v.detach().numpy()) for k, v in th.state_dict().items()})
    return ours.to(device), th


def _compare(ours_model, th_model, x_ours, x_th, out_ours, out_th):
    device = x_ours.device
    assert out_ours.device == device
    np.testing.assert_allclose(out_ours.detach().cpu().numpy(), out_th.detach().numpy(), rtol=1e-5, atol=1e-6)
    g = R.standard_normal(tuple(out_th.shape)).astype(np.float32)
    (out_ours * bp.tensor(g, device=device)).sum().backward()
    (out_th * torch.tensor(g)).sum().backward()
    assert x_ours.grad.device == device
    np.testing.assert_allclose(x_ours.grad.cpu().numpy(), x_th.grad.numpy(), rtol=1e-5, atol=1e-6)
    for (name, p), q in zip(ours_model.named_parameters(), th_model.parameters()):
        assert p.grad.device == device
        np.testing.assert_allclose(p.grad.cpu().numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("use_reentrant", [True, False])
def test_checkpointed_model_matches_torch(use_reentrant, device):
    ours, th = _models(device)
    x = R.standard_normal((5, 4)).astype(np.float32)
    xb, xt = bp.tensor(x, requires_grad=True, device=device), torch.tensor(x, requires_grad=True)
    out_b = bp_checkpoint.checkpoint(ours, xb, use_reentrant=use_reentrant)
    out_t = th_checkpoint.checkpoint(th, xt, use_reentrant=use_reentrant)
    _compare(ours, th, xb, xt, out_b, out_t)


def test_reentrant_checkpoint_records_no_inner_nodes():
    ours, _ = _models()
    x = bp.tensor(R.standard_normal((2, 4)).astype(np.float32), requires_grad=True)
    out = bp_checkpoint.checkpoint(ours, x, use_reentrant=True)
    assert out.grad_fn.name().startswith("CheckpointFunctionBackward")
    # the only edge leads to the input's accumulator: nothing of the model was recorded
    assert [type(fn).__name__ for fn, _ in out.grad_fn.next_functions if fn is not None] == ["AccumulateGrad"]


def _generator_of(device: str):
    return bp.random.cuda_generator(0) if bp.device(device).type == "cuda" else bp.random.default_generator


def test_dropout_mask_is_the_same_in_the_recomputation(device):
    """The recomputation replays the dropout mask of the forward (drawn from the generator of the
    inputs' device: the CUDA one for CUDA inputs) though the generator moved on in between, and
    leaves the generators as the backward found them (torch's fork_rng)."""
    model = bp.nn.Sequential(bp.nn.Linear(6, 16), bp.nn.Dropout(0.5), bp.nn.ReLU(), bp.nn.Linear(16, 2)).to(device)
    x = bp.tensor(R.standard_normal((8, 6)).astype(np.float32), requires_grad=True, device=device)
    bp.manual_seed(3)
    out = bp_checkpoint.checkpoint(model, x, use_reentrant=True)
    bp.rand(5, device=device)  # the generator moves on before the backward
    before_backward = _generator_of(device).get_state().numpy().copy()
    out.pow(2).sum().backward()
    np.testing.assert_array_equal(_generator_of(device).get_state().numpy(), before_backward)
    grads = [p.grad.cpu().numpy().copy() for p in model.parameters()] + [x.grad.cpu().numpy().copy()]
    assert all(p.grad.device == x.device for p in model.parameters())
    model.zero_grad()
    x.grad = None
    bp.manual_seed(3)
    plain = model(x)
    plain.pow(2).sum().backward()
    np.testing.assert_array_equal(out.detach().cpu().numpy(), plain.detach().cpu().numpy())
    for a, b in zip(grads, [p.grad.cpu().numpy() for p in model.parameters()] + [x.grad.cpu().numpy()]):
        np.testing.assert_allclose(a, b, rtol=1e-6)

    # without preserve_rng_state the recomputation draws a new mask: its gradients differ
    model.zero_grad()
    x.grad = None
    bp.manual_seed(3)
    out = bp_checkpoint.checkpoint(model, x, use_reentrant=True, preserve_rng_state=False)
    bp.rand(5, device=device)
    out.pow(2).sum().backward()
    assert not np.allclose(model[0].weight.grad.cpu().numpy(), grads[0])


def test_gradcheck_of_a_checkpointed_function(device):
    """``autograd.gradcheck``/``gradgradcheck`` on ``device``: finite differences of a checkpointed
    function against its gradients, and a wrong backward caught."""
    x = bp.tensor(R.standard_normal((3, 4)), dtype=bp.float64, requires_grad=True, device=device)
    w = bp.tensor(R.standard_normal((4, 2)), dtype=bp.float64, requires_grad=True, device=device)

    def fn(a, b):
        return bp_checkpoint.checkpoint(lambda a, b: (a.sin() @ b).tanh(), a, b, use_reentrant=False)

    assert bp.autograd.gradcheck(fn, (x, w))
    assert bp.autograd.gradgradcheck(fn, (x, w))

    class WrongBackward(bp.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 3

    with pytest.raises(bp.autograd.GradcheckError, match="Jacobian mismatch"):
        bp.autograd.gradcheck(WrongBackward.apply, (x,))
    assert not bp.autograd.gradcheck(WrongBackward.apply, (x,), raise_exception=False)


def test_multiple_outputs_and_non_tensor_arguments():
    def fn(a, scale, b):
        return (a * scale).sin(), a @ b

    a = R.standard_normal((3, 3)).astype(np.float32)
    b = R.standard_normal((3, 2)).astype(np.float32)
    ab, bb = bp.tensor(a, requires_grad=True), bp.tensor(b, requires_grad=True)
    at, bt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    o1, o2 = bp_checkpoint.checkpoint(fn, ab, 2.0, bb, use_reentrant=True)
    t1, t2 = th_checkpoint.checkpoint(fn, at, 2.0, bt, use_reentrant=True)
    (o1.sum() + o2.pow(2).sum()).backward()
    (t1.sum() + t2.pow(2).sum()).backward()
    np.testing.assert_allclose(ab.grad.numpy(), at.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bb.grad.numpy(), bt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_checkpoint_sequential_matches_torch():
    ours, th = _models()
    x = R.standard_normal((5, 4)).astype(np.float32)
    xb, xt = bp.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_b = bp_checkpoint.checkpoint_sequential(ours, 2, xb, use_reentrant=True)
    out_t = th_checkpoint.checkpoint_sequential(th, 2, xt, use_reentrant=True)
    _compare(ours, th, xb, xt, out_b, out_t)


def test_reentrant_checkpoint_refuses_autograd_grad_like_torch():
    for m, ck in ((bp, bp_checkpoint), (torch, th_checkpoint)):
        lin = m.nn.Linear(3, 3)
        x = m.ones(2, 3, requires_grad=True)
        with pytest.raises(RuntimeError, match="incompatible with .grad"):
            m.autograd.grad(ck.checkpoint(lin, x, use_reentrant=True).sum(), x)
        with pytest.raises(RuntimeError, match="incompatible with .grad"):
            ck.checkpoint(lin, x, use_reentrant=True).sum().backward(inputs=[x])


def test_non_reentrant_checkpoint_supports_autograd_grad():
    ours, th = _models()
    x = R.standard_normal((2, 4)).astype(np.float32)
    xb, xt = bp.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (gb,) = bp.autograd.grad(bp_checkpoint.checkpoint(ours, xb, use_reentrant=False).sum(), xb)
    (gt,) = torch.autograd.grad(th_checkpoint.checkpoint(th, xt, use_reentrant=False).sum(), xt)
    np.testing.assert_allclose(gb.numpy(), gt.numpy(), rtol=1e-5, atol=1e-6)


def test_warnings_match_torch():
    for m, ck in ((bp, bp_checkpoint), (torch, th_checkpoint)):
        lin = m.nn.Linear(3, 3)
        with pytest.warns(UserWarning, match="use_reentrant parameter should be passed explicitly"):
            ck.checkpoint(lin, m.ones(1, 3, requires_grad=True))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = ck.checkpoint(lin, m.ones(1, 3), use_reentrant=True)
        assert any("None of the inputs have requires_grad=True" in str(w.message) for w in caught)
        assert not out.requires_grad
