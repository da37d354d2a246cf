"""torch's ``torch.nn.modules.instancenorm`` path (the modules are defined in ``normalization``)."""

from .normalization import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d

__all__ = ["InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"]
