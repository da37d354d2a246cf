"""backprop.diagnostics (GradientMonitor, plots, graphs, HTML report), the TensorBoard
SummaryWriter and `backprop train --diagnose/--report`."""

from __future__ import annotations

import base64
import glob
import json
import math
import os
import struct
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

import backprop as torch
from backprop import nn
from backprop.cli.models import resnet
from backprop.diagnostics import GradientMonitor, Issue, Report, draw_graph, plot_gradient_flow, write_html_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------- helpers
def batches(shape, n=4, batch=32, seed=0):
    rng = np.random.default_rng(seed)
    return [
        (torch.from_numpy(rng.standard_normal((batch, *shape)).astype(np.float32)), torch.from_numpy(rng.integers(0, 10, batch)))
        for _ in range(n)
    ]


def train(model, data, opt=None, monitor_kwargs=None):
    monitor = GradientMonitor(model, opt, **(monitor_kwargs or {}))
    for x, y in data:
        if opt is not None:
            opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        if opt is not None:
            opt.step()
    return monitor


def mlp(depth, act, width=32, inp=64):
    layers, w = [], inp
    for _ in range(depth - 1):
        layers += [nn.Linear(w, width), act()]
        w = width
    return nn.Sequential(*layers, nn.Linear(w, 10))


def kinds(monitor) -> list:
    return [i.kind for i in monitor.issues()]


class BNCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        return self.head(self.features(x))


# ---------------------------------------------------------------------------- detection
def test_deep_sigmoid_mlp_is_flagged_as_vanishing():
    model = mlp(30, nn.Sigmoid)
    monitor = train(model, batches((64,), n=3), torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9))
    issues = monitor.issues()
    assert [i.kind for i in issues] == ["vanishing"]
    issue = issues[0]
    assert issue.layer == "0"  # the first Linear
    assert issue.evidence["ratio"] < 1e-6
    assert issue.evidence["reference_layer"] != "0"
    assert "residual" in issue.remedy and "vanishing" in str(issue)


def test_large_variance_init_is_flagged_as_exploding():
    model = mlp(10, nn.ReLU, width=64)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 1.0)
    monitor = train(model, batches((64,), n=1))  # one forward/backward, no optimizer
    issues = monitor.issues()
    assert "exploding" in [i.kind for i in issues]
    issue = next(i for i in issues if i.kind == "exploding")
    assert issue.step == 0 and issue.evidence["total_grad_norm"] > 1e6
    assert "clip_grad_norm_" in issue.remedy and "total grad norm" in issue.message


def test_relu_net_with_large_negative_bias_is_flagged_for_dead_units():
    model = mlp(5, nn.ReLU)
    for m in list(model)[:-1]:
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.bias, -10.0)
    monitor = train(model, batches((64,), n=3), torch.optim.SGD(model.parameters(), lr=0.01))
    issue = next(i for i in monitor.issues() if i.kind == "dead_units")
    assert issue.layer == "1"  # the first ReLU
    assert set(issue.evidence["dead_fraction"]) == {"1", "3", "5", "7"}
    assert min(issue.evidence["dead_fraction"].values()) > 0.9
    assert "LeakyReLU" in issue.remedy


def test_healthy_resnet_is_not_flagged():
    model = resnet((1, 8, 8), 10)
    monitor = train(model, batches((1, 8, 8), n=4, batch=16), torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9))
    assert monitor.issues() == []
    rep = monitor.report()
    assert rep.issues == [] and "issues: none found" in str(rep)
    assert all(r.dead_fraction < 0.5 for r in rep.layers if r.dead_fraction is not None)
    assert {"stem.0", "layers.0.conv1", "layers.5.bn2", "fc"} <= {r.name for r in rep.layers}


def test_healthy_batchnorm_cnn_is_not_flagged():
    model = BNCNN()
    monitor = train(model, batches((1, 8, 8), n=4), torch.optim.Adam(model.parameters(), lr=1e-3))
    assert monitor.issues() == []


