"""backprop.save / backprop.load: safetensors + JSON metadata, no pickle, atomic writes, and
interchange with torch through safetensors."""

from __future__ import annotations

import collections
import dataclasses
import enum
import io
import json
import os
import pathlib
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


# ---------------------------------------------------------------------------- whole objects (no pickle)
nn = backprop.nn
F = backprop.nn.functional


class WordModel(nn.Module):
    """pytorch/examples' word_language_model shape: Embedding, LSTM, attention, tied decoder."""

    def __init__(self, ntoken: int = 20, nhid: int = 8, nlayers: int = 2):
        super().__init__()
        self.drop = nn.Dropout(0.2)
        self.encoder = nn.Embedding(ntoken, nhid)
        self.rnn = nn.LSTM(nhid, nhid, nlayers, dropout=0.2)
        self.attn = nn.MultiheadAttention(nhid, 2)
        self.decoder = nn.Linear(nhid, ntoken)
        self.decoder.weight = self.encoder.weight  # tied
        self.act = F.relu  # a function held as an attribute
        self.register_buffer("seen", backprop.zeros(()))
        self.nhid, self.nlayers, self.name = nhid, nlayers, "wlm"

    def forward(self, x):
        h = (backprop.zeros(self.nlayers, x.shape[1], self.nhid), backprop.zeros(self.nlayers, x.shape[1], self.nhid))
        out, _ = self.rnn(self.drop(self.encoder(x)), h)
        return self.decoder(self.act(self.attn(out, out, out)[0]))


WORD_MODEL_GLOBALS = [
    WordModel,
    backprop.nn.modules.dropout.Dropout,
    backprop.nn.modules.sparse.Embedding,
    backprop.nn.modules.rnn.LSTM,
    backprop.nn.modules.activation.MultiheadAttention,
    backprop.nn.modules.linear.NonDynamicallyQuantizableLinear,
    backprop.nn.modules.linear.Linear,
]


@dataclasses.dataclass
class RunState:
    step: int
    weights: object
    tags: tuple = ()


@dataclasses.dataclass(frozen=True)
class FrozenConfig:
    lr: float
    betas: tuple


class Slotted:
    __slots__ = ("a", "b")


class Phase(enum.Enum):
    TRAIN = "train"
    EVAL = "eval"


class NoState:
    def __getstate__(self):
        return None


class Holder:
    def __init__(self, cls, fn):
        self.cls, self.fn = cls, fn


def _word_model():
    backprop.manual_seed(0)
    return WordModel().eval()


def test_whole_user_model_round_trips_like_word_language_model(tmp_path):
    model = _word_model()
    x = backprop.randint(0, 20, (5, 3))
    expected = model(x).detach().numpy()
    path = tmp_path / "model.pt"
    with open(path, "wb") as f:
        backprop.save(model, f)
    assert backprop.serialization.get_unsafe_globals_in_checkpoint(path) == ["test_serialization.WordModel"]
    with open(path, "rb") as f, pytest.raises(pickle.UnpicklingError) as info:
        backprop.load(f)  # weights_only=True: the user's class is not allowed by default
    msg = str(info.value)
    assert "Weights only load failed" in msg and "test_serialization.WordModel" in msg
    assert "add_safe_globals" in msg and "safe_globals(" in msg and "weights_only=False" in msg
    with open(path, "rb") as f, backprop.serialization.safe_globals(WORD_MODEL_GLOBALS):
        back = backprop.load(f)
    assert type(back) is WordModel and back is not model
    back.rnn.flatten_parameters()
    np.testing.assert_array_equal(back(x).detach().numpy(), expected)
    assert back.decoder.weight is back.encoder.weight  # tied weights stay tied
    assert back.act is F.relu and back.name == "wlm" and back.nhid == 8 and not back.training
    assert type(back.attn.out_proj) is backprop.nn.modules.linear.NonDynamicallyQuantizableLinear
    assert list(back.state_dict()) == list(model.state_dict()) and "seen" in dict(back.named_buffers())
    assert isinstance(back.decoder.weight, nn.Parameter) and back.decoder.weight.requires_grad
    # the block's allowlist ends with it; weights_only=False trusts the file
    with pytest.raises(pickle.UnpicklingError):
        backprop.load(path)
    back = backprop.load(path, weights_only=False)
    np.testing.assert_array_equal(back(x).detach().numpy(), expected)
    # the tensors are stored under their state_dict names: safetensors reads them as a state_dict
    flat = st_torch.load_file(str(path))
    assert set(flat) <= set(model.state_dict()) and "rnn.weight_ih_l0" in flat and "attn.out_proj.weight" in flat


