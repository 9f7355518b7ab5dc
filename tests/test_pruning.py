"""Pruning (toyviz.pruning): properties of node deletion with bias compensation over random
small networks, slow references, pruning whole stacks, bad input. The batched trainer
(toyviz.training) is tested in test_training.py."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toyviz import models, network, pruning
from toyviz.network.stack import forward, init_stack, take, to_models

SETTINGS = settings(max_examples=25, deadline=None)


def random_mlp(rng, widths, n_inputs=2, n_outputs=2, output_activation="softmax"):
    """A toyviz.models.mlp with random weights and biases (biases non-zero so the
    compensation and the ReLU cut-offs both matter)."""
    model = models.mlp(n_inputs, widths, n_outputs, output_activation)
    for layer in model.layers:
        kernel, bias = layer.get_weights()
        layer.set_weights([rng.normal(0, 1, kernel.shape).astype(np.float32),
                           rng.normal(0, 0.5, bias.shape).astype(np.float32)])
    return model


@st.composite
def net_specs(draw):
    """A random 1- or 2-hidden-layer net: seed, widths, which layers are pruned and how
    many nodes they keep, and how many data points the means use."""
    seed = draw(st.integers(0, 2**31 - 1))
    widths = draw(st.lists(st.integers(1, 6), min_size=1, max_size=2))
    n_keep = [draw(st.integers(1, w)) if draw(st.booleans()) else None for w in widths]
    return seed, widths, n_keep, draw(st.integers(1, 20))


def build(spec):
    """(model, keep, data, x) from a spec (Keras is kept out of the strategy: building a
    model draws from Python's random module)."""
    seed, widths, n_keep, n_data = spec
    rng = np.random.default_rng(seed)
    model = random_mlp(rng, widths, output_activation="linear")
    keep = {f"hidden{p}": np.sort(rng.choice(w, k, replace=False))
            for p, (w, k) in enumerate(zip(widths, n_keep)) if k is not None}
    data = rng.normal(0, 1, (n_data, 2)).astype(np.float32)
    x = rng.normal(0, 1, (7, 2)).astype(np.float32)
    return model, keep, data, x


def predict(model, x):
    return np.asarray(model(x), dtype=np.float64)


def plain_deletion_reference(model, keep):
    """Slow, obviously right: copy the kept rows and columns one entry at a time."""
    layers = [layer for layer in model.layers if layer.weights]
    kept = [keep.get(layer.name, np.arange(layer.units)) for layer in layers[:-1]]
    out = []
    for position, layer in enumerate(layers):
        kernel, bias = (np.asarray(w, np.float64) for w in layer.get_weights())
        rows = np.arange(kernel.shape[0]) if position == 0 else kept[position - 1]
        cols = kept[position] if position < len(layers) - 1 else np.arange(kernel.shape[1])
        small = np.zeros((len(rows), len(cols)))
        for a, i in enumerate(rows):
            for b, j in enumerate(cols):
                small[a, b] = kernel[i, j]
        out.append((small, np.array([bias[j] for j in cols])))
    return out


@SETTINGS
@given(net_specs())
def test_pruned_output_equals_original_with_removed_nodes_replaced_by_means(spec):
    model, keep, data, x = build(spec)
    smaller = pruning.prune(model, keep=keep, data=data, compensate=True)
    reference = pruning.replace_by_means(model, keep, data, x)
    np.testing.assert_allclose(predict(smaller, x), reference, rtol=1e-4, atol=1e-4)


@SETTINGS
@given(net_specs())
def test_compensate_false_is_plain_deletion(spec):
    model, keep, data, x = build(spec)
    smaller = pruning.prune(model, keep=keep, data=data, compensate=False)
    for layer, (kernel, bias) in zip(smaller.layers, plain_deletion_reference(model, keep)):
        np.testing.assert_array_equal(layer.get_weights()[0], kernel.astype(np.float32))
        np.testing.assert_array_equal(layer.get_weights()[1], bias.astype(np.float32))
    # and data is not needed for it
    again = pruning.prune(model, keep=keep, compensate=False)
    np.testing.assert_array_equal(predict(again, x), predict(smaller, x))


@SETTINGS
@given(net_specs())
def test_keeping_every_node_gives_an_equivalent_model(spec):
    model, _, data, x = build(spec)
    everything = {name: np.arange(model.get_layer(name).units)
                  for name in list(network.read(model).hidden_layers)}
    for compensate in (True, False):
        same = pruning.prune(model, keep=everything, data=data, compensate=compensate)
        np.testing.assert_allclose(predict(same, x), predict(model, x), rtol=1e-6, atol=1e-6)
        assert [w.shape for w in same.get_weights()] == [w.shape for w in model.get_weights()]


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.integers(2, 6), st.integers(1, 2),
       st.floats(0.1, 3.0))
