"""Comparing the two routes of the third essay, train-then-prune and prune-then-train, with
measurements over many networks: how far training moves weights (the search for the
essay's ±0.59 sections), how the two routes' weights and moves correlate, whether their
hidden nodes play the same roles, and how often their decision surfaces agree.

Every function works on :mod:`toyviz.network.stack` stacks and returns one value per network,
so a chapter can give a mean with a confidence interval (:func:`toyviz.intervals.interval`,
also importable from here) and compare two conditions network by network (:func:`paired`).

Introduced in chapter 3, :ref:`§Searching for the ±0.59 sections <bands>` and
:ref:`§Similar roles <roles>`.
"""

import numpy as np
import pandas as pd
from scipy import optimize, stats

from toyviz import pruning, training
from toyviz.intervals import interval  # noqa: F401  (its home until #25, kept importable here)
from toyviz._checks import (describe, check_array, check_flag, check_float, check_int,
                             check_labels, check_rng, check_size, check_training_inputs)
from toyviz.network.stack import check_stack, init_stack, take

#: What :func:`band_search` reports per network, in its column order.
BAND_COLUMNS = ("accuracy", "near_step", "peak", "persistent", "persistent_step", "parallel",
                "on_diagonal", "largest_move")


def paired(first, second, confidence=0.95):
    """Paired comparison of two conditions measured on the same networks: the mean of
    ``first - second`` with its confidence interval, and the two-sided p-value of the
    paired t-test (``scipy.stats.ttest_rel``).

    Returns
    -------
    dict with keys difference, low, high, p.
    """
    first = check_array("first", first, ndim=1, dtype=np.float64, empty=False)
    second = _check_like("second", second, "first", first)
    if len(first) < 2:
        raise ValueError(f"first and second must hold at least 2 networks' values for an "
                         f"interval, got {len(first)}")
    difference, low, high = interval(first - second, confidence)
    p = float(stats.ttest_rel(first, second).pvalue) if np.ptp(first - second) > 0 else (
        1.0 if difference == 0 else 0.0)
    return {"difference": difference, "low": low, "high": high, "p": p}


def _check_like(name, value, other_name, other):
    """``value`` as a float64 array of ``other``'s shape."""
    value = check_array(name, value, dtype=np.float64)
    if value.shape != other.shape:
        raise ValueError(f"{other_name} and {name} must have the same shape, got "
                         f"{other.shape} and {value.shape}")
    return value


