"""Shared fixtures. ``BACKPROP_REQUIRE_DATA=1`` (set by .ci/run) turns missing-data skips into failures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import backprop

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
    backprop.autograd.grad_mode._state.enabled = True
    backprop.autograd.grad_mode._state.inference = False
