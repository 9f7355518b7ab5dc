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

Conditions combine: ``{any = [condition, ...]}`` is met when one of them is, and
``{all = [condition, ...]}`` when every one is, each in the same three values (met, failed,
undecided): ``any`` is undecided when none is met and one is undecided, ``all`` when none
fails and one is undecided. A level's list is an ``all``.

A chapter's own verdicts, which are not an essay's claims (does a penalty "work" or
"goodhart" at one weight; which of two routes ends higher), are declared the same way, as
``[[outcome]]`` tables with the chapter's own names::

    [[outcome]]
    name = "std_vs_random"
    otherwise = "not different"
    [[outcome.case]]
    say = "higher"
    when = [{value = "difference_low", above = 0, margin = 0.002}]
    [[outcome.case]]
    say = "lower"
    when = [{value = "difference_high", below = 0, margin = 0.002}]
    [outcome.words]     # optional: a sentence per outcome, formatted from the record
    higher = "..."

The cases are tried in order, as a claim's levels are: the first with no failed condition
gives its ``say``, or "too close to call" when one of its conditions is undecided; when
every case fails, ``otherwise``. :func:`decide` gives an outcome for any numbers (one row
of a table), and :func:`judge` records the outcomes it is asked for by name, from the
record: the outcome under its name and, with ``words``, its sentence under
``<name>_words``. A page that words one outcome several ways gives ``words`` a table per
way instead (``[outcome.words.short]``, ``[outcome.words.long]``), recorded under
``<name>_short`` and ``<name>_long``.

Claims about trained networks are judged over many of them. A file may declare sets of
networks, each with a short label::

    [networks]
    code = "the essay code's task"
    prose = "the essay's prose task"

