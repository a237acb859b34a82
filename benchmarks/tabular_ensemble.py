"""Cost of k batched ensemble members against one network, per training step.

    python benchmarks/tabular_ensemble.py [--members 8] [--batch-size 32] [--rounds 5]

Times forward + backward + Adam on the default skdnn body (5 hidden layers of
100 ELUs) for: one plain network, k members as one BatchEnsemble network
(shared weights, rank-1 adapters), and k members with independent weights in
one batched product. Steps of the three are interleaved round by round; the
reported ratio is the median over rounds of (time per step) / (plain time per
step). This is a layer-level measurement, before the estimators use the layers.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from skdnn.components.ensemble import BatchEnsembleLinear, MemberLinear, expand_members

HIDDEN = (100, 100, 100, 100, 100)


def plain_network(n_features: int, n_classes: int) -> nn.Module:
    """The single network: Linear + ELU blocks, then the output layer."""
    layers: list[nn.Module] = []
    width = n_features
    for size in HIDDEN:
        layers += [nn.Linear(width, size), nn.ELU()]
        width = size
    return nn.Sequential(*layers, nn.Linear(width, n_classes))


class MemberNetwork(nn.Module):
    """k members as one network of ensemble layers; input (n, d), output (n, k, classes)."""

    def __init__(self, layer: type[nn.Module], n_features: int, n_classes: int, k: int) -> None:
        super().__init__()
        self.k = k
        widths = [n_features, *HIDDEN, n_classes]
        self.linears = nn.ModuleList(
            layer(a, b, k) for a, b in itertools.pairwise(widths)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = expand_members(x, self.k)
        for i, linear in enumerate(self.linears):
            h = linear(h)
            if i < len(self.linears) - 1:
                h = nn.functional.elu(h)
        return h


def step_seconds(model: nn.Module, X: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """Seconds per training step (cross-entropy of every member, Adam)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for _ in range(steps):
        logits = model(X)
        if logits.dim() == 3:  # every member is trained on the batch
            loss = nn.functional.cross_entropy(
                logits.flatten(0, 1), y.repeat_interleave(logits.shape[1])
            )
        else:
            loss = nn.functional.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    X = torch.randn(args.batch_size, args.features)
    y = torch.randint(0, 2, (args.batch_size,))
    models = {
        "plain": plain_network(args.features, 2),
        "batch_ensemble": MemberNetwork(BatchEnsembleLinear, args.features, 2, args.members),
        "independent": MemberNetwork(MemberLinear, args.features, 2, args.members),
    }
    for model in models.values():  # warm-up
        step_seconds(model, X, y, 10)
    ratios: dict[str, list[float]] = {name: [] for name in models}
    seconds: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            seconds[name].append(step_seconds(model, X, y, args.steps))
        for name in models:
            ratios[name].append(seconds[name][-1] / seconds["plain"][-1])
    result = {
        "members": args.members, "batch_size": args.batch_size,
        "torch_threads": torch.get_num_threads(),
        "median_ratio_to_plain": {n: statistics.median(r) for n, r in ratios.items()},
        "range_ratio_to_plain": {n: [min(r), max(r)] for n, r in ratios.items()},
        "plain_step_ms": 1e3 * statistics.median(seconds["plain"]),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
