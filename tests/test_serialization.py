"""backprop.save / backprop.load: safetensors + JSON metadata, no pickle, atomic writes, and
interchange with torch through safetensors."""

from __future__ import annotations

import io
import json
import os
import pickle
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import backprop
import fake_cuda
from backprop.serialization import CheckpointError

st_torch = pytest.importorskip("safetensors.torch")


def test_round_trip_of_nested_checkpoint(tmp_path):
    model = backprop.nn.Sequential(backprop.nn.Linear(3, 4), backprop.nn.BatchNorm1d(4), backprop.nn.Linear(4, 2))
    opt = backprop.optim.Adam(model.parameters(), lr=1e-3)
    model(backprop.randn(5, 3)).sum().backward()
    opt.step()
    obj = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "epoch": 7,
        "metrics": {"loss": [1.5, 0.25], "best": float("inf"), "nan": float("nan"), "name": "run", "done": False, "none": None},
        "shape": (2, 3),
        "nested": [[backprop.tensor([1, 2])], {"t": backprop.tensor(3.5)}],
        "array": np.arange(4, dtype=np.int32),
    }
    path = tmp_path / "ckpt.safetensors"
    backprop.save(obj, path)
    back = backprop.load(path)
    assert back["epoch"] == 7 and back["shape"] == (2, 3)
    assert back["metrics"]["loss"] == [1.5, 0.25] and back["metrics"]["best"] == float("inf")
    assert np.isnan(back["metrics"]["nan"]) and back["metrics"]["name"] == "run" and back["metrics"]["done"] is False
    assert back["metrics"]["none"] is None
    assert back["nested"][1]["t"].shape == () and back["nested"][1]["t"].item() == 3.5
    assert back["nested"][0][0].dtype == backprop.int64
    np.testing.assert_array_equal(back["array"], np.arange(4))
    assert list(back["model"]) == list(obj["model"])
    for k, v in obj["model"].items():
        np.testing.assert_array_equal(back["model"][k].numpy(), v.numpy())
        assert back["model"][k].dtype == v.dtype
    assert sorted(back["optimizer"]["state"]) == sorted(obj["optimizer"]["state"])  # int keys kept
    opt2 = backprop.optim.Adam(model.parameters(), lr=1e-3)
    opt2.load_state_dict(back["optimizer"])


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"])
def test_every_dtype_and_layout_round_trips(tmp_path, dtype):
    arr = (np.arange(24).reshape(2, 3, 4) % 7).astype(dtype)
    t = backprop.from_numpy(arr).permute(2, 0, 1)  # non-contiguous
    backprop.save({"x": t, "scalar": backprop.from_numpy(np.asarray(arr[0, 0, 0]))}, tmp_path / "a.st")
    back = backprop.load(tmp_path / "a.st")
    assert back["x"].dtype.name == dtype and tuple(back["x"].shape) == (4, 2, 3)
    np.testing.assert_array_equal(back["x"].numpy(), t.numpy())
    assert back["scalar"].shape == ()


def test_parameters_come_back_as_parameters(tmp_path):
    p = backprop.nn.Parameter(backprop.ones(2))
    backprop.save({"p": p, "plain": backprop.zeros(2, requires_grad=True)}, tmp_path / "p.st")
    back = backprop.load(tmp_path / "p.st")
    assert isinstance(back["p"], backprop.nn.Parameter) and back["p"].requires_grad
    assert back["plain"].requires_grad and not isinstance(back["plain"], backprop.nn.Parameter)


def test_file_objects_and_map_location(tmp_path):
    buf = io.BytesIO()
    backprop.save({"w": backprop.arange(3)}, buf)
    buf.seek(0)
    assert backprop.load(buf, map_location="cpu")["w"].tolist() == [0, 1, 2]


def _torch_cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 3))


