"""PyTorch's operator database (``op_db``) run against backprop: the independent check of the API.

Each ``OpInfo`` entry of ``torch.testing._internal.common_methods_invocations.op_db`` yields
sample inputs (``input``, ``args``, ``kwargs``), error inputs with the exception torch raises,
and the dtypes and autograd support torch promises. This module runs an entry's samples on
torch and on backprop (the sample's tensors copied onto backprop's device) and compares:

* outputs: values, shapes, dtypes; tuples elementwise; indices of ops whose tie-breaking torch
  leaves unspecified are judged by the input values they pick;
* gradients: for a fixed random cotangent on every differentiable output (after the sample's
  ``output_process_fn_grad``), the gradient of every input that requires grad;
* random ops: shapes and dtypes (their values depend on the generator);
* error inputs: backprop raises an exception of torch's type.

The entry's own ``op`` is what runs. When it is a torch function, its backprop namesake is
called; when it is a wrapper written in op_db (a lambda around ``torch.x``), the same code runs
with ``torch`` in its globals bound to backprop.

``python tests/opinfo_harness.py`` runs every sample of every entry (the suite caps the number of
samples) and prints coverage and a failure summary.
"""

from __future__ import annotations

import functools
import math
import sys
import types
from dataclasses import dataclass

import numpy as np
import torch

import backprop

torch.set_num_threads(1)

# Dtypes the harness runs, where both torch's entry and backprop support them.
DTYPES = ("float32", "float64", "int64", "bool", "complex64", "complex128", "bfloat16")

TOLERANCE = {"float16": (1e-2, 1e-2), "bfloat16": (2e-2, 2e-2), "float32": (1e-4, 1e-4), "float64": (1e-7, 1e-7),
             "complex64": (1e-4, 1e-4), "complex128": (1e-7, 1e-7)}

# Ops whose outputs depend on the random generator: compared on shape and dtype only.
RANDOM_OPS = frozenset({
    "bernoulli", "multinomial", "normal", "rand_like", "randn_like", "randint_like", "randint", "randn", "rand",
    "uniform", "exponential", "geometric", "cauchy", "log_normal", "nn.functional.dropout", "nn.functional.dropout2d",
    "nn.functional.dropout3d", "nn.functional.alpha_dropout", "nn.functional.feature_alpha_dropout",
    "nn.functional.rrelu", "nn.functional.fractional_max_pool2d", "nn.functional.fractional_max_pool3d",
    "nn.functional.gumbel_softmax", "randperm", "empty", "empty_like", "empty_strided", "new_empty",
    "new_empty_strided", "empty_permuted", "torch._refs.empty", "nn.functional.multi_head_attention_forward",
    "svd_lowrank", "pca_lowrank",  # a random projection picks the subspace
})

# Ops whose outputs are defined only up to signs/phases (singular and eigen vectors): compared
# through the sample's own invariant (its ``output_process_fn_grad``: |U|, U V^H, |eigenvectors|).
SIGN_AMBIGUOUS_OPS = frozenset({"linalg.svd", "svd", "linalg.eigh", "linalg.eig"})

# Ops returning indices whose choice among equal values torch leaves unspecified: an index is
# right when it picks the value torch's picks.
TIE_BREAKING_OPS = frozenset({
    "max", "min", "argmax", "argmin", "sort", "argsort", "topk", "kthvalue", "median", "nanmedian", "mode", "msort",
    "cummax", "cummin", "amax", "amin", "nn.functional.max_pool1d", "nn.functional.max_pool2d",
    "nn.functional.max_pool3d", "nn.functional.adaptive_max_pool1d", "nn.functional.adaptive_max_pool2d",
    "nn.functional.adaptive_max_pool3d", "unique", "unique_consecutive",
})