def test_removing_a_constant_node_changes_nothing(seed, width, depth, constant):
    rng = np.random.default_rng(seed)
    model = random_mlp(rng, [width] * depth)
    layer = model.get_layer(f"hidden{rng.integers(depth)}")
    node = int(rng.integers(width))
    kernel, bias = layer.get_weights()
    kernel[:, node], bias[node] = 0.0, constant  # relu(0 * x + c) = c for every input
    layer.set_weights([kernel, bias])
    keep = {layer.name: np.delete(np.arange(width), node)}
    data = rng.normal(0, 1, (5, 2)).astype(np.float32)
    x = rng.normal(0, 2, (50, 2)).astype(np.float32)
    smaller = pruning.prune(model, keep=keep, data=data)
    assert smaller.get_layer(layer.name).units == width - 1
    np.testing.assert_allclose(predict(smaller, x), predict(model, x), rtol=1e-5, atol=1e-6)


def test_hidden_layer_names_is_deprecated_for_the_networks_hidden_layers():
    model = random_mlp(np.random.default_rng(0), (3, 4))
    with pytest.warns(DeprecationWarning, match=r"read\(model\)\.hidden_layers"):
        names = pruning.hidden_layer_names(model)
    assert names == list(network.read(model).hidden_layers) == ["hidden0", "hidden1"]


def test_plain_deletion_of_a_constant_node_loses_its_contribution():
    model = models.mlp(1, [2], 1, "linear")
    model.get_layer("hidden0").set_weights([np.array([[1.0, 0.0]], np.float32),
                                            np.array([0.0, 2.0], np.float32)])
    model.get_layer("output").set_weights([np.array([[1.0], [3.0]], np.float32),
                                           np.zeros(1, np.float32)])
    x = np.array([[0.5], [1.5]], np.float32)  # output = relu(x) + 3 * 2
    keep = {"hidden0": [0]}
    np.testing.assert_allclose(predict(pruning.prune(model, keep=keep, data=x), x),
                               [[6.5], [7.5]], rtol=1e-6)
    np.testing.assert_allclose(predict(pruning.prune(model, keep=keep, compensate=False), x),
                               [[0.5], [1.5]], rtol=1e-6)


def test_prune_really_deletes_and_keeps_names_and_activations():
    model = random_mlp(np.random.default_rng(0), [5, 4])
    smaller = pruning.prune(model, keep={"hidden0": [0, 3], 1: [2]},
                            data=np.zeros((3, 2), np.float32))
    assert [layer.name for layer in smaller.layers] == ["hidden0", "hidden1", "output"]
    assert [w.shape for w in smaller.get_weights()] == [(2, 2), (2,), (2, 1), (1,), (1, 2),
                                                        (2,)]
    assert smaller.get_layer("output").activation.__name__ == "softmax"
    assert model.get_layer("hidden0").units == 5  # the original is untouched


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.sampled_from(pruning.CRITERIA), st.booleans(),
       st.sampled_from([0.0, 0.3, 0.5, 0.8]))
def test_prune_stack_matches_prune_per_network(seed, criterion, compensate, fraction):
    rng = np.random.default_rng(seed)
    params = init_stack(2, [6, 5], rng)
    params = [(k, rng.normal(0, 0.3, b.shape).astype(np.float32)) for k, b in params]
    data = rng.normal(0, 1, (2, 9, 2)).astype(np.float32)
    stacked, keeps = pruning.prune_stack(params, fraction, criterion, data,
                                         np.random.default_rng(seed), compensate=compensate)
    for net, model in enumerate(to_models(params)):
        keep = {f"hidden{p}": nodes for p, nodes in keeps[net].items()}
        if criterion != "random":
            chosen = pruning.keep_top(pruning.scores(model, criterion, data=data[net]),
                                      fraction)
            for name in chosen:
                np.testing.assert_array_equal(chosen[name], keep[name])
        smaller = pruning.prune(model, keep=keep, data=data[net], compensate=compensate)
        for (kernel, bias), layer in zip(stacked, smaller.layers):
            np.testing.assert_allclose(kernel[net], layer.get_weights()[0], atol=1e-6)
            np.testing.assert_allclose(bias[net], layer.get_weights()[1], atol=1e-6)


