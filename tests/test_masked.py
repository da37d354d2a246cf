"""``backprop.masked`` (torch.masked's reductions and normalizations on strided tensors with a
bool ``mask``) against PyTorch 2.13: forward values and dtypes, input gradients, the first
derivative under ``create_graph=True`` on cpu and fake-cuda, gradcheck in float64 where every
output is finite; fully masked-out slices (identity / NaN as torch gives), broadcast masks,
``mask=None``, infinities and NaN in the input; then torch's exceptions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import backprop as bp
from oracle import Case, Input, oracle_tests

I = Input  # noqa: E741 - short alias keeps the table readable
INF, NAN = float("inf"), float("nan")

# Masks: MASK has a masked-in element in every row and column; EMPTY_ROW masks out row 1 entirely.
MASK = np.array([[True, False, True, True], [False, True, True, False], [True, True, False, True]])
EMPTY_ROW = np.array([[True, False, True, True], [False, False, False, False], [True, True, False, True]])
M = I(array=MASK)
E = I(array=EMPTY_ROW)
ROW_MASK = I(array=np.array([True, False, True, True]))  # broadcast over rows
M3 = I(array=np.array([[[True, False, True, True]], [[False, True, True, True]]]))  # (2, 1, 4) for a (2, 3, 4) input


def _diag(value: float) -> np.ndarray:
    a = np.random.default_rng(3).standard_normal((3, 4))
    a[np.arange(3), np.arange(3)] = value
    return a


def _c(name, fn, *inputs, **kw):
    return Case(name, fn, list(inputs), **kw)


REDUCTIONS = [
    _c("sum_dim", lambda m, a, k: m.masked.sum(a, 1, mask=k), I((3, 4)), M, gradgradcheck=True),
    _c("sum_all", lambda m, a, k: m.masked.sum(a, mask=k), I((3, 4)), M),
    _c("sum_keepdim_dtype", lambda m, a, k: m.masked.sum(a, (0, 1), keepdim=True, dtype=m.float64, mask=k), I((3, 4)), M),
    _c("sum_broadcast_mask", lambda m, a, k: m.masked.sum(a, 0, mask=k), I((3, 4)), ROW_MASK),
    _c("sum_no_mask", lambda m, a: m.masked.sum(a, -1), I((3, 4))),
    _c("sum_empty_row", lambda m, a, k: m.masked.sum(a, 1, mask=k), I((3, 4)), E),
    _c("sum_int_promotes", lambda m, a, k: m.masked.sum(a.to(m.int32), 1, mask=k), I((3, 4), "int"), M, gradcheck=False),
    _c("sum_bool", lambda m, a, k: m.masked.sum(a, 0, mask=k), I((3, 4), "bool"), M, gradcheck=False),
    _c("prod_dim", lambda m, a, k: m.masked.prod(a, 1, mask=k), I((3, 4)), M, gradgradcheck=True),
    _c("prod_dims_keepdim", lambda m, a, k: m.masked.prod(a, (0, 2), keepdim=True, mask=k), I((2, 3, 4)), M3),
    _c("prod_empty_row", lambda m, a, k: m.masked.prod(a, 1, mask=k), I((3, 4)), E),
    _c("amax_dim", lambda m, a, k: m.masked.amax(a, 1, mask=k), I((3, 4), "distinct"), M),
    _c("amax_all", lambda m, a, k: m.masked.amax(a, mask=k), I((2, 3, 4), "distinct"), M3),
    _c("amax_empty_row", lambda m, a, k: m.masked.amax(a, 1, mask=k), I((3, 4), "distinct"), E, gradcheck=False),
    _c("amax_int", lambda m, a, k: m.masked.amax(a, 1, keepdim=True, mask=k), I((3, 4), "int"), E, gradcheck=False),
    _c("amin_dim", lambda m, a, k: m.masked.amin(a, 0, mask=k), I((3, 4), "distinct"), M),
    _c("amin_empty_row", lambda m, a, k: m.masked.amin(a, 1, mask=k), I((3, 4), "distinct"), E, gradcheck=False),
    _c("amin_int", lambda m, a, k: m.masked.amin(a, 1, mask=k), I((3, 4), "int"), E, gradcheck=False),
    _c("argmax", lambda m, a, k: m.masked.argmax(a, 1, mask=k), I((3, 4), "distinct"), M),
    _c("argmax_keepdim_int", lambda m, a, k: m.masked.argmax(a.to(m.int64), 0, keepdim=True, mask=k), I((3, 4), "distinct"), M, gradcheck=False),
    _c("argmin_dtype", lambda m, a, k: m.masked.argmin(a, 1, dtype=m.int64, mask=k), I((3, 4), "distinct"), M),
    _c("mean_dim", lambda m, a, k: m.masked.mean(a, 1, mask=k), I((3, 4)), M, gradgradcheck=True),
    _c("mean_all_keepdim", lambda m, a, k: m.masked.mean(a, keepdim=True, mask=k), I((2, 3, 4)), M3),
    _c("mean_empty_row_nan", lambda m, a, k: m.masked.mean(a, 1, mask=k), I((3, 4)), E, gradcheck=False),
    _c("mean_no_mask_dtype", lambda m, a: m.masked.mean(a, 0, dtype=m.float64), I((3, 4))),
    _c("median", lambda m, a, k: m.masked.median(a, 1, mask=k), I((3, 4), "distinct"), M),
    _c("median_keepdim", lambda m, a, k: m.masked.median(a, 0, keepdim=True, mask=k), I((3, 4), "distinct"), M),
    _c("median_empty_row_nan", lambda m, a, k: m.masked.median(a, mask=k), I((3, 4), "distinct"), E, gradcheck=False),
    _c("median_int", lambda m, a, k: m.masked.median(a, 1, mask=k), I((3, 4), "int"), M, gradcheck=False),
    _c("logsumexp", lambda m, a, k: m.masked.logsumexp(a, 1, mask=k), I((3, 4)), M, gradgradcheck=True),
    _c("logsumexp_empty_row", lambda m, a, k: m.masked.logsumexp(a, 1, keepdim=True, mask=k), I((3, 4)), E, gradcheck=False),
    _c("logsumexp_int", lambda m, a, k: m.masked.logsumexp(a, 1, mask=k), I((3, 4), "int"), M, gradcheck=False),
    _c("logaddexp", lambda m, a, b, k1, k2: m.masked.logaddexp(a, b, input_mask=k1, other_mask=k2), I((3, 4)), I((3, 4)), M, ROW_MASK, gradcheck=False),
    _c("logaddexp_both_out", lambda m, a, b, k: m.masked.logaddexp(a, b, input_mask=k, other_mask=k), I((3, 4)), I((3, 4)), E, gradcheck=False),
    _c("logaddexp_dtype", lambda m, a, b: m.masked.logaddexp(a, b, dtype=m.float64), I((3, 4)), I((3, 4))),
    _c("var", lambda m, a, k: m.masked.var(a, 1, mask=k), I((3, 4)), M, gradgradcheck=True),
    _c("var_unbiased_false", lambda m, a, k: m.masked.var(a, 1, False, keepdim=True, mask=k), I((3, 4)), M),
    _c("var_correction", lambda m, a, k: m.masked.var(a, (0, 2), correction=0, mask=k), I((2, 3, 4)), M3),
    _c("var_int", lambda m, a, k: m.masked.var(a, 1, mask=k), I((3, 4), "int"), M, gradcheck=False),
    _c("var_no_mask", lambda m, a: m.masked.var(a), I((3, 4))),
    _c("std", lambda m, a, k: m.masked.std(a, 0, mask=k), I((3, 4)), I(array=np.ones((3, 4), bool))),
    _c("std_correction_2", lambda m, a, k: m.masked.std(a, correction=2, mask=k), I((3, 4)), M),
    _c("std_empty_row_nan", lambda m, a, k: m.masked.std(a, 1, mask=k), I((3, 4)), E, gradcheck=False),
]

NORMS = [
    _c(f"norm_{name}", lambda m, a, k, o=o: m.masked.norm(a, o, 1, mask=k), I((3, 4), "distinct"), M)
    for name, o in [("2", 2.0), ("1", 1), ("inf", INF), ("ninf", -INF), ("0", 0), ("3", 3.0)]
] + [
    _c("norm_empty_row", lambda m, a, k: m.masked.norm(a, 2.0, 1, keepdim=True, mask=k), I((3, 4), "nonzero"), E, gradcheck=False),
    _c("norm_ninf_empty_row", lambda m, a, k: m.masked.norm(a, -INF, 1, mask=k), I((3, 4), "distinct"), E, gradcheck=False),
    _c("norm_all_dtype", lambda m, a, k: m.masked.norm(a, mask=k, dtype=m.float64), I((3, 4)), M, gradgradcheck=True),
    _c("normalize_2", lambda m, a, k: m.masked.normalize(a, 2.0, 1, mask=k), I((3, 4)), M, gradgradcheck=True),
    _c("normalize_1_dim0", lambda m, a, k: m.masked.normalize(a, 1, 0, mask=k), I((3, 4), "nonzero"), M),
    _c("normalize_empty_row", lambda m, a, k: m.masked.normalize(a, 2.0, 1, mask=k), I((3, 4)), E, gradcheck=False),
    _c("normalize_no_mask_eps", lambda m, a: m.masked.normalize(a, 2.0, -1, eps=10.0), I((3, 4))),
]

NORMALIZATIONS = [
    _c("softmax", lambda m, a, k: m.masked.softmax(a, 1, mask=k), I((3, 4)), M, gradgradcheck=True),
    _c("softmax_broadcast_dtype", lambda m, a, k: m.masked.softmax(a, 0, dtype=m.float64, mask=k), I((3, 4)), ROW_MASK, gradcheck=False),
    _c("softmax_empty_row_nan", lambda m, a, k: m.masked.softmax(a, 1, mask=k), I((3, 4)), E, gradcheck=False),
    _c("log_softmax", lambda m, a, k: m.masked.log_softmax(a, -1, mask=k), I((2, 3, 4)), M3, gradcheck=False),
    _c("log_softmax_no_mask", lambda m, a: m.masked.log_softmax(a, 0), I((3, 4))),
    _c("softmin", lambda m, a, k: m.masked.softmin(a, 1, mask=k), I((3, 4)), M, gradgradcheck=True),
    _c("softmin_empty_row", lambda m, a, k: m.masked.softmin(a, 1, mask=k), I((3, 4)), E, gradcheck=False),
    _c("cumsum", lambda m, a, k: m.masked.cumsum(a, 1, mask=k), I((3, 4)), M, gradgradcheck=True),
    _c("cumsum_dtype", lambda m, a, k: m.masked.cumsum(a, 0, dtype=m.float64, mask=k), I((3, 4)), ROW_MASK),
    _c("cumsum_int", lambda m, a, k: m.masked.cumsum(a, 1, mask=k), I((3, 4), "int"), M, gradcheck=False),
    _c("cumprod", lambda m, a, k: m.masked.cumprod(a, 1, mask=k), I((3, 4), "nonzero"), M, gradgradcheck=True),
    _c("cumprod_3d", lambda m, a, k: m.masked.cumprod(a, -1, mask=k), I((2, 3, 4), "nonzero"), M3),
    _c("cumprod_zeros", lambda m, a, k: m.masked.cumprod(a, 1, mask=k), I(array=np.array(
        [[0.5, 0.0, 2.0, 0.0, 1.5], [1.2, -0.7, 0.0, 0.9, 2.0], [0.0, 1.1, 0.8, -1.3, 0.6]])),
       I(array=np.array([[True, True, True, True, True], [True, False, True, True, False], [True, True, True, True, True]])),
       gradgradcheck=True),
    _c("cumprod_0d", lambda m, a, k: m.masked.cumprod(a, 0, mask=k), I((), "nonzero"), I(array=np.array(True))),
]

# Infinities and NaN in the input (op_db's forward-only samples): they must not leak from
# masked-out positions and must propagate from masked-in ones as torch's ops do.
SPECIAL_VALUES = [
    _c(f"{op}_{name}", lambda m, a, k, op=op: getattr(m.masked, op)(a, 1, mask=k),
       I(array=_diag(value), requires_grad=False), M, gradcheck=False)
    for op in ("sum", "prod", "amax", "amin", "mean", "logsumexp", "var", "softmax", "log_softmax", "softmin")
    for name, value in [("inf", INF), ("ninf", -INF), ("nan", NAN)]
]

CASES = REDUCTIONS + NORMS + NORMALIZATIONS + SPECIAL_VALUES

test_matches_torch, test_matches_torch_noncontiguous, test_create_graph_matches_torch, test_gradcheck, test_gradgradcheck = (
    oracle_tests(CASES)
)


def test_masked_out_elements_get_no_gradient():
    x = bp.tensor([[1.0, 5.0, 2.0], [3.0, 4.0, 0.5]], requires_grad=True)
    mask = bp.tensor([[True, False, True], [False, False, False]])
    bp.masked.amax(x, 1, mask=mask).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])


def test_namespace_mirrors_torch_masked():
    names = ["amax", "amin", "argmax", "argmin", "cumprod", "cumsum", "log_softmax", "logaddexp", "logsumexp", "mean",
             "median", "norm", "normalize", "prod", "softmax", "softmin", "std", "sum", "var"]
    for name in names:
        assert callable(getattr(bp.masked, name)) and getattr(bp.masked._ops, name) is getattr(bp.masked, name)
        assert callable(getattr(torch.masked, name))


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "name, fn",
    [
        ("mask_more_dims", lambda m: m.masked.sum(m.ones(4), mask=m.ones(2, 4, dtype=m.bool))),
        ("mask_not_broadcastable", lambda m: m.masked.amax(m.ones(3, 4), 1, mask=m.ones(3, dtype=m.bool))),
        ("dim_out_of_range", lambda m: m.masked.sum(m.ones(3, 4), 2, mask=m.ones(3, 4, dtype=m.bool))),
        ("dim_repeated", lambda m: m.masked.prod(m.ones(3, 4), (1, -1))),
        ("cumsum_dim_out_of_range", lambda m: m.masked.cumsum(m.ones(3), 1, mask=m.ones(3, dtype=m.bool))),
        ("mean_integer", lambda m: m.masked.mean(m.ones(3, dtype=m.int64), mask=m.ones(3, dtype=m.bool))),
        ("mean_integer_dtype", lambda m: m.masked.mean(m.ones(3), dtype=m.int64)),
        ("median_int_empty_row", lambda m: m.masked.median(m.ones(2, 3, dtype=m.int64), 1,
                                                          mask=m.tensor([[True, False, True], [False, False, False]]))),
        ("var_unbiased_and_correction", lambda m: m.masked.var(m.ones(3, 4), 1, True, correction=0)),
        ("amax_bool", lambda m: m.masked.amax(m.ones(3, dtype=m.bool), mask=m.ones(3, dtype=m.bool))),
        ("norm_ninf_integer", lambda m: m.masked.norm(m.ones(3, dtype=m.int64), -INF, mask=m.ones(3, dtype=m.bool))),
    ],
)
def test_errors_match_torch(name, fn):
    with pytest.raises(Exception) as theirs:
        fn(torch)
    with pytest.raises(type(theirs.value)):
        fn(bp)
