"""Command line of skdnn (``python -m skdnn``).

``python -m skdnn demo`` fits a few networks on scikit-learn's bundled digits
and reports their test accuracy and fit time. ``--help`` and ``--version``
answer at once: torch and the estimators are imported only when a command runs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from skdnn._version import __version__

#: What the demo runs, announced before it starts (and shown by ``demo --help``).
DEMO_PLAN = """\
The demo trains three 5x100 ELU networks with batch norm on scikit-learn's digits:
  1. digits 0-4 (all their training images);
  2. digits 5-9 from only 10 images per class, from scratch;
  3. the same 50 images by transfer: the first network's two lowest hidden
     layers reused, frozen and cached.
It prints each run's test accuracy, epochs and fit time (about 20 s of CPU time)."""

#: Epoch budgets of the demo: (first network, the two small runs).
_DEMO_EPOCHS = {False: (20, 40), True: (3, 3)}


def _report(title: str, classifier: Any, seconds: float, accuracy: float) -> dict[str, float]:
    print(
        f"{title:<42} test accuracy {accuracy:.4f}   {classifier.n_epochs_:>3} epochs "
        f"(best {classifier.best_epoch_:>3})   fit {seconds:5.1f} s",
        flush=True,
    )
    return {"accuracy": accuracy, "epochs": classifier.n_epochs_, "fit_seconds": seconds}


def _fit(classifier: Any, X: Any, y: Any) -> float:
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
        Train for three epochs only (for smoke tests).
    verbose : int, default=1
        Verbosity passed to the estimators (1: progress bar). The command line
        passes 0, printing only the result lines, unless given ``--progress``.

    Returns
    -------
    dict
        For each run, ``accuracy``, ``epochs`` and ``fit_seconds``.
    """
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from skdnn.estimators import DNNClassifier, TransferDNNClassifier

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=42
    )
    source_epochs, small_epochs = _DEMO_EPOCHS[quick]
    common = dict(device="cpu", random_state=42, verbose=verbose)
    architecture = dict(hidden_layer_sizes=(100,) * 5, activation="elu", normalization="batch")
    results = {}

    low, low_test = y_train < 5, y_test < 5
    source = DNNClassifier(
        **architecture, max_epochs=source_epochs, batch_size=128, patience=5, **common
    )
    seconds = _fit(source, X_train[low], y_train[low])
    accuracy = source.score(X_test[low_test], y_test[low_test])
    results["digits 0-4"] = _report("digits 0-4, 5x100 ELU + batch norm", source, seconds, accuracy)

    rng = np.random.RandomState(0)
    few = np.concatenate(
        [rng.choice(np.flatnonzero(y_train == digit), 10, replace=False) for digit in range(5, 10)]
    )
    X_few, y_few, X_new, y_new = X_train[few], y_train[few], X_test[~low_test], y_test[~low_test]
    scratch = DNNClassifier(**architecture, max_epochs=small_epochs, **common)
    seconds = _fit(scratch, X_few, y_few)
    results["scratch"] = _report(
        "digits 5-9 from 50 images, from scratch", scratch, seconds, scratch.score(X_new, y_new)
    )
    transfer = TransferDNNClassifier(
        source, n_reused_layers=2, cache_frozen=True, learning_rate=0.01,
        max_epochs=small_epochs, **common,
    )
    seconds = _fit(transfer, X_few, y_few)
    results["transfer"] = _report(
        "digits 5-9 from 50 images, 2 frozen layers", transfer, seconds,
        transfer.score(X_new, y_new),
    )
    return results


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m skdnn`` (imports nothing heavy).

    Returns
    -------
    argparse.ArgumentParser
        The parser, with one sub-command per task.
    """
    parser = argparse.ArgumentParser(
        prog="python -m skdnn",
        description="skdnn: deep feed-forward networks as scikit-learn estimators on PyTorch.",
    )
    parser.add_argument("--version", action="version", version=f"skdnn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo_parser = commands.add_parser(
        "demo", help="train on scikit-learn's digits and report accuracy and time",
        description=DEMO_PLAN, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo_parser.add_argument("--quick", action="store_true", help="three epochs only (a smoke run)")
    demo_parser.add_argument(
        "--progress", action="store_true", help="show each fit's progress (verbose=1)"
    )
    return parser


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
    arguments = build_parser().parse_args(argv)
    if arguments.command == "demo":
        print(DEMO_PLAN + ("\n(--quick: three epochs per run.)" if arguments.quick else ""))
        print(flush=True)
        demo(quick=arguments.quick, verbose=int(arguments.progress))
    return 0
