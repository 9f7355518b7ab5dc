"""The numbers a chapter stands on, each with a tolerance that fits its kind, and the
comparison of one execution of a chapter against another.

A chapter keeps one :class:`Record`. Every number its prose quotes, every key table and
every verdict goes into it, with a tolerance that says how far that value may move when the
chapter is executed again on another machine:

- :class:`Bound` for an identity or a conservation error: only "below 1e-10" matters, never
  the value itself;
- :class:`Relative` for deterministic arithmetic that no training or sampling feeds;
- :class:`Seeds` for a result of training or sampling: the tolerance is a share of the
  value's standard deviation across seeds, measured by ``scripts/measure_spread.py`` and
  committed in ``tests/spreads/`` next to the values it was measured on;
- :class:`Count` for a count, with an absolute slack;
- :class:`Exact` for a verdict, a label or anything else that must not move at all;
- :class:`Varies` for what is recorded but never compared, such as a timing.

The chapter's last cell displays the record. Its output holds every value with its
tolerance, so the committed notebook is the reference that ``tests/test_notebooks.py``
compares a fresh execution with: on another CPU, OpenBLAS and oneDNN round differently and
training amplifies that, so nothing is compared byte for byte.

Verdicts come from numbers through :func:`exceeds`, which refuses to decide when the number
is within a stated margin of its threshold, so that rounding cannot flip a verdict.

Introduced in the README's maintainer notes; every chapter uses it, from
:doc:`/book/node_removal` on, and the :doc:`/book/reproducibility` page shows the
versions and run times the record of each chapter carries.
"""

import json
import math
import numbers
import os
import re
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import pandas as pd

from toyviz._checks import describe, check_flag, check_float, check_int

#: The MIME type of a record's output in a notebook.
MIME_TYPE = "application/vnd.toyviz.record+json"


class Tolerance(ABC):
    """How far a recorded value may move between two executions of a chapter."""

    #: The name a tolerance is stored under in a notebook's output.
    kind = None

    @abstractmethod
    def accepts(self, committed, fresh, spread=None, drift=0.0):
        """Whether ``fresh`` is close enough to ``committed``. ``spread`` is the measured
        seed-to-seed standard deviation and ``drift`` the measured move under other kernels
        (only :class:`Seeds` uses them)."""

    @abstractmethod
    def describe(self, spread=None, drift=0.0):
        """The tolerance in words, for a failure message."""

    def to_json(self):
        """The tolerance as a dict of plain values, which :func:`tolerance_from_json` reads."""
        return {"kind": self.kind, **self.__dict__}

    def __repr__(self):
        fields = ", ".join(f"{key}={value!r}" for key, value in self.__dict__.items())
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other):
        return type(self) is type(other) and self.__dict__ == other.__dict__


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _distance(committed, fresh):
    if not (_is_number(committed) and _is_number(fresh)):
        return math.inf
    if math.isnan(committed) and math.isnan(fresh):
        return 0.0
    return abs(float(fresh) - float(committed))


class Bound(Tolerance):
    """The fresh value must lie at or below ``upper`` (an identity or conservation error,
    whose exact size is rounding noise); the committed value is not compared."""

    kind = "bound"

    def __init__(self, upper):
        self.upper = check_float("upper", upper)

    def accepts(self, committed, fresh, spread=None, drift=0.0):
        return _is_number(fresh) and not math.isnan(fresh) and fresh <= self.upper

    def describe(self, spread=None, drift=0.0):
        return f"must be <= {self.upper:g}"


class Relative(Tolerance):
    """``|fresh - committed| <= rtol * |committed| + atol``: deterministic arithmetic on
    fixed inputs, where only the last bits may differ between machines."""

    kind = "relative"

    def __init__(self, rtol=1e-6, atol=0.0):
        self.rtol = check_float("rtol", rtol, low=0)
        self.atol = check_float("atol", atol, low=0)

    def accepts(self, committed, fresh, spread=None, drift=0.0):
        if not _is_number(committed):
            return False
        return _distance(committed, fresh) <= self.rtol * abs(committed) + self.atol

    def describe(self, spread=None, drift=0.0):
        text = f"relative {self.rtol:g}"
        return text + (f" + absolute {self.atol:g}" if self.atol else "")


