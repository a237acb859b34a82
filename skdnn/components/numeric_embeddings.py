"""Embeddings of numeric columns: each scalar feature becomes a small vector.

An MLP applied to raw scalars must build every non-linear response to a
feature out of its first layer's ReLUs; mapping each feature to a vector
first makes such responses easy to represent (Gorishniy et al., 2022, "On
Embeddings for Numerical Features in Tabular Deep Learning"). Both modules
map ``(n, d)`` to ``(n, d * k)``, the per-feature vectors laid side by side:

* :class:`PeriodicEmbedding` ("PLR"): ``x -> [cos(2 pi c x), sin(2 pi c x)]`` with
  trainable frequencies ``c`` per feature, then a linear layer and a ReLU, per
  feature (or one linear layer shared by all features: ``lite=True``).
* :class:`PiecewiseLinearEmbedding` ("PLE"): the position of ``x`` within
  quantile bins of the training data (a thermometer code with linear ramps),
  optionally followed by a linear layer per feature.

Inputs must be finite: impute missing values first (for example with
:class:`~skdnn.components.input_scaling.RobustScaleSmoothClip`, which maps NaN
to 0).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from skdnn.components._registry import Registry
from skdnn.components.input_scaling import as_float_array
from skdnn.components.member_ops import members_linear


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def _check_input(x: torch.Tensor, n_features: int, owner: str) -> None:
    if x.dim() != 2 or x.shape[1] != n_features:
        raise ValueError(f"{owner} expects input of shape (n, {n_features}), got {tuple(x.shape)}.")


class _PerFeatureLinear(nn.Module):
    """``d`` independent linear maps, one per feature: (n, d, a) -> (n, d, b)."""

    def __init__(self, n_features: int, in_features: int, out_features: int,
                 generator: torch.Generator | None) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(
            torch.empty(n_features, in_features, out_features).uniform_(
                -bound, bound, generator=generator)
        )
        self.bias = nn.Parameter(
            torch.empty(n_features, out_features).uniform_(-bound, bound, generator=generator)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return members_linear(x.transpose(0, 1), self.weight, self.bias).transpose(0, 1)


class PeriodicEmbedding(nn.Module):
    """Periodic features with trainable frequencies, then linear + ReLU, per feature.

    Parameters
    ----------
    n_features : int
        Number of numeric input columns ``d``.
    n_frequencies : int, default=48
        Frequencies per feature ``m``; the periodic part has ``2 m`` values.
    embedding_dim : int, default=24
        Size ``k`` of each feature's vector.
    sigma : float, default=0.01
        Standard deviation of the initial frequencies (a scale relative to the
        inputs' own: suited to standardized or robust-scaled inputs).
    lite : bool, default=False
        Share one linear layer across features (fewer weights) instead of one
        per feature.
    activation : bool, default=True
        Apply a ReLU after the linear layer.
    generator : torch.Generator, optional
        Source of the initial values.

    Attributes
    ----------
    frequencies : Parameter of shape (n_features, n_frequencies)
    out_features : int
        ``n_features * embedding_dim``.
    """

    def __init__(
        self,
        n_features: int,
        *,
        n_frequencies: int = 48,
        embedding_dim: int = 24,
        sigma: float = 0.01,
        lite: bool = False,
        activation: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("n_features", n_features), ("n_frequencies", n_frequencies),
                            ("embedding_dim", embedding_dim)):
            _positive_int(name, value)
        if not sigma > 0:
            raise ValueError(f"sigma must be positive, got {sigma!r}.")
        self.n_features, self.embedding_dim = n_features, embedding_dim
        self.out_features = n_features * embedding_dim
        self.frequencies = nn.Parameter(
            torch.randn(n_features, n_frequencies, generator=generator) * sigma
        )
        if lite:
            self.linear: nn.Module = nn.Linear(2 * n_frequencies, embedding_dim)
            if generator is not None:
                bound = 1.0 / math.sqrt(2 * n_frequencies)
                with torch.no_grad():
                    self.linear.weight.uniform_(-bound, bound, generator=generator)
                    self.linear.bias.uniform_(-bound, bound, generator=generator)
        else:
            self.linear = _PerFeatureLinear(n_features, 2 * n_frequencies, embedding_dim,
                                            generator)
        self.activation = nn.ReLU() if activation else nn.Identity()

    def periodic(self, x: torch.Tensor) -> torch.Tensor:
        """Compute the periodic part: cosines, then sines, of ``2 pi c x``.

        Parameters
        ----------
        x : torch.Tensor of shape (n, n_features)
            The input batch.

        Returns
        -------
        torch.Tensor of shape (n, n_features, 2 * n_frequencies)
            The output batch.
        """
        _check_input(x, self.n_features, type(self).__name__)
        angles = 2 * math.pi * self.frequencies * x.unsqueeze(-1)
        return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed every feature and lay the vectors side by side.

        Parameters
        ----------
        x : torch.Tensor of shape (n, n_features)
            The input batch.

        Returns
        -------
        torch.Tensor of shape (n, n_features * embedding_dim)
            The output batch.
        """
        return self.activation(self.linear(self.periodic(x))).flatten(1)


class PiecewiseLinearEmbedding(nn.Module):
    """Piecewise-linear encoding on quantile bins, fitted with :meth:`fit`.

    For bin ``t`` with edges ``b[t] < b[t+1]`` the code is
    ``(x - b[t]) / (b[t+1] - b[t])`` clipped to [0, 1], except that the first
    bin is not clipped below and the last not above, so values outside the
    training range stay distinguishable. A feature with fewer distinct
    quantiles than ``n_bins`` uses fewer bins; its unused codes are 0.

    Parameters
    ----------
    n_features : int
        Number of numeric input columns ``d``.
    n_bins : int, default=48
        Most bins per feature (quantiles of the training data).
    embedding_dim : int or None, default=None
        If given, a linear layer per feature maps the ``n_bins`` codes to this
        size; if None, the codes themselves are the output.
    activation : bool, default=False
        Apply a ReLU after the linear layer (only with ``embedding_dim``).
    generator : torch.Generator, optional
        Source of the linear layer's initial values.

    Attributes
    ----------
    left, width : buffers of shape (n_features, n_bins)
        Left edge and width of each bin.
    lower, upper : buffers of shape (n_features, n_bins)
        Clipping range of each bin's code (``-inf``/``inf`` at the ends).
    used : buffer of shape (n_features, n_bins)
        1 for a bin in use, 0 for padding.
    out_features : int
    """

    def __init__(
        self,
        n_features: int,
        *,
        n_bins: int = 48,
        embedding_dim: int | None = None,
        activation: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        _positive_int("n_features", n_features)
        _positive_int("n_bins", n_bins)
        if embedding_dim is not None:
            _positive_int("embedding_dim", embedding_dim)
        elif activation:
            raise ValueError("activation=True needs an embedding_dim (a linear layer to follow).")
        self.n_features, self.n_bins = n_features, n_bins
        for name in ("left", "width", "lower", "upper", "used"):
            self.register_buffer(name, torch.zeros(n_features, n_bins))
        self.register_buffer("fitted", torch.tensor(False))
        self.linear = (
            _PerFeatureLinear(n_features, n_bins, embedding_dim, generator)
            if embedding_dim is not None else None
        )
        self.activation = nn.ReLU() if activation else nn.Identity()
        self.out_features = n_features * (embedding_dim or n_bins)

    def fit(self, X: np.ndarray | torch.Tensor) -> PiecewiseLinearEmbedding:
        """Place the bin edges at quantiles of the training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; NaN are ignored.

        Returns
        -------
        PiecewiseLinearEmbedding
            This module, fitted.
        """
        X = as_float_array(X)
        if X.shape[1] != self.n_features:
            raise ValueError(f"X has {X.shape[1]} columns, expected {self.n_features}.")
        left = np.zeros((self.n_features, self.n_bins))
        width = np.ones_like(left)
        lower = np.zeros_like(left)
        upper = np.ones_like(left)
        used = np.zeros_like(left)
        levels = np.linspace(0.0, 1.0, self.n_bins + 1)
        for j, column in enumerate(X.T):
            observed = column[~np.isnan(column)]
            if observed.size == 0:
                raise ValueError(f"Column {j} has no observed value to place bins on.")
            edges = np.unique(np.quantile(observed, levels))
            if edges.size == 1:  # a constant column: one bin of width 1 from its value
                edges = np.array([edges[0], edges[0] + 1.0])
            n_used = edges.size - 1
            left[j, :n_used] = edges[:-1]
            width[j, :n_used] = np.diff(edges)
            used[j, :n_used] = 1.0
            lower[j, 0] = -np.inf
            upper[j, n_used - 1] = np.inf
        for name, value in (("left", left), ("width", width), ("lower", lower),
                            ("upper", upper), ("used", used)):
            getattr(self, name).copy_(torch.from_numpy(value))
        self.fitted.fill_(True)
        return self

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Compute the piecewise-linear codes of every feature.

        Parameters
        ----------
        x : torch.Tensor of shape (n, n_features)
            The input batch.

        Returns
        -------
        torch.Tensor of shape (n, n_features, n_bins)
            The output batch.
        """
        if not self.fitted:
            raise ValueError("PiecewiseLinearEmbedding must be fitted (call fit(X)) before use.")
        _check_input(x, self.n_features, type(self).__name__)
        ramp = (x.unsqueeze(-1) - self.left) / self.width
        return torch.clamp(ramp, min=self.lower, max=self.upper) * self.used

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode every feature (then its linear layer, if any), side by side.

        Parameters
        ----------
        x : torch.Tensor of shape (n, n_features)
            The input batch.

        Returns
        -------
        torch.Tensor of shape (n, out_features)
            The output batch.
        """
        codes = self.encode(x)
        if self.linear is not None:
            codes = self.activation(self.linear(codes))
        return codes.flatten(1)


def _periodic(
    X: np.ndarray | torch.Tensor,
    n_frequencies: int = 48,
    embedding_dim: int = 24,
    sigma: float = 0.01,
    lite: bool = False,
    activation: bool = True,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Periodic embedding sized for the columns of ``X``."""
    return PeriodicEmbedding(
        as_float_array(X).shape[1], n_frequencies=n_frequencies, embedding_dim=embedding_dim,
        sigma=sigma, lite=lite, activation=activation, generator=generator,
    )


def _piecewise_linear(
    X: np.ndarray | torch.Tensor,
    n_bins: int = 48,
    embedding_dim: int | None = None,
    activation: bool = False,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Piecewise-linear embedding with bins fitted on ``X``."""
    X = as_float_array(X)
    return PiecewiseLinearEmbedding(
        X.shape[1], n_bins=n_bins, embedding_dim=embedding_dim, activation=activation,
        generator=generator,
    ).fit(X)


NUMERIC_EMBEDDINGS = Registry("num_embedding")
NUMERIC_EMBEDDINGS.add(
    "periodic", _periodic, "cos/sin of trainable frequencies, then linear + ReLU per feature (PLR)"
)
NUMERIC_EMBEDDINGS.add(
    "piecewise_linear", _piecewise_linear, "piecewise-linear codes on quantile bins (PLE)"
)
