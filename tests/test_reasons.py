"""toyviz.reasons: the shortcut task, TensorFlow relevance against chapter 2's numpy
propagation (the slow, obviously-right reference), the training routes and the measures."""

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from toyviz import intervals, reasons, relevance, training
from toyviz.network.stack import init_stack, network_of


def random_stack(seed, k=2, widths=(7, 5), n_inputs=6, n_outputs=4):
    rng = np.random.default_rng(seed)
    params = init_stack(k, list(widths), rng, n_inputs, n_outputs)
    return [(kernel.astype(np.float64), rng.normal(0, 0.3, bias.shape))
            for kernel, bias in params]


@pytest.fixture(scope="module")
def task():
    return reasons.shortcut_task(np.random.default_rng(0), n_train=300)


def test_marker_region_and_mark():
    region = reasons.marker_region()
    assert region.sum() == 10 and set(np.flatnonzero(region)) == set(reasons.MARKER_INDEX)
    images = np.full((3, 8, 8, 1), 0.5, dtype=np.float32)
    x = reasons.mark(images, np.array([2, -1, 9]))
    assert x.shape == (3, 64)
    assert x[0, reasons.MARKER_INDEX[2]] == 1.0 and x[0, reasons.MARKER_INDEX].sum() == 1.0
    assert x[1, reasons.MARKER_INDEX].sum() == 0.0                # no marker, region blanked
    assert np.all(x[:, region == 0] == 0.5)                        # the digit is untouched
    with pytest.raises(ValueError, match="positions"):
        reasons.mark(images, np.array([0, 1, 10]))
    with pytest.raises(ValueError, match="images"):
        reasons.mark(np.zeros((2, 7, 7)), np.array([0, 1]))


def test_shortcut_task_marks_each_set_as_documented(task):
    y, index = task.y_test, reasons.MARKER_INDEX
    rows = np.arange(len(y))
    assert np.all(task.x_train[np.arange(len(task.y_train)), index[task.y_train]] == 1.0)
    assert np.all(task.x_test[rows, index[y]] == 1.0)
    assert np.all(task.x_moved[rows, index[y]] == 0.0)             # moved away
    assert np.all(task.x_moved[:, index].sum(axis=1) == 1.0)
    assert np.all(task.x_clean[:, index] == 0.0)
    at_class = np.mean(task.x_random[rows, index[y]] == 1.0)
    assert 0.03 < at_class < 0.2                                    # about 1 in 10
    assert np.array_equal(task.x_test * (1 - reasons.marker_region()),
                          task.x_clean)                              # the same digits


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), rule=st.sampled_from(sorted(reasons.TF_RULES)),
       shared=st.booleans())
def test_relevance_tf_equals_chapter_two_numpy(seed, rule, shared):
    """float64 TensorFlow relevance equals toyviz.relevance.propagate, network by network,
    for the input and every layer's bias."""
    params = random_stack(seed)
    rng = np.random.default_rng(seed + 1)
    k, n = params[0][0].shape[0], 9
    x = rng.normal(size=(n, 6)) if shared else rng.normal(size=(k, n, 6))
    output = rng.integers(0, 4, size=n)
    inputs, biases = reasons.relevance_tf([(tf.constant(a), tf.constant(b)) for a, b in params],
                                          tf.constant(x), tf.one_hot(output, 4, dtype=tf.float64),
                                          rule, epsilon=0.05)
    for net in range(k):
        expected = relevance.propagate(network_of(params, net), x if shared else x[net],
                                       reasons.TF_RULES[rule], output=output, epsilon=0.05)
        np.testing.assert_allclose(inputs.numpy()[net], expected.input, rtol=1e-9,
                                   atol=1e-12)
        for got, want in zip(biases, expected.bias.values()):
            np.testing.assert_allclose(got.numpy()[net], want, rtol=1e-9, atol=1e-12)


def test_relevance_tf_gradient_equals_gradient_tape_and_is_differentiable():
    params = [(tf.Variable(a), tf.Variable(b)) for a, b in random_stack(3)]
    x = tf.constant(np.random.default_rng(4).normal(size=(5, 6)))
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = training.forward_tf(params, x)[1][-1]
        total = tf.reduce_sum(tf.nn.log_softmax(logits), axis=-1)
    taped = tape.gradient(total, x)
    with tf.GradientTape() as outer:
        ours = reasons.log_probability_gradient(params, x)
        loss = tf.reduce_sum(tf.square(ours))
    np.testing.assert_allclose(ours.numpy().sum(axis=0), taped.numpy(), rtol=1e-9)
    grads = outer.gradient(loss, [w for pair in params for w in pair])
    assert all(g is not None and np.any(g.numpy() != 0) for g in grads)


