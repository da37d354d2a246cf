"""More nn layers against torch 2.13: Unfold/Fold, CosineSimilarity/PairwiseDistance/pdist,
EmbeddingBag, shrink/RReLU/gumbel_softmax, pixel/channel shuffles, LocalResponseNorm,
MaxUnpool and the lazy modules -- outputs and gradients vs torch, float64 gradchecks,
reprs, errors, and statistical tests for the random ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import backprop
from nn_oracle import check_layer

R = np.random.default_rng(0)


def rand(*shape, scale: float = 1.0, dtype=np.float32):
    return (R.standard_normal(shape) * scale).astype(dtype)


def compare_fn(fn, inputs, *, rtol: float = 1e-4, atol: float = 1e-5, grad: bool = True):
    """Run ``fn(module, *tensors)`` in both frameworks; compare outputs and input gradients."""
    bp_in = [backprop.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in inputs]
    th_in = [torch.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in inputs]
    o, t = fn(backprop, *bp_in), fn(torch, *th_in)
    assert tuple(o.shape) == tuple(t.shape)
    assert o.dtype.name == str(t.dtype).replace("torch.", "")
    np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol)
    if grad and t.requires_grad:
        g = R.standard_normal(tuple(t.shape)).astype(t.detach().numpy().dtype)
        (o * backprop.tensor(g)).sum().backward()
        (t * torch.tensor(g)).sum().backward()
        for b, th in zip(bp_in, th_in):
            if th.grad is not None:
                np.testing.assert_allclose(b.grad.numpy(), th.grad.numpy(), rtol=rtol * 10, atol=atol * 10)
    return o, t


def gradcheck(fn, *arrays, gradgrad: bool = False):
    xs = [backprop.tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
    assert backprop.autograd.gradcheck(fn, xs, eps=1e-6, atol=1e-5, rtol=1e-3)
    if gradgrad:
        assert backprop.autograd.gradgradcheck(fn, xs, eps=1e-6, atol=1e-5, rtol=1e-3)


def raises_like(fn, *args, match: str | None = None):
    """Both frameworks raise the same exception type; ours contains ``match`` (or torch's message)."""
    with pytest.raises(Exception) as th_err:
        fn(torch, *[torch.tensor(a) if isinstance(a, np.ndarray) else a for a in args])
    with pytest.raises(type(th_err.value)) as bp_err:
        fn(backprop, *[backprop.tensor(a) if isinstance(a, np.ndarray) else a for a in args])
    fragment = match if match is not None else str(th_err.value)
    assert fragment in str(bp_err.value), f"{bp_err.value!r} lacks {fragment!r} (torch: {th_err.value!r})"
    if match is not None:
        assert match in str(th_err.value)


def same_repr(build):
    assert repr(build(backprop)) == repr(build(torch))


# ============================================================================ 1. Unfold / Fold
UNFOLD_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, padding=1),
    dict(kernel_size=(2, 3), stride=(2, 1)),
    dict(kernel_size=3, dilation=2, padding=2, stride=2),
    dict(kernel_size=(3, 2), dilation=(1, 2), padding=(0, 1), stride=(1, 3)),
]


@pytest.mark.parametrize("kw", UNFOLD_CASES)
def test_unfold_module(kw):
    check_layer(lambda m: m.nn.Unfold(**kw), [rand(2, 3, 7, 8)])


def test_unfold_unbatched_and_float64():
    compare_fn(lambda m, x: m.nn.functional.unfold(x, 2, padding=1), [rand(3, 5, 4)])
    compare_fn(lambda m, x: m.nn.functional.unfold(x, (2, 2), stride=2), [rand(2, 2, 6, 6, dtype=np.float64)])


@pytest.mark.parametrize("kw", UNFOLD_CASES)
def test_fold_module(kw):
    hw = (7, 8)
    k = kw["kernel_size"]
    blocks = torch.nn.functional.unfold(torch.zeros(1, 1, *hw), **kw).shape[-1]
    kk = k * k if isinstance(k, int) else k[0] * k[1]
    check_layer(lambda m: m.nn.Fold(hw, **kw), [rand(2, 3 * kk, blocks)])