def _setup(setup, n, index):
    where = f"setups[{index}]"
    if not isinstance(setup, dict):
        raise TypeError(f"{where} must be a dict, got {describe(setup)}")
    missing = {"name", "learning_rate", "batch_size", "steps"} - set(setup)
    if missing:
        raise ValueError(f"{where} needs the keys {sorted(missing)}")
    batch_size = setup["batch_size"]
    batch_size = n if batch_size is None else check_int(f"{where}['batch_size']", batch_size,
                                                        low=1)
    per_epoch = -(-n // min(batch_size, n))
    steps = check_int(f"{where}['steps']", setup["steps"], low=1, high=10**7)
    epochs = max(1, int(round(steps / per_epoch)))
    return (check_float(f"{where}['learning_rate']", setup["learning_rate"], low=0,
                        low_open=True, high=1.0),
            batch_size, epochs, epochs * per_epoch,
            check_float(f"{where}['input_scale']", setup.get("input_scale", 1.0), low=0,
                        low_open=True, high=1e6),
            check_float(f"{where}['init_scale']", setup.get("init_scale", 1.0), low=0,
                        low_open=True, high=1e6))


def band_search(setups, x, y, x_test, y_test, rng, n_nets=10, widths=(50, 50),
                fraction=0.5, window=0.05, layer=1, moves=False):
    """Train ``n_nets`` networks per setup both ways round and measure how far training
    moved each weight of kernel ``layer`` against Adam's yardstick ``lr * T`` (T steps).

    Adam's step is at most about the learning rate, and if a weight pushed the same way on
    every step moved by about that much (``persistent_step`` measures it), sharp sections
    at a distance from the diagonal would be weights that moved by ``±lr T``. The essay's scatter allows two readings of them, and both are
    measured:

    - *parallel lines*: a removed node's weight moved on the train-first route only (the
      prune-first route leaves it at its initial value), so it sits at horizontal
      distance ``±lr T`` from the diagonal;
    - *dashes on the diagonal*: a kept weight moved by ``±lr T`` the same way on both
      routes, so it sits on the diagonal, beyond the initialisation's range.

    Parameters
    ----------
    setups : sequence of dicts with keys ``name``, ``learning_rate``, ``batch_size`` (int,
        or None for the full batch), ``steps`` (rounded to whole epochs), and optionally
        ``input_scale`` (the inputs are multiplied by it) and ``init_scale`` (the initial
        kernels are multiplied by it), both 1 by default.
    x, y : training data, (n, n_inputs) float32 and (n,) int labels
    x_test, y_test : test data
    rng : numpy.random.Generator
    n_nets : int >= 2, networks per setup
    widths : hidden widths
    fraction : float in [0, 1), the share of each hidden layer pruned at random
    window : float > 0, "about lr T" means within ``window * lr T`` of it
    layer : int >= 1, the kernel studied (1: hidden-to-hidden)
    moves : bool, also return every weight's move on the train-first route

    Returns
    -------
    table : pandas.DataFrame, one row per (setup, network), with columns setup, net,
    learning_rate, batch_size, steps, lr_steps and :data:`BAND_COLUMNS`: test accuracy of
    the trained full network; near_step, the share of its weights that moved by
    ``lr T`` within the window; peak, how many more weights moved by ``lr T`` than by
    the neighbouring amounts (the count in the window, plus one, over the mean count in
    the two windows of the same width on either side, plus one: about 1 for a smooth
    spread of moves, large for a sharp section); persistent, the share whose gradient had
    the same sign on at least 90 % of the steps (net count ``|sum of signs| >= 0.9 T``);
    persistent_step, the median over those weights of their move per step in units of
    the learning rate, ``|move| / (lr T)`` (1 if Adam moved each by lr on every step; NaN
    when no weight persisted); parallel, the
    share of removed nodes' weights at ``±lr T`` from the diagonal; on_diagonal, the share
    of kept weights that moved by ``lr T`` within the window, the same way, on both
    routes; largest_move, the largest move in units of ``lr T``.
    moves : only with ``moves=True``, dict setup name -> (n_nets, fan_in, fan_out) float64,
        each weight's move in units of ``lr T``.
    """
    rng = check_rng("rng", rng)
    x = check_training_inputs("x", check_array("x", x, shape=(None, 2), empty=False))
    y = check_labels("y", y, len(x), n_classes=2)
    x_test = check_array("x_test", x_test, shape=(None, 2), empty=False)
    y_test = check_labels("y_test", y_test, len(x_test), n_classes=2)
    n_nets = check_int("n_nets", n_nets, low=2)
    if isinstance(widths, (str, bytes)) or not isinstance(widths, (list, tuple)) or not widths:
        raise TypeError(f"widths must be a non-empty sequence of ints, got {describe(widths)}")
    widths = [check_int(f"widths[{i}]", width, low=1) for i, width in enumerate(widths)]
    sizes = [2, *widths, 2]
    weights = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    n_bytes = n_nets * (weights * 64 + (len(x) + len(x_test)) * sum(sizes) * 16)
    check_size("n_nets" if max(widths) <= 10**4 else "widths", n_nets, n_bytes)
    fraction = check_float("fraction", fraction, low=0, high=1)
    window = check_float("window", window, low=0, low_open=True, high=1)
    layer = check_int("layer", layer, low=1, high=len(widths))
    moves = check_flag("moves", moves)
    if isinstance(setups, (dict, str, bytes)) or not isinstance(setups, (list, tuple)) \
            or not setups:
        raise TypeError(f"setups must be a non-empty sequence of dicts, got "
                        f"{describe(setups)}")
    checked = [_setup(setup, len(x), index) for index, setup in enumerate(setups)]
    rows, moved_by = [], {}
    for setup, (lr, batch_size, epochs, steps, input_scale, init_scale) in zip(setups, checked):
        start = [(kernel * np.float32(init_scale), bias)
                 for kernel, bias in init_stack(n_nets, widths, rng)]
        inputs = x * np.float32(input_scale)
        full = training.train(start, inputs, y, epochs, rng, learning_rate=lr,
                              batch_size=batch_size, track=True)
        small_start, keeps = pruning.prune_stack(start, fraction, "random", inputs, rng)
        small = training.train(small_start, inputs, y, epochs, rng, learning_rate=lr,
                               batch_size=batch_size)
        lr_steps = lr * steps
        moved = (full.params[layer][0] - start[layer][0]).astype(np.float64)
        distance = np.abs(np.abs(moved) - lr_steps) / lr_steps  # in units of lr T
        near = distance <= window
        beside = (distance > window) & (distance <= 3 * window)
        peak = (near.sum(axis=(1, 2)) + 1) / (beside.sum(axis=(1, 2)) / 2 + 1)
        persistent = np.abs(full.sign_sum[layer][0]) >= 0.9 * steps
        accuracy = full.params.accuracy(x_test * np.float32(input_scale), y_test)
        small_moved = (small.params[layer][0] - small_start[layer][0]).astype(np.float64)
        moved_by[setup["name"]] = moved / lr_steps
        for net in range(n_nets):
            rows_kept, cols_kept = keeps[net][layer - 1], keeps[net][layer]
            kept = np.zeros(moved.shape[1:], bool)
            kept[np.ix_(rows_kept, cols_kept)] = True
            block = np.ix_(rows_kept, cols_kept)
            small_near = np.abs(np.abs(small_moved[net]) - lr_steps) <= window * lr_steps
            same_way = np.sign(moved[net][block]) == np.sign(small_moved[net])
            rows.append((setup["name"], net, lr, batch_size, steps, lr_steps, accuracy[net],
                         near[net].mean(), peak[net], persistent[net].mean(),
                         float(np.median(np.abs(moved[net][persistent[net]]))) / steps / lr
                         if persistent[net].any() else np.nan,
                         near[net][~kept].mean() if (~kept).any() else 0.0,
                         (near[net][block] & small_near & same_way).mean(),
                         np.abs(moved[net]).max() / lr_steps))
    table = pd.DataFrame(rows, columns=["setup", "net", "learning_rate", "batch_size",
                                        "steps", "lr_steps", *BAND_COLUMNS])
    return (table, moved_by) if moves else table


def weight_correlations(first, second, start):
    """Pearson's r between two versions of one kernel, per network, for the weights and for
    the moves training made (each version minus ``start``).

    Parameters
    ----------
    first, second, start : (k, fan_in, fan_out) kernels of k networks

    Returns
    -------
    pandas.DataFrame with columns net, weights, moves (r is 0 when a version is constant).
    """
    first = check_array("first", first, ndim=3, dtype=np.float64, empty=False)
    second = _check_like("second", second, "first", first)
    start = _check_like("start", start, "first", first)
    rows = [(net, _pearson(first[net], second[net]),
             _pearson(first[net] - start[net], second[net] - start[net]))
            for net in range(len(first))]
    return pd.DataFrame(rows, columns=["net", "weights", "moves"])


def _pearson(a, b):
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    scale = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / scale) if scale > 0 else 0.0


