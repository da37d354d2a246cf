"""Mixed precision (``backprop.amp``: autocast, GradScaler) against torch 2.13's CPU autocast and GradScaler.

Per op: the output dtype and (loosely) the values under ``autocast("cpu")`` (bfloat16) match
torch's; gradients of small MLP / conv / Transformer models come back in each leaf's dtype with
torch's values; GradScaler's scale evolution, skipped steps and errors match torch's; a
nanoGPT-style training loop gives torch's losses. CUDA autocast (float16, CUDA's lists) runs on
the fake-cuda device.
"""

from __future__ import annotations

import contextlib
import pickle
import threading
import warnings

import numpy as np
import pytest
import torch

import backprop
import fake_cuda

RNG = np.random.default_rng(0)


def _f32(*shape):
    return RNG.standard_normal(shape).astype("float32")


A, B, V = _f32(3, 4), _f32(4, 5), _f32(4)
_M = _f32(4, 4)
S = _M @ _M.T + 4 * np.eye(4, dtype="float32")
B3, C3 = _f32(2, 3, 4), _f32(2, 4, 5)
X4, W4 = _f32(2, 3, 6, 6), _f32(4, 3, 3, 3)
X3, W3 = _f32(2, 3, 7), _f32(4, 3, 3)
P = RNG.uniform(0.1, 0.9, (3, 4)).astype("float32")
BIL = _f32(2, 4, 4)
LABELS = np.array([0, 1, 3])

# name -> f(lib, t) where t makes a float32 tensor of lib from a NumPy array
OPS = {
    "matmul": lambda lib, t: lib.matmul(t(A), t(B)),
    "matmul_operator": lambda lib, t: t(A) @ t(B),
    "mm": lambda lib, t: lib.mm(t(A), t(B)),
    "bmm": lambda lib, t: lib.bmm(t(B3), t(C3)),
    "addmm": lambda lib, t: lib.addmm(t(np.ones((3, 5), "float32")), t(A), t(B)),
    "baddbmm": lambda lib, t: lib.baddbmm(t(np.ones((2, 3, 5), "float32")), t(B3), t(C3)),
    "addbmm": lambda lib, t: lib.addbmm(t(np.ones((3, 5), "float32")), t(B3), t(C3)),
    "addmv": lambda lib, t: lib.addmv(t(np.ones(3, "float32")), t(A), t(V)),
    "addr": lambda lib, t: lib.addr(t(np.ones((3, 4), "float32")), t(np.ones(3, "float32")), t(V)),
    "mv": lambda lib, t: lib.mv(t(A), t(V)),
    "dot": lambda lib, t: lib.dot(t(V), t(V)),
    "einsum": lambda lib, t: lib.einsum("ij,jk->ik", t(A), t(B)),
    "tensordot": lambda lib, t: lib.tensordot(t(A), t(B), dims=1),
    "multi_dot": lambda lib, t: lib.linalg.multi_dot([t(A), t(B), t(B.T.copy())]),
    "vecdot": lambda lib, t: lib.linalg.vecdot(t(A), t(A)),
    "linear": lambda lib, t: lib.nn.functional.linear(t(A), t(B.T.copy()), t(np.ones(5, "float32"))),
    "conv1d": lambda lib, t: lib.nn.functional.conv1d(t(X3), t(W3)),
    "conv2d": lambda lib, t: lib.nn.functional.conv2d(t(X4), t(W4), padding=1),
    "conv_transpose2d": lambda lib, t: lib.nn.functional.conv_transpose2d(t(X4), t(W4.transpose(1, 0, 2, 3).copy())),
    "prelu": lambda lib, t: lib.nn.functional.prelu(t(A), t(np.array([0.25], "float32"))),
    "sdpa": lambda lib, t: lib.nn.functional.scaled_dot_product_attention(t(B3), t(B3), t(B3), is_causal=True),
    "softmax": lambda lib, t: lib.softmax(t(A), -1),
    "log_softmax_method": lambda lib, t: t(A).log_softmax(-1),
    "layer_norm": lambda lib, t: lib.nn.functional.layer_norm(t(A), (4,)),
    "group_norm": lambda lib, t: lib.nn.functional.group_norm(t(X4), 3),
    "cross_entropy": lambda lib, t: lib.nn.functional.cross_entropy(t(A), lib.tensor(LABELS)),
    "cross_entropy_of_matmul": lambda lib, t: lib.nn.functional.cross_entropy(t(A) @ t(S), lib.tensor(LABELS)),
    "nll_loss": lambda lib, t: lib.nn.functional.nll_loss(t(A), lib.tensor(LABELS)),
    "mse_loss": lambda lib, t: lib.nn.functional.mse_loss(t(A) @ t(S), t(A)),
    "l1_loss": lambda lib, t: lib.nn.functional.l1_loss(t(A), t(A * 0.5)),
    "binary_cross_entropy": lambda lib, t: lib.nn.functional.binary_cross_entropy(t(P), t(P)),
    "bce_with_logits": lambda lib, t: lib.nn.functional.binary_cross_entropy_with_logits(t(A), t(P)),
    "kl_div": lambda lib, t: lib.nn.functional.kl_div(t(A), t(P), reduction="batchmean"),
    "sum": lambda lib, t: lib.sum(t(A)),
    "prod": lambda lib, t: lib.prod(t(P)),
    "cumsum": lambda lib, t: lib.cumsum(t(A), 0),
    "exp": lambda lib, t: lib.exp(t(A)),
    "pow": lambda lib, t: lib.pow(t(P), 2),
    "norm": lambda lib, t: lib.norm(t(A)),
    "vector_norm": lambda lib, t: lib.linalg.vector_norm(t(A)),
    "cat_mixed": lambda lib, t: lib.cat([t(A) @ t(S), t(A)]),
    "stack_mixed": lambda lib, t: lib.stack([t(A), t(A) @ t(S)]),
    "cat_lower": lambda lib, t: lib.cat([t(A) @ t(S), t(A) @ t(S)]),
    "cdist": lambda lib, t: lib.cdist(t(A), t(A)),
    "trace": lambda lib, t: lib.trace(t(S)),
    "inverse": lambda lib, t: lib.inverse(t(S)),
    "linalg.inv": lambda lib, t: lib.linalg.inv(t(S)),
    "linalg.solve": lambda lib, t: lib.linalg.solve(t(S), t(V)),
    "linalg.cholesky": lambda lib, t: lib.linalg.cholesky(t(S)),
    "linalg.svdvals": lambda lib, t: lib.linalg.svdvals(t(A)),
    "linalg.eigvalsh": lambda lib, t: lib.linalg.eigvalsh(t(S)),
    "pinverse": lambda lib, t: lib.pinverse(t(A)),
    "linalg.det": lambda lib, t: lib.linalg.det(t(S)),
    "fft.rfft": lambda lib, t: lib.fft.rfft(t(A)),
    "quantile": lambda lib, t: lib.quantile(t(A), 0.3),
    "relu_of_matmul": lambda lib, t: lib.relu(t(A) @ t(S)),
    "gelu": lambda lib, t: lib.nn.functional.gelu(t(A)),
    "mean_of_matmul": lambda lib, t: lib.mean(t(A) @ t(S)),
    "max_pool2d": lambda lib, t: lib.nn.functional.max_pool2d(t(X4), 2),
    "interpolate": lambda lib, t: lib.nn.functional.interpolate(t(X4), scale_factor=2),
    "cosine_similarity": lambda lib, t: lib.nn.functional.cosine_similarity(t(A), t(A)),
    "normalize": lambda lib, t: lib.nn.functional.normalize(t(A)),
    "bilinear": lambda lib, t: lib.nn.functional.bilinear(t(A), t(A), t(BIL)),
    "logsumexp": lambda lib, t: lib.logsumexp(t(A), 1),
    "layer_norm_of_matmul": lambda lib, t: lib.nn.functional.layer_norm(t(A) @ t(S), (4,)),
    "float64_matmul": lambda lib, t: lib.matmul(t(A).double(), t(B).double()),
    "explicit_dtype_sum": lambda lib, t: lib.sum(t(A) @ t(S), dtype=lib.float64),
}