def test_fold_unbatched_and_int_output_size():
    compare_fn(lambda m, x: m.nn.functional.fold(x, 5, 2), [rand(8, 16)])
    compare_fn(lambda m, x: m.nn.functional.fold(x, (4, 6), 3, padding=1, stride=2), [rand(2, 18, 6)])


def test_fold_is_adjoint_of_unfold():
    x, y = rand(2, 3, 6, 7), rand(2, 3 * 6, 12)
    kw = dict(kernel_size=(3, 2), dilation=(1, 2), padding=1, stride=2)
    F = backprop.nn.functional
    lhs = (F.unfold(backprop.tensor(x), **kw) * backprop.tensor(y)).sum().item()
    rhs = (backprop.tensor(x) * F.fold(backprop.tensor(y), (6, 7), **kw)).sum().item()
    assert F.unfold(backprop.tensor(x), **kw).shape == (2, 18, 12)
    assert abs(lhs - rhs) < 1e-3 * max(1.0, abs(lhs))


def test_unfold_fold_gradcheck_and_gradgradcheck():
    F = backprop.nn.functional
    kw = dict(kernel_size=(2, 3), dilation=(2, 1), padding=(1, 0), stride=(1, 2))
    gradcheck(lambda x: F.unfold(x, **kw), rand(2, 2, 5, 6), gradgrad=True)
    gradcheck(lambda y: F.fold(y, (5, 6), **kw), rand(2, 12, 10), gradgrad=True)
    # A nonlinear composition: the second derivative is non-trivial.
    gradcheck(lambda x: F.fold(F.unfold(x, 2, padding=1) ** 2, (4, 4), 2, padding=1), rand(1, 2, 4, 4), gradgrad=True)


def test_fold_unfold_reprs():
    same_repr(lambda m: m.nn.Unfold(2))
    same_repr(lambda m: m.nn.Unfold((2, 3), dilation=2, padding=1, stride=(1, 2)))
    same_repr(lambda m: m.nn.Fold((4, 5), 2))
    same_repr(lambda m: m.nn.Fold(4, (2, 1), dilation=1, padding=(0, 1), stride=2))


def test_fold_unfold_errors():
    raises_like(lambda m, x: m.nn.functional.unfold(x, 3), rand(1, 1, 2, 2), match="calculated shape of the array of sliding blocks as (0, 0)")
    raises_like(lambda m, x: m.nn.functional.unfold(x, 2), rand(1, 2, 3, 4, 4), match="Expected 3D or 4D (batch mode) tensor")
    raises_like(lambda m, x: m.nn.functional.unfold(x, 2, stride=0), rand(1, 1, 4, 4))
    raises_like(lambda m, x: m.nn.functional.unfold(x, 2, padding=-1), rand(1, 1, 4, 4))
    raises_like(lambda m, x: m.nn.functional.unfold(x, 2, dilation=0), rand(1, 1, 4, 4))
    raises_like(lambda m, x: m.nn.functional.unfold(x, 0), rand(1, 1, 4, 4))
    raises_like(lambda m, x: m.nn.functional.unfold(x, 2), np.ones((1, 1, 4, 4), dtype=np.int64))
    raises_like(lambda m, x: m.nn.functional.fold(x, (3, 3), 2), rand(1, 4, 5))
    raises_like(lambda m, x: m.nn.functional.fold(x, (3, 3), 2), rand(1, 5, 4))
    raises_like(lambda m, x: m.nn.functional.fold(x, (3, 3), 2), rand(1, 1, 2, 2))
    raises_like(lambda m, x: m.nn.functional.fold(x, (1, 1), 2), rand(1, 4, 1))