def test_criteria_scores_by_hand():
    model = models.mlp(1, [3], 1, "linear")
    model.get_layer("hidden0").set_weights([np.array([[1.0, 2.0, 0.0]], np.float32),
                                            np.array([0.0, 0.0, 1.0], np.float32)])
    model.get_layer("output").set_weights([np.array([[3.0], [1.0], [5.0]], np.float32),
                                           np.zeros(1, np.float32)])
    data = np.array([[0.0], [1.0], [2.0], [3.0]], np.float32)  # all activations >= 0
    std = pruning.scores(model, "std", data=data)["hidden0"]
    np.testing.assert_allclose(std, [np.std([0, 1, 2, 3]), np.std([0, 2, 4, 6]), 0.0])
    np.testing.assert_allclose(pruning.scores(model, "weight")["hidden0"], [3.0, 1.0, 5.0])
    vw = pruning.scores(model, "variance_weight", data=data)["hidden0"]
    np.testing.assert_allclose(vw, [np.var([0, 1, 2, 3]) * 9, np.var([0, 2, 4, 6]) * 1, 0.0])
    random = pruning.scores(model, "random", rng=np.random.default_rng(0))["hidden0"]
    assert random.shape == (3,)
    assert pruning.keep_top({"hidden0": vw}, 1 / 3)["hidden0"].tolist() == [0, 1]
    assert pruning.keep_top({"hidden0": std}, 0.9)["hidden0"].tolist() == [1]


# --- bad input -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_model():
    return random_mlp(np.random.default_rng(1), [4, 3])


DATA = np.zeros((5, 2), np.float32)


@pytest.mark.parametrize("keep, error, words", [
    ({"output": [0]}, ValueError, "output layer"),
    ({"nope": [0]}, ValueError, "not a layer"),
    ({5: [0]}, ValueError, "position 5"),
    ({1.5: [0]}, TypeError, "keep keys"),
    ({"hidden0": []}, ValueError, "empty"),
    ({"hidden0": [0, 4]}, ValueError, r"\[0, 4\)"),
    ({"hidden0": [-1]}, ValueError, r"\[0, 4\)"),
    ({"hidden0": [1, 1]}, ValueError, "repeated"),
    ({"hidden0": [0.0, 1.0]}, TypeError, "int node indices"),
    ({"hidden0": [[0, 1]]}, TypeError, "1-d"),
    ({"hidden0": [0], 0: [1]}, ValueError, "twice"),
    ([0, 1], TypeError, "dict"),
])
def test_bad_keep_is_rejected_naming_keep(small_model, keep, error, words):
    with pytest.raises(error, match="keep") as info:
        pruning.prune(small_model, keep=keep, data=DATA)
    assert info.match(words)


@pytest.mark.parametrize("data, error", [
    (np.zeros((5, 3), np.float32), ValueError),
    (np.zeros((5,), np.float32), ValueError),
    (np.zeros((0, 2), np.float32), ValueError),
    (np.full((5, 2), np.nan, np.float32), ValueError),
    ("points", TypeError),
])
def test_bad_data_is_rejected_naming_data(small_model, data, error):
    with pytest.raises(error, match="data"):
        pruning.prune(small_model, keep={"hidden0": [0]}, data=data)


def test_other_bad_arguments(small_model):
    with pytest.raises(ValueError, match="data must be given"):
        pruning.prune(small_model, keep={"hidden0": [0]})
    with pytest.raises(TypeError, match="compensate"):
        pruning.prune(small_model, keep={"hidden0": [0]}, data=DATA, compensate="yes")
    with pytest.raises(TypeError, match="model"):
        pruning.prune("model", keep={"hidden0": [0]}, data=DATA)
    with pytest.raises(ValueError, match="criterion"):
        pruning.scores(small_model, "loudest", data=DATA)
    with pytest.raises(ValueError, match="data must be given"):
        pruning.scores(small_model, "std")
    with pytest.raises(TypeError, match="rng"):
        pruning.scores(small_model, "random")
    with pytest.raises(ValueError, match="fraction"):
        pruning.keep_top({"hidden0": np.ones(3)}, 1.0)
    with pytest.raises(ValueError, match="fraction"):
        pruning.keep_top({"hidden0": np.ones(3)}, -0.1)


