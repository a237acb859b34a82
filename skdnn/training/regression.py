"""Regression objectives: scaled targets, the loss, its fused gradient, RMSE and R^2.

A regression network trains on targets scaled column by column
(:class:`TargetScale`: standardized, or divided by their mean for a log-link
loss), which keeps the output layer's weights and the loss on the scale the
initializers and learning rates are designed for. The validation figures are
reported in the original units: :func:`regression_objective` builds the
:class:`~skdnn.training.objectives.Objective` of one fit, whose metrics undo
the scaling before computing the RMSE and R^2.

Plain torch and NumPy; no scikit-learn.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from skdnn.components.losses import REGRESSION_LOSSES, RegressionLoss, regression_loss
from skdnn.training.objectives import Objective


@dataclass(frozen=True)
class TargetScale:
    """Per-column affine map between targets and what the network is trained on.

    ``encoded = (y - offset) / scale``; predictions are
    ``inverse_link(outputs) * scale + offset``.

    Parameters
    ----------
    offset, scale : ndarray of shape (n_outputs,), float64
        Subtracted, then divided by.
    """

    offset: np.ndarray
    scale: np.ndarray

    @classmethod
    def identity(cls, n_outputs: int) -> TargetScale:
        """No scaling: offset 0, scale 1."""
        return cls(np.zeros(n_outputs), np.ones(n_outputs))

    @classmethod
    def fit(
        cls, y: np.ndarray, *, centered: bool = True, weight: np.ndarray | None = None
    ) -> TargetScale:
        """The scaling of the columns of ``y`` (2-D, finite).

        ``centered``: subtract each column's mean and divide by its standard
        deviation. With ``weight`` (one non-negative number per row), the mean
        and standard deviation are weighted, so that a row of weight ``k``
        counts as ``k`` copies of it. Otherwise divide by the mean of the column (for non-negative
        targets under a log link). A column whose standard deviation (or mean)
        is zero, or only rounding noise of its mean, gets the scale 1, so that
        a constant column is shifted but not blown up.
        """
        y = np.asarray(y, dtype=np.float64)
        mean = np.average(y, axis=0, weights=weight)
        if centered:
            offset = mean
            scale = np.sqrt(np.average((y - mean) ** 2, axis=0, weights=weight))
            magnitude = np.abs(offset)
        else:
            offset = np.zeros(y.shape[1])
            scale = mean
            magnitude = np.zeros(y.shape[1])
        # Zero, or rounding noise of the mean (a constant column's std is rarely exactly 0).
        tiny = scale <= 10 * np.finfo(np.float64).eps * magnitude
        return cls(offset, np.where(tiny, 1.0, scale))

    def encode(self, y: np.ndarray) -> np.ndarray:
        """``y`` (2-D) as the network's float32 targets."""
        return ((np.asarray(y, dtype=np.float64) - self.offset) / self.scale).astype(np.float32)

    def decode(self, means: torch.Tensor) -> torch.Tensor:
        """Predicted means in the scaled units -> float64 predictions in the original units."""
        scale = torch.as_tensor(self.scale, device=means.device)
        offset = torch.as_tensor(self.offset, device=means.device)
        return means.double() * scale + offset


class SquaredErrorGradient:
    """Mean squared error and its gradient with respect to the outputs, in one pass.

    For ``n`` rows and ``k`` outputs, ``d = outputs - y``: the row losses are
    ``mean_k(d**2) * weight`` and the gradient of the batch's mean loss is
    ``2 * d * weight / (n * k)``. An entry of
    :data:`skdnn.training.steps.FUSED_LOSS_GRADIENTS`.
    """

    def __call__(
        self, outputs: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(row losses of shape (n, 1), gradient at the outputs)``."""
        n_rows, n_outputs = outputs.shape
        difference = outputs - y
        losses = difference.square().mean(dim=1, keepdim=True)
        gradient = difference.mul_(2.0 / (n_rows * n_outputs))
        if weight is not None:
            row_weight = weight.unsqueeze(1)
            losses.mul_(row_weight)
            gradient.mul_(row_weight)
        return losses, gradient


class OriginalUnitMetrics:
    """Validation RMSE and R^2 in the targets' original units.

    Both follow scikit-learn's multi-output convention: the figure of each
    output column, averaged uniformly over the columns. A constant column has
    R^2 1 when predicted exactly, else 0 (``r2_score``'s ``force_finite``).

    Parameters
    ----------
    loss : RegressionLoss
        Gives the link from outputs to predicted means.
    target_scale : TargetScale
        The scaling of the targets the network was trained on.
    """

    def __init__(self, loss: RegressionLoss, target_scale: TargetScale) -> None:
        self.loss = loss
        self.target_scale = target_scale

    def __call__(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """RMSE and R^2 of ``outputs`` (members' outputs ``(n, k, n_outputs)``: of their mean)."""
        scale = self.target_scale
        means = self.loss.inverse_link(outputs.double())
        if means.dim() == 3:
            means = means.mean(dim=1)
        predicted = scale.decode(means)
        truth = scale.decode(targets)
        squared = (predicted - truth).square().mean(dim=0)
        spread = (truth - truth.mean(dim=0)).square().mean(dim=0)
        exact = squared == 0
        r2 = torch.where(
            spread > 0, 1 - squared / spread.clamp_min(torch.finfo(spread.dtype).tiny),
            exact.double(),
        )
        return {"rmse": squared.sqrt().mean().item(), "r2": r2.mean().item()}


def regression_objective(
    loss: str, target_scale: TargetScale, loss_params: Mapping[str, Any] | None = None
) -> Objective:
    """The objective of one regression fit.

    Parameters
    ----------
    loss : str
        Name in :data:`~skdnn.components.losses.REGRESSION_LOSSES`.
    target_scale : TargetScale
        How the targets were scaled (for the validation figures).
    loss_params : mapping, default=None
        Settings of the loss (``{"delta": ...}`` for ``"huber"``).

    Returns
    -------
    Objective
        Its loss, its fused gradient key (``"squared_error"`` only) and the
        metrics ``rmse`` and ``r2`` (recorded as ``val_rmse`` and ``val_r2``).
    """
    component = regression_loss(loss)
    return Objective(
        component.name,
        REGRESSION_LOSSES.build(component.name, loss_params),
        component.fused_gradient,
        OriginalUnitMetrics(component, target_scale),
    )