X5, W5, WT1, WT3 = _f32(1, 2, 4, 4, 4), _f32(3, 2, 3, 3, 3), _f32(3, 2, 3), _f32(2, 3, 2, 2, 2)
GRID = RNG.uniform(-1, 1, (2, 3, 3, 2)).astype("float32")
SIG = _f32(64)
SIGN = np.sign(A).astype("float32")
MHA_IN, MHA_W, MHA_B, MHA_OW, MHA_OB = _f32(3, 2, 4), _f32(12, 4), _f32(12), _f32(4, 4), _f32(4)
NORM_W, NORM_B, X4C = _f32(4), _f32(4), _f32(2, 4, 3, 3)


def _bf16(lib, t, a):
    return t(a).to(lib.bfloat16)


OPS.update(
    {
        "conv3d": lambda lib, t: lib.nn.functional.conv3d(t(X5), t(W5)),
        "conv_transpose1d": lambda lib, t: lib.nn.functional.conv_transpose1d(t(X3), t(WT1)),
        "conv_transpose3d": lambda lib, t: lib.nn.functional.conv_transpose3d(t(X5), t(WT3)),
        "avg_pool3d": lambda lib, t: lib.nn.functional.avg_pool3d(t(X5), 2),
        "max_pool3d": lambda lib, t: lib.nn.functional.max_pool3d(t(X5), 2),
        "adaptive_avg_pool3d": lambda lib, t: lib.nn.functional.adaptive_avg_pool3d(t(X5), 2),
        "grid_sample": lambda lib, t: lib.nn.functional.grid_sample(t(X4), t(GRID), align_corners=False),
        "pad_reflect": lambda lib, t: lib.nn.functional.pad(t(X4), (1, 1, 1, 1), mode="reflect"),
        "huber_loss": lambda lib, t: lib.nn.functional.huber_loss(t(A), t(P)),
        "smooth_l1_loss": lambda lib, t: lib.nn.functional.smooth_l1_loss(t(A), t(P)),
        "soft_margin_loss": lambda lib, t: lib.nn.functional.soft_margin_loss(t(A), t(SIGN)),
        "triplet_margin_loss": lambda lib, t: lib.nn.functional.triplet_margin_loss(t(A), t(P), t(A * 2)),
        "multi_margin_loss": lambda lib, t: lib.nn.functional.multi_margin_loss(t(A), lib.tensor(np.array([0, 1, 2]))),
        "hinge_embedding_loss": lambda lib, t: lib.nn.functional.hinge_embedding_loss(t(A), t(SIGN)),
        "poisson_nll_loss": lambda lib, t: lib.nn.functional.poisson_nll_loss(t(A), t(P)),
        "cholesky_solve": lambda lib, t: lib.cholesky_solve(t(A.T.copy()), lib.linalg.cholesky(t(S))),
        "linalg.qr": lambda lib, t: lib.linalg.qr(t(S))[1],
        "linalg.eigh": lambda lib, t: lib.linalg.eigh(t(S))[0],
        "linalg.lstsq": lambda lib, t: lib.linalg.lstsq(t(S), t(A.T.copy()))[0],
        "linalg.lu_solve": lambda lib, t: lib.linalg.lu_solve(*lib.linalg.lu_factor(t(S)), t(A.T.copy())),
        "index_copy_mixed": lambda lib, t: lib.index_copy(t(A) @ t(S), 0, lib.tensor(np.array([0])), t(A[:1])),
        "stft": lambda lib, t: lib.stft(t(SIG), 16, window=lib.hann_window(16), return_complex=True),
        "fft.irfft": lambda lib, t: lib.fft.irfft(t(A)),
        "mha_forward": lambda lib, t: lib.nn.functional.multi_head_attention_forward(
            t(MHA_IN),
            t(MHA_IN),
            t(MHA_IN),
            4,
            2,
            t(MHA_W),
            t(MHA_B),
            None,
            None,
            False,
            0.0,
            t(MHA_OW),
            t(MHA_OB),
            need_weights=False,
        )[0],
        "inner": lambda lib, t: lib.inner(t(A), t(A)),
        "einsum_outer": lambda lib, t: lib.einsum("i,j->ij", t(V), t(V)),
        "einsum_diagonal": lambda lib, t: lib.einsum("ii->i", t(S)),
        "einsum_elementwise": lambda lib, t: lib.einsum("ij,ij->ij", t(A), t(A)),
        "einsum_implicit_sum": lambda lib, t: lib.einsum("ij,ij", t(A), t(A)),
        "einsum_chain_list": lambda lib, t: lib.einsum("ij,jk,kl->il", [t(A), t(S), t(S)]),
        "tensordot_outer": lambda lib, t: lib.tensordot(t(V), t(V), dims=0),
        "cov": lambda lib, t: lib.cov(t(A)),
        "kron": lambda lib, t: lib.kron(t(A), t(A)),
        "matrix_power": lambda lib, t: lib.linalg.matrix_power(t(S), 2),
        # lower-precision inputs (what a layer after a matmul receives)
        "layer_norm_bf16_input": lambda lib, t: lib.nn.functional.layer_norm(
            _bf16(lib, t, A), (4,), t(NORM_W), t(NORM_B)
        ),
        "group_norm_bf16_input": lambda lib, t: lib.nn.functional.group_norm(
            _bf16(lib, t, X4C), 2, t(NORM_W), t(NORM_B)
        ),
        "rms_norm_bf16_input": lambda lib, t: lib.nn.functional.rms_norm(_bf16(lib, t, A), (4,), t(NORM_W)),
        "softmax_bf16_input": lambda lib, t: _bf16(lib, t, A).softmax(-1),
        "cross_entropy_bf16_input": lambda lib, t: lib.nn.functional.cross_entropy(
            _bf16(lib, t, A), lib.tensor(LABELS)
        ),
        "linear_bf16_input": lambda lib, t: lib.nn.functional.linear(_bf16(lib, t, A), t(A), t(np.ones(3, "float32"))),
        "where_mixed": lambda lib, t: lib.where(t(A) > 0, _bf16(lib, t, A), t(A)),
    }
)


