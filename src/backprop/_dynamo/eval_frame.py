"""``torch.compile`` for backprop, which runs eagerly: compiling a Module returns an
:class:`OptimizedModule` wrapping it, as torch does, so what programs observe about a compiled model is
torch's -- its type, the ``_orig_mod`` attribute, and state_dict keys prefixed ``'_orig_mod.'`` (which
nanoGPT strips when resuming from a checkpoint) -- while calls run the original module unchanged."""

from __future__ import annotations

from collections.abc import Callable, Sized
from typing import Any

from ..nn.modules.module import Module


class OptimizedModule(Module):
    """The wrapper ``torch.compile(module)`` returns: ``module`` registered as the child ``_orig_mod``;
    calling it calls ``module``; other attribute reads, writes and deletes go to ``module``; ``training``
    is ``module``'s."""

    _opt_mod_attributes = frozenset({"_orig_mod", "dynamo_ctx", "forward", "_super_module_initialized", "__dict__"})

    def __init__(self, mod: Module, dynamo_ctx: Any = None) -> None:
        object.__setattr__(self, "_orig_mod", mod)  # readable while Module.__init__ sets `training`
        self._super_module_initialized = False
        super().__init__()
        self._super_module_initialized = True
        self._orig_mod = mod  # Module.__setattr__ registers it as a child (and drops the plain attribute)
        self.dynamo_ctx = dynamo_ctx
        self.forward = mod.__call__  # the original module's hooks still run

    @property
    def training(self) -> bool:
        return self._orig_mod.training

    @training.setter
    def training(self, value: bool) -> None:
        if self.__dict__.get("_super_module_initialized"):
            self._orig_mod.training = value

    def __getattr__(self, name: str) -> Any:
        modules = self.__dict__.get("_modules")
        if name == "_orig_mod":
            if modules is not None and "_orig_mod" in modules:
                return modules["_orig_mod"]
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '_orig_mod'")
        return getattr(self._orig_mod, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(type(self), name) or name in OptimizedModule._opt_mod_attributes:
            return super().__setattr__(name, value)
        return setattr(self._orig_mod, name, value)

    def __delattr__(self, name: str) -> None:
        if hasattr(type(self), name) or name in OptimizedModule._opt_mod_attributes:
            return super().__delattr__(name)
        return delattr(self._orig_mod, name)

    def __len__(self) -> int:
        if isinstance(self._orig_mod, Sized):
            return len(self._orig_mod)
        raise TypeError(f"{type(self._orig_mod).__name__} does not support len()")

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("forward", None)  # a bound method of the child: rebuilt on load
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        object.__setattr__(self, "forward", self._orig_mod.__call__)

    def __dir__(self) -> list[str]:
        own = self._orig_mod.__dir__()
        return own + [a for a in super().__dir__() if a not in own]


def compile(  # noqa: A001 - torch's name
    model: Callable | None = None,
    *,
    fullgraph: bool = False,
    dynamic: bool | None = None,
    backend: str | Callable = "inductor",
    mode: str | None = None,
    options: dict | None = None,
    disable: bool = False,
    **kwargs: Any,
) -> Any:
    """torch.compile: a Module comes back wrapped in :class:`OptimizedModule`, a function unchanged
    (backprop runs eagerly); without ``model``, a decorator; ``disable=True`` returns ``model`` itself."""
    if model is None:

        def decorate(model: Callable) -> Any:
            if model is None:
                raise RuntimeError("Model can't be None")
            return compile(model, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode, options=options,
                           disable=disable, **kwargs)

        return decorate
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be specified at the same time.")
    if disable:
        return model
    if isinstance(model, Module):
        return OptimizedModule(model)
    if not callable(model):
        raise AssertionError(f"A callable function is expected, but {type(model)} is provided.")
    return model
