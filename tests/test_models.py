"""toyviz.models: the masked circle model, training, the unmasked copy, saving."""

import warnings

import keras
import numpy as np
import pytest

import toyviz
from toyviz import _checks, data, models, network
from conftest import random_weights


@pytest.fixture(scope="module")
def trained():
    rng = toyviz.set_seed(3)
    x, y = data.circle(200, rng)
    return models.train_circle_model(x, y, n_nodes=6, epochs=2), x, y


def test_masked_circle_model_layout():
    model = models.masked_circle_model(7)
    assert [t.shape for t in model.inputs] == [(None, 2), (None, 7)]
    assert model.output.shape == (None, 2)
    assert {"hidden", "masked", "output"} <= {layer.name for layer in model.layers}
    (w1, b1, relu), (w2, b2, softmax) = network.read(model).dense_chain()
    assert [w1.shape, b1.shape, w2.shape, b2.shape] == [(2, 7), (7,), (7, 2), (2,)]
    assert (relu, softmax) == ("relu", "softmax")


def test_masked_weights_is_deprecated_for_the_dense_chain():
    model = models.masked_circle_model(7)
    with pytest.warns(DeprecationWarning, match=r"network\.read\(model\)\.dense_chain"):
        weights = models.masked_weights(model)
    assert {k: v.shape for k, v in weights.items()} == {
        "w1": (2, 7), "b1": (7,), "w2": (7, 2), "b2": (2,)}
    assert all(v.dtype == np.float32 for v in weights.values())
    for (kernel, bias, _), (w, b) in zip(network.read(model).dense_chain(),
                                         [("w1", "b1"), ("w2", "b2")]):
        np.testing.assert_array_equal(weights[w], kernel.astype(np.float32))
        np.testing.assert_array_equal(weights[b], bias.astype(np.float32))
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="model"):
        models.masked_weights(None)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError,
                                                         match="^model must be a 2-n-2"):
        models.masked_weights(models.mlp(2, (3, 3)))


def test_mask_multiplies_the_hidden_nodes(trained):
    model, x, _ = trained
    (w1, b1, _), (w2, b2, _) = network.read(model).dense_chain()
    mask = np.array([1, 0, 1, 0, 0.5, 1], dtype=np.float32)
    h = np.maximum(x @ w1 + b1, 0)
    logits = (h * mask) @ w2 + b2
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    got = model([x, np.tile(mask, (len(x), 1))], training=False).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # No node at all: the output is softmax(b2) for every point.
    empty = model([x, np.zeros((len(x), 6), np.float32)], training=False).numpy()
    np.testing.assert_allclose(empty, np.tile(np.exp(b2) / np.exp(b2).sum(), (len(x), 1)),
                               atol=1e-6)


def test_unmasked_equals_the_masked_model_with_every_node_on(trained):
    model, x, _ = trained
    plain = models.unmasked(model)
    assert [layer.name for layer in plain.layers] == ["hidden0", "output"]
    ones = np.ones((len(x), 6), np.float32)
    np.testing.assert_allclose(plain(x, training=False).numpy(),
                               model([x, ones], training=False).numpy(), atol=1e-6)


def test_with_masks_multiplies_each_named_layer_after_its_activation_and_shares_weights():
    import keras

    model = random_weights(keras.Sequential([
        keras.Input(shape=(3,), name="x"),
        keras.layers.Dense(4, name="first"), keras.layers.ReLU(name="first_relu"),
        keras.layers.Dense(5, activation="tanh", name="second"),
        keras.layers.Dense(3, activation="softmax", name="output")]), 0)
    masked = models.with_masks(model, ["second", "first"])
    assert [tuple(t.shape) for t in masked.inputs] == [(None, 3), (None, 5), (None, 4)]
    net = network.read(masked)
    assert net.masked == ("first", "second")      # in the chain's order
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 3)).astype(np.float32)
    first, second = rng.uniform(size=(7, 4)), rng.uniform(size=(7, 5))
    got = masked([x, second.astype(np.float32), first.astype(np.float32)]).numpy()
    expected = network.read(model).predict(x, {"first": first, "second": second})
    np.testing.assert_allclose(got, expected, atol=1e-6)   # after the separate ReLU layer
    ones = [np.ones((7, 5), np.float32), np.ones((7, 4), np.float32)]
    np.testing.assert_allclose(masked([x, *ones]).numpy(), model(x).numpy(), atol=1e-6)
    random_weights(model, 2)                       # the same layers: new weights show
    np.testing.assert_allclose(masked([x, *ones]).numpy(), model(x).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="^layers names 'output'"):
        models.with_masks(model, ["output"])
    with pytest.raises(ValueError, match="^layers must name at least one"):
        models.with_masks(model, [])


