"""``backprop.text.models.translation`` and ``backprop.text.decoding`` (small models: d=32, 2+2 layers).

Oracle: the modules' own source executed a second time by torch 2.13 (imports rewritten), loaded with the
same weights by state_dict name: teacher-forced logits and every parameter's gradient on padded batches,
and greedy / beam-search outputs. Then incremental decoding against full decoding, padding against
sentences run alone, beam search against greedy, EOS / max_len behaviour, a toy task learned end to end,
and argument errors.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import backprop
from backprop.nn import functional as F
from backprop.text import decoding
from backprop.text.decoding import beam_search, greedy_decode
from backprop.text.models.translation import SinusoidalPositionalEncoding, TranslationTransformer

torch = pytest.importorskip("torch")

from text_twin import torch_module  # noqa: E402  (needs torch)

PAD, BOS, EOS = 0, 2, 3
VOCAB = 50
SMALL = dict(d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=64, max_len=64)


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """Tiny GEMMs: BLAS thread pools only spin against the other test worker (tens of times slower)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional extra: the tests still pass, slower
        yield
        return
    with threadpool_limits(limits=1):
        yield


TT = torch_module("backprop.text.models.translation")
TT_DECODING = torch_module("backprop.text.decoding")


def to_torch(model: TranslationTransformer, **kwargs) -> torch.nn.Module:
    """The torch twin of ``model`` with the same weights, loaded by state_dict name."""
    twin = TT.TranslationTransformer(VOCAB if "vocab_size" not in kwargs else kwargs.pop("vocab_size"), **kwargs)
    twin.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})
    return twin.train(model.training)


def assert_close(b, t, rtol=1e-5, atol_scale=1e-5, what=""):
    """backprop vs torch; the absolute tolerance scales with the oracle's magnitude."""
    b_np = b.detach().numpy() if isinstance(b, backprop.Tensor) else np.asarray(b)
    t_np = t.detach().numpy()
    assert b_np.shape == t_np.shape, f"{what}: shape {b_np.shape} vs {t_np.shape}"
    scale = max(float(np.abs(t_np).max()), 1.0)
    np.testing.assert_allclose(b_np, t_np, rtol=rtol, atol=atol_scale * scale, err_msg=what)


def padded(rows: list[list[int]]) -> backprop.Tensor:
    width = max(len(r) for r in rows)
    return backprop.tensor([r + [PAD] * (width - len(r)) for r in rows])


def random_batch(seed: int, lengths=(7, 4, 6, 2)) -> tuple[list[list[int]], list[list[int]]]:
    """Source sentences (ending in EOS) and decoder inputs (BOS first) of the given lengths."""
    rng = np.random.default_rng(seed)
    src = [rng.integers(4, VOCAB, n - 1).tolist() + [EOS] for n in lengths]
    tgt = [[BOS] + rng.integers(4, VOCAB, n + 1).tolist() for n in lengths[::-1]]
    return src, tgt


def small_model(seed=0, dropout=0.0, **kwargs) -> TranslationTransformer:
    backprop.manual_seed(seed)
    return TranslationTransformer(VOCAB, dropout=dropout, **{**SMALL, **kwargs})


def sharpened(model: TranslationTransformer, factor: float = 4.0) -> TranslationTransformer:
    """Scale the output bias and embedding so the next-token distributions are far from uniform."""
    with backprop.no_grad():
        model.embedding.weight.mul_(factor)
        model.output_projection.bias.copy_(backprop.randn(VOCAB))
    return model


# ---------------------------------------------------------------------------- module structure


def test_positional_encoding_table_and_length_check():
    pe = SinusoidalPositionalEncoding(6, max_len=5)
    pos, i = np.arange(5)[:, None], np.arange(0, 6, 2)[None, :]
    expected = np.zeros((5, 6), dtype=np.float32)
    expected[:, 0::2] = np.sin(pos / 10000 ** (i / 6))
    expected[:, 1::2] = np.cos(pos / 10000 ** (i / 6))
    np.testing.assert_allclose(pe.pe.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert "pe" not in pe.state_dict()
    x = backprop.randn(2, 3, 6)
    np.testing.assert_allclose(pe(x).numpy(), x.numpy() + expected[None, :3], rtol=1e-6, atol=1e-6)
    odd = SinusoidalPositionalEncoding(5, max_len=4)  # odd width: the last column is a sine
    np.testing.assert_allclose(odd.pe.numpy()[:, 4], np.sin(np.arange(4) / 10000 ** (4 / 5)), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="max_len=5"):
        pe(backprop.randn(1, 6, 6))


def test_tied_embedding_is_one_parameter_and_state_dict_matches_torch():
    model = small_model()
    twin = to_torch(model, **SMALL)
    assert model.output_projection.weight is model.embedding.weight
    assert list(model.state_dict()) == list(twin.state_dict())
    assert "embedding.weight" in model.state_dict() and "output_projection.weight" in model.state_dict()
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in twin.named_parameters()]
    assert "output_projection.weight" not in dict(model.named_parameters())  # counted once
    weight = model.embedding.weight.detach().numpy()
    assert np.all(weight[PAD] == 0)
    assert abs(weight[1:].std() - 32**-0.5) < 0.1 * 32**-0.5


