"""``nn.Module``: the base class of every layer and model.

Attributes assigned on a module are registered by kind: a ``Parameter`` goes to
``_parameters``, a ``Module`` to ``_modules``, a tensor given to ``register_buffer`` to
``_buffers``. ``state_dict()`` walks them in registration order with dotted names
(``features.0.weight``), exactly as torch names them, so checkpoints interchange.
Parameters and buffers live on a device each (``to``/``cuda``/``cpu`` move them all);
``state_dict()`` returns them where they are, and ``load_state_dict`` copies every value
onto the device of the parameter or buffer it loads into, as torch does.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, namedtuple
from collections.abc import Iterator

from ... import _dtype
from ..._backend import move
from ..._device import device as device_cls
from ..._tensor import Tensor, _make
from ..._tensor_methods import parse_to_args
from ...autograd.function import Function
from ...autograd.grad_mode import _state, no_grad
from ..parameter import Parameter, _as_array

_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class _IncompatibleKeysResult(_IncompatibleKeys):
    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def _shape_repr(shape) -> str:
    return f"backprop.Size([{', '.join(str(s) for s in shape)}])"


class Module:
    """Base class for all neural-network modules (torch.nn.Module)."""

    training: bool
    _version: int = 1
    call_super_init: bool = False

    def __init__(self, *args, **kwargs) -> None:
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments")
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks_with_kwargs", set())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks_with_kwargs", set())
        object.__setattr__(self, "_backward_hooks", OrderedDict())
        object.__setattr__(self, "_backward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_state_dict_hooks", OrderedDict())
        object.__setattr__(self, "_load_state_dict_pre_hooks", OrderedDict())

    forward = None  # subclasses define forward(); a missing one raises in __call__

    # ------------------------------------------------------------------ registration
    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        self._check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter '{name}' (backprop.nn.Parameter or None required)"
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        self._check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' (backprop Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    @staticmethod
    def _check_name(name: str, kind: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain "."')
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')

    def __setattr__(self, name: str, value) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._remove_from(name, d, "_buffers", "_modules")
            self.register_parameter(name, value)
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' (backprop.nn.Parameter or None expected)"
                )
            self.register_parameter(name, value)
            return
        modules = d.get("_modules")
        if isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._remove_from(name, d, "_parameters", "_buffers")
            modules[name] = value
            return
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' (backprop.nn.Module or None expected)")
            modules[name] = value
            return
        buffers = d.get("_buffers")
        if isinstance(value, Tensor) and getattr(value, "_is_buffer_marker", False):
            self._remove_from(name, d, "_parameters", "_modules")
            self.register_buffer(name, value, persistent=value._buffer_persistent)
            return
        if buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' (backprop Tensor or None expected)")
            buffers[name] = value
            return
        object.__setattr__(self, name, value)

    def _remove_from(self, name: str, d: dict, *tables: str) -> None:
        d.pop(name, None)
        for table in tables:
            t = d.get(table)
            if t is not None:
                t.pop(name, None)
        if "_non_persistent_buffers_set" in d:
            self._non_persistent_buffers_set.discard(name)

    def __getattr__(self, name: str):
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            t = d.get(table)
            if t is not None and name in t:
                return t[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for table in ("_parameters", "_buffers", "_modules"):
            t = self.__dict__.get(table)
            if t is not None and name in t:
                del t[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        keys = list(super().__dir__())
        keys += list(self._parameters) + list(self._buffers) + list(self._modules)
        return sorted(set(keys))

    # ------------------------------------------------------------------ traversal
    def _named_members(self, get_members, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        memo = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for k, v in get_members(module):
                if v is None or (remove_duplicate and id(v) in memo):
                    continue
                if remove_duplicate:
                    memo.add(id(v))
                yield (module_prefix + ("." if module_prefix else "") + k, v)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members(lambda m: m._parameters.items(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members(lambda m: m._buffers.items(), prefix, recurse, remove_duplicate)

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_children(self):
        memo = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in memo:
                memo.add(id(m))
                yield name, m

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True):
        if memo is None:
            memo = set()
        if id(self) in memo and remove_duplicate:
            return
        if remove_duplicate:
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from m.named_modules(memo, sub, remove_duplicate)

    def get_submodule(self, target: str) -> Module:
        if target == "":
            return self
        mod = self
        for item in target.split("."):
            if not hasattr(mod, item):
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return mod

    def get_parameter(self, target: str) -> Parameter:
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if name not in mod._parameters:
            raise AttributeError(f"{mod._get_name()} has no parameter `{name}`")
        return mod._parameters[name]

    def get_buffer(self, target: str) -> Tensor:
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if name not in mod._buffers:
            raise AttributeError(f"{mod._get_name()} has no buffer `{name}`")
        return mod._buffers[name]

    # ------------------------------------------------------------------ modes and conversion
    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def compile(self, *args, **kwargs) -> None:
        """torch's in-place ``module.compile(...)``: backprop runs eagerly, so calls stay as they are (and,
        unlike ``torch.compile(module)``, no wrapper and no '_orig_mod.' keys); arguments are checked as
        ``torch.compile`` checks them."""
        from ..._dynamo.eval_frame import compile as compile_callable  # late: _dynamo imports this module

        compile_callable(self.__call__, *args, **kwargs)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:  # zero the existing tensor in place, as torch (references to p.grad see it)
                g = p._grad
                if g._grad_fn is not None:
                    p._grad = g = g.detach()
                g._data[...] = 0
                g._version_counter[0] += 1

    def apply(self, fn) -> Module:
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def _apply(self, fn) -> Module:
        """Convert every parameter and buffer with ``fn(array) -> array`` in place of the data."""
        for m in self.children():
            m._apply(fn)
        for p in self._parameters.values():
            if p is None:
                continue
            p._data = fn(p._data)
            if p._grad is not None:
                p._grad._data = fn(p._grad._data)
        for b in self._buffers.values():
            if b is not None:
                b._data = fn(b._data)
                if b._sparse_layout:  # a sparse COO buffer (an adjacency): its int64 indices move along
                    b._sp_indices = fn(b._sp_indices)
        return self

    def to(self, *args, **kwargs) -> Module:
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)``: every parameter,
        buffer and gradient moves to ``device``; floating-point ones take ``dtype``. In place:
        the parameters stay the same objects, so an optimizer built before still holds them."""
        device, dtype, _non_blocking, _copy = parse_to_args(args, kwargs, "Module.to")
        dt = None
        if dtype is not None:
            dt = _dtype.to_dtype(dtype)
            if not dt.is_floating_point:
                raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dt}")
        if device is None and dt is None:
            return self

        def convert(a):
            if dt is not None and a.dtype.kind == "f" and a.dtype != dt.np:
                a = a.astype(dt.np)
            return a if device is None else move(a, device)

        return self._apply(convert)

    def float(self) -> Module:
        return self.to(_dtype.float32)

    def double(self) -> Module:
        return self.to(_dtype.float64)

    def half(self) -> Module:
        return self.to(_dtype.float16)

    def type(self, dst_type) -> Module:
        return self.to(dst_type)

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self, device=None) -> Module:
        return self.to(device_cls("cuda", device) if isinstance(device, int) else device or "cuda")

    def share_memory(self) -> Module:
        return self

    # ------------------------------------------------------------------ state dict
    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        """Parameters and persistent buffers by dotted name, detached unless ``keep_vars``."""
        if args:  # legacy positional (destination, prefix, keep_vars)
            destination = args[0]
            if len(args) > 1:
                prefix = args[1]
            if len(args) > 2:
                keep_vars = args[2]
        if destination is None:
            destination = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()
        extra = self.get_extra_state() if type(self).get_extra_state is not Module.get_extra_state else None
        if extra is not None:
            destination[prefix + "_extra_state"] = extra
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        for hook in self._state_dict_hooks.values():
            result = hook(self, destination, prefix, {})
            if result is not None:
                destination = result
        return destination

    def get_extra_state(self):
        raise RuntimeError("Reached a code path in Module.get_extra_state() that should never be called.")

    def set_extra_state(self, state) -> None:
        raise RuntimeError("Reached a code path in Module.set_extra_state() that should never be called.")

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
        for hook in self._load_state_dict_pre_hooks.values():
            hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)
        persistent_buffers = {k: v for k, v in self._buffers.items() if k not in self._non_persistent_buffers_set}
        local_state = {k: v for k, v in itertools.chain(self._parameters.items(), persistent_buffers.items()) if v is not None}
        for name, param in local_state.items():
            key = prefix + name
            if key not in state_dict:
                missing_keys.append(key)
                continue
            value = state_dict[key]
            try:
                arr = _as_array(value)
            except Exception as exc:  # noqa: BLE001 - report any unconvertible value by name
                error_msgs.append(f'While copying the parameter named "{key}", an exception occurred: {exc}')
                continue
            if arr.shape != param._data.shape and not (param._data.ndim == 0 and arr.size == 1):
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape {_shape_repr(arr.shape)} from checkpoint, "
                    f"the shape in current model is {_shape_repr(param._data.shape)}."
                )
                continue
            if arr.shape != param._data.shape:  # a size-1 value into a 0-d tensor
                arr = arr.reshape(param._data.shape)
            with no_grad():  # onto the parameter's device, in its dtype
                param._data[...] = move(arr, param.device, param._data.dtype)
                param._version_counter[0] += 1
        if type(self).set_extra_state is not Module.set_extra_state:
            key = prefix + "_extra_state"
            if key in state_dict:
                self.set_extra_state(state_dict[key])
            elif strict:
                missing_keys.append(key)
        if strict:
            for key in state_dict:
                if key.startswith(prefix) and key != prefix + "_extra_state":
                    name = key[len(prefix) :].split(".", 1)[0]
                    if name not in self._modules and name not in local_state:
                        unexpected_keys.append(key)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy parameters and buffers from ``state_dict``; with ``strict``, keys must match exactly.

        Values may be backprop tensors, NumPy arrays or torch tensors. Returns
        ``(missing_keys, unexpected_keys)``; raises RuntimeError listing every problem.
        """
        if not isinstance(state_dict, dict):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing: list = []
        unexpected: list = []
        errors: list = []
        state_dict = OrderedDict(state_dict)

        def load(module: Module, prefix: str = "") -> None:
            module._load_from_state_dict(state_dict, prefix, {}, True, missing, unexpected, errors)
            for name, child in module._modules.items():
                if child is not None:
                    load(child, prefix + name + ".")

        load(self)
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {self._get_name()}:\n\t" + "\n\t".join(errors))
        return _IncompatibleKeysResult(missing, unexpected)

    def register_state_dict_pre_hook(self, hook):
        return _RemovableDictHandle(self._state_dict_hooks, hook)

    def register_load_state_dict_pre_hook(self, hook):
        return _RemovableDictHandle(self._load_state_dict_pre_hooks, hook)

    # ------------------------------------------------------------------ hooks and call
    def register_forward_pre_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False):
        handle = _RemovableDictHandle(self._forward_pre_hooks, hook, prepend)
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs.add(handle.id)
        return handle

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False, always_call: bool = False):
        handle = _RemovableDictHandle(self._forward_hooks, hook, prepend)
        if with_kwargs:
            self._forward_hooks_with_kwargs.add(handle.id)
        return handle

    def register_full_backward_hook(self, hook, prepend: bool = False):
        """``hook(module, grad_input, grad_output)`` after gradients w.r.t. the module's inputs are computed."""
        return _RemovableDictHandle(self._backward_hooks, hook, prepend)

    def register_full_backward_pre_hook(self, hook, prepend: bool = False):
        """``hook(module, grad_output)`` before gradients w.r.t. the module's inputs are computed."""
        return _RemovableDictHandle(self._backward_pre_hooks, hook, prepend)

    def register_backward_hook(self, hook):
        return self.register_full_backward_hook(hook)

    def __call__(self, *args, **kwargs):
        if not (self._forward_pre_hooks or self._forward_hooks or self._backward_hooks or self._backward_pre_hooks or _global_hooks_active()):
            return self.forward(*args, **kwargs)
        return self._call_with_hooks(args, kwargs)

    def _call_with_hooks(self, args, kwargs):
        for hid, hook in list(_GLOBAL_FORWARD_PRE_HOOKS.items()) + list(self._forward_pre_hooks.items()):
            if hid in self._forward_pre_hooks_with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        backward_state = None
        if (self._backward_hooks or self._backward_pre_hooks) and _state.enabled:
            backward_state = _BackwardHookState(self)
            args = backward_state.wrap_inputs(args)
        output = self.forward(*args, **kwargs)
        for hid, hook in list(_GLOBAL_FORWARD_HOOKS.items()) + list(self._forward_hooks.items()):
            if hid in self._forward_hooks_with_kwargs:
                result = hook(self, args, kwargs, output)
            else:
                result = hook(self, args, output)
            if result is not None:
                output = result
        if backward_state is not None:
            output = backward_state.wrap_outputs(output)
        return output

    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        children = []
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            children.append(f"({name}): {body}")
        main = self._get_name() + "("
        if lines and not children and len(lines) == 1:
            return main + lines[0] + ")"
        if not lines and not children:
            return main + ")"
        inner = lines + children
        return main + "\n  " + "\n  ".join(inner) + "\n)"

    def __getstate__(self):
        return self.__dict__.copy()

    def __setstate__(self, state):
        self.__dict__.update(state)


