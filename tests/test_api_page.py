"""The API reference: every public name of every toyviz module is on it, and it links to
the chapters that introduce the ideas. And no page offers Colab, where toyviz is missing.

The modules and their public names are found here by walking the package and inspecting
what it defines, independently of ``book/_ext/toyviz_api.py``, which writes the pages. The
unit tests check the pages it writes; the tests marked ``browser`` check the book that
`make test` builds just before them (``_build/html``, or ``TOYVIZ_SITE``). Under CI=true a
missing built book is a failure, not a skip.
"""

import importlib
import inspect
import os
import pkgutil
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import yaml

import toyviz
from browser_harness import missing

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(os.environ.get("TOYVIZ_SITE", ROOT / "_build" / "html"))
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import toyviz_api  # noqa: E402

# The pages a module or function may name as where an idea is introduced: the chapters
# and the two pages the chapters feed (the ledger, reproducibility); not the intro, not
# the API pages themselves.
CHAPTER_PAGES = {"book/node_removal.html", "book/relevance.html", "book/right_reasons.html",
                 "book/pruning.html", "book/ledger.html", "book/reproducibility.html"}


def modules():
    """Every public toyviz module: the package and everything pkgutil finds under it
    whose dotted name has no part starting with ``_``."""
    found = ["toyviz"]
    for info in pkgutil.walk_packages(toyviz.__path__, "toyviz."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            found.append(info.name)
    return found


def public_names(module):
    """The names a module defines itself and does not mark private: functions and classes
    whose ``__module__`` is this module, and other values assigned in its source."""
    source = inspect.getsource(module)
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or inspect.ismodule(value):
            continue
        if inspect.isclass(value) or inspect.isfunction(value):
            if value.__module__ == module.__name__:
                names.append(name)
        elif re.search(rf"^{re.escape(name)}\s*(:[^=\n]*)?=", source, flags=re.MULTILINE):
            names.append(name)
    return names


MODULES = modules()


def test_the_walk_finds_the_modules_the_chapters_use():
    for name in ("toyviz", "toyviz.masking", "toyviz.relevance", "toyviz.pruning",
                 "toyviz.training", "toyviz.checks", "toyviz.claims"):
        assert name in MODULES
    assert not [name for name in MODULES if "._" in name]


@pytest.mark.parametrize("name", MODULES)
def test_the_generated_page_documents_every_public_name(name):
    module = importlib.import_module(name)
    page = toyviz_api.module_page(name)
    assert f".. automodule:: {name}" in page
    documented = set(re.findall(rf"^\.\. auto(?:function|class|data):: {re.escape(name)}\.(\w+)$",
                                page, flags=re.MULTILINE))
    names = public_names(module)
    assert set(names) <= documented, f"{name}: not on its page: {set(names) - documented}"
    assert documented <= set(dir(module))


def test_a_path_constant_shows_no_value_from_the_building_machine():
    page = toyviz_api.module_page("toyviz.widgets")
    entry = page[page.index(".. autodata:: toyviz.widgets.FRONT_END"):]
    assert entry.splitlines()[1].strip() == ":no-value:"


def test_the_generator_writes_a_page_per_module_and_removes_stale_ones(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "api.md").write_text("# API\n")
    (tmp_path / "book" / "api").mkdir()
    stale = tmp_path / "book" / "api" / "toyviz.gone.rst"
    stale.write_text("gone\n")

    class App:
        srcdir = str(tmp_path)

    toyviz_api.generate(App())
    written = sorted(path.stem for path in (tmp_path / "book" / "api").glob("*.rst"))
    assert written == sorted(MODULES)
    index = (tmp_path / "book" / "api" / toyviz_api.INDEX).read_text()
    assert [line.strip() for line in index.splitlines()[4:] if line.strip()] == sorted(MODULES)


def test_the_book_includes_the_api_pages_and_has_no_colab_button():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    api = [entry for part in toc["parts"] for entry in part["chapters"]
           if entry.get("file") == "book/api"]
    assert api and api[0]["sections"] == [{"glob": "book/api/*"}]
    assert "modules.inc" in (ROOT / "book" / "api.md").read_text()
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "toyviz_api" in config["sphinx"]["local_extensions"]
    assert "colab_url" not in config.get("launch_buttons", {})
    for path in [ROOT / "README.md", *sorted((ROOT / "book").glob("*.md")),
                 *sorted((ROOT / "book").glob("*.ipynb"))]:
        assert "colab.research.google.com" not in path.read_text(), f"{path.name} links to Colab"


# ------------------------------------------------------------------ the built book

class Links(HTMLParser):
    """The links of a built page's article, and of each documented object's description
    (the ``<dd>`` after the ``<dt id=...>`` autodoc writes)."""

    def __init__(self):
        super().__init__()
        self.ids, self.article, self.by_object = set(), [], {}
        self._pending, self._open, self._in_article = None, [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "article":
            self._in_article += 1
        elif tag == "dt" and attrs.get("id", "").startswith("toyviz"):
            self._pending = attrs["id"]
        elif tag == "dd":
            self._open.append(self._pending)
            self._pending = None
        elif tag == "a" and attrs.get("href") is not None and self._in_article:
            self.article.append(attrs["href"])
            for owner in self._open:
                if owner:
                    self.by_object.setdefault(owner, []).append(attrs["href"])

    def handle_endtag(self, tag):
        if tag == "article":
            self._in_article -= 1
        elif tag == "dd" and self._open:
            self._open.pop()


def parse(path):
    links = Links()
    links.feed(path.read_text())
    return links


def chapter_links(page, hrefs):
    """The links among ``hrefs`` (on ``page``, relative to the site) to a chapter page,
    as (page, fragment)."""
    found = []
    for href in hrefs:
        parts = urlsplit(urljoin(page, href))
        if not parts.scheme and parts.path in CHAPTER_PAGES:
            found.append((parts.path, parts.fragment))
    return found


@pytest.fixture(scope="module")
def site():
    if not (SITE / "index.html").exists():
        missing(f"the book is not built ({SITE} is missing): run `make book` first")
    return SITE


@pytest.mark.browser
@pytest.mark.parametrize("name", MODULES)
def test_the_built_page_documents_every_public_name(site, name):
    page = site / "book" / "api" / f"{name}.html"
    assert page.exists(), f"{name} has no page in the built book"
    ids = parse(page).ids
    module = importlib.import_module(name)
    assert name in ids or f"module-{name}" in ids
    absent = [item for item in public_names(module) if f"{name}.{item}" not in ids]
    assert not absent, f"{page.name}: not documented: {absent}"


@pytest.mark.browser
@pytest.mark.parametrize("name", MODULES)
def test_each_module_and_function_links_to_the_chapter_introducing_it(site, name):
    page = f"book/api/{name}.html"
    links = parse(site / page)
    assert chapter_links(page, links.article), f"{name}: its page links to no chapter"
    module = importlib.import_module(name)
    for item in public_names(module):
        value = getattr(module, item)
        doc = inspect.getdoc(value) if inspect.isclass(value) or callable(value) else None
        if doc and re.search(r"\bIntroduced in\b", doc):
            found = chapter_links(page, links.by_object.get(f"{name}.{item}", []))
            assert found, f"{name}.{item}: says where it is introduced but links nowhere"
    for target, fragment in chapter_links(page, links.article):
        if fragment:
            assert fragment in parse(site / target).ids, f"{name}: dangling #{fragment}"


@pytest.mark.browser
def test_the_api_page_lists_every_module(site):
    links = parse(site / "book" / "api.html")
    linked = {urlsplit(urljoin("book/api.html", href)).path for href in links.article}
    assert {f"book/api/{name}.html" for name in MODULES} <= linked


@pytest.mark.browser
def test_no_built_page_links_to_colab(site):
    pages = [path for path in site.rglob("*.html") if "_static" not in path.parts]
    assert len(pages) > len(MODULES)
    offenders = [str(path.relative_to(site)) for path in pages
                 if "colab.research.google.com" in path.read_text()]
    assert not offenders, f"pages linking to Colab: {offenders}"


# --------------------------------------------------------------------------- API names in prose

import api_links  # noqa: E402


def test_a_literal_links_only_when_it_names_a_documented_object():
    objects = {"toyviz.masking.mask_losses": None, "toyviz.network.Network": None, "toyviz": None}
    assert api_links.documented(objects, "toyviz.masking.mask_losses") == "toyviz.masking.mask_losses"
    assert api_links.documented(objects, "masking.mask_losses") == "toyviz.masking.mask_losses"
    assert api_links.documented(objects, "masking.mask_losses()") == "toyviz.masking.mask_losses"
    assert api_links.documented(objects, "network.Network") == "toyviz.network.Network"
    for text in ("masking.sweep", "np.mean", "mask_losses(model, x)", "tf.GradientTape",
                 "numpy.masking.mask_losses", "1 + 2", ""):
        assert api_links.documented(objects, text) is None


def test_a_literal_naming_a_reexported_object_links_to_its_home():
    """``toyviz.network.Network`` is documented in the module that defines it."""
    objects = {"toyviz.network.core.Network": None, "toyviz.network.keras.read": None}
    assert api_links.documented(objects, "toyviz.network.Network") == "toyviz.network.core.Network"
    assert api_links.documented(objects, "network.read()") == "toyviz.network.keras.read"
    for text in ("network.ACTIVATIONS", "network.nothing", "toyviz", "nothing.read"):
        assert api_links.documented(objects, text) is None


def test_the_book_build_links_api_names_in_prose(tmp_path):
    """A small Sphinx project with the extension: the documented names become links to
    their entries, other inline code and titles stay as they are."""
    from sphinx.application import Sphinx

    source = tmp_path / "source"
    source.mkdir()
    (source / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'book' / '_ext')!r})\n"
        "extensions = ['api_links']\nnitpicky = True\n")
    (source / "index.rst").write_text(
        "Title with ``toyviz.demo.f``\n============================\n\n"
        ".. toctree::\n\n   api\n\n"
        "Call ``demo.f`` or ``toyviz.demo.f()``, not ``demo.g`` nor ``np.mean``.\n")
    (source / "api.rst").write_text(
        "API\n===\n\n.. py:module:: toyviz.demo\n\n.. py:function:: f()\n\n   A function.\n")
    app = Sphinx(str(source), str(source), str(tmp_path / "html"), str(tmp_path / "doctrees"),
                 "html", status=None, warningiserror=True, freshenv=True)
    app.build()
    html = (tmp_path / "html" / "index.html").read_text()
    links = re.findall(r'<a class="[^"]*reference internal" href="api.html#toyviz.demo.f"[^>]*>'
                       r'<code class="[^"]*xref[^"]*"><span class="pre">([^<]*)</span>', html)
    assert links == ["demo.f", "toyviz.demo.f()"]
    assert "demo.g</span></code>" in html and 'href="api.html#toyviz.demo.g"' not in html
    title = html[html.index("<h1"):html.index("</h1>")]
    assert 'href="api.html' not in title


