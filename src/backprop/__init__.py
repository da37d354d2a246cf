"""backprop: a deep-learning framework on NumPy whose API is PyTorch's.

``import backprop as torch`` runs ordinary PyTorch model code for everything supported:
tensors that record the forward pass, ``.backward()`` applying the chain rule to every
leaf, ``nn`` layers, losses, optimizers and data loading.
"""

from __future__ import annotations

import builtins as _builtins

from ._malloc import tune_malloc as _tune_malloc

_tune_malloc()

from . import (
    _tensor_methods,  # noqa: F401 - binds the op methods onto Tensor
    accelerator,
    autograd,
    backends,
    cuda,
    linalg,
    masked,  # torch.masked: reductions that ignore masked-out elements
    nn,
    optim,
    random,
    return_types,
    special,
    utils,
)
from ._creation import (
    arange,
    as_tensor,
    asarray,
    cartesian_prod,
    empty,
    empty_like,
    eye,
    from_dlpack,
    from_numpy,
    full,
    full_like,
    linspace,
    logspace,
    meshgrid,
    ones,
    ones_like,
    scalar_tensor,
    tensor,
    zeros,
    zeros_like,
)
from ._creation import range_ as range  # noqa: A004 - torch's (deprecated) name
from ._device import device, get_default_device, set_default_device
from ._dtype import bool_ as bool  # noqa: A004 - torch's name
from ._dtype import (
    dtype,
    finfo,
    float16,
    float32,
    float64,
    get_default_dtype,
    iinfo,
    int8,
    int16,
    int32,
    int64,
    promote_types,
    set_default_dtype,
    uint8,
)
from ._tensor import Size, Tensor
from ._tensor_str import set_printoptions
from .autograd import enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad, set_grad_enabled
from .ops._utils import broadcast_shapes
from .ops.elementwise import (
    abs,
    absolute,
    acos,
    add,
    addcdiv,
    addcmul,
    allclose,
    arccos,
    arcsin,
    arctan,
    arctan2,
    asin,
    atan,
    atan2,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    ceil,
    clamp,
    clamp_max,
    clamp_min,
    clip,
    clone,
    cos,
    cosh,
    deg2rad,
    div,
    divide,
    eq,
    equal,
    erf,
    exp,
    exp2,
    expm1,
    fix,
    float_power,
    floor,
    floor_divide,
    fmax,
    fmin,
    fmod,
    frac,
    ge,
    greater,
    greater_equal,
    gt,
    hypot,
    isclose,
    isfinite,
    isinf,
    isnan,
    isneginf,
    isposinf,
    le,
    lerp,
    less,
    less_equal,
    log,
    log1p,
    log2,
    log10,
    logaddexp,
    logaddexp2,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    lt,
    maximum,
    minimum,
    mul,
    nan_to_num,
    ne,
    neg,
    negative,
    not_equal,
    pow,
    rad2deg,
    reciprocal,
    relu,
    remainder,
    round,
    rsqrt,
    rsub,
    sigmoid,
    sign,
    signbit,
    sin,
    sinh,
    sqrt,
    square,
    sub,
    tan,
    tanh,
    true_divide,
    trunc,
    where,
)
from .ops.elementwise import mul as multiply
from .ops.elementwise import sub as subtract
from .ops.indexing import (
    argsort,
    argwhere,
    bincount,
    bucketize,
    cummax,
    cummin,
    gather,
    histc,
    index_add,
    index_fill,
    index_put,
    index_select,
    kthvalue,
    masked_fill,
    masked_scatter,
    masked_select,
    median,
    mode,
    msort,
    nanmedian,
    nanquantile,
    nonzero,
    quantile,
    scatter,
    scatter_add,
    scatter_reduce,
    searchsorted,
    sort,
    take,
    take_along_dim,
    topk,
    unique,
)
from .ops.linalg import (
    addmm,
    addmv,
    baddbmm,
    bmm,
    cdist,
    corrcoef,
    cov,
    cross,
    dot,
    einsum,
    ger,
    inner,
    matmul,
    mm,
    mv,
    outer,
    tensordot,
    vdot,
)
from .ops.movement import (
    atleast_1d,
    atleast_2d,
    block_diag,
    broadcast_tensors,
    broadcast_to,
    cat,
    chunk,
    concat,
    concatenate,
    diag,
    diag_embed,
    diagonal,
    dsplit,
    flatten,
    flip,
    fliplr,
    flipud,
    hsplit,
    hstack,
    kron,
    moveaxis,
    movedim,
    narrow,
    permute,
    ravel,
    repeat_interleave,
    reshape,
    roll,
    rot90,
    select,
    split,
    squeeze,
    stack,
    swapaxes,
    swapdims,
    t,
    tensor_split,
    tile,
    trace,
    transpose,
    tril,
    triu,
    unbind,
    unflatten,
    unsqueeze,
    vsplit,
    vstack,
)
from .ops.nn_ops import log_softmax, softmax
from .ops.reduction import (
    all,
    amax,
    amin,
    aminmax,
    any,
    argmax,
    argmin,
    count_nonzero,
    cumprod,
    cumsum,
    diff,
    hash_tensor,
    logcumsumexp,
    logsumexp,
    max,
    mean,
    min,
    nanmean,
    nansum,
    norm,
    prod,
    std,
    std_mean,
    sum,
    var,
    var_mean,
)
from .ops.special import digamma, erfinv, lgamma, logit, polygamma, sinc, xlogy
from .random import (
    Generator,
    bernoulli,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    multinomial,
    normal,
    poisson,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    seed,
    set_rng_state,
)
from .serialization import load, save

