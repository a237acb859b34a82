"""k ensemble members as one network: the MLP of :mod:`skdnn.network`, batched over members.

:func:`build_network` builds ``k`` networks from one :class:`~skdnn.network.MLPSpec`
(each initialized as :func:`~skdnn.network.build_mlp` initializes one) and
merges them block by block into one ``nn.Sequential`` with the same block
names, so that everything counting blocks (transfer, freezing, the diagnostics)
works unchanged:

* ``input`` stays one plain block, shared by the members;
* the first block after it starts with :class:`~skdnn.components.member_layers.ExpandMembers`
  (``(n, d) -> (n, k, d)``); from there on every activation is ``(n, k, d)``;
* each hidden ``Linear`` becomes a :class:`~skdnn.components.ensemble.BatchEnsembleLinear`
  (``ensemble_type="batch"``: member 0's weight shared, random-sign rank-1
  adapters per member, as TabM) or a :class:`~skdnn.components.ensemble.MemberLinear`
  (``"independent"``: every member's own weight); batch norm and PReLU get
  statistics and slopes per member (:class:`~skdnn.components.member_layers.MembersFlattened`),
  layer norm a scale and shift per member; element-wise layers (activations,
  dropout) apply unchanged;
* ``output`` is a per-member output layer (:class:`~skdnn.components.ensemble.MemberLinear`,
  each member's own head) followed by
  :class:`~skdnn.components.member_layers.CombineMembers`: the members'
  outputs ``(n, k, n_outputs)`` in training, their combination ``(n, n_outputs)``
  in evaluation mode.

With ``n_members=1`` :func:`build_network` is :func:`~skdnn.network.build_mlp`.
Plain torch only.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from skdnn.components.ensemble import BatchEnsembleLinear, MemberLinear
from skdnn.components.member_layers import (
    COMBINATIONS,
    CombineMembers,
    ExpandMembers,
    MemberLayerNorm,
    MembersFlattened,
)
from skdnn.network import INPUT_BLOCK, OUTPUT_BLOCK, MLPSpec, build_mlp

#: ``ensemble_type`` values: how the members' hidden layers hold their weights.
ENSEMBLE_TYPES = {
    "batch": "one shared weight per layer with rank-1 adapters per member (BatchEnsemble, TabM)",
    "independent": "a full weight matrix per member and layer",
}


@dataclass(frozen=True)
class EnsembleSpec:
    """How many members, how they hold their weights, how their outputs combine.

    Parameters
    ----------
    n_members : int
        Number of members ``k`` (1: a plain network).
    ensemble_type : str
        A key of :data:`ENSEMBLE_TYPES`.
    combination : str
        A key of :data:`~skdnn.components.member_layers.COMBINATIONS`.
    """

    n_members: int = 1
    ensemble_type: str = "batch"
    combination: str = "probabilities"

    def __post_init__(self) -> None:
        if isinstance(self.n_members, bool) or not isinstance(self.n_members, int) or (
            self.n_members < 1
        ):
            raise ValueError(f"n_ensemble must be an int >= 1, got {self.n_members!r}.")
        if self.ensemble_type not in ENSEMBLE_TYPES:
            raise ValueError(
                f"ensemble_type must be one of {sorted(ENSEMBLE_TYPES)}, got "
                f"{self.ensemble_type!r}."
            )
        if self.combination not in COMBINATIONS:
            raise ValueError(
                f"combination must be one of {sorted(COMBINATIONS)}, got {self.combination!r}."
            )


def build_network(
    spec: MLPSpec, ensemble: EnsembleSpec | None = None, *, generator: torch.Generator | None = None
) -> nn.Sequential:
    """Build the network of ``spec``, as ``ensemble.n_members`` members when more than one.

    Parameters
    ----------
    spec : MLPSpec
        The architecture of each member.
    ensemble : EnsembleSpec, optional
        The members; None or one member builds ``build_mlp(spec)`` exactly.
    generator : torch.Generator, optional
        Source of the initial weights.

    Returns
    -------
    torch.nn.Sequential
        Blocks ``input``, ``hidden1`` ... ``output``. In evaluation mode the
        output is ``(n, n_outputs)`` (the members combined), in training mode
        ``(n, k, n_outputs)``.
    """
    if ensemble is None or ensemble.n_members == 1:
        return build_mlp(spec, generator=generator)
    members = [build_mlp(spec, generator=generator) for _ in range(ensemble.n_members)]
    with torch.random.fork_rng(devices=[]):  # layer constructors draw from the global RNG
        return _merge(members, ensemble, generator)


def _merge(
    members: list[nn.Sequential], ensemble: EnsembleSpec, generator: torch.Generator | None
) -> nn.Sequential:
    blocks: OrderedDict[str, nn.Module] = OrderedDict()
    first = members[0]
    for name, block in first.named_children():
        if name == INPUT_BLOCK:
            blocks[name] = block
            continue
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        if len(blocks) == 1:  # the first block after the input
            layers["members"] = ExpandMembers(ensemble.n_members)
        for layer_name in block._modules:
            same_layers = [getattr(member, name)._modules[layer_name] for member in members]
            layers[layer_name] = _member_layer(
                same_layers, ensemble, generator, head=name == OUTPUT_BLOCK
            )
        if name == OUTPUT_BLOCK:
            layers["combine"] = CombineMembers(ensemble.combination)
        blocks[name] = nn.Sequential(layers)
    return nn.Sequential(blocks)


def _member_layer(
    layers: list[nn.Module],
    ensemble: EnsembleSpec,
    generator: torch.Generator | None,
    *,
    head: bool,
) -> nn.Module:
    """One layer of every member, as one layer of ``(n, k, d)`` activations."""
    layer, k = layers[0], ensemble.n_members
    if type(layer) is nn.Linear:
        if head or ensemble.ensemble_type == "independent":
            return MemberLinear.from_linears(layers)
        return BatchEnsembleLinear.from_linear(
            layer, k, adapter_init="random_signs", generator=generator
        )
    if isinstance(layer, nn.BatchNorm1d):
        norm = type(layer)(
            k * layer.num_features, eps=layer.eps, momentum=layer.momentum,
            affine=layer.affine, track_running_stats=layer.track_running_stats,
        )
        return MembersFlattened(norm)
    if type(layer) is nn.LayerNorm:
        (width,) = layer.normalized_shape
        return MemberLayerNorm(width, k, eps=layer.eps)
    if type(layer) is nn.PReLU:
        prelu = nn.PReLU(num_parameters=k * layer.num_parameters)
        with torch.no_grad():
            prelu.weight.copy_(torch.cat([m.weight for m in layers]))
        return prelu if layer.num_parameters == 1 else MembersFlattened(prelu)
    if next(layer.parameters(), None) is None and not list(layer.buffers()):
        return layer  # element-wise and stateless: activations, dropout
    raise ValueError(
        f"n_ensemble > 1 cannot batch a {type(layer).__name__} layer over members; "
        "use n_ensemble=1 with it."
    )


@contextlib.contextmanager
def member_outputs(module: nn.Module) -> Iterator[None]:
    """Within the block, ``module`` in evaluation mode returns each member's output.

    Parameters
    ----------
    module : torch.nn.Module
        A network from :func:`build_network` with more than one member.

    Raises
    ------
    ValueError
        If ``module`` has no members to return.
    """
    heads = [m for m in module.modules() if isinstance(m, CombineMembers)]
    if not heads:
        raise ValueError("This network has a single member (n_ensemble=1): no member outputs.")
    for head in heads:
        head.combines = False
    try:
        yield
    finally:
        for head in heads:
            head.combines = True


def n_members(module: nn.Module) -> int:
    """Members of a network from :func:`build_network` (1 for a plain network)."""
    expand = next((m for m in module.modules() if isinstance(m, ExpandMembers)), None)
    return 1 if expand is None else expand.n_members
