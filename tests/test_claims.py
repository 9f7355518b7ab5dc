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
    assert list(frame.columns) == [*claims.FIELDS, *claims.EXTRA_FIELDS]
    assert (frame[list(claims.EXTRA_FIELDS)] == "").all().all()
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


# --------------------------------------------------------------------------- declared claims

from hypothesis import given, strategies as st  # noqa: E402


def declared(*entries):
    return {"essay": "node removal", "claim": [
        {"section": "s", "words": "the essay's words", "ours": "ours", "criterion": "c",
         **entry} for entry in entries]}


def numbers_record(**values):
    record = checks.Record()
    for name, value in values.items():
        record.number(name, value, checks.Relative())
    return record


def reference_verdict(values, entry):
    """The rule of the module docstring, written out plainly: a slow reference."""
    def meets(condition):
        if "all" in condition or "any" in condition:
            answers = [meets(part) for part in condition.get("all", condition.get("any"))]
            if "all" in condition:
                return False if False in answers else None if None in answers else True
            return True if True in answers else None if None in answers else False
        (kind, threshold), = [(k, v) for k, v in condition.items() if k in claims.COMPARISONS]
        threshold = values[threshold] if isinstance(threshold, str) else threshold
        names = condition["value"] if isinstance(condition["value"], list) else [condition["value"]]
        answers = []
        for name in names:
            value = values[name]
            if abs(value - threshold) < condition.get("margin", 0):
                answers.append(None)
            else:
                answers.append({"above": value > threshold, "below": value < threshold,
                                "at_least": value >= threshold,
                                "at_most": value <= threshold}[kind])
        return False if False in answers else None if None in answers else True

    for level, verdict in (("holds", "holds"), ("holds_roughly", "holds roughly"),
                           ("partly", "partly")):
        if level in entry:
            met = [meets(condition) for condition in entry[level]]
            if False not in met:
                return "too close to call" if None in met else verdict
    return entry.get("otherwise", "does not hold")


comparisons = st.builds(
    lambda value, kind, threshold, margin: {"value": value, kind: threshold, "margin": margin},
    st.sampled_from(["a", "b", ["a", "b"]]), st.sampled_from(list(claims.COMPARISONS)),
    st.one_of(st.sampled_from([0.0, 1.0, -1.0, "c"]), st.floats(-3, 3)),
    st.sampled_from([0.0, 0.1, 1.0]))
# comparisons, and `any`/`all` of them, nested
conditions = st.recursive(comparisons, lambda parts: st.builds(
    lambda kind, listed: {kind: listed}, st.sampled_from(claims.COMBINATIONS),
    st.lists(parts, min_size=1, max_size=3)), max_leaves=6)
levels = st.dictionaries(st.sampled_from(list(claims.LEVELS)),
                         st.lists(conditions, min_size=1, max_size=3), min_size=1)


@given(levels, st.lists(st.sampled_from([-1.0, -0.05, 0.0, 0.5, 1.0, 1.05, 2.0]),
                        min_size=3, max_size=3))
def test_judge_follows_the_rule_of_the_module_docstring(entry, numbers):
    values = dict(zip("abc", numbers))
    record = numbers_record(**values)
    verdict = claims.judge(record, declared({"name": "x", **entry}))["x"]
    assert verdict == reference_verdict(values, entry)
    assert record.entries["claim.x.verdict"]["value"] == verdict


def test_a_value_within_its_margin_is_a_verdict_not_an_exception():
    entry = {"name": "x", "holds": [{"value": "a", "above": 0.95, "margin": 0.01}]}
    assert claims.judge(numbers_record(a=0.955), declared(entry)) == {"x": "too close to call"}
    assert claims.judge(numbers_record(a=0.97), declared(entry)) == {"x": "holds"}
    assert claims.judge(numbers_record(a=0.93), declared(entry)) == {"x": "does not hold"}
    entry["otherwise"] = "not reproduced"
    assert claims.judge(numbers_record(a=0.93), declared(entry)) == {"x": "not reproduced"}


