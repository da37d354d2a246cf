"""Stochastic Weight Averaging and EMA of a model's weights (torch.optim.swa_utils).

``AveragedModel`` keeps a deep copy of a model whose parameters (and, with ``use_buffers=True``,
buffers) are a running average of the model's: the equal-weight SWA mean by default, or any
``avg_fn`` / ``multi_avg_fn`` such as the exponential moving average of
``get_ema_multi_avg_fn(decay)``. ``update_bn`` recomputes BatchNorm statistics for averaged
weights with one pass over the data; ``SWALR`` anneals each group's learning rate to a constant
SWA rate.

Every update runs under ``no_grad`` and changes each tensor in place on its own device: for
float32/float64/complex tensors as three in-place array ops (torch's ``lerp_`` formula, or its
``avg + (current - avg) / (n + 1)``) plus a version bump, as the optimizers update parameters;
other dtypes through the Tensor ops (``lerp_``, ``copy_``). The only host read is of
``n_averaged``, once per ``update_parameters`` (torch reads it there too, to decide between
copying and averaging).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterable
from copy import deepcopy
from typing import Any, Literal

from .. import _dtype
from .._backend import array_module
from .._creation import zeros
from .._device import device as _device_type
from .._tensor import Tensor
from ..autograd.grad_mode import no_grad
from ..nn.modules.batchnorm import _BatchNorm
from ..nn.modules.module import Module
from .lr_scheduler import LRScheduler, _format_param
from .optimizer import Optimizer, _lerp_

__all__ = [
    "AveragedModel",
    "update_bn",
    "SWALR",
    "get_ema_multi_avg_fn",
    "get_swa_multi_avg_fn",
    "get_ema_avg_fn",
    "get_swa_avg_fn",
]

PARAM_LIST = tuple[Tensor, ...] | list[Tensor]


def _is_float_or_complex(t: Tensor) -> bool:
    return t.is_floating_point() or t.is_complex()


def _arrays(p_avg: Tensor, p_model: Tensor):
    """``(avg array, model array, xp)`` when the update can run on the arrays directly (the hot path:
    float32/float64/complex of one dtype, shape and device), else None (the Tensor ops handle it)."""
    a, b = p_avg._data, p_model._data
    if (
        type(a) is not type(b)
        or a.dtype != b.dtype
        or a.shape != b.shape
        or a.dtype.kind not in "fc"
        or a.dtype.itemsize < 4
    ):
        return None
    return a, b, array_module(a)


def _lerp_tensor_(p_avg: Tensor, p_model: Tensor, weight) -> None:
    """``p_avg.lerp_(p_model, weight)`` (torch's two-sided formula for a number ``weight``), without
    the per-op Tensor machinery on the hot path: three in-place array ops and a version bump."""
    arrays = _arrays(p_avg, p_model) if isinstance(weight, float) else None
    if arrays is None:
        p_avg.lerp_(p_model, weight)
        return
    a, b, xp = arrays
    _lerp_(a, b, weight, xp.empty_like(a), xp)
    p_avg._version_counter[0] += 1


def _check_decay(decay: float) -> None:
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable[[PARAM_LIST, PARAM_LIST, Any], None]:
    """The in-place EMA update over lists of tensors: ``ema = decay * ema + (1 - decay) * current``.

    Float and complex tensors are updated by ``lerp_`` (one op each); integer tensors (e.g. a
    BatchNorm's ``num_batches_tracked`` with ``use_buffers=True``) get the average computed in
    floating point and truncated back, as torch does.
    """
    _check_decay(decay)

    @no_grad()
    def ema_update(ema_param_list: PARAM_LIST, current_param_list: PARAM_LIST, _: Any) -> None:
        if _is_float_or_complex(ema_param_list[0]):
            weight = float(1 - decay)
            for p_ema, p_model in zip(ema_param_list, current_param_list, strict=True):
                _lerp_tensor_(p_ema, p_model, weight)
        else:
            for p_ema, p_model in zip(ema_param_list, current_param_list, strict=True):
                p_ema.copy_(p_ema * decay + p_model * (1 - decay))

    return ema_update


def get_swa_multi_avg_fn() -> Callable[[PARAM_LIST, PARAM_LIST, Tensor | int], None]:
    """The in-place equal-weight (SWA) update over lists of tensors:
    ``avg += (current - avg) / (num_averaged + 1)``, as one ``lerp_`` per tensor.

    ``num_averaged`` may be a tensor (no host read) or a number. As in torch, integer tensors are
    rejected (the update would need an integer division).
    """

    @no_grad()
    def swa_update(averaged_param_list: PARAM_LIST, current_param_list: PARAM_LIST, num_averaged: Tensor | int) -> None:
        if _is_float_or_complex(averaged_param_list[0]):
            weight = 1 / (num_averaged + 1)  # a tensor for a tensor count: no host read
            for p_avg, p_model in zip(averaged_param_list, current_param_list, strict=True):
                _lerp_tensor_(p_avg, p_model, weight)
            return
        for p_avg, p_model in zip(averaged_param_list, current_param_list, strict=True):
            p_model - p_avg  # noqa: B018 - raises torch's error for bool tensors first
        if isinstance(num_averaged, Tensor):
            raise RuntimeError(
                "Integer division with addcdiv is no longer supported, and in a future  release addcdiv will perform "
                "a true division of tensor1 and tensor2. The historic addcdiv behavior can be implemented as "
                "(input + value * torch.trunc(tensor1 / tensor2)).to(input.dtype) for integer inputs and as "
                "(input + value * tensor1 / tensor2) for float inputs. The future addcdiv behavior is just the latter "
                "implementation: (input + value * tensor1 / tensor2), for all dtypes."
            )
        raise RuntimeError("For integral input tensors, argument alpha must not be a floating point number.")

    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> Callable[[Tensor, Tensor, Any], Tensor]:
    """The EMA of one tensor, returned (not in place): ``decay * ema + (1 - decay) * current``."""
    _check_decay(decay)

    @no_grad()
    def ema_update(ema_param: Tensor, current_param: Tensor, num_averaged: Any) -> Tensor:
        return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn() -> Callable[[Tensor, Tensor, Tensor | int], Tensor]:
    """The equal-weight running mean of one tensor, returned: ``avg + (current - avg) / (num_averaged + 1)``."""

    @no_grad()
    def swa_update(averaged_param: Tensor, current_param: Tensor, num_averaged: Tensor | int) -> Tensor:
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


def _swa_default_(p_avg: Tensor, p_model: Tensor, n: int) -> None:
    """The default SWA step in place, with the arithmetic of torch's per-tensor fallback
    (``avg + (current - avg) / (n + 1)``); integer tensors get it truncated, as torch's ``copy_``."""
    arrays = _arrays(p_avg, p_model)
    if arrays is not None:
        a, b, xp = arrays
        step = xp.subtract(b, a)
        step /= n + 1
        a += step
        p_avg._version_counter[0] += 1
    elif _is_float_or_complex(p_avg):
        p_avg.add_(p_model.sub(p_avg).div_(n + 1))
    else:
        p_avg.copy_(p_avg + (p_model - p_avg) / (n + 1))


class AveragedModel(Module):
    """A running average (SWA by default, or EMA) of a model's parameters (torch.optim.swa_utils.AveragedModel).

    Holds ``module``, a deep copy of ``model`` (moved to ``device`` if given), and ``n_averaged``,
    a long buffer counting the models averaged so far. ``update_parameters(model)`` copies the
    model's parameters on the first call and averages them after: by ``multi_avg_fn`` (in place,
    per device and dtype group), by ``avg_fn`` (one tensor at a time), or by the equal-weight mean.
    With ``use_buffers=True`` the buffers are averaged with the parameters; otherwise they are
    copied from ``model``. ``avg_fn``/``multi_avg_fn`` are not saved in the state dict.
    """

    n_averaged: Tensor

    def __init__(
        self,
        model: Module,
        device: int | str | _device_type | None = None,
        avg_fn: Callable[[Tensor, Tensor, Tensor | int], Tensor] | None = None,
        multi_avg_fn: Callable[[PARAM_LIST, PARAM_LIST, Tensor | int], None] | None = None,
        use_buffers: bool = False,
    ) -> None:
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", zeros((), dtype=_dtype.int64, device=device))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        """The averaged module's forward."""
        return self.module(*args, **kwargs)

    @no_grad()
    def update_parameters(self, model: Module) -> None:
        """Fold ``model``'s current parameters (and buffers with ``use_buffers``) into the average."""
        if self.use_buffers:
            self_tensors = itertools.chain(self.module.parameters(), self.module.buffers())
            model_tensors = itertools.chain(model.parameters(), model.buffers())
        else:
            self_tensors = self.parameters()
            model_tensors = model.parameters()
        averaged: list[Tensor] = []
        current: list[Tensor] = []
        for p_avg, p_model in zip(self_tensors, model_tensors, strict=False):
            averaged.append(p_avg.detach())
            p_model = p_model.detach()
            if p_model.device != p_avg.device:
                p_model = p_model.to(p_avg.device)
            current.append(p_model)
        n = int(self.n_averaged.item())  # the one host read (torch reads it here as well)
        if n == 0:
            for p_avg, p_model in zip(averaged, current):
                p_avg.copy_(p_model)
        elif self.avg_fn is not None:
            for p_avg, p_model in zip(averaged, current):
                p_avg.copy_(self.avg_fn(p_avg, p_model, self.n_averaged.to(p_avg.device)))
        elif self.multi_avg_fn is not None:
            groups: dict[tuple, tuple[list[Tensor], list[Tensor]]] = {}
            for p_avg, p_model in zip(averaged, current):
                group = groups.setdefault((p_avg.device, p_avg.dtype), ([], []))
                group[0].append(p_avg)
                group[1].append(p_model)
            for (dev, _), (avg_list, model_list) in groups.items():
                self.multi_avg_fn(avg_list, model_list, self.n_averaged.to(dev))
        else:
            for p_avg, p_model in zip(averaged, current):
                _swa_default_(p_avg, p_model, n)
        if not self.use_buffers:
            # buffers not averaged follow the source model
            for b_avg, b_model in zip(self.module.buffers(), model.buffers(), strict=True):
                b_avg.detach().copy_(b_model.detach().to(b_avg.device))
        self.n_averaged += 1


@no_grad()
def update_bn(loader: Iterable[Any], model: Module, device: int | str | _device_type | None = None) -> None:
    """Recompute the BatchNorm running statistics of ``model`` with one pass over ``loader``.

    Each BatchNorm's stats are reset and accumulated as a cumulative average (``momentum=None``)
    over the batches (a batch that is a list/tuple contributes its first element, moved to
    ``device`` if given); the momenta and the model's train/eval mode are restored after.
    """
    momenta = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    for batch in loader:
        if isinstance(batch, (list, tuple)):
            batch = batch[0]
        if device is not None:
            batch = batch.to(device)
        model(batch)
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneals each param group's learning rate to ``swa_lr`` over ``anneal_epochs`` epochs, then holds it
    (torch.optim.swa_utils.SWALR).

    ``swa_lr`` is one value for all groups or a list with one per group (stored as
    ``group['swa_lr']``); ``anneal_strategy`` is ``"cos"`` or ``"linear"``. Each step moves from
    the current rate (so it can follow another scheduler) along the annealing curve.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        swa_lr: float | list[float],
        anneal_epochs: int = 10,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        last_epoch: int = -1,
    ) -> None:
        swa_lrs = _format_param("swa_lr", optimizer, swa_lr)
        for value, group in zip(swa_lrs, optimizer.param_groups, strict=True):
            group["swa_lr"] = value
        if anneal_strategy not in ["cos", "linear"]:
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self._set_anneal_func(anneal_strategy)
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t: float) -> float:
        return t

    @staticmethod
    def _cosine_anneal(t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr, swa_lr, alpha: float):
        """The rate the annealing started from, recovered from the current one at progress ``alpha``."""
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self) -> list[float | Tensor]:
        """The rates for this step: each group's start rate moved toward ``swa_lr`` by the annealing curve."""
        if not self._get_lr_called_within_step:
            warnings.warn(
                "To get the last learning rate computed by the scheduler, please use `get_last_lr()`.",
                UserWarning,
                stacklevel=2,
            )
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        span = max(1, self.anneal_epochs)
        prev_alpha = self.anneal_func(max(0, min(1, (step - 1) / span)))
        alpha = self.anneal_func(max(0, min(1, step / span)))
        groups = self.optimizer.param_groups
        starts = [self._get_initial_lr(group["lr"], group["swa_lr"], prev_alpha) for group in groups]
        return [group["swa_lr"] * alpha + lr * (1 - alpha) for group, lr in zip(groups, starts, strict=True)]

    def _set_anneal_func(self, anneal_strategy: Literal["cos", "linear"]) -> None:
        self._anneal_strategy = anneal_strategy
        self.anneal_func = self._cosine_anneal if anneal_strategy == "cos" else self._linear_anneal

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer and the annealing function (rebuilt on load)."""
        return {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "anneal_func")}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)
        self._set_anneal_func(self._anneal_strategy)
