"""Memory sharing with NumPy (from_numpy, .numpy(), __array__) and DLPack exchange with NumPy and torch; on a real
GPU, with CuPy and torch's CUDA tensors (DLPack and ``__cuda_array_interface__``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import backprop
import fake_cuda
from backprop.utils.dlpack import capsule_device, from_dlpack, to_dlpack


# ---------------------------------------------------------------------------- NumPy
def test_from_numpy_shares_memory_both_ways():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = backprop.from_numpy(a)
    a[0, 0] = 10
    assert t[0, 0].item() == 10
    t.add_(1)
    assert a[1, 2] == 6
    assert np.shares_memory(t.numpy(), a)


def test_numpy_method_shares_memory():
    t = backprop.zeros(3)
    arr = t.numpy()
    arr[1] = 5
    assert t.tolist() == [0.0, 5.0, 0.0]
    t[2] = 7
    assert arr[2] == 7


def test_numpy_refuses_tensors_that_require_grad():
    t = backprop.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        t.numpy()
    assert np.shares_memory(t.detach().numpy(), t.numpy(force=True))


def test_array_protocol():
    t = backprop.arange(4, dtype=backprop.float64)
    view = np.asarray(t)
    assert np.shares_memory(view, t.numpy())
    copy = np.array(t)
    copy[0] = 99
    assert t[0].item() == 0
    assert np.asarray(t, dtype=np.int32).dtype == np.int32
    assert (np.sin(t.numpy()) == np.sin(np.asarray(t))).all()


@pytest.mark.parametrize("array", [np.zeros(2, dtype=np.longdouble), np.array(["a", "b"]), np.zeros(2, dtype=object)])
def test_from_numpy_rejects_unsupported_dtypes(array):
    for m in (backprop, torch):  # the dtypes torch has no tensor type for
        with pytest.raises(TypeError):
            m.from_numpy(array)


# ---------------------------------------------------------------------------- DLPack
def test_dlpack_device_is_cpu():
    assert backprop.ones(2).__dlpack_device__() == (1, 0)


def test_numpy_from_backprop_tensor_shares_memory():
    t = backprop.arange(5, dtype=backprop.float32)
    a = np.from_dlpack(t)
    a[0] = 42
    assert t[0].item() == 42
    t.mul_(2)
    assert a[1] == 2


def test_backprop_from_numpy_array_shares_memory():
    a = np.arange(6, dtype=np.int64).reshape(3, 2)
    t = backprop.from_dlpack(a)
    assert t.dtype == backprop.int64 and t.shape == (3, 2)
    t[2, 1] = -1
    assert a[2, 1] == -1
    a[0, 0] = 9
    assert t[0, 0].item() == 9


def test_torch_from_backprop_shares_memory():
    t = backprop.arange(6, dtype=backprop.float32).reshape(2, 3)
    tt = torch.from_dlpack(t)
    assert tt.dtype == torch.float32 and tt.shape == (2, 3)
    tt[0, 1] = 100
    assert t[0, 1].item() == 100
    t.add_(1)
    assert tt[1, 2].item() == 6
    assert tt.data_ptr() == t.data_ptr()


def test_backprop_from_torch_shares_memory():
    tt = torch.arange(8, dtype=torch.float64).reshape(2, 4)
    t = backprop.from_dlpack(tt)
    assert t.dtype == backprop.float64 and t.shape == (2, 4)
    t[1, 3] = -5
    assert tt[1, 3].item() == -5
    tt.mul_(3)
    assert t[0, 1].item() == 3
    assert t.data_ptr() == tt.data_ptr()


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"])
def test_torch_round_trip_keeps_dtype_and_values(dtype):
    src = (torch.arange(6) % 3).to(getattr(torch, dtype))
    t = backprop.from_dlpack(src)
    assert t.dtype == getattr(backprop, dtype)
    back = torch.from_dlpack(t)
    assert back.dtype == src.dtype
    assert torch.equal(back, src)
    assert back.data_ptr() == src.data_ptr()


def test_strided_views_cross_without_copies():
    tt = torch.arange(12.0).reshape(3, 4).t()  # non-contiguous
    t = backprop.from_dlpack(tt)
    assert t.shape == (4, 3) and t.stride() == (1, 4)
    np.testing.assert_array_equal(t.numpy(), tt.numpy())
    b = backprop.arange(12.0).reshape(3, 4)[:, 1::2]
    back = torch.from_dlpack(b)
    np.testing.assert_array_equal(back.numpy(), b.numpy())
    back[0, 0] = -1
    assert b[0, 0].item() == -1


def test_dlpack_refuses_tensors_that_require_grad():
    t = backprop.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="require gradient"):
        torch.from_dlpack(t)
    assert torch.from_dlpack(t.detach()).tolist() == [1.0, 1.0, 1.0]


def test_backprop_from_backprop_aliases():
    t = backprop.zeros(3)
    u = backprop.from_dlpack(t)
    u[0] = 1
    assert t[0].item() == 1


def test_capsules_from_to_dlpack():
    t = backprop.arange(3, dtype=backprop.float32)
    tt = torch.utils.dlpack.from_dlpack(to_dlpack(t))
    tt[0] = 7
    assert t[0].item() == 7
    back = from_dlpack(torch.utils.dlpack.to_dlpack(tt))
    assert back.tolist() == [7.0, 1.0, 2.0]
    assert back.data_ptr() == tt.data_ptr()


def test_capsule_device_is_read_without_consuming_it():
    a = np.arange(3.0)
    for capsule in (a.__dlpack__(), a.__dlpack__(max_version=(1, 0)), torch.utils.dlpack.to_dlpack(torch.arange(3.0)), to_dlpack(backprop.ones(2))):
        assert capsule_device(capsule) == (1, 0)
        t = from_dlpack(capsule)  # still consumable
        assert t.device == backprop.device("cpu")
        with pytest.raises(ValueError, match="consumed only once"):
            capsule_device(capsule)


def test_dlpack_device_of_each_device(device):
    t = backprop.ones(2, device=device)
    assert t.__dlpack_device__() == ((1, 0) if device == "cpu" else (2, 0))


def test_cuda_array_interface_is_for_cuda_tensors_only():
    t = backprop.ones(2)
    assert not hasattr(t, "__cuda_array_interface__") and not hasattr(torch.ones(2), "__cuda_array_interface__")
    with pytest.raises(AttributeError) as ours:
        t.__cuda_array_interface__  # noqa: B018
    with pytest.raises(AttributeError) as theirs:
        torch.ones(2).__cuda_array_interface__  # noqa: B018
    assert str(ours.value) == str(theirs.value).replace("torch.", "backprop.")


# ---------------------------------------------------------------------------- CUDA (a real GPU)
@pytest.fixture
def cupy():
    """CuPy on a real CUDA device; skipped without one, and under the fake CUDA backend (whose
    arrays are host memory, which DLPack and ``__cuda_array_interface__`` would expose as such)."""
    if fake_cuda._installed or not backprop.cuda.is_available():
        pytest.skip("no CUDA device: CuPy and an NVIDIA GPU are needed")
    return pytest.importorskip("cupy")


@pytest.fixture
def torch_cuda(cupy):
    if not torch.cuda.is_available():
        pytest.skip("this torch has no CUDA")
    return torch


def test_cupy_array_to_backprop_and_back_shares_memory(cupy):
    a = cupy.arange(6, dtype=cupy.float32).reshape(2, 3)
    t = backprop.from_dlpack(a)
    assert t.device == backprop.device("cuda", 0) and t.dtype == backprop.float32 and t.shape == (2, 3)
    assert t.data_ptr() == a.data.ptr
    t[0, 0] = 10
    assert float(a[0, 0]) == 10
    a[1, 2] = -1
    assert t[1, 2].item() == -1
    back = cupy.from_dlpack(t)
    assert back.data.ptr == a.data.ptr
    back[0, 1] = 7
    assert t[0, 1].item() == 7
    strided = backprop.from_dlpack(a.T)  # a strided view crosses as one
    assert strided.shape == (3, 2) and strided.stride() == (1, 3) and strided.data_ptr() == a.data.ptr


def test_backprop_cuda_tensor_through_cuda_array_interface(cupy):
    t = backprop.arange(6.0, device="cuda")
    view = cupy.asarray(t)  # CuPy reads __cuda_array_interface__: no copy
    assert view.data.ptr == t.data_ptr() and t.__cuda_array_interface__["shape"] == (6,)
    view[2] = -3
    assert t[2].item() == -3
    with pytest.raises(RuntimeError, match="requires grad"):
        t.requires_grad_().__cuda_array_interface__  # noqa: B018


def test_cuda_capsules_cross_with_their_device(cupy):
    a = cupy.arange(4, dtype=cupy.int64)
    capsule = a.__dlpack__()
    assert capsule_device(capsule) == (2, a.device.id)
    t = from_dlpack(capsule)
    assert t.device.type == "cuda" and t.data_ptr() == a.data.ptr
    assert capsule_device(to_dlpack(t)) == (2, a.device.id)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool"])
def test_torch_cuda_tensor_to_backprop_and_back(torch_cuda, dtype):
    src = (torch.arange(6, device="cuda") % 3).to(getattr(torch, dtype)).reshape(2, 3)
    t = backprop.from_dlpack(src)
    assert t.device == backprop.device("cuda", 0) and t.dtype == getattr(backprop, dtype)
    assert t.data_ptr() == src.data_ptr()
    back = torch.from_dlpack(t)
    assert back.device == src.device and back.dtype == src.dtype and back.data_ptr() == src.data_ptr()
    assert torch.equal(back, src)
    capsule_back = from_dlpack(torch.utils.dlpack.to_dlpack(src))
    assert capsule_back.device.type == "cuda" and capsule_back.data_ptr() == src.data_ptr()


def test_torch_and_backprop_cuda_tensors_share_writes(torch_cuda):
    tt = torch.zeros(4, device="cuda")
    t = backprop.from_dlpack(tt)
    t.add_(2)
    torch.cuda.synchronize()
    assert tt.tolist() == [2.0, 2.0, 2.0, 2.0]
    tt.mul_(3)
    torch.cuda.synchronize()
    assert t.tolist() == [6.0, 6.0, 6.0, 6.0]
    via_interface = torch.as_tensor(t, device="cuda")  # __cuda_array_interface__
    assert via_interface.data_ptr() == tt.data_ptr()
