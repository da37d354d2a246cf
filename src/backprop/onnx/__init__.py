"""``backprop.onnx``: export models to ONNX (``torch.onnx``).

``export(model, args, "model.onnx")`` traces one forward pass primitive by primitive (see
``_trace``) and writes an ONNX graph (``_graph``, ``ops``) that runtimes such as onnxruntime
execute. Needs the optional ``onnx`` package (``pip install 'backprop[onnx]'``).
"""

from __future__ import annotations

from ._export import DEFAULT_OPSET, TrainingMode, export, is_in_onnx_export
from .errors import OnnxExporterError, TracerWarning, UnsupportedOperatorError
from .ops import register_converter, supported_ops

__all__ = [
    "DEFAULT_OPSET",
    "OnnxExporterError",
    "TracerWarning",
    "TrainingMode",
    "UnsupportedOperatorError",
    "export",
    "is_in_onnx_export",
    "register_converter",
    "supported_ops",
]
