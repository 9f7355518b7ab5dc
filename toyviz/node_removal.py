"""Chapter 1's measurements of one network, and of many networks trained the same way.

:func:`measure` computes, for one network with 20 hidden ReLU nodes and a test set, every
number that chapter 1's claims rest on (``book/claims/node_removal.toml`` names them):
the loss and mask-gradients of 1000 random masks at each of p = 0.25, 0.5 and 0.75, 1000
hypercube paths, the per-point heatmaps, the nodes' roles and the exact sweep over all
``2**20`` masks, each reduced to its numbers. The chapter calls it on its own network
(``tables=True`` also returns the arrays its figures draw) and :func:`measure_networks`
calls it on networks trained like the essay's (Adam(0.01), 20 epochs, batches of 32, 1000
points) on either circle task (:data:`toyviz.data.CIRCLE_RULES`), keeping only the numbers,
so that the chapter judges each claim on every network.

:func:`against_networks` compares the essay's quoted numbers with the spread of a set of
networks: an effect size and a prediction interval, not a significance test.

Introduced in chapter 1, :ref:`§Many networks <node-removal-many>`.
"""

import math
import time

import numpy as np
import pandas as pd
from scipy import stats

from toyviz import _fused, data, landscape, masking, training
from toyviz._checks import (describe, check_array, check_choice, check_flag, check_float,
                            check_int, check_rng)
from toyviz.network.stack import init_stack

#: The keep-probabilities of the random masks.
P_VALUES = (0.25, 0.5, 0.75)

#: Masks drawn per p, and hypercube paths drawn, as in the essay.
N_MASKS = 1000
N_PATHS = 1000

#: Hidden nodes of the essay's network.
N_NODES = 20

#: Where the gradient densities are drawn (d log loss / d mask), and their kernel width.
GRADIENT_GRID = np.linspace(-2, 2, 801)
BANDWIDTH = 0.03

#: A density's mode this close to 0 counts as neither side of it.
NEAR_ZERO = 0.01

#: The heatmaps' square [-2, 2]^2 and points per side; the ring's half-width about the
#: circle.
HEATMAP = (-2.0, 2.0, 160)
RING = 0.25

#: A node active on at least this share of the training square is bias-like.
BIAS_LIKE = 0.99

#: A single removal costing less than this share of the full network's loss is "nearly
#: free"; a correlation below ``SMALL`` in size explains under 1% of the variance.
FREE = 0.05
SMALL = 0.1

#: Bootstrap resamples for the intervals of the gradients' kurtosis.
RESAMPLES = 999

#: How the essay trained its network.
TRAINING = {"epochs": 20, "learning_rate": 0.01, "batch_size": 32, "n_points": 1000}


def kurtosis_interval(gradients, rng, confidence=0.95, n_resamples=RESAMPLES):
    """95% BCa bootstrap interval of the excess kurtosis of all mask-gradient entries,
    resampling whole masks (a mask's entries are not independent).

    Each resample's kurtosis comes from the masks' sums of the first four powers of their
    entries (centred on the overall mean), so a resample costs a sum over its masks
    rather than a pass over all its entries; ``tests/test_node_removal.py`` checks it
    against ``scipy.stats.bootstrap`` computing ``scipy.stats.kurtosis`` of the entries one
    resample at a time.

    Parameters
    ----------
    gradients : (n_masks, n_nodes) float, n_masks >= 3
    rng : numpy.random.Generator

    Returns
    -------
    (low, high) floats
    """
    gradients = check_array("gradients", gradients, ndim=2, dtype=np.float64)
    if gradients.shape[0] < 3 or gradients.shape[1] < 1:
        raise ValueError(f"gradients must hold at least 3 masks of at least 1 node, got "
                         f"{describe(gradients)}")
    rng = check_rng("rng", rng)
    confidence = check_float("confidence", confidence, low=0, high=1, low_open=True,
                             high_open=True)
    n_resamples = check_int("n_resamples", n_resamples, low=2, high=10**6)
    centred = gradients - gradients.mean()
    sums = np.stack([np.ones(len(centred)) * centred.shape[1],
                     *(np.sum(centred**k, axis=1) for k in (1, 2, 3, 4))], axis=1)

    def statistic(rows, axis=-1):
        total = sums[rows.astype(np.int64)].sum(axis=-2)     # (..., 5): count, power sums
        m1, m2, m3, m4 = (total[..., k] / total[..., 0] for k in (1, 2, 3, 4))
        variance = m2 - m1**2
        fourth = m4 - 4 * m3 * m1 + 6 * m2 * m1**2 - 3 * m1**4
        return fourth / variance**2 - 3.0

    interval = stats.bootstrap((np.arange(len(gradients)),), statistic, vectorized=True,
                               n_resamples=n_resamples, batch=200,
                               confidence_level=confidence, rng=rng).confidence_interval
    return float(interval.low), float(interval.high)


