"""numpydoc validation of skdnn's public API."""

import importlib
import inspect

import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate")

# See Also, Examples on every method, extended summaries and named return values
# are optional in this project; everything else numpydoc checks is enforced.
IGNORED = {"SA01", "EX01", "ES01", "RT02"}

PUBLIC_CLASSES = [
    "skdnn.DNNClassifier",
    "skdnn.TransferDNNClassifier",
    "skdnn.StackedAutoencoder",
    "skdnn.components.augmentation.RandomShiftRotation",
]
PUBLIC_FUNCTIONS = [
    "skdnn.datasets.load_fashion_mnist",
    "skdnn.plotting.plot_learning_curves",
    "skdnn.plotting.plot_gradient_norms",
    "skdnn.plotting.plot_activation_health",
    "skdnn.plotting.plot_lr_finder",
    "skdnn.plotting.compare_learning_curves",
]


def _resolve(path):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _public_methods(class_path):
    cls = _resolve(class_path)
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") or not callable(member):
            continue
        defined_in = next(k for k in cls.__mro__ if name in vars(k))
        if defined_in.__module__.startswith("skdnn"):  # sklearn's own are sklearn's business
            yield f"{class_path}.{name}"


def _targets():
    targets = list(PUBLIC_FUNCTIONS)
    for class_path in PUBLIC_CLASSES:
        targets.append(class_path)
        targets.extend(_public_methods(class_path))
    return targets


@pytest.mark.parametrize("path", _targets())
def test_numpydoc(path):
    if path.startswith("skdnn.") and path.count(".") == 1 and not hasattr(
        importlib.import_module("skdnn"), path.split(".")[1]
    ):
        pytest.fail(f"{path} is not exported by skdnn")
    errors = [
        f"{code}: {message}"
        for code, message in numpydoc_validate.validate(path)["errors"]
        if code not in IGNORED
    ]
    assert not errors, "\n".join(errors)