# Samples that cannot pass here, each with its reason. Keys: ``entry[dtype]`` (entry: ``name`` or
# ``name.variant``); values: (the sample indices, or None for every sample; the reason). The suite
# runs all other samples, and checks that these still fail (so the list cannot go stale).
_AS_STRIDED_SCATTER_GRAD = (
    "torch's input gradient is wrong (op_db itself marks its gradient test an expected failure): it passes the "
    "cotangent at the overwritten positions; backprop's is zero there (it passes gradcheck). Values match."
)
_ISTFT_WINDOW = (
    "the window is a slice of another tensor and torch returns no gradient for it (op_db marks istft's gradient "
    "test an expected failure); with a leaf window backprop's gradient equals torch's (tests/test_fft.py)"
)
_BF16_ROUNDING = (
    "bfloat16: torch's kernel rounds intermediate results to bfloat16 where backprop computes in float32 and rounds "
    "once; where values cancel the two differ by more than bfloat16's tolerance (float32/float64 agree)"
)
KNOWN_EXCEPTIONS: dict[str, tuple] = {
    **{f"sparse.mm.reduce[{dt}]": (None, "op_db's samples are CSR matrices with reduce=; backprop's sparse layout is "
                                   "COO, for which torch itself refuses reduce=") for dt in ("float32", "float64", "bfloat16")},
    **{f"to_sparse[{dt}]": (None, "torch 2.13 raises on op_db's own sample (\"_to_sparse does not support automatic "
                            "differentiation for outputs with complex dtype\")") for dt in ("complex64", "complex128")},
    "matrix_exp[float32]": ((1,), "one entry of the result cancels to ~1e-3 and torch's float32 algorithm is off there "
                            "by 3.5e-4; backprop computes in float64 and rounds (its float64 result agrees with torch's "
                            "and SciPy's to 2e-8)"),
    "native_layer_norm[float32]": ((8, 10), "one-element rows: x - mean is exactly 0, so the true input gradient is 0 "
                                   "(backprop's); torch's float32 kernel returns 4.9e-4 of rounding noise (float64 agrees)"),
    "special.bessel_j0[float64]": ((0,), "next to the zeros (x ~ 5.4-5.6) torch's float64 values are off by ~2e-7; "
                                   "SciPy's agree with mpmath (tests/test_special_functions.py pins this)"),
    "special.bessel_y1[float64]": ((0,), "as for bessel_j0"),
    "as_strided_scatter[float32]": (None, _AS_STRIDED_SCATTER_GRAD),
    "as_strided_scatter[float64]": (None, _AS_STRIDED_SCATTER_GRAD),
    "as_strided_scatter[complex64]": (None, _AS_STRIDED_SCATTER_GRAD),
    "as_strided_scatter[complex128]": (None, _AS_STRIDED_SCATTER_GRAD),
    "as_strided_scatter[bfloat16]": (None, _AS_STRIDED_SCATTER_GRAD),
    "chalf[float32]": (None, "complex32 (chalf) has no NumPy dtype: Tensor.chalf() raises TypeError"),
    "chalf[float64]": (None, "complex32 (chalf) has no NumPy dtype: Tensor.chalf() raises TypeError"),
    "chalf[int64]": (None, "complex32 (chalf) has no NumPy dtype: Tensor.chalf() raises TypeError"),
    "chalf[bool]": (None, "complex32 (chalf) has no NumPy dtype: Tensor.chalf() raises TypeError"),
    "chalf[complex64]": (None, "complex32 (chalf) has no NumPy dtype: Tensor.chalf() raises TypeError"),
    "chalf[complex128]": (None, "complex32 (chalf) has no NumPy dtype: Tensor.chalf() raises TypeError"),
    "chalf[bfloat16]": (None, "complex32 (chalf) has no NumPy dtype: Tensor.chalf() raises TypeError"),
    "istft[complex64]": ((8, 9), _ISTFT_WINDOW),
    "istft[complex128]": ((8, 9), _ISTFT_WINDOW),
    "renorm[complex64]": ((3,), "with p=inf torch's complex64 gradient is all NaN (its complex128 one is finite and "
                          "equals backprop's, which is finite in both)"),
    "linalg.householder_product[complex64]": ((7,), "2 of 20 gradient values of magnitude ~5e3 differ by 0.18: against "
                                              "a complex128 reference torch's complex64 gradient is off by 0.18, "
                                              "backprop's by 4e-4 (float32 rounding in torch's backward)"),
    "nn.functional.linear_cross_entropy[bfloat16]": ((108,), _BF16_ROUNDING),
    "nn.functional.normalize[bfloat16]": ((2,), _BF16_ROUNDING),
    "nn.functional.conv_transpose2d[bfloat16]": ((2, 3), _BF16_ROUNDING),
    "nn.functional.conv_transpose3d[bfloat16]": ((2, 3), _BF16_ROUNDING),
    "nn.functional.group_norm[bfloat16]": ((10,), _BF16_ROUNDING),
    "nn.functional.interpolate.trilinear[bfloat16]": ((3, 12, 20), _BF16_ROUNDING),
    "nn.functional.bilinear[bfloat16]": ((7,), _BF16_ROUNDING),
    "_unsafe_masked_index_put_accumulate[bfloat16]": ((0, 4), _BF16_ROUNDING),
    "nn.functional.grid_sample[bfloat16]": ((3, 5, 12, 14, 15, 16, 20, 21, 22), _BF16_ROUNDING),
    "grid_sampler_2d[bfloat16]": ((2, 3, 4, 12, 14, 15), _BF16_ROUNDING),
    "grid_sampler_3d[bfloat16]": ((11, 12, 13, 14, 16, 17, 18, 19, 21, 22, 23, 24, 26, 27, 28, 29), _BF16_ROUNDING),
    "nn.functional.poisson_nll_loss[bfloat16]": ((49, 53, 57, 61, 65, 69), _BF16_ROUNDING),
    "masked.var[bfloat16]": ((29, 36, 50), _BF16_ROUNDING),
    "nextafter[bfloat16]": ((6, 7), "torch's bfloat16 gradient for the first input differs on broadcast samples (0.30 "
                            "where the summed gradient is 1.66); not explained"),
    "matrix_exp[bfloat16]": ((0, 1), "torch's bfloat16 result is all NaN; backprop's equals its float32 result, rounded"),
    "max_pool2d_with_indices_backward[bfloat16]": (None, "as for float32"),
    "max_pool2d_with_indices_backward[float32]": (None, "aten's backward op is differentiable in its `input` with a "
                                                  "zero gradient; backprop's (an internal helper) does not track it. "
                                                  "Values match."),
    "max_pool2d_with_indices_backward[float64]": (None, "as for float32"),
}