class _RemovableDictHandle:
    _next_id = 0

    def __init__(self, table: OrderedDict, hook, prepend: bool = False):
        self.id = _RemovableDictHandle._next_id
        _RemovableDictHandle._next_id += 1
        self._table = table
        table[self.id] = hook
        if prepend:
            table.move_to_end(self.id, last=False)

    def remove(self) -> None:
        self._table.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


# Global hooks (nn.modules.module.register_module_forward_hook and friends).
_GLOBAL_FORWARD_HOOKS: OrderedDict = OrderedDict()
_GLOBAL_FORWARD_PRE_HOOKS: OrderedDict = OrderedDict()


def _global_hooks_active() -> bool:
    return bool(_GLOBAL_FORWARD_HOOKS or _GLOBAL_FORWARD_PRE_HOOKS)


def register_module_forward_hook(hook):
    return _RemovableDictHandle(_GLOBAL_FORWARD_HOOKS, hook)


def register_module_forward_pre_hook(hook):
    return _RemovableDictHandle(_GLOBAL_FORWARD_PRE_HOOKS, hook)


# ---------------------------------------------------------------------- full backward hooks
class _Identity(Function):
    """Passes tensors through unchanged; its backward is where module backward hooks fire."""

    _array_backward = False  # the hooks receive Tensors

    @staticmethod
    def forward(ctx, state, kind, *tensors):
        ctx.state = state
        ctx.kind = kind
        return tuple(_make(t._data) for t in tensors)

    @staticmethod
    def backward(ctx, *grads):
        grads = ctx.state.on_backward(ctx.kind, grads)
        return (None, None) + tuple(grads)


