"""The built site in a real browser: headless Chromium (Debian's, driven by Playwright)
opens every page from a server on 127.0.0.1 with every other request blocked.

Two sites are checked: a small fixture book built here (two NodeToggleHeatmaps with random
weights, a 2-8-8-3 tanh/ReLU network on three classes and a 2-20-2 ReLU one with the
circle drawn, and a GridExplorer, so these tests work before and apart from the chapters), and
the real book in _build/html that `make test` builds before running this file. Both must
load without console errors or requests to other hosts, and every explorable must render.
A node toggle (clicked, or ticked with the keyboard) and the class select must redraw
within one frame with the numbers toyviz.network computes in Python;
every control of a grid picker must change its canvas (and its readout, where the readouts
differ) to the grids Python encoded. On the real book, each chapter's explorable must be
there (chapter 1: node toggles; chapter 2: rules per layer type; chapter 3: criterion and
fraction pruned), and chapter 3's is checked control by control.

Under CI=true a missing browser, a missing built book or a missing chapter is a failure,
not a skip.
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

from browser_harness import missing
from toyviz import pruning, widgets

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
# The built book; TOYVIZ_SITE points these tests at a book built elsewhere.
SITE = Path(os.environ.get("TOYVIZ_SITE", ROOT / "_build" / "html"))
WIDGETS_STATIC = ROOT / "_build" / "widgets-static"
# The two screens the explorables must fit: a laptop (the book's content column at that
# width) and a phone; and WCAG's least contrast for text, and least touch target (2.5.8).
SCREENS = {"laptop": (1280, 800), "phone": (390, 844)}
MIN_CONTRAST = 4.5
MIN_TARGET = 24
# What marks a marked node's toggle (explorable.js nodeToggles).
MARK = "\u25c6"

# Each chapter's page on the built book: (its notebook, the kind of explorable it shows).
CHAPTER_EXPLORABLES = {
    "book/node_removal.html": ("node_removal.ipynb", "node-toggle-heatmap"),
    "book/relevance.html": ("relevance.ipynb", "grid-picker"),
    "book/right_reasons.html": ("right_reasons.ipynb", "grid-picker"),
    "book/pruning.html": ("pruning.ipynb", "grid-picker"),
    "book/own_network.html": ("own_network.ipynb", "node-toggle-heatmap"),
}

FIXTURE_CELL = """\
import numpy as np
import toyviz.widgets
from toyviz.network import Network

rng = np.random.default_rng(0)
deep = Network.from_dense([(rng.normal(size=(2, 8)), rng.normal(size=8), "tanh"),
                           (rng.normal(size=(8, 8)), rng.normal(size=8), "relu"),
                           (rng.normal(size=(8, 3)), rng.normal(size=3), "softmax")])
x = rng.uniform(-1.5, 1.5, size=(120, 2))
toyviz.widgets.NodeToggleHeatmap(deep, x, deep.predict(x).argmax(axis=1), layer="hidden0",
                                 class_names=["red", "green", "blue"], resolution=120)
"""

FIXTURE_CIRCLE_CELL = """\
from toyviz.data import CIRCLE_RADIUS_SQUARED

small = Network.from_dense([(rng.normal(size=(2, 20)), rng.normal(size=20), "relu"),
                            (rng.normal(size=(20, 2)), rng.normal(size=2), "softmax")])
circle_x = rng.uniform(-1, 1, size=(300, 2))
circle_y = (np.sum(circle_x**2, axis=1) < CIRCLE_RADIUS_SQUARED).astype(int)
toyviz.widgets.NodeToggleHeatmap(small, circle_x, circle_y,
                                 circle_radius_squared=CIRCLE_RADIUS_SQUARED,
                                 marked_nodes=np.arange(20) % 7 == 2,
                                 mark_label="bias-like node")
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
    points=(rng.uniform(-1, 1, size=(40, 2)), rng.integers(0, 2, size=40)),
    marked_cells=np.isin(np.arange(3600), [610, 1234, 2222, 2223]).reshape(60, 60),
    mark_label="marker pixel", prompt="slide the fraction and watch both panels fade.")
"""

FIXTURE_SHARED_CELL = """\
toyviz.widgets.GridExplorer(
    values[:, :, :1].repeat(3, axis=2) * [[[[1.0]], [[-0.5]], [[0.25]]]],
    controls=[{"name": "rule", "label": "Rule", "options": ["first", "second", "third"]},
              {"name": "fraction", "label": "Fraction pruned", "kind": "slider",
               "options": ["0%", "25%", "50%", "75%", "100%"]}],
    panels=[{"title": title, "colour_label": "relevance", "signed": True, "vmax": 1.0}
            for title in ("x", "y", "bias")],
    circle_radius_squared=CIRCLE_RADIUS_SQUARED, selection=[1, 2])
