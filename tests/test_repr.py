"""``repr(tensor)`` is torch 2.13's repr with ``torch.`` replaced by ``backprop.``: number formatting
(integer-valued floats, fixed and scientific notation, nan/inf), widths, multi-dim layout, line
wrapping, summarization of large tensors, the dtype / requires_grad / grad_fn suffixes and empty tensors.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

import backprop


def assert_repr_matches(fn) -> None:
    expected = repr(fn(torch)).replace("torch.", "backprop.")
    got = repr(fn(backprop))
    assert got == expected, f"\nbackprop:\n{got}\ntorch:\n{expected}"


nan, inf = math.nan, math.inf

CASES = [
    # float formatting
    pytest.param(lambda m: m.tensor([1.0, 2.0]), id="integer-valued"),
    pytest.param(lambda m: m.tensor([1.5, -2.25, 3.0]), id="decimals"),
    pytest.param(lambda m: m.tensor([0.1, 0.123456789]), id="rounds-to-4"),
    pytest.param(lambda m: m.tensor([1e-5, 1.0]), id="small-sci"),
    pytest.param(lambda m: m.tensor([1e9, 1.0]), id="large-sci"),
    pytest.param(lambda m: m.tensor([1e-5, 1e9]), id="mixed-sci"),
    pytest.param(lambda m: m.tensor([1.0, 2000.0]), id="int-valued-ratio-over-1000"),
    pytest.param(lambda m: m.tensor([1.0, 1e9]), id="int-valued-large"),
    pytest.param(lambda m: m.tensor([0.5, 2000.0]), id="ratio-over-1000"),
    pytest.param(lambda m: m.tensor([123456.789, 1.5]), id="big-fixed"),
    pytest.param(lambda m: m.tensor([0.0001, 1.0]), id="boundary-1e-4"),
    pytest.param(lambda m: m.tensor([0.00001, 0.00002]), id="all-tiny"),
    pytest.param(lambda m: m.tensor([-1e-5, 3.0]), id="negative-tiny"),
    pytest.param(lambda m: m.tensor([1.23456789e10]), id="single-large"),
    pytest.param(lambda m: m.tensor([nan, 1.0]), id="nan-int-valued"),
    pytest.param(lambda m: m.tensor([nan, 1.5]), id="nan-decimal"),
    pytest.param(lambda m: m.tensor([nan, 1e-6]), id="nan-sci"),
    pytest.param(lambda m: m.tensor([inf, -inf, 1.0]), id="inf"),
    pytest.param(lambda m: m.tensor([nan, inf]), id="only-nonfinite"),
    pytest.param(lambda m: m.tensor([0.0, 0.0]), id="zeros"),
    pytest.param(lambda m: m.tensor([0.0, -0.0]), id="negative-zero"),
    pytest.param(lambda m: m.tensor([0.0, 100.0]), id="zero-and-int"),
    pytest.param(lambda m: m.tensor([-1.0, 10.0, -100.0]), id="widths-with-sign"),
    # other dtypes
    pytest.param(lambda m: m.tensor([1, -20, 300]), id="int64"),
    pytest.param(lambda m: m.tensor([1, 2], dtype=m.int32), id="int32"),
    pytest.param(lambda m: m.tensor([1, 2], dtype=m.int16), id="int16"),
    pytest.param(lambda m: m.tensor([1, -2], dtype=m.int8), id="int8"),
    pytest.param(lambda m: m.tensor([1, 255], dtype=m.uint8), id="uint8"),
    pytest.param(lambda m: m.tensor([True, False]), id="bool"),
    pytest.param(lambda m: m.tensor([True, True]), id="bool-all-true"),
    pytest.param(lambda m: m.tensor([[True, False], [False, True]]), id="bool-2d"),
    pytest.param(lambda m: m.tensor([1.0, 2.0], dtype=m.float64), id="float64-int-valued"),
    pytest.param(lambda m: m.tensor([1.5, 2.0], dtype=m.float64), id="float64"),
    pytest.param(lambda m: m.tensor([1e100], dtype=m.float64), id="float64-huge"),
    pytest.param(lambda m: m.tensor([1e-100, 1.0], dtype=m.float64), id="float64-tiny"),
    pytest.param(lambda m: m.tensor([1.5, 2.0], dtype=m.float16), id="float16"),
    # 0-d
    pytest.param(lambda m: m.tensor(3.5), id="0d-float"),
    pytest.param(lambda m: m.tensor(3.0), id="0d-int-valued"),
    pytest.param(lambda m: m.tensor(0.0), id="0d-zero"),
    pytest.param(lambda m: m.tensor(-0.0), id="0d-negative-zero"),
    pytest.param(lambda m: m.tensor(1e-7), id="0d-sci"),
    pytest.param(lambda m: m.tensor(1e10), id="0d-large"),
    pytest.param(lambda m: m.tensor(nan), id="0d-nan"),
    pytest.param(lambda m: m.tensor(inf), id="0d-inf"),
    pytest.param(lambda m: m.tensor(7), id="0d-int"),
    pytest.param(lambda m: m.tensor(True), id="0d-bool"),
    pytest.param(lambda m: m.tensor(2.5, dtype=m.float64), id="0d-float64"),
    pytest.param(lambda m: m.tensor(3, dtype=m.int32), id="0d-int32"),
    # layout
    pytest.param(lambda m: m.tensor([[1.0, 2.0], [3.0, 4.0]]), id="2d"),
    pytest.param(lambda m: m.tensor([[1.5, 2.0], [3.0, -4.0]]), id="2d-decimal"),
    pytest.param(lambda m: m.tensor([[1, 2], [-30, 4]]), id="2d-int"),
    pytest.param(lambda m: m.arange(24.0).reshape(2, 3, 4), id="3d"),
    pytest.param(lambda m: m.arange(24).reshape(2, 3, 4), id="3d-int"),
    pytest.param(lambda m: m.arange(16).reshape(2, 2, 2, 2), id="4d"),
    pytest.param(lambda m: m.arange(12.0).reshape(3, 4).T, id="transposed"),
    pytest.param(lambda m: m.arange(6.0).reshape(1, 6, 1), id="size-one-dims"),
    # wrapping
    pytest.param(lambda m: m.arange(30.0) / 7, id="long-1d-wraps"),
    pytest.param(lambda m: m.arange(100), id="long-int-wraps"),
    pytest.param(lambda m: m.arange(100.0), id="long-float-wraps"),
    pytest.param(lambda m: m.arange(30.0).reshape(3, 10) * 1000.5, id="2d-rows-wrap"),
    pytest.param(lambda m: m.arange(17.0, dtype=m.float64) * 1.5, id="wrap-with-dtype-suffix"),
    pytest.param(lambda m: m.tensor([1, 2], dtype=m.int32).repeat(40), id="wrap-int32"),
    # summarization
    pytest.param(lambda m: m.arange(2000.0), id="summarized-1d-sci"),
    pytest.param(lambda m: m.arange(2000), id="summarized-1d-int"),
    pytest.param(lambda m: m.arange(1001.0) / 3, id="summarized-just-over"),
    pytest.param(lambda m: m.arange(1000.0) / 3, id="not-summarized-at-1000"),
    pytest.param(lambda m: m.arange(2000.0).reshape(40, 50), id="summarized-2d"),
    pytest.param(lambda m: m.arange(2000.0).reshape(10, 10, 20), id="summarized-3d"),
    pytest.param(lambda m: m.arange(3000).reshape(3, 1000), id="summarized-wide"),
    pytest.param(lambda m: m.arange(3000).reshape(1000, 3), id="summarized-tall"),
    pytest.param(lambda m: m.ones(1500, dtype=m.bool), id="summarized-bool"),
    # suffixes
    pytest.param(lambda m: m.tensor([1.0, 2.0], requires_grad=True), id="requires-grad"),
    pytest.param(lambda m: m.zeros(3, 3, requires_grad=True), id="requires-grad-2d"),
    pytest.param(lambda m: m.tensor([1.0, 2.0], requires_grad=True) + 1, id="AddBackward0"),
    pytest.param(lambda m: m.tensor([1.0, 2.0], requires_grad=True) * 2, id="MulBackward0"),
    pytest.param(lambda m: m.tensor([1.0, 2.0], requires_grad=True).sum(), id="SumBackward0"),
    pytest.param(lambda m: m.tensor([1.0, 2.0], requires_grad=True).mean(), id="MeanBackward0"),
    pytest.param(lambda m: m.tensor([1.0, 2.0], requires_grad=True) - 1, id="SubBackward0"),
    pytest.param(lambda m: m.tensor([1.0, 2.0], requires_grad=True) / 2, id="DivBackward0"),
    pytest.param(lambda m: m.tensor([1.0, 2.0], requires_grad=True).exp(), id="ExpBackward0"),
    pytest.param(lambda m: m.tensor([1.0, 2.0], dtype=m.float64, requires_grad=True) * 2, id="grad_fn-with-dtype"),
    pytest.param(lambda m: m.ones(20, 20, requires_grad=True) * 3.25, id="grad_fn-after-wrapped-rows"),
    pytest.param(lambda m: m.arange(10.0).reshape(2, 5).double().requires_grad_() * 1.5, id="suffixes-wrap"),
    pytest.param(lambda m: m.arange(13.0, dtype=m.float64).requires_grad_() / 3, id="suffix-on-new-line"),
    pytest.param(lambda m: m.tensor([1.0], requires_grad=True).detach(), id="detached"),
    # empty
    pytest.param(lambda m: m.tensor([]), id="empty"),
    pytest.param(lambda m: m.tensor([], dtype=m.int64), id="empty-int64"),
    pytest.param(lambda m: m.tensor([], dtype=m.bool), id="empty-bool"),
    pytest.param(lambda m: m.tensor([], dtype=m.float64), id="empty-float64"),
    pytest.param(lambda m: m.zeros(0, 3), id="empty-0x3"),
    pytest.param(lambda m: m.zeros(0, 3, dtype=m.int32), id="empty-0x3-int32"),
    pytest.param(lambda m: m.zeros(2, 0), id="empty-2x0"),
    pytest.param(lambda m: m.zeros(0, requires_grad=True), id="empty-requires-grad"),
]


@pytest.mark.parametrize("fn", CASES)
def test_repr_matches_torch(fn):
    assert_repr_matches(fn)


@pytest.mark.parametrize("seed", range(5))
def test_repr_of_random_values_matches_torch(seed):
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.integers(-6, 10)
    data = (rng.standard_normal((3, 5)) * scale).astype(np.float32)
    data[rng.random((3, 5)) < 0.2] = 0.0
    assert_repr_matches(lambda m: m.tensor(data))


def test_repr_follows_the_default_dtype():
    def fn(m):
        m.set_default_dtype(m.float64)
        try:
            return repr(m.tensor([1.5, 2.0])), repr(m.tensor([1.5], dtype=m.float32)), repr(m.tensor([]))
        finally:
            m.set_default_dtype(m.float32)

    ours, theirs = fn(backprop), fn(torch)
    assert ours == tuple(r.replace("torch.", "backprop.") for r in theirs)


def test_set_printoptions_precision_and_sci_mode():
    def fn(m, **opts):
        m.set_printoptions(**opts)
        try:
            return repr(m.tensor([1.123456789, 20.5]))
        finally:
            m.set_printoptions(profile="default")

    for opts in ({"precision": 2}, {"precision": 6}, {"sci_mode": True}, {"sci_mode": False}):
        assert fn(backprop, **opts) == fn(torch, **opts)
    assert repr(backprop.tensor([1.5])) == "tensor([1.5000])"


def test_str_equals_repr():
    t = backprop.tensor([[1.5, 2.0]])
    assert str(t) == repr(t) == "tensor([[1.5000, 2.0000]])"


# ---------------------------------------------------------------------------- devices
_SUFFIX = re.compile(r",\s*(?=[a-z_]+=)")  # the body holds no "name=": the first match starts the suffixes


def torch_repr_on(device: str, t) -> str:
    """torch's repr of CPU tensor ``t`` (``torch.`` names made ``backprop.``) as torch prints the
    same tensor on ``device``: on cuda:0 ``device='cuda:0'`` is the first suffix, and torch's own
    ``_add_suffixes`` wraps the line (with backprop's longer names, as backprop's repr does)."""
    text = repr(t)
    if device == "cpu":
        return text.replace("torch.", "backprop.")
    prefix = "tensor("
    head = "Parameter containing:\n" if text.startswith("Parameter containing:\n") else ""
    text = text[len(head) :]
    match = _SUFFIX.search(text)
    body = text[len(prefix) : match.start() if match else -1]
    suffixes = _SUFFIX.split(text[match.end() : -1].replace("torch.", "backprop.")) if match else []
    return head + torch._tensor_str._add_suffixes(prefix + body, ["device='cuda:0'"] + suffixes, len(prefix), False)


def test_torch_repr_on_cuda_helper_follows_torch_format():
    assert torch_repr_on("cuda", torch.tensor([1.0, 2.0])) == "tensor([1., 2.], device='cuda:0')"
    assert torch_repr_on("cuda", torch.tensor([1.0, 2.0], requires_grad=True) * 2) == (
        "tensor([2., 4.], device='cuda:0', grad_fn=<MulBackward0>)"
    )
    assert torch_repr_on("cuda", torch.zeros(0, 3, dtype=torch.int32)) == (
        "tensor([], device='cuda:0', size=(0, 3), dtype=backprop.int32)"
    )
    assert torch_repr_on("cuda", torch.nn.Parameter(torch.ones(1))) == (
        "Parameter containing:\ntensor([1.], device='cuda:0', requires_grad=True)"
    )


@pytest.mark.parametrize("fn", CASES)
def test_repr_on_device_matches_torch(fn, device):
    with backprop.device(device):
        t = fn(backprop)
    assert t.device.type == device
    expected, got = torch_repr_on(device, fn(torch)), repr(t)
    assert got == expected, f"\nbackprop:\n{got}\ntorch:\n{expected}"


@pytest.mark.parametrize("seed", range(3))
def test_repr_of_random_values_on_device_matches_torch(seed, device):
    rng = np.random.default_rng(seed)
    data = (rng.standard_normal((40, 50)) * 10.0 ** rng.integers(-6, 10)).astype(np.float32)  # summarized
    assert repr(backprop.tensor(data, device=device)) == torch_repr_on(device, torch.tensor(data))
    assert str(backprop.tensor(data[:2, :3], device=device)) == torch_repr_on(device, torch.tensor(data[:2, :3]))


def test_parameter_repr_on_device(device):
    p = backprop.nn.Parameter(backprop.tensor([1.5, 2.0], device=device))
    assert repr(p) == torch_repr_on(device, torch.nn.Parameter(torch.tensor([1.5, 2.0])))
