"""The fused LSTM and GRU step kernels (``cpu_kernels.lstm_cell_forward``/``_backward``,
``gru_cell_forward``/``_backward``) against the NumPy path and torch: outputs, final states and
the gradients of the input, the initial states and every weight, in float32 and float64, odd
sizes, batch_first, bidirectional, 1 and 2 layers, packed sequences, a non-contiguous input;
plus the error bound of the kernels' float32 tanh."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import backprop
from backprop._backend import CPU
from backprop._backend.cpu import load_jit_kernels

KERNELS = load_jit_kernels()
needs_jit = pytest.mark.skipif(KERNELS is None, reason="JIT kernels off (numba missing or BACKPROP_JIT=0)")

# name: (module, kwargs, seq, batch, input, hidden, with initial states, packed lengths or None)
CASES = {
    "lstm_one_layer_odd": ("LSTM", {}, 7, 3, 5, 9, True, None),
    "lstm_two_layers_batch_first": ("LSTM", {"num_layers": 2, "batch_first": True}, 6, 5, 4, 7, False, None),
    "lstm_bidir_two_layers_states": ("LSTM", {"num_layers": 2, "bidirectional": True}, 5, 4, 3, 6, True, None),
    "lstm_no_bias_bidir": ("LSTM", {"bias": False, "bidirectional": True}, 4, 2, 3, 5, False, None),
    "lstm_wide": ("LSTM", {}, 5, 33, 16, 64, True, None),  # a (4H, B) gate block of 8448 entries
    "lstm_packed_bidir": ("LSTM", {"bidirectional": True}, 6, 4, 3, 5, True, [6, 4, 4, 1]),
    "gru_one_layer_odd": ("GRU", {}, 7, 3, 5, 9, True, None),
    "gru_two_layers_batch_first": ("GRU", {"num_layers": 2, "batch_first": True}, 6, 5, 4, 7, False, None),
    "gru_bidir_two_layers_states": ("GRU", {"num_layers": 2, "bidirectional": True}, 5, 4, 3, 6, True, None),
    "gru_no_bias_bidir": ("GRU", {"bias": False, "bidirectional": True}, 4, 2, 3, 5, False, None),
    "gru_wide": ("GRU", {}, 5, 33, 16, 64, True, None),
    "gru_packed_bidir": ("GRU", {"bidirectional": True}, 6, 4, 3, 5, True, [6, 4, 4, 1]),
}

TOL = {np.float32: {"rtol": 1e-4, "atol": 2e-5}, np.float64: {"rtol": 1e-9, "atol": 1e-11}}


def _run(lib, layer, x, states, lengths, batch_first):
    """Forward, then backward of a fixed random weighting of every result: the results and grads."""
    inp = x if lengths is None else lib.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=batch_first)
    if states is None:
        out, state = layer(inp)
    else:
        out, state = layer(inp, states if len(states) == 2 else states[0])
    if lengths is not None:
        out, _ = lib.nn.utils.rnn.pad_packed_sequence(out, batch_first=batch_first)
    results = (out, *state) if isinstance(state, tuple) else (out, state)
    rng = np.random.default_rng(1)
    dtype = np.float64 if "64" in str(out.dtype) else np.float32
    loss = sum((r * lib.tensor(rng.standard_normal(tuple(r.shape)).astype(dtype))).sum() for r in results)
    loss.backward()
    leaves = [x] + (list(states) if states is not None else []) + [p for _, p in layer.named_parameters()]
    return [r.detach().numpy() for r in results] + [t.grad.numpy() for t in leaves]


def _case(name: str, dtype, jit: bool):
    """(backprop's results and grads on the JIT or the NumPy path, torch's)."""
    kind, kwargs, seq, batch, size, hidden, with_states, lengths = CASES[name]
    batch_first = kwargs.get("batch_first", False)
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    th_layer = getattr(torch.nn, kind)(size, hidden, **kwargs).to(
        torch.float64 if dtype == np.float64 else torch.float32
    )
    bp_layer = getattr(backprop.nn, kind)(size, hidden, **kwargs)
    bp_layer = bp_layer.to(backprop.float64 if dtype == np.float64 else backprop.float32)
    with backprop.no_grad():
        for (_, p), (_, q) in zip(bp_layer.named_parameters(), th_layer.named_parameters()):
            p.copy_(backprop.tensor(q.detach().numpy()))
    shape = (batch, seq, size) if batch_first else (seq, batch, size)
    x_np = rng.standard_normal(shape).astype(dtype)
    layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    n_states = 2 if kind == "LSTM" else 1
    s_np = (
        [rng.standard_normal((layers, batch, hidden)).astype(dtype) for _ in range(n_states)] if with_states else None
    )
    # a non-contiguous input: the transpose of a contiguous array
    bx = backprop.tensor(np.ascontiguousarray(np.swapaxes(x_np, 0, 1))).transpose(0, 1).requires_grad_()
    tx = torch.tensor(x_np, requires_grad=True)
    bs = tuple(backprop.tensor(s).requires_grad_() for s in s_np) if with_states else None
    ts = tuple(torch.tensor(s, requires_grad=True) for s in s_np) if with_states else None
    previous = CPU.set_jit(jit)
    try:
        ours = _run(backprop, bp_layer, bx, bs, lengths, batch_first)
    finally:
        CPU.set_jit(previous)
    theirs = _run(torch, th_layer, tx, ts, lengths, batch_first)
    return ours, theirs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(CASES))
def test_jit_numpy_and_torch_agree(name, dtype):
    numpy_path, theirs = _case(name, dtype, jit=False)
    assert len(numpy_path) == len(theirs)
    for i, (a, b) in enumerate(zip(numpy_path, theirs)):
        np.testing.assert_allclose(a, b, **TOL[dtype], err_msg=f"NumPy path vs torch, result {i}")
    if KERNELS is None:
        return
    jit_path, _ = _case(name, dtype, jit=True)
    for i, (a, b, c) in enumerate(zip(jit_path, numpy_path, theirs)):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, c, **TOL[dtype], err_msg=f"JIT path vs torch, result {i}")
        np.testing.assert_allclose(a, b, **TOL[dtype], err_msg=f"JIT path vs NumPy path, result {i}")


@needs_jit
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_step_kernels_are_reached(kind, dtype, monkeypatch):
    """float32 takes both step kernels; float64 only the backward one (the forward's tanh is float32's)."""
    names = [f"{kind.lower()}_cell_forward", f"{kind.lower()}_cell_backward"]
    calls = dict.fromkeys(names, 0)
    for name in names:
        real = getattr(KERNELS, name)

        def spy(*args, _real=real, _name=name):
            calls[_name] += 1
            return _real(*args)

        monkeypatch.setattr(KERNELS, name, spy)
    _case(f"{kind.lower()}_one_layer_odd", dtype, jit=True)
    assert calls[names[0]] == (7 if dtype == np.float32 else 0)
    assert calls[names[1]] == 7


@needs_jit
def test_tanh_f32_error_bound():
    """The kernels' float32 tanh: within 8 float32 ulps and 4e-7 of the exact value everywhere
    (a dense grid over the range where tanh is not yet 1, and the saturated tails)."""
    grid = np.linspace(-10, 10, 2_000_001)
    x = np.concatenate([grid, [-1e30, -50.0, -1e-30, 0.0, 1e-30, 1e-8, 50.0, 1e30]]).astype(np.float32)
    out = np.empty_like(x)
    KERNELS.tanh_f32(x, out)
    exact = np.tanh(x.astype(np.float64))
    err = np.abs(out.astype(np.float64) - exact)
    assert err.max() <= 4e-7
    assert (err / np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)).max() <= 8
    assert np.all(np.abs(out) <= 1)
    assert out[x == 0][0] == 0 and np.all(np.sign(out) == np.sign(x))


@needs_jit
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("forward_jit", [True, False])
def test_paths_share_what_backward_reads(kind, forward_jit):
    """A forward on one path and its backward on the other (the JIT switched in between) agree
    with torch: both paths save the same arrays in the same layout."""
    torch.manual_seed(0)
    th_layer = getattr(torch.nn, kind)(5, 7, num_layers=2)
    bp_layer = getattr(backprop.nn, kind)(5, 7, num_layers=2)
    with backprop.no_grad():
        for (_, p), (_, q) in zip(bp_layer.named_parameters(), th_layer.named_parameters()):
            p.copy_(backprop.tensor(q.detach().numpy()))
    x_np = np.random.default_rng(0).standard_normal((6, 3, 5)).astype(np.float32)
    bx, tx = backprop.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    previous = CPU.set_jit(forward_jit)
    try:
        out = bp_layer(bx)[0]
        CPU.set_jit(not forward_jit)
        (out * out).sum().backward()
    finally:
        CPU.set_jit(previous)
    t_out = th_layer(tx)[0]
    (t_out * t_out).sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), t_out.detach().numpy(), **TOL[np.float32])
    np.testing.assert_allclose(bx.grad.numpy(), tx.grad.numpy(), **TOL[np.float32])
    for (_, p), (_, q) in zip(bp_layer.named_parameters(), th_layer.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), **TOL[np.float32])
