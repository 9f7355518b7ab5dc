"""The essays' claims, each declared once as data and judged from a chapter's record.

A chapter records the numbers its claims rest on (:class:`~toyviz.checks.Record`), and its
claims live in a TOML file beside it (``book/claims/<chapter>.toml``), one table each::

    essay = "node removal"

    [[claim]]
    name = "full_network"
    section = "node-removal-network"        # the MyST label of the section computing it
    words = "with all the nodes on, the network accurately approximates a circle"
    ours = "test loss {full_loss:.3f}, accuracy {accuracy:.1f}%"
    criterion = "test accuracy above 95%"
    holds = [{value = "accuracy", above = 95.0, margin = 0.5}]

``words`` quotes the essay; ``ours`` and ``criterion`` are formatted from the record's
values (``{name:spec}``, where ``name`` is a recorded number or text, dots and all);
``section`` is where the chapter computes it. The verdict comes from conditions, never
from a chapter's code: ``holds``, then ``holds_roughly``, then ``partly``, each a list of
conditions that must all be met, and ``otherwise`` ("does not hold", or "not reproduced"
when the book ran the essay's experiment and did not see what it saw) when none is. A
condition compares a recorded number (``value``, or a list of names that must all pass)
with a threshold: ``above`` or ``below`` (strictly), ``at_least`` or ``at_most``, each a
number or the name of a recorded number (a control computed beside it). Within ``margin``
of its threshold (default 0) a condition is undecided: rounding on another CPU could flip
it. A level with an undecided condition and no failed one gives the verdict "too close to
call"; it is a verdict like the others, counted in the ledger, never an exception. A claim
the book has no computation for has ``verdict = "not tested"`` and says why in ``ours``.

:func:`read` loads such a file, :func:`judge` judges its claims from the record and
records each with its verdict (:func:`claim`), so the checks compare the verdict exactly
with a fresh execution (the formatted ``ours`` is recorded as
:class:`~toyviz.checks.Varies`: its numbers are recorded on their own). The chapter's
closing list (:func:`summary`) and the book's ledger page (:func:`ledger` on the committed
chapters) are drawn from the same entries, so they cannot drift apart.

Introduced in :doc:`/book/node_removal`; the :doc:`/book/ledger` gathers the claims of all
chapters.
"""

import numbers
import re
import string
from html import escape
from pathlib import Path

import pandas as pd

from toyviz._checks import _describe
from toyviz.checks import Record, Varies, _unplain, check_entries, check_notebook, side

#: The verdicts a claim can get. "too close to call": a number it rests on lies within its
#: margin of a threshold; "not reproduced": the book ran the essay's experiment and did not
#: see what the essay saw; "not tested": the book has no computation for it (the ``ours``
#: field then says why).
VERDICTS = ("holds", "holds roughly", "partly", "too close to call", "does not hold",
            "not reproduced", "not tested")

#: The levels a declared claim may list conditions for, best first, with their verdicts.
LEVELS = {"holds": "holds", "holds_roughly": "holds roughly", "partly": "partly"}

#: What a condition may compare a value with: name -> (strict, value must lie above).
COMPARISONS = {"above": (True, True), "below": (True, False),
               "at_least": (False, True), "at_most": (False, False)}

#: The verdicts ``otherwise`` may name.
OTHERWISE = ("does not hold", "not reproduced")

#: The fields of a claim, in the ledger's column order.
FIELDS = ("essay", "words", "ours", "criterion", "verdict", "section")

_PREFIX = "claim."


def claim(record, name, *, essay, words, ours, criterion, verdict, section):
    """Record one claim of an essay and the verdict this chapter computed for it.

    Parameters
    ----------
    record : toyviz.checks.Record
    name : str
        A short key, unique in the chapter.
    essay : str
        Which essay makes the claim.
    words : str
        The essay's words or number, quoted.
    ours : str
        This book's number(s), formatted, with an interval where sampling is involved; for
        "not tested", the reason.
    criterion : str
        How the verdict is decided, in words (the code deciding it sits beside the call).
    verdict : str
        One of :data:`VERDICTS`, computed by the chapter.
    section : str
        The label of the section that computes it (a MyST target such as ``(lognormal)=``).
    """
    fields = {"essay": essay, "words": words, "ours": ours, "criterion": criterion,
              "verdict": verdict, "section": section}
    for field, value in {"name": name, **fields}.items():
        if not isinstance(value, str) or not value.strip():
            raise TypeError(f"{field} must be a non-empty str, got {_describe(value)}")
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(map(repr, VERDICTS))}, "
                         f"got {verdict!r}")
    if essay not in ESSAYS:
        raise ValueError(f"essay must be one of {sorted(ESSAYS)}, got {essay!r}")
    _check_record("record", record)
    for field, value in fields.items():
        tolerance = Varies("formatted from numbers recorded on their own") \
            if field == "ours" else None
        record.text(f"{_PREFIX}{name}.{field}", value, tolerance)


