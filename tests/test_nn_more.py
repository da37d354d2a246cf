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
