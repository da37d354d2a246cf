"""backprop.vision.ops against torchvision.ops' documented definitions.

torchvision cannot be imported beside the local CPU torch, so every op is checked against an
independent NumPy reference written here plainly (loops over boxes, pairs, bins, samples), the
gradients of the box IoUs and losses against the same formulas written in torch ops (torch
autograd), roi_align/roi_pool against loop references (forward, and backward by finite differences /
gradcheck), and hand-checked edge cases: empty inputs, zero-area and identical boxes, score ties,
boxes of other categories in batched_nms, the device axis (cpu, fake-cuda).
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch

import backprop as bp
from backprop.vision import ops

# ------------------------------------------------------------------------------ NumPy references


def ref_area(b):
    return np.array([(x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in b], dtype=np.float64)


def ref_pair(b1, b2, kind, eps=1e-7):
    """IoU / GIoU / DIoU / CIoU of every pair, one pair at a time (torchvision's definitions)."""
    out = np.zeros((len(b1), len(b2)))
    for i, (x1, y1, x2, y2) in enumerate(b1):
        for j, (u1, v1, u2, v2) in enumerate(b2):
            iw = max(min(x2, u2) - max(x1, u1), 0.0)
            ih = max(min(y2, v2) - max(y1, v1), 0.0)
            inter = iw * ih
            union = (x2 - x1) * (y2 - y1) + (u2 - u1) * (v2 - v1) - inter
            iou = inter / union
            cw = max(max(x2, u2) - min(x1, u1), 0.0)
            ch = max(max(y2, v2) - min(y1, v1), 0.0)
            if kind == "iou":
                out[i, j] = iou
            elif kind == "giou":
                out[i, j] = iou - (cw * ch - union) / (cw * ch)
            else:
                rho2 = ((x1 + x2) / 2 - (u1 + u2) / 2) ** 2 + ((y1 + y2) / 2 - (v1 + v2) / 2) ** 2
                diou = iou - rho2 / (cw**2 + ch**2 + eps)
                if kind == "diou":
                    out[i, j] = diou
                else:
                    v = 4 / math.pi**2 * (math.atan((u2 - u1) / (v2 - v1)) - math.atan((x2 - x1) / (y2 - y1))) ** 2
                    alpha = v / (1 - iou + v + eps)
                    out[i, j] = diou - alpha * v
    return out


def ref_loss(b1, b2, kind, eps=1e-7):
    """The elementwise IoU losses of corresponding boxes, one pair at a time."""
    out = []
    for (x1, y1, x2, y2), (u1, v1, u2, v2) in zip(b1, b2):
        inter = (min(x2, u2) - max(x1, u1)) * (min(y2, v2) - max(y1, v1)) if (min(x2, u2) > max(x1, u1) and min(y2, v2) > max(y1, v1)) else 0.0
        union = (x2 - x1) * (y2 - y1) + (u2 - u1) * (v2 - v1) - inter
        iou = inter / (union + eps)
        cx1, cy1, cx2, cy2 = min(x1, u1), min(y1, v1), max(x2, u2), max(y2, v2)
        if kind == "giou":
            area_c = (cx2 - cx1) * (cy2 - cy1)
            out.append(1 - (iou - (area_c - union) / (area_c + eps)))
            continue
        rho2 = ((x1 + x2) / 2 - (u1 + u2) / 2) ** 2 + ((y1 + y2) / 2 - (v1 + v2) / 2) ** 2
        loss = 1 - iou + rho2 / ((cx2 - cx1) ** 2 + (cy2 - cy1) ** 2 + eps)
        if kind == "ciou":
            v = 4 / math.pi**2 * (math.atan((u2 - u1) / (v2 - v1)) - math.atan((x2 - x1) / (y2 - y1))) ** 2
            loss += v / (1 - iou + v + eps) * v
        out.append(loss)
    return np.array(out)


def ref_nms(boxes, scores, thr):
    """torchvision's CPU kernel, literally: a stable descending sort, then suppress in order."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])  # sorted() is stable
    area = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
    suppressed = [False] * len(boxes)
    keep = []
    for a, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        for j in order[a + 1 :]:
            if suppressed[j]:
                continue
            w = max(0.0, min(boxes[i][2], boxes[j][2]) - max(boxes[i][0], boxes[j][0]))
            h = max(0.0, min(boxes[i][3], boxes[j][3]) - max(boxes[i][1], boxes[j][1]))
            inter = w * h
            denom = area[i] + area[j] - inter
            ovr = inter / denom if denom != 0 else math.nan
            if float(ovr) > thr:  # the threshold is a double, as in the C++ kernel
                suppressed[j] = True
    return np.array(keep, dtype=np.int64)


def ref_nms_vec(boxes, scores, thr):
    """The same greedy loop, one kept box at a time against every later box (for many boxes)."""
    order = np.argsort(-scores, kind="stable")
    b = boxes[order]
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    alive = np.ones(len(b), dtype=bool)
    keep = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for i in range(len(b)):
            if not alive[i]:
                continue
            keep.append(order[i])
            w = np.maximum(np.minimum(b[i, 2], b[i + 1 :, 2]) - np.maximum(b[i, 0], b[i + 1 :, 0]), 0)
            h = np.maximum(np.minimum(b[i, 3], b[i + 1 :, 3]) - np.maximum(b[i, 1], b[i + 1 :, 1]), 0)
            inter = w * h
            alive[i + 1 :] &= ~((inter / (area[i] + area[i + 1 :] - inter)).astype(np.float64) > thr)
    return np.array(keep, dtype=np.int64)


def ref_batched_nms(boxes, scores, idxs, thr):
    """NMS per category, then all kept boxes by decreasing score (ties: lower index first)."""
    keep = []
    for c in np.unique(idxs):
        members = np.flatnonzero(idxs == c)
        keep.extend(members[ref_nms(boxes[members], scores[members], thr)])
    return np.array(sorted(keep, key=lambda i: (-scores[i], i)), dtype=np.int64)


def random_boxes(rng, n, scale=50.0, min_size=1.0):
    xy = rng.uniform(0, scale, (n, 2))
    wh = rng.uniform(min_size, scale / 2, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


def T(a, device, dtype=None, requires_grad=False):
    t = bp.tensor(np.asarray(a), device=device, dtype=dtype)
    return t.requires_grad_(requires_grad) if requires_grad else t


def close(ours, ref, rtol=1e-5, atol=1e-5):
    np.testing.assert_allclose(ours.detach().cpu().numpy(), ref, rtol=rtol, atol=atol)


# ------------------------------------------------------------------------------ formats and areas


@pytest.mark.parametrize("in_fmt", ["xyxy", "xywh", "cxcywh"])
@pytest.mark.parametrize("out_fmt", ["xyxy", "xywh", "cxcywh"])
def test_box_convert(device, in_fmt, out_fmt):
    rng = np.random.default_rng(0)
    b = random_boxes(rng, 6).astype(np.float32)
    x1, y1, x2, y2 = b.T
    forms = {
        "xyxy": b,
        "xywh": np.stack([x1, y1, x2 - x1, y2 - y1], 1),
        "cxcywh": np.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], 1),
    }
    t = T(forms[in_fmt], device)
    out = ops.box_convert(t, in_fmt, out_fmt)
    assert out.device == t.device and out.dtype == bp.float32 and out.shape == (6, 4)
    close(out, forms[out_fmt], rtol=1e-6, atol=1e-4)
    if in_fmt == out_fmt:
        assert out is not t  # a copy, as torchvision's clone


def test_box_convert_batched_and_grad(device):
    b = T(np.array([[[1.0, 2.0, 3.0, 6.0]], [[0.0, 0.0, 4.0, 2.0]]]), device, requires_grad=True)
    out = ops.box_convert(b, "xyxy", "cxcywh")
    assert out.shape == (2, 1, 4)
    close(out, [[[2.0, 4.0, 2.0, 4.0]], [[2.0, 1.0, 4.0, 2.0]]])
    out.sum().backward()  # d(cx + cy + w + h)/d(x1, y1, x2, y2) = (-1/2, -1/2, 3/2, 3/2)
    close(b.grad, np.broadcast_to([-0.5, -0.5, 1.5, 1.5], (2, 1, 4)))


def test_box_convert_errors():
    with pytest.raises(ValueError, match="Unsupported Bounding Box Conversions"):
        ops.box_convert(bp.zeros(2, 4), "xyxy", "yxyx")
    with pytest.raises(ValueError, match=r"box_convert\(\).*\[2, 3\]"):
        ops.box_convert(bp.zeros(2, 3), "xyxy", "xywh")


def test_box_area(device):
    rng = np.random.default_rng(1)
    b = random_boxes(rng, 7)
    close(ops.box_area(T(b, device)), ref_area(b), rtol=1e-12)
    assert ops.box_area(T(b, device, bp.float16)).dtype == bp.float32  # half upcasts as torchvision's
    ib = T(np.array([[0, 0, 3, 4], [1, 1, 1, 5]]), device)
    a = ops.box_area(ib)
    assert a.dtype == bp.int64 and a.tolist() == [12, 0]
    assert ops.box_area(T(np.zeros((0, 4)), device)).shape == (0,)
    with pytest.raises(ValueError, match=r"box_area\(\): boxes must be a Tensor\[N, 4\].*\[3, 5\]"):
        ops.box_area(bp.zeros(3, 5))


# ------------------------------------------------------------------------------------ pairwise IoUs

PAIRWISE = {
    "iou": ops.box_iou,
    "giou": ops.generalized_box_iou,
    "diou": ops.distance_box_iou,
    "ciou": ops.complete_box_iou,
}


def _special_boxes():
    """Identical boxes, a box inside another, touching edges, disjoint boxes, the same centre."""
    return np.array(
        [[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0], [2.0, 3.0, 5.0, 7.0], [10.0, 0.0, 20.0, 10.0], [30.0, 30.0, 31.0, 35.0], [-5.0, -5.0, 15.0, 15.0]]
    )


@pytest.mark.parametrize("kind", list(PAIRWISE))
def test_pairwise_vs_reference(device, kind):
    rng = np.random.default_rng(2)
    b1 = np.concatenate([random_boxes(rng, 5), _special_boxes()])
    b2 = np.concatenate([random_boxes(rng, 4), _special_boxes()])
    fn = PAIRWISE[kind]
    out = fn(T(b1, device), T(b2, device))
    assert out.shape == (len(b1), len(b2)) and out.dtype == bp.float64 and out.device.type == device.split(":")[0]
    close(out, ref_pair(b1, b2, kind), rtol=1e-10, atol=1e-12)
    out32 = fn(T(b1, device, bp.float32), T(b2, device, bp.float32))
    assert out32.dtype == bp.float32
    close(out32, ref_pair(b1, b2, kind), rtol=1e-4, atol=1e-5)
    # identical boxes: IoU 1 and every variant 1 (up to eps)
    diag = fn(T(b1, device), T(b1, device)).diagonal().cpu().numpy()
    np.testing.assert_allclose(diag, 1.0, atol=1e-6)
    assert fn(T(np.zeros((0, 4)), device), T(b2, device)).shape == (0, len(b2))
    assert fn(T(b1, device), T(np.zeros((0, 4)), device)).shape == (len(b1), 0)


def test_box_iou_integer_and_degenerate(device):
    b = T(np.array([[0, 0, 4, 4], [2, 2, 6, 6], [1, 1, 1, 1]]), device)
    out = ops.box_iou(b, b)
    assert out.dtype == bp.float32  # int / int is true division
    expected = np.array([[1.0, 4 / 28, 0.0], [4 / 28, 1.0, 0.0], [0.0, 0.0, np.nan]])
    np.testing.assert_allclose(out.cpu().numpy(), expected, rtol=1e-6)  # 0/0 for two empty boxes, as torchvision


def _torch_pairwise(kind, b1, b2, eps=1e-7):
    """The pairwise IoUs in torch ops (torch autograd gives the reference gradients)."""
    x1, y1, x2, y2 = (b1[:, k, None] for k in range(4))
    u1, v1, u2, v2 = (b2[None, :, k] for k in range(4))
    inter = (torch.minimum(x2, u2) - torch.maximum(x1, u1)).clamp(min=0) * (torch.minimum(y2, v2) - torch.maximum(y1, v1)).clamp(min=0)
    union = (x2 - x1) * (y2 - y1) + (u2 - u1) * (v2 - v1) - inter
    iou = inter / union
    cw = (torch.maximum(x2, u2) - torch.minimum(x1, u1)).clamp(min=0)
    ch = (torch.maximum(y2, v2) - torch.minimum(y1, v1)).clamp(min=0)
    if kind == "iou":
        return iou
    if kind == "giou":
        return iou - (cw * ch - union) / (cw * ch)
    diou = iou - (((x1 + x2) / 2 - (u1 + u2) / 2) ** 2 + ((y1 + y2) / 2 - (v1 + v2) / 2) ** 2) / (cw**2 + ch**2 + eps)
    if kind == "diou":
        return diou
    v = 4 / math.pi**2 * (torch.atan((u2 - u1) / (v2 - v1)) - torch.atan((x2 - x1) / (y2 - y1))) ** 2
    alpha = (v / (1 - iou + v + eps)).detach()
    return diou - alpha * v


@pytest.mark.parametrize("kind", list(PAIRWISE))
def test_pairwise_gradients_vs_torch(device, kind):
    rng = np.random.default_rng(3)
    b1 = random_boxes(rng, 6, min_size=2.0)
    b2 = random_boxes(rng, 5, min_size=2.0)
    cot = rng.standard_normal((6, 5))
    ours1, ours2 = T(b1, device, requires_grad=True), T(b2, device, requires_grad=True)
    (PAIRWISE[kind](ours1, ours2) * T(cot, device)).sum().backward()
    th1, th2 = torch.tensor(b1, requires_grad=True), torch.tensor(b2, requires_grad=True)
    (_torch_pairwise(kind, th1, th2) * torch.tensor(cot)).sum().backward()
    close(ours1.grad, th1.grad.numpy(), rtol=1e-9, atol=1e-12)
    close(ours2.grad, th2.grad.numpy(), rtol=1e-9, atol=1e-12)
    # create_graph: the first derivative is itself differentiable and equals torch's
    o1, o2 = T(b1, device, requires_grad=True), T(b2, device, requires_grad=True)
    (g1,) = bp.autograd.grad((PAIRWISE[kind](o1, o2) * T(cot, device)).sum(), [o1], create_graph=True)
    t1, t2 = torch.tensor(b1, requires_grad=True), torch.tensor(b2, requires_grad=True)
    (tg1,) = torch.autograd.grad((_torch_pairwise(kind, t1, t2) * torch.tensor(cot)).sum(), [t1], create_graph=True)
    (g1**2).sum().backward()
    (tg1**2).sum().backward()
    close(o2.grad, t2.grad.numpy(), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("kind", ["iou", "giou", "diou"])  # CIoU's alpha is a constant: not a function gradcheck can see
def test_pairwise_gradcheck(kind):
    rng = np.random.default_rng(4)
    b1 = bp.tensor(random_boxes(rng, 3, min_size=2.0), requires_grad=True)
    b2 = bp.tensor(random_boxes(rng, 4, min_size=2.0), requires_grad=True)
    assert bp.autograd.gradcheck(PAIRWISE[kind], (b1, b2))


def test_pairwise_errors():
    with pytest.raises(ValueError, match=r"box_iou\(\): boxes2 must be a Tensor\[N, 4\].*\[4\]"):
        ops.box_iou(bp.zeros(2, 4), bp.zeros(4))
    with pytest.raises(ValueError, match=r"complete_box_iou\(\): boxes1 .*\[2, 5\]"):
        ops.complete_box_iou(bp.zeros(2, 5), bp.zeros(3, 4))


# -------------------------------------------------------------------------------------- box losses

LOSSES = {
    "giou": ops.generalized_box_iou_loss,
    "diou": ops.distance_box_iou_loss,
    "ciou": ops.complete_box_iou_loss,
}


def _torch_loss(kind, b1, b2, eps=1e-7):
    x1, y1, x2, y2 = b1.unbind(-1)
    u1, v1, u2, v2 = b2.unbind(-1)
    iw = torch.minimum(x2, u2) - torch.maximum(x1, u1)
    ih = torch.minimum(y2, v2) - torch.maximum(y1, v1)
    inter = torch.where((iw > 0) & (ih > 0), iw * ih, torch.zeros_like(iw))
    union = (x2 - x1) * (y2 - y1) + (u2 - u1) * (v2 - v1) - inter
    iou = inter / (union + eps)
    cx1, cy1, cx2, cy2 = torch.minimum(x1, u1), torch.minimum(y1, v1), torch.maximum(x2, u2), torch.maximum(y2, v2)
    if kind == "giou":
        area_c = (cx2 - cx1) * (cy2 - cy1)
        return 1 - iou + (area_c - union) / (area_c + eps)
    loss = 1 - iou + (((x1 + x2) - (u1 + u2)) ** 2 / 4 + ((y1 + y2) - (v1 + v2)) ** 2 / 4) / ((cx2 - cx1) ** 2 + (cy2 - cy1) ** 2 + eps)
    if kind == "ciou":
        v = 4 / math.pi**2 * (torch.atan((u2 - u1) / (v2 - v1)) - torch.atan((x2 - x1) / (y2 - y1))) ** 2
        loss = loss + (v / (1 - iou + v + eps)).detach() * v
    return loss


@pytest.mark.parametrize("kind", list(LOSSES))
def test_losses_vs_reference_and_torch_grad(device, kind):
    rng = np.random.default_rng(5)
    b1 = np.concatenate([random_boxes(rng, 8, min_size=2.0), _special_boxes()])
    b2 = np.concatenate([random_boxes(rng, 8, min_size=2.0), _special_boxes()[::-1]])
    fn = LOSSES[kind]
    ref = ref_loss(b1, b2, kind)
    close(fn(T(b1, device), T(b2, device)), ref, rtol=1e-10, atol=1e-12)
    close(fn(T(b1, device), T(b2, device), reduction="mean"), ref.mean(), rtol=1e-10)
    close(fn(T(b1, device), T(b2, device), reduction="sum"), ref.sum(), rtol=1e-10)
    out32 = fn(T(b1, device, bp.float32), T(b2, device, bp.float32))
    assert out32.dtype == bp.float32 and out32.shape == (len(b1),)
    assert fn(T(b1, device, bp.float16), T(b2, device, bp.float16)).dtype == bp.float32
    # gradients of both box sets vs torch autograd on the same formula
    o1, o2 = T(b1, device, requires_grad=True), T(b2, device, requires_grad=True)
    fn(o1, o2, reduction="sum").backward()
    t1, t2 = torch.tensor(b1, requires_grad=True), torch.tensor(b2, requires_grad=True)
    _torch_loss(kind, t1, t2).sum().backward()
    close(o1.grad, t1.grad.numpy(), rtol=1e-8, atol=1e-12)
    close(o2.grad, t2.grad.numpy(), rtol=1e-8, atol=1e-12)
    # identical boxes: zero loss; batched leading dims; empty input
    np.testing.assert_allclose(fn(T(b1, device), T(b1, device)).cpu().numpy(), 0.0, atol=1e-6)
    assert fn(T(b1.reshape(2, 7, 4), device), T(b2.reshape(2, 7, 4), device)).shape == (2, 7)
    empty = T(np.zeros((0, 4)), device, requires_grad=True)
    m = fn(empty, empty, reduction="mean")
    assert m.item() == 0.0
    m.backward()
    assert empty.grad.shape == (0, 4)


@pytest.mark.parametrize("kind", ["giou", "diou"])
def test_losses_gradcheck(kind):
    rng = np.random.default_rng(6)
    b1 = bp.tensor(random_boxes(rng, 4, min_size=2.0), requires_grad=True)
    b2 = bp.tensor(random_boxes(rng, 4, min_size=2.0), requires_grad=True)
    assert bp.autograd.gradcheck(lambda a, b: LOSSES[kind](a, b), (b1, b2))
    assert bp.autograd.gradgradcheck(lambda a, b: LOSSES[kind](a, b, reduction="sum"), (b1, b2))


def test_losses_errors():
    a = bp.zeros(3, 4)
    with pytest.raises(ValueError, match="Invalid Value for arg 'reduction'"):
        ops.complete_box_iou_loss(a, a, reduction="avg")
    with pytest.raises(ValueError, match=r"complete_box_iou_loss\(\): boxes1 and boxes2 .*\[3, 4\] and \[2, 4\]"):
        ops.complete_box_iou_loss(a, bp.zeros(2, 4))
    with pytest.raises(ValueError, match=r"generalized_box_iou_loss\(\): boxes2 .*\[3, 2\]"):
        ops.generalized_box_iou_loss(a, bp.zeros(3, 2))


# ------------------------------------------------------------------------------ clipping, filtering


def test_clip_boxes_to_image(device):
    b = np.array([[-3.0, 2.0, 50.0, 70.0], [5.0, -1.0, 8.0, 9.0], [120.0, 130.0, 140.0, 150.0]])
    out = ops.clip_boxes_to_image(T(b, device), (60, 100))  # (height, width)
    close(out, [[0.0, 2.0, 50.0, 60.0], [5.0, 0.0, 8.0, 9.0], [100.0, 60.0, 100.0, 60.0]])
    assert ops.clip_boxes_to_image(T(b.reshape(3, 1, 4), device), (60, 100)).shape == (3, 1, 4)
    g = T(b, device, requires_grad=True)
    ops.clip_boxes_to_image(g, (60, 100)).sum().backward()
    close(g.grad, [[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])


def test_remove_small_boxes(device):
    b = np.array([[0.0, 0.0, 5.0, 5.0], [0.0, 0.0, 1.0, 9.0], [2.0, 2.0, 4.0, 4.0], [0.0, 0.0, 9.0, 1.9]])
    keep = ops.remove_small_boxes(T(b, device), 2.0)
    assert keep.dtype == bp.int64 and keep.device == T(b, device).device
    assert keep.tolist() == [0, 2]
    assert ops.remove_small_boxes(T(np.zeros((0, 4)), device), 1.0).shape == (0,)


# ------------------------------------------------------------------------------------------- NMS


@pytest.mark.parametrize("n,thr", [(40, 0.5), (300, 0.3), (700, 0.7), (600, 0.0)])
def test_nms_vs_reference(device, n, thr):
    rng = np.random.default_rng(n)
    b = random_boxes(rng, n, scale=100.0).astype(np.float32)
    s = rng.random(n).astype(np.float32)
    s[rng.integers(0, n, n // 4)] = 0.5  # plenty of exact ties
    keep = ops.nms(T(b, device), T(s, device), thr)
    assert keep.dtype == bp.int64 and keep.device == T(b, device).device
    np.testing.assert_array_equal(keep.cpu().numpy(), ref_nms(b, s, thr))


def test_nms_hand_checked(device):
    boxes = np.array(
        [
            [0, 0, 10, 10],  # 0
            [1, 1, 11, 11],  # 1: IoU 81/119 = 0.68 with 0
            [0, 0, 10, 10],  # 2: identical to 0, same score: 0 first (stable), 2 suppressed
            [20, 20, 30, 30],  # 3: disjoint
            [5, 5, 5, 5],  # 4: empty box: IoU 0 with everything (0/0 with 5 -> NaN: no suppression)
            [5, 5, 5, 5],  # 5
        ],
        dtype=np.float32,
    )
    scores = np.array([0.9, 0.95, 0.9, 0.1, 0.3, 0.3], dtype=np.float32)
    assert ops.nms(T(boxes, device), T(scores, device), 0.5).tolist() == [1, 4, 5, 3]
    assert ops.nms(T(boxes, device), T(scores, device), 0.7).tolist() == [1, 0, 4, 5, 3]
    # IoU exactly at the threshold is kept (strictly greater suppresses): IoU(0, [0,0,10,5]) = 0.5
    half = np.array([[0, 0, 10, 10], [0, 0, 10, 5]], dtype=np.float32)
    assert ops.nms(T(half, device), T(np.array([1.0, 0.5], np.float32), device), 0.5).tolist() == [0, 1]
    assert ops.nms(T(half, device), T(np.array([1.0, 0.5], np.float32), device), 0.4999).tolist() == [0]
    empty = ops.nms(T(np.zeros((0, 4), np.float32), device), T(np.zeros(0, np.float32), device), 0.5)
    assert empty.dtype == bp.int64 and empty.shape == (0,) and empty.device == T(boxes, device).device


def test_nms_threshold_compared_in_double():
    """A float32 IoU is compared with the threshold as a double (torchvision's kernel), not with
    the threshold rounded to float32: IoU 2/3 in float32 is above 2/3 as a double."""
    iou32 = np.float32(2) / np.float32(3)
    assert float(iou32) > 2 / 3  # the premise
    b = np.array([[0, 0, 3, 1], [0, 0, 2, 1]], dtype=np.float32)  # IoU 2/3
    assert ops.nms(bp.tensor(b), bp.tensor([1.0, 0.5]), 2 / 3).tolist() == [0]
    assert ops.nms(bp.tensor(b.astype(np.float64)), bp.tensor([1.0, 0.5], dtype=bp.float64), 2 / 3).tolist() == [0, 1]


@pytest.fixture
def nms_paths(monkeypatch):
    """Records what the grid path (``_nms_grid``) answered: the kept positions or None (gave up)."""
    from backprop.vision.ops import boxes as boxes_module

    answers = []
    original = boxes_module._nms_grid

    def spy(*args):
        answers.append(original(*args))
        return answers[-1]

    monkeypatch.setattr(boxes_module, "_nms_grid", spy)
    return answers


def test_nms_many_boxes_blocks(device, nms_paths):
    """More boxes than one block, clustered like a detector's raw output: the blocked path."""
    rng = np.random.default_rng(7)
    centers = rng.uniform(0, 500, (30, 2))
    idx = rng.integers(0, 30, 1500)
    wh = rng.uniform(10, 60, (30, 2))
    b = (np.concatenate([centers[idx], centers[idx] + wh[idx]], 1) + rng.normal(0, 3, (1500, 4))).astype(np.float32)
    s = rng.random(len(b)).astype(np.float32)
    keep = ops.nms(T(b, device), T(s, device), 0.45)
    np.testing.assert_array_equal(keep.cpu().numpy(), ref_nms_vec(b, s, 0.45))
    np.testing.assert_array_equal(ref_nms_vec(b[:300], s[:300], 0.45), ref_nms(b[:300], s[:300], 0.45))  # the two references agree


@pytest.mark.parametrize("thr", [0.5, 0.0])
def test_nms_grid_path(device, nms_paths, thr):
    """Thousands of boxes spread over an image (most kept): the blocked path hands over to the grid
    path. With duplicates, zero-area boxes, tied scores and boxes touching edge to edge."""
    rng = np.random.default_rng(14)
    xy = rng.uniform(0, 900, (3000, 2))
    b = np.concatenate([xy, xy + rng.uniform(3, 40, (3000, 2))], 1)
    b[100:150] = b[50:100]  # identical boxes
    b[200:260, 2] = b[200:260, 0]  # zero width
    b[300:340] = np.concatenate([b[340:380, 2:3], b[340:380, 1:2], b[340:380, 2:3] + 5, b[340:380, 3:4]], 1)  # touching
    b = b.astype(np.float32)
    s = rng.random(3000).astype(np.float32)
    s[::7] = 0.5
    keep = ops.nms(T(b, device), T(s, device), thr)
    assert any(a is not None for a in nms_paths)
    np.testing.assert_array_equal(keep.cpu().numpy(), ref_nms_vec(b, s, thr))


def test_nms_grid_gives_up_on_chains(device, nms_paths):
    """A chain of boxes each overlapping the next: the grid path's rounds run long, it gives up and
    the blocked path finishes (kept: every other box)."""
    x = np.arange(3000, dtype=np.float64) * 4.0
    b = np.stack([x, np.zeros(3000), x + 10, np.full(3000, 10.0)], 1).astype(np.float32)  # IoU(k, k+1) = 6/14
    s = np.linspace(1, 0, 3000).astype(np.float32)
    keep = ops.nms(T(b, device), T(s, device), 0.3)
    assert nms_paths and all(a is None for a in nms_paths)
    np.testing.assert_array_equal(keep.cpu().numpy(), np.arange(0, 3000, 2))


def test_batched_nms(device):
    rng = np.random.default_rng(8)
    b = random_boxes(rng, 200, scale=60.0).astype(np.float32)
    s = rng.random(200).astype(np.float32)
    s[:20] = 0.25  # ties across categories
    idxs = rng.integers(0, 5, 200)
    keep = ops.batched_nms(T(b, device), T(s, device), T(idxs, device), 0.5)
    assert keep.dtype == bp.int64
    np.testing.assert_array_equal(keep.cpu().numpy(), ref_batched_nms(b, s, idxs, 0.5))
    # the same box in two categories (or images) is kept twice; within one it is suppressed
    two = T(np.array([[0, 0, 10, 10], [0, 0, 10, 10], [1, 0, 10, 10]], np.float32), device)
    sc = T(np.array([0.9, 0.8, 0.7], np.float32), device)
    assert ops.batched_nms(two, sc, T(np.array([0, 1, 0]), device), 0.5).tolist() == [0, 1]
    assert ops.batched_nms(two, sc, T(np.array([3, 3, 3]), device), 0.5).tolist() == [0]
    e = ops.batched_nms(T(np.zeros((0, 4), np.float32), device), T(np.zeros(0, np.float32), device), T(np.zeros(0, np.int64), device), 0.5)
    assert e.dtype == bp.int64 and e.shape == (0,)


def test_batched_nms_many_boxes_per_category_path(device):
    """Above 1,000 boxes (CPU) batched_nms runs one nms per category: the same boxes in the same order
    as the offset path and the reference, ties in score included."""
    rng = np.random.default_rng(18)
    b = random_boxes(rng, 2500, scale=80.0).astype(np.float32)
    s = np.round(rng.random(2500), 2).astype(np.float32)  # many exact ties
    idxs = rng.integers(0, 10, 2500)
    keep = ops.batched_nms(T(b, device), T(s, device), T(idxs, device), 0.6)
    np.testing.assert_array_equal(keep.cpu().numpy(), ref_batched_nms(b, s, idxs, 0.6))


def test_nms_errors():
    with pytest.raises(RuntimeError, match=r"nms\(\): boxes should have 4 elements in dimension 1, got 5"):
        ops.nms(bp.zeros(3, 5), bp.zeros(3), 0.5)
    with pytest.raises(RuntimeError, match=r"nms\(\): boxes should be a 2d tensor, got 1D"):
        ops.nms(bp.zeros(4), bp.zeros(1), 0.5)
    with pytest.raises(RuntimeError, match=r"nms\(\): scores should be a 1d tensor, got 2D"):
        ops.nms(bp.zeros(3, 4), bp.zeros(3, 1), 0.5)
    with pytest.raises(RuntimeError, match="same number of elements in dimension 0, got 3 and 2"):
        ops.nms(bp.zeros(3, 4), bp.zeros(2), 0.5)
    with pytest.raises(RuntimeError, match=r"batched_nms\(\): idxs must be a Tensor\[3\]"):
        ops.batched_nms(bp.zeros(3, 4), bp.zeros(3), bp.zeros(2, dtype=bp.int64), 0.5)


# ------------------------------------------------------------------------------- focal loss, masks


def test_sigmoid_focal_loss(device):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 5)) * 3
    t = (rng.random((4, 5)) > 0.6).astype(np.float64)
    for alpha, gamma in [(0.25, 2.0), (-1.0, 1.5), (0.5, 0.0)]:
        p = 1 / (1 + np.exp(-x))
        ce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
        p_t = p * t + (1 - p) * (1 - t)
        ref = ce * (1 - p_t) ** gamma
        if alpha >= 0:
            ref = (alpha * t + (1 - alpha) * (1 - t)) * ref
        close(ops.sigmoid_focal_loss(T(x, device), T(t, device), alpha, gamma), ref, rtol=1e-10)
        close(ops.sigmoid_focal_loss(T(x, device), T(t, device), alpha, gamma, reduction="mean"), ref.mean(), rtol=1e-10)
        # gradient vs torch autograd on the same formula
        ours = T(x, device, requires_grad=True)
        ops.sigmoid_focal_loss(ours, T(t, device), alpha, gamma, reduction="sum").backward()
        th = torch.tensor(x, requires_grad=True)
        tp = torch.sigmoid(th)
        tt = torch.tensor(t)
        tl = torch.nn.functional.binary_cross_entropy_with_logits(th, tt, reduction="none") * (1 - (tp * tt + (1 - tp) * (1 - tt))) ** gamma
        if alpha >= 0:
            tl = (alpha * tt + (1 - alpha) * (1 - tt)) * tl
        tl.sum().backward()
        close(ours.grad, th.grad.numpy(), rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="Invalid Value for arg 'reduction'"):
        ops.sigmoid_focal_loss(T(x, device), T(t, device), reduction="max")


