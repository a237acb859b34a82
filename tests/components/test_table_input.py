import numpy as np
import pytest
import torch

from skdnn._utils.module_spec import build_module, describe_module
from skdnn.components.input_scaling import smooth_clip
from skdnn.components.table_input import TableInput


def _table():
    rng = np.random.default_rng(0)
    X = np.column_stack([
        rng.normal(5, 2, 50),            # numeric, with missing values
        rng.integers(0, 4, 50),          # codes 0..3 of a 3-category column
        np.exp(rng.normal(0, 2, 50)),    # numeric, heavy tail
    ]).astype(np.float32)
    X[::6, 0] = np.nan
    return X


def test_imputes_the_training_median_and_marks_missing_values():
    X = _table()
    layer = TableInput(3, [1], [3], missing_indicators=[0], categorical_encoding="one_hot").fit(X)
    median = np.nanmedian(X[:, [0, 2]].astype(np.float64), axis=0)
    np.testing.assert_allclose(layer.median.numpy(), median, rtol=1e-6)
    out = layer(torch.from_numpy(X))
    assert out.shape == (50, layer.out_features) == (50, 2 + 1 + 4)
    np.testing.assert_allclose(out[:, 0], np.where(np.isnan(X[:, 0]), median[0], X[:, 0]),
                               rtol=1e-6)
    np.testing.assert_array_equal(out[:, 1], X[:, 2])
    np.testing.assert_array_equal(out[:, 2], np.isnan(X[:, 0]))          # the indicator
    np.testing.assert_array_equal(out[:, 3:].argmax(1), X[:, 1])          # one-hot of the codes
    np.testing.assert_array_equal(out[:, 3:].sum(1), 1)


def test_robust_scaling_follows_its_formula_and_bounds_outliers():
    X = _table()
    layer = TableInput(3, [1], [3], scaling="robust_smooth_clip").fit(X)
    numbers = np.where(np.isnan(X[:, [0, 2]]), layer.median.numpy(), X[:, [0, 2]])
    z = (torch.from_numpy(numbers) - layer.scaling.center) * layer.scaling.factor
    out = layer(torch.from_numpy(X))
    torch.testing.assert_close(out[:, :2], smooth_clip(z, 3.0))
    assert out[:, :2].abs().max() < 3
    unclipped = TableInput(3, [1], [3], scaling="robust").fit(X)(torch.from_numpy(X))
    assert unclipped[:, 1].abs().max() > 3  # the heavy tail stays unbounded without clipping


@pytest.mark.parametrize(
    ("embedding", "params", "width"),
    [("periodic", {"embedding_dim": 4, "n_frequencies": 3}, 2 * 4),
     ("piecewise_linear", {"n_bins": 5}, 2 * 5)],
)
def test_numeric_embeddings_widen_the_numeric_part(embedding, params, width):
    X = _table()
    layer = TableInput(3, [1], [3], embedding=embedding, embedding_params=params,
                       categorical_encoding="embedding").fit(X)
    assert layer.out_features == width + 8
    out = layer(torch.from_numpy(X))
    assert out.shape == (50, width + 8) and torch.isfinite(out).all()


def test_rebuilds_from_its_description_with_the_same_outputs():
    X = _table()
    layer = TableInput(3, [1], [3], missing_indicators=[0], scaling="robust",
                       embedding="piecewise_linear", embedding_params={"n_bins": 4},
                       generator=torch.Generator().manual_seed(0)).fit(X)
    rebuilt = build_module(describe_module(layer))
    rebuilt.load_state_dict(layer.state_dict())
    torch.testing.assert_close(rebuilt(torch.from_numpy(X)), layer(torch.from_numpy(X)))


def test_only_categorical_columns():
    codes = np.array([[1, 2], [2, 0], [0, 1]], dtype=np.float32)
    layer = TableInput(2, [0, 1], [2, 2], categorical_encoding="one_hot").fit(codes)
    out = layer(torch.from_numpy(codes))
    assert out.shape == (3, 6)
    np.testing.assert_array_equal(out[:, :3].argmax(1), [1, 2, 0])


def test_bad_settings_raise_value_errors():
    with pytest.raises(ValueError, match=r"'bins'.*accepted"):
        TableInput(2, embedding="piecewise_linear", embedding_params={"bins": 3})
    with pytest.raises(ValueError, match="cardinalities"):
        TableInput(2, [0], [])
    with pytest.raises(ValueError, match="numeric columns"):
        TableInput(2, [0], [3], missing_indicators=[0])
