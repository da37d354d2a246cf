"""Bad input fails like PyTorch 2.13: the same exception type (or a subclass of it), with a message
that names the op and the offending shapes/dtypes.

Each case is ``(fn, fragments)``: ``fn(m)`` must raise on torch; on backprop it must raise an
exception whose type is torch's (or a subclass) and whose message contains every fragment.
"""

from __future__ import annotations

import re

import pytest
import torch

import backprop


def _case(fn, *fragments, id):  # noqa: A002 - mirrors pytest.param
    return pytest.param(fn, fragments, id=id)


CASES = [
    # linear algebra
    _case(lambda m: m.ones(2, 3) @ m.ones(4, 5), "2x3", "4x5", id="matmul-2x3-4x5"),
    _case(lambda m: m.matmul(m.ones(2, 3), m.ones(4, 5)), "2x3", "4x5", id="torch.matmul"),
    _case(lambda m: m.matmul(m.ones(3), m.ones(4, 2)), "4x2", id="matmul-vector-matrix"),
    _case(lambda m: m.matmul(m.ones(2, 3, 4), m.ones(5, 4, 2)), "2", "5", id="matmul-batch-mismatch"),
    _case(lambda m: m.matmul(m.ones(3), m.ones(4)), "3", "4", id="matmul-vectors"),
    _case(lambda m: m.mm(m.ones(3), m.ones(3, 2)), "matrix", id="mm-1d"),
    _case(lambda m: m.mm(m.ones(2, 3, 4), m.ones(4, 2)), "matrix", id="mm-3d"),
    _case(lambda m: m.mm(m.ones(2, 3), m.ones(4, 2)), "2x3", "4x2", id="mm-inner-mismatch"),
    _case(lambda m: m.mm(m.ones(2, 3), m.ones(3, 2, dtype=m.float64)), "dtype", id="mm-dtype-mismatch"),
    _case(lambda m: m.bmm(m.ones(2, 3, 4), m.ones(3, 4, 5)), "[2, 4]", "[3, 4]", id="bmm-batch-mismatch"),
    _case(lambda m: m.bmm(m.ones(2, 3, 4), m.ones(2, 5, 5)), "[2, 4]", "[2, 5]", id="bmm-inner-mismatch"),
    _case(lambda m: m.bmm(m.ones(3, 4), m.ones(4, 5)), "3D", id="bmm-2d"),
    _case(lambda m: m.mv(m.ones(2, 3), m.ones(4)), id="mv-mismatch"),
    _case(lambda m: m.dot(m.ones(3), m.ones(4)), id="dot-mismatch"),
    _case(lambda m: m.dot(m.ones(3), m.ones(3, dtype=m.int64)), id="dot-dtype-mismatch"),
    # broadcasting
    _case(lambda m: m.ones(2, 3) + m.ones(4, 5), "add", "size of tensor a (3)", "(5)", "dimension 1", id="add-shapes"),
    _case(lambda m: m.add(m.ones(2, 3), m.ones(2)), "add", "(3)", "(2)", id="torch.add-shapes"),
    _case(lambda m: m.ones(2, 3) * m.ones(3, 2), "mul", "(3)", "(2)", id="mul-shapes"),
    _case(lambda m: m.ones(3) - m.ones(4), "sub", "(3)", "(4)", id="sub-shapes"),
    _case(lambda m: m.ones(3) / m.ones(4), "div", "(3)", "(4)", id="div-shapes"),
    _case(lambda m: m.ones(3) < m.ones(4), "lt", "(3)", "(4)", id="lt-shapes"),
    _case(lambda m: m.where(m.ones(3) > 0, m.ones(2), m.ones(3)), "where", id="where-shapes"),
    _case(lambda m: m.maximum(m.ones(3), m.ones(4)), "maximum", id="maximum-shapes"),
    _case(lambda m: m.ones(3).add_(m.ones(2, 3)), "[3]", "[2, 3]", id="add_-cannot-grow"),
    # cat / stack
    _case(lambda m: m.cat([m.ones(2, 3), m.ones(2, 4)]), "3", "4", id="cat-size-mismatch"),
    _case(lambda m: m.cat([m.ones(2, 3), m.ones(2, 3, 1)]), "2", "3", id="cat-ndim-mismatch"),
    _case(lambda m: m.cat([m.tensor(1.0), m.tensor(2.0)]), "zero-dimensional", id="cat-0d"),
    _case(lambda m: m.cat([m.ones(2), m.ones(2)], dim=1), "Dimension out of range", id="cat-bad-dim"),
    _case(lambda m: m.cat([]), "non-empty", id="cat-empty"),
    _case(lambda m: m.cat(m.ones(2)), "Tensor", id="cat-of-a-tensor"),
    _case(lambda m: m.stack([m.ones(2, 3), m.ones(3, 2)]), "[2, 3]", "[3, 2]", id="stack-unequal"),
    _case(lambda m: m.stack([]), id="stack-empty"),
    # shapes
    _case(lambda m: m.ones(2, 3).reshape(4, 2), "[4, 2]", "6", id="reshape-incompatible"),
    _case(lambda m: m.ones(2, 3).reshape(-1, 4), "[-1, 4]", "6", id="reshape-infer-incompatible"),
    _case(lambda m: m.ones(2, 3).reshape(-1, -1), "one dimension", id="reshape-two-inferred"),
    _case(lambda m: m.ones(2, 3).view(7), "[7]", "6", id="view-incompatible"),
    _case(lambda m: m.ones(2, 3).t().view(6), "view", "reshape", id="view-non-contiguous"),
    _case(lambda m: m.ones(2, 3).expand(3, 3), "[3, 3]", "[2, 3]", id="expand-incompatible"),
    _case(lambda m: m.ones(2, 3).expand(3), "[2, 3]", id="expand-too-few-sizes"),
    _case(lambda m: m.ones(2, 3).expand(-1, 2, 3), "-1", id="expand-leading-minus-one"),
    _case(lambda m: m.ones(2, 3).permute(0, 0), id="permute-repeated"),
    _case(lambda m: m.ones(2, 3).permute(0, 1, 2), id="permute-too-many"),
    _case(lambda m: m.ones(2, 3).sum((0, 0)), "appears multiple times", id="sum-repeated-dim"),
    _case(lambda m: m.ones(2, 3).repeat(2), id="repeat-too-few"),
    # out-of-range dims
    _case(lambda m: m.ones(2, 3).sum(2), "sum", "[-2, 1]", "2", id="sum-dim"),
    _case(lambda m: m.ones(2, 3).sum(-3), "sum", "-3", id="sum-negative-dim"),
    _case(lambda m: m.ones(2, 3).mean(dim=5), "mean", "5", id="mean-dim"),
    _case(lambda m: m.softmax(m.ones(2, 3), dim=2), "softmax", "2", id="softmax-dim"),
    _case(lambda m: m.softmax(m.ones(2, 3), dim=-3), "softmax", "-3", id="softmax-negative-dim"),
    _case(lambda m: m.ones(2, 3).log_softmax(dim=3), "log_softmax", id="log_softmax-dim"),
    _case(lambda m: m.ones(2, 3).transpose(0, 2), "transpose", "2", id="transpose-dim"),
    _case(lambda m: m.ones(2, 3).transpose(-3, 0), "transpose", "-3", id="transpose-negative-dim"),
    _case(lambda m: m.ones(2, 3).unsqueeze(3), "unsqueeze", "[-3, 2]", id="unsqueeze-dim"),
    _case(lambda m: m.ones(2, 3).unsqueeze(-4), "unsqueeze", "-4", id="unsqueeze-negative-dim"),
    _case(lambda m: m.ones(2, 3).squeeze(2), "squeeze", id="squeeze-dim"),
    _case(lambda m: m.ones(2, 3).argmax(dim=2), "argmax", id="argmax-dim"),
    _case(lambda m: m.ones(2, 3).max(dim=2), "max", id="max-dim"),
    _case(lambda m: m.ones(2, 3).cumsum(2), "cumsum", id="cumsum-dim"),
    _case(lambda m: m.ones(2, 3).var(dim=3), "var", id="var-dim"),
    _case(lambda m: m.ones(2, 3).prod(dim=3), "prod", id="prod-dim"),
    _case(lambda m: m.ones(2, 3).logsumexp(dim=3), "logsumexp", id="logsumexp-dim"),
    _case(lambda m: m.ones(2, 3).flatten(0, 3), "flatten", id="flatten-dim"),
    _case(lambda m: m.ones(2, 3).narrow(2, 0, 1), "narrow", id="narrow-dim"),
    _case(lambda m: m.ones(2, 3).select(2, 0), "select", id="select-dim"),
    _case(lambda m: m.ones(2, 3).split(1, dim=2), "split", id="split-dim"),
    _case(lambda m: m.ones(2, 3).chunk(2, dim=4), "chunk", id="chunk-dim"),
    _case(lambda m: m.ones(2, 3).flip(3), "flip", id="flip-dim"),
    _case(lambda m: m.ones(2, 3).roll(1, 3), "roll", id="roll-dim"),
    _case(lambda m: m.ones(2, 3).movedim(0, 3), "movedim", id="movedim-dim"),
    _case(lambda m: m.ones(2, 3).index_select(2, m.tensor([0])), "index_select", id="index_select-dim"),
    _case(lambda m: m.ones(2, 3).gather(2, m.tensor([[0]])), "gather", id="gather-dim"),
    _case(lambda m: m.ones(2).unbind(1), "unbind", id="unbind-dim"),
    _case(lambda m: m.stack([m.ones(2), m.ones(2)], dim=3), "stack", id="stack-dim"),
    _case(lambda m: m.ones(2, 3).size(2), "[-2, 1]", id="size-dim"),
    # indexing
    _case(lambda m: m.ones(3)[5], "5", "3", id="index-out-of-bounds"),
    _case(lambda m: m.ones(3)[-4], "-4", "3", id="negative-index-out-of-bounds"),
    _case(lambda m: m.ones(2, 3)[1, 3], "3", id="second-dim-out-of-bounds"),
    _case(lambda m: m.ones(2, 3)[:, 5], "5", id="slice-then-out-of-bounds"),
    _case(lambda m: m.ones(2, 3)[0, 0, 0], id="too-many-indices"),
    _case(lambda m: m.ones(3)[m.tensor([0, 5])], "5", id="tensor-index-out-of-bounds"),
    _case(lambda m: m.ones(3)[[0, 5]], "5", id="list-index-out-of-bounds"),
    _case(lambda m: m.ones(3)[m.tensor([0.5])], "long", id="float-index-tensor"),
    _case(lambda m: m.ones(3)[m.tensor(1.0)], "long", id="float-0d-index-tensor"),
    _case(lambda m: m.ones(3)[1.5], id="python-float-index"),
    _case(lambda m: m.ones(3)[m.tensor([True, False])], id="mask-wrong-shape"),
    _case(lambda m: m.ones(2, 3).gather(1, m.tensor([[0], [1], [2]])), "[3, 1]", "[2, 3]", id="gather-bad-index-shape"),
    _case(lambda m: m.ones(2, 3).gather(0, m.tensor([[0, 1, 0, 1]])), "[1, 4]", "[2, 3]", id="gather-bad-index-shape-2"),
    _case(lambda m: m.ones(2, 3).gather(1, m.tensor([0, 1])), "dimensions", id="gather-index-ndim"),
    _case(lambda m: m.ones(2, 3).gather(1, m.tensor([[0.0, 1.0]])), "gather", "int64", id="gather-float-index"),
    _case(lambda m: m.ones(2, 3).gather(1, m.tensor([[0, 5]])), id="gather-index-out-of-bounds"),
    _case(lambda m: m.ones(3).index_select(0, m.tensor([0.0])), "index_select", id="index_select-float-index"),
    _case(lambda m: m.ones(3).index_select(0, m.tensor([4])), id="index_select-out-of-bounds"),
    _case(lambda m: m.ones(3, 2).index_add(0, m.tensor([0]), m.ones(2, 2)), "index_add", id="index_add-count"),
    _case(lambda m: m.ones(3, 2).index_add(0, m.tensor([0]), m.ones(1, 3)), "shape", id="index_add-source-shape"),
    _case(lambda m: m.zeros(3, 4).scatter(1, m.tensor([[0, 9]]), m.ones(1, 2)), "9", id="scatter-out-of-bounds"),
    # dtypes
    _case(lambda m: m.tensor([1, 2]).mean(), "mean", "floating point", id="mean-of-int"),
    _case(lambda m: m.tensor([1, 2]).mean(dim=0), "mean", id="mean-dim-of-int"),
    _case(lambda m: m.tensor([1, 2]).var(), "floating point", id="var-of-int"),
    _case(lambda m: m.tensor([1, 2]).std(), "floating point", id="std-of-int"),
    _case(lambda m: m.ones(3).masked_fill(m.tensor([1, 0, 1]), 0.0), "masked_fill", "bool", "int64", id="masked_fill-int-mask"),
    _case(lambda m: m.ones(3).masked_fill(m.ones(3), 0.0), "masked_fill", "float32", id="masked_fill-float-mask"),
    _case(lambda m: m.ones(3).masked_fill(m.tensor([True, False]), 0.0), "[2]", "[3]", id="masked_fill-mask-shape"),
    _case(lambda m: m.ones(3).masked_select(m.tensor([1, 0, 1])), "masked_select", "Bool", id="masked_select-int-mask"),
    _case(lambda m: m.where(m.tensor([1, 0]), m.ones(2), 0.0), "where", "bool", id="where-int-condition"),
    _case(lambda m: m.ones(2, dtype=m.int64).exp_(), "Long", id="int-exp_"),
    _case(lambda m: m.tensor([1, 2]).div_(2), "Float", "Long", id="int-div_"),
    _case(lambda m: m.tensor([1, 2]) ** -1, "negative", id="int-negative-power"),
    _case(lambda m: m.tensor([1.0]) & m.tensor([1.0]), "bitwise_and", "Float", id="float-bitwise-and"),
    _case(lambda m: ~m.tensor([1.0]), id="float-invert"),
    _case(lambda m: -m.tensor([True]), "bool", id="bool-negation"),
    _case(lambda m: m.tensor([True]) - m.tensor([False]), "bool", id="bool-subtraction"),
    _case(lambda m: m.tensor([True]).argmax(), "argmax", "bool", id="bool-argmax"),
    _case(lambda m: m.tensor([True]).abs(), "abs", "Bool", id="bool-abs"),
    _case(lambda m: m.tensor([1, 2], requires_grad=True), "floating point", id="int-requires-grad"),
    # scalars and conversion
    _case(lambda m: m.tensor([1, 2]).item(), "2 elements", id="item-multi-element"),
    _case(lambda m: m.ones(2, 3).item(), "6 elements", id="item-2d"),
    _case(lambda m: bool(m.tensor([1.0, 2.0])), "ambiguous", id="bool-ambiguous"),
    _case(lambda m: len(m.tensor(1.0)), "0-d", id="len-0d"),
    _case(lambda m: m.ones(2, requires_grad=True).numpy(), "detach", id="numpy-requires-grad"),
    # sort-like and sampling
    _case(lambda m: m.ones(3).topk(4), "k", id="topk-k"),
    _case(lambda m: m.ones(3).kthvalue(4), "k", id="kthvalue-k"),
    _case(lambda m: m.ones(3).kthvalue(0), "k", id="kthvalue-zero"),
    _case(lambda m: m.ones(3).multinomial(4), "n_sample", id="multinomial-too-many"),
    # creation
    _case(lambda m: m.zeros(-1), "negative", id="zeros-negative"),
    _case(lambda m: m.ones(2, -3), "negative", id="ones-negative"),
    _case(lambda m: m.full((-1,), 1.0), "negative", id="full-negative"),
    _case(lambda m: m.eye(-1), "-1", id="eye-negative"),
    _case(lambda m: m.arange(0, 5, 0), "step", id="arange-zero-step"),
    _case(lambda m: m.arange(5, 0), "bound", id="arange-wrong-direction"),
    _case(lambda m: m.linspace(0, 1, -1), "non-negative", id="linspace-negative-steps"),
    _case(lambda m: m.tensor([[1, 2], [3]]), id="ragged-list"),
    _case(lambda m: m.zeros(2, 3).view(-1, 4), "[-1, 4]", id="view-infer-incompatible"),
]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("fn,fragments", CASES)
def test_error_matches_torch(fn, fragments):
    with pytest.raises(Exception) as theirs:  # noqa: B017, PT011 - the type is what gets compared
        fn(torch)
    with pytest.raises(Exception) as ours:  # noqa: B017, PT011
        fn(backprop)
    expected = type(theirs.value)
    got = type(ours.value)
    assert got is expected or issubclass(got, expected), f"backprop raised {got.__name__}, torch {expected.__name__}: {ours.value}"
    message = str(ours.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in backprop's message {message!r}"


def test_broadcast_error_names_both_shapes():
    with pytest.raises(RuntimeError) as exc:
        backprop.ones(2, 3) + backprop.ones(4, 5)
    message = str(exc.value)
    assert re.search(r"\[2, 3\].*\[4, 5\]", message), message


def test_errors_are_raised_before_any_in_place_write():
    x = backprop.ones(3)
    with pytest.raises(RuntimeError):
        x.add_(backprop.ones(4))
    with pytest.raises(RuntimeError):
        backprop.tensor([1, 2]).div_(2)
    assert x.tolist() == [1.0, 1.0, 1.0]
    y = backprop.tensor([1, 2])
    with pytest.raises(RuntimeError):
        y.add_(1.5)
    assert y.tolist() == [1, 2] and y.dtype is backprop.int64


def test_out_argument_follows_torch():
    """``out=``: resized to the result with torch's warning, cast-checked, never through autograd."""
    for m in (backprop, torch):
        a = m.ones(3)
        out = m.zeros(2)
        with pytest.warns(UserWarning, match="was resized"):
            m.add(a, a, out=out)
        assert tuple(out.shape) == (3,) and out.tolist() == [2.0, 2.0, 2.0]
        empty = m.empty(0)
        m.mul(a, 3, out=empty)  # an empty out is resized without a warning
        assert empty.tolist() == [3.0, 3.0, 3.0]
        with pytest.raises(RuntimeError, match="can't be cast to the desired output type Long"):
            m.add(a, a, out=m.zeros(3, dtype=m.int64))
        with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
            m.mul(m.ones(3, requires_grad=True), 2, out=m.zeros(3))
        with m.no_grad():
            m.mul(m.ones(3, requires_grad=True), 2, out=out)
        assert out.tolist() == [2.0, 2.0, 2.0]
