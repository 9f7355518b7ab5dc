"""toyviz.masking: the batched engine against slow, obviously-right references.

The references are the essay's per-mask Keras loop with a GradientTape, float64 loops
over masks, and brute-force definitions (every mask of a sweep). The functions of a loss
table that masking re-exports from toyviz.landscape (Shapley values over all orderings,
flip correlations over all masks and all flip sets, ...) are tested in test_landscape.py.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toyviz import masking, models, network
from toyviz.models import masked_circle_model
from conftest import random_network

# ----------------------------------------------------------------------------- helpers

_MODELS = {}


def keras_model(n_nodes):
    """One Keras model per width, reused: hypothesis sets new weights on it."""
    if n_nodes not in _MODELS:
        _MODELS[n_nodes] = masked_circle_model(n_nodes)
    return _MODELS[n_nodes]


def circle_net(w1, b1, w2, b2):
    """A 2-n-2 ReLU/softmax Network named like the masked circle model."""
    return network.Network.from_dense([(w1, b1, "relu"), (w2, b2, "softmax")],
                                      names=["hidden", "output"])


def random_net(seed, n_nodes, n_points=40, scale=1.5):
    rng = np.random.default_rng(seed)
    weights = [rng.uniform(-scale, scale, (2, n_nodes)),
               rng.uniform(-scale / 2, scale / 2, n_nodes),
               rng.uniform(-scale, scale, (n_nodes, 2)),
               rng.uniform(-scale / 2, scale / 2, 2)]
    net = circle_net(*(w.astype(np.float32) for w in weights))
    x = rng.uniform(-1, 1, (n_points, 2)).astype(np.float32)
    y = rng.integers(0, 2, n_points)
    return net, x, y, rng


def with_weights(net):
    (w1, b1, _), (w2, b2, _) = net.dense_chain()
    model = keras_model(w1.shape[1])
    model.get_layer("hidden").set_weights([w1, b1])
    model.get_layer("output").set_weights([w2, b2])
    return model


def loop_losses(net, x, y, masks):
    """Slow float64 reference: one mask at a time, the network written out."""
    (w1, b1, _), (w2, b2, _) = net.dense_chain()
    x = np.asarray(x, dtype=np.float64)
    losses, gradients = [], []
    for mask in np.asarray(masks, dtype=np.float64):
        h = np.maximum(x @ w1 + b1, 0)
        logits = (h * mask) @ w2 + b2
        logits = logits - logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        losses.append(-log_p[np.arange(len(y)), y].mean())
        p = np.exp(log_p)
        one_hot = np.eye(2)[y]
        # d loss / d logits = p - one_hot; d logits / d mask_i = h_i w2[i]
        gradients.append(np.einsum("pk,pi,ik->i", p - one_hot, h, w2) / len(y))
    return np.array(losses), np.array(gradients)


def all_binary(n_nodes):
    return masking.masks_from_indices(np.arange(2**n_nodes), n_nodes)


nets = st.tuples(st.integers(0, 2**31 - 1), st.integers(1, 6))
fast = settings(max_examples=25, deadline=None)

# ----------------------------------------------------------------------------- engine


@fast
@given(nets)
def test_all_ones_mask_equals_the_unmasked_model(net):
    from toyviz.models import unmasked

    seed, n_nodes = net
    weights, x, y, _ = random_net(seed, n_nodes)
    plain = unmasked(with_weights(weights))
    probabilities = plain(x, training=False).numpy().astype(np.float64)
    expected = -np.mean(np.log(probabilities[np.arange(len(y)), y]))
    losses, _ = masking.mask_losses(weights, x, y, np.ones((1, n_nodes)))
    assert losses[0] == pytest.approx(expected, abs=1e-5)
    np.testing.assert_allclose(masking.inside_probability(weights, x), probabilities[:, 1],
                               atol=1e-6)


@fast
@given(nets, st.floats(0, 1))
def test_engine_matches_the_per_mask_keras_reference(net, p):
    seed, n_nodes = net
    weights, x, y, rng = random_net(seed, n_nodes)
    masks = masking.random_masks(6, p, rng, n_nodes)
    masks[0] = 1.0
    ref_losses, ref_gradients = masking.reference_mask_losses(with_weights(weights), x, y,
                                                              masks)
    losses, gradients = masking.mask_losses(weights, x, y, masks)
    np.testing.assert_allclose(losses, ref_losses, atol=1e-5, rtol=0)
    np.testing.assert_allclose(gradients, ref_gradients, atol=1e-5, rtol=0)


@fast
@given(nets)
def test_engine_matches_the_float64_loop(net):
    seed, n_nodes = net
    weights, x, y, rng = random_net(seed, n_nodes, scale=4.0)
    masks = rng.uniform(0, 1, (7, n_nodes))
    losses, gradients = masking.mask_losses(weights, x, y, masks, chunk_size=3)
    ref_losses, ref_gradients = loop_losses(weights, x, y, masks.astype(np.float32))
    np.testing.assert_allclose(losses, ref_losses, atol=1e-10, rtol=1e-9)
    np.testing.assert_allclose(gradients, ref_gradients, atol=1e-10, rtol=1e-9)


@fast
@given(nets)
def test_mask_gradient_matches_finite_differences_on_continuous_masks(net):
    seed, n_nodes = net
    weights, x, y, rng = random_net(seed, n_nodes)
    mask = rng.uniform(0.1, 0.9, n_nodes)
    _, gradient = masking.mask_losses(weights, x, y, mask[None, :].astype(np.float32))
    mask = mask.astype(np.float32).astype(np.float64)
    step = 1e-4
    shifted = np.clip(mask + step * np.eye(n_nodes), 0, 1)
    back = np.clip(mask - step * np.eye(n_nodes), 0, 1)
    up, _ = loop_losses(weights, x, y, shifted)
    down, _ = loop_losses(weights, x, y, back)
    np.testing.assert_allclose(gradient[0], (up - down) / (2 * step), atol=1e-6)


@fast
@given(st.integers(0, 2**31 - 1), st.integers(1, 9))
def test_full_sweep_matches_the_engine_on_every_mask(seed, n_nodes):
    weights, x, y, _ = random_net(seed, n_nodes, n_points=30, scale=3.0)
    losses, gradients = masking.sweep_all_masks(weights, x, y, workers=2, block=5)
    ref_losses, ref_gradients = masking.mask_losses(weights, x, y, all_binary(n_nodes))
    # float32 sums over the points: an error of a few float32 ulps of each sum
    np.testing.assert_allclose(losses, ref_losses, atol=2e-6, rtol=1e-6)
    np.testing.assert_allclose(gradients, ref_gradients, atol=2e-6, rtol=1e-6)


@fast
@given(st.integers(0, 2**31 - 1), st.integers(1, 9), st.integers(1, 3), st.booleans())
def test_projected_sweep_and_node_means_match_the_engine(seed, n_nodes, k, huge):
    weights, x, y, rng = random_net(seed, n_nodes, n_points=30, scale=40.0 if huge else 3.0)
    project = rng.normal(size=(n_nodes, k))
    losses, projected, node_means = masking.sweep_all_masks(
        weights, x, y, workers=2, block=5, project=project, node_means=True)
    ref_losses, ref_gradients = masking.mask_losses(weights, x, y, all_binary(n_nodes))
    scale = 1 + np.abs(ref_gradients).max()
    np.testing.assert_allclose(losses, ref_losses, atol=1e-5, rtol=1e-6)
    np.testing.assert_allclose(projected, ref_gradients @ project,
                               atol=4e-6 * scale * np.abs(project).sum(axis=0).max(), rtol=0)
    np.testing.assert_allclose(node_means, ref_gradients.mean(axis=0), atol=2e-6 * scale,
                               rtol=0)


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_node_means_do_not_depend_on_threads_and_bad_projections_are_refused(engine):
    # (engine="auto" may choose differently per number of workers: see test_engine.py)
    weights, x, y, _ = random_net(11, 8, n_points=50)
    first = masking.sweep_all_masks(weights, x, y, workers=1, block=7, node_means=True,
                                    engine=engine)
    second = masking.sweep_all_masks(weights, x, y, workers=3, block=7, node_means=True,
                                     engine=engine)
    np.testing.assert_array_equal(first[2], second[2])
    with pytest.raises(ValueError, match=r"^project must have shape \(8, any\)"):
        masking.sweep_all_masks(weights, x, y, project=np.ones((7, 1)))
    with pytest.raises(TypeError, match="^node_means must be a bool"):
        masking.sweep_all_masks(weights, x, y, node_means="yes")


def test_full_sweep_falls_back_to_direct_evaluation_for_huge_logits():
    weights, x, y, _ = random_net(3, 6, n_points=25, scale=40.0)
    a, c = masking.signed_contributions(weights, x, y)
    assert np.abs(c).sum(axis=1).max() > 160      # some points cannot use the split
    losses, gradients = masking.sweep_all_masks(weights, x, y)
    ref_losses, ref_gradients = masking.mask_losses(weights, x, y, all_binary(6))
    np.testing.assert_allclose(losses, ref_losses, atol=1e-5, rtol=1e-6)
    np.testing.assert_allclose(gradients, ref_gradients, atol=1e-5, rtol=1e-6)


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_full_sweep_does_not_depend_on_threads(engine):
    weights, x, y, _ = random_net(11, 8, n_points=50)
    first = masking.sweep_all_masks(weights, x, y, workers=1, block=7, engine=engine)
    second = masking.sweep_all_masks(weights, x, y, workers=3, block=7, engine=engine)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    # Another block size changes the float32 summation order, not the answer.
    third = masking.sweep_all_masks(weights, x, y, workers=2, block=256, engine=engine)
    np.testing.assert_allclose(third[0], first[0], atol=1e-6, rtol=0)


def test_point_losses_average_to_the_mask_loss():
    weights, x, y, rng = random_net(5, 5)
    mask = rng.uniform(0, 1, 5)
    point_loss, point_gradient = masking.point_losses(weights, x, y, mask)
    loss, gradient = masking.mask_losses(weights, x, y, mask[None, :])
    assert point_loss.mean() == pytest.approx(loss[0], abs=1e-12)
    np.testing.assert_allclose(point_gradient.mean(axis=0), gradient[0], atol=1e-12)


def test_engine_accepts_a_keras_model_and_empty_batches():
    weights, x, y, _ = random_net(2, 4)
    model = with_weights(weights)
    losses, gradients = masking.mask_losses(model, x, y, np.zeros((0, 4)))
    assert losses.shape == (0,) and gradients.shape == (0, 4)
    from_model = masking.mask_losses(model, x, y, np.ones((2, 4), dtype=bool))
    from_network = masking.mask_losses(weights, x, y, np.ones((2, 4)))
    np.testing.assert_allclose(from_model[0], from_network[0])


# ----------------------------------------------------------------------------- masks


def test_indices_and_masks_round_trip():
    masks = all_binary(5)
    assert masks.shape == (32, 5)
    assert masks[1].tolist() == [1, 0, 0, 0, 0]          # bit i is node i
    np.testing.assert_array_equal(masking.mask_indices(masks), np.arange(32))
    np.testing.assert_array_equal(masking.popcount(np.arange(32)), masks.sum(axis=1))


def test_random_masks_are_bernoulli():
    masks = masking.random_masks(20000, 0.25, np.random.default_rng(0), n_nodes=3)
    assert masks.dtype == np.float32 and set(np.unique(masks)) == {0.0, 1.0}
    assert masks.mean() == pytest.approx(0.25, abs=0.01)


def test_hypercube_paths_flip_each_node_once():
    paths = masking.hypercube_paths(50, np.random.default_rng(1), n_nodes=7)
    assert paths.shape == (50, 8, 7)
    steps = np.abs(np.diff(paths, axis=1)).sum(axis=2)
    np.testing.assert_array_equal(steps, 1)
    np.testing.assert_array_equal(paths[:, -1], 1 - paths[:, 0])
    flipped = np.abs(np.diff(paths, axis=1)).argmax(axis=2)
    assert all(sorted(row) == list(range(7)) for row in flipped)


# ----------------------------------------------------------------------------- exact analysis


@fast
@given(nets)
def test_shapley_values_of_a_network_sum_to_full_minus_empty(net):
    seed, n_nodes = net
    weights, x, y, _ = random_net(seed, n_nodes)
    losses, _ = masking.sweep_all_masks(weights, x, y)
    shapley = masking.shapley_values(losses)
    assert shapley.sum() == pytest.approx(losses[-1] - losses[0], abs=1e-9)


def test_node_roles_find_a_node_that_never_switches_off():
    weights = circle_net(np.array([[0.1, 1.0], [0.0, 0.0]]), np.array([5.0, 0.0]),
                         np.array([[0.0, 1.0], [1.0, 0.0]]), np.zeros(2))
    roles = masking.node_roles(weights)
    assert roles["bias_like"].tolist() == [True, False]
    assert roles["active_fraction"][1] == pytest.approx(0.5, abs=0.01)
    assert roles["direction"].tolist() == [1.0, -1.0]


# ----------------------------------------------------------------------------- bad input


GOOD = random_net(0, 3)


@pytest.mark.parametrize("call, error, name", [
    (lambda: masking.mask_losses(GOOD[0], GOOD[1], GOOD[2], np.ones((2, 4))), ValueError,
     "masks"),
    (lambda: masking.mask_losses(GOOD[0], GOOD[1], GOOD[2], np.ones(3)), ValueError, "masks"),
    (lambda: masking.mask_losses(GOOD[0], GOOD[1], GOOD[2], 2 * np.ones((1, 3))), ValueError,
     "masks"),
    (lambda: masking.mask_losses(GOOD[0], GOOD[1], GOOD[2], np.full((1, 3), np.nan)),
     ValueError, "masks"),
    (lambda: masking.mask_losses(GOOD[0], GOOD[1], GOOD[2], [["a", "b", "c"]]), TypeError,
     "masks"),
    (lambda: masking.mask_losses(GOOD[0], GOOD[1], GOOD[2], np.ones((1, 3)), chunk_size=0),
     ValueError, "chunk_size"),
    (lambda: masking.mask_losses(GOOD[0], GOOD[1][:, :1], GOOD[2], np.ones((1, 3))),
     ValueError, "x"),
    (lambda: masking.mask_losses(GOOD[0], GOOD[1], GOOD[2] + 2, np.ones((1, 3))), ValueError,
     "y"),
    (lambda: masking.mask_losses("model", GOOD[1], GOOD[2], np.ones((1, 3))), TypeError,
     "model"),
    (lambda: masking.mask_losses({"w1": np.ones((2, 3))}, GOOD[1], GOOD[2], np.ones((1, 3))),
     TypeError, "model"),
    (lambda: masking.mask_losses(GOOD[0], GOOD[1], GOOD[2], np.ones((1, 3)), progress=1),
     TypeError, "progress"),
    (lambda: masking.random_masks(3, 1.5, np.random.default_rng(0)), ValueError, "p"),
    (lambda: masking.random_masks(3, -0.1, np.random.default_rng(0)), ValueError, "p"),
    (lambda: masking.random_masks(3, "half", np.random.default_rng(0)), TypeError, "p"),
    (lambda: masking.random_masks(-1, 0.5, np.random.default_rng(0)), ValueError, "n_masks"),
    (lambda: masking.random_masks(3, 0.5, 0), TypeError, "rng"),
    (lambda: masking.hypercube_paths(0, np.random.default_rng(0)), ValueError, "n_paths"),
    (lambda: masking.masks_from_indices(np.array([8]), 3), ValueError, "indices"),
    (lambda: masking.masks_from_indices(np.array([0.5]), 3), TypeError, "indices"),
    (lambda: masking.mask_indices(np.array([[0, 0.5]])), ValueError, "masks"),
    (lambda: masking.sweep_all_masks(GOOD[0], GOOD[1], GOOD[2], workers=0), ValueError,
     "workers"),
    (lambda: masking.sweep_all_masks(GOOD[0], GOOD[1], GOOD[2], block=0), ValueError, "block"),
    (lambda: masking.point_losses(GOOD[0], GOOD[1], GOOD[2], np.ones(4)), ValueError, "mask"),
    (lambda: masking.node_roles(GOOD[0], threshold=0), ValueError, "threshold"),
    (lambda: masking.reference_mask_losses(GOOD[0], GOOD[1], GOOD[2], np.ones((1, 3))),
     TypeError, "model"),
])
def test_bad_input_names_the_parameter(call, error, name):
    with pytest.raises(error, match=name):
        call()


def test_sweep_refuses_too_many_nodes():
    weights, x, y, _ = random_net(0, masking.MAX_SWEEP_NODES + 1, n_points=3)
    with pytest.raises(ValueError, match="model"):
        masking.sweep_all_masks(weights, x, y)


def test_path_correlations_on_independent_and_dependent_steps():
    rng = np.random.default_rng(0)
    start = rng.normal(size=(2000, 1))
    noise = rng.normal(size=(2000, 5))
    values = np.hstack([start, start + 0.1 * noise[:, :2], noise[:, 2:]])
    result = masking.path_correlations(values)
    assert result["covariance"].shape == (6, 6)
    assert result["correlation"][0] == pytest.approx(1.0)
    assert result["correlation"][1] > 0.9 and result["p_value"][1] < 1e-10
    assert result["flips_to_insignificant"] in (3, 4, 5)
    np.testing.assert_allclose(result["with_end"], result["covariance"][5, ::-1])
    with pytest.raises(ValueError, match="alpha"):
        masking.path_correlations(values, alpha=0)
    with pytest.raises(ValueError, match="values"):
        masking.path_correlations(values[:2])


# ------------------------------------------------------ chapter 1's claims, checked here


@fast
@given(nets)
def test_mask_before_relu_is_the_same_function_with_zero_gradient_at_off_nodes(net):
    weights, x, y, rng = random_net(*net)
    masks = rng.integers(0, 2, (6, masking.n_nodes_of(weights))).astype(np.float32)
    masks = np.concatenate([masks, rng.uniform(0.05, 1, (3, masks.shape[1]))])
    after_loss, after_gradient = masking.mask_losses(weights, x, y, masks)
    before_loss, before_gradient = masking.mask_losses_before_relu(weights, x, y, masks)
    np.testing.assert_allclose(before_loss, after_loss, rtol=1e-9, atol=1e-12)
    on = masks > 0
    np.testing.assert_allclose(before_gradient[on], after_gradient[on], rtol=1e-7, atol=1e-9)
    assert np.all(before_gradient[~on] == 0)
    # the after-ReLU gradient at an off node is the one-sided derivative into the cube
    row, node = np.argwhere(~on)[0] if (~on).any() else (None, None)
    if row is not None:
        nudged_mask = masks[row].astype(np.float64)
        nudged_mask[node] = 1e-6
        nudged, _ = masking.mask_losses(weights, x, y, nudged_mask[None])
        np.testing.assert_allclose((nudged[0] - after_loss[row]) / 1e-6,
                                   after_gradient[row, node], rtol=1e-3, atol=1e-6)


@fast
@given(st.integers(0, 2**31 - 1), st.integers(1, 8))
def test_removal_costs_match_the_engine(seed, n_nodes):
    weights, x, y, _ = random_net(seed, n_nodes)
    table, _ = masking.sweep_all_masks(weights, x, y, progress=False)
    masks = np.ones((n_nodes, n_nodes)) - np.eye(n_nodes)
    losses, _ = masking.mask_losses(weights, x, y, np.concatenate([masks, np.ones((1, n_nodes))]))
    np.testing.assert_allclose(masking.removal_costs(table), losses[:-1] - losses[-1],
                               rtol=1e-5, atol=1e-6)


# ------------------------------------------- any network: depth, classes, activations, layers

ACTIVATION_NAMES = sorted([*network.ACTIVATIONS, *network.OTHER_ACTIVATIONS, "linear"])
# (output activation, units): softmax and linear (logits) over 2-4 classes, one unit
OUTPUTS = [("softmax", 2), ("softmax", 3), ("softmax", 4), ("linear", 2), ("linear", 3),
           ("linear", 4), ("sigmoid", 1), ("linear", 1)]
# Keras (float32) against the float64 engine, on losses and gradients of order 1:
# |engine - Keras| <= KERAS_ATOL + KERAS_RTOL |Keras|. Measured: below 3e-7 on 40 random
# architectures; the margin covers other CPUs' float32 rounding.
KERAS_ATOL = KERAS_RTOL = 1e-5


@st.composite
def architectures(draw, max_masked=None):
    """(hidden layers [(width, activation)], (output activation, units), masked layer
    names in the order the mask lists them, seed)."""
    hidden = draw(st.lists(st.tuples(st.integers(1, 6), st.sampled_from(ACTIVATION_NAMES)),
                           min_size=1, max_size=3))
    output = draw(st.sampled_from(OUTPUTS))
    order = draw(st.permutations(range(len(hidden))))
    count = draw(st.integers(1, len(hidden)))
    masked = [f"hidden{i}" for i in order[:count]]
    if max_masked is not None:
        while sum(hidden[int(name[6:])][0] for name in masked) > max_masked:
            masked.pop()
            if not masked:
                masked = [f"hidden{order[0]}"]
                hidden[order[0]] = (min(hidden[order[0]][0], max_masked), hidden[order[0]][1])
    return hidden, output, masked, draw(st.integers(0, 2**31 - 1))


def random_layers(hidden, output, seed):
    """Dense layers [(kernel, bias, activation)] with float32-exact weights that keep the
    logits moderate (no point near Keras' probability clipping)."""
    rng = np.random.default_rng(seed)
    sizes = [2] + [width for width, _ in hidden] + [output[1]]
    activations = [activation for _, activation in hidden] + [output[0]]
    return [((rng.normal(size=(a, b)) * 1.5 / np.sqrt(a)).astype(np.float32),
             rng.uniform(-0.5, 0.5, b).astype(np.float32), activation)
            for a, b, activation in zip(sizes[:-1], sizes[1:], activations)], rng


def keras_from_layers(layers):
    import keras

    model = keras.Sequential(
        [keras.Input(shape=(2,), name="x")]
        + [keras.layers.Dense(kernel.shape[1], activation=activation,
                              name="output" if i == len(layers) - 1 else f"hidden{i}")
           for i, (kernel, _, activation) in enumerate(layers)])
    for layer, (kernel, bias, _) in zip(model.layers, layers):
        layer.set_weights([kernel, bias])
    return model


def points_for(output, rng, n_points=30):
    n_classes = max(2, output[1])
    return (rng.uniform(-1, 1, (n_points, 2)).astype(np.float32),
            rng.integers(0, n_classes, n_points))


def mixed_masks(rng, n_nodes, k=5):
    masks = rng.uniform(0, 1, (k, n_nodes))
    masks[0] = 1.0
    masks[1] = masks[1] < 0.5              # binary
    return masks


def assert_keras_close(got, expected):
    np.testing.assert_allclose(got, expected, atol=KERAS_ATOL, rtol=KERAS_RTOL)


@settings(max_examples=25, deadline=None)
@given(architectures(max_masked=8))
def test_engine_and_sweep_match_keras_with_mask_layers_on_random_architectures(architecture):
    hidden, output, masked, seed = architecture
    layers, rng = random_layers(hidden, output, seed)
    model = keras_from_layers(layers)
    x, y = points_for(output, rng)
    n_nodes = sum(hidden[int(name[6:])][0] for name in masked)
    masks = mixed_masks(rng, n_nodes)
    ref_losses, ref_gradients = masking.reference_mask_losses(model, x, y, masks,
                                                              layers=masked)
    losses, gradients = masking.mask_losses(model, x, y, masks, layers=masked)
    assert_keras_close(losses, ref_losses)
    assert_keras_close(gradients, ref_gradients)
    # the sweep, at the binary masks among them
    table, table_gradients = masking.sweep_all_masks(model, x, y, layers=masked, workers=2)
    binary = masking.mask_indices(masks[:2])
    assert_keras_close(table[binary], ref_losses[:2])
    assert_keras_close(table_gradients[binary], ref_gradients[:2])
    # one mask, point by point, averages to the batch
    point_loss, point_gradient = masking.point_losses(model, x, y, masks[2], layers=masked)
    assert point_loss.mean() == pytest.approx(losses[2], abs=1e-12)
    np.testing.assert_allclose(point_gradient.mean(axis=0), gradients[2], atol=1e-12)
    # the probabilities the loss reads: Keras' output, or the softmax/sigmoid of logits
    probabilities = masking.class_probabilities(model, x, layers=masked)
    keras_output = model(x, training=False).numpy().astype(np.float64)
    if output[0] == "linear":
        keras_output = network.apply_output("softmax" if output[1] > 1 else "sigmoid",
                                            keras_output)
    if output[1] == 1:
        keras_output = np.hstack([1 - keras_output, keras_output])
    np.testing.assert_allclose(probabilities, keras_output, atol=1e-6)


def network_from(architecture):
    hidden, output, masked, seed = architecture
    layers, rng = random_layers(hidden, output, seed)
    x, y = points_for(output, rng, n_points=25)
    return network.Network.from_dense(layers), masked, x, y, rng


@settings(max_examples=30, deadline=None)
@given(architectures(max_masked=9), st.integers(1, 3), st.booleans())
def test_general_sweep_matches_the_engine_on_every_mask(architecture, k, workers):
    net, masked, x, y, rng = network_from(architecture)
    n_nodes = masking.n_nodes_of(net, masked)
    ref_losses, ref_gradients = masking.mask_losses(net, x, y, all_binary(n_nodes),
                                                    layers=masked)
    losses, gradients = masking.sweep_all_masks(net, x, y, layers=masked, block=7,
                                                workers=1 + workers)
    # chapter 1's case sums over points in float32 (see test_full_sweep_matches_...);
    # otherwise the losses are the engine's and the gradients its, rounded to float32
    split = masking.masked_network(net, masked).fast
    np.testing.assert_allclose(losses, ref_losses, atol=2e-6 if split else 1e-12, rtol=1e-12)
    np.testing.assert_allclose(gradients, ref_gradients, atol=2e-6 if split else 1e-7,
                               rtol=1e-6)
    project = rng.normal(size=(n_nodes, k))
    _, projected, node_means = masking.sweep_all_masks(
        net, x, y, layers=masked, block=5, project=project, node_means=True)
    scale = np.abs(project).sum(axis=0).max()
    np.testing.assert_allclose(projected, ref_gradients @ project,
                               atol=(4e-6 if split else 1e-6) * scale, rtol=1e-5)
    np.testing.assert_allclose(node_means, ref_gradients.mean(axis=0),
                               atol=2e-6 if split else 1e-12, rtol=1e-9)


@settings(max_examples=25, deadline=None)
@given(architectures())
def test_general_mask_gradient_matches_finite_differences(architecture):
    net, masked, x, y, rng = network_from(architecture)
    n_nodes = masking.n_nodes_of(net, masked)
    # masks are float32: on a grid of 2**-16 with a step of 2**-14 every mask is exact
    mask = np.round(rng.uniform(0.1, 0.9, n_nodes) * 2**16) / 2**16
    _, gradient = masking.mask_losses(net, x, y, mask[None, :], layers=masked)
    step = 2.0**-14
    up, _ = masking.mask_losses(net, x, y, mask + step * np.eye(n_nodes), layers=masked)
    down, _ = masking.mask_losses(net, x, y, mask - step * np.eye(n_nodes), layers=masked)
    np.testing.assert_allclose(gradient[0], (up - down) / (2 * step), atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.sampled_from(ACTIVATION_NAMES)), min_size=1,
                max_size=3),
       st.sampled_from([("softmax", 2), ("linear", 2), ("sigmoid", 1), ("linear", 1)]),
       st.integers(0, 2**31 - 1))