def test_add_get_clear_safe_globals(tmp_path):
    backprop.serialization.clear_safe_globals()
    backprop.save(RunState(3, backprop.ones(2), ("a",)), tmp_path / "r.st")
    with pytest.raises(pickle.UnpicklingError, match="test_serialization.RunState"):
        backprop.load(tmp_path / "r.st")
    try:
        backprop.serialization.add_safe_globals([RunState])
        assert backprop.serialization.get_safe_globals() == [RunState]
        back = backprop.load(tmp_path / "r.st")
        assert back.step == 3 and back.tags == ("a",) and back.weights.tolist() == [1.0, 1.0]
    finally:
        backprop.serialization.clear_safe_globals()
    assert backprop.serialization.get_safe_globals() == []
    with backprop.serialization.safe_globals([(RunState, "test_serialization.RunState")]):  # torch's (obj, name) form
        assert backprop.load(tmp_path / "r.st").step == 3
        assert backprop.serialization.get_safe_globals() == [(RunState, "test_serialization.RunState")]
    assert backprop.serialization.get_safe_globals() == []


def test_backprop_modules_load_without_allowlisting(tmp_path):
    backprop.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)).eval()
    model(backprop.randn(2, 1, 6, 6))
    backprop.save(model, tmp_path / "seq.pt")
    back = backprop.load(tmp_path / "seq.pt")
    x = backprop.randn(2, 1, 6, 6)
    assert type(back) is nn.Sequential and repr(back) == repr(model)
    np.testing.assert_array_equal(back(x).detach().numpy(), model(x).detach().numpy())
    assert back[1].num_batches_tracked.item() == model[1].num_batches_tracked.item()


def test_optimizer_and_scheduler_resume_identically(tmp_path):
    backprop.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    opt = backprop.optim.Adam(model.parameters(), lr=0.05)
    sched = backprop.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    x = backprop.randn(6, 3)

    def train(m, o, s, steps):
        for _ in range(steps):
            o.zero_grad()
            m(x).square().mean().backward()
            o.step()
            s.step()

    train(model, opt, sched, 3)
    backprop.save({"model": model, "opt": opt, "sched": sched, "epoch": 3}, tmp_path / "ckpt.pt")
    back = backprop.load(tmp_path / "ckpt.pt")
    m2, o2, s2 = back["model"], back["opt"], back["sched"]
    assert type(o2) is backprop.optim.Adam and type(s2) is backprop.optim.lr_scheduler.StepLR
    assert s2.optimizer is o2 and back["epoch"] == 3
    params = list(m2.parameters())
    assert all(p is q for p, q in zip(o2.param_groups[0]["params"], params))  # the model's own parameters
    assert set(map(id, o2.state)) == set(map(id, params))
    assert s2.get_last_lr() == sched.get_last_lr() and s2.last_epoch == 3
    train(model, opt, sched, 3)
    train(m2, o2, s2, 3)
    for p, q in zip(model.parameters(), m2.parameters()):
        np.testing.assert_array_equal(q.detach().numpy(), p.detach().numpy())
    assert s2.get_last_lr() == sched.get_last_lr()