def _modes(log_gradient, is_on):
    """Per node, the density of its log-loss gradients when on and when off: the curves
    (n_nodes, 2, grid), where each peaks, and their standard deviations."""
    n_nodes = log_gradient.shape[1]
    curves = np.stack([[landscape.gaussian_density(log_gradient[is_on[:, node], node],
                                                   GRADIENT_GRID, BANDWIDTH),
                        landscape.gaussian_density(log_gradient[~is_on[:, node], node],
                                                   GRADIENT_GRID, BANDWIDTH)]
                       for node in range(n_nodes)])
    modes = GRADIENT_GRID[curves.argmax(axis=2)]
    widths = np.array([[log_gradient[is_on[:, node], node].std(),
                        log_gradient[~is_on[:, node], node].std()] for node in range(n_nodes)])
    return curves, modes, widths


def measure(model, x, y, rng, resampling, rule="prose", tables=False):
    """Every number chapter 1's claims rest on, for one network.

    Draws, from ``rng`` and in this order, 1000 masks at each p of :data:`P_VALUES` and
    1000 hypercube paths, and the kurtosis intervals' resamples from ``resampling``; sweeps
    all ``2**n_nodes`` masks exactly (:func:`toyviz.masking.sweep_all_masks`, in the fused
    numba kernel when numba can be imported, else on the numpy path: about 0.3 s against
    1.2 s for 20 nodes, for about 40 MiB more anonymous memory, 70 MiB when it compiles),
    and reads the paths' losses from the sweep's table (the masks' own losses and gradients
    come from :func:`toyviz.masking.mask_losses`).

    Parameters
    ----------
    model : keras.Model, Network or MaskedNetwork with two inputs, two classes and one
        masked hidden layer of 6 to 24 nodes (see :func:`toyviz.masking.masked_network`)
    x : (n, 2) float test points; y : (n,) int labels, 1 inside the circle
    rng, resampling : numpy.random.Generator
    rule : the circle the labels follow, "prose" or "code" (:data:`toyviz.data.CIRCLE_RULES`):
        the heatmaps' labels and ring
    tables : bool, also return the arrays the chapter draws (the masks, losses and
        gradients, the paths, the sweep's tables, the exact log-normal fits, ...) and the
        fits' KS distances (``exact_ks_<p>``); else only the numbers, and no
        ``2**n_nodes`` array outlives the call

    Returns
    -------
    values : dict, name -> float (names as ``book/claims/node_removal.toml`` uses them).
        ``widest_node_ratio`` compares the nodes whose log-loss gradients vary at all: a
        node that is never active on the test points (counted in ``silent_nodes``) has
        none, and would make the ratio infinite.
    tables : dict of arrays, or None when ``tables`` is false
    """
    target = masking.masked_network(model)
    if target.network.input_shape != (2,) or target.n_classes != 2:
        raise ValueError(f"model must have two inputs and two classes, got input shape "
                         f"{target.network.input_shape} and {target.n_classes} classes")
    n_nodes = target.n_nodes
    if not 6 <= n_nodes <= 24:
        raise ValueError(f"model must mask 6 to 24 nodes (the correlation after 6 flips; "
                         f"a sweep of 2**n masks), got {n_nodes}")
    x = check_array("x", x, shape=(None, 2), dtype=np.float64, empty=False)
    y = check_array("y", y, shape=(len(x),), dtype=None)
    rng = check_rng("rng", rng)
    resampling = check_rng("resampling", resampling)
    radius_squared = data.CIRCLE_RULES[check_choice("rule", rule, tuple(data.CIRCLE_RULES))]
    tables = check_flag("tables", tables)
    values, kept = {}, {}

    # ----- the full network
    losses, _ = masking.point_losses(target, x, y)
    probability = masking.class_probabilities(target, x)
    values["full_loss"] = float(losses.mean())
    values["accuracy"] = 100 * float(np.mean(probability.argmax(axis=1) == y))

    # ----- random masks
    samples = {}
    for p in P_VALUES:
        masks = masking.random_masks(N_MASKS, p, rng, n_nodes=n_nodes)
        loss, gradient = masking.mask_losses(target, x, y, masks)
        samples[p] = {"masks": masks, "loss": loss, "gradient": gradient}
    for p, s in samples.items():
        log_loss = np.log(s["loss"])
        log_gradient = s["gradient"] / s["loss"][:, None]
        values[f"mean_loss_{p}"] = float(s["loss"].mean())
        values[f"skew_loss_{p}"] = float(stats.skew(s["loss"]))
        values[f"log_mean_{p}"] = float(log_loss.mean())
        values[f"log_std_{p}"] = float(log_loss.std())
        values[f"grad_mean_{p}"] = float(s["gradient"].mean())
        values[f"grad_std_{p}"] = float(s["gradient"].std())
        values[f"grad_kurtosis_{p}"] = float(stats.kurtosis(s["gradient"].ravel()))
        values[f"log_grad_mean_{p}"] = float(log_gradient.mean())
        values[f"log_grad_std_{p}"] = float(log_gradient.std())
    predicted = n_nodes * (P_VALUES[-1] - P_VALUES[0]) * samples[0.5]["gradient"].mean()
    actual = samples[0.75]["loss"].mean() - samples[0.25]["loss"].mean()
    values["predicted_change"] = float(predicted)
    values["actual_change"] = float(actual)
    values["change_error"] = float(100 * abs(predicted / actual - 1))

    paths = masking.hypercube_paths(N_PATHS, rng, n_nodes=n_nodes)   # rng's next draws

    half = samples[0.5]
    log_gradient = half["gradient"] / half["loss"][:, None]
    is_on = half["masks"] == 1
    values["on_mean"] = float(log_gradient[is_on].mean())
    values["off_mean"] = float(log_gradient[~is_on].mean())
    values["on_std"] = float(log_gradient[is_on].std())
    values["off_std"] = float(log_gradient[~is_on].std())
    curves, modes, widths = _modes(log_gradient, is_on)
    peaks = np.where(modes > NEAR_ZERO, "right", np.where(modes < -NEAR_ZERO, "left", "at 0"))
    pattern = (peaks[:, 0] == "right") & (peaks[:, 1] == "left")
    values["n_pattern"] = int(pattern.sum())
    spread = widths.max(axis=1)                      # a node's gradients, on or off
    acting = spread > 0                              # a node that is never active has none
    values["silent_nodes"] = int(n_nodes - acting.sum())
    values["widest_node_ratio"] = float(spread.max() / spread[acting].min()) \
        if acting.any() else 1.0
    # the density of all entries is the nodes' on and off densities weighted by their
    # counts (the same sum, without a second pass over 20,000 entries by 801 points)
    counts = np.stack([is_on.sum(axis=0), (~is_on).sum(axis=0)], axis=1)
    pooled = np.tensordot(counts, curves, axes=([0, 1], [0, 1])) / is_on.size
    at_zero = pooled[np.argmin(np.abs(GRADIENT_GRID))]
    left_peak, right_peak = pooled[GRADIENT_GRID < 0].max(), pooled[GRADIENT_GRID > 0].max()
    values["trough_at_zero"] = float(at_zero)
    values["trough_left_peak"] = float(left_peak)
    values["trough_right_peak"] = float(right_peak)
    values["trough_lower_peak"] = float(min(left_peak, right_peak))
    values["trough_depth"] = float(at_zero / min(left_peak, right_peak))

    # ----- kurtosis intervals (resampling's stream)
    for p, s in samples.items():
        values[f"grad_kurtosis_{p}_low"], values[f"grad_kurtosis_{p}_high"] = \
            kurtosis_interval(s["gradient"], resampling)

    # ----- per-point heatmaps and the nodes' roles
    points, _ = data.grid(*HEATMAP)
    radius = np.sqrt(np.sum(points.astype(np.float64) ** 2, axis=1))
    labels = (radius ** 2 < radius_squared).astype(int)
    point_loss, point_gradients = masking.point_losses(target, points, labels)
    ring = np.abs(radius - math.sqrt(radius_squared)) < RING
    gradient_mass = np.abs(point_gradients).sum(axis=1)
    values["ring_area"] = float(ring.mean())
    values["gradient_in_ring"] = float(gradient_mass[ring].sum() / gradient_mass.sum())
    values["loss_in_ring"] = float(point_loss[ring].sum() / point_loss.sum())
    roles = masking.node_roles(target, threshold=BIAS_LIKE)
    values["n_bias_nodes"] = int(roles["bias_like"].sum())
    others = roles["active_fraction"][~roles["bias_like"]]
    values["max_other_active"] = float(others.max()) if len(others) else 0.0

    # ----- every mask, exactly
    started = time.perf_counter()
    all_loss, all_mean_gradient, gradient_exact = masking.sweep_all_masks(
        target, x, y, project=np.full((n_nodes, 1), 1 / n_nodes), node_means=True,
        engine="numba" if _fused.available() else "numpy")   # numba missing: warned once
    sweep_seconds = time.perf_counter() - started
    row_mean_gradient = all_mean_gradient[:, 0].astype(np.float64)
    del all_mean_gradient
    # ----- hypercube paths: their losses read from the sweep's table (binary masks)
    path_loss = all_loss[masking.mask_indices(paths.reshape(-1, n_nodes))]
    path_log_loss = np.log(path_loss).reshape(N_PATHS, n_nodes + 1)
    decay = masking.path_correlations(path_log_loss, alpha=0.05)
    values["flips_insignificant"] = (n_nodes + 1 if decay["flips_to_insignificant"] is None
                                     else decay["flips_to_insignificant"])
    values["path_reversal"] = float(decay["correlation"][n_nodes])
    values["path_reversal_p"] = float(decay["p_value"][n_nodes])
    values["symmetry_gap"] = float(np.abs(decay["with_start"] - decay["with_end"]).max()
                                   / decay["with_start"][0])

    all_log_loss = np.log(all_loss)
    exact_rows = []
    log_moments = landscape.mask_moments_at(all_log_loss, P_VALUES)
    loss_moments = landscape.mask_moments_at(all_loss, P_VALUES)
    gradient_moments = landscape.mask_moments_at(row_mean_gradient, P_VALUES)
    for (mean_log, std_log, skew_log), (mean_loss, _, skew_loss), (mean_gradient, _, _), p in \
            zip(log_moments, loss_moments, gradient_moments, P_VALUES):
        values[f"exact_mean_{p}"] = float(mean_loss)
        values[f"exact_loss_skew_{p}"] = float(skew_loss)
        values[f"exact_log_skew_{p}"] = float(skew_log)
        values[f"exact_gradient_mean_{p}"] = float(mean_gradient)
        if tables:   # the fit's KS distance and tails: the chapter's own network only
            fit = landscape.normal_fit(all_log_loss, landscape.mask_probabilities(n_nodes, p))
            values[f"exact_ks_{p}"] = float(fit["ks"])
            exact_rows.append({"exact mean loss": mean_loss, "exact mean log loss": mean_log,
                               "exact std log loss": std_log,
                               "exact skewness of log loss": skew_log,
                               "exact mean gradient": mean_gradient, "fit": fit})
    values["exact_log_skew_max_abs"] = max(abs(values[f"exact_log_skew_{p}"]) for p in P_VALUES)
    values["exact_log_skew_min_abs"] = min(abs(values[f"exact_log_skew_{p}"]) for p in P_VALUES)
    values["wiggle_max"] = _largest_wiggle(all_loss, samples, n_nodes)

    costs = landscape.removal_costs(all_loss)
    full = all_loss[-1]
    extremes = landscape.best_and_worst_by_size(all_loss)
    cheapest = int(np.argmin(costs))
    values["cheapest_node"] = cheapest
    values["cheapest_cost"] = float(costs[cheapest])
    values["cheapest_share"] = float(100 * costs[cheapest] / full)
    values["costliest_cost"] = float(costs.max())
    values["sweep_full_loss"] = float(full)
    values["empty_loss"] = float(all_loss[0])
    values["full_minus_empty"] = float(full - all_loss[0])
    values["largest_size_step"] = float(np.diff(extremes["mean"]).max())
    middle = n_nodes // 2
    values["spread_10"] = float(extremes["worst"][middle] / extremes["best"][middle])

    exact_decay = landscape.flip_correlations(all_log_loss)
    power = landscape.walsh_power_by_degree(all_log_loss)   # flip_correlations' too: 0.1 s
    share = power / power.sum()
    values["reversal_exact"] = landscape.complement_correlation(all_log_loss)
    values["share_degree1"] = float(100 * share[1])
    values["share_degree2"] = float(100 * share[2])
    values["share_odd"] = float(100 * share[1::2].sum())
    values["share_even"] = float(100 * share[2::2].sum())
    critical = float(np.tanh(stats.norm.ppf(0.975) / np.sqrt(N_PATHS - 3)))
    values["exact_insignificant"] = _first(np.abs(exact_decay) < critical, n_nodes + 1)
    values["small_after"] = _first(np.abs(exact_decay) < SMALL, n_nodes + 1)
    for flips in (1, 5, 6):
        values[f"decay_{flips}"] = float(exact_decay[flips])
    best_tenth = all_log_loss <= np.quantile(all_log_loss, 0.1)
    values["complement_good"] = float(np.mean(all_log_loss[::-1][best_tenth]
                                              < np.median(all_log_loss)))
    del best_tenth
    if not tables:
        return values, None
    kept.update(samples=samples, log_gradient=log_gradient, is_on=is_on, curves=curves,
                modes=modes, widths=widths, peaks=peaks, pattern=pattern, pooled=pooled,
                paths=paths, path_log_loss=path_log_loss, decay=decay, points=points,
                labels=labels, point_loss=point_loss, point_gradients=point_gradients,
                ring=ring, roles=roles, all_loss=all_loss, all_log_loss=all_log_loss,
                row_mean_gradient=row_mean_gradient, gradient_exact=gradient_exact,
                sweep_seconds=sweep_seconds, exact=exact_rows, costs=costs,
                extremes=extremes, exact_decay=exact_decay, share=share)
    return values, kept


