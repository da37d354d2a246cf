"""backprop's model files run by torch: the oracle of ``tests/test_vision_models_oracle.py`` and of the
text model tests, and the torch side of the ``yolo``, ``sentiment`` and ``translate`` benchmarks.

``backprop.vision.models`` is written against the PyTorch API; only its relative imports tie it to
backprop. :func:`vision_models` returns ``backprop.vision.models`` for backprop and, for torch, the
same source files executed with those imports pointed at torch, and ``vision.ops`` replaced by
:data:`torch ops <torch_ops>`: the torchvision box ops the detector calls, written here as plain torch
formulas from torchvision's documentation (torchvision's wheel cannot load beside the CPU torch here).
An import line the rewriter does not know raises, so a change to the detector's imports cannot
silently run backprop code on the torch side. :func:`torch_module` does the same for any self-contained
file written against the PyTorch API (``backprop.text.models.translation``, ``backprop.text.decoding``).
"""

from __future__ import annotations

import math
import re
import sys
import types
from pathlib import Path

_PKG = "_backprop_torch_twin"  # the package the rewritten modules live in (sys.modules)
_MODULES = ("yolo", "yolo_loss")  # backprop.vision.models' files, in dependency order
_EXPORTS = (
    "YOLO",
    "yolo",
    "YOLOLoss",
    "TaskAlignedAssigner",
    "ConvBNAct",
    "Bottleneck",
    "C2f",
    "SPPF",
    "make_anchors",
    "pad_targets",
)
_NMS_BLOCK = 256  # boxes resolved together, as backprop's nms

_FROM_CORE = re.compile(r"^from \.\.\.(\w*(?:\.\w+)*) import (.+)$")
_FROM_OPS = re.compile(r"^from \.\. import ops$")
_FROM_SIBLING = re.compile(r"^from \.(\w+) import (.+)$")
_DTYPE_NAMES = {"bool_": "bool as bool_"}  # backprop's dtype names torch spells otherwise


def _torch_import(sub: str, names: str) -> str:
    """``from ...SUB import NAMES`` (backprop's top level, ``_tensor``, ``_dtype``, ``nn``...) for torch."""
    if sub in ("", "_tensor", "_dtype"):
        mapped = ", ".join(_DTYPE_NAMES.get(n.strip(), n.strip()) for n in names.split(","))
        return f"from torch import {mapped}"
    if sub.startswith("_"):
        raise ImportError(f"torch_twin: no torch counterpart for backprop.{sub}")
    return f"from torch.{sub} import {names}"


def to_torch(source: str, top_dots: int = 3) -> str:
    """A module's source with its imports pointed at torch and the twin's ops. ``top_dots`` is the number
    of dots of a relative import that reaches backprop's top level (3 from ``backprop.vision.models``)."""
    core = _FROM_CORE if top_dots == 3 else re.compile("^from " + re.escape("." * top_dots) + r"(\w*(?:\.\w+)*) import (.+)$")
    lines = []
    for line in source.splitlines():
        stripped = line.strip()
        if m := core.match(stripped):
            line = _torch_import(m.group(1), m.group(2))
        elif _FROM_OPS.match(stripped):
            line = f"from {_PKG} import ops"
        elif m := _FROM_SIBLING.match(stripped):
            line = f"from {_PKG}.{m.group(1)} import {m.group(2)}"
        elif stripped.startswith("from .") or re.match(r"^(import|from)\s+backprop\b", stripped):
            raise ImportError(f"torch_twin: cannot rewrite {stripped!r} for torch")
        lines.append(line)
    return "\n".join(lines) + "\n"


