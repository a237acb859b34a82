"""Sphinx configuration of the skdnn documentation.

Build (from the repository root)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The build needs no network access and executes no example: every code sample in
the user guide is a plain ``code-block``.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

# Import skdnn from this checkout, whether or not it is installed.
REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, os.fspath(REPO_ROOT))

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
    "numpydoc",
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

# -- HTML output -------------------------------------------------------------
html_theme = "alabaster"
html_title = f"skdnn {release}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "Training deep neural networks, the scikit-learn way",
    "fixed_sidebar": True,
    "show_relbars": True,
}
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
