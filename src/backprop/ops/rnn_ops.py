"""Fused recurrent layers: one layer, one direction of an Elman RNN, LSTM or GRU over a sequence.

``rnn_layer(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, batch_sizes)`` (the primitive
``RNNLayer``) runs the recurrence of torch's ``_VF.rnn_tanh``/``rnn_relu``/``lstm``/``gru`` for one layer and direction:

* the input projection ``W_ih x_t`` of every time step is one GEMM ``W_ih X^T``, gate-major
  (rows, T, B): each step adds its block ``[:, t]`` and the bias into its contiguous work array
  (no transposing pass over the whole projection);
* each step is one GEMM ``W_hh h`` for all gates plus a handful of in-place NumPy ops on
  preallocated buffers. Sigmoid gates are evaluated as ``(tanh(z / 2) + 1) / 2`` with the 1/2
  folded into the weights, so one ``tanh`` covers all four gates of an LSTM;
* with the CPU JIT kernels (``_backend/cpu_kernels.py``) an LSTM or GRU step's gates, state
  update and new state are one fused call after the step's GEMM (``lstm_cell_forward``,
  ``gru_cell_forward``: float32 only, their tanh approximation is float32-accurate) and a
  backward step's gate gradients another (``lstm_cell_backward``, ``gru_cell_backward``); the
  NumPy code below serves otherwise, and both save the same arrays for backward;
* backward walks the steps in reverse with one GEMM per step (``W_hh^T dz``) and a few ops
  computing all gate gradients of the step (the saved activations are read while in cache);
  the weight gradients are then one GEMM each over the whole sequence, on gate gradients each
  step writes straight into a gate-major (rows, T, B) array (no transposing copy).

Layout: per step the gates are kept feature-major, (gates * H, B), so that every gate block is
contiguous (NumPy's ops are several times slower writing into strided column blocks) and the
GEMMs take their fastest form; states handed out (output, h_n) are batch-major as torch's.
Arrays are stored in time order; ``reverse`` runs the recurrence through reversed views.
``batch_sizes`` (a packed sequence's, non-increasing) makes only the first ``batch_sizes[t]``
sequences step at time ``t``; the others keep their state. Without a graph to record (no_grad,
or nothing requiring grad) nothing is saved for backward, and short-lived work arrays are reused
across calls (``_Scratch``).

The backward is ``once_differentiable``: double backward through a fused RNN layer raises
(the cells, ``nn.RNNCell`` & co., are compositions and differentiate any number of times).
"""

from __future__ import annotations

import threading

import numpy

from .._backend import array_module, backend_of
from .._tensor import _make
from ..autograd.function import Function, once_differentiable
from ..autograd.grad_mode import _state

MODES = ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class _Layout:
    """Sizes, direction and the active sequences of each step of one call."""

    __slots__ = ("seq", "batch", "hidden", "reverse", "times", "steps", "packed", "dtype", "xp")

    def __init__(self, seq: int, batch: int, hidden: int, reverse: bool, batch_sizes, dtype, xp):
        self.seq, self.batch, self.hidden, self.reverse, self.dtype = seq, batch, hidden, reverse, dtype
        self.xp = xp  # the array module of the input: work arrays go on its device
        self.packed = batch_sizes is not None and any(int(n) != batch for n in batch_sizes)
        sizes = [int(n) for n in batch_sizes] if self.packed else [batch] * seq
        self.times = list(range(seq - 1, -1, -1)) if reverse else list(range(seq))  # time index of step p
        self.steps = [sizes[t] for t in self.times]  # active sequences at step p

    def alloc(self, *shape):
        """A work array; zeroed for packed input, whose inactive entries must stay finite and inert."""
        return (self.xp.zeros if self.packed else self.xp.empty)(shape, dtype=self.dtype)

    def states(self, init, shape):
        """A (T+1, *shape) state buffer: (slots in processing order, time-ordered outputs, time-ordered previous states).

        Slot 0 holds the initial state, slot p+1 the state after step p.
        """
        mem = self.alloc(self.seq + 1, *shape)
        if self.reverse:
            proc, out, prev = mem[::-1], mem[: self.seq], mem[1:]
        else:
            proc, out, prev = mem, mem[1:], mem[:-1]
        proc[0] = init if init is not None else 0
        return proc, out, prev


