"""Every nn layer against torch 2.13 with torch's weights loaded through load_state_dict:
outputs, input gradients and parameter gradients, in training and eval mode."""

from __future__ import annotations

import numpy as np
import pytest

from nn_oracle import check_layer

R = np.random.default_rng(0)


def rand(*shape, scale: float = 1.0):
    return (R.standard_normal(shape) * scale).astype(np.float32)


LAYERS = {
    # name: (build(m), inputs)
    "linear": (lambda m: m.nn.Linear(5, 3), [rand(4, 5)]),
    "linear_3d_input": (lambda m: m.nn.Linear(5, 3), [rand(2, 4, 5)]),
    "linear_no_bias": (lambda m: m.nn.Linear(5, 3, bias=False), [rand(4, 5)]),
    "linear_1d_input": (lambda m: m.nn.Linear(5, 2), [rand(5)]),
    "bilinear": (lambda m: m.nn.Bilinear(3, 4, 2), [rand(5, 3), rand(5, 4)]),
    "identity": (lambda m: m.nn.Identity(), [rand(3, 2)]),
    "conv1d": (lambda m: m.nn.Conv1d(3, 4, 3), [rand(2, 3, 10)]),
    "conv1d_stride_pad_dil": (lambda m: m.nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2), [rand(2, 4, 11)]),
    "conv1d_same": (lambda m: m.nn.Conv1d(2, 3, 4, padding="same"), [rand(2, 2, 9)]),
    "conv1d_unbatched": (lambda m: m.nn.Conv1d(2, 3, 3), [rand(2, 7)]),
    "conv2d": (lambda m: m.nn.Conv2d(3, 4, 3), [rand(2, 3, 8, 8)]),
    "conv2d_padding": (lambda m: m.nn.Conv2d(3, 4, 3, padding=1), [rand(2, 3, 7, 6)]),
    "conv2d_stride2": (lambda m: m.nn.Conv2d(3, 4, 3, stride=2, padding=1), [rand(2, 3, 9, 8)]),
    "conv2d_rect_kernel": (lambda m: m.nn.Conv2d(2, 3, (2, 3), stride=(2, 1), padding=(1, 0)), [rand(2, 2, 7, 6)]),
    "conv2d_dilation": (lambda m: m.nn.Conv2d(2, 3, 3, dilation=2), [rand(2, 2, 9, 9)]),
    "conv2d_groups": (lambda m: m.nn.Conv2d(4, 6, 3, groups=2, padding=1), [rand(2, 4, 6, 6)]),
    "conv2d_depthwise": (lambda m: m.nn.Conv2d(3, 3, 3, groups=3), [rand(2, 3, 6, 6)]),
    "conv2d_no_bias": (lambda m: m.nn.Conv2d(3, 2, 1, bias=False), [rand(2, 3, 5, 5)]),
    "conv2d_same_even_kernel": (lambda m: m.nn.Conv2d(2, 3, 4, padding="same"), [rand(2, 2, 7, 7)]),
    "conv2d_valid": (lambda m: m.nn.Conv2d(2, 3, 3, padding="valid"), [rand(2, 2, 7, 7)]),
    "conv2d_reflect": (lambda m: m.nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), [rand(2, 2, 6, 6)]),
    "conv2d_replicate": (lambda m: m.nn.Conv2d(2, 3, 3, padding=2, padding_mode="replicate"), [rand(2, 2, 6, 6)]),
    "conv2d_circular": (lambda m: m.nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"), [rand(2, 2, 6, 6)]),
    "conv2d_unbatched": (lambda m: m.nn.Conv2d(2, 3, 3), [rand(2, 6, 6)]),
    "conv_transpose2d": (lambda m: m.nn.ConvTranspose2d(3, 2, 3), [rand(2, 3, 5, 5)]),
    "conv_transpose2d_stride": (lambda m: m.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1), [rand(2, 3, 4, 5)]),
    "conv_transpose2d_groups": (lambda m: m.nn.ConvTranspose2d(4, 6, 2, stride=2, groups=2), [rand(2, 4, 3, 3)]),
    "conv_transpose2d_dilation": (lambda m: m.nn.ConvTranspose2d(2, 3, 3, dilation=2, padding=1), [rand(1, 2, 4, 4)]),
    "conv_transpose1d": (lambda m: m.nn.ConvTranspose1d(3, 2, 4, stride=2, padding=1), [rand(2, 3, 6)]),
    "maxpool2d": (lambda m: m.nn.MaxPool2d(2), [rand(2, 3, 8, 8)]),
    "maxpool2d_overlap": (lambda m: m.nn.MaxPool2d(3, stride=2, padding=1), [rand(2, 2, 9, 8)]),
    "maxpool2d_ceil": (lambda m: m.nn.MaxPool2d(2, ceil_mode=True), [rand(2, 2, 7, 7)]),
    "maxpool2d_dilation": (lambda m: m.nn.MaxPool2d(2, stride=1, dilation=2), [rand(1, 2, 6, 6)]),
    "maxpool2d_indices": (lambda m: m.nn.MaxPool2d(2, return_indices=True), [rand(2, 2, 6, 6)]),
    "maxpool1d": (lambda m: m.nn.MaxPool1d(3, stride=2), [rand(2, 3, 11)]),
    "avgpool2d": (lambda m: m.nn.AvgPool2d(2), [rand(2, 3, 8, 8)]),
    "avgpool2d_pad": (lambda m: m.nn.AvgPool2d(3, stride=2, padding=1), [rand(2, 2, 7, 7)]),
    "avgpool2d_pad_exclude": (lambda m: m.nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), [rand(2, 2, 7, 7)]),
    "avgpool2d_ceil": (lambda m: m.nn.AvgPool2d(2, ceil_mode=True), [rand(2, 2, 7, 7)]),
    "avgpool2d_divisor": (lambda m: m.nn.AvgPool2d(2, divisor_override=3), [rand(2, 2, 6, 6)]),
    "avgpool1d": (lambda m: m.nn.AvgPool1d(3, stride=2, padding=1), [rand(2, 3, 10)]),
    "adaptive_avg_1x1": (lambda m: m.nn.AdaptiveAvgPool2d((1, 1)), [rand(2, 3, 5, 7)]),
    "adaptive_avg_uneven": (lambda m: m.nn.AdaptiveAvgPool2d((3, 4)), [rand(2, 3, 7, 9)]),
    "adaptive_avg_1d": (lambda m: m.nn.AdaptiveAvgPool1d(4), [rand(2, 3, 10)]),
    "adaptive_max_2d": (lambda m: m.nn.AdaptiveMaxPool2d(3), [rand(2, 2, 7, 8)]),
    "batchnorm1d": (lambda m: m.nn.BatchNorm1d(4), [rand(6, 4)]),
    "batchnorm1d_3d": (lambda m: m.nn.BatchNorm1d(3), [rand(4, 3, 5)]),
    "batchnorm2d": (lambda m: m.nn.BatchNorm2d(3), [rand(4, 3, 5, 5)]),
    "batchnorm2d_momentum_none": (lambda m: m.nn.BatchNorm2d(3, momentum=None), [rand(4, 3, 3, 3)]),
    "batchnorm2d_no_affine": (lambda m: m.nn.BatchNorm2d(3, affine=False), [rand(4, 3, 3, 3)]),
    # A convolution's output is channels-last in memory: BatchNorm's folded (rows/k, k*C) path.
    "conv_then_batchnorm2d": (lambda m: m.nn.Sequential(m.nn.Conv2d(3, 4, 3, padding=1), m.nn.BatchNorm2d(4)), [rand(4, 3, 8, 8)]),
    "conv_then_batchnorm2d_odd_rows": (lambda m: m.nn.Sequential(m.nn.Conv2d(2, 5, 3), m.nn.BatchNorm2d(5)), [rand(3, 2, 7, 9)]),
    "batchnorm2d_no_stats": (lambda m: m.nn.BatchNorm2d(3, track_running_stats=False), [rand(4, 3, 3, 3)]),
    "layernorm": (lambda m: m.nn.LayerNorm(6), [rand(3, 4, 6)]),
    "layernorm_2d_shape": (lambda m: m.nn.LayerNorm((4, 6)), [rand(3, 4, 6)]),
    "layernorm_no_affine": (lambda m: m.nn.LayerNorm(6, elementwise_affine=False), [rand(3, 6)]),
    "layernorm_no_bias": (lambda m: m.nn.LayerNorm(6, bias=False), [rand(3, 6)]),
    "groupnorm": (lambda m: m.nn.GroupNorm(2, 4), [rand(3, 4, 5, 5)]),
    "instancenorm2d": (lambda m: m.nn.InstanceNorm2d(3, affine=True), [rand(2, 3, 4, 4)]),
    "rmsnorm": (lambda m: m.nn.RMSNorm(6), [rand(3, 6)]),
    "embedding": (lambda m: m.nn.Embedding(10, 4), [np.array([[1, 2, 3], [3, 9, 1]])]),
    # V * N over EmbeddingBackward's one-hot limit: the add.at path.
    "embedding_large_vocab": (lambda m: m.nn.Embedding(5000, 3), [R.integers(0, 5000, (2, 500))]),
    "embedding_padding_idx": (lambda m: m.nn.Embedding(10, 4, padding_idx=0), [np.array([0, 2, 0, 5])]),
    "upsample_nearest": (lambda m: m.nn.Upsample(scale_factor=2), [rand(2, 2, 3, 4)]),
    "upsample_nearest_size": (lambda m: m.nn.Upsample(size=(5, 7)), [rand(2, 2, 3, 4)]),
    "upsample_bilinear": (lambda m: m.nn.Upsample(scale_factor=2, mode="bilinear"), [rand(2, 2, 3, 4)]),
    "upsample_bilinear_ac": (lambda m: m.nn.Upsample(size=(5, 6), mode="bilinear", align_corners=True), [rand(2, 2, 3, 4)]),
    "upsample_linear": (lambda m: m.nn.Upsample(scale_factor=3, mode="linear"), [rand(2, 2, 5)]),
    "flatten": (lambda m: m.nn.Flatten(), [rand(2, 3, 4)]),
    "unflatten": (lambda m: m.nn.Unflatten(1, (2, 3)), [rand(4, 6)]),
    "zeropad2d": (lambda m: m.nn.ZeroPad2d((1, 2, 0, 3)), [rand(2, 2, 3, 3)]),
    "reflectionpad2d": (lambda m: m.nn.ReflectionPad2d(2), [rand(2, 2, 4, 4)]),
    "replicationpad2d": (lambda m: m.nn.ReplicationPad2d((1, 0, 2, 1)), [rand(2, 2, 3, 4)]),
    "pixel_shuffle": (lambda m: m.nn.PixelShuffle(2), [rand(2, 8, 3, 3)]),
    "relu": (lambda m: m.nn.ReLU(), [rand(3, 4)]),
    "leaky_relu": (lambda m: m.nn.LeakyReLU(0.2), [rand(3, 4)]),
    "elu": (lambda m: m.nn.ELU(alpha=0.7), [rand(3, 4)]),
    "celu": (lambda m: m.nn.CELU(alpha=1.5), [rand(3, 4)]),
    "selu": (lambda m: m.nn.SELU(), [rand(3, 4)]),
    "gelu": (lambda m: m.nn.GELU(), [rand(3, 4)]),
    "gelu_tanh": (lambda m: m.nn.GELU(approximate="tanh"), [rand(3, 4)]),
    "silu": (lambda m: m.nn.SiLU(), [rand(3, 4)]),
    "mish": (lambda m: m.nn.Mish(), [rand(3, 4)]),
    "tanh": (lambda m: m.nn.Tanh(), [rand(3, 4)]),
    "sigmoid": (lambda m: m.nn.Sigmoid(), [rand(3, 4)]),
    "hardtanh": (lambda m: m.nn.Hardtanh(-0.5, 0.7), [rand(3, 4)]),
    "relu6": (lambda m: m.nn.ReLU6(), [rand(3, 4, scale=5)]),
    "hardswish": (lambda m: m.nn.Hardswish(), [rand(3, 4, scale=3)]),
    "hardsigmoid": (lambda m: m.nn.Hardsigmoid(), [rand(3, 4, scale=3)]),
    "softplus": (lambda m: m.nn.Softplus(), [rand(3, 4, scale=3)]),
    "softplus_beta": (lambda m: m.nn.Softplus(beta=2.0, threshold=5.0), [rand(3, 4, scale=4)]),
    "softsign": (lambda m: m.nn.Softsign(), [rand(3, 4)]),
    "logsigmoid": (lambda m: m.nn.LogSigmoid(), [rand(3, 4, scale=5)]),
    "softmax": (lambda m: m.nn.Softmax(dim=1), [rand(3, 4)]),
    "log_softmax": (lambda m: m.nn.LogSoftmax(dim=-1), [rand(3, 4)]),
    "softmin": (lambda m: m.nn.Softmin(dim=1), [rand(3, 4)]),
    "prelu": (lambda m: m.nn.PReLU(3), [rand(2, 3, 4)]),
    "glu": (lambda m: m.nn.GLU(), [rand(3, 6)]),
    "threshold": (lambda m: m.nn.Threshold(0.1, 20.0), [rand(3, 4)]),
    "tanhshrink": (lambda m: m.nn.Tanhshrink(), [rand(3, 4)]),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_layer_matches_torch(name, train, device):
    build, inputs = LAYERS[name]
    check_layer(build, inputs, train=train, device=device)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_create_graph_gradients_match_torch(name):
    """The first derivatives of every layer taken with ``create_graph=True`` (the differentiable
    backward: for fused layers, their decomposition's) equal torch's."""
    build, inputs = LAYERS[name]
    check_layer(build, inputs, train=True, create_graph=True)


