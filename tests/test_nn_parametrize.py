"""``nn.utils.parametrize``, ``nn.utils.parametrizations.weight_norm/spectral_norm`` and the
hook-based ``nn.utils.weight_norm/spectral_norm`` against torch 2.13: state_dict keys, outputs
in train and eval mode (spectral norm's power iteration included, from torch's own ``u``/``v``),
gradients of the stored tensors, removal, and a user parametrization with ``right_inverse``.
The torch comparisons take the ``device`` fixture (cpu and fake-cuda by default): our module is
built on that device (``with bp.device(device)``), loads torch's CPU weights there, and runs there."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import backprop as bp

R = np.random.default_rng(0)


def _np(t):
    return t.detach().cpu().numpy()


def _load(bp_module, th_module):
    bp_module.load_state_dict({k: bp.tensor(v.detach().numpy()) for k, v in th_module.state_dict().items()})


def _pair(build, seed: int = 0, device: str = "cpu"):
    torch.manual_seed(seed)
    th = build(torch)
    with bp.device(device):
        ours = build(bp)
    _load(ours, th)
    for name, t in list(ours.named_parameters()) + list(ours.named_buffers()):
        assert t.device.type == device, f"{name} on {t.device}, expected {device}"
    return ours, th


def _forward_backward(ours, th, x, rtol=1e-5, atol=1e-6):
    """Same input through both (ours on its parameters' device); compares outputs, then every
    parameter's gradient by name."""
    device = next(ours.parameters()).device
    out_b = ours(bp.tensor(x, device=device))
    out_t = th(torch.tensor(x))
    assert out_b.device == device
    np.testing.assert_allclose(_np(out_b), _np(out_t), rtol=rtol, atol=atol)
    g = R.standard_normal(tuple(out_t.shape)).astype(x.dtype)
    (out_b * bp.tensor(g, device=device)).sum().backward()
    (out_t * torch.tensor(g)).sum().backward()
    th_params = dict(th.named_parameters())
    names = [n for n, _ in ours.named_parameters()]
    assert names == list(th_params)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(_np(p.grad), _np(th_params[name].grad), rtol=rtol * 10, atol=atol * 10, err_msg=name)


LAYERS = {
    "linear": (lambda m: m.nn.Linear(5, 4), (3, 5)),
    "conv2d": (lambda m: m.nn.Conv2d(3, 4, 3, padding=1), (2, 3, 6, 6)),
    "conv_transpose2d": (lambda m: m.nn.ConvTranspose2d(3, 4, 3, stride=2), (2, 3, 4, 4)),
    "conv1d": (lambda m: m.nn.Conv1d(3, 2, 3), (2, 3, 7)),
}


@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("dim", [0, 1, None])
def test_parametrizations_weight_norm_matches_torch(layer, dim, device):
    build, shape = LAYERS[layer]
    ours, th = _pair(lambda m: m.nn.utils.parametrizations.weight_norm(build(m), dim=dim), device=device)
    assert list(ours.state_dict()) == list(th.state_dict())
    assert "parametrizations.weight.original0" in ours.state_dict()
    assert bp.nn.utils.parametrize.is_parametrized(ours, "weight")
    np.testing.assert_allclose(_np(ours.weight), _np(th.weight), rtol=1e-6, atol=1e-7)
    _forward_backward(ours, th, R.standard_normal(shape).astype(np.float32))


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_parametrizations_spectral_norm_matches_torch_in_train_and_eval(layer, device):
    build, shape = LAYERS[layer]
    ours, th = _pair(lambda m: m.nn.utils.parametrizations.spectral_norm(build(m), n_power_iterations=2), device=device)
    assert list(ours.state_dict()) == list(th.state_dict())
    x = R.standard_normal(shape).astype(np.float32)
    for _ in range(2):  # each training forward advances u and v
        _forward_backward(ours, th, x)
        for key, value in th.state_dict().items():
            np.testing.assert_allclose(_np(ours.state_dict()[key]), _np(value), rtol=1e-5, atol=1e-6, err_msg=key)
        ours.zero_grad()
        th.zero_grad()
    ours.eval()
    th.eval()
    u_before = _np(ours.parametrizations.weight[0]._u).copy()
    _forward_backward(ours, th, x)
    np.testing.assert_array_equal(_np(ours.parametrizations.weight[0]._u), u_before)  # no iteration in eval


def test_spectral_norm_divides_by_the_largest_singular_value():
    layer = bp.nn.utils.parametrizations.spectral_norm(bp.nn.Linear(6, 5))
    with bp.no_grad():
        for _ in range(30):
            w = layer.weight
    sv = np.linalg.svd(_np(w), compute_uv=False)
    assert sv[0] == pytest.approx(1.0, rel=1e-4)


def test_spectral_norm_of_a_vector_normalizes_it():
    ours, th = _pair(lambda m: m.nn.utils.parametrizations.spectral_norm(m.nn.Linear(3, 4), name="bias"))
    np.testing.assert_allclose(_np(ours.bias), _np(th.bias), rtol=1e-6)
    assert np.linalg.norm(_np(ours.bias)) == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_hook_weight_norm_matches_torch_and_removes(layer, device):
    build, shape = LAYERS[layer]
    ours, th = _pair(lambda m: m.nn.utils.weight_norm(build(m)), device=device)
    assert list(ours.state_dict()) == list(th.state_dict())
    _forward_backward(ours, th, R.standard_normal(shape).astype(np.float32))
    bp.nn.utils.remove_weight_norm(ours)
    torch.nn.utils.remove_weight_norm(th)
    assert list(ours.state_dict()) == list(th.state_dict())
    np.testing.assert_allclose(_np(ours.weight), _np(th.weight), rtol=1e-6, atol=1e-7)
    assert isinstance(ours.weight, bp.nn.Parameter)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_hook_spectral_norm_matches_torch_and_removes(layer, device):
    build, shape = LAYERS[layer]
    ours, th = _pair(lambda m: m.nn.utils.spectral_norm(build(m)), device=device)
    assert list(ours.state_dict()) == list(th.state_dict())
    x = R.standard_normal(shape).astype(np.float32)
    for _ in range(2):
        _forward_backward(ours, th, x)
        for key, value in th.state_dict().items():
            np.testing.assert_allclose(_np(ours.state_dict()[key]), _np(value), rtol=1e-5, atol=1e-6, err_msg=key)
    bp.nn.utils.remove_spectral_norm(ours)
    torch.nn.utils.remove_spectral_norm(th)
    assert list(ours.state_dict()) == list(th.state_dict())
    np.testing.assert_allclose(_np(ours.weight), _np(th.weight), rtol=1e-5, atol=1e-6)


def test_hook_weight_norm_is_deprecated_like_torch():
    for m in (bp, torch):
        with pytest.warns(FutureWarning, match="parametrizations.weight_norm"):
            m.nn.utils.weight_norm(m.nn.Linear(3, 2))


def test_hook_norms_refuse_double_registration_and_missing_removal():
    for m in (bp, torch):
        layer = m.nn.utils.weight_norm(m.nn.Linear(3, 2))
        with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks"):
            m.nn.utils.weight_norm(layer)
        with pytest.raises(ValueError, match="spectral_norm of 'weight' not found"):
            m.nn.utils.remove_spectral_norm(m.nn.Linear(3, 2))


class _Symmetric:
    """torch's tutorial parametrization: the upper triangle mirrored."""

    @staticmethod
    def build(m):
        class Symmetric(m.nn.Module):
            def forward(self, x):
                return x.triu() + x.triu(1).transpose(-1, -2)

            def right_inverse(self, a):
                return a.triu()

        return Symmetric()


def test_register_parametrization_with_right_inverse_like_torch():
    ours, th = _pair(lambda m: m.nn.Linear(4, 4))
    bp.nn.utils.parametrize.register_parametrization(ours, "weight", _Symmetric.build(bp))
    torch.nn.utils.parametrize.register_parametrization(th, "weight", _Symmetric.build(torch))
    assert list(ours.state_dict()) == list(th.state_dict()) == ["bias", "parametrizations.weight.original"]
    w = _np(ours.weight)
    np.testing.assert_array_equal(w, w.T)
    _forward_backward(ours, th, R.standard_normal((3, 4)).astype(np.float32))
    assert type(ours).__name__ == type(th).__name__ == "ParametrizedLinear"
    assert bp.nn.utils.parametrize.type_before_parametrizations(ours) is bp.nn.Linear

    value = R.standard_normal((4, 4)).astype(np.float32)
    value = value + value.T
    ours.weight = bp.tensor(value)  # stored through right_inverse
    with torch.no_grad():
        th.weight = torch.tensor(value)
    np.testing.assert_allclose(_np(ours.weight), value, rtol=1e-6)
    np.testing.assert_allclose(_np(ours.parametrizations.weight.original), _np(th.parametrizations.weight.original))

    with bp.nn.utils.parametrize.cached():
        assert ours.weight is ours.weight
    assert ours.weight is not ours.weight

    bp.nn.utils.parametrize.remove_parametrizations(ours, "weight", leave_parametrized=True)
    torch.nn.utils.parametrize.remove_parametrizations(th, "weight", leave_parametrized=True)
    assert type(ours) is bp.nn.Linear
    assert not bp.nn.utils.parametrize.is_parametrized(ours)
    assert list(ours.state_dict()) == list(th.state_dict())
    assert set(ours.state_dict()) == {"weight", "bias"}
    np.testing.assert_allclose(_np(ours.weight), _np(th.weight), rtol=1e-6)


def test_remove_parametrizations_can_restore_the_stored_tensor():
    layer = bp.nn.Linear(3, 3)
    original = layer.weight
    bp.nn.utils.parametrize.register_parametrization(layer, "weight", _Symmetric.build(bp))
    stored = _np(layer.parametrizations.weight.original).copy()
    bp.nn.utils.parametrize.remove_parametrizations(layer, "weight", leave_parametrized=False)
    assert layer.weight is original  # the same Parameter object, so an optimizer holding it keeps working
    np.testing.assert_array_equal(_np(layer.weight), stored)


def test_parametrized_weight_trains_through_the_optimizer():
    layer = bp.nn.utils.parametrizations.weight_norm(bp.nn.Linear(3, 1))
    opt = bp.optim.SGD(layer.parameters(), lr=0.1)
    x = bp.tensor(R.standard_normal((16, 3)).astype(np.float32))
    y = x.sum(1, keepdim=True)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = ((layer(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]


def test_parametrization_errors_match_torch():
    for m in (bp, torch):
        grow = _grow(m)
        with pytest.raises(ValueError, match="may not change the shape"):
            m.nn.utils.parametrize.register_parametrization(m.nn.Linear(2, 2), "weight", grow)
        with pytest.raises(ValueError, match="does not have a parameter, a buffer, or a parametrized element"):
            m.nn.utils.parametrize.register_parametrization(m.nn.Linear(2, 2), "nope", grow)
        with pytest.raises(ValueError, match="does not have a parametrization on weight"):
            m.nn.utils.parametrize.remove_parametrizations(m.nn.Linear(2, 2), "weight")
    grown = bp.nn.utils.parametrize.register_parametrization(bp.nn.Linear(2, 2), "weight", _grow(bp), unsafe=True)
    assert tuple(grown.weight.shape) == (4, 2)


def _grow(m):
    """A parametrization that doubles the rows (changes the shape: needs ``unsafe=True``)."""

    class Grow(m.nn.Module):
        def forward(self, x):
            return m.cat([x, x])

    return Grow()
