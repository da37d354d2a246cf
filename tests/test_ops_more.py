"""Order statistics, cumulative extremes, differences and the remaining shape/linalg helpers
(median, quantile, mode, cummax, logcumsumexp, diff, rot90, unfold, kron, block_diag, cross,
cdist, cov, corrcoef, logaddexp, hypot, ...) against PyTorch 2.13: forward values, indices and
input gradients in float32 (also on non-contiguous inputs), finite-difference gradcheck in
float64, gradgradcheck where the op's backward is differentiable; then torch's errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import backprop as bp
from oracle import Case, Input, oracle_tests

I = Input  # noqa: E741 - short alias keeps the table readable
# gradcheck=False: no input needs a gradient (integer, bool or NaN-holding fixed inputs), or ties make
# finite differences meaningless; those cases are still compared with torch, gradients included.
NAN = float("nan")


def _c(name, fn, *inputs, **kw):
    return Case(name, fn, list(inputs), **kw)


def _median_ties():
    return np.array([[1.0, 2.0, 2.0, 3.0], [4.0, 0.5, 1.0, 0.0], [2.0, 2.0, 2.0, 2.0]])


ORDER_STATISTICS = [
    _c("median_all", lambda m, a: a.median(), I((3, 5), "distinct")),
    _c("median_all_even", lambda m, a: m.median(a), I((4,), "distinct")),
    _c("median_all_ties", lambda m, a: a.median(), I(array=np.array([1.0, 2.0, 2.0, 3.0])), gradcheck=False),
    _c("median_all_nan", lambda m, a: a.median(), I(array=np.array([1.0, NAN, 3.0]), requires_grad=False), gradcheck=False),
    _c("median_dim", lambda m, a: tuple(a.median(1)), I((3, 5), "distinct")),
    _c("median_dim_even_keepdim", lambda m, a: tuple(m.median(a, 0, keepdim=True)), I((4, 3), "distinct")),
    _c("median_dim_neg", lambda m, a: tuple(a.median(-1)), I((2, 3, 4), "distinct")),
    _c("median_dim_nan_row", lambda m, a: tuple(a.median(1)), I(array=np.array([[4.0, NAN, 1.0, 0.0], [3.0, 1.0, 2.0, 5.0]]), requires_grad=False), gradcheck=False),
    _c("median_int", lambda m, a: tuple(a.median(0)), I((5, 2), "int"), gradcheck=False),
    _c("median_0d", lambda m, a: tuple(a.median(0)), I(())),
    _c("nanmedian_all", lambda m, a: a.nanmedian(), I(array=np.array([1.0, NAN, 3.0, 2.0]), requires_grad=False), gradcheck=False),
    _c("nanmedian_dim", lambda m, a: tuple(m.nanmedian(a, 1)), I(array=np.array([[1.0, 2.0, NAN, 3.0], [NAN, 5.0, NAN, NAN], [4.0, 1.0, 0.0, 2.0]]), requires_grad=False), gradcheck=False),
    # which NaN's index torch reports for an all-NaN row is unspecified: compare values only
    _c("nanmedian_all_nan_row", lambda m, a: m.nanmedian(a, 1).values, I(array=np.array([[1.0, NAN], [NAN, NAN]]), requires_grad=False), gradcheck=False),
    _c("nanmedian_dim_grad", lambda m, a: tuple(a.nanmedian(0)), I((5, 3), "distinct")),
    _c("quantile_scalar", lambda m, a: m.quantile(a, 0.3), I((3, 5), "distinct")),
    _c("quantile_dim", lambda m, a: a.quantile(0.75, dim=1), I((3, 5), "distinct")),
    _c("quantile_tensor_q_keepdim", lambda m, a: m.quantile(a, m.tensor([0.1, 0.5, 0.9], dtype=a.dtype), dim=0, keepdim=True), I((5, 3), "distinct")),
    _c("quantile_all_keepdim", lambda m, a: m.quantile(a, m.tensor([0.25, 1.0], dtype=a.dtype), keepdim=True), I((2, 3), "distinct")),
    _c("quantile_0d_q_tensor", lambda m, a: m.quantile(a, m.tensor(0.4, dtype=a.dtype), dim=-1), I((2, 6), "distinct")),
    _c("quantile_lower", lambda m, a: a.quantile(0.35, dim=1, interpolation="lower"), I((3, 6), "distinct")),
    _c("quantile_higher", lambda m, a: a.quantile(0.35, dim=1, interpolation="higher"), I((3, 6), "distinct")),
    _c("quantile_midpoint", lambda m, a: a.quantile(0.35, dim=1, interpolation="midpoint"), I((3, 6), "distinct")),
    _c("quantile_nearest_half_even", lambda m, a: a.quantile(m.tensor([0.1, 0.3, 0.5, 0.7, 0.9], dtype=a.dtype), dim=1, interpolation="nearest"), I((2, 6), "distinct")),
    _c("quantile_nan_row", lambda m, a: m.quantile(a, 0.5, dim=1), I(array=np.array([[1.0, NAN, 3.0], [1.0, 2.0, 4.0]]), requires_grad=False), gradcheck=False),
    _c("nanquantile", lambda m, a: m.nanquantile(a, m.tensor([0.2, 0.8], dtype=a.dtype), dim=1), I(array=np.array([[1.0, NAN, 3.0, 0.5], [NAN, NAN, NAN, NAN], [1.0, 2.0, 4.0, 8.0]]), requires_grad=False), gradcheck=False),
    _c("nanquantile_grad", lambda m, a: a.nanquantile(0.4, dim=0), I((5, 2), "distinct")),
    _c("mode", lambda m, a: tuple(m.mode(a, 1)), I(array=np.array([[3.0, 1.0, 1.0, 3.0, 2.0], [1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 2.0, 0.0, 0.0, 1.0]])), gradcheck=False),
    _c("mode_int_keepdim", lambda m, a: tuple(a.mode(0, keepdim=True)), I((7, 4), "index:3"), gradcheck=False),
    _c("mode_default_dim", lambda m, a: tuple(a.mode()), I(array=np.array([[0.5, 0.5, 0.25], [1.0, 2.0, 2.0]])), gradcheck=False),
    _c("cummax", lambda m, a: tuple(m.cummax(a, 1)), I((3, 6), "distinct")),
    _c("cummin", lambda m, a: tuple(a.cummin(0)), I((5, 3), "distinct")),
    _c("cummax_ties", lambda m, a: tuple(a.cummax(0)), I(array=np.array([1.0, 1.0, 0.0, 1.0, 2.0, 2.0])), gradcheck=False),
    _c("cummin_ties_int", lambda m, a: tuple(a.cummin(-1)), I((3, 8), "index:3"), gradcheck=False),
    _c("cummax_nan", lambda m, a: tuple(a.cummax(0)), I(array=np.array([3.0, 1.0, 5.0, NAN, 4.0, NAN, 7.0]), requires_grad=False), gradcheck=False),
    _c("cummin_nan", lambda m, a: tuple(a.cummin(0)), I(array=np.array([3.0, 1.0, 5.0, NAN, 0.0]), requires_grad=False), gradcheck=False),
    _c("take", lambda m, a, i: m.take(a, i), I((3, 4)), I(array=np.array([[0, 11], [-1, 5], [5, 5]]))),
    _c("histc", lambda m, a: m.histc(a, bins=5, min=-1, max=1), I((40,))),
    _c("histc_data_range", lambda m, a: a.histc(bins=7), I((30,))),
]

CUMULATIVE = [
    _c("logcumsumexp", lambda m, a: m.logcumsumexp(a, 1), I((3, 5)), gradgradcheck=True),
    _c("logcumsumexp_dim0", lambda m, a: a.logcumsumexp(0), I((4, 2, 3))),
    _c("logcumsumexp_extremes", lambda m, a: a.logcumsumexp(0), I(array=np.array([-1e4, 0.0, 1e4, -np.inf, 5.0])), gradcheck=False),
    _c("diff", lambda m, a: m.diff(a), I((3, 5)), gradgradcheck=True),
    _c("diff_n2_dim0", lambda m, a: a.diff(n=2, dim=0), I((4, 3))),
    _c("diff_prepend_append", lambda m, a, p, q: m.diff(a, 1, 1, p, q), I((3, 4)), I((3, 2)), I((3, 1))),
    _c("diff_int", lambda m, a: a.diff(n=2), I((6,), "int"), gradcheck=False),
    _c("diff_bool", lambda m, a: m.diff(a), I((7,), "bool"), gradcheck=False),
    _c("diff_n_past_size", lambda m, a: a.diff(n=5), I((3,))),
]

ELEMENTWISE = [
    _c("logaddexp", lambda m, a, b: m.logaddexp(a, b), I((3, 4)), I((4,)), gradgradcheck=True),
    _c("logaddexp2", lambda m, a, b: a.logaddexp2(b), I((3, 4)), I((3, 1)), gradgradcheck=True),
    _c("logaddexp_infinite", lambda m, a, b: m.logaddexp(a, b), I(array=np.array([-np.inf, np.inf, 1e4, -1e4]), requires_grad=False), I(array=np.array([-np.inf, 1.0, 1e4, 2.0]), requires_grad=False), gradcheck=False),
    _c("logaddexp_large", lambda m, a, b: m.logaddexp(a, b), I(array=np.array([1e4, -1e4, 30.0])), I(array=np.array([1e4 + 1, -1e4, -30.0])), gradcheck=False),
    _c("hypot", lambda m, a, b: m.hypot(a, b), I((3, 4), "nonzero"), I((4,), "nonzero"), gradgradcheck=True),
    _c("deg2rad", lambda m, a: m.deg2rad(a), I((5,))),
    _c("rad2deg", lambda m, a: a.rad2deg(), I((2, 3))),
    _c("deg2rad_int", lambda m, a: m.deg2rad(a), I((4,), "int"), gradcheck=False),
]

SHAPES = [
    _c("rot90", lambda m, a: m.rot90(a), I((2, 3, 4)), gradgradcheck=True),
    _c("rot90_k2", lambda m, a: a.rot90(2, [1, 2]), I((2, 3, 4))),
    _c("rot90_k3_neg_dims", lambda m, a: m.rot90(a, 3, [-1, 0]), I((2, 3, 4))),
    _c("rot90_k_neg", lambda m, a: m.rot90(a, -1, [0, 1]), I((3, 4))),
    _c("rot90_k0", lambda m, a: a.rot90(4), I((3, 4))),
    _c("hsplit_sections", lambda m, a: m.hsplit(a, 2), I((3, 4))),
    _c("hsplit_indices", lambda m, a: a.hsplit([1, 3]), I((3, 5))),
    _c("hsplit_1d", lambda m, a: m.hsplit(a, 3), I((6,))),
    _c("vsplit", lambda m, a: m.vsplit(a, [2]), I((4, 3))),
    _c("dsplit", lambda m, a: a.dsplit(2), I((2, 3, 4))),
    _c("unfold", lambda m, a: a.unfold(1, 2, 1), I((3, 5, 4)), gradgradcheck=True),
    _c("unfold_step", lambda m, a: a.unfold(-1, 3, 2), I((3, 7))),
    _c("unfold_dim0_nonoverlap", lambda m, a: a.unfold(0, 2, 2), I((5, 3))),
    _c("unfold_whole", lambda m, a: a.unfold(0, 4, 1), I((4,))),
    _c("unfold_0d", lambda m, a: a.unfold(0, 1, 1), I(())),
    _c("kron", lambda m, a, b: m.kron(a, b), I((2, 3)), I((4, 2)), gradgradcheck=True),
    # torch 2.13's kron raises on these transposed (non-contiguous) inputs, so no noncontig run
    _c("kron_mixed_ndim", lambda m, a, b: a.kron(b), I((2, 3, 2)), I((3,)), noncontig=False),
    _c("kron_int", lambda m, a, b: m.kron(a, b), I((2, 2), "int"), I((3,), "int"), noncontig=False, gradcheck=False),
    _c("block_diag", lambda m, a, b, c: m.block_diag(a, b, c), I(()), I((3,)), I((2, 2))),
    _c("block_diag_promotes", lambda m, a, b: m.block_diag(a, b), I((2,), "int"), I((2, 3))),
]

LINALG = [
    _c("cross_dim0", lambda m, a, b: m.cross(a, b, dim=0), I((3, 4)), I((3, 4)), gradgradcheck=True),
    _c("linalg_cross", lambda m, a, b: m.linalg.cross(a, b), I((2, 5, 3)), I((1, 5, 3))),
    _c("cross_method", lambda m, a, b: a.cross(b, dim=-1), I((4, 3)), I((4, 3))),
    _c("cdist", lambda m, a, b: m.cdist(a, b), I((4, 3)), I((5, 3)), rtol=1e-4, atol=1e-5, gradgradcheck=True),
    _c("cdist_batched", lambda m, a, b: m.cdist(a, b), I((2, 4, 3)), I((2, 5, 3)), rtol=1e-4, atol=1e-5),
    _c("cdist_p1", lambda m, a, b: m.cdist(a, b, p=1.0), I((4, 3)), I((2, 3))),
    _c("cdist_p3", lambda m, a, b: m.cdist(a, b, p=3.0), I((4, 3)), I((2, 3)), rtol=1e-4, atol=1e-5),
    _c("cdist_pinf", lambda m, a, b: m.cdist(a, b, p=float("inf")), I((4, 3), "distinct"), I((2, 3), "distinct")),
    _c("cdist_p0", lambda m, a, b: m.cdist(a, b, p=0.0), I((4, 3)), I((2, 3)), gradcheck=False),
    _c("cdist_zero_distance", lambda m, a: m.cdist(a, a), I((3, 2)), rtol=1e-4, atol=1e-4, gradcheck=False),
    _c("cov", lambda m, a: m.cov(a), I((3, 6)), gradgradcheck=True),
    _c("cov_1d", lambda m, a: a.cov(), I((6,))),
    _c("cov_correction0", lambda m, a: m.cov(a, correction=0), I((2, 5))),
    _c("cov_fweights", lambda m, a, f: m.cov(a, fweights=f), I((2, 5)), I(array=np.array([1, 2, 0, 3, 1]))),
    _c("cov_aweights", lambda m, a, w: m.cov(a, aweights=w), I((3, 5)), I((5,), "positive", requires_grad=False)),
    _c("cov_both_weights", lambda m, a, f, w: m.cov(a, fweights=f, aweights=w), I((3, 5)), I(array=np.array([1, 2, 1, 3, 1])), I((5,), "positive", requires_grad=False)),
    _c("cov_int", lambda m, a: m.cov(a), I((2, 5), "int"), gradcheck=False),
    _c("corrcoef", lambda m, a: m.corrcoef(a), I((3, 6))),
    _c("corrcoef_1d", lambda m, a: a.corrcoef(), I((6,)), gradcheck=False),
]

CASES = ORDER_STATISTICS + CUMULATIVE + ELEMENTWISE + SHAPES + LINALG


test_matches_torch, test_matches_torch_noncontiguous, test_create_graph_matches_torch, test_gradcheck, test_gradgradcheck = (
    oracle_tests(CASES)
)


def test_median_all_gradient_is_shared_among_ties_like_torch():
    x = bp.tensor([1.0, 2.0, 2.0, 3.0], requires_grad=True)
    x.median().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.5, 0.5, 0.0])


def test_cross_without_dim_takes_first_size3_dim():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 4, 3, 3)), rng.standard_normal((2, 4, 3, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = torch.cross(torch.tensor(a), torch.tensor(b)).numpy()
    np.testing.assert_allclose(bp.cross(bp.tensor(a), bp.tensor(b)).numpy(), expected, rtol=1e-12)


def test_cov_with_no_degrees_of_freedom_warns_and_gives_inf_like_torch():
    x = [[1.0, 2.0, 4.0]]
    with pytest.warns(UserWarning, match="degrees of freedom"):
        ours = bp.cov(bp.tensor(x), correction=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        theirs = torch.cov(torch.tensor(x), correction=3)
    assert ours.shape == theirs.shape == ()
    assert np.isinf(ours.item()) and np.isinf(theirs.item())


# ---------------------------------------------------------------------------- errors
def _same_error(fn):
    """``fn(m)`` raises the same exception type on backprop and torch; returns both messages."""
    with pytest.raises(Exception) as theirs:
        fn(torch)
    with pytest.raises(type(theirs.value)) as ours:
        fn(bp)
    return str(ours.value), str(theirs.value)


@pytest.mark.parametrize(
    "name, fn, fragment",
    [
        ("quantile_q_range", lambda m: m.quantile(m.tensor([1.0, 2.0]), 1.5), "in the range [0, 1]"),
        ("quantile_int_input", lambda m: m.quantile(m.tensor([1, 2]), 0.5), "float or double"),
        ("quantile_bad_interp", lambda m: m.quantile(m.tensor([1.0, 2.0]), 0.5, interpolation="cubic"), "interpolation must be one of"),
        ("quantile_q_dtype", lambda m: m.quantile(m.tensor([1.0, 2.0]), m.tensor([0.5], dtype=m.float64)), "same dtype"),
        ("median_empty_dim", lambda m: m.median(m.zeros(2, 0), 1), "non-zero size"),
        ("rot90_same_dims", lambda m: m.rot90(m.zeros(2, 3), 1, [0, 0]), "rotation dims to be different"),
        ("rot90_one_dim", lambda m: m.rot90(m.zeros(2, 3), 1, [0]), "rotation dims == 2"),
        ("hsplit_indivisible", lambda m: m.hsplit(m.zeros(2, 10), 3), "not divisible by the split_size 3"),
        ("vsplit_1d", lambda m: m.vsplit(m.zeros(4), 2), "at least 2 dimension"),
        ("unfold_too_big", lambda m: m.zeros(2, 3).unfold(1, 5, 1), "maximum size for tensor at dimension 1 is 3 but size is 5"),
        ("unfold_step", lambda m: m.zeros(2, 3).unfold(1, 2, 0), "step is 0 but must be > 0"),
        ("cdist_1d", lambda m: m.cdist(m.zeros(3), m.zeros(2, 3)), "at least 2D"),
        ("cdist_columns", lambda m: m.cdist(m.zeros(2, 3), m.zeros(2, 4)), "same number of columns"),
        ("cdist_negative_p", lambda m: m.cdist(m.zeros(2, 3), m.zeros(2, 3), p=-1.0), "non-negative p"),
        ("cross_size", lambda m: m.linalg.cross(m.zeros(2, 4), m.zeros(2, 4)), "must have length 3"),
        ("cross_ndim", lambda m: m.linalg.cross(m.zeros(2, 5, 3), m.zeros(5, 3)), "same number of dimensions"),
        ("logcumsumexp_int", lambda m: m.logcumsumexp(m.tensor([1, 2]), 0), "not implemented for 'Long'"),
        ("histc_int", lambda m: m.histc(m.tensor([1, 2])), "not implemented for 'Long'"),
        ("block_diag_3d", lambda m: m.block_diag(m.zeros(2, 2, 2)), "2 or fewer dimensions"),
        ("diff_0d", lambda m: m.diff(m.tensor(1.0)), "at least one-dimensional"),
        ("take_out_of_range", lambda m: m.take(m.zeros(2, 3), m.tensor([6])), "out of range"),
    ],
)
def test_errors_match_torch(name, fn, fragment):
    ours, theirs = _same_error(fn)
    assert fragment in ours, f"{name}: {ours!r} lacks {fragment!r} (torch: {theirs!r})"
