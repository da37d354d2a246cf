"""Every differentiable op against PyTorch 2.13 (forward + input gradients, float32), with
finite-difference gradcheck in float64 and gradgradcheck for elementwise, matmul and
reduction ops. Cases cover broadcasting, 0-d, size-1 and empty dims, negative dims and
non-contiguous inputs."""

from __future__ import annotations

import numpy as np
import pytest

from oracle import Case, Input, check_gradcheck, check_gradgradcheck, check_op

I = Input  # noqa: E741 - short alias keeps the table readable


def _c(name, fn, *inputs, **kw):
    return Case(name, fn, list(inputs), **kw)


ELEMENTWISE = [
    _c("add", lambda m, a, b: a + b, I((3, 4)), I((3, 4)), gradgradcheck=True),
    _c("add_broadcast", lambda m, a, b: m.add(a, b), I((2, 3, 4)), I((3, 1)), gradgradcheck=True),
    _c("add_alpha", lambda m, a, b: m.add(a, b, alpha=2.5), I((3, 4)), I((4,))),
    _c("add_scalar", lambda m, a: a + 2.5, I((3, 4))),
    _c("radd_scalar", lambda m, a: 2 + a, I((3,))),
    _c("add_0d", lambda m, a, b: a + b, I(()), I((2, 3)), gradgradcheck=True),
    _c("add_empty", lambda m, a, b: a + b, I((0, 3)), I((3,))),
    _c("sub", lambda m, a, b: a - b, I((2, 3)), I((2, 1)), gradgradcheck=True),
    _c("rsub_scalar", lambda m, a: 1.5 - a, I((2, 3))),
    _c("mul", lambda m, a, b: a * b, I((2, 3)), I((3,)), gradgradcheck=True),
    _c("mul_size1", lambda m, a, b: a * b, I((1, 3, 1)), I((2, 1, 4)), gradgradcheck=True),
    _c("mul_scalar", lambda m, a: a * 3.0, I((4,))),
    _c("div", lambda m, a, b: a / b, I((3, 4)), I((4,), "nonzero"), gradgradcheck=True),
    _c("rdiv_scalar", lambda m, a: 2.0 / a, I((3,), "nonzero"), gradgradcheck=True),
    _c("pow_scalar", lambda m, a: a**3, I((3, 4)), gradgradcheck=True),
    _c("pow_half", lambda m, a: a**0.5, I((3,), "positive"), gradgradcheck=True),
    _c("pow_tensor", lambda m, a, b: m.pow(a, b), I((3, 4), "positive"), I((4,)), gradgradcheck=True),
    _c("rpow", lambda m, a: 2.0**a, I((3,)), gradgradcheck=True),
    _c("neg", lambda m, a: -a, I((2, 3)), gradgradcheck=True),
    _c("abs", lambda m, a: m.abs(a), I((2, 3), "nonzero"), gradgradcheck=True),
    _c("exp", lambda m, a: m.exp(a), I((2, 3)), gradgradcheck=True),
    _c("exp_0d", lambda m, a: a.exp(), I(()), gradgradcheck=True),
    _c("log", lambda m, a: m.log(a), I((2, 3), "positive"), gradgradcheck=True),
    _c("log1p", lambda m, a: m.log1p(a), I((2, 3), "positive"), gradgradcheck=True),
    _c("expm1", lambda m, a: m.expm1(a), I((5,)), gradgradcheck=True),
    _c("log2", lambda m, a: m.log2(a), I((5,), "positive")),
    _c("log10", lambda m, a: m.log10(a), I((5,), "positive")),
    _c("sqrt", lambda m, a: m.sqrt(a), I((2, 3), "positive"), gradgradcheck=True),
    _c("rsqrt", lambda m, a: m.rsqrt(a), I((2, 3), "positive"), gradgradcheck=True),
    _c("reciprocal", lambda m, a: m.reciprocal(a), I((4,), "nonzero"), gradgradcheck=True),
    _c("sin", lambda m, a: m.sin(a), I((2, 3)), gradgradcheck=True),
    _c("cos", lambda m, a: m.cos(a), I((2, 3)), gradgradcheck=True),
    _c("tan", lambda m, a: m.tan(a), I((2, 3), "unit"), gradgradcheck=True),
    _c("asin", lambda m, a: m.asin(a), I((5,), "unit")),
    _c("acos", lambda m, a: m.acos(a), I((5,), "unit")),
    _c("atan", lambda m, a: m.atan(a), I((5,))),
    _c("sinh", lambda m, a: m.sinh(a), I((5,))),
    _c("cosh", lambda m, a: m.cosh(a), I((5,))),
    _c("tanh", lambda m, a: m.tanh(a), I((2, 3)), gradgradcheck=True),
    _c("sigmoid", lambda m, a: m.sigmoid(a), I((2, 3)), gradgradcheck=True),
    _c("sigmoid_large", lambda m, a: a.sigmoid(), I(array=np.array([-100.0, -20.0, 0.0, 20.0, 100.0])), gradcheck=False),
    _c("relu", lambda m, a: m.relu(a), I((3, 4), "nonzero"), gradgradcheck=True),
    _c("erf", lambda m, a: m.erf(a), I((3, 4)), gradgradcheck=True),
    _c("erf_tails", lambda m, a: m.erf(a), I(array=np.array([-6.0, -3.0, -0.3, 0.0, 0.2, 0.5, 2.5, 4.5, 7.0]))),
    _c("sign", lambda m, a: m.sign(a), I((2, 3), "nonzero")),
    _c("floor", lambda m, a: m.floor(a), I((2, 3)), gradcheck=False),
    _c("ceil", lambda m, a: m.ceil(a), I((2, 3)), gradcheck=False),
    _c("round", lambda m, a: m.round(a), I((2, 3)), gradcheck=False),
    _c("trunc", lambda m, a: m.trunc(a), I((2, 3)), gradcheck=False),
    _c("clamp", lambda m, a: m.clamp(a, -0.5, 0.5), I((3, 4))),
    _c("clamp_min", lambda m, a: a.clamp(min=0.1), I((3, 4))),
    _c("clamp_max", lambda m, a: a.clamp(max=0.1), I((3, 4))),
    _c("clamp_tensor", lambda m, a, lo, hi: m.clamp(a, lo, hi), I((3, 4)), I((4,)), I((3, 1)), gradcheck=False),
    _c("maximum", lambda m, a, b: m.maximum(a, b), I((3, 4)), I((4,)), gradgradcheck=True),
    _c("minimum", lambda m, a, b: m.minimum(a, b), I((3, 4)), I((3, 1)), gradgradcheck=True),
    _c("maximum_ties", lambda m, a, b: m.maximum(a, b), I(array=np.array([1.0, 2.0, 3.0])), I(array=np.array([1.0, 0.0, 3.0])), gradcheck=False),
    _c("where", lambda m, c, a, b: m.where(c, a, b), I((3, 4), "bool"), I((3, 4)), I((4,)), gradgradcheck=True),
    _c("where_scalar", lambda m, c, a: m.where(c, a, 0.0), I((3, 4), "bool"), I((3, 4))),
    _c("atan2", lambda m, a, b: m.atan2(a, b), I((3,)), I((3,), "nonzero")),
    _c("lerp", lambda m, a, b: m.lerp(a, b, 0.3), I((3,)), I((3,))),
    _c("square", lambda m, a: m.square(a), I((3,)), gradgradcheck=True),
    _c("addcmul", lambda m, a, b, c: m.addcmul(a, b, c, value=0.5), I((3,)), I((3,)), I((3,))),
    _c("remainder", lambda m, a: m.remainder(a, 0.7), I((6,), "positive")),
    _c("fmod", lambda m, a: m.fmod(a, 0.7), I((6,), "positive")),
    _c("chain", lambda m, a, b: ((a * b).exp() - b).tanh() / (1 + a * a), I((3, 2)), I((2,)), gradgradcheck=True),
]

