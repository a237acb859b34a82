"""Vanishing gradients made visible
================================

How initialization and activation decide whether the lower layers of a deep
network learn at all.

Three networks of ten hidden layers of 50 units, trained with plain SGD on
standardized inputs:

* N(0, 1) initialization with the logistic activation (the pre-2010 recipe):
  the pre-activations are large, most sigmoids saturate, and every layer on
  the way down multiplies the gradient by a small derivative, so the lowest
  layers receive gradients several times smaller than the top ones and
  barely learn;
* He initialization with ELU: the gradient keeps its size from top to bottom;
* LeCun initialization with SELU (self-normalizing).

The per-layer kernel-gradient norms recorded in ``history_`` (last batch of
each epoch) are printed for the first epoch, with the ratio of the top
layer's norm to the bottom layer's, and plotted on shared logarithmic axes:
per layer for the first epoch, and per epoch for each setup
(``plot_gradient_norms``).

Run ``python examples/vanishing_gradients.py [--quick] [--out DIR]``.
"""

from __future__ import annotations

import sys

import _common
import matplotlib.pyplot as plt
import numpy as np

from skdnn import DNNClassifier
from skdnn.plotting import plot_gradient_norms

CONFIGURATIONS = {
    "N(0,1) + logistic": dict(kernel_initializer="random_normal", activation="logistic"),
    "He + ELU": dict(kernel_initializer="he_normal", activation="elu"),
    "LeCun + SELU": dict(kernel_initializer="lecun_normal", activation="selu"),
}
DEPTH, WIDTH = 10, 50


def main(argv=None) -> dict:
    args = _common.parse_args(__doc__, argv)
    quick = args.quick
    data = _common.load_data(args.data)
    X, y = _common.subset(data.X_train, data.y_train, n=1000 if quick else 20_000,
                          seed=args.seed)
    X_test, y_test = _common.subset(data.X_test, data.y_test, n=1000 if quick else None,
                                    seed=args.seed)
    mean, std = X.mean(axis=0), X.std(axis=0) + 1e-7
    rows, norms, models = [], {}, {}
    for name, params in CONFIGURATIONS.items():
        clf = DNNClassifier((WIDTH,) * DEPTH, **params, optimizer="sgd", learning_rate=0.01,
                            early_stopping=False, max_epochs=3 if quick else 10,
                            batch_size=64 if quick else 32, random_state=args.seed)
        clf.fit((X - mean) / std, y)
        first = np.asarray(clf.history_[0]["grad_norms"], dtype=float)
        norms[name], models[name] = first.tolist(), clf
        rows.append({
            "configuration": name,
            "bottom_norm": float(first[0]),
            "top_norm": float(first[-1]),
            "top/bottom": float(first[-1] / first[0]) if first[0] > 0 else float("inf"),
            "test_accuracy": float(clf.score((X_test - mean) / std, y_test)),
        })

    fig, axes = plt.subplots(1, 1 + len(models), figsize=(16, 4), sharey=True,
                             layout="constrained")
    layers = np.arange(1, DEPTH + 1)
    for name, values in norms.items():
        axes[0].plot(layers, values, marker="o", label=name)
    axes[0].set(yscale="log", xlabel="hidden layer (1 = bottom)", xticks=layers,
                ylabel="kernel-gradient norm", title="Epoch 1, per layer")
    axes[0].legend(fontsize="small")
    for ax, (name, clf) in zip(axes[1:], models.items(), strict=True):
        plot_gradient_norms(clf, ax=ax)
        ax.set(title=f"{name}, per epoch", ylabel="")
        ax.get_legend().remove()
    # One legend of the layers' colours, where the vanishing setup leaves room.
    axes[1].legend(fontsize="x-small", ncols=2)
    figures = [_common.save(fig, args.out, "vanishing_gradients.png")]

    layer_rows = [{"layer": i + 1, **{name: values[i] for name, values in norms.items()}}
                  for i in range(DEPTH)]
    _common.print_table("Kernel-gradient norm per hidden layer (epoch 1, layer 1 = bottom)",
                        layer_rows)
    _common.print_table(f"{DEPTH}x{WIDTH} networks, plain SGD, on {data.name}", rows)
    return {"rows": rows, "grad_norms_epoch_1": norms, "figures": figures}


if __name__ == "__main__":
    main(sys.argv[1:])
