"""Never crash, never silently wrong: batch sizes, interrupts, late errors (issue 10)."""

import os
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import cross_val_score

from skdnn import DNNClassifier, StackedAutoencoder, TransferDNNClassifier
from skdnn.exceptions import TrainingInterruptedWarning

FAST = dict(hidden_layer_sizes=(16,), max_epochs=2, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


def small(**params):
    return DNNClassifier(**{**FAST, **params})


# ---------------------------------------------------------------- 1. one-row batches
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize(
    "params", [dict(normalization="batch"), dict(input_normalization=True)]
)
def test_batch_norm_trains_when_the_last_batch_would_have_one_row(data, params, shuffle):
    X, y = data
    clf = small(early_stopping=False, shuffle=shuffle, **params).fit(X[:65], y[:65])  # 2*32 + 1
    assert clf.n_epochs_ == 2
    assert np.isfinite(clf.predict_proba(X[:5])).all()


def test_the_default_split_leaving_k_batches_plus_one_row_trains(data):
    X, y = data
    clf = small(normalization="batch", max_epochs=1).fit(X[:1068], y[:1068])  # 961 = 30*32 + 1
    assert clf.n_epochs_ == 1


def test_cross_val_score_with_batch_norm_gives_no_nan(data):
    X, y = data
    scores = cross_val_score(small(normalization="batch", max_epochs=1), X[:1069], y[:1069], cv=5)
    assert np.isfinite(scores).all()


def test_the_lone_row_still_trains(data):
    X, y = data
    X, y = X[:33].copy(), y[:33].copy()
    params = dict(normalization="batch", early_stopping=False, shuffle=False, batch_size=32)
    first = small(**params).fit(X, y).predict_proba(X)
    y[32] = (y[32] + 1) % 10  # only the 33rd row changes
    second = small(**params).fit(X, y).predict_proba(X)
    assert not np.allclose(first, second)


def test_transfer_after_unfreezing_batch_norm_on_37_rows(data):
    X, y = data
    low = y < 5
    source = small(
        hidden_layer_sizes=(16, 16), normalization="batch", input_normalization=True
    ).fit(X[low], y[low])
    clf = TransferDNNClassifier(
        source, unfreeze_after=1, max_epochs=3, device="cpu", random_state=0
    ).fit(X[~low][:37], y[~low][:37])  # 33 training rows after the 10% split
    assert clf.n_epochs_ == 3 and clf.n_frozen_layers_ == 0


def test_siamese_head_batch_norm_with_one_row_last_batch(data):
    from skdnn import SiameseDNNClassifier, make_pairs

    X, y = data
    X_pairs, same = make_pairs(X, y, 33, random_state=0)
    siamese = SiameseDNNClassifier(
        (8,), head_layer_sizes=(4,), normalization="batch", early_stopping=False, **{
            k: v for k, v in FAST.items() if k != "hidden_layer_sizes"
        }
    ).fit(X_pairs, same)
    assert siamese.n_epochs_ == 2


def test_batch_size_one_with_batch_norm_is_a_clear_error(data):
    X, y = data
    with pytest.raises(ValueError, match=r"batch_size=1.*batch norm"):
        small(normalization="batch", batch_size=1).fit(X[:40], y[:40])


def test_partial_fit_on_one_row_with_batch_norm_is_a_clear_error(data):
    X, y = data
    clf = small(normalization="batch")
    with pytest.raises(ValueError, match=r"1 row.*batch norm"):
        clf.partial_fit(X[:1], y[:1], classes=np.arange(10))


def test_batch_size_one_without_batch_norm_still_trains(data):
    X, y = data
    assert small(batch_size=1, max_epochs=1).fit(X[:40], y[:40]).n_epochs_ == 1


# ---------------------------------------------------------------- 2. Ctrl-C
def interrupt_at_batch(n_batches, seen=None):
    calls = {"n": 0}

    def augment(batch, generator):
        calls["n"] += 1
        if seen is not None:
            seen.append(batch.shape[1])
        if calls["n"] > n_batches:
            raise KeyboardInterrupt
        return batch

    return augment


def test_interrupt_propagates_and_keeps_the_best_weights(data):
    X, y = data
    clf = small(max_epochs=50, augment=interrupt_at_batch(120))  # 51 batches per epoch
    with pytest.raises(KeyboardInterrupt), pytest.warns(
        TrainingInterruptedWarning, match=r"epoch 3.*kept the weights of epoch [12]"
    ):
        clf.fit(X[:1797], y[:1797])
    assert clf.n_epochs_ == 2 and clf.best_epoch_ in (1, 2)
    assert clf.predict(X[:10]).shape == (10,)


def test_interrupt_in_the_first_epoch_says_what_it_kept(data):
    X, y = data
    clf = small(max_epochs=5, augment=interrupt_at_batch(3))
    with pytest.raises(KeyboardInterrupt), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    messages = [str(w.message) for w in caught if w.category is TrainingInterruptedWarning]
    assert len(messages) == 1
    assert "best" not in messages[0]
    assert "before any epoch" in messages[0]
    assert clf.n_epochs_ == 0
    assert clf.predict(X[:10]).shape == (10,)


def test_interrupt_stops_cross_val_score(data):
    X, y = data
    fits = []

    def augment(batch, generator):
        fits.append(1)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainingInterruptedWarning)
        cross_val_score(small(augment=augment), X, y, cv=3)
    assert len(fits) == 1  # the other folds never started