CHAPTERS = ("node_removal", "relevance", "right_reasons", "pruning", "own_network")


@pytest.mark.browser
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_api_names_in_a_chapters_prose_link_to_the_reference(site, chapter):
    """Every inline code in the chapter's text that names a public toyviz object is a link
    to the object's entry on its API page, and the chapters name some."""
    names = {f"{name}.{item}" for name in MODULES
             for item in public_names(importlib.import_module(name))} | set(MODULES)
    html = (site / "book" / f"{chapter}.html").read_text()
    article = html[html.index("<article"):html.rindex("</article>")]
    code = re.compile(r'(<a [^>]*href="([^"]*)"[^>]*>)?<code class="([^"]*)">((?:<span class="pre">'
                      r'[^<]*</span>\s*)+)</code>')
    linked, unlinked = [], []
    for link, href, classes, spans in code.findall(article):
        text = "".join(re.findall(r'<span class="pre">([^<]*)</span>', spans))
        target = api_links.documented(names, text)
        if target is None:
            continue
        if link and urlsplit(href).fragment in (target, f"module-{target}") and \
                "/api/" in urljoin("book/x.html", href):
            linked.append(text)
        else:
            unlinked.append(text)
    assert not unlinked, f"{chapter}: API names in the prose without a link: {unlinked}"
    assert linked, f"{chapter}: its prose names no API object"
