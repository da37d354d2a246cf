"""backprop.metrics.MeanAveragePrecision against pycocotools' COCOeval (the reference implementation).

Randomized prediction sets (seeded) are evaluated by both: COCO objects are built in memory from the
same data (``COCO()`` + ``dataset`` + ``createIndex()``, ``loadRes``), and ``stats``, the full
``precision``/``recall``/``scores`` arrays, the IoU matrices and the per-class values must agree.
The sets hold jittered true positives, duplicates, false positives, missed and crowd ground truth,
given areas, images without predictions or ground truth, a class with predictions only, tied scores,
integer grids with exactly equal IoUs, every area range and images with more than 100 detections.
Hand-checked cases, box formats, devices, ``forward``/``reset`` and the ValueErrors for bad input follow.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest

import backprop
from backprop.metrics import MeanAveragePrecision, detection

STAT_KEYS = ["map", "map_50", "map_75", "map_small", "map_medium", "map_large",
             "mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large"]


# ---------------------------------------------------------------------------- the pycocotools oracle
def coco_eval(preds, target, *, cat_ids=None, iou_thrs=None, rec_thrs=None, max_dets=None, micro=False):
    """COCOeval (bbox) on the same data, everything in memory and its printing silenced."""
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def label(x):
        return 0 if micro else int(x)

    images = [{"id": i} for i in range(len(target))]
    labels = [np.asarray(p["labels"]) for p in preds] + [np.asarray(t["labels"]) for t in target]
    all_labels = np.concatenate(labels) if labels else np.zeros(0, np.int64)
    cats = [{"id": label(c)} for c in np.unique(np.zeros_like(all_labels) if micro else all_labels)]
    anns = []
    for i, t in enumerate(target):
        b = np.asarray(t["boxes"], np.float64).reshape(-1, 4)
        crowd = t.get("iscrowd", np.zeros(len(b), np.int64))
        for j in range(len(b)):
            w, h = b[j, 2] - b[j, 0], b[j, 3] - b[j, 1]
            given = float(t["area"][j]) if "area" in t else 0.0
            anns.append({"id": len(anns) + 1, "image_id": i, "bbox": [b[j, 0], b[j, 1], w, h],
                         "area": given if given > 0 else w * h, "category_id": label(t["labels"][j]),
                         "iscrowd": int(crowd[j])})
    res = []
    for i, p in enumerate(preds):
        b = np.asarray(p["boxes"], np.float64).reshape(-1, 4)
        for j in range(len(b)):
            res.append({"image_id": i, "bbox": [b[j, 0], b[j, 1], b[j, 2] - b[j, 0], b[j, 3] - b[j, 1]],
                        "score": float(p["scores"][j]), "category_id": label(p["labels"][j])})
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns, "categories": cats}
        gt.createIndex()
        if res:
            dt = gt.loadRes(res)
        else:  # loadRes cannot take an empty list
            dt = COCO()
            dt.dataset = {"images": images, "annotations": [], "categories": cats}
            dt.createIndex()
        ev = COCOeval(gt, dt, "bbox")
        if cat_ids is not None:
            ev.params.catIds = cat_ids
        if iou_thrs is not None:
            ev.params.iouThrs = np.asarray(iou_thrs, dtype=np.float64)
        if rec_thrs is not None:
            ev.params.recThrs = np.asarray(rec_thrs, dtype=np.float64)
        if max_dets is not None:
            ev.params.maxDets = max_dets
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


# ---------------------------------------------------------------------------- randomized data
def random_boxes(rng, n, lo=3.0, hi=250.0):
    xy = rng.uniform(0, 400, (n, 2))
    wh = np.exp(rng.uniform(np.log(lo), np.log(hi), (n, 2)))  # spans small, medium and large areas
    return np.concatenate([xy, xy + wh], 1)


def make_data(seed, n_img=100, classes=(0, 1, 3, 7), pred_only_class=9, jitter=0.06):
    rng = np.random.default_rng(seed)
    preds, target = [], []
    for i in range(n_img):
        ng = 0 if i % 17 == 5 else int(rng.integers(0, 9))
        g = random_boxes(rng, ng).round(1)
        if ng > 2 and i % 7 == 0:
            g[1] = g[0]  # identical ground truths: equal IoUs
        gl = rng.choice(classes, size=ng)
        t = {"boxes": g, "labels": gl, "iscrowd": (rng.random(ng) < 0.1).astype(np.int64)}
        if i % 3 == 0:  # given areas, some 0 (then the box's area counts)
            t["area"] = np.where(rng.random(ng) < 0.5, rng.uniform(0, 20000, ng), 0.0)
        target.append(t)
        boxes, labels, scores = [], [], []
        for j in range(ng):
            for _ in range(int(rng.choice([0, 1, 1, 1, 2]))):  # missed, found, found twice
                w = g[j, 2:] - g[j, :2]
                boxes.append(g[j] + rng.normal(0, jitter, 4) * np.r_[w, w])
                labels.append(gl[j] if rng.random() < 0.9 else rng.choice(classes))
                scores.append(rng.random())
        nf = int(rng.integers(0, 5))
        boxes += list(random_boxes(rng, nf))
        labels += list(rng.choice([*classes, pred_only_class], nf))
        scores += list(rng.random(nf))
        if i % 40 == 3:  # more than 100 detections in one image and class
            boxes += list(random_boxes(rng, 130))
            labels += [classes[0]] * 130
            scores += list(rng.random(130))
        if i % 11 == 4:  # no predictions
            boxes, labels, scores = [], [], []
        b = np.array(boxes, dtype=np.float64).reshape(-1, 4)
        b[:, 2:] = np.maximum(b[:, 2:], b[:, :2])
        preds.append({"boxes": b.round(1), "scores": np.round(np.array(scores, np.float64), 1),  # tied scores
                      "labels": np.array(labels, dtype=np.int64)})
    return preds, target


def make_grid_data(seed, n_img=60, classes=(1, 2)):
    """Integer boxes on a coarse grid: many exactly equal IoUs and scores, duplicates, crowds."""
    rng = np.random.default_rng(seed)
    preds, target = [], []
    for _ in range(n_img):
        ng = int(rng.integers(0, 7))
        xy, wh = rng.integers(0, 12, (ng, 2)), rng.integers(1, 8, (ng, 2)) * 6
        g = np.concatenate([xy, xy + wh], 1).astype(np.float64)
        target.append({"boxes": g, "labels": rng.choice(classes, ng), "iscrowd": (rng.random(ng) < 0.15).astype(np.int64)})
        nd = int(rng.integers(0, 12))
        xy, wh = rng.integers(0, 12, (nd, 2)), rng.integers(1, 8, (nd, 2)) * 6
        d = np.concatenate([xy, xy + wh], 1).astype(np.float64)
        if ng:
            pick = rng.integers(0, ng, nd // 2)
            d[: len(pick)] = g[pick] + rng.integers(-2, 3, (len(pick), 4))
            d[:, 2:] = np.maximum(d[:, 2:], d[:, :2])
        preds.append({"boxes": d, "scores": rng.integers(1, 4, nd) / 4.0, "labels": rng.choice(classes, nd)})
    return preds, target


def evaluate(preds, target, **kwargs):
    metric = MeanAveragePrecision(**kwargs)
    metric.warn_on_many_detections = False
    metric.update(preds, target)
    return metric.compute()


def assert_matches(result, ev, stat_keys=STAT_KEYS):
    mine = np.array([result[k].item() for k in stat_keys])
    np.testing.assert_allclose(mine, ev.stats, rtol=0, atol=1e-6)
    if "precision" in result:
        np.testing.assert_allclose(result["precision"].numpy(), ev.eval["precision"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(result["recall"].numpy(), ev.eval["recall"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(result["scores"].numpy(), ev.eval["scores"], rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------- equal to COCOeval
@pytest.mark.parametrize("seed,jitter", [(0, 0.02), (1, 0.06), (2, 0.15)])
def test_random_sets_equal_cocoeval(seed, jitter):
    preds, target = make_data(seed, jitter=jitter)
    result = evaluate(preds, target, extended_summary=True, class_metrics=True)
    ev = coco_eval(preds, target)
    assert_matches(result, ev)
    assert -1 < result["map"].item() < 1 and result["map_small"].item() > -1 and result["map_large"].item() > -1
    # IoU matrices: one per (image, class), detections best-first (at most 100), as COCOeval.ious.
    assert set(result["ious"]) == set(ev.ious)
    for key, ref in ev.ious.items():
        mine = result["ious"][key].numpy()
        if len(ref):
            np.testing.assert_array_equal(mine, np.asarray(ref, np.float32))
        else:
            assert mine.size == 0
    # Per-class values: mean precision and recall of each class (-1 for the class without ground truth).
    classes = result["classes"].numpy()
    np.testing.assert_array_equal(classes, [0, 1, 3, 7, 9])
    p, r = ev.eval["precision"][:, :, :, 0, -1], ev.eval["recall"][:, :, 0, -1]
    want_map = [p[:, :, k][p[:, :, k] > -1].mean() if (p[:, :, k] > -1).any() else -1 for k in range(len(classes))]
    want_mar = [r[:, k][r[:, k] > -1].mean() if (r[:, k] > -1).any() else -1 for k in range(len(classes))]
    np.testing.assert_allclose(result["map_per_class"].numpy(), want_map, atol=1e-6)
    np.testing.assert_allclose(result["mar_100_per_class"].numpy(), want_mar, atol=1e-6)
    assert result["map_per_class"][-1].item() == -1


@pytest.mark.parametrize("seed", range(24))
def test_small_random_sets_equal_cocoeval(seed):
    # Few images, one to four classes (negative and sparse labels too), every jitter and given areas.
    rng = np.random.default_rng(1000 + seed)
    if seed % 3 == 0:
        classes = tuple(rng.choice(20, int(rng.integers(1, 5)), replace=False))
        preds, target = make_data(seed, n_img=int(rng.integers(1, 25)), classes=classes, jitter=float(rng.uniform(0, 0.3)))
    else:
        preds, target = make_grid_data(seed, n_img=int(rng.integers(1, 30)), classes=(-1,) if seed % 3 == 1 else (0, 4))
        for t in target:
            t["area"] = rng.choice([0.0, 500.0, 2000.0, 50000.0], len(t["labels"]))
    assert_matches(evaluate(preds, target, extended_summary=True), coco_eval(preds, target))


def test_per_class_values_equal_cocoeval_per_category():
    preds, target = make_data(5, n_img=40)
    result = evaluate(preds, target, class_metrics=True)
    for k, c in enumerate(result["classes"].tolist()):
        ev = coco_eval(preds, target, cat_ids=[c])  # how torchmetrics computes them
        assert abs(result["map_per_class"][k].item() - ev.stats[0]) < 1e-6
        assert abs(result["mar_100_per_class"][k].item() - ev.stats[8]) < 1e-6


@pytest.mark.parametrize("seed", range(6))
def test_ties_and_crowds_equal_cocoeval(seed):
    preds, target = make_grid_data(seed)
    result = evaluate(preds, target, extended_summary=True)
    assert_matches(result, coco_eval(preds, target))


def test_large_images_in_small_chunks_equal_cocoeval(monkeypatch):
    # Up to 300 detections and 40 ground truths per image: detections cut at 100 per (image, class), the
    # matching padded to 128 x 64 and, with the chunk bound lowered, run a few groups at a time.
    rng = np.random.default_rng(11)
    preds, target = [], []
    for i in range(12):
        ng = int(rng.integers(20, 41))
        g = random_boxes(rng, ng).round(0)
        gl = rng.integers(0, 2, ng)
        nd = 300 if i % 3 == 0 else int(rng.integers(0, 120))
        d = np.repeat(g, nd // ng + 1, 0)[:nd] + rng.normal(0, 4, (nd, 4)).round(0)
        d[:, 2:] = np.maximum(d[:, 2:], d[:, :2])
        target.append({"boxes": g, "labels": gl, "iscrowd": (rng.random(ng) < 0.05).astype(np.int64)})
        preds.append({"boxes": d, "scores": rng.integers(0, 50, nd) / 50, "labels": np.repeat(gl, nd // ng + 1)[:nd]})
    ev = coco_eval(preds, target)
    assert_matches(evaluate(preds, target, extended_summary=True), ev)
    monkeypatch.setattr(detection, "_CHUNK_ELEMENTS", 1)
    assert_matches(evaluate(preds, target, extended_summary=True), ev)


def test_custom_thresholds_equal_cocoeval():
    preds, target = make_data(3, n_img=60)
    iou, rec, dets = [0.3, 0.5, 0.75, 0.9], [0.0, 0.25, 0.5, 0.8, 1.0], [20, 2, 5]
    result = evaluate(preds, target, iou_thresholds=iou, rec_thresholds=rec, max_detection_thresholds=dets,
                      extended_summary=True)
    ev = coco_eval(preds, target, iou_thrs=iou, rec_thrs=rec, max_dets=[2, 5, 20])
    np.testing.assert_allclose(result["precision"].numpy(), ev.eval["precision"], atol=1e-12)
    np.testing.assert_allclose(result["recall"].numpy(), ev.eval["recall"], atol=1e-12)
    assert {"mar_2", "mar_5", "mar_20", "mar_20_per_class"} <= set(result)
    # COCOeval.summarize hard-codes 100 detections for its first value; the rest use maxDets[2].
    np.testing.assert_allclose([result[k].item() for k in STAT_KEYS[1:6]], ev.stats[1:6], atol=1e-6)
    np.testing.assert_allclose([result[k].item() for k in ("mar_2", "mar_5", "mar_20")], ev.stats[6:9], atol=1e-6)


def test_micro_average_pools_classes():
    preds, target = make_data(4, n_img=50)
    result = evaluate(preds, target, average="micro", class_metrics=True)
    assert_matches(result, coco_eval(preds, target, micro=True))
    macro = evaluate(preds, target, class_metrics=True)
    np.testing.assert_array_equal(result["map_per_class"].numpy(), macro["map_per_class"].numpy())
    np.testing.assert_array_equal(result["classes"].numpy(), macro["classes"].numpy())


def test_more_than_max_detections_warns_and_keeps_the_best():
    rng = np.random.default_rng(0)
    g = random_boxes(rng, 3)
    d = np.concatenate([g, random_boxes(rng, 150)])
    preds = [{"boxes": d, "scores": np.r_[np.full(3, 0.01), rng.uniform(0.5, 1, 150)], "labels": np.zeros(153, np.int64)}]
    target = [{"boxes": g, "labels": np.zeros(3, np.int64)}]
    metric = MeanAveragePrecision()
    with pytest.warns(UserWarning, match="more than 100 detections"):
        metric.update(preds, target)
    result = metric.compute()
    assert_matches(result, coco_eval(preds, target))
    assert result["mar_100"].item() == 0.0  # the true positives were ranked 151-153: cut


# ---------------------------------------------------------------------------- hand-checked cases
def test_torchmetrics_docstring_example():
    # IoU = 304*244 / (2*348*244 - 304*244) = 0.7755: a match at .50-.75 (6 of 10 thresholds).
    preds = [{"boxes": backprop.tensor([[258.0, 41.0, 606.0, 285.0]]), "scores": backprop.tensor([0.536]),
              "labels": backprop.tensor([0])}]
    target = [{"boxes": backprop.tensor([[214.0, 41.0, 562.0, 285.0]]), "labels": backprop.tensor([0])}]
    result = evaluate(preds, target)
    want = {"map": 0.6, "map_50": 1.0, "map_75": 1.0, "map_small": -1.0, "map_medium": -1.0, "map_large": 0.6,
            "mar_1": 0.6, "mar_10": 0.6, "mar_100": 0.6, "mar_small": -1.0, "mar_medium": -1.0, "mar_large": 0.6,
            "map_per_class": -1.0, "mar_100_per_class": -1.0}
    for key, value in want.items():
        assert result[key].shape == () and result[key].dtype == backprop.float32
        assert abs(result[key].item() - value) < 1e-6, key
    assert result["classes"].dtype == backprop.int32 and result["classes"].shape == () and result["classes"].item() == 0


def test_perfect_predictions_give_one():
    rng = np.random.default_rng(1)
    target = [{"boxes": random_boxes(rng, 5), "labels": rng.integers(0, 3, 5)} for _ in range(8)]
    preds = [{"boxes": t["boxes"], "scores": rng.random(5), "labels": t["labels"]} for t in target]
    result = evaluate(preds, target, class_metrics=True)
    for key in ("map", "map_50", "map_75", "mar_10", "mar_100", "map_small", "map_medium", "map_large"):
        assert result[key].item() == 1.0, key
    assert result["mar_1"].item() < 1.0  # images hold several boxes of a class: one detection finds one
    np.testing.assert_array_equal(result["map_per_class"].numpy(), [1, 1, 1])
    np.testing.assert_array_equal(result["mar_100_per_class"].numpy(), [1, 1, 1])


def test_no_predictions_give_zero_and_no_ground_truth_gives_minus_one():
    target = [{"boxes": np.array([[0.0, 0.0, 50.0, 50.0]]), "labels": np.array([2])}]
    empty = [{"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0, np.int64)}]
    result = evaluate(empty, target)
    assert result["map"].item() == 0.0 and result["mar_100"].item() == 0.0 and result["map_small"].item() == -1.0
    preds = [{"boxes": np.array([[0.0, 0.0, 50.0, 50.0]]), "scores": np.array([0.9]), "labels": np.array([2])}]
    no_gt = [{"boxes": np.zeros((0, 4)), "labels": np.zeros(0, np.int64)}]
    result = evaluate(preds, no_gt)
    assert all(result[k].item() == -1.0 for k in STAT_KEYS)
    result = MeanAveragePrecision().compute()  # nothing seen
    assert all(result[k].item() == -1.0 for k in STAT_KEYS) and result["classes"].shape == (0,)
    result = evaluate(empty, [{"boxes": np.zeros(0), "labels": np.zeros(0, np.int64)}])  # (0,) boxes accepted
    assert result["map"].item() == -1.0


def test_crowd_region_absorbs_detections():
    gt = np.array([[0.0, 0.0, 40.0, 40.0], [100.0, 100.0, 300.0, 300.0]])
    preds = [{"boxes": np.array([[0.0, 0.0, 40.0, 40.0], [120.0, 120.0, 160.0, 160.0], [200.0, 200.0, 240.0, 240.0]]),
              "scores": np.array([0.5, 0.9, 0.8]), "labels": np.zeros(3, np.int64)}]
    crowd = evaluate(preds, [{"boxes": gt, "labels": np.zeros(2, np.int64), "iscrowd": np.array([0, 1])}])
    assert crowd["map"].item() == 1.0  # both detections inside the crowd box are ignored, not false positives
    plain = evaluate(preds, [{"boxes": gt, "labels": np.zeros(2, np.int64)}])
    assert plain["map"].item() < 0.5  # without the flag they are two higher-scored false positives


def test_given_area_decides_the_area_range():
    box = np.array([[0.0, 0.0, 10.0, 10.0]])  # 100 px^2: small by its box
    preds = [{"boxes": box, "scores": np.array([0.9]), "labels": np.array([0])}]
    result = evaluate(preds, [{"boxes": box, "labels": np.array([0]), "area": np.array([50000.0])}])
    assert result["map_large"].item() == 1.0 and result["map_small"].item() == -1.0
    result = evaluate(preds, [{"boxes": box, "labels": np.array([0]), "area": np.array([0.0])}])  # 0: the box's
    assert result["map_small"].item() == 1.0 and result["map_large"].item() == -1.0


@pytest.mark.parametrize("box_format", ["xywh", "cxcywh"])
def test_box_formats(box_format):
    preds, target = make_grid_data(7, n_img=20)

    def convert(b):
        b = np.asarray(b, np.float64).reshape(-1, 4)
        wh = b[:, 2:] - b[:, :2]
        return np.concatenate([b[:, :2] if box_format == "xywh" else b[:, :2] + wh / 2, wh], 1)

    converted_p = [{**p, "boxes": convert(p["boxes"])} for p in preds]
    converted_t = [{**t, "boxes": convert(t["boxes"])} for t in target]
    want = evaluate(preds, target, extended_summary=True)
    got = evaluate(converted_p, converted_t, box_format=box_format, extended_summary=True)
    np.testing.assert_array_equal(got["precision"].numpy(), want["precision"].numpy())
    assert got["map"].item() == want["map"].item()


def test_backprop_tensors_on_the_device(device):
    preds, target = make_data(6, n_img=30)
    want = evaluate(preds, target)

    def on(x, dtype):
        return backprop.tensor(np.asarray(x), dtype=dtype, device=device)

    dp = [{"boxes": on(p["boxes"], backprop.float64), "scores": on(p["scores"], backprop.float64).requires_grad_(),
           "labels": on(p["labels"], backprop.int64)} for p in preds]
    dt = [{"boxes": on(t["boxes"], backprop.float64), "labels": on(t["labels"], backprop.int32),
           "iscrowd": on(t["iscrowd"], backprop.bool), **({"area": on(t["area"], backprop.float64)} if "area" in t else {})}
          for t in target]
    metric = MeanAveragePrecision()
    metric.warn_on_many_detections = False
    copies = []
    if device != "cpu":  # one device-to-host copy per (device, dtype) and update, not one per tensor
        backend = backprop._backend.backend_for(device)
        to_host = backend.to_host
        backend.to_host = lambda array: copies.append(1) or to_host(array)
    try:
        for s in range(0, 30, 7):  # several batches
            metric.update(dp[s : s + 7], dt[s : s + 7])
    finally:
        if device != "cpu":
            del backend.to_host
    assert len(copies) == (0 if device == "cpu" else 5 * 4)  # float64, int64, int32, bool
    got = metric.compute()
    for key in STAT_KEYS:
        assert got[key].item() == want[key].item(), key
        assert got[key].device.type == "cpu"


def test_half_precision_and_list_inputs():
    preds, target = make_grid_data(3, n_img=10)  # small integers: exact in bfloat16
    want = evaluate(preds, target)["map"].item()
    for dtype in (backprop.float16, backprop.bfloat16):
        half_p = [{**p, "boxes": backprop.tensor(p["boxes"], dtype=dtype), "scores": backprop.tensor(p["scores"], dtype=dtype)}
                  for p in preds]
        half_t = [{**t, "boxes": backprop.tensor(t["boxes"], dtype=dtype)} for t in target]
        assert evaluate(half_p, half_t)["map"].item() == want
    as_lists = [{k: np.asarray(v).tolist() for k, v in p.items()} for p in preds]
    assert evaluate(as_lists, target)["map"].item() == want


def test_forward_returns_the_batch_and_accumulates():
    preds, target = make_data(8, n_img=20)
    metric = MeanAveragePrecision()
    metric.warn_on_many_detections = False
    first = metric(preds[:10], target[:10])
    assert first["map"].item() == evaluate(preds[:10], target[:10])["map"].item()
    metric(preds[10:], target[10:])
    assert metric.compute()["map"].item() == evaluate(preds, target)["map"].item()
    metric.reset()
    assert len(metric) == 0 and metric.compute()["map"].item() == -1.0


# ---------------------------------------------------------------------------- bad input
def good():
    p = {"boxes": np.array([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 20.0, 30.0]]), "scores": np.array([0.9, 0.3]),
         "labels": np.array([1, 2])}
    t = {"boxes": np.array([[0.0, 0.0, 10.0, 10.0]]), "labels": np.array([1]), "iscrowd": np.array([0]),
         "area": np.array([100.0])}
    return [dict(p), dict(p)], [dict(t), dict(t)]


def _set(where, key, value):
    def edit(preds, target):
        (preds if where == "preds" else target)[1][key] = value
        return preds, target
    return edit


def _drop(where, key):
    def edit(preds, target):
        del (preds if where == "preds" else target)[1][key]
        return preds, target
    return edit


BAD = [
    (_set("preds", "boxes", np.array([[10.0, 0.0, 5.0, 10.0], [0.0, 0.0, 1.0, 1.0]])), r"preds\[1\]\['boxes'\] box 0 has x2 < x1"),
    (_set("target", "boxes", np.array([[0.0, 10.0, 5.0, 5.0]])), r"target\[1\]\['boxes'\] box 0 has x2 < x1 or y2 < y1"),
    (_set("preds", "boxes", np.zeros((2, 5))), r"preds\[1\]\['boxes'\] must have shape \(N, 4\), got \(2, 5\)"),
    (_set("preds", "boxes", np.zeros(8)), r"preds\[1\]\['boxes'\] must have shape \(N, 4\)"),
    (_set("preds", "scores", np.array([0.9])), r"preds\[1\]\['scores'\] must have shape \(2,\)"),
    (_set("preds", "labels", np.array([[1, 2]])), r"preds\[1\]\['labels'\] must have shape \(2,\)"),
    (_set("target", "labels", np.array([1, 1])), r"target\[1\]\['labels'\] must have shape \(1,\)"),
    (_set("target", "iscrowd", np.array([2])), r"target\[1\]\['iscrowd'\] must hold 0 or 1"),
    (_set("target", "area", np.array([np.nan])), r"target\[1\]\['area'\] has a non-finite"),
    (_set("preds", "scores", np.array([0.5, np.nan])), r"preds\[1\]\['scores'\] has a non-finite value \(NaN or inf\) at 1"),
    (_set("preds", "scores", np.array([np.inf, 0.5])), r"preds\[1\]\['scores'\] has a non-finite"),
    (_set("preds", "boxes", np.array([[0.0, 0.0, np.inf, 1.0], [0.0, 0.0, 1.0, 1.0]])), r"preds\[1\]\['boxes'\] has non-finite values \(NaN or inf\) in box 0"),
    (_set("target", "boxes", np.array([[0.0, np.nan, 1.0, 1.0]])), r"target\[1\]\['boxes'\] has non-finite"),
    (_set("preds", "labels", np.array([1.0, 2.0])), r"preds\[1\]\['labels'\] must hold integer class labels"),
    (_set("preds", "boxes", [[0.0, 1.0], [2.0]]), r"preds\[1\]\['boxes'\] is not an array"),
    (_drop("preds", "scores"), r"preds\[1\] has no 'scores' key"),
    (_drop("target", "boxes"), r"target\[1\] has no 'boxes' key"),
    (lambda p, t: (p, t[:1]), r"`preds` and `target` to have the same length, but got 2 and 1"),
    (lambda p, t: (p[0], t), r"`preds` to be of type Sequence"),
    (lambda p, t: (p, "boxes"), r"`target` to be of type Sequence"),
    (lambda p, t: ([p[0], [1, 2]], t), r"preds\[1\] must be a dict"),
]


@pytest.mark.parametrize("edit,message", BAD, ids=range(len(BAD)))
def test_bad_input_raises_value_error_naming_the_image(edit, message):
    metric = MeanAveragePrecision()
    metric.update(*good())
    with pytest.raises(ValueError, match=message):
        metric.update(*edit(*good()))
    assert len(metric) == 2  # nothing of the bad batch was added


def test_bad_arguments():
    for kwargs, message in [
        ({"box_format": "xyzw"}, "box_format"),
        ({"iou_type": "segm"}, "only iou_type='bbox'"),
        ({"iou_type": "keypoints"}, "iou_type"),
        ({"iou_thresholds": 0.5}, "iou_thresholds"),
        ({"rec_thresholds": [0.0, float("nan")]}, "rec_thresholds"),
        ({"max_detection_thresholds": [1, 10]}, "length 3"),
        ({"max_detection_thresholds": [1.5, 10, 100]}, "list of ints"),
        ({"class_metrics": 1}, "class_metrics"),
        ({"extended_summary": "yes"}, "extended_summary"),
        ({"average": "weighted"}, "average"),
        ({"backend": "detectron"}, "backend"),
    ]:
        with pytest.raises(ValueError, match=message):
            MeanAveragePrecision(**kwargs)


def test_no_pycocotools_output_and_no_warnings(capsys):
    preds, target = make_data(9, n_img=10)
    coco_eval(preds, target)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate(preds, target, class_metrics=True)
    assert capsys.readouterr().out == ""
