"""A Sphinx hook for the book: keep one copy of each inline script in a page's head.

sphinx-thebe registers its inline configuration (``const THEBE_JS_URL = ...``) as a script
without a file name. Sphinx 7.4's HTML builder adds the registered scripts once as
``_JavaScript(None, body=...)`` and again, for assets registered after its init, as
``_JavaScript('', body=...)``; the two do not compare equal, so every page declared the same
constants twice and logged "Identifier 'THEBE_JS_URL' has already been declared". Loaded
through ``_config.yml``'s ``sphinx.local_extensions``.
"""


def _drop_repeated_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (str(getattr(script, "filename", script) or ""),
               tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
