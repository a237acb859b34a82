"""StackedAutoencoder: greedy layer-wise pretraining, transform and reuse."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits

from skdnn import StackedAutoencoder, TransferDNNClassifier

FAST = dict(device="cpu", random_state=0, batch_size=64, learning_rate=1e-2, max_epochs=5)


@pytest.fixture(scope="module")
def X():
    return (load_digits().data[:600] / 16).astype(np.float32)


@pytest.fixture(scope="module")
def autoencoder(X):
    return StackedAutoencoder((32, 12), **FAST).fit(X)


def test_transform_and_inverse_transform(X, autoencoder):
    codes = autoencoder.transform(X)
    assert codes.shape == (len(X), 12) and codes.dtype == np.float32
    reconstruction = autoencoder.inverse_transform(codes)
    assert reconstruction.shape == X.shape
    error = np.mean((reconstruction - X) ** 2)
    assert error < 0.7 * np.mean((X - X.mean(axis=0)) ** 2)  # better than the mean image
    assert_allclose(autoencoder.fit_transform(X), codes, rtol=1e-5, atol=1e-6)
    names = autoencoder.get_feature_names_out()
    assert list(names[:2]) == ["stackedautoencoder0", "stackedautoencoder1"]
    assert len(names) == 12


def test_model_holds_the_encoder_then_the_decoders(autoencoder):
    names = [name for name, _ in autoencoder.model_.named_children()]
    assert names == ["input", "hidden1", "hidden2", "decoder2", "decoder1"]
    assert autoencoder.model_.decoder2.linear.out_features == 32
    assert not autoencoder.model_.training


def test_history_has_one_stage_per_layer(autoencoder):
    history = autoencoder.history_
    assert [r["stage"] for r in history] == ["layer1"] * 5 + ["layer2"] * 5
    assert [r["epoch"] for r in history] == list(range(1, 11))
    assert autoencoder.n_epochs_ == 10
    assert 6 <= autoencoder.best_epoch_ <= 10
    assert "val_loss" in history[0] and "val_accuracy" not in history[0]
    assert history[0]["val_loss"] > history[4]["val_loss"]


def test_lower_layers_are_frozen_while_the_next_one_trains(X, autoencoder):
    # The first stage is the same whatever comes after it, and stage 2 leaves it alone.
    shallow = StackedAutoencoder((32,), **FAST).fit(X)
    for key, value in shallow.model_.hidden1.state_dict().items():
        assert torch.equal(value, autoencoder.model_.hidden1.state_dict()[key])
    assert_allclose(autoencoder.history_[4]["loss"], shallow.history_[4]["loss"])


def test_fine_tuning_trains_the_whole_stack(X, autoencoder):
    tuned = StackedAutoencoder((32, 12), fine_tune_epochs=3, **FAST).fit(X)
    assert [r["stage"] for r in tuned.history_][-3:] == ["fine_tune"] * 3
    first_layer = tuned.model_.hidden1.linear.weight
    assert not torch.equal(first_layer, autoencoder.model_.hidden1.linear.weight)
    assert len(tuned.history_[-1]["grad_norms"]) == 2


def test_same_random_state_same_model(X, autoencoder):
    again = StackedAutoencoder((32, 12), **FAST).fit(X)
    assert_array_equal(again.transform(X), autoencoder.transform(X))


def test_no_early_stopping_means_no_validation(X):
    model = StackedAutoencoder((8,), early_stopping=False, **FAST).fit(X)
    assert "val_loss" not in model.history_[0]
    assert model.n_epochs_ == 5


def test_denoising_with_augment(X):
    def noise(batch, generator):
        return batch + 0.1 * torch.randn(batch.shape, generator=generator)

    model = StackedAutoencoder((16, 8), augment=noise, **FAST).fit(X)
    assert model.transform(X).shape == (len(X), 8)


def test_encoder_layers_are_reusable(X, autoencoder):
    y = load_digits().target[:600]
    clf = TransferDNNClassifier(autoencoder, **FAST).fit(X, y)
    assert torch.equal(clf.model_.hidden2.linear.weight, autoencoder.model_.hidden2.linear.weight)
    assert clf.n_reused_layers_ == 2


def test_errors(X, autoencoder):
    with pytest.raises(ValueError, match="at least one hidden layer"):
        StackedAutoencoder((), **FAST).fit(X)
    with pytest.raises(ValueError, match=r"X has 5 features, but the top layer .* has 12 units"):
        autoencoder.inverse_transform(np.ones((2, 5)))
    with pytest.raises(ValueError, match="fine_tune_epochs"):
        StackedAutoencoder(fine_tune_epochs=-1).fit(X)


def test_codes_of_a_row_do_not_depend_on_the_other_rows():
    # Bitwise: transform and inverse_transform of a row alone, among others, in
    # another order (the batch-invariant inference network, as predict uses).
    rng = np.random.RandomState(0)
    X = rng.rand(300, 150).astype(np.float32)
    ae = StackedAutoencoder(
        hidden_layer_sizes=(200, 120), max_epochs=1, fine_tune_epochs=0, random_state=0
    ).fit(X)
    codes = ae.transform(X)
    order = rng.permutation(len(X))
    assert_array_equal(ae.transform(X[order]), codes[order])
    for size in (1, 2, 5, 17):
        assert_array_equal(ae.transform(X[:size]), codes[:size])
    decoded = ae.inverse_transform(codes)
    assert_array_equal(ae.inverse_transform(codes[:1]), decoded[:1])
    assert_array_equal(ae.inverse_transform(codes[order]), decoded[order])
    with torch.no_grad():
        expected = ae.model_[: len(ae.model_) - 2](torch.from_numpy(X)).numpy()
    assert_allclose(codes, expected, rtol=1e-5, atol=1e-5)


def test_transform_follows_changed_weights(X):
    ae = StackedAutoencoder((16, 8), **{**FAST, "max_epochs": 1}).fit(X)
    before = ae.transform(X[:3])
    with torch.no_grad():
        ae.model_.hidden1.linear.weight.mul_(0.5)
    after = ae.transform(X[:3])
    assert not np.array_equal(before, after)
    with torch.no_grad():
        expected = ae.model_[:3](torch.from_numpy(X[:3])).numpy()
    assert_allclose(after, expected, rtol=1e-5, atol=1e-6)