def test_a_threshold_may_be_a_control_recorded_beside_the_value():
    entry = {"name": "x", "holds": [{"value": "treated", "above": "control", "margin": 0.01}]}
    assert claims.judge(numbers_record(treated=0.5, control=0.4), declared(entry))["x"] == "holds"
    assert claims.judge(numbers_record(treated=0.4, control=0.5), declared(entry))["x"] == \
        "does not hold"


def test_ours_and_criterion_are_formatted_from_the_record_names_with_dots_included():
    record = numbers_record(**{"mean_loss_0.25": 1.03456, "k": 3})
    record.text("nodes", "4, 9")
    claims.judge(record, declared({
        "name": "x", "ours": "{mean_loss_0.25:.2f} at nodes {nodes}",
        "criterion": "more than {k:.0f}", "holds": [{"value": "k", "at_least": 3}]}))
    assert record.entries["claim.x.ours"]["value"] == "1.03 at nodes 4, 9"
    assert record.entries["claim.x.criterion"]["value"] == "more than 3"


def test_judge_takes_some_claims_now_and_the_rest_later():
    spec = declared({"name": "x", "holds": [{"value": "a", "above": 0}]},
                    {"name": "y", "verdict": "not tested", "ours": "not measured"})
    record = numbers_record(a=1.0)
    assert claims.judge(record, spec, names=["y"]) == {"y": "not tested"}
    assert claims.judge(record, spec) == {"x": "holds"}
    assert list(claims.claims_of(record.entries).index) == ["y", "x"]


def test_read_loads_a_toml_file(tmp_path):
    path = tmp_path / "claims.toml"
    path.write_text('essay = "pruning"\n\n[[claim]]\nname = "x"\nsection = "s"\n'
                    'words = "w"\nours = "{a:.1f}"\ncriterion = "c"\n'
                    'holds = [{value = "a", at_most = 1.0}]\n')
    assert claims.judge(numbers_record(a=1.0), path) == {"x": "holds"}
    path.write_text("essay = \n")
    with pytest.raises(ValueError, match="path .* is not valid TOML"):
        claims.read(path)


@pytest.mark.parametrize("entry, match", [
    ({"name": "x"}, "needs conditions"),
    ({"name": "x", "holds": []}, "holds must be a non-empty list"),
    ({"name": "x", "holds": [{"value": "a"}]}, "needs `value` and one of"),
    ({"name": "x", "holds": [{"value": "a", "above": 1, "below": 2}]}, "needs `value` and one of"),
    ({"name": "x", "holds": [{"value": "a", "above": True}]}, "above must be a number"),
    ({"name": "x", "holds": [{"value": "a", "above": 1, "margin": -1}]}, "margin must be"),
    ({"name": "x", "holds": [{"value": 3, "above": 1}]}, "value must name"),
    ({"name": "x", "verdict": "holds"}, "may only be one of"),
    ({"name": "x", "holds": [{"value": "a", "above": 1}], "otherwise": "partly"}, "otherwise"),
    ({"name": "x", "holds": [{"value": "a", "above": 1}], "colour": "red"}, "unknown fields"),
    ({"name": "x", "words": ""}, "needs words"),
])
def test_bad_declarations_are_refused_naming_the_claim_and_field(entry, match):
    with pytest.raises(ValueError, match=match):
        claims.judge(numbers_record(a=1.0), declared(entry))


def test_judging_a_value_the_record_lacks_names_it():
    entry = {"name": "x", "holds": [{"value": "missing", "above": 0}]}
    with pytest.raises(ValueError, match="claim 'x', holds needs 'missing', a recorded number"):
        claims.judge(numbers_record(a=1.0), declared(entry))
    entry = {"name": "x", "ours": "{nothing:.2f}", "holds": [{"value": "a", "above": 0}]}
    with pytest.raises(ValueError, match=r"claim 'x': ours quotes \{nothing\}"):
        claims.judge(numbers_record(a=1.0), declared(entry))
    with pytest.raises(ValueError, match="names \\['y'\\] are not declared"):
        claims.judge(numbers_record(a=1.0), declared(entry), names=["y"])