def test_masked_circle_model_is_with_masks_of_its_plain_network(trained):
    model, x, _ = trained
    again = models.with_masks(models.unmasked(model), "hidden0")
    mask = np.random.default_rng(0).uniform(size=(len(x), 6)).astype(np.float32)
    np.testing.assert_allclose(again([x, mask]).numpy(), model([x, mask]).numpy(), atol=1e-6)
    # masks the model already has are replaced by the ones named
    remasked = models.with_masks(model, ["hidden"])
    assert network.read(remasked).masked == ("hidden",)
    np.testing.assert_allclose(remasked([x, mask]).numpy(), model([x, mask]).numpy(),
                               atol=1e-6)


def test_unmasked_keeps_every_layer_and_activation():
    import keras

    model = random_weights(models.with_masks(keras.Sequential([
        keras.Input(shape=(2,)), keras.layers.Dense(3, activation="tanh", name="a"),
        keras.layers.Dense(4, activation="sigmoid", name="b"),
        keras.layers.Dense(1, activation="sigmoid", name="c")]), ["b"]), 3)
    plain = models.unmasked(model)
    assert [layer.name for layer in plain.layers] == ["hidden0", "hidden1", "output"]
    x = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    np.testing.assert_allclose(plain(x).numpy(), model([x, np.ones((5, 4), np.float32)]).numpy(),
                               atol=1e-6)


def test_training_learns_something(trained):
    model, x, y = trained
    ones = np.ones((len(x), 6), np.float32)
    predicted = model([x, ones], training=False).numpy().argmax(axis=1)
    assert np.mean(predicted == y) > 0.6


def test_save_and_load_round_trip(trained, tmp_path):
    model, x, _ = trained
    path = models.save_model(model, tmp_path / "circle.keras")
    assert path.endswith(".keras")
    loaded = models.load_model(path)
    ones = np.ones((len(x), 6), np.float32)
    np.testing.assert_array_equal(loaded([x, ones], training=False).numpy(),
                                  model([x, ones], training=False).numpy())
    for (kernel, bias, _), (kernel2, bias2, _) in zip(network.read(loaded).dense_chain(),
                                                      network.read(model).dense_chain()):
        np.testing.assert_array_equal(kernel, kernel2)
        np.testing.assert_array_equal(bias, bias2)


def test_mlp_layout():
    model = models.mlp(3, (4, 5), 2, "softmax")
    assert [layer.name for layer in model.layers] == ["hidden0", "hidden1", "output"]
    assert model.output_shape == (None, 2)
    assert model.get_layer("hidden1").get_weights()[0].shape == (4, 5)


def test_compile_classifier_uses_adam_and_cross_entropy():
    model = models.compile_classifier(models.masked_circle_model(3), learning_rate=0.02)
    assert model.optimizer.__class__.__name__ == "Adam"
    assert float(model.optimizer.learning_rate) == pytest.approx(0.02)
    assert model.loss.__class__.__name__ == "SparseCategoricalCrossentropy"


