"""MC dropout, the learning-rate finder, summary() and zero_small_weights()."""

import numpy as np
import pytest
import torch

from skdnn import DNNClassifier
from skdnn.exceptions import SkdnnWarning


def small(**params):
    defaults = dict(hidden_layer_sizes=(32, 32), max_epochs=5, device="cpu", random_state=0)
    return DNNClassifier(**{**defaults, **params})


@pytest.fixture(scope="module")
def dropout_bn(digits):
    X, y, _, _ = digits
    return small(dropout=0.3, normalization="batch").fit(X, y)


def test_mc_dropout_probabilities_are_valid_vary_and_leave_bn_alone(dropout_bn, digits):
    _, _, X_test, _ = digits
    norm = dropout_bn.model_.hidden1.norm
    running = norm.running_mean.clone(), norm.running_var.clone()
    mean, std = dropout_bn.predict_proba_mc(X_test[:50], n_passes=30)
    assert np.allclose(mean.sum(axis=1), 1.0)
    assert (mean >= 0).all() and (std > 0).any()
    assert torch.equal(norm.running_mean, running[0]) and torch.equal(norm.running_var, running[1])
    assert not dropout_bn.model_.training
    assert not any(m.training for m in dropout_bn.model_.modules())
    plain = dropout_bn.predict_proba(X_test[:50])
    assert not np.allclose(mean, plain)
    assert (mean.argmax(1) == plain.argmax(1)).mean() > 0.8


def test_mc_samples_hyperparameter_drives_predict_proba(dropout_bn, digits):
    _, _, X_test, _ = digits
    mc = dropout_bn.set_params(mc_samples=20)
    try:
        first, second = mc.predict_proba(X_test[:20]), mc.predict_proba(X_test[:20])
        assert np.array_equal(first, second)  # deterministic for an int random_state
        assert np.allclose(first, mc.predict_proba_mc(X_test[:20], n_passes=20)[0])
        assert np.allclose(np.exp(mc.predict_log_proba(X_test[:20])), first)
    finally:
        dropout_bn.set_params(mc_samples=0)


def test_mc_dropout_without_dropout_warns(digits):
    X, y, X_test, _ = digits
    clf = small(max_epochs=1).fit(X[:200], y[:200])
    with pytest.warns(SkdnnWarning, match="dropout layers"):
        _, std = clf.predict_proba_mc(X_test[:5], n_passes=3)
    assert np.allclose(std, 0)


def test_lr_finder_leaves_estimator_unfitted_and_suggests_a_good_rate(digits):
    X, y, X_test, y_test = digits
    clf = small(optimizer="sgd", momentum=0.0)
    result = clf.find_learning_rate(X, y, min_lr=1e-4, max_lr=100.0, n_steps=200)
    assert not hasattr(clf, "model_")
    assert len(result.learning_rates) == len(result.losses) <= 200
    assert np.all(np.diff(result.learning_rates) > 0)
    assert 1e-4 <= result.suggestion <= 10.0
    assert result.losses.min() < result.losses[0]
    fast = small(optimizer="sgd", momentum=0.0, learning_rate=result.suggestion).fit(X, y)
    slow = small(optimizer="sgd", momentum=0.0, learning_rate=1e-4).fit(X, y)
    assert fast.score(X_test, y_test) > 0.85 > slow.score(X_test, y_test)


def test_lr_finder_bad_range(digits):
    X, y, _, _ = digits
    with pytest.raises(ValueError, match="min_lr"):
        small().find_learning_rate(X, y, min_lr=1.0, max_lr=0.1)


def test_summary_counts_parameters(digits):
    X, y, _, _ = digits
    clf = small(hidden_layer_sizes=(10,), normalization="batch", max_epochs=1).fit(X, y)
    table = clf.summary()
    assert "hidden1.linear" in table and "(None, 10)" in table
    # Linear 64->10 without bias (BN follows) = 640; BN gamma+beta 20 trainable,
    # running mean+var 20 non-trainable; output 10*10+10 = 110.
    assert "Trainable: 770" in table and "Non-trainable: 20" in table
    for p in clf.model_.hidden1.parameters():
        p.requires_grad_(False)
    assert "Trainable: 110" in clf.summary()


def test_zero_small_weights_and_l1_sparsity(digits):
    X, y, X_test, y_test = digits
    plain = small(max_epochs=10).fit(X, y)
    sparse = small(max_epochs=10, l1=1e-4).fit(X, y)
    threshold = 1e-3
    kernels = [m.weight for m in sparse.model_.modules() if isinstance(m, torch.nn.Linear)]
    expected = sum(int((k.abs() < threshold).sum()) for k in kernels) / sum(
        k.numel() for k in kernels
    )
    zeroed = sparse.zero_small_weights(threshold)
    assert zeroed == pytest.approx(expected)
    assert zeroed > plain.zero_small_weights(threshold)
    assert sparse.score(X_test, y_test) > 0.8


def test_predict_proba_mc_n_samples_is_a_deprecated_name_of_n_passes(dropout_bn, digits):
    _, _, X_test, _ = digits
    expected = dropout_bn.predict_proba_mc(X_test[:10], n_passes=4)
    with pytest.warns(FutureWarning, match="n_passes"):
        deprecated = dropout_bn.predict_proba_mc(X_test[:10], n_samples=4)
    assert np.array_equal(expected[0], deprecated[0]) and np.array_equal(expected[1], deprecated[1])
