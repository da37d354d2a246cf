"""Language data and models (torchtext's place): SST-2 and Multi30k readers, subword tokenizers trained
with Hugging Face ``tokenizers``, length-bucketed padded batches, sentence classifiers, a translation
Transformer, and greedy / beam-search decoding. BLEU lives in ``backprop.metrics`` (sacrebleu).
``tokenizers`` is the optional extra ``backprop[text]``; it is imported when a tokenizer is trained or loaded."""

from . import data, datasets, decoding, models, tokenizer
from .data import BucketBatchSampler, pad_batch, sentiment_collate, translation_collate
from .datasets import SST2, Multi30k
from .decoding import beam_search, greedy_decode
from .tokenizer import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    encode,
    load_tokenizer,
    save_tokenizer,
    train_tokenizer,
)

__all__ = [
    "BOS_ID",
    "EOS_ID",
    "PAD_ID",
    "SPECIAL_TOKENS",
    "SST2",
    "UNK_ID",
    "BucketBatchSampler",
    "Multi30k",
    "beam_search",
    "data",
    "datasets",
    "decoding",
    "encode",
    "greedy_decode",
    "load_tokenizer",
    "models",
    "pad_batch",
    "save_tokenizer",
    "sentiment_collate",
    "tokenizer",
    "train_tokenizer",
    "translation_collate",
]
