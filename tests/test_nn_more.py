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
def test_unfold_module(kw, device):
    check_layer(lambda m: m.nn.Unfold(**kw), [rand(2, 3, 7, 8)], device=device)


def test_unfold_unbatched_and_float64():
    compare_fn(lambda m, x: m.nn.functional.unfold(x, 2, padding=1), [rand(3, 5, 4)])
    compare_fn(lambda m, x: m.nn.functional.unfold(x, (2, 2), stride=2), [rand(2, 2, 6, 6, dtype=np.float64)])


@pytest.mark.parametrize("kw", UNFOLD_CASES)
def test_fold_module(kw, device):
    hw = (7, 8)
    k = kw["kernel_size"]
    blocks = torch.nn.functional.unfold(torch.zeros(1, 1, *hw), **kw).shape[-1]
    kk = k * k if isinstance(k, int) else k[0] * k[1]
    check_layer(lambda m: m.nn.Fold(hw, **kw), [rand(2, 3 * kk, blocks)], device=device)


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
def test_distance_modules(build, shapes, device):
    check_layer(build, [rand(*s) for s in shapes], device=device)


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
def test_embedding_bag_offsets(mode, device):
    check_layer(lambda m: m.nn.EmbeddingBag(10, 3, mode=mode), [IDX_1D, OFFSETS], forward=_bag_forward("offsets"), device=device)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_2d_input(mode, device):
    idx = R.integers(0, 8, (4, 5)).astype(np.int64)
    check_layer(lambda m: m.nn.EmbeddingBag(8, 6, mode=mode), [idx], device=device)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_padding_idx(mode, device):
    idx = np.array([[2, 2, 1], [2, 2, 2], [0, 3, 2]], dtype=np.int64)  # one bag is all padding
    check_layer(lambda m: m.nn.EmbeddingBag(5, 4, mode=mode, padding_idx=2), [idx], device=device)
    check_layer(lambda m: m.nn.EmbeddingBag(10, 3, mode=mode, padding_idx=-1), [np.array([9, 1, 9, 2, 3], np.int64), np.array([0, 2], np.int64)], forward=_bag_forward("offsets"), device=device)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_include_last_offset(mode, device):
    offsets = np.array([0, 3, 3, 7, 10], dtype=np.int64)
    check_layer(lambda m: m.nn.EmbeddingBag(10, 3, mode=mode, include_last_offset=True), [IDX_1D, offsets], forward=_bag_forward("offsets"), device=device)


def test_embedding_bag_per_sample_weights(device):
    psw = rand(10)
    check_layer(lambda m: m.nn.EmbeddingBag(10, 3, mode="sum"), [IDX_1D, OFFSETS, psw], forward=_bag_forward("offsets", "per_sample_weights"), device=device)
    idx2 = np.array([[1, 0, 3], [0, 0, 2]], np.int64)
    check_layer(lambda m: m.nn.EmbeddingBag(4, 2, mode="sum", padding_idx=0), [idx2, rand(2, 3)], forward=_bag_forward("per_sample_weights"), device=device)


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


# ============================================================================ 4. activations, shuffles, LRN, unpooling
def _no_zero(*shape, lambd=0.5):
    """Random values kept away from the kinks at +-lambd and 0."""
    x = rand(*shape)
    x[np.abs(np.abs(x) - lambd) < 1e-2] += 0.05
    return x


@pytest.mark.parametrize(
    "build",
    [
        lambda m: m.nn.Hardshrink(),
        lambda m: m.nn.Hardshrink(0.3),
        lambda m: m.nn.Softshrink(),
        lambda m: m.nn.Softshrink(1.2),
    ],
)
def test_shrink_modules(build, device):
    lambd = build(torch).lambd
    check_layer(build, [_no_zero(4, 7, lambd=lambd)], device=device)
    check_layer(build, [_no_zero(3, 5, lambd=lambd).astype(np.float64)], rtol=1e-7, atol=1e-9, device=device)


