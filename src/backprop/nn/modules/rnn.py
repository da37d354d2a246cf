"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` and their single-step cells.

The sequence layers run each layer and direction as one fused primitive
(``ops.rnn_ops.RNNLayer``: one GEMM for the input projection of all steps, one per step for
the recurrence, and a hand-written backward through time). That backward is not itself
differentiable: double backward through ``RNN``/``LSTM``/``GRU`` raises. The cells, and LSTM
with ``proj_size > 0`` (``_lstm_projected_layer``), are compositions of ordinary ops and
differentiate any number of times.

Parameter names, shapes, order, initialization and gate layout are torch's (LSTM gates
``i, f, g, o``; GRU gates ``r, z, n`` with ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``),
so ``load_state_dict(torch_module.state_dict())`` works.
"""

from __future__ import annotations

import math
import numbers
import warnings

from ..._backend import array_module
from ..._tensor import Tensor, _make
from ...ops import movement as _mv
from ...ops.rnn_ops import rnn_layer
from .. import functional as F
from .. import init
from ..parameter import Parameter
from ..utils.rnn import PackedSequence, packed_to_padded, padded_to_packed
from .linear import _empty
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _zeros(shape, like: Tensor) -> Tensor:
    """Zeros of ``shape`` with ``like``'s dtype, on its device."""
    return _make(array_module(like._data).zeros(shape, dtype=like._data.dtype))


