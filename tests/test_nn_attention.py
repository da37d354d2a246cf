"""Attention and Transformers against torch 2.13: scaled_dot_product_attention, MultiheadAttention,
TransformerEncoder/Decoder(Layer), Transformer (torch's weights loaded by name; outputs, attention
weights, input and parameter gradients), gradcheck/gradgradcheck of the fused attention op, and a
tiny GPT trained side by side with AdamW."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import backprop
import backprop.nn.functional as BF
from backprop.autograd import gradcheck, gradgradcheck
from backprop.ops.attention import attention
from nn_oracle import check_layer

R = np.random.default_rng(0)


def rand(*shape, scale: float = 1.0, dtype=np.float32):
    return (R.standard_normal(shape) * scale).astype(dtype)


def causal_float(n: int, m: int | None = None) -> np.ndarray:
    m = n if m is None else m
    return np.triu(np.full((n, m), -np.inf, dtype=np.float32), 1)


def causal_bool(n: int) -> np.ndarray:
    """MultiheadAttention's convention: True = masked out."""
    return np.triu(np.ones((n, n), dtype=bool), 1)


def kpm(rows) -> np.ndarray:
    """Key padding mask (True = padding) from per-row counts of real tokens, ``rows = (len, total)``."""
    lengths, total = rows
    return np.arange(total)[None, :] >= np.asarray(lengths)[:, None]


# ============================================================================ scaled_dot_product_attention
def _pair(a: np.ndarray, grad: bool = True, device="cpu"):
    return backprop.tensor(a, requires_grad=grad, device=device), torch.tensor(a, requires_grad=grad)


def _sdpa_check(q, k, v, mask=None, rtol=1e-4, atol=1e-5, device="cpu", **kw):
    """Our SDPA on ``device`` against torch's: output and gradients (compared on the host)."""
    bq, tq = _pair(q, device=device)
    bk, tk = _pair(k, device=device)
    bv, tv = _pair(v, device=device)
    bm = tm = None
    if mask is not None:
        bm, tm = _pair(mask, grad=mask.dtype.kind == "f", device=device)
    bo = BF.scaled_dot_product_attention(bq, bk, bv, attn_mask=bm, **kw)
    to = TF.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm, **kw)
    assert tuple(bo.shape) == tuple(to.shape)
    assert bo.device.type == backprop.device(device).type
    np.testing.assert_allclose(bo.detach().cpu().numpy(), to.detach().numpy(), rtol=rtol, atol=atol)
    g = rand(*to.shape)
    (bo * backprop.tensor(g, device=device)).sum().backward()
    (to * torch.tensor(g)).sum().backward()
    pairs = [(bq, tq), (bk, tk), (bv, tv)] + ([(bm, tm)] if tm is not None and tm.requires_grad else [])
    for i, (b, t) in enumerate(pairs):
        assert b.grad.device.type == backprop.device(device).type, f"grad {i} on {b.grad.device}"
        bg = b.grad.cpu().numpy()
        assert np.isfinite(bg).all(), f"grad {i} not finite"
        np.testing.assert_allclose(bg, t.grad.numpy(), rtol=rtol * 10, atol=atol * 10, err_msg=f"grad {i}")
    return bo


SDPA_CASES = {
    "plain": lambda: ((rand(2, 3, 4, 8), rand(2, 3, 5, 8), rand(2, 3, 5, 6)), {}),
    "2d": lambda: ((rand(4, 8), rand(5, 8), rand(5, 6)), {}),
    "3d": lambda: ((rand(3, 4, 8), rand(3, 5, 8), rand(3, 5, 8)), {}),
    "scale": lambda: ((rand(2, 2, 4, 8), rand(2, 2, 5, 8), rand(2, 2, 5, 8)), {"scale": 0.3}),
    "scale_zero": lambda: ((rand(2, 4, 8), rand(2, 5, 8), rand(2, 5, 8)), {"scale": 0.0}),
    "causal_square": lambda: ((rand(2, 3, 6, 8), rand(2, 3, 6, 8), rand(2, 3, 6, 4)), {"is_causal": True}),
    "causal_rect": lambda: ((rand(2, 5, 8), rand(2, 3, 8), rand(2, 3, 4)), {"is_causal": True}),
    "bool_mask": lambda: ((rand(2, 3, 4, 8), rand(2, 3, 5, 8), rand(2, 3, 5, 6)), {"mask": R.random((4, 5)) < 0.7}),
    "bool_mask_batched": lambda: ((rand(2, 3, 4, 8), rand(2, 3, 5, 8), rand(2, 3, 5, 6)), {"mask": R.random((2, 1, 4, 5)) < 0.7}),
    "float_mask": lambda: ((rand(2, 3, 4, 8), rand(2, 3, 5, 8), rand(2, 3, 5, 6)), {"mask": rand(3, 4, 5)}),
    "float_mask_causal": lambda: ((rand(2, 6, 8), rand(2, 6, 8), rand(2, 6, 8)), {"mask": causal_float(6)}),
    "broadcast_batch": lambda: ((rand(2, 3, 4, 8), rand(1, 3, 5, 8), rand(2, 1, 5, 6)), {}),
    "gqa": lambda: ((rand(2, 4, 3, 8), rand(2, 2, 5, 8), rand(2, 2, 5, 8)), {"enable_gqa": True}),
    "large_logits": lambda: ((rand(2, 4, 8, scale=30.0), rand(2, 5, 8, scale=30.0), rand(2, 5, 8)), {}),
}


