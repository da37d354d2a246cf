"""``repr(tensor)`` in torch's format: ``tensor([[1.0000, 2.5000]], requires_grad=True)``.

Follows torch's rules: 4 decimals; integer-valued floats print as ``1.``; scientific notation
when the finite magnitudes span more than 1e3 or leave [1e-4, 1e8]; rows wrap at 80 columns;
tensors over 1000 elements are summarized with 3 edge items; dtype shown unless default;
the device shown unless it is the CPU (``device='cuda:0'``, first of the suffixes, as torch).

The values are read through one host copy: a summarized tensor is first cut down to its edge
items on its own device (``_edges``), so printing a large CUDA tensor copies a few dozen numbers.
"""

from __future__ import annotations

import math

import numpy as np

from . import _dtype
from ._backend import array_module, backend_of


class _PrintOptions:
    precision = 4
    threshold = 1000
    edgeitems = 3
    linewidth = 80
    sci_mode = None


PRINT_OPTS = _PrintOptions()


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None) -> None:
    if profile == "default":
        PRINT_OPTS.precision, PRINT_OPTS.threshold, PRINT_OPTS.edgeitems, PRINT_OPTS.linewidth = 4, 1000, 3, 80
    elif profile == "short":
        PRINT_OPTS.precision, PRINT_OPTS.threshold, PRINT_OPTS.edgeitems, PRINT_OPTS.linewidth = 2, 1000, 2, 80
    elif profile == "full":
        PRINT_OPTS.precision, PRINT_OPTS.threshold, PRINT_OPTS.edgeitems, PRINT_OPTS.linewidth = 4, math.inf, 3, 80
    if precision is not None:
        PRINT_OPTS.precision = precision
    if threshold is not None:
        PRINT_OPTS.threshold = threshold
    if edgeitems is not None:
        PRINT_OPTS.edgeitems = edgeitems
    if linewidth is not None:
        PRINT_OPTS.linewidth = linewidth
    PRINT_OPTS.sci_mode = sci_mode


class _Formatter:
    """torch's ``_Formatter``: the mode (int/sci) and width come from the nonzero finite values only."""

    def __init__(self, values: np.ndarray):
        self.kind = values.dtype.kind
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        if self.kind == "c":  # torch: one formatter for the real parts, one for the imaginary parts
            self.parts = (_Formatter(values.real), _Formatter(values.imag))
            self.width = self.parts[0].width + self.parts[1].width + 1
            return
        if self.kind == "V":  # bfloat16: formatted through float32
            values = values.astype(np.float32)
            self.kind = "f"
        if self.kind not in "fc":
            self.width = max((len(str(v)) for v in values.ravel().tolist()), default=1)
            return
        flat = values.ravel()
        nonzero = flat[np.isfinite(flat) & (flat != 0)]
        if not nonzero.size:
            return
        absolute = np.abs(nonzero.astype(np.float64))
        lo, hi = absolute.min(), absolute.max()
        self.int_mode = bool((nonzero == np.ceil(nonzero)).all())
        self.sci_mode = hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4
        if PRINT_OPTS.sci_mode is not None:
            self.sci_mode = PRINT_OPTS.sci_mode
        p = PRINT_OPTS.precision
        vals = nonzero.tolist()
        if self.sci_mode:
            self.width = max(len(f"{v:.{p}e}") for v in vals)
        elif self.int_mode:
            self.width = max(len(f"{v:.0f}") + 1 for v in vals)
        else:
            self.width = max(len(f"{v:.{p}f}") for v in vals)

    def _raw(self, v) -> str:
        if self.kind not in "fc":
            return str(v)
        p = PRINT_OPTS.precision
        if self.sci_mode:
            return f"{v:.{p}e}"
        if self.int_mode:
            return f"{v:.0f}" if math.isinf(v) or math.isnan(v) else f"{v:.0f}."
        return f"{v:.{p}f}"

    def format(self, v) -> str:
        if self.kind == "c":
            v = complex(v)
            real_str = self.parts[0].format(v.real)
            imag_str = (self.parts[1].format(v.imag) + "j").lstrip()
            return real_str + imag_str if imag_str[0] in "+-" else real_str + "+" + imag_str
        return self._raw(v).rjust(self.width)


