"""The YOLO-style detector: shapes, decoding, the task-aligned assigner on hand-checked cases, the loss."""

from __future__ import annotations

import math

import numpy as np
import pytest

import backprop
from backprop.vision.models import YOLO, TaskAlignedAssigner, YOLOLoss, make_anchors, yolo


@pytest.fixture
def tiny() -> YOLO:
    backprop.manual_seed(0)
    return yolo(3, in_channels=1, size="t")


def test_output_shapes_and_anchors(tiny):
    out = tiny(backprop.rand(2, 1, 64, 96))
    assert [tuple(o.shape) for o in out] == [(2, 7, 8, 12), (2, 7, 4, 6), (2, 7, 2, 3)]
    points, strides = make_anchors(out, tiny.strides)
    assert tuple(points.shape) == (8 * 12 + 4 * 6 + 2 * 3, 2)
    # row-major cell centres, level by level
    assert points[:3].tolist() == [[4.0, 4.0], [12.0, 4.0], [20.0, 4.0]]
    assert points[12].tolist() == [4.0, 12.0]
    assert points[96].tolist() == [8.0, 8.0] and strides[96].item() == 16.0
    assert points[-1].tolist() == [80.0, 48.0] and strides[-1].item() == 32.0


def test_decode_distances(tiny):
    """Raw box outputs r give distances softplus(r) * stride from the anchor to each side; logits pass through."""
    out = [backprop.zeros(1, 7, 4 // (2**i), 4 // (2**i)) for i in range(2)] + [backprop.zeros(1, 7, 1, 1)]
    out[2][0, 2, 0, 0] = 3.0  # the stride-32 anchor's right side
    out[2][0, 4:, 0, 0] = backprop.tensor([1.0, -2.0, 5.0])
    boxes, logits = tiny.decode(out)
    points, strides = make_anchors(out, tiny.strides)
    d = math.log(2.0) * strides
    expected = backprop.cat([points - d, points + d], 1)
    expected[-1, 2] = points[-1, 0] + math.log1p(math.exp(3.0)) * 32
    np.testing.assert_allclose(boxes[0].numpy(), expected.numpy(), rtol=1e-6)
    assert logits[0, -1].tolist() == [1.0, -2.0, 5.0] and float(logits[0, :-1].abs().sum()) == 0.0


def test_head_bias_prior():
    backprop.manual_seed(0)
    m = yolo(5, in_channels=1, size="t").eval()
    head = m.heads[0]
    assert math.isclose(float(backprop.sigmoid(head.cls[-1].bias[0])), 0.01, rel_tol=1e-5)
    assert math.isclose(float(backprop.nn.functional.softplus(head.box[-1].bias[0])), 1.0, rel_tol=1e-5)


def test_assigner_hand_checked():
    """Two boxes on a 4x4 grid of stride 8: each takes its topk anchors inside it, one shared anchor goes to
    the box it overlaps most, padded boxes take nothing, and each box's best anchor scores its best IoU."""
    points = backprop.tensor([[4.0 + 8 * (i % 4), 4.0 + 8 * (i // 4)] for i in range(16)])
    strides = backprop.full((16, 1), 8.0)
    gt = backprop.tensor([[[0.0, 0.0, 16.0, 16.0], [8.0, 8.0, 32.0, 32.0], [0.0, 0.0, 0.0, 0.0]]])
    labels = backprop.tensor([[1, 0, 0]])
    valid = backprop.tensor([[True, True, False]])
    # predicted boxes: every anchor predicts box 0 exactly, except anchors 10 and 15, which predict box 1
    pred = gt[0, 0].expand(16, 4).clone()
    pred[10] = gt[0, 1]
    pred[15] = gt[0, 1]
    scores = backprop.full((1, 16, 2), 0.5)
    assigner = TaskAlignedAssigner(topk=2)
    boxes, target, fg, index = assigner(scores, pred[None], points, strides, labels, gt, valid)
    # box 0 holds anchors 0, 1, 4, 5 (centres inside): all predict it exactly -> the first two (0, 1) win ties
    # box 1 holds anchors 5, 6, 7, 9, 10, 11, 13, 14, 15: anchors 10 and 15 predict it exactly
    assert fg[0].nonzero().flatten().tolist() == [0, 1, 10, 15]
    assert index[0, [0, 1, 10, 15]].tolist() == [0, 0, 1, 1]
    np.testing.assert_allclose(boxes[0, 10].numpy(), [8, 8, 32, 32])
    assert target[0, 0].tolist() == pytest.approx([0.0, 1.0], abs=1e-6)  # class 1, best IoU 1
    assert target[0, 10].tolist() == pytest.approx([1.0, 0.0], abs=1e-6)
    assert float(target[0, 2].sum()) == 0.0


def test_assigner_thin_box_gets_an_anchor():
    """A 2-pixel-wide box between anchor centres still gets positives (the box is grown to one stride)."""
    points = backprop.tensor([[4.0 + 8 * (i % 4), 4.0 + 8 * (i // 4)] for i in range(16)])
    strides = backprop.full((16, 1), 8.0)
    gt = backprop.tensor([[[7.0, 0.0, 9.0, 30.0]]])
    pred = gt[0, 0].expand(16, 4).clone()[None]
    _, _, fg, _ = TaskAlignedAssigner(topk=10)(backprop.full((1, 16, 1), 0.5), pred, points, strides, backprop.tensor([[0]]), gt, backprop.tensor([[True]]))
    assert int(fg.sum()) > 0


def test_loss_backward_and_empty_images(tiny):
    crit = YOLOLoss(tiny)
    out = tiny(backprop.rand(2, 1, 64, 64))
    targets = [
        {"boxes": backprop.tensor([[10.0, 12.0, 30.0, 40.0]]), "labels": backprop.tensor([2])},
        {"boxes": backprop.zeros(0, 4), "labels": backprop.zeros(0, dtype=backprop.int64)},
    ]
    loss, parts = crit(out, targets)
    loss.backward()
    assert math.isfinite(loss.item()) and parts["box"] > 0 and parts["cls"] > 0
    grads = [p.grad for p in tiny.parameters()]
    assert all(g is not None and bool(backprop.isfinite(g).all()) for g in grads)
    # no boxes at all: classification loss only, the box loss is exactly 0 and still backpropagates
    loss, parts = crit(tiny(backprop.rand(1, 1, 64, 64)), targets[1:])
    loss.backward()
    assert parts["box"] == 0.0


def test_postprocess_filters_and_limits(tiny):
    tiny.eval()
    out = tiny(backprop.rand(3, 1, 64, 64))
    res = tiny.postprocess(out, conf=0.001, iou=0.7, max_det=7, image_size=(64, 64))
    assert len(res) == 3
    for r in res:
        assert r["boxes"].shape == (7, 4) and r["labels"].dtype == backprop.int64
        assert float(r["boxes"].min()) >= 0.0 and float(r["boxes"].max()) <= 64.0
        assert bool((r["scores"][:-1] >= r["scores"][1:]).all())
    assert all(len(r["scores"]) == 0 for r in tiny.postprocess(out, conf=0.999))


def test_unknown_size():
    with pytest.raises(ValueError, match="unknown size"):
        yolo(3, size="xl")


def test_assigner_shared_anchor_goes_to_the_box_it_overlaps_most():
    """Anchor 5 (centre 12, 12) lies inside both boxes and is the top-1 of each; its predicted box overlaps
    box 1 more (IoU 0.426 against 0.308), so it goes to box 1 -- not to the first box listed -- and box 0
    is left without a positive."""
    points = backprop.tensor([[4.0 + 8 * (i % 4), 4.0 + 8 * (i // 4)] for i in range(16)])
    strides = backprop.full((16, 1), 8.0)
    gt = backprop.tensor([[[8.0, 8.0, 32.0, 32.0], [0.0, 0.0, 20.0, 20.0]]])
    pred = backprop.tensor([[0.0, 0.0, 1.0, 1.0]]).expand(16, 4).clone()
    pred[5] = backprop.tensor([6.0, 6.0, 22.0, 22.0])
    labels = backprop.tensor([[1, 0]])
    boxes, target, fg, index = TaskAlignedAssigner(topk=1)(
        backprop.full((1, 16, 2), 0.5), pred[None], points, strides, labels, gt, backprop.tensor([[True, True]])
    )
    assert fg[0].nonzero().flatten().tolist() == [5]
    assert int(index[0, 5]) == 1 and boxes[0, 5].tolist() == [0.0, 0.0, 20.0, 20.0]
    # its soft target: box 1's class (0) at box 1's best IoU (196 / 460)
    assert target[0, 5].tolist() == pytest.approx([196 / 460, 0.0], rel=1e-5)
    # with box 1 absent, the same anchor belongs to box 0
    _, target0, fg0, index0 = TaskAlignedAssigner(topk=1)(
        backprop.full((1, 16, 2), 0.5), pred[None], points, strides, labels, gt, backprop.tensor([[True, False]])
    )
    assert fg0[0].nonzero().flatten().tolist() == [5] and int(index0[0, 5]) == 0
    assert target0[0, 5].tolist() == pytest.approx([0.0, 196 / 636], rel=1e-5)


def test_pad_targets(device):
    from backprop.vision.models import pad_targets

    targets = [
        {"boxes": backprop.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]), "labels": backprop.tensor([3, 1])},
        {"boxes": backprop.zeros(0, 4), "labels": backprop.zeros(0, dtype=backprop.int64)},
        {"boxes": backprop.tensor([[9.0, 9.0, 10.0, 12.0]]), "labels": backprop.tensor([7])},
    ]
    boxes, labels, valid = pad_targets(targets, device=device)
    assert boxes.device.type == backprop.device(device).type
    assert boxes.cpu().tolist() == [[[1, 2, 3, 4], [5, 6, 7, 8]], [[0, 0, 0, 0], [0, 0, 0, 0]], [[9, 9, 10, 12], [0, 0, 0, 0]]]
    assert labels.cpu().tolist() == [[3, 1], [0, 0], [7, 0]] and labels.dtype == backprop.int64
    assert valid.cpu().tolist() == [[True, True], [False, False], [True, False]]
    empty = pad_targets(targets[1:2], device=device)
    assert [tuple(t.shape) for t in empty] == [(1, 1, 4), (1, 1), (1, 1)] and not bool(empty[2].any())
