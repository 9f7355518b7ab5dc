"""The stack, the batched form of a network (toyviz.network.stack): reading Keras networks
of any hidden activations, the numpy pass (toyviz.network's functions) against Keras,
network i as a Network, take / concat / copies keeping the activations, refusals naming
the layer or the parameter, stacks through pruning, and the names kept in toyviz.training
and toyviz.reasons."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toyviz import models, network, pruning, reasons, training
from toyviz.network.stack import (HIDDEN_ACTIVATIONS, Stack, accuracy, check_stack, concat,
                                  forward, from_models, init_stack, network_of, take,
                                  to_models)
from conftest import keras_chain, random_weights


def keras_net(widths, activations, n_inputs=2, n_outputs=3, output="softmax", seed=0,
              as_layers=False):
    """A Dense chain ``d0, d1, ..., out`` with the given hidden activations (as
    ``activation=`` or as separate Activation layers) and random weights."""
    return random_weights(keras_chain((n_inputs, *widths, n_outputs), activations, output,
                                      as_layers=as_layers, hidden="d"), seed)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.sampled_from(HIDDEN_ACTIVATIONS)),
                min_size=1, max_size=3),
       st.booleans(), st.integers(0, 2**31 - 1))
def test_from_models_keeps_activations_and_forward_equals_keras(layers, as_layers, seed):
    widths, activations = zip(*layers)
    nets = [keras_net(widths, activations, seed=seed + i, as_layers=as_layers)
            for i in range(2)]
    stack = from_models(nets)
    assert stack.activations == activations
    x = np.random.default_rng(seed).normal(0, 1, (8, 2)).astype(np.float32)
    probabilities, hidden = forward(stack, x)
    for net, model in enumerate(nets):
        np.testing.assert_allclose(probabilities[net], model.predict(x, verbose=0),
                                   atol=1e-5)
        np.testing.assert_allclose(stack.network(net).predict(x),
                                   probabilities[net], atol=1e-12)
    assert [h.shape for h in hidden] == [(2, 8, w) for w in widths]
    back = to_models(stack)
    for net, model in enumerate(back):
        np.testing.assert_allclose(model.predict(x, verbose=0), probabilities[net],
                                   atol=1e-5)
    again = from_models(back)
    assert again.activations == activations
    for (k, b), (k2, b2) in zip(stack, again):
        np.testing.assert_array_equal(k, k2)
        np.testing.assert_array_equal(b, b2)


def test_a_tanh_network_is_not_run_as_relu():
    """The issue's example: from_models ran a tanh network as ReLU."""
    model = keras_net([6], ["tanh"], seed=3)
    x = np.random.default_rng(3).normal(0, 1, (20, 2)).astype(np.float32)
    stack = from_models(model)
    probabilities, hidden = forward(stack, x)
    np.testing.assert_allclose(probabilities[0], model.predict(x, verbose=0), atol=1e-5)
    assert hidden[0].min() < 0     # tanh outputs, not ReLU's


def test_stacks_carry_their_activations_through_take_concat_and_pruning():
    rng = np.random.default_rng(11)
    stack = init_stack(3, [6, 5], rng, activation="tanh")
    stack = Stack([(k, rng.normal(0, 0.5, b.shape).astype(np.float32))
                            for k, b in stack], stack.activations)
    assert take(stack, [0, 2]).activations == ("tanh", "tanh")
    assert concat(stack, stack).activations == ("tanh", "tanh")
    with pytest.raises(ValueError, match="activations"):
        concat(stack, init_stack(1, [6, 5], rng))
    data = rng.normal(0, 1, (3, 15, 2)).astype(np.float32)
    pruned, keeps = pruning.prune_stack(stack, 0.5, "std", data)
    assert pruned.activations == ("tanh", "tanh")
    x = rng.normal(0, 1, (7, 2)).astype(np.float32)
    for net, model in enumerate(to_models(stack)):
        keep = {f"hidden{p}": nodes for p, nodes in keeps[net].items()}
        reference = pruning.replace_by_means(model, keep, data[net], x)
        np.testing.assert_allclose(forward(take(pruned, [net]), x)[0][0],
                                   reference, atol=1e-5)


def test_a_plain_list_is_a_relu_stack():
    rng = np.random.default_rng(12)
    stack = init_stack(2, [4], rng)
    plain = [(kernel, bias) for kernel, bias in stack]
    assert check_stack("params", plain).activations == ("relu",)
    x = rng.normal(0, 1, (5, 2)).astype(np.float32)
    np.testing.assert_array_equal(forward(plain, x)[0], forward(stack, x)[0])
    chain = check_stack("params", plain).dense_chain(1)
    assert [f for _, _, f in chain] == ["relu", "softmax"]
    assert isinstance(network.Network.from_dense(chain), network.Network)


