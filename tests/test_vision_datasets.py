"""backprop.vision.datasets: MNISTDetection built from the real MNIST files (determinism, boxes tight on the
ink, digit counts and sizes, train/test from their own splits, item format, speed) and the collate helpers."""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pytest

import backprop
from backprop.datasets import MNIST, DatasetNotFoundError
from backprop.utils.data import DataLoader
from backprop.vision.datasets import MNISTDetection, collate_fn, detection_collate
from conftest import require_data


@pytest.fixture(scope="module")
def mnist_root():
    for split in ("train", "t10k"):
        for kind in ("images-idx3", "labels-idx1"):
            root = require_data(f"mnist/{split}-{kind}-ubyte.gz").parent
    return root


@pytest.fixture(scope="module")
def train_set(mnist_root):
    start = time.perf_counter()
    ds = MNISTDetection(mnist_root, train=True)
    ds.build_seconds = time.perf_counter() - start
    return ds


@pytest.fixture(scope="module")
def test_set(mnist_root):
    return MNISTDetection(mnist_root, train=False)


def all_boxes(ds) -> np.ndarray:
    return np.concatenate([t["boxes"].numpy() for t in ds.targets])


def test_default_lengths_and_fast_build(train_set, test_set):
    assert len(train_set) == 10000 and len(test_set) == 2000
    assert train_set.images.shape == (10000, 1, 96, 96) and train_set.images.dtype == backprop.uint8
    assert len(train_set.targets) == 10000
    assert train_set.build_seconds < 15, f"building 10,000 canvases took {train_set.build_seconds:.1f} s"


def test_item_format_and_pixel_range(train_set):
    image, target = train_set[3]
    assert image.shape == (1, 96, 96) and image.dtype == backprop.float32
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0 and float(image.max()) > 0.5
    assert set(target) == {"boxes", "labels"}
    assert target["boxes"].dtype == backprop.float32 and target["labels"].dtype == backprop.int64
    assert target["boxes"].shape == (len(target["labels"]), 4)
    np.testing.assert_array_equal(image.numpy(), train_set.images[3].numpy() / np.float32(255))
    np.testing.assert_array_equal(target["boxes"].numpy(), train_set.targets[3]["boxes"].numpy())
    assert train_set[-1][1]["labels"].tolist() == train_set.targets[-1]["labels"].tolist()
    with pytest.raises(IndexError):
        train_set[10000]


def test_counts_sizes_and_boxes_in_the_canvas(train_set, test_set):
    for ds in (train_set, test_set):
        counts = np.array([len(t["labels"]) for t in ds.targets])
        assert counts.min() == 1 and counts.max() == 6
        assert set(np.unique(counts)) == set(range(1, 7))
        boxes = all_boxes(ds)
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= 96).all() and (w >= 1).all() and (h >= 1).all()
        longer = np.maximum(w, h)
        # the digit is rescaled to 14..48 px; its thresholded ink box may lose at most a pixel at an edge
        assert longer.min() >= 13 and longer.max() == 48
        assert (longer >= 14).mean() > 0.999
        assert np.all(boxes == np.round(boxes))  # whole pixels
        labels = np.concatenate([t["labels"].numpy() for t in ds.targets])
        assert set(np.unique(labels)) == set(range(10))


def pairwise_overlap(boxes: np.ndarray) -> np.ndarray:
    lt = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
    rb = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area = (boxes[:, 2:] - boxes[:, :2]).prod(axis=1)
    return inter / np.minimum(area[:, None], area[None, :])


def test_limited_overlap(train_set):
    for t in train_set.targets[:2000]:
        boxes = t["boxes"].numpy()
        ov = pairwise_overlap(boxes)
        np.fill_diagonal(ov, 0)
        assert ov.max() <= 0.15 + 1e-6


