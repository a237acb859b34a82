"""One training step (forward, backward, update) with as little overhead as the network allows.

At small batches a step is dominated by fixed costs, not arithmetic: Python
layers of ``nn.Module`` calls, autograd bookkeeping, optimizer wrappers,
allocations. :func:`make_step` builds, once per epoch, the cheapest correct
step for the network and the setup:

* :class:`MLPStep` for the common plain network -- ``Linear`` layers with
  element-wise activations whose registry entry gives a fast forward and
  backward (ReLU, leaky ReLU, ELU, SELU, tanh, logistic, identity), an
  objective whose ``fused_gradient`` names an entry of
  :data:`FUSED_LOSS_GRADIENTS` (cross-entropy) and no weight penalty. It
  computes the gradients by hand, in a fixed sequence of matrix products
  written into preallocated buffers and the parameters' ``.grad`` tensors,
  without building an autograd graph. The gradients are those autograd
  computes, up to float rounding.
* :class:`AutogradStep` for everything else (batch or layer norm, dropout,
  other activations, other losses, l1/l2 penalties, frozen blocks): the usual
  ``loss.backward()``, with the gradients reset by assignment instead of
  ``optimizer.zero_grad()``.
* :class:`~skdnn.training.ensemble_step.EnsembleStep` for an ensemble network
  (``n_ensemble > 1``) made of the same kinds of layers, under the same
  conditions as :class:`MLPStep`.

Both update the weights through :func:`optimizer_update`, which calls the fused
Adam/AdamW kernel directly where ``optimizer.step()`` would call it (the same
kernel with the same arguments, so the same result, without the per-step
Python of ``Optimizer.step``), and ``optimizer.step()`` otherwise.

The step never changes torch's thread count: the fit owns it
(:class:`~skdnn._utils.threads.FitThreads`). Plain torch; no scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from skdnn.components.activations import ActivationComponent, activation_of
from skdnn.training import fast_paths
from skdnn.training.ensemble_step import EnsembleStep, member_layers
from skdnn.training.fused_adam import optimizer_update
from skdnn.training.gemm import AtenKernels, kernels_for
from skdnn.training.manual_step import ManualStep
from skdnn.training.regression import SquaredErrorGradient
from skdnn.training.walk import leaf_layers

if TYPE_CHECKING:
    from skdnn.training.setup import TrainingSetup

Step = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def make_step(module: nn.Module, setup: TrainingSetup) -> Step:
    """The fastest correct training step for ``module`` under ``setup``.

    The returned callable takes a batch ``(X, y, weight)``, runs forward,
    backward, gradient clipping, the optimizer update, the max-norm constraint
    and the schedule step, and returns a detached tensor whose elements sum to
    the batch objective (loss plus penalty) times the batch's rows, so that the
    epoch's mean is one sum at the end. After each call its ``outputs`` holds
    the batch's network outputs (detached; a tensor the step does not write
    again), from which the loop computes the training metrics without another
    forward pass. Build it again whenever the module or the optimizer changed
    (the loop builds one per epoch).

    The hand-written :class:`MLPStep` applies when the objective names a fused
    loss gradient (``setup.objective.fused_gradient`` in
    :data:`FUSED_LOSS_GRADIENTS`), nothing adds a penalty to the loss, the run
    is in float32 and the module is a plain MLP (:func:`mlp_layers`) whose
    parameters all train.
    """
    update = optimizer_update(setup.optimizer)
    if setup.autocast_dtype is not None:
        return AutogradStep(module, update, setup)
    layers = mlp_layers(module) if _fused_objective(setup) else None
    if (
        layers is not None
        and _trains_all(layers, setup.optimizer)
        and fast_paths.enabled(fast_paths.MLP_STEP)  # self-checked once per process
    ):
        return MLPStep(layers, update, setup)
    members = member_layers(module, _fast_activation) if _fused_objective(setup) else None
    if (
        members is not None
        and _trains_all(members, setup.optimizer)
        and fast_paths.enabled(fast_paths.MLP_STEP)  # the same activation backwards
    ):
        return EnsembleStep(
            members, _fast_activation, _loss_gradient(setup.objective), update, setup
        )
    return AutogradStep(module, update, setup)


def _loss_gradient(objective) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    return FUSED_LOSS_GRADIENTS[objective.fused_gradient](**objective.fused_gradient_params)


def _fused_objective(setup: TrainingSetup) -> bool:
    regularization = setup.regularization
    penalized = bool(regularization.kernels) and bool(regularization.l1 or regularization.l2)
    return setup.objective.fused_gradient in FUSED_LOSS_GRADIENTS and not penalized


class AutogradStep:
    """The general step: autograd through any module, any loss, any regularization."""

    def __init__(self, module: nn.Module, update: Callable[[], None], setup: TrainingSetup):
        self.module = module
        self.update = update
        self.objective = setup.objective
        self.regularization = regularization = setup.regularization
        self.schedule = setup.schedule
        self.optimized = [p for group in setup.optimizer.param_groups for p in group["params"]]
        self.parameters = list(module.parameters())
        self.penalized = bool(regularization.l1 or regularization.l2)
        self.clips = regularization.clip_value is not None or regularization.clip_norm is not None
        self.constrains = regularization.max_norm is not None
        self.autocast_dtype = setup.autocast_dtype
        self.scaler = setup.grad_scaler
        self.optimizer = setup.optimizer
        self.outputs: torch.Tensor | None = None

    def __call__(self, X: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None):
        if self.autocast_dtype is None:
            outputs = self.module(X)
        else:  # mixed precision: matrix products in bf16/fp16, the loss in float32
            with torch.autocast(X.device.type, dtype=self.autocast_dtype):
                outputs = self.module(X)
        self.outputs = outputs.detach()
        objective = self.objective.batch_loss(outputs.float(), y, weight)
        if self.penalized:
            penalty = self.regularization.penalty()
            if penalty is not None:
                objective = objective + penalty
        for parameter in self.optimized:  # optimizer.zero_grad(set_to_none=True), minus its hooks
            parameter.grad = None
        if self.scaler is None:
            objective.backward()
            if self.clips:
                self.regularization.clip(self.parameters)
            self.update()
        else:  # float16: scale the loss so small gradients survive, skip steps on overflow
            self.scaler.scale(objective).backward()
            self.scaler.unscale_(self.optimizer)
            if self.clips:
                self.regularization.clip(self.parameters)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        if self.constrains:
            self.regularization.constrain()
        self.schedule.step()
        return objective.detach().expand(X.shape[0])  # the batch's total, as a view


# --------------------------------------------------------------------------- fused loss gradients
class CrossEntropyGradient:
    """Softmax cross-entropy of logits and its gradient with respect to them, in one pass.

    ``g = (softmax(h) - t) * weight / n`` with the target distribution
    ``t = (1 - s) * onehot(y) + s / K`` (label smoothing ``s``, ``K`` classes);
    the row losses are ``-(t * log_softmax(h)).sum(1) * weight``, torch's
    ``cross_entropy(..., label_smoothing=s)``.
    """

    def __init__(self, label_smoothing: float = 0.0) -> None:
        self.label_smoothing = label_smoothing
        self._minus_one: dict[tuple[int, torch.device, torch.dtype], torch.Tensor] = {}

    def __call__(
        self, logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(row losses of shape (n, 1), gradient at the logits)``."""
        n_rows = logits.shape[0]
        key = (n_rows, logits.device, logits.dtype)
        minus_one = self._minus_one.get(key)
        if minus_one is None:
            minus_one = self._minus_one[key] = logits.new_full(
                (n_rows, 1), self.label_smoothing - 1.0
            )
        log_p = torch.log_softmax(logits, dim=1)
        target = y.unsqueeze(1)
        smoothing = self.label_smoothing
        if smoothing:
            losses = log_p.gather(1, target).mul_(smoothing - 1.0)
            losses.sub_(log_p.mean(dim=1, keepdim=True).mul_(smoothing))
            g = log_p.exp_().sub_(smoothing / logits.shape[1])
        else:
            losses = log_p.gather(1, target).neg_()
            g = log_p.exp_()
        g.scatter_add_(1, target, minus_one)
        if weight is None:
            g.mul_(1.0 / n_rows)
        else:
            row_weight = weight.unsqueeze(1)
            losses.mul_(row_weight)
            g.mul_(row_weight).mul_(1.0 / n_rows)
        return losses, g


