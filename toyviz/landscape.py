"""The landscape over all masks: functions of a table with one value per mask.

Introduced in chapter 1, :ref:`§All 2^20 subnetworks <node-removal-exact>`.

A *table* is a ``(2**n_nodes,)`` float array ``values`` with ``values[index]`` = the value
(a loss, a log loss, a mean gradient, ...) of the binary mask with that index, where bit
``i`` of an index is node ``i`` (index 0 = no node, ``2**n - 1`` = every node), as
:func:`toyviz.masking.sweep_all_masks` returns it. Everything here reads such a table,
or a distribution of values with weights (:func:`gaussian_density`, :func:`normal_fit`),
and knows nothing about networks: the masks are the corners of the hypercube, and the
table is a function on it, a set function over the nodes. Node attributions (Shapley,
Banzhaf), the Walsh-Hadamard spectrum, correlations after flips, the best and the worst
mask of every size, and the moments when every node is on with probability ``p``.

Kept apart from :mod:`toyviz.masking`, which computes the tables from a network, so
that either side can change (a faster sweep, a streaming reduction) without the other.
The names chapter 1 uses stay importable from :mod:`toyviz.masking`.
"""

import math

import numpy as np
from scipy import special, stats

from toyviz._checks import describe, check_array, check_float, check_int

#: Largest number of nodes of a table: 2**24 values, the most a full sweep computes.
MAX_NODES = 24


# --------------------------------------------------------------------------- tables and their weights


def _check_table(values, name="values"):
    values = check_array(name, values, ndim=1, dtype=np.float64)
    n_nodes = int(round(math.log2(len(values)))) if len(values) else -1
    if n_nodes < 1 or 2**n_nodes != len(values) or n_nodes > MAX_NODES:
        raise ValueError(f"{name} must have length 2**n_nodes (one value per mask index) "
                         f"with 1 <= n_nodes <= {MAX_NODES}, got {describe(values)}")
    return values, n_nodes


def _sizes(n_nodes):
    """(2**n_nodes,) uint8: the number of nodes on in every mask index, 1 byte a mask,
    built by doubling (node i's bit adds one to the upper half) without an index table."""
    sizes = np.zeros(1, dtype=np.uint8)
    for _ in range(n_nodes):
        sizes = np.concatenate([sizes, sizes + np.uint8(1)])
    return sizes


def _size_probabilities(n_nodes, p):
    """(n_nodes + 1,) float64: ``p**k (1 - p)**(n_nodes - k)``, one mask's probability by
    its number of nodes on ``k``."""
    return np.array([p**k * (1 - p) ** (n_nodes - k) for k in range(n_nodes + 1)])


def mask_probabilities(n_nodes, p):
    """Probability of every binary mask when each node is on with probability ``p``:
    ``p**k (1 - p)**(n_nodes - k)`` for a mask with ``k`` nodes on.

    Returns ``(2**n_nodes,)`` float64, indexed by mask index, summing to 1.

    Introduced in chapter 1, :ref:`§All 2^20 subnetworks <node-removal-exact>`.
    """
    n_nodes = check_int("n_nodes", n_nodes, low=1, high=MAX_NODES)
    p = check_float("p", p, low=0, high=1)
    return _size_probabilities(n_nodes, p)[_sizes(n_nodes)]


def mask_moments(values, p):
    """Mean, standard deviation and skewness of a table of mask values when every node is
    on independently with probability ``p`` (each mask weighted by
    :func:`mask_probabilities`).

    A mask's weight depends only on its number of nodes ``k``, so the table is summed once
    per ``k`` (the first three powers of its values, centred on their plain mean), and the
    moments at ``p`` combine those 3 (n_nodes + 1) sums: no table-sized weights.
    :func:`mask_moments_at` gives several ``p`` from the same sums.

    Parameters
    ----------
    values : (2**n_nodes,) float, ``values[index]`` = v(mask with that index)
    p : float in [0, 1]

    Returns
    -------
    (mean, std, skewness) floats

    Introduced in chapter 1, :ref:`§All 2^20 subnetworks <node-removal-exact>`.
    """
    values, n_nodes = _check_table(values)
    p = check_float("p", p, low=0, high=1)
    return _moments_at(_power_sums(values, n_nodes), n_nodes, p)


def mask_moments_at(values, ps):
    """:func:`mask_moments` at each of ``ps``, from one pass over the table.

    Parameters
    ----------
    values : (2**n_nodes,) float
    ps : sequence of floats in [0, 1]

    Returns
    -------
    list of (mean, std, skewness), one per p
    """
    values, n_nodes = _check_table(values)
    if isinstance(ps, (str, bytes)) or not hasattr(ps, "__len__") or not len(ps):
        raise TypeError(f"ps must be a non-empty sequence of probabilities, got {describe(ps)}")
    ps = [check_float(f"ps[{i}]", p, low=0, high=1) for i, p in enumerate(ps)]
    sums = _power_sums(values, n_nodes)
    return [_moments_at(sums, n_nodes, p) for p in ps]


