import math

import numpy as np
import pytest
import torch

from skdnn.components.numeric_embeddings import (
    NUMERIC_EMBEDDINGS,
    PeriodicEmbedding,
    PiecewiseLinearEmbedding,
)


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


def test_periodic_matches_its_formula_per_feature():
    embedding = PeriodicEmbedding(3, n_frequencies=4, embedding_dim=5, sigma=1.0,
                                  generator=generator())
    x = torch.randn(6, 3, generator=generator(1))
    out = embedding(x)
    assert out.shape == (6, 15) and embedding.out_features == 15
    for j in range(3):
        angles = 2 * math.pi * embedding.frequencies[j] * x[:, j : j + 1]
        periodic = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)
        linear = periodic @ embedding.linear.weight[j] + embedding.linear.bias[j]
        torch.testing.assert_close(out[:, 5 * j : 5 * (j + 1)], torch.relu(linear))


def test_periodic_lite_shares_one_linear_and_activation_can_be_off():
    full = PeriodicEmbedding(10, n_frequencies=8, embedding_dim=4)
    lite = PeriodicEmbedding(10, n_frequencies=8, embedding_dim=4, lite=True, activation=False)
    n_params = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n_params(full) == 10 * 8 + 10 * (16 * 4 + 4)
    assert n_params(lite) == 10 * 8 + 16 * 4 + 4
    out = lite(torch.randn(200, 10))
    assert (out < 0).any()  # no ReLU
    x = torch.randn(3, 10)
    manual = lite.linear(lite.periodic(x)).flatten(1)
    torch.testing.assert_close(lite(x), manual)


def test_periodic_sigma_sets_initial_frequency_scale_and_frequencies_train():
    small = PeriodicEmbedding(50, n_frequencies=40, sigma=0.01, generator=generator())
    large = PeriodicEmbedding(50, n_frequencies=40, sigma=1.0, generator=generator())
    assert small.frequencies.std().item() == pytest.approx(0.01, rel=0.1)
    assert large.frequencies.std().item() == pytest.approx(1.0, rel=0.1)
    large(torch.randn(8, 50)).sum().backward()
    assert large.frequencies.grad.abs().sum() > 0


def test_piecewise_linear_codes_by_hand():
    # Quantiles of [0, 1, 3] with 2 bins are the edges 0, 1, 3.
    embedding = PiecewiseLinearEmbedding(1, n_bins=2).fit(np.array([[0.0], [1.0], [3.0]]))
    x = torch.tensor([[-1.0], [0.5], [1.0], [2.0], [5.0]])
    expected = torch.tensor([[-1.0, 0.0], [0.5, 0.0], [1.0, 0.0], [1.0, 0.5], [1.0, 2.0]])
    torch.testing.assert_close(embedding(x), expected)


def test_piecewise_linear_bins_hold_equal_shares_and_pad_few_distinct_values():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.exponential(size=4000), rng.integers(0, 2, size=4000)])
    embedding = PiecewiseLinearEmbedding(2, n_bins=8).fit(X)
    codes = embedding.encode(torch.tensor(X, dtype=torch.float32))
    # feature 0: a value lies in the bin where its code is strictly between 0 and 1
    inside = ((codes[:, 0] > 0) & (codes[:, 0] < 1)).float().mean(dim=0)
    assert torch.allclose(inside, torch.full((8,), 1 / 8), atol=0.01)
    # feature 1 has two distinct values: one bin in use, the other 7 codes are 0
    assert embedding.used[1].tolist() == [1.0] + [0.0] * 7
    assert torch.all(codes[:, 1, 1:] == 0)
    torch.testing.assert_close(codes[:, 1, 0], torch.tensor(X[:, 1], dtype=torch.float32))


def test_piecewise_linear_with_linear_layer_and_relu():
    X = np.random.default_rng(1).normal(size=(300, 3))
    embedding = PiecewiseLinearEmbedding(3, n_bins=6, embedding_dim=4, activation=True,
                                         generator=generator()).fit(X)
    x = torch.tensor(X[:5], dtype=torch.float32)
    out = embedding(x)
    assert out.shape == (5, 12) and embedding.out_features == 12
    codes = embedding.encode(x)
    j = 1
    manual = torch.relu(codes[:, j] @ embedding.linear.weight[j] + embedding.linear.bias[j])
    torch.testing.assert_close(out[:, 4 * j : 4 * (j + 1)], manual)


def test_registry_and_errors():
    X = np.random.default_rng(2).normal(size=(40, 3))
    periodic = NUMERIC_EMBEDDINGS.build("periodic", {"embedding_dim": 8}, X=X)
    assert periodic.out_features == 24
    piecewise = NUMERIC_EMBEDDINGS.build("piecewise_linear", {"n_bins": 4}, X=X)
    assert bool(piecewise.fitted) and piecewise.out_features == 12
    with pytest.raises(ValueError, match="Unknown parameter"):
        NUMERIC_EMBEDDINGS.build("periodic", {"bins": 4}, X=X)
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        periodic(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="fitted"):
        PiecewiseLinearEmbedding(2)(torch.zeros(1, 2))
    with pytest.raises(ValueError, match="embedding_dim"):
        PiecewiseLinearEmbedding(2, activation=True)
    with pytest.raises(ValueError, match="sigma"):
        PeriodicEmbedding(2, sigma=0.0)
