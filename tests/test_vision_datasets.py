"""backprop.vision.datasets: MNISTDetection built from the real MNIST files (determinism, boxes tight on the
ink, digit counts and sizes, train/test from their own splits, item format, speed) and the collate helpers."""

from __future__ import annotations

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
