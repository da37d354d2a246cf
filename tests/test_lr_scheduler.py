"""``backprop.optim.lr_scheduler`` against torch 2.13.

Every scheduler is built on a two-group optimizer in both frameworks (the scheduler code is
written once, taking the framework module ``m``), stepped the same number of times, and the
learning rates (``get_last_lr()`` and each group's ``lr``, plus momentum/betas where a
scheduler cycles them) must equal torch's exactly: the formulas are the same Python floats.
Also: chained and sequential schedulers, ReduceLROnPlateau on fixed metric sequences,
state_dict round trips, ``step(epoch)``, resuming, tensor learning rates, warnings and errors.
"""

from __future__ import annotations

import copy
import math
import warnings

import pytest
import torch

import backprop as bp

# ============================================================================ helpers


def make_optimizer(m, name: str = "SGD", lrs=(0.1, 0.01), **kwargs):
    """An optimizer of framework ``m`` over two single-parameter groups with learning rates ``lrs``."""
    params = [m.nn.Parameter(m.zeros(2)), m.nn.Parameter(m.zeros(3))]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, lrs)]
    return getattr(m.optim, name)(groups, **kwargs)


def _lr_value(lr):
    return float(lr) if isinstance(lr, (torch.Tensor, bp.Tensor)) else lr


def record(m, make_sched, n_steps: int, opt_name: str = "SGD", opt_kwargs: dict | None = None, lrs=(0.1, 0.01)):
    """Step optimizer then scheduler ``n_steps`` times; the rates (and momenta) seen after each step."""
    opt = make_optimizer(m, opt_name, lrs, **(opt_kwargs or {}))
    sched = make_sched(m, opt)
    rows = []

    def snapshot():
        row = {
            "last_lr": [_lr_value(v) for v in sched.get_last_lr()],
            "lr": [_lr_value(g["lr"]) for g in opt.param_groups],
        }
        for key in ("momentum", "betas"):
            if key in opt.param_groups[0]:
                row[key] = [g[key] for g in opt.param_groups]
        rows.append(row)

    snapshot()
    for _ in range(n_steps):
        opt.step()
        sched.step()
        snapshot()
    return rows, opt, sched


def assert_same_schedule(make_sched, n_steps: int = 60, **kwargs) -> list:
    ours, _, _ = record(bp, make_sched, n_steps, **kwargs)
    theirs, _, _ = record(torch, make_sched, n_steps, **kwargs)
    assert len(ours) == len(theirs) == n_steps + 1
    for i, (o, t) in enumerate(zip(ours, theirs)):
        assert o == t, f"step {i}: {o} != torch {t}"
    return ours


def _distinct_lrs(rows) -> int:
    return len({tuple(r["lr"]) for r in rows})