def test_shrink_gradcheck_reprs_and_errors():
    F = backprop.nn.functional
    gradcheck(lambda x: F.softshrink(x, 0.3), _no_zero(3, 4, lambd=0.3))
    gradcheck(lambda x: F.hardshrink(x, 0.3), _no_zero(3, 4, lambd=0.3))
    same_repr(lambda m: m.nn.Hardshrink())
    same_repr(lambda m: m.nn.Softshrink(0.25))
    raises_like(lambda m, x: m.nn.functional.softshrink(x, -1), rand(3), match="lambda must be in range [0, 3.40282e+38] for input dtype Float, but found -1")


@pytest.mark.parametrize("kw", [{}, dict(lower=0.05, upper=0.6)])
def test_rrelu_eval_matches_torch(kw, device):
    check_layer(lambda m: m.nn.RReLU(**kw), [rand(4, 6)], train=False, device=device)
    compare_fn(lambda m, x: m.nn.functional.rrelu(x, **kw), [rand(5, 3)])  # training=False by default


def test_rrelu_training_statistics_and_gradient():
    backprop.manual_seed(0)
    x = backprop.tensor(-np.abs(rand(200, 100)) - 0.01, requires_grad=True)
    layer = backprop.nn.RReLU(0.1, 0.3)
    y = layer(x)
    slopes = (y / x).detach().numpy()
    assert slopes.min() >= 0.1 - 1e-6 and slopes.max() <= 0.3 + 1e-6
    assert abs(slopes.mean() - 0.2) < 0.003  # U(0.1, 0.3): mean 0.2, std 0.058 / sqrt(20000)
    assert abs(slopes.std() - 0.2 / np.sqrt(12)) < 0.003
    assert len(np.unique(slopes)) > 1000  # one slope per element
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), slopes, rtol=1e-5)  # d(a x)/dx = a, the drawn slope
    pos = backprop.tensor(np.abs(rand(50)) + 0.01)
    np.testing.assert_array_equal(layer(pos).numpy(), pos.numpy())  # positives pass unchanged
    backprop.manual_seed(3)
    a = layer(x).detach().numpy()
    backprop.manual_seed(3)
    np.testing.assert_array_equal(a, layer(x).detach().numpy())  # seeded
    layer.eval()
    np.testing.assert_allclose((layer(x) / x).detach().numpy(), np.full(x.shape, 0.2, np.float32), rtol=1e-5)


def test_rrelu_inplace_repr_and_errors():
    x = backprop.tensor(np.array([-1.0, 2.0], np.float32))
    out = backprop.nn.functional.rrelu(x, 0.2, 0.2, training=True, inplace=True)
    assert out is x
    np.testing.assert_allclose(x.numpy(), [-0.2, 2.0], rtol=1e-6)
    same_repr(lambda m: m.nn.RReLU())
    same_repr(lambda m: m.nn.RReLU(0.1, 0.2, True))
    raises_like(lambda m, x: m.nn.functional.rrelu(x, 0.5, 0.1, training=True), rand(3), match="Lower bound should be less than or equal to the upper bound")


def test_gumbel_softmax_soft_statistics():
    backprop.manual_seed(0)
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4], np.float32))
    x = backprop.tensor(np.tile(logits, (20000, 1)))
    y = backprop.nn.functional.gumbel_softmax(x, tau=0.5)
    arr = y.numpy()
    assert arr.dtype == np.float32 and arr.shape == (20000, 4)
    np.testing.assert_allclose(arr.sum(-1), 1.0, rtol=1e-5)
    # The argmax of a Gumbel-perturbed logit vector is an exact sample of softmax(logits).
    freq = np.bincount(arr.argmax(-1), minlength=4) / 20000
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.3, 0.4], atol=0.015)
    # Lower temperatures give sharper samples.
    backprop.manual_seed(0)
    sharp = backprop.nn.functional.gumbel_softmax(x, tau=0.1).numpy()
    assert sharp.max(-1).mean() > arr.max(-1).mean()


