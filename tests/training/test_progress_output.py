"""What a user sees of a fit: progress in a log file, in a notebook without widgets.

The subprocess tests run a real fit with stderr redirected to a file (logs, CI,
``nohup``) and in a simulated Jupyter kernel without ipywidgets; in both,
``verbose=1`` must print one line per epoch, announce the early stop and emit
no ``TqdmWarning``. The in-process ones check the note on divergence and Ctrl-C.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import textwrap

import pytest

EPOCH_LINE = re.compile(r"^\s*(\d+)/(\d+)\s")

#: A fit that stops early for certain: no improvement is ever large enough.
EARLY_STOPPING_FIT = """
import numpy as np
from sklearn.datasets import load_digits
from skdnn import DNNClassifier
X, y = load_digits(return_X_y=True)
clf = DNNClassifier((16,), max_epochs=40, patience=2, min_delta=100.0, random_state=0,
                    verbose=1).fit(X[:300] / 16, y[:300])
print("epochs", clf.n_epochs_, "best", clf.best_epoch_, flush=True)
"""


# --------------------------------------------------------------------------- real fits
def _run(code: str, stderr_path, env=None) -> str:
    with open(stderr_path, "w") as stderr:
        out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                             stderr=stderr, text=True, check=True, timeout=300)
    return out.stdout


def _epoch_lines(text: str) -> list[tuple[int, int]]:
    return [tuple(map(int, m.groups())) for m in map(EPOCH_LINE.match, text.splitlines()) if m]


def test_stderr_to_a_file_gets_a_line_per_epoch_and_the_early_stop(tmp_path):
    log = tmp_path / "stderr.log"
    stdout = _run(EARLY_STOPPING_FIT, log)
    text = log.read_text()
    assert stdout.splitlines() == ["epochs 3 best 1"]  # progress stays off stdout
    assert _epoch_lines(text) == [(1, 40), (2, 40), (3, 40)]
    assert re.search(r"^\s*epoch\s+loss\s+acc\s+val_loss\s+val_acc\s+lr\s+time$", text, re.M)
    assert "Early stopping after epoch 3: val_loss has not improved for 2 epochs." in text
    assert "Restored the weights of epoch 1, the best (val_loss " in text
    assert "Warning" not in text and "\r" not in text  # no warnings, no bar redraws
    assert all(len(line) < 80 for line in text.splitlines())


def test_notebook_without_widgets_gets_lines_and_no_tqdm_warning(tmp_path):
    log = tmp_path / "stderr.log"
    fake_kernel = """
    import sys, types, warnings
    from tqdm import TqdmWarning
    warnings.simplefilter("error", TqdmWarning)  # "IProgress not found" fails the run
    class ZMQInteractiveShell:
        config = {"IPKernelApp": {}}
    IPython = types.ModuleType("IPython")
    IPython.get_ipython = ZMQInteractiveShell
    sys.modules["IPython"] = IPython
    sys.modules["ipywidgets"] = None  # not installed
    """
    check = """
    print("imported", sorted(m for m in sys.modules if m.startswith("tqdm.")), flush=True)
    """
    stdout = _run(textwrap.dedent(fake_kernel) + textwrap.dedent(EARLY_STOPPING_FIT)
                  + textwrap.dedent(check), log)
    assert "Warning" not in log.read_text()
    # In a notebook the lines go to stdout (Jupyter shows stderr as an alarm).
    assert _epoch_lines(stdout) == [(1, 40), (2, 40), (3, 40)]
    assert "Early stopping after epoch 3" in stdout and "Restored the weights of epoch 1" in stdout
    imported = stdout.splitlines()[-1]
    assert "tqdm.auto" not in imported and "tqdm.notebook" not in imported


def test_verbose_two_prints_lines_to_stdout(capsys, digits):
    from skdnn import DNNClassifier

    X, y, _, _ = digits
    clf = DNNClassifier((16,), max_epochs=3, early_stopping=False, random_state=0, verbose=2)
    clf.fit(X[:200], y[:200])
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert lines[0].split() == ["epoch", "loss", "acc", "lr", "time"]
    assert _epoch_lines(captured.out) == [(1, 3), (2, 3), (3, 3)]
    assert len(lines) == 4  # ran to the end, kept the last weights: nothing to announce


def test_verbose_zero_prints_nothing(capsys, digits):
    from skdnn import DNNClassifier

    X, y, _, _ = digits
    DNNClassifier((16,), max_epochs=2, patience=1, min_delta=100.0, random_state=0,
                  verbose=0).fit(X[:200], y[:200])
    assert capsys.readouterr() == ("", "")


def _poison_from_epoch(epoch: int, batches_per_epoch: int, *, interrupt: bool = False):
    """An ``augment`` that, from ``epoch`` on, returns NaN inputs (or raises Ctrl-C)."""
    calls = []

    def augment(X, generator):
        calls.append(None)
        if len(calls) > (epoch - 1) * batches_per_epoch:
            if interrupt:
                raise KeyboardInterrupt
            return X * float("nan")
        return X

    return augment


def test_divergence_is_announced(capsys, digits):
    from skdnn import DNNClassifier
    from skdnn.exceptions import TrainingInterruptedWarning

    X, y, _, _ = digits
    clf = DNNClassifier((16,), max_epochs=10, early_stopping=False, batch_size=100,
                        random_state=0, verbose=2, augment=_poison_from_epoch(4, 2))
    with pytest.warns(TrainingInterruptedWarning, match="non-finite"):
        clf.fit(X[:200], y[:200])
    out = capsys.readouterr().out
    assert _epoch_lines(out) == [(1, 10), (2, 10), (3, 10)]
    assert "Stopped in epoch 4: the loss became non-finite." in out
    assert f"Restored the weights of epoch {clf.best_epoch_}, the best (loss " in out


def test_interruption_is_announced(capsys, digits):
    from skdnn import DNNClassifier

    X, y, _, _ = digits
    clf = DNNClassifier((16,), max_epochs=10, early_stopping=False, batch_size=100,
                        random_state=0, verbose=2,
                        augment=_poison_from_epoch(3, 2, interrupt=True))
    with pytest.warns(Warning, match="nterrupt"), contextlib.suppress(KeyboardInterrupt):
        clf.fit(X[:200], y[:200])  # the fit may hand Ctrl-C on to the caller
    out = capsys.readouterr().out
    assert _epoch_lines(out) == [(1, 10), (2, 10)]
    assert "Interrupted (KeyboardInterrupt) in epoch 3." in out
    assert f"Restored the weights of epoch {clf.best_epoch_}, the best (loss " in out