def test_nested_containers_shared_objects_and_cycles(tmp_path):
    t = backprop.arange(3.0)
    shared = [t, {"k": 1}]
    cyclic: list = [1]
    cyclic.append(cyclic)
    od = collections.OrderedDict([("b", 1), ("a", t)])
    dd = collections.defaultdict(list, {"x": [1]})
    obj = {
        "a": t,
        "b": [t, shared, shared],
        "shared": shared,
        "cyclic": cyclic,
        "od": od,
        "dd": dd,
        "set": {1, "two", (3, 4)},
        "fs": frozenset({5}),
        "complex": 1 + 2j,
        "bytes": b"\x00\xff",
        "keys": {(1, 2): "tuple key", 3: "int", None: "none", t: "tensor key"},
        "device": backprop.device("cpu"),
        "dtype": backprop.int32,
        "size": backprop.Size([2, 3]),
        "format": backprop.channels_last,
        "fn": backprop.nn.functional.gelu,
        "fns": [backprop.tanh, backprop.zeros, backprop.randn, backprop.detach, backprop.linalg.norm, backprop.special.erf],
        "cls": nn.Linear,
        "max": backprop.max(t.reshape(1, 3), 1),
    }
    backprop.save(obj, tmp_path / "n.st")
    back = backprop.load(tmp_path / "n.st")
    assert back["a"] is back["b"][0] is back["shared"][0]  # one tensor, referenced three times
    assert back["b"][1] is back["b"][2] is back["shared"] and back["shared"][1] == {"k": 1}
    assert back["cyclic"][1] is back["cyclic"] and back["cyclic"][0] == 1
    assert type(back["od"]) is collections.OrderedDict and list(back["od"]) == ["b", "a"] and back["od"]["a"] is back["a"]
    assert type(back["dd"]) is collections.defaultdict and back["dd"]["new"] == [] and back["dd"]["x"] == [1]
    assert back["set"] == {1, "two", (3, 4)} and back["fs"] == frozenset({5}) and type(back["fs"]) is frozenset
    assert back["complex"] == 1 + 2j and back["bytes"] == b"\x00\xff"
    keys = back["keys"]
    assert keys[(1, 2)] == "tuple key" and keys[3] == "int" and keys[None] == "none" and keys[back["a"]] == "tensor key"
    assert back["device"] == backprop.device("cpu") and back["dtype"] is backprop.int32
    assert type(back["size"]) is backprop.Size and back["size"] == (2, 3)
    assert back["format"] is backprop.channels_last and back["fn"] is F.gelu and back["cls"] is nn.Linear
    assert back["fns"] == obj["fns"]
    assert type(back["max"]) is type(obj["max"]) and back["max"].indices.tolist() == [2]


def test_dataclasses_slots_and_user_objects_need_allowlisting(tmp_path):
    w = backprop.ones(2)
    obj = [RunState(1, w, (FrozenConfig(0.1, (0.9, 0.99)),)), RunState(2, w)]
    s = Slotted()
    s.a = w
    obj.append(s)
    obj.append(Holder(RunState, F.relu))
    backprop.save(obj, tmp_path / "d.st")
    with pytest.raises(pickle.UnpicklingError, match="RunState"):
        backprop.load(tmp_path / "d.st")
    with backprop.serialization.safe_globals([RunState, FrozenConfig]), pytest.raises(pickle.UnpicklingError, match="Slotted"):
        backprop.load(tmp_path / "d.st")
    with backprop.serialization.safe_globals([RunState, FrozenConfig, Slotted, Holder]):
        back = backprop.load(tmp_path / "d.st")
    assert back[0].step == 1 and back[0].weights is back[1].weights is back[2].a
    cfg = back[0].tags[0]
    assert cfg == FrozenConfig(0.1, (0.9, 0.99))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0
    assert not hasattr(back[2], "b") and back[3].cls is RunState and back[3].fn is F.relu


def test_functions_are_import_paths_and_only_backprop_ones_load_by_default(tmp_path):
    model = nn.Linear(2, 2)
    model.act = lambda x: x
    with pytest.raises(TypeError, match=r"cannot save a lambda at 'act'"):
        backprop.save(model, tmp_path / "l.st")
    assert not list(tmp_path.iterdir())

    class Local:
        pass

    with pytest.raises(TypeError, match=r"at 'x'.*cannot be imported by its name"):
        backprop.save({"x": Local()}, tmp_path / "l.st")
    backprop.save({"f": os.path.join}, tmp_path / "g.st")  # a function outside backprop: refused on load
    with pytest.raises(pickle.UnpicklingError, match="posixpath.join"):
        backprop.load(tmp_path / "g.st")
    assert backprop.load(tmp_path / "g.st", weights_only=False)["f"] is os.path.join
    with backprop.serialization.safe_globals([os.path.join]):
        assert backprop.load(tmp_path / "g.st")["f"] is os.path.join
    for unsafe in (backprop.save, backprop.load, backprop.set_num_threads):  # backprop functions beyond tensor math
        backprop.save({"f": unsafe}, tmp_path / "u.st")
        with pytest.raises(pickle.UnpicklingError):
            backprop.load(tmp_path / "u.st")


def _crafted(tmp_path, structure, version=2) -> str:
    """A file whose backprop metadata is ``structure`` (as a file from anywhere could be)."""
    st_numpy = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "crafted.safetensors"
    meta = structure if isinstance(structure, str) else json.dumps({"version": version, "object": structure})
    path.write_bytes(st_numpy.save({"x": np.zeros(2, np.float32)}, metadata={"backprop": meta}))
    return path


