"""DNNClassifier: a deep feed-forward classifier with the chapter's techniques."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from skdnn._utils.device import resolve_device
from skdnn._utils.random import torch_generator
from skdnn.estimators._base import BaseDNN
from skdnn.estimators._data import (
    check_features,
    check_features_and_target,
    encode_labels,
    row_weights,
    split_validation,
    to_dataset,
)
from skdnn.estimators._params import CLASSIFIER_CONSTRAINTS, check_layer_sizes
from skdnn.estimators._sklearn_compat import _fit_context
from skdnn.estimators._tools import ModelToolsMixin
from skdnn.network import MLPSpec, build_mlp


class DNNClassifier(ClassifierMixin, ModelToolsMixin, BaseDNN):
    """Deep feed-forward neural network classifier on PyTorch.

    Every technique of the "Training Deep Neural Networks" chapter is a
    hyperparameter: initialization, non-saturating activations, batch or layer
    normalization, gradient clipping, fast optimizers, learning-rate schedules,
    l1/l2, dropout (also Monte-Carlo dropout), max-norm and early stopping.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100, 100, 100, 100, 100)
        Width of each hidden layer, bottom first.
    activation : str, default="elu"
        Hidden activation: "relu", "leaky_relu", "rrelu", "prelu", "elu", "selu",
        "tanh", "logistic" (alias "sigmoid"), "softplus", "gelu", "silu" (alias
        "swish"), "mish" or "identity".
    activation_params : dict, default=None
        Extra activation settings: ``alpha`` (leaky_relu slope, elu alpha),
        ``lower``/``upper`` (rrelu), ``init`` (prelu).
    kernel_initializer : str, default="auto"
        Initializer of the hidden kernels; "auto" picks by activation (Glorot for
        tanh/logistic/identity, He for the ReLU family and ELU/GELU/SiLU/Mish,
        LeCun for SELU).
    initializer_params : dict, default=None
        For "variance_scaling": ``scale``, ``mode``, ``distribution``.
    normalization : {"batch", "layer"} or None, default=None
        Normalization layer in every hidden block.
    normalization_position : {"before", "after"}, default="before"
        Place of the normalization relative to the activation; "before" drops
        the Linear bias under batch norm (the norm's shift replaces it).
    batch_norm_momentum : float, default=0.99
        Keras meaning: ``running = running * momentum + batch * (1 - momentum)``.
    input_normalization : bool, default=False
        Add a batch-norm layer on the raw inputs.
    dropout : float, default=0.0
        Dropout rate on the output of every hidden layer.
    input_dropout : float, default=0.0
        Dropout rate on the inputs.
    dropout_type : {"auto", "standard", "alpha"}, default="auto"
        "auto" uses alpha dropout with SELU (keeps self-normalization).
    mc_samples : int, default=0
        When positive, ``predict_proba`` averages this many Monte-Carlo dropout
        passes (only dropout is stochastic; batch norm stays in inference mode).
    l1, l2 : float, default=0.0
        Penalty factors on every kernel added to the loss.
    max_norm : float, default=None
        After each step, rescale every neuron's incoming weights to norm <= r.
    clip_value, clip_norm : float, default=None
        Gradient clipping by value / by global norm.
    early_stopping : bool, default=True
        Stop when the validation loss has not improved for ``patience`` epochs.
    validation_fraction : float, default=0.1
        Share of the training data held out (stratified) for early stopping when
        ``fit`` gets no ``validation_data``.
    patience : int, default=10
        Epochs without improvement before stopping.
    min_delta : float, default=1e-4
        Smallest decrease of the validation loss that counts as an improvement.
    restore_best_weights : bool, default=True
        With early stopping, end with the weights of the best epoch.
    augment : callable, default=None
        ``augment(X_batch, generator) -> X_batch`` applied to each training batch.
    optimizer : str, default="adam"
        "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamax",
        "nadam", "adamw" or "ftrl".
    learning_rate : float, default=1e-3
        Initial learning rate (eta0 of the schedules).
    momentum : float, default=0.9
        Momentum of "momentum" and "nesterov".
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of the Adam family.
    rho : float, default=0.9
        Decay rate of RMSProp.
    epsilon : float, default=1e-7
        Numerical-stability term of the adaptive optimizers.
    optimizer_params : dict, default=None
        Any other keyword of the chosen optimizer (e.g. ``weight_decay``).
    lr_schedule : str, default=None
        "power", "exponential", "piecewise", "performance", "1cycle" or "cosine".
    lr_schedule_params : dict, default=None
        Parameters of the schedule (see the user guide).
    batch_size : int, default=32
        Rows per gradient step.
    max_epochs : int, default=100
        Most passes over the training data per ``fit``.
    shuffle : bool, default=True
        Shuffle the rows every epoch.
    class_weight : dict, "balanced" or None, default=None
        Per-class loss weights.
    device : str, default="auto"
        "auto" (cuda, then mps, then cpu), "cpu", "cuda", "cuda:N" or "mps".
    mixed_precision : {"bf16", "fp16"} or None, default=None
        Train with autocast: matrix products in bfloat16 or float16, losses,
        weights and optimizer state in float32 (float16 adds loss scaling).
        Pays on GPUs with tensor cores; prediction stays in float32.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the split, shuffling and dropout through local
        generators; the global RNGs are never touched.
    warm_start : bool, default=False
        Continue from the fitted network, optimizer and schedule on ``fit``.
    verbose : int, default=0
        0 silent, 1 progress bar, 2 one line per epoch.
    checkpoint_dir : str or path, default=None
        Directory for checkpoints every ``checkpoint_every`` epochs.
    checkpoint_every : int, default=1
        Epochs between checkpoints.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.
    model_ : torch.nn.Sequential
        The trained network (emits logits).
    history_ : list of dict
        One record per epoch: ``epoch``, ``loss``, ``val_loss``, ``val_accuracy``,
        ``lr``, ``time``, ``grad_norms`` and ``unhealthy_fraction`` per hidden layer.
    n_epochs_ : int
        Epochs trained in total.
    best_epoch_ : int
        Epoch with the lowest monitored loss.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdnn import DNNClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = DNNClassifier(hidden_layer_sizes=(64,), max_epochs=5, random_state=0)
    >>> clf.fit(X / 16, y).score(X / 16, y) > 0.8
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseDNN._parameter_constraints,
        **CLASSIFIER_CONSTRAINTS,
    }

    def __init__(
        self,
        hidden_layer_sizes=(100, 100, 100, 100, 100),
        *,
        activation="elu",
        activation_params=None,
        kernel_initializer="auto",
        initializer_params=None,
        normalization=None,
        normalization_position="before",
        batch_norm_momentum=0.99,
        input_normalization=False,
        dropout=0.0,
        input_dropout=0.0,
        dropout_type="auto",
        mc_samples=0,
        l1=0.0,
        l2=0.0,
        max_norm=None,
        clip_value=None,
        clip_norm=None,
        early_stopping=True,
        validation_fraction=0.1,
        patience=10,
        min_delta=1e-4,
        restore_best_weights=True,
        augment=None,
        optimizer="adam",
        learning_rate=1e-3,
        momentum=0.9,
        beta_1=0.9,
        beta_2=0.999,
        rho=0.9,
        epsilon=1e-7,
        optimizer_params=None,
        lr_schedule=None,
        lr_schedule_params=None,
        batch_size=32,
        max_epochs=100,
        shuffle=True,
        class_weight=None,
        device="auto",
        mixed_precision=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        checkpoint_dir=None,
        checkpoint_every=1,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.activation_params = activation_params
        self.kernel_initializer = kernel_initializer
        self.initializer_params = initializer_params
        self.normalization = normalization
        self.normalization_position = normalization_position
        self.batch_norm_momentum = batch_norm_momentum
        self.input_normalization = input_normalization
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.dropout_type = dropout_type
        self.mc_samples = mc_samples
        self.l1 = l1
        self.l2 = l2
        self.max_norm = max_norm
        self.clip_value = clip_value
        self.clip_norm = clip_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best_weights = restore_best_weights
        self.augment = augment
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.rho = rho
        self.epsilon = epsilon
        self.optimizer_params = optimizer_params
        self.lr_schedule = lr_schedule
        self.lr_schedule_params = lr_schedule_params
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.shuffle = shuffle
        self.class_weight = class_weight
        self.device = device
        self.mixed_precision = mixed_precision
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, *, validation_data=None, sample_weight=None) -> DNNClassifier:
        """Train the network on ``(X, y)``.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Training inputs (pandas DataFrames keep their column names).
        y : array-like of shape (n_samples,)
            Class labels of any type scikit-learn accepts.
        validation_data : tuple (X_val, y_val), default=None
            Data for early stopping and the validation metrics; without it a
            stratified ``validation_fraction`` of ``X`` is held out.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-row loss weights.

        Returns
        -------
        self : DNNClassifier
            The fitted estimator.
        """
        continues = self._continues()
        try:
            return self._fit(X, y, validation_data, sample_weight, continues=continues)
        except BaseException:
            if not continues:
                self._clear_fitted_state()
            raise

    def _fit(self, X, y, validation_data, sample_weight, *, continues: bool) -> DNNClassifier:
        X, y = check_features_and_target(self, X, y, reset=not continues)
        classes = self.classes_ if continues else _unique_classes(y, type(self).__name__)
        targets = encode_labels(y, classes)
        weight = row_weights(X, y, sample_weight, self.class_weight)
        seeds = self._draw_seeds()
        device = resolve_device(self.device)
        train_rows, validation = self._validation_split(
            X, targets, weight, validation_data, classes, seeds.split, device
        )
        # ``rows`` rather than ``X[rows]``: a memory-mapped X is streamed, not copied.
        data = to_dataset(X, targets, weight, device, rows=train_rows)
        module = self.model_.to(device) if continues else self._build_module(len(classes), seeds)
        self.classes_ = classes
        self.model_ = module.to(device)
        self._run_training(
            self.model_,
            data,
            validation,
            epochs=self.max_epochs,
            early_stopping=self.early_stopping and validation is not None,
            seeds=seeds,
            device=device,
            continues=continues,
        )
        self.model_.eval()
        return self

    def _validation_split(self, X, targets, weight, validation_data, classes, seed, device):
        """Rows to train on and the validation ``Dataset`` (or None)."""
        all_rows = np.arange(len(targets))
        if validation_data is not None:
            X_val, y_val = _unpack_validation(validation_data)
            X_val, y_val = check_features_and_target(self, X_val, y_val, reset=False)
            return all_rows, to_dataset(X_val, encode_labels(y_val, classes), None, device)
        if not self.early_stopping:
            return all_rows, None
        split = split_validation(targets, self.validation_fraction, seed)
        if split is None:
            return all_rows, None
        train_rows, val_rows = split
        return train_rows, to_dataset(X, targets, weight, device, rows=val_rows)

    def partial_fit(self, X, y, classes=None, sample_weight=None) -> DNNClassifier:
        """Train for one epoch on ``(X, y)``, continuing from the current state.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,)
            Class labels.
        classes : array-like, default=None
            All classes that will ever appear; needed on the first call when a
            batch does not contain every class (defaults to the labels of ``y``).
        sample_weight : array-like of shape (n_samples,), default=None
            Per-row loss weights.

        Returns
        -------
        self : DNNClassifier
            The updated estimator.
        """
        first_call = not self.__sklearn_is_fitted__()
        if first_call:
            self._validate_params()
        X, y = check_features_and_target(self, X, y, reset=first_call)
        if first_call:
            labels = y if classes is None else np.asarray(classes)
            self.classes_ = _unique_classes(labels, type(self).__name__)
        targets = encode_labels(y, self.classes_)
        weight = row_weights(X, y, sample_weight, self.class_weight)
        seeds = self._draw_seeds()
        device = resolve_device(self.device)
        if first_call:
            self.model_ = self._build_module(len(self.classes_), seeds)
        self.model_.to(device)
        self._run_training(
            self.model_,
            to_dataset(X, targets, weight, device),
            None,
            epochs=1,
            early_stopping=False,
            seeds=seeds,
            device=device,
            continues=not first_call,
        )
        self.model_.eval()
        return self

    def _network_spec(self, n_outputs: int) -> MLPSpec:
        return MLPSpec(
            n_features=self.n_features_in_,
            hidden_layer_sizes=check_layer_sizes(self.hidden_layer_sizes),
            n_outputs=n_outputs,
            activation=self.activation,
            activation_params=dict(self.activation_params or {}),
            kernel_initializer=self.kernel_initializer,
            initializer_params=dict(self.initializer_params or {}),
            normalization=self.normalization,
            normalization_position=self.normalization_position,
            batch_norm_momentum=self.batch_norm_momentum,
            input_normalization=self.input_normalization,
            dropout=self.dropout,
            input_dropout=self.input_dropout,
            dropout_type=self.dropout_type,
        )

    def _build_module(self, n_outputs: int, seeds) -> torch.nn.Sequential:
        self.network_spec_ = self._network_spec(n_outputs)
        return build_mlp(self.network_spec_, generator=torch_generator(seeds.init))

    # ------------------------------------------------------------------ prediction
    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities for ``X`` (Monte-Carlo averaged when ``mc_samples > 0``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Probabilities in the order of ``classes_``.
        """
        if self.mc_samples > 0:
            return self.predict_proba_mc(X)[0]
        return torch.softmax(self._logits(X), dim=1).numpy()

    def predict_log_proba(self, X) -> np.ndarray:
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Log-probabilities in the order of ``classes_``.
        """
        if self.mc_samples > 0:
            with np.errstate(divide="ignore"):
                return np.log(self.predict_proba(X))
        return torch.log_softmax(self._logits(X), dim=1).numpy()

    def _logits(self, X) -> torch.Tensor:
        """Validated ``X`` through the fitted network: float64 logits on the CPU."""
        check_is_fitted(self)
        return self._forward(check_features(self, X, reset=False)).double()

    def predict(self, X) -> np.ndarray:
        """Most probable class of each row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        probabilities = self.predict_proba(X)
        return self.classes_[np.argmax(probabilities, axis=1)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _unique_classes(y: np.ndarray, owner: str) -> np.ndarray:
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(
            f"{owner} needs samples of at least 2 classes in the data, but the data "
            f"contains only one class: {classes[0]!r}."
            if len(classes)
            else f"{owner} got an empty target."
        )
    return classes


def _unpack_validation(validation_data) -> tuple[Any, Any]:
    if not isinstance(validation_data, tuple | list) or len(validation_data) != 2:
        raise ValueError("validation_data must be a tuple (X_val, y_val).")
    return validation_data[0], validation_data[1]
