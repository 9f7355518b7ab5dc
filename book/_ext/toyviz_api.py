"""A Sphinx hook for the book: the API reference pages, written from toyviz itself.

When the build starts (``builder-inited``), every public module of toyviz, found by walking
the package, gets a page ``book/api/<module>.rst``: the module's docstring (``automodule``),
a summary table of its names (``autosummary``) and each name in full (``autofunction``,
``autoclass``, ``autodata``). A module's public names are the names its own source binds at
top level (``def``, ``class``, assignment) that do not start with ``_``; names it imports
are documented where they are defined. A package also lists what it re-exports from its
submodules. ``book/api/modules.inc`` is the table of modules that ``book/api.md`` includes,
and ``_toc.yml`` picks the pages up with ``glob: book/api/*``, so a new module appears
without anyone editing a list.

While the pages are read, three more hooks keep the strict (``-W -n``) build honest
without rewriting the library: docstrings are adjusted for napoleon (:func:`_docstring`,
:func:`_as_written`), autosummary's first sentence is never cut inside inline markup
(:func:`_extract_summary`), and a cross-reference to a name a package re-exports leads to
where the name is defined (:func:`_resolve_elsewhere`).

The pages are generated, not committed (``.gitignore``); a page whose module disappeared
is deleted. Nothing happens in a book without ``book/api.md`` (the browser tests' fixture
book shares ``_config.yml``). Loaded through ``_config.yml``'s ``sphinx.local_extensions``.
"""

import ast
import functools
import importlib
import inspect
import pkgutil
from pathlib import Path, PurePath

from docutils import nodes
from docutils.parsers.rst.states import RSTStateMachine, state_classes
from docutils.utils import new_document
from sphinx.ext import autosummary
from sphinx.util.docutils import NullReporter

PACKAGE = "toyviz"
FOLDER = Path("book") / "api"
INDEX = "modules.inc"
#: Longest value repr shown after a constant's name; longer ones are left out.
VALUE_WIDTH = 80


def is_private(dotted):
    return any(part.startswith("_") for part in dotted.split("."))


@functools.cache
def public_modules():
    """Names of toyviz's public modules, the package first, in alphabetical order."""
    package = importlib.import_module(PACKAGE)
    names = [PACKAGE]
    for info in pkgutil.walk_packages(package.__path__, PACKAGE + "."):
        if not is_private(info.name):
            names.append(info.name)
    return tuple(sorted(names))


def _bound_names(statements):
    for statement in statements:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield statement.name
        elif isinstance(statement, ast.Assign):
            for target in statement.targets:
                for node in ast.walk(target):
                    if isinstance(node, ast.Name):
                        yield node.id
        elif isinstance(statement, (ast.AnnAssign, ast.AugAssign)):
            if isinstance(statement.target, ast.Name):
                yield statement.target.id
        elif isinstance(statement, ast.If):
            yield from _bound_names(statement.body)
            yield from _bound_names(statement.orelse)
        elif isinstance(statement, ast.Try):
            for block in (statement.body, statement.orelse, statement.finalbody,
                          *(handler.body for handler in statement.handlers)):
                yield from _bound_names(block)
        elif isinstance(statement, ast.With):
            yield from _bound_names(statement.body)


def defined_names(module):
    """The public names ``module``'s own source binds at top level, in source order."""
    tree = ast.parse(Path(inspect.getsourcefile(module)).read_text())
    names = []
    for name in _bound_names(tree.body):
        if not name.startswith("_") and name not in names and hasattr(module, name):
            names.append(name)
    return names


def reexported_names(module):
    """Public names a package takes from its own public submodules: [(name, where)]."""
    if not hasattr(module, "__path__"):
        return []
    found = []
    for name, value in vars(module).items():
        home = getattr(value, "__module__", None)
        if (not name.startswith("_") and (inspect.isclass(value) or inspect.isroutine(value))
                and isinstance(home, str) and home.startswith(module.__name__ + ".")
                and not is_private(home)):
            found.append((name, f"{home}.{getattr(value, '__qualname__', name)}"))
    return sorted(found)


def _kind(value):
    if inspect.isclass(value):
        return "class"
    if inspect.isroutine(value) or callable(value) and hasattr(value, "__wrapped__"):
        return "function"
    return "data"


def _underline(title, character):
    return [title, character * len(title), ""]