def test_crafted_metadata_imports_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    for structure in (
        {"__global__": "os.system"},
        {"__object__": "subprocess.Popen", "state": {}},
        {"__object__": "never_imported_module_xyz.Evil"},
        {"__dict__": [], "type": "os._Environ"},
        {"__object__": "test_serialization.Holder", "state": {"cls": {"__global__": "os.system"}}},
        {"__global__": "backprop.serialization.save"},
        {"__object__": "backprop.nn.parallel.DistributedDataParallel"},
        {"__object__": "backprop.utils.data.DataLoader"},  # starts worker processes: not a data class
    ):
        with pytest.raises(pickle.UnpicklingError):
            backprop.load(_crafted(tmp_path, structure))
    assert "never_imported_module_xyz" not in sys.modules and not marker.exists()
    # allowed classes with state of the wrong shape, references to nothing: one CheckpointError naming the file
    for structure in (
        {"__object__": "backprop.nn.modules.linear.Linear", "state": [1, 2]},
        {"__ref__": 7},
        {"__tensor__": "missing"},
        {"__dtype__": "no_such_dtype"},
        {"__dict__": [[1]]},
        {"__object__": "backprop.nn.functional.relu"},  # allowed, but not a class
        {"__object__": "backprop.nn.modules.no_such_module.X"},
    ):
        with pytest.raises(CheckpointError) as info:
            backprop.load(_crafted(tmp_path, structure))
        assert "crafted.safetensors" in str(info.value), structure


def test_module_paths_match_torch():
    import importlib

    for name in dir(torch.nn):
        cls = getattr(torch.nn, name)
        ours = getattr(backprop.nn, name, None)
        if not isinstance(cls, type) or ours is None:
            continue
        module = importlib.import_module(cls.__module__.replace("torch", "backprop", 1))
        assert getattr(module, name) is ours, f"{cls.__module__}.{name}"
    mha, tmha = backprop.nn.MultiheadAttention(4, 2), torch.nn.MultiheadAttention(4, 2)
    assert type(mha.out_proj).__module__ == type(tmha.out_proj).__module__.replace("torch", "backprop", 1)
    assert type(mha.out_proj).__name__ == "NonDynamicallyQuantizableLinear" and isinstance(mha.out_proj, nn.Linear)
    assert list(mha.state_dict()) == list(tmha.state_dict())


