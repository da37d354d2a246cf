"""The hot path's shortcuts give what the general code gives.

``Function.apply`` handles one or two plain Tensor arguments without its general loop, the
engine calls a primitive's array backward inline unless the profiler wraps it, nodes carry
one ``_hooked`` flag, and unary ops test autocast inline. Each test compares a shortcut
with the general path (or with torch) on the cases where they could part ways.
"""

from __future__ import annotations

import numpy
import pytest

import backprop as bp
from backprop.autograd.function import Function
from backprop.autograd.profiler import profile


class _Pair(Function):
    """Two tensors in, their product out; an optional third argument sends apply down its
    general loop (a non-Tensor argument)."""

    @staticmethod
    def forward(ctx, a, b, extra=None):
        ctx.save_for_backward(a, b)
        return a._data * b._data

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad * b, grad * a, None


class _One(Function):
    @staticmethod
    def forward(ctx, a, extra=None):
        return a._data * 2

    @staticmethod
    def backward(ctx, grad):
        return grad * 2, None


def _operands():
    """Tensors of every kind an op meets: leaf with/without grad, non-leaf, a view of a base
    modified in place after the view was taken, a non-leaf view."""
    leaf = bp.tensor([1.0, 2.0, 3.0], requires_grad=True)
    const = bp.tensor([4.0, 5.0, 6.0])
    inner = leaf * 3
    base = bp.cat([leaf, leaf[:1]]) * 1
    view = base[1:]
    base.mul_(2)  # the view's grad_fn must be refreshed when it is used
    return {
        "leaf": leaf,
        "const": const,
        "nonleaf": inner,
        "stale_view": view,
        "view": inner[:3],
    }


def _edges(node):
    return [(type(n).__name__ if n is not None else None, nr) for n, nr in node._edges[:2]]


@pytest.mark.parametrize("first", ["leaf", "const", "nonleaf", "stale_view", "view"])
@pytest.mark.parametrize("second", ["leaf", "const", "nonleaf", "stale_view", "view"])
def test_apply_two_tensor_shortcut_records_the_general_graph(first, second):
    ops = _operands()
    a, b = ops[first], ops[second]
    fast = _Pair.apply(a, b)
    general = _Pair.apply(a, b, "general")
    assert fast.requires_grad == general.requires_grad
    if not general.requires_grad:
        assert fast.grad_fn is None
        return
    assert fast.grad_fn.needs_input_grad == general.grad_fn.needs_input_grad[:2]
    assert _edges(fast.grad_fn) == _edges(general.grad_fn)
    assert [e[0] for e in fast.grad_fn._edges] == [e[0] for e in general.grad_fn._edges[:2]]
    assert fast.grad_fn._input_meta == general.grad_fn._input_meta[:2]
    for t in (a, b):
        if t.requires_grad:
            (g_fast,) = bp.autograd.grad(fast.sum(), [t], retain_graph=True)
            (g_general,) = bp.autograd.grad(general.sum(), [t], retain_graph=True)
            numpy.testing.assert_array_equal(g_fast.numpy(), g_general.numpy())


def test_apply_one_tensor_shortcut_on_a_view_of_a_modified_base():
    leaf = bp.tensor([1.0, 2.0, 3.0], requires_grad=True)
    base = leaf * 1
    view = base[1:]
    base.mul_(2)  # in place after the view was taken: the view's history is rebased on use
    fast = _One.apply(view)
    general = _One.apply(view, "general")
    assert fast.grad_fn._edges[0][0] is general.grad_fn._edges[0][0]
    assert fast.grad_fn._edges[0][0] is view.grad_fn
    fast.sum().backward()
    numpy.testing.assert_array_equal(leaf.grad.numpy(), [0.0, 4.0, 4.0])


