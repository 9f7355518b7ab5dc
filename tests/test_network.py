"""toyviz.network: one form of a feed-forward network, read from Keras, one forward pass."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toyviz import network
from conftest import keras_chain

keras = pytest.importorskip("keras")

HIDDEN = ["relu", "tanh", "sigmoid", "linear", "elu", "gelu"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(widths=st.lists(st.integers(1, 6), min_size=1, max_size=3),
       data=st.data(),
       n_outputs=st.integers(1, 4),
       as_layers=st.booleans())
def test_forward_matches_keras_on_random_chains_with_masks(widths, data, n_outputs, as_layers):
    activations = data.draw(st.lists(st.sampled_from(HIDDEN), min_size=len(widths),
                                     max_size=len(widths)))
    output = data.draw(st.sampled_from(["softmax", "sigmoid", "linear"]))
    mask_at = data.draw(st.sets(st.integers(0, len(widths) - 1)))
    model = keras_chain((2, *widths, n_outputs), activations, output, as_layers=as_layers,
                        mask_at=sorted(mask_at))
    net = network.read(model)
    assert net.output == output and net.n_outputs == n_outputs
    assert net.masked == tuple(f"h{i}" for i in sorted(mask_at))
    assert net.hidden_layers == {f"h{i}": w for i, w in enumerate(widths)}
    rng = np.random.default_rng(len(widths))
    x = rng.normal(size=(7, 2)).astype(np.float32)
    masks = {f"h{i}": rng.uniform(0, 1, size=(7, widths[i])).astype(np.float32)
             for i in sorted(mask_at)}
    expected = model([x, *masks.values()]).numpy()
    np.testing.assert_allclose(net.predict(x, masks), expected, rtol=2e-5, atol=2e-6)
    # The dense chain round-trips.
    again = network.Network.from_dense(net.dense_chain())
    np.testing.assert_allclose(again.predict(x), net.predict(x), rtol=1e-12, atol=1e-12)


def test_batched_masks_give_one_output_per_mask():
    model = keras_chain((2, 5, 4, 3), ["relu", "tanh"], "softmax")
    net = network.read(model)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 2))
    masks = rng.integers(0, 2, size=(8, 4)).astype(float)
    batched = net.predict(x, {"h1": masks[:, None, :]})
    assert batched.shape == (8, 6, 3)
    for k, mask in enumerate(masks):
        np.testing.assert_allclose(batched[k], net.predict(x, {"h1": mask}), rtol=1e-12)
    assert np.array_equal(net.predict(x, {"h0": np.ones(5)}), net.predict(x))
    values, _ = net.forward(x)
    assert values[net.node_steps["h1"] + 1].shape == (6, 4)
    np.testing.assert_array_equal(values[net.node_steps["h1"] + 1],
                                  np.tanh(values[net.node_steps["h1"]]))


@pytest.mark.parametrize("build, match", [
    (lambda: keras.Sequential([keras.Input((3,)), keras.layers.Dense(4),
                               keras.layers.BatchNormalization(name="norm"),
                               keras.layers.Dense(2)]),
     r"layer 'norm' \(BatchNormalization\) is not supported; supported layers: Dense"),
    (lambda: keras.Sequential([keras.Input((3,)),
                               keras.layers.Dense(4, activation="softmax", name="mid"),
                               keras.layers.Dense(2)]),
     "layer 'mid' uses the activation 'softmax', which is allowed only at the output"),
    (lambda: keras.Sequential([keras.Input((3,)), keras.layers.Dense(4),
                               keras.layers.Dense(2, activation="relu", name="last")]),
     "layer 'last' ends the model with activation 'relu'"),
    (lambda: keras.Sequential([keras.Input((3,)),
                               keras.layers.Dense(4, activation="swish", name="sw"),
                               keras.layers.Dense(2)]),
     "layer 'sw' uses the activation 'silu'|layer 'sw' uses the activation 'swish'"),
])
def test_models_it_cannot_represent_are_refused_by_layer(build, match):
    model = build()
    try:
        net = network.read(model)
    except ValueError as error:
        assert __import__("re").search(match, str(error)), str(error)
        return
    # swish is silu in Keras 3: then it must be exact.
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(net.predict(x), model(x).numpy(), rtol=2e-5, atol=2e-6)


def test_branching_models_are_refused():
    x = keras.Input((2,))
    a = keras.layers.Dense(3, name="a")(x)
    b = keras.layers.Dense(3, name="b")(x)
    out = keras.layers.Dense(2, name="out")(keras.layers.Add(name="add")([a, b]))
    with pytest.raises(ValueError, match="not supported|chain"):
        network.read(keras.Model(x, out))
    skip = keras.layers.Dense(2, name="skip")(x)
    h = keras.layers.Dense(2, name="h")(skip)
    out = keras.layers.Dense(2, name="out2")(keras.layers.Add()([h, skip]))
    with pytest.raises(ValueError):
        network.read(keras.Model(x, out))


def test_masks_are_checked_by_name_and_width():
    net = network.read(keras_chain((2, 3, 2), ["relu"], "softmax"))
    with pytest.raises(ValueError, match="masks names layer 'out', which is not a hidden"):
        net.forward(np.zeros((1, 2)), {"out": np.ones(2)})
    with pytest.raises(ValueError, match=r"masks\['h0'\] must end in an axis of 3"):
        net.forward(np.zeros((1, 2)), {"h0": np.ones(2)})
    with pytest.raises(TypeError, match="masks must be a dict"):
        net.forward(np.zeros((1, 2)), np.ones(3))
    with pytest.raises(TypeError, match="model must be a keras.Model"):
        network.read("model")


def test_layers_shared_with_another_model_are_read_in_this_model():
    dense = keras.layers.Dense(3, activation="tanh", name="shared_h")
    out = keras.layers.Dense(2, name="shared_out")
    first = keras.Input((2,))
    keras.Model(first, out(dense(first)))           # the layers' first calls
    second = keras.Input((2,))
    model = keras.Model(second, out(dense(second)))
    net = network.read(model)
    x = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    np.testing.assert_allclose(net.predict(x), model(x).numpy(), rtol=2e-5, atol=2e-6)


# --------------------------------------------------------------------------------------
# Bad input, finished (issue 21, part 5)
# --------------------------------------------------------------------------------------


def test_an_unbuilt_model_is_refused_saying_how_to_build_it():
    model = keras.Sequential([keras.layers.Dense(3, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    with pytest.raises(ValueError, match=r"model is not built.*model\(x\).*"
                                         r"model\.build\(input_shape\)"):
        network.read(model)
    model.build((None, 2))
    assert network.read(model).input_shape == (2,)


@pytest.mark.parametrize("index, weight", [(0, "kernel"), (1, "bias"), (2, "kernel")])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_and_inf_weights_are_refused_naming_the_layer_and_the_weight(index, weight,
                                                                         value):
    model = keras_chain((2, 3, 2), ["relu"], "softmax")
    weights = model.get_weights()
    weights[index].flat[0] = value
    model.set_weights(weights)
    layer = "h0" if index < 2 else "out"
    with pytest.raises(ValueError, match=rf"model's layer '{layer}' has 1 non-finite value"
                                         rf"\(s\) \(NaN or inf\) in its {weight}"):
        network.read(model)


def _dense_chain(widths, seed=0):
    rng = np.random.default_rng(seed)
    return [network.Dense(f"d{i}", rng.normal(size=(a, b)), rng.normal(size=b))
            for i, (a, b) in enumerate(zip(widths[:-1], widths[1:]))]


@settings(max_examples=30, deadline=None)
@given(widths=st.lists(st.integers(1, 5), min_size=3, max_size=6), data=st.data())
def test_steps_that_do_not_chain_are_refused_naming_the_step(widths, data):
    steps = _dense_chain(widths)
    network.Network(steps, (widths[0],), widths[-1])
    broken = data.draw(st.integers(0, len(steps) - 1))
    steps[broken] = network.Dense(f"d{broken}", np.ones((widths[broken] + 1,
                                                         widths[broken + 1])))
    with pytest.raises(ValueError, match=rf"steps\[{broken}\] does not fit"):
        network.Network(steps, (widths[0],), widths[-1])


@settings(max_examples=30, deadline=None)
@given(widths=st.lists(st.integers(1, 5), min_size=3, max_size=6), data=st.data())
def test_a_name_given_to_two_layers_is_refused(widths, data):
    steps = _dense_chain(widths)
    first, second = sorted(data.draw(st.lists(st.integers(0, len(steps) - 1), min_size=2,
                                              max_size=2, unique=True)))
    steps[second].name = steps[first].name
    with pytest.raises(ValueError, match=rf"steps must name each layer once.*'d{first}'"):
        network.Network(steps, (widths[0],), widths[-1])


def test_a_dense_step_and_its_activation_share_their_layer_name():
    steps = _dense_chain([2, 3, 2])
    steps.insert(1, network.Nonlinearity("d0", "relu", *network.ACTIVATIONS["relu"]))
    net = network.Network(steps, (2,), 2, masked=("d0",))
    assert net.hidden_layers == {"d0": 3}
    with pytest.raises(ValueError, match="masked must name hidden layers"):
        network.Network(steps, (2,), 2, masked=("d1",))
    with pytest.raises(ValueError, match="masked must not repeat"):
        network.Network(steps, (2,), 2, masked=("d0", "d0"))


def test_pooling_and_convolution_must_fit_the_samples():
    conv = network.Conv2D("c", np.ones((3, 3, 1, 2)))
    with pytest.raises(ValueError, match=r"steps\[0\] does not fit input_shape \(2, 2, 1\).*"
                                         "windows of layer 'c' do not fit"):
        network.Network([conv, network.Reshape("f"), network.Dense("o", np.ones((2, 1)))],
                        (2, 2, 1), 1)
    with pytest.raises(ValueError, match="steps must end in the logits, one vector per sample"):
        network.Network([network.Conv2D("c", np.ones((1, 1, 1, 2)))], (2, 2, 1), 2)


@pytest.mark.parametrize("x, error, words", [
    (np.ones((3, 2), complex), TypeError, "x must be real"),
    (np.ones((3, 3)), ValueError, r"x must have shape \(n, 2\)"),
    (np.ones(2), ValueError, r"x must have shape \(n, 2\)"),
    (np.full((3, 2), np.nan), ValueError, "x must contain only finite values"),
    ("abc", TypeError, "x must be an array"),
])
def test_forward_and_predict_check_x(x, error, words):
    net = network.read(keras_chain((2, 3, 2), ["relu"], "softmax"))
    for method in (net.forward, net.predict, net):
        with pytest.raises(error, match=words):
            method(x)


def test_no_points_give_no_outputs():
    net = network.read(keras_chain((2, 3, 2), ["relu"], "softmax"))
    assert net.predict(np.zeros((0, 2))).shape == (0, 2)
    assert net.forward([[0.5, 0.5]])[0][-1].shape == (1, 2)


@pytest.mark.parametrize("step, a, name", [
    (network.Dense("d", np.ones((2, 3))), np.ones((1, 2), complex), "a"),
    (network.Conv2D("c", np.ones((1, 1, 1, 2))), np.ones((1, 2, 2, 1), complex), "a"),
    (network.Maximum("m", (2, 2), (2, 2), "valid"), np.ones((1, 2, 2, 1), complex), "a"),
    (network.Nonlinearity("r", "relu", *network.ACTIVATIONS["relu"]), np.ones(2, complex),
     "z"),
    (network.Reshape("f"), np.ones((1, 2), complex), "a"),
])
def test_steps_refuse_complex_input(step, a, name):
    with pytest.raises(TypeError, match=f"{name} must be real"):
        step.forward(a)


def test_steps_refuse_input_of_the_wrong_shape_naming_the_layer():
    with pytest.raises(ValueError, match=r"a must have \(n, \.\.\.\) ending in 2 for layer "
                                         r"'d' \(Dense\)"):
        network.Dense("d", np.ones((2, 3))).forward(np.ones((4, 3)))
    with pytest.raises(ValueError, match="a must have 4 dimensions ending in 1 for layer 'c'"):
        network.Conv2D("c", np.ones((1, 1, 1, 2))).forward(np.ones((2, 1)))


def test_explaining_and_from_dense_check_what_they_are_given():
    net = network.read(keras_chain((2, 3, 2), ["relu"], "softmax"))
    with pytest.raises(ValueError, match=r"weights must have shape \(2,\) or \(n, 2\)"):
        net.explaining(np.ones(3))
    with pytest.raises(ValueError, match="weights must contain only finite"):
        net.explaining(np.array([np.nan, 1.0]))
    chain = net.dense_chain()
    with pytest.raises(ValueError,
                       match=r"layers\[0\] \('hidden0'\): kernel must contain only"):
        network.Network.from_dense([(chain[0][0] * np.nan, *chain[0][1:]), chain[1]])
    with pytest.raises(ValueError, match="names must name each layer once"):
        network.Network.from_dense(chain, ["a", "a"])
    with pytest.raises(ValueError, match=r"layers do not chain into a network: steps\[2\]"):
        network.Network.from_dense([chain[0], (np.ones((5, 2)), np.zeros(2), "softmax")])