def test_fast_path_equals_the_general_engine(hidden, output, seed):
    """Chapter 1's case (the last hidden layer, two classes) through both paths."""
    layers, rng = random_layers(hidden, output, seed)
    net = network.Network.from_dense(layers)
    last = f"hidden{len(hidden) - 1}"
    target = masking.masked_network(net, last)
    assert target.fast
    x, y = points_for(output, rng, n_points=25)
    masks = mixed_masks(rng, target.n_nodes, k=6).astype(np.float32)   # as the engine reads them
    losses, gradients = masking.mask_losses(target, x, y, masks)
    point_loss, general = masking._general(target, x.astype(np.float64), y,
                                           masks.astype(np.float64))
    np.testing.assert_allclose(losses, point_loss.mean(axis=1), atol=1e-12, rtol=1e-12)
    np.testing.assert_allclose(gradients, general / len(x), atol=1e-12, rtol=1e-9)
    probabilities = masking.class_probabilities(target, x, masks[1])
    np.testing.assert_allclose(masking.inside_probability(target, x, masks[1]),
                               probabilities[:, 1], atol=1e-12)
    n = target.n_nodes
    if n <= 9:
        table, table_gradients = masking.sweep_all_masks(target, x, y, workers=2, block=5)
        chunked = (np.empty(2**n), np.empty((2**n, n), dtype=np.float32))
        masking._sweep_chunks(target, x.astype(np.float64), y, *chunked, None, 2, 5, False,
                              False)
        np.testing.assert_allclose(table, chunked[0], atol=2e-6, rtol=0)
        np.testing.assert_allclose(table_gradients, chunked[1], atol=2e-6, rtol=0)


