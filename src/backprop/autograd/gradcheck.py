"""Finite-difference checks of analytic gradients (``gradcheck``) and of gradients of gradients
(``gradgradcheck``), with torch's signatures and defaults. Use float64 inputs.

Inputs may live on any device: the perturbations are written into the inputs' own arrays and
the function runs there; outputs and gradients are copied to the host, where the Jacobians are
built and compared (NumPy arrays).
"""

from __future__ import annotations

import warnings

import numpy as np

from .._backend import array_module, backend_of, move
from .._tensor import Tensor, _make


class GradcheckError(RuntimeError):
    """Raised by gradcheck when analytic and numerical gradients disagree."""


def _as_tuple(x):
    if isinstance(x, tuple):
        return x
    if isinstance(x, list):
        return tuple(x)
    return (x,)


def _differentiable_outputs(outputs):
    return [o for o in outputs if isinstance(o, Tensor) and o._requires_grad]


def _host64(a) -> np.ndarray:
    """Array ``a`` (of any device) as a flat float64 NumPy array."""
    return backend_of(a).to_host(a).astype(np.float64).ravel()


def _numerical_jacobian(func, inputs, diff_idx, out_sizes, eps):
    """J[i][o] of shape (numel(input i), numel(output o)) by central differences."""
    jac = []
    for i in diff_idx:
        x = inputs[i]._data
        cols = [np.zeros((x.size, n), dtype=np.float64) for n in out_sizes]
        for j in range(x.size):
            idx = np.unravel_index(j, x.shape)
            orig = x[idx].copy()
            # Evaluated with grad mode on: gradgradcheck's func itself calls autograd.grad.
            x[idx] = orig + eps
            plus = [_host64(o._data) for o in _outputs_for_numeric(func(*inputs))]
            x[idx] = orig - eps
            minus = [_host64(o._data) for o in _outputs_for_numeric(func(*inputs))]
            x[idx] = orig
            for k, (p, m) in enumerate(zip(plus, minus)):
                cols[k][j] = (p - m) / (2 * eps)
        jac.append(cols)
    return jac


def _outputs_for_numeric(outputs):
    outputs = _as_tuple(outputs)
    return [o for o in outputs if isinstance(o, Tensor) and o._data.dtype.kind == "f"]


def _analytical_jacobian(outputs, inputs, diff_idx):
    from . import grad as autograd_grad

    jac = [[np.zeros((inputs[i]._data.size, o._data.size), dtype=np.float64) for o in outputs] for i in diff_idx]
    for k, out in enumerate(outputs):
        xp = array_module(out._data)
        for j in range(out._data.size):
            seed = xp.zeros(out._data.size, dtype=out._data.dtype)
            seed[j] = 1
            grads = autograd_grad(
                [out],
                [inputs[i] for i in diff_idx],
                grad_outputs=[_make(seed.reshape(out._data.shape))],
                retain_graph=True,
                allow_unused=True,
            )
            for n, g in enumerate(grads):
                if g is not None:
                    if g._data.shape != inputs[diff_idx[n]]._data.shape:
                        raise GradcheckError(
                            f"Gradient for input {diff_idx[n]} has shape {list(g._data.shape)}, "
                            f"expected {list(inputs[diff_idx[n]]._data.shape)}"
                        )
                    jac[n][k][:, j] = _host64(g._data)
    return jac


def gradcheck(
    func,
    inputs,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_batched_forward_grad: bool = False,
    check_forward_ad: bool = False,
    check_backward_ad: bool = True,
    fast_mode: bool = False,
    masked: bool | None = None,
) -> bool:
    """Check analytic gradients of ``func`` at ``inputs`` against central finite differences.

    Passes when ``|analytical - numerical| <= atol + rtol * |numerical|`` for every entry.
    """
    inputs = _as_tuple(inputs)
    diff_idx = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x._requires_grad]
    if not diff_idx:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, but none of the them have requires_grad=True.")
    for i in diff_idx:
        if inputs[i]._data.dtype != np.float64:
            warnings.warn(
                f"Input #{i} requires gradient and is not a double precision floating point. "
                "This check will likely fail if all the inputs are not of double precision floating point. ",
                UserWarning,
                stacklevel=2,
            )
    outputs = _differentiable_outputs(_as_tuple(func(*inputs)))
    if not outputs:
        # Nothing differentiable comes out: the numerical jacobian must then be zero.
        outs = _outputs_for_numeric(func(*inputs))
        num = _numerical_jacobian(func, inputs, diff_idx, [o._data.size for o in outs], eps)
        if any(np.abs(c).max(initial=0) > atol for cols in num for c in cols):
            return _fail("Numerical gradient for function expected to be zero", raise_exception)
        return True
    numerical = _numerical_jacobian(func, inputs, diff_idx, [o._data.size for o in outputs], eps)
    analytical = _analytical_jacobian(outputs, inputs, diff_idx)
    for n, i in enumerate(diff_idx):
        for k in range(len(outputs)):
            a, num = analytical[n][k], numerical[n][k]
            if a.shape != num.shape or not np.allclose(a, num, rtol=rtol, atol=atol, equal_nan=False):
                return _fail(
                    f"Jacobian mismatch for output {k} with respect to input {i},\n"
                    f"numerical:{_fmt(num)}\nanalytical:{_fmt(a)}\n",
                    raise_exception,
                )
    return True


def _fmt(a):
    return "\n" + np.array2string(a, precision=6, threshold=200)


def _fail(message: str, raise_exception: bool) -> bool:
    if raise_exception:
        raise GradcheckError(message)
    return False


def gradgradcheck(
    func,
    inputs,
    grad_outputs=None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    gen_non_contig_grad_outputs: bool = False,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_fwd_over_rev: bool = False,
    check_rev_over_rev: bool = True,
    fast_mode: bool = False,
    masked: bool = False,
) -> bool:
    """gradcheck of the gradients of ``func``: checks the graph built by ``create_graph=True``."""
    from . import grad as autograd_grad

    inputs = _as_tuple(inputs)
    diff_idx = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x._requires_grad]
    if grad_outputs is None:
        outputs = _differentiable_outputs(_as_tuple(func(*inputs)))
        rng = np.random.default_rng(0)
        grad_outputs = tuple(
            _make(move(rng.standard_normal(o._data.shape).astype(o._data.dtype), o.device), requires_grad=True)
            for o in outputs
        )
    grad_outputs = _as_tuple(grad_outputs)
    n = len(inputs)

    def first_derivatives(*args):
        outs = _differentiable_outputs(_as_tuple(func(*args[:n])))
        grads = autograd_grad(outs, [args[i] for i in diff_idx], grad_outputs=list(args[n:]), create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_derivatives, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol, raise_exception=raise_exception)