def test_relevance_tf_rejects_an_unknown_rule():
    params = random_stack(0)
    with pytest.raises(ValueError, match="rule"):
        reasons.relevance_tf(params, np.zeros((2, 6)), np.eye(4)[:2], rule="deconvnet")


def test_penalties_are_zero_without_a_marker_and_positive_with_one(task):
    params = [(tf.constant(a), tf.constant(b)) for a, b in
              init_stack(2, [8], np.random.default_rng(1), 64, 10)]
    one_hot = tf.one_hot(np.tile(task.y_test[:20], (2, 1)), 10)
    region = tf.constant(reasons.marker_region())
    clean = tf.constant(np.tile(task.x_clean[:20], (2, 1, 1)))
    marked = tf.constant(np.tile(task.x_test[:20], (2, 1, 1)))
    for route in ("lrp", "lrp_positive"):
        assert np.all(reasons.penalty(route, params, clean, one_hot, region).numpy() == 0)
        assert np.all(reasons.penalty(route, params, marked, one_hot, region).numpy() > 0)
    # the gradient is non-zero at absent markers too: Ross et al.'s penalty sees them
    assert np.all(reasons.penalty("ross", params, clean, one_hot, region).numpy() > 0)
    assert np.all(reasons.penalty("plain", params, marked, one_hot, region).numpy() == 0)


def _penalty_by_loops(route, params, x, one_hot):
    """The slow, obviously-right penalty: chapter 2's numpy propagation, one network and
    one explained logit at a time, squared and summed over the marker pixels."""
    rule, logits, positive = reasons.PENALTIES[route]
    rule = {"gradient_x_input": "lrp_0"}.get(rule, rule)    # LRP-0 = gradient × input
    out = []
    for net in range(len(x)):
        model = network_of(params, net)
        classes = range(10) if logits == "all" else [None]
        total = 0.0
        for c in classes:
            output = one_hot[net].argmax(axis=1) if c is None else np.full(len(x[net]), c)
            value = relevance.propagate(model, x[net], rule, output=output,
                                        epsilon=reasons.EPSILON).input
            value = np.maximum(value, 0) if positive else value
            total = total + (value[:, reasons.MARKER_INDEX] ** 2).sum(axis=1)
        out.append(total.mean())
    return np.array(out)


@pytest.mark.parametrize("route", sorted(reasons.PENALTIES))
def test_each_penalty_equals_numpy_propagation_explained_logit_by_logit(task, route):
    params = [(kernel.astype(np.float64), np.random.default_rng(2).normal(0, 0.1, bias.shape))
              for kernel, bias in init_stack(2, [8], np.random.default_rng(1), 64, 10)]
    x = np.stack([task.x_test[:15], task.x_test[15:30]]).astype(np.float64)
    one_hot = np.eye(10)[np.stack([task.y_test[:15], task.y_test[15:30]])]
    got = reasons.penalty(route, params, x, one_hot, reasons.marker_region().astype(np.float64))
    np.testing.assert_allclose(got.numpy(), _penalty_by_loops(route, params, x, one_hot),
                               rtol=1e-9)


@pytest.mark.parametrize("route", [*sorted(reasons.PENALTIES), "ross"])
def test_the_penalty_gradient_matches_a_finite_difference(task, route):
    """Double backpropagation gives the penalty's derivative: the gap to a central finite
    difference is rounding; a step far too long for the curvature shows a real gap."""
    params = [(kernel.astype(np.float64), np.random.default_rng(2).normal(0, 0.1, bias.shape))
              for kernel, bias in init_stack(2, [8], np.random.default_rng(1), 64, 10)]
    x = np.stack([task.x_test[:20], task.x_test[20:40]]).astype(np.float64)
    one_hot = np.eye(10)[np.stack([task.y_test[:20], task.y_test[20:40]])]
    gap = reasons.penalty_gradient_gap(route, params, x, one_hot, np.random.default_rng(0))
    assert 0 <= gap < 1e-7
    coarse = reasons.penalty_gradient_gap(route, params, x, one_hot, np.random.default_rng(0),
                                          step=1.0)
    assert coarse > 1e3 * max(gap, 1e-12)
    with pytest.raises(TypeError, match="params must be float64"):
        reasons.penalty_gradient_gap(route, init_stack(2, [8], np.random.default_rng(1),
                                                                64, 10), x, one_hot,
                                     np.random.default_rng(0))
    with pytest.raises(ValueError, match="route"):
        reasons.penalty_gradient_gap("plain", params, x, one_hot, np.random.default_rng(0))


