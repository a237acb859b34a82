"""Exercise 10: pretraining on an auxiliary task
=============================================

Learn "same class or not?" on pairs of images, then the real task from few labels.

Pairs of images labelled only "same class" or "different class" are cheap to
collect. A ``SiameseDNNClassifier`` learns that auxiliary task with one 5x100
He/ELU trunk shared by both images of a pair (``make_pairs`` builds the pairs
from the first half of the training set). A ``TransferDNNClassifier`` then
reuses the trunk for the real 10-class task trained on a few labelled images
per class from the other half, frozen or fine-tuned, and is compared with the
same network trained from scratch on those few labels.

Runs on scikit-learn's digits (20 labelled images per class), or on
Fashion-MNIST when installed (500 per class). The book reports 96.7% on
MNIST with 500 images per class after pretraining.

Run ``python examples/exercise_10_pretraining_pairs.py [--quick] [--out DIR]``.
"""

from __future__ import annotations

import sys

import _common
import matplotlib.pyplot as plt
import numpy as np

from skdnn import DNNClassifier, TransferDNNClassifier
from skdnn.estimators.pairs import SiameseDNNClassifier, make_pairs
from skdnn.plotting import compare_learning_curves


def main(argv=None) -> dict:
    args = _common.parse_args(__doc__, argv)
    quick = args.quick
    data = _common.load_data(args.data)
    half = len(data.y_train) // 2
    X_pool, y_pool = data.X_train[:half], data.y_train[:half]
    # Labelled rows (and validation rows, disjoint) from the other half only.
    sizes = (20, 20) if quick or data.small else (500, 100)
    (X_few, y_few), (X_val, y_val) = _common.disjoint_per_class(
        data.X_train[half:], data.y_train[half:], sizes, seed=args.seed,
    )
    X_test, y_test = _common.subset(data.X_test, data.y_test,
                                    n=1000 if quick else None, seed=args.seed)

    n_pairs = 3000 if quick else 20_000 if data.small else 200_000
    X_pairs, same = make_pairs(X_pool, y_pool, n_pairs, random_state=args.seed)
    X_pairs_test, same_test = make_pairs(X_test, y_test, 1000 if quick else 10_000,
                                         random_state=args.seed)
    siamese = SiameseDNNClassifier(
        hidden_layer_sizes=(100,) * 5, head_layer_sizes=(10,), kernel_initializer="he_normal",
        max_epochs=2 if quick else 100, patience=5, batch_size=64 if quick else 128,
        random_state=args.seed,
    )
    siamese, seconds = _common.timed_fit(siamese, X_pairs, same)
    pair_accuracy = float(siamese.score(X_pairs_test, same_test))
    print(f"auxiliary task: {n_pairs} pairs, {siamese.n_epochs_} epochs, {seconds:.1f} s, "
          f"same/different test accuracy {pair_accuracy:.4f}")

    settings = dict(max_epochs=4 if quick else 200, patience=20, batch_size=32,
                    random_state=args.seed)
    candidates = {
        "pretrained trunk, frozen": TransferDNNClassifier(siamese, **settings),
        "pretrained trunk, fine-tuned": TransferDNNClassifier(
            siamese, n_frozen_layers=0, **settings),
        "scratch": DNNClassifier((100,) * 5, kernel_initializer="he_normal", **settings),
    }
    rows, models = [], {}
    for name, clf in candidates.items():
        clf, seconds = _common.timed_fit(clf, X_few, y_few, validation_data=(X_val, y_val))
        models[name] = clf
        rows.append({"model": name, "test_accuracy": float(clf.score(X_test, y_test)),
                     "epochs": clf.n_epochs_, "fit_s": seconds})
    per_class = len(y_few) // len(np.unique(y_few))
    _common.print_table(
        f"Exercise 10 on {data.name}: 10 classes from {per_class} labelled images per class", rows)

    fig, ax = plt.subplots(figsize=(7, 4))
    compare_learning_curves(models, ax=ax, metric="val_accuracy")
    figure = _common.save(fig, args.out, "exercise_10_val_accuracy.png")
    return {
        "pair_accuracy": pair_accuracy,
        "rows": rows,
        "accuracies": {row["model"]: row["test_accuracy"] for row in rows},
        "labels_per_class": per_class,
        "figures": [figure],
    }


if __name__ == "__main__":
    main(sys.argv[1:])