def test_interrupt_stops_the_stacked_autoencoder_after_its_layer(data):
    X, _ = data
    widths = []
    autoencoder = StackedAutoencoder(
        (16, 8), max_epochs=3, device="cpu", random_state=0,
        augment=interrupt_at_batch(60, widths),
    )
    with pytest.raises(KeyboardInterrupt), pytest.warns(TrainingInterruptedWarning):
        autoencoder.fit(X)
    assert set(widths) == {64}  # the second layer never trained
    assert autoencoder.transform(X[:4]).shape == (4, 16)  # the trained part stays usable


# ---------------------------------------------------------------- 3. performance schedule
@pytest.mark.parametrize(
    "make",
    [
        lambda: small(early_stopping=False, lr_schedule="performance"),
        lambda: StackedAutoencoder(
            (8,), early_stopping=False, lr_schedule="performance", max_epochs=2, device="cpu"
        ),
    ],
    ids=["classifier", "autoencoder"],
)
def test_performance_schedule_without_validation_loss_is_an_error(data, make):
    X, y = data
    estimator = make()
    with pytest.raises(ValueError, match=r"performance.*validation"):
        estimator.fit(X[:200], y[:200])


def test_performance_schedule_with_validation_data_lowers_the_rate(data):
    X, y = data
    clf = small(
        early_stopping=False, lr_schedule="performance", max_epochs=6, learning_rate=0.5,
        optimizer="sgd", lr_schedule_params={"patience": 1, "factor": 0.5},
    ).fit(X[:300], y[:300], validation_data=(X[300:400], np.roll(y[300:400], 1)))
    rates = [record["lr"] for record in clf.history_]
    assert rates[-1] < rates[0]


# ---------------------------------------------------------------- 5. warm start
@pytest.mark.parametrize(
    "change",
    [
        dict(hidden_layer_sizes=(8, 8)),
        dict(activation="tanh"),
        dict(dropout=0.5),
        dict(normalization="batch"),
        dict(input_normalization=True),
    ],
    ids=lambda change: next(iter(change)),
)
def test_warm_start_after_an_architecture_change_raises(data, change):
    X, y = data
    clf = small(warm_start=True).fit(X[:200], y[:200])
    clf.set_params(**change)
    name = next(iter(change))
    with pytest.raises(ValueError, match=f"warm_start.*{name}"):
        clf.fit(X[:200], y[:200])
    assert clf.n_epochs_ == 2  # the fitted model is untouched
    with pytest.raises(ValueError, match=name):
        clf.partial_fit(X[:200], y[:200])


def test_warm_start_after_an_optimizer_change_uses_the_new_settings(data):
    X, y = data
    clf = small(warm_start=True, early_stopping=False).fit(X[:200], y[:200])
    clf.set_params(optimizer="sgd", learning_rate=0.1234)
    clf.fit(X[:200], y[:200])
    assert clf.n_epochs_ == 4
    assert clf.history_[-1]["lr"] == pytest.approx(0.1234)
    assert isinstance(clf._optimizer_state, dict)


def test_warm_start_with_an_unchanged_setup_continues_the_optimizer(data):
    X, y = data
    clf = small(warm_start=True, early_stopping=False).fit(X[:200], y[:200])
    clf.fit(X[:200], y[:200])
    steps = clf._optimizer_state["state"][0]["step"]
    assert int(steps) == 4 * 7  # 200 rows: 7 batches per epoch, over 4 epochs


