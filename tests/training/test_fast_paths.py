"""Fast paths on private torch API: self-checks, fallback with one warning, the off switch."""

import warnings

import numpy as np
import pytest
import torch

from skdnn import DNNClassifier
from skdnn.components import activations
from skdnn.exceptions import SkdnnWarning
from skdnn.training import fast_paths, fused_adam, gemm
from skdnn.training.fused_adam import optimizer_update


@pytest.fixture(autouse=True)
def fresh_checks():
    """Every test starts (and leaves) with no check run yet and the switch following the env."""
    fast_paths.forget_results()
    fast_paths.set_enabled(None)
    yield
    fast_paths.forget_results()
    fast_paths.set_enabled(None)


@pytest.fixture
def toy_path():
    calls = []

    def check():
        calls.append(1)
        return outcome["value"]

    outcome = {"value": True}
    fast_paths.register("toy", "a toy path", check)
    yield calls, outcome
    fast_paths._REGISTRY.pop("toy")


def fast_path_warnings(record):
    return [
        w for w in record if issubclass(w.category, SkdnnWarning) and "fast path" in str(w.message)
    ]


def test_a_passing_check_runs_once_and_says_nothing(toy_path):
    calls, _ = toy_path
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fast_paths.enabled("toy") and fast_paths.enabled("toy")
    assert len(calls) == 1
    assert fast_paths.status()["toy"] is True


@pytest.mark.parametrize("failure", ["wrong values", "exception"])
def test_a_failing_check_switches_the_path_off_with_one_warning(toy_path, failure):
    _, outcome = toy_path
    if failure == "exception":
        def broken():
            raise TypeError("unexpected keyword argument 'found_inf'")

        fast_paths.register("toy", "a toy path", broken)
    else:
        outcome["value"] = False
    with pytest.warns(SkdnnWarning, match=r"fast path 'toy' \(a toy path\).*plain torch") as record:
        assert not fast_paths.enabled("toy")
        assert not fast_paths.enabled("toy")
    assert len(fast_path_warnings(record)) == 1
    if failure == "exception":
        assert "found_inf" in str(record[0].message)
    assert fast_paths.status()["toy"] is False


@pytest.mark.parametrize("value", ["1", "true", "YES", "on"])
def test_the_environment_variable_turns_every_path_off(toy_path, monkeypatch, value):
    calls, _ = toy_path
    monkeypatch.setenv(fast_paths.ENVIRONMENT_VARIABLE, value)
    assert not fast_paths.enabled("toy") and not gemm.onednn_available()
    assert calls == []  # not even checked
    monkeypatch.setenv(fast_paths.ENVIRONMENT_VARIABLE, "0")
    assert fast_paths.enabled("toy")


def test_set_enabled_overrides_the_environment(toy_path, monkeypatch):
    monkeypatch.setenv(fast_paths.ENVIRONMENT_VARIABLE, "1")
    fast_paths.set_enabled(True)
    assert fast_paths.enabled("toy")
    fast_paths.set_enabled(False)
    assert not fast_paths.enabled("toy")
    assert set(fast_paths.status().values()) == {False}


def test_the_real_checks_pass_on_the_installed_torch():
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkdnnWarning)
        for name in (fused_adam.FAST_PATH, fast_paths.MLP_STEP, gemm.FAST_PATH):
            assert fast_paths.enabled(name), name


def _adam(params):
    return torch.optim.Adam(params, lr=0.1, weight_decay=0.01, fused=True)


def test_optimizer_update_is_plain_step_when_switched_off():
    param = torch.nn.Parameter(torch.zeros(3))
    optimizer = _adam([param])
    assert optimizer_update(optimizer) is not optimizer.step
    fast_paths.set_enabled(False)
    assert optimizer_update(optimizer) == optimizer.step


def _train_with(update, params, steps=4):
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        for param in params:
            param.grad = torch.randn(param.shape, generator=generator)
        update()
    return [p.detach().clone() for p in params]


