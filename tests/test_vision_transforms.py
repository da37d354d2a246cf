"""backprop.vision.transforms.detection: boxes move with the pixels. Hand-checked geometry (flips,
letterbox numbers, mosaic tiles), boxes staying tight on the ink of synthetic rectangles under random
affine / resize / letterbox / mosaic, clipping and dropping with the labels, HSV against the standard
library's colorsys, determinism under backprop.manual_seed and a generator, and the fake-cuda device."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest

import backprop
from backprop.utils.data import DataLoader
from backprop.vision.datasets import detection_collate
from backprop.vision.transforms import detection as T


def rect_image(h: int, w: int, box, value: float = 1.0, channels: int = 1, device: str = "cpu"):
    """A (channels, h, w) float image that is ``value`` inside the integer xyxy ``box``, 0 elsewhere."""
    arr = np.zeros((channels, h, w), np.float32)
    x0, y0, x1, y1 = box
    arr[:, y0:y1, x0:x1] = value
    target = {
        "boxes": backprop.tensor([list(map(float, box))], device=device),
        "labels": backprop.tensor([7], device=device),
    }
    return backprop.tensor(arr, device=device), target


def ink_box(image, threshold: float = 0.5, region=None):
    """The xyxy tight box of the pixels above ``threshold`` (inside ``region`` = x0, y0, x1, y1 when given)."""
    arr = image.cpu().numpy()
    arr = arr.max(axis=0) if arr.ndim == 3 else arr
    mask = arr > threshold
    if region is not None:
        x0, y0, x1, y1 = region
        keep = np.zeros_like(mask)
        keep[y0:y1, x0:x1] = True
        mask &= keep
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return None
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], np.float64)


# ---------------------------------------------------------------------------- hand-checked geometry
def test_flips_of_a_known_box(device):
    img, tgt = rect_image(20, 30, (2, 5, 8, 10), device=device)
    out, t = T.hflip(img, tgt)
    assert t["boxes"].tolist() == [[22.0, 5.0, 28.0, 10.0]] and t["labels"].tolist() == [7]
    assert out.device == img.device
    np.testing.assert_array_equal(ink_box(out), [22, 5, 28, 10])
    out, t = T.vflip(img, tgt)
    assert t["boxes"].tolist() == [[2.0, 10.0, 8.0, 15.0]]
    np.testing.assert_array_equal(ink_box(out), [2, 10, 8, 15])
    assert tgt["boxes"].tolist() == [[2.0, 5.0, 8.0, 10.0]]  # the input target is not modified
    flip = T.RandomHorizontalFlip(p=1.0)
    assert flip(img, tgt)[1]["boxes"].tolist() == [[22.0, 5.0, 28.0, 10.0]]
    assert T.RandomHorizontalFlip(p=0.0)(img, tgt)[1]["boxes"].tolist() == [[2.0, 5.0, 8.0, 10.0]]


def test_letterbox_numbers(device):
    # 20 x 30 into 60 x 60: ratio 2, resized to 40 x 60, 10 rows of padding above and below
    img, tgt = rect_image(20, 30, (2, 5, 8, 10), device=device)
    out, t, (ratio, pad) = T.letterbox(img, tgt, 60)
    assert out.shape == (1, 60, 60) and ratio == 2.0 and pad == (0, 10)
    assert t["boxes"].tolist() == [[4.0, 20.0, 16.0, 30.0]]
    arr = out.cpu().numpy()[0]
    np.testing.assert_allclose(arr[:10], 114 / 255, rtol=1e-6)
    np.testing.assert_allclose(arr[50:], 114 / 255, rtol=1e-6)
    np.testing.assert_array_equal(ink_box(out, region=(0, 10, 60, 50)), [4, 20, 16, 30])
    # a tall 64 x 32 image into (height 32, width 64): ratio 0.5, resized to 32 x 16, 24 columns of padding left
    img, tgt = rect_image(64, 32, (8, 16, 24, 48), device=device)
    out, t, (ratio, pad) = T.letterbox(img, tgt, (32, 64), fill=0.0)
    assert out.shape == (1, 32, 64) and ratio == 0.5 and pad == (24, 0)
    assert t["boxes"].tolist() == [[28.0, 8.0, 36.0, 24.0]]
    np.testing.assert_array_equal(ink_box(out), [28, 8, 36, 24])
    # mapping back with the returned parameters recovers the original box
    back = (t["boxes"].cpu().numpy() - np.array([pad[0], pad[1]] * 2)) / ratio
    np.testing.assert_allclose(back, [[8, 16, 24, 48]])
    # the transform class stores the parameters; uint8 images get round(114/255 * 255) = 114
    u8 = backprop.tensor(np.zeros((3, 10, 20), np.uint8), device=device)
    out, t = T.Letterbox(40)(
        u8,
        {
            "boxes": backprop.zeros(0, 4, device=device),
            "labels": backprop.zeros(0, dtype=backprop.int64, device=device),
        },
    )
    assert out.dtype == backprop.uint8 and int(out.cpu().numpy()[0, 0, 0]) == 114 and t["letterbox"] == (2.0, (0, 10))
    assert t["boxes"].shape == (0, 4)


def test_resize_scales_boxes(device):
    img, tgt = rect_image(40, 40, (8, 12, 20, 32), device=device)
    out, t = T.resize(img, tgt, (20, 80))
    assert out.shape == (1, 20, 80) and t["boxes"].tolist() == [[16.0, 6.0, 40.0, 16.0]]
    assert np.abs(ink_box(out) - [16, 6, 40, 16]).max() <= 1


def test_mosaic_tiles_hand_checked(device):
    # four 20 x 20 images, one 6 x 4 rectangle each at (4, 6)-(10, 10), into a 40 x 40 mosaic split at (16, 24)
    samples = [rect_image(20, 20, (4, 6, 10, 10), value=v, device=device) for v in (0.25, 0.5, 0.75, 1.0)]
    out, t = T.mosaic(samples, 40, center=(0.4, 0.6), fill=0.0)
    # each image is scaled by 2 (longer side 40): rectangle (8, 12)-(20, 20) in a 40 x 40 image.
    # top-left image: its bottom-right corner at (16, 24) -> offset (-24, -16): box (-16, -4, -4, 4): gone.
    # top-right: top-left corner at (16, -16): box (24, -4, 36, 4) clipped to its tile y >= 0 -> (24, 0, 36, 4):
    # 4 of 8 rows left (50% >= 10%): kept.  bottom-left: offset (-24, 24): box (-16, 36, -4, 44): gone.
    # bottom-right: offset (16, 24): box (24, 36, 36, 44) clipped to y <= 40 -> (24, 36, 36, 40), kept.
    assert t["boxes"].tolist() == [[24.0, 0.0, 36.0, 4.0], [24.0, 36.0, 36.0, 40.0]]
    assert t["labels"].tolist() == [7, 7] and out.device == samples[0][0].device
    arr = out.cpu().numpy()[0]
    # inside the rectangles (bilinear upscaling blends their 1-px rims with the background)
    assert np.allclose(arr[0:3, 25:35], 0.5) and np.allclose(arr[37:40, 25:35], 1.0)
    assert arr[:24, :16].max() == 0  # nothing of the top-left image's rectangle shows
    for box, v in zip(t["boxes"].tolist(), (0.5, 1.0), strict=True):
        np.testing.assert_array_equal(ink_box(out, 0.5 * v, region=tuple(int(c) for c in box)), box)
    with pytest.raises(ValueError, match="4 samples"):
        T.mosaic(samples[:3], 40)


# ---------------------------------------------------------------------------- boxes stay on the ink
def test_random_affine_keeps_boxes_on_the_ink(device):
    rng = np.random.default_rng(0)
    aff = T.RandomAffine(0, translate=(0.2, 0.2), scale=(0.5, 1.5), min_area_ratio=0.0, min_size=1.0)
    checked = 0
    for trial in range(40):
        x0, y0 = rng.integers(0, 30, 2)
        w, h = rng.integers(6, 30, 2)
        img, tgt = rect_image(64, 64, (x0, y0, x0 + w, y0 + h), device=device)
        backprop.manual_seed(trial)
        out, t = aff(img, tgt)
        expected = ink_box(out)
        if expected is None:
            assert t["boxes"].shape == (0, 4) or float((t["boxes"][:, 2:] - t["boxes"][:, :2]).min()) < 2
            continue
        got = t["boxes"].cpu().numpy()
        assert got.shape == (1, 4), (trial, got, expected)
        assert np.abs(got[0] - expected).max() <= 1.0, (trial, got, expected)
        checked += 1
    assert checked > 30


def test_rotation_boxes_contain_the_ink():
    aff = T.RandomAffine(30, min_area_ratio=0.0)
    for trial in range(10):
        img, tgt = rect_image(64, 64, (20, 24, 44, 36))
        backprop.manual_seed(trial)
        out, t = aff(img, tgt)
        box, ink = t["boxes"].numpy()[0], ink_box(out)
        assert (box[:2] <= ink[:2] + 1).all() and (box[2:] >= ink[2:] - 1).all()


def test_letterbox_and_resize_keep_boxes_on_the_ink():
    rng = np.random.default_rng(1)
    for _ in range(10):
        h, w = rng.integers(20, 80, 2)
        x0, y0 = rng.integers(0, w // 2), rng.integers(0, h // 2)
        img, tgt = rect_image(h, w, (x0, y0, x0 + w // 3 + 2, y0 + h // 3 + 2))
        out, t, _ = T.letterbox(img, tgt, 64, fill=0.0)
        assert np.abs(t["boxes"].numpy()[0] - ink_box(out)).max() <= 1.0


# ---------------------------------------------------------------------------- clipping and dropping
def test_clip_and_drop_with_labels():
    boxes = backprop.tensor(
        [
            [-10.0, 2.0, 10.0, 8.0],
            [-19.0, 0.0, 1.0, 10.0],
            [30.0, 5.0, 45.0, 9.0],
            [5.0, 5.0, 6.5, 9.0],
            [60.0, 0.0, 70.0, 5.0],
        ]
    )
    target = {
        "boxes": boxes,
        "labels": backprop.tensor([1, 2, 3, 4, 5]),
        "area": backprop.tensor([120.0, 200.0, 60.0, 6.0, 50.0]),
        "image_id": 9,
    }
    out = T.clip_and_filter(target, boxes.numpy(), 40, 20)
    # box 0 keeps half of its area: clipped; box 1 keeps 5%: dropped; box 2 clipped at x = 40 (10 of 15 wide);
    # box 3 is 1.5 px wide (< 2): dropped; box 4 is outside: dropped
    assert out["boxes"].tolist() == [[0.0, 2.0, 10.0, 8.0], [30.0, 5.0, 40.0, 9.0]]
    assert out["labels"].tolist() == [1, 3] and out["area"].tolist() == [120.0, 60.0] and out["image_id"] == 9
    kept_all = T.clip_and_filter(target, boxes.numpy(), 40, 20, min_area_ratio=0.0, min_size=0.5)
    assert kept_all["labels"].tolist() == [1, 2, 3, 4]
    # a translation that pushes a box mostly out of the image drops it, with its label
    img, tgt = rect_image(32, 32, (0, 10, 4, 20))
    shifted = T.RandomAffine(0, translate=(0.0, 0.0))
    shifted.get_params = lambda w, h: (0.0, (-3.0, 0.0), 1.0, (0.0, 0.0))
    out_img, out_t = shifted(img, tgt)
    assert out_t["boxes"].shape == (0, 4) and out_t["labels"].shape == (0,)
    shifted.get_params = lambda w, h: (0.0, (-2.0, 0.0), 1.0, (0.0, 0.0))
    assert shifted(img, tgt)[1]["boxes"].tolist() == [[0.0, 10.0, 2.0, 20.0]]


def test_sanitize_bounding_boxes():
    target = {
        "boxes": backprop.tensor([[0.0, 0.0, 5.0, 5.0], [1.0, 1.0, 1.5, 9.0], [0.0, 0.0, float("nan"), 3.0]]),
        "labels": backprop.tensor([1, 2, 3]),
    }
    _, out = T.SanitizeBoundingBoxes()(backprop.zeros(1, 10, 10), target)
    assert out["labels"].tolist() == [1]
    with pytest.raises(ValueError, match="min_size"):
        T.SanitizeBoundingBoxes(min_size=0.5)


def test_sanitize_drops_boxes_outside_the_image_and_labels_getter():
    # 10 x 20 image (H x W): a box past x = W, one starting above y = 0, one touching the borders (kept)
    boxes = [[-1.0, 0.0, 5.0, 5.0], [15.0, 2.0, 21.0, 8.0], [2.0, -0.5, 8.0, 6.0], [0.0, 0.0, 20.0, 10.0]]
    target = {
        "boxes": backprop.tensor(boxes),
        "labels": backprop.tensor([1, 2, 3, 4]),
        "area": backprop.tensor([1.0, 2.0, 3.0, 4.0]),
        "image_id": backprop.tensor([7]),
    }
    _, out = T.SanitizeBoundingBoxes()(backprop.zeros(3, 10, 20), target)
    assert out["boxes"].tolist() == [[0.0, 0.0, 20.0, 10.0]]
    assert out["labels"].tolist() == [4] and out["area"].tolist() == [4.0] and out["image_id"].tolist() == [7]
    # labels_getter: a callable names the per-box tensors; None filters only the boxes (and PER_BOX_KEYS)
    target["cls"] = backprop.tensor([5, 6, 7, 8])
    _, out = T.SanitizeBoundingBoxes(labels_getter=lambda inputs: inputs[1]["cls"])(backprop.zeros(10, 20), target)
    assert out["cls"].tolist() == [8] and out["labels"].tolist() == [4]
    _, out = T.SanitizeBoundingBoxes(labels_getter=None)(backprop.zeros(10, 20), target)
    assert out["cls"].tolist() == [5, 6, 7, 8] and out["labels"].tolist() == [4]
    with pytest.raises(ValueError, match="Could not infer where the labels are"):
        T.SanitizeBoundingBoxes()(backprop.zeros(10, 20), {"boxes": backprop.tensor(boxes)})
    with pytest.raises(ValueError, match="labels_getter"):
        T.SanitizeBoundingBoxes(labels_getter="labels")


def test_per_image_entries_pass_through_untouched():
    # one box, and a per-image tensor of one row: only per-box keys are filtered with the boxes
    target = {
        "boxes": backprop.tensor([[1.0, 1.0, 5.0, 5.0]]),
        "labels": backprop.tensor([3]),
        "image_id": backprop.tensor([7]),
        "orig_size": backprop.tensor([[10, 10]]),
    }
    _, out = T.SanitizeBoundingBoxes(min_size=20)(backprop.zeros(1, 10, 10), target)
    assert out["boxes"].shape == (0, 4) and out["labels"].shape == (0,)
    assert out["image_id"].tolist() == [7] and out["orig_size"].tolist() == [[10, 10]]
    out = T.clip_and_filter(target, target["boxes"].numpy() + 100, 10, 10)
    assert out["labels"].shape == (0,) and out["image_id"].tolist() == [7]
    # mosaic: per-box keys concatenated, per-image ones are the first sample's
    samples = []
    for k in range(4):
        img, tgt = rect_image(20, 20, (4, 4, 16, 16))
        tgt["image_id"] = backprop.tensor([k])
        samples.append((img, tgt))
    _, t = T.mosaic(samples, 40, center=(0.5, 0.5), fill=0.0)
    assert t["boxes"].shape == (4, 4) and t["labels"].tolist() == [7, 7, 7, 7] and t["image_id"].tolist() == [0]
    del samples[2][1]["labels"]
    with pytest.raises(ValueError, match=r"mosaic: target\['labels'\].*sample 2"):
        T.mosaic(samples, 40)
    # a per-box entry of the wrong length is an error, not a silent pass-through
    with pytest.raises(ValueError, match=r"target\['labels'\] is per box and must have 1 rows"):
        T.hflip(backprop.zeros(1, 10, 10), {"boxes": target["boxes"], "labels": backprop.tensor([1, 2])})


@pytest.mark.parametrize("key", ["masks", "keypoints"])
def test_masks_and_keypoints_are_refused(key):
    img, tgt = rect_image(10, 10, (1, 1, 5, 5))
    tgt[key] = backprop.zeros(1, 10, 10)
    for transform in (T.hflip, T.RandomAffine(5), T.SanitizeBoundingBoxes(), lambda i, t: T.resize(i, t, (5, 5))):
        with pytest.raises(ValueError, match=f"do not transform target\\['{key}'\\]"):
            transform(img, tgt)


def test_random_affine_fill_is_in_the_image_units():
    shifted = T.RandomAffine(0, fill=114)
    shifted.get_params = lambda w, h: (0.0, (4.0, 0.0), 1.0, (0.0, 0.0))
    img = backprop.full((3, 8, 8), 200, dtype=backprop.uint8)
    out, _ = shifted(img, {"boxes": backprop.zeros(0, 4)})
    arr = out.numpy()
    assert out.dtype == backprop.uint8 and (arr[:, :, :4] == 114).all() and (arr[:, :, 4:] == 200).all()
    shifted.fill = [10, 20, 30]  # one per channel
    arr = shifted(img, {"boxes": backprop.zeros(0, 4)})[0].numpy()
    assert arr[:, 0, 0].tolist() == [10, 20, 30]
    shifted.fill = 0.5  # a float image: the fill is used as is
    arr = shifted(backprop.ones(1, 8, 8), {"boxes": backprop.zeros(0, 4)})[0].numpy()
    assert (arr[:, :, :4] == 0.5).all()
    with pytest.raises(TypeError, match="fill"):
        T.RandomAffine(0, fill="grey")


def test_to_tensor_is_the_image_to_tensor():
    arr = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    target = {"boxes": backprop.zeros(0, 4)}
    out, t = T.ToTensor()(arr, target)
    assert t is target and out.dtype == backprop.float32
    np.testing.assert_array_equal(out.numpy(), backprop.vision.transforms.to_tensor(arr).numpy())
    old = backprop.get_default_dtype()
    backprop.set_default_dtype(backprop.float64)
    try:  # uint8 becomes the default float dtype, as transforms.to_tensor
        assert T.ToTensor()(arr, target)[0].dtype == backprop.float64
    finally:
        backprop.set_default_dtype(old)
    with pytest.raises(ValueError, match="2/3 dimensional"):
        T.ToTensor()(np.zeros(3, np.uint8), target)


def test_bad_inputs():
    img, tgt = rect_image(10, 10, (1, 1, 5, 5))
    with pytest.raises(TypeError, match="Tensor"):
        T.hflip(img.numpy(), tgt)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        T.hflip(img, {"boxes": backprop.zeros(3)})
    with pytest.raises(TypeError, match="'boxes'"):
        T.hflip(img, {"labels": backprop.zeros(3)})
    with pytest.raises(ValueError, match="scale values"):
        T.RandomAffine(0, scale=(0.0, 1.0))
    with pytest.raises(ValueError, match="center should be a sequence of length 2"):
        T.RandomAffine(0, center=(1.0,))  # the image RandomAffine's checks, shared
    with pytest.raises(ValueError, match="1 or 3 channels"):
        T.RandomHSV()(backprop.rand(2, 4, 4), tgt)


# ---------------------------------------------------------------------------- colour
def test_hsv_matches_colorsys(device):
    rng = np.random.default_rng(0)
    rgb = rng.random((3, 5, 7)).astype(np.float32)
    rgb[:, 0, 0] = 0.5  # a grey pixel (no hue)
    rgb[:, 0, 1] = 0.0  # black
    jitter = T.RandomHSV(h=0.1, s=0.5, v=0.3, generator=backprop.Generator().manual_seed(3))
    out, _ = jitter(backprop.tensor(rgb, device=device), {"boxes": backprop.zeros(0, 4)})
    u = T._uniforms(4, backprop.Generator().manual_seed(3))
    dh, gs, gv = (2 * u[1] - 1) * 0.1, 1 + (2 * u[2] - 1) * 0.5, 1 + (2 * u[3] - 1) * 0.3
    expected = np.empty_like(rgb)
    for i in range(5):
        for j in range(7):
            hh, ss, vv = colorsys.rgb_to_hsv(*rgb[:, i, j])
            expected[:, i, j] = colorsys.hsv_to_rgb((hh + dh) % 1.0, min(ss * gs, 1.0), min(vv * gv, 1.0))
    np.testing.assert_allclose(out.cpu().numpy(), expected, atol=1e-5)
    # grey images: only the value gain applies; uint8 stays uint8
    grey = backprop.tensor((rng.random((1, 4, 4)) * 255).astype(np.uint8))
    out, _ = T.RandomHSV(h=0.5, s=0.9, v=0.3, generator=backprop.Generator().manual_seed(3))(
        grey, {"boxes": backprop.zeros(0, 4)}
    )
    assert out.dtype == backprop.uint8
    np.testing.assert_allclose(out.numpy(), np.clip(np.rint(grey.numpy() / 255 * gv * 255), 0, 255), atol=1)
    assert T.RandomHSV(p=0.0)(grey, {"boxes": backprop.zeros(0, 4)})[0] is grey


# ---------------------------------------------------------------------------- randomness
def test_determinism_under_manual_seed_and_generators():
    img, tgt = rect_image(48, 48, (10, 10, 30, 26), channels=3)
    pipeline = T.Compose(
        [T.RandomHorizontalFlip(), T.RandomAffine(10, translate=(0.1, 0.1), scale=(0.5, 1.5)), T.RandomHSV()]
    )
    runs = []
    for _ in range(2):
        backprop.manual_seed(5)
        runs.append([pipeline(img, tgt) for _ in range(3)])
    for (a_img, a_t), (b_img, b_t) in zip(runs[0], runs[1], strict=True):
        np.testing.assert_array_equal(a_img.numpy(), b_img.numpy())
        np.testing.assert_array_equal(a_t["boxes"].numpy(), b_t["boxes"].numpy())
    assert not np.array_equal(runs[0][0][0].numpy(), runs[0][1][0].numpy())
    seeded = [
        T.RandomAffine(0, scale=(0.5, 1.5), generator=backprop.Generator().manual_seed(11))(img, tgt)[1][
            "boxes"
        ].tolist()
        for _ in range(2)
    ]
    assert seeded[0] == seeded[1]


class Rects:
    """A tiny detection dataset: image i has one rectangle of value (i + 1) / 8."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int):
        img, tgt = rect_image(32, 32, (4 + i, 6, 20 + i, 22), value=(i + 1) / 8)
        tgt["labels"] = backprop.tensor([i])
        return img, tgt


