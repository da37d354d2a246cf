"""Character-level text: ``load_text`` and the ``TinyShakespeare`` next-character dataset."""

from __future__ import annotations

import os
from pathlib import Path

import numpy

from .._tensor import _make
from ..utils.data import Dataset

__all__ = ["TinyShakespeare", "load_text"]


def load_text(path: str | os.PathLike) -> tuple[str, list[str]]:
    """The text of a UTF-8 file and its sorted character vocabulary."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"text file {path} not found")
    text = path.read_text(encoding="utf-8")
    return text, sorted(set(text))


class TinyShakespeare(Dataset):
    """Character-level Tiny Shakespeare (karpathy/char-rnn's ``input.txt``) as (x, y) next-character pairs.

    ``path`` is ``input.txt`` itself or a folder holding it (directly or in ``tinyshakespeare/``).
    The first ``train_fraction`` of the characters is the train split, the rest the validation split.
    Sample ``i`` is ``x = ids[i : i + block_size]`` and ``y = ids[i + 1 : i + block_size + 1]`` (int64).
    The vocabulary is always that of the whole text, so both splits share ``stoi``/``itos``.
    """

    def __init__(
        self, path: str | os.PathLike, block_size: int = 128, train: bool = True, train_fraction: float = 0.9
    ) -> None:
        path = Path(path)
        if path.is_dir():
            for candidate in (path / "input.txt", path / "tinyshakespeare" / "input.txt"):
                if candidate.is_file():
                    path = candidate
                    break
        if block_size <= 0:
            raise ValueError(f"block_size should be positive, got {block_size}")
        self.text, self.chars = load_text(path)
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        self.itos = dict(enumerate(self.chars))
        codepoints = numpy.frombuffer(self.text.encode("utf-32-le"), dtype=numpy.uint32)
        table = numpy.array([ord(c) for c in self.chars], dtype=numpy.uint32)
        ids = numpy.searchsorted(table, codepoints).astype(numpy.int64)
        split = int(train_fraction * len(ids))
        self.data = ids[:split] if train else ids[split:]
        self.block_size = block_size
        self.train = train

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, s: str) -> list[int]:
        return [self.stoi[c] for c in s]

    def decode(self, ids) -> str:
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        return "".join(self.itos[int(i)] for i in ids)

    def __len__(self) -> int:
        return max(len(self.data) - self.block_size, 0)

    def __getitem__(self, index: int):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} is out of range for a dataset of {len(self)} samples")
        chunk = self.data[index : index + self.block_size + 1]
        return _make(chunk[:-1].copy()), _make(chunk[1:].copy())
