"""``Optimizer``: the base class of every optimization algorithm (torch.optim.Optimizer).

It owns ``param_groups`` (a list of dicts: the tensors under ``'params'`` plus that group's
hyper-parameters), ``state`` (a dict of per-parameter dicts, keyed by the parameter) and the
step hooks. ``state_dict()`` / ``load_state_dict()`` use torch's format exactly: state keyed
by the integer position of each parameter across groups, groups listing those positions.

Subclasses update parameters with a few in-place ``xp`` calls per parameter on the arrays
behind the tensors (``p._data``, ``p._grad._data``, the state arrays), never through Tensor
ops: a step records no graph, allocates little, and keeps every array in the parameter's dtype
(Python-scalar hyper-parameters are weak scalars for NumPy 2, so nothing is promoted).

Devices: ``xp`` is the array module of each parameter (``array_module(p._data)``), so the
per-parameter state (``exp_avg``, momentum buffers...) is created on the parameter's device.
As in torch's default (non-capturable) mode, the ``step`` counter and the other scalar state
(``_host_state_keys``) stay 0-d CPU tensors and the bias corrections are host floats: a step
never waits for the device.
"""

from __future__ import annotations

import functools
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from copy import deepcopy
from itertools import chain
from typing import Any, TypeAlias

import numpy

from .. import _dtype
from .._backend import array_module, backend_of, is_array, move
from .._tensor import Tensor, _make
from ..autograd.grad_mode import enable_grad, no_grad
from ..nn.parameter import _as_array

__all__ = ["Optimizer", "register_optimizer_step_pre_hook", "register_optimizer_step_post_hook", "required"]

StateDict: TypeAlias = dict[str, Any]
ParamsT: TypeAlias = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]
Args: TypeAlias = tuple[Any, ...]
Kwargs: TypeAlias = dict[str, Any]

_NDARRAY = numpy.ndarray  # a module constant: ``numpy.ndarray`` looked up per parameter shows in zero_grad's time


class _RequiredParameter:
    """Marks a default that every param group must give itself (torch.optim.optimizer.required)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


class RemovableHandle:
    """What the ``register_*_hook`` methods return: ``remove()`` takes the hook out again."""

    _next_id = 0

    def __init__(self, hooks_dict: OrderedDict) -> None:
        self._hooks_dict = hooks_dict
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self._hooks_dict.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


_global_optimizer_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
_global_optimizer_post_hooks: OrderedDict[int, Callable] = OrderedDict()


def register_optimizer_step_pre_hook(hook: Callable) -> RemovableHandle:
    """Register ``hook(optimizer, args, kwargs) -> None | (args, kwargs)`` before every optimizer's step."""
    handle = RemovableHandle(_global_optimizer_pre_hooks)
    _global_optimizer_pre_hooks[handle.id] = hook
    return handle


def register_optimizer_step_post_hook(hook: Callable) -> RemovableHandle:
    """Register ``hook(optimizer, args, kwargs)`` after every optimizer's step."""
    handle = RemovableHandle(_global_optimizer_post_hooks)
    _global_optimizer_post_hooks[handle.id] = hook
    return handle


def _typename(obj) -> str:
    """torch.typename: ``backprop.FloatTensor`` for tensors, ``module.qualname`` otherwise."""
    if isinstance(obj, Tensor):
        return obj.type()
    module = getattr(obj, "__module__", "") or ""
    if hasattr(obj, "__qualname__"):
        qualname = obj.__qualname__
    elif hasattr(obj, "__name__"):
        qualname = obj.__name__
    else:
        module = obj.__class__.__module__ or ""
        qualname = obj.__class__.__qualname__
    return qualname if module in {"", "builtins"} else f"{module}.{qualname}"


def _hook_step(func: Callable) -> Callable:
    """Wrap a subclass's ``step`` so the global and per-instance step hooks run around it."""

    @functools.wraps(func)
    def step(self, *args, **kwargs):
        if self.__dict__.get("_in_step", False):  # a subclass's step calling super().step(): hooks ran already
            return func(self, *args, **kwargs)
        for pre_hook in chain(_global_optimizer_pre_hooks.values(), self._optimizer_step_pre_hooks.values()):
            result = pre_hook(self, args, kwargs)
            if result is not None:
                if isinstance(result, tuple) and len(result) == 2:
                    args, kwargs = result
                else:
                    raise RuntimeError(
                        f"{func} must return None or a tuple of (new_args, new_kwargs), but got {result}."
                    )
        self._in_step = True
        try:
            out = func(self, *args, **kwargs)
        finally:
            self._in_step = False
        for post_hook in chain(self._optimizer_step_post_hooks.values(), _global_optimizer_post_hooks.values()):
            post_hook(self, args, kwargs)
        return out

    step._hooked = True
    return step


