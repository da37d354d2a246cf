"""COCO-format detection data (torchvision.datasets.CocoDetection's API), read with the standard library's
``json`` (no pycocotools needed) and the images with Pillow (``pip install backprop[vision]``).

``CocoDetection(root, annFile)[i]`` is ``(image, annotations)``: the ``i``-th image (ids sorted, as
torchvision) as an RGB PIL image and the list of its annotation dicts as they are in the JSON file.
``target_format="boxes"`` (a backprop option) returns instead a float32 CHW image tensor in [0, 1] and the
target dict that detectors and the box-aware transforms use, made by :func:`coco_to_target`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy

from ..._tensor import _make
from ...utils.data import Dataset
from ..transforms.transforms import to_tensor
from .mnist import DatasetNotFoundError

__all__ = ["CocoDetection", "coco_to_target"]

_TARGET_FORMATS = ("coco", "boxes")


def _pil_image():
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError(
            "backprop.vision.datasets.CocoDetection reads images with Pillow: pip install 'backprop[vision]' "
            "(or pip install pillow)"
        ) from exc
    return Image


def _as_list(value: Any) -> list:
    """pycocotools' convention: a sequence is a list of ids, a single value a list of one."""
    if isinstance(value, (list, tuple, range)) or (hasattr(value, "__len__") and not isinstance(value, (str, dict))):
        return list(value)
    return [value]


class COCO:
    """The index of a COCO annotation file, with the pycocotools ``COCO`` lookups detection code uses:
    ``dataset``, ``imgs``, ``anns``, ``cats``, ``imgToAnns``, ``catToImgs``, ``getImgIds``, ``getAnnIds``,
    ``getCatIds``, ``loadImgs``, ``loadAnns``, ``loadCats``."""

    def __init__(self, annotation_file: str | os.PathLike | None = None) -> None:
        self.dataset: dict[str, Any] = {}
        self.imgs: dict[int, dict] = {}
        self.anns: dict[int, dict] = {}
        self.cats: dict[int, dict] = {}
        self.imgToAnns: dict[int, list[dict]] = {}
        self.catToImgs: dict[int, list[int]] = {}
        if annotation_file is not None:
            path = os.fspath(annotation_file)
            if not os.path.isfile(path):
                raise DatasetNotFoundError(f"CocoDetection: annotation file {path} not found")
            with open(path, encoding="utf-8") as f:
                try:
                    dataset = json.load(f)
                except json.JSONDecodeError as exc:
                    raise RuntimeError(f"{path}: not a valid COCO JSON file ({exc})") from None
            if not isinstance(dataset, dict):
                raise RuntimeError(f"{path}: a COCO annotation file holds a JSON object, got {type(dataset).__name__}")
            self.dataset = dataset
            self.createIndex()

    def createIndex(self) -> None:
        """Index images, annotations and categories by id (annotations keep the file's order)."""
        data = self.dataset
        self.imgs = {img["id"]: img for img in data.get("images", [])}
        self.cats = {cat["id"]: cat for cat in data.get("categories", [])}
        self.anns = {}
        self.imgToAnns = {}
        self.catToImgs = {}
        for ann in data.get("annotations", []):
            self.anns[ann["id"]] = ann
            self.imgToAnns.setdefault(ann["image_id"], []).append(ann)
            if "category_id" in ann:
                self.catToImgs.setdefault(ann["category_id"], []).append(ann["image_id"])

    def getAnnIds(  # pycocotools' names and filters
        self,
        imgIds: int | Sequence[int] = (),  # noqa: N803
        catIds: int | Sequence[int] = (),  # noqa: N803
        areaRng: Sequence[float] = (),  # noqa: N803
        iscrowd: bool | None = None,
    ) -> list[int]:
        """Ids of the annotations of images ``imgIds`` (all when empty), of categories ``catIds``, with
        area strictly inside ``areaRng`` and, when given, the ``iscrowd`` flag."""
        img_ids = _as_list(imgIds)
        cat_ids = _as_list(catIds)
        anns = self.dataset.get("annotations", [])
        if img_ids:
            anns = [a for i in img_ids for a in self.imgToAnns.get(i, [])]
        if cat_ids:
            anns = [a for a in anns if a["category_id"] in cat_ids]
        if len(areaRng):
            anns = [a for a in anns if areaRng[0] < a["area"] < areaRng[1]]
        if iscrowd is not None:
            anns = [a for a in anns if a["iscrowd"] == iscrowd]
        return [a["id"] for a in anns]

    def getCatIds(
        self,
        catNms: str | Sequence[str] = (),  # noqa: N803
        supNms: str | Sequence[str] = (),  # noqa: N803
        catIds: int | Sequence[int] = (),  # noqa: N803
    ) -> list[int]:
        """Ids of the categories named ``catNms``, of supercategories ``supNms``, among ``catIds``."""
        names, sups, ids = _as_list(catNms), _as_list(supNms), _as_list(catIds)
        cats = self.dataset.get("categories", [])
        if names:
            cats = [c for c in cats if c["name"] in names]
        if sups:
            cats = [c for c in cats if c["supercategory"] in sups]
        if ids:
            cats = [c for c in cats if c["id"] in ids]
        return [c["id"] for c in cats]

    def getImgIds(
        self,
        imgIds: int | Sequence[int] = (),  # noqa: N803
        catIds: int | Sequence[int] = (),  # noqa: N803
    ) -> list[int]:
        """Ids of the images among ``imgIds`` (all when empty) holding every category of ``catIds``."""
        img_ids, cat_ids = _as_list(imgIds), _as_list(catIds)
        if not img_ids and not cat_ids:
            return list(self.imgs)
        ids = set(img_ids)
        for k, cat in enumerate(cat_ids):
            found = set(self.catToImgs.get(cat, []))
            ids = found if k == 0 and not img_ids else ids & found
        return list(ids)

    def loadAnns(self, ids: int | Sequence[int] = ()) -> list[dict]:
        return [self.anns[ids]] if isinstance(ids, int) else [self.anns[i] for i in ids]

    def loadCats(self, ids: int | Sequence[int] = ()) -> list[dict]:
        return [self.cats[ids]] if isinstance(ids, int) else [self.cats[i] for i in ids]

    def loadImgs(self, ids: int | Sequence[int] = ()) -> list[dict]:
        return [self.imgs[ids]] if isinstance(ids, int) else [self.imgs[i] for i in ids]


