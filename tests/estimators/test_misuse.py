"""A new user's mistakes give a clear error or a warning, never a wrong model (QA probes)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from torch import nn

from skdnn import DNNClassifier, TransferDNNClassifier
from skdnn.exceptions import SkdnnWarning

FAST = dict(hidden_layer_sizes=(16,), max_epochs=2, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32)[:300], y[:300]


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return DNNClassifier(**FAST, dropout=0.2).fit(X, y)


def small(**params):
    return DNNClassifier(**{**FAST, **params})


def test_predict_refuses_float64_values_that_overflow_float32(data, fitted):
    X, _ = data
    Z = X.astype(np.float64)
    Z[0, 0] = 1e300
    with pytest.raises(ValueError, match=r"float32|infinity|too large"):
        fitted.predict(Z)


@pytest.mark.parametrize("n_passes", [0, -3, 2.5, "10"])
def test_predict_proba_mc_checks_n_passes(data, fitted, n_passes):
    X, _ = data
    with pytest.raises(ValueError, match="n_passes"):
        fitted.predict_proba_mc(X[:5], n_passes)


def test_transfer_from_a_float64_network(data):
    X, y = data
    network = nn.Sequential(nn.Linear(64, 8).double(), nn.ReLU())
    clf = TransferDNNClassifier(network, max_epochs=1, device="cpu", random_state=0).fit(X, y)
    assert clf.predict(X[:3]).shape == (3,)


def test_transfer_from_non_finite_weights_names_the_layer(data):
    X, y = data
    weights = [(np.full((64, 8), np.nan), np.zeros(8))]
    with pytest.raises(ValueError, match=r"layer 0.*non-finite|non-finite.*layer 0"):
        TransferDNNClassifier(weights, max_epochs=1, device="cpu").fit(X, y)


def test_transfer_refuses_reordered_feature_names(data):
    X, y = data
    columns = [f"pixel{i}" for i in range(64)]
    source = small().fit(pd.DataFrame(X, columns=columns), y)
    clf = TransferDNNClassifier(source, max_epochs=1, device="cpu")
    with pytest.raises(ValueError, match="feature names"):
        clf.fit(pd.DataFrame(X, columns=columns[::-1]), y)
    assert clf.fit(pd.DataFrame(X, columns=columns), y).n_epochs_ == 1


def test_partial_fit_refuses_other_classes_on_a_later_call(data):
    X, y = data
    clf = small().partial_fit(X, y, classes=np.arange(10))
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y, classes=np.arange(12))
    clf.partial_fit(X, y, classes=np.arange(10))  # the same classes are fine
    assert clf.n_epochs_ == 2


def test_partial_fit_names_the_labels_its_classes_leave_out(data):
    X, y = data
    two = (y > 4).astype(int)
    with pytest.raises(ValueError, match=r"not in classes=\[0\]: \[1\]"):
        small().partial_fit(X, two, classes=[0])
    with pytest.raises(ValueError, match=r"not in classes=\[0, 2\]: \[1\]"):
        small().partial_fit(X, two, classes=[0, 2])


def test_partial_fit_refuses_balanced_class_weight(data):
    X, y = data
    with pytest.raises(ValueError, match="balanced"):
        small(class_weight="balanced").partial_fit(X[:50], y[:50], classes=np.arange(10))


def test_schedule_params_without_a_schedule_are_refused(data):
    X, y = data
    with pytest.raises(ValueError, match=r"lr_schedule_params.*lr_schedule"):
        small(lr_schedule_params={"s": 3}).fit(X, y)


@pytest.mark.parametrize(
    "params, fit_params",
    [
        (dict(class_weight={0: -1.0}), {}),
        ({}, dict(sample_weight=np.r_[-5.0, np.ones(299)])),
    ],
    ids=["class_weight", "sample_weight"],
)
def test_negative_weights_are_refused(data, params, fit_params):
    X, y = data
    with pytest.raises(ValueError, match=r"negative|non-negative|>= 0"):
        small(**params).fit(X, y, **fit_params)


def test_a_loss_that_blows_up_without_nan_warns(data):
    X, y = data
    with pytest.warns(SkdnnWarning, match="learning rate"):
        small(optimizer="sgd", learning_rate=1e6, early_stopping=False, max_epochs=3).fit(X, y)


def test_a_good_fit_does_not_warn_about_the_loss(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkdnnWarning)
        small(max_epochs=3).fit(X, y)


def test_validation_data_with_an_unseen_label_says_so(data):
    X, y = data
    y_val = y[:100].copy()
    y_val[0] = 99
    with pytest.raises(ValueError, match=r"validation_data.*\[99\]"):
        small().fit(X[100:], y[100:], validation_data=(X[:100], y_val))


def test_non_numeric_dataframe_columns_are_named(data):
    X, y = data
    frame = pd.DataFrame(X[:, :3], columns=["a", "b", "c"])
    frame["colour"] = "red"
    with pytest.raises(ValueError, match=r"non-numeric columns: \['colour'\]"):
        small(categorical_features=None).fit(frame, y)
    assert small().fit(frame, y).is_categorical_.tolist() == [False] * 3 + [True]


def test_read_only_inputs_do_not_leak_torch_warnings(data):
    from skdnn import StackedAutoencoder

    X, y = data
    X = X.copy()
    X.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        clf = small(dropout=0.2).fit(X, y)
        clf.predict(X)
        clf.predict_proba_mc(X, 2)
        autoencoder = StackedAutoencoder((8,), max_epochs=1, device="cpu").fit(X)
        codes = autoencoder.transform(X)
        codes.flags.writeable = False
        autoencoder.inverse_transform(codes)


def test_validation_labels_outside_the_training_classes_are_named(data):
    X, y = data
    with pytest.raises(ValueError, match=r"validation_data: y has labels that are not among "
                                         r"the classes the model learns: \['unseen'\]"):
        small().fit(X, y.astype(str), validation_data=(X[:5], ["unseen"] * 5))


@pytest.mark.parametrize(
    ("params", "message"),
    [({"weight_decay": "x"}, r"optimizer_params\['weight_decay'\].*'x'"),
     ({"amsgrad": 3.5}, r"optimizer_params\['amsgrad'\].*True or False")],
)
def test_optimizer_params_of_the_wrong_kind_are_value_errors(data, params, message):
    X, y = data
    with pytest.raises(ValueError, match=message):
        small(optimizer="adamw", optimizer_params=params).fit(X, y)