"""


# ------------------------------------------------------------------ sites and browser

def ensure_widgets_static():
    """The files the site serves itself (the Makefile's widgets-static), as now in toyviz."""
    shim = WIDGETS_STATIC / "toyviz-widgets" / "static_widgets.js"
    source = ROOT / "toyviz" / "static" / "static_widgets.js"
    if not shim.exists() or shim.read_bytes() != source.read_bytes():
        subprocess.run(["make", "-C", str(ROOT), "widgets-static"], check=True,
                       capture_output=True)


def build_fixture_book(folder):
    """A one-page book with the real _config.yml (theme, widget settings and all)."""
    import nbformat

    ensure_widgets_static()
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    sphinx = config["sphinx"]["config"]
    for key in ("html_static_path", "html_extra_path"):   # paths from the repository root
        if key in sphinx:
            sphinx[key] = [str(ROOT / path) for path in sphinx[key]]
    if config.get("html", {}).get("favicon"):
        config["html"]["favicon"] = str(ROOT / config["html"]["favicon"])
    config["sphinx"]["local_extensions"] = {
        name: str(ROOT / path) for name, path in config["sphinx"]["local_extensions"].items()}
    config["title"] = "toyviz explorable fixture"
    (folder / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (folder / "_toc.yml").write_text("format: jb-book\nroot: explorable\n")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Explorable fixture\n\nRandom weights, 20 nodes."),
        nbformat.v4.new_code_cell(FIXTURE_CELL),
        nbformat.v4.new_code_cell(FIXTURE_CIRCLE_CELL),
        nbformat.v4.new_code_cell(FIXTURE_GRID_CELL),
        nbformat.v4.new_code_cell(FIXTURE_SHARED_CELL)]
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
def book(serve):
    """(html folder, base URL) of the real book only, for the chapters' own checks."""
    if not (SITE / "index.html").exists():
        missing(f"the book is not built ({SITE} is missing): run `make book` first")
    return SITE, serve(SITE)


class Visit:
    """A page opened with every non-local request blocked and every console error kept."""

    def __init__(self, browser, base, path, viewport=(1200, 1600), color_scheme="light"):
        self.context = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]}, service_workers="block",
            color_scheme=color_scheme)
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
        return list(self.errors)

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser):
    opened = []

    def open_page(base, path, **options):
        page = Visit(browser, base, path, **options)
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


def wait_until_drawn(page, count, timeout=20000):
    """Wait until ``count`` explorables are on the page and each has drawn once (a grid
    picker unpacks its grids asynchronously and draws after that)."""
    page.wait_for_function(
        """(count) => {
            const roots = document.querySelectorAll('[data-toyviz-explorable]');
            return roots.length === count
                && Array.from(roots).every((root) => root.hasAttribute('data-redraws'));
        }""", arg=count, timeout=timeout)


# ------------------------------------------------------------------ the tests

def test_every_page_loads_without_console_errors_or_outside_requests(site, visit):
    html, base = site
    assert pages(html), f"no pages in {html}"
    for path in pages(html):
        page = visit(base, path)
        embedded = embedded_explorables(html / path)
        if embedded:
            wait_until_drawn(page.page, len(embedded))
        page.page.wait_for_timeout(300)
        assert page.unexpected_errors() == [], f"{path}: console errors"
        assert page.blocked == [], f"{path}: requests to other hosts"
        page.close()


def test_each_chapter_embeds_its_explorable(site):
    html, _ = site
    found = explorable_pages(html)
    if html == SITE:
        for path, (notebook, kind) in CHAPTER_EXPLORABLES.items():
            if not (ROOT / "book" / notebook).exists():
                missing(f"book/{notebook} does not exist yet")
            assert (html / path).exists(), f"{path} is missing from the built book"
            kinds = [state["kind"] for _, state in found.get(path, [])]
            assert kind in kinds, f"{path}: no {kind} explorable embedded (found {kinds})"
    else:
        assert list(found) == ["explorable.html"]
    for page, views in found.items():
        for _, state in views:
            assert state["_esm"] == widgets.FRONT_END.read_text(), f"{page}: stale _esm"


def node_toggle_explorables(site):
    html, base = site
    found = [(page, index, state, len(views))
             for page, views in explorable_pages(html).items()
             for index, (_, state) in enumerate(views)
             if state["kind"] == "node-toggle-heatmap"]
    if not found:
        pytest.skip("no node-toggle explorable on this site yet")
    return base, found


def read_drawn(page, index):
    return page.evaluate("""(index) => {
        const root = document.querySelectorAll('[data-toyviz-explorable]')[index];
        const hook = root.toyvizExplorable;
        return {redraws: hook.redraws, mask: hook.mask, shownClass: hook.shownClass,
                meanLoss: hook.meanLoss, probability: Array.from(hook.probability),
                pointProbabilities: Array.from(hook.pointProbabilities),
                loss: Array.from(hook.loss),
                status: root.querySelector('[aria-live]').textContent,
                captions: Array.from(root.querySelectorAll('figcaption'), (c) => c.textContent),
                images: Array.from(root.querySelectorAll('canvas'), (c) => c.toDataURL())};
    }""", index)


def assert_matches_python(drawn, state, mask, shown=None):
    """What the browser drew is what toyviz.network computes, within the stated
    tolerance (both run in float64)."""
    shown = state["shown_class"] if shown is None else shown
    python = widgets.node_toggle_values(state, mask, shown)
    assert drawn["mask"] == list(mask) and drawn["shownClass"] == shown
    tolerance = widgets.BROWSER_TOLERANCE
    for key, values in (("probability", python["probability"].ravel()),
                        ("pointProbabilities", python["point_probabilities"].ravel()),
                        ("loss", python["loss"])):
        error = np.max(np.abs(np.array(drawn[key]) - values))
        assert error <= tolerance, f"{key} differs from Python by {error}"
    assert abs(drawn["meanLoss"] - python["mean_loss"]) <= tolerance
    assert f"{python['mean_loss']:.3f}" in drawn["status"]
    assert drawn["captions"] == [f"P({state['class_names'][shown]})", "Loss per point"]


def most_visible_node(state, mask):
    """The node whose toggle changes the drawn probabilities most (some nodes of a trained
    net are dead on the whole square, and toggling them rightly changes nothing)."""
    coarse = {**state, "resolution": 60}
    before = widgets.node_toggle_values(coarse, mask)["probability"]
    changes = []
    for node in range(len(mask)):
        flipped = list(mask)
        flipped[node] = 1 - flipped[node]
        after = widgets.node_toggle_values(coarse, flipped)["probability"]
        changes.append(np.max(np.abs(after - before)))
    return int(np.argmax(changes))


