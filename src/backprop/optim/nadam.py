"""NAdam (torch.optim.NAdam): Adam with Nesterov momentum and a momentum-decay schedule."""

from __future__ import annotations

from typing import Any

import numpy

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
    _scalar_dtype,
    _to_float,
    _use_grad,
)

__all__ = ["NAdam"]


class NAdam(Optimizer):
    """NAdam: ``mu_t = beta1 * (1 - 0.5 * 0.96**(t * momentum_decay))``; the update mixes the
    current gradient and the first moment with Nesterov weights, both over ``sqrt(v / (1 - beta2**t)) + eps``.

    ``state['mu_product']`` (the running product of the ``mu_t``) is a 0-d tensor multiplied in
    its own dtype, as torch keeps it: on the CPU, with ``step``, as torch's non-capturable one.
    """

    _host_state_keys = frozenset({"step", "mu_product"})

    _option_defaults = {
        "maximize": False,
        "foreach": None,
        "capturable": False,
        "differentiable": False,
        "decoupled_weight_decay": False,
    }
    _tensor_steps = True

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
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
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        self._check_unsupported(differentiable)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            for p in group["params"]:
                p_state = self.state.get(p, None)
                if p_state and "mu_product" in p_state and not isinstance(p_state["mu_product"], Tensor):
                    p_state["mu_product"] = _make(numpy.array(p_state["mu_product"], dtype=_scalar_dtype()))

    @_use_grad
    def step(self, closure=None):
        """Perform a single optimization step; returns the closure's loss if one is given."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            lr = _to_float(group["lr"])
            beta1, beta2 = (_to_float(b) for b in group["betas"])
            eps, momentum_decay = _to_float(group["eps"]), _to_float(group["momentum_decay"])
            weight_decay, maximize = _to_float(group["weight_decay"]), group["maximize"]
            decoupled = group["decoupled_weight_decay"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                xp = array_module(p._data)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _new_step()
                    state["mu_product"] = _make(numpy.ones((), dtype=_scalar_dtype()))  # on the CPU, as torch
                    state["exp_avg"] = _make(xp.zeros_like(p._data))
                    state["exp_avg_sq"] = _make(xp.zeros_like(p._data))
                step = _bump_step(state["step"])
                bias_correction2 = 1 - beta2**step
                if weight_decay != 0 and decoupled:
                    p._data *= 1 - lr * weight_decay
                    g = _grad_array(p, 0, maximize)
                else:
                    g = _grad_array(p, weight_decay, maximize)
                mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
                mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
                mu_product_t = state["mu_product"]
                mu_product_t._data *= mu
                mu_product_t._version_counter[0] += 1
                mu_product = float(mu_product_t._data)

                m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
                tmp = xp.empty_like(m)
                _lerp_(m, g, 1 - beta1, tmp)
                _ema_square_(v, g, beta2, tmp)
                state["exp_avg"]._version_counter[0] += 1
                state["exp_avg_sq"]._version_counter[0] += 1
                denom = xp.divide(v, bias_correction2)
                xp.sqrt(denom, out=denom)
                denom += eps
                mu_product_next = mu_product * mu_next
                xp.multiply(g, -lr * (1.0 - mu) / (1.0 - mu_product), out=tmp)
                tmp /= denom
                p._data += tmp
                xp.multiply(m, (-lr * mu_next) / (1.0 - mu_product_next), out=tmp)
                tmp /= denom
                p._data += tmp
                _bump(p)
        return loss
