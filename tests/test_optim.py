"""``backprop.optim`` optimizers against torch 2.13.

The same small model (Linear-Tanh-Linear) is built in both frameworks with torch's weights,
trained for a few steps on the same data with the same optimizer options, and the parameters
and optimizer state are compared to float32 rounding. A second set feeds both optimizers the
very same gradients, to check the update formulas alone. Then the Optimizer API: param groups,
``add_param_group``, ``zero_grad``, ``state_dict``/``load_state_dict`` (round trips and torch
interchange), hooks, closures, hyper-parameter validation with torch's messages, dtypes.

The oracle tests take the ``device`` fixture (cpu and fake-cuda by default): backprop's model,
data and optimizer state live on that device, torch runs on the CPU, and the results are
compared after ``.cpu()``. On the fake CUDA device a step must not read any device value back
on the host (``fake_cuda.no_host_sync``), as torch's non-capturable steps do not.
"""

from __future__ import annotations

import copy
import re
import warnings

import numpy as np
import pytest
import torch

import backprop as bp
import fake_cuda

torch.set_num_threads(1)

N_STEPS = 10

# ============================================================================ helpers
_RNG = np.random.default_rng(1234)
X = _RNG.standard_normal((N_STEPS, 16, 4)).astype("float32")
Y = _RNG.standard_normal((N_STEPS, 16, 3)).astype("float32")


def make_models(seed: int = 0, dtype: str = "float32", device: str | None = None):
    """A torch model and a backprop model (on ``device``) with identical weights."""
    torch.manual_seed(seed)
    tm = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    bm = bp.nn.Sequential(bp.nn.Linear(4, 8), bp.nn.Tanh(), bp.nn.Linear(8, 3))
    if dtype == "float64":
        tm = tm.double()
        bm = bm.double()
    result = bm.load_state_dict(tm.state_dict())
    assert not result.missing_keys and not result.unexpected_keys
    if device is not None:
        bm = bm.to(device)
        assert all(p.device.type == bp.device(device).type for p in bm.parameters())
    return tm, bm


def train(m, model, opt, steps, dtype: str = "float32", set_to_none: bool = True, device: str | None = None) -> list[float]:
    """Run ``steps`` (indices into X/Y) of forward, backward, step; returns the losses.
    ``device``: where backprop's data goes (torch's stays on the CPU)."""
    losses = []
    on = {} if device is None else {"device": device}
    for i in steps:
        x = m.tensor(X[i].astype(dtype), **on)
        y = m.tensor(Y[i].astype(dtype), **on)
        opt.zero_grad(set_to_none=set_to_none)
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        with fake_cuda.no_host_sync():
            opt.step()
        losses.append(loss.item())
    return losses


def params_np(model) -> list[np.ndarray]:
    return [p.detach().cpu().numpy().copy() for p in model.parameters()]


def assert_params_close(bm, tm, rtol=1e-5, atol=1e-6) -> None:
    ours, theirs = params_np(bm), params_np(tm)
    assert len(ours) == len(theirs)
    for i, (o, t) in enumerate(zip(ours, theirs)):
        assert o.dtype == t.dtype, f"param {i}: dtype {o.dtype} vs torch {t.dtype}"
        np.testing.assert_allclose(o, t, rtol=rtol, atol=atol, err_msg=f"param {i}")


def assert_state_close(bo, to, rtol=1e-5, atol=1e-6) -> None:
    """Optimizer states hold the same keys per parameter and the same values (dtypes included)."""
    ours, theirs = bo.state_dict()["state"], to.state_dict()["state"]
    assert sorted(ours) == sorted(theirs)
    for idx in theirs:
        assert list(ours[idx]) == list(theirs[idx]), f"state keys of param {idx}"
        for key, tv in theirs[idx].items():
            ov = ours[idx][key]
            if isinstance(tv, torch.Tensor):
                assert isinstance(ov, bp.Tensor), f"state[{idx}][{key!r}] is {type(ov).__name__}"
                assert ov.shape == tuple(tv.shape)
                assert str(ov.dtype).split(".")[-1] == str(tv.dtype).split(".")[-1], key
                np.testing.assert_allclose(ov.cpu().numpy(), tv.numpy(), rtol=rtol, atol=atol, err_msg=f"{idx}.{key}")
            else:
                assert ov == tv


def assert_state_on_device(bo) -> None:
    """Each parameter's state tensors live on its device, but the scalar counters (``step``,
    NAdam's ``mu_product``, ASGD's ``eta``/``mu``), which stay 0-d CPU tensors as torch's
    non-capturable ``step``."""
    host_keys = {"step", "mu_product", "eta", "mu"}
    for p, state in bo.state.items():
        assert state, "no state was created"
        for key, value in state.items():
            if isinstance(value, bp.Tensor):
                expected = bp.device("cpu") if key in host_keys else p.device
                assert value.device == expected, f"state {key!r} on {value.device}, expected {expected}"


def build(name: str, kwargs: dict, seed: int = 0, dtype: str = "float32", device: str | None = None):
    tm, bm = make_models(seed, dtype, device)
    to = getattr(torch.optim, name)(tm.parameters(), **kwargs)
    bo = getattr(bp.optim, name)(bm.parameters(), **kwargs)
    return tm, bm, to, bo


