"""Drawing and image-grid utilities, torchvision.utils' counterparts: ``make_grid``, ``save_image``,
``draw_bounding_boxes``, ``draw_segmentation_masks`` and ``draw_keypoints``.

``make_grid`` is written in backprop ops (differentiable, on the tensor's device). The drawing
functions render on the host with Pillow (an optional dependency: ``pip install
'backprop[vision]'``, imported on first use) and return a tensor on the image's device: uint8
images come back uint8, float images (values in [0, 1]) come back in their float dtype.
"""

from __future__ import annotations

import math
import os
import warnings
from types import SimpleNamespace
from typing import IO, Any

import numpy

from .. import _creation
from .._dtype import bool_, float32, int64, uint8
from .._tensor import Tensor
from ..nn import functional as F
from ..ops import movement
from ..ops.elementwise import where

__all__ = ["draw_bounding_boxes", "draw_keypoints", "draw_segmentation_masks", "make_grid", "save_image"]

Color = str | tuple[int, int, int]


def _pil() -> SimpleNamespace:
    """Pillow's ``Image``, ``ImageColor``, ``ImageDraw`` and ``ImageFont`` modules (imported on first use)."""
    try:
        from PIL import Image, ImageColor, ImageDraw, ImageFont
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("backprop.vision.utils needs Pillow to draw and save images: pip install 'backprop[vision]'") from exc
    return SimpleNamespace(Image=Image, ImageColor=ImageColor, ImageDraw=ImageDraw, ImageFont=ImageFont)


# ---------------------------------------------------------------------------- make_grid / save_image
def _normalize(t: Tensor, low: float, high: float) -> Tensor:
    return (t.clamp(min=low, max=high) - low) / max(high - low, 1e-5)


def _normalize_range(t: Tensor, value_range) -> Tensor:
    if value_range is not None:
        return _normalize(t, float(value_range[0]), float(value_range[1]))
    return _normalize(t, float(t.min()), float(t.max()))


def make_grid(
    tensor: Tensor | list[Tensor],
    nrow: int = 8,
    padding: int = 2,
    normalize: bool = False,
    value_range: tuple[float, float] | None = None,
    scale_each: bool = False,
    pad_value: float = 0.0,
) -> Tensor:
    """Tile a (B, C, H, W) batch (or a list of (C, H, W) images) into one (C, H', W') image with
    ``nrow`` images per row, ``padding`` pixels of ``pad_value`` around each, as torchvision's.

    One-channel images become three-channel; ``normalize`` shifts each image (``scale_each``) or
    the batch into [0, 1] by ``value_range`` (default: its min and max). A batch of one image is
    returned unpadded. Built from backprop ops, so gradients flow to the images."""
    if not isinstance(tensor, Tensor):
        if isinstance(tensor, list):
            for t in tensor:
                if not isinstance(t, Tensor):
                    raise TypeError(f"tensor or list of tensors expected, got a list containing {type(t)}")
        else:
            raise TypeError(f"tensor or list of tensors expected, got {type(tensor)}")
    if isinstance(tensor, list):
        tensor = movement.stack(tensor, 0)
    if tensor.dim() == 2:  # a single (H, W) image
        tensor = tensor.unsqueeze(0)
    if tensor.dim() == 3:  # a single (C, H, W) image
        if tensor.size(0) == 1:
            tensor = movement.cat((tensor, tensor, tensor), 0)
        tensor = tensor.unsqueeze(0)
    if tensor.dim() == 4 and tensor.size(1) == 1:  # a batch of one-channel images
        tensor = movement.cat((tensor, tensor, tensor), 1)
    if tensor.dim() != 4:
        raise ValueError(f"make_grid(): expected a 2-D, 3-D or 4-D tensor, got a {tensor.dim()}-D tensor of shape {list(tensor.shape)}")
    if normalize is True:
        if value_range is not None and not isinstance(value_range, tuple):
            raise TypeError("value_range has to be a tuple (min, max) if specified. min and max are numbers")
        if scale_each is True:
            tensor = movement.stack([_normalize_range(t, value_range) for t in tensor], 0)
        else:
            tensor = _normalize_range(tensor, value_range)
    if tensor.size(0) == 1:
        return tensor.squeeze(0)

    nmaps, channels, height, width = tensor.shape
    xmaps = min(nrow, nmaps)
    ymaps = int(math.ceil(float(nmaps) / xmaps))
    if ymaps * xmaps > nmaps:  # empty cells at the end of the last row
        blank = _creation.full((ymaps * xmaps - nmaps, channels, height, width), pad_value, dtype=tensor.dtype, device=tensor.device)
        tensor = movement.cat((tensor, blank), 0)
    cells = F.pad(tensor, (padding, 0, padding, 0), value=pad_value)  # each image with its top-left margin
    cell_h, cell_w = height + padding, width + padding
    grid = cells.reshape(ymaps, xmaps, channels, cell_h, cell_w).permute(2, 0, 3, 1, 4)
    grid = grid.reshape(channels, ymaps * cell_h, xmaps * cell_w)
    return F.pad(grid, (0, padding, 0, padding), value=pad_value)  # the bottom and right margins


