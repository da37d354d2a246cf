"""A whole training step on the device reads nothing back on the host.

A small GPT-like model (embedding, a causal ``TransformerEncoderLayer`` with dropout, a linear
head) trains with ``cross_entropy`` (class weights, label smoothing, an ignored index),
``clip_grad_norm_`` and ``AdamW``, with a ``GradientMonitor`` attached. On the fake CUDA device
the steps after two warm-up steps run under ``fake_cuda.no_host_sync``: a float(), .item(),
boolean-mask index or nonzero() anywhere in forward, backward, clipping or the optimizer step
would make a real GPU wait for the device each step, and fails here. The monitor reads its
statistics back once per step, when it commits the step (after the optimizer step): that one
read is allowed. On the CPU the steps just run. Then the guard itself.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import backprop as bp
import fake_cuda
from backprop._backend import array_module
from backprop.diagnostics import GradientMonitor

VOCAB, D, T, B = 11, 16, 6, 3


class TinyGPT(bp.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = bp.nn.Embedding(VOCAB, D)
        self.block = bp.nn.TransformerEncoderLayer(D, nhead=2, dim_feedforward=32, dropout=0.1, batch_first=True, norm_first=True)
        self.head = bp.nn.Linear(D, VOCAB)

    def forward(self, tokens):
        mask = bp.nn.Transformer.generate_square_subsequent_mask(tokens.shape[1], device=tokens.device)
        return self.head(self.block(self.embed(tokens), src_mask=mask, is_causal=True))


def test_a_training_step_does_not_wait_for_the_device(device):
    bp.manual_seed(0)
    model = TinyGPT().to(device)
    opt = bp.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    monitor = GradientMonitor(model, opt, activation_every=1, update_every=1)
    weight = bp.linspace(0.5, 1.5, VOCAB, device=device)
    rng = np.random.default_rng(0)
    data = []
    for _ in range(4):
        tokens = rng.integers(0, VOCAB, (B, T + 1))
        tokens[0, -1] = -100  # one ignored target
        data.append((bp.tensor(tokens[:, :-1].clip(0), device=device), bp.tensor(tokens[:, 1:], device=device)))

    def step(x, y):
        opt.zero_grad()
        logits = model(x)
        loss = bp.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1), weight=weight, label_smoothing=0.1)
        loss.backward()
        bp.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    losses = [step(*data[0]).item(), step(*data[1]).item()]  # warm-up: lazy state, first-step paths
    for x, y in data[2:]:
        with fake_cuda.no_host_sync(allowed=1) as guard:  # the monitor's one read, at its commit
            loss = step(x, y)
        assert not fake_cuda._installed or guard.allowed == 0, "the monitor read its statistics more (or less) than once"
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert monitor.step == 4 and len(monitor.history["step"]) == 4
    h = monitor.history
    assert all(math.isfinite(v) for v in h["total_grad_norm"]) and all(math.isfinite(v) for v in h["update_ratio"]["head"])
    assert all(math.isfinite(v) for v in h["act_mean"]["block.linear1"])


def test_no_host_sync_refuses_every_read_of_a_device_value():
    """The guard itself (tests/fake_cuda.py): each host read of a fake-CUDA array raises inside
    the block, ``allowed`` reads pass, a read the code caught is reported when the block ends,
    and outside the block everything works as before."""
    fake_cuda.install()
    try:
        a = bp.arange(6.0, device="cuda")._data
        mod = array_module(a)  # the fake CuPy module
        mask = a > 2
        reads = {
            "float": lambda: float(a[0]), "int": lambda: int(a[0]), "bool": lambda: bool(a[0]), "complex": lambda: complex(a[0]),
            "index": lambda: [0, 1][a[0].astype(np.int64)], "item": lambda: a[0].item(), "tolist": lambda: a.tolist(), "get": lambda: a.get(),
            "asarray": lambda: np.asarray(a), "mask get": lambda: a[mask], "mask set": lambda: a.__setitem__(mask, 0.0),
            "mask in tuple": lambda: a.reshape(2, 3)[mask.reshape(2, 3)[:, 0], :],
            "nonzero method": lambda: a.nonzero(), "numpy.unique": lambda: np.unique(a),
            **{name: (lambda name=name: getattr(mod, name)(mask) if name not in ("compress", "extract") else getattr(mod, name)(mask, a)) for name in fake_cuda._VALUE_DEPENDENT},
        }
        for what, read in reads.items():
            with pytest.raises(fake_cuda.DeviceSynchronizeError):
                with fake_cuda.no_host_sync():
                    read()
            read() if what not in ("asarray", "index") else None  # outside the block: as before
        with fake_cuda.no_host_sync():  # no read: device math, shapes, in-place writes through index arrays
            b = a * 2 + mod.where(mask, a, 0.0)
            b[mod.arange(2)] = 1.0
            assert b.shape == (6,) and type(b) is fake_cuda.FakeArray
        with fake_cuda.no_host_sync(allowed=2) as guard:
            float(a[0]), a.get()
        assert guard.allowed == 0
        with pytest.raises(fake_cuda.DeviceSynchronizeError, match="caught inside"):
            with fake_cuda.no_host_sync():
                try:
                    float(a[1])
                except TypeError:
                    pass
        assert not hasattr(fake_cuda.FakeArray, "__index__")  # as CuPy's arrays, outside the block
    finally:
        fake_cuda.uninstall()