def test_gumbel_softmax_hard_and_straight_through_gradient():
    F = backprop.nn.functional
    backprop.manual_seed(1)
    logits = backprop.tensor(rand(6, 5, 3), requires_grad=True)
    hard = F.gumbel_softmax(logits, tau=0.7, hard=True, dim=1)
    h = hard.detach().numpy()
    assert set(np.unique(h)) == {0.0, 1.0}
    np.testing.assert_array_equal(h.sum(1), np.ones((6, 3)))
    g = backprop.tensor(rand(6, 5, 3))
    (hard * g).sum().backward()
    hard_grad = logits.grad.numpy().copy()
    # The same draw, soft: the straight-through estimator passes the soft sample's gradient.
    logits.grad = None
    backprop.manual_seed(1)
    soft = F.gumbel_softmax(logits, tau=0.7, hard=False, dim=1)
    np.testing.assert_array_equal(soft.detach().numpy().argmax(1), h.argmax(1))
    (soft * g).sum().backward()
    np.testing.assert_allclose(hard_grad, logits.grad.numpy(), rtol=1e-5, atol=1e-7)
    assert np.abs(hard_grad).sum() > 0


def test_gumbel_softmax_eps_warning():
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated"):
        backprop.nn.functional.gumbel_softmax(backprop.randn(2, 3), eps=1e-5)


@pytest.mark.parametrize(
    "build, shape",
    [
        (lambda m: m.nn.PixelUnshuffle(2), (2, 3, 4, 6)),
        (lambda m: m.nn.PixelUnshuffle(3), (3, 6, 3)),
        (lambda m: m.nn.PixelUnshuffle(2), (2, 1, 3, 4, 2)),
        (lambda m: m.nn.PixelShuffle(2), (2, 8, 3, 2)),
        (lambda m: m.nn.PixelShuffle(2), (2, 3, 4, 2, 3)),
        (lambda m: m.nn.ChannelShuffle(2), (2, 6, 3, 3)),
        (lambda m: m.nn.ChannelShuffle(3), (2, 6, 5)),
        (lambda m: m.nn.ChannelShuffle(2), (1, 4, 3, 2, 2)),
    ],
)
def test_shuffle_modules(build, shape, device):
    check_layer(build, [rand(*shape)], device=device)


def test_pixel_unshuffle_inverts_pixel_shuffle_and_reprs():
    F = backprop.nn.functional
    x = backprop.randn(2, 3, 4, 6)
    np.testing.assert_array_equal(F.pixel_shuffle(F.pixel_unshuffle(x, 2), 2).numpy(), x.numpy())
    for build in (lambda m: m.nn.PixelShuffle(3), lambda m: m.nn.PixelUnshuffle(2), lambda m: m.nn.ChannelShuffle(4)):
        same_repr(build)


def test_shuffle_errors():
    F = lambda m: m.nn.functional  # noqa: E731
    raises_like(lambda m, x: F(m).pixel_unshuffle(x, 2), rand(4, 4), match="pixel_unshuffle expects input to have at least 3 dimensions")
    raises_like(lambda m, x: F(m).pixel_unshuffle(x, 2), rand(1, 5, 4), match="input.size(-2)=5 is not divisible by 2")
    raises_like(lambda m, x: F(m).pixel_unshuffle(x, 2), rand(1, 4, 5), match="input.size(-1)=5 is not divisible by 2")
    raises_like(lambda m, x: F(m).pixel_shuffle(x, 2), rand(4, 4), match="pixel_shuffle expects input to have at least 3 dimensions")
    raises_like(lambda m, x: F(m).pixel_shuffle(x, 2), rand(3, 4, 4), match="input.size(-3)=3 is not divisible by 4")
    raises_like(lambda m, x: F(m).channel_shuffle(x, 2), rand(1, 5, 4), match="Got 5 channels and 2 groups.")
    raises_like(lambda m, x: F(m).channel_shuffle(x, 2), rand(5, 4), match="channel_shuffle expects input with > 2 dims, but got input with sizes [5, 4]")
    raises_like(lambda m, x: F(m).channel_shuffle(x, 0), rand(1, 4, 3), match="must be positive")


@pytest.mark.parametrize(
    "build, shape",
    [
        (lambda m: m.nn.LocalResponseNorm(3), (2, 5, 4, 4)),
        (lambda m: m.nn.LocalResponseNorm(2, alpha=0.1, beta=0.5, k=2.0), (2, 6, 7)),
        (lambda m: m.nn.LocalResponseNorm(4, alpha=0.5), (2, 3, 2, 3, 2)),
        (lambda m: m.nn.LocalResponseNorm(7, alpha=1.0, beta=1.0), (1, 4, 5, 3)),  # window wider than C
    ],
)
def test_local_response_norm(build, shape, device):
    check_layer(build, [rand(*shape, scale=2.0)], device=device)