REDUCTIONS = [
    _c("sum_all", lambda m, a: a.sum(), I((3, 4)), gradgradcheck=True),
    _c("sum_dim", lambda m, a: m.sum(a, dim=1), I((3, 4, 2)), gradgradcheck=True),
    _c("sum_neg_dims_keepdim", lambda m, a: a.sum(dim=(-1, 0), keepdim=True), I((3, 4, 2)), gradgradcheck=True),
    _c("sum_0d", lambda m, a: a.sum(), I(())),
    _c("sum_empty", lambda m, a: a.sum(0), I((0, 3))),
    _c("mean_all", lambda m, a: a.mean(), I((3, 4)), gradgradcheck=True),
    _c("mean_dim", lambda m, a: m.mean(a, -1, keepdim=True), I((3, 4)), gradgradcheck=True),
    _c("prod", lambda m, a: a.prod(), I((2, 3), "nonzero"), gradgradcheck=True),
    _c("prod_dim", lambda m, a: m.prod(a, 1), I((2, 3), "nonzero")),
    _c("prod_with_zero", lambda m, a: m.prod(a, 1), I(array=np.array([[0.0, 2.0, 3.0], [1.0, 2.0, 3.0]])), gradcheck=False),
    _c("max_all", lambda m, a: a.max(), I((3, 4), "distinct"), gradgradcheck=True),
    _c("min_all", lambda m, a: m.min(a), I((3, 4), "distinct")),
    _c("max_all_ties", lambda m, a: a.max(), I(array=np.array([1.0, 3.0, 3.0, 2.0])), gradcheck=False),
    _c("max_dim", lambda m, a: tuple(m.max(a, dim=1)), I((3, 4), "distinct"), gradgradcheck=True),
    _c("min_dim_keepdim", lambda m, a: tuple(a.min(-1, keepdim=True)), I((3, 4), "distinct")),
    _c("max_binary", lambda m, a, b: m.max(a, b), I((3,)), I((3,))),
    _c("amax", lambda m, a: m.amax(a, dim=(0, 2)), I((3, 4, 2), "distinct"), gradgradcheck=True),
    _c("amin_ties", lambda m, a: a.amin(dim=1), I(array=np.array([[1.0, 1.0, 2.0], [0.5, 3.0, 0.5]])), gradcheck=False),
    _c("argmax", lambda m, a: m.argmax(a, dim=1), I((3, 4), "distinct")),
    _c("argmax_all", lambda m, a: a.argmax(), I((3, 4), "distinct")),
    _c("argmin_keepdim", lambda m, a: a.argmin(dim=0, keepdim=True), I((3, 4), "distinct")),
    _c("var", lambda m, a: a.var(), I((3, 4)), gradgradcheck=True),
    _c("var_dim_correction0", lambda m, a: m.var(a, dim=1, correction=0), I((3, 4))),
    _c("var_unbiased_false", lambda m, a: a.var(1, unbiased=False, keepdim=True), I((3, 4))),
    _c("std", lambda m, a: a.std(dim=0), I((3, 4)), gradgradcheck=True),
    _c("logsumexp", lambda m, a: m.logsumexp(a, dim=1), I((3, 4)), gradgradcheck=True),
    _c("logsumexp_large", lambda m, a: a.logsumexp(-1), I(array=np.array([[1000.0, 1000.0], [-1000.0, 5.0]])), gradcheck=False),
    _c("norm", lambda m, a: a.norm(), I((3, 4)), gradgradcheck=True),
    _c("norm_dim", lambda m, a: m.norm(a, dim=1, keepdim=True), I((3, 4)), gradgradcheck=True),
    _c("norm_p1", lambda m, a: a.norm(p=1, dim=0), I((3, 4), "nonzero")),
    _c("norm_p3", lambda m, a: a.norm(p=3), I((3, 4), "nonzero")),
    _c("norm_inf", lambda m, a: a.norm(p=float("inf")), I((3, 4), "distinct")),
    _c("norm_zero_vector", lambda m, a: a.norm(), I(array=np.zeros(3)), gradcheck=False),
    _c("cumsum", lambda m, a: m.cumsum(a, dim=1), I((3, 4)), gradgradcheck=True),
    _c("cumsum_neg", lambda m, a: a.cumsum(-1), I((2, 3, 4))),
    _c("cumprod", lambda m, a: m.cumprod(a, 1), I((2, 4), "nonzero")),
    _c("softmax", lambda m, a: m.softmax(a, dim=-1), I((3, 5)), gradgradcheck=True),
    _c("softmax_dim0", lambda m, a: a.softmax(0), I((3, 5))),
    _c("log_softmax", lambda m, a: m.log_softmax(a, dim=1), I((3, 5)), gradgradcheck=True),
    _c("log_softmax_large", lambda m, a: a.log_softmax(-1), I(array=np.array([[1e4, -1e4, 0.0]])), gradcheck=False),
]

