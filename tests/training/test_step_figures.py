"""What the epoch records keep of the training steps: training accuracy and per-step rates."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from skdnn.components.regularizers import Regularization
from skdnn.components.schedule_adapter import LRScheduleAdapter
from skdnn.network import MLPSpec, build_mlp, kernels
from skdnn.training.data import Dataset
from skdnn.training.early_stopping import EarlyStopping
from skdnn.training.history import StepRecorder
from skdnn.training.loop import _train_one_epoch, train
from skdnn.training.objectives import CROSS_ENTROPY, RECONSTRUCTION, accuracy
from skdnn.training.setup import TrainingSetup

N_ROWS, BATCH = 45, 8  # a short last batch of 5 rows


def _network(activation: str = "relu", n_outputs: int = 3) -> torch.nn.Sequential:
    return build_mlp(
        MLPSpec(n_features=5, hidden_layer_sizes=(16,), n_outputs=n_outputs,
                activation=activation),
        generator=torch.Generator().manual_seed(0),
    )


def _data() -> Dataset:
    generator = torch.Generator().manual_seed(3)
    X = torch.randn(N_ROWS, 5, generator=generator)
    return Dataset(X=X, y=(X[:, 0] > 0).long() + (X[:, 1] > 0.5).long())  # learnable classes


def _setup(module, *, lr=0.05, schedule=None, schedule_params=None, shuffle=True, epochs=1,
           objective=CROSS_ENTROPY, optimizer="adam"):
    if optimizer == "adam":
        optimizer = torch.optim.Adam(module.parameters(), lr=lr, fused=True)
    else:
        optimizer = torch.optim.SGD(module.parameters(), lr=lr)
    steps = math.ceil(N_ROWS / BATCH)
    return TrainingSetup(
        optimizer=optimizer,
        schedule=LRScheduleAdapter(optimizer, schedule, schedule_params, steps_per_epoch=steps,
                                   total_steps=steps * epochs),
        regularization=Regularization(kernels(module)),
        stopper=EarlyStopping(enabled=False, patience=1, min_delta=0.0),
        max_epochs=epochs,
        batch_size=BATCH,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(7),
        objective=objective,
    )


@pytest.mark.parametrize("activation", ["relu", "gelu"])  # hand-written and autograd steps
@pytest.mark.parametrize("shuffle", [False, True])
def test_training_accuracy_is_that_of_the_batches_outputs(activation, shuffle):
    # Train until the network is good, then run one epoch at a zero rate: the
    # weights stay put, so the epoch's training accuracy must be the network's
    # accuracy on the training rows, whatever order the batches took. Outputs
    # matched to the wrong targets would fall to about chance.
    module, data = _network(activation), _data()
    optimizer = torch.optim.Adam(module.parameters(), lr=0.05)
    for _ in range(150):  # full-batch training, cheaper than epochs of the loop
        optimizer.zero_grad()
        F.cross_entropy(module(data.X), data.y).backward()
        optimizer.step()
    with torch.no_grad():
        expected = (module(data.X).argmax(1) == data.y).float().mean().item()
    assert expected > 0.9
    record = train(module, data, None, _setup(module, lr=0.0, optimizer="sgd",
                                              shuffle=shuffle)).records[0]
    assert record["accuracy"] == pytest.approx(expected, abs=1e-6)


def test_training_accuracy_is_recorded_every_epoch_and_follows_learning():
    module, data = _network(), _data()
    records = train(module, data, None, _setup(module, lr=0.1, epochs=8)).records
    figures = [r["accuracy"] for r in records]
    assert all(0.0 <= a <= 1.0 for a in figures)
    assert figures[-1] > figures[0] + 0.3


def test_objectives_without_training_metrics_record_none():
    module = _network(n_outputs=5)
    data = Dataset(X=_data().X, y=_data().X)  # reconstruct the inputs
    (record,) = train(module, data, None, _setup(module, objective=RECONSTRUCTION)).records
    assert "accuracy" not in record and record["steps"] == math.ceil(N_ROWS / BATCH)


def test_per_step_rates_are_those_the_schedule_set():
    # Exponential decay changes the rate at every step: the record holds each
    # step's rate, the ones a replay of the same schedule gives.
    module, data = _network(), _data()
    setup = _setup(module, lr=0.1, schedule="exponential", schedule_params={"s": 10}, epochs=3)
    records = train(module, data, None, setup).records
    steps = math.ceil(N_ROWS / BATCH)
    assert [r["steps"] for r in records] == [steps] * 3
    rates = [rate for r in records for rate in r["lr_steps"]]
    expected = [0.1 * 0.1 ** (t / 10) for t in range(3 * steps)]
    assert rates == pytest.approx(expected, rel=1e-12)
    assert [r["lr"] for r in records] == pytest.approx(expected[::steps], rel=1e-12)


def test_a_constant_rate_is_recorded_once_per_epoch():
    module, data = _network(), _data()
    (record,) = train(module, data, None, _setup(module, lr=0.01)).records
    assert "lr_steps" not in record and record["lr"] == 0.01
    assert record["steps"] == math.ceil(N_ROWS / BATCH)


def test_recorder_keeps_references_without_host_syncs(monkeypatch):
    module, data = _network(), _data()
    setup = _setup(module)
    _train_one_epoch(module, data, setup)  # the optimizer creates its state first
    recorder = StepRecorder(setup.optimizer, accuracy)

    def forbidden(*args, **kwargs):
        raise AssertionError("host sync inside the epoch")

    with monkeypatch.context() as patched:
        for name in ("item", "tolist", "__bool__", "__float__", "__int__"):
            patched.setattr(torch.Tensor, name, forbidden)
        _train_one_epoch(module, data, setup, recorder)
    figures = recorder.figures()  # the one sync, at the end of the epoch
    assert figures["steps"] == len(recorder.rates) == math.ceil(N_ROWS / BATCH)
    assert 0.0 <= figures["accuracy"] <= 1.0


def test_recorder_figures_over_all_rows():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    recorder = StepRecorder(optimizer, accuracy)
    batches = [(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])),
               (torch.tensor([[0.0, 3.0]]), torch.tensor([1]))]
    for outputs, targets in batches:
        recorder.before_step()
        optimizer.param_groups[0]["lr"] /= 2
        recorder.after_step(outputs, targets)
    assert recorder.figures() == {"steps": 2, "lr_steps": [0.5, 0.25],
                                  "accuracy": pytest.approx(2 / 3)}


def test_step_outputs_are_the_batch_logits():
    from skdnn.training.steps import make_step

    for activation in ("relu", "gelu"):
        module, data = _network(activation).train(), _data()
        step = make_step(module, _setup(module, lr=0.0, optimizer="sgd"))
        with torch.no_grad():
            expected = module(data.X[:BATCH])
        step(data.X[:BATCH], data.y[:BATCH], None)
        torch.testing.assert_close(step.outputs, expected)
        assert not step.outputs.requires_grad
        torch.testing.assert_close(F.cross_entropy(step.outputs, data.y[:BATCH]),
                                   F.cross_entropy(expected, data.y[:BATCH]))