# ============================================================================ numerics vs torch
CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.5, "dampening": 0.3}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.05}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01, "nesterov": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.1, "weight_decay": 0.02, "maximize": True}),
    ("SGD", {"lr": 0.1, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "betas": (0.3, 0.5), "eps": 1e-6}),
    ("Adam", {"lr": 0.02, "amsgrad": True, "weight_decay": 0.05, "maximize": True}),
    ("Adam", {"lr": 0.01, "decoupled_weight_decay": True, "weight_decay": 0.1}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01, "amsgrad": True, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.001, "alpha": 0.9}),
    ("RMSprop", {"lr": 0.001, "centered": True}),
    ("RMSprop", {"lr": 0.001, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.001, "momentum": 0.5, "centered": True, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.001, "maximize": True, "eps": 1e-6}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.5, "weight_decay": 0.1}),
    ("Adagrad", {"lr": 0.05, "eps": 1e-6, "maximize": True}),
    ("Adamax", {}),
    ("Adamax", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1, "maximize": True}),
    ("NAdam", {}),
    ("NAdam", {"lr": 0.01, "momentum_decay": 0.01, "weight_decay": 0.1}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {}),
    ("RAdam", {"lr": 0.01, "betas": (0.9, 0.9), "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8}),
    ("Adadelta", {"lr": 1.0, "eps": 1e-4, "weight_decay": 0.1}),
    ("Adadelta", {"lr": 0.5, "weight_decay": 0.05, "maximize": True}),
    ("Adadelta", {"lr": 2.0, "rho": 0.5, "foreach": False}),
    ("Rprop", {}),
    ("Rprop", {"lr": 0.05, "etas": (0.3, 1.5)}),
    ("Rprop", {"lr": 0.01, "step_sizes": (1e-3, 0.02)}),
    ("Rprop", {"lr": 0.001, "maximize": True}),
    ("Rprop", {"lr": 0.02, "etas": (0.4, 1.1), "step_sizes": (1e-4, 1.0), "maximize": True}),
    ("ASGD", {}),
    ("ASGD", {"lr": 0.05, "lambd": 1e-2, "alpha": 0.5}),
    ("ASGD", {"lr": 0.05, "t0": 3}),
    ("ASGD", {"lr": 0.1, "t0": 0, "lambd": 0.1, "weight_decay": 0.1}),
    ("ASGD", {"lr": 0.02, "t0": 2, "weight_decay": 0.01, "maximize": True}),
]


def _case_id(case) -> str:
    name, kwargs = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_training_matches_torch(case, device):
    name, kwargs = case
    tm, bm, to, bo = build(name, kwargs, device=device)
    before = params_np(bm)
    ours = train(bp, bm, bo, range(N_STEPS), device=device)
    theirs = train(torch, tm, to, range(N_STEPS))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert_params_close(bm, tm)
    assert_state_close(bo, to)
    assert_state_on_device(bo)
    assert any(not np.array_equal(a, b) for a, b in zip(before, params_np(bm))), "the parameters never moved"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_same_gradients_match_torch(case, device):
    """Both optimizers get bit-identical gradients each step: only the update formulas differ."""
    name, kwargs = case
    rng = np.random.default_rng(7)
    shapes = [(5, 3), (5,), (2, 5), (1,)]
    inits = [rng.standard_normal(s).astype("float32") for s in shapes]
    tps = [torch.nn.Parameter(torch.tensor(a)) for a in inits]
    bps = [bp.nn.Parameter(bp.tensor(a, device=device)) for a in inits]
    to = getattr(torch.optim, name)(tps, **kwargs)
    bo = getattr(bp.optim, name)(bps, **kwargs)
    for step in range(N_STEPS):
        for i, (tp, bq, s) in enumerate(zip(tps, bps, shapes)):
            g = rng.standard_normal(s).astype("float32")
            if step == 3 and i == 0:
                g[0] = 0.0  # a zero gradient (Rprop's zero-sign branch)
            tp.grad = torch.tensor(g)
            bq.grad = bp.tensor(g, device=device)
        to.step()
        with fake_cuda.no_host_sync():
            bo.step()
    for i, (tp, bq) in enumerate(zip(tps, bps)):
        assert bq.device.type == bp.device(device).type
        np.testing.assert_allclose(bq.detach().cpu().numpy(), tp.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=str(i))
    assert_state_close(bo, to)
    assert_state_on_device(bo)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_tiny_eps(name):
    """With eps far below sqrt(v), tiny gradient differences are not amplified beyond float32 noise."""
    tm, bm, to, bo = build(name, {"lr": 0.01, "eps": 1e-12})
    train(bp, bm, bo, range(N_STEPS))
    train(torch, tm, to, range(N_STEPS))
    assert_params_close(bm, tm, rtol=2e-5, atol=5e-6)


@pytest.mark.parametrize(
    "case",
    [
        ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
        ("Adam", {"lr": 0.01, "amsgrad": True}),
        ("RMSprop", {"centered": True, "momentum": 0.5}),
        ("Adagrad", {"lr_decay": 0.1}),
    ],
    ids=_case_id,
)
def test_float64_training_matches_torch(case, device):
    name, kwargs = case
    bp.set_default_dtype(bp.float64)
    torch_default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        tm, bm, to, bo = build(name, kwargs, dtype="float64", device=device)
        train(bp, bm, bo, range(N_STEPS), dtype="float64", device=device)
        train(torch, tm, to, range(N_STEPS), dtype="float64")
    finally:
        torch.set_default_dtype(torch_default)
    for p in bm.parameters():
        assert p.dtype == bp.float64
    assert_params_close(bm, tm, rtol=1e-10, atol=1e-12)
    assert_state_close(bo, to, rtol=1e-10, atol=1e-12)
    assert_state_on_device(bo)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "NAdam", "RAdam"])
def test_state_stays_in_param_dtype(name):
    """float32 parameters keep float32 state (no float64 promotion); ``step`` is a 0-d float32 tensor."""
    kwargs = {"momentum": 0.9} if name in ("SGD", "RMSprop") else {}
    _, bm, _, bo = build(name, kwargs)
    train(bp, bm, bo, range(3))
    for p in bm.parameters():
        assert p.dtype == bp.float32
        state = bo.state[p]
        assert state, "no state was created"
        for key, value in state.items():
            assert isinstance(value, bp.Tensor), key
            if key in ("step", "mu_product"):
                assert value.shape == () and value.dtype == bp.float32
            else:
                assert value.dtype == bp.float32 and value.shape == p.shape
        if "step" in state:
            assert state["step"].item() == 3.0


