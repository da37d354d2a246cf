"""Variable-length sequences (``torch.nn.utils.rnn``): padding and ``PackedSequence``.

A packed sequence stores the valid steps of a batch time-major: all sequences' step 0, then
step 1 of those at least 2 long, ... ``batch_sizes[t]`` counts the sequences still running at
step ``t`` (the batch is sorted by decreasing length; ``sorted_indices`` remembers the order).
The RNN modules accept a ``PackedSequence`` and return one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from ..._backend import xp
from ..._tensor import Tensor, _make
from ...ops import movement as _mv

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpad_sequence",
    "pack_sequence",
    "unpack_sequence",
]


class PackedSequence_(NamedTuple):  # noqa: N801 - torch's name
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(PackedSequence_):
    """Holds the data and ``batch_sizes`` of a packed batch; build it with ``pack_padded_sequence``
    or ``pack_sequence``, not by hand."""

    def __new__(cls, data, batch_sizes: Tensor | None = None, sorted_indices: Tensor | None = None, unsorted_indices: Tensor | None = None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:
            if not (isinstance(data, (list, tuple)) and len(data) == 2):
                raise AssertionError("Expected data to be a list or tuple of length 2")
            data, batch_sizes = data
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs) -> PackedSequence:
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        return type(self)(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def cpu(self, *args, **kwargs) -> PackedSequence:
        return self

    def double(self) -> PackedSequence:
        from ... import _dtype

        return self.to(dtype=_dtype.float64)

    def float(self) -> PackedSequence:
        from ... import _dtype

        return self.to(dtype=_dtype.float32)

    @property
    def is_cuda(self) -> bool:
        return False

    def is_pinned(self) -> bool:
        return False


def _as_int64(values):
    if isinstance(values, Tensor):
        return values._data.astype(xp.int64)
    if hasattr(values, "detach") and hasattr(values, "numpy"):  # a torch tensor
        return xp.asarray(values.detach().cpu().numpy(), dtype=xp.int64)
    return xp.asarray(values, dtype=xp.int64).reshape(-1)


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The permutation that undoes ``permutation`` (None stays None)."""
    if permutation is None:
        return None
    perm = _as_int64(permutation)
    out = xp.empty_like(perm)
    out[perm] = xp.arange(perm.size, dtype=xp.int64)
    return _make(out)


def packed_rows(batch_sizes, batch: int):
    """Row indices into a (T*B, ...) time-major padded array of the packed entries, in packed order."""
    bs = _as_int64(batch_sizes)
    if bs.size == 0:
        return xp.zeros(0, dtype=xp.int64)
    t = xp.repeat(xp.arange(bs.size, dtype=xp.int64), bs)
    starts = xp.cumsum(bs) - bs
    b = xp.arange(t.size, dtype=xp.int64) - xp.repeat(starts, bs)
    return t * batch + b


def packed_to_padded(data: Tensor, batch_sizes, total_length: int | None = None, padding_value: float = 0.0) -> Tensor:
    """(sum(batch_sizes), *) packed data -> a (T, B, *) time-major padded tensor (differentiable)."""
    bs = _as_int64(batch_sizes)
    steps = int(bs.size if total_length is None else total_length)
    batch = int(bs[0]) if bs.size else 0
    rest = tuple(data._data.shape[1:])
    fill = _make(xp.full((1, *rest), padding_value, dtype=data._data.dtype))
    gather = xp.full(steps * batch, data._data.shape[0], dtype=xp.int64)  # padding reads the fill row
    gather[packed_rows(bs, batch)] = xp.arange(data._data.shape[0], dtype=xp.int64)
    extended = _mv.cat([data, fill], 0)
    return extended[_make(gather)].reshape(steps, batch, *rest)