# --- stacks: sweeps, silent nodes, budget tables, surfaces -----------------------------


def test_sweep_shapes():
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, (40, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    params = init_stack(2, [5, 5], rng)
    sweep = pruning.sweep(params, x, x, y, [0.0, 0.4], ["random", "std"], rng)
    assert len(sweep) == 2 * 2 * 2 * 2
    summary = pruning.summarize(sweep, ["criterion", "compensate", "fraction"])
    assert (summary["low"] <= summary["mean"]).all() and (summary["n"] == 2).all()


def test_deleting_silent_nodes_changes_nothing():
    rng = np.random.default_rng(6)
    params = init_stack(2, [4, 3], rng)
    params[0][0][0, :, 1], params[0][1][0, 1] = 0.0, -1.0  # net 0, layer 0, node 1: silent
    data = rng.normal(0, 1, (30, 2)).astype(np.float32)
    table, keeps = pruning.silent_nodes(params, data)
    assert 1 not in keeps[0][0] and table.loc[0, "silent (max)"] >= 1
    for net in range(2):
        one = take(params, [net])
        for compensate in (True, False):
            smaller, _ = pruning.prune_stack(one, 0.0, "std", data, keep=[keeps[net]],
                                             compensate=compensate)
            np.testing.assert_allclose(forward(smaller, data)[0],
                                       forward(one, data)[0], atol=1e-6)


def test_budget_table():
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1, (20, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    stacks = {("a", "random"): init_stack(3, [4], rng),
              ("b", "none"): init_stack(3, [2], rng)}
    table = pruning.budget_table(stacks, x, y)
    assert list(table.index) == [("a", "random"), ("b", "none")]
    assert (table["n"] == 3).all() and (table["low"] <= table["high"]).all()
    with pytest.raises(TypeError, match="stacks"):
        pruning.budget_table([], x, y)


def test_surfaces_match_keras_pruning_with_nested_node_sets():
    """pruning.surfaces against pruning.prune on the Keras model, node set by node set:
    scores are drawn once per criterion, so larger fractions prune supersets."""
    rng = np.random.default_rng(6)
    x = rng.normal(0, 1, (60, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    params = [(kernel * 2, bias + rng.normal(0, 0.3, bias.shape).astype(np.float32))
              for kernel, bias in init_stack(2, [6, 5], rng)]
    points = rng.uniform(-1.5, 1.5, (9, 2))
    fractions = [0.0, 0.3, 0.6]
    probability, accuracy = pruning.surfaces(params, x, x, y, points, fractions,
                                             pruning.CRITERIA, np.random.default_rng(1),
                                             net=1)
    assert probability.shape == (4, 2, 3, 9) and accuracy.shape == (4, 2, 3)
    model = to_models(take(params, [1]))[0]
    unpruned = predict(model, points)[:, 1]
    np.testing.assert_allclose(probability[:, :, 0], np.broadcast_to(unpruned, (4, 2, 9)),
                               atol=1e-5)
    score_rng = np.random.default_rng(1)  # "random" comes first, so it draws the same
    for c, criterion in enumerate(pruning.CRITERIA):
        node_scores = pruning.scores(model, criterion, data=x, rng=score_rng)
        previous = None
        for f, fraction in enumerate(fractions):
            keep = pruning.keep_top(node_scores, fraction)
            if previous is not None:
                assert all(set(keep[name]) <= set(previous[name]) for name in keep)
            previous = keep
            for b, compensate in enumerate((True, False)):
                smaller = pruning.prune(model, keep, data=x, compensate=compensate)
                np.testing.assert_allclose(probability[c, b, f],
                                           predict(smaller, points)[:, 1], atol=1e-5)
                right = np.mean(predict(smaller, x).argmax(axis=1) == y)
                assert abs(accuracy[c, b, f] - right) <= 1 / len(x)


def test_surfaces_bad_input_names_the_parameter():
    rng = np.random.default_rng(7)
    params = init_stack(1, [3], rng)
    x = rng.normal(0, 1, (5, 2)).astype(np.float32)
    y = np.zeros(5, np.int64)
    arguments = (params, x, x, y, x, [0.0, 0.5], ["std"], rng)
    with pytest.raises(ValueError, match="net"):
        pruning.surfaces(*arguments, net=1)
    with pytest.raises(TypeError, match=r"compensate\[0\]"):
        pruning.surfaces(*arguments, compensate=[1])
    with pytest.raises(ValueError, match=r"criteria\[0\]"):
        pruning.surfaces(params, x, x, y, x, [0.0], ["largest"], rng)
    with pytest.raises(ValueError, match="fraction"):
        pruning.surfaces(params, x, x, y, x, [1.0], ["std"], rng)


def test_animation_html_asks_no_other_host():
    import matplotlib

    matplotlib.use("Agg")
    from toyviz import plots

    rng = np.random.default_rng(8)
    frames = rng.uniform(0, 1, (3, 2, 6, 6))
    x, y = rng.uniform(-1, 1, (10, 2)), rng.integers(0, 2, 10)
    anim = plots.surface_animation(frames, x, y, (-1, 1, -1, 1), ["a", "b"],
                                   captions=["0", "1", "2"])
    html = plots.animation_html(anim)
    assert "font-awesome" in anim.to_jshtml()
    assert "http://" not in html and "https://" not in html
    assert 'aria-label="Play"' in html and html.count("data:image/png;base64") == 3
    with pytest.raises(ValueError, match="default_mode"):
        plots.animation_html(anim, default_mode="twice")
    with pytest.raises(TypeError, match="animation"):
        plots.animation_html("not an animation")


# --- any Dense chain: the structure is kept, only the widths change --------------------

HIDDEN = ("relu", "tanh", "sigmoid", "linear")


@st.composite
def keras_chains(draw):
    """A random Dense chain: per hidden layer a width, an activation, whether it is a
    separate layer (Activation / ReLU) or ``activation=``, and a Dropout after it; the
    output activation (softmax as a layer or an argument, or linear); Sequential or
    functional; which nodes each layer keeps; and a seed for the weights and data."""
    depth = draw(st.integers(1, 3))
    layers = [(draw(st.integers(1, 5)), draw(st.sampled_from(HIDDEN)),
               draw(st.sampled_from(["argument", "layer"])), draw(st.booleans()))
              for _ in range(depth)]
    output = draw(st.sampled_from(["softmax argument", "softmax layer", "linear"]))
    keeps = [draw(st.none() | st.lists(st.booleans(), min_size=w, max_size=w))
             for w, *_ in layers]
    return (layers, output, draw(st.booleans()), keeps, draw(st.integers(0, 2**31 - 1)),
            draw(st.booleans()))


def build_chain(spec):
    """(model, keep by name, data, x, ends): ``ends[name]`` is the Keras layer whose
    output is the hidden layer's nodes (its activation layer, or the Dense itself)."""
    import keras

    layers, output, functional, keeps, seed, compensate = spec
    rng = np.random.default_rng(seed)
    n_inputs, n_outputs = 3, 3
    chain, ends, keep = [], {}, {}
    for position, ((width, activation, where, dropout), flags) in enumerate(zip(layers,
                                                                               keeps)):
        name = f"dense_{position}"
        chain.append(keras.layers.Dense(width, name=name, activation=activation
                                        if where == "argument" else None))
        if where == "layer":
            chain.append(keras.layers.ReLU(name=f"act_{position}") if activation == "relu"
                         else keras.layers.Activation(activation, name=f"act_{position}"))
        ends[name] = chain[-1].name
        if dropout:
            chain.append(keras.layers.Dropout(0.5, name=f"drop_{position}"))
        if flags is not None:
            nodes = np.flatnonzero(flags)
            keep[name] = nodes if len(nodes) else np.array([int(rng.integers(width))])
    chain.append(keras.layers.Dense(n_outputs, name="out", activation="softmax"
                                    if output == "softmax argument" else None))
    if output == "softmax layer":
        chain.append(keras.layers.Softmax(name="probabilities"))
    if functional:
        inputs = keras.Input((n_inputs,), name="inputs")
        a = inputs
        for layer in chain:
            a = layer(a)
        model = keras.Model(inputs, a, name="chain")
    else:
        model = keras.Sequential([keras.Input((n_inputs,), name="inputs"), *chain],
                                 name="chain")
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.normal(0, 1, w.shape).astype(np.float32)
                               for w in layer.get_weights()])
    data = rng.normal(0, 1, (12, n_inputs)).astype(np.float32)
    x = rng.normal(0, 1, (9, n_inputs)).astype(np.float32)
    return model, keep, data, x, ends


def replaced_by_keras(model, ends, keep, data, x, compensate):
    """The slow way: call the original model's Keras layers one at a time; after the
    layer that ends a pruned hidden layer, overwrite its removed nodes with their mean
    on ``data`` (taken in the original network, also layer by layer) or with 0 (plain
    deletion: the node then feeds nothing)."""
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    means, a = {}, data.astype(np.float32)
    for layer in layers:
        a = np.asarray(layer(a), np.float64).astype(np.float32)
        for name, end in ends.items():
            if layer.name == end:
                means[name] = a.astype(np.float64).mean(axis=0)
    b = x.astype(np.float32)
    for layer in layers:
        b = np.asarray(layer(b), np.float32)
        for name, end in ends.items():
            if layer.name == end and name in keep:
                removed = np.setdiff1d(np.arange(b.shape[1]), keep[name])
                b = b.copy()
                b[:, removed] = means[name][removed] if compensate else 0.0
    return b.astype(np.float64)


def structure(model):
    """What must survive pruning: class, name and configuration of every layer but the
    Dense widths."""
    out = []
    for layer in model.layers:
        config = {key: value for key, value in layer.get_config().items()
                  if key not in ("units", "use_bias")}
        out.append((type(layer).__name__, layer.name, config))
    return out


@settings(max_examples=30, deadline=None)
@given(keras_chains())
def test_pruning_any_dense_chain_keeps_its_layers_and_matches_keras(spec):
    import keras

    model, keep, data, x, ends = build_chain(spec)
    compensate = spec[-1]
    smaller = pruning.prune(model, keep=keep, data=data, compensate=compensate)
    assert type(smaller) is type(model) and smaller.name == "chain_pruned"
    assert structure(smaller) == structure(model)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            kept = keep.get(layer.name)
            width = layer.units if kept is None else len(kept)
            assert smaller.get_layer(layer.name).units == width
    reference = replaced_by_keras(model, ends, keep, data, x, compensate)
    np.testing.assert_allclose(predict(smaller, x), reference, rtol=1e-4, atol=1e-5)
    if compensate:
        np.testing.assert_allclose(pruning.replace_by_means(model, keep, data, x),
                                   reference, rtol=1e-4, atol=1e-5)


def test_pruning_keeps_separate_relu_and_softmax_layers():
    """The issue's example: Dense, ReLU(), Dense, Softmax() lost both activation layers
    and gave negative 'probabilities'."""
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(16), keras.layers.ReLU(),
                              keras.layers.Dense(2), keras.layers.Softmax()])
    rng = np.random.default_rng(0)
    data = rng.normal(0, 1, (50, 2)).astype(np.float32)
    smaller = pruning.prune(model, keep={0: np.arange(0, 16, 2)}, data=data)
    assert [type(layer).__name__ for layer in smaller.layers] == [
        "Dense", "ReLU", "Dense", "Softmax"]
    out = predict(smaller, data)
    assert out.min() >= 0 and np.allclose(out.sum(axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(out, pruning.replace_by_means(model, {0: np.arange(0, 16, 2)},
                                                             data, data), atol=1e-5)


def test_pruning_refuses_what_it_cannot_prune():
    import keras

    conv = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3),
                             keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="Conv2D.*pruning|pruning.*Conv2D"):
        pruning.prune(conv, keep={}, compensate=False)
    with pytest.raises(ValueError, match="mask"):
        pruning.prune(models.masked_circle_model(4), keep={}, compensate=False)


