"""n_ensemble / ensemble_type on the estimators: k members trained as one network."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.model_selection import GridSearchCV

from skdnn import DNNClassifier, DNNRegressor, TransferDNNClassifier
from skdnn.components.member_layers import combine_members
from skdnn.training import fast_paths
from skdnn.training.objectives import CROSS_ENTROPY

X, y = make_classification(n_samples=120, n_features=6, n_informative=4, random_state=0)
X = X.astype(np.float32)
Xr, yr = make_regression(n_samples=120, n_features=5, noise=5.0, random_state=0)
SMALL = {"hidden_layer_sizes": (12, 8), "max_epochs": 3, "random_state": 0}


def fit(**params):
    return DNNClassifier(**{**SMALL, **params}).fit(X, y)


def test_one_member_is_the_plain_network_bit_for_bit():
    plain = DNNClassifier(**SMALL).fit(X, y)
    one = DNNClassifier(**SMALL, n_ensemble=1, ensemble_type="independent").fit(X, y)
    assert np.array_equal(plain.predict_proba(X), one.predict_proba(X))
    assert [type(m) for m in plain.model_.modules()] == [type(m) for m in one.model_.modules()]


@pytest.mark.parametrize("ensemble_type", ["batch", "independent"])
def test_members_differ_and_predict_proba_is_their_mean(ensemble_type):
    clf = fit(n_ensemble=4, ensemble_type=ensemble_type)
    members = clf.predict_proba_members(X)
    assert members.shape == (len(X), 4, 2)
    assert members.std(axis=1).max() > 1e-3
    np.testing.assert_allclose(clf.predict_proba(X), members.mean(axis=1), atol=1e-6)
    assert np.array_equal(clf.predict(X), clf.classes_[members.mean(axis=1).argmax(axis=1)])


def test_ensemble_type_changes_the_hidden_layers():
    batch, independent = fit(n_ensemble=3), fit(n_ensemble=3, ensemble_type="independent")
    assert type(batch.model_.hidden1.linear).__name__ == "BatchEnsembleLinear"
    assert type(independent.model_.hidden1.linear).__name__ == "MemberLinear"
    count = lambda c: sum(p.numel() for p in c.model_.parameters())  # noqa: E731
    assert count(independent) > count(batch)


def test_training_loss_is_the_mean_of_the_member_losses():
    logits = torch.randn(5, 3, 4, dtype=torch.float64)
    targets = torch.tensor([0, 3, 1, 2, 0])
    weight = torch.tensor([1.0, 2.0, 0.5, 1.0, 0.5], dtype=torch.float64)
    by_hand = np.mean([
        np.mean([
            -torch.log_softmax(logits[i, m], 0)[targets[i]].item() * weight[i].item()
            for i in range(5)
        ])
        for m in range(3)
    ])
    assert CROSS_ENTROPY.batch_loss(logits, targets, weight).item() == pytest.approx(by_hand)


def test_validation_loss_is_the_log_loss_of_the_mean_probabilities():
    clf = DNNClassifier(**SMALL, n_ensemble=3, early_stopping=False).fit(
        X[:100], y[:100], validation_data=(X[100:], y[100:])
    )
    mean = clf.predict_proba_members(X[100:]).mean(axis=1)
    log_loss = -np.mean(np.log(mean[np.arange(20), y[100:]]))
    assert clf.history_[-1]["val_loss"] == pytest.approx(log_loss, rel=1e-4)
    member_loss = np.mean(
        -np.log(clf.predict_proba_members(X[100:])[np.arange(20), :, y[100:]])
    )
    assert member_loss > log_loss  # the mean of the members is better than a member (Jensen)


def test_fast_step_matches_autograd():
    fast = fit(n_ensemble=3)
    fast_paths.set_enabled(False)
    try:
        slow = fit(n_ensemble=3)
    finally:
        fast_paths.set_enabled(None)
    np.testing.assert_allclose(fast.predict_proba(X), slow.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize(
    "params",
    [
        {"normalization": "batch"},
        {"normalization": "batch", "normalization_position": "after"},
        {"normalization": "layer"},
        {"input_normalization": True, "input_dropout": 0.1},
        {"dropout": 0.2},
        {"dropout": 0.2, "activation": "selu", "dropout_type": "alpha"},
        {"activation": "prelu"},
        {"activation": "rrelu"},
        {"activation": "gelu"},
        {"max_norm": 0.5},
        {"l1": 1e-4, "l2": 1e-4},
        {"class_weight": "balanced", "label_smoothing": 0.1},
        {"monitor": "val_accuracy", "patience": 1},
        {"mc_samples": 3, "dropout": 0.2},
        {"ensemble_type": "independent", "normalization": "batch", "max_norm": 0.5},
    ],
)
def test_composes_with(params):
    clf = fit(n_ensemble=3, **params)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-6)


def test_batch_norm_keeps_statistics_per_member():
    clf = fit(n_ensemble=3, normalization="batch")
    norm = clf.model_.hidden1.norm.layer
    assert norm.running_mean.shape == (3 * 12,)
    assert not torch.allclose(norm.running_mean[:12], norm.running_mean[12:24])


@pytest.mark.parametrize("ensemble_type", ["batch", "independent"])
def test_max_norm_bounds_every_member_unit(ensemble_type):
    clf = fit(n_ensemble=3, ensemble_type=ensemble_type, max_norm=0.3)
    layer = clf.model_.hidden2.linear
    rows = layer.weight if ensemble_type == "batch" else layer.member_weights().flatten(0, 1)
    assert rows.norm(dim=1).max() <= 0.3 + 1e-5


def test_mc_dropout_averages_passes_of_the_ensemble_mean():
    clf = fit(n_ensemble=3, dropout=0.3)
    mean, std = clf.predict_proba_mc(X, 5)
    assert mean.shape == (len(X), 2) and std.max() > 0
    np.testing.assert_allclose(mean.sum(axis=1), 1, atol=1e-6)


def test_warm_start_partial_fit_and_sample_weight():
    clf = fit(n_ensemble=2, warm_start=True)
    clf.fit(X, y, sample_weight=np.linspace(0.5, 2, len(X)))
    assert clf.n_epochs_ == 6
    clf.partial_fit(X, y)
    assert clf.n_epochs_ == 7
    clf.set_params(n_ensemble=3)
    with pytest.raises(ValueError, match="n_ensemble from 2 to 3"):
        clf.fit(X, y)


def test_save_load_pickle_clone_and_search(tmp_path):
    clf = fit(n_ensemble=3, normalization="batch", activation="prelu")
    clf.save(tmp_path / "model.skdnn")
    loaded = DNNClassifier.load(tmp_path / "model.skdnn")
    np.testing.assert_array_equal(loaded.predict_proba_members(X), clf.predict_proba_members(X))
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    assert clone(clf).get_params()["n_ensemble"] == 3
    search = GridSearchCV(
        DNNClassifier(**SMALL), {"n_ensemble": [1, 2]}, cv=2
    ).fit(X, y)
    assert search.best_params_["n_ensemble"] in (1, 2)


def test_invalid_values_are_clear_errors():
    with pytest.raises(ValueError, match="n_ensemble"):
        fit(n_ensemble=0)
    with pytest.raises(ValueError, match="ensemble_type"):
        fit(n_ensemble=2, ensemble_type="shared")
    with pytest.raises(ValueError, match="n_ensemble=1"):
        fit().predict_proba_members(X)


def test_regressor_std_across_members_and_poisson_mean():
    reg = DNNRegressor(**SMALL, n_ensemble=4).fit(Xr, yr)
    mean, std = reg.predict(Xr, return_std=True)
    assert mean.shape == std.shape == (len(Xr),) and std.min() > 0
    np.testing.assert_allclose(mean, reg.predict(Xr), rtol=1e-5, atol=1e-4)
    counts = np.abs(yr) // 10
    poisson = DNNRegressor(**SMALL, n_ensemble=3, loss="poisson").fit(Xr, counts)
    members = poisson._member_outputs(Xr.astype(np.float32))  # takes validated features
    means = poisson._task().values(poisson, members).mean(dim=1).numpy()[:, 0]
    np.testing.assert_allclose(poisson.predict(Xr), means, rtol=1e-5)


def test_combine_members_probabilities_are_the_mean():
    logits = torch.randn(4, 3, 5, dtype=torch.float64)
    combined = combine_members(logits, "probabilities")
    torch.testing.assert_close(
        torch.softmax(combined, 1), torch.softmax(logits, 2).mean(1)
    )


def test_transfer_keeps_reused_layers_plain_and_caches_them():
    source = DNNClassifier(hidden_layer_sizes=(10, 8), max_epochs=2, random_state=0).fit(X, y)
    transfer = TransferDNNClassifier(
        pretrained=source, hidden_layer_sizes=(6,), n_ensemble=3, max_epochs=3, random_state=0
    ).fit(X, y)
    model = transfer.model_
    assert type(model.hidden1.linear) is torch.nn.Linear
    assert not model.hidden1.linear.weight.requires_grad
    assert type(model.hidden3.members).__name__ == "ExpandMembers"
    uncached = TransferDNNClassifier(
        pretrained=source, hidden_layer_sizes=(6,), n_ensemble=3, max_epochs=3, random_state=0,
        cache_frozen=False,
    ).fit(X, y)
    np.testing.assert_allclose(transfer.predict_proba(X), uncached.predict_proba(X), atol=1e-5)
    assert transfer.predict_proba_members(X).shape == (len(X), 3, 2)
    with pytest.raises(ValueError, match="ensemble"):
        TransferDNNClassifier(pretrained=transfer, max_epochs=1).fit(X, y)