class RNNBase(Module):
    """Shared construction, checks and the layer/direction loop of ``RNN``, ``LSTM`` and ``GRU``."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        num_directions = 2 if bidirectional else 1
        if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
                f"num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                stacklevel=2,
            )
        if not isinstance(bias, bool):
            raise TypeError(f"bias should be of type bool, got: {type(bias).__name__}")
        if not isinstance(batch_first, bool):
            raise TypeError(f"batch_first should be of type bool, got: {type(batch_first).__name__}")
        if not isinstance(input_size, int):
            raise TypeError(f"input_size should be of type int, got: {type(input_size).__name__}")
        if input_size <= 0:
            raise ValueError("input_size must be greater than zero")
        if not isinstance(hidden_size, int):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        gate_size = _GATES[mode] * hidden_size
        real_hidden_size = proj_size if proj_size > 0 else hidden_size  # the size of h (and of each output)
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input_size = input_size if layer == 0 else real_hidden_size * num_directions
                suffix = "_reverse" if direction == 1 else ""
                shapes = [
                    ("weight_ih_l{}{}", (gate_size, layer_input_size)),
                    ("weight_hh_l{}{}", (gate_size, real_hidden_size)),
                ]
                if bias:
                    shapes += [("bias_ih_l{}{}", (gate_size,)), ("bias_hh_l{}{}", (gate_size,))]
                if proj_size > 0:
                    shapes.append(("weight_hr_l{}{}", (proj_size, hidden_size)))
                names = []
                for pattern, shape in shapes:
                    name = pattern.format(layer, suffix)
                    setattr(self, name, Parameter(_empty(*shape, dtype=dtype, device=device)))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, name, None) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """A no-op (torch uses it to pack cuDNN weights)."""

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    # ------------------------------------------------------------------ checks (torch's messages)
    def check_input(self, input: Tensor, batch_sizes) -> None:
        weight = self._parameters[self._flat_weights_names[0]]
        if input.dtype != weight.dtype:
            raise ValueError(
                f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight.dtype}). "
                f"Convert input: input.to({weight.dtype}), or convert model: model.to({input.dtype})"
            )
        expected_input_dim = 2 if batch_sizes is not None else 3
        if input.dim() != expected_input_dim:
            raise RuntimeError(f"input must have {expected_input_dim} dimensions, got {input.dim()}")
        if self.input_size != input.size(-1):
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got {input.size(-1)}")

    def get_expected_hidden_size(self, input: Tensor, batch_sizes) -> tuple[int, int, int]:
        if batch_sizes is not None:
            mini_batch = int(batch_sizes[0])
        else:
            mini_batch = input.size(0) if self.batch_first else input.size(1)
        num_directions = 2 if self.bidirectional else 1
        return (self.num_layers * num_directions, mini_batch, self.proj_size or self.hidden_size)

    def check_hidden_size(self, hx: Tensor, expected_hidden_size, msg: str = "Expected hidden size {}, got {}") -> None:
        if tuple(hx.size()) != tuple(expected_hidden_size):
            raise RuntimeError(msg.format(expected_hidden_size, list(hx.size())))

    def check_forward_args(self, input: Tensor, hidden: Tensor, batch_sizes) -> None:
        self.check_input(input, batch_sizes)
        self.check_hidden_size(hidden, self.get_expected_hidden_size(input, batch_sizes))

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # ------------------------------------------------------------------ the recurrence
    def _run(self, x: Tensor, hx: Tensor | None, cx: Tensor | None, batch_sizes):
        """x: (T, B, I) time-major; hx, cx: (L*D, B, H) or None. Returns (output, h_n, c_n or None)."""
        num_directions = 2 if self.bidirectional else 1
        params = self._parameters
        lstm = self.mode == "LSTM"
        layer_input = x
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(num_directions):
                k = layer * num_directions + direction
                names = self._all_weights[k]
                w_ih, w_hh = params[names[0]], params[names[1]]
                b_ih, b_hh = (params[names[2]], params[names[3]]) if self.bias else (None, None)
                h0 = hx[k] if hx is not None else None
                c0 = cx[k] if cx is not None else None
                if self.proj_size > 0:
                    w_hr = params[names[-1]]
                    result = _lstm_projected_layer(layer_input, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, direction == 1, batch_sizes)
                else:
                    result = rnn_layer(self.mode, layer_input, h0, c0, w_ih, w_hh, b_ih, b_hh, direction == 1, batch_sizes)
                outputs.append(result[0])
                h_n.append(result[1])
                if lstm:
                    c_n.append(result[2])
            layer_input = outputs[0] if num_directions == 1 else _mv.cat(outputs, 2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        return layer_input, _mv.stack(h_n, 0), (_mv.stack(c_n, 0) if lstm else None)

    def _forward(self, input, hx):
        """Common forward of the three modules; ``hx`` is a tensor, or an (h, c) pair for LSTM."""
        lstm = self.mode == "LSTM"
        name = "RNN" if self.mode.startswith("RNN") else self.mode
        if isinstance(input, PackedSequence):
            data, batch_sizes_t, sorted_indices, unsorted_indices = input
            batch_sizes = [int(b) for b in batch_sizes_t._data] if isinstance(batch_sizes_t, Tensor) else [int(b) for b in batch_sizes_t]
            self.check_input(data, batch_sizes)
            x = packed_to_padded(data, batch_sizes)
            h0, c0 = (hx if hx is not None else (None, None)) if lstm else (hx, None)
            if sorted_indices is not None:
                h0 = h0.index_select(1, sorted_indices) if h0 is not None else None
                c0 = c0.index_select(1, sorted_indices) if c0 is not None else None
            self._check_hidden(data, h0, c0, batch_sizes)
            out, h_n, c_n = self._run(x, h0, c0, batch_sizes)
            output = PackedSequence(padded_to_packed(out, batch_sizes), batch_sizes_t, sorted_indices, unsorted_indices)
            if unsorted_indices is not None:
                h_n = h_n.index_select(1, unsorted_indices)
                c_n = c_n.index_select(1, unsorted_indices) if c_n is not None else None
            return output, ((h_n, c_n) if lstm else h_n)

        if input.dim() not in (2, 3):
            suffix = " tensor instead" if name == "RNN" else " instead"
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D{suffix}")
        is_batched = input.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        h0 = c0 = None
        if hx is not None:
            h0, c0 = hx if lstm else (hx, None)
            want = 3 if is_batched else 2
            if lstm:
                if h0.dim() != want or c0.dim() != want:
                    kind = "batched 3-D input, hx and cx should also be 3-D" if is_batched else "unbatched 2-D input, hx and cx should also be 2-D"
                    raise RuntimeError(f"For {kind} but got ({h0.dim()}-D, {c0.dim()}-D) tensors")
            elif h0.dim() != want:
                kind = "batched 3-D input, hx should also be 3-D" if is_batched else "unbatched 2-D input, hx should also be 2-D"
                raise RuntimeError(f"For {kind} but got {h0.dim()}-D tensor")
            if not is_batched:
                h0 = h0.unsqueeze(1)
                c0 = c0.unsqueeze(1) if c0 is not None else None
        if not is_batched:
            input = input.unsqueeze(batch_dim)
        self.check_input(input, None)
        self._check_hidden(input, h0, c0, None)
        x = input.transpose(0, 1) if self.batch_first else input
        out, h_n, c_n = self._run(x, h0, c0, None)
        if self.batch_first:
            out = out.transpose(0, 1)
        if not is_batched:
            out = out.squeeze(batch_dim)
            h_n = h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        return out, ((h_n, c_n) if lstm else h_n)

    def _check_hidden(self, input: Tensor, h0, c0, batch_sizes) -> None:
        expected = self.get_expected_hidden_size(input, batch_sizes)
        if self.mode == "LSTM":
            if h0 is not None:
                self.check_hidden_size(h0, expected, "Expected hidden[0] size {}, got {}")
            if c0 is not None:
                self.check_hidden_size(c0, self.get_expected_cell_size(input, batch_sizes), "Expected hidden[1] size {}, got {}")
        elif h0 is not None:
            self.check_hidden_size(h0, expected)


def _reject_extra_kwargs(name: str, kwargs: dict) -> None:
    """RNN and GRU take no keyword arguments beyond their signature (``proj_size`` is LSTM's)."""
    if "proj_size" in kwargs:
        raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
    if kwargs:
        raise TypeError(f"{name}.__init__() got an unexpected keyword argument '{next(iter(kwargs))}'")


def _lstm_projected_layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse: bool, batch_sizes):
    """One layer and direction of an LSTM with a projection (torch's ``proj_size``), composed of
    differentiable ops: the input projection of all steps in one GEMM, then per step one GEMM
    for the gates and one for ``h = W_hr (o * tanh(c))``. With ``batch_sizes`` (a packed
    sequence's) only the first ``batch_sizes[t]`` sequences step at time ``t``; the others keep
    their state and output zeros. Returns (output (T, B, P), h_n (B, P), c_n (B, H))."""
    steps, batch = x.shape[0], x.shape[1]
    hidden, proj = w_hr.shape[1], w_hr.shape[0]
    h = h0 if h0 is not None else _zeros((batch, proj), x)
    c = c0 if c0 is not None else _zeros((batch, hidden), x)
    x_gates = F.linear(x, w_ih, b_ih)
    xp = array_module(x._data)
    outputs = [None] * steps
    for t in range(steps - 1, -1, -1) if reverse else range(steps):
        i, f, g, o = (x_gates[t] + F.linear(h, w_hh, b_hh)).chunk(4, 1)
        c_next = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h_next = F.linear(o.sigmoid() * c_next.tanh(), w_hr)
        if batch_sizes is not None and batch_sizes[t] < batch:
            active = _make((xp.arange(batch) < batch_sizes[t])[:, None])
            c = c_next.where(active, c)
            h = h_next.where(active, h)
            outputs[t] = h_next.where(active, 0.0)
        else:
            c, h = c_next, h_next
            outputs[t] = h
    return _mv.stack(outputs, 0), h, c