def test_masks_to_boxes(device):
    m = np.zeros((3, 6, 8), dtype=np.uint8)
    m[0, 1:4, 2:5] = 1
    m[1, 5, 7] = 255
    m[2, 0, 0] = m[2, 3, 6] = 1
    out = ops.masks_to_boxes(T(m, device))
    assert out.dtype == bp.float32 and out.device == T(m, device).device
    assert out.tolist() == [[2.0, 1.0, 4.0, 3.0], [7.0, 5.0, 7.0, 5.0], [0.0, 0.0, 6.0, 3.0]]
    assert ops.masks_to_boxes(T(m.astype(bool), device)).tolist() == out.tolist()
    assert ops.masks_to_boxes(T(np.zeros((0, 6, 8)), device)).shape == (0, 4)
    m[1] = 0
    with pytest.raises(RuntimeError, match=r"masks_to_boxes\(\): mask 1 of 3"):
        ops.masks_to_boxes(T(m, device))


# ------------------------------------------------------------------------------------- RoI ops


def ref_roi_align(x, rois, ph, pw, scale, sampling_ratio, aligned, cot=None):
    """torchvision's kernel, one box, bin and sample at a time (channels as a vector). With ``cot``
    also the input gradient of ``sum(out * cot)``: each sample's weights applied in reverse."""
    n, c, h, w = x.shape
    out = np.zeros((len(rois), c, ph, pw))
    gx = np.zeros_like(x)
    off = 0.5 if aligned else 0.0
    for k, (b, x1, y1, x2, y2) in enumerate(rois):
        b = int(b)
        sx, sy, ex, ey = x1 * scale - off, y1 * scale - off, x2 * scale - off, y2 * scale - off
        rw, rh = ex - sx, ey - sy
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / ph, rw / pw
        gh = sampling_ratio if sampling_ratio > 0 else int(math.ceil(rh / ph))
        gw = sampling_ratio if sampling_ratio > 0 else int(math.ceil(rw / pw))
        count = max(gh * gw, 1)
        for p in range(ph):
            for q in range(pw):
                for iy in range(gh):
                    for ix in range(gw):
                        yy = sy + p * bh + (iy + 0.5) * bh / gh
                        xx = sx + q * bw + (ix + 0.5) * bw / gw
                        if yy < -1.0 or yy > h or xx < -1.0 or xx > w:
                            continue
                        yy, xx = max(yy, 0.0), max(xx, 0.0)
                        yl, xl = int(yy), int(xx)
                        if yl >= h - 1:
                            yl = yh = h - 1
                            yy = float(yl)
                        else:
                            yh = yl + 1
                        if xl >= w - 1:
                            xl = xh = w - 1
                            xx = float(xl)
                        else:
                            xh = xl + 1
                        ly, lx = yy - yl, xx - xl
                        for (r, cc), wt in (((yl, xl), (1 - ly) * (1 - lx)), ((yl, xh), (1 - ly) * lx), ((yh, xl), ly * (1 - lx)), ((yh, xh), ly * lx)):
                            out[k, :, p, q] += wt * x[b, :, r, cc] / count
                            if cot is not None:
                                gx[b, :, r, cc] += wt * cot[k, :, p, q] / count
    return out, gx


