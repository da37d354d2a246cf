"""backprop.onnx.export: the exported graphs pass onnx.checker and onnxruntime reproduces the
model's outputs (also on other batch sizes with dynamic_axes)."""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pytest

import backprop
import backprop.nn as nn
import backprop.nn.functional as F
import backprop.onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOL = 1e-4


def _session(model_bytes_or_path):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(model_bytes_or_path, opts, providers=["CPUExecutionProvider"])


def _outputs(result) -> list:
    if isinstance(result, backprop.Tensor):
        return [result]
    if isinstance(result, dict):
        return [v for v in result.values() if isinstance(v, backprop.Tensor)]
    return [r for r in result if isinstance(r, backprop.Tensor)]


def export_and_compare(model, args, *, feeds=(), input_names=None, **kwargs):
    """Export, run onnx.checker (full) and compare onnxruntime with backprop on ``args`` and ``feeds``."""
    args = args if isinstance(args, tuple) else (args,)
    names = input_names or [f"input_{i}" for i in range(len(args))]
    buf = io.BytesIO()
    proto = backprop.onnx.export(model, args, buf, input_names=names, **kwargs)
    onnx.checker.check_model(proto, full_check=True)
    sess = _session(buf.getvalue())
    model.eval()
    for inputs in [args, *feeds]:
        got = sess.run(None, {n: t.numpy() for n, t in zip(names, inputs)})
        with backprop.no_grad():
            want = _outputs(model(*inputs))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == tuple(w.shape)
            np.testing.assert_allclose(g, w.numpy(), rtol=TOL, atol=TOL)
    return proto


# ---------------------------------------------------------------------------- models
def _randomize_batchnorm(model):
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.normal_()
            m.bias.data.normal_()


class CausalSelfAttentionLM(nn.Module):
    """A tiny GPT: token + position embeddings, one pre-norm block with hand-written causal attention."""

    def __init__(self, vocab=23, dim=16, heads=2, block=8):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(block, dim)
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, 4 * dim)
        self.out = nn.Linear(4 * dim, dim)
        self.drop = nn.Dropout(0.1)
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)
        self.heads = heads
        self.register_buffer("mask", backprop.tril(backprop.ones(block, block)).view(1, 1, block, block))

    def forward(self, idx):
        B, T = idx.shape
        C = self.tok.weight.shape[1]
        x = self.tok(idx) + self.pos(backprop.arange(T))
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q = q.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        k = k.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        v = v.view(B, T, self.heads, C // self.heads).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
        att = self.drop(F.softmax(att, dim=-1))
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.proj(y)
        x = x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))
        return self.head(F.gelu(self.ln_f(x)))


def test_mlp_matches_onnxruntime_and_names_initializers(tmp_path):
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3))
    path = tmp_path / "mlp.onnx"
    x = backprop.randn(4, 6)
    proto = backprop.onnx.export(model, (x,), str(path))
    assert isinstance(proto, onnx.ModelProto)
    onnx.checker.check_model(str(path), full_check=True)
    assert {t.name for t in proto.graph.initializer} >= set(model.state_dict())
    (got,) = _session(str(path)).run(None, {"input": x.numpy()})
    assert model.training  # export ran in eval mode and restored the mode
    np.testing.assert_allclose(got, model.eval()(x).detach().numpy(), rtol=TOL, atol=TOL)


def test_cnn_with_batchnorm_and_pooling():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 12, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(12), nn.LeakyReLU(0.2),
        nn.AvgPool2d(2), nn.Conv2d(12, 12, 1, groups=3), nn.SiLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Dropout(0.3), nn.Linear(12, 5), nn.LogSoftmax(dim=1),
    )  # fmt: skip
    _randomize_batchnorm(model)
    export_and_compare(model, backprop.randn(2, 3, 16, 16))


def test_small_resnet():
    from backprop.cli.models import resnet

    model = resnet((3, 16, 16), 10)
    _randomize_batchnorm(model)
    proto = export_and_compare(
        model, backprop.randn(2, 3, 16, 16), dynamic_axes={"input_0": {0: "batch"}}, feeds=[(backprop.randn(5, 3, 16, 16),)]
    )
    ops = {n.op_type for n in proto.graph.node}
    assert {"Conv", "Relu"} <= ops and ops & {"MatMul", "Gemm"}  # the Linear head is a Gemm


