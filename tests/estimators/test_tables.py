"""Tables: categorical columns, missing values, input scaling and numeric embeddings."""

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score

from skdnn import DNNClassifier, DNNRegressor

FAST = {"hidden_layer_sizes": (16,), "max_epochs": 15, "random_state": 0}


def _frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "age": rng.normal(40, 10, n),
        "city": pd.Categorical(rng.choice(["paris", "lyon", "nice"], n)),
        "job": rng.choice([f"job{i:02d}" for i in range(12)], n).astype(object),
        "income": np.exp(rng.normal(10, 1, n)),
    })
    frame.loc[::7, "age"] = np.nan
    frame.loc[::9, "city"] = np.nan
    return frame


def _job_target(frame):
    # The label is a function of the 12-category column alone.
    return frame["job"].map(lambda job: int(job[-2:]) % 3).to_numpy()


def test_a_dataframe_with_categorical_columns_fits_directly():
    frame = _frame()
    y = _job_target(frame)
    clf = DNNClassifier(**{**FAST, "max_epochs": 60}).fit(frame, y)
    np.testing.assert_array_equal(clf.is_categorical_, [False, True, True, False])
    assert clf.categories_ == [["lyon", "nice", "paris"], [f"job{i:02d}" for i in range(12)]]
    assert list(clf.feature_names_in_) == list(frame.columns)
    assert clf.score(frame, y) > 0.95  # the categories carry the label
    # "auto": one-hot for 3 categories (+1 for missing), an 8-dim embedding for 12.
    table = clf.model_.input.table
    assert table.categories.one_hot_columns == [0] and table.categories.embedded_columns == [1]
    # A raw table gets its numbers scaled by default (input_scaling="auto").
    assert table.config["scaling"] == "robust_smooth_clip"
    with pytest.raises(ValueError, match=r"non-numeric columns: \['city', 'job'\]"):
        DNNClassifier(**FAST, categorical_features=None).fit(frame, y)


def test_unseen_and_missing_categories_share_one_code():
    frame = _frame()
    clf = DNNClassifier(**FAST).fit(frame, _job_target(frame))
    rows = frame.iloc[[1, 1, 1]].copy()
    rows["job"] = ["job03", "a job never seen", None]
    proba = clf.predict_proba(rows)
    np.testing.assert_array_equal(proba[1], proba[2])
    assert not np.array_equal(proba[0], proba[1])


@pytest.mark.parametrize("chosen", [[1, 2], ["city", "job"], [False, True, True, False]])
def test_categorical_features_by_index_name_or_mask(chosen):
    frame = _frame()
    clf = DNNClassifier(**FAST, categorical_features=chosen).fit(frame, _job_target(frame))
    np.testing.assert_array_equal(clf.is_categorical_, [False, True, True, False])


def test_integer_coded_categories_in_a_numpy_array():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(size=400), rng.integers(0, 30, 400)])
    y = X[:, 1] % 2
    longer = {**FAST, "max_epochs": 60}
    as_numbers = DNNClassifier(**longer).fit(X, y)
    as_codes = DNNClassifier(**longer, categorical_features=[1]).fit(X, y)
    assert as_codes.categories_[0] == list(range(30))
    assert as_codes.score(X, y) > 0.9 > as_numbers.score(X, y)  # parity of a number is hard


@pytest.mark.parametrize(
    ("chosen", "message"),
    [(["town"], "column 'town'"), ([7], "index 7"), ([True, False], "boolean mask"),
     ([1.5], "1.5")],
)
def test_bad_categorical_features_name_the_problem(chosen, message):
    frame = _frame()
    with pytest.raises(ValueError, match=message):
        DNNClassifier(**FAST, categorical_features=chosen).fit(frame, _job_target(frame))


