"""The essay's consistency tables, computed.

The second essay asks whether the rules agree with themselves when one computation is
written two ways: ``b = alpha a`` as a matrix or as a nonlinearity
(:func:`scale_both_ways`, :func:`scaling_table`); ``max(a, c)`` with a constant ``c <= 0``
as a maximum or as a nonlinearity (:func:`max_with_constant`,
:func:`max_constants_table`); and ``max(a, b)`` built from the other layer types, as a
soft maximum (:func:`softmax_max_network`, :func:`softness_floor`) or as
``a + relu(b - a)`` (:func:`relu_max_network`), compared in
:func:`max_constructions_table` and :func:`max_constructions_gap`.

Introduced in chapter 2, :ref:`§The essay's consistency tables, computed <relevance-consistency>`:
:ref:`§Scaling equivalence <relevance-scaling>`, :ref:`§The maximum with constants ≤ 0
<relevance-max-constants>` and :ref:`§Two ways to build a maximum <relevance-two-maxima>`.
"""

import numpy as np
import pandas as pd

from toyviz._checks import (check_array, check_float, check_instance, check_int, check_rng,
                             check_sequence)
from toyviz.network import Dense, Network, Nonlinearity
from toyviz.relevance.propagation import propagate
from toyviz.relevance.rules import (RULES, MatrixGradient, MatrixNormalized, MatrixRule,
                                    MaximumRule, NonlinearityRule)

def softness_floor(pairs, ladder=None):
    """The smallest softness of the soft maximum (:func:`softmax_max_network`) that
    float64 can run for each pair, from a ladder of softness values (default ``2**-k``,
    k = 0 .. 40): the output and LRP-0's relevance are finite and conserve to 1e-9.

    pairs : (m, 2) float. Returns (m,) float64 (nan where no softness on the ladder runs).
    """
    pairs = check_array("pairs", pairs, shape=(None, 2), dtype=np.float64, empty=False)
    ladder = 2.0 ** -np.arange(41) if ladder is None else check_array(
        "ladder", ladder, ndim=1, dtype=np.float64, empty=False)
    if np.any(ladder <= 0):
        raise ValueError("ladder must hold softness values > 0")
    floor = np.full(len(pairs), np.nan)
    with np.errstate(all="ignore"):
        for s in sorted(ladder, reverse=True):
            e = propagate(softmax_max_network(float(s)), pairs, "lrp_0", output=0)
            fine = (np.isfinite(e.input).all(axis=1) & np.isfinite(e.output)
                    & (np.abs(e.conservation_error) <= 1e-9 * (1 + np.abs(e.output))))
            floor = np.where(fine, s, floor)
    return floor


def max_constructions_gap(pairs, softness):
    """How far apart the two constructions of ``max(a, b)`` put the relevance, under LRP-0
    with biases blamed: the soft maximum at ``softness`` (one value per pair) against
    ``a + relu(b - a)``.

    pairs : (m, 2) float; softness : float or (m,) float > 0.
    Returns (m,) float64: ``max(|R_soft(a) - R_relu(a)|, |R_soft(b) - R_relu(b)|)``.
    """
    pairs = check_array("pairs", pairs, shape=(None, 2), dtype=np.float64, empty=False)
    if isinstance(softness, (bool, np.bool_)):
        raise TypeError("softness must be a float or an array of floats, got a bool")
    softness = check_array("softness", softness, dtype=np.float64)
    if softness.shape not in ((), (1,), (len(pairs),)):
        raise ValueError(f"softness must be a float or have shape ({len(pairs)},), got "
                         f"{softness.shape}")
    softness = np.broadcast_to(softness, (len(pairs),))
    if not np.all(softness > 0):
        raise ValueError("softness must be > 0")
    relu = propagate(relu_max_network(), pairs, "lrp_0", output=0).input
    gap = np.full(len(pairs), np.nan)
    for s in np.unique(softness):
        rows = softness == s
        soft = propagate(softmax_max_network(float(s)), pairs[rows], "lrp_0", output=0).input
        gap[rows] = np.abs(soft - relu[rows]).max(axis=1)
    return gap

