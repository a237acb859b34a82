import subprocess
import sys

import pytest

import skdnn
from skdnn.cli import DEMO_PLAN, demo, main


def _run(*arguments: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *arguments], capture_output=True, text=True, timeout=timeout, check=True,
    )


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
    assert "COMMAND" in capsys.readouterr().err


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as error:
        main(["--version"])
    assert error.value.code == 0
    assert capsys.readouterr().out.strip() == f"skdnn {skdnn.__version__}"


@pytest.mark.parametrize("arguments", [["--help"], ["demo", "--help"]])
def test_help_is_plain_text(arguments, capsys):
    with pytest.raises(SystemExit):
        main(arguments)
    text = capsys.readouterr().out
    assert "usage:" in text and "`" not in text and ":class:" not in text
    if "demo" in arguments:
        assert DEMO_PLAN.splitlines()[0] in text


def test_help_does_not_import_torch():
    # A fresh interpreter: this test process has torch loaded already.
    code = (
        "import sys, contextlib, io\n"
        "from skdnn.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in ('torch', 'sklearn', 'skdnn.estimators') if m in sys.modules))\n"
    )
    assert _run("-c", code, timeout=60).stdout.strip() == "[]"


def test_estimators_load_on_first_use():
    code = (
        "import sys, skdnn\n"
        "before = 'torch' in sys.modules\n"
        "from skdnn import DNNClassifier\n"
        "print(before, 'torch' in sys.modules, DNNClassifier is skdnn.DNNClassifier)\n"
    )
    assert _run("-c", code, timeout=120).stdout.split() == ["False", "True", "True"]
    with pytest.raises(AttributeError, match="no attribute 'NoSuchEstimator'"):
        skdnn.NoSuchEstimator  # noqa: B018


def test_python_dash_m_entry_point():
    completed = _run("-m", "skdnn", "demo", "--quick")
    assert completed.stdout.startswith(DEMO_PLAN.splitlines()[0])
    assert "digits 0-4" in completed.stdout and "2 frozen layers" in completed.stdout
