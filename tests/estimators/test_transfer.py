"""TransferDNNClassifier: reuse, freezing, caching, unfreezing, clone-safety."""

import copy
import pickle
import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from skdnn import DNNClassifier, StackedAutoencoder, TransferDNNClassifier
from skdnn.exceptions import SkdnnWarning
from skdnn.training.freezing import FrozenPrefixSequential

FAST = dict(device="cpu", random_state=0, batch_size=64, learning_rate=1e-2)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    old, new = y < 5, y >= 5
    return X[old], y[old], X[new][:300], y[new][:300]


@pytest.fixture(scope="module")
def source(digits):
    """A batch-normalized classifier of digits 0-4, the layers to reuse."""
    X, y, _, _ = digits
    return DNNClassifier(
        (32, 24, 16), normalization="batch", input_normalization=True, max_epochs=8, **FAST
    ).fit(X, y)


def _fit(digits, pretrained, **params):
    _, _, X, y = digits
    return TransferDNNClassifier(pretrained, **{**FAST, "max_epochs": 6, **params}).fit(X, y)


def _block_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def _assert_same_state(first: nn.Module, second: nn.Module) -> None:
    a, b = first.state_dict(), second.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_network_reuses_freezes_and_adds_layers(digits, source):
    clf = _fit(digits, source, hidden_layer_sizes=(12,), n_reused_layers=2, n_frozen_layers=1)
    model = clf.model_
    assert isinstance(model, FrozenPrefixSequential)
    names = ["input", "hidden1", "hidden2", "hidden3", "output"]
    assert [name for name, _ in model.named_children()] == names
    assert model.hidden3.linear.in_features == 24 and model.hidden3.linear.out_features == 12
    assert model.output.linear.out_features == 5
    assert model.n_frozen == 2  # input block + hidden1
    assert not any(p.requires_grad for p in model.hidden1.parameters())
    assert all(p.requires_grad for p in model.hidden2.parameters())
    assert (clf.n_reused_layers_, clf.n_frozen_layers_) == (2, 1)
    assert set(clf.classes_) == {5, 6, 7, 8, 9}
    _, _, X, y = digits
    assert clf.score(X, y) > 0.6  # predict takes raw inputs


def test_cached_training_gives_the_same_model(digits, source):
    cached = _fit(digits, source, hidden_layer_sizes=(16,), dropout=0.2, cache_frozen=True)
    plain = _fit(digits, source, hidden_layer_sizes=(16,), dropout=0.2, cache_frozen=False)
    _, _, X, _ = digits
    assert_allclose(cached.predict_proba(X), plain.predict_proba(X), rtol=1e-4, atol=1e-5)
    for a, b in zip(cached.history_, plain.history_, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)
        assert_allclose(a["grad_norms"], b["grad_norms"], rtol=1e-3, atol=1e-6)
        assert_allclose(a["unhealthy_fraction"], b["unhealthy_fraction"])
    assert cached.history_[0]["grad_norms"][:3] == [0.0, 0.0, 0.0]  # frozen layers


def test_frozen_weights_and_batch_norm_statistics_do_not_change(digits, source):
    clf = _fit(digits, source, n_frozen_layers=2, cache_frozen=False)
    for name in ("input", "hidden1", "hidden2"):
        _assert_same_state(getattr(clf.model_, name), getattr(source.model_, name))
    # The unfrozen reused layer did learn, batch-norm statistics included.
    trained, original = clf.model_.hidden3.state_dict(), source.model_.hidden3.state_dict()
    assert not torch.equal(trained["linear.weight"], original["linear.weight"])
    assert not torch.equal(trained["norm.running_mean"], original["norm.running_mean"])


def test_the_source_is_never_modified(digits, source):
    weights = _block_state(source.model_)
    attributes = {k: copy.deepcopy(v) for k, v in vars(source).items() if k != "model_"}
    _fit(digits, source, n_frozen_layers=1, unfreeze_after=2, max_norm=0.5, l2=1e-3)
    _assert_same_state(source.model_, _Module(weights))
    assert vars(source).keys() == {*attributes, "model_"}
    assert source.get_params() == {k: attributes[k] for k in source.get_params()}
    assert source.history_ == attributes["history_"]
    assert all(p.requires_grad for p in source.model_.parameters())
    assert not source.model_.training


