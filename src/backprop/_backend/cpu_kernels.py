"""Fused CPU kernels, compiled by numba (the optional extra ``backprop[jit]``).

The CPU backend's ``kernels`` (see ``cpu.py``): op code asks for a kernel by name
(``getattr(backend.kernels, "gelu_forward", None)``), exactly as it asks CUDA's
``cuda_kernels.py``, with the same signatures; where numba is missing or ``BACKPROP_JIT=0``,
``kernels`` is None and the ops' NumPy code runs. A kernel replaces several NumPy passes (each
a full read and write of memory, on one core) by one loop over the data, split across the
threads numba runs (``backprop.set_num_threads`` sets their number).

Rules every kernel here follows:
* float32 and float64 only (``supports``); other dtypes take the NumPy path;
* the parallel loop only above ``PARALLEL_MIN`` elements, where starting the threads pays;
* no ``fastmath``: results stay within the oracle tolerances and match the NumPy path;
* ``cache=True``: compiled code is kept on disk (``__pycache__``), so a second process does not
  compile again (the first compile of each kernel and dtype costs a fraction of a second).
"""

from __future__ import annotations

import math

import numba
import numpy

_JIT = {"cache": True, "nogil": True}
PARALLEL_MIN = 1 << 15  # elements: below this the serial loop is faster than waking the threads
_FLOATS = (numpy.dtype(numpy.float32), numpy.dtype(numpy.float64))


def supports(*arrays) -> bool:
    """Whether the kernels take these arrays: float32/float64 (None entries are ignored)."""
    return all(a is None or a.dtype in _FLOATS for a in arrays)


def set_num_threads(n: int) -> None:
    """The number of threads the parallel kernels use (at most the cores numba was started with)."""
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


def _serial_and_parallel(fn):
    """The same loop body compiled twice: serial and ``parallel=True`` (``prange`` splits it)."""
    return numba.njit(**_JIT)(fn), numba.njit(parallel=True, **_JIT)(fn)


def _pick(pair, n: int):
    return pair[1] if n >= PARALLEL_MIN else pair[0]


def _flat(x):
    """A contiguous 1-d view (or copy) of ``x``."""
    return numpy.ascontiguousarray(x).reshape(-1)


# ---------------------------------------------------------------------------- GELU
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _gelu_forward_loop(x, out, aux, tanh_form):
    for i in numba.prange(x.size):
        v = x[i]
        if tanh_form:
            t = math.tanh(_SQRT_2_OVER_PI * (v + 0.044715 * v * v * v))
            aux[i] = t
            out[i] = 0.5 * v * (1.0 + t)
        else:
            cdf = 0.5 * (1.0 + math.erf(v * _INV_SQRT_2))
            aux[i] = cdf
            out[i] = v * cdf


def _gelu_backward_loop(x, aux, g, out, tanh_form):
    for i in numba.prange(x.size):
        v = x[i]
        if tanh_form:
            t = aux[i]
            d = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * _SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * v * v)
        else:
            d = aux[i] + v * _INV_SQRT_2PI * math.exp(-0.5 * v * v)
        out[i] = g[i] * d


_GELU_FORWARD = _serial_and_parallel(_gelu_forward_loop)
_GELU_BACKWARD = _serial_and_parallel(_gelu_backward_loop)


def gelu_forward(x, approximate: str):
    """``(gelu(x), aux)`` in one pass; ``aux`` is Phi(x) (exact) or tanh(inner) for backward."""
    flat = _flat(x)
    out = numpy.empty_like(flat)
    aux = numpy.empty_like(flat)
    _pick(_GELU_FORWARD, flat.size)(flat, out, aux, approximate == "tanh")
    return out.reshape(x.shape), aux


def gelu_backward(x, aux, grad, approximate: str):
    """``grad * gelu'(x)`` in one pass, from ``x`` and the forward's ``aux``."""
    x = x._data if hasattr(x, "_data") else x
    flat, g = _flat(x), _flat(grad)
    out = numpy.empty_like(g)
    _pick(_GELU_BACKWARD, flat.size)(flat, aux, g, out, approximate == "tanh")
    return out.reshape(grad.shape)


# ---------------------------------------------------------------------------- rows: softmax, layer norm


# ---------------------------------------------------------------------------- batch norm


# ---------------------------------------------------------------------------- optimizer steps