def test_local_response_norm_gradcheck_repr_errors():
    F = backprop.nn.functional
    gradcheck(lambda x: F.local_response_norm(x, 3, alpha=0.5, beta=0.75, k=1.0), rand(2, 4, 3, 2))
    same_repr(lambda m: m.nn.LocalResponseNorm(3))
    same_repr(lambda m: m.nn.LocalResponseNorm(2, 1e-3, 0.5, 2.0))
    raises_like(lambda m, x: m.nn.functional.local_response_norm(x, 2), rand(4, 4), match="Expected 3D or higher dimensionality")


def _unpool_case(pool_kw, shape, unpool_kw, output_size=None, one_d=False, device="cpu"):
    x = rand(*shape)
    th_pool = (torch.nn.MaxPool1d if one_d else torch.nn.MaxPool2d)(**pool_kw, return_indices=True)
    maxima, idx = th_pool(torch.tensor(x))
    pooled = rand(*idx.shape)
    if backprop.device(device).type != "cpu":
        # Overlapping windows can pick one input element twice, so unpooling writes several values
        # to one index; which write wins is undefined on a GPU (torch's CUDA unpooling is
        # nondeterministic there too), while torch's CPU result is the last write. On a device the
        # values are the real maxima: duplicate indices then carry the same value.
        pooled = maxima.numpy()
    cls = "MaxUnpool1d" if one_d else "MaxUnpool2d"
    check_layer(lambda m: getattr(m.nn, cls)(**unpool_kw), [pooled, idx.numpy()], forward=lambda layer, v, i: layer(v, i, output_size=output_size), device=device)
    # The indices our MaxPool produces drive our unpooling the same way.
    bp_pool = getattr(backprop.nn, cls.replace("Unpool", "Pool"))(**pool_kw, return_indices=True)
    out, bidx = bp_pool(backprop.tensor(x))
    np.testing.assert_array_equal(bidx.numpy(), idx.numpy())
    back = getattr(backprop.nn, cls)(**unpool_kw)(out, bidx, output_size=output_size)
    ref = getattr(torch.nn, cls)(**unpool_kw)(torch.tensor(out.numpy()), idx, output_size=output_size)
    np.testing.assert_array_equal(back.numpy(), ref.numpy())


@pytest.mark.parametrize(
    "pool_kw, shape, unpool_kw, output_size",
    [
        (dict(kernel_size=2), (2, 3, 6, 6), dict(kernel_size=2), None),
        (dict(kernel_size=2), (2, 3, 7, 7), dict(kernel_size=2), (7, 7)),
        (dict(kernel_size=3, stride=2, padding=1), (1, 2, 7, 7), dict(kernel_size=3, stride=2, padding=1), None),
        (dict(kernel_size=3, stride=2, padding=1), (1, 2, 7, 8), dict(kernel_size=3, stride=2, padding=1), (7, 8)),
        (dict(kernel_size=(2, 3), stride=(2, 1)), (2, 2, 6, 6), dict(kernel_size=(2, 3), stride=(2, 1)), [2, 2, 6, 6]),
        (dict(kernel_size=2), (3, 4, 4), dict(kernel_size=2), None),  # unbatched
    ],
)
def test_max_unpool2d(pool_kw, shape, unpool_kw, output_size, device):
    _unpool_case(pool_kw, shape, unpool_kw, output_size, device=device)


@pytest.mark.parametrize(
    "pool_kw, shape, unpool_kw, output_size",
    [
        (dict(kernel_size=2), (2, 3, 8), dict(kernel_size=2), None),
        (dict(kernel_size=3, stride=2, padding=1), (2, 2, 9), dict(kernel_size=3, stride=2, padding=1), (9,)),
        (dict(kernel_size=2), (3, 7), dict(kernel_size=2), [7]),  # unbatched
    ],
)
def test_max_unpool1d(pool_kw, shape, unpool_kw, output_size, device):
    _unpool_case(pool_kw, shape, unpool_kw, output_size, one_d=True, device=device)


