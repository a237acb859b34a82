"""The hyperparameter table is the single source of constraints, docs and signatures."""

import inspect

import pytest
from numpydoc.docscrape import ClassDoc

from skdnn.estimators import (
    DNNClassifier,
    DNNRegressor,
    SiameseDNNClassifier,
    StackedAutoencoder,
    TransferDNNClassifier,
    TransferDNNRegressor,
)
from skdnn.estimators._param_lists import TABLE_INPUT_NAMES
from skdnn.estimators._param_table import HYPERPARAMETERS

ESTIMATORS = [
    DNNClassifier, DNNRegressor, TransferDNNClassifier, TransferDNNRegressor,
    SiameseDNNClassifier, StackedAutoencoder,
]


def _signature(cls):
    parameters = inspect.signature(cls.__init__).parameters.values()
    return [(p.name, p.default) for p in parameters if p.name != "self"]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_init_signature_is_the_table(cls):
    assert _signature(cls) == [(h.name, h.default) for h in cls._hyperparameters]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_constraints_and_docs_come_from_the_table(cls):
    assert cls._parameter_constraints == {h.name: h.constraints for h in cls._hyperparameters}
    documented = ClassDoc(cls)["Parameters"]
    assert [entry.name for entry in documented] == [h.name for h in cls._hyperparameters]
    for entry, row in zip(documented, cls._hyperparameters, strict=True):
        assert entry.type == f"{row.kind}, default={row.default!r}"
        assert " ".join(entry.desc) == row.doc


def test_shared_rows_are_shared():
    # The classifiers take every row with the table's default (bar their own widths);
    # the table input's rows only those that build their own first layer.
    for cls in (DNNClassifier, TransferDNNClassifier, SiameseDNNClassifier):
        rows = {h.name: h for h in cls._hyperparameters}
        for name, row in HYPERPARAMETERS.items():
            if name in TABLE_INPUT_NAMES and cls is not DNNClassifier:
                assert name not in rows, (cls.__name__, name)
            elif name != "hidden_layer_sizes":
                assert rows[name] == row, (cls.__name__, name)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_init_stores_every_parameter_unchanged(cls):
    values = {h.name: object() for h in cls._hyperparameters}
    estimator = cls(**values)
    assert all(getattr(estimator, name) is value for name, value in values.items())
