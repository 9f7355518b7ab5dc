"""The built site in a real browser: headless Chromium (Debian's, driven by Playwright)
opens every page from a server on 127.0.0.1 with every other request blocked.

Two sites are checked: a small fixture book built here (one NodeToggleHeatmap with random
weights, so these tests work before and apart from the chapters), and the real book in
_build/html that `make test` builds before running this file. Both must load without
console errors; each explorable must render, redraw when a node toggle is clicked,
show the numbers toyviz computes in Python, and redraw within one frame.

Under CI=true a missing browser or a missing built book is a failure, not a skip.
"""

import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from toyviz import widgets

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
# The built book; TOYVIZ_SITE points these tests at a book built elsewhere.
SITE = Path(os.environ.get("TOYVIZ_SITE", ROOT / "_build" / "html"))
WIDGETS_STATIC = ROOT / "_build" / "widgets-static"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
IN_CI = os.environ.get("CI") == "true"
FRAME_MS = 16.0

# Console errors raised by the theme on every page of any jupyter-book 1.0.4 site, with or
# without widgets (_config.yml's html_context.default_mode removes a second one). They are
# listed exactly, so that any other error fails the tests.
KNOWN_THEME_ERRORS = {
    # sphinx-thebe's inline configuration script ends up twice in each page's <head>.
    "Identifier 'THEBE_JS_URL' has already been declared",
}

FIXTURE_CELL = """\
import numpy as np
import toyviz.widgets

rng = np.random.default_rng(0)
weights = {"w1": rng.normal(size=(2, 20)), "b1": rng.normal(size=20),
           "w2": rng.normal(size=(20, 2)), "b2": rng.normal(size=2)}
toyviz.widgets.NodeToggleHeatmap(weights)
"""

FIXTURE_GRID_CELL = """\
xs = np.linspace(-2, 2, 60)
gx, gy = np.meshgrid(xs, xs)
values = np.stack([[[np.sin((a + 1) * gx) * gy * (b + 1),
                     1 / (1 + np.exp(-(a + 1) * gx - b * gy))] for b in range(5)]
                   for a in range(3)])
toyviz.widgets.GridExplorer(
    values,
    controls=[{"name": "rule", "label": "Rule", "options": ["first", "second", "third"]},
              {"name": "fraction", "label": "Fraction pruned", "kind": "slider",
               "options": ["0%", "25%", "50%", "75%", "100%"]}],
    panels=[{"title": "Relevance", "colour_label": "relevance", "signed": True},
            {"title": "P(class 1)", "colour_label": "probability", "vmin": 0, "vmax": 1}],
    readouts=[f"accuracy {k / 15:.3f}" for k in range(15)],
    points=(rng.uniform(-1, 1, size=(40, 2)), rng.integers(0, 2, size=40)))
"""


def missing(reason):
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this is a failure, not a skip)")
    pytest.skip(reason)


# ------------------------------------------------------------------ sites and browser

def ensure_widgets_static():
    if not (WIDGETS_STATIC / "toyviz-widgets" / "embed-amd.js").exists():
        subprocess.run(["make", "-C", str(ROOT), "widgets-static"], check=True,
                       capture_output=True)