and a claim may then name the sets it is judged across (``across = ["code", "prose"]``):
:func:`judge`, given each network's values (``networks``: set -> a list of dicts of name
-> number, one per network), judges the claim on every network with the same conditions
(a name a network's dict lacks is read from the record) and records how often it holds:
``claim.<name>.holds_in.<set>``, the networks where it holds or holds roughly,
``claim.<name>.of.<set>``, how many were judged, and ``claim.<name>.networks``, a
sentence counting every verdict per set ("the essay code's task: holds in 7 and partly in
3 of 10 networks"). With ``verdict_from = "<set>"`` the claim's verdict is the median
verdict of that set's networks: the best verdict that at least half of them reach, in the
order of :data:`VERDICTS`; without it, the verdict is judged from the record as above,
and the counts show how robust it is. :func:`tally` gives the verdicts network by network.

One sentence of an essay may make several claims. Each then declares ``part_of = "<the
sentence's claim>"``, and the sentence's claim, quoting the whole sentence, takes
``verdict = "from parts"``: the verdict its parts share, if they share one; otherwise
"too close to call" when none fails (does not hold, not reproduced) and one is too close,
"partly" when some part at least partly holds and another fails, the weakest when every
part at least partly holds, and the first failing verdict when none at least partly
holds (parts "not tested" count only when every part is). The ledger counts claims, not
parts, and shows each part under its claim.

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

from toyviz._checks import describe
from toyviz.checks import (Count, Record, Varies, from_plain, check_entries, check_notebook,
                           side)

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

#: Conditions made of conditions (three-valued: met, failed, undecided).
COMBINATIONS = ("all", "any")

#: The outcome of a case or outcome whose deciding condition is undecided.
TOO_CLOSE = "too close to call"

#: The verdicts ``otherwise`` may name.
OTHERWISE = ("does not hold", "not reproduced")

#: The fields of a claim, in the ledger's column order.
FIELDS = ("essay", "words", "ours", "criterion", "verdict", "section")

#: The fields a claim may have besides :data:`FIELDS` (empty when it has not): how it fares
#: across networks, and the claim it is a part of.
EXTRA_FIELDS = ("networks", "part_of")

#: The fixed verdict of a claim made of parts.
FROM_PARTS = "from parts"

#: The verdicts counted as holding in ``claim.<name>.holds_in.<set>``.
HOLDING = ("holds", "holds roughly")

_PREFIX = "claim."


def claim(record, name, *, essay, words, ours, criterion, verdict, section, networks=None,
          part_of=None):
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
    networks : None or str
        How the claim fares across networks, in words (see :func:`judge`).
    part_of : None or str
        The name of the claim (one sentence of the essay) this one is a part of.
    """
    fields = {"essay": essay, "words": words, "ours": ours, "criterion": criterion,
              "verdict": verdict, "section": section}
    extra = {field: value for field, value in (("networks", networks), ("part_of", part_of))
             if value is not None}
    for field, value in {"name": name, **fields, **extra}.items():
        if not isinstance(value, str) or not value.strip():
            raise TypeError(f"{field} must be a non-empty str, got {describe(value)}")
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(map(repr, VERDICTS))}, "
                         f"got {verdict!r}")
    if essay not in ESSAYS:
        raise ValueError(f"essay must be one of {sorted(ESSAYS)}, got {essay!r}")
    _check_record("record", record)
    for field, value in {**fields, **extra}.items():
        tolerance = Varies("formatted from numbers recorded on their own") \
            if field in ("ours", "networks") else None
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
            if field in FIELDS or field in EXTRA_FIELDS:    # not the counts across networks
                rows.setdefault(name, {})[field] = entry["value"]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=[*FIELDS, *EXTRA_FIELDS])
    frame[list(EXTRA_FIELDS)] = frame[list(EXTRA_FIELDS)].fillna("")
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


def _grouped(frame):
    """The rows of ``frame`` (a frame of :func:`claims_of` or :func:`ledger`), each claim
    followed by its parts, as (row, is a part) pairs, the group where its first row was (a
    claim made of parts is recorded after them). A part whose claim is not in the frame
    stays where it is."""
    rows = list(frame.itertuples())
    if "part_of" not in frame:
        return [(row, False) for row in rows]
    page = (lambda row: row.document) if "document" in frame else (lambda row: "")
    by_key = {(page(row), row.Index): row for row in rows}

    def group(row):         # the key of the claim heading the row's group
        parent = (page(row), row.part_of)
        return parent if row.part_of and parent in by_key else (page(row), row.Index)

    parts = {}
    for row in rows:
        if group(row) != (page(row), row.Index):
            parts.setdefault(group(row), []).append(row)
    ordered = []
    for key in dict.fromkeys(group(row) for row in rows):
        head = by_key[key]
        ordered += [(head, bool(head.part_of))] + [(part, True) for part in parts.get(key, [])]
    return ordered


#: What marks a part of a claim (one sentence of an essay making several claims).
_PART = "Part: "


def _ours(row, text=str):
    """What we find, with how the claim fares across networks when it was judged so."""
    networks = getattr(row, "networks", "")
    return text(row.ours) + (f'<span class="ledger-networks">Across networks: '
                             f"{text(networks)}</span>" if networks else "")


def _rows(frame, document):
    lines = []
    for row, part in _grouped(frame):
        cells = [(_PART if part else "") + row.words, _ours(row), row.criterion,
                 f"**{row.verdict}**", _link(row.section, document)]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return lines


_COLUMNS = ("the essay says", "we find", "criterion", "verdict", "computed in")
_HEADER = ["| " + " | ".join(_COLUMNS) + " |", "|---" * len(_COLUMNS) + "|"]


def _html_rows(frame, document):
    """The rows of :func:`_rows` as HTML, for JupyterLab, whose Markdown renderer does not
    know MyST's ``{ref}``: the link goes to the notebook and the label's anchor."""
    rows = []
    for row, part in _grouped(frame):
        link = f'<a href="{escape(document)}#{escape(row.section)}">{escape(row.section)}</a>'
        if document:
            link += f" in {escape(document.rsplit('/', 1)[-1].removesuffix('.ipynb'))}"
        cells = [escape((_PART if part else "") + row.words), _ours(row, escape),
                 escape(row.criterion),
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
                raise TypeError(f"{name} must be a str, got {describe(value)}")
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
        raise TypeError(f"document must be a str, got {describe(document)}")
    entries = _check_record("record", record).entries if isinstance(record, Record) else \
        check_entries("record", record)
    return _table([(document, claims_of(entries))])


def _check_record(name, record):
    if not isinstance(record, Record):
        raise TypeError(f"{name} must be a toyviz.checks.Record, got {describe(record)}")
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
                                    f"text: {describe(source)}")
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
                        f"{describe(records)}")
    for document, entries in records.items():
        if entries is not None:
            check_entries(f"records[{document!r}]", entries)
    if sections is not None and (not isinstance(sections, dict) or not all(
            isinstance(labels, (list, tuple)) for labels in sections.values())):
        raise TypeError(f"sections must be None or a dict of document -> section labels "
                        f"(list), got {describe(sections)}")
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


#: Each verdict's label colours on the ledger page, (ink, paper): ink on paper in a light
#: theme, paper on ink in a dark one (the book's ``html[data-theme="dark"]``, JupyterLab's
#: dark themes). The label's text is the verdict, the colour only adds to it, and each pair
#: has a contrast of at least 4.5:1 (WCAG AA) either way round.
VERDICT_COLOURS = {"holds": ("#0b4d1e", "#d5f2dc"),
                   "holds roughly": ("#34500c", "#e7f3cf"),
                   "partly": ("#633f00", "#fcecc0"),
                   "too close to call": ("#4a2a7d", "#ece0fd"),
                   "does not hold": ("#8b1515", "#fde0e0"),
                   "not reproduced": ("#7a2e00", "#fde5d3"),
                   "not tested": ("#3b3f45", "#e6e8eb")}

_DARK_THEMES = ('html[data-theme="dark"]', 'body[data-jp-theme-light="false"]')

#: The ledger's style: the labels, the claims tables (a card per claim on a narrow screen,
#: its verdict first) and the filter. A hidden row stays hidden in a card.
_LEDGER_STYLE = "\n".join([
    ".ledger-verdict{display:inline-block;padding:0 .4em;border:1px solid;border-radius:.3em;"
    "font-weight:600;white-space:nowrap;color:var(--ledger-ink);background:var(--ledger-paper)}",
    ",".join(f"{dark} .ledger-verdict" for dark in _DARK_THEMES)
    + "{color:var(--ledger-paper);background:var(--ledger-ink)}",
    *(f'.ledger-verdict[data-verdict="{verdict}"]{{--ledger-ink:{ink};--ledger-paper:{paper}}}'
      for verdict, (ink, paper) in VERDICT_COLOURS.items()),
    ".ledger-claims [hidden],.ledger-filter[hidden]{display:none!important}",
    ".ledger-claims table{font-size:.92em}",
    ".ledger-claims th,.ledger-claims td{vertical-align:top;text-align:left}",
    ".ledger-summary tr>:first-child{text-align:left}",
    ".ledger-claims td:first-child{width:1%}",
    ".ledger-criterion,.ledger-where,.ledger-networks{display:block;margin-top:.3em;"
    "font-size:.9em}",
    ".ledger-part{font-weight:600;font-size:.9em}",
    ".ledger-claims tr:has([data-part])>td:nth-child(2){padding-left:1.5em}",
    ".ledger-filter{display:flex;flex-wrap:wrap;gap:.5em 1em;align-items:center;margin:1em 0}",
    ".ledger-filter select{min-height:2em;font:inherit}",
    "@media (max-width:700px){"
    ".ledger-claims table,.ledger-claims tbody,.ledger-claims tr,.ledger-claims td"
    "{display:block;width:auto!important}"
    ".ledger-claims thead{display:none}"
    ".ledger-claims tr{border-top:1px solid;padding:.5em 0}"
    ".ledger-claims td{border:none!important;padding:.15em 0!important}"
    '.ledger-claims td:nth-child(2)>p:first-child::before{content:"The essay says: ";'
    "font-weight:600}"
    '.ledger-claims td:nth-child(3)>p:first-child::before{content:"We find: ";font-weight:600}'
    ".ledger-summary table{font-size:.8em}"
    ".ledger-summary th,.ledger-summary td{padding:.25em .3em!important}"
    ".ledger-summary .ledger-verdict{white-space:normal}}"])

#: The filter's script: it shows the form (hidden until then, so that a page without
#: scripts lists every claim), then on each change hides the rows of other essays and
#: verdicts, and an essay's section when none of its rows is left, and says how many are.
_FILTER_SCRIPT = """
(function () {
  function start() {
    var form = document.querySelector('form.ledger-filter');
    if (!form || form.dataset.ready) { return; }
    form.dataset.ready = 'yes';
    var claims = Array.prototype.map.call(
      document.querySelectorAll('.ledger-claims .ledger-verdict[data-essay]'),
      function (label) {
        return {row: label.closest('tr'), essay: label.dataset.essay,
                verdict: label.dataset.verdict};
      });
    // a part's row follows its claim's, the last claim's row before it
    var parts = [], claimRow = null;
    document.querySelectorAll('.ledger-claims tbody tr').forEach(function (row) {
      if (row.querySelector('.ledger-verdict[data-part]')) {
        if (claimRow) { parts.push({row: row, claim: claimRow}); }
      } else {
        claimRow = row;
      }
    });
    var status = form.querySelector('output');
    function apply() {
      var essay = form.elements.essay.value, verdict = form.elements.verdict.value;
      var shown = 0;
      claims.forEach(function (claim) {
        var show = (!essay || claim.essay === essay) && (!verdict || claim.verdict === verdict);
        claim.row.hidden = !show;
        shown += show ? 1 : 0;
      });
      parts.forEach(function (part) { part.row.hidden = part.claim.hidden; });
      document.querySelectorAll('.ledger-claims').forEach(function (block) {
        var section = block.closest('section');
        var empty = !block.querySelector('tbody tr:not([hidden])');
        (section && !section.contains(form) ? section : block).hidden = empty;
      });
      status.textContent = 'Showing ' + shown + ' of ' + claims.length + ' claims';
    }
    form.addEventListener('change', apply);
    form.addEventListener('submit', function (event) { event.preventDefault(); });
    form.hidden = false;
    apply();
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
"""


def _label(verdict, essay=None, part=False):
    """A verdict as a coloured label; a claim's label also names its essay, which is how
    the filter finds the claims' rows, and a part's label says it is one (it is shown and
    hidden with its claim)."""
    essay = ' data-part="yes"' if part else f' data-essay="{escape(essay)}"' if essay else ""
    return (f'<span class="ledger-verdict" data-verdict="{escape(verdict)}"{essay}>'
            f"{escape(verdict)}</span>")


def _check_every(every):
    if not isinstance(every, pd.DataFrame) or not {"document", *FIELDS} <= set(every):
        raise TypeError(f"every must be what ledger() returns, got {describe(every)}")


def _filter_form():
    def select(name, label, everything, options):
        return (f'<label for="ledger-{name}">{label}</label>'
                f'<select id="ledger-{name}" name="{name}"><option value="">{everything}</option>'
                + "".join(f'<option value="{escape(option)}">{escape(option)}</option>'
                          for option in options) + "</select>")

    return ('<form class="ledger-filter" hidden aria-label="Filter the claims">'
            + select("essay", "Essay", "all three", ESSAYS)
            + select("verdict", "Verdict", "any", VERDICTS)
            + '<output aria-live="polite"></output></form>')


def ledger_summary(every):
    """The ledger's opening, from :func:`ledger`'s rows: the verdicts counted per essay (a
    row per verdict of :data:`VERDICTS`, at zero too, each as its coloured label; a column
    per essay of :data:`ESSAYS` and one for all; the claims in the last row) and, on
    the book's site, a filter by essay and by verdict for the tables of :func:`essay_table`.

    The filter is a plain form and a few lines of JavaScript in the page, so it works
    offline and from ``file://``; it stays hidden until its script runs, so that a page
    without scripts lists every claim. JupyterLab, which shows the HTML and runs no
    scripts in it, gets the table without the form. The style of the labels and of the
    claims tables (a card per claim on a narrow screen, its verdict first, see
    :data:`VERDICT_COLOURS`) comes with it, so show it before the tables. Display it as
    :func:`summary` says.
    """
    _check_every(every)
    if "part_of" in every:
        every = every[every["part_of"] == ""]      # claims, not their parts
    counts = pd.crosstab(every["verdict"], every["essay"]).reindex(
        index=list(VERDICTS), columns=list(ESSAYS), fill_value=0)
    counts["all"] = counts.sum(axis=1)
    rows = [[_label(verdict), *map(str, row)] for verdict, row in counts.iterrows()]
    totals = ["claims", *(str(total) for total in counts.sum())]
    header = ["verdict", *counts.columns]
    markdown = (["| " + " | ".join(header) + " |", "|---" + "|--:" * len(counts.columns) + "|"]
                + ["| " + " | ".join(row) + " |" for row in rows]
                + ["| " + " | ".join(f"**{cell}**" for cell in totals) + " |"])
    html = (["<table><thead><tr>" + "".join(f"<th>{escape(cell)}</th>" for cell in header)
             + "</tr></thead><tbody>"]
            + ["<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows]
            + ["<tr>" + "".join(f"<th>{cell}</th>" for cell in totals) + "</tr>",
               "</tbody></table>"])
    style = f"<style>\n{_LEDGER_STYLE}\n</style>"
    return ClaimsTable(
        "\n".join([style, "", '<div class="ledger-summary">', "", *markdown, "", "</div>", "",
                   _filter_form(), "", f"<script>{_FILTER_SCRIPT}</script>"]),
        "\n".join([style, '<div class="ledger-summary">', *html, "</div>"]))


_LEDGER_COLUMNS = ("verdict", "the essay says", "we find")


def _ledger_cells(row, link, text=str, part=False):
    """A claim's cells in the ledger: its verdict; the essay's words and where the claim is
    computed (``link``); what we find (across networks too) and the criterion. ``text``
    prepares the text; a part of a claim says so."""
    mark = f'<span class="ledger-part">{_PART.strip()}</span> ' if part else ""
    return [_label(row.verdict, row.essay, part),
            f'{mark}{text(row.words)}<span class="ledger-where">Computed in {link}</span>',
            f'{_ours(row, text)}<span class="ledger-criterion">Criterion: '
            f"{text(row.criterion)}</span>"]


def essay_table(every, essay):
    """One essay's rows of :func:`ledger`: a count of the verdicts, then a table with a row
    per claim: its verdict as a coloured label, the essay's words with a link to the
    section that computes it, and what we find with the criterion; or, when no page has
    recorded the essay's claims, a sentence saying so. Show it after
    :func:`ledger_summary`, which styles it and filters its rows on the site, and display
    it as :func:`summary` says."""
    _check_every(every)
    if not isinstance(essay, str):
        raise TypeError(f"essay must be a str, one of {sorted(ESSAYS)}, got {describe(essay)}")
    if essay not in ESSAYS:
        raise ValueError(f"essay must be one of {sorted(ESSAYS)}, got {essay!r}")
    rows = every[every["essay"] == essay]
    if rows.empty:
        sentence = "No page has recorded the claims of {} yet: its chapter has not recorded them."
        return ClaimsTable(sentence.format(f"*{ESSAYS[essay]}*"),
                           "<p>" + sentence.format(f"<em>{escape(ESSAYS[essay])}</em>") + "</p>")
    claimed = rows[rows["part_of"] == ""] if "part_of" in rows else rows
    counts = claimed["verdict"].value_counts()
    parts = len(rows) - len(claimed)
    lead = ("Verdicts: " + ", ".join(f"{verdict}: {counts[verdict]}"
                                     for verdict in VERDICTS if verdict in counts)
            + f" (of {len(claimed)} claims" + (f"; {parts} parts of them are shown under "
                                               f"them" if parts else "") + ").")
    block = f'<div class="ledger-claims" data-essay="{escape(essay)}">'
    markdown = [lead, "", block, "", "| " + " | ".join(_LEDGER_COLUMNS) + " |",
                "|---" * len(_LEDGER_COLUMNS) + "|"]
    html = [f"<p>{escape(lead)}</p>", block + "<table><thead><tr>"
            + "".join(f"<th>{column}</th>" for column in _LEDGER_COLUMNS) + "</tr></thead><tbody>"]
    for row, part in _grouped(rows):
        markdown.append("| " + " | ".join(_cell(cell) for cell in _ledger_cells(
            row, f"{{ref}}`{row.section}`", part=part)) + " |")
        page = row.document.rsplit("/", 1)[-1].removesuffix(".ipynb")
        link = (f'<a href="{escape(row.document)}#{escape(row.section)}">'
                f"{escape(row.section)}</a> in {escape(page)}")
        html.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in _ledger_cells(
            row, link, escape, part)) + "</tr>")
    return ClaimsTable("\n".join(markdown + ["", "</div>"]),
                       "\n".join(html + ["</tbody></table></div>"]))


# --------------------------------------------------------------------------- declared claims

_TOP_LEVEL = {"essay", "claim", "findings", "outcome", "networks"}
_FIELDS_OUTCOME = {"name", "case", "otherwise", "words"}
_FIELDS_DECLARED = {"name", "section", "words", "ours", "criterion", "verdict", "otherwise",
                    "across", "verdict_from", "part_of", *LEVELS}
_FIXED = ("not tested", FROM_PARTS)


def read(path):
    """The claims declared in a TOML file (see the module docstring), checked: a dict with
    ``essay`` and ``claim``, the list of claims in the file's order, and ``findings`` and
    ``outcome`` when the file has them (a page about no essay may declare only those)."""
    return _read("path", path)


def _read(name, path):
    if not isinstance(path, (str, Path)):
        raise TypeError(f"{name} must be a str or pathlib.Path, got {describe(path)}")
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
            ("essay" in declared) != ("claim" in declared) or \
            not {"claim", "findings", "outcome"} & set(declared):
        raise ValueError(f"{name} must declare `essay` and a list of [[claim]] tables, "
                         f"`findings`, [[outcome]] tables, or some of these, and nothing "
                         f"else, got {describe(declared)}")
    if not isinstance(declared.get("findings", "-"), str) or \
            not declared.get("findings", "-").strip():
        raise ValueError(f"{name}: findings must be a non-empty str, got "
                         f"{describe(declared['findings'])}")
    seen = _check_outcomes(name, declared.get("outcome", []))
    if "claim" not in declared:
        return declared
    if declared["essay"] not in ESSAYS:
        raise ValueError(f"{name}: essay must be one of {sorted(ESSAYS)}, got "
                         f"{declared['essay']!r}")
    claims = declared["claim"]
    if not isinstance(claims, list) or not claims:
        raise ValueError(f"{name}: claim must be a non-empty list of tables, got "
                         f"{describe(claims)}")
    sets = _check_networks(name, declared.get("networks", {}))
    names = {entry.get("name") for entry in claims if isinstance(entry, dict)}
    parents = {}
    for where, entry in _entries(name, "claim", claims, _FIELDS_DECLARED,
                                 ("name", "section", "words", "ours", "criterion"), seen):
        levels = [level for level in LEVELS if level in entry]
        if "verdict" in entry:
            if entry["verdict"] not in _FIXED or levels or "otherwise" in entry:
                raise ValueError(f"{where}: a fixed verdict may only be one of {_FIXED}, "
                                 f"with no conditions, got verdict {entry['verdict']!r}")
        elif not levels:
            raise ValueError(f"{where} needs conditions ({', '.join(LEVELS)}) or "
                             f"verdict = 'not tested' or 'from parts'")
        if entry.get("otherwise", OTHERWISE[0]) not in OTHERWISE:
            raise ValueError(f"{where}: otherwise must be one of {OTHERWISE}, got "
                             f"{entry['otherwise']!r}")
        for level in levels:
            _check_conditions(f"{where}: {level}", entry[level])
        _check_across(where, entry, sets, bool(levels))
        if "part_of" in entry:
            parent = entry["part_of"]
            if not isinstance(parent, str) or parent not in names or parent == entry["name"]:
                raise ValueError(f"{where}: part_of must name another declared claim, got "
                                 f"{describe(parent)}")
            parents[entry["name"]] = parent
    for where, entry in _entries(name, "claim", claims, _FIELDS_DECLARED, (), set()):
        has_parts = entry["name"] in parents.values()
        if (entry.get("verdict") == FROM_PARTS) != has_parts or entry["name"] in parents \
                and has_parts:
            raise ValueError(f"{where}: a claim with parts (part_of naming it) has verdict = "
                             f"{FROM_PARTS!r}, and only it; a part has no parts of its own")
    return declared


def _check_networks(name, networks):
    """The ``[networks]`` table checked: set name -> its label; the set names."""
    # one line each: a `findings = """..."""` written after the [networks] header would
    # otherwise be read as a set
    if not isinstance(networks, dict) or not all(
            isinstance(label, str) and label.strip() and "\n" not in label
            for label in networks.values()):
        raise ValueError(f"{name}: networks must be a table of set name -> label (a "
                         f"non-empty line of text; a key written after the [networks] "
                         f"header belongs to it), got {describe(networks)}")
    clashes = sorted(set(networks) & {*FIELDS, *EXTRA_FIELDS})
    if clashes:
        raise ValueError(f"{name}: networks may not be named {clashes}, which are fields")
    return set(networks)


def _check_across(where, entry, sets, judged):
    """A claim's ``across`` and ``verdict_from`` checked against the declared sets."""
    across = entry.get("across")
    if across is not None and (not judged or not isinstance(across, list) or not across
                               or not set(across) <= sets or len(set(across)) < len(across)):
        raise ValueError(f"{where}: across must be a list of distinct sets declared under "
                         f"[networks] ({sorted(sets)}), on a claim with conditions, got "
                         f"{describe(across)}")
    if "verdict_from" in entry and entry["verdict_from"] not in (across or []):
        raise ValueError(f"{where}: verdict_from must be one of the claim's across sets "
                         f"{across or []}, got {describe(entry['verdict_from'])}")


def _entries(name, kind, entries, known, required, seen):
    """The ``[[claim]]`` or ``[[outcome]]`` tables (``kind``) of ``entries``, each as
    (where, table), checked for their fields and for a name not in ``seen`` (which
    collects them)."""
    for index, entry in enumerate(entries):
        where = f"{name}: {kind} {index}"
        if not isinstance(entry, dict):
            raise TypeError(f"{where} must be a table, got {describe(entry)}")
        where = f"{name}: {kind} {entry.get('name', index)!r}"
        unknown = sorted(set(entry) - known)
        if unknown:
            raise ValueError(f"{where} has unknown fields {unknown}; known: {sorted(known)}")
        for field in required:
            if not isinstance(entry.get(field), str) or not entry[field].strip():
                raise ValueError(f"{where} needs {field}, a non-empty str, got "
                                 f"{describe(entry.get(field))}")
        if entry["name"] in seen:
            raise ValueError(f"{where} is declared twice (as a claim or an outcome)")
        seen.add(entry["name"])
        yield where, entry


def _check_outcomes(name, outcomes):
    """Check the ``[[outcome]]`` tables; the set of their names."""
    if not isinstance(outcomes, list):
        raise ValueError(f"{name}: outcome must be a list of [[outcome]] tables, got "
                         f"{describe(outcomes)}")
    seen = set()
    for where, entry in _entries(name, "outcome", outcomes, _FIELDS_OUTCOME,
                                 ("name", "otherwise"), seen):
        cases = entry.get("case")
        if not isinstance(cases, list) or not cases:
            raise ValueError(f"{where} needs case, a non-empty list of [[outcome.case]] "
                             f"tables, got {describe(cases)}")
        for case in cases:
            if not isinstance(case, dict) or set(case) != {"say", "when"} or \
                    not isinstance(case["say"], str) or not case["say"].strip():
                raise ValueError(f"{where}: a case needs `say` (a non-empty str) and `when` "
                                 f"(a list of conditions), and nothing else, got "
                                 f"{describe(case)}")
            _check_conditions(f"{where}, case {case['say']!r}, when", case["when"])
        says = {case["say"] for case in cases} | {entry["otherwise"], TOO_CLOSE}
        for suffix, words in _wordings(entry).items():
            if not isinstance(words, dict) or not all(
                    isinstance(text, str) and text.strip() for text in words.values()):
                raise ValueError(f"{where}: words must be a table of outcome -> sentence, or "
                                 f"of tables of them, got {describe(entry['words'])}")
            if set(words) != says:
                raise ValueError(f"{where}: words{'' if suffix == 'words' else '.' + suffix} "
                                 f"must give a sentence for each outcome it can have, "
                                 f"{sorted(says)}, got {sorted(words)}")
    return seen


def _wordings(entry):
    """An outcome's sentence tables by the suffix they are recorded under: ``words``, or
    the names of the tables in ``words``."""
    words = entry.get("words", {})
    if isinstance(words, dict) and words and all(isinstance(v, dict) for v in words.values()):
        return words
    return {"words": words} if "words" in entry else {}


def _check_conditions(where, conditions):
    if not isinstance(conditions, list) or not conditions:
        raise ValueError(f"{where} must be a non-empty list of conditions, got "
                         f"{describe(conditions)}")
    for condition in conditions:
        _check_condition(where, condition)


def _check_condition(where, condition):
    if not isinstance(condition, dict):
        raise TypeError(f"{where}: a condition must be a table, got {describe(condition)}")
    combined = [key for key in COMBINATIONS if key in condition]
    if combined:
        if len(condition) != 1:
            raise ValueError(f"{where}: a condition with `{combined[0]}` has nothing else, "
                             f"got {sorted(condition)}")
        _check_conditions(f"{where}, {combined[0]}", condition[combined[0]])
        return
    compare = [key for key in COMPARISONS if key in condition]
    unknown = sorted(set(condition) - {"value", "margin", *COMPARISONS})
    if len(compare) != 1 or unknown or "value" not in condition:
        raise ValueError(f"{where}: a condition needs `value` and one of "
                         f"{', '.join(COMPARISONS)} (and optionally `margin`), or is "
                         f"`any` or `all` of conditions, got {sorted(condition)}")
    names = condition["value"]
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not names or not all(
            isinstance(value, str) for value in names):
        raise ValueError(f"{where}: value must name a recorded number, or be a list of "
                         f"names, got {describe(condition['value'])}")
    threshold = condition[compare[0]]
    if not isinstance(threshold, (str, numbers.Real)) or isinstance(threshold, bool):
        raise ValueError(f"{where}: {compare[0]} must be a number or a recorded number's "
                         f"name, got {describe(threshold)}")
    margin = condition.get("margin", 0)
    if not isinstance(margin, numbers.Real) or isinstance(margin, bool) or margin < 0:
        raise ValueError(f"{where}: margin must be a number >= 0, got {describe(margin)}")


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
    return {name: from_plain(entry["value"]) for name, entry in record.entries.items()
            if entry["type"] in ("number", "text")}


def _number(values, name, where):
    value = values.get(name)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{where} needs {name!r}, a recorded number, got "
                         f"{describe(value)}")
    return value


def _combined(answers, combination):
    """``all`` or ``any`` of three-valued answers (None: undecided)."""
    if combination == "all":
        return False if False in answers else None if None in answers else True
    return True if True in answers else None if None in answers else False


def _meets(values, condition, where):
    """True, False, or None when a value lies within the margin of its threshold."""
    for combination in COMBINATIONS:
        if combination in condition:
            return _combined([_meets(values, part, where) for part in condition[combination]],
                             combination)
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
    return _combined(answers, "all")


def _verdict_of(values, entry, where="claim"):
    """The verdict of one declared claim over ``values`` (name -> recorded value)."""
    if "verdict" in entry:
        return entry["verdict"]
    for level, verdict in LEVELS.items():
        if level not in entry:
            continue
        met = _combined([_meets(values, condition, f"{where}, {level}")
                         for condition in entry[level]], "all")
        if met is not False:
            return TOO_CLOSE if met is None else verdict
    return entry.get("otherwise", OTHERWISE[0])


def _outcome_of(values, entry, where):
    """The outcome of one declared ``[[outcome]]`` over ``values``."""
    for case in entry["case"]:
        met = _combined([_meets(values, condition, f"{where}, case {case['say']!r}")
                         for condition in case["when"]], "all")
        if met is not False:
            return TOO_CLOSE if met is None else case["say"]
    return entry["otherwise"]


def _declared(declared):
    return _read("declared", declared) if isinstance(declared, (str, Path)) else \
        _check_declared("declared", declared)


def decide(declared, name, values):
    """The outcome ``name`` declared in ``declared`` (what :func:`read` returns, or its
    path), decided from ``values``: a :class:`~toyviz.checks.Record`, or a dict of name ->
    number (e.g. one row of a table). Nothing is recorded.

    Returns
    -------
    str
        One case's ``say``, the outcome's ``otherwise``, or "too close to call".
    """
    declared = _declared(declared)
    outcome = _entry_named({entry["name"]: entry for entry in declared.get("outcome", [])},
                           name, "outcome")
    if isinstance(values, Record):
        values = _values(values)
    elif not _is_values(values):
        raise TypeError(f"values must be a toyviz.checks.Record or a dict of name -> number, "
                        f"got {describe(values)}")
    return _outcome_of(values, outcome, f"outcome {name!r}")


def _entry_named(entries, name, kind):
    """The entry of ``entries`` (name -> declared entry, each a ``kind``) called ``name``."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str naming a declared {kind}, got {describe(name)}")
    if name not in entries:
        raise ValueError(f"name must be a declared {kind}, one of {sorted(entries)}, got "
                         f"{name!r}")
    return entries[name]


def _is_values(values):
    """Whether ``values`` is a dict of value name -> number, as one network's values are."""
    return isinstance(values, dict) and all(isinstance(key, str) for key in values)


def _check_networks_values(networks, sets):
    """``networks`` (set -> list of dicts of name -> number) checked against the sets the
    claims to judge are judged across."""
    if networks is None:
        networks = {}
    if not isinstance(networks, dict) or not all(
            isinstance(values, (list, tuple)) and values and all(map(_is_values, values))
            for values in networks.values()):
        raise TypeError(f"networks must be None or a dict of set name -> a non-empty list of "
                        f"dicts (value name -> number), one per network, got "
                        f"{describe(networks)}")
    missing = sorted(set(sets) - set(networks))
    if missing:
        raise ValueError(f"networks must give every set the claims to judge are judged "
                         f"across, {sorted(sets)}; missing {missing}")
    return networks


def _per_network(values, entry, where, networks):
    """The verdict of a claim or outcome on each network of ``networks`` (a list of dicts),
    a name a network lacks read from ``values``."""
    judge_one = _outcome_of if "case" in entry else _verdict_of
    return [judge_one({**values, **one}, entry, f"{where}, network {index}")
            for index, one in enumerate(networks)]


_RANK = {verdict: rank for rank, verdict in enumerate(VERDICTS)}


def median_verdict(verdicts):
    """The best verdict that at least half of ``verdicts`` reach, in the order of
    :data:`VERDICTS` (for an even count, the worse of the two middle ones)."""
    if not isinstance(verdicts, (list, tuple)) or not verdicts or \
            not all(verdict in _RANK for verdict in verdicts):
        raise ValueError(f"verdicts must be a non-empty list of verdicts, each one of "
                         f"{VERDICTS}, got {describe(verdicts)}")
    ranked = sorted(verdicts, key=_RANK.__getitem__)
    return ranked[(len(ranked) + 1) // 2 - 1]


def counted(verdicts):
    """``verdicts`` in words: each verdict with its count, best first, then the total:
    "holds in 7 and partly in 3 of 10 networks"."""
    if not isinstance(verdicts, (list, tuple)) or not verdicts:
        raise ValueError(f"verdicts must be a non-empty list of verdicts or outcomes, got "
                         f"{describe(verdicts)}")
    counts = {}
    for verdict in sorted(verdicts, key=lambda verdict: _RANK.get(verdict, len(_RANK))):
        counts[verdict] = counts.get(verdict, 0) + 1
    network = "network" if len(verdicts) == 1 else "networks"
    each = [f"{verdict} in {count}" for verdict, count in counts.items()]
    listed = each[0] if len(each) == 1 else ", ".join(each[:-1]) + " and " + each[-1]
    return f"{listed} of {len(verdicts)} {network}"


def parts_verdict(verdicts):
    """The verdict of a claim made of parts with these verdicts (see the module
    docstring)."""
    if not isinstance(verdicts, (list, tuple)) or not verdicts or \
            not all(verdict in _RANK for verdict in verdicts):
        raise ValueError(f"verdicts must be a non-empty list of verdicts, each one of "
                         f"{VERDICTS}, got {describe(verdicts)}")
    tested = [verdict for verdict in verdicts if verdict != "not tested"] or list(verdicts)
    if len(set(tested)) == 1:
        return tested[0]
    holding = [verdict for verdict in tested if _RANK[verdict] <= _RANK["partly"]]
    failing = [verdict for verdict in tested if verdict in OTHERWISE]
    if not failing:
        return TOO_CLOSE if TOO_CLOSE in tested else max(holding, key=_RANK.__getitem__)
    return "partly" if holding else failing[0]


def tally(declared, name, networks):
    """The verdict of the claim, or the outcome, ``name`` on each network.

    Parameters
    ----------
    declared : dict
        What :func:`read` returns (or its path).
    name : str
        A declared claim with conditions, or a declared outcome.
    networks : list of dict
        One dict of name -> number per network, holding every value the conditions name.

    Returns
    -------
    list of str
        The verdicts (or outcomes), one per network, in order.
    """
    declared = _declared(declared)
    entries = {entry["name"]: entry for entry in declared.get("claim", [])
               if "verdict" not in entry}
    entries.update({entry["name"]: entry for entry in declared.get("outcome", [])})
    entry = _entry_named(entries, name, "claim with conditions or an outcome")
    if not isinstance(networks, (list, tuple)) or not networks or not all(
            map(_is_values, networks)):
        raise TypeError(f"networks must be a non-empty list of dicts (value name -> number), "
                        f"one per network, got {describe(networks)}")
    return _per_network({}, entry, repr(name), networks)


def judge(record, declared, names=None, networks=None):
    """Judge declared claims from the record and record each with its verdict.

    Parameters
    ----------
    record : toyviz.checks.Record
        Holds every number the claims' conditions, ``ours`` and ``criterion`` name.
    declared : dict
        What :func:`read` returns (or a path to such a file).
    names : None or list of str
        The claims and outcomes to judge now (for prose that quotes a verdict before the
        chapter's end); None judges every declared claim not yet recorded (an outcome is
        judged only when named). A claim made of parts is judged after its parts, which
        must be recorded by then or judged in the same call.
    networks : None or dict
        Set name (declared under ``[networks]``) -> a list of dicts of name -> number, one
        per network: the values the claims judged ``across`` that set are judged on,
        network by network. It must give every set the claims judged now name.

    Returns
    -------
    dict
        Claim or outcome name -> verdict or outcome, for those judged now.
    """
    _check_record("record", record)
    declared = _declared(declared)
    entries = {entry["name"]: entry for entry in declared.get("claim", [])}
    outcomes = {entry["name"]: entry for entry in declared.get("outcome", [])}
    if names is None:
        names = [name for name in entries if f"{_PREFIX}{name}.verdict" not in record.entries]
    elif not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"names must be None or a list of claim names, got {describe(names)}")
    unknown = [name for name in names if name not in entries and name not in outcomes]
    if unknown:
        raise ValueError(f"names {unknown} are not declared; declared: "
                         f"{list(entries) + list(outcomes)}")
    networks = _check_networks_values(networks, {
        one for name in names for one in entries.get(name, {}).get("across", [])})
    # a claim made of parts after its parts
    names = sorted(names, key=lambda name: entries.get(name, {}).get("verdict") == FROM_PARTS)
    values = _values(record)
    verdicts = {}
    for name in names:
        if name in outcomes:
            verdicts[name] = _record_outcome(record, values, outcomes[name])
            values = _values(record)
            continue
        verdicts[name] = _record_claim(record, values, declared, entries[name], networks)
        values = _values(record)
    return verdicts


def _record_claim(record, values, declared, entry, networks):
    """Judge one declared claim, record it with its verdict; the verdict."""
    name, where = entry["name"], f"claim {entry['name']!r}"
    labels = declared.get("networks", {})
    if entry.get("verdict") == FROM_PARTS:
        parts = [part["name"] for part in declared["claim"] if part.get("part_of") == name]
        missing = [part for part in parts if f"{_PREFIX}{part}.verdict" not in values]
        if missing:
            raise ValueError(f"{where} is judged from its parts, and {missing} are not "
                             f"judged yet: judge them first, or in the same call")
        verdict = parts_verdict([values[f"{_PREFIX}{part}.verdict"] for part in parts])
    else:
        verdict = _verdict_of(values, entry, where)
    sentences = []
    for one in entry.get("across", []):
        each = _per_network(values, entry, where, networks[one])
        holding = sum(verdict in HOLDING for verdict in each)
        record.number(f"{_PREFIX}{name}.holds_in.{one}", holding, Count(1))
        record.number(f"{_PREFIX}{name}.of.{one}", len(each), Count(0))
        sentences.append(f"{labels[one]}: {counted(each)}")
        if entry.get("verdict_from") == one:
            verdict = median_verdict(each)
    ours, criterion = (_RecordFormatter(values, f"{where}: {field}").format(entry[field])
                       for field in ("ours", "criterion"))
    claim(record, name, essay=declared["essay"], words=entry["words"], ours=ours,
          criterion=criterion, verdict=verdict, section=entry["section"],
          networks="; ".join(sentences) or None, part_of=entry.get("part_of"))
    return verdict


def _record_outcome(record, values, entry):
    """Decide an outcome, record it under its name and its sentences (if it has
    ``words``) under ``<name>_words`` or ``<name>_<way>``; the outcome."""
    name = entry["name"]
    outcome = _outcome_of(values, entry, f"outcome {name!r}")
    record.text(name, outcome)
    for suffix, words in _wordings(entry).items():
        sentence = _RecordFormatter(values, f"outcome {name!r}: words").format(words[outcome])
        record.text(f"{name}_{suffix}", sentence,
                    Varies("formatted from numbers recorded on their own"))
    return outcome


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
                raise TypeError(f"{name} must be a non-empty str, got {describe(value)}")
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
        declared = _declared(declared)
        if "findings" not in declared:
            raise ValueError("declared has no `findings` to fill the box with")
        self.text = _RecordFormatter(_values(record), "findings").format(declared["findings"])
        # recorded under the glue key, as every glued value is; its numbers are recorded
        # on their own and compared there
        record.text(self.key, self.text, Varies("formatted from numbers recorded on their own"))
        from IPython.display import HTML

        from toyviz.checks import glue_value

        glue_value(self.key, HTML(self.html(self.text)))
        self._handle.update(self._bundle(self.text), raw=True)
