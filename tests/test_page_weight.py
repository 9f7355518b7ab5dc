"""How much a reader's browser loads for each chapter page of the built book (issue 23).

Headless Chromium opens each chapter at 1280x800 from a server on 127.0.0.1, with every
other request blocked, waits until every explorable has drawn, the fonts are in and the
network is idle, and adds up the bodies of every response in the page's network log (the
bytes as served, uncompressed: the local server sends no gzip). The total must be at most
4 MB, with no console error. The same pages opened from file:// (a reader who downloads
the site) must draw their explorables, react to a control and log no error either: the
explorables' module is imported from a Blob URL, which file:// allows.

The pages draw their explorables with toyviz/static/static_widgets.js instead of the
Jupyter widgets HTML manager; the last test holds that shim to anywidget's contract on a
page of its own (modules in each form anywidget accepts, a model shown twice, a layout, a
widget it cannot draw), so that it runs any anywidget module, not only toyviz's.

The totals are printed (``pytest -s``), with each page's largest responses, so that the
figures can be quoted. Under CI=true a missing browser or built book is a failure.
"""

import pytest

from browser_harness import missing
from test_browser import (CHAPTER_EXPLORABLES, ROOT, SITE, Visit, book,  # noqa: F401
                          embedded_explorables, serve, wait_until_drawn)

pytestmark = pytest.mark.browser

MAX_BYTES = 4 * 1000 * 1000
VIEWPORT = {"width": 1280, "height": 800}
CHAPTERS = sorted(CHAPTER_EXPLORABLES)


def chapter_file(path):
    notebook = CHAPTER_EXPLORABLES[path][0]
    if not (ROOT / "book" / notebook).exists():
        missing(f"book/{notebook} does not exist yet")
    if not (SITE / path).exists():
        missing(f"{SITE / path} is missing: build the book first")
    return SITE / path