def test_softplus_and_logsigmoid_at_zero_and_extremes():
    x = np.array([-1e4, -30.0, -1.0, 0.0, 1.0, 30.0, 1e4], dtype=np.float32)
    check_layer(lambda m: m.nn.Softplus(), [x])
    check_layer(lambda m: m.nn.LogSigmoid(), [x])


def test_dropout_eval_is_identity_and_train_matches_statistics():
    import backprop

    layer = backprop.nn.Dropout(0.3)
    x = backprop.ones(200, 500, requires_grad=True)
    layer.eval()
    assert layer(x) is x
    layer.train()
    y = layer(x)
    kept = y.detach().numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y.detach().numpy()[kept], 1 / 0.7, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.7, rtol=1e-6)


def test_dropout2d_zeroes_whole_channels():
    import backprop

    y = backprop.nn.Dropout2d(0.5)(backprop.ones(8, 16, 4, 4)).numpy()
    per_channel = y.reshape(8, 16, -1)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))


def test_maxpool_return_indices_match_torch(device):
    import torch

    import backprop

    x = rand(2, 3, 7, 7)
    _, bi = backprop.nn.functional.max_pool2d(backprop.tensor(x, device=device), 3, 2, 1, return_indices=True)
    _, ti = torch.nn.functional.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
    assert bi.device.type == device
    np.testing.assert_array_equal(bi.cpu().numpy(), ti.numpy())