# ---------------------------------------------------------------------------- torch oracle


@pytest.mark.parametrize("norm_first", [True, False])
def test_oracle_logits_and_every_gradient(norm_first):
    model = sharpened(small_model(seed=1, norm_first=norm_first))
    twin = to_torch(model, **SMALL, norm_first=norm_first)
    src, tgt = random_batch(1)
    src_b, tgt_b = padded(src), padded(tgt)
    src_t, tgt_t = (torch.from_numpy(x.numpy().copy()) for x in (src_b, tgt_b))
    model.eval()
    twin.eval()
    with backprop.no_grad(), torch.no_grad():
        assert_close(model(src_b, tgt_b), twin(src_t, tgt_t), what="eval logits")
    # gradients of a label-smoothed, pad-ignoring loss (eval mode: deterministic)
    gold = backprop.roll(tgt_b, -1, 1)
    loss = F.cross_entropy(model(src_b, tgt_b).reshape(-1, VOCAB), gold.reshape(-1), ignore_index=PAD, label_smoothing=0.1)
    loss.backward()
    gold_t = torch.from_numpy(gold.numpy().copy())
    loss_t = torch.nn.functional.cross_entropy(twin(src_t, tgt_t).reshape(-1, VOCAB), gold_t.reshape(-1), ignore_index=PAD, label_smoothing=0.1)
    loss_t.backward()
    assert_close(loss, loss_t, what="loss")
    twin_params = dict(twin.named_parameters())
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert_close(param.grad, twin_params[name].grad, rtol=1e-4, what=f"grad {name}")


def test_oracle_decoding_runs_identically_under_torch(trained):
    model, _, _ = trained
    twin = to_torch(model, vocab_size=model.vocab_size, **{**TOY, "dropout": 0.0})
    src_b = padded(toy_sources(np.random.default_rng(7), 6, lengths=(3, 4, 5, 6)))
    src_t = torch.from_numpy(src_b.numpy().copy())
    assert greedy_decode(model, src_b, max_len=10) == TT_DECODING.greedy_decode(twin, src_t, max_len=10)
    assert beam_search(model, src_b, beam_size=3, max_len=10) == TT_DECODING.beam_search(twin, src_t, beam_size=3, max_len=10)


# ---------------------------------------------------------------------------- incremental decoding


@pytest.mark.parametrize("norm_first", [True, False])
def test_decode_step_equals_decode_on_the_full_prefix(norm_first):
    model = sharpened(small_model(seed=2, norm_first=norm_first)).eval()
    src, tgt = random_batch(2)
    src_b, tgt_b = padded(src), padded([t[:4] for t in tgt])  # decoder inputs without pads
    with backprop.no_grad():
        memory, mask = model.encode(src_b)
        full = model.decode(tgt_b, memory, mask)
        state = model.start_state(memory, mask)
        steps = []
        for t in range(tgt_b.shape[1]):
            logits, state = model.decode_step(tgt_b[:, t], state)
            steps.append(logits)
        np.testing.assert_allclose(backprop.stack(steps, 1).numpy(), full.numpy(), rtol=1e-5, atol=1e-5 * float(full.abs().max()))
        # a reordered state decodes the reordered rows
        state = model.start_state(memory, mask)
        _, state = model.decode_step(tgt_b[:, 0], state)
        index = backprop.tensor([3, 0, 0, 2])
        logits, _ = model.decode_step(tgt_b[index, 1], model.reorder_state(state, index))
        np.testing.assert_allclose(logits.numpy(), full[index, 1].numpy(), rtol=1e-5, atol=1e-5 * float(full.abs().max()))


