"""Adamax (torch.optim.Adamax): Adam with the infinity norm in place of the second moment."""

from __future__ import annotations

from .._backend import array_module
from .._tensor import Tensor, _make
from .adam import _check_betas, _check_lr
from .optimizer import (
    Optimizer,
    ParamsT,
    _bump,
    _bump_step,
    _grad_array,
    _lerp_,
    _new_step,
    _run_closure,
    _to_float,
    _use_grad,
)

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """Adamax: ``m = lerp(m, g, 1 - beta1)``, ``u = max(beta2 * u, |g| + eps)``,
    ``p -= lr / (1 - beta1**t) * m / u``."""

    _option_defaults = {"foreach": None, "maximize": False, "differentiable": False, "capturable": False}
    _tensor_steps = True

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        _check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        _check_betas(betas)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        self._check_unsupported(differentiable)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    @_use_grad
    def step(self, closure=None):
        """Perform a single optimization step; returns the closure's loss if one is given."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            lr = _to_float(group["lr"])
            beta1, beta2 = (_to_float(b) for b in group["betas"])
            eps, weight_decay, maximize = _to_float(group["eps"]), _to_float(group["weight_decay"]), group["maximize"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                xp = array_module(p._data)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _new_step()
                    state["exp_avg"] = _make(xp.zeros_like(p._data))
                    state["exp_inf"] = _make(xp.zeros_like(p._data))
                step = _bump_step(state["step"])
                g = _grad_array(p, weight_decay, maximize)
                m, u = state["exp_avg"]._data, state["exp_inf"]._data
                tmp = xp.empty_like(m)
                _lerp_(m, g, 1 - beta1, tmp)
                u *= beta2
                xp.abs(g, out=tmp)
                tmp += eps
                xp.maximum(u, tmp, out=u)
                state["exp_avg"]._version_counter[0] += 1
                state["exp_inf"]._version_counter[0] += 1
                clr = lr / (1 - beta1**step)
                xp.multiply(m, -clr, out=tmp)  # torch: p.addcdiv_(m, u, value=-clr)
                tmp /= u
                p._data += tmp
                _bump(p)
        return loss