def claims_of(entries):
    """The claims in a record's entries (a :class:`~toyviz.checks.Record`'s ``entries``, or
    what :func:`toyviz.checks.record_of` returns), one row per claim in the order they were
    made, with the columns :data:`FIELDS`."""
    check_entries("entries", entries)
    rows = {}
    for key, entry in entries.items():
        if key.startswith(_PREFIX):
            name, _, field = key[len(_PREFIX):].rpartition(".")
            rows.setdefault(name, {})[field] = entry["value"]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(FIELDS))
    frame.index.name = "claim"
    return frame


#: The three essays, in the book's order, by the name a claim gives as its ``essay``, with
#: their titles.
ESSAYS = {"node removal": "Exploring toy neural nets under node removal",
          "relevance": "Visualizing neural networks, how to blame the bias",
          "pruning": "Train first vs prune first in neural networks"}


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _link(section, document):
    """Where a claim is computed, for MyST: the label's section by its title, on the same
    page (``[](#label)``) or on another (``{ref}`` beside a plain link to the notebook).
    JupyterLab gets :func:`_html_rows` instead."""
    if not document:
        return f"[](#{section})"
    name = document.rsplit("/", 1)[-1].removesuffix(".ipynb")
    return f"{{ref}}`{section}` in [{name}]({document})"


def _rows(frame, document):
    lines = []
    for row in frame.itertuples():
        cells = [row.words, row.ours, row.criterion, f"**{row.verdict}**",
                 _link(row.section, document)]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return lines


_COLUMNS = ("the essay says", "we find", "criterion", "verdict", "computed in")
_HEADER = ["| " + " | ".join(_COLUMNS) + " |", "|---" * len(_COLUMNS) + "|"]


def _html_rows(frame, document):
    """The rows of :func:`_rows` as HTML, for JupyterLab, whose Markdown renderer does not
    know MyST's ``{ref}``: the link goes to the notebook and the label's anchor."""
    rows = []
    for row in frame.itertuples():
        link = f'<a href="{escape(document)}#{escape(row.section)}">{escape(row.section)}</a>'
        if document:
            link += f" in {escape(document.rsplit('/', 1)[-1].removesuffix('.ipynb'))}"
        cells = [escape(row.words), escape(row.ours), escape(row.criterion),
                 f"<strong>{escape(row.verdict)}</strong>", link]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return rows


class ClaimsTable:
    """A table of claims, displayed as MyST Markdown in the built book (its labels resolve
    there; ``_config.yml`` ranks ``text/markdown`` above ``text/html`` for the HTML
    builder) and as HTML in JupyterLab, which shows the HTML."""

    def __init__(self, markdown, html):
        for name, value in (("markdown", markdown), ("html", html)):
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a str, got {_describe(value)}")
        self.markdown, self.html = markdown, html

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/markdown": self.markdown, "text/html": self.html,
                "text/plain": self.markdown}


def _table(frames, lead=""):
    """A :class:`ClaimsTable` of ``frames``: (document, claims) pairs, after ``lead``."""
    markdown = ([lead, ""] if lead else []) + _HEADER
    html = ([f"<p>{escape(lead)}</p>"] if lead else []) + [
        "<table><thead><tr>" + "".join(f"<th>{column}</th>" for column in _COLUMNS)
        + "</tr></thead><tbody>"]
    for document, frame in frames:
        markdown += _rows(frame, document)
        html += _html_rows(frame, document)
    return ClaimsTable("\n".join(markdown), "\n".join(html + ["</tbody></table>"]))


