"""Batching sentences for the ``DataLoader``: batches of similar lengths and padding.

Padding a batch to its longest sentence wastes the work spent on pad positions, so
:class:`BucketBatchSampler` (a ``batch_sampler``) puts sentences of similar length together: it
shuffles, sorts each pool of ``pool_factor`` batches by length, cuts the pool into batches and
shuffles the batches. :func:`pad_batch` pads id lists into a ``(batch, time)`` int64 tensor; the
models derive their key-padding masks from the pad id. The collate functions are what a PyTorch
user passes as ``collate_fn``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from .. import random as _random
from .._creation import tensor
from .._dtype import int64
from .._tensor import Tensor
from ..utils.data import Sampler
from .tokenizer import BOS_ID, EOS_ID, PAD_ID

__all__ = ["BucketBatchSampler", "pad_batch", "sentiment_collate", "translation_collate"]


class BucketBatchSampler(Sampler[list[int]]):
    """Lists of ``batch_size`` indices whose ``lengths`` are close (the last batch of a pool may be shorter).

    With ``shuffle`` the order of examples and of batches is drawn from ``generator`` (a seed gives the
    same batches run to run); without it, batches follow increasing length (for evaluation).
    """

    def __init__(
        self, lengths: Sequence[int], batch_size: int, shuffle: bool = True, generator: _random.Generator | None = None, pool_factor: int = 50
    ) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"BucketBatchSampler: batch_size should be a positive integer, got {batch_size!r}")
        if pool_factor <= 0:
            raise ValueError(f"BucketBatchSampler: pool_factor should be positive, got {pool_factor}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size, self.shuffle, self.generator, self.pool_factor = batch_size, shuffle, generator, pool_factor

    def __iter__(self) -> Iterator[list[int]]:
        n = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            for start in range(0, n, self.batch_size):
                yield order[start : start + self.batch_size].tolist()
            return
        order = _random.randperm(n, generator=self.generator).numpy()
        pool = self.batch_size * self.pool_factor
        batches = []
        for start in range(0, n, pool):
            chunk = order[start : start + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches.extend(chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size))
        for b in _random.randperm(len(batches), generator=self.generator).tolist():
            yield batches[b].tolist()

    def __len__(self) -> int:
        if not self.shuffle:
            return -(-len(self.lengths) // self.batch_size)
        pool = self.batch_size * self.pool_factor
        full, rest = divmod(len(self.lengths), pool)
        return full * self.pool_factor + -(-rest // self.batch_size)


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int = PAD_ID) -> Tensor:
    """Id lists as one ``(batch, longest)`` int64 tensor, right-padded with ``pad_id``."""
    if not sequences:
        raise ValueError("pad_batch: no sequences")
    width = max(len(s) for s in sequences)
    out = np.full((len(sequences), width), pad_id, dtype=np.int64)
    for row, seq in zip(out, sequences):
        row[: len(seq)] = seq
    return tensor(out, dtype=int64)


def sentiment_collate(batch: Sequence[tuple[Sequence[int], int]]) -> tuple[Tensor, Tensor]:
    """``[(ids, label), ...]`` -> ``(tokens (B, T) padded with PAD_ID, labels (B,))``."""
    ids, labels = zip(*batch)
    return pad_batch(ids), tensor(list(labels), dtype=int64)


def translation_collate(batch: Sequence[tuple[Sequence[int], Sequence[int]]]) -> tuple[Tensor, Tensor, Tensor]:
    """``[(source ids, target ids), ...]`` -> ``(source, decoder input, decoder target)`` for teacher forcing:
    the decoder reads ``BOS y1 .. yn`` and is trained to emit ``y1 .. yn EOS`` (pads are ignored by the loss)."""
    sources, targets = zip(*batch)
    return pad_batch(sources), pad_batch([[BOS_ID, *t] for t in targets]), pad_batch([[*t, EOS_ID] for t in targets])
