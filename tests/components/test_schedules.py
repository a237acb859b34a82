import json
import math

import pytest
import torch

from skdnn.components.schedule_adapter import LRScheduleAdapter
from skdnn.components.schedules import LR_SCHEDULES
from skdnn.exceptions import UnknownComponentError

ETA0 = 0.1


def sgd(lr=ETA0, momentum=0.9):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr, momentum=momentum)


def adapter(name, params=None, *, optimizer=None, steps_per_epoch=10, total_steps=100):
    return LRScheduleAdapter(
        sgd() if optimizer is None else optimizer,
        name,
        params,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
    )


def rates(schedule, n_steps):
    """The rate each of the next ``n_steps`` optimizer steps uses."""
    out = []
    for _ in range(n_steps):
        out.append(schedule.learning_rate)
        schedule.step()
    return out


def test_registry_holds_the_api_names():
    expected = ["1cycle", "cosine", "exponential", "performance", "piecewise", "power"]
    assert LR_SCHEDULES.names() == expected


def test_constant_rate_still_counts_steps():
    schedule = adapter(None, {"ignored": 1})
    assert rates(schedule, 25) == [ETA0] * 25
    assert schedule.step_count == 25
    assert schedule.state_dict()["step_count"] == 25


@pytest.mark.parametrize(
    ("name", "params", "formula"),
    [
        ("power", {"s": 7, "c": 2}, lambda t: ETA0 / (1 + t / 7) ** 2),
        ("power", {}, lambda t: ETA0 / (1 + t / 200)),  # s: 20 epochs of 10 steps
        ("exponential", {"s": 12}, lambda t: ETA0 * 0.1 ** (t / 12)),
        ("exponential", {}, lambda t: ETA0 * 0.1 ** (t / 200)),
        (
            "cosine",
            {"min_lr": 0.004},
            lambda t: 0.004 + (ETA0 - 0.004) * (1 + math.cos(math.pi * min(t, 99) / 99)) / 2,
        ),
    ],
)
def test_closed_form_schedules_match_their_formula(name, params, formula):
    observed = rates(adapter(name, params), 130)  # past total_steps=100 too
    assert observed == pytest.approx([formula(t) for t in range(130)], rel=1e-12)


def test_exponential_divides_by_ten_every_s_steps():
    observed = rates(adapter("exponential", {"s": 5}), 11)
    assert observed[::5] == pytest.approx([ETA0, ETA0 / 10, ETA0 / 100], rel=1e-12)


def test_cosine_ends_at_min_lr_on_the_last_step_and_stays():
    observed = rates(adapter("cosine", {"min_lr": 0.001}, total_steps=11), 15)
    assert observed[0] == ETA0
    assert observed[5] == pytest.approx((ETA0 + 0.001) / 2)
    assert observed[10:] == pytest.approx([0.001] * 5)


def test_piecewise_follows_epoch_boundaries():
    schedule = adapter(
        "piecewise", {"boundaries": [2, 4], "values": [0.3, 0.05, 0.01]}, steps_per_epoch=3
    )
    assert rates(schedule, 15) == [0.3] * 6 + [0.05] * 6 + [0.01] * 3


def test_one_cycle_rates_and_inverse_momentum():
    # total 101 steps: last step t=100, final fall over the last 10, peak at t=45.
    optimizer = sgd()
    schedule = adapter("1cycle", optimizer=optimizer, total_steps=101)
    lr, momentum = [], []
    for _ in range(110):
        lr.append(schedule.learning_rate)
        momentum.append(optimizer.param_groups[0]["momentum"])
        schedule.step()
    max_lr = 10 * ETA0
    assert lr[0] == ETA0 and lr[45] == pytest.approx(max_lr) and lr[90] == pytest.approx(ETA0)
    assert lr[20] == pytest.approx(ETA0 + (max_lr - ETA0) * 20 / 45)
    assert lr[70] == pytest.approx(max_lr - (max_lr - ETA0) * 25 / 45)
    assert lr[95] == pytest.approx(ETA0 + (ETA0 / 1000 - ETA0) * 5 / 10)
    assert lr[100:] == pytest.approx([ETA0 / 1000] * 10)
    assert momentum[0] == 0.95 and momentum[45] == pytest.approx(0.85)
    for t in range(91):  # momentum mirrors the rate: rate up <=> momentum down
        rate_share = (lr[t] - ETA0) / (max_lr - ETA0)
        assert (0.95 - momentum[t]) / (0.95 - 0.85) == pytest.approx(rate_share, abs=1e-12)
    assert momentum[91:] == pytest.approx([0.95] * 19)