def summary(record, document=""):
    """The chapter's closing list: its claims and verdicts as a Markdown table, each linked
    to the section that computes it.

    ``document`` is the chapter's file relative to the page showing the table, when that
    is another page (e.g. ``"node_removal.ipynb"``); empty, for the chapter itself, each
    link is the bare ``#label``. Display the result in a cell whose metadata asks myst-nb
    for MyST Markdown (``{"mystnb": {"markdown_format": "myst"}}``), so that the built
    book resolves the labels.
    """
    if not isinstance(document, str):
        raise TypeError(f"document must be a str, got {_describe(document)}")
    entries = _check_record("record", record).entries if isinstance(record, Record) else \
        check_entries("record", record)
    return _table([(document, claims_of(entries))])


def _check_record(name, record):
    if not isinstance(record, Record):
        raise TypeError(f"{name} must be a toyviz.checks.Record, got {_describe(record)}")
    return record


_LABEL = re.compile(r"^\(([^()\s]+)\)=\s*$", re.MULTILINE)


def section_labels(notebook):
    """The MyST labels ``(label)=`` of a notebook's Markdown cells, in reading order."""
    check_notebook("notebook", notebook)
    labels = []
    for cell in notebook["cells"]:
        if cell.get("cell_type") == "markdown":
            source = cell.get("source")
            if not isinstance(source, str):
                if not isinstance(source, list) or not all(isinstance(line, str)
                                                           for line in source):
                    raise TypeError(f"notebook has a Markdown cell whose source is not "
                                    f"text: {_describe(source)}")
                source = "".join(source)
            labels += _LABEL.findall(source)
    return labels


def ledger(records, sections=None):
    """Every claim that several pages recorded, for the ledger page.

    Parameters
    ----------
    records : dict, document (the page's file, relative to the page showing the ledger)
        -> the entries of its record (:func:`toyviz.checks.record_of`), or None for a
        page that displayed no record.
    sections : None or dict, document -> its section labels in reading order
        (:func:`section_labels`); a page's claims are then listed in that order (a record
        read back from a notebook has lost the order in which they were made).

    Returns
    -------
    pandas.DataFrame
        A ``document`` column and the columns :data:`FIELDS`, one row per claim, pages in
        the given order.
    """
    if not isinstance(records, dict):
        raise TypeError(f"records must be a dict of document -> record entries, got "
                        f"{_describe(records)}")
    for document, entries in records.items():
        if entries is not None:
            check_entries(f"records[{document!r}]", entries)
    if sections is not None and (not isinstance(sections, dict) or not all(
            isinstance(labels, (list, tuple)) for labels in sections.values())):
        raise TypeError(f"sections must be None or a dict of document -> section labels "
                        f"(list), got {_describe(sections)}")
    frames = []
    for document, entries in records.items():
        if entries is None:
            continue
        frame = claims_of(entries)
        frame.insert(0, "document", document)
        labels = (sections or {}).get(document)
        if labels is not None:
            place = {label: index for index, label in enumerate(labels)}
            frame = frame.iloc[sorted(range(len(frame)), key=lambda row: (
                place.get(frame["section"].iloc[row], len(place)), row))]
        frames.append(frame)
    every = pd.concat(frames) if frames else pd.DataFrame(columns=["document", *FIELDS])
    unknown = sorted(set(every["essay"]) - set(ESSAYS))
    if unknown:
        raise ValueError(f"claims name essays {unknown}; known essays: {sorted(ESSAYS)}")
    return every


def essay_table(every, essay):
    """One essay's rows of :func:`ledger` as Markdown: a count of the verdicts and the
    table, each row linked to the section that computes it; or, when no page has recorded
    the essay's claims, a sentence saying so. Display it as :func:`summary` says."""
    if not isinstance(every, pd.DataFrame) or "document" not in every:
        raise TypeError(f"every must be what ledger() returns, got {_describe(every)}")
    if not isinstance(essay, str):
        raise TypeError(f"essay must be a str, one of {sorted(ESSAYS)}, got {_describe(essay)}")
    if essay not in ESSAYS:
        raise ValueError(f"essay must be one of {sorted(ESSAYS)}, got {essay!r}")
    rows = every[every["essay"] == essay]
    if rows.empty:
        sentence = "No page has recorded the claims of {} yet: its chapter has not recorded them."
        return ClaimsTable(sentence.format(f"*{ESSAYS[essay]}*"),
                           "<p>" + sentence.format(f"<em>{escape(ESSAYS[essay])}</em>") + "</p>")
    counts = rows["verdict"].value_counts()
    lead = ("Verdicts: " + ", ".join(f"{verdict}: {counts[verdict]}"
                                     for verdict in VERDICTS if verdict in counts)
            + f" (of {len(rows)} claims).")
    return _table(rows.groupby("document", sort=False), lead)


