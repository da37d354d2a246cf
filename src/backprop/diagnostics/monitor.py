"""``GradientMonitor``: watch gradients, updates and activations while a model trains.

Hooks, all removable with ``monitor.remove()``:

* a post-accumulate-grad hook on every parameter: the squared gradient norm (one ``vdot``);
* optimizer step pre/post hooks (or, without an optimizer, the model's forward pre-hook):
  a weight snapshot before the update and ``||w_after - w_before|| / ||w_before||`` after it;
* forward hooks on layers with parameters and on activation modules: output mean/std and,
  for ReLU-family modules, which units (features / channels) output zero for the whole batch.

A *step* is one optimizer step (or, without an optimizer, one forward-backward). Gradient
norms are taken on every ``every``-th step, activations on every ``activation_every``-th and
update ratios (which need a copy of the weights) on every ``update_every``-th. The problems
``issues()`` reports are judged on the last ``window`` measurements of each statistic
(exploding gradients on the whole run).

Devices: the statistics are computed on each array's device. The hooks (forward and
gradient, run during the forward and the backward) keep their sums and squared norms there;
the step's values (gradient norms, activation statistics, update ratios, dead-unit fractions)
are read back to the host together when the step is committed (one copy per device), so the
monitor does not make the forward or the backward wait for the device.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, field

import numpy

from .._backend import array_module, backend_of
from ..autograd.grad_mode import _state as _grad_state

__all__ = ["GradientMonitor", "Issue", "LayerReport", "Report"]

_NAN = float("nan")

REMEDIES = {
    "exploding": "clip gradients (nn.utils.clip_grad_norm_), a lower learning rate, or a smaller-variance init (Kaiming/Xavier) / BatchNorm",
    "vanishing": "ReLU-family activations with Kaiming (He) init, residual connections, or BatchNorm/LayerNorm between layers",
    "dead_units": "a lower learning rate, zero (or small positive) bias init, LeakyReLU/ELU/GELU, or BatchNorm before the ReLU",
    "lr_too_high": "a lower learning rate (e.g. 10x lower) or a warm-up schedule",
    "lr_too_low": "a higher learning rate (e.g. 10x higher)",
}


@dataclass
class Issue:
    """A detected problem: what (``kind``), where (``layer``), the numbers, and what to try."""

    kind: str  # "exploding", "vanishing", "dead_units", "lr_too_high" or "lr_too_low"
    layer: str | None
    message: str
    remedy: str
    evidence: dict = field(default_factory=dict)
    step: int | None = None

    def __str__(self) -> str:
        return f"{self.kind.replace('_', ' ')}: {self.message}; try {self.remedy}"


@dataclass
class LayerReport:
    """One layer's statistics: medians over the report window (``None`` when not measured)."""

    name: str
    kind: str
    params: int
    grad_norm: float | None = None
    grad_rms: float | None = None
    weight_norm: float | None = None
    update_ratio: float | None = None
    act_mean: float | None = None
    act_std: float | None = None
    dead_fraction: float | None = None