def _dtype_name(dt) -> str:
    return str(dt).split(".")[-1]


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().numpy() if not x.is_complex() else x.detach().numpy()
    return x.detach().float().numpy() if not x.is_complex() else x.detach().numpy()


def _close(ours, theirs, rtol=2e-2, atol_frac=2e-2, what=""):
    a, b = _np(ours), _np(theirs)
    scale = max(float(np.abs(b).max()), 1e-3) if b.size else 1.0
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol_frac * scale, err_msg=what)


@pytest.mark.parametrize("name", sorted(OPS))
def test_cpu_autocast_op_matches_torch(name):
    f = OPS[name]
    with torch.autocast("cpu"):
        theirs = f(torch, lambda a: torch.tensor(a))
    with backprop.autocast("cpu"):
        ours = f(backprop, lambda a: backprop.tensor(a))
    assert _dtype_name(ours.dtype) == _dtype_name(theirs.dtype), name
    _close(ours, theirs, what=name)
    # outside the region: no casts (mixed inputs torch refuses are refused alike)
    try:
        plain_t = f(torch, lambda a: torch.tensor(a))
    except RuntimeError:
        with pytest.raises(RuntimeError):
            f(backprop, lambda a: backprop.tensor(a))
        return
    plain_b = f(backprop, lambda a: backprop.tensor(a))
    assert _dtype_name(plain_b.dtype) == _dtype_name(plain_t.dtype)


def test_bfloat16_inputs_to_float32_ops():
    """Lower-precision inputs to an fp32-list op come out float32; to an unlisted op stay bfloat16."""
    for lib in (torch, backprop):
        x = lib.tensor(A).to(lib.bfloat16)
        with lib.autocast("cpu"):
            assert _dtype_name(lib.nn.functional.mse_loss(x, x).dtype) == "float32"
            assert _dtype_name(lib.relu(x).dtype) == "bfloat16"
            assert _dtype_name(lib.cat([x, x]).dtype) == "bfloat16"
            assert _dtype_name(lib.sum(x).dtype) == "bfloat16"  # sum is on CUDA's float32 list only


def test_nesting_disable_decorator_state():
    a, b = backprop.tensor(A), backprop.tensor(B)
    assert not backprop.is_autocast_enabled("cpu")
    with backprop.autocast("cpu"):
        assert backprop.is_autocast_enabled("cpu") and not backprop.is_autocast_enabled()
        assert backprop.get_autocast_dtype("cpu") is backprop.bfloat16
        with backprop.autocast("cpu", enabled=False):
            assert not backprop.is_autocast_enabled("cpu")
            assert (a @ b).dtype is backprop.float32
        assert (a @ b).dtype is backprop.bfloat16
        with backprop.autocast("cpu", dtype=backprop.float16):
            assert (a @ b).dtype is backprop.float16
    assert (a @ b).dtype is backprop.float32

    @backprop.autocast("cpu")
    def f(x, y):
        return x @ y, backprop.is_autocast_enabled("cpu")

    out, on = f(a, b)
    assert out.dtype is backprop.bfloat16 and on and not backprop.is_autocast_enabled("cpu")
    assert backprop.amp.autocast is backprop.autocast
    assert backprop.get_autocast_dtype("cuda") is backprop.float16
    assert backprop.get_autocast_cpu_dtype() is backprop.bfloat16
    backprop.set_autocast_enabled("cpu", True)
    try:
        assert (a @ b).dtype is backprop.bfloat16 and backprop.is_autocast_cpu_enabled()
    finally:
        backprop.set_autocast_enabled("cpu", False)
    assert (a @ b).dtype is backprop.float32
    assert backprop.autocast_increment_nesting() == 1 and backprop.autocast_decrement_nesting() == 0