def _first(flags, otherwise):
    """The first index where ``flags`` is true, or ``otherwise``."""
    found = np.flatnonzero(flags)
    return int(found[0]) if len(found) else otherwise


def _largest_wiggle(all_loss, samples, n_nodes):
    """The largest KS distance, over the p's, between a sample's losses (as the sweep
    computed them) and the exact distribution of the loss at that p."""
    order = np.argsort(all_loss, kind="stable")
    sorted_loss = all_loss[order]
    wiggle = []
    for p, s in samples.items():
        exact_cdf = landscape.mask_probabilities(n_nodes, p)[order]
        np.cumsum(exact_cdf, out=exact_cdf)
        drawn = np.sort(all_loss[masking.mask_indices(s["masks"])])
        at = np.searchsorted(sorted_loss, drawn, side="right")
        sample_cdf = np.arange(1, len(drawn) + 1) / len(drawn)
        wiggle.append(float(np.max(np.maximum(np.abs(sample_cdf - exact_cdf[at - 1]),
                                              np.abs(sample_cdf - 1 / len(drawn)
                                                     - exact_cdf[at - 1])))))
        del exact_cdf
    return max(wiggle)


def train_networks(n_nets, rng, rule="prose", n_nodes=N_NODES):
    """``n_nets`` networks trained as the essay trained its own (Adam(0.01), 20 epochs,
    batches of 32), each on its own 1000 points, all at once (:func:`toyviz.training.train`),
    with a test set of 1000 points each.

    Parameters
    ----------
    n_nets : int >= 1
    rng : numpy.random.Generator (the points, the initial weights, the batch order)
    rule : "prose" or "code" (:func:`toyviz.data.circle`)
    n_nodes : int in [1, 1000], hidden nodes per network

    Returns
    -------
    params : :class:`toyviz.network.stack.Stack` of the trained networks
    tests : list of ``(x_test, y_test)``, one per network
    """
    n_nets = check_int("n_nets", n_nets, low=1, high=1000)
    rng = check_rng("rng", rng)
    check_choice("rule", rule, tuple(data.CIRCLE_RULES))
    n_nodes = check_int("n_nodes", n_nodes, low=1, high=1000)
    n_points = TRAINING["n_points"]
    sets = [data.circle(n_points, rng, rule) for _ in range(2 * n_nets)]
    x = np.stack([x for x, _ in sets[:n_nets]])
    y = np.stack([y for _, y in sets[:n_nets]])
    params = init_stack(n_nets, [n_nodes], rng)
    result = training.train(params, x, y, TRAINING["epochs"], rng,
                            learning_rate=TRAINING["learning_rate"],
                            batch_size=TRAINING["batch_size"])
    return result.params, sets[n_nets:]


