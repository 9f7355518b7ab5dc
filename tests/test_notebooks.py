"""A fresh execution of each book notebook agrees with its committed outputs: every
recorded number, table cell and verdict within the tolerance the chapter gives it (see
``toyviz.checks``), and every figure, table, widget and animation still there. Nothing is
compared byte for byte, so a CPU that rounds differently passes and a changed result fails.

``make test`` passes ``--executed-notebooks _build/jupyter_execute``: the executions the
book build has just done, so each chapter runs once per ``make test``. Without the option,
each notebook is executed here.
"""

import json
from pathlib import Path

import nbformat
import pytest

from toyviz import checks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


@pytest.fixture(scope="module")
def executed_folder(request):
    folder = request.config.getoption("--executed-notebooks")
    return None if folder is None else Path(folder).resolve()


PREFIX = "application/papermill.record/"


def fresh_execution(path, folder):
    """The build's execution of ``path`` and the values it glued, when a folder is given,
    else a new execution."""
    if folder is None:
        notebook = checks.execute(path)
        return notebook, glued(notebook)
    executed = folder / path.relative_to(ROOT)
    if not executed.is_file():
        pytest.fail(f"{executed} does not exist: build the book first (make book), or run "
                    "without --executed-notebooks to execute the notebooks here")
    notebook = nbformat.read(executed, as_version=4)
    names = glued(notebook)
    # myst-nb moves glued values out of the executed notebook, into a file beside it
    sidecar = executed.with_suffix(".glue.json")
    if sidecar.is_file():
        names.update({name: sorted(mime.removeprefix(PREFIX) for mime in output["data"])
                      for name, output in json.loads(sidecar.read_text()).items()})
    return notebook, names


def glued(notebook):
    """Glue name -> the MIME types of its data, for every glued value."""
    names = {}
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            scrapbook = output.get("metadata", {}).get("scrapbook")
            if scrapbook:
                names[scrapbook["name"]] = sorted(mime.removeprefix(PREFIX)
                                                  for mime in output["data"])
    return names


def output_kinds(cell):
    """What a code cell shows, without the content: each output's type and MIME types.
    Streams are left out (their text is rounding-dependent), and so are glued values
    (each must be in the record, see ``glued``)."""
    kinds = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream" or output.get("metadata", {}).get("scrapbook"):
            continue
        if output["output_type"] == "error":
            kinds.append(("error", output.get("ename")))
            continue
        kinds.append((output["output_type"], tuple(sorted(output.get("data", {})))))
    return kinds


def load_spreads(path):
    """The measured seed standard deviation and kernel drift of each value of a chapter."""
    return checks.load_spreads(ROOT / "tests" / "spreads" / f"{path.stem}.json",
                               missing_ok=True)


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_fresh_execution_matches_committed_outputs(path, executed_folder):
    committed = nbformat.read(path, as_version=4)
    fresh, fresh_glued = fresh_execution(path, executed_folder)
    where = path.relative_to(ROOT)
    stale = [index for index, (a, b) in enumerate(zip(committed.cells, fresh.cells))
             if a.source != b.source]
    assert len(committed.cells) == len(fresh.cells) and not stale, (
        f"{where}: the executed notebook's cells differ from the committed one's (cells "
        f"{stale}); the build's copy is stale, or the source changed")

    failures = []
    old_record, new_record = checks.record_of(committed), checks.record_of(fresh)
    if old_record is None or new_record is None:
        failures.append("no record displayed (the chapter's last cell shows `record`); "
                        "refresh the outputs with scripts/execute_notebook.py")
    else:
        failures += checks.compare(old_record, new_record, *load_spreads(path))
        unrecorded = sorted(set(fresh_glued) - set(new_record))
        if unrecorded:
            failures.append(f"glued but not recorded with a tolerance: {', '.join(unrecorded)}")
    for index, (a, b) in enumerate(zip(committed.cells, fresh.cells)):
        if a.cell_type == "code" and output_kinds(a) != output_kinds(b):
            failures.append(f"cell {index}: shows {output_kinds(b)}, committed "
                            f"{output_kinds(a)}")
    assert not failures, (f"{where}: {len(failures)} difference(s) from the committed "
                          "outputs:\n  " + "\n  ".join(failures))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_seed_tolerance_has_a_measured_spread(path):
    """A Seeds tolerance without a measured spread would fail every comparison; this says
    why, before the slow test does."""
    record = checks.record_of(nbformat.read(path, as_version=4))
    spreads, _ = load_spreads(path)
    unmeasured = [key for key, value, tolerance, _ in checks.values_of(record or {})
                  if tolerance["kind"] == "seeds" and isinstance(value, (int, float))
                  and not isinstance(value, bool) and spreads.get(key) is None]
    assert not unmeasured, (f"{path.name}: no measured seed spread for {unmeasured}; run "
                            f"scripts/measure_spread.py {path.relative_to(ROOT)}")
