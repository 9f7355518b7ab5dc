"""The explorables' Python side: the network form the browser is compared with, the
widget state (weights, mask and data, kept apart from drawing), argument checks and
refusals, and the front-end module's numbers run under Node (the real-browser checks are
in test_browser.py)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from toyviz import widgets
from toyviz.data import CIRCLE_RADIUS_SQUARED
from toyviz.network import ACTIVATIONS, OTHER_ACTIVATIONS, Network
from toyviz.network.activations import REGISTRY
from toyviz.network.steps import activation_step
from conftest import keras_chain, random_network

ROOT = Path(__file__).resolve().parent.parent


def labelled_points(rng, n=60, classes=2):
    return rng.uniform(-1.5, 1.5, size=(n, 2)), rng.integers(0, classes, size=n)


def test_values_match_the_keras_masked_circle_model():
    """Chapter 1's model: the grid and the points under several masks, against Keras with
    the mask input; the mean loss is Keras's mean cross-entropy on the points."""
    import keras

    from toyviz.models import masked_circle_model

    keras.utils.set_random_seed(3)
    model = masked_circle_model(20)
    rng = np.random.default_rng(3)
    x, y = labelled_points(rng, 200)
    widget = widgets.NodeToggleHeatmap(model, x, y, resolution=21,
                                       circle_radius_squared=CIRCLE_RADIUS_SQUARED)
    assert widget.layer == "hidden" and widget.n_nodes == 20 and widget.shown_class == 1
    xs, ys = widgets.grid_axes(widget.extent, 21)
    grid = np.stack([np.tile(xs, 21), np.repeat(ys, 21)], axis=1).astype(np.float32)
    points = x.astype(np.float32)
    masks = np.vstack([np.ones(20), np.zeros(20), rng.integers(0, 2, size=(3, 20))])
    for mask in masks.astype(np.float32):
        values = widget.values(mask)
        expected = model.predict([grid, np.tile(mask, (len(grid), 1))], verbose=0)
        np.testing.assert_allclose(values["probability"].ravel(), expected[:, 1], atol=1e-5)
        expected = model.predict([points, np.tile(mask, (len(points), 1))], verbose=0)
        np.testing.assert_allclose(values["point_probabilities"], expected, atol=1e-5)
        keras_loss = keras.losses.SparseCategoricalCrossentropy()(y, expected)
        assert values["mean_loss"] == pytest.approx(float(keras_loss), abs=1e-5)


def test_values_match_keras_on_a_deep_three_class_network():
    """A 2-8-8-3 tanh/ReLU network without a mask layer: switching a node off equals
    zeroing its outgoing weights in Keras."""
    import keras

    model = keras_chain((2, 8, 8, 3), ("tanh", "relu"), "softmax", seed=4, hidden="dense")
    rng = np.random.default_rng(4)
    x, y = labelled_points(rng, 100, classes=3)
    with pytest.raises(ValueError, match=r"layer must name .*'dense0': 8, 'dense1': 8"):
        widgets.NodeToggleHeatmap(model, x, y)
    for layer, following in (("dense0", "dense1"), ("dense1", "out")):
        widget = widgets.NodeToggleHeatmap(model, x, y, layer=layer, resolution=9,
                                           shown_class=0)
        assert widget.class_names == ["class 0", "class 1", "class 2"]
        assert widget.circle_radius_squared is None
        mask = rng.integers(0, 2, size=8)
        pruned = keras.models.clone_model(model)
        pruned.set_weights(model.get_weights())
        kernel, bias = pruned.get_layer(following).get_weights()
        pruned.get_layer(following).set_weights([kernel * mask[:, None], bias])
        expected = pruned.predict(x.astype(np.float32), verbose=0)
        values = widget.values(mask)
        np.testing.assert_allclose(values["point_probabilities"], expected, atol=1e-5)
        loss = keras.losses.SparseCategoricalCrossentropy()(y, expected)
        assert values["mean_loss"] == pytest.approx(float(loss), abs=1e-5)
        for shown in range(3):
            xs, ys = widgets.grid_axes(widget.extent, 9)
            grid = np.stack([np.tile(xs, 9), np.repeat(ys, 9)], axis=1)
            np.testing.assert_allclose(
                widget.values(mask, shown)["probability"].ravel(),
                pruned.predict(grid.astype(np.float32), verbose=0)[:, shown], atol=1e-5)


def test_a_moons_network_with_one_sigmoid_unit_scores_its_own_labels():
    """Two moons, a sigmoid output: the loss is Keras's binary cross-entropy on the moons'
    labels, and no circle is drawn unless asked for."""
    import keras
    from sklearn.datasets import make_moons

    model = keras_chain((2, 6, 1), ("elu",), "sigmoid", seed=5)
    x, y = make_moons(150, noise=0.1, random_state=5)
    widget = widgets.NodeToggleHeatmap(model, x, y, extent=(-1.5, 2.5, -1.5, 2.0),
                                       class_names=["lower moon", "upper moon"])
    assert widget.circle_radius_squared is None and widget.output == "sigmoid"
    probability = model.predict(x.astype(np.float32), verbose=0)
    values = widget.values()
    np.testing.assert_allclose(values["point_probabilities"][:, 1], probability[:, 0],
                               atol=1e-5)
    loss = keras.losses.BinaryCrossentropy()(y[:, None], probability)
    assert values["mean_loss"] == pytest.approx(float(loss), abs=1e-5)
    assert "P(upper moon)" in repr(widget)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), widths=st.lists(st.integers(1, 6), min_size=1,
                                                       max_size=3),
       activations=st.lists(st.sampled_from(["relu", "tanh", "sigmoid", "elu", "linear",
                                             "leaky_relu", "softsign", "selu"]),
                            min_size=1, max_size=3),
       classes=st.sampled_from([1, 2, 3, 4]), data=st.data())
