"""``backprop.nn.parallel``: DistributedDataParallel (data parallelism over processes, on
backprop.distributed) and DataParallel (a single-device passthrough)."""

from .data_parallel import DataParallel, data_parallel
from .distributed import DistributedDataParallel

__all__ = ["DataParallel", "DistributedDataParallel", "data_parallel"]
