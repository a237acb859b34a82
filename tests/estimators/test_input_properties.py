"""Property-based test: random shapes and values give a fit or a clean ValueError."""

import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skdnn import DNNClassifier

values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.floats(-1e3, 1e3, width=32),
)
shapes = st.one_of(
    st.tuples(st.integers(0, 12), st.integers(0, 4)),
    st.tuples(st.integers(0, 6)),
    st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 2)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    X=shapes.flatmap(lambda shape: arrays(np.float64, shape, elements=values)),
    data=st.data(),
    X_new=shapes.flatmap(lambda shape: arrays(np.float64, shape, elements=values)),
)
def test_fit_and_predict_only_succeed_or_raise_value_error(X, data, X_new):
    # Mostly a label per row (so fits do happen), sometimes a mismatched length.
    n_labels = data.draw(st.one_of(st.just(len(X)), st.integers(0, 12)))
    y = data.draw(st.lists(st.integers(0, 2), min_size=n_labels, max_size=n_labels))
    clf = DNNClassifier(hidden_layer_sizes=(4,), max_epochs=2, device="cpu", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            clf.fit(X, np.asarray(y))
        except ValueError:
            return
        assert np.isfinite(clf.predict_proba(X)).all()
        try:
            proba = clf.predict_proba(X_new)
        except ValueError:
            return
    assert proba.shape == (len(X_new), len(clf.classes_))
    assert np.allclose(proba.sum(axis=1), 1.0)
