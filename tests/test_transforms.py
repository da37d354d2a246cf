"""backprop.transforms: ToTensor/Normalize/Pad/crops/flips against torch computations, the affine
and rotation resampling against torchvision's algorithm rebuilt from ``torch.nn.functional.grid_sample``,
geometric facts (quarter turns, integer shifts), random parameters' ranges, and reproducibility under
``backprop.manual_seed`` and in DataLoader worker threads.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as tnf

import backprop
from backprop import transforms as T  # noqa: N812 - the usual alias
from backprop.utils.data import DataLoader, Dataset


def u8(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# ---------------------------------------------------------------------------- ToTensor / Normalize
@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3), (4, 4, 1)])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_to_tensor_uint8(shape, as_tensor):
    arr = u8(shape)
    out = T.ToTensor()(backprop.from_numpy(arr) if as_tensor else arr)
    hwc = arr if arr.ndim == 3 else arr[:, :, None]
    expected = torch.from_numpy(hwc.transpose(2, 0, 1).copy()).to(torch.float32).div(255)
    assert isinstance(out, backprop.Tensor) and out.dtype == backprop.float32
    assert tuple(out.shape) == tuple(expected.shape)
    np.testing.assert_array_equal(out.numpy(), expected.numpy())


def test_to_tensor_keeps_float_values_and_follows_default_dtype():
    arr = np.random.default_rng(1).random((3, 4)).astype(np.float64)
    out = T.to_tensor(arr)
    assert out.dtype == backprop.float64 and tuple(out.shape) == (1, 3, 4)
    np.testing.assert_array_equal(out.numpy()[0], arr)
    backprop.set_default_dtype(backprop.float64)
    assert T.to_tensor(u8((2, 2))).dtype == backprop.float64


def test_to_tensor_errors():
    with pytest.raises(TypeError):
        T.ToTensor()([[1, 2]])
    with pytest.raises(ValueError, match="2/3 dimensional"):
        T.ToTensor()(np.zeros(3, np.uint8))


@pytest.mark.parametrize("inplace", [False, True])
def test_normalize_matches_torch(inplace):
    x = np.random.default_rng(2).random((2, 3, 4, 5)).astype(np.float32)
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    ours_in = backprop.from_numpy(x.copy())
    ours = T.Normalize(mean, std, inplace=inplace)(ours_in)
    theirs = (torch.from_numpy(x) - torch.tensor(mean).view(-1, 1, 1)) / torch.tensor(std).view(-1, 1, 1)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
    assert ours.dtype == backprop.float32
    assert (ours is ours_in) == inplace
    if not inplace:
        np.testing.assert_array_equal(ours_in.numpy(), x)


def test_normalize_single_channel_and_errors():
    x = backprop.ones(1, 2, 2)
    np.testing.assert_allclose(T.Normalize((0.5,), (0.5,))(x).numpy(), np.ones((1, 2, 2)))
    with pytest.raises(TypeError, match="float tensor"):
        T.Normalize([0.0], [1.0])(backprop.ones(1, 2, 2, dtype=backprop.uint8))
    with pytest.raises(ValueError, match="tensor image of size"):
        T.Normalize([0.0], [1.0])(backprop.ones(2, 2))
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize([0.0], [0.0])(x)
    with pytest.raises(TypeError):
        T.Normalize([0.0], [1.0])(np.ones((1, 2, 2), np.float32))
    assert repr(T.Normalize((0.1,), (0.3,))) == "Normalize(mean=(0.1,), std=(0.3,))"


# ---------------------------------------------------------------------------- Pad / crops / flips
@pytest.mark.parametrize("padding", [1, (2,), (1, 2), (0, 1, 2, 3), (3, 0, 1, 2)])
@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_pad_matches_torch(padding, mode):
    arr = np.random.default_rng(3).random((2, 5, 6)).astype(np.float32)
    out = T.Pad(padding, fill=7, padding_mode=mode)(backprop.from_numpy(arr))
    if isinstance(padding, int):
        left = top = right = bottom = padding
    elif len(padding) == 1:
        left = top = right = bottom = padding[0]
    elif len(padding) == 2:
        left, top = padding
        right, bottom = padding
    else:
        left, top, right, bottom = padding
    if mode == "symmetric":
        expected = np.pad(arr, [(0, 0), (top, bottom), (left, right)], mode="symmetric")
    else:
        torch_mode = {"constant": "constant", "edge": "replicate", "reflect": "reflect"}[mode]
        kwargs = {"value": 7.0} if mode == "constant" else {}
        expected = tnf.pad(torch.from_numpy(arr)[None], (left, right, top, bottom), mode=torch_mode, **kwargs)[
            0
        ].numpy()
    np.testing.assert_array_equal(out.numpy(), expected)


def test_pad_keeps_type_and_dtype_and_validates():
    arr = u8((3, 3))
    out = T.Pad(1, fill=255)(arr)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == (5, 5)
    assert out[0, 0] == 255 and np.array_equal(out[1:-1, 1:-1], arr)
    with pytest.raises(ValueError, match="Padding mode"):
        T.Pad(1, padding_mode="wrap")
    with pytest.raises(ValueError, match="3 element tuple"):
        T.Pad((1, 2, 3))
    with pytest.raises(TypeError, match="padding"):
        T.Pad("1")


@pytest.mark.parametrize(
    "shape, size, rows, cols",
    [
        ((5, 5), 3, slice(1, 4), slice(1, 4)),
        ((6, 6), 3, slice(2, 5), slice(2, 5)),
        ((6, 8), (2, 4), slice(2, 4), slice(2, 6)),
    ],
)
def test_center_crop(shape, size, rows, cols):
    arr = np.arange(np.prod(shape)).reshape(shape)
    out = T.CenterCrop(size)(backprop.from_numpy(arr))
    np.testing.assert_array_equal(out.numpy(), arr[rows, cols])


def test_center_crop_larger_than_image_pads_with_zeros():
    arr = np.ones((2, 3), np.float32)
    out = T.CenterCrop((4, 6))(arr)
    expected = np.zeros((4, 6), np.float32)
    expected[1:3, 1:4] = 1
    np.testing.assert_array_equal(out, expected)


def test_random_crop_is_a_window_and_covers_all_offsets():
    arr = np.arange(36).reshape(6, 6)
    crop = T.RandomCrop(4)
    seen = set()
    for _ in range(300):
        out = crop(backprop.from_numpy(arr)).numpy()
        i, j = divmod(int(out[0, 0]), 6)
        np.testing.assert_array_equal(out, arr[i : i + 4, j : j + 4])
        seen.add((i, j))
    assert seen == {(i, j) for i in range(3) for j in range(3)}


def test_random_crop_padding_and_pad_if_needed():
    arr = np.full((1, 28, 28), 9, np.uint8)
    out = T.RandomCrop(28, padding=4)(backprop.from_numpy(arr))
    assert tuple(out.shape) == (1, 28, 28) and out.dtype == backprop.uint8
    outs = [T.RandomCrop(28, padding=4)(arr) for _ in range(20)]
    assert any((o == 0).any() for o in outs)
    grown = T.RandomCrop((5, 7), pad_if_needed=True, fill=1)(np.zeros((3, 4), np.float32))
    assert grown.shape == (5, 7) and grown.sum() == 5 * 7 - 3 * 4
    with pytest.raises(ValueError, match="larger than input image size"):
        T.RandomCrop(8)(np.zeros((4, 4)))
    assert T.RandomCrop.get_params(np.zeros((4, 4)), (4, 4)) == (0, 0, 4, 4)


def test_flips():
    arr = np.arange(12).reshape(1, 3, 4)
    t = backprop.from_numpy(arr)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(t).numpy(), torch.from_numpy(arr).flip(-1).numpy())
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(t).numpy(), torch.from_numpy(arr).flip(-2).numpy())
    assert T.RandomHorizontalFlip(p=0.0)(t) is t
    flipped = sum(int(T.RandomHorizontalFlip()(arr)[0, 0, 0] == 3) for _ in range(1000))
    assert 430 < flipped < 570


# ---------------------------------------------------------------------------- affine / rotation
def torch_grid_transform(img: np.ndarray, matrix, mode: str, fill, out_hw=None) -> np.ndarray:
    """torchvision's tensor ``affine``/``rotate`` resampling, rebuilt from torch primitives."""
    x = torch.from_numpy(img)
    squeeze = x.ndim == 3
    x = x[None] if squeeze else x
    out_dtype = x.dtype
    dtype = x.dtype if x.is_floating_point() else torch.float32
    x = x.to(dtype)
    h, w = x.shape[-2:]
    oh, ow = out_hw or (h, w)
    theta = torch.tensor(matrix, dtype=dtype).reshape(1, 2, 3)
    base = torch.empty(1, oh, ow, 3, dtype=dtype)
    base[..., 0].copy_(torch.linspace(-ow * 0.5 + 0.5, ow * 0.5 - 0.5, steps=ow))
    base[..., 1].copy_(torch.linspace(-oh * 0.5 + 0.5, oh * 0.5 - 0.5, steps=oh).unsqueeze_(-1))
    base[..., 2].fill_(1)
    grid = base.view(1, oh * ow, 3).bmm(theta.transpose(1, 2) / torch.tensor([0.5 * w, 0.5 * h], dtype=dtype))
    grid = grid.view(1, oh, ow, 2).expand(x.shape[0], oh, ow, 2)
    x = torch.cat((x, torch.ones((x.shape[0], 1, h, w), dtype=dtype)), dim=1)
    y = tnf.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)
    mask, y = y[:, -1:], y[:, :-1]
    mask = mask.expand_as(y)
    fill_img = torch.tensor(fill, dtype=dtype).view(1, len(fill), 1, 1).expand_as(y)
    if mode == "nearest":
        y[mask < 0.5] = fill_img[mask < 0.5]
    else:
        y = y * mask + (1.0 - mask) * fill_img
    y = y[0] if squeeze else y
    if not out_dtype.is_floating_point:
        y = torch.round(y)
    return y.to(out_dtype).numpy()


