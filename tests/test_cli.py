import subprocess
import sys

import pytest

from skdnn.cli import demo, main


def test_demo_reports_every_run(capsys):
    results = demo(quick=True, verbose=0)
    assert set(results) == {"digits 0-4", "scratch", "transfer"}
    for run in results.values():
        assert 0.0 <= run["accuracy"] <= 1.0 and run["epochs"] == 3 and run["fit_seconds"] > 0
    out = capsys.readouterr().out
    assert out.count("test accuracy") == 3


def test_main_requires_a_command(capsys):
    with pytest.raises(SystemExit) as error:
        main([])
    assert error.value.code == 2
    assert "demo" in capsys.readouterr().err


def test_python_dash_m_entry_point():
    completed = subprocess.run(
        [sys.executable, "-m", "skdnn", "demo", "--quick"], capture_output=True, text=True,
        timeout=300, check=True,
    )
    assert "digits 0-4" in completed.stdout and "2 frozen layers" in completed.stdout