def save_image(tensor: Tensor | list[Tensor], fp: str | os.PathLike | IO[bytes], format: str | None = None, **kwargs: Any) -> None:
    """Save a tensor (or a batch, tiled by ``make_grid(tensor, **kwargs)``) with values in [0, 1]
    as an image file; ``format`` overrides the one the file name implies."""
    pil = _pil()
    grid = make_grid(tensor, **kwargs)
    pixels = (grid.detach() * 255 + 0.5).clamp(0, 255).permute(1, 2, 0).to("cpu", uint8)
    pil.Image.fromarray(pixels.numpy()).save(fp, format=format)


# ---------------------------------------------------------------------------- drawing helpers
def _check_image(image, fn: str, rgb_only: bool) -> None:
    if not isinstance(image, Tensor):
        raise TypeError(f"{fn}: the image must be a tensor, got {type(image)}")
    if not (image.dtype == uint8 or image.is_floating_point()):
        raise ValueError(f"{fn}: the image dtype must be uint8 or float, got {image.dtype}")
    if image.dim() != 3:
        raise ValueError(f"{fn}: pass individual images, not batches (got an image of shape {list(image.shape)})")
    if rgb_only and image.size(0) != 3:
        raise ValueError(f"{fn}: pass an RGB image of shape (3, H, W); other image formats are not supported (got {list(image.shape)})")
    if not rgb_only and image.size(0) not in (1, 3):
        raise ValueError(f"{fn}: only grayscale (1, H, W) and RGB (3, H, W) images are supported (got {list(image.shape)})")


def _to_host_uint8(image: Tensor):
    """(C, H, W) image -> (H, W, C) uint8 NumPy array (floats in [0, 1] scaled as torchvision's to_dtype)."""
    img = image.detach()
    if img.is_floating_point():
        img = (img * (255 + 1.0 - 1e-3)).to(uint8)
    return numpy.ascontiguousarray(img.permute(1, 2, 0).cpu().numpy())


def _from_host(arr, like: Tensor) -> Tensor:
    """(H, W, C) uint8 host array -> (C, H, W) tensor of ``like``'s dtype (floats scaled to [0, 1]) and device."""
    out = _creation.tensor(numpy.ascontiguousarray(arr.transpose(2, 0, 1)), device=like.device)
    if like.is_floating_point():
        out = out.to(like.dtype) * (1.0 / 255)
    return out


def _palette(num_objects: int) -> list[tuple[int, int, int]]:
    """torchvision's default colours: object i gets (i * (2**25 - 1, 2**15 - 1, 2**21 - 1)) % 255."""
    primes = (2**25 - 1, 2**15 - 1, 2**21 - 1)
    return [tuple((i * p) % 255 for p in primes) for i in range(num_objects)]


def _parse_colors(colors, num_objects: int) -> list[tuple[int, ...]]:
    """One RGB tuple per object from ``colors``: None (the palette), one colour, or a list of them."""
    pil = _pil()
    if colors is None:
        colors = _palette(num_objects)
    elif isinstance(colors, list):
        if len(colors) < num_objects:
            raise ValueError(f"Number of colors must be equal or larger than the number of objects, but got {len(colors)} < {num_objects}.")
    elif not isinstance(colors, (tuple, str)):
        raise ValueError(f"`colors` must be a tuple or a string, or a list thereof, but got {colors}.")
    elif isinstance(colors, tuple) and len(colors) != 3:
        raise ValueError(f"If passed as tuple, colors should be an RGB triplet, but got {colors}.")
    else:
        colors = [colors] * num_objects
    return [pil.ImageColor.getrgb(c) if isinstance(c, str) else tuple(int(v) for v in c) for c in colors]