MOVEMENT = [
    _c("reshape", lambda m, a: a.reshape(4, 3), I((3, 4)), gradgradcheck=True),
    _c("reshape_infer", lambda m, a: m.reshape(a, (-1, 2)), I((3, 4))),
    _c("view", lambda m, a: a.view(2, 6), I((3, 4)), noncontig=False),
    _c("view_0d", lambda m, a: a.view(1, 1), I(())),
    _c("permute", lambda m, a: a.permute(2, 0, 1), I((2, 3, 4)), gradgradcheck=True),
    _c("permute_neg", lambda m, a: m.permute(a, (-1, 0, 1)), I((2, 3, 4))),
    _c("transpose", lambda m, a: a.transpose(0, -1), I((2, 3, 4))),
    _c("t", lambda m, a: a.t(), I((2, 3))),
    _c("mT", lambda m, a: a.mT, I((2, 3, 4))),
    _c("T", lambda m, a: a.T, I((2, 3))),
    _c("squeeze", lambda m, a: a.squeeze(), I((1, 3, 1, 2))),
    _c("squeeze_dim", lambda m, a: a.squeeze(-2), I((1, 3, 1, 2))),
    _c("unsqueeze", lambda m, a: a.unsqueeze(-1), I((3, 2))),
    _c("flatten", lambda m, a: a.flatten(1), I((2, 3, 4))),
    _c("flatten_range", lambda m, a: m.flatten(a, 0, 1), I((2, 3, 4))),
    _c("unflatten", lambda m, a: a.unflatten(1, (2, 2)), I((3, 4))),
    _c("expand", lambda m, a: a.expand(2, 3, 4), I((3, 1)), gradgradcheck=True),
    _c("expand_neg1", lambda m, a: a.expand(-1, 4), I((3, 1))),
    _c("repeat", lambda m, a: a.repeat(2, 1, 3), I((3, 2)), gradgradcheck=True),
    _c("split", lambda m, a: a.split(2, dim=1), I((3, 5))),
    _c("split_sizes", lambda m, a: m.split(a, [1, 3], dim=0), I((4, 2))),
    _c("chunk", lambda m, a: a.chunk(3, -1), I((2, 7))),
    _c("unbind", lambda m, a: a.unbind(1), I((2, 3))),
    _c("flip", lambda m, a: a.flip(0, 2), I((2, 3, 4))),
    _c("narrow", lambda m, a: a.narrow(1, 1, 2), I((3, 4))),
    _c("select", lambda m, a: a.select(1, -1), I((3, 4))),
    _c("tril", lambda m, a: m.tril(a), I((4, 4))),
    _c("triu_diag", lambda m, a: a.triu(1), I((2, 3, 4))),
    _c("cat", lambda m, a, b: m.cat([a, b], dim=1), I((2, 3)), I((2, 2)), gradgradcheck=True),
    _c("cat_neg", lambda m, a, b, c: m.cat((a, b, c), -1), I((2, 1)), I((2, 3)), I((2, 2))),
    _c("cat_legacy_empty", lambda m, a, b: m.cat([a, b]), I((0,)), I((2, 3))),
    _c("stack", lambda m, a, b: m.stack([a, b], dim=1), I((2, 3)), I((2, 3)), gradgradcheck=True),
    _c("stack_neg", lambda m, a, b: m.stack([a, b], -1), I((2, 3)), I((2, 3))),
    _c("roll", lambda m, a: a.roll(1, 1), I((2, 3))),
    _c("movedim", lambda m, a: a.movedim(0, -1), I((2, 3, 4))),
    _c("diagonal", lambda m, a: a.diagonal(), I((3, 4))),
    _c("repeat_interleave", lambda m, a: a.repeat_interleave(2, dim=0), I((3, 2))),
]

