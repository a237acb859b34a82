"""Values of the wrong kind in a component's params: a ValueError naming the setting and key."""

import numpy as np
import pytest

from skdnn import DNNClassifier
from skdnn.components._param_types import check_value_types


def _factory(rate: float = 0.1, steps: int = 3, on: bool = False, name: str = "a",
             cap: float | None = None, pair=(0.9, 0.99), anything=None):
    return None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"rate": "x"}, r"opts\['rate'\] of thing 'f' must be a finite real number; got 'x'"),
        ({"rate": float("inf")}, "finite real number"),
        ({"rate": True}, "finite real number"),
        ({"steps": 2.5}, "an integer"),
        ({"on": 1}, "True or False"),
        ({"name": 1}, "a string"),
        ({"cap": "x"}, r"\['cap'\].*finite real number"),
        ({"pair": (0.9,)}, "a tuple of finite real numbers"),
    ],
)
def test_wrong_kinds_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        check_value_types(_factory, params, "opts", "thing 'f'")


def test_right_kinds_pass():
    good = {"rate": np.float32(0.5), "steps": np.int64(2), "on": np.True_, "name": "b",
            "cap": None, "pair": [0.8, 0.9], "anything": object()}
    check_value_types(_factory, good, "opts", "thing 'f'")


@pytest.mark.parametrize(
    "params",
    [
        {"activation": "leaky_relu", "activation_params": {"alpha": "x"}},
        {"kernel_initializer": "orthogonal", "initializer_params": {"gain": "x"}},
        {"lr_schedule": "1cycle", "lr_schedule_params": {"max_lr": "x"}},
    ],
)
def test_estimators_name_the_bad_value(params):
    X, y = np.random.RandomState(0).rand(40, 3), np.arange(40) % 2
    setting = next(key for key in params if key.endswith("_params"))
    with pytest.raises(ValueError, match=rf"{setting}\[.*got 'x'"):
        DNNClassifier(hidden_layer_sizes=(4,), max_epochs=1, **params).fit(X, y)
