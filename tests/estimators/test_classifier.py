import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from skdnn import DNNClassifier
from skdnn.exceptions import TrainingInterruptedWarning


def small(**params):
    defaults = dict(hidden_layer_sizes=(32, 32), max_epochs=15, device="cpu", random_state=0)
    return DNNClassifier(**{**defaults, **params})


@pytest.fixture(scope="module")
def fitted(digits):
    X, y, _, _ = digits
    return small().fit(X, y)


def test_learns_digits(digits):
    X, y, X_test, y_test = digits
    clf = small(max_epochs=40).fit(X, y)
    assert clf.score(X_test, y_test) > 0.9
    assert clf.n_features_in_ == 64
    assert list(clf.classes_) == list(range(10))
    assert 1 <= clf.best_epoch_ <= clf.n_epochs_ == len(clf.history_)
    record = clf.history_[0]
    assert {"epoch", "loss", "val_loss", "val_accuracy", "lr", "time", "grad_norms"} <= set(record)
    assert len(record["grad_norms"]) == 2
    assert clf.history_[-1]["loss"] < clf.history_[0]["loss"]


@pytest.mark.parametrize("labels", [["cat", "dog", "emu"], [True, False, True], [-1, 2, 7]])
def test_any_label_type(labels):
    rng = np.random.RandomState(0)
    y = np.array(labels * 20, dtype=object if isinstance(labels[0], str) else None)
    X = rng.rand(60, 4) + (np.unique(y, return_inverse=True)[1][:, None])
    clf = small(max_epochs=30).fit(X, y)
    assert set(clf.predict(X)) <= set(labels)
    assert clf.score(X, y) > 0.9


def test_pandas_feature_names():
    X = pd.DataFrame({"a": [0.0, 1, 0, 1] * 5, "b": [1.0, 0, 1, 0] * 5})
    y = pd.Series(["x", "y", "x", "y"] * 5)
    clf = small(max_epochs=3).fit(X, y)
    assert list(clf.feature_names_in_) == ["a", "b"]
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(X.to_numpy())


def test_same_seed_identical_different_seed_differs(digits):
    X, y, X_test, _ = digits
    a = small(max_epochs=3, dropout=0.2).fit(X, y).predict_proba(X_test)
    b = small(max_epochs=3, dropout=0.2).fit(X, y).predict_proba(X_test)
    c = small(max_epochs=3, dropout=0.2, random_state=1).fit(X, y).predict_proba(X_test)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_global_rng_untouched(digits):
    X, y, _, _ = digits
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002 (the global state is the point)
    torch_state = torch.get_rng_state().clone()
    small(max_epochs=2, dropout=0.3, activation="rrelu").fit(X, y)
    assert np.array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002
    assert torch.equal(torch.get_rng_state(), torch_state)


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        (np.ones((4, 2)), [0, np.nan, 1, 0], "NaN"),  # NaN in X is imputed (test_tables.py)
        (np.array([[np.inf, 1.0]] * 4), [0, 1, 0, 1], "infinity"),
        (np.empty((0, 3)), [], "0 sample"),
        (np.ones((4, 2)), [1, 1, 1, 1], "at least 2 classes"),
        (np.ones((4, 2)), [0.1, 0.5, 0.7, 0.2], "continuous"),
        (np.ones((4, 2, 2)), [0, 1, 0, 1], "3"),
        (np.ones((4, 2)), [0, 1, 0], "inconsistent numbers of samples"),
        (np.array([["a", "b"]] * 4), [0, 1, 0, 1], "could not convert|numeric"),
        (np.ones((4, 2)), np.array([[0, 1], [1, 0], [0, 1], [1, 0]]), "y should be a 1d"),
    ],
)
def test_bad_input_is_a_value_error(X, y, match):
    with pytest.raises(ValueError, match=match):
        small(max_epochs=1).fit(X, y)


def test_wrong_feature_count_at_predict(fitted):
    with pytest.raises(ValueError, match="features"):
        fitted.predict(np.ones((2, 5)))


def test_unknown_option_error_names_parameter_choices_and_hint(digits):
    X, y, _, _ = digits
    with pytest.raises(ValueError) as error:
        small(activation="rleu").fit(X, y)
    message = str(error.value)
    assert "'activation'" in message and "'rleu'" in message
    assert "Did you mean 'relu'?" in message
    listed = message[message.index("{") + 1 : message.index("}")].split(", ")
    assert listed == sorted(listed) and "'selu'" in listed


@pytest.mark.parametrize(
    ("param", "value"),
    [("hidden_layer_sizes", (10, 0)), ("dropout", 1.0), ("learning_rate", -1),
     ("batch_norm_momentum", 1.0), ("optimizer", "adamm"), ("device", "tpu")],
)
def test_bad_hyperparameters(digits, param, value):
    X, y, _, _ = digits
    with pytest.raises(ValueError, match=param if param != "device" else "device"):
        small(**{param: value}).fit(X, y)


