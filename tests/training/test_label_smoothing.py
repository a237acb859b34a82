"""Label smoothing: the fused cross-entropy gradient against autograd, and the estimator option."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import make_classification

from skdnn import DNNClassifier
from skdnn.training import fast_paths, steps
from skdnn.training.objectives import CROSS_ENTROPY, cross_entropy_objective
from skdnn.training.steps import CrossEntropyGradient


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.35])
@pytest.mark.parametrize("weighted", [False, True])
def test_fused_gradient_matches_torch_cross_entropy_with_smoothing(smoothing, weighted):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(17, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 5, (17,), generator=gen)
    weight = torch.rand(17, generator=gen, dtype=torch.float64) + 0.5 if weighted else None
    objective = cross_entropy_objective(smoothing)
    expected = objective.batch_loss(logits, y, weight)
    (expected_grad,) = torch.autograd.grad(expected, logits)

    losses, grad = CrossEntropyGradient(smoothing)(logits.detach().clone(), y, weight)

    assert losses.shape == (17, 1)
    torch.testing.assert_close(losses.mean(), expected.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-12, atol=1e-12)


def test_objective_is_torch_label_smoothing():
    logits = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    y = torch.arange(8) % 3
    assert cross_entropy_objective(0.0) is CROSS_ENTROPY
    smoothed = cross_entropy_objective(0.2)
    assert smoothed.fused_gradient_params == {"label_smoothing": 0.2}
    torch.testing.assert_close(
        smoothed.loss(logits, y), F.cross_entropy(logits, y, label_smoothing=0.2)
    )


def _data():
    return make_classification(
        n_samples=300, n_features=8, n_informative=6, class_sep=3.0, random_state=0
    )


@pytest.mark.parametrize("fast", [True, False])
def test_smoothing_keeps_probabilities_away_from_zero_and_one(fast):
    X, y = _data()
    params = dict(hidden_layer_sizes=(32,), max_epochs=60, random_state=0)
    fast_paths.set_enabled(fast)
    try:
        plain = DNNClassifier(**params).fit(X, y)
        smoothed = DNNClassifier(label_smoothing=0.3, **params).fit(X, y)
    finally:
        fast_paths.set_enabled(None)
    # With s = 0.3 and 2 classes the loss is smallest at p(true) = 1 - s / 2 = 0.85.
    top_plain = plain.predict_proba(X).max(axis=1)
    top_smoothed = smoothed.predict_proba(X).max(axis=1)
    assert top_plain.mean() > 0.97
    assert 0.75 < top_smoothed.mean() < 0.92
    assert smoothed.score(X, y) > 0.9


def test_fast_and_autograd_steps_agree_with_smoothing(monkeypatch):
    built = []

    class Recording(CrossEntropyGradient):
        def __init__(self, label_smoothing=0.0):
            super().__init__(label_smoothing)
            built.append(label_smoothing)

    monkeypatch.setitem(steps.FUSED_LOSS_GRADIENTS, "cross_entropy", Recording)
    X, y = _data()
    params = dict(hidden_layer_sizes=(16,), max_epochs=3, random_state=0, label_smoothing=0.2,
                  shuffle=False)
    fast_paths.set_enabled(True)
    try:
        fast = DNNClassifier(**params).fit(X, y)
    finally:
        fast_paths.set_enabled(False)
    assert built == [0.2] * 3, "the fast step (one per epoch) did not use the smoothed gradient"
    try:
        slow = DNNClassifier(**params).fit(X, y)
    finally:
        fast_paths.set_enabled(None)
    np.testing.assert_allclose(
        fast.predict_proba(X), slow.predict_proba(X), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_label_smoothing_out_of_range_is_a_value_error(bad):
    X, y = _data()
    with pytest.raises(ValueError, match="label_smoothing"):
        DNNClassifier(label_smoothing=bad, max_epochs=1).fit(X, y)