def test_the_findings_box_waits_then_shows_the_text_formatted_from_the_record(monkeypatch):
    shown, glued = [], {}
    import IPython.display
    monkeypatch.setattr(IPython.display, "display", lambda bundle, raw, display_id: (
        shown.append(bundle), type("Handle", (), {"update": lambda self, b, raw: shown.append(b)})())[1])
    monkeypatch.setattr(checks, "glue_value", lambda key, value: glued.update({key: value.data}))
    box = claims.FindingsBox("chapter.ipynb")
    assert claims.FindingsBox.WAITING in shown[0]["text/html"]
    assert shown[0]["text/markdown"] == "```{glue} findings\n:doc: chapter.ipynb\n```"
    spec = declared({"name": "x", "holds": [{"value": "a", "above": 0}]})
    spec["findings"] = "A is {a:.2f} < 1 & more.\n\nA second paragraph."
    box.fill(numbers_record(a=0.5), spec)
    assert box.text == "A is 0.50 < 1 & more.\n\nA second paragraph."
    assert shown[1]["text/html"] == glued["findings"] == (
        '<div class="admonition tip findings"><p class="admonition-title">What we found</p>'
        "<p>A is 0.50 &lt; 1 &amp; more.</p><p>A second paragraph.</p></div>")
    with pytest.raises(ValueError, match="no `findings`"):
        box.fill(numbers_record(a=0.5), declared({"name": "x", "verdict": "not tested"}))
    with pytest.raises(ValueError, match="document must be the chapter's file name"):
        claims.FindingsBox("chapter")


def test_a_page_about_no_essay_declares_only_its_findings():
    spec = {"findings": "A is {a:.1f}."}
    assert claims.judge(numbers_record(a=1.0), spec) == {}
    with pytest.raises(ValueError, match="must declare `essay` and a list"):
        claims.judge(numbers_record(a=1.0), {"findings": "x", "essay": "pruning"})


# --------------------------------------------------------------------------- outcomes

def reference_outcome(values, entry):
    """The outcome rule of the module docstring, written out plainly."""
    for case in entry["case"]:
        met = reference_verdict(values, {"holds": case["when"]})
        if met != "does not hold":
            return "too close to call" if met == "too close to call" else case["say"]
    return entry["otherwise"]


cases = st.lists(st.builds(lambda say, when: {"say": say, "when": when},
                           st.sampled_from(["up", "down", "level"]),
                           st.lists(conditions, min_size=1, max_size=3)), min_size=1, max_size=3)


@given(cases, st.lists(st.sampled_from([-1.0, -0.05, 0.0, 0.5, 1.0, 1.05, 2.0]),
                       min_size=3, max_size=3))
def test_decide_follows_the_rule_of_the_module_docstring(case, numbers):
    values = dict(zip("abc", numbers))
    spec = {"outcome": [{"name": "o", "case": case, "otherwise": "neither"}]}
    expected = reference_outcome(values, spec["outcome"][0])
    assert claims.decide(spec, "o", values) == expected
    assert claims.decide(spec, "o", numbers_record(**values)) == expected
    record = numbers_record(**values)
    assert claims.judge(record, spec, names=["o"]) == {"o": expected}
    assert record.entries["o"]["value"] == expected


def test_an_outcome_is_recorded_with_its_sentence_formatted_from_the_record():
    spec = {"findings": "f", "outcome": [{
        "name": "side", "otherwise": "level",
        "case": [{"say": "higher", "when": [{"value": "d", "above": 0, "margin": 0.01}]},
                 {"say": "lower", "when": [{"value": "d", "below": 0, "margin": 0.01}]}],
        "words": {"higher": "up by {d:.2f}", "lower": "down by {d:.2f}", "level": "level",
                  "too close to call": "too close to call at {d:.3f}"}}]}
    for d, outcome, words in ((0.5, "higher", "up by 0.50"), (-0.5, "lower", "down by -0.50"),
                              (0.005, "too close to call", "too close to call at 0.005")):
        record = numbers_record(d=d)
        assert claims.judge(record, spec, names=["side"]) == {"side": outcome}
        assert record.entries["side"]["value"] == outcome
        assert record.entries["side_words"]["value"] == words
    record = numbers_record(d=0.5)
    assert claims.judge(record, spec) == {}   # outcomes are judged only when named
    with pytest.raises(ValueError, match="name must be a declared outcome"):
        claims.decide(spec, "elsewhere", {"d": 1.0})
    with pytest.raises(TypeError, match="values must be"):
        claims.decide(spec, "side", [1.0])