def _torch_ops() -> types.SimpleNamespace:
    """torchvision.ops' functions the detector uses, as torch formulas (torchvision's documented definitions)."""
    import torch

    def box_iou(boxes1, boxes2):
        area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
        area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
        lt = torch.max(boxes1[:, None, :2], boxes2[None, :, :2])
        rb = torch.min(boxes1[:, None, 2:], boxes2[None, :, 2:])
        wh = (rb - lt).clamp(min=0)
        inter = wh[..., 0] * wh[..., 1]
        return inter / (area1[:, None] + area2[None, :] - inter)

    def complete_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
        # 1 - IoU + (centre distance / enclosing diagonal)^2 + alpha * v; alpha carries no gradient
        x1, y1, x2, y2 = boxes1.unbind(-1)
        x1g, y1g, x2g, y2g = boxes2.unbind(-1)
        ix1, iy1, ix2, iy2 = torch.max(x1, x1g), torch.max(y1, y1g), torch.min(x2, x2g), torch.min(y2, y2g)
        inter = torch.where((ix2 > ix1) & (iy2 > iy1), (ix2 - ix1) * (iy2 - iy1), torch.zeros_like(x1))
        union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
        iou = inter / (union + eps)
        diag = (torch.max(x2, x2g) - torch.min(x1, x1g)) ** 2 + (torch.max(y2, y2g) - torch.min(y1, y1g)) ** 2 + eps
        centre = ((x1 + x2) / 2 - (x1g + x2g) / 2) ** 2 + ((y1 + y2) / 2 - (y1g + y2g) / 2) ** 2
        v = (4 / math.pi**2) * (torch.atan((x2g - x1g) / (y2g - y1g)) - torch.atan((x2 - x1) / (y2 - y1))) ** 2
        with torch.no_grad():
            alpha = v / (1 - iou + v + eps)
        loss = 1 - iou + centre / diag + alpha * v
        if reduction == "none":
            return loss
        if reduction == "mean":
            return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()
        if reduction == "sum":
            return loss.sum()
        raise ValueError(f"Invalid Value for arg 'reduction': '{reduction}")

    def clip_boxes_to_image(boxes, size):
        height, width = size
        x = boxes[..., 0::2].clamp(min=0, max=width)
        y = boxes[..., 1::2].clamp(min=0, max=height)
        return torch.stack((x, y), dim=boxes.dim()).reshape(boxes.shape)

    def nms(boxes, scores, iou_threshold):
        """Greedy NMS by decreasing score (stable on ties): box j is dropped when a kept box before it
        overlaps it with IoU > iou_threshold. Resolved a block at a time, as backprop's (the keep
        flags of a block are the fixed point of ``keep[j] = not any(keep[i] and over[i, j], i < j)``),
        so the benchmark times the same algorithm in both frameworks."""
        order = torch.sort(scores, stable=True, descending=True).indices
        boxes = boxes[order]
        rest = torch.arange(boxes.shape[0])
        kept = []
        while rest.numel():
            block, rest = rest[:_NMS_BLOCK], rest[_NMS_BLOCK:]
            over = (box_iou(boxes[block], boxes[block]) > iou_threshold).triu(1)
            if bool(over.any()):
                keep = torch.ones(block.numel(), dtype=torch.bool)
                while True:
                    new = (keep.float() @ over.float()) == 0
                    if bool((new == keep).all()):
                        break
                    keep = new
                block = block[keep]
            kept.append(block)
            if rest.numel() and block.numel():
                rest = rest[~(box_iou(boxes[block], boxes[rest]) > iou_threshold).any(0)]
        return order[torch.cat(kept)] if kept else torch.zeros(0, dtype=torch.int64)

    def batched_nms(boxes, scores, idxs, iou_threshold):
        if boxes.numel() == 0:
            return torch.zeros(0, dtype=torch.int64, device=boxes.device)
        boxes = boxes.detach()
        offsets = idxs.to(boxes) * (boxes.max() + 1)
        return nms(boxes + offsets[:, None], scores, iou_threshold)

    return types.SimpleNamespace(
        box_iou=box_iou,
        complete_box_iou_loss=complete_box_iou_loss,
        clip_boxes_to_image=clip_boxes_to_image,
        nms=nms,
        batched_nms=batched_nms,
    )


def _load_torch_twin() -> types.ModuleType:
    import backprop.vision.models as bp_models

    if _PKG in sys.modules:
        return sys.modules[_PKG]
    pkg = types.ModuleType(_PKG, "backprop.vision.models, executed by torch (benchmarks/torch_twin.py)")
    pkg.__path__ = []  # a package, so that `from _PKG.yolo import ...` resolves its submodules
    pkg.ops = _torch_ops()
    sys.modules[_PKG] = pkg
    folder = Path(bp_models.__file__).parent
    try:
        for name in _MODULES:
            path = folder / f"{name}.py"
            module = types.ModuleType(f"{_PKG}.{name}")
            module.__file__ = str(path)
            sys.modules[module.__name__] = module  # classes get an importable __module__
            exec(compile(to_torch(path.read_text()), str(path), "exec"), module.__dict__)
            setattr(pkg, name, module)
    except BaseException:
        for key in [k for k in sys.modules if k == _PKG or k.startswith(_PKG + ".")]:
            del sys.modules[key]
        raise
    for module in (pkg.yolo, pkg.yolo_loss):
        for name in _EXPORTS:
            if hasattr(module, name):
                setattr(pkg, name, getattr(module, name))
    return pkg


def vision_models(m) -> types.ModuleType:
    """``backprop.vision.models`` for ``m`` = backprop; its torch twin for ``m`` = torch."""
    if m.__name__ == "torch":
        return _load_torch_twin()
    import backprop.vision.models

    return backprop.vision.models


def vision_ops(m):
    """``backprop.vision.ops`` for backprop; the twin's torch ops for torch."""
    if m.__name__ == "torch":
        return _load_torch_twin().ops
    import backprop.vision.ops

    return backprop.vision.ops


def torch_module(name: str) -> types.ModuleType:
    """The backprop module ``name`` (a self-contained file written against the PyTorch API whose relative
    imports reach only backprop's top level, e.g. ``backprop.text.models.classifier``) executed by torch."""
    import backprop

    twin = f"_torch_twin_{name.replace('.', '_')}"
    if twin in sys.modules:
        return sys.modules[twin]
    parts = name.split(".")
    path = Path(backprop.__file__).parent.joinpath(*parts[1:]).with_suffix(".py")
    source = to_torch(path.read_text(), top_dots=len(parts) - 1)
    module = types.ModuleType(twin)
    module.__file__ = str(path)
    sys.modules[twin] = module  # classes get an importable __module__
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)
    except BaseException:
        del sys.modules[twin]
        raise
    return module
