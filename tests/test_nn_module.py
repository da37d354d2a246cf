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
