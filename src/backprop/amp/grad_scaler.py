"""``GradScaler``: dynamic loss scaling for float16 training (``torch.amp.GradScaler``).

float16 gradients of small magnitude flush to zero; multiplying the loss by a large factor
before ``backward`` keeps them representable. ``step`` divides the gradients back (unless
``unscale_`` did already), skips ``optimizer.step()`` when any gradient is inf/NaN, and
``update`` lowers the scale after such a step (``backoff_factor``) and raises it after
``growth_interval`` clean ones (``growth_factor``). The scale and the growth counter live on
the device as 0-d tensors; the only host read is ``step``'s check of the found-inf flag.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from enum import Enum

from .. import _dtype
from .._creation import full
from .._tensor import Tensor
from ..autograd.grad_mode import no_grad
from ..ops.elementwise import isfinite, logical_not, where

__all__ = ["GradScaler", "OptState"]

_FIX = "This may indicate your script did not use scaler.scale(loss or outputs) earlier in the iteration."


class OptState(Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _fresh_state() -> dict:
    return {"stage": OptState.READY, "found_inf_per_device": {}}


class GradScaler:
    """``GradScaler(device='cuda', init_scale=2.**16, growth_factor=2.0, backoff_factor=0.5,
    growth_interval=2000, enabled=True)``; ``enabled=False`` makes every method a pass-through.

    Usage: ``scaler.scale(loss).backward()``; optionally ``scaler.unscale_(opt)`` (before
    clipping); ``scaler.step(opt)``; ``scaler.update()``.
    """

    def __init__(
        self,
        device: str = "cuda",
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        self._device = device
        self._enabled = enabled
        if self._device == "cuda" and enabled:
            from .. import cuda

            if not cuda.is_available():
                warnings.warn(
                    "torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.", stacklevel=2
                )
                self._enabled = False
        if self._enabled:
            assert growth_factor > 1.0, "The growth factor must be > 1.0."
            assert backoff_factor < 1.0, "The backoff factor must be < 1.0."
            self._init_scale = init_scale
            self._scale: Tensor | None = None
            self._growth_factor = growth_factor
            self._backoff_factor = backoff_factor
            self._growth_interval = growth_interval
            self._init_growth_tracker = 0
            self._growth_tracker: Tensor | None = None
            self._per_optimizer_states: dict = defaultdict(_fresh_state)

    # ------------------------------------------------------------------ scaling
    def _lazy_init_scale_growth_tracker(self, dev) -> None:
        assert self._growth_tracker is None, "_growth_tracker initialized before _scale"
        self._scale = full((), self._init_scale, dtype=_dtype.float32, device=dev)
        self._growth_tracker = full((), self._init_growth_tracker, dtype=_dtype.int32, device=dev)

    def _check_scale_growth_tracker(self, funcname: str) -> tuple:
        assert self._scale is not None, f"Attempted {funcname} but _scale is None.  " + _FIX
        assert self._growth_tracker is not None, f"Attempted {funcname} but _growth_tracker is None.  " + _FIX
        return self._scale, self._growth_tracker

    def scale(self, outputs):
        """``outputs`` (a Tensor, or an iterable of them, nested) times the current scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            if self._scale is None:
                self._lazy_init_scale_growth_tracker(outputs.device)
            return outputs * self._scale.to(device=outputs.device)
        per_device: dict = {}

        def apply(value):
            if isinstance(value, Tensor):
                if self._scale is None:
                    self._lazy_init_scale_growth_tracker(value.device)
                dev = value.device
                if dev not in per_device:
                    per_device[dev] = self._scale.to(device=dev)
                return value * per_device[dev]
            if isinstance(value, (list, tuple)):
                out = [apply(v) for v in value]
                return type(value)(out) if isinstance(value, tuple) else out
            if hasattr(value, "__iter__") and not isinstance(value, (str, bytes)):
                return map(apply, value)
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")

        return apply(outputs)

    def _unscale_grads_(self, optimizer, inv_scale: Tensor, found_inf: Tensor, allow_fp16: bool) -> dict:
        """Multiply every gradient by ``inv_scale`` in place; per device, a 0-d float32 flag
        that is nonzero when some gradient there has an inf or NaN (no host read)."""
        found: dict = {}
        inv_by_device: dict = {}
        with no_grad():
            for group in optimizer.param_groups:
                for param in group["params"]:
                    grad = param.grad
                    if grad is None:
                        continue
                    if not allow_fp16 and grad.dtype is _dtype.float16:
                        raise ValueError("Attempting to unscale FP16 gradients.")
                    dev = grad.device
                    if dev not in found:
                        found[dev] = found_inf.to(device=dev, copy=True)
                        inv_by_device[dev] = inv_scale.to(device=dev)
                    found[dev].add_(logical_not(isfinite(grad).all()).to(_dtype.float32))
                    grad.mul_(inv_by_device[dev])
        return found

    def _check_inf_per_device(self, optimizer) -> dict:
        """The found-inf flags of ``optimizer``'s gradients, per device, without unscaling them."""
        scale, _ = self._check_scale_growth_tracker("_check_inf_per_device")
        one = full((), 1.0, dtype=_dtype.float32, device=scale.device)
        found_inf = full((), 0.0, dtype=_dtype.float32, device=scale.device)
        flags = self._unscale_grads_(optimizer, one, found_inf, True)
        self._per_optimizer_states[id(optimizer)]["found_inf_per_device"] = flags
        return flags

    def _found_inf_per_device(self, optimizer) -> dict:
        return self._per_optimizer_states[id(optimizer)]["found_inf_per_device"]

    def unscale_(self, optimizer) -> None:
        """Divide ``optimizer``'s gradients by the scale, in place (once per step, before ``step``)."""
        if not self._enabled:
            return
        self._check_scale_growth_tracker("unscale_")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        inv_scale = self._scale.double().reciprocal().float()
        found_inf = full((), 0.0, dtype=_dtype.float32, device=self._scale.device)
        state["found_inf_per_device"] = self._unscale_grads_(optimizer, inv_scale, found_inf, False)
        state["stage"] = OptState.UNSCALED

    def _maybe_opt_step(self, optimizer, state: dict, *args, **kwargs):
        if not sum(v.item() for v in state["found_inf_per_device"].values()):
            return optimizer.step(*args, **kwargs)
        return None

    def step(self, optimizer, *args, **kwargs):
        """Unscale (if not done), then ``optimizer.step(*args, **kwargs)`` unless a gradient
        is inf/NaN; returns what ``step`` returned, or None when it was skipped."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_scale_growth_tracker("step")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] is OptState.READY:
            self.unscale_(optimizer)
        assert len(state["found_inf_per_device"]) > 0, "No inf checks were recorded for this optimizer."
        retval = self._maybe_opt_step(optimizer, state, *args, **kwargs)
        state["stage"] = OptState.STEPPED
        return retval

    def update(self, new_scale=None) -> None:
        """Set the scale for the next iteration: ``new_scale`` if given (a float or a 1-element
        tensor), else backed off after a skipped step or grown after ``growth_interval`` clean ones."""
        if not self._enabled:
            return
        scale, tracker = self._check_scale_growth_tracker("update")
        with no_grad():
            if new_scale is not None:
                if isinstance(new_scale, float):
                    scale.fill_(new_scale)
                else:
                    reason = "new_scale should be a float or a 1-element torch.cuda.FloatTensor or torch.FloatTensor with requires_grad=False."
                    assert isinstance(new_scale, Tensor), reason
                    assert new_scale.numel() == 1, reason
                    assert new_scale.requires_grad is False, reason
                    if new_scale.dim() > 0:  # the scale is 0-d (torch's copy_ refuses to shrink it)
                        raise RuntimeError(
                            f"output with shape [] doesn't match the broadcast shape {list(new_scale.shape)}"
                        )
                    scale.copy_(new_scale)
            else:
                found_infs = [
                    f.to(device=scale.device)
                    for st in self._per_optimizer_states.values()
                    for f in st["found_inf_per_device"].values()
                ]
                assert len(found_infs) > 0, "No inf checks were recorded prior to update."
                found = found_infs[0]
                for f in found_infs[1:]:
                    found = found + f
                self._update_scale_(scale, tracker, found)
        self._per_optimizer_states = defaultdict(_fresh_state)

    def _update_scale_(self, scale: Tensor, tracker: Tensor, found: Tensor) -> None:
        """On the device: back off after an inf, grow (if still finite) after ``growth_interval`` clean steps."""
        had_inf = found > 0
        successful = tracker + 1
        due = successful == self._growth_interval
        grown = scale * self._growth_factor
        new_scale = where(had_inf, scale * self._backoff_factor, where(due & isfinite(grown), grown, scale))
        new_tracker = where(had_inf | due, 0, successful).to(_dtype.int32)
        scale.copy_(new_scale)
        tracker.copy_(new_tracker)

    # ------------------------------------------------------------------ settings and state
    def _get_scale_async(self) -> Tensor | None:
        return self._scale

    def get_scale(self) -> float:
        """The current scale as a Python float (a host read); 1.0 when disabled."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else float(self._scale.item())

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = new_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = new_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = new_interval

    def _get_growth_tracker(self) -> int:
        if not self._enabled:
            return 0
        return self._init_growth_tracker if self._growth_tracker is None else int(self._growth_tracker.item())

    def is_enabled(self) -> bool:
        return self._enabled

    def state_dict(self) -> dict:
        """torch's keys: scale, growth_factor, backoff_factor, growth_interval, _growth_tracker ({} when disabled)."""
        if not self._enabled:
            return {}
        return {
            "scale": self.get_scale(),
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": self._get_growth_tracker(),
        }

    def load_state_dict(self, state_dict: dict) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError(
                "The source state dict is empty, possibly because it was saved from a disabled instance of GradScaler."
            )
        self._init_scale = state_dict["scale"]
        if self._scale is not None:
            self._scale.fill_(state_dict["scale"])
        self._growth_factor = state_dict["growth_factor"]
        self._backoff_factor = state_dict["backoff_factor"]
        self._growth_interval = state_dict["growth_interval"]
        self._init_growth_tracker = state_dict["_growth_tracker"]
        if self._growth_tracker is not None:
            self._growth_tracker.fill_(state_dict["_growth_tracker"])

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if self._enabled:
            assert len(self._per_optimizer_states) == 0, (
                "A GradScaler instance may only be pickled at the beginning of an iteration, or at the end after scaler.update()."
            )
            state["_init_scale"] = self.get_scale()
            state["_init_growth_tracker"] = self._get_growth_tracker()
            state["_scale"] = None
            state["_growth_tracker"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self._enabled:
            self._per_optimizer_states = defaultdict(_fresh_state)


def deprecated_grad_scaler(device: str) -> type:
    """``torch.<device>.amp.GradScaler``: torch's deprecated spelling of ``GradScaler(device, ...)``,
    with its FutureWarning; one class per device (``backprop.cuda.amp``, ``backprop.cpu.amp``)."""

    def init(
        self,
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        warnings.warn(
            f"`torch.{device}.amp.GradScaler(args...)` is deprecated. "
            f"Please use `torch.amp.GradScaler('{device}', args...)` instead.",
            FutureWarning,
            stacklevel=2,
        )
        GradScaler.__init__(self, device, init_scale, growth_factor, backoff_factor, growth_interval, enabled)

    return type(
        "GradScaler",
        (GradScaler,),
        {
            "__init__": init,
            "__module__": f"backprop.{device}.amp",
            "__doc__": f"``torch.{device}.amp.GradScaler(...)``: deprecated, ``backprop.amp.GradScaler('{device}', ...)``.",
        },
    )