class RNN(RNNBase):
    """Multi-layer Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or ReLU).

    ``forward(input, hx=None) -> (output, h_n)``; ``input`` is (L, N, H_in), (N, L, H_in) with
    ``batch_first``, (L, H_in) unbatched, or a ``PackedSequence``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        **kwargs,
    ) -> None:
        _reject_extra_kwargs("RNN", kwargs)
        self.nonlinearity = nonlinearity
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device=device, dtype=dtype)

    def forward(self, input: Tensor | PackedSequence, hx: Tensor | None = None) -> tuple[Tensor | PackedSequence, Tensor]:
        return self._forward(input, hx)


class LSTM(RNNBase):
    """Multi-layer LSTM (gates ``i, f, g, o``): ``forward(input, (h_0, c_0)=None) -> (output, (h_n, c_n))``.

    With ``proj_size > 0`` the hidden state is projected, ``h_t = W_hr (o_t * tanh(c_t))``, so
    outputs and ``h`` have ``proj_size`` features (``c`` keeps ``hidden_size``), as in torch;
    those layers run as a per-step composition of ops, slower than the fused kernel.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size, device=device, dtype=dtype)

    def get_expected_cell_size(self, input: Tensor, batch_sizes) -> tuple[int, int, int]:
        layers, batch, _ = self.get_expected_hidden_size(input, batch_sizes)
        return (layers, batch, self.hidden_size)

    def forward(
        self, input: Tensor | PackedSequence, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor | PackedSequence, tuple[Tensor, Tensor]]:
        return self._forward(input, hx)


