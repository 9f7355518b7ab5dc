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

The pruning chapter's animation is an animated PNG (it has an ``acTL`` chunk), with a
button that pauses and plays it from the keyboard (WCAG 2.2.2), paused from the start
for a reader who asks for reduced motion, from a server and from file://.
Under CI=true a missing browser or built book is a failure, not a skip.
"""

import re

import pytest

from test_browser import CHAPTER_EXPLORABLES, Visit, book, serve, visit  # noqa: F401
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


# ------------------------------------------------------------------ pausing the animation
# WCAG 2.2.2 (Pause, Stop, Hide): the pruning chapter's animation loops for good, so
# book/_static/toyviz.js puts a button under it (the cell's metadata gives the image the
# class toyviz-animation). Paused, a canvas holding a still of the image and its alt text
# stands in the image's place; a reader who asks for reduced motion gets it paused.

ANIMATION = "#fig-three-routes"
#: WCAG's least contrast for text and least touch target (2.5.8).
MIN_CONTRAST, MIN_TARGET = 4.5, 24

# What the animated figure shows: its button (name, size, colours, focus ring), its image
# or the still in its place, and the still's pixels: how many distinct colours (a blank
# canvas has one), read where the canvas is not tainted (not from file://).
SHOWN = """(selector) => {
    const figure = document.querySelector(selector);
    const button = figure.querySelector('button');
    const media = figure.querySelector('img, canvas');
    const style = button && getComputedStyle(button);
    const box = (node) => { const r = node.getBoundingClientRect();
                            return {width: r.width, height: r.height}; };
    let colours = null;
    if (media.tagName === 'CANVAS' && location.protocol !== 'file:') {
        const data = media.getContext('2d').getImageData(0, 0, media.width, media.height).data;
        const seen = new Set();
        for (let k = 0; k < data.length; k += 4 * 101) seen.add(data.slice(k, k + 4).join());
        colours = seen.size;
    }
    return {
        button: button && {tag: button.tagName, type: button.type, name: button.textContent,
                           focused: document.activeElement === button, ...box(button),
                           colour: style.color, background: style.backgroundColor,
                           outline: style.outlineStyle, outlineWidth: style.outlineWidth},
        media: {tag: media.tagName, role: media.getAttribute('role'),
                label: media.getAttribute('aria-label'), alt: media.getAttribute('alt'),
                ...box(media)},
        images: figure.querySelectorAll('img').length, colours,
    };
}"""


def contrast(colour, background):
    """WCAG 2's contrast ratio of two opaque CSS rgb() colours."""
    def luminance(css):
        channels = [int(part) / 255 for part in re.findall(r"\d+", css)[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
                  for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    light, dark = sorted([luminance(colour), luminance(background)], reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_the_animation_pauses_and_plays_from_the_keyboard(book, visit, color_scheme):  # noqa: F811
    """A real button right after the image in the tab order, named for what it does,
    with a focus ring, 24 px or more and 4.5:1 text in both themes; Enter pauses (a
    still with the alt text, not blank, at the image's size, in the image's place) and
    Space plays again. No console errors."""
    chapter_file("book/pruning.html")
    _, base = book
    page = visit(base, "book/pruning.html", viewport=VIEWPORT, color_scheme=color_scheme)
    page.page.wait_for_function(LOADED, timeout=30_000)
    playing = page.page.evaluate(SHOWN, ANIMATION)
    button, image = playing["button"], playing["media"]
    assert button and button["tag"] == "BUTTON" and button["type"] == "button", playing
    assert button["name"] == "Pause animation" and image["tag"] == "IMG", playing
    assert min(button["width"], button["height"]) >= MIN_TARGET, button
    ratio = contrast(button["colour"], button["background"])
    assert ratio >= MIN_CONTRAST, f"{color_scheme}: the button's text at {ratio:.2f}:1"

    page.page.focus(f"{ANIMATION} a.image-reference")   # the image's link, then Tab
    page.page.keyboard.press("Tab")
    focused = page.page.evaluate(SHOWN, ANIMATION)["button"]
    assert focused["focused"], "Tab after the image does not reach its button"
    assert focused["outline"] != "none" and float(focused["outlineWidth"][:-2]) >= 2, focused

    page.page.keyboard.press("Enter")
    paused = page.page.evaluate(SHOWN, ANIMATION)
    still = paused["media"]
    assert paused["button"]["name"] == "Play animation" and paused["button"]["focused"], paused
    assert still["tag"] == "CANVAS" and paused["images"] == 0, paused
    assert still["role"] == "img" and still["label"] == image["alt"], still
    assert abs(still["width"] - image["width"]) <= 1, (still, image)
    assert abs(still["height"] - image["height"]) <= 1, (still, image)
    assert paused["colours"] > 10, f"the still is blank ({paused['colours']} colours)"

    page.page.keyboard.press("Space")
    played = page.page.evaluate(SHOWN, ANIMATION)
    assert played["button"]["name"] == "Pause animation" and played["button"]["focused"]
    assert played["media"] == image, played
    assert page.unexpected_errors() == [], "console errors"
    assert page.blocked == [], "requests to other hosts"


def test_the_animation_stays_still_for_reduced_motion_also_from_file_urls(visit):
    """Asked for reduced motion, the open page pauses the animation at once, and a page
    opened under that setting starts paused; from file:// too (a downloaded site), with
    no console errors."""
    html_file = chapter_file("book/pruning.html")
    site = html_file.parent.parent.resolve().as_uri() + "/"
    page = visit(site, "book/pruning.html", viewport=VIEWPORT)
    page.page.wait_for_selector(f"{ANIMATION} img.toyviz-animation")
    page.page.emulate_media(reduced_motion="reduce")
    page.page.wait_for_selector(f"{ANIMATION} canvas", timeout=5_000)
    page.page.reload(wait_until="load")
    page.page.wait_for_selector(f"{ANIMATION} canvas", timeout=30_000)
    shown = page.page.evaluate(SHOWN, ANIMATION)
    assert shown["button"]["name"] == "Play animation" and shown["images"] == 0, shown
    assert shown["media"]["label"].startswith("Animation of three decision surfaces"), shown
    page.page.get_by_role("button", name="Play animation").click()
    assert page.page.evaluate(SHOWN, ANIMATION)["media"]["tag"] == "IMG"
    assert page.unexpected_errors() == [], "console errors"


def test_pages_without_animations_get_no_button(book, visit):  # noqa: F811
    """The script runs on every page of the site and touches only animated figures."""
    html, base = book
    page = visit(base, "book/node_removal.html")
    assert "toyviz.js" in (html / "book" / "node_removal.html").read_text()
    assert page.page.evaluate("document.querySelectorAll('img.toyviz-animation, "
                              ".toyviz-animation-toggle').length") == 0
    assert page.unexpected_errors() == [], "console errors"
