"""Regression losses: squared error, absolute error, Huber and Poisson (log link).

Each entry of :data:`REGRESSION_LOSSES` carries what the rest of the package
needs of that loss: a factory of the loss function, the link between the
network's outputs and the predicted mean, the hand-derived gradient the fast
training step may use, the targets it accepts and how targets are scaled for
it. Adding a regression loss is adding one entry here.

Every loss function has the signature of a ``torch.nn.functional`` loss,
``loss(outputs, targets, reduction="mean")``, on ``(n_rows, n_outputs)``
tensors. With ``reduction="none"`` it returns one value per row, the mean over
the outputs of the element-wise loss, so that a per-row weight multiplies it;
with ``"mean"`` the mean over rows and outputs.

Plain torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast

import torch
import torch.nn.functional as F

from skdnn.components._registry import Component, Registry

LossFunction = Callable[..., torch.Tensor]
Reduction = Literal["mean", "none"]


@dataclass(frozen=True)
class RegressionLoss(Component):
    """A registered regression loss.

    Parameters
    ----------
    name, factory, description, defaults : str, callable, str, mapping
        As in :class:`~skdnn.components._registry.Component`; ``factory(**params)``
        returns the loss function.
    link : {"identity", "log"}, default="identity"
        What the network's outputs stand for: the predicted mean itself, or its
        logarithm (predictions are ``exp(outputs)``).
    fused_gradient : str or None, default=None
        Key of the hand-derived gradient in
        :data:`skdnn.training.steps.FUSED_LOSS_GRADIENTS` (None: autograd only).
    non_negative_targets : bool, default=False
        Whether the loss is defined only for targets >= 0.
    centered_scaling : bool, default=True
        Whether target scaling subtracts the mean before dividing by the
        standard deviation; False divides by the mean only, which keeps
        non-negative targets non-negative (under a log link, dividing the
        targets by ``c`` divides the optimal predicted mean by ``c``).
    """

    link: Literal["identity", "log"] = "identity"
    fused_gradient: str | None = None
    non_negative_targets: bool = False
    centered_scaling: bool = True

    def inverse_link(self, outputs: torch.Tensor) -> torch.Tensor:
        """The predicted mean for the network's ``outputs``."""
        return outputs.exp() if self.link == "log" else outputs


def _reduce(elementwise: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    """Mean over outputs per row (``"none"``), or over everything (``"mean"``)."""
    if reduction == "none":
        return elementwise.mean(dim=1)
    if reduction == "mean":
        return elementwise.mean()
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}.")


def squared_error(
    outputs: torch.Tensor, targets: torch.Tensor, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Mean squared error ``(outputs - targets) ** 2``."""
    return _reduce(F.mse_loss(outputs, targets, reduction="none"), reduction)


def absolute_error(
    outputs: torch.Tensor, targets: torch.Tensor, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Mean absolute error ``|outputs - targets|``."""
    return _reduce(F.l1_loss(outputs, targets, reduction="none"), reduction)


def poisson_log_link(
    outputs: torch.Tensor, targets: torch.Tensor, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Poisson negative log-likelihood of log-means, without the constant: ``exp(o) - y * o``.

    It differs from the Poisson deviance (scikit-learn's ``"poisson"`` loss) by
    a term that depends on the targets only, so both have the same minimizer
    and the same gradient.
    """
    elementwise = F.poisson_nll_loss(outputs, targets, log_input=True, full=False,
                                     reduction="none")
    return _reduce(elementwise, reduction)


def _squared_error() -> LossFunction:
    return squared_error


def _absolute_error() -> LossFunction:
    return absolute_error


def _huber(delta: float = 1.0) -> LossFunction:
    """Huber loss: ``d**2 / 2`` for ``|d| <= delta``, ``delta * (|d| - delta / 2)`` beyond."""
    if not delta > 0:
        raise ValueError(f"huber_delta must be positive, got {delta!r}.")

    def huber(
        outputs: torch.Tensor, targets: torch.Tensor, reduction: Reduction = "mean"
    ) -> torch.Tensor:
        elementwise = F.huber_loss(outputs, targets, delta=delta, reduction="none")
        return _reduce(elementwise, reduction)

    return huber


def _poisson() -> LossFunction:
    return poisson_log_link


REGRESSION_LOSSES = Registry("loss")
REGRESSION_LOSSES.register(RegressionLoss(
    "squared_error", _squared_error, "mean of (prediction - target)**2",
    fused_gradient="squared_error",
))
REGRESSION_LOSSES.register(RegressionLoss(
    "absolute_error", _absolute_error, "mean of |prediction - target| (predicts a median)",
))
REGRESSION_LOSSES.register(RegressionLoss(
    "huber", _huber, "squared error within delta of the target, absolute error beyond",
))
REGRESSION_LOSSES.register(RegressionLoss(
    "poisson", _poisson, "Poisson likelihood with a log link (non-negative targets)",
    link="log", non_negative_targets=True, centered_scaling=False,
))


def regression_loss(name: str) -> RegressionLoss:
    """The registry entry of the loss called ``name``.

    Parameters
    ----------
    name : str
        ``"squared_error"``, ``"absolute_error"``, ``"huber"`` or ``"poisson"``.

    Returns
    -------
    RegressionLoss
        The entry.

    Raises
    ------
    UnknownComponentError
        For an unknown name (a ``ValueError`` naming the valid ones).
    """
    return cast(RegressionLoss, REGRESSION_LOSSES.resolve(name))