def test_autocast_is_per_thread():
    seen = []
    a, b = backprop.tensor(A), backprop.tensor(B)
    with backprop.autocast("cpu"):
        t = threading.Thread(target=lambda: seen.append(((a @ b).dtype, backprop.is_autocast_enabled("cpu"))))
        t.start()
        t.join()
    assert seen == [(backprop.float32, False)]


def test_weight_cast_cache():
    """A float32 leaf weight used twice in a region is cast once; the cache empties on exit."""
    from backprop._autocast import state

    w = backprop.nn.Parameter(backprop.tensor(B))
    x = backprop.tensor(A)
    with backprop.autocast("cpu"):
        y = x @ w + x @ w
        assert len(state.cache) == 1
    assert not state.cache
    y.float().sum().backward()
    with torch.autocast("cpu"):
        wt = torch.nn.Parameter(torch.tensor(B))
        yt = torch.tensor(A) @ wt + torch.tensor(A) @ wt
    yt.float().sum().backward()
    assert w.grad.dtype is backprop.float32
    _close(w.grad, wt.grad)


def test_bad_arguments_as_torch():
    with pytest.raises(ValueError, match="Expected `device_type` of type `str`"):
        backprop.autocast(1)
    with pytest.raises(RuntimeError, match="device type at start of device string: xyz"):
        backprop.autocast("xyz")
    with pytest.warns(UserWarning, match="CPU Autocast only supports dtypes of torch.bfloat16, torch.float16"):
        region = backprop.autocast("cpu", dtype=backprop.float32)
    with region:
        assert not backprop.is_autocast_enabled("cpu")
    assert backprop.amp.is_autocast_available("cpu") and backprop.amp.is_autocast_available("cuda")
    assert backprop.amp.is_autocast_available("cuda:0")


def test_deprecated_spellings_warn_as_torch():
    with pytest.warns(FutureWarning, match=r"torch.cpu.amp.autocast\(args...\)` is deprecated"):
        region = backprop.cpu.amp.autocast()
    with region:
        assert backprop.is_autocast_enabled("cpu")
    if not backprop.cuda.is_available():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            backprop.cuda.amp.autocast()
            scaler = backprop.cuda.amp.GradScaler()
        kinds = [(w.category, str(w.message)) for w in caught]
        assert kinds[0][0] is FutureWarning and "torch.cuda.amp.autocast(args...)" in kinds[0][1]
        assert kinds[1] == (UserWarning, "CUDA is not available or torch_xla is imported. Disabling autocast.")
        assert kinds[2][0] is FutureWarning and "torch.cuda.amp.GradScaler(args...)" in kinds[2][1]
        assert kinds[3] == (UserWarning, "torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.")
        assert not scaler.is_enabled() and scaler.state_dict() == {}
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # enabled=False: no warning about CUDA
            assert not backprop.amp.GradScaler("cuda", enabled=False).is_enabled()


# ----------------------------------------------------------------------------- models: forward + grads
def _copy_weights(tmodel, bmodel):
    bmodel.load_state_dict({k: backprop.tensor(v.detach().numpy().copy()) for k, v in tmodel.state_dict().items()})


def _mlp(lib):
    return lib.nn.Sequential(lib.nn.Linear(8, 16), lib.nn.GELU(), lib.nn.LayerNorm(16), lib.nn.Linear(16, 4))


def _conv(lib):
    return lib.nn.Sequential(
        lib.nn.Conv2d(3, 4, 3, padding=1),
        lib.nn.ReLU(),
        lib.nn.MaxPool2d(2),
        lib.nn.Flatten(),
        lib.nn.Linear(4 * 3 * 3, 4),
    )


def _transformer(lib):
    return lib.nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, batch_first=True)


