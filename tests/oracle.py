"""The oracle harness: run one op definition on backprop and on PyTorch and compare.

An op is written once as ``fn(m, *tensors)`` where ``m`` is the framework module
(``backprop`` or ``torch``), so every case also proves the API is the same. ``check_op``
compares outputs (values, shape, dtype) and the gradient of every input that requires grad,
under the same upstream gradient; ``check_gradcheck``/``check_gradgradcheck`` run
backprop's finite-difference checks in float64.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

import backprop

torch.set_num_threads(1)

FLOAT32_TOL = {"rtol": 1e-5, "atol": 1e-5}


@dataclass
class Input:
    """How to draw one input: ``shape`` with values from ``domain``; ``array`` fixes them."""

    shape: tuple = ()
    domain: str = "normal"  # normal | positive | unit | int | bool | index:N | nonzero
    requires_grad: bool | None = None
    array: np.ndarray | None = None
    dtype: str | None = None

    def draw(self, rng: np.random.Generator, dtype: str) -> np.ndarray:
        if self.array is not None:
            return np.array(self.array)
        shape = self.shape
        d = self.domain
        if d == "normal":
            a = rng.standard_normal(shape)
        elif d == "positive":
            a = rng.uniform(0.5, 2.0, shape)
        elif d == "unit":
            a = rng.uniform(-0.9, 0.9, shape)
        elif d == "nonzero":
            a = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
        elif d == "distinct":  # no ties (max/min/sort), spaced well beyond finite-difference steps
            a = rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 + rng.uniform(-0.01, 0.01, shape)
        elif d == "int":
            return rng.integers(-5, 6, shape).astype(self.dtype or "int64")
        elif d == "bool":
            return rng.random(shape) > 0.5
        elif d.startswith("index:"):
            return rng.integers(0, int(d.split(":")[1]), shape).astype(self.dtype or "int64")
        else:
            raise ValueError(d)
        return a.astype(self.dtype or dtype)

    def wants_grad(self, arr: np.ndarray) -> bool:
        if self.requires_grad is not None:
            return self.requires_grad
        return arr.dtype.kind == "f"


@dataclass
class Case:
    name: str
    fn: object  # fn(m, *tensors) -> tensor or tuple of tensors
    inputs: list = field(default_factory=list)
    rtol: float = 1e-5
    atol: float = 1e-5
    gradcheck: bool = True
    gradgradcheck: bool = False
    noncontig: bool = True
    seed: int = 0

    def __repr__(self) -> str:
        return self.name


def _outputs(result) -> list:
    if isinstance(result, (tuple, list)):
        out = []
        for r in result:
            out.extend(_outputs(r))
        return out
    return [result]


def make_inputs(case: Case, dtype: str = "float32", noncontig: bool = False):
    rng = np.random.default_rng(case.seed)
    arrays = [spec.draw(rng, dtype) for spec in case.inputs]
    bp_leaves, th_leaves, bp_args, th_args = [], [], [], []
    for spec, arr in zip(case.inputs, arrays):
        grad = spec.wants_grad(arr)
        if noncontig and arr.ndim >= 2:
            stored = np.ascontiguousarray(np.swapaxes(arr, -1, -2))
            b = backprop.tensor(stored, requires_grad=grad)
            t = torch.tensor(stored, requires_grad=grad)
            bp_leaves.append(b)
            th_leaves.append(t)
            bp_args.append(b.transpose(-1, -2))
            th_args.append(t.transpose(-1, -2))
        else:
            b = backprop.tensor(arr, requires_grad=grad)
            t = torch.tensor(arr, requires_grad=grad)
            bp_leaves.append(b)
            th_leaves.append(t)
            bp_args.append(b)
            th_args.append(t)
    return bp_leaves, th_leaves, bp_args, th_args


def assert_close(ours, theirs, rtol, atol, what: str) -> None:
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, backprop.Tensor), f"{what}: expected a Tensor, got {type(ours).__name__}"
        assert tuple(ours.shape) == tuple(theirs.shape), f"{what}: shape {tuple(ours.shape)} != torch {tuple(theirs.shape)}"
        assert ours.dtype.name == str(theirs.dtype).replace("torch.", ""), f"{what}: dtype {ours.dtype} != torch {theirs.dtype}"
        a = ours.detach().numpy()
        b = theirs.detach().numpy()
        if a.dtype.kind in "biu":
            np.testing.assert_array_equal(a, b, err_msg=what)
        else:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)
    else:
        assert ours == theirs, f"{what}: {ours!r} != torch {theirs!r}"


def check_op(case: Case, noncontig: bool = False) -> None:
    """Forward values and every input's gradient equal torch's (float32)."""
    bp_leaves, th_leaves, bp_args, th_args = make_inputs(case, "float32", noncontig)
    ours = _outputs(case.fn(backprop, *bp_args))
    theirs = _outputs(case.fn(torch, *th_args))
    assert len(ours) == len(theirs), f"{case.name}: {len(ours)} outputs vs torch {len(theirs)}"
    for i, (o, t) in enumerate(zip(ours, theirs)):
        assert_close(o, t, case.rtol, case.atol, f"{case.name} output {i}")
    # Backward with the same random upstream gradient through every differentiable output.
    rng = np.random.default_rng(case.seed + 1)
    diff = [(o, t) for o, t in zip(ours, theirs) if isinstance(t, torch.Tensor) and t.requires_grad]
    if not diff:
        return
    bp_loss = None
    th_loss = None
    for o, t in diff:
        g = rng.standard_normal(tuple(t.shape)).astype(str(t.dtype).replace("torch.", ""))
        assert o.requires_grad, f"{case.name}: output does not require grad but torch's does"
        term_bp = (o * backprop.tensor(g)).sum()
        term_th = (t * torch.tensor(g)).sum()
        bp_loss = term_bp if bp_loss is None else bp_loss + term_bp
        th_loss = term_th if th_loss is None else th_loss + term_th
    bp_loss.backward()
    th_loss.backward()
    for i, (b, t) in enumerate(zip(bp_leaves, th_leaves)):
        if not t.requires_grad:
            continue
        if t.grad is None:
            assert b.grad is None or not np.any(b.grad.numpy()), f"{case.name}: input {i} got a gradient torch did not"
            continue
        assert b.grad is not None, f"{case.name}: input {i} has no gradient (torch has one)"
        assert_close(b.grad, t.grad, case.rtol * 10, case.atol * 10, f"{case.name} grad of input {i}")


def _f64_inputs(case: Case):
    rng = np.random.default_rng(case.seed)
    out = []
    for spec in case.inputs:
        arr = spec.draw(rng, "float64")
        out.append(backprop.tensor(arr, requires_grad=spec.wants_grad(arr)))
    return out


def check_gradcheck(case: Case) -> None:
    inputs = _f64_inputs(case)
    assert backprop.autograd.gradcheck(lambda *xs: case.fn(backprop, *xs), inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


def check_gradgradcheck(case: Case) -> None:
    inputs = _f64_inputs(case)
    assert backprop.autograd.gradgradcheck(lambda *xs: case.fn(backprop, *xs), inputs, eps=1e-6, atol=1e-4, rtol=1e-3)


def _has_matrix_input(case: Case) -> bool:
    return any(len(i.shape) >= 2 or (i.array is not None and np.ndim(i.array) >= 2) for i in case.inputs)


def oracle_tests(cases: list) -> tuple:
    """The four standard tests over ``cases``: against torch, against torch on non-contiguous
    inputs (cases with a 2-D input and ``noncontig``), gradcheck and gradgradcheck (where the
    case asks for them). A test module binds them to ``test_*`` names so pytest collects them."""

    @pytest.mark.parametrize("case", cases, ids=repr)
    def matches_torch(case):
        check_op(case)

    @pytest.mark.parametrize("case", [c for c in cases if c.noncontig and _has_matrix_input(c)], ids=repr)
    def matches_torch_noncontiguous(case):
        check_op(case, noncontig=True)

    @pytest.mark.parametrize("case", [c for c in cases if c.gradcheck], ids=repr)
    def gradcheck(case):
        check_gradcheck(case)

    @pytest.mark.parametrize("case", [c for c in cases if c.gradgradcheck], ids=repr)
    def gradgradcheck(case):
        check_gradgradcheck(case)

    return matches_torch, matches_torch_noncontiguous, gradcheck, gradgradcheck
