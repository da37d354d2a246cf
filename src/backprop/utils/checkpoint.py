"""``torch.utils.checkpoint``: trade compute for memory in the backward pass.

``checkpoint(fn, *args, use_reentrant=True)`` runs ``fn`` without recording a graph, so none of
its intermediate activations are kept; the backward pass runs ``fn`` again (with the random
state it had the first time, so dropout masks repeat: the CPU generator's state and, as torch's
``get_device_states``, those of the CUDA devices holding tensor arguments) and backpropagates
through that second run. Parameters used inside ``fn`` get their gradients from that inner
backward, as in torch's reentrant variant, which therefore supports ``.backward()`` only (not
``autograd.grad``).

``use_reentrant=False`` is torch's recommended variant and also works with ``autograd.grad``.
backprop has no saved-tensor hooks to implement its recomputation, so it runs ``fn`` normally
(same values and gradients, no memory saving). Not passing ``use_reentrant`` warns and uses the
reentrant variant, as torch 2.13 does.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

from .. import random as _random
from .._tensor import Tensor
from ..autograd import backward as _backward
from ..autograd.engine import engine_state
from ..autograd.function import Function
from ..autograd.grad_mode import enable_grad, is_grad_enabled, no_grad

__all__ = ["checkpoint", "checkpoint_sequential"]


def _cuda_devices(args) -> list[int]:
    """The indices of the CUDA devices holding tensor arguments (torch's ``get_device_states``)."""
    return sorted({a.device.index or 0 for a in args if isinstance(a, Tensor) and a.device.type == "cuda"})


class CheckpointFunction(Function):
    _array_backward = False  # backward needs Tensors: it re-runs user code

    @staticmethod
    def forward(ctx, run_function, preserve_rng_state, *args):
        ctx.run_function = run_function
        ctx.rng_state = _random.get_rng_state() if preserve_rng_state else None
        ctx.cuda_devices = _cuda_devices(args) if preserve_rng_state else []
        ctx.cuda_states = [_random.cuda_generator(i).get_state() for i in ctx.cuda_devices]
        ctx.tensor_positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        ctx.plain_args = [None if isinstance(a, Tensor) else a for a in args]
        ctx.save_for_backward(*[a for a in args if isinstance(a, Tensor)])
        with no_grad():
            outputs = run_function(*args)
        if isinstance(outputs, Tensor):
            return outputs.detach()
        return tuple(o.detach() if isinstance(o, Tensor) else o for o in outputs)

    @staticmethod
    def backward(ctx, *grads):
        if not engine_state.accumulating_all or not engine_state.accumulating_all[-1]:
            raise RuntimeError(
                "When use_reentrant=True, backprop.utils.checkpoint is incompatible with .grad() or passing an `inputs` "
                "parameter to .backward(). To resolve this error, you can either set use_reentrant=False, or call "
                ".backward() without passing the `inputs` argument."
            )
        saved = ctx.saved_tensors
        args = list(ctx.plain_args)
        inputs = []
        for position, tensor in zip(ctx.tensor_positions, saved):
            leaf = tensor.detach()
            leaf.requires_grad_(tensor.requires_grad)
            args[position] = leaf
            inputs.append(leaf)
        with _random.fork_rng(devices=ctx.cuda_devices, enabled=ctx.rng_state is not None):
            if ctx.rng_state is not None:
                _random.set_rng_state(ctx.rng_state)
                for index, state in zip(ctx.cuda_devices, ctx.cuda_states):
                    _random.cuda_generator(index).set_state(state)
            with enable_grad():
                outputs = ctx.run_function(*args)
        outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
        pairs = [(o, g) for o, g in zip(outputs, grads) if isinstance(o, Tensor) and o.requires_grad and g is not None]
        if not pairs:
            raise RuntimeError("none of output has requires_grad=True, this checkpoint() is not necessary")
        _backward([o for o, _ in pairs], [g for _, g in pairs])
        input_grads = iter(leaf.grad if leaf.requires_grad else None for leaf in inputs)
        arg_grads = [next(input_grads) if i in ctx.tensor_positions else None for i in range(len(args))]
        return (None, None, *arg_grads)


def checkpoint(function: Callable, *args, use_reentrant: bool | None = None, preserve_rng_state: bool = True, **kwargs):
    """``function(*args, **kwargs)`` without keeping its activations; they are recomputed in
    backward (see the module docstring for the two variants)."""
    if use_reentrant is None:
        warnings.warn(
            "backprop.utils.checkpoint: the use_reentrant parameter should be passed explicitly. use_reentrant=False "
            "is recommended, but if you need to preserve the current default behavior, you can pass use_reentrant=True.",
            UserWarning,
            stacklevel=2,
        )
        use_reentrant = True
    if not use_reentrant:
        return function(*args, **kwargs)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    if is_grad_enabled() and not any(isinstance(a, Tensor) and a.requires_grad for a in args):
        warnings.warn("None of the inputs have requires_grad=True. Gradients will be None", UserWarning, stacklevel=2)
    return CheckpointFunction.apply(function, preserve_rng_state, *args)


def checkpoint_sequential(functions, segments: int, input: Tensor, use_reentrant: bool | None = None, **kwargs):  # noqa: A002
    """Run a ``Sequential`` (or list of modules) in ``segments`` chunks, checkpointing all but
    the last chunk, which runs normally."""
    if use_reentrant is None:
        warnings.warn(
            "backprop.utils.checkpoint.checkpoint_sequential: the use_reentrant parameter should be passed explicitly.",
            UserWarning,
            stacklevel=2,
        )
        use_reentrant = True
    functions = list(functions.children()) if hasattr(functions, "children") else list(functions)
    per_segment = len(functions) // segments

    def run(start: int, end: int):
        def forward(x):
            for j in range(start, end + 1):
                x = functions[j](x)
            return x

        return forward

    end = -1
    for start in range(0, per_segment * (segments - 1), per_segment):
        end = start + per_segment - 1
        input = checkpoint(run(start, end), input, use_reentrant=use_reentrant, **kwargs)
    return run(end + 1, len(functions) - 1)(input)