def test_step_records_no_graph_and_bumps_version():
    _, bm, _, bo = build("Adam", {"lr": 0.01})
    x, y = bp.tensor(X[0]), bp.tensor(Y[0])
    ((bm(x) - y) ** 2).mean().backward()
    versions = [p._version for p in bm.parameters()]
    with bp.enable_grad():
        bo.step()
    for p, v in zip(bm.parameters(), versions):
        assert p.is_leaf and p.grad_fn is None and p.requires_grad
        assert p._version > v
    for state in bo.state.values():
        for value in state.values():
            assert value.grad_fn is None and not value.requires_grad


def test_params_without_grad_are_skipped():
    tm, bm = make_models()
    bo = bp.optim.Adam(bm.parameters(), lr=0.1)
    to = torch.optim.Adam(tm.parameters(), lr=0.1)
    frozen_bp, frozen_t = bm[2].weight, tm[2].weight
    frozen_bp.requires_grad_(False)
    frozen_t.requires_grad_(False)
    before = frozen_bp.detach().numpy().copy()
    train(bp, bm, bo, range(4))
    train(torch, tm, to, range(4))
    np.testing.assert_array_equal(frozen_bp.detach().numpy(), before)
    assert frozen_bp not in bo.state
    assert len(bo.state) == len(to.state) == 3
    assert_params_close(bm, tm)


def test_tensor_lr(device):
    """A CPU tensor ``lr`` (as torch's non-capturable optimizers take it) with parameters on ``device``."""
    tm, bm = make_models(device=device)
    to = torch.optim.Adam(tm.parameters(), lr=torch.tensor(0.01))
    bo = bp.optim.Adam(bm.parameters(), lr=bp.tensor(0.01))
    assert isinstance(bo.param_groups[0]["lr"], bp.Tensor)
    train(bp, bm, bo, range(N_STEPS), device=device)
    train(torch, tm, to, range(N_STEPS))
    assert_params_close(bm, tm)
    assert_state_on_device(bo)
    tm, bm = make_models(device=device)
    to = torch.optim.SGD(tm.parameters(), lr=torch.tensor(0.1), momentum=0.9)
    bo = bp.optim.SGD(bm.parameters(), lr=bp.tensor(0.1), momentum=0.9)
    train(bp, bm, bo, range(N_STEPS), device=device)
    train(torch, tm, to, range(N_STEPS))
    assert_params_close(bm, tm)


def test_noncontiguous_parameter():
    """A parameter whose array is a transposed view is updated in place through the view."""
    base = np.random.default_rng(0).standard_normal((3, 4)).astype("float32")
    p = bp.nn.Parameter(bp.tensor(base).t())
    assert not p.is_contiguous()
    q = torch.nn.Parameter(torch.tensor(base).t())
    bo, to = bp.optim.SGD([p], lr=0.1, momentum=0.9), torch.optim.SGD([q], lr=0.1, momentum=0.9)
    for i in range(3):
        g = np.full((4, 3), 0.5 + i, dtype="float32")
        p.grad, q.grad = bp.tensor(g), torch.tensor(g)
        bo.step()
        to.step()
    np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-6, atol=1e-6)


# ============================================================================ param groups
def _groups(m, model, lrs=(None, 0.5), **extra):
    g0 = {"params": list(model[0].parameters())}
    g1 = {"params": list(model[2].parameters())}
    if lrs[0] is not None:
        g0["lr"] = lrs[0]
    if lrs[1] is not None:
        g1["lr"] = lrs[1]
    g1.update(extra)
    return [g0, g1]


@pytest.mark.parametrize(
    "name,defaults,extra",
    [
        ("SGD", {"lr": 0.01, "momentum": 0.9}, {"momentum": 0.5, "nesterov": True}),
        ("Adam", {"lr": 0.001}, {"betas": (0.5, 0.9), "amsgrad": True}),
        ("RMSprop", {"lr": 0.001}, {"centered": True}),
    ],
)
def test_param_groups_with_different_options(name, defaults, extra):
    tm, bm = make_models()
    to = getattr(torch.optim, name)(_groups(torch, tm, (None, 0.05), **extra), **defaults)
    bo = getattr(bp.optim, name)(_groups(bp, bm, (None, 0.05), **extra), **defaults)
    assert len(bo.param_groups) == 2
    assert bo.param_groups[0]["lr"] == defaults["lr"] and bo.param_groups[1]["lr"] == 0.05
    for key, value in extra.items():
        assert bo.param_groups[1][key] == value
    train(bp, bm, bo, range(N_STEPS))
    train(torch, tm, to, range(N_STEPS))
    assert_params_close(bm, tm)
    assert bo.state_dict()["param_groups"] == to.state_dict()["param_groups"]


def test_add_param_group_mid_training():
    tm, bm = make_models()
    to = torch.optim.SGD(tm[0].parameters(), lr=0.1, momentum=0.9)
    bo = bp.optim.SGD(bm[0].parameters(), lr=0.1, momentum=0.9)
    frozen = params_np(bm)[2:]
    train(bp, bm, bo, range(3))
    train(torch, tm, to, range(3))
    for before, after in zip(frozen, params_np(bm)[2:]):
        np.testing.assert_array_equal(before, after)
    to.add_param_group({"params": tm[2].parameters(), "lr": 0.01})
    bo.add_param_group({"params": bm[2].parameters(), "lr": 0.01})
    assert bo.param_groups[1]["momentum"] == 0.9 and bo.param_groups[1]["lr"] == 0.01
    train(bp, bm, bo, range(3, N_STEPS))
    train(torch, tm, to, range(3, N_STEPS))
    assert_params_close(bm, tm)
    assert_state_close(bo, to)