def _edges(arr, edge: int):
    """``arr`` cut down, on its own device, to the first and last ``edge`` items of every
    dimension longer than ``2 * edge`` (the items a summarized repr shows)."""
    xp = array_module(arr)
    for axis, n in enumerate(arr.shape):
        if n > 2 * edge:
            head = (slice(None),) * axis + (slice(0, edge),)
            tail = (slice(None),) * axis + (slice(n - edge, n),)
            arr = xp.concatenate([arr[head], arr[tail]], axis=axis)
    return arr


def _format_array(arr: np.ndarray, fmt: _Formatter, indent: int, cut: tuple) -> str:
    """``arr``'s nested rows; ``cut[d]``: dimension ``d`` is summarized (its middle items were
    dropped by ``_edges``, or are skipped here): ``...`` goes between its edge items."""
    edge = PRINT_OPTS.edgeitems
    if arr.ndim == 1:
        items = arr.tolist()
        if cut[0]:
            parts = [fmt.format(v) for v in items[:edge]] + [" ..."] + [fmt.format(v) for v in items[-edge:]]
        else:
            parts = [fmt.format(v) for v in items]
        per_line = max(int((PRINT_OPTS.linewidth - indent) // (fmt.width + 2)), 1)
        lines = [", ".join(parts[i : i + per_line]) for i in range(0, len(parts), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    rows = list(range(arr.shape[0]))
    inner = cut[1:]
    if cut[0]:
        chunks = [_format_array(arr[i], fmt, indent + 1, inner) for i in rows[:edge]] + ["..."] + [
            _format_array(arr[i], fmt, indent + 1, inner) for i in rows[-edge:]
        ]
    else:
        chunks = [_format_array(arr[i], fmt, indent + 1, inner) for i in rows]
    sep = "," + "\n" * (arr.ndim - 1) + " " * (indent + 1)
    return "[" + sep.join(chunks) + "]"


def _add_suffixes(text: str, suffixes: list, indent: int) -> str:
    # torch's _add_suffixes: a suffix that would pass the line width goes on a new line.
    parts = [text]
    last_line_len = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > PRINT_OPTS.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def tensor_repr(t) -> str:
    arr = t._data
    prefix = "tensor("
    suffixes = []
    summarize = arr.size > PRINT_OPTS.threshold
    dt = t.dtype
    device = t.device
    if device.type != "cpu":  # torch: shown unless it is the default tensor type's (the CPU)
        suffixes.append(f"device='{device}'")
    if arr.size == 0:
        body = "[]"
        if arr.ndim != 1:
            suffixes.append(f"size={tuple(arr.shape)}")
        # nothing to infer an integer/bool dtype from: shown unless it is the default float
        if dt is not _dtype._default_float:
            suffixes.append(f"dtype={dt!r}")
    else:
        if not PRINT_OPTS.edgeitems:
            suffixes.append(f"size={tuple(arr.shape)}")
        if dt not in (_dtype._default_float, _dtype._default_complex, _dtype.int64, _dtype.bool_):
            suffixes.append(f"dtype={dt!r}")
        edge = PRINT_OPTS.edgeitems
        cut = tuple(summarize and n > 2 * edge for n in arr.shape)
        shown = _edges(arr, edge) if summarize and edge else arr
        host = backend_of(shown).to_host(shown)  # the one copy to host memory (none on the CPU)
        fmt = _Formatter(host.reshape(-1))
        if host.ndim == 0:
            body = fmt.format(host.item())
        else:
            body = _format_array(host, fmt, len(prefix), cut)
    if t._grad_fn is not None:
        suffixes.append(f"grad_fn=<{t._grad_fn.name().rpartition('::')[2]}>")
    elif t._requires_grad:
        suffixes.append("requires_grad=True")
    text = _add_suffixes(prefix + body, suffixes, len(prefix))
    if getattr(t, "_is_param", False):
        text = "Parameter containing:\n" + text
    return text