def test_mosaic_dataset_and_dataloader():
    ds = T.Mosaic(Rects(), p=1.0, generator=backprop.Generator().manual_seed(0), transform=T.RandomHorizontalFlip(0.0))
    assert len(ds) == 8 and ds.size == (32, 32)
    for i in range(8):
        image, target = ds[i]
        assert image.shape == (1, 32, 32)
        boxes, labels = target["boxes"].numpy(), target["labels"].numpy()
        assert len(boxes) == len(labels)
        for box, label in zip(boxes, labels, strict=True):
            v = (label + 1) / 8
            region = (int(np.floor(box[0])), int(np.floor(box[1])), int(np.ceil(box[2])), int(np.ceil(box[3])))
            ink = ink_box(image, 0.5 * v, region=region)
            assert ink is not None and np.abs(ink - box).max() <= 1.0
    plain = T.Mosaic(Rects(), size=64, p=0.0)
    image, target = plain[2]
    assert image.shape == (1, 64, 64) and target["boxes"].tolist() == [[12.0, 12.0, 44.0, 44.0]]
    loader = DataLoader(ds, batch_size=4, collate_fn=detection_collate)
    images, targets = next(iter(loader))
    assert images.shape == (4, 1, 32, 32) and len(targets) == 4
    with pytest.raises(ValueError, match="center_range"):
        T.Mosaic(Rects(), center_range=(0.8, 0.2))


