"""RAdam (torch.optim.RAdam): Adam with a rectified adaptive learning rate."""

from __future__ import annotations

from .._backend import array_module
from .._tensor import Tensor, _make
from .adam import _check_betas, _check_lr
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
    _to_float,
    _use_grad,
)

__all__ = ["RAdam"]


class RAdam(Optimizer):
    """RAdam: while the variance estimate is unreliable (``rho_t <= 5``) take plain momentum steps
    ``p -= lr * m_hat``; afterwards the Adam step scaled by the rectification term ``r_t``."""

    _option_defaults = {
        "foreach": None,
        "maximize": False,
        "differentiable": False,
        "decoupled_weight_decay": False,
        "capturable": False,
    }
    _tensor_steps = True

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
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
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "decoupled_weight_decay": decoupled_weight_decay,
            "differentiable": differentiable,
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
            decoupled = group["decoupled_weight_decay"]
            rho_inf = 2 / (1 - beta2) - 1
            for p in group["params"]:
                if p._grad is None:
                    continue
                xp = array_module(p._data)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _new_step()
                    state["exp_avg"] = _make(xp.zeros_like(p._data))
                    state["exp_avg_sq"] = _make(xp.zeros_like(p._data))
                step = _bump_step(state["step"])
                if weight_decay != 0 and decoupled:
                    p._data *= 1 - lr * weight_decay
                    g = _grad_array(p, 0, maximize)
                else:
                    g = _grad_array(p, weight_decay, maximize)
                m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
                tmp = xp.empty_like(m)
                _lerp_(m, g, 1 - beta1, tmp)
                _ema_square_(v, g, beta2, tmp)
                state["exp_avg"]._version_counter[0] += 1
                state["exp_avg_sq"]._version_counter[0] += 1

                bias_correction1 = 1 - beta1**step
                bias_correction2 = 1 - beta2**step
                update = xp.divide(m, bias_correction1)  # the bias-corrected first moment
                update *= lr
                rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
                if rho_t > 5.0:
                    rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                    xp.sqrt(v, out=tmp)
                    tmp += eps
                    xp.reciprocal(tmp, out=tmp)  # torch: bc2**0.5 / t is t.reciprocal() * bc2**0.5
                    tmp *= bias_correction2**0.5
                    update *= tmp
                    update *= rect
                p._data -= update
                _bump(p)
        return loss