def known_samples(op, dtype_name: str):
    """The sample indices of ``op`` in ``dtype_name`` listed in KNOWN_EXCEPTIONS (None: all), or ()."""
    entry = KNOWN_EXCEPTIONS.get(f"{entry_key(op)}[{dtype_name}]")
    return () if entry is None else entry[0]


# Error inputs that cannot raise torch's exception type here, each with its reason. Keys: entries;
# values: (the error inputs' indices; the reason). Checked, like KNOWN_EXCEPTIONS, to still fail.
_TOO_MANY_DIMS = "a 65-dimensional input: NumPy arrays have at most 64 dims, so the input cannot be built"
_RESIZE_IN_STORAGE = (
    "`out` must grow, and torch grows it in place inside the storage it shares with an input, then finds the "
    "overlap; backprop's resize allocates new memory, so there is no overlap to refuse"
)
KNOWN_ERROR_EXCEPTIONS: dict[str, tuple] = {
    "amax": ((1, 2), _TOO_MANY_DIMS),
    "amin": ((1, 2), _TOO_MANY_DIMS),
    "aminmax": ((1, 2), _TOO_MANY_DIMS),
    "gather": ((7,), _RESIZE_IN_STORAGE),
    "cat": ((6,), _RESIZE_IN_STORAGE),
    "gradient": ((3, 10, 17), "the spacing tensors are on torch's `meta` device (shapes without data), which backprop lacks"),
}


def known_error_inputs(op) -> tuple:
    entry = KNOWN_ERROR_EXCEPTIONS.get(entry_key(op))
    return () if entry is None else entry[0]


# op_db names backprop does not provide, each with its reason (tests/test_op_db.py checks that
# every missing name is here, so coverage cannot shrink unnoticed).
NOT_PROVIDED: dict[str, str] = {
    **{name: "CUDA's jiterator: CUDA C++ snippets compiled at run time (no CPU meaning)" for name in (
        "jiterator_unary", "jiterator_binary", "jiterator_binary_return_by_ref", "jiterator_2inputs_2outputs",
        "jiterator_4inputs_with_extra_args")},
    "torch._scaled_mm": "float8 matrix products of NVIDIA's FP8 tensor cores (no float8 dtypes here)",
    "torch._scaled_mm_v2": "float8 matrix products of NVIDIA's FP8 tensor cores (no float8 dtypes here)",
    "torch.ops.aten._efficient_attention_forward": "a CUDA kernel (memory-efficient attention); "
    "nn.functional.scaled_dot_product_attention is the API",
    "torch.ops.aten._flash_attention_forward": "a CUDA kernel (FlashAttention); "
    "nn.functional.scaled_dot_product_attention is the API",
    "sparse.sampled_addmm": "sparse CSR tensors only; backprop's sparse layout is COO",
}


class UnsupportedError(Exception):
    """A sample holds something backprop has no counterpart of (a torch object we do not model)."""


def entry_key(op) -> str:
    return f"{op.name}.{op.variant_test_name}" if op.variant_test_name else op.name


@functools.cache
def op_db() -> list:
    from torch.testing._internal.common_methods_invocations import op_db as db

    return list(db)


def _lookup(path: str):
    obj = backprop
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def name_present(name: str) -> bool:
    """Whether backprop has op_db's ``name``: a function at that path or a Tensor method/attribute."""
    if _lookup(name) is not None:
        return True
    if name.startswith("torch.ops.aten."):  # an aten op op_db calls directly: backprop's function of that name
        aten = name.split(".")[3]
        return _lookup(aten) is not None or _lookup(f"nn.functional.{aten}") is not None
    # a Tensor method, or the in-place method op_db samples under the plain name (cauchy -> Tensor.cauchy_)
    return "." not in name and (hasattr(backprop.Tensor, name) or hasattr(backprop.Tensor, name + "_"))


class _AtenOps:
    """``torch.ops.aten.<name>.<overload>`` as op_db's wrappers call it: backprop's function of that name."""

    def __getattr__(self, name: str):
        if name == "aten":
            return self
        target = _lookup(name) or _lookup(f"nn.functional.{name}")
        if target is None:
            raise UnsupportedError(f"torch.ops.aten.{name}")
        return types.SimpleNamespace(default=target, **{o: target for o in ("Tensor", "Scalar", "int", "dim")})


class _TorchAsBackprop(types.ModuleType):
    """``torch`` in op_db's wrappers: backprop, with ``torch.ops.aten`` mapped to backprop's functions."""

    def __getattr__(self, name: str):
        if name == "ops":
            return _AtenOps()
        return getattr(backprop, name)


_TORCH = _TorchAsBackprop("torch")


def _rebind(fn):
    """``fn`` (op_db's own wrapper code) with ``torch`` in its globals and closure bound to backprop."""
    if isinstance(fn, functools.partial):
        return functools.partial(_rebind(fn.func), *[_convert_static(a) for a in fn.args],
                                 **{k: _convert_static(v) for k, v in fn.keywords.items()})
    if not isinstance(fn, types.FunctionType):
        return _counterpart(fn)
    glb = dict(fn.__globals__)
    for key, value in fn.__globals__.items():
        if value is torch:
            glb[key] = _TORCH
        elif isinstance(value, types.ModuleType) and value.__name__.startswith("torch"):
            mapped = _module_counterpart(value)
            if mapped is not None:
                glb[key] = mapped
    closure = None
    if fn.__closure__:
        closure = tuple(types.CellType(_convert_static(c.cell_contents)) for c in fn.__closure__)
    new = types.FunctionType(fn.__code__, glb, fn.__name__, fn.__defaults__, closure)
    new.__kwdefaults__ = fn.__kwdefaults__
    return new