# ============================================================================ schedules vs torch
SCHEDULES = {
    "StepLR-3-0.5": lambda m, o: m.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
    "StepLR-7": lambda m, o: m.optim.lr_scheduler.StepLR(o, 7),
    "MultiStepLR": lambda m, o: m.optim.lr_scheduler.MultiStepLR(o, milestones=[5, 12, 12, 30], gamma=0.3),
    "MultiStepLR-unsorted": lambda m, o: m.optim.lr_scheduler.MultiStepLR(o, milestones=[40, 2, 20]),
    "ExponentialLR": lambda m, o: m.optim.lr_scheduler.ExponentialLR(o, gamma=0.93),
    "CosineAnnealingLR-10": lambda m, o: m.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
    "CosineAnnealingLR-7": lambda m, o: m.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7),
    "CosineAnnealingLR-1": lambda m, o: m.optim.lr_scheduler.CosineAnnealingLR(o, T_max=1, eta_min=0.005),
    "LinearLR": lambda m, o: m.optim.lr_scheduler.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=8),
    "LinearLR-decay": lambda m, o: m.optim.lr_scheduler.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=20),
    "LinearLR-default": lambda m, o: m.optim.lr_scheduler.LinearLR(o),
    "ConstantLR": lambda m, o: m.optim.lr_scheduler.ConstantLR(o, factor=0.5, total_iters=6),
    "ConstantLR-default": lambda m, o: m.optim.lr_scheduler.ConstantLR(o),
    "LambdaLR": lambda m, o: m.optim.lr_scheduler.LambdaLR(o, lr_lambda=lambda e: 0.95**e),
    "LambdaLR-per-group": lambda m, o: m.optim.lr_scheduler.LambdaLR(
        o, lr_lambda=[lambda e: 1.0 / (1 + e), lambda e: min(1.0, (e + 1) / 10)]
    ),
    "MultiplicativeLR": lambda m, o: m.optim.lr_scheduler.MultiplicativeLR(o, lr_lambda=lambda e: 0.97),
    "MultiplicativeLR-epoch": lambda m, o: m.optim.lr_scheduler.MultiplicativeLR(
        o, lr_lambda=lambda e: 0.9 if e % 4 == 0 else 1.0
    ),
    "PolynomialLR": lambda m, o: m.optim.lr_scheduler.PolynomialLR(o, total_iters=20, power=2.0),
    "PolynomialLR-linear": lambda m, o: m.optim.lr_scheduler.PolynomialLR(o, total_iters=15),
    "WarmRestarts-5-2": lambda m, o: m.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=1e-4),
    "WarmRestarts-7-1": lambda m, o: m.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=7),
    "CyclicLR-triangular": lambda m, o: m.optim.lr_scheduler.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4),
    "CyclicLR-triangular2": lambda m, o: m.optim.lr_scheduler.CyclicLR(
        o, base_lr=[0.01, 0.001], max_lr=[0.1, 0.05], step_size_up=3, step_size_down=5, mode="triangular2"
    ),
    "CyclicLR-exp_range": lambda m, o: m.optim.lr_scheduler.CyclicLR(
        o, base_lr=0.01, max_lr=0.1, step_size_up=5, mode="exp_range", gamma=0.97
    ),
    "CyclicLR-scale_fn": lambda m, o: m.optim.lr_scheduler.CyclicLR(
        o,
        0.01,
        0.1,
        step_size_up=4,
        scale_fn=lambda x: 1 / (1 + x) ** 0.5,
        scale_mode="iterations",
        cycle_momentum=False,
    ),
    "ChainedScheduler": lambda m, o: m.optim.lr_scheduler.ChainedScheduler(
        [m.optim.lr_scheduler.ExponentialLR(o, gamma=0.9), m.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.5)]
    ),
    "ChainedScheduler-warmup-cosine": lambda m, o: m.optim.lr_scheduler.ChainedScheduler(
        [
            m.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=5),
            m.optim.lr_scheduler.CosineAnnealingLR(o, T_max=30),
        ]
    ),
    "SequentialLR-2": lambda m, o: m.optim.lr_scheduler.SequentialLR(
        o,
        schedulers=[
            m.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=5),
            m.optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
        ],
        milestones=[5],
    ),
    "SequentialLR-3": lambda m, o: m.optim.lr_scheduler.SequentialLR(
        o,
        schedulers=[
            m.optim.lr_scheduler.ConstantLR(o, factor=0.2, total_iters=4),
            m.optim.lr_scheduler.CosineAnnealingLR(o, T_max=12, eta_min=0.001),
            m.optim.lr_scheduler.StepLR(o, step_size=5, gamma=0.5),
        ],
        milestones=[4, 20],
    ),
    "SequentialLR-multistep": lambda m, o: m.optim.lr_scheduler.SequentialLR(
        o,
        schedulers=[
            m.optim.lr_scheduler.LinearLR(o, start_factor=0.5, total_iters=3),
            m.optim.lr_scheduler.MultiStepLR(o, milestones=[4, 10, 20], gamma=0.5),
        ],
        milestones=[6],
    ),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_matches_torch(name):
    rows = assert_same_schedule(SCHEDULES[name], n_steps=60)
    assert _distinct_lrs(rows) > 1, "the schedule never changed the learning rate"