def test_a_node_off_is_the_node_deleted(seed, widths, activations, classes, data):
    """Any Dense chain, any toggled layer: the explorable's values under a mask equal the
    network with the switched-off nodes' outgoing weights set to zero, and all nodes on
    equal the network itself."""
    rng = np.random.default_rng(seed)
    output = "sigmoid" if classes == 1 else "softmax"
    network = random_network(rng, (2, *widths, classes), activations, output)
    x, y = labelled_points(rng, 25, max(classes, 2))
    toggled = data.draw(st.integers(0, len(widths) - 1))
    layer = f"hidden{toggled}"
    widget = widgets.NodeToggleHeatmap(network, x, y, layer=layer, resolution=5)
    mask = rng.integers(0, 2, size=widths[toggled])
    chain = [(kernel.astype(np.float32), bias.astype(np.float32), name)
             for kernel, bias, name in network.dense_chain()]
    deleted = list(chain)
    kernel, bias, name = deleted[toggled + 1]
    deleted[toggled + 1] = (kernel * mask[:, None], bias, name)
    for reference, mask_used in ((Network.from_dense(deleted), mask),
                                 (Network.from_dense(chain), np.ones_like(mask))):
        values = widget.values(mask_used, shown_class=max(classes, 2) - 1)
        expected = widgets.class_probabilities(reference, x.astype(np.float32))
        np.testing.assert_allclose(values["point_probabilities"], expected, rtol=0,
                                   atol=1e-12)
        np.testing.assert_allclose(values["loss"], widgets.point_loss(expected, y), atol=1e-9)


def test_widget_state_is_the_network_and_the_data_not_the_drawing():
    rng = np.random.default_rng(6)
    network = random_network(rng, (2, 8, 8, 3), ("tanh", "relu"))
    x, y = labelled_points(rng, 40, classes=3)
    widget = widgets.NodeToggleHeatmap(network, x, y, layer="hidden1", resolution=50)
    state = widget.get_state()
    assert [layer["name"] for layer in state["layers"]] == ["hidden0", "hidden1", "output"]
    assert [layer["activation"] for layer in state["layers"]] == ["tanh", "relu", "linear"]
    assert state["output"] == "softmax" and state["layer"] == "hidden1"
    for layer, (kernel, bias, _) in zip(state["layers"], network.dense_chain()):
        np.testing.assert_array_equal(np.asarray(layer["kernel"], np.float32),
                                      kernel.astype(np.float32))
        np.testing.assert_array_equal(np.asarray(layer["bias"], np.float32),
                                      bias.astype(np.float32))
    np.testing.assert_array_equal(np.asarray(state["points"], np.float32),
                                  x.astype(np.float32))
    assert state["labels"] == y.tolist() and state["mask"] == [1] * 8
    assert state["kind"] == "node-toggle-heatmap" and state["shown_class"] == 2
    assert state["resolution"] == 50 and state["extent"] == [-2.0, 2.0, -2.0, 2.0]
    assert state["_esm"] == widgets.FRONT_END.read_text()
    assert widget.n_nodes == 8
    text = json.dumps({key: value for key, value in state.items() if key != "_esm"})
    # about 12 characters per float32 number, and fixed text: 1000 characters, and 80 per
    # layer for its name and activation (as named, and parsed for the front end)
    assert len(text) < 12 * (network.dense_chain()[0][0].size + 8 + 64 + 8 + 24 + 3
                             + 3 * len(x)) + 1000 + 80 * len(state["layers"]), \
        "state is not float32-sized"
    np.testing.assert_array_equal(widget.network().predict(x),
                                  widgets.state_network(state).predict(x))


def test_float32_lists_read_back_exactly():
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.normal(size=2000) * 10.0 ** rng.integers(-30, 30, 2000),
                             [0.0, -0.0, 1e-45, 3.4e38, 0.1, 1 / 3]]).astype(np.float32)
    listed = widgets._float32_list(values)
    np.testing.assert_array_equal(np.asarray(listed, dtype=np.float32), values)
    assert len(json.dumps(listed)) < 0.75 * len(json.dumps(values.astype(np.float64).tolist()))


def test_mask_and_class_changes_from_the_front_end_reach_python():
    rng = np.random.default_rng(8)
    network = random_network(rng)
    x, y = labelled_points(rng)
    widget = widgets.NodeToggleHeatmap(network, x, y, resolution=20)
    seen = []
    widget.observe(lambda change: seen.append(change["new"]), names="mask")
    mask = [1] * 20
    mask[3] = 0
    widget.set_state({"mask": mask, "shown_class": 0})  # what JupyterLab's messages do
    assert widget.mask == mask and seen == [mask] and widget.shown_class == 0
    expected = network.predict(x, masks={"hidden0": np.array(mask)})
    np.testing.assert_allclose(widget.values()["point_probabilities"], expected, atol=1e-6)
    with pytest.raises(ValueError, match="shown_class"):
        widget.shown_class = 2


def test_point_loss_matches_keras():
    import keras

    rng = np.random.default_rng(9)
    probabilities = rng.dirichlet([1, 1, 1], size=200)
    probabilities[:3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.2, 0.3, 0.5]]
    labels = rng.integers(0, 3, size=200)
    expected = keras.losses.SparseCategoricalCrossentropy(reduction=None)(
        labels, probabilities.astype(np.float32))
    np.testing.assert_allclose(widgets.point_loss(probabilities, labels),
                               np.asarray(expected), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="labels"):
        widgets.point_loss(np.full((2, 2), 0.5), np.array([0, 2]))
    with pytest.raises(ValueError, match="probabilities must be rows .* summing to 1"):
        widgets.point_loss(np.full((2, 3), 0.5), np.array([0, 1]))
    with pytest.raises(ValueError, match="probabilities must not be empty"):
        widgets.point_loss(np.zeros((0, 2)), np.array([0, 1]))


