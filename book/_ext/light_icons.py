"""A Sphinx hook for the book: the theme's icons without its 1.5 MB icon script.

pydata-sphinx-theme (under sphinx-book-theme) loads ``_static/scripts/fontawesome.js`` on
every page, Font Awesome's JavaScript, which swaps each ``<i class="fa-...">`` for an inline
SVG and carries the drawings of every Font Awesome icon (1.5 MB) for the dozen the pages
show. The theme's stylesheet already draws the same ``<i>`` elements from Font Awesome's
web fonts (``_static/vendor/fontawesome/webfonts``, which the browser fetches only when a
page shows an icon of that font: 156 KB solid, 118 KB brands), so the script only adds
weight. This hook puts ``templates/static/webpack-macros.html`` before the theme's: it
renders the theme's own macros and leaves out the script's tag. The buttons keep their
icons, labels and tooltips. Loaded through ``_config.yml``'s ``sphinx.local_extensions``.
"""

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _add_templates(app, config):
    config.templates_path = [*config.templates_path, str(TEMPLATES)]


def setup(app):
    app.connect("config-inited", _add_templates)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