@pytest.mark.parametrize("lrs", [(0.1, 0.01), (1.0, 0.3)])
def test_cosine_annealing_recursive_values_past_t_max(lrs):
    """Torch's recursive cosine keeps oscillating beyond T_max (period 2*T_max); values match exactly."""
    rows = assert_same_schedule(SCHEDULES["CosineAnnealingLR-10"], n_steps=100, lrs=lrs)
    assert rows[10]["lr"][0] == pytest.approx(0.001)
    assert rows[20]["lr"][0] == pytest.approx(lrs[0])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_lr": 0.1, "total_steps": 50},
        {"max_lr": [1.0, 0.1], "total_steps": 40, "anneal_strategy": "linear"},
        {"max_lr": 0.5, "total_steps": 60, "three_phase": True},
        {"max_lr": 0.5, "total_steps": 45, "three_phase": True, "anneal_strategy": "linear", "pct_start": 0.25},
        {"max_lr": 0.3, "epochs": 5, "steps_per_epoch": 9, "div_factor": 10.0, "final_div_factor": 100.0},
        {"max_lr": 0.3, "total_steps": 30, "base_momentum": [0.8, 0.7], "max_momentum": 0.9},
        {"max_lr": 0.3, "total_steps": 30, "cycle_momentum": False},
    ],
)
@pytest.mark.parametrize("opt", ["SGD", "Adam"])
def test_one_cycle_matches_torch(kwargs, opt):
    opt_kwargs = {"momentum": 0.9} if opt == "SGD" else {}
    n = kwargs.get("total_steps") or kwargs["epochs"] * kwargs["steps_per_epoch"]
    rows = assert_same_schedule(
        lambda m, o: m.optim.lr_scheduler.OneCycleLR(o, **kwargs), n_steps=n - 1, opt_name=opt, opt_kwargs=opt_kwargs
    )
    assert _distinct_lrs(rows) > n // 2
    key = "momentum" if opt == "SGD" else "betas"
    if kwargs.get("cycle_momentum", True):
        assert len({str(r[key]) for r in rows}) > 2, "momentum was not cycled"


def test_cyclic_lr_with_adam_betas():
    rows = assert_same_schedule(
        lambda m, o: m.optim.lr_scheduler.CyclicLR(
            o, 0.001, 0.01, step_size_up=3, base_momentum=0.8, max_momentum=0.95
        ),
        n_steps=30,
        opt_name="Adam",
    )
    assert {r["betas"][0][1] for r in rows} == {0.999}
    assert len({r["betas"][0][0] for r in rows}) > 2


def test_two_schedulers_on_one_optimizer():
    """Chainable schedulers stepped side by side compose multiplicatively, as in torch."""

    def make(m, o):
        s1 = m.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)
        s2 = m.optim.lr_scheduler.MultiStepLR(o, milestones=[3, 7], gamma=0.1)

        class Both:
            def step(self):
                s1.step()
                s2.step()

            def get_last_lr(self):
                return s2.get_last_lr()

        return Both()

    rows = assert_same_schedule(make, n_steps=12)
    assert rows[3]["lr"][0] == pytest.approx(0.1 * 0.9**3 * 0.1)


def test_schedule_with_adam_and_tensor_lr():
    """A tensor lr is updated in place (same tensor object) with torch's values."""

    def sched(m, o):
        return m.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5)

    ours_opt = bp.optim.Adam([bp.nn.Parameter(bp.zeros(2))], lr=bp.tensor(0.1))
    theirs_opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=torch.tensor(0.1))
    lr_tensor = ours_opt.param_groups[0]["lr"]
    s_ours, s_theirs = sched(bp, ours_opt), sched(torch, theirs_opt)
    assert isinstance(ours_opt.param_groups[0]["initial_lr"], bp.Tensor)
    assert ours_opt.param_groups[0]["initial_lr"] is not lr_tensor
    for _ in range(7):
        ours_opt.step()
        theirs_opt.step()
        s_ours.step()
        s_theirs.step()
        assert ours_opt.param_groups[0]["lr"] is lr_tensor
        assert float(lr_tensor) == pytest.approx(float(theirs_opt.param_groups[0]["lr"]), rel=1e-7)
        assert isinstance(s_ours.get_last_lr()[0], bp.Tensor)
    assert float(lr_tensor) == pytest.approx(0.1 * 0.5**3, rel=1e-6)