AFFINE_CASES = [
    (30.0, (0, 0), 1.0, (0.0, 0.0)),
    (-45.0, (2, -1), 1.0, (0.0, 0.0)),
    (12.5, (1, 3), 0.8, (0.0, 0.0)),
    (170.0, (-3, 2), 1.3, (10.0, -5.0)),
    (0.0, (0, 0), 1.1, (20.0, 0.0)),
]


@pytest.mark.parametrize("angle, translate, scale, shear", AFFINE_CASES)
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_affine_matches_torchvision_algorithm(angle, translate, scale, shear, mode, dtype):
    img = (np.random.default_rng(4).random((3, 11, 14)) * 255).astype(dtype)
    fill = [10.0, 20.0, 30.0]
    ours = T.affine(
        backprop.from_numpy(img), angle, list(translate), scale, list(shear), T.InterpolationMode(mode), fill
    )
    matrix = T._get_inverse_affine_matrix([0.0, 0.0], angle, [float(t) for t in translate], scale, list(shear))
    theirs = torch_grid_transform(img, matrix, mode, fill)
    assert ours.dtype == backprop.from_numpy(img).dtype
    np.testing.assert_allclose(ours.numpy().astype(np.float64), theirs.astype(np.float64), atol=1e-3)


@pytest.mark.parametrize("angle", [33.0, -120.0, 90.0])
@pytest.mark.parametrize("expand", [False, True])
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_rotate_matches_torchvision_algorithm(angle, expand, mode):
    img = (np.random.default_rng(5).random((2, 9, 13)) * 255).astype(np.float32)
    ours = T.rotate(backprop.from_numpy(img), angle, mode, expand, None, [0.0, 0.0])
    matrix = T._get_inverse_affine_matrix([0.0, 0.0], -angle, [0.0, 0.0], 1.0, [0.0, 0.0])
    out_hw = None
    if expand:
        ow, oh = T._affine_output_size(matrix, 13, 9)
        out_hw = (oh, ow)
    theirs = torch_grid_transform(img, matrix, mode, [0.0, 0.0], out_hw)
    assert tuple(ours.shape) == theirs.shape
    np.testing.assert_allclose(ours.numpy(), theirs, atol=1e-3)