class Opened(Visit):
    """A chapter page at 1280x800 (test_browser's Visit opens at 1200x1600), its network
    log and its console errors; requests to any address not under ``allowed`` are
    blocked and listed."""

    def __init__(self, browser, url, allowed):  # not Visit's: another viewport, a log
        self.context = browser.new_context(viewport=VIEWPORT, service_workers="block")
        self.page = self.context.new_page()
        self.errors, self.blocked, self.responses = [], [], []
        self.page.route("**/*", self._route(allowed))
        self.page.on("console", lambda message: message.type == "error"
                     and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("response", lambda response: self.responses.append(response))
        self.page.goto(url, wait_until="load")

    def settle(self, explorables):
        """Wait until every explorable drew, the fonts loaded and the network is idle."""
        wait_until_drawn(self.page, explorables)
        self.page.evaluate("document.fonts.ready.then(() => true)")
        self.page.wait_for_load_state("networkidle")

    def bytes_by_url(self):
        """{url: body bytes} of every response with a body (redirects have none)."""
        sizes = {}
        for response in self.responses:
            if 300 <= response.status < 400:
                continue
            sizes[response.url] = sizes.get(response.url, 0) + len(response.body())
        return sizes


@pytest.fixture
def open_page(browser):
    opened = []

    def start(url, allowed):
        page = Opened(browser, url, allowed)
        opened.append(page)
        return page

    yield start
    for page in opened:
        page.close()


def describe(path, sizes, largest=6):
    total = sum(sizes.values())
    lines = [f"{path}: {total / 1e6:.2f} MB in {len(sizes)} responses"]
    for url, size in sorted(sizes.items(), key=lambda item: -item[1])[:largest]:
        lines.append(f"    {size / 1e6:7.3f} MB  {url.split('/', 3)[-1].split('?')[0]}")
    return "\n".join(lines)


@pytest.mark.parametrize("path", CHAPTERS)
def test_chapter_page_loads_at_most_4_mb_and_draws(path, book, open_page):  # noqa: F811
    html_file = chapter_file(path)
    _, base = book
    explorables = len(embedded_explorables(html_file))
    assert explorables >= 1, f"{path}: no explorable embedded"
    page = open_page(base + path, base)
    page.settle(explorables)
    sizes = page.bytes_by_url()
    print(describe(path, sizes))
    assert base + path in sizes, f"{path}: the page itself is not in the network log"
    assert page.errors == [], f"{path}: console errors"
    assert page.blocked == [], f"{path}: requests to other hosts"
    total = sum(sizes.values())
    assert total <= MAX_BYTES, f"{path}: {total} bytes > {MAX_BYTES}\n{describe(path, sizes)}"


def change_first_control(page):
    """Change the first explorable's first select (to another option), else step its
    first slider; return its redraw count before the change."""
    return page.evaluate("""() => {
        const root = document.querySelector('[data-toyviz-explorable]');
        const before = root.toyvizExplorable.redraws;
        const select = Array.from(root.querySelectorAll('select'))
            .find((box) => box.options.length > 1);
        if (select) {
            select.selectedIndex = (select.selectedIndex + 1) % select.options.length;
            select.dispatchEvent(new Event('change', {bubbles: true}));
            select.dispatchEvent(new Event('input', {bubbles: true}));
        } else {
            const box = root.querySelector('input');
            if (box.type === 'range') {
                box.value = box.value === box.max ? box.min : box.max;
                box.dispatchEvent(new Event('input', {bubbles: true}));
                box.dispatchEvent(new Event('change', {bubbles: true}));
            } else {
                box.click();
            }
        }
        return before;
    }""")


@pytest.mark.parametrize("path", CHAPTERS)
def test_chapter_explorables_work_from_file_urls(path, open_page):
    html_file = chapter_file(path)
    explorables = len(embedded_explorables(html_file))
    page = open_page(html_file.resolve().as_uri(), "file://")
    page.settle(explorables)
    before = change_first_control(page.page)
    page.page.wait_for_function(
        """(before) => document.querySelector('[data-toyviz-explorable]')
                           .toyvizExplorable.redraws > before""", arg=before, timeout=20000)
    assert page.errors == [], f"{path} from file://: console errors"
    assert page.blocked == [], f"{path} from file://: requests off the file system"


# ------------------------------------------------------------------ the shim's contract

# Three anywidget modules in the three forms anywidget accepts: a default object with
# initialize and render, a default function that returns one, and the older named render.
COUNTER_ESM = """
export default {
  initialize({ model }) { model.set("initialized", (model.get("initialized") || 0) + 1); },
  render({ model, el }) {
    const button = document.createElement("button");
    const show = () => {
      button.textContent = `${model.get("label")} ${model.get("count")}, `
        + `initialized ${model.get("initialized")}x`;
    };
    button.addEventListener("click", () => {
      model.set("count", model.get("count") + 1);
      model.save_changes();
      model.send({ clicked: true });
    });
    model.on("change:count", show);
    el.addEventListener("stop", () => model.off("change:count"));  // this view's only
    show();
    el.append(button);
  },
};
"""
FACTORY_ESM = """
export default async () => ({
  render({ model, el }) {
    el.textContent = `factory ${model.get("widget_manager_ok")} ${typeof model.widget_manager.get_model}`;
  },
});
"""
NAMED_ESM = "export function render({ model, el }) { el.textContent = 'named ' + model.get('n'); }"


def anywidget_model(esm, **state):
    return {"model_module": "anywidget", "model_name": "AnyModel",
            "model_module_version": "~0.9.*",
            "state": {"_esm": esm, "_anywidget_id": "test.Widget", "_dom_classes": [],
                      "layout": "IPY_MODEL_layout", **state}}


def shim_page(folder):
    """A page laid out as myst-nb writes one: the state in the head, then the shim, and
    a view script where each output was (the counter shown twice)."""
    import json

    state = {
        "layout": {"model_module": "@jupyter-widgets/base", "model_name": "LayoutModel",
                   "state": {"width": "300px", "height": None}},
        "counter": anywidget_model(COUNTER_ESM, label="clicks", count=0),
        "factory": anywidget_model(FACTORY_ESM, widget_manager_ok="yes"),
        "named": anywidget_model(NAMED_ESM, n=7),
        "slider": {"model_module": "@jupyter-widgets/controls", "model_name": "IntSliderModel",
                   "state": {"value": 3}},
    }
    views = "".join(
        f'<div class="cell_output" id="out-{k}"><script type="application/vnd.jupyter.'
        f'widget-view+json">{json.dumps({"model_id": model_id})}</script></div>'
        for k, model_id in enumerate(["counter", "factory", "counter", "named", "slider"]))
    shim = (ROOT / "toyviz" / "static" / "static_widgets.js").resolve().as_uri()
    page = folder / "shim.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<script type="application/vnd.jupyter.widget-state+json">'
        + json.dumps({"version_major": 2, "version_minor": 0, "state": state})
        + f'</script><script src="{shim}"></script></head><body>{views}</body></html>')
    return page


def test_static_widgets_follow_anywidgets_render_contract(tmp_path, open_page):
    opened = open_page(shim_page(tmp_path).as_uri(), "file://")
    page = opened.page
    page.wait_for_function("document.querySelectorAll('.widget-subarea').length === 5"
                           " && document.querySelectorAll('#out-2 button').length === 1"
                           " && document.querySelector('#out-3 .jupyter-widgets')"
                           "    .textContent !== ''")
    text = lambda k: page.locator(f"#out-{k} .widget-subarea").inner_text()  # noqa: E731
    assert text(0) == text(2) == "clicks 0, initialized 1x", "initialize once per model"
    assert text(1) == "factory yes function"
    assert text(3) == "named 7"
    assert "needs a running kernel" in text(4)
    width = page.evaluate("getComputedStyle(document.querySelector('#out-0 .jupyter-widgets'))"
                          ".width")
    assert width == "300px", "the layout model's width is not applied"
    page.locator("#out-0 button").click()
    page.locator("#out-2 button").click()
    assert text(0) == text(2) == "clicks 2, initialized 1x", "both views of one model follow its changes"
    page.evaluate("document.querySelector('#out-0 .jupyter-widgets')"
                  ".dispatchEvent(new Event('stop'))")
    page.locator("#out-2 button").click()
    assert text(0).startswith("clicks 2,") and text(2).startswith("clicks 3,"), "off() leaves other views on"
    assert opened.errors == [] and opened.blocked == []
