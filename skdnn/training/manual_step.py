"""What the hand-derived training steps share: the rest of a step once the gradients are set.

:class:`~skdnn.training.steps.MLPStep` and
:class:`~skdnn.training.ensemble_step.EnsembleStep` compute the loss and
every gradient themselves, without an autograd graph; the rest of a training
step (gradient clipping, the optimizer update, max-norm, the learning-rate
schedule) is the same for both and the same as the autograd step's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from skdnn.training.setup import TrainingSetup


class ManualStep:
    """Base of the steps that set the gradients by hand.

    Subclasses implement :meth:`_forward_backward`.

    Parameters
    ----------
    parameters : list of torch.nn.Parameter
        Every parameter the step sets a gradient for (clipping reads them).
    update : callable
        The optimizer update.
    setup : TrainingSetup
        Regularization (clipping, max-norm) and schedule.
    """

    def __init__(
        self,
        parameters: list[torch.nn.Parameter],
        update: Callable[[], None],
        setup: TrainingSetup,
    ) -> None:
        self.parameters = parameters
        self.update = update
        self.regularization = regularization = setup.regularization
        self.schedule = setup.schedule
        self.clips = regularization.clip_value is not None or regularization.clip_norm is not None
        self.constrains = regularization.max_norm is not None
        self.outputs: torch.Tensor | None = None

    def __call__(
        self, X: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None
    ) -> torch.Tensor:
        """One training step on a batch; returns the per-row losses."""
        with torch.no_grad():
            losses = self._forward_backward(X, y, weight)
        if self.clips:
            self.regularization.clip(self.parameters)
        self.update()
        if self.constrains:
            self.regularization.constrain()
        self.schedule.step()
        return losses

    def _forward_backward(
        self, X: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None
    ) -> torch.Tensor:
        """Set the gradients; return per-row losses summing to the batch's objective times n."""
        raise NotImplementedError