def test_decode_step_beyond_positional_table_raises():
    model = small_model(max_len=2).eval()
    with backprop.no_grad():
        state = model.start_state(*model.encode(backprop.tensor([[5, EOS]])))
        token = backprop.tensor([BOS])
        for _ in range(2):
            _, state = model.decode_step(token, state)
        with pytest.raises(ValueError, match="max_len=2"):
            model.decode_step(token, state)


# ---------------------------------------------------------------------------- padding masks


def test_padded_batch_equals_sentences_alone():
    model = sharpened(small_model(seed=3)).eval()
    src, tgt = random_batch(3)
    with backprop.no_grad():
        batch_logits = model(padded(src), padded(tgt))
        for i, (s, t) in enumerate(zip(src, tgt)):
            alone = model(backprop.tensor([s]), backprop.tensor([t]))[0]
            np.testing.assert_allclose(batch_logits[i, : len(t)].numpy(), alone.numpy(), rtol=1e-5, atol=1e-5 * float(alone.abs().max()))
    batch_greedy = greedy_decode(model, padded(src), max_len=12)
    batch_beam = beam_search(model, padded(src), beam_size=3, max_len=12)
    for i, s in enumerate(src):
        assert batch_greedy[i] == greedy_decode(model, backprop.tensor([s]), max_len=12)[0]
        assert batch_beam[i] == beam_search(model, backprop.tensor([s]), beam_size=3, max_len=12)[0]


# ---------------------------------------------------------------------------- a toy task, learned

TOY = dict(d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=64, max_len=16)
TOY_VOCAB = 14  # specials 0-3, symbols 4..13


def toy_sources(rng, count, lengths=(5,)):
    return [rng.integers(4, TOY_VOCAB, int(rng.choice(lengths))).tolist() for _ in range(count)]


@pytest.fixture(scope="module")
def trained():
    return train_reversal()


def train_reversal():
    """A model trained to reverse 5-symbol sequences (300 Adam steps of 64), its greedy exact match on 200
    fresh sequences, and a copy of it after 40 steps (uncertain: beam search and greedy differ)."""
    backprop.manual_seed(0)
    rng = np.random.default_rng(0)
    model = TranslationTransformer(TOY_VOCAB, dropout=0.0, **TOY)
    optimizer = backprop.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(300):
        if step == 40:
            undertrained = copy.deepcopy(model).eval()
        seqs = toy_sources(rng, 64)
        src = backprop.tensor([s + [EOS] for s in seqs])
        tgt = backprop.tensor([[BOS] + s[::-1] + [EOS] for s in seqs])
        logits = model(src, tgt[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, TOY_VOCAB), tgt[:, 1:].reshape(-1), ignore_index=PAD)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    test = toy_sources(np.random.default_rng(1), 200)
    out = greedy_decode(model, backprop.tensor([s + [EOS] for s in test]))
    accuracy = float(np.mean([o == s[::-1] for o, s in zip(out, test)]))
    return model, accuracy, undertrained


def test_toy_reversal_is_learned_and_decoded(trained):
    model, accuracy, _ = trained
    assert accuracy >= 0.9, accuracy
    assert model.training  # greedy_decode restored the training flag


def hypothesis_score(model, src: list[int], hyp: list[int], ended: bool, length_penalty: float) -> float:
    """Summed log-probability of ``hyp`` (+ EOS when it ended there) over lp, by teacher forcing."""
    target = hyp + [EOS] if ended else hyp
    with backprop.no_grad():
        logp = F.log_softmax(model.eval()(backprop.tensor([src]), backprop.tensor([[BOS] + target[:-1]]))[0], dim=-1)
    total = float(sum(logp[i, tok].item() for i, tok in enumerate(target)))
    return total / ((5 + len(target)) / 6) ** length_penalty


@pytest.mark.parametrize("length_penalty", [0.6, 0.0])
def test_beam_scores_at_least_greedy_and_beam_one_is_greedy(trained, length_penalty):
    """On the undertrained reversal model (uncertain, varied outputs), sources of unseen lengths."""
    _, _, model = trained
    src = [s + [EOS] for s in toy_sources(np.random.default_rng(5), 12, lengths=(2, 3, 4, 6, 7))]
    src_b, max_len = padded(src), 9
    greedy = greedy_decode(model, src_b, max_len=max_len)
    assert beam_search(model, src_b, beam_size=1, length_penalty=length_penalty, max_len=max_len) == greedy
    beam = beam_search(model, src_b, beam_size=4, length_penalty=length_penalty, max_len=max_len)
    improved = 0
    for s, g, b in zip(src, greedy, beam):
        assert EOS not in b and len(b) <= max_len
        g_score = hypothesis_score(model, s, g, len(g) < max_len, length_penalty)
        b_score = hypothesis_score(model, s, b, len(b) < max_len, length_penalty)
        assert b_score >= g_score - 1e-5, (s, g, b, g_score, b_score)
        improved += b_score > g_score + 1e-3
    assert improved >= 1  # the search found a better hypothesis than greedy, not just greedy's


