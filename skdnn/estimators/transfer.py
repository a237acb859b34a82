"""Transfer estimators: a classifier or a regressor on the lower layers of a pretrained model."""

from __future__ import annotations

from typing import ClassVar

from skdnn.estimators._param_lists import (
    TRANSFER_HYPERPARAMETERS,
    TRANSFER_REGRESSOR_HYPERPARAMETERS,
)
from skdnn.estimators._params import Hyperparameter, store_parameters
from skdnn.estimators._transfer import TransferLayersMixin
from skdnn.estimators.classifier import DNNClassifier
from skdnn.estimators.regressor import DNNRegressor


class TransferDNNClassifier(TransferLayersMixin, DNNClassifier):
    """Deep classifier built on the lower layers of a pretrained model (transfer learning).

    The network is the input block and the lowest ``n_reused_layers`` hidden
    layers of ``pretrained`` (copied: the source is never modified), then the
    new hidden layers of ``hidden_layer_sizes``, built with this estimator's
    architecture hyperparameters, then a new output layer for the new classes.
    The lowest ``n_frozen_layers`` reused layers are frozen: their weights get
    no gradient, and they stay in inference mode (batch norm keeps its
    statistics, dropout is off). With ``cache_frozen`` their outputs are
    computed once per fit and the rest of the network trains on them: the
    same model, faster. ``unfreeze_after`` then lets backpropagation tweak the
    top frozen layers with a lower learning rate.

    ``clone`` (hence ``GridSearchCV``, ``cross_validate``...) keeps the
    ``pretrained`` object as it is instead of cloning it, so its weights
    survive. To search over several pretrained models, pass each one wrapped in
    ``sklearn.frozen.FrozenEstimator``: a search clones the values of its grid,
    and a plain clone of a fitted estimator has no weights. The parameters of
    the source itself are out of reach of ``set_params``. ``save`` keeps a
    ``pretrained`` path but stores an estimator or weights as None (with a
    warning): the saved network itself is complete.

    Parameters
    ----------
    <hyperparameters>

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of input features (the input width of ``pretrained``).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.
    model_ : FrozenPrefixSequential
        The whole network (reused layers, new layers, output; emits logits), so
        that ``predict`` takes raw inputs. Frozen blocks have
        ``requires_grad=False``.
    n_reused_layers_ : int
        Number of hidden layers taken from ``pretrained``.
    n_frozen_layers_ : int
        Number of hidden layers frozen at the end of fit (fewer than at the
        start after unfreezing).
    history_ : list of dict
        One record per epoch, as for ``DNNClassifier``; ``grad_norms`` (at the
        epoch's last batch) is 0.0 for frozen layers. One list through the
        unfreezing.
    n_epochs_ : int
        Epochs trained in total.
    best_epoch_ : int
        Epoch with the lowest monitored loss.

    See Also
    --------
    DNNClassifier : The same classifier trained from scratch.
    StackedAutoencoder : Unsupervised pretraining of the layers to reuse.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdnn import DNNClassifier, TransferDNNClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> low = y < 5
    >>> source = DNNClassifier((64, 64), max_epochs=10, random_state=0).fit(X[low], y[low])
    >>> clf = TransferDNNClassifier(source, max_epochs=20, random_state=0)
    >>> clf.fit(X[~low], y[~low]).score(X[~low], y[~low]) > 0.8
    True
    """

    _hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = TRANSFER_HYPERPARAMETERS

    def __init__(
        self,
        pretrained=None,
        hidden_layer_sizes=(),
        *,
        n_reused_layers=None,
        n_frozen_layers=None,
        cache_frozen=True,
        unfreeze_after=None,
        n_unfrozen=None,
        unfreeze_lr_factor=0.1,
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
        n_ensemble=1,
        ensemble_type="batch",
        l1=0.0,
        l2=0.0,
        max_norm=None,
        max_norm_output=False,
        clip_value=None,
        clip_norm=None,
        early_stopping=True,
        validation_fraction=0.1,
        patience=10,
        monitor="val_loss",
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
        label_smoothing=0.0,
        device="auto",
        mixed_precision=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        checkpoint_dir=None,
        checkpoint_every=1,
    ):
        store_parameters(self, locals())