def test_train_route_reports_divergence_naming_the_weights(task):
    """A penalty weight far beyond float32's range makes the loss infinite, Adam's steps
    NaN: train_route raises, naming the weight and how many networks diverged, rather than
    returning NaN weights. The same call at a sane weight trains."""
    with pytest.raises(ValueError, match=r"training diverged: the weights of 1 of the 2 "
                                         r"networks became NaN or inf \(penalty weights "
                                         r"\[9\.99\d*e\+37\]"):
        reasons.train_route(task, "lrp", [0.0, 1e38], [5], hidden=8, epochs=1)
    fine = reasons.train_route(task, "lrp", [0.0, 1.0], [5], hidden=8, epochs=1)
    assert all(np.isfinite(array).all() for pair in fine.params for array in pair)


def test_train_route_pairs_seeds_and_a_zero_weight_equals_plain(task):
    plain = reasons.train_route(task, "plain", [0.0], [5, 6], hidden=8, epochs=2)
    penalised = reasons.train_route(task, "lrp", [0.0, 1.0], [5, 6], hidden=8, epochs=2)
    assert list(penalised.weights) == [0.0, 0.0, 1.0, 1.0]
    assert list(penalised.seeds) == [5, 6, 5, 6]
    for (a, b), (c, d) in zip(plain.params, penalised.params):
        np.testing.assert_allclose(c[:2], a, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(d[:2], b, rtol=1e-5, atol=1e-6)
        assert not np.allclose(c[2:], a)                            # the penalty acts
    assert penalised.seconds_per_step > 0
    with pytest.raises(ValueError, match="route"):
        reasons.train_route(task, "snow", [1.0], [0])
    with pytest.raises(ValueError, match="weights"):
        reasons.train_route(task, "lrp", [-1.0], [0])


def test_the_essay_penalty_moves_relevance_off_the_marker(task):
    """A strong LRP penalty takes the relevance off the marker pixel; plain training
    puts plenty there."""
    results = {route: reasons.train_route(task, route, [10.0], [0], epochs=10)
               for route in ("plain", "lrp")}
    measured = {route: reasons.evaluate(result.params, task, np.random.default_rng(0))
                for route, result in results.items()}
    assert measured["plain"].mass_lrp[0] > 0.1
    assert measured["lrp"].mass_lrp[0] < 0.3 * measured["plain"].mass_lrp[0]


def test_evaluate_on_hand_made_networks(task):
    """A network that reads only the marker, and one that ignores it."""
    kernel = np.zeros((2, 64, 10), dtype=np.float32)
    kernel[0, reasons.MARKER_INDEX, np.arange(10)] = 5.0         # net 0: the marker
    digits = reasons.marker_region() == 0
    kernel[1, digits, :] = np.random.default_rng(0).normal(size=(digits.sum(), 10))
    identity = np.tile(np.eye(10, dtype=np.float32), (2, 1, 1))
    params = [(kernel, np.zeros((2, 10), np.float32)), (identity, np.zeros((2, 10), np.float32))]
    frame = reasons.evaluate(params, task, np.random.default_rng(0))
    assert list(frame.columns) == list(reasons.MEASURES)
    marker, digit = frame.iloc[0], frame.iloc[1]
    assert marker.accuracy_correlated == 1.0 and marker.mass_lrp > 0.99
    assert marker.effect_log_p > 1.0 and marker.aopc_marker == pytest.approx(
        marker.aopc_marker_first)
    assert digit.mass_lrp == 0.0 and digit.effect_log_p == 0.0 and digit.effect_logit == 0.0
    assert digit.accuracy_correlated == digit.accuracy_decorrelated == digit.accuracy_clean


def test_interval_and_summarise():
    mean, low, high = intervals.interval([1.0, 2.0, 3.0], single=True)
    assert mean == 2.0 and low < 2.0 < high
    assert intervals.interval([4.0], single=True) == (4.0, 4.0, 4.0)
    import pandas as pd

    frame = pd.DataFrame({"route": ["a", "a", "b", "b"], "weight": [1.0] * 4,
                          "m": [1.0, 3.0, 5.0, 5.0]})
    summary = reasons.summarise(frame, ["m"])
    assert summary.loc[("a", 1.0), ("m", "mean")] == 2.0
    assert summary.loc[("b", 1.0), ("m", "low")] == 5.0
    with pytest.raises(ValueError, match="columns"):
        reasons.summarise(frame, ["missing"])


def test_ratios_to_plain_pairs_by_seed():
    import pandas as pd

    frame = pd.DataFrame({"route": ["plain", "plain", "lrp", "lrp"], "weight": [0, 0, 1, 1],
                          "seed": [7, 8, 8, 7], "m": [2.0, 4.0, 1.0, 1.0]})
    ratios = reasons.ratios_to_plain(frame, ["m"])
    assert list(ratios.m_ratio) == [1.0, 1.0, 0.25, 0.5]
    with pytest.raises(ValueError, match="plain"):
        reasons.ratios_to_plain(frame[frame.route == "lrp"], ["m"])


# --- bad input, finished (issue 21, part 5) ---------------------------------------------------


@pytest.mark.parametrize("rule", sorted(reasons.TF_RULES))
@pytest.mark.parametrize("epsilon, error", [(np.nan, ValueError), (np.inf, ValueError),
                                            (None, TypeError), (-1.0, ValueError)])
def test_epsilon_is_checked_whatever_the_rule(rule, epsilon, error):
    rng = np.random.default_rng(0)
    params = init_stack(1, [3], rng, n_inputs=4)
    x = rng.random((2, 4)).astype(np.float32)
    with pytest.raises(error, match="epsilon must be"):
        reasons.relevance_tf(params, x, np.eye(2, dtype=np.float32), rule=rule,
                             epsilon=epsilon)


def test_summarise_names_the_frame_for_a_value_that_is_not_finite():
    frame = pd.DataFrame({"route": ["plain", "lrp"] * 2, "weight": [0, 1] * 2,
                          "seed": [0, 0, 1, 1], "a": [1.0, np.nan, 3.0, 5.0]})
    with pytest.raises(ValueError, match=r"frame's column 'a' \(in columns\) holds NaN or inf "
                                         "in 1 rows"):
        reasons.summarise(frame, ["a"])


def test_against_controls_pairs_plain_and_control_by_seed():
    frame = pd.DataFrame({
        "route": ["plain", "unmarked", "gxi", "lrp", "plain", "unmarked", "gxi", "lrp"],
        "weight": [0, 0, 1, 1, 0, 0, 1, 1], "seed": [7, 7, 7, 7, 8, 8, 8, 8],
        "accuracy_decorrelated": [0.6, 0.9, 0.85, 0.8, 0.5, 0.95, 0.9, 0.7],
        "mass_lrp": [0.4, 0.0, 0.2, 0.1, 0.2, 0.0, 0.1, 0.1],
        "mass_gxi": [0.5, 0.0, 0.1, 0.3, 0.25, 0.0, 0.05, 0.2],
        "effect_log_p": [1.0, 0.0, 0.5, 0.4, 2.0, 0.0, 0.5, 1.0],
        "effect_logit": [1.0] * 8, "effect_added": [0.5, 0.0, 0.1, 0.3, 1.0, 0.0, 0.5, 0.25]})
    out = reasons.against_controls(frame)
    gxi, lrp = out[out.route == "gxi"], out[out.route == "lrp"]
    assert list(gxi.mass_ratio) == [0.1 / 0.5, 0.05 / 0.25]          # its own rule, gxi
    assert list(lrp.mass_ratio) == [0.1 / 0.4, 0.1 / 0.2]            # LRP-ε
    assert list(lrp.effect_ratio) == [0.4, 0.5]
    np.testing.assert_allclose(gxi.accuracy_gap, [0.85 - 0.9, 0.9 - 0.95])
    np.testing.assert_allclose(lrp.unlit_share, [0.75, 0.25])
    assert out[out.route == "unmarked"].unlit_share.isna().all()     # no effect to share
    with pytest.raises(ValueError, match="control"):
        reasons.against_controls(frame[frame.route != "unmarked"])
    with pytest.raises(ValueError, match="seeds \\[8\\]"):
        reasons.against_controls(frame[~((frame.route == "unmarked") & (frame.seed == 8))])


def test_train_route_in_groups_of_weights_equals_one_stack(task, monkeypatch):
    """Training the networks in groups (to bound memory) changes nothing: each network
    has its own loss, Adam state and batches."""
    whole = reasons.train_route(task, "gxi_all", [0.0, 1.0, 3.0], [5, 6], hidden=8, epochs=1)
    monkeypatch.setattr(reasons, "STEP_ROWS", 1)                    # one weight per group
    grouped = reasons.train_route(task, "gxi_all", [0.0, 1.0, 3.0], [5, 6], hidden=8,
                                  epochs=1)
    assert list(grouped.weights) == list(whole.weights) == [0.0, 0.0, 1.0, 1.0, 3.0, 3.0]
    assert list(grouped.seeds) == list(whole.seeds)
    for (a, b), (c, d) in zip(whole.params, grouped.params):
        np.testing.assert_allclose(c, a, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(d, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(whole.params[0][0][0], whole.params[0][0][4])   # weights differ
