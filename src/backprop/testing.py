"""``torch.testing``: ``assert_close`` and ``make_tensor`` for users' own tests.

``assert_close(actual, expected)`` compares tensors, NumPy arrays, Python numbers and (nested)
sequences and mappings of them: same type, shape and (by default) dtype, then
``|actual - expected| <= atol + rtol * |expected|`` elementwise with torch's default tolerances
per dtype, and torch's failure messages (mismatch count, greatest absolute and relative
difference and where, and which item of a container failed).

Tensors (and arrays) on different devices fail unless ``check_device=False``, as in torch; the
values are compared on host copies, so CPU and CUDA tensors compare alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy

from . import _dtype
from ._backend import backend_of, is_array, move
from ._device import target_device
from ._tensor import Size, Tensor

__all__ = ["assert_close", "make_tensor"]

# (rtol, atol) by dtype, as torch.testing
_TOLERANCES = {"float16": (1e-3, 1e-5), "float32": (1.3e-6, 1e-5), "float64": (1e-7, 1e-7)}


class _MismatchError(AssertionError):
    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path


def _tolerances(dtype, rtol, atol) -> tuple:
    if (rtol is None) != (atol is None):
        missing = "rtol" if rtol is None else "atol"
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no {missing}.")
    if rtol is not None:
        return float(rtol), float(atol)
    return _TOLERANCES.get(dtype.name, (0.0, 0.0))


def _fmt(value) -> str:
    return repr(value.item()) if hasattr(value, "item") else repr(value)


def _compare_arrays(actual, expected, rtol, atol, equal_nan: bool, scalar: bool) -> None:
    """Compare two host (NumPy) arrays."""
    a = actual.astype(numpy.int64) if actual.dtype.kind == "b" else actual
    e = expected.astype(numpy.int64) if expected.dtype.kind == "b" else expected
    if a.dtype.kind == "f" or e.dtype.kind == "f":
        with numpy.errstate(invalid="ignore"):  # inf - inf: equal infinities are caught below
            close = numpy.abs(a - e) <= atol + rtol * numpy.abs(e)
        close |= a == e  # infinities of the same sign
        if equal_nan:
            close |= numpy.isnan(a) & numpy.isnan(e)
    else:
        close = numpy.abs(a - e) <= atol + rtol * numpy.abs(e) if (rtol or atol) else a == e
    if close.all():
        return
    exact = rtol == 0 and atol == 0
    word = "equal" if exact else "close"
    float_kind = numpy.result_type(a.dtype, e.dtype) if a.dtype.kind == "f" or e.dtype.kind == "f" else numpy.float32
    with numpy.errstate(divide="ignore", invalid="ignore"):
        abs_diff = numpy.abs(a - e)
        rel_diff = (abs_diff.astype(float_kind) / numpy.abs(e).astype(float_kind)).astype(float_kind)
    allowed_abs = "" if exact else f" (up to {atol!r} allowed)"
    allowed_rel = "" if exact else f" (up to {rtol!r} allowed)"
    if scalar:
        raise _MismatchError(
            f"Scalars are not {word}!\n\nExpected {_fmt(expected)} but got {_fmt(actual)}.\n"
            f"Absolute difference: {_fmt(abs_diff)}{allowed_abs}\nRelative difference: {_fmt(rel_diff)}{allowed_rel}"
        )

    def greatest(diff):
        flat = diff.reshape(-1)
        nans = numpy.isnan(flat) if flat.dtype.kind == "f" else None
        i = int(numpy.argmax(nans)) if nans is not None and nans.any() else int(numpy.argmax(flat))
        return _fmt(flat[i]), tuple(int(k) for k in numpy.unravel_index(i, diff.shape))

    mismatched = int((~close).sum())
    total = close.size
    abs_value, abs_index = greatest(abs_diff)
    rel_value, rel_index = greatest(rel_diff)
    raise _MismatchError(
        f"Tensor-likes are not {word}!\n\nMismatched elements: {mismatched} / {total} ({100.0 * mismatched / total:.1f}%)\n"
        f"Greatest absolute difference: {abs_value} at index {abs_index}{allowed_abs}\n"
        f"Greatest relative difference: {rel_value} at index {rel_index}{allowed_rel}"
    )


def _compare(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, path: str) -> None:
    tensors = isinstance(actual, Tensor) and isinstance(expected, Tensor) and type(actual) is type(expected)
    if tensors or (is_array(actual) and is_array(expected)):  # arrays: NumPy's or CuPy's
        a = actual._data if tensors else actual
        e = expected._data if tensors else expected
        wrap = Size if tensors else tuple
        if a.shape != e.shape:
            raise _MismatchError(f"The values for attribute 'shape' do not match: {wrap(a.shape)} != {wrap(e.shape)}.", path)
        a_backend, e_backend = backend_of(a), backend_of(e)
        if check_device:
            da, de = a_backend.device_of(a), e_backend.device_of(e)
            if da != de:
                raise _MismatchError(f"The values for attribute 'device' do not match: {da} != {de}.", path)
        if check_dtype and a.dtype != e.dtype:
            da, de = (actual.dtype, expected.dtype) if tensors else (a.dtype, e.dtype)
            raise _MismatchError(f"The values for attribute 'dtype' do not match: {da} != {de}.", path)
        dtype = _dtype.from_numpy_dtype(numpy.result_type(a.dtype, e.dtype))
        r, t = _tolerances(dtype, rtol, atol)
        try:
            _compare_arrays(a_backend.to_host(a), e_backend.to_host(e), r, t, equal_nan, scalar=a.ndim == 0 and tensors)
        except _MismatchError as exc:
            raise _MismatchError(exc.message, path) from None
        return
    numbers = (bool, int, float)
    if isinstance(actual, numbers) and isinstance(expected, numbers) and type(actual) is type(expected):
        kind = {bool: "bool", int: "int64", float: "float64"}[type(actual)]
        r, t = _tolerances(getattr(_dtype, kind) if kind != "bool" else _dtype.bool_, rtol, atol)
        if isinstance(actual, float) and math.isnan(actual) and math.isnan(expected) and equal_nan:
            return
        try:
            _compare_arrays(numpy.asarray(actual), numpy.asarray(expected), r, t, equal_nan, scalar=True)
        except _MismatchError as exc:
            raise _MismatchError(exc.message, path) from None
        return
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        if set(actual) != set(expected):
            missing = sorted(map(repr, set(expected) - set(actual)))
            extra = sorted(map(repr, set(actual) - set(expected)))
            raise _MismatchError(
                "The keys of the mappings do not match:\n"
                + (f"Missing keys in the actual mapping: {', '.join(missing)}\n" if missing else "")
                + (f"Additional keys in the actual mapping: {', '.join(extra)}\n" if extra else ""),
                path,
            )
        for key in expected:
            _compare(actual[key], expected[key], rtol, atol, equal_nan, check_device, check_dtype, f"{path}[{key!r}]")
        return
    if isinstance(actual, Sequence) and isinstance(expected, Sequence) and not isinstance(actual, str) and not isinstance(expected, str):
        if len(actual) != len(expected):
            raise _MismatchError(f"The length of the sequences mismatch: {len(actual)} != {len(expected)}", path)
        for i, (x, y) in enumerate(zip(actual, expected)):
            _compare(x, y, rtol, atol, equal_nan, check_device, check_dtype, f"{path}[{i}]")
        return
    raise TypeError(f"No comparison pair was able to handle inputs of type {type(actual)} and {type(expected)}.")


def assert_close(
    actual,
    expected,
    *,
    allow_subclasses: bool = True,
    rtol: float | None = None,
    atol: float | None = None,
    equal_nan: bool = False,
    check_device: bool = True,
    check_dtype: bool = True,
    check_layout: bool = True,
    check_stride: bool = False,
    msg: str | Callable[[str], str] | None = None,
) -> None:
    """Raise ``AssertionError`` unless ``actual`` and ``expected`` are close (see the module docstring)."""
    _tolerances(_dtype.float32, rtol, atol)  # both or neither, checked before any comparison (as torch)
    try:
        _compare(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, "")
    except _MismatchError as exc:
        message = exc.message + (f"\n\nThe failure occurred for item {exc.path}" if exc.path else "")
        if callable(msg):
            message = msg(message)
        elif msg is not None:
            message = msg
        raise AssertionError(message) from None


def make_tensor(
    *shape,
    dtype,
    device=None,
    low: float | None = None,
    high: float | None = None,
    requires_grad: bool = False,
    noncontiguous: bool = False,
    exclude_zero: bool = False,
    memory_format=None,
) -> Tensor:
    """A random tensor for tests: floats uniform in [low, high) (default [-9, 9)), integers in
    [low, high) (default [-9, 10)), bools either; ``noncontiguous`` gives a strided view. The
    values are drawn on the host (the default generator) and copied to ``device`` (None: the
    default device), so a seed gives the same tensor on every device."""
    from . import random as _random
    from ._tensor import _make

    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    dt = _dtype.to_dtype(dtype)
    rng = _random.default_generator.rng
    full = shape[:-1] + (shape[-1] * 2,) if noncontiguous and shape else shape
    if dt.np == numpy.bool_:
        arr = rng.random(full) < 0.5
    elif dt.np.kind in "iu":
        lo = -9 if low is None else math.ceil(low)
        hi = 10 if high is None else math.ceil(high)
        if dt.np.kind == "u":
            lo = max(lo, 0)
        arr = rng.integers(lo, hi, size=full).astype(dt.np)
        if exclude_zero:
            arr[arr == 0] = 1
    else:
        lo = -9.0 if low is None else float(low)
        hi = 9.0 if high is None else float(high)
        if lo > hi:
            raise ValueError(f"`low` must be less than or equal to `high`, but got {lo} > {hi}")
        arr = rng.uniform(lo, hi, size=full).astype(dt.np)
        if exclude_zero:
            arr[arr == 0] = numpy.finfo(dt.np).tiny
    target = target_device(device)
    if target is not None:
        arr = move(arr, target)
    if noncontiguous and shape:
        arr = arr[..., ::2]
    t = _make(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t
