"""``pytest --nbval book``: the maintainers' check of the notebooks, as nbval runs them.

nbval executes each notebook in a fresh kernel and compares every code cell's outputs with
the committed ones. Byte-for-byte text fails on another CPU: OpenBLAS and oneDNN pick
kernels per CPU, floats move in their last bits, and training amplifies that. So this
file, which pytest picks up for everything under ``book/``, changes how a cell's outputs
are compared, and nothing else (no flag to type):

- **Numbers are compared by the chapter's record, within its tolerances.** The cell that
  displays the chapter's :class:`toyviz.checks.Record` is compared with
  :func:`toyviz.checks.compare`, with the seed spreads measured in ``tests/spreads/``:
  every number the prose quotes, every key table and every verdict, each within the
  tolerance of its kind. A chapter executed with another seed fails here.
- **Text is compared exactly, numbers in it as placeholders.** In every other output
  (text, HTML tables, printed lines) each number is replaced by ``#`` on both sides
  (:data:`NUMBER`), and each run of spaces by one (a printed table pads its columns to
  its numbers' widths), before nbval compares them: labels, column names, verdict words and the
  shape of every table must be the same, while the digits are the record's business.
- **What the committed outputs never hold is not compared**: stderr streams
  (TensorFlow's and Keras's notices, which :func:`toyviz.checks.execute` drops and the
  book removes) and glued values (``scripts/execute_notebook.py`` drops them; each is in
  the record, see ``tests/test_notebooks.py``).
- **The findings box is compared as a box.** A chapter's first cell shows
  :class:`toyviz.claims.FindingsBox`, which the chapter fills at its end by a display
  update; nbval does not apply display updates, so the fresh box is still waiting while
  the committed one is filled. Both are compared as "a findings box": its numbers are the
  record's, compared there.
- **Volatile outputs are skipped by tag**: a cell tagged ``nbval-ignore-output`` (a run
  time, an animation whose element ids are random) carries its reason in its metadata,
  ``nbval_reason``; ``tests/test_nbval.py`` checks that every such tag has one.

Images, widget views and the rest of what nbval skips by default stay skipped.
"""

import copy
import re
from pathlib import Path

import nbformat
from nbval.plugin import IPyNbCell

from toyviz import checks

#: A number as a cell prints it: signs (also the typographic minus), thousands
#: separators, decimals, exponents; ``nan`` and ``inf`` too.
NUMBER = re.compile(r"(?<![\w.])[-+−]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)"
                    r"(?:[eE][-+]?\d+)?(?![\w])|(?<!\w)[-+]?(?:nan|inf)(?!\w)")
#: Runs of spaces and tabs, which a table's column widths set.
SPACES = re.compile(r"[ \t]+")
#: The metadata key that says why a cell's outputs are not compared.
REASON_KEY = "nbval_reason"
#: Where the measured seed spreads of each chapter live (``scripts/measure_spread.py``).
SPREADS = Path(__file__).resolve().parent.parent / "tests" / "spreads"

_NBVAL_COMPARE = IPyNbCell.compare_outputs


def _placeholders(text):
    """``text`` with each number replaced by ``#`` and each run of spaces by one space: a
    printed table pads its columns to the width of its numbers."""
    return SPACES.sub(" ", NUMBER.sub("#", text))


def _is_findings_box(data):
    markdown = data.get("text/markdown", "")
    markdown = "".join(markdown) if isinstance(markdown, list) else markdown
    return markdown.startswith("```{glue}") and "findings" in str(data.get("text/html", ""))


def _comparable(outputs):
    """Copies of ``outputs`` without stderr streams and glued values, their text with
    numbers replaced by ``#``, and the record (if any) taken out: (outputs, record
    entries or None)."""
    kept, record = [], None
    for output in outputs:
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            continue
        if "scrapbook" in output.get("metadata", {}):
            continue
        output = copy.deepcopy(output)
        data = output.get("data", {})
        # an SVG figure is an image: its path coordinates move in their last digits on
        # another CPU (nbval's own skip list has PNG and JPEG only)
        data.pop("image/svg+xml", None)
        if _is_findings_box(data):
            output["data"] = {"text/plain": "a findings box (toyviz.claims.FindingsBox)"}
            kept.append(nbformat.from_dict(output))
            continue
        if checks.MIME_TYPE in data:
            record = checks.record_of({"cells": [{"outputs": [output]}]})
            del data[checks.MIME_TYPE]
        for key, value in data.items():
            if isinstance(value, str) and key.startswith("text/"):
                data[key] = _placeholders(value)
        if isinstance(output.get("text"), str):
            output["text"] = _placeholders(output["text"])
        kept.append(nbformat.from_dict(output))
    return kept, record


def compare_outputs(self, test, ref, skip_compare=None):
    """nbval's comparison, after :func:`_comparable`, and the record by
    :func:`toyviz.checks.compare`."""
    test, fresh = _comparable(test)
    ref, committed = _comparable(ref)
    if (fresh is None) != (committed is None):
        self.comparison_traceback = [
            "the record is displayed by only one of the committed and the fresh outputs"]
        return False
    if committed is not None:
        spreads, drifts = checks.load_spreads(SPREADS / f"{Path(self.fspath).stem}.json",
                                              missing_ok=True)
        failures = checks.compare(committed, fresh, spreads, drifts)
        if failures:
            self.comparison_traceback = [
                f"{len(failures)} recorded value(s) moved beyond their tolerances:",
                *(f"  {line}" for line in failures)]
            return False
    return _NBVAL_COMPARE(self, test, ref, skip_compare)


IPyNbCell.compare_outputs = compare_outputs