def test_prune_stack_refuses_non_bool_flags():
    rng = np.random.default_rng(9)
    params = init_stack(2, [4], rng)
    x = rng.normal(0, 1, (10, 2)).astype(np.float32)
    y = np.zeros(10, np.int64)
    with pytest.raises(TypeError, match="compensate"):
        pruning.prune_stack(params, 0.5, "std", x, compensate="no")
    with pytest.raises(TypeError, match=r"compensate\[0\]"):
        pruning.sweep(params, x, x, y, [0.5], ["std"], rng, compensate=["no"])
    with pytest.raises(TypeError, match="keep"):
        pruning.prune_stack(params, 0.5, "std", x, keep={0: [1]})
    with pytest.raises(ValueError, match=r"keep\[0\]\[0\]"):
        pruning.prune_stack(params, 0.5, "std", x, keep=[{0: [7]}, {0: [1]}])
    with pytest.raises(TypeError, match="criteria"):
        pruning.sweep(params, x, x, y, [0.5], "std", rng)


def test_compensation_gives_a_bias_to_a_layer_without_one():
    """Folding the removed nodes' means needs a bias in the next layer: a Dense layer
    built with use_bias=False gets one (only then), and the result still equals the
    mean-replaced original."""
    import keras

    rng = np.random.default_rng(16)
    model = keras.Sequential([keras.Input((2,)),
                              keras.layers.Dense(5, activation="tanh", use_bias=False,
                                                 name="h"),
                              keras.layers.Dense(2, use_bias=False, name="o")])
    for layer in model.layers:
        layer.set_weights([rng.normal(size=w.shape).astype(np.float32)
                           for w in layer.get_weights()])
    data = rng.normal(size=(30, 2)).astype(np.float32)
    keep = {"h": [0, 3]}
    smaller = pruning.prune(model, keep, data=data)
    assert smaller.get_layer("o").use_bias and not smaller.get_layer("h").use_bias
    np.testing.assert_allclose(predict(smaller, data),
                               pruning.replace_by_means(model, keep, data, data), atol=1e-5)
    plain = pruning.prune(model, keep, compensate=False)
    assert not plain.get_layer("o").use_bias


