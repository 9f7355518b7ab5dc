"""``pytest --nbval book``, the maintainers' check (``book/conftest.py``): its number
placeholders, the tags that skip volatile outputs, and, on a small notebook of its own run
by nbval in a subprocess, that it passes an unchanged notebook and fails one executed with
another seed."""

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from toyviz import checks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


def _conftest():
    spec = importlib.util.spec_from_file_location("book_conftest", ROOT / "book" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NUMBER = _conftest().NUMBER


@pytest.mark.parametrize("text, expected", [
    ("1,048,576 masks in 1.7 s", "# masks in # s"),
    ("<td>-0.1181</td><td>3.3e+03</td>", "<td>#</td><td>#</td>"),
    ("λ = 10, p = .05, −2.5e-07", "λ = #, p = #, #"),
    ("all 2^20 subnetworks, 97 % of them", "all #^# subnetworks, # % of them"),
    ("nan and inf", "# and #"),
])
def test_numbers_become_placeholders(text, expected):
    assert NUMBER.sub("#", text) == expected


def test_column_padding_is_not_compared():
    placeholders = _conftest()._placeholders
    assert placeholders("  a   0.131  -0.02\n") == placeholders("  a  0.1305   0.03\n")
    assert placeholders("a 1\nb 2") != placeholders("a 1 b 2")


def test_an_svg_figure_is_compared_as_an_image_not_as_text():
    comparable = _conftest()._comparable

    def figure(path):
        return nbformat.from_dict({"output_type": "display_data", "metadata": {}, "data": {
            "image/svg+xml": f'<svg><path d="{path}"/></svg>', "text/plain": "<Figure>"}})

    assert comparable([figure("M 0.1 0.2")]) == comparable([figure("M 0.1000001 0.2")])
    assert "image/svg+xml" not in comparable([figure("M 0 0")])[0][0]["data"]


@pytest.mark.parametrize("text", ["dense_1", "_anim_img8ecf7d2e", "x0 and x1", "node14",
                                  "infinity", "nancy"])
def test_names_keep_their_digits(text):
    assert NUMBER.sub("#", text) == text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_skipped_output_says_why(path):
    notebook = nbformat.read(path, as_version=4)
    unexplained = [index for index, cell in enumerate(notebook.cells)
                   if "nbval-ignore-output" in cell.metadata.get("tags", [])
                   and not str(cell.metadata.get("nbval_reason", "")).strip()]
    stray = [index for index, cell in enumerate(notebook.cells)
             if cell.metadata.get("nbval_reason")
             and "nbval-ignore-output" not in cell.metadata.get("tags", [])]
    assert not unexplained, (f"{path.name}: cells {unexplained} skip their outputs in nbval "
                             "without an nbval_reason in their metadata")
    assert not stray, f"{path.name}: cells {stray} give an nbval_reason but no tag"


SOURCE = textwrap.dedent("""\
    import numpy as np
    from toyviz import checks

    SEED = {seed}
    record = checks.Record()
    value = float(np.random.default_rng(SEED).normal())
    record.number("value", value, checks.Relative(1e-6))
    print(f"value: {{value:.4f}}, label: fixed")
    """)


def nbval(folder):
    return subprocess.run([sys.executable, "-m", "pytest", "--nbval", "-p",
                           "no:cacheprovider", "-q", "book"], cwd=folder,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def small_book(tmp_path_factory):
    """A folder laid out like the repository: ``book/conftest.py`` (the real one) and a
    notebook executed at seed 1, whose committed outputs nbval compares with."""
    folder = tmp_path_factory.mktemp("nbval")
    (folder / "book").mkdir()
    (folder / "book" / "conftest.py").write_text((ROOT / "book" / "conftest.py").read_text())
    (folder / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(SOURCE.format(seed=1)),
                      nbformat.v4.new_code_cell("record")]
    path = folder / "book" / "small.ipynb"
    nbformat.write(notebook, path)
    nbformat.write(checks.execute(path), path)
    return folder


def test_nbval_passes_the_notebook_as_committed(small_book):
    run = nbval(small_book)
    assert run.returncode == 0, run.stdout[-3000:]


def test_nbval_fails_the_notebook_executed_with_another_seed(small_book, tmp_path):
    path = small_book / "book" / "small.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[0].source = SOURCE.format(seed=2)
    changed = tmp_path / "book"
    changed.mkdir()
    (changed / "conftest.py").write_text((small_book / "book" / "conftest.py").read_text())
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    nbformat.write(notebook, changed / "small.ipynb")
    run = nbval(tmp_path)
    assert run.returncode == 1, run.stdout[-3000:]
    assert "value: committed" in run.stdout and "moved beyond their tolerances" in run.stdout, \
        run.stdout[-3000:]


def test_nbval_fails_changed_text(small_book, tmp_path):
    path = small_book / "book" / "small.ipynb"
    notebook = nbformat.read(path, as_version=4)
    outputs = notebook.cells[0].outputs
    outputs[0]["text"] = outputs[0]["text"].replace("fixed", "moved")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "conftest.py").write_text(
        (small_book / "book" / "conftest.py").read_text())
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    nbformat.write(notebook, tmp_path / "book" / "small.ipynb")
    run = nbval(tmp_path)
    assert run.returncode == 1 and "Cell 0" in run.stdout, run.stdout[-3000:]
