"""Freezing blocks of a network and computing their outputs once (plain torch)."""

import copy
from collections import OrderedDict

import pytest
import torch
from torch import nn

from skdnn.components.regularizers import Regularization
from skdnn.components.schedule_adapter import LRScheduleAdapter
from skdnn.network import kernels
from skdnn.training.data import Dataset
from skdnn.training.early_stopping import EarlyStopping
from skdnn.training.freezing import (
    FreezingCallback,
    FrozenPrefixSequential,
    freeze_prefix,
    reading_cache,
    run_blocks,
    trainable_parameters,
)
from skdnn.training.loop import train
from skdnn.training.setup import CallbackBase, TrainingSetup


def _block(**layers: nn.Module) -> nn.Sequential:
    return nn.Sequential(OrderedDict(layers))


def _network(seed: int = 0) -> nn.Sequential:
    """Named blocks as skdnn.network builds them."""
    torch.manual_seed(seed)
    return _block(
        input=_block(norm=nn.BatchNorm1d(6)),
        hidden1=_block(
            linear=nn.Linear(6, 8),
            norm=nn.BatchNorm1d(8),
            activation=nn.ELU(),
            dropout=nn.Dropout(0.5),
        ),
        hidden2=_block(linear=nn.Linear(8, 5), activation=nn.ELU()),
        output=_block(linear=nn.Linear(5, 3)),
    )


def test_freeze_prefix_shares_blocks_and_stops_gradients():
    network = _network()
    frozen = freeze_prefix(network, 2)
    assert isinstance(frozen, FrozenPrefixSequential)
    assert [a is b for a, b in zip(frozen, network, strict=True)] == [True] * 4
    assert frozen.n_frozen == 2
    assert all(not p.requires_grad for p in frozen[:2].parameters())
    assert all(p.requires_grad for p in frozen[2:].parameters())
    assert trainable_parameters(frozen) == list(frozen[2:].parameters())
    frozen(torch.randn(16, 6)).sum().backward()
    assert all(p.grad is None for p in frozen[:2].parameters())
    assert all(p.grad is not None for p in frozen[2:].parameters())


def test_frozen_blocks_stay_in_eval_mode_after_train():
    frozen = freeze_prefix(_network(), 2)
    frozen.train()
    assert frozen.training
    assert not any(m.training for block in list(frozen)[:2] for m in block.modules())
    assert all(m.training for block in list(frozen)[2:] for m in block.modules())
    frozen.eval()
    assert not any(m.training for m in frozen.modules())


def test_frozen_batch_norm_keeps_its_statistics_and_dropout_is_off():
    frozen = freeze_prefix(_network(), 2).train()
    norm = frozen.hidden1.norm
    before = (norm.running_mean.clone(), norm.running_var.clone(), norm.num_batches_tracked.clone())
    x = torch.randn(64, 6) * 3 + 1
    first, second = frozen(x), frozen(x)
    assert torch.equal(first, second)  # no dropout mask, no batch statistics
    after = (norm.running_mean, norm.running_var, norm.num_batches_tracked)
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_set_frozen_moves_the_boundary_both_ways():
    frozen = freeze_prefix(_network(), 3).train()
    frozen.set_frozen(1)
    assert frozen.n_frozen == 1
    assert all(p.requires_grad for p in frozen[1:].parameters())
    assert all(m.training for block in list(frozen)[1:] for m in block.modules())
    assert not any(p.requires_grad for p in frozen[0].parameters())
    frozen.set_frozen(2)
    assert not frozen.hidden1.training
    assert not any(p.requires_grad for p in frozen.hidden1.parameters())
    with pytest.raises(ValueError, match=r"n_blocks must be in \[0, 4\]"):
        frozen.set_frozen(5)


def test_freeze_prefix_of_a_frozen_network_changes_it_in_place():
    frozen = freeze_prefix(_network(), 1)
    assert freeze_prefix(frozen, 2) is frozen
    assert frozen.n_frozen == 2