def coco_to_target(
    annotations: Sequence[dict],
    image_id: int | None = None,
    canvas_size: tuple[int, int] | None = None,
    drop_crowd: bool = False,
) -> dict[str, Any]:
    """COCO annotation dicts -> ``{"boxes": float32 (N, 4) xyxy, "labels": int64 (N,), "image_id",
    "area": float32 (N,), "iscrowd": int64 (N,)}`` (what ``wrap_dataset_for_transforms_v2`` gives for
    CocoDetection, plus area and iscrowd for COCO evaluation).

    COCO's ``bbox`` is ``[x, y, width, height]``; ``labels`` are the ``category_id`` values unchanged.
    With ``canvas_size=(height, width)`` boxes are clipped to the image and those left empty are dropped
    (as torchvision's detection references do); ``drop_crowd=True`` drops ``iscrowd`` annotations.
    """
    anns = [a for a in annotations if "bbox" in a and not (drop_crowd and a.get("iscrowd", 0))]
    xywh = numpy.asarray([a["bbox"] for a in anns], dtype=numpy.float32).reshape(-1, 4)
    if xywh.shape[0] and not numpy.isfinite(xywh).all():
        bad = int(numpy.flatnonzero(~numpy.isfinite(xywh).all(axis=1))[0])
        raise ValueError(
            f"coco_to_target: annotation {anns[bad].get('id', bad)} has a non-finite bbox {anns[bad]['bbox']}"
        )
    boxes = numpy.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    labels = numpy.asarray([a.get("category_id", 0) for a in anns], dtype=numpy.int64)
    area = numpy.asarray(
        [a.get("area", w * h) for a, (w, h) in zip(anns, xywh[:, 2:], strict=True)], dtype=numpy.float32
    )
    crowd = numpy.asarray([a.get("iscrowd", 0) for a in anns], dtype=numpy.int64)
    if canvas_size is not None:
        h, w = canvas_size
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, labels, area, crowd = boxes[keep], labels[keep], area[keep], crowd[keep]
    if image_id is None and anns:
        image_id = anns[0].get("image_id")
    return {
        "boxes": _make(boxes),
        "labels": _make(labels),
        "image_id": image_id,
        "area": _make(area.reshape(-1)),
        "iscrowd": _make(crowd.reshape(-1)),
    }


class CocoDetection(Dataset):
    """`MS COCO <https://cocodataset.org>`_-format detection: images under ``root``, annotations in ``annFile``.

    Item ``i`` is ``(image, target)`` for the ``i``-th of the sorted image ids: an RGB PIL image and the
    list of that image's annotation dicts (``target_format="coco"``, torchvision's), or a float32 (3, H, W)
    tensor in [0, 1] and :func:`coco_to_target`'s dict, boxes clipped to the image
    (``target_format="boxes"``). ``transform``/``target_transform`` act on each part, ``transforms`` on both
    (only one of the two ways may be given, as torchvision).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        annFile: str | os.PathLike,  # noqa: N803  (torchvision's name)
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        transforms: Callable | None = None,
        *,
        target_format: str = "coco",
    ) -> None:
        if transforms is not None and (transform is not None or target_transform is not None):
            raise ValueError("Only transforms or transform/target_transform can be passed as argument")
        if target_format not in _TARGET_FORMATS:
            raise ValueError(f"CocoDetection: target_format must be one of {_TARGET_FORMATS}, got {target_format!r}")
        self.root = os.fspath(root)
        self.transform = transform
        self.target_transform = target_transform
        self.transforms = transforms
        self.target_format = target_format
        self.coco = COCO(annFile)
        self.ids = sorted(self.coco.imgs.keys())

    def _load_image(self, id: int) -> Any:
        path = os.path.join(self.root, self.coco.loadImgs(id)[0]["file_name"])
        pil = _pil_image()
        if not os.path.isfile(path):
            raise DatasetNotFoundError(f"CocoDetection: image file {path} (image id {id}) not found")
        with pil.open(path) as img:
            return img.convert("RGB")

    def _load_target(self, id: int) -> list[dict]:
        return list(self.coco.imgToAnns.get(id, []))

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        if not isinstance(index, int):
            raise ValueError(f"Index must be of type integer, got {type(index)} instead.")
        id = self.ids[index]
        image = self._load_image(id)
        target: Any = self._load_target(id)
        if self.target_format == "boxes":
            target = coco_to_target(target, image_id=id, canvas_size=(image.height, image.width))
            image = to_tensor(numpy.asarray(image))
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        else:
            if self.transform is not None:
                image = self.transform(image)
            if self.target_transform is not None:
                target = self.target_transform(target)
        return image, target

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        lines = [f"Number of datapoints: {len(self)}", f"Root location: {self.root}"]
        for name in ("transforms", "transform", "target_transform"):
            if getattr(self, name) is not None:
                lines.append(f"{name}: {getattr(self, name)!r}")
        return "\n".join([f"Dataset {self.__class__.__name__}"] + ["    " + line for line in lines])
