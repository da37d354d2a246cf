"""``backprop.testing`` against ``torch.testing``: the same comparisons pass or fail alike, with
the same exception types and messages (module names aside)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import backprop as bp

NAN = float("nan")

# Each case builds its arguments with the framework module ``m``.
CASES = {
    "close_floats": lambda m: (m.tensor([1.0, 2.0, 3.0]), m.tensor([1.0, 2.0 + 1e-6, 3.0])),
    "mismatch": lambda m: (m.tensor([1.0, 2.0, 3.0]), m.tensor([1.0, 2.5, 3.0])),
    "mismatch_2d": lambda m: (m.tensor([[1.0, 2.0], [3.0, 4.0]]), m.tensor([[1.0, 2.0], [3.0, 5.0]])),
    "shape": lambda m: (m.tensor([1.0, 2.0]), m.tensor([1.0, 2.0, 3.0])),
    "dtype": lambda m: (m.tensor([1.0, 2.0]), m.tensor([1.0, 2.0], dtype=m.float64)),
    "float64_tolerance": lambda m: (m.tensor([1.0], dtype=m.float64), m.tensor([1.0 + 1e-6], dtype=m.float64)),
    "ints_not_equal": lambda m: (m.tensor([1, 2]), m.tensor([1, 3])),
    "bools": lambda m: (m.tensor([True]), m.tensor([False])),
    "nan": lambda m: (m.tensor([NAN]), m.tensor([NAN])),
    "inf_same_sign": lambda m: (m.tensor([math.inf, -math.inf]), m.tensor([math.inf, -math.inf])),
    "zero_dim": lambda m: (m.tensor(1.0), m.tensor(2.0)),
    "python_floats": lambda m: (1.0, 1.0001),
    "python_ints": lambda m: (1, 2),
    "list_of_tensors": lambda m: ([m.tensor(1.0)], [m.tensor(2.0)]),
    "dict": lambda m: ({"a": m.tensor([1, 2])}, {"a": m.tensor([1, 3])}),
    "nested_ok": lambda m: ({"a": [m.tensor([1.0]), 2]}, {"a": [m.tensor([1.0]), 2]}),
    "sequence_length": lambda m: ([1, 2], [1, 2, 3]),
    "tensor_vs_float": lambda m: (m.tensor(1.0), 1.0),
}


def _outcome(m, case, **kwargs):
    try:
        m.testing.assert_close(*CASES[case](m), **kwargs)
    except Exception as exc:  # noqa: BLE001 - the outcome under test
        text = str(exc).replace("torch.Size", "backprop.Size").replace("torch.", "backprop.")
        text = text.replace("<class 'torch.Tensor'>", "<class 'backprop._tensor.Tensor'>")
        return type(exc), text.replace("<class 'backprop.Tensor'>", "<class 'backprop._tensor.Tensor'>")
    return None, ""


@pytest.mark.parametrize("case", sorted(CASES))
def test_outcome_and_message_match_torch(case):
    assert _outcome(bp, case) == _outcome(torch, case)


@pytest.mark.parametrize(
    "kwargs",
    [{"check_dtype": False}, {"rtol": 0.5, "atol": 0.0}, {"equal_nan": True}, {"msg": "custom"}, {"rtol": 1e-3}],
    ids=["no_dtype_check", "loose", "equal_nan", "msg", "rtol_only"],
)
@pytest.mark.parametrize("case", ["mismatch", "dtype", "nan"])
def test_options_match_torch(case, kwargs):
    assert _outcome(bp, case, **kwargs) == _outcome(torch, case, **kwargs)


def test_callable_msg_wraps_the_generated_message():
    with pytest.raises(AssertionError, match=r"^wrapped: Tensor-likes are not close!"):
        bp.testing.assert_close(bp.tensor([1.0]), bp.tensor([2.0]), msg=lambda text: "wrapped: " + text)


def test_numpy_arrays_compare_like_tensors():
    bp.testing.assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]))
    with pytest.raises(AssertionError, match="Mismatched elements: 1 / 2"):
        bp.testing.assert_close(np.array([1.0, 2.0]), np.array([1.0, 3.0]))


def test_make_tensor_ranges_dtypes_and_layout():
    bp.manual_seed(0)
    f = bp.testing.make_tensor(100, 7, dtype=bp.float32, low=-2, high=3)
    assert f.shape == (100, 7) and f.dtype == bp.float32
    assert -2 <= f.min().item() and f.max().item() < 3
    i = bp.testing.make_tensor((50,), dtype=bp.int64, low=0, high=4, exclude_zero=True)
    assert i.dtype == bp.int64 and set(i.tolist()) <= {1, 2, 3}
    nc = bp.testing.make_tensor(3, 4, dtype=bp.float64, noncontiguous=True, requires_grad=True)
    assert nc.shape == (3, 4) and not nc.is_contiguous() and nc.requires_grad
    assert bp.testing.make_tensor(5, dtype=bp.bool).dtype == bp.bool
    with pytest.raises(ValueError, match="must be less than or equal to `high`"):
        bp.testing.make_tensor(2, dtype=bp.float32, low=1, high=0)


# ---------------------------------------------------------------------------- devices
@pytest.mark.parametrize("case", sorted(CASES))
def test_outcome_and_message_on_device_match_torch(case, device):
    with bp.device(device):  # the case's tensors on ``device`` (torch's on the CPU): the same outcome
        ours = _outcome(bp, case)
    assert ours == _outcome(torch, case)


def _on_two_devices(m, device, other):
    return {"a": [m.tensor([1.0, 2.0], device=device)]}, {"a": [m.tensor([1.0, 2.0], device=other)]}


def test_tensors_on_different_devices_fail_like_torch(device):
    x = bp.tensor([1.0, 2.0], device=device)
    if device == "cpu":
        bp.testing.assert_close(x, bp.tensor([1.0, 2.0]))
        return
    # torch's message for a CPU/meta pair, the meta device named as ours is
    for ours, theirs in [((x, x.cpu()), (torch.ones(2, device="meta"), torch.ones(2))), ((x.cpu(), x), (torch.ones(2), torch.ones(2, device="meta")))]:
        with pytest.raises(AssertionError) as info:
            bp.testing.assert_close(*ours)
        with pytest.raises(AssertionError) as expected:
            torch.testing.assert_close(*theirs)
        assert str(info.value) == str(expected.value).replace("meta", "cuda:0")
        assert "cuda:0" in str(info.value) and "cpu" in str(info.value)
    with pytest.raises(AssertionError, match=r"'device' do not match: cuda:0 != cpu\.\n\nThe failure occurred for item \['a'\]\[0\]"):
        bp.testing.assert_close(*_on_two_devices(bp, device, "cpu"))
    with pytest.raises(AssertionError, match="'device' do not match: cuda:0 != cpu"):  # arrays too
        bp.testing.assert_close(x.detach()._data, np.array([1.0, 2.0], dtype=np.float32))
    # the shape is checked first, the dtype after the device (torch's order)
    with pytest.raises(AssertionError, match="'shape' do not match"):
        bp.testing.assert_close(x, bp.ones(3))
    with pytest.raises(AssertionError, match="'device' do not match"):
        bp.testing.assert_close(x, bp.ones(2, dtype=bp.float64))


def test_check_device_false_compares_values_on_the_host(device):
    x = bp.tensor([1.0, 2.0, 3.0], device=device)
    bp.testing.assert_close(x, bp.tensor([1.0, 2.0, 3.0]), check_device=False)
    bp.testing.assert_close(x.detach()._data, np.array([1.0, 2.0, 3.0], dtype=np.float32), check_device=False)
    with pytest.raises(AssertionError) as info:
        bp.testing.assert_close(x, bp.tensor([1.0, 2.5, 3.0]), check_device=False)
    assert (AssertionError, str(info.value)) == _outcome(torch, "mismatch")
    with pytest.raises(AssertionError, match="'dtype' do not match"):
        bp.testing.assert_close(x, bp.tensor([1.0, 2.0, 3.0], dtype=bp.float64), check_device=False)


def test_make_tensor_on_device(device):
    bp.manual_seed(0)
    t = bp.testing.make_tensor(3, 4, dtype=bp.float32, device=device, noncontiguous=True, requires_grad=True)
    assert t.device.type == device and t.shape == (3, 4) and not t.is_contiguous() and t.requires_grad
    bp.manual_seed(0)
    on_cpu = bp.testing.make_tensor(3, 4, dtype=bp.float32, noncontiguous=True)
    assert on_cpu.device.type == "cpu"
    bp.testing.assert_close(t.detach().cpu(), on_cpu)  # the same values on every device
    with bp.device(device):
        assert bp.testing.make_tensor(2, dtype=bp.int64).device.type == device  # the default device
