"""Progress display: number and line formats, the bar's width, where the output goes."""

from __future__ import annotations

import io
import re
import sys
import types

import pytest
from tqdm.std import tqdm

import skdnn.training.progress as progress
from skdnn.training.progress import (
    EpochLines,
    ProgressReporter,
    bar_postfix,
    display_kind,
    format_number,
    in_notebook,
    notebook_bar,
)

RECORD = {"epoch": 3, "loss": 1.6, "lr": 1e-3, "accuracy": 0.71234, "val_loss": 0.08931,
          "val_accuracy": 0.9, "grad_norms": [0.1, 0.2], "unhealthy_fraction": [0.0, 0.0],
          "steps": 12, "time": 0.5}


# --------------------------------------------------------------------------- formatting
def test_numbers_have_a_fixed_width():
    assert format_number(1.6) == "1.6000" and format_number(0.08931) == "0.0893"
    assert format_number(0.0) == "0.0000" and format_number(1.5e-5) == "1.500e-05"
    assert format_number(12345.6) == "1.235e+04" and format_number(float("nan")) == "nan"
    for value in (1.6, 0.08931, -999.99994, 1e-7, 9999.5, -2.5e-9, 123456789.0):
        assert len(format_number(value)) <= 10


def test_epoch_lines_are_columns_under_a_header():
    lines = EpochLines(last_epoch=100)
    header, first = lines.lines(RECORD)
    assert header.split() == ["epoch", "loss", "acc", "val_loss", "val_acc", "lr", "time"]
    assert first.split() == ["3/100", "1.6000", "0.7123", "0.0893", "0.9000", "1.00e-03", "0.50s"]
    (second,) = lines.lines({**RECORD, "epoch": 12, "loss": 0.08931, "val_loss": 12.5,
                             "time": 12.25})
    assert len(first) == len(second) == len(header)
    # Every column ends at the same place on every line: right-aligned, fixed width.
    ends = [[m.end() for m in re.finditer(r"\S+", line)] for line in (header, first, second)]
    assert ends[0] == ends[1] == ends[2]


def test_epoch_lines_fit_80_columns_and_leave_missing_figures_blank():
    lines = EpochLines(last_epoch=1000)
    header, first = lines.lines({**RECORD, "epoch": 1000})
    assert len(header) < 80 and len(first) < 80
    (partial,) = lines.lines({"epoch": 7, "loss": 0.5, "lr": 0.01, "time": 0.1})
    assert len(partial) == len(first) and partial.split() == ["7/1000", "0.5000", "1.00e-02",
                                                              "0.10s"]


def test_bar_postfix_puts_the_monitored_loss_first_and_fits_its_room():
    full = bar_postfix(RECORD, None)
    assert full == "val_loss=0.0893 val_acc=0.9000 loss=1.6000 acc=0.7123 lr=1.0e-03"
    assert bar_postfix(RECORD, 20) == "val_loss=0.0893"
    assert bar_postfix(RECORD, 5) == ""
    assert bar_postfix({"epoch": 1, "loss": 0.25}, None) == "loss=0.2500"


# --------------------------------------------------------------------------- where output goes
class ZMQInteractiveShell:
    """Has the class name of a Jupyter kernel's shell."""

    def __init__(self, config=None):
        self.config = {} if config is None else config


class TerminalInteractiveShell(ZMQInteractiveShell):
    """IPython in a terminal (a subclass, to check the class name counts, not the type)."""


class ColabShell(TerminalInteractiveShell):
    """Another kernel's shell: recognised by its config."""

    def __init__(self):
        super().__init__({"IPKernelApp": {}})


def _fake_ipython(monkeypatch, shell):
    module = types.ModuleType("IPython")
    module.get_ipython = lambda: shell
    monkeypatch.setitem(sys.modules, "IPython", module)


@pytest.mark.parametrize("shell, expected", [(ZMQInteractiveShell(), True), (ColabShell(), True),
                                             (TerminalInteractiveShell(), False), (None, False)])
def test_notebook_detection(monkeypatch, shell, expected):
    _fake_ipython(monkeypatch, shell)
    assert in_notebook() is expected


def test_no_notebook_without_ipython(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert not in_notebook()


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_display_kind(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert [display_kind(v) for v in (0, 1, 2, True)] == ["none", "lines", "lines", "lines"]
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert [display_kind(v) for v in (0, 1, 2)] == ["none", "bar", "lines"]
    _fake_ipython(monkeypatch, ZMQInteractiveShell())
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # not importable
    assert notebook_bar() is None and display_kind(1) == "lines"
    monkeypatch.setattr(progress, "notebook_bar", lambda: tqdm)  # as if ipywidgets were there
    assert display_kind(1) == "notebook"


def test_bar_keeps_its_width_at_80_columns(monkeypatch):
    stream = _Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(progress, "terminal_bar", lambda **kw: tqdm(
        **{**kw, "file": stream, "ncols": 80, "dynamic_ncols": False}))
    reporter = ProgressReporter(1, max_epochs=100, description="DNNClassifier")
    assert reporter.kind == "bar"
    run = types.SimpleNamespace(first_epoch=1, records=[], stop_reason=None, restored_epoch=None)
    reporter.on_train_begin(run)
    for epoch in range(1, 4):
        reporter.on_epoch_end(run, {**RECORD, "epoch": epoch})
    assert reporter._bar.n == 3 and reporter._bar.total == 100
    reporter.on_train_end(run)
    frames = [f for f in re.split(r"[\r\n]", stream.getvalue()) if "DNNClassifier" in f]
    last = frames[-1]
    assert "3/100" in last and "val_loss=0.0893" in last
    for frame in frames:
        assert len(frame) <= 80
        bar = frame.split("|")[1]
        assert len(bar) >= 10, frame
