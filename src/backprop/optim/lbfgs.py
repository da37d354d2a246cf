"""L-BFGS (torch.optim.LBFGS): limited-memory quasi-Newton steps, optionally with a strong-Wolfe line search.

All parameters are handled as one flat vector. Vectors are ``xp`` arrays in the parameters'
dtype, on their device; the scalars torch keeps as 0-d tensors (dot products, ``t``, ``H_diag``,
``ro``, ``al``) are NumPy scalars of that dtype here (0-d arrays on CUDA), so mixing them with
Python floats rounds exactly as torch's 0-d tensors do. ``state`` stores them as 0-d backprop
Tensors, under torch's keys. Like torch's, the algorithm reads the loss and several of these
scalars on the host each iteration (its branches depend on them).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy

from .._backend import array_module, backend_of, is_array
from .._tensor import Tensor, _make
from .adam import _check_lr
from .optimizer import Optimizer, ParamsT, _bump, _run_closure, _use_grad

__all__ = ["LBFGS"]


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimizer of the cubic through ``(x1, f1, g1)`` and ``(x2, f2, g2)``, clamped to ``bounds``
    (default: the interval between the two points); the midpoint when the cubic has no minimum."""
    if bounds is None:
        lo, hi = (x1, x2) if x1 <= x2 else (x2, x1)
    else:
        lo, hi = bounds
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1**2 - g1 * g2
    if not disc >= 0:
        return (lo + hi) / 2.0
    d2 = array_module(disc).sqrt(disc)
    if x1 <= x2:
        pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(pos, lo), hi)


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Line search along ``d`` from step ``t`` for a point meeting the strong Wolfe conditions.

    ``evaluate(t)`` returns ``(loss, flat_grad)`` at ``x + t * d``. A bracketing phase grows
    ``t`` (cubic extrapolation) until the interval holds an acceptable point, then a zoom phase
    shrinks it by safeguarded cubic interpolation. Returns ``(loss, flat_grad, t, evaluations)``.
    """
    xp = array_module(d)
    d_norm = xp.abs(d).max()
    g = g.copy()
    f_new, g_new = evaluate(t)
    evals = 1
    gtd_new = xp.dot(g_new, d)

    # ---- bracketing: [t_prev, t] ends up containing a point that satisfies both conditions
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    bracket = bracket_f = bracket_g = bracket_gtd = None
    while ls_iter < max_ls:
        if (
            f_new > f + c1 * t * gtd
            or (ls_iter > 1 and f_new >= f_prev)
            or (gtd_new >= 0 and not abs(gtd_new) <= -c2 * gtd)
        ):  # no sufficient decrease, or the slope turned (without meeting the curvature condition)
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:  # both conditions hold: done
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        # extrapolate: the next trial lies in [t + 0.01 (t - t_prev), 10 t]
        t_next = _cubic_interpolate(
            t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(t + 0.01 * (t - t_prev), t * 10)
        )
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new.copy(), gtd_new
        t = t_next
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = xp.dot(g_new, d)
        ls_iter += 1
    if ls_iter == max_ls:  # out of evaluations: fall back to [0, t]
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # ---- zoom: shrink the bracket until the conditions hold or it gets too small
    insufficient_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # safeguard: a trial too close to an end moves to 10% inside it (at once if t fell
        # outside the bracket or the previous trial was close too)
        b_max, b_min = max(bracket), min(bracket)
        eps = 0.1 * (b_max - b_min)
        if min(b_max - t, t - b_min) < eps:
            if insufficient_progress or t >= b_max or t <= b_min:
                t = b_max - eps if abs(t - b_max) < abs(t - b_min) else b_min + eps
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = xp.dot(g_new, d)
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket_f[low]:
            # no sufficient decrease: t becomes the high end
            bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = t, f_new, g_new.copy(), gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                # the slope points away from the high end: the old low end becomes the high one
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low] = t, f_new, g_new.copy(), gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals


def _pack(value):
    """A state value as torch stores it: arrays and array scalars become Tensors, numbers stay."""
    if is_array(value) or isinstance(value, numpy.generic):
        return _make(numpy.asarray(value) if isinstance(value, numpy.generic) else value)
    if isinstance(value, list):
        return [_pack(v) for v in value]
    return value


def _unpack(value):
    """The inverse of ``_pack``: Tensors become arrays (0-d ones array scalars)."""
    if isinstance(value, Tensor):
        return value._data[()] if value._data.ndim == 0 else value._data
    if isinstance(value, list):
        return [_unpack(v) for v in value]
    return value


class LBFGS(Optimizer):
    """L-BFGS, after minFunc: each ``step(closure)`` runs up to ``max_iter`` iterations (and
    ``max_eval`` closure evaluations) of quasi-Newton steps built from the last
    ``history_size`` curvature pairs, with a fixed step ``lr`` or ``line_search_fn="strong_wolfe"``.

    Only one parameter group is supported. The whole state lives under the first parameter:
    ``func_evals``, ``n_iter``, ``d``, ``t``, ``old_dirs``, ``old_stps``, ``ro``, ``H_diag``,
    ``prev_flat_grad``, ``prev_loss`` and (after the first iteration) ``al``, as in torch.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        _check_lr(lr)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = {
            "lr": lr,
            "max_iter": max_iter,
            "max_eval": max_eval,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "history_size": history_size,
            "line_search_fn": line_search_fn,
        }
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")

    @property
    def _params(self) -> list[Tensor]:
        return self.param_groups[0]["params"]

    # ------------------------------------------------------------------ the flat parameter vector
    def _gather_flat_grad(self):
        xp = array_module(self._params[0]._data)
        parts = [
            xp.zeros(p._data.size, dtype=p._data.dtype) if p._grad is None else p._grad._data.reshape(-1)
            for p in self._params
        ]
        return xp.concatenate(parts)

    def _add_grad(self, step_size, update) -> None:
        """``params += step_size * update`` (``update`` flat)."""
        offset = 0
        xp = array_module(update)
        for p in self._params:
            n = p._data.size
            p._data += xp.multiply(update[offset : offset + n].reshape(p._data.shape), step_size)
            _bump(p)
            offset += n

    def _clone_param(self) -> list:
        return [p._data.copy() for p in self._params]

    def _set_param(self, arrays) -> None:
        for p, a in zip(self._params, arrays, strict=True):
            p._data[...] = a
            _bump(p)

    # ------------------------------------------------------------------ step
    @_use_grad
    def step(self, closure: Callable[[], Tensor]):
        """Run up to ``max_iter`` L-BFGS iterations; ``closure`` re-evaluates and returns the loss
        (with its gradients). Returns the loss of the first evaluation."""
        if len(self.param_groups) != 1:
            raise AssertionError(f"Expected exactly one param_group, but got {len(self.param_groups)}")
        with backend_of(self._params[0]._data).errstate(divide="ignore", invalid="ignore", over="ignore"):
            return self._run(closure)

    def _run(self, closure):
        group = self.param_groups[0]
        lr = group["lr"]
        if isinstance(lr, Tensor):  # a 0-d tensor in torch's arithmetic: an array scalar here
            lr = lr._data.reshape(())[()]
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]

        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = _run_closure(closure)
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        xp = array_module(flat_grad)
        if xp.abs(flat_grad).max() <= tolerance_grad:  # already optimal
            return orig_loss

        d, t = _unpack(state.get("d")), _unpack(state.get("t"))
        old_dirs, old_stps, ro = (
            _unpack(state.get("old_dirs")),
            _unpack(state.get("old_stps")),
            _unpack(state.get("ro")),
        )
        h_diag = _unpack(state.get("H_diag"))
        prev_flat_grad, prev_loss = _unpack(state.get("prev_flat_grad")), state.get("prev_loss")
        al = _unpack(state["al"]) if "al" in state else None

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # ---- the direction: steepest descent first, then the two-loop recursion
            if state["n_iter"] == 1:
                d = xp.negative(flat_grad)
                old_dirs, old_stps, ro = [], [], []
                h_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = xp.multiply(d, t)
                ys = xp.dot(y, s)
                if ys > 1e-10:  # keep the pair only when the curvature condition holds
                    if len(old_dirs) == history_size:
                        del old_dirs[0], old_stps[0], ro[0]
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / xp.dot(y, y)
                if al is None:
                    al = [None] * history_size
                    state["al"] = None  # torch creates the key here: keep its place in the dict
                q = xp.negative(flat_grad)
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = xp.dot(old_stps[i], q) * ro[i]
                    q += xp.multiply(old_dirs[i], -al[i])
                d = xp.multiply(q, h_diag)
                for i in range(len(old_dirs)):
                    be_i = xp.dot(old_dirs[i], d) * ro[i]
                    d += xp.multiply(old_stps[i], al[i] - be_i)

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                prev_flat_grad[...] = flat_grad
            prev_loss = loss

            # ---- the step length: scaled down on the very first iteration
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / xp.abs(flat_grad).sum()) * lr
            else:
                t = lr
            gtd = xp.dot(flat_grad, d)
            if gtd > -tolerance_change:  # not a descent direction
                break

            evals = 0
            if line_search_fn is not None:
                if line_search_fn != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x_init = self._clone_param()

                def evaluate(step_t, x_init=x_init, d=d):
                    self._add_grad(step_t, d)
                    value = float(_run_closure(closure))
                    grad = self._gather_flat_grad()
                    self._set_param(x_init)
                    return value, grad

                loss, flat_grad, t, evals = _strong_wolfe(
                    evaluate, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals
                )
                self._add_grad(t, d)
                opt_cond = xp.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_grad(t, d)
                opt_cond = False
                if n_iter != max_iter:  # re-evaluate, unless this was the last iteration
                    loss = float(_run_closure(closure))
                    flat_grad = self._gather_flat_grad()
                    opt_cond = xp.abs(flat_grad).max() <= tolerance_grad
                    evals = 1
            current_evals += evals
            state["func_evals"] += evals

            # ---- stopping conditions
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if xp.abs(xp.multiply(d, t)).max() <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"] = _pack(d)
        state["t"] = _pack(t)
        state["old_dirs"] = _pack(old_dirs)
        state["old_stps"] = _pack(old_stps)
        state["ro"] = _pack(ro)
        state["H_diag"] = _pack(h_diag)
        state["prev_flat_grad"] = _pack(prev_flat_grad)
        state["prev_loss"] = prev_loss
        if al is not None:
            state["al"] = _pack(al)
        return orig_loss