def ref_roi_pool(x, rois, ph, pw, scale, cot=None):
    """torchvision's roi_pool kernel, one box, bin and pixel at a time (C's round, strict >)."""
    n, c, h, w = x.shape
    out = np.zeros((len(rois), c, ph, pw))
    gx = np.zeros_like(x)
    rnd = lambda v: math.floor(abs(v) + 0.5) * (1 if v >= 0 else -1)  # noqa: E731
    for k, (b, x1, y1, x2, y2) in enumerate(rois):
        b = int(b)
        sw, sh, ew, eh = rnd(x1 * scale), rnd(y1 * scale), rnd(x2 * scale), rnd(y2 * scale)
        rw, rh = max(ew - sw + 1, 1), max(eh - sh + 1, 1)
        for p in range(ph):
            for q in range(pw):
                hs = min(max(math.floor(p * rh / ph) + sh, 0), h)
                he = min(max(math.ceil((p + 1) * rh / ph) + sh, 0), h)
                ws = min(max(math.floor(q * rw / pw) + sw, 0), w)
                we = min(max(math.ceil((q + 1) * rw / pw) + sw, 0), w)
                empty = he <= hs or we <= ws
                for ch in range(c):
                    best, arg = (0.0 if empty else -3.4028234663852886e38), None
                    for r in range(hs, he):
                        for cc in range(ws, we):
                            if x[b, ch, r, cc] > best:
                                best, arg = x[b, ch, r, cc], (r, cc)
                    out[k, ch, p, q] = best
                    if cot is not None and arg is not None:
                        gx[b, ch, arg[0], arg[1]] += cot[k, ch, p, q]
    return out, gx


