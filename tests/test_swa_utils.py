"""``backprop.optim.swa_utils`` against torch 2.13's ``torch.optim.swa_utils``.

The same small model (Linear, BatchNorm1d, Tanh, Linear; weights copied by state_dict) is
trained a few SGD steps in both frameworks with an ``AveragedModel`` of each averaging mode
updated after every step; the averaged state_dicts must hold torch's keys, dtypes and values.
``update_bn`` must give torch's running statistics, ``SWALR`` torch's learning-rate sequence
(alone and after a base scheduler), and the error cases torch's exception types and messages.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
from torch.optim import swa_utils as tswa

import backprop as bp
import fake_cuda
from backprop.optim import swa_utils as bswa

_RNG = np.random.default_rng(15)
N_STEPS = 6
X = _RNG.standard_normal((N_STEPS, 16, 4)).astype("float32")
Y = _RNG.standard_normal((N_STEPS, 16, 3)).astype("float32")


def make_models(device: str = "cpu", dtype: str = "float32"):
    """A torch model and a backprop model (on ``device``) with identical weights."""
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    bm = bp.nn.Sequential(bp.nn.Linear(4, 8), bp.nn.BatchNorm1d(8), bp.nn.Tanh(), bp.nn.Linear(8, 3))
    if dtype == "float64":
        tm, bm = tm.double(), bm.double()
    result = bm.load_state_dict(tm.state_dict())
    assert not result.missing_keys and not result.unexpected_keys
    return tm, bm.to(device)


def sgd_step(m, model, opt, i: int, device: str | None = None, dtype: str = "float32") -> None:
    on = {} if device is None else {"device": device}
    x = m.tensor(X[i].astype(dtype), **on)
    y = m.tensor(Y[i].astype(dtype), **on)
    opt.zero_grad()
    ((model(x) - y) ** 2).mean().backward()
    opt.step()


def assert_state_dicts_equal(ours: dict, theirs: dict, rtol: float = 1e-6, atol: float = 1e-7) -> None:
    assert list(ours) == list(theirs)
    for key, tv in theirs.items():
        ov = ours[key]
        assert isinstance(ov, bp.Tensor), key
        assert str(ov.dtype).split(".")[-1] == str(tv.dtype).split(".")[-1], key
        assert ov.shape == tuple(tv.shape), key
        np.testing.assert_allclose(ov.cpu().numpy(), tv.numpy(), rtol=rtol, atol=atol, err_msg=key)


def _fns(m, mode: str) -> dict:
    """The AveragedModel keyword arguments of averaging ``mode`` in framework module ``m``'s swa_utils."""
    swa = m.optim.swa_utils
    return {
        "swa": {},
        "swa_avg_fn": {"avg_fn": swa.get_swa_avg_fn()},
        "swa_multi": {"multi_avg_fn": swa.get_swa_multi_avg_fn()},
        "ema_multi": {"multi_avg_fn": swa.get_ema_multi_avg_fn(0.9)},
        "ema_multi_detector": {"multi_avg_fn": swa.get_ema_multi_avg_fn(0.9998)},
        "ema_avg_fn": {"avg_fn": swa.get_ema_avg_fn(0.8)},
    }[mode]


def run_both(mode: str, use_buffers: bool, device: str, dtype: str = "float32", n_steps: int = N_STEPS):
    tm, bm = make_models(device, dtype)
    t_avg = tswa.AveragedModel(tm, use_buffers=use_buffers, **_fns(torch, mode))
    b_avg = bswa.AveragedModel(bm, use_buffers=use_buffers, **_fns(bp, mode))
    topt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    bopt = bp.optim.SGD(bm.parameters(), lr=0.1, momentum=0.9)
    for i in range(n_steps):
        sgd_step(torch, tm, topt, i, dtype=dtype)
        sgd_step(bp, bm, bopt, i, device, dtype)
        t_avg.update_parameters(tm)
        b_avg.update_parameters(bm)
    return t_avg, b_avg, tm, bm


