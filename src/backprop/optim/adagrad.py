"""Adagrad (torch.optim.Adagrad): per-coordinate steps shrinking with the accumulated squared gradient."""

from __future__ import annotations

from .._backend import array_module
from .._tensor import Tensor, _make
from .optimizer import Optimizer, ParamsT, _bump, _bump_step, _grad_array, _new_step, _run_closure, _to_float, _use_grad

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad: ``sum += g * g``, ``p -= clr * g / (sqrt(sum) + eps)`` with ``clr = lr / (1 + (t - 1) * lr_decay)``.

    As in torch, the state (``step`` and ``sum`` filled with ``initial_accumulator_value``) is
    created for every parameter at construction.
    """

    _option_defaults = {"foreach": None, "maximize": False, "differentiable": False, "fused": None}
    _tensor_steps = True

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        self._check_unsupported(differentiable)
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)
        if fused and foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p)

    def _init_state(self, p: Tensor) -> dict:
        state = self.state[p]
        state["step"] = _new_step()
        state["sum"] = _make(array_module(p._data).full_like(p._data, self.defaults["initial_accumulator_value"]))
        return state

    def share_memory(self) -> None:
        """No-op: NumPy arrays need no sharing step (torch moves the sums to shared memory)."""

    @_use_grad
    def step(self, closure=None):
        """Perform a single optimization step; returns the closure's loss if one is given."""
        loss = _run_closure(closure)
        for group in self.param_groups:
            lr = _to_float(group["lr"])
            lr_decay, eps = _to_float(group["lr_decay"]), _to_float(group["eps"])
            weight_decay = _to_float(group["weight_decay"])
            maximize = group["maximize"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                xp = array_module(p._data)
                state = self.state[p]
                if len(state) == 0:  # a parameter from add_param_group
                    state = self._init_state(p)
                step = _bump_step(state["step"])
                g = _grad_array(p, weight_decay, maximize)
                clr = lr / (1 + (step - 1) * lr_decay)
                s = state["sum"]._data
                tmp = xp.multiply(g, g)
                s += tmp
                state["sum"]._version_counter[0] += 1
                std = xp.sqrt(s)
                std += eps
                xp.multiply(g, -clr, out=tmp)  # torch: p.addcdiv_(g, std, value=-clr)
                tmp /= std
                p._data += tmp
                _bump(p)
        return loss