def test_learning_rate_too_high_and_too_low():
    data = batches((64,), n=3)
    model = mlp(3, nn.Tanh)
    high = train(model, data, torch.optim.SGD(model.parameters(), lr=20.0))
    assert "lr_too_high" in kinds(high)
    model = mlp(3, nn.Tanh)
    low = train(model, data, torch.optim.SGD(model.parameters(), lr=1e-8))
    assert kinds(low) == ["lr_too_low"]
    assert low.issues()[0].evidence["max_update_ratio"] < 1e-5
    model = mlp(3, nn.Tanh)
    assert kinds(train(model, data, torch.optim.Adam(model.parameters(), lr=1e-3))) == []


# ---------------------------------------------------------------------------- numbers and structure
def test_statistics_match_direct_computation():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = GradientMonitor(model, opt, activation_every=1, update_every=1)
    x, y = torch.randn(5, 8), torch.tensor([0, 1, 2, 0, 1])
    acts = {}
    def keep(module, args, out) -> None:
        acts["relu"] = out.detach().numpy().copy()

    handle = model[1].register_forward_hook(keep)
    before = {n: p.detach().numpy().copy() for n, p in model.named_parameters()}
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    grads = {n: p.grad.numpy().copy() for n, p in model.named_parameters()}
    opt.step()
    handle.remove()
    h = monitor.history
    assert h["step"] == [0] and monitor.step == 1
    expected = math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for n, g in grads.items() if n.startswith("0.")))
    assert h["grad_norm"]["0"][0] == pytest.approx(expected, rel=1e-5)
    assert h["param_grad_norm"]["2.bias"][0] == pytest.approx(float(np.linalg.norm(grads["2.bias"])), rel=1e-5)
    total = math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads.values()))
    assert h["total_grad_norm"][0] == pytest.approx(total, rel=1e-5)
    after = {n: p.detach().numpy() for n, p in model.named_parameters()}
    d = sum(float(((after[n] - before[n]) ** 2).sum()) for n in ("2.weight", "2.bias"))
    w = sum(float((before[n] ** 2).sum()) for n in ("2.weight", "2.bias"))
    assert h["update_ratio"]["2"][0] == pytest.approx(math.sqrt(d / w), rel=1e-4)
    a = acts["relu"]
    assert h["act_mean"]["1"][0] == pytest.approx(float(a.mean()), abs=1e-5)
    assert h["act_std"]["1"][0] == pytest.approx(float(a.std()), abs=1e-4)
    assert h["dead_fraction"]["1"][0] == pytest.approx(float((a.max(axis=0) <= 0).mean()))


def test_report_structure_and_printing(capsys):
    model = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    monitor = train(model, batches((64,), n=3), torch.optim.Adam(model.parameters(), lr=1e-3))
    rep = monitor.report()
    assert isinstance(rep, Report) and rep.steps == 3 and rep.sampled_steps == 3
    assert [r.name for r in rep.layers] == ["0", "1", "2"]  # forward order
    assert [r.kind for r in rep.layers] == ["Linear", "ReLU", "Linear"]
    assert [r.params for r in rep.layers] == [64 * 16 + 16, 0, 16 * 10 + 10]
    first = rep.layers[0]
    assert first.grad_norm > 0 and first.grad_rms == pytest.approx(first.grad_norm / math.sqrt(first.params))
    assert 0 < first.update_ratio < 1 and first.weight_norm > 0
    assert rep.layers[1].dead_fraction is not None and rep.layers[1].grad_norm is None
    assert rep.max_total_grad_norm >= rep.total_grad_norm > 0
    json.dumps(rep.to_dict())  # plain data
    text = str(rep)
    for word in ("layer", "grad norm", "update/weight", "dead", "Linear", "ReLU", "total grad norm"):
        assert word in text
    monitor.print_report()
    assert "grad norm" in capsys.readouterr().out
    assert monitor.layer_names == ["0", "2"] == monitor.weight_layer_names
    assert monitor.summary().startswith("no problems found")


def test_sampling_cadence():
    model = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    monitor = train(model, batches((64,), n=6), opt, {"every": 2, "activation_every": 3, "update_every": 6})
    h = monitor.history
    assert monitor.step == 6
    assert h["step"] == [0, 2, 3, 4]
    assert [not math.isnan(v) for v in h["total_grad_norm"]] == [True, True, False, True]
    assert [not math.isnan(v) for v in h["act_mean"]["1"]] == [True, False, True, False]
    assert [not math.isnan(v) for v in h["update_ratio"]["0"]] == [True, False, False, False]


