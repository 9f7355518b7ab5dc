"""Issue 10's acceptance case: a reader's own 2-16-16-3 tanh/ReLU MLP can be masked, swept,
pruned, explained and shown in the explorable, with numbers equal to Keras's.

The network is untrained (random weights, scaled up so that nodes matter); every number
is compared with Keras running the same weights.
"""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from toyviz import landscape, masking, models, network, pruning, relevance, widgets  # noqa: E402

FLOAT32 = dict(rtol=1e-4, atol=1e-5)   # Keras computes in float32, toyviz in float64


@pytest.fixture(scope="module")
def own():
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((2,), name="x"),
                              keras.layers.Dense(16, activation="tanh", name="h0",
                                                 kernel_initializer="he_normal",
                                                 bias_initializer="random_normal"),
                              keras.layers.Dense(16, name="h1", kernel_initializer="he_normal",
                                                 bias_initializer="random_normal"),
                              keras.layers.ReLU(name="relu1"),
                              keras.layers.Dense(3, name="out"),
                              keras.layers.Softmax(name="probabilities")])
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, size=(200, 2)).astype(np.float32)
    y = rng.integers(0, 3, size=200)
    return model, x, y, rng


def test_read_and_forward_equal_keras(own):
    model, x, _, _ = own
    net = network.read(model)
    assert net.hidden_layers == {"h0": 16, "h1": 16} and net.output == "softmax"
    np.testing.assert_allclose(net.predict(x), model.predict(x, verbose=0), **FLOAT32)


@pytest.mark.parametrize("layers", ["h0", "h1", ("h0", "h1")])
def test_masks_on_any_layer_equal_keras(own, layers):
    model, x, y, rng = own
    n = masking.n_nodes_of(model, layers)
    masks = masking.random_masks(12, 0.5, rng, n_nodes=n)
    loss, gradient = masking.mask_losses(model, x, y, masks, layers=layers)
    keras_loss, keras_gradient = masking.reference_mask_losses(model, x, y, masks, layers=layers)
    np.testing.assert_allclose(loss, keras_loss, **FLOAT32)
    np.testing.assert_allclose(gradient, keras_gradient, **FLOAT32)


def test_sweep_of_a_16_node_layer_equals_keras_on_sampled_masks(own):
    model, x, y, rng = own
    all_loss, all_gradient = masking.sweep_all_masks(model, x, y, layers="h1")
    assert all_loss.shape == (2**16,)
    indices = rng.choice(2**16, size=10, replace=False)
    masks = masking.masks_from_indices(indices, 16)
    keras_loss, keras_gradient = masking.reference_mask_losses(model, x, y, masks, layers="h1")
    np.testing.assert_allclose(all_loss[indices], keras_loss, **FLOAT32)
    np.testing.assert_allclose(all_gradient[indices], keras_gradient, **FLOAT32)
    shapley = landscape.shapley_values(all_loss)
    assert abs(shapley.sum() - (all_loss[-1] - all_loss[0])) < 1e-9


def test_pruning_keeps_the_layers_and_equals_mean_replacement(own):
    model, x, _, _ = own
    keep = {"h0": np.arange(0, 16, 2), "h1": np.arange(12)}
    smaller = pruning.prune(model, keep, data=x, compensate=True)
    assert [type(layer).__name__ for layer in smaller.layers] == [
        "Dense", "Dense", "ReLU", "Dense", "Softmax"]
    assert smaller.get_layer("h0").activation.__name__ == "tanh"
    assert network.read(smaller).hidden_layers == {"h0": 8, "h1": 12}
    np.testing.assert_allclose(smaller.predict(x, verbose=0),
                               pruning.replace_by_means(model, keep, x, x), **FLOAT32)


def test_relevance_explains_keras_logits(own):
    model, x, _, _ = own
    import tensorflow as tf

    logits_model = keras.Model(model.inputs, model.get_layer("out").output)
    points = tf.constant(x[:20])
    with tf.GradientTape() as tape:
        tape.watch(points)
        logits = logits_model(points)[:, 2]
    gradient = tape.gradient(logits, points).numpy()
    explanation = relevance.propagate(model, x[:20], "gradient_x_input", output=2)
    np.testing.assert_allclose(explanation.output, logits.numpy(), **FLOAT32)
    np.testing.assert_allclose(explanation.input, gradient * x[:20], **FLOAT32)
    lrp = relevance.propagate(model, x[:20], "lrp_0", output=2)
    np.testing.assert_allclose(lrp.conservation_error, 0, atol=1e-9)


def test_explorable_shows_what_keras_computes(own):
    model, x, y, _ = own
    explorer = widgets.NodeToggleHeatmap(model, x, y, layer="h1", resolution=20,
                                         shown_class=1)
    mask = np.ones(16)
    mask[[0, 3, 9]] = 0
    explorer.mask = [int(v) for v in mask]
    values = explorer.values()
    gx, gy = np.meshgrid(values["xs"], values["ys"])
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    masked = models.with_masks(model, "h1")
    expected = masked([grid, np.repeat(mask[None], len(grid), 0).astype(np.float32)]).numpy()
    np.testing.assert_allclose(values["probability"].ravel(), expected[:, 1], **FLOAT32)