@dataclass
class Report:
    """What ``GradientMonitor.report()`` returns; ``str(report)`` is a readable table."""

    steps: int
    sampled_steps: int
    window: int
    total_grad_norm: float | None
    max_total_grad_norm: float | None
    max_total_grad_norm_step: int | None
    layers: list[LayerReport]
    issues: list[Issue]

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        head = f"GradientMonitor: {self.steps} steps (medians of the last {self.window} measurements of each statistic)"
        cols = ["layer", "type", "params", "grad norm", "grad rms", "update/weight", "act mean", "act std", "dead"]
        rows = []
        for r in self.layers:
            rows.append(
                [
                    r.name,
                    r.kind,
                    str(r.params) if r.params else "",
                    _fmt(r.grad_norm),
                    _fmt(r.grad_rms),
                    _fmt(r.update_ratio),
                    _fmt(r.act_mean, ".3g"),
                    _fmt(r.act_std, ".3g"),
                    "" if r.dead_fraction is None else f"{100 * r.dead_fraction:.0f}%",
                ]
            )
        widths = [max(len(c), *(len(row[i]) for row in rows)) if rows else len(c) for i, c in enumerate(cols)]
        lines = [head, "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cols, widths)))]
        lines.append("  ".join("-" * w for w in widths))
        for row in rows:
            lines.append("  ".join(v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths))))
        if self.total_grad_norm is not None:
            lines.append(
                f"total grad norm {_fmt(self.total_grad_norm)} (latest); max {_fmt(self.max_total_grad_norm)} at step {self.max_total_grad_norm_step}"
            )
        if self.issues:
            lines.append(f"issues ({len(self.issues)}):")
            lines += [f"  - {issue}" for issue in self.issues]
        else:
            lines.append("issues: none found")
        return "\n".join(lines)


def _fmt(v, spec: str = ".2e") -> str:
    if v is None:
        return ""
    return format(v, spec) if math.isfinite(v) else str(v)


