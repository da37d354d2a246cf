"""backprop.vision.utils against torchvision.utils' documented behaviour: make_grid's layout
against an independent NumPy tiling, save_image's bytes, and the drawings' pixels checked by hand
(box outlines on the edge pixels, interiors untouched, fills blended at alpha 100/255, masks
blended with alpha, keypoints and their connections), with torchvision's error types."""

from __future__ import annotations

import io
import math
import sys

import numpy as np
import pytest

import backprop
from backprop.vision import utils

Image = pytest.importorskip("PIL.Image")


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy()


# ---------------------------------------------------------------------------- make_grid
def _grid_reference(batch: np.ndarray, nrow: int, padding: int, pad_value: float) -> np.ndarray:
    """torchvision's documented layout, cell by cell: (B, C, H, W) -> (C, rows*(H+p)+p, cols*(W+p)+p)."""
    b, c, h, w = batch.shape
    cols = min(nrow, b)
    rows = math.ceil(b / cols)
    out = np.full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value, dtype=batch.dtype)
    for k in range(b):
        y, x = divmod(k, cols)
        top, left = y * (h + padding) + padding, x * (w + padding) + padding
        out[:, top : top + h, left : left + w] = batch[k]
    return out


@pytest.mark.parametrize(
    "b,nrow,padding,pad_value",
    [(5, 2, 1, -1.0), (8, 8, 2, 0.0), (7, 3, 0, 0.5), (3, 8, 4, 1.0), (6, 1, 2, 0.25), (4, 2, 2, 0.0)],
)
def test_make_grid_layout_matches_the_reference(device, b, nrow, padding, pad_value):
    rng = np.random.default_rng(b * 10 + nrow)
    x = rng.standard_normal((b, 3, 4, 5)).astype(np.float32)
    got = utils.make_grid(backprop.tensor(x, device=device), nrow=nrow, padding=padding, pad_value=pad_value)
    assert got.device.type == backprop.device(device).type
    np.testing.assert_array_equal(_np(got), _grid_reference(x, nrow, padding, pad_value))


def test_make_grid_hand_checked_numbers():
    # 5 images of 2x3, 2 per row, padding 1: (3 rows * 3 + 1) x (2 cols * 4 + 1) = 10 x 9
    x = backprop.arange(30, dtype=backprop.float32).reshape(5, 1, 2, 3)
    g = utils.make_grid(x, nrow=2, padding=1, pad_value=-1)
    assert tuple(g.shape) == (3, 10, 9)  # one channel is repeated into three
    assert (_np(g)[0] == _np(g)[1]).all() and (_np(g)[0] == _np(g)[2]).all()
    top = _np(g)[0, :3]
    np.testing.assert_array_equal(top, [[-1] * 9, [-1, 0, 1, 2, -1, 6, 7, 8, -1], [-1, 3, 4, 5, -1, 9, 10, 11, -1]])
    assert (_np(g)[0, 7:9, 5:8] == -1).all()  # the empty sixth cell is padding


def test_make_grid_inputs_of_other_ranks_and_lists():
    img = backprop.rand(3, 4, 5)
    np.testing.assert_array_equal(_np(utils.make_grid(img)), _np(img))  # one image: no padding
    gray = backprop.rand(4, 5)
    assert tuple(utils.make_grid(gray).shape) == (3, 4, 5)
    one = backprop.rand(1, 4, 5)
    np.testing.assert_array_equal(_np(utils.make_grid(one))[2], _np(one)[0])
    imgs = [backprop.rand(3, 4, 5) for _ in range(3)]
    np.testing.assert_array_equal(_np(utils.make_grid(imgs, nrow=2)), _grid_reference(np.stack([_np(t) for t in imgs]), 2, 2, 0.0))
    u8 = backprop.randint(0, 256, (2, 3, 2, 2), dtype=backprop.uint8)
    g = utils.make_grid(u8, pad_value=255)
    assert g.dtype == backprop.uint8
    np.testing.assert_array_equal(_np(g), _grid_reference(_np(u8), 8, 2, 255))


def test_make_grid_normalize():
    x = np.array([[[[0.0, 2.0], [4.0, 8.0]]], [[[-1.0, 1.0], [1.0, 3.0]]]], dtype=np.float32)
    t = backprop.tensor(x)
    got = _np(utils.make_grid(t, normalize=True, padding=0))[0]  # whole batch: min -1, max 8
    np.testing.assert_allclose(got, np.concatenate([(x[0, 0] + 1) / 9, (x[1, 0] + 1) / 9], axis=1), rtol=1e-6)
    got = _np(utils.make_grid(t, normalize=True, scale_each=True, padding=0))[0]  # each image alone
    np.testing.assert_allclose(got, np.concatenate([x[0, 0] / 8, (x[1, 0] + 1) / 4], axis=1), rtol=1e-6)
    got = _np(utils.make_grid(t, normalize=True, value_range=(0.0, 2.0), padding=0))[0]  # clamped to the range
    np.testing.assert_allclose(got, np.concatenate([np.clip(x[0, 0], 0, 2) / 2, np.clip(x[1, 0], 0, 2) / 2], axis=1))
    np.testing.assert_array_equal(_np(t), x)  # the input is not modified
    const = backprop.full((2, 3, 2, 2), 5.0)
    assert np.isfinite(_np(utils.make_grid(const, normalize=True))).all()  # max - min = 0 divides by 1e-5


