"""Greedy and beam-search decoding for encoder-decoder models with incremental decoding
(``encode``, ``start_state``, ``decode_step``, ``reorder_state``: see ``TranslationTransformer``).

Both decode a whole batch of sentences at once (the caller batches sentences of similar length), in eval
mode without gradients, and drop the rows of finished sentences as they finish.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .. import arange, full, no_grad, tensor
from .. import long as long_dtype
from .._tensor import Tensor
from ..nn import Module
from ..nn import functional as F

__all__ = ["greedy_decode", "beam_search"]

EXTRA_TARGET_TOKENS = 50  # default max_len: each sentence's source length (non-pad tokens) + 50, at most model.max_len


def _check_common(name: str, model: Module, src: Tensor, max_len: int | None, bos_id: int, eos_id: int, pad_id: int) -> None:
    for method in ("encode", "start_state", "decode_step", "reorder_state"):
        if not callable(getattr(model, method, None)):
            raise TypeError(f"{name}: model {type(model).__name__} has no {method}() (incremental decoding)")
    if not isinstance(src, Tensor) or src.dim() != 2:
        raise ValueError(f"{name}: src must be a (batch, length) tensor of token ids, got {getattr(src, 'shape', type(src))}")
    if src.dtype.is_floating_point or src.dtype.is_complex:
        raise ValueError(f"{name}: src must hold integer token ids, got dtype {src.dtype}")
    if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1):
        raise ValueError(f"{name}: max_len must be a positive int or None, got {max_len!r}")
    for label, value in (("bos_id", bos_id), ("eos_id", eos_id), ("pad_id", pad_id)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name}: {label} must be a non-negative int, got {value!r}")


def _length_limits(model: Module, src: Tensor, max_len: int | None, pad_id: int) -> list[int]:
    """Per sentence: at most this many generated tokens (EOS included). The default (source length + 50)
    stays within the model's ``max_len`` positions when it has that attribute."""
    if max_len is not None:
        return [max_len] * src.shape[0]
    model_max = getattr(model, "max_len", None)
    lengths = [n + EXTRA_TARGET_TOKENS for n in src.ne(pad_id).sum(dim=1).tolist()]
    return lengths if not isinstance(model_max, int) else [min(n, model_max) for n in lengths]


@contextmanager
def _inference(model: Module) -> Iterator[None]:
    """Eval mode and no gradients for the duration; the model's training flag restored after."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            yield
    finally:
        model.train(was_training)


def greedy_decode(model: Module, src: Tensor, max_len: int | None = None, bos_id: int = 2, eos_id: int = 3, pad_id: int = 0) -> list[list[int]]:
    """Most probable next token at each step, for a (B, S) batch of padded source ids.

    Returns B lists of generated ids (BOS and EOS excluded). A row stops at EOS or after ``max_len``
    generated tokens (default: its source length, pad excluded, + 50, at most ``model.max_len``); decoding
    ends when every row stops.
    """
    _check_common("greedy_decode", model, src, max_len, bos_id, eos_id, pad_id)
    batch = src.shape[0]
    limits = _length_limits(model, src, max_len, pad_id)
    outputs: list[list[int]] = [[] for _ in range(batch)]
    if batch == 0:
        return outputs
    with _inference(model):
        memory, src_key_padding_mask = model.encode(src)
        state = model.start_state(memory, src_key_padding_mask)
        rows = list(range(batch))  # the sentence each live row decodes
        token = full((batch,), bos_id, dtype=long_dtype, device=src.device)
        step = 0
        while rows:
            logits, state = model.decode_step(token, state)
            token = logits.argmax(dim=-1)
            step += 1
            keep = []
            for i, (row, tok) in enumerate(zip(rows, token.tolist())):
                if tok == eos_id:
                    continue
                outputs[row].append(tok)
                if step < limits[row]:
                    keep.append(i)
            if len(keep) < len(rows):
                rows = [rows[i] for i in keep]
                if not rows:
                    break
                index = tensor(keep, dtype=long_dtype, device=src.device)
                state = model.reorder_state(state, index)
                token = token.index_select(0, index)
    return outputs


def _length_penalty(length: int, alpha: float) -> float:
    """GNMT's lp(Y) = ((5 + |Y|) / 6) ** alpha (alpha = 0: no normalization)."""
    return ((5.0 + length) / 6.0) ** alpha


