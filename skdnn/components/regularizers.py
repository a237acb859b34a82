"""Weight penalties, gradient clipping and the max-norm constraint.

One :class:`Regularization` object bundles what the training loop does to fight
overfitting and unstable gradients around each optimizer step:

1. :meth:`Regularization.penalty` is added to the loss (l1 and l2 on the kernels),
2. :meth:`Regularization.clip` bounds the gradients after ``backward``,
3. :meth:`Regularization.constrain` rescales each neuron's incoming weights after
   the step (max-norm).

None of these reads a value back to the host, so they never stall a GPU.
:func:`zero_small_weights` is the chapter's post-training trick for sparse models.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch


def _check_non_negative(name: str, value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{name} must be a float >= 0; got {value!r}.")


def _check_positive_or_none(name: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{name} must be a float > 0 or None; got {value!r}.")


class Regularization:
    """Penalties, clipping and constraints applied around each training step.

    Parameters
    ----------
    kernels : sequence of torch.nn.Parameter
        Weight matrices the penalties and the max-norm constraint apply to, each
        shaped like ``torch.nn.Linear.weight``: ``(out_features, in_features)``.
        Biases are deliberately left out. Only the kernels that currently take
        gradients are penalized and constrained (see :attr:`kernels`), so frozen
        layers are left alone and join in once unfrozen.
    l1 : float, default=0.0
        Factor of ``sum(|w|)`` over all kernels, added to the loss.
    l2 : float, default=0.0
        Factor of ``sum(w**2)`` over all kernels, added to the loss.
    max_norm : float, default=None
        After each step, every row of every constrained kernel (the incoming
        weights of one neuron) whose L2 norm exceeds ``max_norm`` is scaled back
        to it.
    clip_value : float, default=None
        Clip every gradient element to ``[-clip_value, clip_value]``.
    clip_norm : float, default=None
        Rescale all gradients together so that their global L2 norm is at most
        ``clip_norm`` (applied after ``clip_value`` when both are set).
    max_norm_kernels : sequence of torch.nn.Parameter, default=None
        The kernels max-norm constrains (again only those with ``requires_grad``);
        None constrains ``kernels``. The estimators pass the hidden layers' kernels,
        as the chapter does, and add the output layer's on request.
    """

    def __init__(
        self,
        kernels: Sequence[torch.nn.Parameter],
        *,
        l1: float = 0.0,
        l2: float = 0.0,
        max_norm: float | None = None,
        clip_value: float | None = None,
        clip_norm: float | None = None,
        max_norm_kernels: Sequence[torch.nn.Parameter] | None = None,
    ) -> None:
        _check_non_negative("l1", l1)
        _check_non_negative("l2", l2)
        _check_positive_or_none("max_norm", max_norm)
        _check_positive_or_none("clip_value", clip_value)
        _check_positive_or_none("clip_norm", clip_norm)
        self._kernels = list(kernels)
        self._constrained = self._kernels if max_norm_kernels is None else list(max_norm_kernels)
        self.l1 = l1
        self.l2 = l2
        self.max_norm = max_norm
        self.clip_value = clip_value
        self.clip_norm = clip_norm

    @property
    def kernels(self) -> list[torch.nn.Parameter]:
        """The kernels penalties and the constraint apply to now: those with ``requires_grad``."""
        return [kernel for kernel in self._kernels if kernel.requires_grad]

    @property
    def active(self) -> bool:
        """Whether any penalty, clipping or constraint is configured."""
        return bool(self.l1 or self.l2) or any(
            setting is not None for setting in (self.max_norm, self.clip_value, self.clip_norm)
        )

    def penalty(self) -> torch.Tensor | None:
        """Return ``l1 * sum(|W|) + l2 * sum(W**2)`` over the kernels.

        Returns
        -------
        torch.Tensor or None
            A 0-d tensor on the kernels' device, to add to the loss; None when
            both factors are zero (or there are no kernels), so nothing is computed.
        """
        kernels = self.kernels
        if not kernels or not (self.l1 or self.l2):
            return None
        terms = []
        for kernel in kernels:
            if self.l1:
                terms.append(self.l1 * kernel.abs().sum())
            if self.l2:
                terms.append(self.l2 * kernel.square().sum())
        return torch.stack(terms).sum()

    def clip(self, parameters: Iterable[torch.Tensor]) -> None:
        """Clip the gradients of ``parameters`` in place: by value, then by global norm.

        Uses ``torch.nn.utils.clip_grad_value_`` and ``clip_grad_norm_``, which
        take the multi-tensor path where the device supports it. Parameters
        without a gradient are skipped.

        Parameters
        ----------
        parameters : iterable of torch.Tensor
            Usually ``module.parameters()``.
        """
        if self.clip_value is None and self.clip_norm is None:
            return
        parameters = list(parameters)
        if self.clip_value is not None:
            torch.nn.utils.clip_grad_value_(parameters, self.clip_value)
        if self.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(parameters, self.clip_norm)

    def constrain(self) -> None:
        """Apply the max-norm constraint in place (no-op when ``max_norm`` is None).

        Rows whose L2 norm is at most ``max_norm`` are left untouched; longer
        rows are scaled down to norm ``max_norm`` (within ``torch.renorm``'s 1e-7).
        """
        if self.max_norm is None:
            return
        with torch.no_grad():
            for kernel in self._constrained:
                if kernel.requires_grad:
                    kernel.renorm_(2, 0, self.max_norm)


def zero_small_weights(module: torch.nn.Module, threshold: float) -> float:
    """Set every ``torch.nn.Linear`` weight with ``|w| < threshold`` to exactly zero.

    Parameters
    ----------
    module : torch.nn.Module
        Trained network; its Linear weights are modified in place (biases are not).
    threshold : float
        Magnitude (>= 0) below which a weight is zeroed.

    Returns
    -------
    float
        Fraction of all Linear weights that are below the threshold, and so now
        zero (0.0 when the module has no Linear layer).
    """
    _check_non_negative("threshold", threshold)
    weights = [layer.weight for layer in module.modules() if isinstance(layer, torch.nn.Linear)]
    if not weights:
        return 0.0
    zeroed = []
    with torch.no_grad():
        for weight in weights:
            small = weight.abs() < threshold
            weight.masked_fill_(small, 0.0)
            zeroed.append(small.sum())
    return float(torch.stack(zeroed).sum()) / sum(weight.numel() for weight in weights)
