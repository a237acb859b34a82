"""Build the feed-forward network from a plain, JSON-friendly specification.

The network is an ``nn.Sequential`` of named blocks::

    input     [table input] -> [batch norm on the inputs] -> [input dropout]
    hidden1   Linear -> [norm "before"] -> activation -> [norm "after"] -> [dropout]
    ...
    output    Linear (logits)

Blocks are the unit of transfer learning: reusing, freezing and caching count
hidden blocks. The table input (:class:`~skdnn.components.table_input.TableInput`:
imputation, scaling and embedding of numeric columns, encoding of categorical
ones) is there when the spec's ``table`` describes one; it is fitted on the
training rows with :func:`fit_input_statistics`. Plain torch only; no
scikit-learn import.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from skdnn.components.activations import make_activation
from skdnn.components.dropout import make_dropout, resolve_dropout_type
from skdnn.components.ensemble import BatchEnsembleLinear, MemberLinear
from skdnn.components.initializers import initialize_kernel
from skdnn.components.normalization import make_normalization
from skdnn.components.table_input import TableInput

INPUT_BLOCK = "input"
OUTPUT_BLOCK = "output"


@dataclass(frozen=True)
class MLPSpec:
    """Everything needed to rebuild a network's architecture (not its weights).

    Field meanings follow the estimator hyperparameters of the same names.
    """

    n_features: int
    hidden_layer_sizes: tuple[int, ...]
    n_outputs: int
    activation: str = "elu"
    activation_params: Mapping[str, Any] = field(default_factory=dict)
    kernel_initializer: str = "auto"
    initializer_params: Mapping[str, Any] = field(default_factory=dict)
    normalization: str | None = None
    normalization_position: str = "before"
    batch_norm_momentum: float = 0.99
    input_normalization: bool = False
    dropout: float = 0.0
    input_dropout: float = 0.0
    dropout_type: str = "auto"
    #: Arguments of the :class:`~skdnn.components.table_input.TableInput` layer, or None.
    table: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable representation."""
        spec = asdict(self)
        spec["hidden_layer_sizes"] = list(self.hidden_layer_sizes)
        spec["activation_params"] = dict(self.activation_params)
        spec["initializer_params"] = dict(self.initializer_params)
        return spec

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> MLPSpec:
        """Inverse of :meth:`to_dict`."""
        spec = dict(spec)
        spec["hidden_layer_sizes"] = tuple(int(s) for s in spec["hidden_layer_sizes"])
        return cls(**spec)


def hidden_block_name(index: int) -> str:
    """Name of the ``index``-th hidden block (0-based): ``hidden1``, ``hidden2``..."""
    return f"hidden{index + 1}"


def build_mlp(spec: MLPSpec, *, generator: torch.Generator | None = None) -> nn.Sequential:
    """Build and initialize the network described by ``spec``.

    Parameters
    ----------
    spec : MLPSpec
        The architecture.
    generator : torch.Generator, optional
        Source of randomness for the initial weights (the global RNG is not used).

    Returns
    -------
    torch.nn.Sequential
        Named blocks ``input``, ``hidden1`` ... ``hiddenN``, ``output``; emits logits.
    """
    # Layer constructors draw default weights from torch's global RNG; forking it
    # leaves the caller's RNG untouched (the weights then come from ``generator``).
    with torch.random.fork_rng(devices=[]):
        return _build(spec, generator)


def _build(spec: MLPSpec, generator: torch.Generator | None) -> nn.Sequential:
    blocks: OrderedDict[str, nn.Module] = OrderedDict()
    blocks[INPUT_BLOCK] = _input_block(spec, generator)
    width = input_width(blocks[INPUT_BLOCK], spec.n_features)
    for index, size in enumerate(spec.hidden_layer_sizes):
        blocks[hidden_block_name(index)] = _hidden_block(spec, width, size, generator)
        width = size
    output = nn.Linear(width, spec.n_outputs)
    initialize_kernel(output.weight, "glorot_uniform", generator=generator)
    nn.init.zeros_(output.bias)
    blocks[OUTPUT_BLOCK] = nn.Sequential(OrderedDict(linear=output))
    return nn.Sequential(blocks)


