"""The numba-compiled CPU kernels (``_backend/cpu_kernels.py``) against the NumPy path, the
float64 references of ``kernel_reference.py`` and torch: float32 and float64, odd sizes, sizes on
both sides of ``PARALLEL_MIN``, non-contiguous inputs, and gradients through the public ops
(also under ``create_graph``). Skipped where numba is not installed."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")
torch = pytest.importorskip("torch")

import backprop  # noqa: E402
import kernel_reference as ref  # noqa: E402
from backprop._backend import CPU  # noqa: E402
from backprop._backend import cpu_kernels as K  # noqa: E402

F = backprop.nn.functional
TF = torch.nn.functional
DTYPES = (np.float32, np.float64)
TOL = {np.float32: {"rtol": 2e-5, "atol": 2e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-13}}
SIZES = (1, 7, 1003, K.PARALLEL_MIN + 5)


@pytest.fixture(params=[True, False], ids=["jit", "numpy"])
def jit(request):
    """Runs the test with the JIT kernels on and off (both states restored after)."""
    previous = CPU.set_jit(request.param)
    yield request.param
    CPU.set_jit(previous)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _close(ours, theirs, dtype, scale=1.0):
    tol = TOL[np.dtype(dtype).type]
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=tol["rtol"] * scale, atol=tol["atol"] * scale)


def _strided(x):
    """A non-contiguous view holding the same values as ``x``."""
    wide = np.empty(x.shape[:-1] + (2 * x.shape[-1],), x.dtype)
    wide[..., ::2] = x
    return wide[..., ::2]


# ---------------------------------------------------------------------------- GELU
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_kernels_match_the_reference(dtype, n, approximate):
    x = (_rng(n).standard_normal(n) * 4).astype(dtype)
    g = _rng(n + 1).standard_normal(n).astype(dtype)
    out, aux = K.gelu_forward(x, approximate)
    _close(out, ref.gelu_forward(x, approximate)[0], dtype)
    _close(K.gelu_backward(x, aux, g, approximate), ref.gelu_backward(x, None, g, approximate), dtype)
    strided = _strided(x.reshape(1, -1))
    out_s, aux_s = K.gelu_forward(strided, approximate)
    np.testing.assert_array_equal(out_s.reshape(-1), out)
    np.testing.assert_array_equal(K.gelu_backward(strided, aux_s, _strided(g.reshape(1, -1)), approximate).reshape(-1), K.gelu_backward(x, aux, g, approximate))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_float32_kernel_is_accurate_in_the_tails(approximate):
    """The float32 kernel runs on polynomial fits (Phi, exp), not the library's erf/tanh: within
    6e-7 of the exact GELU (float64) and its derivative over [-12, 12], and saturates like torch."""
    x = np.linspace(-12, 12, 48001, dtype=np.float32)
    out, aux = K.gelu_forward(x, approximate)
    np.testing.assert_allclose(out, ref.gelu_forward(x.astype(np.float64), approximate)[0], rtol=1e-6, atol=6e-7)
    ones = np.ones_like(x)
    grad = ref.gelu_backward(x.astype(np.float64), None, ones.astype(np.float64), approximate)
    np.testing.assert_allclose(K.gelu_backward(x, aux, ones, approximate), grad, rtol=1e-6, atol=6e-7)
    out, _ = K.gelu_forward(np.array([np.nan, np.inf, -100.0, 100.0, 0.0], np.float32), approximate)
    np.testing.assert_array_equal(out, [np.nan, np.inf, -0.0, 100.0, 0.0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_op_matches_torch(jit, dtype, approximate):
    x = (_rng(3).standard_normal((5, 3, K.PARALLEL_MIN // 7)) * 3).astype(dtype)
    g = _rng(4).standard_normal(x.shape).astype(dtype)
    ours = backprop.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    out, tout = F.gelu(ours, approximate=approximate), TF.gelu(theirs, approximate=approximate)
    _close(out.detach().numpy(), tout.detach().numpy(), dtype, 10)
    out.backward(backprop.tensor(g))
    tout.backward(torch.tensor(g))
    _close(ours.grad.numpy(), theirs.grad.numpy(), dtype, 10)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_create_graph(jit, approximate):
    x = backprop.tensor(_rng(5).standard_normal(40) * 3, requires_grad=True)
    assert backprop.autograd.gradgradcheck(lambda t: F.gelu(t, approximate=approximate), (x,))