@pytest.mark.skipif(tuple(int(v) for v in torch.__version__.split(".")[:2]) < (2, 13), reason="torch 2.11's Adagrad.add_param_group leaves the new group's state empty (KeyError 'sum' in step); the oracle is torch 2.13")
def test_adagrad_add_param_group_initializes_state():
    tm, bm = make_models()
    to = torch.optim.Adagrad(tm[0].parameters(), lr=0.1, initial_accumulator_value=0.2)
    bo = bp.optim.Adagrad(bm[0].parameters(), lr=0.1, initial_accumulator_value=0.2)
    assert len(bo.state) == 2  # created at construction, like torch
    to.add_param_group({"params": tm[2].parameters()})
    bo.add_param_group({"params": bm[2].parameters()})
    train(bp, bm, bo, range(5))
    train(torch, tm, to, range(5))
    assert_params_close(bm, tm)
    assert_state_close(bo, to)


def test_named_parameters():
    tm, bm = make_models()
    to = torch.optim.SGD(tm.named_parameters(), lr=0.1)
    bo = bp.optim.SGD(bm.named_parameters(), lr=0.1)
    assert bo.param_groups[0]["param_names"] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert bo.state_dict()["param_groups"] == to.state_dict()["param_groups"]
    with pytest.raises(ValueError, match="all optimizer param groups should be with/without names"):
        bo.add_param_group({"params": [bp.nn.Parameter(bp.zeros(2))]})


def _message(fn) -> str:
    with pytest.raises(Exception) as info:  # noqa: B017,PT011 - the type is compared below
        fn()
    return f"{type(info.value).__name__}: {info.value}"


def test_constructor_errors_match_torch():
    tm, bm = make_models()
    tp, bpp = list(tm.parameters()), list(bm.parameters())
    checks = [
        (lambda m, ps: m.optim.SGD([], lr=0.1)),
        (lambda m, ps: m.optim.SGD([{"params": ps[:2]}, {"params": ps[1:]}], lr=0.1)),
        (lambda m, ps: m.optim.SGD(ps[0], lr=0.1)),
        (lambda m, ps: m.optim.SGD([ps[0], 3], lr=0.1)),
        (lambda m, ps: m.optim.SGD([ps[0] * 2], lr=0.1)),
        (lambda m, ps: m.optim.SGD({"params": set(ps)}.values(), lr=0.1)),
        (lambda m, ps: m.optim.SGD([ps[0]], lr=0.1).add_param_group(ps[1])),
        (lambda m, ps: m.optim.SGD([ps[0]], lr=0.1).add_param_group({"params": set(ps[1:2])})),
        (lambda m, ps: m.optim.SGD([("a", ps[0]), ps[1]], lr=0.1)),
    ]
    for check in checks:
        assert _message(lambda c=check: c(bp, bpp)) == _message(lambda c=check: c(torch, tp)).replace(
            "torch.", "backprop."
        )


def test_duplicate_param_in_group_warns():
    p = bp.nn.Parameter(bp.zeros(3))
    with pytest.warns(UserWarning, match="duplicate parameters"):
        bp.optim.SGD([p, p], lr=0.1)


HYPER_ERRORS = [
    ("SGD", {"lr": -1}),
    ("SGD", {"lr": 0.1, "momentum": -0.5}),
    ("SGD", {"lr": 0.1, "weight_decay": -1e-3}),
    ("SGD", {"lr": 0.1, "nesterov": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True}),
    ("Adam", {"lr": -1}),
    ("Adam", {"eps": -1.0}),
    ("Adam", {"betas": (1.0, 0.999)}),
    ("Adam", {"betas": (0.9, -0.1)}),
    ("Adam", {"weight_decay": -0.1}),
    ("Adam", {"betas": (0, 0.999)}),
    ("AdamW", {"lr": -0.5}),
    ("AdamW", {"betas": (0.9, 1.5)}),
    ("RMSprop", {"lr": -1}),
    ("RMSprop", {"alpha": -0.1}),
    ("RMSprop", {"momentum": -1}),
    ("RMSprop", {"eps": -1}),
    ("RMSprop", {"weight_decay": -1}),
    ("Adagrad", {"lr": -1}),
    ("Adagrad", {"lr_decay": -1}),
    ("Adagrad", {"initial_accumulator_value": -1}),
    ("Adagrad", {"eps": -1}),
    ("Adagrad", {"weight_decay": -1}),
    ("Adamax", {"betas": (1.0, 0.9)}),
    ("NAdam", {"momentum_decay": -1}),
    ("RAdam", {"lr": -1}),
    ("Adadelta", {"lr": -1}),
    ("Adadelta", {"rho": 1.5}),
    ("Adadelta", {"rho": -0.1}),
    ("Adadelta", {"eps": -1e-6}),
    ("Adadelta", {"weight_decay": -0.1}),
    ("Rprop", {"lr": -0.01}),
    ("Rprop", {"etas": (1.0, 1.2)}),
    ("Rprop", {"etas": (0.5, 0.9)}),
    ("Rprop", {"etas": (0.0, 1.2)}),
    ("ASGD", {"lr": -0.5}),
    ("ASGD", {"weight_decay": -1}),
    ("LBFGS", {"lr": -1}),
]


@pytest.mark.parametrize("case", HYPER_ERRORS, ids=_case_id)
def test_hyperparameter_validation_matches_torch(case):
    name, kwargs = case
    tm, bm = make_models()
    ours = _message(lambda: getattr(bp.optim, name)(bm.parameters(), **kwargs))
    theirs = _message(lambda: getattr(torch.optim, name)(tm.parameters(), **kwargs))
    assert ours == theirs  # torch's exception type and message (some cases are accepted by both)