@pytest.mark.parametrize("name", sorted(SDPA_CASES))
def test_sdpa_matches_torch(name, device):
    (q, k, v), kw = SDPA_CASES[name]()
    mask = kw.pop("mask", None)
    _sdpa_check(q, k, v, mask, device=device, **kw)


def test_sdpa_float64():
    q, k, v = (rand(2, 3, 4, 5, dtype=np.float64) for _ in range(3))
    out = _sdpa_check(q, k, v, causal_float(4).astype(np.float64), rtol=1e-9, atol=1e-11)
    assert out.dtype == backprop.float64


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_sdpa_fully_masked_rows_are_zero_with_finite_grads(kind):
    keep = R.random((2, 1, 4, 5)) < 0.6
    keep[0, 0, 1] = False  # a whole row masked
    keep[1, 0, 3] = False
    keep[:, :, 0, 0] = True
    mask = keep if kind == "bool" else np.where(keep, 0.0, -np.inf).astype(np.float32)
    out = _sdpa_check(rand(2, 3, 4, 8), rand(2, 3, 5, 8), rand(2, 3, 5, 6), mask)
    assert not np.any(out.detach().numpy()[0, :, 1]) and not np.any(out.detach().numpy()[1, :, 3])


def test_sdpa_mask_and_is_causal_is_an_error():
    q = backprop.randn(2, 4, 8)
    with pytest.raises(RuntimeError, match="Explicit attn_mask should not be set when is_causal=True"):
        BF.scaled_dot_product_attention(q, q, q, attn_mask=backprop.ones(4, 4, dtype=backprop.bool), is_causal=True)


def test_sdpa_dtype_errors():
    q = backprop.randn(2, 4, 8)
    with pytest.raises(RuntimeError, match="same dtype"):
        BF.scaled_dot_product_attention(q, q, q.double())
    with pytest.raises(RuntimeError, match="attn_mask dtype"):
        BF.scaled_dot_product_attention(q, q, q, attn_mask=backprop.zeros(4, 4, dtype=backprop.int64))
    with pytest.raises(RuntimeError, match="at least 2 dimensional"):
        BF.scaled_dot_product_attention(q[0, 0], q, q)
    with pytest.raises(RuntimeError, match="Number of heads"):
        BF.scaled_dot_product_attention(backprop.randn(1, 4, 3, 8), backprop.randn(1, 3, 5, 8), backprop.randn(1, 3, 5, 8), enable_gqa=True)


def test_sdpa_dropout():
    q, k, v = backprop.tensor(rand(1, 4, 8)), backprop.tensor(rand(1, 5, 8)), backprop.tensor(rand(1, 5, 6))
    ref = BF.scaled_dot_product_attention(q, k, v).numpy()
    assert not np.any(BF.scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy())
    big = [t.expand(4000, *t.shape[1:]) for t in (q, k, v)]
    dropped = BF.scaled_dot_product_attention(*big, dropout_p=0.5).numpy()
    assert not np.allclose(dropped[0], ref[0])  # dropout happened
    np.testing.assert_allclose(dropped.mean(0), ref[0], atol=0.1)  # and is unbiased


# ============================================================================ the fused op: gradcheck, speed
def _t64(*shape, grad: bool = True):
    return backprop.tensor(R.standard_normal(shape), dtype=backprop.float64, requires_grad=grad)