def test_failed_fit_leaves_estimator_unfitted(digits):
    X, y, _, _ = digits
    clf = small(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError):
        clf.fit(X[:, :10], np.zeros(len(X)))
    assert not hasattr(clf, "model_") and not hasattr(clf, "classes_")


def test_early_stopping_stops_and_restores_best(digits):
    X, y, _, _ = digits
    clf = small(max_epochs=200, patience=3, learning_rate=0.01).fit(X, y)
    assert clf.n_epochs_ < 200
    assert clf.n_epochs_ - clf.best_epoch_ >= 3
    best = min(r["val_loss"] for r in clf.history_)
    assert clf.history_[clf.best_epoch_ - 1]["val_loss"] == best


def test_validation_data_is_used(digits):
    X, y, X_test, y_test = digits
    clf = small(max_epochs=3).fit(X, y, validation_data=(X_test, y_test))
    final = clf.history_[clf.best_epoch_ - 1]
    assert final["val_accuracy"] == pytest.approx(clf.score(X_test, y_test), abs=1e-6)


def test_no_early_stopping_runs_all_epochs_without_validation(digits):
    X, y, _, _ = digits
    clf = small(max_epochs=4, early_stopping=False).fit(X, y)
    assert clf.n_epochs_ == 4
    assert "val_loss" not in clf.history_[0]


def test_class_weight_shifts_predictions(digits):
    X, y, X_test, _ = digits
    plain = small(max_epochs=5).fit(X, y).predict(X_test)
    heavy = small(max_epochs=5, class_weight={3: 50.0}).fit(X, y).predict(X_test)
    assert (heavy == 3).sum() > (plain == 3).sum()


def test_sample_weight_zero_rows_are_ignored():
    rng = np.random.RandomState(0)
    X = rng.rand(80, 3)
    y = (X[:, 0] > 0.5).astype(int)
    flipped = 1 - y
    weight = np.r_[np.ones(40), np.zeros(40)]
    X_all, y_all = np.r_[X[:40], X[40:]], np.r_[y[:40], flipped[40:]]
    params = dict(early_stopping=False, max_epochs=40, batch_size=10_000)
    weighted = small(**params).fit(X_all, y_all, sample_weight=weight)
    clean = small(**params).fit(X[:40], y[:40])
    assert np.allclose(weighted.predict_proba(X), clean.predict_proba(X), atol=1e-5)


def test_warm_start_continues(digits):
    X, y, _, _ = digits
    clf = small(max_epochs=2, early_stopping=False, warm_start=True).fit(X, y)
    weights = clf.model_.hidden1.linear.weight.detach().clone()
    clf.fit(X, y)
    assert clf.n_epochs_ == 4 and [r["epoch"] for r in clf.history_] == [1, 2, 3, 4]
    assert not torch.equal(weights, clf.model_.hidden1.linear.weight)
    cold = small(max_epochs=2, early_stopping=False).fit(X, y)
    cold.fit(X, y)
    assert cold.n_epochs_ == 2


def test_partial_fit_one_epoch_per_call(digits):
    X, y, X_test, y_test = digits
    clf = small()
    for _ in range(3):
        clf.partial_fit(X[:700], y[:700], classes=np.arange(10))
    assert clf.n_epochs_ == 3 and len(clf.history_) == 3
    clf.partial_fit(X[700:], y[700:])
    assert clf.score(X_test, y_test) > 0.5
    with pytest.raises(ValueError, match="not among the classes"):
        clf.partial_fit(X[:5], np.array([11] * 5))


def test_partial_fit_first_call_without_classes_uses_labels():
    X = np.random.RandomState(0).rand(10, 2)
    clf = small().partial_fit(X, [0, 1] * 5)
    assert list(clf.classes_) == [0, 1]


def test_batch_norm_running_stats_used_at_predict(digits):
    X, y, X_test, _ = digits
    clf = small(max_epochs=2, normalization="batch", batch_norm_momentum=0.9).fit(X, y)
    norm = clf.model_.hidden1.norm
    assert norm.momentum == pytest.approx(0.1)
    assert not torch.allclose(norm.running_mean, torch.zeros_like(norm.running_mean))
    one_by_one = np.vstack([clf.predict_proba(X_test[i : i + 1]) for i in range(5)])
    assert np.allclose(one_by_one, clf.predict_proba(X_test[:5]), atol=1e-6)


@pytest.mark.parametrize(
    ("params", "check"),
    [
        (dict(activation="selu", dropout=0.1),
         lambda m: isinstance(m.hidden1.dropout, nn.AlphaDropout)),
        (dict(activation="prelu"), lambda m: isinstance(m.hidden1.activation, nn.PReLU)),
        (dict(input_normalization=True), lambda m: isinstance(m.input.norm, nn.BatchNorm1d)),
        (dict(input_dropout=0.3), lambda m: m.input.dropout.p == 0.3),
        (dict(normalization="layer"), lambda m: isinstance(m.hidden2.norm, nn.LayerNorm)),
        (dict(normalization="batch", normalization_position="after"),
         lambda m: list(m.hidden1._modules)[-1] == "norm"),
        (dict(hidden_layer_sizes=(7,)), lambda m: m.hidden1.linear.out_features == 7),
    ],
)
def test_architecture_hyperparameters_shape_the_network(digits, params, check):
    X, y, _, _ = digits
    assert check(small(max_epochs=1, **params).fit(X[:200], y[:200]).model_)


