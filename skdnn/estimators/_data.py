"""Feature validation, row weights, the validation split and the move to the device."""

from __future__ import annotations

import mmap
import warnings

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.model_selection import train_test_split
from sklearn.utils import check_consistent_length
from sklearn.utils.validation import assert_all_finite, check_array, column_or_1d, validate_data

from skdnn.estimators._columns import encode_table, missing_columns, naming_non_numeric_columns
from skdnn.estimators._sklearn_compat import check_sample_weight
from skdnn.exceptions import SkdnnWarning
from skdnn.training.data import Dataset, IndexedRows, StreamedRows


def check_features(estimator, X, *, reset: bool, keep_sparse: bool = False) -> np.ndarray:
    """Validate ``X`` as a 2-D float32 array (sparse input is densified unless ``keep_sparse``).

    With ``keep_sparse`` a sparse ``X`` comes back as a float32 CSR matrix (the
    training data: :func:`to_dataset` densifies it batch by batch).

    An estimator that reads tables (it has ``categorical_features``) also
    takes categorical columns, encoded as codes (:func:`._columns.encode_table`),
    and missing values (NaN) in numeric columns where its network imputes them;
    for the others every value must be finite.
    """
    if not reset:
        plain = _plain_features(estimator, X)
        if plain is not None:
            return plain
    reads_tables = hasattr(estimator, "categorical_features")
    encoded = encode_table(estimator, X, reset=reset) if reads_tables else None
    if encoded is None:
        with naming_non_numeric_columns(X, reads_tables=reads_tables):
            encoded = validate_data(
                estimator, X, reset=reset, dtype=np.float32, accept_sparse=("csr", "csc", "coo"),
                ensure_all_finite="allow-nan" if reads_tables else True,
            )
        encoded = encoded.tocsr() if keep_sparse and sp.issparse(encoded) else as_dense_features(
            encoded)
    if reads_tables:
        _check_missing_values(estimator, encoded, reset=reset)
    return encoded


