"""Show training progress, and say why training stopped.

``verbose=1`` shows what the output can show: a tqdm bar on a terminal, a
notebook bar where ipywidgets can draw one, and otherwise (stderr redirected to
a file, CI, ``nohup``, a notebook without ipywidgets) one line per epoch.
``verbose=2`` always prints the lines, to stdout. The lines form a table of
fixed-width columns under a header, narrow enough for 80 columns. When training
ends early (patience exhausted, a non-finite loss, ``KeyboardInterrupt``, a
callback) or the best epoch's weights are restored, a closing line says so.

Importing this module imports neither ``tqdm.auto`` nor ``tqdm.notebook``:
``tqdm.auto`` warns ("IProgress not found") in a notebook without ipywidgets,
and the notebook bar is only imported when it can be drawn.
"""

from __future__ import annotations

import math
import sys
from importlib.util import find_spec
from typing import Any, TextIO

from tqdm.std import tqdm as terminal_bar

from skdnn.training.setup import CallbackBase, TrainingRun

#: Record keys the lines and the bar show in their own format, or not at all.
_NOT_METRICS = frozenset({"epoch", "lr", "time", "steps"})
#: Short column names.
_SHORT = {"accuracy": "acc"}
#: Width of a metric column: "-999.9999" or "1.234e-05".
_NUMBER_WIDTH = 9
#: The bar keeps at least this many characters (and a fifth of the line) beside the postfix.
_MIN_BAR = 10
_BAR_FORMAT = (
    "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"
)


def format_number(value: float) -> str:
    """``value`` in at most nine characters: four decimals, or three in scientific notation.

    Four decimals for magnitudes from 0.001 to 10000 (and for 0), scientific
    notation beyond, so that a column of numbers lines up whatever their size.
    """
    if not math.isfinite(value):
        return str(value)
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.4f}"
    return f"{value:.3e}"


def metric_keys(record: dict[str, Any]) -> list[str]:
    """The scalar figures of ``record`` in display order: training first, losses first."""
    keys = [
        key
        for key, value in record.items()
        if key not in _NOT_METRICS
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ]
    return sorted(keys, key=lambda k: (k.startswith("val_"), k.removeprefix("val_") != "loss"))


def column_name(key: str) -> str:
    """The header of ``key``'s column (``val_accuracy`` -> ``val_acc``)."""
    prefix = "val_" if key.startswith("val_") else ""
    name = key.removeprefix("val_")
    return prefix + _SHORT.get(name, name)


class EpochLines:
    """The per-epoch table: a header, then one line of fixed-width columns per epoch.

    The columns are the epoch (``12/100``), the record's scalar figures
    (:func:`metric_keys`, formatted by :func:`format_number`), the learning rate
    at the start of the epoch and the epoch's seconds. They are fixed by the
    first record; a figure missing from a later record leaves its column blank.

    Parameters
    ----------
    last_epoch : int
        Number of the last epoch the run may reach (the ``/100`` part).
    """

    def __init__(self, last_epoch: int) -> None:
        self.last_epoch = last_epoch
        self.keys: list[str] | None = None

    def lines(self, record: dict[str, Any]) -> list[str]:
        """The lines to print for ``record``: the header before the first one."""
        header = self.keys is None
        if header:
            self.keys = metric_keys(record)
        digits = len(str(self.last_epoch))
        epoch_width = max(len("epoch"), 2 * digits + 1)
        widths = [max(_NUMBER_WIDTH, len(column_name(key))) for key in self.keys]
        cells = [f"{record['epoch']:>{digits}}/{self.last_epoch}".rjust(epoch_width)]
        for key, width in zip(self.keys, widths, strict=True):
            value = record.get(key)
            cells.append(("" if value is None else format_number(value)).rjust(width))
        cells.append(f"{record['lr']:.2e}" if "lr" in record else " " * 8)
        cells.append(f"{record['time']:.2f}s".rjust(7) if "time" in record else " " * 7)
        row = "  ".join(cells)
        if not header:
            return [row]
        names = [column_name(k).rjust(width) for k, width in zip(self.keys, widths, strict=True)]
        title = "  ".join(["epoch".rjust(epoch_width), *names, "lr".rjust(8), "time".rjust(7)])
        return [title, row]


def bar_postfix(record: dict[str, Any], room: int | None) -> str:
    """The bar's figures, most telling first, cut to ``room`` characters (None: all).

    The monitored loss (``val_loss``, else ``loss``) comes first, then the
    other validation figures, the training figures and the learning rate.
    """
    keys = metric_keys(record)
    ranked = sorted(keys, key=lambda k: not k.startswith("val_"))  # stable: losses stay first
    shown = [f"{column_name(k)}={format_number(record[k])}" for k in ranked]
    if "lr" in record:
        shown.append(f"lr={record['lr']:.1e}")
    text = ""
    for item in shown:
        candidate = f"{text} {item}" if text else item
        if room is not None and len(candidate) > room:
            break
        text = candidate
    return text


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython's ``ZMQInteractiveShell``, Colab ...).

    Looks only at an IPython that is already imported; never imports it.
    """
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    try:
        shell = get_ipython() if callable(get_ipython) else None
        return shell is not None and (
            type(shell).__name__ == "ZMQInteractiveShell"
            or "IPKernelApp" in getattr(shell, "config", {})
        )
    except Exception:  # an unusual shell: take it for no notebook
        return False


def notebook_bar() -> type | None:
    """tqdm's notebook bar when ipywidgets can draw it, else None (nothing is imported then)."""
    try:
        if find_spec("ipywidgets") is None:
            return None
    except (ImportError, ValueError):  # a broken or stubbed-out ipywidgets
        return None
    from tqdm import notebook

    return notebook.tqdm if getattr(notebook, "IProgress", None) is not None else None


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def display_kind(verbose: int) -> str:
    """How ``verbose`` shows here: ``"none"``, ``"bar"``, ``"notebook"`` or ``"lines"``."""
    if not verbose:
        return "none"
    if verbose >= 2:
        return "lines"
    if in_notebook():
        return "notebook" if notebook_bar() is not None else "lines"
    return "bar" if _is_terminal(sys.stderr) else "lines"


