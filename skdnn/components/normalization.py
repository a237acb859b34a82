"""Batch and layer normalization of a hidden layer's ``(batch, features)`` output.

``momentum`` has the chapter's (and Keras') meaning throughout skdnn:
``running = running * momentum + batch_statistic * (1 - momentum)``, default 0.99.
PyTorch's ``momentum`` is the weight of the *new* statistic, so it is
``1 - momentum`` (:func:`torch_momentum`). The running statistics start at 0
(mean) and 1 (variance), as in Keras. The running variance averages the batch
variance of Eq. 11-3, the one that normalizes the batch (divided by the batch
size, as Keras does); ``torch.nn.BatchNorm1d`` averages the unbiased variance
instead (``n / (n - 1)`` times larger), hence :class:`KerasBatchNorm1d`.

Both layers use ``eps = 1e-3`` (:data:`EPSILON`), Keras' default, rather than
PyTorch's 1e-5: it is the chapter's smoothing term and is more forgiving with
float32 features of tiny variance.
"""

from __future__ import annotations

import torch
from torch import nn

from skdnn._utils.module_spec import register_batch_norm
from skdnn.components._registry import Registry

#: Smoothing term added to the variance before the square root.
EPSILON = 1e-3


def torch_momentum(keras_momentum: float) -> float:
    """Convert a Keras/chapter batch-norm momentum to PyTorch's convention.

    Parameters
    ----------
    keras_momentum : float
        In [0, 1]: the weight of the running statistic in
        ``running * momentum + batch * (1 - momentum)``.

    Returns
    -------
    float
        ``1 - keras_momentum``, the weight of the batch statistic.

    Raises
    ------
    ValueError
        If ``keras_momentum`` is outside [0, 1].
    """
    if not 0.0 <= keras_momentum <= 1.0:
        raise ValueError(f"Batch-norm momentum must be in [0, 1]; got {keras_momentum!r}.")
    return 1.0 - keras_momentum


class KerasBatchNorm1d(nn.BatchNorm1d):
    """``torch.nn.BatchNorm1d`` whose running variance averages the biased batch variance.

    Training normalizes each batch with its own mean and variance (Eq. 11-3),
    exactly as ``BatchNorm1d`` does; only the update of ``running_var`` differs:
    it averages that same variance (sum of squares over ``n``), as Keras does,
    where torch averages the unbiased one (over ``n - 1``). The constructor,
    parameters and buffers are ``BatchNorm1d``'s, so everything that reads
    ``running_mean``, ``running_var``, ``weight``, ``bias`` and ``eps`` (batch-norm
    folding at prediction, for one) works unchanged.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Normalize ``input``; in training, update the running statistics.

        Parameters
        ----------
        input : torch.Tensor
            ``(batch, features)`` or ``(batch, features, length)``.

        Returns
        -------
        torch.Tensor
            The normalized, scaled and shifted input.
        """
        n = input.numel() // input.shape[1] if input.dim() >= 2 and input.shape[1] else 0
        if not (self.training and self.track_running_stats and self.running_var is not None) or (
            n < 2
        ):
            return super().forward(input)
        # torch's update is linear in the running variance:
        #     running <- (1 - f) * running + f * biased * n / (n - 1).
        # Run it on ``running * n / (n - 1)`` and scale the result by (n - 1) / n:
        # that is (1 - f) * running + f * biased. The scaled copy stands in for the
        # buffer during the call (autograd keeps a reference to it, so it must not
        # change afterwards); the buffer itself is written once, at the end.
        running_var = self.running_var
        scaled = running_var * (n / (n - 1))
        self._buffers["running_var"] = scaled
        try:
            output = super().forward(input)
        finally:
            self._buffers["running_var"] = running_var
        with torch.no_grad():
            torch.mul(scaled, (n - 1) / n, out=running_var)
        return output


register_batch_norm(KerasBatchNorm1d)


def _batch_norm(num_features: int, momentum: float) -> nn.Module:
    """Batch normalization with running statistics updated with ``momentum``."""
    return KerasBatchNorm1d(num_features, eps=EPSILON, momentum=torch_momentum(momentum))


def _layer_norm(num_features: int, momentum: float) -> nn.Module:
    """Layer normalization; ``momentum`` is ignored (no running statistics)."""
    return nn.LayerNorm(num_features, eps=EPSILON)


NORMALIZATIONS = Registry("normalization")
NORMALIZATIONS.add(
    "batch", _batch_norm, "batch normalization: batch statistics in training, running in eval"
)
NORMALIZATIONS.add("layer", _layer_norm, "layer normalization: statistics over each sample")


def make_normalization(name: str, num_features: int, *, momentum: float = 0.99) -> nn.Module:
    """Build the normalization layer called ``name``.

    Parameters
    ----------
    name : str
        ``"batch"`` or ``"layer"``.
    num_features : int
        Width of the normalized layer.
    momentum : float, default=0.99
        Batch-norm momentum in the chapter's meaning (see :func:`torch_momentum`);
        ignored by layer normalization.

    Returns
    -------
    torch.nn.Module
        :class:`KerasBatchNorm1d` or ``LayerNorm`` with learned scale and offset.

    Raises
    ------
    ValueError
        For an unknown name (:class:`~skdnn.exceptions.UnknownComponentError`) or a
        momentum outside [0, 1].
    """
    return NORMALIZATIONS.build(name, num_features=num_features, momentum=momentum)