# ---------------------------------------------------------------------------- draw_bounding_boxes
def draw_bounding_boxes(
    image: Tensor,
    boxes: Tensor,
    labels: list[str] | None = None,
    colors: list[Color] | Color | None = None,
    fill: bool | None = False,
    width: int = 1,
    font: str | None = None,
    font_size: int | None = None,
    label_colors: list[Color] | Color | None = None,
    label_background_colors: list[Color] | Color | None = None,
    fill_labels: bool = False,
) -> Tensor:
    """Draw (N, 4) xyxy boxes (or (N, 8) quadrilaterals) on a (C, H, W) uint8 or float image, as
    torchvision's: outlines ``width`` pixels wide (inside the box), optionally filled
    (``fill``: the colour at alpha 100/255), with ``labels`` written at the top-left corner in
    ``label_colors`` (default: the box colours; ``fill_labels`` puts them on a filled background).
    Grayscale images are drawn on as RGB. Returns a new (3, H, W) image; the input is unchanged."""
    pil = _pil()
    _check_image(image, "draw_bounding_boxes", rgb_only=False)
    if not isinstance(boxes, Tensor):
        raise TypeError(f"draw_bounding_boxes: boxes must be a tensor, got {type(boxes)}")
    if boxes.dim() != 2 or boxes.size(1) not in (4, 8):
        raise ValueError(f"draw_bounding_boxes: boxes must be of shape (N, 4) or (N, 8), got {list(boxes.shape)}")
    quads = boxes.size(1) == 8
    if not quads and ((boxes[:, 0] > boxes[:, 2]).any() or (boxes[:, 1] > boxes[:, 3]).any()):
        raise ValueError("Boxes need to be in (xmin, ymin, xmax, ymax) format. Use torchvision.ops.box_convert to convert them")
    num_boxes = boxes.size(0)
    if num_boxes == 0:
        warnings.warn("boxes doesn't contain any box. No box was drawn", stacklevel=2)
        return image
    if labels is None:
        labels = [None] * num_boxes
    elif len(labels) != num_boxes:
        raise ValueError(f"Number of boxes ({num_boxes}) and labels ({len(labels)}) mismatch. Please specify labels for each box.")
    box_colors = _parse_colors(colors, num_boxes)
    text_colors = _parse_colors(label_colors, num_boxes) if label_colors else list(box_colors)
    back_colors = _parse_colors(label_background_colors, num_boxes) if label_background_colors else list(box_colors)
    if font is None:
        if font_size is not None:
            warnings.warn("Argument 'font_size' will be ignored since 'font' is not set.", stacklevel=2)
        txt_font = pil.ImageFont.load_default()
    else:
        txt_font = pil.ImageFont.truetype(font=font, size=font_size or 10)

    if image.size(0) == 1:
        image_rgb = movement.cat((image, image, image), 0)
    else:
        image_rgb = image
    canvas = pil.Image.fromarray(_to_host_uint8(image_rgb))
    draw = pil.ImageDraw.Draw(canvas, "RGBA") if fill else pil.ImageDraw.Draw(canvas)
    coords = boxes.detach().cpu().to(int64).tolist()
    for box, color, label, text_color, back_color in zip(coords, box_colors, labels, text_colors, back_colors):
        fill_color = color + (100,) if fill else None
        if quads:
            draw.polygon(box, outline=color, fill=fill_color, width=width)
        else:
            draw.rectangle(box, outline=color, fill=fill_color, width=width)
        if label is not None:
            box_margin = 1
            margin = width + box_margin
            at = (box[0] + margin, box[1] + margin)
            if fill_labels:
                left, top, right, bottom = draw.textbbox(at, label, font=txt_font)
                draw.rectangle((left - box_margin, top - box_margin, right + box_margin, bottom + box_margin), fill=back_color)
            draw.text(at, label, fill=text_color, font=txt_font)
    return _from_host(numpy.asarray(canvas.convert("RGB")), image)