class _Scratch:
    """Work arrays that die within one forward or backward, kept for the next call: fresh
    multi-megabyte arrays cost a page fault per page on every call. Bounded (``limit`` arrays,
    ``max_bytes`` in all); safe across threads (an array is handed to one caller at a time).
    Host arrays only: a GPU array library's memory pool already reuses freed device memory."""

    def __init__(self, limit: int = 8, max_bytes: int = 1 << 28):
        self.free: dict = {}
        self.limit, self.max_bytes = limit, max_bytes
        self.lock = threading.Lock()

    def get(self, shape, dtype, xp, zero: bool = False):
        """A work array of array module ``xp``."""
        if xp is not numpy:
            return (xp.zeros if zero else xp.empty)(shape, dtype=dtype)
        key = (tuple(shape), numpy.dtype(dtype).str)
        with self.lock:
            stack = self.free.get(key)
            arr = stack.pop() if stack else None
        if arr is None:
            return (xp.zeros if zero else xp.empty)(shape, dtype=dtype)
        if zero:
            arr.fill(0)
        return arr

    def put(self, *arrays) -> None:
        with self.lock:
            for arr in arrays:
                if type(arr) is numpy.ndarray and arr.nbytes <= self.max_bytes // 4:
                    self.free.setdefault((arr.shape, arr.dtype.str), []).append(arr)
            while self.free and (
                sum(len(v) for v in self.free.values()) > self.limit
                or sum(a.nbytes for v in self.free.values() for a in v) > self.max_bytes
            ):
                del self.free[next(iter(self.free))]


_scratch = _Scratch()


def _data(t):
    return None if t is None else t._data


def _kernel(array, name: str):
    """The CPU JIT kernel ``name`` for ``array`` (``_backend/cpu_kernels.py``), or None: then the
    NumPy code here runs (no numba, ``BACKPROP_JIT=0``, another dtype, or a GPU array)."""
    return backend_of(array).kernel(name, array)


def _project(w, xf, lay: _Layout):
    """``W x_t`` of every step as one GEMM ``W X^T``: gate-major (rows, T, B), a scratch array.

    Step ``t``'s block is ``proj[:, t]`` (rows of B contiguous entries); the recurrences add it,
    and the bias, into their contiguous per-step work array: cheaper than laying the whole
    projection out time-major in a transposing pass.
    """
    xp = lay.xp
    proj = _scratch.get((w.shape[0], lay.seq, lay.batch), lay.dtype, xp)
    xp.matmul(w, xf.T, out=proj.reshape(w.shape[0], lay.seq * lay.batch))
    return proj


def _grad_rows(lay: _Layout, rows: int):
    """A (rows, T, B) scratch array for the gate gradients of every step: step ``t`` writes
    ``[:, t]``; reshaped to (rows, T*B) it feeds the weight GEMMs with no transposing copy."""
    return _scratch.get((rows, lay.seq, lay.batch), lay.dtype, lay.xp, zero=lay.packed)


# ---------------------------------------------------------------------------- LSTM
def _lstm_weights(w_ih, w_hh, b_ih, b_hh, nh: int):
    """Gate rows reordered to (i, f, o, g) with the sigmoid rows halved."""

    def reorder(w):
        out = array_module(w).empty_like(w)
        out[: 2 * nh] = w[: 2 * nh]
        out[2 * nh : 3 * nh] = w[3 * nh :]
        out[3 * nh :] = w[2 * nh : 3 * nh]
        out[: 3 * nh] *= 0.5
        return out

    bias = reorder(b_ih + b_hh)[:, None] if b_ih is not None else None
    return reorder(w_ih), reorder(w_hh), bias


