"""Helpers shared by the example scripts (argument parsing, data, tables, figures).

Not an example itself: the scripts import it as ``_common`` (they run from
this folder, which Python puts first on ``sys.path``).

Data: every example runs on scikit-learn's bundled digits (8x8 images, no
download) and switches to Fashion-MNIST (28x28) when it is installed (Debian's
``dataset-fashion-mnist``, or ``SKDNN_FASHION_MNIST_DIR``); ``--data`` forces
either one.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch

from skdnn.datasets import load_fashion_mnist

#: Set by the documentation build: figures stay open for sphinx-gallery to collect.
KEEP_FIGURES_ENV_VAR = "SKDNN_EXAMPLES_KEEP_FIGURES"
DATA_CHOICES = ("auto", "digits", "fashion-mnist")


def parse_args(description: str, argv=None, **extra) -> argparse.Namespace:
    """``--quick``, ``--out`` and ``--seed``, plus ``extra`` ``name=(type, default, help)``."""
    # sphinx-gallery runs the scripts without their docstring (shown as text instead)
    first_line = next(iter((description or "").strip().splitlines()), None)
    parser = argparse.ArgumentParser(description=first_line)
    parser.add_argument("--quick", action="store_true",
                        help="tiny subsample and few epochs (a smoke run of seconds)")
    parser.add_argument("--out", default=None,
                        help="folder for the figures (default: a new temporary folder)")
    parser.add_argument("--seed", type=int, default=42, help="random seed")
    parser.add_argument("--data", choices=DATA_CHOICES, default="auto",
                        help="data set (default: Fashion-MNIST when installed, else digits)")
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


def load_data(choice: str = "auto") -> Bunch:
    """The example data: Fashion-MNIST when installed (or asked for), else digits.

    Returns a Bunch with ``X_train``, ``y_train``, ``X_test``, ``y_test``
    (float32 pixels in [0, 1]), ``target_names``, ``image_shape``, ``name`` and
    ``small`` (True for the 1,797 digits, so scripts size their subsets). The
    choice is printed, with the reason when Fashion-MNIST is not used.
    """
    if choice not in _CACHE:
        _CACHE[choice] = _load(choice)
    data = _CACHE[choice]
    print(f"data: {data.name}, {len(data.y_train)} training and {len(data.y_test)} test "
          f"images of {data.image_shape[0]}x{data.image_shape[1]} pixels{data.note}",
          flush=True)
    return data


def _load(choice: str) -> Bunch:
    if choice not in DATA_CHOICES:
        raise ValueError(f"data must be one of {DATA_CHOICES}, got {choice!r}")
    note = ""
    if choice != "digits":
        try:
            fashion = load_fashion_mnist()
        except FileNotFoundError as error:
            if choice == "fashion-mnist":
                raise
            where = str(error).split(". ")[0]
            note = f"; {where}: see skdnn.datasets.load_fashion_mnist to use it"
        else:
            return Bunch(X_train=fashion.X_train, y_train=fashion.y_train,
                         X_test=fashion.X_test, y_test=fashion.y_test,
                         target_names=tuple(fashion.target_names),
                         image_shape=fashion.image_shape, name="Fashion-MNIST",
                         small=False, note="")
    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64),
        test_size=0.25, stratify=digits.target, random_state=0,
    )
    return Bunch(X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test,
                 target_names=tuple(str(name) for name in digits.target_names),
                 image_shape=digits.images.shape[1:], name="scikit-learn's digits",
                 small=True, note=note)


def disjoint_per_class(X, y, sizes, *, classes=None, seed=0):
    """Disjoint subsets with ``sizes[i]`` rows of each class, e.g. a train and a validation set.

    Raises ``ValueError`` when a class has fewer rows than ``sum(sizes)``.
    """
    rng = np.random.default_rng(seed)
    labels = np.unique(y) if classes is None else np.asarray(classes)
    picked = [[] for _ in sizes]
    for label in labels:
        rows = rng.permutation(np.flatnonzero(y == label))
        if len(rows) < sum(sizes):
            raise ValueError(f"class {label} has {len(rows)} rows, fewer than the "
                             f"{sum(sizes)} requested ({' + '.join(map(str, sizes))})")
        stops = np.cumsum(sizes)
        for part, (start, stop) in enumerate(zip(stops - sizes, stops, strict=True)):
            picked[part].append(rows[start:stop])
    parts = [rng.permutation(np.concatenate(rows)) for rows in picked]
    return [(X[rows], y[rows]) for rows in parts]


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
            return f"{value:.3g}" if 0 < abs(value) < 1e-3 else f"{value:.4f}"
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
    if os.environ.get(KEEP_FIGURES_ENV_VAR):
        return str(path)  # left open, for sphinx-gallery to show
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