def test_boxes_are_tight_on_the_ink(train_set):
    """Recompute each isolated digit's box from the canvas: pixels > 10% of its peak, near its box."""
    checked = 0
    images = train_set.images.numpy()[:, 0]
    for i, t in enumerate(train_set.targets[:1500]):
        boxes = t["boxes"].numpy().astype(int)
        canvas = images[i]
        for j, (x0, y0, x1, y1) in enumerate(boxes):
            grown = np.array([x0 - 2, y0 - 2, x1 + 2, y1 + 2])
            others = np.delete(boxes, j, axis=0)
            if (
                len(others)
                and (
                    (np.minimum(grown[2], others[:, 2]) > np.maximum(grown[0], others[:, 0]))
                    & (np.minimum(grown[3], others[:, 3]) > np.maximum(grown[1], others[:, 1]))
                ).any()
            ):
                continue  # another digit within 2 px
            gx0, gy0 = max(grown[0], 0), max(grown[1], 0)
            window = canvas[gy0 : grown[3], gx0 : grown[2]].astype(np.float32)
            ink = window > 0.1 * window.max()
            rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
            got = [gx0 + cols[0], gy0 + rows[0], gx0 + cols[-1] + 1, gy0 + rows[-1] + 1]
            assert got == [x0, y0, x1, y1], (i, j)
            # nothing at all (not even faint ink) just outside the box
            outside = window.copy()
            outside[y0 - gy0 : y1 - gy0, x0 - gx0 : x1 - gx0] = 0
            assert outside.max() == 0
            checked += 1
    assert checked > 1000


def test_deterministic_for_a_seed_and_different_across_seeds(mnist_root):
    a = MNISTDetection(mnist_root, train=False, length=300, seed=7)
    b = MNISTDetection(mnist_root, train=False, length=300, seed=7)
    c = MNISTDetection(mnist_root, train=False, length=300, seed=8)
    np.testing.assert_array_equal(a.images.numpy(), b.images.numpy())
    np.testing.assert_array_equal(all_boxes(a), all_boxes(b))
    assert [t["labels"].tolist() for t in a.targets] == [t["labels"].tolist() for t in b.targets]
    assert not np.array_equal(a.images.numpy(), c.images.numpy())
    assert len(MNISTDetection(mnist_root, train=False, length=5, seed=7)) == 5


def test_train_and_test_canvases_come_from_their_own_splits(mnist_root, train_set, test_set):
    train, test = MNIST(mnist_root, train=True), MNIST(mnist_root, train=False)
    for ds, split in ((train_set, train), (test_set, test)):
        src = ds.source_indices
        labels = np.concatenate([t["labels"].numpy() for t in ds.targets])
        assert src.max() < len(split) and len(src) == len(labels)
        np.testing.assert_array_equal(labels, split.targets.numpy()[src])
    assert train_set.source_indices.max() >= 10000  # digits from beyond t10k's range: the train split
    # the pixels of an isolated digit are its source image, rescaled: compare with nearest-neighbour resampling
    images = test_set.images.numpy()[:, 0]
    pos = 0
    corr_own, corr_other = [], []
    for i, t in enumerate(test_set.targets[:200]):
        boxes = t["boxes"].numpy().astype(int)
        for x0, y0, x1, y1 in boxes:
            src_img = test.data.numpy()[test_set.source_indices[pos]].astype(np.float32)
            other = train.data.numpy()[test_set.source_indices[pos]].astype(np.float32)
            pos += 1
            if len(boxes) > 1:
                continue
            crop = images[i, y0:y1, x0:x1].astype(np.float32)
            for ref, store in ((src_img, corr_own), (other, corr_other)):
                ink = ref > 0.1 * ref.max()
                rs, cs = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
                ref = ref[rs[0] : rs[-1] + 1, cs[0] : cs[-1] + 1]
                yi = ((np.arange(y1 - y0) + 0.5) * ref.shape[0] / (y1 - y0)).astype(int)
                xi = ((np.arange(x1 - x0) + 0.5) * ref.shape[1] / (x1 - x0)).astype(int)
                store.append(np.corrcoef(crop.ravel(), ref[np.ix_(yi, xi)].ravel())[0, 1])
    assert len(corr_own) > 10
    print(f"median correlation: own source {np.median(corr_own):.3f}, other split {np.median(corr_other):.3f}")
    assert np.median(corr_own) > 0.85 and np.median(corr_other) < 0.6