#: Hand-derived loss gradients the fast step can use, by ``Objective.fused_gradient``.
#: Each builds a callable ``(outputs, y, weight) -> (row losses, gradient at the
#: outputs)`` for the mean (row-weighted) loss; a squared-error entry is what a
#: regression objective adds.
FUSED_LOSS_GRADIENTS: dict[str, Callable[[], Callable[..., tuple[torch.Tensor, torch.Tensor]]]] = {
    "cross_entropy": CrossEntropyGradient,
    "squared_error": SquaredErrorGradient,
}


# --------------------------------------------------------------------------- hand-written MLP step
def _fast_activation(layer: nn.Module) -> ActivationComponent | None:
    """The registry entry of ``layer`` when the hand-written step can run it, else None."""
    component = activation_of(layer)
    if component is None or component.fast_forward is None or component.fast_backward is None:
        return None
    return component if component.fast_applies(layer) else None


def mlp_layers(module: nn.Module) -> list[tuple[nn.Linear, nn.Module | None]] | None:
    """``module`` as ``[(linear, activation or None), ...]``, or None if it is not a plain MLP.

    A plain MLP is a (possibly nested) ``nn.Sequential`` of ``nn.Linear`` layers,
    each followed by at most one activation with a fast forward and backward
    (``nn.Identity`` is skipped), the last one without; all in training mode,
    without hooks, with float parameters on one device.
    """
    leaves = leaf_layers(module, training=True)
    if leaves is None:
        return None
    layers: list[tuple[nn.Linear, nn.Module | None]] = []
    for leaf in leaves:
        if isinstance(leaf, nn.Identity):
            continue
        if type(leaf) is nn.Linear:
            layers.append((leaf, None))
        elif _fast_activation(leaf) is not None and layers and layers[-1][1] is None:
            layers[-1] = (layers[-1][0], leaf)
        else:
            return None
    if not layers or layers[-1][1] is not None:
        return None
    parameters = [p for linear, _ in layers for p in linear.parameters()]
    first = parameters[0]
    if any(p.dtype != first.dtype or p.device != first.device for p in parameters):
        return None
    if not first.dtype.is_floating_point:
        return None
    return layers