def test_slicing_freezes_and_unfreezes_nothing():
    frozen = freeze_prefix(_network(), 2)
    part = frozen[1:3]
    assert isinstance(part, FrozenPrefixSequential)
    assert part.n_frozen == 0
    assert not any(p.requires_grad for p in frozen.hidden1.parameters())


def test_run_blocks_matches_the_forward_pass_in_eval_mode():
    network = _network().train()
    X = torch.randn(50, 6)
    expected = network.eval()(X)
    network.train()
    outputs = run_blocks(network, X, batch_size=7)
    torch.testing.assert_close(outputs, expected)
    assert all(m.training for m in network.modules())  # modes restored
    hidden = run_blocks(network, X, stop=2)
    torch.testing.assert_close(run_blocks(network, hidden, start=2), expected)
    assert run_blocks(network, X, start=1, stop=1) is X


def test_run_blocks_output_can_feed_training():
    network = _network()
    cached = run_blocks(network, torch.randn(20, 6), stop=2)
    assert not cached.is_inference()
    network[2:](cached).sum().backward()
    assert network.hidden2.linear.weight.grad is not None


def test_reading_cache_skips_the_cached_blocks_and_resets():
    frozen = freeze_prefix(_network(), 2).eval()
    X = torch.randn(10, 6)
    expected = frozen(X)
    cached = run_blocks(frozen, X, stop=2)
    with reading_cache(frozen, 2):
        torch.testing.assert_close(frozen(cached), expected)
    assert frozen.n_cached == 0
    with pytest.raises(RuntimeError), reading_cache(frozen, 2):
        raise RuntimeError
    assert frozen.n_cached == 0
    with (
        pytest.raises(ValueError, match="Only frozen blocks can be cached"),
        reading_cache(frozen, 3),
    ):
        pass


def test_freezing_run_trains_on_the_cache_and_unfreezes_on_schedule():
    network = freeze_prefix(_network(), 3)
    hidden1, hidden2 = copy.deepcopy(network.hidden1), copy.deepcopy(network.hidden2)
    generator = torch.Generator().manual_seed(0)
    data = Dataset(
        torch.randn(64, 6, generator=generator), torch.randint(3, (64,), generator=generator)
    )
    optimizer = torch.optim.SGD(
        [{"params": network.output.parameters()}, {"params": network.hidden2.parameters()}], lr=0.1
    )
    setup = TrainingSetup(
        optimizer=optimizer,
        schedule=LRScheduleAdapter(optimizer, None, steps_per_epoch=4, total_steps=12),
        regularization=Regularization(kernels(network), max_norm=0.1),
        stopper=EarlyStopping(enabled=False, patience=1, min_delta=0.0),
        max_epochs=3,
        batch_size=16,
    )
    freezing = FreezingCallback(
        network, cache=True, unfreeze_after=1, boundaries=(3, 2), learning_rate=0.01
    )
    shapes = []

    class Watch(CallbackBase):  # runs before the freezing callback at each epoch's end
        def on_epoch_end(self, run, record):
            shapes.append(run.data.X.shape)
            kernels_seen.append(list(run.setup.regularization.kernels))

    kernels_seen = []
    records = train(network, data, None, setup, [Watch(), freezing]).records
    assert shapes[0] == (64, 5)  # outputs of hidden2
    assert kernels_seen[0] == [network.output.linear.weight]
    assert network.n_cached == 0  # reads raw inputs again after the run
    assert [r["lr"] for r in records] == pytest.approx([0.1, 0.01, 0.01])
    assert network.n_frozen == 2 and shapes[-1] == (64, 8)  # outputs of hidden1
    assert setup.regularization.kernels == [
        network.hidden2.linear.weight,
        network.output.linear.weight,
    ]
    assert not torch.equal(network.hidden2.linear.weight, hidden2.linear.weight)
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            network.hidden1.state_dict().values(), hidden1.state_dict().values(), strict=True
        )
    )
    assert records[0]["grad_norms"] == [0.0, 0.0]  # the hidden blocks were still frozen