def test_any_is_met_by_one_condition_and_undecided_only_when_none_is_met():
    either = {"name": "x", "holds": [{"any": [{"value": "a", "above": 2, "margin": 0.3},
                                              {"value": "b", "above": 0.02, "margin": 0.01}]}]}
    assert claims.judge(numbers_record(a=0.0, b=0.5), declared(either))["x"] == "holds"
    assert claims.judge(numbers_record(a=2.1, b=0.5), declared(either))["x"] == "holds"
    assert claims.judge(numbers_record(a=2.1, b=0.0), declared(either))["x"] == "too close to call"
    assert claims.judge(numbers_record(a=0.0, b=0.0), declared(either))["x"] == "does not hold"


@pytest.mark.parametrize("outcome, match", [
    ({"name": "o", "otherwise": "n"}, "needs case"),
    ({"name": "o", "otherwise": "n", "case": [{"say": "y"}]}, "a case needs `say`"),
    ({"name": "o", "otherwise": "n", "case": [{"say": "y", "when": []}]}, "non-empty list"),
    ({"name": "o", "case": [{"say": "y", "when": [{"value": "a", "above": 0}]}]},
     "needs otherwise"),
    ({"name": "o", "otherwise": "n", "case": [{"say": "y", "when": [{"value": "a", "above": 0}]}],
      "words": {"y": "yes"}}, "a sentence for each outcome"),
    ({"name": "o", "otherwise": "n", "case": [{"say": "y", "when": [{"any": [
        {"value": "a", "above": 0}], "value": "a"}]}]}, "has nothing else"),
    ({"name": "o", "otherwise": "n", "colour": "red", "case": []}, "unknown fields"),
])
def test_bad_outcomes_are_refused_naming_the_outcome_and_field(outcome, match):
    with pytest.raises(ValueError, match=match):
        claims.decide({"outcome": [outcome]}, "o", {"a": 1.0})


def test_an_outcome_and_a_claim_may_not_share_a_name():
    spec = declared({"name": "x", "holds": [{"value": "a", "above": 0}]})
    spec["outcome"] = [{"name": "x", "otherwise": "n",
                        "case": [{"say": "y", "when": [{"value": "a", "above": 0}]}]}]
    with pytest.raises(ValueError, match="declared twice"):
        claims.judge(numbers_record(a=1.0), spec)


# --------------------------------------------------------------------------- the ledger page

import html.parser  # noqa: E402
import re  # noqa: E402

import pandas as pd  # noqa: E402


def contrast(first, second):
    """WCAG 2's contrast ratio of two #rrggbb colours."""
    def luminance(colour):
        channels = [int(colour[index:index + 2], 16) / 255 for index in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


class Cells(html.parser.HTMLParser):
    """The text of each table row's cells, and the attributes of each verdict label."""

    def __init__(self, text):
        super().__init__()
        self.rows, self.labels, self.forms, self.scripts = [], [], 0, 0
        self.in_cell = False
        self.feed(text)

    def handle_starttag(self, tag, attributes):
        attributes = dict(attributes)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.rows[-1].append("")
            self.in_cell = True
        elif tag == "span" and attributes.get("class") == "ledger-verdict":
            self.labels.append(attributes)
        self.forms += tag == "form"
        self.scripts += tag == "script"

    def handle_endtag(self, tag):
        self.in_cell = self.in_cell and tag not in ("td", "th")

    def handle_data(self, data):
        if self.in_cell:
            self.rows[-1][-1] += data


def a_ledger():
    """Rows of :func:`claims.ledger` over two pages: every essay, several verdicts."""
    first = record_with(("a", "node removal", "holds", "s1"), ("b", "node removal", "partly", "s2"),
                        ("c", "relevance", "holds", "s3"))
    second = record_with(("d", "relevance", "not tested", "s4"), ("e", "pruning", "holds", "s5"),
                         ("f", "node removal", "holds", "s6"))
    return claims.ledger({"one.ipynb": first.entries, "two.ipynb": second.entries})


def test_verdict_labels_keep_a_contrast_of_at_least_4_5_either_way_round():
    assert list(claims.VERDICT_COLOURS) == list(claims.VERDICTS)
    for verdict, (ink, paper) in claims.VERDICT_COLOURS.items():
        assert contrast(ink, paper) >= 4.5, (verdict, ink, paper)
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)   # the formula itself