def _median(values) -> float | None:
    vals = [v for v in values if not math.isnan(v)]
    if not vals:
        return None
    vals.sort()
    n = len(vals)
    return vals[n // 2] if n % 2 else 0.5 * (vals[n // 2 - 1] + vals[n // 2])


def _sq(a):
    """The squared norm of array ``a``, left on its device (a NumPy scalar on the CPU, a 0-d array
    on a GPU): read it with ``_host_floats``."""
    xp = array_module(a)
    return xp.real(xp.vdot(a, a))


def _host_floats(values: list) -> list[float]:
    """Python floats of 0-d results (NumPy scalars, or 0-d arrays of any device): those on a
    device are stacked and copied to the host at once, one wait for the device instead of one
    per value."""
    out: list = [None] * len(values)
    on_device: dict = {}
    for i, v in enumerate(values):
        if isinstance(v, (float, int, numpy.generic, numpy.ndarray)):
            out[i] = float(v)
        else:
            backend = backend_of(v)
            on_device.setdefault((backend, backend.device_of(v)), []).append(i)
    for (backend, _), idx in on_device.items():
        stacked = backend.xp.stack([values[i] for i in idx])
        for i, v in zip(idx, backend.to_host(stacked).tolist()):
            out[i] = float(v)
    return out


def _same_place(buf, arr) -> bool:
    """Whether snapshot buffer ``buf`` can take a copy of ``arr``: same shape, dtype and device."""
    if buf.shape != arr.shape or buf.dtype != arr.dtype or type(buf) is not type(arr):
        return False
    return type(arr) is numpy.ndarray or backend_of(arr).device_of(buf) == backend_of(arr).device_of(arr)


def _dense(data):
    """``data`` as a C-contiguous array plus where its axis 1 went: a permuted view when the
    array is a transposed contiguous buffer (e.g. an NHWC conv output seen as NCHW), so that
    reductions run at memory speed without a copy."""
    if data.flags.c_contiguous or data.ndim < 2:
        return data, 1
    order = sorted(range(data.ndim), key=lambda i: -data.strides[i])
    view = data.transpose(order)
    if view.flags.c_contiguous:
        return view, order.index(1)
    return array_module(data).ascontiguousarray(data), 1


def _activation_classes():
    from ..nn.modules import activation
    from ..nn.modules.module import Module

    classes = tuple(
        v for v in vars(activation).values() if isinstance(v, type) and issubclass(v, Module) and v.__module__ == activation.__name__ and not v.__name__.startswith("_")
    )
    return classes, (activation.ReLU, activation.ReLU6)


class _LayerState:
    __slots__ = ("name", "kind", "module", "params", "order", "relu", "act", "alive_window")

    def __init__(self, name: str, module, relu: bool, window: int):
        self.name = name
        self.kind = type(module).__name__
        self.module = module
        self.params: list = []  # (qualified name, Parameter)
        self.order = None  # position in forward execution order
        self.relu = relu
        self.act = None  # the current step's calls: (sum, squared norm, size, per-unit "positive" or None), on the device
        self.alive_window = deque(maxlen=window)


class GradientMonitor:
    """Record gradient, update and activation statistics of ``model`` as it trains.

    Attach before training; read ``report()`` / ``issues()`` / ``history`` any time; ``remove()``
    detaches every hook (then the model runs exactly as without the monitor). Usable as a
    context manager.

    Cadence: gradient norms every ``every`` steps, activation statistics every
    ``activation_every``, update-to-weight ratios every ``update_every`` (each needs a copy of
    the weights); ``activations=False`` / ``updates=False`` turn those off. Judging: the last
    ``window`` measurements, against ``vanish_ratio`` (first layer's gradient RMS over the
    largest layer's), ``explode_norm`` (total gradient norm), ``dead_threshold`` (fraction of
    units that output 0 for every example) and ``lr_high`` / ``lr_low`` (update-to-weight
    ratio: the median over layers above ``lr_high``, or the largest below ``lr_low``).
    """

    def __init__(
        self,
        model,
        optimizer=None,
        *,
        every: int = 1,
        activation_every: int = 5,
        update_every: int = 10,
        window: int = 20,
        activations: bool = True,
        updates: bool = True,
        vanish_ratio: float = 1e-3,
        explode_norm: float = 1e3,
        dead_threshold: float = 0.5,
        lr_high: float = 0.1,
        lr_low: float = 1e-5,
    ) -> None:
        if min(every, activation_every, update_every, window) < 1:
            raise ValueError("every, activation_every, update_every and window must be positive")
        self.model = model
        self.optimizer = optimizer
        self.every = int(every)
        self.activation_every = int(activation_every)
        self.update_every = int(update_every)
        self.window = int(window)
        self.vanish_ratio = vanish_ratio
        self.explode_norm = explode_norm
        self.dead_threshold = dead_threshold
        self.lr_high = lr_high
        self.lr_low = lr_low
        self.step = 0  # steps completed (sampled or not)
        self._handles: list = []
        self._order = 0
        self._pending: dict = {}  # param name -> squared grad norm since the last commit
        self._snapshot: dict | None = None  # param name -> array before the update (or None)
        self._buffers: dict = {}  # reused snapshot arrays: no allocation per snapshot
        self._explosions: list = []  # (step, total grad norm) above explode_norm or non-finite
        self._backward_seen = False  # a backward reached the parameters since the last commit
        self._sampling = True  # gradient norms are recorded at this step
        self._sampling_acts = True
        self._sampling_updates = True

        act_classes, relu_classes = _activation_classes()
        self._layers: dict[str, _LayerState] = {}
        self._params: dict[str, tuple] = {}  # param name -> (Parameter, layer name)
        for mname, module in model.named_modules():
            direct = [(n, p) for n, p in module._parameters.items() if p is not None and p.requires_grad]
            is_act = isinstance(module, act_classes)
            if not direct and not is_act:
                continue
            display = mname or type(module).__name__
            layer = _LayerState(display, module, isinstance(module, relu_classes), self.window)
            self._layers[display] = layer
            for n, p in direct:
                qual = f"{mname}.{n}" if mname else n
                layer.params.append((qual, p))
                self._params[qual] = (p, display)
                self._handles.append(p.register_post_accumulate_grad_hook(self._grad_hook(qual)))
            if activations or direct:
                self._handles.append(module.register_forward_hook(self._forward_hook(layer, activations)))
        if optimizer is not None:
            self._handles.append(optimizer.register_step_pre_hook(self._before_step))
            self._handles.append(optimizer.register_step_post_hook(self._after_step))
        else:
            self._handles.append(model.register_forward_pre_hook(self._before_forward))
        self._track_updates = updates
        self.history: dict = {
            "step": [],
            "total_grad_norm": [],
            "grad_norm": {name: [] for name, layer in self._layers.items() if layer.params},
            "update_ratio": {name: [] for name, layer in self._layers.items() if layer.params},
            "param_grad_norm": {name: [] for name in self._params},
            "act_mean": {name: [] for name in self._layers},
            "act_std": {name: [] for name in self._layers},
            "dead_fraction": {name: [] for name, layer in self._layers.items() if layer.relu},
        }

    # ------------------------------------------------------------------ hooks
    def _grad_hook(self, qual: str):
        pending = self._pending

        def hook(p) -> None:
            self._backward_seen = True
            if self._sampling and p._grad is not None:
                pending[qual] = _sq(p._grad._data)

        return hook

    def _forward_hook(self, layer: _LayerState, activations: bool):
        def hook(module, args, output) -> None:
            if layer.order is None:
                layer.order = self._order
                self._order += 1
            if not (activations and self._sampling_acts and module.training and _grad_state.enabled):
                return
            data = getattr(output, "_data", None)
            if data is None or data.dtype.kind != "f" or data.size == 0:
                return
            data, unit_axis = _dense(data)
            alive = None
            if layer.relu:  # which units were positive; used at the commit if the call's values are finite
                if data.ndim >= 2:  # units: features (N, F) or channels (N, C, ...)
                    if unit_axis == data.ndim - 1:
                        alive = data.reshape(-1, data.shape[-1]).max(axis=0) > 0
                    else:
                        alive = data.max(axis=tuple(i for i in range(data.ndim) if i != unit_axis)) > 0
                else:
                    alive = data > 0
            if layer.act is None:
                layer.act = []
            layer.act.append((data.sum(), _sq(data), data.size, alive))  # left on the device until the commit

        return hook

    def _snapshot_weights(self) -> None:
        if self._sampling_updates and self._track_updates:
            snap = {}
            for q, (p, _) in self._params.items():
                buf = self._buffers.get(q)
                xp = array_module(p._data)
                if buf is None or not _same_place(buf, p._data):
                    buf = self._buffers[q] = xp.empty_like(p._data)
                xp.copyto(buf, p._data)
                snap[q] = buf
            self._snapshot = snap

    def _before_step(self, optimizer, args, kwargs) -> None:
        self._snapshot_weights()

    def _after_step(self, optimizer, args, kwargs) -> None:
        self._commit(updates=True)

    def _before_forward(self, module, args) -> None:
        if not (module.training and _grad_state.enabled):
            return
        if self._backward_seen:
            self._commit(updates=True)
        self._snapshot_weights()

    # ------------------------------------------------------------------ bookkeeping
    def _commit(self, updates: bool) -> None:
        """Close the current step: turn what the hooks collected into one history entry."""
        step = self.step
        self.step += 1
        self._backward_seen = False
        sampled = self._sampling or self._sampling_acts or self._sampling_updates
        self._sampling = self.step % self.every == 0
        self._sampling_acts = self.step % self.activation_every == 0
        self._sampling_updates = self.step % self.update_every == 0
        if not sampled:
            self._pending.clear()
            self._snapshot = None
            for layer in self._layers.values():
                layer.act = None
            return
        h = self.history
        h["step"].append(step)
        pending, snap = self._pending, self._snapshot if updates else None
        # What the step left on the devices -- squared gradient norms, activation sums, weight and
        # update norms, dead-unit fractions -- read back at once: one wait for each device.
        values = list(pending.values())
        ratio_at = len(values)
        owners = self._update_ratio_values(snap, values) if snap is not None else []
        act_at, spec = {}, {}
        for name, layer in self._layers.items():
            if layer.act:
                act_at[name] = len(values)
                for total, sq, _, _ in layer.act:
                    values += (total, sq)
                if layer.relu:
                    spec[name] = self._speculative_alive(layer, values)
        values = _host_floats(values)
        pending.update(zip(list(pending), values))
        ratios = self._ratios(owners, values[ratio_at:]) if owners else {}
        total = 0.0
        for q, lst in h["param_grad_norm"].items():
            sq = pending.get(q)
            lst.append(math.sqrt(sq) if sq is not None else _NAN)
            if sq is not None:
                total += sq
        total_norm = math.sqrt(total) if pending else _NAN
        h["total_grad_norm"].append(total_norm)
        if pending and (not math.isfinite(total_norm) or total_norm > self.explode_norm):
            self._explosions.append((step, total_norm))
        late = []  # ReLU layers whose dead-unit fraction is settled once the finiteness is known
        for name, layer in self._layers.items():
            if layer.params:
                gsq = [pending[q] for q, _ in layer.params if q in pending]
                h["grad_norm"][name].append(math.sqrt(sum(gsq)) if gsq else _NAN)
                h["update_ratio"][name].append(ratios.get(name, _NAN))
            calls = layer.act or ()
            finite, means, stds = [], 0.0, 0.0
            at = act_at.get(name, 0)
            for i, call in enumerate(calls):
                total, sq = values[at + 2 * i], values[at + 2 * i + 1]
                mean = total / call[2]
                var = max(sq / call[2] - mean * mean, 0.0)
                finite.append(math.isfinite(mean) and math.isfinite(var))
                means += mean
                stds += math.sqrt(var)
            h["act_mean"][name].append(means / len(calls) if calls else _NAN)
            h["act_std"][name].append(stds / len(calls) if calls else _NAN)
            if layer.relu:
                h["dead_fraction"][name].append(_NAN)
                if name in spec:
                    late.append((layer, calls, finite, spec[name]))
            layer.act = None
        if late:
            self._commit_dead_units(late, values)
        self._pending.clear()
        self._snapshot = None

    def _update_ratio_values(self, snap: dict, values: list) -> list:
        """Append to ``values`` the squared norms, on the devices, of the weights before the
        update and of the update (``_ratios`` reads them) of each parameter with a snapshot;
        returns the layer owning each pair."""
        owners = []
        for name, layer in self._layers.items():
            for q, p in layer.params:
                before = snap.get(q)
                if before is not None and before.shape == p._data.shape:
                    values.append(_sq(before))
                    array_module(before).subtract(p._data, before, out=before)  # the buffer now holds the update
                    values.append(_sq(before))
                    owners.append(name)
        return owners

    @staticmethod
    def _ratios(owners: list, values: list) -> dict:
        """``||w_after - w_before|| / ||w_before||`` of each layer with a snapshot (and weights)."""
        sums: dict = {}
        for i, name in enumerate(owners):
            wsq, dsq = sums.get(name, (0.0, 0.0))
            sums[name] = (wsq + values[2 * i], dsq + values[2 * i + 1])
        return {name: math.sqrt(dsq / wsq) for name, (wsq, dsq) in sums.items() if wsq > 0}

    @staticmethod
    def _speculative_alive(layer: _LayerState, values: list):
        """Before the step's values are read: the units of ReLU ``layer`` positive in one of its
        finite calls this step (masked on the device: the finiteness is not known on the host
        yet), and, appended to ``values``, the fraction of units alive over the window with it
        (1 - the dead fraction); None when the calls' outputs have different shapes
        (``_commit_dead_units`` then decides on the host)."""
        calls = [c for c in layer.act if c[3] is not None]
        if not calls or any(c[3].shape != calls[0][3].shape for c in calls):
            return None
        xp = array_module(calls[0][3])
        alive = None
        for total, sq, _, a in calls:  # NaN/inf activations say nothing about dead units
            # finite sum and squared norm <=> finite mean and variance (the host's test in _commit)
            a = a & (xp.isfinite(total) & xp.isfinite(sq))
            alive = a if alive is None else alive | a
        window = list(layer.alive_window) if layer.alive_window and layer.alive_window[-1].shape == alive.shape else []
        if len(window) == layer.alive_window.maxlen:
            window = window[1:]
        union = alive
        for a in window:
            union = union | a
        values.append(union.mean())
        return alive, len(values) - 1

    def _commit_dead_units(self, late: list, values: list) -> None:
        """Record the dead-unit fractions of the step: ``late`` holds (ReLU layer, its calls,
        which calls were finite, ``_speculative_alive``'s result)."""
        reread = []
        for layer, calls, finite, guess in late:
            kept = [c[3] for c, ok in zip(calls, finite) if ok and c[3] is not None]
            if not kept:  # no finite activations this step: nothing known about its units
                continue
            if guess is not None:  # the outputs' shapes agree: the guess holds (non-finite calls were masked out)
                alive, at = guess
                dead = 1.0 - values[at]
            else:  # a later shape starts afresh, as a new window does
                alive = None
                for a in kept:
                    alive = a if alive is None or alive.shape != a.shape else alive | a
                dead = None
            if layer.alive_window and layer.alive_window[-1].shape != alive.shape:
                layer.alive_window.clear()
            layer.alive_window.append(alive)
            if dead is None:
                reread.append(layer)
            else:
                self.history["dead_fraction"][layer.name][-1] = dead
        if reread:  # rare (a ReLU called on differently shaped inputs in one step): a second read
            for layer, alive in zip(reread, _host_floats([self._window_union(layer).mean() for layer in reread])):
                self.history["dead_fraction"][layer.name][-1] = 1.0 - alive

    @staticmethod
    def _window_union(layer: _LayerState):
        alive = layer.alive_window[0]
        for a in list(layer.alive_window)[1:]:
            alive = alive | a
        return alive

    def _flush(self) -> None:
        # Without an optimizer the last backward is committed at the next forward; a report
        # taken before that includes it (its update is not known yet).
        if self.optimizer is None and self._backward_seen:
            self._commit(updates=False)

    def _ordered_layers(self) -> list[_LayerState]:
        layers = list(self._layers.values())
        big = len(layers)
        return sorted(layers, key=lambda layer: (layer.order if layer.order is not None else big, list(self._layers).index(layer.name)))

    def _window(self, series: list) -> list:
        """The last ``window`` measured (non-NaN) values of a history series."""
        out = []
        for v in reversed(series):
            if not math.isnan(v):
                out.append(v)
                if len(out) == self.window:
                    break
        return out

    # ------------------------------------------------------------------ results
    def layer_stats(self) -> list[LayerReport]:
        """Per-layer medians over the last ``window`` sampled steps, in forward order."""
        self._flush()
        h = self.history
        out = []
        for layer in self._ordered_layers():
            name = layer.name
            numel = sum(p.numel() for _, p in layer.params)
            r = LayerReport(name=name, kind=layer.kind, params=numel)
            if layer.params:
                r.grad_norm = _median(self._window(h["grad_norm"][name]))
                if r.grad_norm is not None and numel:
                    r.grad_rms = r.grad_norm / math.sqrt(numel)
                r.weight_norm = math.sqrt(sum(_host_floats([_sq(p._data) for _, p in layer.params])))
                r.update_ratio = _median(self._window(h["update_ratio"][name]))
            r.act_mean = _median(self._window(h["act_mean"][name]))
            r.act_std = _median(self._window(h["act_std"][name]))
            if layer.relu:
                recent = self._window(h["dead_fraction"][name])
                r.dead_fraction = recent[0] if recent else None
            out.append(r)
        return out

    def issues(self) -> list[Issue]:
        """The problems found: exploding (whole run), then dead units, vanishing gradients and
        learning-rate trouble (last ``window`` sampled steps). Each names the layer, gives the
        evidence and suggests a remedy."""
        return self._issues(self.layer_stats())

    def _issues(self, stats: list[LayerReport]) -> list[Issue]:
        found: list[Issue] = []
        last_step = self.history["step"][-1] if self.history["step"] else None
        # Exploding: a total norm above explode_norm or non-finite, at any step so far.
        if self._explosions:
            nonfinite = [(s, v) for s, v in self._explosions if not math.isfinite(v)]
            worst = nonfinite[0] if nonfinite else max(self._explosions, key=lambda e: e[1])
            first = self._explosions[0]
            grads = [r for r in stats if r.grad_norm is not None]
            where = max(grads, key=lambda r: r.grad_norm if math.isfinite(r.grad_norm) else math.inf).name if grads else None
            what = "non-finite (inf/nan) gradients" if nonfinite else f"total grad norm {worst[1]:.1e}"
            found.append(
                Issue(
                    "exploding",
                    where,
                    f"{what} at step {worst[0]} (above {self.explode_norm:g} on {len(self._explosions)} of {len(self.history['step'])} sampled steps, first at step {first[0]})",
                    REMEDIES["exploding"],
                    {"step": worst[0], "total_grad_norm": worst[1], "first_step": first[0], "count": len(self._explosions), "threshold": self.explode_norm},
                    worst[0],
                )
            )
        # Dead ReLU units: one issue naming the worst layers.
        dead = [r for r in stats if r.dead_fraction is not None and r.dead_fraction > self.dead_threshold]
        if dead:
            listed = ", ".join(f"'{r.name}' {100 * r.dead_fraction:.0f}%" for r in dead[:6]) + (", ..." if len(dead) > 6 else "")
            found.append(
                Issue(
                    "dead_units",
                    dead[0].name,
                    f"{len(dead)} ReLU layer{'s' if len(dead) > 1 else ''} with more than {100 * self.dead_threshold:.0f}% dead units "
                    f"(output 0 for every example in the last {max(len(x.alive_window) for x in self._layers.values())} sampled batches): {listed}",
                    REMEDIES["dead_units"],
                    {"dead_fraction": {r.name: r.dead_fraction for r in dead}, "threshold": self.dead_threshold},
                    last_step,
                )
            )
        # Vanishing / growing gradients from the first layer to the largest.
        param_layers = [x for x in stats if x.params]
        n = len(param_layers)
        graded = [(i, r) for i, r in enumerate(param_layers) if r.grad_rms is not None and math.isfinite(r.grad_rms)]
        if len(graded) >= 2:
            first_i, first = graded[0]
            ref_i, ref = max(graded, key=lambda e: e[1].grad_rms)
            last_i, last = graded[-1]
            if ref.grad_rms > 0 and first.grad_rms < self.vanish_ratio * ref.grad_rms:
                ratio = first.grad_rms / ref.grad_rms
                cause = "; the dead ReLU units reported above pass no gradient" if dead else ""
                found.append(
                    Issue(
                        "vanishing",
                        first.name,
                        f"the first layer '{first.name}' gets {ratio:.1e} of the gradient of layer {ref_i + 1}/{n} '{ref.name}' "
                        f"(RMS per weight {first.grad_rms:.1e} vs {ref.grad_rms:.1e}; grad norm {first.grad_norm:.1e} vs {ref.grad_norm:.1e}){cause}",
                        REMEDIES["vanishing"],
                        {"ratio": ratio, "first_layer": first.name, "reference_layer": ref.name, "first_grad_rms": first.grad_rms, "reference_grad_rms": ref.grad_rms, "threshold": self.vanish_ratio},
                        last_step,
                    )
                )
            elif not self._explosions and last.grad_rms > 0 and first.grad_rms * self.vanish_ratio > last.grad_rms:
                ratio = first.grad_rms / last.grad_rms
                found.append(
                    Issue(
                        "exploding",
                        first.name,
                        f"the gradient grows {ratio:.1e}x from the last layer '{last.name}' back to the first '{first.name}' (RMS per weight {last.grad_rms:.1e} -> {first.grad_rms:.1e})",
                        REMEDIES["exploding"],
                        {"ratio": ratio, "first_layer": first.name, "last_layer": last.name, "threshold": 1 / self.vanish_ratio},
                        last_step,
                    )
                )
        # Learning rate from update-to-weight ratios.
        ratios = [(r.update_ratio, r.name) for r in stats if r.update_ratio is not None and math.isfinite(r.update_ratio)]
        if ratios:
            ratios.sort()
            median = ratios[len(ratios) // 2][0]
            biggest, big_name = ratios[-1]
            if median > self.lr_high:
                found.append(
                    Issue(
                        "lr_too_high",
                        ratios[len(ratios) // 2][1],
                        f"each step changes the weights by {median:.1e} of their norm (median over layers; healthy is ~1e-3, above {self.lr_high:g} is too much)",
                        REMEDIES["lr_too_high"],
                        {"median_update_ratio": median, "max_update_ratio": biggest, "threshold": self.lr_high},
                        last_step,
                    )
                )
            elif biggest < self.lr_low:
                found.append(
                    Issue(
                        "lr_too_low",
                        big_name,
                        f"even the fastest-moving layer '{big_name}' changes by only {biggest:.1e} of its weights per step (healthy is ~1e-3)",
                        REMEDIES["lr_too_low"],
                        {"max_update_ratio": biggest, "threshold": self.lr_low},
                        last_step,
                    )
                )
        return found

    def report(self) -> Report:
        """The per-layer statistics and the issues found, as a ``Report`` (print it for a table)."""
        stats = self.layer_stats()
        totals = [(s, v) for s, v in zip(self.history["step"], self.history["total_grad_norm"]) if not math.isnan(v)]
        latest = totals[-1][1] if totals else None
        worst = max(totals, key=lambda e: e[1] if math.isfinite(e[1]) else math.inf) if totals else (None, None)
        return Report(
            steps=self.step,
            sampled_steps=len(self.history["step"]),
            window=self.window,
            total_grad_norm=latest,
            max_total_grad_norm=worst[1],
            max_total_grad_norm_step=worst[0],
            layers=stats,
            issues=self._issues(stats),
        )

    def print_report(self) -> None:
        print(self.report())

    def summary(self) -> str:
        """One line: the issues found or that there are none, with the key numbers."""
        rep = self.report()
        if rep.issues:
            return "\n".join(str(i) for i in rep.issues)
        ups = [r.update_ratio for r in rep.layers if r.update_ratio is not None and math.isfinite(r.update_ratio)]
        dead = [r.dead_fraction for r in rep.layers if r.dead_fraction is not None]
        parts = [f"total grad norm {_fmt(rep.total_grad_norm)}"]
        if ups:
            parts.append(f"update/weight median {_median(ups):.1e}")
        if dead:
            parts.append(f"dead units max {100 * max(dead):.0f}%")
        return "no problems found (" + ", ".join(parts) + ")"

    # ------------------------------------------------------------------ lifetime
    @property
    def layer_names(self) -> list[str]:
        """Names of the layers with parameters, in forward order."""
        return [layer.name for layer in self._ordered_layers() if layer.params]

    @property
    def weight_layer_names(self) -> list[str]:
        """Names of the layers with a weight matrix or kernel (a parameter of 2+ dims), in forward order."""
        return [layer.name for layer in self._ordered_layers() if any(p.ndim >= 2 for _, p in layer.params)]

    def remove(self) -> None:
        """Detach every hook; the recorded history stays readable."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._snapshot = None
        self._buffers = {}

    def __enter__(self) -> GradientMonitor:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"GradientMonitor({len(self._params)} parameters, {len(self._layers)} layers, {self.step} steps)"