def _trains_all(layers: list[tuple[nn.Linear, nn.Module | None]], optimizer) -> bool:
    """Every parameter of the layers takes gradients and sits in the optimizer."""
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    return all(
        p.requires_grad and id(p) in optimized for linear, _ in layers for p in linear.parameters()
    )


#: Products smaller than this many multiply-adds run on ``torch.mm``: oneDNN's
#: fixed cost per call (~10 us) outweighs its faster arithmetic there.
_FAST_KERNEL_MIN_MACS = 1 << 20


class MLPStep(ManualStep):
    """Forward and backward of a plain MLP with a fused loss gradient, written out by hand.

    Per layer ``h = act(h_prev @ W.T + b)``; the backward pass is, from the
    outputs' gradient ``g`` (for cross-entropy ``(softmax - onehot) * weight / n``)
    down::

        W.grad = g.T @ h_prev      b.grad = g.sum(0)      g = act'(h_prev) * (g @ W)

    Large products run on the fastest float32 kernels available
    (:func:`~skdnn.training.gemm.kernels_for`), small ones on ``torch.mm``; no
    autograd graph is built. The gradients are autograd's up to float rounding.
    """

    def __init__(
        self,
        layers: list[tuple[nn.Linear, nn.Module | None]],
        update: Callable[[], None],
        setup: TrainingSetup,
    ) -> None:
        self.layers = []
        for linear, activation in layers:
            component = None if activation is None else _fast_activation(activation)
            forward = None if component is None else component.fast_forward
            backward = None if component is None else component.fast_backward
            relu = component is not None and component.name == "relu"
            self.layers.append((linear.weight, linear.bias, activation, forward, backward, relu))
        super().__init__([p for linear, _ in layers for p in linear.parameters()], update, setup)
        self.loss_gradient = _loss_gradient(setup.objective)
        self.fast_kernels = kernels_for(layers[0][0].weight)
        self.plans: dict[int, tuple[Any, ...]] = {}

    def _plan(self, n_rows: int) -> tuple[Any, ...]:
        """For batches of ``n_rows``: the kernels of each layer."""
        macs = [n_rows * W.shape[0] * W.shape[1] for W, *_ in self.layers]
        plan = self.plans[n_rows] = tuple(
            self.fast_kernels if m >= _FAST_KERNEL_MIN_MACS else AtenKernels for m in macs
        )
        return plan

    def _forward_backward(
        self, X: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None
    ) -> torch.Tensor:
        """Set the gradients; return each row's (weighted) loss, to be summed."""
        kernels = self.plans.get(X.shape[0]) or self._plan(X.shape[0])
        inputs = [X]
        h = X
        for (W, b, activation, forward, _, relu), kernel in zip(self.layers, kernels, strict=True):
            if relu:
                h = kernel.linear_relu(h, W, b)
            else:
                h = kernel.linear(h, W, b)
                if forward is not None:
                    h = forward(h, activation)
            inputs.append(h)
        self.outputs = h
        losses, g = self.loss_gradient(h, y, weight)
        # Backward, top layer first.
        for index in range(len(self.layers) - 1, -1, -1):
            W, b = self.layers[index][0], self.layers[index][1]
            kernel = kernels[index]
            h_prev = inputs[index]
            W.grad = kernel.weight_grad(g, h_prev)
            if b is not None:
                b.grad = g.sum(0)
            if index:
                _, _, activation, _, backward, _ = self.layers[index - 1]
                g = kernel.input_grad(g, W)
                if backward is not None:
                    g = backward(g, h_prev, activation)
        return losses