def test_without_optimizer_updates_come_from_weight_snapshots():
    model = nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10))
    monitor = GradientMonitor(model, update_every=1)
    for x, y in batches((64,), n=3):
        model.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
    rep = monitor.report()  # the last backward is included, its update not yet known
    assert rep.steps == 3
    ratios = monitor.history["update_ratio"]["0"]
    assert all(r > 0 for r in ratios[:2]) and math.isnan(ratios[2])
    model.eval()
    with torch.no_grad():
        model(torch.randn(2, 64))  # evaluation forwards are not training steps
    assert monitor.step == 3


def test_remove_detaches_every_hook():
    model = resnet((1, 8, 8), 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def hook_count():
        mods = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
        params = sum(len(p._post_accumulate_hooks or []) for p in model.parameters())
        return mods, params, len(opt._optimizer_step_pre_hooks) + len(opt._optimizer_step_post_hooks)

    assert hook_count() == (0, 0, 0)
    with GradientMonitor(model, opt) as monitor:
        mods, params, steps = hook_count()
        assert mods > 0 and params == len(list(model.parameters())) and steps == 2
    assert hook_count() == (0, 0, 0)
    x, y = batches((1, 8, 8), n=1, batch=4)[0]
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    assert monitor.step == 0 and monitor.history["step"] == []


def _same_history(a, b, rel=1e-4) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same_history(a[k], b[k], rel)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same_history(x, y, rel)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == pytest.approx(b, rel=rel, abs=1e-7)


def test_monitor_on_a_device_model_records_the_cpu_statistics(device):
    """The hooks compute on the device and the commit reads the step's values back at once:
    the history equals the same training's on the CPU; the report and issues work from it."""
    histories = []
    for where in ("cpu", device):
        torch.manual_seed(0)
        model = mlp(3, nn.ReLU, width=16).to(where)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        monitor = GradientMonitor(model, opt, activation_every=1, update_every=1)
        for x, y in batches((64,), n=3, batch=8):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x.to(where)), y.to(where)).backward()
            opt.step()
        histories.append(monitor.history)
        rep = monitor.report()
        assert rep.steps == 3 and rep.layers[0].weight_norm > 0 and rep.layers[1].dead_fraction is not None
    assert all(not math.isnan(v) for v in histories[1]["dead_fraction"]["1"])
    _same_history(histories[1], histories[0])


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # 0 * inf on purpose
def test_dead_units_count_only_finite_activations(device):
    """A ReLU call whose output is not finite says nothing about dead units: the step's dead
    fraction comes from its finite calls, and a step with none records NaN (on every device,
    where the finiteness is only known when the step's values are read back)."""

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 6)
            self.relu = nn.ReLU()

        def forward(self, x, poison):
            h = self.relu(self.fc(x))
            self.relu(h.detach() * poison)  # a second call: NaN (or inf) outputs when poisoned
            return h.sum()

    model = Twice().to(device)
    with torch.no_grad():
        model.fc.weight.copy_(torch.eye(6, 4))  # units 4 and 5 see no input: dead
        model.fc.bias.zero_()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    monitor = GradientMonitor(model, opt, activation_every=1, window=1)
    x = torch.ones(3, 4, device=device)
    for poison in (1.0, float("nan"), float("inf")):
        opt.zero_grad()
        model(x, torch.tensor(poison, device=device)).backward()
        opt.step()
    opt.zero_grad()
    model(x * float("nan"), torch.tensor(float("nan"), device=device)).backward()  # no finite call
    opt.step()
    dead = monitor.history["dead_fraction"]["relu"]
    assert dead[:3] == [pytest.approx(2 / 6)] * 3 and math.isnan(dead[3])


def test_issue_strings_name_layer_evidence_and_remedy():
    issue = Issue("vanishing", "0", "the first layer gets 1e-9", "residual connections", {"ratio": 1e-9}, 3)
    assert str(issue) == "vanishing: the first layer gets 1e-9; try residual connections"


# ---------------------------------------------------------------------------- pictures
def _monitor_with_history():
    model = mlp(4, nn.ReLU)
    return train(model, batches((64,), n=5), torch.optim.SGD(model.parameters(), lr=0.05))