def linear_cka(first, second):
    """Linear centred kernel alignment of two sets of activations on the same points
    (Kornblith et al. 2019, "Similarity of neural network representations revisited"):
    ``||A'B||_F^2 / (||A'A||_F ||B'B||_F)`` for column-centred ``A``, ``B``. It is 1 for
    the same nodes in any order or scale and does not need the nodes to be matched.

    Parameters
    ----------
    first : (n, p), second : (n, q) activations

    Returns
    -------
    float in [0, 1]; 0 when either set is constant.
    """
    first, second = _check_activations(first, second)
    a, b = first - first.mean(axis=0), second - second.mean(axis=0)
    scale = np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)
    return float(np.linalg.norm(a.T @ b) ** 2 / scale) if scale > 0 else 0.0


def _check_activations(first, second):
    """Two (n, p) and (n, q) activation arrays of the same points, as float64."""
    first = check_array("first", first, ndim=2, dtype=np.float64, empty=False)
    second = check_array("second", second, ndim=2, dtype=np.float64, empty=False)
    if len(first) != len(second):
        raise ValueError(f"second must have {len(first)} rows (points) like first, "
                         f"got {len(second)}")
    return first, second


def node_correlations(first, second):
    """Correlation of every node of ``first`` with every node of ``second`` over the
    points, (p, q); 0 where a node is constant."""
    first, second = _check_activations(first, second)
    a, b = first - first.mean(axis=0), second - second.mean(axis=0)
    norms = np.outer(np.linalg.norm(a, axis=0), np.linalg.norm(b, axis=0))
    out = np.zeros(norms.shape)
    np.divide(a.T @ b, norms, out=out, where=norms > 0)
    return out


def matched_correlation(first, second):
    """Mean correlation of the best one-to-one matching between the live (non-constant)
    nodes of two layers: the Hungarian algorithm (``scipy.optimize.linear_sum_assignment``)
    on their activations' correlations, maximising the sum.

    Returns
    -------
    float; 0 when either layer has no live node.
    """
    first, second = _check_activations(first, second)
    correlations = node_correlations(first, second)
    live_a = first.std(axis=0) > 0
    live_b = second.std(axis=0) > 0
    correlations = correlations[np.ix_(live_a, live_b)]
    if not correlations.size:
        return 0.0
    rows, cols = optimize.linear_sum_assignment(correlations, maximize=True)
    return float(correlations[rows, cols].mean())