INDEXING = [
    _c("getitem_int", lambda m, a: a[1], I((3, 4)), gradgradcheck=True),
    _c("getitem_neg_int", lambda m, a: a[-1, 2], I((3, 4))),
    _c("getitem_slice_step", lambda m, a: a[::2, 1:], I((5, 4)), gradgradcheck=True),
    _c("getitem_none_ellipsis", lambda m, a: a[..., None, 1], I((2, 3, 4))),
    _c("getitem_int_list", lambda m, a: a[[0, 2, 2]], I((3, 4)), gradgradcheck=True),
    _c("getitem_int_tensor", lambda m, a, i: a[:, i], I((3, 4)), I((5,), "index:4")),
    _c("getitem_two_tensors", lambda m, a, i, j: a[i, j], I((3, 4)), I((2, 2), "index:3"), I((2, 2), "index:4")),
    _c("getitem_bool_mask", lambda m, a, k: a[k], I((3, 4)), I((3, 4), "bool")),
    _c("getitem_bool_rows", lambda m, a: a[a[:, 0] > 0], I((6, 3))),
    _c("gather", lambda m, a, i: m.gather(a, 1, i), I((3, 4)), I((3, 5), "index:4"), gradgradcheck=True),
    _c("gather_smaller", lambda m, a, i: a.gather(0, i), I((4, 5)), I((2, 3), "index:4")),
    _c("scatter", lambda m, a, s: a.scatter(1, m.tensor([[0, 2], [1, 3], [3, 0]]), s), I((3, 4)), I((3, 2))),
    _c("scatter_value", lambda m, a: a.scatter(1, m.tensor([[0], [2], [1]]), 5.0), I((3, 4))),
    _c("scatter_add", lambda m, a, s: m.scatter_add(a, 0, m.tensor([[0, 1, 2], [0, 0, 1]]), s), I((3, 3)), I((2, 3))),
    _c("index_select", lambda m, a: m.index_select(a, 1, m.tensor([0, 3, 3, 1])), I((3, 4)), gradgradcheck=True),
    _c("index_add", lambda m, a, s: a.index_add(0, m.tensor([0, 2, 0]), s), I((3, 2)), I((3, 2))),
    _c("masked_fill", lambda m, a, k: a.masked_fill(k, -1.5), I((3, 4)), I((4,), "bool")),
    _c("masked_fill_neg_inf_softmax", lambda m, a: a.masked_fill(m.tril(m.ones(3, 3)) == 0, float("-inf")).softmax(-1), I((3, 3))),
    _c("masked_select", lambda m, a, k: m.masked_select(a, k), I((3, 4)), I((3, 4), "bool")),
    _c("sort", lambda m, a: tuple(m.sort(a, dim=1)), I((3, 4), "distinct")),
    _c("sort_desc", lambda m, a: tuple(a.sort(0, descending=True)), I((3, 4), "distinct")),
    _c("topk", lambda m, a: tuple(m.topk(a, 2, dim=1)), I((3, 5), "distinct")),
    _c("topk_smallest", lambda m, a: tuple(a.topk(3, largest=False)), I((5,), "distinct")),
    _c("argsort", lambda m, a: a.argsort(dim=-1), I((3, 4), "distinct")),
    _c("take_along_dim", lambda m, a, i: m.take_along_dim(a, i, dim=1), I((3, 4)), I((3, 2), "index:4")),
]

