"""Dtypes with PyTorch's names and promotion rules.

A ``dtype`` wraps a NumPy dtype. Promotion follows torch: operands are ranked by kind
(bool < integer < floating < complex); tensors with dimensions outrank zero-dim tensors, which
outrank Python numbers, whose dtype only matters when they are of a higher kind
(``int_tensor * 2.5`` is float32, ``float16_tensor * 2.5`` stays float16).

Complex dtypes are NumPy's; a float and a complex dtype promote to the complex dtype wide
enough for both (float64 + complex64 -> complex128), and a Python complex number takes the
default complex dtype, which follows the default float dtype. ``bfloat16`` is ml_dtypes'
NumPy dtype (an optional dependency), created the first time ``bfloat16`` is asked for.
"""

from __future__ import annotations

import numpy as np


class dtype:  # noqa: N801 - torch's name
    __slots__ = ("name", "np", "is_floating_point", "is_complex", "is_signed", "itemsize", "_kind")

    def __init__(self, name: str, np_dtype, kind: int):
        self.name = name
        self.np = np.dtype(np_dtype)
        self._kind = kind  # 0 bool, 1 integer, 2 floating, 3 complex
        self.is_floating_point = kind == 2
        self.is_complex = kind == 3
        self.is_signed = kind >= 2 or self.np.kind == "i"
        self.itemsize = self.np.itemsize

    def to_real(self) -> dtype:
        """The real dtype of a complex one (complex64 -> float32); other dtypes are their own."""
        return _TO_REAL.get(self, self)

    def to_complex(self) -> dtype:
        """The complex dtype of a floating one (float64 -> complex128; float16/bfloat16 -> complex64,
        NumPy having no complex32)."""
        if self._kind == 3:
            return self
        return complex128 if self is float64 else complex64

    def __repr__(self) -> str:
        return f"backprop.{self.name}"

    def __reduce__(self):
        return self.name


bool_ = dtype("bool", np.bool_, 0)
uint8 = dtype("uint8", np.uint8, 1)
int8 = dtype("int8", np.int8, 1)
int16 = dtype("int16", np.int16, 1)
int32 = dtype("int32", np.int32, 1)
int64 = dtype("int64", np.int64, 1)
float16 = dtype("float16", np.float16, 2)
float32 = dtype("float32", np.float32, 2)
float64 = dtype("float64", np.float64, 2)
complex64 = dtype("complex64", np.complex64, 3)
complex128 = dtype("complex128", np.complex128, 3)

ALL_DTYPES = (bool_, uint8, int8, int16, int32, int64, float16, float32, float64, complex64, complex128)
_FROM_NUMPY = {d.np: d for d in ALL_DTYPES}

# torch's unsigned dtypes of limited support (uint16/32/64): tensors of them come from checkpoints
# (safetensors' U16/U32/U64), print, convert (``.to(int64)``), compare; promoting them with another
# dtype raises as in torch. Not in ALL_DTYPES: ops are not expected to support them.
uint16 = dtype("uint16", np.uint16, 1)
uint32 = dtype("uint32", np.uint32, 1)
uint64 = dtype("uint64", np.uint64, 1)
_LIMITED_UNSIGNED = (uint16, uint32, uint64)
_FROM_NUMPY.update({d.np: d for d in _LIMITED_UNSIGNED})
# torch's ScalarType names, which its promotion error messages use.
_SCALAR_TYPE_NAMES = {
    "bool": "Bool", "uint8": "Byte", "int8": "Char", "int16": "Short", "int32": "Int", "int64": "Long",
    "float16": "Half", "bfloat16": "BFloat16", "float32": "Float", "float64": "Double",
    "complex64": "ComplexFloat", "complex128": "ComplexDouble", "uint16": "UInt16", "uint32": "UInt32", "uint64": "UInt64",
}
_TO_REAL = {complex64: float32, complex128: float64}

_default_float = float32
_default_complex = complex64

# NumPy dtype kinds of the real floating dtypes: "f" (float16/32/64) and "V", the kind of
# ml_dtypes' bfloat16 (the only "V" dtype a tensor can hold). Test floating-ness through these
# rather than ``kind == "f"``, which misses bfloat16.
FLOAT_KINDS = "fV"


def is_float_kind(kind: str) -> bool:
    """Whether a NumPy dtype kind is a real floating one (bfloat16 included)."""
    return kind == "f" or kind == "V"


def is_float_array(arr) -> bool:
    """Whether an array holds a real floating dtype (float16/32/64 or bfloat16)."""
    kind = arr.dtype.kind
    return kind == "f" or kind == "V"


_bfloat16 = None


def get_bfloat16() -> dtype:
    """backprop.bfloat16: ml_dtypes' NumPy bfloat16, imported the first time it is needed."""
    global _bfloat16
    if _bfloat16 is None:
        try:
            import ml_dtypes
        except ImportError:
            raise ImportError(
                "bfloat16 needs the ml_dtypes package (NumPy's bfloat16): pip install 'backprop[bfloat16]'"
            ) from None
        _bfloat16 = dtype("bfloat16", ml_dtypes.bfloat16, 2)
        _FROM_NUMPY[_bfloat16.np] = _bfloat16
    return _bfloat16