# ============================================================================ AveragedModel


@pytest.mark.parametrize("use_buffers", [False, True])
@pytest.mark.parametrize("mode", ["swa", "swa_avg_fn", "ema_multi", "ema_avg_fn", "ema_multi_detector"])
def test_averaged_model_matches_torch(mode, use_buffers, device):
    t_avg, b_avg, _, _ = run_both(mode, use_buffers, device)
    assert_state_dicts_equal(b_avg.state_dict(), t_avg.state_dict())
    assert b_avg.module[0].weight.device.type == bp.device(device).type
    assert b_avg.n_averaged.device.type == "cpu"  # torch keeps the counter where ``device`` says (None: CPU)


def test_averaged_model_float64_and_swa_multi(device):
    t_avg, b_avg, _, _ = run_both("swa_multi", False, device, dtype="float64")
    assert_state_dicts_equal(b_avg.state_dict(), t_avg.state_dict(), rtol=1e-12, atol=1e-14)
    t_avg, b_avg, _, _ = run_both("ema_multi", True, device, dtype="float64")
    assert_state_dicts_equal(b_avg.state_dict(), t_avg.state_dict(), rtol=1e-12, atol=1e-14)


def test_averaged_model_values_by_hand():
    """The averages are the documented formulas: the running mean, and the EMA from the first copy."""
    model = bp.nn.Linear(3, 2)
    swa = bswa.AveragedModel(model)
    ema = bswa.AveragedModel(model, multi_avg_fn=bswa.get_ema_multi_avg_fn(0.75))
    seen = []
    expected_ema = None
    for k in range(5):
        with bp.no_grad():
            model.weight.fill_(float(k * k))
        seen.append(model.weight.detach().clone())
        swa.update_parameters(model)
        ema.update_parameters(model)
        expected_ema = seen[0] if expected_ema is None else 0.75 * expected_ema + 0.25 * seen[-1]
        np.testing.assert_allclose(swa.module.weight.detach().numpy(), bp.stack(seen).mean(0).numpy(), rtol=1e-6)
        np.testing.assert_allclose(ema.module.weight.detach().numpy(), expected_ema.numpy(), rtol=1e-6)
        assert int(swa.n_averaged) == k + 1
    assert swa.n_averaged.dtype == bp.int64


def test_buffers_copied_or_averaged():
    """use_buffers=False: the buffers follow the model's; True: they are averaged (ints truncated)."""
    t_avg, b_avg, tm, bm = run_both("ema_multi", False, "cpu")
    np.testing.assert_array_equal(b_avg.module[1].running_mean.numpy(), bm[1].running_mean.numpy())
    assert int(b_avg.module[1].num_batches_tracked) == int(bm[1].num_batches_tracked) == N_STEPS
    t_avg, b_avg, tm, bm = run_both("ema_multi", True, "cpu")
    assert int(b_avg.module[1].num_batches_tracked) == int(t_avg.module[1].num_batches_tracked) < N_STEPS
    assert not np.allclose(b_avg.module[1].running_mean.numpy(), bm[1].running_mean.numpy())


def test_forward_state_and_grad_flags():
    tm, bm = make_models()
    t_avg, b_avg = tswa.AveragedModel(tm), bswa.AveragedModel(bm)
    t_avg.update_parameters(tm)
    b_avg.update_parameters(bm)
    t_avg.eval()
    b_avg.eval()
    x = X[0]
    np.testing.assert_allclose(
        b_avg(bp.tensor(x)).detach().numpy(), t_avg(torch.tensor(x)).detach().numpy(), rtol=1e-6, atol=1e-7
    )
    out = b_avg(bp.tensor(x))
    np.testing.assert_array_equal(out.detach().numpy(), b_avg.module(bp.tensor(x)).detach().numpy())
    # the copy is independent of the model, its parameters still trainable leaves
    assert b_avg.module[0].weight is not bm[0].weight
    assert all(p.requires_grad and p.grad_fn is None for p in b_avg.parameters())
    assert [n for n, _ in b_avg.named_buffers()] == [n for n, _ in t_avg.named_buffers()]
    assert [n for n, _ in b_avg.named_parameters()] == [n for n, _ in t_avg.named_parameters()]
    # the first update copied: the averaged weights are the model's
    np.testing.assert_array_equal(b_avg.module[3].weight.detach().numpy(), bm[3].weight.detach().numpy())