def _lstm_forward(ctx, lay: _Layout, xf, h0, c0, w_ih, w_hh, b_ih, b_hh, keep: bool):
    xp = lay.xp
    nb, nh = lay.batch, lay.hidden
    h2, h3 = 2 * nh, 3 * nh
    # The fused step kernel's tanh is float32-accurate only: float64 keeps NumPy's.
    cell = _kernel(xf, "lstm_cell_forward") if lay.dtype == numpy.float32 else None
    if cell is not None:  # the kernel takes torch's weights as they are (no reordered copies)
        wih, whh = w_ih, w_hh
        bias_k = b_ih + b_hh if b_ih is not None else xp.zeros(4 * nh, dtype=lay.dtype)
    else:
        wih, whh, bias = _lstm_weights(w_ih, w_hh, b_ih, b_hh, nh)
    proj = _project(wih, xf, lay)  # W_ih x of every step
    hs, out, hprev = lay.states(h0, (nb, nh))  # batch-major hidden states
    if keep:  # every step's gates (i, f, o, g), cell state and tanh(c) are saved for backward
        gates = lay.alloc(lay.seq, 4 * nh, nb)
        cs, _, cprev = lay.states(None if c0 is None else c0.T, (nh, nb))  # feature-major cell states
        tanh_c = lay.alloc(lay.seq, nh, nb)
    else:  # inference: one gate buffer, two alternating cell-state buffers
        gates = xp.empty((1, 4 * nh, nb), dtype=lay.dtype)
        cs = xp.empty((2, nh, nb), dtype=lay.dtype)
        cs[0] = c0.T if c0 is not None else 0
        tanh_c = xp.empty((1, nh, nb), dtype=lay.dtype)
    rec = xp.empty((4 * nh, nb), dtype=lay.dtype)
    tmp = xp.empty((nh, nb), dtype=lay.dtype)
    hnew = xp.empty((nh, nb), dtype=lay.dtype)
    for p, (t, n) in enumerate(zip(lay.times, lay.steps)):
        c_old, c_new = (cs[p], cs[p + 1]) if keep else (cs[p % 2], cs[(p + 1) % 2])
        if n < nb:
            hs[p + 1][n:] = hs[p][n:]
            c_new[:, n:] = c_old[:, n:]
        z, r = gates[t if keep else 0][:, :n], rec[:, :n]
        xp.matmul(whh, hs[p][:n].T, out=r)
        if cell is not None:
            tk = t if keep else 0
            cell(rec, proj, t, bias_k, c_old, c_new, gates[tk], tanh_c[tk], hnew, hs[p + 1], n)
            continue
        r += proj[:, t, :n]
        if bias is not None:
            r += bias
        xp.tanh(r, out=z)
        s = z[:h3]
        s *= 0.5
        s += 0.5  # i, f, o = sigmoid; g = tanh
        c = c_new[:, :n]
        xp.multiply(z[nh:h2], c_old[:, :n], out=c)
        th = tmp[:, :n]
        xp.multiply(z[:nh], z[h3:], out=th)
        c += th
        tc = tanh_c[t if keep else 0][:, :n]
        xp.tanh(c, out=tc)
        hn = hnew[:, :n]
        xp.multiply(z[h2:h3], tc, out=hn)
        hs[p + 1][:n] = hn.T
    c_n = xp.ascontiguousarray(cs[lay.seq if keep else lay.seq % 2].T)
    _scratch.put(proj)
    if keep:
        ctx.arrays = (gates, cprev, tanh_c, hprev)
    return out, hs[lay.seq].copy(), c_n


