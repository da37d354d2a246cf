"""Encoder-decoder Transformer for translation (pre-norm ``nn.Transformer``, shared source/target embedding
tied to the output projection) with incremental decoding for greedy and beam search.

Written against the PyTorch API only (relative imports of backprop's top level), so the same source runs
under torch.
"""

from __future__ import annotations

import math
from typing import Any

from ... import arange, cat, cos, exp, nn, no_grad, ones, sin, triu, zeros
from ... import bool as bool_dtype
from ..._tensor import Tensor
from ...nn import functional as F

__all__ = ["SinusoidalPositionalEncoding", "TranslationTransformer"]


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sine/cosine position table of "Attention Is All You Need" to (B, T, d) inputs.

    ``pe[pos, 2i] = sin(pos / 10000^(2i/d))``, ``pe[pos, 2i+1] = cos(pos / 10000^(2i/d))``; the table is a
    non-persistent buffer (not in the state dict: it is a function of ``d_model`` and ``max_len``).
    """

    def __init__(self, d_model: int, max_len: int = 256) -> None:
        super().__init__()
        if d_model <= 0 or max_len <= 0:
            raise ValueError(f"SinusoidalPositionalEncoding: d_model and max_len must be positive, got d_model={d_model}, max_len={max_len}")
        self.d_model = d_model
        self.max_len = max_len
        position = arange(max_len).float().unsqueeze(1)
        div_term = exp(arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe = zeros(max_len, d_model)
        pe[:, 0::2] = sin(position * div_term)
        pe[:, 1::2] = cos(position * div_term[: d_model // 2])
        self.register_buffer("pe", pe, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` (B, T, d) plus the first T rows of the table."""
        length = x.shape[1]
        if length > self.max_len:
            raise ValueError(f"SinusoidalPositionalEncoding: sequence length {length} exceeds max_len={self.max_len} (input shape {tuple(x.shape)})")
        return x + self.pe[:length].to(x.dtype)