def test_clicking_a_node_toggle_redraws_with_pythons_numbers(site, visit):
    base, found = node_toggle_explorables(site)
    for path, index, state, count in found:
        page = visit(base, path)
        wait_until_drawn(page.page, count)
        root = page.page.locator("[data-toyviz-explorable]").nth(index)
        before = read_drawn(page.page, index)
        assert_matches_python(before, state, state["mask"])
        node = most_visible_node(state, state["mask"])
        root.get_by_label(f"node {node}", exact=True).click()
        after = read_drawn(page.page, index)
        mask = list(state["mask"])
        mask[node] = 1 - mask[node]
        assert after["redraws"] == before["redraws"] + 1
        assert after["images"][0] != before["images"][0], "probability canvas did not change"
        assert after["images"][1] != before["images"][1], "loss canvas did not change"
        assert_matches_python(after, state, mask)
        root.get_by_role("button", name="All nodes off").click()
        assert_matches_python(read_drawn(page.page, index), state, [0] * len(mask))
        root.get_by_role("button", name="All nodes on").click()
        assert_matches_python(read_drawn(page.page, index), state, [1] * len(mask))
        assert page.unexpected_errors() == []


def test_the_keyboard_toggles_nodes_and_picks_the_class(site, visit):
    """Tab to a toggle and press Space; pick the class with the arrow keys; switch the
    points on the heatmap with Space: each redraws with Python's numbers, and the keys do
    not leave the explorable (JupyterLab's shortcuts listen above it)."""
    base, found = node_toggle_explorables(site)
    for path, index, state, count in found:
        page = visit(base, path)
        wait_until_drawn(page.page, count)
        root = page.page.locator("[data-toyviz-explorable]").nth(index)
        page.page.evaluate("""() => { window.keysAbove = 0;
            document.body.addEventListener('keydown', () => { window.keysAbove += 1; }); }""")
        mask = list(state["mask"])
        root.get_by_label("node 1", exact=True).focus()
        page.page.keyboard.press("Shift+Tab")
        page.page.keyboard.press("Tab")
        ring = page.page.evaluate("""() => {  // the browser's own focus ring, kept
            const style = getComputedStyle(document.activeElement);
            return [document.activeElement.dataset.node, style.outlineStyle,
                    parseFloat(style.outlineWidth)];
        }""")
        assert ring[0] == "1" and ring[1] != "none" and ring[2] > 0, f"focus ring: {ring}"
        page.page.keyboard.press("Space")
        mask[1] = 1 - mask[1]
        assert_matches_python(read_drawn(page.page, index), state, mask)
        select = root.get_by_label("Probability of", exact=True)
        assert select.count() == 1
        shown = state["shown_class"]
        last = len(state["class_names"]) - 1
        select.focus()
        page.page.keyboard.press("ArrowDown" if shown < last else "ArrowUp")
        assert_matches_python(read_drawn(page.page, index), state, mask,
                              shown + 1 if shown < last else shown - 1)
        for c in range(len(state["class_names"])):
            select.select_option(str(c))
            assert_matches_python(read_drawn(page.page, index), state, mask, c)
        points = root.get_by_label("Labelled points on the heatmap", exact=True)
        assert points.is_checked() == state["show_points"]
        before = read_drawn(page.page, index)
        points.focus()
        page.page.keyboard.press("Space")
        after = read_drawn(page.page, index)
        assert points.is_checked() != state["show_points"]
        assert after["redraws"] == before["redraws"] + 1
        assert after["images"][0] != before["images"][0], "the points did not come or go"
        assert after["images"][1] == before["images"][1]
        assert_matches_python(after, state, mask, c)
        assert page.page.evaluate("window.keysAbove") == 0, "keys left the explorable"
        assert page.unexpected_errors() == []


def test_fixture_three_class_network_matches_python(site, visit):
    """The fixture's 2-8-8-3 tanh/ReLU network with the toggles on its first layer (the
    browser runs the layers after the mask for every redraw): every class, and masks
    set node by node, against toyviz.network."""
    html, base = site
    if html == SITE:
        pytest.skip("the fixture's network is checked on the fixture site")
    found = [(path, index, state, count) for path, index, state, count
             in node_toggle_explorables(site)[1]
             if len(state["class_names"]) == 3]
    assert len(found) == 1, "the fixture's 3-class explorable is missing"
    path, index, state, count = found[0]
    assert [len(layer["bias"]) for layer in state["layers"]] == [8, 8, 3]
    assert [layer["activation"] for layer in state["layers"]] == ["tanh", "relu", "linear"]
    assert state["circle_radius_squared"] is None
    page = visit(base, path)
    wait_until_drawn(page.page, count)
    root = page.page.locator("[data-toyviz-explorable]").nth(index)
    mask = list(state["mask"])
    for node in (0, 3, 5, 7):
        root.get_by_label(f"node {node}", exact=True).click()
        mask[node] = 0
        for c in range(3):
            root.get_by_label("Probability of", exact=True).select_option(str(c))
            assert_matches_python(read_drawn(page.page, index), state, mask, c)
    assert page.unexpected_errors() == []


def test_a_toggle_redraws_in_the_same_event(site, visit):
    """A toggle's change handler redraws the explorable synchronously: its redraw count
    (``data-redraws``) has gone up by one before the click returns, with no frame or timer
    in between. How long a redraw takes depends on the machine and its load, so it is
    printed, never asserted."""
    base, found = node_toggle_explorables(site)
    for path, index, state, count in found:
        page = visit(base, path)
        wait_until_drawn(page.page, count)
        result = page.page.evaluate("""(index) => {
            const root = document.querySelectorAll('[data-toyviz-explorable]')[index];
            const box = root.querySelector('input[data-node="0"]');
            const redraws = () => Number(root.getAttribute('data-redraws'));
            const added = [], times = [];
            for (let k = 0; k < 6; k++) {
                const before = redraws();
                const start = performance.now();
                box.click();  // the change handler redraws synchronously
                times.push(performance.now() - start);
                added.push(redraws() - before);
            }
            return {added, times};
        }""", index)
        median = float(np.median(result["times"]))
        print(f"{path}: redraw after a toggle, median {median:.1f} ms of "
              f"{len(result['times'])} ({state['resolution']}x{state['resolution']} grid; "
              f"machine- and load-dependent, not asserted)")
        assert result["added"] == [1] * 6, f"{path}: a toggle did not redraw once, at once: {result}"