def test_custom_multi_avg_fn_gets_groups_and_tensor_count():
    """multi_avg_fn is called once per (device, dtype) group, with n_averaged as a tensor."""
    calls = []

    def record(avg_list, model_list, n):
        calls.append(([t.dtype for t in avg_list], len(model_list), type(n), int(n)))

    model = bp.nn.Sequential(bp.nn.Linear(2, 2), bp.nn.BatchNorm1d(2))
    avg = bswa.AveragedModel(model, multi_avg_fn=record, use_buffers=True)
    avg.update_parameters(model)
    assert calls == []  # the first call copies
    avg.update_parameters(model)
    assert len(calls) == 2
    assert calls[0][0] == [bp.float32] * 6 and calls[0][1] == 6
    assert calls[1][0] == [bp.int64] and calls[1][1] == 1
    assert calls[0][2:] == (bp.Tensor, 1)


def test_update_parameters_one_host_read(device):
    """On the (fake) GPU, with the counter on the device too, an update reads it back once."""
    tm, bm = make_models(device)
    for mode in ("swa", "ema_multi", "swa_multi", "ema_avg_fn"):
        avg = bswa.AveragedModel(bm, device=device, **_fns(bp, mode))
        assert avg.n_averaged.device.type == bp.device(device).type
        for _ in range(3):
            with fake_cuda.no_host_sync(allowed=1):
                avg.update_parameters(bm)
        assert int(avg.n_averaged) == 3


def test_device_argument_moves_copy(device):
    bm = bp.nn.Linear(3, 2)
    avg = bswa.AveragedModel(bm, device=device)
    assert avg.module.weight.device.type == bp.device(device).type
    assert bm.weight.device.type == "cpu"
    bm2 = bp.nn.Linear(3, 2)
    avg.update_parameters(bm2)  # the model's tensors are moved to the average's device
    np.testing.assert_array_equal(avg.module.weight.detach().cpu().numpy(), bm2.weight.detach().numpy())
    if device == "cuda":  # torch's int spelling of a CUDA device
        avg = bswa.AveragedModel(bm, device=0)
        assert avg.n_averaged.device == avg.module.weight.device == bp.device("cuda:0")


def test_save_load_roundtrip(tmp_path):
    _, b_avg, _, bm = run_both("ema_multi", True, "cpu")
    path = tmp_path / "ema.pt"
    bp.save(b_avg.state_dict(), path)
    fresh = bswa.AveragedModel(bm, multi_avg_fn=bswa.get_ema_multi_avg_fn(0.9), use_buffers=True)
    fresh.load_state_dict(bp.load(path))
    assert int(fresh.n_averaged) == N_STEPS
    assert_state_dicts_equal(
        fresh.state_dict(), {k: torch.from_numpy(v.numpy()) for k, v in b_avg.state_dict().items()}, rtol=0, atol=0
    )
    # the whole module pickles too (avg_fn/multi_avg_fn are closures: a plain SWA model here)
    whole = bswa.AveragedModel(bm)
    whole.update_parameters(bm)
    bp.save(whole, tmp_path / "whole.pt")
    back = bp.load(tmp_path / "whole.pt", weights_only=False)
    assert isinstance(back, bswa.AveragedModel) and int(back.n_averaged) == 1
    np.testing.assert_array_equal(back.module[0].weight.detach().numpy(), bm[0].weight.detach().numpy())