def test_missing_numbers_are_imputed_with_the_training_median_and_marked():
    frame = _frame()
    X_val, y_val = _frame(50, seed=1), _job_target(_frame(50, seed=1))
    clf = DNNClassifier(**FAST).fit(frame, _job_target(frame), validation_data=(X_val, y_val))
    table = clf.model_.input.table
    # Statistics come from the training rows, not from validation_data.
    np.testing.assert_allclose(
        table.median.numpy(), frame[["age", "income"]].median().to_numpy(), rtol=1e-6
    )
    assert clf.network_spec_.table["missing_indicators"] == [0]  # age had missing values
    rows = frame.iloc[[0, 0]].copy()
    rows.iloc[1, 0] = np.nan
    with torch.no_grad():
        missing, median = table(torch.tensor([[np.nan, 1.0, 3.0, 1e4],
                                              [float(table.median[0]), 1.0, 3.0, 1e4]]))
    assert (missing[2], median[2]) == (1.0, 0.0)  # the "was missing" column
    missing[2] = 0.0
    torch.testing.assert_close(missing, median)  # a missing age reads as the median age
    assert np.isfinite(clf.predict_proba(rows)).all()


def test_plain_numbers_keep_the_plain_network():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(200, 5)), rng.integers(0, 2, 200)
    default = DNNClassifier(**FAST).fit(X, y)
    assert default.network_spec_.table is None and default.is_categorical_ is None
    assert not hasattr(default.model_.input, "table")
    none = DNNClassifier(**FAST, categorical_features=None).fit(X, y)
    np.testing.assert_array_equal(default.predict_proba(X), none.predict_proba(X))


def test_nan_at_prediction_needs_a_network_that_imputes():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(200, 3)), rng.integers(0, 2, 200)
    clf = DNNClassifier(**FAST).fit(X, y)
    X_nan = X.copy()
    X_nan[0, 1] = np.nan
    with pytest.raises(ValueError, match=r"missing values.*impute"):
        clf.predict(X_nan)
    scaled = DNNClassifier(**FAST, input_scaling="robust").fit(X, y)
    assert scaled.predict(X_nan).shape == (200,)
    with pytest.raises(ValueError, match=r"infinity|too large"):
        scaled.predict(np.where(X_nan == X_nan, X_nan, np.inf))


def test_input_scaling_bounds_what_the_first_hidden_layer_sees():
    rng = np.random.default_rng(4)
    X = np.column_stack([rng.normal(size=500), np.exp(rng.normal(0, 3, 500))])
    y = (X[:, 1] > np.median(X[:, 1])).astype(int)
    seen = {}
    for scaling in ("auto", "robust_smooth_clip"):
        clf = DNNClassifier(**FAST, input_scaling=scaling).fit(X, y)
        with torch.no_grad():
            seen[scaling] = clf.model_.input(torch.from_numpy(X.astype(np.float32)))
    assert seen["auto"].abs().max() > 1000  # a plain array is not scaled by default
    assert seen["robust_smooth_clip"].abs().max() < 3


@pytest.mark.parametrize(
    ("embedding", "params", "per_column"),
    [("periodic", {"embedding_dim": 6, "n_frequencies": 4}, 6),
     ("piecewise_linear", {"n_bins": 7}, 7)],
)
def test_numeric_embedding_sets_the_first_layers_width(embedding, params, per_column):
    frame = _frame()
    clf = DNNClassifier(**FAST, numeric_embedding=embedding,
                        numeric_embedding_params=params).fit(frame, _job_target(frame))
    # 2 numeric columns embedded, 1 missing indicator, one-hot city (4), embedded job (8).
    assert clf.model_.hidden1.linear.in_features == 2 * per_column + 1 + 4 + 8
    with pytest.raises(ValueError, match="'bins' for numeric_embedding_params"):
        DNNClassifier(**FAST, numeric_embedding="periodic",
                      numeric_embedding_params={"bins": 3}).fit(frame, _job_target(frame))


def test_saved_and_pickled_models_keep_categories_and_statistics(tmp_path):
    frame = _frame()
    clf = DNNClassifier(**FAST, input_scaling="robust_smooth_clip",
                        numeric_embedding="piecewise_linear").fit(frame, _job_target(frame))
    clf.save(tmp_path / "table.skdnn")
    for copy in (DNNClassifier.load(tmp_path / "table.skdnn"), pickle.loads(pickle.dumps(clf))):
        assert copy.categories_ == clf.categories_
        np.testing.assert_array_equal(copy.predict_proba(frame), clf.predict_proba(frame))


def test_changing_the_table_input_refuses_to_continue_the_network():
    frame = _frame()
    clf = DNNClassifier(**FAST, warm_start=True).fit(frame, _job_target(frame))
    clf.set_params(input_scaling="robust")
    with pytest.raises(ValueError, match="input_scaling from 'auto' to 'robust'"):
        clf.fit(frame, _job_target(frame))


