"""Tables as the network reads them: numeric columns as float32 values, categories as codes.

An estimator with a ``categorical_features`` hyperparameter reads pandas
DataFrames with categorical columns (and arrays with columns named
categorical) directly: the categories of each such column are learned by the
first fit (:class:`~skdnn.components.categorical.CategoryCodes`, kept as
``categories_``) and every later call maps values to their codes (0 for a
missing or unseen value). The numeric columns keep their values, NaN for a
missing one; the network's :class:`~skdnn.components.table_input.TableInput`
imputes, scales and encodes them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_array, validate_data

from skdnn.components.categorical import CategoryCodes

#: pandas dtype kinds read as categorical by ``categorical_features="from_dtype"``.
_CATEGORICAL_KINDS = ("O", "U", "S")


def categorical_mask(categorical_features: Any, X: Any, n_features: int) -> np.ndarray | None:
    """Which columns of ``X`` are categorical, as a boolean mask, or None for none.

    Parameters
    ----------
    categorical_features : "from_dtype", array-like or None
        ``"from_dtype"``: the columns of a DataFrame whose dtype is
        ``category``, ``object`` or ``string``; an array-like of column
        indices, of column names (for a DataFrame) or a boolean mask; None:
        no categorical column.
    X : array-like
        The training data.
    n_features : int
        Columns of ``X``.

    Returns
    -------
    ndarray of bool of shape (n_features,) or None
    """
    if categorical_features is None:
        return None
    if isinstance(categorical_features, str):  # "from_dtype" (the only string the table allows)
        dtypes = getattr(X, "dtypes", None)
        if dtypes is None or not hasattr(dtypes, "items"):
            return None
        mask = np.array([_is_categorical_dtype(kind) for _, kind in dtypes.items()], dtype=bool)
        return mask if mask.any() else None
    chosen = np.asarray(categorical_features)
    if chosen.size == 0:
        return None
    if chosen.dtype == bool:
        if chosen.shape != (n_features,):
            raise ValueError(
                f"categorical_features as a boolean mask needs one entry per column of X "
                f"({n_features}), got shape {chosen.shape}."
            )
        return chosen if chosen.any() else None
    mask = np.zeros(n_features, dtype=bool)
    mask[_column_indices(chosen.ravel(), X, n_features)] = True
    return mask


def _is_categorical_dtype(kind: Any) -> bool:
    return str(kind) in ("category", "string") or getattr(kind, "kind", "O") in _CATEGORICAL_KINDS


def _column_indices(chosen: np.ndarray, X: Any, n_features: int) -> list[int]:
    columns = getattr(X, "columns", None)
    indices = []
    for value in chosen.tolist():
        if isinstance(value, str):
            if columns is None or value not in list(columns):
                raise ValueError(
                    f"categorical_features names the column {value!r}, which X does not have"
                    + ("" if columns is None else " (names are matched against X.columns)")
                    + "."
                )
            indices.append(list(columns).index(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            if not -n_features <= value < n_features:
                raise ValueError(
                    f"categorical_features has the index {value}, but X has {n_features} columns."
                )
            indices.append(value % n_features)
        else:
            raise ValueError(
                "categorical_features must be 'from_dtype', None, or column indices, names or "
                f"a boolean mask; got the entry {value!r}."
            )
    return indices


@contextlib.contextmanager
def naming_non_numeric_columns(X, *, reads_tables: bool = True) -> Iterator[None]:
    """Turn a failed conversion of a DataFrame into a ``ValueError`` naming its non-numeric columns.

    Strings, categories and dates need encoding first; numpy's own error
    ("could not convert string to float") names neither the column nor the remedy.
    ``reads_tables``: whether the estimator has ``categorical_features`` to suggest.
    """
    try:
        yield
    except (ValueError, TypeError) as error:
        dtypes = getattr(X, "dtypes", None)
        if hasattr(dtypes, "items"):  # a DataFrame: by dtype
            other = [str(name) for name, kind in dtypes.items()
                     if getattr(kind, "kind", "O") not in "biuf"]
        elif (isinstance(error, ValueError) and isinstance(X, np.ndarray)
              and X.dtype == object and X.ndim == 2):  # strings in an object array
            other = [j for j, column in enumerate(X.T) if not _numeric(column)]
        else:
            raise
        if not other:
            raise
        declare = "Declare them with categorical_features, or encode" if reads_tables else (
            "DNNClassifier and DNNRegressor encode such columns themselves; here, encode")
        raise ValueError(
            f"X has non-numeric columns: {other[:10]}{' ...' if len(other) > 10 else ''}. "
            f"{declare} them first, e.g. with sklearn.preprocessing.OneHotEncoder in a "
            "sklearn.compose.ColumnTransformer."
        ) from error


def _numeric(column: np.ndarray) -> bool:
    try:
        column.astype(np.float64)
    except (ValueError, TypeError):
        return False
    return True


def encode_table(estimator: Any, X: Any, *, reset: bool) -> np.ndarray | None:
    """``X`` as a float32 matrix with category codes, or None when it has no categorical column.

    With ``reset`` (a first fit) the categorical columns are chosen by the
    estimator's ``categorical_features`` and their categories learned; the
    estimator gets ``is_categorical_`` (None when there are none) and
    ``categories_`` (one list per categorical column, in code order).

    Parameters
    ----------
    estimator : estimator
        An estimator with a ``categorical_features`` hyperparameter.
    X : array-like of shape (n_samples, n_features)
        Inputs (a pandas DataFrame keeps its column names).
    reset : bool
        Whether this is a first fit.

    Returns
    -------
    ndarray of float32 of shape (n_samples, n_features) or None
    """
    if reset:
        shape = getattr(X, "shape", None)
        n_features = shape[1] if shape is not None and len(shape) == 2 else None
        mask = None if n_features is None else categorical_mask(
            estimator.categorical_features, X, n_features
        )
        estimator.is_categorical_ = mask
        estimator.__dict__.pop("categories_", None)
    else:
        mask = getattr(estimator, "is_categorical_", None)
    if mask is None:
        return None
    validate_data(estimator, X, reset=reset, skip_check_array=True)  # names, column count
    frame = X if hasattr(X, "iloc") else None
    if sp.issparse(X):
        X = X.toarray()
    values = None if frame is not None else np.asarray(X, dtype=object)
    numeric = np.flatnonzero(~mask)

    def columns(index: np.ndarray) -> Any:
        return frame.iloc[:, index] if frame is not None else values[:, index]

    numeric_columns = columns(numeric)
    with naming_non_numeric_columns(numeric_columns):
        numbers = check_array(
            numeric_columns, dtype=np.float32, ensure_all_finite="allow-nan",
            ensure_min_features=0, input_name="X", estimator=estimator,
        ) if numeric.size else None
    categorical = np.asarray(columns(np.flatnonzero(mask)), dtype=object)
    if reset:
        codes = CategoryCodes().fit(categorical)
        estimator.categories_ = codes.categories_
    else:
        codes = CategoryCodes(estimator.categories_).fit(categorical[:0])
    encoded = np.empty(categorical.shape[:1] + mask.shape, dtype=np.float32)
    if numbers is not None:
        encoded[:, numeric] = numbers
    encoded[:, mask] = codes.transform(categorical)
    if not len(encoded):
        raise ValueError("X has no rows; at least one is needed.")
    return encoded


def missing_columns(X: np.ndarray) -> np.ndarray:
    """Which columns of the validated ``X`` (dense or sparse) hold a NaN (one pass, no copy)."""
    return np.isnan(np.asarray(X.sum(axis=0, dtype=np.float64)).ravel())