def test_make_grid_is_differentiable():
    x = backprop.rand(3, 3, 4, 4, requires_grad=True)
    w = backprop.rand(3, 2 * (4 + 2) + 2, 2 * (4 + 2) + 2)
    (utils.make_grid(x, nrow=2) * w).sum().backward()
    want = np.stack([_np(w)[:, 2 + r * 6 : 6 + r * 6, 2 + c * 6 : 6 + c * 6] for r, c in ((0, 0), (0, 1), (1, 0))])
    np.testing.assert_allclose(_np(x.grad), want)


def test_make_grid_errors():
    with pytest.raises(TypeError, match="tensor or list of tensors expected"):
        utils.make_grid(np.zeros((2, 3, 4, 4)))
    with pytest.raises(TypeError, match="a list containing"):
        utils.make_grid([backprop.rand(3, 2, 2), np.zeros((3, 2, 2))])
    with pytest.raises(TypeError, match="value_range has to be a tuple"):
        utils.make_grid(backprop.rand(2, 3, 2, 2), normalize=True, value_range=[0, 1])


# ---------------------------------------------------------------------------- save_image
def test_save_image_writes_the_grid_scaled_to_bytes(tmp_path):
    x = backprop.rand(4, 3, 6, 5)
    path = tmp_path / "grid.png"
    utils.save_image(x, path, nrow=2, padding=1)
    got = np.asarray(Image.open(path))
    grid = _grid_reference(_np(x), 2, 1, 0.0)
    want = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    np.testing.assert_array_equal(got, want)
    buf = io.BytesIO()
    utils.save_image(x[0], buf, format="png")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(buf.getvalue()))), np.clip(_np(x[0]) * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0))


# ---------------------------------------------------------------------------- draw_bounding_boxes
def _canvas(device, value=0, shape=(3, 12, 14)):
    return backprop.full(shape, value, dtype=backprop.uint8, device=device)


def test_box_outline_pixels_and_untouched_interior(device):
    img = _canvas(device, 10)
    out = utils.draw_bounding_boxes(img, backprop.tensor([[2, 3, 8, 7]], device=device), colors=(255, 0, 0))
    assert out.dtype == backprop.uint8 and tuple(out.shape) == (3, 12, 14) and out.device == img.device
    o = _np(out)
    ring = np.zeros((12, 14), bool)
    ring[3, 2:9] = ring[7, 2:9] = ring[3:8, 2] = ring[3:8, 8] = True  # xyxy inclusive, one pixel wide
    assert (o[0][ring] == 255).all() and (o[1][ring] == 0).all() and (o[2][ring] == 0).all()
    assert (o[:, ~ring] == 10).all()  # interior and outside untouched
    assert (_np(img) == 10).all()  # the input image is not modified


def test_box_width_grows_inwards_and_float_coordinates_truncate():
    out = _np(utils.draw_bounding_boxes(_canvas("cpu"), backprop.tensor([[2.9, 3.2, 9.99, 9.5]]), colors="white", width=2))[0]
    ring = np.zeros((12, 14), bool)
    ring[3:10, 2:10] = True
    ring[5:8, 4:8] = False  # box (2, 3, 9, 9) after truncation, a two-pixel outline inside it
    np.testing.assert_array_equal(out == 255, ring)


def test_filled_box_blends_the_colour_at_alpha_100():
    img = _canvas("cpu", 0)
    o = _np(utils.draw_bounding_boxes(img, backprop.tensor([[1, 1, 10, 8]]), colors="blue", fill=True))
    assert (o[2, 1, 1:11] == 255).all()  # the outline is opaque
    inner = o[:, 2:8, 2:10]
    assert (np.abs(inner[2].astype(int) - round(255 * 100 / 255)) <= 1).all()  # 255 * 100/255 over black
    assert (inner[:2] == 0).all()
    assert (o[:, 9:, :] == 0).all()


