"""The ledger page of the built book in headless Chromium (issue 23, part 5), at 1280x800
and on a 390x844 phone: the summary is on the first screen and counts what the ledger's
record holds; the filter by essay and by verdict shows exactly the record's claims of that
essay and verdict, with the mouse and with the keyboard, served or opened from file://; a
page without scripts lists every claim; every claim's verdict is within the screen's width;
the verdict labels keep a contrast of 4.5:1 in the light and the dark theme.

The ledger's record is read from the notebook the site was built from (the build's
``jupyter_execute``, or the committed one). The fixtures are tests/test_browser.py's
(TOYVIZ_SITE points them at a book built elsewhere); under CI=true a missing browser or
built book is a failure, not a skip.
"""

import collections

import nbformat
import pytest
from playwright.sync_api import expect

from test_browser import ROOT, SITE, Visit, book, serve  # noqa: F401 (fixtures)
from toyviz import checks, claims

pytestmark = pytest.mark.browser

PAGE = "book/ledger.html"
SCREENS = {"laptop": (1280, 800), "phone": (390, 844)}
MIN_CONTRAST = 4.5

# Each claim row on the page: its essay and verdict as its label names them, whether it is
# shown, and where its label is.
_ROWS = """() => Array.from(document.querySelectorAll('.ledger-claims .ledger-verdict[data-essay]'),
  (label) => { const box = label.getBoundingClientRect();
    return {essay: label.dataset.essay, verdict: label.dataset.verdict,
            shown: label.closest('tr').getClientRects().length > 0 && box.height > 0,
            left: box.left, right: box.right}; })"""

# The summary table: each row's cell texts, and where the table is.
_SUMMARY = """() => { const table = document.querySelector('.ledger-summary table');
  if (!table) { return null; }
  return {top: table.getBoundingClientRect().top + window.scrollY,
          first: table === document.querySelector('article table'),
          rows: Array.from(table.querySelectorAll('tr'),
                           (row) => Array.from(row.cells, (cell) => cell.innerText.trim()))}; }"""

# Each summary label's text colour and background as the browser computes them.
_COLOURS = """() => Array.from(document.querySelectorAll('.ledger-summary .ledger-verdict'),
  (label) => { const style = getComputedStyle(label);
    return [label.dataset.verdict, style.color, style.backgroundColor]; })"""


@pytest.fixture(scope="module")
def recorded():
    """(essay, verdict) of every claim in the ledger's record, in the page's order; the
    parts of a claim are not claims (they are shown under it)."""
    executed = SITE.parent / "jupyter_execute" / "book" / "ledger.ipynb"
    path = executed if executed.exists() else ROOT / "book" / "ledger.ipynb"
    table = checks.record_of(nbformat.read(path, as_version=4))["ledger"]
    essay, verdict, part_of = (table["columns"].index(column)
                               for column in ("essay", "verdict", "part_of"))
    return [(row[essay], row[verdict]) for row in table["cells"] if not row[part_of]]


# Each part's row, and whether it and the row of the claim it belongs to (the last claim's
# row before it) are shown.
_PARTS = """() => { let claim = null; const parts = [];
  document.querySelectorAll('.ledger-claims tbody tr').forEach((row) => {
    if (row.querySelector('.ledger-verdict[data-part]')) {
      parts.push([row.getClientRects().length > 0, claim.getClientRects().length > 0]);
    } else { claim = row; } });
  return parts; }"""


@pytest.fixture(params=list(SCREENS))
def ledger(request, browser, book):
    """The ledger page opened on a screen of ``SCREENS``; no console error, no request to
    another host, by the end of the test."""
    html, base = book
    if not (html / PAGE).exists():
        pytest.fail(f"{PAGE} is missing from the built book {html}")
    visit = Visit(browser, base, PAGE)
    visit.page.set_viewport_size(dict(zip(("width", "height"), SCREENS[request.param])))
    yield visit.page
    assert visit.unexpected_errors() == [], f"{PAGE}: console errors"
    assert visit.blocked == [], f"{PAGE}: requests to other hosts"
    visit.close()


def shown_claims(page):
    return collections.Counter((row["essay"], row["verdict"])
                               for row in page.evaluate(_ROWS) if row["shown"])


def test_the_summary_opens_the_page_and_counts_the_record(ledger, recorded):
    summary = ledger.evaluate(_SUMMARY)
    assert summary is not None, "no summary table (.ledger-summary)"
    assert summary["first"], "the summary is not the page's first table"
    assert summary["top"] < ledger.viewport_size["height"], \
        f"the summary starts at {summary['top']:.0f} px, below the first screen"
    header, *rows, totals = summary["rows"]
    essays = list(claims.ESSAYS)
    assert header == ["verdict", *essays, "all"]
    counted = collections.Counter(recorded)
    assert [row[0] for row in rows] == list(claims.VERDICTS)
    for verdict, *cells in rows:
        expected = [counted[essay, verdict] for essay in essays]
        assert [int(cell) for cell in cells] == [*expected, sum(expected)], verdict
    per_essay = collections.Counter(essay for essay, _ in recorded)
    assert [int(cell) for cell in totals[1:]] == [*(per_essay[e] for e in essays), len(recorded)]