MODELS = {
    "mlp": (_mlp, lambda: _f32(5, 8)),
    "conv": (_conv, lambda: _f32(2, 3, 6, 6)),
    "transformer": (_transformer, lambda: _f32(2, 5, 8)),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_step_matches_torch(name):
    build, data = MODELS[name]
    torch.manual_seed(0)
    tm = build(torch)
    bm = build(backprop)
    _copy_weights(tm, bm)
    x = data()
    with torch.autocast("cpu"):
        yt = tm(torch.tensor(x))
        lt = yt.float().pow(2).mean()
    with backprop.autocast("cpu"):
        yb = bm(backprop.tensor(x))
        lb = yb.float().pow(2).mean()
    assert _dtype_name(yb.dtype) == _dtype_name(yt.dtype)
    lt.backward()
    lb.backward()
    _close(lb, lt, rtol=3e-2)
    for (k, pt), (_, pb) in zip(tm.named_parameters(), bm.named_parameters()):
        assert pb.grad.dtype is backprop.float32, k
        _close(pb.grad, pt.grad, rtol=5e-2, atol_frac=5e-2, what=k)


def test_backward_inside_region_keeps_forward_dtypes():
    """A backward called inside the region runs in the dtypes forward used (autocast does not recast it)."""
    w = backprop.nn.Parameter(backprop.tensor(B))
    x = backprop.tensor(A)
    with backprop.autocast("cpu"):
        loss = backprop.nn.functional.cross_entropy(x @ w, backprop.tensor(np.array([0, 1, 4])))
        (g,) = backprop.autograd.grad(loss, w, create_graph=True)
    assert g.dtype is backprop.float32
    wt = torch.nn.Parameter(torch.tensor(B))
    with torch.autocast("cpu"):
        lt = torch.nn.functional.cross_entropy(torch.tensor(A) @ wt, torch.tensor([0, 1, 4]))
        (gt,) = torch.autograd.grad(lt, wt, create_graph=True)
    _close(g, gt, rtol=5e-2, atol_frac=5e-2)


# ----------------------------------------------------------------------------- CUDA autocast (fake-cuda)
@contextlib.contextmanager
def _fake_cuda():
    fake_cuda.install()
    try:
        yield
    finally:
        fake_cuda.uninstall()


def test_cuda_autocast_float16_on_fake_cuda():
    """device_type='cuda': float16 by default and CUDA's lists (softmax, exp, sum... in float32)."""
    with _fake_cuda():
        a, b = backprop.tensor(A, device="cuda"), backprop.tensor(B, device="cuda")
        s = backprop.tensor(S, device="cuda")
        with backprop.autocast("cuda"):
            assert backprop.is_autocast_enabled() and backprop.is_autocast_enabled("cuda")
            h = a @ s
            out = {
                "matmul": h,
                "linear": backprop.nn.functional.linear(a, b.T),
                "mv": backprop.mv(a, backprop.tensor(V, device="cuda")),
                "softmax": h.softmax(-1),
                "exp": h.exp(),
                "sum": h.sum(),
                "layer_norm": backprop.nn.functional.layer_norm(h, (4,)),
                "cat": backprop.cat([h, a]),
                "relu": backprop.relu(h),
                "cpu_matmul": backprop.tensor(A) @ backprop.tensor(B),  # CPU tensors: CPU autocast is off
            }
        expect = {"matmul": "float16", "linear": "float16", "mv": "float16", "softmax": "float32", "exp": "float32",
                  "sum": "float32", "layer_norm": "float32", "cat": "float32", "relu": "float16", "cpu_matmul": "float32"}  # fmt: skip
        assert {k: _dtype_name(v.dtype) for k, v in out.items()} == expect
        assert out["matmul"].device.type == "cuda"
        ref = torch.tensor(A).half() @ torch.tensor(S).half()
        _close(out["matmul"].cpu(), ref, rtol=1e-2)
        _close(out["softmax"].cpu(), ref.float().softmax(-1), rtol=1e-2)
        # gradients come back in the leaves' dtype, on the device
        w = backprop.nn.Parameter(backprop.tensor(B, device="cuda"))
        with backprop.autocast("cuda"):
            loss = backprop.nn.functional.cross_entropy(a @ w, backprop.tensor(np.array([0, 1, 4]), device="cuda"))
        loss.backward()
        assert loss.dtype is backprop.float32 and w.grad.dtype is backprop.float32 and w.grad.device.type == "cuda"
        p = backprop.tensor(P, device="cuda")
        with (
            backprop.autocast("cuda"),
            pytest.raises(RuntimeError, match="binary_cross_entropy and torch.nn.BCELoss are unsafe to autocast"),
        ):
            backprop.nn.functional.binary_cross_entropy(p, p)
        assert backprop.nn.functional.binary_cross_entropy(p, p).dtype is backprop.float32  # outside: fine
        with backprop.autocast("cuda"):  # the CUDA float32 list: pow, cumsum, norms, losses...
            h16 = a @ s
            for got in (
                h16.pow(2),
                h16**2,
                2**h16,
                1 / h16,
                h16.cumsum(0),
                h16.norm(),
                h16.log_softmax(-1),
                backprop.nn.functional.mse_loss(h16, h16),
            ):
                assert got.dtype is backprop.float32
            assert (
                backprop.stack([h16, a]).dtype is backprop.float32
                and backprop.addcmul(h16, h16, h16).dtype is backprop.float16
            )
        with pytest.warns(FutureWarning):
            region = backprop.cuda.amp.autocast()
        with region:
            assert (a @ b).dtype is backprop.float16


# ----------------------------------------------------------------------------- GradScaler
def _scaler_run(lib, steps, device="cpu", **kw):
    """A run of scale/backward/(unscale_)/step/update with infs injected at some steps; the
    scale, growth tracker, step results and parameters after each step."""
    p = lib.nn.Parameter(lib.tensor(np.array([1.0, -2.0, 3.0], "float32")))
    opt = lib.optim.SGD([p], lr=0.1)
    scaler = lib.amp.GradScaler(device, **kw)
    trace = []
    for i, (bad, unscale_first) in enumerate(steps):
        opt.zero_grad()
        loss = (p * p).sum() * (i + 1)
        scaler.scale(loss).backward()
        if bad:
            with lib.no_grad():
                p.grad[1] = float("inf") if bad == "inf" else float("nan")
        if unscale_first:
            scaler.unscale_(opt)
            lib.nn.utils.clip_grad_norm_([p], 1.0)
        result = scaler.step(opt)
        scaler.update()
        trace.append(
            (
                scaler.get_scale(),
                scaler._get_growth_tracker(),
                result is None,
                p.detach().numpy().copy() if lib is torch else p.detach().numpy().copy(),
            )
        )
    return trace, scaler


def test_grad_scaler_matches_torch():
    steps = [
        (None, False),
        ("inf", False),
        (None, True),
        (None, False),
        (None, False),
        ("nan", True),
        (None, False),
        (None, False),
        (None, False),
    ]
    kw = dict(init_scale=2.0**10, growth_interval=3, growth_factor=4.0, backoff_factor=0.25)
    ours, bs = _scaler_run(backprop, steps, **kw)
    theirs, ts = _scaler_run(torch, steps, **kw)
    for i, (o, t) in enumerate(zip(ours, theirs)):
        assert o[:3] == t[:3], (i, o, t)
        np.testing.assert_allclose(o[3], t[3], rtol=1e-6, atol=1e-7, err_msg=f"step {i}")
    assert bs.state_dict() == ts.state_dict()
    fresh = backprop.amp.GradScaler("cpu")
    fresh.load_state_dict(bs.state_dict())
    assert fresh.get_scale() == bs.get_scale() and fresh._get_growth_tracker() == bs._get_growth_tracker()
    clone = pickle.loads(pickle.dumps(bs))
    assert clone.state_dict() == bs.state_dict()
    assert (bs.get_growth_factor(), bs.get_backoff_factor(), bs.get_growth_interval()) == (4.0, 0.25, 3)


def test_grad_scaler_scale_forms_and_new_scale():
    for lib in (torch, backprop):
        s = lib.amp.GradScaler("cpu")
        assert s.get_scale() == 65536.0 and s.is_enabled()
        out = s.scale([lib.tensor(1.0), (lib.tensor(2.0, dtype=lib.bfloat16),)])
        assert isinstance(out, list) and isinstance(out[1], tuple)
        assert [float(out[0]), float(out[1][0])] == [65536.0, 131072.0]
        assert _dtype_name(out[1][0].dtype) == "float32"
        with pytest.raises(ValueError, match="outputs must be a Tensor or an iterable of Tensors"):
            s.scale(3.0)
        s.update(new_scale=8.0)
        assert s.get_scale() == 8.0
        s.update(new_scale=lib.tensor(2.0))
        assert s.get_scale() == 2.0
        with pytest.raises(RuntimeError):  # the scale is 0-d: a [1]-shaped tensor does not fit
            s.update(new_scale=lib.tensor([4.0]))


def _errors(lib):
    p = lib.nn.Parameter(lib.ones(3))
    opt = lib.optim.SGD([p], lr=0.1)
    found = []

    def attempt(fn):
        try:
            fn()
            found.append(None)
        except (RuntimeError, AssertionError, ValueError) as e:
            found.append((type(e).__name__, str(e)))

    s = lib.amp.GradScaler("cpu")
    attempt(lambda: s.update())
    attempt(lambda: s.unscale_(opt))
    attempt(lambda: s.step(opt, closure=lambda: 0))
    s.scale(lib.tensor(1.0))
    attempt(lambda: s.step(opt))  # no gradients: no inf checks
    s = lib.amp.GradScaler("cpu")
    s.scale((p * p).sum()).backward()
    s.unscale_(opt)
    attempt(lambda: s.unscale_(opt))
    attempt(lambda: s.step(opt))
    attempt(lambda: s.step(opt))
    attempt(lambda: s.unscale_(opt))
    s.update()
    attempt(lambda: s.update())
    attempt(lambda: s.load_state_dict({}))
    attempt(lambda: lib.amp.GradScaler("cpu", growth_factor=1.0))
    attempt(lambda: lib.amp.GradScaler("cpu", backoff_factor=1.0))
    half = lib.nn.Parameter(lib.ones(3, dtype=lib.float16))
    hopt = lib.optim.SGD([half], lr=0.1)
    s = lib.amp.GradScaler("cpu")
    s.scale((half * half).sum()).backward()
    attempt(lambda: s.unscale_(hopt))
    off = lib.amp.GradScaler("cpu", enabled=False)
    t = lib.tensor(2.0)
    found.append((off.scale(t) is t, off.get_scale(), off.state_dict(), off.unscale_(opt), off.update()))
    return found


def test_grad_scaler_errors_as_torch():
    ours, theirs = _errors(backprop), _errors(torch)
    assert ours == theirs


# ----------------------------------------------------------------------------- nanoGPT-style loop
class _Block:
    @staticmethod
    def build(lib, vocab=17, n_embd=16, n_head=2, block=8):
        nn, F = lib.nn, lib.nn.functional

        class Attn(nn.Module):
            def __init__(self):
                super().__init__()
                self.c_attn = nn.Linear(n_embd, 3 * n_embd)
                self.c_proj = nn.Linear(n_embd, n_embd)

            def forward(self, x):
                B, T, C = x.size()
                q, k, v = self.c_attn(x).split(n_embd, dim=2)
                q, k, v = (z.view(B, T, n_head, C // n_head).transpose(1, 2) for z in (q, k, v))
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
                return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))

        class GPT(nn.Module):
            def __init__(self):
                super().__init__()
                self.wte = nn.Embedding(vocab, n_embd)
                self.wpe = nn.Embedding(block, n_embd)
                self.ln_1 = nn.LayerNorm(n_embd)
                self.attn = Attn()
                self.ln_2 = nn.LayerNorm(n_embd)
                self.fc = nn.Linear(n_embd, 4 * n_embd)
                self.proj = nn.Linear(4 * n_embd, n_embd)
                self.ln_f = nn.LayerNorm(n_embd)
                self.lm_head = nn.Linear(n_embd, vocab, bias=False)
                self.wte.weight = self.lm_head.weight

            def forward(self, idx, targets):
                pos = lib.arange(0, idx.size(1), dtype=lib.long, device=idx.device)
                x = self.wte(idx) + self.wpe(pos)
                x = x + self.attn(self.ln_1(x))
                x = x + self.proj(F.gelu(self.fc(self.ln_2(x))))
                logits = self.lm_head(self.ln_f(x))
                return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)

        return GPT()


