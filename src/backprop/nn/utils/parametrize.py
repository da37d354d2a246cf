"""``nn.utils.parametrize``: a module's tensor computed from other tensors on every access.

``register_parametrization(module, "weight", P)`` replaces ``module.weight`` by ``P(original)``:
the stored tensor moves to ``module.parametrizations.weight.original`` (or ``original0``,
``original1``, ... when ``P.right_inverse`` splits it, as weight norm does), and the module's
class is swapped for a subclass with a ``weight`` property that evaluates the chain of
parametrizations. Gradients then flow through the parametrization to the stored tensors, and
``state_dict`` keys are torch's (``parametrizations.weight.original``). Assigning
``module.weight = value`` stores ``right_inverse(value)``.
"""

from __future__ import annotations

import contextlib

from ..._tensor import Tensor
from ...autograd.grad_mode import no_grad
from ..modules.container import ModuleDict, ModuleList
from ..modules.module import Module
from ..parameter import Parameter

__all__ = [
    "ParametrizationList",
    "cached",
    "is_parametrized",
    "register_parametrization",
    "remove_parametrizations",
    "type_before_parametrizations",
]

_cache_enabled = 0
_cache: dict = {}


@contextlib.contextmanager
def cached():
    """Within this context each parametrized tensor is computed once and reused (e.g. a
    weight used at every step of a recurrent network)."""
    global _cache_enabled
    _cache_enabled += 1
    try:
        yield
    finally:
        _cache_enabled -= 1
        if not _cache_enabled:
            _cache.clear()