def test_plot_gradient_flow_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread

    monitor = _monitor_with_history()
    path = plot_gradient_flow(monitor, tmp_path / "flow.png", title="mlp")
    data = open(path, "rb").read()
    assert data[:8] == PNG_MAGIC
    width, height = struct.unpack(">II", data[16:24])
    assert width > 500 and height > 200
    assert imread(path).shape[:2] == (height, width)
    both = plot_gradient_flow({"a": monitor, "b": monitor}, tmp_path / "both.png")
    assert struct.unpack(">II", open(both, "rb").read()[16:24])[1] > height  # one row per monitor


def test_plot_without_matplotlib_raises_a_clear_import_error(monkeypatch, tmp_path):
    monitor = _monitor_with_history()
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"backprop\[plot\]"):
        plot_gradient_flow(monitor, tmp_path / "x.png")


def test_draw_graph_dot_for_a_small_graph(tmp_path, monkeypatch):
    a = torch.randn(2, 3, requires_grad=True)
    b = torch.randn(2, 3)
    dot = draw_graph((a * b).sum())
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    lines = dot.splitlines()
    labels = {ln.split(" ", 3)[2]: ln for ln in lines if "[label=" in ln and "->" not in ln}
    assert any('"MulBackward0\\n(2, 3)"' in ln for ln in labels.values())
    assert any('"SumBackward0\\n()"' in ln for ln in labels.values())
    assert any('"leaf (2, 3)\\nrequires_grad"' in ln for ln in lines)
    assert any('"input (2, 3)\\nno grad"' in ln for ln in lines)
    assert sum("->" in ln for ln in lines) == 4  # sum->out, mul->sum, leaf->mul, input->mul
    node_ids = [ln.split()[0] for ln in lines if "[label=" in ln and "->" not in ln]
    assert len(node_ids) == len(set(node_ids)) == 5

    lin = nn.Linear(3, 2)
    dot = draw_graph(lin(torch.randn(4, 3)).relu().mean(), model=lin)
    assert '"weight\\n(2, 3)"' in dot and '"bias\\n(2,)"' in dot and "ReluBackward0" in dot
    assert "leaf" not in dot  # parameters are named

    path = tmp_path / "g.dot"
    assert draw_graph((a * 2).sum(), path) == path.read_text()
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.warns(RuntimeWarning, match="dot"):
        text = draw_graph((a * 2).sum(), tmp_path / "g.svg")
    assert (tmp_path / "g.svg.dot").read_text() == text and "MulBackward0" in text


# ---------------------------------------------------------------------------- TensorBoard
def _read_events(log_dir: str) -> list:
    """All events of the event files under ``log_dir`` (TFRecord framing, tensorboardX's protos)."""
    from tensorboardX.proto import event_pb2

    events = []
    for path in sorted(glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))):
        data = open(path, "rb").read()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            ev = event_pb2.Event()
            ev.ParseFromString(data[pos + 12 : pos + 12 + length])
            events.append(ev)
            pos += 12 + length + 4
    return events


def test_summary_writer_files_are_readable(tmp_path):
    pytest.importorskip("tensorboardX")
    from backprop.utils.tensorboard import SummaryWriter

    log_dir = str(tmp_path / "run")
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with SummaryWriter(log_dir) as w:
        assert w.get_logdir() == log_dir
        w.add_scalar("loss", torch.tensor(0.5), 1)
        w.add_scalar("loss", 0.25, 2)
        w.add_scalars("acc", {"train": torch.tensor(0.9), "val": 0.8}, 1)
        w.add_histogram("weights", model[0].weight, 1)
        w.add_image("img", torch.rand(3, 8, 6), 1)
        w.add_text("note", "hello backprop", 1)
        w.add_graph(model, torch.randn(5, 4))
        w.flush()
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        EventAccumulator = None
    if EventAccumulator is not None:
        acc = EventAccumulator(log_dir)
        acc.Reload()
        tags = acc.Tags()
        assert [(e.step, e.value) for e in acc.Scalars("loss")] == [(1, 0.5), (2, 0.25)]
        assert tags["histograms"] == ["weights"] and acc.Histograms("weights")[0].histogram_value.num == 12
        image = acc.Images("img")[0]
        assert (image.width, image.height) == (6, 8)
        assert tags["graph"] is True
        nodes = acc.Graph().node
        sub = EventAccumulator(os.path.join(log_dir, "acc", "val"))
        sub.Reload()
        assert sub.Scalars("acc")[0].value == pytest.approx(0.8)
    events = _read_events(log_dir)
    values = {(v.tag, e.step): v for e in events for v in e.summary.value}
    assert values[("loss", 2)].simple_value == 0.25
    assert values[("weights", 1)].histo.num == 12
    assert values[("img", 1)].image.encoded_image_string[:8] == PNG_MAGIC
    assert b"hello backprop" in values[("note/text_summary", 1)].tensor.string_val[0]
    if EventAccumulator is None:
        from tensorboardX.proto.graph_pb2 import GraphDef

        nodes = GraphDef.FromString(next(e.graph_def for e in events if e.graph_def)).node
    ops = [n.op for n in nodes]
    assert ops.count("Parameter") == 4 and ops.count("IO Node") == 2 and "Relu" in ops
    out = next(n for n in nodes if n.name == "output/output_0")
    assert [d.size for d in out.attr["_output_shapes"].list.shape[0].dim] == [5, 2]
    assert any(n.name.startswith("Sequential/Linear[0]/") and n.op not in ("Parameter",) for n in nodes)