class Count(Tolerance):
    """An integer that may move by at most ``slack`` (a count after training or sampling,
    where one borderline point can change sides)."""

    kind = "count"

    def __init__(self, slack=0):
        self.slack = check_int("slack", slack, low=0)

    def accepts(self, committed, fresh, spread=None, drift=0.0):
        return _distance(committed, fresh) <= self.slack

    def describe(self, spread=None, drift=0.0):
        return f"± {self.slack}" if self.slack else "exactly"


class Exact(Tolerance):
    """Equal as stored: a verdict, a label, a string, or an integer that no floating-point
    arithmetic feeds."""

    kind = "exact"

    def accepts(self, committed, fresh, spread=None, drift=0.0):
        if _is_number(committed) and _is_number(fresh):
            return _distance(committed, fresh) == 0.0
        return committed == fresh

    def describe(self, spread=None, drift=0.0):
        return "exactly"


class Seeds(Tolerance):
    """A result of training or sampling.

    It may move by ``share`` times its standard deviation across seeds, by
    ``drift_factor`` times the drift measured when the chapter is executed with other
    numpy and oneDNN kernels, whichever is larger, and never by less than ``floor``
    (absolute) or ``rtol`` times its size. Both spreads are measured by
    ``scripts/measure_spread.py`` and committed in ``tests/spreads/``.

    With the default share of a quarter, a chapter executed with another seed fails on
    most of its numbers, while a change in the last bits, amplified by training, passes.
    Where training amplifies rounding almost as much as a new seed would (a maximum over
    thousands of weights, say), the measured drift sets the tolerance, and that number no
    longer tells seeds apart; the others still do.
    """

    kind = "seeds"

    def __init__(self, share=0.25, floor=0.0, rtol=1e-6, drift_factor=3.0):
        self.share = check_float("share", share, low=0, low_open=True)
        self.floor = check_float("floor", floor, low=0)
        self.rtol = check_float("rtol", rtol, low=0)
        self.drift_factor = check_float("drift_factor", drift_factor, low=0)

    def allowed(self, committed, spread, drift=0.0):
        """The absolute distance allowed around ``committed`` for a measured seed
        ``spread`` and kernel ``drift``."""
        size = abs(committed) if _is_number(committed) and math.isfinite(committed) else 0.0
        return max(self.share * spread, self.drift_factor * (drift or 0.0), self.floor,
                   self.rtol * size)

    def accepts(self, committed, fresh, spread=None, drift=0.0):
        if spread is None or not _is_number(committed):
            return False
        return _distance(committed, fresh) <= self.allowed(committed, spread, drift)

    def describe(self, spread=None, drift=0.0):
        if spread is None:
            return ("no measured seed spread: run scripts/measure_spread.py for this "
                    "notebook")
        text = f"{self.share:g} × seed std {spread:.3g}"
        if drift and self.drift_factor * drift > self.share * spread:
            text = f"{self.drift_factor:g} × kernel drift {drift:.3g} (seed std {spread:.3g})"
        return text + (f", at least {self.floor:g}" if self.floor else "")


class Varies(Tolerance):
    """Recorded but never compared, with the reason: a timing, the memory a run happened
    to peak at, or a sentence formatted from values that are recorded on their own."""

    kind = "varies"

    def __init__(self, why):
        if not isinstance(why, str) or not why:
            raise TypeError(f"why must be a non-empty str, got {describe(why)}")
        self.why = why

    def accepts(self, committed, fresh, spread=None, drift=0.0):
        return True

    def describe(self, spread=None, drift=0.0):
        return f"not compared: {self.why}"


#: Each tolerance class by its ``kind``, the name :meth:`Tolerance.to_json` stores.
KINDS = {cls.kind: cls for cls in (Bound, Relative, Count, Exact, Seeds, Varies)}


def tolerance_from_json(stored):
    """The :class:`Tolerance` that :meth:`Tolerance.to_json` stored."""
    if not isinstance(stored, dict) or stored.get("kind") not in KINDS:
        raise ValueError(f"stored must be a dict with a 'kind' among {sorted(KINDS)}, "
                         f"got {describe(stored)}")
    fields = {key: value for key, value in stored.items() if key != "kind"}
    try:
        return KINDS[stored["kind"]](**fields)
    except (TypeError, ValueError) as error:
        raise type(error)(f"stored must hold the fields of a {stored['kind']} tolerance: "
                          f"{error}") from error