# isort: split
# elementwise and misc math (issue #13: inverse hyperbolics, copysign..., histograms, integrals)
from .ops.elementwise import (
    acosh,
    arccosh,
    arcsinh,
    arctanh,
    asinh,
    atanh,
    bitwise_left_shift,
    bitwise_right_shift,
    copysign,
    fill,
    frexp,
    gcd,
    heaviside,
    isin,
    isreal,
    lcm,
    ldexp,
    nextafter,
    positive,
)
from .ops.indexing import histogram, histogramdd
from .ops.reduction import cumulative_trapezoid, dist, gradient, renorm, trapezoid, trapz

# isort: split
# special functions and signal windows (ops/special.py, signal/windows.py)
from . import signal
from .ops.special import erfc, i0, igamma, igammac, mvlgamma
from .signal.windows import bartlett_window, blackman_window, hamming_window, hann_window, kaiser_window

# isort: split
# linalg: torch-level decompositions, solvers and determinants (ops/decompositions.py)
from .ops.decompositions import (
    cholesky_inverse,
    cholesky_solve,
    det,
    geqrf,
    logdet,
    lu_unpack,
    matrix_exp,
    matrix_power,
    ormqr,
    pinverse,
    triangular_solve,
)
from .ops.decompositions import householder_product as orgqr
from .ops.decompositions import inv as inverse
from .ops.decompositions import torch_cholesky as cholesky
from .ops.decompositions import torch_lu as lu
from .ops.decompositions import torch_lu_solve as lu_solve
from .ops.decompositions import torch_qr as qr
from .ops.decompositions import torch_slogdet as slogdet
from .ops.decompositions import torch_svd as svd
from .ops.linalg import addbmm, addr
from .ops.lowrank import pca_lowrank, svd_lowrank

