"""``activation_health``: dead ReLU units, and no pass when there is nothing to measure."""

import torch

from skdnn.network import MLPSpec, build_mlp
from skdnn.training.history import activation_health


def _network(activation):
    spec = MLPSpec(n_features=4, hidden_layer_sizes=(8, 8), n_outputs=2, activation=activation)
    return build_mlp(spec, generator=torch.Generator().manual_seed(0))


def test_dead_relu_units_are_counted():
    network = _network("relu")
    with torch.no_grad():
        network.hidden1.linear.bias[:3] = -100.0  # three units never fire
    figures = activation_health(network, torch.randn(64, 4))
    assert len(figures) == 2 and figures[0] == 3 / 8


def test_activations_without_a_health_figure_skip_the_pass():
    network = _network("elu")
    calls = []
    network.hidden1.linear.register_forward_hook(lambda *_: calls.append(1))
    assert activation_health(network, torch.randn(64, 4)) == [0.0, 0.0]
    assert calls == []  # nothing measured, nothing run
    relu = _network("relu")
    relu.hidden1.linear.register_forward_hook(lambda *_: calls.append(1))
    activation_health(relu, torch.randn(64, 4))
    assert calls == [1]
