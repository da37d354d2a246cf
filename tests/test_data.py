"""backprop.utils.data against torch.utils.data: DataLoader batching, ``len``, ``drop_last``, shuffling
reproducibility, samplers, ``default_collate``/``default_convert`` of nested structures (types, values
and dtypes compared with torch's output), ``random_split``, ``Subset``/``ConcatDataset``/``TensorDataset``,
iterable datasets, worker threads and the argument-validation errors. On the ``device`` fixture's
device (cpu and fake-cuda by default): batches of device samples and ``pin_memory``.

Random orders cannot match torch's (backprop draws from NumPy's PCG64), so shuffled sequences are
checked for their properties: permutations, reproducibility under a seed, disjoint splits.
"""

from __future__ import annotations

import collections
import gc
import os
import signal
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest
import torch
import torch.utils.data as tdata

import backprop
import backprop.utils.data as bdata
import fake_cuda
from backprop._backend import backend_for, loaded_backend
from backprop.utils.data._utils.worker import WorkerInfo

MODULES = {"backprop": (backprop, bdata), "torch": (torch, tdata)}
Point = collections.namedtuple("Point", ["x", "y"])


def dtype_name(d) -> str:
    return str(d).replace("torch.", "").replace("backprop.", "")


def assert_same(ours, theirs) -> None:
    """Same nesting (container types included), tensor dtypes/shapes/values, and leaves."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, backprop.Tensor), f"expected a Tensor, got {type(ours).__name__}"
        assert dtype_name(ours.dtype) == dtype_name(theirs.dtype)
        assert tuple(ours.shape) == tuple(theirs.shape)
        np.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy())
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs)
        for k in theirs:
            assert_same(ours[k], theirs[k])
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs), f"{type(ours).__name__} != torch {type(theirs).__name__}"
        assert len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            assert_same(o, t)
    elif isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray) and ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)
    else:
        assert type(ours) is type(theirs) and ours == theirs


def both(fn):
    """``fn(m, data)`` for backprop and torch."""
    return fn(*MODULES["backprop"]), fn(*MODULES["torch"])


def same_exception(fn):
    """Both raise the same exception type (and message, where torch's text is ours)."""
    with pytest.raises(Exception) as theirs:
        fn(*MODULES["torch"])
    with pytest.raises(type(theirs.value)) as ours:
        fn(*MODULES["backprop"])
    return str(ours.value), str(theirs.value)


class Squares:
    """A plain map-style dataset (no base class): sample i is (i, i*i as float, 'si')."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        return i, float(i * i), f"s{i}"


def make_range_iterable(data):
    class RangeIterable(data.IterableDataset):
        def __init__(self, start: int, end: int) -> None:
            self.start, self.end = start, end

        def __iter__(self):
            info = data.get_worker_info()
            if info is None:
                return iter(range(self.start, self.end))
            per = -(-(self.end - self.start) // info.num_workers)
            lo = self.start + info.id * per
            return iter(range(lo, min(lo + per, self.end)))

        def __len__(self) -> int:
            return self.end - self.start

    return RangeIterable


# ---------------------------------------------------------------------------- DataLoader batching
@pytest.mark.parametrize("n", [0, 1, 7, 10, 12])
@pytest.mark.parametrize("batch_size", [1, 3, 4, 12, 20])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sequential_batches_match_torch(n, batch_size, drop_last):
    def run(m, data):
        ds = data.TensorDataset(m.arange(n * 2).reshape(n, 2).float(), m.arange(n))
        loader = data.DataLoader(ds, batch_size=batch_size, drop_last=drop_last)
        return len(loader), [tuple(b) for b in loader]

    (ours_len, ours), (theirs_len, theirs) = both(run)
    assert ours_len == theirs_len == len(theirs)
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        assert_same(o, t)


def test_plain_dataset_with_mixed_samples_matches_torch():
    def run(m, data):
        return list(data.DataLoader(Squares(5), batch_size=2))

    ours, theirs = both(run)
    assert_same(ours, theirs)


def test_batch_size_none_converts_without_batching():
    def run(m, data):
        samples = [{"a": np.arange(3, dtype=np.int32), "b": 1.5}, {"a": np.ones(3, dtype=np.int32), "b": 2.5}]
        return list(data.DataLoader(samples, batch_size=None))

    ours, theirs = both(run)
    assert_same(ours, theirs)


def test_custom_batch_sampler_and_collate_fn():
    def run(m, data):
        loader = data.DataLoader(list(range(10)), batch_sampler=[[0, 1], [5], [9, 8, 7]], collate_fn=lambda b: sum(b))
        return len(loader), list(loader)

    ours, theirs = both(run)
    assert ours == theirs == (3, [1, 5, 24])


def test_sampler_argument_is_used():
    def run(m, data):
        loader = data.DataLoader(list(range(10)), sampler=[9, 1, 4], batch_size=2)
        return [b.tolist() for b in loader]

    ours, theirs = both(run)
    assert ours == theirs == [[9, 1], [4]]


def test_getitems_is_used_for_batches():
    class Batched(bdata.Dataset):
        calls = 0

        def __len__(self):
            return 6

        def __getitem__(self, i):
            raise AssertionError("__getitems__ should be used")

        def __getitems__(self, indices):
            Batched.calls += 1
            return [i * 10 for i in indices]

    out = [b.tolist() for b in bdata.DataLoader(Batched(), batch_size=4)]
    assert out == [[0, 10, 20, 30], [40, 50]] and Batched.calls == 2


# ---------------------------------------------------------------------------- shuffling
def _order(loader):
    return [int(i) for batch in loader for i in batch[0]]


def test_shuffle_with_generator_is_reproducible_and_a_permutation():
    ds = bdata.TensorDataset(backprop.arange(50))
    a = bdata.DataLoader(ds, batch_size=8, shuffle=True, generator=backprop.Generator().manual_seed(3))
    b = bdata.DataLoader(ds, batch_size=8, shuffle=True, generator=backprop.Generator().manual_seed(3))
    c = bdata.DataLoader(ds, batch_size=8, shuffle=True, generator=backprop.Generator().manual_seed(4))
    first, second = _order(a), _order(a)
    assert sorted(first) == list(range(50)) and sorted(second) == list(range(50))
    assert first != list(range(50))
    assert first != second  # each epoch reshuffles
    assert [first, second] == [_order(b), _order(b)]
    assert _order(c) != first


def test_shuffle_without_generator_follows_manual_seed():
    ds = bdata.TensorDataset(backprop.arange(30))
    backprop.manual_seed(11)
    first = _order(bdata.DataLoader(ds, batch_size=4, shuffle=True))
    backprop.manual_seed(11)
    again = _order(bdata.DataLoader(ds, batch_size=4, shuffle=True))
    assert first == again and sorted(first) == list(range(30))


def test_shuffle_with_workers_gives_the_same_order():
    ds = bdata.TensorDataset(backprop.arange(41))
    single = bdata.DataLoader(ds, batch_size=5, shuffle=True, generator=backprop.Generator().manual_seed(5))
    threaded = bdata.DataLoader(
        ds, batch_size=5, shuffle=True, num_workers=3, generator=backprop.Generator().manual_seed(5)
    )
    assert _order(single) == _order(threaded)
    assert _order(single) == _order(threaded)  # second epoch too


# ---------------------------------------------------------------------------- samplers
def test_sequential_and_batch_sampler_match_torch():
    def run(m, data):
        seq = data.SequentialSampler(range(7))
        return (
            list(seq),
            len(seq),
            list(data.BatchSampler(seq, 3, False)),
            list(data.BatchSampler(seq, 3, True)),
            len(data.BatchSampler(seq, 3, False)),
            len(data.BatchSampler(seq, 3, True)),
            list(data.BatchSampler(range(4), 5, False)),
        )

    ours, theirs = both(run)
    assert ours == theirs


def test_random_sampler_properties():
    g = backprop.Generator().manual_seed(0)
    s = bdata.RandomSampler(range(20), generator=g)
    perm = list(s)
    assert sorted(perm) == list(range(20)) and len(s) == 20
    more = list(bdata.RandomSampler(range(6), num_samples=15, generator=g))
    assert len(more) == 15 and all(more.count(i) >= 2 for i in range(6))
    assert sorted(more[:6]) == list(range(6)) and sorted(more[6:12]) == list(range(6))
    rep = list(bdata.RandomSampler(range(5), replacement=True, num_samples=100, generator=g))
    assert len(rep) == 100 and set(rep) <= set(range(5)) and len(set(rep)) == 5
    assert len(list(bdata.RandomSampler(range(5), replacement=True, num_samples=64))) == 64
    g1, g2 = backprop.Generator().manual_seed(9), backprop.Generator().manual_seed(9)
    assert list(bdata.RandomSampler(range(30), generator=g1)) == list(bdata.RandomSampler(range(30), generator=g2))


def test_subset_random_sampler_is_a_permutation_of_the_indices():
    indices = [3, 8, 11, 20, 42]
    s = bdata.SubsetRandomSampler(indices, generator=backprop.Generator().manual_seed(1))
    out = list(s)
    assert sorted(out) == indices and len(s) == 5


def test_weighted_random_sampler_properties():
    g = backprop.Generator().manual_seed(2)
    weights = [0.0, 1.0, 3.0, 0.0, 6.0]
    draws = list(bdata.WeightedRandomSampler(weights, 20000, generator=g))
    counts = np.bincount(draws, minlength=5) / 20000
    assert counts[0] == counts[3] == 0
    np.testing.assert_allclose(counts[[1, 2, 4]], [0.1, 0.3, 0.6], atol=0.02)
    no_rep = list(bdata.WeightedRandomSampler([1, 2, 3, 4], 4, replacement=False, generator=g))
    assert sorted(no_rep) == [0, 1, 2, 3]
    s = bdata.WeightedRandomSampler(backprop.tensor([1.0, 2.0]), 3)
    assert len(s) == 3 and s.weights.dtype == backprop.float64


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda m, data: data.RandomSampler(range(3), replacement=1), id="random-replacement-type"),
        pytest.param(lambda m, data: data.RandomSampler(range(3), num_samples=0), id="random-num-samples-zero"),
        pytest.param(lambda m, data: data.RandomSampler(range(3), num_samples=2.0), id="random-num-samples-float"),
        pytest.param(lambda m, data: data.RandomSampler([]), id="random-empty"),
        pytest.param(lambda m, data: data.WeightedRandomSampler([1.0], 0), id="weighted-zero"),
        pytest.param(lambda m, data: data.WeightedRandomSampler([1.0], True), id="weighted-bool"),
        pytest.param(lambda m, data: data.WeightedRandomSampler([1.0], 2, replacement=None), id="weighted-repl"),
        pytest.param(lambda m, data: data.WeightedRandomSampler([[1.0]], 2), id="weighted-2d"),
        pytest.param(lambda m, data: list(data.WeightedRandomSampler([1.0, 2.0], 3, False)), id="weighted-too-many"),
        pytest.param(lambda m, data: data.BatchSampler(range(3), 0, False), id="batch-zero"),
        pytest.param(lambda m, data: data.BatchSampler(range(3), True, False), id="batch-bool"),
        pytest.param(lambda m, data: data.BatchSampler(range(3), 2, 1), id="batch-drop-last-type"),
    ],
)
def test_sampler_errors_match_torch(make):
    ours, theirs = same_exception(make)
    if "weighted-too-many" not in ours:
        assert ours == theirs or "cannot sample" in ours


def test_distributed_sampler_shards():
    ds = list(range(10))
    shards = [list(bdata.DistributedSampler(ds, num_replicas=3, rank=r, shuffle=False)) for r in range(3)]
    theirs = [list(tdata.DistributedSampler(ds, num_replicas=3, rank=r, shuffle=False)) for r in range(3)]
    assert shards == theirs
    shuffled = [list(bdata.DistributedSampler(ds, num_replicas=2, rank=r, seed=4)) for r in range(2)]
    assert sorted(shuffled[0] + shuffled[1]) == list(range(10))
    with pytest.raises(ValueError):
        bdata.DistributedSampler(ds, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="Default process group has not been initialized"):  # as torch, with no group
        bdata.DistributedSampler(ds)
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        tdata.DistributedSampler(ds)


# ---------------------------------------------------------------------------- collate
COLLATE_CASES = [
    pytest.param(lambda m: [m.tensor([1.0, 2.0]), m.tensor([3.0, 4.0])], id="tensors"),
    pytest.param(lambda m: [m.tensor(1), m.tensor(2)], id="0d-tensors"),
    pytest.param(lambda m: [m.tensor([True]), m.tensor([False])], id="bool-tensors"),
    pytest.param(lambda m: [1, 2, 3], id="ints"),
    pytest.param(lambda m: [1.5, 2.0], id="floats"),
    pytest.param(lambda m: [True, False], id="bools"),
    pytest.param(lambda m: ["a", "b"], id="strings"),
    pytest.param(lambda m: [b"a", b"b"], id="bytes"),
    pytest.param(lambda m: [np.array([1, 2], dtype=np.int32), np.array([3, 4], dtype=np.int32)], id="np-int32"),
    pytest.param(lambda m: [np.zeros((2, 2), np.float32), np.ones((2, 2), np.float32)], id="np-float32"),
    pytest.param(lambda m: [np.zeros(3, np.uint8), np.full(3, 255, np.uint8)], id="np-uint8"),
    pytest.param(lambda m: [np.float64(1.5), np.float64(2.5)], id="np-float64-scalars"),
    pytest.param(lambda m: [np.int32(1), np.int32(2)], id="np-int32-scalars"),
    pytest.param(lambda m: [np.float32(1.5), np.float32(2.5)], id="np-float32-scalars"),
    pytest.param(lambda m: [np.bool_(True), np.bool_(False)], id="np-bool-scalars"),
    pytest.param(lambda m: [(m.ones(2), 1, "x"), (m.zeros(2), 2, "y")], id="tuples"),
    pytest.param(lambda m: [[1, 2.5], [3, 4.5]], id="lists"),
    pytest.param(lambda m: [{"img": m.ones(2, 2), "label": 3}, {"img": m.zeros(2, 2), "label": 4}], id="dicts"),
    pytest.param(lambda m: [Point(1, 2.0), Point(3, 4.0)], id="namedtuples"),
    pytest.param(
        lambda m: [
            {"pair": (np.arange(2), [1.0, {"deep": True}]), "name": "a", "pt": Point(m.tensor(1.0), 0)},
            {"pair": (np.arange(2) + 1, [2.0, {"deep": False}]), "name": "b", "pt": Point(m.tensor(2.0), 1)},
        ],
        id="nested",
    ),
    pytest.param(lambda m: [collections.OrderedDict(a=1, b=2.0), collections.OrderedDict(a=3, b=4.0)], id="ordered"),
]


@pytest.mark.parametrize("make", COLLATE_CASES)
def test_default_collate_matches_torch(make):
    ours, theirs = bdata.default_collate(make(backprop)), tdata.default_collate(make(torch))
    assert_same(ours, theirs)


@pytest.mark.parametrize("make", COLLATE_CASES)
def test_default_convert_matches_torch(make):
    for sample_b, sample_t in zip(make(backprop), make(torch)):
        assert_same(bdata.default_convert(sample_b), tdata.default_convert(sample_t))


def test_default_convert_leaves_string_arrays():
    arr = np.array(["a", "b"])
    assert bdata.default_convert(arr) is arr


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda m: [[1, 2], [3]], id="ragged"),
        pytest.param(lambda m: [object(), object()], id="object"),
        pytest.param(lambda m: [np.array(["a"]), np.array(["b"])], id="np-strings"),
        pytest.param(lambda m: [None, None], id="none"),
        pytest.param(lambda m: [m.ones(2), m.ones(3)], id="shape-mismatch"),
    ],
)
def test_default_collate_errors_match_torch(make):
    with pytest.raises(Exception) as theirs:
        tdata.default_collate(make(torch))
    with pytest.raises(type(theirs.value)):
        bdata.default_collate(make(backprop))


def test_collate_keeps_autograd():
    x = backprop.ones(3, requires_grad=True)
    batch = bdata.default_collate([x * 2, x * 3])
    batch.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 5.0, 5.0])


# ---------------------------------------------------------------------------- datasets
def test_tensor_dataset():
    x, y = backprop.arange(12).reshape(6, 2), backprop.arange(6)
    ds = bdata.TensorDataset(x, y)
    assert len(ds) == 6
    assert [t.tolist() for t in ds[2]] == [[4, 5], 2]
    assert [t.tolist() for t in ds[1:3]] == [[[2, 3], [4, 5]], [1, 2]]
    with pytest.raises(AssertionError, match="Size mismatch"):
        bdata.TensorDataset(x, backprop.arange(5))


def test_subset_and_concat_match_torch():
    def run(m, data):
        base = list(range(10, 20))
        sub = data.Subset(base, [9, 0, 4])
        cat = data.ConcatDataset([sub, list(range(3)), [100]])
        plus = data.Subset(base, [1]) + data.Subset(base, [2])
        return (
            len(sub),
            [sub[i] for i in range(3)],
            sub.__getitems__([2, 0]),
            len(cat),
            [cat[i] for i in range(len(cat))],
            cat[-1],
            cat[-7],
            cat.cumulative_sizes,
            type(plus).__name__,
            list(plus),
        )

    ours, theirs = both(run)
    assert ours == theirs


@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m, data: data.ConcatDataset([]), id="concat-empty"),
        pytest.param(lambda m, data: data.ConcatDataset([[1, 2]])[-3], id="concat-neg-index"),
        pytest.param(lambda m, data: data.ConcatDataset([[1, 2]])[2], id="concat-past-end"),
        pytest.param(lambda m, data: data.ConcatDataset([data.IterableDataset()]), id="concat-iterable"),
        pytest.param(lambda m, data: data.Dataset()[0], id="dataset-abstract"),
        pytest.param(lambda m, data: data.StackDataset(), id="stack-empty"),
        pytest.param(lambda m, data: data.StackDataset([1], [1, 2]), id="stack-mismatch"),
    ],
)
def test_dataset_errors_match_torch(fn):
    ours, theirs = same_exception(fn)
    assert ours == theirs


def test_stack_and_chain_datasets_match_torch():
    def run(m, data):
        tup = data.StackDataset([1, 2], ["a", "b"])
        dic = data.StackDataset(x=[1, 2], y=[3, 4])
        it = make_range_iterable(data)
        chain = it(0, 3) + it(5, 7)
        return tup[1], dic[0], len(tup), list(chain), len(chain), type(chain).__name__

    ours, theirs = both(run)
    assert ours == theirs


FRACTIONS = [[0.3, 0.7], [0.5, 0.5], [0.25, 0.25, 0.5], [1 / 3] * 3, [0.1] * 10, [0.6, 0.2, 0.2]]
SPLITS = [(10, [3, 7]), (10, [0, 10]), (10, [10]), (11, [4, 4, 3])] + [(n, f) for n in (10, 11) for f in FRACTIONS]


@pytest.mark.parametrize("n,lengths", SPLITS)
def test_random_split_lengths_and_disjointness(n, lengths):
    data = list(range(n))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = bdata.random_split(data, lengths, generator=backprop.Generator().manual_seed(0))
        theirs = tdata.random_split(data, lengths, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    flat = [x for s in ours for x in s]
    assert sorted(flat) == data
    assert all(isinstance(s, bdata.Subset) for s in ours)


def test_random_split_is_reproducible_and_warns_on_empty_split():
    data = list(range(20))
    a = bdata.random_split(data, [5, 15], generator=backprop.Generator().manual_seed(42))
    b = bdata.random_split(data, [5, 15], generator=backprop.Generator().manual_seed(42))
    assert [list(s) for s in a] == [list(s) for s in b]
    backprop.manual_seed(1)
    c = [list(s) for s in bdata.random_split(data, [0.5, 0.5])]
    backprop.manual_seed(1)
    assert c == [list(s) for s in bdata.random_split(data, [0.5, 0.5])]
    with pytest.warns(UserWarning, match="Length of split at index 2 is 0"):
        bdata.random_split(list(range(2)), [0.5, 0.5, 0.0])


@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m, data: data.random_split(list(range(10)), [3, 3]), id="sum-too-small"),
        pytest.param(lambda m, data: data.random_split(list(range(10)), [0.5, 0.6]), id="fractions-over-one"),
        pytest.param(lambda m, data: data.random_split(list(range(10)), [1.5, -0.5]), id="fraction-out-of-range"),
    ],
)
def test_random_split_errors_match_torch(fn):
    ours, theirs = same_exception(fn)
    assert ours == theirs


# ---------------------------------------------------------------------------- iterable datasets
@pytest.mark.parametrize("batch_size,drop_last", [(None, False)] + [(b, d) for b in (1, 3, 4) for d in (False, True)])
def test_iterable_dataset_batches_match_torch(batch_size, drop_last):

    def run(m, data):
        loader = data.DataLoader(make_range_iterable(data)(0, 10), batch_size=batch_size, drop_last=drop_last)
        return len(loader), list(loader)

    (ours_len, ours), (theirs_len, theirs) = both(run)
    assert ours_len == theirs_len
    assert_same(ours, theirs)


def test_iterable_dataset_len_warning():
    class Liar(bdata.IterableDataset):
        def __iter__(self):
            return iter(range(5))

        def __len__(self):
            return 2

    loader = bdata.DataLoader(Liar(), batch_size=None)
    assert len(loader) == 2
    with pytest.warns(UserWarning, match="was reported to be 2"):
        list(loader)


@pytest.mark.parametrize("num_workers", [1, 2, 3])
def test_iterable_dataset_workers_split_by_worker_info(num_workers):
    loader = bdata.DataLoader(make_range_iterable(bdata)(0, 17), batch_size=2, num_workers=num_workers)
    items = [int(i) for batch in loader for i in batch]
    assert sorted(items) == list(range(17))


def test_iterable_dataset_workers_interleave_like_torch():
    """Batches come round-robin from the workers; a finished worker is skipped (torch's order)."""

    def run(m, data):
        loader = data.DataLoader(make_range_iterable(data)(0, 10), batch_size=2, num_workers=2)
        return [b.tolist() for b in loader]

    ours = run(*MODULES["backprop"])
    # torch's order, spelled out: worker 0 yields 0..4, worker 1 yields 5..9
    assert ours == [[0, 1], [5, 6], [2, 3], [7, 8], [4], [9]]


def test_iterable_dataset_without_sharding_duplicates_per_worker():
    class Plain(bdata.IterableDataset):
        def __iter__(self):
            return iter(range(4))

    items = [int(x) for x in bdata.DataLoader(Plain(), batch_size=None, num_workers=2)]
    assert sorted(items) == [0, 0, 1, 1, 2, 2, 3, 3]


# ---------------------------------------------------------------------------- workers
class Recorder(bdata.Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        info = bdata.get_worker_info()
        return i, -1 if info is None else info.id


def test_get_worker_info_is_none_in_main_thread():
    assert bdata.get_worker_info() is None
    assert [b[1].tolist() for b in bdata.DataLoader(Recorder(4), batch_size=2)] == [[-1, -1], [-1, -1]]


def test_workers_receive_batches_round_robin_and_keep_order():
    loader = bdata.DataLoader(Recorder(20), batch_size=3, num_workers=3)
    batches = list(loader)
    assert [int(i) for b in batches for i in b[0]] == list(range(20))
    assert [int(b[1][0]) for b in batches] == [0, 1, 2, 0, 1, 2, 0]
    assert bdata.get_worker_info() is None


def test_worker_init_fn_and_worker_info():
    seen = []
    lock = threading.Lock()

    def init(worker_id):
        info = bdata.get_worker_info()
        with lock:
            seen.append((worker_id, info.id, info.num_workers, info.seed, type(info.dataset).__name__))

    loader = bdata.DataLoader(
        Recorder(8), batch_size=2, num_workers=2, worker_init_fn=init, generator=backprop.Generator().manual_seed(0)
    )
    list(loader)
    seen.sort()
    assert [s[:3] for s in seen] == [(0, 0, 2), (1, 1, 2)]
    assert seen[1][3] == seen[0][3] + 1 and seen[0][4] == "Recorder"
    info = WorkerInfo(id=0, num_workers=1, seed=0, dataset=None)
    with pytest.raises(RuntimeError):
        info.id = 3


def test_worker_exception_propagates_with_its_type():
    class Broken(bdata.Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            if i == 4:
                raise KeyError("bad sample 4")
            return i

    with pytest.raises(KeyError, match="bad sample 4"):
        list(bdata.DataLoader(Broken(), batch_size=2, num_workers=2))


def test_persistent_workers_reuse_iterator():
    calls = []
    loader = bdata.DataLoader(
        Recorder(6), batch_size=2, num_workers=2, persistent_workers=True, worker_init_fn=calls.append
    )
    first = [b[0].tolist() for b in loader]
    it = loader._iterator
    second = [b[0].tolist() for b in loader]
    assert first == second == [[0, 1], [2, 3], [4, 5]]
    assert loader._iterator is it and sorted(calls) == [0, 1]


def test_threaded_loader_matches_single_threaded_output():
    x = backprop.randn(37, 3)
    y = backprop.arange(37)
    ds = bdata.TensorDataset(x, y)
    single = list(bdata.DataLoader(ds, batch_size=4, drop_last=True))
    threaded = list(bdata.DataLoader(ds, batch_size=4, drop_last=True, num_workers=2, prefetch_factor=1))
    assert len(single) == len(threaded) == 9
    for a, b in zip(single, threaded):
        np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
        np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())


def test_partial_iteration_then_new_epoch():
    loader = bdata.DataLoader(Recorder(10), batch_size=2, num_workers=2)
    it = iter(loader)
    assert next(it)[0].tolist() == [0, 1]
    del it
    assert len(list(loader)) == 5


def test_pin_memory_warns_like_torch_without_accelerator():
    if backprop.cuda.is_available():
        pytest.skip("a CUDA device is available: pin_memory pins")
    with pytest.warns(UserWarning, match="pin_memory"):
        list(bdata.DataLoader([1, 2], pin_memory=True))


def test_pin_memory_needs_a_usable_gpu_not_a_loaded_backend(monkeypatch):
    """As torch: a CUDA library without a visible GPU (``cuda.is_available()`` False) pins nothing."""
    backend = fake_cuda.install()
    try:
        monkeypatch.setattr(backend, "device_count", lambda: 0)
        monkeypatch.setattr(backend, "pinned_copy", lambda array: pytest.fail("pinned without a GPU"))
        assert loaded_backend("cuda") is backend and not backprop.cuda.is_available()
        with pytest.warns(UserWarning, match="no accelerator is found"):
            batches = list(bdata.DataLoader(bdata.TensorDataset(backprop.arange(4)), batch_size=2, pin_memory=True))
        assert [b[0].tolist() for b in batches] == [[0, 1], [2, 3]]
    finally:
        fake_cuda.uninstall()


class DeviceSamples:
    """Sample i: a dict of a tensor on ``device``, a NumPy array, an int and a string."""

    def __init__(self, n: int, device: str) -> None:
        self.x = backprop.tensor(np.arange(2 * n, dtype="float32").reshape(n, 2), device=device)
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        return {"x": self.x[i], "a": np.full(3, i, dtype="int32"), "i": i, "s": f"s{i}"}


@pytest.mark.parametrize("num_workers", [0, 2])
def test_dataloader_batches_device_samples_on_the_device(device, num_workers):
    """Tensors on a device in the samples collate into a batch on that device (torch.stack of
    device tensors stays there); the host parts (arrays, numbers) become CPU tensors, as in torch."""
    loader = bdata.DataLoader(DeviceSamples(7, device), batch_size=3, num_workers=num_workers)
    batches = list(loader)
    assert [len(b["s"]) for b in batches] == [3, 3, 1]
    for k, batch in enumerate(batches):
        rows = list(range(3 * k, min(3 * k + 3, 7)))
        assert batch["x"].device.type == backprop.device(device).type
        np.testing.assert_array_equal(batch["x"].cpu().numpy(), np.array([[2 * r, 2 * r + 1] for r in rows], dtype="float32"))
        assert batch["a"].device.type == batch["i"].device.type == "cpu"
        assert batch["a"].dtype == backprop.int32 and batch["a"].tolist() == [[r] * 3 for r in rows]
        assert batch["i"].tolist() == rows and batch["s"] == [f"s{r}" for r in rows]
    ds = bdata.TensorDataset(backprop.arange(10, device=device), backprop.ones(10, 2, device=device))
    for x, y in bdata.DataLoader(ds, batch_size=4, shuffle=True, generator=backprop.Generator().manual_seed(0)):
        assert x.device.type == y.device.type == backprop.device(device).type
        assert y.shape[1:] == (2,)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_pin_memory_pins_batches_with_a_cuda_backend(device, num_workers, monkeypatch):
    """With a CUDA device available, ``pin_memory=True`` pins every CPU tensor of each batch through
    ``Tensor.pin_memory()`` (no warning; in the worker threads too), rebuilding the batch as torch
    does; device tensors stay as they are. The pinned batch then moves to the device. On the CPU
    without a CUDA device: torch's warning, and the batches unchanged."""
    data = np.arange(12, dtype="float32").reshape(6, 2)
    ds = bdata.TensorDataset(backprop.tensor(data), backprop.arange(6))
    if backprop.device(device).type == "cpu":
        if backprop.cuda.is_available():
            pytest.skip("a CUDA device is available: pin_memory pins")
        with pytest.warns(UserWarning, match="no accelerator is found"):
            batches = list(bdata.DataLoader(ds, batch_size=4, pin_memory=True, num_workers=num_workers))
        assert [type(b) for b in batches] == [list, list] and not batches[0][0].is_pinned()
        np.testing.assert_array_equal(batches[0][0].numpy(), data[:4])
        return
    backend = backend_for(device)
    if isinstance(backend, fake_cuda.FakeCUDABackend):  # the fake has no page-locked memory: record the copies
        pinned = []

        def pinned_copy(array):
            pinned.append(array.copy())
            return pinned[-1]

        monkeypatch.setattr(backend, "pinned_copy", pinned_copy)
        monkeypatch.setattr(backend, "is_pinned", lambda array: any(array is p for p in pinned))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batches = list(bdata.DataLoader(ds, batch_size=4, pin_memory=True, num_workers=num_workers))
    assert len(batches) == 2
    for k, batch in enumerate(batches):
        assert type(batch) is list  # torch's pin_memory turns tuples into lists
        x, y = batch
        assert x.device.type == y.device.type == "cpu"
        assert x.is_pinned() and y.is_pinned()
        np.testing.assert_array_equal(x.numpy(), data[4 * k : 4 * k + 4])
        assert y.tolist() == list(range(4 * k, min(4 * k + 4, 6)))
        on_device = x.to(device, non_blocking=True)
        assert on_device.device.type == "cuda"
        np.testing.assert_array_equal(on_device.cpu().numpy(), data[4 * k : 4 * k + 4])
    unpinned = list(bdata.DataLoader(ds, batch_size=4))
    assert not unpinned[0][0].is_pinned()
    mixed = next(iter(bdata.DataLoader(DeviceSamples(4, device), batch_size=4, pin_memory=True)))
    assert mixed["x"].device.type == "cuda" and not mixed["x"].is_pinned()
    assert mixed["a"].is_pinned() and mixed["i"].is_pinned() and mixed["s"] == ["s0", "s1", "s2", "s3"]


# ---------------------------------------------------------------------------- argument validation
def _iterable(data):
    return make_range_iterable(data)(0, 4)


LOADER_ERRORS = [
    pytest.param(lambda m, data: data.DataLoader([1, 2], shuffle=True, sampler=[0, 1]), id="sampler-and-shuffle"),
    pytest.param(lambda m, data: data.DataLoader([1, 2], batch_sampler=[[0]], batch_size=2), id="bs-and-batch-size"),
    pytest.param(lambda m, data: data.DataLoader([1, 2], batch_sampler=[[0]], shuffle=True), id="bs-and-shuffle"),
    pytest.param(lambda m, data: data.DataLoader([1, 2], batch_sampler=[[0]], sampler=[0]), id="bs-and-sampler"),
    pytest.param(lambda m, data: data.DataLoader([1, 2], batch_sampler=[[0]], drop_last=True), id="bs-and-drop-last"),
    pytest.param(lambda m, data: data.DataLoader([1, 2], batch_size=None, drop_last=True), id="none-and-drop-last"),
    pytest.param(lambda m, data: data.DataLoader([1, 2], num_workers=-1), id="negative-workers"),
    pytest.param(lambda m, data: data.DataLoader([1, 2], timeout=-1), id="negative-timeout"),
    pytest.param(lambda m, data: data.DataLoader([1, 2], prefetch_factor=2), id="prefetch-without-workers"),
    pytest.param(lambda m, data: data.DataLoader([1, 2], num_workers=1, prefetch_factor=-1), id="negative-prefetch"),
    pytest.param(lambda m, data: data.DataLoader([1, 2], persistent_workers=True), id="persistent-without-workers"),
    pytest.param(lambda m, data: data.DataLoader([1, 2], multiprocessing_context="spawn"), id="context-no-workers"),
    pytest.param(
        lambda m, data: data.DataLoader([1, 2], num_workers=1, multiprocessing_context="bogus"), id="context-bad"
    ),
    pytest.param(lambda m, data: data.DataLoader(_iterable(data), shuffle=True), id="iterable-shuffle"),
    pytest.param(lambda m, data: data.DataLoader(_iterable(data), sampler=[0]), id="iterable-sampler"),
    pytest.param(lambda m, data: data.DataLoader(_iterable(data), batch_sampler=[[0]]), id="iterable-batch-sampler"),
    pytest.param(lambda m, data: data.DataLoader([1, 2], batch_size=0), id="batch-size-zero"),
    pytest.param(lambda m, data: iter(data.DataLoader([1, 2], timeout=1)), id="timeout-without-workers"),
    pytest.param(lambda m, data: len(data.DataLoader(iter([1, 2]))), id="len-of-unsized"),
    pytest.param(lambda m, data: setattr(data.DataLoader([1, 2]), "batch_size", 4), id="set-batch-size"),
    pytest.param(lambda m, data: setattr(data.DataLoader([1, 2]), "dataset", [3]), id="set-dataset"),
]


@pytest.mark.parametrize("fn", LOADER_ERRORS)
def test_dataloader_errors_match_torch(fn):
    ours, theirs = same_exception(fn)
    if "valid start method" not in theirs:
        assert ours == theirs


def test_settable_attributes_and_len():
    loader = bdata.DataLoader(list(range(10)), batch_size=3)
    loader.num_workers = 0  # not frozen in torch either
    assert len(loader) == 4 and loader.batch_size == 3 and loader.drop_last is False
    assert isinstance(loader.sampler, bdata.SequentialSampler)
    assert isinstance(loader.batch_sampler, bdata.BatchSampler)
    assert isinstance(bdata.DataLoader([1], shuffle=True).sampler, bdata.RandomSampler)
    assert bdata.DataLoader([1], num_workers=2).prefetch_factor == 2
    assert len(iter(loader)) == 4


def test_import_as_torch_style_paths():
    from backprop.utils.data import DataLoader as Loader
    from backprop.utils.data.dataloader import default_collate as dc

    assert Loader is bdata.DataLoader and dc is bdata.default_collate
    assert backprop.utils.data is bdata


def test_worker_timeout_raises():
    import time

    class Slow(bdata.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            time.sleep(0.5)
            return i

    with pytest.raises(RuntimeError, match="timed out after 0.05 seconds"):
        list(bdata.DataLoader(Slow(), num_workers=1, timeout=0.05))


def test_subset_of_tensor_dataset_through_loader():
    ds = bdata.TensorDataset(backprop.arange(10) * 10)
    train, val = bdata.random_split(ds, [0.8, 0.2], generator=backprop.Generator().manual_seed(0))
    got = sorted(int(v) for (batch,) in bdata.DataLoader(train, batch_size=3) for v in batch)
    got += sorted(int(v) for (batch,) in bdata.DataLoader(val, batch_size=3) for v in batch)
    assert sorted(got) == list(range(0, 100, 10)) and len(train) == 8


# ---------------------------------------------------------------------------- stuck and exiting workers
_STUCK_SCRIPT = """
import sys, threading, time
import backprop.utils.data as data

class Stuck(data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 3:
            threading.Event().wait()  # deadlocked forever
        return i

loader = data.DataLoader(Stuck(), num_workers=2, timeout={timeout}, persistent_workers={persistent})
if sys.argv[1] == "timeout":
    list(loader)
else:  # the iterator is dropped while a worker is stuck; the script then ends normally
    it = iter(loader)
    next(it), next(it), next(it)
    del it
    print("done")
"""


@pytest.mark.parametrize(
    "mode, timeout, persistent, rc, needle",
    [
        ("timeout", 1, False, 1, "RuntimeError: DataLoader timed out after 1 seconds"),
        ("drop", 0, True, 0, ""),  # persistent workers: the loader keeps its iterator, still no wait
    ],
)
def test_stuck_worker_never_keeps_the_process_alive(mode, timeout, persistent, rc, needle, tmp_path):
    """A worker stuck in __getitem__: the timeout raises torch's error and the process ends at once
    (the workers are daemon threads, never joined), as it does when the iterator is dropped."""

    script = tmp_path / "stuck.py"
    script.write_text(_STUCK_SCRIPT.format(timeout=timeout, persistent=persistent))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, timeout=30, env=env)
    elapsed = time.monotonic() - start
    assert proc.returncode == rc, proc.stderr
    assert needle in proc.stderr
    assert elapsed < 10, f"the process took {elapsed:.1f} s to exit"
    if mode == "drop":
        assert proc.stdout.strip() == "done"


def test_ctrl_c_with_a_stuck_worker_and_no_timeout_ends_the_process(tmp_path):
    """Without a timeout the main thread waits for the stuck worker; Ctrl-C (SIGINT) still ends
    the program: KeyboardInterrupt, and no join of the worker thread at exit."""
    script = tmp_path / "stuck.py"
    script.write_text(_STUCK_SCRIPT.format(timeout=0, persistent=False).replace("list(loader)", "print('waiting', flush=True); list(loader)"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, str(script), "timeout"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "waiting"
        time.sleep(0.3)  # the main thread is now blocked on the stuck worker's batch
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert "KeyboardInterrupt" in err and proc.returncode != 0


def test_persistent_workers_start_afresh_after_a_timeout():
    class SlowOnce(bdata.Dataset):
        def __init__(self):
            self.slow = threading.Event()
            self.slow.set()

        def __len__(self):
            return 4

        def __getitem__(self, i):
            if i == 1 and self.slow.is_set():
                self.slow.clear()
                time.sleep(1.0)
            return i

    loader = bdata.DataLoader(SlowOnce(), num_workers=2, timeout=0.2, persistent_workers=True)
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.2 seconds"):
        list(loader)
    first = loader._iterator
    assert [int(b) for b in loader] == [0, 1, 2, 3]
    assert loader._iterator is not first


class _Exits(bdata.Dataset):
    def __init__(self, code):
        self.code = code

    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 3:
            sys.exit(self.code)
        return i


@pytest.mark.parametrize(
    "code, pattern",
    [
        (4, r"DataLoader worker \(pid \d+\) exited unexpectedly with exit code 4"),
        (0, r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly$"),
        (None, r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly$"),
    ],
)
def test_worker_that_exits_raises_torchs_error(code, pattern):
    """sys.exit() in a worker ends that worker, as it ends torch's worker process: torch's
    RuntimeError in the main thread, not a SystemExit of the whole program and not a hang."""
    it = iter(bdata.DataLoader(_Exits(code), num_workers=2, timeout=5))
    assert [int(next(it)) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(RuntimeError, match=pattern):
        next(it)
    assert all(not w._thread.is_alive() or w._stopped for w in it._workers)


def test_worker_init_fn_that_exits_raises_torchs_error():

    loader = bdata.DataLoader(list(range(4)), num_workers=1, worker_init_fn=lambda i: sys.exit(2))
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid \d+\) exited unexpectedly with exit code 2"):
        list(loader)


def test_worker_threads_end_after_the_epoch_and_when_the_iterator_is_dropped():

    def workers():
        return {t for t in threading.enumerate() if t.name.startswith("DataLoaderWorker")}

    before = workers()
    list(bdata.DataLoader(list(range(10)), num_workers=3))
    it = iter(bdata.DataLoader(list(range(10)), num_workers=3))
    next(it)
    del it
    gc.collect()
    started = workers() - before
    assert all(t.daemon for t in started)
    for t in started:
        t.join(timeout=5)
    assert workers() - before == set()
