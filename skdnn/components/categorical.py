"""Categorical columns: integer codes fitted on the training data, then one-hot or embeddings.

:class:`CategoryCodes` maps each categorical column's values to codes
``1..K`` (the categories seen in training, sorted); a missing value (None, NaN,
``pd.NA``) and a category not seen in training both map to the extra code 0.
:class:`CategoricalEmbedding` turns the codes of every column into a vector:
one-hot for columns with few categories, a trainable embedding table for the
others. Code 0 has its own one-hot position and its own embedding row, which
starts at zero (a neutral input for an unseen category) and is trained like
any other row where training data has missing values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from skdnn.components._registry import Registry

MISSING_CODE = 0


def is_missing(value: Any) -> bool:
    """Tell whether ``value`` marks a missing value: None, a NaN, ``pd.NA`` or ``NaT``.

    Parameters
    ----------
    value : object
        One cell of a column.

    Returns
    -------
    bool
        True for a missing marker.
    """
    if value is None:
        return True
    try:
        return bool(value != value)
    except TypeError:  # pd.NA refuses to be a boolean
        return True


def _sorted_categories(values: Sequence[Any]) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:  # mixed types: order by type name, then by text
        return sorted(values, key=lambda v: (type(v).__name__, repr(v)))


def _as_columns(X: Any) -> np.ndarray:
    array = np.asarray(X, dtype=object)
    if array.ndim != 2:
        raise ValueError(
            f"Categorical data must be 2-D (samples, columns), got shape {array.shape}."
        )
    return array


class CategoryCodes:
    """Integer codes per categorical column, fitted on training data.

    Parameters
    ----------
    categories : sequence of sequences, optional
        The categories of each column, in code order; by default the sorted
        distinct non-missing values seen by :meth:`fit`.

    Attributes
    ----------
    categories_ : list of lists
        Categories of each column; category ``categories_[j][i]`` has code ``i + 1``.
    cardinalities_ : list of int
        Number of categories per column (code 0 not counted).
    """

    def __init__(self, categories: Sequence[Sequence[Any]] | None = None) -> None:
        self.categories = categories

    def fit(self, X: Any) -> CategoryCodes:
        """Learn the categories of each column.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_columns)
            Training data (a DataFrame or an object array); missing values are
            not categories.

        Returns
        -------
        CategoryCodes
            This encoder, fitted.
        """
        columns = _as_columns(X).T
        if self.categories is not None:
            if len(self.categories) != len(columns):
                raise ValueError(
                    f"categories has {len(self.categories)} entries for {len(columns)} columns."
                )
            categories = [list(c) for c in self.categories]
            for j, column_categories in enumerate(categories):
                if len(set(column_categories)) != len(column_categories):
                    raise ValueError(f"categories of column {j} repeat a value.")
        else:
            categories = [
                _sorted_categories({v for v in column if not is_missing(v)}) for column in columns
            ]
        self.categories_ = categories
        self.cardinalities_ = [len(c) for c in categories]
        self._lookup = [{v: i + 1 for i, v in enumerate(c)} for c in categories]
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Map values to codes: 1..K for known categories, 0 for missing or unseen.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_columns)
            Data with the columns seen by :meth:`fit`.

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_columns)
            The codes, int64.
        """
        if not hasattr(self, "categories_"):
            raise ValueError("CategoryCodes must be fitted (call fit(X)) before transform.")
        columns = _as_columns(X).T
        if len(columns) != len(self._lookup):
            raise ValueError(f"X has {len(columns)} columns, expected {len(self._lookup)}.")
        codes = np.zeros((columns.shape[1], len(columns)), dtype=np.int64)
        for j, (column, lookup) in enumerate(zip(columns, self._lookup, strict=True)):
            codes[:, j] = [
                MISSING_CODE if is_missing(v) else lookup.get(v, MISSING_CODE) for v in column
            ]
        return codes

    def fit_transform(self, X: Any) -> np.ndarray:
        """Fit on ``X``, then transform it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_columns)
            Training data.

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_columns)
            The codes, int64.
        """
        return self.fit(X).transform(X)