class _Module(nn.Module):
    """A module whose state dict is the given one (for comparisons)."""

    def __init__(self, state):
        super().__init__()
        self._state = state

    def state_dict(self, *args, **kwargs):
        return self._state


def test_unfreezing_lowers_the_rate_and_trains_the_unfrozen_layers(digits, source):
    params = dict(unfreeze_after=2, n_unfrozen=1, unfreeze_lr_factor=0.1, early_stopping=False)
    clf = _fit(digits, source, **params)
    rates = [record["lr"] for record in clf.history_]
    assert rates == pytest.approx([1e-2, 1e-2, 1e-3, 1e-3, 1e-3, 1e-3])
    assert clf.n_epochs_ == 6 and clf.n_frozen_layers_ == 2
    assert clf.model_.n_frozen == 3
    assert all(p.requires_grad for p in clf.model_.hidden3.parameters())
    assert not torch.equal(clf.model_.hidden3.linear.weight, source.model_.hidden3.linear.weight)
    _assert_same_state(clf.model_.hidden2, source.model_.hidden2)
    # Caching follows the moving boundary: the same model as without a cache.
    plain = _fit(digits, source, cache_frozen=False, **params)
    _, _, X, _ = digits
    assert_allclose(clf.predict_proba(X), plain.predict_proba(X), rtol=1e-4, atol=1e-5)


def test_warm_start_after_unfreezing_keeps_the_lowered_rate(digits, source):
    clf = _fit(digits, source, unfreeze_after=1, early_stopping=False, max_epochs=2)
    _, _, X, y = digits
    clf.set_params(warm_start=True).fit(X, y)
    assert [record["epoch"] for record in clf.history_] == [1, 2, 3, 4]
    assert [record["lr"] for record in clf.history_] == pytest.approx([1e-2] + [1e-3] * 3)
    assert clf.n_frozen_layers_ == 0


@pytest.mark.parametrize(
    "kind", ["estimator", "frozen", "autoencoder", "weights", "sequential", "path"]
)
def test_every_kind_of_source(digits, source, kind, tmp_path):
    X_old, _, X, _ = digits
    if kind == "estimator":
        pretrained, first = source, source.model_.hidden1.linear.weight
    elif kind == "frozen":
        pretrained, first = FrozenEstimator(source), source.model_.hidden1.linear.weight
    elif kind == "autoencoder":
        pretrained = StackedAutoencoder((24, 12), max_epochs=3, **FAST).fit(X_old)
        first = pretrained.model_.hidden1.linear.weight
    elif kind == "weights":
        rng = np.random.RandomState(0)
        pretrained = [(rng.randn(64, 20) * 0.1, np.zeros(20)), (rng.randn(20, 10) * 0.1, None)]
        first = torch.from_numpy(pretrained[0][0].T.astype(np.float32))
    elif kind == "sequential":
        pretrained = nn.Sequential(nn.Linear(64, 20), nn.Tanh(), nn.Linear(20, 10), nn.ReLU())
        first = pretrained[0].weight
    else:
        pretrained = tmp_path / "source.skdnn"
        source.save(pretrained)
        first = source.model_.hidden1.linear.weight
    clf = _fit(digits, pretrained, hidden_layer_sizes=(8,))
    assert torch.equal(clf.model_.hidden1.linear.weight, first)
    assert clf.predict(X).shape == (len(X),)
    if kind in ("weights", "sequential"):
        assert clf.n_reused_layers_ == 2
        assert clf.model_.hidden2.linear.bias is None if kind == "weights" else True
        expected = nn.ELU if kind == "weights" else nn.ReLU
        assert isinstance(clf.model_.hidden2.activation, expected)


