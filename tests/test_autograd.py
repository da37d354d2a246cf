"""Autograd semantics against PyTorch 2.13.

Each test runs the same code on ``backprop`` and on ``torch`` (the framework is passed in as
``m``) and compares values, gradients, flags and exception types. Sections follow the
autograd contract: broadcasting and accumulation, graph freeing and higher-order gradients,
``autograd.grad``, ``backward(inputs=...)``, grad modes, custom ``Function``s, gradcheck,
anomaly detection, version counters, in-place semantics, backward errors, the engine on
deep/wide graphs, hooks, the README example, gradient dtypes and freed saved tensors.
"""

from __future__ import annotations

import gc
import sys
import time
import warnings

import numpy as np
import pytest
import torch

import backprop as bp

FRAMEWORKS = (bp, torch)


# ============================================================================ helpers
def arr(shape, seed=0, dtype="float32", low=None, high=None):
    """A reproducible random array (normal, or uniform in [low, high])."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape) if low is None else rng.uniform(low, high, shape)
    return np.asarray(a, dtype=dtype)


def leaf(m, a, requires_grad=True):
    """A leaf tensor of framework ``m`` holding a copy of array ``a``."""
    return m.tensor(np.array(a), requires_grad=requires_grad)


def np_of(t):
    return None if t is None else t.detach().numpy().copy()


def dtype_name(t) -> str:
    return str(t.dtype).replace("torch.", "").replace("backprop.", "")


def assert_same(ours, theirs, rtol=1e-5, atol=1e-6, what=""):
    """A backprop result equals torch's: both None, or same shape, dtype and values."""
    if theirs is None:
        assert ours is None, f"{what}: expected None like torch, got {ours!r}"
        return
    if isinstance(theirs, (tuple, list)):
        assert isinstance(ours, (tuple, list)) and len(ours) == len(theirs), f"{what}: {ours!r} vs {theirs!r}"
        for i, (o, t) in enumerate(zip(ours, theirs)):
            assert_same(o, t, rtol, atol, f"{what}[{i}]")
        return
    if not isinstance(theirs, torch.Tensor):
        assert ours == theirs, f"{what}: {ours!r} != torch {theirs!r}"
        return
    assert isinstance(ours, bp.Tensor), f"{what}: expected a Tensor, got {type(ours).__name__}"
    assert tuple(ours.shape) == tuple(theirs.shape), f"{what}: shape {tuple(ours.shape)} != {tuple(theirs.shape)}"
    assert dtype_name(ours) == dtype_name(theirs), f"{what}: dtype {ours.dtype} != {theirs.dtype}"
    np.testing.assert_allclose(np_of(ours), np_of(theirs), rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def both(fn, rtol=1e-5, atol=1e-6):
    """Run ``fn(m)`` on both frameworks and assert the (nested) results agree."""
    ours, theirs = fn(bp), fn(torch)
    assert_same(ours, theirs, rtol, atol, getattr(fn, "__name__", "result"))
    return ours, theirs


def error_of(fn, m):
    try:
        fn(m)
    except Exception as exc:  # noqa: BLE001 - the type is what is compared
        return exc
    return None


def raises_like_torch(fn, expected=RuntimeError, match=None):
    """``fn(m)`` raises on torch and raises the same exception type on backprop."""
    theirs = error_of(fn, torch)
    assert theirs is not None, "torch did not raise: the test premise is wrong"
    assert isinstance(theirs, expected), f"torch raised {type(theirs).__name__}: {theirs}"
    ours = error_of(fn, bp)
    assert ours is not None, f"backprop did not raise (torch raised {type(theirs).__name__}: {theirs})"
    assert isinstance(ours, type(theirs)), f"backprop raised {type(ours).__name__}: {ours}; torch {type(theirs).__name__}"
    if match is not None:
        for exc in (ours, theirs):
            assert match in str(exc), f"{match!r} not in {exc}"
    return ours, theirs


def gradcheck_error(m):
    return sys.modules[m.autograd.__name__ + ".gradcheck"].GradcheckError


@pytest.fixture(autouse=True)
def _restore_global_modes():
    """Anomaly mode and torch grad mode are process-wide: reset them after every test."""
    yield
    bp.autograd.set_detect_anomaly(False)
    torch.autograd.set_detect_anomaly(False)
    torch.set_grad_enabled(True)


# ============================================================================ broadcasting & accumulation
def test_broadcast_gradients_are_reduced_to_input_shapes():
    """Each input's gradient has that input's shape after a broadcasting expression."""

    def fn(m):
        a = leaf(m, arr((2, 3, 4), 1))
        b = leaf(m, arr((3, 1), 2))
        c = leaf(m, arr((), 3))
        d = leaf(m, arr((1, 4), 4))
        out = ((a * b + c) / (d * d + 1) - b).exp().sum()
        out.backward()
        return [t.grad for t in (a, b, c, d)]

    ours, _ = both(fn, rtol=1e-4, atol=1e-5)
    assert [tuple(g.shape) for g in ours] == [(2, 3, 4), (3, 1), (), (1, 4)]


def test_broadcast_batched_matmul_gradient_reduced():
    def fn(m):
        a = leaf(m, arr((2, 3, 4), 1))
        b = leaf(m, arr((4, 5), 2))
        (a @ b).tanh().sum().backward()
        return a.grad, b.grad

    both(fn, rtol=1e-4, atol=1e-5)


def test_gradients_accumulate_until_zeroed():
    """.grad sums over backward calls; ``grad = None`` and ``grad.zero_()`` reset it."""

    def fn(m):
        x = leaf(m, arr((3,), 1))
        seen = []
        for _ in range(3):
            (x * x).sum().backward()
            seen.append(x.grad.clone())
        x.grad = None
        (x * 3).sum().backward()
        seen.append(x.grad.clone())
        g = x.grad
        x.grad.zero_()
        (x * 5).sum().backward()
        seen.append(x.grad.clone())
        seen.append(x.grad is g)  # accumulation after zero_ writes into the same tensor
        return seen

    ours, _ = both(fn)
    np.testing.assert_allclose(np_of(ours[2]), 3 * np_of(ours[0]), rtol=1e-6)
    assert ours[-1] is True


def test_leaves_receiving_same_gradient_do_not_share_memory():
    """(a + b).sum(): in-place changes to a.grad must not leak into b.grad."""

    def fn(m):
        a = leaf(m, arr((4,), 1))
        b = leaf(m, arr((4,), 2))
        (a + b).sum().backward()
        a.grad.add_(10)
        return b.grad

    ours, _ = both(fn)
    np.testing.assert_array_equal(np_of(ours), np.ones(4, dtype=np.float32))


def test_leaf_grad_does_not_alias_explicit_root_gradient():
    """The ``gradient`` passed to backward is copied, not stored, in the leaves' .grad."""

    def fn(m):
        a = leaf(m, arr((3,), 1))
        b = leaf(m, arr((3,), 2))
        g = m.ones(3)
        (a + b).backward(g)
        g.mul_(7)
        a.grad.add_(1)
        return a.grad, b.grad, g

    both(fn)


def test_leaf_used_twice_and_expanded_grad_is_independent():
    def fn(m):
        a = leaf(m, arr((1, 3), 1))
        b = leaf(m, arr((2, 3), 2))
        (a.expand(2, 3) + b + a).sum().backward()
        b.grad.mul_(0)
        return a.grad, b.grad

    both(fn)


def test_accumulation_into_grad_left_by_create_graph_backward():
    """A plain backward adds in place into an existing .grad, even one with a grad_fn (torch semantics)."""

    def fn(m):
        x = leaf(m, arr((3,), 1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (x**2).sum().backward(create_graph=True)
        g = x.grad
        (x**2).sum().backward()
        return x.grad is g, x.grad.requires_grad, x.grad

    ours, _ = both(fn)
    assert ours[:2] == (True, True)


def test_create_graph_leaves_receiving_same_gradient_do_not_share_grad():
    def fn(m):
        a = leaf(m, arr((3,), 1))
        b = leaf(m, arr((3,), 2))
        w = leaf(m, arr((3,), 3))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ((a + b) * w).sum().backward(create_graph=True)
        shared = a.grad is b.grad
        ((a + b) * w).sum().backward()  # accumulates into each .grad once
        first = (a.grad.clone(), b.grad.clone())
        with m.no_grad():
            a.grad.add_(100)
        return shared, first, b.grad, a.grad.requires_grad

    ours, _ = both(fn)
    assert ours[0] is False


def test_grad_setter_validates_shape_and_dtype():
    for bad in (lambda m: m.zeros(4), lambda m: m.zeros(3, dtype=m.float64)):
        raises_like_torch(lambda m, bad=bad: setattr(leaf(m, arr((3,), 1)), "grad", bad(m)), RuntimeError)

    def ok(m):
        x = leaf(m, arr((3,), 1))
        x.grad = m.ones(3)
        (x * 2).sum().backward()
        return x.grad

    both(ok)


# ============================================================================ graph freeing & higher order
def test_second_backward_through_saved_tensors_raises():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = (x * x).exp().sum()
        y.backward()
        y.backward()

    raises_like_torch(fn, RuntimeError, match="backward through the graph a second time")


DOUBLE_BACKWARD_CASES = {
    "add_scalar": lambda x: (x + 1).sum(),
    "mul_scalar": lambda x: (x * 2).sum(),
    "sum": lambda x: x.sum(),
    "mean": lambda x: x.mean(),
    "mul_self": lambda x: (x * x).sum(),
    "slice": lambda x: x[1:].sum(),
    "reshape": lambda x: x.reshape(3, 1).sum(),
    "exp": lambda x: x.exp().sum(),
    "sub_sum_dim": lambda x: (x - 1).sum(dim=0),
}


@pytest.mark.parametrize("name", list(DOUBLE_BACKWARD_CASES))
def test_second_backward_raises_exactly_when_torch_does(name):
    """Nodes that saved no tensor can be backpropagated through twice (torch frees only saved tensors)."""
    outcome = {}
    for m in FRAMEWORKS:
        x = leaf(m, arr((3,), 1))
        y = DOUBLE_BACKWARD_CASES[name](x)
        y.backward()
        err = error_of(lambda m, y=y: y.backward(), m)
        outcome[m] = (type(err).__name__ if err else None, np_of(x.grad).tolist())
    np.testing.assert_allclose(outcome[bp][1], outcome[torch][1], rtol=1e-6)
    assert outcome[bp][0] == outcome[torch][0]


def test_autograd_grad_frees_graph_too():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = x.sin().sum()
        m.autograd.grad(y, x)
        m.autograd.grad(y, x)

    raises_like_torch(fn, RuntimeError)


def test_retain_graph_allows_second_backward():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = (x * x).exp().sum()
        y.backward(retain_graph=True)
        first = x.grad.clone()
        y.backward()
        return first, x.grad

    ours, _ = both(fn, rtol=1e-5)
    np.testing.assert_allclose(np_of(ours[1]), 2 * np_of(ours[0]), rtol=1e-6)


def test_second_derivative_of_cube():
    """d2/dx2 x**3 = 6x, and d3/dx3 = 6."""

    def fn(m):
        x = leaf(m, arr((4,), 1))
        y = (x**3).sum()
        (g,) = m.autograd.grad(y, x, create_graph=True)
        (h,) = m.autograd.grad(g.sum(), x, create_graph=True)
        (t,) = m.autograd.grad(h.sum(), x)
        return g, h, t, g.requires_grad, h.requires_grad

    ours, _ = both(fn, rtol=1e-5)
    np.testing.assert_allclose(np_of(ours[1]), 6 * arr((4,), 1), rtol=1e-5)
    np.testing.assert_allclose(np_of(ours[2]), np.full(4, 6.0), rtol=1e-5)


def test_second_derivative_of_sin_and_of_a_composition():
    def fn(m):
        x = leaf(m, arr((5,), 2))
        y = x.sin()
        (g,) = m.autograd.grad(y.sum(), x, create_graph=True)
        (h,) = m.autograd.grad(g.sum(), x)
        z = (x.tanh() * x.exp()).sum()
        (gz,) = m.autograd.grad(z, x, create_graph=True)
        (hz,) = m.autograd.grad(gz.sum(), x)
        return g, h, hz

    ours, _ = both(fn, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np_of(ours[1]), -np.sin(arr((5,), 2)), rtol=1e-5, atol=1e-6)


def test_hessian_vector_product():
    def fn(m):
        A = m.tensor(arr((4, 4), 3))
        x = leaf(m, arr((4,), 4))
        v = m.tensor(arr((4,), 5))
        f = (x @ A @ x) + (x**4).sum() + x.sin().prod()
        (g,) = m.autograd.grad(f, x, create_graph=True)
        (hv,) = m.autograd.grad(g, x, grad_outputs=v)
        return g, hv

    both(fn, rtol=1e-4, atol=1e-5)


def test_gradient_penalty_backward_through_grad():
    """``grad(out, x, create_graph=True)`` then a penalty on it, backpropagated to the weights."""

    def fn(m):
        w = leaf(m, arr((3, 4), 1))
        b = leaf(m, arr((4,), 2))
        x = leaf(m, arr((5, 3), 3))
        out = (x @ w + b).tanh().sum()
        (gx,) = m.autograd.grad(out, x, create_graph=True)
        penalty = ((gx.pow(2).sum(dim=1) + 1e-6).sqrt() - 1).pow(2).mean()
        penalty.backward()
        return w.grad, b.grad, x.grad

    both(fn, rtol=1e-4, atol=1e-5)


def test_backward_create_graph_makes_differentiable_grad():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about the .grad reference cycle
            (x**3).sum().backward(create_graph=True)
        g = x.grad
        (h,) = m.autograd.grad(g.sum(), x)
        return g, g.requires_grad, h

    both(fn, rtol=1e-5)


# ============================================================================ autograd.grad
def test_grad_matches_torch_and_leaves_dot_grad_untouched():
    def fn(m):
        a = leaf(m, arr((2, 3), 1))
        b = leaf(m, arr((3,), 2))
        out = (a * b).sigmoid().sum()
        ga, gb = m.autograd.grad(out, [a, b])
        return ga, gb, a.grad, b.grad

    ours, _ = both(fn, rtol=1e-5)
    assert ours[2] is None and ours[3] is None


def test_grad_returns_tuple_for_single_input():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        res = m.autograd.grad((x * 2).sum(), x)
        return type(res).__name__, len(res), res[0]

    both(fn)


def test_grad_unused_input_raises_unless_allow_unused():
    def unused(m):
        x = leaf(m, arr((3,), 1))
        z = leaf(m, arr((3,), 2))
        m.autograd.grad((x * 2).sum(), [x, z])

    raises_like_torch(unused, RuntimeError, match="allow_unused")

    def allowed(m):
        x = leaf(m, arr((3,), 1))
        z = leaf(m, arr((3,), 2))
        return m.autograd.grad((x * 2).sum(), [x, z], allow_unused=True)

    ours, _ = both(allowed)
    assert ours[1] is None

    def materialized(m):
        x = leaf(m, arr((3,), 1))
        z = leaf(m, arr((2, 2), 2))
        return m.autograd.grad((x * 2).sum(), [x, z], materialize_grads=True)

    ours, _ = both(materialized)
    np.testing.assert_array_equal(np_of(ours[1]), np.zeros((2, 2), np.float32))


def test_grad_materialize_with_allow_unused_false_is_an_error():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        m.autograd.grad((x * 2).sum(), [x], allow_unused=False, materialize_grads=True)

    raises_like_torch(fn, ValueError)


def test_grad_input_not_requiring_grad_raises():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        c = m.tensor(arr((3,), 2))
        m.autograd.grad((x * c).sum(), [x, c])

    raises_like_torch(fn, RuntimeError)


def test_grad_with_respect_to_non_leaf():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = x * 2 + 1
        z = (y**2).sum() + (x * y).sum()
        gy, gx = m.autograd.grad(z, [y, x])
        return gy, gx, x.grad

    both(fn, rtol=1e-5)


def test_grad_multiple_outputs_with_grad_outputs():
    def fn(m):
        x = leaf(m, arr((2, 3), 1))
        w = leaf(m, arr((3,), 2))
        y1 = x * w
        y2 = (x.exp() * w).sum(dim=0)
        g1 = m.tensor(arr((2, 3), 3))
        g2 = m.tensor(arr((3,), 4))
        return m.autograd.grad([y1, y2], [x, w], grad_outputs=[g1, g2])

    both(fn, rtol=1e-5)


def test_grad_of_non_scalar_without_grad_outputs_raises():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        m.autograd.grad(x * 2, x)

    raises_like_torch(fn, RuntimeError)


def test_grad_retain_graph_and_create_graph_defaults():
    """retain_graph defaults to create_graph: with create_graph the graph survives."""

    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = (x.exp() * x).sum()
        (g1,) = m.autograd.grad(y, x, create_graph=True)
        (g2,) = m.autograd.grad(y, x)  # graph still there
        return g1, g2, g1.requires_grad, g2.requires_grad

    both(fn, rtol=1e-5)


def test_grad_output_is_the_input_itself():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        return m.autograd.grad(x, x, m.tensor(arr((3,), 2)))

    both(fn)


def test_grad_of_output_not_requiring_grad_raises():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        m.autograd.grad([x.sum(), m.ones(3).sum()], x)

    raises_like_torch(fn, RuntimeError, match="does not require grad")


def test_grad_applies_tensor_hooks_of_captured_non_leaf_and_retain_grad():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = x * 2
        y.retain_grad()
        y.register_hook(lambda g: g * 10)
        (gy,) = m.autograd.grad((y * y).sum(), y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return gy, y.grad, x.grad

    ours, _ = both(fn)
    assert ours[1] is not None  # retain_grad hooks run during autograd.grad too


def test_grad_with_0d_grad_outputs():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        return m.autograd.grad((x * x).sum(), x, grad_outputs=m.tensor(3.0))

    both(fn)


# ============================================================================ backward(inputs=...)
def test_backward_inputs_accumulates_only_into_given_tensors():
    def fn(m):
        a = leaf(m, arr((3,), 1))
        b = leaf(m, arr((3,), 2))
        c = leaf(m, arr((3,), 3))
        loss = (a * b * c).sum()
        loss.backward(inputs=[a, c], retain_graph=True)
        first = (a.grad.clone(), b.grad, c.grad.clone())
        loss.backward(inputs=[a])
        return first, a.grad, b.grad, c.grad

    ours, _ = both(fn, rtol=1e-5)
    assert ours[0][1] is None and ours[2] is None


def test_backward_inputs_non_leaf_gets_grad():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = x * 3
        (y**2).sum().backward(inputs=[y])
        return y.grad, x.grad

    both(fn)


def test_backward_inputs_grads_are_owned_writable_tensors():
    """Grads stored through ``inputs=`` are not broadcast views, shared arrays or the caller's gradient."""

    def fn(m):
        x = leaf(m, arr((3,), 1))
        y1, y2 = x * 2, x * 3
        a, b = leaf(m, arr((3,), 2)), leaf(m, arr((3,), 3))
        (y1 + y2 + a + b).sum().backward(inputs=[y1, y2, a, b])
        y1.grad.add_(5)
        a.grad.add_(5)
        g = m.ones(3)
        y3 = x * 4
        y3.backward(g, inputs=[y3])
        g.add_(1)
        return y1.grad, y2.grad, a.grad, b.grad, y3.grad

    both(fn)


def test_autograd_backward_function_with_inputs_and_multiple_roots():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        w = leaf(m, arr((3,), 2))
        y1 = (x * w).sum()
        y2 = x * w.exp()
        m.autograd.backward([y1, y2], [m.tensor(2.0), m.tensor(arr((3,), 3))], inputs=[w])
        return x.grad, w.grad

    both(fn, rtol=1e-5)


def test_backward_inputs_empty_raises():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        (x * 2).sum().backward(inputs=[])

    raises_like_torch(fn, RuntimeError)


def test_backward_inputs_runs_leaf_hooks_once():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        calls = []
        x.register_hook(lambda g: calls.append(1) or g * 2)
        (x * x).sum().backward(inputs=[x])
        return x.grad, len(calls)

    both(fn)


# ============================================================================ grad modes
def test_no_grad_context_and_requires_grad_of_results():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        with m.no_grad():
            y = x * 2
            inside = m.is_grad_enabled()
        z = x * 2
        return y.requires_grad, y.is_leaf, y.grad_fn is None, inside, z.requires_grad, m.is_grad_enabled()

    ours, _ = both(fn)
    assert ours == (False, True, True, False, True, True)


def test_nested_grad_modes():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        flags = []
        with m.no_grad():
            flags.append((x * 2).requires_grad)
            with m.enable_grad():
                flags.append((x * 2).requires_grad)
                with m.set_grad_enabled(False):
                    flags.append((x * 2).requires_grad)
                flags.append(m.is_grad_enabled())
            flags.append(m.is_grad_enabled())
            with m.inference_mode():
                flags.append((x * 2).requires_grad)
            with m.inference_mode(False):
                flags.append(m.is_grad_enabled())
        flags.append(m.is_grad_enabled())
        return flags

    ours, _ = both(fn)
    assert ours == [False, True, False, True, False, False, True, True]  # inference_mode(False) enables grad


def test_grad_mode_restored_after_exception():
    def fn(m):
        with pytest.raises(ValueError):
            with m.no_grad():
                raise ValueError
        a = m.is_grad_enabled()
        with pytest.raises(ValueError):
            with m.inference_mode():
                raise ValueError
        return a, m.is_grad_enabled(), m.is_inference_mode_enabled()

    assert both(fn)[0] == (True, True, False)


def test_grad_mode_decorators():
    def fn(m):
        x = leaf(m, arr((3,), 1))

        @m.no_grad()
        def f1(t):
            return t * 2, m.is_grad_enabled()

        @m.no_grad
        def f2(t):
            return t * 2

        @m.enable_grad()
        def f3(t):
            return t * 2

        @m.set_grad_enabled(False)
        def f4(t):
            return t * 2

        @m.inference_mode()
        def f5(t):
            return t * 2, m.is_inference_mode_enabled()

        @m.inference_mode
        def f6(t):
            return t * 2

        after_decorating = m.is_grad_enabled()
        r1, g1 = f1(x)
        r5, i5 = f5(x)
        with m.no_grad():
            r3 = f3(x)
        return (
            after_decorating,
            r1.requires_grad,
            g1,
            f2(x).requires_grad,
            r3.requires_grad,
            f4(x).requires_grad,
            r5.requires_grad,
            i5,
            f6(x).requires_grad,
            m.is_grad_enabled(),
            f1.__name__,
        )

    ours, _ = both(fn)
    assert ours == (True, False, False, False, True, False, False, True, False, True, "f1")


def test_grad_mode_decorator_on_generator_function():
    """Each step of a decorated generator runs in the mode; the consumer keeps its own."""

    def fn(m):
        x = leaf(m, arr((3,), 1))

        @m.no_grad()
        def gen(n):
            for _ in range(n):
                received = yield (x * 2).requires_grad, m.is_grad_enabled()
                assert received is None or received == "sent"

        @m.enable_grad()
        def gen_enable():
            yield (x * 2).requires_grad

        seen = []
        g = gen(3)
        seen.append(next(g))
        seen.append(("consumer", m.is_grad_enabled(), (x * 2).requires_grad))
        seen.append(g.send("sent"))
        seen.extend(g)
        with m.no_grad():
            seen.extend(gen_enable())
        return seen

    ours, _ = both(fn)
    assert ours[0] == (False, False) and ours[1] == ("consumer", True, True) and ours[-1] is True


def test_set_grad_enabled_as_plain_function():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        m.set_grad_enabled(False)
        off = (x * 2).requires_grad, m.is_grad_enabled()
        m.set_grad_enabled(True)
        on = (x * 2).requires_grad, m.is_grad_enabled()
        with m.set_grad_enabled(False):
            inside = m.is_grad_enabled()
        return off, on, inside, m.is_grad_enabled()

    ours, _ = both(fn)
    assert ours == ((False, False), (True, True), False, True)


def test_results_requires_grad_rules():
    """requires_grad propagates through ops from any input; detach and integer results cut it."""

    def fn(m):
        x = leaf(m, arr((3,), 1))
        c = m.tensor(arr((3,), 2))
        return (
            (x + c).requires_grad,
            (c * 2).requires_grad,
            x.detach().requires_grad,
            (x > 0).requires_grad,
            x.argmax().requires_grad,
            x.sum().is_leaf,
            x.is_leaf,
            c.is_leaf,
            x.detach().is_leaf,
        )

    ours, _ = both(fn)
    assert ours == (True, False, False, False, False, False, True, True, True)


def test_inference_mode_false_enables_grad():
    """``inference_mode(False)`` turns grad mode on (even inside no_grad/inference_mode), as torch's does."""

    def fn(m):
        x = leaf(m, arr((3,), 1))
        out = []
        for outer in (m.no_grad, m.inference_mode):
            with outer():
                with m.inference_mode(False):
                    out.append((m.is_grad_enabled(), m.is_inference_mode_enabled(), (x * 2).requires_grad))
                out.append((m.is_grad_enabled(), m.is_inference_mode_enabled()))
        return out

    ours, _ = both(fn)
    assert ours[0] == (True, False, True)


def test_requires_grad_flag_on_results_of_no_grad_and_non_leaf():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        with m.no_grad():
            y = x * 2
        y.requires_grad_()  # a new leaf
        (y * y).sum().backward()
        z = x * 2
        z.requires_grad_(True)  # a no-op on a non-leaf that requires grad
        return y.is_leaf, y.grad, x.grad, z.requires_grad, z.is_leaf

    both(fn)


def test_detach_inplace():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = x * 2
        y.detach_()
        return y.requires_grad, y.is_leaf, y.grad_fn is None

    ours, _ = both(fn)
    assert ours == (False, True, True)
    raises_like_torch(lambda m: leaf(m, arr((3,), 1))[1:].detach_(), RuntimeError, match="Can't detach views in-place")


def test_grad_mode_restored_after_error_in_backward():
    def fn(m):
        class Boom(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 1

            @staticmethod
            def backward(ctx, g):
                raise ValueError("boom")

        x = leaf(m, arr((3,), 1))
        with pytest.raises(ValueError, match="boom"):
            Boom.apply(x).sum().backward()
        return m.is_grad_enabled(), (x * 2).requires_grad

    assert both(fn)[0] == (True, True)


def test_backward_inside_no_grad_still_computes_grads():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = (x**2).sum()
        with m.no_grad():
            y.backward()
        return x.grad

    both(fn)


# ============================================================================ custom Functions
def make_functions(m):
    """A family of custom autograd Functions written once against framework ``m``."""
    F = m.autograd.Function

    class Cube(F):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x**2 * g

    class Scale(F):
        needs = []

        @staticmethod
        def forward(ctx, x, y, factor, label):
            Scale.needs.append(tuple(ctx.needs_input_grad))
            ctx.factor = factor
            ctx.label = label
            ctx.save_for_backward(x, y)
            return x * y * factor

        @staticmethod
        def backward(ctx, g):
            x, y = ctx.saved_tensors
            assert ctx.label == "lbl"
            gx = g * y * ctx.factor if ctx.needs_input_grad[0] else None
            gy = g * x * ctx.factor if ctx.needs_input_grad[1] else None
            return gx, gy, None, None

    class SplitTwo(F):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g1, g2):
            return g1 * 2 + g2 * 3

    class NoMaterialize(F):
        seen = []

        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g1, g2):
            NoMaterialize.seen.append((g1 is None, g2 is None))
            out = 0
            if g1 is not None:
                out = out + g1 * 2
            if g2 is not None:
                out = out + g2 * 3
            return out

    class SortWithIndex(F):
        @staticmethod
        def forward(ctx, x):
            values, idx = x.sort()
            mask = values > 0
            ctx.mark_non_differentiable(idx, mask)
            ctx.save_for_backward(idx)
            return values, idx, mask

        @staticmethod
        def backward(ctx, g, g_idx, g_mask):
            (idx,) = ctx.saved_tensors
            out = m.zeros_like(g)
            out.scatter_(0, idx, g)
            return out

    class NonDiffFloat(F):
        @staticmethod
        def forward(ctx, x):
            a, b = x * 2, x + 1
            ctx.mark_non_differentiable(b)
            return a, b

        @staticmethod
        def backward(ctx, ga, gb):
            return ga * 2

    class MulTwoInplace(F):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class FirstOnly(F):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g, None

    class SetupCube(F):
        @staticmethod
        def forward(x, power):
            return x**power

        @staticmethod
        def setup_context(ctx, inputs, output):
            x, power = inputs
            ctx.power = power
            ctx.save_for_backward(x, output)

        @staticmethod
        def backward(ctx, g):
            x, out = ctx.saved_tensors
            return g * ctx.power * x ** (ctx.power - 1), None

    class OnceExp(F):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        @m.autograd.function.once_differentiable
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    class WrongShape(F):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return m.ones(5)

    class BroadcastGrad(F):
        @staticmethod
        def forward(ctx, x):
            return x.sum()

        @staticmethod
        def backward(ctx, g):
            return g * m.ones(2, 3)  # expandable to the input's (3,): summed back

    class TooManyGrads(F):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g, g

    class WrongBackward(F):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x.cos() * 1.1  # deliberately wrong

    class DetachedBackward(F):
        """Right first derivative, but its backward is not differentiable w.r.t. x."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x.detach() ** 2

    class NanGrad(F):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            return g * float("nan")

    return {k: v for k, v in locals().items() if isinstance(v, type)}


@pytest.fixture(scope="module")
def fns():
    return {bp: make_functions(bp), torch: make_functions(torch)}


def test_custom_function_save_for_backward_and_double_backward(fns):
    def fn(m):
        x = leaf(m, arr((4,), 1))
        y = fns[m]["Cube"].apply(x)
        (g,) = m.autograd.grad(y.sum(), x, create_graph=True)
        (h,) = m.autograd.grad(g.sum(), x)
        y2 = fns[m]["Cube"].apply(x)
        y2.sum().backward()
        return y, g, h, x.grad

    both(fn, rtol=1e-5)


def test_custom_function_needs_input_grad_and_non_tensor_args(fns):
    def fn(m):
        Scale = fns[m]["Scale"]
        Scale.needs.clear()
        x = leaf(m, arr((3,), 1))
        y = leaf(m, arr((3,), 2), requires_grad=False)
        out = Scale.apply(x, y, 2.5, "lbl")
        out.sum().backward()
        with m.no_grad():
            Scale.apply(x, y, 1.0, "lbl")
        return out, x.grad, y.grad, list(Scale.needs)

    ours, _ = both(fn)
    assert ours[3] == [(True, False, False, False)] * 2  # reflects requires_grad even under no_grad


def test_custom_function_name_in_grad_fn(fns):
    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = fns[m]["Cube"].apply(x)
        z = fns[m]["SetupCube"].apply(x, 2)
        return y.grad_fn.name(), z.grad_fn.name(), "CubeBackward object" in repr(y.grad_fn)

    ours, _ = both(fn)
    assert ours == ("CubeBackward", "SetupCubeBackward", True)


def test_custom_function_grad_fn_edges(fns):
    def fn(m):
        x = leaf(m, arr((3,), 1))
        c = m.tensor(arr((3,), 2))
        y = fns[m]["Scale"].apply(x * 2, c, 1.0, "lbl")
        nf = y.grad_fn.next_functions
        return len(nf), nf[0][0].name(), nf[1][0] is None

    ours, _ = both(fn)
    assert ours == (2, "MulBackward0", True)  # one edge per tensor argument, as torch


def test_custom_function_multiple_outputs(fns):
    def fn(m):
        x = leaf(m, arr((3,), 1))
        a, b = fns[m]["SplitTwo"].apply(x)
        (a * b).sum().backward(retain_graph=True)
        g_both = x.grad.clone()
        x.grad = None
        a.sum().backward()  # b's gradient is materialized as zeros
        return a.grad_fn is b.grad_fn, a.output_nr, b.output_nr, g_both, x.grad

    ours, _ = both(fn)
    assert ours[:3] == (True, 0, 1)


def test_custom_function_set_materialize_grads_false(fns):
    def fn(m):
        NoMat = fns[m]["NoMaterialize"]
        NoMat.seen.clear()
        x = leaf(m, arr((3,), 1))
        a, b = NoMat.apply(x)
        a.sum().backward()
        return x.grad, list(NoMat.seen)

    ours, _ = both(fn)
    assert ours[1] == [(False, True)]


def test_custom_function_mark_non_differentiable(fns):
    def fn(m):
        x = leaf(m, arr((5,), 1))
        values, idx, mask = fns[m]["SortWithIndex"].apply(x)
        (values * m.arange(5.0)).sum().backward()
        a, b = fns[m]["NonDiffFloat"].apply(x)
        return (values.requires_grad, idx.requires_grad, mask.requires_grad, idx.dtype == m.int64,
                x.grad, a.requires_grad, b.requires_grad, b.grad_fn is None)

    ours, _ = both(fn)
    assert ours[:4] == (True, False, False, True) and ours[5:] == (True, False, True)


def test_custom_function_mark_dirty_inplace(fns):
    def fn(m):
        x = leaf(m, arr((3,), 1))
        a = x.clone()
        v0 = a._version
        out = fns[m]["MulTwoInplace"].apply(a)
        (out * out).sum().backward()
        return out is a, a.grad_fn.name(), a._version > v0, a, x.grad

    ours, _ = both(fn)
    assert ours[:3] == (True, "MulTwoInplaceBackward", True)


def test_custom_function_mark_dirty_on_leaf_requiring_grad_raises(fns):
    def fn(m):
        x = leaf(m, arr((3,), 1))
        fns[m]["MulTwoInplace"].apply(x)

    raises_like_torch(fn, RuntimeError)


def test_custom_function_returning_none_grad(fns):
    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = leaf(m, arr((3,), 2))
        fns[m]["FirstOnly"].apply(x, y).sum().backward()
        gx, gy = m.autograd.grad(fns[m]["FirstOnly"].apply(x, y).sum(), [x, y], allow_unused=True)
        return x.grad, y.grad, gx, gy

    ours, _ = both(fn)
    assert ours[1] is None and ours[3] is None


def test_custom_function_setup_context_style(fns):
    def fn(m):
        x = leaf(m, arr((4,), 1, low=0.5, high=2.0))
        y = fns[m]["SetupCube"].apply(x, 3)
        y.sum().backward()
        (g,) = m.autograd.grad(fns[m]["SetupCube"].apply(x, 3).sum(), x, create_graph=True)
        (h,) = m.autograd.grad(g.sum(), x)
        return y, x.grad, h

    both(fn, rtol=1e-5)


def test_custom_function_once_differentiable(fns):
    def first(m):
        x = leaf(m, arr((3,), 1))
        y = fns[m]["OnceExp"].apply(x)
        y.sum().backward()
        return x.grad

    both(first)

    def second(m):
        x = leaf(m, arr((3,), 1))
        y = fns[m]["OnceExp"].apply(x)
        (g,) = m.autograd.grad((y * y).sum(), x, create_graph=True)  # grad_outputs require grad
        assert g.requires_grad
        g.sum().backward()

    raises_like_torch(second, RuntimeError, match="once_differentiable")


def test_custom_function_wrong_gradient_shape_raises(fns):
    def fn(m):
        x = leaf(m, arr((3,), 1))
        fns[m]["WrongShape"].apply(x).sum().backward()

    raises_like_torch(fn, RuntimeError, match="WrongShapeBackward")


def test_custom_function_expandable_gradient_is_summed(fns):
    def fn(m):
        x = leaf(m, arr((3,), 1))
        fns[m]["BroadcastGrad"].apply(x).backward()
        return x.grad

    ours, _ = both(fn)
    np.testing.assert_array_equal(np_of(ours), np.full(3, 2.0, np.float32))


def test_custom_function_wrong_number_of_grads_raises(fns):
    def fn(m):
        x = leaf(m, arr((3,), 1))
        fns[m]["TooManyGrads"].apply(x).sum().backward()

    raises_like_torch(fn, RuntimeError, match="incorrect number of gradients")


def test_custom_function_without_inputs_requiring_grad(fns):
    def fn(m):
        x = leaf(m, arr((3,), 1), requires_grad=False)
        y = fns[m]["Cube"].apply(x)
        return y, y.requires_grad, y.grad_fn is None

    ours, _ = both(fn)
    assert ours[1:] == (False, True)


def test_custom_function_ctx_attribute_tensor_survives_backward():
    """Tensors stored as plain ctx attributes (not save_for_backward) are not freed by torch."""

    def fn(m):
        class Keep(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.k = 3.0
                return x * 3.0

            @staticmethod
            def backward(ctx, g):
                return g * ctx.k

        x = leaf(m, arr((3,), 1))
        y = Keep.apply(x).sum()
        y.backward()
        y.backward()  # nothing saved with save_for_backward: allowed in torch
        return x.grad

    both(fn)


def test_custom_function_mark_dirty_under_no_grad_bumps_version(fns):
    def fn(m):
        x = leaf(m, arr((3,), 1))
        t = m.tensor(arr((3,), 2))
        with m.no_grad():
            fns[m]["MulTwoInplace"].apply(x)  # allowed on a leaf when nothing is recorded
        out = fns[m]["MulTwoInplace"].apply(t)
        return x, x._version, t._version, out.requires_grad

    both(fn)


def test_custom_function_returning_its_input():
    def fn(m):
        class Ident(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x

            @staticmethod
            def backward(ctx, g):
                return g * 2

        x = leaf(m, arr((3,), 1))
        y = Ident.apply(x)
        y.sum().backward()
        return y is x, y.grad_fn.name(), y.is_leaf, x.grad

    ours, _ = both(fn)
    assert ours[:3] == (False, "IdentBackward", False)


def test_custom_function_save_for_backward_rejects_non_tensors():
    def fn(m):
        class Bad(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x, 3)
                return x * 1

            @staticmethod
            def backward(ctx, g):
                return g

        Bad.apply(leaf(m, arr((3,), 1)))

    raises_like_torch(fn, TypeError)


def test_custom_function_saves_intermediate_and_none():
    def fn(m):
        class Inter(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                t = x.exp()
                ctx.save_for_backward(t, None)
                return x * 2

            @staticmethod
            def backward(ctx, g):
                t, nothing = ctx.saved_tensors
                assert nothing is None
                return g * t

        x = leaf(m, arr((3,), 1))
        Inter.apply(x).sum().backward()
        return x.grad

    both(fn)


def test_custom_function_double_backward_through_saved_output():
    def fn(m):
        class Exp(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                y = x.exp()
                ctx.save_for_backward(y)
                return y

            @staticmethod
            def backward(ctx, g):
                (y,) = ctx.saved_tensors
                return g * y

        x = leaf(m, arr((3,), 1))
        (g,) = m.autograd.grad(Exp.apply(x).sum(), x, create_graph=True)
        (h,) = m.autograd.grad((g * g).sum(), x)
        return g, h

    both(fn)


def test_custom_function_reentrant_backward_checkpoint_style():
    """A backward that recomputes its forward and calls autograd.grad (activation checkpointing)."""

    def fn(m):
        def f(t):
            return (t.sin() * t).sum()

        class Ckpt(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return f(x)

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                with m.enable_grad():
                    x2 = x.detach().requires_grad_()
                    (gx,) = m.autograd.grad(f(x2), x2, g)
                return gx

        x = leaf(m, arr((3,), 1))
        (Ckpt.apply(x) * 3).backward()
        return x.grad

    both(fn)


# ============================================================================ gradcheck / gradgradcheck
@pytest.mark.parametrize("m", FRAMEWORKS, ids=["backprop", "torch"])
def test_gradcheck_passes_on_correct_functions(m, fns):
    x = leaf(m, arr((3,), 1, dtype="float64"))
    w = leaf(m, arr((3, 2), 2, dtype="float64"))
    assert m.autograd.gradcheck(lambda a, b: (a @ b).tanh(), (x, w))
    assert m.autograd.gradcheck(fns[m]["Cube"].apply, (x,))
    assert m.autograd.gradcheck(lambda a: fns[m]["Scale"].apply(a, w[:, 0].detach(), 2.0, "lbl"), (x,))
    assert m.autograd.gradgradcheck(lambda a, b: (a @ b).sin(), (x, w))
    assert m.autograd.gradgradcheck(fns[m]["Cube"].apply, (x,))


@pytest.mark.parametrize("m", FRAMEWORKS, ids=["backprop", "torch"])
def test_gradcheck_fails_on_wrong_backward(m, fns):
    x = leaf(m, arr((3,), 1, dtype="float64"))
    err = gradcheck_error(m)
    assert issubclass(err, RuntimeError)
    with pytest.raises(err):
        m.autograd.gradcheck(fns[m]["WrongBackward"].apply, (x,))
    assert m.autograd.gradcheck(fns[m]["WrongBackward"].apply, (x,), raise_exception=False) is False


@pytest.mark.parametrize("m", FRAMEWORKS, ids=["backprop", "torch"])
def test_gradgradcheck_fails_on_non_differentiable_backward(m, fns):
    x = leaf(m, arr((3,), 1, dtype="float64"))
    assert m.autograd.gradcheck(fns[m]["DetachedBackward"].apply, (x,))  # first order is right
    with pytest.raises(gradcheck_error(m)):
        m.autograd.gradgradcheck(fns[m]["DetachedBackward"].apply, (x,))
    assert m.autograd.gradgradcheck(fns[m]["DetachedBackward"].apply, (x,), raise_exception=False) is False


# ============================================================================ anomaly detection
def test_detect_anomaly_names_custom_backward_returning_nan(fns):
    def fn(m):
        x = leaf(m, arr((3,), 1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with m.autograd.detect_anomaly():
                (fns[m]["NanGrad"].apply(x) * 2).sum().backward()

    raises_like_torch(fn, RuntimeError, match="NanGradBackward")


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")
def test_detect_anomaly_names_sqrt_backward():
    def run(m, anomaly):
        x = leaf(m, np.array([0.0, 1.0], np.float32))
        y = (x.sqrt() * 0).sum()
        if anomaly:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with m.autograd.detect_anomaly():
                    y.backward()
        else:
            y.backward()
        return x.grad

    raises_like_torch(lambda m: run(m, True), RuntimeError, match="SqrtBackward0")
    ours, _ = both(lambda m: run(m, False))  # without anomaly mode: silently nan
    assert np.isnan(np_of(ours)[0])


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")
def test_detect_anomaly_warns_and_restores_state(fns):
    def fn(m):
        is_on = torch.is_anomaly_enabled if m is torch else bp.autograd.is_anomaly_enabled
        with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
            mode = m.autograd.detect_anomaly()
        try:
            with mode:
                assert is_on()
                x = leaf(m, arr((3,), 1))
                fns[m]["NanGrad"].apply(x).sum().backward()
        finally:
            assert not is_on()

    raises_like_torch(fn, RuntimeError, match="NanGradBackward")


def test_detect_anomaly_check_nan_false_does_not_raise(fns):
    def fn(m):
        x = leaf(m, arr((3,), 1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with m.autograd.detect_anomaly(check_nan=False):
                fns[m]["NanGrad"].apply(x).sum().backward()
        return x.grad

    both(fn)


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")
def test_set_detect_anomaly_function_and_context(fns):
    def fn(m):
        is_on = torch.is_anomaly_enabled if m is torch else bp.autograd.is_anomaly_enabled
        states = [is_on()]
        m.autograd.set_detect_anomaly(True)
        states.append(is_on())
        x = leaf(m, arr((3,), 1))
        try:
            fns[m]["NanGrad"].apply(x).sum().backward()
        except RuntimeError as exc:
            states.append("NanGradBackward" in str(exc))
        m.autograd.set_detect_anomaly(False)
        states.append(is_on())
        with m.autograd.set_detect_anomaly(True):
            states.append(is_on())
        states.append(is_on())
        x.grad = None
        fns[m]["NanGrad"].apply(x).sum().backward()  # off again: no error
        states.append(bool(np.isnan(x.grad.numpy()).all()))
        return states

    ours, _ = both(fn)
    assert ours == [False, True, True, False, True, False, True]


class _TwoArgError(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a}-{b}")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_exception_in_backward_propagates_under_anomaly_mode():
    """An error raised by a backward keeps its type in anomaly mode (even one not built from a message)."""

    def fn(m):
        class Fails(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 1

            @staticmethod
            def backward(ctx, g):
                raise _TwoArgError(1, 2)

        x = leaf(m, arr((3,), 1))
        with m.autograd.detect_anomaly():
            Fails.apply(x).sum().backward()

    raises_like_torch(fn, _TwoArgError, match="1-2")


def test_anomaly_mode_does_not_change_correct_gradients():
    def fn(m):
        x = leaf(m, arr((3,), 1, low=0.5, high=2.0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with m.autograd.detect_anomaly():
                (x.sqrt() * x.log()).sum().backward()
        return x.grad

    both(fn)


# ============================================================================ version counter
def test_modifying_saved_output_raises_at_backward():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = x.sigmoid()
        y.mul_(2)
        y.sum().backward()

    raises_like_torch(fn, RuntimeError, match="modified by an inplace operation")


def test_modifying_saved_input_raises_at_backward():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        a = x * 2
        b = a * a
        a.add_(1)
        b.sum().backward()

    raises_like_torch(fn, RuntimeError, match="modified by an inplace operation")


def test_modifying_unsaved_tensor_is_fine():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        a = x * 2
        b = a + 1  # add saves nothing
        a.add_(1)
        b.sum().backward()
        return x.grad, a

    both(fn)


def test_version_increments_like_torch():
    def fn(m):
        t = m.tensor(arr((4,), 1))
        versions = [t._version]
        t.add_(1)
        versions.append(t._version)
        t.mul_(2)
        versions.append(t._version)
        t[0] = 5.0
        versions.append(t._version)
        t.zero_()
        versions.append(t._version)
        t.copy_(m.ones(4))
        versions.append(t._version)
        t += 1
        versions.append(t._version)
        _ = t + 1
        versions.append(t._version)
        return versions

    ours, _ = both(fn)
    assert ours == [0, 1, 2, 3, 4, 5, 6, 6]


def test_views_share_version_counter_with_base():
    def fn(m):
        t = m.tensor(arr((3, 4), 1))
        v1 = t[1:]
        v2 = v1.transpose(0, 1)
        v3 = t.view(12)
        v1.add_(1)
        a = (t._version, v1._version, v2._version, v3._version)
        t.mul_(2)
        b = (t._version, v1._version, v2._version, v3._version)
        v2[0, 0] = 1.0
        c = (t._version, v3._version)
        return a, b, c, t

    ours, _ = both(fn)
    assert ours[:3] == ((1, 1, 1, 1), (2, 2, 2, 2), (3, 3))


def test_detach_shares_version_counter_data_does_not():
    def fn(m):
        t = m.tensor(arr((3,), 1))
        d = t.detach()
        d.add_(1)
        after_detach = t._version
        t.data.add_(1)
        after_data = t._version
        return after_detach, after_data, t

    ours, _ = both(fn)
    assert ours[:2] == (1, 1)


def test_inplace_through_detach_is_detected_at_backward():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = x.sigmoid()
        y.detach().zero_()
        y.sum().backward()

    raises_like_torch(fn, RuntimeError, match="modified by an inplace operation")


def test_inplace_through_data_is_not_detected():
    """``.data`` bypasses the version check: backward uses the modified value, like torch."""

    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = x.sigmoid()
        y.data.mul_(0.5)
        y.sum().backward()
        return x.grad

    both(fn)


def test_inplace_under_no_grad_on_saved_tensor_is_detected():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = x.sigmoid()
        with m.no_grad():
            y.add_(1)
        y.sum().backward()

    raises_like_torch(fn, RuntimeError, match="modified by an inplace operation")


def test_inplace_through_view_of_saved_tensor_is_detected():
    def fn(m):
        x = leaf(m, arr((3, 2), 1))
        a = x * 1
        b = a.exp()  # saves its result b
        b[0].zero_()
        a.sum().backward()  # unaffected
        b.sum().backward()

    raises_like_torch(fn, RuntimeError, match="modified by an inplace operation")


# ============================================================================ in-place semantics
def test_inplace_on_leaf_requiring_grad_raises():
    for op in (lambda x: x.add_(1), lambda x: x.mul_(2), lambda x: x.zero_(), lambda x: x.__setitem__(0, 1.0),
               lambda x: x[1:].add_(1), lambda x: x.exp_()):
        raises_like_torch(lambda m, op=op: op(leaf(m, arr((3,), 1))), RuntimeError, match="leaf Variable")


def test_inplace_on_leaf_under_no_grad_works():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        with m.no_grad():
            x.mul_(2)
            x[0] = 7.0
            x.sub_(m.ones(3))
        y = (x * x).sum()
        y.backward()
        return x, x._version, x.requires_grad, x.is_leaf, x.grad

    ours, _ = both(fn)
    assert ours[1:4] == (3, True, True)


def test_augmented_assignment_on_non_leaf():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = x * 2
        y += 1
        name_add = y.grad_fn.name()
        y *= x
        name_mul = y.grad_fn.name()
        y.sum().backward()
        return x.grad, name_add, name_mul, y.is_leaf

    ours, _ = both(fn)
    assert ours[1:] == ("AddBackward0", "MulBackward0", False)


def test_setitem_differentiable_wrt_base_and_value():
    def fn(m):
        x = leaf(m, arr((4, 3), 1))
        y = leaf(m, arr((3,), 2))
        z = leaf(m, arr((2,), 3))
        w = m.tensor(arr((4, 3), 4))
        a = x.clone()
        a[0] = y
        a[2:, 1] = z
        a[a.detach() > 1.0] = 0.0  # boolean mask with a scalar
        a[m.tensor([1, 3]), 0] = y[:2] * 3
        (a * w).sum().backward()
        return a, x.grad, y.grad, z.grad

    both(fn)


def test_inplace_on_view_flows_to_base():
    """``a[1:].mul_(w)`` rewrites the base's history (CopySlices); grads match torch."""

    def fn(m):
        x = leaf(m, arr((4, 3), 1))
        w = leaf(m, arr((3,), 2))
        c = m.tensor(arr((4, 3), 3))
        a = x.clone()
        a[1:].mul_(w)
        a[:, 0].exp_()
        loss = (a * c).sum()
        loss.backward()
        return a, x.grad, w.grad, a.grad_fn.name()

    ours, _ = both(fn)
    assert ours[3] == "torch::autograd::CopySlices"


def test_view_taken_before_inplace_on_base_sees_new_history():
    def fn(m):
        x = leaf(m, arr((4, 3), 1))
        w = leaf(m, arr((3,), 2))
        c = m.tensor(arr((2, 3), 3))
        a = x.clone()
        v = a[:2]  # view taken before the base changes
        t = a.t()
        a.mul_(w)
        loss = (v * c).sum() + t.sum()
        loss.backward()
        return v, x.grad, w.grad

    both(fn)


def test_inplace_on_one_view_seen_by_another_view():
    def fn(m):
        x = leaf(m, arr((6,), 1))
        w = leaf(m, arr((3,), 2))
        a = x.clone()
        v1 = a[:3]
        v2 = a[2:5]
        v1.mul_(w)
        (v2 * m.arange(3.0)).sum().backward()
        return v2, x.grad, w.grad

    both(fn)


def test_inplace_where_original_value_is_needed():
    """x.mul_(w), x.pow_(2), x.sin_(), x.div_(w): backward uses the pre-modification value."""

    def fn(m):
        x = leaf(m, arr((3,), 1))
        w = leaf(m, arr((3,), 2))
        a = x.clone()
        a.mul_(w)
        a.mul_(a.exp())
        a.pow_(2)
        a.sin_()
        a.div_(w)
        a.sigmoid_()
        a.sum().backward()
        return a, x.grad, w.grad

    both(fn)


def test_setitem_and_view_inplace_into_base_not_requiring_grad():
    """Writing a tensor that requires grad into a plain tensor makes the plain one require grad."""

    def fn(m):
        x = leaf(m, arr((3,), 1))
        a = m.zeros(4)
        a[1:] = x * 2
        b = m.zeros(4)
        v = b[1:]
        v.mul_(x)
        v.add_(x)
        ((a * a).sum() + (b * m.arange(4.0)).sum()).backward()
        return a.requires_grad, b.requires_grad, v.requires_grad, b.grad_fn.name(), x.grad

    ours, _ = both(fn)
    assert ours[:4] == (True, True, True, "torch::autograd::CopySlices")


def test_view_created_in_no_grad_modified_inplace_with_grad_raises():
    def fn(m):
        y = leaf(m, arr((4,), 1)) * 2
        with m.no_grad():
            v = y[:2]
        v.mul_(2)

    raises_like_torch(fn, RuntimeError, match="created in no_grad mode")

    def both_inside(m):
        x = leaf(m, arr((4,), 1))
        y = x * 2
        with m.no_grad():
            v = y[:2]
            v.mul_(2)
        (y * y).sum().backward()  # the untracked change is used as is
        return y, x.grad

    both(both_inside)

    def base_changed_later(m):
        x = leaf(m, arr((4,), 1))
        a = m.zeros(4)
        v = a[:2]  # created with grad mode on, base not requiring grad yet
        a.add_(x)
        assert v.requires_grad and not v.is_leaf and v.grad_fn is not None  # re-derived from the new base
        v.mul_(3)
        (a * m.arange(4.0)).sum().backward()
        return a, x.grad

    both(base_changed_later)


def test_inplace_on_expanded_view_raises():
    def with_grad(m):
        x = leaf(m, arr((1, 4), 1))
        e = (x * 1).expand(3, 4)
        e.add_(1)

    raises_like_torch(with_grad, RuntimeError)

    def without_grad(m):
        e = m.zeros(1, 4).expand(3, 4)
        e.mul_(2)

    raises_like_torch(without_grad, RuntimeError)


def test_inplace_result_dtype_cannot_be_cast_raises():
    def fn(m):
        t = m.tensor([1, 2, 3])
        t += 1.5

    raises_like_torch(fn, RuntimeError)


def test_inplace_version_bump_invalidates_saved_leaf_copy():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        with m.no_grad():
            y = x * 2
        z = (x * y).sum()  # mul saves y
        y.add_(1)
        z.backward()

    raises_like_torch(fn, RuntimeError, match="modified by an inplace operation")


def test_inplace_on_non_leaf_then_rest_of_graph():
    def fn(m):
        x = leaf(m, arr((3, 3), 1))
        h = x @ x
        h.add_(x)
        h.relu_()  # saves its result: nothing may modify h until the next op copies it
        h = h.tanh() * 1.0
        h.mul_(2)
        h.sub_(x)
        h.sum().backward()
        return h, x.grad

    both(fn, rtol=1e-5)


def test_copy_and_fill_inplace_gradients():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        s = leaf(m, arr((3,), 2))
        a = x * 2
        a.copy_(s * 3)
        b = x.clone()
        b.fill_(2.0)
        (a.sum() + (b * x).sum()).backward()
        return x.grad, s.grad

    both(fn)


# ============================================================================ backward errors
def test_backward_of_non_scalar_without_gradient_raises():
    raises_like_torch(lambda m: (leaf(m, arr((3,), 1)) * 2).backward(), RuntimeError, match="scalar outputs")


def test_backward_with_explicit_gradient():
    def fn(m):
        x = leaf(m, arr((2, 3), 1))
        y = x.exp() * 2
        y.backward(m.tensor(arr((2, 3), 2)))
        return x.grad

    both(fn)


def test_backward_gradient_shape_mismatch_raises():
    def fn(m):
        x = leaf(m, arr((2, 3), 1))
        (x * 2).backward(m.ones(3, 2))

    raises_like_torch(fn, RuntimeError, match="Mismatch in shape")


def test_backward_on_tensor_not_requiring_grad_raises():
    raises_like_torch(lambda m: m.tensor(arr((3,), 1)).sum().backward(), RuntimeError, match="does not require grad")

    def under_no_grad(m):
        x = leaf(m, arr((3,), 1))
        with m.no_grad():
            y = x.sum()
        y.backward()

    raises_like_torch(under_no_grad, RuntimeError)


def test_backward_on_leaf_itself():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        x.backward(m.ones(3) * 2)
        s = leaf(m, arr((), 2))
        s.backward()
        return x.grad, s.grad

    both(fn)


def test_requires_grad_on_non_leaf_and_int_tensor_errors():
    def non_leaf(m):
        y = leaf(m, arr((3,), 1)) * 2
        y.requires_grad = False

    raises_like_torch(non_leaf, RuntimeError)
    raises_like_torch(lambda m: m.tensor([1, 2]).requires_grad_(), RuntimeError)


# ============================================================================ engine: deep and wide graphs
def test_engine_handles_100k_op_chain_without_recursion():
    n = 100_000
    start = time.perf_counter()
    x = bp.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.0000001
    y.backward()
    elapsed = time.perf_counter() - start
    xt = torch.tensor(1.0, requires_grad=True)
    yt = xt
    for _ in range(n):
        yt = yt * 1.0000001
    yt.backward()
    assert x.grad.dtype == bp.float32
    np.testing.assert_allclose(x.grad.item(), xt.grad.item(), rtol=1e-5)
    np.testing.assert_allclose(y.item(), yt.item(), rtol=1e-5)
    assert elapsed < 15, f"100k-op chain took {elapsed:.1f}s"
    del y
    gc.collect()


def test_engine_deep_chain_of_unary_ops_and_create_graph():
    def fn(m):
        x = leaf(m, arr((2,), 1))
        y = x
        for _ in range(3000):
            y = (y * 0.999).sin() + 0.001
        (g,) = m.autograd.grad(y.sum(), x, create_graph=True)
        (h,) = m.autograd.grad(g.sum(), x)
        return y, g, h

    both(fn, rtol=1e-3, atol=1e-6)


def test_diamond_and_shared_subexpressions():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        a = x * 2
        b = a.sin()
        c = a.cos()
        d = b * c + a
        e = d * b - c * a
        f = (e + d).exp() * a
        f.sum().backward()
        return f, x.grad

    both(fn, rtol=1e-5)


def test_wide_dag_with_many_uses_of_one_node():
    def fn(m):
        x = leaf(m, arr((4,), 1))
        w = leaf(m, arr((4,), 2))
        h = x * w
        terms = [h * float(i) + (h * x).sin() for i in range(200)]
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        stacked = m.stack(terms).sum(0)
        (total.sum() + stacked.mean()).backward()
        return x.grad, w.grad

    both(fn, rtol=1e-4, atol=1e-4)


def test_multiple_outputs_of_one_node_used_in_branches():
    def fn(m):
        x = leaf(m, arr((6, 2), 1))
        a, b, c = x.split(2)
        u, v = x.unbind(1)
        loss = (a * b).sum() + (c.exp()).sum() + (u * v).sum() + a.sum()
        loss.backward()
        return x.grad

    both(fn)


def test_unreachable_branches_are_not_run():
    """Nodes that do not lead to the requested inputs are skipped (no error from their backward)."""

    def fn(m):
        class Boom(m.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 1

            @staticmethod
            def backward(ctx, g):
                raise AssertionError("must not run")

        x = leaf(m, arr((3,), 1))
        w = leaf(m, arr((3,), 2))
        out = (x * w).sum() + Boom.apply(w).sum()
        return m.autograd.grad(out, x)

    both(fn)


# ============================================================================ hooks
def test_leaf_hook_modifies_grad_and_can_be_removed():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        seen = []
        h = x.register_hook(lambda g: seen.append(g.clone()) or g * 2)
        (x * x).sum().backward()
        first = x.grad.clone()
        h.remove()
        x.grad = None
        (x * x).sum().backward()
        return first, x.grad, seen

    ours, _ = both(fn)
    assert len(ours[2]) == 1


def test_non_leaf_hook_changes_downstream_grads():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = x * 3
        seen = []
        y.register_hook(lambda g: seen.append(g.clone()) or g + 1)
        y.register_hook(lambda g: g * 2)  # runs after the first, on its result
        z = (y * y).sum() + y.sum()  # y used twice: the hook sees the summed gradient once
        z.backward()
        return x.grad, seen

    ours, _ = both(fn)
    assert len(ours[1]) == 1


def test_hook_returning_none_keeps_gradient():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = x.exp()
        calls = []
        y.register_hook(lambda g: calls.append(1))
        y.sum().backward()
        return x.grad, len(calls)

    both(fn)


@pytest.mark.parametrize("where", ["leaf", "non_leaf"])
def test_hook_changing_size_or_dtype_or_returning_non_tensor_raises(where):
    for bad, exc in ((lambda g: g[:2], RuntimeError), (lambda g: g.double(), RuntimeError), (lambda g: 5, TypeError)):

        def fn(m, bad=bad):
            x = leaf(m, arr((3,), 1))
            t = x if where == "leaf" else x * 2
            t.register_hook(bad)
            (t * 3).sum().backward()

        raises_like_torch(fn, exc)


def test_hook_on_tensor_not_requiring_grad_raises():
    raises_like_torch(lambda m: m.ones(3).register_hook(lambda g: g), RuntimeError)


def test_retain_grad_on_non_leaf():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = x.exp()
        y.retain_grad()
        z = (y * y).sum()
        z.backward(retain_graph=True)
        first = y.grad.clone()
        z.backward()
        x.retain_grad()  # no-op on a leaf
        return first, y.grad, y.retains_grad, x.retains_grad, y.is_leaf

    ours, _ = both(fn)
    assert ours[2:] == (True, False, False)


def test_retain_grad_then_hook_modifies_downstream_only():
    """retain_grad and a hook on the same tensor: y.grad and the downstream gradient match torch's."""

    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = x * 2
        y.retain_grad()
        y.register_hook(lambda g: g * 10)
        (y * y).sum().backward()
        return y.grad, x.grad

    both(fn)


def test_retain_grad_follows_inplace_modification():
    """After ``y.retain_grad(); y.mul_(3)``, y.grad is the gradient of the new y (torch moves the hook)."""

    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = x * 2
        y.retain_grad()
        y.mul_(3)
        z = x.clone()
        w = z[1:]
        z.retain_grad()
        w.add_(1)
        w.mul_(2)
        ((y * y).sum() + (z * z).sum()).backward()
        return y.grad, z.grad, x.grad

    both(fn)


def test_non_leaf_grad_access_warns():
    for m in FRAMEWORKS:
        x = leaf(m, arr((3,), 1))
        y = x * 2
        y.sum().backward()
        with pytest.warns(UserWarning, match="not a leaf Tensor"):
            assert y.grad is None
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert x.grad is not None  # leaves don't warn
            z = x * 3
            z.retain_grad()
            assert z.grad is None  # retained non-leaf doesn't warn


def test_node_post_hook_and_prehook():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = x.exp()
        record = []

        def post(grad_inputs, grad_outputs):
            record.append(("post", len(grad_inputs), len(grad_outputs)))
            return (grad_inputs[0] * 3,)

        def pre(grad_outputs):
            record.append(("pre", len(grad_outputs)))
            return (grad_outputs[0] + 1,)

        h1 = y.grad_fn.register_hook(post)
        h2 = y.grad_fn.register_prehook(pre)
        y.sum().backward(retain_graph=True)
        first = x.grad.clone()
        h1.remove()
        h2.remove()
        x.grad = None
        y.sum().backward()
        return first, x.grad, record

    ours, _ = both(fn)
    assert ours[2] == [("pre", 1), ("post", 1, 1)]


def test_node_hooks_observe_values():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        w = leaf(m, arr((3,), 2))
        y = x * w
        seen = []
        y.grad_fn.register_hook(lambda gi, go: seen.append((gi[0].clone(), gi[1].clone(), go[0].clone())))
        (y * 2).sum().backward()
        return seen

    both(fn)


def test_accumulate_grad_node_and_its_hooks():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        acc = (x * 2).grad_fn.next_functions[0][0]
        seen = []
        acc.register_prehook(lambda go: seen.append(("pre", go[0].clone())) or (go[0] * 3,))
        acc.register_hook(lambda gi, go: seen.append(("post", gi, go[0].clone())))
        x.register_post_accumulate_grad_hook(lambda t: seen.append(("acc", t.grad.clone())))
        (x * 2).sum().backward()
        return acc.name(), acc.variable is x, seen, x.grad

    ours, _ = both(fn)
    assert ours[0] == "torch::autograd::AccumulateGrad"


def test_post_accumulate_grad_hook():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        seen = []

        def hook(t):
            seen.append(t.grad.clone())
            t.grad.mul_(0.5)  # e.g. an optimizer step in the hook

        h = x.register_post_accumulate_grad_hook(hook)
        (x * 4).sum().backward()
        (x * 4).sum().backward()
        h.remove()
        (x * 4).sum().backward()
        return seen, x.grad

    ours, _ = both(fn)
    assert len(ours[0]) == 2


def test_post_accumulate_grad_hook_writing_into_a_gradient_shared_with_another_input():
    """An add hands one gradient array to both inputs; a hook zeroing one leaf's .grad in place
    (the optimizer-in-backward pattern) must not change what the other input receives."""

    def fn(m):
        a, p, q = leaf(m, arr((3,), 1)), leaf(m, arr((3,), 2)), leaf(m, arr((3,), 3))
        def zero(t):
            t.grad.mul_(0)

        for t in (p, q):
            t.register_post_accumulate_grad_hook(zero)
        w = m.tensor([1.0, 2.0, 3.0])  # a fresh (not broadcast) gradient reaches the adds
        for y in (a * 2 + p, a.clone() + q, a * 3 + p.clone()):
            (y * w).sum().backward()
        return a.grad, p.grad, q.grad

    both(fn)


def test_post_accumulate_grad_hook_must_return_none():
    def fn(m):
        x = leaf(m, arr((3,), 1))
        x.register_post_accumulate_grad_hook(lambda t: t.grad)
        (x * 2).sum().backward()

    raises_like_torch(fn, RuntimeError, match="should return None")


def test_post_accumulate_grad_hook_on_non_leaf_raises():
    raises_like_torch(lambda m: (leaf(m, arr((3,), 1)) * 2).register_post_accumulate_grad_hook(lambda t: None),
                      RuntimeError)


def test_leaf_hook_with_autograd_grad():
    """Leaf hooks also apply to the gradient autograd.grad returns."""

    def fn(m):
        x = leaf(m, arr((3,), 1))
        x.register_hook(lambda g: g * 5)
        return m.autograd.grad((x * x).sum(), x)

    both(fn)


# ============================================================================ README example
README_EXAMPLE = """\
import backprop as torch
w = torch.tensor([2.0], requires_grad=True)
x = torch.tensor([3.0])
loss = (w * x - 10.0) ** 2
loss.backward()
print(w.grad.item())
"""


def test_readme_example(capsys):
    exec(compile(README_EXAMPLE, "<readme>", "exec"), {})
    assert capsys.readouterr().out == "-24.0\n"
    exec(compile(README_EXAMPLE.replace("import backprop as torch", "import torch"), "<readme-torch>", "exec"), {})
    assert capsys.readouterr().out == "-24.0\n"


# ============================================================================ gradient dtypes
def test_gradient_dtype_matches_each_input():
    def fn(m):
        a = leaf(m, arr((3,), 1, dtype="float32"))
        b = leaf(m, arr((3,), 2, dtype="float64"))
        out = (a * b).sum()
        out.backward()
        return out.dtype == m.float64, a.grad, b.grad

    ours, _ = both(fn)
    assert ours[1].dtype == bp.float32 and ours[2].dtype == bp.float64


def test_float64_graph_keeps_float64_grads():
    def fn(m):
        x = leaf(m, arr((2, 3), 1, dtype="float64"))
        w = leaf(m, arr((3, 2), 2, dtype="float64"))
        y = (x @ w).tanh().exp().mean() + (x * 2.5).sum()
        y.backward()
        (g,) = m.autograd.grad((x**3).sum(), x, create_graph=True)
        return x.grad, w.grad, g, y

    ours, _ = both(fn, rtol=1e-10, atol=1e-12)
    assert ours[0].dtype == bp.float64


def test_gradient_through_dtype_conversion():
    def fn(m):
        x = leaf(m, arr((3,), 1, dtype="float32"))
        y = x.double() * m.tensor(arr((3,), 2, dtype="float64"))
        z = y.float().exp() + x.to(m.float64).float()
        z.sum().backward()
        return x.grad, y.dtype == m.float64

    both(fn)


def test_integer_operand_does_not_change_grad_dtype():
    def fn(m):
        x = leaf(m, arr((3,), 1, dtype="float64"))
        k = m.tensor([1, 2, 3])
        (x * k + k).sum().backward()
        return x.grad

    both(fn)


# ============================================================================ saved tensors freed
def test_saved_tensors_freed_after_backward(fns):
    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = fns[m]["Cube"].apply(x)
        assert len(y.grad_fn.saved_tensors) == 1
        y.sum().backward()
        y.grad_fn.saved_tensors  # noqa: B018

    raises_like_torch(fn, RuntimeError, match="freed")


def test_saved_tensors_kept_with_retain_graph(fns):
    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = fns[m]["Cube"].apply(x)
        y.sum().backward(retain_graph=True)
        (saved,) = y.grad_fn.saved_tensors
        return saved, saved is x

    both(fn)


def test_saved_output_is_returned_with_its_grad_fn(fns):
    def fn(m):
        x = leaf(m, arr((3,), 1))
        y = fns[m]["OnceExp"].apply(x)
        (saved,) = y.grad_fn.saved_tensors
        return saved, saved.requires_grad, saved.grad_fn is y.grad_fn

    both(fn)


def test_saved_tensors_check_version(fns):
    def fn(m):
        x = leaf(m, arr((3,), 1))
        a = x * 1
        y = fns[m]["Cube"].apply(a)
        a.add_(1)
        y.grad_fn.saved_tensors  # noqa: B018

    raises_like_torch(fn, RuntimeError, match="modified by an inplace operation")


@pytest.mark.parametrize(
    "fn",
    [
        lambda m, x: x.mean(),
        lambda m, x: x.amax(),
        lambda m, x: (x * 0.3).acos(),
        lambda m, x: m.logsumexp(x, 0, True),
        lambda m, x: m.nn.functional.mse_loss(x, x.detach() * 2),
        lambda m, x: m.nn.functional.softplus(x, beta=3, threshold=0.2),
        lambda m, x: m.fmod(x, x.detach() + 0.7),
    ],
)
def test_backward_of_zero_dim_ops(fn):
    """NumPy turns arithmetic on 0-d arrays into NumPy scalars; backward formulas must take
    those as 0-d arrays (they used to crash the engine)."""
    x = bp.tensor(0.9, requires_grad=True)
    tx = torch.tensor(0.9, requires_grad=True)
    fn(bp, x).backward()
    fn(torch, tx).backward()
    assert x.grad.shape == ()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