def _use_grad(func: Callable) -> Callable:
    """Run an optimizer's ``step`` with autograd off (the closure turns it back on itself)."""

    @functools.wraps(func)
    def step(self, *args, **kwargs):
        with no_grad():
            return func(self, *args, **kwargs)

    return step


def _run_closure(closure: Callable[[], Any] | None):
    """Re-evaluate the loss with autograd on, as torch's steps do; ``None`` without a closure."""
    if closure is None:
        return None
    with enable_grad():
        return closure()


def _to_float(x) -> float:
    """A hyper-parameter as a Python float (1-element tensors and NumPy scalars included).

    NumPy scalars are strong types for NumPy 2 (a ``float64`` one would promote float32 math);
    Python floats are weak and take the array's dtype.
    """
    return float(x)


def _scalar_dtype():
    """The dtype of ``state['step']``: float64 under a float64 default dtype, else float32 (as torch)."""
    return numpy.float64 if _dtype.get_default_dtype() is _dtype.float64 else numpy.float32


def _new_step(value: float = 0.0) -> Tensor:
    """A fresh ``state['step']`` counter: a 0-d CPU tensor, like torch's (non-capturable) one."""
    return _make(numpy.array(value, dtype=_scalar_dtype()))


def _bump_step(step: Tensor) -> float:
    """``state['step'] += 1`` in the counter's own dtype; returns the new count as a float."""
    step._data += 1
    step._version_counter[0] += 1
    return float(step._data)


def _grad_array(p: Tensor, weight_decay: float, maximize: bool, xp=None):
    """The gradient to use, as an array: negated under ``maximize``, plus ``weight_decay * p`` (torch's order).

    Returns the ``.grad`` array itself when neither applies: callers must treat it as read-only.
    ``xp``: the array module of ``p`` when the caller has it.
    """
    g = p._grad._data
    if weight_decay == 0 and not maximize:
        return g
    if xp is None:
        xp = array_module(g)
    if weight_decay != 0:
        out = xp.multiply(p._data, weight_decay)
        if maximize:
            out -= g  # (-g) + wd * p, exactly
        else:
            out += g
        return out
    return xp.negative(g) if maximize else g


def _lerp_(a, b, weight: float, tmp, xp=None) -> None:
    """``a.lerp_(b, weight)`` in place, with torch's two-sided formula (exact at both ends)."""
    if xp is None:
        xp = array_module(a)
    xp.subtract(b, a, out=tmp)
    if abs(weight) < 0.5:
        tmp *= weight
        a += tmp
    else:
        tmp *= weight - 1.0
        xp.add(b, tmp, out=a)


def _ema_square_(v, g, beta: float, tmp, xp=None) -> None:
    """``v.mul_(beta).addcmul_(g, g, value=1 - beta)`` in place."""
    v *= beta
    (array_module(v) if xp is None else xp).multiply(g, 1 - beta, out=tmp)
    tmp *= g
    v += tmp


def _step_kernel(backend, name: str, *arrays):
    """The backend's fused update kernel ``name`` (CUDA's; the CPU's JIT kernels) or None, where
    the optimizer's array code serves."""
    return backend.kernel(name, *arrays)


def _bump(p: Tensor) -> None:
    p._version_counter[0] += 1