# ============================================================================ ReduceLROnPlateau
METRICS = {
    "plateau": [1.0, 0.9, 0.8, 0.8, 0.8, 0.8, 0.79999, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.65, 0.65, 0.65, 0.65] * 3,
    "noisy": [1.0 / (1 + 0.1 * i) + 0.05 * math.sin(1.7 * i) for i in range(60)],
    "rising": [0.1 * i + 0.02 * math.cos(i) for i in range(50)],
}


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"patience": 2},
        {"patience": 1, "factor": 0.5, "cooldown": 2},
        {"patience": 0, "factor": 0.5, "min_lr": 0.003},
        {"patience": 1, "min_lr": [0.02, 0.0001], "threshold": 0.05},
        {"patience": 2, "threshold_mode": "abs", "threshold": 0.01},
        {"mode": "max", "patience": 2, "factor": 0.3},
        {"mode": "max", "threshold_mode": "abs", "threshold": 0.2, "patience": 1},
        {"patience": 0, "factor": 0.9, "eps": 0.005},
    ],
)
@pytest.mark.parametrize("metric", list(METRICS))
def test_reduce_lr_on_plateau_matches_torch(kwargs, metric):
    values = METRICS[metric]
    results = {}
    for name, m in (("bp", bp), ("torch", torch)):
        opt = make_optimizer(m)
        sched = m.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
        rows = []
        for v in values:
            opt.step()
            sched.step(v)
            rows.append(
                (
                    [g["lr"] for g in opt.param_groups],
                    sched.get_last_lr(),
                    sched.num_bad_epochs,
                    sched.cooldown_counter,
                    sched.best,
                    sched.last_epoch,
                )
            )
        results[name] = rows
    assert results["bp"] == results["torch"]


def test_reduce_lr_on_plateau_reduces():
    opt = make_optimizer(bp, lrs=(1.0, 1.0))
    sched = bp.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=2, factor=0.5)
    for v in [1.0, 1.0, 1.0, 1.0]:
        sched.step(v)
    assert sched.get_last_lr() == [0.5, 0.5]
    sched.step(bp.tensor(0.1))  # a tensor metric works
    assert sched.best == pytest.approx(0.1)


def test_reduce_lr_on_plateau_state_dict_round_trip():
    values = METRICS["noisy"]
    ref_opt = make_optimizer(bp)
    ref = bp.optim.lr_scheduler.ReduceLROnPlateau(ref_opt, patience=1, cooldown=1)
    for v in values:
        ref.step(v)
    opt = make_optimizer(bp)
    sched = bp.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1, cooldown=1)
    for v in values[:25]:
        sched.step(v)
    sd_opt, sd_sched = copy.deepcopy(opt.state_dict()), copy.deepcopy(sched.state_dict())
    assert set(sd_sched) == set(torch.optim.lr_scheduler.ReduceLROnPlateau(make_optimizer(torch)).state_dict())
    opt2 = make_optimizer(bp)
    sched2 = bp.optim.lr_scheduler.ReduceLROnPlateau(opt2, mode="max", patience=9)
    opt2.load_state_dict(sd_opt)
    sched2.load_state_dict(sd_sched)
    assert sched2.mode == "min" and sched2.mode_worse == math.inf
    for v in values[25:]:
        sched2.step(v)
    assert sched2.get_last_lr() == ref.get_last_lr()
    assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in ref_opt.param_groups]
    assert ref.get_last_lr() != [0.1, 0.01]


# ============================================================================ state_dict
ROUND_TRIP = [
    "StepLR-3-0.5",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR-10",
    "LinearLR",
    "ConstantLR",
    "LambdaLR",
    "MultiplicativeLR",
    "PolynomialLR",
    "WarmRestarts-5-2",
    "CyclicLR-triangular2",
    "ChainedScheduler",
    "SequentialLR-3",
]


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_state_dict_round_trip(name):
    """Save optimizer + scheduler after 12 steps, load into fresh ones, continue: same rates as uninterrupted."""
    make = SCHEDULES[name]
    reference, _, _ = record(bp, make, 40)
    opt = make_optimizer(bp)
    sched = make(bp, opt)
    for _ in range(12):
        opt.step()
        sched.step()
    sd_opt, sd_sched = copy.deepcopy(opt.state_dict()), copy.deepcopy(sched.state_dict())
    assert "optimizer" not in sd_sched

    opt2 = make_optimizer(bp)
    sched2 = make(bp, opt2)
    opt2.load_state_dict(sd_opt)
    sched2.load_state_dict(sd_sched)
    assert getattr(sched2, "last_epoch", None) == getattr(sched, "last_epoch", None)
    assert sched2.get_last_lr() == reference[12]["last_lr"]
    for i in range(13, 41):
        opt2.step()
        sched2.step()
        assert [g["lr"] for g in opt2.param_groups] == reference[i]["lr"], f"step {i}"
        assert sched2.get_last_lr() == reference[i]["last_lr"]