def _rois():
    """Boxes inside, straddling and beyond the border, tiny, degenerate, large; two images."""
    return np.array(
        [
            [0, 1.0, 2.0, 9.0, 7.5],
            [1, 0.0, 0.0, 15.0, 11.0],
            [0, 3.3, 4.1, 5.2, 4.9],
            [1, -4.0, -3.0, 5.0, 6.0],
            [0, 12.0, 8.0, 20.0, 14.0],
            [1, 6.0, 6.0, 6.0, 6.0],
            [0, 0.4, 0.6, 14.6, 11.4],
            [1, 25.0, 20.0, 30.0, 28.0],
        ]
    )


@pytest.mark.parametrize(
    "output_size,scale,sampling_ratio,aligned",
    [((3, 3), 1.0, -1, False), ((2, 4), 1.0, 2, True), ((3, 2), 0.5, 0, True), (4, 0.7, 1, False), ((2, 2), 1.0, -1, True)],
)
def test_roi_align_vs_reference(device, output_size, scale, sampling_ratio, aligned):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 12, 16))
    rois = _rois()
    ph, pw = (output_size, output_size) if isinstance(output_size, int) else output_size
    cot = rng.standard_normal((len(rois), 3, ph, pw))
    ref, ref_grad = ref_roi_align(x, rois, ph, pw, scale, sampling_ratio, aligned, cot)
    xt = T(x, device, requires_grad=True)
    out = ops.roi_align(xt, T(rois, device), output_size, scale, sampling_ratio, aligned)
    assert out.shape == (len(rois), 3, ph, pw) and out.dtype == bp.float64 and out.device == xt.device
    close(out, ref, rtol=1e-10, atol=1e-12)
    (out * T(cot, device)).sum().backward()
    close(xt.grad, ref_grad, rtol=1e-10, atol=1e-12)
    # float32, and boxes given as one Tensor[L, 4] per image
    x32 = T(x, device, bp.float32)
    per_image = [T(rois[rois[:, 0] == i, 1:], device, bp.float32) for i in range(2)]
    order = np.argsort(rois[:, 0], kind="stable")
    out32 = ops.roi_align(x32, per_image, output_size, scale, sampling_ratio, aligned)
    assert out32.dtype == bp.float32
    close(out32, ref[order], rtol=1e-4, atol=1e-5)
    module = ops.RoIAlign(output_size, scale, sampling_ratio, aligned)
    close(module(x32, T(rois, device, bp.float32)), ref, rtol=1e-4, atol=1e-5)


