"""Grad modes: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``inference_mode``.

Each works as a context manager and as a decorator, like torch's. The flag lives in
``_state``, a thread-local object read on the hot path of every op.
"""

from __future__ import annotations

import functools
import inspect
import threading


class _GradState(threading.local):
    """Per thread, as in torch: a new thread starts with grad mode on."""

    def __init__(self):
        self.enabled = True
        self.inference = False


_state = _GradState()


def is_grad_enabled() -> bool:
    return _state.enabled


def is_inference_mode_enabled() -> bool:
    return _state.inference


class _GradModeContext:
    """Base: subclasses set ``_target`` in ``__init__`` and get context-manager + decorator."""

    _target: bool = True

    def __call__(self, func=None):
        if func is None:  # used as @no_grad() on nothing: torch returns the manager
            return self
        if inspect.isclass(func):
            raise TypeError(f"{type(self).__name__} cannot decorate a class")
        mode = self

        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def generator_wrapper(*args, **kwargs):
                gen = func(*args, **kwargs)
                value = None
                while True:
                    with mode.clone():
                        try:
                            value = gen.send(value)
                        except StopIteration as stop:
                            return stop.value
                    value = yield value

            return generator_wrapper

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with mode.clone():
                return func(*args, **kwargs)

        return wrapper

    def clone(self):
        return type(self)()

    def __enter__(self):
        self._prev = _state.enabled
        _state.enabled = self._target
        return None

    def __exit__(self, *exc):
        _state.enabled = self._prev
        return False


class no_grad(_GradModeContext):  # noqa: N801 - torch's name
    """Disable graph recording: results of ops inside do not require grad."""

    def __new__(cls, orig_func=None):
        # Support the bare decorator form ``@no_grad`` as torch does.
        if orig_func is not None and callable(orig_func):
            return cls()(orig_func)
        return super().__new__(cls)

    def __init__(self, orig_func=None):
        self._target = False


class enable_grad(_GradModeContext):  # noqa: N801 - torch's name
    """Re-enable graph recording inside a ``no_grad`` region."""

    def __new__(cls, orig_func=None):
        if orig_func is not None and callable(orig_func):
            return cls()(orig_func)
        return super().__new__(cls)

    def __init__(self, orig_func=None):
        self._target = True


class set_grad_enabled(_GradModeContext):  # noqa: N801 - torch's name
    """Set grad mode: takes effect at once when called, and is restored on ``__exit__``."""

    def __init__(self, mode: bool):
        self._prev = _state.enabled
        self._target = bool(mode)
        _state.enabled = self._target

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        _state.enabled = self._prev
        return False

    def __call__(self, func=None):
        # As a decorator the mode must not stay switched: restore it, apply per call.
        _state.enabled = self._prev
        return super().__call__(func)

    def clone(self):
        return _SetGradMode(self._target)


class _SetGradMode(_GradModeContext):
    def __init__(self, mode: bool):
        self._target = mode


class inference_mode(_GradModeContext):  # noqa: N801 - torch's name
    """Like ``no_grad`` (backprop has no separate inference tensors); ``mode=False`` turns grad
    mode back on and inference mode off, as torch's does."""

    def __new__(cls, mode=True):
        if callable(mode) and not isinstance(mode, bool):
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True):
        self._mode = bool(mode)
        self._target = False

    def clone(self):
        return type(self)(self._mode)

    def __enter__(self):
        self._prev = _state.enabled
        self._prev_inference = _state.inference
        _state.enabled = not self._mode
        _state.inference = self._mode
        return None

    def __exit__(self, *exc):
        _state.enabled = self._prev
        _state.inference = self._prev_inference
        return False