def _stored(original: Tensor, value: Tensor) -> Tensor:
    """``value`` as what the list stores: a Parameter if ``original`` was one (same requires_grad)."""
    if isinstance(original, Parameter):
        return Parameter(value.detach(), original.requires_grad)
    return value.detach()


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor (applied in order) and its stored original(s)."""

    def __init__(self, modules, original: Tensor, unsafe: bool = False) -> None:
        if len(modules) == 0:
            raise ValueError("ParametrizationList requires one or more modules.")
        super().__init__(modules)
        self.unsafe = unsafe
        with no_grad():
            new = original
            for module in reversed(list(self)):
                if hasattr(module, "right_inverse"):
                    new = module.right_inverse(new)
        if not isinstance(new, (Tensor, tuple, list)):
            raise ValueError(f"'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...). Got {type(new).__name__}")
        self.is_tensor = isinstance(new, Tensor)
        self.ntensors = 1 if self.is_tensor else len(new)
        if self.is_tensor:
            if original.dtype != new.dtype:
                raise ValueError(
                    f"When `right_inverse` outputs one tensor, it may not change the dtype.\noriginal.dtype: {original.dtype}\n"
                    f"right_inverse(original).dtype: {new.dtype}"
                )
            if tuple(original.shape) == tuple(new.shape):
                with no_grad():  # keep the very same Parameter object, so optimizers holding it still work
                    original.data = new.detach().clone() if new is not original else new.detach()
                stored = original
            else:
                stored = _stored(original, new)
            self._store("original", stored)
        else:
            for i, t in enumerate(new):
                if not isinstance(t, Tensor):
                    raise ValueError(f"'right_inverse' must return a sequence of tensors. Got element {i} of type {type(t).__name__}")
                self._store(f"original{i}", _stored(original, t))
        if not unsafe:
            value = self()
            if not isinstance(value, Tensor):
                raise ValueError(f"A parametrization must return a tensor. Got {type(value).__name__}.")
            if value.dtype != original.dtype or tuple(value.shape) != tuple(original.shape):
                raise ValueError(
                    "Registering a parametrization may not change the shape of the tensor, unless `unsafe` flag is "
                    f"enabled.\nunparametrized shape: {tuple(original.shape)}\nparametrized shape: {tuple(value.shape)}\n"
                    f"unparametrized dtype: {original.dtype}\nparametrized dtype: {value.dtype}"
                )

    def _store(self, name: str, value: Tensor) -> None:
        if isinstance(value, Parameter):
            self.register_parameter(name, value)
        else:
            self.register_buffer(name, value)

    def _originals(self) -> tuple:
        if self.is_tensor:
            return (self.original,)
        return tuple(getattr(self, f"original{i}") for i in range(self.ntensors))

    def right_inverse(self, value: Tensor) -> None:
        """Store ``value`` so that the list evaluates to it (``module.weight = value``)."""
        with no_grad():
            for module in reversed(list(self)):
                if hasattr(module, "right_inverse"):
                    value = module.right_inverse(value)
                elif not self.unsafe and module is not self[0]:
                    raise RuntimeError(f"parametrization {type(module).__name__} does not implement right_inverse.")
            values = (value,) if self.is_tensor else tuple(value)
            if len(values) != self.ntensors:
                raise ValueError(f"'right_inverse' must return a sequence of {self.ntensors} tensors. Got {len(values)}.")
            for stored, new in zip(self._originals(), values):
                if tuple(stored.shape) != tuple(new.shape) or stored.dtype != new.dtype:
                    raise ValueError(
                        f"The tensor returned by 'right_inverse' has shape {tuple(new.shape)} and dtype {new.dtype}, "
                        f"but the stored tensor has shape {tuple(stored.shape)} and dtype {stored.dtype}"
                    )
                stored.data = new.detach().clone()

    def forward(self) -> Tensor:
        modules = list(self)
        x = modules[0](*self._originals())
        for module in modules[1:]:
            x = module(x)
        return x


def _swap_class(module: Module) -> None:
    cls = module.__class__
    module.__class__ = type(f"Parametrized{cls.__name__}", (cls,), {"_original_class": cls})


def _add_property(module: Module, name: str) -> None:
    def get_parametrized(self) -> Tensor:
        parametrization = self.parametrizations[name]
        if _cache_enabled:
            key = (id(self), name)
            if key not in _cache:
                _cache[key] = parametrization()
            return _cache[key]
        return parametrization()

    def set_original(self, value: Tensor) -> None:
        self.parametrizations[name].right_inverse(value)

    setattr(module.__class__, name, property(get_parametrized, set_original))


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    parametrizations = module.__dict__.get("_modules", {}).get("parametrizations")
    if not isinstance(parametrizations, ModuleDict):
        return False
    return len(parametrizations) > 0 if tensor_name is None else tensor_name in parametrizations


def type_before_parametrizations(module: Module) -> type:
    return module.__class__.__dict__.get("_original_class", type(module)) if is_parametrized(module) else type(module)


def register_parametrization(module: Module, tensor_name: str, parametrization: Module, *, unsafe: bool = False) -> Module:
    """Make ``module.<tensor_name>`` the output of ``parametrization`` applied to the stored
    tensor (see the module docstring); a second registration chains after the first."""
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        plist = module.parametrizations[tensor_name]
        if not unsafe:
            current = getattr(module, tensor_name)
            value = parametrization(current)
            if not isinstance(value, Tensor) or value.dtype != current.dtype or tuple(value.shape) != tuple(current.shape):
                raise ValueError(
                    "Registering a parametrization may not change the shape of the tensor, unless `unsafe` flag is enabled."
                )
        plist.append(parametrization)
        plist.unsafe |= unsafe
        return module
    if tensor_name in module._parameters or tensor_name in module._buffers:
        original = getattr(module, tensor_name)
        plist = ParametrizationList([parametrization], original, unsafe=unsafe)
        delattr(module, tensor_name)
        if not is_parametrized(module):
            _swap_class(module)
            module.parametrizations = ModuleDict()
        module.parametrizations[tensor_name] = plist
        _add_property(module, tensor_name)
        return module
    raise ValueError(
        f"Module '{module}' does not have a parameter, a buffer, or a parametrized element with name '{tensor_name}'"
    )


def remove_parametrizations(module: Module, tensor_name: str, leave_parametrized: bool = True) -> Module:
    """Undo ``register_parametrization``: ``tensor_name`` becomes a plain parameter (or buffer)
    again, holding the current parametrized value (``leave_parametrized``) or the stored one."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    plist = module.parametrizations[tensor_name]
    if plist.is_tensor:
        original = plist.original
        if leave_parametrized:
            with no_grad():
                value = getattr(module, tensor_name)
            with no_grad():
                if tuple(value.shape) == tuple(original.shape) and value.dtype == original.dtype:
                    original.data = value.detach().clone()
                else:
                    original = _stored(original, value)
    else:
        if not leave_parametrized:
            raise ValueError("Cannot leave unparametrized (`leave_parametrized=False`) a tensor that is parametrized in terms of a sequence of tensors.")
        with no_grad():
            value = getattr(module, tensor_name)
        first = plist.original0
        original = Parameter(value.detach().clone(), first.requires_grad) if isinstance(first, Parameter) else value.detach().clone()
    delattr(module.__class__, tensor_name)
    del module.parametrizations[tensor_name]
    if isinstance(original, Parameter):
        module.register_parameter(tensor_name, original)
    else:
        module.register_buffer(tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = module.__class__.__dict__["_original_class"]
    return module
