"""Prediction's fast path: the cached inference network and the quick input check."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone

from skdnn import DNNClassifier


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = (rng.randn(300, 10) * 2 + 1).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 2).astype(int) + (X[:, 2] > 1)
    return X, y


def _classifier(**params) -> DNNClassifier:
    defaults = dict(
        hidden_layer_sizes=(16, 8),
        max_epochs=3,
        batch_size=32,
        early_stopping=False,
        device="cpu",
        random_state=0,
    )
    return DNNClassifier(**{**defaults, **params})


def _module_probabilities(clf: DNNClassifier, X: np.ndarray) -> np.ndarray:
    module = clf.model_.eval()
    with torch.no_grad():
        logits = module(torch.from_numpy(np.asarray(X, dtype=np.float32)))
    return torch.softmax(logits.double(), dim=1).numpy()


@pytest.mark.parametrize(
    "params",
    [
        {"normalization": "batch"},
        {"normalization": "batch", "normalization_position": "after", "input_normalization": True},
        {"activation": "relu", "dropout": 0.2},
    ],
)
def test_predictions_match_the_fitted_module(data, params):
    X, y = data
    clf = _classifier(**params).fit(X, y)
    assert_allclose(clf.predict_proba(X), _module_probabilities(clf, X), rtol=1e-5, atol=1e-6)
    assert_allclose(
        clf.predict_proba(X[:1]), _module_probabilities(clf, X[:1]), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("params", [{}, {"n_ensemble": 2}])  # a chain, and a module run whole
def test_a_network_cast_to_float64_predicts_from_float32_data(data, params):
    X, y = data
    clf = _classifier(**params).fit(X, y)
    clf.model_.double()
    module = clf.model_.eval()
    with torch.no_grad():
        want = torch.softmax(module(torch.from_numpy(X).double()), dim=1).numpy()
    got = clf.predict_proba(X)
    assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for size in (1, 2, 7):
        assert_array_equal(clf.predict_proba(X[:size]), got[:size])


def test_cache_is_reused_and_rebuilt_after_training(data):
    X, y = data
    clf = _classifier(normalization="batch").fit(X, y)
    clf.predict_proba(X[:5])
    cached = clf._inference_cache
    clf.predict_proba(X[:5])
    assert clf._inference_cache is cached

    clf.partial_fit(X, y)
    assert_allclose(clf.predict_proba(X), _module_probabilities(clf, X), rtol=1e-5, atol=1e-6)
    assert clf._inference_cache is not cached

    cached = clf._inference_cache
    clf.set_params(warm_start=True, max_epochs=1).fit(X, y)
    assert_allclose(clf.predict_proba(X), _module_probabilities(clf, X), rtol=1e-5, atol=1e-6)
    assert clf._inference_cache is not cached

    cached = clf._inference_cache
    clf.set_params(warm_start=False).fit(X, y)  # a fresh fit builds a new network
    assert_allclose(clf.predict_proba(X), _module_probabilities(clf, X), rtol=1e-5, atol=1e-6)
    assert clf._inference_cache is not cached


def test_cache_is_not_pickled_nor_cloned(data):
    X, y = data
    clf = _classifier(normalization="batch").fit(X, y)
    expected = clf.predict_proba(X)
    assert "_inference_cache" not in clf.__getstate__()
    restored = pickle.loads(pickle.dumps(clf))
    assert "_inference_cache" not in vars(restored)
    assert_array_equal(restored.predict_proba(X), expected)
    assert "_inference_cache" not in vars(clone(clf))


@pytest.mark.parametrize(
    "convert",
    [
        lambda X: X.astype(np.float64),
        lambda X: np.asfortranarray(X),
        lambda X: X[:, ::-1][:, ::-1],
        lambda X: X.tolist(),
    ],
)
def test_quick_input_check_gives_the_same_predictions(data, convert):
    X, y = data
    clf = _classifier().fit(X, y)
    assert_array_equal(clf.predict_proba(convert(X)), clf.predict_proba(X))


def test_quick_input_check_still_rejects_bad_inputs(data):
    X, y = data
    clf = _classifier().fit(X, y)
    bad = X.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.predict_proba(bad)
    bad[3, 4] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        clf.predict_proba(bad)
    with pytest.raises(ValueError, match="features"):
        clf.predict_proba(X[:, :5])
    with pytest.raises(ValueError):
        clf.predict_proba(X[:0])
    # Finite float32 values whose sum overflows float32 are accepted, without a warning.
    huge = np.full((2, X.shape[1]), np.finfo(np.float32).max / 2, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.filterwarnings("ignore", category=RuntimeWarning, module="torch")
        assert clf.predict_proba(huge).shape == (2, 3)


def test_quick_input_check_keeps_the_feature_name_warning(data):
    pd = pytest.importorskip("pandas")
    X, y = data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    clf = _classifier().fit(frame, y)
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict_proba(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.predict_proba(frame)
