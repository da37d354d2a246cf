"""Adadelta (torch.optim.Adadelta): steps scaled by running RMS of past updates over past gradients."""

from __future__ import annotations

from .._backend import array_module
from .._tensor import Tensor, _make
from .adam import _check_lr
from .optimizer import (
    Optimizer,
    ParamsT,
    _bump,
    _bump_step,
    _ema_square_,
    _grad_array,
    _new_step,
    _run_closure,
    _to_float,
    _use_grad,
)

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Adadelta: ``v = rho * v + (1 - rho) * g * g``,
    ``delta = sqrt(u + eps) / sqrt(v + eps) * g``, ``u = rho * u + (1 - rho) * delta**2``,
    ``p -= lr * delta`` (``v`` is ``square_avg``, ``u`` is ``acc_delta``)."""

    _option_defaults = {"foreach": None, "maximize": False, "differentiable": False, "capturable": False}
    _tensor_steps = True

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        self._check_unsupported(differentiable)
        defaults = {
            "lr": lr,
            "rho": rho,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "capturable": capturable,
            "foreach": foreach,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    @_use_grad
    def step(self, closure=None):
        """Perform a single optimization step; returns the closure's loss if one is given."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            lr = _to_float(group["lr"])
            rho, eps = _to_float(group["rho"]), _to_float(group["eps"])
            weight_decay, maximize = _to_float(group["weight_decay"]), group["maximize"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                xp = array_module(p._data)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _new_step()
                    state["square_avg"] = _make(xp.zeros_like(p._data))
                    state["acc_delta"] = _make(xp.zeros_like(p._data))
                _bump_step(state["step"])
                g = _grad_array(p, weight_decay, maximize)
                v, u = state["square_avg"]._data, state["acc_delta"]._data
                tmp = xp.empty_like(v)
                _ema_square_(v, g, rho, tmp)
                std = xp.add(v, eps)
                xp.sqrt(std, out=std)
                delta = xp.add(u, eps)
                xp.sqrt(delta, out=delta)
                delta /= std
                delta *= g
                _ema_square_(u, delta, rho, tmp)
                state["square_avg"]._version_counter[0] += 1
                state["acc_delta"]._version_counter[0] += 1
                delta *= -lr  # torch: p.add_(delta, alpha=-lr)
                p._data += delta
                _bump(p)
        return loss