def refusal_models():
    """(model, message) pairs the explorable must refuse."""
    import keras

    conv_input = keras.Input((6, 6, 1))
    conv = keras.layers.Flatten()(keras.layers.Conv2D(2, 3, activation="relu")(conv_input))
    conv_model = keras.Model(conv_input, keras.layers.Dense(2, activation="softmax")(conv))
    wide_input = keras.Input((3,))
    three_inputs = keras.Model(wide_input, keras.layers.Dense(2, activation="softmax")(
        keras.layers.Dense(4, activation="relu")(wide_input)))
    flat_input = keras.Input((2,))
    no_hidden = keras.Model(flat_input, keras.layers.Dense(3, activation="softmax")(flat_input))
    return [
        (conv_model, r"model must take 2 inputs .* got input shape \(6, 6, 1\)"),
        (three_inputs, r"model must take 2 inputs .* got input shape \(3,\)"),
        (no_hidden, r"model has no hidden layer"),
        (keras_chain((2, 4, 2), ("gelu",), "softmax", 1, hidden="dense"),
         r"model's layer 'dense0' uses the activation 'gelu', which the browser does not"),
        (keras_chain((2, 4, 1), ("relu",), None, 1), r"model must end in a softmax or sigmoid"),
        (keras_chain((2, 4, 3), ("relu",), "sigmoid", 1), r"single sigmoid output unit"),
        (keras_chain((2, 400, 60, 2), ("relu",), "softmax", 1), r"at most 20,000"),
    ]


def test_networks_it_cannot_draw_are_refused_by_name():
    x, y = labelled_points(np.random.default_rng(10))
    for model, message in refusal_models():
        with pytest.raises(ValueError, match=message):
            widgets.NodeToggleHeatmap(model, x, y)
    with pytest.raises(TypeError, match="model must be a keras.Model or a toyviz"):
        widgets.NodeToggleHeatmap("model.keras", x, y)
    with pytest.raises(TypeError, match="model must be a keras.Model or a toyviz"):
        widgets.NodeToggleHeatmap({"w1": np.zeros((2, 3))}, x, y)


def test_bad_arguments_name_the_parameter():
    rng = np.random.default_rng(11)
    network = random_network(rng, (2, 5, 4, 3), ("relu",))
    x, y = labelled_points(rng, 30, classes=3)

    def make(**changes):
        arguments = dict(model=network, x=x, y=y, layer="hidden0", resolution=10)
        arguments.update(changes)
        return widgets.NodeToggleHeatmap(**arguments)

    cases = [
        (ValueError, r"layer must be one of the hidden layers \['hidden0', 'hidden1'\], "
                     "got 'output'", dict(layer="output")),
        (TypeError, "layer must be a str", dict(layer=0)),
        (ValueError, r"x must have shape \(any, 2\)", dict(x=np.zeros((30, 3)))),
        (ValueError, "x must contain only finite", dict(x=np.full((30, 2), np.nan))),
        (ValueError, r"x must hold at most 5000 points",
         dict(x=np.zeros((5001, 2)), y=np.zeros(5001, int))),
        (ValueError, r"y must have shape \(30\)", dict(y=y[:5])),
        (ValueError, r"y must be class labels in 0 \.\. 2", dict(y=np.full(30, 3))),
        (ValueError, "y must hold whole numbers", dict(y=y + 0.5)),
        (ValueError, "x must not be empty", dict(x=np.zeros((0, 2)), y=[])),
        (TypeError, "class_names must be a list or tuple", dict(class_names=3)),
        (ValueError, "class_names must be 3 non-empty str", dict(class_names=["a", "b"])),
        (ValueError, "shown_class must be <= 2", dict(shown_class=3)),
        (ValueError, "mask", dict(mask=[1] * 4)),
        (ValueError, "mask must hold only 0 and 1", dict(mask=[2] * 5)),
        (ValueError, "resolution", dict(resolution=1)),
        (TypeError, "resolution", dict(resolution=20.0)),
        (ValueError, "extent", dict(extent=(2, -2, -2, 2))),
        (ValueError, "extent", dict(extent=(1, 2))),
        (ValueError, "loss_max", dict(loss_max=0)),
        (ValueError, "circle_radius_squared", dict(circle_radius_squared=-1.0)),
        (TypeError, "show_points must be True or False", dict(show_points="yes")),
    ]
    for error, message, changes in cases:
        with pytest.raises(error, match=message):
            make(**changes)
    widget = make()
    with pytest.raises(ValueError, match="mask must hold only 0 and 1"):
        widget.mask = [2] * 5


@pytest.mark.parametrize("name", ["viridis", "vlag"])
def test_front_end_colour_maps_are_the_books(name):
    import matplotlib
    import seaborn  # noqa: F401 (importing it registers vlag with matplotlib)

    from toyviz import plots

    assert name in (plots.SEQUENTIAL, plots.DIVERGING)

    text = widgets.FRONT_END.read_text()
    hex_string = re.search(rf'const {name.upper()}_HEX =\s*"([0-9a-f]+)"', text).group(1)
    lut = np.frombuffer(bytes.fromhex(hex_string), dtype=np.uint8).reshape(256, 3)
    expected = matplotlib.colormaps[name].resampled(256)(np.arange(256))[:, :3]
    np.testing.assert_array_equal(lut, np.round(expected * 255).astype(np.uint8))


def run_node(tmp_path, body):
    """Run ``body`` (JavaScript, with the front end imported as ``m``) under Node and
    return what it prints as JSON."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed; test_browser.py checks the same in Chromium")
    script = tmp_path / "run.mjs"
    script.write_text(f"import * as m from {json.dumps(widgets.FRONT_END.as_uri())};\n{body}")
    result = subprocess.run([node, str(script)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def browser_values(tmp_path, state, masks, shown_classes):
    """What the front end computes for each mask and shown class, under Node."""
    return run_node(tmp_path, f"""