# ============================================================================ 2. distances
@pytest.mark.parametrize(
    "build, shapes",
    [
        (lambda m: m.nn.CosineSimilarity(), [(4, 5), (4, 5)]),
        (lambda m: m.nn.CosineSimilarity(dim=0, eps=1e-6), [(4, 5), (4, 5)]),
        (lambda m: m.nn.CosineSimilarity(dim=-1), [(2, 3, 5), (1, 3, 5)]),
        (lambda m: m.nn.PairwiseDistance(), [(4, 5), (4, 5)]),
        (lambda m: m.nn.PairwiseDistance(p=1.0, eps=0.0, keepdim=True), [(4, 5), (4, 5)]),
        (lambda m: m.nn.PairwiseDistance(p=3.0), [(3, 6), (1, 6)]),
    ],
)
def test_distance_modules(build, shapes):
    check_layer(build, [rand(*s) for s in shapes])


def test_distance_module_attributes_and_reprs():
    same_repr(lambda m: m.nn.CosineSimilarity(dim=0, eps=1e-6))
    same_repr(lambda m: m.nn.PairwiseDistance(p=1.0))
    for attr in ("norm", "eps", "keepdim"):
        assert getattr(backprop.nn.PairwiseDistance(1.5, 1e-3, True), attr) == getattr(torch.nn.PairwiseDistance(1.5, 1e-3, True), attr)
    assert backprop.nn.CosineSimilarity(0, 1e-3).dim == 0


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 0.5, float("inf")])
def test_pdist(p):
    compare_fn(lambda m, x: m.nn.functional.pdist(x, p), [rand(5, 4)])
    compare_fn(lambda m, x: m.nn.functional.pdist(x, p), [rand(6, 3, dtype=np.float64)], rtol=1e-7, atol=1e-9)


def test_pdist_edge_cases_and_gradcheck():
    F = backprop.nn.functional
    assert tuple(F.pdist(backprop.randn(1, 3)).shape) == (0,)
    np.testing.assert_array_equal(F.pdist(backprop.randn(3, 0)).numpy(), np.zeros(3, np.float32))
    x = backprop.zeros(3, 2, requires_grad=True)  # equal rows: torch's zero subgradient
    F.pdist(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((3, 2)))
    gradcheck(lambda x: F.pdist(x), rand(4, 3))
    gradcheck(lambda x: F.pdist(x, 1.5), rand(4, 3))


def test_pdist_errors():
    raises_like(lambda m, x: m.nn.functional.pdist(x), rand(2, 3, 4), match="pdist only supports 2D tensors, got: 3D")
    raises_like(lambda m, x: m.nn.functional.pdist(x), rand(4), match="pdist only supports 2D tensors, got: 1D")
    raises_like(lambda m, x: m.nn.functional.pdist(x, -1), rand(3, 4), match="non-negative p values")
    raises_like(lambda m, x: m.nn.functional.pdist(x), np.ones((3, 4), np.int64), match="floating-point dtypes")


# ============================================================================ 3. EmbeddingBag
IDX_1D = np.array([1, 2, 4, 5, 4, 3, 2, 9, 0, 7], dtype=np.int64)
OFFSETS = np.array([0, 3, 3, 7], dtype=np.int64)  # bag 1 is empty


def _bag_forward(*extra_keys):
    def run(layer, idx, *rest):
        kwargs = dict(zip(extra_keys, rest))
        return layer(idx, **kwargs)

    return run


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_offsets(mode):
    check_layer(lambda m: m.nn.EmbeddingBag(10, 3, mode=mode), [IDX_1D, OFFSETS], forward=_bag_forward("offsets"))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_2d_input(mode):
    idx = R.integers(0, 8, (4, 5)).astype(np.int64)
    check_layer(lambda m: m.nn.EmbeddingBag(8, 6, mode=mode), [idx])


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_padding_idx(mode):
    idx = np.array([[2, 2, 1], [2, 2, 2], [0, 3, 2]], dtype=np.int64)  # one bag is all padding
    check_layer(lambda m: m.nn.EmbeddingBag(5, 4, mode=mode, padding_idx=2), [idx])
    check_layer(lambda m: m.nn.EmbeddingBag(10, 3, mode=mode, padding_idx=-1), [np.array([9, 1, 9, 2, 3], np.int64), np.array([0, 2], np.int64)], forward=_bag_forward("offsets"))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_include_last_offset(mode):
    offsets = np.array([0, 3, 3, 7, 10], dtype=np.int64)
    check_layer(lambda m: m.nn.EmbeddingBag(10, 3, mode=mode, include_last_offset=True), [IDX_1D, offsets], forward=_bag_forward("offsets"))