def stop_message(run: TrainingRun) -> list[str]:
    """What to say at the end of ``run``: why it stopped early, and which weights it keeps.

    Nothing when it ran all its epochs and keeps the last epoch's weights;
    otherwise a line on when and why it stopped (when it did stop early) and
    one on the weights: those of the best epoch, restored, or of the last one.
    """
    reason, restored = run.stop_reason, run.restored_epoch
    last = run.records[-1]["epoch"] if run.records else None
    if reason is None and (restored is None or restored == last):
        return []
    stopper = run.setup.stopper
    monitor = stopper.monitored_name(run.validation is not None)
    lines = []
    if reason is not None:
        lines.append(_STOPPED[reason.kind].format(
            epoch=reason.epoch, monitor=monitor, patience=stopper.patience, source=reason.source))
    best = f"{monitor} {format_number(stopper.best_loss)}"
    if restored is not None:
        lines.append(f"Restored the weights of epoch {restored}, the best ({best}).")
    elif last is not None:
        lines.append(f"Kept the weights of epoch {last}, the last one "
                     f"(the best: epoch {stopper.best_epoch}, {best}).")
    else:
        lines.append("No epoch finished.")
    return lines


#: The first line of :func:`stop_message`, by :attr:`StopReason.kind`.
_STOPPED = {
    "early_stopping": "Early stopping after epoch {epoch}: {monitor} has not improved "
                      "for {patience} epochs.",
    "diverged": "Stopped in epoch {epoch}: the loss became non-finite.",
    "interrupted": "Interrupted (KeyboardInterrupt) in epoch {epoch}.",
    "callback": "Stopped after epoch {epoch} by {source}.",
}


class ProgressReporter(CallbackBase):
    """A training callback that shows progress at the chosen verbosity.

    Parameters
    ----------
    verbose : int
        0: nothing. 1: a bar on a terminal or in a notebook with ipywidgets,
        else one line per epoch (to stderr; to stdout in a notebook, where
        stderr shows as an alarm). 2: one line per epoch, to stdout.
    max_epochs : int
        Epochs the run may take (the bar's length).
    description : str, default="fit"
        Label of the bar.
    """

    def __init__(self, verbose: int, max_epochs: int, description: str = "fit") -> None:
        self.verbose = int(verbose)
        self.max_epochs = max_epochs
        self.description = description
        self.kind = display_kind(self.verbose)
        self._bar: Any = None
        self._lines: EpochLines | None = None

    def _stream(self) -> TextIO:
        """Where lines go (looked up when written: the caller may redirect it)."""
        if self.verbose >= 2 or in_notebook():
            return sys.stdout
        return sys.stderr

    def on_train_begin(self, run: TrainingRun) -> None:
        """Open the bar, or start the table of lines."""
        last_epoch = run.first_epoch + self.max_epochs - 1
        if self.kind == "bar":
            self._bar = terminal_bar(
                total=self.max_epochs, desc=self.description, unit="epoch", leave=True,
                file=sys.stderr, dynamic_ncols=True, bar_format=_BAR_FORMAT,
            )
        elif self.kind == "notebook":
            bar = notebook_bar()
            self._bar = bar(total=self.max_epochs, desc=self.description, unit="epoch", leave=True)
        elif self.kind == "lines":
            self._lines = EpochLines(last_epoch)

    def on_epoch_end(self, run: TrainingRun, record: dict[str, Any]) -> None:
        """Show the epoch described by ``record``."""
        if self._bar is not None:
            self._bar.set_postfix_str(bar_postfix(record, self._postfix_room()), refresh=False)
            self._bar.update(1)
        elif self._lines is not None:
            stream = self._stream()
            for line in self._lines.lines(record):
                print(line, file=stream, flush=True)

    def _postfix_room(self) -> int | None:
        """Characters the terminal leaves the postfix beside a bar of ``_MIN_BAR``."""
        if self.kind != "bar":
            return None  # a notebook bar's text has the room it needs
        columns = self._bar.format_dict.get("ncols")
        if not columns:
            return None
        digits = len(str(self.max_epochs))
        # desc ": 100%|" bar "| n/total [elapsed<remaining" ", " postfix "]"
        fixed = len(self.description) + 7 + 2 * digits + 4 + 15 + 2 + 1
        return max(0, columns - fixed - max(_MIN_BAR, columns // 5))

    def on_train_end(self, run: TrainingRun) -> None:
        """Close the bar, and say why training stopped and which weights it keeps."""
        if self._bar is not None:
            self._bar.close()
        if self.kind == "none":
            return
        stream = sys.stderr if self.kind == "bar" else self._stream()
        for line in stop_message(run):
            print(line, file=stream, flush=True)
