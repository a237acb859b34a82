"""Sphinx configuration of the skdnn documentation.

Build (from the repository root)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The build needs no network access, and the pages it writes need none either:
MathJax is copied into ``_static`` (``sphinx-mathjax-offline``). Figures are
drawn at build time: sphinx-gallery runs every script of ``examples/`` with
``--quick`` on scikit-learn's digits (into ``docs/auto_examples``, not kept
in git), and the ``plot::`` directives of the guide run small fits with skdnn.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

# Import skdnn from this checkout, whether or not it is installed; the
# examples import their helper module ``_common`` from their own folder.
REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, os.fspath(REPO_ROOT))
sys.path.insert(0, os.fspath(REPO_ROOT / "examples"))
sys.path.insert(0, os.fspath(Path(__file__).resolve().parent / "_ext"))
# The examples leave their figures open for sphinx-gallery to collect.
os.environ["SKDNN_EXAMPLES_KEEP_FIGURES"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")

import skdnn  # noqa: E402

# -- Project information -----------------------------------------------------
project = "skdnn"
author = "The skdnn developers"
copyright = "the skdnn developers"
release = skdnn.__version__
version = ".".join(release.split(".")[:2])

# -- General configuration ---------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # sets mathjax_path to a copy in _static
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
]

templates_path: list[str] = []
root_doc = "index"
source_suffix = {".rst": "restructuredtext"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

nitpicky = False
pygments_style = "sphinx"
default_role = "literal"

# -- autodoc / autosummary ---------------------------------------------------
# Stubs are never generated: api.rst holds the autosummary tables *and* the
# autoclass/autofunction entries they link to, so a build writes nothing into
# the source tree.
autosummary_generate = False
autodoc_default_options = {
    "member-order": "bysource",
}
autodoc_typehints = "none"  # the numpydoc "Parameters" sections carry the types
autoclass_content = "class"

# -- numpydoc ----------------------------------------------------------------
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- sphinx-gallery: examples/ as a gallery, run quickly ------------------------
sphinx_gallery_conf = {
    "examples_dirs": os.fspath(REPO_ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/[^_][^/]*\.py$",  # run every example...
    "ignore_pattern": r"_common\.py$",  # ...but not the helper module
    "reset_argv": "skdnn_docs.example_arguments",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "abort_on_example_error": True,
    "show_memory": False,
    "show_signature": False,
    "min_reported_time": 60,
    "write_computation_times": False,  # its page loads jQuery from a CDN
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
}

# -- plot directive: figures of the guide, drawn from code at build time -----------
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]
plot_pre_code = "import numpy as np\nimport matplotlib.pyplot as plt\n"
plot_rcparams = {"figure.figsize": (7, 3.5), "figure.autolayout": True}

# -- HTML output -------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skdnn {release}"
html_static_path = ["_static"]
html_css_files = ["skdnn.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 5,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "install": [], "comparison": []}
html_show_sourcelink = False


# -- Docstring touch-ups -----------------------------------------------------
# Two kinds of text in docstrings that Sphinx would otherwise report:
#
# * Inherited scikit-learn methods (``score``) cite labels of scikit-learn's own
#   documentation (``:ref:`accuracy_score```). Without intersphinx (the build
#   stays offline) these become plain text.
# * A shape such as ``(n_features_in_,)`` written without backticks reads as a
#   reST hyperlink reference (trailing underscore); it is rendered as code.
_REF_ROLE = re.compile(r":ref:`(?:([^`<]*?)\s*<[^`>]+>|([^`]+))`")
_SHAPE = re.compile(r"shape \(([^)]*)\)")
_TRAILING_UNDERSCORE = re.compile(r"(?<![`\w])([A-Za-z][A-Za-z0-9_]*_)(?![`\w])")


def _plain_ref(match: re.Match[str]) -> str:
    text, label = match.groups()
    return text if text else f"``{label}``"


def _literal_shape(match: re.Match[str]) -> str:
    return "shape (" + _TRAILING_UNDERSCORE.sub(r"``\1``", match.group(1)) + ")"


def _touch_up_docstring(app, what, name, obj, options, lines) -> None:
    module = getattr(obj, "__module__", None) or ""
    foreign = not module.startswith("skdnn")
    for index, line in enumerate(lines):
        if foreign and ":ref:`" in line:
            line = _REF_ROLE.sub(_plain_ref, line)
        if "shape (" in line:
            line = _SHAPE.sub(_literal_shape, line)
        lines[index] = line


def setup(app):
    # Run before numpydoc (priority 500) so it parses the corrected text.
    app.connect("autodoc-process-docstring", _touch_up_docstring, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