GRADCHECK = {
    "plain": lambda q, k, v: attention(q, k, v, None, 0.5)[0],
    "causal": lambda q, k, v: attention(q, k, v, None, 0.5, True)[0],
    "bool_mask": lambda q, k, v: attention(q, k, v, backprop.tensor(np.array([[True, False, True, True, False]] * 3)), 0.5)[0],
    "fully_masked_row": lambda q, k, v: attention(q, k, v, backprop.tensor(np.array([[0.0] * 5, [-np.inf] * 5, [0.0, -np.inf, 0.0, 1.0, 2.0]])), 0.5)[0],
    "dropout": lambda q, k, v: attention(q, k, v, None, 0.5, False, backprop.tensor(np.array([[0.0, 2.0, 2.0, 0.0, 2.0]] * 3)))[0],
    "weights": lambda q, k, v: attention(q, k, v, None, 0.5)[1],
    "both_outputs": lambda q, k, v: attention(q, k, v, None, 0.7, True),
}


@pytest.mark.parametrize("name", sorted(GRADCHECK))
def test_attention_op_gradcheck_and_gradgradcheck(name):
    inputs = (_t64(2, 3, 4), _t64(2, 5, 4), _t64(2, 5, 3))
    fn = GRADCHECK[name]
    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


def test_attention_op_gradcheck_float_mask_input():
    inputs = (_t64(2, 3, 4), _t64(1, 5, 4), _t64(2, 5, 3), _t64(3, 5))
    fn = lambda q, k, v, m: attention(q, k, v, m, 0.4)[0]  # noqa: E731
    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


def test_fused_op_matches_composed_ops():
    q, k, v = (backprop.tensor(rand(2, 2, 6, 4), requires_grad=True) for _ in range(3))
    mask = backprop.tensor(causal_bool(6))
    fused = BF.scaled_dot_product_attention(q, k, v, is_causal=True)
    composed = BF.softmax((q @ k.mT) * 0.5 + backprop.zeros(6, 6).masked_fill(mask, float("-inf")), -1) @ v
    np.testing.assert_allclose(fused.detach().numpy(), composed.detach().numpy(), rtol=1e-5, atol=1e-6)
    g1 = backprop.autograd.grad(fused.sum(), (q, k, v))
    g2 = backprop.autograd.grad(composed.sum(), (q, k, v))
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


# ============================================================================ MultiheadAttention
def _mha(**ctor):
    return lambda m: m.nn.MultiheadAttention(**{"embed_dim": 8, "num_heads": 2, **ctor})


def _call(**kw):
    """Forward taking (q, k, v, *masks) with masks named in ``kw['masks']``; returns [out, weights?]."""
    names = kw.pop("masks", ())
    need = kw.get("need_weights", True)

    def run(layer, q, k, v, *masks):
        out, w = layer(q, k, v, **dict(zip(names, masks)), **kw)
        assert (w is None) == (not need)
        return (out, w) if need else out

    return run


def _self_call(**kw):
    names = kw.pop("masks", ())

    def run(layer, x, *masks):
        out, w = layer(x, x, x, **dict(zip(names, masks)), **kw)
        return (out, w) if w is not None else out

    return run


L_, S_, N_ = 5, 6, 3
QKV = lambda: [rand(L_, N_, 8), rand(S_, N_, 8), rand(S_, N_, 8)]  # noqa: E731