def _lstm_backward(ctx, lay: _Layout, gout, gh, gc, w_hh, need_h0, need_c0):
    xp = lay.xp
    nt, nb, nh = lay.seq, lay.batch, lay.hidden
    gates, cprev, tanh_c, hprev = ctx.arrays
    gates4 = gates.reshape(nt, 4, nh, nb)  # i, f, o, g
    dz_all = _grad_rows(lay, 4 * nh)  # torch's gate order i, f, g, o
    dz_buf = xp.empty((4, nh, nb), dtype=lay.dtype)  # the step's, contiguous
    dh = xp.array(gh.T, order="C") if gh is not None else xp.zeros((nh, nb), dtype=lay.dtype)
    dc = xp.array(gc.T, order="C") if gc is not None else xp.zeros((nh, nb), dtype=lay.dtype)
    tmp = xp.empty((nh, nb), dtype=lay.dtype)
    dsig = xp.empty((3, nh, nb), dtype=lay.dtype)
    w_hh_t = w_hh.T
    cell = _kernel(gates, "lstm_cell_backward")
    if cell is not None:
        no_gout = xp.zeros((0, 0), dtype=lay.dtype)
        dz_k = dz_buf.reshape(4 * nh, nb)
        for p in range(nt - 1, -1, -1):
            t, n = lay.times[p], lay.steps[p]
            g_t = gout[t] if gout is not None else no_gout
            cell(gates[t], tanh_c[t], cprev[t], dh, dc, g_t, dz_k, dz_all, t, n, bool(p or need_c0))
            if p or need_h0:
                xp.matmul(w_hh_t, dz_k[:, :n], out=dh[:, :n])
        dz_rows = dz_all.reshape(4 * nh, nt * nb)
        return dz_rows, dz_rows, hprev, dh.T, dc.T
    # Per step, with the gate derivatives computed while the step's data is in cache:
    # dc += dh o (1 - tanh(c)^2); dz_i = dc g i(1-i); dz_f = dc c_prev f(1-f);
    # dz_g = dc i (1-g^2); dz_o = dh tanh(c) o(1-o); dc_prev = dc f; dh_prev = W_hh^T dz.
    for p in range(nt - 1, -1, -1):
        t, n = lay.times[p], lay.steps[p]
        g4, tc, dz = gates4[t][..., :n], tanh_c[t][:, :n], dz_buf[..., :n]
        i, f, o, g = g4[0], g4[1], g4[2], g4[3]
        dhn, dcn, a, d = dh[:, :n], dc[:, :n], tmp[:, :n], dsig[..., :n]
        if gout is not None:
            dh += gout[t].T  # inactive (packed) rows: the output there is the carried state
        xp.multiply(tc, tc, out=a)
        xp.subtract(1, a, out=a)
        a *= o
        a *= dhn
        dcn += a
        xp.subtract(1, g4[:3], out=d)
        d *= g4[:3]
        d[0] *= g
        d[1] *= cprev[t][:, :n]
        d[2] *= tc
        xp.multiply(d[:2], dcn, out=dz[:2])
        xp.multiply(d[2], dhn, out=dz[3])
        xp.multiply(g, g, out=a)
        xp.subtract(1, a, out=a)
        a *= i
        xp.multiply(a, dcn, out=dz[2])
        dz2 = dz.reshape(4 * nh, n)
        dz_all[:, t, :n] = dz2
        if p or need_c0:
            dcn *= f
        if p or need_h0:
            xp.matmul(w_hh_t, dz2, out=dhn)
    dz_rows = dz_all.reshape(4 * nh, nt * nb)
    return dz_rows, dz_rows, hprev, dh.T, dc.T


# ---------------------------------------------------------------------------- GRU
def _gru_weights(w_ih, w_hh, b_ih, b_hh, nh: int):
    """r and z rows halved (sigmoid through tanh); b_hh's r, z parts folded into the input bias."""
    wih = w_ih.copy()
    wih[: 2 * nh] *= 0.5
    whh = w_hh.copy()
    whh[: 2 * nh] *= 0.5
    bias = b_hn = None
    if b_ih is not None:
        bias = b_ih.copy()
        bias[: 2 * nh] += b_hh[: 2 * nh]
        bias[: 2 * nh] *= 0.5
        bias, b_hn = bias[:, None], b_hh[2 * nh :, None]
    return wih, whh, bias, b_hn