def _module_counterpart(module: types.ModuleType):
    path = module.__name__.split(".", 1)
    if len(path) == 1:
        return backprop
    return _lookup(path[1])


def _convert_static(value):
    """Closure/partial contents: torch callables and modules map to backprop's, others stay."""
    if value is torch:
        return backprop
    if isinstance(value, types.ModuleType) and value.__name__.startswith("torch"):
        return _module_counterpart(value) or value
    if isinstance(value, torch.dtype):
        return _dtype(value)
    if isinstance(value, (types.BuiltinFunctionType, types.FunctionType, types.MethodDescriptorType,
                          types.WrapperDescriptorType)) and _is_torch_callable(value):
        return _counterpart(value)
    if isinstance(value, types.FunctionType):
        return _rebind(value)
    return value


def _is_torch_callable(fn) -> bool:
    module = getattr(fn, "__module__", None) or ""
    qual = getattr(fn, "__qualname__", "")
    return module.startswith("torch") and not module.startswith("torch.testing") or qual.startswith(("TensorBase.", "Tensor."))


def _counterpart(fn):
    """backprop's function or Tensor method for a torch callable."""
    qual = getattr(fn, "__qualname__", "") or ""
    name = getattr(fn, "__name__", "") or ""
    if qual.startswith(("TensorBase.", "Tensor.", "_TensorBase.")):
        attr = getattr(backprop.Tensor, name, None)
        if attr is None:
            raise UnsupportedError(f"Tensor.{name}")
        return attr
    module = getattr(fn, "__module__", None) or "torch"
    if module in ("torch", "torch.functional", "torch._C._VariableFunctions", "torch.return_types") or module.startswith("torch._"):
        prefix = ""
    elif module.startswith("torch."):
        prefix = module.split(".", 1)[1] + "."
        prefix = {"nn.functional.": "nn.functional.", "_C._nn.": "nn.functional.", "_C._linalg.": "linalg.",
                  "_C._special.": "special.", "_C._fft.": "fft."}.get(prefix, prefix)
    else:
        prefix = ""
    target = _lookup(prefix + name) or (_lookup(name) if prefix else None)
    if target is None:
        raise UnsupportedError(prefix + name)
    return target


def resolve(op):
    """A callable that runs ``op`` on backprop tensors, or raises UnsupportedError."""
    fn = op.op
    if isinstance(fn, torch._ops.OpOverload):  # torch.ops.aten.<name>.<overload>
        return getattr(_AtenOps(), fn._schema.name.split("::")[-1]).default
    if isinstance(fn, types.FunctionType) and not _is_torch_callable(fn):
        return _rebind(fn)
    if isinstance(fn, functools.partial):
        return _rebind(fn)
    try:
        return _counterpart(fn)
    except UnsupportedError:
        target = _lookup(op.name)
        if target is None:
            raise
        return target


def _dtype(dt: torch.dtype):
    name = str(dt).replace("torch.", "")
    out = getattr(backprop, name, None)
    if not isinstance(out, backprop.dtype):
        raise UnsupportedError(f"dtype {name}")
    return out


def _storage_view(value: torch.Tensor, device: str, leaves: list, storages: dict | None = None):
    """A view into a copy of the tensor's whole storage, at the same offset and strides (the
    ``as_strided`` samples read storage outside the view). Tensors sharing a storage share the
    copy when ``storages`` (storage pointer -> copy) is given: error inputs test ``out=`` aliasing."""
    n = value.untyped_storage().nbytes() // value.element_size()
    key = (value.untyped_storage().data_ptr(), value.dtype)
    base = None if storages is None else storages.get(key)
    if base is None:
        storage = torch.as_strided(value.detach(), (n,), (1,), 0)
        base = backprop.tensor(_np(storage), dtype=_dtype(value.dtype), device=device)
        if storages is not None:
            storages[key] = base
    with backprop.no_grad():
        out = backprop.as_strided(base, tuple(value.shape), tuple(value.stride()), value.storage_offset())
    if value.requires_grad:
        out.requires_grad_(True)
        leaves.append((value, out))
    return out


