"""The batched trainer (toyviz.training): ReLU stacks trained against Keras' fit and by
hand (dead nodes, updates below half a spacing, chunks of steps); the stack form with hidden
activations other than ReLU: reading Keras networks, the numpy pass (toyviz.network's
functions) against Keras, training against Keras' fit, refusals naming the layer, and
stacks through pruning."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toyviz import models, training
from toyviz.network.stack import Stack, accuracy, check_stack, concat, init_stack, take, to_models


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "linear"])
def test_training_other_activations_matches_keras_fit(activation):
    """Slow reference: Keras' own Adam and fit loop, batches in order."""
    rng = np.random.default_rng(10)
    x = rng.normal(0, 1, (50, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    params = init_stack(1, [5, 4], rng, activation=[activation, "relu"])
    assert params.activations == (activation, "relu")
    model = models.compile_classifier(to_models(params)[0], learning_rate=0.01)
    assert [layer.activation.__name__ for layer in model.layers] == [activation, "relu",
                                                                     "softmax"]
    keras.utils.set_random_seed(0)
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    result = training.train(params, x, y, 2, rng, learning_rate=0.01, batch_size=16,
                            shuffle=False)
    assert result.params.activations == (activation, "relu")
    for (kernel, bias), layer in zip(result.params, model.layers):
        np.testing.assert_allclose(kernel[0], layer.get_weights()[0], atol=2e-5)
        np.testing.assert_allclose(bias[0], layer.get_weights()[1], atol=2e-5)


def test_training_tracks_only_relu_stacks():
    rng = np.random.default_rng(0)
    tanh = init_stack(1, [3], rng, activation="tanh")
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match="track"):
        training.train(tanh, x, np.zeros(4, int), 1, rng, track=True)


def test_trainer_bad_flags_name_the_parameter():
    rng = np.random.default_rng(13)
    params = init_stack(2, [3], rng)
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(TypeError, match="shuffle"):
        training.train(params, x, np.zeros(4, int), 1, rng, shuffle="no")
    with pytest.raises(TypeError, match="track"):
        training.train(params, x, np.zeros(4, int), 1, rng, track="no")
    with pytest.raises(TypeError, match="frozen"):
        training.train(params, x, np.zeros(4, int), 1, rng, frozen=[(1, 1)])


def test_relu_only_code_refuses_other_stacks():
    """The right-reasons page's TensorFlow relevance is written for ReLU stacks."""
    from toyviz import reasons

    rng = np.random.default_rng(14)
    tanh = init_stack(1, [4], rng, n_inputs=3, n_outputs=2, activation="tanh")
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="params must have ReLU"):
        reasons.relevance_tf(tanh, x, np.ones((2, 2), np.float32))


def test_train_result_holds_a_diverged_run_and_checks_its_fields():
    stack = init_stack(1, [3], np.random.default_rng(17), activation="tanh")
    diverged = stack.copy()    # Stack() refuses NaN weights; a run's record holds them
    diverged[0] = (np.full_like(stack[0][0], np.nan), stack[0][1])
    result = training.TrainResult(diverged, 1, np.array([np.nan]))
    assert result.params.activations == ("tanh",) and np.isnan(result.params[0][0]).all()
    with pytest.raises(ValueError, match="steps"):
        training.TrainResult(stack, 2, np.array([0.5]))
    with pytest.raises(TypeError, match="snapshots"):
        training.TrainResult(stack, 1, np.array([0.5]), snapshots="none")


# --- the batched trainer on ReLU stacks: against Keras' fit, by hand, in chunks --------