def scale_both_ways(matrix_rule, nonlinearity_rule, alpha, a, signal):
    """Reverse ``b = alpha * a`` twice: as the matrix ``alpha * I`` with ``matrix_rule`` and
    as the element-wise function ``f(a) = alpha * a`` with ``nonlinearity_rule`` (the
    rescale rule with the baseline 0).

    Parameters
    ----------
    alpha : float, non-zero
    a, signal : (m,) float, the inputs (non-zero) and the relevance arriving at b.

    Returns
    -------
    (as_matrix, as_nonlinearity) : two (m,) float64 arrays, R(a) by each reading.
    """
    check_instance("matrix_rule", matrix_rule, MatrixRule, "a matrix rule")
    check_instance("nonlinearity_rule", nonlinearity_rule, NonlinearityRule,
                   "a nonlinearity rule")
    alpha = check_float("alpha", alpha)
    if alpha == 0:
        raise ValueError("alpha must be non-zero, got 0.0")
    a = check_array("a", a, ndim=1, dtype=np.float64, empty=False)[None]
    signal = check_array("signal", signal, shape=(a.shape[1],), dtype=np.float64)[None]
    matrix = Dense("scale", alpha * np.eye(a.shape[1]))
    as_matrix, _ = matrix_rule.backward(matrix, a, matrix.forward(a), signal)
    step = Nonlinearity("scale", "linear", lambda z: alpha * z,
                        lambda z: np.full(np.shape(z), alpha))
    zero = np.zeros_like(a)
    as_nonlinearity = nonlinearity_rule.backward(step, a, alpha * a, signal, (zero, zero))
    return as_matrix[0], as_nonlinearity[0]


def _name_scale(ratios, alpha):
    if np.allclose(ratios, alpha, rtol=1e-9, atol=0):
        return "α"
    if np.allclose(ratios, 1.0, rtol=1e-9, atol=0):
        return "1"
    return "other"


def scaling_table(rng, alphas=(-2.0, 0.5, 3.0), size=50):
    """The essay's scaling-equivalence table, computed: for every pair of matrix rule
    (gradient, normalized with epsilon = 0) and nonlinearity rule, reverse ``b = alpha a``
    both ways (:func:`scale_both_ways`) on random ``a`` and ``R(b)``, for each alpha.

    Returns
    -------
    pandas.DataFrame, one row per pair: the scale ``R(a) / R(b)`` each reading gives
    ("α", "1" or "other") and whether the two agree for every alpha and every point.
    """
    rng = check_rng("rng", rng)
    alphas = [check_float("alphas", alpha) for alpha in check_sequence("alphas", alphas,
                                                                       "non-zero floats")]
    if 0.0 in alphas:
        raise ValueError("alphas must be non-zero")
    size = check_int("size", size, low=1, high=10**7)
    a = rng.uniform(0.1, 2.0, size) * rng.choice([-1.0, 1.0], size)
    signal = rng.normal(size=size)
    rows = []
    for matrix_rule in (MatrixGradient(), MatrixNormalized(0.0)):
        for name, cls in RULES["nonlinearity"].items():
            nonlinearity_rule = cls()
            scales_m, scales_n, agree = set(), set(), True
            for alpha in alphas:
                as_m, as_n = scale_both_ways(matrix_rule, nonlinearity_rule, alpha, a, signal)
                scales_m.add(_name_scale(as_m / signal, alpha))
                scales_n.add(_name_scale(as_n / signal, alpha))
                agree &= bool(np.allclose(as_m, as_n, rtol=1e-12, atol=1e-12))
            rows.append({"matrix rule": matrix_rule.name, "nonlinearity rule": name,
                         "scale as matrix": "/".join(sorted(scales_m)),
                         "scale as nonlinearity": "/".join(sorted(scales_n)),
                         "agree": agree})
    return pd.DataFrame(rows)