def test_mask_columns_follow_the_order_of_layers():
    net, _, x, y, rng = network_from(([(3, "tanh"), (4, "relu")], ("softmax", 3),
                                      ["hidden0"], 5))
    masks = rng.uniform(0, 1, (4, 7))
    first = masking.mask_losses(net, x, y, masks, layers=["hidden0", "hidden1"])
    swapped = np.hstack([masks[:, 3:], masks[:, :3]])
    second = masking.mask_losses(net, x, y, swapped, layers=("hidden1", "hidden0"))
    np.testing.assert_allclose(first[0], second[0], rtol=1e-12)
    np.testing.assert_allclose(first[1], np.hstack([second[1][:, 4:], second[1][:, :4]]),
                               rtol=1e-12)
    nodes = masking.hidden_activations(net, x, ["hidden1", "hidden0"])
    values, _ = net.forward(x.astype(np.float64))
    np.testing.assert_array_equal(nodes[:, :4], values[4])       # hidden1 after its ReLU
    np.testing.assert_array_equal(nodes[:, 4:], values[2])       # hidden0 after its tanh


def test_the_issue_network_two_hidden_layers_named_hidden_and_output():
    """Issue 10: on a 2-16-16-2 net named hidden/output, masking gave 0.978 against Keras'
    0.103 by skipping the middle layer. Now it asks which layer, and agrees with Keras."""
    import keras

    from toyviz import data

    rng = np.random.default_rng(0)
    x, y = data.circle(300, rng)
    model = keras.Sequential([keras.Input(shape=(2,)),
                              keras.layers.Dense(16, activation="relu", name="hidden"),
                              keras.layers.Dense(16, activation="tanh", name="middle"),
                              keras.layers.Dense(2, activation="softmax", name="output")])
    with pytest.raises(ValueError, match=r"^layers must name .*\['hidden', 'middle'\]"):
        masking.mask_losses(model, x, y, np.ones((1, 16)))
    keras_loss = float(keras.losses.SparseCategoricalCrossentropy()(y, model(x)))
    for layers in (["hidden"], ["middle"], ["middle", "hidden"]):
        width = 16 * len(layers)
        losses, _ = masking.mask_losses(model, x, y, np.ones((1, width)), layers=layers)
        assert losses[0] == pytest.approx(keras_loss, abs=1e-5)
    masked = models.with_masks(model, ["middle"])
    assert masking.masked_network(masked).layers == ("middle",)   # its own mask by default


