"""torch's ``torch.nn.modules.pixelshuffle`` path (the modules are defined in ``upsampling``)."""

from .upsampling import PixelShuffle, PixelUnshuffle

__all__ = ["PixelShuffle", "PixelUnshuffle"]
