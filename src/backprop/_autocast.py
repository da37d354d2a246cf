"""The autocast mechanism behind ``backprop.autocast`` (``torch.amp``): per-thread state and
one decorator, ``autocast_op(name)``, that the ops on torch's autocast lists carry.

Inside an enabled region an op listed for the device of its tensors casts its floating
inputs (not float64, as in torch) before running:

* ``lower`` ops (matmul, linear, conv...) to the region's lower-precision dtype;
* ``fp32`` ops (losses, norms, linalg, fft on CPU; also exp/log/softmax/sum... on CUDA) to
  float32, unless the call passes an explicit ``dtype=``;
* ``promote`` ops (cat, stack...) to the widest floating dtype among their inputs;
* ``keep`` ops run on their inputs as they are (ops torch does not autocast that backprop
  builds on a listed one, such as ``mv`` on ``matmul``);
* ``banned`` ops raise (``binary_cross_entropy`` on CUDA, as torch: use the logits form).

The cast is ``Tensor.to``, a recorded op, so each leaf still gets its gradient in its own
dtype. While a listed op runs, and during backward, autocast is suspended: an op's inner
steps (``cross_entropy``'s ``log_softmax``...) are not cast again, as torch's dispatcher
excludes autocast below an autocast kernel. Calls with ``out=`` are not autocast (torch's
rule). A policy may also be a function of the call's arguments (CPU ``einsum``). The
tables below are torch 2.13's lists (``aten/src/ATen/autocast_mode.cpp``, the
"Autocast Op Reference" of the AMP docs) restricted to the ops backprop has, named by
backprop's public function names; a name in no table leaves its function undecorated, so
ops off the lists pay nothing.
"""

from __future__ import annotations

import functools
import threading

import numpy

from . import _dtype
from ._backend import backend_of
from ._dtype import float32, promote_types
from ._tensor import Tensor

LOWER, FP32, PROMOTE, KEEP, BANNED = "lower", "fp32", "promote", "keep", "banned"

_CPU_LOWER = """
conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d bmm mm vecdot baddbmm addmm addbmm
linear matmul prelu scaled_dot_product_attention
"""
_CPU_FP32 = """
avg_pool3d binary_cross_entropy grid_sample polar prod quantile nanquantile stft cdist trace view_as_complex
cholesky cholesky_inverse cholesky_solve inverse lu_solve householder_product ormqr pinverse pinv max_pool3d
max_unpool2d max_unpool3d adaptive_avg_pool3d mse_loss cosine_embedding_loss nll_loss hinge_embedding_loss
poisson_nll_loss smooth_l1_loss cross_entropy l1_loss huber_loss margin_ranking_loss soft_margin_loss
triplet_margin_loss multi_margin_loss ctc_loss kl_div multilabel_margin_loss binary_cross_entropy_with_logits
fft ifft fft2 ifft2 fftn ifftn rfft irfft rfft2 irfft2 rfftn irfftn hfft ihfft
cond matrix_rank solve linalg_cholesky svdvals eigvals eigvalsh inv tensorinv tensorsolve geqrf qr linalg_qr
svd linalg_svd triangular_solve fractional_max_pool2d fractional_max_pool3d adaptive_max_pool3d cholesky_ex
eig eigh lstsq inv_ex
"""
_CPU_PROMOTE = "stack cat index_copy"
# torch's CPU tensordot decomposes into mm, which autocasts (einsum: see _einsum_policy).
_CPU_LOWER += " tensordot"
# Not autocast on CPU in torch, but built on matmul here: run as they are, matmul not recast.
_CPU_KEEP = "mv dot vdot addmv addr bilinear linalg_lu_solve"