def build_fixture_book(folder):
    """A one-page book with the real _config.yml (theme, widget settings and all)."""
    import nbformat

    ensure_widgets_static()
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    sphinx = config["sphinx"]["config"]
    sphinx["html_static_path"] = [str(ROOT / path) for path in sphinx["html_static_path"]]
    config["title"] = "toyviz explorable fixture"
    (folder / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (folder / "_toc.yml").write_text("format: jb-book\nroot: explorable\n")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Explorable fixture\n\nRandom weights, 20 nodes."),
        nbformat.v4.new_code_cell(FIXTURE_CELL),
        nbformat.v4.new_code_cell(FIXTURE_GRID_CELL)]
    nbformat.write(notebook, folder / "explorable.ipynb")
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run(
        [str(jupyter_book), "build", str(folder), "--path-output", str(folder / "out"),
         "-W", "-n", "--keep-going"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return folder / "out" / "_build" / "html"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def serve():
    servers = []

    def start(directory):
        handler = functools.partial(QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session", params=["fixture", "book"])
def site(request, tmp_path_factory, serve):
    """(html folder, base URL) of the fixture book or of the real book."""
    if request.param == "fixture":
        html = build_fixture_book(tmp_path_factory.mktemp("explorable-fixture"))
    else:
        html = SITE
        if not (html / "index.html").exists():
            missing(f"the book is not built ({html} is missing): run `make book` first")
    return html, serve(html)


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        missing(f"no Chromium at {CHROMIUM}: run `make chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Visit:
    """A page opened with every non-local request blocked and every console error kept."""

    def __init__(self, browser, base, path):
        self.context = browser.new_context(viewport={"width": 1200, "height": 1600},
                                           service_workers="block")
        self.page = self.context.new_page()
        self.errors, self.blocked = [], []
        self.page.route("**/*", self._route(base))
        self.page.on("console", lambda message: message.type == "error"
                     and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(base + path, wait_until="load")

    def _route(self, base):
        def route(request_route):
            url = request_route.request.url
            if url.startswith(base):
                request_route.continue_()
            else:
                self.blocked.append(url)
                request_route.abort()
        return route

    def unexpected_errors(self):
        return [error for error in self.errors if error not in KNOWN_THEME_ERRORS]

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser):
    opened = []

    def open_page(base, path):
        page = Visit(browser, base, path)
        opened.append(page)
        return page

    yield open_page
    for page in opened:
        page.close()


def pages(html):
    return sorted(str(path.relative_to(html)) for path in html.rglob("*.html")
                  if "_static" not in path.parts and "_sources" not in path.parts)


def embedded_explorables(html_file):
    """[(model id, state)] of the toyviz explorables displayed on a built page, read from
    the widget state and views that myst-nb embeds."""
    text = html_file.read_text()
    states = re.findall(
        r'<script type="application/vnd\.jupyter\.widget-state\+json">(.*?)</script>',
        text, flags=re.S)
    if not states:
        return []
    models = json.loads(states[0])["state"]
    views = [json.loads(view)["model_id"] for view in re.findall(
        r'<script type="application/vnd\.jupyter\.widget-view\+json">(.*?)</script>',
        text, flags=re.S)]
    return [(model_id, models[model_id]["state"]) for model_id in views
            if models.get(model_id, {}).get("model_module") == "anywidget"
            and models[model_id]["state"].get("kind")]


def explorable_pages(html):
    found = {page: embedded_explorables(html / page) for page in pages(html)}
    return {page: views for page, views in found.items() if views}


# ------------------------------------------------------------------ the tests

def test_every_page_loads_without_console_errors_or_outside_requests(site, visit):
    html, base = site
    assert pages(html), f"no pages in {html}"
    for path in pages(html):
        page = visit(base, path)
        if embedded_explorables(html / path):
            page.page.wait_for_selector("[data-toyviz-explorable]", timeout=20000)
        page.page.wait_for_timeout(300)
        assert page.unexpected_errors() == [], f"{path}: console errors"
        assert page.blocked == [], f"{path}: requests to other hosts"
        page.close()


def test_the_chapter_with_the_explorable_embeds_it(site):
    html, _ = site
    found = explorable_pages(html)
    if html == SITE:
        notebook = ROOT / "book" / "node_removal.ipynb"
        if notebook.exists() and "NodeToggleHeatmap" in notebook.read_text():
            assert "book/node_removal.html" in found, "chapter 1's explorable is not embedded"
    else:
        assert list(found) == ["explorable.html"]
    for page, views in found.items():
        for _, state in views:
            assert state["_esm"] == widgets.FRONT_END.read_text(), f"{page}: stale _esm"


def node_toggle_explorables(site):
    html, base = site
    found = [(page, index, state) for page, views in explorable_pages(html).items()
             for index, (_, state) in enumerate(views)
             if state["kind"] == "node-toggle-heatmap"]
    if not found:
        pytest.skip("no node-toggle explorable on this site yet")
    return base, found


def read_drawn(page, index):
    return page.evaluate("""(index) => {
        const root = document.querySelectorAll('[data-toyviz-explorable]')[index];
        const hook = root.toyvizExplorable;
        return {redraws: hook.redraws, mask: hook.mask, meanLoss: hook.meanLoss,
                probability: Array.from(hook.probability), loss: Array.from(hook.loss),
                images: Array.from(root.querySelectorAll('canvas'), (c) => c.toDataURL())};
    }""", index)


def assert_matches_python(drawn, state, mask):
    weights = {key: np.asarray(value) for key, value in state["weights"].items()}
    python = widgets.heatmap_values(weights, mask, state["extent"], state["resolution"])
    assert drawn["mask"] == list(mask)
    probability_error = np.max(np.abs(np.array(drawn["probability"])
                                      - python["probability"].ravel()))
    loss_error = np.max(np.abs(np.array(drawn["loss"]) - python["loss"].ravel()))
    assert probability_error <= 1e-4, f"P(inside) differs from Python by {probability_error}"
    assert loss_error <= 1e-4, f"per-point loss differs from Python by {loss_error}"
    assert abs(drawn["meanLoss"] - python["mean_loss"]) <= 1e-4


def most_visible_node(state, mask):
    """The node whose toggle changes the drawn probabilities most (some nodes of a trained
    net are dead on the whole square, and toggling them rightly changes nothing)."""
    weights = {key: np.asarray(value) for key, value in state["weights"].items()}
    before = widgets.heatmap_values(weights, mask, state["extent"], 60)["probability"]
    changes = []
    for node in range(len(mask)):
        flipped = list(mask)
        flipped[node] = 1 - flipped[node]
        after = widgets.heatmap_values(weights, flipped, state["extent"], 60)["probability"]
        changes.append(np.max(np.abs(after - before)))
    return int(np.argmax(changes))


def test_clicking_a_node_toggle_redraws_with_pythons_numbers(site, visit):
    base, found = node_toggle_explorables(site)
    for path, index, state in found:
        page = visit(base, path)
        page.page.wait_for_selector("[data-toyviz-explorable]", timeout=20000)
        root = page.page.locator("[data-toyviz-explorable]").nth(index)
        before = read_drawn(page.page, index)
        assert_matches_python(before, state, state["mask"])
        node = most_visible_node(state, state["mask"])
        root.get_by_label(f"node {node}", exact=True).click()
        after = read_drawn(page.page, index)
        mask = list(state["mask"])
        mask[node] = 1 - mask[node]
        assert after["redraws"] == before["redraws"] + 1
        assert after["images"][0] != before["images"][0], "P(inside) canvas did not change"
        assert after["images"][1] != before["images"][1], "loss canvas did not change"
        assert_matches_python(after, state, mask)
        root.get_by_role("button", name="All nodes off").click()
        assert_matches_python(read_drawn(page.page, index), state, [0] * len(mask))
        assert page.unexpected_errors() == []


def test_a_toggle_redraws_within_one_frame(site, visit):
    base, found = node_toggle_explorables(site)
    for path, index, state in found:
        page = visit(base, path)
        page.page.wait_for_selector("[data-toyviz-explorable]", timeout=20000)
        times = page.page.evaluate("""(index) => {
            const root = document.querySelectorAll('[data-toyviz-explorable]')[index];
            const box = root.querySelector('input[data-node="0"]');
            box.click(); box.click();  // warm up the JIT
            const times = [];
            for (let k = 0; k < 15; k++) {
                const start = performance.now();
                box.click();  // the change handler redraws synchronously
                times.push(performance.now() - start);
            }
            return times;
        }""", index)
        median = float(np.median(times))
        print(f"{path}: redraw after a toggle, median {median:.1f} ms of {len(times)} "
              f"({state['resolution']}x{state['resolution']} grid)")
        assert median <= FRAME_MS, f"median redraw {median:.1f} ms > {FRAME_MS} ms: {times}"


def test_controls_are_labelled_and_figures_described(site, visit):
    base, found = node_toggle_explorables(site)
    for path, index, state in found:
        page = visit(base, path)
        page.page.wait_for_selector("[data-toyviz-explorable]", timeout=20000)
        root = page.page.locator("[data-toyviz-explorable]").nth(index)
        n = len(state["mask"])
        for node in range(n):
            box = root.get_by_role("checkbox", name=f"node {node}", exact=True)
            assert box.count() == 1
            assert box.evaluate("(box) => box.closest('label').textContent.trim()") \
                == f"node {node}"
        assert root.get_attribute("aria-label")
        canvases = root.locator("canvas")
        assert canvases.count() == 2
        for k in range(2):
            assert canvases.nth(k).get_attribute("role") == "img"
            assert "Heatmap" in canvases.nth(k).get_attribute("aria-label")
        captions = root.locator("figcaption").all_inner_texts()
        assert captions == ["P(inside the circle)", "Loss per point"]
        assert "nodes on" in root.locator("[aria-live]").inner_text()
        for image in page.page.locator("img").all():
            assert image.get_attribute("alt") is not None, f"{path}: an <img> has no alt"


def grid_pickers(site):
    html, base = site
    found = [(page, index, state) for page, views in explorable_pages(html).items()
             for index, (_, state) in enumerate(views) if state["kind"] == "grid-picker"]
    if not found:
        pytest.skip("no grid-picker explorable on this site yet")
    return base, found


def test_grid_picker_controls_redraw_with_pythons_grids(site, visit):
    base, found = grid_pickers(site)
    for path, index, state in found:
        page = visit(base, path)
        page.page.wait_for_selector("[data-toyviz-explorable]", timeout=20000)
        root = page.page.locator("[data-toyviz-explorable]").nth(index)

        def drawn():
            return page.page.evaluate("""(index) => {
                const root = document.querySelectorAll('[data-toyviz-explorable]')[index];
                const hook = root.toyvizExplorable;
                return {selection: hook.selection, redraws: hook.redraws,
                        values: hook.values.map((v) => Array.from(v)),
                        status: root.querySelector('[aria-live]').textContent,
                        images: Array.from(root.querySelectorAll('canvas'),
                                           (c) => c.toDataURL())};
            }""", index)

        def check(result, selection):
            assert result["selection"] == list(selection)
            python = widgets.decode_grids(state, selection)
            got = np.array(result["values"]).reshape(python.shape)
            assert np.max(np.abs(got - python)) <= 1e-9
            counts = [len(control["options"]) for control in state["controls"]]
            if state["readouts"]:
                combination = int(np.ravel_multi_index(tuple(selection), counts))
                assert result["status"] == state["readouts"][combination]

        selection = list(state["selection"])
        before = drawn()
        check(before, selection)
        for c, control in enumerate(state["controls"]):
            new = (selection[c] + 1) % len(control["options"])
            if new == selection[c]:
                continue
            box = root.get_by_label(control["label"], exact=True)
            if control["kind"] == "slider":
                box.focus()
                page.page.keyboard.press("ArrowRight" if new > selection[c] else "Home")
            else:
                box.select_option(str(new))
            selection[c] = new
            after = drawn()
            check(after, selection)
            assert after["images"] != before["images"], f"{control['label']}: no redraw"
            before = after
        assert page.unexpected_errors() == []
