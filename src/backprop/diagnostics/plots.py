"""Pictures of training: per-layer gradient flow and loss/accuracy curves (need matplotlib)."""

from __future__ import annotations

import io
import math
import os

__all__ = ["plot_gradient_flow", "plot_training_curves"]


def _figure(**kwargs):
    # matplotlib's object API (no pyplot): no global backend to switch, no figure to close.
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'backprop[plot]'") from None
    return Figure(**kwargs)


def _positive(values) -> list:
    return [v if (v is not None and v > 0 and math.isfinite(v)) else math.nan for v in values]


def _blocks(steps: list, values: list, k: int) -> tuple:
    """Median of each block of ``k`` consecutive measurements (NaNs skipped), at the block's middle step."""
    xs, ys = [], []
    for i in range(0, len(steps), k):
        vals = sorted(v for v in values[i : i + k] if not math.isnan(v))
        if vals:
            xs.append(steps[min(i + k // 2, len(steps) - 1)])
            ys.append(vals[len(vals) // 2])
    return xs, ys


def _flow_axes(monitor, ax_layers, ax_steps, title: str | None) -> None:
    from matplotlib import colormaps
    from matplotlib.ticker import MaxNLocator

    viridis = colormaps["viridis"]

    names = monitor.weight_layer_names or monitor.layer_names
    h = monitor.history
    steps = h["step"]
    series = [_positive(h["grad_norm"][n]) for n in names]
    # Left: gradient norm by depth, one line per moment of training (early = dark, late = yellow).
    if steps:
        picks = sorted({round(i * (len(steps) - 1) / 5) for i in range(6)})
        colors = viridis([i / max(len(picks) - 1, 1) for i in range(len(picks))])
        for color, k in zip(colors, picks):
            ax_layers.plot(range(1, len(names) + 1), [s[k] for s in series], marker="o", ms=3, color=color, label=f"step {steps[k]}")
        ax_layers.legend(fontsize=7, loc="best")
    ax_layers.set_yscale("log")
    ax_layers.set_xlabel("layer with weights (input -> output)")
    ax_layers.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_layers.set_ylabel("gradient norm")
    if len(names) <= 24:
        ax_layers.set_xticks(range(1, len(names) + 1))
        ax_layers.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    ax_layers.set_title(f"{title}: gradient norm per layer" if title else "gradient norm per layer", fontsize=10)
    # Right: each layer's gradient norm over the steps (colour = depth), median per block of steps.
    colors = viridis([i / max(len(names) - 1, 1) for i in range(len(names))])
    k = max(1, len(steps) // 80)
    for i, (name, s) in enumerate(zip(names, series)):
        label = name if i in (0, len(names) - 1) else None
        ax_steps.plot(*_blocks(steps, s, k), color=colors[i], lw=1, label=label)
    ax_steps.set_yscale("log")
    ax_steps.set_xlabel("step")
    ax_steps.set_ylabel("gradient norm")
    if names:
        ax_steps.legend(fontsize=7, loc="best", title="first / last layer", title_fontsize=7)
    ax_steps.set_title("over training (dark = input side" + (f"; median of every {k} steps)" if k > 1 else ")"), fontsize=10)


def gradient_flow_figure(monitor, title: str | None = None):
    """The matplotlib figure behind ``plot_gradient_flow`` (a dict of monitors gives one row each)."""
    items = list(monitor.items()) if isinstance(monitor, dict) else [(title, monitor)]
    fig = _figure(figsize=(11, 3.6 * len(items)))
    axes = fig.subplots(len(items), 2, squeeze=False)
    for (name, mon), (ax1, ax2) in zip(items, axes):
        _flow_axes(mon, ax1, ax2, name)
    fig.tight_layout()
    return fig


def plot_gradient_flow(monitor, path: str | os.PathLike, title: str | None = None) -> str:
    """Save a PNG of the per-layer gradient norms a ``GradientMonitor`` recorded.

    Left: gradient norm against depth at several moments of training; right: every layer's
    gradient norm over the steps. Pass ``{"name": monitor, ...}`` to compare runs (one row
    each). Needs matplotlib (``pip install 'backprop[plot]'``); returns ``path``.
    """
    fig = gradient_flow_figure(monitor, title)
    fig.savefig(path, dpi=100)
    return os.fspath(path)


def training_curves_figure(history: list):
    """Loss and accuracy per epoch from ``backprop train``'s history entries."""
    epochs = [h["epoch"] for h in history]
    fig = _figure(figsize=(10, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    for key, label in (("train", "train"), ("val", "validation")):
        losses = [h.get(f"{key}_loss", math.nan) for h in history]
        accs = [100 * h.get(f"{key}_accuracy", math.nan) for h in history]
        if any(math.isfinite(v) for v in losses):
            ax1.plot(epochs, losses, marker="o", ms=3, label=label)
            ax2.plot(epochs, accs, marker="o", ms=3, label=label)
    from matplotlib.ticker import MaxNLocator

    for ax in (ax1, ax2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy loss")
    ax1.legend()
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy (%)")
    ax2.legend()
    fig.tight_layout()
    return fig


def plot_training_curves(history: list, path: str | os.PathLike) -> str:
    """Save a PNG of the loss and accuracy curves of ``history`` (list of per-epoch dicts)."""
    fig = training_curves_figure(history)
    fig.savefig(path, dpi=100)
    return os.fspath(path)


def figure_png(fig) -> bytes:
    """A figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()