# --- bad input, finished (issue 21, part 5) ---------------------------------------------------


def _accuracy_table(per_group):
    return pd.DataFrame({"criterion": np.repeat(["std", "random"], per_group),
                         "accuracy": np.linspace(0.5, 0.9, 2 * per_group)})


@settings(max_examples=20, deadline=None)
@given(values=st.lists(st.floats(0, 1), min_size=2, max_size=8),
       confidence=st.floats(0.5, 0.999))
def test_summarize_gives_finite_intervals_for_two_or_more_values(values, confidence):
    table = pd.DataFrame({"group": "a", "accuracy": values})
    row = pruning.summarize(table, ["group"], confidence=confidence).iloc[0]
    assert row["n"] == len(values)
    assert np.isfinite([row["low"], row["high"]]).all()
    assert row["low"] <= row["mean"] <= row["high"]


def test_summarize_refuses_what_gives_no_interval():
    with pytest.raises(ValueError, match=r"table must hold at least 2 measured values of "
                                         r"value = 'accuracy' in each group .* e\.g\. "
                                         r"\('std',\)"):
        pruning.summarize(_accuracy_table(1), ["criterion"])
    with pytest.raises(ValueError, match="holds inf in 1 rows"):
        pruning.summarize(_accuracy_table(3).assign(
            accuracy=[0.5, np.inf, 0.6, 0.7, 0.8, 0.9]), ["criterion"])
    with pytest.raises(ValueError, match="confidence must be < 1"):
        pruning.summarize(_accuracy_table(3), ["criterion"], confidence=1.0)
    with pytest.raises(TypeError, match="by must be a list or tuple .* order matters"):
        pruning.summarize(_accuracy_table(3), {"criterion"})