_CUDA_LOWER = """
conv1d conv2d conv3d conv_transpose1d conv_transpose2d conv_transpose3d prelu addmm addmv addr matmul einsum mm
mv vecdot linear addbmm baddbmm bmm chain_matmul multi_dot scaled_dot_product_attention
"""
_CUDA_FP32 = """
acos asin cosh erfinv exp expm1 log log10 log2 log1p reciprocal rsqrt sinh tan pow softplus layer_norm
group_norm norm matrix_norm vector_norm linalg_norm cosine_similarity poisson_nll_loss cosine_embedding_loss
nll_loss hinge_embedding_loss kl_div l1_loss smooth_l1_loss huber_loss mse_loss margin_ranking_loss
multilabel_margin_loss soft_margin_loss triplet_margin_loss multi_margin_loss binary_cross_entropy_with_logits
cross_entropy dist pdist cdist renorm logsumexp interpolate upsample softmax log_softmax softmin cumprod cumsum
prod sum normalize __rtruediv__ __rdiv__
"""
_CUDA_PROMOTE = "addcdiv addcmul atan2 bilinear cross linalg_cross dot vdot grid_sample index_put tensordot scatter_add stack cat index_copy"


def _table(**lists: str) -> dict:
    return {name: policy for policy, names in lists.items() for name in names.split()}


def _einsum_policy(args, kwargs) -> str:
    """torch's CPU einsum contracts operand pairs with bmm (which autocasts) only when an index
    is summed; one operand, or products without a summed index, stay in the inputs' dtype."""
    equation = args[0] if args and isinstance(args[0], str) else kwargs.get("equation", "")
    operands = args[1:]
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = operands[0]
    lhs, _, rhs = equation.replace(" ", "").partition("->")
    letters = [c for c in lhs if c.isalpha()]
    if not _:
        rhs = "".join(c for c in letters if letters.count(c) == 1)
    summed = set(letters) - set(rhs)
    return LOWER if len(operands) >= 2 and summed else KEEP


# device type -> {op name -> policy}
POLICIES = {
    "cpu": {**_table(lower=_CPU_LOWER, fp32=_CPU_FP32, promote=_CPU_PROMOTE, keep=_CPU_KEEP), "einsum": _einsum_policy},
    "cuda": _table(lower=_CUDA_LOWER, fp32=_CUDA_FP32, promote=_CUDA_PROMOTE, banned="binary_cross_entropy"),
}


_BANNED_MESSAGE = (
    "torch.nn.functional.binary_cross_entropy and torch.nn.BCELoss are unsafe to autocast.\n"
    "Many models use a sigmoid layer right before the binary cross entropy layer.\n"
    "In this case, combine the two layers using torch.nn.functional.binary_cross_entropy_with_logits\n"
    "or torch.nn.BCEWithLogitsLoss.  binary_cross_entropy_with_logits and BCEWithLogits are\n"
    "safe to autocast."
)


class _AutocastState(threading.local):
    """Per thread, as torch's: a new thread starts with autocast off everywhere.

    ``active`` is the one flag the decorated ops read when autocast is off: whether some
    device has autocast enabled on this thread and no autocast op or backward is running.
    """

    def __init__(self):
        self.enabled: dict = {}
        self.dtype: dict = {}
        self.cache_enabled = True
        self.nesting = 0
        self.cache: dict = {}
        self.active = False

    def refresh(self) -> None:
        self.active = any(self.enabled.values())


state = _AutocastState()


def autocast_policies(name: str) -> dict:
    """Op ``name``'s autocast policy per device (empty when it is on no list): what an op that
    checks ``state.active`` itself passes to ``autocast_call``."""
    return {dev: table[name] for dev, table in POLICIES.items() if name in table}


def autocast_call(op, policies: dict, args: tuple, kwargs: dict):
    """``op(*args, **kwargs)`` under autocast's policy: ``autocast_op``'s wrapper for an op that
    tests ``state.active`` itself (saving the wrapper's call when autocast is off). ``op`` then
    runs with ``state.active`` off, so it must be one whose own steps call no autocast op."""

    def plain(*a, **k):
        prev = state.active
        state.active = False
        try:
            return op(*a, **k)
        finally:
            state.active = prev

    return _autocast_call(plain, policies, args, kwargs)