class CategoricalEmbedding(nn.Module):
    """One-hot codes for small categorical columns, embedding tables for the others.

    Parameters
    ----------
    cardinalities : sequence of int
        Number of categories of each column (as ``CategoryCodes.cardinalities_``);
        each column's codes run from 0 (missing/unseen) to its cardinality.
    embedding_dim : int, default=8
        Size of the vector of each embedded column.
    one_hot_max_cardinality : int, default=8
        Columns with at most this many categories are one-hot encoded (with one
        position more, for code 0); the others are embedded. 0 embeds every
        column.
    generator : torch.Generator, optional
        Source of the initial embedding values (standard normal; row 0 is zero).

    Attributes
    ----------
    one_hot_columns, embedded_columns : list of int
        Which columns take which path.
    out_features : int
        Width of the output.
    """

    def __init__(
        self,
        cardinalities: Sequence[int],
        *,
        embedding_dim: int = 8,
        one_hot_max_cardinality: int = 8,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        cardinalities = list(cardinalities)
        if not cardinalities:
            raise ValueError("CategoricalEmbedding needs at least one column.")
        for value in cardinalities:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"cardinalities must be integers >= 0, got {cardinalities}.")
        if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, int) \
                or embedding_dim < 1:
            raise ValueError(f"embedding_dim must be a positive integer, got {embedding_dim!r}.")
        if not isinstance(one_hot_max_cardinality, int) or one_hot_max_cardinality < 0:
            raise ValueError(
                f"one_hot_max_cardinality must be an integer >= 0, got {one_hot_max_cardinality!r}."
            )
        self.cardinalities = cardinalities
        self.one_hot_columns = [j for j, k in enumerate(cardinalities)
                                if k <= one_hot_max_cardinality]
        self.embedded_columns = [j for j, k in enumerate(cardinalities)
                                 if k > one_hot_max_cardinality]
        self.embeddings = nn.ModuleList()
        for j in self.embedded_columns:
            table = nn.Embedding(cardinalities[j] + 1, embedding_dim)
            with torch.no_grad():
                table.weight.normal_(generator=generator)
                table.weight[MISSING_CODE].zero_()
            self.embeddings.append(table)
        self.register_buffer("_reference", torch.zeros(0), persistent=False)  # dtype, device
        self.register_buffer(
            "max_codes", torch.tensor(cardinalities, dtype=torch.long), persistent=False
        )
        # All one-hot columns are written by one scatter: column j's codes land at
        # its offset, the positions before it holding the earlier columns' codes.
        widths = [cardinalities[j] + 1 for j in self.one_hot_columns]
        self.register_buffer(
            "one_hot_index", torch.tensor(self.one_hot_columns, dtype=torch.long), persistent=False
        )
        self.register_buffer(
            "one_hot_offsets", torch.tensor(np.cumsum([0, *widths])[:-1], dtype=torch.long),
            persistent=False,
        )
        self.one_hot_width = sum(widths)
        self.out_features = (sum(cardinalities[j] + 1 for j in self.one_hot_columns)
                             + embedding_dim * len(self.embedded_columns))

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """Encode the codes of every column and lay the vectors side by side.

        Parameters
        ----------
        codes : torch.Tensor of shape (n, n_columns)
            Integer codes (as from :meth:`CategoryCodes.transform`).

        Returns
        -------
        torch.Tensor of shape (n, out_features)
            One-hot columns first, then embedded columns.
        """
        n_columns = len(self.cardinalities)
        if codes.dim() != 2 or codes.shape[1] != n_columns:
            raise ValueError(
                f"Expected codes of shape (n, {n_columns}), got {tuple(codes.shape)}."
            )
        if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
            raise ValueError(f"Category codes must be integers, got {codes.dtype}.")
        codes = codes.long()
        if codes.numel() and ((codes < 0) | (codes > self.max_codes)).any():
            raise ValueError(
                f"Category codes out of range: column j takes codes 0..{self.cardinalities}[j]."
            )
        parts = []
        if self.one_hot_columns:
            positions = codes.index_select(1, self.one_hot_index) + self.one_hot_offsets
            one_hot = torch.zeros(len(codes), self.one_hot_width, dtype=self._reference.dtype,
                                  device=codes.device)
            parts.append(one_hot.scatter_(1, positions, 1.0))
        parts += [table(codes[:, j]) for j, table in zip(self.embedded_columns, self.embeddings,
                                                          strict=True)]
        return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]

    def extra_repr(self) -> str:
        """Settings shown by ``repr``."""
        return (f"cardinalities={self.cardinalities}, one_hot={self.one_hot_columns}, "
                f"embedded={self.embedded_columns}, out_features={self.out_features}")


def _auto(cardinalities: Sequence[int], embedding_dim: int = 8, one_hot_max_cardinality: int = 8,
          generator: torch.Generator | None = None) -> nn.Module:
    """One-hot up to ``one_hot_max_cardinality`` categories, embeddings above."""
    return CategoricalEmbedding(cardinalities, embedding_dim=embedding_dim,
                                one_hot_max_cardinality=one_hot_max_cardinality,
                                generator=generator)


def _one_hot(cardinalities: Sequence[int]) -> nn.Module:
    """One-hot for every column."""
    largest = max(cardinalities, default=0)
    return CategoricalEmbedding(cardinalities, one_hot_max_cardinality=largest)


def _embedding(cardinalities: Sequence[int], embedding_dim: int = 8,
               generator: torch.Generator | None = None) -> nn.Module:
    """An embedding table for every column."""
    return CategoricalEmbedding(cardinalities, embedding_dim=embedding_dim,
                                one_hot_max_cardinality=0, generator=generator)


CATEGORICAL_ENCODINGS = Registry("categorical_encoding")
CATEGORICAL_ENCODINGS.add("auto", _auto, "one-hot for few categories, embeddings for many")
CATEGORICAL_ENCODINGS.add("one_hot", _one_hot, "one-hot for every column (one extra for missing)")
CATEGORICAL_ENCODINGS.add("embedding", _embedding, "a trainable embedding table per column")
