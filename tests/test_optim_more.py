"""``backprop.optim`` Adadelta, Rprop, ASGD and LBFGS against torch 2.13.

As in test_optim.py: the same Linear-Tanh-Linear model in both frameworks with torch's
weights, trained with the same options, parameters and optimizer state compared to float32
rounding; the same gradients fed to both; ``state_dict`` format, round trips and torch
interchange; validation errors with torch's types and messages; float64.

LBFGS runs many closure evaluations per ``step`` and amplifies rounding differences (a
one-ulp change in one weight moves torch's own result by ~1e-4 after 20 iterations), so in
float32 it is compared over a few iterations per step, and over full runs in float64.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import backprop as bp
from test_optim import CASES as ALL_CASES
from test_optim import (
    N_STEPS,
    X,
    Y,
    _case_id,
    _message,
    assert_params_close,
    assert_state_close,
    build,
    make_models,
    params_np,
    train,
)

torch.set_num_threads(1)


class _DefaultDtype:
    """Set both frameworks' default dtype for the block."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self):
        self.saved = torch.get_default_dtype(), bp.get_default_dtype()
        torch.set_default_dtype(getattr(torch, self.name))
        bp.set_default_dtype(getattr(bp, self.name))

    def __exit__(self, *exc):
        torch.set_default_dtype(self.saved[0])
        bp.set_default_dtype(self.saved[1])


# ============================================================================ Adadelta, Rprop, ASGD
# Their training, same-gradient and state_dict round-trip cases are in test_optim.CASES.
NAMES = ["Adadelta", "Rprop", "ASGD"]
CASES = [c for c in ALL_CASES if c[0] in NAMES]