MHA_CASES = {
    # name: (build, inputs, forward, train)
    "basic": (_mha(), QKV(), _call(), True),
    "eval_with_dropout": (_mha(dropout=0.5), QKV(), _call(), False),
    "no_need_weights": (_mha(), QKV(), _call(need_weights=False), True),
    "per_head_weights": (_mha(), QKV(), _call(average_attn_weights=False), True),
    "batch_first_self": (_mha(batch_first=True), [rand(N_, L_, 8)], _self_call(), True),
    "batch_first_self_no_weights": (_mha(batch_first=True), [rand(N_, L_, 8)], _self_call(need_weights=False), True),
    "batch_first_cross": (_mha(batch_first=True), [rand(N_, L_, 8), rand(N_, S_, 8), rand(N_, S_, 8)], _call(), True),
    "self_attention_seq_first": (_mha(), [rand(L_, N_, 8)], _self_call(), True),
    "kdim_vdim": (_mha(kdim=5, vdim=3), [rand(L_, N_, 8), rand(S_, N_, 5), rand(S_, N_, 3)], _call(), True),
    "kdim_vdim_batch_first_no_weights": (
        _mha(kdim=5, vdim=3, batch_first=True),
        [rand(N_, L_, 8), rand(N_, S_, 5), rand(N_, S_, 3)],
        _call(need_weights=False),
        True,
    ),
    "no_bias": (_mha(bias=False), QKV(), _call(), True),
    "add_bias_kv": (_mha(add_bias_kv=True), QKV(), _call(), True),
    "add_zero_attn": (_mha(add_zero_attn=True), QKV(), _call(), True),
    "bias_kv_zero_attn_masks": (
        _mha(add_bias_kv=True, add_zero_attn=True),
        QKV() + [R.random((L_, S_)) < 0.3, kpm(([6, 4, 5], S_))],
        _call(masks=("attn_mask", "key_padding_mask")),
        True,
    ),
    "bool_attn_mask_2d": (_mha(), QKV() + [R.random((L_, S_)) < 0.3], _call(masks=("attn_mask",)), True),
    "float_attn_mask_2d": (_mha(), QKV() + [rand(L_, S_)], _call(masks=("attn_mask",)), True),
    "bool_attn_mask_3d": (_mha(), QKV() + [R.random((N_ * 2, L_, S_)) < 0.3], _call(masks=("attn_mask",)), True),
    "float_attn_mask_3d_no_weights": (_mha(), QKV() + [rand(N_ * 2, L_, S_)], _call(masks=("attn_mask",), need_weights=False), True),
    "key_padding_mask_bool": (_mha(), QKV() + [kpm(([6, 3, 4], S_))], _call(masks=("key_padding_mask",)), True),
    "key_padding_mask_float": (
        _mha(),
        QKV() + [np.where(kpm(([6, 3, 4], S_)), -np.inf, 0.0).astype(np.float32)],
        _call(masks=("key_padding_mask",), need_weights=False),
        True,
    ),
    "masks_combined": (_mha(), QKV() + [R.random((L_, S_)) < 0.3, kpm(([6, 2, 5], S_))], _call(masks=("attn_mask", "key_padding_mask")), True),
    "causal_hint_no_weights": (_mha(batch_first=True), [rand(N_, L_, 8), causal_bool(L_)], _self_call(masks=("attn_mask",), is_causal=True, need_weights=False), True),
    "causal_hint_with_weights": (_mha(), [rand(L_, N_, 8), causal_float(L_)], _self_call(masks=("attn_mask",), is_causal=True), True),
    "causal_hint_with_padding": (
        _mha(),
        [rand(L_, N_, 8), causal_bool(L_), kpm(([5, 3, 4], L_))],
        _self_call(masks=("attn_mask", "key_padding_mask"), is_causal=True, need_weights=False),
        True,
    ),
    "unbatched": (_mha(), [rand(L_, 8), rand(S_, 8), rand(S_, 8)], _call(), True),
    "unbatched_masks": (
        _mha(),
        [rand(L_, 8), rand(S_, 8), rand(S_, 8), R.random((2, L_, S_)) < 0.3, np.arange(S_) >= 4],
        _call(masks=("attn_mask", "key_padding_mask"), average_attn_weights=False),
        True,
    ),
    "unbatched_no_weights": (_mha(batch_first=True), [rand(L_, 8), rand(S_, 8), rand(S_, 8)], _call(need_weights=False), True),
    "four_heads": (_mha(num_heads=4), QKV(), _call(average_attn_weights=False), True),
}


@pytest.mark.parametrize("name", sorted(MHA_CASES))
def test_multihead_attention_matches_torch(name, device):
    build, inputs, forward, train = MHA_CASES[name]
    check_layer(build, inputs, forward=forward, train=train, device=device)


def test_multihead_attention_fully_padded_sequence_is_finite():
    """A batch element whose keys are all padding: the SDPA path gives out_proj.bias there, like torch."""
    mask = kpm(([6, 0, 4], S_))
    bp, th = check_layer(_mha(), QKV() + [mask], forward=_call(masks=("key_padding_mask",), need_weights=False))
    with backprop.no_grad():
        bp.out_proj.bias.copy_(backprop.tensor(rand(8)))
        out, _ = bp(*(backprop.tensor(a) for a in QKV()), key_padding_mask=backprop.tensor(mask), need_weights=False)
    assert np.isfinite(out.numpy()).all()
    np.testing.assert_allclose(out.numpy()[:, 1], np.broadcast_to(bp.out_proj.bias.detach().numpy(), (L_, 8)), atol=1e-6)


