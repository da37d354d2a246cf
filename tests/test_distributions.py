"""backprop.distributions against torch.distributions (the oracle): values and gradients of
log_prob / entropy / moments / cdf / icdf / kl_divergence, shapes, validation, expand, and
seeded statistical checks of sample / rsample (sample values cannot equal torch's)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.distributions as td

import backprop as bp
import backprop.distributions as bd

rng = np.random.default_rng(1234)
DTYPES = [(bp.float32, torch.float32, 1e-5, 1e-4), (bp.float64, torch.float64, 1e-10, 1e-9)]


def _positive(*shape, lo=0.5, hi=2.0):
    return rng.uniform(lo, hi, size=shape)


def _lower(n, batch=()):
    a = rng.standard_normal(batch + (n, n)) * 0.3
    a = np.tril(a, -1) + np.eye(n) * rng.uniform(0.7, 1.5, size=batch + (n,))[..., None, :]
    return a


def _spd(n, batch=()):
    a = rng.standard_normal(batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def _onehot(idx, k):
    return np.eye(k)[idx]


# name -> (builder(d, params), parameter arrays, value array or None, value is integral)
CASES = {
    "normal": (
        lambda d, p: d.Normal(p[0], p[1]),
        [rng.standard_normal((2, 3)), _positive(3)],
        rng.standard_normal((4, 2, 3)),
    ),
    "uniform": (
        lambda d, p: d.Uniform(p[0], p[1]),
        [rng.uniform(-2, -1, (2, 3)), rng.uniform(1, 2, (3,))],
        rng.uniform(-0.9, 0.9, (4, 2, 3)),
    ),
    "bernoulli_probs": (
        lambda d, p: d.Bernoulli(probs=p[0]),
        [rng.uniform(0.1, 0.9, (2, 3))],
        rng.integers(0, 2, (4, 2, 3)).astype(float),
    ),
    "bernoulli_logits": (
        lambda d, p: d.Bernoulli(logits=p[0]),
        [rng.standard_normal((2, 3)) * 2],
        rng.integers(0, 2, (4, 1, 3)).astype(float),
    ),
    "categorical_probs": (
        lambda d, p: d.Categorical(probs=p[0]),
        [_positive(2, 3, 4, lo=0.1)],
        rng.integers(0, 4, (5, 2, 3)),
    ),
    "categorical_logits": (
        lambda d, p: d.Categorical(logits=p[0]),
        [rng.standard_normal((3, 5)) * 2],
        rng.integers(0, 5, (4, 3)),
    ),
    "onehot": (
        lambda d, p: d.OneHotCategorical(probs=p[0]),
        [_positive(2, 4, lo=0.1)],
        _onehot(rng.integers(0, 4, (3, 2)), 4),
    ),
    "onehot_logits": (
        lambda d, p: d.OneHotCategorical(logits=p[0]),
        [rng.standard_normal((2, 4))],
        _onehot(rng.integers(0, 4, (3, 2)), 4),
    ),
    "independent": (
        lambda d, p: d.Independent(d.Normal(p[0], p[1]), 1),
        [rng.standard_normal((2, 3)), _positive(2, 3)],
        rng.standard_normal((4, 2, 3)),
    ),
    "independent2": (
        lambda d, p: d.Independent(d.Bernoulli(logits=p[0]), 2),
        [rng.standard_normal((2, 3, 4))],
        rng.integers(0, 2, (5, 2, 3, 4)).astype(float),
    ),
    "mvn_scale_tril": (
        lambda d, p: d.MultivariateNormal(p[0], scale_tril=p[1]),
        [rng.standard_normal((2, 3)), _lower(3)],
        rng.standard_normal((4, 2, 3)),
    ),
    "mvn_cov": (
        lambda d, p: d.MultivariateNormal(p[0], covariance_matrix=p[1]),
        [rng.standard_normal((3,)), _spd(3, (2,))],
        rng.standard_normal((4, 1, 3)),
    ),
    "mvn_precision": (
        lambda d, p: d.MultivariateNormal(p[0], precision_matrix=p[1]),
        [rng.standard_normal((2, 3)), _spd(3)],
        rng.standard_normal((4, 2, 3)),
    ),
}
INTEGRAL = {"categorical_probs", "categorical_logits"}


def _make(case, dt_bp, dt_t, grad=True):
    build, params, value = CASES[case]
    pb = [bp.tensor(a, dtype=dt_bp, requires_grad=grad) for a in params]
    pt = [torch.tensor(a, dtype=dt_t, requires_grad=grad) for a in params]
    if case in INTEGRAL:
        vb, vt = bp.tensor(value), torch.tensor(value)
    else:
        vb, vt = bp.tensor(value, dtype=dt_bp), torch.tensor(value, dtype=dt_t)
    return build(bd, pb), build(td, pt), pb, pt, vb, vt


def _close(b, t, rtol, atol):
    assert isinstance(b, bp.Tensor)
    assert tuple(b.shape) == tuple(t.shape), (tuple(b.shape), tuple(t.shape))
    assert str(b.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    np.testing.assert_allclose(b.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol, equal_nan=True)


def _check_grads(pb, pt, rtol, atol):
    for b, t in zip(pb, pt):
        assert (b.grad is None) == (t.grad is None)
        if t.grad is not None:
            np.testing.assert_allclose(b.grad.numpy(), t.grad.numpy(), rtol=rtol * 10, atol=atol * 10)


@pytest.mark.parametrize("dtypes", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", list(CASES))
def test_log_prob_entropy_values_and_grads(case, dtypes):
    dt_bp, dt_t, rtol, atol = dtypes
    db, dt, pb, pt, vb, vt = _make(case, dt_bp, dt_t)
    assert tuple(db.batch_shape) == tuple(dt.batch_shape)
    assert tuple(db.event_shape) == tuple(dt.event_shape)
    lb, lt = db.log_prob(vb), dt.log_prob(vt)
    _close(lb, lt, rtol, atol)
    eb, et = db.entropy(), dt.entropy()
    _close(eb, et, rtol, atol)
    # weight the terms so that every element's gradient matters
    wb = bp.tensor(np.linspace(0.5, 1.5, int(np.prod(lt.shape))).reshape(tuple(lt.shape)), dtype=lb.dtype)
    wt = torch.tensor(wb.numpy())
    ((lb * wb).sum() + 0.7 * eb.sum()).backward()
    ((lt * wt).sum() + 0.7 * et.sum()).backward()
    _check_grads(pb, pt, rtol, atol)


@pytest.mark.parametrize("case", list(CASES))
def test_moments(case):
    for dt_bp, dt_t, rtol, atol in DTYPES:
        db, dt, pb, pt, _, _ = _make(case, dt_bp, dt_t)
        for name in ("mean", "variance", "stddev", "mode"):
            b, t = getattr(db, name), getattr(dt, name)
            assert tuple(b.shape) == tuple(t.shape), name
            if t.dtype == torch.int64:
                assert np.array_equal(b.numpy(), t.numpy()), name
            else:
                _close(b, t, rtol, atol)
        if not case.startswith("categorical"):
            (db.mean.sum() + db.stddev.sum()).backward()
            (dt.mean.sum() + dt.stddev.sum()).backward()
            _check_grads(pb, pt, rtol, atol)


@pytest.mark.parametrize("case", ["normal", "uniform"])
def test_cdf_icdf(case):
    for dt_bp, dt_t, rtol, atol in DTYPES:
        db, dt, pb, pt, vb, vt = _make(case, dt_bp, dt_t)
        cb, ct = db.cdf(vb), dt.cdf(vt)
        _close(cb, ct, rtol, atol)
        q = rng.uniform(0.05, 0.95, (4, 2, 3))
        ib, it = db.icdf(bp.tensor(q, dtype=dt_bp)), dt.icdf(torch.tensor(q, dtype=dt_t))
        _close(ib, it, rtol * 10, atol * 10)
        (cb.sum() + ib.sum()).backward()
        (ct.sum() + it.sum()).backward()
        _check_grads(pb, pt, rtol * 10, atol * 10)


def test_normal_scalar_params_and_int_values():
    d, t = bd.Normal(0.5, 2.0), td.Normal(0.5, 2.0)
    assert d.batch_shape == () and t.batch_shape == ()
    assert d.loc.dtype == bp.float32
    _close(d.log_prob(bp.tensor([0.0, 1.0, 3.0])), t.log_prob(torch.tensor([0.0, 1.0, 3.0])), 1e-6, 1e-6)
    _close(d.entropy(), t.entropy(), 1e-6, 1e-6)
    assert tuple(d.sample((3, 2)).shape) == (3, 2)


KL_CASES = {
    "normal": (
        lambda d, p: (d.Normal(p[0], p[1]), d.Normal(p[2], p[3])),
        [rng.standard_normal((2, 3)), _positive(3), rng.standard_normal((3,)), _positive(2, 1)],
    ),
    "categorical": (
        lambda d, p: (d.Categorical(logits=p[0]), d.Categorical(probs=p[1])),
        [rng.standard_normal((2, 3, 4)), _positive(3, 4, lo=0.1)],
    ),
    "onehot": (
        lambda d, p: (d.OneHotCategorical(probs=p[0]), d.OneHotCategorical(logits=p[1])),
        [_positive(2, 5, lo=0.1), rng.standard_normal((2, 5))],
    ),
    "bernoulli": (
        lambda d, p: (d.Bernoulli(probs=p[0]), d.Bernoulli(logits=p[1])),
        [rng.uniform(0.05, 0.95, (2, 3)), rng.standard_normal((2, 3))],  # torch cannot broadcast here
    ),
    "uniform": (
        lambda d, p: (d.Uniform(p[0], p[1]), d.Uniform(p[2], p[3])),
        [rng.uniform(-1, 0, (3,)), rng.uniform(1, 2, (3,)), rng.uniform(-3, -1, (2, 3)), rng.uniform(2, 3, (3,))],
    ),
    "independent": (
        lambda d, p: (d.Independent(d.Normal(p[0], p[1]), 1), d.Independent(d.Normal(p[2], p[3]), 1)),
        [rng.standard_normal((2, 3)), _positive(2, 3), rng.standard_normal((2, 3)), _positive(3)],
    ),
    "mvn": (
        lambda d, p: (d.MultivariateNormal(p[0], scale_tril=p[1]), d.MultivariateNormal(p[2], covariance_matrix=p[3])),
        [rng.standard_normal((2, 3)), _lower(3, (2,)), rng.standard_normal((3,)), _spd(3)],
    ),
    "mvn_precision": (
        lambda d, p: (d.MultivariateNormal(p[0], precision_matrix=p[1]), d.MultivariateNormal(p[2], scale_tril=p[3])),
        [rng.standard_normal((3,)), _spd(3, (2,)), rng.standard_normal((2, 3)), _lower(3)],
    ),
}


@pytest.mark.parametrize("dtypes", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", list(KL_CASES))
def test_kl_divergence_values_and_grads(case, dtypes):
    dt_bp, dt_t, rtol, atol = dtypes
    build, params = KL_CASES[case]
    pb = [bp.tensor(a, dtype=dt_bp, requires_grad=True) for a in params]
    pt = [torch.tensor(a, dtype=dt_t, requires_grad=True) for a in params]
    kb, kt = bd.kl_divergence(*build(bd, pb)), td.kl_divergence(*build(td, pt))
    _close(kb, kt, rtol * 10, atol * 10)
    w = np.linspace(0.5, 1.5, int(np.prod(kt.shape))).reshape(tuple(kt.shape))
    (kb * bp.tensor(w, dtype=dt_bp)).sum().backward()
    (kt * torch.tensor(w, dtype=dt_t)).sum().backward()
    _check_grads(pb, pt, rtol * 10, atol * 10)


def test_kl_infinite_and_zero_cases():
    p = [0.0, 0.3, 1.0]
    q = [0.5, 0.0, 1.0]
    _close(
        bd.kl_divergence(bd.Bernoulli(bp.tensor(p)), bd.Bernoulli(bp.tensor(q))),
        td.kl_divergence(td.Bernoulli(torch.tensor(p)), td.Bernoulli(torch.tensor(q))),
        1e-5,
        1e-6,
    )
    cp, cq = [[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], [[0.4, 0.6, 0.0], [0.0, 0.5, 0.5]]
    kb = bd.kl_divergence(bd.Categorical(bp.tensor(cp)), bd.Categorical(bp.tensor(cq)))
    kt = td.kl_divergence(td.Categorical(torch.tensor(cp)), td.Categorical(torch.tensor(cq)))
    _close(kb, kt, 1e-5, 1e-6)
    assert math.isinf(kb[1].item())
    u = bd.kl_divergence(
        bd.Uniform(bp.tensor([0.0, 0.0]), bp.tensor([1.0, 3.0])),
        bd.Uniform(bp.tensor([-1.0, 0.0]), bp.tensor([2.0, 2.0])),
    )
    assert u[0].item() == pytest.approx(math.log(3.0)) and math.isinf(u[1].item())


def test_register_kl_and_missing_pair():
    class MyNormal(bd.Normal):
        pass

    # subclasses dispatch to the parent's rule
    kl = bd.kl_divergence(MyNormal(0.0, 1.0), bd.Normal(1.0, 1.0))
    assert kl.item() == pytest.approx(0.5)

    @bd.register_kl(MyNormal, bd.Normal)
    def _kl(p, q):
        return bp.tensor(42.0)

    assert bd.kl_divergence(MyNormal(0.0, 1.0), bd.Normal(1.0, 1.0)).item() == 42.0
    assert bd.kl_divergence(bd.Normal(0.0, 1.0), bd.Normal(1.0, 1.0)).item() == pytest.approx(0.5)
    with pytest.raises(NotImplementedError):
        bd.kl_divergence(bd.Normal(0.0, 1.0), bd.Bernoulli(0.5))
    with pytest.raises(TypeError):
        bd.register_kl(int, bd.Normal)
    with pytest.raises(NotImplementedError):
        bd.kl_divergence(
            bd.Independent(bd.Normal(bp.zeros(2, 3), 1.0), 1), bd.Independent(bd.Normal(bp.zeros(2, 3), 1.0), 2)
        )


# ------------------------------------------------------------------ shapes
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("sample_shape", [(), (5,), (2, 3)])
def test_sample_shapes_and_dtypes(case, sample_shape):
    db, dt, _, _, _, _ = _make(case, bp.float64, torch.float64, grad=False)
    sb, st = db.sample(sample_shape), dt.sample(sample_shape)
    assert tuple(sb.shape) == tuple(st.shape)
    assert str(sb.dtype).split(".")[-1] == str(st.dtype).split(".")[-1]
    assert not sb.requires_grad
    if dt.has_rsample:
        assert db.has_rsample
        rb = db.rsample(sample_shape)
        assert tuple(rb.shape) == tuple(dt.rsample(sample_shape).shape)
    else:
        assert not db.has_rsample
    # samples are valid values: log_prob accepts them (with validation) and is finite
    lp = db.log_prob(sb)
    assert tuple(lp.shape) == tuple(dt.log_prob(st).shape)
    assert np.isfinite(lp.numpy()).all()


SCALAR_BUILDERS = [
    lambda m: m.distributions.Normal(0.0, 1.0),
    lambda m: m.distributions.Normal(m.tensor(0.0), 2.0),
    lambda m: m.distributions.Uniform(-1.0, 1.0),
    lambda m: m.distributions.Bernoulli(0.3),
    lambda m: m.distributions.Bernoulli(logits=m.tensor(0.3)),
    lambda m: m.distributions.Categorical(m.tensor([0.2, 0.8])),
    lambda m: m.distributions.OneHotCategorical(logits=m.tensor([0.2, 0.8, 0.1])),
    lambda m: m.distributions.MultivariateNormal(m.zeros(2), m.eye(2)),
    lambda m: m.distributions.Independent(m.distributions.Normal(m.zeros(2, 3), 1.0), 2),
]


@pytest.mark.parametrize("build", SCALAR_BUILDERS)
def test_scalar_batch_sample_shapes(build):
    db, dt = build(bp), build(torch)
    assert tuple(db.batch_shape) == tuple(dt.batch_shape) and tuple(db.event_shape) == tuple(dt.event_shape)
    for shape in [(), (4,), (2, 3)]:
        sb, st = db.sample(shape), dt.sample(shape)
        assert tuple(sb.shape) == tuple(st.shape)
        assert str(sb.dtype).split(".")[-1] == str(st.dtype).split(".")[-1]
        if dt.has_rsample:
            assert tuple(db.rsample(shape).shape) == tuple(dt.rsample(shape).shape)
        assert tuple(db.log_prob(sb).shape) == tuple(dt.log_prob(st).shape)
    assert tuple(db.entropy().shape) == tuple(dt.entropy().shape)


@pytest.mark.parametrize("case", list(CASES))
def test_expand(case):
    db, dt, _, _, vb, vt = _make(case, bp.float32, torch.float32, grad=False)
    new_batch = (3,) + tuple(dt.batch_shape)
    eb, et = db.expand(new_batch), dt.expand(new_batch)
    assert type(eb) is type(db)
    assert tuple(eb.batch_shape) == tuple(et.batch_shape) == new_batch
    assert tuple(eb.event_shape) == tuple(et.event_shape)
    assert tuple(eb.sample((2,)).shape) == tuple(et.sample((2,)).shape)
    _close(eb.log_prob(vb[0]), et.log_prob(vt[0]), 1e-5, 1e-5)
    _close(eb.entropy(), et.entropy(), 1e-5, 1e-5)
    _close(eb.mean, et.mean, 1e-5, 1e-5)


# ------------------------------------------------------------------ statistics of samples
def test_normal_sample_statistics():
    bp.manual_seed(1)
    loc, scale = bp.tensor([-1.0, 0.0, 2.0]), bp.tensor([0.5, 1.0, 3.0])
    x = bd.Normal(loc, scale).sample((200000,)).numpy()
    n = x.shape[0]
    np.testing.assert_allclose(x.mean(0), loc.numpy(), atol=5 * 3.0 / math.sqrt(n))
    np.testing.assert_allclose(x.std(0), scale.numpy(), rtol=0.01)


def test_uniform_sample_statistics():
    bp.manual_seed(2)
    x = bd.Uniform(bp.tensor([0.0, -2.0]), bp.tensor([1.0, 4.0])).sample((200000,)).numpy()
    assert (x[:, 0] >= 0).all() and (x[:, 0] < 1).all() and (x[:, 1] >= -2).all() and (x[:, 1] < 4).all()
    np.testing.assert_allclose(x.mean(0), [0.5, 1.0], atol=0.02)
    np.testing.assert_allclose(x.var(0), [1 / 12, 3.0], rtol=0.02)


def test_bernoulli_and_categorical_frequencies():
    bp.manual_seed(3)
    p = np.array([0.1, 0.5, 0.9])
    x = bd.Bernoulli(bp.tensor(p)).sample((100000,)).numpy()
    assert set(np.unique(x)) <= {0.0, 1.0}
    np.testing.assert_allclose(x.mean(0), p, atol=0.01)
    probs = np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]])
    c = bd.Categorical(bp.tensor(probs * 3))  # unnormalized probs are normalized
    s = c.sample((100000,)).numpy()
    assert s.dtype == np.int64
    for b in range(2):
        np.testing.assert_allclose(np.bincount(s[:, b], minlength=3) / s.shape[0], probs[b], atol=0.01)
    oh = bd.OneHotCategorical(logits=bp.tensor(np.log(probs))).sample((100000,)).numpy()
    assert (oh.sum(-1) == 1).all()
    np.testing.assert_allclose(oh.mean(0), probs, atol=0.01)


def test_mvn_sample_statistics():
    bp.manual_seed(4)
    cov = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
    loc = np.array([1.0, -1.0, 0.0])
    x = (
        bd.MultivariateNormal(bp.tensor(loc), covariance_matrix=bp.tensor(cov))
        .sample((200000,))
        .numpy()
        .astype(np.float64)
    )
    np.testing.assert_allclose(x.mean(0), loc, atol=0.02)
    np.testing.assert_allclose(np.cov(x.T), cov, atol=0.03)


def test_sampling_is_seeded():
    d = bd.Normal(bp.zeros(4), bp.ones(4))
    bp.manual_seed(7)
    a = d.sample((3,))
    bp.manual_seed(7)
    b = d.sample((3,))
    assert np.array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), d.sample((3,)).numpy())


# ------------------------------------------------------------------ reparameterization
def test_normal_rsample_gradient_matches_analytic():
    bp.manual_seed(5)
    mu = bp.tensor([0.5, -1.0], requires_grad=True)
    sigma = bp.tensor([1.0, 2.0], requires_grad=True)
    x = bd.Normal(mu, sigma).rsample((200000,))
    assert x.requires_grad
    loss = (x**2).mean(0).sum()  # E[x^2] = mu^2 + sigma^2
    loss.backward()
    np.testing.assert_allclose(mu.grad.numpy(), 2 * mu.detach().numpy(), atol=0.03)
    np.testing.assert_allclose(sigma.grad.numpy(), 2 * sigma.detach().numpy(), atol=0.03)
    # exactly: d x / d mu = 1 and d x / d sigma = eps = (x - mu) / sigma per sample
    mu.grad = sigma.grad = None
    x = bd.Normal(mu, sigma).rsample((10,))
    x.sum().backward()
    np.testing.assert_allclose(mu.grad.numpy(), [10.0, 10.0])
    eps = (x.detach().numpy() - mu.detach().numpy()) / sigma.detach().numpy()
    np.testing.assert_allclose(sigma.grad.numpy(), eps.sum(0), rtol=1e-5, atol=1e-5)
    assert not bd.Normal(mu, sigma).sample().requires_grad


def test_mvn_and_uniform_rsample_gradients():
    bp.manual_seed(6)
    loc = bp.tensor([1.0, -2.0], requires_grad=True)
    tril = bp.tensor([[1.0, 0.0], [0.5, 2.0]], requires_grad=True)
    x = bd.MultivariateNormal(loc, scale_tril=tril).rsample((200000,))
    (x**2).mean(0).sum().backward()  # E|x|^2 = |loc|^2 + ||L||_F^2
    np.testing.assert_allclose(loc.grad.numpy(), 2 * loc.detach().numpy(), atol=0.03)
    np.testing.assert_allclose(tril.grad.numpy(), 2 * np.tril(tril.detach().numpy()), atol=0.05)
    low, high = bp.tensor(1.0, requires_grad=True), bp.tensor(3.0, requires_grad=True)
    bd.Uniform(low, high).rsample((100000,)).mean().backward()  # E = (low + high) / 2
    assert low.grad.item() == pytest.approx(0.5, abs=0.01) and high.grad.item() == pytest.approx(0.5, abs=0.01)


def test_reinforce_style_policy_gradient():
    # grad of sum(log_prob(a) * adv) w.r.t. logits matches torch for the same actions
    logits = rng.standard_normal((4, 3))
    actions, adv = rng.integers(0, 3, (4,)), rng.standard_normal(4)
    lb = bp.tensor(logits, requires_grad=True)
    lt = torch.tensor(logits, requires_grad=True)
    (bd.Categorical(logits=lb).log_prob(bp.tensor(actions)) * bp.tensor(adv)).sum().backward()
    (td.Categorical(logits=lt).log_prob(torch.tensor(actions)) * torch.tensor(adv)).sum().backward()
    np.testing.assert_allclose(lb.grad.numpy(), lt.grad.numpy(), rtol=1e-10)


# ------------------------------------------------------------------ validation
def _message(fn, mod):
    with pytest.raises(ValueError) as info:
        fn(mod)
    return str(info.value)


@pytest.mark.parametrize(
    "fn",
    [
        lambda m: (m.distributions if hasattr(m, "distributions") else m).Normal(
            m.tensor([0.0, 1.0]), m.tensor([1.0, -1.0])
        ),
        lambda m: m.distributions.Normal(0.0, 0.0),
        lambda m: m.distributions.Bernoulli(probs=m.tensor([0.2, 1.5])),
        lambda m: m.distributions.Bernoulli(m.tensor(0.5), logits=m.tensor(0.0)),
        lambda m: m.distributions.Bernoulli(),
        lambda m: m.distributions.Categorical(probs=m.tensor([0.5, -0.1, 0.6])),
        lambda m: m.distributions.Categorical(logits=m.tensor(1.0)),
        lambda m: m.distributions.Uniform(m.tensor([0.0, 1.0]), m.tensor([1.0, 1.0])),
        lambda m: m.distributions.MultivariateNormal(m.zeros(2), covariance_matrix=m.tensor([[1.0, 2.0], [2.0, 1.0]])),
        lambda m: m.distributions.MultivariateNormal(m.zeros(2), scale_tril=m.tensor([[1.0, 1.0], [0.0, 1.0]])),
        lambda m: m.distributions.MultivariateNormal(m.zeros(2), scale_tril=m.eye(2), covariance_matrix=m.eye(2)),
        lambda m: m.distributions.MultivariateNormal(m.tensor(0.0), scale_tril=m.eye(1)),
        lambda m: m.distributions.Independent(m.distributions.Normal(m.zeros(3), 1.0), 2),
        lambda m: m.distributions.Normal(0.0, 1.0).log_prob(m.tensor([float("nan")])),
        lambda m: m.distributions.Bernoulli(0.5).log_prob(m.tensor([0.5])),
        lambda m: m.distributions.Categorical(m.ones(3)).log_prob(m.tensor([3])),
        lambda m: m.distributions.Normal(m.zeros(3), 1.0).log_prob(m.zeros(2)),
        lambda m: m.distributions.MultivariateNormal(m.zeros(3), m.eye(3)).log_prob(m.zeros(2)),
        lambda m: m.distributions.OneHotCategorical(m.ones(3)).log_prob(m.tensor([1.0, 1.0, 0.0])),
    ],
)
def test_validation_errors_match_torch(fn):
    expected = _message(fn, torch)
    got = _message(fn, bp)
    # same message up to the printed tensors ("torch.Size" vs "backprop.Size", tensor formatting)
    assert got.split(":\n")[0].replace("backprop.", "torch.") == expected.split(":\n")[0]


def test_validate_args_false_and_default_switch():
    d = bd.Normal(bp.tensor([0.0]), bp.tensor([-1.0]), validate_args=False)
    with np.errstate(invalid="ignore"):
        assert np.isnan(d.log_prob(bp.tensor([0.0])).numpy()).all()
    b = bd.Bernoulli(0.5, validate_args=False)
    _close(b.log_prob(bp.tensor(0.5)), td.Bernoulli(0.5, validate_args=False).log_prob(torch.tensor(0.5)), 1e-6, 1e-6)
    u = bd.Uniform(0.0, 1.0, validate_args=False)
    assert u.log_prob(bp.tensor(2.0)).item() == float("-inf")
    bd.Distribution.set_default_validate_args(False)
    try:
        bd.Normal(0.0, -1.0)  # no error
        assert bd.Normal(0.0, 1.0)._validate_args is False
        with pytest.raises(ValueError):
            bd.Normal(0.0, -1.0, validate_args=True)
    finally:
        bd.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        bd.Normal(0.0, -1.0)
    with pytest.raises(ValueError):
        bd.Distribution.set_default_validate_args("yes")


def test_logits_and_probs_normalized_like_torch():
    raw = rng.standard_normal((2, 4))
    cb, ct = bd.Categorical(logits=bp.tensor(raw)), td.Categorical(logits=torch.tensor(raw))
    _close(cb.logits, ct.logits, 1e-12, 1e-12)
    _close(cb.probs, ct.probs, 1e-12, 1e-12)
    pr = _positive(2, 4)
    cb, ct = bd.Categorical(probs=bp.tensor(pr)), td.Categorical(probs=torch.tensor(pr))
    _close(cb.probs, ct.probs, 1e-12, 1e-12)
    _close(cb.logits, ct.logits, 1e-12, 1e-12)
    bb, bt = bd.Bernoulli(probs=bp.tensor([0.0, 0.3, 1.0])), td.Bernoulli(probs=torch.tensor([0.0, 0.3, 1.0]))
    _close(bb.logits, bt.logits, 1e-5, 1e-5)
    _close(bb.entropy(), bt.entropy(), 1e-5, 1e-5)
    _close(bb.mode, bt.mode, 0, 0)
    mb, mt = (
        bd.MultivariateNormal(bp.zeros(2), covariance_matrix=bp.tensor(_spd(2))),
        td.MultivariateNormal(torch.zeros(2, dtype=torch.float64), covariance_matrix=torch.tensor(_spd(2))),
    )
    assert tuple(mb.precision_matrix.shape) == (2, 2) and tuple(mt.precision_matrix.shape) == (2, 2)


def test_mvn_derived_matrices_match_torch():
    loc, cov = rng.standard_normal((2, 3)), _spd(3)
    mb = bd.MultivariateNormal(bp.tensor(loc), covariance_matrix=bp.tensor(cov))
    mt = td.MultivariateNormal(torch.tensor(loc), covariance_matrix=torch.tensor(cov))
    for name in ("scale_tril", "covariance_matrix", "precision_matrix"):
        _close(getattr(mb, name), getattr(mt, name), 1e-10, 1e-10)
    mb = bd.MultivariateNormal(bp.tensor(loc), precision_matrix=bp.tensor(cov))
    mt = td.MultivariateNormal(torch.tensor(loc), precision_matrix=torch.tensor(cov))
    for name in ("scale_tril", "covariance_matrix", "precision_matrix"):
        _close(getattr(mb, name), getattr(mt, name), 1e-10, 1e-10)


def test_enumerate_support_and_perplexity():
    cb, ct = bd.Categorical(logits=bp.zeros(2, 3)), td.Categorical(logits=torch.zeros(2, 3))
    assert np.array_equal(cb.enumerate_support().numpy(), ct.enumerate_support().numpy())
    assert tuple(cb.enumerate_support(expand=False).shape) == tuple(ct.enumerate_support(expand=False).shape)
    bb, bt = bd.Bernoulli(bp.full((2,), 0.3)), td.Bernoulli(torch.full((2,), 0.3))
    assert np.array_equal(bb.enumerate_support().numpy(), bt.enumerate_support().numpy())
    ob, ot = bd.OneHotCategorical(bp.ones(2, 3)), td.OneHotCategorical(torch.ones(2, 3))
    assert np.array_equal(ob.enumerate_support().numpy(), ot.enumerate_support().numpy())
    _close(cb.perplexity(), ct.perplexity(), 1e-6, 1e-6)


def test_repr_and_constraints():
    assert repr(bd.Normal(bp.zeros(2), bp.ones(2))) == "Normal(loc: backprop.Size([2]), scale: backprop.Size([2]))"
    assert repr(bd.Normal(0.0, 1.0)) == repr(td.Normal(0.0, 1.0))
    c = bd.constraints
    assert repr(c.positive) == repr(torch.distributions.constraints.positive)
    assert repr(c.simplex) == repr(torch.distributions.constraints.simplex)
    assert c.positive.check(bp.tensor([1.0, -1.0])).tolist() == [True, False]
    assert c.simplex.check(bp.tensor([[0.5, 0.5], [0.5, 0.6]])).tolist() == [True, False]
    assert c.lower_cholesky.check(bp.tensor([[1.0, 0.0], [2.0, 1.0]])).item()
    assert not c.positive_definite.check(bp.tensor([[1.0, 2.0], [2.0, 1.0]])).item()
    assert bd.Normal.support is c.real and isinstance(bd.Uniform(0.0, 1.0).support, type(c.interval(0, 1)))
    import backprop

    assert backprop.distributions is bd


# ------------------------------------------------------------------ devices
# Distributions on the ``device`` fixture's device (cpu, and by default the fake CUDA device of
# tests/fake_cuda.py): every result stays on the parameters' device, and values and gradients
# equal those computed on the CPU (the CPU results are checked against torch above).
def _host(t):
    return t.detach().cpu().numpy()


def _on(case, device, dtype=bp.float64, grad=True, table=None):
    """The distribution(s) of ``case`` with parameters on the CPU and on ``device``."""
    build, params, *rest = (table or CASES)[case]
    p_cpu = [bp.tensor(a, dtype=dtype, requires_grad=grad) for a in params]
    p_dev = [bp.tensor(a, dtype=dtype, device=device, requires_grad=grad) for a in params]
    return build(bd, p_cpu), build(bd, p_dev), p_cpu, p_dev


def _same(got, want, device, rtol=1e-10, atol=1e-12):
    assert got.device.type == bp.device(device).type
    assert tuple(got.shape) == tuple(want.shape) and got.dtype == want.dtype
    np.testing.assert_allclose(_host(got), _host(want), rtol=rtol, atol=atol, equal_nan=True)


def _same_grads(p_dev, p_cpu, device):
    for d, c in zip(p_dev, p_cpu):
        assert (d.grad is None) == (c.grad is None)
        if c.grad is not None:
            _same(d.grad, c.grad, device)


@pytest.mark.parametrize("case", list(CASES))
def test_log_prob_entropy_and_grads_on_device(case, device):
    d_cpu, d_dev, p_cpu, p_dev = _on(case, device)
    value = CASES[case][2]
    v_cpu = bp.tensor(value) if case in INTEGRAL else bp.tensor(value, dtype=bp.float64)
    v_dev = v_cpu.to(device)
    lp_dev, lp_cpu = d_dev.log_prob(v_dev), d_cpu.log_prob(v_cpu)
    _same(lp_dev, lp_cpu, device)
    h_dev, h_cpu = d_dev.entropy(), d_cpu.entropy()
    _same(h_dev, h_cpu, device)
    w = np.linspace(0.5, 1.5, lp_cpu.numel()).reshape(tuple(lp_cpu.shape))
    ((lp_dev * bp.tensor(w, device=device)).sum() + 0.7 * h_dev.sum()).backward()
    ((lp_cpu * bp.tensor(w)).sum() + 0.7 * h_cpu.sum()).backward()
    _same_grads(p_dev, p_cpu, device)


@pytest.mark.parametrize("case", list(CASES))
def test_moments_expand_and_support_on_device(case, device):
    d_cpu, d_dev, _, _ = _on(case, device, grad=False)
    for name in ("mean", "variance", "stddev", "mode"):
        _same(getattr(d_dev, name), getattr(d_cpu, name), device)
    new_batch = (3,) + tuple(d_cpu.batch_shape)
    _same(d_dev.expand(new_batch).entropy(), d_cpu.expand(new_batch).entropy(), device)
    if d_cpu.has_enumerate_support:
        _same(d_dev.enumerate_support(), d_cpu.enumerate_support(), device)
        _same(d_dev.enumerate_support(expand=False), d_cpu.enumerate_support(expand=False), device)


@pytest.mark.parametrize("case", list(CASES))
def test_sample_and_rsample_on_device(case, device):
    _, d_dev, _, p_dev = _on(case, device)
    _, dt, _, _, _, _ = _make(case, bp.float64, torch.float64, grad=False)
    for shape in [(), (5,), (2, 3)]:
        s = d_dev.sample(shape)
        assert s.device.type == bp.device(device).type and not s.requires_grad
        assert tuple(s.shape) == tuple(dt.sample(shape).shape)
        lp = d_dev.log_prob(s)  # validated: the samples lie in the support
        assert lp.device.type == bp.device(device).type and np.isfinite(_host(lp)).all()
    if d_dev.has_rsample:
        r = d_dev.rsample((4,))
        assert r.device.type == bp.device(device).type and r.requires_grad
        (r * r).sum().backward()
        for p in p_dev:
            assert p.grad is not None and p.grad.device.type == bp.device(device).type
            assert np.isfinite(_host(p.grad)).all()


@pytest.mark.parametrize("case", list(KL_CASES))
def test_kl_divergence_on_device(case, device):
    p_cpu_q_cpu, p_dev_q_dev, p_cpu, p_dev = _on(case, device, table=KL_CASES)
    k_dev, k_cpu = bd.kl_divergence(*p_dev_q_dev), bd.kl_divergence(*p_cpu_q_cpu)
    _same(k_dev, k_cpu, device)
    k_dev.sum().backward()
    k_cpu.sum().backward()
    _same_grads(p_dev, p_cpu, device)


def test_normal_rsample_gradient_on_device(device):
    bp.manual_seed(5)
    mu = bp.tensor([0.5, -1.0], device=device, requires_grad=True)
    sigma = bp.tensor([1.0, 2.0], device=device, requires_grad=True)
    x = bd.Normal(mu, sigma).rsample((10,))
    x.sum().backward()
    assert mu.grad.device.type == sigma.grad.device.type == bp.device(device).type
    np.testing.assert_allclose(_host(mu.grad), [10.0, 10.0])
    eps = (_host(x) - _host(mu)) / _host(sigma)  # d x / d sigma = eps
    np.testing.assert_allclose(_host(sigma.grad), eps.sum(0), rtol=1e-5, atol=1e-5)


def test_sampling_statistics_and_rsample_gradients_on_device(device):
    bp.manual_seed(6)
    loc = bp.tensor([-1.0, 0.0, 2.0], device=device)
    scale = bp.tensor([0.5, 1.0, 3.0], device=device)
    x = _host(bd.Normal(loc, scale).sample((200000,)))
    np.testing.assert_allclose(x.mean(0), _host(loc), atol=5 * 3.0 / math.sqrt(x.shape[0]))
    np.testing.assert_allclose(x.std(0), _host(scale), rtol=0.01)
    probs = np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]])
    s = _host(bd.Categorical(bp.tensor(probs * 3, device=device)).sample((100000,)))
    for b in range(2):
        np.testing.assert_allclose(np.bincount(s[:, b], minlength=3) / s.shape[0], probs[b], atol=0.01)
    p = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(_host(bd.Bernoulli(bp.tensor(p, device=device)).sample((100000,))).mean(0), p, atol=0.01)
    loc = bp.tensor([1.0, -2.0], device=device, requires_grad=True)
    tril = bp.tensor([[1.0, 0.0], [0.5, 2.0]], device=device, requires_grad=True)
    (bd.MultivariateNormal(loc, scale_tril=tril).rsample((200000,)) ** 2).mean(0).sum().backward()  # E|x|^2 = |loc|^2 + ||L||_F^2
    np.testing.assert_allclose(_host(loc.grad), 2 * _host(loc), atol=0.03)
    np.testing.assert_allclose(_host(tril.grad), 2 * np.tril(_host(tril)), atol=0.05)
    low, high = bp.tensor(1.0, device=device, requires_grad=True), bp.tensor(3.0, device=device, requires_grad=True)
    bd.Uniform(low, high).rsample((100000,)).mean().backward()  # E = (low + high) / 2
    assert low.grad.item() == pytest.approx(0.5, abs=0.01) and high.grad.item() == pytest.approx(0.5, abs=0.01)


def test_sampling_on_device_is_seeded(device):
    d = bd.Normal(bp.zeros(4, device=device), 1.0)
    assert d.scale.device.type == bp.device(device).type  # numbers join the tensors' device
    bp.manual_seed(7)
    a = _host(d.sample((3,)))
    bp.manual_seed(7)
    assert np.array_equal(a, _host(d.sample((3,))))
    assert not np.array_equal(a, _host(d.sample((3,))))


def test_validation_and_factorization_errors_on_device(device):
    bad_cov = bp.tensor([[1.0, 2.0], [2.0, 1.0]], device=device)
    with pytest.raises(ValueError, match="covariance_matrix"):
        bd.MultivariateNormal(bp.zeros(2, device=device), covariance_matrix=bad_cov)
    with pytest.raises(RuntimeError, match="not positive-definite"):
        bd.MultivariateNormal(bp.zeros(2, device=device), covariance_matrix=bad_cov, validate_args=False)
    with pytest.raises(ValueError, match="scale"):
        bd.Normal(bp.zeros(2, device=device), bp.tensor([1.0, -1.0], device=device))
    with pytest.raises(ValueError, match="support"):
        bd.Categorical(bp.ones(3, device=device)).log_prob(bp.tensor([3], device=device))
    c = bd.constraints
    assert c.positive_definite.check(bp.tensor(_spd(3, (2,)), device=device)).tolist() == [True, True]
    assert not c.positive_definite.check(bad_cov).item()
    u = bd.Uniform(bp.zeros(2, device=device), 1.0, validate_args=False)
    with np.errstate(divide="ignore"):  # the fake CUDA device computes with NumPy, which would warn
        assert _host(u.log_prob(bp.tensor([0.5, 2.0], device=device))).tolist() == [0.0, float("-inf")]
