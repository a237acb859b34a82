"""The systems compared, behind one small interface: ``epoch()`` and ``predict_proba()``.

Every system trains the same network (784-300-100-10 by default, ReLU, Adam at
1e-3, cross-entropy, no early stopping, no weight penalty) one epoch per call,
so that a benchmark can interleave the systems epoch by epoch.

* ``torch``       a plain hand-written loop: preloaded tensors, ``randperm``
                  batches gathered with ``X[idx]``, ``torch.optim.Adam`` with its
                  default implementation. The reference of every ratio.
* ``torch-fused`` the same loop, tuned by hand: ``index_select`` and fused Adam.
* ``skorch``      ``skorch.NeuralNetClassifier``, ``partial_fit`` per epoch.
* ``sklearn``     ``sklearn.neural_network.MLPClassifier``, ``partial_fit`` per epoch.
* ``skdnn``       ``skdnn.DNNClassifier``, ``partial_fit`` per epoch.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HIDDEN = (300, 100)
LEARNING_RATE = 1e-3


def n_weights(n_features: int, hidden: Sequence[int], n_classes: int) -> int:
    """Number of kernel weights (biases left out) of the MLP."""
    widths = [n_features, *hidden, n_classes]
    return sum(a * b for a, b in itertools.pairwise(widths))


def torch_mlp(n_features: int, hidden: Sequence[int], n_classes: int, seed: int) -> nn.Sequential:
    """The plain torch network (torch's default initialization)."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    width = n_features
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


class _SkorchModule(nn.Module):
    """skorch builds its module from a class and keyword arguments."""

    def __init__(self, n_features: int = 784, hidden: Sequence[int] = HIDDEN, n_classes: int = 10):
        super().__init__()
        self.net = torch_mlp(n_features, hidden, n_classes, seed=0)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.net(X)


@dataclass
class System:
    """One contender: ``epoch()`` trains one pass, ``predict_proba(X)`` infers."""

    name: str
    epoch: Callable[[], None]
    predict_proba: Callable[[np.ndarray], np.ndarray]
    info: dict[str, Any] = field(default_factory=dict)

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(np.argmax(self.predict_proba(X), axis=1) == y))


def plain_torch(
    X: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    seed: int = 0,
    hidden: Sequence[int] = HIDDEN,
    learning_rate: float = LEARNING_RATE,
    tuned: bool = False,
) -> System:
    """The hand-written loop; ``tuned`` uses ``index_select`` and fused Adam."""
    n_classes = int(y.max()) + 1
    module = torch_mlp(X.shape[1], hidden, n_classes, seed)
    optimizer = torch.optim.Adam(module.parameters(), lr=learning_rate, fused=tuned or None)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(seed)
    n_rows = len(X_t)

    def epoch() -> None:
        module.train()
        order = torch.randperm(n_rows, generator=generator)
        for start in range(0, n_rows, batch_size):
            index = order[start : start + batch_size]
            if tuned:
                xb, yb = X_t.index_select(0, index), y_t.index_select(0, index)
            else:
                xb, yb = X_t[index], y_t[index]
            loss = F.cross_entropy(module(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    @torch.inference_mode()
    def predict_proba(X_new: np.ndarray) -> np.ndarray:
        module.eval()
        return torch.softmax(module(torch.from_numpy(X_new)), dim=1).numpy()

    name = "torch-fused" if tuned else "torch"
    return System(name, epoch, predict_proba, {"optimizer": "Adam(fused)" if tuned else "Adam"})


def skorch_net(
    X: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    seed: int = 0,
    hidden: Sequence[int] = HIDDEN,
    learning_rate: float = LEARNING_RATE,
) -> System:
    """skorch's NeuralNetClassifier, one ``partial_fit`` per epoch."""
    from skorch import NeuralNetClassifier

    torch.manual_seed(seed)
    net = NeuralNetClassifier(
        _SkorchModule,
        module__n_features=X.shape[1],
        module__hidden=tuple(hidden),
        module__n_classes=int(y.max()) + 1,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=learning_rate,
        batch_size=batch_size,
        max_epochs=1,
        train_split=None,
        iterator_train__shuffle=True,
        device="cpu",
        verbose=0,
    )

    def epoch() -> None:
        net.partial_fit(X, y)

    return System("skorch", epoch, net.predict_proba)


def sklearn_mlp(
    X: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    seed: int = 0,
    hidden: Sequence[int] = HIDDEN,
    learning_rate: float = LEARNING_RATE,
) -> System:
    """scikit-learn's MLPClassifier (float32 kept), one ``partial_fit`` per epoch."""
    from sklearn.neural_network import MLPClassifier

    mlp = MLPClassifier(
        hidden_layer_sizes=tuple(hidden),
        activation="relu",
        solver="adam",
        alpha=0.0,
        learning_rate_init=learning_rate,
        batch_size=batch_size,
        shuffle=True,
        random_state=seed,
    )
    classes = np.unique(y)

    def epoch() -> None:
        mlp.partial_fit(X, y, classes=classes)

    return System("sklearn", epoch, mlp.predict_proba)


def skdnn_classifier(
    X: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    seed: int = 0,
    hidden: Sequence[int] = HIDDEN,
    learning_rate: float = LEARNING_RATE,
    name: str = "skdnn",
    **params: Any,
) -> System:
    """skdnn's DNNClassifier, one ``partial_fit`` per epoch (``params`` override)."""
    from skdnn import DNNClassifier

    settings = dict(
        hidden_layer_sizes=tuple(hidden),
        activation="relu",
        learning_rate=learning_rate,
        batch_size=batch_size,
        early_stopping=False,
        max_epochs=1,
        device="cpu",
        random_state=seed,
    )
    settings.update(params)
    clf = DNNClassifier(**settings)

    def epoch() -> None:
        clf.partial_fit(X, y)

    system = System(name, epoch, clf.predict_proba, {"params": _jsonable(params)})
    system.estimator = clf  # type: ignore[attr-defined]
    return system


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, int | float | str | bool | type(None)) else repr(v)
            for k, v in params.items()}


#: The fit contenders, in the order of the tables.
FIT_SYSTEMS: dict[str, Callable[..., System]] = {
    "torch": plain_torch,
    "skorch": skorch_net,
    "sklearn": sklearn_mlp,
    "skdnn": skdnn_classifier,
}
