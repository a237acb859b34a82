"""Regression fit throughput: skdnn's DNNRegressor against its peers on the same network.

Every system trains the same network (784-300-100-1 by default, ReLU, Adam at
1e-3, squared error, no early stopping, no weight penalty) one epoch per call
on the same rows, so that epochs can be interleaved system by system:

* ``torch``   a plain hand-written loop (``randperm`` batches gathered with
              ``X[idx]``, ``torch.optim.Adam`` as it comes, ``F.mse_loss``); the
              reference of every ratio.
* ``skorch``  ``skorch.NeuralNetRegressor``, ``partial_fit`` per epoch.
* ``sklearn`` ``sklearn.neural_network.MLPRegressor(alpha=0)``, ``partial_fit``
              per epoch.
* ``skdnn``   ``skdnn.DNNRegressor``, ``partial_fit`` per epoch (its default
              target standardization included: one pass over ``y`` per call).

The inputs are Fashion-MNIST's pixels; the target is a fixed random linear
map of them plus noise, standardized (throughput does not depend on what the
target means, and a standardized target puts every system on an equal footing,
including those that do not scale targets themselves).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from measure import interleave, median, paired_ratios
from systems import HIDDEN, LEARNING_RATE, _SkorchModule, torch_mlp


@dataclass
class RegressionSystem:
    """One contender: ``epoch()`` trains one pass, ``predict(X)`` returns ``(n,)`` values."""

    name: str
    epoch: Callable[[], None]
    predict: Callable[[np.ndarray], np.ndarray]


def regression_target(X: np.ndarray, seed: int = 0) -> np.ndarray:
    """A standardized float32 target: a fixed random linear map of ``X`` plus noise."""
    rng = np.random.default_rng(seed)
    y = X @ rng.normal(size=X.shape[1]) + rng.normal(scale=0.5, size=len(X))
    return ((y - y.mean()) / y.std()).astype(np.float32)


def plain_torch(
    X: np.ndarray, y: np.ndarray, *, batch_size: int, seed: int = 0,
    hidden: Sequence[int] = HIDDEN,
) -> RegressionSystem:
    """The hand-written loop with ``F.mse_loss``."""
    module = torch_mlp(X.shape[1], hidden, 1, seed)
    optimizer = torch.optim.Adam(module.parameters(), lr=LEARNING_RATE)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y).reshape(-1, 1)
    generator = torch.Generator().manual_seed(seed)

    def epoch() -> None:
        module.train()
        order = torch.randperm(len(X_t), generator=generator)
        for start in range(0, len(X_t), batch_size):
            index = order[start : start + batch_size]
            loss = F.mse_loss(module(X_t[index]), y_t[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    @torch.inference_mode()
    def predict(X_new: np.ndarray) -> np.ndarray:
        module.eval()
        return module(torch.from_numpy(X_new))[:, 0].numpy()

    return RegressionSystem("torch", epoch, predict)


def skorch_regressor(
    X: np.ndarray, y: np.ndarray, *, batch_size: int, seed: int = 0,
    hidden: Sequence[int] = HIDDEN,
) -> RegressionSystem:
    """skorch's NeuralNetRegressor (targets of shape (n, 1), as it requires)."""
    from skorch import NeuralNetRegressor

    torch.manual_seed(seed)
    net = NeuralNetRegressor(
        _SkorchModule,
        module__n_features=X.shape[1],
        module__hidden=tuple(hidden),
        module__n_classes=1,
        optimizer=torch.optim.Adam,
        lr=LEARNING_RATE,
        batch_size=batch_size,
        max_epochs=1,
        train_split=None,
        iterator_train__shuffle=True,
        device="cpu",
        verbose=0,
    )
    targets = y.reshape(-1, 1)

    def epoch() -> None:
        net.partial_fit(X, targets)

    return RegressionSystem("skorch", epoch, lambda X_new: net.predict(X_new)[:, 0])


def sklearn_regressor(
    X: np.ndarray, y: np.ndarray, *, batch_size: int, seed: int = 0,
    hidden: Sequence[int] = HIDDEN,
) -> RegressionSystem:
    """scikit-learn's MLPRegressor (float32 kept), one ``partial_fit`` per epoch."""
    from sklearn.neural_network import MLPRegressor

    mlp = MLPRegressor(hidden_layer_sizes=tuple(hidden), activation="relu", solver="adam",
                       alpha=0.0, learning_rate_init=LEARNING_RATE, batch_size=batch_size,
                       shuffle=True, random_state=seed)

    def epoch() -> None:
        mlp.partial_fit(X, y)

    return RegressionSystem("sklearn", epoch, mlp.predict)


def skdnn_regressor(
    X: np.ndarray, y: np.ndarray, *, batch_size: int, seed: int = 0,
    hidden: Sequence[int] = HIDDEN, **params: Any,
) -> RegressionSystem:
    """skdnn's DNNRegressor, one ``partial_fit`` per epoch (``params`` override)."""
    from skdnn import DNNRegressor

    settings: dict[str, Any] = dict(
        hidden_layer_sizes=tuple(hidden), activation="relu", learning_rate=LEARNING_RATE,
        batch_size=batch_size, early_stopping=False, max_epochs=1, device="cpu",
        random_state=seed,
    )
    settings.update(params)
    regressor = DNNRegressor(**settings)

    def epoch() -> None:
        regressor.partial_fit(X, y)

    return RegressionSystem("skdnn", epoch, regressor.predict)


#: The contenders, in the order of the table.
REGRESSION_SYSTEMS: dict[str, Callable[..., RegressionSystem]] = {
    "torch": plain_torch,
    "skorch": skorch_regressor,
    "sklearn": sklearn_regressor,
    "skdnn": skdnn_regressor,
}


def regression_fit_throughput(
    data: Any,
    *,
    rows_by_batch_size: dict[int, int],
    rounds: int,
    systems: tuple[str, ...] = tuple(REGRESSION_SYSTEMS),
) -> dict[str, Any]:
    """Epochs of every system interleaved; samples/s and paired ratios to ``torch``."""
    from sections import _print

    out: dict[str, Any] = {"rounds": rounds, "network": [784, *HIDDEN, 1], "by_batch_size": {}}
    for batch_size, n_rows in rows_by_batch_size.items():
        X = np.ascontiguousarray(data.X_train[:n_rows])
        y = regression_target(X)
        contenders = {name: REGRESSION_SYSTEMS[name](X, y, batch_size=batch_size)
                      for name in systems}
        seconds = interleave({n: s.epoch for n, s in contenders.items()}, rounds, warmup=1)
        ratios = paired_ratios(seconds, "torch")
        result: dict[str, Any] = {"n_rows": n_rows}
        rows = []
        for name, system in contenders.items():
            rate = n_rows / median(seconds[name])
            residual = system.predict(X) - y
            rmse = float(np.sqrt(np.mean(residual**2)))
            result[name] = {"epoch_seconds": seconds[name], "samples_per_s": rate,
                            "speedup_vs_torch": ratios[name], "train_rmse": rmse}
            rows.append([name, f"{rate:,.0f}", f"{ratios[name]['median']:.2f}x",
                         f"[{ratios[name]['min']:.2f}, {ratios[name]['max']:.2f}]",
                         f"{rmse:.3f}"])
        out["by_batch_size"][str(batch_size)] = result
        _print(
            f"Regression fit, batch {batch_size} ({n_rows:,} rows, {rounds} interleaved rounds)",
            rows,
            ["system", "samples/s", "vs torch (median)", "per-round range",
             "train RMSE after the epochs"],
        )
    return out