def test_transform_collate_and_dataloader(mnist_root):
    calls = []

    def flip(image, target):
        calls.append(1)
        return backprop.flip(image, [2]), target

    ds = MNISTDetection(mnist_root, train=False, length=10, transform=flip)
    image, target = ds[0]
    np.testing.assert_array_equal(image.numpy(), ds.images[0].numpy()[:, :, ::-1] / np.float32(255))
    assert calls == [1]
    images, targets = detection_collate([ds[0], ds[1], ds[2]])
    assert images.shape == (3, 1, 96, 96) and len(targets) == 3 and isinstance(targets[0], dict)
    imgs, tgts = collate_fn([ds[0], ds[1]])
    assert isinstance(imgs, tuple) and len(imgs) == 2 and imgs[0].shape == (1, 96, 96)
    batch_images, batch_targets = next(iter(DataLoader(ds, batch_size=4, collate_fn=detection_collate)))
    assert batch_images.shape == (4, 1, 96, 96) and len(batch_targets) == 4


def test_options_and_errors(tmp_path, mnist_root):
    ds = MNISTDetection(mnist_root, train=False, size=64, digits=(2, 3), length=50, seed=1)
    counts = [len(t["labels"]) for t in ds.targets]
    assert ds.images.shape == (50, 1, 64, 64) and min(counts) >= 1 and max(counts) <= 3
    with pytest.raises(DatasetNotFoundError, match="MNIST"):
        MNISTDetection(tmp_path / "nowhere", train=False)
    with pytest.raises(ValueError, match="digits"):
        MNISTDetection(mnist_root, train=False, digits=(3, 2))
    with pytest.raises(ValueError, match="size"):
        MNISTDetection(mnist_root, train=False, size=32)
    assert "MNISTDetection" in repr(ds) and "Test" in repr(ds)


# ---------------------------------------------------------------------------- CocoDetection
def write_coco(tmp_path):
    """Three PNG images (one without annotations) and a COCO JSON with boxes, a crowd box and one
    box reaching past the image."""
    from PIL import Image

    images_dir = tmp_path / "images"
    images_dir.mkdir()
    rng = np.random.default_rng(0)
    arrays = {}
    for img_id, (h, w, mode) in {7: (20, 30, "RGB"), 3: (16, 16, "L"), 5: (10, 12, "RGB")}.items():
        shape = (h, w, 3) if mode == "RGB" else (h, w)
        arr = rng.integers(0, 256, shape, dtype=np.uint8)
        Image.fromarray(arr, mode=mode).save(images_dir / f"img{img_id}.png")
        arrays[img_id] = arr
    ann = {
        "images": [
            {"id": 7, "file_name": "img7.png", "height": 20, "width": 30},
            {"id": 3, "file_name": "img3.png", "height": 16, "width": 16},
            {"id": 5, "file_name": "img5.png", "height": 10, "width": 12},
        ],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 2, "bbox": [1.0, 2.0, 10.0, 5.0], "area": 50.0, "iscrowd": 0},
            {"id": 2, "image_id": 3, "category_id": 5, "bbox": [4.0, 4.0, 4.0, 8.0], "area": 32.0, "iscrowd": 0},
            {"id": 3, "image_id": 7, "category_id": 9, "bbox": [25.0, 15.0, 10.0, 10.0], "area": 100.0, "iscrowd": 1},
            {"id": 4, "image_id": 7, "category_id": 2, "bbox": [40.0, 1.0, 3.0, 3.0], "area": 9.0, "iscrowd": 0},
        ],
        "categories": [{"id": 2, "name": "two"}, {"id": 5, "name": "five"}, {"id": 9, "name": "nine"}],
    }
    ann_file = tmp_path / "ann.json"
    ann_file.write_text(json.dumps(ann))
    return images_dir, ann_file, arrays, ann