def test_controls_are_labelled_and_figures_described(site, visit):
    base, found = node_toggle_explorables(site)
    for path, index, state, count in found:
        page = visit(base, path)
        wait_until_drawn(page.page, count)
        root = page.page.locator("[data-toyviz-explorable]").nth(index)
        n = len(state["mask"])
        for node in range(n):
            box = root.get_by_role("checkbox", name=f"node {node}", exact=True)
            assert box.count() == 1
            label = box.evaluate("(box) => box.closest('label').textContent")
            assert label.replace(MARK, "").strip() == f"node {node}"
        assert root.get_attribute("aria-label")
        canvases = root.locator("canvas")
        assert canvases.count() == 2
        for k in range(2):
            assert canvases.nth(k).get_attribute("role") == "img"
        assert "Heatmap of the network's probability" in canvases.nth(0).get_attribute(
            "aria-label")
        assert "labelled points coloured by their cross-entropy loss" in canvases.nth(
            1).get_attribute("aria-label")
        captions = root.locator("figcaption").all_inner_texts()
        names = state["class_names"]
        assert captions == [f"P({names[state['shown_class']]})", "Loss per point"]
        if path == "book/node_removal.html":
            assert captions[0] == "P(inside the circle)"
            assert state["circle_radius_squared"] is not None
            assert len(state["labels"]) == 1000, "chapter 1 shows its 1000 test points"
        status = root.locator("[aria-live]").inner_text()
        assert "nodes on" in status and f"{len(state['labels'])} labelled points" in status
        select = root.get_by_label("Probability of", exact=True)
        assert select.locator("option").all_inner_texts() == names
        for image in page.page.locator("img").all():
            assert image.get_attribute("alt") is not None, f"{path}: an <img> has no alt"


def grid_pickers(html):
    found = [(page, index, state, len(views))
             for page, views in explorable_pages(html).items()
             for index, (_, state) in enumerate(views) if state["kind"] == "grid-picker"]
    if not found:
        pytest.skip("no grid-picker explorable on this site yet")
    return found


def combination(state, selection):
    counts = [len(control["options"]) for control in state["controls"]]
    return int(np.ravel_multi_index(tuple(selection), counts))


def expected_readout(state, selection):
    """What the status line shows: the combination's readout, else the picked options."""
    if state["readouts"]:
        return state["readouts"][combination(state, selection)]
    return "; ".join(f"{control['label']}: {control['options'][k]}"
                     for control, k in zip(state["controls"], selection))


def colour_map(name):
    """The front end's 256-colour table (test_widgets.py checks it against matplotlib)."""
    text = widgets.FRONT_END.read_text()
    hex_string = re.search(rf'const {name.upper()}_HEX =\s*"([0-9a-f]+)"', text).group(1)
    return np.frombuffer(bytes.fromhex(hex_string), dtype=np.uint8).reshape(256, 3)


def panel_geometry(page, index):
    """(left, top, size) in CSS pixels of the grid square on each panel canvas of the
    ``index``-th explorable, as the canvas says (data-left, data-top, data-size): the
    panels' size follows the card's width."""
    return page.evaluate("""(index) => {
        const root = document.querySelectorAll('[data-toyviz-explorable]')[index];
        return Array.from(root.querySelectorAll('canvas[data-size]'), (canvas) =>
            ['left', 'top', 'size'].map((key) => Number(canvas.dataset[key])));
    }""", index)


def cell_centres(state, geometry):
    """(r * r, 2) CSS-pixel centres of the grid cells on a panel whose grid square is at
    ``geometry`` (left, top, size), in the grids' order (row i is the i-th y from the
    bottom), and a (r * r,) mask of the cells that nothing is drawn over (no training
    point, no circle, no marked cell or its neighbours, not on the frame)."""
    left, top, size = geometry
    r = state["resolution"]
    x0, x1, y0, y1 = state["extent"]
    step = size / r
    j, i = np.meshgrid(np.arange(r), np.arange(r))
    centres = np.stack([left + (j.ravel() + 0.5) * step,
                        top + (r - 1 - i.ravel() + 0.5) * step], axis=1)
    clear = (i.ravel() > 0) & (i.ravel() < r - 1) & (j.ravel() > 0) & (j.ravel() < r - 1)
    overlay = state.get("overlay") or {}
    points = np.array([[x, y] for x, y, _ in overlay.get("points") or []]).reshape(-1, 2)
    if len(points):
        pixels = np.stack([left + (points[:, 0] - x0) / (x1 - x0) * size,
                           top + (y1 - points[:, 1]) / (y1 - y0) * size], axis=1)
        for start in range(0, len(centres), 2000):  # a point is a 1.8 px disc + outline
            block = centres[start:start + 2000]
            distance = np.sqrt(((block[:, None] - pixels[None]) ** 2).sum(-1)).min(1)
            clear[start:start + 2000] &= distance > 3.5
    if overlay.get("circle_radius_squared"):
        radius = np.sqrt(overlay["circle_radius_squared"]) / (x1 - x0) * size
        middle = np.array([left + (0 - x0) / (x1 - x0) * size,
                           top + (y1 - 0) / (y1 - y0) * size])
        clear &= np.abs(np.sqrt(((centres - middle) ** 2).sum(1)) - radius) > 2.5
    for row, column in state.get("marked_cells") or []:
        near = (np.abs(i.ravel() - row) <= 1) & (np.abs(j.ravel() - column) <= 1)
        clear &= ~near
    return centres, clear


