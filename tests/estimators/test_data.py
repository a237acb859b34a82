"""Data preparation: splits to tensors, memory-mapped inputs streamed instead of copied."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from skdnn import DNNClassifier
from skdnn.estimators._data import to_dataset
from skdnn.training.data import IndexedRows, StreamedRows

CPU = torch.device("cpu")


@pytest.fixture
def mapped(tmp_path):
    rng = np.random.RandomState(0)
    X = rng.rand(60, 4).astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    return np.load(tmp_path / "X.npy", mmap_mode="r"), X


def test_arrays_become_tensors(mapped):
    _, X = mapped
    y, weight = np.arange(60) % 3, np.linspace(0.5, 1.5, 60).astype(np.float32)
    data = to_dataset(X, y, weight, CPU)
    assert isinstance(data.X, torch.Tensor) and torch.equal(data.X, torch.from_numpy(X))
    assert data.X.data_ptr() == X.ctypes.data  # shares the caller's memory
    rows = np.array([5, 1, 7])
    subset = to_dataset(X, y, weight, CPU, rows=rows)
    assert isinstance(subset.X, IndexedRows) and subset.X.tensor.data_ptr() == X.ctypes.data
    assert torch.equal(subset.X[:], torch.from_numpy(X[rows]))
    assert torch.equal(subset.y, torch.from_numpy(y[rows]))
    assert torch.equal(subset.weight, torch.from_numpy(weight[rows]))


def test_memory_mapped_inputs_are_streamed(mapped):
    X_mapped, X = mapped
    y = np.arange(60) % 3
    for view in (X_mapped, np.asarray(X_mapped), X_mapped[10:]):  # views of the map too
        data = to_dataset(view, y[: len(view)], None, CPU)
        assert isinstance(data.X, StreamedRows)
    rows = np.array([5, 1, 7])
    data = to_dataset(X_mapped, y, None, CPU, rows=rows)
    assert isinstance(data.X, StreamedRows) and len(data) == 3
    assert torch.equal(data.X[0:3], torch.from_numpy(X[rows]))
    assert torch.equal(data.X.index_select(0, torch.tensor([2, 0])), torch.from_numpy(X[[7, 5]]))
    assert torch.equal(data.y, torch.from_numpy(y[rows]))
    # Only float32 maps stream (anything else is converted, hence copied, anyway).
    assert isinstance(to_dataset(np.asarray(X_mapped, np.float64), y, None, CPU).X, torch.Tensor)


def test_partial_fit_on_a_memmap_streams_and_matches_in_memory(mapped):
    X_mapped, X = mapped
    y = (X[:, 0] > 0.5).astype(int)
    params = dict(hidden_layer_sizes=(8,), batch_size=16, device="cpu", random_state=0)
    streamed = DNNClassifier(**params).partial_fit(X_mapped, y)
    in_memory = DNNClassifier(**params).partial_fit(X, y)
    assert_allclose(streamed.predict_proba(X), in_memory.predict_proba(X), rtol=1e-5, atol=1e-6)


def test_sparse_training_data_stays_sparse_and_trains_like_dense():
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    X = sp.random(300, 50, density=0.05, format="csr", random_state=0, dtype=np.float32)
    y = rng.integers(0, 2, 300)
    rows = np.arange(0, 300, 2)
    data = to_dataset(X, y, None, torch.device("cpu"), rows=rows)
    assert isinstance(data.X, StreamedRows) and data.X.array is X  # no dense copy
    assert_allclose(data.X[:3].numpy(), X[rows[:3]].toarray())
    assert_allclose(data.X.index_select(0, torch.tensor([4, 1])).numpy(), X[rows[[4, 1]]].toarray())
    params = dict(hidden_layer_sizes=(16,), max_epochs=3, random_state=0)
    sparse = DNNClassifier(**params).fit(X, y)
    dense = DNNClassifier(**params).fit(X.toarray(), y)
    assert_allclose(sparse.predict_proba(X), dense.predict_proba(X.toarray()), atol=1e-6)
    # Prediction makes sparse rows dense a chunk at a time, with the same bits.
    np.testing.assert_array_equal(sparse.predict_proba(X), sparse.predict_proba(X.toarray()))
    np.testing.assert_array_equal(sparse._forward(X, batch_size=7), sparse._forward(X.toarray()))
    from skdnn import DNNRegressor

    regressor = DNNRegressor(**params).fit(X, rng.normal(size=300))
    np.testing.assert_array_equal(regressor.predict(X), regressor.predict(X.toarray()))