def max_with_constant(rule_for_maximum, rule_for_nonlinearity, a, constant, repeats=1):
    """Reverse ``b = max(a, c)`` (``c <= 0``, so ``f(0) = 0``) both ways: as a maximum of
    ``a`` and ``repeats`` copies of the constant with ``rule_for_maximum``, and as the
    nonlinearity ``f(a) = max(a, c)`` with ``rule_for_nonlinearity``.

    Parameters
    ----------
    a : (m,) float
    constant : float <= 0
    repeats : int >= 1, how often the constant appears: max(a, c) = max(a, c, c).

    Returns
    -------
    (as_maximum, as_nonlinearity) : (m,) float64 each, ``R(a) / R(b)``.
    """
    check_instance("rule_for_maximum", rule_for_maximum, MaximumRule, "a maximum rule")
    check_instance("rule_for_nonlinearity", rule_for_nonlinearity, NonlinearityRule,
                   "a nonlinearity rule")
    a = check_array("a", a, ndim=1, dtype=np.float64, empty=False)
    constant = check_float("constant", constant, high=0)
    repeats = check_int("repeats", repeats, low=1, high=10**4)
    values = np.concatenate([a[:, None], np.full((len(a), repeats), constant)], axis=1)
    as_maximum = rule_for_maximum.weights(values)[:, 0]
    step = Nonlinearity("max_c", "max_c", lambda z: np.maximum(z, constant),
                        lambda z: (z > constant).astype(np.float64))
    as_nonlinearity = rule_for_nonlinearity.backward(step, a, np.maximum(a, constant),
                                                     np.ones_like(a))
    return as_maximum, as_nonlinearity


def max_constants_table(constants=(0.0, -0.5, -1.0), resolution=401):
    """The essay's max-with-constants check, computed on a grid ``a`` in [-2, 2]: for every
    maximum rule and nonlinearity rule (but rescale), the share of points where the two
    readings of ``max(a, c)`` give ``a`` the same relevance, split by region, and whether
    the maximum rule gives the same for ``max(a, c, c)`` as for ``max(a, c)``.

    Returns
    -------
    pandas.DataFrame, one row per (maximum rule, nonlinearity rule).
    """
    constants = [check_float("constants", c, high=0)
                 for c in check_sequence("constants", constants, "floats <= 0")]
    resolution = check_int("resolution", resolution, low=3, high=10**6)
    a = np.linspace(-2.0, 2.0, resolution)
    rows = []
    for max_name, max_cls in RULES["maximum"].items():
        for nl_name, nl_cls in RULES["nonlinearity"].items():
            if nl_cls.needs_baseline:
                continue
            counts = {"b > 0": [0, 0], "c < a <= 0": [0, 0], "a < c": [0, 0]}
            duplicates = True
            for c in constants:
                as_max, as_nl = max_with_constant(max_cls(), nl_cls(), a, c)
                twice, _ = max_with_constant(max_cls(), nl_cls(), a, c, repeats=2)
                duplicates &= bool(np.allclose(as_max, twice, rtol=1e-12, atol=1e-12))
                same = np.isclose(as_max, as_nl, rtol=1e-12, atol=1e-12)
                regions = {"b > 0": a > 0, "c < a <= 0": (a > c) & (a <= 0),
                           "a < c": a < c}  # ties a = c left out, as the essay does
                for region, where in regions.items():
                    counts[region][0] += int(same[where].sum())
                    counts[region][1] += int(where.sum())
            row = {"maximum rule": max_name, "nonlinearity rule": nl_name}
            for region, (hits, total) in counts.items():
                row[f"agree, {region}"] = round(hits / total, 4) if total else float("nan")
            row["max(a,c,c) = max(a,c)"] = duplicates
            rows.append(row)
    return pd.DataFrame(rows)


