"""Optimizers, schedules and regularizers as estimator hyperparameters."""

import itertools
import warnings

import numpy as np
import pytest
import torch

from skdnn import DNNClassifier
from skdnn.components.optimizers import OPTIMIZERS
from skdnn.components.schedules import LR_SCHEDULES
from skdnn.exceptions import SkdnnWarning

SCHEDULE_PARAMS = {"piecewise": {"boundaries": [1], "values": [0.01, 0.001]}}


def small(**params):
    defaults = dict(hidden_layer_sizes=(32,), max_epochs=3, early_stopping=False,
                    device="cpu", random_state=0)
    return DNNClassifier(**{**defaults, **params})


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_fits(digits, name):
    X, y, X_test, y_test = digits
    fast = ("ftrl", "adagrad", "sgd", "momentum", "nesterov")
    learning_rate = 0.5 if name in ("ftrl", "adagrad") else 0.1 if name in fast else 1e-3
    clf = small(optimizer=name, learning_rate=learning_rate).fit(X, y)
    assert clf.history_[-1]["loss"] < clf.history_[0]["loss"]
    assert clf.score(X_test, y_test) > 0.5


@pytest.mark.parametrize("name", LR_SCHEDULES.names())
def test_every_schedule_fits_and_history_records_the_rate(digits, name):
    X, y, _, _ = digits
    clf = small(lr_schedule=name, lr_schedule_params=SCHEDULE_PARAMS.get(name),
                learning_rate=0.01, early_stopping=name == "performance").fit(X, y)
    rates = [record["lr"] for record in clf.history_]
    assert rates[0] == pytest.approx(0.01)
    if name in ("power", "exponential", "piecewise", "cosine"):
        assert rates[-1] < rates[0]
    if name == "1cycle":
        assert max(rates) > rates[0]


def test_exponential_rate_per_epoch_matches_formula(digits):
    X, y, _, _ = digits
    steps = int(np.ceil(len(X) / 32))
    clf = small(lr_schedule="exponential", lr_schedule_params={"s": 100}, learning_rate=0.01)
    clf.fit(X, y)
    for record in clf.history_:
        t = (record["epoch"] - 1) * steps
        assert record["lr"] == pytest.approx(0.01 * 0.1 ** (t / 100))


def test_schedule_continues_across_warm_start_and_partial_fit(digits):
    X, y, _, _ = digits
    params = dict(lr_schedule="exponential", lr_schedule_params={"s": 50}, learning_rate=0.01)
    warm = small(max_epochs=2, warm_start=True, **params).fit(X, y)
    warm.fit(X, y)
    straight = small(max_epochs=4, **params).fit(X, y)
    assert [r["lr"] for r in warm.history_] == pytest.approx([r["lr"] for r in straight.history_])
    partial = small(**params)
    for _ in range(4):
        partial.partial_fit(X, y, classes=np.arange(10))
    assert [r["lr"] for r in partial.history_] == pytest.approx(
        [r["lr"] for r in straight.history_]
    )


@pytest.mark.parametrize("name", ["1cycle", "cosine"])
def test_a_continued_run_keeps_the_planned_end_of_its_schedule(digits, name):
    # 1cycle and cosine are planned over the first fit's epochs; a warm start or
    # further partial_fit calls continue that plan, whose final rate then stays
    # (they used to re-plan over all epochs so far and jump back up).
    X, y, _, _ = digits

    def rates(records):
        return [rate for record in records for rate in record.get("lr_steps", [record["lr"]])]

    warm = small(max_epochs=3, warm_start=True, lr_schedule=name, learning_rate=0.01).fit(X, y)
    planned = rates(warm.history_)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkdnnWarning)  # a low rate is no "far too high" rate
        warm.fit(X, y)
    continued = rates(warm.history_[3:])
    assert len(warm.history_) == 6
    assert continued == pytest.approx([planned[-1]] * len(continued))
    assert planned[-1] == pytest.approx(1e-5 if name == "1cycle" else 0.0)
    partial = small(max_epochs=2, lr_schedule=name, learning_rate=0.01)
    for _ in range(4):
        partial.partial_fit(X, y, classes=np.arange(10))
    every_step = rates(partial.history_)
    after_peak = every_step[int(np.argmax(every_step)):]
    assert all(b <= a for a, b in itertools.pairwise(after_peak))
    planned, continued = rates(partial.history_[:2]), rates(partial.history_[2:])
    assert continued == pytest.approx([planned[-1]] * len(continued))


