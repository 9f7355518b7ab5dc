"""Measure built book pages as a reader sees them, in Chromium at 1280x800: the page's
height in screens, and the shares of that height taken by visible code, printed tables,
figures and explorables, and prose; whether the page opens with its findings box; visible
verification code; raw MyST, TeX or template text.

    .venv/bin/python scripts/measure_pages.py _build/html/book/node_removal.html [...]

Prints one line per page, then one JSON line with every figure. ``tests/test_reading.py``
holds the built chapters to bounds on the same measurements (:func:`measure`).
"""

import argparse
import functools
import http.server
import json
import os
import re
import threading
from pathlib import Path

WIDTH, HEIGHT = 1280, 800
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

#: Words of the verification plumbing that no visible code may contain.
BOOKKEEPING = ("keep(", "record.", "claims.", "checks.", "glue_run_stats", "watch_memory",
               "FindingsBox", "assert ")

#: Text that shows a role, TeX or a template was not rendered.
RAW = (r"{eval}", "{glue", "{ref}", "{doc}", "{numref}", r"\frac", "2^{", "$$", "{:", "}`",
       "by at most 0.0000", "layer(s)", "nan%")
#: Markdown emphasis shown as text: an {eval} result or an output is text, not Markdown.
EMPHASIS = re.compile(r"(?<![\w*])\*{1,2}[A-Za-z][^*\n]{0,60}[A-Za-z.]\*{1,2}(?![\w*])")

# Measured in the page: the height of the article's parts, by kind. Code is what a reader
# sees of a cell's input (a folded cell shows only its "Show code" line). Raw text is
# looked for in the prose and outputs, not in code.
_SCRIPT = """() => {
  const article = document.querySelector('article.bd-article') || document.body;
  const visible = (el) => { const r = el.getBoundingClientRect();
    return r.height > 0 && getComputedStyle(el).visibility !== 'hidden'; };
  const sum = (els) => els.filter(visible).reduce((s, el) => s + el.getBoundingClientRect().height, 0);
  const all = (sel) => Array.from(article.querySelectorAll(sel));
  const inputs = all('div.cell div.cell_input').filter((el) => !el.closest('details:not([open])'));
  const code = sum(inputs);
  const folded = (el) => el.closest('details:not([open])');   // in a closed fold: not seen
  const tables = sum(all('div.cell_output table, article table')
                     .filter((t) => !t.parentElement.closest('table') && !folded(t)));
  const figures = sum(all('div.cell_output img, div.cell_output svg, div.cell_output .widget-subarea, '
                          + 'div.cell_output .jupyter-widgets, figure img, div.cell_output canvas')
                      .filter((el) => !el.parentElement.closest('.jupyter-widgets') && !folded(el)));
  const visibleCode = inputs.filter(visible).map((el) => el.innerText).join('\\n');
  const findings = article.querySelector('.findings');
  const h1 = article.querySelector('h1');
  let findingsFirst = false;
  if (findings && h1) {
    const top = findings.getBoundingClientRect().top, titleTop = h1.getBoundingClientRect().top;
    const between = all('div.cell_output, p, figure, table, div.cell').filter((el) => {
      const t = el.getBoundingClientRect().top; return visible(el) && t > titleTop + 1 && t < top - 1
        && !el.contains(findings) && !findings.contains(el); });
    findingsFirst = top > titleTop && between.length <= 2;
  }
  return {height: document.documentElement.scrollHeight, article: article.getBoundingClientRect().height,
          code, tables, figures, visibleCode, text: (() => {
            const copy = article.cloneNode(true);   // the prose and outputs, not the code
            copy.querySelectorAll('div.cell_input, div.highlight, pre').forEach((el) => el.remove());
            return copy.innerText; })(),
          findings: !!findings, findingsFirst, lastHeading: (all('h2').pop() || {}).innerText || ''};
}"""


_DRAWN = """(count) => {
  const roots = Array.from(document.querySelectorAll('[data-toyviz-explorable]'));
  return roots.length >= count && roots.every((root) => root.hasAttribute('data-redraws'));
}"""


def explorables(html_file):
    """How many toyviz explorables a built page embeds (anywidget views with a kind)."""
    text = Path(html_file).read_text()
    states = re.findall(r'<script type="application/vnd\.jupyter\.widget-state\+json">'
                        r'(.*?)</script>', text, flags=re.S)
    if not states:
        return 0
    models = json.loads(states[0])["state"]
    views = [json.loads(view)["model_id"] for view in re.findall(
        r'<script type="application/vnd\.jupyter\.widget-view\+json">(.*?)</script>',
        text, flags=re.S)]
    return sum(1 for model_id in views
               if models.get(model_id, {}).get("model_module") == "anywidget"
               and models[model_id]["state"].get("kind"))


def serve(folder):
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def measure(page, url, explorables=0):
    """The measurements of one page (a Playwright page at 1280x800), as a dict, once its
    ``explorables`` (see :func:`explorables`) have drawn."""
    page.goto(url, wait_until="load")
    # the explorables draw after the widget manager has loaded: wait until every view the
    # page embeds has drawn once (as the browser tests do), then for the fonts
    page.wait_for_function(_DRAWN, arg=explorables, timeout=60_000)
    page.evaluate("() => document.fonts.ready.then(() => true)")
    page.wait_for_timeout(200)
    found = page.evaluate(_SCRIPT)
    height = found["article"] or found["height"]
    text = found.pop("text")
    visible_code = found.pop("visibleCode")
    return {
        "screens": round(found["height"] / HEIGHT, 2),
        "code_share": round(found["code"] / height, 3),
        "table_share": round(found["tables"] / height, 3),
        "figure_share": round(found["figures"] / height, 3),
        "findings": found["findings"], "findings_first": found["findingsFirst"],
        "bookkeeping_visible": sorted({word for word in BOOKKEEPING if word in visible_code}),
        "raw_text": sorted({raw for raw in RAW if raw in text} | set(EMPHASIS.findall(text))),
        "last_heading": found["lastHeading"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="+", type=Path)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    pages = [path.resolve() for path in args.pages]
    root = Path(os.path.commonpath([path.parent for path in pages]))
    while not (root / "_static").is_dir() and root != root.parent:
        root = root.parent
    server = serve(root)
    results = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            for path in pages:
                url = f"http://127.0.0.1:{server.server_address[1]}/{path.relative_to(root)}"
                results[path.stem] = measure(page, url, explorables(path))
                found = results[path.stem]
                print(f"{path.stem}: {found['screens']:.1f} screens, code {found['code_share']:.0%}, "
                      f"tables {found['table_share']:.0%}, figures {found['figure_share']:.0%}, "
                      f"findings first: {found['findings_first']}, bookkeeping visible: "
                      f"{found['bookkeeping_visible'] or 'none'}, raw: {found['raw_text'] or 'none'}")
            browser.close()
    finally:
        server.shutdown()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