const state = {json.dumps({key: value for key, value in state.items() if key != "_esm"})};
const toggled = state.layers.findIndex((layer) => layer.name === state.layer);
const network = m.denseNetwork(state.layers, state.output, toggled);
const [x0, x1, y0, y1] = state.extent;
const xs = m.linspace(x0, x1, state.resolution), ys = m.linspace(y0, y1, state.resolution);
const grid = m.networkGrid(network, xs, ys);
const probability = new Float64Array(grid.points);
const pointProbabilities = new Float64Array(state.points.length * network.classes);
const loss = new Float64Array(state.points.length);
const shown = {json.dumps(shown_classes)};
const results = {json.dumps(masks)}.map((mask, k) => {{
  m.updateLogits(grid, mask);
  m.gridProbability(grid, shown[k], probability);
  const meanLoss = m.pointLosses(network, state.points, state.labels, mask,
                                 pointProbabilities, loss);
  return {{probability: Array.from(probability), loss: Array.from(loss), meanLoss,
           pointProbabilities: Array.from(pointProbabilities)}};
}});
console.log(JSON.stringify(results));
""")


def assert_browser_matches_python(browser, state, mask, shown):
    python = widgets.node_toggle_values(state, mask, shown)
    tolerance = widgets.BROWSER_TOLERANCE
    np.testing.assert_allclose(browser["probability"], python["probability"].ravel(),
                               rtol=0, atol=tolerance)
    np.testing.assert_allclose(browser["pointProbabilities"],
                               python["point_probabilities"].ravel(), rtol=0, atol=tolerance)
    np.testing.assert_allclose(browser["loss"], python["loss"], rtol=0, atol=tolerance)
    assert browser["meanLoss"] == pytest.approx(python["mean_loss"], abs=tolerance)


def mask_walk(rng, n, steps):
    """Masks changing one node at a time (the incremental path), six every tenth step."""
    masks = [rng.integers(0, 2, size=n).tolist()]
    for step in range(steps):
        mask = list(masks[-1])
        for node_index in rng.choice(n, size=1 if step % 10 else min(6, n), replace=False):
            mask[node_index] = 1 - mask[node_index]
        masks.append(mask)
    return masks


@pytest.mark.parametrize("sizes, activations, output, layer", [
    ((2, 20, 2), ("relu",), "softmax", "hidden0"),            # chapter 1's shape
    ((2, 8, 8, 3), ("tanh", "relu"), "softmax", "hidden0"),   # layers after the toggles
    ((2, 8, 8, 3), ("tanh", "relu"), "softmax", "hidden1"),
    ((2, 6, 5, 1), ("elu", "sigmoid"), "sigmoid", "hidden1"),
])
def test_front_end_numbers_match_python_under_node(tmp_path, sizes, activations, output,
                                                   layer):
    """The module's forward pass, run by Node over a sequence of masks, against
    toyviz.network's, within widgets.BROWSER_TOLERANCE."""
    rng = np.random.default_rng(12)
    network = random_network(rng, sizes, activations, output, scale=2.0)
    classes = max(sizes[-1], 2)
    x, y = labelled_points(rng, 50, classes)
    widget = widgets.NodeToggleHeatmap(network, x, y, layer=layer, resolution=41,
                                       extent=(-2.0, 2.0, -1.5, 2.5))
    state = widget.get_state()
    masks = mask_walk(rng, network.hidden_layers[layer], 120)
    shown = [k % classes for k in range(len(masks))]
    for mask, show, browser in zip(masks, shown, browser_values(tmp_path, state, masks, shown),
                                   strict=True):
        assert_browser_matches_python(browser, state, mask, show)


def test_every_activation_the_form_reads_is_computed_or_refused(tmp_path):
    """Each hidden activation toyviz.network reads: the front end's function, given the
    activation parsed in Python, equals numpy's within BROWSER_TOLERANCE, or the
    explorable refuses it by name."""
    names = [*ACTIVATIONS, *OTHER_ACTIVATIONS, "linear", "leaky_relu(0.05)", "elu(0.5)",
             "relu(negative_slope=0.1, max_value=6.0)", "relu(negative_slope=0.0, max_value=None)"]
    z = np.concatenate([np.linspace(-8, 8, 401), [-40.0, -1e-9, 0.0, 1e-9, 5.999, 6.0, 40.0]])
    parsed = {name: widgets.browser_activation(name) for name in names}
    assert {name for name, form in parsed.items() if form is None} == {"gelu"}
    supported = {name: form for name, form in parsed.items() if form is not None}
    got = run_node(tmp_path, f"""
const z = {json.dumps(z.tolist())};
const forms = {json.dumps(supported)};
console.log(JSON.stringify(Object.fromEntries(Object.entries(forms).map(
  ([name, form]) => [name, z.map(m.activation(form.function, form.parameters))]))));
""")
    for name in supported:
        steps = activation_step("layer", name)
        expected = steps[0].f(z) if steps else z   # linear: no step
        np.testing.assert_allclose(got[name], expected, rtol=0,
                                   atol=widgets.BROWSER_TOLERANCE, err_msg=name)
    slope, alpha = 0.05, 0.5
    np.testing.assert_allclose(got["leaky_relu(0.05)"], np.where(z > 0, z, slope * z), atol=0)
    np.testing.assert_allclose(got["elu(0.5)"], np.where(z > 0, z, alpha * np.expm1(
        np.minimum(z, 0))), rtol=0, atol=widgets.BROWSER_TOLERANCE)
    np.testing.assert_allclose(got["relu(negative_slope=0.1, max_value=6.0)"],
                               np.where(z > 0, np.minimum(z, 6.0), 0.1 * z), atol=0)
    np.testing.assert_allclose(got["relu(negative_slope=0.0, max_value=None)"],
                               np.maximum(z, 0), atol=0)


