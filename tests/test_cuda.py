"""The device model: devices, moving tensors, default devices, mixing errors, per-device
random generators, ``backprop.cuda`` and ``backprop.accelerator``.

Three kinds of tests:
* no GPU needed: the answers of a machine without CUDA (CI), compared with a CPU-only torch;
* ``device`` fixture (cpu and fake-cuda by default, ``--device cuda`` on a GPU): what a CUDA
  tensor does, on the fake CUDA backend (tests/fake_cuda.py) or a real GPU;
* ``gpu`` (real GPU only, skipped with a reason elsewhere): CUDA kernels against their CPU
  twins, memory statistics, events, and a training step that never waits on the host.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

import backprop
import fake_cuda
import kernel_reference
from api_compare import check
from backprop import nn

HAS_CUPY = importlib.util.find_spec("cupy") is not None


def _real_gpu() -> bool:
    return not fake_cuda._installed and HAS_CUPY and backprop.cuda.is_available()


gpu = pytest.mark.skipif(not (HAS_CUPY and backprop.cuda.is_available()), reason="needs CuPy and an NVIDIA GPU")


def _cuda_only(device: str) -> None:
    if device != "cuda":
        pytest.skip("a CUDA-tensor test (runs on fake-cuda and on a GPU)")


# ---------------------------------------------------------------------------- no GPU needed
@pytest.mark.skipif(HAS_CUPY, reason="checks the answers of a machine without CuPy")
def test_without_cupy_cuda_is_unavailable_and_says_how_to_get_it():
    assert backprop.cuda.is_available() is False
    assert backprop.cuda.device_count() == 0
    assert backprop.accelerator.is_available() is False
    assert backprop.accelerator.current_accelerator() is None
    with pytest.raises(AssertionError, match=r"Torch not compiled with CUDA enabled.*pip install 'backprop\[cuda\]'"):
        backprop.zeros(2, device="cuda")
    with pytest.raises(AssertionError, match="cupy-cuda12x"):
        backprop.ones(2).cuda()
    with pytest.raises(RuntimeError, match="Cannot get CUDA generator"):
        backprop.Generator(device="cuda")
    backprop.cuda.manual_seed(1)  # no-ops without CUDA, as in torch
    backprop.cuda.manual_seed_all(1)
    backprop.cuda.empty_cache()


def test_import_does_not_load_cupy():
    import subprocess
    import sys

    code = "import sys, backprop; backprop.ones(2) * 3; print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m: str(m.device("cuda:1")), id="str"),
        pytest.param(lambda m: repr(m.device("cuda", 2)), id="repr-index"),
        pytest.param(lambda m: repr(m.device(1)), id="int-is-cuda"),
        pytest.param(lambda m: m.device("cuda") == m.device("cuda:0"), id="index-none-differs"),
        pytest.param(lambda m: m.device(m.device("cpu")).type, id="copy"),
        pytest.param(lambda m: m.device("cpu:0").index, id="cpu-index"),
        pytest.param(lambda m: m.device("cuda:x"), id="bad-index"),
        pytest.param(lambda m: m.device("gpu"), id="bad-type"),
        pytest.param(lambda m: m.tensor([1, 2]).to("cpu", m.float64, False, True).dtype, id="to-positional-copy"),
        pytest.param(lambda m: m.tensor([1.0, 2]).to(m.float64, False, True).tolist(), id="to-dtype-positional"),
        pytest.param(lambda m: m.tensor([1.0, 2]).to(m.ones(1, dtype=m.float64)).dtype, id="to-other"),
        pytest.param(lambda m: m.tensor([1.0, 2]).to(device="cpu", dtype=m.float16).dtype, id="to-keywords"),
        pytest.param(lambda m: str(m.tensor([1.0, 2]).cpu().device), id="cpu"),
        pytest.param(lambda m: repr(m.get_default_device()), id="default-device"),
        pytest.param(lambda m: m.ones(1).get_device(), id="get-device-cpu"),
        pytest.param(lambda m: m.ones(1).is_cpu, id="is-cpu"),
        pytest.param(lambda m: m.ones(1).is_xpu, id="is-xpu"),
        pytest.param(lambda m: m.cuda.is_bf16_supported(), id="is-bf16-supported"),
        pytest.param(lambda m: m.cuda.is_tf32_supported(), id="is-tf32-supported"),
    ],
)
def test_device_api_matches_torch_on_the_cpu(fn):
    check(fn)


def test_to_returns_self_unless_copy_and_copy_is_a_new_tensor():
    x = backprop.tensor([1.0, 2.0])
    assert x.to("cpu") is x and x.cpu() is x and x.to(backprop.float32) is x
    y = x.to("cpu", copy=True)
    assert y is not x and y.data_ptr() != x.data_ptr() and y.tolist() == x.tolist()


def test_default_device_context_and_setter_on_the_cpu():
    with backprop.device("cpu"):
        assert backprop.zeros(2).device.type == "cpu"
    backprop.set_default_device("cpu")
    assert backprop.get_default_device() == backprop.device("cpu")
    backprop.set_default_device(None)
    assert backprop.randn(2).device == backprop.device("cpu")


def test_philox_matches_the_published_known_answers():
    """Random123's known-answer vectors for Philox4x32-10 (counter, key -> output)."""
    vectors = [
        ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        ((0xFFFFFFFF,) * 4, (0xFFFFFFFF, 0xFFFFFFFF), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
        ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0), (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
    ]
    for counter, key, expected in vectors:
        out = kernel_reference.philox_block(np.array([counter], dtype=np.uint32), key)[0]
        assert [int(v) for v in out] == list(expected)
    # The stream: counters offset, offset + 1, ... with the seed as the key.
    words = kernel_reference.philox_uint32(0, 0, 6)
    assert [int(w) for w in words[:4]] == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    assert len(words) == 6


# ---------------------------------------------------------------------------- CUDA tensors (fake or real)
def test_creation_functions_take_device_and_the_default_device(device):
    _cuda_only(device)
    made = [
        backprop.zeros(2, 3, device=device),
        backprop.ones(2, device=device),
        backprop.empty(4, device=device),
        backprop.full((2,), 7.0, device=device),
        backprop.eye(3, device=device),
        backprop.arange(5, device=device),
        backprop.linspace(0, 1, 4, device=device),
        backprop.tensor([1.0, 2.0], device=device),
        backprop.randn(3, device=device),
        backprop.rand(3, device=device),
        backprop.randint(0, 5, (3,), device=device),
        backprop.randperm(6, device=device),
    ]
    assert all(t.device == backprop.device("cuda", 0) for t in made)
    assert all(t.is_cuda for t in made)
    assert sorted(made[-1].tolist()) == list(range(6))
    x = made[0]
    assert backprop.zeros_like(x).device.type == "cuda" and backprop.randn_like(x).device.type == "cuda"
    assert x.new_zeros(2).device.type == "cuda" and x.new_full((1,), 3.0).device.type == "cuda"
    with backprop.device(device):
        assert backprop.zeros(2).is_cuda and backprop.tensor([1, 2]).is_cuda and backprop.randn(2).is_cuda
        assert backprop.zeros(2, device="cpu").device.type == "cpu"
    assert backprop.zeros(2).device.type == "cpu"
    backprop.set_default_device(device)
    try:
        assert backprop.ones(3).is_cuda and backprop.get_default_device() == backprop.device("cuda", 0)
    finally:
        backprop.set_default_device(None)


def test_moving_tensors_and_their_gradients(device):
    _cuda_only(device)
    x = backprop.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.to(device)
    assert y.is_cuda and y.grad_fn is not None and y.get_device() == 0
    (y * y).sum().backward()
    assert x.grad.device.type == "cpu" and x.grad.tolist() == [2.0, 4.0, 6.0]
    z = y.cpu()
    assert z.device.type == "cpu" and z.tolist() == [1.0, 2.0, 3.0]
    assert y.to(device) is y and y.cuda() is y
    w = y.to(device, copy=True)
    assert w is not y and w.tolist() == y.tolist()
    assert y.to(backprop.float64).is_cuda and y.double().dtype == backprop.float64
    assert backprop.ones(2).to(y).device == y.device
    assert y[0].item() == 1.0 and y.tolist() == [1.0, 2.0, 3.0]


def test_numpy_of_a_cuda_tensor_raises_like_torch(device):
    _cuda_only(device)
    x = backprop.ones(2, device=device)
    with pytest.raises(TypeError, match=r"can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu\(\)"):
        x.numpy()
    with pytest.raises(TypeError):
        np.asarray(x)
    assert x.cpu().numpy().tolist() == [1.0, 1.0]


def test_mixing_devices_raises_and_cpu_scalars_join(device):
    _cuda_only(device)
    a = backprop.ones(3, device=device)
    b = backprop.ones(3)
    for op in (lambda: a + b, lambda: b * a, lambda: backprop.cat([a, b]), lambda: a @ b, lambda: backprop.where(a > 0, a, b)):
        with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu"):
            op()
    s = backprop.tensor(2.0, requires_grad=True)  # a 0-d CPU tensor mixes with CUDA tensors, as in torch
    w = backprop.ones(3, device=device, requires_grad=True)
    out = (w * s + 1.5).sum()
    assert out.is_cuda
    out.backward()
    assert s.grad.device.type == "cpu" and s.grad.item() == 3.0
    assert w.grad.is_cuda and w.grad.tolist() == [2.0, 2.0, 2.0]
    a.add_(backprop.tensor(1.0))
    assert a.tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(RuntimeError, match="same device"):
        a.add_(b)


def test_module_to_device_moves_everything_and_trains_like_the_cpu(device):
    _cuda_only(device)
    backprop.manual_seed(0)
    cpu_model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    gpu_model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    gpu_model.load_state_dict(cpu_model.state_dict())
    opt_before = backprop.optim.SGD(gpu_model.parameters(), lr=0.1, momentum=0.9)  # built before the move, as torch allows
    params_before = list(gpu_model.parameters())
    assert gpu_model.to(device) is gpu_model
    assert all(p.is_cuda for p in gpu_model.parameters()) and all(b.is_cuda for b in gpu_model.buffers())
    assert [id(p) for p in gpu_model.parameters()] == [id(p) for p in params_before]
    opt_cpu = backprop.optim.SGD(cpu_model.parameters(), lr=0.1, momentum=0.9)
    x = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 3, 16)
    for _ in range(3):
        for model, opt, dev in ((cpu_model, opt_cpu, "cpu"), (gpu_model, opt_before, device)):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(backprop.tensor(x, device=dev)), backprop.tensor(y, device=dev))
            loss.backward()
            opt.step()
    for (name, p), q in zip(cpu_model.state_dict().items(), gpu_model.state_dict().values()):
        assert q.is_cuda, name
        np.testing.assert_allclose(q.cpu().numpy(), p.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
    assert all(p.grad.is_cuda for p in gpu_model.parameters())
    gpu_model.cpu()
    assert all(p.device.type == "cpu" and p.grad.device.type == "cpu" for p in gpu_model.parameters())


def test_cuda_generators_are_seeded_reproducible_and_restorable(device):
    _cuda_only(device)
    backprop.manual_seed(123)
    first = backprop.randn(1000, device=device)
    second = backprop.rand(5, device=device)
    backprop.manual_seed(123)
    assert backprop.randn(1000, device=device).tolist() == first.tolist()
    state = backprop.cuda.get_rng_state()
    again = backprop.rand(5, device=device)
    assert again.tolist() == second.tolist()
    backprop.cuda.set_rng_state(state)
    assert backprop.rand(5, device=device).tolist() == second.tolist()
    values = first.cpu().numpy().astype(np.float64)
    assert abs(values.mean()) < 0.1 and abs(values.std() - 1) < 0.1
    u = backprop.rand(100000, device=device).cpu().numpy()
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.01
    g = backprop.Generator(device=device).manual_seed(7)
    a = backprop.rand(3, generator=g, device=device)
    assert a.is_cuda and backprop.rand(3, generator=backprop.Generator(device=device).manual_seed(7), device=device).tolist() == a.tolist()
    with pytest.raises(RuntimeError, match="Expected a 'cuda' device type for generator but found 'cpu'"):
        backprop.rand(3, generator=backprop.Generator(), device=device)
    d = nn.functional.dropout(backprop.ones(10000, device=device), 0.25)
    kept = (d.cpu().numpy() != 0).mean()
    assert d.is_cuda and abs(kept - 0.75) < 0.03


def test_segment_max_min_and_sum_are_exact_on_every_device(device):
    """``Backend.reduceat`` (embedding_bag's bags) equals NumPy's reduceat: max and min bit for
    bit in float64 too (a segmented scan, not atomics that round through float32)."""
    from backprop._backend import backend_for

    backend = backend_for(device)
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        values = (rng.standard_normal((11, 3)) - 1.5).astype(dtype)
        starts = np.array([0, 2, 3, 7, 10])
        arr = backend.asarray(values)
        for name in ("maximum", "minimum", "add"):
            got = backend.to_host(backend.reduceat(name, arr, backend.asarray(starts), 0))
            want = getattr(np, name).reduceat(values, starts, axis=0)
            if name == "add":  # summation order may differ by an ulp
                np.testing.assert_allclose(got, want, rtol=1e-12 if dtype == np.float64 else 1e-6, err_msg=f"add {dtype}")
            else:
                np.testing.assert_array_equal(got, want, err_msg=f"{name} {dtype}")


def test_scalar_operands_keep_their_sign_and_generators_their_device(device):
    _cuda_only(device)
    x = backprop.ones(3, device=device)
    assert (1 / (x * 0.0)).tolist() == [np.inf] * 3
    assert (1 / (x * -0.0)).tolist() == [-np.inf] * 3  # -0.0 is not the cached 0.0
    assert np.isnan((x * float("nan")).cpu().numpy()).all()
    cuda_gen = backprop.Generator(device=device)
    with pytest.raises(RuntimeError, match="Expected a 'cpu' device type for generator but found 'cuda'"):
        backprop.rand(3, generator=cuda_gen)
    with pytest.raises(RuntimeError, match="Invalid device, must be cuda device"):
        x.cuda(device="cpu")
    assert x.type() == "backprop.cuda.FloatTensor" and x.cpu().type() == "backprop.FloatTensor"
    assert x.to("cuda") is x and x.to("cuda:0") is x


def test_cuda_memory_and_module_state_on_the_device(device):
    _cuda_only(device)
    model = nn.Linear(3, 2).to(device)
    sd = model.state_dict()
    assert all(v.is_cuda for v in sd.values())
    cpu_copy = nn.Linear(3, 2)
    cpu_copy.load_state_dict(sd)  # CUDA values load into a CPU model, as in torch
    assert all(p.device.type == "cpu" for p in cpu_copy.parameters())
    np.testing.assert_array_equal(cpu_copy.weight.detach().numpy(), model.weight.detach().cpu().numpy())


# ---------------------------------------------------------------------------- real GPU only
@gpu
def test_cuda_philox_kernel_equals_the_cpu_reference():
    from backprop._backend import backend_for

    kernels = backend_for("cuda").kernels
    for seed, offset, n in ((0, 0, 4), (123456789012345, 77, 1001), (2**64 - 1, 2**40, 4096)):
        got = kernels.philox_uint32(seed, offset, n).get()
        np.testing.assert_array_equal(got, kernel_reference.philox_uint32(seed, offset, n))


@gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_kernels_match_their_numpy_references(dtype):
    """Every fused CUDA kernel against tests/kernel_reference.py on random data."""
    import cupy

    from backprop._backend import backend_for

    k = backend_for("cuda").kernels
    rng = np.random.default_rng(0)
    tol = {"rtol": 3e-5, "atol": 3e-6} if dtype == "float32" else {"rtol": 1e-11, "atol": 1e-12}
    dev = cupy.asarray

    def close(got, ref, what):
        np.testing.assert_allclose(got.get(), ref, err_msg=what, **tol)

    x = (rng.standard_normal(20001) * 3).astype(dtype)
    g = rng.standard_normal(20001).astype(dtype)
    for approx in ("none", "tanh"):
        close(k.gelu_forward(dev(x), approx)[0], kernel_reference.gelu_forward(x, approx)[0], f"gelu {approx}")
        close(k.gelu_backward(dev(x), None, dev(g), approx), kernel_reference.gelu_backward(x, None, g, approx), f"gelu' {approx}")
    for shape, dim in (((7, 33), -1), ((5, 1000), 1), ((3, 4, 300), 2), ((6, 5, 9), 1), ((2, 1), -1)):
        a = (rng.standard_normal(shape) * 4).astype(dtype)
        ga = rng.standard_normal(shape).astype(dtype)
        for log in (False, True):
            y = k.softmax_forward(dev(a), dim, log)
            close(y, kernel_reference.softmax_forward(a, dim, log), f"softmax {shape} {dim} log={log}")
            close(k.softmax_backward(y, dev(ga), dim, log), kernel_reference.softmax_backward(y.get(), ga, dim, log), f"softmax' {shape}")
    scores = (rng.standard_normal((2, 3, 6, 6)) * 2).astype(dtype)
    close(k.softmax_forward(dev(scores), -1, False, True, True), kernel_reference.softmax_forward(scores, -1, False, True, True), "causal")
    masked = np.full((2, 5), -np.inf, dtype=dtype)
    masked[1, :2] = 1.0
    close(k.softmax_forward(dev(masked), -1, False, True), kernel_reference.softmax_forward(masked, -1, False, True), "safe rows")
    for rows, cols in ((64, 384), (3, 1000), (17, 5)):
        a = rng.standard_normal((rows, cols)).astype(dtype)
        ga = rng.standard_normal((rows, cols)).astype(dtype)
        w, b = rng.standard_normal(cols).astype(dtype), rng.standard_normal(cols).astype(dtype)
        for rms, weight, bias in ((False, w, b), (False, None, None), (True, w, None)):
            out, mean, invstd = k.norm_rows_forward(dev(a), None if weight is None else dev(weight), None if bias is None else dev(bias), 1e-5, rms)
            ref = kernel_reference.norm_rows_forward(a, weight, bias, 1e-5, rms)
            close(out, ref[0], f"norm {rows}x{cols} rms={rms}")
            close(mean, ref[1], "mean")
            close(invstd, ref[2], "invstd")
            gx, gxhat = k.norm_rows_backward(dev(a), None if weight is None else dev(weight), dev(ga), mean, invstd, rms, True, True)
            rgx, rgxhat = kernel_reference.norm_rows_backward(a, weight, ga, mean.get(), invstd.get(), rms, True, True)
            close(gx, rgx, f"norm' {rows}x{cols} rms={rms}")
            close(gxhat, rgxhat, "g * xhat")
    for decoupled, maximize, wd in ((False, False, 0.0), (True, False, 0.1), (False, True, 0.01)):
        p, gr, m, v = (rng.standard_normal(1000).astype(dtype) for _ in range(4))
        v = np.abs(v)
        dp, dm, dv = dev(p), dev(m), dev(v)
        k.adam_step(dp, dev(gr), dm, dv, 1e-3, 0.9, 0.999, 1e-8, wd, 0.19, 0.0447, decoupled, maximize)
        kernel_reference.adam_step(p, gr, m, v, 1e-3, 0.9, 0.999, 1e-8, wd, 0.19, 0.0447, decoupled, maximize)
        close(dp, p, "adam p")
        close(dm, m, "adam m")
        close(dv, v, "adam v")
    for momentum, nesterov, first in ((0.0, False, False), (0.9, False, True), (0.9, True, False)):
        p, gr, buf = (rng.standard_normal(1000).astype(dtype) for _ in range(3))
        dp, dbuf = dev(p), dev(buf)
        k.sgd_step(dp, dev(gr), dbuf if momentum else None, 0.1, momentum, 0.0, 1e-4, nesterov, False, first)
        kernel_reference.sgd_step(p, gr, buf if momentum else None, 0.1, momentum, 0.0, 1e-4, nesterov, False, first)
        close(dp, p, f"sgd p momentum={momentum}")
        if momentum:
            close(dbuf, buf, "sgd buf")
    for p in (0.0, 0.1, 0.5):
        mask = k.dropout_mask(99, 1234, (7, 129), p, np.dtype(dtype)).get()
        np.testing.assert_array_equal(mask, kernel_reference.dropout_mask(99, 1234, (7, 129), p, dtype))


@gpu
def test_cuda_memory_statistics_events_and_properties():
    backprop.cuda.synchronize()
    backprop.cuda.empty_cache()
    base = backprop.cuda.memory_allocated()
    x = backprop.empty(1 << 20, device="cuda")  # 4 MiB
    assert backprop.cuda.memory_allocated() >= base + 4 * 2**20
    backprop.cuda.reset_peak_memory_stats()
    peak0 = backprop.cuda.max_memory_allocated()
    y = backprop.empty(1 << 21, device="cuda")
    assert backprop.cuda.max_memory_allocated() >= peak0 + 8 * 2**20
    del x, y
    assert backprop.cuda.memory_reserved() >= backprop.cuda.memory_allocated()
    start, end = backprop.cuda.Event(enable_timing=True), backprop.cuda.Event(enable_timing=True)
    start.record()
    a = backprop.randn(2048, 2048, device="cuda")
    for _ in range(5):
        a = a @ a * 1e-3
    end.record()
    end.synchronize()
    assert start.elapsed_time(end) > 0 and end.query()
    name = backprop.cuda.get_device_name()
    assert isinstance(name, str) and name
    major, minor = backprop.cuda.get_device_capability()
    assert major >= 3 and minor >= 0 and backprop.cuda.is_tf32_supported() == (major >= 8)
    assert backprop.cuda.is_bf16_supported() is False  # backprop's CUDA tensors have no bfloat16
    assert backprop.accelerator.is_available() and backprop.accelerator.current_accelerator() == backprop.device("cuda")


@gpu
def test_a_training_step_never_waits_on_the_host():
    """CuPy raises DeviceSynchronized for any host wait inside ``allow_synchronize(False)``:
    forward, loss, backward and the optimizer step of a small GPT-style block must queue work
    only. (Reading the loss afterwards is the one wait, outside the block.)"""
    import cupyx

    backprop.manual_seed(0)
    layer = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.1, batch_first=True, norm_first=True).to("cuda")
    head = nn.Linear(64, 10).to("cuda")
    params = list(layer.parameters()) + list(head.parameters())
    opt = backprop.optim.AdamW(params, lr=1e-3)
    x = backprop.randn(8, 16, 64, device="cuda")
    y = backprop.randint(0, 10, (8 * 16,), device="cuda")
    for _ in range(2):  # the first step allocates state and compiles kernels
        opt.zero_grad()
        loss = nn.functional.cross_entropy(head(layer(x)).reshape(-1, 10), y)
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    with cupyx.allow_synchronize(False):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(head(layer(x)).reshape(-1, 10), y)
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    assert np.isfinite(loss.item())


@gpu
def test_torch_cuda_tensors_exchange_with_dlpack():
    if not torch.cuda.is_available():
        pytest.skip("torch here has no CUDA")
    t = torch.arange(6, dtype=torch.float32, device="cuda")
    b = backprop.from_dlpack(t)
    assert b.is_cuda and b.tolist() == list(range(6))
    b.mul_(2)
    assert t.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]  # shared memory
    back = torch.from_dlpack(backprop.ones(3, device="cuda"))
    assert back.is_cuda and back.tolist() == [1.0, 1.0, 1.0]
