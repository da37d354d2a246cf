"""RNN, LSTM, GRU and their cells against torch 2.13 with torch's weights loaded by name:
outputs, final states, input and initial-state gradients and every parameter gradient; a
float64 finite-difference check of the fused recurrence; packed sequences; reprs; training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import backprop
from backprop.ops.rnn_ops import rnn_layer
from nn_oracle import check_layer

R = np.random.default_rng(0)


def rand(*shape, scale: float = 1.0):
    return (R.standard_normal(shape) * scale).astype(np.float32)


def flat(out):
    """Nested (output, (h, c)) results -> a flat tuple of tensors for the oracle."""
    if isinstance(out, (tuple, list)):
        return tuple(t for o in out for t in flat(o))
    return (out,)


def run_seq(layer, x, *state):
    """Call a sequence module with its initial state given the torch way (h or (h, c))."""
    if not state:
        return flat(layer(x))
    hx = state[0] if len(state) == 1 else tuple(state)
    return flat(layer(x, hx))


# name: (kind, kwargs, input shape, state shapes)
SEQ_CASES = {
    "rnn_tanh": ("RNN", {}, (5, 3, 4), []),
    "rnn_relu_2layers_h0": ("RNN", {"num_layers": 2, "nonlinearity": "relu"}, (5, 3, 4), [(2, 3, 6)]),
    "rnn_bidir_batch_first": ("RNN", {"bidirectional": True, "batch_first": True}, (3, 5, 4), []),
    "rnn_no_bias_3layers": ("RNN", {"num_layers": 3, "bias": False}, (4, 2, 4), [(3, 2, 6)]),
    "rnn_unbatched_h0": ("RNN", {"num_layers": 2}, (5, 4), [(2, 6)]),
    "lstm": ("LSTM", {}, (6, 3, 4), []),
    "lstm_states": ("LSTM", {}, (6, 3, 4), [(1, 3, 6), (1, 3, 6)]),
    "lstm_2layers_bidir_states": ("LSTM", {"num_layers": 2, "bidirectional": True}, (5, 3, 4), [(4, 3, 6), (4, 3, 6)]),
    "lstm_3layers_no_bias_batch_first": ("LSTM", {"num_layers": 3, "bias": False, "batch_first": True}, (2, 5, 4), []),
    "lstm_bidir_batch_first_states": ("LSTM", {"bidirectional": True, "batch_first": True}, (3, 4, 4), [(2, 3, 6), (2, 3, 6)]),
    "lstm_unbatched": ("LSTM", {"num_layers": 2}, (5, 4), []),
    "lstm_unbatched_states_bidir": ("LSTM", {"bidirectional": True}, (5, 4), [(2, 6), (2, 6)]),
    "lstm_dropout_eval": ("LSTM", {"num_layers": 2, "dropout": 0.5}, (4, 3, 4), []),
    "lstm_proj": ("LSTM", {"proj_size": 2}, (5, 3, 4), []),
    "lstm_proj_2layers_bidir_states": ("LSTM", {"proj_size": 3, "num_layers": 2, "bidirectional": True}, (5, 3, 4), [(4, 3, 3), (4, 3, 6)]),
    "lstm_proj_no_bias_batch_first": ("LSTM", {"proj_size": 2, "bias": False, "batch_first": True}, (2, 5, 4), []),
    "lstm_proj_unbatched_states": ("LSTM", {"proj_size": 4}, (5, 4), [(1, 4), (1, 6)]),
    "gru": ("GRU", {}, (6, 3, 4), []),
    "gru_h0": ("GRU", {}, (6, 3, 4), [(1, 3, 6)]),
    "gru_2layers_bidir_h0": ("GRU", {"num_layers": 2, "bidirectional": True}, (5, 3, 4), [(4, 3, 6)]),
    "gru_3layers_no_bias_batch_first": ("GRU", {"num_layers": 3, "bias": False, "batch_first": True}, (2, 5, 4), []),
    "gru_unbatched_h0": ("GRU", {"batch_first": True}, (5, 4), [(1, 6)]),
    "gru_dropout_eval_bidir": ("GRU", {"num_layers": 2, "dropout": 0.3, "bidirectional": True}, (4, 2, 4), []),
}


@pytest.mark.parametrize("name", sorted(SEQ_CASES))
def test_sequence_module_matches_torch(name, device):
    kind, kwargs, shape, states = SEQ_CASES[name]
    inputs = [rand(*shape)] + [rand(*s) for s in states]
    train = kwargs.get("dropout", 0) == 0  # inter-layer dropout is random in training mode
    bp_layer, th_layer = check_layer(lambda m: getattr(m.nn, kind)(4, 6, **kwargs), inputs, forward=run_seq, train=train, device=device)
    assert [n for n, _ in bp_layer.named_parameters()] == [n for n, _ in th_layer.named_parameters()]


# name: (kind, kwargs, input shape, state shapes)
CELL_CASES = {
    "rnn_cell": ("RNNCell", {}, (3, 4), [(3, 6)]),
    "rnn_cell_relu_no_state": ("RNNCell", {"nonlinearity": "relu"}, (3, 4), []),
    "rnn_cell_no_bias_unbatched": ("RNNCell", {"bias": False}, (4,), [(6,)]),
    "lstm_cell": ("LSTMCell", {}, (3, 4), [(3, 6), (3, 6)]),
    "lstm_cell_no_state": ("LSTMCell", {}, (3, 4), []),
    "lstm_cell_unbatched_no_bias": ("LSTMCell", {"bias": False}, (4,), [(6,), (6,)]),
    "gru_cell": ("GRUCell", {}, (3, 4), [(3, 6)]),
    "gru_cell_no_state": ("GRUCell", {}, (3, 4), []),
    "gru_cell_unbatched_no_bias": ("GRUCell", {"bias": False}, (4,), [(6,)]),
}


@pytest.mark.parametrize("name", sorted(CELL_CASES))
def test_cell_matches_torch(name, device):
    kind, kwargs, shape, states = CELL_CASES[name]
    inputs = [rand(*shape)] + [rand(*s) for s in states]
    check_layer(lambda m: getattr(m.nn, kind)(4, 6, **kwargs), inputs, forward=run_seq, device=device)


def test_cells_unrolled_match_sequence_module():
    """An LSTMCell stepped by hand equals a one-layer LSTM with the same weights."""
    lstm = backprop.nn.LSTM(4, 5)
    cell = backprop.nn.LSTMCell(4, 5)
    cell.load_state_dict({k[:-3]: v for k, v in lstm.state_dict().items()})
    x = backprop.tensor(rand(6, 2, 4))
    out, (h_n, c_n) = lstm(x)
    h = c = backprop.zeros(2, 5)
    for t in range(6):
        h, c = cell(x[t], (h, c))
        np.testing.assert_allclose(h.detach().numpy(), out[t].detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c.detach().numpy(), c_n[0].detach().numpy(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- the fused primitive
@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("packed", [False, True], ids=["full", "packed"])
def test_fused_layer_gradcheck(mode, reverse, packed):
    rng = np.random.default_rng(3)
    gates = {"LSTM": 4, "GRU": 3}.get(mode, 1)
    hidden, size, seq, batch = 3, 2, 4, 3

    def t(*shape):
        return backprop.tensor(rng.standard_normal(shape) * 0.8, dtype=backprop.float64, requires_grad=True)

    x, h0, c0 = t(seq, batch, size), t(batch, hidden), t(batch, hidden)
    w_ih, w_hh, b_ih, b_hh = t(gates * hidden, size), t(gates * hidden, hidden), t(gates * hidden), t(gates * hidden)
    sizes = [3, 3, 2, 1] if packed else None
    if mode == "LSTM":
        args = (x, h0, c0, w_ih, w_hh, b_ih, b_hh)
        fn = lambda *a: rnn_layer(mode, a[0], a[1], a[2], *a[3:], reverse=reverse, batch_sizes=sizes)  # noqa: E731
    else:
        args = (x, h0, w_ih, w_hh, b_ih, b_hh)
        fn = lambda *a: rnn_layer(mode, a[0], a[1], None, *a[2:], reverse=reverse, batch_sizes=sizes)  # noqa: E731
    assert backprop.autograd.gradcheck(fn, args, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_fused_layer_without_bias_or_state_gradcheck():
    rng = np.random.default_rng(4)
    x = backprop.tensor(rng.standard_normal((3, 2, 2)), dtype=backprop.float64, requires_grad=True)
    w_ih = backprop.tensor(rng.standard_normal((12, 2)), dtype=backprop.float64, requires_grad=True)
    w_hh = backprop.tensor(rng.standard_normal((12, 3)), dtype=backprop.float64, requires_grad=True)
    assert backprop.autograd.gradcheck(lambda *a: rnn_layer("LSTM", a[0], None, None, a[1], a[2]), (x, w_ih, w_hh))


@pytest.mark.parametrize("packed", [False, True], ids=["full", "packed"])
def test_projected_lstm_gradcheck_and_gradgradcheck(packed):
    """proj_size > 0 runs as a composition of ops: first and second derivatives in float64
    (parameter gradients are checked against torch in the oracle cases above)."""
    rng = np.random.default_rng(5)
    lstm = backprop.nn.LSTM(2, 3, proj_size=2, bidirectional=True, dtype=backprop.float64)
    x = backprop.tensor(rng.standard_normal((4, 3, 2)), dtype=backprop.float64, requires_grad=True)
    h0 = backprop.tensor(rng.standard_normal((2, 3, 2)), dtype=backprop.float64, requires_grad=True)
    c0 = backprop.tensor(rng.standard_normal((2, 3, 3)), dtype=backprop.float64, requires_grad=True)

    def run(x, h0, c0):
        if packed:
            seq = backprop.nn.utils.rnn.pack_padded_sequence(x, [4, 2, 3], enforce_sorted=False)
            out, (h, c) = lstm(seq, (h0, c0))
            return out.data, h, c
        out, (h, c) = lstm(x, (h0, c0))
        return out, h, c

    assert backprop.autograd.gradcheck(run, (x, h0, c0), eps=1e-6, atol=1e-6, rtol=1e-4)
    assert backprop.autograd.gradgradcheck(run, (x, h0, c0), eps=1e-6, atol=1e-5, rtol=1e-3)


def test_double_backward_through_fused_layer_raises():
    lstm = backprop.nn.LSTM(3, 4)
    x = backprop.tensor(rand(4, 2, 3), requires_grad=True)
    out, _ = lstm(x)
    (gx,) = backprop.autograd.grad(out.pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        gx.sum().backward()


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("seq", [4, 5])
def test_inference_path_matches_torch(kind, seq):
    """Under no_grad the layers keep no per-step state for backward (alternating buffers)."""
    x, h0, c0 = rand(seq, 3, 4), rand(4, 3, 6), rand(4, 3, 6)
    outs, state = [], None
    for m in (torch, backprop):
        layer = getattr(m.nn, kind)(4, 6, num_layers=2, bidirectional=True)
        if state is None:
            state = layer.state_dict()
        else:
            layer.load_state_dict(state)
        hx = (m.tensor(h0), m.tensor(c0)) if kind == "LSTM" else m.tensor(h0)
        packed = m.nn.utils.rnn.pack_padded_sequence(m.tensor(x), [seq, seq - 1, 2], enforce_sorted=False)
        with m.no_grad():
            full = flat(layer(m.tensor(x), hx))
            part = flat(layer(packed, hx))
        outs.append([a for a in (t.numpy() for t in full + part) if a.dtype.kind == "f"])
    assert len(outs[0]) == len(outs[1]) == (6 if kind == "LSTM" else 4)
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_float64_module_matches_torch(device):
    x = rand(5, 2, 3).astype(np.float64)
    check_layer(lambda m: m.nn.GRU(3, 4, 2, bidirectional=True, dtype=m.float64), [x], forward=run_seq, rtol=1e-8, atol=1e-10, device=device)


# ---------------------------------------------------------------------------- packed sequences
def _packed_run(layer, x, h0=None, c0=None):
    m = torch if isinstance(layer, torch.nn.Module) else backprop
    rnn = m.nn.utils.rnn
    lengths = [2, 5, 3, 5]
    packed = rnn.pack_padded_sequence(x, lengths, batch_first=layer.batch_first, enforce_sorted=False)
    hx = None if h0 is None else (h0 if c0 is None else (h0, c0))
    out, state = layer(packed) if hx is None else layer(packed, hx)
    assert isinstance(out, rnn.PackedSequence)
    padded, lens = rnn.pad_packed_sequence(out, batch_first=layer.batch_first, total_length=6)
    assert lens.tolist() == lengths
    return flat((padded, out.data, state))


@pytest.mark.parametrize(
    "kind, kwargs, states",
    [
        ("LSTM", {"num_layers": 2, "bidirectional": True}, [(4, 4, 5), (4, 4, 5)]),
        ("LSTM", {"batch_first": True}, []),
        ("LSTM", {"proj_size": 2, "num_layers": 2, "bidirectional": True}, [(4, 4, 2), (4, 4, 5)]),
        ("GRU", {"num_layers": 2, "bidirectional": True, "batch_first": True}, [(4, 4, 5)]),
        ("RNN", {"nonlinearity": "relu", "bidirectional": True}, []),
    ],
    ids=["lstm_bidir_states", "lstm_batch_first", "lstm_proj_bidir_states", "gru_bidir_batch_first_h0", "rnn_relu_bidir"],
)
def test_packed_sequence_matches_torch(kind, kwargs, states, device):
    shape = (4, 6, 3) if kwargs.get("batch_first") else (6, 4, 3)
    inputs = [rand(*shape)] + [rand(*s) for s in states]
    check_layer(lambda m: getattr(m.nn, kind)(3, 5, **kwargs), inputs, forward=_packed_run, device=device)


def test_pad_and_pack_utilities_match_torch():
    seqs = [rand(4, 2), rand(2, 2), rand(3, 2)]
    for m in (backprop, torch):
        rnn = m.nn.utils.rnn
        ts = [m.tensor(s) for s in seqs]
        out = rnn.pad_sequence(ts, batch_first=True, padding_value=-1.0)
        left = rnn.pad_sequence(ts, padding_side="left")
        packed = rnn.pack_sequence(ts, enforce_sorted=False)
        unpacked = rnn.unpack_sequence(packed)
        if m is backprop:
            bp = (out.numpy(), left.numpy(), packed.data.numpy(), packed.batch_sizes.numpy(), packed.sorted_indices.numpy())
            assert all(np.array_equal(u.numpy(), s) for u, s in zip(unpacked, seqs))
        else:
            th = (out.numpy(), left.numpy(), packed.data.numpy(), packed.batch_sizes.numpy(), packed.sorted_indices.numpy())
    for a, b in zip(bp, th):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        backprop.nn.utils.rnn.pack_padded_sequence(backprop.zeros(3, 2, 1), [2, 3])
    with pytest.raises(RuntimeError, match="greater than 0"):
        backprop.nn.utils.rnn.pack_padded_sequence(backprop.zeros(3, 2, 1), [3, 0])


def test_pad_sequence_gradient_reaches_each_sequence():
    a = backprop.tensor(rand(3, 2), requires_grad=True)
    b = backprop.tensor(rand(1, 2), requires_grad=True)
    padded = backprop.nn.utils.rnn.pad_sequence([a, b])
    assert tuple(padded.shape) == (3, 2, 2)
    (padded * backprop.arange(12.0).reshape(3, 2, 2)).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [[0, 1], [4, 5], [8, 9]])
    np.testing.assert_array_equal(b.grad.numpy(), [[2, 3]])


# ---------------------------------------------------------------------------- module API
def test_state_dict_keys_and_shapes_match_torch():
    for kind in ("RNN", "LSTM", "GRU"):
        bp = getattr(backprop.nn, kind)(3, 5, num_layers=2, bidirectional=True)
        th = getattr(torch.nn, kind)(3, 5, num_layers=2, bidirectional=True)
        bp_sd, th_sd = bp.state_dict(), th.state_dict()
        assert list(bp_sd) == list(th_sd)
        assert [tuple(v.shape) for v in bp_sd.values()] == [tuple(v.shape) for v in th_sd.values()]
        assert [[p.shape for p in ws] for ws in bp.all_weights] == [[p.shape for p in ws] for ws in th.all_weights]
        assert str(bp.load_state_dict(th_sd)) == "<All keys matched successfully>"
    assert list(backprop.nn.GRUCell(3, 4, bias=False).state_dict()) == ["weight_ih", "weight_hh"]


@pytest.mark.parametrize(
    "build",
    [
        lambda m: m.nn.RNN(3, 4),
        lambda m: m.nn.RNN(3, 4, 2, nonlinearity="relu", bias=False),
        lambda m: m.nn.LSTM(3, 4, num_layers=2, batch_first=True, dropout=0.25, bidirectional=True),
        lambda m: m.nn.GRU(3, 4, bias=False, bidirectional=True),
        lambda m: m.nn.RNNCell(3, 4, nonlinearity="relu", bias=False),
        lambda m: m.nn.LSTMCell(3, 4),
        lambda m: m.nn.GRUCell(3, 4, bias=False),
        lambda m: m.nn.Sequential(m.nn.LSTM(3, 4), m.nn.Linear(4, 2)),
    ],
)
def test_repr_matches_torch(build):
    assert repr(build(backprop)).replace("backprop", "torch") == repr(build(torch))


def test_default_init_is_uniform_in_one_over_sqrt_hidden():
    lstm = backprop.nn.LSTM(8, 16, 2, bidirectional=True)
    values = np.concatenate([p.detach().numpy().ravel() for p in lstm.parameters()])
    bound = 1 / np.sqrt(16)
    assert values.min() >= -bound and values.max() <= bound
    assert values.min() < -0.9 * bound and values.max() > 0.9 * bound  # spans the interval
    assert abs(values.mean()) < 0.01


def test_constructor_and_forward_errors_match_torch():
    for m in (backprop, torch):
        with pytest.raises(ValueError, match="Unknown nonlinearity"):
            m.nn.RNN(3, 4, nonlinearity="sigmoid")
        with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
            m.nn.GRU(3, 4, proj_size=2)
        with pytest.raises(ValueError, match="dropout should be a number"):
            m.nn.LSTM(3, 4, dropout=1.5)
        lstm = m.nn.LSTM(3, 4, 2)
        with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 3, got 5"):
            lstm(m.zeros(2, 1, 5))
        with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(2, 1, 4\), got \[1, 1, 4\]"):
            lstm(m.zeros(2, 1, 3), (m.zeros(1, 1, 4), m.zeros(2, 1, 4)))
        with pytest.raises(ValueError, match="Expected input to be 2D or 3D"):
            m.nn.GRU(3, 4)(m.zeros(1, 2, 1, 3))
        with pytest.raises(RuntimeError, match="hx should also be 2-D"):
            m.nn.GRU(3, 4)(m.zeros(2, 3), m.zeros(1, 1, 4))
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        backprop.nn.GRU(3, 4, dropout=0.5)
        with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
            m.nn.LSTM(3, 4, proj_size=4)
        with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 1, 2\), got \[1, 1, 4\]"):
            m.nn.LSTM(3, 4, proj_size=2)(m.zeros(2, 1, 3), (m.zeros(1, 1, 4), m.zeros(1, 1, 4)))
        with pytest.raises(RuntimeError, match=r"Expected hidden\[1\] size \(1, 1, 4\), got \[1, 1, 2\]"):
            m.nn.LSTM(3, 4, proj_size=2)(m.zeros(2, 1, 3), (m.zeros(1, 1, 2), m.zeros(1, 1, 2)))


def test_flatten_parameters_is_a_noop():
    gru = backprop.nn.GRU(3, 4)
    x = backprop.tensor(rand(2, 1, 3))
    before = gru(x)[0].detach().numpy()
    assert gru.flatten_parameters() is None
    np.testing.assert_array_equal(gru(x)[0].detach().numpy(), before)


# ---------------------------------------------------------------------------- dropout in training
def test_inter_layer_dropout_in_training_mode():
    """Layer 2 made transparent (identity input weights, no recurrence, ReLU) shows the dropout
    mask on layer 1's output: entries are 0 or out1 / (1 - p), zeroed with probability p."""
    p = 0.4
    rnn = backprop.nn.RNN(8, 8, num_layers=2, nonlinearity="relu", dropout=p)
    with backprop.no_grad():
        rnn.weight_ih_l1.copy_(backprop.eye(8))
        rnn.weight_hh_l1.zero_()
        rnn.bias_ih_l1.zero_()
        rnn.bias_hh_l1.zero_()
    x = backprop.tensor(rand(50, 40, 8))
    rnn.eval()
    ref = rnn(x)[0].detach().numpy()
    rnn.train()
    out = rnn(x)[0].detach().numpy()
    active = ref > 1e-3
    assert active.sum() > 3000
    kept = out[active] != 0
    assert abs(1 - kept.mean() - p) < 0.03
    np.testing.assert_allclose(out[active][kept], ref[active][kept] / (1 - p), rtol=1e-5)
    assert not np.array_equal(rnn(x)[0].detach().numpy(), out)  # a fresh mask per call
    backprop.manual_seed(7)
    a = rnn(x)[0].detach().numpy()
    backprop.manual_seed(7)
    np.testing.assert_array_equal(rnn(x)[0].detach().numpy(), a)  # reproducible under a seed


