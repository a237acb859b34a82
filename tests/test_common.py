"""scikit-learn's own estimator checks, over every skdnn estimator."""

import numpy as np
from numpy.testing import assert_allclose
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdnn import DNNClassifier, StackedAutoencoder

# Small networks and few epochs keep the ~60 checks fast; the defaults are
# exercised by the other tests. TransferDNNClassifier is not listed: its input
# width is fixed by its pretrained source, while the checks draw data of 1 to 20
# features; tests/estimators/test_transfer.py covers clone, pickle, searches and
# bad input for it. SiameseDNNClassifier likewise needs an even input width.
ESTIMATORS = [
    DNNClassifier(hidden_layer_sizes=(32,), max_epochs=60, device="cpu", random_state=0),
    StackedAutoencoder(hidden_layer_sizes=(16,), max_epochs=30, device="cpu", random_state=0),
]

_MINI_BATCH_WEIGHTS = (
    "Mini-batch training: duplicating rows changes how many steps an epoch has and "
    "which rows share a batch, so the two fits take different paths even though "
    "their objectives are equal. The equivalence itself is checked in full-batch "
    "mode by test_sample_weight_equivalence_full_batch."
)
EXPECTED_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data": _MINI_BATCH_WEIGHTS,
    "check_sample_weight_equivalence_on_sparse_data": _MINI_BATCH_WEIGHTS,
    "check_methods_subset_invariance": (
        "The network computes in float32; the BLAS picks different kernels for one row "
        "and for many, so probabilities differ by ~2e-7, above the check's atol of 1e-7. "
        "Predicted labels are identical (tested in test_classifier.py)."
    ),
}


def expected_failed_checks(estimator):
    # The autoencoder passes every check: it takes no sample weights, and its
    # codes agree to 1e-7 between subsets.
    return EXPECTED_FAILURES if isinstance(estimator, DNNClassifier) else {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_sample_weight_equivalence_full_batch():
    # With one batch holding every row and no validation split, weighting a row by
    # k and repeating it k times give the same gradient at every step, hence the
    # same model up to float32 rounding (sklearn's own check asks rtol=1e-7).
    rng = np.random.RandomState(42)
    X = rng.rand(30, 8)
    y = rng.randint(0, 3, size=30)
    weights = rng.randint(0, 4, size=30)
    params = dict(
        hidden_layer_sizes=(16,),
        batch_size=10_000,
        max_epochs=20,
        early_stopping=False,
        device="cpu",
        random_state=0,
    )
    weighted = DNNClassifier(**params).fit(X, y, sample_weight=weights)
    repeated = DNNClassifier(**params).fit(np.repeat(X, weights, axis=0), np.repeat(y, weights))
    X_test = rng.rand(50, 8)
    assert_allclose(weighted.predict_proba(X_test), repeated.predict_proba(X_test), rtol=1e-5)
    unweighted = DNNClassifier(**params).fit(X, y)
    assert not np.allclose(weighted.predict_proba(X_test), unweighted.predict_proba(X_test))
