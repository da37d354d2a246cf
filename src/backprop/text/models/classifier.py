"""Sentence classifiers trained from scratch: a Transformer encoder and a bidirectional LSTM baseline.

Both read right-padded token ids ``(batch, time)`` (pad id ``pad_id``) and return class logits
``(batch, num_classes)``; pad positions never reach the result (key-padding masks, packed sequences,
masked pooling), so a sentence gets the same logits alone or padded in a batch. Written against the
PyTorch API only, so the oracle tests run this same source under torch.
"""

from __future__ import annotations

from ... import arange, nn
from ..._tensor import Tensor
from ...nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

__all__ = ["BiLSTMClassifier", "TransformerClassifier"]


class TransformerClassifier(nn.Module):
    """Token and learned position embeddings, a pre-norm ``nn.TransformerEncoder``, the mean of the
    non-pad positions, dropout and a linear layer."""

    def __init__(
        self,
        vocab_size: int,
        num_classes: int = 2,
        d_model: int = 128,
        nhead: int = 4,
        num_layers: int = 2,
        dim_feedforward: int = 256,
        dropout: float = 0.1,
        max_len: int = 128,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        self.pad_id, self.max_len = pad_id, max_len
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.position = nn.Embedding(max_len, d_model)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, tokens: Tensor) -> Tensor:
        if tokens.shape[1] > self.max_len:
            raise ValueError(f"TransformerClassifier: {tokens.shape[1]} tokens exceed max_len {self.max_len}")
        pad = tokens == self.pad_id
        positions = arange(tokens.shape[1], device=tokens.device)
        x = self.dropout(self.embedding(tokens) + self.position(positions))
        h = self.encoder(x, src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).to(h.dtype)
        pooled = (h * keep).sum(1) / keep.sum(1).clamp(min=1.0)
        return self.head(self.dropout(pooled))


class BiLSTMClassifier(nn.Module):
    """Embeddings, a bidirectional LSTM over the packed (unpadded) sentences, the maximum over time of
    both directions' states, dropout and a linear layer."""

    def __init__(
        self,
        vocab_size: int,
        num_classes: int = 2,
        embed_dim: int = 128,
        hidden_size: int = 128,
        num_layers: int = 1,
        dropout: float = 0.3,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(
            embed_dim, hidden_size, num_layers, batch_first=True, bidirectional=True, dropout=dropout if num_layers > 1 else 0.0
        )
        self.head = nn.Linear(2 * hidden_size, num_classes)

    def forward(self, tokens: Tensor) -> Tensor:
        pad = tokens == self.pad_id
        lengths = (~pad).sum(1).clamp(min=1).cpu()
        x = self.dropout(self.embedding(tokens))
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        h, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        h = h.masked_fill(pad.unsqueeze(-1), float("-inf"))
        return self.head(self.dropout(h.amax(1)))