def test_a_copied_stack_keeps_its_activations():
    stack = init_stack(1, [3], np.random.default_rng(15), activation="sigmoid")
    assert stack.copy().activations == ("sigmoid",)
    assert Stack([(2 * k, b) for k, b in stack], stack.activations).activations == (
        "sigmoid",)


def test_models_round_trip_and_accuracy():
    rng = np.random.default_rng(3)
    params = init_stack(2, [3], rng, n_inputs=2, n_outputs=2)
    back = from_models(to_models(params))
    for (k, b), (k2, b2) in zip(params, back):
        np.testing.assert_array_equal(k, k2)
        np.testing.assert_array_equal(b, b2)
    x = rng.normal(0, 1, (10, 2)).astype(np.float32)
    probabilities, hidden = forward(params, x)
    keras_out = to_models(params)[1](x)
    np.testing.assert_allclose(probabilities[1], keras_out, atol=1e-5)
    assert hidden[0].shape == (2, 10, 3)
    y = probabilities.argmax(-1)[0]
    assert accuracy(params, x, y)[0] == 1.0


def test_unsupported_networks_are_refused_naming_the_layer():
    with pytest.raises(ValueError, match=r"'d0'.*'elu'.*relu"):
        from_models(keras_net([3], ["elu"]))
    with pytest.raises(ValueError, match=r"'out'.*'sigmoid'.*softmax"):
        from_models(keras_net([3], ["relu"], output="sigmoid"))
    with pytest.raises(ValueError, match="mask"):
        from_models(models.masked_circle_model(4))
    conv = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3),
                             keras.layers.Flatten(), keras.layers.Dense(2,
                                                                        activation="softmax")])
    with pytest.raises(ValueError, match="Conv2D"):
        from_models(conv)
    with pytest.raises(ValueError, match=r"models\[1\]"):
        from_models([keras_net([3], ["tanh"]), keras_net([3], ["relu"])])
    with pytest.raises(ValueError, match=r"activation\[0\]"):
        init_stack(1, [3], np.random.default_rng(0), activation="elu")
    with pytest.raises(ValueError, match="activations"):
        Stack(init_stack(1, [3, 3], np.random.default_rng(0)), ["tanh"])


def test_stack_bad_labels_points_and_positions_name_the_parameter():
    rng = np.random.default_rng(13)
    params = init_stack(2, [3], rng)
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(TypeError, match="y"):
        accuracy(params, x, None)
    with pytest.raises(TypeError, match="y must hold integer"):
        accuracy(params, x, np.zeros(4))
    with pytest.raises(ValueError, match="y must have shape"):
        accuracy(params, x, np.zeros(3, int))
    with pytest.raises(ValueError, match=r"y must be class labels in 0 \.\. 1"):
        accuracy(params, x, np.full(4, 2))
    with pytest.raises(ValueError, match="x must"):
        forward(params, np.zeros((0, 2)))
    with pytest.raises(ValueError, match="nets"):
        take(params, [2])
    with pytest.raises(TypeError, match="nets"):
        take(params, [True, False])


def test_network_i_is_a_network_of_the_stack_and_keeps_float64_values():
    rng = np.random.default_rng(21)
    stack = init_stack(3, [5, 4], rng, activation=["tanh", "relu"])
    x = rng.normal(0, 1, (6, 2))
    probabilities, _ = forward(stack, x)
    for net in range(3):
        model = stack.network(net)
        assert isinstance(model, network.Network)
        assert list(model.hidden_layers) == ["hidden0", "hidden1"]
        assert [f for _, _, f in model.dense_chain()] == ["tanh", "relu", "softmax"]
        np.testing.assert_allclose(model.predict(x), probabilities[net], atol=1e-12)
        same = network_of(stack, net)
        np.testing.assert_array_equal(same.predict(x), model.predict(x))
    # a list of float64 pairs keeps its values (a Stack holds float32)
    wide = [(kernel.astype(np.float64) + 1e-9, bias.astype(np.float64)) for kernel, bias
            in stack]
    kernel = network_of(wide, 1).steps[0].kernel
    np.testing.assert_array_equal(kernel, wide[0][0][1])
    assert not np.array_equal(kernel, check_stack("params", wide)[0][0][1])
    with pytest.raises(ValueError, match="net"):
        stack.network(3)


def test_the_old_homes_give_the_same_objects_or_warn():
    for name in ("Stack", "HIDDEN_ACTIVATIONS", "init_stack", "check_stack", "from_models",
                 "to_models", "take", "concat", "forward", "accuracy"):
        assert getattr(training, name) is getattr(network.stack, name), name
    assert reasons.network is network_of
    stack = init_stack(2, [3], np.random.default_rng(22))
    x = np.random.default_rng(23).normal(0, 1, (4, 2))
    with pytest.warns(DeprecationWarning, match=r"Stack\.network"):
        old = training.network_of(stack, 1)
    np.testing.assert_array_equal(old.predict(x), stack.network(1).predict(x))