def test_roi_align_gradcheck_and_double_backward():
    rng = np.random.default_rng(11)
    x = bp.tensor(rng.standard_normal((2, 2, 6, 7)), requires_grad=True)
    rois = bp.tensor([[0, 0.5, 1.0, 5.0, 4.5], [1, 1.2, 0.3, 6.8, 5.9], [0, -1.0, 2.0, 3.0, 7.0]], dtype=bp.float64)
    fn = lambda t: ops.roi_align(t, rois, (2, 3), 1.0, -1, True)  # noqa: E731
    assert bp.autograd.gradcheck(fn, (x,))
    assert bp.autograd.gradgradcheck(fn, (x,))


def test_roi_align_edge_cases(device):
    x = T(np.arange(2 * 1 * 4 * 5, dtype=np.float32).reshape(2, 1, 4, 5), device, requires_grad=True)
    empty = ops.roi_align(x, T(np.zeros((0, 5), np.float32), device), (2, 2))
    assert empty.shape == (0, 1, 2, 2)
    empty.sum().backward()
    assert x.grad.shape == (2, 1, 4, 5) and float(x.grad.abs().sum()) == 0.0
    none = ops.roi_align(x, [T(np.zeros((0, 4), np.float32), device), T(np.zeros((0, 4), np.float32), device)], 2)
    assert none.shape == (0, 1, 2, 2)
    # a box covering exactly pixel centres 1..3 of a linear ramp: bilinear sampling is exact
    ramp = ops.roi_align(x, T(np.array([[1, 1.0, 0.5, 4.0, 3.5]], np.float32), device), (1, 3), 1.0, 1, True)
    close(ramp, [[[[20 + 5 * 1.5 + 1.0, 20 + 5 * 1.5 + 2.0, 20 + 5 * 1.5 + 3.0]]]], rtol=1e-6)