def test_transformer_with_handwritten_causal_attention():
    model = CausalSelfAttentionLM()
    idx = backprop.randint(0, 23, (2, 6))
    export_and_compare(
        model,
        idx,
        input_names=["idx"],
        dynamic_axes={"idx": {0: "batch", 1: "seq"}},
        feeds=[(backprop.randint(0, 23, (3, 8)),), (backprop.randint(0, 23, (1, 3)),)],
    )


@pytest.mark.skipif(not hasattr(nn, "TransformerEncoderLayer"), reason="nn.TransformerEncoderLayer is not available")
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_layer(norm_first):
    layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, batch_first=True, activation="gelu", norm_first=norm_first)
    src = backprop.randn(2, 5, 16)
    export_and_compare(layer, src, input_names=["src"], dynamic_axes={"src": [0, 1]}, feeds=[(backprop.randn(3, 7, 16),)])


@pytest.mark.skipif(not hasattr(nn, "MultiheadAttention"), reason="nn.MultiheadAttention is not available")
@pytest.mark.parametrize("bool_mask", [False, True])
def test_multihead_attention_with_causal_mask(bool_mask):
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(16, 4, batch_first=True)

        def forward(self, x):
            T = x.shape[1]
            if bool_mask:
                mask = backprop.triu(backprop.ones(T, T, dtype=backprop.bool), diagonal=1)
            else:
                mask = backprop.triu(backprop.full((T, T), float("-inf")), diagonal=1)
            return self.attn(x, x, x, attn_mask=mask)

    x = backprop.randn(2, 5, 16)
    # A bool mask is converted to a float one outside the traced ops: its sequence length stays fixed.
    axes = [0] if bool_mask else [0, 1]
    other = backprop.randn(3, 5, 16) if bool_mask else backprop.randn(3, 7, 16)
    export_and_compare(Block(), x, input_names=["x"], dynamic_axes={"x": axes}, feeds=[(other,)])


def test_dynamic_axes_give_symbolic_dims_and_run_other_batch_sizes():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    proto = export_and_compare(
        model,
        backprop.randn(2, 3, 8, 8),
        input_names=["images"],
        output_names=["logits"],
        dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
        feeds=[(backprop.randn(7, 3, 8, 8),), (backprop.randn(1, 3, 8, 8),)],
    )
    (inp,) = proto.graph.input
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [3, 8, 8]
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_dynamic_axes_list_form_names_the_dims():
    model = nn.Linear(3, 2)
    proto = backprop.onnx.export(model, backprop.randn(4, 3), None, input_names=["x"], dynamic_axes={"x": [0]})
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "x_dynamic_axes_1"


def test_input_and_output_names():
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(4, 8)
            self.a = nn.Linear(8, 2)
            self.b = nn.Linear(8, 3)

        def forward(self, x, y):
            h = F.relu(self.body(x) + y)
            return self.a(h), self.b(h).softmax(-1)

    model = TwoHeads()
    x, y = backprop.randn(2, 4), backprop.randn(2, 8)
    proto = backprop.onnx.export(model, (x, y), None, input_names=["features", "offset"], output_names=["scores", "probs"])
    assert [i.name for i in proto.graph.input] == ["features", "offset"]
    assert [o.name for o in proto.graph.output] == ["scores", "probs"]
    sess = _session(proto.SerializeToString())
    probs = sess.run(["probs"], {"features": x.numpy(), "offset": y.numpy()})[0]
    np.testing.assert_allclose(probs, model(x, y)[1].detach().numpy(), rtol=TOL, atol=TOL)


def test_unsupported_op_raises_naming_it_and_the_module():
    class Angle(nn.Module):
        def forward(self, x):
            return backprop.atan2(x[:, :1], x[:, 1:])

    model = nn.Sequential(nn.Linear(3, 2), Angle())
    with pytest.raises(backprop.onnx.UnsupportedOperatorError, match="Atan2") as info:
        backprop.onnx.export(model, backprop.randn(2, 3), None)
    assert isinstance(info.value, RuntimeError)
    assert "'1 (Angle)'" in str(info.value)
    assert info.value.op == "Atan2"