def canvas_colours(page, index, samples):
    """The colour at each of ``samples`` (per panel canvas, a list of CSS-pixel points)
    on the panel canvases of the ``index``-th explorable, as [r, g, b]."""
    return page.evaluate("""([index, samples]) => {
        const root = document.querySelectorAll('[data-toyviz-explorable]')[index];
        return Array.from(root.querySelectorAll('canvas[data-size]'), (canvas, p) => {
            const ratio = canvas.width / parseFloat(canvas.style.width);
            const data = canvas.getContext('2d')
                .getImageData(0, 0, canvas.width, canvas.height).data;
            return samples[p].map(([x, y]) => {
                const k = (Math.floor(y * ratio) * canvas.width + Math.floor(x * ratio)) * 4;
                return [data[k], data[k + 1], data[k + 2]];
            });
        });
    }""", [index, samples])


def assert_canvases_show(page, index, state, grids):
    """Each panel's canvas shows Python's grid: every grid cell that nothing is drawn
    over has the colour-map colour of the cell's value."""
    geometry = panel_geometry(page, index)
    assert len(geometry) == len(state["panels"])
    found = [cell_centres(state, panel) for panel in geometry]
    colours = canvas_colours(page, index, [centres.tolist() for centres, _ in found])
    for panel, grid, drawn, (_, clear) in zip(state["panels"], grids, colours, found):
        assert clear.mean() > 0.3, "too few grid cells are free of overlays to check"
        levels = np.clip(np.rint((grid.ravel() - panel["vmin"])
                                 / (panel["vmax"] - panel["vmin"]) * 255), 0, 255)
        expected = colour_map(panel["colour_map"])[levels.astype(int)].astype(int)
        wrong = np.abs(np.array(drawn) - expected).max(axis=1) > 1
        share = wrong[clear].mean()
        assert share <= 0.002, (f"{panel['title']}: {share:.1%} of the grid cells on the "
                                "canvas do not show Python's value")


class GridPicker:
    """One grid picker on an open page: read what it drew, drive its controls as a
    reader does (choose in a select, arrow keys on a slider), check against Python."""

    def __init__(self, page, index, state):
        self.page, self.index, self.state = page, index, state
        self.root = page.locator("[data-toyviz-explorable]").nth(index)

    def drawn(self):
        return self.page.evaluate("""(index) => {
            const root = document.querySelectorAll('[data-toyviz-explorable]')[index];
            const hook = root.toyvizExplorable;
            return {selection: hook.selection, redraws: hook.redraws,
                    values: hook.values.map((v) => Array.from(v)),
                    status: root.querySelector('[aria-live]').textContent,
                    shown: Array.from(root.querySelectorAll('output'),
                                      (output) => output.textContent),
                    images: Array.from(root.querySelectorAll('canvas[data-size]'),
                                       (c) => c.toDataURL())};
        }""", self.index)

    def check(self, result, selection):
        """The browser drew Python's grids and shows the readout for ``selection``."""
        assert result["selection"] == list(selection)
        python = widgets.decode_grids(self.state, selection)
        got = np.array(result["values"]).reshape(python.shape)
        assert np.max(np.abs(got - python)) <= 1e-9, "grids differ from Python's"
        assert_canvases_show(self.page, self.index, self.state, python)
        assert result["status"] == expected_readout(self.state, selection)
        for c, control in enumerate(self.state["controls"]):
            if control["kind"] == "slider":
                assert result["shown"][c] == control["options"][selection[c]]

    def choose(self, c, current, new):
        """Set control ``c`` from option ``current`` to ``new`` through the page."""
        control = self.state["controls"][c]
        box = self.root.get_by_label(control["label"], exact=True)
        assert box.count() == 1, f"no control labelled {control['label']!r}"
        if control["kind"] == "slider":
            box.focus()
            if new == 0:
                self.page.keyboard.press("Home")
            elif new == len(control["options"]) - 1:
                self.page.keyboard.press("End")
            else:
                key = "ArrowRight" if new > current else "ArrowLeft"
                for _ in range(abs(new - current)):
                    self.page.keyboard.press(key)
        else:
            box.select_option(str(new))


def changing_option(state, selection, c):
    """An option of control ``c`` that changes the grids, preferring one that also changes
    the readout; None if no option changes the grids."""
    python = widgets.decode_grids(state, selection)
    candidates = []
    count = len(state["controls"][c]["options"])
    for step in range(1, count):
        trial = list(selection)
        trial[c] = (selection[c] + step) % count
        if not np.array_equal(widgets.decode_grids(state, trial), python):
            candidates.append((expected_readout(state, trial)
                               == expected_readout(state, selection), trial[c]))
    return min(candidates)[1] if candidates else None


def test_grid_picker_controls_redraw_with_pythons_grids(site, visit):
    """Every control of every grid picker changes the canvas to the grids Python encoded,
    and the readout where the readouts differ; on the real book this covers chapters 2
    and 3."""
    html, base = site
    if html == SITE:
        pickers = {page for page, views in explorable_pages(html).items()
                   if any(state["kind"] == "grid-picker" for _, state in views)}
        for path, (notebook, kind) in CHAPTER_EXPLORABLES.items():
            if kind == "grid-picker" and (ROOT / "book" / notebook).exists():
                assert path in pickers, f"{path}: no grid picker"
    found = grid_pickers(html)
    for path, index, state, count in found:
        page = visit(base, path)
        wait_until_drawn(page.page, count)
        picker = GridPicker(page.page, index, state)
        selection = list(state["selection"])
        before = picker.drawn()
        picker.check(before, selection)
        readout_changed = False
        for c, control in enumerate(state["controls"]):
            new = changing_option(state, selection, c)
            assert new is not None, f"{path}: {control['label']!r} changes nothing"
            picker.choose(c, selection[c], new)
            selection[c] = new
            after = picker.drawn()
            picker.check(after, selection)
            assert after["redraws"] > before["redraws"]
            assert after["images"] != before["images"], f"{control['label']}: no redraw"
            if expected_readout(state, selection) != before["status"]:
                assert after["status"] != before["status"]
                readout_changed = True
            before = after
        assert readout_changed, f"{path}: no control changed the readout"
        assert page.unexpected_errors() == []


