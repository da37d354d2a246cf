"""Rprop (torch.optim.Rprop): resilient backpropagation, sign-based steps with adaptive sizes."""

from __future__ import annotations

from .._backend import array_module
from .._tensor import Tensor, _make
from .adam import _check_lr
from .optimizer import Optimizer, ParamsT, _bump, _bump_step, _new_step, _run_closure, _to_float, _use_grad

__all__ = ["Rprop"]


class Rprop(Optimizer):
    """Rprop: each coordinate keeps its own step size, multiplied by ``etaplus`` while the
    gradient keeps its sign and by ``etaminus`` when it flips (clamped to ``step_sizes``);
    ``p -= sign(g) * step_size``, skipping (and forgetting) the gradient right after a flip.
    """

    _option_defaults = {"foreach": None, "maximize": False, "differentiable": False, "capturable": False}
    _tensor_steps = True

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_lr(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        self._check_unsupported(differentiable)
        defaults = {
            "lr": lr,
            "etas": etas,
            "step_sizes": step_sizes,
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
            etaminus, etaplus = (_to_float(e) for e in group["etas"])
            step_size_min, step_size_max = (_to_float(s) for s in group["step_sizes"])
            maximize = group["maximize"]
            for p in group["params"]:
                if p._grad is None:
                    continue
                xp = array_module(p._data)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _new_step()
                    state["prev"] = _make(xp.zeros_like(p._data))
                    state["step_size"] = _make(xp.full_like(p._grad._data, _to_float(group["lr"])))
                _bump_step(state["step"])
                g = p._grad._data
                g = xp.negative(g) if maximize else g.copy()
                prev, step_size = state["prev"]._data, state["step_size"]._data
                factor = xp.multiply(g, prev)
                xp.sign(factor, out=factor)
                # masked writes by copyto: boolean-mask assignment would wait for the device on CUDA
                flipped = factor < 0
                xp.copyto(factor, etaplus, where=factor > 0)
                xp.copyto(factor, etaminus, where=flipped)
                xp.copyto(factor, 1, where=factor == 0)
                step_size *= factor
                xp.clip(step_size, step_size_min, step_size_max, out=step_size)
                xp.copyto(g, 0, where=flipped)  # no step where the sign flipped; the next step sees prev = 0
                xp.sign(g, out=factor)
                factor *= step_size
                p._data -= factor
                prev[...] = g
                state["prev"]._version_counter[0] += 1
                state["step_size"]._version_counter[0] += 1
                _bump(p)
        return loss
