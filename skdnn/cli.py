"""Command line: ``python -m skdnn demo``."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skdnn.estimators import DNNClassifier


def demo(*, quick: bool = False, verbose: int = 1) -> dict[str, float]:
    """Fit a DNNClassifier on scikit-learn's digits and report how it did.

    Parameters
    ----------
    quick : bool, default=False
        Train for a few epochs only (for smoke tests).
    verbose : int, default=1
        Verbosity passed to the estimator (1: progress bar).

    Returns
    -------
    dict
        ``accuracy``, ``epochs`` and ``fit_seconds``.
    """
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=42
    )
    classifier = DNNClassifier(
        hidden_layer_sizes=(100,) * 5,
        activation="elu",
        normalization="batch",
        max_epochs=3 if quick else 100,
        patience=10,
        device="cpu",
        random_state=42,
        verbose=verbose,
    )
    started = time.perf_counter()
    classifier.fit(X_train, y_train)
    seconds = time.perf_counter() - started
    accuracy = classifier.score(X_test, y_test)
    print(
        f"DNNClassifier on digits: test accuracy {accuracy:.4f}, "
        f"{classifier.n_epochs_} epochs (best {classifier.best_epoch_}), fit {seconds:.1f} s"
    )
    return {"accuracy": accuracy, "epochs": classifier.n_epochs_, "fit_seconds": seconds}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m skdnn``."""
    parser = argparse.ArgumentParser(prog="skdnn", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="fit on scikit-learn's digits and report")
    demo_parser.add_argument("--quick", action="store_true", help="a few epochs only")
    arguments = parser.parse_args(argv)
    if arguments.command == "demo":
        demo(quick=arguments.quick)
    return 0