def test_eos_ends_hypotheses_and_max_len_bounds_them():
    model = small_model(seed=6).eval()
    src = padded(random_batch(6, lengths=(2, 4))[0])
    with backprop.no_grad():
        model.output_projection.bias[EOS] = 100.0  # EOS first: empty outputs
    assert greedy_decode(model, src) == [[], []]
    assert beam_search(model, src, beam_size=3) == [[], []]
    with backprop.no_grad():
        model.output_projection.bias[EOS] = -100.0  # never EOS: exactly max_len tokens
    assert [len(o) for o in greedy_decode(model, src, max_len=3)] == [3, 3]
    assert [len(o) for o in beam_search(model, src, beam_size=3, max_len=3)] == [3, 3]
    # default: each source's length (pads excluded) + 50 ...
    assert [len(o) for o in greedy_decode(model, src)] == [52, 54]
    assert [len(o) for o in beam_search(model, src, beam_size=2)] == [52, 54]
    short = small_model(seed=6, max_len=8).eval()  # ... within the model's positions
    with backprop.no_grad():
        short.output_projection.bias[EOS] = -100.0
    assert [len(o) for o in greedy_decode(short, src)] == [8, 8]
    assert [len(o) for o in beam_search(short, src, beam_size=2)] == [8, 8]


def test_length_penalty_prefers_longer_hypotheses():
    """The search itself ignores the penalty (it only ranks the finished hypotheses), so a larger
    exponent can only pick a hypothesis at least as long (score / lp is linear in the exponent in log space)."""
    model = sharpened(small_model(seed=7)).eval()
    src = padded(random_batch(7, lengths=(5,))[0])
    none = beam_search(model, src, beam_size=4, length_penalty=0.0, max_len=10)[0]
    strong = beam_search(model, src, beam_size=4, length_penalty=2.0, max_len=10)[0]
    assert len(strong) >= len(none)
    assert hypothesis_score(model, src[0].tolist(), strong, len(strong) < 10, 2.0) >= hypothesis_score(model, src[0].tolist(), none, len(none) < 10, 2.0) - 1e-4


# ---------------------------------------------------------------------------- errors


def test_argument_errors():
    model = small_model()
    src = backprop.tensor([[5, 6, EOS]])
    with pytest.raises(ValueError, match="beam_search: beam_size"):
        beam_search(model, src, beam_size=0)
    with pytest.raises(ValueError, match="beam_search: beam_size"):
        beam_search(model, src, beam_size=2.0)
    with pytest.raises(ValueError, match="beam_search: length_penalty"):
        beam_search(model, src, length_penalty=-0.5)
    with pytest.raises(ValueError, match="greedy_decode: max_len"):
        greedy_decode(model, src, max_len=0)
    with pytest.raises(ValueError, match="beam_search: max_len"):
        beam_search(model, src, max_len=-3)
    with pytest.raises(ValueError, match="greedy_decode: src"):
        greedy_decode(model, src[0])
    with pytest.raises(ValueError, match="greedy_decode: src must hold integer"):
        greedy_decode(model, src.float())
    with pytest.raises(ValueError, match="greedy_decode: eos_id"):
        greedy_decode(model, src, eos_id=-1)
    with pytest.raises(TypeError, match="beam_search: model Linear has no encode"):
        beam_search(backprop.nn.Linear(2, 2), src)
    with pytest.raises(ValueError, match="pad_id=60"):
        TranslationTransformer(VOCAB, pad_id=60, **SMALL)
    with pytest.raises(ValueError, match="max_len=64"):
        model(backprop.randint(4, VOCAB, (1, 65)), backprop.tensor([[BOS]]))
    assert greedy_decode(model, backprop.zeros(0, 3, dtype=backprop.long)) == []
    assert beam_search(model, backprop.zeros(0, 3, dtype=backprop.long)) == []
    assert math.isclose(decoding._length_penalty(7, 0.6), 2.0**0.6)