@pytest.mark.parametrize(
    "name", ["StepLR-3-0.5", "CosineAnnealingLR-10", "LambdaLR", "SequentialLR-2", "CyclicLR-triangular"]
)
def test_state_dict_keys_match_torch(name):
    make = SCHEDULES[name]
    _, _, ours = record(bp, make, 5)
    _, _, theirs = record(torch, make, 5)
    sd_ours, sd_theirs = ours.state_dict(), theirs.state_dict()
    assert set(sd_ours) == set(sd_theirs)
    for key in ("last_epoch", "base_lrs", "_last_lr", "_step_count"):
        if key in sd_theirs:
            assert sd_ours[key] == sd_theirs[key], key


def test_lambda_state_dict_saves_callable_object_state():
    class Decay:
        def __init__(self):
            self.rate = 0.5

        def __call__(self, epoch):
            return self.rate**epoch

    opt = make_optimizer(bp)
    sched = bp.optim.lr_scheduler.LambdaLR(opt, [Decay(), lambda e: 1.0])
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [{"rate": 0.5}, None]
    sd["lr_lambdas"][0]["rate"] = 0.25
    sched.load_state_dict(sd)
    assert sched.lr_lambdas[0].rate == 0.25
    opt.step()
    sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(0.1 * 0.25)


# ============================================================================ epochs, resuming
@pytest.mark.parametrize(
    "name",
    [
        "StepLR-3-0.5",
        "MultiStepLR",
        "ExponentialLR",
        "CosineAnnealingLR-10",
        "LinearLR",
        "ConstantLR",
        "PolynomialLR",
        "LambdaLR",
    ],
)
def test_step_with_epoch_uses_closed_form(name):
    make = SCHEDULES[name]
    results = {}
    for label, m in (("bp", bp), ("torch", torch)):
        opt = make_optimizer(m)
        sched = make(m, opt)
        out = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for epoch in [3, 7, 1, 15, 15, 40, 2]:
                opt.step()
                sched.step(epoch)
                out.append(([g["lr"] for g in opt.param_groups], sched.last_epoch))
        assert any("epoch parameter in `scheduler.step()`" in str(w.message) for w in caught)
        results[label] = out
    assert results["bp"] == results["torch"]


def test_warm_restarts_fractional_epochs():
    results = {}
    for label, m in (("bp", bp), ("torch", torch)):
        opt = make_optimizer(m)
        sched = m.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=4, T_mult=2, eta_min=0.001)
        out = []
        for i in range(40):
            opt.step()
            sched.step(i / 3)
            out.append(([g["lr"] for g in opt.param_groups], sched.T_cur, sched.T_i, sched.last_epoch))
        results[label] = out
    assert results["bp"] == results["torch"]
    with pytest.raises(ValueError, match="Expected non-negative epoch, but got -1"):
        sched_bp = bp.optim.lr_scheduler.CosineAnnealingWarmRestarts(make_optimizer(bp), T_0=4)
        sched_bp.step(-1)


def test_initial_lr_and_base_lrs():
    opt = make_optimizer(bp, lrs=(0.3, 0.03))
    sched = bp.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.3, 0.03]
    assert sched.base_lrs == [0.3, 0.03]
    assert sched.last_epoch == 0 and sched.get_last_lr() == [0.3, 0.03]
    opt.step()
    sched.step()
    assert sched.last_epoch == 1 and sched.get_last_lr() == [0.15, 0.015]
    # A second scheduler keeps the first one's initial_lr (setdefault), as in torch.
    sched2 = bp.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
    assert sched2.base_lrs == [0.3, 0.03]


def test_resume_with_last_epoch():
    results = {}
    for label, m in (("bp", bp), ("torch", torch)):
        opt = make_optimizer(m)
        with pytest.raises(KeyError, match="param 'initial_lr' is not specified in param_groups\\[0\\]"):
            m.optim.lr_scheduler.StepLR(opt, step_size=3, last_epoch=5)
        for g in opt.param_groups:
            g["initial_lr"] = g["lr"] * 2
        sched = m.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, last_epoch=5)
        out = [sched.get_last_lr()]
        for _ in range(8):
            opt.step()
            sched.step()
            out.append(sched.get_last_lr())
        results[label] = out
    assert results["bp"] == results["torch"]


# ============================================================================ warnings and errors
def test_warns_when_scheduler_steps_before_optimizer():
    opt = make_optimizer(bp)
    sched = bp.optim.lr_scheduler.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match=r"Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`"):
        sched.step()