def test_pruning_explorable_criterion_and_fraction(book, visit):
    """Chapter 3: a criterion picker over toyviz.pruning's four criteria, bias compensation
    on/off and a fraction-pruned slider from 0 to 90 %. At 0 % every criterion shows the
    same, unpruned network; sliding to 90 % changes the surface and the test accuracy."""
    html, base = book
    path = "book/pruning.html"
    if not (ROOT / "book" / "pruning.ipynb").exists():
        missing("book/pruning.ipynb does not exist yet")
    assert (html / path).exists(), f"{path} is missing from the built book"
    views = [state for _, state in embedded_explorables(html / path)]
    assert [state["kind"] for state in views] == ["grid-picker"], f"{path}: {views!r:.200}"
    state = views[0]
    controls = state["controls"]
    assert [(control["name"], control["kind"]) for control in controls] == [
        ("criterion", "select"), ("compensate", "select"), ("fraction", "slider")]
    assert controls[0]["options"] == [pruning.CRITERION_NAMES[name]
                                      for name in pruning.CRITERIA]
    assert len(controls[1]["options"]) == 2
    assert controls[2]["options"] == [f"{percent}%" for percent in range(0, 91, 10)]
    assert [panel["title"] for panel in state["panels"]] == ["P(class 1)"]
    assert len(state["overlay"]["points"]) > 0, "training points are not drawn"
    unpruned = widgets.decode_grids(state, (0, 0, 0))
    for criterion in range(4):
        for compensate in range(2):
            assert np.array_equal(widgets.decode_grids(state, (criterion, compensate, 0)),
                                  unpruned)
            assert expected_readout(state, (criterion, compensate, 0)) \
                == expected_readout(state, (0, 0, 0))

    page = visit(base, path)
    wait_until_drawn(page.page, 1)
    picker = GridPicker(page.page, 0, state)
    selection = list(state["selection"])
    picker.check(picker.drawn(), selection)
    picker.choose(2, selection[2], 0)  # slide to 0 %
    selection[2] = 0
    start = picker.drawn()
    picker.check(start, selection)
    assert "accuracy" in start["status"]
    for criterion in range(1, 4):  # at 0 % every criterion shows the unpruned network
        picker.choose(0, selection[0], criterion)
        selection[0] = criterion
        same = picker.drawn()
        picker.check(same, selection)
        assert same["images"] == start["images"] and same["status"] == start["status"]
    picker.choose(2, 0, 9)  # slide to 90 %
    selection[2] = 9
    end = picker.drawn()
    picker.check(end, selection)
    assert end["images"] != start["images"], "sliding to 90 % did not change the canvas"
    assert end["status"] != start["status"], "sliding to 90 % did not change the accuracy"
    slider = picker.root.get_by_label(controls[2]["label"], exact=True)
    assert slider.get_attribute("aria-valuetext") == "90%"
    picker.choose(1, 0, 1)  # compensation off
    selection[1] = 1
    picker.check(picker.drawn(), selection)
    canvas = picker.root.locator("canvas")
    assert canvas.count() == 1 and canvas.get_attribute("role") == "img"
    assert "90%" in canvas.get_attribute("aria-label")
    assert page.unexpected_errors() == []


# ------------------------------------------------------------------ fit, guide, themes

# For each explorable on the page: its card, the column it sits in, its panels, controls,
# opening line and legends, and the contrast of every piece of its text, computed as WCAG
# 2 does from the computed colours: the text colour composited over the effective
# background (the backgrounds of the element and its ancestors, composited up to the
# first opaque one), and the canvases' ink on their paper.
CARDS_JS = """() => {
  const parse = (text) => {
    const match = /rgba?\\(([^)]+)\\)/.exec(text);
    if (!match) return null;
    const parts = match[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return [parts[0], parts[1], parts[2], parts.length > 3 ? parts[3] : 1];
  };
  const over = (top, bottom) => [0, 1, 2].map((k) => top[k] * top[3] + bottom[k] * (1 - top[3]))
    .concat([1]);
  const background = (node) => {
    const layers = [];
    for (let n = node; n; n = n.parentElement) {
      const colour = parse(getComputedStyle(n).backgroundColor);
      if (colour && colour[3] > 0) { layers.push(colour); if (colour[3] >= 1) break; }
    }
    let colour = [255, 255, 255, 1];   // the canvas behind a page without a background
    for (let k = layers.length - 1; k >= 0; k--) colour = over(layers[k], colour);
    return colour;
  };
  const luminance = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const contrast = (a, b) => {
    const [light, dark] = [luminance(a), luminance(b)].sort((p, q) => q - p);
    return (light + 0.05) / (dark + 0.05);
  };
  const colourOf = (css) => {  // any CSS colour, as rgba, through a throwaway element
    const probe = document.createElement('span');
    probe.style.color = css;
    document.body.append(probe);
    const colour = parse(getComputedStyle(probe).color);
    probe.remove();
    return colour;
  };
  const box = (node) => {
    const r = node.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width,
            height: r.height};
  };
  // The bottom of whatever stays stuck to the top of the window (the theme's header).
  let header = 0;
  for (const node of document.querySelectorAll('body *')) {
    const position = getComputedStyle(node).position;
    if (position !== 'sticky' && position !== 'fixed') continue;
    const r = node.getBoundingClientRect();
    if (r.top <= 1 && r.height > 0 && r.height < innerHeight / 3) header = Math.max(header, r.bottom);
  }
  return Array.from(document.querySelectorAll('[data-toyviz-explorable]'), (root) => {
    const column = root.closest('article, main') || document.body;
    const between = [];
    for (let n = root; n && n !== column.parentElement; n = n.parentElement) {
      between.push({tag: n.tagName, className: String(n.className).slice(0, 60),
                    scrollWidth: n.scrollWidth, clientWidth: n.clientWidth});
    }
    const texts = [];
    for (const node of root.querySelectorAll('*')) {
      const own = Array.from(node.childNodes).some((c) => c.nodeType === 3 && c.textContent.trim());
      if (!own && !['SELECT', 'BUTTON'].includes(node.tagName)) continue;
      if (node.closest('canvas, style, option')) continue;
      const r = node.getBoundingClientRect();
      if (!r.width || !r.height) continue;
      const back = background(node), ink = over(parse(getComputedStyle(node).color), back);
      texts.push({tag: node.tagName, text: node.textContent.trim().slice(0, 60),
                  ratio: contrast(ink, back)});
    }
    const hook = root.toyvizExplorable;
    const ink = colourOf(hook.palette.ink), paper = colourOf(hook.palette.paper);
    const visible = (node) => node.getBoundingClientRect().width > 0;
    return {
      kind: root.dataset.toyvizExplorable, card: box(root), column: box(column), between,
      header, viewport: [innerWidth, innerHeight],
      panels: Array.from(root.querySelectorAll('figure'), (figure) => ({
        ...box(figure), panel: figure.querySelector('canvas[data-size]') !== null})),
      controls: Array.from(root.querySelectorAll('input, select, button'), (node) => ({
        tag: node.tagName, type: node.type || '', name: node.getAttribute('aria-label')
          || node.dataset.control || node.textContent.trim(), ...box(node)})).filter(
            (control) => control.width > 0),
      prompt: root.querySelector('.tv-prompt')?.textContent ?? '',
      legends: Array.from(root.querySelectorAll('.tv-legend'), (n) => n.textContent)
        .filter((text, k) => visible(root.querySelectorAll('.tv-legend')[k])),
      texts, layout: hook.layout,
      canvasContrast: contrast(ink, paper),
      paperIsCard: JSON.stringify(paper) === JSON.stringify(background(root)),
    };
  });
}"""


