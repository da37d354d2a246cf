"""backprop.fft against torch.fft: values, output dtypes, gradients (each transform's adjoint),
``n``/``s``/``dim``/``norm`` handling and errors; stft/istft."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import backprop
from oracle import Case, Input, oracle_tests

I = Input


def _c(name, fn, *inputs, **kw):
    return Case(name, fn, list(inputs), **kw)


def _real(m, z):
    return m.view_as_real(z.resolve_conj()) if z.is_complex() else z


def _z(m, a, b):
    return m.complex(a, b)


CASES = []
for norm in (None, "ortho", "forward"):
    k = norm or "default"
    CASES += [
        _c(f"fft_{k}", lambda m, a, norm=norm: _real(m, m.fft.fft(a, norm=norm)), I((3, 8))),
        _c(f"fft_complex_n_{k}", lambda m, a, b, norm=norm: _real(m, m.fft.fft(_z(m, a, b), n=5, dim=0, norm=norm)),
           I((7, 3)), I((7, 3))),
        _c(f"ifft_pad_{k}", lambda m, a, b, norm=norm: _real(m, m.fft.ifft(_z(m, a, b), n=10, norm=norm)), I((2, 6)), I((2, 6))),
        _c(f"rfft_{k}", lambda m, a, norm=norm: _real(m, m.fft.rfft(a, norm=norm)), I((3, 8))),
        _c(f"rfft_odd_n_{k}", lambda m, a, norm=norm: _real(m, m.fft.rfft(a, n=7, norm=norm)), I((3, 8))),
        _c(f"irfft_{k}", lambda m, a, b, norm=norm: m.fft.irfft(_z(m, a, b), norm=norm), I((3, 5)), I((3, 5))),
        _c(f"irfft_n_odd_{k}", lambda m, a, b, norm=norm: m.fft.irfft(_z(m, a, b), n=9, norm=norm), I((3, 5)), I((3, 5))),
        _c(f"irfft_n_short_{k}", lambda m, a, b, norm=norm: m.fft.irfft(_z(m, a, b), n=4, norm=norm), I((3, 5)), I((3, 5))),
        _c(f"hfft_{k}", lambda m, a, b, norm=norm: m.fft.hfft(_z(m, a, b), n=7, norm=norm), I((2, 5)), I((2, 5))),
        _c(f"ihfft_{k}", lambda m, a, norm=norm: _real(m, m.fft.ihfft(a, norm=norm)), I((2, 7))),
        _c(f"fft2_{k}", lambda m, a, b, norm=norm: _real(m, m.fft.fft2(_z(m, a, b), s=(3, 5), norm=norm)), I((2, 4, 4)), I((2, 4, 4))),
        _c(f"ifftn_{k}", lambda m, a, norm=norm: _real(m, m.fft.ifftn(a, dim=(0, 2), norm=norm)), I((3, 2, 4))),
        _c(f"rfftn_{k}", lambda m, a, norm=norm: _real(m, m.fft.rfftn(a, s=(4, 6), norm=norm)), I((2, 3, 5))),
        _c(f"irfft2_{k}", lambda m, a, b, norm=norm: m.fft.irfft2(_z(m, a, b), norm=norm), I((3, 4)), I((3, 4))),
        _c(f"irfftn_s_{k}", lambda m, a, b, norm=norm: m.fft.irfftn(_z(m, a, b), s=(5, 5), norm=norm), I((2, 3, 4)), I((2, 3, 4))),
        _c(f"hfftn_{k}", lambda m, a, b, norm=norm: m.fft.hfftn(_z(m, a, b), norm=norm), I((3, 4)), I((3, 4))),
        _c(f"ihfft2_{k}", lambda m, a, norm=norm: _real(m, m.fft.ihfft2(a, norm=norm)), I((3, 6))),
    ]
CASES += [
    _c("fftshift", lambda m, a: m.fft.fftshift(a), I((4, 5))),
    _c("ifftshift_dim", lambda m, a: m.fft.ifftshift(a, dim=1), I((4, 5))),
    _c("roundtrip", lambda m, a: m.fft.irfft(m.fft.rfft(a) * m.fft.rfft(a), n=8), I((2, 8))),
]

CASES += [
    _c("stft", lambda m, a: _real(m, m.stft(a, 8, return_complex=True)), I((40,))),
    _c("stft_window_batched", lambda m, a, w: _real(m, m.stft(a, 8, hop_length=3, win_length=6, window=w,
                                                             pad_mode="constant", normalized=True, return_complex=True)),
       I((2, 30)), I((6,), "positive")),
    _c("stft_twosided_nocenter", lambda m, a: _real(m, m.stft(a, 6, hop_length=2, center=False, onesided=False,
                                                              return_complex=True)), I((25,))),
    _c("stft_real_output", lambda m, a: m.stft(a, 8, return_complex=False), I((24,))),
    _c("stft_complex_input", lambda m, a, b: _real(m, m.stft(_z(m, a, b), 8, hop_length=4, return_complex=True)),
       I((24,)), I((24,))),
    _c("istft", lambda m, a, b, w: m.istft(_z(m, a, b), 8, hop_length=2, window=w),
       I((5, 9)), I((5, 9)), I((8,), "positive")),
    _c("istft_length_batched", lambda m, a, b, w: m.istft(_z(m, a, b), 8, hop_length=2, window=w,
                                                           normalized=True, length=25),
       I((2, 5, 9)), I((2, 5, 9)), I((8,), "positive")),
    _c("istft_short_window", lambda m, a, b, w: m.istft(_z(m, a, b), 8, hop_length=2, win_length=6, window=w,
                                                         length=14),
       I((2, 5, 9)), I((2, 5, 9)), I((6,), "positive")),
    _c("istft_twosided_complex", lambda m, a, b: _real(m, m.istft(_z(m, a, b), 6, hop_length=2, center=False,
                                                                  onesided=False, return_complex=True)),
       I((6, 7)), I((6, 7))),
    _c("stft_istft_roundtrip", lambda m, a, w: m.istft(m.stft(a, 8, hop_length=2, window=w,
                                                            return_complex=True), 8, hop_length=2,
                                                     window=w, length=30), I((30,)), I((8,), "positive")),
]

test_matches_torch, test_matches_torch_noncontiguous, test_create_graph_matches_torch, test_gradcheck, _ = oracle_tests(CASES)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "complex64", "complex128"])
@pytest.mark.parametrize("op", ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fftn", "rfftn", "irfftn", "hfftn"])
def test_output_dtypes(op, dtype):
    x = np.arange(12).reshape(3, 4).astype(dtype)
    if dtype.startswith("complex") and op in ("rfft", "ihfft", "rfftn"):  # real input only: the same error
        with pytest.raises(RuntimeError) as theirs_error:
            getattr(torch.fft, op)(torch.tensor(x))
        with pytest.raises(theirs_error.type):
            getattr(backprop.fft, op)(backprop.tensor(x))
        return
    ours = getattr(backprop.fft, op)(backprop.tensor(x))
    theirs = getattr(torch.fft, op)(torch.tensor(x))
    assert ours.dtype.name == str(theirs.dtype).replace("torch.", "")
    np.testing.assert_allclose(ours.numpy(), theirs.resolve_conj().numpy(), rtol=1e-4, atol=1e-4)


def test_fftfreq_matches_torch():
    for n, d in ((8, 1.0), (7, 0.25)):
        np.testing.assert_allclose(backprop.fft.fftfreq(n, d).numpy(), torch.fft.fftfreq(n, d).numpy())
        np.testing.assert_allclose(backprop.fft.rfftfreq(n, d).numpy(), torch.fft.rfftfreq(n, d).numpy())
    assert backprop.fft.fftfreq(4, dtype=backprop.float64).dtype is backprop.float64


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.fft.fft(m.ones(4), norm="bad"),
        lambda m: m.fft.fft(m.ones(4), n=0),
        lambda m: m.fft.fftn(m.ones(4), s=(2, 2), dim=(0,)),
        lambda m: m.fft.fftn(m.ones(2, 2), dim=(0, 0)),
        lambda m: m.fft.rfft(m.ones(4, dtype=m.complex64)),
        lambda m: m.fft.irfft(m.ones(1)),
        lambda m: m.fft.fft(m.ones(4), dim=2),
        lambda m: m.fft.fft(m.tensor(1.0)),
        lambda m: m.stft(m.ones(10), 4),
        lambda m: m.stft(m.ones(2, 2, 8), 4, return_complex=True),
        lambda m: m.stft(m.ones(10), 4, hop_length=0, return_complex=True),
        lambda m: m.stft(m.ones(10), 4, win_length=5, return_complex=True),
        lambda m: m.stft(m.ones(10), 4, window=m.ones(3), return_complex=True),
        lambda m: m.stft(m.ones(10, dtype=m.complex64), 4, onesided=True, return_complex=True),
        lambda m: m.istft(m.ones(3, 4), 4),
        lambda m: m.istft(m.ones(3, 4, dtype=m.complex64), 8),
        lambda m: m.istft(m.zeros(3, 4, dtype=m.complex64), 4, window=m.zeros(4)),
    ],
)
def test_errors_match_torch_types(call):
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(type(theirs.value)):
        call(backprop)


def test_complex_leaf_gradient(device):
    rng = np.random.default_rng(1)
    z = (rng.standard_normal((3, 6)) + 1j * rng.standard_normal((3, 6))).astype(np.complex128)
    tz = torch.tensor(z, requires_grad=True)
    bz = backprop.tensor(z, requires_grad=True, device=device)
    for m, x in ((torch, tz), (backprop, bz)):
        y = m.fft.fft2(x, norm="ortho")
        (y.abs() ** 2 * y.real).sum().backward()
    np.testing.assert_allclose(bz.grad.cpu().numpy(), tz.grad.numpy(), rtol=1e-10, atol=1e-10)