def test_no_warning_in_the_right_order():
    opt = make_optimizer(bp)
    sched = bp.optim.lr_scheduler.StepLR(opt, step_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            opt.step()
            sched.step()
    assert opt._opt_called


def test_get_lr_outside_step_warns():
    opt = make_optimizer(bp)
    sched = bp.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        sched.get_lr()


def test_optimizer_step_still_runs_hooks_after_scheduler_wraps_it():
    opt = make_optimizer(bp)
    calls = []
    opt.register_step_post_hook(lambda o, a, k: calls.append(1))
    bp.optim.lr_scheduler.StepLR(opt, step_size=2)
    bp.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)  # wraps only once
    opt.step()
    assert calls == [1]
    assert getattr(opt.step, "_wrapped_by_lr_sched", False)


def _error(fn) -> str:
    with pytest.raises(Exception) as info:  # noqa: B017,PT011 - the type is compared below
        fn()
    return f"{type(info.value).__name__}: {info.value}"


ERRORS = [
    lambda m, o: m.optim.lr_scheduler.StepLR(3, step_size=1),
    lambda m, o: m.optim.lr_scheduler.ConstantLR(o, factor=1.5),
    lambda m, o: m.optim.lr_scheduler.LinearLR(o, start_factor=0),
    lambda m, o: m.optim.lr_scheduler.LinearLR(o, end_factor=1.5),
    lambda m, o: m.optim.lr_scheduler.LambdaLR(o, [lambda e: 1.0]),
    lambda m, o: m.optim.lr_scheduler.MultiplicativeLR(o, 0.9),
    lambda m, o: m.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=0),
    lambda m, o: m.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0),
    lambda m, o: m.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=2, eta_min="x"),
    lambda m, o: m.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1),
    lambda m, o: m.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=0),
    lambda m, o: m.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, epochs=0, steps_per_epoch=3),
    lambda m, o: m.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1),
    lambda m, o: m.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=10, anneal_strategy="exp"),
    lambda m, o: m.optim.lr_scheduler.OneCycleLR(o, max_lr=[0.1], total_steps=10),
    lambda m, o: m.optim.lr_scheduler.ReduceLROnPlateau(o, factor=1.0),
    lambda m, o: m.optim.lr_scheduler.ReduceLROnPlateau(o, mode="avg"),
    lambda m, o: m.optim.lr_scheduler.ReduceLROnPlateau(o, threshold_mode="pct"),
    lambda m, o: m.optim.lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.1]),
    lambda m, o: m.optim.lr_scheduler.CyclicLR(o, 0.01, 0.1, mode="sawtooth"),
    lambda m, o: m.optim.lr_scheduler.SequentialLR(o, [m.optim.lr_scheduler.StepLR(o, 2)], milestones=[3]),
    lambda m, o: m.optim.lr_scheduler.SequentialLR(o, [], milestones=[]),
    lambda m, o: m.optim.lr_scheduler.SequentialLR(o, [m.optim.lr_scheduler.ReduceLROnPlateau(o)], milestones=[]),
    lambda m, o: m.optim.lr_scheduler.ChainedScheduler([]),
]


@pytest.mark.parametrize("index", range(len(ERRORS)))
def test_errors_match_torch(index):
    make = ERRORS[index]
    ours = _error(lambda: make(bp, make_optimizer(bp)))
    theirs = _error(lambda: make(torch, make_optimizer(torch)))
    assert ours == theirs


def test_cycle_momentum_requires_momentum():
    for m in (bp, torch):
        opt = make_optimizer(m, "Adagrad")
        with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
            m.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10)
        with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
            m.optim.lr_scheduler.CyclicLR(opt, 0.01, 0.1)


def test_one_cycle_past_total_steps_raises():
    messages = []
    for m in (bp, torch):
        opt = make_optimizer(m)
        sched = m.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=5)
        for _ in range(5):
            opt.step()
            sched.step()
        opt.step()
        messages.append(_error(sched.step))
    assert messages[0] == messages[1]
    assert "Tried to step 6 times. The specified number of total steps is 5" in messages[0]


def test_exports_match_torch():
    for name in torch.optim.lr_scheduler.__all__:
        assert hasattr(bp.optim.lr_scheduler, name), name
    for name in ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "NAdam", "RAdam", "Optimizer", "lr_scheduler"]:
        assert hasattr(bp.optim, name), name