def test_rotation_and_translation_geometry():
    square = np.arange(25, dtype=np.float32).reshape(5, 5)
    np.testing.assert_array_equal(T.rotate(square, 90.0), np.rot90(square, 1))  # counter-clockwise
    np.testing.assert_array_equal(T.affine(square, 90.0, [0, 0], 1.0, 0.0), np.rot90(square, -1))  # clockwise
    rect = np.arange(24, dtype=np.float32).reshape(4, 6)
    np.testing.assert_array_equal(T.rotate(rect, 180.0), rect[::-1, ::-1])
    np.testing.assert_array_equal(T.rotate(rect, 90.0, expand=True), np.rot90(rect))
    shifted = T.affine(square, 0.0, [1, 2], 1.0, 0.0, fill=-1)
    np.testing.assert_array_equal(shifted[2:, 1:], square[:-2, :-1])
    assert (shifted[:2] == -1).all() and (shifted[:, 0] == -1).all()
    batch = np.stack([square, square + 1])[:, None]  # N x C x H x W
    np.testing.assert_array_equal(T.rotate(batch, 90.0)[1, 0], np.rot90(square + 1, 1))


def test_random_affine_parameters_stay_in_range():
    for _ in range(200):
        angle, (tx, ty), scale, (sx, sy) = T.RandomAffine.get_params(
            [-10.0, 10.0], [0.1, 0.2], [0.9, 1.1], [-5.0, 5.0, -2.0, 2.0], [28, 20]
        )
        assert -10 <= angle <= 10 and 0.9 <= scale <= 1.1
        assert isinstance(tx, int) and abs(tx) <= 3 and abs(ty) <= 4
        assert -5 <= sx <= 5 and -2 <= sy <= 2
    angle, translations, scale, shear = T.RandomAffine.get_params([0.0, 0.0], None, None, None, [5, 5])
    assert (angle, translations, scale, shear) == (0.0, (0, 0), 1.0, (0.0, 0.0))
    assert all(-15 <= T.RandomRotation.get_params([-15.0, 15.0]) <= 15 for _ in range(100))