def check_features_and_target(
    estimator, X, y, *, reset: bool, multi_output: bool = False, y_numeric: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`check_features` for ``X`` (sparse kept), and ``y`` checked as ``check_X_y`` does.

    ``y`` must be given, finite and as long as ``X``; 1-D (a column vector is
    raveled with a warning) unless ``multi_output``; with ``y_numeric`` an
    object ``y`` is converted to float64.
    """
    if y is None:
        raise ValueError(
            f"This {type(estimator).__name__} estimator requires y to be passed, but the "
            "target y is None."
        )
    X = check_features(estimator, X, reset=reset, keep_sparse=True)
    if multi_output:
        y = check_array(y, ensure_2d=False, dtype=None, input_name="y", estimator=estimator)
    else:
        y = column_or_1d(y, warn=True)
        assert_all_finite(y, input_name="y", estimator_name=type(estimator).__name__)
    if y_numeric and y.dtype.kind == "O":
        y = y.astype(np.float64)
    check_consistent_length(X, y)
    return X, y


def _check_missing_values(estimator, X: np.ndarray, *, reset: bool) -> None:
    """Note the columns with NaN at a first fit; refuse NaN a fitted network cannot impute."""
    missing = missing_columns(X)
    if reset:
        estimator._missing_features = missing
        # Known before the network is built, for the validation rows of this fit.
        estimator._imputes_missing = estimator._table_spec() is not None
        return
    imputes = estimator.__dict__.get("_imputes_missing")
    if imputes is None:  # a loaded model: its network says
        spec = getattr(estimator, "network_spec_", None)
        imputes = spec is not None and spec.table is not None
    if missing.any() and not imputes:
        raise ValueError(
            f"X has missing values (NaN) in {int(missing.sum())} column(s), but this model "
            "was trained without missing values, scaling or categorical columns, so its "
            "network has no imputation: impute X first (e.g. sklearn.impute.SimpleImputer), "
            "or refit with missing values in the training data or with input_scaling set."
        )


def _plain_features(estimator, X) -> np.ndarray | None:
    """``X`` as float32 when ``validate_data`` would accept it without a word, else None.

    The fast path of prediction (``validate_data`` alone takes ~50 us): a plain
    2-D float ndarray with at least one row, the fitted number of columns and
    values finite in float32, for an estimator fitted without feature names.
    Anything else (None) goes through ``validate_data``, which also raises the
    errors (a float64 value too large for float32 included).
    """
    if (
        type(X) is not np.ndarray
        or X.ndim != 2
        or X.dtype not in (np.float32, np.float64)
        or X.shape[0] < 1
        or X.shape[1] != getattr(estimator, "n_features_in_", None)
        or hasattr(estimator, "feature_names_in_")
        or getattr(estimator, "is_categorical_", None) is not None
    ):
        return None
    # A float64 value beyond float32 becomes inf here. A finite sum means finite
    # values (NaN and inf propagate); a float32 sum of finite values that
    # overflows only sends X the long way, which checks each value.
    with np.errstate(over="ignore", invalid="ignore"):
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        finite = np.isfinite(X32.sum())
    return X32 if finite else None


def as_dense_features(X) -> np.ndarray:
    """``X`` (validated) as a C-contiguous dense float32 array."""
    if sp.issparse(X):
        X = X.toarray()
    return np.ascontiguousarray(X, dtype=np.float32)


def row_weights(X: np.ndarray, sample_weight, per_class: np.ndarray | None) -> np.ndarray | None:
    """Per-row loss weights from ``sample_weight`` and per-row class weights, or None.

    The weights are normalised to mean 1 so that weighting changes the balance
    between rows, not the effective learning rate.
    """
    if sample_weight is None and per_class is None:
        return None
    weight = check_sample_weight(sample_weight, X, dtype=np.float64)
    # A negative weight would maximize its rows' loss, which has no bound.
    if (weight < 0).any():
        raise ValueError("sample_weight must be non-negative; it has negative values.")
    if per_class is not None:
        if (per_class < 0).any():
            raise ValueError("class_weight must be non-negative; it has negative values.")
        weight = weight * per_class
    total = weight.sum()
    if total <= 0:
        raise ValueError("sample_weight must contain at least one positive weight.")
    return (weight * (len(weight) / total)).astype(np.float32)


def unpack_validation_data(validation_data) -> tuple:
    """``(X_val, y_val)`` from ``fit``'s ``validation_data``, or a ``ValueError``."""
    if not isinstance(validation_data, tuple | list) or len(validation_data) != 2:
        raise ValueError("validation_data must be a tuple (X_val, y_val).")
    return validation_data[0], validation_data[1]


def split_validation(
    y: np.ndarray, fraction: float, seed: int, *, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray] | None:
    """Indices of a (stratified when possible) train/validation split, or None.

    With ``stratify``, the split keeps the share of each value of ``y`` (the
    encoded classes); stratification needs at least two rows of every class and
    a validation set with room for one row per class. Otherwise the validation
    rows are drawn at random among those whose class keeps a training row, so
    no class is lost to training. When no row can be held out (fewer than two
    rows, or a single row of each class) a warning says that early stopping is
    off and None is returned.
    """
    n_rows = len(y)
    n_val = max(1, int(np.ceil(fraction * n_rows)))
    spare = np.arange(0)  # rows that may be held out
    if n_val < n_rows:
        if stratify:
            _, classes, counts = np.unique(y, return_inverse=True, return_counts=True)
        if not stratify or (counts.min() >= 2 and len(counts) <= min(n_val, n_rows - n_val)):
            train, validation = train_test_split(
                np.arange(n_rows), test_size=n_val, stratify=y if stratify else None,
                random_state=seed,
            )
            return np.sort(train), np.sort(validation)
        # Too few rows to stratify: one row of each class, drawn at random, stays.
        order = np.random.RandomState(seed).permutation(n_rows)
        _, first = np.unique(classes[order], return_index=True)
        spare = np.delete(order, first)
    if not spare.size:
        warnings.warn(
            f"Early stopping holds out validation_fraction={fraction} of the training rows, "
            f"but {n_rows} row(s){' with a single row per class' if n_rows > 1 else ''} leave "
            "none to hold out: training on all of them without early stopping (set "
            "early_stopping=False to silence this, or pass validation_data).",
            SkdnnWarning,
            stacklevel=5,
        )
        return None
    validation = np.sort(spare[:n_val])
    return np.setdiff1d(np.arange(n_rows), validation), validation


def to_dataset(
    X: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray | None,
    device: torch.device,
    *,
    rows: np.ndarray | None = None,
) -> Dataset:
    """Move one split to ``device`` once; batches are sliced there afterwards.

    ``rows`` selects the split's rows of ``X``, ``y`` and ``weight`` (all rows
    when None). ``X`` itself is not copied where it can be read in place: on
    the CPU all rows share its memory and a split gathers its batches from it
    (:class:`~skdnn.training.data.IndexedRows`); a memory-mapped float32 ``X``
    (a ``numpy.memmap`` or a view of one) is read batch by batch
    (:class:`~skdnn.training.data.StreamedRows`), so that data larger than
    memory can be trained on; a sparse ``X`` stays sparse and each batch is made
    dense on its own. Pass ``rows`` rather than ``X[rows]`` to keep it so.
    Other devices get a copy of the split's rows.
    """
    if rows is not None:
        y = y[rows]
        weight = None if weight is None else weight[rows]
    inputs: torch.Tensor | StreamedRows | IndexedRows
    if sp.issparse(X) or (X.dtype == np.float32 and _memory_mapped(X)):
        inputs = StreamedRows(X, device, rows)
    elif torch.device(device).type == "cpu":
        inputs = shared_tensor(X)
        if rows is not None:
            inputs = IndexedRows(inputs, torch.from_numpy(np.asarray(rows, dtype=np.int64)))
    else:
        inputs = torch.from_numpy(X if rows is None else X[rows]).to(device)
    return Dataset(
        X=inputs,
        y=torch.from_numpy(y).to(device),
        weight=None if weight is None else torch.from_numpy(weight).to(device),
    )


def shared_tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor sharing ``array``'s memory, also when the array is read-only.

    skdnn never writes to its inputs, so torch's warning about non-writable
    arrays does not apply and is silenced.
    """
    if array.flags.writeable:  # the common case, without the cost of catch_warnings
        return torch.from_numpy(array)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)


def _memory_mapped(X: np.ndarray) -> bool:
    """Whether ``X`` reads its data from a memory-mapped file."""
    base = X
    while base is not None:
        if isinstance(base, np.memmap | mmap.mmap):
            return True
        base = getattr(base, "base", None)
    return False
