"""toyviz.checks: tolerances by kind, the record a chapter displays, and the comparison
that says what moved."""

import math

import nbformat
import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from toyviz import checks

finite = st.floats(-1e6, 1e6, allow_nan=False)


def entries(record):
    """The record as a notebook's output stores it."""
    return record._repr_mimebundle_()[checks.MIME_TYPE]["entries"]


TOLERANCES = [checks.Bound(1e-10), checks.Relative(1e-6, 1e-9), checks.Count(2),
              checks.Exact(), checks.Seeds(0.25, 0.01, 1e-6), checks.Varies("a timing")]


@pytest.mark.parametrize("tolerance", TOLERANCES, ids=lambda t: t.kind)
def test_tolerances_survive_the_notebook_round_trip(tolerance):
    assert checks.tolerance_from_json(tolerance.to_json()) == tolerance


@given(finite, st.sampled_from([0.0, 1e-9, 1e-6, 1e-3]))
def test_relative_accepts_exactly_its_band(value, rtol):
    tolerance = checks.Relative(rtol)
    assert tolerance.accepts(value, value)
    step = rtol * abs(value)
    assert tolerance.accepts(value, value + 0.5 * step)
    if value + 2 * step != value:
        assert not tolerance.accepts(value, value + 2 * step)


@given(finite, st.floats(0, 10), st.floats(0, 1))
@example(524288.0, 0.0, 1e-9)  # found by hypothesis: the float sum rounds past allowed
def test_seeds_allow_a_share_of_the_spread_and_never_less_than_the_floor(value, spread, floor):
    tolerance = checks.Seeds(share=0.25, floor=floor, rtol=0.0)
    allowed = max(0.25 * spread, floor)
    assert tolerance.allowed(value, spread) == allowed
    # judged on the difference the floats hold: near 5e5 a step of 1e-9 is ~9 ulps, so
    # value + 0.99 * allowed can land past allowed
    near, far = value + 0.99 * allowed, value + 1.01 * allowed + 1e-9
    assert tolerance.accepts(value, near, spread) == (abs(near - value) <= allowed)
    assert tolerance.accepts(value, far, spread) == (abs(far - value) <= allowed)


def test_seeds_without_a_measured_spread_fail_and_say_why():
    tolerance = checks.Seeds()
    assert not tolerance.accepts(1.0, 1.0, None)
    assert "measure_spread" in tolerance.describe(None)


def test_bound_looks_only_at_the_fresh_value():
    bound = checks.Bound(1e-10)
    assert bound.accepts(3e-14, 2e-14) and bound.accepts(0.0, 9e-11)
    assert not bound.accepts(1e-14, 2e-10) and not bound.accepts(0.0, math.nan)


def test_count_and_exact():
    assert checks.Count(1).accepts(192, 193) and not checks.Count(1).accepts(192, 194)
    assert checks.Exact().accepts("yes", "yes") and not checks.Exact().accepts("yes", "no")
    assert not checks.Exact().accepts(1.0, 1.0 + 1e-15)


def test_exceeds_refuses_a_verdict_that_rounding_could_flip():
    assert checks.exceeds(0.3, 0.2, 0.05) is True
    assert checks.exceeds(0.1, 0.2, 0.05) is False
    with pytest.raises(ValueError, match="gap = 0.23 is within margin = 0.05 of the threshold 0.2"):
        checks.exceeds(0.23, 0.2, 0.05, name="gap")
    with pytest.raises(TypeError, match="margin"):
        checks.exceeds(0.3, 0.2, "wide")


def test_record_rejects_bad_input_naming_the_parameter():
    record = checks.Record()
    with pytest.raises(TypeError, match="tolerance must be a toyviz.checks tolerance"):
        record.number("a", 1.0, 12)
    with pytest.raises(TypeError, match="value of 'a' must be a real number"):
        record.number("a", "1.0", checks.Exact())
    with pytest.raises(TypeError, match="value of 'a' must be a real number"):
        record.number("a", 1 + 2j, checks.Exact())
    with pytest.raises(TypeError, match="name must be a non-empty str"):
        record.number("", 1.0, checks.Exact())
    record.number("a", 1.0, checks.Exact())
    with pytest.raises(ValueError, match="'a' is already in the record"):
        record.number("a", 2.0, checks.Exact())
    with pytest.raises(ValueError, match="columns names 'nope'"):
        record.table("t", pd.DataFrame({"x": [1.0]}), checks.Exact(), columns={"nope": checks.Exact()})
    with pytest.raises(TypeError, match="frame must be a pandas DataFrame"):
        record.table("t", np.ones(3), checks.Exact())
    with pytest.raises(TypeError, match="why must be a non-empty str"):
        checks.Varies("")
    with pytest.raises(ValueError, match="upper must be finite"):
        checks.Bound(math.inf)


