"""Tensor creation against PyTorch 2.13: ``tensor``/``as_tensor``/``from_numpy`` dtype inference and
memory sharing, the filled constructors (and ``_like``), ranges, ``eye``/``tril``/``triu``, ``where``,
``cat``/``stack``, ``maximum``/``minimum`` and the default dtype.

Every case is one lambda ``fn(m)`` run with ``m = backprop`` and ``m = torch``: the results must have
the same shape, dtype and values (float32 tolerances), or raise the same exception type.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import backprop
from api_compare import assert_same, check, dtype_name

# ---------------------------------------------------------------------------- tensor()
TENSOR_DATA = [
    pytest.param(lambda m: m.tensor([[1, 2], [3, 4]]), id="nested-ints"),
    pytest.param(lambda m: m.tensor([[1.5, 2.0], [3.0, -4.25]]), id="nested-floats"),
    pytest.param(lambda m: m.tensor(3), id="python-int"),
    pytest.param(lambda m: m.tensor(3.5), id="python-float"),
    pytest.param(lambda m: m.tensor(True), id="python-bool"),
    pytest.param(lambda m: m.tensor([True, False]), id="bool-list"),
    pytest.param(lambda m: m.tensor([1, 2.5]), id="int-float-mix"),
    pytest.param(lambda m: m.tensor([True, 2]), id="bool-int-mix"),
    pytest.param(lambda m: m.tensor([True, 2.5]), id="bool-float-mix"),
    pytest.param(lambda m: m.tensor([2**40, -(2**40)]), id="big-ints"),
    pytest.param(lambda m: m.tensor(np.array([1, 2], dtype=np.int32)), id="np-int32"),
    pytest.param(lambda m: m.tensor(np.array([1, 2], dtype=np.int16)), id="np-int16"),
    pytest.param(lambda m: m.tensor(np.array([1, 2], dtype=np.int8)), id="np-int8"),
    pytest.param(lambda m: m.tensor(np.array([1, 2], dtype=np.uint8)), id="np-uint8"),
    pytest.param(lambda m: m.tensor(np.array([1.5, 2], dtype=np.float64)), id="np-float64"),
    pytest.param(lambda m: m.tensor(np.array([1.5, 2], dtype=np.float16)), id="np-float16"),
    pytest.param(lambda m: m.tensor(np.array([True, False])), id="np-bool"),
    pytest.param(lambda m: m.tensor(np.float64(2.0)), id="np-float64-scalar"),
    pytest.param(lambda m: m.tensor(np.int32(7)), id="np-int32-scalar"),
    pytest.param(lambda m: m.tensor([np.float32(1.0), np.float32(2.0)]), id="list-of-np-scalars"),
    pytest.param(lambda m: m.tensor([m.tensor(1.0), m.tensor(2.0)]), id="list-of-0d-float-tensors"),
    pytest.param(lambda m: m.tensor([m.tensor(1), m.tensor(2)]), id="list-of-0d-int-tensors"),
    pytest.param(lambda m: m.tensor([]), id="empty-list"),
    pytest.param(lambda m: m.tensor([[]]), id="nested-empty"),
    pytest.param(lambda m: m.tensor([], dtype=m.int64), id="empty-int64"),
    pytest.param(lambda m: m.tensor([1, 2], dtype=m.float64), id="dtype-kwarg"),
    pytest.param(lambda m: m.tensor([1.7, -1.7], dtype=m.int64), id="float-to-int-truncates"),
    pytest.param(lambda m: m.tensor([0.0, 2.0], dtype=m.bool), id="float-to-bool"),
    pytest.param(lambda m: m.tensor((1, 2, 3)), id="tuple"),
    pytest.param(lambda m: m.tensor([1.0, 2.0], requires_grad=True), id="requires-grad"),
    pytest.param(lambda m: m.tensor([1.0], dtype=float), id="python-float-type-is-float64"),
    pytest.param(lambda m: m.tensor([1.5], dtype=int), id="python-int-type"),
    pytest.param(lambda m: m.tensor([1.5, 0.0], dtype=bool), id="python-bool-type"),
    pytest.param(lambda m: m.tensor([[1, 2], [3]]), id="ragged-raises"),
    pytest.param(lambda m: m.tensor("abc"), id="string-raises"),
]


@pytest.mark.parametrize("fn", TENSOR_DATA)
def test_tensor_matches_torch(fn):
    check(fn)


def test_tensor_copies_its_input():
    arr = np.array([1.0, 2.0], dtype=np.float32)
    t = backprop.tensor(arr)
    arr[0] = 100.0
    assert t[0].item() == 1.0
    src = backprop.tensor([1.0, 2.0])
    copy = backprop.tensor(src)
    src.add_(1.0)
    assert copy.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("dtype", ["int64", "int32", "int16", "int8", "uint8", "bool"])
def test_requires_grad_on_non_float_raises_like_torch(dtype):
    def make(m):
        return m.tensor([1, 0], dtype=getattr(m, dtype), requires_grad=True)

    with pytest.raises(RuntimeError) as theirs:
        make(torch)
    with pytest.raises(type(theirs.value), match="floating point"):
        make(backprop)
    for fn in (
        lambda m: m.zeros(2, dtype=getattr(m, dtype), requires_grad=True),
        lambda m: m.ones(2, dtype=getattr(m, dtype)).requires_grad_(),
    ):
        check(fn)


# ---------------------------------------------------------------------------- as_tensor / from_numpy
def test_as_tensor_matches_torch():
    check(lambda m: m.as_tensor([1, 2]))
    check(lambda m: m.as_tensor([1, 2], dtype=m.float32))
    check(lambda m: m.as_tensor(np.array([1.0, 2.0])))
    check(lambda m: m.as_tensor(m.tensor([1, 2]), dtype=m.float64))


def test_as_tensor_shares_memory_with_ndarray_and_tensor():
    arr = np.array([1.0, 2.0], dtype=np.float32)
    t = backprop.as_tensor(arr)
    arr[0] = 5.0
    assert t[0].item() == 5.0
    src = backprop.tensor([1.0, 2.0])
    assert backprop.as_tensor(src) is src
    converted = backprop.as_tensor(src, dtype=backprop.float64)
    assert converted.dtype is backprop.float64
    src.fill_(7.0)
    assert converted.tolist() == [1.0, 2.0]  # a cast is a copy


@pytest.mark.parametrize("np_dtype", ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"])
def test_from_numpy_keeps_dtype(np_dtype):
    arr = np.arange(6).reshape(2, 3).astype(np_dtype)
    assert_same(backprop.from_numpy(arr), torch.from_numpy(arr.copy()))


def test_from_numpy_shares_memory_both_ways():
    arr = np.zeros((2, 3), dtype=np.float32)
    t = backprop.from_numpy(arr)
    arr[0, 1] = 3.0
    assert t[0, 1].item() == 3.0
    t[1, 2] = 4.0
    assert arr[1, 2] == 4.0
    t.add_(1.0)
    assert arr[0, 0] == 1.0
    assert np.shares_memory(t.numpy(), arr)


@pytest.mark.parametrize("bad", [np.array(["a", "b"]), np.array([object(), object()]), np.array(["2020-01-01"], dtype="datetime64[D]")])
def test_from_numpy_unsupported_dtype_raises_type_error(bad):
    with pytest.raises(TypeError):
        torch.from_numpy(bad)
    with pytest.raises(TypeError):
        backprop.from_numpy(bad)


def test_from_numpy_rejects_non_arrays():
    check(lambda m: m.from_numpy([1, 2]))


# ---------------------------------------------------------------------------- zeros / ones / full / empty
SIZE_FORMS = [
    pytest.param(lambda m: (2, 3), id="varargs"),
    pytest.param(lambda m: ((2, 3),), id="tuple"),
    pytest.param(lambda m: ([2, 3],), id="list"),
    pytest.param(lambda m: (m.Size([2, 3]),), id="Size"),
    pytest.param(lambda m: (), id="no-size"),
    pytest.param(lambda m: (0,), id="zero"),
    pytest.param(lambda m: (4, 0, 2), id="empty-middle"),
    pytest.param(lambda m: (-1,), id="negative-raises"),
]


@pytest.mark.parametrize("size", SIZE_FORMS)
@pytest.mark.parametrize("name", ["zeros", "ones"])
@pytest.mark.parametrize("dtype", [None, "float64", "int32", "bool"])
def test_zeros_ones_size_forms(name, size, dtype):
    def fn(m):
        kw = {} if dtype is None else {"dtype": getattr(m, dtype)}
        return getattr(m, name)(*size(m), **kw)

    check(fn)


@pytest.mark.parametrize("size", SIZE_FORMS)
def test_empty_shape_and_dtype(size):
    def fn(m):
        t = m.empty(*size(m))
        return tuple(t.shape), dtype_name(t.dtype)

    check(fn)
    check(lambda m: dtype_name(m.empty(3, dtype=m.int16).dtype))


@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m: m.full((2,), 3), id="int-fill-int64"),
        pytest.param(lambda m: m.full((2, 2), 3.0), id="float-fill-default"),
        pytest.param(lambda m: m.full((2,), True), id="bool-fill"),
        pytest.param(lambda m: m.full([2, 2], 1.5, dtype=m.float64), id="list-size-dtype"),
        pytest.param(lambda m: m.full(m.Size([3]), -2), id="Size"),
        pytest.param(lambda m: m.full((2,), m.tensor(2.5)), id="0d-tensor-fill"),
        pytest.param(lambda m: m.full((2,), 2.7, dtype=m.int32), id="float-into-int"),
        pytest.param(lambda m: m.full((), 4.0), id="0d"),
        pytest.param(lambda m: m.full((2,), 1.0, requires_grad=True), id="requires-grad"),
        pytest.param(lambda m: m.full((-1,), 1.0), id="negative-raises"),
    ],
)
def test_full(fn):
    check(fn)


@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m: m.zeros_like(m.ones(2, 3, dtype=m.int32)), id="zeros_like-keeps-dtype"),
        pytest.param(lambda m: m.ones_like(m.ones(2, 3), dtype=m.int64), id="ones_like-dtype"),
        pytest.param(lambda m: m.full_like(m.ones(2, 3), 7), id="full_like-int-into-float"),
        pytest.param(lambda m: m.full_like(m.ones(2, dtype=m.int64), 2.7), id="full_like-truncates"),
        pytest.param(lambda m: m.full_like(m.ones(2, dtype=m.bool), 1), id="full_like-bool"),
        pytest.param(lambda m: m.zeros_like(m.ones(2), requires_grad=True), id="zeros_like-requires-grad"),
        pytest.param(lambda m: m.ones_like(m.tensor(3.0, requires_grad=True)), id="ones_like-drops-grad"),
        pytest.param(lambda m: m.zeros_like(m.ones(0, 3, dtype=m.float64)), id="zeros_like-empty"),
        pytest.param(lambda m: (tuple(m.empty_like(m.ones(2, 3, dtype=m.float64)).shape),
                                dtype_name(m.empty_like(m.ones(2, 3, dtype=m.float64)).dtype)), id="empty_like"),
    ],
)
def test_like_constructors(fn):
    check(fn)


def test_like_constructors_do_not_share_memory():
    src = backprop.ones(3)
    z = backprop.zeros_like(src)
    src.fill_(5.0)
    assert z.tolist() == [0.0, 0.0, 0.0]


# ---------------------------------------------------------------------------- ranges
ARANGE = [
    ((5,), {}),
    ((5.0,), {}),
    ((0.5,), {}),
    ((1, 4), {}),
    ((0, 5, 2), {}),
    ((10, 0, -3), {}),
    ((0, 1, 0.1), {}),
    ((1.0, 0.0, -0.25), {}),
    ((-2.5, 2.5, 0.5), {}),
    ((1, 2, 0.3), {}),
    ((0, 1.0, 1 / 3), {}),
    ((10, 9.5, -0.1), {}),
    ((0, 0), {}),
    ((0, 10, 3), {"dtype": "float64"}),
    ((0.5, 5.5), {"dtype": "int64"}),
    ((0, 100, 7), {"dtype": "int32"}),
    ((0, 5, 0), {}),
    ((5, 0), {}),
    ((0, -5), {}),
    ((5, 0, 1), {}),
]


@pytest.mark.parametrize("args,kwargs", ARANGE, ids=[f"{a}-{k}" for a, k in ARANGE])
def test_arange(args, kwargs):
    def fn(m):
        kw = {k: getattr(m, v) for k, v in kwargs.items()}
        return m.arange(*args, **kw)

    check(fn)


def test_arange_accepts_0d_tensors():
    check(lambda m: m.arange(m.tensor(3)))
    check(lambda m: m.arange(m.tensor(1.0), m.tensor(2.0), 0.25))


@pytest.mark.parametrize(
    "args,kwargs",
    [((0, 1, 5), {}), ((-3, 7, 11), {}), ((0, 1, 1), {}), ((0, 1, 0), {}), ((2.5, -2.5, 7), {}),
     ((0, 10, 4), {"dtype": "int64"}), ((0, 1, 6), {"dtype": "float64"}), ((0, 1, -1), {}), ((1, 1000, 100), {})],
)
def test_linspace(args, kwargs):
    check(lambda m: m.linspace(*args, **{k: getattr(m, v) for k, v in kwargs.items()}))


@pytest.mark.parametrize(
    "args,kwargs",
    [((0, 2, 3), {}), ((0, 3, 4), {"base": 2}), ((-1, 1, 5), {"dtype": "float64"}), ((2, -2, 9), {}), ((0, 1, 1), {})],
)
def test_logspace(args, kwargs):
    check(lambda m: m.logspace(*args, **{k: (getattr(m, v) if k == "dtype" else v) for k, v in kwargs.items()}), rtol=1e-5)


@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m: m.eye(3), id="square"),
        pytest.param(lambda m: m.eye(2, 3), id="wide"),
        pytest.param(lambda m: m.eye(4, 2), id="tall"),
        pytest.param(lambda m: m.eye(3, dtype=m.int64), id="int"),
        pytest.param(lambda m: m.eye(3, dtype=m.bool), id="bool"),
        pytest.param(lambda m: m.eye(0), id="empty"),
        pytest.param(lambda m: m.eye(-1), id="negative-raises"),
        pytest.param(lambda m: m.eye(2, requires_grad=True), id="requires-grad"),
    ],
)
def test_eye(fn):
    check(fn)


@pytest.mark.parametrize("op", ["tril", "triu"])
@pytest.mark.parametrize("shape", [(3, 3), (3, 5), (5, 2), (2, 3, 4), (0, 3)])
@pytest.mark.parametrize("diagonal", [0, 1, -1, 3, -4])
def test_tril_triu(op, shape, diagonal):
    data = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) + 1
    check(lambda m: getattr(m, op)(m.tensor(data), diagonal))
    check(lambda m: getattr(m.tensor(data), op)(diagonal=diagonal))
    check(lambda m: getattr(m, op)(m.tensor(data.astype(np.int64)), diagonal))


def test_tril_of_1d_raises_like_torch():
    check(lambda m: m.tril(m.ones(3)))
    check(lambda m: m.triu(m.ones(3)))


# ---------------------------------------------------------------------------- where / cat / stack / maximum
@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m: m.where(m.tensor([True, False]), m.tensor([1, 2]), m.tensor([3.0, 4.0])), id="promote"),
        pytest.param(lambda m: m.where(m.tensor([True, False]), 1, 0), id="int-scalars"),
        pytest.param(lambda m: m.where(m.tensor([True, False]), 1.0, 0), id="mixed-scalars"),
        pytest.param(lambda m: m.where(m.tensor([True, False]), m.tensor([1, 2]), 0.5), id="int-tensor-float-scalar"),
        pytest.param(lambda m: m.where(m.tensor([True, False]), m.tensor([1.0, 2.0], dtype=m.float64), 0.5), id="f64"),
        pytest.param(lambda m: m.where(m.tensor([[True], [False]]), m.tensor([1.0, 2.0]), m.tensor(0.0)), id="broadcast"),
        pytest.param(lambda m: m.where(m.tensor([1, 0], dtype=m.uint8), m.tensor([1.0, 2.0]), 0.5), id="uint8-cond"),
        pytest.param(lambda m: m.where(m.tensor([1, 0]), m.tensor([1.0, 2.0]), 0.5), id="int-cond-raises"),
        pytest.param(lambda m: m.where(m.tensor([1.0, 0.0]), m.tensor([1.0, 2.0]), 0.5), id="float-cond-raises"),
        pytest.param(lambda m: m.where(m.tensor([True, False, True])), id="one-arg-is-nonzero"),
        pytest.param(lambda m: m.tensor([1.0, 2.0]).where(m.tensor([True, False]), m.tensor(9.0)), id="method"),
        pytest.param(lambda m: m.where(m.ones(3) > 0, m.ones(2), m.ones(3)), id="bad-shapes-raise"),
    ],
)
@pytest.mark.filterwarnings("ignore:where received a uint8 condition")
def test_where(fn):
    check(fn)


@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m: m.cat([m.ones(2, 3), m.zeros(1, 3)]), id="dim0"),
        pytest.param(lambda m: m.cat([m.ones(2, 3), m.zeros(2, 1)], dim=1), id="dim1"),
        pytest.param(lambda m: m.cat([m.ones(2, 3), m.zeros(2, 1)], dim=-1), id="negative-dim"),
        pytest.param(lambda m: m.cat((m.ones(2), m.zeros(1))), id="tuple"),
        pytest.param(lambda m: m.cat([m.ones(2, dtype=m.int64), m.zeros(2)]), id="promote-int-float"),
        pytest.param(lambda m: m.cat([m.ones(2, dtype=m.int32), m.zeros(2, dtype=m.int64)]), id="promote-ints"),
        pytest.param(lambda m: m.cat([m.ones(2, dtype=m.bool), m.zeros(2, dtype=m.uint8)]), id="promote-bool"),
        pytest.param(lambda m: m.cat([m.ones(2), m.tensor([])]), id="skip-empty-1d"),
        pytest.param(lambda m: m.cat([m.ones(2, 3), m.tensor([])]), id="skip-empty-1d-2"),
        pytest.param(lambda m: m.cat([m.ones(2, 3)]), id="single"),
        pytest.param(lambda m: m.concat([m.ones(2), m.ones(1)]), id="concat"),
        pytest.param(lambda m: m.concatenate([m.ones(2), m.ones(1)]), id="concatenate"),
        pytest.param(lambda m: m.cat([]), id="empty-list-raises"),
        pytest.param(lambda m: m.cat([m.ones(2, 3), m.ones(2, 4)]), id="mismatch-raises"),
        pytest.param(lambda m: m.cat([m.tensor(1.0), m.tensor(2.0)]), id="0d-raises"),
        pytest.param(lambda m: m.stack([m.ones(2), m.zeros(2)]), id="stack"),
        pytest.param(lambda m: m.stack([m.ones(2), m.zeros(2)], dim=1), id="stack-dim1"),
        pytest.param(lambda m: m.stack([m.ones(2), m.zeros(2)], dim=-1), id="stack-negative"),
        pytest.param(lambda m: m.stack((m.ones(2, 3), m.zeros(2, 3)), dim=2), id="stack-last-new-dim"),
        pytest.param(lambda m: m.stack([m.ones(2), m.zeros(2, dtype=m.float64)]), id="stack-promote"),
        pytest.param(lambda m: m.stack([m.tensor(1), m.tensor(2)]), id="stack-0d"),
        pytest.param(lambda m: m.stack([]), id="stack-empty-raises"),
        pytest.param(lambda m: m.stack([m.ones(2, 3), m.ones(3, 2)]), id="stack-mismatch-raises"),
    ],
)
def test_cat_stack(fn):
    check(fn)


@pytest.mark.parametrize("op", ["maximum", "minimum", "fmax", "fmin"])
@pytest.mark.parametrize(
    "pair",
    [
        pytest.param(lambda m: (m.tensor([1, 5]), m.tensor([3.0, 2.0])), id="int-float"),
        pytest.param(lambda m: (m.tensor([1.0, float("nan"), float("nan")]), m.tensor([3.0, 2.0, float("nan")])), id="nan"),
        pytest.param(lambda m: (m.tensor([1, 5], dtype=m.int32), m.tensor(3)), id="int32-0d-int64"),
        pytest.param(lambda m: (m.tensor([True, False]), m.tensor([False, False])), id="bool"),
        pytest.param(lambda m: (m.arange(6.0).reshape(2, 3), m.tensor([[2.0], [4.0]])), id="broadcast"),
        pytest.param(lambda m: (m.ones(2, 3), m.ones(4)), id="bad-shapes-raise"),
    ],
)
def test_maximum_minimum(op, pair):
    check(lambda m: getattr(m, op)(*pair(m)))


def test_maximum_rejects_python_scalar_like_torch():
    check(lambda m: m.maximum(m.tensor([1, 5]), 3))


# ---------------------------------------------------------------------------- default dtype
@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m: m.tensor([1.0]), id="tensor-float"),
        pytest.param(lambda m: m.tensor([1, 2]), id="tensor-int-unaffected"),
        pytest.param(lambda m: m.arange(0.5), id="arange-float"),
        pytest.param(lambda m: m.arange(3), id="arange-int"),
        pytest.param(lambda m: m.tensor([1, 2]) / m.tensor([2, 2]), id="int-div-int"),
        pytest.param(lambda m: m.tensor([1, 2]) * 2.5, id="int-times-float"),
        pytest.param(lambda m: m.zeros(2), id="zeros"),
        pytest.param(lambda m: m.full((2,), 1.5), id="full"),
        pytest.param(lambda m: m.linspace(0, 1, 3), id="linspace"),
        pytest.param(lambda m: m.eye(2), id="eye"),
        pytest.param(lambda m: m.Tensor([1, 2]), id="legacy-Tensor"),
        pytest.param(lambda m: m.tensor([]), id="empty"),
        pytest.param(lambda m: m.exp(m.tensor([1, 2])), id="exp-of-int"),
        pytest.param(lambda m: m.tensor([1.0], dtype=m.float32) + m.tensor(1.0), id="f32-plus-0d-default"),
        pytest.param(lambda m: m.tensor([1.0], dtype=m.float32) * 2.5, id="f32-times-scalar"),
        pytest.param(lambda m: m.tensor(np.array([1.0], dtype=np.float32)), id="numpy-keeps-float32"),
        pytest.param(lambda m: m.tensor([1.0], dtype=float), id="python-float-type"),
        pytest.param(lambda m: m.get_default_dtype(), id="get"),
    ],
)
@pytest.mark.parametrize("default", ["float64", "float32", "float16"])
def test_default_dtype_effects(fn, default):
    def run(m):
        m.set_default_dtype(getattr(m, default))
        try:
            out = fn(m)
        finally:
            m.set_default_dtype(m.float32)
        return dtype_name(out) if isinstance(out, (torch.dtype, backprop.dtype)) else out

    check(run, rtol=1e-3, atol=1e-3)


def test_get_default_dtype_roundtrip():
    assert backprop.get_default_dtype() is backprop.float32
    backprop.set_default_dtype(backprop.float64)
    assert backprop.get_default_dtype() is backprop.float64
    assert backprop.tensor([1.0]).dtype is backprop.float64
    backprop.set_default_dtype(backprop.float32)
    assert backprop.tensor([1.0]).dtype is backprop.float32


@pytest.mark.parametrize("bad", ["int64", "bool", "python-float"])
def test_set_default_dtype_rejects_non_float_dtypes(bad):
    def fn(m):
        arg = float if bad == "python-float" else getattr(m, bad)
        m.set_default_dtype(arg)

    with pytest.raises(TypeError):
        fn(torch)
    with pytest.raises(TypeError):
        fn(backprop)
    assert backprop.get_default_dtype() is backprop.float32


@pytest.mark.parametrize("op", ["maximum", "minimum", "fmax", "fmin"])
def test_maximum_minimum_gradients_with_ties_and_nans(op):
    def fn(m):
        a = m.tensor([1.0, 2.0, float("nan"), 3.0, 0.5], requires_grad=True)
        b = m.tensor([1.0, 1.0, 5.0, float("nan"), 4.0], requires_grad=True)
        getattr(m, op)(a, b).sum().backward()
        return a.grad, b.grad

    check(fn)


@pytest.mark.parametrize(
    "data",
    [[np.float64(1.5)], [np.int32(1)], [np.float64(1.5), 2.0], [np.int32(1), 2], [np.float32(1), np.float64(2)], [[np.float16(1)]], [1, np.float32(2)]],
    ids=lambda d: repr(d),
)
def test_numpy_scalars_in_lists_keep_their_dtype_like_torch(data):
    assert str(backprop.tensor(data).dtype).split(".")[-1] == str(torch.tensor(data).dtype).split(".")[-1]


def test_list_of_typed_0d_tensors_keeps_dtype():
    out = backprop.tensor([backprop.tensor(1.0, dtype=backprop.float64), backprop.tensor(2.0)])
    assert out.dtype == torch_like_dtype(torch.tensor([torch.tensor(1.0, dtype=torch.float64), torch.tensor(2.0)]).dtype)


def torch_like_dtype(torch_dtype):
    return getattr(backprop, str(torch_dtype).split(".")[-1])
