"""The documentation builds without a warning and reads right in a real browser.

One build (``-W``: any warning fails it) serves every test of this module. The
browser checks open the built pages in Debian's chromium, driven by
playwright (which then downloads no browser of its own), with every request
outside the build refused: the pages must work offline.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXAMPLES = DOCS.parent / "examples"
#: The real binary behind Debian's /usr/bin/chromium wrapper script.
CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser")
#: Flags for a headless chromium run as root, without background traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MATH_PAGES = ("guide/optimizers.html", "guide/batch_normalization.html")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    pytest.importorskip("sphinx_gallery")
    pytest.importorskip("pydata_sphinx_theme")
    from sphinx.cmd.build import build_main

    root = tmp_path_factory.mktemp("docs")
    warnings_file = root / "warnings.txt"
    status = build_main(
        [
            "-W",  # any warning fails the build
            "--keep-going",  # ...but report all of them
            "-q",
            "-b",
            "html",
            "-d",
            str(root / "doctrees"),
            "-w",
            str(warnings_file),
            str(DOCS),
            str(root / "html"),
        ]
    )
    warnings = warnings_file.read_text() if warnings_file.exists() else ""
    assert status == 0, f"Sphinx build failed:\n{warnings}"
    return root / "html"


def _pages(html: Path) -> list[Path]:
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.parts)


def test_docs_build_without_warnings(html: Path) -> None:
    assert (html / "index.html").is_file()
    # MathJax ships with the pages: no page loads it from the network
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    for page in _pages(html):
        text = page.read_text(encoding="utf-8")
        assert 'src="http' not in text and "cdn.jsdelivr" not in text, page


def test_gallery_has_every_example_with_its_figures(html: Path) -> None:
    index = (html / "auto_examples" / "index.html").read_text(encoding="utf-8")
    scripts = sorted(p.stem for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))
    assert len(scripts) >= 8
    for stem in scripts:
        assert f"{stem}.html" in index, stem
        page = (html / "auto_examples" / f"{stem}.html").read_text(encoding="utf-8")
        assert f"sphx_glr_{stem}_001.png" in page, f"{stem}: no figure"
        if "_common.load_data(" in (EXAMPLES / f"{stem}.py").read_text(encoding="utf-8"):
            # the gallery runs on the bundled digits, whatever is installed
            assert "s digits, 1347 training and 450 test images" in page, stem
    assert "_common" not in index


def test_guide_figures_are_drawn_at_build_time(html: Path) -> None:
    expected = {
        "activations": 1,
        "initialization": 1,
        "lr_schedules": 2,
        "batch_normalization": 1,
    }
    for page, count in expected.items():
        text = (html / "guide" / f"{page}.html").read_text(encoding="utf-8")
        figures = [name for name in os.listdir(html / "_images") if name.startswith(f"{page}-")]
        assert len(figures) == count, (page, figures)
        for name in figures:
            assert name in text
            assert (html / "_images" / name).stat().st_size > 10_000  # a real plot


def _chromium() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        path = candidate if os.path.isabs(candidate) else shutil.which(candidate)
        if path and os.access(path, os.X_OK):
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    if executable is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class _Tab:
    """A browser tab on the built pages that refuses every request outside them."""

    def __init__(self, browser) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.refused: list[str] = []
        self.page.route("**/*", self._route)

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith(("file://", "data:")):
            route.continue_()
        else:
            self.refused.append(url)
            route.abort()

    def open(self, path: Path) -> None:
        self.refused.clear()
        self.page.goto(path.as_uri(), wait_until="load")

    def evaluate(self, script: str):
        return self.page.evaluate(script)


@pytest.fixture(scope="module")
def tab(browser):
    opened = _Tab(browser)
    yield opened
    opened.context.close()


_BROKEN_IMAGES = """() => Array.from(document.images)
    .filter(image => !(image.complete && image.naturalWidth > 0))
    .map(image => image.getAttribute('src'))"""
_CUT_CODE = """() => Array.from(document.querySelectorAll('div.highlight pre'))
    .filter(pre => pre.getClientRects().length && pre.scrollWidth > pre.clientWidth + 1)
    .map(pre => pre.innerText.split('\\n').sort((a, b) => b.length - a.length)[0])"""
_CUT_TABLES = """() => Array.from(document.querySelectorAll('article table'))
    .filter(table => {
        const box = table.closest('.pst-scrollable-table-container') || table;
        const style = getComputedStyle(box);
        const scrolls = ['auto', 'scroll'].includes(style.overflowX);
        return box.scrollWidth > box.clientWidth + 1 && !scrolls;
    }).length"""


def test_pages_load_offline_with_every_image(tab, html: Path) -> None:
    problems = []
    for path in _pages(html):
        tab.open(path)
        broken = tab.evaluate(_BROKEN_IMAGES)
        cut = tab.evaluate(_CUT_CODE)
        tables = tab.evaluate(_CUT_TABLES)
        if broken or cut or tables or tab.refused:
            problems.append((path.relative_to(html).as_posix(), broken, cut, tables, tab.refused))
    assert not problems, "\n".join(map(str, problems))


@pytest.mark.parametrize("name", MATH_PAGES)
def test_math_is_rendered_offline(tab, html: Path, name: str) -> None:
    tab.open(html / name)
    tab.page.wait_for_function("() => window.MathJax && MathJax.startup", timeout=30_000)
    tab.evaluate("() => MathJax.startup.promise")
    formulas, rendered = tab.evaluate(
        "() => [document.querySelectorAll('.math').length,"
        " document.querySelectorAll('.math mjx-container').length]"
    )
    text = tab.evaluate("() => document.querySelector('article').innerText")
    assert formulas > 5 and rendered == formulas
    for tex in ("\\frac", "\\(", "\\[", "\\eta", "\\hat", "\\epsilon"):
        assert tex not in text, f"raw TeX {tex!r} on {name}"
    assert not tab.refused
