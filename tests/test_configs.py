"""``skdnn.configs``: the chapter's parameter sets are valid DNNClassifier arguments."""

import pytest
from sklearn.datasets import make_classification
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skdnn
from skdnn import DNNClassifier, configs
from skdnn.configs import DEFAULT, SELF_NORMALIZING, TABULAR, TABULAR_REGRESSION


@pytest.mark.parametrize(
    "config", [DEFAULT, SELF_NORMALIZING, TABULAR], ids=["default", "snn", "tabular"]
)
def test_a_config_fits_and_sets_what_it_says(config):
    X, y = make_classification(n_samples=120, n_features=6, random_state=0)
    model = DNNClassifier(**{"hidden_layer_sizes": (16, 16), **config, "max_epochs": 3})
    make_pipeline(StandardScaler(), model).fit(X, y)
    params = model.get_params()
    assert all(params[key] == value for key, value in config.items() if key != "max_epochs")
    assert model.n_epochs_ >= 1


def test_configs_are_read_only_and_follow_the_tables():
    with pytest.raises(TypeError):
        DEFAULT["activation"] = "relu"
    assert (DEFAULT["activation"], DEFAULT["kernel_initializer"]) == ("elu", "he_normal")
    assert (SELF_NORMALIZING["activation"], SELF_NORMALIZING["dropout_type"]) == ("selu", "alpha")
    assert DEFAULT["lr_schedule"] == SELF_NORMALIZING["lr_schedule"] == "1cycle"
    assert skdnn.configs is configs


def test_the_tabular_config_fits_a_raw_dataframe():
    pd = pytest.importorskip("pandas")
    X, y = make_classification(n_samples=200, n_features=4, random_state=0)
    frame = pd.DataFrame(X, columns=list("abcd"))
    frame["kind"] = pd.Categorical(["x" if v > 0 else "y" for v in X[:, 0]])
    frame.loc[::10, "b"] = float("nan")
    model = DNNClassifier(**{**TABULAR, "max_epochs": 3}).fit(frame, y)
    table = model.model_.input.table
    assert table.config["scaling"] == "robust_smooth_clip"
    assert table.config["embedding"] == "periodic" and table.config["missing_indicators"] == [1]
    assert model.predict_proba(frame).shape == (200, 2)


def test_the_regression_config_is_tabular_without_label_smoothing():
    from sklearn.datasets import make_regression

    from skdnn import DNNRegressor

    assert dict(TABULAR_REGRESSION) == {k: v for k, v in TABULAR.items() if k != "label_smoothing"}
    X, y = make_regression(n_samples=120, n_features=4, random_state=0)
    model = DNNRegressor(**{**TABULAR_REGRESSION, "max_epochs": 3}).fit(X, y)
    assert model.model_.input.table.config["embedding"] == "periodic"