def test_stack_training_matches_keras_fit():
    """Slow reference: Keras' own Adam and fit loop, batches in order."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (70, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    params = init_stack(1, [6, 5], rng)
    model = models.compile_classifier(to_models(params)[0], learning_rate=0.01)
    keras.utils.set_random_seed(0)
    model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    result = training.train(params, x, y, 3, rng, learning_rate=0.01, batch_size=32,
                            shuffle=False)
    assert result.steps == 9
    for (kernel, bias), layer in zip(result.params, model.layers):
        np.testing.assert_allclose(kernel[0], layer.get_weights()[0], atol=2e-5)
        np.testing.assert_allclose(bias[0], layer.get_weights()[1], atol=2e-5)


def test_networks_in_a_stack_train_independently():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (40, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    params = init_stack(3, [5, 4], rng)
    together = training.train(params, x, y, 2, np.random.default_rng(7), batch_size=8,
                              shuffle=False, optimizer="sgd", learning_rate=0.1)
    alone = training.train(take(params, [1]), x, y, 2, np.random.default_rng(7),
                           batch_size=8, shuffle=False, optimizer="sgd", learning_rate=0.1)
    for (kernel, bias), (k1, b1) in zip(together.params, alone.params):
        np.testing.assert_allclose(kernel[1], k1[0], atol=1e-6)
        np.testing.assert_allclose(bias[1], b1[0], atol=1e-6)


def two_hidden_layers(seed):
    """rng, 64 points labelled by the sign of x0, and one 2-4-3-2 network's layers."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (64, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    return rng, x, y, init_stack(1, [4, 3], rng)


def test_adam_never_moves_weights_of_a_node_that_never_fires():
    rng, x, y, ((k0, b0), (k1, b1), last) = two_hidden_layers(2)
    k1[:, :, 2], b1[:, 2] = -np.abs(k1[:, :, 2]) - 0.1, -5.0  # node 2 of layer 2 is dead
    result = training.train([(k0, b0), (k1, b1), last], x, y, 3, rng, learning_rate=0.05,
                            track=True)
    np.testing.assert_array_equal(result.params[1][0][0][:, 2], k1[0][:, 2])
    np.testing.assert_array_equal(result.params[2][0][0][2], last[0][0][2])
    assert not result.ever_active[1][0][2] and result.ever_active[1][0][[0, 1]].all()
    table = training.explain_unchanged([(k0, b0), (k1, b1), last], result)
    row = table.loc["all"]
    assert row["unchanged"] == row["unchanged and never co-active"] >= 4
    assert row["max non-zero gradient steps"] == 0
    assert row["updates below half a spacing"] == 0


def test_a_weight_whose_updates_are_below_half_a_spacing_stays_put_and_is_explained():
    # chapter 3 met one at seed 102: a gradient on 3 steps, every Adam step below half the
    # float32 spacing at the weight, so the weight ended exactly where it started
    rng, x, y, ((k0, b0), (k1, b1), last) = two_hidden_layers(5)
    k0[:], b0[:] = np.abs(k0) + 0.1, 1.0       # every first-layer node fires on every point
    k1[:, :, 1], b1[:, 1] = np.abs(k1[:, :, 1]), 1.0   # so does node 1 of layer 2
    k1[0, 0, 1] = 1024.0 + 64.0   # spacing 1.2e-4 here: an SGD step of 1e-6 * g rounds away
    before = Stack([(k0.copy(), b0.copy()), (k1.copy(), b1.copy()), last])
    result = training.train(before, x, y, 2, rng, optimizer="sgd", learning_rate=1e-6,
                            batch_size=16, track=True)
    assert result.params[1][0][0, 0, 1] == k1[0, 0, 1]   # unchanged,
    assert result.nonzero_steps[1][0][0, 0, 1] > 0       # with a gradient on every step,
    assert 0 < result.largest_update[1][0][0, 0, 1] < np.spacing(k1[0, 0, 1]) / 2
    row = training.explain_unchanged(before, result).loc["all"]
    assert row["updates below half a spacing"] >= 1
    assert row["unchanged"] == row["never co-active"] + row["updates below half a spacing"]


def test_trainer_rejects_bad_input():
    rng = np.random.default_rng(5)
    params = init_stack(1, [3], rng)
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match="y must be class labels"):
        training.train(params, x, np.array([0, 1, 2, 0]), 1, rng)
    with pytest.raises(ValueError, match="x must have shape"):
        training.train(params, np.zeros((4, 3), np.float32), np.zeros(4, int), 1, rng)
    with pytest.raises(ValueError, match="optimizer"):
        training.train(params, x, np.zeros(4, int), 1, rng, optimizer="rmsprop")
    with pytest.raises(ValueError, match="epochs"):
        training.train(params, x, np.zeros(4, int), 0, rng)
    with pytest.raises(TypeError, match="params"):
        training.train("params", x, np.zeros(4, int), 1, rng)
    with pytest.raises(ValueError, match=r"params\[1\]\[0\]"):
        check_stack("params", [params[0], (np.zeros((1, 4, 2)), np.zeros((1, 2)))])