def test_the_front_end_computes_the_registrys_browser_activations(tmp_path):
    """The names the front end computes are the registry's entries marked ``browser``
    (with their parametric forms' arity), and BROWSER_ACTIVATIONS is drawn from them."""
    computed = run_node(tmp_path, "console.log(JSON.stringify(m.COMPUTED_ACTIVATIONS));")
    browser = [entry for entry in REGISTRY if entry.browser and entry.hidden]
    assert sorted(computed["fixed"]) == sorted(entry.name for entry in browser)
    assert computed["parametric"] == {entry.name: entry.family.__code__.co_argcount
                                      for entry in browser if entry.family}
    assert set(widgets.BROWSER_ACTIVATIONS) == {
        *(entry.name for entry in browser), *(entry.form for entry in browser if entry.form)}


def test_the_front_end_reads_activations_parsed_never_their_names(tmp_path):
    """The widget state carries each layer's activation parsed (function and parameters),
    and the front end has no pattern of its own to read names with."""
    rng = np.random.default_rng(14)
    network = Network.from_dense([
        (rng.normal(size=(2, 3)), rng.normal(size=3), "leaky_relu(0.1)"),
        (rng.normal(size=(3, 3)), rng.normal(size=3), "relu(negative_slope=0.1, max_value=None)"),
        (rng.normal(size=(3, 2)), rng.normal(size=2), "softmax")])
    x, y = labelled_points(rng, 10, classes=2)
    state = widgets.NodeToggleHeatmap(network, x, y, layer="hidden0", resolution=5).get_state()
    assert [(layer["function"], layer["parameters"]) for layer in state["layers"]] == [
        ("leaky_relu", [0.1]), ("relu", [0.1, None]), ("linear", [])]
    text = widgets.FRONT_END.read_text()
    assert "RegExp" not in text and "leaky_relu\\(" not in text


def test_keras_parametric_activations_are_read_and_computed_alike(tmp_path):
    """LeakyReLU, ELU and a capped ReLU as Keras layers: their toyviz.network names reach
    the front end, which computes them as numpy does."""
    import keras

    keras.utils.set_random_seed(13)
    inputs = keras.Input((2,))
    a = keras.layers.LeakyReLU(negative_slope=0.1)(keras.layers.Dense(5, name="d0")(inputs))
    a = keras.layers.ELU(alpha=0.5)(keras.layers.Dense(5, name="d1")(a))
    a = keras.layers.ReLU(max_value=1.5, negative_slope=0.05)(keras.layers.Dense(4, name="d2")(a))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(a))
    rng = np.random.default_rng(13)
    x, y = labelled_points(rng, 40, classes=3)
    widget = widgets.NodeToggleHeatmap(model, x, y, layer="d1", resolution=15)
    state = widget.get_state()
    assert [layer["activation"] for layer in state["layers"][:3]] == [
        "leaky_relu(0.1)", "elu(0.5)", "relu(negative_slope=0.05, max_value=1.5)"]
    np.testing.assert_allclose(widget.values()["point_probabilities"],
                               model.predict(x.astype(np.float32), verbose=0), atol=1e-5)
    masks = mask_walk(rng, 5, 12)
    for mask, browser in zip(masks, browser_values(tmp_path, state, masks, [1] * len(masks)),
                             strict=True):
        assert_browser_matches_python(browser, state, mask, 1)