# ---------------------------------------------------------------------------- masks and keypoints
def draw_segmentation_masks(image: Tensor, masks: Tensor, alpha: float = 0.8, colors: list[Color] | Color | None = None) -> Tensor:
    """Blend boolean (N, H, W) (or (H, W)) masks onto a (3, H, W) uint8 or float image, as
    torchvision's: each mask's pixels take its colour (black where masks overlap), then
    ``image * (1 - alpha) + drawn * alpha``.
    Written in backprop ops on the image's device (no Pillow needed except for colour names)."""
    _check_image(image, "draw_segmentation_masks", rgb_only=True)
    if not isinstance(masks, Tensor):
        raise TypeError(f"draw_segmentation_masks: masks must be a tensor, got {type(masks)}")
    if masks.dim() == 2:
        masks = masks.unsqueeze(0)
    if masks.dim() != 3:
        raise ValueError(f"masks must be of shape (H, W) or (batch_size, H, W), got {list(masks.shape)}")
    if masks.dtype != bool_:
        raise ValueError(f"The masks must be of dtype bool. Got {masks.dtype}")
    if tuple(masks.shape[-2:]) != tuple(image.shape[-2:]):
        raise ValueError(f"The image and the masks must have the same height and width (image {list(image.shape)}, masks {list(masks.shape)})")
    num_masks = masks.size(0)
    if num_masks == 0:
        warnings.warn("masks doesn't contain any mask. No mask was drawn", stacklevel=2)
        return image
    rgb = _parse_colors(colors, num_masks)
    scale = 1.0 / 255 if image.is_floating_point() else 1.0
    work = image.detach().to(image.dtype if image.is_floating_point() else float32)
    palette = _creation.tensor([[c * scale for c in color[:3]] for color in rgb], dtype=work.dtype, device=image.device)
    drawn = work
    for k in range(num_masks):  # later masks paint over earlier ones, as torchvision's
        drawn = where(masks[k].unsqueeze(0), palette[k].reshape(3, 1, 1), drawn)
    drawn = drawn.masked_fill((masks.sum(0) > 1).unsqueeze(0), 0)  # pixels of several masks: black
    out = work * (1 - alpha) + drawn * alpha
    return out.to(image.dtype)


def draw_keypoints(
    image: Tensor,
    keypoints: Tensor,
    connectivity: list[tuple[int, int]] | None = None,
    colors: Color | None = None,
    radius: int = 2,
    width: int = 3,
    visibility: Tensor | None = None,
) -> Tensor:
    """Draw (N, K, 2) keypoints as filled circles of ``radius`` on a (3, H, W) image, and the
    ``connectivity`` pairs between visible keypoints as lines ``width`` wide, as torchvision's."""
    pil = _pil()
    _check_image(image, "draw_keypoints", rgb_only=True)
    if not isinstance(keypoints, Tensor):
        raise TypeError(f"draw_keypoints: keypoints must be a tensor, got {type(keypoints)}")
    if keypoints.dim() != 3:
        raise ValueError(f"keypoints must be of shape (num_instances, K, 2), got {list(keypoints.shape)}")
    if visibility is None:
        vis = [[True] * keypoints.size(1) for _ in range(keypoints.size(0))]
    else:
        if visibility.dim() == 3:
            visibility = visibility.squeeze(-1)
        if visibility.dim() != 2:
            raise ValueError(f"visibility must be of shape (num_instances, K). Got ndim={visibility.dim()}")
        if tuple(visibility.shape) != tuple(keypoints.shape[:-1]):
            raise ValueError(
                "keypoints and visibility must have the same dimensionality for num_instances and K. "
                f"Got visibility.shape = {list(visibility.shape)} and keypoints.shape = {list(keypoints.shape)}"
            )
        vis = visibility.detach().cpu().bool().tolist()
    canvas = pil.Image.fromarray(_to_host_uint8(image))
    draw = pil.ImageDraw.Draw(canvas)
    points = keypoints.detach().cpu().to(int64).tolist()
    for inst, inst_vis in zip(points, vis):
        for (x, y), visible in zip(inst, inst_vis):
            if visible:
                draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colors, outline=None, width=0)
        for a, b in connectivity or ():
            if inst_vis[a] and inst_vis[b]:
                draw.line((tuple(inst[a]), tuple(inst[b])), width=width)
    return _from_host(numpy.asarray(canvas), image)