def test_the_filter_shows_exactly_the_records_claims_of_an_essay_and_a_verdict(ledger, recorded):
    essay_menu, verdict_menu = ledger.get_by_label("Essay", exact=True), ledger.get_by_label("Verdict", exact=True)
    expect(essay_menu).to_be_visible()
    expect(verdict_menu).to_be_visible()
    status = ledger.locator("form.ledger-filter output")
    assert shown_claims(ledger) == collections.Counter(recorded)
    assert ledger.evaluate(_PARTS), "no part of a claim on the page"
    for essay in ["", *claims.ESSAYS]:
        essay_menu.select_option(essay)
        for verdict in ["", *claims.VERDICTS]:
            verdict_menu.select_option(verdict)
            expected = collections.Counter(
                claim for claim in recorded
                if essay in ("", claim[0]) and verdict in ("", claim[1]))
            expect(status).to_have_text(
                f"Showing {sum(expected.values())} of {len(recorded)} claims")
            assert shown_claims(ledger) == expected, (essay, verdict)
            # a part is shown exactly when its claim is
            parts = ledger.evaluate(_PARTS)
            assert all(part == claim for part, claim in parts), (essay, verdict, parts)
            # an essay with no claim left shows no section, and the others theirs
            sections = ledger.evaluate("""() => Array.from(
                document.querySelectorAll('.ledger-claims'), (block) => [
                  block.dataset.essay, block.getClientRects().length > 0])""")
            assert {name for name, visible in sections if visible} == {
                name for name, _ in expected}, (essay, verdict)


def test_the_filter_works_from_the_keyboard(ledger, recorded):
    menu = ledger.get_by_label("Verdict", exact=True)
    menu.focus()
    ledger.keyboard.press("ArrowDown")            # "any" -> the first verdict
    expect(menu).to_have_value(claims.VERDICTS[0])
    assert ledger.evaluate("() => document.activeElement.id") == "ledger-verdict"
    assert shown_claims(ledger) == collections.Counter(
        claim for claim in recorded if claim[1] == claims.VERDICTS[0])


def test_every_claims_verdict_is_within_the_screens_width(ledger, recorded):
    width = ledger.viewport_size["width"]
    rows = ledger.evaluate(_ROWS)
    assert len(rows) == len(recorded)
    outside = [row for row in rows if not (row["shown"] and 0 <= row["left"]
                                           and row["right"] <= width)]
    assert not outside, f"{len(outside)} verdicts outside 0..{width} px, first: {outside[0]}"


def luminance(rgb):
    channels = [int(part) / 255 for part in rgb[rgb.index("(") + 1:-1].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_the_verdict_labels_keep_their_contrast_in_light_and_dark(ledger):
    papers = {}
    for theme in ("light", "dark"):
        ledger.evaluate("(theme) => { document.documentElement.dataset.theme = theme; }", theme)
        colours = ledger.evaluate(_COLOURS)
        assert [verdict for verdict, _, _ in colours] == list(claims.VERDICTS)
        for verdict, text, paper in colours:
            light, dark = sorted((luminance(text), luminance(paper)), reverse=True)
            assert (light + 0.05) / (dark + 0.05) >= MIN_CONTRAST, (theme, verdict, text, paper)
            papers[theme, verdict] = luminance(paper)
    assert all(papers["dark", verdict] < papers["light", verdict]
               for verdict in claims.VERDICTS), "the dark theme keeps the light labels"


def test_without_scripts_every_claim_is_listed_and_no_menu_shows(browser, book, recorded):
    html, base = book
    context = browser.new_context(java_script_enabled=False, viewport={
        "width": SCREENS["phone"][0], "height": SCREENS["phone"][1]})
    try:
        page = context.new_page()
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
            base) else route.abort())
        page.goto(base + PAGE, wait_until="load")
        expect(page.locator("form.ledger-filter")).to_be_hidden()
        expect(page.locator(".ledger-claims tbody tr:has([data-essay])")).to_have_count(
            len(recorded))
        rows = page.locator(".ledger-claims tbody tr")     # the claims and their parts
        assert all(rows.nth(index).is_visible() for index in range(rows.count()))
    finally:
        context.close()


def test_the_filter_works_from_file(browser, book, recorded):
    html, _ = book
    context = browser.new_context(viewport={"width": SCREENS["laptop"][0],
                                            "height": SCREENS["laptop"][1]})
    try:
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto((html / PAGE).resolve().as_uri(), wait_until="load")
        essay, verdict = recorded[-1]
        page.get_by_label("Essay", exact=True).select_option(essay)
        page.get_by_label("Verdict", exact=True).select_option(verdict)
        assert shown_claims(page) == collections.Counter(
            claim for claim in recorded if claim == (essay, verdict))
        assert errors == []
    finally:
        context.close()