def test_book_loads_widget_scripts_from_its_own_site():
    """The static site draws its explorables with scripts it serves itself (the Makefile's
    widgets-static copies each), never from a CDN."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    scripts = config["nb_ipywidgets_js"]
    assert scripts, "no widget script"
    for path, attributes in scripts.items():
        assert "://" not in path and not path.startswith("//")
        assert all("://" not in str(value) for value in (attributes or {}).values())
    assert "_build/widgets-static" in config["html_static_path"]
    makefile = (ROOT / "Makefile").read_text()
    for path in scripts:
        name = path.removeprefix("toyviz-widgets/")
        assert f"$(WIDGETS_STATIC)/{name}" in makefile, f"the Makefile does not copy {name}"


def test_repr_is_short_and_draw_gives_the_static_picture():
    import matplotlib

    matplotlib.use("Agg")
    rng = np.random.default_rng(14)
    x, y = labelled_points(rng, 40)
    widget = widgets.NodeToggleHeatmap(random_network(rng), x, y, resolution=30,
                                       mask=[1, 0] * 10, class_names=["out", "in"],
                                       circle_radius_squared=CIRCLE_RADIUS_SQUARED)
    assert repr(widget) == ("NodeToggleHeatmap(layer 'hidden0': 20 nodes, 10 on; 40 labelled "
                            "points, 2 classes; P(in) on a 30 x 30 grid over [-2, 2] x "
                            "[-2, 2])")
    figure = widget.draw()
    values = widget.values()
    images = [ax.images[0] for ax in figure.axes if ax.images]
    assert len(images) == 1
    np.testing.assert_allclose(images[0].get_array(), values["probability"])
    assert images[0].get_cmap().name == "viridis"
    heat, loss_axes = figure.axes[:2]
    assert heat.get_title() == "P(in)" and loss_axes.get_title() == "Loss per point"
    scatter = loss_axes.collections[0]
    np.testing.assert_allclose(scatter.get_array(), values["loss"])
    assert scatter.get_cmap().name == "viridis" and scatter.get_clim() == (0, widget.loss_max)
    np.testing.assert_allclose(scatter.get_offsets(), x.astype(np.float32))
    assert all(len(ax.lines) == 1 for ax in (heat, loss_axes))  # the circle, when asked for
    assert widget.show_points and len(heat.collections) == 2  # the two classes' points
    widget.circle_radius_squared = None
    widget.show_points = False
    figure = widget.draw()
    assert not figure.axes[1].lines and not figure.axes[0].collections
    crowded = np.random.default_rng(15).uniform(-1, 1, size=(widgets.CROWDED + 1, 2))
    assert not widgets.NodeToggleHeatmap(random_network(rng), crowded,
                                         (crowded[:, 0] > 0).astype(int)).show_points


def grid_explorer(**changes):
    xs = np.linspace(-2, 2, 12)
    gx, gy = np.meshgrid(xs, xs)
    values = np.stack([[[gx * (a + 1) - gy * b, np.tanh(gy + a - b)] for b in range(4)]
                       for a in range(3)])
    arguments = dict(
        values=values,
        controls=[{"name": "rule", "label": "Rule", "options": ["a", "b", "c"]},
                  {"name": "fraction", "label": "Fraction", "kind": "slider",
                   "options": ["0", "0.25", "0.5", "0.75"]}],
        panels=[{"title": "R", "colour_label": "relevance", "signed": True},
                {"title": "P", "colour_label": "p", "vmin": -1, "vmax": 1}],
        readouts=[f"accuracy {k}" for k in range(12)])
    arguments.update(changes)
    return values, widgets.GridExplorer(**arguments)


def test_grid_explorer_decodes_within_half_a_colour_level():
    values, widget = grid_explorer()
    state = widget.get_state()
    assert state["kind"] == "grid-picker" and state["selection"] == [0, 0]
    assert [panel["colour_map"] for panel in state["panels"]] == ["vlag", "viridis"]
    limit = np.max(np.abs(values[..., 0, :, :]))
    assert state["panels"][0]["vmin"] == -limit and state["panels"][0]["vmax"] == limit
    for selection in [(0, 0), (2, 3), (1, 2)]:
        widget.selection = list(selection)
        decoded = widget.grid_values()
        for p, panel in enumerate(state["panels"]):
            half_level = (panel["vmax"] - panel["vmin"]) / 255 / 2
            assert np.max(np.abs(decoded[p] - values[selection][p])) <= half_level + 1e-12
        np.testing.assert_array_equal(decoded, widgets.decode_grids(state, selection))
    json.dumps(state)
    assert repr(widget) == "GridExplorer(2 panels, 3 x 4 options, 12 x 12 grids)"


def test_grid_explorer_bad_input_names_the_parameter():
    values, _ = grid_explorer()
    with pytest.raises(ValueError, match="values must have shape"):
        grid_explorer(values=values[:2])
    with pytest.raises(ValueError, match=r"controls\[1\]\['kind'\]"):
        grid_explorer(controls=[{"name": "r", "label": "R", "options": ["a", "b", "c"]},
                                {"name": "f", "label": "F", "options": list("abcd"),
                                 "kind": "knob"}])
    with pytest.raises(ValueError, match=r"controls\[0\]\['options'\]"):
        grid_explorer(controls=[{"name": "r", "label": "R", "options": "abc"},
                                {"name": "f", "label": "F", "options": list("abcd")}])
    with pytest.raises(ValueError, match="panels must be a list of 2"):
        grid_explorer(panels=[{"title": "R", "colour_label": "r"}])
    with pytest.raises(ValueError, match="readouts"):
        grid_explorer(readouts=["one"])
    with pytest.raises(TypeError, match="points"):
        grid_explorer(points=np.zeros((3, 2)))
    with pytest.raises(TypeError, match="readouts must be a list or tuple"):
        grid_explorer(readouts=12)
    with pytest.raises(TypeError, match="label must be a non-empty str"):
        grid_explorer(label=None)
    with pytest.raises(TypeError, match="selection must be a list or tuple"):
        grid_explorer(selection=1)
    _, widget = grid_explorer()
    with pytest.raises(ValueError, match=r"selection\[0\] must be <= 2"):
        widget.selection = [3, 0]
    with pytest.raises(TypeError, match="state must be a GridExplorer's state"):
        widgets.decode_grids(None, [0, 0])
    with pytest.raises(TypeError, match=r"selection\[1\] must be an int"):
        widgets.decode_grids(widget.get_state(), [0, "a"])


def test_grid_explorer_compressed_and_plain_grids_decode_alike():
    values, packed = grid_explorer()
    _, plain = grid_explorer(compress=False)
    assert packed.encoding == "deflate" and plain.encoding == "uint8"
    assert len(packed.grids) < len(plain.grids)
    for selection in [(0, 0), (2, 3)]:
        np.testing.assert_array_equal(packed.grid_values(selection),
                                      plain.grid_values(selection))
    legacy = {key: value for key, value in plain.get_state().items() if key != "encoding"}
    np.testing.assert_array_equal(widgets.decode_grids(legacy, (1, 2)),
                                  plain.grid_values((1, 2)))
    with pytest.raises(TypeError, match="compress must be a bool"):
        grid_explorer(compress="yes")


def test_python_reference_checks_the_state_it_is_given():
    rng = np.random.default_rng(16)
    x, y = labelled_points(rng)
    state = widgets.NodeToggleHeatmap(random_network(rng), x, y, resolution=5).get_state()
    with pytest.raises(TypeError, match="state must be a dict"):
        widgets.node_toggle_values([state])
    with pytest.raises(ValueError, match=r"state must be .* missing \['labels'\]"):
        widgets.node_toggle_values({k: v for k, v in state.items() if k != "labels"})
    with pytest.raises(ValueError, match=r"state\['layer'\] must be one of"):
        widgets.node_toggle_values({**state, "layer": "output"})
    with pytest.raises(ValueError, match=r"state\['labels'\] must be class labels"):
        widgets.node_toggle_values({**state, "labels": [5] * len(y)})
    with pytest.raises(ValueError, match="shown_class must be <= 1"):
        widgets.node_toggle_values(state, shown_class=2)
    with pytest.raises(ValueError, match=r"state\['layers'\] must be a list of dicts"):
        widgets.state_network({**state, "layers": [{"kernel": [[1.0]]}] * 2})
    with pytest.raises(TypeError, match="network must be a toyviz.network.Network"):
        widgets.class_probabilities("net", x)
    with pytest.raises(ValueError, match="points must have shape"):
        widgets.class_probabilities(widgets.state_network(state), np.zeros((3, 3)))
    with pytest.raises(TypeError, match="model must be a toyviz.network.Network"):
        widgets.toggled_layer("net", None)
    with pytest.raises(TypeError, match="name must be a non-empty str"):
        widgets.toggled_layer(widgets.state_network(state), None, name=None)
    with pytest.raises(TypeError, match="n_nodes must be an int"):
        widgets.check_mask("mask", [1, 0], 2.0)


# --- bad input, finished (issue 21, part 5) ---------------------------------------------------


def _heatmap(rng_seed=21):
    rng = np.random.default_rng(rng_seed)
    x, y = labelled_points(rng, 20)
    return widgets.NodeToggleHeatmap(random_network(rng), x, y, resolution=8)


@settings(max_examples=20, deadline=None)
@given(trait=st.sampled_from(["loss_max", "circle_radius_squared"]),
       value=st.one_of(st.sampled_from([np.nan, np.inf, -np.inf, True, "3", 0.0]),
                       st.floats(-1e6, -1e-9)))
def test_numeric_traits_refuse_what_their_parameters_refuse(trait, value):
    widget = _heatmap()
    before = getattr(widget, trait)
    with pytest.raises((ValueError, TypeError), match=trait):
        setattr(widget, trait, value)
    assert getattr(widget, trait) == before


@pytest.mark.parametrize("trait, value, words", [
    ("resolution", 1, "resolution must be >= 2"),
    ("resolution", 20.0, "resolution must be an int"),
    ("shown_class", 2, "shown_class must be <= 1"),
    ("show_points", 1, "show_points must be True or False"),
    ("extent", [2.0, -2.0, -2.0, 2.0], r"extent must be \(x0, x1, y0, y1\) with x0 < x1"),
    ("extent", [-2.0, np.nan, -2.0, 2.0], "extent must contain only finite"),
    ("points", [[0.0, 0.0]], r"points must hold one point per label \(20\)"),
    ("labels", [5] * 20, r"labels must be class labels in 0 \.\. 1"),
    ("labels", np.eye(2)[[0, 1] * 10].tolist(), "labels looks one-hot encoded"),
    ("layer", "output", "layer must be one of the hidden layers"),
    ("output", "sigmoid", "output must be 'sigmoid' for one output unit"),
    ("class_names", ["a", "b", "c"], "class_names must be 2 non-empty str"),
    ("mask", [1, 2] + [1] * 18, "mask must hold only 0 and 1"),
])
def test_node_toggle_traits_are_checked_when_set(trait, value, words):
    widget = _heatmap()
    with pytest.raises((ValueError, TypeError), match=words):
        setattr(widget, trait, value)


def test_points_and_labels_change_together():
    widget = _heatmap()
    with widget.hold_trait_notifications():
        widget.points = [[0.5, 0.5], [-0.5, 0.2]]
        widget.labels = [1, 0]
    assert widget.values()["loss"].shape == (2,)


def test_grid_explorer_refuses_a_colour_scale_given_upside_down():
    with pytest.raises(ValueError, match=r"panels\[1\] must have vmin < vmax, got "
                                         r"panels\[1\]\['vmin'\] = 1 and panels\[1\]\['vmax'\] "
                                         "= -1"):
        grid_explorer(panels=[{"title": "R", "colour_label": "r", "signed": True},
                              {"title": "P", "colour_label": "p", "vmin": 1, "vmax": -1}])
    with pytest.raises(ValueError, match=r"panels\[1\] must have vmin < vmax"):
        grid_explorer(panels=[{"title": "R", "colour_label": "r", "signed": True},
                              {"title": "P", "colour_label": "p", "vmin": 50.0}])
    _, constant = grid_explorer(values=np.ones((3, 4, 2, 12, 12)), panels=[
        {"title": "R", "colour_label": "r", "signed": True},
        {"title": "P", "colour_label": "p"}])     # one colour for a constant panel
    assert [(p["vmin"], p["vmax"]) for p in constant.panels] == [(-1.0, 1.0), (1.0, 2.0)]


@pytest.mark.parametrize("trait, value, words", [
    ("extent", [2.0, -2.0, -2.0, 2.0], "extent must be"),
    ("resolution", 13, "resolution must keep the side 12"),
    ("panels", [], "panels must hold at least one"),
    ("readouts", ["a"], "readouts must keep the number of readouts 12"),
    ("overlay", {"circle_radius_squared": np.nan, "points": []},
     r"overlay\['circle_radius_squared'\] must be finite"),
    ("selection", [3, 0], r"selection\[0\] must be <= 2"),
])
def test_grid_explorer_traits_are_checked_when_set(trait, value, words):
    _, widget = grid_explorer()
    with pytest.raises((ValueError, TypeError), match=words):
        setattr(widget, trait, value)


@pytest.mark.parametrize("change, words", [
    (lambda state: {**state, "grids": "eJw" + state["grids"][3:]},
     r"state\['grids'\] is not zlib-compressed data"),
    (lambda state: {**state, "grids": state["grids"][:40]},
     r"state\['grids'\] is not zlib-compressed data"),
    (lambda state: {**state, "grids": "not base64!"},
     r"state\['grids'\] is not valid base64 text"),
    (lambda state: {**state, "resolution": 11},
     r"state\['grids'\] must unpack to 2,904 levels .* got 3,456"),
])
def test_decode_grids_names_the_state_for_corrupt_grids(change, words):
    _, widget = grid_explorer()
    with pytest.raises(ValueError, match=words):
        widgets.decode_grids(change(widget.get_state()), [0, 0])


# ------------------------------------------------------------------ prompts, starts, marks

def _small_heatmap(**changes):
    rng = np.random.default_rng(23)
    network = random_network(rng, (2, 6, 2))
    x, y = labelled_points(rng, 30)
    return widgets.NodeToggleHeatmap(network, x, y, resolution=5, **changes)


def test_each_explorable_says_what_to_try_and_how_it_starts():
    """A prompt by default, and a start read from the state it is given: the mask and the
    shown class, or the selection."""
    assert _small_heatmap().prompt == widgets.NODE_TOGGLE_PROMPT
    assert _small_heatmap().start == "It starts with all 6 nodes on, showing P(class 1)."
    assert _small_heatmap(mask=[0, 1, 0, 0, 1, 0], class_names=["no", "yes"],
                          shown_class=0).start == \
        "It starts with nodes 1 and 4 of 6 on, showing P(no)."
    assert _small_heatmap(mask=[0] * 6).start.startswith("It starts with all 6 nodes off")
    given = _small_heatmap(prompt="switch node 3 off.", start="It starts as the essay's.")
    assert (given.prompt, given.start) == ("switch node 3 off.", "It starts as the essay's.")
    _, explorer = grid_explorer(selection=[1, 2])
    assert explorer.prompt == widgets.GRID_PROMPT
    assert explorer.start == "It starts at Rule: b; Fraction: 0.5."


@pytest.mark.parametrize("name, value, error, words", [
    ("prompt", 3, TypeError, "prompt must be a str"),
    ("prompt", "", ValueError, "prompt must be one line"),
    ("start", "two\nlines", ValueError, "start must be one line"),
    ("mark_label", "x" * (widgets.MAX_LINE + 1), ValueError, "mark_label must be one line"),
    ("marked_nodes", [1, 0], ValueError, "marked_nodes must have shape (6)"),
    ("marked_nodes", [0, 1, 2, 0, 0, 0], ValueError, "marked_nodes must hold only 0 and 1"),
    ("marked_nodes", "bias", TypeError, "marked_nodes must be an array"),
])
def test_prompt_start_and_marks_are_checked(name, value, error, words):
    with pytest.raises(error, match=re.escape(words)):
        _small_heatmap(**{name: value})
    widget = _small_heatmap()
    with pytest.raises((error, traitlets_error()), match=re.escape(name)):
        setattr(widget, name, value)


def traitlets_error():
    import traitlets

    return traitlets.TraitError


def test_marked_nodes_are_kept_as_zeros_and_ones():
    roles = np.array([True, False, False, True, False, False])
    widget = _small_heatmap(marked_nodes=roles, mark_label="bias-like node")
    assert widget.marked_nodes == [1, 0, 0, 1, 0, 0]
    assert widget.get_state()["mark_label"] == "bias-like node"
    assert _small_heatmap().marked_nodes == [0] * 6
    widget.marked_nodes = [0, 0, 0, 0, 0, 1]
    assert widget.marked_nodes == [0, 0, 0, 0, 0, 1]


def test_marked_cells_follow_the_values_orientation():
    """Cell (i, j) of ``marked_cells`` is cell (i, j) of each grid: row i the i-th y
    value from the bottom, as values are given; the state keeps only the marked ones."""
    cells = np.zeros((12, 12), dtype=bool)
    cells[0, 11] = cells[7, 1] = True
    _, explorer = grid_explorer(marked_cells=cells, mark_label="marker pixel")
    assert explorer.marked_cells == [[0, 11], [7, 1]]
    assert explorer.mark_label == "marker pixel"
    assert grid_explorer(marked_cells=cells.astype(int))[1].marked_cells == [[0, 11], [7, 1]]
    assert grid_explorer()[1].marked_cells == []
    with pytest.raises(ValueError, match=re.escape("marked_cells must have shape (12, 12)")):
        grid_explorer(marked_cells=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="marked_cells must hold only 0 and 1"):
        grid_explorer(marked_cells=np.full((12, 12), 0.5))
    for bad in ([[0, 12]], [[0, 1], [0, 1]], [[0]], "cells"):
        with pytest.raises((ValueError, TypeError, traitlets_error()), match="marked_cells"):
            explorer.marked_cells = bad
    assert widgets.check_cells("cells", cells, 12) == [[0, 11], [7, 1]]


@settings(max_examples=60)
@given(width=st.integers(150, 1400), count=st.integers(1, 4), share=st.booleans())
def test_panels_fit_the_card_they_are_laid_out_for(tmp_path_factory, width, count, share):
    """explorable.js panelLayout, under Node: side by side when each grid gets at least
    MIN_SIDE px, and then the row fits the width; stacked otherwise, each panel as wide
    as the card allows; never a grid above MAX_SIDE px."""
    folder = tmp_path_factory.mktemp("layout")
    layout, minimum, maximum, gap = run_node(
        folder, f"console.log(JSON.stringify([m.panelLayout({width}, {count}, "
                f"{json.dumps(share)}), m.MIN_SIDE, m.MAX_SIDE, m.PANEL_GAP]));")
    axis, bar, end = 38, 84, 6           # explorable.js: AXIS, BAR, END
    assert layout["side"] <= maximum
    if layout["stacked"]:
        assert count > 1 and not layout["sharedBar"]
        sides = (width - (count - 1) * gap - (share * (gap + bar))) / count \
            - axis - (end if share else bar)
        assert sides < minimum
        assert layout["side"] == max(60, min(maximum, width - axis - bar))
    else:
        assert layout["sharedBar"] == (share and count > 1)
        per_panel = axis + layout["side"] + (end if layout["sharedBar"] else bar)
        row = count * per_panel + (count - 1) * gap + (gap + bar if layout["sharedBar"] else 0)
        assert row <= width or layout["side"] == 60 or count == 1
        assert layout["side"] >= minimum or count == 1
    assert layout["narrow"] == (width < 520)