def _plain(value, name):
    """A JSON-safe scalar: int, float (NaN and inf as strings), str or None."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (numbers.Integral,)):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, complex):
        raise TypeError(f"{name} must be real, got {describe(value)}")
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"{name} must be a number, a string or None, got {describe(value)}")


def from_plain(value):
    """A recorded value as the number it stands for: the record writes NaN and the
    infinities as the text ``"nan"``, ``"inf"`` and ``"-inf"`` (plain JSON), which this turns
    back into floats; anything else is returned as it is."""
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    return value


def _check_name(name):
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {describe(name)}")
    return name


def _check_tolerance(name, tolerance):
    if not isinstance(tolerance, Tolerance):
        raise TypeError(f"{name} must be a toyviz.checks tolerance (Bound, Relative, Count, "
                        f"Exact, Seeds or Varies), got {describe(tolerance)}")
    return tolerance


def side(value, threshold, margin, name="value"):
    """Whether ``value > threshold``: True or False, or None ("too close to call") when
    ``|value - threshold| < margin``, where rounding on another machine could flip the
    answer. :func:`exceeds` is the same but raises instead of returning None;
    :func:`toyviz.claims.judge` turns None into the verdict "too close to call"."""
    _check_name(name)
    value = check_float(name, value)
    threshold = check_float("threshold", threshold)
    margin = check_float("margin", margin, low=0)
    if abs(value - threshold) < margin:
        return None
    return value > threshold


def exceeds(value, threshold, margin, name="value"):
    """Whether ``value > threshold``, refusing to decide within ``margin`` of it.

    A verdict drawn from a number must not flip when the number moves in its last bits on
    another machine. Raises ``ValueError`` naming ``name`` when
    ``|value - threshold| < margin``, so that a verdict too close to call stops the chapter
    instead of changing silently.
    """
    answer = side(value, threshold, margin, name)
    if answer is None:
        value, threshold, margin = float(value), float(threshold), float(margin)
        raise ValueError(f"{name} = {value:.6g} is within margin = {margin:g} of the "
                         f"threshold {threshold:.6g}: a verdict on it could flip with rounding")
    return answer


class Record:
    """The values a chapter's prose and verdicts rest on, with their tolerances.

    ``number``, ``text`` and ``table`` add to it; the prose quotes a number or text with
    ``{eval}`record.format("name", ".3f")```, which the book and JupyterLab both render, so
    the reader sees exactly what the checks compare. Display the record in the chapter's
    last cell. Names are unique within a record.
    """

    def __init__(self):
        self.entries = {}

    def _add(self, name, entry):
        name = _check_name(name)
        if name in self.entries:
            raise ValueError(f"name {name!r} is already in the record")
        self.entries[name] = entry

    def number(self, name, value, tolerance, digits=None, glue=False):
        """Record a number, rounded to ``digits`` decimals when given; also glue it under
        ``name`` when ``glue`` (for another page of the book to paste). Returns nothing, so
        that a cell ending with it shows no stray output."""
        _check_tolerance("tolerance", tolerance)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise TypeError(f"value of {name!r} must be a real number, got "
                            f"{describe(value)}")
        if digits is not None:
            digits = check_int("digits", digits, low=0, high=17)
            value = round(float(value), digits)
        value = int(value) if isinstance(value, numbers.Integral) else float(value)
        entry = {"type": "number", "value": _plain(value, "value"),
                 "tolerance": tolerance.to_json()}
        if digits is not None:
            entry["rounded"] = 10.0 ** -digits  # a flip of the last kept digit is allowed
        self._add(name, entry)
        if glue:
            glue_value(name, value)

    def text(self, name, value, tolerance=None):
        """Record a verdict or label, compared exactly unless ``tolerance`` says otherwise
        (a sentence formatted from values recorded on their own is recorded as
        :class:`Varies`). Returns nothing, like :meth:`number`."""
        tolerance = Exact() if tolerance is None else _check_tolerance("tolerance", tolerance)
        if not isinstance(value, str):
            raise TypeError(f"value of {name!r} must be a str, got {describe(value)}")
        self._add(name, {"type": "text", "value": value, "tolerance": tolerance.to_json()})

    def table(self, name, frame, tolerance, columns=None, digits=None):
        """Record a key table (a pandas DataFrame or Series) cell by cell, unrounded.

        ``tolerance`` applies to every column, unless ``columns`` maps a column's name to
        its own. Returns ``frame`` for the cell to display, rounded to ``digits`` decimals
        when given.
        """
        _check_tolerance("tolerance", tolerance)
        if isinstance(frame, (pd.Series, pd.DataFrame)) and digits is not None:
            shown = frame.round(check_int("digits", digits, low=0))
        else:
            shown = frame
        if isinstance(frame, pd.Series):
            frame = frame.to_frame(name=frame.name if frame.name is not None else "value")
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"frame must be a pandas DataFrame or Series, got "
                            f"{describe(frame)}")
        columns = {} if columns is None else dict(columns)
        for column, own in columns.items():
            if column not in frame.columns:
                raise ValueError(f"columns names {column!r}, which frame does not have; "
                                 f"it has {list(map(str, frame.columns))}")
            _check_tolerance(f"columns[{column!r}]", own)
        labels = [str(label) for label in frame.index]
        names = [str(column) for column in frame.columns]
        if len(set(labels)) != len(labels) or len(set(names)) != len(names):
            raise ValueError(f"frame {name!r} must have unique row and column labels")
        cells = [[_plain(_scalar(value), f"cell ({row!r}, {column!r}) of {name!r}")
                  for column, value in zip(names, values)]
                 for row, values in zip(labels, frame.itertuples(index=False))]
        self._add(name, {
            "type": "table", "index": labels, "columns": names, "cells": cells,
            "tolerance": {str(column): columns.get(column, tolerance).to_json()
                          for column in frame.columns}})
        return shown

    def format(self, name, spec=""):
        """The recorded value of ``name`` as text, formatted with ``spec`` (as in
        ``format(value, spec)``): what the prose quotes through ``{eval}``, so that the
        number a reader sees is the number the checks compare."""
        if not isinstance(name, str) or name not in self.entries:
            raise ValueError(f"name must be a recorded number or text, got {name!r}; "
                             f"recorded: {', '.join(self.entries) or 'nothing'}")
        if not isinstance(spec, str):
            raise TypeError(f"spec must be a format spec (str), got {describe(spec)}")
        entry = self.entries[name]
        if entry["type"] == "table":
            raise ValueError(f"name {name!r} is a table; the prose quotes numbers and texts")
        return format(from_plain(entry["value"]), spec)

    def _repr_mimebundle_(self, include=None, exclude=None):
        counts = {}
        for entry in self.entries.values():
            counts[entry["type"]] = counts.get(entry["type"], 0) + 1
        summary = ", ".join(f"{count} {kind}{'s' if count > 1 else ''}"
                            for kind, count in sorted(counts.items()))
        return {MIME_TYPE: {"entries": self.entries},
                "text/plain": f"Recorded for the checks: {summary or 'nothing'} "
                              "(see tests/test_notebooks.py)"}


def _scalar(value):
    return value.item() if isinstance(value, np.generic) else value


def glue_value(name, value):
    """Glue ``value`` under the key ``name`` for the book's text (myst-nb's ``glue``),
    without displaying it. Returns None."""
    from myst_nb import glue  # the book's extra, not a dependency of the library

    _check_name(name)
    glue(name, value, display=False)


def record_of(notebook):
    """The entries of the record a notebook (an ``nbformat`` node or a dict read from an
    ``.ipynb``) displayed, or ``None`` when it displayed none."""
    check_notebook("notebook", notebook)
    found = None
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if MIME_TYPE in data:
                stored = data[MIME_TYPE]
                if isinstance(stored, str):
                    stored = json.loads(stored)
                found = stored["entries"]
    return found


def check_notebook(name, notebook):
    """Check that ``notebook`` looks like a notebook read from an ``.ipynb`` (a dict whose
    ``cells`` are dicts)."""
    _check_name(name)
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list) or \
            not all(isinstance(cell, dict) for cell in notebook["cells"]):
        raise TypeError(f"{name} must be a notebook read from an .ipynb, got "
                        f"{describe(notebook)}")
    return notebook


def check_entries(name, entries):
    """Check that ``entries`` are a record's entries, as :func:`record_of` returns them."""
    _check_name(name)
    if not isinstance(entries, dict) or not all(
            isinstance(key, str) and isinstance(entry, dict)
            and entry.get("type") in ("number", "text", "table")
            for key, entry in entries.items()):
        raise TypeError(f"{name} must be a record's entries (a dict of name -> entry, as "
                        f"record_of returns), got {describe(entries)}")
    return entries


