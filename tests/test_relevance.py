"""Relevance propagation (chapter 2): every rule against a slow, loop-based reference in
float64 on random small networks; conservation, R form = Q form = gradient x input, the
scaling table and the radial weights as hypothesis properties; bad input."""

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toyviz import data
from toyviz import network as network_module
from toyviz import relevance as rel

# --------------------------------------------------------------------------------------
# Random small Keras models
# --------------------------------------------------------------------------------------


def _keras():
    import keras

    return keras


def conv_model(seed, padding="same", activation="relu"):
    """Conv2D -> MaxPooling2D -> Conv2D (strided) -> Flatten -> Dense -> Dense(softmax),
    with random non-zero biases."""
    keras = _keras()
    keras.utils.set_random_seed(seed)
    init = keras.initializers.RandomNormal(stddev=0.5, seed=seed)
    model = keras.Sequential([
        keras.Input((6, 5, 2)),
        keras.layers.Conv2D(3, 3, padding=padding, activation=activation,
                            bias_initializer=init),
        keras.layers.MaxPooling2D(2, strides=1, padding=padding),
        keras.layers.Conv2D(2, 2, strides=(2, 1), activation=activation,
                            bias_initializer=init),
        keras.layers.Flatten(),
        keras.layers.Dense(4, activation=activation, bias_initializer=init),
        keras.layers.Dense(3, activation="softmax", bias_initializer=init),
    ])
    return model


def dense_model(seed, activation="relu", widths=(5, 4)):
    keras = _keras()
    keras.utils.set_random_seed(seed)
    init = keras.initializers.RandomNormal(stddev=0.5, seed=seed)
    layers = [keras.Input((3,))]
    layers += [keras.layers.Dense(w, activation=activation, bias_initializer=init)
               for w in widths]
    layers.append(keras.layers.Dense(2, bias_initializer=init))
    return keras.Sequential(layers)


def pool1d_model(seed):
    keras = _keras()
    keras.utils.set_random_seed(seed)
    init = keras.initializers.RandomNormal(stddev=0.5, seed=seed)
    return keras.Sequential([
        keras.Input((7, 2)), keras.layers.MaxPooling1D(2, padding="same"),
        keras.layers.Flatten(), keras.layers.Dense(3, bias_initializer=init),
        keras.layers.ReLU(), keras.layers.Dense(2, bias_initializer=init),
    ])


# --------------------------------------------------------------------------------------
# The slow reference: every layer as explicit connections, every rule as loops
# --------------------------------------------------------------------------------------


def _ref_relu(z):
    return z if z > 0 else 0.0


def _ref_relu_prime(z):
    return 1.0 if z > 0 else 0.0


REF_ACTIVATIONS = {"relu": (_ref_relu, _ref_relu_prime),
                   "tanh": (math.tanh, lambda z: 1.0 - math.tanh(z) ** 2)}


