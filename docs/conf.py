"""Sphinx configuration of the skinfluence documentation.

Build (warnings are errors):  python -m sphinx -W -b html docs docs/_build/html

The gallery runs in a reduced mode by default (only the fast examples execute; the others
are rendered without output). ``SKINFLUENCE_DOCS_GALLERY=full`` executes every example and
``SKINFLUENCE_DOCS_GALLERY=none`` none of them.
"""

import os
import sys
from pathlib import Path

import skinfluence

sys.path.insert(0, str(Path(__file__).parent))

project = "skinfluence"
author = "the skinfluence developers"
copyright = "2026, the skinfluence developers"
release = skinfluence.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "examples", "auto_examples/*.ipynb", "auto_examples/*.py"]
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
default_role = "literal"

intersphinx_mapping = {}  # no network in CI: cross-references stay inside this project

html_theme = "pydata_sphinx_theme"
html_title = f"skinfluence {release}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
html_static_path = []

# -- gallery ---------------------------------------------------------------------------------
# Examples that execute in the reduced (default) mode: each takes a few seconds.
FAST_EXAMPLES = r"plot_(explain_misclassification|find_mislabelled)\.py"
_mode = os.environ.get("SKINFLUENCE_DOCS_GALLERY", "fast")
if _mode not in ("fast", "full", "none"):
    raise ValueError(f"SKINFLUENCE_DOCS_GALLERY must be fast, full or none; got {_mode!r}.")

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": {"fast": FAST_EXAMPLES, "full": r"plot_", "none": r"^$"}[_mode],
    "plot_gallery": "True",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "write_computation_times": False,
}


def _skip_generated_members(app, what, name, obj, skip, options):
    """scikit-learn generates ``set_*_request`` methods (metadata routing) on every estimator
    class; their docstrings point into scikit-learn's own docs. Leave them out."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_generated_members)
