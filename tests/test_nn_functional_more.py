"""nn.functional fixes and additions against torch: forward, gradients, create_graph, gradcheck
and torch's exception types (the op_db harness covers the rest)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import backprop as bp
from oracle import Case, Input, oracle_tests

I = Input


def _c(name, fn, *inputs, **kw):
    return Case(name, fn, list(inputs), **kw)


def _F(m):
    return m.nn.functional


CASES = [
    _c("cosine_similarity_broadcast", lambda m, a, b: _F(m).cosine_similarity(a, b, dim=-2), I((1, 2, 3)), I((2, 1, 3))),
    _c("prelu_0d", lambda m, x, w: _F(m).prelu(x, w), I(()), I((1,))),
    _c("prelu_channels", lambda m, x, w: _F(m).prelu(x, w), I((2, 3, 4)), I((3,))),
    _c("hinge_embedding_0d", lambda m, x, t: _F(m).hinge_embedding_loss(x, t), I(()), I(())),
    _c("hinge_embedding_pm1", lambda m, x: _F(m).hinge_embedding_loss(x, m.tensor([1.0, -1.0, 1.0, -1.0]), margin=0.7, reduction="none"), I((4,))),
    _c("circular_pad_negative", lambda m, x: _F(m).pad(x, [-1, 1, -2, 1], mode="circular"), I((1, 3, 4, 4))),
    _c("circular_pad_3d", lambda m, x: _F(m).pad(x, [1, 2, 0, -1, 2, 1], mode="circular"), I((1, 2, 3, 4, 3))),
    _c("gaussian_nll_per_sample_var", lambda m, x, t, v: _F(m).gaussian_nll_loss(x, t, v, reduction="none"),
       I((5, 4)), I((5, 4)), I((5,), "positive")),
    _c("gaussian_nll_clamped_var", lambda m, x, t, v: _F(m).gaussian_nll_loss(x, t, v * 1e-3, eps=1e-2), I((3, 2)), I((3, 2)), I((3, 1), "positive"),
       gradcheck=False),
    _c("group_norm_empty_batch", lambda m, x, w, b: _F(m).group_norm(x, 1, w, b), I((0, 2)), I((2,)), I((2,)), gradcheck=False),
]

test_matches_torch, test_matches_torch_noncontiguous, test_create_graph_matches_torch, test_gradcheck, test_gradgradcheck = oracle_tests(CASES)


def test_hardtanh_relu6_keep_int64():
    x = np.arange(-8, 9)
    for fn in (lambda m, t: _F(m).hardtanh(t, -1.5, 2.5), lambda m, t: _F(m).relu6(t * 3), lambda m, t: _F(m).hardtanh(t, -0.5, 0.5)):
        ours, theirs = fn(bp, bp.tensor(x)), fn(torch, torch.tensor(x))
        assert ours.dtype == bp.int64
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_alpha_dropout_p1_is_zero():
    x = bp.randn(4, 5, requires_grad=True)
    out = _F(bp).alpha_dropout(x, 1.0, training=True)
    np.testing.assert_array_equal(out.detach().numpy(), np.zeros((4, 5), np.float32))
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((4, 5), np.float32))


def test_unfold_fold_bool():
    x = np.random.default_rng(0).random((2, 1, 5, 5)) > 0.5
    ours = _F(bp).unfold(bp.tensor(x), 2)
    theirs = _F(torch).unfold(torch.tensor(x), 2)
    assert ours.dtype == bp.bool
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    np.testing.assert_array_equal(_F(bp).fold(ours, 5, 2).numpy(), _F(torch).fold(theirs, 5, 2).numpy())


ERRORS = [
    (lambda m: _F(m).prelu(m.ones(()), m.ones(2)), RuntimeError),
    (lambda m: _F(m).prelu(m.ones(2, 8, 3), m.ones(2, 4)), RuntimeError),
    (lambda m: _F(m).hardtanh(m.ones(2), 0.5, -0.5), ValueError),
    (lambda m: _F(m).alpha_dropout(m.ones(2), 1.5, True), ValueError),
    (lambda m: _F(m).gaussian_nll_loss(m.ones(10, 2, 3), m.ones(10, 2, 3), m.ones(10, 2, 2)), ValueError),
    (lambda m: _F(m).gaussian_nll_loss(m.ones(2, 3), m.ones(2, 3), -m.ones(2, 3)), ValueError),
    (lambda m: _F(m).huber_loss(m.ones(5, 4), m.ones(5, 4), delta=0), RuntimeError),
    (lambda m: _F(m).triplet_margin_loss(m.ones(3, 4), m.ones(3, 4), m.ones(3, 4), margin=-1.0), ValueError),
    (lambda m: _F(m).group_norm(m.ones(1), 1), RuntimeError),
    (lambda m: _F(m).rms_norm(m.ones(1, 2, 3), []), RuntimeError),
    (lambda m: _F(m).rms_norm(m.ones(2, 2, 3), [2, 2]), RuntimeError),
    (lambda m: _F(m).rms_norm(m.ones(1, 2, 3), [1, 2, 3], m.ones(1, 2)), RuntimeError),
    (lambda m: _F(m).embedding(m.tensor(0), m.ones(2, 2, 2)), RuntimeError),
    (lambda m: _F(m).gelu(m.ones(2), approximate="asdf"), RuntimeError),
    (lambda m: _F(m).conv2d(m.ones(1, 1, 4, 4), m.ones(1, 1, 2, 2), dilation=-1), RuntimeError),
    (lambda m: _F(m).max_pool1d(m.ones(0, 10), 1), RuntimeError),
    (lambda m: _F(m).max_pool2d(m.ones(1, 1, 4), 2), RuntimeError),
    (lambda m: _F(m).max_pool1d(m.ones(1, 1, 49), 2, stride=0), RuntimeError),
    (lambda m: _F(m).avg_pool2d(m.ones(1, 1, 4, 4), 2, padding=-1), RuntimeError),
]


@pytest.mark.parametrize("fn,exc", ERRORS)
def test_errors_like_torch(fn, exc):
    with pytest.raises(exc):
        fn(torch)
    with pytest.raises(exc):
        fn(bp)


def _interp(**kw):
    return lambda m, x: _F(m).interpolate(x, **kw)


INTERPOLATE = [
    _c("bicubic_up_align", _interp(size=(7, 9), mode="bicubic", align_corners=True), I((2, 2, 4, 5))),
    _c("bicubic_down_scale", _interp(scale_factor=(0.6, 0.75), mode="bicubic"), I((1, 2, 7, 8))),
    _c("bicubic_aa_down", _interp(size=(3, 4), mode="bicubic", antialias=True), I((1, 2, 9, 11))),
    _c("bilinear_aa_down_align", _interp(size=(4, 3), mode="bilinear", antialias=True, align_corners=True), I((2, 1, 10, 7))),
    _c("bilinear_aa_up", _interp(scale_factor=1.7, mode="bilinear", antialias=True), I((1, 2, 4, 5))),
    _c("linear_align_scale", _interp(scale_factor=2.5, mode="linear", align_corners=True), I((2, 3, 5))),
    _c("linear_recompute", _interp(scale_factor=1.7, mode="linear", recompute_scale_factor=True), I((2, 3, 5))),
    _c("trilinear", _interp(size=(3, 5, 4), mode="trilinear"), I((1, 2, 4, 3, 6))),
    _c("trilinear_align", _interp(scale_factor=(1.5, 0.5, 2.0), mode="trilinear", align_corners=True), I((1, 2, 4, 4, 3))),
    _c("area_1d", _interp(size=3, mode="area"), I((2, 3, 7))),
    _c("area_3d", _interp(size=(2, 3, 2), mode="area"), I((1, 2, 5, 7, 4))),
    _c("nearest_exact_3d", _interp(scale_factor=(1.5, 0.6, 2.0), mode="nearest-exact"), I((1, 2, 4, 5, 3))),
    _c("upsample_bilinear", lambda m, x: _F(m).upsample_bilinear(x, size=(5, 6)), I((1, 2, 3, 4))),
    _c("upsample_nearest", lambda m, x: _F(m).upsample_nearest(x, scale_factor=2), I((1, 2, 3, 4))),
]

(test_interpolate_matches_torch, test_interpolate_matches_torch_noncontiguous, test_interpolate_create_graph_matches_torch,
 test_interpolate_gradcheck, test_interpolate_gradgradcheck) = oracle_tests(INTERPOLATE)


@pytest.mark.parametrize("mode,kw", [("bilinear", {"align_corners": False}), ("bicubic", {"align_corners": True}), ("trilinear", {}), ("nearest", {})])
def test_upsample_module_modes(mode, kw):
    shape = (1, 2, 3, 4, 5) if mode == "trilinear" else (1, 2, 3, 4)
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    ours = bp.nn.Upsample(scale_factor=2, mode=mode, **kw)(bp.tensor(x))
    theirs = torch.nn.Upsample(scale_factor=2, mode=mode, **kw)(torch.tensor(x))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-5)


INTERP_ERRORS = [
    (lambda m: _F(m).interpolate(m.ones(1, 2, 4), size=3, mode="bicubic"), NotImplementedError),
    (lambda m: _F(m).interpolate(m.ones(1, 2, 4, 4), size=3, mode="area", align_corners=True), ValueError),
    (lambda m: _F(m).interpolate(m.ones(1, 2, 4), size=3, mode="linear", antialias=True), ValueError),
    (lambda m: _F(m).interpolate(m.ones(1, 2, 4, 4), size=(3, 3, 3), mode="nearest"), ValueError),
    (lambda m: _F(m).interpolate(m.ones(1, 2, 4, 4), size=3, scale_factor=2.0), ValueError),
    (lambda m: _F(m).interpolate(m.ones(1, 2, 4, 4), size=3, mode="bogus"), NotImplementedError),
]


@pytest.mark.parametrize("fn,exc", INTERP_ERRORS)
def test_interpolate_errors_like_torch(fn, exc):
    with pytest.raises(exc):
        fn(torch)
    with pytest.raises(exc):
        fn(bp)


ATEN = [
    _c("constant_pad_nd", lambda m, x: m.constant_pad_nd(x, (1, -1, 2, 0), 0.5), I((2, 3, 4))),
    # The saved statistics require grad but drop their gradients (torch's kernels): no gradcheck.
    _c("native_batch_norm_train", lambda m, x, w, b: m.native_batch_norm(x, w, b, None, None, True, 0.1, 1e-5), I((4, 3, 2)), I((3,)), I((3,)),
       gradcheck=False),
    _c("native_batch_norm_train_output", lambda m, x, w, b: m.native_batch_norm(x, w, b, None, None, True, 0.1, 1e-5)[0], I((4, 3, 2)), I((3,)), I((3,))),
    _c("native_batch_norm_eval", lambda m, x, w, rm, rv: m.native_batch_norm(x, w, None, rm, rv, False, 0.1, 1e-5),
       I((4, 3, 2)), I((3,)), I((3,), requires_grad=False), I((3,), "positive", requires_grad=False), gradcheck=False),
    _c("native_batch_norm_legit_no_stats", lambda m, x: m._native_batch_norm_legit(x, None, None, True, 0.1, 1e-5), I((5, 2, 3)), gradcheck=False),
    _c("batch_norm_with_update", lambda m, x, w, b, rm, rv: m.ops.aten._batch_norm_with_update(x, w, b, rm, rv, 0.1, 1e-5)[:3] if m is torch
       else m._batch_norm_with_update(x, w, b, rm, rv, 0.1, 1e-5)[:3],
       I((4, 3, 2)), I((3,)), I((3,)), I((3,), requires_grad=False), I((3,), "positive", requires_grad=False), gradcheck=False),
    _c("native_layer_norm", lambda m, x, w, b: m.native_layer_norm(x, (3, 4), w, b, 1e-5), I((2, 3, 4)), I((3, 4)), I((3, 4)), gradcheck=False),
    _c("native_layer_norm_output", lambda m, x, w, b: m.native_layer_norm(x, (3, 4), w, b, 1e-5)[0], I((2, 3, 4)), I((3, 4)), I((3, 4))),
    _c("native_group_norm", lambda m, x, w, b: m.native_group_norm(x, w, b, 2, 6, 3, 3, 1e-5), I((2, 6, 3)), I((6,)), I((6,)), noncontig=False),
    _c("softmax_backward_data", lambda m, g, x: m._softmax_backward_data(g, m.softmax(x, 1), 1, x.dtype) if m is bp
       else m.ops.aten._softmax_backward_data(g, m.softmax(x, 1), 1, x.dtype), I((3, 4)), I((3, 4))),
    _c("native_dropout_backward", lambda m, g: (m.ops.aten.native_dropout_backward if m is torch else m.native_dropout_backward)(
        g, m.tensor([[True, False, True], [False, True, True]]), 2.0), I((2, 3))),
    _c("max_pool2d_with_indices_backward", lambda m, x, g: (m.ops.aten.max_pool2d_with_indices_backward if m is torch else m.max_pool2d_with_indices_backward)(
        g, x, [3, 2], [2, 1], [1, 0], [1, 1], True, m.nn.functional.max_pool2d(x, (3, 2), (2, 1), (1, 0), ceil_mode=True, return_indices=True)[1]),
       I((1, 2, 5, 4), "distinct", requires_grad=False), I((1, 2, 3, 3))),
]

(test_aten_matches_torch, test_aten_matches_torch_noncontiguous, test_aten_create_graph_matches_torch,
 test_aten_gradcheck, test_aten_gradgradcheck) = oracle_tests(ATEN)


def test_native_batch_norm_updates_running_stats():
    x = np.random.default_rng(4).standard_normal((6, 3, 2)).astype(np.float32)
    stats = {}
    for m in (bp, torch):
        rm, rv = m.zeros(3), m.ones(3)
        m.native_batch_norm(m.tensor(x), None, None, rm, rv, True, 0.3, 1e-5)
        stats[m] = (rm.numpy(), rv.numpy())
    np.testing.assert_allclose(stats[bp][0], stats[torch][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats[bp][1], stats[torch][1], rtol=1e-5, atol=1e-6)


def _cos_dist(m):
    return lambda a, b: 1.0 - _F(m).cosine_similarity(a, b)


LOSSES = [
    _c("multi_margin_p1", lambda m, x: _F(m).multi_margin_loss(x, m.tensor([0, 3, 1, 2, 3])), I((5, 4))),
    _c("multi_margin_p2_weight", lambda m, x, w: _F(m).multi_margin_loss(x, m.tensor([2, 0, 1]), p=2, margin=0.7, weight=w, reduction="none"),
       I((3, 4)), I((4,), "positive", requires_grad=False)),
    _c("multi_margin_1d_sum", lambda m, x: _F(m).multi_margin_loss(x, m.tensor(2), reduction="sum"), I((5,))),
    _c("multilabel_margin", lambda m, x: _F(m).multilabel_margin_loss(x, m.tensor([[3, 0, -1, 1], [1, 2, 3, 0], [-1, 2, 0, 0]])), I((3, 4))),
    _c("multilabel_margin_none_1d", lambda m, x: _F(m).multilabel_margin_loss(x, m.tensor([2, 2, 0, -1, 1]), reduction="none"), I((5,))),
    _c("triplet_distance_default", lambda m, a, p, n: _F(m).triplet_margin_with_distance_loss(a, p, n, margin=0.5, swap=True), I((4, 6)), I((4, 6)), I((4, 6))),
    _c("triplet_distance_custom", lambda m, a, p, n: _F(m).triplet_margin_with_distance_loss(a, p, n, distance_function=_cos_dist(m), reduction="none"),
       I((4, 6)), I((4, 6)), I((4, 6))),
]

(test_losses_match_torch, test_losses_match_torch_noncontiguous, test_losses_create_graph_matches_torch,
 test_losses_gradcheck, test_losses_gradgradcheck) = oracle_tests(LOSSES)


def test_loss_modules_match_torch():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    a, p, n = (rng.standard_normal((4, 5)).astype(np.float32) for _ in range(3))
    for build, args in [
        (lambda m: m.nn.MultiMarginLoss(p=2, margin=0.5, weight=m.tensor([1.0, 2.0, 0.5, 1.0, 3.0])), lambda m: (m.tensor(x), m.tensor([0, 4, 2, 1]))),
        (lambda m: m.nn.MultiLabelMarginLoss(reduction="sum"), lambda m: (m.tensor(x), m.tensor([[1, 2, -1, 0, 0]] * 4))),
        (lambda m: m.nn.TripletMarginWithDistanceLoss(distance_function=m.nn.PairwiseDistance(), margin=2.0), lambda m: (m.tensor(a), m.tensor(p), m.tensor(n))),
    ]:
        ours, theirs = build(bp)(*args(bp)), build(torch)(*args(torch))
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)


def test_feature_alpha_dropout_drops_whole_channels():
    x = bp.randn(8, 16, 5, 5)
    out = bp.nn.FeatureAlphaDropout(0.5)(x)
    kept = (out - x).reshape(8, 16, -1)
    # A channel is either affinely kept (a*x + b) or a constant (dropped): never a mix.
    dropped = (kept.std(-1) < 1e-6) | ((out.reshape(8, 16, -1).std(-1)) < 1e-6)
    assert out.shape == x.shape and bool(dropped.any())
    per_channel = out.reshape(8, 16, -1)
    const = per_channel.std(-1) < 1e-6
    assert 0 < int(const.sum()) < 8 * 16
    assert bp.nn.FeatureAlphaDropout(0.5).eval()(x) is x


LOSS_ERRORS = [
    (lambda m: _F(m).multi_margin_loss(m.ones(3, 4), m.tensor([0, 1, 2]), p=3), ValueError),
    (lambda m: _F(m).multi_margin_loss(m.ones(3, 4), m.tensor([0, 1])), RuntimeError),
    (lambda m: _F(m).multi_margin_loss(m.ones(3, 4), m.tensor([0, 1, 2]), reduction="abc"), ValueError),
    (lambda m: _F(m).multilabel_margin_loss(m.ones(3, 4), m.tensor([[0, 1, 2, 3]])), RuntimeError),
    (lambda m: _F(m).triplet_margin_with_distance_loss(m.ones(3, 4), m.ones(3, 4), m.ones(3, 4), margin=0.0), ValueError),
    (lambda m: _F(m).triplet_margin_with_distance_loss(m.ones(3, 4), m.ones(3, 4), m.ones(4)), RuntimeError),
]


@pytest.mark.parametrize("fn,exc", LOSS_ERRORS)
def test_loss_errors_like_torch(fn, exc):
    with pytest.raises(exc):
        fn(torch)
    with pytest.raises(exc):
        fn(bp)


def _grid(shape, mode="bilinear"):
    # Standard normal: about a third of the points fall outside [-1, 1]. Nearest sampling does
    # not depend on the grid continuously (torch returns a zero gradient, backprop none).
    return Input(shape, requires_grad=None if mode != "nearest" else False)


def _sampler(mode, pad, ac):
    return lambda m, x, g: _F(m).grid_sample(x, g, mode=mode, padding_mode=pad, align_corners=ac)


GRID = [
    _c(f"grid_sample_{mode}_{pad}_{ac}", _sampler(mode, pad, ac),
       I((1, 2, 4, 5)), _grid((1, 3, 2, 2), mode))
    for i, (mode, pad) in enumerate(itertools.product(("bilinear", "nearest", "bicubic"), ("zeros", "border", "reflection")))
    for ac in ((False, True) if mode != "nearest" else (i % 2 == 0,))
] + [
    _c(f"grid_sample_3d_{mode}_{pad}", _sampler(mode, pad, False),
       I((1, 2, 3, 4, 3)), _grid((1, 2, 3, 2, 3), mode))
    for mode in ("bilinear", "nearest") for pad in ("zeros", "border", "reflection")
] + [
    _c("affine_grid_2d", lambda m, t: _F(m).affine_grid(t, (2, 3, 4, 5), align_corners=False), I((2, 2, 3))),
    _c("affine_grid_3d_align", lambda m, t: _F(m).affine_grid(t, (1, 1, 3, 2, 4), align_corners=True), I((1, 3, 4))),
    _c("affine_grid_then_sample", lambda m, x, t: _F(m).grid_sample(x, _F(m).affine_grid(t, (2, 3, 3, 4), align_corners=False), align_corners=False),
       I((2, 3, 5, 6)), I((2, 2, 3))),
    _c("grid_sampler_2d", lambda m, x, g: m.grid_sampler_2d(x, g, 0, 2, False), I((1, 2, 4, 4)), _grid((1, 3, 2, 2))),
    _c("grid_sampler_3d", lambda m, x, g: m.grid_sampler_3d(x, g, 0, 1, True), I((1, 2, 3, 3, 3)), _grid((1, 2, 2, 2, 3))),
]

(test_grid_matches_torch, test_grid_matches_torch_noncontiguous, test_grid_create_graph_matches_torch,
 test_grid_gradcheck, test_grid_gradgradcheck) = oracle_tests(GRID)


GRID_ERRORS = [
    (lambda m: _F(m).grid_sample(m.ones(1, 1, 3, 3), m.zeros(1, 2, 2, 2), mode="bogus"), ValueError),
    (lambda m: _F(m).grid_sample(m.ones(1, 1, 3, 3), m.zeros(1, 2, 2, 2), padding_mode="bogus"), ValueError),
    (lambda m: _F(m).grid_sample(m.ones(1, 1, 3, 3), m.zeros(1, 2, 2, 3)), RuntimeError),
    (lambda m: _F(m).grid_sample(m.ones(2, 1, 3, 3), m.zeros(1, 2, 2, 2)), RuntimeError),
    (lambda m: _F(m).grid_sample(m.ones(1, 1, 3, 3, 3), m.zeros(1, 2, 2, 2, 3), mode="bicubic"), RuntimeError),
    (lambda m: _F(m).affine_grid(m.zeros(1, 2, 3), (1, 1, 3, 3, 3)), ValueError),
    (lambda m: _F(m).affine_grid(m.zeros(1, 2, 3), (1, 1, 0, 3)), ValueError),
]


@pytest.mark.parametrize("fn,exc", GRID_ERRORS)
def test_grid_errors_like_torch(fn, exc):
    with pytest.raises(exc):
        fn(torch)
    with pytest.raises(exc):
        fn(bp)


LINEAR_CE = [
    _c("linear_cross_entropy", lambda m, x, w, b: _F(m).linear_cross_entropy(x, w, m.tensor([0, 3, 1, 4, 2]), linear_bias=b, label_smoothing=0.1),
       I((5, 6)), I((5, 6)), I((5,))),
    _c("linear_cross_entropy_kdim_ignore", lambda m, x, w: _F(m).linear_cross_entropy(x, w, m.tensor([[0, 2], [1, 1], [2, 0]]), ignore_index=1, reduction="none"),
       I((3, 4)), I((3, 2, 4))),
    _c("linear_cross_entropy_probs", lambda m, x, w, t: _F(m).linear_cross_entropy(x, w, m.softmax(t, -1), weight=m.tensor([1.0, 2.0, 0.5])),
       I((4, 5)), I((3, 5)), I((4, 3), requires_grad=False)),
]

(test_lce_matches_torch, test_lce_matches_torch_noncontiguous, test_lce_create_graph_matches_torch,
 test_lce_gradcheck, test_lce_gradgradcheck) = oracle_tests(LINEAR_CE)


def _ctc(targets, in_len, tg_len, **kw):
    def fn(m, logits):
        lp = m.log_softmax(logits, -1)
        t = m.tensor(targets)
        return _F(m).ctc_loss(lp, t, in_len, tg_len, **kw)

    return fn


CTC = [
    _c("ctc_padded_mean", _ctc([[1, 2, 2, 0], [3, 1, 0, 0], [2, 2, 2, 1]], [7, 5, 6], [3, 2, 4]), I((7, 3, 4))),
    _c("ctc_concat_sum_blank", _ctc([1, 0, 1, 2, 2, 1], (6, 6), (2, 4), blank=3, reduction="sum"), I((6, 2, 4))),
    _c("ctc_none_zero_target", _ctc([[1, 2], [0, 0]], [5, 4], [2, 0], reduction="none"), I((5, 2, 3))),
    _c("ctc_unbatched", lambda m, logits: _F(m).ctc_loss(m.log_softmax(logits, -1), m.tensor([1, 1, 2]), (6,), (3,)), I((6, 3))),
    # An impossible alignment (3 labels with a repeat need 4 steps): infinite loss, zeroed with its gradient.
    _c("ctc_zero_infinity", _ctc([[1, 1, 2], [2, 1, 2]], [3, 5], [3, 3], zero_infinity=True, reduction="none"), I((5, 2, 3))),
]

(test_ctc_matches_torch, test_ctc_matches_torch_noncontiguous, test_ctc_create_graph_matches_torch,
 test_ctc_gradcheck, test_ctc_gradgradcheck) = oracle_tests(CTC)


def test_ctc_module_and_errors():
    rng = np.random.default_rng(9)
    lp = np.log(rng.dirichlet(np.ones(5), size=(8, 2))).astype(np.float32)
    args = lambda m: (m.tensor(lp), m.tensor([[1, 2, 3], [4, 4, 1]]), m.tensor([8, 7]), m.tensor([3, 2]))  # noqa: E731
    np.testing.assert_allclose(bp.nn.CTCLoss()(*args(bp)).numpy(), torch.nn.CTCLoss()(*args(torch)).numpy(), rtol=1e-5)
    for m in (bp, torch):
        with pytest.raises(RuntimeError):
            _F(m).ctc_loss(m.tensor(lp), m.tensor([[1, 2]] * 2), [9, 8], [2, 2])
        with pytest.raises(ValueError):
            _F(m).ctc_loss(m.tensor(lp), m.tensor([[1, 2]] * 2), [8, 8], [2, 2], reduction="bogus")
        with pytest.raises(TypeError):
            _F(m).ctc_loss(m.tensor(lp[:, 0]), m.tensor([1, 2]), 8, 2)