def _gru_forward(ctx, lay: _Layout, xf, h0, w_ih, w_hh, b_ih, b_hh, keep: bool):
    xp = lay.xp
    nb, nh = lay.batch, lay.hidden
    h2 = 2 * nh
    wih, whh, bias, b_hn = _gru_weights(w_ih, w_hh, b_ih, b_hh, nh)
    proj = _project(wih, xf, lay)  # W_ih x of every step
    gates = lay.alloc(lay.seq if keep else 1, 3 * nh, nb)  # W_ih x + b, turned in place into r, z, n
    ghh = lay.alloc(lay.seq if keep else 1, 3 * nh, nb)  # W_hh h per step; backward needs its n rows (+ b_hn)
    hs, out, hprev = lay.states(h0, (nb, nh))
    tmp = xp.empty((nh, nb), dtype=lay.dtype)
    hnew = xp.empty((nh, nb), dtype=lay.dtype)
    cell = _kernel(xf, "gru_cell_forward") if lay.dtype == numpy.float32 else None  # float32: as the LSTM's
    if cell is not None:
        zeros = xp.zeros(3 * nh, dtype=lay.dtype)
        bias_k, b_hn_k = (bias[:, 0], b_hn[:, 0]) if bias is not None else (zeros, zeros[:nh])
    for p, (t, n) in enumerate(zip(lay.times, lay.steps)):
        if n < nb:
            hs[p + 1][n:] = hs[p][n:]
        if cell is not None:
            tk = t if keep else 0
            xp.matmul(whh, hs[p][:n].T, out=ghh[tk][:, :n])
            cell(ghh[tk], proj, t, bias_k, b_hn_k, gates[tk], hs[p], hnew, hs[p + 1], n)
            continue
        z, g, h = gates[t if keep else 0][:, :n], ghh[t if keep else 0][:, :n], hs[p][:n].T
        if bias is not None:
            xp.add(proj[:, t, :n], bias, out=z)
        else:
            z[...] = proj[:, t, :n]
        xp.matmul(whh, h, out=g)
        if b_hn is not None:
            g[h2:] += b_hn
        rz = z[:h2]
        rz += g[:h2]
        xp.tanh(rz, out=rz)
        rz *= 0.5
        rz += 0.5
        nn, tn = z[h2:], tmp[:, :n]
        xp.multiply(z[:nh], g[h2:], out=tn)
        nn += tn
        xp.tanh(nn, out=nn)
        hn = hnew[:, :n]  # h' = n + z (h - n)
        xp.subtract(h, nn, out=hn)
        hn *= z[nh:h2]
        hn += nn
        hs[p + 1][:n] = hn.T
    _scratch.put(proj)
    if keep:
        ctx.arrays = (gates, ghh, hprev)
    return out, hs[lay.seq].copy()


def _gru_backward(ctx, lay: _Layout, gout, gh, w_hh, need_h0):
    xp = lay.xp
    nt, nb, nh = lay.seq, lay.batch, lay.hidden
    gates, ghh, hprev = ctx.arrays
    dgh_all = _grad_rows(lay, 3 * nh)  # d(W_hh h + b_hh), gates r, z, n
    dgx_all = _grad_rows(lay, 3 * nh)  # d(W_ih x + b_ih): r, z as above, then d(W_in x + b_in)
    dg_buf = xp.empty((3, nh, nb), dtype=lay.dtype)  # the step's, contiguous
    dxn_buf = xp.empty((nh, nb), dtype=lay.dtype)
    dh = xp.array(gh.T, order="C") if gh is not None else xp.zeros((nh, nb), dtype=lay.dtype)
    a_buf, b_buf, c_buf = (xp.empty((nh, nb), dtype=lay.dtype) for _ in range(3))
    w_hh_t = w_hh.T
    cell = _kernel(gates, "gru_cell_backward")
    if cell is not None:
        no_gout = xp.zeros((0, 0), dtype=lay.dtype)
        dg_k = dg_buf.reshape(3 * nh, nb)
        for p in range(nt - 1, -1, -1):
            t, n = lay.times[p], lay.steps[p]
            g_t = gout[t] if gout is not None else no_gout
            cell(gates[t], ghh[t][2 * nh :], hprev[t], dh, g_t, dg_k, a_buf, dxn_buf, dgh_all, dgx_all, t, n)
            if p or need_h0:
                xp.matmul(w_hh_t, dg_k[:, :n], out=dh[:, :n])
                dh[:, :n] += a_buf[:, :n]
        return dgx_all.reshape(3 * nh, nt * nb), dgh_all.reshape(3 * nh, nt * nb), hprev, dh.T, None
    # dn_pre = dh A with A = (1-z)(1-n^2); dz_pre = dh (h-n) z(1-z); d(W_hn h + b_hn) = dn_pre r;
    # dr_pre = d(W_hn h + b_hn) (W_hn h + b_hn)(1-r); dh_prev = dh z + W_hh^T d(W_hh h).
    for p in range(nt - 1, -1, -1):
        t, n = lay.times[p], lay.steps[p]
        r, u, nn = (gates[t][k * nh : (k + 1) * nh, :n] for k in range(3))
        ghn = ghh[t][2 * nh :, :n]
        dg, dxn = dg_buf[..., :n], dxn_buf[:, :n]
        dhn, a, b, c = dh[:, :n], a_buf[:, :n], b_buf[:, :n], c_buf[:, :n]
        if gout is not None:
            dh += gout[t].T  # inactive (packed) rows: the output there is the carried state
        xp.multiply(nn, nn, out=a)
        xp.subtract(1, a, out=a)
        xp.subtract(1, u, out=b)
        a *= b
        xp.multiply(dhn, a, out=dxn)
        xp.multiply(dxn, r, out=dg[2])
        xp.subtract(hprev[t][:n].T, nn, out=c)
        b *= u
        c *= b
        xp.multiply(c, dhn, out=dg[1])
        xp.subtract(1, r, out=c)
        c *= ghn
        xp.multiply(c, dg[2], out=dg[0])
        dg2 = dg.reshape(3 * nh, n)
        dgh_all[:, t, :n] = dg2
        dgx_all[: 2 * nh, t, :n] = dg2[: 2 * nh]
        dgx_all[2 * nh :, t, :n] = dxn
        if p or need_h0:
            xp.multiply(dhn, u, out=a)
            xp.matmul(w_hh_t, dg2, out=dhn)
            dhn += a
    return dgx_all.reshape(3 * nh, nt * nb), dgh_all.reshape(3 * nh, nt * nb), hprev, dh.T, None