def test_tensor_lr_must_have_one_element():
    p = bp.nn.Parameter(bp.zeros(2))
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        bp.optim.SGD([p], lr=bp.tensor([0.1, 0.2]))


def test_defaults_and_repr_match_torch():
    tm, bm = make_models()
    for name in ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "NAdam", "RAdam"]:
        to = getattr(torch.optim, name)(tm.parameters())
        bo = getattr(bp.optim, name)(bm.parameters())
        assert bo.defaults == to.defaults, name
        assert repr(bo) == repr(to), name
        assert bo.state_dict()["param_groups"] == to.state_dict()["param_groups"], name


# ============================================================================ zero_grad
def test_zero_grad_set_to_none():
    _, bm = make_models()
    bo = bp.optim.SGD(bm.parameters(), lr=0.1)
    ((bm(bp.tensor(X[0])) - bp.tensor(Y[0])) ** 2).mean().backward()
    assert all(p.grad is not None for p in bm.parameters())
    bo.zero_grad()
    assert all(p.grad is None for p in bm.parameters())


def test_zero_grad_in_place():
    _, bm = make_models()
    bo = bp.optim.SGD(bm.parameters(), lr=0.1)
    ((bm(bp.tensor(X[0])) - bp.tensor(Y[0])) ** 2).mean().backward()
    grads = [p.grad for p in bm.parameters()]
    versions = [g._version for g in grads]
    bo.zero_grad(set_to_none=False)
    for p, g, v in zip(bm.parameters(), grads, versions):
        assert p.grad is g, "zero_grad(set_to_none=False) must keep the gradient tensor"
        assert not g.requires_grad
        assert g._version > v
        np.testing.assert_array_equal(g.numpy(), np.zeros(p.shape, dtype="float32"))
    # Gradients then accumulate into the zeroed tensors, and training matches torch.
    tm, bm = make_models()
    to, bo = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9), bp.optim.SGD(bm.parameters(), lr=0.1, momentum=0.9)
    train(bp, bm, bo, range(N_STEPS), set_to_none=False)
    train(torch, tm, to, range(N_STEPS), set_to_none=False)
    assert_params_close(bm, tm)


def test_zero_grad_detaches_a_grad_with_history():
    p = bp.nn.Parameter(bp.ones(3))
    w = bp.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (p * w).sum().backward(create_graph=True)
    assert p.grad.grad_fn is not None
    bp.optim.SGD([p], lr=0.1).zero_grad(set_to_none=False)
    assert p.grad.grad_fn is None
    np.testing.assert_array_equal(p.grad.numpy(), np.zeros(3, dtype="float32"))


# ============================================================================ state_dict
@pytest.mark.parametrize("case", [c for c in CASES if c[0] != "SGD" or c[1].get("momentum")], ids=_case_id)
def test_state_dict_round_trip(case, device):
    """Save after 5 steps, load into a fresh optimizer, continue 5 steps: same as 10 uninterrupted.
    On a device: a state saved on the CPU loads onto the parameters' device (as torch's), and
    one saved on the device loads there."""
    name, kwargs = case
    _, ref_model = make_models(device=device)
    ref_opt = getattr(bp.optim, name)(ref_model.parameters(), **kwargs)
    train(bp, ref_model, ref_opt, range(N_STEPS), device=device)

    for saved_on in dict.fromkeys(["cpu", device]):
        _, model = make_models(device=saved_on)
        opt = getattr(bp.optim, name)(model.parameters(), **kwargs)
        train(bp, model, opt, range(5), device=saved_on)
        saved = copy.deepcopy(opt.state_dict())
        _, model2 = make_models(seed=1)
        model2.load_state_dict(model.state_dict())
        model2 = model2.to(device)
        other = {k: v for k, v in kwargs.items() if k != "lr"}
        opt2 = getattr(bp.optim, name)(model2.parameters(), lr=0.123, **other)
        opt2.load_state_dict(saved)
        assert opt2.param_groups[0]["lr"] == kwargs.get("lr", ref_opt.defaults["lr"])
        assert opt2.param_groups[0]["params"] == list(model2.parameters())
        assert_state_on_device(opt2)
        train(bp, model2, opt2, range(5, N_STEPS), device=device)
        # Saved where it continues: bit for bit. Saved on the CPU: the first 5 steps ran on the CPU,
        # so equal up to the rounding of the device's fused kernels.
        same = np.testing.assert_array_equal if saved_on == device else lambda a, b, **kw: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, **kw)
        for a, b in zip(params_np(model2), params_np(ref_model)):
            same(a, b)
        for p, q in zip(model2.parameters(), ref_model.parameters()):
            for key, value in ref_opt.state[q].items():
                same(opt2.state[p][key].cpu().numpy(), value.cpu().numpy(), err_msg=key)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad"])