def module_page(name):
    """The reStructuredText of one module's page."""
    module = importlib.import_module(name)
    names = defined_names(module)
    groups = {"class": [], "function": [], "data": []}
    for item in names:
        groups[_kind(getattr(module, item))].append(item)
    lines = [f".. Generated by book/_ext/toyviz_api.py when the book is built; do not edit.",
             "", *_underline(name, "="), f".. automodule:: {name}", ""]
    if names:
        lines += [".. autosummary::", "   :nosignatures:", ""]
        lines += [f"   {item}" for kind in groups for item in groups[kind]] + [""]
    reexported = reexported_names(module)
    if reexported:
        lines += _underline("Importable from here", "-")
        lines += [f"These names of its submodules can be imported from ``{name}`` too.", "",
                  ".. autosummary::", "   :nosignatures:", ""]
        # relative to the current module: autosummary refuses names that repeat it
        lines += [f"   ~{where[len(name) + 1:]}" for _, where in reexported] + [""]
    headings = {"class": "Classes", "function": "Functions", "data": "Constants"}
    for kind in ("class", "function", "data"):
        if not groups[kind]:
            continue
        lines += _underline(headings[kind], "-")
        for item in groups[kind]:
            full = f"{name}.{item}"
            if kind == "class":
                lines += [f".. autoclass:: {full}", "   :members:", "   :undoc-members:", ""]
            elif kind == "function":
                lines += [f".. autofunction:: {full}", ""]
            else:
                lines += [f".. autodata:: {full}"]
                # a long value, or a path (which would show the building machine's folders)
                value = getattr(module, item)
                if len(repr(value)) > VALUE_WIDTH or isinstance(value, PurePath):
                    lines += ["   :no-value:"]
                lines += [""]
    modules = [child for child in public_modules()
               if child.rpartition(".")[0] == name and child != name]
    if modules:
        lines += _underline("Submodules", "-")
        lines += [".. autosummary::", ""]
        lines += [f"   {child[len(name) + 1:]}" for child in modules] + [""]
    return "\n".join(lines)


def index_table(modules):
    """The table of modules on the API page (included by ``book/api.md``)."""
    return "\n".join([".. Generated by book/_ext/toyviz_api.py; do not edit.", "",
                      ".. autosummary::", "", *(f"   {name}" for name in modules), ""])


def _write(path, text):
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def generate(app):
    folder = Path(app.srcdir) / FOLDER
    if not folder.with_suffix(".md").exists():
        return
    folder.mkdir(exist_ok=True)
    modules = public_modules()
    wanted = {folder / f"{name}.rst" for name in modules}
    for stale in set(folder.glob(f"{PACKAGE}*.rst")) - wanted:
        stale.unlink()
    for name in modules:
        _write(folder / f"{name}.rst", module_page(name))
    _write(folder / INDEX, index_table(modules))


def _breaks_markup(text, settings):
    machine = RSTStateMachine(state_classes, "Body")
    document = new_document("", settings)
    document.reporter = NullReporter()
    machine.run([text], document)
    return any(document.findall(nodes.system_message))


def _extract_summary(doc, document, _extract=autosummary.extract_summary):
    """autosummary's first sentence of a docstring, never cut inside inline markup.

    Sphinx 7.4 means to extend the sentence until it parses cleanly, but parses the whole
    paragraph instead of the sentence, so ``c . logits`` was cut at its dot. When the
    sentence breaks markup, this extends it as intended, up to the whole paragraph.
    """
    summary = _extract(list(doc), document)
    if not summary or not _breaks_markup(summary, document.settings):
        return summary
    lines = []
    for line in doc:
        if lines and not line.strip():
            break
        if line.strip():
            lines.append(line.strip())
    sentences = autosummary.periods_re.split(" ".join(lines))
    for end in range(1, len(sentences) + 1):
        summary = ". ".join(sentences[:end]).rstrip(".") + "."
        if not _breaks_markup(summary, document.settings):
            break
    return summary


_AS_WRITTEN = {}


def _introduced_first(lines):
    """Move an "Introduced in ..." paragraph that follows numpy sections (Parameters,
    Returns, ...) up to the end of the description: napoleon would read it as one more
    parameter."""
    while True:
        headers = [i for i in range(len(lines) - 1)
                   if lines[i].strip() and set(lines[i + 1].strip()) == {"-"}]
        if not headers:
            return
        first = headers[0]
        starts = [i for i in range(first + 1, len(lines))
                  if lines[i].strip().startswith("Introduced in") and not lines[i - 1].strip()]
        if not starts:
            return
        start = end = starts[0]
        while end < len(lines) and lines[end].strip():
            end += 1
        paragraph = [line.strip() for line in lines[start:end]]
        del lines[start - 1:end]
        lines[first:first] = [*paragraph, ""]