def test_default_palette_and_several_colours():
    boxes = backprop.tensor([[0, 0, 3, 3], [5, 5, 9, 9], [10, 1, 13, 4]])
    o = _np(utils.draw_bounding_boxes(_canvas("cpu", 7), boxes))
    primes = (2**25 - 1, 2**15 - 1, 2**21 - 1)
    for i, (x, y) in enumerate(((0, 0), (5, 5), (10, 1))):
        assert tuple(o[:, y, x]) == tuple((i * p) % 255 for p in primes)
    o = _np(utils.draw_bounding_boxes(_canvas("cpu"), boxes, colors=["red", "#00FF00", (1, 2, 3)]))
    assert tuple(o[:, 0, 0]) == (255, 0, 0) and tuple(o[:, 5, 5]) == (0, 255, 0) and tuple(o[:, 1, 10]) == (1, 2, 3)


def test_grayscale_and_float_images():
    gray = backprop.full((1, 12, 14), 50, dtype=backprop.uint8)
    o = _np(utils.draw_bounding_boxes(gray, backprop.tensor([[2, 2, 6, 6]]), colors="red"))
    assert o.shape == (3, 12, 14)
    assert tuple(o[:, 2, 2]) == (255, 0, 0) and tuple(o[:, 4, 4]) == (50, 50, 50)
    img = backprop.full((3, 12, 14), 0.5, dtype=backprop.float64)
    out = utils.draw_bounding_boxes(img, backprop.tensor([[2, 2, 6, 6]]), colors="red")
    assert out.dtype == backprop.float64
    o = _np(out)
    assert tuple(o[:, 2, 2]) == (1.0, 0.0, 0.0)
    np.testing.assert_allclose(o[:, 4, 4], 127 / 255)  # 0.5 -> uint8 127 (torchvision's scaling) -> back to float


def test_labels_are_written_inside_the_top_left_corner():
    img = _canvas("cpu", 0, (3, 40, 60))
    box = backprop.tensor([[2, 2, 55, 35]])
    o = _np(utils.draw_bounding_boxes(img, box, labels=["Hi"], colors="red", label_colors="lime"))
    text = o[1] > 0
    assert text.any()  # the label pixels are green (anti-aliased), the outline red
    ys, xs = np.nonzero(text)
    assert ys.min() >= 2 + 2 and xs.min() >= 2 + 2  # margin = width + 1 from the corner
    plain = _np(utils.draw_bounding_boxes(img, box, colors="red"))
    assert not (plain[1] > 0).any()
    filled = _np(utils.draw_bounding_boxes(img, box, labels=["Hi"], colors="red", label_colors="lime", fill_labels=True))
    assert (filled[0, 4:8, 4:8] == 255).sum() > (o[0, 4:8, 4:8] == 255).sum()  # a red background behind the text


def test_quadrilateral_boxes():
    o = _np(utils.draw_bounding_boxes(_canvas("cpu"), backprop.tensor([[2, 2, 10, 2, 10, 9, 2, 9]]), colors="white"))[0]
    assert (o[2, 2:11] == 255).all() and (o[9, 2:11] == 255).all() and (o[2:10, 2] == 255).all()
    assert (o[4:8, 4:8] == 0).all()


def test_draw_bounding_boxes_errors_and_warnings():
    boxes = backprop.tensor([[1, 1, 4, 4]])
    with pytest.raises(TypeError):
        utils.draw_bounding_boxes(np.zeros((3, 8, 8), np.uint8), boxes)
    with pytest.raises(ValueError, match="uint8 or float"):
        utils.draw_bounding_boxes(backprop.zeros(3, 8, 8, dtype=backprop.int32), boxes)
    with pytest.raises(ValueError, match="not batches"):
        utils.draw_bounding_boxes(backprop.zeros(1, 3, 8, 8, dtype=backprop.uint8), boxes)
    with pytest.raises(ValueError, match="grayscale"):
        utils.draw_bounding_boxes(backprop.zeros(2, 8, 8, dtype=backprop.uint8), boxes)
    img = backprop.zeros(3, 8, 8, dtype=backprop.uint8)
    with pytest.raises(ValueError, match="xmin, ymin, xmax, ymax"):
        utils.draw_bounding_boxes(img, backprop.tensor([[5, 1, 4, 4]]))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        utils.draw_bounding_boxes(img, backprop.tensor([1, 1, 4, 4]))
    with pytest.raises(ValueError, match=r"Number of boxes \(1\) and labels \(2\) mismatch"):
        utils.draw_bounding_boxes(img, boxes, labels=["a", "b"])
    with pytest.raises(ValueError, match="Number of colors"):
        utils.draw_bounding_boxes(img, backprop.tensor([[1, 1, 4, 4], [2, 2, 5, 5]]), colors=["red"])
    with pytest.raises(ValueError, match="RGB triplet"):
        utils.draw_bounding_boxes(img, boxes, colors=(1, 2))
    with pytest.raises(ValueError, match="must be a tuple or a string"):
        utils.draw_bounding_boxes(img, boxes, colors=5)
    with pytest.warns(UserWarning, match="No box was drawn"):
        assert utils.draw_bounding_boxes(img, backprop.zeros(0, 4)) is img
    with pytest.warns(UserWarning, match="font_size"):
        utils.draw_bounding_boxes(img, boxes, font_size=12)