class Optimizer:
    """Base class for all optimizers (torch.optim.Optimizer).

    ``params`` is an iterable of tensors, of ``(name, tensor)`` pairs, or of dicts defining
    parameter groups (``{'params': [...], 'lr': 0.1}``); ``defaults`` holds the options a
    group does not set itself.
    """

    # Options a state saved by an older version may lack; ``__setstate__`` (also run by
    # ``load_state_dict``) fills them into every group, as torch's optimizers do one by one.
    _option_defaults: dict[str, Any] = {}
    # Whether per-parameter ``step`` counters saved as numbers become tensors again on load
    # (the built-in optimizers that keep one; a user's subclass keeps what it saved).
    _tensor_steps = False
    # State entries that are 0-d CPU tensors whatever the parameter's device (torch's
    # non-capturable ``step``): ``load_state_dict`` keeps them on the CPU, so that reading them
    # as host floats in ``step`` never waits for a device.
    _host_state_keys: frozenset[str] = frozenset({"step"})

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_hooked", False):
            cls.step = _hook_step(step)

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self._optimizer_step_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._optimizer_state_dict_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._optimizer_state_dict_post_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._optimizer_load_state_dict_post_hooks: OrderedDict[int, Callable] = OrderedDict()
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, but got "
                + _typename(params)
            )
        self.state: defaultdict[Tensor, Any] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    # ------------------------------------------------------------------ pickling and printing
    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for name in (
            "_optimizer_step_pre_hooks",
            "_optimizer_step_post_hooks",
            "_optimizer_state_dict_pre_hooks",
            "_optimizer_state_dict_post_hooks",
            "_optimizer_load_state_dict_pre_hooks",
            "_optimizer_load_state_dict_post_hooks",
        ):
            if name not in self.__dict__:
                self.__dict__[name] = OrderedDict()
        self.defaults.setdefault("differentiable", False)
        for group in self.param_groups:
            for name, value in self._option_defaults.items():
                group.setdefault(name, value)
        if self._tensor_steps:
            self._setstate_steps()

    def __repr__(self) -> str:
        format_string = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            format_string += "\n"
            format_string += f"Parameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    format_string += f"    {key}: {group[key]}\n"
        format_string += ")"
        return format_string

    # ------------------------------------------------------------------ hooks
    def register_step_pre_hook(self, hook: Callable) -> RemovableHandle:
        """Register ``hook(optimizer, args, kwargs) -> None | (new_args, new_kwargs)`` before ``step``."""
        handle = RemovableHandle(self._optimizer_step_pre_hooks)
        self._optimizer_step_pre_hooks[handle.id] = hook
        return handle

    def register_step_post_hook(self, hook: Callable) -> RemovableHandle:
        """Register ``hook(optimizer, args, kwargs)`` after ``step``."""
        handle = RemovableHandle(self._optimizer_step_post_hooks)
        self._optimizer_step_post_hooks[handle.id] = hook
        return handle

    @staticmethod
    def _register(table: OrderedDict, hook: Callable, prepend: bool) -> RemovableHandle:
        handle = RemovableHandle(table)
        table[handle.id] = hook
        if prepend:
            table.move_to_end(handle.id, last=False)
        return handle

    def register_state_dict_pre_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """Register ``hook(optimizer)``, called before ``state_dict()`` builds its result."""
        return self._register(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """Register ``hook(optimizer, state_dict) -> state_dict | None``, called on ``state_dict()``'s result."""
        return self._register(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """Register ``hook(optimizer, state_dict) -> state_dict | None``, called before loading."""
        return self._register(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """Register ``hook(optimizer)``, called after ``load_state_dict()``."""
        return self._register(self._optimizer_load_state_dict_post_hooks, hook, prepend)

    # ------------------------------------------------------------------ state dict
    def state_dict(self) -> StateDict:
        """The optimizer's state as ``{'state': {index: {...}}, 'param_groups': [{..., 'params': [index, ...]}]}``.

        As in torch, the state tensors are the live ones (not copies): deep-copy the result to snapshot it.
        """
        for pre_hook in self._optimizer_state_dict_pre_hooks.values():
            pre_hook(self)
        param_mappings: dict[int, int] = {}
        start_index = 0

        def pack_group(group: dict[str, Any]) -> dict[str, Any]:
            nonlocal start_index
            packed = {k: v for k, v in group.items() if k != "params"}
            param_mappings.update(
                {id(p): i for i, p in enumerate(group["params"], start_index) if id(p) not in param_mappings}
            )
            packed["params"] = [param_mappings[id(p)] for p in group["params"]]
            start_index += len(packed["params"])
            return packed

        param_groups = [pack_group(g) for g in self.param_groups]
        packed_state = {(param_mappings[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        state_dict = {"state": packed_state, "param_groups": param_groups}
        for post_hook in self._optimizer_state_dict_post_hooks.values():
            result = post_hook(self, state_dict)
            if result is not None:
                state_dict = result
        return state_dict

    @classmethod
    def _process_value_according_to_param_policy(cls, param: Tensor, value, key=None) -> Tensor:
        """Copy a loaded state tensor onto the parameter's device; floating ones (but ``step``)
        take the parameter's dtype. The scalar counters of ``_host_state_keys`` stay on the CPU.

        Accepts backprop tensors, NumPy (or device) arrays and foreign tensors (a torch
        optimizer's state dict).
        """
        arr = _as_array(value)
        dtype = None
        if key != "step" and param._data.dtype.kind == "f" and arr.dtype.kind == "f":
            dtype = param._data.dtype
        if key in cls._host_state_keys:
            out = backend_of(arr).to_host(arr)
            out = out.astype(dtype) if dtype is not None else out.copy() if out is arr else out
        else:
            out = move(arr, param.device, dtype)
            if out is arr:
                out = out.copy()
        return _make(out)

    @staticmethod
    def _is_tensor_like(value) -> bool:
        if isinstance(value, Tensor) or is_array(value) or (type(value).__module__ == "numpy" and hasattr(value, "dtype")):
            return True
        return type(value).__module__.startswith("torch") and hasattr(value, "detach") and hasattr(value, "numpy")

    def load_state_dict(self, state_dict: StateDict) -> None:
        """Load a state produced by ``state_dict()`` (of backprop or of torch) into this optimizer.

        Groups are matched by position and must hold as many parameters as this optimizer's;
        state tensors are copied and cast to their parameter's dtype.
        """
        state_dict = state_dict.copy()
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = pre_hook(self, state_dict)
            if result is not None:
                state_dict = result
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of optimizer's group"
            )
        id_map = dict(
            zip(
                chain.from_iterable(g["params"] for g in saved_groups),
                chain.from_iterable(g["params"] for g in groups),
            )
        )

        def _cast(param, value, key=None):
            if self._is_tensor_like(value):
                return self._process_value_according_to_param_policy(param, value, key)
            if isinstance(value, dict):
                return {k: _cast(param, v, key=k) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return type(value)(_cast(param, v) for v in value)
            return value

        state: defaultdict[Tensor, dict] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = _cast(param, v)
            else:
                state[k] = v

        def update_group(group: dict[str, Any], new_group: dict[str, Any]) -> dict[str, Any]:
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            return new_group

        param_groups = [update_group(g, ng) for g, ng in zip(groups, saved_groups)]
        self.__setstate__({"state": state, "param_groups": param_groups})
        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)

    # ------------------------------------------------------------------ gradients and groups
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized tensors: to ``None`` (default) or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p._grad
                if g is None:
                    continue
                if set_to_none:
                    p._grad = None
                    continue
                if g._grad_fn is not None:
                    g.detach_()
                else:
                    g._requires_grad = False
                a = g._data
                if a.flags.writeable if type(a) is _NDARRAY else backend_of(a).is_writeable(a):
                    a.fill(0)
                    g._version_counter[0] += 1
                else:
                    p._grad = _make(array_module(g._data).zeros_like(g._data))

    def step(self, closure: Callable[[], Any] | None = None):
        """Perform a single optimization step (subclasses implement it); returns the closure's loss."""
        raise NotImplementedError

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (with its own options) to ``param_groups``, e.g. when unfreezing layers."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the ordering of tensors in "
                "sets will change between runs. Please use a list instead."
            )
        else:
            param_group["params"] = list(params)

        tensors, names = [], []
        for param in param_group["params"]:
            if isinstance(param, tuple):
                names.append(param[0])
                tensors.append(param[1])
            else:
                tensors.append(param)
        param_group["params"] = tensors
        if names:
            if len(names) == len(tensors):
                param_group["param_names"] = names
            else:
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")

        for param in param_group["params"]:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is " + _typename(param))
            if not self.defaults.get("differentiable", None) and not (param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)

        params = param_group["params"]
        if len(params) != len(set(params)):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, this will cause an error; "
                "see github.com/pytorch/pytorch/issues/40967 for more information",
                stacklevel=3,
            )
        param_set: set[Tensor] = set()
        for group in self.param_groups:
            param_set.update(set(group["params"]))
            if ("param_names" in param_group) != ("param_names" in group):
                current = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {current} to the optimizer"
                )
        if not param_set.isdisjoint(set(param_group["params"])):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ------------------------------------------------------------------ helpers for subclasses
    @staticmethod
    def _check_unsupported(differentiable: bool) -> None:
        if differentiable:
            raise NotImplementedError("backprop optimizers do not support differentiable=True")

    def _setstate_steps(self) -> None:
        """After loading: a ``step`` saved as a Python number becomes a tensor counter, as torch does."""
        for group in self.param_groups:
            for p in group["params"]:
                p_state = self.state.get(p, None)
                if p_state and "step" in p_state and not isinstance(p_state["step"], Tensor):
                    p_state["step"] = _new_step(float(p_state["step"]))