def test_layers_and_tensor_ops():
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.up = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)
            self.conv1d = nn.Conv1d(4, 6, 3, padding=1)
            self.bn = nn.BatchNorm1d(6)

        def forward(self, img, seq, idx):
            z = F.gelu(self.up(img))
            s = self.bn(self.conv1d(seq))
            s = backprop.cat([s.sigmoid(), F.elu(seq[:, :2]), F.softplus(seq[:, -1:], beta=2.0)], dim=1)
            t = s.permute(0, 2, 1).reshape(seq.shape[0], -1)
            picked = t[:, idx] + t[0, idx]
            stats = backprop.stack([s.amax(-1), s.mean(-1), s.std(-1), s.sum(-1).clamp(-1, 1)], dim=-1)
            return z.flatten(1)[:, ::3], picked, stats, s.max(dim=1).indices, F.hardtanh(s.transpose(1, 2)).flip(-1)

    model = Mixed()
    _randomize_batchnorm(model)
    args = (backprop.randn(2, 4, 5, 5), backprop.randn(2, 4, 7), backprop.tensor([0, 5, 2, 9]))
    export_and_compare(model, args)


def test_inplace_ops_and_activations():
    class InPlace(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(5, 5)
            self.act = nn.ReLU(inplace=True)

        def forward(self, x):
            x.mul_(2.0)
            y = self.act(self.fc(x))
            y += x
            y[:, 0] = 0.5
            y.clamp_(max=1.0)
            return F.leaky_relu(y, 0.1), F.silu(y), y.tanh() * y.sigmoid(), F.softmax(y, 0), F.log_softmax(y, -1)

    export_and_compare(InPlace(), backprop.randn(3, 5))


def test_export_restores_model_state_and_leaves_inputs_untouched():
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3), nn.Dropout(0.5))
    model.train()
    model[0].weight.requires_grad_(False)
    x = backprop.randn(4, 3)
    before = x.numpy().copy()
    stats = model[1].running_mean.numpy().copy()
    seen = []

    class Probe(nn.Module):
        def forward(self, t):
            seen.append(backprop.onnx.is_in_onnx_export())
            return t

    model.append(Probe())
    backprop.onnx.export(model, x, None)
    assert model.training and not model[0].weight.requires_grad and model[0].bias.requires_grad
    np.testing.assert_array_equal(x.numpy(), before)
    np.testing.assert_array_equal(model[1].running_mean.numpy(), stats)
    assert seen and all(seen) and not backprop.onnx.is_in_onnx_export()


def test_export_params_false_and_keep_initializers_as_inputs():
    model = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 2))
    x = backprop.randn(2, 3)
    proto = backprop.onnx.export(model, x, None, export_params=False, input_names=["x"])
    names = [i.name for i in proto.graph.input]
    assert names[0] == "x" and set(names[1:]) == set(model.state_dict())
    assert not any(t.name in model.state_dict() for t in proto.graph.initializer)
    feeds = {"x": x.numpy(), **{k: v.detach().numpy() for k, v in model.state_dict().items()}}
    (got,) = _session(proto.SerializeToString()).run(None, feeds)
    np.testing.assert_allclose(got, model(x).detach().numpy(), rtol=TOL, atol=TOL)
    kept = backprop.onnx.export(model, x, None, keep_initializers_as_inputs=True)
    assert {i.name for i in kept.graph.input} >= set(model.state_dict())


@pytest.mark.parametrize("opset", [13, 18])
def test_other_opsets_and_no_constant_folding(opset):
    model = CausalSelfAttentionLM()
    proto = export_and_compare(model, backprop.randint(0, 23, (2, 5)), opset_version=opset, do_constant_folding=False)
    assert proto.opset_import[0].version == opset


def test_int_inputs_modified_in_place_are_refused():
    class Shift(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 3)

        def forward(self, ids):
            ids += 1  # an untraced write on an integer tensor
            return self.emb(ids)

    with pytest.raises(backprop.onnx.OnnxExporterError, match="modified in place"):
        backprop.onnx.export(Shift(), backprop.randint(0, 5, (2, 3)), None)


def test_value_dependent_python_constants_are_refused():
    class Leaky(nn.Module):
        def forward(self, x):
            return x * backprop.tensor(x.sum().item())  # the value leaves the graph through .item()

    with pytest.raises(backprop.onnx.UnsupportedOperatorError, match="depend on the input values"):
        backprop.onnx.export(Leaky(), backprop.randn(3), None)


