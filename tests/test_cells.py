"""Every code cell of the book is one of three kinds, and says so the same way to the book
(tags, read by myst-nb) and to JupyterLab (``jupyter`` cell metadata), issue 22:

- **story**: what a reader would run or change (the data, the model, the seed, the key
  computation): open in both, no tags that hide it, and no verification bookkeeping;
- **folded**: code that only draws a figure or formats a table: tag ``hide-input`` (a
  "Show code" button on the site), collapsed in JupyterLab (``source_hidden``);
- **bookkeeping**: setup plumbing, records, claims and checks: tag ``remove-input`` (its
  code never shows on the site), collapsed in JupyterLab; with ``remove-output`` also its
  outputs, collapsed in JupyterLab too (``outputs_hidden``).

Any kind may fold its outputs (tag ``hide-output``, a long table a reader opens when they
want it), collapsed in JupyterLab too (``outputs_hidden``).
"""

from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))

#: What only bookkeeping cells may hold.
BOOKKEEPING = ("keep(", "record.", "claims.", "checks.", "assert ", "glue_run_stats",
               "watch_memory", "FindingsBox")
#: Tags that hide a cell's input, and the kinds they make.
HIDING = {"hide-input": "folded", "remove-input": "bookkeeping"}


def kind(cell):
    """The cell's kind by its tags, or a list of problems when tags and metadata disagree."""
    tags = set(cell.metadata.get("tags", []))
    jupyter = cell.metadata.get("jupyter", {})
    hiding = sorted(tags & set(HIDING))
    problems = []
    if "remove-cell" in tags or "hide-cell" in tags:
        problems.append(f"tags {sorted(tags & {'remove-cell', 'hide-cell'})}: use "
                        "hide-input or remove-input")
    if len(hiding) > 1:
        problems.append(f"tags {hiding} name two kinds")
    found = HIDING[hiding[0]] if hiding else "story"
    if bool(jupyter.get("source_hidden")) != (found != "story"):
        problems.append(f"a {found} cell with jupyter.source_hidden = "
                        f"{jupyter.get('source_hidden', False)}")
    outputs_hidden = bool(tags & {"remove-output", "hide-output"})
    if bool(jupyter.get("outputs_hidden")) != outputs_hidden:
        problems.append(f"tags {sorted(tags & {'remove-output', 'hide-output'})} but "
                        f"jupyter.outputs_hidden = {jupyter.get('outputs_hidden', False)}")
    if {"remove-output", "hide-output"} <= tags:
        problems.append("both remove-output and hide-output")
    if "remove-output" in tags and found != "bookkeeping":
        problems.append("remove-output on a cell whose input shows")
    if found != "bookkeeping":
        words = [word for word in BOOKKEEPING if word in cell.source]
        if words:
            problems.append(f"a {found} cell holds bookkeeping ({', '.join(words)})")
    return problems or found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_every_code_cell_is_story_folded_or_bookkeeping(path):
    notebook = nbformat.read(path, as_version=4)
    problems = [(index, cell.source.splitlines()[0][:60] if cell.source else "", found)
                for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"
                for found in [kind(cell)] if isinstance(found, list)]
    assert not problems, "\n".join(f"cell {index} ({first!r}): {'; '.join(found)}"
                                   for index, first, found in problems)


def test_the_kinds_are_told_apart():
    story = nbformat.v4.new_code_cell("model = toyviz.models.circle()")
    assert kind(story) == "story"
    folded = nbformat.v4.new_code_cell("plots.show(figure)",
                                       metadata={"tags": ["hide-input"],
                                                 "jupyter": {"source_hidden": True}})
    assert kind(folded) == "folded"
    kept = nbformat.v4.new_code_cell("keep('x', 1.0)", metadata={
        "tags": ["remove-input", "remove-output"],
        "jupyter": {"source_hidden": True, "outputs_hidden": True}})
    assert kind(kept) == "bookkeeping"
    assert kind(nbformat.v4.new_code_cell("keep('x', 1.0)")) == [
        "a story cell holds bookkeeping (keep()"]
    assert kind(nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["hide-input"]})) == [
        "a folded cell with jupyter.source_hidden = False"]
