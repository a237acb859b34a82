"""Pretraining on an auxiliary task: do two inputs belong to the same class?

Labels are often scarce while pairs labelled "same" or "different" are cheap.
:func:`make_pairs` builds such pairs, each row the concatenation ``[x1, x2]``.
A :class:`SiameseDNNClassifier` learns them with ONE trunk run on ``x1`` and on
``x2`` and a small head on the two codes side by side. Since the trunk sees one
input at a time, it is a network on single inputs, which a
``TransferDNNClassifier`` reuses like any other pretrained model::

    X_pairs, same = make_pairs(X_unlabelled_pool, y_pool, n_pairs=100_000)
    siamese = SiameseDNNClassifier().fit(X_pairs, same)
    clf = TransferDNNClassifier(siamese).fit(X_few, y_few)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from numbers import Integral
from typing import ClassVar

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_X_y
from torch import nn

from skdnn._utils.module_spec import register_container
from skdnn._utils.random import torch_generator
from skdnn.estimators._param_lists import SIAMESE_HYPERPARAMETERS
from skdnn.estimators._params import Hyperparameter, check_layer_sizes, store_parameters
from skdnn.estimators.classifier import DNNClassifier
from skdnn.network import OUTPUT_BLOCK, build_mlp, hidden_block_name, hidden_blocks


def make_pairs(X, y, n_pairs: int, *, random_state=None) -> tuple[np.ndarray, np.ndarray]:
    """Random pairs of rows of ``X``, half from the same class and half from different ones.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Inputs.
    y : array-like of shape (n_samples,)
        Their class labels (at least two classes).
    n_pairs : int
        Number of pairs to draw (rows may be reused; a same-class pair may hold
        one row twice).
    random_state : int, RandomState instance or None, default=None
        Seeds the draw.

    Returns
    -------
    X_pairs : ndarray of shape (n_pairs, 2 * n_features)
        Each row is ``[x1, x2]``.
    same : ndarray of shape (n_pairs,)
        1 where ``x1`` and ``x2`` have the same class, else 0; ``n_pairs // 2``
        ones, in random positions.
    """
    X, y = check_X_y(X, y)
    check_classification_targets(y)
    if not (isinstance(n_pairs, Integral) and not isinstance(n_pairs, bool) and n_pairs >= 1):
        raise ValueError(f"n_pairs must be an int >= 1; got {n_pairs!r}.")
    classes, labels = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError("make_pairs needs at least 2 classes in y.")
    rng = check_random_state(random_state)
    by_class = np.argsort(labels, kind="stable")
    counts = np.bincount(labels)
    starts = np.cumsum(counts) - counts
    first = rng.randint(len(y), size=n_pairs)
    same = np.zeros(n_pairs, dtype=bool)
    same[: n_pairs // 2] = True
    rng.shuffle(same)
    shift = 1 + (rng.random_sample(n_pairs) * (len(classes) - 1)).astype(int)
    second_class = np.where(same, labels[first], (labels[first] + shift) % len(classes))
    offset = (rng.random_sample(n_pairs) * counts[second_class]).astype(int)
    second = by_class[starts[second_class] + offset]
    return np.hstack([X[first], X[second]]), same.astype(np.int64)


class SiameseTrunk(nn.Module):
    """Run one network on both halves of each row and put the two outputs side by side.

    Parameters
    ----------
    network : torch.nn.Module
        The shared trunk, taking inputs of half the row width.
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Encode both inputs of each pair with the shared network (one batched pass).

        Parameters
        ----------
        x : torch.Tensor of shape (n_rows, 2 * n_inputs)
            Rows ``[x1, x2]``.

        Returns
        -------
        torch.Tensor of shape (n_rows, 2 * n_codes)
            Rows ``[network(x1), network(x2)]``.
        """
        codes = self.network(torch.cat(x.chunk(2, dim=1)))
        return torch.cat(codes.chunk(2, dim=0), dim=1)


register_container(SiameseTrunk)  # save() writes it like any block, load() rebuilds it


class SiameseDNNClassifier(DNNClassifier):
    """Classifier of input pairs whose trunk, shared by both inputs, can be reused.

    Each row of ``X`` is a pair ``[x1, x2]`` (an even number of features). The
    network runs the same trunk (the hidden layers of ``hidden_layer_sizes``,
    with the input block) on ``x1`` and on ``x2``, concatenates the two codes,
    and classifies them with a head of ``head_layer_sizes`` hidden layers. The
    usual target says whether the two inputs share a class (see
    :func:`make_pairs`); any pair label works. A ``TransferDNNClassifier``
    given this estimator as ``pretrained`` reuses the trunk on single inputs
    of ``n_features_in_ / 2`` features, also after ``save`` and ``load``.

    Parameters
    ----------
    <hyperparameters>

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of input features (twice the width of one input).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.
    model_ : torch.nn.Sequential
        Blocks ``trunk`` (a :class:`SiameseTrunk`), the head's hidden blocks
        and ``output``; emits logits.
    history_ : list of dict
        One record per epoch, as for ``DNNClassifier`` (diagnostics cover the
        head's hidden layers).
    n_epochs_ : int
        Epochs trained in total.
    best_epoch_ : int
        Epoch with the lowest monitored loss.

    See Also
    --------
    make_pairs : Builds the pairs and their same/different labels.
    TransferDNNClassifier : Reuses the trained trunk.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdnn.estimators import SiameseDNNClassifier, make_pairs
    >>> X, y = load_digits(return_X_y=True)
    >>> X_pairs, same = make_pairs(X / 16, y, n_pairs=2000, random_state=0)
    >>> siamese = SiameseDNNClassifier((64, 32), max_epochs=5, random_state=0)
    >>> siamese.fit(X_pairs, same).trunk_n_features_
    64
    """

    _hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = SIAMESE_HYPERPARAMETERS

    def __init__(
        self,
        hidden_layer_sizes=(100, 100, 100, 100, 100),
        head_layer_sizes=(10,),
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

    def _validate_params(self) -> None:
        super()._validate_params()
        check_layer_sizes(self.head_layer_sizes, "head_layer_sizes")

    def _build_module(self, n_outputs: int, seeds) -> nn.Sequential:
        if self.n_features_in_ % 2:
            raise ValueError(
                "SiameseDNNClassifier takes pairs [x1, x2]: X needs an even number of "
                f"features, but has {self.n_features_in_} feature(s)."
            )
        generator = torch_generator(seeds.init)
        spec = replace(self._network_spec(n_outputs), n_features=self.n_features_in_ // 2)
        trunk = build_mlp(spec, generator=generator)
        delattr(trunk, OUTPUT_BLOCK)  # the trunk ends at its codes
        code_width = spec.hidden_layer_sizes[-1] if spec.hidden_layer_sizes else spec.n_features
        head = build_mlp(
            replace(
                spec,
                n_features=2 * code_width,
                hidden_layer_sizes=check_layer_sizes(self.head_layer_sizes, "head_layer_sizes"),
                input_normalization=False,
                input_dropout=0.0,
            ),
            generator=generator,
        )
        blocks: OrderedDict[str, nn.Module] = OrderedDict(trunk=SiameseTrunk(trunk))
        for index, block in enumerate(hidden_blocks(head)):
            blocks[hidden_block_name(len(spec.hidden_layer_sizes) + index)] = block
        blocks[OUTPUT_BLOCK] = getattr(head, OUTPUT_BLOCK)
        return nn.Sequential(blocks)

    @property
    def trunk_n_features_(self) -> int:
        """Width of one input of a pair: what the reusable trunk takes."""
        return self.n_features_in_ // 2

    def _reusable_network(self) -> tuple[int, nn.Module]:
        """Input width and network of the part a transfer estimator reuses: the trunk."""
        return self.trunk_n_features_, self.model_.trunk.network

