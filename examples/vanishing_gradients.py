"""Vanishing gradients made visible: initialization and activation in a deep network.

Three 10-layer networks of 100 units, trained with plain SGD:

* N(0, 1) initialization with the logistic activation (the pre-2010 recipe:
  the gradients shrink layer after layer on their way down);
* He initialization with ELU;
* LeCun initialization with SELU (self-normalizing; inputs standardized).

The per-layer kernel-gradient norms recorded in ``history_`` are printed for
the first epoch and plotted per epoch (``plot_gradient_norms``). The ratio
of the top layer's norm to the bottom layer's shows how unevenly the layers
learn.

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


def main(argv=None) -> dict:
    args = _common.parse_args(__doc__, argv)
    quick = args.quick
    data = _common.fashion_mnist()
    X, y = _common.subset(data.X_train, data.y_train, n=1000 if quick else 20_000,
                          seed=args.seed)
    X_test, y_test = _common.subset(data.X_test, data.y_test, n=1000 if quick else None,
                                    seed=args.seed)
    mean, std = X.mean(axis=0), X.std(axis=0) + 1e-7
    depth = 10
    rows, norms, figures = [], {}, []
    fig, axes = plt.subplots(1, len(CONFIGURATIONS), figsize=(15, 4), layout="constrained")
    for ax, (name, params) in zip(axes, CONFIGURATIONS.items(), strict=True):
        clf = DNNClassifier((100,) * depth, **params, optimizer="sgd", learning_rate=0.01,
                            early_stopping=False, max_epochs=2 if quick else 10,
                            batch_size=64 if quick else 32, random_state=args.seed)
        clf.fit((X - mean) / std, y)
        first = np.asarray(clf.history_[0]["grad_norms"], dtype=float)
        norms[name] = first.tolist()
        rows.append({
            "configuration": name,
            "bottom_norm": float(first[0]),
            "top_norm": float(first[-1]),
            "top/bottom": float(first[-1] / first[0]) if first[0] > 0 else float("inf"),
            "test_accuracy": float(clf.score((X_test - mean) / std, y_test)),
        })
        plot_gradient_norms(clf, ax=ax)
        ax.set_title(name)
    figures.append(_common.save(fig, args.out, "vanishing_gradients.png"))

    layer_rows = [{"layer": i + 1, **{name: values[i] for name, values in norms.items()}}
                  for i in range(depth)]
    _common.print_table("Kernel-gradient norm per hidden layer (epoch 1, layer 1 = bottom)",
                        layer_rows)
    _common.print_table(f"{depth}-layer networks, plain SGD", rows)
    return {"rows": rows, "grad_norms_epoch_1": norms, "figures": figures}


if __name__ == "__main__":
    main(sys.argv[1:])
