"""The t interval of a mean (toyviz.intervals) against scipy's, its summary form against
the values form, and its old homes (routes re-exports it; reasons wraps it, deprecated)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from toyviz import intervals, pruning, reasons, routes


def test_interval_is_students_t():
    values = np.array([0.2, 0.4, 0.1, 0.5, 0.3])
    mean, low, high = intervals.interval(values)
    ref_low, ref_high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(),
                                         scale=stats.sem(values))
    assert mean == pytest.approx(0.3) and low == pytest.approx(ref_low)
    assert high == pytest.approx(ref_high)
    assert intervals.interval(np.full(4, 0.7)) == (0.7, 0.7, 0.7)


@settings(max_examples=25, deadline=None)
@given(value=st.floats(-10, 10), n=st.integers(2, 6), confidence=st.floats(0.01, 0.999))
def test_intervals_of_equal_values_are_that_value(value, n, confidence):
    mean, low, high = intervals.interval(np.full(n, value), confidence)
    assert (mean, low, high) == pytest.approx((value, value, value))


def test_intervals_refuse_one_network_and_certainty():
    with pytest.raises(ValueError, match="values must hold at least 2 numbers, got 1"):
        intervals.interval([0.5])
    with pytest.raises(ValueError, match="confidence must be < 1"):
        intervals.interval([0.5, 0.6], confidence=1.0)
    with pytest.raises(ValueError, match="values must hold at least one number, got none"):
        intervals.interval([], single=True)
    assert intervals.interval([2.0], single=True) == (2.0, 2.0, 2.0)
    with pytest.raises(ValueError, match="confidence must be < 1"):
        intervals.interval([2.0], confidence=1.0, single=True)


@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.floats(-5, 5), min_size=2, max_size=8),
       confidence=st.floats(0.01, 0.999))
def test_the_summary_form_gives_the_same_bits(values, confidence):
    values = np.array(values)
    mean, low, high = intervals.interval(values, confidence)
    summary = intervals.from_summary([values.mean()], [values.std(ddof=1)], [len(values)],
                                     confidence)
    assert (low, high) == (summary[0][0], summary[1][0])


def test_the_summary_form_gives_nan_for_nothing_measured_and_refuses_one_value():
    low, high = intervals.from_summary([np.nan, 1.0], [np.nan, 0.0], [0, 3])
    assert np.isnan(low[0]) and np.isnan(high[0]) and (low[1], high[1]) == (1.0, 1.0)
    with pytest.raises(ValueError, match="n must count 0 or at least 2 values, got 1"):
        intervals.from_summary([1.0], [0.0], [1])
    with pytest.raises(ValueError, match="sd must be a standard deviation"):
        intervals.from_summary([1.0], [-1.0], [3])
    with pytest.raises(ValueError, match="n, mean and sd must have one shape"):
        intervals.from_summary([1.0], [1.0, 2.0], [3])


def test_summarize_is_the_interval_of_each_group():
    table = pd.DataFrame({"g": [0, 0, 0, 1, 1], "accuracy": [0.1, 0.4, 0.3, 0.9, 0.7]})
    summary = pruning.summarize(table, ["g"])
    for g, row in summary.set_index("g").iterrows():
        mean, low, high = intervals.interval(table.accuracy[table.g == g].to_numpy())
        assert (row["mean"], row["low"], row["high"]) == pytest.approx((mean, low, high))


def test_the_old_homes_give_the_same():
    assert routes.interval is intervals.interval
    with pytest.warns(DeprecationWarning, match="toyviz.intervals.interval"):
        assert reasons.interval([1.0, 2.0, 4.0]) == intervals.interval([1.0, 2.0, 4.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert reasons.interval([4.0]) == (4.0, 4.0, 4.0)