def _power_sums(values, n_nodes):
    """The table's centre (its plain mean) and, per number of nodes on, the sums of the
    first three powers of the centred values: (centre, (3, n_nodes + 1) float64)."""
    sizes = _sizes(n_nodes)
    centre = float(values.mean())
    centred = values - centre
    sums = np.stack([np.bincount(sizes, weights=centred**power, minlength=n_nodes + 1)
                     for power in (1, 2, 3)])
    return centre, sums


def _moments_at(power_sums, n_nodes, p):
    centre, sums = power_sums
    first, second, third = sums @ _size_probabilities(n_nodes, p)   # raw moments about centre
    variance = max(second - first**2, 0.0)
    central_third = third - 3 * first * second + 2 * first**3
    std = math.sqrt(variance)
    return float(centre + first), std, float(central_third / std**3) if std > 0 else math.nan


# --------------------------------------------------------------------------- single nodes and sizes


def removal_costs(values):
    """What removing one node from the full network costs: ``values[full without i] -
    values[full]`` for each node ``i``.

    values : (2**n,) float, e.g. the losses of :func:`toyviz.masking.sweep_all_masks`.
    Returns (n,) float64.

    Introduced in chapter 1, :ref:`§All 2^20 subnetworks <node-removal-exact>`.
    """
    values, n = _check_table(values)
    full = len(values) - 1
    return np.array([values[full ^ (1 << i)] - values[full] for i in range(n)],
                    dtype=np.float64)


def best_and_worst_by_size(values):
    """For each number of nodes ``k``, the mask index with the smallest and the largest
    value among masks with exactly ``k`` nodes on.

    Returns
    -------
    dict of (n_nodes + 1,) arrays: ``size``, ``n_masks``, ``best_index``, ``best``,
    ``worst_index``, ``worst``, ``mean``.
    """
    values, n_nodes = _check_table(values)
    sizes = _sizes(n_nodes)
    counts = np.bincount(sizes, minlength=n_nodes + 1)
    best_index = np.empty(n_nodes + 1, dtype=np.int64)
    worst_index = np.empty(n_nodes + 1, dtype=np.int64)
    means = np.empty(n_nodes + 1)
    for size in range(n_nodes + 1):
        members = np.flatnonzero(sizes == size)
        chosen = values[members]
        best_index[size] = members[np.argmin(chosen)]     # first index among ties
        worst_index[size] = members[np.argmax(chosen)]
        means[size] = chosen.mean()
    return {"size": np.arange(n_nodes + 1), "n_masks": counts,
            "best_index": best_index, "best": values[best_index],
            "worst_index": worst_index, "worst": values[worst_index],
            "mean": means}


def shapley_values(values):
    """Exact Shapley value of every node for a set function given as a table.

    ``phi_i = sum_{S not containing i} |S|! (n - |S| - 1)! / n! * (v(S + i) - v(S))``.
    The values sum to ``v(all) - v(none)``.

    Parameters
    ----------
    values : (2**n_nodes,) float, ``values[index]`` = v(mask with that index)

    Returns
    -------
    (n_nodes,) float64

    Introduced in chapter 1, :ref:`§All 2^20 subnetworks <node-removal-exact>`.
    """
    values, n_nodes = _check_table(values)
    sizes = _sizes(n_nodes)
    weight_of_size = np.array([math.factorial(s) * math.factorial(n_nodes - s - 1)
                               / math.factorial(n_nodes) for s in range(n_nodes)])
    result = np.empty(n_nodes)
    for node in range(n_nodes):
        # index = high * 2**(node + 1) + bit * 2**node + low: the bit is the middle axis,
        # so "without node" and "with node" are views, not copies of the table
        without, with_node = _split_on_node(values, node)
        sizes_without, _ = _split_on_node(sizes, node)
        result[node] = np.dot(weight_of_size[sizes_without].ravel(),
                              (with_node - without).ravel())
    return result


def _split_on_node(table, node):
    """Views of a (2**n,) table at the masks without and with ``node``, each
    (2**(n - node - 1), 2**node)."""
    halves = table.reshape(-1, 2, 2**node)
    return halves[:, 0, :], halves[:, 1, :]


def banzhaf_values(values):
    """Exact Banzhaf value of every node: the mean over all ``2**(n-1)`` masks without
    node ``i`` of ``v(S + i) - v(S)``. (2**n,) float -> (n,) float64.

    Introduced in chapter 1, :ref:`§All 2^20 subnetworks <node-removal-exact>`.
    """
    values, n_nodes = _check_table(values)
    result = np.empty(n_nodes)
    for node in range(n_nodes):
        without, with_node = _split_on_node(values, node)
        result[node] = np.mean(with_node - without)
    return result


