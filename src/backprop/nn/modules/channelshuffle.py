"""torch's ``torch.nn.modules.channelshuffle`` path (the module is defined in ``upsampling``)."""

from .upsampling import ChannelShuffle

__all__ = ["ChannelShuffle"]