def test_ledger_summary_counts_each_verdict_per_essay_from_the_rows():
    every = a_ledger()
    table = claims.ledger_summary(every)
    counted = {}                     # the slow way: one claim at a time
    for essay, verdict in zip(every["essay"], every["verdict"]):
        counted[verdict, essay] = counted.get((verdict, essay), 0) + 1
    for text in (table.html, table.markdown):
        rows = Cells(text).rows if text is table.html else [
            [cell.strip() for cell in line.strip("|").split("|")]
            for line in text.splitlines() if line.startswith("|") and "---" not in line]
        header, *body, totals = rows
        assert [re.sub(r"<[^>]+>", "", cell) for cell in header] == [
            "verdict", *claims.ESSAYS, "all"]
        assert [re.sub(r"<[^>]+>", "", row[0]) for row in body] == list(claims.VERDICTS)
        for verdict, row in zip(claims.VERDICTS, body):
            expected = [counted.get((verdict, essay), 0) for essay in claims.ESSAYS]
            assert [int(cell) for cell in row[1:]] == [*expected, sum(expected)], verdict
        assert [int(cell.strip("*")) for cell in totals[1:]] == [
            *(int((every["essay"] == essay).sum()) for essay in claims.ESSAYS), len(every)]


def test_the_filter_is_labelled_hidden_until_its_script_runs_and_only_on_the_site():
    table = claims.ledger_summary(a_ledger())
    site, lab = Cells(table.markdown), Cells(table.html)
    assert (site.forms, site.scripts) == (1, 1)
    assert (lab.forms, lab.scripts) == (0, 0)      # JupyterLab runs no script: no menus
    form = re.search(r"<form [^>]*>", table.markdown).group(0)
    assert " hidden" in form and "aria-label=" in form
    for name, options in (("essay", claims.ESSAYS), ("verdict", claims.VERDICTS)):
        assert f'<label for="ledger-{name}">' in table.markdown
        select = re.search(rf'<select id="ledger-{name}" name="{name}">(.*?)</select>',
                           table.markdown).group(1)
        assert re.findall(r'<option value="([^"]*)">', select) == ["", *options]
    assert "\n\n" not in table.markdown[table.markdown.index("<script>"):]   # one HTML block


def test_essay_table_gives_each_claim_its_verdict_first_as_a_label_naming_the_essay():
    every = a_ledger()
    table = claims.essay_table(every, "node removal")
    assert table.markdown.startswith("Verdicts: holds: 2, partly: 1 (of 3 claims).")
    rows = [line for line in table.markdown.splitlines() if line.startswith("| <span")]
    assert len(rows) == 3
    for row, (name, claim) in zip(rows, every[every["essay"] == "node removal"].iterrows()):
        assert row.startswith(f'| <span class="ledger-verdict" data-verdict="{claim.verdict}" '
                              f'data-essay="node removal">{claim.verdict}</span> |')
        assert f"words of {name} \\| with a bar" in row         # a bar does not split a cell
        assert f"Computed in {{ref}}`{claim.section}`" in row
        assert "Criterion: criterion" in row
    html = Cells(table.html)
    assert [row[0] for row in html.rows[1:]] == ["holds", "partly", "holds"]
    assert [label["data-essay"] for label in html.labels] == ["node removal"] * 3
    assert '<a href="two.ipynb#s6">s6</a> in two' in table.html
    assert "{ref}" not in table.html and "words of a | with a bar" in table.html
    assert claims.essay_table(every.iloc[:0], "pruning").html.startswith("<p>No page")