# ---------------------------------------------------------------------------- Elman RNN
def _rnn_forward(ctx, lay: _Layout, xf, h0, w_ih, w_hh, b_ih, b_hh, relu: bool):
    xp = lay.xp
    nb, nh = lay.batch, lay.hidden
    proj = _project(w_ih, xf, lay)  # W_ih x of every step
    bias = (b_ih + b_hh)[:, None] if b_ih is not None else None
    hs, out, hprev = lay.states(h0, (nb, nh))
    rec = xp.empty((nh, nb), dtype=lay.dtype)
    hnew = xp.empty((nh, nb), dtype=lay.dtype)
    for p, (t, n) in enumerate(zip(lay.times, lay.steps)):
        if n < nb:
            hs[p + 1][n:] = hs[p][n:]
        r, hn = rec[:, :n], hnew[:, :n]
        xp.matmul(w_hh, hs[p][:n].T, out=r)
        xp.add(proj[:, t, :n], r, out=hn)
        if bias is not None:
            hn += bias
        if relu:
            xp.maximum(hn, 0, out=hn)
        else:
            xp.tanh(hn, out=hn)
        hs[p + 1][:n] = hn.T
    _scratch.put(proj)
    ctx.arrays = (out, hprev)
    return out, hs[lay.seq].copy()


def _rnn_backward(ctx, lay: _Layout, gout, gh, w_hh, need_h0, relu: bool):
    xp = lay.xp
    nt, nb, nh = lay.seq, lay.batch, lay.hidden
    out, hprev = ctx.arrays
    out_fm = out.transpose(0, 2, 1)
    if relu:
        dfac = (out_fm > 0).astype(lay.dtype)
    else:
        dfac = xp.multiply(out_fm, out_fm)
        xp.subtract(1, dfac, out=dfac)
    dz_all = _grad_rows(lay, nh)
    dh = xp.array(gh.T) if gh is not None else xp.zeros((nh, nb), dtype=lay.dtype)
    w_hh_t = w_hh.T
    for p in range(nt - 1, -1, -1):
        t, n = lay.times[p], lay.steps[p]
        dhn = dh[:, :n]
        if gout is not None:
            dh += gout[t].T  # inactive (packed) rows: the output there is the carried state
        dz = dz_all[:, t, :n]
        xp.multiply(dhn, dfac[t][:, :n], out=dz)
        if p or need_h0:
            xp.matmul(w_hh_t, dz, out=dhn)
    dz_rows = dz_all.reshape(nh, nt * nb)
    return dz_rows, dz_rows, hprev, dh.T, None


