"""StackedAutoencoder: greedy layer-wise unsupervised pretraining."""

from __future__ import annotations

import warnings
from collections import OrderedDict
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted
from torch import nn

from skdnn._utils.device import resolve_device
from skdnn._utils.random import Seeds, torch_generator
from skdnn.estimators._base import BaseDNN
from skdnn.estimators._data import check_features, shared_tensor, split_validation
from skdnn.estimators._greedy_stages import StageLabel, encoder_codes
from skdnn.estimators._param_lists import AUTOENCODER_HYPERPARAMETERS
from skdnn.estimators._params import Hyperparameter, check_layer_sizes, store_parameters
from skdnn.estimators._sklearn_compat import _fit_context
from skdnn.exceptions import TrainingInterrupted, TrainingInterruptedWarning
from skdnn.network import (
    OUTPUT_BLOCK,
    MLPSpec,
    build_mlp,
    hidden_block_name,
    hidden_blocks,
    kernels,
)
from skdnn.training.data import Dataset
from skdnn.training.inference import InferenceNetwork
from skdnn.training.objectives import RECONSTRUCTION
from skdnn.training.setup import TrainingResult


class StackedAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseDNN):
    """Stacked autoencoder trained greedily, one hidden layer at a time.

    ``fit`` trains the first hidden layer as a shallow autoencoder (encoder:
    Linear + activation; decoder: Linear) that reconstructs the inputs, then
    freezes it and trains the second one the same way on the codes of the
    first, and so on (unsupervised pretraining, as in Hinton et al. 2006 with
    autoencoders instead of RBMs). Optionally the whole stack is then
    fine-tuned end to end to reconstruct the inputs. The loss is the mean
    squared reconstruction error; early stopping monitors it on a held-out
    ``validation_fraction`` of the rows.

    ``transform`` returns the codes of the top layer, ``inverse_transform``
    decodes them back. The encoder layers are the hidden layers of ``model_``
    and can be reused by a ``TransferDNNClassifier`` (``pretrained=autoencoder``).

    Parameters
    ----------
    <hyperparameters>

    Attributes
    ----------
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.
    model_ : torch.nn.Sequential
        The autoencoder: blocks ``input`` (empty), ``hidden1`` ... ``hiddenN``
        (the encoder, as in ``DNNClassifier``), then ``decoderN`` ...
        ``decoder1`` (``decoderK`` reconstructs the inputs of ``hiddenK``).
    history_ : list of dict
        One record per epoch of every stage: ``stage`` ("layer1", ...,
        "fine_tune"), ``epoch`` (counted over all stages), ``loss``,
        ``val_loss``, ``lr``, ``steps``, ``lr_steps`` (as for ``DNNClassifier``),
        ``time``, ``grad_norms``, ``unhealthy_fraction`` (one value per hidden
        layer, bottom first; NaN for the layers a stage does not train).
    n_epochs_ : int
        Epochs trained over all stages.
    best_epoch_ : int
        Epoch of the last stage with the lowest monitored loss.

    See Also
    --------
    TransferDNNClassifier : Reuses the encoder layers for a classifier.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdnn import StackedAutoencoder
    >>> X, _ = load_digits(return_X_y=True)
    >>> autoencoder = StackedAutoencoder((32, 8), max_epochs=5, random_state=0)
    >>> autoencoder.fit_transform(X / 16).shape
    (1797, 8)
    """

    _hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = AUTOENCODER_HYPERPARAMETERS

    def __init__(
        self,
        hidden_layer_sizes=(100, 50),
        *,
        activation="elu",
        activation_params=None,
        kernel_initializer="auto",
        initializer_params=None,
        fine_tune_epochs=0,
        l1=0.0,
        l2=0.0,
        max_norm=None,
        max_norm_output=False,
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
        device="auto",
        mixed_precision=None,
        random_state=None,
        verbose=0,
    ):
        store_parameters(self, locals())

    def _validate_params(self) -> None:
        super()._validate_params()
        if not check_layer_sizes(self.hidden_layer_sizes):
            raise ValueError("StackedAutoencoder needs at least one hidden layer; got ().")

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None) -> StackedAutoencoder:
        """Train the layers greedily, then fine-tune the stack if asked.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Training inputs (unlabeled).
        y : None
            Ignored.

        Returns
        -------
        self : StackedAutoencoder
            The fitted estimator.
        """
        try:
            return self._fit_stages(X)
        except TrainingInterrupted:
            raise  # Ctrl-C: the layers trained so far are kept (see _fit_stages)
        except BaseException:
            self._clear_fitted_state()
            raise

    def _fit_stages(self, X) -> StackedAutoencoder:
        X = check_features(self, X, reset=True)
        seeds = self._draw_seeds()
        device = resolve_device(self.device)
        data, validation = self._datasets(shared_tensor(X).to(device), seeds.split)
        generator = torch_generator(seeds.init)
        encoder: OrderedDict[str, nn.Module] = OrderedDict(input=nn.Sequential())
        decoders: list[tuple[str, nn.Module]] = []
        history: list[dict[str, Any]] = []
        inputs, held_out = data, validation
        sizes = check_layer_sizes(self.hidden_layer_sizes)
        try:
            for index, size in enumerate(sizes):
                layer = build_mlp(self._layer_spec(inputs.X.shape[1], size), generator=generator)
                encoder[hidden_block_name(index)] = layer.hidden1
                decoders.insert(0, (f"decoder{index + 1}", layer.output))
                result = self._train_stage(
                    layer.to(device), inputs, held_out, self.max_epochs,
                    seeds, history, StageLabel(f"layer{index + 1}", index, len(sizes)),
                )
                # The trained layer is frozen from now on: compute its codes once.
                inputs, held_out = encoder_codes(layer, inputs), encoder_codes(layer, held_out)
            self.model_ = nn.Sequential(OrderedDict([*encoder.items(), *decoders]))
            if self.fine_tune_epochs:
                result = self._train_stage(
                    self.model_, data, validation, self.fine_tune_epochs, seeds,
                    history, StageLabel("fine_tune"),
                )
        except TrainingInterrupted as interrupted:
            # Keep the layers trained so far (the interrupted one with its restored
            # weights), usable as a shallower stack, and let the interrupt go on.
            self.model_ = nn.Sequential(OrderedDict([*encoder.items(), *decoders]))
            self._store_training(history, interrupted.result)
            if len(encoder) - 1 < len(sizes):
                warnings.warn(
                    f"StackedAutoencoder kept the {len(encoder) - 1} of {len(sizes)} layers "
                    "trained until the interruption: transform gives the codes of layer "
                    f"{len(encoder) - 1}.",
                    TrainingInterruptedWarning,
                    stacklevel=3,
                )
            raise
        self._store_training(history, result)
        return self

    def _datasets(self, X: torch.Tensor, seed: int) -> tuple[Dataset, Dataset | None]:
        """Training and validation rows; the targets are the inputs."""
        split = (
            split_validation(np.zeros(len(X)), self.validation_fraction, seed)
            if self.early_stopping
            else None
        )
        if split is None:
            return Dataset(X, X), None
        train_rows, val_rows = (torch.from_numpy(rows).to(X.device) for rows in split)
        X_train, X_val = X[train_rows], X[val_rows]
        return Dataset(X_train, X_train), Dataset(X_val, X_val)

    def _max_norm_kernels(self, module: nn.Module) -> list[nn.Parameter]:
        """The encoder layers' kernels (and the decoders' with ``max_norm_output``)."""
        if self.max_norm_output:
            return kernels(module)
        decoders = tuple(name for name, _ in module.named_children() if name.startswith("decoder"))
        return kernels(module, exclude=(OUTPUT_BLOCK, *decoders))

    def _layer_spec(self, n_inputs: int, size: int) -> MLPSpec:
        """A shallow autoencoder: ``hidden1`` encodes, ``output`` (linear) decodes."""
        return MLPSpec(
            n_features=n_inputs,
            hidden_layer_sizes=(size,),
            n_outputs=n_inputs,
            activation=self.activation,
            activation_params=dict(self.activation_params or {}),
            kernel_initializer=self.kernel_initializer,
            initializer_params=dict(self.initializer_params or {}),
        )

    def _train_stage(
        self,
        module: nn.Module,
        data: Dataset,
        validation: Dataset | None,
        epochs: int,
        seeds: Seeds,
        history: list[dict[str, Any]],
        label: StageLabel,
    ) -> TrainingResult:
        """Train one stage, numbering its epochs after those of the stages before.

        Its epoch records, labelled by ``label``, join ``history``, also when
        the stage is interrupted.
        """
        try:
            result = self._train(
                module,
                data,
                validation,
                RECONSTRUCTION,
                seeds=seeds,
                epochs=epochs,
                resume=False,
                first_epoch=len(history) + 1,
                early_stopping=self.early_stopping and validation is not None,
                callbacks=[label],
                history=history,
            )
        except TrainingInterrupted as interrupted:
            history.extend(interrupted.result.records)
            raise
        history.extend(result.records)
        return result

    # ------------------------------------------------------------------ inference
    def transform(self, X) -> np.ndarray:
        """Encode ``X`` into the codes of the top layer.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples, hidden_layer_sizes[-1])
            The codes, float32.
        """
        check_is_fitted(self)
        X = check_features(self, X, reset=False)
        return self._run(X, stop=self._n_encoder_blocks())

    def inverse_transform(self, X) -> np.ndarray:
        """Decode top-layer codes back into the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_codes)
            Codes, as returned by :meth:`transform`.

        Returns
        -------
        ndarray of shape (n_samples, n_features_in_)
            The reconstructions, float32.
        """
        check_is_fitted(self)
        X = check_array(X, dtype=np.float32)
        if X.shape[1] != self._n_features_out:
            raise ValueError(
                f"X has {X.shape[1]} features, but the top layer of this StackedAutoencoder "
                f"has {self._n_features_out} units."
            )
        return self._run(np.ascontiguousarray(X), start=self._n_encoder_blocks())

    def _run(self, X: np.ndarray, *, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Blocks ``start`` to ``stop - 1`` of ``model_`` on ``X``, batch-invariant."""
        network = self._range_network(start, stop)
        inputs = shared_tensor(X)
        return network(inputs.to(network.device)).cpu().numpy()

    def _prepare_inference(self) -> None:
        """Build the inference networks of the encoder and the decoder when training ends."""
        model = self.__dict__.get("model_")
        if not isinstance(model, nn.Module):
            return
        self._inference_cache: dict[tuple[int, int | None], tuple] = {}
        encoder = self._n_encoder_blocks()
        for start, stop in ((0, encoder), (encoder, None)):
            self._range_network(start, stop)

    def _range_network(self, start: int, stop: int | None) -> InferenceNetwork:
        """The cached :class:`InferenceNetwork` of blocks ``start:stop`` (rebuilt when stale).

        The cache (a dict made when training ends) is updated in place, so
        transforming leaves the estimator's attributes as they are.
        """
        cache = self.__dict__.get("_inference_cache")
        if not isinstance(cache, dict):
            cache = self._inference_cache = {}
        if self.model_.training:
            self.model_.eval()
        blocks = tuple(self.model_.children())[start:stop]
        entry = cache.get((start, stop))
        if entry is not None:
            container, network = entry
            if tuple(container.children()) == blocks and network.is_current(container):
                return network
        container = nn.Sequential(*blocks)
        network = InferenceNetwork(container)
        cache[start, stop] = (container, network)
        return network

    def _n_encoder_blocks(self) -> int:
        return len(hidden_blocks(self.model_)) + 1

    @property
    def _n_features_out(self) -> int:
        """Width of the codes (used by ``get_feature_names_out``)."""
        return hidden_blocks(self.model_)[-1].linear.out_features

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
