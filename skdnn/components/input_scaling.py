"""Scaling of numeric table columns fitted on the training data: robust scaling, smooth clipping.

Tables hold columns with heavy tails and outliers (incomes, counts, prices),
where standardization by the mean and standard deviation lets a few extreme
values squash the rest. Robust scaling centres each column on its median and
divides by its interquartile range; smooth clipping then bounds the result
with ``f(z) = z / sqrt(1 + (z / c)^2)``, which is close to ``z`` near 0 and
tends to ``±c`` (default 3) far out. This is the numeric preprocessing of
RealMLP (Holzmüller et al., 2024, "Better by Default").

The fitted statistics are buffers of the module, so they travel with the
network's ``state_dict`` (and its safetensors file).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from skdnn.components._registry import Registry


def as_float_array(X: np.ndarray | torch.Tensor, name: str = "X") -> np.ndarray:
    """Convert ``X`` to a 2-D float64 numpy array, NaN allowed.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n_samples, n_features)
        Numbers, NaN for missing values.
    name : str, default="X"
        Name used in error messages.

    Returns
    -------
    numpy.ndarray of shape (n_samples, n_features)
        The values as float64.

    Raises
    ------
    ValueError
        If ``X`` does not hold numbers, is not 2-D, or holds infinite values.
    """
    if torch.is_tensor(X):
        X = X.detach().cpu().numpy()
    try:
        array = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must hold numbers (NaN for missing values): {error}") from None
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (samples, features), got shape {array.shape}.")
    if np.isinf(array).any():
        raise ValueError(f"{name} contains infinite values.")
    return array


def robust_scale_statistics(X: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column median and scale factor of ``X``, ignoring NaN.

    The factor is ``1 / IQR``; for a column whose interquartile range is 0 it
    is ``2 / (max - min)``, and 0 for a constant column (which then maps to 0).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training data, NaN for missing values.

    Returns
    -------
    center, factor : torch.Tensor of shape (n_features,)
        Medians and scale factors, float64.

    Raises
    ------
    ValueError
        If ``X`` is not 2-D, holds infinite values, or a column has no observed value.
    """
    X = as_float_array(X)
    empty = np.flatnonzero(np.isnan(X).all(axis=0)) if len(X) else np.arange(X.shape[1])
    if empty.size:
        raise ValueError(f"Columns without any observed value cannot be scaled: {empty.tolist()}.")
    q25, median, q75 = np.nanquantile(X, [0.25, 0.5, 0.75], axis=0)
    spread = q75 - q25
    half_range = (np.nanmax(X, axis=0) - np.nanmin(X, axis=0)) / 2
    spread = np.where(spread > 0, spread, half_range)
    factor = np.divide(1.0, spread, out=np.zeros_like(spread), where=spread > 0)
    return torch.from_numpy(median), torch.from_numpy(factor)


def smooth_clip(z: torch.Tensor, bound: float = 3.0) -> torch.Tensor:
    """Compute ``z / sqrt(1 + (z / bound)^2)``: the identity near 0, tending to ``±bound``.

    Parameters
    ----------
    z : torch.Tensor
        Values to clip.
    bound : float, default=3.0
        The limit of the output for large ``|z|``.

    Returns
    -------
    torch.Tensor
        Same shape as ``z``, inside ``[-bound, bound]``; NaN stays NaN.
    """
    # (z / bound)^2 overflows float32 beyond |z| ~ 5e19, where the output is
    # ±bound to float precision: clamp so that huge values and ±inf give ±bound.
    limit = _HUGE * bound
    z = z.clamp(-limit, limit)
    return z / torch.sqrt(1.0 + (z / bound) ** 2)


#: |z| / bound beyond which smooth clipping gives ±bound to float64 precision.
_HUGE = 1e17


class RobustScaleSmoothClip(nn.Module):
    """Robust scaling then smooth clipping of numeric columns, fitted with :meth:`fit`.

    ``forward`` computes ``smooth_clip((x - median) * factor, clip)`` per column;
    a missing value (NaN) maps to 0, the position of the median.

    Parameters
    ----------
    n_features : int
        Number of numeric columns.
    clip : float or None, default=3.0
        Bound of the smooth clipping; None scales without clipping.

    Attributes
    ----------
    center : buffer of shape (n_features,)
        Column medians.
    factor : buffer of shape (n_features,)
        Column scale factors (see :func:`robust_scale_statistics`).
    fitted : bool buffer
        Whether :meth:`fit` has run (saved with the state dict).
    """

    def __init__(self, n_features: int, *, clip: float | None = 3.0) -> None:
        super().__init__()
        if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
            raise ValueError(f"n_features must be a positive integer, got {n_features!r}.")
        if clip is not None and not clip > 0:
            raise ValueError(f"clip must be positive or None, got {clip!r}.")
        self.n_features = n_features
        self.clip = clip
        self.register_buffer("center", torch.zeros(n_features))
        self.register_buffer("factor", torch.ones(n_features))
        self.register_buffer("fitted", torch.tensor(False))

    def fit(self, X: np.ndarray | torch.Tensor) -> RobustScaleSmoothClip:
        """Compute the medians and scale factors of the training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; NaN are ignored.

        Returns
        -------
        RobustScaleSmoothClip
            This module, fitted.
        """
        X = as_float_array(X)
        if X.shape[1] != self.n_features:
            raise ValueError(f"X has {X.shape[1]} columns, expected {self.n_features}.")
        center, factor = robust_scale_statistics(X)
        self.center.copy_(center)
        self.factor.copy_(factor)
        self.fitted.fill_(True)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale and clip the input; NaN become 0.

        Parameters
        ----------
        x : torch.Tensor of shape (n, n_features)
            The input batch.

        Returns
        -------
        torch.Tensor of shape (n, n_features)
            The output batch.
        """
        if not self.fitted:
            raise ValueError("RobustScaleSmoothClip must be fitted (call fit(X)) before use.")
        if x.dim() != 2 or x.shape[1] != self.n_features:
            raise ValueError(
                f"Expected input of shape (n, {self.n_features}), got {tuple(x.shape)}."
            )
        z = (x - self.center) * self.factor
        if self.clip is not None:
            z = smooth_clip(z, self.clip)
        return torch.nan_to_num(z, nan=0.0)

    def extra_repr(self) -> str:
        """Settings shown by ``repr``."""
        return f"n_features={self.n_features}, clip={self.clip}"


def _robust_smooth_clip(X: np.ndarray | torch.Tensor, clip: float | None = 3.0) -> nn.Module:
    """Robust scaling with smooth clipping, fitted on ``X``."""
    X = as_float_array(X)
    return RobustScaleSmoothClip(X.shape[1], clip=clip).fit(X)


def _robust(X: np.ndarray | torch.Tensor) -> nn.Module:
    """Robust scaling without clipping, fitted on ``X``."""
    return _robust_smooth_clip(X, clip=None)


INPUT_SCALINGS = Registry("input_scaling")
INPUT_SCALINGS.add(
    "robust_smooth_clip",
    _robust_smooth_clip,
    "median/IQR scaling, then z / sqrt(1 + (z/3)^2) (RealMLP)",
)
INPUT_SCALINGS.add("robust", _robust, "median/IQR scaling without clipping")
