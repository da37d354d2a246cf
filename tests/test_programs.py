"""Real PyTorch programs, unchanged, on backprop: each ``programs/prog_*.py`` is ordinary PyTorch code
(``import torch``, ``import torch.nn as nn``, ``from torch.nn.parallel import ...``) in the patterns of
well-known public programs (pytorch/examples, nanoGPT). It runs twice -- as written on torch 2.13, and
with its ``torch`` imports pointed at backprop (the only change a user makes) -- and the two runs'
results (losses, outputs) must agree.

Programs take their initial weights from ``reinit(model)``, which loads the same NumPy values, by
state_dict name, into either framework's model (the two frameworks' random initializers differ), and
build their data with NumPy.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import sys
import types
import zlib
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

PROGRAMS = Path(__file__).parent / "programs"

_IMPORT = re.compile(r"^(\s*)import torch((?:\.\w+)*)(\s+as\s+\w+)?\s*$", re.MULTILINE)
_FROM = re.compile(r"^(\s*)from torch((?:\.\w+)*) import ", re.MULTILINE)


def to_backprop(source: str) -> str:
    """``source`` with its torch imports pointed at backprop (``import torch`` -> ``import backprop as
    torch``; ``import torch.nn as nn`` -> ``import backprop.nn as nn``; ``from torch.x import y`` ->
    ``from backprop.x import y``; ``import torch.nn.parallel`` imports backprop's and binds ``torch``)."""

    def _import(m: re.Match) -> str:
        indent, sub, alias = m.group(1), m.group(2), m.group(3)
        if alias:
            return f"{indent}import backprop{sub}{alias}"
        if sub:
            return f"{indent}import backprop{sub}; import backprop as torch"
        return f"{indent}import backprop as torch"

    source = _IMPORT.sub(_import, source)
    return _FROM.sub(lambda m: f"{m.group(1)}from backprop{m.group(2)} import ", source)


def load_program(name: str, framework: str) -> types.ModuleType:
    """Program ``name`` as a fresh module, on ``framework`` ('torch' or 'backprop')."""
    source = (PROGRAMS / f"{name}.py").read_text()
    if framework == "backprop":
        source = to_backprop(source)
    module = types.ModuleType(f"{name}_{framework}")
    module.__file__ = str(PROGRAMS / f"{name}.py")
    sys.modules[module.__name__] = module  # classes defined there get an importable __module__
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def make_reinit(tmod):
    """``reinit(model)``: the same deterministic weights, by state_dict name and shape, in either framework."""

    def reinit(model):
        state = {}
        for name, value in model.state_dict().items():
            shape = tuple(value.shape)
            if not value.is_floating_point():
                state[name] = value
                continue
            rng = np.random.default_rng(zlib.crc32(name.encode()))
            if name.endswith("running_var"):
                data = np.ones(shape)
            elif name.endswith("running_mean"):
                data = np.zeros(shape)
            elif len(shape) >= 2:
                data = rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))
            else:
                data = 0.1 * rng.standard_normal(shape) + (1.0 if name.endswith("weight") else 0.0)
            state[name] = tmod.tensor(data, dtype=value.dtype)
        model.load_state_dict(state)
        return model

    return reinit


def run_both(name: str, **kwargs) -> tuple:
    """(torch's result, backprop's result) of ``main(reinit, **kwargs)`` of program ``name``."""
    import backprop

    results = []
    for framework, tmod in (("torch", torch), ("backprop", backprop)):
        module = load_program(name, framework)
        tmod.manual_seed(0)
        with _torch_global_state_kept():
            results.append(module.main(make_reinit(tmod), **kwargs))
    return tuple(results)


@contextlib.contextmanager
def _torch_global_state_kept():
    """Run a program as outside a test suite, and leave torch's global state as it was:
    torch's test utilities (imported by the op_db tests in this process) freeze torch's backend
    flags, which programs set (``cudnn.benchmark = True``) -- torch's own context manager lifts
    that; and ``torch.compile``'s first use turns distributions' argument validation off for the
    whole process, which other tests rely on."""
    validate = torch.distributions.Distribution._validate_args
    try:
        with getattr(torch.backends, "__allow_nonbracketed_mutation")():
            yield
    finally:
        torch.distributions.Distribution.set_default_validate_args(validate)