def test_the_ledger_renderers_refuse_what_ledger_did_not_return():
    with pytest.raises(TypeError, match="every must be what ledger"):
        claims.ledger_summary(pd.DataFrame({"essay": ["pruning"], "verdict": ["holds"]}))
    with pytest.raises(TypeError, match="every must be what ledger"):
        claims.essay_table([], "pruning")


def test_an_outcome_worded_several_ways_records_each_sentence():
    spec = {"outcome": [{
        "name": "gain", "otherwise": "none",
        "case": [{"say": "some", "when": [{"value": "g", "above": 0.02, "margin": 0.01}]}],
        "words": {"long": {"some": "gains {g:.2f}, more than 0.02", "none": "no gain",
                           "too close to call": "too close"},
                  "short": {"some": "gains", "none": "no gain", "too close to call": "close"}}}]}
    record = numbers_record(g=0.1)
    assert claims.judge(record, spec, names=["gain"]) == {"gain": "some"}
    assert record.entries["gain_long"]["value"] == "gains 0.10, more than 0.02"
    assert record.entries["gain_short"]["value"] == "gains"
    spec["outcome"][0]["words"]["short"].pop("none")
    with pytest.raises(ValueError, match="words.short must give a sentence for each outcome"):
        claims.decide(spec, "gain", {"g": 0.1})


# --- claims across networks, and claims made of parts -------------------------------------------

def reference_median(verdicts):
    """The best verdict that at least half the networks reach, counted out plainly."""
    for verdict in claims.VERDICTS:
        reaching = sum(claims.VERDICTS.index(v) <= claims.VERDICTS.index(verdict)
                       for v in verdicts)
        if 2 * reaching >= len(verdicts):
            return verdict


@given(st.lists(st.sampled_from(claims.VERDICTS), min_size=1, max_size=12))
def test_the_median_verdict_is_the_best_that_half_the_networks_reach(verdicts):
    assert claims.median_verdict(verdicts) == reference_median(verdicts)


def reference_parts(verdicts):
    tested = [v for v in verdicts if v != "not tested"] or verdicts
    if len(set(tested)) == 1:
        return tested[0]
    good = [v for v in tested if v in ("holds", "holds roughly", "partly")]
    bad = [v for v in tested if v in ("does not hold", "not reproduced")]
    if not bad:
        if "too close to call" in tested:
            return "too close to call"
        return "partly" if "partly" in good else "holds roughly"
    return "partly" if good else bad[0]


@given(st.lists(st.sampled_from(claims.VERDICTS), min_size=1, max_size=5))
def test_a_claim_made_of_parts_follows_the_rule_of_the_module_docstring(verdicts):
    assert claims.parts_verdict(verdicts) == reference_parts(verdicts)


def across_declared(**extra):
    return {"essay": "node removal",
            "networks": {"code": "the code's task", "prose": "the prose task"},
            "claim": [{"name": "x", "section": "s", "words": "w", "ours": "{a:.1f}",
                       "criterion": "a above {c}", "across": ["code", "prose"],
                       "holds": [{"value": "a", "above": "c", "margin": 0.1}],
                       "partly": [{"value": "a", "above": 0}], **extra}]}


def test_a_claim_is_judged_on_every_network_and_its_counts_recorded():
    record = numbers_record(a=2.0, c=1.0)
    networks = {"code": [{"a": 0.5}, {"a": 3.0}, {"a": 1.05}, {"a": -1.0}],
                "prose": [{"a": 2.0, "c": 3.0}]}       # c read from the record unless given
    assert claims.judge(record, across_declared(), networks=networks) == {"x": "holds"}
    entries = record.entries
    assert entries["claim.x.holds_in.code"]["value"] == 1
    assert entries["claim.x.of.code"]["value"] == 4
    assert entries["claim.x.holds_in.prose"]["value"] == 0
    assert entries["claim.x.networks"]["value"] == (
        "the code's task: holds in 1, partly in 1, too close to call in 1 and does not hold in "
        "1 of 4 networks; the prose task: partly in 1 of 1 network")
    row = claims.claims_of(entries).loc["x"]
    assert row["networks"] == entries["claim.x.networks"]["value"] and row["part_of"] == ""
    assert list(claims.claims_of(entries).index) == ["x"]     # counts are not claims