def test_multihead_attention_dropout_in_training_drops_weights():
    layer = backprop.nn.MultiheadAttention(8, 2, dropout=0.5)
    q, k, v = (backprop.tensor(a) for a in QKV())
    layer.eval()
    _, ref = layer(q, k, v, average_attn_weights=False)
    layer.train()
    _, dropped = layer(q, k, v, average_attn_weights=False)
    ref, dropped = ref.detach().numpy(), dropped.detach().numpy()
    kept = dropped != 0
    assert 0.2 < kept.mean() < 0.8
    np.testing.assert_allclose(dropped[kept], 2 * ref[kept], rtol=1e-5)


def test_multihead_attention_parameters_and_init():
    same = backprop.nn.MultiheadAttention(8, 2)
    assert [n for n, _ in same.named_parameters()] == [n for n, _ in torch.nn.MultiheadAttention(8, 2).named_parameters()]
    assert type(same.out_proj).__name__ == "NonDynamicallyQuantizableLinear" and isinstance(same.out_proj, backprop.nn.Linear)
    assert not np.any(same.in_proj_bias.detach().numpy()) and not np.any(same.out_proj.bias.detach().numpy())
    bound = np.sqrt(6 / (8 + 24))  # xavier_uniform_ on (3E, E)
    w = same.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    sep = backprop.nn.MultiheadAttention(8, 2, kdim=5, vdim=3, add_bias_kv=True)
    th = torch.nn.MultiheadAttention(8, 2, kdim=5, vdim=3, add_bias_kv=True)
    assert {n: tuple(p.shape) for n, p in sep.named_parameters()} == {n: tuple(p.shape) for n, p in th.named_parameters()}
    assert sep.in_proj_weight is None and sep.q_proj_weight is not None
    with pytest.raises(AssertionError, match="divisible"):
        backprop.nn.MultiheadAttention(7, 2)


def test_multihead_attention_errors_like_torch():
    layer = backprop.nn.MultiheadAttention(8, 2)
    q = backprop.randn(L_, N_, 8)
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        layer(q, q, q, is_causal=True)
    with pytest.raises(RuntimeError, match="2D attn_mask"):
        layer(q, q, q, attn_mask=backprop.zeros(3, 3))
    with pytest.raises(AssertionError, match="only bool and floating"):
        layer(q, q, q, attn_mask=backprop.zeros(L_, L_, dtype=backprop.int64))
    with pytest.warns(UserWarning, match="mismatched key_padding_mask and attn_mask"):
        layer(q, q, q, attn_mask=backprop.zeros(L_, L_), key_padding_mask=backprop.zeros(N_, L_, dtype=backprop.bool))


# ============================================================================ Transformer layers
def _enc_layer(**kw):
    return lambda m: m.nn.TransformerEncoderLayer(**{"d_model": 8, "nhead": 2, "dim_feedforward": 16, "dropout": 0.0, **kw})


def _dec_layer(**kw):
    return lambda m: m.nn.TransformerDecoderLayer(**{"d_model": 8, "nhead": 2, "dim_feedforward": 16, "dropout": 0.0, **kw})


def _layer_call(*names, **kw):
    def run(layer, *args):
        n = len(args) - len(names)
        return layer(*args[:n], **dict(zip(names, args[n:])), **kw)

    return run