# ---------------------------------------------------------------------------- recurrent cells
# One call per time step of a fused LSTM or GRU layer (``ops/rnn_ops.py``), beside the step's
# GEMM: the gate nonlinearities, state update and everything backward needs, in a few flat loops
# over the step's gate block instead of a dozen NumPy calls. Each loop touches few arrays (LLVM
# vectorizes a loop only while its runtime overlap checks stay few) and ``error_model="numpy"``
# drops the ZeroDivisionError branch that would keep the divisions scalar. Serial only: a
# parallel variant was not tried (a step's block is 32K entries in the LSTM benchmark, and
# per-step thread wake-ups could not be timed on the shared 2-core machine).
_RNN_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}

# tanh as Eigen's float rational approximation (odd 13th / even 6th degree, clamped): numba has no
# vectorized libm tanh, and a scalar ``math.tanh`` per entry is ~10x slower than NumPy's SIMD one.
# Evaluated in float32 its error is under 8 float32 ulps (4e-7 absolute) on all of float32:
# float32 only, float64 takes NumPy's tanh (``tests/test_rnn_fast_paths.py`` checks the bound).
_F32 = numpy.float32
_TA = tuple(
    _F32(v)
    for v in (
        4.89352455891786e-03,
        6.37261928875436e-04,
        1.48572235717979e-05,
        5.12229709037114e-08,
        -8.60467152213735e-11,
        2.00018790482477e-13,
        -2.76076847742355e-16,
    )
)
_TB = tuple(_F32(v) for v in (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06))
_TA1, _TA3, _TA5, _TA7, _TA9, _TA11, _TA13 = _TA
_TB0, _TB2, _TB4, _TB6 = _TB
_TCLAMP = _F32(7.90531110763549805)
_HALF = _F32(0.5)


@numba.njit(inline="always", **_RNN_JIT)
def _tanh32(x):
    x = x if x < _TCLAMP else _TCLAMP
    x = x if x > -_TCLAMP else -_TCLAMP
    x2 = x * x
    p = x2 * _TA13 + _TA11
    p = x2 * p + _TA9
    p = x2 * p + _TA7
    p = x2 * p + _TA5
    p = x2 * p + _TA3
    p = x2 * p + _TA1
    q = x2 * _TB6 + _TB4
    q = x2 * q + _TB2
    q = x2 * q + _TB0
    return x * p / q


@numba.njit(**_RNN_JIT)
def tanh_f32(x, out):
    """``out[:] = tanh(x)`` of 1-d float32 arrays by the kernels' approximation (for tests)."""
    for k in range(x.size):
        out[k] = _tanh32(x[k])


@numba.njit(**_RNN_JIT)
def _lstm_forward_span(ri, rf, ro, rg, gi, gf, go, gg, co, cn, tc, hb, m):
    # Loops of few arrays each: LLVM vectorizes a loop only while the runtime checks that its
    # arrays do not overlap stay few.
    for b in range(m):
        gi[b] = _HALF * _tanh32(_HALF * ri[b]) + _HALF  # sigmoid
    for b in range(m):
        gf[b] = _HALF * _tanh32(_HALF * rf[b]) + _HALF  # sigmoid
    for b in range(m):
        go[b] = _HALF * _tanh32(_HALF * ro[b]) + _HALF  # sigmoid
    for b in range(m):
        gg[b] = _tanh32(rg[b])
    for b in range(m):
        cn[b] = gf[b] * co[b] + gi[b] * gg[b]
    for b in range(m):
        tc[b] = _tanh32(cn[b])
    for b in range(m):
        hb[b] = go[b] * tc[b]


@numba.njit(**_RNN_JIT)
def lstm_cell_forward(rec, proj, t, bias, c_old, c_new, gates, tanh_c, hbuf, h_new, n):
    """One LSTM step, float32, on torch's weights as they are (gate rows i, f, g, o).

    rec (4H, B): ``W_hh h`` (the pre-activations are summed into it); proj (4H, T, B): ``W_ih x``
    of every step (step ``t`` is read); bias (4H,) ``b_ih + b_hh``; c_old, c_new (H, B); out:
    gates (4H, B) the activations in the order i, f, o, g (as the NumPy path saves them for
    backward); tanh_c (H, B); hbuf (H, B) work; h_new (B, H) the new hidden state,
    batch-major. Only the first ``n`` columns (the active sequences) are read and written; with
    all active, each gate block is one flat loop.
    """
    nh, nb = c_old.shape
    for k in range(4 * nh):  # indexed, not sliced: a slice costs a reference count per row
        bk = bias[k]
        for b in range(n):
            rec[k, b] += proj[k, t, b] + bk
    if n == nb:
        m = nh * nb
        r, g = rec.reshape(-1), gates.reshape(-1)
        _lstm_forward_span(
            r[:m],
            r[m : 2 * m],
            r[3 * m :],
            r[2 * m : 3 * m],
            g[:m],
            g[m : 2 * m],
            g[2 * m : 3 * m],
            g[3 * m :],
            c_old.reshape(-1),
            c_new.reshape(-1),
            tanh_c.reshape(-1),
            hbuf.reshape(-1),
            m,
        )
    else:
        for j in range(nh):
            _lstm_forward_span(
                rec[j],
                rec[nh + j],
                rec[3 * nh + j],
                rec[2 * nh + j],
                gates[j],
                gates[nh + j],
                gates[2 * nh + j],
                gates[3 * nh + j],
                c_old[j],
                c_new[j],
                tanh_c[j],
                hbuf[j],
                n,
            )
    for b in range(n):
        for j in range(nh):
            h_new[b, j] = hbuf[j, b]


