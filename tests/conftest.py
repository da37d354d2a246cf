"""Shared fixtures. ``BACKPROP_REQUIRE_DATA=1`` (set by .ci/run) turns missing-data skips into failures."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import pytest

import backprop
import fake_cuda
from backprop import random as bp_random

DEVICES = ("cpu", "fake-cuda", "cuda")

try:  # the oracle: one thread per test worker (pytest -n 2 on 2 cores), else its thread pools
    import torch  # spin against each other and tiny-op tests run tens of times slower

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - the oracle is a dev extra
    pass


def pytest_addoption(parser):
    parser.addoption(
        "--device",
        action="append",
        choices=DEVICES,
        help="device the device-parametrized tests (op, layer and optimizer oracles) run on; repeat for "
        "several. Default: cpu and fake-cuda (a CuPy-rules stand-in on NumPy memory, tests/fake_cuda.py). "
        "cuda needs CuPy and an NVIDIA GPU (`make test-gpu`).",
    )
    parser.addoption(
        "--op-db-full",
        action="store_true",
        help="tests/test_op_db.py runs every sample of every op_db entry (the suite caps them)",
    )


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """After a run that included tests/test_op_db.py: op_db coverage (names present / total)."""
    ran = any(
        getattr(report, "nodeid", "").startswith("tests/test_op_db.py")
        for reports in terminalreporter.stats.values()
        for report in reports
    )
    if not ran:
        return
    import opinfo_harness

    present, total, _ = opinfo_harness.coverage()
    terminalreporter.write_line(f"op_db coverage: {present}/{total} PyTorch op_db names present in backprop")


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        devices = metafunc.config.getoption("--device") or ["cpu", "fake-cuda"]
        metafunc.parametrize("device", devices, indirect=True)


@contextlib.contextmanager
def use_device(kind: str):
    """Run a test on device ``kind`` (``cpu``, ``fake-cuda`` or ``cuda``); yields the device string."""
    if kind == "fake-cuda":
        fake_cuda.install()
        try:
            yield "cuda"
        finally:
            fake_cuda.uninstall()
            bp_random._cuda_generators.clear()
    elif kind == "cuda":
        if fake_cuda._installed or not backprop.cuda.is_available():
            pytest.skip("no CUDA device: CuPy and an NVIDIA GPU are needed")
        yield "cuda"
    else:
        yield "cpu"


@pytest.fixture
def device(request):
    """The device a test runs on, as a device string: ``"cpu"`` or ``"cuda"`` (real or fake)."""
    with use_device(getattr(request, "param", "cpu")) as name:
        yield name


DATA_DIR = Path(os.environ.get("BACKPROP_DATA_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def require_data(relative: str) -> Path:
    """Path to a file under the shared data folder; skip (or fail in CI) when it is absent."""
    path = DATA_DIR / relative
    if not path.exists():
        message = f"dataset file {path} is not available (see README: Real data)"
        if os.environ.get("BACKPROP_REQUIRE_DATA") == "1":
            pytest.fail(message + "; BACKPROP_REQUIRE_DATA=1 forbids skipping")
        pytest.skip(message)
    return path


@pytest.fixture(autouse=True)
def _reset_state():
    """Each test starts with the default dtype, grad mode on and a fixed seed."""
    backprop.set_default_dtype(backprop.float32)
    backprop.manual_seed(0)
    np.random.seed(0)
    yield
    backprop.set_default_dtype(backprop.float32)
    backprop.set_default_device(None)
    backprop.autograd.grad_mode._state.enabled = True
    backprop.autograd.grad_mode._state.inference = False