# --------------------------------------------------------------------------- declared claims

_TOP_LEVEL = {"essay", "claim", "findings"}
_FIELDS_DECLARED = {"name", "section", "words", "ours", "criterion", "verdict", "otherwise",
                    *LEVELS}


def read(path):
    """The claims declared in a TOML file (see the module docstring), checked: a dict with
    ``essay`` and ``claim``, the list of claims in the file's order, and ``findings``
    when the file has it (a page about no essay may declare only ``findings``)."""
    return _read("path", path)


def _read(name, path):
    if not isinstance(path, (str, Path)):
        raise TypeError(f"{name} must be a str or pathlib.Path, got {_describe(path)}")
    try:
        import tomllib
    except ModuleNotFoundError:     # Python 3.10
        import tomli as tomllib
    if not Path(path).is_file():
        raise ValueError(f"{name} must name a TOML file of claims, got {str(path)!r}, "
                         f"which is not a file")
    with open(path, "rb") as file:
        try:
            declared = tomllib.load(file)
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{name} {str(path)!r} is not valid TOML: {error}") from None
    return _check_declared(name, declared)


def _check_declared(name, declared):
    """``declared`` (what :func:`read` returns) checked; messages name ``name``."""
    if not isinstance(declared, dict) or not set(declared) <= _TOP_LEVEL or \
            not ({"essay", "claim"} <= set(declared) or set(declared) == {"findings"}):
        raise ValueError(f"{name} must declare `essay` and a list of [[claim]] tables, "
                         f"`findings`, or both, and nothing else, got {_describe(declared)}")
    if not isinstance(declared.get("findings", "-"), str) or \
            not declared.get("findings", "-").strip():
        raise ValueError(f"{name}: findings must be a non-empty str, got "
                         f"{_describe(declared['findings'])}")
    if "claim" not in declared:
        return declared
    if declared["essay"] not in ESSAYS:
        raise ValueError(f"{name}: essay must be one of {sorted(ESSAYS)}, got "
                         f"{declared['essay']!r}")
    claims = declared["claim"]
    if not isinstance(claims, list) or not claims:
        raise ValueError(f"{name}: claim must be a non-empty list of tables, got "
                         f"{_describe(claims)}")
    seen = set()
    for index, entry in enumerate(claims):
        where = f"{name}: claim {index}"
        if not isinstance(entry, dict):
            raise TypeError(f"{where} must be a table, got {_describe(entry)}")
        where = f"{name}: claim {entry.get('name', index)!r}"
        unknown = sorted(set(entry) - _FIELDS_DECLARED)
        if unknown:
            raise ValueError(f"{where} has unknown fields {unknown}; known: "
                             f"{sorted(_FIELDS_DECLARED)}")
        for field in ("name", "section", "words", "ours", "criterion"):
            if not isinstance(entry.get(field), str) or not entry[field].strip():
                raise ValueError(f"{where} needs {field}, a non-empty str, got "
                                 f"{_describe(entry.get(field))}")
        if entry["name"] in seen:
            raise ValueError(f"{where} is declared twice")
        seen.add(entry["name"])
        levels = [level for level in LEVELS if level in entry]
        if "verdict" in entry:
            if entry["verdict"] != "not tested" or levels or "otherwise" in entry:
                raise ValueError(f"{where}: a fixed verdict may only be 'not tested', with "
                                 f"no conditions, got verdict {entry['verdict']!r}")
        elif not levels:
            raise ValueError(f"{where} needs conditions ({', '.join(LEVELS)}) or "
                             f"verdict = 'not tested'")
        if entry.get("otherwise", OTHERWISE[0]) not in OTHERWISE:
            raise ValueError(f"{where}: otherwise must be one of {OTHERWISE}, got "
                             f"{entry['otherwise']!r}")
        for level in levels:
            conditions = entry[level]
            if not isinstance(conditions, list) or not conditions:
                raise ValueError(f"{where}: {level} must be a non-empty list of "
                                 f"conditions, got {_describe(conditions)}")
            for condition in conditions:
                _check_condition(f"{where}, {level}", condition)
    return declared