def _nanogpt(lib, dtype: str, device_type: str = "cpu", steps: int = 4, scaler_device: str | None = None):
    torch.manual_seed(0)
    tmodel = _Block.build(torch)
    model = tmodel if lib is torch else _Block.build(lib)
    if lib is not torch:
        _copy_weights(tmodel, model)
    model = model.to(device_type)
    ptdtype = {"float32": lib.float32, "bfloat16": lib.bfloat16, "float16": lib.float16}[dtype]
    ctx = contextlib.nullcontext() if dtype == "float32" else lib.amp.autocast(device_type=device_type, dtype=ptdtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        if scaler_device is None:
            scaler = lib.cuda.amp.GradScaler(enabled=(dtype == "float16"))
        else:
            scaler = lib.amp.GradScaler(scaler_device, enabled=(dtype == "float16"), init_scale=2.0**8)
    optimizer = lib.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1)
    data = np.random.default_rng(1).integers(0, 17, (steps, 4, 9))
    losses = []
    for i in range(steps):
        X = lib.tensor(data[i, :, :-1]).to(device_type)
        Y = lib.tensor(data[i, :, 1:]).to(device_type)
        with ctx:
            logits, loss = model(X, Y)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        lib.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.item()))
    return losses, logits.dtype


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_nanogpt_loop_matches_torch(dtype):
    ours, odt = _nanogpt(backprop, dtype)
    theirs, tdt = _nanogpt(torch, dtype)
    assert _dtype_name(odt) == _dtype_name(tdt)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4 if dtype == "float32" else 2e-2)