# ---------------------------------------------------------------------------- file hardening
def test_next_save_removes_temporary_files_of_killed_saves(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphans = [f".ckpt.safetensors.{dead.pid}-abc_123.tmp", ".ckpt.safetensors.k2j4h5g6.tmp"]  # ours, older style
    live = f".ckpt.safetensors.{os.getppid()}-zzz.tmp"  # a save in progress in a running process
    others = [".other.safetensors.abcd1234.tmp", "ckpt.safetensors.tmp", ".ckpt.safetensors.x.y.tmp"]
    for name in orphans + [live] + others:
        (tmp_path / name).write_bytes(b"partial")
    backprop.save({"w": backprop.ones(2)}, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ckpt.safetensors", live] + others)


def test_killed_save_leaves_nothing_after_the_next_save(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    script = (
        "import backprop, os, signal\n"
        "big = backprop.ones(2_000_000)\n"
        "real_replace = os.replace\n"
        "os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"  # killed after the write, before the rename
        f"backprop.save({{'w': big}}, {str(path)!r})\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == -signal.SIGKILL
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # the killed save's orphan
    backprop.save({"w": backprop.zeros(2)}, path)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.safetensors"]


def test_newer_format_version_is_refused(tmp_path):
    path = _crafted(tmp_path, {"a": 1}, version=99)
    with pytest.raises(CheckpointError) as info:
        backprop.load(path)
    msg = str(info.value)
    assert str(path) in msg and "version 99" in msg and f"version {backprop.serialization._FORMAT_VERSION}" in msg


def _raw_header_file(tmp_path, header: bytes) -> str:
    path = tmp_path / "raw.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header)
    return path


@pytest.mark.parametrize(
    "header",
    [b"[1, 2]", b"42", b'"text"', b"[" * 100_000 + b"]" * 100_000, b'{"x": [1]}', b'{"x": {"dtype": "F32"}}',
     b'{"__metadata__": [1]}', b'{"__metadata__": {"backprop": 5}}',
     b'{"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}'],
    ids=["list", "number", "string", "deep", "entry-list", "entry-no-offsets", "meta-list", "meta-number", "bad-shape"],
)
def test_malformed_headers_raise_checkpoint_error(tmp_path, header):
    path = _raw_header_file(tmp_path, header)
    with pytest.raises(CheckpointError) as info:
        backprop.load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "meta",
    ["[1, 2]", "3", '"s"', "[" * 100_000 + "]" * 100_000, '{"version": 2}', '{"version": "2", "object": 1}'],
    ids=["list", "number", "string", "deep-json", "no-object", "str-version"],
)
def test_malformed_backprop_metadata_raises_checkpoint_error(tmp_path, meta):
    path = _crafted(tmp_path, meta)
    with pytest.raises(CheckpointError) as info:
        backprop.load(path)
    assert str(path) in str(info.value)


def test_deeply_nested_metadata_structure_raises_checkpoint_error(tmp_path):
    def nested(depth: int) -> str:
        return '{"version": 2, "object": ' + '{"__tuple__": [' * depth + "0" + "]}" * depth + "}"

    back = backprop.load(_crafted(tmp_path, nested(100)))  # deep, but what a real object could be
    for _ in range(100):
        (back,) = back
    assert back == 0
    with pytest.raises(CheckpointError, match="crafted.safetensors.*nested too deeply"):
        backprop.load(_crafted(tmp_path, nested(50_000)))


@pytest.mark.parametrize("name", ["uint16", "uint32", "uint64"])
def test_unsigned_tensors_written_by_torch_load(tmp_path, name):
    values = [0, 1, 2**16 - 1] if name == "uint16" else [0, 7, 2**31 + 5]
    st_torch.save_file({"u": torch.tensor(values, dtype=getattr(torch, name))}, str(tmp_path / "u.safetensors"))
    u = backprop.load(tmp_path / "u.safetensors")["u"]
    assert u.dtype is getattr(backprop, name) and u.dtype.name == name and not u.dtype.is_signed
    assert u.to(backprop.int64).tolist() == values and u.tolist() == values
    assert repr(u) == repr(torch.tensor(values, dtype=getattr(torch, name))).replace("torch.", "backprop.")
    with pytest.raises(RuntimeError, match="Promotion for uint16, uint32, uint64 types is not supported"):
        backprop.promote_types(u.dtype, backprop.int64)
    backprop.save({"u": u}, tmp_path / "again.st")  # and back out
    assert st_torch.load_file(str(tmp_path / "again.st"))["u"].tolist() == values


def test_bfloat16_loads_and_float8_is_refused_by_name(tmp_path):
    st_torch.save_file({"b": torch.tensor([1.5, -2.0], dtype=torch.bfloat16)}, str(tmp_path / "b.safetensors"))
    b = backprop.load(tmp_path / "b.safetensors")["b"]
    assert b.dtype is backprop.bfloat16 and b.float().tolist() == [1.5, -2.0]
    for dt, code in ((torch.float8_e4m3fn, "F8_E4M3"), (torch.float8_e5m2, "F8_E5M2")):
        st_torch.save_file({"f": torch.tensor([1.0, 2.0]).to(dt)}, str(tmp_path / "f8.safetensors"))
        with pytest.raises(CheckpointError, match=f"'f' has dtype {code}, which backprop does not support") as info:
            backprop.load(tmp_path / "f8.safetensors")
        assert "f8.safetensors" in str(info.value)


def test_whole_model_and_optimizer_on_device_with_map_location(tmp_path, device):
    backprop.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).to(device)
    opt = backprop.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = backprop.randn(5, 3, device=device)
    model(x).sum().backward()
    opt.step()
    backprop.save({"model": model, "opt": opt}, tmp_path / "dev.pt")
    for map_location, target in ((None, device), ("cpu", "cpu")):
        back = backprop.load(tmp_path / "dev.pt", map_location=map_location)
        m2, o2 = back["model"], back["opt"]
        assert {p.device.type for p in m2.parameters()} == {target}
        assert all(s["momentum_buffer"].device.type == target for s in o2.state.values())
        assert o2.param_groups[0]["params"][0] is m2[0].weight
        np.testing.assert_allclose(m2(x.to(target)).detach().cpu().numpy(), model(x).detach().cpu().numpy(), rtol=1e-6)


def test_lazy_modules_hooks_and_bound_methods_round_trip(tmp_path):
    x = backprop.randn(2, 5)
    lazy = nn.LazyLinear(3)  # an UninitializedParameter and a bound-method hook
    backprop.save(lazy, tmp_path / "lazy.pt")
    back = backprop.load(tmp_path / "lazy.pt")
    assert type(back.weight) is nn.parameter.UninitializedParameter
    assert back(x).shape == (2, 3) and type(back.weight) is nn.Parameter and back.in_features == 5
    lazy(x)  # materialized: an ordinary Linear
    backprop.save(lazy, tmp_path / "lazy.pt")
    np.testing.assert_array_equal(backprop.load(tmp_path / "lazy.pt")(x).detach().numpy(), lazy(x).detach().numpy())
    with pytest.warns(FutureWarning, match="deprecated"):
        normed = nn.utils.weight_norm(nn.Linear(5, 2))  # a forward pre-hook object of backprop's
    backprop.save(normed, tmp_path / "wn.pt")
    back = backprop.load(tmp_path / "wn.pt")
    np.testing.assert_array_equal(back(x).detach().numpy(), normed(x).detach().numpy())
    backprop.save({"m": lazy.forward, "s": lazy.extra_repr}, tmp_path / "m.pt")
    back = backprop.load(tmp_path / "m.pt")
    assert back["m"].__self__ is back["s"].__self__ and back["m"].__func__ is nn.Linear.forward


def test_enums_paths_and_objects_without_state(tmp_path):
    obj = {"phase": Phase.EVAL, "dir": pathlib.Path("/tmp/run"), "pure": pathlib.PurePosixPath("a/b"), "none": NoState()}
    obj["none"].__dict__["__tensor__"] = "an attribute that looks like a tag"
    backprop.save(obj, tmp_path / "e.st")
    with pytest.raises(pickle.UnpicklingError, match="test_serialization.Phase"):
        backprop.load(tmp_path / "e.st")
    with backprop.serialization.safe_globals([Phase, NoState]):
        back = backprop.load(tmp_path / "e.st")
    assert back["phase"] is Phase.EVAL and back["dir"] == pathlib.Path("/tmp/run") and type(back["dir"]) is type(obj["dir"])
    assert back["pure"] == pathlib.PurePosixPath("a/b") and type(back["none"]) is NoState
    assert not hasattr(back["none"], "__tensor__")  # __getstate__ said None: no state
    holder = Holder(None, None)
    holder.__dict__["__tensor__"] = "looks like a tag"
    backprop.save(holder, tmp_path / "h.st")
    assert backprop.load(tmp_path / "h.st", weights_only=False).__dict__["__tensor__"] == "looks like a tag"


def test_safe_globals_blocks_nest_and_keep_what_add_safe_globals_added(tmp_path):
    backprop.serialization.clear_safe_globals()
    try:
        with backprop.serialization.safe_globals([RunState]):
            with backprop.serialization.safe_globals([Phase]):
                assert backprop.serialization.get_safe_globals() == [RunState, Phase]
            backprop.serialization.add_safe_globals([NoState])
            assert backprop.serialization.get_safe_globals() == [RunState, NoState]
        assert backprop.serialization.get_safe_globals() == [NoState]
        with pytest.raises(TypeError, match="list"):
            backprop.serialization.add_safe_globals(RunState)
    finally:
        backprop.serialization.clear_safe_globals()


def test_crafted_container_types_raise_checkpoint_error(tmp_path):
    for structure in (
        {"__tuple__": [1], "type": "builtins.dict"},
        {"__list__": [1], "type": "builtins.str"},
        {"__set__": [1], "type": "builtins.dict"},
        {"__dict__": [], "type": "builtins.list"},
        {"__enum__": "builtins.int", "name": "x"},
        {"__path__": "/x", "type": "builtins.str"},
        {"__path__": "C:/x", "type": "pathlib.WindowsPath" if os.name != "nt" else "pathlib.PosixPath"},
        {"__method__": "__init__", "self": 1},
        {"__method__": "bit_length", "self": {"__tuple__": []}},
        {"__object__": "backprop._tensor.Tensor", "state": {}},
        {"__object__": "backprop.nn.parameter.Parameter"},
        {"__object__": "backprop._dtype.dtype"},
    ):
        with pytest.raises(CheckpointError, match="crafted.safetensors"):
            backprop.load(_crafted(tmp_path, structure))
