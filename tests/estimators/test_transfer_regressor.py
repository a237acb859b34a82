"""TransferDNNRegressor: layers across tasks (classification <-> regression), freezing, clones."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV
from torch import nn

from skdnn import (
    DNNClassifier,
    DNNRegressor,
    StackedAutoencoder,
    TransferDNNClassifier,
    TransferDNNRegressor,
)
from skdnn.exceptions import SkdnnWarning
from skdnn.training.freezing import FrozenPrefixSequential

FAST = dict(device="cpu", random_state=0, batch_size=64, learning_rate=1e-2)


@pytest.fixture(scope="module")
def digits():
    """Images, their labels, and a regression target: the ink of the image's lower half."""
    X, labels = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    ink = X.reshape(-1, 8, 8)[:, 4:].sum(axis=(1, 2)) * 10.0
    return X, labels, ink


@pytest.fixture(scope="module")
def classifier(digits):
    X, labels, _ = digits
    return DNNClassifier(
        (32, 16), normalization="batch", input_normalization=True, max_epochs=6, **FAST
    ).fit(X, labels)


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def _same(first: dict, second: dict) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_classifier_layers_carry_a_regression(digits, classifier):
    X, _, ink = digits
    reg = TransferDNNRegressor(classifier, hidden_layer_sizes=(8,), n_frozen_layers=1,
                               max_epochs=10, **FAST).fit(X, ink)
    model = reg.model_
    assert isinstance(model, FrozenPrefixSequential)
    assert [name for name, _ in model.named_children()] == [
        "input", "hidden1", "hidden2", "hidden3", "output"]
    assert model.output.linear.out_features == 1
    assert (reg.n_reused_layers_, reg.n_frozen_layers_) == (2, 1)
    assert _same(_state(model.hidden1), _state(classifier.model_.hidden1))
    assert not torch.equal(model.hidden2.linear.weight, classifier.model_.hidden2.linear.weight)
    assert reg.predict(X).shape == (len(X),)
    assert reg.score(X, ink) > 0.7
    assert_allclose(reg.target_offset_, [ink.mean()])


def test_regressor_layers_carry_a_classification(digits):
    X, labels, ink = digits
    source = DNNRegressor((32, 16), max_epochs=6, **FAST).fit(X, ink)
    before = _state(source.model_)
    clf = TransferDNNClassifier(source, max_epochs=6, **FAST).fit(X, labels)
    assert _same(_state(clf.model_.hidden2), _state(source.model_.hidden2))  # all frozen
    assert _same(_state(source.model_), before)
    assert clf.model_.output.linear.out_features == 10
    assert clf.score(X, labels) > 0.5


@pytest.mark.parametrize("kind", ["regressor", "frozen", "autoencoder", "path", "weights",
                                  "sequential"])
def test_every_kind_of_source(digits, kind, tmp_path):
    X, _, ink = digits
    if kind in ("regressor", "frozen", "path"):
        source = DNNRegressor((20,), max_epochs=2, **FAST).fit(X, np.c_[ink, -ink])
        first = source.model_.hidden1.linear.weight
        pretrained = {"regressor": source, "frozen": FrozenEstimator(source)}.get(kind)
        if kind == "path":
            pretrained = tmp_path / "source.skdnn"
            source.save(pretrained)
    elif kind == "autoencoder":
        pretrained = StackedAutoencoder((20,), max_epochs=2, **FAST).fit(X)
        first = pretrained.model_.hidden1.linear.weight
    elif kind == "weights":
        rng = np.random.RandomState(0)
        pretrained = [(rng.randn(64, 20) * 0.1, np.zeros(20))]
        first = torch.from_numpy(pretrained[0][0].T.astype(np.float32))
    else:
        pretrained = nn.Sequential(nn.Linear(64, 20), nn.Tanh())
        first = pretrained[0].weight
    reg = TransferDNNRegressor(pretrained, max_epochs=2, **FAST).fit(X, ink)
    assert torch.equal(reg.model_.hidden1.linear.weight, first)
    assert reg.predict(X).shape == (len(X),)


def test_cache_unfreeze_and_mc_dropout(digits, classifier):
    X, _, ink = digits
    params = dict(hidden_layer_sizes=(16,), dropout=0.2, unfreeze_after=2, n_unfrozen=1,
                  early_stopping=False, max_epochs=4, **FAST)
    cached = TransferDNNRegressor(classifier, **params).fit(X, ink)
    plain = TransferDNNRegressor(classifier, cache_frozen=False, **params).fit(X, ink)
    assert_allclose(cached.predict(X), plain.predict(X), rtol=1e-4, atol=1e-4)
    assert [r["lr"] for r in cached.history_] == pytest.approx([1e-2, 1e-2, 1e-3, 1e-3])
    assert cached.n_frozen_layers_ == 1
    mean, std = cached.predict(X[:20], return_std=True)
    assert mean.shape == std.shape == (20,) and (std > 0).all()


def test_clone_and_search_keep_the_pretrained_weights(digits, classifier):
    X, _, ink = digits
    reg = TransferDNNRegressor(classifier, max_epochs=2, **FAST)
    assert clone(reg).pretrained is classifier
    assert reg.get_params(deep=True) == reg.get_params(deep=False)
    with pytest.raises(ValueError, match="pretrained model is shared by clones"):
        reg.set_params(pretrained__max_epochs=1)
    search = GridSearchCV(reg, {"loss": ["squared_error", "huber"]}, cv=2, n_jobs=2,
                          error_score="raise").fit(X, ink)
    assert _same(_state(search.best_estimator_.model_.hidden2),
                 _state(classifier.model_.hidden2))


def test_partial_fit_pickle_and_save(digits, classifier, tmp_path):
    X, _, ink = digits
    reg = TransferDNNRegressor(classifier, **FAST)
    for _ in range(2):
        reg.partial_fit(X, ink)
    assert reg.n_epochs_ == 2
    restored = pickle.loads(pickle.dumps(reg))
    assert_allclose(restored.predict(X), reg.predict(X))
    path = tmp_path / "transfer.skdnn"
    with pytest.warns(SkdnnWarning, match="pretrained"):
        reg.save(path)
    assert_allclose(TransferDNNRegressor.load(path).predict(X), reg.predict(X), rtol=1e-6)


def test_errors_are_clear(digits, classifier):
    X, _, ink = digits
    with pytest.raises(ValueError, match="X has 63 features, but the pretrained layers expect 64"):
        TransferDNNRegressor(classifier, **FAST).fit(X[:, 1:], ink)
    with pytest.raises(ValueError, match="pretrained is required"):
        TransferDNNRegressor(**FAST).fit(X, ink)
    with pytest.raises(ValueError, match="numeric targets"):
        TransferDNNRegressor(classifier, **FAST).fit(X, np.array(["a"] * len(X)))


def test_reusing_no_layer_leaves_the_input_width_free(digits, classifier):
    X, _, ink = digits
    weights = [(np.ones((3, 4)), np.zeros(4))]
    reg = TransferDNNRegressor(weights, n_reused_layers=0, max_epochs=1, **FAST).fit(X, ink)
    assert reg.n_reused_layers_ == 0 and reg.model_.output.linear.in_features == 64
    with pytest.raises(ValueError, match="pretrained layers expect 3"):
        TransferDNNRegressor(weights, n_reused_layers=1, **FAST).fit(X, ink)
    # The classifier's source has an input block (batch norm on 64 inputs): still checked.
    with pytest.raises(ValueError, match="pretrained layers expect 64"):
        TransferDNNRegressor(classifier, n_reused_layers=0, **FAST).fit(X[:, 1:], ink)