def test_nanogpt_float16_with_grad_scaler_on_fake_cuda():
    """The float16 recipe (autocast on CUDA + an enabled GradScaler) on the fake-cuda device,
    against torch's CPU autocast in float16 with its CPU GradScaler."""
    theirs, _ = _nanogpt(torch, "float16", "cpu", scaler_device="cpu")
    with _fake_cuda():
        ours, odt = _nanogpt(backprop, "float16", "cuda")
    assert odt is backprop.float16
    np.testing.assert_allclose(ours, theirs, rtol=3e-2)


# ----------------------------------------------------------------------------- backends, backprop.cpu, Tensor predicates
def test_backends_submodules_and_flags():
    import backprop.backends.cpu
    import backprop.backends.cuda
    import backprop.backends.cudnn
    import backprop.backends.mkldnn
    import backprop.backends.mps
    import backprop.backends.openmp
    import backprop.backends.opt_einsum  # noqa: F401

    bk = backprop.backends
    assert (bk.cudnn.enabled, bk.cudnn.benchmark, bk.cudnn.deterministic, bk.cudnn.allow_tf32) == (
        torch.backends.cudnn.enabled, torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic, torch.backends.cudnn.allow_tf32,
    )  # fmt: skip
    bk.cudnn.deterministic = True
    with bk.cudnn.flags(enabled=True, benchmark=True, deterministic=False):
        assert bk.cudnn.benchmark and not bk.cudnn.deterministic
    assert bk.cudnn.deterministic and not bk.cudnn.benchmark
    bk.cudnn.deterministic = False
    assert bk.cudnn.version() is None and not bk.cudnn.is_available()
    assert not bk.mps.is_available() and not bk.mps.is_built()
    assert bk.cpu.get_cpu_capability() in ("AVX512", "AVX2", "DEFAULT")
    assert isinstance(bk.openmp.is_available(), bool) and isinstance(bk.mkldnn.is_available(), bool)
    assert bk.opt_einsum.enabled == bk.opt_einsum.is_available()
    m = bk.cuda.matmul
    assert (m.allow_bf16_reduced_precision_reduction, m.allow_fp16_reduced_precision_reduction) == (True, True)
    with pytest.raises(AttributeError, match="Unknown attribute foo"):
        m.foo = 1
    for flag in ("flash", "mem_efficient", "math", "cudnn"):
        assert getattr(bk.cuda, f"{flag}_sdp_enabled")()
    bk.cuda.enable_flash_sdp(False)
    assert not bk.cuda.flash_sdp_enabled()
    bk.cuda.enable_flash_sdp(True)


def test_float32_matmul_precision_and_allow_tf32_as_torch():
    seq = [
        ("set", "high"),
        ("set", "medium"),
        ("tf32", False),
        ("set", "high"),
        ("tf32", False),
        ("tf32", True),
        ("set", "highest"),
    ]
    try:
        for kind, value in seq:
            for lib in (torch, backprop):
                if kind == "set":
                    lib.set_float32_matmul_precision(value)
                else:
                    lib.backends.cuda.matmul.allow_tf32 = value
            assert backprop.backends.cuda.matmul.allow_tf32 == torch.backends.cuda.matmul.allow_tf32, (kind, value)
            if kind == "set":
                assert backprop.get_float32_matmul_precision() == torch.get_float32_matmul_precision() == value
        for value in ("tf32", "ieee", "none"):
            backprop.backends.cuda.matmul.fp32_precision = value
            assert backprop.backends.cuda.matmul.fp32_precision == value
        assert backprop.get_float32_matmul_precision() == "highest"
        backprop.backends.cuda.matmul.fp32_precision = "tf32"
        assert backprop.get_float32_matmul_precision() == "high"
        backprop.backends.cuda.matmul.fp32_precision = "none"
        backprop.set_float32_matmul_precision("highest")
        for value, message in (
            ("bf16", "backend 'cuda' does not support precision 'bf16'"),
            ("xx", "Unknown precision: xx"),
        ):
            for lib in (torch, backprop):
                with pytest.raises(RuntimeError, match=message):
                    lib.backends.cuda.matmul.fp32_precision = value
        assert (backprop.backends.fp32_precision, backprop.backends.cudnn.fp32_precision) == ("none", "none")
        with pytest.warns(UserWarning, match="is not one of 'highest', 'high', or 'medium'"):
            backprop.set_float32_matmul_precision("low")
        assert backprop.get_float32_matmul_precision() == "highest"
    finally:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        backprop.set_float32_matmul_precision("highest")


