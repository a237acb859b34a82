"""Monte-Carlo dropout
===================

Better probabilities, and an uncertainty that flags likely errors.

A 5x100 He/ELU network with dropout is trained on the digits (or Fashion-MNIST
when installed). Its test
predictions are computed twice: plainly (dropout off) and with MC dropout
(``predict_proba_mc``: the mean of many passes with dropout on, and the
standard deviation of the probabilities across the passes). The script
compares accuracy and log loss, then sorts the test rows by the MC standard
deviation of the predicted class: the most uncertain quarter of the rows is
far more often wrong than the most confident quarter.

Run ``python examples/mc_dropout.py [--quick] [--out DIR]``.
"""

from __future__ import annotations

import sys

import _common
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

from skdnn import DNNClassifier


def main(argv=None) -> dict:
    args = _common.parse_args(__doc__, argv)
    quick = args.quick
    data = _common.load_data(args.data)
    X, y = _common.subset(data.X_train, data.y_train, n=1500 if quick else None, seed=args.seed)
    X_test, y_test = _common.subset(data.X_test, data.y_test, n=1000 if quick else None,
                                    seed=args.seed)
    clf = DNNClassifier((100,) * 5, kernel_initializer="he_normal", dropout=0.2,
                        max_epochs=3 if quick else 100, patience=10,
                        batch_size=64 if quick else 32, random_state=args.seed)
    clf.fit(X, y)
    plain = clf.predict_proba(X_test)
    mean, std = clf.predict_proba_mc(X_test, n_passes=20 if quick else 100)
    rows = []
    for name, proba in (("plain", plain), ("MC dropout", mean)):
        rows.append({"prediction": name,
                     "accuracy": float(np.mean(clf.classes_[proba.argmax(1)] == y_test)),
                     "log_loss": float(log_loss(y_test, proba, labels=clf.classes_))})
    _common.print_table("Plain versus Monte-Carlo dropout predictions", rows)

    predicted = mean.argmax(1)
    wrong = clf.classes_[predicted] != y_test
    uncertainty = std[np.arange(len(predicted)), predicted]
    order = np.argsort(uncertainty)
    quarters = np.array_split(order, 4)
    quarter_rows = [{"uncertainty_quarter": f"Q{i + 1}" + (" (most confident)" if i == 0 else
                                                          " (most uncertain)" if i == 3 else ""),
                     "mean_std": float(uncertainty[q].mean()),
                     "error_rate": float(wrong[q].mean()), "rows": len(q)}
                    for i, q in enumerate(quarters)]
    _common.print_table("Error rate by MC-dropout uncertainty of the predicted class",
                        quarter_rows)
    auc = float(roc_auc_score(wrong, uncertainty)) if 0 < wrong.sum() < len(wrong) else None
    if auc is not None:
        print(f"ROC AUC of the uncertainty as a detector of errors: {auc:.3f} (0.5 = chance)")

    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(0, uncertainty.max() + 1e-9, 30)
    ax.hist(uncertainty[~wrong], bins=bins, alpha=0.6, density=True, label="correct")
    ax.hist(uncertainty[wrong], bins=bins, alpha=0.6, density=True, label="wrong")
    ax.set(title="MC-dropout std of the predicted class", xlabel="std", ylabel="density")
    ax.legend()
    figure = _common.save(fig, args.out, "mc_dropout_uncertainty.png")
    return {"rows": rows, "quarters": quarter_rows, "error_detection_auc": auc,
            "accuracy_plain": rows[0]["accuracy"], "accuracy_mc": rows[1]["accuracy"],
            "figures": [figure]}


if __name__ == "__main__":
    main(sys.argv[1:])