def open_explorables(visit, base, path, count, screen, color_scheme="light"):
    """A page opened at ``screen`` (a key of SCREENS) in a colour scheme, once all its
    ``count`` explorables have drawn and fitted their panels to their cards."""
    page = visit(base, path, viewport=SCREENS[screen], color_scheme=color_scheme)
    wait_until_drawn(page.page, count)
    wait_until_fitted(page.page)
    return page


def wait_until_fitted(page, timeout=20000):
    """Wait until every card's panels are laid out for the card's current width (a card
    re-fits them one frame after its width changes)."""
    page.wait_for_function("""() => Array.from(document.querySelectorAll(
            '[data-toyviz-explorable]')).every((root) => {
        const figures = root.querySelectorAll('.tv-panels > figure');
        const row = root.querySelector('.tv-panels');
        return root.toyvizExplorable.layout && figures.length
            && row.scrollWidth <= row.clientWidth + 1;
    })""", timeout=timeout)


# Screenshots of a card leave out what stays stuck to the window (the theme's header) and
# the skip link, which would otherwise cover the card's top.
MARK_STUCK_JS = """() => {
  for (const node of document.querySelectorAll('body *')) {
    const position = getComputedStyle(node).position;
    if (position === 'sticky' || position === 'fixed') node.setAttribute('data-tv-stuck', '');
  }
}"""
SCREENSHOT_STYLE = "[data-tv-stuck], .skip-link { visibility: hidden !important; }"


def screenshot_folder(html):
    """_build/screenshots beside the site being tested."""
    folder = html.parent / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def assert_fits(card, screen, where):
    """Side by side on a laptop (stacked on a phone), nothing wider than the column, the
    controls in view with the panels on a laptop, touch-sized controls on a phone."""
    panels = [panel for panel in card["panels"] if panel["panel"]]
    assert panels, f"{where}: no panels"
    for node in card["between"]:
        assert node["scrollWidth"] <= node["clientWidth"] + 1, (
            f"{where}: {node['tag']}.{node['className']} overflows sideways "
            f"({node['scrollWidth']} > {node['clientWidth']} px)")
    assert card["card"]["right"] <= card["column"]["right"] + 1, f"{where}: wider than the column"
    assert all(panel["right"] <= card["card"]["right"] for panel in card["panels"]), where
    rows = {round(panel["top"]) for panel in panels}
    if screen == "laptop":
        assert len(rows) == 1, f"{where}: the panels are not side by side: tops {sorted(rows)}"
        lefts = [panel["left"] for panel in panels]
        assert lefts == sorted(lefts) and len(set(lefts)) == len(lefts), where
        assert not card["layout"]["stacked"], where
        # Scrolled so that the card starts under the header, every control is in view.
        shift = card["card"]["top"] - card["header"]
        lowest = max(control["bottom"] for control in card["controls"]) - shift
        assert lowest <= card["viewport"][1], (
            f"{where}: the controls end {lowest - card['viewport'][1]:.0f} px below the "
            f"window when the card's top is under the header")
    else:
        if len(panels) > 1:
            assert all(b["top"] >= a["bottom"] - 1 for a, b in zip(panels, panels[1:])), (
                f"{where}: the panels are not stacked on a phone")
        small = [(control["name"], round(control["width"]), round(control["height"]))
                 for control in card["controls"]
                 if control["width"] < MIN_TARGET or control["height"] < MIN_TARGET]
        assert not small, f"{where}: touch targets below {MIN_TARGET} px: {small}"


def assert_guides(card, state, where):
    """The card opens with "Try this:", the prompt and the state it starts in."""
    assert card["prompt"].startswith("Try this:"), f"{where}: {card['prompt']!r}"
    assert state["prompt"] in card["prompt"] and state["start"] in card["prompt"], where
    assert state["start"].startswith("It starts"), f"{where}: {state['start']!r}"


