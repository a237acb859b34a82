"""What a network is trained to minimize, and what validation reports besides the loss.

An :class:`Objective` is the training-side half of a task (the estimator-side
half, target encoding and prediction decoding, lives in
:mod:`skdnn.estimators._tasks`). Its ``fused_gradient`` names the hand-derived
loss gradient that the fast training step may use instead of autograd
(:data:`skdnn.training.steps.FUSED_LOSS_GRADIENTS`); None means autograd only.

Plain torch; no scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F

#: ``metrics(outputs, targets)`` over a whole validation split -> named figures.
Metrics = Callable[[torch.Tensor, torch.Tensor], dict[str, float]]


@dataclass(frozen=True)
class Objective:
    """A training loss and the validation figures reported next to it.

    Parameters
    ----------
    name : str
        Short name, for messages.
    loss : callable
        ``loss(outputs, targets, reduction="mean")``, a ``torch.nn.functional``
        style loss; with ``reduction="none"`` it must return one value per row
        (row weights multiply it).
    fused_gradient : str or None, default=None
        Key of the hand-derived gradient of this loss with respect to the
        outputs in :data:`skdnn.training.steps.FUSED_LOSS_GRADIENTS`; the fast
        step applies only to objectives that name one.
    metrics : callable or None, default=None
        ``metrics(outputs, targets) -> {name: value}`` on the validation split;
        each figure is recorded as ``"val_" + name`` in the epoch's record.
    train_metrics : callable or None, default=None
        The same kind of callable, applied at the end of each epoch to the
        outputs the training steps computed (no extra forward pass); each
        figure is recorded under its own name (``"accuracy"``).
    fused_gradient_params : dict, default={}
        Keyword arguments of the fused gradient's constructor (the label
        smoothing of cross-entropy); they must describe the same loss as ``loss``.
    """

    name: str
    loss: Callable[..., torch.Tensor]
    fused_gradient: str | None = None
    metrics: Metrics | None = field(default=None, compare=False)
    train_metrics: Metrics | None = field(default=None, compare=False)
    fused_gradient_params: dict[str, Any] = field(default_factory=dict, compare=False)

    def batch_loss(
        self, outputs: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None
    ) -> torch.Tensor:
        """Mean loss of a batch; with ``weight``, the mean of the per-row weighted losses.

        Outputs of ensemble members in training, of shape ``(n, k, n_outputs)``
        (:mod:`skdnn.network_ensemble`), give the mean over the members of each
        member's loss on the batch (TabM's training loss); two-dimensional
        outputs (a plain network, or the members combined in evaluation mode)
        give the loss of those outputs.

        Parameters
        ----------
        outputs, targets : torch.Tensor
            Network outputs and encoded targets of the batch.
        weight : torch.Tensor or None
            Per-row loss weights.

        Returns
        -------
        torch.Tensor
            A 0-d tensor.
        """
        if outputs.dim() == 3:
            return self._members_loss(outputs, targets, weight)
        if weight is None:
            return self.loss(outputs, targets)
        return (self.loss(outputs, targets, reduction="none") * weight).mean()

    def _members_loss(
        self, outputs: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None
    ) -> torch.Tensor:
        """Mean over the ``k`` members of each member's (row-weighted) mean loss."""
        n_rows, n_members = outputs.shape[:2]
        member_targets = targets.repeat_interleave(n_members, dim=0)
        if weight is None:  # the mean over rows and members at once
            return self.loss(outputs.flatten(0, 1), member_targets)
        losses = self.loss(outputs.flatten(0, 1), member_targets, reduction="none")
        return (losses.reshape(n_rows, -1).mean(dim=1) * weight).mean()


def accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """Share of rows whose largest output is at the target class index.

    Members' logits ``(n, k, n_classes)`` vote by their mean probabilities.
    """
    if outputs.dim() == 3:
        outputs = torch.softmax(outputs, dim=2).mean(dim=1)
    correct = (outputs.argmax(dim=1) == targets).float().mean()
    return {"accuracy": correct.item()}


#: Classification on logits: softmax cross-entropy, training and validation accuracy.
CROSS_ENTROPY = Objective("cross_entropy", F.cross_entropy, "cross_entropy", accuracy, accuracy)
#: Reconstruction of the inputs (autoencoders): mean squared error, autograd step.
RECONSTRUCTION = Objective("reconstruction", F.mse_loss)


def cross_entropy_objective(label_smoothing: float = 0.0) -> Objective:
    """Softmax cross-entropy on logits, with optional label smoothing.

    Parameters
    ----------
    label_smoothing : float, default=0.0
        Weight moved from the one-hot target to the uniform distribution over
        the classes (``torch.nn.functional.cross_entropy``'s ``label_smoothing``).

    Returns
    -------
    Objective
        :data:`CROSS_ENTROPY` itself when ``label_smoothing`` is 0.
    """
    if label_smoothing == 0.0:
        return CROSS_ENTROPY
    return Objective(
        "cross_entropy",
        partial(F.cross_entropy, label_smoothing=label_smoothing),
        "cross_entropy",
        accuracy,
        accuracy,
        fused_gradient_params={"label_smoothing": label_smoothing},
    )
