"""3-d convolution/pooling (and the N-d kernels shared with 1-d/2-d) against torch: forward,
gradients, create_graph, gradcheck, modules and torch's exception types."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import backprop as bp
from nn_oracle import check_layer
from oracle import Case, Input, oracle_tests

I = Input


def _c(name, fn, *inputs, **kw):
    return Case(name, fn, list(inputs), **kw)


def _F(m):
    return m.nn.functional


def _pick(i):
    return lambda out: out[i]


CASES = [
    _c("conv3d", lambda m, x, w, b: _F(m).conv3d(x, w, b, stride=(1, 2, 1), padding=(1, 0, 2), dilation=(1, 1, 2)),
       I((2, 3, 4, 5, 6)), I((4, 3, 2, 3, 2)), I((4,))),
    _c("conv3d_groups_same", lambda m, x, w: _F(m).conv3d(x, w, padding="same", groups=2), I((1, 4, 3, 4, 4)), I((2, 2, 3, 2, 3))),
    _c("conv3d_unbatched", lambda m, x, w: _F(m).conv3d(x, w, stride=2), I((2, 5, 5, 5)), I((3, 2, 2, 2, 2))),
    _c("conv_transpose3d", lambda m, x, w, b: _F(m).conv_transpose3d(x, w, b, stride=(2, 1, 2), padding=(1, 0, 1), output_padding=(1, 0, 0)),
       I((2, 2, 3, 3, 3)), I((2, 3, 3, 2, 3)), I((3,))),
    # output_padding >= stride (allowed because dilation is larger): the input gradient drops the extra rows.
    _c("conv_transpose2d_groups_dilation_output_padding",
       lambda m, x, w, b: _F(m).conv_transpose2d(x, w, b, stride=(3, 2), padding=(1, 2), output_padding=(2, 3), groups=2, dilation=(4, 4)),
       I((2, 2, 4, 4)), I((2, 2, 4, 5)), I((4,))),
    _c("conv_transpose2d_output_padding_gradgrad", lambda m, x, w: _F(m).conv_transpose2d(x, w, stride=(2, 1), padding=(1, 0), output_padding=(3, 0), dilation=(4, 1)),
       I((1, 1, 2, 2)), I((1, 1, 2, 2)), gradgradcheck=True),
    _c("conv_transpose3d_groups_dilation", lambda m, x, w: _F(m).conv_transpose3d(x, w, stride=(3, 2, 1), padding=(1, 2, 3), output_padding=(2, 3, 1), groups=2, dilation=4),
       I((1, 2, 3, 3, 3)), I((2, 1, 2, 3, 2)), gradcheck=False),
    _c("max_pool3d", lambda m, x: _F(m).max_pool3d(x, (2, 3, 2), stride=(1, 2, 2), padding=(1, 1, 0)), I((2, 2, 4, 5, 4), "distinct")),
    _c("max_pool3d_indices_ceil_dilation", lambda m, x: _F(m).max_pool3d(x, 2, stride=2, dilation=(1, 2, 1), ceil_mode=True, return_indices=True),
       I((1, 2, 5, 6, 5), "distinct")),
    _c("avg_pool3d", lambda m, x: _F(m).avg_pool3d(x, (2, 3, 2), stride=(2, 1, 2), padding=(1, 1, 0), ceil_mode=True, count_include_pad=False),
       I((2, 2, 5, 5, 4))),
    _c("avg_pool3d_divisor", lambda m, x: _F(m).avg_pool3d(x, 3, stride=2, padding=1, divisor_override=5), I((3, 5, 6, 5))),
    _c("adaptive_avg_pool3d", lambda m, x: _F(m).adaptive_avg_pool3d(x, (2, 3, None)), I((2, 2, 5, 7, 3))),
    _c("adaptive_avg_pool3d_equal", lambda m, x: _F(m).adaptive_avg_pool3d(x, 2), I((1, 3, 4, 4, 6))),
    _c("adaptive_max_pool3d", lambda m, x: _F(m).adaptive_max_pool3d(x, (3, 2, 4), return_indices=True), I((2, 2, 5, 5, 7), "distinct")),
    _c("adaptive_max_pool2d_indices", lambda m, x: _F(m).adaptive_max_pool2d(x, (2, 3), return_indices=True), I((1, 3, 5, 7), "distinct")),
    _c("adaptive_max_pool1d_indices", lambda m, x: _F(m).adaptive_max_pool1d(x, 3, return_indices=True), I((3, 4, 7), "distinct")),
    _c("max_unpool3d", lambda m, x: _F(m).max_unpool3d(*_F(m).max_pool3d(x, 2, return_indices=True), 2, output_size=(5, 4, 5)),
       I((1, 2, 5, 4, 5), "distinct")),
]

test_matches_torch, test_matches_torch_noncontiguous, test_create_graph_matches_torch, test_gradcheck, test_gradgradcheck = oracle_tests(CASES)


LAYERS = [
    (lambda m: m.nn.Conv3d(2, 4, (2, 3, 2), stride=(1, 2, 1), padding=1, groups=2), (2, 2, 4, 5, 4)),
    (lambda m: m.nn.Conv3d(2, 3, 3, padding=1, padding_mode="circular"), (1, 2, 4, 4, 4)),
    (lambda m: m.nn.ConvTranspose3d(2, 4, 3, stride=2, padding=1, output_padding=1), (1, 2, 3, 3, 3)),
    (lambda m: m.nn.MaxPool3d(2, stride=1), (2, 3, 4, 4, 4)),
    (lambda m: m.nn.AvgPool3d((2, 2, 3), stride=2, ceil_mode=True), (2, 3, 5, 4, 5)),
    (lambda m: m.nn.AdaptiveAvgPool3d((1, 2, 3)), (2, 3, 4, 5, 6)),
    (lambda m: m.nn.AdaptiveMaxPool3d(2), (2, 3, 4, 5, 3)),
]


@pytest.mark.parametrize("build,shape", LAYERS, ids=lambda v: "" if not callable(v) else None)
def test_layers_match_torch(build, shape, device):
    x = np.random.default_rng(0).permutation(int(np.prod(shape))).reshape(shape).astype(np.float32) * 0.01
    check_layer(build, [x], device=device)


def test_max_unpool3d_module_inverts_max_pool3d(device):
    x = np.random.default_rng(1).standard_normal((1, 2, 4, 4, 4)).astype(np.float32)

    def run(layer, t):
        m = bp if isinstance(t, bp.Tensor) else torch
        out, idx = m.nn.MaxPool3d(2, return_indices=True)(t)
        return layer(out, idx)

    check_layer(lambda m: m.nn.MaxUnpool3d(2), [x], device=device, forward=run)


def test_conv3d_double_backward_matches_torch():
    x = np.random.default_rng(2).standard_normal((1, 2, 3, 4, 3)).astype(np.float32)
    check_layer(lambda m: m.nn.Conv3d(2, 2, 2, stride=(1, 2, 1)), [x], create_graph=True)


ERRORS = [
    (lambda m: _F(m).conv3d(m.ones(1, 2, 3, 3, 3), m.ones(2, 2, 2, 2)), RuntimeError),
    (lambda m: _F(m).conv3d(m.ones(1, 2, 3, 3, 3), m.ones(2, 2, 4, 1, 1)), RuntimeError),
    (lambda m: _F(m).conv3d(m.ones(1, 2, 3, 3, 3), m.ones(2, 2, 1, 1, 1), groups=0), RuntimeError),
    (lambda m: _F(m).conv3d(m.ones(1, 2, 3, 3, 3), m.ones(2, 2, 1, 1, 1), stride=2, padding="same"), RuntimeError),
    (lambda m: _F(m).conv_transpose3d(m.ones(1, 2, 3, 3, 3), m.ones(2, 2, 1, 1, 1), stride=2, output_padding=2), RuntimeError),
    (lambda m: _F(m).max_pool3d(m.ones(1, 2, 3, 3, 3), 2, padding=2), RuntimeError),
    (lambda m: _F(m).max_pool3d(m.ones(1, 1, 1, 3, 3), 2), RuntimeError),
    (lambda m: _F(m).max_pool3d(m.ones(1, 3, 3), 2), RuntimeError),
    (lambda m: _F(m).avg_pool3d(m.ones(1, 2, 3, 3, 3), 2, stride=0), RuntimeError),
    (lambda m: _F(m).avg_pool3d(m.ones(1, 2, 3, 3, 3), 2, divisor_override=0), RuntimeError),
    (lambda m: _F(m).adaptive_avg_pool3d(m.ones(2, 2), (1, 1, 1)), ValueError),
    (lambda m: _F(m).adaptive_max_pool3d(m.ones(1, 2, 3, 3, 3), (1, -1, 1)), RuntimeError),
    (lambda m: _F(m).max_unpool3d(m.ones(1, 1, 2, 2, 2), m.zeros(1, 1, 2, 2, 2, dtype=m.int32), 2), RuntimeError),
]


@pytest.mark.parametrize("fn,exc", ERRORS)
def test_errors_like_torch(fn, exc):
    with pytest.raises(exc):
        fn(torch)
    with pytest.raises(exc):
        fn(bp)


def _samples(shape):
    return Input(shape, array=np.random.default_rng(11).random(shape).astype(np.float32), requires_grad=False)


FRACTIONAL = [
    _c("fractional_max_pool2d", lambda m, x, u: _F(m).fractional_max_pool2d(x, (2, 3), output_size=(4, 3), return_indices=True, _random_samples=u),
       I((2, 3, 9, 8), "distinct"), _samples((2, 3, 2)), gradcheck=False),
    _c("fractional_max_pool2d_unbatched_ratio", lambda m, x, u: _F(m).fractional_max_pool2d(x, 2, output_ratio=(0.5, 0.7), _random_samples=u),
       I((3, 8, 7), "distinct"), _samples((1, 3, 2)), gradcheck=False),
    _c("fractional_max_pool3d", lambda m, x, u: _F(m).fractional_max_pool3d(x, (2, 2, 3), output_size=(3, 4, 3), return_indices=True, _random_samples=u),
       I((1, 2, 7, 6, 8), "distinct"), _samples((1, 2, 3)), gradcheck=False),
]

(test_fractional_matches_torch, test_fractional_matches_torch_noncontiguous, test_fractional_create_graph_matches_torch,
 test_fractional_gradcheck, test_fractional_gradgradcheck) = oracle_tests(FRACTIONAL)


def test_fractional_max_pool_modules_and_errors():
    x = bp.randn(2, 3, 9, 9, requires_grad=True)
    out, idx = bp.nn.FractionalMaxPool2d(3, output_ratio=0.5, return_indices=True)(x)
    assert out.shape == (2, 3, 4, 4) and idx.dtype == bp.int64
    np.testing.assert_array_equal(out.detach().numpy(), np.take_along_axis(x.detach().numpy().reshape(2, 3, -1), idx.numpy().reshape(2, 3, -1), 2).reshape(out.shape))
    out.sum().backward()
    assert float(x.grad.sum()) == out.numel()
    assert bp.nn.FractionalMaxPool3d(2, output_size=(2, 3, 2))(bp.randn(1, 2, 5, 5, 5)).shape == (1, 2, 2, 3, 2)
    for m in (bp, torch):
        with pytest.raises(ValueError):
            m.nn.functional.fractional_max_pool2d(m.ones(1, 1, 5, 5), 2)
        with pytest.raises(RuntimeError):
            m.nn.functional.fractional_max_pool2d(m.ones(1, 1, 5, 5), 2, output_size=5)
        with pytest.raises(ValueError):
            m.nn.FractionalMaxPool2d(2, output_ratio=1.5)


@pytest.mark.parametrize("name", ["ConstantPad3d", "ZeroPad3d", "ReflectionPad3d", "ReplicationPad3d", "CircularPad3d"])
def test_pad3d_modules_match_torch(name):
    x = np.random.default_rng(12).standard_normal((1, 2, 3, 4, 3)).astype(np.float32)
    pads = (1, 2, 0, 1, 2, 1)
    args = (pads, 0.5) if name == "ConstantPad3d" else (pads,)
    check_layer(lambda m: getattr(m.nn, name)(*args), [x])


def test_lazy_conv3d_becomes_conv3d():
    layer = bp.nn.LazyConv3d(4, 2)
    out = layer(bp.randn(1, 3, 4, 4, 4))
    assert type(layer) is bp.nn.Conv3d and layer.weight.shape == (4, 3, 2, 2, 2) and out.shape == (1, 4, 3, 3, 3)


def test_3d_cnn_exports_to_onnx():
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from test_onnx import export_and_compare

    nn = bp.nn
    model = nn.Sequential(
        nn.Conv3d(2, 4, 3, padding=(1, 0, 1), stride=(1, 2, 1)), nn.ReLU(), nn.MaxPool3d(2, stride=1, padding=1),
        nn.ConvTranspose3d(4, 3, 2, stride=2, output_padding=1), nn.AvgPool3d((2, 1, 2), ceil_mode=True, count_include_pad=False),
        nn.AdaptiveAvgPool3d(2), nn.Flatten(), nn.Linear(3 * 8, 2),
    )  # fmt: skip
    export_and_compare(model, bp.randn(2, 2, 5, 6, 4))


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_lazy_conv_transpose_matches_torch_after_materializing(nd):
    shape = (2, 3) + (4,) * nd
    x = np.random.default_rng(13).standard_normal(shape).astype(np.float32)
    name = f"LazyConvTranspose{nd}d"
    ours = getattr(bp.nn, name)(5, 3, stride=2, output_padding=1, groups=1)
    theirs = getattr(torch.nn, name)(5, 3, stride=2, output_padding=1, groups=1)
    out_t = theirs(torch.tensor(x))
    out_b = ours(bp.tensor(x))
    assert type(ours).__name__ == f"ConvTranspose{nd}d" and tuple(ours.weight.shape) == tuple(theirs.weight.shape)
    ours.load_state_dict(theirs.state_dict())
    np.testing.assert_allclose(ours(bp.tensor(x)).detach().numpy(), out_t.detach().numpy(), rtol=1e-5, atol=1e-5)
    assert tuple(out_b.shape) == tuple(out_t.shape)


LP = [
    _c("lp_pool1d", lambda m, x: _F(m).lp_pool1d(x, 2, 3, stride=2), I((2, 3, 9), "positive")),
    _c("lp_pool2d_ceil", lambda m, x: _F(m).lp_pool2d(x, 3.0, (2, 3), ceil_mode=True), I((1, 2, 5, 7), "positive")),
    _c("lp_pool3d", lambda m, x: _F(m).lp_pool3d(x, 1.5, 2), I((1, 2, 4, 4, 6), "positive")),
    _c("lp_pool2d_inf", lambda m, x: _F(m).lp_pool2d(x, float("inf"), 2), I((1, 2, 4, 6), "distinct")),
]

test_lp_matches_torch, test_lp_matches_torch_noncontiguous, test_lp_create_graph_matches_torch, test_lp_gradcheck, test_lp_gradgradcheck = oracle_tests(LP)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_lp_pool_modules(nd):
    x = np.random.default_rng(14).uniform(0.5, 2.0, (2, 3) + (6,) * nd).astype(np.float32)
    check_layer(lambda m: getattr(m.nn, f"LPPool{nd}d")(2, 2, stride=1), [x])


def test_instance_norm3d_matches_torch(device):
    x = np.random.default_rng(15).standard_normal((2, 3, 3, 4, 5)).astype(np.float32)
    check_layer(lambda m: m.nn.InstanceNorm3d(3, affine=True), [x], device=device)