# isort: split
# movement, indexing and creation ops (issue #13: torch's remaining op_db names; layout/memory_format objects)
from ._creation import empty_permuted, empty_strided, tril_indices, triu_indices
from ._layout import channels_last, channels_last_3d, contiguous_format, layout, memory_format, preserve_format, strided
from .ops.indexing import (
    _segment_reduce,
    _unsafe_masked_index,
    _unsafe_masked_index_put_accumulate,
    index_copy,
    index_reduce,
    nonzero_static,
    put,
    segment_reduce,
    unique_consecutive,
    unravel_index,
)
from .ops.movement import (
    _chunk_cat,
    alias_copy,
    as_strided,
    as_strided_copy,
    as_strided_scatter,
    atleast_3d,
    column_stack,
    combinations,
    diagflat,
    diagonal_copy,
    diagonal_scatter,
    dstack,
    expand_copy,
    narrow_copy,
    permute_copy,
    select_scatter,
    slice_scatter,
    split_with_sizes,
    split_with_sizes_copy,
    squeeze_copy,
    t_copy,
    transpose_copy,
    unbind_copy,
    unfold_copy,
    unsafe_chunk,
    unsafe_split,
    unsqueeze_copy,
    view_copy,
)
from .ops.movement import slice_tensor as slice  # noqa: A004 - aten's slice.Tensor (op_db's "slice")


def resize_as_(input: Tensor, the_template: Tensor, *, memory_format=None) -> Tensor:  # noqa: F811 - torch's parameter name
    """``input.resize_as_(the_template)``: ``input`` takes the template's shape (in place)."""
    return input.resize_as_(the_template, memory_format=memory_format)


def as_strided_(input: Tensor, size, stride, storage_offset=None) -> Tensor:
    """``input.as_strided_(...)``: ``input`` becomes that view of its storage (in place)."""
    return input.as_strided_(size, stride, storage_offset)


def zero_(input: Tensor) -> Tensor:
    """``input.zero_()``: fill with zeros in place."""
    return input.zero_()


__version__ = "0.1.0"


_LAZY_SUBMODULES = ("datasets", "transforms", "onnx", "diagnostics", "cli", "distributions", "testing", "vision", "metrics")


def __getattr__(name: str):
    # Submodules with optional dependencies load on first use (``backprop.datasets``).
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    if name == "bfloat16":  # ml_dtypes (optional) is imported the first time bfloat16 is asked for
        from ._dtype import get_bfloat16

        return get_bfloat16()
    raise AttributeError(f"module 'backprop' has no attribute '{name}'")

# torch's dtype aliases
float = float32  # noqa: A001
double = float64
half = float16
long = int64
int = int32  # noqa: A001
short = int16

# ---- complex dtypes, bfloat16 and fft (complex/bfloat16/fft helper) ----
from . import fft  # noqa: E402
from ._dtype import complex64, complex128  # noqa: E402
from .fft import istft, stft  # noqa: E402
from .ops.complex_ops import (  # noqa: E402
    angle,
    complex,  # noqa: A004 - torch's name
    conj,
    conj_physical,
    imag,
    is_conj,
    is_neg,
    polar,
    real,
    resolve_conj,
    resolve_neg,
    sgn,
    view_as_complex,
    view_as_real,
)

cfloat = complex64
cdouble = complex128


def is_complex(input: Tensor) -> _builtins.bool:
    return input.is_complex()


def adjoint(input: Tensor) -> Tensor:
    """The conjugate transpose of the last two dims (a copy here, a view in torch)."""
    return input.adjoint()
# ---- end complex dtypes, bfloat16 and fft ----

_num_threads = [1]


def set_num_threads(n) -> None:
    """Set the number of threads for BLAS (through threadpoolctl when installed)."""
    from ._backend import set_num_threads as _set

    _num_threads[0] = _builtins.int(n)
    _set(n)


def get_num_threads():
    return _num_threads[0]


def set_num_interop_threads(n) -> None:
    """No-op: backprop has no inter-op thread pool."""


def get_num_interop_threads():
    return 1


def is_tensor(obj) -> _builtins.bool:
    return isinstance(obj, Tensor)


def is_floating_point(input: Tensor) -> _builtins.bool:
    return input.is_floating_point()


def is_nonzero(input: Tensor) -> _builtins.bool:
    return _builtins.bool(input)


