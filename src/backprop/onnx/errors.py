"""Errors and warnings of ``backprop.onnx`` (torch.onnx.errors)."""

from __future__ import annotations


class OnnxExporterError(RuntimeError):
    """Errors raised by the ONNX exporter."""


class UnsupportedOperatorError(OnnxExporterError):
    """An operation of the traced forward pass has no ONNX translation.

    ``op`` is the primitive's name, ``module`` the path of the module that called it
    (``""`` for the top level, ``None`` when unknown).
    """

    def __init__(self, op: str, module: str | None = None, reason: str | None = None, opset_version: int | None = None):
        self.op = op
        self.module = module
        where = ""
        if module is not None:
            where = f" (called from module '{module}')" if module else " (called from the top-level module)"
        opset = f" opset version {opset_version}" if opset_version is not None else ""
        msg = f"Exporting the operator '{op}' to ONNX{opset} is not supported{where}"
        if reason:
            msg += f": {reason}"
        super().__init__(msg)


class TracerWarning(UserWarning):
    """The traced graph may not generalize to other inputs (it followed the example's values)."""