def test_default_layers_and_refusals():
    two_hidden = network.Network.from_dense(random_layers([(2, "relu"), (3, "tanh")],
                                                          ("softmax", 3), 0)[0])
    one_hidden = network.Network.from_dense(random_layers([(4, "sigmoid")], ("linear", 3),
                                                          0)[0])
    assert masking.masked_network(one_hidden).layers == ("hidden0",)
    assert not masking.masked_network(one_hidden).fast        # three classes
    x = np.zeros((3, 2))
    cases = [
        (lambda: masking.masked_network(two_hidden), ValueError,
         r"layers must name .*\['hidden0', 'hidden1'\]"),
        (lambda: masking.masked_network(two_hidden, ["hidden2"]), ValueError, "^layers names"),
        (lambda: masking.masked_network(two_hidden, ["output"]), ValueError, "^layers names"),
        (lambda: masking.masked_network(two_hidden, ["hidden0", "hidden0"]), ValueError,
         "^layers must not repeat"),
        (lambda: masking.masked_network(two_hidden, []), ValueError, "^layers must name at"),
        (lambda: masking.masked_network(two_hidden, [0]), TypeError, "^layers must hold"),
        (lambda: masking.masked_network(two_hidden, 3), TypeError, "^layers must be"),
        (lambda: masking.mask_losses(two_hidden, x, [0, 1, 3], np.ones((1, 2)), layers="hidden0"),
         ValueError, r"^y must be class labels in 0 \.\. 2"),
        (lambda: masking.mask_losses(two_hidden, x[:0], [], np.ones((1, 2)), layers="hidden0"),
         ValueError, "^x must not be empty"),
        (lambda: masking.mask_losses(two_hidden, np.zeros((3, 3)), [0, 1, 2], np.ones((1, 2)),
                                     layers="hidden0"), ValueError, "^x must have shape"),
        (lambda: masking.node_directions(one_hidden), ValueError, "^model must have two classes"),
        (lambda: masking.masked_network(network.Network.from_dense(
            random_layers([(2, "relu")], ("sigmoid", 2), 0)[0])), ValueError,
         "^model ends in 2 sigmoid units"),
        (lambda: masking.masked_network(network.Network.from_dense(
            random_layers([], ("softmax", 2), 0)[0])), ValueError, "^model has no hidden layer"),
        (lambda: masking.mask_losses_before_relu(
            network.Network.from_dense(random_layers([(2, "tanh")], ("softmax", 2), 0)[0]),
            x, [0, 1, 1], np.ones((1, 2))), ValueError, "^model must have a ReLU"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    binary = network.Network.from_dense(random_layers([(2, "relu")], ("sigmoid", 1), 0)[0])
    with pytest.raises(ValueError, match=r"^y must be class labels in 0 \.\. 1"):
        masking.mask_losses(binary, x, [0, 1, 2], np.ones((1, 2)))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.sampled_from(ACTIVATION_NAMES)), min_size=1,
                max_size=3), st.sampled_from(OUTPUTS), st.integers(0, 2**31 - 1))