def numel(input: Tensor):
    return input.numel()


def result_type(tensor1, tensor2) -> dtype:
    from ._dtype import result_type as _rt

    return _rt(tensor1, tensor2)


def can_cast(from_: dtype, to: dtype) -> _builtins.bool:
    return from_._kind <= to._kind


def use_deterministic_algorithms(mode, *, warn_only=False) -> None:  # noqa: F811 - torch.mode shadowed by torch's parameter name
    """No-op: every backprop op is deterministic."""


def are_deterministic_algorithms_enabled() -> _builtins.bool:
    return True


def detach(input: Tensor) -> Tensor:
    return input.detach()


def numel_of(shape) -> _builtins.int:
    n = 1
    for s in shape:
        n *= s
    return n


def _typed_constructor(name: str, dt):
    """Legacy ``torch.FloatTensor(...)``-style constructors: data -> a copy, sizes -> uninitialized."""

    def make(*args):
        if args and _builtins.all(isinstance(a, _builtins.int) for a in args):
            return empty(*args, dtype=dt)
        if not args:
            return empty(0, dtype=dt)
        return tensor(args[0], dtype=dt)

    make.__name__ = name
    make.__doc__ = f"Legacy constructor: ``{name}(data)`` or ``{name}(*sizes)`` with dtype {dt}."
    return make


FloatTensor = _typed_constructor("FloatTensor", float32)
DoubleTensor = _typed_constructor("DoubleTensor", float64)
HalfTensor = _typed_constructor("HalfTensor", float16)
LongTensor = _typed_constructor("LongTensor", int64)
IntTensor = _typed_constructor("IntTensor", int32)
ShortTensor = _typed_constructor("ShortTensor", int16)
CharTensor = _typed_constructor("CharTensor", int8)
ByteTensor = _typed_constructor("ByteTensor", uint8)
BoolTensor = _typed_constructor("BoolTensor", bool)


# ---- nn (issue #13): aten-level nn entry points of torch's namespace, implemented in nn.functional
from .nn.functional import (  # noqa: E402
    _batch_norm_with_update,
    _native_batch_norm_legit,
    _safe_softmax,
    _softmax_backward_data,
    _upsample_bilinear2d_aa,
    constant_pad_nd,
    grid_sampler_2d,
    grid_sampler_3d,
    max_pool2d_with_indices_backward,
    native_batch_norm,
    native_dropout_backward,
    native_group_norm,
    native_layer_norm,
)

# isort: split
# ---- complex/misc (issue #13, wt_cx_misc): torch's sparse layout objects, which every op refuses
from ._layout import sparse_bsc, sparse_bsr, sparse_coo, sparse_csc, sparse_csr  # noqa: E402

# isort: split
# ---- autograd (issue #14, wt_autograd): torch's in-place functions of the torch namespace
from .nn.functional import celu_, rrelu_, selu_, threshold_  # noqa: E402