def test_loads_torch_state_dict():
    """torch's AveragedModel state_dict (same keys) loads into backprop's and gives its outputs."""
    t_avg, _, _, bm = run_both("swa", True, "cpu")
    b_avg = bswa.AveragedModel(bm, use_buffers=True)
    result = b_avg.load_state_dict({k: bp.tensor(v.numpy()) for k, v in t_avg.state_dict().items()})
    assert not result.missing_keys and not result.unexpected_keys
    t_avg.eval()
    b_avg.eval()
    np.testing.assert_allclose(
        b_avg(bp.tensor(X[1])).detach().numpy(), t_avg(torch.tensor(X[1])).detach().numpy(), rtol=1e-6, atol=1e-7
    )


# ============================================================================ averaging functions


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_avg_fns_match_torch(dtype):
    a = _RNG.standard_normal((3, 4)) * 10
    b = _RNG.standard_normal((3, 4)) * 10
    a, b = a.astype(dtype), b.astype(dtype)
    for name, args in (("get_ema_avg_fn", (0.7,)), ("get_swa_avg_fn", ())):
        for n in (3, "tensor"):
            tn = torch.tensor(3) if n == "tensor" else n
            bn = bp.tensor(3) if n == "tensor" else n
            t_out = getattr(tswa, name)(*args)(torch.tensor(a), torch.tensor(b), tn)
            b_out = getattr(bswa, name)(*args)(bp.tensor(a), bp.tensor(b), bn)
            assert str(b_out.dtype).split(".")[-1] == str(t_out.dtype).split(".")[-1]
            np.testing.assert_allclose(b_out.numpy(), t_out.numpy(), rtol=1e-6)
    ta, ba = [torch.tensor(a)], [bp.tensor(a)]
    tswa.get_ema_multi_avg_fn(0.6)(ta, [torch.tensor(b)], 1)
    bswa.get_ema_multi_avg_fn(0.6)(ba, [bp.tensor(b)], 1)
    np.testing.assert_allclose(ba[0].numpy(), ta[0].numpy(), rtol=1e-6)
    if dtype != "int64":
        for n in (2, "tensor"):
            ta, ba = [torch.tensor(a)], [bp.tensor(a)]
            tswa.get_swa_multi_avg_fn()(ta, [torch.tensor(b)], torch.tensor(2) if n == "tensor" else n)
            bswa.get_swa_multi_avg_fn()(ba, [bp.tensor(b)], bp.tensor(2) if n == "tensor" else n)
            np.testing.assert_allclose(ba[0].numpy(), ta[0].numpy(), rtol=1e-6)


# ============================================================================ update_bn


def _trained_bn_models():
    tm, bm = make_models()
    topt = torch.optim.SGD(tm.parameters(), lr=0.1)
    bopt = bp.optim.SGD(bm.parameters(), lr=0.1)
    for i in range(2):
        sgd_step(torch, tm, topt, i)
        sgd_step(bp, bm, bopt, i)
    return tm, bm


@pytest.mark.parametrize("batch_kind", ["tuple", "list", "tensor"])
def test_update_bn_matches_torch(batch_kind):
    tm, bm = _trained_bn_models()
    tm[1].momentum = 0.3
    bm[1].momentum = 0.3
    tm.eval()
    bm.eval()

    def loader(m):
        for i in range(N_STEPS):
            x, y = m.tensor(X[i] * (i + 1)), m.tensor(Y[i])
            yield {"tuple": (x, y), "list": [x, y], "tensor": x}[batch_kind]

    tswa.update_bn(loader(torch), tm)
    bswa.update_bn(loader(bp), bm)
    assert_state_dicts_equal(bm.state_dict(), tm.state_dict(), rtol=1e-6, atol=1e-7)
    assert int(bm[1].num_batches_tracked) == N_STEPS
    assert bm[1].momentum == 0.3 and not bm.training and not bm[1].training