def assert_readable(card, where):
    """Every piece of the card's text, and the canvases' labels, at MIN_CONTRAST or more."""
    assert card["texts"], f"{where}: no text found"
    low = [(text["tag"], text["text"], round(text["ratio"], 2)) for text in card["texts"]
           if text["ratio"] < MIN_CONTRAST]
    assert not low, f"{where}: text below {MIN_CONTRAST}:1 contrast: {low}"
    assert card["canvasContrast"] >= MIN_CONTRAST, f"{where}: canvas labels"
    assert card["paperIsCard"], f"{where}: the canvases are not drawn on the card's colour"


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
@pytest.mark.parametrize("screen", list(SCREENS))
def test_explorables_fit_guide_and_read_well(site, visit, screen, color_scheme):
    """At 1280 x 800 each explorable's panels sit side by side and its controls are in
    view with them; at 390 x 844 they stack, with touch targets of 24 px or more; nothing
    overflows the content column; each card opens with its prompt and its start; all
    text has 4.5:1 contrast in the light and the dark theme (the book's, set from the
    reader's system here, and JupyterLab's dark theme, whose attribute is set by hand);
    no console errors. A screenshot of each card goes to _build/screenshots."""
    html, base = site
    found = explorable_pages(html)
    assert found, "no explorables on this site"
    folder = screenshot_folder(html)
    for path, views in found.items():
        page = open_explorables(visit, base, path, len(views), screen, color_scheme)
        theme = page.page.evaluate("document.documentElement.dataset.theme")
        assert theme == color_scheme, f"{path}: the theme is {theme!r}"
        cards = page.page.evaluate(CARDS_JS)
        assert len(cards) == len(views)
        for index, (card, (_, state)) in enumerate(zip(cards, views)):
            where = f"{path} #{index} ({card['kind']}, {screen}, {color_scheme})"
            assert_fits(card, screen, where)
            assert_guides(card, state, where)
            assert_readable(card, where)
            page.page.evaluate(MARK_STUCK_JS)
            page.page.locator("[data-toyviz-explorable]").nth(index).screenshot(
                path=folder / f"{Path(path).stem}-{index}-{screen}-{color_scheme}.png",
                style=SCREENSHOT_STYLE)
        if color_scheme == "light":  # JupyterLab's dark theme marks the body instead
            page.page.evaluate("document.body.dataset.jpThemeLight = 'false'")
            page.page.wait_for_function("""() => Array.from(document.querySelectorAll(
                '[data-toyviz-explorable]')).every((root) =>
                    root.toyvizExplorable.palette.paper
                    === getComputedStyle(root).getPropertyValue('--tv-paper').trim()
                    && root.toyvizExplorable.palette.paper !== '#ffffff')""")
            for index, card in enumerate(page.page.evaluate(CARDS_JS)):
                assert_readable(card, f"{path} #{index} (JupyterLab dark, {screen})")
        assert page.unexpected_errors() == [], f"{path}: console errors"
        page.close()


# Whether each marked cell [row from the bottom, column] of an r x r grid has a pure black
# pixel (a colour no colour map here has) within a pixel of its square, on each panel.
OUTLINED_JS = """([index, r, cells]) => {
  const root = document.querySelectorAll('[data-toyviz-explorable]')[index];
  return Array.from(root.querySelectorAll('canvas[data-size]'), (canvas) => {
    const ratio = canvas.width / parseFloat(canvas.style.width);
    const [left, top, size] = ['left', 'top', 'size'].map((key) => Number(canvas.dataset[key]));
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    return cells.map(([row, column]) => {
      const x0 = Math.floor((left + column * size / r - 1) * ratio);
      const x1 = Math.ceil((left + (column + 1) * size / r + 1) * ratio);
      const y0 = Math.floor((top + (r - 1 - row) * size / r - 1) * ratio);
      const y1 = Math.ceil((top + (r - row) * size / r + 1) * ratio);
      for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) {
        const k = (y * canvas.width + x) * 4;
        if (data[k] === 0 && data[k + 1] === 0 && data[k + 2] === 0) return true;
      }
      return false;
    });
  });
}"""


def test_marked_nodes_and_cells_are_named_not_only_coloured(site, visit):
    """Marked nodes carry a ◆ after their toggle and are described by a legend line that
    names what they are; marked cells are outlined (black outside, white inside) on every
    panel, and a legend line and each canvas's description name them."""
    html, base = site
    checked = 0
    for path, views in explorable_pages(html).items():
        page = open_explorables(visit, base, path, len(views), "laptop")
        for index, (_, state) in enumerate(views):
            root = page.page.locator("[data-toyviz-explorable]").nth(index)
            label = state["mark_label"]
            if state["kind"] == "node-toggle-heatmap" and any(state["marked_nodes"]):
                for node, marked in enumerate(state["marked_nodes"]):
                    box = root.get_by_role("checkbox", name=f"node {node}", exact=True)
                    text = box.evaluate("(box) => box.closest('label').textContent")
                    assert (MARK in text) == bool(marked), f"{path}: node {node}: {text!r}"
                    described = box.evaluate("""(box) => box.getAttribute('aria-describedby')
                        && document.getElementById(box.getAttribute('aria-describedby'))
                               .textContent""")
                    if marked:
                        assert described and label in described, f"{path}: node {node}"
                        assert f"{node}" in described
                    else:
                        assert not described
                checked += 1
            elif state["kind"] == "grid-picker" and state["marked_cells"]:
                legend = root.locator(".tv-legend")
                assert legend.count() == 1 and label in legend.inner_text()
                outlined = page.page.evaluate(OUTLINED_JS, [index, state["resolution"],
                                                             state["marked_cells"]])
                for p, cells in enumerate(outlined):
                    assert all(cells), f"{path}: panel {p}: marked cells not outlined: {cells}"
                    description = root.locator("canvas[data-size]").nth(p).get_attribute(
                        "aria-label")
                    assert label in description, description
                checked += 1
        assert page.unexpected_errors() == []
        page.close()
    if html != SITE:
        assert checked == 2, "the fixture marks nodes on one explorable and cells on another"
