"""The built book as a site (issue 23): everything fits the content column, on a laptop and
on a phone; the chapters are numbered; the favicon is linked and served; the launch and
repository buttons lead to the repository that _config.yml names.

The layout checks open every page of the real book in headless Chromium (Debian's) at
1280x800 and at 390x844, from a server on 127.0.0.1 with every other request blocked, as
tests/test_browser.py does. Inside the article (the content column), no element's right
edge may pass the column's right edge unless it sits in a box that scrolls sideways
(overflow-x auto or scroll): a wide table scrolls in its own box, with its first column
sticky, and a long message in an output wraps. The static checks read the built HTML.
TOYVIZ_SITE points these tests at a book built elsewhere; under CI=true a missing browser
or book is a failure, not a skip.
"""

import re
from html.parser import HTMLParser

import pytest
import yaml

from test_browser import (ROOT, book, embedded_explorables, pages, serve,  # noqa: F401
                          visit, wait_until_drawn)

pytestmark = pytest.mark.browser

VIEWPORTS = {"laptop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
SLACK_PX = 1  # sub-pixel rounding of borders

# Every element of the article past the column's right edge, outside any box that scrolls
# sideways; only the outermost of a nested run is listed. Also: the column itself within
# the window, each output <pre> that scrolls instead of wrapping, and each scrolling box
# that holds a DataFrame table with a one-level index: whether its first column stays put
# when scrolled to the right end.
MEASURE = """(slack) => {
    const article = document.querySelector('article.bd-article') || document.querySelector('article');
    const column = article.getBoundingClientRect();
    const scrollsSideways = (element) => {
        const overflow = getComputedStyle(element).overflowX;
        return overflow === 'auto' || overflow === 'scroll';
    };
    const describe = (element) => {
        const classes = typeof element.className === 'string' && element.className
            ? '.' + element.className.trim().split(/\\s+/).join('.') : '';
        return element.tagName.toLowerCase() + classes + ' "'
            + (element.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 60) + '"';
    };
    const overflowing = new Set();
    const beyond = [];
    for (const element of article.querySelectorAll('*')) {
        const box = element.getBoundingClientRect();
        if (box.width === 0 || box.height === 0 || box.right <= column.right + slack) continue;
        let inScrollBox = false;
        for (let up = element.parentElement; up && up !== article; up = up.parentElement) {
            if (scrollsSideways(up)) { inScrollBox = true; break; }
        }
        if (inScrollBox) continue;
        overflowing.add(element);
        if (!overflowing.has(element.parentElement)) {
            beyond.push(describe(element) + ' ends at ' + Math.round(box.right)
                        + ' px, the column at ' + Math.round(column.right) + ' px');
        }
    }
    const unwrapped = Array.from(article.querySelectorAll('.cell_output pre'))
        .filter((pre) => pre.getBoundingClientRect().width > 0
                && pre.scrollWidth > pre.clientWidth + slack)
        .map(describe);
    const sticky = [];
    // A table with a two-level index (cells spanning rows) scrolls without a sticky column.
    for (const table of article.querySelectorAll(
            '.cell_output table.dataframe:not(:has(tbody th[rowspan]))')) {
        const box = table.parentElement.closest('.output');
        if (!box || box.getBoundingClientRect().width === 0
            || box.scrollWidth <= box.clientWidth + slack) continue;
        const first = table.querySelector('tbody tr > :first-child');
        box.scrollLeft = box.scrollWidth;
        const shift = first.getBoundingClientRect().left - box.getBoundingClientRect().left;
        box.scrollLeft = 0;
        sticky.push({table: describe(first), scrolled: box.scrollWidth - box.clientWidth,
                     shift: shift, position: getComputedStyle(first).position});
    }
    return {columnRight: column.right, window: document.documentElement.clientWidth,
            beyond: beyond, unwrapped: unwrapped, sticky: sticky};
}"""


def settled(page):
    """Two animation frames, so that a relayout after a resize (explorables listen for it)
    is done before anything is measured."""
    page.evaluate("() => new Promise((done) => requestAnimationFrame("
                  "() => requestAnimationFrame(done)))")


def book_pages(html):
    """The pages of the book's table of contents (not the search and index pages)."""
    return [path for path in pages(html) if path.startswith("book/")]


def test_nothing_overflows_the_content_column(book, visit):
    html, base = book
    paths = book_pages(html)
    assert "book/own_network.html" in paths and "book/reproducibility.html" in paths, paths
    problems, wide_tables = [], []
    for path in paths:
        page = visit(base, path)
        explorables = embedded_explorables(html / path)
        if explorables:
            wait_until_drawn(page.page, len(explorables))
        for name, viewport in VIEWPORTS.items():
            page.page.set_viewport_size(viewport)
            settled(page.page)
            found = page.page.evaluate(MEASURE, SLACK_PX)
            where = f"{path} at {viewport['width']} px"
            if found["columnRight"] > found["window"] + SLACK_PX:
                problems.append(f"{where}: the column ends at {found['columnRight']:.0f} px, "
                                f"past the window's {found['window']} px")
            problems += [f"{where}: {element}" for element in found["beyond"]]
            problems += [f"{where}: output does not wrap: {pre}" for pre in found["unwrapped"]]
            for table in found["sticky"]:
                wide_tables.append((where, table))
                if table["position"] != "sticky" or abs(table["shift"]) > 2:
                    problems.append(f"{where}: first column of {table['table']} moved "
                                    f"{table['shift']:.0f} px when scrolled "
                                    f"{table['scrolled']} px ({table['position']})")
        page.close()
    assert problems == [], "\n".join(problems)
    # The sticky check ran on real tables: the phone's column is narrower than some of them.
    assert any(where.endswith("390 px") for where, _ in wide_tables), \
        "no DataFrame table scrolls at 390 px: the sticky first column went unchecked"


# ------------------------------------------------------------------ the favicon

def test_the_favicon_is_linked_on_every_page_and_served(book, visit):
    html, base = book
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    favicon = config["html"]["favicon"].rsplit("/", 1)[-1]
    for path in pages(html):
        text = (html / path).read_text()
        if 'http-equiv="Refresh"' in text:
            continue  # the root index.html only redirects to book/intro.html
        icons = re.findall(r'<link rel="icon" href="([^"]+)"', text)
        assert len(icons) == 1 and icons[0].endswith(f"_static/{favicon}"), (path, icons)
    page = visit(base, "book/node_removal.html")
    href = page.page.evaluate("document.querySelector('link[rel~=\"icon\"]').href")
    linked = page.page.request.get(href)
    assert linked.ok and linked.headers["content-type"] == "image/svg+xml", href
    assert b"<svg" in linked.body()
    # Clients that ask the site's root without reading a page get an icon too.
    root = page.page.request.get(base + "favicon.ico")
    assert root.ok, f"/favicon.ico: HTTP {root.status}"
    assert root.body()[:4] == b"\x00\x00\x01\x00", "/favicon.ico is not an ICO file"


# ------------------------------------------------------------------ numbers and links

class Anchors(HTMLParser):
    """The text of a built page's title (the article's h1; the print-only header above it
    repeats the title without its number) and the attributes of every link."""

    def __init__(self):
        super().__init__()
        self.heading, self.links, self._in_h1, self._in_article = "", [], False, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "article":
            self._in_article = True
        elif tag == "h1" and self._in_article and not self.heading:
            self._in_h1 = True
        elif tag == "a" and attrs.get("href"):
            self.links.append(attrs)

    def handle_endtag(self, tag):
        if tag == "h1":
            self._in_h1 = False

    def handle_data(self, data):
        if self._in_h1:
            self.heading += data


def read_page(path):
    parser = Anchors()
    parser.feed(path.read_text())
    return parser


def test_the_chapters_are_numbered_in_toc_order(book):
    html, _ = book
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    numbered, reference = toc["parts"]
    assert numbered["numbered"] == 1 and "numbered" not in reference
    for chapter in reference["chapters"]:
        heading = read_page(html / f"{chapter['file']}.html").heading.strip()
        assert not re.match(r"\d", heading), (chapter["file"], heading)
    for number, chapter in enumerate(numbered["chapters"], start=1):
        heading = read_page(html / f"{chapter['file']}.html").heading.strip()
        assert heading.startswith(f"{number}. "), (chapter["file"], heading)
        for section in chapter.get("sections", []):
            for page in sorted(html.glob(f"{section.get('file', section.get('glob'))}.html")):
                assert not re.match(r"\d", read_page(page).heading.strip()), page
    assert not re.match(r"\d", read_page(html / "book" / "intro.html").heading.strip())


def test_launch_and_repository_buttons_use_the_configured_repository(book):
    html, _ = book
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repository, launch = config["repository"], config["launch_buttons"]
    owner_name = repository["url"].removeprefix("https://github.com/")
    for path in ("book/node_removal.html", "book/own_network.html"):
        notebook = path.removesuffix(".html") + ".ipynb"
        hrefs = [link["href"] for link in read_page(html / path).links]
        binder = (f"{launch['binderhub_url']}/v2/gh/{owner_name}/{repository['branch']}"
                  f"?urlpath=lab/tree/{repository['path_to_book']}{notebook}")
        assert binder in hrefs, (path, [href for href in hrefs if "binder" in href])
        assert repository["url"] in hrefs, path
        launches = {href for href in hrefs if href.startswith(launch["binderhub_url"])}
        assert launches == {binder}, launches