def autocast_op(name: str):
    """Decorator: ``fn`` follows autocast's policy for op ``name`` on each device (see the
    module docstring); returns ``fn`` itself when ``name`` is on no list."""
    policies = autocast_policies(name)

    def decorate(fn):
        if not policies:
            return fn

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if not state.active:
                return fn(*args, **kwargs)
            return _autocast_call(fn, policies, args, kwargs)

        wrapper._autocast_name = name
        return wrapper

    return decorate


def _first_tensor(values):
    for v in values:
        if isinstance(v, Tensor):
            return v
        if isinstance(v, (list, tuple)):
            for w in v:
                if isinstance(w, Tensor):
                    return w
    return None


def _eligible(t) -> bool:
    """A floating tensor autocast may cast: float16/bfloat16/float32 (not float64), as in torch."""
    kind = t._data.dtype.kind
    return (kind == "f" and t._data.dtype != numpy.float64) or kind == "V"


def _autocast_call(fn, policies: dict, args, kwargs):
    first = _first_tensor(args)
    if first is None:
        first = _first_tensor(kwargs.values())
    if first is None:
        return fn(*args, **kwargs)
    dev = backend_of(first._data).type
    policy = policies.get(dev)
    if callable(policy):  # a policy that depends on the call (CPU einsum)
        policy = policy(args, kwargs)
    if policy is None or not state.enabled.get(dev) or kwargs.get("out") is not None:
        return fn(*args, **kwargs)
    if policy == BANNED:
        raise RuntimeError(_BANNED_MESSAGE)
    if policy == LOWER:
        target = get_dtype(dev)
    elif policy == FP32:
        if kwargs.get("dtype") is not None:  # an explicit dtype= makes the call ineligible
            return fn(*args, **kwargs)
        target = float32
    elif policy == KEEP:
        target = None
    else:
        target = None
        for t in _tensors(args, kwargs):
            if _eligible(t):
                target = t.dtype if target is None else promote_types(target, t.dtype)
        if target is None:
            return fn(*args, **kwargs)
    state.active = False  # the op's own steps are not autocast again
    try:
        if target is not None:
            args = tuple(_cast(a, target) for a in args)
            kwargs = {k: _cast(v, target) for k, v in kwargs.items()}
        return fn(*args, **kwargs)
    finally:
        state.active = True


def _tensors(args, kwargs):
    for v in (*args, *kwargs.values()):
        if isinstance(v, Tensor):
            yield v
        elif isinstance(v, (list, tuple)):
            yield from (w for w in v if isinstance(w, Tensor))


def _cast(value, target):
    if isinstance(value, Tensor):
        if not _eligible(value) or value.dtype is target:
            return value
        return _cast_tensor(value, target)
    if isinstance(value, (list, tuple)) and any(isinstance(v, Tensor) for v in value):
        return type(value)(_cast(v, target) for v in value)
    return value


def _cast_tensor(t, target):
    """``t.to(target)``, recorded; float32 leaf weights cast to the lower dtype are cached for
    the region (torch's weight cache) so each is cast once per forward."""
    from .ops.elementwise import to_dtype  # ops import this module: at first cast

    cache_ok = (
        state.cache_enabled
        and target is not float32
        and t._requires_grad
        and t._grad_fn is None
        and t._base is None
        and t.dtype is float32
    )
    if not cache_ok:
        return to_dtype(t, target)
    key = (id(t), target)
    hit = state.cache.get(key)
    if hit is not None and hit[0] is t:
        return hit[1]
    out = to_dtype(t, target)
    state.cache[key] = (t, out)
    return out


def default_dtype(device_type: str):
    """torch's default autocast dtype of a device type: bfloat16 on CPU (HPU, XLA, MAIA), float16 elsewhere."""
    if device_type in ("cpu", "hpu", "xla", "maia"):
        return _dtype.get_bfloat16()
    return _dtype.float16


def get_dtype(device_type: str):
    dt = state.dtype.get(device_type)
    return dt if dt is not None else default_dtype(device_type)


class Suspended:
    """Autocast off on this thread while the block runs (backward passes run under it)."""

    __slots__ = ("prev",)

    def __enter__(self):
        self.prev = state.active
        state.active = False

    def __exit__(self, *exc):
        state.active = self.prev