def test_load_state_dict_fills_options_an_older_saver_lacked_like_torch(name):
    """A state_dict without the newer options and with plain-number steps (what older torch
    versions saved) loads as in torch: options get their defaults, steps become tensors."""
    tm, bm, to, bo = build(name, {"lr": 0.01, "momentum": 0.5} if name in ("SGD", "RMSprop") else {"lr": 0.01})
    train(bp, bm, bo, range(2))
    train(torch, tm, to, range(2))
    old_ours, old_theirs = copy.deepcopy(bo.state_dict()), copy.deepcopy(to.state_dict())
    for sd in (old_ours, old_theirs):
        for key in ("maximize", "foreach", "differentiable", "capturable", "fused", "nesterov", "centered"):
            sd["param_groups"][0].pop(key, None)
        for st in sd["state"].values():
            if "step" in st:
                st["step"] = 2
    bo.load_state_dict(old_ours)
    to.load_state_dict(old_theirs)
    ours, theirs = bo.param_groups[0], to.param_groups[0]
    assert {k: v for k, v in ours.items() if k != "params"} == {k: v for k, v in theirs.items() if k != "params"}
    for p_ours, p_theirs in zip(bm.parameters(), tm.parameters()):
        step_ours, step_theirs = bo.state[p_ours].get("step"), to.state[p_theirs].get("step")
        assert isinstance(step_ours, bp.Tensor) == isinstance(step_theirs, torch.Tensor)
        if step_theirs is not None:
            assert float(step_ours) == float(step_theirs) == 2.0


def test_load_state_dict_keeps_a_user_optimizers_number_step():
    class Counting(bp.optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, {"lr": 0.1})

        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    self.state[p]["step"] = self.state[p].get("step", 0) + 1

    w = bp.nn.Parameter(bp.zeros(2))
    opt = Counting([w])
    opt.step()
    opt.load_state_dict(opt.state_dict())
    assert opt.state[w]["step"] == 1 and type(opt.state[w]["step"]) is int


def test_state_dict_format_matches_torch():
    tm, bm, to, bo = build("Adam", {"lr": 0.01, "amsgrad": True})
    train(bp, bm, bo, range(3))
    train(torch, tm, to, range(3))
    ours, theirs = bo.state_dict(), to.state_dict()
    assert list(ours) == ["state", "param_groups"]
    assert list(ours["state"]) == [0, 1, 2, 3]
    assert ours["param_groups"] == theirs["param_groups"]
    assert ours["param_groups"][0]["params"] == [0, 1, 2, 3]
    assert ours["state"][0]["step"].item() == 3.0
    assert_state_close(bo, to)


def test_state_dict_is_live_like_torch_and_load_copies():
    _, bm, _, bo = build("SGD", {"lr": 0.1, "momentum": 0.9})
    train(bp, bm, bo, range(2))
    sd = bo.state_dict()
    p0 = next(iter(bm.parameters()))
    assert sd["state"][0]["momentum_buffer"] is bo.state[p0]["momentum_buffer"]
    _, bm2 = make_models()
    bo2 = bp.optim.SGD(bm2.parameters(), lr=0.1, momentum=0.9)
    bo2.load_state_dict(sd)
    q0 = next(iter(bm2.parameters()))
    loaded = bo2.state[q0]["momentum_buffer"]
    assert loaded is not sd["state"][0]["momentum_buffer"]
    before = loaded.numpy().copy()
    train(bp, bm, bo, range(2, 4))  # stepping the first optimizer leaves the loaded copy alone
    np.testing.assert_array_equal(loaded.numpy(), before)
    assert bo2.param_groups[0] is not sd["param_groups"][0]


@pytest.mark.parametrize(
    "case",
    [
        ("SGD", {"lr": 0.1, "momentum": 0.9}),
        ("Adam", {"lr": 0.01, "amsgrad": True}),
        ("RMSprop", {"lr": 0.001, "centered": True, "momentum": 0.5}),
        ("Adagrad", {"lr": 0.1}),
        ("NAdam", {"lr": 0.01}),
        ("AdamW", {"lr": 0.01}),
        ("Adadelta", {"lr": 0.5, "weight_decay": 0.05}),
        ("Rprop", {"lr": 0.05, "etas": (0.3, 1.5)}),
        ("ASGD", {"lr": 0.05, "t0": 3}),
    ],
    ids=_case_id,
)
def test_load_torch_state_dict(case, device):
    """A torch optimizer's state dict (torch CPU tensors) loads into backprop's, onto its
    parameters' device; both then continue alike."""
    name, kwargs = case
    tm, bm, to, bo = build(name, kwargs, device=device)
    train(torch, tm, to, range(5))
    bm.load_state_dict(tm.state_dict())
    bo.load_state_dict(to.state_dict())
    for state in bo.state.values():
        for value in state.values():
            assert isinstance(value, bp.Tensor)
    assert_state_close(bo, to, rtol=0, atol=0)
    assert_state_on_device(bo)
    train(bp, bm, bo, range(5, N_STEPS), device=device)
    train(torch, tm, to, range(5, N_STEPS))
    assert_params_close(bm, tm)


def test_backprop_state_dict_loads_into_torch():
    tm, bm, to, bo = build("Adam", {"lr": 0.01})
    train(bp, bm, bo, range(5))
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in bm.state_dict().items()})
    sd = bo.state_dict()
    to.load_state_dict(
        {
            "state": {i: {k: torch.tensor(v.numpy()) for k, v in s.items()} for i, s in sd["state"].items()},
            "param_groups": sd["param_groups"],
        }
    )
    train(bp, bm, bo, range(5, N_STEPS))
    train(torch, tm, to, range(5, N_STEPS))
    assert_params_close(bm, tm)


def test_load_state_dict_errors_match_torch():
    tm, bm = make_models()
    to = torch.optim.SGD(_groups(torch, tm), lr=0.1)
    bo = bp.optim.SGD(_groups(bp, bm), lr=0.1)
    one_group_t = torch.optim.SGD(tm.parameters(), lr=0.1).state_dict()
    one_group_b = bp.optim.SGD(bm.parameters(), lr=0.1).state_dict()
    assert _message(lambda: bo.load_state_dict(one_group_b)) == _message(lambda: to.load_state_dict(one_group_t))
    assert "different number of parameter groups" in _message(lambda: bo.load_state_dict(one_group_b))
    swapped_t = torch.optim.SGD(_groups(torch, tm)[::-1] + [], lr=0.1).state_dict()
    swapped_t["param_groups"][0]["params"] = [0]
    swapped_t["param_groups"][1]["params"] = [1, 2, 3]
    swapped_b = copy.deepcopy(bo.state_dict())
    swapped_b["param_groups"][0]["params"] = [0]
    swapped_b["param_groups"][1]["params"] = [1, 2, 3]
    message = _message(lambda: bo.load_state_dict(swapped_b))
    assert message == _message(lambda: to.load_state_dict(swapped_t))
    assert (
        message
        == "ValueError: loaded state dict contains a parameter group that doesn't match the size of optimizer's group"
    )