def kept_activations(params, data, keeps=None):
    """The hidden activations of every network of a stack on ``data``, one (k, n, width)
    array per hidden layer; with ``keeps`` (one keep dict by hidden position per network,
    as :func:`toyviz.pruning.prune_stack` returns), only the kept nodes', in their order.
    """
    params = check_stack("params", params)
    data = check_array("data", data, shape=(None, params[0][0].shape[1]), empty=False)
    k, widths = params[0][0].shape[0], [kernel.shape[2] for kernel, _ in params[:-1]]
    if keeps is not None:
        if isinstance(keeps, (str, bytes)) or not isinstance(keeps, (list, tuple)) \
                or len(keeps) != k:
            raise ValueError(f"keeps must hold {k} keep lists, one per network, "
                             f"got {describe(keeps)}")
        for net, keep in enumerate(keeps):
            if not isinstance(keep, (list, tuple, dict)) or len(keep) != len(widths):
                raise ValueError(f"keeps[{net}] must hold {len(widths)} index arrays, one "
                                 f"per hidden layer, got {describe(keep)}")
            for position, width in enumerate(widths):
                index = check_array(f"keeps[{net}][{position}]", keep[position], ndim=1,
                                    dtype=np.int64)
                if index.size and (index.min() < 0 or index.max() >= width):
                    raise ValueError(f"keeps[{net}][{position}] must index nodes 0 .. "
                                     f"{width - 1}, got {index.min()} .. {index.max()}")
    _, hidden = params.forward(data)
    if keeps is None:
        return hidden
    return [np.stack([h[net][:, keeps[net][position]] for net in range(len(h))])
            for position, h in enumerate(hidden)]


def role_similarity(first, second, same_nodes=True):
    """How alike two sets of hidden nodes behave on the same points, per network and
    hidden layer: linear CKA, the mean correlation of the best matching of nodes
    (:func:`matched_correlation`), and, when node ``i`` of one is node ``i`` of the other
    (``same_nodes``), the mean correlation of each node with itself over the nodes live
    in both.

    Parameters
    ----------
    first, second : lists of (k, n, width) activations, one per hidden layer, as from
        :func:`kept_activations`

    Returns
    -------
    pandas.DataFrame with columns net, layer (1-based), cka, matched, same_node (NaN when
    ``same_nodes`` is False).
    """
    for name, layers in (("first", first), ("second", second)):
        if isinstance(layers, (str, bytes, np.ndarray)) or not isinstance(
                layers, (list, tuple)) or not layers:
            raise TypeError(f"{name} must be a non-empty list of (k, n, width) activations, "
                            f"one per hidden layer, got {describe(layers)}")
    if len(first) != len(second):
        raise ValueError(f"second must hold {len(first)} layers like first, "
                         f"got {len(second)}")
    same_nodes = check_flag("same_nodes", same_nodes)
    rows = []
    for position, (a, b) in enumerate(zip(first, second)):
        a = check_array(f"first[{position}]", a, ndim=3, dtype=np.float64, empty=False)
        b = check_array(f"second[{position}]", b, ndim=3, dtype=np.float64, empty=False)
        if a.shape[:2] != b.shape[:2] or (same_nodes and a.shape != b.shape):
            raise ValueError(f"second[{position}] must have shape {a.shape} like first, "
                             f"got {b.shape}")
        for net in range(len(a)):
            same = np.nan
            if same_nodes:
                live = (a[net].std(axis=0) > 0) & (b[net].std(axis=0) > 0)
                same = float(np.diag(node_correlations(a[net][:, live], b[net][:, live]))
                             .mean()) if live.any() else 0.0
            rows.append((net, position + 1, linear_cka(a[net], b[net]),
                         matched_correlation(a[net], b[net]), same))
    return pd.DataFrame(rows, columns=["net", "layer", "cka", "matched", "same_node"])


def agreement(first, second, points):
    """Share of ``points`` on which two networks predict the same class, per network of
    two stacks with the same number of networks.

    Returns
    -------
    (k,) float64
    """
    first = check_stack("first", first)
    second = check_stack("second", second)
    k = len(first[0][0])
    if len(second[0][0]) != k:
        raise ValueError(f"second must hold {k} networks like first, "
                         f"got {len(second[0][0])}")
    if second[0][0].shape[1] != first[0][0].shape[1]:
        raise ValueError(f"second must take {first[0][0].shape[1]} inputs like first, got "
                         f"{second[0][0].shape[1]}")
    points = check_array("points", points, shape=(None, first[0][0].shape[1]), empty=False)
    out = np.empty(k)
    for net in range(k):  # one network at a time: a fine grid's activations stay small
        classes = [take(stack, [net]).forward(points)[0][0].argmax(axis=-1)
                   for stack in (first, second)]
        out[net] = np.mean(classes[0] == classes[1])
    return out