def test_coco_detection_is_torchvisions(tmp_path):
    pytest.importorskip("PIL")
    from backprop.vision.datasets import CocoDetection

    images_dir, ann_file, arrays, ann = write_coco(tmp_path)
    ds = CocoDetection(images_dir, ann_file)
    assert ds.ids == [3, 5, 7] and len(ds) == 3
    image, target = ds[2]  # id 7
    assert image.mode == "RGB" and image.size == (30, 20)
    np.testing.assert_array_equal(np.asarray(image), arrays[7])
    assert target == [a for a in ann["annotations"] if a["image_id"] == 7]  # the file's dicts, in file order
    grey, _ = ds[0]
    assert grey.mode == "RGB"  # converted, as torchvision does
    np.testing.assert_array_equal(np.asarray(grey)[:, :, 1], arrays[3])
    assert ds[1][1] == []  # an image without annotations
    assert ds.coco.getAnnIds(imgIds=7) == [1, 3, 4] and ds.coco.getAnnIds(imgIds=7, iscrowd=False) == [1, 4]
    assert ds.coco.loadCats(5) == [{"id": 5, "name": "five"}] and sorted(ds.coco.getImgIds(catIds=[2])) == [7]
    with pytest.raises(ValueError, match="integer"):
        ds[0.0]


def test_coco_transforms_and_target_format(tmp_path):
    pytest.importorskip("PIL")
    from backprop.vision.datasets import CocoDetection, coco_to_target

    images_dir, ann_file, arrays, ann = write_coco(tmp_path)
    seen = []
    ds = CocoDetection(images_dir, ann_file, transforms=lambda img, tgt: (seen.append(len(tgt)) or img, len(tgt)))
    assert ds[2][1] == 3 and seen == [3]
    ds = CocoDetection(images_dir, ann_file, transform=lambda img: img.size, target_transform=len)
    assert ds[2] == ((30, 20), 3)
    with pytest.raises(ValueError, match="Only transforms or transform/target_transform"):
        CocoDetection(images_dir, ann_file, transform=len, transforms=len)

    boxes_ds = CocoDetection(images_dir, ann_file, target_format="boxes")
    image, target = boxes_ds[2]
    assert image.shape == (3, 20, 30) and image.dtype == backprop.float32
    np.testing.assert_allclose(image.numpy(), arrays[7].transpose(2, 0, 1) / 255.0, rtol=1e-6)
    # xywh -> xyxy; the crowd box is clipped to the 30 x 20 image; the box wholly outside is dropped
    np.testing.assert_array_equal(target["boxes"].numpy(), [[1, 2, 11, 7], [25, 15, 30, 20]])
    assert target["labels"].tolist() == [2, 9] and target["iscrowd"].tolist() == [0, 1] and target["image_id"] == 7
    assert target["boxes"].dtype == backprop.float32 and target["labels"].dtype == backprop.int64
    empty = boxes_ds[1][1]
    assert empty["boxes"].shape == (0, 4) and empty["labels"].shape == (0,) and empty["image_id"] == 5

    # the image goes through vision.transforms.to_tensor: uint8 -> the default float dtype
    old = backprop.get_default_dtype()
    backprop.set_default_dtype(backprop.float64)
    try:
        assert boxes_ds[2][0].dtype == backprop.float64
    finally:
        backprop.set_default_dtype(old)
    assert not hasattr(backprop.vision.datasets, "pil_to_tensor_image")  # the duplicate is gone

    raw = coco_to_target(ann["annotations"][:1] + ann["annotations"][2:])  # no clipping without a canvas size
    np.testing.assert_array_equal(raw["boxes"].numpy(), [[1, 2, 11, 7], [25, 15, 35, 25], [40, 1, 43, 4]])
    assert raw["area"].tolist() == [50.0, 100.0, 9.0] and raw["image_id"] == 7
    assert coco_to_target(ann["annotations"], drop_crowd=True)["labels"].tolist() == [2, 5, 2]
    with pytest.raises(ValueError, match="non-finite"):
        coco_to_target([{"id": 1, "bbox": [0, 0, float("nan"), 1]}])


