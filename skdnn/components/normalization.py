"""Batch and layer normalization of a hidden layer's ``(batch, features)`` output.

``momentum`` has the chapter's (and Keras') meaning throughout skdnn:
``running = running * momentum + batch_statistic * (1 - momentum)``, default 0.99.
PyTorch's ``momentum`` is the weight of the *new* statistic, so it is
``1 - momentum`` (:func:`torch_momentum`). The running statistics start at 0
(mean) and 1 (variance), as in Keras; one detail follows PyTorch rather than Keras:
the running variance is updated with the unbiased batch variance (``n / (n - 1)``
times the one used to normalize the batch).

Both layers use ``eps = 1e-3`` (:data:`EPSILON`), Keras' default, rather than
PyTorch's 1e-5: it is the chapter's smoothing term and is more forgiving with
float32 features of tiny variance.
"""

from __future__ import annotations

from torch import nn

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


def _batch_norm(num_features: int, momentum: float) -> nn.Module:
    """Batch normalization with running statistics updated with ``momentum``."""
    return nn.BatchNorm1d(num_features, eps=EPSILON, momentum=torch_momentum(momentum))


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
        ``BatchNorm1d`` or ``LayerNorm`` with learned scale and offset.

    Raises
    ------
    ValueError
        For an unknown name (:class:`~skdnn.exceptions.UnknownComponentError`) or a
        momentum outside [0, 1].
    """
    return NORMALIZATIONS.build(name, num_features=num_features, momentum=momentum)