LINALG = [
    _c("matmul_2d", lambda m, a, b: a @ b, I((3, 4)), I((4, 5)), gradgradcheck=True),
    _c("matmul_1d_1d", lambda m, a, b: m.matmul(a, b), I((4,)), I((4,)), gradgradcheck=True),
    _c("matmul_1d_2d", lambda m, a, b: a @ b, I((4,)), I((4, 3)), gradgradcheck=True),
    _c("matmul_2d_1d", lambda m, a, b: a @ b, I((3, 4)), I((4,)), gradgradcheck=True),
    _c("matmul_batched", lambda m, a, b: a @ b, I((2, 3, 4)), I((2, 4, 5)), gradgradcheck=True),
    _c("matmul_broadcast", lambda m, a, b: a @ b, I((2, 1, 3, 4)), I((5, 4, 2)), gradgradcheck=True),
    _c("matmul_batched_2d", lambda m, a, b: a @ b, I((2, 3, 4)), I((4, 5)), gradgradcheck=True),
    _c("matmul_2d_batched", lambda m, a, b: a @ b, I((3, 4)), I((2, 4, 5))),
    _c("matmul_1d_batched", lambda m, a, b: a @ b, I((4,)), I((2, 4, 5))),
    _c("matmul_batched_1d", lambda m, a, b: a @ b, I((2, 3, 4)), I((4,))),
    _c("mm", lambda m, a, b: m.mm(a, b), I((3, 4)), I((4, 2))),
    _c("bmm", lambda m, a, b: m.bmm(a, b), I((2, 3, 4)), I((2, 4, 2)), gradgradcheck=True),
    _c("outer", lambda m, a, b: m.outer(a, b), I((3,)), I((4,)), gradgradcheck=True),
    _c("dot", lambda m, a, b: m.dot(a, b), I((3,)), I((3,))),
    _c("mv", lambda m, a, b: m.mv(a, b), I((3, 4)), I((4,))),
    _c("einsum_matmul", lambda m, a, b: m.einsum("ij,jk->ik", a, b), I((3, 4)), I((4, 5)), gradgradcheck=True),
    _c("einsum_batch", lambda m, a, b: m.einsum("bij,bjk->bik", a, b), I((2, 3, 4)), I((2, 4, 5))),
    _c("einsum_implicit", lambda m, a, b: m.einsum("ij,jk", a, b), I((3, 4)), I((4, 2))),
    _c("einsum_ellipsis", lambda m, a, b: m.einsum("...ij,...jk->...ik", a, b), I((2, 3, 4)), I((4, 5))),
    _c("einsum_trace", lambda m, a: m.einsum("ii->", a), I((3, 3))),
    _c("einsum_diag", lambda m, a: m.einsum("ii->i", a), I((3, 3))),
    _c("einsum_sum_only", lambda m, a, b: m.einsum("ij,k->i", a, b), I((3, 4)), I((2,))),
    _c("einsum_outer3", lambda m, a, b, c: m.einsum("i,j,k->ijk", a, b, c), I((2,)), I((3,)), I((2,))),
    _c("einsum_attention", lambda m, q, k: m.einsum("bhqd,bhkd->bhqk", q, k), I((2, 2, 3, 4)), I((2, 2, 5, 4))),
]

CASES = ELEMENTWISE + REDUCTIONS + MOVEMENT + INDEXING + LINALG


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_matches_torch(case):
    check_op(case)


@pytest.mark.parametrize("case", [c for c in CASES if c.noncontig and any(len(i.shape) >= 2 for i in c.inputs)], ids=repr)
def test_matches_torch_noncontiguous(case):
    check_op(case, noncontig=True)


@pytest.mark.parametrize("case", [c for c in CASES if c.gradcheck], ids=repr)
def test_gradcheck(case):
    check_gradcheck(case)


@pytest.mark.parametrize("case", [c for c in CASES if c.gradgradcheck], ids=repr)
def test_gradgradcheck(case):
    check_gradgradcheck(case)
