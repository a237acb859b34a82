"""Pretraining on an auxiliary task: make_pairs and SiameseDNNClassifier."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal
from sklearn.datasets import load_digits

from skdnn import TransferDNNClassifier
from skdnn.estimators import SiameseDNNClassifier, make_pairs

FAST = dict(device="cpu", random_state=0, batch_size=64, learning_rate=1e-2)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


@pytest.fixture(scope="module")
def siamese(digits):
    X, y = digits
    X_pairs, same = make_pairs(X[:1000], y[:1000], 3000, random_state=0)
    return SiameseDNNClassifier((32, 16), max_epochs=8, **FAST).fit(X_pairs, same)


def test_make_pairs_draws_half_same_half_different(digits):
    X, y = digits
    X_pairs, same = make_pairs(X, y, 501, random_state=0)
    assert X_pairs.shape == (501, 128) and same.shape == (501,)
    assert same.sum() == 250
    row_of = {row.tobytes(): index for index, row in enumerate(X)}
    first = y[[row_of[row.tobytes()] for row in X_pairs[:, :64]]]
    second = y[[row_of[row.tobytes()] for row in X_pairs[:, 64:]]]
    assert_array_equal(first == second, same.astype(bool))
    again, _ = make_pairs(X, y, 501, random_state=0)
    assert_array_equal(again, X_pairs)


def test_make_pairs_errors(digits):
    X, y = digits
    with pytest.raises(ValueError, match="at least 2 classes"):
        make_pairs(X, np.zeros(len(X)), 10)
    with pytest.raises(ValueError, match="n_pairs must be an int >= 1"):
        make_pairs(X, y, 0)
    with pytest.raises(ValueError, match="n_pairs must be an int >= 1; got True"):
        make_pairs(X, y, True)


def test_siamese_learns_the_pair_task(digits, siamese):
    X, y = digits
    X_pairs, same = make_pairs(X[1000:], y[1000:], 1000, random_state=1)
    assert siamese.score(X_pairs, same) > 0.75
    assert siamese.trunk_n_features_ == 64


def test_the_trunk_is_shared_by_both_inputs(digits, siamese):
    X, _ = digits
    trunk = siamese.model_.trunk
    with torch.inference_mode():
        codes = trunk(torch.from_numpy(np.hstack([X[:5], X[5:10]])))
        alone = trunk.network(torch.from_numpy(X[:10]))
    torch.testing.assert_close(codes[:, :16], alone[:5])
    torch.testing.assert_close(codes[:, 16:], alone[5:])


def test_transfer_reuses_the_trunk_on_single_inputs(digits, siamese):
    X, y = digits
    clf = TransferDNNClassifier(siamese, max_epochs=10, **FAST).fit(X[1000:1300], y[1000:1300])
    assert clf.n_features_in_ == 64 and clf.n_reused_layers_ == 2
    assert torch.equal(
        clf.model_.hidden2.linear.weight, siamese.model_.trunk.network.hidden2.linear.weight
    )
    assert clf.score(X[1300:], y[1300:]) > 0.5


def test_odd_feature_count_is_refused(digits):
    X, y = digits
    with pytest.raises(ValueError, match="even number of features, but has 63 feature"):
        SiameseDNNClassifier((8,), max_epochs=1, **FAST).fit(X[:50, 1:], y[:50] % 2)
