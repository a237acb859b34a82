"""Exercise 9: transfer learning to new classes
============================================

Model A is the 5x100 He/ELU network of exercise 8, trained on classes 0-4
(digits 0-4 by default; T-shirt/top to Coat on Fashion-MNIST when installed).
It is reused for classes 5-9 (digits 5-9; or Sandal, Shirt, Sneaker, Bag and
Ankle boot) with only 100 training images per class (50 on the small digits):

* all hidden layers frozen, a new softmax on top (uncached, then with the
  frozen layers' outputs cached: the same model, faster; both timed);
* only the four lowest hidden layers reused (and frozen);
* four reused, the top two unfrozen after a few epochs (lower learning rate);
* and, for reference, the same network trained from scratch on the 500 images.

The book (on MNIST digits) reports 62-69% all frozen, 72% reusing four, 85%
with the top layers unfrozen, and caching cutting 8.7 s to 6.5 s; the digits are easier.

Run ``python examples/exercise_09_transfer.py [--quick] [--out DIR]``.
"""

from __future__ import annotations

import sys

import _common
import matplotlib.pyplot as plt

from skdnn import DNNClassifier, TransferDNNClassifier
from skdnn.plotting import compare_learning_curves


def main(argv=None) -> dict:
    args = _common.parse_args(__doc__, argv)
    quick = args.quick
    data = _common.load_data(args.data)
    X_a, y_a = _common.subset(data.X_train, data.y_train, classes=[0, 1, 2, 3, 4],
                              n=1000 if quick else None, seed=args.seed)
    per_class = 50 if data.small else 100
    (X_b, y_b), (X_bval, y_bval) = _common.disjoint_per_class(
        data.X_train, data.y_train, (per_class, 30 if quick or data.small else 100),
        classes=[5, 6, 7, 8, 9], seed=args.seed,
    )
    X_test, y_test = _common.subset(data.X_test, data.y_test, classes=[5, 6, 7, 8, 9],
                                    n=1000 if quick else None, seed=args.seed)
    epochs = 3 if quick else 100
    model_a = DNNClassifier((100,) * 5, kernel_initializer="he_normal", activation="elu",
                            max_epochs=2 if quick else 100, patience=10,
                            batch_size=64 if quick else 32, random_state=args.seed)
    model_a, seconds_a = _common.timed_fit(model_a, X_a, y_a)
    print(f"model A (classes 0-4): {model_a.n_epochs_} epochs in {seconds_a:.1f} s")

    settings = dict(max_epochs=epochs, patience=20, batch_size=32, random_state=args.seed,
                    learning_rate=1e-3)
    variants = {
        "all frozen": dict(cache_frozen=False),
        "all frozen, cached": dict(cache_frozen=True),
        "reuse four (frozen)": dict(n_reused_layers=4),
        "reuse four, unfreeze top two": dict(
            n_reused_layers=4, unfreeze_after=2 if quick else 10, n_unfrozen=2,
            unfreeze_lr_factor=0.1,
        ),
    }
    rows, models = [], {}
    for name, params in variants.items():
        clf = TransferDNNClassifier(model_a, **params, **settings)
        clf, seconds = _common.timed_fit(clf, X_b, y_b, validation_data=(X_bval, y_bval))
        models[name] = clf
        rows.append({"model": name, "test_accuracy": float(clf.score(X_test, y_test)),
                     "epochs": clf.n_epochs_, "fit_s": seconds,
                     "s_per_epoch": seconds / clf.n_epochs_})
    scratch = DNNClassifier((100,) * 5, kernel_initializer="he_normal", **settings)
    scratch, seconds = _common.timed_fit(scratch, X_b, y_b, validation_data=(X_bval, y_bval))
    models["scratch"] = scratch
    rows.append({"model": f"scratch ({len(y_b)} images)",
                 "test_accuracy": float(scratch.score(X_test, y_test)),
                 "epochs": scratch.n_epochs_, "fit_s": seconds,
                 "s_per_epoch": seconds / scratch.n_epochs_})
    _common.print_table(f"Exercise 9: {data.name}, classes 5-9 from {per_class} images per class",
                        rows)
    by_name = {row["model"]: row for row in rows}
    speedup = by_name["all frozen"]["s_per_epoch"] / by_name["all frozen, cached"]["s_per_epoch"]
    print(f"caching the frozen layers: {speedup:.2f}x faster per epoch")

    fig, ax = plt.subplots(figsize=(7, 4))
    compare_learning_curves(models, ax=ax, metric="val_accuracy")
    figure = _common.save(fig, args.out, "exercise_09_val_accuracy.png")
    return {
        "rows": rows,
        "accuracies": {row["model"]: row["test_accuracy"] for row in rows},
        "cache_speedup": float(speedup),
        "figures": [figure],
    }


if __name__ == "__main__":
    main(sys.argv[1:])