@numba.njit(**_RNN_JIT)
def _lstm_backward_span(gi, gf, go, gg, tc, cp, dh, dc, zi, zf, zg, zo, m, carry_dc):
    for b in range(m):  # dc += dh o (1 - tanh(c)^2)
        dc[b] += dh[b] * go[b] * (1 - tc[b] * tc[b])
    for b in range(m):
        zi[b] = dc[b] * gg[b] * gi[b] * (1 - gi[b])
    for b in range(m):
        zf[b] = dc[b] * cp[b] * gf[b] * (1 - gf[b])
    for b in range(m):
        zg[b] = dc[b] * gi[b] * (1 - gg[b] * gg[b])
    for b in range(m):
        zo[b] = dh[b] * tc[b] * go[b] * (1 - go[b])
    if carry_dc:
        for b in range(m):
            dc[b] *= gf[b]


@numba.njit(**_RNN_JIT)
def lstm_cell_backward(gates, tanh_c, c_prev, dh, dc, gout, dz, dz_all, t, n, carry_dc):
    """One LSTM step of backward (float32 or float64; no transcendental functions).

    gates (4H, B): the step's i, f, o, g; tanh_c, c_prev (H, B); dh, dc (H, B) C-contiguous: the
    gradients flowing into the step's h and c, updated in place (dh += gout^T first, over all
    columns; dc becomes dc_prev = dc f where ``carry_dc``); gout (B, H) the output's gradient at
    the step, or a (0, 0) array for none. Out: dz (4H, B) the pre-activation gradients in torch's
    gate order i, f, g, o, and the same in ``dz_all[:, t]`` ((4H, T, B)). First ``n`` columns only.
    """
    nh, nb = dh.shape
    if gout.shape[0] > 0:
        for b in range(nb):
            gr = gout[b]
            for j in range(nh):
                dh[j, b] += gr[j]
    if n == nb:
        m = nh * nb
        g, z = gates.reshape(-1), dz.reshape(-1)
        _lstm_backward_span(
            g[:m],
            g[m : 2 * m],
            g[2 * m : 3 * m],
            g[3 * m :],
            tanh_c.reshape(-1),
            c_prev.reshape(-1),
            dh.reshape(-1),
            dc.reshape(-1),
            z[:m],
            z[m : 2 * m],
            z[2 * m : 3 * m],
            z[3 * m :],
            m,
            carry_dc,
        )
    else:
        for j in range(nh):
            _lstm_backward_span(
                gates[j],
                gates[nh + j],
                gates[2 * nh + j],
                gates[3 * nh + j],
                tanh_c[j],
                c_prev[j],
                dh[j],
                dc[j],
                dz[j],
                dz[nh + j],
                dz[2 * nh + j],
                dz[3 * nh + j],
                n,
                carry_dc,
            )
    for k in range(4 * nh):
        zk, ak = dz[k], dz_all[k, t]
        for b in range(n):
            ak[b] = zk[b]


@numba.njit(**_RNN_JIT)
def _gru_forward_span(gr, gz, gn, rr, rz, rn, hb, m):
    for b in range(m):
        gr[b] = _HALF * _tanh32(gr[b] + rr[b]) + _HALF
    for b in range(m):
        gz[b] = _HALF * _tanh32(gz[b] + rz[b]) + _HALF
    for b in range(m):
        gn[b] = _tanh32(gn[b] + gr[b] * rn[b])
    for b in range(m):  # h' = n + z (h - n)
        hb[b] = gn[b] + gz[b] * (hb[b] - gn[b])