def test_custom_function_can_register_a_converter():
    class Cube(backprop.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            raise NotImplementedError

    class M(nn.Module):
        def forward(self, x):
            return Cube.apply(x) + 1

    with pytest.raises(backprop.onnx.UnsupportedOperatorError, match="Cube"):
        backprop.onnx.export(M(), backprop.randn(2), None)
    backprop.onnx.register_converter(Cube, lambda g, rec: g.op("Pow", [g.name(rec.args[0]), g.scalar(3.0, rec.args[0].dtype)]))
    try:
        export_and_compare(M(), backprop.randn(2))
    finally:
        backprop.onnx.register_converter(Cube, None)


def test_supported_ops_lists_the_primitives():
    ops = backprop.onnx.supported_ops()
    for name in ("Add", "MatMul", "Conv2d", "ConvInput", "Softmax", "Reshape", "Index", "Embedding", "gt"):
        assert name in ops


def test_bad_opset_and_unknown_keyword():
    with pytest.raises(ValueError, match="opset"):
        backprop.onnx.export(nn.Linear(2, 2), backprop.randn(1, 2), None, opset_version=9)
    with pytest.raises(TypeError):
        backprop.onnx.export(nn.Linear(2, 2), backprop.randn(1, 2), None, not_an_option=True)


def test_exported_file_object_and_no_warnings():
    model = nn.Sequential(nn.Linear(2, 2), nn.Softmax(-1))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        backprop.onnx.export(model, backprop.randn(3, 2), buf, dynamic_axes={"input": [0]})
    loaded = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(loaded)


@pytest.mark.skipif(not hasattr(nn, "LSTM"), reason="nn.LSTM is not available")
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_recurrent_layers(kind):
    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(12, 5)
            self.rnn = getattr(nn, kind)(5, 6, num_layers=2, batch_first=True, bidirectional=True)
            self.out = nn.Linear(12, 3)

        def forward(self, ids):
            seq, _ = self.rnn(self.emb(ids))
            return self.out(seq), seq[:, -1]

    export_and_compare(
        Tagger(), backprop.randint(0, 12, (2, 4)), input_names=["ids"], dynamic_axes={"ids": [0]},
        feeds=[(backprop.randint(0, 12, (3, 4)),)],
    )  # fmt: skip


def test_sorting_and_one_hot():
    class Head(nn.Module):
        def forward(self, x, labels):
            top = x.topk(2, dim=-1)
            ranked = x.sort(dim=0, descending=True).values
            return top.values, top.indices, ranked, x.argsort(-1), F.one_hot(labels, 4).float() * x

    export_and_compare(Head(), (backprop.randn(3, 4), backprop.tensor([0, 3, 1])))


def test_shape_dependent_control_flow_warns():
    class Branchy(nn.Module):
        def forward(self, x):
            return x * 2 if x.shape[0] > 2 else x - 1

    with pytest.warns(backprop.onnx.TracerWarning, match="control flow"):
        backprop.onnx.export(Branchy(), backprop.randn(2, 3), None, dynamic_axes={"input": [0]})


def test_model_on_device_exports_like_the_cpu_model(device):
    """A model moved to ``device`` (cpu, or by default the fake CUDA device of tests/fake_cuda.py)
    exports the graph of the CPU model: initializers copied from the device, constants made in
    forward on the device captured, a second trace (dynamic axes) fed on the device."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.fc = nn.Linear(4 * 4 * 4, 5)
            self.register_buffer("offset", backprop.linspace(-1.0, 1.0, 5))

        def forward(self, x):
            h = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2).flatten(1)
            y = self.fc(h) + self.offset
            y = y * backprop.arange(1, 6, dtype=y.dtype, device=y.device)  # a constant made on the device
            y.clamp_(max=4.0)  # an in-place op
            idx = backprop.tensor([4, 0, 2], device=y.device)
            return F.softmax(y, -1), y[:, idx], (y > 1.0).sum(-1)

    model = Net()
    _randomize_batchnorm(model)
    model.eval()
    x, other = backprop.randn(2, 3, 8, 8), backprop.randn(5, 3, 8, 8)
    with backprop.no_grad():
        want = [[w.numpy().copy() for w in model(t)] for t in (x, other)]
    stats = model.bn.running_mean.numpy().copy()
    model.to(device)
    assert model.fc.weight.device.type == backprop.device(device).type
    buf = io.BytesIO()
    proto = backprop.onnx.export(model, (x.to(device),), buf, input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    onnx.checker.check_model(proto, full_check=True)
    assert {t.name for t in proto.graph.initializer} >= {"conv.weight", "fc.weight", "bn.running_var", "offset"}
    assert model.fc.weight.device.type == model.bn.running_mean.device.type == backprop.device(device).type
    np.testing.assert_array_equal(model.bn.running_mean.cpu().numpy(), stats)
    sess = _session(buf.getvalue())
    for t, outs in zip((x, other), want):
        got = sess.run(None, {"x": t.numpy()})
        assert len(got) == len(outs)
        for g, w in zip(got, outs):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=TOL, atol=TOL)