ENC_CASES = {
    "post_norm_relu": (_enc_layer(), [rand(L_, N_, 8)], _layer_call(), True),
    "pre_norm_gelu": (_enc_layer(norm_first=True, activation="gelu"), [rand(L_, N_, 8)], _layer_call(), True),
    "batch_first": (_enc_layer(batch_first=True), [rand(N_, L_, 8)], _layer_call(), True),
    "batch_first_pre_norm": (_enc_layer(batch_first=True, norm_first=True), [rand(N_, L_, 8)], _layer_call(), True),
    "callable_activation": (_enc_layer(activation=lambda x: x.tanh()), [rand(L_, N_, 8)], _layer_call(), True),
    "module_activation": (lambda m: m.nn.TransformerEncoderLayer(8, 2, 16, 0.0, activation=m.nn.GELU()), [rand(L_, N_, 8)], _layer_call(), True),
    "no_bias": (_enc_layer(bias=False), [rand(L_, N_, 8)], _layer_call(), True),
    "eps": (_enc_layer(layer_norm_eps=1e-3), [rand(L_, N_, 8)], _layer_call(), True),
    "eval_default_dropout": (lambda m: m.nn.TransformerEncoderLayer(8, 2, 16), [rand(L_, N_, 8)], _layer_call(), False),
    "float_causal_mask": (_enc_layer(), [rand(L_, N_, 8), causal_float(L_)], _layer_call("src_mask"), True),
    "bool_mask": (_enc_layer(), [rand(L_, N_, 8), R.random((L_, L_)) < 0.3], _layer_call("src_mask"), True),
    "causal_flag": (_enc_layer(batch_first=True), [rand(N_, L_, 8), causal_float(L_)], _layer_call("src_mask", is_causal=True), True),
    "key_padding": (_enc_layer(batch_first=True), [rand(N_, L_, 8), kpm(([5, 3, 4], L_))], _layer_call("src_key_padding_mask"), True),
    "mask_and_padding": (_enc_layer(), [rand(L_, N_, 8), causal_bool(L_), kpm(([5, 3, 4], L_))], _layer_call("src_mask", "src_key_padding_mask"), True),
    "unbatched": (_enc_layer(), [rand(L_, 8)], _layer_call(), True),
}


@pytest.mark.parametrize("name", sorted(ENC_CASES))
def test_transformer_encoder_layer_matches_torch(name, device):
    build, inputs, forward, train = ENC_CASES[name]
    check_layer(build, inputs, forward=forward, train=train, device=device)


DEC_CASES = {
    "post_norm": (_dec_layer(), [rand(L_, N_, 8), rand(S_, N_, 8)], _layer_call(), True),
    "pre_norm_gelu_batch_first": (_dec_layer(norm_first=True, activation="gelu", batch_first=True), [rand(N_, L_, 8), rand(N_, S_, 8)], _layer_call(), True),
    "eval_default_dropout": (lambda m: m.nn.TransformerDecoderLayer(8, 2, 16), [rand(L_, N_, 8), rand(S_, N_, 8)], _layer_call(), False),
    "all_masks": (
        _dec_layer(),
        [rand(L_, N_, 8), rand(S_, N_, 8), causal_float(L_), R.random((L_, S_)) < 0.2, kpm(([5, 4, 3], L_)), kpm(([6, 2, 5], S_))],
        _layer_call("tgt_mask", "memory_mask", "tgt_key_padding_mask", "memory_key_padding_mask"),
        True,
    ),
    "tgt_is_causal": (_dec_layer(batch_first=True), [rand(N_, L_, 8), rand(N_, S_, 8), causal_float(L_)], _layer_call("tgt_mask", tgt_is_causal=True), True),
    "unbatched": (_dec_layer(), [rand(L_, 8), rand(S_, 8)], _layer_call(), True),
}


@pytest.mark.parametrize("name", sorted(DEC_CASES))
def test_transformer_decoder_layer_matches_torch(name, device):
    build, inputs, forward, train = DEC_CASES[name]
    check_layer(build, inputs, forward=forward, train=train, device=device)


def _encoder(norm: bool = True, **kw):
    def build(m):
        layer = m.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, **kw)
        return m.nn.TransformerEncoder(layer, 2, norm=m.nn.LayerNorm(8) if norm else None, enable_nested_tensor=False)

    return build


