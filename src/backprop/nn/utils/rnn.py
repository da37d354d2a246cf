"""Variable-length sequences (``torch.nn.utils.rnn``): padding and ``PackedSequence``.

A packed sequence stores the valid steps of a batch time-major: all sequences' step 0, then
step 1 of those at least 2 long, ... ``batch_sizes[t]`` counts the sequences still running at
step ``t`` (the batch is sorted by decreasing length; ``sorted_indices`` remembers the order).
The RNN modules accept a ``PackedSequence`` and return one.

Devices follow torch: ``data`` and the index permutations live on the data's device;
``batch_sizes`` and the ``lengths`` returned by ``pad_packed_sequence`` are host (CPU)
tensors, and ``lengths`` given as a tensor are read on the host. Index arrays built from
them are made in host memory and copied once to the data's device.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy

from ..._backend import array_module, backend_of, move
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

    def _with_data(self, data: Tensor) -> PackedSequence:
        """This sequence with ``data`` converted; the index permutations follow it to its device
        (``batch_sizes`` stays on the CPU), as torch."""
        if data is self.data:
            return self
        device = data.device
        sorted_indices, unsorted_indices = (None if t is None else t.to(device) for t in (self.sorted_indices, self.unsorted_indices))
        return type(self)(data, self.batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs) -> PackedSequence:
        return self._with_data(self.data.to(*args, **kwargs))

    def cpu(self, *args, **kwargs) -> PackedSequence:
        return self._with_data(self.data.cpu())

    def cuda(self, *args, **kwargs) -> PackedSequence:
        return self._with_data(self.data.cuda(*args, **kwargs))

    def double(self) -> PackedSequence:
        from ... import _dtype

        return self.to(dtype=_dtype.float64)

    def float(self) -> PackedSequence:
        from ... import _dtype

        return self.to(dtype=_dtype.float32)

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda

    def is_pinned(self) -> bool:
        return False


def _as_int64(values) -> numpy.ndarray:
    """Lengths or batch sizes (a tensor of any device, a torch tensor, a list) as a host int64 array."""
    if isinstance(values, Tensor):
        data = values._data
        return backend_of(data).to_host(data).astype(numpy.int64)
    if hasattr(values, "detach") and hasattr(values, "numpy"):  # a torch tensor
        return numpy.asarray(values.detach().cpu().numpy(), dtype=numpy.int64)
    return numpy.asarray(values, dtype=numpy.int64).reshape(-1)


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The permutation that undoes ``permutation`` (None stays None), on its device."""
    if permutation is None:
        return None
    if isinstance(permutation, Tensor):
        perm = permutation._data.astype(numpy.int64)
    else:
        perm = _as_int64(permutation)
    xp = array_module(perm)
    out = xp.empty_like(perm)
    out[perm] = xp.arange(perm.size, dtype=numpy.int64)
    return _make(out)


def packed_rows(batch_sizes, batch: int) -> numpy.ndarray:
    """Row indices into a (T*B, ...) time-major padded array of the packed entries, in packed
    order (a host array: batch sizes live on the host)."""
    bs = _as_int64(batch_sizes)
    if bs.size == 0:
        return numpy.zeros(0, dtype=numpy.int64)
    t = numpy.repeat(numpy.arange(bs.size, dtype=numpy.int64), bs)
    starts = numpy.cumsum(bs) - bs
    b = numpy.arange(t.size, dtype=numpy.int64) - numpy.repeat(starts, bs)
    return t * batch + b


def packed_to_padded(data: Tensor, batch_sizes, total_length: int | None = None, padding_value: float = 0.0) -> Tensor:
    """(sum(batch_sizes), *) packed data -> a (T, B, *) time-major padded tensor (differentiable)."""
    bs = _as_int64(batch_sizes)
    steps = int(bs.size if total_length is None else total_length)
    batch = int(bs[0]) if bs.size else 0
    rest = tuple(data._data.shape[1:])
    fill = _make(array_module(data._data).full((1, *rest), padding_value, dtype=data._data.dtype))
    gather = numpy.full(steps * batch, data._data.shape[0], dtype=numpy.int64)  # padding reads the fill row
    gather[packed_rows(bs, batch)] = numpy.arange(data._data.shape[0], dtype=numpy.int64)
    extended = _mv.cat([data, fill], 0)
    return extended[_make(move(gather, data.device))].reshape(steps, batch, *rest)


def padded_to_packed(padded: Tensor, batch_sizes) -> Tensor:
    """(T, B, *) time-major padded tensor -> its (sum(batch_sizes), *) packed data (differentiable)."""
    steps, batch = padded._data.shape[:2]
    rows = move(packed_rows(batch_sizes, batch), padded.device)
    return padded.reshape(steps * batch, *padded._data.shape[2:])[_make(rows)]


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch of sequences of the given ``lengths`` (sorted decreasing unless ``enforce_sorted=False``)."""
    lens = _as_int64(lengths)
    sorted_indices = None
    batch_dim = 0 if batch_first else 1
    if enforce_sorted:
        if lens.size > 1 and bool(numpy.any(lens[1:] > lens[:-1])):
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You can pass "
                "`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep this requirement "
                "if you do not need ONNX exportability."
            )
    else:
        order = numpy.argsort(-lens, kind="stable")
        lens = lens[order]
        sorted_indices = _make(move(order.astype(numpy.int64), input.device))
        input = input.index_select(batch_dim, sorted_indices)
    if lens.size == 0 or int(lens.min()) <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' that is <= 0")
    if input._data.shape[batch_dim] != lens.size:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {lens.size} (batch_size={input._data.shape[batch_dim]})")
    steps = input._data.shape[1 - batch_dim]
    if int(lens[0]) > steps:
        raise RuntimeError(f"Expected all lengths to be at most the sequence length {steps}, but got a length of {int(lens[0])}")
    batch_sizes = (lens[None, :] > numpy.arange(int(lens[0]))[:, None]).sum(1).astype(numpy.int64)
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
    lengths = (bs[None, :] > numpy.arange(batch)[:, None]).sum(1).astype(numpy.int64)
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
            fill = _make(array_module(s._data).full((missing, *s._data.shape[1:]), padding_value, dtype=s._data.dtype))
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
