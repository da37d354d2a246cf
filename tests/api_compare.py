"""Helpers for the API tests: run one snippet ``fn(m)`` on backprop and on torch and compare.

``check(fn)`` passes when both results agree (tensors: shape, dtype, values and ``requires_grad``;
tuples/lists elementwise; anything else by ``==``) or when both raise the same exception type.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import backprop


def dtype_name(d) -> str:
    """``float32`` for ``torch.float32`` and ``backprop.float32`` alike."""
    return str(d).replace("torch.", "").replace("backprop.", "")


def assert_same(ours, theirs, rtol: float = 1e-6, atol: float = 1e-6) -> None:
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, backprop.Tensor), f"expected a Tensor, got {type(ours).__name__}: {ours!r}"
        assert tuple(ours.shape) == tuple(theirs.shape), f"shape {tuple(ours.shape)} != torch {tuple(theirs.shape)}"
        assert dtype_name(ours.dtype) == dtype_name(theirs.dtype), f"dtype {ours.dtype} != torch {theirs.dtype}"
        a, b = ours.detach().numpy(), theirs.detach().numpy()
        if a.dtype.kind in "biu":
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
        assert ours.requires_grad == theirs.requires_grad, f"requires_grad {ours.requires_grad} != torch"
    elif isinstance(theirs, (torch.dtype, backprop.dtype)):
        assert dtype_name(ours) == dtype_name(theirs)
    elif isinstance(theirs, (tuple, list)):
        assert isinstance(ours, (tuple, list)), f"expected a sequence, got {type(ours).__name__}"
        assert len(ours) == len(theirs), f"{len(ours)} items != torch {len(theirs)}"
        for o, t in zip(ours, theirs):
            assert_same(o, t, rtol, atol)
    else:
        assert type(ours) is type(theirs), f"{type(ours).__name__} != torch {type(theirs).__name__}"
        assert ours == theirs, f"{ours!r} != torch {theirs!r}"


def torch_exception(fn):
    """The exception ``fn(torch)`` raises (None if it does not)."""
    try:
        fn(torch)
    except Exception as exc:  # noqa: BLE001 - any torch error is what backprop must mirror
        return exc
    return None


def check(fn, rtol: float = 1e-6, atol: float = 1e-6) -> None:
    """``fn(backprop)`` gives what ``fn(torch)`` gives, or raises the same exception type."""
    try:
        theirs = fn(torch)
    except Exception as exc:  # noqa: BLE001
        with pytest.raises(type(exc)):
            fn(backprop)
        return
    assert_same(fn(backprop), theirs, rtol, atol)