def test_random_affine_identity_and_small_shifts():
    img = u8((1, 28, 28))
    t = backprop.from_numpy(img)
    np.testing.assert_array_equal(T.RandomAffine(0)(t).numpy(), img)
    out = T.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))(t)
    assert tuple(out.shape) == (1, 28, 28) and out.dtype == backprop.uint8
    rot = T.RandomRotation((90, 90))(backprop.from_numpy(img[:, :27, :27].copy()))
    np.testing.assert_array_equal(rot.numpy()[0], np.rot90(img[0, :27, :27], 1))


@pytest.mark.parametrize(
    "make, exc",
    [
        (lambda: T.RandomAffine(-5), ValueError),
        (lambda: T.RandomAffine((1, 2, 3)), ValueError),
        (lambda: T.RandomAffine({10}), TypeError),
        (lambda: T.RandomAffine(5, translate=(0.5, 1.5)), ValueError),
        (lambda: T.RandomAffine(5, translate=(0.5,)), ValueError),
        (lambda: T.RandomAffine(5, scale=(0.0, 1.0)), ValueError),
        (lambda: T.RandomAffine(5, shear=(1, 2, 3)), ValueError),
        (lambda: T.RandomAffine(5, fill=object()), TypeError),
        (lambda: T.RandomAffine(5, interpolation="bicubic"), ValueError),
        (lambda: T.RandomRotation(-1), ValueError),
        (lambda: T.RandomRotation(5, center=(1,)), ValueError),
        (lambda: T.affine(np.zeros((3, 3)), 0.0, [0], 1.0, 0.0), ValueError),
        (lambda: T.affine(np.zeros((3, 3)), 0.0, [0, 0], 0.0, 0.0), ValueError),
        (lambda: T.affine(np.zeros((2, 3, 3)), 0.0, [0, 0], 1.0, 0.0, fill=[1, 2, 3]), ValueError),
        (lambda: T.hflip([1, 2]), TypeError),
        (lambda: T.hflip(np.zeros(3)), TypeError),
    ],
)
def test_transform_argument_errors(make, exc):
    with pytest.raises(exc):
        make()