def test_cpu_module_and_tensor_device_predicates():
    for name in ("is_available", "device_count", "current_device"):
        assert getattr(backprop.cpu, name)() == getattr(torch.cpu, name)()
    backprop.cpu.synchronize()
    t, tt = backprop.ones(2), torch.ones(2)
    for name in ("is_cpu", "is_cuda", "is_xpu", "is_mps", "is_meta", "is_ipu", "is_xla", "is_mtia", "is_maia", "is_vulkan",
                 "is_mkldnn", "is_quantized", "is_sparse", "is_sparse_csr", "is_nested"):  # fmt: skip
        assert getattr(t, name) == getattr(tt, name), name


def _custom_fn_dtypes(lib, cast_inputs):
    class MyMM(lib.autograd.Function):
        @staticmethod
        @lib.amp.custom_fwd(device_type="cpu", cast_inputs=cast_inputs)
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a.mm(b)

        @staticmethod
        @lib.amp.custom_bwd(device_type="cpu")
        def backward(ctx, grad):
            a, b = ctx.saved_tensors
            return grad.mm(b.t()), a.t().mm(grad)

    a = lib.tensor(A).to(lib.bfloat16).requires_grad_()
    b = lib.tensor(B, requires_grad=True)
    with lib.autocast("cpu"):
        out = MyMM.apply(a, b)
    out.float().sum().backward()
    return [_dtype_name(t.dtype) for t in (out, a.grad, b.grad)], out


@pytest.mark.parametrize("cast_inputs", ["float32", None])
def test_custom_fwd_bwd_as_torch(cast_inputs):
    ours, o = _custom_fn_dtypes(backprop, None if cast_inputs is None else backprop.float32)
    theirs, t = _custom_fn_dtypes(torch, None if cast_inputs is None else torch.float32)
    assert ours == theirs
    _close(o, t)


def test_matmul_precision_sets_cupys_compute_type(monkeypatch):
    """On a GPU the precision becomes CuPy's float32 compute type (a stand-in for cupy._core._routines_linalg)."""
    import sys
    import types

    calls = []
    linalg = types.ModuleType("fakecupy._core._routines_linalg")
    linalg.COMPUTE_TYPE_DEFAULT, linalg.COMPUTE_TYPE_BF16, linalg.COMPUTE_TYPE_TF32 = 1, 6, 7
    linalg.set_compute_type = lambda dtype, ct: calls.append((np.dtype(dtype).name, ct))
    for name, mod in (
        ("fakecupy", types.ModuleType("fakecupy")),
        ("fakecupy._core", types.ModuleType("fakecupy._core")),
        ("fakecupy._core._routines_linalg", linalg),
    ):
        monkeypatch.setitem(sys.modules, name, mod)
    xp = sys.modules["fakecupy"]
    cuda_settings = backprop.backends.cuda
    try:
        for precision in ("high", "medium", "highest"):
            backprop.set_float32_matmul_precision(precision)
            cuda_settings.apply_matmul_precision(xp)
    finally:
        backprop.set_float32_matmul_precision("highest")
    assert calls == [("float32", 7), ("float32", 6), ("float32", 1)]


def test_grad_scaler_reads_the_device_once_per_step():
    """On a device, only ``step``'s found-inf check reads a value on the host (torch's one sync)."""
    with _fake_cuda():
        p = backprop.nn.Parameter(backprop.tensor(np.array([1.0, -2.0, 3.0], "float32"), device="cuda"))
        opt = backprop.optim.SGD([p], lr=0.1)
        scaler = backprop.amp.GradScaler("cuda", init_scale=4.0, growth_interval=1)
        for bad in (False, True, False):
            opt.zero_grad()
            with fake_cuda.no_host_sync():
                with backprop.autocast("cuda"):
                    loss = (p * p).sum()
                scaler.scale(loss).backward()
                if bad:
                    p.grad.fill_(float("inf"))
                scaler.unscale_(opt)
            with fake_cuda.no_host_sync(allowed=1):
                scaler.step(opt)
            with fake_cuda.no_host_sync():
                scaler.update()
        assert scaler.get_scale() == 8.0  # grown, backed off, grown (growth_interval=1)


def test_autocast_state_functions_are_torchs():
    names = [n for n in dir(torch) if "autocast" in n and not n.startswith("_")]
    assert [n for n in names if not hasattr(backprop, n)] == []
    names = [n for n in dir(torch.amp) if not n.startswith("_")]
    assert [n for n in names if not hasattr(backprop.amp, n)] == []
    for lib in (torch, backprop):
        lib.set_autocast_xla_enabled(True)
        assert lib.is_autocast_xla_enabled() and _dtype_name(lib.get_autocast_xla_dtype()) == "bfloat16"
        lib.set_autocast_xla_enabled(False)
        assert _dtype_name(lib.get_autocast_ipu_dtype()) == "float16"


def test_grad_scaler_check_inf_per_device():
    for lib in (torch, backprop):
        p = lib.nn.Parameter(lib.ones(2))
        opt = lib.optim.SGD([p], lr=0.1)
        s = lib.amp.GradScaler("cpu")
        s.scale((p * p).sum()).backward()
        flags = s._check_inf_per_device(opt)
        assert [float(v) for v in flags.values()] == [0.0] and float(p.grad[0]) == 131072.0
        p.grad[0] = float("nan")
        assert [float(v) for v in s._check_inf_per_device(opt).values()] == [1.0]
