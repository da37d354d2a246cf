"""Random sampling: seeding and Generator objects, dtypes and shapes against PyTorch 2.13, value
ranges, sample statistics, and the error cases of multinomial/bernoulli/randint.

backprop draws from NumPy's PCG64, so a seed reproduces backprop's own numbers, not torch's: values
are checked by their distribution, everything else (dtype, shape, errors) against torch.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import backprop
from api_compare import check, dtype_name

SAMPLERS = {
    "rand": lambda m, g=None: m.rand(3, 4, generator=g),
    "randn": lambda m, g=None: m.randn(3, 4, generator=g),
    "randint": lambda m, g=None: m.randint(0, 100, (3, 4), generator=g),
    "randperm": lambda m, g=None: m.randperm(20, generator=g),
    "multinomial": lambda m, g=None: m.multinomial(m.tensor([0.1, 0.2, 0.3, 0.4]), 3, generator=g),
    "multinomial-replacement": lambda m, g=None: m.multinomial(m.tensor([0.1, 0.9]), 10, replacement=True, generator=g),
    "bernoulli": lambda m, g=None: m.bernoulli(m.full((20,), 0.5), generator=g),
    "normal": lambda m, g=None: m.normal(0.0, 1.0, (5,), generator=g),
}


def values(t) -> list:
    return t.tolist()


# ---------------------------------------------------------------------------- reproducibility
@pytest.mark.parametrize("name", list(SAMPLERS))
def test_manual_seed_reproduces_the_global_stream(name):
    sample = SAMPLERS[name]
    backprop.manual_seed(1234)
    first = [values(sample(backprop)) for _ in range(3)]
    backprop.manual_seed(1234)
    second = [values(sample(backprop)) for _ in range(3)]
    assert first == second
    assert first[0] != first[1] or name.startswith("multinomial")  # the stream advances
    backprop.manual_seed(4321)
    other = [values(sample(backprop)) for _ in range(3)]
    assert other != first


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_generator_argument_uses_its_own_stream(name):
    sample = SAMPLERS[name]
    g1 = backprop.Generator().manual_seed(7)
    a = [values(sample(backprop, g1)) for _ in range(2)]
    backprop.manual_seed(0)
    before = backprop.get_rng_state()
    g2 = backprop.Generator()
    g2.manual_seed(7)
    b = [values(sample(backprop, g2)) for _ in range(2)]
    assert a == b
    assert backprop.get_rng_state().tolist() == before.tolist()  # the default generator was not touched


def test_generator_api_matches_torch():
    for m in (backprop, torch):
        g = m.Generator()
        assert g.manual_seed(3) is g
        assert g.initial_seed() == 3
        assert str(g.device) == "cpu"
        state = g.get_state()
        assert isinstance(state, m.Tensor) and dtype_name(state.dtype) == "uint8" and state.dim() == 1
        assert m.manual_seed(5).initial_seed() == 5
        assert m.initial_seed() == 5
        assert isinstance(m.default_generator, m.Generator)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_generator_state_round_trip(name):
    sample = SAMPLERS[name]
    g = backprop.Generator().manual_seed(99)
    sample(backprop, g)
    state = g.get_state()
    expected = [values(sample(backprop, g)) for _ in range(2)]
    g.set_state(state)
    assert [values(sample(backprop, g)) for _ in range(2)] == expected
    other = backprop.Generator()
    other.set_state(state)
    assert [values(sample(backprop, other)) for _ in range(2)] == expected


def test_global_rng_state_round_trip():
    backprop.manual_seed(11)
    backprop.rand(3)
    state = backprop.get_rng_state()
    a = backprop.randn(4).tolist()
    backprop.set_rng_state(state)
    assert backprop.randn(4).tolist() == a
    with backprop.random.fork_rng():
        backprop.rand(100)
    assert backprop.randn(4).tolist() != a  # fork_rng restored the state after the draw above...
    backprop.set_rng_state(state)
    with backprop.random.fork_rng():
        backprop.rand(100)
    assert backprop.randn(4).tolist() == a  # ...so the stream continues as if nothing happened


def test_set_state_rejects_garbage():
    with pytest.raises(RuntimeError):
        torch.Generator().set_state(torch.zeros(3, dtype=torch.uint8))
    with pytest.raises(RuntimeError):
        backprop.Generator().set_state(backprop.zeros(3, dtype=backprop.uint8))


def test_generator_rejects_cuda_like_torch():
    check(lambda m: m.Generator(device="cuda"))


# ---------------------------------------------------------------------------- dtypes and shapes
@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m: m.rand(2, 3), id="rand"),
        pytest.param(lambda m: m.rand((2, 3)), id="rand-tuple"),
        pytest.param(lambda m: m.rand([2, 3]), id="rand-list"),
        pytest.param(lambda m: m.rand(m.Size([2, 3])), id="rand-Size"),
        pytest.param(lambda m: m.rand(()), id="rand-0d"),
        pytest.param(lambda m: m.rand(0, 3), id="rand-empty"),
        pytest.param(lambda m: m.rand(2, dtype=m.float64), id="rand-float64"),
        pytest.param(lambda m: m.rand(2, dtype=m.float16), id="rand-float16"),
        pytest.param(lambda m: m.rand(2, requires_grad=True), id="rand-requires-grad"),
        pytest.param(lambda m: m.randn(4, 1, 2), id="randn"),
        pytest.param(lambda m: m.randn(3, dtype=m.float64), id="randn-float64"),
        pytest.param(lambda m: m.randint(0, 5, (3,)), id="randint"),
        pytest.param(lambda m: m.randint(5, (3, 2)), id="randint-high-only"),
        pytest.param(lambda m: m.randint(-5, 5, (3,), dtype=m.int32), id="randint-int32"),
        pytest.param(lambda m: m.randint(0, 5, (3,), dtype=m.float32), id="randint-float"),
        pytest.param(lambda m: m.randint(0, 5, ()), id="randint-0d"),
        pytest.param(lambda m: m.randperm(5), id="randperm"),
        pytest.param(lambda m: m.randperm(5, dtype=m.int32), id="randperm-int32"),
        pytest.param(lambda m: m.randperm(0), id="randperm-0"),
        pytest.param(lambda m: m.multinomial(m.tensor([0.2, 0.8]), 1), id="multinomial"),
        pytest.param(lambda m: m.multinomial(m.tensor([0.2, 0.8], dtype=m.float64), 5, True), id="multinomial-f64"),
        pytest.param(lambda m: m.multinomial(m.ones(4, 6), 3), id="multinomial-2d"),
        pytest.param(lambda m: m.ones(4, 6).multinomial(2, replacement=True), id="multinomial-method"),
        pytest.param(lambda m: m.bernoulli(m.full((3, 2), 0.5)), id="bernoulli"),
        pytest.param(lambda m: m.bernoulli(m.full((3,), 0.5, dtype=m.float64)), id="bernoulli-f64"),
        pytest.param(lambda m: m.full((3,), 0.5).bernoulli(), id="bernoulli-method"),
        pytest.param(lambda m: m.normal(0.0, 1.0, (2, 3)), id="normal"),
        pytest.param(lambda m: m.normal(m.zeros(3), 1.0), id="normal-tensor-mean"),
        pytest.param(lambda m: m.normal(m.zeros(3), m.ones(2, 1)), id="normal-broadcast"),
        pytest.param(lambda m: m.rand_like(m.ones(2, 3, dtype=m.float64)), id="rand_like"),
        pytest.param(lambda m: m.randn_like(m.ones(2, 3, dtype=m.float16)), id="randn_like"),
        pytest.param(lambda m: m.randn_like(m.ones(2, 3), dtype=m.float64), id="randn_like-dtype"),
        pytest.param(lambda m: m.rand_like(m.ones(2), requires_grad=True), id="rand_like-requires-grad"),
        pytest.param(lambda m: m.randint_like(m.ones(2, 3), 5), id="randint_like-float"),
        pytest.param(lambda m: m.randint_like(m.ones(2, 3, dtype=m.int32), 2, 5), id="randint_like-int32"),
    ],
)
def test_dtype_and_shape_match_torch(fn):
    def meta(m):
        t = fn(m)
        return tuple(t.shape), dtype_name(t.dtype), t.requires_grad

    check(meta)


def test_default_dtype_applies_to_float_samplers():
    def fn(m):
        m.set_default_dtype(m.float64)
        try:
            return [dtype_name(t.dtype) for t in (m.rand(2), m.randn(2), m.normal(0.0, 1.0, (2,)), m.randint(3, (2,)))]
        finally:
            m.set_default_dtype(m.float32)

    check(fn)


# ---------------------------------------------------------------------------- values
def test_rand_is_in_unit_interval():
    for dtype in (backprop.float32, backprop.float64, backprop.float16):
        x = backprop.rand(20000, dtype=dtype).numpy().astype(np.float64)
        assert x.min() >= 0.0 and x.max() < 1.0
        assert abs(x.mean() - 0.5) < 0.02 and abs(x.var() - 1 / 12) < 0.01
        assert len(np.unique(x)) > 500


@pytest.mark.parametrize("low,high", [(0, 1), (0, 2), (-3, 4), (10, 13), (0, 2**40)])
def test_randint_bounds(low, high):
    x = backprop.randint(low, high, (20000,)).numpy()
    assert x.min() >= low and x.max() < high
    if high - low <= 10:
        assert set(np.unique(x).tolist()) == set(range(low, high))  # every value is reached
    y = backprop.randint(high, (1000,)).numpy()
    assert y.min() >= 0 and y.max() < high


def test_randn_statistics():
    for dtype in (backprop.float32, backprop.float64):
        x = backprop.randn(100_000, dtype=dtype).numpy().astype(np.float64)
        assert abs(x.mean()) < 0.02
        assert abs(x.std() - 1.0) < 0.02
        assert abs((np.abs(x) < 1).mean() - 0.6827) < 0.01
    y = backprop.normal(3.0, 2.0, (100_000,)).numpy()
    assert abs(y.mean() - 3.0) < 0.05 and abs(y.std() - 2.0) < 0.05
    z = backprop.randn(200, 500).numpy()
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 0.25  # columns are not copies of each other


@pytest.mark.parametrize("n", [1, 2, 10, 1000])
def test_randperm_is_a_permutation(n):
    p = backprop.randperm(n)
    assert p.dtype is backprop.int64
    assert sorted(p.tolist()) == list(range(n))
    if n >= 10:
        assert p.tolist() != list(range(n))


def test_multinomial_with_replacement_frequencies():
    probs = np.array([0.1, 0.2, 0.3, 0.4])
    samples = backprop.multinomial(backprop.tensor(probs * 5, dtype=backprop.float32), 40000, replacement=True).numpy()
    assert samples.min() >= 0 and samples.max() <= 3
    freq = np.bincount(samples, minlength=4) / samples.size
    np.testing.assert_allclose(freq, probs, atol=0.015)


def test_multinomial_rows_are_independent_distributions():
    probs = backprop.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    s = backprop.multinomial(probs, 2000, replacement=True).numpy()
    assert (s[0] == 2).all() and (s[1] == 0).all()
    assert set(np.unique(s[2]).tolist()) == {0, 1}
    assert abs((s[2] == 0).mean() - 0.5) < 0.05


def test_multinomial_without_replacement_never_repeats():
    probs = backprop.tensor([0.05, 0.05, 0.3, 0.6, 0.0])
    first_counts = np.zeros(5)
    for _ in range(2000):
        s = backprop.multinomial(probs, 4).tolist()
        assert len(set(s)) == 4 and 4 not in s  # the zero-probability category never shows up
        first_counts[s[0]] += 1
    np.testing.assert_allclose(first_counts / 2000, [0.05, 0.05, 0.3, 0.6, 0.0], atol=0.03)
    batch = backprop.multinomial(backprop.ones(50, 6), 6).numpy()
    assert (np.sort(batch, axis=1) == np.arange(6)).all()


def test_bernoulli_frequencies_and_bounds():
    p = backprop.tensor([0.0, 0.25, 0.75, 1.0]).expand(20000, 4).contiguous()
    x = backprop.bernoulli(p).numpy()
    assert set(np.unique(x).tolist()) <= {0.0, 1.0}
    np.testing.assert_allclose(x.mean(axis=0), [0.0, 0.25, 0.75, 1.0], atol=0.015)
    y = backprop.bernoulli(backprop.zeros(20000), p=0.3).numpy()
    assert abs(y.mean() - 0.3) < 0.015


def test_like_samplers_take_shape_and_dtype_from_input():
    ref = backprop.zeros(3, 5, dtype=backprop.float64)
    for t in (backprop.rand_like(ref), backprop.randn_like(ref)):
        assert t.shape == (3, 5) and t.dtype is backprop.float64
    r = backprop.randint_like(backprop.zeros(2000, dtype=backprop.int32), 3, 6)
    assert r.dtype is backprop.int32 and r.min().item() >= 3 and r.max().item() <= 5
    r = backprop.randint_like(backprop.zeros(2000), 4)
    assert r.dtype is backprop.float32 and set(np.unique(r.numpy()).tolist()) == {0.0, 1.0, 2.0, 3.0}
    assert backprop.rand_like(ref).numpy().min() >= 0.0


def test_in_place_samplers():
    t = backprop.empty(20000)
    assert t.uniform_(-2.0, 3.0) is t
    x = t.numpy()
    assert x.min() >= -2.0 and x.max() < 3.0 and abs(x.mean() - 0.5) < 0.05
    t.normal_(1.0, 0.5)
    assert abs(t.mean().item() - 1.0) < 0.02 and abs(t.std().item() - 0.5) < 0.02
    t.bernoulli_(0.2)
    assert set(np.unique(t.numpy()).tolist()) == {0.0, 1.0} and abs(t.mean().item() - 0.2) < 0.02
    i = backprop.empty(1000, dtype=backprop.int64).random_(0, 7)
    assert i.min().item() >= 0 and i.max().item() <= 6


# ---------------------------------------------------------------------------- errors like torch
@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m: m.multinomial(m.tensor([0.2, 0.8]), 3), id="more-than-categories-no-replacement"),
        pytest.param(lambda m: m.multinomial(m.tensor([1.0, 0.0, 0.0]), 2), id="too-few-nonzero"),
        pytest.param(lambda m: m.multinomial(m.tensor([0.2, -0.8]), 1), id="negative-probability"),
        pytest.param(lambda m: m.multinomial(m.tensor([0.0, 0.0]), 1), id="all-zero"),
        pytest.param(lambda m: m.multinomial(m.tensor([float("nan"), 1.0]), 1), id="nan"),
        pytest.param(lambda m: m.multinomial(m.tensor([float("inf"), 1.0]), 1), id="inf"),
        pytest.param(lambda m: m.multinomial(m.ones(2, 2, 2), 1), id="3d"),
        pytest.param(lambda m: m.multinomial(m.tensor(1.0), 1), id="0d"),
        pytest.param(lambda m: m.multinomial(m.tensor([1.0, 1.0]), 0), id="zero-samples"),
        pytest.param(lambda m: m.multinomial(m.tensor([1.0, 1.0]), -1), id="negative-samples"),
        pytest.param(lambda m: m.multinomial(m.tensor([1, 1]), 1), id="integer-weights"),
        pytest.param(lambda m: m.bernoulli(m.tensor([0, 1])), id="bernoulli-integer"),
        pytest.param(lambda m: m.bernoulli(m.tensor([0.5, 1.5])), id="bernoulli-p-above-1"),
        pytest.param(lambda m: m.bernoulli(m.tensor([0.5, -0.5])), id="bernoulli-p-below-0"),
        pytest.param(lambda m: m.randint(3, 3, (3,)), id="randint-empty-range"),
        pytest.param(lambda m: m.randint(5, 3, (3,)), id="randint-reversed"),
        pytest.param(lambda m: m.randint(0, 5, (-1,)), id="randint-negative-size"),
        pytest.param(lambda m: m.rand(-1), id="rand-negative-size"),
        pytest.param(lambda m: m.randn(2, -1), id="randn-negative-size"),
        pytest.param(lambda m: m.rand(), id="rand-no-size"),
        pytest.param(lambda m: m.randn(), id="randn-no-size"),
        pytest.param(lambda m: m.randperm(-1), id="randperm-negative"),
        pytest.param(lambda m: m.rand(2, dtype=m.int64), id="rand-int-dtype"),
        pytest.param(lambda m: m.randn(2, dtype=m.int32), id="randn-int-dtype"),
        pytest.param(lambda m: m.rand_like(m.ones(2, 3, dtype=m.int64)), id="rand_like-int"),
        pytest.param(lambda m: m.randn_like(m.ones(2, dtype=m.bool)), id="randn_like-bool"),
        pytest.param(lambda m: m.rand(2, device="cuda"), id="rand-cuda"),
    ],
)
def test_errors_match_torch(fn):
    check(fn)


# ---------------------------------------------------------------------------- seed range (issue #14)
@pytest.mark.parametrize("seed", [-1, -5, -(2**63), 2**63, 2**64 - 1, 2**64 - 5])
def test_manual_seed_accepts_torchs_range_and_wraps_negative_seeds(seed):
    """torch takes any seed in [-2**63, 2**64 - 1]; a negative one is its 64-bit two's complement."""
    torch.manual_seed(seed)
    backprop.manual_seed(seed)
    assert backprop.initial_seed() == torch.initial_seed() == seed % 2**64
    first = backprop.rand(4)
    backprop.manual_seed(seed % 2**64)
    assert backprop.equal(first, backprop.rand(4))
    g = backprop.Generator().manual_seed(seed)
    assert g.initial_seed() == torch.Generator().manual_seed(seed).initial_seed()


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1])
def test_manual_seed_out_of_range_raises_like_torch(seed):
    with pytest.raises(ValueError) as expected:
        torch.manual_seed(seed)
    with pytest.raises(ValueError, match="Overflow when unpacking long long") as got:
        backprop.manual_seed(seed)
    assert str(expected.value) in str(got.value)
    with pytest.raises(ValueError):
        backprop.Generator().manual_seed(seed)


@pytest.mark.parametrize("seed", [1.5, True, "3"])
def test_generator_manual_seed_rejects_non_integers_like_torch(seed):
    with pytest.raises(RuntimeError, match="manual_seed expected a long") as expected:
        torch.Generator().manual_seed(seed)
    with pytest.raises(RuntimeError) as got:
        backprop.Generator().manual_seed(seed)
    assert str(got.value) == str(expected.value)


def test_module_manual_seed_truncates_like_torch():
    torch.manual_seed(7.9)
    backprop.manual_seed(7.9)
    assert backprop.initial_seed() == torch.initial_seed() == 7
    backprop.manual_seed("11")
    assert backprop.initial_seed() == 11
