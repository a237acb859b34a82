"""Helpers shared by the example scripts (argument parsing, data, tables, figures).

Not an example itself: the scripts import it as ``_common`` (they run from
this folder, which Python puts first on ``sys.path``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from skdnn.datasets import load_fashion_mnist

#: Fashion-MNIST class names, index = label.
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


def parse_args(description: str, argv=None, **extra) -> argparse.Namespace:
    """``--quick``, ``--out`` and ``--seed``, plus ``extra`` ``name=(type, default, help)``."""
    parser = argparse.ArgumentParser(description=description.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny subsample and few epochs (a smoke run of seconds)")
    parser.add_argument("--out", default=None,
                        help="folder for the figures (default: a new temporary folder)")
    parser.add_argument("--seed", type=int, default=42, help="random seed")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: 1 with --quick)")
    for name, (kind, default, text) in extra.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=default, help=text)
    args = parser.parse_args(argv)
    args.out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="skdnn_example_"))
    args.out.mkdir(parents=True, exist_ok=True)
    threads = args.threads or (1 if args.quick else None)
    if threads:
        # Small networks on small batches run fastest on one thread, and far
        # faster than on oversubscribed cores of a busy machine.
        torch.set_num_threads(threads)
    return args


_CACHE: dict = {}


def fashion_mnist():
    """The Fashion-MNIST Bunch (read once per process)."""
    if "data" not in _CACHE:
        _CACHE["data"] = load_fashion_mnist()
    return _CACHE["data"]


def subset(X, y, *, classes=None, n=None, per_class=None, seed=0):
    """Rows of the given classes; at most ``n`` rows, or exactly ``per_class`` per class."""
    rng = np.random.default_rng(seed)
    rows = np.arange(len(y)) if classes is None else np.flatnonzero(np.isin(y, classes))
    if per_class is not None:
        rows = np.concatenate([
            rng.choice(rows[y[rows] == label], per_class, replace=False)
            for label in np.unique(y[rows])
        ])
    elif n is not None and n < len(rows):
        rows = rng.choice(rows, n, replace=False)
    rows = rng.permutation(rows)
    return X[rows], y[rows]


def print_table(title: str, rows: list[dict], columns: list[str] | None = None) -> None:
    """Print ``rows`` (dicts) as an aligned text table."""
    columns = columns or list(rows[0])

    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        return "-" if value is None else str(value)

    cells = [[cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print(f"\n{title}")
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def save(fig, out: Path, name: str) -> str:
    """Save and close ``fig`` as ``out/name``; return the path."""
    path = Path(out) / name
    fig.savefig(path, dpi=90)
    plt.close(fig)
    print(f"saved {path}")
    return str(path)


def timed_fit(estimator, *args, **kwargs):
    """Fit and return ``(estimator, seconds)``."""
    start = time.perf_counter()
    estimator.fit(*args, **kwargs)
    return estimator, time.perf_counter() - start


def best_val_accuracy(estimator) -> float:
    """Best validation accuracy recorded in ``history_``."""
    values = [r["val_accuracy"] for r in estimator.history_ if r.get("val_accuracy") is not None]
    return float(max(values)) if values else float("nan")