def test_random_affine_image_is_the_classification_affine():
    """The pixels are torchvision's affine (a positive angle turns clockwise); only the boxes are new."""
    from backprop import transforms as C

    img, tgt = rect_image(40, 40, (10, 12, 30, 20))
    aff = T.RandomAffine((25, 25), translate=None, scale=(1.2, 1.2), min_area_ratio=0.0)
    out, t = aff(img, tgt)
    np.testing.assert_array_equal(out.numpy(), C.affine(img, 25.0, [0, 0], 1.2, [0.0, 0.0]).numpy())
    # the box holds the rotated rectangle's corners: clockwise on screen (y down), about the centre (20, 20)
    a = np.radians(25.0)
    corners = np.array([[10, 12], [30, 12], [30, 20], [10, 20]], np.float64) - 20
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])  # x right, y down: clockwise
    moved = corners @ rot.T * 1.2 + 20
    np.testing.assert_allclose(t["boxes"].numpy()[0], [*moved.min(0), *moved.max(0)], atol=1e-4)
    ink = ink_box(out)
    assert np.abs(ink - t["boxes"].numpy()[0]).max() <= 1.5


# ---------------------------------------------------------------------------- the old import paths
def test_old_import_paths_are_the_moved_modules(monkeypatch):
    import backprop.datasets.mnist as old_mnist
    from backprop.datasets._vision import ImageClassificationDataset

    import backprop.transforms as old_transforms
    import backprop.vision.datasets as vd
    import backprop.vision.transforms as vt
    from backprop.transforms import RandomAffine, affine

    assert old_transforms is vt.transforms and backprop.transforms is vt.transforms
    assert RandomAffine is vt.RandomAffine and affine is vt.functional.affine
    assert (
        old_mnist is vd.mnist
        and backprop.datasets.MNIST is vd.MNIST
        and issubclass(vd.Digits, ImageClassificationDataset)
    )
    # a patch through the old path reaches code reached through the new one
    monkeypatch.setattr(backprop.transforms, "_uniform", lambda low, high: low)
    assert vt.RandomRotation((10, 20)).get_params([10.0, 20.0]) == 10.0