class TranslationTransformer(nn.Module):
    """Pre-norm encoder-decoder Transformer over a joint (source + target) vocabulary.

    One token embedding (init normal(0, d_model**-0.5), as fairseq) serves source and target, scaled by
    sqrt(d_model), plus sinusoidal positions and dropout; ``output_projection.weight`` IS the embedding
    weight (tied), with its own bias. Padding (``pad_id``) is masked with bool key-padding masks (True =
    pad) and the decoder's causal mask is a bool (T, T) upper-triangular mask.

    ``forward(src, tgt_in)`` is teacher forcing: (B, S) and (B, T) token ids -> (B, T, V) logits.
    ``start_state`` / ``decode_step`` / ``reorder_state`` decode one position at a time, caching per
    decoder layer the self-attention keys/values of the previous positions and the projected memory.
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 256,
        nhead: int = 4,
        num_encoder_layers: int = 3,
        num_decoder_layers: int = 3,
        dim_feedforward: int = 1024,
        dropout: float = 0.1,
        max_len: int = 256,
        pad_id: int = 0,
        norm_first: bool = True,
    ) -> None:
        super().__init__()
        if not 0 <= pad_id < vocab_size:
            raise ValueError(f"TranslationTransformer: pad_id={pad_id} is outside the vocabulary of size {vocab_size}")
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.nhead = nhead
        self.pad_id = pad_id
        self.max_len = max_len  # longest source or target (positions in the sinusoidal table)
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.positional_encoding = SinusoidalPositionalEncoding(d_model, max_len)
        self.dropout = nn.Dropout(dropout)
        encoder_layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True, norm_first=norm_first)
        # enable_nested_tensor=False: the nested fast path never applies to pre-norm layers (torch would warn)
        encoder = nn.TransformerEncoder(encoder_layer, num_encoder_layers, nn.LayerNorm(d_model), enable_nested_tensor=False)
        self.transformer = nn.Transformer(
            d_model,
            nhead,
            num_encoder_layers,
            num_decoder_layers,
            dim_feedforward,
            dropout,
            custom_encoder=encoder,
            batch_first=True,
            norm_first=norm_first,
        )
        self.output_projection = nn.Linear(d_model, vocab_size)
        nn.init.normal_(self.embedding.weight, mean=0.0, std=d_model**-0.5)
        nn.init.zeros_(self.output_projection.bias)
        with no_grad():
            self.embedding.weight[pad_id].zero_()
        self.output_projection.weight = self.embedding.weight
        self.embed_scale = math.sqrt(d_model)

    def _embed(self, tokens: Tensor) -> Tensor:
        return self.dropout(self.positional_encoding(self.embedding(tokens) * self.embed_scale))

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """(B, S) source ids -> ``(memory (B, S, d), src_key_padding_mask (B, S) bool, True = pad)``."""
        src_key_padding_mask = src.eq(self.pad_id)
        memory = self.transformer.encoder(self._embed(src), src_key_padding_mask=src_key_padding_mask)
        return memory, src_key_padding_mask

    def decode(self, tgt_in: Tensor, memory: Tensor, src_key_padding_mask: Tensor) -> Tensor:
        """(B, T) decoder inputs (BOS first) over ``memory`` -> (B, T, V) next-token logits."""
        length = tgt_in.shape[1]
        causal_mask = triu(ones(length, length, dtype=bool_dtype, device=tgt_in.device), diagonal=1)
        hidden = self.transformer.decoder(
            self._embed(tgt_in),
            memory,
            tgt_mask=causal_mask,
            tgt_key_padding_mask=tgt_in.eq(self.pad_id),
            memory_key_padding_mask=src_key_padding_mask,
        )
        return self.output_projection(hidden)

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: (B, S) source and (B, T) shifted target ids -> (B, T, V) logits."""
        memory, src_key_padding_mask = self.encode(src)
        return self.decode(tgt_in, memory, src_key_padding_mask)

    # ----- incremental decoding -----

    def _split_heads(self, x: Tensor) -> Tensor:
        """(B, L, d) -> (B, heads, L, d / heads)."""
        return x.reshape(x.shape[0], x.shape[1], self.nhead, self.d_model // self.nhead).transpose(1, 2)

    def start_state(self, memory: Tensor, src_key_padding_mask: Tensor) -> dict[str, Any]:
        """The decoding state before the first step: each layer's memory keys/values (projected once), the
        source mask, no cached positions yet."""
        d = self.d_model
        memory_kv = []
        for layer in self.transformer.decoder.layers:
            attn = layer.multihead_attn
            weight, bias = attn.in_proj_weight, attn.in_proj_bias
            key = F.linear(memory, weight[d : 2 * d], None if bias is None else bias[d : 2 * d])
            value = F.linear(memory, weight[2 * d :], None if bias is None else bias[2 * d :])
            memory_kv.append((self._split_heads(key), self._split_heads(value)))
        # SDPA's bool mask keeps True entries: (B, 1, 1, S)
        memory_keep = src_key_padding_mask.logical_not().unsqueeze(1).unsqueeze(1)
        return {"step": 0, "memory_kv": memory_kv, "memory_keep": memory_keep, "self_kv": [None] * len(memory_kv)}

    def reorder_state(self, state: dict[str, Any], index: Tensor) -> dict[str, Any]:
        """A state whose row i is row ``index[i]`` of ``state`` (beam reordering, dropping finished rows)."""

        def pick(t: Tensor) -> Tensor:
            return t.index_select(0, index)

        return {
            "step": state["step"],
            "memory_kv": [(pick(k), pick(v)) for k, v in state["memory_kv"]],
            "memory_keep": pick(state["memory_keep"]),
            "self_kv": [None if kv is None else (pick(kv[0]), pick(kv[1])) for kv in state["self_kv"]],
        }

    def _attend(self, attn: nn.MultiheadAttention, query: Tensor, key: Tensor, value: Tensor, keep: Tensor | None) -> Tensor:
        """Scaled dot-product attention of (B, heads, 1, hd) queries, then the module's output projection."""
        dropout_p = attn.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=keep, dropout_p=dropout_p)
        out = out.transpose(1, 2).reshape(query.shape[0], 1, self.d_model)
        return F.linear(out, attn.out_proj.weight, attn.out_proj.bias)

    def _self_attention_step(self, layer: nn.TransformerDecoderLayer, x: Tensor, cache: tuple[Tensor, Tensor] | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        attn = layer.self_attn
        query, key, value = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
        query, key, value = self._split_heads(query), self._split_heads(key), self._split_heads(value)
        if cache is not None:
            key = cat([cache[0], key], dim=2)
            value = cat([cache[1], value], dim=2)
        return layer.dropout1(self._attend(attn, query, key, value, None)), (key, value)

    def _cross_attention_step(self, layer: nn.TransformerDecoderLayer, x: Tensor, memory_kv: tuple[Tensor, Tensor], keep: Tensor) -> Tensor:
        attn = layer.multihead_attn
        d = self.d_model
        bias = attn.in_proj_bias
        query = self._split_heads(F.linear(x, attn.in_proj_weight[:d], None if bias is None else bias[:d]))
        return layer.dropout2(self._attend(attn, query, memory_kv[0], memory_kv[1], keep))

    @staticmethod
    def _feed_forward(layer: nn.TransformerDecoderLayer, x: Tensor) -> Tensor:
        return layer.dropout3(layer.linear2(layer.dropout(layer.activation(layer.linear1(x)))))

    def decode_step(self, token: Tensor, state: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
        """Feed one (B,) token per row at position ``state["step"]`` -> ``(logits (B, V), new state)``.

        Equal to the last position of ``decode`` on the whole prefix: per layer, the new query attends to
        the cached keys/values of the previous positions plus its own, then to the memory (source padding
        masked), then the feed-forward block, in the layers' own norm order; then the decoder's final norm.
        """
        step = state["step"]
        if step >= self.max_len:
            raise ValueError(f"TranslationTransformer.decode_step: position {step} exceeds the positional encoding's max_len={self.max_len}")
        x = self.embedding(token.unsqueeze(1)) * self.embed_scale
        x = self.dropout(x + self.positional_encoding.pe[step : step + 1].to(x.dtype))
        new_self_kv = []
        keep = state["memory_keep"]
        for layer, memory_kv, cache in zip(self.transformer.decoder.layers, state["memory_kv"], state["self_kv"]):
            if layer.norm_first:
                attended, kv = self._self_attention_step(layer, layer.norm1(x), cache)
                x = x + attended
                x = x + self._cross_attention_step(layer, layer.norm2(x), memory_kv, keep)
                x = x + self._feed_forward(layer, layer.norm3(x))
            else:
                attended, kv = self._self_attention_step(layer, x, cache)
                x = layer.norm1(x + attended)
                x = layer.norm2(x + self._cross_attention_step(layer, x, memory_kv, keep))
                x = layer.norm3(x + self._feed_forward(layer, x))
            new_self_kv.append(kv)
        if self.transformer.decoder.norm is not None:
            x = self.transformer.decoder.norm(x)
        logits = self.output_projection(x[:, 0])
        return logits, {"step": step + 1, "memory_kv": state["memory_kv"], "memory_keep": keep, "self_kv": new_self_kv}