def test_load_state_dict_casts_to_param_dtype():
    p = bp.nn.Parameter(bp.zeros(3, dtype=bp.float64))
    opt = bp.optim.Adam([p], lr=0.1)
    sd = {
        "state": {0: {"step": bp.tensor(4.0), "exp_avg": bp.ones(3), "exp_avg_sq": bp.ones(3)}},
        "param_groups": [dict(opt.state_dict()["param_groups"][0])],
    }
    opt.load_state_dict(sd)
    state = opt.state[p]
    assert state["exp_avg"].dtype == bp.float64 and state["exp_avg_sq"].dtype == bp.float64
    assert state["step"].dtype == bp.float32  # step is never cast, as in torch
    p.grad = bp.ones(3, dtype=bp.float64)
    opt.step()
    assert state["step"].item() == 5.0 and p.dtype == bp.float64


def test_load_state_dict_python_number_step_becomes_tensor():
    p = bp.nn.Parameter(bp.zeros(3))
    opt = bp.optim.Adam([p], lr=0.1)
    sd = {
        "state": {0: {"step": 2, "exp_avg": bp.ones(3), "exp_avg_sq": bp.ones(3)}},
        "param_groups": [dict(opt.state_dict()["param_groups"][0])],
    }
    opt.load_state_dict(sd)
    assert isinstance(opt.state[p]["step"], bp.Tensor) and opt.state[p]["step"].item() == 2.0


def test_adamw_load_keeps_decoupled_weight_decay():
    p = bp.nn.Parameter(bp.zeros(3))
    sd = bp.optim.Adam([bp.nn.Parameter(bp.zeros(3))], lr=0.1).state_dict()
    opt = bp.optim.AdamW([p])
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["decoupled_weight_decay"] is True


def test_state_dict_hooks():
    p = bp.nn.Parameter(bp.zeros(3))
    opt = bp.optim.SGD([p], lr=0.1)
    calls = []
    opt.register_state_dict_pre_hook(lambda o: calls.append("pre"))
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "extra": 1})
    sd = opt.state_dict()
    assert calls == ["pre"] and sd["extra"] == 1
    opt.register_load_state_dict_pre_hook(lambda o, sd: calls.append("load_pre"))
    opt.register_load_state_dict_post_hook(lambda o: calls.append("load_post"))
    opt.load_state_dict(sd)
    assert calls == ["pre", "load_pre", "load_post"]


def test_deepcopy_optimizer_state():
    _, bm, _, bo = build("Adam", {"lr": 0.01})
    train(bp, bm, bo, range(2))
    snapshot = copy.deepcopy(bo.state_dict())
    train(bp, bm, bo, range(2, 4))
    assert snapshot["state"][0]["step"].item() == 2.0
    assert bo.state_dict()["state"][0]["step"].item() == 4.0


# ============================================================================ step: closure, hooks
def test_closure_returns_loss_and_runs_with_grad():
    tm, bm, to, bo = build("SGD", {"lr": 0.1, "momentum": 0.9})
    x, y = bp.tensor(X[0]), bp.tensor(Y[0])
    seen = []

    def closure():
        seen.append(bp.is_grad_enabled())
        bo.zero_grad()
        loss = ((bm(x) - y) ** 2).mean()
        loss.backward()
        return loss

    def t_closure():
        to.zero_grad()
        loss = ((tm(torch.tensor(X[0])) - torch.tensor(Y[0])) ** 2).mean()
        loss.backward()
        return loss

    with bp.no_grad():
        loss = bo.step(closure)
    t_loss = to.step(t_closure)
    assert seen == [True]
    assert isinstance(loss, bp.Tensor)
    np.testing.assert_allclose(loss.item(), t_loss.item(), rtol=1e-6)
    assert_params_close(bm, tm)
    assert bo.step() is None


def test_step_hooks():
    p = bp.nn.Parameter(bp.ones(2))
    p.grad = bp.ones(2)
    opt = bp.optim.SGD([p], lr=0.5)
    calls = []

    def pre(o, args, kwargs):
        calls.append(("pre", o is opt, args, dict(kwargs)))

    def post(o, args, kwargs):
        calls.append(("post", float(p.detach()[0])))

    h1 = opt.register_step_pre_hook(pre)
    h2 = opt.register_step_post_hook(post)
    opt.step()
    assert calls == [("pre", True, (), {}), ("post", 0.5)]
    h1.remove()
    h2.remove()
    opt.step()
    assert len(calls) == 2
    np.testing.assert_allclose(p.detach().numpy(), [0.0, 0.0])


def test_step_pre_hook_can_replace_arguments():
    p = bp.nn.Parameter(bp.ones(2))
    opt = bp.optim.SGD([p], lr=0.5)
    opt.register_step_pre_hook(lambda o, args, kwargs: ((), {"closure": lambda: 42}))
    assert opt.step() == 42
    opt.register_step_pre_hook(lambda o, args, kwargs: "bad")
    with pytest.raises(RuntimeError, match="must return None or a tuple of"):
        opt.step()


