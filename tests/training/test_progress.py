import io

import pytest

from skdnn.training.progress import ProgressReporter, format_record

RECORD = {"epoch": 3, "loss": 0.123456, "val_loss": 0.2, "val_accuracy": 0.9, "lr": 1e-3,
          "time": 0.5}


def test_format_record_shows_headline_numbers():
    assert format_record(RECORD) == {
        "loss": "0.1235", "val_loss": "0.2", "val_accuracy": "0.9", "lr": "0.001"
    }


def test_bar_counts_epochs_and_shows_metrics(monkeypatch):
    stream = io.StringIO()
    import skdnn.training.progress as progress

    real_tqdm = progress.tqdm
    monkeypatch.setattr(
        progress, "tqdm", lambda **kw: real_tqdm(**{**kw, "disable": False, "file": stream})
    )
    reporter = ProgressReporter(1, max_epochs=5, description="DNNClassifier")
    reporter.on_epoch_end(None, RECORD)
    reporter.on_epoch_end(None, RECORD)
    assert reporter._bar.n == 2 and reporter._bar.total == 5
    reporter.on_train_end(None)
    output = stream.getvalue()
    assert "DNNClassifier" in output and "val_accuracy=0.9" in output and "2/5" in output


def test_bar_is_quiet_when_not_a_terminal(capsys):
    reporter = ProgressReporter(1, max_epochs=2)
    reporter.on_epoch_end(None, RECORD)
    reporter.on_train_end(None)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.parametrize("verbose", [0, 2])
def test_line_per_epoch_only_at_verbose_two(capsys, verbose):
    reporter = ProgressReporter(verbose, max_epochs=2)
    reporter.on_epoch_end(None, RECORD)
    out = capsys.readouterr().out
    assert (out.startswith("epoch    3") and "val_loss 0.2" in out) == (verbose == 2)
    assert (out == "") == (verbose == 0)