STACK_CASES = {
    "encoder": (_encoder(), [rand(L_, N_, 8)], _layer_call(), True),
    "encoder_no_norm_causal_detected": (_encoder(norm=False, batch_first=True), [rand(N_, L_, 8), causal_float(L_)], _layer_call("mask"), True),
    "encoder_bool_causal_is_causal": (_encoder(norm_first=True), [rand(L_, N_, 8), causal_bool(L_)], _layer_call("mask", is_causal=True), True),
    "encoder_padding_eval": (_encoder(batch_first=True), [rand(N_, L_, 8), kpm(([5, 2, 4], L_))], _layer_call("src_key_padding_mask"), False),
    "decoder": (
        lambda m: m.nn.TransformerDecoder(m.nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0), 2, norm=m.nn.LayerNorm(8)),
        [rand(L_, N_, 8), rand(S_, N_, 8), causal_float(L_), kpm(([6, 3, 5], S_))],
        _layer_call("tgt_mask", "memory_key_padding_mask"),
        True,
    ),
    "transformer": (
        lambda m: m.nn.Transformer(8, 2, 2, 2, 16, dropout=0.0),
        [rand(S_, N_, 8), rand(L_, N_, 8)],
        _layer_call(),
        True,
    ),
    "transformer_batch_first_masks": (
        lambda m: m.nn.Transformer(8, 2, 1, 2, 16, dropout=0.0, batch_first=True, norm_first=True, activation="gelu"),
        [rand(N_, S_, 8), rand(N_, L_, 8), causal_float(L_), kpm(([6, 4, 5], S_)), kpm(([6, 4, 5], S_))],
        _layer_call("tgt_mask", "src_key_padding_mask", "memory_key_padding_mask"),
        True,
    ),
    "transformer_eval": (lambda m: m.nn.Transformer(8, 2, 1, 1, 16), [rand(S_, N_, 8), rand(L_, N_, 8)], _layer_call(), False),
    "transformer_unbatched": (lambda m: m.nn.Transformer(8, 2, 1, 1, 16, dropout=0.0), [rand(S_, 8), rand(L_, 8)], _layer_call(), True),
}


@pytest.mark.parametrize("name", sorted(STACK_CASES))
def test_transformer_stacks_match_torch(name, device):
    build, inputs, forward, train = STACK_CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # enable_nested_tensor notices (both frameworks)
        check_layer(build, inputs, forward=forward, train=train, device=device)


def test_state_dict_keys_equal_torch():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for build in (
            lambda m: m.nn.Transformer(8, 2, 2, 1, 16),
            lambda m: m.nn.TransformerEncoder(m.nn.TransformerEncoderLayer(8, 2, 16), 3, norm=m.nn.LayerNorm(8)),
            lambda m: m.nn.TransformerDecoder(m.nn.TransformerDecoderLayer(8, 2, 16, bias=False), 2),
        ):
            bp, th = build(backprop).state_dict(), build(torch).state_dict()
            assert list(bp) == list(th)
            assert all(tuple(bp[k].shape) == tuple(th[k].shape) for k in th)
    keys = list(backprop.nn.TransformerEncoder(backprop.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2).state_dict())
    assert keys[:2] == ["layers.0.self_attn.in_proj_weight", "layers.0.self_attn.in_proj_bias"]


def test_encoder_layers_are_independent_copies():
    enc = backprop.nn.TransformerEncoder(backprop.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2)
    a, b = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert a is not b and np.array_equal(a.detach().numpy(), b.detach().numpy())
    with backprop.no_grad():
        a.add_(1.0)
    assert not np.array_equal(a.detach().numpy(), b.detach().numpy())


def test_transformer_init_and_mask_helper():
    t = backprop.nn.Transformer(8, 2, 1, 1, 16)
    assert not np.array_equal(t.encoder.layers[0].linear1.weight.detach().numpy(), t.decoder.layers[0].linear1.weight.detach().numpy())
    w = t.encoder.layers[0].linear1.weight.detach().numpy()
    assert np.abs(w).max() <= np.sqrt(6 / (8 + 16))  # xavier_uniform_ over every matrix
    mask = backprop.nn.Transformer.generate_square_subsequent_mask(5)
    np.testing.assert_array_equal(mask.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(5).numpy())
    assert backprop.nn.Transformer.generate_square_subsequent_mask(3, dtype=backprop.float64).dtype == backprop.float64
    with pytest.raises(RuntimeError, match="activation should be relu/gelu"):
        backprop.nn.TransformerEncoderLayer(8, 2, activation="tanh")
    with pytest.raises(RuntimeError, match="batch number of src and tgt"):
        t(backprop.randn(4, 2, 8), backprop.randn(3, 5, 8))