def test_coco_errors(tmp_path, monkeypatch):
    pytest.importorskip("PIL")
    from backprop.vision.datasets import CocoDetection

    with pytest.raises(DatasetNotFoundError, match="annotation file"):
        CocoDetection(tmp_path, tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(RuntimeError, match="not a valid COCO JSON"):
        CocoDetection(tmp_path, bad)
    with pytest.raises(ValueError, match="target_format"):
        CocoDetection(tmp_path, bad, target_format="xyxy")
    images_dir, ann_file, _, _ = write_coco(tmp_path)
    (images_dir / "img5.png").unlink()
    ds = CocoDetection(images_dir, ann_file)
    with pytest.raises(DatasetNotFoundError, match="img5.png"):
        ds[1]
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"backprop\[vision\]"):
        ds[0]


def test_augmented_pipeline_keeps_boxes_on_digits(mnist_root):
    """Affine + flip + HSV over the real canvases, with and without Mosaic, through DataLoader workers:
    every box still frames ink (but for a few cut by a mosaic tile or the border); where a box was not clipped and no other box is near, the digit's ink lies
    inside it (within 1.5 px) and, counting its faintest ink, fills it (within 2 px). A clipped box
    is the clip of the moved box, not the tight box of what still shows (boxes carry no masks)."""
    from backprop.vision.transforms import detection as T

    base = MNISTDetection(mnist_root, train=False, length=64, seed=3)
    pipeline = T.Compose(
        [
            # nothing dropped, so the ink of a digit pushed mostly out of the image still has its box
            T.RandomAffine(
                0, translate=(0.1, 0.1), scale=(0.6, 1.4), interpolation="bilinear", min_area_ratio=0.0, min_size=0.0
            ),
            T.RandomHorizontalFlip(),
            T.RandomHSV(),
        ]
    )
    checked, framed = 0, []
    for ds in (
        T.Mosaic(base, p=1.0, transform=pipeline),
        MNISTDetection(mnist_root, False, length=64, seed=3, transform=pipeline),
    ):
        mosaic = isinstance(ds, T.Mosaic)
        for images, targets in DataLoader(ds, batch_size=8, num_workers=2, collate_fn=detection_collate):
            assert images.shape == (8, 1, 96, 96)
            for image, target in zip(images.numpy()[:, 0], targets, strict=True):
                boxes = target["boxes"].numpy()
                assert len(boxes) == len(target["labels"])
                for j, box in enumerate(boxes):
                    x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
                    x1, y1 = int(np.ceil(box[2])), int(np.ceil(box[3]))
                    if min(box[2] - box[0], box[3] - box[1]) < 2:
                        continue  # a sliver left at the border (nothing is dropped in this pipeline)
                    clipped = mosaic or min(box[0], box[1]) < 1 or max(box[2], box[3]) > 95
                    framed.append(image[y0:y1, x0:x1].max() > 0.2)  # the box frames ink
                    assert framed[-1] or clipped, box
                    others = np.delete(boxes, j, axis=0)
                    near = (
                        (others[:, 0] < box[2] + 3)
                        & (others[:, 2] > box[0] - 3)
                        & (others[:, 1] < box[3] + 3)
                        & (others[:, 3] > box[1] - 3)
                    )
                    if clipped or near.any():
                        continue  # clipped (by a mosaic tile or the border) or touching another digit
                    g0, h0 = max(x0 - 2, 0), max(y0 - 2, 0)
                    grown = image[h0 : y1 + 2, g0 : x1 + 2]
                    ink = grown > 0.1 * grown.max()
                    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
                    tight = np.array([g0 + cols[0], h0 + rows[0], g0 + cols[-1] + 1, h0 + rows[-1] + 1])
                    # (bilinear upscaling spreads an edge by under a pixel; box edges are fractional)
                    assert (tight[:2] >= box[:2] - 1.5).all() and (tight[2:] <= box[2:] + 1.5).all(), (box, tight)
                    faint = grown > 0.02 * grown.max()  # resampling dims a faint tapering stroke end
                    rows, cols = np.flatnonzero(faint.any(1)), np.flatnonzero(faint.any(0))
                    loose = np.array([g0 + cols[0], h0 + rows[0], g0 + cols[-1] + 1, h0 + rows[-1] + 1])
                    assert np.abs(loose - box).max() <= 2.0, (box, loose)
                    checked += 1
    # a mosaic tile or the border can cut a digit so that what shows of its box is blank (a 6's top-right)
    assert checked >= 30 and np.mean(framed) > 0.95, (checked, np.mean(framed), len(framed))


