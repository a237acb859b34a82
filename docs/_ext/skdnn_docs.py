"""Helpers of the documentation build (named in ``conf.py``).

:func:`example_arguments`: the command line sphinx-gallery gives every example
(``--quick`` on the bundled digits, so the gallery builds in seconds).

The guide's figures need no helper: their code, shown under each figure,
uses skdnn and scikit-learn only.
"""

from __future__ import annotations


def example_arguments(gallery_conf: dict, script_vars: dict) -> list[str]:
    """``sys.argv[1:]`` for each example run by sphinx-gallery.

    Parameters
    ----------
    gallery_conf, script_vars : dict
        sphinx-gallery's configuration and the script's variables (unused:
        every example takes the same arguments).

    Returns
    -------
    list of str
        A quick run on scikit-learn's digits, on one thread.
    """
    return ["--quick", "--data", "digits", "--threads", "1"]
