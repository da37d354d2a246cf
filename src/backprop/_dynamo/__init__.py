"""torch._dynamo's public corner: ``eval_frame.OptimizedModule``, the type ``torch.compile(module)``
returns (programs test ``isinstance(model, torch._dynamo.eval_frame.OptimizedModule)``)."""

from . import eval_frame
from .eval_frame import OptimizedModule

__all__ = ["OptimizedModule", "eval_frame"]
