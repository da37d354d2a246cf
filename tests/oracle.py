"""The oracle harness: run one op definition on backprop and on PyTorch and compare.

An op is written once as ``fn(m, *tensors)`` where ``m`` is the framework module
(``backprop`` or ``torch``), so every case also proves the API is the same. ``check_op``
compares outputs (values, shape, dtype, device) and the gradient of every input that requires
grad, under the same upstream gradient, on a device (backprop's inputs live there, ``fn`` runs
under ``with backprop.device(device)``, torch runs on the CPU); ``check_create_graph`` does the
same for the first derivative taken with ``create_graph=True`` (the differentiable backward);
``check_gradcheck``/``check_gradgradcheck`` run backprop's finite-difference checks in float64.
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


def make_inputs(case: Case, dtype: str = "float32", noncontig: bool = False, device: str = "cpu"):
    rng = np.random.default_rng(case.seed)
    arrays = [spec.draw(rng, dtype) for spec in case.inputs]
    bp_leaves, th_leaves, bp_args, th_args = [], [], [], []
    for spec, arr in zip(case.inputs, arrays):
        grad = spec.wants_grad(arr)
        if noncontig and arr.ndim >= 2:
            stored = np.ascontiguousarray(np.swapaxes(arr, -1, -2))
            b = backprop.tensor(stored, requires_grad=grad, device=device)
            t = torch.tensor(stored, requires_grad=grad)
            bp_leaves.append(b)
            th_leaves.append(t)
            bp_args.append(b.transpose(-1, -2))
            th_args.append(t.transpose(-1, -2))
        else:
            b = backprop.tensor(arr, requires_grad=grad, device=device)
            t = torch.tensor(arr, requires_grad=grad)
            bp_leaves.append(b)
            th_leaves.append(t)
            bp_args.append(b)
            th_args.append(t)
    return bp_leaves, th_leaves, bp_args, th_args


def assert_close(ours, theirs, rtol, atol, what: str, device: str | None = None) -> None:
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, backprop.Tensor), f"{what}: expected a Tensor, got {type(ours).__name__}"
        assert tuple(ours.shape) == tuple(theirs.shape), f"{what}: shape {tuple(ours.shape)} != torch {tuple(theirs.shape)}"
        assert ours.dtype.name == str(theirs.dtype).replace("torch.", ""), f"{what}: dtype {ours.dtype} != torch {theirs.dtype}"
        if device is not None:
            assert ours.device.type == device, f"{what}: on {ours.device}, expected the inputs' device {device}"
        a = ours.detach().cpu().numpy()
        b = theirs.detach().cpu().numpy()
        if a.dtype.kind in "biu":
            np.testing.assert_array_equal(a, b, err_msg=what)
        else:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)
    else:
        assert ours == theirs, f"{what}: {ours!r} != torch {theirs!r}"


def _run_forward(case: Case, device: str, noncontig: bool):
    bp_leaves, th_leaves, bp_args, th_args = make_inputs(case, "float32", noncontig, device)
    with backprop.device(device):
        ours = _outputs(case.fn(backprop, *bp_args))
    theirs = _outputs(case.fn(torch, *th_args))
    assert len(ours) == len(theirs), f"{case.name}: {len(ours)} outputs vs torch {len(theirs)}"
    for i, (o, t) in enumerate(zip(ours, theirs)):
        assert_close(o, t, case.rtol, case.atol, f"{case.name} output {i}", device)
    return bp_leaves, th_leaves, ours, theirs


def _losses(case: Case, ours, theirs, device: str):
    """The same random upstream gradient through every differentiable output, as scalar losses
    (None when torch has no differentiable output)."""
    rng = np.random.default_rng(case.seed + 1)
    diff = [(o, t) for o, t in zip(ours, theirs) if isinstance(t, torch.Tensor) and t.requires_grad]
    if not diff:
        return None, None
    bp_loss = None
    th_loss = None
    for o, t in diff:
        g = rng.standard_normal(tuple(t.shape)).astype(str(t.dtype).replace("torch.", ""))
        assert o.requires_grad, f"{case.name}: output does not require grad but torch's does"
        term_bp = (o * backprop.tensor(g, device=device)).sum()
        term_th = (t * torch.tensor(g)).sum()
        bp_loss = term_bp if bp_loss is None else bp_loss + term_bp
        th_loss = term_th if th_loss is None else th_loss + term_th
    return bp_loss, th_loss


def _compare_grads(case: Case, ours: list, theirs: list, device: str, what: str = "grad") -> None:
    for i, (b, t) in enumerate(zip(ours, theirs)):
        if t is None:
            assert b is None or not np.any(b.detach().cpu().numpy()), f"{case.name}: input {i} got a {what} torch did not"
            continue
        assert b is not None, f"{case.name}: input {i} has no {what} (torch has one)"
        assert_close(b, t, case.rtol * 10, case.atol * 10, f"{case.name} {what} of input {i}", device)


def check_op(case: Case, noncontig: bool = False, device: str = "cpu") -> None:
    """Forward values and every input's gradient equal torch's (float32), with backprop on ``device``."""
    bp_leaves, th_leaves, ours, theirs = _run_forward(case, device, noncontig)
    bp_loss, th_loss = _losses(case, ours, theirs, device)
    if bp_loss is None:
        return
    bp_loss.backward()
    th_loss.backward()
    pairs = [(b, t) for b, t in zip(bp_leaves, th_leaves) if t.requires_grad]
    _compare_grads(case, [b.grad for b, _ in pairs], [t.grad for _, t in pairs], device)


def check_create_graph(case: Case, device: str = "cpu") -> None:
    """The first derivative computed with ``create_graph=True`` -- every backward formula run on
    Tensors, recorded for a second differentiation -- equals torch's. (Whether it differentiates
    correctly again is gradgradcheck's question.)"""
    bp_leaves, th_leaves, ours, theirs = _run_forward(case, device, False)
    bp_loss, th_loss = _losses(case, ours, theirs, device)
    if bp_loss is None:
        return
    pairs = [(b, t) for b, t in zip(bp_leaves, th_leaves) if t.requires_grad]
    bp_grads = backprop.autograd.grad(bp_loss, [b for b, _ in pairs], create_graph=True, allow_unused=True)
    th_grads = torch.autograd.grad(th_loss, [t for _, t in pairs], create_graph=True, allow_unused=True)
    _compare_grads(case, list(bp_grads), list(th_grads), device, "create_graph grad")


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
    """The five standard tests over ``cases``: against torch on every test device, against torch
    on non-contiguous inputs (cases with a 2-D input and ``noncontig``), the first derivative
    under ``create_graph=True`` against torch, gradcheck and gradgradcheck (where the case asks
    for them). A test module binds them to ``test_*`` names so pytest collects them; a test with
no case is None."""

    @pytest.mark.parametrize("case", cases, ids=repr)
    def matches_torch(case, device):
        check_op(case, device=device)

    @pytest.mark.parametrize("case", [c for c in cases if c.noncontig and _has_matrix_input(c)], ids=repr)
    def matches_torch_noncontiguous(case, device):
        check_op(case, noncontig=True, device=device)

    @pytest.mark.parametrize("case", [c for c in cases if c.gradcheck], ids=repr)
    def create_graph_matches_torch(case, device):
        check_create_graph(case, device)

    @pytest.mark.parametrize("case", [c for c in cases if c.gradcheck], ids=repr)
    def gradcheck(case):
        check_gradcheck(case)

    @pytest.mark.parametrize("case", [c for c in cases if c.gradgradcheck], ids=repr)
    def gradgradcheck(case):
        check_gradgradcheck(case)

    tests = (matches_torch, matches_torch_noncontiguous, create_graph_matches_torch, gradcheck, gradgradcheck)
    # a test with no case is not collected (pytest would report an empty parameter set as a skip)
    return tuple(t if t.pytestmark[0].args[1] else None for t in tests)
