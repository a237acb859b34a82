"""Command line: ``python -m skdnn demo``."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skdnn.estimators import DNNClassifier, TransferDNNClassifier


def _report(title: str, classifier: DNNClassifier, seconds: float, accuracy: float) -> dict:
    print(
        f"{title:<42} test accuracy {accuracy:.4f}   {classifier.n_epochs_:>3} epochs "
        f"(best {classifier.best_epoch_:>3})   fit {seconds:5.1f} s"
    )
    return {"accuracy": accuracy, "epochs": classifier.n_epochs_, "fit_seconds": seconds}


def _fit(classifier: DNNClassifier, X, y) -> float:
    started = time.perf_counter()
    classifier.fit(X, y)
    return time.perf_counter() - started


def demo(*, quick: bool = False, verbose: int = 1) -> dict[str, dict[str, float]]:
    """Fit on scikit-learn's digits, then transfer to unseen classes, and report.

    1. A 5x100 ELU network with batch norm learns digits 0-4 (all their rows).
    2. Digits 5-9 with only 10 labelled images per class: a network trained from
       scratch against a ``TransferDNNClassifier`` reusing the first network's two
       lowest hidden layers, frozen and cached.

    Parameters
    ----------
    quick : bool, default=False
        Train for a few epochs only (for smoke tests).
    verbose : int, default=1
        Verbosity passed to the estimators (1: progress bar).

    Returns
    -------
    dict
        For each run, ``accuracy``, ``epochs`` and ``fit_seconds``.
    """
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=42
    )
    common = dict(max_epochs=3 if quick else 100, device="cpu", random_state=42, verbose=verbose)
    results = {}

    low, low_test = y_train < 5, y_test < 5
    source = DNNClassifier((100,) * 5, activation="elu", normalization="batch", **common)
    seconds = _fit(source, X_train[low], y_train[low])
    accuracy = source.score(X_test[low_test], y_test[low_test])
    results["digits 0-4"] = _report("digits 0-4, 5x100 ELU + batch norm", source, seconds, accuracy)

    rng = np.random.RandomState(0)
    few = np.concatenate(
        [rng.choice(np.flatnonzero(y_train == digit), 10, replace=False) for digit in range(5, 10)]
    )
    X_few, y_few, X_new, y_new = X_train[few], y_train[few], X_test[~low_test], y_test[~low_test]
    scratch = DNNClassifier((100,) * 5, activation="elu", normalization="batch", **common)
    seconds = _fit(scratch, X_few, y_few)
    results["scratch"] = _report(
        "digits 5-9 from 50 images, from scratch", scratch, seconds, scratch.score(X_new, y_new)
    )
    transfer = TransferDNNClassifier(
        source, n_reused_layers=2, cache_frozen=True, learning_rate=0.01, **common
    )
    seconds = _fit(transfer, X_few, y_few)
    results["transfer"] = _report(
        "digits 5-9 from 50 images, 2 frozen layers", transfer, seconds,
        transfer.score(X_new, y_new),
    )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m skdnn``.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments (defaults to ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status.
    """
    parser = argparse.ArgumentParser(prog="skdnn", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="fit on scikit-learn's digits and report")
    demo_parser.add_argument("--quick", action="store_true", help="a few epochs only")
    arguments = parser.parse_args(argv)
    if arguments.command == "demo":
        demo(quick=arguments.quick)
    return 0