def test_coco_index_matches_pycocotools(tmp_path, capsys):
    """The COCO index's lookups against pycocotools' COCO (the reference) on a random annotation file."""
    coco_module = pytest.importorskip("pycocotools.coco")
    from backprop.vision.datasets import COCO

    rng = np.random.default_rng(0)
    cats = [{"id": c, "name": f"c{c}", "supercategory": "even" if c % 2 == 0 else "odd"} for c in (1, 2, 3, 5, 8)]
    images = [{"id": int(i), "file_name": f"{i}.png", "height": 50, "width": 60} for i in rng.permutation(40)[:25]]
    anns = []
    for k in range(120):
        x, y, w, h = (float(v) for v in rng.uniform(0, 30, 4))
        anns.append(
            {
                "id": 1000 - k,
                "image_id": images[int(rng.integers(0, 20))]["id"],  # the last 5 images have none
                "category_id": cats[int(rng.integers(0, 5))]["id"],
                "bbox": [x, y, w, h],
                "area": w * h,
                "iscrowd": int(rng.random() < 0.2),
            }
        )
    path = tmp_path / "ann.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    ours, ref = COCO(path), coco_module.COCO(str(path))
    capsys.readouterr()  # pycocotools prints its timing
    img_ids = [images[0]["id"], images[3]["id"], images[22]["id"]]
    for kwargs in [
        {},
        {"imgIds": img_ids[0]},
        {"imgIds": img_ids},
        {"catIds": 3},
        {"imgIds": img_ids, "catIds": [1, 8]},
        {"areaRng": [50.0, 300.0]},
        {"imgIds": img_ids[1], "iscrowd": False},
        {"catIds": [2, 5], "iscrowd": True},
        {"imgIds": [images[23]["id"]]},
    ]:
        assert ours.getAnnIds(**kwargs) == ref.getAnnIds(**kwargs), kwargs
    for kwargs in [{}, {"catIds": 5}, {"catIds": [1, 2]}, {"imgIds": img_ids, "catIds": [3]}, {"imgIds": img_ids}]:
        assert sorted(ours.getImgIds(**kwargs)) == sorted(ref.getImgIds(**kwargs)), kwargs
    for kwargs in [{}, {"catNms": ["c3", "c8"]}, {"supNms": "even"}, {"supNms": ["odd"], "catIds": [1, 2, 3]}]:
        assert ours.getCatIds(**kwargs) == ref.getCatIds(**kwargs), kwargs
    ids = ref.getAnnIds(imgIds=img_ids)
    assert ours.loadAnns(ids) == ref.loadAnns(ids) and ours.loadAnns(ids[0]) == ref.loadAnns(ids[0])
    assert ours.loadImgs(img_ids) == ref.loadImgs(img_ids) and ours.loadCats(5) == ref.loadCats(5)