def _same(size, window, stride):
    out = -(-size // stride)
    return out, max((out - 1) * stride + window - size, 0) // 2


def reference_layers(model):
    """The model as a list of ("matrix", name, W (in, out), bias (out,), bias_index (out,)),
    ("max", windows: list of lists of input indices), ("nonlinearity", f, f') and flat
    (C-order) indices throughout; the final activation is dropped (logits)."""
    shape = tuple(model.inputs[0].shape[1:])
    layers = []
    keras_layers = list(model.layers)
    for number, layer in enumerate(keras_layers):
        kind = type(layer).__name__
        activation = getattr(layer, "activation", None)
        if kind == "Dense":
            kernel, bias = (np.asarray(w, np.float64) for w in layer.get_weights())
            layers.append(("matrix", layer.name, kernel, bias, list(range(len(bias)))))
            shape = (kernel.shape[1],)
        elif kind == "Conv2D":
            kernel, bias = (np.asarray(w, np.float64) for w in layer.get_weights())
            kh, kw, c, f = kernel.shape
            (h, w, _), (sh, sw) = shape, layer.strides
            if layer.padding == "same":
                (oh, top), (ow, left) = _same(h, kh, sh), _same(w, kw, sw)
            else:
                oh, ow, top, left = (h - kh) // sh + 1, (w - kw) // sw + 1, 0, 0
            matrix = np.zeros((h * w * c, oh * ow * f))
            for i in range(oh):
                for j in range(ow):
                    for di in range(kh):
                        for dj in range(kw):
                            y, x = i * sh + di - top, j * sw + dj - left
                            if not (0 <= y < h and 0 <= x < w):
                                continue
                            for ci in range(c):
                                for fi in range(f):
                                    matrix[(y * w + x) * c + ci, (i * ow + j) * f + fi] = \
                                        kernel[di, dj, ci, fi]
            layers.append(("matrix", layer.name, matrix, np.tile(bias, oh * ow),
                           [k % f for k in range(oh * ow * f)]))
            shape = (oh, ow, f)
        elif kind in ("MaxPooling2D", "MaxPooling1D"):
            if kind == "MaxPooling1D":
                (h, c), w = shape, 1
                (ph, sh), (pw, sw) = (layer.pool_size[0], layer.strides[0]), (1, 1)
            else:
                (h, w, c), (ph, pw), (sh, sw) = shape, layer.pool_size, layer.strides
            if layer.padding == "same":
                (oh, top), (ow, left) = _same(h, ph, sh), _same(w, pw, sw)
            else:
                oh, ow, top, left = (h - ph) // sh + 1, (w - pw) // sw + 1, 0, 0
            windows = []
            for i in range(oh):
                for j in range(ow):
                    for ci in range(c):
                        windows.append([(y * w + x) * c + ci
                                        for y in range(i * sh - top, i * sh - top + ph)
                                        for x in range(j * sw - left, j * sw - left + pw)
                                        if 0 <= y < h and 0 <= x < w])
            layers.append(("max", windows))
            shape = (oh, c) if kind == "MaxPooling1D" else (oh, ow, c)
        elif kind == "Flatten":
            shape = (int(np.prod(shape)),)
        elif kind == "ReLU":
            activation = None
            layers.append(("nonlinearity", *REF_ACTIVATIONS["relu"]))
        else:
            raise AssertionError(kind)
        name = getattr(activation, "__name__", "linear")
        if name in REF_ACTIVATIONS and number < len(keras_layers) - 1:
            layers.append(("nonlinearity", *REF_ACTIVATIONS[name]))
    return layers


def reference_forward(layers, x):
    """All values of one sample (flat float lists), by loops."""
    values = [list(map(float, np.ravel(x)))]
    for layer in layers:
        a = values[-1]
        if layer[0] == "matrix":
            _, _, w, bias, _ = layer
            values.append([sum(a[i] * w[i, j] for i in range(len(a))) + bias[j]
                           for j in range(w.shape[1])])
        elif layer[0] == "max":
            values.append([max(a[i] for i in window) for window in layer[1]])
        else:
            values.append([layer[1](z) for z in a])
    return values


def reference_blip(z, epsilon):
    return z + (epsilon if z >= 0 else -epsilon)


def reference_radial(values):
    """The essay's three cases, written out, plus the tie at 0."""
    top = max(values)
    if top > 0:
        total = sum(v for v in values if v > 0)
        return [v / total if v > 0 else 0.0 for v in values]
    if top < 0:
        total = sum(1.0 / v for v in values)
        return [1.0 / (v * total) for v in values]
    zeros = sum(1 for v in values if v == 0)
    return [1.0 / zeros if v == 0 else 0.0 for v in values]


# The rules, one small function each, by loops over floats. A matrix rule takes the layer's
# inputs a, outputs b, kernel w, biases and the signal reaching the outputs, and returns
# the signal reaching each input and each output's bias share; a maximum rule takes one
# pooling window's inputs and returns the share of its signal each gets; a nonlinearity
# rule takes one unit's input z, output, signal s, the function f and its derivative, and
# (z, output) at the baseline (None without one), and returns the signal reaching z.


def matrix_gradient(a, b, w, bias, signal, epsilon):
    """The gradient: each input gets w times the signal, each bias its value times it."""
    new = [0.0] * len(a)
    for j in range(w.shape[1]):
        for i in range(len(a)):
            new[i] += w[i, j] * signal[j]
    return new, [bias[j] * signal[j] for j in range(w.shape[1])]


def matrix_normalized(a, b, w, bias, signal, epsilon):
    """LRP's rule: input i gets a_i w_ij / (z_j ± epsilon) of output j's signal, the bias
    b_j / (z_j ± epsilon); an output whose denominator is 0 passes nothing on."""
    new, shares = [0.0] * len(a), [0.0] * w.shape[1]
    for j in range(w.shape[1]):
        denominator = reference_blip(b[j], epsilon)
        if denominator == 0:
            continue
        for i in range(len(a)):
            new[i] += a[i] * w[i, j] / denominator * signal[j]
        shares[j] = bias[j] / denominator * signal[j]
    return new, shares


def maximum_gradient(inputs):
    """All of the signal to the (first) largest input."""
    weights = [0.0] * len(inputs)
    weights[inputs.index(max(inputs))] = 1.0
    return weights


def nonlinearity_ignore(z, out, s, f, fprime, base):
    return s


def nonlinearity_gradient(z, out, s, f, fprime, base):
    return fprime(z) * s


def nonlinearity_slope(z, out, s, f, fprime, base):
    """out / z, the secant from the origin (the derivative at z = 0)."""
    return (out / z if z != 0 else fprime(z)) * s


def nonlinearity_repeat(z, out, s, f, fprime, base):
    """The deconvnet: the function applied to the signal itself."""
    return f(s)


def nonlinearity_rescale(z, out, s, f, fprime, base):
    """The secant from the baseline (the derivative where z is at the baseline)."""
    z_base, out_base = base
    dz = z - z_base
    return ((out - out_base) / dz if abs(dz) > 1e-12 else fprime(z)) * s


REFERENCE_RULES = {
    "matrix": {"gradient": matrix_gradient, "normalized": matrix_normalized},
    "maximum": {"gradient": maximum_gradient, "radial": reference_radial},
    "nonlinearity": {"ignore": nonlinearity_ignore, "gradient": nonlinearity_gradient,
                     "slope": nonlinearity_slope, "repeat": nonlinearity_repeat,
                     "rescale": nonlinearity_rescale},
}

#: What the input's signal is multiplied by at the end, from its value v and the baseline's
#: u; the bias inputs are the constant 1 at both, so they keep 1, 1 and 0 of theirs.
REFERENCE_ENDS = {"signal": lambda v, u: 1.0, "times_input": lambda v, u: v,
                  "times_difference": lambda v, u: v - u}


def reference_explain(layers, x, rules, start, end, output_weights, baseline=None):
    """One sample, every rule by loops. rules: (maximum, matrix, epsilon, nonlinearity)."""
    max_rule, matrix_rule, epsilon, nonlinearity_rule = rules
    matrix = REFERENCE_RULES["matrix"][matrix_rule]
    maximum = REFERENCE_RULES["maximum"][max_rule]
    nonlinearity = REFERENCE_RULES["nonlinearity"][nonlinearity_rule]
    values = reference_forward(layers, x)
    logits = values[-1]
    y = sum(c * v for c, v in zip(output_weights, logits))
    base = None
    if baseline is not None:
        base = reference_forward(layers, baseline)
        y -= sum(c * v for c, v in zip(output_weights, base[-1]))
    # The explained output as one more matrix layer (the folded last layer).
    _, name, w, bias, _ = layers[-1]
    folded_w = w @ np.asarray(output_weights)
    folded_b = float(bias @ np.asarray(output_weights))
    layers = layers[:-1] + [("matrix", name, folded_w[:, None], np.array([folded_b]), [0])]
    values = values[:-1] + [[sum(values[-2][i] * folded_w[i] for i in range(len(folded_w)))
                             + folded_b]]
    if base is not None:
        base = base[:-1] + [[sum(base[-2][i] * folded_w[i] for i in range(len(folded_w)))
                             + folded_b]]
    signal = [1.0] if start == "one" else [y]
    bias_relevance = {}
    for index in range(len(layers) - 1, -1, -1):
        layer, a, b = layers[index], values[index], values[index + 1]
        if layer[0] == "matrix":
            _, lname, w, bvec, bias_index = layer
            new, each = matrix(a, b, w, bvec, signal, epsilon)
            shares = [0.0] * (max(bias_index) + 1)
            for j, share in enumerate(each):
                shares[bias_index[j]] += share
            bias_relevance[lname] = shares
        elif layer[0] == "max":
            new = [0.0] * len(a)
            for window, out_signal in zip(layer[1], signal):
                for i, share in zip(window, maximum([a[i] for i in window])):
                    new[i] += share * out_signal
        else:
            _, f, fprime = layer
            new = [nonlinearity(z, out, s, f, fprime,
                                None if base is None else (base[index][i], base[index + 1][i]))
                   for i, (z, out, s) in enumerate(zip(a, b, signal))]
        signal = new
    ending = REFERENCE_ENDS[end]
    u = [None] * len(signal) if baseline is None else list(np.ravel(baseline))
    signal = [s * ending(v, w) for s, v, w in zip(signal, map(float, np.ravel(x)), u)]
    bias_relevance = {k: [share * ending(1.0, 1.0) for share in v]
                      for k, v in bias_relevance.items()}
    return np.array(signal), bias_relevance, y


COMPOSITES = {
    "gradient": (("gradient", "gradient", 0.0, "gradient"), "one", "signal"),
    "gradient_x_input": (("gradient", "gradient", 0.0, "gradient"), "one", "times_input"),
    "lrp_0": (("gradient", "normalized", 0.0, "ignore"), "output", "signal"),
    "lrp_epsilon": (("gradient", "normalized", 0.01, "ignore"), "output", "signal"),
    "deconvnet": (("gradient", "gradient", 0.0, "repeat"), "one", "signal"),
    "rescale": (("gradient", "gradient", 0.0, "rescale"), "one", "times_difference"),
    # Not presets: the radial maximum, the slope rule (LRP-0 in Q form), epsilon > 0 in
    # the Q form, and a radial deconvnet.
    "radial_lrp": (("radial", "normalized", 0.0, "ignore"), "output", "signal"),
    "q_form": (("gradient", "gradient", 0.0, "slope"), "one", "times_input"),
    "radial_slope": (("radial", "normalized", 0.5, "slope"), "one", "times_input"),
    "radial_repeat": (("radial", "gradient", 0.0, "repeat"), "output", "signal"),
}


def make_composite(name):
    (maximum, matrix, epsilon, nonlinearity), start, end = COMPOSITES[name]
    matrix_rule = rel.rule("matrix", matrix, **({"epsilon": epsilon}
                                                if matrix == "normalized" else {}))
    return rel.Composite(rel.rule("maximum", maximum), matrix_rule,
                         rel.rule("nonlinearity", nonlinearity), start, end, name)


@pytest.mark.parametrize("builder, seed, shape", [
    (lambda s: conv_model(s, "same"), 0, (6, 5, 2)),
    (lambda s: conv_model(s, "valid", "tanh"), 1, (6, 5, 2)),
    (lambda s: dense_model(s, "tanh"), 2, (3,)),
    (lambda s: dense_model(s, "relu"), 3, (3,)),
    (pool1d_model, 4, (7, 2)),
])
def test_every_rule_matches_the_loop_reference(builder, seed, shape):
    model = builder(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, *shape))
    baseline = rng.normal(scale=0.3, size=shape)
    layers = reference_layers(model)
    network = rel.network_from_model(model)
    for name, ((_, _, _, _), start, end) in COMPOSITES.items():
        composite = make_composite(name)
        for output in (1, (0, 1)):
            weights = rel.output_weights(output, network.n_outputs, len(x))
            ours = rel.propagate(network, x, composite, output=output, baseline=baseline)
            for k in range(len(x)):
                expected, expected_bias, y = reference_explain(
                    layers, x[k], COMPOSITES[name][0], start, end, weights,
                    baseline if composite.needs_baseline else None)
                np.testing.assert_allclose(ours.input[k].ravel(), expected, rtol=1e-9,
                                           atol=1e-10, err_msg=f"{name} input")
                np.testing.assert_allclose(ours.output[k], y, rtol=1e-12, atol=1e-12)
                for layer_name, values in expected_bias.items():
                    np.testing.assert_allclose(ours.bias[layer_name][k], values, rtol=1e-9,
                                               atol=1e-10, err_msg=f"{name} bias")