# ---------------------------------------------------------------- 8. paths
def test_checkpoint_dir_that_is_a_file_fails_before_training(data, tmp_path):
    X, y = data
    afile = tmp_path / "afile"
    afile.write_text("x")
    batches = []
    clf = small(checkpoint_dir=afile, augment=lambda b, g: batches.append(1) or b)
    with pytest.raises(ValueError, match=r"checkpoint_dir.*afile"):
        clf.fit(X[:100], y[:100])
    assert not batches


def test_checkpoint_dir_that_cannot_be_created_fails_before_training(data, tmp_path):
    X, y = data
    afile = tmp_path / "afile"
    afile.write_text("x")
    batches = []
    clf = small(checkpoint_dir=afile / "sub", augment=lambda b, g: batches.append(1) or b)
    with pytest.raises(ValueError, match="checkpoint_dir"):
        clf.fit(X[:100], y[:100])
    assert not batches


def test_empty_checkpoint_dir_is_refused(data, tmp_path, monkeypatch):
    X, y = data
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="checkpoint_dir"):
        small(checkpoint_dir="").fit(X[:100], y[:100])
    assert not os.listdir(tmp_path)


def test_save_into_a_missing_directory_names_the_path(data, tmp_path):
    X, y = data
    clf = small().fit(X[:100], y[:100])
    target = tmp_path / "missing" / "model.skdnn"
    with pytest.raises(FileNotFoundError) as error:
        clf.save(target)
    assert str(target) in str(error.value) and ".tmp" not in str(error.value)


def test_save_onto_a_directory_is_a_value_error(data, tmp_path):
    X, y = data
    clf = small().fit(X[:100], y[:100])
    with pytest.raises(ValueError, match="directory") as error:
        clf.save(tmp_path)
    assert ".tmp" not in str(error.value)


# ---------------------------------------------------------------- 9. Siamese exports and files
def test_siamese_and_make_pairs_are_exported():
    import skdnn
    from skdnn import SiameseDNNClassifier, make_pairs  # noqa: F401

    assert {"SiameseDNNClassifier", "make_pairs"} <= set(skdnn.__all__)
    assert "SiameseDNNClassifier" in dir(skdnn)


def test_siamese_saves_and_loads_in_the_safe_format(data, tmp_path):
    from skdnn import SiameseDNNClassifier, make_pairs

    X, y = data
    X_pairs, same = make_pairs(X, y, 300, random_state=0)
    siamese = SiameseDNNClassifier((16,), max_epochs=2, device="cpu", random_state=0)
    siamese.fit(X_pairs, same)
    path = tmp_path / "siamese.skdnn"
    siamese.save(path)
    loaded = SiameseDNNClassifier.load(path)
    np.testing.assert_allclose(loaded.predict_proba(X_pairs), siamese.predict_proba(X_pairs),
                               atol=1e-6)
    clf = TransferDNNClassifier(loaded, max_epochs=1, device="cpu", random_state=0)
    assert clf.fit(X[:100], y[:100]).n_reused_layers_ == 1