def test_training_in_chunks_is_one_run():
    """train hands the compiled loop a chunk of steps at a time; Adam's moments and step
    count carry over, so any chunking gives the same weights."""
    rng = np.random.default_rng(8)
    x = rng.normal(0, 1, (40, 2)).astype(np.float32)
    y = (x[:, 0] > x[:, 1]).astype(np.int64)
    params = init_stack(2, [4, 3], rng)
    runs = [training.train(params, x, y, 30, np.random.default_rng(0), learning_rate=0.01,
                           batch_size=8, snapshot_every=every)
            for every in (None, 150, 7)]
    assert runs[0].steps == 150 > training._CHUNK_STEPS
    for run in runs[1:]:
        assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
                   for a, b in zip(runs[0].params, run.params))
        assert np.array_equal(runs[0].loss, run.loss)


# --- bad input, finished (issue 21, part 5) ---------------------------------------------------


def _circle_stack(seed=19):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(32, 2)).astype(np.float32)
    y = (np.sum(x ** 2, axis=1) < 0.5).astype(np.int64)
    return init_stack(1, [8], rng), x, y


def test_a_diverging_run_raises_saying_what_to_do():
    stack, x, y = _circle_stack()
    with pytest.raises(ValueError, match=r"training diverged: by step \d+ the loss or the "
                                         r"weights became NaN or inf; x is as large as .*"
                                         "scale x .* or lower learning_rate"):
        training.train(stack, x * 1e10, y, 3, np.random.default_rng(1), learning_rate=100.0,
                       optimizer="sgd")
    result = training.train(stack, x, y, 1, np.random.default_rng(1))
    assert not result.diverged


@settings(max_examples=20, deadline=None)
@given(scale=st.floats(2e19, 1e38))
def test_inputs_whose_square_overflows_float32_are_refused_before_training(scale):
    stack, x, y = _circle_stack()
    x = x / np.abs(x).max()
    with pytest.raises(ValueError, match=r"x must stay within ±1\.84e\+19 for training"):
        training.train(stack, x * np.float32(scale), y, 1, np.random.default_rng(1))


def test_inputs_beyond_float32_are_refused_saying_how_large_they_are():
    stack, x, y = _circle_stack()
    with pytest.raises(ValueError, match=r"x must contain only finite values in float32, "
                                         r"which holds magnitudes up to 3\.4e\+38, but its "
                                         r"largest is 9\.\d+e\+299"):
        training.train(stack, x.astype(np.float64) * 1e300, y, 1, np.random.default_rng(1))


def test_a_train_result_says_when_it_holds_a_diverged_run():
    stack = init_stack(1, [3], np.random.default_rng(17))
    assert not training.TrainResult(stack, 1, np.array([0.5])).diverged
    assert training.TrainResult(stack, 1, np.array([np.inf])).diverged
    broken = stack.copy()
    broken[1] = (stack[1][0], np.full_like(stack[1][1], np.nan))
    assert training.TrainResult(broken, 1, np.array([0.5])).diverged


def test_one_hot_labels_are_refused_unless_they_are_per_network_labels():
    stack, x, y = _circle_stack()
    with pytest.raises(ValueError, match=r"y looks one-hot encoded \(shape \(32, 2\)\); "
                                         r"pass class indices, e\.g\. y\.argmax\(axis=1\)"):
        accuracy(stack, x, np.eye(2)[y])
    two = concat(stack, stack)
    per_network = np.stack([np.ones(32, int), np.zeros(32, int)])   # (k, n): not one-hot
    assert accuracy(two, x, per_network).sum() == pytest.approx(1.0)


# --- the one trainer and its TensorFlow forward pass (issue 25) -------------------------------


