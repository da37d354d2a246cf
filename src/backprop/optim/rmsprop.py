"""RMSprop (torch.optim.RMSprop), plain or centered, with optional momentum."""

from __future__ import annotations

from .._backend import array_module
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
    _to_float,
    _use_grad,
)

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running root-mean-square of recent gradients.

    ``v = alpha * v + (1 - alpha) * g * g``; centered also tracks ``ga = lerp(ga, g, 1 - alpha)``
    and uses ``v - ga**2``; ``avg = sqrt(...) + eps``; then ``buf = momentum * buf + g / avg``,
    ``p -= lr * buf`` with momentum, or ``p -= lr * g / avg`` without.
    """

    _option_defaults = {
        "momentum": 0,
        "centered": False,
        "foreach": None,
        "maximize": False,
        "differentiable": False,
        "capturable": False,
    }
    _tensor_steps = True

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        self._check_unsupported(differentiable)
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    @_use_grad
    def step(self, closure=None):
        """Perform a single optimization step; returns the closure's loss if one is given."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            lr = _to_float(group["lr"])
            alpha, eps, momentum = (_to_float(group[k]) for k in ("alpha", "eps", "momentum"))
            weight_decay = _to_float(group["weight_decay"])
            centered, maximize = group["centered"], group["maximize"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                xp = array_module(p._data)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _new_step()
                    state["square_avg"] = _make(xp.zeros_like(p._data))
                    if momentum > 0:
                        state["momentum_buffer"] = _make(xp.zeros_like(p._data))
                    if centered:
                        state["grad_avg"] = _make(xp.zeros_like(p._data))
                _bump_step(state["step"])
                g = _grad_array(p, weight_decay, maximize)
                v = state["square_avg"]._data
                tmp = xp.empty_like(v)
                _ema_square_(v, g, alpha, tmp)
                state["square_avg"]._version_counter[0] += 1
                if centered:
                    ga = state["grad_avg"]._data
                    _lerp_(ga, g, 1 - alpha, tmp)
                    state["grad_avg"]._version_counter[0] += 1
                    avg = xp.multiply(ga, -1.0)  # torch: v.addcmul(ga, ga, value=-1).sqrt_()
                    avg *= ga
                    avg += v
                    xp.sqrt(avg, out=avg)
                else:
                    avg = xp.sqrt(v)
                avg += eps
                if momentum > 0:
                    buf = state["momentum_buffer"]._data
                    buf *= momentum
                    xp.divide(g, avg, out=tmp)
                    buf += tmp
                    state["momentum_buffer"]._version_counter[0] += 1
                    xp.multiply(buf, -lr, out=tmp)
                else:
                    xp.multiply(g, -lr, out=tmp)  # torch: p.addcdiv_(g, avg, value=-lr)
                    tmp /= avg
                p._data += tmp
                _bump(p)
        return loss