def _bp_cnn():
    nn = backprop.nn
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def test_torch_weights_saved_with_safetensors_load_into_backprop(tmp_path):
    tm = _torch_cnn().eval()
    tm(torch.randn(4, 1, 8, 8))  # non-trivial running stats are saved too
    st_torch.save_file(tm.state_dict(), str(tmp_path / "torch.safetensors"))
    bm = _bp_cnn().eval()
    bm.load_state_dict(backprop.load(tmp_path / "torch.safetensors"))
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(bm(backprop.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_backprop_state_dict_loads_in_torch(tmp_path):
    bm = _bp_cnn().eval()
    backprop.save(bm.state_dict(), tmp_path / "bp.safetensors")
    tm = _torch_cnn().eval()
    tm.load_state_dict(st_torch.load_file(str(tmp_path / "bp.safetensors")))
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(tm(torch.tensor(x)).detach().numpy(), bm(backprop.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_files_are_refused_and_nothing_executes(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(_Exploit(marker)))
    with pytest.raises(CheckpointError, match="pickle"):
        backprop.load(evil)
    assert not marker.exists()
    torch.save({"w": torch.ones(2)}, tmp_path / "model.pt")  # a zip of pickles
    with pytest.raises(RuntimeError, match="never unpickles"):
        backprop.load(tmp_path / "model.pt")


@pytest.mark.parametrize(
    "content,needle",
    [
        (b"", "truncated"),
        (b"\x10\x00\x00\x00", "truncated"),
        (b"\xff" * 64, "header length"),
        ((20).to_bytes(8, "little") + b"{not json at all!!}", "header"),
    ],
    ids=["empty", "short", "bad-length", "bad-json"],
)
def test_corrupt_files_raise_one_clear_error_naming_the_file(tmp_path, content, needle):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        backprop.load(path)
    assert str(path) in str(info.value) and needle in str(info.value)


def test_truncated_checkpoint_is_detected(tmp_path):
    path = tmp_path / "ok.safetensors"
    backprop.save({"w": backprop.randn(100, 100)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        backprop.load(path)


def test_missing_file_and_unsupported_objects(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        backprop.load(tmp_path / "nope.safetensors")
    with pytest.raises(TypeError, match="cannot save a lambda at 'f'"):
        backprop.save({"f": lambda: 1}, tmp_path / "x.st")
    with pytest.raises(TypeError, match="cannot save an object of type generator at 'g'.*C extension"):
        backprop.save({"g": (i for i in range(3))}, tmp_path / "x.st")
    assert not (tmp_path / "x.st").exists()


def test_failed_write_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    backprop.save({"v": backprop.tensor([1.0])}, path)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        backprop.save({"v": backprop.tensor([2.0])}, path)
    assert backprop.load(path)["v"].tolist() == [1.0]
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.safetensors"]  # temporary file removed


def test_process_killed_mid_save_leaves_previous_checkpoint_intact(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    backprop.save({"step": 0, "w": backprop.zeros(4)}, path)
    script = (
        "import backprop, sys\n"
        "big = backprop.ones(40_000_000)\n"  # ~160 MB: the write takes a while
        "print('ready', flush=True)\n"
        "while True:\n"
        f"    backprop.save({{'step': 1, 'w': big}}, {str(path)!r})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    ckpt = backprop.load(path)  # either the old or a complete new checkpoint, never a torn one
    assert ckpt["step"] in (0, 1)
    assert ckpt["w"].shape == ((4,) if ckpt["step"] == 0 else (40_000_000,))


# ---------------------------------------------------------------------------- devices
def _saved_object(path) -> dict:
    """The JSON structure a backprop checkpoint keeps in its safetensors metadata."""
    data = path.read_bytes()
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
    return json.loads(header["__metadata__"]["backprop"])["object"]


def _dev(t) -> str:
    return t.device.type


def test_tensors_round_trip_on_their_device(tmp_path, device):
    t = backprop.tensor([[1.5, -2.0], [3.0, 4.0]], device=device)
    nc = backprop.arange(12.0, device=device).reshape(3, 4).t()  # non-contiguous
    obj = {"t": t, "nc": nc, "p": backprop.nn.Parameter(t.clone()), "i": backprop.tensor([1, 2], device=device), "cpu": backprop.ones(2)}
    path = tmp_path / "t.safetensors"
    backprop.save(obj, path)
    saved = _saved_object(path)
    assert saved["t"].get("device") == (None if device == "cpu" else "cuda:0")  # recorded, unless the CPU
    assert "device" not in saved["cpu"]
    back = backprop.load(path)
    for k in ("t", "nc", "p", "i"):
        assert _dev(back[k]) == device and back[k].dtype == obj[k].dtype
        np.testing.assert_array_equal(back[k].detach().cpu().numpy(), obj[k].detach().cpu().numpy())
    assert isinstance(back["p"], backprop.nn.Parameter) and back["p"].requires_grad
    assert _dev(back["cpu"]) == "cpu"
    st_numpy = pytest.importorskip("safetensors.numpy")  # the file holds the host bytes
    np.testing.assert_array_equal(st_numpy.load_file(str(path))["nc"], obj["nc"].cpu().numpy())


def _map_locations(device):
    """(map_location, device of the tensor saved on ``device``, of the one saved on the CPU)."""
    saved = "cuda:0" if device == "cuda" else "cpu"
    return [
        (None, device, "cpu"),
        ("cpu", "cpu", "cpu"),
        (backprop.device("cpu"), "cpu", "cpu"),
        (device, device, device),
        (backprop.device(device), device, device),
        (saved, device, device),
        (saved.encode(), device, device),
        ({saved: "cpu"}, "cpu", "cpu"),
        ({"cpu": device}, device, device),
        ({"cpu": backprop.device(device)}, device, device),
        ({"cuda:7": "cpu"}, device, "cpu"),  # keys that match nothing leave tensors where they were
        (lambda storage, loc: storage, "cpu", "cpu"),
        (lambda storage, loc: storage.to(device), device, device),
        (lambda storage, loc: None, device, "cpu"),
        (lambda storage, loc: device, device, device),
        (lambda storage, loc: backprop.device(device), device, device),
    ]


@pytest.mark.parametrize("case", range(len(_map_locations("cpu"))))
def test_map_location_like_torch(tmp_path, device, case):
    map_location, on_device, on_cpu = _map_locations(device)[case]
    obj = {"d": backprop.tensor([1.0, 2.0], device=device), "c": backprop.tensor([3, 4]), "a": np.arange(3.0)}
    for write in ("path", "buffer"):
        target = tmp_path / "m.safetensors" if write == "path" else io.BytesIO()
        backprop.save(obj, target)
        if write == "buffer":
            target.seek(0)
        back = backprop.load(target, map_location=map_location)
        assert (_dev(back["d"]), _dev(back["c"])) == (on_device, on_cpu)
        assert back["d"].tolist() == [1.0, 2.0] and back["c"].tolist() == [3, 4]
        a = back["a"]  # arrays follow map_location too: a NumPy array on the CPU
        assert (type(a) is np.ndarray) == (on_cpu == "cpu")


def test_map_location_callable_sees_each_tensor_and_its_saved_device(tmp_path, device):
    seen = []

    def fn(storage, location):
        seen.append((type(storage).__name__, _dev(storage), storage.tolist(), location))
        return storage

    backprop.save({"d": backprop.tensor([1.0], device=device), "c": backprop.tensor([2.0])}, tmp_path / "f.st")
    back = backprop.load(tmp_path / "f.st", map_location=fn)
    expected_location = "cuda:0" if device == "cuda" else "cpu"
    assert sorted(seen) == sorted([("Tensor", "cpu", [1.0], expected_location), ("Tensor", "cpu", [2.0], "cpu")])
    assert _dev(back["d"]) == _dev(back["c"]) == "cpu"


def test_safetensors_files_of_other_tools_load_with_map_location(tmp_path, device):
    st_torch.save_file({"w": torch.arange(4.0)}, str(tmp_path / "other.safetensors"))
    assert _dev(backprop.load(tmp_path / "other.safetensors")["w"]) == "cpu"
    w = backprop.load(tmp_path / "other.safetensors", map_location=device)["w"]
    assert _dev(w) == device and w.tolist() == [0.0, 1.0, 2.0, 3.0]


def _train(model, opt, x, steps=2):
    for _ in range(steps):
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()


def _model(device):
    # No bias before the BatchNorm: its true gradient is 0, so Adam would scale rounding noise
    # to full steps, and resuming on another device (other rounding) could not match.
    backprop.manual_seed(0)
    return backprop.nn.Sequential(backprop.nn.Linear(3, 4, bias=False), backprop.nn.BatchNorm1d(4), backprop.nn.Linear(4, 2)).to(device)


@pytest.mark.parametrize("map_location", [None, "cpu", "device"])
def test_state_dicts_of_module_and_optimizer_round_trip(tmp_path, device, map_location):
    target = device if map_location in (None, "device") else "cpu"
    model = _model(device)
    opt = backprop.optim.Adam(model.parameters(), lr=1e-2)
    x = backprop.tensor(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32), device=device)
    _train(model, opt, x)
    path = tmp_path / "ckpt.safetensors"
    backprop.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 2}, path)
    back = backprop.load(path, map_location=device if map_location == "device" else map_location)
    assert back["epoch"] == 2
    for k, v in model.state_dict().items():
        assert _dev(back["model"][k]) == target, k
        np.testing.assert_array_equal(back["model"][k].cpu().numpy(), v.cpu().numpy())
    for state in back["optimizer"]["state"].values():
        for name in ("exp_avg", "exp_avg_sq"):
            assert _dev(state[name]) == target
    # resume where the checkpoint says: the same next step as the uninterrupted run
    model2 = _model(target)
    model2.load_state_dict(back["model"])
    opt2 = backprop.optim.Adam(model2.parameters(), lr=1e-2)
    opt2.load_state_dict(back["optimizer"])
    _train(model, opt, x, steps=1)
    _train(model2, opt2, x.to(target), steps=1)
    for p, q in zip(model.parameters(), model2.parameters()):
        assert _dev(q) == target
        np.testing.assert_allclose(q.detach().cpu().numpy(), p.detach().cpu().numpy(), rtol=1e-6, atol=1e-7)


def test_flat_state_dict_from_device_loads_in_torch(tmp_path, device):
    bm = _bp_cnn().to(device).eval()
    backprop.save(bm.state_dict(), tmp_path / "bp.safetensors")
    tm = _torch_cnn().eval()
    tm.load_state_dict(st_torch.load_file(str(tmp_path / "bp.safetensors")))  # host bytes: CPU tensors in torch
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    ours = bm(backprop.tensor(x, device=device)).detach().cpu().numpy()
    np.testing.assert_allclose(tm(torch.tensor(x)).detach().numpy(), ours, rtol=1e-5, atol=1e-5)
    assert {_dev(v) for v in backprop.load(tmp_path / "bp.safetensors").values()} == {device}


def test_missing_cuda_device_raises_like_torch(tmp_path, device):
    path = tmp_path / "c.safetensors"
    backprop.save({"w": backprop.ones(2, device=device)}, path)
    # cuda:7: beyond the fake's one device (and most machines'); without CUDA, not available at all
    with pytest.raises(RuntimeError, match=r"Attempting to deserialize object on (a CUDA device|CUDA device 7).*map_location") as info:
        backprop.load(path, map_location={"cuda:0": "cuda:7", "cpu": "cuda:7"})
    assert str(path) in str(info.value)
    with pytest.raises(RuntimeError):
        backprop.load(path, map_location="cuda:7")


def test_cuda_checkpoint_on_a_machine_without_cuda_needs_map_location(tmp_path):
    if backprop.cuda.is_available():
        pytest.skip("a real CUDA device is available: the checkpoint would load")
    path = tmp_path / "gpu.safetensors"
    fake_cuda.install()
    try:
        backprop.save({"w": backprop.tensor([1.0, 2.0], device="cuda"), "n": 1}, path)
    finally:
        fake_cuda.uninstall()
    with pytest.raises(RuntimeError, match=r"on a CUDA device but backprop\.cuda\.is_available\(\) is False.*map_location=backprop\.device\('cpu'\)"):
        backprop.load(path)
    for map_location in ("cpu", backprop.device("cpu"), {"cuda:0": "cpu"}, lambda storage, loc: storage):
        w = backprop.load(path, map_location=map_location)["w"]
        assert _dev(w) == "cpu" and w.tolist() == [1.0, 2.0]
