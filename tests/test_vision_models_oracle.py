"""The YOLO-style detector and its loss against torch 2.13 as the oracle.

The detector's source (``backprop.vision.models``) is executed a second time by torch, its imports
rewritten (``benchmarks/torch_twin.py``, shared with the ``yolo`` benchmarks), with torchvision's box
ops written as torch formulas. Both run with the same weights (copied by state_dict name), images and
targets; compared: raw head outputs (train and eval mode) and BatchNorm statistics, decoding and
post-processing, the task-aligned assigner, the loss and every parameter gradient, AdamW steps; and
gradcheck of the loss w.r.t. the raw head outputs in float64.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import backprop
from backprop._backend import CPU
from backprop.vision import ops as bp_ops

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.torch_twin import to_torch, vision_models  # noqa: E402

BP = vision_models(backprop)
TT = vision_models(torch)
NUM_CLASSES = 3


def tt(x, dtype=None):
    """A backprop tensor or array as a torch tensor."""
    a = x.numpy() if isinstance(x, backprop.Tensor) else np.asarray(x)
    return torch.from_numpy(a.copy()) if dtype is None else torch.from_numpy(a.copy()).to(dtype)


def bt(x):
    return backprop.tensor(np.asarray(x))


def assert_close(b, t, rtol=1e-4, atol_scale=1e-5, what=""):
    """backprop ``b`` vs torch ``t``; the absolute tolerance scales with the oracle's magnitude."""
    b_np = b.detach().cpu().numpy() if isinstance(b, backprop.Tensor) else np.asarray(b)
    t_np = t.detach().numpy()
    assert b_np.shape == t_np.shape, f"{what}: shape {b_np.shape} vs {t_np.shape}"
    scale = float(np.abs(t_np).max()) if t_np.size else 0.0
    np.testing.assert_allclose(b_np, t_np, rtol=rtol, atol=atol_scale * max(scale, 1.0), err_msg=what)


def twin_models(num_classes=NUM_CLASSES, seed=0):
    """A backprop detector with randomized BatchNorm affine parameters and statistics, and the torch twin
    holding the same state (by state_dict name)."""
    backprop.manual_seed(seed)
    bm = BP.yolo(num_classes, 1, "t")
    rng = np.random.default_rng(seed)
    with backprop.no_grad():
        for mod in bm.modules():
            if isinstance(mod, backprop.nn.BatchNorm2d):
                c = mod.num_features
                mod.weight.copy_(bt(rng.uniform(0.5, 1.5, c).astype(np.float32)))
                mod.bias.copy_(bt(rng.normal(0, 0.1, c).astype(np.float32)))
                mod.running_mean.copy_(bt(rng.normal(0, 0.2, c).astype(np.float32)))
                mod.running_var.copy_(bt(rng.uniform(0.5, 2.0, c).astype(np.float32)))
    tm = TT.yolo(num_classes, 1, "t")
    state = bm.state_dict()
    assert list(state) == list(tm.state_dict())
    tm.load_state_dict({k: tt(v) for k, v in state.items()})
    return bm, tm


def random_targets(rng, counts, size, num_classes=NUM_CLASSES):
    """Per image ``count`` boxes 6-40 px inside a ``size`` x ``size`` canvas (0: an empty image)."""
    out = []
    for n in counts:
        wh = rng.uniform(6, 40, (n, 2))
        xy = rng.uniform(0, size - wh)
        out.append((np.concatenate([xy, xy + wh], 1).astype(np.float32), rng.integers(0, num_classes, n)))
    return out


def as_targets(m, raw, device="cpu"):
    to = tt if m is torch else bt
    return [{"boxes": to(b).reshape(-1, 4).to(device), "labels": to(lab.astype(np.int64)).to(device)} for b, lab in raw]


def test_twin_rewrites_imports_and_refuses_unknown_ones():
    src = "from ... import nn, zeros\nfrom ..._dtype import bool_, int64\nfrom ...nn import functional as F\nfrom .. import ops\nfrom .yolo import make_anchors\n"
    assert to_torch(src) == (
        "from torch import nn, zeros\nfrom torch import bool as bool_, int64\nfrom torch.nn import functional as F\n"
        "from _backprop_torch_twin import ops\nfrom _backprop_torch_twin.yolo import make_anchors\n"
    )
    for bad in ("from ..ops.boxes import nms", "import backprop", "from ..._backend import array_module"):
        with pytest.raises(ImportError):
            to_torch(bad)
    assert TT.YOLO.__module__ == "_backprop_torch_twin.yolo" and isinstance(TT.yolo(2, 1, "t"), torch.nn.Module)


