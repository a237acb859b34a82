"""Unsupervised greedy pretraining with a stacked autoencoder
==========================================================

Pretraining on unlabelled images helps when labels are scarce.

A ``StackedAutoencoder`` (300-150 ELU encoder on Fashion-MNIST when installed,
100-50 on scikit-learn's 8x8 digits; trained one layer at a time) learns from
all the training images without their labels. A
``TransferDNNClassifier`` then reuses its encoder layers for the 10-class
task with only a few labelled images per class, frozen or fine-tuned, and is
compared with the same network trained from scratch on those labels.

Run ``python examples/unsupervised_pretraining.py [--quick] [--out DIR]``.
"""

from __future__ import annotations

import sys

import _common
import matplotlib.pyplot as plt
import numpy as np

from skdnn import DNNClassifier, StackedAutoencoder, TransferDNNClassifier
from skdnn.plotting import compare_learning_curves


def main(argv=None) -> dict:
    args = _common.parse_args(__doc__, argv,
                              per_class=(int, None, "labelled images per class"))
    quick = args.quick
    per_class = args.per_class or (10 if quick else 50)
    data = _common.load_data(args.data)
    X_unlabelled, _ = _common.subset(data.X_train, data.y_train, n=2000 if quick else None,
                                     seed=args.seed)
    (X_few, y_few), (X_val, y_val) = _common.disjoint_per_class(
        data.X_train, data.y_train, (per_class, 20), seed=args.seed + 1,
    )
    X_test, y_test = _common.subset(data.X_test, data.y_test, n=1000 if quick else None,
                                    seed=args.seed)
    layers = (100, 50) if quick or data.small else (300, 150)
    autoencoder = StackedAutoencoder(hidden_layer_sizes=layers, activation="elu",
                                     max_epochs=2 if quick else 20, patience=3,
                                     batch_size=64 if quick else 128, random_state=args.seed)
    autoencoder, seconds = _common.timed_fit(autoencoder, X_unlabelled)
    reconstruction = autoencoder.inverse_transform(autoencoder.transform(X_test))
    mse = float(np.mean((reconstruction - X_test) ** 2))
    print(f"stacked autoencoder {layers} on {len(X_unlabelled)} unlabelled images: "
          f"{seconds:.1f} s, test reconstruction MSE {mse:.4f}")

    settings = dict(max_epochs=5 if quick else 200, patience=20, batch_size=32,
                    random_state=args.seed)
    candidates = {
        "pretrained, frozen": TransferDNNClassifier(autoencoder, **settings),
        "pretrained, fine-tuned": TransferDNNClassifier(autoencoder, n_frozen_layers=0,
                                                        **settings),
        "scratch": DNNClassifier(layers, activation="elu", **settings),
    }
    rows, models = [], {}
    for name, clf in candidates.items():
        clf, seconds = _common.timed_fit(clf, X_few, y_few, validation_data=(X_val, y_val))
        models[name] = clf
        rows.append({"model": name, "test_accuracy": float(clf.score(X_test, y_test)),
                     "epochs": clf.n_epochs_, "fit_s": seconds})
    _common.print_table(f"10 classes from {per_class} labelled images per class", rows)

    figures = []
    fig, ax = plt.subplots(figsize=(7, 4))
    compare_learning_curves(models, ax=ax, metric="val_accuracy")
    figures.append(_common.save(fig, args.out, "unsupervised_pretraining_val_accuracy.png"))
    fig, axes = plt.subplots(2, 8, figsize=(12, 3.4))
    for i in range(8):
        axes[0, i].imshow(X_test[i].reshape(data.image_shape), cmap="binary")
        axes[1, i].imshow(reconstruction[i].reshape(data.image_shape), cmap="binary")
        axes[0, i].axis("off")
        axes[1, i].axis("off")
    figures.append(_common.save(fig, args.out, "unsupervised_pretraining_reconstructions.png"))
    return {"reconstruction_mse": mse, "rows": rows,
            "accuracies": {row["model"]: row["test_accuracy"] for row in rows},
            "figures": figures}


if __name__ == "__main__":
    main(sys.argv[1:])