def test_embedding_bag_per_sample_weights():
    psw = rand(10)
    check_layer(lambda m: m.nn.EmbeddingBag(10, 3, mode="sum"), [IDX_1D, OFFSETS, psw], forward=_bag_forward("offsets", "per_sample_weights"))
    idx2 = np.array([[1, 0, 3], [0, 0, 2]], np.int64)
    check_layer(lambda m: m.nn.EmbeddingBag(4, 2, mode="sum", padding_idx=0), [idx2, rand(2, 3)], forward=_bag_forward("per_sample_weights"))


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_embedding_bag_scale_grad_by_freq_and_max_norm(mode):
    # torch's CPU embedding_bag scales by a misindexed count table (index 4 of IDX_1D, seen twice,
    # is not scaled, index 3 seen once is halved), so the oracle here is the documented rule as
    # torch's F.embedding implements it: each row's gradient divided by its frequency in the batch.
    w = rand(10, 3)
    bw = backprop.tensor(w, requires_grad=True)
    bag = backprop.nn.functional.embedding_bag(backprop.tensor(IDX_1D), bw, backprop.tensor(OFFSETS), mode=mode, scale_grad_by_freq=True)
    bag.sum().backward()
    tw = torch.tensor(w, requires_grad=True)
    rows = torch.nn.functional.embedding(torch.tensor(IDX_1D), tw, scale_grad_by_freq=True)
    if mode == "mean":
        counts = np.diff(np.r_[OFFSETS, len(IDX_1D)])[np.searchsorted(OFFSETS, np.arange(len(IDX_1D)), side="right") - 1]
        rows = rows / torch.tensor(counts, dtype=torch.float32)[:, None]
    rows.sum().backward()
    np.testing.assert_allclose(bw.grad.numpy(), tw.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert bw.grad.numpy()[4, 0] == pytest.approx(1.0 if mode == "sum" else (1 / 3 + 1 / 4) / 2)  # two 4s, in bags of 3 and 4
    bp, th = check_layer(lambda m: m.nn.EmbeddingBag(10, 3, mode=mode, max_norm=1.0), [IDX_1D, OFFSETS], forward=_bag_forward("offsets"))
    np.testing.assert_allclose(bp.weight.detach().numpy(), th.weight.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert np.all(np.linalg.norm(bp.weight.detach().numpy()[np.unique(IDX_1D)], axis=1) <= 1.0 + 1e-5)


def test_embedding_bag_functional_float64_and_int32():
    w = rand(6, 3, dtype=np.float64)
    idx = np.array([1, 5, 2, 2, 0], np.int32)
    offs = np.array([0, 2], np.int32)
    for mode in ("sum", "mean", "max"):
        compare_fn(lambda m, w, i, o, mode=mode: m.nn.functional.embedding_bag(i, w, o, mode=mode), [w, idx, offs], rtol=1e-7, atol=1e-9)


def test_embedding_bag_gradcheck():
    F = backprop.nn.functional
    idx, offs = backprop.tensor(IDX_1D), backprop.tensor(OFFSETS)
    for mode in ("sum", "mean", "max"):
        gradcheck(lambda w, mode=mode: F.embedding_bag(idx, w, offs, mode=mode, padding_idx=4), rand(10, 3))
    gradcheck(lambda w, p: F.embedding_bag(idx, w, offs, mode="sum", per_sample_weights=p), rand(10, 3), rand(10), gradgrad=True)


def test_embedding_bag_repr_and_state_dict():
    same_repr(lambda m: m.nn.EmbeddingBag(10, 3))
    same_repr(lambda m: m.nn.EmbeddingBag(10, 3, mode="sum", padding_idx=2, max_norm=1.0, norm_type=1.0, scale_grad_by_freq=True, include_last_offset=True))
    same_repr(lambda m: m.nn.EmbeddingBag(10, 3, mode="max", padding_idx=-1))
    assert list(backprop.nn.EmbeddingBag(4, 2).state_dict()) == ["weight"]
    bag = backprop.nn.EmbeddingBag(4, 2, padding_idx=1)
    np.testing.assert_array_equal(bag.weight.detach().numpy()[1], np.zeros(2, np.float32))
    pre = backprop.nn.EmbeddingBag.from_pretrained(backprop.ones(3, 2), mode="sum")
    assert not pre.weight.requires_grad
    np.testing.assert_array_equal(pre(backprop.tensor([[0, 1, 2]])).numpy(), [[3.0, 3.0]])


def test_embedding_bag_errors():
    F = lambda m: m.nn.functional  # noqa: E731
    w = rand(10, 3)
    raises_like(lambda m, w, i: F(m).embedding_bag(i, w), w, np.array([1, 2, 3]), match="offsets has to be a 1D Tensor but got None")
    raises_like(lambda m, w, i, o: F(m).embedding_bag(i, w, o), w, np.array([[1, 2], [3, 4]]), np.array([0]), match="if input is 2D, then offsets has to be None")
    raises_like(lambda m, w, i, o: F(m).embedding_bag(i, w, o), w, np.array([1, 2, 3]), np.array([[0]]), match="offsets has to be a 1D Tensor")
    raises_like(lambda m, w, i: F(m).embedding_bag(i, w), w, np.array([[[1, 2, 3]]]), match="input has to be 1D or 2D Tensor, but got Tensor of dimension 3")
    raises_like(lambda m, w, i, o: F(m).embedding_bag(i, w[0], o), w, np.array([1, 2]), np.array([0]), match="weight has to be a 2D Tensor")
    raises_like(lambda m, w, i, o: F(m).embedding_bag(i, w, o, mode="foo"), w, np.array([1, 2, 3]), np.array([0, 1]), match="mode has to be one of sum, mean or max")
    raises_like(
        lambda m, w, i, o, p: F(m).embedding_bag(i, w, o, mode="max", per_sample_weights=p), w, np.array([1, 2, 3]), np.array([0, 1]), np.ones(3, np.float32),
        match="per_sample_weights is only supported for mode='sum' (got mode='max')",
    )
    raises_like(
        lambda m, w, i, o, p: F(m).embedding_bag(i, w, o, mode="sum", per_sample_weights=p), w, np.array([1, 2, 3]), np.array([0, 1]), np.ones(2, np.float32),
        match="then it must have the same shape as the input",
    )
    raises_like(lambda m, w, i, o: F(m).embedding_bag(i, w, o), w, np.array([1, 2, 13]), np.array([0, 1]), match="Index 2 of input takes value 13 which is not in the valid range [0, 10)")
    raises_like(lambda m, w, i, o: F(m).embedding_bag(i, w, o), w, np.array([1.0, 2.0]), np.array([0, 1]), match="to have one of the following scalar types: Long, Int")
    raises_like(lambda m, w, i, o: F(m).embedding_bag(i, w, o), w, np.array([1, 2, 3]), np.array([1, 2]), match="offsets[0] has to be 0")
    raises_like(lambda m, w, i, o: F(m).embedding_bag(i, w, o), w, np.array([1, 2, 3]), np.array([0, 1, 5]), match="offsets[-1] can not be greater than input's length 3")
    raises_like(lambda m, w, i: F(m).embedding_bag(i, w, padding_idx=12), w, np.array([[1, 2, 3]]), match="padding_idx must be within the number of embeddings, -10 through 9, but got 12")
    raises_like(lambda m: m.nn.EmbeddingBag(10, 3, padding_idx=10), match="padding_idx must be within num_embeddings")
