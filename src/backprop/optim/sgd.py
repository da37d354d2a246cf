"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (torch.optim.SGD)."""

from __future__ import annotations

from .._backend import array_module, backend_of
from .._tensor import Tensor, _make
from .optimizer import Optimizer, ParamsT, _bump, _grad_array, _run_closure, _step_kernel, _to_float, _use_grad

__all__ = ["SGD"]


class SGD(Optimizer):
    """SGD, in torch's exact update order.

    ``g = grad (+ weight_decay * p)``; with momentum, ``buf = g`` on the first step and
    ``buf = momentum * buf + (1 - dampening) * g`` after; Nesterov uses ``g + momentum * buf``,
    plain momentum uses ``buf``; finally ``p -= lr * g``. ``maximize`` negates the gradient first.
    """

    _option_defaults = {"nesterov": False, "maximize": False, "foreach": None, "differentiable": False, "fused": False}

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float | Tensor = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        self._check_unsupported(differentiable)
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)
        if fused and foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")

    @_use_grad
    def step(self, closure=None):
        """Perform a single optimization step; returns the closure's loss if one is given."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            lr = _to_float(group["lr"])
            momentum = _to_float(group["momentum"])
            dampening = _to_float(group["dampening"])
            weight_decay = _to_float(group["weight_decay"])
            nesterov, maximize = group["nesterov"], group["maximize"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                b = backend_of(p._data)  # once per parameter: its kernels and array module
                kernel = _step_kernel(b, "sgd_step", p._data, p._grad._data)
                if kernel is not None:  # the whole update in one kernel (CUDA; the CPU's JIT kernels)
                    self._fused_step(kernel, p, lr, momentum, dampening, weight_decay, nesterov, maximize)
                    continue
                xp = b.xp
                g = _grad_array(p, weight_decay, maximize, xp)
                if momentum != 0:
                    state = self.state[p]
                    buf_t = state.get("momentum_buffer")
                    if buf_t is None:
                        buf = g.copy()
                        state["momentum_buffer"] = _make(buf)
                    else:
                        buf = buf_t._data
                        buf *= momentum
                        if dampening == 0:
                            buf += g
                        else:
                            buf += xp.multiply(g, 1 - dampening)
                        buf_t._version_counter[0] += 1
                    if nesterov:
                        g = g + xp.multiply(buf, momentum)
                    else:
                        g = buf
                p._data += xp.multiply(g, -lr)  # torch: p.add_(g, alpha=-lr)
                _bump(p)
        return loss

    def _fused_step(self, kernel, p, lr, momentum, dampening, weight_decay, nesterov, maximize) -> None:
        buf_t = None
        first = False
        if momentum != 0:
            state = self.state[p]
            buf_t = state.get("momentum_buffer")
            if buf_t is None:
                first = True
                buf_t = state["momentum_buffer"] = _make(array_module(p._data).empty_like(p._data))
            else:
                buf_t._version_counter[0] += 1
        kernel(p._data, p._grad._data, None if buf_t is None else buf_t._data, lr, momentum, dampening, weight_decay, nesterov, maximize, first)
        _bump(p)