def _docstring(app, what, name, obj, options, lines):
    """Before napoleon: a constant without a ``#:`` comment gets no description (not its
    type's docstring, such as dict's); a constant's or attribute's description is kept as
    written, to be put back after napoleon (see :func:`_as_written`); "Introduced in"
    moves before the numpy sections (:func:`_introduced_first`)."""
    _introduced_first(lines)
    if what == "data" and "\n".join(lines).strip() == (inspect.getdoc(type(obj)) or "").strip():
        lines[:] = []
    if what in ("data", "attribute"):
        _AS_WRITTEN[what, name] = list(lines)


def _as_written(app, what, name, obj, options, lines):
    """After napoleon: the ``#:`` description of a constant or attribute as written, not
    read as napoleon's ``type: description`` form (that made the prose before a colon a
    type to cross-reference)."""
    if (what, name) in _AS_WRITTEN:
        lines[:] = _AS_WRITTEN.pop((what, name))


def _import(dotted):
    """The object a dotted name reaches (a module, then attributes), or None."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for part in parts[cut:]:
                value = getattr(value, part)
        except AttributeError:
            return None
        return value
    return None


def _home(name, value):
    """Where ``value``, reached as ``name``, is documented: a function's or class's own
    module, a constant's defining module (the public module whose source binds the same
    name to the same object)."""
    if inspect.isclass(value) or inspect.isroutine(value):
        module = getattr(value, "__module__", "")
        if module.startswith(PACKAGE + ".") and not is_private(module):
            return f"{module}.{value.__qualname__}"
        return None
    last = name.rpartition(".")[2]
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        if last in _defined(module_name) and getattr(module, last) is value:
            return f"{module_name}.{last}"
    return None


@functools.cache
def _defined(module_name):
    return tuple(defined_names(importlib.import_module(module_name)))


def _resolve_elsewhere(app, env, node, contnode):
    """A Python cross-reference Sphinx could not resolve, resolved where the object is
    documented: ``toyviz.relevance.propagate`` (a name the package re-exports) or
    ``Composite`` written in a module that imports it lead to the page of the module that
    defines it, an instance attribute to its class. Failing that, a bare name in a subpackage is looked up among that
    subpackage's documented names, and resolved when exactly one matches. A private name
    (``_sweep_split``, ``toyviz._fused``) stays code without a link: the reference documents
    public names only. Anything else stays a missing reference, which the nitpicky build
    reports."""
    if node.get("refdomain") != "py" or not node.get("reftarget"):
        return None
    target = node["reftarget"].lstrip("~.")
    module = node.get("py:module") or ""
    if module.startswith(PACKAGE) and is_private(target):
        return contnode  # a private helper: named as code, with no page to link to
    domain = env.get_domain("py")
    scopes = [module] if module else []
    scopes += [module.rpartition(".")[0]] if module.count(".") > 1 else []
    for candidate in [f"{scope}.{target}" for scope in scopes] + [target]:
        if not candidate.startswith(PACKAGE):
            continue
        home = _home(candidate, _import(candidate)) if _import(candidate) is not None else None
        if home and home in domain.objects:
            return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                       home, node, contnode)
        # an instance attribute (set in __init__, so not documented on its own): its class
        owner, _, attribute = candidate.rpartition(".")
        value = _import(owner)
        home = _home(owner, value) if inspect.isclass(value) else None
        if node["reftype"] == "attr" and home in domain.objects:
            return domain.resolve_xref(env, node["refdoc"], app.builder, "class", home,
                                       node, contnode)
    if module.count(".") > 1 and "." not in target:
        package = module.rpartition(".")[0]
        matches = [name for name in domain.objects
                   if name.startswith(package + ".") and name.rpartition(".")[2] == target]
        if len(matches) == 1:
            return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                       matches[0], node, contnode)
    return None


def setup(app):
    app.connect("missing-reference", _resolve_elsewhere)
    app.connect("builder-inited", generate)
    app.connect("autodoc-process-docstring", _docstring, priority=100)
    app.connect("autodoc-process-docstring", _as_written, priority=900)
    autosummary.extract_summary = _extract_summary
    return {"parallel_read_safe": True, "parallel_write_safe": True}
