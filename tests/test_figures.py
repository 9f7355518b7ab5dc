"""The chapters' figures on the built book, in Chromium at 1280x800 (issue 23, part 3).

Every figure is the output of its own cell, displayed by ``toyviz.plots.show``: a PNG drawn
at twice its size and shown at its natural size (the width myst-nb writes from the
output's metadata), or an SVG. On each chapter page:

- every figure image is shown at no less than 89 % of its natural CSS width (the content
  column must not shrink it, which would shrink its text with it), and no wider;
- a PNG has twice the pixels of its CSS width (HiDPI), or the image is an SVG;
- it has alt text and a caption, and is served as a file: the page's HTML carries no
  ``data:`` image larger than a few KB (an animation as base64 frames weighs megabytes);
- ``toyviz.plots.COLUMN_PX``, the width the figure helpers fit, is no wider than the
  column a figure is shown in (a folded output, inside its box, is a little narrower).

The pruning chapter's animation is an animated PNG (it has an ``acTL`` chunk).
Under CI=true a missing browser or built book is a failure, not a skip.
"""

import re

import pytest

from test_browser import CHAPTER_EXPLORABLES, Visit, book, serve  # noqa: F401
from test_page_weight import chapter_file
from toyviz import plots

pytestmark = pytest.mark.browser

VIEWPORT = (1280, 800)
CHAPTERS = sorted(CHAPTER_EXPLORABLES)
#: The least share of its natural width at which a figure may be shown.
LEAST_SHOWN = 0.89
#: The largest ``data:`` image URL a page may carry inline (theme icons and the like).
MAX_INLINE_IMAGE = 4000
#: Pages whose figures include an animation.
ANIMATED = {"book/pruning.html"}

FIGURES = """() => [...document.querySelectorAll('article.bd-article figure img')].map((img) => {
    const figure = img.closest('figure');
    const style = getComputedStyle(figure);
    return {
        src: img.getAttribute('src'),
        alt: img.getAttribute('alt') || '',
        caption: (figure.querySelector('figcaption') || {textContent: ''}).textContent.trim(),
        folded: Boolean(img.closest('details')),
        complete: img.complete,
        naturalWidth: img.naturalWidth,
        styleWidth: img.style.width,
        shown: img.getBoundingClientRect().width,
        column: figure.clientWidth - parseFloat(style.paddingLeft)
                - parseFloat(style.paddingRight),
    };
})"""

LOADED = """() => [...document.querySelectorAll('article.bd-article figure img')]
    .every((img) => img.complete)"""


def natural_css_width(figure):
    """An SVG's own width, or a PNG's width as its output's metadata gave it (myst-nb
    writes it into the image's style)."""
    if figure["src"].endswith(".svg"):
        return figure["naturalWidth"]
    match = re.fullmatch(r"([\d.]+)px", figure["styleWidth"])
    assert match, f"{figure['src']}: a PNG without its natural width ({figure['styleWidth']!r})"
    return float(match.group(1))


def is_animated_png(data):
    """An APNG declares its frames (``acTL``) before its first image data."""
    return -1 < data.find(b"acTL") < data.find(b"IDAT")


@pytest.fixture
def opened(browser):
    pages = []

    def open_page(base, path):
        page = Visit(browser, base, path, viewport=VIEWPORT)
        pages.append(page)
        page.page.wait_for_function(LOADED, timeout=30_000)
        return page

    yield open_page
    for page in pages:
        page.close()


@pytest.mark.parametrize("path", CHAPTERS)
def test_chapter_figures_are_sharp_whole_described_and_files(path, book, opened):  # noqa: F811
    html_file = chapter_file(path)
    _, base = book
    page = opened(base, path)
    figures = page.page.evaluate(FIGURES)
    assert figures, f"{path}: no figures"
    problems = []
    for figure in figures:
        name = figure["src"].rsplit("/", 1)[-1][:12]
        if not figure["naturalWidth"]:
            problems.append(f"{name}: the browser cannot draw it")
            continue
        natural = natural_css_width(figure)
        if figure["shown"] < LEAST_SHOWN * natural or figure["shown"] > natural + 1:
            problems.append(f"{name}: shown {figure['shown']:.0f} px wide, natural "
                            f"{natural:.0f} px ({figure['shown'] / natural:.0%})")
        if figure["src"].endswith(".png") and abs(figure["naturalWidth"] - 2 * natural) > 2:
            problems.append(f"{name}: {figure['naturalWidth']} pixels for {natural:.0f} CSS "
                            "px: not drawn at twice its size")
        if not figure["src"].endswith((".png", ".svg")):
            problems.append(f"{name}: neither a PNG nor an SVG")
        if len(figure["alt"]) < 20 or "_images" in figure["alt"]:
            problems.append(f"{name}: no alt text ({figure['alt']!r})")
        if not figure["caption"]:
            problems.append(f"{name}: no caption")
        if plots.COLUMN_PX > figure["column"] and not figure["folded"]:
            problems.append(f"{name}: the column is {figure['column']:.0f} px, narrower than "
                            f"plots.COLUMN_PX = {plots.COLUMN_PX}")
    assert not problems, f"{path}:\n  " + "\n  ".join(problems)

    inline = [len(url) for url in re.findall(r"data:image/[^\"')\s]+", html_file.read_text())]
    assert all(size <= MAX_INLINE_IMAGE for size in inline), (
        f"{path}: inline data: images of {sorted(inline)[-5:]} characters")

    animated = [figure["src"] for figure in figures if figure["src"].endswith(".png")
                and is_animated_png((html_file.parent / figure["src"]).read_bytes())]
    if path in ANIMATED:
        assert animated, f"{path}: no animated PNG among its figures"