def test_update_bn_on_averaged_model_with_device(device):
    tm, bm = _trained_bn_models()
    t_avg = tswa.AveragedModel(tm)
    b_avg = bswa.AveragedModel(bm, device=device)
    t_avg.update_parameters(tm)
    b_avg.update_parameters(bm)
    t_loader = [(torch.tensor(X[i]), torch.tensor(Y[i])) for i in range(3)]
    b_loader = [(bp.tensor(X[i]), bp.tensor(Y[i])) for i in range(3)]  # on the CPU: update_bn moves them
    tswa.update_bn(t_loader, t_avg)
    bswa.update_bn(b_loader, b_avg, device=device)
    assert_state_dicts_equal(b_avg.state_dict(), t_avg.state_dict(), rtol=1e-6, atol=1e-7)
    assert b_avg.training and b_avg.module[1].momentum == 0.1


def test_update_bn_without_batchnorm_does_nothing():
    model = bp.nn.Linear(4, 3)
    model.eval()
    pulled = []

    def loader():
        pulled.append(1)
        yield bp.zeros(2, 4)

    before = model.weight.detach().clone()
    bswa.update_bn(loader(), model)
    assert pulled == [] and not model.training  # torch returns before touching the loader
    np.testing.assert_array_equal(model.weight.detach().numpy(), before.numpy())


# ============================================================================ SWALR


def make_optimizer(m, lrs=(0.1, 0.01, 0.5)):
    params = [m.nn.Parameter(m.zeros(2)) for _ in lrs]
    return m.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], momentum=0.9)


def swalr_rates(m, swa_lr, anneal_epochs, strategy, n_steps=14, base=None, swa_start=4):
    """The rates after each of ``n_steps`` epochs: a base scheduler (if any) until ``swa_start``, then SWALR."""
    opt = make_optimizer(m)
    base_sched = None
    if base == "multiplicative":
        base_sched = m.optim.lr_scheduler.MultiplicativeLR(opt, lr_lambda=lambda epoch: 0.9)
    elif base == "cosine":
        base_sched = m.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20)
    swa = m.optim.swa_utils.SWALR(opt, swa_lr=swa_lr, anneal_epochs=anneal_epochs, anneal_strategy=strategy)
    rows = [[g["lr"] for g in opt.param_groups] + list(swa.get_last_lr())]
    for epoch in range(n_steps):
        opt.step()
        if base_sched is not None and epoch <= swa_start:
            base_sched.step()
        else:
            swa.step()
        rows.append([g["lr"] for g in opt.param_groups] + list(swa.get_last_lr()))
    return rows, opt, swa


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("anneal_epochs", [0, 1, 3, 10])
@pytest.mark.parametrize("swa_lr", [0.05, [0.05, 0.2, 0.0]])
def test_swalr_matches_torch(strategy, anneal_epochs, swa_lr):
    ours, bopt, _ = swalr_rates(bp, swa_lr, anneal_epochs, strategy)
    theirs, topt, _ = swalr_rates(torch, swa_lr, anneal_epochs, strategy)
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-15, atol=0)
    assert [g["swa_lr"] for g in bopt.param_groups] == [g["swa_lr"] for g in topt.param_groups]


@pytest.mark.parametrize("base", ["multiplicative", "cosine"])
@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_swalr_after_base_scheduler_matches_torch(base, strategy):
    ours, _, _ = swalr_rates(bp, 0.05, 5, strategy, n_steps=16, base=base)
    theirs, _, _ = swalr_rates(torch, 0.05, 5, strategy, n_steps=16, base=base)
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-15, atol=0)


def test_swalr_state_dict_roundtrip():
    _, _, swa = swalr_rates(bp, 0.05, 6, "linear", n_steps=3)
    _, _, tswalr = swalr_rates(torch, 0.05, 6, "linear", n_steps=3)
    state = swa.state_dict()
    assert "anneal_func" not in state and "optimizer" not in state
    assert sorted(state) == sorted(tswalr.state_dict())
    opt2 = make_optimizer(bp)
    other = bswa.SWALR(opt2, swa_lr=0.3, anneal_epochs=2, anneal_strategy="cos")
    other.load_state_dict(copy.deepcopy(state))
    assert other.anneal_func is bswa.SWALR._linear_anneal and other.anneal_epochs == 6
    assert other._step_count == swa._step_count and other.last_epoch == swa.last_epoch