def test_max_unpool_gradcheck_reprs_errors():
    F = lambda m: m.nn.functional  # noqa: E731
    idx = backprop.tensor(np.array([[[[0, 3], [9, 14]]]], np.int64))
    gradcheck(lambda v: F(backprop).max_unpool2d(v, idx, 2), rand(1, 1, 2, 2), gradgrad=True)
    same_repr(lambda m: m.nn.MaxUnpool2d(2))
    same_repr(lambda m: m.nn.MaxUnpool2d((2, 3), stride=(1, 2)))
    same_repr(lambda m: m.nn.MaxUnpool1d(3, stride=2, padding=1))
    v = rand(1, 1, 2, 2)
    raises_like(lambda m, v, i: F(m).max_unpool2d(v, i, 2), v, np.array([[[[0, 1], [2, 16]]]]), match="Found an invalid max index: 16 (output volumes are of size 4x4)")
    raises_like(lambda m, v, i: F(m).max_unpool2d(v, i, 2, output_size=(7, 7)), v, np.array([[[[0, 1], [2, 3]]]]), match='invalid output_size "(7, 7)" (dim 0 must be between 2 and 6)')
    raises_like(lambda m, v, i: F(m).max_unpool2d(v, i, 2), v, np.array([[[[0, 1], [2, 3.0]]]]), match="elements in indices should be type int64 but got: Double")
    raises_like(lambda m, v, i: F(m).max_unpool2d(v, i, 2), v, np.array([[[[0, 1, 2, 3]]]]), match="Expected shape of indices to be same as that of the input tensor ([1, 1, 2, 2])")
    raises_like(lambda m, v, i: F(m).max_unpool2d(v, i, 2), rand(2, 2), np.array([[0, 1], [2, 3]]), match="Input to max_unpooling2d should be a 3d or 4d Tensor, but got a tensor with 2 dimensions.")
    raises_like(lambda m, v, i: F(m).max_unpool1d(v, i, 2), rand(1, 1, 2), np.array([[[0, 7]]]), match="Found an invalid max index: 7 (output volumes are of size 4x1)")


# ============================================================================ 5. lazy modules
LAZY = {
    # name: (lazy build, equivalent eager build, input shape)
    "linear": (lambda m: m.nn.LazyLinear(3), lambda m: m.nn.Linear(5, 3), (4, 5)),
    "linear_no_bias_3d": (lambda m: m.nn.LazyLinear(2, bias=False), lambda m: m.nn.Linear(6, 2, bias=False), (2, 3, 6)),
    "conv1d": (lambda m: m.nn.LazyConv1d(4, 3, groups=2, padding=1), lambda m: m.nn.Conv1d(6, 4, 3, groups=2, padding=1), (2, 6, 7)),
    "conv1d_unbatched": (lambda m: m.nn.LazyConv1d(3, 2), lambda m: m.nn.Conv1d(2, 3, 2), (2, 5)),
    "conv2d": (lambda m: m.nn.LazyConv2d(4, 3, stride=2, padding=1), lambda m: m.nn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 7, 6)),
    "conv2d_no_bias_reflect": (lambda m: m.nn.LazyConv2d(2, (2, 3), bias=False, padding=1, padding_mode="reflect"), lambda m: m.nn.Conv2d(2, 2, (2, 3), bias=False, padding=1, padding_mode="reflect"), (1, 2, 5, 5)),
}


def _initialized(build, shape):
    def make(m):
        layer = build(m)
        with m.no_grad():
            layer(m.zeros(*shape))
        return layer

    return make


@pytest.mark.parametrize("name", list(LAZY))
def test_lazy_module_matches_torch_after_first_call(name, device):
    lazy, eager, shape = LAZY[name]
    bp, th = check_layer(_initialized(lazy, shape), [rand(*shape)], device=device)
    assert type(bp).__name__ == type(th).__name__ == type(eager(torch)).__name__  # became the eager class
    assert repr(bp) == repr(th) == repr(eager(torch))
    # state_dict layout (keys, shapes, dtypes) equals the eager module's
    ref = eager(backprop).state_dict()
    got = bp.state_dict()
    assert list(got) == list(ref)
    for k in ref:
        assert tuple(got[k].shape) == tuple(ref[k].shape) and got[k].dtype == ref[k].dtype
        assert type(bp._parameters[k]) is backprop.nn.Parameter