def measure_networks(n_nets, rng, rule="prose"):
    """Train ``n_nets`` networks on one circle task (:func:`train_networks`) and
    :func:`measure` each, keeping only the numbers.

    Returns
    -------
    list of dicts, name -> float, one per network (see :func:`measure`)
    """
    rng = check_rng("rng", rng)
    params, tests = train_networks(n_nets, rng, rule)
    streams = rng.spawn(2 * len(tests))
    return [measure(params.network(net), x, y, streams[2 * net],
                    streams[2 * net + 1], rule=rule)[0]
            for net, (x, y) in enumerate(tests)]


def prediction_scale(n_networks, confidence=0.95):
    """How many of ``n_networks`` networks' standard deviations the central
    ``confidence`` prediction interval for one more network reaches on either side of
    their mean: ``t_{(1 + confidence) / 2, n - 1} * sqrt(1 + 1/n)`` (Student's t)."""
    n_networks = check_int("n_networks", n_networks, low=2)
    confidence = check_float("confidence", confidence, low=0, high=1, low_open=True,
                             high_open=True)
    return float(stats.t.ppf(0.5 + confidence / 2, n_networks - 1)
                 * math.sqrt(1 + 1 / n_networks))


def against_networks(essay, networks, confidence=0.95):
    """The essay's numbers against a set of networks: for each, the networks' mean and
    standard deviation, the central ``confidence`` prediction interval for one more
    network trained the same way (Student's t, ``mean ± t sd sqrt(1 + 1/n)``), the essay's
    distance from the mean in networks' standard deviations (an effect size), and whether
    it lies in the interval.

    Parameters
    ----------
    essay : dict, name -> the essay's number
    networks : list of dicts holding every name of ``essay`` (at least 3 networks)

    Returns
    -------
    pandas.DataFrame indexed by name: ``essay``, ``mean``, ``std``, ``low``, ``high``,
    ``effect`` and ``inside`` (bool)
    """
    if not isinstance(essay, dict) or not essay:
        raise TypeError(f"essay must be a non-empty dict of name -> number, got {describe(essay)}")
    essay = {name: check_float(f"essay[{name!r}]", quoted) for name, quoted in essay.items()}
    confidence = check_float("confidence", confidence, low=0, high=1, low_open=True,
                             high_open=True)
    if not isinstance(networks, (list, tuple)) or len(networks) < 3:
        raise ValueError(f"networks must be a list of at least 3 dicts of values, got "
                         f"{describe(networks)}")
    for i, values in enumerate(networks):
        if not isinstance(values, dict):
            raise TypeError(f"networks[{i}] must be a dict of name -> number, got "
                            f"{describe(values)}")
        missing = [name for name in essay if name not in values]
        if missing:
            raise ValueError(f"networks[{i}] must hold every name of essay, but lacks {missing}")
    scale = prediction_scale(len(networks), confidence)
    rows = {}
    for name, quoted in essay.items():
        sample = np.array([check_float(f"networks[{i}][{name!r}]", values[name])
                           for i, values in enumerate(networks)])
        mean, std = sample.mean(), sample.std(ddof=1)
        effect = (quoted - mean) / std if std > 0 else (0.0 if quoted == mean else math.inf)
        low, high = mean - scale * std, mean + scale * std
        rows[name] = {"essay": quoted, "mean": mean, "std": std, "low": low, "high": high,
                      "effect": effect, "inside": bool(low <= quoted <= high)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("value")