def test_global_step_hooks():
    p = bp.nn.Parameter(bp.ones(2))
    opt = bp.optim.Adam([p])
    calls = []
    h1 = bp.optim.register_optimizer_step_pre_hook(lambda o, a, k: calls.append("pre"))
    h2 = bp.optim.register_optimizer_step_post_hook(lambda o, a, k: calls.append("post"))
    try:
        opt.step()
    finally:
        h1.remove()
        h2.remove()
    opt.step()
    assert calls == ["pre", "post"]


def test_custom_optimizer_subclass():
    """A user-defined optimizer gets hooks, state and state_dict from the base class."""

    class SignSGD(bp.optim.Optimizer):
        def __init__(self, params, lr=0.01):
            super().__init__(params, {"lr": lr})

        @bp.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.sub_(group["lr"] * p.grad.sign())
                        self.state[p]["count"] = self.state[p].get("count", 0) + 1

    p = bp.nn.Parameter(bp.tensor([1.0, -1.0]))
    opt = SignSGD([p], lr=0.25)
    calls = []
    opt.register_step_post_hook(lambda o, a, k: calls.append(1))
    p.grad = bp.tensor([3.0, -2.0])
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(), [0.75, -0.75])
    assert calls == [1]
    assert opt.state_dict()["state"] == {0: {"count": 1}}
    with pytest.raises(ValueError, match="required optimization parameter lr"):
        bp.optim.Optimizer([p], {"lr": bp.optim.optimizer.required})


def test_differentiable_is_rejected():
    p = bp.nn.Parameter(bp.ones(2))
    with pytest.raises(NotImplementedError):
        bp.optim.Adam([p], differentiable=True)


def test_import_as_torch_training_loop():
    """Ordinary PyTorch training code runs unchanged with ``import backprop as torch``."""
    import backprop as torch_  # noqa: F401 - the alias is the point

    def fit(torch_mod):
        torch_mod.manual_seed(0)
        model = torch_mod.nn.Sequential(torch_mod.nn.Linear(4, 8), torch_mod.nn.Tanh(), torch_mod.nn.Linear(8, 3))
        return model

    tm = fit(torch)
    bm = fit(bp)
    bm.load_state_dict(tm.state_dict())
    losses = {}
    for name, m, model in (("torch", torch, tm), ("bp", bp, bm)):
        opt = m.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
        sched = m.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=N_STEPS)
        out = []
        for i in range(N_STEPS):
            opt.zero_grad()
            loss = m.nn.functional.mse_loss(model(m.tensor(X[i])), m.tensor(Y[i]))
            loss.backward()
            opt.step()
            sched.step()
            out.append(loss.item())
        losses[name] = out
    np.testing.assert_allclose(losses["bp"], losses["torch"], rtol=1e-5, atol=1e-6)
    assert losses["bp"][-1] < losses["bp"][0]
    assert_params_close(bm, tm)


def test_no_warnings_during_plain_training():
    tm, bm, to, bo = build("Adam", {"lr": 0.01})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train(bp, bm, bo, range(3))


def test_error_message_for_non_tensor_mentions_type():
    message = _message(lambda: bp.optim.SGD([np.zeros(2)], lr=0.1))
    assert re.search(r"one of the params is numpy\.ndarray", message)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "NAdam", "RAdam"])
def test_numpy_scalar_hyperparameters_do_not_promote(name):
    """NumPy float64 scalars (strong types in NumPy 2) give bit-identical float32 results to Python floats."""
    kwargs = {"lr": 0.01, "weight_decay": 0.1}
    if name in ("SGD", "RMSprop"):
        kwargs["momentum"] = 0.9
    np_kwargs = {k: np.float64(v) for k, v in kwargs.items()}
    if name not in ("SGD", "RMSprop"):
        kwargs["betas"] = (0.8, 0.95)
        np_kwargs["betas"] = (np.float64(0.8), np.float64(0.95))
    if name == "Adam":
        np_kwargs["betas"] = kwargs["betas"]  # Adam insists on Python floats, as torch does
    _, m1 = make_models()
    _, m2 = make_models()
    o1 = getattr(bp.optim, name)(m1.parameters(), **kwargs)
    o2 = getattr(bp.optim, name)(m2.parameters(), **np_kwargs)
    train(bp, m1, o1, range(5))
    train(bp, m2, o2, range(5))
    for a, b in zip(params_np(m1), params_np(m2)):
        assert b.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_checkpoint_through_save_and_load(tmp_path):
    """The usual checkpoint: ``save`` the model, optimizer and scheduler state dicts, ``load`` and resume."""
    _, ref_model = make_models()
    ref_opt = bp.optim.Adam(ref_model.parameters(), lr=0.01)
    ref_sched = bp.optim.lr_scheduler.StepLR(ref_opt, step_size=2, gamma=0.5)
    for i in range(N_STEPS):
        train(bp, ref_model, ref_opt, [i])
        ref_sched.step()

    _, model = make_models()
    opt = bp.optim.Adam(model.parameters(), lr=0.01)
    sched = bp.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for i in range(5):
        train(bp, model, opt, [i])
        sched.step()
    path = tmp_path / "ckpt.pt"
    bp.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, path)

    ckpt = bp.load(path)
    _, model2 = make_models(seed=3)
    model2.load_state_dict(ckpt["model"])
    opt2 = bp.optim.Adam(model2.parameters(), lr=0.01)
    sched2 = bp.optim.lr_scheduler.StepLR(opt2, step_size=2, gamma=0.5)
    opt2.load_state_dict(ckpt["opt"])
    sched2.load_state_dict(ckpt["sched"])
    for i in range(5, N_STEPS):
        train(bp, model2, opt2, [i])
        sched2.step()
    assert sched2.get_last_lr() == ref_sched.get_last_lr()
    for a, b in zip(params_np(model2), params_np(ref_model)):
        np.testing.assert_array_equal(a, b)
