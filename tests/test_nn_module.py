"""nn.Module semantics against torch: registration, traversal, state_dict keys/shapes for real
architectures, strict loading errors, modes, hooks, repr, containers, init, clipping."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

import backprop


def mlp(m):
    return m.nn.Sequential(m.nn.Linear(8, 16), m.nn.ReLU(), m.nn.Dropout(0.1), m.nn.Linear(16, 4))


def cnn(m):
    nn = m.nn
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
    )


def make_block(m):
    nn = m.nn

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            out = m.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return m.relu(out + self.shortcut(x))

    class TinyResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(8)
            self.layers = nn.ModuleList([BasicBlock(8, 8, 1), BasicBlock(8, 16, 2)])
            self.head = nn.Linear(16, 5)

        def forward(self, x):
            x = m.relu(self.bn(self.stem(x)))
            for layer in self.layers:
                x = layer(x)
            return self.head(x.mean((2, 3)))

    return TinyResNet()


def text_model(m):
    nn = m.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 6, padding_idx=0)
            self.norm = nn.LayerNorm(6)
            self.blocks = nn.ModuleDict({"a": nn.Linear(6, 6), "b": nn.Linear(6, 3)})
            self.scale = nn.Parameter(m.ones(3))
            self.register_buffer("offset", m.zeros(3))
            self.register_buffer("cache", m.zeros(2), persistent=False)

        def forward(self, idx):
            h = self.norm(self.emb(idx))
            return self.blocks["b"](m.tanh(self.blocks["a"](h))) * self.scale + self.offset

    return Net()


ARCHS = {"mlp": (mlp, (4, 8)), "cnn": (cnn, (2, 1, 12, 12)), "resnet": (make_block, (2, 3, 8, 8))}


@pytest.mark.parametrize("name", list(ARCHS) + ["text"])
def test_state_dict_keys_shapes_and_parameter_order_match_torch(name):
    build = text_model if name == "text" else ARCHS[name][0]
    torch.manual_seed(0)
    tm, bm = build(torch), build(backprop)
    assert list(bm.state_dict()) == list(tm.state_dict())
    assert [tuple(v.shape) for v in bm.state_dict().values()] == [tuple(v.shape) for v in tm.state_dict().values()]
    assert [n for n, _ in bm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert [n for n, _ in bm.named_buffers()] == [n for n, _ in tm.named_buffers()]
    assert [n for n, _ in bm.named_modules()] == [n for n, _ in tm.named_modules()]
    assert [n for n, _ in bm.named_children()] == [n for n, _ in tm.named_children()]


@pytest.mark.parametrize("name", list(ARCHS))
def test_model_with_torch_weights_gives_torch_outputs_and_grads(name):
    build, shape = ARCHS[name]
    torch.manual_seed(0)
    tm, bm = build(torch), build(backprop)
    bm.load_state_dict(tm.state_dict())
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    for train in (True, False):
        tm.train(train)
        bm.train(train)
        if name == "mlp" and train:
            continue  # dropout masks differ between frameworks
        ty = tm(torch.tensor(x))
        by = bm(backprop.tensor(x))
        np.testing.assert_allclose(by.detach().numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-5)
        tm.zero_grad()
        bm.zero_grad()
        ty.square().sum().backward()
        by.square().sum().backward()
        tgrads = dict(tm.named_parameters())
        for n, p in bm.named_parameters():
            np.testing.assert_allclose(p.grad.numpy(), tgrads[n].grad.numpy(), rtol=1e-3, atol=1e-4, err_msg=n)
    for (n, b), (_, tb) in zip(bm.named_buffers(), tm.named_buffers()):
        np.testing.assert_allclose(b.numpy(), tb.numpy(), rtol=1e-5, atol=1e-6, err_msg=n)


def test_shared_parameters_are_yielded_once():
    for m in (backprop, torch):
        lin = m.nn.Linear(3, 3)
        net = m.nn.Sequential(lin, m.nn.ReLU(), lin)
        assert len(list(net.parameters())) == 2
        assert [n for n, _ in net.named_parameters()] == ["0.weight", "0.bias"]
        assert len(net.state_dict()) == 4  # state_dict keeps both names, like torch


def test_load_state_dict_strict_errors_name_the_keys():
    model = backprop.nn.Sequential(backprop.nn.Linear(3, 2), backprop.nn.Linear(2, 1))
    sd = model.state_dict()
    bad = dict(sd)
    del bad["1.bias"]
    bad["2.weight"] = backprop.zeros(1)
    bad["0.weight"] = backprop.zeros(5, 5)
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(bad)
    msg = str(info.value)
    assert 'Missing key(s) in state_dict: "1.bias"' in msg
    assert 'Unexpected key(s) in state_dict: "2.weight"' in msg
    assert "size mismatch for 0.weight" in msg and "[5, 5]" in msg and "[2, 3]" in msg
    # torch raises the same kinds of errors for the same dict
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    tbad = {k: torch.tensor(v.numpy()) for k, v in bad.items()}
    with pytest.raises(RuntimeError):
        tmodel.load_state_dict(tbad)


def test_load_state_dict_non_strict_returns_keys():
    model = backprop.nn.Linear(3, 2)
    result = model.load_state_dict({"weight": backprop.ones(2, 3), "extra": backprop.ones(1)}, strict=False)
    assert result.missing_keys == ["bias"]
    assert result.unexpected_keys == ["extra"]  # torch reports them even when not strict
    np.testing.assert_array_equal(model.weight.detach().numpy(), np.ones((2, 3)))


def test_state_dict_is_detached_and_shares_storage():
    model = backprop.nn.Linear(3, 2)
    sd = model.state_dict()
    assert not sd["weight"].requires_grad
    sd["weight"].numpy()[0, 0] = 42.0
    assert model.weight.detach().numpy()[0, 0] == 42.0


def test_train_eval_propagate_and_zero_grad():
    model = cnn(backprop)
    model.eval()
    assert all(not m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model(backprop.randn(2, 1, 12, 12)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(not p.grad.numpy().any() for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_apply_to_double_and_requires_grad():
    model = mlp(backprop)
    model.apply(lambda mod: backprop.nn.init.zeros_(mod.bias) if isinstance(mod, backprop.nn.Linear) else None)
    assert all(not m.bias.detach().numpy().any() for m in model.modules() if isinstance(m, backprop.nn.Linear))
    model.double()
    assert all(p.dtype == backprop.float64 for p in model.parameters())
    assert model(backprop.randn(2, 8, dtype=backprop.float64)).dtype == backprop.float64
    model.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())


def test_setattr_registration_rules():
    m = backprop.nn.Module()
    m.w = backprop.nn.Parameter(backprop.ones(2))
    m.sub = backprop.nn.Linear(2, 2)
    m.plain = backprop.ones(2)
    m.register_buffer("buf", backprop.zeros(1))
    assert [n for n, _ in m.named_parameters()] == ["w", "sub.weight", "sub.bias"]
    assert [n for n, _ in m.named_buffers()] == ["buf"]
    assert "plain" not in m.state_dict()
    with pytest.raises(TypeError):
        m.w = backprop.ones(2)  # plain tensor onto a parameter slot
    with pytest.raises(KeyError):
        m.register_buffer("a.b", backprop.zeros(1))
    del m.sub
    assert [n for n, _ in m.named_parameters()] == ["w"]


def test_forward_hooks_and_pre_hooks():
    model = backprop.nn.Linear(3, 2)
    seen = []
    h1 = model.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    h2 = model.register_forward_hook(lambda mod, args, out: seen.append(out.shape) or out + 1)
    out = model(backprop.randn(4, 3))
    np.testing.assert_allclose(out.detach().numpy(), (model.bias.detach().numpy() + 1)[None].repeat(4, 0), rtol=1e-6)
    assert seen == [backprop.Size([4, 2])]
    h1.remove()
    h2.remove()
    x = backprop.randn(4, 3)
    np.testing.assert_allclose(model(x).detach().numpy(), (x @ model.weight.T + model.bias).detach().numpy())


def test_full_backward_hook_matches_torch():
    results = []
    for m in (backprop, torch):
        m.manual_seed(0)
        lin = m.nn.Linear(3, 2)
        lin.load_state_dict({"weight": m.tensor([[1.0, 2, 3], [4, 5, 6]]), "bias": m.tensor([0.5, -0.5])})
        captured = {}

        def hook(mod, gin, gout, captured=captured):
            captured["gin"] = [g.detach().numpy().copy() if g is not None else None for g in gin]
            captured["gout"] = [g.detach().numpy().copy() for g in gout]

        lin.register_full_backward_hook(hook)
        x = m.tensor([[1.0, -1.0, 2.0], [0.5, 0.0, 1.0]], requires_grad=True)
        (lin(x) ** 2).sum().backward()
        results.append(captured)
    ours, theirs = results
    np.testing.assert_allclose(ours["gout"][0], theirs["gout"][0], rtol=1e-6)
    np.testing.assert_allclose(ours["gin"][0], theirs["gin"][0], rtol=1e-6)


@pytest.mark.skipif(tuple(int(v) for v in torch.__version__.split(".")[:2]) < (2, 13), reason="BatchNorm's repr shows bias= from torch 2.13 on (the oracle version)")
def test_repr_matches_torch():
    for build in (mlp, cnn):
        assert repr(build(backprop)) == repr(build(torch))
    layers = [
        lambda m: m.nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
        lambda m: m.nn.ConvTranspose2d(3, 8, 2, stride=2),
        lambda m: m.nn.BatchNorm1d(4),
        lambda m: m.nn.LayerNorm(5),
        lambda m: m.nn.Embedding(10, 3, padding_idx=1),
        lambda m: m.nn.LeakyReLU(0.2),
        lambda m: m.nn.GELU(approximate="tanh"),
        lambda m: m.nn.AvgPool2d(2),
        lambda m: m.nn.Dropout(0.25),
        lambda m: m.nn.GroupNorm(2, 4),
        lambda m: m.nn.GroupNorm(2, 4, bias=False),
        lambda m: m.nn.BatchNorm2d(3, bias=False),
        lambda m: m.nn.BatchNorm1d(3, affine=False),
        lambda m: m.nn.InstanceNorm2d(3),
        lambda m: m.nn.LayerNorm(4, bias=False),
        lambda m: m.nn.RMSNorm(4),
    ]
    for build in layers:
        assert repr(build(backprop)) == repr(build(torch))


def test_containers():
    seq = backprop.nn.Sequential(backprop.nn.Linear(2, 3), backprop.nn.ReLU(), backprop.nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], backprop.nn.Linear)
    assert isinstance(seq[:2], backprop.nn.Sequential) and len(seq[:2]) == 2
    seq.append(backprop.nn.Sigmoid())
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2", "3"]
    ml = backprop.nn.ModuleList([backprop.nn.Linear(2, 2) for _ in range(3)])
    ml.insert(1, backprop.nn.Tanh())
    assert len(ml) == 4 and isinstance(ml[1], backprop.nn.Tanh)
    assert len(list(ml.parameters())) == 6
    md = backprop.nn.ModuleDict({"a": backprop.nn.Linear(2, 2)})
    md["b"] = backprop.nn.ReLU()
    assert list(md.keys()) == ["a", "b"]
    pl = backprop.nn.ParameterList([backprop.nn.Parameter(backprop.ones(2)), backprop.zeros(3)])
    assert [tuple(p.shape) for p in pl.parameters()] == [(2,), (3,)]
    pd = backprop.nn.ParameterDict({"x": backprop.nn.Parameter(backprop.ones(1))})
    assert [n for n, _ in pd.named_parameters()] == ["x"]
    od = backprop.nn.Sequential(__import__("collections").OrderedDict(first=backprop.nn.Linear(1, 1)))
    assert list(od.state_dict()) == ["first.weight", "first.bias"]


def test_deepcopy_is_independent():
    model = cnn(backprop)
    clone = copy.deepcopy(model)
    with backprop.no_grad():
        clone[0].weight.fill_(0)
    assert model[0].weight.detach().numpy().any()
    assert list(clone.state_dict()) == list(model.state_dict())


def test_default_init_distributions_match_torch_bounds():
    backprop.manual_seed(0)
    lin = backprop.nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w = lin.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    conv = backprop.nn.Conv2d(16, 32, 3)
    cb = 1 / math.sqrt(16 * 9)
    assert np.abs(conv.weight.detach().numpy()).max() <= cb
    emb = backprop.nn.Embedding(1000, 64)
    assert abs(emb.weight.detach().numpy().std() - 1.0) < 0.02


@pytest.mark.parametrize(
    "name,args,expected_std",
    [
        ("kaiming_normal_", {}, math.sqrt(2 / 200)),
        ("kaiming_uniform_", {"nonlinearity": "relu"}, math.sqrt(2 / 200)),
        ("xavier_uniform_", {}, math.sqrt(2 / 500)),
        ("xavier_normal_", {"gain": 2.0}, 2 * math.sqrt(2 / 500)),
        ("normal_", {"std": 0.02}, 0.02),
    ],
)
def test_init_functions_have_torch_statistics(name, args, expected_std):
    t = backprop.empty(300, 200)
    getattr(backprop.nn.init, name)(t, **args)
    assert abs(t.numpy().std() - expected_std) < 0.03 * expected_std


def test_init_misc():
    t = backprop.empty(5000)
    backprop.nn.init.trunc_normal_(t, std=1.0, a=-1.0, b=1.5)
    assert t.numpy().min() >= -1.0 and t.numpy().max() <= 1.5
    q = backprop.empty(6, 10)
    backprop.nn.init.orthogonal_(q)
    np.testing.assert_allclose(q.numpy() @ q.numpy().T, np.eye(6), atol=1e-5)
    for nl, p in [("relu", None), ("tanh", None), ("leaky_relu", 0.2), ("selu", None), ("sigmoid", None)]:
        assert backprop.nn.init.calculate_gain(nl, p) == pytest.approx(torch.nn.init.calculate_gain(nl, p))
    assert backprop.nn.init._calculate_fan_in_and_fan_out(backprop.empty(8, 3, 5, 5)) == (75, 200)


def test_clip_grad_norm_matches_torch():
    for norm_type in (2.0, 1.0, float("inf")):
        grads = [np.random.default_rng(i).standard_normal(s).astype(np.float32) * 10 for i, s in enumerate([(3, 4), (5,)])]
        totals, clipped = [], []
        for m in (backprop, torch):
            ps = [m.zeros(g.shape, requires_grad=True) for g in grads]
            for p, g in zip(ps, grads):
                p.grad = m.tensor(g)
            total = m.nn.utils.clip_grad_norm_(ps, 1.0, norm_type=norm_type)
            totals.append(float(total))
            clipped.append([p.grad.numpy().copy() for p in ps])
        assert totals[0] == pytest.approx(totals[1], rel=1e-5)
        for a, b in zip(*clipped):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_clip_grad_value_and_vector_conversion():
    p = backprop.zeros(4, requires_grad=True)
    p.grad = backprop.tensor([-3.0, -0.5, 0.5, 3.0])
    backprop.nn.utils.clip_grad_value_([p], 1.0)
    np.testing.assert_array_equal(p.grad.numpy(), [-1.0, -0.5, 0.5, 1.0])
    model = mlp(backprop)
    vec = backprop.nn.utils.parameters_to_vector(model.parameters())
    assert vec.shape == (sum(p.numel() for p in model.parameters()),)
    backprop.nn.utils.vector_to_parameters(vec * 0 + 1, model.parameters())
    assert all((p.detach().numpy() == 1).all() for p in model.parameters())


# ---------------------------------------------------------------------- devices (cpu and fake-cuda by default)
def _bn_mlp(m):
    return m.nn.Sequential(m.nn.Linear(8, 16), m.nn.BatchNorm1d(16), m.nn.ReLU(), m.nn.Linear(16, 4))


def _tensors_of(model):
    """Every parameter, gradient and buffer of ``model``, by name."""
    out = dict(model.named_parameters())
    out.update({n + ".grad": p.grad for n, p in model.named_parameters() if p.grad is not None})
    out.update(dict(model.named_buffers()))
    return out


def _assert_on(model, device: str) -> None:
    for name, t in _tensors_of(model).items():
        assert t.device.type == device, f"{name} on {t.device}, expected {device}"


@pytest.mark.parametrize("build,shape", [(_bn_mlp, (6, 8)), (cnn, (2, 1, 8, 8))], ids=["bn_mlp", "cnn"])
def test_model_moved_to_device_trains_one_step_like_cpu(build, shape, device):
    backprop.manual_seed(0)
    ref = build(backprop)
    model = copy.deepcopy(ref)
    params_before = [id(p) for p in model.parameters()]
    assert model.to(device) is model
    assert [id(p) for p in model.parameters()] == params_before  # moved in place: optimizers keep them
    _assert_on(model, device)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    for net, dev in ((ref, "cpu"), (model, device)):
        opt = backprop.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        out = net(backprop.tensor(x, device=dev))
        assert out.device.type == dev
        loss = out.square().mean()
        loss.backward()
        opt.step()
    _assert_on(model, device)
    expected = _tensors_of(ref)
    for name, t in _tensors_of(model).items():
        np.testing.assert_allclose(t.detach().cpu().numpy(), expected[name].detach().numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_load_state_dict_copies_onto_each_tensors_device(device):
    torch.manual_seed(0)
    backprop.manual_seed(1)
    source = _bn_mlp(backprop)  # a CPU model
    source(backprop.randn(4, 8))  # running statistics move away from their initial values
    model = _bn_mlp(backprop).to(device)
    expected = {k: v.numpy() for k, v in source.state_dict().items()}
    for state in (source.state_dict(), {k: v.numpy() for k, v in source.state_dict().items()}, _bn_mlp(torch).state_dict()):
        objects = [id(t) for t in _tensors_of(model).values()]
        model.load_state_dict(state)
        assert [id(t) for t in _tensors_of(model).values()] == objects  # copied into, not replaced
        _assert_on(model, device)
        got = model.state_dict()
        assert all(v.device.type == device for v in got.values())  # state_dict keeps the devices
        want = expected if not isinstance(next(iter(state.values())), torch.Tensor) else {k: v.numpy() for k, v in state.items()}
        for k, v in got.items():
            np.testing.assert_array_equal(v.cpu().numpy(), want[k], err_msg=k)
    # and back: a device state dict into a CPU model
    cpu_model = _bn_mlp(backprop)
    cpu_model.load_state_dict(model.state_dict())
    _assert_on(cpu_model, "cpu")
    for k, v in cpu_model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), model.state_dict()[k].cpu().numpy(), err_msg=k)


def test_model_cpu_moves_everything_back(device):
    model = _bn_mlp(backprop)
    before = {k: v.detach().numpy().copy() for k, v in _tensors_of(model).items()}
    model.to(device)
    model(backprop.randn(4, 8, device=device)).sum().backward()
    _assert_on(model, device)
    after = {k: v.detach().cpu().numpy() for k, v in _tensors_of(model).items()}
    assert model.cpu() is model
    _assert_on(model, "cpu")
    for name, t in _tensors_of(model).items():
        np.testing.assert_array_equal(t.detach().numpy(), after[name], err_msg=name)
    for name in before:
        if "running" not in name and "num_batches" not in name:
            np.testing.assert_array_equal(after[name], before[name], err_msg=name)  # the move itself changes nothing


def test_modules_created_on_a_device_initialize_there(device):
    lin = backprop.nn.Linear(40, 30, device=device)
    bn = backprop.nn.BatchNorm1d(3, device=device)
    _assert_on(lin, device)
    _assert_on(bn, device)
    bound = 1 / math.sqrt(40)
    w = lin.weight.detach().cpu().numpy()
    assert 0.9 * bound < np.abs(w).max() <= bound  # kaiming_uniform_ drew on the device
    with backprop.device(device):  # the default device, as torch's factory_kwargs
        _assert_on(backprop.nn.LSTM(3, 4), device)
    t = backprop.empty(200, 100, device=device)
    for name in ("normal_", "uniform_", "xavier_normal_", "kaiming_uniform_", "trunc_normal_", "sparse_", "eye_", "zeros_"):
        getattr(backprop.nn.init, name)(t, *((0.5,) if name == "sparse_" else ()))
        assert t.device.type == device
    np.testing.assert_array_equal(t.cpu().numpy(), 0)
    d = backprop.empty(4, 2, 3, 3, device=device)
    backprop.nn.init.dirac_(d, 2)
    np.testing.assert_array_equal(d.cpu().numpy(), torch.nn.init.dirac_(torch.empty(4, 2, 3, 3), 2).numpy())


def test_orthogonal_init_on_device(device):
    q = backprop.empty(6, 10, device=device)
    backprop.nn.init.orthogonal_(q)
    assert q.device.type == device
    np.testing.assert_allclose(q.cpu().numpy() @ q.cpu().numpy().T, np.eye(6), atol=1e-5)


def test_dropout_masks_are_drawn_on_the_inputs_device(device):
    x = backprop.ones(1000, device=device)
    for fn in (backprop.nn.functional.dropout, backprop.nn.functional.alpha_dropout):
        out = fn(x, 0.5, training=True)
        assert out.device.type == device
        kept = (out.cpu().numpy() == out.cpu().numpy().max()).mean()
        assert 0.4 < kept < 0.6


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm_on_device_matches_torch(norm_type, device):
    grads = [np.random.default_rng(i).standard_normal(s).astype(np.float32) * 10 for i, s in enumerate([(3, 4), (5,)])]
    ps = [backprop.zeros(g.shape, requires_grad=True, device=device) for g in grads]
    for p, g in zip(ps, grads):
        p.grad = backprop.tensor(g, device=device)
    tps = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for p, g in zip(tps, grads):
        p.grad = torch.tensor(g)
    total = backprop.nn.utils.clip_grad_norm_(ps, 1.0, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, 1.0, norm_type=norm_type)
    assert total.device.type == device and total.dtype == backprop.float32
    assert float(total) == pytest.approx(float(ttotal), rel=1e-5)
    for p, tp in zip(ps, tps):
        assert p.grad.device.type == device
        np.testing.assert_allclose(p.grad.cpu().numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-6)
    backprop.nn.utils.clip_grad_value_(ps, 0.01)
    assert all(p.grad.device.type == device and np.abs(p.grad.cpu().numpy()).max() <= 0.01 for p in ps)
    ps[0].grad.fill_(float("nan"))
    with pytest.raises(RuntimeError, match="non-finite"):
        backprop.nn.utils.clip_grad_norm_(ps, 1.0, norm_type=norm_type, error_if_nonfinite=True)


@pytest.mark.parametrize("norm_type", [2.0, float("inf")])
def test_clip_grad_norm_with_a_nan_gradient_matches_torch(norm_type, device):
    """A NaN total norm scales every gradient by clamp(nan, max=1) = nan, on every device (as torch)."""
    grads = [np.array([[1.0, float("nan")], [2.0, 3.0]], np.float32), np.array([4.0, 5.0], np.float32)]
    ps = [backprop.zeros(g.shape, requires_grad=True, device=device) for g in grads]
    tps = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for p, tp, g in zip(ps, tps, grads):
        p.grad = backprop.tensor(g, device=device)
        tp.grad = torch.tensor(g)
    total = backprop.nn.utils.clip_grad_norm_(ps, 1.0, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, 1.0, norm_type=norm_type)
    assert np.isnan(float(total)) and np.isnan(float(ttotal))
    for p, tp in zip(ps, tps):
        np.testing.assert_array_equal(p.grad.cpu().numpy(), tp.grad.numpy())  # all NaN on both