def test_last_layer_products_equal_the_general_engine(hidden, output, seed):
    """The last hidden layer alone, any number of classes: logits as one product with
    the nodes times the output kernel, against the forward and backward pass."""
    layers, rng = random_layers(hidden, output, seed)
    target = masking.masked_network(network.Network.from_dense(layers),
                                    f"hidden{len(hidden) - 1}")
    x, y = points_for(output, rng, n_points=25)
    x = x.astype(np.float64)
    masks = mixed_masks(rng, target.n_nodes, k=6)
    losses, gradients = masking._batch_engine(target, x, y)(masks)
    ref_losses, ref_gradients = masking._general(target, x, y, masks)
    np.testing.assert_allclose(losses, ref_losses, atol=1e-12, rtol=1e-12)
    np.testing.assert_allclose(gradients, ref_gradients, atol=1e-12, rtol=1e-9)


def test_the_numpy_engine_never_loads_numba_and_agrees_with_auto():
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from toyviz import masking, network\n"
            "rng = np.random.default_rng(0)\n"
            "net = network.Network.from_dense([(rng.normal(size=(2, 6)), rng.normal(size=6), "
            "'relu'), (rng.normal(size=(6, 2)), rng.normal(size=2), 'softmax')])\n"
            "x, y = rng.normal(size=(40, 2)), rng.integers(0, 2, 40)\n"
            "numpy_loss, _ = masking.sweep_all_masks(net, x, y, engine='numpy')\n"
            "print('numba' in sys.modules)\n"
            "auto_loss, _ = masking.sweep_all_masks(net, x, y)\n"
            "print(float(np.abs(numpy_loss - auto_loss).max()))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[0] == "False"
    assert float(out[1]) <= 2e-6
    weights, x, y, _ = random_net(1, 3, n_points=5)
    with pytest.raises(ValueError, match="engine must be one of"):
        masking.sweep_all_masks(weights, x, y, engine="fast")


