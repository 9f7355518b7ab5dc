"""Comparing the two routes (toyviz.routes) and per-layer pruning (toyviz.pruning): each
fast function against a slow, obviously right reference, properties over random inputs,
bad input."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from toyviz import pruning, routes, training
from toyviz.network.stack import accuracy, forward, init_stack, take

SETTINGS = settings(max_examples=25, deadline=None)


def toy_data(seed=0, n=60):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, 2)).astype(np.float32)
    return rng, x, (x[:, 0] * x[:, 1] > 0).astype(np.int64)


def test_paired_matches_scipy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 10), rng.normal(0.3, 1, 10)
    result = routes.paired(a, b)
    assert result["p"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert result["difference"] == pytest.approx(np.mean(a - b))
    assert result["low"] < result["difference"] < result["high"]


@SETTINGS
@given(st.integers(0, 2**31 - 1))
def test_weight_correlations_match_corrcoef(seed):
    rng = np.random.default_rng(seed)
    start = rng.normal(0, 1, (3, 4, 5))
    first = start + rng.normal(0, 1, start.shape)
    second = start + rng.normal(0, 1, start.shape)
    table = routes.weight_correlations(first, second, start)
    for net in range(3):
        assert table["weights"][net] == pytest.approx(
            np.corrcoef(first[net].ravel(), second[net].ravel())[0, 1])
        assert table["moves"][net] == pytest.approx(np.corrcoef(
            (first[net] - start[net]).ravel(), (second[net] - start[net]).ravel())[0, 1])


def cka_reference(a, b):
    """Linear CKA from Gram matrices: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with
    K = A A', L = B B' and the centring matrix H."""
    n = len(a)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l = a @ a.T, b @ b.T

    def hsic(p, q):
        return np.trace(p @ h @ q @ h)

    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.integers(1, 5), st.integers(1, 5))
def test_linear_cka_matches_the_gram_matrix_form(seed, p, q):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0, 1, (12, p)), rng.normal(0, 1, (12, q))
    assert routes.linear_cka(a, b) == pytest.approx(cka_reference(a, b), abs=1e-9)
    # the same nodes in another order and scale are the same representation
    assert routes.linear_cka(a, 3 * a[:, ::-1]) == pytest.approx(1.0)


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.integers(1, 5), st.integers(1, 5))
def test_matched_correlation_is_the_best_matching(seed, p, q):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0, 1, (15, p)), rng.normal(0, 1, (15, q))
    corr = np.corrcoef(a.T, b.T)[:p, p:]
    best = max(np.mean([corr[i, j] for i, j in zip(rows, cols)])
               for rows in itertools.permutations(range(p), min(p, q))
               for cols in itertools.permutations(range(q), min(p, q)))
    assert routes.matched_correlation(a, b) == pytest.approx(best)
    order = rng.permutation(p)
    assert routes.matched_correlation(a, a[:, order]) == pytest.approx(1.0)


def test_constant_nodes_are_left_out_of_matching():
    rng = np.random.default_rng(2)
    a = np.column_stack([rng.normal(0, 1, 20), np.zeros(20)])
    assert routes.matched_correlation(a, a) == pytest.approx(1.0)
    assert routes.matched_correlation(np.zeros((20, 2)), a) == 0.0
    assert routes.linear_cka(np.zeros((20, 2)), a) == 0.0


def test_role_similarity_and_agreement_of_a_stack_with_itself():
    rng, x, _ = toy_data()
    params = init_stack(3, [6, 4], rng)
    hidden = routes.kept_activations(params, x)
    table = routes.role_similarity(hidden, hidden)
    assert len(table) == 3 * 2
    live = table["matched"] > 0
    assert np.allclose(table.loc[live, ["cka", "matched", "same_node"]], 1.0)
    # reordering the nodes keeps CKA and the matching, not the same-node correlation
    reordered = [h[:, :, ::-1] for h in hidden]
    shuffled = routes.role_similarity(hidden, reordered)
    assert np.allclose(shuffled.loc[live, ["cka", "matched"]], 1.0)
    assert np.allclose(forward(params, x)[0], forward(params, x)[0])
    assert np.all(routes.agreement(params, params, x) == 1.0)


def test_kept_activations_select_the_kept_nodes():
    rng, x, _ = toy_data()
    params = init_stack(2, [6, 4], rng)
    keeps = [{0: np.array([0, 2]), 1: np.array([3])}, {0: np.array([5, 1]), 1: np.array([0])}]
    _, hidden = forward(params, x)
    kept = routes.kept_activations(params, x, keeps)
    assert kept[0].shape == (2, len(x), 2) and kept[1].shape == (2, len(x), 1)
    assert np.array_equal(kept[0][1], hidden[0][1][:, [5, 1]])


def test_band_search_measures_both_routes():
    rng, x, y = toy_data(3)
    setups = [{"name": "full", "learning_rate": 0.01, "batch_size": None, "steps": 30},
              {"name": "small batch", "learning_rate": 0.01, "batch_size": 16, "steps": 8,
               "input_scale": 2.0, "init_scale": 0.5}]
    table, moves = routes.band_search(setups, x, y, x, y, rng, n_nets=2, widths=(6, 6),
                                      moves=True)
    assert list(table["setup"]) == ["full", "full", "small batch", "small batch"]
    # steps are whole epochs: 60 points in batches of 16 is 4 steps an epoch
    assert list(table["steps"]) == [30, 30, 8, 8]
    assert np.allclose(table["lr_steps"], table["learning_rate"] * table["steps"])
    for column in ("near_step", "persistent", "parallel", "on_diagonal"):
        assert table[column].between(0, 1).all()
    assert (table["peak"] > 0).all()
    assert moves["full"].shape == (2, 6, 6)
    # Adam's step is at most about lr (a few times lr while the moments warm up)
    assert np.allclose(np.abs(moves["full"]).max(axis=(1, 2)), table["largest_move"][:2])
    assert table["largest_move"].max() < 3.5


def test_band_search_and_routes_reject_bad_input():
    rng, x, y = toy_data()
    with pytest.raises(ValueError, match="steps"):
        routes.band_search([{"name": "a", "learning_rate": 0.01}], x, y, x, y, rng)
    with pytest.raises(TypeError, match="setups"):
        routes.band_search({"name": "a"}, x, y, x, y, rng)
    with pytest.raises(ValueError, match="learning_rate"):
        routes.band_search([{"name": "a", "learning_rate": -1, "batch_size": 8,
                             "steps": 3}], x, y, x, y, rng)
    with pytest.raises(ValueError, match="second"):
        routes.weight_correlations(np.zeros((1, 2, 2)), np.zeros((1, 2, 3)),
                                   np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="second"):
        routes.linear_cka(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="keeps"):
        routes.kept_activations(init_stack(2, [3], rng), x, [{0: [0]}])


def test_prune_stack_per_layer_fractions():
    rng, x, _ = toy_data()
    params = init_stack(2, [6, 4], rng)
    pruned, keeps = pruning.prune_stack(params, [0.0, 0.5], "std", x)
    assert [kernel.shape[2] for kernel, _ in pruned[:-1]] == [6, 2]
    both, _ = pruning.prune_stack(params, 0.5, "std", x)
    same, _ = pruning.prune_stack(params, [0.5, 0.5], "std", x)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(both, same))
    _, hidden = forward(params, x)
    for net in range(2):  # the second layer keeps its two largest-std nodes
        assert set(keeps[net][1]) == set(np.argsort(-hidden[1][net].std(axis=0))[:2])
    with pytest.raises(ValueError, match="fraction"):
        pruning.prune_stack(params, [0.5], "std", x)


def test_layer_sweep_and_near_constant_nodes():
    rng, x, y = toy_data(5)
    params = init_stack(2, [6, 5], rng)
    # make node 1 of the first layer constant (it is 0 everywhere) and node 2 silent
    kernel, bias = params[0]
    kernel[:, :, 1] = 0.0
    bias[:, 1] = 0.5
    kernel[:, :, 2] = 0.0
    bias[:, 2] = -1.0
    table = pruning.layer_sweep(params, x, x, y, [0.0, 0.4], [(0,), (1,), (0, 1)])
    assert len(table) == 3 * 2 * 2 and set(table["layers"]) == {"1", "2", "1+2"}
    unpruned = accuracy(params, x, y)
    assert np.allclose(table[table["fraction"] == 0.0]["accuracy"], np.tile(unpruned, 3))
    counts, keeps = pruning.near_constant_nodes(params, x)
    first = counts[counts["layer"] == 1]
    assert (first["near_constant"] >= 2).all() and (first["silent"] >= 1).all()
    for net in range(2):
        assert 1 not in keeps[net][0] and 2 not in keeps[net][0]
        alone = take(params, [net])
        pruned, _ = pruning.prune_stack(alone, 0.0, "std", x, keep=[keeps[net]])
        # removing near-constant nodes with compensation changes (almost) nothing
        assert np.allclose(forward(pruned, x)[0], forward(alone, x)[0],
                           atol=0.05)
    with pytest.raises(ValueError, match="relative"):
        pruning.near_constant_nodes(params, x, relative=2.0)


# --- bad input, finished (issue 21, part 5) ---------------------------------------------------


def test_paired_refuses_one_network():
    with pytest.raises(ValueError, match="first and second must hold at least 2 networks'"):
        routes.paired([0.5], [0.4])


def test_band_search_refuses_inputs_too_large_to_train_on():
    x = np.ones((8, 2), np.float32) * np.float32(1e30)
    y = np.array([0, 1] * 4)
    with pytest.raises(ValueError, match=r"x must stay within ±1\.84e\+19 for training"):
        routes.band_search([{"name": "s", "learning_rate": 0.01, "batch_size": None,
                             "steps": 1}], x, y, x, y, np.random.default_rng(0), n_nets=2,
                           widths=(3,))


def test_band_search_persistent_step_against_a_slow_reference():
    """The first setup's train-first run repeated by hand (band_search draws the initial
    networks and then their batches first): each network's median move per step, in units
    of lr, of the weights whose gradient kept one sign on 90 % of the steps."""
    _, x, y = toy_data(4)
    setup = {"name": "full", "learning_rate": 0.01, "batch_size": None, "steps": 40}
    table = routes.band_search([setup], x, y, x, y, np.random.default_rng(7), n_nets=3,
                               widths=(5, 5))
    rng = np.random.default_rng(7)
    start = init_stack(3, [5, 5], rng)
    full = training.train(start, x, y, 40, rng, learning_rate=0.01, batch_size=None,
                          track=True)
    for net in range(3):
        moves, expected = [], np.nan
        for i in range(5):
            for j in range(5):
                if abs(full.sign_sum[1][0][net, i, j]) >= 0.9 * 40:
                    moves.append(abs(float(full.params[1][0][net, i, j])
                                     - float(start[1][0][net, i, j])) / (0.01 * 40))
        if moves:
            expected = float(np.median(moves))
        got = table["persistent_step"].iloc[net]
        assert (np.isnan(got) and np.isnan(expected)) or got == pytest.approx(expected,
                                                                               rel=1e-5)
    assert table["persistent_step"].notna().any()


def test_band_search_persistent_step_is_nan_without_persistent_weights():
    _, x, y = toy_data(2)
    setup = {"name": "tiny", "learning_rate": 0.01, "batch_size": 4, "steps": 30}
    table = routes.band_search([setup], x, y, x, y, np.random.default_rng(1), n_nets=2,
                               widths=(4, 4))
    no_weight = table["persistent"] == 0
    assert table.loc[no_weight, "persistent_step"].isna().all()
    assert table.loc[~no_weight, "persistent_step"].notna().all()
