"""The confidence interval of a mean over networks (or seeds): Student's t, written once.

A chapter measures a value on each of a few networks trained the same way and reports its
mean with a central confidence interval, ``mean ± t_{(1+c)/2, n-1} * sd / sqrt(n)``.
:func:`interval` computes it from the values, :func:`from_summary` from a mean, a standard
deviation and a count per group (the form a grouped table gives, as in
:func:`toyviz.pruning.summarize`); the first calls the second, so the formula lives in one
place.

Introduced in chapter 3, :ref:`§Searching for the ±0.59 sections <bands>`, and used by
every chapter that reports a mean over networks.
"""

import numpy as np

from toyviz._checks import check_array, check_flag, check_float


def from_summary(mean, sd, n, confidence=0.95):
    """The central ``confidence`` Student-t interval of a mean of ``n`` values whose mean
    is ``mean`` and sample standard deviation (``ddof=1``) is ``sd``:
    ``mean ± t_{(1+c)/2, n-1} * sd / sqrt(n)``, elementwise.

    A count of 0 (nothing measured) or a NaN mean or sd gives NaN; a count of 1 has no
    spread to measure and is refused, as is an infinite mean or sd.

    Parameters
    ----------
    mean, sd : float array of one shape
    n : int array of that shape, each 0 or at least 2
    confidence : float in (0, 1)

    Returns
    -------
    (low, high), float64 arrays of that shape.
    """
    from scipy import stats  # lazy: scipy.stats takes about 1 s to import (toyviz.relevance)

    n = check_array("n", n, dtype=np.int64)
    mean = check_array("mean", mean, dtype=np.float64, finite=False)
    sd = check_array("sd", sd, dtype=np.float64, finite=False)
    if not n.shape == mean.shape == sd.shape:
        raise ValueError(f"n, mean and sd must have one shape, got {n.shape}, {mean.shape} "
                         f"and {sd.shape}")
    confidence = check_float("confidence", confidence, low=0, high=1, low_open=True,
                             high_open=True)
    if ((n < 0) | (n == 1)).any():
        raise ValueError(f"n must count 0 or at least 2 values, got {n[(n < 0) | (n == 1)][0]}")
    for name, value in (("mean", mean), ("sd", sd)):
        if np.isinf(value).any():
            raise ValueError(f"{name} must be finite or NaN (not measured), got "
                             f"{value[np.isinf(value)][0]}")
    if (sd < 0).any():
        raise ValueError(f"sd must be a standard deviation, at least 0, got {sd[sd < 0][0]}")
    # the order of operations of the chapters' records: t * sd / sqrt(n), then mean ± half
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * sd / np.sqrt(n)
    return mean - half, mean + half


def interval(values, confidence=0.95, single=False):
    """Mean of ``values`` (one per network or seed) with its central ``confidence``
    Student-t interval (:func:`from_summary`).

    Parameters
    ----------
    values : (n,) float, at least 2 of them (or 1 with ``single``)
    confidence : float in (0, 1)
    single : bool, whether one value is accepted; its interval is the value itself

    Returns
    -------
    (mean, low, high) floats; low = high = mean when all values are equal.
    """
    values = check_array("values", values, ndim=1, dtype=np.float64)
    confidence = check_float("confidence", confidence, low=0, high=1, low_open=True,
                             high_open=True)
    single = check_flag("single", single)
    if single and len(values) == 0:
        raise ValueError("values must hold at least one number, got none")
    if single and len(values) == 1:
        return float(values[0]), float(values[0]), float(values[0])
    if len(values) < 2:
        raise ValueError(f"values must hold at least 2 numbers, got {len(values)}")
    mean = values.mean()
    low, high = from_summary(mean, values.std(ddof=1), len(values), confidence)
    return float(mean), float(low), float(high)