def to_backprop(value, device: str, leaves: list, storage_matters: bool = False, storages: dict | None = None):
    """A sample's value with every torch object replaced by backprop's; tensors that require
    grad are recorded in ``leaves`` as (torch tensor, backprop tensor)."""
    if isinstance(value, torch.Tensor):
        if value.layout != torch.strided:
            raise UnsupportedError(f"layout {value.layout}")
        if storages is not None and value.layout == torch.strided and value.dtype != torch.bfloat16:
            try:
                return _storage_view(value, device, leaves, storages)
            except RuntimeError:  # a view torch itself left larger than its storage: copy what it shows
                pass
        if storage_matters and value.storage_offset() + value.numel() < value.untyped_storage().nbytes() // value.element_size() \
                or storage_matters and value.storage_offset():
            return _storage_view(value, device, leaves)
        source = value  # the tensor torch's op receives: gradients are taken with respect to it
        if value.is_conj() or value.is_neg():
            value = value.resolve_conj().resolve_neg()
        arr = value.detach().cpu().numpy() if value.dtype != torch.bfloat16 else value.detach().float().numpy()
        out = backprop.tensor(arr, dtype=_dtype(value.dtype), device=device, requires_grad=value.requires_grad)
        if value.requires_grad:
            leaves.append((source, out))
        return out
    if isinstance(value, torch.dtype):
        return _dtype(value)
    if isinstance(value, torch.device):
        return device if value.type in ("cpu", "cuda") else str(value)
    if isinstance(value, torch.Size):
        return tuple(value)
    if isinstance(value, torch.memory_format):
        mapped = getattr(backprop, str(value).replace("torch.", ""), None)
        if mapped is None:
            raise UnsupportedError(str(value))
        return mapped
    if isinstance(value, torch.layout):
        mapped = getattr(backprop, str(value).replace("torch.", ""), None)
        if mapped is None:
            raise UnsupportedError(str(value))
        return mapped
    if isinstance(value, torch.Generator):
        raise UnsupportedError(type(value).__name__)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*[to_backprop(v, device, leaves, storage_matters, storages) for v in value])
    if isinstance(value, (list, tuple)):
        return type(value)(to_backprop(v, device, leaves, storage_matters, storages) for v in value)
    if isinstance(value, dict):
        return {k: to_backprop(v, device, leaves, storage_matters, storages) for k, v in value.items()}
    if isinstance(value, (types.FunctionType, functools.partial)):
        return _rebind(value)
    if isinstance(value, torch.nn.Module):
        return _module_like(value)
    return value


def _module_like(module: torch.nn.Module):
    """backprop's namesake of a parameter-free torch module (e.g. ``nn.PairwiseDistance()``
    passed as a loss's distance function), with the same hyperparameters."""
    if any(True for _ in module.parameters()):
        raise UnsupportedError(f"a torch module with parameters ({type(module).__name__})")
    cls = getattr(backprop.nn, type(module).__name__, None)
    if cls is None:
        raise UnsupportedError(f"nn.{type(module).__name__}")
    ours = cls()
    for key, value in vars(module).items():
        if not key.startswith("_") and isinstance(value, (bool, int, float, str, type(None))):
            setattr(ours, key, value)
    return ours


def flatten(value) -> list:
    if isinstance(value, (torch.Tensor, backprop.Tensor)):
        return [value]
    if isinstance(value, (list, tuple)) and not isinstance(value, (torch.Size, backprop.Size)):
        out = []
        for v in value:
            out.extend(flatten(v))
        return out
    return [value]


class MismatchError(AssertionError):
    pass


def _np(t) -> np.ndarray:
    if getattr(t, "is_sparse", False):  # a sparse COO result (to_sparse) is compared as the dense tensor it stands for
        t = t.to_dense()
    if isinstance(t, torch.Tensor):
        if t._is_zerotensor():  # torch's symbolic zero gradient (sgn, ...)
            t = torch.zeros(t.shape, dtype=t.dtype)
        t = t.detach().resolve_conj().resolve_neg()
        return (t.float() if t.dtype == torch.bfloat16 else t).cpu().numpy()
    return np.asarray(t.detach().cpu().numpy())


def _dtype_name(t) -> str:
    return str(t.dtype).replace("torch.", "") if isinstance(t, torch.Tensor) else t.dtype.name


def compare_values(ours, theirs, what: str, shape_only: bool = False, independent_values: bool = True,
                   scale_atol: bool = False) -> None:
    if isinstance(theirs, torch.Tensor):
        if not isinstance(ours, backprop.Tensor):
            raise MismatchError(f"{what}: expected a Tensor, got {type(ours).__name__}")
        if tuple(ours.shape) != tuple(theirs.shape):
            raise MismatchError(f"{what}: shape {tuple(ours.shape)} != torch {tuple(theirs.shape)}")
        if _dtype_name(ours) != _dtype_name(theirs):
            raise MismatchError(f"{what}: dtype {_dtype_name(ours)} != torch {_dtype_name(theirs)}")
        if shape_only:
            if independent_values:
                _compare_statistics(ours, theirs, what)
            return
        a, b = _np(ours), _np(theirs)
        if a.dtype.kind in "biu":
            if not np.array_equal(a, b):
                raise MismatchError(f"{what}: values differ\nours  {a.ravel()[:12]}\ntorch {b.ravel()[:12]}")
            return
        rtol, atol = TOLERANCE.get(_dtype_name(theirs), (1e-4, 1e-4))
        if scale_atol and np.isfinite(b).any():  # low-precision gradients: errors scale with the largest value
            atol = max(atol, atol * float(np.nanmax(np.abs(b[np.isfinite(b)]), initial=0.0)))
        if not np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True):
            bad = ~np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
            raise MismatchError(f"{what}: {int(bad.sum())}/{bad.size} values differ, max abs diff "
                           f"{np.nanmax(np.abs(a - b)[bad]) if np.isfinite(a - b)[bad].any() else 'nan/inf'}\n"
                           f"ours  {a[bad].ravel()[:6]}\ntorch {b[bad].ravel()[:6]}")
    elif isinstance(theirs, float) and isinstance(ours, (int, float)):
        if not (math.isclose(ours, theirs, rel_tol=1e-6, abs_tol=1e-7) or (math.isnan(ours) and math.isnan(theirs))):
            raise MismatchError(f"{what}: {ours!r} != torch {theirs!r}")
    elif isinstance(theirs, torch.dtype):
        if ours is not _dtype(theirs):
            raise MismatchError(f"{what}: {ours!r} != torch {theirs!r}")
    elif theirs is None or isinstance(theirs, (bool, int, str)):
        if ours != theirs or type(ours) is not type(theirs) and not isinstance(ours, int):
            raise MismatchError(f"{what}: {ours!r} != torch {theirs!r}")
    elif isinstance(theirs, torch.Size):
        if tuple(ours) != tuple(theirs):
            raise MismatchError(f"{what}: {ours!r} != torch {theirs!r}")