def test_summarize_reports_values_never_measured_as_n_0():
    table = _accuracy_table(3).assign(accuracy=[0.5, 0.6, 0.7, np.nan, np.nan, np.nan])
    summary = pruning.summarize(table, ["criterion"]).set_index("criterion")
    assert summary.loc["random", "n"] == 0 and np.isnan(summary.loc["random", "mean"])
    assert summary.loc["std", "n"] == 3


def test_budget_table_needs_two_networks_per_stack():
    stack = init_stack(1, [3], np.random.default_rng(0))
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match=r"stacks\[\('full', 'none'\)\] must hold at least 2 "
                                         "networks"):
        pruning.budget_table({("full", "none"): stack}, x, np.zeros(4, int))


def _loss_by_hand(params, x, y):
    """Mean cross-entropy of one network (a list of (kernel, bias) pairs), by plain numpy."""
    a = x.astype(np.float64)
    for layer, (kernel, bias) in enumerate(params):
        z = a @ kernel.astype(np.float64) + bias.astype(np.float64)
        a = np.maximum(z, 0) if layer < len(params) - 1 else z
    z = a - a.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean()


def test_perturb_nodes_matches_a_slow_reference():
    """Each draw's change, recomputed with the same random numbers drawn by hand."""
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, (40, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    params = init_stack(2, [4, 3], rng)
    nodes = [{0: np.array([1, 3])}, {1: np.array([0]), 0: np.array([], np.int64)}]
    gains = pruning.perturb_nodes(params, nodes, x, y, np.random.default_rng(5), scale=0.2,
                                  n_draws=3)
    draw = np.random.default_rng(5)
    for net, chosen in enumerate(nodes):
        one = [(kernel[net].astype(np.float64), bias[net].astype(np.float64))
               for kernel, bias in params]
        before = _loss_by_hand(one, x, y)
        changed = [[(k.copy(), b.copy()) for k, b in one] for _ in range(3)]
        for position in sorted(chosen):
            index = chosen[position]
            if not len(index):
                continue
            size_in = 0.2 * np.sqrt(np.mean(one[position][0] ** 2))
            size_out = 0.2 * np.sqrt(np.mean(one[position + 1][0] ** 2))
            noise_in = draw.normal(0, size_in, (3, one[position][0].shape[0], len(index)))
            noise_bias = draw.normal(0, size_in, (3, len(index)))
            noise_out = draw.normal(0, size_out, (3, len(index), one[position + 1][0].shape[1]))
            for d in range(3):
                changed[d][position][0][:, index] += noise_in[d]
                changed[d][position][1][index] += noise_bias[d]
                changed[d][position + 1][0][index, :] += noise_out[d]
        for d in range(3):
            expected = (before - _loss_by_hand(changed[d], x, y)) / before
            assert gains[net, d] == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_perturbing_silent_nodes_slightly_changes_nothing():
    """A node that is off by a wide margin on every point stays off under a small change,
    and its outgoing weights then multiply zeros: the loss does not move at all."""
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (50, 2)).astype(np.float32)
    y = (x[:, 1] > 0).astype(np.int64)
    params = init_stack(1, [5, 4], rng)
    params[0][1][0, 2] = -100.0  # node 2 of the first layer never fires
    gains = pruning.perturb_nodes(params, [{0: np.array([2])}], x, y, rng, scale=0.01,
                                  n_draws=20)
    assert np.all(gains == 0)
    live = pruning.perturb_nodes(params, [{0: np.array([0, 1])}], x, y, rng, scale=0.01,
                                 n_draws=20)
    assert np.any(live != 0)