def assert_close(ours, theirs, rtol=1e-4, atol=1e-5, path="result"):
    if isinstance(theirs, dict):
        assert set(ours) == set(theirs), path
        for k in theirs:
            assert_close(ours[k], theirs[k], rtol, atol, f"{path}[{k!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_close(a, b, rtol, atol, f"{path}[{i}]")
    elif isinstance(theirs, (bool, str, type(None))):
        assert ours == theirs, f"{path}: {ours!r} != {theirs!r}"
    else:
        np.testing.assert_allclose(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float), rtol=rtol, atol=atol, err_msg=path)


def test_to_backprop_rewrites_only_torch_imports():
    src = "import torch\nimport torch.nn as nn\nimport torch.backends.cudnn\nfrom torch.nn import functional as F\nimport torchaudio\n"
    assert to_backprop(src) == (
        "import backprop as torch\nimport backprop.nn as nn\nimport backprop.backends.cudnn; import backprop as torch\n"
        "from backprop.nn import functional as F\nimport torchaudio\n"
    )


@pytest.mark.parametrize("model", ["LSTM", "GRU", "Transformer"])
def test_word_language_model_whole_module_save_load(model, tmp_path):
    """pytorch/examples word_language_model: torch.save(model, f), then torch.load under safe_globals."""
    theirs, ours = run_both("prog_word_language_model", model=model, path=str(tmp_path / f"model_{model}.pt"))
    assert_close(ours, theirs)


def test_nanogpt_train_loop(tmp_path):
    """nanoGPT's train.py around its model: DDP/distributed imports, TF32 flags, nullcontext/autocast,
    GradScaler(enabled=False), AdamW(fused=...) via inspect, gradient accumulation, clipping."""
    theirs, ours = run_both("prog_nanogpt", device_type="cpu", dtype="float32")
    assert_close(ours, theirs)


def test_nanogpt_autocast_bfloat16():
    """The same loop with CPU autocast to bfloat16 (float16 scaler stays disabled): losses as torch's, to bfloat16 precision."""
    theirs, ours = run_both("prog_nanogpt", device_type="cpu", dtype="bfloat16", autocast_on_cpu=True)
    assert_close(ours, theirs, rtol=3e-2, atol=3e-2)


def test_nanogpt_gradscaler_float16_semantics():
    """GradScaler enabled (torch's CPU scaler): scale, unscale_, step and update, with one step skipped for an inf."""
    theirs, ours = run_both("prog_nanogpt", device_type="cpu", dtype="float32", scaler_on_cpu=True)
    assert_close(ours, theirs)


def test_dcgan_inplace_leaky_relu_gan_step():
    """pytorch/examples dcgan: cudnn.benchmark, weights_init by class name, in-place LeakyReLU after
    BatchNorm, BCELoss, alternating D and G steps."""
    theirs, ours = run_both("prog_dcgan")
    assert_close(ours, theirs)


def test_gcn_sparse_adjacency():
    """pytorch/examples gcn: a normalized sparse COO adjacency times features, trained with Adam."""
    theirs, ours = run_both("prog_gcn")
    assert_close(ours, theirs)


def test_forward_forward_range_indexing():
    """pytorch/examples mnist_forward_forward: ``x_[range(n), y] = x.max()`` and per-layer optimizers."""
    theirs, ours = run_both("prog_forward_forward")
    assert_close(ours, theirs)


def test_mnist_accelerator_device_selection():
    """Current pytorch/examples mnist: device from torch.accelerator, backends.mps, StepLR, Adadelta."""
    theirs, ours = run_both("prog_mnist")
    assert_close(ours, theirs)


def test_programs_are_plain_torch_code():
    """The programs never name backprop: what runs on backprop is what runs on torch."""
    for path in PROGRAMS.glob("prog_*.py"):
        assert "backprop" not in path.read_text(), path.name


def test_load_program_module_is_importable():
    module = load_program("prog_mnist", "torch")
    assert importlib.import_module(module.__name__) is module