# ---------------------------------------------------------------------------- the primitive
class RNNLayer(Function):
    """One layer, one direction: ``(output, h_n)`` or, for LSTM, ``(output, h_n, c_n)``.

    x: (T, B, I); h0, c0: (B, H) or None (zeros); b_ih, b_hh: None without bias;
    batch_sizes: None or the non-increasing number of active sequences per time step;
    keep: save what backward needs (False only where no graph is recorded: inference).
    """

    _array_backward = False  # its once_differentiable backward unwraps Tensors itself

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, mode, reverse, batch_sizes, keep=True):
        if mode not in GATES:
            raise ValueError(f"Unknown RNN mode '{mode}'")
        ctx.set_materialize_grads(False)
        xa = x._data
        xp = array_module(xa)
        seq, batch, size = xa.shape
        lay = _Layout(seq, batch, w_hh._data.shape[1], bool(reverse), batch_sizes, xa.dtype, xp)
        xf = xp.ascontiguousarray(xa).reshape(seq * batch, size)
        wi, wh, bi, bh = w_ih._data, w_hh._data, _data(b_ih), _data(b_hh)
        ctx.mode, ctx.layout, ctx.xf = mode, lay, xf
        if mode == "LSTM":
            result = _lstm_forward(ctx, lay, xf, _data(h0), _data(c0), wi, wh, bi, bh, keep)
        elif mode == "GRU":
            result = _gru_forward(ctx, lay, xf, _data(h0), wi, wh, bi, bh, keep)
        else:
            result = _rnn_forward(ctx, lay, xf, _data(h0), wi, wh, bi, bh, mode == "RNN_RELU")
        # The output is saved too: backward reads the states it shares memory with.
        ctx.save_for_backward(x, w_ih, w_hh, result[0])
        return result

    @staticmethod
    @once_differentiable
    def backward(ctx, gout, gh, gc=None):
        x, w_ih, w_hh, _ = ctx.saved_tensors
        need = ctx.needs_input_grad
        lay, mode = ctx.layout, ctx.mode
        gout, gh, gc = _data(gout), _data(gh), _data(gc)
        wh = w_hh._data
        if mode == "LSTM":
            dzx, dzh, hprev, dh0, dc0 = _lstm_backward(ctx, lay, gout, gh, gc, wh, need[1], need[2])
        elif mode == "GRU":
            dzx, dzh, hprev, dh0, dc0 = _gru_backward(ctx, lay, gout, gh, wh, need[1])
        else:
            dzx, dzh, hprev, dh0, dc0 = _rnn_backward(ctx, lay, gout, gh, wh, need[1], mode == "RNN_RELU")
        rows = lay.seq * lay.batch
        gx = _make((dzx.T @ w_ih._data).reshape(x._data.shape)) if need[0] else None
        gw_ih = _make(dzx @ ctx.xf) if need[3] else None
        gw_hh = _make(dzh @ hprev.reshape(rows, lay.hidden)) if need[4] else None
        gb_ih = _make(dzx.sum(1)) if need[5] else None
        gb_hh = _make(dzh.sum(1)) if need[6] else None
        g_h0 = _make(lay.xp.ascontiguousarray(dh0)) if need[1] else None
        g_c0 = _make(lay.xp.ascontiguousarray(dc0)) if need[2] and dc0 is not None else None
        _scratch.put(*{id(a.base): a.base for a in (dzx, dzh)}.values())  # the (G, T, B) scratch arrays
        return gx, g_h0, g_c0, gw_ih, gw_hh, gb_ih, gb_hh, None, None, None, None


def rnn_layer(mode: str, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse: bool = False, batch_sizes=None):
    """Run one fused recurrent layer (see ``RNNLayer``); without a graph to record it saves nothing."""
    keep = _state.enabled and any(t is not None and t._requires_grad for t in (x, h0, c0, w_ih, w_hh, b_ih, b_hh))
    return RNNLayer.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, mode, reverse, batch_sizes, keep)