def test_roi_align_errors():
    x = bp.zeros(1, 2, 4, 4)
    with pytest.raises(AssertionError, match=r"Tensor\[K, 5\]"):
        ops.roi_align(x, bp.zeros(3, 4), 2)
    with pytest.raises(AssertionError, match=r"List\[Tensor\[L, 4\]\]"):
        ops.roi_align(x, [bp.zeros(3, 5)], 2)
    with pytest.raises(RuntimeError, match=r"roi_align\(\): input must be a Tensor\[N, C, H, W\], got \[2, 4, 4\]"):
        ops.roi_align(bp.zeros(2, 4, 4), bp.zeros(1, 5), 2)
    with pytest.raises(RuntimeError, match="same type"):
        ops.roi_align(x, bp.zeros(1, 5, dtype=bp.float64), 2)
    with pytest.raises(RuntimeError, match=r"roi_pool\(\): input must be floating point, got backprop.int64"):
        ops.roi_pool(bp.zeros(1, 2, 4, 4, dtype=bp.int64), bp.zeros(1, 5, dtype=bp.int64), 2)
    with pytest.raises(RuntimeError, match=r"roi_align\(\): rois hold batch index 3, but input has 1 images"):
        ops.roi_align(x, bp.tensor([[3.0, 0, 0, 1, 1]]), 2)