@pytest.mark.parametrize(
    "case",
    [
        ("Adadelta", {"lr": 0.5, "weight_decay": 0.1}),
        ("Rprop", {"lr": 0.05, "etas": (0.3, 1.5), "maximize": True}),
        ("ASGD", {"lr": 0.05, "t0": 3, "lambd": 1e-2, "weight_decay": 0.1}),
    ],
    ids=_case_id,
)
def test_float64_training_matches_torch(case):
    name, kwargs = case
    with _DefaultDtype("float64"):
        tm, bm, to, bo = build(name, kwargs, dtype="float64")
        train(bp, bm, bo, range(N_STEPS), dtype="float64")
        train(torch, tm, to, range(N_STEPS), dtype="float64")
    for p in bm.parameters():
        assert p.dtype == bp.float64
    for state in bo.state.values():
        assert state["step"].dtype == bp.float64  # torch's scalar dtype under a float64 default
    assert_params_close(bm, tm, rtol=1e-10, atol=1e-12)
    assert_state_close(bo, to, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_float64_params_with_float32_default(name):
    """float64 parameters under a float32 default: float64 buffers, float32 scalar state."""
    kwargs = {"t0": 2} if name == "ASGD" else {}
    tm, bm, to, bo = build(name, kwargs, dtype="float64")
    train(bp, bm, bo, range(5), dtype="float64")
    train(torch, tm, to, range(5), dtype="float64")
    assert_params_close(bm, tm, rtol=1e-10, atol=1e-12)
    assert_state_close(bo, to, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_state_keys_dtypes_and_step(name):
    _, bm, _, bo = build(name, {})
    train(bp, bm, bo, range(3))
    expected = {
        "Adadelta": ["step", "square_avg", "acc_delta"],
        "Rprop": ["step", "prev", "step_size"],
        "ASGD": ["step", "eta", "mu", "ax"],
    }[name]
    for p in bm.parameters():
        state = bo.state[p]
        assert list(state) == expected
        for key, value in state.items():
            assert isinstance(value, bp.Tensor) and value.dtype == bp.float32, key
            assert value.shape == (() if key in ("step", "eta", "mu") else p.shape), key
        assert state["step"].item() == 3.0


@pytest.mark.parametrize("name", NAMES)
def test_defaults_repr_and_param_groups_match_torch(name):
    tm, bm = make_models()
    to = getattr(torch.optim, name)(tm.parameters())
    bo = getattr(bp.optim, name)(bm.parameters())
    assert bo.defaults == to.defaults
    assert list(bo.defaults) == list(to.defaults)
    assert repr(bo) == repr(to)
    assert bo.state_dict()["param_groups"] == to.state_dict()["param_groups"]


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_state_dict_format_matches_torch(case):
    name, kwargs = case
    tm, bm, to, bo = build(name, kwargs)
    train(bp, bm, bo, range(3))
    train(torch, tm, to, range(3))
    ours, theirs = bo.state_dict(), to.state_dict()
    assert list(ours) == list(theirs) == ["state", "param_groups"]
    assert ours["param_groups"] == theirs["param_groups"]
    assert list(ours["state"]) == list(theirs["state"]) == [0, 1, 2, 3]
    assert_state_close(bo, to)


@pytest.mark.parametrize("name", NAMES)
def test_load_old_format_state_like_torch(name):
    """Options missing from a saved group get their defaults; numbers saved for ``step``
    (and ASGD's ``eta``/``mu``) become 0-d tensors again, as torch's ``__setstate__`` does."""
    tm, bm, to, bo = build(name, {})
    train(bp, bm, bo, range(2))
    train(torch, tm, to, range(2))
    old_ours, old_theirs = copy.deepcopy(bo.state_dict()), copy.deepcopy(to.state_dict())
    for sd in (old_ours, old_theirs):
        for key in ("maximize", "foreach", "differentiable", "capturable"):
            sd["param_groups"][0].pop(key)
        for st in sd["state"].values():
            for key in ("step", "eta", "mu"):
                if key in st:
                    st[key] = float(st[key])
    bo.load_state_dict(old_ours)
    to.load_state_dict(old_theirs)
    ours, theirs = bo.param_groups[0], to.param_groups[0]
    assert {k: v for k, v in ours.items() if k != "params"} == {k: v for k, v in theirs.items() if k != "params"}
    for p_ours, p_theirs in zip(bm.parameters(), tm.parameters()):
        for key, value in to.state[p_theirs].items():
            mine = bo.state[p_ours][key]
            assert isinstance(mine, bp.Tensor) == isinstance(value, torch.Tensor), key
            assert mine.dtype == bp.float32, key
            np.testing.assert_allclose(mine.numpy(), value.numpy(), rtol=1e-5, atol=1e-7, err_msg=key)
    train(bp, bm, bo, range(2, 5))
    train(torch, tm, to, range(2, 5))
    assert_params_close(bm, tm)


def test_backprop_state_dict_loads_into_torch():
    tm, bm, to, bo = build("ASGD", {"lr": 0.05, "t0": 2})
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
    assert_state_close(bo, to)


@pytest.mark.parametrize("name", NAMES)
def test_tensor_lr(name):
    tm, bm = make_models()
    to = getattr(torch.optim, name)(tm.parameters(), lr=torch.tensor(0.05))
    bo = getattr(bp.optim, name)(bm.parameters(), lr=bp.tensor(0.05))
    assert isinstance(bo.param_groups[0]["lr"], bp.Tensor)
    train(bp, bm, bo, range(N_STEPS))
    train(torch, tm, to, range(N_STEPS))
    assert_params_close(bm, tm)


@pytest.mark.parametrize("name", NAMES)
def test_param_groups_and_frozen_params(name):
    """Two groups with their own lr; a parameter without a gradient gets no state and stays put."""
    tm, bm = make_models()
    groups = {
        m: [{"params": [model[0].weight, model[0].bias]}, {"params": [model[2].weight, model[2].bias], "lr": 0.003}]
        for m, model in ((torch, tm), (bp, bm))
    }
    to = getattr(torch.optim, name)(groups[torch], lr=0.05)
    bo = getattr(bp.optim, name)(groups[bp], lr=0.05)
    tm[2].bias.requires_grad_(False)
    bm[2].bias.requires_grad_(False)
    frozen = bm[2].bias.detach().numpy().copy()
    train(bp, bm, bo, range(N_STEPS))
    train(torch, tm, to, range(N_STEPS))
    assert bm[2].bias not in bo.state and len(bo.state) == len(to.state) == 3
    np.testing.assert_array_equal(bm[2].bias.detach().numpy(), frozen)
    assert_params_close(bm, tm)
    assert_state_close(bo, to)
    assert bo.state_dict()["param_groups"] == to.state_dict()["param_groups"]


@pytest.mark.parametrize("name", NAMES)
def test_closure_returns_loss(name):
    tm, bm, to, bo = build(name, {})
    x, y = bp.tensor(X[0]), bp.tensor(Y[0])

    def closure():
        bo.zero_grad()
        loss = ((bm(x) - y) ** 2).mean()
        loss.backward()
        return loss

    before = params_np(bm)
    loss = bo.step(closure)
    assert isinstance(loss, bp.Tensor) and loss.requires_grad
    tx, ty = torch.tensor(X[0]), torch.tensor(Y[0])

    def tclosure():
        to.zero_grad()
        loss = ((tm(tx) - ty) ** 2).mean()
        loss.backward()
        return loss

    assert loss.item() == pytest.approx(to.step(tclosure).item(), rel=1e-6)
    assert any(not np.array_equal(a, b) for a, b in zip(before, params_np(bm)))
    assert_params_close(bm, tm)


def test_step_records_no_graph_and_bumps_version():
    for name in NAMES:
        _, bm, _, bo = build(name, {})
        ((bm(bp.tensor(X[0])) - bp.tensor(Y[0])) ** 2).mean().backward()
        versions = [p._version for p in bm.parameters()]
        with bp.enable_grad():
            bo.step()
        for p, v in zip(bm.parameters(), versions):
            assert p.is_leaf and p.grad_fn is None and p._version > v
        for state in bo.state.values():
            for value in state.values():
                assert value.grad_fn is None and not value.requires_grad


def test_rprop_step_size_is_clamped():
    p = bp.nn.Parameter(bp.zeros(3))
    opt = bp.optim.Rprop([p], lr=0.1, etas=(0.5, 2.0), step_sizes=(0.05, 0.3))
    for _ in range(5):  # the same sign every step: the step size grows to the maximum
        p.grad = bp.tensor([1.0, -1.0, 2.0])
        opt.step()
    np.testing.assert_allclose(opt.state[p]["step_size"].numpy(), [0.3, 0.3, 0.3])
    for _ in range(6):  # alternating signs: it shrinks to the minimum
        p.grad = -p.grad
        opt.step()
    np.testing.assert_allclose(opt.state[p]["step_size"].numpy(), [0.05, 0.05, 0.05])


def test_asgd_averages_after_t0():
    """``ax`` is a copy of the parameter while ``mu == 1`` and a running average after ``t0``."""
    p = bp.nn.Parameter(bp.tensor([1.0, 2.0]))
    opt = bp.optim.ASGD([p], lr=0.1, t0=2, lambd=0.0)
    for _ in range(3):
        p.grad = bp.tensor([1.0, 1.0])
        opt.step()
    state = opt.state[p]
    np.testing.assert_array_equal(state["ax"].numpy(), p.detach().numpy())
    assert state["mu"].item() == 1.0 and state["eta"].item() == pytest.approx(0.1)
    history = [p.detach().numpy().copy()]
    for _ in range(3):
        p.grad = bp.tensor([1.0, 1.0])
        opt.step()
        history.append(p.detach().numpy().copy())
    assert state["mu"].item() == pytest.approx(1 / 4)
    # mu was 1 on step 4 (a copy), then 1/2 and 1/3: the mean of the last three iterates
    np.testing.assert_allclose(state["ax"].numpy(), np.mean(history[1:], axis=0), rtol=1e-6)
    assert not np.allclose(state["ax"].numpy(), p.detach().numpy())


@pytest.mark.parametrize("name", [*NAMES, "LBFGS"])
def test_tensor_lr_must_have_one_element(name):
    tm, bm = make_models()
    ours = _message(lambda: getattr(bp.optim, name)(bm.parameters(), lr=bp.tensor([0.1, 0.2])))
    theirs = _message(lambda: getattr(torch.optim, name)(tm.parameters(), lr=torch.tensor([0.1, 0.2])))
    assert ours == theirs == "ValueError: Tensor lr must be 1-element"


@pytest.mark.parametrize("name", NAMES)
def test_differentiable_is_rejected(name):
    p = bp.nn.Parameter(bp.zeros(2))
    with pytest.raises(NotImplementedError, match="differentiable"):
        getattr(bp.optim, name)([p], differentiable=True)


@pytest.mark.parametrize("name", [*NAMES, "LBFGS"])
def test_signature_matches_torch(name):
    import inspect

    ours = inspect.signature(getattr(bp.optim, name))
    theirs = inspect.signature(getattr(torch.optim, name))
    assert list(ours.parameters) == list(theirs.parameters)
    for key, param in theirs.parameters.items():
        assert ours.parameters[key].kind == param.kind, key
        assert ours.parameters[key].default == param.default, key


def test_exported_from_optim():
    for name in [*NAMES, "LBFGS"]:
        assert name in bp.optim.__all__
        assert getattr(bp.optim, name).__module__ == f"backprop.optim.{name.lower()}"


# ============================================================================ LBFGS
XA, YA = X.reshape(-1, 4), Y.reshape(-1, 3)  # full batch: LBFGS is a full-batch method


def _closure(m, model, opt, dtype="float32", calls=None, device=None):
    on = {} if device is None else {"device": device}
    x, y = m.tensor(XA.astype(dtype), **on), m.tensor(YA.astype(dtype), **on)

    def closure():
        if calls is not None:
            calls.append(1)
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        return loss

    return closure


def _lbfgs_pair(kwargs, dtype="float32", device=None):
    tm, bm = make_models(dtype=dtype, device=device)
    return tm, bm, torch.optim.LBFGS(tm.parameters(), **kwargs), bp.optim.LBFGS(bm.parameters(), **kwargs)


def _lbfgs_run(m, model, opt, steps, dtype="float32", device=None):
    return [opt.step(_closure(m, model, opt, dtype, device=device)).item() for _ in range(steps)]


def assert_lbfgs_state_close(bo, to, rtol, atol):
    """Same keys in the same order, same Python types (numbers vs tensors, list lengths), close
    values; the state tensors on the parameters' device."""
    device = bo.param_groups[0]["params"][0].device
    ours, theirs = bo.state_dict()["state"], to.state_dict()["state"]
    assert list(ours) == list(theirs) == [0]
    ours, theirs = ours[0], theirs[0]
    assert list(ours) == list(theirs)

    def check(o, t, where):
        if isinstance(t, torch.Tensor):
            assert isinstance(o, bp.Tensor), where
            assert o.shape == tuple(t.shape) and str(o.dtype)[-7:] == str(t.dtype)[-7:], where
            assert o.device == device, where
            np.testing.assert_allclose(o.cpu().numpy(), t.numpy(), rtol=rtol, atol=atol, err_msg=where)
        elif isinstance(t, list):
            assert isinstance(o, list) and len(o) == len(t), where
            for i, (oi, ti) in enumerate(zip(o, t)):
                check(oi, ti, f"{where}[{i}]")
        elif t is None or isinstance(t, int):
            assert o == t and type(o) is type(t), where
        else:
            assert type(o) is type(t), where
            assert o == pytest.approx(t, rel=rtol, abs=atol), where

    for key in theirs:
        check(ours[key], theirs[key], key)


LBFGS_F32 = [
    {"max_iter": 4},
    {"lr": 0.3, "max_iter": 5, "history_size": 2},
    {"line_search_fn": "strong_wolfe", "max_iter": 4},
    {"line_search_fn": "strong_wolfe", "max_iter": 3, "history_size": 2},
    {"lr": 0.5, "max_iter": 3, "max_eval": 2},
    # a far too long first trial: the line search brackets, then zooms (with its safeguards)
    {"line_search_fn": "strong_wolfe", "lr": 10, "max_iter": 5},
    {"line_search_fn": "strong_wolfe", "lr": 100, "max_iter": 4},
    {"line_search_fn": "strong_wolfe", "lr": 30, "max_iter": 4, "max_eval": 6},
]


@pytest.mark.parametrize("kwargs", LBFGS_F32, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_lbfgs_float32_matches_torch(kwargs, device):
    tm, bm, to, bo = _lbfgs_pair(kwargs, device=device)
    before = params_np(bm)
    ours = _lbfgs_run(bp, bm, bo, 3, device=device)
    theirs = _lbfgs_run(torch, tm, to, 3)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert_params_close(bm, tm, rtol=1e-4, atol=5e-5)
    assert_lbfgs_state_close(bo, to, rtol=1e-3, atol=5e-4)
    state = bo.state[next(iter(bm.parameters()))]
    assert state["func_evals"] == to.state[next(iter(tm.parameters()))]["func_evals"]
    assert any(not np.array_equal(a, b) for a, b in zip(before, params_np(bm))), "the parameters never moved"
    assert ours[-1] < ours[0]


LBFGS_F64 = [
    {},
    {"line_search_fn": "strong_wolfe"},
    {"lr": 0.5, "history_size": 3, "max_iter": 30},
    {"line_search_fn": "strong_wolfe", "history_size": 2, "max_iter": 12, "max_eval": 14},
    {"line_search_fn": "strong_wolfe", "tolerance_change": 1e-3},
    {"tolerance_change": 1e-2, "max_iter": 50},
    {"tolerance_grad": 0.05},
    {"line_search_fn": "strong_wolfe", "tolerance_grad": 0.02},
    {"line_search_fn": "strong_wolfe", "lr": 10, "max_iter": 5},
    {"line_search_fn": "strong_wolfe", "lr": 30, "max_iter": 4, "history_size": 2},
    # a far too short first trial: the line search extrapolates (in float32 its cubic step is
    # ill-conditioned here, a 1-ulp change in a loss flips its branch, so float64 only)
    {"line_search_fn": "strong_wolfe", "lr": 0.01, "max_iter": 6},
]


@pytest.mark.parametrize("kwargs", LBFGS_F64, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()) or "defaults")
def test_lbfgs_float64_matches_torch(kwargs, device):
    with _DefaultDtype("float64"):
        tm, bm, to, bo = _lbfgs_pair(kwargs, dtype="float64", device=device)
        ours = _lbfgs_run(bp, bm, bo, 3, dtype="float64", device=device)
        theirs = _lbfgs_run(torch, tm, to, 3, dtype="float64")
    for p in bm.parameters():
        assert p.dtype == bp.float64
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    assert_params_close(bm, tm, rtol=1e-6, atol=1e-7)
    assert_lbfgs_state_close(bo, to, rtol=1e-5, atol=1e-7)
    assert ours[-1] < ours[0]


def test_lbfgs_counts_closure_evaluations_like_torch():
    for kwargs in ({"max_iter": 6}, {"line_search_fn": "strong_wolfe", "max_iter": 6}, {"max_iter": 10, "max_eval": 4}):
        tm, bm, to, bo = _lbfgs_pair(kwargs)
        ours, theirs = [], []
        for _ in range(2):
            bo.step(_closure(bp, bm, bo, calls=ours))
            to.step(_closure(torch, tm, to, calls=theirs))
        assert len(ours) == len(theirs) > 2
        state = bo.state[next(iter(bm.parameters()))]
        assert state["func_evals"] == len(ours)
        assert state["n_iter"] == to.state[next(iter(tm.parameters()))]["n_iter"]


def test_lbfgs_state_dict_format_matches_torch():
    tm, bm, to, bo = _lbfgs_pair({"max_iter": 4, "history_size": 3})
    _lbfgs_run(bp, bm, bo, 2)
    _lbfgs_run(torch, tm, to, 2)
    ours, theirs = bo.state_dict(), to.state_dict()
    assert ours["param_groups"] == theirs["param_groups"]
    assert ours["param_groups"][0]["params"] == [0, 1, 2, 3]
    assert list(ours["state"][0]) == [
        "func_evals",
        "n_iter",
        "al",
        "d",
        "t",
        "old_dirs",
        "old_stps",
        "ro",
        "H_diag",
        "prev_flat_grad",
        "prev_loss",
    ]
    state = ours["state"][0]
    assert state["d"].shape == (4 * 8 + 8 + 8 * 3 + 3,)
    assert len(state["al"]) == 3 and len(state["old_dirs"]) == len(state["old_stps"]) == len(state["ro"]) == 3
    assert_lbfgs_state_close(bo, to, rtol=1e-3, atol=5e-4)


def test_lbfgs_defaults_and_repr_match_torch():
    tm, bm = make_models()
    for kwargs in ({}, {"max_iter": 8}, {"max_iter": 8, "max_eval": 3, "line_search_fn": "strong_wolfe"}):
        to = torch.optim.LBFGS(tm.parameters(), **kwargs)
        bo = bp.optim.LBFGS(bm.parameters(), **kwargs)
        assert bo.defaults == to.defaults
        assert list(bo.defaults) == list(to.defaults)
        assert repr(bo) == repr(to)
        assert bo.state_dict()["param_groups"] == to.state_dict()["param_groups"]
    assert bp.optim.LBFGS(bm.parameters(), max_iter=8).defaults["max_eval"] == 10


@pytest.mark.parametrize("kwargs", [{"max_iter": 5, "history_size": 3}, {"line_search_fn": "strong_wolfe"}])
def test_lbfgs_state_dict_round_trip(kwargs):
    """Save after 2 steps, load into a fresh optimizer, continue 2 steps: same as 4 uninterrupted."""
    _, ref_model = make_models()
    ref_opt = bp.optim.LBFGS(ref_model.parameters(), **kwargs)
    ref_losses = _lbfgs_run(bp, ref_model, ref_opt, 4)

    _, model = make_models()
    opt = bp.optim.LBFGS(model.parameters(), **kwargs)
    losses = _lbfgs_run(bp, model, opt, 2)
    saved = copy.deepcopy(opt.state_dict())
    _, model2 = make_models(seed=1)
    model2.load_state_dict(model.state_dict())
    opt2 = bp.optim.LBFGS(model2.parameters(), lr=0.123, **kwargs)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == 1
    losses += _lbfgs_run(bp, model2, opt2, 2)
    assert losses == ref_losses
    for a, b in zip(params_np(model2), params_np(ref_model)):
        np.testing.assert_array_equal(a, b)


def test_lbfgs_load_torch_state_dict(device):
    """torch's LBFGS state (tensors, lists of tensors, None entries, numbers) loads (onto the
    parameters' device) and continues alike."""
    kwargs = {"max_iter": 6, "history_size": 4, "line_search_fn": "strong_wolfe"}
    with _DefaultDtype("float64"):
        tm, bm, to, bo = _lbfgs_pair(kwargs, dtype="float64", device=device)
        _lbfgs_run(torch, tm, to, 2, dtype="float64")
        bm.load_state_dict(tm.state_dict())
        bo.load_state_dict(to.state_dict())
        assert_lbfgs_state_close(bo, to, rtol=0, atol=0)
        ours = _lbfgs_run(bp, bm, bo, 3, dtype="float64", device=device)
        theirs = _lbfgs_run(torch, tm, to, 3, dtype="float64")
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)
    assert_params_close(bm, tm, rtol=1e-7, atol=1e-9)
    assert_lbfgs_state_close(bo, to, rtol=1e-6, atol=1e-8)


def test_lbfgs_stops_at_once_when_the_gradient_is_small():
    """``tolerance_grad`` above the gradient: one evaluation, parameters untouched, only the counters saved."""
    tm, bm, to, bo = _lbfgs_pair({"tolerance_grad": 10.0})
    before = params_np(bm)
    calls = []
    loss = bo.step(_closure(bp, bm, bo, calls=calls))
    to.step(_closure(torch, tm, to))
    assert len(calls) == 1 and isinstance(loss, bp.Tensor)
    for a, b in zip(before, params_np(bm)):
        np.testing.assert_array_equal(a, b)
    assert bo.state_dict()["state"] == {0: {"func_evals": 1, "n_iter": 0}} == to.state_dict()["state"]


def test_lbfgs_param_without_grad_and_float64_model():
    """A parameter whose gradient is None counts as a zero gradient (and stays put), as in torch."""
    tm, bm = make_models(dtype="float64")
    extra_t = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    extra_b = bp.nn.Parameter(bp.ones(2, dtype=bp.float64))
    to = torch.optim.LBFGS([*tm.parameters(), extra_t], max_iter=5)
    bo = bp.optim.LBFGS([*bm.parameters(), extra_b], max_iter=5)
    ours = _lbfgs_run(bp, bm, bo, 2, dtype="float64")
    theirs = _lbfgs_run(torch, tm, to, 2, dtype="float64")
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert_params_close(bm, tm, rtol=1e-9, atol=1e-11)
    np.testing.assert_array_equal(extra_b.detach().numpy(), [1.0, 1.0])
    assert bo.state[next(iter(bm.parameters()))]["d"].dtype == bp.float64
    assert_lbfgs_state_close(bo, to, rtol=1e-8, atol=1e-10)


def test_lbfgs_tensor_lr():
    tm, bm = make_models()
    to = torch.optim.LBFGS(tm.parameters(), lr=torch.tensor(0.5), max_iter=4)
    bo = bp.optim.LBFGS(bm.parameters(), lr=bp.tensor(0.5), max_iter=4)
    ours = _lbfgs_run(bp, bm, bo, 2)
    theirs = _lbfgs_run(torch, tm, to, 2)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    assert_params_close(bm, tm, rtol=1e-4, atol=5e-5)
    assert_lbfgs_state_close(bo, to, rtol=1e-3, atol=5e-4)  # ``t`` is a 0-d tensor in both


def test_lbfgs_errors_match_torch():
    tm, bm = make_models()
    tp, bpp = list(tm.parameters()), list(bm.parameters())
    # one parameter group only
    ours = _message(lambda: bp.optim.LBFGS([{"params": bpp[:2]}, {"params": bpp[2:]}]))
    theirs = _message(lambda: torch.optim.LBFGS([{"params": tp[:2]}, {"params": tp[2:]}]))
    assert ours == theirs == "ValueError: LBFGS doesn't support per-parameter options (parameter groups)"
    # an unknown line search, raised by step
    bo, to = bp.optim.LBFGS(bpp, line_search_fn="armijo"), torch.optim.LBFGS(tp, line_search_fn="armijo")
    ours = _message(lambda: bo.step(_closure(bp, bm, bo)))
    theirs = _message(lambda: to.step(_closure(torch, tm, to)))
    assert ours == theirs == "RuntimeError: only 'strong_wolfe' is supported"
    # the closure is required
    with pytest.raises(TypeError):
        bp.optim.LBFGS(bpp).step()
    # a second group added later trips step's check, as in torch
    extra = bp.nn.Parameter(bp.zeros(2))
    bo = bp.optim.LBFGS(bpp)
    bo.add_param_group({"params": [extra]})
    with pytest.raises(AssertionError, match="Expected exactly one param_group, but got 2"):
        bo.step(_closure(bp, bm, bo))


def test_lbfgs_step_hooks_and_deepcopy():
    tm, bm, to, bo = _lbfgs_pair({"max_iter": 3})
    calls = []
    bo.register_step_pre_hook(lambda opt, args, kwargs: calls.append("pre"))
    bo.register_step_post_hook(lambda opt, args, kwargs: calls.append("post"))
    _lbfgs_run(bp, bm, bo, 1)
    assert calls == ["pre", "post"]  # once per step, not per closure evaluation
    clone_model = copy.deepcopy(bm)
    clone = bp.optim.LBFGS(clone_model.parameters(), max_iter=3)
    clone.load_state_dict(copy.deepcopy(bo.state_dict()))
    a = _lbfgs_run(bp, bm, bo, 1)
    b = _lbfgs_run(bp, clone_model, clone, 1)
    assert a == b


def test_import_as_torch_lbfgs_loop():
    """An ordinary torch LBFGS loop runs unchanged with ``import backprop as torch``."""
    import backprop as torch_like

    torch_like.manual_seed(0)
    model = torch_like.nn.Linear(4, 3)
    x, y = torch_like.tensor(XA), torch_like.tensor(YA)
    optimizer = torch_like.optim.LBFGS(model.parameters(), lr=1, max_iter=20, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch_like.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    first = optimizer.step(closure).item()
    for _ in range(3):
        last = optimizer.step(closure).item()
    assert last < first
    # a linear least-squares problem: LBFGS reaches the normal-equations optimum
    a = np.c_[XA.astype("float64"), np.ones(len(XA))]
    coef = np.linalg.lstsq(a, YA.astype("float64"), rcond=None)[0]
    best = float(np.mean((a @ coef - YA) ** 2))
    assert last == pytest.approx(best, rel=1e-4)


# ============================================================================ the line search alone
def _quartic(z):
    """A smooth non-convex test function (sum over coordinates) and its gradient."""
    return float((z**4 / 4 - z**2 + 0.3 * z).sum()), z**3 - 2 * z + 0.3


def _wavy(z):
    """An oscillating test function: many local minima along any line."""
    return float((np.sin(3 * z) + 0.1 * z**2).sum()), 3 * np.cos(3 * z) + 0.2 * z


@pytest.mark.parametrize("t0", [1e-4, 1e-2, 0.3, 1.0, 3.0, 10.0, 100.0])
@pytest.mark.parametrize("max_ls", [25, 2])
@pytest.mark.parametrize("func", [_quartic, _wavy], ids=["quartic", "wavy"])
@pytest.mark.parametrize("tolerance_change", [1e-9, 0.1])
@pytest.mark.parametrize("c2", [0.9, 0.1])  # a strict curvature condition makes the zoom work harder
@pytest.mark.parametrize("seed", [3, 4])
def test_strong_wolfe_matches_torch(t0, max_ls, func, tolerance_change, c2, seed):
    """The line search alone in float64 on fixed functions, against torch's own ``_strong_wolfe``:
    from far too short (extrapolation) to far too long (bracketing and zoom) first trials."""
    from torch.optim.lbfgs import _strong_wolfe as torch_strong_wolfe

    from backprop.optim.lbfgs import _strong_wolfe

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(6) * 1.5
    f, g = func(x)
    d = -g
    gtd = g @ d
    ours = _strong_wolfe(
        lambda t: func(x + t * d), t0, d, f, g, np.float64(gtd), c2=c2, tolerance_change=tolerance_change, max_ls=max_ls
    )

    def obj(_x, t, dt):
        value, grad = func(x + float(t) * dt.numpy())
        return value, torch.tensor(grad)

    theirs = torch_strong_wolfe(
        obj,
        None,
        t0,
        torch.tensor(d),
        f,
        torch.tensor(g),
        torch.tensor(gtd),
        c2=c2,
        tolerance_change=tolerance_change,
        max_ls=max_ls,
    )
    assert ours[3] == theirs[3]  # evaluations
    assert ours[0] == pytest.approx(theirs[0], rel=1e-12)
    assert float(ours[2]) == pytest.approx(float(theirs[2]), rel=1e-10)
    np.testing.assert_allclose(ours[1], theirs[1].numpy(), rtol=1e-9, atol=1e-12)


def test_cubic_interpolate_matches_torch():
    from torch.optim.lbfgs import _cubic_interpolate as torch_cubic

    from backprop.optim.lbfgs import _cubic_interpolate

    rng = np.random.default_rng(5)
    midpoints = 0
    for _ in range(200):
        x1, x2 = rng.uniform(-2, 2, 2)
        f1, f2 = rng.standard_normal(2)
        g1, g2 = rng.standard_normal(2) * 3
        bounds = None if rng.random() < 0.5 else tuple(sorted(rng.uniform(-3, 3, 2)))
        ours = _cubic_interpolate(x1, f1, np.float64(g1), x2, f2, np.float64(g2), bounds=bounds)
        theirs = torch_cubic(x1, f1, torch.tensor(g1), x2, f2, torch.tensor(g2), bounds=bounds)
        assert float(ours) == pytest.approx(float(theirs), rel=1e-12, abs=1e-12)
        lo, hi = bounds if bounds is not None else sorted((x1, x2))
        midpoints += float(ours) == pytest.approx((lo + hi) / 2)
    assert 0 < midpoints < 200  # both branches ran
