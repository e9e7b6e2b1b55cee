"""Sphinx configuration of hierstan's documentation site (`make docs` builds it into docs/_build).

Sphinx with MyST-NB: pages are Markdown; the worked examples are MyST notebooks (Markdown with
code cells) executed at every build with the real engine, so the site shows what this version
prints. The build runs with -W -n: any warning, broken cross-reference, cell error or output on
a cell's stderr (a raw warning, a progress bar) fails it.
"""

import hierstan

project = "hierstan"
author = "the hierstan developers"
copyright = "2026, the hierstan developers"
release = version = hierstan.__version__

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
exclude_patterns = ["_build", "jupyter_execute", "**.ipynb_checkpoints"]
html_theme = "furo"
html_title = f"hierstan {release}"

# links to headings of another page (models.md#3-g-group-...) are checked like any reference
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# every build executes every example: a page cannot show output an older version printed
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 900
nb_output_stderr = "warn"  # a raw warning or a bar in an example is a build failure
nb_merge_streams = True

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_numpy_docstring = True
napoleon_google_docstring = False

# No network here for intersphinx: types from the libraries hierstan builds on are named but not
# linked. Only these are exempt from the broken-reference check; hierstan's own names are not.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(pd|pandas|np|numpy|az|arviz|xr|xarray|matplotlib|dask|distributed|scipy|cmdstanpy)\..*"),
    (r"py:.*", r"(Figure|Axes|Path|datetime|Callable|Mapping|Sequence|Iterable|Any|Literal|NDArray)"),
    (r"py:.*", r"(collections\.abc|typing|pathlib)\..*"),
]