def test_raw_outputs_train_and_eval_mode():
    bm, tm = twin_models()
    x = np.random.default_rng(1).standard_normal((3, 1, 64, 96)).astype(np.float32)
    for mode in ("train", "eval"):
        bm.train(mode == "train")
        tm.train(mode == "train")
        out_b, out_t = bm(bt(x)), tm(tt(x))
        assert len(out_b) == len(out_t) == 3
        for level, (b, t) in enumerate(zip(out_b, out_t)):
            assert_close(b, t, what=f"{mode} level {level}")
        # train mode updated the BatchNorm statistics alike
        for (name, vb), vt in zip(bm.state_dict().items(), tm.state_dict().values()):
            assert_close(vb, vt, rtol=1e-4, what=f"{mode}: {name}")


def test_decode_anchors_and_postprocess():
    bm, tm = twin_models()
    rng = np.random.default_rng(2)
    maps = [rng.standard_normal((2, 4 + NUM_CLASSES, 96 // s, 80 // s)).astype(np.float32) for s in (8, 16, 32)]
    maps = [np.concatenate([m[:, :4], m[:, 4:] - 2.0], 1) for m in maps]  # probabilities mostly below 0.5
    boxes_b, logits_b = bm.decode([bt(m) for m in maps])
    boxes_t, logits_t = tm.decode([tt(m) for m in maps])
    assert_close(boxes_b, boxes_t, rtol=1e-5, what="decoded boxes")
    assert_close(logits_b, logits_t, rtol=0, atol_scale=0, what="logits")
    for a, b in zip(
        BP.make_anchors([bt(m) for m in maps], bm.strides), TT.make_anchors([tt(m) for m in maps], tm.strides)
    ):
        assert_close(a, b, rtol=0, atol_scale=0, what="anchors")
    kwargs = {"conf": 0.2, "iou": 0.5, "max_det": 40, "image_size": (96, 80)}
    res_b = bm.postprocess([bt(m) for m in maps], **kwargs)
    res_t = tm.postprocess([tt(m) for m in maps], **kwargs)
    for rb, rt in zip(res_b, res_t):
        assert 0 < rt["scores"].shape[0] <= 40
        assert rb["labels"].tolist() == rt["labels"].tolist()
        assert_close(rb["scores"], rt["scores"], rtol=1e-6, what="scores")
        assert_close(rb["boxes"], rt["boxes"], rtol=1e-5, what="kept boxes")


def _greedy_nms(boxes, scores, thr):
    """The sequential definition: by decreasing score (stable), keep a box unless a kept one overlaps it > thr."""
    order = np.argsort(-scores, kind="stable")
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    for i in order:
        w = np.clip(np.minimum(boxes[keep, 2], boxes[i, 2]) - np.maximum(boxes[keep, 0], boxes[i, 0]), 0, None)
        h = np.clip(np.minimum(boxes[keep, 3], boxes[i, 3]) - np.maximum(boxes[keep, 1], boxes[i, 1]), 0, None)
        inter = w * h
        if not (inter / (area[keep] + area[i] - inter) > thr).any():
            keep.append(i)
    return keep


@pytest.mark.parametrize("n", [0, 1, 40, 700])
def test_twin_nms_is_greedy_nms(n):
    """The twin's NMS (backprop's blocked algorithm written in torch, the oracle of ``postprocess``) against
    the sequential definition, with ties in score and clustered boxes; batched: classes never suppress
    each other. backprop's ``batched_nms`` agrees too."""
    rng = np.random.default_rng(n)
    xy = rng.choice(rng.uniform(0, 80, (max(n // 8, 1), 2)), n) + rng.normal(0, 3, (n, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(8, 30, (n, 2))], 1).astype(np.float32).reshape(n, 4)
    scores = rng.integers(0, 50, n).astype(np.float32) / 50  # many ties
    labels = rng.integers(0, 3, n)
    ops = TT.ops
    for thr in (0.3, 0.7):
        expected = _greedy_nms(boxes.astype(np.float64), scores, thr)
        assert ops.nms(tt(boxes), tt(scores), thr).tolist() == expected
        per_class = sorted(
            i
            for c in range(3)
            for i in np.flatnonzero(labels == c)[
                _greedy_nms(boxes[labels == c].astype(np.float64), scores[labels == c], thr)
            ]
        )
        kept_t = ops.batched_nms(tt(boxes), tt(scores), tt(labels), thr)
        kept_b = bp_ops.batched_nms(bt(boxes), bt(scores), bt(labels), thr)
        assert sorted(kept_t.tolist()) == per_class and kept_b.tolist() == kept_t.tolist()
        assert n < 40 or len(per_class) < n  # suppression happened


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_assigner_matches(seed):
    """Random predictions and targets with empty images and padding; predicted boxes reach at least 0.7
    stride around their anchor, so every candidate overlaps its box (no ties among alignment zeros)."""
    rng = np.random.default_rng(10 + seed)
    size, batch, classes = 64, 4, 4
    maps = [np.zeros((batch, 1, size // s, size // s), np.float32) for s in (8, 16, 32)]
    points, strides = BP.make_anchors([bt(m) for m in maps], (8, 16, 32))
    anchors = points.shape[0]
    scores = (1 / (1 + np.exp(-rng.standard_normal((batch, anchors, classes))))).astype(np.float32)
    dist = rng.uniform(0.7, 3.0, (batch, anchors, 4)).astype(np.float32) * strides.numpy()
    pred = np.concatenate([points.numpy() - dist[..., :2], points.numpy() + dist[..., 2:]], -1)
    counts = [[0, 3, 1, 6], [2, 0, 0, 5], [6, 6, 1, 4]][seed]
    raw = random_targets(rng, counts, size, classes)
    gb, gl, gv = BP.pad_targets(as_targets(backprop, raw))
    tb, tl, tv = TT.pad_targets(as_targets(torch, raw))
    assert gb.shape == (batch, max(counts), 4) and int(gv.sum()) == sum(counts)
    assert_close(gb, tb, rtol=0, atol_scale=0) and gl.tolist() == tl.tolist() and gv.tolist() == tv.tolist()
    out_b = BP.TaskAlignedAssigner(topk=5)(bt(scores), bt(pred), points, strides, gl, gb, gv)
    out_t = TT.TaskAlignedAssigner(topk=5)(tt(scores), tt(pred), tt(points), tt(strides), tl, tb, tv)
    target_boxes, target_scores, foreground, target_index = out_b
    assert foreground.tolist() == out_t[2].tolist()
    assert target_index.tolist() == out_t[3].tolist()
    assert_close(target_boxes, out_t[0], rtol=0, atol_scale=0, what="target boxes")
    assert_close(target_scores, out_t[1], rtol=1e-5, atol_scale=1e-6, what="soft targets")
    # the case is not vacuous: boxes got anchors, empty images none, and some anchor was contested
    fg = foreground.numpy()
    for i, n in enumerate(counts):
        assert fg[i].any() == (n > 0)
    assert float(target_scores.sum()) > 0


def _loss_and_grads(m, model, x, raw, device="cpu"):
    model.train()
    for p in model.parameters():
        p.grad = None
    loss, parts = vision_models(m).YOLOLoss(model)(model(x), as_targets(m, raw, device))
    loss.backward()
    return loss, parts, {n: p.grad for n, p in model.named_parameters()}


def test_loss_and_every_parameter_gradient(device):
    """On the CPU and on (fake) CUDA: the loss, its parts and the gradient of every parameter."""
    bm, tm = twin_models()
    bm.to(device)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 1, 96, 96)).astype(np.float32)
    raw = random_targets(rng, [3, 0, 1, 6], 96)
    loss_b, parts_b, grads_b = _loss_and_grads(backprop, bm, bt(x).to(device), raw, device)
    assert loss_b.device.type == device and all(g.device.type == device for g in grads_b.values())
    loss_t, parts_t, grads_t = _loss_and_grads(torch, tm, tt(x), raw)
    assert_close(loss_b, loss_t, rtol=1e-4, what="loss")
    np.testing.assert_allclose([float(parts_b["box"]), float(parts_b["cls"])], [float(parts_t["box"]), float(parts_t["cls"])], rtol=1e-4)
    assert parts_b["box"] > 0 and parts_b["cls"] > 0
    assert list(grads_b) == list(grads_t)
    for name, g in grads_b.items():
        assert g is not None and grads_t[name] is not None, name
        assert_close(g, grads_t[name], rtol=1e-3, atol_scale=1e-4, what=f"grad {name}")


def test_adamw_steps_give_the_same_weights():
    """Three AdamW steps: the same losses and weights. Adam scales each entry's step to about ``lr``
    whatever its gradient's size, so an entry whose gradient is at float32 rounding level (5e-6 against
    a tensor maximum of 4, say) can step either way in the two frameworks; hence the weights are compared
    by their updates: every tensor's update within 5% (in norm) of torch's (10% on the JIT path, whose
    Winograd convolutions round differently from torch's and flip a few other entries: one flip in a
    small tensor moves it by several percent), all of them within 1%, and
    all but 0.5% of the entries within 1e-4 (3% of the 3e-3 an entry moves in three steps). (After one
    step 0.015% of the entries differ by more than 1e-6; the flipped ones then perturb every later
    gradient a little.)"""
    bm, tm = twin_models(seed=1)
    before = {k: v.numpy().copy() for k, v in bm.state_dict().items()}
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 1, 64, 64)).astype(np.float32)
    raw = random_targets(rng, [2, 1, 0, 4], 64)
    opt_b = backprop.optim.AdamW(bm.parameters(), lr=1e-3, weight_decay=0.05)
    opt_t = torch.optim.AdamW(tm.parameters(), lr=1e-3, weight_decay=0.05)
    losses = []
    for _ in range(3):
        loss_b, _, _ = _loss_and_grads(backprop, bm, bt(x), raw)
        loss_t, _, _ = _loss_and_grads(torch, tm, tt(x), raw)
        opt_b.step()
        opt_t.step()
        losses.append((loss_b.item(), loss_t.item()))
    # the first loss is exact; the flipped entries move later losses by up to ~1e-4 relative
    np.testing.assert_allclose(losses[0][0], losses[0][1], rtol=1e-5)
    np.testing.assert_allclose(*zip(*losses), rtol=1e-3)
    assert losses[-1][0] < losses[0][0]
    diff_sq = ref_sq = 0.0
    far = total = 0
    per_tensor = 0.05 if CPU.kernels is None else 0.1
    for (name, vb), vt in zip(bm.state_dict().items(), tm.state_dict().values()):
        if not vb.is_floating_point():
            assert vb.tolist() == vt.tolist(), name
            continue
        ub, ut = vb.numpy() - before[name], vt.numpy() - before[name]
        err, ref = float(np.linalg.norm(ub - ut)), float(np.linalg.norm(ut))
        assert err <= per_tensor * ref + 1e-7, f"{name}: update off by {err / max(ref, 1e-30):.3g} of its norm"
        diff_sq, ref_sq = diff_sq + err**2, ref_sq + ref**2
        far += int((np.abs(ub - ut) > 1e-4).sum())
        total += ub.size
    assert diff_sq**0.5 <= 0.01 * ref_sq**0.5 and far <= 0.005 * total, (diff_sq**0.5 / ref_sq**0.5, far, total)


class FrozenAssigner(backprop.nn.Module):
    """The task-aligned assigner evaluated once, at the unperturbed point, then replayed. The loss treats
    the assignment and soft targets as constants (they come from detached predictions), so finite
    differences must see them fixed too."""

    def __init__(self, assigner):
        super().__init__()
        self.assigner, self.result = assigner, None

    def forward(self, *args):
        if self.result is None:
            self.result = self.assigner(*args)
        return self.result


def test_loss_gradcheck_wrt_raw_head_outputs_float64():
    """Loss of tiny maps (2x2, 1x1, 1x1: six anchors, two classes, an empty image) in float64 vs finite
    differences, and its gradient vs the torch twin's.

    Two things are constants for the gradient by design: the assignment (from detached predictions;
    frozen here) and CIoU's ``alpha`` (torchvision's definition). Finite differences would see ``alpha``
    move, so the gradcheck runs at square predicted and true boxes, where the aspect term ``v`` and its
    derivative vanish; the aspect term's gradient is checked by the comparison with torch, at boxes
    of any shape (float64, rtol 1e-9)."""
    rng = np.random.default_rng(5)
    classes = 2
    model_b = BP.yolo(classes, 1, "t")
    model_t = TT.yolo(classes, 1, "t")
    maps = [rng.normal(0.5, 0.5, (2, 4 + classes, h, h)) for h in (2, 1, 1)]
    square = [np.concatenate([m[:, :1].repeat(4, 1), m[:, 4:]], 1) for m in maps]  # l = t = r = b per anchor
    raw = [
        (np.array([[2.0, 3.0, 14.0, 15.0], [5.0, 0.0, 30.0, 25.0]], np.float32), np.array([1, 0])),
        (np.zeros((0, 4), np.float32), np.zeros(0, np.int64)),
    ]
    inputs = [bt(m).requires_grad_() for m in square]
    frozen = FrozenAssigner(BP.TaskAlignedAssigner())
    frozen_loss = BP.YOLOLoss(model_b, assigner=frozen)

    def f(*outs):
        return frozen_loss(list(outs), as_targets(backprop, raw))[0]

    f(*inputs)
    assert int(frozen.result[2].sum()) >= 2  # both boxes have positive anchors: the CIoU term is in play
    assert backprop.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)
    inputs = [bt(m).requires_grad_() for m in maps]
    loss = BP.YOLOLoss(model_b)(inputs, as_targets(backprop, raw))[0]
    grads_b = backprop.autograd.grad(loss, inputs)
    inputs_t = [tt(m).requires_grad_() for m in maps]
    loss_t = TT.YOLOLoss(model_t)(inputs_t, as_targets(torch, raw))[0]
    grads_t = torch.autograd.grad(loss_t, inputs_t)
    assert_close(loss, loss_t, rtol=1e-10, atol_scale=0)
    for gb, gt in zip(grads_b, grads_t):
        assert float(gt.abs().sum()) > 0
        assert_close(gb, gt, rtol=1e-9, atol_scale=1e-12)
