"""backprop.text's tokenizer, batching and sentence classifiers, and backprop.metrics' BLEU.

The classifiers run a second time under torch 2.13 from the same source (imports rewritten, weights
copied by state_dict name): logits and every parameter gradient must match. Padding is proven harmless
by comparing a padded batch with the same sentences run one by one. BLEU is sacrebleu's own number.
"""

from __future__ import annotations

import numpy as np
import pytest

import backprop
from backprop.metrics import SacreBLEUScore, bleu_signature, corpus_bleu
from backprop.text import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SPECIAL_TOKENS,
    BucketBatchSampler,
    encode,
    load_tokenizer,
    pad_batch,
    save_tokenizer,
    sentiment_collate,
    train_tokenizer,
    translation_collate,
)
from backprop.text.models import BiLSTMClassifier, TransformerClassifier

torch = pytest.importorskip("torch")
sacrebleu = pytest.importorskip("sacrebleu")

from text_twin import torch_module  # noqa: E402  (needs torch)

CORPUS = [
    "Two young, White males are outside near many bushes.",
    "Several men in hard hats are operating a giant pulley system.",
    "A little girl climbing into a wooden playhouse.",
    "A man in a blue shirt is standing on a ladder cleaning windows.",
    "Two men are at the stove preparing food.",
    "A man in green holds a guitar while the other man observes his shirt.",
    "Ein Mann mit einem orangefarbenen Hut, der etwas anstarrt.",
    "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche.",
] * 4


# ---------------------------------------------------------------------------- tokenizer
@pytest.mark.parametrize("model", ["bpe", "wordpiece"])
def test_tokenizer_round_trip_specials_and_reload(tmp_path, model):
    tok = train_tokenizer(CORPUS, vocab_size=300, model=model, min_frequency=1)
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3]
    assert 4 < tok.get_vocab_size() <= 300
    unseen = "A woman, in a red hat, plays the guitar."  # words never seen, made of characters that were
    for text in CORPUS[:8] + [unseen]:
        ids = tok.encode(text).ids
        assert tok.decode(ids) == text  # detokenized output is the original text, spaces and punctuation kept
    path = tmp_path / "tok.json"
    save_tokenizer(tok, path)
    assert not (tmp_path / "tok.json.part").exists()
    for again in (load_tokenizer(path), load_tokenizer(path.read_text())):
        assert again.encode(unseen).ids == tok.encode(unseen).ids
    # a character never seen in training is <unk>, and decoding drops it
    assert tok.encode("guitar!").ids[-1] == 1 and tok.decode(tok.encode("guitar!").ids) == "guitar"


def test_encode_adds_specials_and_cuts():
    tok = train_tokenizer(CORPUS, vocab_size=200, min_frequency=1)
    full = tok.encode(CORPUS[0]).ids
    assert encode(tok, [CORPUS[0]]) == [full]
    cut = encode(tok, [CORPUS[0]], max_len=6, add_bos=True, add_eos=True)[0]
    assert cut == [BOS_ID, *full[:4], EOS_ID]
    with pytest.raises(ValueError, match="max_len 2 leaves no room"):
        encode(tok, ["a"], max_len=2, add_bos=True, add_eos=True)


def test_tokenizer_errors(tmp_path):
    with pytest.raises(ValueError, match="'bpe' or 'wordpiece'"):
        train_tokenizer(CORPUS, model="unigram")
    with pytest.raises(ValueError, match="vocab_size must exceed"):
        train_tokenizer(CORPUS, vocab_size=4)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_tokenizer(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    with pytest.raises(ValueError, match="not a tokenizers JSON file"):
        load_tokenizer(bad)


# ---------------------------------------------------------------------------- batching
def test_bucket_sampler_covers_every_index_once_with_similar_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 60, size=1000).tolist()
    gen = backprop.Generator().manual_seed(3)
    sampler = BucketBatchSampler(lengths, batch_size=16, generator=gen, pool_factor=10)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1000))
    assert all(len(b) <= 16 for b in batches)
    # within a pool of 160 sorted examples, a batch spans a small part of the length range
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    random_spread = np.mean([np.ptp(rng.choice(lengths, 16)) for _ in range(100)])
    assert spread < random_spread / 3
    # the same generator state gives the same batches; the next epoch another order
    again = list(BucketBatchSampler(lengths, 16, generator=backprop.Generator().manual_seed(3), pool_factor=10))
    assert again == batches
    assert list(sampler) != batches


