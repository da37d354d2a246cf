"""Subword tokenizers trained with Hugging Face ``tokenizers`` (the optional extra ``backprop[text]``).

:func:`train_tokenizer` learns a BPE (or WordPiece) vocabulary from the training split only. Its
pre-tokenizer marks word starts with ``▁`` (SentencePiece's metaspace) and isolates punctuation, so
decoding gives back the original text, spaces included: translations are scored by BLEU on
detokenized output, as the field does. A character never seen in training becomes ``<unk>``, which
decoding drops (there is no byte fallback). The tokenizer is a plain ``tokenizers.Tokenizer``: save it
with :func:`save_tokenizer` (JSON, written atomically) and reload it with :func:`load_tokenizer`.
The first four ids are the special tokens every backprop text model uses.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

SPECIAL_TOKENS = ("<pad>", "<unk>", "<bos>", "<eos>")
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(len(SPECIAL_TOKENS))

__all__ = [
    "BOS_ID",
    "EOS_ID",
    "PAD_ID",
    "SPECIAL_TOKENS",
    "UNK_ID",
    "encode",
    "load_tokenizer",
    "save_tokenizer",
    "train_tokenizer",
]


def _tokenizers():
    try:
        import tokenizers
    except ImportError:
        raise ImportError("backprop.text needs Hugging Face tokenizers: pip install 'backprop[text]'") from None
    return tokenizers


def train_tokenizer(texts: Iterable[str], vocab_size: int = 8000, model: str = "bpe", min_frequency: int = 2) -> Any:
    """A subword ``tokenizers.Tokenizer`` with at most ``vocab_size`` entries learned from ``texts``.

    ``model`` is ``"bpe"`` (byte-pair merges) or ``"wordpiece"`` (BERT's likelihood-based pieces); both
    decode back to the original text. ``SPECIAL_TOKENS`` take ids 0..3.
    """
    tk = _tokenizers()
    if model not in ("bpe", "wordpiece"):
        raise ValueError(f"train_tokenizer: model must be 'bpe' or 'wordpiece', got {model!r}")
    if vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"train_tokenizer: vocab_size must exceed the {len(SPECIAL_TOKENS)} special tokens, got {vocab_size}")
    unk = SPECIAL_TOKENS[UNK_ID]
    if model == "bpe":
        tokenizer = tk.Tokenizer(tk.models.BPE(unk_token=unk))
        trainer = tk.trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS), show_progress=False)
    else:
        tokenizer = tk.Tokenizer(tk.models.WordPiece(unk_token=unk, continuing_subword_prefix=""))
        trainer = tk.trainers.WordPieceTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS), continuing_subword_prefix="", show_progress=False
        )
    tokenizer.normalizer = tk.normalizers.NFC()
    tokenizer.pre_tokenizer = tk.pre_tokenizers.Sequence([tk.pre_tokenizers.Metaspace(), tk.pre_tokenizers.Punctuation("isolated")])
    tokenizer.decoder = tk.decoders.Metaspace()
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def encode(tokenizer: Any, texts: Sequence[str], max_len: int | None = None, add_bos: bool = False, add_eos: bool = False) -> list[list[int]]:
    """Token ids of each text (batched in Rust), cut to ``max_len`` ids including the BOS/EOS asked for."""
    room = None if max_len is None else max_len - add_bos - add_eos
    if room is not None and room < 1:
        raise ValueError(f"encode: max_len {max_len} leaves no room for tokens besides BOS/EOS")
    head, tail = [BOS_ID] if add_bos else [], [EOS_ID] if add_eos else []
    return [head + e.ids[:room] + tail for e in tokenizer.encode_batch(list(texts))]


def save_tokenizer(tokenizer: Any, path: str | os.PathLike) -> None:
    """Write ``tokenizer`` as Hugging Face's JSON to ``path`` atomically (a temporary file, then a rename)."""
    path = os.fspath(path)
    tmp = path + ".part"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(tokenizer.to_str())
    os.replace(tmp, path)


def load_tokenizer(path_or_json: str | os.PathLike) -> Any:
    """A tokenizer saved by :func:`save_tokenizer` (a file path) or its JSON text (as checkpoints hold it)."""
    tk = _tokenizers()
    text = os.fspath(path_or_json)
    if text.lstrip().startswith("{"):
        return tk.Tokenizer.from_str(text)
    if not os.path.isfile(text):
        raise FileNotFoundError(f"load_tokenizer: no such file: {text}")
    try:
        return tk.Tokenizer.from_file(text)
    except Exception as exc:  # tokenizers raises its own Exception type for bad JSON
        raise ValueError(f"load_tokenizer: {text} is not a tokenizers JSON file: {exc}") from None
