"""``BatchNorm1d``/``2d``/``3d``: batch statistics when training, running averages in eval mode.
``SyncBatchNorm``: the same, with batch statistics over every process of a group (distributed
training: each process holds a part of the batch)."""

from __future__ import annotations

import numpy

from ... import _dtype
from ... import distributed as dist
from ..._backend import backend_of
from ..._creation import ones, zeros
from ..._tensor import Tensor, _make
from ...autograd.function import Function, once_differentiable
from ...autograd.grad_mode import no_grad
from ...ops.nn_ops import _ChannelLayout
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .linear import _empty
from .module import Module


class _BatchNorm(Module):
    _expected_dims: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True, track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(_empty(num_features, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(_empty(num_features, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            dt = self._dtype(dtype)
            self.register_buffer("running_mean", zeros(num_features, dtype=dt, device=device))
            self.register_buffer("running_var", ones(num_features, dtype=dt, device=device))
            self.register_buffer("num_batches_tracked", zeros((), dtype=_dtype.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    @staticmethod
    def _dtype(dtype):
        return _dtype.to_dtype(dtype) if dtype is not None else _dtype.get_default_dtype()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1)
                self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() not in self._expected_dims:
            raise ValueError(f"expected {' or '.join(f'{d}D' for d in self._expected_dims)} input (got {input.dim()}D input)")

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.item())
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        return F.batch_norm(
            input,
            self.running_mean if not self.training or self.track_running_stats else None,
            self.running_var if not self.training or self.track_running_stats else None,
            self.weight,
            self.bias,
            use_batch_stats,
            factor,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
        # Old checkpoints without num_batches_tracked load with it at 0, as in torch.
        key = prefix + "num_batches_tracked"
        if self.track_running_stats and key not in state_dict:
            state_dict[key] = _make(numpy.zeros((), dtype=numpy.int64))  # copied onto the buffer's device by the load
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)


class BatchNorm1d(_BatchNorm):
    _expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    _expected_dims = (4,)


class BatchNorm3d(_BatchNorm):
    _expected_dims = (5,)


class SyncBatchNorm(_BatchNorm):
    """Batch normalization whose training statistics are those of the whole batch spread over
    the processes of ``process_group`` (default: the world), as torch.nn.SyncBatchNorm.

    In training with a group of more than one process, forward all-reduces per channel the
    (sum, sum of squares, count) of each process's part once, and backward all-reduces per
    channel (sum of grad, sum of grad * xhat) once: outputs and input gradients are those of
    BatchNorm on the concatenated batch, and the running statistics (updated with the unbiased
    variance of the whole batch) are the same on every process. Weight and bias gradients stay
    local (DistributedDataParallel averages them). Without an initialized process group, with a
    single process or in eval mode it is plain BatchNorm. Works on CPU and CUDA tensors.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group=None,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)
        self.process_group = process_group

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def _check_non_zero_input_channels(self, input: Tensor) -> None:
        if input.size(1) == 0:
            raise ValueError("SyncBatchNorm number of input channels should be non-zero")

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        self._check_non_zero_input_channels(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            if self.num_batches_tracked is None:
                raise AssertionError("num_batches_tracked must not be None")
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.item())
        bn_training = True if self.training else (self.running_mean is None and self.running_var is None)
        running_mean = self.running_mean if not self.training or self.track_running_stats else None
        running_var = self.running_var if not self.training or self.track_running_stats else None
        need_sync = bn_training and self.training and dist.is_initialized()
        if need_sync:
            process_group = self.process_group or dist.group.WORLD
            world_size = dist.get_world_size(process_group)
            need_sync = world_size > 1
        if not need_sync:
            return F.batch_norm(input, running_mean, running_var, self.weight, self.bias, bn_training, factor, self.eps)
        return _SyncBatchNorm.apply(input, self.weight, self.bias, running_mean, running_var, self.eps, factor, process_group, world_size)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """``module`` with every BatchNorm*d layer replaced by a SyncBatchNorm that keeps its
        parameters (the same Parameter objects), running statistics and training mode."""
        module_output = module
        if isinstance(module, _BatchNorm):
            module_output = cls(
                module.num_features,
                module.eps,
                module.momentum,
                module.affine,
                module.track_running_stats,
                process_group,
                bias=module.bias is not None,
            )
            if module.affine:
                with no_grad():
                    module_output.weight = module.weight
                    module_output.bias = module.bias
            module_output.running_mean = module.running_mean
            module_output.running_var = module.running_var
            module_output.num_batches_tracked = module.num_batches_tracked
            module_output.training = module.training
            if hasattr(module, "qconfig"):
                module_output.qconfig = module.qconfig
        for name, child in module.named_children():
            module_output.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        del module
        return module_output


class _SyncBatchNorm(Function):
    """Batch normalization with the statistics of a batch spread over a process group.

    Each process sums its part per channel; one all-reduce (float64) of (sum, sum of squares,
    count) gives the group's mean and biased variance. The local sum of squares is formed as
    ``M2 + n * mean**2`` from the locally centered values, so the variance keeps float64
    accuracy. Backward needs the group's per-channel sums of ``grad`` and ``grad * xhat``: one
    all-reduce; weight and bias gradients are the local sums.
    """

    @staticmethod
    def forward(ctx, input, weight, bias, running_mean, running_var, eps, momentum, process_group, world_size):
        a = input._data
        backend = backend_of(a)
        with backend.use(backend.device_of(a).index):
            layout = _ChannelLayout(a)
            xp = layout.xp
            c = layout.c
            count = a.size // c
            f64 = numpy.float64
            stats = xp.zeros(2 * c + 1, dtype=f64)
            work = layout.view(a)
            if count > 0:
                local_sum = layout.sum(work)
                local_mean = local_sum / count
                centered = work - layout.vec(local_mean.astype(a.dtype, copy=False))
                local_m2 = layout.sum(centered, centered)
                mean64 = local_mean.astype(f64)
                stats[:c] = local_sum
                stats[c : 2 * c] = local_m2.astype(f64) + local_sum.astype(f64) * mean64
                stats[2 * c] = count
            dist.all_reduce(_make(stats), group=process_group)
            total = int(stats[2 * c].item())  # a host read, as torch's (its empty-rank mask)
            if total <= 1:
                raise ValueError(f"Expected more than 1 value per channel when training, got input size {total}")
            mean = stats[:c] / total
            var = xp.maximum(stats[c : 2 * c] / total - mean * mean, 0.0)
            invstd = (1.0 / xp.sqrt(var + eps)).astype(a.dtype, copy=False)
            if count > 0:
                centered -= layout.vec((mean - mean64).astype(a.dtype, copy=False))  # now centered on the group's mean
                xhat = centered
                xhat *= layout.vec(invstd)
                out = xhat * layout.vec(weight._data) if weight is not None else xhat.copy()
                if bias is not None:
                    out += layout.vec(bias._data)
                out = layout.restore(out)
            else:
                xhat = None
                out = xp.empty_like(a)
            if running_mean is not None:
                running_mean.mul_(1 - momentum).add_(_make(mean.astype(running_mean._data.dtype)) * momentum)
            if running_var is not None:
                unbiased = var * (total / (total - 1))
                running_var.mul_(1 - momentum).add_(_make(unbiased.astype(running_var._data.dtype)) * momentum)
        ctx.xhat, ctx.invstd, ctx.layout = xhat, invstd, layout
        ctx.count, ctx.total, ctx.process_group = count, total, process_group
        ctx.save_for_backward(weight)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (weight,) = ctx.saved_tensors
        tensors = isinstance(grad, Tensor)  # create_graph: Tensors in, Tensors out (not differentiable again)
        g_arr = grad._data if tensors else grad
        w = weight._data if isinstance(weight, Tensor) else weight
        need = ctx.needs_input_grad
        layout, xhat, invstd, c = ctx.layout, ctx.xhat, ctx.invstd, ctx.layout.c
        xp = layout.xp
        gx = gw = gb = None
        backend = backend_of(g_arr)
        with backend.use(backend.device_of(g_arr).index):
            if ctx.count > 0:
                g = layout.view(g_arr)
                sum_dy = layout.sum(g)
                sum_dy_xhat = layout.sum(g, xhat)
                if need[0]:
                    combined = xp.concatenate([sum_dy, sum_dy_xhat]).astype(numpy.float64)
                    dist.all_reduce(_make(combined), group=ctx.process_group)
                    dtype = g_arr.dtype
                    scale = invstd if w is None else invstd * w
                    gx = g - layout.vec((combined[:c] / ctx.total).astype(dtype))
                    gx -= xhat * layout.vec((combined[c:] / ctx.total).astype(dtype))
                    gx *= layout.vec(scale)
                    gx = layout.restore(gx)
                gw = sum_dy_xhat if w is not None and need[1] else None
                gb = sum_dy if need[2] else None
            else:
                # An empty part of the batch: it still takes part in the group's all-reduce, and its
                # gradients are empty (input) and zero (weight and bias: nothing to add to the others').
                if need[0]:
                    dist.all_reduce(_make(xp.zeros(2 * c, dtype=numpy.float64)), group=ctx.process_group)
                    gx = xp.zeros_like(g_arr)
                if w is not None and need[1]:
                    gw = xp.zeros(c, dtype=w.dtype)
                if need[2]:
                    gb = xp.zeros(c, dtype=g_arr.dtype)
        if tensors:
            gx, gw, gb = (None if v is None else _make(v) for v in (gx, gw, gb))
        return gx, gw, gb, None, None, None, None, None, None


_SyncBatchNorm._backward_name = "SyncBatchNormBackward"  # torch's grad_fn name (a Python Function there)
