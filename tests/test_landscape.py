"""toyviz.landscape: the functions of a loss table over all masks (mask probabilities and
moments, Shapley and Banzhaf values, the Walsh spectrum, flip correlations, best and worst
masks by size, densities and the normal fit) against brute-force definitions and direct
computations.
"""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toyviz import landscape, masking

fast = settings(max_examples=25, deadline=None)


def test_mask_probabilities_are_binomial():
    probabilities = landscape.mask_probabilities(6, 0.3)
    assert probabilities.sum() == pytest.approx(1.0)
    sizes = masking.popcount(np.arange(64))
    assert probabilities[sizes == 2].sum() == pytest.approx(math.comb(6, 2) * 0.3**2 * 0.7**4)


def brute_shapley(values, n_nodes):
    result = np.zeros(n_nodes)
    for order in itertools.permutations(range(n_nodes)):
        index = 0
        for node in order:
            result[node] += values[index | (1 << node)] - values[index]
            index |= 1 << node
    return result / math.factorial(n_nodes)


@fast
@given(st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_shapley_values_match_the_definition_and_sum_to_the_total(n_nodes, seed):
    values = np.random.default_rng(seed).normal(size=2**n_nodes)
    shapley = landscape.shapley_values(values)
    np.testing.assert_allclose(shapley, brute_shapley(values, n_nodes), atol=1e-12)
    assert shapley.sum() == pytest.approx(values[-1] - values[0], abs=1e-12)


def test_banzhaf_values_match_the_definition():
    values = np.random.default_rng(4).normal(size=16)
    expected = [np.mean([values[s | (1 << i)] - values[s] for s in range(16)
                         if not s >> i & 1]) for i in range(4)]
    np.testing.assert_allclose(landscape.banzhaf_values(values), expected, atol=1e-12)


def test_additive_values_have_equal_shapley_and_banzhaf_values():
    contribution = np.array([0.5, -1.0, 2.0, 0.25])
    masks = masking.masks_from_indices(np.arange(16), 4).astype(np.float64)
    values = masks @ contribution + 3.0
    np.testing.assert_allclose(landscape.shapley_values(values), contribution, atol=1e-12)
    np.testing.assert_allclose(landscape.banzhaf_values(values), contribution, atol=1e-12)
    power = landscape.walsh_power_by_degree(values)
    assert power[1] == pytest.approx(values.var()) and power[2:].sum() == pytest.approx(0)


@pytest.mark.parametrize("n_nodes", [1, 2, 5])
def test_flip_correlations_match_brute_force(n_nodes):
    values = np.random.default_rng(n_nodes).normal(size=2**n_nodes) ** 2
    indices = np.arange(2**n_nodes)
    expected = []
    for d in range(n_nodes + 1):
        flips = [sum(1 << i for i in subset)
                 for subset in itertools.combinations(range(n_nodes), d)]
        first = np.concatenate([values for _ in flips])
        second = np.concatenate([values[indices ^ f] for f in flips])
        expected.append(np.corrcoef(first, second)[0, 1])
    correlations = landscape.flip_correlations(values)
    np.testing.assert_allclose(correlations, expected, atol=1e-10)
    assert correlations[-1] == pytest.approx(landscape.complement_correlation(values))


def test_best_and_worst_by_size_match_brute_force():
    values = np.random.default_rng(7).normal(size=2**6)
    table = landscape.best_and_worst_by_size(values)
    sizes = masking.popcount(np.arange(64))
    for k in range(7):
        assert table["best"][k] == values[sizes == k].min()
        assert table["worst"][k] == values[sizes == k].max()
        assert table["mean"][k] == pytest.approx(values[sizes == k].mean())
        assert sizes[table["best_index"][k]] == k
    assert table["n_masks"].tolist() == [math.comb(6, k) for k in range(7)]


def test_gaussian_density_binned_matches_direct():
    rng = np.random.default_rng(0)
    values = rng.normal(size=30000)
    weights = rng.uniform(size=30000)
    grid = np.linspace(-4, 4, 201)
    binned = landscape.gaussian_density(values, grid, 0.1, weights=weights)
    z = (grid[:, None] - values[None, :]) / 0.1
    direct = np.exp(-0.5 * z**2) @ (weights / weights.sum()) / (0.1 * math.sqrt(2 * math.pi))
    np.testing.assert_allclose(binned, direct, atol=1e-3 * direct.max())
    assert np.trapezoid(binned, grid) == pytest.approx(1.0, abs=1e-3)


@fast
@given(st.integers(0, 2**31 - 1), st.integers(1, 12), st.floats(0.05, 0.95))
def test_mask_moments_match_the_weighted_moments_of_the_whole_table(seed, n_nodes, p):
    values = np.random.default_rng(seed).normal(size=2**n_nodes)
    weight = landscape.mask_probabilities(n_nodes, p)
    mean = weight @ values
    std = np.sqrt(weight @ (values - mean) ** 2)
    skewness = weight @ ((values - mean) / std) ** 3
    np.testing.assert_allclose(landscape.mask_moments(values, p), (mean, std, skewness),
                               rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="^p must be <= 1"):
        landscape.mask_moments(values, 1.5)


def test_normal_fit_matches_scipy_and_weights_act_as_repeats():
    from scipy import stats

    rng = np.random.default_rng(4)
    values = rng.gamma(2.0, size=500)
    fit = landscape.normal_fit(values)
    reference = stats.kstest(values, "norm", args=(values.mean(), values.std())).statistic
    assert fit["ks"] == pytest.approx(reference, rel=1e-9)
    assert fit["skewness"] == pytest.approx(stats.skew(values), rel=1e-9)
    counts = rng.integers(1, 4, size=500)
    weighted = landscape.normal_fit(values, counts.astype(float))
    repeated = landscape.normal_fit(np.repeat(values, counts))
    assert weighted["ks"] == pytest.approx(repeated["ks"], rel=1e-9)
    assert weighted["skewness"] == pytest.approx(repeated["skewness"], rel=1e-9)
    np.testing.assert_allclose(weighted["tail_errors"], repeated["tail_errors"], rtol=1e-9)
    normal = landscape.normal_fit(rng.normal(size=20000))
    assert normal["ks"] < 0.015 and abs(normal["skewness"]) < 0.1
    with pytest.raises(ValueError, match="tails"):
        landscape.normal_fit(values, tails=(0.0, 0.5))
    with pytest.raises(ValueError, match="weights"):
        landscape.normal_fit(values, -np.ones(500))


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("call, error, name", [
    (lambda: landscape.mask_probabilities(4, 2.0), ValueError, "p"),
    (lambda: landscape.shapley_values(np.ones(6)), ValueError, "values"),
    (lambda: landscape.banzhaf_values(np.ones((4, 2))), ValueError, "values"),
    (lambda: landscape.gaussian_density(np.ones(3), np.ones(3), 0.1), ValueError, "grid"),
    (lambda: landscape.gaussian_density(np.ones(3), np.arange(3.0), 0.0), ValueError,
     "bandwidth"),
])
def test_bad_input_names_the_parameter(call, error, name):
    with pytest.raises(error, match=name):
        call()