@pytest.mark.parametrize("name", list(LAZY))
def test_lazy_module_before_first_call(name):
    lazy, _, _ = LAZY[name]
    same_repr(lazy)
    layer = lazy(backprop)
    assert layer.has_uninitialized_params()
    assert all(isinstance(p, backprop.nn.UninitializedParameter) for p in layer.parameters())
    assert [k for k, _ in layer.named_parameters()] == [k for k, _ in lazy(torch).named_parameters()]
    sd = layer.state_dict()
    assert list(sd) == list(lazy(torch).state_dict())
    assert all(isinstance(v, backprop.nn.UninitializedParameter) for v in sd.values())
    assert repr(layer.weight) == "<UninitializedParameter>"
    with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized parameter"):
        layer.weight.shape  # noqa: B018


@pytest.mark.parametrize("name", ["linear", "conv2d"])
def test_lazy_init_is_the_eager_init(name):
    lazy, eager, shape = LAZY[name]
    backprop.manual_seed(5)
    a = _initialized(lazy, shape)(backprop)
    backprop.manual_seed(5)
    b = eager(backprop)
    for (ka, pa), (kb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert ka == kb
        np.testing.assert_array_equal(pa.detach().numpy(), pb.detach().numpy())
    fan_in = int(np.prod(a.weight.shape[1:]))
    assert np.abs(a.weight.detach().numpy()).max() <= 1 / np.sqrt(fan_in) + 1e-7
    assert np.abs(a.weight.detach().numpy()).std() > 0


def test_lazy_load_state_dict_materializes_and_optimizer_before_init():
    src = backprop.nn.Linear(5, 3)
    lazy = backprop.nn.LazyLinear(3)
    lazy.load_state_dict(src.state_dict())
    assert type(lazy).__name__ == "LazyLinear" and not lazy.has_uninitialized_params()  # torch: class changes on the first call
    assert tuple(lazy.weight.shape) == (3, 5)
    x = backprop.randn(2, 5)
    np.testing.assert_array_equal(lazy(x).detach().numpy(), src(x).detach().numpy())
    assert type(lazy).__name__ == "Linear"
    # An optimizer built before the first call updates the materialized parameters.
    layer = backprop.nn.LazyLinear(2)
    opt = backprop.optim.SGD(layer.parameters(), lr=0.5)
    out = layer(backprop.ones(4, 3))
    before = layer.weight.detach().numpy().copy()
    out.sum().backward()
    opt.step()
    np.testing.assert_allclose(layer.weight.detach().numpy(), before - 0.5 * 4.0, rtol=1e-6)


def test_lazy_dtype_and_uninitialized_parameter():
    layer = backprop.nn.LazyLinear(3, dtype=backprop.float64)
    assert layer(backprop.randn(2, 4, dtype=backprop.float64)).dtype == backprop.float64
    assert layer.weight.dtype == backprop.float64
    u = backprop.nn.UninitializedParameter()
    assert u.requires_grad and repr(u) == "<UninitializedParameter>"
    u.materialize((2, 3))
    assert type(u) is backprop.nn.Parameter and tuple(u.shape) == (2, 3) and u.requires_grad


def test_lazy_errors():
    raises_like(lambda m, x: m.nn.LazyConv2d(4, 3, groups=2)(x), rand(1, 3, 5, 5), match="in_channels must be divisible by groups")
    raises_like(lambda m, x: m.nn.LazyConv2d(4, 3)(x), rand(5, 5), match="Expected 3D (unbatched) or 4D (batched) input to LazyConv2d")
    raises_like(lambda m, x: m.nn.LazyConv1d(4, 3)(x), rand(1, 2, 5, 5), match="Expected 2D (unbatched) or 3D (batched) input to LazyConv1d")