def test_forward_and_gradient_match_keras_and_tensorflow():
    import tensorflow as tf

    model = conv_model(5)
    x = np.random.default_rng(5).normal(size=(4, 6, 5, 2)).astype(np.float32)
    logits_model = _keras().Sequential(model.layers[:-1])
    w, b = model.layers[-1].get_weights()
    network = rel.network_from_model(model)
    np.testing.assert_allclose(network(x), logits_model(x).numpy() @ w + b, atol=1e-5)
    tensor = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        logits = logits_model(tensor) @ w + b
        difference = logits[:, 2] - logits[:, 0]
    expected = tape.gradient(difference, tensor).numpy()
    ours = rel.propagate(model, x, "gradient", output=(2, 0)).input
    np.testing.assert_allclose(ours, expected, atol=1e-5)


def test_chunked_batches_equal_one_pass(monkeypatch):
    model = conv_model(6)
    rng = np.random.default_rng(6)
    x = rng.normal(size=(7, 6, 5, 2))
    classes = rng.integers(0, 3, size=7)
    whole = rel.propagate(model, x, "lrp_epsilon", output=classes)
    monkeypatch.setattr(rel, "CHUNK_VALUES", 1)   # one sample per chunk
    chunked = rel.propagate(model, x, "lrp_epsilon", output=classes)
    np.testing.assert_allclose(chunked.input, whole.input, rtol=1e-12, atol=1e-14)
    for name in whole.bias:
        np.testing.assert_allclose(chunked.bias[name], whole.bias[name], rtol=1e-12,
                                   atol=1e-14)
    single = [rel.propagate(model, x[k:k + 1], "lrp_epsilon", output=int(classes[k])).input
              for k in range(7)]
    np.testing.assert_allclose(np.concatenate(single), whole.input, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------------------
# Properties over random networks built from steps (fast: no Keras)
# --------------------------------------------------------------------------------------


def random_relu_network(seed, pooled):
    """Dense ReLU nets, or (pooled) Conv2D -> ReLU -> MaxPooling2D -> Flatten -> Dense ->
    ReLU -> Dense, all with biases, weights drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    relu = rel.ACTIVATIONS["relu"]
    if pooled:
        steps = [rel.Conv2D("conv", rng.normal(size=(2, 2, 1, 2)), rng.normal(size=2),
                            padding="same"),
                 rel.Nonlinearity("conv", "relu", *relu),
                 rel.Maximum("pool", (2, 2), (2, 2), "same"),
                 rel.Reshape("flatten"),
                 rel.Dense("dense", rng.normal(size=(8, 4)), rng.normal(size=4)),
                 rel.Nonlinearity("dense", "relu", *relu),
                 rel.Dense("output", rng.normal(size=(4, 3)), rng.normal(size=3))]
        return rel.Network(steps, (4, 3, 1), 3), rng
    widths = [2, *rng.integers(1, 7, size=rng.integers(1, 4)), 3]
    steps = []
    for number, (d, u) in enumerate(zip(widths[:-1], widths[1:])):
        steps.append(rel.Dense(f"layer{number}", rng.normal(size=(d, u)),
                               rng.normal(size=u)))
        steps.append(rel.Nonlinearity(f"layer{number}", "relu", *relu))
    return rel.Network(steps[:-1], (2,), 3), rng


network_seeds = st.integers(0, 2**31 - 1)


@settings(max_examples=25, deadline=None)
@given(seed=network_seeds, pooled=st.booleans(), shared=st.booleans())
def test_conservation_with_bias_relevance(seed, pooled, shared):
    network, rng = random_relu_network(seed, pooled)
    x = rng.normal(size=(5, *network.input_shape))
    baseline = rng.normal(size=network.input_shape)
    for name in ("lrp_0", "gradient_x_input", "rescale"):
        for output in (0, (2, 1)):
            explanation = rel.propagate(network, x, name, output=output, baseline=baseline,
                                        bias="shared" if shared else "each")
            scale = 1.0 + np.abs(explanation.output)
            if name == "rescale" and pooled:
                continue  # the maximum's winner may differ between input and baseline
            assert np.all(np.abs(explanation.conservation_error) <= 1e-12 * scale * 10), name


@settings(max_examples=25, deadline=None)
@given(seed=network_seeds, pooled=st.booleans())
def test_lrp_0_r_form_equals_q_form_equals_gradient_times_input(seed, pooled):
    network, rng = random_relu_network(seed, pooled)
    x = rng.normal(size=(5, *network.input_shape))
    r_form = rel.propagate(network, x, "lrp_0", output=1)
    q_form = rel.propagate(network, x, rel.Composite(
        rel.MaximumGradient(), rel.MatrixGradient(), rel.Slope(), "one", "times_input"),
        output=1)
    gradient_x_input = rel.propagate(network, x, "gradient_x_input", output=1)
    for other in (q_form, gradient_x_input):
        np.testing.assert_allclose(r_form.input, other.input, rtol=1e-9, atol=1e-12)
        for name in r_form.bias:
            np.testing.assert_allclose(r_form.bias[name], other.bias[name], rtol=1e-9,
                                       atol=1e-12)


nonzero = st.floats(0.05, 20.0).flatmap(lambda v: st.sampled_from([v, -v]))


@settings(max_examples=25, deadline=None)
@given(alpha=nonzero, a=st.lists(nonzero, min_size=1, max_size=6), signal=nonzero)
def test_scaling_table_entries(alpha, a, signal):
    a = np.asarray(a)
    signal = np.full(len(a), signal)
    for nonlinearity in ("gradient", "slope", "repeat", "rescale"):
        as_matrix, as_nonlinearity = rel.scale_both_ways(
            rel.MatrixGradient(), rel.rule("nonlinearity", nonlinearity), alpha, a, signal)
        np.testing.assert_allclose(as_matrix, alpha * signal, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(as_nonlinearity, alpha * signal, rtol=1e-12, atol=1e-12)
    as_matrix, as_nonlinearity = rel.scale_both_ways(
        rel.MatrixNormalized(0.0), rel.Ignore(), alpha, a, signal)
    np.testing.assert_allclose(as_matrix, signal, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(as_nonlinearity, signal, rtol=1e-12, atol=1e-12)
    if abs(alpha - 1) > 1e-3:
        mixed, ignored = rel.scale_both_ways(rel.MatrixGradient(), rel.Ignore(), alpha, a,
                                             signal)
        assert not np.allclose(mixed, ignored, rtol=1e-6, atol=0)


values = st.lists(st.one_of(st.just(0.0), st.floats(-1e6, -1e-6), st.floats(1e-6, 1e6),
                            st.just(-np.inf)), min_size=1, max_size=8).filter(
    lambda v: any(np.isfinite(v)))


@settings(max_examples=25, deadline=None)
@given(values=values)
def test_radial_weights_are_non_negative_and_sum_to_one(values):
    weights = rel.MaximumRadial().weights(np.asarray(values)[None])[0]
    assert np.all(weights >= 0)
    assert math.isclose(weights.sum(), 1.0, rel_tol=1e-12)
    finite = [v for v in values if np.isfinite(v)]
    np.testing.assert_allclose(weights[np.isfinite(values)], reference_radial(finite),
                               rtol=1e-9, atol=1e-15)


def test_radial_three_cases():
    radial = rel.MaximumRadial()
    np.testing.assert_allclose(radial.weights(np.array([[3.0, -1.0, 1.0]])), [[0.75, 0, 0.25]])
    np.testing.assert_allclose(radial.weights(np.array([[-1.0, -2.0]])), [[2 / 3, 1 / 3]])
    np.testing.assert_allclose(radial.weights(np.array([[0.0, -2.0, 0.0]])), [[0.5, 0, 0.5]])
    np.testing.assert_allclose(radial.weights(np.array([[5.0]])), [[1.0]])


def test_blip_sign_of_zero_is_plus():
    np.testing.assert_allclose(rel.blip([-2.0, 0.0, 3.0], 0.1), [-2.1, 0.1, 3.1])


def test_essay_tables():
    table = rel.scaling_table(np.random.default_rng(0))
    agree = {(r["matrix rule"], r["nonlinearity rule"]) for _, r in table.iterrows()
             if r["agree"]}
    assert agree == {("gradient", "gradient"), ("gradient", "slope"), ("gradient", "repeat"),
                     ("gradient", "rescale"), ("normalized", "ignore")}
    table = rel.max_constants_table().set_index(["maximum rule", "nonlinearity rule"])
    assert (table.loc[("gradient", "gradient")].iloc[:3] == 1.0).all()
    assert table.loc[("radial", "slope"), "agree, b > 0"] == 1.0
    # they agree there only at a = 0, where both give 1
    assert table.loc[("radial", "slope"), "agree, c < a <= 0"] < 0.02
    assert not table.loc[("radial", "slope"), "max(a,c,c) = max(a,c)"]
    pairs = np.array([[-1.0, -2.0], [3.0, 1.0]])
    table = rel.max_constructions_table(pairs, softness=(0.05,))
    soft = table[table.construction == "soft max, s=0.05"]
    relu = table[table.construction == "a + relu(b - a)"]
    np.testing.assert_allclose(soft[["R(a)", "R(b)", "R(biases)"]].to_numpy(),
                               [[-1, -1, 1], [3, 0, 0]], atol=1e-6)
    np.testing.assert_allclose(relu[["R(a)", "R(b)", "R(biases)"]].to_numpy(),
                               [[-1, 0, 0], [3, 0, 0]], atol=1e-12)


def test_perturbation_and_randomisation_helpers():
    model = dense_model(7, "tanh")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(6, 3))
    relevance = rel.propagate(model, x, "gradient_x_input", output=1).input
    curve = rel.perturbation_curve(model, x, relevance, 1, np.zeros_like(x), 3)
    assert curve.shape == (4,) and curve[0] == 0.0
    scores = rel.network_from_model(model).explaining(np.eye(2)[1])(np.zeros_like(x))
    assert math.isclose(curve[-1], float(np.mean(
        rel.network_from_model(model).explaining(np.eye(2)[1])(x) - scores)), rel_tol=1e-9)
    assert rel.aopc(curve) == pytest.approx(curve.mean())
    copy = rel.randomized_copy(model, 1, rng)
    old, new = model.get_weights(), copy.get_weights()
    for before, after in zip(old[:-2], new[:-2]):
        np.testing.assert_array_equal(before, after)
    assert not np.array_equal(old[-2], new[-2]) and not np.any(new[-1])
    np.testing.assert_allclose(rel.rank_correlation(relevance, 2 * relevance), 1.0)


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------


def test_unsupported_layer_is_named_with_the_supported_ones():
    keras = _keras()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4),
                              keras.layers.BatchNormalization(name="norm"),
                              keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"layer 'norm' \(BatchNormalization\) is not "
                                         r"supported; supported layers: Dense, Conv2D"):
        rel.propagate(model, np.zeros((1, 3)))
    hidden_sigmoid = keras.Sequential([keras.Input((3,)),
                                       keras.layers.Dense(4, activation="sigmoid", name="h"),
                                       keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="layer 'h' uses the activation 'sigmoid'"):
        rel.propagate(hidden_sigmoid, np.zeros((1, 3)))


def test_masked_model_is_explained_with_every_node_on():
    from toyviz import models

    masked = models.masked_circle_model(4)
    x = np.random.default_rng(0).normal(size=(5, 2))
    for preset in ("lrp_0", "gradient_x_input"):
        np.testing.assert_allclose(rel.propagate(masked, x, preset).input,
                                   rel.propagate(models.unmasked(masked), x, preset).input,
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("call, match", [
    (lambda m, x: rel.propagate(m, x, "lrp_epsilon", epsilon=-0.1), "epsilon must be >= 0"),
    (lambda m, x: rel.MatrixNormalized(-1.0), "epsilon must be >= 0"),
    (lambda m, x: rel.preset("lrp_epsilon", epsilon=-1e-3), "epsilon must be >= 0"),
    (lambda m, x: rel.blip([1.0], -1.0), "epsilon must be >= 0"),
    (lambda m, x: rel.propagate(m, x, "rescale", baseline=np.zeros(4)),
     r"baseline must have shape \(3,\)"),
    (lambda m, x: rel.propagate(m, x, "rescale"), "baseline must be given"),
    (lambda m, x: rel.propagate(m, x, output=2), "output must be <= 1"),
    (lambda m, x: rel.propagate(m, x, output=-1), "output must be >= 0"),
    (lambda m, x: rel.propagate(m, x, output=(0, 5)), r"output\[1\] must be <= 1"),
    (lambda m, x: rel.propagate(m, x, output=(1, 1)), "output must name two different"),
    (lambda m, x: rel.propagate(m, x, output=np.array([0, 3])), "output must hold logit"),
    (lambda m, x: rel.propagate(m, x, output=np.array([0])), r"output must have shape \(2,\)"),
    (lambda m, x: rel.propagate(m, x, "lrp-0"), "composite must be a Composite or one of"),
    (lambda m, x: rel.preset("smoothgrad"), "name must be one of the presets"),
    (lambda m, x: rel.propagate(m, x, bias="some"), "bias must be one of"),
    (lambda m, x: rel.propagate(m, np.zeros((2, 4))), r"x must have shape \(any, 3\)"),
    (lambda m, x: rel.rule("matrix", "radial"), "name must be one of"),
])
def test_bad_input_names_the_parameter(call, match):
    model = dense_model(8)
    with pytest.raises(ValueError, match=match):
        call(model, np.zeros((2, 3)))


def test_bad_types_name_the_parameter():
    model = dense_model(8)
    with pytest.raises(TypeError, match="composite must be a Composite"):
        rel.propagate(model, np.zeros((1, 3)), composite=3)
    with pytest.raises(TypeError, match="output must be an int"):
        rel.propagate(model, np.zeros((1, 3)), output=1.5)
    with pytest.raises(TypeError, match="matrix must be a matrix rule"):
        rel.Composite(rel.MaximumGradient(), rel.Ignore(), rel.Ignore())
    with pytest.raises(TypeError, match="model must be a keras.Model"):
        rel.propagate("model.keras", np.zeros((1, 3)))


# --------------------------------------------------------------------------------------
# The digits loader
# --------------------------------------------------------------------------------------


def test_digits():
    x, y = data.digits()
    assert x.shape == (1797, 8, 8, 1) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0 and set(np.unique(y)) == set(range(10))
    shuffled, labels = data.digits(np.random.default_rng(0))
    again, _ = data.digits(np.random.default_rng(0))
    np.testing.assert_array_equal(shuffled, again)
    order = np.random.default_rng(0).permutation(1797)
    np.testing.assert_array_equal(shuffled, x[order])
    np.testing.assert_array_equal(labels, y[order])
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        data.digits(0)


def test_every_activation_matches_keras_forward_and_tensorflow_gradient():
    import tensorflow as tf

    keras = _keras()
    keras.utils.set_random_seed(9)
    layers = [keras.Input((3,))]
    for name in sorted(rel.ACTIVATIONS):
        layers.append(keras.layers.Dense(4, activation=name))
    layers += [keras.layers.Dense(4), keras.layers.ReLU(max_value=1.5, negative_slope=0.1),
               keras.layers.Dense(4), keras.layers.LeakyReLU(negative_slope=0.3),
               keras.layers.Dense(4), keras.layers.ELU(alpha=0.7),
               keras.layers.Dense(4), keras.layers.Activation("tanh"),
               keras.layers.Dense(2), keras.layers.Activation("softmax")]
    model = keras.Sequential(layers)
    x = np.random.default_rng(9).normal(scale=3.0, size=(16, 3)).astype(np.float32)
    logits_model = keras.Sequential(model.layers[:-1])
    network = rel.network_from_model(model)
    np.testing.assert_allclose(network(x), logits_model(x).numpy(), rtol=1e-4, atol=1e-5)
    tensor = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        logits = logits_model(tensor)
        difference = logits[:, 0] - logits[:, 1]
    expected = tape.gradient(difference, tensor).numpy()
    assert np.abs(expected).max() > 1e-3  # the test would be empty if every unit saturated
    ours = rel.propagate(network, x, "gradient", output=(0, 1)).input
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-5)


# --------------------------------------------------------------------------------------
# Chapter 2's claims, checked here
# --------------------------------------------------------------------------------------

Q_FORM = rel.Composite(rel.MaximumGradient(), rel.MatrixGradient(), rel.Slope(), "one",
                       "times_input")


@settings(max_examples=25, deadline=None)
@given(seed=network_seeds, pooled=st.booleans())
def test_conserved_total_is_the_output_at_every_layer(seed, pooled):
    network, rng = random_relu_network(seed, pooled)
    x = rng.normal(size=(5, *network.input_shape))
    for composite in ("lrp_0", Q_FORM, "gradient_x_input"):
        totals = rel.layer_totals(network, x, composite, output=(2, 1))
        assert totals.shape[1] == len(network.steps) + 1
        scale = 1.0 + np.abs(totals["output"].to_numpy())[:, None]
        assert np.all(np.abs(totals.to_numpy() - totals[["output"]].to_numpy()) <= 1e-11 * scale)
    if not pooled:
        totals = rel.layer_totals(network, x, "rescale", output=1,
                                  baseline=rng.normal(size=network.input_shape))
        output = np.broadcast_to(totals[["output"]].to_numpy(), totals.shape)
        np.testing.assert_allclose(totals.to_numpy(), output, rtol=1e-9, atol=1e-11)


@settings(max_examples=25, deadline=None)
@given(seed=network_seeds, pooled=st.booleans())
def test_input_relevance_of_lrp_0_is_gradient_times_input_whatever_the_biases_get(seed, pooled):
    # the input relevance does not depend on whether the bias relevance is kept
    network, rng = random_relu_network(seed, pooled)
    x = rng.normal(size=(5, *network.input_shape))
    for bias in ("each", "shared"):
        lrp = rel.propagate(network, x, "lrp_0", output=0, bias=bias)
        gxi = rel.propagate(network, x, "gradient_x_input", output=0, bias=bias)
        np.testing.assert_allclose(lrp.input, gxi.input, rtol=1e-9, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=network_seeds, pooled=st.booleans())
def test_rescale_is_antisymmetric_in_input_and_baseline(seed, pooled):
    network, rng = random_relu_network(seed, pooled)
    x = rng.normal(size=(4, *network.input_shape))
    x_bar = rng.normal(size=(4, *network.input_shape))
    forward = rel.propagate(network, x, "rescale", output=1, baseline=x_bar)
    backward = rel.propagate(network, x_bar, "rescale", output=1, baseline=x)
    np.testing.assert_allclose(forward.output, -backward.output, rtol=1e-12, atol=1e-12)
    if not pooled:  # with max pooling the two passes may follow different winners
        np.testing.assert_allclose(forward.input, -backward.input, rtol=1e-9, atol=1e-12)


def test_rescale_through_a_maximum_loses_the_baseline_winners_gap():
    # y = max(x1..x4): rescale passes x_w - x_bar_w for the input's winner w, while y moved
    # by x_w - x_bar_v (v the baseline's winner): the error is exactly x_bar_w - x_bar_v.
    network = rel.Network([rel.Maximum("pool", (1, 4), (1, 4), "valid"), rel.Reshape("flat"),
                           rel.Dense("out", [[1.0]])], (1, 4, 1), 1)
    x = np.array([3.0, 1.0, 0.0, 2.0]).reshape(1, 1, 4, 1)
    same_winner = np.array([1.0, 0.5, 0.0, 0.2]).reshape(1, 1, 4, 1)
    other_winner = np.array([0.0, 0.5, 0.0, 2.5]).reshape(1, 1, 4, 1)
    kept = rel.propagate(network, x, "rescale", baseline=same_winner)
    assert abs(kept.conservation_error[0]) < 1e-12
    lost = rel.propagate(network, x, "rescale", baseline=other_winner)
    assert lost.conservation_error[0] == pytest.approx(0.0 - 2.5)
    assert lost.input[0].ravel().tolist() == [3.0, 0.0, 0.0, 0.0]


def test_inputs_only_rule_conserves_without_bias_relevance_and_blows_up_near_zero():
    network = rel.Network([rel.Dense("layer", [[1.0], [1.0]], [2.0])], (2,), 1)
    composite = rel.Composite(rel.MaximumGradient(), rel.MatrixInputsOnly(0.0), rel.Ignore(),
                              "output", "signal")
    x = np.array([[1.0, -0.999], [0.5, 0.25]])
    explanation = rel.propagate(network, x, composite)
    np.testing.assert_allclose(explanation.input_total, explanation.output, rtol=1e-9)
    assert np.all(explanation.bias_total == 0)
    assert np.abs(explanation.input[0]).max() > 1000   # 2.001 / 0.001, times the inputs
    blamed = rel.propagate(network, x, "lrp_0")
    assert np.abs(blamed.input[0]).max() < 2
    with pytest.raises(ValueError, match="epsilon"):
        rel.MatrixInputsOnly(-1.0)


def test_the_two_maximum_constructions_agree_in_the_limit_unless_all_inputs_are_negative():
    pairs = np.array([[0.5, 0.4], [2.0, -1.0], [-1.0, 0.3], [-1.0, -2.0], [-0.5, -0.4]])
    floor = rel.softness_floor(pairs)
    assert np.all(np.isfinite(floor)) and np.all(floor > 0)
    gap = rel.max_constructions_gap(pairs, floor)
    assert np.all(gap[:3] < 1e-9) and np.all(gap[3:] > 0.1)
    # at a fixed softness, a near tie still splits: the gap falls like exp(-|a - b| / s)
    assert rel.max_constructions_gap(pairs[:1], 0.05)[0] > 0.05
    with pytest.raises(ValueError, match="softness"):
        rel.max_constructions_gap(pairs, 0.0)


# --------------------------------------------------------------------------------------
# The package layout: the split kept every name where the chapters import it
# --------------------------------------------------------------------------------------

SUBMODULES = [f"toyviz.relevance.{name}" for name in
              ("rules", "composites", "propagation", "consistency", "evaluation")]

#: The public names of toyviz/relevance.py before it became a package (commit d2387b7^).
NAMES_BEFORE_THE_SPLIT = (
    "ACTIVATIONS", "CHUNK_VALUES", "Composite", "Conv2D", "Dense", "ENDS", "Explanation",
    "Folded", "Ignore", "LAYER_TYPES", "Matrix", "MatrixGradient", "MatrixInputsOnly",
    "MatrixNormalized", "MatrixRule", "Maximum", "MaximumGradient", "MaximumRadial",
    "MaximumRule", "Network", "Nonlinearity", "NonlinearityGradient", "NonlinearityRule",
    "OUTPUT_ACTIVATIONS", "PRESETS", "PRESET_LABELS", "RULES", "Repeat", "Rescale", "Reshape",
    "Rule", "STARTS", "SUPPORTED_LAYERS", "Slope", "Step", "aopc", "blip", "layer_totals",
    "max_constants_table", "max_constructions_gap", "max_constructions_table",
    "max_with_constant", "network_from_model", "output_weights", "perturbation_curve",
    "preset", "propagate", "randomized_copy", "rank_correlation", "register",
    "relu_max_network", "rule", "rule_sweep", "scale_both_ways", "scaling_table",
    "softmax_max_network", "softness_floor")

#: Names added since: chapter 2's rule comparison over several networks (issue 24).
NAMES_ADDED = ("PERTURBATIONS", "RANDOM_ORDER", "RuleComparison", "bias_treatments", "compare_rules",
               "digit_classifier", "over_networks")


def test_every_name_of_the_old_module_is_still_importable_from_the_package():
    missing = [name for name in NAMES_BEFORE_THE_SPLIT if not hasattr(rel, name)]
    assert not missing, f"toyviz.relevance lost {missing}"
    assert sorted(rel.__all__) == sorted(NAMES_BEFORE_THE_SPLIT + NAMES_ADDED)
    for name in NAMES_BEFORE_THE_SPLIT:
        value = getattr(rel, name)
        if hasattr(network_module, name):   # re-exported: the very object of toyviz.network
            assert value is getattr(network_module, name), name
        elif callable(value):           # defined in one of the package's modules
            assert value.__module__ in SUBMODULES, (name, value.__module__)
        else:                           # a constant of one of them
            assert any(vars(sys.modules[module]).get(name) is value
                       for module in SUBMODULES), name


def test_importing_the_package_loads_neither_keras_nor_scipy_stats():
    code = ("import sys, toyviz.relevance\n"
            "assert not {'tensorflow', 'keras', 'scipy.stats'} & set(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- bad input, finished (issue 21, part 5) ---------------------------------------------------


def test_randomized_copy_refuses_unbuilt_models_and_nan_weights():
    keras = _keras()
    unbuilt = keras.Sequential([keras.layers.Dense(3), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="model is not built"):
        rel.randomized_copy(unbuilt, 1, np.random.default_rng(0))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, name="first"),
                              keras.layers.Dense(2, name="second")])
    weights = model.get_weights()
    weights[1][0] = np.nan
    model.set_weights(weights)
    with pytest.raises(ValueError, match="model's layer 'first' has 1 non-finite value.* "
                                         "in its bias"):
        rel.randomized_copy(model, 1, np.random.default_rng(0))


@pytest.mark.parametrize("epsilon", [np.nan, np.inf, None, -0.1])
def test_rule_weights_refuse_nan_inf_and_none(epsilon):
    error = TypeError if epsilon is None else ValueError
    for make in (lambda: rel.MatrixNormalized(epsilon), lambda: rel.preset("lrp_epsilon",
                                                                            epsilon),
                 lambda: rel.rule("matrix", "normalized", epsilon=epsilon),
                 lambda: rel.blip(np.ones(2), epsilon)):
        with pytest.raises(error, match="epsilon must be"):
            make()


# --------------------------------------------------------------------------------------
# The rule comparison over networks (chapter 2, §Which rule is better?)
# --------------------------------------------------------------------------------------


def test_compare_rules_equals_the_helpers_one_by_one():
    """compare_rules against a plain loop over perturbation_curve, aopc, randomized_copy and
    rank_correlation, with the same draws in the same order."""
    model = dense_model(3)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(7, 3))
    output, baseline, presets = 1, x.mean(axis=0), ["gradient", "lrp_0", "rescale"]
    comparison = rel.compare_rules(model, x, output, baseline, np.random.default_rng(5),
                                   steps=2, presets=presets)
    draws = np.random.default_rng(5)
    maps = {rel.PRESET_LABELS[name]: rel.propagate(model, x, name, output=output,
                                                   baseline=baseline).input for name in presets}
    noise = draws.uniform(0.0, 1.0, size=x.shape)
    orders = {**maps, rel.RANDOM_ORDER: draws.random(size=x.shape)}
    fills = {"noise": noise, "zero": np.zeros_like(x)}
    for label, order in orders.items():
        for column, fill, absolute in rel.PERTURBATIONS:
            curve = rel.perturbation_curve(model, x, np.abs(order) if absolute else order,
                                           output, fills[fill], 2)
            assert comparison.aopc.loc[label, column] == pytest.approx(rel.aopc(curve), abs=1e-12)
            if column == "noise, signed":
                np.testing.assert_allclose(comparison.curves[label], curve, atol=1e-12)
    weighted = [layer for layer in model.layers if layer.get_weights()]
    assert len(comparison.randomisation) == len(weighted)
    for depth, (_, row) in enumerate(comparison.randomisation.iterrows(), 1):
        scrambled = rel.randomized_copy(model, depth, draws)
        for name in presets:
            after = rel.propagate(scrambled, x, name, output=output, baseline=baseline).input
            assert row[rel.PRESET_LABELS[name]] == pytest.approx(
                float(np.nanmean(rel.rank_correlation(maps[rel.PRESET_LABELS[name]], after))))
    gains = comparison.gains
    assert rel.RANDOM_ORDER not in gains.index
    np.testing.assert_allclose(gains.to_numpy(), comparison.aopc.drop(index=rel.RANDOM_ORDER).to_numpy()
                               - comparison.aopc.loc[rel.RANDOM_ORDER].to_numpy())
    values = comparison.values()
    assert values["gain_lrp_0"] == gains.loc["LRP-0", "noise, signed"]
    assert values["kept_rescale"] == comparison.kept["rescale (baseline)"]
    assert values["ink_gradient_zero_fill_R"] == gains.loc["gradient", "zero fill, |R|"]
    with pytest.raises(ValueError, match="presets must be"):
        rel.compare_rules(model, x, output, baseline, draws, steps=2, presets=["no such preset"])


def fake_comparison(gain, kept):
    """A RuleComparison whose noise, signed gains and final rank correlations are given."""
    labels = [rel.PRESET_LABELS[name] for name in ("gradient", "lrp_0")]
    columns = [column for column, _, _ in rel.PERTURBATIONS]
    aopc = pd.DataFrame(0.0, index=[*labels, rel.RANDOM_ORDER], columns=columns)
    aopc.loc[labels, "noise, signed"] = gain
    randomisation = pd.DataFrame([kept], columns=labels, index=["top"])
    return rel.RuleComparison(aopc, {}, randomisation)


@settings(max_examples=25, deadline=None)
@given(gains=st.lists(st.tuples(st.floats(-5, 5), st.floats(-5, 5)), min_size=2, max_size=6),
       kept=st.floats(0, 1))
def test_over_networks_gives_the_mean_and_t_interval_of_every_network(gains, kept):
    from toyviz import intervals

    comparisons = [fake_comparison(list(pair), [kept, kept / 2]) for pair in gains]
    summary = rel.over_networks(comparisons)
    for column, label in enumerate(summary.index):
        values = [pair[column] for pair in gains]
        mean, low, high = intervals.interval(values)    # the slow reference
        assert summary.loc[label, "gain"] == pytest.approx(mean, abs=1e-12)
        assert summary.loc[label, "gain_low"] == pytest.approx(low, abs=1e-9)
        assert summary.loc[label, "gain_high"] == pytest.approx(high, abs=1e-9)
        assert [summary.loc[label, f"gain_{k}"] for k in range(1, len(gains) + 1)] == values
    assert summary.loc["gradient", "kept"] == pytest.approx(kept)
    assert summary.loc["LRP-0", "kept_high"] == pytest.approx(kept / 2)


def test_over_networks_refuses_one_network_and_other_presets():
    one = fake_comparison([1.0, 2.0], [0.5, 0.5])
    with pytest.raises(TypeError, match="comparisons must be a list of at least 2"):
        rel.over_networks([one])
    other = fake_comparison([1.0, 2.0], [0.5, 0.5])
    other.randomisation.columns = ["gradient", "deconvnet"]
    with pytest.raises(ValueError, match="comparisons must all compare the same presets"):
        rel.over_networks([one, other])


def test_digit_classifier_is_drawn_from_its_generator():
    x, y = data.digits(np.random.default_rng(0))
    x, y = x[:256], y[:256]
    first = rel.digit_classifier(x, y, np.random.default_rng(1), epochs=1)
    again = rel.digit_classifier(x, y, np.random.default_rng(1), epochs=1)
    other = rel.digit_classifier(x, y, np.random.default_rng(2), epochs=1)
    assert [layer.name for layer in first.layers] == ["conv", "pool", "flatten", "dense", "output"]
    for a, b in zip(first.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.get_weights()[0], other.get_weights()[0])
    with pytest.raises(ValueError, match="y must"):
        rel.digit_classifier(x, y[:-1], np.random.default_rng(1))
    with pytest.raises(TypeError, match="rng"):
        rel.digit_classifier(x, y, 1)


def test_bias_treatments_equal_the_two_compositions_run_by_hand():
    model = dense_model(4)
    x = np.random.default_rng(4).normal(size=(9, 3))
    table = rel.bias_treatments(model, x, 1, (0.0, 0.1))
    d = rel.propagate(model, x, "lrp_0", output=1).output
    times_input = rel.propagate(model, x, "gradient_x_input", output=1, bias="shared").input
    for epsilon, row in table.iterrows():
        inputs_only, blamed = (rel.propagate(model, x, rel.Composite(
            rel.MaximumGradient(), matrix, rel.Ignore(), "output", "signal"), output=1, bias="shared")
            for matrix in (rel.MatrixInputsOnly(epsilon), rel.MatrixNormalized(epsilon)))
        largest = np.abs(d).max()
        assert row["inputs only: largest |R| / largest |d|"] == pytest.approx(np.abs(inputs_only.input).max() / largest)
        assert row["bias blamed: largest |R| / largest |d|"] == pytest.approx(np.abs(blamed.input).max() / largest)
        assert row["inputs only: largest |R − gradient × input| / largest |d|"] == pytest.approx(
            np.abs(inputs_only.input - times_input).max() / largest)
    assert table.loc[0.0, "bias blamed: largest |Σ R − d|"] < 1e-10   # blamed, ε = 0: conserved
    with pytest.raises(TypeError, match="epsilons must be a non-empty sequence"):
        rel.bias_treatments(model, x, 1, ())
    with pytest.raises(ValueError, match="epsilons"):
        rel.bias_treatments(model, x, 1, (-1.0,))