# --------------------------------------------------------------------------- the Walsh spectrum


def walsh_hadamard(values):
    """Fast Walsh-Hadamard transform, normalised: ``f_hat(T) = mean_S v(S) (-1)^|S & T|``.
    (2**n,) float -> (2**n,) float64."""
    values, n_nodes = _check_table(values)
    out = values.copy()
    top = np.empty(len(out) // 2)      # one buffer for every stage: no table-sized temporaries
    half = 1
    while half < len(out):
        view = out.reshape(-1, 2, half)
        upper = top.reshape(view.shape[0], half)
        np.copyto(upper, view[:, 0, :])
        view[:, 0, :] += view[:, 1, :]
        np.subtract(upper, view[:, 1, :], out=view[:, 1, :])
        half *= 2
    out /= len(out)
    return out


def walsh_power_by_degree(values):
    """Variance of a table split by the degree of its Walsh-Hadamard components:
    ``power[w] = sum_{|T| = w} f_hat(T)^2`` for ``w = 1 .. n`` (``power[0] = 0``; the
    mean is not variance). Degree 1 is the part of the value explained node by node
    (additively), degree 2 pairwise interactions, and so on. The correlation between a
    mask and its complement is ``sum_w (-1)^w power[w] / sum_w power[w]``: odd degrees
    pull it down, even degrees up.

    Returns (n_nodes + 1,) float64 summing to the variance of ``values`` over all masks.

    Introduced in chapter 1, :ref:`§All 2^20 subnetworks <node-removal-exact>`.
    """
    values, n_nodes = _check_table(values)
    spectrum = walsh_hadamard(values)
    power = np.bincount(_sizes(n_nodes), weights=np.square(spectrum, out=spectrum),
                        minlength=n_nodes + 1)
    power[0] = 0.0
    return power


def flip_correlations(values):
    """Exact correlation between a mask's value and the value after ``d`` random flips,
    for ``d = 0 .. n``: the start is uniform over all masks (each node on with
    probability 1/2) and the flipped nodes are a uniformly random set of ``d`` nodes,
    which is the distribution of a hypercube path's step ``d``.

    ``Cov(d) = sum_{T != 0} f_hat(T)^2 K_d(|T|) / C(n, d)`` with the Krawtchouk
    polynomial ``K_d(w) = sum_j (-1)^j C(w, j) C(n - w, d - j)``, from the
    Walsh-Hadamard spectrum ``f_hat`` (:func:`walsh_hadamard`). ``d = n`` is
    :func:`complement_correlation`.

    Returns
    -------
    (n_nodes + 1,) float64, correlations (1 at d = 0).

    Introduced in chapter 1, :ref:`§All 2^20 subnetworks <node-removal-exact>`.
    """
    values, n_nodes = _check_table(values)
    power = walsh_power_by_degree(values)
    krawtchouk = np.array([[sum((-1) ** j * math.comb(w, j) * math.comb(n_nodes - w, d - j)
                                for j in range(0, d + 1)) for w in range(n_nodes + 1)]
                           for d in range(n_nodes + 1)], dtype=np.float64)
    binomials = np.array([math.comb(n_nodes, d) for d in range(n_nodes + 1)], dtype=np.float64)
    covariance = krawtchouk @ power / binomials
    return covariance / covariance[0]


def complement_correlation(values):
    """Pearson correlation between a mask's value and its complement's, over all masks
    (every complementary pair counted in both orders, so the start and the end of a
    pair play the same role). (2**n,) float -> float."""
    values, n_nodes = _check_table(values)
    # A mask and its complement run over the same table (index ^ (2**n - 1) == 2**n - 1 -
    # index), so both have its mean and variance, and Pearson's r needs one centred copy.
    centred = values - values.mean()
    return float(centred @ centred[::-1] / (centred @ centred))


# --------------------------------------------------------------------------- distributions of values


def gaussian_density(values, grid, bandwidth, weights=None):
    """Gaussian kernel density of ``values`` on ``grid``, optionally weighted.

    ``density(g) = sum_i w_i N(g; values_i, bandwidth^2) / sum_i w_i``. Up to 20,000
    values the sum is direct; beyond that the values are first linearly binned onto a
    grid of spacing ``bandwidth / 20`` (relative error below 1e-3), which is how the
    exact densities over all 2**20 masks are drawn.

    Parameters
    ----------
    values : (k,) float
    grid : (g,) float, increasing
    bandwidth : float > 0, the kernel's standard deviation
    weights : (k,) float >= 0 or None (equal weights)

    Returns
    -------
    (g,) float64

    Introduced in chapter 1, :ref:`§Loss under random masks <node-removal-random-masks>`.
    """
    values = check_array("values", values, ndim=1, dtype=np.float64, empty=False)
    grid = check_array("grid", grid, ndim=1, dtype=np.float64)
    if len(grid) < 2 or np.any(np.diff(grid) <= 0):
        raise ValueError(f"grid must be increasing with at least 2 points, got {describe(grid)}")
    bandwidth = check_float("bandwidth", bandwidth, low=0, low_open=True)
    if weights is None:
        weights = np.ones_like(values)
    weights = check_array("weights", weights, shape=values.shape, dtype=np.float64)
    total = weights.sum()
    if weights.min() < 0 or total <= 0:
        raise ValueError("weights must be non-negative with a positive sum")
    if len(values) <= 20000:
        density = np.zeros(len(grid))
        step = max(1, 2**18 // len(grid))          # bounded temporaries: ~2 MB
        for start in range(0, len(values), step):
            z = (grid[:, None] - values[None, start:start + step]) / bandwidth
            density += np.exp(-0.5 * z * z) @ weights[start:start + step]
        return density / (total * bandwidth * math.sqrt(2 * math.pi))
    step = bandwidth / 20
    lo, hi = grid[0] - 6 * bandwidth, grid[-1] + 6 * bandwidth
    fine = np.arange(lo, hi + step, step)
    mass = np.zeros(len(fine))
    for start in range(0, len(values), 2**16):      # bounded temporaries
        chunk = values[start:start + 2**16]
        inside = (chunk >= lo) & (chunk < fine[-1])
        position = (chunk[inside] - lo) / step
        left = np.floor(position).astype(np.int64)
        frac = position - left
        mass_here = weights[start:start + 2**16][inside]
        mass += np.bincount(left, weights=mass_here * (1 - frac), minlength=len(fine))
        mass += np.bincount(np.minimum(left + 1, len(fine) - 1), weights=mass_here * frac,
                            minlength=len(fine))
    offsets = np.arange(-int(6 * 20), int(6 * 20) + 1) * step
    kernel = np.exp(-0.5 * (offsets / bandwidth) ** 2) / (bandwidth * math.sqrt(2 * math.pi))
    smooth = np.convolve(mass, kernel, mode="same")
    return np.interp(grid, fine, smooth) / total


def normal_fit(values, weights=None, tails=(0.01, 0.99)):
    """How far ``values`` are from the normal distribution with their mean and standard
    deviation: effect sizes, not a test.

    Parameters
    ----------
    values : (n,) float
    weights : None or (n,) float >= 0, e.g. :func:`mask_probabilities` for the exact
        distribution over all masks
    tails : quantile levels in (0, 1) at which to compare the quantiles

    Returns
    -------
    dict with ``ks`` (the Kolmogorov-Smirnov distance: the largest gap between the
    distribution function and the fitted normal's), ``skewness`` (0 for a normal) and
    ``tail_errors`` ((len(tails),) float64: the quantile minus the fitted normal's, in
    standard deviations).

    Introduced in chapter 1, :ref:`§Is the loss log-normal? <node-removal-lognormal>`
    """
    values = check_array("values", values, ndim=1, dtype=np.float64)
    if len(values) < 3:
        raise ValueError(f"values must have at least 3 entries, got {describe(values)}")
    if weights is None:
        weights = np.ones(len(values))
    else:
        weights = check_array("weights", weights, shape=values.shape, dtype=np.float64)
        if np.any(weights < 0) or not weights.sum() > 0:
            raise ValueError("weights must be >= 0 with a positive sum")
    tails = check_array("tails", tails, ndim=1, dtype=np.float64, empty=False)
    if np.any((tails <= 0) | (tails >= 1)):
        raise ValueError(f"tails must lie in (0, 1), got {tails}")
    # Memory-lean for chapter 1's 2**20 masks: a few arrays of the input's size, reused.
    order = np.argsort(values, kind="stable")
    standard = values[order]
    sorted_weights = weights[order]
    del order
    sorted_weights /= sorted_weights.sum()
    cumulative = np.cumsum(sorted_weights)
    positions = np.minimum(np.searchsorted(cumulative, tails), len(values) - 1)
    quantiles = standard[positions]
    mean = float(np.dot(sorted_weights, standard))
    standard -= mean
    std = float(np.sqrt(np.dot(sorted_weights, standard * standard)))
    standard /= std
    skewness = float(np.dot(sorted_weights * standard, standard * standard))
    special.ndtr(standard, out=standard)            # the fitted normal's distribution function
    cumulative -= standard                           # the gap just after each value
    ks = max(cumulative.max(), -cumulative.min())
    cumulative -= sorted_weights                     # and just before it
    ks = float(max(ks, cumulative.max(), -cumulative.min()))
    tail_errors = (quantiles - (mean + std * stats.norm.ppf(tails))) / std
    return {"ks": ks, "skewness": skewness, "tail_errors": tail_errors}
