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
"""

import pandas as pd

from toyviz._checks import _describe
from toyviz.checks import Varies

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
    for field, value in fields.items():
        tolerance = Varies("formatted from numbers recorded on their own") \
            if field == "ours" else None
        record.text(f"{_PREFIX}{name}.{field}", value, tolerance)


def claims_of(entries):
    """The claims in a record's entries (a :class:`~toyviz.checks.Record`'s ``entries``, or
    what :func:`toyviz.checks.record_of` returns), one row per claim in the order they were
    made, with the columns :data:`FIELDS`."""
    if not isinstance(entries, dict):
        raise TypeError(f"entries must be a record's entries (dict), got "
                        f"{_describe(entries)}")
    rows = {}
    for key, entry in entries.items():
        if key.startswith(_PREFIX):
            name, _, field = key[len(_PREFIX):].rpartition(".")
            rows.setdefault(name, {})[field] = entry["value"]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(FIELDS))
    frame.index.name = "claim"
    return frame


def summary(record, document=""):
    """The chapter's closing list: its claims and verdicts as a Markdown table, each linked
    to the section that computes it (in ``document``, a path relative to the page showing
    the table; empty for the chapter itself)."""
    if not isinstance(document, str):
        raise TypeError(f"document must be a str, got {_describe(document)}")
    frame = claims_of(getattr(record, "entries", record))
    lines = ["| the essay says | we find | criterion | verdict |", "|---|---|---|---|"]
    for row in frame.itertuples():
        cells = [f"{row.words} ([where]({document}#{row.section}))", row.ours,
                 row.criterion, f"**{row.verdict}**"]
        lines.append("| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ")
                                       for cell in cells) + " |")
    from IPython.display import Markdown

    return Markdown("\n".join(lines))