def test_partial_fit_keeps_the_categories_of_its_first_call():
    frame = _frame()
    y = _job_target(frame)
    clf = DNNClassifier(**FAST)
    clf.partial_fit(frame.iloc[:100], y[:100], classes=[0, 1, 2])
    first = clf.categories_
    later = frame.iloc[100:].copy()
    later["job"] = "a new job"
    clf.partial_fit(later, y[100:])
    assert clf.categories_ == first


def test_regressor_reads_tables_and_works_in_searches():
    frame = _frame()
    target = frame["income"].to_numpy() / 1e4 + frame["job"].str[-2:].astype(int).to_numpy()
    reg = DNNRegressor(**{**FAST, "max_epochs": 40}, input_scaling="robust_smooth_clip")
    assert reg.fit(frame, target).score(frame, target) > 0.5
    search = GridSearchCV(clone(reg).set_params(max_epochs=5),
                          {"input_scaling": [None, "robust"]}, cv=2).fit(frame, target)
    assert search.best_params_["input_scaling"] in (None, "robust")
    assert search.best_estimator_.network_spec_.table["scaling"] == search.best_params_[
        "input_scaling"]
    scores = cross_val_score(DNNClassifier(**FAST), frame, _job_target(frame), cv=3)
    assert np.isfinite(scores).all()


def test_a_date_column_is_named_and_sparse_codes_are_read():
    frame = _frame()
    frame["when"] = pd.date_range("2020-01-01", periods=len(frame))
    with pytest.raises(ValueError, match=r"non-numeric columns: \['when'\]"):
        DNNClassifier(**FAST).fit(frame, _job_target(frame))
    rng = np.random.default_rng(5)
    codes = sp.csr_matrix(rng.integers(0, 3, (60, 2)).astype(float))
    clf = DNNClassifier(**FAST, categorical_features=[0]).fit(codes, rng.integers(0, 2, 60))
    assert clf.categories_ == [[0.0, 1.0, 2.0]]
    assert clf.predict(codes[:1]).shape == (1,)


def test_ensemble_spread_of_a_regressor_reads_the_table_once():
    frame = _frame()
    target = frame["job"].str[-2:].astype(int).to_numpy() + np.nan_to_num(frame["age"]) / 10
    reg = DNNRegressor(**FAST, n_ensemble=3).fit(frame, target)
    mean, std = reg.predict(frame, return_std=True)
    np.testing.assert_allclose(mean, reg.predict(frame), rtol=1e-5, atol=1e-5)
    assert std.shape == mean.shape and (std > 0).all()


def test_embedding_settings_without_an_embedding_are_refused():
    frame = _frame()
    with pytest.raises(ValueError, match=r"numeric_embedding_params.*numeric_embedding=None"):
        DNNClassifier(**FAST, numeric_embedding_params={"n_bins": 5}).fit(
            frame, _job_target(frame))


def test_an_object_array_with_strings_names_its_columns():
    frame = _frame()
    values = frame.to_numpy()  # object array: numbers and strings
    with pytest.raises(ValueError, match=r"non-numeric columns: \[1, 2\]"):
        DNNClassifier(**FAST).fit(values, _job_target(frame))
    clf = DNNClassifier(**FAST, categorical_features=[1, 2]).fit(values, _job_target(frame))
    assert [len(c) for c in clf.categories_] == [3, 12]


def test_transfer_from_a_model_with_categorical_columns_is_refused():
    # Its input layer encodes categories with codes of its own fit; X coded any
    # other way (pandas' codes, say) would be read as other categories, silently.
    from skdnn import TransferDNNClassifier

    frame = _frame()
    y = _job_target(frame)
    source = DNNClassifier(**{**FAST, "max_epochs": 2}).fit(frame, y)
    codes = {name: frame[name].astype("category").cat.codes for name in ("city", "job")}
    for X in (frame, frame.assign(**codes).fillna(0)):
        with pytest.raises(ValueError, match="pretrained reads categorical columns"):
            TransferDNNClassifier(pretrained=source, max_epochs=1).fit(X, y)
    numbers_only = DNNClassifier(**{**FAST, "max_epochs": 2}).fit(frame[["income"]], y)
    TransferDNNClassifier(pretrained=numbers_only, max_epochs=1).fit(frame[["income"]], y)
