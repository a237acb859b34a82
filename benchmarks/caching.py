"""Frozen-layer caching: fit time of a transfer classifier with and without the cache.

The source network is 784-300-100-50-50-50 (trained briefly on Fashion-MNIST, or
on random data when the dataset is missing); the new task has 200 training rows
and all five hidden layers frozen. Both variants are fitted in the same process,
alternating which goes first, and the paired ratio (median over rounds) is
printed and optionally written as JSON.

    python benchmarks/caching.py [--rounds 7] [--epochs 100] [--rows 200] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from skdnn import DNNClassifier, TransferDNNClassifier

TRUNK = (300, 100, 50, 50, 50)


def _data(
    rng: np.random.RandomState, rows: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    try:
        from skdnn.datasets import load_fashion_mnist

        data = load_fashion_mnist()
        source = data.y_train < 5
        new = np.flatnonzero(data.y_train >= 5)[:rows]
        return data.X_train[source][:5000], data.y_train[source][:5000], \
            data.X_train[new], data.y_train[new]
    except FileNotFoundError:
        X = rng.rand(5000 + rows, 784).astype(np.float32)
        y = rng.randint(0, 5, size=5000 + rows)
        return X[:5000], y[:5000], X[5000:], y[5000:] + 5


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--rows", type=int, default=200, help="training rows of the new task")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    rng = np.random.RandomState(0)
    X_source, y_source, X_new, y_new = _data(rng, args.rows)
    source = DNNClassifier(TRUNK, activation="relu", max_epochs=3, early_stopping=False,
                           random_state=0).fit(X_source, y_source)
    params = dict(max_epochs=args.epochs, early_stopping=False, random_state=0)
    times: dict[bool, list[float]] = {True: [], False: []}
    models = {}
    for round_index in range(args.rounds):
        for cache in ((True, False) if round_index % 2 == 0 else (False, True)):
            started = time.perf_counter()
            models[cache] = TransferDNNClassifier(source, cache_frozen=cache, **params).fit(
                X_new, y_new
            )
            times[cache].append(time.perf_counter() - started)
    ratios = [u / c for u, c in zip(times[False], times[True], strict=True)]
    difference = float(np.abs(models[True].predict_proba(X_new)
                              - models[False].predict_proba(X_new)).max())
    result = {
        "trunk": list(TRUNK),
        "rows": len(X_new),
        "epochs": args.epochs,
        "uncached_s": statistics.median(times[False]),
        "cached_s": statistics.median(times[True]),
        "speedup_median": statistics.median(ratios),
        "max_probability_difference": difference,
    }
    print(f"784-{'-'.join(map(str, TRUNK))} frozen trunk, {len(X_new)} rows, "
          f"{args.epochs} epochs, {args.rounds} rounds")
    print(f"  uncached {result['uncached_s']:.3f} s   cached {result['cached_s']:.3f} s   "
          f"speedup {result['speedup_median']:.2f}x   max |dp| {difference:.1e}")
    if args.out:
        with open(args.out, "w") as stream:
            json.dump(result, stream, indent=2)
    return result


if __name__ == "__main__":
    main()
