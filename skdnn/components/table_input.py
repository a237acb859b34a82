"""The first layer of a network on a table: numbers imputed, scaled, embedded; categories encoded.

:class:`TableInput` reads a float matrix whose numeric columns hold values (NaN
for a missing one) and whose categorical columns hold the integer codes of
:class:`~skdnn.components.categorical.CategoryCodes` (0: missing or unseen).
Per row it computes, side by side:

1. the numeric columns with each NaN replaced by the column's training median,
   then robust-scaled (and smoothly clipped) if asked
   (:class:`~skdnn.components.input_scaling.RobustScaleSmoothClip`), then
   embedded if asked (:mod:`~skdnn.components.numeric_embeddings`);
2. a 0/1 "was missing" column for each numeric column that had missing values
   in the training data;
3. the categorical columns one-hot encoded or embedded
   (:class:`~skdnn.components.categorical.CategoricalEmbedding`).

Its statistics (medians, scales, quantile bins) come from :meth:`TableInput.fit`
on the training rows and are buffers, so they travel with the ``state_dict``.
The layer is rebuilt from :attr:`TableInput.config` alone when a model file is
loaded (no code in the file).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from skdnn._utils.module_spec import register_layer
from skdnn.components._registry import check_keywords
from skdnn.components.categorical import CATEGORICAL_ENCODINGS
from skdnn.components.input_scaling import INPUT_SCALINGS, RobustScaleSmoothClip, as_float_array
from skdnn.components.numeric_embeddings import (
    NUMERIC_EMBEDDINGS,
    PeriodicEmbedding,
    PiecewiseLinearEmbedding,
)

#: Smooth-clipping bound of each ``input_scaling`` option (None: no clipping).
_CLIP_BOUNDS = {"robust_smooth_clip": 3.0, "robust": None}
#: The module of each ``numeric_embedding`` option.
_EMBEDDINGS: dict[str, type[nn.Module]] = {
    "periodic": PeriodicEmbedding,
    "piecewise_linear": PiecewiseLinearEmbedding,
}
#: Constructor arguments set by :class:`TableInput` itself, not by ``embedding_params``.
_RESERVED = ("n_features", "generator")


def check_embedding_params(embedding: str, params: Mapping[str, Any] | None) -> None:
    """Raise ``ValueError`` for keys of ``params`` that the ``embedding`` module does not take.

    Parameters
    ----------
    embedding : str
        A ``numeric_embedding`` option.
    params : mapping or None
        Its settings (``numeric_embedding_params``).
    """
    name = NUMERIC_EMBEDDINGS.canonical(embedding)
    check_keywords(
        _EMBEDDINGS[name], dict(params or {}), f"numeric_embedding_params of {name!r}",
        reserved=_RESERVED,
    )


class TableInput(nn.Module):
    """Impute, scale and embed the numeric columns; encode the categorical ones.

    Parameters
    ----------
    n_features : int
        Columns of the input matrix.
    categorical : sequence of int, default=()
        Indices of the columns holding category codes.
    cardinalities : sequence of int, default=()
        Categories of each categorical column (codes run from 0 to it).
    missing_indicators : sequence of int, default=()
        Indices of the numeric columns that get a 0/1 "was missing" column.
    scaling : {"robust_smooth_clip", "robust"} or None, default=None
        Scaling of the (imputed) numeric columns.
    embedding : {"periodic", "piecewise_linear"} or None, default=None
        Embedding of the (imputed, scaled) numeric columns.
    embedding_params : mapping, optional
        Settings of the embedding module (``n_bins``, ``embedding_dim``...).
    categorical_encoding : {"auto", "one_hot", "embedding"}, default="auto"
        Encoding of the categorical columns.
    generator : torch.Generator, optional
        Source of the initial values of trainable embeddings.

    Attributes
    ----------
    out_features : int
        Width of the output.
    config : dict
        The constructor arguments (JSON-friendly), to rebuild the layer.
    """

    def __init__(
        self,
        n_features: int,
        categorical: Sequence[int] = (),
        cardinalities: Sequence[int] = (),
        *,
        missing_indicators: Sequence[int] = (),
        scaling: str | None = None,
        embedding: str | None = None,
        embedding_params: Mapping[str, Any] | None = None,
        categorical_encoding: str = "auto",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        categorical = [int(j) for j in categorical]
        numeric = [j for j in range(n_features) if j not in set(categorical)]
        positions = {column: i for i, column in enumerate(numeric)}
        if len(cardinalities) != len(categorical):
            raise ValueError(
                f"{len(cardinalities)} cardinalities for {len(categorical)} categorical columns."
            )
        if any(j not in positions for j in missing_indicators):
            raise ValueError("missing_indicators must name numeric columns.")
        self.config = {
            "n_features": int(n_features), "categorical": categorical,
            "cardinalities": [int(k) for k in cardinalities],
            "missing_indicators": [int(j) for j in missing_indicators],
            "scaling": scaling, "embedding": embedding,
            "embedding_params": dict(embedding_params or {}),
            "categorical_encoding": categorical_encoding,
        }
        self.register_buffer("numeric_index", torch.tensor(numeric, dtype=torch.long),
                             persistent=False)
        self.register_buffer("categorical_index", torch.tensor(categorical, dtype=torch.long),
                             persistent=False)
        self.register_buffer(
            "missing_index", torch.tensor([positions[j] for j in missing_indicators],
                                          dtype=torch.long), persistent=False,
        )
        self.register_buffer("median", torch.zeros(len(numeric)))
        self.scaling = self._scaling(scaling, len(numeric))
        self.embedding = self._embedding(embedding, embedding_params, len(numeric), generator)
        self.categories = (
            CATEGORICAL_ENCODINGS.build(categorical_encoding, cardinalities=cardinalities,
                                        **self._generator_for(categorical_encoding, generator))
            if categorical else None
        )
        numeric_width = getattr(self.embedding, "out_features", len(numeric))
        self.out_features = (numeric_width + len(missing_indicators)
                             + (self.categories.out_features if self.categories else 0))

    @staticmethod
    def _scaling(scaling: str | None, n_numeric: int) -> nn.Module | None:
        if scaling is None or not n_numeric:
            return None
        clip = _CLIP_BOUNDS[INPUT_SCALINGS.canonical(scaling)]
        return RobustScaleSmoothClip(n_numeric, clip=clip)

    @staticmethod
    def _embedding(
        embedding: str | None, params: Mapping[str, Any] | None, n_numeric: int,
        generator: torch.Generator | None,
    ) -> nn.Module | None:
        if embedding is None or not n_numeric:
            return None
        check_embedding_params(embedding, params)
        module = _EMBEDDINGS[NUMERIC_EMBEDDINGS.canonical(embedding)]
        return module(n_numeric, **dict(params or {}), generator=generator)

    @staticmethod
    def _generator_for(encoding: str, generator: torch.Generator | None) -> dict[str, Any]:
        # One-hot codes have no weights to draw.
        return {} if CATEGORICAL_ENCODINGS.canonical(encoding) == "one_hot" else {
            "generator": generator
        }

    def fit(self, X: np.ndarray) -> TableInput:
        """Learn the medians, the scaling and the embedding's bins from the training rows.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Training rows, laid out as the input of :meth:`forward`.

        Returns
        -------
        TableInput
            This layer, fitted.
        """
        numeric = as_float_array(X)[:, self.numeric_index.cpu().numpy()]
        if not numeric.shape[1]:
            return self
        observed = ~np.isnan(numeric).all(axis=0)
        median = np.zeros(numeric.shape[1])
        median[observed] = np.nanmedian(numeric[:, observed], axis=0)
        self.median.copy_(torch.from_numpy(median))
        imputed = np.where(np.isnan(numeric), median, numeric)
        if self.scaling is not None:
            self.scaling.fit(imputed)
            with torch.no_grad():
                imputed = self.scaling(torch.from_numpy(imputed).float()).double().numpy()
        if hasattr(self.embedding, "fit"):
            self.embedding.fit(imputed)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode a batch of table rows.

        Parameters
        ----------
        x : torch.Tensor of shape (n, n_features)
            Numeric values (NaN for missing) and category codes.

        Returns
        -------
        torch.Tensor of shape (n, out_features)
            Numeric part, missing indicators, categorical part.
        """
        parts = []
        if self.numeric_index.numel():
            numbers = x.index_select(1, self.numeric_index)
            missing = torch.isnan(numbers)
            numbers = torch.where(missing, self.median.to(numbers.dtype), numbers)
            if self.scaling is not None:
                numbers = self.scaling(numbers)
            if self.embedding is not None:
                numbers = self.embedding(numbers)
            parts.append(numbers)
            if self.missing_index.numel():
                parts.append(missing.index_select(1, self.missing_index).to(numbers.dtype))
        if self.categories is not None:
            parts.append(self.categories(x.index_select(1, self.categorical_index).long())
                         .to(x.dtype))
        return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]

    def extra_repr(self) -> str:
        """Settings shown by ``repr``."""
        c = self.config
        return (f"numeric={len(self.numeric_index)}, categorical={len(c['categorical'])}, "
                f"missing_indicators={len(c['missing_indicators'])}, scaling={c['scaling']}, "
                f"embedding={c['embedding']}, out_features={self.out_features}")


register_layer(TableInput, lambda layer: layer.config)