def test_swalr_get_lr_outside_step_warns():
    opt = make_optimizer(bp)
    swa = bswa.SWALR(opt, swa_lr=0.05)
    with pytest.warns(UserWarning, match="get_last_lr"):
        swa.get_lr()


# ============================================================================ errors


def _same_error(fn_t, fn_b):
    with pytest.raises(Exception) as t_info:
        fn_t()
    with pytest.raises(type(t_info.value)) as b_info:
        fn_b()
    assert type(b_info.value) is type(t_info.value)
    return str(t_info.value), str(b_info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"anneal_strategy": "exp"},
        {"anneal_epochs": -1},
        {"anneal_epochs": 2.5},
        {"swa_lr": [0.1, 0.2]},
    ],
)
def test_swalr_errors(kwargs):
    args = {"swa_lr": 0.05, **kwargs}
    t_msg, b_msg = _same_error(
        lambda: tswa.SWALR(make_optimizer(torch), **args), lambda: bswa.SWALR(make_optimizer(bp), **args)
    )
    assert b_msg == t_msg


def test_swalr_needs_an_optimizer():
    _same_error(lambda: tswa.SWALR(object(), swa_lr=0.1), lambda: bswa.SWALR(object(), swa_lr=0.1))


@pytest.mark.parametrize("name", ["get_ema_multi_avg_fn", "get_ema_avg_fn"])
@pytest.mark.parametrize("decay", [-0.1, 1.5])
def test_decay_errors(name, decay):
    t_msg, b_msg = _same_error(lambda: getattr(tswa, name)(decay), lambda: getattr(bswa, name)(decay))
    assert b_msg == t_msg


def test_averaged_model_errors():
    tm, bm = make_models()
    t_msg, b_msg = _same_error(
        lambda: tswa.AveragedModel(tm, avg_fn=tswa.get_swa_avg_fn(), multi_avg_fn=tswa.get_swa_multi_avg_fn()),
        lambda: bswa.AveragedModel(bm, avg_fn=bswa.get_swa_avg_fn(), multi_avg_fn=bswa.get_swa_multi_avg_fn()),
    )
    assert b_msg == t_msg

    # the SWA multi_avg_fn cannot average integer buffers (num_batches_tracked), in torch as here
    def two_updates(m, model, swa):
        avg = swa.AveragedModel(model, multi_avg_fn=swa.get_swa_multi_avg_fn(), use_buffers=True)
        avg.update_parameters(model)
        avg.update_parameters(model)

    t_msg, b_msg = _same_error(lambda: two_updates(torch, tm, tswa), lambda: two_updates(bp, bm, bswa))
    assert b_msg == t_msg
    t_msg, b_msg = _same_error(
        lambda: tswa.get_swa_multi_avg_fn()([torch.zeros(2, dtype=torch.long)], [torch.ones(2, dtype=torch.long)], 1),
        lambda: bswa.get_swa_multi_avg_fn()([bp.zeros(2, dtype=bp.long)], [bp.ones(2, dtype=bp.long)], 1),
    )
    assert b_msg == t_msg


def test_public_names():
    assert bp.optim.swa_utils is bswa
    assert sorted(bswa.__all__) == sorted(tswa.__all__)


@pytest.mark.parametrize("mode", ["swa", "ema_multi", "swa_multi"])
def test_updates_bump_versions(mode):
    """In-place updates are visible to autograd's version check, as torch's in-place ops."""
    model = bp.nn.Linear(3, 2)
    avg = bswa.AveragedModel(model, **_fns(bp, mode))
    avg.update_parameters(model)
    weight = avg.module.weight
    before = weight._version
    out = (weight * weight).sum()  # saves weight for backward
    avg.update_parameters(model)
    assert weight._version > before
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()