# Where the ``dim`` argument of a tie-breaking op sits among its positional args, and its default.
DIM_POSITION = {"topk": 1, "kthvalue": 1}
DEFAULT_DIM = {"topk": -1, "sort": -1, "argsort": -1, "kthvalue": -1, "msort": 0}


def _compare_statistics(ours, theirs, what: str) -> None:
    """Random outputs drawn independently per element: with enough values, the same distribution
    as torch's (mean within five standard errors, spread within a factor of two). Channel-wise
    dropouts draw per channel, so their element statistics are not compared."""
    a, b = _np(ours).astype(np.float64).ravel(), _np(theirs).astype(np.float64).ravel()
    if a.size < 200 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return
    se = np.sqrt((a.var() + b.var()) / a.size)
    if abs(a.mean() - b.mean()) > 5 * se + 1e-6:
        raise MismatchError(f"{what}: random values' mean {a.mean():.4g} vs torch's {b.mean():.4g} (standard error {se:.3g})")
    if b.std() > 1e-6 and not 0.5 <= a.std() / b.std() <= 2:
        raise MismatchError(f"{what}: random values' std {a.std():.4g} vs torch's {b.std():.4g}")


def _same_picks(op, sample, ours_idx, theirs_idx) -> bool:
    """Indices that differ only in tie-breaking: the input values they pick are equal."""
    x = sample.input if isinstance(sample.input, torch.Tensor) else None
    if x is None:
        return False
    a, b = _np(ours_idx), _np(theirs_idx).astype(np.int64)
    xv = _np(x)
    if a.shape != b.shape:
        return False
    position = DIM_POSITION.get(op.name, 0)
    dim = sample.kwargs.get("dim")
    if dim is None and len(sample.args) > position and isinstance(sample.args[position], int):
        dim = sample.args[position]
    if dim is None:
        dim = DEFAULT_DIM.get(op.name)
    try:
        if xv.ndim == 0:
            return True
        if dim is None or a.ndim != xv.ndim and a.ndim != xv.ndim - 1:
            flat = xv.ravel()
            if op.name.startswith("nn.functional"):  # pooling: indices into each (batch, channel) plane
                lead = int(np.prod(a.shape[:2])) if a.ndim >= 2 else 1
                xf = xv.reshape(lead, -1) if lead > 1 and xv.size % lead == 0 else flat[None]
                af, bf = a.reshape(xf.shape[0], -1), b.reshape(xf.shape[0], -1)
                return np.array_equal(np.take_along_axis(xf, af, 1), np.take_along_axis(xf, bf, 1), equal_nan=True)
            return np.array_equal(flat[a.ravel()], flat[b.ravel()], equal_nan=True)
        dim = dim % xv.ndim
        if a.ndim == xv.ndim - 1:
            a, b = np.expand_dims(a, dim), np.expand_dims(b, dim)
        return np.array_equal(np.take_along_axis(xv, a, dim), np.take_along_axis(xv, b, dim), equal_nan=True)
    except (ValueError, IndexError):
        return False


def is_random(op, sample) -> bool:
    """Whether this sample's output depends on the random generator (random ops; dropout inside
    attention)."""
    return op.name in RANDOM_OPS or (sample.kwargs.get("dropout_p") or 0) > 0


def compare_outputs(op, sample, ours, theirs) -> None:
    ours_flat, theirs_flat = flatten(ours), flatten(theirs)
    if len(ours_flat) != len(theirs_flat):
        raise MismatchError(f"{len(ours_flat)} outputs != torch {len(theirs_flat)}")
    random = is_random(op, sample)
    for i, (o, t) in enumerate(zip(ours_flat, theirs_flat)):
        try:
            compare_values(o, t, f"output {i}", shape_only=random, independent_values="feature" not in op.name
                           and op.name not in ("nn.functional.dropout2d", "nn.functional.dropout3d"))
        except MismatchError:
            if (op.name in TIE_BREAKING_OPS and isinstance(t, torch.Tensor) and t.dtype == torch.int64
                    and isinstance(o, backprop.Tensor) and tuple(o.shape) == tuple(t.shape)
                    and _same_picks(op, sample, o, t)):
                continue
            raise


LOW_PRECISION = (torch.bfloat16, torch.float16)