def _inplace_function(name: str):
    """``torch.<name>(input, *args)``: the Tensor method ``input.<name>(*args)``."""

    def fn(input: Tensor, *args, **kwargs) -> Tensor:
        return getattr(input, name)(*args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"In-place version of ``{name[:-1]}``: ``input.{name}(...)``."
    return fn


for _name in (
    "abs_ acos_ acosh_ arccos_ arccosh_ arcsin_ arcsinh_ arctan_ arctanh_ asin_ asinh_ atan_ atanh_ ceil_ clamp_ "
    "clamp_max_ clamp_min_ clip_ cos_ cosh_ deg2rad_ erf_ erfc_ exp2_ exp_ expm1_ fix_ floor_ frac_ i0_ log10_ log1p_ "
    "log2_ log_ logit_ nan_to_num_ neg_ negative_ rad2deg_ reciprocal_ relu_ round_ rsqrt_ sigmoid_ sin_ sinc_ sinh_ "
    "sqrt_ square_ tan_ tanh_ trunc_ xlogy_"
).split():
    if hasattr(Tensor, _name) and _name not in globals():
        globals()[_name] = _inplace_function(_name)
del _name

# isort: split
# ---- serialization (issue #14, wt_serial): torch's limited-support unsigned dtypes (checkpoints' U16/U32/U64)
from ._dtype import uint16, uint32, uint64  # noqa: E402

# isort: split
# ---- sparse COO tensors (issue #14, wt_sparse): torch.sparse_coo_tensor, torch.spmm and the torch.sparse namespace
from . import sparse  # noqa: E402
from .ops.sparse import install_methods as _install_sparse_methods  # noqa: E402
from .ops.sparse import sparse_coo_tensor  # noqa: E402
from .sparse import spmm  # noqa: E402

_install_sparse_methods()  # once every Tensor method is bound: the dense ones refuse sparse tensors
# torch's functional forms that take a sparse tensor (the dense call pays one identity test)
from .ops import sparse as _sparse_ops  # noqa: E402

add = _sparse_ops.sparse_aware(add, _sparse_ops.add, second=True)
sub = _sparse_ops.sparse_aware(sub, _sparse_ops.sub, second=True)
mul = _sparse_ops.sparse_aware(mul, _sparse_ops.mul)
div = _sparse_ops.sparse_aware(div, _sparse_ops.div)
neg = _sparse_ops.sparse_aware(neg, _sparse_ops.neg)
sum = _sparse_ops.sparse_aware(sum, _sparse_ops._sum_method)  # noqa: A001 - torch's name
t = _sparse_ops.sparse_aware(t, _sparse_ops.t)
transpose = _sparse_ops.sparse_aware(transpose, _sparse_ops.transpose)
clone = _sparse_ops.sparse_aware(clone, _sparse_ops.clone)
zeros_like = _sparse_ops.sparse_aware(zeros_like, _sparse_ops.zeros_like)
isnan = _sparse_ops.sparse_aware(isnan, _sparse_ops.SparseTensor.isnan)
isinf = _sparse_ops.sparse_aware(isinf, _sparse_ops.SparseTensor.isinf)

# isort: split
# ---- mixed precision (backprop.amp), backends, backprop.cpu ----
from . import amp, cpu  # noqa: E402
from .amp.autocast_mode import (  # noqa: E402
    autocast,
    autocast_decrement_nesting,
    autocast_increment_nesting,
    clear_autocast_cache,
    get_autocast_cpu_dtype,
    get_autocast_dtype,
    get_autocast_gpu_dtype,
    get_autocast_ipu_dtype,
    get_autocast_xla_dtype,
    is_autocast_cache_enabled,
    is_autocast_cpu_enabled,
    is_autocast_enabled,
    is_autocast_ipu_enabled,
    is_autocast_xla_enabled,
    set_autocast_cache_enabled,
    set_autocast_cpu_dtype,
    set_autocast_cpu_enabled,
    set_autocast_dtype,
    set_autocast_enabled,
    set_autocast_gpu_dtype,
    set_autocast_ipu_dtype,
    set_autocast_ipu_enabled,
    set_autocast_xla_dtype,
    set_autocast_xla_enabled,
)
from .backends.cuda import get_float32_matmul_precision, set_float32_matmul_precision  # noqa: E402

# ---- end mixed precision ----

# isort: split
# ---- bad input (issue #14, wt_errors): the out-of-memory error (torch.OutOfMemoryError, a RuntimeError)
from .ops._utils import OutOfMemoryError  # noqa: E402

# isort: split
# ---- torch.compile: a compiled Module is an OptimizedModule wrapping the original (programs see torch's
# type, `_orig_mod`, and '_orig_mod.'-prefixed state_dict keys); functions come back unchanged ----
from . import _dynamo  # noqa: E402
from ._dynamo.eval_frame import compile  # noqa: E402, A004

# ---- end torch.compile ----
