"""Transfer learning over several seeds: shirt versus sandal
=========================================================

The Keras edition's transfer example from 200 images, with every seed reported.

Model A is trained on Fashion-MNIST without sandals (5) and shirts (6), i.e.
on the other eight classes. Model B must tell shirts from sandals with only
200 training images. Without Fashion-MNIST the script runs the same protocol
on scikit-learn's digits: digit 5 against digit 6, model A on the other eight.
For each of several seeds, B is trained from scratch and
by transfer (all of A's hidden layers reused, frozen for the first epochs,
then unfrozen with a lower learning rate, as in the book).

The book reports 99.25% for the transferred model and then admits the result
was cherry-picked: it tried many configurations and kept the best. Here every
seed is reported, with the mean, the spread and the best one, so the effect of
transfer can be judged honestly (both pairs of classes are easy: both
approaches usually score well above 95%).

Run ``python examples/transfer_shirt_sandal.py [--quick] [--out DIR] [--n-seeds N]``.
"""

from __future__ import annotations

import sys

import _common
import matplotlib.pyplot as plt
import numpy as np

from skdnn import DNNClassifier, TransferDNNClassifier


def main(argv=None) -> dict:
    args = _common.parse_args(__doc__, argv, n_seeds=(int, None, "number of seeds for model B"))
    quick = args.quick
    n_seeds = args.n_seeds or (3 if quick else 10)
    data = _common.load_data(args.data)
    task = f"{data.target_names[6]} vs {data.target_names[5]}"
    others = [c for c in range(10) if c not in (5, 6)]
    X_a, y_a = _common.subset(data.X_train, data.y_train, classes=others,
                              n=1500 if quick else None, seed=args.seed)
    X_test, y_test = _common.subset(data.X_test, data.y_test, classes=[5, 6])
    y_test = (y_test == 6).astype(int)  # 1 = shirt (or digit 6)
    architecture = dict(hidden_layer_sizes=(100,) * 5, activation="elu",
                        kernel_initializer="he_normal")
    model_a = DNNClassifier(**architecture, max_epochs=2 if quick else 100, patience=5,
                            batch_size=64 if quick else 32, random_state=args.seed)
    model_a, seconds = _common.timed_fit(model_a, X_a, y_a)
    print(f"model A (the other 8 classes): {model_a.n_epochs_} epochs in {seconds:.1f} s")

    epochs = 6 if quick else 50
    rows = []
    for offset in range(n_seeds):
        seed = args.seed + offset
        X_b, y_b = _common.subset(data.X_train, data.y_train, classes=[5, 6], per_class=100,
                                  seed=seed)
        y_b = (y_b == 6).astype(int)  # 1 = shirt (or digit 6)
        settings = dict(max_epochs=epochs, early_stopping=False, batch_size=32,
                        random_state=seed)
        scratch = DNNClassifier(**architecture, **settings).fit(X_b, y_b)
        transfer = TransferDNNClassifier(
            model_a, unfreeze_after=2 if quick else 4, unfreeze_lr_factor=0.1,
            learning_rate=1e-3, **settings,
        ).fit(X_b, y_b)
        rows.append({"seed": seed, "scratch": float(scratch.score(X_test, y_test)),
                     "transfer": float(transfer.score(X_test, y_test))})
    _common.print_table(f"{task} from 200 images, per seed", rows)

    summary = {}
    for name in ("scratch", "transfer"):
        values = np.array([row[name] for row in rows])
        summary[name] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)),
                         "min": float(values.min()), "max": float(values.max())}
    _common.print_table("Summary over seeds (test accuracy)",
                        [{"model": k, **v} for k, v in summary.items()])
    error_scratch = 1 - summary["scratch"]["mean"]
    error_transfer = 1 - summary["transfer"]["mean"]
    reduction = (error_scratch - error_transfer) / error_scratch if error_scratch > 0 else 0.0
    print(f"mean error {error_scratch:.4f} -> {error_transfer:.4f} "
          f"(relative reduction {reduction:+.1%}); the best single seed reached "
          f"{summary['transfer']['max']:.4f}: quoting only that one is cherry-picking.")

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.boxplot([[row["scratch"] for row in rows], [row["transfer"] for row in rows]])
    ax.set_xticks([1, 2], ["scratch", "transfer from A"])
    ax.set(title=f"{task}, {n_seeds} seeds", ylabel="Test accuracy")
    figure = _common.save(fig, args.out, "transfer_shirt_sandal.png")
    return {"rows": rows, "summary": summary, "relative_error_reduction": float(reduction),
            "figures": [figure]}


if __name__ == "__main__":
    main(sys.argv[1:])
