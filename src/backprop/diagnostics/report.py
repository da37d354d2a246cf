"""``write_html_report``: one self-contained HTML page about a training run.

Loss/accuracy curves, the gradient-flow picture, the issues a ``GradientMonitor`` found and
its per-layer table. Pictures are inline (base64 PNG from matplotlib, or hand-drawn inline
SVG when matplotlib is not installed), so the page is a single file to open or send.
"""

from __future__ import annotations

import base64
import html
import math
import os

__all__ = ["write_html_report"]

_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; font-size: 13px; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child, td.name { text-align: left; }
img, svg { max-width: 100%; }
li.issue { margin-bottom: 0.6em; }
.kind { font-weight: bold; color: #b00020; }
.ok { color: #1b5e20; }
"""


def _img(png: bytes, alt: str, ident: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img id="{ident}" alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _svg_chart(series: dict, title: str, xlabel: str, ylabel: str, ident: str, log: bool = False, width: int = 520, height: int = 300) -> str:
    """A minimal inline SVG line chart: ``series`` maps label -> (xs, ys)."""
    tf = (lambda v: math.log10(v)) if log else (lambda v: v)  # noqa: E731
    pts = {k: [(x, tf(y)) for x, y in zip(xs, ys) if y is not None and math.isfinite(y) and (y > 0 or not log)] for k, (xs, ys) in series.items()}
    allp = [p for v in pts.values() for p in v]
    left, right, top, bottom = 60, 20, 30, 40
    out = [f'<svg id="{ident}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">']
    out.append(f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13">{html.escape(title)}</text>')
    if allp:
        x0, x1 = min(p[0] for p in allp), max(p[0] for p in allp)
        y0, y1 = min(p[1] for p in allp), max(p[1] for p in allp)
        x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
        sx = lambda x: left + (x - x0) / (x1 - x0) * (width - left - right)  # noqa: E731
        sy = lambda y: height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)  # noqa: E731
        out.append(f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" fill="none" stroke="#999"/>')
        for v, anchor in ((y0, "end"), (y1, "end")):
            label = f"1e{v:.1f}" if log else f"{v:.3g}"
            out.append(f'<text x="{left - 4}" y="{sy(v) + 4:.1f}" text-anchor="{anchor}" font-size="10">{label}</text>')
        for v in (x0, x1):
            out.append(f'<text x="{sx(v):.1f}" y="{height - bottom + 14}" text-anchor="middle" font-size="10">{v:g}</text>')
        for i, (label, ps) in enumerate(pts.items()):
            color = _PALETTE[i % len(_PALETTE)]
            if ps:
                coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in ps)
                out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{coords}"><title>{html.escape(str(label))}</title></polyline>')
            if i < 10:
                out.append(f'<text x="{width - right - 4}" y="{top + 14 + 12 * i}" text-anchor="end" font-size="10" fill="{color}">{html.escape(str(label))}</text>')
    out.append(f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle" font-size="11">{html.escape(xlabel)}</text>')
    out.append(f'<text x="14" y="{height / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 14 {height / 2})">{html.escape(ylabel)}</text>')
    out.append("</svg>")
    return "".join(out)


def _have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _curves(history: list) -> str:
    if _have_matplotlib():
        from .plots import figure_png, training_curves_figure

        return _img(figure_png(training_curves_figure(history)), "loss and accuracy curves", "curves-img")
    epochs = [h["epoch"] for h in history]
    loss = {k: (epochs, [h.get(f"{k}_loss", math.nan) for h in history]) for k in ("train", "val")}
    acc = {k: (epochs, [100 * h.get(f"{k}_accuracy", math.nan) for h in history]) for k in ("train", "val")}
    return _svg_chart(loss, "loss", "epoch", "cross-entropy loss", "curves-img") + _svg_chart(acc, "accuracy", "epoch", "accuracy (%)", "curves-acc")


def _flow(monitor) -> str:
    if _have_matplotlib():
        from .plots import figure_png, gradient_flow_figure

        return _img(figure_png(gradient_flow_figure(monitor)), "gradient flow: per-layer gradient norms", "gradient-flow-img")
    h = monitor.history
    series = {n: (h["step"], h["grad_norm"][n]) for n in monitor.layer_names}
    return _svg_chart(series, "gradient norm per layer", "step", "gradient norm (log10)", "gradient-flow-img", log=True)


def _fmt(v, spec: str = ".3g") -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return format(v, spec) if math.isfinite(v) else str(v)
    return html.escape(str(v))


def write_html_report(directory: str | os.PathLike, history: list, monitor=None, metrics: dict | None = None, title: str = "backprop training report") -> str:
    """Write ``directory/report.html`` and return its path.

    ``history`` is a list of per-epoch dicts (``epoch``, ``train_loss``, ``train_accuracy``,
    ``val_loss``, ``val_accuracy``, ...) as ``backprop train`` keeps them; ``monitor`` a
    ``GradientMonitor`` for the gradient-flow picture, the issues and the per-layer table;
    ``metrics`` any scalar results to list at the top.
    """
    os.makedirs(directory, exist_ok=True)
    parts = [f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"]
    parts.append(f"<h1>{html.escape(title)}</h1>")
    if metrics:
        rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{_fmt(v)}</td></tr>" for k, v in metrics.items() if isinstance(v, (int, float, str, bool)) or v is None)
        parts.append(f'<section id="summary"><h2>Summary</h2><table>{rows}</table></section>')
    parts.append('<section id="curves"><h2>Loss and accuracy</h2>')
    parts.append(_curves(history) if history else "<p>No epochs recorded.</p>")
    parts.append("</section>")
    if monitor is not None:
        rep = monitor.report()
        parts.append('<section id="gradient-flow"><h2>Gradient flow</h2>')
        parts.append("<p>Gradient norm of every layer (input side first) during training. Healthy networks keep these within a few orders of magnitude of each other; a slope falling toward the input means vanishing gradients, one rising means exploding.</p>")
        parts.append(_flow(monitor))
        parts.append("</section>")
        parts.append('<section id="issues"><h2>Issues found</h2>')
        if rep.issues:
            items = "".join(
                f'<li class="issue" data-kind="{issue.kind}"><span class="kind">{html.escape(issue.kind.replace("_", " "))}</span>'
                f"{' in <code>' + html.escape(issue.layer) + '</code>' if issue.layer else ''}: {html.escape(issue.message)}"
                f"<br><em>Try:</em> {html.escape(issue.remedy)}</li>"
                for issue in rep.issues
            )
            parts.append(f"<ul>{items}</ul>")
        else:
            parts.append('<p class="ok">No problems found: gradients neither vanish nor explode, no dead ReLU units, update sizes look sane.</p>')
        parts.append("</section>")
        cols = ["layer", "type", "params", "grad norm", "grad RMS", "update/weight", "act mean", "act std", "dead units"]
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{v}</td>"
                for v in (
                    html.escape(r.name),
                    html.escape(r.kind),
                    r.params or "",
                    _fmt(r.grad_norm),
                    _fmt(r.grad_rms),
                    _fmt(r.update_ratio),
                    _fmt(r.act_mean),
                    _fmt(r.act_std),
                    "" if r.dead_fraction is None else f"{100 * r.dead_fraction:.0f}%",
                )
            )
            + "</tr>"
            for r in rep.layers
        )
        parts.append(
            f'<section id="layers"><h2>Per-layer statistics</h2><p>{rep.steps} steps; medians of the last {rep.window} measurements of each statistic.</p>'
            f"<table><tr>{''.join(f'<th>{c}</th>' for c in cols)}</tr>{rows}</table></section>"
        )
    if history:
        keys = [k for k in history[0] if isinstance(history[0][k], (int, float))]
        head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
        body = "".join("<tr>" + "".join(f"<td>{_fmt(h.get(k))}</td>" for k in keys) + "</tr>" for h in history)
        parts.append(f'<section id="history"><h2>Per epoch</h2><table><tr>{head}</tr>{body}</table></section>')
    parts.append("</body></html>\n")
    path = os.path.join(os.fspath(directory), "report.html")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(parts))
    return path