def load_spreads(path, missing_ok=False):
    """The measured seed standard deviation and kernel drift of each value of a chapter:
    ``(spreads, drifts)``, two dicts as :func:`compare` takes them, read from the JSON file
    at ``path`` that ``scripts/measure_spread.py`` writes (``tests/spreads/<chapter>.json``).
    A chapter without ``Seeds`` tolerances has no such file: with ``missing_ok``, a path
    that does not exist gives two empty dicts instead of a ValueError."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a path to a spreads .json file, got {describe(path)}")
    missing_ok = check_flag("missing_ok", missing_ok)
    path = Path(path)
    if not path.is_file():
        if missing_ok:
            return {}, {}
        raise ValueError(f"path must be an existing spreads file, got {str(path)!r}")
    try:
        measured = json.loads(path.read_text())
        spreads, drifts = measured["std"], measured["drift"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"path must be a spreads file with 'std' and 'drift', as "
                         f"scripts/measure_spread.py writes; {str(path)!r} is not "
                         f"({error})") from None
    return _check_numbers("spreads", spreads), _check_numbers("drifts", drifts)


def _check_numbers(name, mapping):
    if mapping is None:
        return {}
    if not isinstance(mapping, dict) or not all(
            isinstance(key, str) and (value is None or _is_number(value))
            for key, value in mapping.items()):
        raise TypeError(f"{name} must be a dict of name -> number or None, got "
                        f"{describe(mapping)}")
    return mapping


def values_of(entries):
    """Every value of a record (as :func:`record_of` returns it), one at a time: yields
    ``(key, value, stored tolerance, rounding step)``, a table cell keyed as
    ``"table[row, column]"``, the name that ``tests/spreads/`` uses too."""
    return _values_of(check_entries("entries", entries))


def _values_of(entries):
    for name, entry in entries.items():
        if entry["type"] != "table":
            yield name, entry["value"], entry["tolerance"], entry.get("rounded", 0.0)
            continue
        for row, cells in zip(entry["index"], entry["cells"]):
            for column, value in zip(entry["columns"], cells):
                yield f"{name}[{row}, {column}]", value, entry["tolerance"][column], 0.0


def compare(committed, fresh, spreads=None, drifts=None):
    """Compare two records (as :func:`record_of` returns them) and list what moved.

    The fresh record's tolerances apply: they are the chapter's current ones. ``spreads``
    maps a name (a table cell as ``"table[row, column]"``) to its measured seed standard
    deviation, and ``drifts`` to how far it moved under other numpy and oneDNN kernels.
    Returns a list of lines, one per failure, each naming the value, the committed value,
    the new value and the tolerance; an empty list when all agree.
    """
    check_entries("committed", committed)
    check_entries("fresh", fresh)
    spreads = _check_numbers("spreads", spreads)
    drifts = _check_numbers("drifts", drifts)
    failures = []
    missing = sorted(set(committed) - set(fresh))
    added = sorted(set(fresh) - set(committed))
    if missing:
        failures.append(f"no longer recorded: {', '.join(missing)}")
    if added:
        failures.append(f"recorded now but not in the committed outputs: {', '.join(added)} "
                        "(refresh the outputs with scripts/execute_notebook.py)")
    comparable = {}
    for name in committed:
        if name not in fresh:
            continue
        old, new = committed[name], fresh[name]
        if old["type"] != new["type"]:
            failures.append(f"{name}: was a {old['type']}, is now a {new['type']}")
        elif new["type"] == "table" and (old["index"] != new["index"]
                                         or old["columns"] != new["columns"]):
            failures.append(f"table {name}: rows or columns changed: rows {old['index']} → "
                            f"{new['index']}, columns {old['columns']} → {new['columns']}")
        else:
            comparable[name] = (old, new)
    old_values = {key: value for key, value, _, _ in
                  values_of({name: old for name, (old, _) in comparable.items()})}
    for key, value, tolerance, rounded in values_of(
            {name: new for name, (_, new) in comparable.items()}):
        failures += _compare_value(key, old_values[key], value, tolerance,
                                   spreads.get(key), drifts.get(key), rounded)
    return failures


def _compare_value(name, committed, fresh, stored_tolerance, spread, drift=None,
                   rounded=0.0):
    tolerance = tolerance_from_json(stored_tolerance)
    committed, fresh, drift = from_plain(committed), from_plain(fresh), drift or 0.0
    if not isinstance(tolerance, Varies) and not _is_number(committed):
        tolerance = Exact()  # a label or flag in a table of numbers
    if tolerance.accepts(committed, fresh, spread, drift):
        return []
    if rounded and isinstance(tolerance, (Relative, Seeds)) and _is_number(fresh):
        # a value rounded to its last kept digit may flip that digit: compare the centres
        # of the two rounding intervals, moved towards each other by one step
        step = math.copysign(min(rounded, abs(fresh - committed)), committed - fresh)
        if tolerance.accepts(committed, fresh + step, spread, drift):
            return []
    return [f"{name}: committed {committed!r}, now {fresh!r}; tolerance "
            f"{tolerance.describe(spread, drift)}"]


#: The line of a chapter that sets its seed, which :func:`execute` can change.
SEED_LINE = re.compile(r"^SEED = \d+", flags=re.MULTILINE)


#: An inline expression in a Markdown cell, as jupyterlab-myst and myst-nb read it.
INLINE_EXPRESSION = re.compile(r"\{eval\}`([^`]+)`")


def execute(path, seed=None, allow_errors=False, timeout=600):
    """Execute the notebook at ``path`` top to bottom in its own folder with the
    ``python3`` kernel and return it (an ``nbformat`` node), without writing it.

    Each Markdown cell's inline expressions (``{eval}`...```) are evaluated when the cell is
    reached, as the book's inline execution does, and stored in the cell's
    ``user_expressions`` metadata, where JupyterLab's MyST renderer finds them: a reader who
    opens the notebook sees the numbers before running anything. ``seed`` replaces the value
    on the chapter's ``SEED = ...`` line. Execution timestamps and stderr streams
    (TensorFlow's start-up notices, which the built book removes too) are dropped.
    """
    import nbformat  # the book's extras, not dependencies of the library
    from nbclient import NotebookClient

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a path to an .ipynb file, got {describe(path)}")
    path = Path(path).resolve()
    if path.suffix != ".ipynb" or not path.is_file():
        raise ValueError(f"path must be an existing .ipynb file, got {str(path)!r}")
    notebook = nbformat.read(path, as_version=4)
    if seed is not None:
        seed = check_int("seed", seed, low=0, high=2**32 - 1)
        cells = [cell for cell in notebook.cells
                 if cell.cell_type == "code" and SEED_LINE.search(cell.source)]
        if len(cells) != 1:
            raise ValueError(f"seed needs one code cell with a 'SEED = <int>' line in "
                             f"{path.name}, found {len(cells)}")
        cells[0].source = SEED_LINE.sub(f"SEED = {seed}", cells[0].source)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    client = NotebookClient(notebook, timeout=check_int("timeout", timeout, low=1),
                            kernel_name="python3",
                            allow_errors=check_flag("allow_errors", allow_errors),
                            resources={"metadata": {"path": str(path.parent)}})
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
            elif cell.cell_type == "markdown":
                _evaluate_inline_expressions(client, cell)
        # As nbclient's own execute() does: the widget state matching the outputs, so
        # that the saved notebook shows its explorables before it is run again.
        client.set_widgets_metadata()
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)  # timestamps: noise in every diff
        if cell.cell_type == "code":
            cell.outputs = [output for output in cell.outputs
                            if not (output.output_type == "stream"
                                    and output.name == "stderr")]
    return notebook


def _evaluate_inline_expressions(client, cell):
    """Evaluate a Markdown cell's inline expressions in the client's kernel and store the
    results as jupyterlab-myst does, in ``cell.metadata.user_expressions``."""
    expressions = INLINE_EXPRESSION.findall(cell.source)
    cell.metadata.pop("user_expressions", None)
    if not expressions:
        return
    message = client.kc.execute("", silent=True, store_history=False,
                                user_expressions={str(index): expression
                                                  for index, expression in enumerate(expressions)})
    reply = client.wait_for_reply(message)
    results = reply["content"]["user_expressions"]
    cell.metadata["user_expressions"] = [
        {"expression": expression, "result": results[str(index)]}
        for index, expression in enumerate(expressions)]
    failed = [(item["expression"], item["result"].get("evalue"))
              for item in cell.metadata["user_expressions"]
              if item["result"].get("status") != "ok"]
    if failed and not client.allow_errors:
        raise RuntimeError(f"inline expressions failed: {failed}")