def padded_to_packed(padded: Tensor, batch_sizes) -> Tensor:
    """(T, B, *) time-major padded tensor -> its (sum(batch_sizes), *) packed data (differentiable)."""
    steps, batch = padded._data.shape[:2]
    rows = packed_rows(batch_sizes, batch)
    return padded.reshape(steps * batch, *padded._data.shape[2:])[_make(rows)]


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch of sequences of the given ``lengths`` (sorted decreasing unless ``enforce_sorted=False``)."""
    lens = _as_int64(lengths)
    sorted_indices = None
    batch_dim = 0 if batch_first else 1
    if enforce_sorted:
        if lens.size > 1 and bool(xp.any(lens[1:] > lens[:-1])):
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can pass "
                "`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep this requirement "
                "if you do not need ONNX exportability."
            )
    else:
        order = xp.argsort(-lens, kind="stable")
        lens = lens[order]
        sorted_indices = _make(order.astype(xp.int64))
        input = input.index_select(batch_dim, sorted_indices)
    if lens.size == 0 or int(lens.min()) <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' that is <= 0")
    if input._data.shape[batch_dim] != lens.size:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {lens.size} (batch_size={input._data.shape[batch_dim]})")
    steps = input._data.shape[1 - batch_dim]
    if int(lens[0]) > steps:
        raise RuntimeError(f"Expected all lengths to be at most the sequence length {steps}, but got a length of {int(lens[0])}")
    batch_sizes = (lens[None, :] > xp.arange(int(lens[0]))[:, None]).sum(1).astype(xp.int64)
    time_major = input.transpose(0, 1) if batch_first else input
    data = padded_to_packed(time_major[: int(lens[0])], batch_sizes)
    return PackedSequence(data, _make(batch_sizes), sorted_indices, None)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0, total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Inverse of ``pack_padded_sequence``: (padded batch, lengths), in the original batch order."""
    bs = _as_int64(sequence.batch_sizes)
    max_len = int(bs.size)
    if total_length is not None:
        if total_length < max_len:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in input, but got "
                f"total_length={total_length} and max sequence length being {max_len}"
            )
        max_len = total_length
    padded = packed_to_padded(sequence.data, bs, max_len, padding_value)
    batch = int(bs[0]) if bs.size else 0
    lengths = (bs[None, :] > xp.arange(batch)[:, None]).sum(1).astype(xp.int64)
    if batch_first:
        padded = padded.transpose(0, 1)
    if sequence.unsorted_indices is not None:
        unsorted = sequence.unsorted_indices
        padded = padded.index_select(0 if batch_first else 1, unsorted)
        lengths = lengths[_as_int64(unsorted)]
    return padded, _make(lengths)


def pad_sequence(sequences: Tensor | Sequence[Tensor], batch_first: bool = False, padding_value: float = 0.0, padding_side: str = "right") -> Tensor:
    """Stack sequences of shapes (L_i, *) into (max L, B, *) (or (B, max L, *)), padding with ``padding_value``."""
    if not isinstance(sequences, Iterable):
        raise RuntimeError(f"pad_sequence: Expected iterable for input sequences, but got arg of type: {type(sequences)}")
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    seqs = list(sequences.unbind(0)) if isinstance(sequences, Tensor) else list(sequences)
    if not seqs:
        raise RuntimeError("received an empty list of sequences")
    max_len = max(s._data.shape[0] for s in seqs)
    padded = []
    for s in seqs:
        missing = max_len - s._data.shape[0]
        if missing:
            fill = _make(xp.full((missing, *s._data.shape[1:]), padding_value, dtype=s._data.dtype))
            s = _mv.cat([s, fill] if padding_side == "right" else [fill, s], 0)
        padded.append(s)
    return _mv.stack(padded, 0 if batch_first else 1)


def unpad_sequence(padded_sequences: Tensor, lengths: Tensor, batch_first: bool = False) -> list[Tensor]:
    """Split a padded batch back into its sequences (inverse of ``pad_sequence``)."""
    batch_major = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [batch_major[i, : int(n)] for i, n in enumerate(_as_int64(lengths))]


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences of shapes (L_i, *) (sorted by decreasing length unless ``enforce_sorted=False``)."""
    lengths = [s._data.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The list of sequences a ``PackedSequence`` holds (inverse of ``pack_sequence``)."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