@pytest.mark.parametrize("use_epoch", [False, True])
@pytest.mark.parametrize("tensor_lr", [False, True])
def test_swalr_tensor_lrs_and_step_epoch_match_torch(tensor_lr, use_epoch):
    """Tensor learning rates / swa_lr keep torch's types and values; step(epoch) (deprecated) as torch."""

    def run(m):
        params = [m.nn.Parameter(m.zeros(2)), m.nn.Parameter(m.zeros(2))]
        lr = m.tensor(0.1) if tensor_lr else 0.1
        opt = m.optim.SGD([{"params": [params[0]], "lr": lr}, {"params": [params[1]], "lr": 0.3}])
        swa_lr = [0.02, m.tensor(0.05)] if tensor_lr else 0.02
        sched = m.optim.swa_utils.SWALR(opt, swa_lr=swa_lr, anneal_epochs=4)
        rows = []
        for epoch in range(7):
            opt.step()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sched.step(epoch + 1) if use_epoch else sched.step()
            rows.append([(type(g["lr"]).__name__, float(g["lr"])) for g in opt.param_groups])
        return rows

    assert run(bp) == run(torch)


def test_update_bn_with_dataloader_and_unusual_batchnorms():
    """A DataLoader of (x, y) pairs; BatchNorm2d, one already momentum=None, one not tracking stats."""
    torch.manual_seed(1)

    def build(m):
        return m.nn.Sequential(
            m.nn.Conv2d(2, 4, 3),
            m.nn.BatchNorm2d(4, momentum=None),
            m.nn.ReLU(),
            m.nn.BatchNorm2d(4, track_running_stats=False),
        )

    tm, bm = build(torch), build(bp)
    bm.load_state_dict(tm.state_dict())
    images = _RNG.standard_normal((10, 2, 5, 5)).astype("float32")
    labels = np.arange(10)
    t_loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(images), torch.tensor(labels)), batch_size=4
    )
    b_loader = bp.utils.data.DataLoader(bp.utils.data.TensorDataset(bp.tensor(images), bp.tensor(labels)), batch_size=4)
    tswa.update_bn(t_loader, tm)
    bswa.update_bn(b_loader, bm)
    assert_state_dicts_equal(bm.state_dict(), tm.state_dict(), rtol=1e-6, atol=1e-7)
    assert bm[1].momentum is None and bm[3].momentum == 0.1
    assert int(bm[1].num_batches_tracked) == 3


def test_torch_docs_swa_recipe_end_to_end(device):
    """torch's documented recipe: CosineAnnealingLR, then SWALR + AveragedModel after swa_start, update_bn at the end."""
    tm, bm = make_models(device)

    def recipe(m, model, on):
        opt = m.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        swa_model = m.optim.swa_utils.AveragedModel(model)
        scheduler = m.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
        swa_scheduler = m.optim.swa_utils.SWALR(opt, swa_lr=0.05, anneal_epochs=2)
        loader = [(m.tensor(X[i], **on), m.tensor(Y[i], **on)) for i in range(3)]
        lrs = []
        for epoch in range(6):
            for x, y in loader:
                opt.zero_grad()
                ((model(x) - y) ** 2).mean().backward()
                opt.step()
            if epoch > 2:
                swa_model.update_parameters(model)
                swa_scheduler.step()
            else:
                scheduler.step()
            lrs.append(opt.param_groups[0]["lr"])
        m.optim.swa_utils.update_bn(loader, swa_model)
        return swa_model, lrs

    t_swa, t_lrs = recipe(torch, tm, {})
    b_swa, b_lrs = recipe(bp, bm, {"device": device})
    assert b_lrs == t_lrs
    assert_state_dicts_equal(b_swa.state_dict(), t_swa.state_dict())
