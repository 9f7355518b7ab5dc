"""The essays' claims, each with the verdict a chapter computed for it.

A chapter states a claim where it computes the verdict::

    claims.claim(record, "loss_lognormal", essay="node removal",
                 words="a reasonably good approximation",
                 ours=f"KS distance {ks:.3f} [{low:.3f}, {high:.3f}]",
                 criterion="KS distance below 0.05 at every p",
                 verdict="holds" if ... else "does not hold",
                 section="lognormal")

The claim lives in the chapter's :class:`~toyviz.checks.Record`, so the checks compare its
verdict exactly with a fresh execution (the formatted numbers in ``ours`` are recorded on
their own and are not compared as text). The chapter's closing list (:func:`summary`) and
the book's ledger page (:func:`claims_of` on the committed chapters) are drawn from the same
entries, so they cannot drift apart.

Introduced in :doc:`/book/node_removal`, whose closing list is the first; the
:doc:`/book/ledger` gathers the claims of all chapters.
"""

import re
from html import escape

import pandas as pd

from toyviz._checks import _describe
from toyviz.checks import Record, Varies, check_entries, check_notebook

#: The verdicts a claim can get. "not reproduced": the book ran the essay's experiment and
#: did not see what the essay saw; "not tested": the book has no computation for it (the
#: ``ours`` field then says why).
VERDICTS = ("holds", "holds roughly", "partly", "does not hold", "not reproduced",
            "not tested")

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