def test_bucket_sampler_in_order_and_errors():
    lengths = [5, 1, 3, 3, 9, 2]
    assert list(BucketBatchSampler(lengths, 4, shuffle=False)) == [[1, 5, 2, 3], [0, 4]]
    assert len(BucketBatchSampler(lengths, 4, shuffle=False)) == 2
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        BucketBatchSampler(lengths, 0)


def test_pad_and_collate():
    padded = pad_batch([[5, 6, 7], [8]])
    assert padded.dtype == backprop.int64 and padded.tolist() == [[5, 6, 7], [8, PAD_ID, PAD_ID]]
    tokens, labels = sentiment_collate([([5, 6], 1), ([7], 0)])
    assert tokens.tolist() == [[5, 6], [7, 0]] and labels.tolist() == [1, 0]
    src, tgt_in, tgt_out = translation_collate([([5, 6, 7], [9]), ([8], [10, 11])])
    assert src.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert tgt_in.tolist() == [[BOS_ID, 9, 0], [BOS_ID, 10, 11]]
    assert tgt_out.tolist() == [[9, EOS_ID, 0], [10, 11, EOS_ID]]
    with pytest.raises(ValueError, match="no sequences"):
        pad_batch([])


def test_dataloader_with_bucket_sampler_and_collate():
    data = [([4 + i] * (1 + i % 5), i % 2) for i in range(40)]
    sampler = BucketBatchSampler([len(x) for x, _ in data], 8, generator=backprop.Generator().manual_seed(0))
    loader = backprop.utils.data.DataLoader(data, batch_sampler=sampler, collate_fn=sentiment_collate)
    seen = 0
    for tokens, labels in loader:
        assert tokens.shape[0] == labels.shape[0] <= 8
        seen += labels.shape[0]
    assert seen == 40


# ---------------------------------------------------------------------------- classifiers
TT = torch_module("backprop.text.models.classifier")
KINDS = {
    "transformer": (TransformerClassifier, TT.TransformerClassifier, {"d_model": 16, "nhead": 2, "num_layers": 2, "dim_feedforward": 24, "max_len": 12}),
    "bilstm": (BiLSTMClassifier, TT.BiLSTMClassifier, {"embed_dim": 12, "hidden_size": 10, "num_layers": 2}),
}


def _padded_tokens(rng, lengths, vocab=30, width=None):
    width = width or max(lengths)
    tokens = np.zeros((len(lengths), width), dtype=np.int64)
    for row, n in zip(tokens, lengths):
        row[:n] = rng.integers(4, vocab, n)
    return tokens


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_classifier_against_torch(kind):
    bp_cls, tt_cls, kw = KINDS[kind]
    backprop.manual_seed(0)
    bm = bp_cls(30, 3, dropout=0.0, **kw)
    tm = tt_cls(30, 3, dropout=0.0, **kw)
    assert list(bm.state_dict()) == list(tm.state_dict())
    tm.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in bm.state_dict().items()})
    tokens = _padded_tokens(np.random.default_rng(1), [7, 3, 1, 5])
    labels = np.array([0, 2, 1, 2])
    out_b = bm(backprop.tensor(tokens))
    out_t = tm(torch.from_numpy(tokens))
    np.testing.assert_allclose(out_b.detach().numpy(), out_t.detach().numpy(), rtol=1e-4, atol=1e-5)
    backprop.nn.functional.cross_entropy(out_b, backprop.tensor(labels)).backward()
    torch.nn.functional.cross_entropy(out_t, torch.from_numpy(labels)).backward()
    t_grads = dict(tm.named_parameters())
    for name, p in bm.named_parameters():
        g_t = t_grads[name].grad
        assert (p.grad is None) == (g_t is None), name
        if g_t is not None:
            scale = max(float(g_t.abs().max()), 1e-3)
            np.testing.assert_allclose(p.grad.numpy(), g_t.numpy(), rtol=1e-3, atol=1e-4 * scale, err_msg=name)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_classifier_padding_is_invisible(kind):
    bp_cls, _, kw = KINDS[kind]
    backprop.manual_seed(0)
    model = bp_cls(30, 2, dropout=0.5, **kw).eval()
    lengths = [6, 2, 4, 1]
    tokens = _padded_tokens(np.random.default_rng(2), lengths, width=9)  # more padding than any sentence needs
    with backprop.no_grad():
        batch = model(backprop.tensor(tokens)).numpy()
        for i, n in enumerate(lengths):
            alone = model(backprop.tensor(tokens[i : i + 1, :n])).numpy()
            np.testing.assert_allclose(batch[i], alone[0], rtol=1e-5, atol=1e-6)


