"""toyviz.claims: a claim is recorded with its verdict, and the closing lists and the
ledger are drawn from the same entries."""

import nbformat
import pytest

from toyviz import checks, claims


def record_with(*rows):
    record = checks.Record()
    for name, essay, verdict, section in rows:
        claims.claim(record, name, essay=essay, words=f"words of {name} | with a bar",
                     ours="ours", criterion="criterion", verdict=verdict, section=section)
    return record


def test_claims_round_trip_through_a_record_and_keep_their_order():
    record = record_with(("b", "relevance", "holds", "sec-b"), ("a", "relevance", "partly", "sec-a"))
    frame = claims.claims_of(record.entries)
    assert list(frame.index) == ["b", "a"]
    assert list(frame.columns) == list(claims.FIELDS)
    assert frame.loc["a", "verdict"] == "partly"


def test_bad_claims_are_refused_naming_the_field():
    with pytest.raises(ValueError, match="verdict"):
        record_with(("a", "relevance", "maybe", "sec"))
    with pytest.raises(TypeError, match="section"):
        claims.claim(checks.Record(), "a", essay="relevance", words="w", ours="o",
                     criterion="c", verdict="holds", section="")


def test_summary_links_each_claim_to_its_section_and_escapes_bars():
    table = claims.summary(record_with(("a", "relevance", "holds", "sec-a")), "relevance.ipynb")
    text = table.markdown
    assert "{ref}`sec-a` in [relevance](relevance.ipynb)" in text
    assert "[](#sec-a)" in claims.summary(record_with(("a", "relevance", "holds", "sec-a"))).markdown
    assert "words of a \\| with a bar" in text
    assert "**holds**" in text


def test_jupyterlab_gets_html_without_myst_roles():
    """JupyterLab shows the HTML of the bundle, whose Markdown renderer would print MyST's
    {ref} as text; the book shows the Markdown (_config.yml ranks it first)."""
    table = claims.summary(record_with(("a", "relevance", "holds", "sec-a")), "relevance.ipynb")
    bundle = table._repr_mimebundle_()
    assert bundle["text/markdown"] == table.markdown
    html = bundle["text/html"]
    assert "{ref}" not in html and "**" not in html
    assert '<a href="relevance.ipynb#sec-a">sec-a</a> in relevance' in html
    assert "words of a | with a bar" in html and "<strong>holds</strong>" in html
    assert html.count("<tr>") == 2   # the header and one claim


def test_ledger_orders_claims_by_section_and_says_when_an_essay_has_none():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("(sec-a)=\n## A"),
        nbformat.v4.new_markdown_cell("text\n\n(sec-b)=\n### B")])
    assert claims.section_labels(notebook) == ["sec-a", "sec-b"]
    entries = record_with(("late", "relevance", "holds", "sec-b"),
                          ("early", "relevance", "does not hold", "sec-a")).entries
    every = claims.ledger({"relevance.ipynb": entries, "empty.ipynb": None},
                          sections={"relevance.ipynb": claims.section_labels(notebook)})
    assert list(every.index) == ["early", "late"]
    assert set(every["document"]) == {"relevance.ipynb"}
    table = claims.essay_table(every, "relevance").markdown
    assert "does not hold: 1" in table and "holds: 1" in table
    assert table.index("sec-a") < table.index("sec-b")
    assert "has not recorded them" in claims.essay_table(every, "pruning").markdown
    with pytest.raises(ValueError, match="essay"):
        claims.essay_table(every, "elsewhere")
    with pytest.raises(ValueError, match="essay"):
        record_with(("a", "unknown essay", "holds", "s"))
    entries = record_with(("a", "relevance", "holds", "s")).entries
    entries["claim.a.essay"]["value"] = "unknown essay"  # as a notebook could have stored it
    with pytest.raises(ValueError, match="essays"):
        claims.ledger({"x.ipynb": entries})