@pytest.mark.parametrize(
    "params",
    [dict(optimizer="sgd"), dict(learning_rate=0.01), dict(batch_size=64),
     dict(shuffle=False), dict(l2=0.01), dict(kernel_initializer="glorot_uniform"),
     dict(activation="tanh"), dict(max_norm=0.5), dict(clip_value=1e-4)],
)
def test_training_hyperparameters_change_the_model(digits, params):
    X, y, X_test, _ = digits
    base = small(max_epochs=2).fit(X, y).predict_proba(X_test)
    changed = small(max_epochs=2, **params).fit(X, y).predict_proba(X_test)
    assert not np.allclose(base, changed)


def test_verbose_two_prints_one_line_per_epoch(digits, capsys):
    X, y, _, _ = digits
    small(max_epochs=3, early_stopping=False, verbose=2).fit(X[:100], y[:100])
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[0] == "epoch"  # the header, then one row per epoch
    assert [line.split()[0] for line in out[1:]] == ["1/3", "2/3", "3/3"]


def test_pipeline_clone_and_searches(digits):
    X, y, X_test, y_test = digits
    pipe = make_pipeline(StandardScaler(), small(max_epochs=10))
    assert pipe.fit(X, y).score(X_test, y_test) > 0.85
    assert clone(pipe).get_params()["dnnclassifier__max_epochs"] == 10
    grid = GridSearchCV(small(max_epochs=3), {"activation": ["relu", "elu"]}, cv=2, n_jobs=2)
    grid.fit(X[:400], y[:400])
    assert grid.best_params_["activation"] in {"relu", "elu"}
    search = RandomizedSearchCV(
        small(max_epochs=3),
        {"learning_rate": [1e-3, 3e-3], "dropout": [0.0, 0.2]},
        n_iter=2, cv=2, random_state=0,
    )
    assert search.fit(X[:400], y[:400]).best_estimator_.n_epochs_ >= 1


def test_pickle_round_trip(fitted, digits):
    _, _, X_test, _ = digits
    restored = pickle.loads(pickle.dumps(fitted))
    assert np.array_equal(restored.predict_proba(X_test), fitted.predict_proba(X_test))
    assert restored.history_ == fitted.history_


def poison_after(n_batches):
    """An augmenter that turns the inputs into NaN after ``n_batches`` batches."""
    calls = {"n": 0}

    def augment(batch, generator):
        calls["n"] += 1
        return batch * float("nan") if calls["n"] > n_batches else batch

    return augment


def test_divergence_restores_best_weights(digits):
    X, y, X_test, _ = digits
    with pytest.warns(TrainingInterruptedWarning, match="non-finite"):
        clf = small(max_epochs=10, augment=poison_after(100)).fit(X, y)
    assert clf.n_epochs_ == 2  # epochs 1-2 finite (44 batches each), epoch 3 diverged
    assert np.isfinite(clf.predict_proba(X_test)).all()


def test_divergence_before_any_finite_state_raises_and_stays_unfitted(digits):
    from sklearn.exceptions import NotFittedError

    from skdnn.exceptions import TrainingDivergedError

    X, y, X_test, _ = digits
    clf = small(max_epochs=3, augment=poison_after(0))
    with pytest.raises(TrainingDivergedError, match="non-finite"):
        clf.fit(X, y)
    with pytest.raises(NotFittedError):
        clf.predict(X_test)


def test_keyboard_interrupt_keeps_a_usable_estimator(digits):
    X, y, X_test, _ = digits
    calls = {"n": 0}

    def interrupt_later(batch, generator):
        calls["n"] += 1
        if calls["n"] > 100:
            raise KeyboardInterrupt
        return batch

    clf = small(max_epochs=50, augment=interrupt_later)
    with pytest.raises(KeyboardInterrupt), pytest.warns(TrainingInterruptedWarning, match="interr"):
        clf.fit(X, y)
    assert 1 <= clf.n_epochs_ < 50
    assert clf.predict(X_test).shape == (len(X_test),)


def test_sparse_input_is_accepted(digits):
    import scipy.sparse as sp

    X, y, X_test, _ = digits
    dense = small(max_epochs=2).fit(X, y).predict_proba(X_test)
    sparse = small(max_epochs=2).fit(sp.csr_matrix(X), y).predict_proba(sp.csr_matrix(X_test))
    assert np.allclose(dense, sparse, atol=1e-6)


def test_not_fitted_errors():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        small().predict(np.ones((1, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small().get_params()
