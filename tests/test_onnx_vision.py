"""ONNX export of what a YOLO-style detector is made of: Conv-BN-SiLU blocks, residual adds,
SPPF (MaxPool2d(5, 1, 2) three times), nearest upsampling + concat, split/chunk, sigmoid heads,
flatten/permute/reshape; ``interpolate``/``Upsample`` become ONNX ``Resize``. onnxruntime must
reproduce backprop's outputs, also on other batch sizes and image sizes (dynamic axes)."""

from __future__ import annotations

import io

import numpy as np
import pytest

import backprop
import backprop.nn as nn
import backprop.nn.functional as F
import backprop.onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOL = 1e-4


def _session(data: bytes):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def _export(model, x, **kwargs):
    buf = io.BytesIO()
    proto = backprop.onnx.export(model, (x,), buf, input_names=["images"], **kwargs)
    onnx.checker.check_model(proto, full_check=True)
    return proto, _session(buf.getvalue())


def _check(model, sess, inputs):
    model.eval()
    for x in inputs:
        got = sess.run(None, {"images": x.numpy()})
        with backprop.no_grad():
            want = model(x)
        want = [want] if isinstance(want, backprop.Tensor) else list(want)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == tuple(w.shape)
            np.testing.assert_allclose(g, w.numpy(), rtol=TOL, atol=TOL)


def _op_types(proto) -> set:
    return {n.op_type for n in proto.graph.node}