def test_missing_pillow_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"pip install 'backprop\[vision\]'"):
        utils.draw_bounding_boxes(backprop.zeros(3, 4, 4, dtype=backprop.uint8), backprop.tensor([[0, 0, 1, 1]]))


# ---------------------------------------------------------------------------- masks and keypoints
def test_segmentation_masks_blend_by_hand(device):
    img = backprop.full((3, 4, 5), 100, dtype=backprop.uint8, device=device)
    masks = backprop.zeros(2, 4, 5, dtype=backprop.bool, device=device)
    masks[0, :2] = True
    masks[1, 1:3] = True
    out = utils.draw_segmentation_masks(img, masks, alpha=0.5, colors=["red", (0, 0, 200)])
    assert out.dtype == backprop.uint8 and out.device == img.device
    o = _np(out)
    assert tuple(o[:, 0, 0]) == (177, 50, 50)  # 100 * 0.5 + (255, 0, 0) * 0.5, truncated
    assert tuple(o[:, 1, 0]) == (50, 50, 50)  # both masks: drawn black
    assert tuple(o[:, 2, 0]) == (50, 50, 150)
    assert tuple(o[:, 3, 0]) == (100, 100, 100)  # no mask: 100 * 0.5 + 100 * 0.5
    f = _np(utils.draw_segmentation_masks(img.float() / 255, masks[0], alpha=1.0, colors="red"))
    np.testing.assert_allclose(f[:, 0, 0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(f[:, 3, 0], 100 / 255, rtol=1e-6)


def test_segmentation_masks_errors():
    img = backprop.zeros(3, 4, 5, dtype=backprop.uint8)
    with pytest.raises(ValueError, match="RGB"):
        utils.draw_segmentation_masks(backprop.zeros(1, 4, 5, dtype=backprop.uint8), backprop.zeros(4, 5, dtype=backprop.bool))
    with pytest.raises(ValueError, match="dtype bool"):
        utils.draw_segmentation_masks(img, backprop.zeros(4, 5))
    with pytest.raises(ValueError, match="same height and width"):
        utils.draw_segmentation_masks(img, backprop.zeros(4, 4, dtype=backprop.bool))
    with pytest.raises(ValueError, match="masks must be of shape"):
        utils.draw_segmentation_masks(img, backprop.zeros(1, 1, 4, 5, dtype=backprop.bool))
    with pytest.warns(UserWarning, match="No mask was drawn"):
        assert utils.draw_segmentation_masks(img, backprop.zeros(0, 4, 5, dtype=backprop.bool)) is img


def test_keypoints_circles_visibility_and_connections():
    img = backprop.zeros(3, 20, 20, dtype=backprop.uint8)
    kpts = backprop.tensor([[[4.0, 4.0], [15.0, 4.0], [10.0, 15.0]]])
    o = _np(utils.draw_keypoints(img, kpts, colors="red", radius=2))
    assert tuple(o[:, 4, 4]) == (255, 0, 0) and tuple(o[:, 4, 15]) == (255, 0, 0) and tuple(o[:, 15, 10]) == (255, 0, 0)
    assert (o[:, 10, :] == 0).all()  # nothing between the points without connectivity
    vis = backprop.tensor([[True, False, True]])
    o = _np(utils.draw_keypoints(img, kpts, connectivity=[(0, 1), (0, 2)], colors="red", radius=1, width=1, visibility=vis))
    assert tuple(o[:, 4, 15]) == (0, 0, 0)  # invisible: not drawn, nor its connection
    assert (o[:, 4, 8:14] == 0).all()
    assert (o[:, 9, 6:9] == 255).any()  # the line from (4, 4) to (10, 15), white (Pillow's default ink)
    f = utils.draw_keypoints(img.float(), kpts, colors="blue")
    assert f.dtype == backprop.float32 and _np(f)[2, 4, 4] == 1.0


def test_keypoints_errors():
    img = backprop.zeros(3, 8, 8, dtype=backprop.uint8)
    with pytest.raises(ValueError, match="num_instances, K, 2"):
        utils.draw_keypoints(img, backprop.zeros(3, 2))
    with pytest.raises(ValueError, match="visibility must be of shape"):
        utils.draw_keypoints(img, backprop.zeros(1, 3, 2), visibility=backprop.ones(3, dtype=backprop.bool))
    with pytest.raises(ValueError, match="same dimensionality"):
        utils.draw_keypoints(img, backprop.zeros(1, 3, 2), visibility=backprop.ones(1, 2, dtype=backprop.bool))
    with pytest.raises(TypeError):
        utils.draw_keypoints(np.zeros((3, 8, 8)), backprop.zeros(1, 3, 2))