@pytest.mark.parametrize(
    ("kwargs", "params"),
    [
        ({"scale": (1.5, 1.5), "center": (10, 30)}, (0.0, [0, 0], 1.5, [0.0, 0.0], [10, 30])),
        ({"shear": (20, 20, 0, 0)}, (0.0, [0, 0], 1.0, [20.0, 0.0], None)),
        ({"shear": (0, 0, -15, -15), "scale": (0.8, 0.8)}, (0.0, [0, 0], 0.8, [0.0, -15.0], None)),
        ({"degrees": (-40, -40), "center": (5, 5)}, (-40.0, [0, 0], 1.0, [0.0, 0.0], [5, 5])),
    ],
)
def test_random_affine_centre_and_shear(kwargs, params):
    from backprop import transforms as C

    img, tgt = rect_image(40, 40, (10, 12, 30, 20))
    kwargs = {"degrees": (0, 0), "min_area_ratio": 0.0, "min_size": 0.0, **kwargs}
    degrees = kwargs.pop("degrees")
    out, t = T.RandomAffine(degrees, **kwargs)(img, tgt)
    angle, translate, scale, shear, center = params
    np.testing.assert_array_equal(out.numpy(), C.affine(img, angle, translate, scale, shear, center=center).numpy())
    assert np.abs(t["boxes"].numpy()[0] - ink_box(out)).max() <= 1.5
