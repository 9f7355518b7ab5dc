"""The chapters as a Binder reader gets them: a live JupyterLab (with jupyterlab-myst, from
the project's environment) on 127.0.0.1, each chapter opened at the Binder link's path in
headless Chromium, beside another process that holds TensorFlow's libraries (as on a
maintainer's laptop with a notebook open: see ``tensorflow_holder``).

The chapters with controls to try (:data:`LIVE`) run from top to bottom: no cell fails; the
prose shows numbers, not roles or unevaluated expressions; every figure is shown; in
chapter 1 a click on a node toggle reaches the kernel's ``explorer.mask``, in chapter 2 an
arrow key on a select changes the rule and keeps the focus; and the kernel plus the server
stay within the memory budget in anonymous memory, the part the system cannot reclaim (see
MemoryWatch). Resident memory is recorded beside it, not bounded: it counts library pages
that the system can drop, and pages shared with other processes.

The other chapters are not executed a second time: the book build has executed them (with
raise-on-error), and ``tests/test_notebooks.py`` compares that execution with the committed
notebooks. Here they are opened as a reader first sees them, and must render their prose
numbers and figures; their memory is the build kernel's anonymous peak (its record's
``peak_anonymous_mb``, see ``toyviz.reproducibility.watch_memory``) plus the server's
highest anonymous memory seen in this run. Without ``--executed-notebooks`` every chapter
runs live.

Screenshots of each chapter's first quoted numbers and first figure go to
``_build/jupyterlab/``, with the memory figures (``memory.json``). The server is stopped
by its process id at the end.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import nbformat
import psutil
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from browser_harness import missing
from toyviz import checks, reproducibility

pytestmark = [pytest.mark.browser, pytest.mark.jupyterlab]

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "_build" / "jupyterlab"
CHAPTERS = ["node_removal", "relevance", "own_network", "ledger", "right_reasons",
            "pruning"]
#: Chapters run from top to bottom here: those with controls to try, and the short ones.
LIVE = {"node_removal", "relevance", "own_network", "ledger"}
#: Pages without figures
WITHOUT_FIGURES = {"ledger"}
#: What a reader must never see as text: a role or expression left unrendered
RAW = ("{glue", "{eval", "{ref}", "record.format(")
#: Words of the verification plumbing: a code cell holding them is collapsed (issue 22).
BOOKKEEPING = ("keep(", "record.", "claims.", "glue_run_stats", "watch_memory", "assert ")
#: The pages that open with a findings box (claims.FindingsBox).
FINDINGS = {"node_removal", "relevance", "right_reasons", "pruning", "own_network"}
#: The kernel plus the Jupyter server, at their peak, in anonymous memory (see MemoryWatch),
#: MiB: mybinder.org guarantees 1 GB, and the rest is library code the system can drop.
MEMORY_BUDGET_MB = 700
RUN_ALL_TIMEOUT_MS = 300_000


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def tensorflow_holder():
    """Another process that has imported TensorFlow and keeps it, for the whole module
    (``scripts/hold_tensorflow.py``): a kernel cannot hand back library pages that another
    process maps, so the chapters' resident memory is higher beside it, while their
    anonymous memory, which the budget bounds, is not. A maintainer's laptop with a
    notebook open is like this."""
    holder = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "hold_tensorflow.py")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if holder.stdout.readline().strip() != "holding":
        holder.kill()
        pytest.fail("the process meant to hold TensorFlow could not import it")
    yield holder.pid
    holder.stdin.close()
    try:
        holder.wait(timeout=20)
    except subprocess.TimeoutExpired:
        holder.kill()


@pytest.fixture(scope="module")
def built(request):
    """The book build's executions (``--executed-notebooks``), or None: then every
    chapter runs live."""
    folder = request.config.getoption("--executed-notebooks")
    return None if folder is None else Path(folder).resolve()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(base URL, token, server process) of a JupyterLab serving the repository.

    Its notebooks render every cell, not only those in view (JupyterLab's default
    windowing), so that the whole chapter can be checked without scrolling."""
    if "tensorflow" in sys.modules:
        pytest.fail("this test process has imported TensorFlow, so its library pages are "
                    "shared with the chapters' kernels, and a kernel cannot hand them back "
                    "(toyviz.reproducibility.import_tensorflow): the memory measured "
                    "would not be Binder's. Run this file on its own: "
                    "pytest tests/test_jupyterlab.py")
    settings = tmp_path_factory.mktemp("lab-settings")
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # A run that outlasts the autosave interval would write the kernel's outputs into the
    # notebook; the committed outputs are what the checks compare with. So the server
    # serves a copy of book/, and never saves.
    docmanager = settings / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings"
    docmanager.parent.mkdir(parents=True)
    docmanager.write_text(json.dumps({"autosave": False}))
    served = tmp_path_factory.mktemp("binder")
    shutil.copytree(ROOT / "book", served / "book")
    committed = {path: path.read_bytes() for path in (ROOT / "book").glob("*.ipynb")}
    jupyter = Path(sys.executable).parent / "jupyter-lab"
    if not jupyter.exists():
        missing("JupyterLab is not installed: run `make test`, which installs the lock")
    port, token = free_port(), secrets.token_hex(16)
    log = (ROOT / "_build").joinpath("jupyterlab-server.log")
    log.parent.mkdir(exist_ok=True)
    server = subprocess.Popen(
        [str(jupyter), "--no-browser", "--expose-app-in-browser",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={served}",
         "--LabApp.news_url=None", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly",
         "--ServerApp.open_browser=False", "--allow-root",
         f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={settings}"],
        stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=served,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start; see {log}")
            time.sleep(0.5)
    yield base, token, server
    server.send_signal(signal.SIGTERM)  # stopped by its process id
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    changed = [path.name for path, content in committed.items() if path.read_bytes() != content]
    assert not changed, f"the live JupyterLab test changed the repository's notebooks: {changed}"


class MemoryWatch:
    """Samples the memory of the server and its kernels every 0.1 s: the sum of their
    anonymous memory (resident and not a copy of a file: heap, arrays; the system cannot
    reclaim it without swap), which the budget bounds; the sum of their resident memory
    (what mybinder.org's memory display counts), recorded; and the server's own anonymous
    memory, for the chapters that are not run here.

    Resident memory also counts TensorFlow's library code, which the system can drop, and
    pages that another process maps (the ``tensorflow_holder`` here), which no process can
    hand back: it depends on what else runs, so it is not bounded.
    """

    def __init__(self, server):
        self.process = psutil.Process(server.pid)
        self.peak_mb = self.peak_resident_mb = self.server_peak_mb = 0.0
        self.at_peak = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                processes = [self.process, *self.process.children(recursive=True)]
                sizes = {}
                for process in processes:
                    sizes[process.pid] = (" ".join(process.cmdline()[:4])[-80:],
                                          reproducibility.anonymous_mb(process),
                                          process.memory_info().rss / 2**20)
                anonymous = sum(part for _, part, _ in sizes.values())
                self.peak_resident_mb = max(self.peak_resident_mb, sum(
                    total for _, _, total in sizes.values()))
                self.server_peak_mb = max(self.server_peak_mb, sizes[self.process.pid][1])
                if anonymous > self.peak_mb:
                    self.peak_mb, self.at_peak = anonymous, sizes
            except (psutil.Error, KeyError):
                pass
            self._stop.wait(0.1)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.peak_mb


RUN_IN_KERNEL = """async (code) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = kernel.requestExecute({code, store_history: false});
  let text = "";
  future.onIOPub = (message) => {
    if (message.header.msg_type === "stream") text += message.content.text;
  };
  await future.done;
  return text;
}"""

NOTEBOOK_STATE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = [];
  for (const cell of panel.content.widgets) {
    const model = cell.model;
    const outputs = model.type === "code" ? model.outputs.toJSON() : [];
    cells.push({type: model.type, errors: outputs.filter((o) => o.output_type === "error")
                  .map((o) => `${o.ename}: ${o.evalue}`),
                figure: Boolean((model.getMetadata("mystnb") || {}).figure),
                images: cell.node.querySelectorAll(".jp-OutputArea-output img").length,
                // a folded figure (outputs_hidden) is not drawn until opened: count its images
                outputsHidden: Boolean((model.getMetadata("jupyter") || {}).outputs_hidden),
                savedImages: outputs.filter((o) => o.data && o.data["image/png"]).length,
                text: model.type === "markdown" ? cell.node.innerText : "",
                source: model.sharedModel.getSource(),
                inputHidden: Boolean(cell.inputHidden),
                sourceHidden: Boolean((model.getMetadata("jupyter") || {}).source_hidden),
                output: model.type === "code" ? (cell.node.querySelector(".jp-OutputArea")
                                                 || {innerText: ""}).innerText : ""});
  }
  return cells;
}"""


def open_and_run(page, base, token, chapter, run=True):
    """Open the chapter; with ``run``, run every cell and wait for the prose to render."""
    # reset: a fresh workspace, without the previous chapter's tab (and kernel)
    page.goto(f"{base}/lab/tree/book/{chapter}.ipynb?reset&token={token}")
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel",
        timeout=60_000)
    page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.ready")
    if run:
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    # run-all resolves when every cell has run; the MyST renderer then fills in the
    # inline expressions of each Markdown cell
    # (code may call record.format itself; only the rendered Markdown must not show it)
    unrendered = """() => [...document.querySelectorAll('.jp-MarkdownCell')]
        .map((cell) => cell.innerText).filter((text) => text.includes('record.format('))
        .map((text) => text.slice(0, 300))"""
    try:
        page.wait_for_function(f"() => ({unrendered})().length === 0", timeout=60_000)
    except PlaywrightTimeout:
        raise AssertionError(f"{chapter}: expressions still unrendered a minute after the "
                             f"run: {page.evaluate(unrendered)}") from None


def shut_down_kernels(base, token, server):
    """Shut down every kernel through the server's REST API, as a reader should before
    opening the next chapter, and wait until their processes are gone."""
    with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=10) as reply:
        kernels = json.load(reply)
    for kernel in kernels:
        request = urllib.request.Request(f"{base}/api/kernels/{kernel['id']}?token={token}",
                                         method="DELETE")
        urllib.request.urlopen(request, timeout=30).close()
    deadline = time.monotonic() + 30
    while psutil.Process(server.pid).children(recursive=True):
        assert time.monotonic() < deadline, "a kernel outlived its shutdown"
        time.sleep(0.2)


def kernel_peak_mb(page):
    code = ("import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss"
            " / 1024)")
    return float(page.evaluate(RUN_IN_KERNEL, code))


@pytest.fixture(scope="module")
def results():
    """Chapter -> its memory figures; ``"server"``: the server's highest anonymous memory
    seen so far. Written to ``_build/jupyterlab/memory.json`` at the end."""
    measured = {"server": {"peak_anonymous_mb": 0.0}}
    yield measured
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "memory.json").write_text(json.dumps(measured, indent=1) + "\n")


def build_kernel_peak_mb(built, chapter):
    """The anonymous peak of the chapter's kernel in the book build, from its record."""
    executed = built / "book" / f"{chapter}.ipynb"
    if not executed.is_file():
        pytest.fail(f"{executed} does not exist: build the book first (make book), or run "
                    "without --executed-notebooks to run every chapter here")
    record = checks.record_of(nbformat.read(executed, as_version=4)) or {}
    if "peak_anonymous_mb" not in record:
        pytest.fail(f"{executed}: its record has no peak_anonymous_mb; the chapter's setup "
                    "cell must call toyviz.reproducibility.watch_memory()")
    return float(record["peak_anonymous_mb"]["value"])


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_reads_and_runs_in_jupyterlab(chapter, lab, browser, results, built,
                                              tensorflow_holder):
    base, token, server = lab
    live = built is None or chapter in LIVE
    watch = MemoryWatch(server)
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(RUN_ALL_TIMEOUT_MS)
    try:
        open_and_run(page, base, token, chapter, run=live)
        cells = page.evaluate(NOTEBOOK_STATE)
        errors = [(index, cell["errors"]) for index, cell in enumerate(cells) if cell["errors"]]
        assert not errors, f"{chapter}: cells failed: {errors}"
        raw = [(index, text[:120]) for index, cell in enumerate(cells)
               for text in (cell["text"], cell["output"]) if any(mark in text for mark in RAW)]
        assert not raw, f"{chapter}: the page shows roles instead of what they render: {raw}"
        # the story first: the bookkeeping collapsed, the findings box near the top
        shown = [(index, cell["source"][:80]) for index, cell in enumerate(cells)
                 if cell["type"] == "code" and not cell["inputHidden"]
                 and any(word in cell["source"] for word in BOOKKEEPING)]
        assert not shown, f"{chapter}: bookkeeping cells not collapsed: {shown}"
        uncollapsed = [index for index, cell in enumerate(cells)
                       if cell["sourceHidden"] and not cell["inputHidden"]]
        assert not uncollapsed, f"{chapter}: source_hidden cells shown open: {uncollapsed}"
        if chapter in FINDINGS:
            assert any("What we found" in cell["output"] for cell in cells[:4]), \
                f"{chapter}: no findings box among the first cells"
        missing_figures = [index for index, cell in enumerate(cells)
                           if cell["figure"] and cell["images"] == 0
                           and not (cell["outputsHidden"] and cell["savedImages"] > 0)]
        assert chapter in WITHOUT_FIGURES or any(cell["figure"] for cell in cells), \
            f"{chapter}: no figure cells"
        assert not missing_figures, f"{chapter}: figure cells without a figure: {missing_figures}"

        if chapter == "node_removal" and live:
            before = page.evaluate(RUN_IN_KERNEL, "print(list(map(int, explorer.mask)))")
            toggle = page.locator('input[aria-label="node 3"]')
            toggle.scroll_into_view_if_needed()
            toggle.click()
            page.wait_for_timeout(500)
            after = page.evaluate(RUN_IN_KERNEL, "print(list(map(int, explorer.mask)))")
            assert json.loads(before)[3] == 1 and json.loads(after)[3] == 0, (before, after)
        if chapter == "relevance" and live:
            select = page.locator('select[data-control="nonlinearity"]')
            select.scroll_into_view_if_needed()
            select.focus()
            before = select.input_value()
            page.keyboard.press("ArrowDown")
            page.wait_for_timeout(300)
            assert select.input_value() != before, "ArrowDown did not change the rule"
            assert page.evaluate("() => document.activeElement.dataset.control") == \
                "nonlinearity", "ArrowDown moved the focus away from the select"

        kernel_mb = kernel_peak_mb(page) if live else None
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shots = (("prose", "(cell) => cell.model.type === 'markdown'"
                           " && (cell.model.getMetadata('user_expressions') || []).length > 0"),
                 ("figure", "(cell) => (cell.model.getMetadata('mystnb') || {}).figure"))
        if chapter in WITHOUT_FIGURES:   # the ledger: its first table of linked claims
            shots = (("claims", "(cell) => cell.node.querySelector('.jp-OutputArea a')"),)
        for name, first in shots:
            page.evaluate(f"""() => {{
              const cells = window.jupyterapp.shell.currentWidget.content.widgets;
              cells.find({first}).node.scrollIntoView();
            }}""")
            page.wait_for_timeout(300)
            page.screenshot(path=str(SCREENSHOTS / f"{chapter}-{name}.png"))
    finally:
        watch.stop()
        context.close()
        shut_down_kernels(base, token, server)
    seen = results["server"]
    seen["peak_anonymous_mb"] = round(max(seen["peak_anonymous_mb"], watch.server_peak_mb), 1)
    figures = {"run_here": live,
               "kernel_plus_server_peak_resident_mb": round(watch.peak_resident_mb, 1),
               "other_processes_holding_tensorflow": len(
                   reproducibility.tensorflow_holders())}
    if live:
        anonymous_mb = watch.peak_mb
        figures["kernel_peak_resident_mb"] = round(kernel_mb, 1)
        where = (f"kernel plus server peaked at {anonymous_mb:.0f} MiB of anonymous memory "
                 f"(resident: {watch.peak_resident_mb:.0f} MiB); processes at the peak "
                 f"(command, anonymous MiB, resident MiB): {watch.at_peak}")
    else:
        kernel_mb = build_kernel_peak_mb(built, chapter)
        anonymous_mb = kernel_mb + seen["peak_anonymous_mb"]
        figures["build_kernel_peak_anonymous_mb"] = round(kernel_mb, 1)
        where = (f"the build's kernel peaked at {kernel_mb:.0f} MiB of anonymous memory, "
                 f"and the server at {seen['peak_anonymous_mb']:.0f} MiB in this run")
    figures["kernel_plus_server_peak_anonymous_mb"] = round(anonymous_mb, 1)
    results[chapter] = figures
    assert anonymous_mb <= MEMORY_BUDGET_MB, (
        f"{chapter}: {anonymous_mb:.0f} MiB of anonymous memory, over the "
        f"{MEMORY_BUDGET_MB} MiB budget: {where}")
