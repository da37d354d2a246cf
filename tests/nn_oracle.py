"""Layer oracle: build the same layer in backprop and torch, load torch's weights into ours by
name, move ours to the device under test, run both in train and eval mode, and compare
outputs, input gradients, parameter gradients (by name) and buffers (on the host)."""

from __future__ import annotations

import numpy as np
import torch

import backprop

torch.set_num_threads(1)


def _to_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _np(t):
    return t.detach().cpu().numpy()


def _assert_on(t, device: backprop.device, what: str) -> None:
    on = t.device.type == device.type and (device.index is None or t.device.index == device.index)
    assert on, f"{what} is on {t.device}, expected {device}"


def check_layer(build, inputs, *, rtol: float = 1e-4, atol: float = 1e-5, train: bool = True, grad_inputs: bool = True, seed: int = 0, forward=None, device="cpu", create_graph: bool = False):
    """``build(m)`` returns the layer for framework module ``m`` (backprop or torch);
    ``inputs`` are NumPy arrays (float arrays get requires_grad). Our layer runs on ``device``
    (``"cpu"`` or ``"cuda"``): moved there after loading torch's weights, with its inputs
    created there; every output, gradient and buffer must be there too. ``create_graph``: the
    gradients are taken with ``autograd.grad(..., create_graph=True)`` -- every backward formula
    run differentiably -- on both sides."""
    device = backprop.device(device)
    torch.manual_seed(seed)
    th_layer = build(torch)
    bp_layer = build(backprop)
    th_sd = th_layer.state_dict()
    bp_sd = bp_layer.state_dict()
    assert list(bp_sd.keys()) == list(th_sd.keys()), f"state_dict keys {list(bp_sd)} != torch {list(th_sd)}"
    for k in th_sd:
        assert tuple(bp_sd[k].shape) == tuple(th_sd[k].shape), f"{k}: shape {tuple(bp_sd[k].shape)} != {tuple(th_sd[k].shape)}"
        assert bp_sd[k].dtype.name == str(th_sd[k].dtype).replace("torch.", ""), f"{k}: dtype {bp_sd[k].dtype} != {th_sd[k].dtype}"
    bp_layer.load_state_dict(th_sd)
    bp_layer.to(device)
    th_layer.train(train)
    bp_layer.train(train)
    run = forward or (lambda layer, *xs: layer(*xs))
    bp_in = [backprop.tensor(a, requires_grad=grad_inputs and a.dtype.kind == "f", device=device) for a in inputs]
    th_in = [torch.tensor(a, requires_grad=grad_inputs and a.dtype.kind == "f") for a in inputs]
    bp_out = _to_list(run(bp_layer, *bp_in))
    th_out = _to_list(run(th_layer, *th_in))
    assert len(bp_out) == len(th_out)
    for i, (o, t) in enumerate(zip(bp_out, th_out)):
        assert tuple(o.shape) == tuple(t.shape), f"output {i}: shape {tuple(o.shape)} != torch {tuple(t.shape)}"
        assert o.dtype.name == str(t.dtype).replace("torch.", ""), f"output {i}: dtype {o.dtype} != torch {t.dtype}"
        _assert_on(o, device, f"output {i}")
        np.testing.assert_allclose(_np(o), _np(t), rtol=rtol, atol=atol, err_msg=f"output {i}")
    # Buffers after the forward pass (running statistics).
    for (name, b), (tname, tb) in zip(bp_layer.named_buffers(), th_layer.named_buffers()):
        assert name == tname
        _assert_on(b, device, f"buffer {name}")
        np.testing.assert_allclose(_np(b), _np(tb), rtol=rtol, atol=atol, err_msg=f"buffer {name}")
    diff = [(o, t) for o, t in zip(bp_out, th_out) if t.requires_grad]
    if not diff:
        return bp_layer, th_layer
    rng = np.random.default_rng(seed + 1)
    bp_loss, th_loss = 0, 0
    for o, t in diff:
        g = rng.standard_normal(tuple(t.shape)).astype(np.float32 if t.dtype == torch.float32 else np.float64)
        bp_loss = bp_loss + (o * backprop.tensor(g, device=device)).sum()
        th_loss = th_loss + (t * torch.tensor(g)).sum()
    if create_graph:
        _grads_with_create_graph(bp_loss, th_loss, bp_in, th_in, bp_layer, th_layer)
    else:
        bp_loss.backward()
        th_loss.backward()
    for i, (b, t) in enumerate(zip(bp_in, th_in)):
        if t.requires_grad and t.grad is not None:
            assert b.grad is not None, f"input {i}: no gradient"
            _assert_on(b.grad, device, f"grad of input {i}")
            np.testing.assert_allclose(_np(b.grad), _np(t.grad), rtol=rtol * 10, atol=atol * 10, err_msg=f"grad of input {i}")
    th_params = dict(th_layer.named_parameters())
    for name, p in bp_layer.named_parameters():
        tp = th_params[name]
        if tp.grad is None:
            assert p.grad is None or not np.any(_np(p.grad)), f"param {name}: gradient where torch has none"
            continue
        assert p.grad is not None, f"param {name}: no gradient"
        _assert_on(p.grad, device, f"grad of {name}")
        np.testing.assert_allclose(_np(p.grad), _np(tp.grad), rtol=rtol * 10, atol=atol * 10, err_msg=f"grad of {name}")
    return bp_layer, th_layer


def _grads_with_create_graph(bp_loss, th_loss, bp_in, th_in, bp_layer, th_layer) -> None:
    """Set ``.grad`` of inputs and parameters from ``autograd.grad(create_graph=True)`` on both sides."""
    th_params = dict(th_layer.named_parameters())
    pairs = [(b, t) for b, t in zip(bp_in, th_in) if t.requires_grad]
    pairs += [(p, th_params[name]) for name, p in bp_layer.named_parameters() if th_params[name].requires_grad]
    ours = backprop.autograd.grad(bp_loss, [b for b, _ in pairs], create_graph=True, allow_unused=True)
    theirs = torch.autograd.grad(th_loss, [t for _, t in pairs], create_graph=True, allow_unused=True)
    for (b, t), g, tg in zip(pairs, ours, theirs):
        b.grad = g.detach() if g is not None else None
        t.grad = tg.detach() if tg is not None else None