def _check_condition(where, condition):
    if not isinstance(condition, dict):
        raise TypeError(f"{where}: a condition must be a table, got {_describe(condition)}")
    compare = [key for key in COMPARISONS if key in condition]
    unknown = sorted(set(condition) - {"value", "margin", *COMPARISONS})
    if len(compare) != 1 or unknown or "value" not in condition:
        raise ValueError(f"{where}: a condition needs `value` and one of "
                         f"{', '.join(COMPARISONS)} (and optionally `margin`), got "
                         f"{sorted(condition)}")
    names = condition["value"]
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not names or not all(
            isinstance(value, str) for value in names):
        raise ValueError(f"{where}: value must name a recorded number, or be a list of "
                         f"names, got {_describe(condition['value'])}")
    threshold = condition[compare[0]]
    if not isinstance(threshold, (str, numbers.Real)) or isinstance(threshold, bool):
        raise ValueError(f"{where}: {compare[0]} must be a number or a recorded number's "
                         f"name, got {_describe(threshold)}")
    margin = condition.get("margin", 0)
    if not isinstance(margin, numbers.Real) or isinstance(margin, bool) or margin < 0:
        raise ValueError(f"{where}: margin must be a number >= 0, got {_describe(margin)}")


class _RecordFormatter(string.Formatter):
    """``str.format`` over a record's values, each field a whole name (dots included)."""

    def __init__(self, values, where):
        self.values, self.where = values, where

    def get_field(self, field_name, args, kwargs):
        if field_name not in self.values:
            raise ValueError(f"{self.where} quotes {{{field_name}}}, which the record does "
                             f"not hold as a number or text")
        return self.values[field_name], field_name


def _values(record):
    return {name: _unplain(entry["value"]) for name, entry in record.entries.items()
            if entry["type"] in ("number", "text")}


def _number(values, name, where):
    value = values.get(name)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{where} needs {name!r}, a recorded number, got "
                         f"{_describe(value)}")
    return value


def _meets(values, condition, where):
    """True, False, or None when a value lies within the margin of its threshold."""
    (compare, threshold), = ((key, condition[key]) for key in COMPARISONS if key in condition)
    strict, above = COMPARISONS[compare]
    margin = condition.get("margin", 0)
    if isinstance(threshold, str):
        threshold = _number(values, threshold, where)
    names = condition["value"]
    answers = []
    for name in [names] if isinstance(names, str) else names:
        value = _number(values, name, where)
        low, high = (threshold, value) if above else (value, threshold)
        if strict:
            answers.append(side(high, low, margin, name))     # high > low
        else:
            answer = side(low, high, margin, name)            # low > high: fails
            answers.append(None if answer is None else not answer)
    return False if False in answers else None if None in answers else True


def _verdict_of(values, entry, where="claim"):
    """The verdict of one declared claim over ``values`` (name -> recorded value)."""
    if "verdict" in entry:
        return entry["verdict"]
    for level, verdict in LEVELS.items():
        if level not in entry:
            continue
        met = [_meets(values, condition, f"{where}, {level}") for condition in entry[level]]
        if False in met:
            continue
        return "too close to call" if None in met else verdict
    return entry.get("otherwise", OTHERWISE[0])