def make_record(mean=0.5, count=192, verdict="holds", error=1e-14, cell=0.25):
    record = checks.Record()
    record.number("mean", mean, checks.Seeds())
    record.number("count", count, checks.Count(1))
    record.text("verdict", verdict)
    record.number("conservation", error, checks.Bound(1e-10))
    record.number("seconds", 30.0 + mean, checks.Varies("timing"))
    record.table("table", pd.DataFrame({"value": [cell, 1.0], "name": ["a", "b"]},
                                       index=["first", "second"]),
                 checks.Seeds(), columns={"name": checks.Exact()})
    return entries(record)


SPREADS = {"mean": 0.04, "table[first, value]": 0.02, "table[second, value]": 0.0}


def test_compare_accepts_rounding_and_names_what_really_moved():
    committed = make_record()
    rounded = make_record(mean=0.5 + 1e-4, count=193, error=3e-14, cell=0.25 + 1e-5)
    assert checks.compare(committed, rounded, SPREADS) == []
    moved = make_record(mean=0.56, count=195, verdict="does not hold", error=1e-8, cell=0.3)
    failures = checks.compare(committed, moved, SPREADS)
    assert len(failures) == 5
    text = "\n".join(failures)
    assert "mean: committed 0.5, now 0.56; tolerance 0.25 × seed std 0.04" in text
    assert "count: committed 192, now 195; tolerance ± 1" in text
    assert "verdict: committed 'holds', now 'does not hold'; tolerance exactly" in text
    assert "conservation: committed 1e-14, now 1e-08; tolerance must be <= 1e-10" in text
    assert "table[first, value]: committed 0.25, now 0.3" in text


def test_compare_reports_names_that_appear_or_vanish():
    committed, fresh = make_record(), make_record()
    del fresh["count"]
    fresh["new"] = committed["mean"]
    failures = checks.compare(committed, fresh, SPREADS)
    assert any("no longer recorded: count" in line for line in failures)
    assert any("not in the committed outputs: new" in line for line in failures)


def test_record_of_reads_what_a_notebook_displayed():
    record = checks.Record()
    record.number("x", 0.1, checks.Exact())
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("record")
    cell.outputs = [nbformat.v4.new_output("display_data", data=record._repr_mimebundle_())]
    notebook.cells.append(cell)
    assert checks.record_of(notebook) == entries(record)
    assert checks.record_of(nbformat.v4.new_notebook()) is None
    with pytest.raises(TypeError, match="notebook must be a notebook"):
        checks.record_of("book/node_removal.ipynb")


def test_execute_rejects_bad_paths(tmp_path):
    with pytest.raises(TypeError, match="path must be a path"):
        checks.execute(3)
    with pytest.raises(ValueError, match="path must be an existing .ipynb file"):
        checks.execute(tmp_path / "missing.ipynb")


def test_a_rounded_number_may_flip_its_last_digit_and_no_more():
    def recorded(value):
        record = checks.Record()
        record.number("r", value, checks.Seeds(), digits=3)
        return entries(record)

    spreads = {"r": 0.0012}  # allows 0.0003 on its own
    assert checks.compare(recorded(0.9084), recorded(0.9086), spreads) == []  # 0.908 vs 0.909
    assert checks.compare(recorded(0.908), recorded(0.911), spreads) != []


def test_seeds_widen_to_the_measured_kernel_drift():
    tolerance = checks.Seeds(share=0.25, drift_factor=3.0, rtol=0.0)
    assert tolerance.allowed(0.47, 0.04, drift=0.029) == pytest.approx(0.087)
    assert tolerance.accepts(0.47, 0.445, 0.04, drift=0.029)
    assert not tolerance.accepts(0.47, 0.445, 0.04, drift=0.0)
    assert "3 × kernel drift 0.029 (seed std 0.04)" in tolerance.describe(0.04, drift=0.029)
    committed, fresh = make_record(mean=0.5), make_record(mean=0.52)
    assert checks.compare(committed, fresh, SPREADS) != []
    assert checks.compare(committed, fresh, SPREADS, {"mean": 0.01}) == []


def test_format_quotes_exactly_the_recorded_value():
    record = checks.Record()
    record.number("loss", 0.0867481, checks.Seeds(), digits=6)
    record.text("nodes", "1, 11, 12")
    record.table("t", pd.DataFrame({"x": [1.0]}), checks.Exact())
    assert record.format("loss", ".3f") == "0.087"
    assert record.format("loss") == "0.086748"
    assert record.format("nodes") == "1, 11, 12"
    with pytest.raises(ValueError, match="name must be a recorded number or text, got 'nope'"):
        record.format("nope")
    with pytest.raises(ValueError, match="is a table"):
        record.format("t")
    with pytest.raises(TypeError, match="spec must be a format spec"):
        record.format("loss", 3)


def test_from_plain_turns_the_recorded_text_of_nan_and_infinities_back_into_floats():
    assert checks.from_plain("inf") == float("inf") and checks.from_plain("-inf") == -float("inf")
    assert np.isnan(checks.from_plain("nan"))
    assert checks.from_plain("a label") == "a label" and checks.from_plain(1.5) == 1.5
    assert checks.from_plain(None) is None