# --- bad input, finished (issue 21, part 5) ---------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(names=st.lists(st.sampled_from(["hidden0", "hidden1"]), min_size=1, max_size=2,
                      unique=True),
       kind=st.sampled_from([set, frozenset, lambda names: dict.fromkeys(names, 1),
                             lambda names: dict.fromkeys(names, 1).keys()]))
def test_layers_in_no_order_are_refused_whatever_they_hold(names, kind):
    # A set of str iterates in an order that changes with PYTHONHASHSEED: the mask's
    # columns would follow it.
    model = _two_hidden_layer_model()
    with pytest.raises(TypeError, match="layers must be a list or tuple of hidden layer "
                                        "names: their order matters"):
        masking.n_nodes_of(model, kind(names))
    assert masking.n_nodes_of(model, list(names)) == 3 * len(names)


_TWO_HIDDEN = {}


def _two_hidden_layer_model():
    """A 2-3-3-2 MLP, built once."""
    if "model" not in _TWO_HIDDEN:
        _TWO_HIDDEN["model"] = models.mlp(widths=(3, 3))
    return _TWO_HIDDEN["model"]


def test_a_masked_network_checks_points_for_its_input_and_classes():
    target = masking.masked_network(random_network(4, (3, 5, 3)))
    x, y = target.check_points(np.zeros((4, 3), dtype=np.float32), [0, 2, 1, 2])
    assert x.dtype == np.float64 and x.shape == (4, 3)
    assert y.dtype == np.int64 and y.tolist() == [0, 2, 1, 2]
    with pytest.raises(ValueError, match="^x "):
        target.check_points(np.zeros((4, 2)), [0, 1, 1, 0])
    with pytest.raises(ValueError, match="^y "):
        target.check_points(np.zeros((4, 3)), [0, 1, 3, 0])


def test_a_masked_network_refuses_a_set_of_its_own_layers():
    target = masking.masked_network(_two_hidden_layer_model(), ["hidden0", "hidden1"])
    assert masking.masked_network(target, ("hidden0", "hidden1")) is target
    with pytest.raises(TypeError, match="order matters"):
        masking.masked_network(target, {"hidden0", "hidden1"})
    with pytest.raises(TypeError, match="layers must be a hidden layer name or a sequence"):
        masking.masked_network(target, 3)


def test_one_hot_labels_are_refused_saying_how_to_get_indices():
    model = masked_circle_model(n_nodes=3)
    x = np.zeros((4, 2), np.float32)
    y = np.array([0, 1, 1, 0])
    with pytest.raises(ValueError, match=r"y looks one-hot encoded \(shape \(4, 2\)\); pass "
                                         r"class indices, e\.g\. y\.argmax\(axis=1\)"):
        masking.point_losses(model, x, np.eye(2)[y])
