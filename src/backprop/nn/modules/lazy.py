"""``LazyModuleMixin``: modules whose parameter shapes are inferred from the first input.

Until the first call the lazy parameters are ``UninitializedParameter``s (no data, no shape).
A forward pre-hook then calls ``initialize_parameters(*inputs)``, which materializes them and
runs the module's ordinary ``reset_parameters``, removes itself, and turns the module into
``cls_to_become`` (``LazyLinear`` -> ``Linear``). Loading a state_dict into a lazy module
materializes its parameters with the checkpoint's shapes.
"""

from __future__ import annotations

import itertools

from ...autograd.grad_mode import no_grad
from ..parameter import is_lazy


class LazyModuleMixin:
    cls_to_become = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._load_hook = self.register_load_state_dict_pre_hook(self._lazy_load_hook)
        self._state_hook = self.register_state_dict_pre_hook(_keep_uninitialized)
        self._initialize_hook = self.register_forward_pre_hook(_infer_parameters, with_kwargs=True)

    def has_uninitialized_params(self) -> bool:
        for p in itertools.chain(self._parameters.values(), self._buffers.values()):
            if is_lazy(p):
                return True
        return False

    def initialize_parameters(self, *args, **kwargs) -> None:
        raise NotImplementedError(f"initialize_parameters is not implemented for {self.__class__.__name__}")

    def _lazy_load_hook(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs) -> None:
        for name, param in itertools.chain(self._parameters.items(), self._buffers.items()):
            key = prefix + name
            if param is not None and key in state_dict and is_lazy(param):
                value = state_dict[key]
                if not is_lazy(value):
                    with no_grad():
                        param.materialize(tuple(value.shape))


def _keep_uninitialized(module, destination, prefix, local_metadata):
    """State-dict hook: uninitialized parameters are saved as themselves (as torch does), not detached."""
    for name, param in module._parameters.items():
        if is_lazy(param):
            destination[prefix + name] = param


def _infer_parameters(module, args, kwargs=None):
    module.initialize_parameters(*args, **(kwargs or {}))
    if module.has_uninitialized_params():
        raise RuntimeError(f"module {module._get_name()} has not been fully initialized")
    for attr in ("_initialize_hook", "_load_hook", "_state_hook"):
        getattr(module, attr).remove()
        delattr(module, attr)
    if module.cls_to_become is not None:
        module.__class__ = module.cls_to_become