def test_max_norm_bound_holds_after_fit(digits):
    X, y, _, _ = digits
    clf = small(max_norm=0.5, hidden_layer_sizes=(64, 64), learning_rate=0.01).fit(X, y)
    free = small(hidden_layer_sizes=(64, 64), learning_rate=0.01).fit(X, y)
    for model, bounded in ((clf.model_, True), (free.model_, False)):
        norms = torch.cat([block.linear.weight.norm(dim=1) for block in (model.hidden1,
                                                                          model.hidden2)])
        assert (norms.max() <= 0.5 + 1e-5) == bounded


def test_gradient_clipping_tames_a_huge_learning_rate(digits):
    X, y, X_test, y_test = digits
    params = dict(optimizer="sgd", momentum=0.0, learning_rate=5.0)
    clipped = small(clip_norm=0.05, **params).fit(X, y)
    assert np.isfinite(clipped.history_[-1]["loss"])
    assert clipped.score(X_test, y_test) > 0.5


def test_ftrl_with_l1_gives_exact_zeros(digits):
    X, y, X_test, y_test = digits
    params = dict(optimizer="ftrl", learning_rate=0.5, max_epochs=5)
    sparse = small(optimizer_params={"l1_regularization_strength": 0.05}, **params).fit(X, y)
    dense = small(**params).fit(X, y)

    def zeros(clf):
        return sum(int((m.weight == 0).sum()) for m in clf.model_.modules()
                   if isinstance(m, torch.nn.Linear))

    n_weights = 64 * 32 + 32 * 10
    assert zeros(sparse) > 0.5 * n_weights > 10 * zeros(dense)
    assert sparse.score(X_test, y_test) > 0.85


def test_unknown_optimizer_param_lists_accepted_keys(digits):
    X, y, _, _ = digits
    with pytest.raises(ValueError, match="weight_decay"):
        small(optimizer_params={"betass": (0.9, 0.99)}).fit(X, y)


@pytest.mark.parametrize(
    "params",
    [dict(beta_1=0.5), dict(beta_2=0.9), dict(epsilon=1e-2), dict(optimizer="rmsprop", rho=0.5),
     dict(optimizer="momentum", momentum=0.5, learning_rate=0.01),
     dict(activation="leaky_relu", activation_params={"alpha": 0.3}),
     dict(kernel_initializer="variance_scaling", initializer_params={"scale": 3.0}),
     dict(dropout=0.3, dropout_type="alpha")],
)
def test_more_hyperparameters_change_the_model(digits, params):
    X, y, X_test, _ = digits
    reference = {k: v for k, v in params.items() if k in ("optimizer", "learning_rate",
                                                          "activation", "kernel_initializer",
                                                          "dropout")}
    base = small(**reference).fit(X, y).predict_proba(X_test)
    changed = small(**params).fit(X, y).predict_proba(X_test)
    assert not np.allclose(base, changed)


def test_early_stopping_knobs(digits):
    X, y, _, _ = digits
    params = dict(early_stopping=True, max_epochs=200, learning_rate=0.01)
    patient = small(patience=8, **params).fit(X, y)
    impatient = small(patience=2, **params).fit(X, y)
    assert impatient.n_epochs_ < patient.n_epochs_
    strict = small(patience=2, min_delta=10.0, **params).fit(X, y)
    assert strict.n_epochs_ == 3  # nothing counts as an improvement after epoch 1
    last = small(patience=2, restore_best_weights=False, **params).fit(X, y)
    best = small(patience=2, **params).fit(X, y)
    assert not np.allclose(last.predict_proba(X), best.predict_proba(X))
    bigger_val = small(validation_fraction=0.5, **params).fit(X, y)
    assert bigger_val.history_[0]["val_accuracy"] != patient.history_[0]["val_accuracy"]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_and_differs_from_float32(digits, precision):
    X, y, X_test, y_test = digits
    full = small().fit(X, y)
    mixed = small(mixed_precision=precision).fit(X, y)
    assert mixed.score(X_test, y_test) > full.score(X_test, y_test) - 0.15  # 8-bit mantissa
    assert not np.array_equal(mixed.predict_proba(X_test), full.predict_proba(X_test))
    assert all(p.dtype == torch.float32 for p in mixed.model_.parameters())
    again = small(mixed_precision=precision).fit(X, y)
    assert np.array_equal(again.predict_proba(X_test), mixed.predict_proba(X_test))


def test_mixed_precision_unknown_value(digits):
    X, y, _, _ = digits
    with pytest.raises(ValueError, match="mixed_precision"):
        small(mixed_precision="fp8").fit(X, y)