def judge(record, declared, names=None):
    """Judge declared claims from the record and record each with its verdict.

    Parameters
    ----------
    record : toyviz.checks.Record
        Holds every number the claims' conditions, ``ours`` and ``criterion`` name.
    declared : dict
        What :func:`read` returns (or a path to such a file).
    names : None or list of str
        The claims to judge now (for prose that quotes a verdict before the chapter's
        end); None judges every declared claim not yet recorded.

    Returns
    -------
    dict
        Claim name -> verdict, for the claims judged now.
    """
    _check_record("record", record)
    declared = _read("declared", declared) if isinstance(declared, (str, Path)) else \
        _check_declared("declared", declared)
    entries = {entry["name"]: entry for entry in declared.get("claim", [])}
    if names is None:
        names = [name for name in entries if f"{_PREFIX}{name}.verdict" not in record.entries]
    elif not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"names must be None or a list of claim names, got {_describe(names)}")
    unknown = [name for name in names if name not in entries]
    if unknown:
        raise ValueError(f"names {unknown} are not declared; declared: {list(entries)}")
    values = _values(record)
    verdicts = {}
    for name in names:
        entry = entries[name]
        where = f"claim {name!r}"
        verdicts[name] = _verdict_of(values, entry, where)
        ours, criterion = (_RecordFormatter(values, f"{where}: {field}").format(entry[field])
                           for field in ("ours", "criterion"))
        claim(record, name, essay=declared["essay"], words=entry["words"], ours=ours,
              criterion=criterion, verdict=verdicts[name], section=entry["section"])
    return verdicts


# --------------------------------------------------------------------------- findings box

class FindingsBox:
    """The box "What we found" that opens a chapter, filled at its end.

    The chapter's first cell creates it (the box displays itself), and the chapter's last
    cells fill it, once every number is recorded (:meth:`fill`): its text is the
    ``findings`` of the chapter's claims file, formatted from the record like a claim's
    ``ours``, so the numbers a reader sees first are the numbers the checks compare.

    The box is one output shown two ways. JupyterLab shows its HTML, which :meth:`fill`
    replaces in place (a display update: live on "Run All", and kept in the saved
    notebook). The book's executor renders the top cell before the chapter has run, so
    the box's Markdown is instead a ``{glue}`` directive that pastes, from this same
    document, the HTML :meth:`fill` glued under ``key`` (myst-nb resolves it after the
    page has executed). Display it in a cell whose metadata asks myst-nb for MyST Markdown
    (``{"mystnb": {"markdown_format": "myst"}}``).

    Parameters
    ----------
    document : str
        The chapter's file name (e.g. ``"node_removal.ipynb"``): the page the glue is read
        from, which is the page itself.
    key : str
        The glue key.
    """

    TITLE = "What we found"
    WAITING = "The findings appear here when the chapter has run to its end."

    def __init__(self, document, key="findings"):
        for name, value in (("document", document), ("key", key)):
            if not isinstance(value, str) or not value.strip():
                raise TypeError(f"{name} must be a non-empty str, got {_describe(value)}")
        if not document.endswith((".ipynb", ".md")):
            raise ValueError(f"document must be the chapter's file name (.ipynb), got "
                             f"{document!r}")
        self.document, self.key = document, key
        self.text = None
        from IPython.display import display

        self._handle = display(self._bundle(self.WAITING), raw=True, display_id=True)

    def html(self, text):
        """The box's HTML for ``text`` (paragraphs separated by blank lines), styled as
        the book's admonitions."""
        paragraphs = [" ".join(part.split()) for part in text.split("\n\n") if part.strip()]
        return ('<div class="admonition tip findings"><p class="admonition-title">'
                f"{escape(self.TITLE)}</p>"
                + "".join(f"<p>{escape(paragraph)}</p>" for paragraph in paragraphs)
                + "</div>")

    def _bundle(self, text):
        directive = f"```{{glue}} {self.key}\n:doc: {self.document}\n```"
        return {"text/markdown": directive, "text/html": self.html(text),
                "text/plain": f"{self.TITLE}: {text}"}

    def fill(self, record, declared):
        """Format the ``findings`` of ``declared`` (what :func:`read` returns, or its
        path) from the record, record it (under ``key``, as :class:`~toyviz.checks.Varies`:
        its numbers are recorded on their own), glue it for the book and show it in the
        box (the text is then in ``box.text``)."""
        _check_record("record", record)
        declared = _read("declared", declared) if isinstance(declared, (str, Path)) else \
            _check_declared("declared", declared)
        if "findings" not in declared:
            raise ValueError("declared has no `findings` to fill the box with")
        self.text = _RecordFormatter(_values(record), "findings").format(declared["findings"])
        # recorded under the glue key, as every glued value is; its numbers are recorded
        # on their own and compared there
        record.text(self.key, self.text, Varies("formatted from numbers recorded on their own"))
        from IPython.display import HTML

        from toyviz.checks import _glue

        _glue(self.key, HTML(self.html(self.text)))
        self._handle.update(self._bundle(self.text), raw=True)
