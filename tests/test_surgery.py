"""Node surgery (toyviz.network.surgery): deleting hidden nodes of a dense chain, a Network
and a stack, with and without mean compensation, against running the original network
with the removed nodes' outputs replaced; putting a pruned kernel back into its frame;
refusals naming the parameter; and the names kept in toyviz.pruning."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toyviz import pruning
from toyviz.network import surgery
from toyviz.network.stack import init_stack
from conftest import random_network


def replaced(net, x, keep, means):
    """``net``'s output on ``x`` with each removed node's output overwritten by its mean
    (``means[position]``), or by 0 when ``means`` is None: the slow reference."""
    ends = {end: position for position, end in enumerate(net.node_steps.values())}
    a = x
    for index, step in enumerate(net.steps):
        a = step.forward(a)
        if index in ends and ends[index] in keep:
            position = ends[index]
            removed = np.setdiff1d(np.arange(a.shape[1]), keep[position])
            a = a.copy()
            a[:, removed] = 0.0 if means is None else means[position][removed]
    return a


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.lists(st.integers(2, 6), min_size=1, max_size=3),
       st.booleans())
def test_deleting_nodes_equals_replacing_them_by_their_means(seed, widths, compensate):
    rng = np.random.default_rng(seed)
    net = random_network(rng, (2, *widths, 3), activations=("relu", "tanh"))
    data, x = rng.normal(0, 1, (30, 2)), rng.normal(0, 1, (7, 2))
    values, _ = net.forward(data)
    means = [values[end + 1].mean(axis=0) for end in net.node_steps.values()]
    keep = {position: np.sort(rng.choice(width, rng.integers(1, width + 1), replace=False))
            for position, width in enumerate(widths) if rng.random() < 0.7}
    smaller = surgery.delete_nodes([(k, b) for k, b, _ in net.dense_chain()], keep,
                                   means if compensate else None)
    by_name = surgery.delete_network_nodes(net, keep, means if compensate else None)
    assert list(by_name) == [*net.hidden_layers, net.steps[-1].name]
    for (kernel, bias), (kernel2, bias2) in zip(smaller, by_name.values()):
        np.testing.assert_array_equal(kernel, kernel2)
        np.testing.assert_array_equal(bias, bias2)
    for position, width in enumerate(widths):
        assert smaller[position][1].shape == (len(keep.get(position, range(width))),)
    a = x
    activations = [f for _, _, f in net.dense_chain()][:-1]
    for layer, (kernel, bias) in enumerate(smaller):
        a = a @ kernel + bias
        if layer < len(activations):
            a = np.maximum(a, 0) if activations[layer] == "relu" else np.tanh(a)
    np.testing.assert_allclose(a, replaced(net, x, keep, means if compensate else None),
                               atol=1e-10)


def test_deleting_stack_nodes_is_deleting_each_networks_nodes():
    rng = np.random.default_rng(3)
    stack = init_stack(2, [5, 4], rng, activation="tanh")
    keeps = [{0: [0, 2, 4], 1: [1, 3]}, {0: [1, 2, 3], 1: [0, 1]}]
    means = [[rng.normal(size=5), rng.normal(size=4)] for _ in range(2)]
    for chosen in (means, None):
        smaller = surgery.delete_stack_nodes(stack, keeps, chosen)
        assert smaller.activations == ("tanh", "tanh")
        for net in range(2):
            alone = surgery.delete_nodes(
                [(k[net].astype(np.float64), b[net].astype(np.float64)) for k, b in stack],
                keeps[net], None if chosen is None else chosen[net])
            for (kernel, bias), (k, b) in zip(alone, smaller):
                np.testing.assert_array_equal(kernel.astype(np.float32), k[net])
                np.testing.assert_array_equal(bias.astype(np.float32), b[net])
    with pytest.raises(ValueError, match="keeps"):
        surgery.delete_stack_nodes(stack, [{0: [0]}, {0: [0, 1]}])
    with pytest.raises(TypeError, match="keeps"):
        surgery.delete_stack_nodes(stack, [{0: [0]}])


def test_embed_puts_the_kept_block_back():
    full = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = surgery.embed(np.array([[-1.0], [-2.0]]), full, [2, 0], [1])
    assert out[2, 1] == -1 and out[0, 1] == -2
    assert (np.delete(out, 1, axis=1) == np.delete(full, 1, axis=1)).all()
    assert full[2, 1] == 9     # a copy


def test_keep_refusals_name_the_parameter():
    net = random_network(0, (2, 3, 4, 2))
    assert {p: list(v) for p, v in surgery.check_keep(net, {"hidden1": [3, 0], 0: [1]}).items()} \
        == {1: [0, 3], 0: [1]}
    for keep, error, words in [({"output": [0]}, ValueError, "output layer"),
                               ({5: [0]}, ValueError, "position 5"),
                               ({0: [0], "hidden0": [1]}, ValueError, "twice"),
                               ({0: []}, ValueError, "empty"),
                               ({0: [3]}, ValueError, r"\[0, 3\)"),
                               ({0: [1, 1]}, ValueError, "repeated"),
                               ({0: [0.5]}, TypeError, "int node indices"),
                               ([0], TypeError, "dict")]:
        with pytest.raises(error, match=words):
            surgery.check_keep(net, keep)
    with pytest.raises(ValueError, match=r"keep keys must be <= -1"):
        surgery.delete_nodes([(np.ones((2, 2)), np.zeros(2))], {0: [0]})


def test_pruning_keeps_the_surgery_under_its_old_names():
    assert pruning.prune_weights is surgery.delete_nodes
    assert pruning.embed is surgery.embed