# ---------------------------------------------------------------- 10. augment output
@pytest.mark.parametrize(
    "augment, match",
    [
        (lambda xb, g: xb[:, :-1], r"augment.*shape.*\(32, 63\).*\(32, 64\)"),
        (lambda xb, g: xb[:-1], r"augment.*shape"),
        (lambda xb, g: xb.numpy(), r"augment.*Tensor"),
        (lambda xb, g: xb.double(), r"augment.*dtype"),
    ],
    ids=["width", "rows", "numpy", "float64"],
)
def test_augment_with_the_wrong_output_is_a_clear_error(data, augment, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        small(augment=augment).fit(X[:100], y[:100])


# ---------------------------------------------------------------- 11. array-like sizes
def test_hidden_layer_sizes_as_a_numpy_array(data):
    X, y = data
    clf = small(hidden_layer_sizes=np.array([16, 8])).fit(X[:100], y[:100])
    widths = [m.out_features for m in clf.model_.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == [16, 8, 10]
    assert isinstance(clone(clf).hidden_layer_sizes, np.ndarray)


def test_hidden_layer_sizes_as_a_two_dimensional_array_is_refused(data):
    X, y = data
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        small(hidden_layer_sizes=np.array([[16, 8]])).fit(X[:100], y[:100])


# ---------------------------------------------------------------- 15. max-norm
def _row_norms(clf):
    linears = [m for m in clf.model_.modules() if isinstance(m, torch.nn.Linear)]
    return [m.weight.detach().norm(dim=1).max().item() for m in linears]


@pytest.mark.parametrize("extra", [{}, dict(l2=1e-4)], ids=["fast_step", "autograd_step"])
def test_max_norm_constrains_hidden_layers_only_by_default(data, extra):
    X, y = data
    params = dict(hidden_layer_sizes=(32, 32), max_norm=0.3, learning_rate=0.05,
                  early_stopping=False, max_epochs=3, **extra)
    *hidden, output = _row_norms(small(**params).fit(X[:300], y[:300]))
    assert max(hidden) <= 0.3 + 1e-5
    assert output > 0.3
    norms = _row_norms(small(max_norm_output=True, **params).fit(X[:300], y[:300]))
    assert max(norms) <= 0.3 + 1e-5


def test_max_norm_constrains_the_encoders_of_the_autoencoder(data):
    X, _ = data
    params = dict(max_norm=0.3, learning_rate=0.05, max_epochs=2, fine_tune_epochs=1,
                  device="cpu", random_state=0)
    autoencoder = StackedAutoencoder((16, 8), **params).fit(X[:300])
    norms = {name: m.weight.detach().norm(dim=1).max().item()
             for name, m in autoencoder.model_.named_modules() if isinstance(m, torch.nn.Linear)}
    assert all(v <= 0.3 + 1e-5 for k, v in norms.items() if k.startswith("hidden"))
    assert max(v for k, v in norms.items() if k.startswith("decoder")) > 0.3
    constrained = StackedAutoencoder((16, 8), max_norm_output=True, **params).fit(X[:300])
    assert max(_row_norms(constrained)) <= 0.3 + 1e-5


def test_max_norm_output_is_a_documented_hyperparameter():
    assert DNNClassifier().get_params()["max_norm_output"] is False
    assert "max_norm_output" in DNNClassifier.__doc__


# ---------------------------------------------------------------- memory
def test_fit_without_a_split_does_not_copy_the_inputs(data):
    import tracemalloc

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, 100), dtype=np.float32)
    y = rng.integers(0, 2, 20_000)
    for early_stopping, allowed in ((False, 0.05), (True, 0.25)):
        clf = small(early_stopping=early_stopping, max_epochs=1, batch_size=2000)
        clone(clf).fit(X[:3000].copy(), y[:3000])  # imports and caches outside the measure
        tracemalloc.start()
        try:
            clf.fit(X, y)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < allowed * X.nbytes, (early_stopping, peak / X.nbytes)


def test_skdnn_exports_everything_public_of_skdnn_estimators():
    import skdnn
    import skdnn.estimators

    assert set(skdnn.estimators.__all__) <= set(skdnn.__all__)
    for name in skdnn.estimators.__all__:
        assert getattr(skdnn, name) is getattr(skdnn.estimators, name)


# ---------------------------------------------------------------- early stopping on tiny data
def test_early_stopping_on_too_few_rows_says_it_is_off(data):
    from skdnn import DNNRegressor
    from skdnn.exceptions import SkdnnWarning

    X, _ = data
    with pytest.warns(SkdnnWarning, match="2 row.* single row per class leave none to hold out"):
        clf = small().fit(X[:2], [0, 1])  # holding one out would train on one class
    assert "val_loss" not in clf.history_[-1]
    assert clf.history_[0]["steps"] == 1 and len(clf.classes_) == 2
    with pytest.warns(SkdnnWarning, match="1 row.* leave none to hold out"):
        reg = DNNRegressor(**FAST).fit(X[:1], [0.5])
    assert "val_loss" not in reg.history_[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkdnnWarning)
        small(early_stopping=False).fit(X[:2], [0, 1])  # asked for no split: no warning


@pytest.mark.parametrize("seed", range(5))
def test_a_split_too_small_to_stratify_keeps_every_class_in_training(seed):
    from skdnn.estimators._data import split_validation

    y = np.array([0, 1, 2, 2, 2, 1, 3, 0])
    train, validation = split_validation(y, 0.3, seed)
    assert len(validation) == 3 and not np.intersect1d(train, validation).size
    assert set(y[train]) == {0, 1, 2, 3}  # class 3 has one row: it trains
