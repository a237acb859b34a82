"""The Sphinx documentation builds without a single warning."""

from __future__ import annotations

from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path: Path) -> None:
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    from sphinx.cmd.build import build_main

    warnings_file = tmp_path / "warnings.txt"
    status = build_main(
        [
            "-W",  # any warning fails the build
            "--keep-going",  # ...but report all of them
            "-q",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            "-w",
            str(warnings_file),
            str(DOCS),
            str(tmp_path / "html"),
        ]
    )
    warnings = warnings_file.read_text() if warnings_file.exists() else ""
    assert status == 0, f"Sphinx build failed:\n{warnings}"
    assert (tmp_path / "html" / "index.html").is_file()
