"""Every loss against torch 2.13 (all options), value and gradient w.r.t. the input (and the
target where torch differentiates it), plus finite values/gradients for logits up to +-1e4.

The oracle tests take the ``device`` fixture (cpu and fake-cuda by default, see conftest): backprop's
inputs are made on that device and the loss runs under ``with backprop.device(device)`` (tensors
the test builds inside, such as targets, land there too); results are compared after ``.cpu()``."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

import backprop

R = np.random.default_rng(0)


def f32(*shape, scale=1.0):
    return (R.standard_normal(shape) * scale).astype(np.float32)


def run_both(fn, arrays, grad_mask, rtol=1e-5, atol=1e-6, device="cpu", create_graph=False):
    """fn(m, *tensors) on backprop (on ``device``) and torch (CPU); compare value and grads of
    inputs in grad_mask, and that backprop's results stay on ``device``. ``create_graph``: the
    gradients come from ``autograd.grad(..., create_graph=True)`` on both sides."""
    outs, grads = [], []
    for m in (backprop, torch):
        ours = m is backprop
        with backprop.device(device) if ours else contextlib.nullcontext():
            ts = [m.tensor(a, requires_grad=bool(g)) for a, g in zip(arrays, grad_mask)]
            out = fn(m, *ts)
            g = np.random.default_rng(1).standard_normal(tuple(out.shape)).astype(np.float32)
            loss = (out * m.tensor(g)).sum()
            if create_graph:
                wanted = [t for t in ts if t.requires_grad]
                for t, gt in zip(wanted, m.autograd.grad(loss, wanted, create_graph=True)):
                    t.grad = gt.detach()
            else:
                loss.backward()
        if ours:
            assert out.device.type == device, f"loss on {out.device}, expected {device}"
            for i, t in enumerate(ts):
                assert t.grad is None or t.grad.device.type == device, f"grad {i} on {t.grad.device}, expected {device}"
        outs.append(out.detach().cpu().numpy())
        grads.append([t.grad.detach().cpu().numpy() if t.grad is not None else None for t in ts])
    assert outs[0].shape == outs[1].shape
    np.testing.assert_allclose(outs[0], outs[1], rtol=rtol, atol=atol)
    for i, (a, b) in enumerate(zip(*grads)):
        if b is None:
            continue
        assert a is not None, f"input {i} has no gradient"
        np.testing.assert_allclose(a, b, rtol=rtol * 10, atol=atol * 10, err_msg=f"grad {i}")
    return outs[0]


REDUCTIONS = ["mean", "sum", "none"]
logits = f32(6, 5)
targets = R.integers(0, 5, 6)
logits4d = f32(2, 4, 3, 3)
targets4d = R.integers(0, 4, (2, 3, 3))
probs_target = np.abs(f32(6, 5))
probs_target /= probs_target.sum(1, keepdims=True)
class_weight = np.abs(f32(5)) + 0.1


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "name,fn",
    [
        ("mse", lambda m, x, t, r: m.nn.functional.mse_loss(x, t, reduction=r)),
        ("l1", lambda m, x, t, r: m.nn.functional.l1_loss(x, t, reduction=r)),
        ("smooth_l1", lambda m, x, t, r: m.nn.SmoothL1Loss(reduction=r)(x, t)),
        ("smooth_l1_beta", lambda m, x, t, r: m.nn.functional.smooth_l1_loss(x, t, reduction=r, beta=0.5)),
        ("smooth_l1_beta0", lambda m, x, t, r: m.nn.functional.smooth_l1_loss(x, t, reduction=r, beta=0.0)),
        ("huber", lambda m, x, t, r: m.nn.HuberLoss(reduction=r)(x, t)),
        ("huber_delta", lambda m, x, t, r: m.nn.functional.huber_loss(x, t, reduction=r, delta=0.3)),
    ],
)
def test_regression_losses(name, fn, reduction, device):
    run_both(lambda m, x, t: fn(m, x, t, reduction), [f32(4, 3), f32(4, 3)], [True, True], device=device)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("ignore", [False, True])
def test_cross_entropy_class_indices(reduction, weight, label_smoothing, ignore, device):
    t = targets.copy()
    if ignore:
        t[1] = -100
        t[4] = -100

    def fn(m, x, w):
        return m.nn.functional.cross_entropy(
            x, m.tensor(t), weight=w if weight else None, reduction=reduction, label_smoothing=label_smoothing
        )

    run_both(fn, [logits, class_weight], [True, False], device=device)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_spatial(reduction, label_smoothing, device):
    run_both(
        lambda m, x: m.nn.CrossEntropyLoss(reduction=reduction, label_smoothing=label_smoothing, ignore_index=2)(x, m.tensor(targets4d)),
        [logits4d],
        [True],
        device=device,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_cross_entropy_probability_targets(reduction, weight, label_smoothing, device):
    run_both(
        lambda m, x, p, w: m.nn.functional.cross_entropy(x, p, weight=w if weight else None, reduction=reduction, label_smoothing=label_smoothing),
        [logits, probs_target, class_weight],
        [True, False, False],
        device=device,
    )


def test_cross_entropy_unbatched(device):
    run_both(lambda m, x: m.nn.functional.cross_entropy(x, m.tensor(3)), [f32(5)], [True], device=device)


def test_cross_entropy_extreme_logits_are_finite(device):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [0.0, 0.0, 0.0]], dtype=np.float32)
    value = run_both(lambda m, a: m.nn.functional.cross_entropy(a, m.tensor([1, 2, 0])), [x], [True], device=device)
    assert np.isfinite(value).all()
    t = backprop.tensor(x, requires_grad=True, device=device)
    backprop.nn.functional.cross_entropy(t, backprop.tensor([1, 2, 0], device=device)).backward()
    assert np.isfinite(t.grad.cpu().numpy()).all()


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [False, True])
def test_nll_loss(reduction, weight, device):
    logp = torch.log_softmax(torch.tensor(logits), 1).numpy()
    t = targets.copy()
    t[0] = 7
    run_both(
        lambda m, x, w: m.nn.NLLLoss(weight=w if weight else None, ignore_index=7, reduction=reduction)(x, m.tensor(t)),
        [logp, class_weight],
        [True, False],
        device=device,
    )


def test_nll_loss_target_out_of_bounds_raises_like_torch():
    with pytest.raises(IndexError):
        torch.nn.functional.nll_loss(torch.zeros(2, 3), torch.tensor([0, 5]))
    with pytest.raises(IndexError, match="out of bounds"):
        backprop.nn.functional.nll_loss(backprop.zeros(2, 3), backprop.tensor([0, 5]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [False, True])
def test_bce(reduction, weight, device):
    p = R.uniform(0.05, 0.95, (4, 3)).astype(np.float32)
    t = R.uniform(0, 1, (4, 3)).astype(np.float32)
    w = R.uniform(0.5, 2, (3,)).astype(np.float32)
    run_both(lambda m, a, b, c: m.nn.BCELoss(weight=c if weight else None, reduction=reduction)(a, b), [p, t, w], [True, True, False], device=device)


def test_bce_at_zero_and_one_is_clamped_like_torch(device):
    p = np.array([0.0, 1.0, 0.5, 1e-8], dtype=np.float32)
    t = np.array([1.0, 0.0, 1.0, 0.0], dtype=np.float32)
    run_both(lambda m, a, b: m.nn.functional.binary_cross_entropy(a, b, reduction="none"), [p, t], [True, False], atol=1e-3, device=device)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", [False, True])
@pytest.mark.parametrize("weight", [False, True])
def test_bce_with_logits(reduction, pos_weight, weight, device):
    x = f32(4, 3, scale=3)
    t = R.uniform(0, 1, (4, 3)).astype(np.float32)
    pw = R.uniform(0.5, 3, (3,)).astype(np.float32)
    w = R.uniform(0.5, 2, (4, 1)).astype(np.float32)
    run_both(
        lambda m, a, b, c, d: m.nn.BCEWithLogitsLoss(weight=d if weight else None, pos_weight=c if pos_weight else None, reduction=reduction)(a, b),
        [x, t, pw, w],
        [True, True, False, False],
        device=device,
    )


def test_bce_with_logits_extremes_and_zero(device):
    x = np.array([-1e4, -50.0, 0.0, 50.0, 1e4], dtype=np.float32)
    t = np.array([1.0, 0.0, 1.0, 0.0, 1.0], dtype=np.float32)
    value = run_both(lambda m, a, b: m.nn.functional.binary_cross_entropy_with_logits(a, b, reduction="none"), [x, t], [True, False], device=device)
    assert np.isfinite(value).all()


@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target, device):
    inp = torch.log_softmax(torch.tensor(f32(4, 5)), 1).numpy()
    tgt = torch.softmax(torch.tensor(f32(4, 5)), 1).numpy()
    tgt[0, 0] = 0.0
    if log_target:
        tgt = np.log(np.maximum(tgt, 1e-6)).astype(np.float32)
    with np.errstate(all="ignore"):
        run_both(lambda m, a, b: m.nn.KLDivLoss(reduction=reduction, log_target=log_target)(a, b), [inp, tgt], [True, False], device=device)


@pytest.mark.parametrize(
    "fn,shapes",
    [
        (lambda m, a, b, t: m.nn.functional.margin_ranking_loss(a, b, t.sign()), [(5,), (5,), (5,)]),
        (lambda m, a, t: m.nn.functional.soft_margin_loss(a, t.sign()), [(5,), (5,)]),
        (lambda m, a, b, c: m.nn.functional.triplet_margin_loss(a, b, c), [(4, 3), (4, 3), (4, 3)]),
        (lambda m, a, b: m.nn.functional.cosine_similarity(a, b), [(4, 3), (4, 3)]),
        (lambda m, a, b: m.nn.functional.pairwise_distance(a, b), [(4, 3), (4, 3)]),
        (lambda m, a, t: m.nn.functional.poisson_nll_loss(a, t.abs()), [(5,), (5,)]),
        (lambda m, a, t: m.nn.functional.multilabel_soft_margin_loss(a, (t > 0).float()), [(4, 3), (4, 3)]),
        (lambda m, a, t, v: m.nn.functional.gaussian_nll_loss(a, t, v.abs() + 0.1), [(4, 3), (4, 3), (4, 3)]),
    ],
    ids=["margin_ranking", "soft_margin", "triplet", "cosine_similarity", "pairwise_distance", "poisson_nll", "multilabel_soft_margin", "gaussian_nll"],
)
def test_other_losses(fn, shapes, device):
    arrays = [f32(*s) for s in shapes]
    run_both(fn, arrays, [True] + [False] * (len(arrays) - 1), rtol=1e-4, atol=1e-5, device=device)


CREATE_GRAPH_CASES = {
    "mse": (lambda m, x, t: m.nn.functional.mse_loss(x, t), [logits, probs_target], [1, 1]),
    "l1": (lambda m, x, t: m.nn.functional.l1_loss(x, t, reduction="sum"), [logits, probs_target], [1, 0]),
    "smooth_l1": (lambda m, x, t: m.nn.functional.smooth_l1_loss(x, t, beta=0.5), [logits, probs_target], [1, 0]),
    "huber": (lambda m, x, t: m.nn.functional.huber_loss(x, t, delta=0.3), [logits, probs_target], [1, 0]),
    "cross_entropy": (lambda m, x, t: m.nn.functional.cross_entropy(x, t, label_smoothing=0.1), [logits, targets], [1, 0]),
    "cross_entropy_weighted": (lambda m, x, t, w: m.nn.functional.cross_entropy(x, t, weight=w), [logits, targets, class_weight], [1, 0, 0]),
    "cross_entropy_probs": (lambda m, x, t: m.nn.functional.cross_entropy(x, t), [logits, probs_target], [1, 0]),
    "cross_entropy_spatial": (lambda m, x, t: m.nn.functional.cross_entropy(x, t), [logits4d, targets4d], [1, 0]),
    "nll": (lambda m, x, t: m.nn.functional.nll_loss(m.log_softmax(x, 1), t), [logits, targets], [1, 0]),
    "bce": (lambda m, x, t: m.nn.functional.binary_cross_entropy(m.sigmoid(x), t), [logits, probs_target], [1, 0]),
    "bce_with_logits": (lambda m, x, t: m.nn.functional.binary_cross_entropy_with_logits(x, t, pos_weight=m.ones(5) * 2), [logits, probs_target], [1, 0]),
    "kl_div": (lambda m, x, t: m.nn.functional.kl_div(m.log_softmax(x, 1), t, reduction="batchmean"), [logits, probs_target], [1, 0]),
}


@pytest.mark.parametrize("name", sorted(CREATE_GRAPH_CASES))
def test_loss_create_graph_gradients_match_torch(name):
    """The first derivatives of each loss taken with ``create_graph=True`` equal torch's."""
    fn, arrays, mask = CREATE_GRAPH_CASES[name]
    run_both(fn, arrays, mask, create_graph=True)


def test_mse_warns_on_broadcasting_target_like_torch():
    with pytest.warns(UserWarning, match="target size"):
        backprop.nn.functional.mse_loss(backprop.zeros(3, 1), backprop.zeros(3))


def test_invalid_reduction_raises_value_error():
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        backprop.nn.functional.l1_loss(backprop.zeros(3), backprop.zeros(3), reduction="avg")