def test_train_is_fit_on_its_batch_schedule():
    """train makes Keras' schedule of mini-batches and hands it to fit, the one trainer."""
    stack, x, y = _circle_stack()
    stack = concat(stack, init_stack(1, [8], np.random.default_rng(3)))
    trained = training.train(stack, x, y, 3, np.random.default_rng(4), batch_size=10,
                             track=True)
    index, weight = training.batch_schedule(len(x), 2, 3, 10, np.random.default_rng(4))
    fitted = training.fit(stack, x, y, index, weight, 1e-3, track=True)
    for field in ("params", "sign_sum", "nonzero_steps", "largest_update"):
        assert all(np.array_equal(a, b) for pair_a, pair_b in zip(getattr(trained, field),
                                                                   getattr(fitted, field))
                   for a, b in zip(pair_a, pair_b))
    assert np.array_equal(trained.loss, fitted.loss)
    assert all(np.array_equal(a, b) for a, b in zip(trained.co_active + trained.ever_active,
                                                    fitted.co_active + fitted.ever_active))


def _weight_decay(params, x, one_hot, strength):
    """A penalty hook: strength times the first kernel's squared weights, per network."""
    import tensorflow as tf

    return strength * tf.reduce_sum(tf.square(params[0][0]), axis=[1, 2])


def test_a_penalty_hook_adds_to_each_networks_loss():
    """One full-batch SGD step with weight decay of strength s moves the first kernel by
    an extra -lr * 2 s w; a strength of 0 changes nothing."""
    stack, x, y = _circle_stack()
    stack = concat(stack, stack)
    index, weight = training.batch_schedule(len(x), 2, 1, len(x), np.random.default_rng(0))
    plain = training.fit(stack, x, y, index, weight, 0.1, optimizer="sgd")
    decayed = training.fit(stack, x, y, index, weight, 0.1, optimizer="sgd",
                           penalty=_weight_decay, strength=[0.0, 0.5])
    assert all(np.array_equal(a[0], b[0]) for pair_a, pair_b in zip(plain.params,
                                                                     decayed.params)
               for a, b in zip(pair_a, pair_b))
    np.testing.assert_allclose(decayed.params[0][0][1],
                               plain.params[0][0][1] - 0.1 * 2 * 0.5 * stack[0][0][1],
                               rtol=1e-5, atol=1e-6)
    assert np.array_equal(decayed.params[1][0][1], plain.params[1][0][1])
    assert (tuple(stack.activations), "sgd", False, _weight_decay, True, True) in training._LOOPS


def test_fit_stops_a_diverged_run_or_runs_it_to_the_end():
    stack, x, y = _circle_stack()
    index, weight = training.batch_schedule(len(x), 1, 300, 32, np.random.default_rng(0))
    runs = [training.fit(stack, x * 1e10, y, index, weight, 100.0, optimizer="sgd",
                         stop_when_diverged=stop) for stop in (True, False)]
    assert all(run.diverged for run in runs)
    assert runs[0].steps == training._CHUNK_STEPS and runs[1].steps == 300


@pytest.mark.parametrize("activations", [("relu", "relu"), ("tanh", "sigmoid"),
                                         ("linear", "relu")])
@pytest.mark.parametrize("shared", [True, False])
def test_forward_tf_equals_the_numpy_forward(activations, shared):
    import tensorflow as tf

    rng = np.random.default_rng(6)
    stack = init_stack(3, [5, 4], rng, n_outputs=3, activation=activations)
    pairs = [(k.astype(np.float64), (b + np.float32(0.1)).astype(np.float64)) for k, b in stack]
    stack = Stack(pairs, activations)              # a Stack holds float32
    x = rng.normal(size=(7, 2) if shared else (3, 7, 2)).astype(np.float32).astype(np.float64)
    inputs, pre = training.forward_tf(pairs, x, activations)    # float64 pairs stay float64
    probabilities, hidden = stack.forward(x)
    np.testing.assert_allclose(tf.nn.softmax(pre[-1]).numpy(), probabilities, rtol=1e-12)
    for ours, theirs in zip(inputs[1:], hidden):
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-12, atol=1e-15)
    assert len(pre) == 3 and pre[-1].dtype == tf.float64
    float32 = training.forward_tf(stack, x)[1][-1]             # the Stack's own activations
    np.testing.assert_allclose(float32.numpy(), pre[-1].numpy(), rtol=1e-5, atol=1e-6)