@pytest.mark.parametrize("output_size,scale", [((2, 2), 1.0), ((3, 4), 0.5), (5, 1.0)])
def test_roi_pool_vs_reference(device, output_size, scale):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 3, 12, 16))
    x[0, 1, 2:6, 1:9] = 0.25  # ties: the first pixel in row-major order wins
    rois = _rois()
    ph, pw = (output_size, output_size) if isinstance(output_size, int) else output_size
    cot = rng.standard_normal((len(rois), 3, ph, pw))
    ref, ref_grad = ref_roi_pool(x, rois, ph, pw, scale, cot)
    xt = T(x, device, requires_grad=True)
    out = ops.roi_pool(xt, T(rois, device), output_size, scale)
    assert out.shape == (len(rois), 3, ph, pw) and out.dtype == bp.float64
    close(out, ref, rtol=0, atol=0)
    (out * T(cot, device)).sum().backward()
    close(xt.grad, ref_grad, rtol=1e-12, atol=1e-12)
    per_image = [T(rois[rois[:, 0] == i, 1:], device, bp.float32) for i in range(2)]
    order = np.argsort(rois[:, 0], kind="stable")
    out32 = ops.RoIPool(output_size, scale)(T(x, device, bp.float32), per_image)
    assert out32.dtype == bp.float32
    close(out32, ref[order].astype(np.float32), rtol=0, atol=0)


