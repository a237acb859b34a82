"""Cost of k batched ensemble members against one network: per step, and per fit.

    python benchmarks/tabular_ensemble.py [--members 8] [--batch-size 32] [--rounds 5]
    python benchmarks/tabular_ensemble.py --fit [--data breast_cancer] [--epochs 10]
    python benchmarks/tabular_ensemble.py --accuracy [--seeds 0 1 2]

Layer level (default): times forward + backward + Adam (autograd) on the
default skdnn body (5 hidden layers of 100 ELUs) for one plain network, k
members as one BatchEnsemble network (shared weights, rank-1 adapters), and k
members with independent weights in one batched product.

Fit level (``--fit``): wall time of ``DNNClassifier(n_ensemble=k).fit`` against
``n_ensemble=1`` on a real data set (scikit-learn's breast cancer or digits,
standardized), same data, ``max_epochs`` and seed, ``early_stopping=False``,
one torch thread, for each ``ensemble_type``; plus the share of each fit that
goes to the per-epoch activation-health probe (``PROBE_ROWS`` training rows
through the network in evaluation mode, once per epoch), timed separately on
the fitted network, and the machine's load average over the run.

Either way the systems are interleaved round by round, and the reported ratio
is the median over rounds of (time) / (time of the single network).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from skdnn.components.ensemble import BatchEnsembleLinear, MemberLinear
from skdnn.components.member_ops import expand_members

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


def fit_seconds(X, y, **params: object) -> float:
    """Wall time of one ``DNNClassifier(**params).fit(X, y)``."""
    from skdnn import DNNClassifier

    start = time.perf_counter()
    DNNClassifier(early_stopping=False, random_state=0, **params).fit(X, y)
    return time.perf_counter() - start


def probe_seconds(X, y, epochs: int, **params: object) -> float:
    """Seconds the activation-health probe takes over ``epochs`` epochs of a fitted network."""
    from skdnn import DNNClassifier
    from skdnn.training.history import PROBE_ROWS, activation_health

    model = DNNClassifier(early_stopping=False, random_state=0, **params).fit(X, y).model_
    probe = torch.from_numpy(X[:PROBE_ROWS])
    activation_health(model, probe)  # warm-up
    times = []
    for _ in range(5):
        start = time.perf_counter()
        activation_health(model, probe)
        times.append(time.perf_counter() - start)
    return epochs * statistics.median(times)


def fit_ratios(args: argparse.Namespace) -> dict[str, object]:
    """Median fit-time ratio of ``n_ensemble=k`` to one network (see the module docstring)."""
    from sklearn.datasets import load_breast_cancer, load_digits
    from sklearn.preprocessing import StandardScaler

    loader = {"breast_cancer": load_breast_cancer, "digits": load_digits}[args.data]
    X, y = loader(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype("float32")
    common = {"max_epochs": args.epochs, "batch_size": args.batch_size}
    systems = {
        "single": {"n_ensemble": 1},
        **{kind: {"n_ensemble": args.members, "ensemble_type": kind}
           for kind in ("batch", "independent")},
    }
    for params in systems.values():  # warm-up
        fit_seconds(X[:200], y[:200], **{**common, **params, "max_epochs": 1})
    seconds: dict[str, list[float]] = {name: [] for name in systems}
    for _ in range(args.rounds):
        for name, params in systems.items():
            seconds[name].append(fit_seconds(X, y, **common, **params))
    ratios = {
        name: [t / s for t, s in zip(times, seconds["single"], strict=True)]
        for name, times in seconds.items()
    }
    probes = {
        name: probe_seconds(X, y, args.epochs, **{**common, **params, "max_epochs": 1})
        for name, params in systems.items()
    }
    return {
        "data": args.data, "rows": len(X), "members": args.members,
        "batch_size": args.batch_size, "max_epochs": args.epochs,
        "torch_threads": torch.get_num_threads(),
        "median_fit_seconds": {n: statistics.median(t) for n, t in seconds.items()},
        "median_ratio_to_single": {n: statistics.median(r) for n, r in ratios.items()},
        "range_ratio_to_single": {n: [min(r), max(r)] for n, r in ratios.items()},
        "health_probe_seconds_per_fit": probes,
        "health_probe_share_of_fit": {
            n: probes[n] / statistics.median(t) for n, t in seconds.items()
        },
        "load_average_1min": os.getloadavg()[0],
    }


def accuracies(args: argparse.Namespace) -> dict[str, object]:
    """Test accuracy and log-loss of ``n_ensemble=k`` and 1, defaults otherwise, per data set.

    Each data set (scikit-learn's bundled breast cancer, wine and digits,
    standardized) is split 75/25, stratified, once per seed.
    """
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine
    from sklearn.metrics import accuracy_score, log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from skdnn import DNNClassifier

    loaders = {"breast_cancer": load_breast_cancer, "wine": load_wine, "digits": load_digits}
    rows: dict[str, dict[str, list[float]]] = {}
    for name, loader in loaders.items():
        X, y = loader(return_X_y=True)
        for seed in args.seeds:
            X_train, X_test, y_train, y_test = train_test_split(
                X, y, test_size=0.25, stratify=y, random_state=seed
            )
            scaler = StandardScaler().fit(X_train)
            for k in (1, args.members):
                model = DNNClassifier(n_ensemble=k, random_state=seed).fit(
                    scaler.transform(X_train), y_train
                )
                proba = model.predict_proba(scaler.transform(X_test))
                figures = rows.setdefault(f"{name} k={k}", {"accuracy": [], "log_loss": []})
                figures["accuracy"].append(accuracy_score(y_test, proba.argmax(axis=1)))
                figures["log_loss"].append(log_loss(y_test, proba, labels=model.classes_))
    return {
        "members": args.members, "seeds": list(args.seeds),
        "mean": {row: {m: statistics.mean(v) for m, v in f.items()} for row, f in rows.items()},
    }


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fit", action="store_true", help="time whole fits of the estimator")
    parser.add_argument("--data", choices=("breast_cancer", "digits"), default="breast_cancer")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--accuracy", action="store_true", help="test accuracy and log-loss, k vs 1 member"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.fit or args.accuracy:
        result = fit_ratios(args) if args.fit else accuracies(args)
        print(json.dumps(result, indent=1))
        if args.out:
            args.out.write_text(json.dumps(result, indent=1))
        return result
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