def _input_block(spec: MLPSpec, generator: torch.Generator | None) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    if spec.table is not None:
        layers["table"] = TableInput(**spec.table, generator=generator)
    if spec.input_normalization:
        layers["norm"] = make_normalization(
            "batch", input_width(nn.Sequential(layers), spec.n_features),
            momentum=spec.batch_norm_momentum,
        )
    if spec.input_dropout > 0:
        layers["dropout"] = make_dropout(_dropout_type(spec), spec.input_dropout)
    return nn.Sequential(layers)


def _hidden_block(
    spec: MLPSpec, n_in: int, n_out: int, generator: torch.Generator | None
) -> nn.Sequential:
    norm_before = spec.normalization is not None and spec.normalization_position == "before"
    norm_after = spec.normalization is not None and spec.normalization_position == "after"
    # A normalization right after the Linear re-centres its output: a bias would be wasted.
    linear = nn.Linear(n_in, n_out, bias=not (norm_before and spec.normalization == "batch"))
    initialize_kernel(
        linear.weight,
        spec.kernel_initializer,
        spec.initializer_params,
        activation=spec.activation,
        generator=generator,
    )
    if linear.bias is not None:
        nn.init.zeros_(linear.bias)
    layers: OrderedDict[str, nn.Module] = OrderedDict(linear=linear)
    if norm_before:
        layers["norm"] = _normalization(spec, n_out)
    layers["activation"] = make_activation(
        spec.activation, spec.activation_params, num_features=n_out
    )
    if norm_after:
        layers["norm"] = _normalization(spec, n_out)
    if spec.dropout > 0:
        layers["dropout"] = make_dropout(_dropout_type(spec), spec.dropout)
    return nn.Sequential(layers)


def _normalization(spec: MLPSpec, width: int) -> nn.Module:
    return make_normalization(spec.normalization, width, momentum=spec.batch_norm_momentum)


def _dropout_type(spec: MLPSpec) -> str:
    return resolve_dropout_type(spec.dropout_type, spec.activation)


def input_width(block: nn.Sequential, n_features: int) -> int:
    """Width of what an input block emits for ``n_features`` input columns."""
    table = getattr(block, "table", None)
    return n_features if table is None else table.out_features


def fit_input_statistics(module: nn.Sequential, X: Any, rows: Any = None) -> None:
    """Fit the table input of ``module`` (if any) on the training rows of ``X``.

    Parameters
    ----------
    module : torch.nn.Sequential
        A network built by :func:`build_mlp`.
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        The encoded inputs (see :class:`~skdnn.components.table_input.TableInput`).
    rows : ndarray of int, optional
        The training rows of ``X``; all rows when None. Only a network with a
        table input reads (and copies) them.
    """
    table = getattr(getattr(module, INPUT_BLOCK, None), "table", None)
    if table is not None:
        X = X if rows is None else X[rows]
        table.fit(X.toarray() if hasattr(X, "toarray") else X)  # a sparse matrix's rows


def hidden_blocks(module: nn.Sequential) -> list[nn.Sequential]:
    """The hidden blocks of a network built by :func:`build_mlp`, bottom first."""
    return [block for name, block in module.named_children() if name.startswith("hidden")]


def kernels(module: nn.Module, *, exclude: tuple[str, ...] = ()) -> list[nn.Parameter]:
    """Weight matrices of every Linear layer (the targets of l1/l2 and max-norm).

    Ensemble layers count too: a ``MemberLinear`` kernel has one row per
    member's unit, a ``BatchEnsembleLinear`` one shared row per unit.
    ``exclude`` names top-level blocks whose layers are left out, e.g.
    ``(OUTPUT_BLOCK,)`` for the hidden layers' kernels only (the chapter's
    max-norm constraint).
    """
    left_out = {
        id(m) for name in exclude if hasattr(module, name) for m in getattr(module, name).modules()
    }
    return [
        m.weight
        for m in module.modules()
        if isinstance(m, (nn.Linear, BatchEnsembleLinear, MemberLinear)) and id(m) not in left_out
    ]