# ---------------------------------------------------------------------------- the detector's layers
def conv_bn_silu(c_in: int, c_out: int, k: int = 3, s: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, s, k // 2, bias=False), nn.BatchNorm2d(c_out), nn.SiLU())


class Bottleneck(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.cv1, self.cv2 = conv_bn_silu(c, c, 1), conv_bn_silu(c, c, 3)

    def forward(self, x):
        return x + self.cv2(self.cv1(x))


class C2f(nn.Module):
    """CSP stage: split the channels with ``chunk``, run a bottleneck on one half, concat all."""

    def __init__(self, c: int):
        super().__init__()
        self.cv1, self.m, self.cv2 = conv_bn_silu(c, c, 1), Bottleneck(c // 2), conv_bn_silu(3 * c // 2, c, 1)

    def forward(self, x):
        a, b = self.cv1(x).chunk(2, 1)
        return self.cv2(backprop.cat([a, b, self.m(b)], 1))


class SPPF(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.cv1, self.pool, self.cv2 = conv_bn_silu(c, c // 2, 1), nn.MaxPool2d(5, 1, 2), conv_bn_silu(2 * c, c, 1)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.pool(x)
        y2 = self.pool(y1)
        return self.cv2(backprop.cat([x, y1, y2, self.pool(y2)], 1))


class TinyDetector(nn.Module):
    """Backbone (strides 4, 8), SPPF, an FPN step (Upsample + F.interpolate, concat) and decoupled
    heads at two strides: class scores (sigmoid) and 4 box numbers, as (N, anchors, values)."""

    def __init__(self, n_cls: int = 3):
        super().__init__()
        self.stem = conv_bn_silu(3, 8, 3, 2)
        self.s1 = nn.Sequential(conv_bn_silu(8, 16, 3, 2), C2f(16))
        self.s2 = nn.Sequential(conv_bn_silu(16, 16, 3, 2), SPPF(16))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.fuse = conv_bn_silu(32, 16, 1)
        self.cls = nn.ModuleList([nn.Conv2d(16, n_cls, 1) for _ in range(2)])
        self.box = nn.ModuleList([nn.Conv2d(16, 4, 1) for _ in range(2)])
        self.n_cls = n_cls

    def forward(self, x):
        p3 = self.s1(self.stem(x))
        p4 = self.s2(p3)
        f3 = self.fuse(backprop.cat([self.up(p4), p3], 1))
        f4 = f3 + F.interpolate(p4, scale_factor=2, mode="nearest")  # the functional spelling too
        f4 = F.max_pool2d(f4, 2)
        outs = []
        for i, f in enumerate((f3, f4)):
            n = f.shape[0]
            cls = self.cls[i](f).sigmoid().flatten(2).permute(0, 2, 1)
            box = self.box[i](f).reshape(n, 4, -1).permute(0, 2, 1)
            outs.append(backprop.cat([box, cls], 2))
        both = backprop.cat(outs, 1)
        box, cls = both.split([4, self.n_cls], dim=2)
        return box, cls


def _randomize_batchnorm(model):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.normal_()
            m.bias.data.normal_()


def test_detector_exports_and_matches_onnxruntime_on_other_batch_and_image_sizes():
    backprop.manual_seed(0)
    model = TinyDetector()
    _randomize_batchnorm(model)
    proto, sess = _export(
        model, backprop.randn(2, 3, 32, 32), output_names=["boxes", "scores"],
        dynamic_axes={"images": {0: "batch", 2: "height", 3: "width"}, "boxes": {0: "batch", 1: "anchors"}, "scores": {0: "batch", 1: "anchors"}},
    )  # fmt: skip
    assert {"Conv", "BatchNormalization", "Sigmoid", "MaxPool", "Resize", "Concat", "Split", "Transpose", "Reshape"} <= _op_types(proto)
    assert "Gather" not in _op_types(proto)  # upsampling is one Resize, not index gathers
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]
    assert [d.dim_param or d.dim_value for d in proto.graph.output[1].type.tensor_type.shape.dim] == ["batch", "anchors", 3]
    _check(model, sess, [backprop.randn(2, 3, 32, 32), backprop.randn(5, 3, 32, 32), backprop.randn(1, 3, 64, 96)])


def test_detector_static_export_runs_in_onnxruntime():
    backprop.manual_seed(1)
    model = TinyDetector(n_cls=5)
    _randomize_batchnorm(model)
    x = backprop.randn(1, 3, 64, 64)
    _, sess = _export(model, x)
    _check(model, sess, [x])


def test_sppf_maxpool_keeps_the_size_and_matches():
    backprop.manual_seed(2)
    model = SPPF(8)
    _randomize_batchnorm(model)
    proto, sess = _export(model, backprop.randn(2, 8, 9, 7), dynamic_axes={"images": {0: "batch"}})
    pools = [n for n in proto.graph.node if n.op_type == "MaxPool"]
    assert len(pools) == 3
    for node in pools:
        attrs = {a.name: list(a.ints) for a in node.attribute if a.ints}
        assert attrs["kernel_shape"] == [5, 5] and attrs["strides"] == [1, 1] and attrs["pads"] == [2, 2, 2, 2]
    _check(model, sess, [backprop.randn(2, 8, 9, 7), backprop.randn(3, 8, 9, 7)])


# ---------------------------------------------------------------------------- interpolate -> Resize
class Interp(nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.kwargs = kwargs

    def forward(self, x):
        return F.interpolate(x, **self.kwargs)


RESIZE_CASES = [
    dict(scale_factor=2, mode="nearest"),
    dict(scale_factor=3, mode="nearest"),
    dict(scale_factor=1.5, mode="nearest"),
    dict(scale_factor=0.5, mode="nearest"),
    dict(scale_factor=(2, 3), mode="nearest"),
    dict(size=(7, 5), mode="nearest"),
    dict(size=(3, 11), mode="nearest"),
    dict(scale_factor=2, mode="nearest-exact"),
    dict(size=(7, 13), mode="nearest-exact"),
    dict(scale_factor=0.5, mode="nearest-exact"),
    dict(scale_factor=2, mode="bilinear", align_corners=False),
    dict(scale_factor=0.5, mode="bilinear", align_corners=False),
    dict(size=(7, 13), mode="bilinear", align_corners=False),
    dict(size=(1, 4), mode="bilinear", align_corners=False),
    dict(scale_factor=2, mode="bilinear", align_corners=True),
    dict(size=(7, 13), mode="bilinear", align_corners=True),
    dict(size=(1, 5), mode="bilinear", align_corners=True),
    dict(scale_factor=2.5, mode="bilinear", recompute_scale_factor=True),
]


@pytest.mark.parametrize("kwargs", RESIZE_CASES, ids=lambda k: "-".join(f"{a}={b}" for a, b in k.items()))
def test_interpolate_exports_as_resize(kwargs):
    backprop.manual_seed(3)
    model = Interp(**kwargs)
    x = backprop.randn(2, 3, 6, 9)
    proto, sess = _export(model, x, dynamic_axes={"images": {0: "batch"}})
    ops = [n.op_type for n in proto.graph.node]
    # one Resize; output sizes (not factors) are completed with the dynamic batch dim (Shape, Concat)
    assert ops == (["Resize"] if "scale_factor" in kwargs and not kwargs.get("recompute_scale_factor") else ["Shape", "Concat", "Resize"])
    _check(model, sess, [x, backprop.randn(4, 3, 6, 9)])


@pytest.mark.parametrize("shape", [(2, 3, 10), (1, 2, 3, 4, 5)])
def test_nearest_resize_of_1d_and_3d_inputs(shape):
    model = Interp(scale_factor=2, mode="nearest")
    x = backprop.randn(*shape)
    proto, sess = _export(model, x)
    assert _op_types(proto) == {"Resize"}
    _check(model, sess, [x])


def test_upsample_modules_and_dynamic_image_size():
    model = nn.Sequential(nn.Upsample(scale_factor=2), nn.UpsamplingNearest2d(scale_factor=2), nn.UpsamplingBilinear2d(scale_factor=2))
    x = backprop.randn(1, 2, 4, 5)
    proto, sess = _export(model, x, dynamic_axes={"images": {0: "batch", 2: "h", 3: "w"}})
    assert [n.op_type for n in proto.graph.node] == ["Resize"] * 3
    _check(model, sess, [x, backprop.randn(3, 2, 7, 3)])


def test_interpolate_without_a_resize_equivalent_exports_its_primitives():
    # bicubic / anti-aliased / float64: no single Resize reproduces backprop's result; the
    # gathers and weighted sums it is computed with are exported instead.
    for kwargs in (dict(scale_factor=2, mode="bicubic"), dict(size=(3, 4), mode="bilinear", antialias=True)):
        model = Interp(**kwargs)
        x = backprop.randn(1, 2, 6, 8)
        proto, sess = _export(model, x)
        assert "Resize" not in _op_types(proto)
        _check(model, sess, [x])
    model = Interp(scale_factor=2, mode="nearest")
    x = backprop.randn(1, 2, 3, 4, dtype=backprop.float64)
    proto, sess = _export(model, x)
    assert "Resize" not in _op_types(proto)
    _check(model, sess, [x])


def test_detector_on_device_exports_like_the_cpu_model(device):
    """The detector moved to ``device`` (cpu, or the fake CUDA device) exports the CPU model's graph,
    Resize included, and onnxruntime reproduces the CPU outputs on other batch and image sizes."""
    backprop.manual_seed(4)
    model = TinyDetector()
    _randomize_batchnorm(model)
    model.eval()
    x, other = backprop.randn(2, 3, 32, 32), backprop.randn(3, 3, 64, 32)
    with backprop.no_grad():
        want = [[w.numpy().copy() for w in model(t)] for t in (x, other)]
    model.to(device)
    proto, sess = _export(model, x.to(device), dynamic_axes={"images": {0: "batch", 2: "height", 3: "width"}})
    assert "Resize" in _op_types(proto) and "Gather" not in _op_types(proto)
    for t, outs in zip((x, other), want):
        got = sess.run(None, {"images": t.numpy()})
        for g, w in zip(got, outs):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("opset", [13, 18, 20])
def test_resize_in_other_opsets(opset):
    model = nn.Sequential(nn.Upsample(scale_factor=2), nn.Upsample(size=(9, 7), mode="bilinear", align_corners=True))
    x = backprop.randn(2, 3, 4, 5)
    proto, sess = _export(model, x, opset_version=opset, dynamic_axes={"images": {0: "batch"}})
    assert proto.opset_import[0].version == opset and "Resize" in _op_types(proto)
    _check(model, sess, [x, backprop.randn(1, 3, 4, 5)])


def test_inplace_silu_mish_hardswish_export(tmp_path):
    """In-place activations whose gradient needs the input (computed from a copy while autograd records)
    export like the out-of-place ones."""
    ort = pytest.importorskip("onnxruntime")
    for act in (backprop.nn.SiLU(inplace=True), backprop.nn.Mish(inplace=True), backprop.nn.Hardswish(inplace=True)):
        backprop.manual_seed(0)
        model = backprop.nn.Sequential(backprop.nn.Conv2d(3, 4, 3, padding=1), act, backprop.nn.Conv2d(4, 2, 1))
        x = backprop.randn(2, 3, 8, 8)
        path = tmp_path / "m.onnx"
        backprop.onnx.export(model, (x,), str(path), input_names=["x"], dynamic_axes={"x": {0: "batch"}})
        got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})[0]
        with backprop.no_grad():
            want = model(x).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
