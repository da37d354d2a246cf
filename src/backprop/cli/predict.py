"""``backprop predict`` (boxes on your images; a sentence's sentiment or translation) and ``backprop export``
(the detector as ONNX).

``predict --weights CKPT --source IMAGE_OR_DIR [--conf 0.25 --iou 0.7] [--save DIR]`` letterboxes each image
to the detector's size, runs it, maps the boxes back to the image's pixels, prints them and, with ``--save``,
writes each image with its boxes drawn. ``predict --weights CKPT --text SENTENCE`` runs a sentiment or
translation model (``train --task sentiment/translate --save``) on each sentence given (``-``: one per line
from standard input) and prints the label with its probability, or the translation. ``export --weights CKPT --output FILE.onnx`` writes the raw head
outputs (one map per stride); decoding and NMS stay with the caller (see README).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from .._tensor import _make
from ..autograd.grad_mode import no_grad
from ..vision.ops import clip_boxes_to_image
from ..vision.transforms import detection as DT
from .detect import load_detector
from .text import load_text_model, predict_sentiment, translate_sentences
from .train import (
    UsageError,
    _nonneg_float,
    _Parser,
    _positive_float,
    _positive_int,
    _probability,
    _usage_error,
    pick_device,
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def build_predict_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="backprop predict",
        description="Detect objects in images (--source), or classify the sentiment of / translate sentences (--text), "
        "with a model trained by backprop train --task detect / sentiment / translate --save.",
    )
    p.add_argument("--weights", required=True, metavar="CKPT", help="checkpoint written by backprop train --save (--task detect, sentiment or translate)")
    p.add_argument("--source", default=None, metavar="IMAGE_OR_DIR", help="detect: an image file or a directory of images")
    p.add_argument("--text", action="append", default=None, metavar="SENTENCE", help="sentiment/translate: a sentence (repeat for more; - reads one per line from stdin)")
    p.add_argument("--beam-size", type=_positive_int, default=None, help="translation: beam width (1: greedy; default 4)")
    p.add_argument("--length-penalty", type=_nonneg_float, default=None, help="translation: GNMT length penalty alpha (0: none; default 0.6)")
    p.add_argument("--conf", type=_probability, default=0.25, help="minimum class probability of a box")
    p.add_argument("--iou", type=_probability, default=0.7, help="NMS IoU threshold (per class)")
    p.add_argument("--max-det", type=_positive_int, default=100, help="most boxes per image")
    p.add_argument("--save", default=None, metavar="DIR", help="write each image with its boxes drawn into DIR")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    return p


def _sources(path: str) -> list[str]:
    if os.path.isdir(path):
        files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(IMAGE_SUFFIXES))
        if not files:
            raise UsageError(f"--source {path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this directory")
        return files
    if not os.path.isfile(path):
        raise UsageError(f"--source {path}: no such file or directory")
    return [path]


def _open_image(path: str, channels: int):
    try:
        from PIL import Image
    except ImportError:
        raise UsageError("backprop predict needs Pillow: pip install 'backprop[vision]'") from None
    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            arr = np.asarray(im)
    except OSError as exc:
        raise UsageError(f"--source {path}: not an image Pillow can read ({exc})") from None
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    return _make(np.ascontiguousarray(arr.transpose(2, 0, 1)))


@no_grad()
def predict_images(model, config: dict, paths: list[str], conf: float, iou: float, max_det: int, device) -> list[dict]:
    """Per image: ``{"path", "boxes" (K, 4) in the image's pixels, "scores", "labels"}`` (host tensors)."""
    letterbox = DT.Letterbox(config["img_size"])
    out = []
    for path in paths:
        image = _open_image(path, config["in_channels"])
        h, w = image.shape[-2:]
        empty = {"boxes": _make(np.zeros((0, 4), np.float32)), "labels": _make(np.zeros(0, np.int64))}
        boxed, meta = letterbox(image.float() / 255.0, empty)
        raw = model(boxed[None].to(device))
        det = model.postprocess(raw, conf=conf, iou=iou, max_det=max_det, image_size=boxed.shape[-2:])[0]
        boxes = to_image_coords(det["boxes"].cpu(), meta["letterbox"], (h, w))
        out.append({"path": path, "image": image, "boxes": boxes, "scores": det["scores"].cpu(), "labels": det["labels"].cpu()})
    return out


def to_image_coords(boxes, letterbox_params, image_size: tuple[int, int]):
    """Boxes on the letterboxed input -> the original image's pixels: undo the padding, then the
    scaling (``letterbox_params`` = ``(ratio, (pad_left, pad_top))``), clipped to the image."""
    ratio, (left, top) = letterbox_params
    shift = _make(np.array([left, top, left, top], np.float32))
    return clip_boxes_to_image((boxes - shift) / ratio, image_size)


def predict_main(argv=None) -> int:
    try:
        args = build_predict_parser().parse_args(argv)
        if not os.path.isfile(args.weights):
            raise UsageError(f"--weights {args.weights}: no such file")
        if (args.source is None) == (args.text is None):
            raise UsageError("give --source IMAGE_OR_DIR (a detector) or --text SENTENCE (a sentiment or translation model), not both")
        if args.text is not None:
            return _predict_text(args)
        if args.beam_size is not None or args.length_penalty is not None:
            raise UsageError("--beam-size and --length-penalty are for a translation model (--text)")
        paths = _sources(args.source)
        if args.save:
            os.makedirs(args.save, exist_ok=True)
        device = pick_device(args.device)
        model, config = load_detector(args.weights, device)
        names = config["classes"]
        for r in predict_images(model, config, paths, args.conf, args.iou, args.max_det, device):
            print(f"{r['path']}: {len(r['labels'])} object{'s' if len(r['labels']) != 1 else ''}")
            for box, score, label in zip(r["boxes"].tolist(), r["scores"].tolist(), r["labels"].tolist()):
                print(f"  {names[label]:>10} {score:.3f}  [{box[0]:.1f}, {box[1]:.1f}, {box[2]:.1f}, {box[3]:.1f}]")
            if args.save:
                _save_drawn(r, names, args.save)
    except (UsageError, FileNotFoundError, ValueError) as exc:
        return _usage_error(exc, "predict")
    return 0


def _predict_text(args) -> int:
    """Print each ``--text`` sentence's sentiment (label and probability) or its translation."""
    device = pick_device(args.device)
    model, tokenizer, config = load_text_model(args.weights, device)
    sentences = [line.strip() for text in args.text for line in (sys.stdin.read().splitlines() if text == "-" else [text])]
    sentences = [s for s in sentences if s]
    if not sentences:
        raise UsageError("--text: no sentence given")
    if config["task"] == "sentiment":
        if args.beam_size is not None or args.length_penalty is not None:
            raise UsageError(f"--weights {args.weights} is a sentiment model: --beam-size and --length-penalty are for translation")
        for sentence in sentences:
            p = predict_sentiment(model, tokenizer, sentence, device, config["max_len"], config["classes"])
            print(f"{p['prediction']}\t{p['probability']:.3f}\t{sentence}")
    else:
        beam = 4 if args.beam_size is None else args.beam_size
        alpha = 0.6 if args.length_penalty is None else args.length_penalty
        for translation in translate_sentences(model, tokenizer, sentences, device, beam, alpha, config["max_len"]):
            print(translation)
    return 0


def _save_drawn(result: dict, names: list, folder: str) -> None:
    from ..vision.utils import draw_bounding_boxes, save_image

    image = result["image"]
    if image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    drawn = image
    if len(result["boxes"]):
        labels = [f"{names[c]} {s:.2f}" for c, s in zip(result["labels"].tolist(), result["scores"].tolist())]
        drawn = draw_bounding_boxes(image.contiguous(), result["boxes"], labels=labels, colors="red", width=2)
    name = os.path.splitext(os.path.basename(result["path"]))[0] + ".png"
    save_image(drawn.float() / 255.0, os.path.join(folder, name))


def build_export_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="backprop export", description="Export a detector trained by backprop train --task detect to ONNX.")
    p.add_argument("--weights", required=True, metavar="CKPT", help="checkpoint written by backprop train --task detect --save")
    p.add_argument("--output", required=True, metavar="FILE.onnx")
    p.add_argument("--opset", type=_positive_float, default=17)
    return p


def export_main(argv=None) -> int:
    try:
        args = build_export_parser().parse_args(argv)
        if not os.path.isfile(args.weights):
            raise UsageError(f"--weights {args.weights}: no such file")
        model, config = load_detector(args.weights)
        from .. import onnx, zeros

        size = config["img_size"]
        example = zeros(1, config["in_channels"], size, size)
        names = [f"stride{s}" for s in model.strides]
        onnx.export(
            model, (example,), args.output, input_names=["images"], output_names=names,
            dynamic_axes={"images": {0: "batch"}, **{n: {0: "batch"} for n in names}}, opset_version=int(args.opset),
        )
        print(f"wrote {args.output}: input images (batch, {config['in_channels']}, {size}, {size}); outputs {', '.join(names)} "
              f"(batch, 4 + {len(config['classes'])}, H, W): ltrb distances (softplus, x stride) and class logits")
    except (UsageError, FileNotFoundError, ValueError) as exc:
        return _usage_error(exc, "export")
    return 0