def test_roi_pool_gradcheck_nan_and_empty(device):
    rng = np.random.default_rng(13)
    x = bp.tensor(rng.permutation(84).reshape(1, 2, 6, 7) * 0.1, requires_grad=True)  # distinct values
    rois = bp.tensor([[0, 0.0, 1.0, 5.0, 4.0], [0, 2.0, 0.0, 6.0, 5.0]], dtype=bp.float64)
    assert bp.autograd.gradcheck(lambda t: ops.roi_pool(t, rois, (2, 3)), (x,))
    assert bp.autograd.gradgradcheck(lambda t: ops.roi_pool(t, rois, (2, 3)), (x,))
    # NaN never wins a bin (the kernel's strict >); a box beyond the image pools empty bins to 0
    v = np.array([[[[np.nan, 1.0], [2.0, np.nan]]]], dtype=np.float32)
    out = ops.roi_pool(T(v, device), T(np.array([[0, 0.0, 0.0, 1.0, 1.0], [0, 5.0, 5.0, 8.0, 8.0]], np.float32), device), 1)
    assert out.tolist() == [[[[2.0]]], [[[0.0]]]]
    e = ops.roi_pool(T(v, device), T(np.zeros((0, 5), np.float32), device), (2, 2))
    assert e.shape == (0, 1, 2, 2)


@pytest.mark.parametrize("op", ["roi_align", "roi_pool"])
def test_roi_ops_in_several_passes(device, monkeypatch, op):
    """A tiny gather budget splits the boxes into passes of similar size (each reading only the
    slots its largest box uses): the same outputs and gradients as the loop reference."""
    monkeypatch.setattr(sys.modules["backprop.vision.ops.roi_align"], "_CHUNK_ELEMENTS", 200)  # the module, not the function
    rng = np.random.default_rng(15)
    x = rng.standard_normal((2, 2, 12, 16))
    rois = np.concatenate([_rois(), [[0, 0.0, 0.0, 16.0, 12.0], [1, 2.0, 2.0, 2.5, 2.5]]])
    cot = rng.standard_normal((len(rois), 2, 3, 3))
    xt = T(x, device, requires_grad=True)
    if op == "roi_align":
        out = ops.roi_align(xt, T(rois, device), 3, 1.0, -1, True)
        ref, ref_grad = ref_roi_align(x, rois, 3, 3, 1.0, -1, True, cot)
    else:
        out = ops.roi_pool(xt, T(rois, device), 3, 1.0)
        ref, ref_grad = ref_roi_pool(x, rois, 3, 3, 1.0, cot)
    close(out, ref, rtol=1e-10, atol=1e-12)
    (out * T(cot, device)).sum().backward()
    close(xt.grad, ref_grad, rtol=1e-10, atol=1e-12)


def test_half_precision_inputs(device):
    """Half inputs compute in float32 and give half back (roi ops); NMS decides in float32."""
    rng = np.random.default_rng(16)
    x = rng.standard_normal((1, 2, 8, 8))
    rois = np.array([[0, 0.5, 1.0, 6.0, 7.0], [0, 2.0, 2.0, 5.0, 4.0]])
    xh = T(x, device, bp.float16, requires_grad=True)
    out = ops.roi_align(xh, T(rois, device, bp.float16), 2, 1.0, 2, True)
    assert out.dtype == bp.float16
    close(out.float(), ref_roi_align(x.astype(np.float16).astype(np.float64), rois, 2, 2, 1.0, 2, True)[0], rtol=2e-3, atol=2e-3)
    out.float().sum().backward()
    assert xh.grad.dtype == bp.float16 and xh.grad.shape == xh.shape
    pooled = ops.roi_pool(T(x, device, bp.float16), T(rois, device, bp.float16), 2)
    assert pooled.dtype == bp.float16
    close(pooled.float(), ref_roi_pool(x.astype(np.float16).astype(np.float64), rois, 2, 2, 1.0)[0], rtol=0, atol=0)
    b = random_boxes(rng, 50, scale=40.0)
    s = rng.random(50)
    expected = ref_nms(b.astype(np.float16).astype(np.float32), s.astype(np.float16), 0.5)
    assert ops.nms(T(b, device, bp.float16), T(s, device, bp.float16), 0.5).tolist() == expected.tolist()
    np.testing.assert_array_equal(ops.nms(T(b, device), T(s, device), 0.5).cpu().numpy(), ref_nms(b, s, 0.5))
