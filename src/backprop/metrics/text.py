"""BLEU for machine translation, computed by ``sacrebleu`` (the field's reference implementation).

Scores are comparable with published ones only when computed the same way: on detokenized output
against untokenized references, with sacreBLEU's own tokenization (``13a`` by default), case kept.
:func:`corpus_bleu` returns the corpus score on sacreBLEU's 0-100 scale; :class:`SacreBLEUScore` has
torchmetrics' interface (``update`` / ``compute`` / ``reset``, a 0-1 tensor).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._creation import tensor
from .._dtype import float32
from .._tensor import Tensor

__all__ = ["SacreBLEUScore", "bleu_signature", "corpus_bleu"]


def _sacrebleu():
    try:
        import sacrebleu
    except ImportError:
        raise ImportError("BLEU is computed by sacrebleu: pip install 'backprop[text]'") from None
    return sacrebleu


def _bleu(tokenize: str, lowercase: bool, smooth_method: str, n_gram: int) -> Any:
    return _sacrebleu().metrics.BLEU(tokenize=tokenize, lowercase=lowercase, smooth_method=smooth_method, max_ngram_order=n_gram)


def _references(hypotheses: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]], who: str) -> list[list[str]]:
    """sacrebleu's layout (one list per reference set) from one reference string, or a list of them, per hypothesis."""
    if isinstance(hypotheses, str):
        raise TypeError(f"{who}: hypotheses must be a sequence of strings, not one string")
    if len(hypotheses) != len(references):
        raise ValueError(f"{who}: {len(hypotheses)} hypotheses but {len(references)} references")
    per_sentence = [[r] if isinstance(r, str) else list(r) for r in references]
    counts = {len(r) for r in per_sentence}
    if len(counts) > 1:
        raise ValueError(f"{who}: every hypothesis needs the same number of references, got {sorted(counts)}")
    return [list(refs) for refs in zip(*per_sentence)]


def corpus_bleu(
    hypotheses: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]], tokenize: str = "13a", lowercase: bool = False
) -> float:
    """sacreBLEU's corpus BLEU (0-100) of detokenized ``hypotheses`` against one reference (or a list) each."""
    refs = _references(hypotheses, references, "corpus_bleu")
    return float(_bleu(tokenize, lowercase, "exp", 4).corpus_score(list(hypotheses), refs).score)


def bleu_signature(
    hypotheses: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]], tokenize: str = "13a", lowercase: bool = False
) -> str:
    """sacreBLEU's signature of :func:`corpus_bleu` on these sentences (it names the reference count, case,
    tokenization, smoothing and version), e.g. ``nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0``."""
    refs = _references(hypotheses, references, "bleu_signature")
    metric = _bleu(tokenize, lowercase, "exp", 4)
    metric.corpus_score(list(hypotheses), refs)
    return str(metric.get_signature())


class SacreBLEUScore:
    """torchmetrics' ``SacreBLEUScore``: ``update(preds, target)`` adds sentences (``target`` holds a list of
    references per prediction), ``compute()`` gives corpus BLEU over all of them as a 0-1 tensor."""

    def __init__(self, n_gram: int = 4, smooth: bool = False, tokenize: str = "13a", lowercase: bool = False) -> None:
        if n_gram < 1:
            raise ValueError(f"SacreBLEUScore: n_gram must be positive, got {n_gram}")
        self._metric = _bleu(tokenize, lowercase, "add-k" if smooth else "none", n_gram)
        self.reset()

    def reset(self) -> None:
        self._preds: list[str] = []
        self._target: list[list[str]] = []

    def update(self, preds: Sequence[str], target: Sequence[Sequence[str]]) -> None:
        _references(preds, target, "SacreBLEUScore.update")
        self._preds.extend(preds)
        self._target.extend([r] if isinstance(r, str) else list(r) for r in target)

    def compute(self) -> Tensor:
        if not self._preds:
            return tensor(0.0, dtype=float32)
        refs = _references(self._preds, self._target, "SacreBLEUScore.compute")
        return tensor(self._metric.corpus_score(self._preds, refs).score / 100.0, dtype=float32)