def __getattr__(name: str):
    if name == "bfloat16":
        return get_bfloat16()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def from_numpy_dtype(np_dtype) -> dtype:
    """The backprop dtype of a NumPy dtype; TypeError for ones torch has no equivalent of."""
    try:
        return _FROM_NUMPY[np_dtype]
    except KeyError:
        pass
    try:
        return _FROM_NUMPY[np.dtype(np_dtype)]
    except (KeyError, TypeError):
        if getattr(np_dtype, "name", None) == "bfloat16" or np_dtype == "bfloat16":
            return get_bfloat16()  # an ml_dtypes array made before backprop.bfloat16 was first used
        raise TypeError(
            f"can't convert np.ndarray of type {np.dtype(np_dtype)}. The only supported types are: "
            "complex128, complex64, float64, float32, float16, bfloat16, int64, int32, int16, int8, uint64, uint32, uint16, uint8, and bool."
        ) from None


def to_dtype(value) -> dtype:
    """Accept a backprop dtype, a NumPy dtype/type or a Python type (float, int, bool)."""
    if isinstance(value, dtype):
        return value
    if value is float:  # torch maps the Python type to float64, whatever the default dtype
        return float64
    if value is int:
        return int64
    if value is bool:
        return bool_
    if value is complex:
        return complex128
    return from_numpy_dtype(value)


def get_default_dtype() -> dtype:
    return _default_float


def set_default_dtype(d) -> None:
    global _default_float, _default_complex
    if not isinstance(d, dtype):
        raise TypeError("invalid dtype object: only floating-point types are supported as the default type")
    if not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default_float = d
    _default_complex = d.to_complex()


def promote_types(a: dtype, b: dtype) -> dtype:
    """torch.promote_types: the smallest dtype both ``a`` and ``b`` convert to."""
    if a is b:
        return a
    if a in _LIMITED_UNSIGNED or b in _LIMITED_UNSIGNED:
        raise RuntimeError(
            "Promotion for uint16, uint32, uint64 types is not supported, attempted to promote "
            f"{_SCALAR_TYPE_NAMES[a.name]} and {_SCALAR_TYPE_NAMES[b.name]}"
        )
    ka, kb = a._kind, b._kind
    if ka != kb and (ka >= 2 or kb >= 2):
        if ka < 2 or kb < 2:  # bool/integer with floating/complex: the latter
            return a if ka > kb else b
        # a float with a complex dtype: the complex dtype whose parts hold both
        return complex128 if complex128 in (a, b) or float64 in (a, b) else complex64
    return _FROM_NUMPY[np.promote_types(a.np, b.np)]


def scalar_dtype(value) -> dtype:
    """The dtype a Python number takes when it is an operand: bool, int64 or the default float."""
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return int64
    if isinstance(value, float):
        return _default_float
    if isinstance(value, complex):
        return _default_complex
    if isinstance(value, np.generic):
        return from_numpy_dtype(value.dtype)
    raise TypeError(f"unsupported scalar type {type(value).__name__}")


def _combine(higher: dtype | None, lower: dtype | None) -> dtype | None:
    # torch's combine_categories: a higher tier keeps its dtype unless the lower one is of a
    # higher kind (or the higher one is bool), in which case the two are promoted.
    if higher is None:
        return lower
    if lower is None or higher._kind >= lower._kind and higher._kind != 0:
        return higher
    return promote_types(higher, lower)


def result_type(*operands) -> dtype:
    """torch.result_type over tensors and Python numbers (see module docstring)."""
    from ._tensor import Tensor

    dim = zero = wrapped = None
    for op in operands:
        if isinstance(op, Tensor):
            d = op.dtype
            if op._data.ndim:
                dim = d if dim is None else promote_types(dim, d)
            else:
                zero = d if zero is None else promote_types(zero, d)
        elif op is not None:
            d = scalar_dtype(op)
            wrapped = d if wrapped is None else promote_types(wrapped, d)
    return _combine(dim, _combine(zero, wrapped))


class finfo:  # noqa: N801 - torch's name
    """Machine limits of a floating dtype (torch.finfo)."""

    def __init__(self, d: dtype | None = None):
        d = get_default_dtype() if d is None else to_dtype(d)
        if d.name == "bfloat16":
            import ml_dtypes

            info = ml_dtypes.finfo(d.np)
        else:
            info = np.finfo(d.to_real().np)
        self.bits = info.bits
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = float(info.tiny)
        self.smallest_normal = float(info.tiny)
        self.resolution = 10.0 ** -int(info.precision)
        self.dtype = d.to_real().name


class iinfo:  # noqa: N801 - torch's name
    """Machine limits of an integer dtype (torch.iinfo)."""

    def __init__(self, d: dtype):
        d = to_dtype(d)
        info = np.iinfo(d.np)
        self.bits = info.bits
        self.max = int(info.max)
        self.min = int(info.min)
        self.dtype = d.name