class TransferDNNRegressor(TransferLayersMixin, DNNRegressor):
    """Deep regressor built on the lower layers of a pretrained model (transfer learning).

    What ``TransferDNNClassifier`` does, with the top of a ``DNNRegressor``:
    the input block and the lowest ``n_reused_layers`` hidden layers of
    ``pretrained`` (copied: the source is never modified), then the new hidden
    layers of ``hidden_layer_sizes``, then one linear output per target. The
    source may have been trained on another task: a classifier's layers can
    carry a regression, and a fitted ``DNNRegressor`` can be the source of a
    ``TransferDNNClassifier``. Freezing (``n_frozen_layers``), caching
    (``cache_frozen``) and scheduled unfreezing (``unfreeze_after``) work as
    for the classifier, and so do the clone and search guarantees: ``clone``
    passes ``pretrained`` on as it is, ``sklearn.frozen.FrozenEstimator``
    wraps sources searched over, and ``set_params`` cannot reach inside the
    source. Targets, losses, target scaling and ``predict(X, return_std=True)``
    are those of ``DNNRegressor``.

    Parameters
    ----------
    <hyperparameters>

    Attributes
    ----------
    n_outputs_ : int
        Number of targets (columns of ``y``).
    outputs_2d_ : bool
        Whether ``y`` was 2-D at fit; predictions take the same shape.
    target_offset_, target_scale_ : ndarray of shape (n_outputs_,)
        The network is trained on ``(y - target_offset_) / target_scale_``.
    n_features_in_ : int
        Number of input features (the input width of ``pretrained``).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.
    model_ : FrozenPrefixSequential
        The whole network (reused layers, new layers, linear output), so that
        ``predict`` takes raw inputs. Frozen blocks have ``requires_grad=False``.
    n_reused_layers_ : int
        Number of hidden layers taken from ``pretrained``.
    n_frozen_layers_ : int
        Number of hidden layers frozen at the end of fit.
    history_ : list of dict
        One record per epoch, as for ``DNNRegressor`` (``val_rmse``,
        ``val_r2``); ``grad_norms`` is 0.0 for frozen layers.
    n_epochs_ : int
        Epochs trained in total.
    best_epoch_ : int
        Epoch with the lowest monitored loss.

    See Also
    --------
    DNNRegressor : The same regressor trained from scratch.
    TransferDNNClassifier : The same transfer for classification.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdnn import DNNClassifier, TransferDNNRegressor
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> ink = X.sum(axis=1)
    >>> source = DNNClassifier((64, 64), max_epochs=10, random_state=0).fit(X, y)
    >>> reg = TransferDNNRegressor(source, n_frozen_layers=1, max_epochs=20, random_state=0)
    >>> reg.fit(X, ink).score(X, ink) > 0.8
    True
    """

    _hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = TRANSFER_REGRESSOR_HYPERPARAMETERS

    def __init__(
        self,
        pretrained=None,
        hidden_layer_sizes=(),
        *,
        n_reused_layers=None,
        n_frozen_layers=None,
        cache_frozen=True,
        unfreeze_after=None,
        n_unfrozen=None,
        unfreeze_lr_factor=0.1,
        loss='squared_error',
        huber_delta=1.0,
        target_scaling=True,
        activation='elu',
        activation_params=None,
        kernel_initializer='auto',
        initializer_params=None,
        normalization=None,
        normalization_position='before',
        batch_norm_momentum=0.99,
        input_normalization=False,
        dropout=0.0,
        input_dropout=0.0,
        dropout_type='auto',
        mc_samples=0,
        n_ensemble=1,
        ensemble_type="batch",
        l1=0.0,
        l2=0.0,
        max_norm=None,
        max_norm_output=False,
        clip_value=None,
        clip_norm=None,
        early_stopping=True,
        validation_fraction=0.1,
        patience=10,
        monitor="val_loss",
        min_delta=0.0001,
        restore_best_weights=True,
        augment=None,
        optimizer='adam',
        learning_rate=0.001,
        momentum=0.9,
        beta_1=0.9,
        beta_2=0.999,
        rho=0.9,
        epsilon=1e-07,
        optimizer_params=None,
        lr_schedule=None,
        lr_schedule_params=None,
        batch_size=32,
        max_epochs=100,
        shuffle=True,
        device='auto',
        mixed_precision=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        checkpoint_dir=None,
        checkpoint_every=1,
    ):
        store_parameters(self, locals())