def test_apply_two_tensors_on_two_devices_takes_the_general_path(device):
    if device == "cpu":
        pytest.skip("needs a second device")
    x = bp.tensor([1.0, 2.0], requires_grad=True, device=device)
    s = bp.tensor(3.0, requires_grad=True)  # a 0-d CPU tensor joins the other device, as torch
    out = _Pair.apply(x, s)
    assert out.device == x.device
    out.sum().backward()
    numpy.testing.assert_allclose(s.grad.cpu().numpy(), 3.0)


def test_profiler_still_sees_every_backward_node():
    x = bp.tensor([0.5, 1.5], requires_grad=True)
    with profile() as prof:
        ((x * x).exp() - x).sum().backward()
    keys = {e.key for e in prof.key_averages()}
    assert {"Mul", "Exp", "Sub", "MulBackward0", "ExpBackward0", "SubBackward0"} <= keys
    numpy.testing.assert_allclose(x.grad.numpy(), 2 * numpy.array([0.5, 1.5]) * numpy.exp([0.25, 2.25]) - 1, rtol=1e-6)


def test_anomaly_trace_ends_at_the_callers_line():
    x = bp.tensor([1.0, -1.0], requires_grad=True)
    with bp.autograd.detect_anomaly():
        unary = x.exp()  # the one-output link inline in apply
        binary = x * x  # likewise, through the Tensor operator
        split = x.split(1)  # several outputs: _link_outputs
    for t in (unary, binary, split[0]):
        last = t.grad_fn._trace.rstrip().splitlines()[-4:]  # the op's own frame may come last
        assert any("test_autograd_fast_paths.py" in line for line in last), last


def test_hooks_registered_on_nodes_run_and_removed_hooks_stop():
    x = bp.tensor([1.0, 2.0], requires_grad=True)
    calls = []
    y = x * 2
    z = y.exp()
    h1 = z.grad_fn.register_prehook(lambda go: calls.append("pre"))
    h2 = z.grad_fn.register_hook(lambda gi, go: calls.append("post"))
    h3 = y.register_hook(lambda g: calls.append("tensor"))
    y.retain_grad()
    z.sum().backward(retain_graph=True)
    assert calls == ["pre", "post", "tensor"]
    assert y.grad is not None
    for h in (h1, h2, h3):
        h.remove()
    calls.clear()
    z.sum().backward()
    assert calls == []


@pytest.mark.parametrize("name", ["exp", "sin", "tanh", "log", "sqrt", "sigmoid"])
def test_unary_ops_under_autocast_follow_torch(name):
    torch = pytest.importorskip("torch")
    a = numpy.array([0.5, 1.25, 2.0], dtype=numpy.float32)
    with torch.autocast("cpu"):
        theirs = getattr(torch, name)(torch.tensor(a))
    with bp.autocast("cpu"):
        ours = getattr(bp, name)(bp.tensor(a))
        ours_method = getattr(bp.tensor(a), name)()
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    assert ours_method.dtype == ours.dtype
    numpy.testing.assert_allclose(ours.float().numpy(), theirs.float().numpy(), rtol=1e-2)


def test_unary_ops_on_integers_and_out():
    i = bp.tensor([1, 2, 3])
    assert bp.exp(i).dtype == bp.float32
    out = bp.empty(3)
    r = bp.sin(bp.tensor([0.0, 1.0, 2.0]), out=out)
    assert r is out
    numpy.testing.assert_allclose(out.numpy(), numpy.sin([0.0, 1.0, 2.0]), rtol=1e-6)
    with pytest.raises(TypeError, match=r"exp\(\): argument 'input' \(position 1\) must be Tensor, not list"):
        bp.exp([1.0])


def test_a_ctx_made_outside_apply_saves_tensors():
    """``FunctionCtx()`` built by hand (as some programs do to call a Function's forward directly)."""
    from backprop.autograd.function import FunctionCtx

    ctx = FunctionCtx()
    t = bp.ones(2)
    ctx.save_for_backward(t)
    with pytest.raises(TypeError, match="save_for_backward can only save variables"):
        FunctionCtx().save_for_backward(3)