@numba.njit(**_RNN_JIT)
def gru_cell_forward(rec, proj, t, bias, b_hn, gates, h_old, hbuf, h_new, n):
    """One GRU step, float32, with the r and z rows' weights (and their biases) halved.

    rec (3H, B): ``W_hh h``, its n rows get ``b_hn`` added in place (backward reads them);
    proj (3H, T, B): ``W_ih x`` of every step (step ``t`` is read); bias (3H,): the input bias
    (with b_hh's r, z parts folded in); b_hn (H,); out: gates (3H, B) the activations r, z, n;
    h_old, h_new (B, H) the states, batch-major; hbuf (H, B) work. First ``n`` columns only.
    """
    nh, nb = hbuf.shape
    for k in range(2 * nh, 3 * nh):
        bk = b_hn[k - 2 * nh]
        for b in range(n):
            rec[k, b] += bk
    for k in range(3 * nh):
        bk = bias[k]
        for b in range(n):
            gates[k, b] = proj[k, t, b] + bk
    for b in range(n):
        for j in range(nh):
            hbuf[j, b] = h_old[b, j]
    if n == nb:
        m = nh * nb
        g, r = gates.reshape(-1), rec.reshape(-1)
        _gru_forward_span(g[:m], g[m : 2 * m], g[2 * m :], r[:m], r[m : 2 * m], r[2 * m :], hbuf.reshape(-1), m)
    else:
        for j in range(nh):
            _gru_forward_span(
                gates[j], gates[nh + j], gates[2 * nh + j], rec[j], rec[nh + j], rec[2 * nh + j], hbuf[j], n
            )
    for b in range(n):
        for j in range(nh):
            h_new[b, j] = hbuf[j, b]


@numba.njit(**_RNN_JIT)
def _gru_backward_span(gr, gz, gn, ghn, dh, hp, dgr, dgz, dgn, dxn, m):
    for b in range(m):  # d(W_in x + b_in) = dh (1 - z)(1 - n^2)
        dxn[b] = dh[b] * (1 - gz[b]) * (1 - gn[b] * gn[b])
    for b in range(m):  # d(W_hn h + b_hn) = that r
        dgn[b] = dxn[b] * gr[b]
    for b in range(m):
        dgz[b] = dh[b] * (hp[b] - gn[b]) * gz[b] * (1 - gz[b])
    for b in range(m):
        dgr[b] = dgn[b] * ghn[b] * (1 - gr[b])
    for b in range(m):  # the part of dh_prev that skips the GEMM: dh z (into hp, read above)
        hp[b] = dh[b] * gz[b]


@numba.njit(**_RNN_JIT)
def gru_cell_backward(gates, ghn, h_prev, dh, gout, dg, carry, dxn, dgh_all, dgx_all, t, n):
    """One GRU step of backward (float32 or float64; no transcendental functions).

    gates (3H, B): the step's r, z, n; ghn (H, B): its ``W_hn h + b_hn``; h_prev (B, H): the state
    it started from; dh (H, B) C-contiguous: the gradient into the step's h (dh += gout^T first,
    over all columns); gout (B, H) or a (0, 0) array for none. Out: dg (3H, B) the gradients of
    ``W_hh h + b_hh`` (r, z, n), carry (H, B) = dh z (dh_prev = carry + W_hh^T dg), dxn (H, B) the
    gradient of ``W_in x + b_in``; ``dgh_all[:, t]`` = dg and ``dgx_all[:, t]`` = (dg's r, z; dxn)
    ((3H, T, B)). First ``n`` columns only.
    """
    nh, nb = dh.shape
    if gout.shape[0] > 0:
        for b in range(nb):
            gr = gout[b]
            for j in range(nh):
                dh[j, b] += gr[j]
    for b in range(n):
        hp = h_prev[b]
        for j in range(nh):
            carry[j, b] = hp[j]
    if n == nb:
        m = nh * nb
        g, d = gates.reshape(-1), dg.reshape(-1)
        _gru_backward_span(
            g[:m],
            g[m : 2 * m],
            g[2 * m :],
            ghn.reshape(-1),
            dh.reshape(-1),
            carry.reshape(-1),
            d[:m],
            d[m : 2 * m],
            d[2 * m :],
            dxn.reshape(-1),
            m,
        )
    else:
        for j in range(nh):
            _gru_backward_span(
                gates[j],
                gates[nh + j],
                gates[2 * nh + j],
                ghn[j],
                dh[j],
                carry[j],
                dg[j],
                dg[nh + j],
                dg[2 * nh + j],
                dxn[j],
                n,
            )
    for k in range(3 * nh):
        zk, ak, xk = dg[k], dgh_all[k, t], dgx_all[k, t]
        for b in range(n):
            ak[b] = zk[b]
        if k < 2 * nh:
            for b in range(n):
                xk[b] = zk[b]
        else:
            xn = dxn[k - 2 * nh]
            for b in range(n):
                xk[b] = xn[b]


# ---------------------------------------------------------------------------- convolution and pooling