# ---------------------------------------------------------------------------- composition and randomness
def test_compose_lambda_and_repr():
    pipeline = T.Compose([T.ToTensor(), T.Lambda(lambda x: x * 2), T.Normalize((1.0,), (1.0,))])
    out = pipeline(np.full((2, 2), 255, np.uint8))
    np.testing.assert_allclose(out.numpy(), np.ones((1, 2, 2)))
    assert repr(pipeline).startswith("Compose(\n    ToTensor()\n    Lambda()\n    Normalize(")
    with pytest.raises(TypeError, match="should be callable"):
        T.Lambda(3)
    assert repr(T.RandomCrop(3, padding=1)) == "RandomCrop(size=(3, 3), padding=1)"
    assert repr(T.RandomAffine(5, translate=(0.1, 0.1))) == "RandomAffine(degrees=[-5.0, 5.0], translate=(0.1, 0.1))"


def test_manual_seed_makes_random_transforms_reproducible():
    pipeline = T.Compose(
        [T.RandomCrop(24, padding=2), T.RandomHorizontalFlip(), T.RandomAffine(15, translate=(0.1, 0.1)), T.ToTensor()]
    )
    img = u8((28, 28))
    backprop.manual_seed(123)
    first = [pipeline(img).numpy() for _ in range(5)]
    backprop.manual_seed(123)
    second = [pipeline(img).numpy() for _ in range(5)]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(first[0], other) for other in first[1:])


class Images(Dataset):
    def __init__(self, transform):
        self.images = [u8((12, 12), seed=i) for i in range(16)]
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i])


def test_random_transforms_in_worker_threads_are_reproducible():
    tf = T.Compose([T.ToTensor(), T.RandomCrop(8), T.RandomHorizontalFlip()])

    def epoch(seed):
        loader = DataLoader(Images(tf), batch_size=4, num_workers=2, generator=backprop.Generator().manual_seed(seed))
        return np.concatenate([b.numpy() for b in loader])

    a, b, c = epoch(0), epoch(0), epoch(1)
    assert a.shape == (16, 1, 8, 8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_normalize_keeps_autograd():
    x = backprop.rand(2, 3, 3, requires_grad=True)
    T.Normalize((0.5, 0.5), (0.25, 0.5))(x).sum().backward()
    expected = np.broadcast_to(np.array([4.0, 2.0], np.float32).reshape(2, 1, 1), (2, 3, 3))
    np.testing.assert_allclose(x.grad.numpy(), expected)


def test_tensor_transforms_run_on_the_tensors_device(device):
    """A pipeline of tensor transforms on a device tensor stays there and gives the CPU's result
    (the random parameters are drawn on the host, so one seed gives the same crop, flip, angle)."""
    x = np.random.default_rng(0).standard_normal((3, 9, 8)).astype(np.float32)
    tf = T.Compose([
        T.Pad((1, 2), padding_mode="reflect"),
        T.RandomCrop(8, padding=1),
        T.RandomHorizontalFlip(1.0),
        T.RandomAffine(20, translate=(0.1, 0.1), scale=(0.9, 1.1), interpolation=T.InterpolationMode.BILINEAR),
        T.Normalize([0.1, 0.2, 0.3], [1.0, 2.0, 0.5]),
    ])
    backprop.manual_seed(1)
    expected = tf(backprop.tensor(x)).numpy()
    backprop.manual_seed(1)
    out = tf(backprop.tensor(x, device=device))
    assert out.device.type == backprop.device(device).type and out.shape == (3, 8, 8)
    np.testing.assert_allclose(out.cpu().numpy(), expected, rtol=1e-6, atol=1e-6)
