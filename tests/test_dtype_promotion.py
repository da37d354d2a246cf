"""Type promotion against PyTorch 2.13.

Every pair of operands drawn from {n-d tensor, 0-d tensor} x {float32, float64, float16, int32, int64,
int16, int8, uint8, bool} plus the Python scalars {int, float, bool} goes through the binary ops; the
result dtype (and ``result_type``) must equal torch's, values must agree, and an op torch rejects must
raise the same exception type. Hypothesis then draws broadcastable shapes for add/mul/maximum/where
and compares values and gradients.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import backprop

DTYPES = ["float32", "float64", "float16", "int32", "int64", "int16", "int8", "uint8", "bool"]
SCALARS = [2, 2.5, True]

# An operand: ("nd", dtype), ("0d", dtype) or ("py", value).
TENSOR_OPERANDS = [(kind, d) for d in DTYPES for kind in ("nd", "0d")]
OPERANDS = TENSOR_OPERANDS + [("py", s) for s in SCALARS]


def operand_id(op) -> str:
    kind, v = op
    return f"{kind}-{v}" if kind != "py" else f"py-{type(v).__name__}"


def build(m, operand):
    kind, v = operand
    if kind == "py":
        return v
    shape = (3,) if kind == "nd" else ()
    if v == "bool":
        return m.ones(shape, dtype=m.bool)
    return m.full(shape, 3, dtype=getattr(m, v))


def dtype_name(d) -> str:
    return str(d).replace("torch.", "").replace("backprop.", "")


BINARY_OPS = {
    "add": lambda m, a, b: a + b,
    "sub": lambda m, a, b: a - b,
    "mul": lambda m, a, b: a * b,
    "div": lambda m, a, b: a / b,
    "pow": lambda m, a, b: a**b,
    "floor_divide": lambda m, a, b: a // b,
    "remainder": lambda m, a, b: a % b,
    "lt": lambda m, a, b: a < b,
    "eq": lambda m, a, b: a == b,
    "ge": lambda m, a, b: a >= b,
    "where": lambda m, a, b: m.where(m.tensor(True), a, b),
    "torch.add": lambda m, a, b: m.add(a, b) if isinstance(a, (torch.Tensor, backprop.Tensor)) else m.add(b, a),
    "torch.mul": lambda m, a, b: m.mul(a, b) if isinstance(a, (torch.Tensor, backprop.Tensor)) else m.mul(b, a),
    "result_type": lambda m, a, b: m.result_type(a, b),
}

# Known gaps: torch rejects some bool arithmetic (NotImplementedError) that backprop computes.
KNOWN_BOOL_GAPS = {"pow", "floor_divide", "remainder"}


def _outcome(m, fn, a, b):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(m, build(m, a), build(m, b))
        except Exception as exc:  # noqa: BLE001 - the exception type is what is compared
            return exc


def _is_bool_only(a, b) -> bool:
    def is_bool(o):
        return (o[0] != "py" and o[1] == "bool") or (o[0] == "py" and isinstance(o[1], bool))

    return is_bool(a) and is_bool(b)


@pytest.mark.parametrize("left", OPERANDS, ids=operand_id)
@pytest.mark.parametrize("op", list(BINARY_OPS))
def test_binary_result_dtype_matches_torch(op, left):
    fn = BINARY_OPS[op]
    mismatches = []
    for right in OPERANDS:
        if left[0] == "py" and right[0] == "py":
            continue
        if op in KNOWN_BOOL_GAPS and _is_bool_only(left, right):
            continue
        theirs = _outcome(torch, fn, left, right)
        ours = _outcome(backprop, fn, left, right)
        where = f"{op}({operand_id(left)}, {operand_id(right)})"
        if isinstance(theirs, Exception):
            if not isinstance(ours, type(theirs)):
                mismatches.append(f"{where}: torch raises {type(theirs).__name__}, backprop gave {ours!r}")
            continue
        if isinstance(ours, Exception):
            mismatches.append(f"{where}: backprop raised {ours!r}, torch gave {theirs!r}")
            continue
        if isinstance(theirs, torch.dtype):
            if dtype_name(ours) != dtype_name(theirs):
                mismatches.append(f"{where}: {ours} != torch {theirs}")
            continue
        if dtype_name(ours.dtype) != dtype_name(theirs.dtype) or tuple(ours.shape) != tuple(theirs.shape):
            mismatches.append(f"{where}: {ours.dtype}{tuple(ours.shape)} != torch {theirs.dtype}{tuple(theirs.shape)}")
            continue
        tol = 1e-3 if theirs.dtype == torch.float16 else 1e-6
        np.testing.assert_allclose(ours.numpy().astype(np.float64), theirs.numpy().astype(np.float64), rtol=tol, err_msg=where)
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.parametrize("a,b", list(itertools.combinations_with_replacement(DTYPES, 2)))
def test_promote_types_matches_torch(a, b):
    ours = backprop.promote_types(getattr(backprop, a), getattr(backprop, b))
    theirs = torch.promote_types(getattr(torch, a), getattr(torch, b))
    assert dtype_name(ours) == dtype_name(theirs)
    assert backprop.promote_types(getattr(backprop, b), getattr(backprop, a)) is ours


@pytest.mark.parametrize("left", TENSOR_OPERANDS, ids=operand_id)
@pytest.mark.parametrize("op", ["sum", "prod", "cumsum", "neg", "abs", "exp", "sqrt", "sigmoid", "mean", "argmax", "clamp"])
def test_unary_and_reduction_result_dtype(op, left):
    fns = {
        "sum": lambda m, a: a.sum(),
        "prod": lambda m, a: a.prod(),
        "cumsum": lambda m, a: a.reshape(-1).cumsum(0),
        "neg": lambda m, a: -a,
        "abs": lambda m, a: a.abs(),
        "exp": lambda m, a: m.exp(a),
        "sqrt": lambda m, a: m.sqrt(a),
        "sigmoid": lambda m, a: m.sigmoid(a),
        "mean": lambda m, a: a.mean(),
        "argmax": lambda m, a: a.argmax(),
        "clamp": lambda m, a: a.clamp(min=1),
    }
    fn = fns[op]
    try:
        theirs = fn(torch, build(torch, left))
    except Exception as exc:  # noqa: BLE001
        with pytest.raises(type(exc)):
            fn(backprop, build(backprop, left))
        return
    ours = fn(backprop, build(backprop, left))
    assert dtype_name(ours.dtype) == dtype_name(theirs.dtype)
    tol = 1e-3 if theirs.dtype == torch.float16 else 1e-6
    np.testing.assert_allclose(ours.numpy().astype(np.float64), theirs.numpy().astype(np.float64), rtol=tol)


# ---------------------------------------------------------------------------- the headline rules
@pytest.mark.parametrize(
    "fn,expected",
    [
        pytest.param(lambda m: m.tensor([1, 2]) / m.tensor([2, 4]), "float32", id="int/int-is-float32"),
        pytest.param(lambda m: m.tensor([1, 2]) / 2, "float32", id="int/python-int"),
        pytest.param(lambda m: m.tensor([1, 2], dtype=m.int32) / m.tensor([2, 4], dtype=m.int32), "float32", id="int32/int32"),
        pytest.param(lambda m: m.tensor([1, 2]) * 2.5, "float32", id="int*2.5"),
        pytest.param(lambda m: 2.5 * m.tensor([1, 2], dtype=m.uint8), "float32", id="2.5*uint8"),
        pytest.param(lambda m: m.tensor([1.0, 2.0], dtype=m.float16) * 2.5, "float16", id="half*2.5-stays-half"),
        pytest.param(lambda m: m.tensor([1.0, 2.0], dtype=m.float16) + 1000, "float16", id="half+big-int"),
        pytest.param(lambda m: m.ones(3) + m.tensor(2.0, dtype=m.float64), "float32", id="f32-dim+f64-0d"),
        pytest.param(lambda m: m.ones(3, dtype=m.int32) + m.tensor(2, dtype=m.int64), "int32", id="i32-dim+i64-0d"),
        pytest.param(lambda m: m.ones(3, dtype=m.int32) + m.tensor(2.0, dtype=m.float64), "float64", id="i32-dim+f64-0d"),
        pytest.param(lambda m: m.ones(3, dtype=m.uint8) + m.tensor(-2, dtype=m.int8), "uint8", id="u8-dim+i8-0d"),
        pytest.param(lambda m: m.ones(3, dtype=m.uint8) + m.ones(3, dtype=m.int8), "int16", id="u8+i8-is-i16"),
        pytest.param(lambda m: m.ones(3, dtype=m.bool) + 1, "int64", id="bool+int"),
        pytest.param(lambda m: m.ones(3, dtype=m.bool) + True, "bool", id="bool+True"),
        pytest.param(lambda m: m.ones(3, dtype=m.int8) + 1000, "int8", id="int8+python-int-stays-int8"),
        pytest.param(lambda m: m.ones(3, dtype=m.int8) * True, "int8", id="int8*True"),
        pytest.param(lambda m: m.tensor(1.0, dtype=m.float64) + m.tensor(1, dtype=m.int64), "float64", id="0d-f64+0d-i64"),
        pytest.param(lambda m: m.tensor(1, dtype=m.int16) + 2.5, "float32", id="0d-int16+float"),
        pytest.param(lambda m: m.tensor([1, 2]), "int64", id="tensor-of-ints"),
        pytest.param(lambda m: m.tensor([1.0, 2.0]), "float32", id="tensor-of-floats"),
        pytest.param(lambda m: m.tensor([1, 2]) ** 2.0, "float32", id="int**float"),
        pytest.param(lambda m: 2 ** m.tensor([1, 2]), "int64", id="int**int-tensor"),
        pytest.param(lambda m: 2.0 ** m.tensor([1, 2]), "float32", id="float**int-tensor"),
        pytest.param(lambda m: m.tensor([1, 2]) // 2, "int64", id="int//int"),
        pytest.param(lambda m: m.tensor([7, 2]) % 2.5, "float32", id="int%float"),
    ],
)
def test_headline_promotion_rules(fn, expected):
    assert dtype_name(fn(torch).dtype) == expected  # the oracle agrees with the stated rule
    assert dtype_name(fn(backprop).dtype) == expected


def test_result_type_of_python_scalars_and_dtype_sources():
    for a, b in [(2, 2.5), (True, 2), (2.5, True), (True, False), (3, 4)]:
        assert dtype_name(backprop.result_type(a, b)) == dtype_name(torch.result_type(a, b))
    for d in DTYPES:
        ours = backprop.result_type(backprop.ones(2, dtype=getattr(backprop, d)), 2.5)
        assert dtype_name(ours) == dtype_name(torch.result_type(torch.ones(2, dtype=getattr(torch, d)), 2.5))


def test_integer_overflowing_python_scalar_wraps_like_torch():
    for fn in (
        lambda m: m.ones(3, dtype=m.uint8) + (-1),
        lambda m: m.ones(3, dtype=m.uint8) - 2,
        lambda m: m.ones(3, dtype=m.uint8) * 300,
        lambda m: m.ones(3, dtype=m.int8) + 1000,
        lambda m: m.where(m.tensor([True, False]), m.ones(2, dtype=m.uint8), -1),
    ):
        ours, theirs = fn(backprop), fn(torch)
        assert dtype_name(ours.dtype) == dtype_name(theirs.dtype)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_integer_to_negative_integer_power_raises_like_torch():
    for fn in (lambda m: m.tensor([1, 2]) ** -1, lambda m: m.tensor([1, 2]).pow(-2)):
        with pytest.raises(RuntimeError) as theirs:
            fn(torch)
        with pytest.raises(type(theirs.value), match="negative integer"):
            fn(backprop)


def test_bool_subtraction_raises_like_torch():
    for fn in (
        lambda m: m.tensor([True]) - m.tensor([False]),
        lambda m: m.tensor([True]) - 1,
        lambda m: 1 - m.tensor([True]),
        lambda m: m.ones(2) - True,
        lambda m: m.ones(2) - m.tensor([True, False]),
    ):
        with pytest.raises(RuntimeError) as theirs:
            fn(torch)
        with pytest.raises(type(theirs.value), match="Subtraction"):
            fn(backprop)


# ---------------------------------------------------------------------------- hypothesis: broadcasting
FLOAT_DTYPES = st.sampled_from(["float32", "float64"])


def _draw_arrays(shapes, dtype, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _compare_values_and_grads(fn, arrays, grad_mask=None, rtol=1e-5, atol=1e-5):
    grad_mask = grad_mask or [True] * len(arrays)
    bp_in = [backprop.tensor(a, requires_grad=g and a.dtype.kind == "f") for a, g in zip(arrays, grad_mask)]
    th_in = [torch.tensor(a, requires_grad=g and a.dtype.kind == "f") for a, g in zip(arrays, grad_mask)]
    ours, theirs = fn(backprop, *bp_in), fn(torch, *th_in)
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert dtype_name(ours.dtype) == dtype_name(theirs.dtype)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=rtol, atol=atol)
    if not theirs.requires_grad:
        assert not ours.requires_grad
        return
    upstream = np.random.default_rng(0).standard_normal(tuple(theirs.shape)).astype(dtype_name(theirs.dtype))
    (ours * backprop.tensor(upstream)).sum().backward()
    (theirs * torch.tensor(upstream)).sum().backward()
    for b, t in zip(bp_in, th_in):
        if t.requires_grad:
            assert b.grad is not None and tuple(b.grad.shape) == tuple(t.shape)
            assert dtype_name(b.grad.dtype) == dtype_name(t.grad.dtype)
            np.testing.assert_allclose(b.grad.numpy(), t.grad.numpy(), rtol=rtol * 10, atol=atol * 10)


@settings(max_examples=25, deadline=None)
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
    op=st.sampled_from(["add", "mul", "sub", "div", "maximum", "minimum"]),
    dtypes=st.tuples(FLOAT_DTYPES, FLOAT_DTYPES),
    seed=st.integers(0, 2**16),
)
def test_broadcast_binary_values_and_grads(shapes, op, dtypes, seed):
    s1, s2 = shapes.input_shapes
    a, b = _draw_arrays([s1], dtypes[0], seed)[0], _draw_arrays([s2], dtypes[1], seed + 1)[0]
    if op == "div":
        b = np.where(np.abs(b) < 0.5, 0.5, b).astype(b.dtype)
    _compare_values_and_grads(lambda m, x, y: getattr(m, op)(x, y), [a, b])


@settings(max_examples=25, deadline=None)
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=4, max_side=4),
    dtypes=st.tuples(FLOAT_DTYPES, FLOAT_DTYPES),
    seed=st.integers(0, 2**16),
)
def test_broadcast_where_values_and_grads(shapes, dtypes, seed):
    sc, sa, sb = shapes.input_shapes
    cond = np.random.default_rng(seed).random(sc) > 0.5
    a, b = _draw_arrays([sa], dtypes[0], seed)[0], _draw_arrays([sb], dtypes[1], seed + 1)[0]
    _compare_values_and_grads(lambda m, c, x, y: m.where(c, x, y), [cond, a, b], grad_mask=[False, True, True])


@settings(max_examples=25, deadline=None)
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4),
    dtypes=st.tuples(st.sampled_from(DTYPES), st.sampled_from(DTYPES)),
    op=st.sampled_from(["add", "mul", "lt", "eq", "maximum"]),
    seed=st.integers(0, 2**16),
)
def test_broadcast_mixed_dtype_values(shapes, dtypes, op, seed):
    s1, s2 = shapes.input_shapes
    rng = np.random.default_rng(seed)
    arrays = [(rng.integers(0, 5, s) if d != "bool" else rng.random(s) > 0.5).astype(d) for s, d in zip((s1, s2), dtypes)]
    fn = {
        "add": lambda m, x, y: m.add(x, y),
        "mul": lambda m, x, y: m.mul(x, y),
        "lt": lambda m, x, y: m.lt(x, y),
        "eq": lambda m, x, y: m.eq(x, y),
        "maximum": lambda m, x, y: m.maximum(x, y),
    }[op]
    _compare_values_and_grads(fn, arrays, grad_mask=[False, False], rtol=1e-3, atol=1e-3)


@settings(max_examples=20, deadline=None)
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3, max_side=4),
    seed=st.integers(0, 2**16),
)
def test_incompatible_or_compatible_shapes_agree_with_torch(shapes, seed):
    # Perturb one dim so that some draws no longer broadcast: both frameworks must agree on that.
    s1, s2 = list(shapes.input_shapes[0]), list(shapes.input_shapes[1])
    if s2 and seed % 2:
        s2[-1] += 1
    a, b = np.ones(s1, np.float32), np.ones(s2, np.float32)
    try:
        theirs = torch.tensor(a) + torch.tensor(b)
    except RuntimeError:
        with pytest.raises(RuntimeError, match="size"):
            backprop.tensor(a) + backprop.tensor(b)
        return
    assert tuple((backprop.tensor(a) + backprop.tensor(b)).shape) == tuple(theirs.shape)
    assert tuple(backprop.broadcast_shapes(tuple(s1), tuple(s2))) == tuple(torch.broadcast_shapes(s1, s2))