class GRU(RNNBase):
    """Multi-layer GRU (gates ``r, z, n``): ``forward(input, hx=None) -> (output, h_n)``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        **kwargs,
    ) -> None:
        _reject_extra_kwargs("GRU", kwargs)
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device=device, dtype=dtype)

    def forward(self, input: Tensor | PackedSequence, hx: Tensor | None = None) -> tuple[Tensor | PackedSequence, Tensor]:
        return self._forward(input, hx)


# ---------------------------------------------------------------------------- cells
class RNNCellBase(Module):
    """Parameters ``weight_ih`` (chunks*H, I), ``weight_hh`` (chunks*H, H), ``bias_ih``, ``bias_hh``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device=None, dtype=None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(_empty(num_chunks * hidden_size, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(_empty(num_chunks * hidden_size, hidden_size, dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(_empty(num_chunks * hidden_size, dtype=dtype, device=device))
            self.bias_hh = Parameter(_empty(num_chunks * hidden_size, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nonlinearity = self.__dict__.get("nonlinearity", "tanh")
        if nonlinearity != "tanh":
            s += f", nonlinearity={nonlinearity}"
        return s

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _prepare(self, input: Tensor, hx, name: str, pair: bool = False):
        """Batch a 1-D input and its state; check sizes. Returns (input, hx, is_batched)."""
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        states = list(hx) if pair and hx is not None else ([hx] if hx is not None else [])
        for i, h in enumerate(states):
            if h.dim() not in (1, 2):
                what = f"hx[{i}]" if pair else "hidden"
                raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {h.dim()}D instead")
        is_batched = input.dim() == 2
        if not is_batched:
            input = input.unsqueeze(0)
            states = [h.unsqueeze(0) for h in states]
        if input.size(1) != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.size(1)} expected {self.input_size}")
        for i, h in enumerate(states):
            if h.size(0) != input.size(0):
                raise RuntimeError(f"Input batch size {input.size(0)} doesn't match hidden{i} batch size {h.size(0)}")
            if h.size(1) != self.hidden_size:
                raise RuntimeError(f"hidden{i} has inconsistent hidden_size: got {h.size(1)}, expected {self.hidden_size}")
        if not states:
            zeros = _zeros((input.size(0), self.hidden_size), input)
            states = [zeros, zeros] if pair else [zeros]
        return input, (tuple(states) if pair else states[0]), is_batched


class RNNCell(RNNCellBase):
    """One Elman step: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or ReLU)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh", device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        input, hx, is_batched = self._prepare(input, hx, "RNNCell")
        pre = F.linear(input, self.weight_ih, self.bias_ih) + F.linear(hx, self.weight_hh, self.bias_hh)
        if self.nonlinearity == "tanh":
            ret = pre.tanh()
        elif self.nonlinearity == "relu":
            ret = pre.relu()
        else:
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        return ret if is_batched else ret.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step: ``forward(input, (h, c)=None) -> (h', c')``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        input, (h, c), is_batched = self._prepare(input, hx, "LSTMCell", pair=True)
        gates = F.linear(input, self.weight_ih, self.bias_ih) + F.linear(h, self.weight_hh, self.bias_hh)
        i, f, g, o = gates.chunk(4, 1)
        c_new = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h_new = o.sigmoid() * c_new.tanh()
        if not is_batched:
            return h_new.squeeze(0), c_new.squeeze(0)
        return h_new, c_new


class GRUCell(RNNCellBase):
    """One GRU step: ``h' = (1 - z) * n + z * h``, ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        input, h, is_batched = self._prepare(input, hx, "GRUCell")
        i_r, i_z, i_n = F.linear(input, self.weight_ih, self.bias_ih).chunk(3, 1)
        h_r, h_z, h_n = F.linear(h, self.weight_hh, self.bias_hh).chunk(3, 1)
        r = (i_r + h_r).sigmoid()
        z = (i_z + h_z).sigmoid()
        n = (i_n + r * h_n).tanh()
        ret = n + z * (h - n)
        return ret if is_batched else ret.squeeze(0)
