"""Metrics, torchmetrics' counterparts: ``MeanAveragePrecision`` (COCO mAP for object detection,
equal to pycocotools' COCOeval) and ``SacreBLEUScore`` / ``corpus_bleu`` (BLEU for translation,
computed by sacrebleu)."""

from backprop.metrics import detection, text
from backprop.metrics.detection import MeanAveragePrecision
from backprop.metrics.text import SacreBLEUScore, bleu_signature, corpus_bleu

__all__ = ["MeanAveragePrecision", "SacreBLEUScore", "bleu_signature", "corpus_bleu", "detection", "text"]