def test_one_cycle_custom_parameters_and_adam_beta_1():
    params = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.Adam([params], lr=0.01, betas=(0.9, 0.999))
    schedule = adapter(
        "1cycle",
        {
            "max_lr": 0.05,
            "min_lr": 1e-6,
            "final_fraction": 0.2,
            "max_momentum": 0.9,
            "min_momentum": 0.8,
        },
        optimizer=optimizer,
        total_steps=11,
    )
    lr, betas = [], []
    for _ in range(12):
        lr.append(schedule.learning_rate)
        betas.append(optimizer.param_groups[0]["betas"])
        schedule.step()
    assert lr[:5] == pytest.approx([0.01, 0.02, 0.03, 0.04, 0.05])  # peak at (1-0.2)*10/2 = 4
    assert lr[8] == pytest.approx(0.01) and lr[10:] == pytest.approx([1e-6] * 2)
    assert [b[0] for b in betas[:5]] == pytest.approx([0.9, 0.875, 0.85, 0.825, 0.8])
    assert {b[1] for b in betas} == {0.999}


@pytest.mark.parametrize("optimizer_name", ["plain", "adagrad"])
def test_one_cycle_leaves_optimizers_without_momentum_alone(optimizer_name):
    param = torch.nn.Parameter(torch.zeros(2))
    if optimizer_name == "plain":
        optimizer = torch.optim.SGD([param], lr=ETA0)
    else:
        optimizer = torch.optim.Adagrad([param], lr=ETA0)
    schedule = adapter("1cycle", optimizer=optimizer)
    rates(schedule, 30)
    assert optimizer.param_groups[0].get("momentum", 0) == 0
    assert schedule.learning_rate > ETA0


@pytest.mark.parametrize("name", [None, *LR_SCHEDULES.names()])
def test_only_the_performance_schedule_needs_a_validation_loss(name):
    params = {"boundaries": [1], "values": [0.1, 0.01]} if name == "piecewise" else {}
    assert adapter(name, params).needs_validation_loss == (name == "performance")


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("1cycle", {"max_lr": 1e-3}, "max_lr .*above the initial learning rate"),
        ("1cycle", {"min_lr": 0.5}, "min_lr .*below the initial learning rate"),
        ("cosine", {"min_lr": 0.5}, "min_lr .*below the initial learning rate"),
    ],
)
def test_schedules_running_the_wrong_way_are_refused(name, params, match):
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)
    with pytest.raises(ValueError, match=match):
        adapter(name, params, optimizer=optimizer)


def test_performance_reduces_after_patience_epochs_without_improvement():
    schedule = adapter("performance", {"patience": 2, "factor": 0.5, "min_lr": 0.02})
    observed = []
    for loss in [1.0, 0.9, 0.95, 0.9, 0.89999, None, 0.8, 0.85, 0.85, 0.9, 0.9]:
        schedule.epoch_end(loss)
        rates(schedule, 3)  # steps do not change the rate
        observed.append(schedule.learning_rate)
    # 0.89999 does not beat 0.9 by min_delta=1e-4; None (no validation) is ignored.
    expected = [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.02]
    assert observed == pytest.approx(expected)


SCHEDULES = [
    (None, None),
    ("power", {"s": 5}),
    ("exponential", {"s": 9}),
    ("piecewise", {"boundaries": [1, 3], "values": [0.1, 0.03, 0.01]}),
    ("performance", {"patience": 1}),
    ("1cycle", None),
    ("cosine", None),
]


def drive(schedule, n_epochs, first_epoch=0):
    """Run epochs of 10 steps, reporting a loss that stalls from epoch 2 on."""
    out = []
    for epoch in range(first_epoch, first_epoch + n_epochs):
        out += rates(schedule, 10)
        schedule.epoch_end(1.0 / min(epoch + 1, 2))
    return out