def _same_sums_over_ties(x: torch.Tensor, ours, theirs) -> bool:
    """Gradients of a tie-breaking op (sort, topk, mode...) may land on any of several equal
    input values: they agree when, for every distinct input value, the gradients of its
    elements sum to the same."""
    values = _np(x).ravel()
    a, b = _np(ours).astype(np.float64).ravel(), _np(theirs).astype(np.float64).ravel()
    _, group = np.unique(values, return_inverse=True)
    sums_a, sums_b = np.bincount(group, a), np.bincount(group, b)
    rtol, atol = TOLERANCE.get(str(x.dtype).replace("torch.", ""), (1e-4, 1e-4))
    return bool(np.allclose(sums_a, sums_b, rtol=rtol, atol=atol * max(1.0, np.abs(sums_b).max(initial=0.0))))


def _grad_outputs(outs_t: list, outs_b: list, seed: int):
    rng = np.random.default_rng(seed)
    pairs = []
    for t, b in zip(outs_t, outs_b):
        if isinstance(t, torch.Tensor) and t.requires_grad and (t.is_floating_point() or t.is_complex()):
            if not isinstance(b, backprop.Tensor) or not b.requires_grad:
                raise MismatchError("an output torch differentiates does not require grad")
            g = rng.standard_normal(tuple(t.shape))
            if t.is_complex():
                g = g + 1j * rng.standard_normal(tuple(t.shape))
            gt = torch.tensor(g, dtype=t.dtype)
            pairs.append((t, b, gt, backprop.tensor(_np(gt), dtype=b.dtype, device=b.device)))
    return pairs


@dataclass
class Outcome:
    samples: int = 0
    passed: int = 0
    unsupported: str | None = None


def run_samples(op, dtype_name: str, device: str = "cpu", max_samples: int | None = 12, check_grad: bool = True,
                skip: tuple = (), only: tuple | None = None) -> Outcome:
    """Run up to ``max_samples`` of ``op``'s samples in ``dtype_name`` (leaving out the indices in
    ``skip``; with ``only``, just those); raise on the first mismatch."""
    fn = resolve(op)
    tdtype = getattr(torch, dtype_name)
    requires_grad = check_grad and op.supports_autograd and (tdtype.is_floating_point or tdtype.is_complex)
    torch.manual_seed(0)
    outcome = Outcome()
    samples = op.sample_inputs("cpu", tdtype, requires_grad=requires_grad)
    for index, sample in enumerate(samples):
        if max_samples is not None and index >= max_samples:
            break
        if index in skip or (only is not None and index not in only):
            continue
        outcome.samples += 1
        where = f"{entry_key(op)} [{dtype_name}] sample {index}: {_describe(sample)}"
        leaves: list = []
        storage = op.name.startswith("as_strided")
        try:
            b_input = to_backprop(sample.input, device, leaves, storage)
            b_args = to_backprop(sample.args, device, leaves, storage)
            b_kwargs = to_backprop(sample.kwargs, device, leaves, storage)
        except UnsupportedError as exc:
            raise MismatchError(f"{where}: unsupported argument {exc}") from None
        theirs = op.op(sample.input, *sample.args, **sample.kwargs)
        try:
            with backprop.device(device):
                ours = fn(b_input, *b_args, **b_kwargs)
            if op.name in SIGN_AMBIGUOUS_OPS:
                compare_outputs(op, sample, _process(sample, ours), sample.output_process_fn_grad(theirs))
            else:
                compare_outputs(op, sample, ours, theirs)
        except Exception as exc:
            raise MismatchError(f"{where}: {type(exc).__name__}: {exc}") from exc
        if requires_grad and not is_random(op, sample):
            try:
                _compare_grads(op, sample, ours, theirs, leaves, seed=index)
            except Exception as exc:
                raise MismatchError(f"{where}: gradient: {type(exc).__name__}: {exc}") from exc
        outcome.passed += 1
    return outcome


def _process(sample, ours):
    """The sample's ``output_process_fn_grad`` (op_db's code, rebound to backprop) on our output."""
    process = sample.output_process_fn_grad
    return (_rebind(process) if isinstance(process, types.FunctionType) else process)(ours)


def _compare_grads(op, sample, ours, theirs, leaves, seed: int) -> None:
    outs_t = flatten(sample.output_process_fn_grad(theirs))
    outs_b = flatten(_process(sample, ours))
    if len(outs_t) != len(outs_b):
        raise MismatchError(f"{len(outs_b)} processed outputs != torch {len(outs_t)}")
    pairs = _grad_outputs(outs_t, outs_b, seed)
    inputs = [(t, b) for t, b in leaves if t.requires_grad]
    if not pairs or not inputs:
        return
    try:
        grads_t = torch.autograd.grad([p[0] for p in pairs], [t for t, _ in inputs], [p[2] for p in pairs], allow_unused=True)
    except NotImplementedError:  # torch defines no gradient here (e.g. i1's in bfloat16): nothing to compare
        return
    grads_b = backprop.autograd.grad([p[1] for p in pairs], [b for _, b in inputs], [p[3] for p in pairs], allow_unused=True)
    for i, (gt, gb, (t, _)) in enumerate(zip(grads_t, grads_b, inputs)):
        if gt is None:
            gt = torch.zeros_like(t)
        if gb is None:
            gb = backprop.zeros(tuple(t.shape), dtype=_dtype(t.dtype))
        try:
            compare_values(gb, gt, f"grad of input {i}", scale_atol=t.dtype in LOW_PRECISION)
        except MismatchError:
            if not (op.name in TIE_BREAKING_OPS and _same_sums_over_ties(t, gb, gt)):
                raise