def test_single_layer_ignores_dropout_in_training_mode():
    with pytest.warns(UserWarning):
        gru = backprop.nn.GRU(3, 4, dropout=0.9)
    x = backprop.tensor(rand(5, 2, 3))
    gru.train()
    a = gru(x)[0].detach().numpy()
    gru.eval()
    np.testing.assert_array_equal(gru(x)[0].detach().numpy(), a)


# ---------------------------------------------------------------------------- training
def test_lstm_learns_a_toy_sequence_task():
    """Predict the running sum sign of a +-1 sequence: the loss must fall well below its start."""
    backprop.manual_seed(0)
    rng = np.random.default_rng(0)

    class Model(backprop.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = backprop.nn.LSTM(1, 16, batch_first=True)
            self.head = backprop.nn.Linear(16, 1)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out)

    model = Model()
    opt = backprop.optim.Adam(model.parameters(), lr=0.02)
    loss_fn = backprop.nn.BCEWithLogitsLoss()
    losses = []
    for _ in range(60):
        seq = rng.choice([-1.0, 1.0], size=(32, 10, 1)).astype(np.float32)
        target = (np.cumsum(seq, axis=1) > 0).astype(np.float32)
        loss = loss_fn(model(backprop.tensor(seq)), backprop.tensor(target))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
