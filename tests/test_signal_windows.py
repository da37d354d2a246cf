"""backprop.signal.windows and the top-level *_window functions against PyTorch 2.13: values
(symmetric and periodic, lengths 0, 1 and up), dtypes, devices, requires_grad and the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import backprop

W_NAMES = ["bartlett", "blackman", "cosine", "exponential", "gaussian", "hamming", "hann", "kaiser", "nuttall"]
PARAMS = [
    ("general_cosine", {"a": [0.46, 0.23, 0.31]}),
    ("general_cosine", {"a": (0.5,)}),
    ("general_hamming", {}),
    ("general_hamming", {"alpha": 0.3}),
    ("gaussian", {"std": 0.4}),
    ("gaussian", {"std": 3.0}),
    ("kaiser", {"beta": 0.0}),
    ("kaiser", {"beta": 5.5}),
    ("exponential", {"tau": 2.5}),
]


def _both(name, length, **kw):
    ours = getattr(backprop.signal.windows, name)(length, **kw)
    theirs = getattr(torch.signal.windows, name)(length, **{k: (getattr(torch, v.name) if isinstance(v, backprop.dtype) else v) for k, v in kw.items()})
    return ours, theirs


def _assert_same(ours, theirs, rtol=1e-6, atol=1e-6):
    assert ours.dtype.name == str(theirs.dtype).replace("torch.", "")
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.cpu().numpy(), theirs.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("length", [0, 1, 2, 5, 16])
@pytest.mark.parametrize("sym", [True, False])
@pytest.mark.parametrize("name,kw", [(n, {}) for n in W_NAMES] + PARAMS, ids=lambda v: str(v))
def test_windows_match_torch(name, kw, length, sym):
    _assert_same(*_both(name, length, sym=sym, **kw))


@pytest.mark.parametrize("name", W_NAMES)
def test_float64_and_default_dtype(name):
    ours, theirs = _both(name, 7, dtype=backprop.float64)
    _assert_same(ours, theirs, rtol=1e-12, atol=1e-14)
    backprop.set_default_dtype(backprop.float64)
    try:
        assert getattr(backprop.signal.windows, name)(4).dtype == backprop.float64
    finally:
        backprop.set_default_dtype(backprop.float32)


def test_exponential_center_on_periodic_windows():
    _assert_same(*_both("exponential", 6, sym=False, center=1.5, tau=0.7))


def test_device_and_requires_grad(device):
    w = backprop.signal.windows.hann(8, device=device, requires_grad=True)
    assert w.device.type == device and w.requires_grad and w.is_leaf
    v = backprop.kaiser_window(8, device=device, dtype=backprop.float64)
    assert v.device.type == device and v.dtype == backprop.float64
    np.testing.assert_allclose(v.cpu().numpy(), torch.kaiser_window(8, dtype=torch.float64).numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window"])
@pytest.mark.parametrize("length", [0, 1, 2, 7, 10])
@pytest.mark.parametrize("periodic", [True, False])
def test_top_level_windows_match_torch(name, length, periodic):
    ours = getattr(backprop, name)(length, periodic)
    theirs = getattr(torch, name)(length, periodic)
    _assert_same(ours, theirs)
    ours = getattr(backprop, name)(length, dtype=backprop.float64)
    theirs = getattr(torch, name)(length, dtype=torch.float64)
    _assert_same(ours, theirs, rtol=1e-12, atol=1e-14)


def test_top_level_window_parameters():
    _assert_same(backprop.hamming_window(9, False, 0.5, 0.4), torch.hamming_window(9, False, 0.5, 0.4))
    _assert_same(backprop.kaiser_window(9, True, 3.0), torch.kaiser_window(9, True, 3.0))
    _assert_same(backprop.kaiser_window(6, False, beta=7.0), torch.kaiser_window(6, False, beta=7.0))


@pytest.mark.parametrize(
    "call,exc,message",
    [
        (lambda m: m.signal.windows.hann(-1), ValueError, "general_cosine requires non-negative window length, got M=-1"),
        (lambda m: m.signal.windows.bartlett(-2), ValueError, "bartlett requires non-negative window length, got M=-2"),
        (lambda m: m.signal.windows.hann(3, dtype=m.int64), ValueError, "general_cosine expects float32 or float64 dtypes, got: "),
        (lambda m: m.signal.windows.kaiser(3, dtype=m.float16), ValueError, "kaiser expects float32 or float64 dtypes, got: "),
        (lambda m: m.signal.windows.kaiser(3, beta=-1), ValueError, "beta must be non-negative, got: -1 instead."),
        (lambda m: m.signal.windows.gaussian(3, std=-1), ValueError, "Standard deviation must be positive, got: -1 instead."),
        (lambda m: m.signal.windows.exponential(3, tau=-1), ValueError, "Tau must be positive, got: -1 instead."),
        (lambda m: m.signal.windows.exponential(3, center=1), ValueError, "Center must be None for symmetric windows"),
        (lambda m: m.signal.windows.general_cosine(3, a=None), TypeError, "Coefficients must be a list/tuple"),
        (lambda m: m.signal.windows.general_cosine(3, a=[]), ValueError, "Coefficients cannot be empty"),
        (lambda m: m.hann_window(-1), RuntimeError, "hann_window requires non-negative window_length, got window_length=-1"),
        (lambda m: m.kaiser_window(-2), RuntimeError, "kaiser_window requires non-negative window_length, got window_length=-2"),
        (lambda m: m.bartlett_window(3, dtype=m.int64), RuntimeError, "bartlett_window expects floating point dtypes, got: "),
        (lambda m: m.hann_window(2.5), TypeError, "hann_window()"),
        (lambda m: m.kaiser_window(6, beta=7.0), TypeError, "kaiser_window() received an invalid combination of arguments"),
        (lambda m: m.hamming_window(6, alpha=0.5), TypeError, "hamming_window() received an invalid combination of arguments"),
    ],
)
def test_errors_match_torch(call, exc, message):
    for m in (torch, backprop):
        with pytest.raises(exc) as info:
            call(m)
        assert message in str(info.value)