def test_encoder_nested_tensor_warning_and_inference_padding():
    with pytest.warns(UserWarning, match="norm_first was True"):
        backprop.nn.TransformerEncoder(backprop.nn.TransformerEncoderLayer(8, 2, 16, norm_first=True, batch_first=True), 1)
    x, pad = rand(N_, L_, 8), kpm(([5, 2, 3], L_))

    def build(m):
        m.manual_seed(0)
        return m.nn.TransformerEncoder(m.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2).eval()

    th = build(torch)
    bp = build(backprop)
    bp.load_state_dict(th.state_dict())
    with torch.no_grad():
        expected = th(torch.tensor(x), src_key_padding_mask=torch.tensor(pad)).numpy()
    with backprop.no_grad():
        got = bp(backprop.tensor(x), src_key_padding_mask=backprop.tensor(pad)).numpy()
    assert not np.any(expected[1, 2:])  # torch's inference fast path zeroes padding
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    with_grad = bp(backprop.tensor(x), src_key_padding_mask=backprop.tensor(pad)).detach().numpy()
    assert np.all(np.abs(with_grad[1, 2:]).sum(-1) > 0)  # not when parameters need grad (torch neither)


# ============================================================================ generation helpers and a tiny GPT
def test_causal_masked_fill_softmax_is_finite():
    scores = rand(2, 6, 6)
    mask = np.triu(np.ones((6, 6), dtype=bool), 1)
    b = backprop.tensor(scores, requires_grad=True)
    t = torch.tensor(scores, requires_grad=True)
    pb = b.masked_fill(backprop.tensor(mask), float("-inf")).softmax(-1)
    pt = t.masked_fill(torch.tensor(mask), float("-inf")).softmax(-1)
    assert np.isfinite(pb.detach().numpy()).all()
    np.testing.assert_allclose(pb.detach().numpy().sum(-1), 1.0, rtol=1e-6)
    assert not np.any(pb.detach().numpy()[:, mask])
    np.testing.assert_allclose(pb.detach().numpy(), pt.detach().numpy(), rtol=1e-5, atol=1e-7)
    g = rand(2, 6, 6)
    (pb * backprop.tensor(g)).sum().backward()
    (pt * torch.tensor(g)).sum().backward()
    assert np.isfinite(b.grad.numpy()).all()
    np.testing.assert_allclose(b.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-6)


def _gpt(m, vocab: int = 13, d: int = 16, heads: int = 2, ctx: int = 8):
    class GPT(m.nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = m.nn.Embedding(vocab, d)
            self.pos = m.nn.Embedding(ctx, d)
            layer = m.nn.TransformerEncoderLayer(d, heads, 4 * d, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
            self.blocks = m.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.ln = m.nn.LayerNorm(d)
            self.head = m.nn.Linear(d, vocab)

        def forward(self, idx):
            t = idx.shape[1]
            x = self.tok(idx) + self.pos(m.arange(t))
            mask = m.nn.Transformer.generate_square_subsequent_mask(t)
            return self.head(self.ln(self.blocks(x, mask=mask, is_causal=True)))

    return GPT()


def test_tiny_gpt_trains_like_torch():
    data = R.integers(0, 13, size=(8, 9))
    th = _gpt(torch)
    bp = _gpt(backprop)
    assert list(bp.state_dict()) == list(th.state_dict())
    bp.load_state_dict(th.state_dict())
    opt_t = torch.optim.AdamW(th.parameters(), lr=1e-2)
    opt_b = backprop.optim.AdamW(bp.parameters(), lr=1e-2)
    losses_t, losses_b = [], []
    for step in range(5):
        rows = data[4 * (step % 2) : 4 * (step % 2) + 4]
        batch = rows[:, :8], rows[:, 1:]
        for model, opt, lib, losses in ((th, opt_t, torch, losses_t), (bp, opt_b, backprop, losses_b)):
            x, y = lib.tensor(batch[0]), lib.tensor(batch[1])
            logits = model(x)
            loss = lib.nn.functional.cross_entropy(logits.reshape(-1, 13), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    np.testing.assert_allclose(losses_b, losses_t, rtol=1e-4)
    assert losses_t[-1] < losses_t[0] - 0.1  # it learned something
    np.testing.assert_allclose(bp.head.weight.detach().numpy(), th.head.weight.detach().numpy(), rtol=1e-3, atol=1e-4)
    # Greedy generation from the trained model agrees too.
    with torch.no_grad(), backprop.no_grad():
        ctx_t, ctx_b = torch.tensor(data[:1, :3]), backprop.tensor(data[:1, :3])
        for _ in range(4):
            ctx_t = torch.cat([ctx_t, th(ctx_t)[:, -1].argmax(-1, keepdim=True)], 1)
            ctx_b = backprop.cat([ctx_b, bp(ctx_b)[:, -1].argmax(-1, keepdim=True)], 1)
    np.testing.assert_array_equal(ctx_b.numpy(), ctx_t.numpy())
