"""The epoch loop: batching, the epoch loss, determinism, no host syncs per batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from skdnn.components.regularizers import Regularization
from skdnn.components.schedule_adapter import LRScheduleAdapter
from skdnn.network import MLPSpec, build_mlp, kernels
from skdnn.training.data import Dataset, StreamedRows
from skdnn.training.early_stopping import EarlyStopping
from skdnn.training.loop import _train_one_epoch, train
from skdnn.training.setup import TrainingSetup


def _network(activation: str = "relu", **spec) -> torch.nn.Sequential:
    return build_mlp(
        MLPSpec(n_features=5, hidden_layer_sizes=(8,), n_outputs=3, activation=activation, **spec),
        generator=torch.Generator().manual_seed(0),
    )


def _data(n_rows: int = 23, weighted: bool = False) -> Dataset:
    generator = torch.Generator().manual_seed(3)
    return Dataset(
        X=torch.randn(n_rows, 5, generator=generator),
        y=torch.randint(0, 3, (n_rows,), generator=generator),
        weight=torch.rand(n_rows, generator=generator) + 0.5 if weighted else None,
    )


def _setup(module, *, lr: float = 1e-2, batch_size: int = 5, shuffle: bool = True, **kwargs):
    optimizer = torch.optim.Adam(module.parameters(), lr=lr, fused=True)
    if lr == 0:
        optimizer = torch.optim.SGD(module.parameters(), lr=0.0)
    return TrainingSetup(
        optimizer=optimizer,
        schedule=LRScheduleAdapter(optimizer, None, steps_per_epoch=1, total_steps=1),
        regularization=Regularization(kernels(module)),
        stopper=EarlyStopping(enabled=False, patience=1, min_delta=0.0),
        max_epochs=1,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(7),
        **kwargs,
    )


@pytest.mark.parametrize("activation", ["relu", "gelu"])  # hand-written and autograd steps
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
def test_epoch_loss_is_the_mean_over_rows(activation, weighted, shuffle):
    # With a zero learning rate the weights stay put, so the mean of the batch
    # losses (weighted by their rows, the last batch being short) is the loss
    # over all rows at once.
    module, data = _network(activation).train(), _data(weighted=weighted)
    loss, _ = _train_one_epoch(module, data, _setup(module, lr=0.0, shuffle=shuffle))
    with torch.no_grad():
        per_row = F.cross_entropy(module(data.X), data.y, reduction="none")
    expected = per_row.mean() if data.weight is None else (per_row * data.weight).mean()
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)


def test_first_batch_loss_is_measured_before_its_step():
    module, data = _network().train(), _data(weighted=False)
    setup = _setup(module, shuffle=False)
    with torch.no_grad():
        expected = F.cross_entropy(module(data.X[: setup.batch_size]), data.y[: setup.batch_size])
    _, first = _train_one_epoch(module, data, setup)
    torch.testing.assert_close(first, expected, rtol=1e-5, atol=1e-6)


def test_epoch_loss_of_empty_data_is_nan():
    module = _network().train()
    empty = Dataset(X=torch.empty(0, 5), y=torch.empty(0, dtype=torch.long))
    assert all(torch.isnan(loss) for loss in _train_one_epoch(module, empty, _setup(module)))


def test_shuffled_batches_cover_every_row_once_from_one_buffer():
    module, data = _network().train(), _data(n_rows=23)
    seen, pointers = [], set()

    def record(X, generator):
        seen.append(X.clone())
        pointers.add(X.data_ptr())
        return X

    _train_one_epoch(module, data, _setup(module, augment=record))
    assert [len(X) for X in seen] == [5, 5, 5, 5, 3]
    assert len(pointers) == 1  # the batches reuse one buffer
    rows = torch.cat(seen)
    assert not torch.equal(rows, data.X)  # shuffled
    assert torch.equal(rows[rows[:, 0].argsort()], data.X[data.X[:, 0].argsort()])


@pytest.mark.parametrize(
    ("augment", "match"),
    [
        (lambda X: X, r"augment\(X_batch, generator\) raised TypeError: .*takes 1 positional"),
        (torch.clone, r"augment\(X_batch, generator\) raised TypeError"),  # no signature
        (lambda X, g: (X, g), r"augment must return a torch.Tensor.*returned a tuple"),
    ],
    ids=["one-argument", "builtin", "tuple"],
)
def test_an_augment_of_the_wrong_form_is_a_clear_error(augment, match):
    module, data = _network(), _data()
    with pytest.raises(ValueError, match=match):
        _train_one_epoch(module, data, _setup(module, augment=augment))


def test_an_augment_that_goes_wrong_on_a_later_batch_is_a_clear_error():
    calls = []

    def augment(X, generator):
        calls.append(len(X))
        return X if len(calls) < 3 else X[:, :2]

    module, data = _network(), _data()
    with pytest.raises(ValueError, match=r"augment must return .* shape \(5, 2\) instead of"):
        _train_one_epoch(module, data, _setup(module, augment=augment))
    assert len(calls) == 3


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_training_is_deterministic(activation):
    states = []
    for _ in range(2):
        module, data = _network(activation), _data(weighted=True)
        train(module, data, None, _setup(module))
        states.append([p.detach().clone() for p in module.parameters()])
    for a, b in zip(*states, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_no_host_sync_per_batch(monkeypatch, activation):
    # Reading a value back to the host (.item(), bool(), float(), .tolist())
    # stalls a GPU; the loop must not do it per batch.
    module, data = _network(activation).train(), _data(n_rows=40)
    setup = _setup(module)
    _train_one_epoch(module, data, setup)  # the optimizer creates its state first

    def forbidden(*args, **kwargs):
        raise AssertionError("host sync inside the epoch")

    for name in ("item", "tolist", "__bool__", "__float__", "__int__"):
        monkeypatch.setattr(torch.Tensor, name, forbidden)
    _train_one_epoch(module, data, setup)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("subset", [False, True])
def test_streamed_rows_train_like_tensors(tmp_path, shuffle, subset):
    # Rows read batch by batch from a memory-mapped file give the same batches,
    # hence the same model, as the rows held in one tensor (up to float rounding:
    # the kernels may round differently for differently aligned batches).
    data = _data(n_rows=37, weighted=True)
    path = tmp_path / "X.npy"
    np.save(path, data.X.numpy())
    mapped = np.load(path, mmap_mode="r")
    rows = np.random.RandomState(0).permutation(37)[:29] if subset else None
    in_memory = Dataset(data.X, data.y, data.weight)
    if rows is not None:
        index = torch.from_numpy(rows)
        in_memory = Dataset(data.X[index], data.y[index], data.weight[index])
    streamed = Dataset(
        StreamedRows(mapped, torch.device("cpu"), rows), in_memory.y, in_memory.weight
    )
    assert len(streamed) == len(in_memory) and streamed.X.dtype == torch.float32
    states = []
    for dataset in (in_memory, streamed):
        module = _network()
        records = train(module, dataset, dataset, _setup(module, shuffle=shuffle)).records
        states.append(([p.detach().clone() for p in module.parameters()], records))
    (first, first_records), (second, second_records) = states
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert first_records[0]["loss"] == pytest.approx(second_records[0]["loss"], rel=1e-5)
    assert first_records[0]["val_loss"] == pytest.approx(second_records[0]["val_loss"], rel=1e-5)


def test_streamed_rows_refuse_what_they_cannot_do(tmp_path):
    rows = StreamedRows(np.zeros((4, 3), dtype=np.float32), torch.device("cpu"))
    with pytest.raises(TypeError, match="slices"):
        rows[0]
    with pytest.raises(ValueError, match="rows only"):
        rows.index_select(1, torch.tensor([0]))
