"""The fast CPU convolution and pooling paths (Winograd F(2x2, 3x3), the compiled 2x2 max pool)
against torch, and against backprop's NumPy path (``BACKPROP_JIT=0``), on the CIFAR ResNet and
cnn workloads' layer shapes and on edge shapes: odd sizes, padding 0/1/2, channels-last and
contiguous inputs, float32 and float64; forward and every gradient."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import backprop
from backprop._backend import CPU
from backprop._backend.cpu import load_jit_kernels

JIT = [False] + ([True] if load_jit_kernels() is not None else [])
TOL = {"float32": 1e-4, "float64": 1e-10}


@pytest.fixture(params=JIT, ids=lambda j: "jit" if j else "numpy")
def jit(request):
    previous = CPU.set_jit(request.param)
    yield request.param
    CPU.set_jit(previous)


def _close(ours, theirs, dtype: str, what: str) -> None:
    a, b = ours.detach().numpy(), theirs.detach().numpy()
    assert a.shape == b.shape and a.dtype == b.dtype, what
    tol = TOL[dtype]
    scale = max(1.0, float(np.abs(b).max(initial=0.0)))
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, err_msg=what)


def _pair(rng, shape, dtype, channels_last: bool):
    """The same values as a backprop and a torch leaf tensor; ``channels_last``: in NHWC memory."""
    a = rng.standard_normal(shape).astype(dtype)
    t = torch.from_numpy(a)
    b = backprop.tensor(a)
    if channels_last:
        t = t.contiguous(memory_format=torch.channels_last)
        b = backprop.tensor(np.ascontiguousarray(a.transpose(0, 2, 3, 1))).permute(0, 3, 1, 2).detach()
        assert b._data.transpose(0, 2, 3, 1).flags.c_contiguous
    return b.requires_grad_(), t.requires_grad_()


# (N, C, H, W, O, kernel, stride, padding): the workloads' layers (smaller batches) and edge shapes.
CONV_SHAPES = [
    (4, 16, 32, 32, 16, 3, 1, 1),  # resnet stage 1
    (4, 16, 32, 32, 32, 3, 2, 1),  # resnet stage 2, first conv
    (4, 32, 16, 16, 32, 3, 1, 1),  # resnet stage 2
    (4, 64, 8, 8, 64, 3, 1, 1),  # resnet stage 3
    (4, 16, 32, 32, 32, 1, 2, 0),  # resnet projection shortcut
    (4, 32, 14, 14, 64, 3, 1, 1),  # cnn block 2
    (4, 1, 28, 28, 32, 3, 1, 1),  # cnn block 1 (too few channels for Winograd)
    (3, 9, 7, 5, 10, 3, 1, 1),  # odd sizes
    (2, 8, 9, 6, 12, 3, 1, 0),  # no padding, odd height
    (2, 10, 5, 7, 8, 3, 1, 2),  # padding wider than the output keeps
    (2, 8, 3, 3, 8, 3, 1, 0),  # a single output position
    (2, 12, 11, 10, 9, 3, 2, 1),  # stride 2, odd
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
@pytest.mark.parametrize("shape", CONV_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_conv2d_matches_torch(jit, shape, channels_last, dtype):
    n, c, h, w, o, k, stride, padding = shape
    rng = np.random.default_rng(sum(shape))
    x, tx = _pair(rng, (n, c, h, w), dtype, channels_last)
    wt, twt = _pair(rng, (o, c, k, k), dtype, False)
    b, tb = _pair(rng, (o,), dtype, False)
    y = backprop.nn.functional.conv2d(x, wt, b, stride=stride, padding=padding)
    ty = torch.nn.functional.conv2d(tx, twt, tb, stride=stride, padding=padding)
    _close(y, ty, dtype, "forward")
    g = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    grads = backprop.autograd.grad(y, (x, wt, b), backprop.tensor(g))
    tgrads = torch.autograd.grad(ty, (tx, twt, tb), torch.from_numpy(g))
    for name, ours, theirs in zip(("input", "weight", "bias"), grads, tgrads):
        _close(ours, theirs, dtype, name)


@pytest.mark.parametrize("shape", [(2, 8, 6, 5, 9, 3, 1, 1), (2, 9, 7, 7, 8, 3, 1, 0)], ids=lambda s: "x".join(map(str, s)))
def test_conv2d_double_backward_matches_torch(jit, shape):
    n, c, h, w, o, k, stride, padding = shape
    rng = np.random.default_rng(7)
    x, tx = _pair(rng, (n, c, h, w), "float64", False)
    wt, twt = _pair(rng, (o, c, k, k), "float64", False)
    outs = []
    for m, xi, wi in ((backprop, x, wt), (torch, tx, twt)):
        y = m.nn.functional.conv2d(xi, wi, stride=stride, padding=padding)
        gx, gw = m.autograd.grad((y * y).sum(), (xi, wi), create_graph=True)
        outs.append(m.autograd.grad((gx * gx).sum() + (gw * gw).sum(), (xi, wi)))
    for name, ours, theirs in zip(("input", "weight"), *outs):
        _close(ours, theirs, "float64", name)


def test_winograd_and_numpy_paths_agree():
    """The compiled Winograd path and the im2col path give the same values (float rounding apart)."""
    if len(JIT) < 2:
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(3)
    x = backprop.tensor(rng.standard_normal((3, 16, 13, 12)).astype("float32"))
    w = backprop.tensor(rng.standard_normal((24, 16, 3, 3)).astype("float32"))
    results = []
    for flag in (True, False):
        previous = CPU.set_jit(flag)
        try:
            results.append(backprop.nn.functional.conv2d(x, w, padding=1).numpy())
        finally:
            CPU.set_jit(previous)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-5 * np.abs(results[1]).max())


# (N, C, H, W, kernel, stride, padding, ceil_mode): the cnn workload's pools and edge shapes.
POOL_SHAPES = [
    (4, 32, 28, 28, 2, 2, 0, False),
    (4, 64, 14, 14, 2, 2, 0, False),
    (3, 5, 7, 9, 2, 2, 0, False),  # odd sizes: the last row and column see no window
    (2, 3, 1, 5, 2, 2, 0, True),  # ceil_mode pads: the general path
    (2, 4, 6, 6, 3, 2, 1, False),  # overlapping windows: the general path
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
@pytest.mark.parametrize("shape", POOL_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_max_pool2d_matches_torch(jit, shape, channels_last, dtype):
    n, c, h, w, k, stride, padding, ceil_mode = shape
    rng = np.random.default_rng(sum(shape))
    x, tx = _pair(rng, (n, c, h, w), dtype, channels_last)
    args = (k, stride, padding, 1, ceil_mode)
    y, idx = backprop.nn.functional.max_pool2d(x, *args, return_indices=True)
    ty, tidx = torch.nn.functional.max_pool2d(tx, *args, return_indices=True)
    _close(y, ty, dtype, "forward")
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    g = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    (gx,) = backprop.autograd.grad(y, x, backprop.tensor(g))
    (tgx,) = torch.autograd.grad(ty, tx, torch.from_numpy(g))
    _close(gx, tgx, dtype, "input")


@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
def test_max_pool2d_ties_nan_and_double_backward(jit, channels_last):
    """Ties take the first maximum, NaN propagates (a window's NaN is its argmax), as in torch;
    the double backward picks the gradient at the argmax. (With two NaN in one window torch
    takes the last, backprop the first.)"""
    rng = np.random.default_rng(5)
    a = rng.integers(0, 3, (2, 8, 6, 7)).astype("float64")  # many ties
    a[0, 1, 2, 3] = np.nan
    a[1, 4, 0, 0] = a[1, 4, 3, 1] = np.nan
    a[1, 5, 4, 5] = -np.inf
    x, tx = _pair(np.random.default_rng(0), a.shape, "float64", channels_last)
    with backprop.no_grad():
        x.copy_(backprop.tensor(a))
    with torch.no_grad():
        tx.copy_(torch.from_numpy(a))
    outs = []
    for m, xi in ((backprop, x), (torch, tx)):
        y, idx = m.nn.functional.max_pool2d(xi, 2, return_indices=True)
        (gx,) = m.autograd.grad((y.nan_to_num() ** 2).sum(), xi, create_graph=True)
        (ggx,) = m.autograd.grad((gx * gx).sum(), xi)
        outs.append((y, idx, gx, ggx))
    (y, idx, gx, ggx), (ty, tidx, tgx, tggx) = outs
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    np.testing.assert_array_equal(gx.detach().numpy(), tgx.detach().numpy())
    np.testing.assert_array_equal(ggx.numpy(), tggx.numpy())


@pytest.mark.parametrize(
    "case",
    [
        ("conv", dict(stride=2, padding=1, dilation=2, groups=1)),  # strided and dilated: col2im
        ("conv", dict(stride=2, padding=1, dilation=1, groups=2)),  # grouped and strided
        ("transpose", dict(stride=2, padding=1, output_padding=1)),  # the transposed conv's forward is col2im
    ],
    ids=["dilated", "grouped", "transposed"],
)
def test_strided_col2im_paths_match_torch(jit, case):
    kind, kwargs = case
    rng = np.random.default_rng(11)
    x, tx = _pair(rng, (3, 8, 11, 10), "float32", True)
    shape = (8, 4, 3, 3) if kind == "conv" and kwargs["groups"] == 2 else (8, 8, 3, 3)
    w, tw = _pair(rng, shape, "float32", False)
    outs = []
    for m, xi, wi in ((backprop, x, w), (torch, tx, tw)):
        fn = m.nn.functional.conv2d if kind == "conv" else m.nn.functional.conv_transpose2d
        y = fn(xi, wi, **kwargs)
        outs.append((y, *m.autograd.grad((y * y).sum(), (xi, wi))))
    for name, ours, theirs in zip(("forward", "input", "weight"), *outs):
        _close(ours, theirs, "float32", name)