def test_perturbation_test_changes_near_constant_nodes_and_a_control():
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, (60, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    params = init_stack(3, [6, 5], rng)
    params[1][1][0, :] = np.abs(params[1][1][0, :]) + 1.0
    params[1][1][0, [1, 3]] = -100.0  # two silent nodes in the second layer of network 0
    params[1][1][1, :] = np.abs(params[1][1][1, :]) + 1.0  # network 1: none near constant
    params[0][1][1, :] = np.abs(params[0][1][1, :]) + 5.0
    counts, _ = pruning.near_constant_nodes(params, x)
    table = pruning.perturbation_test(params, x, y, rng, scale=0.01, n_draws=10)
    assert list(table["net"]) == [0, 1, 2]
    assert list(table["nodes"]) == list(counts.groupby("net")["near_constant"].sum())
    assert table.loc[0, "nodes"] == 2  # the silent ones: a small change leaves them silent
    assert table.loc[0, "quiet_best"] == 0 and table.loc[0, "quiet_helped"] == 0
    empty = table["nodes"] == 0
    assert table.loc[empty, ["quiet_best", "control_helped"]].isna().all().all()
    assert table.loc[~empty, "control_helped"].between(0, 1).all()
    with pytest.raises(ValueError, match="helped"):
        pruning.perturbation_test(params, x, y, rng, helped=2.0)


def test_perturb_nodes_rejects_bad_nodes_naming_them():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (10, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    params = init_stack(2, [3], rng)
    with pytest.raises(TypeError, match="nodes"):
        pruning.perturb_nodes(params, [{0: [0]}], x, y, rng)
    with pytest.raises(ValueError, match=r"nodes\[0\]\[0\]"):
        pruning.perturb_nodes(params, [{0: [5]}, {}], x, y, rng)
    with pytest.raises(ValueError, match="nodes"):
        pruning.perturb_nodes(params, [{3: [0]}, {}], x, y, rng)
    with pytest.raises(ValueError, match="scale"):
        pruning.perturb_nodes(params, [{}, {}], x, y, rng, scale=0.0)