def test_with_verdict_from_the_verdict_is_the_median_of_that_set():
    networks = {"code": [{"a": 0.5}, {"a": 3.0}, {"a": 0.2}], "prose": [{"a": 3.0}]}
    verdict = claims.judge(numbers_record(a=2.0, c=1.0), across_declared(verdict_from="code"),
                           networks=networks)
    assert verdict == {"x": "partly"}
    assert claims.tally(across_declared(), "x", [{"a": 0.5, "c": 1.0}, {"a": 3.0, "c": 1.0}]) \
        == ["partly", "holds"]


def test_parts_are_judged_before_their_claim_and_the_ledger_counts_claims_not_parts():
    declared = {"essay": "relevance", "claim": [
        {"name": "whole", "section": "s", "words": "the whole sentence", "ours": "o",
         "criterion": "c", "verdict": "from parts"},
        {"name": "one", "section": "s", "words": "w1", "ours": "o", "criterion": "c",
         "part_of": "whole", "holds": [{"value": "a", "above": 0}]},
        {"name": "two", "section": "s", "words": "w2", "ours": "o", "criterion": "c",
         "part_of": "whole", "holds": [{"value": "a", "above": 5}]},
        {"name": "other", "section": "s", "words": "w3", "ours": "o", "criterion": "c",
         "holds": [{"value": "a", "above": 0}]}]}
    record = numbers_record(a=1.0)
    assert claims.judge(record, declared) == {"one": "holds", "two": "does not hold",
                                              "other": "holds", "whole": "partly"}
    every = claims.ledger({"r.ipynb": record.entries})
    table = claims.essay_table(every, "relevance")
    assert "of 2 claims" in table.markdown
    summary = claims.ledger_summary(every).markdown
    assert "| **claims** | **0** | **2** | **0** | **2** |" in summary
    # each part follows its claim, marked as a part
    order = [line for line in table.markdown.splitlines() if line.startswith("| <span")]
    assert [("w1" in line, "w2" in line) for line in order[1:3]] == [(True, False),
                                                                      (False, True)]
    assert "the whole sentence" in order[0] and "w3" in order[3]
    assert all("ledger-part" in line for line in order[1:3])
    with pytest.raises(ValueError, match="not judged yet"):
        claims.judge(numbers_record(a=1.0), declared, names=["whole"])


@pytest.mark.parametrize("change, match", [
    ({"across": ["nowhere"]}, "across must be a list of distinct sets"),
    ({"across": ["code", "code"]}, "across must be a list of distinct sets"),
    ({"verdict_from": "prose", "across": ["code"]}, "verdict_from must be one of"),
    ({"part_of": "nobody"}, "part_of must name another declared claim"),
    ({"part_of": "x"}, "part_of must name another declared claim"),
    ({"verdict": "from parts", "holds": None}, "a claim with parts"),
])
def test_bad_declarations_across_networks_and_of_parts_are_refused(change, match):
    declared = across_declared()
    entry = declared["claim"][0]
    for field, value in change.items():
        if value is None:
            entry.pop(field)
            entry.pop("partly"), entry.pop("across")
        else:
            entry[field] = value
    with pytest.raises(ValueError, match=match):
        claims.judge(numbers_record(a=2.0, c=1.0), declared, networks={
            "code": [{"a": 1.0}], "prose": [{"a": 1.0}]})


def test_judge_needs_every_set_its_claims_are_judged_across():
    with pytest.raises(ValueError, match=r"missing \['prose'\]"):
        claims.judge(numbers_record(a=2.0, c=1.0), across_declared(),
                     networks={"code": [{"a": 1.0}]})
    with pytest.raises(ValueError, match="belongs to it"):
        claims.judge(numbers_record(a=1.0), {**across_declared(), "networks": {
            "code": "c", "prose": "p", "findings": "\nA box.\n"}})
    with pytest.raises(ValueError, match="networks may not be named"):
        claims.judge(numbers_record(a=1.0), {**across_declared(), "networks": {"words": "w"}})
