"""See backpropagation at work: gradient-flow monitoring, graph pictures and training reports.

* ``GradientMonitor(model, optimizer)``: per-layer gradient norms, update-to-weight ratios,
  activation statistics and dead ReLU units, with ``report()`` and ``issues()``.
* ``plot_gradient_flow(monitor, path)``: a PNG of per-layer gradient norms (needs matplotlib).
* ``draw_graph(tensor)``: the backward graph behind a tensor as Graphviz DOT (SVG/PNG with ``dot``).
* ``write_html_report(directory, history, monitor)``: a self-contained HTML training report.
"""

from __future__ import annotations

from .graph import draw_graph
from .monitor import GradientMonitor, Issue, LayerReport, Report
from .plots import plot_gradient_flow, plot_training_curves
from .report import write_html_report

__all__ = [
    "GradientMonitor",
    "Issue",
    "LayerReport",
    "Report",
    "draw_graph",
    "plot_gradient_flow",
    "plot_training_curves",
    "write_html_report",
]