# ---------------------------------------------------------------------------- HTML report and CLI
class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.sections, self.issues, self.svgs = {}, [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images[a.get("id")] = a.get("src", "")
        elif tag == "section":
            self.sections.append(a.get("id"))
        elif tag == "li" and a.get("class") == "issue":
            self.issues.append(a.get("data-kind"))
        elif tag == "svg":
            self.svgs.append(a.get("id"))


def _png_from_data_uri(src: str) -> bytes:
    assert src.startswith("data:image/png;base64,")
    return base64.b64decode(src.split(",", 1)[1])


def test_html_report_without_matplotlib_uses_inline_svg(tmp_path, monkeypatch):
    from backprop.diagnostics import report as report_module

    monitor = _monitor_with_history()
    monkeypatch.setattr(report_module, "_have_matplotlib", lambda: False)
    history = [{"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.4}, {"epoch": 2, "train_loss": 0.5, "train_accuracy": 0.8, "val_loss": 0.7, "val_accuracy": 0.7}]
    path = write_html_report(tmp_path, history, monitor, {"test_accuracy": 0.7})
    page = _Page()
    page.feed(open(path, encoding="utf-8").read())
    assert {"curves-img", "gradient-flow-img"} <= set(page.svgs) and not page.images
    assert {"summary", "curves", "gradient-flow", "issues", "layers", "history"} <= set(page.sections)


def test_cli_diagnose_and_report(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    from backprop.cli import main as cli_main

    report_dir = tmp_path / "report"
    code = cli_main(["train", "--model", "mlp", "--epochs", "2", "--limit", "300", "--no-progress", "--diagnose", "--report", str(report_dir)])
    assert code == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    epoch_lines = [i for i, ln in enumerate(lines) if ln.startswith("epoch ")]
    assert len(epoch_lines) == 2
    for i in epoch_lines:  # the findings follow each epoch's line
        assert lines[i + 1].startswith("  diagnostics: ")
    assert "report written to" in out
    html_text = (report_dir / "report.html").read_text(encoding="utf-8")
    page = _Page()
    page.feed(html_text)
    assert {"curves", "gradient-flow", "issues", "layers"} <= set(page.sections)
    for ident in ("curves-img", "gradient-flow-img"):
        assert _png_from_data_uri(page.images[ident])[:8] == PNG_MAGIC
    assert "No problems found" in html_text or page.issues
    assert "src=\"http" not in html_text  # self-contained


def test_cli_report_lists_issues(tmp_path):
    pytest.importorskip("matplotlib")
    monitor = _monitor_with_history()
    monitor._explosions.append((2, 5e6))  # as if the total norm had blown up at step 2
    path = write_html_report(tmp_path, [{"epoch": 1, "train_loss": 2.0, "train_accuracy": 0.1, "val_loss": 2.1, "val_accuracy": 0.1}], monitor)
    page = _Page()
    page.feed(open(path, encoding="utf-8").read())
    assert page.issues == ["exploding"]
    assert "5.0e+06 at step 2" in open(path, encoding="utf-8").read()