def _describe(sample) -> str:
    def d(v):
        if isinstance(v, torch.Tensor):
            return f"T{list(v.shape)}"
        if isinstance(v, (list, tuple)) and not isinstance(v, torch.Size):
            return "[" + ", ".join(d(x) for x in v) + "]"
        return repr(v)

    kw = ", ".join(f"{k}={d(v)}" for k, v in sample.kwargs.items())
    return f"({d(sample.input)}, {', '.join(d(a) for a in sample.args)}{', ' if kw else ''}{kw})"


def _torch_raises(op, sample, error_type) -> bool:
    try:
        op.op(sample.input, *sample.args, **sample.kwargs)
    except error_type:
        return True
    except Exception:
        return False
    return False


def has_error_inputs(op) -> bool:
    """Whether torch raises for at least one of ``op``'s error inputs (some entries list only
    inputs that torch 2.13 accepts)."""
    if op.error_inputs_func is None:
        return False
    return any(_torch_raises(op, err.sample_input, err.error_type) for err in op.error_inputs(device="cpu"))


def run_error_inputs(op, device: str = "cpu", skip: tuple = (), only: tuple | None = None) -> tuple[int, list[str]]:
    """Each error input (but the indices in ``skip``; with ``only``, just those) must raise torch's
    exception type; returns (count, failures)."""
    if op.error_inputs_func is None:
        return 0, []
    fn = resolve(op)
    failures = []
    count = 0
    for index, err in enumerate(op.error_inputs(device="cpu")):
        if index in skip or (only is not None and index not in only):
            continue
        sample = err.sample_input
        built = None
        try:  # built before torch runs: torch may resize an `out=` before it raises
            leaves: list = []
            storages: dict = {}  # arguments that share memory in torch's sample share it here
            b_input = to_backprop(sample.input, device, leaves, storages=storages)
            b_args = to_backprop(sample.args, device, leaves, storages=storages)
            b_kwargs = to_backprop(sample.kwargs, device, leaves, storages=storages)
        except Exception as exc:  # reported below, once torch is known to raise here
            built = exc
        if not _torch_raises(op, sample, err.error_type):
            continue  # an error input torch itself accepts (in this version) is no spec
        count += 1
        if isinstance(built, UnsupportedError):
            failures.append(f"#{index} {_describe(sample)}: unsupported argument {built}")
            continue
        if built is not None:  # the input itself cannot be built (e.g. more dims than NumPy's 64)
            failures.append(f"#{index} {_describe(sample)}: cannot build the input: {type(built).__name__}: {built}")
            continue
        try:
            with backprop.device(device):
                fn(b_input, *b_args, **b_kwargs)
        except err.error_type:
            continue
        except Exception as exc:
            failures.append(f"#{index} {_describe(sample)}: raised {type(exc).__name__} ({exc}), torch raises "
                            f"{err.error_type.__name__} ({err.error_regex})")
            continue
        failures.append(f"#{index} {_describe(sample)}: no error, torch raises {err.error_type.__name__} ({err.error_regex})")
    return count, failures


def entry_dtypes(op) -> list[str]:
    supported = {str(d).replace("torch.", "") for d in op.supported_dtypes("cpu")}
    return [d for d in DTYPES if d in supported and isinstance(getattr(backprop, d, None), backprop.dtype)]


def coverage() -> tuple[int, int, list[str]]:
    names = sorted({op.name for op in op_db()})
    missing = [n for n in names if not name_present(n)]
    return len(names) - len(missing), len(names), missing


def main(argv: list[str]) -> int:
    import collections
    import traceback

    full = "--capped" not in argv
    only = [a for a in argv if not a.startswith("--")]
    present, total, missing = coverage()
    print(f"op_db names present in backprop: {present}/{total}")
    failures = collections.OrderedDict()
    errors_total = errors_ok = 0
    samples = 0
    for op in op_db():
        if only and op.name not in only and entry_key(op) not in only:
            continue
        if not name_present(op.name):
            continue
        for dt in entry_dtypes(op):
            known = known_samples(op, dt)
            if known is None:
                continue
            try:
                outcome = run_samples(op, dt, max_samples=None if full else 12, skip=known)
                samples += outcome.samples
            except Exception as exc:
                failures[f"{entry_key(op)} [{dt}]"] = str(exc).splitlines()[0][:300]
                if "-v" in argv:
                    traceback.print_exc()
        try:
            n, bad = run_error_inputs(op, skip=known_error_inputs(op))
        except Exception as exc:
            n, bad = 1, [f"harness: {type(exc).__name__}: {exc}"]
        errors_total += n
        errors_ok += n - len(bad)
        for i, b in enumerate(bad):
            failures[f"{entry_key(op)} [error input {i}]"] = b[:300]
    for k, v in failures.items():
        print(f"FAIL {k}: {v}")
    print(f"samples run: {samples}; failing entry/dtype pairs: {sum(1 for k in failures if 'error input' not in k)}")
    print(f"error inputs raising torch's type: {errors_ok}/{errors_total}")
    if "--missing" in argv:
        print("missing:", " ".join(missing))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
