"""toyviz.node_removal: chapter 1's measurements of one network and of many, each fast
path against a slower, obviously right way, and the circle tasks of toyviz.data."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from toyviz import data, landscape, masking, network, node_removal


def small_network(n_nodes=6, seed=0):
    """A random two-input ReLU network with ``n_nodes`` hidden nodes and two softmax
    outputs."""
    generator = np.random.default_rng(seed)
    return network.Network.from_dense([
        (generator.normal(size=(2, n_nodes)), generator.normal(size=n_nodes) * 0.5, "relu"),
        (generator.normal(size=(n_nodes, 2)), generator.normal(size=2) * 0.1, "softmax")])


@pytest.mark.parametrize("rule, inside", [("prose", 0.5), ("code", math.sqrt(2 * math.pi) / 4)])
def test_circle_rules_label_by_their_squared_radius(rule, inside):
    x, y = data.circle(200_000, np.random.default_rng(0), rule)
    squared = np.sum(x.astype(np.float64) ** 2, axis=1)
    np.testing.assert_array_equal(y, squared < data.CIRCLE_RULES[rule])
    assert abs(y.mean() - inside) < 4 * math.sqrt(inside * (1 - inside) / len(y))


def test_the_prose_rule_is_the_default_and_draws_as_before():
    a = data.circle(50, np.random.default_rng(3))
    b = data.circle(50, np.random.default_rng(3), "prose")
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert data.ESSAY_CODE_RADIUS_SQUARED == math.sqrt(2 / math.pi)


@pytest.mark.parametrize("seed", [0, 1])
def test_kurtosis_interval_matches_scipy_one_resample_at_a_time(seed):
    gradients = np.random.default_rng(seed).standard_t(5, size=(200, 7))
    fast = node_removal.kurtosis_interval(gradients, np.random.default_rng(seed + 10),
                                          n_resamples=199)
    slow = stats.bootstrap((np.arange(len(gradients)),),
                           lambda rows: stats.kurtosis(gradients[rows].ravel()),
                           vectorized=False, n_resamples=199,
                           rng=np.random.default_rng(seed + 10)).confidence_interval
    np.testing.assert_allclose(fast, (slow.low, slow.high), rtol=1e-9, atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), n_nodes=st.integers(1, 8))
def test_mask_moments_at_several_p_equal_one_p_at_a_time(seed, n_nodes):
    values = np.random.default_rng(seed).normal(size=2**n_nodes) * 3 + 1
    ps = [0.0, 0.25, 0.5, 0.9]
    for p, moments in zip(ps, landscape.mask_moments_at(values, ps)):
        weight = landscape.mask_probabilities(n_nodes, p)
        mean = weight @ values
        std = math.sqrt(weight @ (values - mean) ** 2)
        np.testing.assert_allclose(moments[:2], (mean, std), rtol=1e-9, atol=1e-9)
        if std > 1e-6:
            skew = weight @ (values - mean) ** 3 / std**3
            np.testing.assert_allclose(moments[2], skew, rtol=1e-7, atol=1e-7)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(3, 30), quoted=st.floats(-5, 5))
def test_against_networks_puts_the_essay_inside_exactly_when_its_effect_is_small(seed, n,
                                                                                 quoted):
    sample = np.random.default_rng(seed).normal(size=n)
    table = node_removal.against_networks({"v": quoted}, [{"v": v} for v in sample])
    row = table.loc["v"]
    low, high = stats.t.interval(0.95, n - 1, loc=sample.mean(),
                                 scale=sample.std(ddof=1) * math.sqrt(1 + 1 / n))
    np.testing.assert_allclose([row["low"], row["high"]], [low, high], rtol=1e-9, atol=1e-9)
    scale = node_removal.prediction_scale(n)
    assert row["inside"] == (low <= quoted <= high)
    if abs(abs(row["effect"]) - scale) > 1e-9:
        assert row["inside"] == (abs(row["effect"]) < scale)


@pytest.fixture(scope="module")
def measured():
    model = small_network(6)
    x, y = data.circle(300, np.random.default_rng(1))
    values, tables = node_removal.measure(model, x, y, np.random.default_rng(2),
                                          np.random.default_rng(3), tables=True)
    return model, x, y, values, tables


def test_measure_draws_the_masks_and_paths_as_the_chapter_did(measured):
    model, x, y, values, tables = measured
    rng = np.random.default_rng(2)
    for p in node_removal.P_VALUES:
        masks = masking.random_masks(1000, p, rng, n_nodes=6)
        np.testing.assert_array_equal(masks, tables["samples"][p]["masks"])
        losses, _ = masking.mask_losses(model, x, y, masks)
        assert values[f"mean_loss_{p}"] == pytest.approx(losses.mean(), rel=1e-12)
        assert values[f"log_std_{p}"] == pytest.approx(np.log(losses).std(), rel=1e-12)
    np.testing.assert_array_equal(masking.hypercube_paths(1000, rng, n_nodes=6), tables["paths"])


def test_paths_read_from_the_sweep_equal_the_engine(measured):
    model, x, y, values, tables = measured
    engine, _ = masking.mask_losses(model, x, y, tables["paths"].reshape(-1, 6))
    np.testing.assert_allclose(np.exp(tables["path_log_loss"]).ravel(), engine, rtol=1e-5,
                               atol=2e-6)
    assert values["sweep_full_loss"] == pytest.approx(values["full_loss"], abs=2e-6)


def test_measure_without_tables_gives_the_same_numbers(measured):
    model, x, y, values, _ = measured
    lean, none = node_removal.measure(model, x, y, np.random.default_rng(2),
                                      np.random.default_rng(3))
    assert none is None
    assert {key: value for key, value in values.items() if not key.startswith("exact_ks")} \
        == lean


def test_the_pooled_density_is_the_density_of_every_entry(measured):
    _, _, _, _, tables = measured
    every = landscape.gaussian_density(tables["log_gradient"].ravel(), node_removal.GRADIENT_GRID,
                                       node_removal.BANDWIDTH)
    np.testing.assert_allclose(tables["pooled"], every, rtol=1e-12, atol=1e-12)


def test_the_sweep_agrees_with_the_float64_engine_on_every_mask(measured):
    model, x, y, _, tables = measured
    masks = (np.arange(64)[:, None] >> np.arange(6)) & 1
    np.testing.assert_array_equal(masking.mask_indices(masks), np.arange(64))
    loss, gradient = masking.mask_losses(model, x, y, masks)
    np.testing.assert_allclose(tables["all_loss"], loss, rtol=1e-6, atol=2e-6)
    np.testing.assert_allclose(tables["row_mean_gradient"], gradient.mean(axis=1), rtol=1e-6,
                               atol=2e-6)


def test_without_numba_the_numpy_path_gives_the_same_numbers(measured, monkeypatch):
    model, x, y, values, _ = measured
    monkeypatch.setattr(node_removal._fused, "available", lambda: False)
    lean, _ = node_removal.measure(model, x, y, np.random.default_rng(2),
                                   np.random.default_rng(3))
    for key, value in lean.items():
        assert value == pytest.approx(values[key], rel=1e-5, abs=1e-6), key


def test_measured_values_follow_their_definitions(measured):
    model, x, y, values, tables = measured
    half = tables["samples"][0.5]
    log_gradient = half["gradient"] / half["loss"][:, None]
    on = half["masks"] == 1
    assert values["on_mean"] == pytest.approx(log_gradient[on].mean())
    assert values["off_mean"] == pytest.approx(log_gradient[~on].mean())
    all_loss = tables["all_loss"]
    costs = np.array([all_loss[63 ^ (1 << i)] - all_loss[63] for i in range(6)])
    assert values["cheapest_share"] == pytest.approx(100 * costs.min() / all_loss[63])
    assert values["costliest_cost"] == pytest.approx(costs.max())
    centred = np.log(all_loss) - np.log(all_loss).mean()
    assert values["reversal_exact"] == pytest.approx(
        centred @ centred[::-1] / (centred @ centred))
    ours = np.log(all_loss)
    assert values["complement_good"] == pytest.approx(
        np.mean(ours[::-1][ours <= np.quantile(ours, 0.1)] < np.median(ours)))
    roles = masking.node_roles(model, threshold=node_removal.BIAS_LIKE)
    assert values["n_bias_nodes"] == roles["bias_like"].sum()
    predicted = 6 * 0.5 * half["gradient"].mean()
    actual = tables["samples"][0.75]["loss"].mean() - tables["samples"][0.25]["loss"].mean()
    assert values["change_error"] == pytest.approx(100 * abs(predicted / actual - 1))


def test_the_essay_code_rule_moves_the_ring():
    model = small_network(6, seed=5)
    x, y = data.circle(200, np.random.default_rng(1), "code")
    values, _ = node_removal.measure(model, x, y, np.random.default_rng(2),
                                     np.random.default_rng(3), rule="code")
    points, _ = data.grid(*node_removal.HEATMAP)
    radius = np.sqrt(np.sum(points.astype(np.float64) ** 2, axis=1))
    ring = np.abs(radius - data.ESSAY_CODE_RADIUS_SQUARED ** 0.5) < node_removal.RING
    assert values["ring_area"] == pytest.approx(ring.mean())


def test_a_node_that_never_acts_leaves_the_ratio_of_spreads_finite():
    generator = np.random.default_rng(7)
    kernel, bias = generator.normal(size=(2, 6)), generator.normal(size=6) * 0.5
    kernel[:, 0], bias[0] = 0.0, -1.0                      # node 0: never active
    model = network.Network.from_dense([(kernel, bias, "relu"),
                                        (generator.normal(size=(6, 2)), np.zeros(2), "softmax")])
    x, y = data.circle(200, np.random.default_rng(1))
    values, tables = node_removal.measure(model, x, y, np.random.default_rng(2),
                                          np.random.default_rng(3), tables=True)
    assert values["silent_nodes"] == 1
    spread = tables["widths"].max(axis=1)
    assert values["widest_node_ratio"] == pytest.approx(spread.max() / spread[1:].min())
