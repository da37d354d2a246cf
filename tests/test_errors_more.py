"""Bad input gets torch 2.13's behaviour (issue #14): index values out of range, numbers that do
not fit a dtype, integer division by zero, pooling/conv windows larger than the input, invalid
random-sampling parameters, mismatched nn layers, empty reductions, unconvertible data, huge
allocations.

``ERRORS``: torch raises; backprop must raise torch's type (or a subclass) with torch's message
(``None`` fragments) or a message holding every given fragment. ``SAME``: torch returns a
value; backprop must return the same one, without a warning where torch gives none.
"""

from __future__ import annotations

import math
import timeit
import warnings

import pytest
import torch

import backprop


def _err(fn, *fragments, id):  # noqa: A002 - mirrors pytest.param
    return pytest.param(fn, fragments or None, id=id)


def _torch_message(exc: BaseException) -> str:
    return str(exc).split(" (Triggered internally")[0].split("\nException raised from")[0].strip()


ERRORS = [
    # ---- index values: torch refuses negative indices in gather/scatter/index_select/index_add/index_copy
    _err(lambda m: m.arange(3.0).gather(0, m.tensor([-1])), id="gather-negative"),
    _err(lambda m: m.ones(2, 3).gather(1, m.tensor([[0, -4]])), id="gather-negative-2d"),
    _err(lambda m: m.arange(3.0).gather(0, m.tensor([3])), id="gather-too-large"),
    _err(lambda m: m.zeros(3).scatter(0, m.tensor([-1]), m.ones(1)), id="scatter-negative"),
    _err(lambda m: m.zeros(3).scatter(0, m.tensor([-1]), 1.0), id="scatter-value-negative"),
    _err(lambda m: m.zeros(3).scatter_add(0, m.tensor([-1]), m.ones(1)), id="scatter_add-negative"),
    _err(lambda m: m.zeros(3).scatter_add(0, m.tensor([5]), m.ones(1)), id="scatter_add-too-large"),
    _err(lambda m: m.zeros(3).scatter_reduce(0, m.tensor([-2]), m.ones(1), "sum"), id="scatter_reduce-sum-negative"),
    _err(lambda m: m.zeros(3).scatter_reduce(0, m.tensor([-2]), m.ones(1), "amax"), id="scatter_reduce-amax-negative"),
    _err(lambda m: m.arange(3.0).index_select(0, m.tensor([-1])), id="index_select-negative"),
    _err(lambda m: m.arange(3.0).index_select(0, m.tensor([3])), id="index_select-too-large"),
    _err(lambda m: m.ones(3, 2).index_select(0, m.tensor([0, -1])), id="index_select-2d-dim0"),
    _err(lambda m: m.ones(2, 3).index_select(1, m.tensor([-1])), id="index_select-2d-dim1"),
    _err(lambda m: m.tensor(1.0).index_select(0, m.tensor([1])), id="index_select-0d"),
    _err(lambda m: m.zeros(3).index_add(0, m.tensor([-1]), m.ones(1)), id="index_add-negative"),
    _err(lambda m: m.zeros(3).index_add(0, m.tensor([3]), m.ones(1)), id="index_add-too-large"),
    _err(lambda m: m.zeros(2, 3).index_add(1, m.tensor([-1]), m.ones(2, 1)), id="index_add-2d-negative"),
    _err(lambda m: m.zeros(3).index_copy(0, m.tensor([-1]), m.ones(1)), id="index_copy-negative"),
    _err(lambda m: m.zeros(3).index_reduce(0, m.tensor([-1]), m.ones(1), "amax"), id="index_reduce-negative"),
    _err(lambda m: m.take_along_dim(m.arange(3.0), m.tensor([-1])), id="take_along_dim-flat-negative"),
    _err(lambda m: m.nn.functional.embedding(m.tensor([-1]), m.ones(3, 2)), id="embedding-negative"),
    _err(lambda m: m.bincount(m.tensor([-1])), id="bincount-negative"),
    _err(lambda m: m.bincount(m.tensor([[1]])), id="bincount-2d"),
    _err(lambda m: m.bincount(m.tensor([1.0])), id="bincount-float"),
    _err(lambda m: m.bincount(m.tensor([1, 2]), weights=m.ones(3)), id="bincount-weights-length"),
    _err(lambda m: m.bincount(m.tensor([1]), minlength=-1), id="bincount-minlength"),
    _err(lambda m: m.nn.Embedding(3, 2)(m.tensor([[0, 3]])), id="Embedding-too-large"),
    # ---- numbers that do not fit the dtype
    _err(lambda m: m.tensor([300], dtype=m.int8), id="tensor-int8-300"),
    _err(lambda m: m.tensor(300, dtype=m.int8), id="tensor-0d-int8-300"),
    _err(lambda m: m.tensor([[1, 300]], dtype=m.int8), id="tensor-nested-int8"),
    _err(lambda m: m.tensor([-256], dtype=m.uint8), id="tensor-uint8--256"),
    _err(lambda m: m.tensor([40000], dtype=m.int16), id="tensor-int16"),
    _err(lambda m: m.tensor([2**31], dtype=m.int32), id="tensor-int32"),
    _err(lambda m: m.tensor([300.5], dtype=m.int8), id="tensor-float-into-int8"),
    _err(lambda m: m.tensor([float("nan")], dtype=m.int64), id="tensor-nan-into-int64"),
    _err(lambda m: m.tensor([-1.5], dtype=m.uint8), id="tensor-negative-float-into-uint8"),
    _err(lambda m: m.tensor([2**63]), id="tensor-past-int64"),
    _err(lambda m: m.tensor([1, 2**64], dtype=m.int64), id="tensor-past-int64-dtype"),
    _err(lambda m: m.as_tensor([300], dtype=m.int8), id="as_tensor-int8"),
    _err(lambda m: m.full((2,), 300, dtype=m.int8), id="full-int8"),
    _err(lambda m: m.full((2,), -256, dtype=m.uint8), id="full-uint8"),
    _err(lambda m: m.zeros(2, dtype=m.int8).fill_(300), id="fill_-int8"),
    _err(lambda m: m.zeros(2, dtype=m.int32).fill_(2**40), id="fill_-int32"),
    _err(lambda m: m.zeros(2, dtype=m.int8).fill_(300.5), id="fill_-float-into-int8"),
    _err(lambda m: m.zeros(2, dtype=m.float16).fill_(1e6), id="fill_-float16"),
    _err(lambda m: m.zeros(2, dtype=m.float16).fill_(70000), id="fill_-int-into-float16"),
    _err(lambda m: m.zeros(2, dtype=m.float16).masked_fill(m.tensor([True, False]), 1e6), id="masked_fill-float16"),
    _err(lambda m: m.zeros(2, dtype=m.float16).clamp(max=1e6), id="clamp-float16"),
    _err(lambda m: m.zeros(2, dtype=m.bfloat16).clamp(min=-1e39), id="clamp-bfloat16"),
    _err(lambda m: m.full((2,), 1e6, dtype=m.float16), id="full-float16"),
    _err(lambda m: m.full_like(m.zeros(2, dtype=m.float16), 70000), id="full_like-float16"),
    _err(lambda m: m.zeros(2, dtype=m.float16).new_full((2,), 1e6), id="new_full-float16"),
    _err(lambda m: m.full_like(m.zeros(2, dtype=m.int8), 300), id="full_like-int8"),
    _err(lambda m: m.zeros(2, dtype=m.int8).new_full((2,), 300), id="new_full-int8"),
    _err(lambda m: m.zeros(2, dtype=m.int8).masked_fill(m.tensor([True, False]), 300), id="masked_fill-int8"),
    _err(lambda m: m.zeros(2, dtype=m.int8).index_fill(0, m.tensor([0]), 300), id="index_fill-int8"),
    _err(lambda m: m.zeros(2, dtype=m.int8).clamp(max=300), id="clamp-int8"),
    _err(lambda m: m.zeros(2, dtype=m.uint8).clamp(min=-300), id="clamp-uint8"),
    _err(lambda m: m.zeros(2, dtype=m.int8).__setitem__(0, 300), id="setitem-int8"),
    _err(lambda m: m.where(m.tensor([True, False]), m.zeros(2, dtype=m.int8), 300), id="where-int8"),
    _err(lambda m: m.scalar_tensor(300, dtype=m.int8), id="scalar_tensor-int8"),
    # ---- integer division by zero
    _err(lambda m: m.tensor([5]) // 0, id="int-floordiv-zero"),
    _err(lambda m: m.tensor([5, 1]) // m.tensor([1, 0]), id="int-floordiv-zero-tensor"),
    _err(lambda m: m.tensor([5]) % 0, id="int-mod-zero"),
    _err(lambda m: m.tensor([5]) % m.tensor([0]), id="int-mod-zero-tensor"),
    _err(lambda m: 5 // m.tensor([0]), id="int-rfloordiv-zero"),
    _err(lambda m: m.div(m.tensor([5]), 0, rounding_mode="floor"), id="div-floor-zero"),
    _err(lambda m: m.div(m.tensor([5]), m.tensor([0]), rounding_mode="trunc"), id="div-trunc-zero"),
    _err(lambda m: m.fmod(m.tensor([5]), 0), id="fmod-int-zero"),
    _err(lambda m: m.remainder(m.tensor([5]), m.tensor([0])), id="remainder-int-zero"),
    _err(lambda m: m.floor_divide(m.tensor([5], dtype=m.int32), m.tensor([0], dtype=m.int32)), id="floor_divide-int32-zero"),
    _err(lambda m: m.tensor([5]).floor_divide_(0), id="floor_divide_-zero"),
    _err(lambda m: m.tensor([5], dtype=m.uint8) // 0, id="uint8-floordiv-zero"),
    _err(lambda m: m.tensor([True]) // m.tensor([True]), id="bool-floordiv"),
    _err(lambda m: m.tensor([True]) % m.tensor([True]), id="bool-mod"),
    _err(lambda m: m.fmod(m.tensor([True]), m.tensor([True])), id="bool-fmod"),
    _err(lambda m: m.div(m.tensor([True]), m.tensor([True]), rounding_mode="trunc"), id="bool-div-trunc"),
    _err(lambda m: m.histc(m.tensor([float("nan"), 1.0])), "torch.histc: range of", "is not finite", id="histc-nan"),
    _err(lambda m: m.histc(m.tensor([float("inf"), 1.0])), id="histc-inf"),
    # ---- data tensor() cannot take
    _err(lambda m: m.tensor(None), id="tensor-None"),
    _err(lambda m: m.tensor({}), id="tensor-dict"),
    _err(lambda m: m.tensor({1, 2}), id="tensor-set"),
    _err(lambda m: m.tensor(object()), id="tensor-object"),
    _err(lambda m: m.tensor([None]), id="tensor-list-None"),
    _err(lambda m: m.tensor([1, None]), id="tensor-None-later"),
    _err(lambda m: m.as_tensor(None), id="as_tensor-None"),
    _err(lambda m: m.tensor(["a"]), id="tensor-str-list"),
    _err(lambda m: m.tensor([1, "a"]), id="tensor-str-later"),
    _err(lambda m: m.tensor("a"), id="tensor-str"),
    _err(lambda m: m.tensor(b"ab"), id="tensor-bytes"),
    _err(lambda m: m.tensor([[1, 2], [3]]), id="tensor-ragged"),
    _err(lambda m: m.tensor([[[1], [2]], [[3]]]), id="tensor-ragged-3d"),
    _err(lambda m: m.tensor([[1, 2], 3]), id="tensor-sequence-then-number"),
    _err(lambda m: m.tensor([1, [2]]), id="tensor-number-then-sequence"),
    _err(lambda m: m.tensor([1.5, [2]]), id="tensor-float-then-sequence"),
    _err(lambda m: m.tensor(2**64), id="tensor-int-past-int64"),
    # ---- nn layers given the wrong input
    _err(lambda m: m.nn.BatchNorm2d(3)(m.ones(2, 4, 2, 2)), id="BatchNorm2d-channels"),
    _err(lambda m: m.nn.BatchNorm2d(3).eval()(m.ones(2, 4, 2, 2)), id="BatchNorm2d-eval-channels"),
    _err(lambda m: m.nn.BatchNorm1d(3)(m.ones(2, 4, 5)), id="BatchNorm1d-channels"),
    _err(lambda m: m.nn.functional.batch_norm(m.ones(2, 4), m.zeros(3), m.ones(3)), id="batch_norm-running_mean"),
    _err(lambda m: m.nn.functional.batch_norm(m.ones(2, 4), m.zeros(4), m.ones(3)), id="batch_norm-running_var"),
    _err(lambda m: m.nn.functional.batch_norm(m.ones(2, 4), m.zeros(4), m.ones(4), weight=m.ones(3)), id="batch_norm-weight"),
    _err(lambda m: m.nn.functional.batch_norm(m.ones(2, 4), None, None, bias=m.ones(3), training=True), id="batch_norm-bias"),
    _err(lambda m: m.nn.InstanceNorm2d(3, affine=True)(m.ones(2, 4, 3, 3)), id="InstanceNorm2d-affine-channels"),
    _err(lambda m: m.nn.functional.instance_norm(m.ones(2, 4, 3, 3), weight=m.ones(3)), id="instance_norm-weight"),
    _err(lambda m: m.nn.LayerNorm(4)(m.ones(2, 3)), id="LayerNorm-shape"),
    _err(lambda m: m.nn.LayerNorm([2, 3])(m.ones(2, 4)), id="LayerNorm-shape-2d"),
    _err(lambda m: m.nn.Linear(4, 5)(m.ones(2, 3)), id="Linear-features"),
    _err(lambda m: m.nn.Linear(4, 5)(m.ones(2, 2, 3)), id="Linear-features-3d"),
    _err(lambda m: m.nn.functional.linear(m.ones(2, 3), m.ones(5, 4)), id="linear-features"),
    _err(lambda m: m.nn.Conv2d(3, 4, 2)(m.ones(1, 4, 5, 5)), id="Conv2d-channels"),
    _err(lambda m: m.nn.Conv2d(3, 4, 2, groups=2), id="Conv2d-groups-in"),
    _err(lambda m: m.nn.Conv2d(4, 3, 2, groups=2), id="Conv2d-groups-out"),
    _err(lambda m: m.nn.Conv2d(4, 4, 2, groups=0), id="Conv2d-groups-zero"),
    _err(lambda m: m.nn.Conv2d(4, 4, 2, padding="same", stride=2), id="Conv2d-same-strided"),
    _err(lambda m: m.nn.Conv2d(1, 1, 2, stride=0)(m.ones(1, 1, 3, 3)), id="Conv2d-stride-zero"),
    _err(lambda m: m.nn.Conv2d(1, 1, 2, padding=-1)(m.ones(1, 1, 3, 3)), id="Conv2d-negative-padding"),
    _err(lambda m: m.nn.Conv2d(1, 1, 2, dilation=0)(m.ones(1, 1, 3, 3)), id="Conv2d-dilation-zero"),
    _err(lambda m: m.nn.functional.conv2d(m.ones(1, 1, 2, 2), m.ones(1, 1, 3, 3)), id="conv2d-kernel-too-large"),
    _err(lambda m: m.nn.functional.conv1d(m.ones(1, 1, 2), m.ones(1, 1, 3)), "Kernel size can't be greater than actual input size", id="conv1d-kernel-too-large"),
    _err(lambda m: m.nn.functional.conv3d(m.ones(1, 1, 2, 2, 2), m.ones(1, 1, 3, 3, 3)), id="conv3d-kernel-too-large"),
    _err(lambda m: m.nn.functional.conv2d(m.ones(1, 1, 3, 3), m.ones(1, 1, 2, 2), dilation=3), id="conv2d-dilated-kernel-too-large"),
    _err(lambda m: m.nn.MaxPool2d(4)(m.ones(1, 1, 2, 2)), id="MaxPool2d-too-small"),
    _err(lambda m: m.nn.AvgPool2d(4)(m.ones(1, 1, 2, 2)), id="AvgPool2d-too-small"),
    _err(lambda m: m.nn.functional.max_pool1d(m.ones(1, 1, 2), 4), "Output size is too small", id="max_pool1d-too-small"),
    _err(lambda m: m.nn.functional.max_pool3d(m.ones(1, 1, 2, 2, 2), 4), id="max_pool3d-too-small"),
    _err(lambda m: m.nn.functional.avg_pool1d(m.ones(1, 1, 2), 4), id="avg_pool1d-too-small"),
    _err(lambda m: m.nn.functional.avg_pool3d(m.ones(1, 1, 2, 2, 2), 4), "avg_pool3d", "(1x2x2x2)", id="avg_pool3d-too-small"),
    _err(lambda m: m.nn.functional.max_pool2d(m.ones(1, 1, 4, 4), 2, padding=2), id="max_pool2d-padding-past-half"),
    _err(lambda m: m.nn.functional.max_pool2d(m.ones(1, 1, 4, 4), 2, stride=0), id="max_pool2d-stride-zero"),
    _err(lambda m: m.softmax(m.ones(2, 3, dtype=m.int64), 0), id="softmax-int-dim0"),
    _err(lambda m: m.softmax(m.ones(2, 3, dtype=m.int64), -1), id="softmax-int-last-dim"),
    _err(lambda m: m.nn.functional.log_softmax(m.tensor([True]), 0), id="log_softmax-bool"),
    _err(lambda m: m.nn.functional.cross_entropy(m.ones(2, 3, dtype=m.int64), m.tensor([0, 1])), id="cross_entropy-int-logits"),
    _err(lambda m: m.nn.functional.pad(m.ones(2, 2), (1,)), id="pad-odd-length"),
    _err(lambda m: m.nn.functional.pad(m.ones(2, 2), (-3, 0)), id="pad-crops-past-nothing"),
    _err(lambda m: m.sort(m.tensor([1j])), id="sort-complex"),
    _err(lambda m: m.argsort(m.tensor([1j])), id="argsort-complex"),
    _err(lambda m: m.randperm(3.5), id="randperm-float"),
    # ---- empty reductions
    _err(lambda m: m.zeros(0).argmax(), id="argmax-empty"),
    _err(lambda m: m.zeros(0).argmin(), id="argmin-empty"),
    _err(lambda m: m.zeros(0, 3).argmax(0), id="argmax-empty-dim"),
    _err(lambda m: m.zeros(0, 3).argmin(0), id="argmin-empty-dim"),
    _err(lambda m: m.zeros(0).max(), id="max-empty"),
    _err(lambda m: m.zeros(0).amax(), id="amax-empty"),
    _err(lambda m: m.zeros(0, 3).max(0), id="max-empty-dim"),
    _err(lambda m: m.zeros(0).kthvalue(1), id="kthvalue-empty"),
    _err(lambda m: m.zeros(3, 0).kthvalue(1), id="kthvalue-empty-dim1"),
    # ---- random sampling parameters
    _err(lambda m: m.empty(3).uniform_(5, 1), id="uniform_-from-above-to"),
    _err(lambda m: m.empty(3).uniform_(0, float("inf")), id="uniform_-infinite-to"),
    _err(lambda m: m.empty(3, dtype=m.float64).uniform_(float("-inf"), 0), id="uniform_-infinite-from-double"),
    _err(lambda m: m.empty(3).uniform_(float("nan"), 1), id="uniform_-nan"),
    _err(lambda m: m.empty(3, dtype=m.float16).uniform_(0, 1e6), id="uniform_-past-half"),
    _err(lambda m: m.empty(3).uniform_(-3e38, 3e38), id="uniform_-span-overflows"),
    _err(lambda m: m.empty(3, dtype=m.int32).uniform_(), id="uniform_-int"),
    _err(lambda m: m.empty(3).normal_(0, -1.5), id="normal_-negative-std"),
    _err(lambda m: m.empty(3, dtype=m.int64).normal_(), id="normal_-int"),
    _err(lambda m: m.normal(0.0, -1.5, (3,)), id="normal-negative-std"),
    _err(lambda m: m.normal(m.zeros(3), -1.0), id="normal-tensor-mean-negative-std"),
    _err(lambda m: m.normal(-1.0, m.tensor([-1.0, 1.0])), id="normal-tensor-std-negative"),
    _err(lambda m: m.empty(3).bernoulli_(1.5), id="bernoulli_-p-above-one"),
    _err(lambda m: m.empty(3).bernoulli_(-0.5), id="bernoulli_-p-below-zero"),
    _err(lambda m: m.empty(3).bernoulli_(m.tensor([1.5, 0.0, 0.0])), "Expected p_in >= 0 && p_in <= 1", id="bernoulli_-tensor-p"),
    _err(lambda m: m.bernoulli(m.tensor([1.5])), "Expected p_in >= 0 && p_in <= 1", id="bernoulli-p-above-one"),
    _err(lambda m: m.empty(3).random_(5, 1), id="random_-from-above-to"),
    _err(lambda m: m.empty(3).random_(5, 5), id="random_-from-equals-to"),
    _err(lambda m: m.empty(3).random_(0), id="random_-to-zero"),
    _err(lambda m: m.empty(3).random_(-5), id="random_-to-negative"),
    _err(lambda m: m.empty(3, dtype=m.uint8).random_(0, 1000), id="random_-past-uint8"),
    _err(lambda m: m.empty(3, dtype=m.int16).random_(0, 100000), id="random_-past-int16"),
    _err(lambda m: m.empty(3, dtype=m.int8).random_(-1000, 5), id="random_-from-past-int8"),
    _err(lambda m: m.randint(0, 1000, (3,), dtype=m.int8), id="randint-past-int8"),
    _err(lambda m: m.randint(5, 1, (3,)), id="randint-low-above-high"),
    _err(lambda m: m.randint(0, (3,)), id="randint-high-zero"),
    _err(lambda m: m.empty(3).exponential_(-1.5), id="exponential_-negative"),
    _err(lambda m: m.empty(3).exponential_(0), id="exponential_-zero"),
    _err(lambda m: m.empty(3).geometric_(1.5), id="geometric_-p-above-one"),
    _err(lambda m: m.empty(3).geometric_(0), id="geometric_-p-zero"),
    _err(lambda m: m.empty(3).log_normal_(0, -1), id="log_normal_-negative-std"),
    _err(lambda m: m.empty(3).cauchy_(0, 0), id="cauchy_-zero-sigma"),
    _err(lambda m: m.multinomial(m.tensor([0.5, -0.1]), 1), id="multinomial-negative"),
    _err(lambda m: m.multinomial(m.tensor([0.0, 0.0]), 1), id="multinomial-zero-sum"),
    _err(lambda m: m.multinomial(m.tensor([float("nan"), 1.0]), 1), id="multinomial-nan"),
    _err(lambda m: m.multinomial(m.tensor([0.5, 0.5]), 3), id="multinomial-too-many"),
    _err(lambda m: m.multinomial(m.ones(2, 0), 1), id="multinomial-no-categories"),
    _err(lambda m: m.multinomial(m.ones(0), 1, True), id="multinomial-no-categories-replacement"),
    _err(lambda m: m.poisson(m.tensor([-1.0])), id="poisson-negative-rate"),
    _err(lambda m: m.randn(2**40, 2**20), "can't allocate memory", id="randn-huge"),
    # ---- allocations
    _err(lambda m: m.empty(2**40, 2**20), "can't allocate memory", "4611686018427387904 bytes", id="empty-huge"),
    _err(lambda m: m.zeros(2**40, 2**20), "can't allocate memory", id="zeros-huge"),
    _err(lambda m: m.full((2**40, 2**20), 1.0), "can't allocate memory", id="full-huge"),
    _err(lambda m: m.empty(2**62, 2**62), id="empty-numel-overflow"),
    _err(lambda m: m.ones(1).expand(2**40, 2**20).contiguous(), "can't allocate memory", id="contiguous-huge"),
    _err(lambda m: m.ones(1, 1).repeat(2**40, 2**20), "can't allocate memory", id="repeat-huge"),
    _err(lambda m: m.empty(2**63), "Overflow when unpacking long long", id="empty-size-past-int64"),
    _err(lambda m: m.zeros(-1), id="zeros-negative"),
    _err(lambda m: m.empty(3, -2), id="empty-negative"),
    _err(lambda m: m.rand(2, -1), id="rand-negative"),
    _err(lambda m: m.nn.Linear(-1, 4), id="Linear-negative-in"),
    _err(lambda m: m.nn.Linear(4, -1), id="Linear-negative-out"),
    _err(lambda m: m.ones(6).reshape(4, 2), id="reshape-invalid"),
    _err(lambda m: m.ones(6).view(-3, 2), id="view-negative"),
]


SAME = [
    pytest.param(lambda m: m.tensor([-1, -255], dtype=m.uint8), id="tensor-uint8-wraps-down-to--255"),
    pytest.param(lambda m: m.tensor([127, -128, 1.9], dtype=m.int8), id="tensor-int8-edges"),
    pytest.param(lambda m: m.tensor([1e6], dtype=m.float16), id="tensor-float16-overflows-to-inf"),
    pytest.param(lambda m: m.full((2,), -1, dtype=m.uint8), id="full-uint8--1"),
    pytest.param(lambda m: m.zeros(2, dtype=m.uint8).clamp(min=-1), id="clamp-uint8--1-wraps"),
    pytest.param(lambda m: m.where(m.tensor([True, False]), m.zeros(2, dtype=m.uint8), -1), id="where-uint8--1-wraps"),
    pytest.param(lambda m: m.zeros(2, dtype=m.float16).fill_(float("inf")), id="fill_-float16-inf"),
    pytest.param(lambda m: m.where(m.tensor([True, False]), 1e6, m.zeros(2, dtype=m.float16)), id="where-float16-inf"),
    pytest.param(lambda m: m.scalar_tensor(1e6, dtype=m.float16), id="scalar_tensor-float16-inf"),
    pytest.param(lambda m: m.zeros(2, dtype=m.int64).fill_(2**63 - 1), id="fill_-int64-max"),
    pytest.param(lambda m: m.zeros(2, dtype=m.uint8).fill_(-1), id="fill_-uint8--1"),
    pytest.param(lambda m: m.zeros(2, dtype=m.int8).add_(300), id="add_-int8-wraps"),
    pytest.param(lambda m: m.zeros(2, dtype=m.int8) + 300, id="add-int8-wraps"),
    pytest.param(lambda m: m.zeros(2, dtype=m.uint8) - 1, id="sub-uint8-wraps"),
    pytest.param(lambda m: m.zeros(3).index_fill(0, m.tensor([-1]), 1.0), id="index_fill-negative-wraps"),
    pytest.param(lambda m: m.zeros(3).index_put((m.tensor([-1]),), m.ones(1)), id="index_put-negative-wraps"),
    pytest.param(lambda m: m.take(m.arange(3.0), m.tensor([-1])), id="take-negative-wraps"),
    pytest.param(lambda m: m.zeros(3).put(m.tensor([-1]), m.ones(1)), id="put-negative-wraps"),
    pytest.param(lambda m: m.take_along_dim(m.arange(5.0), m.tensor([-1, -2, -5]), 0), id="take_along_dim-dim-negative-wraps"),
    pytest.param(lambda m: m.take_along_dim(m.arange(10.0).reshape(2, 5), m.tensor([[-1], [-2]]), 1), id="take_along_dim-2d-negative"),
    pytest.param(lambda m: m.arange(3.0)[m.tensor([-1])], id="getitem-negative-wraps"),
    pytest.param(lambda m: m.softmax(m.ones(2, 3, dtype=m.int64), 0, dtype=m.float32), id="softmax-int-with-dtype"),
    pytest.param(lambda m: m.nn.functional.pad(m.ones(2, 2), (-2, 0)), id="pad-crops-to-empty"),
    pytest.param(lambda m: m.nn.functional.adaptive_avg_pool2d(m.ones(1, 1, 4, 4), 0), id="adaptive_avg_pool2d-to-zero"),
    pytest.param(lambda m: m.nn.functional.adaptive_avg_pool2d(m.ones(1, 1, 4, 4), (0, 2)), id="adaptive_avg_pool2d-to-zero-rows"),
    pytest.param(lambda m: m.nn.functional.adaptive_max_pool1d(m.ones(1, 2, 4), 0), id="adaptive_max_pool1d-to-zero"),
    pytest.param(lambda m: m.randperm(m.tensor(3)).sort().values, id="randperm-0d-tensor"),
]


def _check_error(fn, fragments) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as theirs:  # noqa: B017, PT011 - the type is what gets compared
            fn(torch)
    with pytest.raises(Exception) as ours:  # noqa: B017, PT011
        fn(backprop)
    expected, got = type(theirs.value), type(ours.value)
    assert issubclass(got, expected), f"backprop raised {got.__name__}, torch {expected.__name__}: {ours.value}"
    message = str(ours.value)
    for fragment in fragments or (_torch_message(theirs.value),):
        assert fragment in message, f"{fragment!r} not in backprop's message {message!r}"


@pytest.mark.parametrize("fn,fragments", ERRORS)
def test_error_matches_torch(fn, fragments):
    _check_error(fn, fragments)


def _as_python(r):
    if isinstance(r, (tuple, list)):
        return [_as_python(x) for x in r]
    if hasattr(r, "tolist"):
        return (tuple(r.shape), str(r.dtype).split(".")[-1], r.tolist())
    return r


def _same_values(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_values(x, y) for x, y in zip(a, b))
    return a == b


def _float_div_backward(m):
    x = m.tensor([1.0, 0.0, -1.0], requires_grad=True)
    (x / 0).sum().backward()
    return x.grad


SAME += [
    # float division by zero and math outside the domain: inf/nan, and no warning (torch gives none)
    pytest.param(lambda m: m.tensor([1.0, 0.0, -1.0]) / 0, id="float-div-zero"),
    pytest.param(lambda m: m.tensor([1.0, 0.0, -1.0]) // 0, id="float-floordiv-zero"),
    pytest.param(lambda m: m.tensor([1.0, 0.0, -1.0]) % 0, id="float-mod-zero"),
    pytest.param(lambda m: m.fmod(m.tensor([1.0, 0.0]), 0), id="float-fmod-zero"),
    pytest.param(lambda m: m.div(m.tensor([1.0, 0.0, -1.0]), 0, rounding_mode="trunc"), id="float-div-trunc-zero"),
    pytest.param(lambda m: m.div(m.tensor([5]), m.tensor([0])), id="int-true-div-zero-is-inf"),
    pytest.param(lambda m: m.log(m.tensor([0.0, -1.0])), id="log-zero-negative"),
    pytest.param(lambda m: m.sqrt(m.tensor([-1.0])), id="sqrt-negative"),
    pytest.param(lambda m: m.exp(m.tensor([1000.0])), id="exp-overflow"),
    pytest.param(_float_div_backward, id="float-div-zero-backward"),
    pytest.param(lambda m: m.tensor([1e38]) * 10, id="mul-overflow"),
    pytest.param(lambda m: m.tensor([60000.0], dtype=m.float16) + 60000.0, id="float16-add-overflow"),
    pytest.param(lambda m: m.tensor([3e38, 3e38]).sum(), id="sum-overflow"),
    pytest.param(lambda m: m.tensor([1e38, 1e38]).cumprod(0), id="cumprod-overflow"),
    pytest.param(lambda m: m.tensor([1e6]).half(), id="cast-to-float16-overflow"),
    pytest.param(lambda m: m.softmax(m.tensor([float("-inf"), float("-inf")]), 0), id="softmax-all-minus-inf"),
    pytest.param(lambda m: m.acos(m.tensor([2.0])), id="acos-outside-domain"),
    pytest.param(lambda m: m.sin(m.tensor([float("inf")])), id="sin-inf"),
    pytest.param(lambda m: m.lerp(m.tensor([float("inf")]), m.tensor([float("inf")]), 0.5), id="lerp-inf"),
    pytest.param(lambda m: (lambda x: (m.log(x).sum().backward(), x.grad)[1])(m.tensor([0.0], requires_grad=True)), id="log-backward-zero"),
    pytest.param(lambda m: (lambda x: (x.norm().backward(), x.grad)[1])(m.zeros(3, requires_grad=True)), id="norm-backward-zero"),
]


@pytest.mark.parametrize("fn", SAME)
def test_same_result_as_torch(fn):
    with warnings.catch_warnings(record=True) as caught:  # the filters in force, recorded
        ours = _as_python(fn(backprop))
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _as_python(fn(torch))
    assert _same_values(ours, theirs), f"backprop {ours} != torch {theirs}"


@pytest.mark.parametrize("op", ["var", "std"])
def test_no_degrees_of_freedom_warns_as_torch(op):
    for m in (torch, backprop):
        with pytest.warns(UserWarning, match=rf"{op}\(\): degrees of freedom is <= 0"):
            value = getattr(m.ones(3, 1), op)(1)
        assert all(math.isnan(v) for v in value.tolist())


def test_out_of_memory_error_types():
    assert issubclass(backprop.OutOfMemoryError, RuntimeError)
    assert issubclass(backprop.OutOfMemoryError, MemoryError)  # code catching MemoryError keeps working
    assert backprop.cuda.OutOfMemoryError is backprop.OutOfMemoryError
    x = backprop.ones(1, requires_grad=True)
    with pytest.raises(backprop.OutOfMemoryError, match="can't allocate memory"):  # a backward pass's allocation too
        x.expand(2**40, 2**20)[0, 0].backward()
    assert torch.cuda.OutOfMemoryError is torch.OutOfMemoryError and issubclass(torch.OutOfMemoryError, RuntimeError)


def test_index_checks_cost_little():
    """The one min/max over the index: gather and embedding of a 32x128 batch into 50k rows."""
    x = backprop.randn(50_000, 64)
    idx = backprop.randint(0, 50_000, (32, 128))
    flat = idx.reshape(-1)
    gathered = backprop.gather(x, 0, flat[:, None].expand(-1, 64))
    assert gathered.shape == (4096, 64)
    emb = backprop.nn.functional.embedding(idx, x)
    assert emb.shape == (32, 128, 64)
    check = min(timeit.repeat(lambda: flat._data.min() >= 0 and flat._data.max() < 50_000, number=50, repeat=3))
    gather = min(timeit.repeat(lambda: backprop.nn.functional.embedding(idx, x), number=50, repeat=3))
    assert check < 0.25 * gather, (check, gather)


# ---- on each device (cpu, fake-cuda): the checks that need no read of device values
DEVICE_ERRORS = [
    pytest.param(lambda m, d: m.full((2,), 300, dtype=m.int8, device=d), id="full-int8"),
    pytest.param(lambda m, d: m.zeros(2, dtype=m.int8, device=d).fill_(300), id="fill_-int8"),
    pytest.param(lambda m, d: m.zeros(2, dtype=m.int8, device=d).masked_fill(m.tensor([True, False], device=d), 300), id="masked_fill-int8"),
    pytest.param(lambda m, d: m.where(m.tensor([True, False], device=d), m.zeros(2, dtype=m.int8, device=d), 300), id="where-int8"),
    pytest.param(lambda m, d: m.zeros(2, dtype=m.int8, device=d).clamp(max=300), id="clamp-int8"),
    pytest.param(lambda m, d: m.tensor([300], dtype=m.int8, device=d), id="tensor-int8"),
    pytest.param(lambda m, d: m.nn.functional.batch_norm(m.ones(2, 4, device=d), m.zeros(3, device=d), m.ones(3, device=d)), id="batch_norm-channels"),
    pytest.param(lambda m, d: m.zeros(0, 3, device=d).argmax(0), id="argmax-empty-dim"),
    pytest.param(lambda m, d: m.empty(3, device=d).uniform_(5, 1), id="uniform_-bounds"),
    pytest.param(lambda m, d: m.empty(3, device=d).normal_(0, -1.0), id="normal_-std"),
    pytest.param(lambda m, d: m.randint(0, 1000, (3,), dtype=m.uint8, device=d), id="randint-past-uint8"),
]


@pytest.mark.parametrize("fn", DEVICE_ERRORS)
def test_error_on_device(fn, device):
    _check_error(lambda m: fn(m, "cpu" if m is torch else device), None)


def test_integer_add_wraps_on_device(device):
    x = backprop.zeros(2, dtype=backprop.int8, device=device)
    x.add_(300)
    assert x.tolist() == torch.zeros(2, dtype=torch.int8).add_(300).tolist()
    assert (backprop.zeros(2, dtype=backprop.uint8, device=device) - 1).tolist() == [255, 255]
