"""``out=`` and argument checks found by op_db's error inputs (bernoulli, multinomial, cat,
masked_fill, normal), each compared with what torch does on the same call."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import backprop


def _both(fn):
    """Run ``fn(m)`` with backprop and torch: both results, or both exception types."""
    results = []
    for m in (backprop, torch):
        try:
            results.append(fn(m))
        except Exception as exc:  # noqa: BLE001 - the exception type is what is compared
            results.append(type(exc))
    return results


@pytest.mark.parametrize("fn", [
    lambda m: m.zeros(2).masked_fill(m.tensor(False), 1j),
    lambda m: m.zeros(2, dtype=m.int64).masked_fill(m.tensor(False), m.tensor(0.0 + 1j)),
    lambda m: m.zeros(2).masked_fill(m.tensor([True, False]), m.tensor(2.0 + 0j)).tolist(),
    lambda m: m.zeros(2).masked_fill(m.tensor([True, False]), 3 + 0j).tolist(),
    lambda m: m.multinomial(m.ones(1, 2), 2, out=m.empty(1, 2)),
    lambda m: m.cat([m.ones(3), m.ones(3)], out=m.empty(6, dtype=m.int64)),
    lambda m: m.cat([m.ones(3), m.ones(3)], out=m.empty(6, dtype=m.float64)).tolist(),
    lambda m: m.normal(1.6, 0.3, [2, 2], layout=m.strided).shape,
    lambda m: m.signal.windows.hann(3, layout=m.sparse_coo),
    lambda m: m.signal.windows.kaiser(3, layout=m.sparse_csr, beta=12.0),
    lambda m: m.amax(m.ones(4, 3), 0, out=m.empty(3, dtype=m.int32)),
    lambda m: m.amin(m.ones(4, 3), 0, out=m.empty(3, dtype=m.float64)),
    lambda m: m.aminmax(m.ones(4, 3), dim=0, out=(m.empty(3), m.empty(3, dtype=m.int64))),
    lambda m: m.amax(m.arange(12.0).reshape(4, 3), 1, out=m.empty(4)).tolist(),
    lambda m: [t.tolist() for t in m.aminmax(m.arange(12.0).reshape(4, 3), dim=0, out=(m.empty(3), m.empty(3)))],
])
def test_matches_torch(fn):
    ours, theirs = _both(fn)
    if isinstance(theirs, type):
        assert ours is theirs
    else:
        assert (tuple(ours) if isinstance(ours, backprop.Size) else ours) == (tuple(theirs) if isinstance(theirs, torch.Size) else theirs)


def test_out_messages():
    x = backprop.ones(4, 3)
    with pytest.raises(RuntimeError, match="but got Float for input's dtype and Int for out's dtype"):
        backprop.amax(x, 0, out=backprop.empty(3, dtype=backprop.int32))
    with pytest.raises(RuntimeError, match="Expected out tensor to have dtype float, but got double instead"):
        backprop.aminmax(x, dim=0, out=(backprop.empty(3, dtype=backprop.float64), backprop.empty(3)))


def test_masked_fill_complex_message():
    with pytest.raises(RuntimeError, match="value cannot be converted to type int64_t without overflow"):
        backprop.zeros(2, dtype=backprop.int64).masked_fill(backprop.tensor(False), backprop.tensor(1j))


def test_out_writes_and_overlap():
    x = backprop.rand(6)
    o = backprop.empty(6, dtype=backprop.float64)
    assert backprop.bernoulli(x, out=o) is o and o.dtype == backprop.float64
    assert set(np.unique(o.numpy())) <= {0.0, 1.0}
    o = backprop.empty(3, dtype=backprop.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the resize warning, as torch's
        assert backprop.multinomial(backprop.ones(1, 2), 2, out=o) is o
    assert tuple(o.shape) == (1, 2) and sorted(o.numpy()[0].tolist()) == [0, 1]
    for call in (lambda: backprop.bernoulli(x, out=x), lambda: backprop.cat([x, x], out=x[:6]),
                 lambda: backprop.multinomial(x, 2, out=x)):
        with pytest.raises(RuntimeError):
            call()
