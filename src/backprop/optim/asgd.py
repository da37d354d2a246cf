"""ASGD (torch.optim.ASGD): averaged stochastic gradient descent (Polyak-Juditsky averaging)."""

from __future__ import annotations

import numpy

from .._backend import array_module
from .._tensor import Tensor, _make
from .adam import _check_lr
from .optimizer import (
    Optimizer,
    ParamsT,
    _bump,
    _bump_step,
    _grad_array,
    _new_step,
    _run_closure,
    _scalar_dtype,
    _to_float,
    _use_grad,
)

__all__ = ["ASGD"]


class ASGD(Optimizer):
    """ASGD: ``p = p * (1 - lambd * eta) - eta * g``, then the average ``ax += mu * (p - ax)``
    (a plain copy while ``mu == 1``); afterwards ``eta = lr / (1 + lambd * lr * t) ** alpha``
    and ``mu = 1 / max(1, t - t0)``. ``eta`` and ``mu`` are 0-d state tensors, as in torch;
    they stay on the CPU with ``step`` whatever the parameters' device (torch keeps them on the
    device and reads them back each step), so a step never waits for the device.
    """

    _host_state_keys = frozenset({"step", "eta", "mu"})
    _option_defaults = {"foreach": None, "maximize": False, "differentiable": False, "capturable": False}
    _tensor_steps = True

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        _check_lr(lr)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        self._check_unsupported(differentiable)
        defaults = {
            "lr": lr,
            "lambd": lambd,
            "alpha": alpha,
            "t0": t0,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        for group in self.param_groups:  # ``eta`` and ``mu`` saved as numbers become 0-d tensors again
            for p in group["params"]:
                p_state = self.state.get(p, None)
                if p_state:
                    for key in ("eta", "mu"):
                        if key in p_state and not isinstance(p_state[key], Tensor):
                            p_state[key] = _new_step(float(p_state[key]))

    @_use_grad
    def step(self, closure=None):
        """Perform a single optimization step; returns the closure's loss if one is given."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            lr = _to_float(group["lr"])
            lambd, alpha, t0 = _to_float(group["lambd"]), _to_float(group["alpha"]), _to_float(group["t0"])
            weight_decay, maximize = _to_float(group["weight_decay"]), group["maximize"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                xp = array_module(p._data)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _new_step()
                    state["eta"] = _new_step(lr)
                    state["mu"] = _new_step(1.0)
                    state["ax"] = _make(xp.zeros_like(p._data))
                step = _bump_step(state["step"])
                g = _grad_array(p, weight_decay, maximize)
                eta_t, mu_t, ax_t = state["eta"], state["mu"], state["ax"]
                eta, mu, ax = float(eta_t._data), float(mu_t._data), ax_t._data
                p._data *= 1 - lambd * eta  # decay
                tmp = xp.multiply(g, -eta)  # torch: p.add_(g, alpha=-eta)
                p._data += tmp
                _bump(p)
                if mu != 1:
                    xp.subtract(p._data, ax, out=tmp)
                    tmp *= mu
                    ax += tmp
                else:
                    ax[...] = p._data
                ax_t._version_counter[0] += 1
                # torch rounds the new values to the default scalar dtype before copying them in
                eta_t._data[...] = numpy.asarray(lr / ((1 + lambd * lr * step) ** alpha), dtype=_scalar_dtype())
                mu_t._data[...] = numpy.asarray(1 / max(1, step - t0), dtype=_scalar_dtype())
                eta_t._version_counter[0] += 1
                mu_t._version_counter[0] += 1
        return loss
