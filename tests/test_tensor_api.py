"""The Tensor API against PyTorch 2.13: attributes, conversions, Python protocols, comparison and
logical operators, sorting-style ops and in-place arithmetic outside autograd.

Snippets are written once as ``fn(m)`` and run with ``m = backprop`` and ``m = torch``
(see ``api_compare.check``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import backprop
from api_compare import assert_same, check, dtype_name, torch_exception


def both(fn):
    """``(fn(backprop), fn(torch))``."""
    return fn(backprop), fn(torch)


# ---------------------------------------------------------------------------- attributes
@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m: m.ones(2, 3).shape, id="shape"),
        pytest.param(lambda m: tuple(m.ones(2, 3).shape), id="shape-tuple"),
        pytest.param(lambda m: m.ones(2, 3).size(), id="size"),
        pytest.param(lambda m: m.ones(2, 3).size(1), id="size-dim"),
        pytest.param(lambda m: m.ones(2, 3).size(-1), id="size-negative-dim"),
        pytest.param(lambda m: m.ones(2, 3).size(2), id="size-bad-dim-raises"),
        pytest.param(lambda m: m.tensor(1.0).size(), id="size-0d"),
        pytest.param(lambda m: m.ones(2, 3, 4).dim(), id="dim"),
        pytest.param(lambda m: m.ones(2, 3, 4).ndim, id="ndim"),
        pytest.param(lambda m: m.tensor(5).ndim, id="ndim-0d"),
        pytest.param(lambda m: m.ones(2, 3, 4).numel(), id="numel"),
        pytest.param(lambda m: m.ones(0, 3).numel(), id="numel-empty"),
        pytest.param(lambda m: m.numel(m.ones(2, 5)), id="torch.numel"),
        pytest.param(lambda m: m.ones(2, 3, dtype=m.int16).dtype, id="dtype"),
        pytest.param(lambda m: str(m.ones(2).device), id="device-str"),
        pytest.param(lambda m: m.ones(2).device.type, id="device-type"),
        pytest.param(lambda m: m.ones(2).is_cuda, id="is_cuda"),
        pytest.param(lambda m: m.ones(2).requires_grad, id="requires_grad"),
        pytest.param(lambda m: m.ones(2, requires_grad=True).requires_grad, id="requires_grad-true"),
        pytest.param(lambda m: m.ones(2).grad, id="grad-none"),
        pytest.param(lambda m: m.ones(2).grad_fn, id="grad_fn-none"),
        pytest.param(lambda m: m.ones(2).is_leaf, id="is_leaf"),
        pytest.param(lambda m: (m.ones(2, requires_grad=True) * 2).is_leaf, id="is_leaf-false"),
        pytest.param(lambda m: (m.ones(2) * 2).is_leaf, id="is_leaf-no-grad-result"),
        pytest.param(lambda m: (m.ones(2, requires_grad=True) * 2).requires_grad, id="result-requires-grad"),
        pytest.param(lambda m: m.ones(2, dtype=m.float64).is_floating_point(), id="is_floating_point"),
        pytest.param(lambda m: m.ones(2, dtype=m.int32).is_floating_point(), id="is_floating_point-int"),
        pytest.param(lambda m: m.ones(2, 3, dtype=m.float64).element_size(), id="element_size"),
        pytest.param(lambda m: m.ones(2, 3).t().is_contiguous(), id="is_contiguous"),
        pytest.param(lambda m: m.ones(2, 3).stride(), id="stride"),
        pytest.param(lambda m: m.ones(2, 3).t().stride(), id="stride-transposed"),
    ],
)
def test_attributes(fn):
    check(fn)


def test_grad_fn_is_set_for_results_of_tracked_ops():
    x = backprop.ones(2, requires_grad=True)
    y = x * 2
    assert y.grad_fn is not None and not y.is_leaf
    assert "Mul" in type(y.grad_fn).__name__ or "Mul" in y.grad_fn.name()
    y.sum().backward()
    assert_same(x.grad, torch.full((2,), 2.0))


@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m: m.tensor(2.5).item(), id="item-float"),
        pytest.param(lambda m: m.tensor([3]).item(), id="item-int"),
        pytest.param(lambda m: m.tensor([[True]]).item(), id="item-bool"),
        pytest.param(lambda m: m.tensor(2.5, dtype=m.float16).item(), id="item-half"),
        pytest.param(lambda m: m.tensor([1, 2]).item(), id="item-multi-raises"),
        pytest.param(lambda m: m.tensor([]).item(), id="item-empty-raises"),
        pytest.param(lambda m: m.tensor([1.5, 2.5]).tolist(), id="tolist"),
        pytest.param(lambda m: m.tensor([[1, 2], [3, 4]]).tolist(), id="tolist-nested"),
        pytest.param(lambda m: m.tensor(2.5).tolist(), id="tolist-0d"),
        pytest.param(lambda m: m.tensor([True, False]).tolist(), id="tolist-bool"),
        pytest.param(lambda m: m.ones(0, 2).tolist(), id="tolist-empty"),
        pytest.param(lambda m: len(m.ones(3, 2)), id="len"),
        pytest.param(lambda m: len(m.tensor(1.0)), id="len-0d-raises"),
        pytest.param(lambda m: list(m.tensor([1, 2])), id="iter"),
        pytest.param(lambda m: [x.shape for x in m.ones(3, 2)], id="iter-rows"),
        pytest.param(lambda m: list(m.tensor(1)), id="iter-0d-raises"),
        pytest.param(lambda m: bool(m.tensor([1.0])), id="bool-true"),
        pytest.param(lambda m: bool(m.tensor(0)), id="bool-false"),
        pytest.param(lambda m: bool(m.tensor([1.0, 2.0])), id="bool-ambiguous-raises"),
        pytest.param(lambda m: bool(m.tensor([])), id="bool-empty-raises"),
        pytest.param(lambda m: float(m.tensor([2.5])), id="float"),
        pytest.param(lambda m: float(m.tensor(3)), id="float-of-int"),
        pytest.param(lambda m: int(m.tensor(3.9)), id="int"),
        pytest.param(lambda m: int(m.tensor(-3.9)), id="int-negative"),
        pytest.param(lambda m: [10, 20, 30][m.tensor(1)], id="index"),
        pytest.param(lambda m: 2 in m.tensor([1, 2]), id="contains"),
        pytest.param(lambda m: 5 in m.tensor([1, 2]), id="contains-false"),
        pytest.param(lambda m: f"{m.tensor(2.5):.2f}", id="format-0d"),
    ],
)
def test_python_protocols(fn):
    check(fn)


@pytest.mark.parametrize("conv", [float, int])
def test_scalar_conversion_of_multi_element_tensor_raises_value_error(conv):
    check(lambda m: conv(m.tensor([2.5, 1.0])))


def test_numpy_shares_memory():
    t = backprop.zeros(2, 3)
    arr = t.numpy()
    assert isinstance(arr, np.ndarray) and arr.dtype == np.float32
    arr[0, 0] = 7.0
    assert t[0, 0].item() == 7.0
    t[1, 1] = 3.0
    assert arr[1, 1] == 3.0
    assert np.shares_memory(t.detach().numpy(), arr)


def test_numpy_of_tensor_requiring_grad_raises_like_torch():
    check(lambda m: m.ones(2, requires_grad=True).numpy())
    check(lambda m: m.tensor(m.ones(2, requires_grad=True).detach().numpy()))
    assert isinstance(backprop.ones(2, requires_grad=True).numpy(force=True), np.ndarray)


def test_array_protocol():
    for dt in ["float32", "float64", "int32", "int64", "uint8", "bool"]:
        ours, theirs = both(lambda m, dt=dt: np.asarray(m.ones(2, 3, dtype=getattr(m, dt))))
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)
    ours, theirs = both(lambda m: np.asarray(m.arange(4.0), dtype=np.float64))
    assert ours.dtype == theirs.dtype == np.float64
    t = backprop.arange(3.0)
    np.asarray(t)[0] = 9.0
    assert t[0].item() == 9.0  # no copy
    assert_same(backprop.tensor(np.asarray(backprop.arange(3)) * 2), torch.arange(3) * 2)
    with pytest.raises(RuntimeError):
        np.asarray(torch.ones(2, requires_grad=True))
    with pytest.raises(RuntimeError):
        np.asarray(backprop.ones(2, requires_grad=True))


def test_detach_shares_storage_and_cuts_graph():
    x = backprop.ones(3, requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    raw = x.detach()
    raw[0] = 5.0
    assert x[0].item() == 5.0


def test_clone_copies_and_keeps_graph():
    for m in (backprop, torch):
        a = m.arange(4.0)
        c = a.clone()
        c[0] = 100.0
        assert a[0].item() == 0.0
        x = m.ones(2, requires_grad=True)
        y = x.clone()
        assert y.requires_grad and not y.is_leaf
        y.sum().backward()
        assert x.grad.tolist() == [1.0, 1.0]


def test_contiguous():
    for m in (backprop, torch):
        a = m.arange(6.0).reshape(2, 3)
        assert a.contiguous() is a
        t = a.t()
        assert not t.is_contiguous()
        c = t.contiguous()
        assert c.is_contiguous() and c.tolist() == t.tolist()
        assert c.view(6).tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]


@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m: m.tensor([1, 2]).to(m.float64), id="to-dtype"),
        pytest.param(lambda m: m.tensor([1, 2]).to(dtype=m.int8), id="to-dtype-kw"),
        pytest.param(lambda m: m.tensor([1, 2]).to("cpu"), id="to-cpu"),
        pytest.param(lambda m: m.tensor([1, 2]).to(m.device("cpu")), id="to-device"),
        pytest.param(lambda m: m.tensor([1, 2]).to("cpu", m.float32), id="to-device-dtype"),
        pytest.param(lambda m: m.tensor([1, 2]).to(m.ones(1, dtype=m.float16)), id="to-other-tensor"),
        pytest.param(lambda m: m.tensor([1.0, 2.0]).to(float), id="to-python-float"),
        pytest.param(lambda m: m.tensor([1.9, 2.0]).to(int), id="to-python-int"),
        pytest.param(lambda m: m.tensor([1.7, -1.7]).long(), id="long"),
        pytest.param(lambda m: m.tensor([1.7, -1.7]).int(), id="int"),
        pytest.param(lambda m: m.tensor([1.7, 0.0]).bool(), id="bool"),
        pytest.param(lambda m: m.tensor([1.7, -1.7]).half(), id="half"),
        pytest.param(lambda m: m.tensor([1, 2]).float(), id="float"),
        pytest.param(lambda m: m.tensor([1, 2]).double(), id="double"),
        pytest.param(lambda m: m.tensor([300, -1]).byte(), id="byte-wraps"),
        pytest.param(lambda m: m.tensor([1.5, 2.0]).short(), id="short"),
        pytest.param(lambda m: m.tensor([1.5, 2.0]).char(), id="char"),
        pytest.param(lambda m: m.tensor([1.5], requires_grad=True).double(), id="cast-keeps-graph"),
        pytest.param(lambda m: m.tensor([1, 2]).type().split(".")[-1], id="type-str-long"),
        pytest.param(lambda m: m.tensor([1.0, 2]).type().split(".")[-1], id="type-str-float"),
        pytest.param(lambda m: m.tensor([True]).type().split(".")[-1], id="type-str-bool"),
        pytest.param(lambda m: m.tensor([1.0, 2]).double().type().split(".")[-1], id="type-str-double"),
        pytest.param(lambda m: m.tensor([1.0, 2]).type(m.int32), id="type-dtype"),
        pytest.param(lambda m: m.tensor([1.0, 2]).type("torch.IntTensor"), id="type-name"),
        pytest.param(lambda m: m.tensor([1.0, 2]).type("torch.DoubleTensor"), id="type-name-double"),
        pytest.param(lambda m: m.tensor([1.0, 2]).type_as(m.tensor([1])), id="type_as"),
        pytest.param(lambda m: m.tensor([1.0, 2]).cpu(), id="cpu"),
    ],
)
def test_conversions(fn):
    check(fn)


def test_type_string_has_the_framework_prefix():
    assert backprop.tensor([1.0]).type() == "backprop.FloatTensor"
    assert torch.tensor([1.0]).type() == "torch.FloatTensor"


def test_to_returns_self_when_nothing_changes_and_copies_on_request():
    for m in (backprop, torch):
        a = m.ones(3)
        assert a.to(m.float32) is a
        assert a.to("cpu") is a
        assert a.float() is a
        c = a.to(m.float32, copy=True)
        assert c is not a
        c[0] = 5.0
        assert a[0].item() == 1.0
        b = a.to(m.float64)
        b[0] = 5.0
        assert a[0].item() == 1.0


def test_requires_grad_():
    for m in (backprop, torch):
        a = m.ones(2)
        assert a.requires_grad_() is a and a.requires_grad
        a.requires_grad_(False)
        assert not a.requires_grad
    check(lambda m: m.ones(2, dtype=m.int64).requires_grad_())
    check(lambda m: (m.ones(2, requires_grad=True) * 2).requires_grad_(False))


@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m: m.ones(2, dtype=m.int32).new_zeros(2, 3), id="new_zeros-varargs"),
        pytest.param(lambda m: m.ones(2).new_zeros((2, 3)), id="new_zeros-tuple"),
        pytest.param(lambda m: m.ones(2).new_zeros([2]), id="new_zeros-list"),
        pytest.param(lambda m: m.ones(2).new_zeros(m.Size([1, 2])), id="new_zeros-Size"),
        pytest.param(lambda m: m.ones(2, dtype=m.float64).new_ones(3), id="new_ones-keeps-dtype"),
        pytest.param(lambda m: m.ones(2).new_ones(3, dtype=m.int64), id="new_ones-dtype"),
        pytest.param(lambda m: m.ones(2).new_full((2,), 3), id="new_full"),
        pytest.param(lambda m: m.ones(2, dtype=m.int64).new_full([2, 2], 3.7), id="new_full-int"),
        pytest.param(lambda m: m.ones(2, dtype=m.int64).new_tensor([1.5, 2.5]), id="new_tensor-self-dtype"),
        pytest.param(lambda m: m.ones(2).new_tensor([1, 2]), id="new_tensor-float"),
        pytest.param(lambda m: m.ones(2).new_tensor([1, 2], dtype=m.int32), id="new_tensor-dtype"),
        pytest.param(lambda m: m.ones(2).new_zeros(2, requires_grad=True), id="new_zeros-requires-grad"),
        pytest.param(lambda m: (tuple(m.ones(2).new_empty(3, 1).shape), m.ones(2).new_empty(3).dtype), id="new_empty"),
        pytest.param(lambda m: m.ones(2).new_zeros(-1), id="new_zeros-negative-raises"),
        pytest.param(lambda m: m.ones(2).new_zeros(), id="new_zeros-no-size-raises"),
    ],
)
def test_new_constructors(fn):
    check(fn)


# ---------------------------------------------------------------------------- transposes, Size, legacy Tensor
@pytest.mark.filterwarnings("ignore:The use of `x.T`", "ignore:Tensor.T is deprecated")
@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m: m.arange(6).reshape(2, 3).T, id="T-2d"),
        pytest.param(lambda m: m.arange(3).T, id="T-1d"),
        pytest.param(lambda m: m.tensor(2.0).T, id="T-0d"),
        pytest.param(lambda m: m.arange(24).reshape(2, 3, 4).T, id="T-3d"),
        pytest.param(lambda m: m.arange(24).reshape(2, 3, 4).mT, id="mT-3d"),
        pytest.param(lambda m: m.arange(6.0).reshape(2, 3).mT, id="mT-2d"),
        pytest.param(lambda m: m.arange(3).mT, id="mT-1d-raises"),
        pytest.param(lambda m: m.arange(6.0).reshape(2, 3).t(), id="t"),
        pytest.param(lambda m: m.arange(24).reshape(2, 3, 4).t(), id="t-3d-raises"),
    ],
)
def test_transposes(fn):
    check(fn)


def test_transpose_is_a_view():
    for m in (backprop, torch):
        a = m.zeros(2, 3)
        a.T[2, 1] = 5.0
        assert a[1, 2].item() == 5.0


def test_size():
    for m in (backprop, torch):
        s = m.ones(2, 3).shape
        assert s == (2, 3) and s == m.Size([2, 3]) and s != (3, 2)
        assert isinstance(s, tuple) and isinstance(s, m.Size)
        assert s.numel() == 6 and m.Size([]).numel() == 1 and m.Size([4, 0]).numel() == 0
        assert isinstance(s[1:], m.Size) and s[1:] == (3,)
        assert s[0] == 2 and s[-1] == 3
        assert list(s) == [2, 3] and len(s) == 2
        a, b = s
        assert (a, b) == (2, 3)
    assert repr(backprop.Size([2, 3])) == repr(torch.Size([2, 3])).replace("torch", "backprop")
    assert repr(backprop.Size([])) == repr(torch.Size([])).replace("torch", "backprop")


def test_size_concatenation_is_a_size():
    assert isinstance(backprop.Size([2]) + (3,), backprop.Size)


@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m: (tuple(m.Tensor(2, 3).shape), m.Tensor(2, 3).dtype), id="sizes"),
        pytest.param(lambda m: m.Tensor([1, 2]), id="data-int-to-float"),
        pytest.param(lambda m: m.Tensor([[1.5], [2.5]]), id="data-nested"),
        pytest.param(lambda m: m.Tensor(), id="no-args"),
        pytest.param(lambda m: m.Tensor([True]), id="bool-data"),
        pytest.param(lambda m: m.Tensor(np.array([1, 2], dtype=np.int64)).dtype, id="ndarray-data"),
        pytest.param(lambda m: isinstance(m.tensor([1]), m.Tensor), id="isinstance"),
        pytest.param(lambda m: m.is_tensor(m.ones(1)), id="is_tensor"),
        pytest.param(lambda m: m.is_tensor([1]), id="is_tensor-list"),
    ],
)
def test_legacy_tensor_constructor(fn):
    check(fn)


def test_legacy_typed_constructors():
    check(lambda m: m.FloatTensor([1, 2]))
    check(lambda m: m.LongTensor([1, 2]))


# ---------------------------------------------------------------------------- devices
@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m: m.tensor([1, 2]).cuda(), id="cuda"),
        pytest.param(lambda m: m.tensor([1, 2]).to("cuda"), id="to-cuda"),
        pytest.param(lambda m: m.tensor([1, 2]).to("cuda:0"), id="to-cuda-0"),
        pytest.param(lambda m: m.tensor([1, 2]).to(m.device("cuda")), id="to-device-cuda"),
        pytest.param(lambda m: m.zeros(2, device="cuda"), id="zeros-cuda"),
        pytest.param(lambda m: m.tensor([1, 2], device="cuda"), id="tensor-cuda"),
        pytest.param(lambda m: m.device("nonsense"), id="bad-device-string"),
    ],
)
def test_cuda_fails_like_cpu_only_torch(fn):
    exc = torch_exception(fn)
    assert exc is not None
    with pytest.raises(type(exc)):
        fn(backprop)


def test_cuda_is_not_available():
    assert backprop.cuda.is_available() is torch.cuda.is_available() is False
    assert backprop.cuda.device_count() == torch.cuda.device_count() == 0
    check(lambda m: (str(m.device("cuda:1")), m.device("cuda", 0).index, m.device("cpu").type))
    check(lambda m: m.ones(1).device == m.device("cpu"))
    check(lambda m: m.zeros(2, device="cpu"))


def test_device_does_not_equal_a_string():
    check(lambda m: m.ones(1).device == "cpu")


# ---------------------------------------------------------------------------- comparisons and logic
BOOLS = [[True, False, True, False], [True, True, False, False]]
INTS = [[5, 3, -2, 0], [3, 1, 7, 0]]
FLOATS = [[1.0, float("nan"), -2.5, 0.0], [1.0, float("nan"), 3.0, -0.0]]


@pytest.mark.parametrize("op", ["eq", "ne", "lt", "le", "gt", "ge"])
@pytest.mark.parametrize(
    "operands",
    [
        pytest.param(lambda m: (m.tensor(INTS[0]), m.tensor(INTS[1])), id="int-int"),
        pytest.param(lambda m: (m.tensor(INTS[0]), m.tensor(FLOATS[1])), id="int-float"),
        pytest.param(lambda m: (m.tensor(FLOATS[0]), m.tensor(FLOATS[1])), id="float-nan"),
        pytest.param(lambda m: (m.tensor(BOOLS[0]), m.tensor(BOOLS[1])), id="bool-bool"),
        pytest.param(lambda m: (m.tensor(INTS[0]), 3), id="int-scalar"),
        pytest.param(lambda m: (m.tensor(INTS[0]), 2.5), id="int-float-scalar"),
        pytest.param(lambda m: (m.tensor(INTS[0], dtype=m.uint8), -1), id="uint8-negative-scalar"),
        pytest.param(lambda m: (m.tensor(INTS[0]).reshape(4, 1), m.tensor(INTS[1])), id="broadcast"),
        pytest.param(lambda m: (m.tensor(INTS[0]), m.tensor([1, 2, 3])), id="bad-shapes-raise"),
    ],
)
def test_comparisons(op, operands):
    symbols = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
    check(lambda m: getattr(m, op)(*operands(m)))
    check(lambda m: getattr(operands(m)[0], op)(operands(m)[1]))
    check(lambda m: eval(f"a {symbols[op]} b", {}, dict(zip("ab", operands(m)))))  # noqa: S307 - fixed operator table


def test_comparison_with_none_and_strings():
    check(lambda m: m.tensor([1, 2]) == None)  # noqa: E711 - the operator itself is under test
    check(lambda m: m.tensor([1, 2]) != None)  # noqa: E711
    check(lambda m: m.tensor([1, 2]) == "a")
    check(lambda m: m.tensor([1, 2]) < "a")
    check(lambda m: m.equal(m.tensor([1, 2]), m.tensor([1, 2])))
    check(lambda m: m.equal(m.tensor([1, 2]), m.tensor([1, 3])))
    check(lambda m: m.equal(m.tensor([1, 2]), m.tensor([[1, 2]])))


@pytest.mark.parametrize("op", ["logical_and", "logical_or", "logical_xor"])
@pytest.mark.parametrize(
    "operands",
    [
        pytest.param(lambda m: (m.tensor(BOOLS[0]), m.tensor(BOOLS[1])), id="bool"),
        pytest.param(lambda m: (m.tensor(INTS[0]), m.tensor(INTS[1])), id="int"),
        pytest.param(lambda m: (m.tensor(INTS[0]), m.tensor(FLOATS[0])), id="int-float"),
        pytest.param(lambda m: (m.tensor(BOOLS[0]).reshape(4, 1), m.tensor(INTS[1])), id="broadcast"),
    ],
)
def test_logical_ops(op, operands):
    check(lambda m: getattr(m, op)(*operands(m)))
    check(lambda m: getattr(operands(m)[0], op)(operands(m)[1]))


@pytest.mark.parametrize("data", [BOOLS[0], INTS[0], FLOATS[0]], ids=["bool", "int", "float"])
def test_logical_not(data):
    check(lambda m: m.logical_not(m.tensor(data)))
    check(lambda m: m.tensor(data).logical_not())


@pytest.mark.parametrize("symbol", ["&", "|", "^"])
@pytest.mark.parametrize(
    "operands",
    [
        pytest.param(lambda m: (m.tensor(BOOLS[0]), m.tensor(BOOLS[1])), id="bool-bool"),
        pytest.param(lambda m: (m.tensor(INTS[0]), m.tensor(INTS[1])), id="int-int"),
        pytest.param(lambda m: (m.tensor(INTS[0], dtype=m.uint8), m.tensor(INTS[1], dtype=m.uint8)), id="uint8"),
        pytest.param(lambda m: (m.tensor(INTS[0], dtype=m.int32), 6), id="int32-scalar"),
        pytest.param(lambda m: (m.tensor(INTS[0]), True), id="int-True"),
        pytest.param(lambda m: (m.tensor(BOOLS[0]), 1), id="bool-int-scalar"),
        pytest.param(lambda m: (m.tensor(BOOLS[0]), m.tensor(INTS[1])), id="bool-int"),
        pytest.param(lambda m: (m.tensor(BOOLS[0]), True), id="bool-True"),
        pytest.param(lambda m: (True, m.tensor(BOOLS[0])), id="True-bool-reflected"),
        pytest.param(lambda m: (6, m.tensor(INTS[0])), id="int-reflected"),
        pytest.param(lambda m: (m.tensor(BOOLS[0]).reshape(4, 1), m.tensor(BOOLS[1])), id="broadcast"),
        pytest.param(lambda m: (m.tensor(FLOATS[0]), m.tensor(FLOATS[1])), id="float-raises"),
        pytest.param(lambda m: (m.tensor(INTS[0]), 1.5), id="int-float-scalar-raises"),
    ],
)
def test_bitwise_operators(symbol, operands):
    check(lambda m: eval(f"a {symbol} b", {}, dict(zip("ab", operands(m)))))  # noqa: S307


@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m: ~m.tensor(BOOLS[0]), id="bool"),
        pytest.param(lambda m: ~m.tensor(INTS[0]), id="int"),
        pytest.param(lambda m: ~m.tensor(INTS[0], dtype=m.uint8), id="uint8"),
        pytest.param(lambda m: ~m.tensor(INTS[0], dtype=m.int8), id="int8"),
        pytest.param(lambda m: ~m.tensor(FLOATS[0]), id="float-raises"),
        pytest.param(lambda m: m.bitwise_not(m.tensor(FLOATS[0])), id="bitwise_not-float-raises"),
        pytest.param(lambda m: m.bitwise_and(m.tensor(INTS[0]), m.tensor(INTS[1])), id="bitwise_and"),
        pytest.param(lambda m: m.tensor(INTS[0]).bitwise_or(3), id="bitwise_or-method"),
        pytest.param(lambda m: m.bitwise_xor(m.tensor(BOOLS[0]), m.tensor(BOOLS[1])), id="bitwise_xor-bool"),
    ],
)
def test_invert_and_bitwise_functions(fn):
    check(fn)


def test_inplace_bitwise_operators():
    for code in ("a = m.tensor(BOOLS[0]); a &= m.tensor(BOOLS[1])", "a = m.tensor(INTS[0]); a |= 2",
                 "a = m.tensor(BOOLS[0]); a ^= True", "a = m.tensor(INTS[0], dtype=m.uint8); a &= 6"):
        out = {}
        for m in (backprop, torch):
            ns = {"m": m, "BOOLS": BOOLS, "INTS": INTS}
            exec(code, ns)  # noqa: S102 - fixed snippets
            out[m.__name__] = ns["a"]
        assert_same(out["backprop"], out["torch"])


# ---------------------------------------------------------------------------- sorting-style ops
SORT_DATA = np.array([[3.0, 1.0, 2.0, 5.0], [0.0, 5.0, -4.0, 4.5], [2.0, 2.5, 9.0, -1.0]], dtype=np.float32)


@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m, x: tuple(m.sort(x)), id="sort"),
        pytest.param(lambda m, x: tuple(m.sort(x, descending=True)), id="sort-desc"),
        pytest.param(lambda m, x: tuple(x.sort(dim=0)), id="sort-dim0"),
        pytest.param(lambda m, x: tuple(x.sort(dim=-1, descending=True)), id="sort-method-desc"),
        pytest.param(lambda m, x: x.sort().values, id="sort-values-attr"),
        pytest.param(lambda m, x: x.sort().indices, id="sort-indices-attr"),
        pytest.param(lambda m, x: m.argsort(x), id="argsort"),
        pytest.param(lambda m, x: m.argsort(x, dim=0, descending=True), id="argsort-dim0-desc"),
        pytest.param(lambda m, x: x.argsort(dim=-1), id="argsort-method"),
        pytest.param(lambda m, x: tuple(m.topk(x, 2)), id="topk"),
        pytest.param(lambda m, x: tuple(m.topk(x, 2, largest=False)), id="topk-smallest"),
        pytest.param(lambda m, x: tuple(x.topk(1, dim=0)), id="topk-dim0"),
        pytest.param(lambda m, x: tuple(x.topk(3, dim=1, sorted=True)), id="topk-sorted"),
        pytest.param(lambda m, x: x.topk(2).values, id="topk-values-attr"),
        pytest.param(lambda m, x: m.topk(x, 5), id="topk-k-too-large-raises"),
        pytest.param(lambda m, x: tuple(m.kthvalue(x, 2)), id="kthvalue"),
        pytest.param(lambda m, x: tuple(x.kthvalue(1, dim=0, keepdim=True)), id="kthvalue-dim0"),
        pytest.param(lambda m, x: m.kthvalue(x, 5), id="kthvalue-out-of-range-raises"),
        pytest.param(lambda m, x: m.msort(x), id="msort"),
        pytest.param(lambda m, x: tuple(x.max(dim=1)), id="max-dim"),
        pytest.param(lambda m, x: tuple(x.min(0, keepdim=True)), id="min-dim-keepdim"),
        pytest.param(lambda m, x: x.argmax(), id="argmax"),
        pytest.param(lambda m, x: x.argmin(dim=1, keepdim=True), id="argmin-dim"),
        pytest.param(lambda m, x: m.nonzero(x), id="nonzero"),
        pytest.param(lambda m, x: m.nonzero(x > 2, as_tuple=True), id="nonzero-tuple"),
        pytest.param(lambda m, x: m.argwhere(x < 0), id="argwhere"),
        pytest.param(lambda m, x: m.unique(x.round()), id="unique"),
        pytest.param(lambda m, x: m.unique((x > 1).long(), return_counts=True), id="unique-counts"),
        pytest.param(lambda m, x: m.unique(x.floor().long(), return_inverse=True), id="unique-inverse"),
        pytest.param(lambda m, x: m.unique(x.floor(), return_inverse=True, return_counts=True), id="unique-both"),
        pytest.param(lambda m, x: m.unique((x > 1).long(), dim=0), id="unique-dim0"),
        pytest.param(lambda m, x: (x > 1).long().unique(), id="unique-method"),
        pytest.param(lambda m, x: m.searchsorted(m.tensor([0.0, 1.0, 2.5, 5.0]), x), id="searchsorted"),
        pytest.param(lambda m, x: m.bincount(x.abs().long().reshape(-1)), id="bincount"),
    ],
)
def test_sort_like_ops(fn):
    check(lambda m: fn(m, m.tensor(SORT_DATA)))


@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m: tuple(m.sort(m.tensor([2, 1, 2, 1, 3, 1]), stable=True)), id="stable-int"),
        pytest.param(lambda m: tuple(m.sort(m.tensor([1.0, float("nan"), 0.0, -float("inf")]))), id="nan-last"),
        pytest.param(lambda m: tuple(m.sort(m.tensor([1.0, float("nan"), 0.0]), descending=True)), id="nan-first-desc"),
        pytest.param(lambda m: tuple(m.sort(m.tensor([True, False, True]))), id="bool"),
        pytest.param(lambda m: tuple(m.sort(m.tensor(3.0))), id="0d"),
        pytest.param(lambda m: m.nonzero(m.tensor([0, 1, 0, 2])), id="nonzero-1d"),
        pytest.param(lambda m: m.nonzero(m.tensor(5)), id="nonzero-0d"),
        pytest.param(lambda m: m.nonzero(m.tensor(0)), id="nonzero-0d-zero"),
        pytest.param(lambda m: m.nonzero(m.zeros(2, 3)), id="nonzero-none"),
        pytest.param(lambda m: m.unique(m.tensor([3, 1, 2, 3, 1])), id="unique-int"),
        pytest.param(lambda m: m.unique(m.tensor([], dtype=m.int64)), id="unique-empty"),
        pytest.param(lambda m: m.tensor([[3, 1, 2], [0, 5, 4]]).sort(dim=0).values, id="int-sort-dim0"),
    ],
)
def test_sort_like_edge_cases(fn):
    check(fn)


def test_sort_descending_puts_nan_before_inf():
    check(lambda m: tuple(m.sort(m.tensor([1.0, float("inf"), float("nan"), -float("inf"), float("nan"), 2.0, float("inf")]), stable=True, descending=True)))


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("data", ["ties", "normal", "int", "nan-inf"])
def test_topk_partition_path(largest, data):
    """k small against the dimension (beam search over a vocabulary) selects by partition: the same
    values as torch and the indices of a stable sort (lower index first among ties), on every dim."""
    rng = np.random.default_rng(["ties", "normal", "int", "nan-inf"].index(data))
    shape = (3, 150, 4)
    if data == "ties":
        a = rng.integers(0, 5, shape).astype(np.float32)
    elif data == "normal":
        a = rng.standard_normal(shape)
    elif data == "int":
        a = rng.integers(-3, 3, shape)
    else:
        a = rng.standard_normal(shape).astype(np.float32)
        a[rng.random(shape) < 0.1], a[rng.random(shape) < 0.1] = np.nan, np.inf
    for dim, k in ((1, 7), (-2, 1), (1, 37)):
        ours = backprop.topk(backprop.tensor(a), k, dim, largest)
        theirs = torch.topk(torch.from_numpy(a), k, dim, largest)
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
        stable = backprop.sort(backprop.tensor(a), dim, descending=largest, stable=True).indices.numpy()
        np.testing.assert_array_equal(ours.indices.numpy(), np.take(stable, np.arange(k), axis=dim))


def test_sort_gradients_flow_to_the_right_elements():
    for m in (backprop, torch):
        x = m.tensor([3.0, 1.0, 2.0], requires_grad=True)
        v, _ = x.sort()
        (v * m.tensor([1.0, 10.0, 100.0])).sum().backward()
        assert x.grad.tolist() == [100.0, 1.0, 10.0]


# ---------------------------------------------------------------------------- in-place ops without autograd
INPLACE = [
    "x = m.ones(2, 3); r = x.add_(m.arange(3.), alpha=2); out = (x, r is x)",
    "x = m.ones(2, 3); x.add_(1); out = x",
    "x = m.ones(2, 3); x.sub_(m.tensor([[1.], [2.]]), alpha=0.5); out = x",
    "x = m.ones(2, 3); x.mul_(m.arange(3.)); out = x",
    "x = m.ones(2, 3); x.mul_(m.tensor(2.0, dtype=m.float64)); out = x",
    "x = m.ones(2, 3); x.div_(m.tensor([2., 4., 8.])); out = x",
    "x = m.ones(2, 3); x.div_(2); out = x",
    "x = m.ones(2, 3); x.add_(m.ones(3, 3)); out = x",
    "x = m.ones(3); x.add_(m.ones(2, 3)); out = x",
    "x = m.ones(3); x.add_(m.ones(4)); out = x",
    "x = m.tensor([1, 2]); x.div_(2); out = x",
    "x = m.tensor([1, 2]); x.div_(m.tensor([2, 2])); out = x",
    "x = m.tensor([1, 2]); x /= 2; out = x",
    "x = m.tensor([1, 2]); x.add_(1.5); out = x",
    "x = m.tensor([1, 2]); x.mul_(1.5); out = x",
    "x = m.tensor([1, 2]); x.add_(m.tensor([1.5, 2.])); out = x",
    "x = m.tensor([1, 2]); x.add_(m.tensor(1.5)); out = x",
    "x = m.tensor([1, 2], dtype=m.int32); x.add_(m.tensor([1, 2])); out = x",
    "x = m.tensor([1, 2], dtype=m.uint8); x.sub_(3); out = x",
    "x = m.tensor([1., 2.]); x.add_(m.tensor([1, 2])); out = x",
    "x = m.tensor([1., 2.], dtype=m.float16); x.add_(m.tensor([1., 2.], dtype=m.float64)); out = x",
    "x = m.tensor([True, False]); x.add_(1); out = x",
    "x = m.tensor([True, False]); x.add_(True); out = x",
    "x = m.tensor([7, -7]); x.div_(2, rounding_mode='floor'); out = x",
    "x = m.tensor([5., -5.]); x.div_(2, rounding_mode='trunc'); out = x",
    "x = m.ones(2); y = x; x += 1; out = (x, y is x)",
    "x = m.ones(2); y = x; x *= 3; out = (x, y is x)",
    "x = m.ones(2); x -= m.tensor([0.5, 1.5]); out = x",
    "x = m.tensor([1, 2]); x //= 2; out = x",
    "x = m.tensor([7, 2]); x %= 3; out = x",
    "x = m.tensor([1., 2.]); x **= 2; out = x",
    "x = m.ones(2, 2); v = x[0]; v.mul_(5); out = x",
    "x = m.ones(2, 2); v = x.t(); v.add_(m.tensor([1., 2.])); out = x",
    "x = m.ones(2).expand(3, 2); x.add_(1); out = x",
    "x = m.zeros(2, 3); x.copy_(m.arange(3)); out = x",
    "x = m.zeros(2, 3, dtype=m.int64); x.copy_(m.tensor([1.7, 2.2, -3.9])); out = x",
    "x = m.zeros(2); r = x.copy_(m.tensor([1., 2.], dtype=m.float64)); out = (x, r is x)",
    "x = m.zeros(2); x.copy_(m.ones(3)); out = x",
    "x = m.zeros(2, 3); x.fill_(2.5); out = x",
    "x = m.zeros(2, dtype=m.int64); x.fill_(2.5); out = x",
    "x = m.zeros(2); x.fill_(m.tensor(3.)); out = x",
    "x = m.zeros(2); x.fill_(m.tensor([3., 4.])); out = x",
    "x = m.ones(2, 3); r = x.zero_(); out = (x, r is x)",
    "x = m.ones(2, 3, dtype=m.int32); x.zero_(); out = x",
    "x = m.arange(6.); x.clamp_(1, 4); out = x",
    "x = m.arange(6.); x.clamp_(min=2); out = x",
    "x = m.arange(6); x.clamp_(max=3); out = x",
    "x = m.arange(6); x.clamp_(1.5, 3.5); out = x",
    "x = m.arange(6.); x.clamp_(m.tensor(2.), m.tensor(3.)); out = x",
    "x = m.arange(6.); x.clamp_(); out = x",
    "x = m.arange(6.); x.masked_fill_(x > 2, -1.); out = x",
    "x = m.arange(6.).reshape(2, 3); x.masked_fill_(m.tensor([True, False, True]), 0.); out = x",
    "x = m.arange(6.); x.masked_fill_(m.tensor([1, 0, 0, 0, 0, 1]), 0.); out = x",
    "x = m.arange(6); x.masked_fill_(x > 2, 2.7); out = x",
    "x = m.arange(6.); x.masked_fill_(x > 2, m.tensor(9.)); out = x",
    "x = m.arange(6.); x.masked_fill_(m.tensor([True, False]), 0.); out = x",
    "x = m.zeros(3, 2); x.index_add_(0, m.tensor([0, 2, 0]), m.ones(3, 2)); out = x",
    "x = m.zeros(3, 2); x.index_add_(1, m.tensor([1, 1]), m.arange(6.).reshape(3, 2), alpha=2); out = x",
    "x = m.zeros(3, 2); x.index_add_(0, m.tensor([0, 5]), m.ones(2, 2)); out = x",
    "x = m.zeros(3, 2); x.index_add_(0, m.tensor([0]), m.ones(2, 2)); out = x",
    "x = m.zeros(3, 2); x.index_add_(0, m.tensor([0]), m.ones(1, 3)); out = x",
    "x = m.zeros(3, 4); x.scatter_(1, m.tensor([[0, 2], [1, 3], [3, 0]]), m.arange(6.).reshape(3, 2)); out = x",
    "x = m.zeros(3, 4); x.scatter_(1, m.tensor([[0], [1], [3]]), 5.); out = x",
    "x = m.zeros(3, 4); x.scatter_(0, m.tensor([[0, 1, 2, 0]]), m.ones(1, 4)); out = x",
    "x = m.zeros(3, 4); x.scatter_(1, m.tensor([[0, 9]]), m.ones(1, 2)); out = x",
    "x = m.zeros(2, 4); x.scatter_(1, m.tensor([[0, 1], [2, 3]]), m.ones(2, 2), reduce='add'); out = x",
    "x = m.zeros(3, 4); x.scatter_add_(1, m.tensor([[0, 0], [1, 3], [3, 3]]), m.ones(3, 2)); out = x",
    "x = m.zeros(3); x.index_fill_(0, m.tensor([0, 2]), 7.); out = x",
    "x = m.ones(3); x[1] = 4; out = x",
    "x = m.ones(3); x[m.tensor([True, False, True])] = 0; out = x",
    "x = m.ones(2, 3); x[:, 1] = m.tensor([7., 8.]); out = x",
    "x = m.ones(3); x.exp_(); x.neg_(); out = x",
    "x = m.ones(2, dtype=m.int64); x.exp_(); out = x",
]


@pytest.mark.parametrize("code", INPLACE)
def test_inplace_ops(code):
    def fn(m):
        ns = {"m": m}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(code, ns)  # noqa: S102 - fixed snippets
        return ns["out"]

    check(fn)


def test_inplace_bumps_version_and_keeps_identity():
    x = backprop.ones(3)
    v0 = x._version
    data = x.numpy()
    x.add_(1).mul_(2).sub_(1).div_(3).clamp_(0, 1).zero_().fill_(2.0)
    assert x._version >= v0 + 7
    assert np.shares_memory(data, x.numpy())  # written in place, not rebound
    assert x.tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8"])
def test_integer_true_division_in_place_raises_like_torch(dtype):
    def fn(m):
        x = m.tensor([4, 6], dtype=getattr(m, dtype))
        x.div_(2)

    exc = torch_exception(fn)
    assert isinstance(exc, RuntimeError)
    with pytest.raises(type(exc), match="can't be cast"):
        fn(backprop)


def test_result_dtype_of_in_place_op_is_the_target_dtype():
    ours, theirs = both(lambda m: m.ones(3, dtype=m.float16).add_(m.ones(3, dtype=m.float64) / 3))
    assert dtype_name(ours.dtype) == dtype_name(theirs.dtype) == "float16"
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-3)
