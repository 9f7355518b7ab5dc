"""Inline code in the prose that names a documented toyviz object links to its entry in the
API reference.

The chapters write API names as plain inline code (```toyviz.pruning.prune```, or
```masking.mask_losses``` after ``from toyviz import masking``), which JupyterLab shows as
code. In the book, each such literal whose text is the name of an object the Python domain
documents, in full or without the leading ``toyviz.`` (and with or without a trailing
``()``), becomes a cross-reference to it, as if written with MyST's ``{py:obj}`` role. Any
other inline code is left alone, so nothing can fail to resolve: the links are made only to
names the API reference holds.

It runs after every page has been read (the API pages define the objects) and before Sphinx
resolves references, so the links are resolved, checked and styled as the roles' are.
"""

import importlib
import inspect
import re

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform

#: What may be an API name: dotted identifiers, optionally called with no arguments.
NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(\(\))?$")
PACKAGE = "toyviz"


def documented(objects, text):
    """The full name of the documented object ``text`` names, or None: ``text`` is a
    dotted name, in full or without the package prefix, optionally followed by ``()``.
    A class or function a package re-exports (``toyviz.network.Network``) is found where
    it is documented, in its own module (``toyviz.network.core.Network``)."""
    match = NAME.match(text.strip())
    if not match:
        return None
    name = match.group(1)
    for candidate in (name, f"{PACKAGE}.{name}"):
        if candidate.startswith(f"{PACKAGE}.") or candidate == PACKAGE:
            if candidate in objects:
                return candidate
            home = _home(candidate)
            if home in objects:
                return home
    return None


def _home(name):
    """The full name of the class or function ``name`` reaches by importing, in its own
    module (where the API reference documents it), or None."""
    module_name, _, attribute = name.rpartition(".")
    try:
        value = getattr(importlib.import_module(module_name), attribute, None)
    except (ImportError, ValueError):   # no such module, or no module part at all
        return None
    if not (inspect.isclass(value) or inspect.isroutine(value)):
        return None
    return f"{value.__module__}.{value.__qualname__}"


def _in_title(node):
    """Whether ``node`` sits in a section title (which the page's navigation repeats)."""
    while node is not None:
        if isinstance(node, nodes.title):
            return True
        node = node.parent
    return False


class LinkApiNames(SphinxPostTransform):
    """Wrap each inline literal that names a documented object in a pending Python
    cross-reference (before the references are resolved, priority 10)."""

    default_priority = 5

    def run(self, **kwargs):
        objects = self.env.get_domain("py").objects
        for literal in list(self.document.findall(nodes.literal)):
            if isinstance(literal.parent, (nodes.reference, addnodes.pending_xref)) or \
                    "xref" in literal.get("classes", []) or _in_title(literal):
                continue
            target = documented(objects, literal.astext())
            if target is None:
                continue
            reference = addnodes.pending_xref(
                "", refdomain="py", reftype="obj", reftarget=target, refexplicit=True,
                refwarn=True, refdoc=self.env.docname)
            reference["py:module"] = None
            reference["py:class"] = None
            literal["classes"] += ["xref", "py", "py-obj"]
            literal.replace_self(reference)
            reference += literal


def setup(app):
    app.add_post_transform(LinkApiNames)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