def beam_search(
    model: Module,
    src: Tensor,
    beam_size: int = 4,
    length_penalty: float = 0.6,
    max_len: int | None = None,
    bos_id: int = 2,
    eos_id: int = 3,
    pad_id: int = 0,
) -> list[list[int]]:
    """Beam search over summed log-probabilities for a (B, S) batch of padded source ids (B * beam rows).

    Each step extends every live hypothesis by every token and keeps, per sentence, the 2 * beam best; those
    ending in EOS within the first ``beam_size`` are finished, the first ``beam_size`` others stay live. A
    sentence stops with ``beam_size`` finished hypotheses or after ``max_len`` tokens (default: its source
    length, pad excluded, + 50, at most ``model.max_len``; live hypotheses then count as finished). The result is the finished
    hypothesis with the highest score / lp, lp = ((5 + length) / 6) ** length_penalty (GNMT; length counts
    generated tokens with EOS). BOS and EOS are excluded from the returned ids. ``beam_size=1`` is greedy.
    """
    _check_common("beam_search", model, src, max_len, bos_id, eos_id, pad_id)
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_search: beam_size must be an int >= 1, got {beam_size!r}")
    if isinstance(length_penalty, bool) or not isinstance(length_penalty, (int, float)) or length_penalty < 0:
        raise ValueError(f"beam_search: length_penalty must be a number >= 0, got {length_penalty!r}")
    batch = src.shape[0]
    if batch == 0:
        return []
    limits = _length_limits(model, src, max_len, pad_id)
    device = src.device
    k = beam_size
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]  # (normalized score, tokens)
    with _inference(model):
        memory, src_key_padding_mask = model.encode(src)
        state = model.start_state(memory, src_key_padding_mask)
        state = model.reorder_state(state, arange(batch, device=device).repeat_interleave(k))
        sentences = list(range(batch))  # the sentence of each live group of k rows
        # cumulative log-prob per live row: only the first of each group is live before step 1
        scores = full((batch, k), float("-inf"), device=device)
        scores[:, 0] = 0.0
        history: list[list[int]] = [[] for _ in range(batch * k)]  # generated ids per row
        token = full((batch * k,), bos_id, dtype=long_dtype, device=device)
        step = 0
        while sentences:
            logits, state = model.decode_step(token, state)
            step += 1
            groups = len(sentences)
            log_probs = F.log_softmax(logits.float(), dim=-1)
            vocab = log_probs.shape[-1]
            # the best 2k extensions of a group are among the best 2k of each of its rows
            width = min(2 * k, vocab)
            row_log_probs, row_tokens = log_probs.topk(width, dim=1)
            candidates = (scores.reshape(-1, 1) + row_log_probs).reshape(groups, k * width)
            top_scores, top_index = candidates.topk(min(2 * k, k * width), dim=1)
            top_rows = top_index.div(width, rounding_mode="floor")  # beam within the group
            top_tokens = row_tokens.reshape(groups, k * width).gather(1, top_index)
            cand_scores, cand_rows, cand_tokens = top_scores.tolist(), top_rows.tolist(), top_tokens.tolist()
            next_rows: list[int] = []  # global row each surviving hypothesis extends
            next_tokens: list[int] = []
            next_scores: list[float] = []
            next_history: list[list[int]] = []
            still_live: list[int] = []
            for g, sentence in enumerate(sentences):
                done = finished[sentence]
                live = []
                for rank in range(len(cand_scores[g])):
                    score = cand_scores[g][rank]
                    if score == float("-inf"):
                        break
                    row = g * k + cand_rows[g][rank]
                    tok = cand_tokens[g][rank]
                    if tok == eos_id:
                        if rank < k:
                            done.append((score / _length_penalty(step, length_penalty), history[row]))
                        continue
                    if len(live) < k:
                        live.append((row, tok, score))
                if len(done) >= k:
                    continue
                if step >= limits[sentence]:
                    for row, tok, score in live:
                        done.append((score / _length_penalty(step, length_penalty), history[row] + [tok]))
                    continue
                still_live.append(sentence)
                while len(live) < k:  # fewer than k finite candidates (tiny vocabulary): pad with dead rows
                    live.append((live[0][0] if live else g * k, eos_id, float("-inf")))
                for row, tok, score in live:
                    next_rows.append(row)
                    next_tokens.append(tok)
                    next_scores.append(score)
                    next_history.append(history[row] + [tok])
            sentences = still_live
            if not sentences:
                break
            index = tensor(next_rows, dtype=long_dtype, device=device)
            state = model.reorder_state(state, index)
            token = tensor(next_tokens, dtype=long_dtype, device=device)
            scores = tensor(next_scores, device=device).reshape(len(sentences), k)
            history = next_history
    results = []
    for done in finished:
        best = max(range(len(done)), key=lambda i: done[i][0])  # first of equal scores
        results.append(done[best][1])
    return results