def relu_max_network():
    """``max(a, b) = a + relu(b - a)`` from the building blocks, as a
    :class:`~toyviz.network.Network` with input (a, b): a matrix ``(a, b) -> (a, b - a)``,
    an element-wise function that is the identity on the first unit and ReLU on the second,
    and the sum."""
    def f(z):
        return np.concatenate([z[:, :1], np.maximum(z[:, 1:], 0.0)], axis=1)

    def fprime(z):
        return np.concatenate([np.ones_like(z[:, :1]), (z[:, 1:] > 0).astype(float)], axis=1)

    steps = [Dense("difference", [[1.0, -1.0], [0.0, 1.0]]),
             Nonlinearity("relu", "identity and relu", f, fprime),
             Dense("sum", [[1.0], [1.0]])]
    return Network(steps, (2,), 1)


def softmax_max_network(softness, n_inputs=2):
    """The soft maximum ``m = s log(sum_i exp(x_i / s))`` from building blocks with
    f(0) = 0: ``u = x / s``; ``e = exp(u) - 1``; ``t = sum_i e_i + (n - 1)`` (a bias);
    ``log(1 + t)``; times ``s``. As ``s -> 0`` it tends to ``max_i x_i``.

    Floating point limits the softness: below about ``|x| / 36`` the ``exp(u) - 1`` of
    negative inputs rounds to -1 and the log overflows.
    """
    softness = check_float("softness", softness, low=0, low_open=True)
    n_inputs = check_int("n_inputs", n_inputs, low=2, high=10**4)
    steps = [Dense("scale", np.eye(n_inputs) / softness),
             Nonlinearity("exp", "expm1", np.expm1, np.exp),
             Dense("sum", np.ones((n_inputs, 1)), [n_inputs - 1.0]),
             Nonlinearity("log", "log1p", np.log1p, lambda z: 1.0 / (1.0 + z)),
             Dense("unscale", [[softness]])]
    return Network(steps, (n_inputs,), 1)


def max_constructions_table(pairs, softness=(0.5, 0.2, 0.1, 0.05), composite="lrp_0"):
    """Relevance of ``(a, b)`` in ``max(a, b)`` by the two constructions the essay names,
    with one composite: the soft maximum at decreasing softness, and ``a + relu(b - a)``;
    beside them the maximum rules applied directly.

    Parameters
    ----------
    pairs : (m, 2) float
    softness : sequence of float > 0
    composite : Composite or preset name (must not need a baseline)

    Returns
    -------
    pandas.DataFrame, one row per pair and construction, with R(a), R(b), R(biases) and
    their sum next to max(a, b).
    """
    pairs = check_array("pairs", pairs, shape=(None, 2), dtype=np.float64, empty=False)
    softness = [check_float("softness", s, low=0, low_open=True)
                for s in check_sequence("softness", softness, "floats > 0")]
    rows = []
    networks = [(f"soft max, s={s:g}", softmax_max_network(s)) for s in softness]
    networks.append(("a + relu(b - a)", relu_max_network()))
    for label, network in networks:
        explanation = propagate(network, pairs, composite, output=0)
        for (a, b), r, bias in zip(pairs, explanation.input, explanation.bias_total):
            rows.append({"a": a, "b": b, "construction": label, "R(a)": r[0], "R(b)": r[1],
                         "R(biases)": bias, "max(a, b)": max(a, b)})
    for name, cls in RULES["maximum"].items():
        weights = cls().weights(pairs)
        top = pairs.max(axis=1)
        for (a, b), s, m in zip(pairs, weights, top):
            rows.append({"a": a, "b": b, "construction": f"maximum rule: {name}",
                         "R(a)": s[0] * m, "R(b)": s[1] * m, "R(biases)": 0.0,
                         "max(a, b)": m})
    table = pd.DataFrame(rows)
    return table.sort_values(["a", "b"], kind="stable").reset_index(drop=True)