class _BackwardHookState:
    """Collects grad_output at the module's outputs and grad_input at its inputs, then calls the hooks."""

    def __init__(self, module: Module):
        self.module = module
        self.grad_output = None
        self.n_inputs = 0

    def wrap_inputs(self, args):
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a._requires_grad]
        self.n_inputs = len(positions)
        if not positions:
            return args
        outs = _Identity.apply(self, "input", *[args[i] for i in positions])
        outs = outs if isinstance(outs, tuple) else (outs,)
        args = list(args)
        for i, o in zip(positions, outs):
            args[i] = o
        return tuple(args)

    def wrap_outputs(self, output):
        single = isinstance(output, Tensor)
        outs = (output,) if single else tuple(output) if isinstance(output, (tuple, list)) else None
        if outs is None:
            return output
        positions = [i for i, o in enumerate(outs) if isinstance(o, Tensor) and o._requires_grad]
        if not positions:
            return output
        wrapped = _Identity.apply(self, "output", *[outs[i] for i in positions])
        wrapped = wrapped if isinstance(wrapped, tuple) else (wrapped,)
        outs = list(outs)
        for i, w in zip(positions, wrapped):
            outs[i] = w
        return outs[0] if single else type(output)(outs) if isinstance(output, tuple) else outs

    def on_backward(self, kind: str, grads):
        module = self.module
        if kind == "output":
            for hook in module._backward_pre_hooks.values():
                result = hook(module, grads)
                if result is not None:
                    grads = tuple(result)
            self.grad_output = grads
            if self.n_inputs == 0:
                for hook in module._backward_hooks.values():
                    hook(module, (None,), grads)
            return grads
        for hook in module._backward_hooks.values():
            result = hook(module, grads, self.grad_output)
            if result is not None:
                grads = tuple(result)
        return grads