def test_a_changed_fused_adam_signature_falls_back_to_step(monkeypatch):
    def changed(*args, **kwargs):
        raise TypeError("_fused_adam_() got an unexpected keyword argument 'grad_scale'")

    start = [torch.randn(4, 3), torch.randn(3)]
    expected_params = [torch.nn.Parameter(p.clone()) for p in start]
    expected = _train_with(_adam(expected_params).step, expected_params)
    monkeypatch.setattr(fused_adam, "_FUSED_ADAM", changed)
    params = [torch.nn.Parameter(p.clone()) for p in start]
    optimizer = _adam(params)
    with pytest.warns(SkdnnWarning, match="'fused_adam'.*grad_scale") as record:
        assert optimizer_update(optimizer) == optimizer.step  # the self-check caught it
    assert len(fast_path_warnings(record)) == 1
    for got, want in zip(_train_with(optimizer_update(optimizer), params), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_a_fused_adam_failing_at_run_time_falls_back_for_good(monkeypatch):
    start = [torch.randn(4, 3), torch.randn(3)]
    expected_params = [torch.nn.Parameter(p.clone()) for p in start]
    expected = _train_with(_adam(expected_params).step, expected_params)
    params = [torch.nn.Parameter(p.clone()) for p in start]
    optimizer = _adam(params)
    update = optimizer_update(optimizer)  # check passed: direct calls
    assert update != optimizer.step

    def changed(*args, **kwargs):
        raise RuntimeError("kernel signature changed")

    monkeypatch.setattr(fused_adam, "_FUSED_ADAM", changed)
    with pytest.warns(SkdnnWarning, match="kernel signature changed") as record:
        got = _train_with(update, params)
    assert len(fast_path_warnings(record)) == 1
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not fast_paths.enabled(fused_adam.FAST_PATH)


def test_fused_adam_giving_wrong_values_is_caught(monkeypatch):
    monkeypatch.setattr(fused_adam, "_FUSED_ADAM", lambda *args, **kwargs: None)  # no update
    optimizer = _adam([torch.nn.Parameter(torch.zeros(3))])
    with pytest.warns(SkdnnWarning, match="'fused_adam'.*differ"):
        assert optimizer_update(optimizer) == optimizer.step


def test_a_changed_onednn_operator_falls_back_to_mm(monkeypatch):
    def changed(*args):
        raise RuntimeError("mkldnn::_linear_pointwise() expected at most 5 arguments")

    monkeypatch.setattr(gemm, "_onednn_linear", lambda: changed)
    with pytest.warns(SkdnnWarning, match="'onednn_linear'.*at most 5 arguments"):
        assert gemm.kernels_for(torch.zeros(2, 2)) is gemm.AtenKernels
    assert gemm.kernels_for(torch.zeros(2, 2)) is gemm.AtenKernels  # for good, no new warning


class _ChangedAten:
    """torch.ops.aten, except that elu_backward has a new positional signature."""

    def __getattr__(self, name):
        if name == "elu_backward":
            def elu_backward(grad, alpha, scale, input_scale, is_result, output):
                return grad * 0  # same arity, wrong meaning: silently wrong gradients
            return elu_backward
        return getattr(torch.ops.aten, name)


def _fit(X, y):
    return DNNClassifier(
        hidden_layer_sizes=(16,), max_epochs=3, early_stopping=False, device="cpu", random_state=0
    ).fit(X, y)


def test_estimators_fit_with_one_warning_when_private_api_changed(digits, monkeypatch):
    # The default ELU network trains on the hand-derived step; with aten's
    # elu_backward changed, its self-check fails and autograd takes over.
    X, y = digits[0][:300], digits[1][:300]
    X_test = digits[2][:50]
    fast_paths.set_enabled(False)
    reference = _fit(X, y).predict_proba(X_test)
    fast_paths.set_enabled(None)
    fast = _fit(X, y).predict_proba(X_test)
    fast_paths.forget_results()
    monkeypatch.setattr(activations, "_aten", _ChangedAten())
    with pytest.warns(SkdnnWarning, match="'mlp_step'") as record:
        clf = _fit(X, y)
    assert len(fast_path_warnings(record)) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkdnnWarning)
        fallback = _fit(X, y).predict_proba(X_test)  # checked once: no second warning
    np.testing.assert_allclose(clf.predict_proba(X_test), fallback, rtol=0, atol=0)
    np.testing.assert_allclose(fallback, reference, rtol=1e-6, atol=1e-7)  # same path
    np.testing.assert_allclose(fallback, fast, atol=1e-3)  # fast path: same up to rounding