def test_transformer_classifier_too_long():
    model = TransformerClassifier(30, 2, d_model=8, nhead=2, num_layers=1, dim_feedforward=8, max_len=4)
    with pytest.raises(ValueError, match="5 tokens exceed max_len 4"):
        model(backprop.ones(1, 5, dtype=backprop.int64))


# ---------------------------------------------------------------------------- BLEU
HYPS = [
    "Two young men are outside near bushes.",
    "Several men in hard hats operate a big pulley system.",
    "A little girl climbs into a wooden playhouse.",
    "",
    "A man in a blue shirt stands on a ladder and cleans windows!",
]
REFS = [
    "Two young, White males are outside near many bushes.",
    "Several men in hard hats are operating a giant pulley system.",
    "A little girl climbing into a wooden playhouse.",
    "Two men are at the stove preparing food.",
    "A man in a blue shirt is standing on a ladder cleaning windows.",
]


def test_corpus_bleu_is_sacrebleu():
    want = sacrebleu.corpus_bleu(HYPS, [REFS])
    assert corpus_bleu(HYPS, REFS) == pytest.approx(want.score, abs=1e-12)
    assert 0 < want.score < 100
    reference_metric = sacrebleu.metrics.BLEU()
    reference_metric.corpus_score(HYPS, [REFS])
    assert bleu_signature(HYPS, REFS) == str(reference_metric.get_signature())
    assert bleu_signature(HYPS, REFS).startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    lower = sacrebleu.corpus_bleu([h.upper() for h in HYPS], [REFS], lowercase=True).score
    assert corpus_bleu([h.upper() for h in HYPS], REFS, lowercase=True) == pytest.approx(lower, abs=1e-12)
    second = [r.replace("men", "guys") for r in REFS]
    multi = sacrebleu.corpus_bleu(HYPS, [REFS, second]).score
    assert corpus_bleu(HYPS, list(zip(REFS, second))) == pytest.approx(multi, abs=1e-12)
    assert corpus_bleu(REFS, REFS) == pytest.approx(100.0)


def test_sacrebleu_score_metric_accumulates():
    metric = SacreBLEUScore()
    metric.update(HYPS[:2], [[r] for r in REFS[:2]])
    metric.update(HYPS[2:], [[r] for r in REFS[2:]])
    want = sacrebleu.metrics.BLEU(smooth_method="none").corpus_score(HYPS, [REFS]).score / 100
    assert float(metric.compute()) == pytest.approx(want, rel=1e-6)
    metric.reset()
    assert float(metric.compute()) == 0.0


def test_bleu_errors():
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        corpus_bleu(["a", "b"], ["a"])
    with pytest.raises(TypeError, match="not one string"):
        corpus_bleu("a b", ["a b"])
    with pytest.raises(ValueError, match="same number of references"):
        corpus_bleu(["a", "b"], [["a"], ["b", "c"]])
