"""torch.compile: a compiled Module is an OptimizedModule around the original, as in torch 2.13
(its type, ``_orig_mod``, '_orig_mod.'-prefixed state_dict keys, attribute and mode forwarding, a
checkpoint saved from it), while calls run the original module eagerly."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import backprop

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _keep_torch_distribution_validation():
    """torch.compile's first use turns distributions' argument validation off for the whole
    process; other tests (tests/test_distributions.py) compare with torch's validation."""
    validate = torch.distributions.Distribution._validate_args
    yield
    torch.distributions.Distribution.set_default_validate_args(validate)


def _both(build):
    """(torch's, backprop's) compiled ``build(tmod)``; torch's with the eager backend (no C compiler needed)."""
    return torch.compile(build(torch), backend="eager"), backprop.compile(build(backprop))


def _mlp(tmod):
    return tmod.nn.Sequential(tmod.nn.Linear(3, 4), tmod.nn.ReLU(), tmod.nn.Linear(4, 2))


def test_compiled_module_type_keys_and_repr_as_torch():
    theirs, ours = _both(_mlp)
    assert type(ours).__name__ == type(theirs).__name__ == "OptimizedModule"
    assert isinstance(ours, backprop._dynamo.eval_frame.OptimizedModule) and isinstance(ours, backprop.nn.Module)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(dict(ours.named_modules())) == list(dict(theirs.named_modules()))
    assert repr(ours).replace("backprop", "torch") == repr(theirs)
    assert len(ours) == len(theirs) == 3
    with pytest.raises(TypeError, match="'OptimizedModule' object is not subscriptable"):
        theirs[0]
    with pytest.raises(TypeError, match="'OptimizedModule' object is not subscriptable"):
        ours[0]


def test_compiled_module_forwards_attributes_and_training():
    theirs, ours = _both(_mlp)
    for c in (theirs, ours):
        orig = c._orig_mod
        assert c.get_submodule("_orig_mod.0") is orig[0] and c.training and orig.training
        c.eval()
        assert not c.training and not orig.training and not orig[0].training
        c.train()
        assert orig[2].training
        c.note = "set on the wrapper"
        assert orig.note == "set on the wrapper" and "note" not in c.__dict__
        del c.note
        assert not hasattr(orig, "note")
        with pytest.raises(AttributeError, match="'Sequential' object has no attribute 'missing'"):
            c.missing
        assert c.parameters().__next__() is orig[0].weight


def test_compiled_module_calls_original_and_trains_the_same():
    model = _mlp(backprop)
    x = backprop.tensor(np.random.default_rng(0).standard_normal((5, 3)), dtype=backprop.float32)
    expected = model(x)
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(o.shape))
    compiled = backprop.compile(model)
    out = compiled(x)
    np.testing.assert_array_equal(out.detach().numpy(), expected.detach().numpy())
    assert calls == [(5, 2)]  # the original module's hooks run
    out.sum().backward()
    assert model[0].weight.grad is not None


def test_checkpoint_of_compiled_model_loads_after_stripping_prefix(tmp_path):
    """nanoGPT: save a compiled model's state_dict, strip '_orig_mod.' when resuming into a fresh model."""
    compiled = backprop.compile(_mlp(backprop))
    backprop.save({"model": compiled.state_dict()}, tmp_path / "ckpt.pt")
    state = backprop.load(tmp_path / "ckpt.pt")["model"]
    assert all(k.startswith("_orig_mod.") for k in state)
    fresh = _mlp(backprop)
    fresh.load_state_dict({k[len("_orig_mod."):]: v for k, v in state.items()})
    np.testing.assert_array_equal(fresh[2].bias.detach().numpy(), compiled._orig_mod[2].bias.detach().numpy())
    compiled.load_state_dict(state)  # and the prefixed keys load back into a compiled model


def test_compiled_module_deepcopies_and_pickles_as_optimized_module(tmp_path):
    ours = backprop.compile(_mlp(backprop))
    clone = copy.deepcopy(ours)
    assert type(clone).__name__ == "OptimizedModule" and clone._orig_mod is not ours._orig_mod
    assert list(clone.state_dict()) == list(ours.state_dict())
    backprop.save(ours, tmp_path / "whole.pt")
    loaded = backprop.load(tmp_path / "whole.pt", weights_only=False)
    assert type(loaded).__name__ == "OptimizedModule" and list(loaded.state_dict()) == list(ours.state_dict())


def test_compile_functions_decorators_and_errors_as_torch():
    def f(x):
        return x * 2

    assert backprop.compile(f) is f
    deco = backprop.compile(mode="max-autotune")
    assert type(deco(_mlp(backprop))).__name__ == "OptimizedModule"
    plain = _mlp(backprop)
    assert backprop.compile(plain, disable=True) is plain
    assert torch.compile(_mlp(torch), disable=True).__class__.__name__ == "Sequential"
    for call in (lambda t: t.compile(None)(None), lambda t: t.compile(_mlp(t), mode="default", options={}),
                 lambda t: t.compile(3)):
        with pytest.raises(Exception) as theirs:
            call(torch)
        with pytest.raises(type(theirs.value), match=str(theirs.value).replace("(", r"\(").replace(")", r"\)")):
            call(backprop)


def test_module_compile_in_place_as_torch():
    """``model.compile()`` (torch 2.2+): returns None, the model keeps its type and unprefixed keys."""
    for tmod in (torch, backprop):
        model = _mlp(tmod)
        keys = list(model.state_dict())
        assert model.compile(backend="eager") is None
        assert type(model).__name__ == "Sequential" and list(model.state_dict()) == keys
        with pytest.raises(RuntimeError, match="Either mode or options can be specified"):
            model.compile(mode="default", options={})
    model = _mlp(backprop)
    x = backprop.ones(2, 3)
    expected = model(x).tolist()
    model.compile()
    assert model(x).tolist() == expected