# ---- more public program patterns: pytorch/examples, torchvision resnet, makemore, minGPT, nanoGPT checkpoints ----


def test_time_sequence_prediction_lbfgs_float64():
    """pytorch/examples time_sequence_prediction: LSTMCells in float64 via .double(), LBFGS with a closure,
    future prediction feeding the output back."""
    theirs, ours = run_both("prog_time_sequence_prediction")
    assert theirs["is_double"] and theirs["func_evals"] > 6
    assert_close(ours, theirs, rtol=1e-9, atol=1e-11)


def test_vae_reparameterize_bce_sum_kld():
    """pytorch/examples vae: reparameterization (noise passed in; the randn_like path checked for shape),
    binary_cross_entropy(reduction='sum') + KLD, Adam, decoding torch.randn latents."""
    theirs, ours = run_both("prog_vae")
    assert_close(ours, theirs)


def test_regression_polynomial_manual_update():
    """pytorch/examples regression: torch.cat of x ** i features, smooth_l1_loss, param.data.add_(-0.1 * grad)."""
    theirs, ours = run_both("prog_regression")
    assert theirs["losses"][-1] < theirs["losses"][0]
    assert_close(ours, theirs)


def test_siamese_network_xavier_cat_bce_adadelta():
    """pytorch/examples siamese_network: shared tower, torch.cat of embeddings, BCELoss, xavier_uniform_ and
    bias.data.fill_(0.01) via apply, Adadelta + StepLR, torch.where(output > 0.5, 1, 0) accuracy."""
    theirs, ours = run_both("prog_siamese_network")
    assert_close(ours, theirs)


def test_mnist_rnn_lstm_batch_first():
    """pytorch/examples mnist_rnn: nn.LSTM(batch_first=True) over image rows, BatchNorm1d, Dropout2d on 2-D input."""
    theirs, ours = run_both("prog_mnist_rnn")
    assert_close(ours, theirs)


@pytest.mark.parametrize("block", ["basic", "bottleneck"])
def test_torchvision_resnet_tiny(block):
    """torchvision resnet.py: BasicBlock/Bottleneck, downsample Sequential, kaiming_normal_(fan_out),
    zero_init_residual, AdaptiveAvgPool2d, SGD(momentum, weight_decay), eval outputs."""
    theirs, ours = run_both("prog_resnet", block=block)
    assert theirs["init"]["zero_residual"] == [0.0] * 4
    assert_close(ours, theirs)


@pytest.mark.parametrize("model_type", ["transformer", "bow", "mlp", "rnn", "gru"])
def test_makemore_models(model_type):
    """karpathy/makemore: each model type trained with AdamW(betas=(0.9, 0.99), eps=1e-8), cross_entropy with
    ignore_index=-1, inference_mode evaluation, greedy and multinomial (shape only) generation."""
    theirs, ours = run_both("prog_makemore", model_type=model_type)
    assert_close(ours, theirs)


def test_mingpt_configure_optimizers_trainer():
    """karpathy/minGPT chargpt: decay/no_decay by module type over named_modules()/named_parameters(),
    AdamW over parameter groups, clip_grad_norm_, Trainer callbacks."""
    theirs, ours = run_both("prog_mingpt")
    assert theirs["group_sizes"] == [len(theirs["decay"]), len(theirs["no_decay"])]
    assert_close(ours, theirs)


@pytest.mark.parametrize("compile", [False, True])
def test_nanogpt_checkpoint_resume(compile, tmp_path):
    """nanoGPT: torch.save of model/optimizer state and config at eval intervals, resume with torch.load
    (map_location), '_orig_mod.' prefixes stripped, model and optimizer load_state_dict: the resumed run's
    losses equal the uninterrupted run's in both frameworks, and the frameworks agree."""
    theirs, ours = run_both("prog_nanogpt_checkpoint", out_dir=str(tmp_path), compile=compile)
    for result in (theirs, ours):
        assert result["resumed_equals_full"] == [True] * 4
        prefixed = result["resumed"]["resumed"]["saved_keys"][0].startswith("_orig_mod.")
        assert prefixed == compile
    assert_close(ours, theirs)