@pytest.mark.parametrize("optimizer_state_first", [False, True])
@pytest.mark.parametrize(("name", "params"), SCHEDULES)
def test_state_round_trip_continues_the_schedule(name, params, optimizer_state_first):
    straight = adapter(name, params)
    expected = drive(straight, 6)
    first = adapter(name, params)
    drive(first, 3)
    state = json.loads(json.dumps(first.state_dict()))  # plain, JSON-friendly values
    # A warm start: fresh optimizer and adapter, then the old states (either order).
    optimizer = sgd()
    if optimizer_state_first:
        optimizer.load_state_dict(first.optimizer.state_dict())
    second = adapter(name, params, optimizer=optimizer)
    if not optimizer_state_first:
        optimizer.load_state_dict(first.optimizer.state_dict())
    second.load_state_dict(state)
    assert second.step_count == 30
    assert drive(second, 3, first_epoch=3) == pytest.approx(expected[30:], rel=1e-12)
    assert optimizer.param_groups[0]["lr"] == straight.learning_rate


@pytest.mark.parametrize(("name", "params"), SCHEDULES)
def test_rebind_keeps_the_step_count_and_state(name, params):
    straight = adapter(name, params)
    expected = drive(straight, 6)
    schedule = adapter(name, params)
    drive(schedule, 3)
    new_optimizer = sgd()
    schedule.rebind(new_optimizer)
    assert schedule.step_count == 30
    assert new_optimizer.param_groups[0]["lr"] == pytest.approx(expected[30], rel=1e-12)
    assert drive(schedule, 3, first_epoch=3) == pytest.approx(expected[30:], rel=1e-12)


def test_param_groups_keep_their_ratio():
    first, second = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([{"params": [first]}, {"params": [second], "lr": 0.01}], lr=ETA0)
    schedule = adapter("exponential", {"s": 4}, optimizer=optimizer)
    rates(schedule, 4)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([ETA0 / 10, 0.001])


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("power", {"decay": 1}, r"Unknown parameter\(s\) 'decay'.*accepted: 'c', 's'"),
        ("cosine", {"total_steps": 5}, r"'total_steps'.*accepted: 'min_lr'"),
        ("piecewise", None, "needs lr_schedule_params 'boundaries'"),
        ("piecewise", {"boundaries": [3]}, "'values'"),
        ("piecewise", {"boundaries": [3, 2], "values": [1, 2, 3]}, "boundaries must be increasing"),
        ("piecewise", {"boundaries": [3], "values": [1, 2, 3]}, "values must be 2 rates"),
        ("power", {"s": 0}, "s must be > 0"),
        ("performance", {"factor": 1.5}, r"factor must be in \(0, 1\)"),
        ("performance", {"patience": 0}, "patience must be an int >= 1"),
        ("1cycle", {"final_fraction": 1.0}, r"final_fraction must be in \[0, 1\)"),
        ("1cycle", {"min_momentum": 0.99}, "min_momentum, max_momentum"),
        ("cosine", {"min_lr": -1}, "min_lr must be >= 0"),
        # Values of the wrong kind: named with the setting and the key, not a TypeError.
        ("1cycle", {"max_lr": "x"}, r"lr_schedule_params\['max_lr'\] of lr_schedule '1cycle'"),
        ("power", {"c": [1.0]}, r"lr_schedule_params\['c'\].*finite real number"),
        ("exponential", {"s": "1000"}, r"lr_schedule_params\['s'\]"),
        ("performance", {"patience": 2.5}, r"lr_schedule_params\['patience'\].*an integer"),
        ("piecewise", {"boundaries": "x", "values": [1, 2]}, r"\['boundaries'\].*a list"),
        ("power", {"decay": 1}, r"'decay' for lr_schedule 'power' \(lr_schedule_params\)"),
    ],
)
def test_bad_parameters_raise_clear_errors(name, params, message):
    with pytest.raises(ValueError, match=message):
        adapter(name, params)


def test_unknown_name_and_bad_step_counts():
    with pytest.raises(UnknownComponentError, match="Did you mean 'cosine'"):
        adapter("cosin")
    with pytest.raises(ValueError, match="steps_per_epoch must be an int >= 1"):
        adapter("power", steps_per_epoch=0)
    with pytest.raises(ValueError, match="total_steps must be an int >= 1"):
        adapter(None, total_steps=2.5)
