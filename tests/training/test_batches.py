"""Batch sizes (no lone row under batch norm) and rows read in place (IndexedRows)."""

import pytest
import torch
from torch import nn

from skdnn.training.data import IndexedRows, batch_sizes
from skdnn.training.loop import epoch_batch_sizes
from skdnn.training.walk import trains_batch_norm


@pytest.mark.parametrize(
    "n_rows, batch_size, min_rows, expected",
    [
        (64, 32, 1, [32, 32]),
        (65, 32, 1, [32, 32, 1]),
        (65, 32, 2, [32, 33]),
        (66, 32, 2, [32, 32, 2]),
        (1, 32, 1, [1]),
        (0, 32, 2, []),
        (3, 2, 2, [3]),
    ],
)
def test_batch_sizes_cover_every_row_and_merge_a_short_rest(n_rows, batch_size, min_rows, expected):
    assert batch_sizes(n_rows, batch_size, min_rows=min_rows) == expected
    assert sum(expected) == n_rows


def test_batch_sizes_refuse_what_cannot_be_met():
    with pytest.raises(ValueError, match="at least 2 rows"):
        batch_sizes(1, 32, min_rows=2)
    with pytest.raises(ValueError, match="at least 2 rows"):
        batch_sizes(5, 1, min_rows=2)


def test_only_batch_norm_in_training_mode_needs_two_rows():
    network = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU())
    assert trains_batch_norm(network.train())
    assert not trains_batch_norm(network.eval())
    assert not trains_batch_norm(nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4)).train())
    assert epoch_batch_sizes(network.train(), 33, 32) == [33]
    assert epoch_batch_sizes(network.eval(), 33, 32) == [32, 1]
    with pytest.raises(ValueError, match="batch_size=1"):
        epoch_batch_sizes(network.train(), 33, 1)
    with pytest.raises(ValueError, match="1 row"):
        epoch_batch_sizes(network.train(), 1, 32)


def test_indexed_rows_read_the_rows_of_the_tensor_without_a_copy():
    tensor = torch.arange(20.0).reshape(10, 2)
    view = IndexedRows(tensor, torch.tensor([7, 2, 5]))
    assert len(view) == 3 and view.shape == (3, 2) and view.dtype == torch.float32
    assert torch.equal(view[1:], tensor[[2, 5]])
    assert torch.equal(view.index_select(0, torch.tensor([2, 0])), tensor[[5, 7]])
    assert view.tensor is tensor
    with pytest.raises(TypeError):
        view[0]