def test_clone_keeps_the_pretrained_weights(digits, source):
    clf = TransferDNNClassifier(source, max_epochs=3, **FAST)
    cloned = clone(clf)
    assert cloned.pretrained is source
    assert cloned.get_params(deep=False).keys() == clf.get_params(deep=False).keys()
    fitted = _fit(digits, source)
    assert not hasattr(clone(fitted), "model_")
    assert clone(fitted).pretrained is source
    assert clone(make_pipeline(StandardScaler(), clf))[-1].pretrained is source
    # The shared source is out of reach of set_params (and so of searches).
    assert clf.get_params(deep=True) == clf.get_params(deep=False)
    with pytest.raises(ValueError, match="pretrained model is shared by clones"):
        clf.set_params(pretrained__max_epochs=1)
    assert source.max_epochs == 8


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search_keeps_the_pretrained_weights(digits, source, n_jobs):
    _, _, X, y = digits
    search = GridSearchCV(
        TransferDNNClassifier(source, max_epochs=2, **FAST),
        {"learning_rate": [1e-2, 3e-2]},
        cv=2,
        n_jobs=n_jobs,
        error_score="raise",  # a fit without the weights would raise NotFittedError
    ).fit(X, y)
    best = search.best_estimator_.model_
    _assert_same_state(best.hidden2, source.model_.hidden2)


def test_grid_search_over_frozen_sources(digits, source):
    _, _, X, y = digits
    other = clone(source).set_params(random_state=1).fit(*digits[:2])
    search = GridSearchCV(
        TransferDNNClassifier(max_epochs=2, **FAST),
        {"pretrained": [FrozenEstimator(source), FrozenEstimator(other)]},
        cv=2,
        error_score="raise",
    ).fit(X, y)
    assert search.best_estimator_.pretrained.estimator in (source, other)


def test_errors_are_clear(digits, source):
    with pytest.raises(ValueError, match="X has 63 features, but the pretrained layers expect 64"):
        _fit((None, None, digits[2][:, 1:], digits[3]), source)
    with pytest.raises(NotFittedError, match=r"pretrained DNNClassifier is not fitted.*FrozenEst"):
        _fit(digits, clone(source))
    with pytest.raises(ValueError, match="pretrained is required"):
        _fit(digits, None)
    with pytest.raises(ValueError, match=r"pretrained must be .* got a dict"):
        _fit(digits, {"weights": 1})
    with pytest.raises(ValueError, match="n_reused_layers=4 but there are only 3 hidden"):
        _fit(digits, source, n_reused_layers=4)
    with pytest.raises(ValueError, match="n_frozen_layers=2 but there are only 1 reused"):
        _fit(digits, source, n_reused_layers=1, n_frozen_layers=2)
    with pytest.raises(ValueError, match=r"input_normalization=False and input_dropout=0\.0"):
        _fit(digits, source, input_dropout=0.2)
    with pytest.raises(ValueError, match="n_unfrozen=1 was given without unfreeze_after"):
        _fit(digits, source, n_unfrozen=1)
    with pytest.raises(ValueError, match=r"kernel must have shape \(20, n_out\)"):
        _fit(digits, [(np.ones((64, 20)), None), (np.ones((10, 3)), None)])
    with pytest.raises(ValueError, match="at most one activation"):
        _fit(digits, nn.Sequential(nn.Linear(64, 5), nn.ReLU(), nn.ReLU()))


def test_augment_falls_back_to_training_through_frozen_layers(digits, source):
    def noise(X, generator):
        return X + 0.01 * torch.randn(X.shape, generator=generator)

    with pytest.warns(SkdnnWarning, match="cannot cache the frozen layers"):
        clf = _fit(digits, source, augment=noise, max_epochs=2)
    _assert_same_state(clf.model_.hidden3, source.model_.hidden3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _fit(digits, source, augment=noise, cache_frozen=False, max_epochs=1)


def test_partial_fit_pickle_and_save(digits, source, tmp_path):
    _, _, X, y = digits
    clf = TransferDNNClassifier(source, **FAST)
    for _ in range(2):
        clf.partial_fit(X, y, classes=np.arange(5, 10))
    assert clf.n_epochs_ == 2
    _assert_same_state(clf.model_.hidden3, source.model_.hidden3)
    restored = pickle.loads(pickle.dumps(clf))
    assert_allclose(restored.predict_proba(X), clf.predict_proba(X))
    assert restored.model_.n_frozen == 4
    path = tmp_path / "transfer.skdnn"
    with pytest.warns(SkdnnWarning, match="pretrained"):
        clf.save(path)
    loaded = TransferDNNClassifier.load(path)
    assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-6)