def test_check_labels_is_deprecated_and_calls_the_one_checker():
    with pytest.warns(DeprecationWarning, match="checks them itself"):
        np.testing.assert_array_equal(models.check_labels("y", [0, 1, 1], 3, 2), [0, 1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ValueError, match="y"):
            models.check_labels("y", [0, 2], 2, 2)
        with pytest.raises(TypeError, match="y"):
            models.check_labels("y", [0.0, 1.0], 2, 2)
        with pytest.raises(ValueError, match="y"):
            models.check_labels("y", [0, 1], 3, 2)


def test_the_one_label_checker_takes_labels_per_network():
    """``_checks.check_labels`` with ``k``: a stack's labels, (n,) shared or (k, n)."""
    shared = _checks.check_labels("y", [0, 1, 1], 3, 2, integer_dtype=True, k=2)
    assert shared.shape == (2, 3) and shared.dtype == np.int64
    np.testing.assert_array_equal(shared, [[0, 1, 1], [0, 1, 1]])
    # a (k, n) stack of labels that looks one-hot is still labels
    each = _checks.check_labels("y", [[0, 1], [1, 0]], 2, 2, integer_dtype=True, k=2)
    np.testing.assert_array_equal(each, [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match=r"y must have shape \(3,\) or \(2, 3\)"):
        _checks.check_labels("y", [0, 1], 3, 2, integer_dtype=True, k=2)
    with pytest.raises(TypeError, match="y must hold integer class labels"):
        _checks.check_labels("y", [0.0, 1.0, 1.0], 3, 2, integer_dtype=True, k=2)
    with pytest.raises(TypeError, match="y must hold integer class labels"):
        _checks.check_labels("y", [True, False, True], 3, 2, integer_dtype=True, k=2)
    with pytest.raises(ValueError, match=r"y must be class labels in 0 \.\. 1"):
        _checks.check_labels("y", [[0, 1, 2]] * 2, 3, 2, integer_dtype=True, k=2)
    with pytest.raises(ValueError, match="y looks one-hot"):
        _checks.check_labels("y", np.eye(3, dtype=int)[[0, 1, 1, 2]], 4, 3, k=2)


@pytest.mark.parametrize("call, error, name", [
    (lambda: models.masked_circle_model(0), ValueError, "n_nodes"),
    (lambda: models.masked_circle_model(2.5), TypeError, "n_nodes"),
    (lambda: models.compile_classifier("model"), TypeError, "model"),
    (lambda: models.compile_classifier(models.masked_circle_model(2), 0.0), ValueError,
     "learning_rate"),
    (lambda: models.train_circle_model(np.zeros((3, 3)), [0, 1, 0]), ValueError, "x"),
    (lambda: models.train_circle_model(np.zeros((3, 2)), [0, 1]), ValueError, "y"),
    (lambda: models.train_circle_model(np.zeros((3, 2)), [0, 1, 0], epochs=0), ValueError,
     "epochs"),
    (lambda: models.mlp(2, "50"), TypeError, "widths"),
    (lambda: models.mlp(2, (3, 0)), ValueError, "widths"),
    (lambda: models.mlp(2, (3,), 2, "gelu"), ValueError, "output_activation"),
    (lambda: models.unmasked(models.mlp(2, (3,))), ValueError, "model"),
    (lambda: models.with_masks(models.mlp(2, (3,)), 3), TypeError, "^layers must be"),
    (lambda: models.save_model(models.masked_circle_model(2), "/tmp/x.h5"), ValueError,
     "path"),
    (lambda: models.save_model("model", "/tmp/x.keras"), TypeError, "model"),
    (lambda: models.load_model("/nonexistent/toyviz-model.keras"), ValueError, "path"),
    (lambda: models.load_model(3), TypeError, "path"),
])
def test_bad_input_names_the_parameter(call, error, name):
    with pytest.raises(error, match=name):
        call()


# --- bad input, finished (issue 21, part 5) ---------------------------------------------------


def test_training_the_circle_model_refuses_overflowing_and_one_hot_data():
    x, y = data.circle(8, np.random.default_rng(3))
    with pytest.raises(ValueError, match=r"x must stay within ±1\.84e\+19 for training"):
        models.train_circle_model(x * np.float32(1e30), y, n_nodes=2, epochs=1)
    with pytest.raises(ValueError, match=r"y looks one-hot encoded \(shape \(8, 2\)\)"):
        models.train_circle_model(x, np.eye(2)[y], n_nodes=2, epochs=1)


def test_a_diverging_keras_run_raises(monkeypatch):
    x, y = data.circle(8, np.random.default_rng(3))
    fit = keras.Model.fit

    def diverging_fit(self, *args, **kwargs):
        history = fit(self, *args, **kwargs)
        history.history["loss"][-1] = float("nan")
        return history

    monkeypatch.setattr("keras.Model.fit", diverging_fit)
    with pytest.raises(ValueError, match="training diverged: by the end of epoch 1 .* lower "
                                         "learning_rate"):
        models.train_circle_model(x, y, n_nodes=2, epochs=1)


def test_with_masks_refuses_a_set_of_layers():
    model = models.mlp(widths=(3, 3))
    with pytest.raises(TypeError, match="layers must be a list or tuple .* order matters"):
        models.with_masks(model, {"hidden0", "hidden1"})
