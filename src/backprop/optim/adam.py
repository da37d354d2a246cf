"""Adam (torch.optim.Adam), with AMSGrad, ``maximize`` and optional decoupled weight decay."""

from __future__ import annotations

from .._backend import backend_of
from .._tensor import Tensor, _make
from .optimizer import (
    Optimizer,
    ParamsT,
    _bump,
    _bump_step,
    _ema_square_,
    _grad_array,
    _lerp_,
    _new_step,
    _run_closure,
    _step_kernel,
    _to_float,
    _use_grad,
)

__all__ = ["Adam"]


def _check_betas(betas) -> None:
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")


def _check_lr(lr) -> None:
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")


class Adam(Optimizer):
    """Adam with torch's bias-correction formulas and per-parameter ``state['step']`` tensor.

    Per step: ``m = lerp(m, g, 1 - beta1)``, ``v = beta2 * v + (1 - beta2) * g * g``,
    ``p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)`` (``v`` replaced by
    its running maximum under ``amsgrad``). Weight decay is added to the gradient, or, with
    ``decoupled_weight_decay=True`` (AdamW), applied as ``p *= 1 - lr * weight_decay`` first.
    Where the device has an ``adam_step`` kernel (CUDA) the update is one kernel per parameter;
    bias corrections are host floats from the CPU step counter, so a step never waits on the device.
    """

    _option_defaults = {
        "amsgrad": False,
        "maximize": False,
        "foreach": None,
        "capturable": False,
        "differentiable": False,
        "decoupled_weight_decay": False,
        "fused": None,
    }
    _tensor_steps = True

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        _check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        _check_betas(betas)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not (
            (isinstance(betas[0], float) and isinstance(betas[1], float))
            or (isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor))
        ):
            raise ValueError("betas must be either both floats or both Tensors")
        for i in (0, 1):
            if isinstance(betas[i], Tensor) and betas[i].numel() != 1:
                raise ValueError(f"Tensor betas[{i}] must be 1-element")
        self._check_unsupported(differentiable)
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)
        if fused and foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")

    @_use_grad
    def step(self, closure=None):
        """Perform a single optimization step; returns the closure's loss if one is given."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            lr = _to_float(group["lr"])
            beta1, beta2 = (_to_float(b) for b in group["betas"])
            eps = _to_float(group["eps"])
            weight_decay = _to_float(group["weight_decay"])
            amsgrad, maximize = group["amsgrad"], group["maximize"]
            decoupled = group["decoupled_weight_decay"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                b = backend_of(p._data)  # once per parameter: its kernels and array module
                xp = b.xp
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _new_step()
                    state["exp_avg"] = _make(xp.zeros_like(p._data))
                    state["exp_avg_sq"] = _make(xp.zeros_like(p._data))
                    if amsgrad:
                        state["max_exp_avg_sq"] = _make(xp.zeros_like(p._data))
                step = _bump_step(state["step"])
                bias_correction1 = 1 - beta1**step
                bias_correction2_sqrt = (1 - beta2**step) ** 0.5
                kernel = None if amsgrad else _step_kernel(b, "adam_step", p._data, p._grad._data)
                if kernel is not None:  # the whole update in one kernel (CUDA; the CPU's JIT kernels)
                    kernel(
                        p._data, p._grad._data, state["exp_avg"]._data, state["exp_avg_sq"]._data,
                        lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2_sqrt, decoupled, maximize,
                    )
                    _bump(p)
                    state["exp_avg"]._version_counter[0] += 1
                    state["exp_avg_sq"]._version_counter[0] += 1
                    continue
                if weight_decay != 0 and decoupled:
                    p._data *= 1 - lr * weight_decay
                    g = _grad_array(p, 0, maximize, xp)
                else:
                    g = _grad_array(p, weight_decay, maximize, xp)
                m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
                tmp = xp.empty_like(m)
                _lerp_(m, g, 1 - beta1, tmp, xp)
                _ema_square_(v, g, beta2, tmp, xp)

                step_size = lr / bias_correction1
                if amsgrad:
                    vmax = state["max_exp_avg_sq"]._data
                    xp.maximum(vmax, v, out=vmax)
                    state["max_exp_avg_sq"]._version_counter[0] += 1
                    v = vmax
                denom = xp.sqrt(v)
                denom /= bias_correction2_sqrt
                denom += eps
                xp.multiply(m, -step_size, out=tmp)  # torch: p.addcdiv_(m, denom, value=-step_size)
                tmp /= denom
                p._data += tmp
                _bump(p)
                state["exp_avg"]._version_counter[0] += 1
                state["exp_avg_sq"]._version_counter[0] += 1
        return loss