def test_conv2d_double_backward_matches_torch():
    import torch

    import backprop

    x = rand(2, 2, 5, 5)
    w = rand(3, 2, 3, 3)
    results = []
    for m in (backprop, torch):
        xt = m.tensor(x, requires_grad=True)
        wt = m.tensor(w, requires_grad=True)
        y = m.nn.functional.conv2d(xt, wt, stride=2, padding=1)
        (gx,) = m.autograd.grad(y.pow(2).sum(), xt, create_graph=True)
        gx.pow(2).sum().backward()
        results.append((xt.grad.detach().numpy(), wt.grad.detach().numpy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "fn",
    [
        lambda m, x, w: m.nn.functional.conv2d(x, w, padding=1),
        lambda m, x, w: m.nn.functional.conv_transpose2d(x, w.transpose(0, 1), stride=2),
        lambda m, x, w: m.nn.functional.max_pool2d(m.nn.functional.conv2d(x, w), 2),
        lambda m, x, w: m.nn.functional.avg_pool2d(m.nn.functional.conv2d(x, w), 2, padding=1),
    ],
    ids=["conv2d", "conv_transpose2d", "conv_maxpool", "conv_avgpool"],
)
def test_conv_pool_gradcheck(fn):
    import backprop

    rng = np.random.default_rng(1)
    x = backprop.tensor(rng.standard_normal((1, 2, 5, 5)), requires_grad=True)
    w = backprop.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    assert backprop.autograd.gradcheck(lambda a, b: fn(backprop, a, b), (x, w))
    assert backprop.autograd.gradgradcheck(lambda a, b: fn(backprop, a, b), (x, w), atol=1e-4)


def test_conv2d_fused_bias_gradcheck_and_double_backward():
    import backprop

    rng = np.random.default_rng(2)
    x = backprop.tensor(rng.standard_normal((2, 2, 5, 5)), requires_grad=True)
    w = backprop.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    b = backprop.tensor(rng.standard_normal(3), requires_grad=True)
    fn = lambda a, k, c: backprop.nn.functional.conv2d(a, k, c, padding=1).tanh()  # noqa: E731
    assert backprop.autograd.gradcheck(fn, (x, w, b))
    assert backprop.autograd.gradgradcheck(fn, (x, w, b), atol=1e-4)


def test_conv2d_bias_of_wrong_shape_or_dtype_is_a_runtime_error():
    import backprop

    x, w = backprop.randn(1, 2, 5, 5), backprop.randn(3, 2, 3, 3)
    with pytest.raises(RuntimeError, match=r"conv2d: .*weight of size \[3, 2, 3, 3\].*bias of size \[4\]"):
        backprop.nn.functional.conv2d(x, w, backprop.randn(4))
    with pytest.raises(RuntimeError, match=r"conv2d: Input type .*float32.* and bias type .*float64.* should be the same"):
        backprop.nn.functional.conv2d(x, w, backprop.randn(3, dtype=backprop.float64))


def test_maxpool_ties_and_nan_match_torch(device):
    import torch

    import backprop

    x = np.zeros((1, 1, 4, 4), dtype=np.float32)  # all ties: the first element of each window wins
    x[0, 0, 1, 1] = 1.0
    x[0, 0, 2, 3] = np.nan
    outs = []
    for m in (backprop, torch):
        t = m.tensor(x, requires_grad=True, device=device if m is backprop else "cpu")
        y, idx = m.nn.functional.max_pool2d(t, 2, return_indices=True)
        y.sum().backward()
        outs.append((y.detach().cpu().numpy(), idx.cpu().numpy(), t.grad.cpu().numpy()))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    np.testing.assert_array_equal(outs[0][2], outs[1][2])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradcheck_and_gradgradcheck(approximate):
    import backprop

    x = backprop.tensor(np.random.default_rng(0).standard_normal(12) * 3, requires_grad=True)
    fn = lambda t: backprop.nn.functional.gelu(t, approximate=approximate)  # noqa: E731
    assert backprop.autograd.gradcheck(fn, (x,))
    assert backprop.autograd.gradgradcheck(fn, (x,))


def test_gelu_float32_is_accurate_over_a_wide_range():
    """Against the exact value (float64) and against torch, whose vectorized float32 GELU is
    itself off by up to ~1e-6 in the negative tail."""
    import math

    import torch

    import backprop

    x = np.linspace(-10, 10, 20001, dtype=np.float32)
    exact = np.array([float(v) * 0.5 * (1 + math.erf(float(v) / math.sqrt(2))) for v in x])
    ours = backprop.nn.functional.gelu(backprop.tensor(x)).numpy()
    np.testing.assert_allclose(ours, exact, rtol=1e-6, atol=6e-7)
    for approximate in ("none", "tanh"):
        ours = backprop.nn.functional.gelu(backprop.tensor(x), approximate=approximate).numpy()
        theirs = torch.nn.functional.gelu(torch.tensor(x), approximate=approximate).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("channels_last", [False, True])
def test_batch_norm_gradcheck_and_gradgradcheck(training, channels_last):
    import backprop

    rng = np.random.default_rng(0)
    arr = rng.standard_normal((3, 2, 2, 3))
    if channels_last:
        arr = np.ascontiguousarray(arr.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    x = backprop.tensor(arr, requires_grad=True)
    w = backprop.tensor(rng.standard_normal(2) + 1, requires_grad=True)
    b = backprop.tensor(rng.standard_normal(2), requires_grad=True)
    rm, rv = backprop.tensor(rng.standard_normal(2)), backprop.tensor(rng.uniform(0.5, 2, 2))

    def fn(x_, w_, b_):
        return backprop.nn.functional.batch_norm(x_, rm.clone(), rv.clone(), w_, b_, training=training)

    assert backprop.autograd.gradcheck(fn, (x, w, b))
    assert backprop.autograd.gradgradcheck(fn, (x, w, b), atol=1e-4)


@pytest.mark.parametrize("shape,normalized", [((3, 5), (5,)), ((2, 3, 4), (3, 4))])
def test_layer_norm_gradcheck_and_gradgradcheck(shape, normalized):
    import backprop

    rng = np.random.default_rng(1)
    x = backprop.tensor(rng.standard_normal(shape), requires_grad=True)
    w = backprop.tensor(rng.standard_normal(normalized) + 1, requires_grad=True)
    b = backprop.tensor(rng.standard_normal(normalized), requires_grad=True)
    fn = lambda x_, w_, b_: backprop.nn.functional.layer_norm(x_, normalized, w_, b_)  # noqa: E731
    assert backprop.autograd.gradcheck(fn, (x, w, b))
    assert backprop.autograd.gradgradcheck(fn, (x, w, b), atol=1e-4)


@pytest.mark.parametrize("shape,normalized", [((3, 5), (5,)), ((2, 3, 4), (3, 4))])
@pytest.mark.parametrize("weighted", [True, False])
def test_rms_norm_gradcheck_gradgradcheck_and_create_graph_match_torch(shape, normalized, weighted):
    import torch

    import backprop

    rng = np.random.default_rng(3)
    xa, wa = rng.standard_normal(shape), rng.standard_normal(normalized) + 1
    x = backprop.tensor(xa, requires_grad=True)
    w = backprop.tensor(wa, requires_grad=True) if weighted else None
    args = (x, w) if weighted else (x,)
    fn = lambda *a: backprop.nn.functional.rms_norm(a[0], normalized, *a[1:], eps=1e-6)  # noqa: E731
    assert backprop.autograd.gradcheck(fn, args)
    assert backprop.autograd.gradgradcheck(fn, args, atol=1e-4)
    # The first derivative under create_graph (the composite's) equals torch's.
    tx = torch.tensor(xa, requires_grad=True)
    targs = (tx, torch.tensor(wa, requires_grad=True)) if weighted else (tx,)
    g = rng.standard_normal(shape)
    ours = backprop.autograd.grad((fn(*args) * backprop.tensor(g)).sum(), args, create_graph=True)
    theirs = torch.autograd.grad((torch.nn.functional.rms_norm(targs[0], normalized, *targs[1:], eps=1e-6) * torch.tensor(g)).sum(), targs, create_graph=True)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("shape", [(5,), (4, 5), (2, 3, 5)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck_and_gradgradcheck(shape, bias):
    import backprop

    rng = np.random.default_rng(2)
    x = backprop.tensor(rng.standard_normal(shape), requires_grad=True)
    w = backprop.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    b = backprop.tensor(rng.standard_normal(3), requires_grad=True) if bias else None
    args = (x, w, b) if bias else (x, w)
    fn = lambda *a: backprop.nn.functional.linear(*a)  # noqa: E731
    assert backprop.autograd.gradcheck(fn, args)
    assert backprop.autograd.gradgradcheck(fn, args)


def _constant_dims(y: np.ndarray) -> list[int]:
    """The dims along which a dropout output of ones is constant (where its mask was broadcast)."""
    return [d for d in range(y.ndim) if y.shape[d] > 1 and (y == y.take([0], axis=d)).all()]


@pytest.mark.parametrize(
    "name, shape",
    [
        ("dropout1d", (6, 7)), ("dropout1d", (5, 6, 7)),
        ("dropout2d", (6, 7)), ("dropout2d", (5, 6, 7)), ("dropout2d", (4, 5, 6, 7)), ("dropout2d", (3, 4, 5, 6, 7)),
        ("dropout3d", (7,)), ("dropout3d", (6, 7)), ("dropout3d", (5, 6, 7)), ("dropout3d", (4, 5, 6, 7)),
        ("dropout3d", (3, 4, 5, 6, 7)),
    ],
)
def test_channel_dropout_mask_dims_and_warnings_match_torch(name, shape):
    """Which dims dropout1d/2d/3d draw over, and their deprecation warnings, as torch's: mnist_rnn's
    Dropout2d on a 2-D (N, C) input drops element-wise (not the whole tensor), a 3-D input to dropout2d
    is (N, C, L), an unbatched input to dropout1d/3d has its channels at dim 0."""
    import warnings

    import torch

    import backprop

    found = {}
    for tmod in (torch, backprop):
        tmod.manual_seed(0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            y = getattr(tmod.nn.functional, name)(tmod.ones(shape), 0.5, True)
            getattr(tmod.nn.functional, name)(tmod.ones(shape), 0.5, False)  # warns in eval mode too
        values = np.asarray(y.tolist())
        assert set(np.unique(values)) <= {0.0, 2.0}
        found[tmod.__name__] = (_constant_dims(values), [str(w.message) for w in caught])
    assert found["backprop"] == found["torch"]


@pytest.mark.parametrize("name, shape", [("dropout1d", (4,)), ("dropout1d", (2, 3, 4, 5)), ("dropout2d", (4,)), ("dropout3d", ())])
def test_channel_dropout_errors_match_torch(name, shape):
    import warnings

    import torch

    import backprop

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError) as theirs:
            getattr(torch.nn.functional, name)(torch.ones(shape), 0.5, True)
        with pytest.raises(RuntimeError) as ours:
            getattr(backprop.nn.functional, name)(backprop.ones(shape), 0.5, True)
    assert str(ours.value) == str(theirs.value)
