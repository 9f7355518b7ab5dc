"""Training for the right reasons: the second essay's closing idea, tested.

The essay ends with an idea it could not make work: relevance is differentiable, so a
classifier could be trained to put its relevance on an annotated region (the wolf, not the
snow), and would then be right for the right reasons on new images. This module builds
everything a fair test needs:

* a **shortcut task** on scikit-learn's digits: a bright marker pixel at a class-specific
  position in training, at a random position at test time (:func:`shortcut_task`);
* **differentiable relevance** in TensorFlow for a stack of ReLU MLPs (the stack form of
  :mod:`toyviz.training`, on its forward pass :func:`toyviz.training.forward_tf`): the
  input gradient, gradient × input and LRP-0/LRP-ε (:func:`relevance_tf`), equal in
  float64 to :func:`toyviz.relevance.propagate <toyviz.relevance.propagation.propagate>`;
* the **training routes** (:data:`ROUTES`): plain training, the essay's penalty on the
  relevance in the marker region in four forms (LRP-ε or gradient × input = LRP-0, each on
  the true logit or on all ten, :data:`PENALTIES`), Ross et al.'s input-gradient penalty,
  and a penalty on the positive LRP-ε relevance only (:func:`train_route`), each a
  penalty plugged into the one trainer, :func:`toyviz.training.fit`;
* the **goodharting measures** (:func:`evaluate`): accuracy on the decorrelated test set,
  the causal effect of moving the marker, the relevance mass on the marker, AOPC restricted
  to the marker region, the share of relevance in the biases, and the randomisation check,
  all computed with chapter 2's numpy code.

Arrays: images are flattened, ``x: (n, 64)`` float32 in [0, 1]; a stack is a list of
``(kernel (k, fan_in, fan_out), bias (k, fan_out))`` pairs, one per Dense layer, ReLU
between them and logits out of the last.

Introduced in chapter 2, :doc:`§Training for the right reasons </book/right_reasons>`.
"""

import functools
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from toyviz import data, intervals, relevance, training
from toyviz._checks import (describe, check_array, check_choice, check_float, check_int,
                             check_labels, check_rng, check_size, check_tensor)
from toyviz.network.stack import check_stack, concat, init_stack, network_of

#: The marker pixel of each class, (row, column) in the 8 x 8 image: class c is marked at
#: ``MARKER_PIXELS[c]``. Column 0 and the middle of column 7 carry ink in fewer than 1 in
#: 200 of the digits; they are blanked in every image, so the marker region is known exactly.
MARKER_PIXELS = ((0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0), (7, 0), (3, 7),
                 (4, 7))

#: The digits' classes.
N_CLASSES = 10
#: Pixels of a flattened 8 x 8 digit.
N_PIXELS = 64

#: Where a pixel's flat index is (row-major 8 x 8).
MARKER_INDEX = np.array([8 * row + column for row, column in MARKER_PIXELS])


def marker_region():
    """(64,) float32: 1 on the ten marker pixels (the wrong region), 0 on the digit's own
    pixels (the right region)."""
    region = np.zeros(N_PIXELS, dtype=np.float32)
    region[MARKER_INDEX] = 1.0
    return region


def mark(images, positions):
    """Flatten ``images`` and put a marker (value 1) at the marker pixel of each
    ``positions`` entry, after blanking the whole marker region.

    Parameters
    ----------
    images : (n, 8, 8) or (n, 8, 8, 1) float in [0, 1]
    positions : (n,) int in -1..9; -1 leaves the image without a marker.

    Returns
    -------
    (n, 64) float32.
    """
    images = check_array("images", images, empty=False)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != (8, 8):
        raise ValueError(f"images must have shape (n, 8, 8) or (n, 8, 8, 1), got shape "
                         f"{images.shape}")
    positions = check_array("positions", positions, shape=(len(images),), dtype=None)
    if not np.issubdtype(positions.dtype, np.integer) or len(positions) and (
            positions.min() < -1 or positions.max() >= N_CLASSES):
        raise ValueError("positions must be ints in -1..9 (-1: no marker)")
    x = images.reshape(len(images), N_PIXELS).copy()
    x[:, MARKER_INDEX] = 0.0
    rows = np.flatnonzero(positions >= 0)
    x[rows, MARKER_INDEX[positions[rows]]] = 1.0
    return x


@dataclass
class ShortcutTask:
    """The shortcut task (see :func:`shortcut_task`); all images flattened, (n, 64) float32.

    Attributes
    ----------
    x_train : marker at the class's own position (perfectly correlated with the label).
    x_test : held-out digits with the marker at the class's own position.
    x_moved : the same digits with the marker moved to another class's position.
    x_random : the same digits with the marker at a uniformly random position
        (independent of the label): the decorrelated test set.
    x_clean : the same digits without a marker.
    y_train, y_test : the labels of ``x_train`` and of the test images.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    x_moved: np.ndarray
    x_random: np.ndarray
    x_clean: np.ndarray
    y_test: np.ndarray

    def __post_init__(self):
        self.x_train = _check_images("x_train", self.x_train)
        self.y_train = check_labels("y_train", self.y_train, len(self.x_train), N_CLASSES)
        self.x_test = _check_images("x_test", self.x_test)
        n = len(self.x_test)
        for name in ("x_moved", "x_random", "x_clean"):
            setattr(self, name, _check_images(name, getattr(self, name), n))
        self.y_test = check_labels("y_test", self.y_test, n, N_CLASSES)


def _check_images(name, images, n=None):
    """Flattened images, (n, 64) float32 in [0, 1]."""
    images = check_array(name, images, shape=(n, N_PIXELS), empty=False)
    if images.min() < 0 or images.max() > 1:
        raise ValueError(f"{name} must hold pixel values in [0, 1], got values from "
                         f"{images.min()} to {images.max()}")
    return images


def shortcut_task(rng, n_train=1000):
    """Split sklearn's digits (shuffled with ``rng``) into ``n_train`` training images and
    the rest for testing, and mark them (see :class:`ShortcutTask`).

    Introduced in chapter 2, :ref:`§A shortcut task <reasons-shortcut-task>`.
    """
    rng = check_rng("rng", rng)
    n_train = check_int("n_train", n_train, low=10, high=1700)
    images, labels = data.digits(rng)
    train, test = slice(0, n_train), slice(n_train, None)
    y_test = labels[test]
    moved = (y_test + rng.integers(1, N_CLASSES, size=len(y_test))) % N_CLASSES
    random = rng.integers(0, N_CLASSES, size=len(y_test))
    return ShortcutTask(
        x_train=mark(images[train], labels[train]), y_train=labels[train],
        x_test=mark(images[test], y_test), x_moved=mark(images[test], moved),
        x_random=mark(images[test], random),
        x_clean=mark(images[test], np.full(len(y_test), -1)), y_test=y_test)


# --------------------------------------------------------------------------------------
# Differentiable relevance in TensorFlow
# --------------------------------------------------------------------------------------

#: The rules :func:`relevance_tf` computes, with the chapter-2 preset each one equals.
TF_RULES = {"gradient": "gradient", "gradient_x_input": "gradient_x_input",
            "lrp_0": "lrp_0", "lrp_epsilon": "lrp_epsilon"}


def _tf():
    import tensorflow as tf

    return tf


def _check_params_tf(name, params):
    """A stack for the TensorFlow relevance (see :func:`toyviz.training.check_stack_tf`):
    ReLU hidden layers, kept in its float type."""
    params = training.check_stack_tf(name, params)
    activations = getattr(params, "activations", ())      # tensors: ReLU, as documented
    if any(activation != "relu" for activation in activations):
        raise ValueError(f"{name} must have ReLU hidden layers for the TensorFlow relevance, "
                         f"got activations {list(activations)}")
    return params


def _blip(z, epsilon):
    tf = _tf()
    epsilon = tf.constant(epsilon, dtype=z.dtype)  # tf.cast(0.05, float64) rounds via float32
    return z + tf.where(z >= 0, epsilon, -epsilon)


def relevance_tf(params, x, weights, rule="lrp_epsilon", epsilon=0.01):
    """The relevance of each input and bias for ``weights . logits``, by one explicit
    backward pass written in TensorFlow ops, so that a loss can be differentiated through
    it (double backpropagation: the ReLU switches and LRP's denominators are functions of
    the weights).

    Parameters
    ----------
    params : a stack as TensorFlow or numpy arrays (float32 or float64), kernels
        ``(k, fan_in, fan_out)``, biases ``(k, fan_out)``
    x : (n, d) or (k, n, d) tensor, the inputs (shared by the networks or one batch each)
    weights : (n, n_outputs) or (k, n, n_outputs) tensor: the explained combination of
        logits per sample (a one-hot row explains one logit)
    rule : "gradient" (the signal that reaches the input), "gradient_x_input", "lrp_0" or
        "lrp_epsilon" (equal to chapter 2's presets of the same names; LRP starts from the
        explained output, the gradient rules from 1)
    epsilon : float >= 0, LRP-ε's stabiliser (``lrp_epsilon`` only)

    Returns
    -------
    ``(input relevance (k, n, d), [bias relevance (k, n, units) per layer])``.
    """
    tf = _tf()
    check_choice("rule", rule, TF_RULES)
    epsilon = check_float("epsilon", epsilon, low=0, high=1e6)   # checked whatever the rule
    epsilon = epsilon if rule == "lrp_epsilon" else 0.0
    params = _check_params_tf("params", params)
    dtype = params[0][0].dtype if isinstance(params[0][0], np.ndarray) else np.float32
    k, d, n_outputs = params[0][0].shape[0], params[0][0].shape[1], params[-1][0].shape[-1]
    x = check_tensor("x", x, [(None, d), (k, None, d)], dtype)
    n = x.shape[-2]
    weights = check_tensor("weights", weights, [(n, n_outputs), (k, n, n_outputs)], dtype)
    inputs, pre = training.forward_tf(params, x)
    weights = tf.cast(weights, pre[-1].dtype)
    if len(weights.shape) == 2:
        weights = tf.broadcast_to(weights[None], tf.shape(pre[-1]))
    lrp = rule.startswith("lrp")

    def divide(signal, z):
        return tf.math.divide_no_nan(signal, z) if epsilon == 0 else signal / _blip(z, epsilon)

    # the explained output c . z as one more matrix multiply, folded into the last layer
    explained = tf.reduce_sum(weights * pre[-1], axis=-1, keepdims=True)
    signal = explained if lrp else tf.ones_like(explained)
    biases = []
    for index in range(len(params) - 1, -1, -1):
        kernel, bias = params[index]
        if index == len(params) - 1:
            z = explained
            kernel = tf.einsum("kio,kno->kni", kernel, weights)      # (k, n, fan_in)
            bias = tf.reduce_sum(weights * bias[:, None, :], axis=-1, keepdims=True)
            t = divide(signal, z) if lrp else signal
            back = t * kernel
        else:
            z = pre[index]
            t = divide(signal, z) if lrp else signal * tf.cast(z > 0, z.dtype)  # ReLU'
            back = tf.einsum("kno,kio->kni", t, kernel)
            bias = bias[:, None, :]
        biases.append(t * bias)
        signal = inputs[index] * back if lrp else back
    biases = biases[::-1]
    if rule == "gradient_x_input":
        x_full = inputs[0] if len(inputs[0].shape) == 3 else inputs[0][None]
        signal = signal * x_full
    return signal, biases


def log_probability_gradient(params, x):
    """Ross et al.'s input gradient: ∂ Σ_k log p_k / ∂x, for every network of the stack
    (k, n, d); p is the softmax of the logits. Differentiable in the weights, as
    :func:`relevance_tf`."""
    tf = _tf()
    params = _check_params_tf("params", params)
    dtype = params[0][0].dtype if isinstance(params[0][0], np.ndarray) else np.float32
    k, d = params[0][0].shape[0], params[0][0].shape[1]
    x = check_tensor("x", x, [(None, d), (k, None, d)], dtype)
    _, pre = training.forward_tf(params, x)
    n_outputs = pre[-1].shape[-1]
    # ∂ Σ_k log p_k / ∂z_j = 1 − n_outputs · p_j
    weights = 1.0 - n_outputs * tf.nn.softmax(pre[-1], axis=-1)
    return relevance_tf(params, x, weights, rule="gradient")[0]


# --------------------------------------------------------------------------------------
# Training routes
# --------------------------------------------------------------------------------------

#: The penalised routes, as data: the rule of :func:`relevance_tf` whose relevance is
#: penalised in the marker region, which logits it explains ("true": the true class's logit;
#: "all": each of the ten logits, explained separately, their penalties summed), and whether
#: only the positive part is penalised. Gradient × input equals LRP-0 (chapter 2) and
#: needs no division; LRP-ε keeps its denominators ε away from zero.
PENALTIES = {
    "lrp": ("lrp_epsilon", "true", False),
    "lrp_all": ("lrp_epsilon", "all", False),
    "gxi": ("gradient_x_input", "true", False),
    "gxi_all": ("gradient_x_input", "all", False),
    "lrp_positive": ("lrp_epsilon", "true", True),
}

#: The essay's penalty in its four forms: two rules, each on the true logit and on all ten.
ESSAY_ROUTES = ("lrp", "lrp_all", "gxi", "gxi_all")

#: The training routes: what each penalises in the marker region (see :func:`penalty`).
ROUTES = {
    "plain": "no penalty",
    "unmarked": "no penalty, trained with the marker region blanked (the control)",
    "lrp": "LRP-ε relevance of the true class's logit, squared (the essay's idea)",
    "lrp_all": "LRP-ε relevance of each of the ten logits, squared and summed",
    "gxi": "gradient × input (= LRP-0) of the true class's logit, squared",
    "gxi_all": "gradient × input (= LRP-0) of each of the ten logits, squared and summed",
    "ross": "input gradient of Σ log p, squared (Ross et al. 2017)",
    "lrp_positive": "positive LRP-ε relevance of the true class's logit, squared",
}

#: How the book labels the routes.
ROUTE_LABELS = {"plain": "plain", "unmarked": "control: no marker",
                "lrp": "essay: LRP-ε, true logit", "lrp_all": "essay: LRP-ε, all logits",
                "gxi": "essay: gradient × input, true logit",
                "gxi_all": "essay: gradient × input, all logits",
                "ross": "Ross et al.: gradient penalty",
                "lrp_positive": "positive LRP-ε, true logit"}

#: The most rows (networks × batch × explained logits) one training step of
#: :func:`train_route` explains at once; more networks are trained in groups of weights.
STEP_ROWS = 10_000

#: LRP-ε's stabiliser in the penalties and the measures (chapter 2's default).
EPSILON = 0.01


def penalty(route, params, x, one_hot, region):
    """The route's penalty per network, (k,): the mean over the batch of the sum over the
    marker region (and over the logits, for the all-logits routes) of the penalised quantity
    squared (see :data:`ROUTES` and :data:`PENALTIES`).

    x: (k, n, d) batch per network; one_hot: (k, n, n_outputs) true classes;
    region: (d,) 1 on the marker region.
    """
    tf = _tf()
    check_choice("route", route, ROUTES)
    params = _check_params_tf("params", params)
    dtype = params[0][0].dtype if isinstance(params[0][0], np.ndarray) else np.float32
    k, d, n_outputs = params[0][0].shape[0], params[0][0].shape[1], params[-1][0].shape[-1]
    x = check_tensor("x", x, [(k, None, d)], dtype)
    one_hot = check_tensor("one_hot", one_hot, [(k, x.shape[1], n_outputs)], dtype)
    region = check_tensor("region", region, [(d,)], dtype)
    if route in ("plain", "unmarked"):
        return tf.zeros(tf.shape(x)[:1], dtype=x.dtype)
    if route == "ross":
        value = log_probability_gradient(params, x)
        return tf.reduce_mean(tf.reduce_sum(tf.square(value) * region, axis=-1), axis=-1)
    rule, logits, positive = PENALTIES[route]
    if logits == "all":                 # every sample once per logit, one logit explained each
        shape = tf.shape(x)                   # (k, n, d), known only when run if compiled
        x = tf.reshape(tf.repeat(x, n_outputs, axis=1), (shape[0], shape[1] * n_outputs,
                                                         shape[2]))
        one_hot = tf.tile(tf.eye(n_outputs, dtype=x.dtype)[None], (shape[0], shape[1], 1))
    value = relevance_tf(params, x, one_hot, rule, EPSILON)[0]
    if positive:
        value = tf.nn.relu(value)
    total = tf.reduce_sum(tf.square(value) * region, axis=-1)           # (k, n · logits)
    per_sample = n_outputs if logits == "all" else 1
    return tf.reduce_sum(total, axis=-1) / tf.cast(tf.shape(total)[1] // per_sample, x.dtype)


def penalty_gradient_gap(route, params, x, one_hot, rng, step=1e-5):
    """How well the gradient TensorFlow takes through a route's penalty (double
    backpropagation) predicts the penalty's change: the relative difference between the
    directional derivative along a random unit direction of all the weights, from the
    gradient, and the central finite difference ``(P(w + h u) − P(w − h u)) / 2h``.

    Parameters
    ----------
    route : a penalised route of :data:`PENALTIES` or "ross"
    params : a float64 stack (numpy), kernels ``(k, fan_in, fan_out)``, biases ``(k, fan_out)``
    x : (k, n, d) float64, a batch per network; one_hot : (k, n, n_outputs) float64
    rng : numpy.random.Generator, for the direction
    step : float > 0, h

    Returns
    -------
    float, ``|gradient · u − finite difference| / |gradient|`` for the penalty summed over
    the networks (0 when the gradient is 0): the error of the directional derivative as a
    share of the steepest one. A ReLU switch or an LRP-ε denominator crossing zero within
    ``h`` of the weights would show as a large gap.
    """
    tf = _tf()
    check_choice("route", route, [*PENALTIES, "ross"])      # the penalised routes
    params = _check_params_tf("params", params)
    if params[0][0].dtype != np.float64:
        raise TypeError(f"params must be float64 (a finite difference in float32 is "
                        f"rounding), got {params[0][0].dtype}")
    rng = check_rng("rng", rng)
    step = check_float("step", step, low=0, low_open=True, high=1.0)
    k, d, n_outputs = params[0][0].shape[0], params[0][0].shape[1], params[-1][0].shape[-1]
    x = check_array("x", x, dtype=np.float64, empty=False)
    if x.ndim != 3 or x.shape[0] != k or x.shape[2] != d:
        raise ValueError(f"x must have shape ({k}, n, {d}), got {x.shape}")
    one_hot = check_array("one_hot", one_hot, shape=(k, x.shape[1], n_outputs),
                          dtype=np.float64)
    region = tf.constant(marker_region() if d == N_PIXELS else np.ones(d), tf.float64)
    flat = [array for pair in params for array in pair]
    direction = [rng.normal(size=array.shape) for array in flat]
    norm = np.sqrt(sum(float((u ** 2).sum()) for u in direction))
    direction = [u / norm for u in direction]

    def total(arrays):
        pairs = list(zip(arrays[0::2], arrays[1::2]))
        return tf.reduce_sum(penalty(route, pairs, tf.constant(x), tf.constant(one_hot),
                                     region))

    variables = [tf.Variable(array) for array in flat]
    with tf.GradientTape() as tape:
        value = total(variables)
    # the last layer's bias does not reach gradient × input: its gradient is zero
    gradient = tape.gradient(value, variables,
                             unconnected_gradients=tf.UnconnectedGradients.ZERO)
    slope = float(sum(tf.reduce_sum(g * u) for g, u in zip(gradient, direction)))
    ahead = float(total([tf.constant(a + step * u) for a, u in zip(flat, direction)]))
    behind = float(total([tf.constant(a - step * u) for a, u in zip(flat, direction)]))
    difference = (ahead - behind) / (2 * step)
    scale = np.sqrt(sum(float(tf.reduce_sum(g * g)) for g in gradient))
    return 0.0 if scale == 0 else float(abs(slope - difference) / scale)


@functools.cache
def _penalty_hook(route):
    """``route``'s penalty as :func:`toyviz.training.fit`'s hook, strength × :func:`penalty`
    per network: one function per route (cached), so that its compiled loop is kept."""
    def hook(params, x, one_hot, strength, region):
        return strength * penalty(route, params, x, one_hot, region)

    return hook


@dataclass
class RouteResult:
    """What :func:`train_route` returns.

    Attributes
    ----------
    params : the trained stack, one network per (weight, seed), weight-major.
    weights, seeds : (k,) the penalty weight and seed of each network.
    seconds_per_step : float, wall time per optimizer step for the whole stack (after the
        loop is compiled; summed over the groups it was trained in).
    """

    params: list
    weights: np.ndarray
    seeds: np.ndarray
    seconds_per_step: float

    def __post_init__(self):
        self.params = check_stack("params", self.params)
        k = self.params[0][0].shape[0]
        self.weights = check_array("weights", self.weights, shape=(k,), dtype=np.float64)
        self.seeds = check_array("seeds", self.seeds, shape=(k,), dtype=np.int64)
        if self.weights.min() < 0 or self.seeds.min() < 0:
            raise ValueError("weights and seeds must be >= 0")
        self.seconds_per_step = check_float("seconds_per_step", self.seconds_per_step, low=0)


def train_route(task, route, weights, seeds, hidden=32, epochs=30, batch_size=100,
                learning_rate=0.005):
    """Train one network per (penalty weight, seed) on ``task.x_train`` with ``route``.

    Networks of the same seed start from the same weights (Glorot uniform, zero biases, as
    Keras initialises them) and see the same mini-batches, whatever the route and weight:
    differences between routes are paired by seed. The networks are independent; they are
    trained in groups of weights of at most :data:`STEP_ROWS` explained rows per step, to
    bound the memory.

    Parameters
    ----------
    task : ShortcutTask
    route : one of :data:`ROUTES`
    weights : sequence of float >= 0, the penalty weights (ignored by "plain" but kept)
    seeds : sequence of int >= 0
    hidden : int, the width of the single hidden ReLU layer
    epochs, batch_size : int >= 1
    learning_rate : float > 0 (Adam)

    Returns
    -------
    RouteResult
    """
    if not isinstance(task, ShortcutTask):
        raise TypeError(f"task must be a ShortcutTask, got {type(task).__name__}")
    check_choice("route", route, ROUTES)
    for name, values in (("weights", weights), ("seeds", seeds)):
        if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple,
                                                                       np.ndarray)):
            raise TypeError(f"{name} must be a sequence of numbers, got {describe(values)}")
        if not len(values):
            raise ValueError(f"{name} must hold at least one value")
    weights = [check_float(f"weights[{i}]", w, low=0) for i, w in enumerate(weights)]
    seeds = [check_int(f"seeds[{i}]", s, low=0) for i, s in enumerate(seeds)]
    hidden = check_int("hidden", hidden, low=1)
    k = len(weights) * len(seeds)
    check_size("hidden", hidden, k * hidden * (N_PIXELS + N_CLASSES + 1) * 4 * 8)
    epochs = check_int("epochs", epochs, low=1, high=10**5)
    batch_size = check_int("batch_size", batch_size, low=1, high=len(task.x_train))
    check_size("epochs", epochs, epochs * len(task.x_train) * k * 8 * 2)
    learning_rate = check_float("learning_rate", learning_rate, low=0, low_open=True,
                                high=1.0)
    n = len(task.x_train)
    per_seed = [init_stack(1, [hidden], np.random.default_rng(seed), N_PIXELS,
                                    N_CLASSES) for seed in seeds]
    orders = []
    for seed in seeds:
        rng = np.random.default_rng([seed, 1])
        batches = [rng.permutation(n)[:n - n % batch_size].reshape(-1, batch_size)
                   for _ in range(epochs)]
        orders.append(np.concatenate(batches))                  # (steps, batch)
    # The networks are independent (each has its own loss, Adam state and batches), so they
    # are trained in groups of weights that keep one step's explained rows within
    # STEP_ROWS: the all-logits penalties explain every digit ten times.
    rows = len(seeds) * batch_size * (N_CLASSES if PENALTIES.get(route, ("", ""))[1] == "all"
                                      else 1)
    per_group = max(1, STEP_ROWS // rows)
    hook = None if route in ("plain", "unmarked") else _penalty_hook(route)
    region = marker_region()
    # the control sees every image with the marker region blanked
    x = task.x_train * (1 - region) if route == "unmarked" else task.x_train
    trained, seconds = [], 0.0
    for first in range(0, len(weights), per_group):
        group = weights[first:first + per_group]
        stack = concat(*[per_seed[j] for _ in group for j in range(len(seeds))])
        index = np.stack([orders[j] for _ in group for j in range(len(seeds))], axis=1)
        strength = np.repeat(np.asarray(group, np.float32), len(seeds))
        # every batch is full: each point weighs 1 in its network's mean cross-entropy
        arguments = dict(x=x, y=task.y_train, learning_rate=learning_rate, penalty=hook,
                         strength=strength, extras=[region], stop_when_diverged=False,
                         ever_active=False)
        training.fit(stack, index=index[:1], weight=np.ones(index[:1].shape, np.float32),
                     **arguments)                                # compile outside the clock
        start = time.perf_counter()
        trained.append(training.fit(stack, index=index, weight=np.ones(index.shape,
                                                                        np.float32),
                                    **arguments).params)
        seconds += (time.perf_counter() - start) / len(index)
    trained = [tuple(np.concatenate([group[layer][part] for group in trained])
                     for part in range(2)) for layer in range(len(trained[0]))]
    strength = np.repeat(np.asarray(weights, np.float32), len(seeds))
    broken = ~np.all([np.isfinite(array).reshape(k, -1).all(axis=1)
                      for pair in trained for array in pair], axis=0)
    if broken.any():
        raise ValueError(
            f"training diverged: the weights of {int(broken.sum())} of the {k} networks "
            f"became NaN or inf (penalty weights {sorted(set(strength[broken].tolist()))}, "
            f"learning_rate {learning_rate:g}): lower weights or learning_rate")
    return RouteResult(trained, np.repeat(np.asarray(weights, np.float64), len(seeds)),
                       np.tile(np.asarray(seeds), len(weights)), seconds)


# --------------------------------------------------------------------------------------
# Measures, with chapter 2's numpy code
# --------------------------------------------------------------------------------------


#: Network ``net`` of a stack as a :class:`toyviz.network.Network` (float64), for chapter
#: 2's propagation and perturbation code: :func:`toyviz.network.stack.network_of`, the same
#: function (a float64 stack stays float64).
network = network_of


def _log_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


#: The columns :func:`evaluate` returns, with what each measures.
MEASURES = {
    "accuracy_correlated": "accuracy with the marker at the class's own position",
    "accuracy_decorrelated": "accuracy with the marker at a random position",
    "accuracy_clean": "accuracy without a marker",
    "effect_logit": "drop of the true class's logit when the marker is moved",
    "effect_log_p": "drop of the true class's log-probability when the marker is moved",
    "effect_removed": "drop of the true class's log-probability when the marker is removed",
    "effect_removed_logit": "drop of the true class's logit when the marker is removed",
    "effect_added": "drop of the true class's log-probability when a marker is added at "
                    "another class's position (to the unmarked digit)",
    "mass_lrp": "share of |LRP-ε relevance| (true logit) on the marker region",
    "mass_gradient": "share of |input gradient| (true logit) on the marker region",
    "mass_gxi": "share of |gradient × input| (= LRP-0, true logit) on the marker region",
    "marker_relevance": "mean LRP-ε relevance of the marker pixel (true logit)",
    "bias_share": "share of |LRP-ε relevance| that the biases take",
    "aopc_marker": "AOPC of the marker region, perturbed in LRP-ε order (pixels set to 0)",
    "aopc_marker_first": "the same AOPC in the marker-first order (its largest value)",
    "randomised_rank": "rank correlation of |LRP-ε| maps before and after randomising "
                       "every layer",
}


def evaluate(params, task, rng):
    """The measures of :data:`MEASURES` for every network of a stack, on the held-out
    digits of ``task``. Relevance is chapter 2's numpy :func:`toyviz.relevance.propagate
    <toyviz.relevance.propagation.propagate>` (LRP-ε with ε = :data:`EPSILON`, biases
    blamed, explaining the true class's logit).

    AOPC restricted to the marker region: region perturbation
    (:func:`toyviz.relevance.perturbation_curve
    <toyviz.relevance.evaluation.perturbation_curve>`) over the ten marker pixels only, in the
    order of their relevance, each set to 0 (removed). Only the lit marker pixel changes
    anything, so the AOPC is the marker's removal effect times the share of the eleven
    steps after it is removed: ``aopc_marker_first`` (the marker-first order) when relevance
    ranks the marker first among the marker pixels, a tenth of that when it ranks it last
    (below the unlit pixels' zeros). The randomisation
    check re-initialises every layer (Glorot uniform from ``rng``, zero biases, as
    :func:`toyviz.relevance.randomized_copy
    <toyviz.relevance.evaluation.randomized_copy>`).

    Returns
    -------
    pandas.DataFrame, one row per network, the columns of :data:`MEASURES`.
    """
    params = check_stack("params", params)
    if not isinstance(task, ShortcutTask):
        raise TypeError(f"task must be a ShortcutTask, got {type(task).__name__}")
    rng = check_rng("rng", rng)
    if params[0][0].shape[1] != N_PIXELS or params[-1][0].shape[2] != N_CLASSES:
        raise ValueError(f"params must take {N_PIXELS} inputs and give {N_CLASSES} outputs, "
                         f"got {params[0][0].shape[1]} and {params[-1][0].shape[2]}")
    k = params[0][0].shape[0]
    widths = [kernel.shape[2] for kernel, _ in params[:-1]]
    scrambled = init_stack(k, widths, rng, N_PIXELS, N_CLASSES)
    y = task.y_test
    rows_index = np.arange(len(y))
    outside = np.full(N_PIXELS, -np.inf)
    outside[MARKER_INDEX] = 0.0
    first = np.zeros((len(y), N_PIXELS))
    first[rows_index, MARKER_INDEX[y]] = 1.0          # the marker-first order
    zeros = np.zeros_like(task.x_test, dtype=np.float64)
    rows = []
    for net in range(k):
        model = params.network(net)
        logits = {name: model(getattr(task, name)) for name in
                  ("x_test", "x_moved", "x_random", "x_clean")}
        lrp = relevance.propagate(model, task.x_test, "lrp_epsilon", output=y,
                                  epsilon=EPSILON)
        grad = relevance.propagate(model, task.x_test, "gradient", output=y).input
        gxi = grad * task.x_test
        magnitude = np.abs(lrp.input).sum(axis=1)
        bias = sum(np.abs(value).sum(axis=1) for value in lrp.bias.values())
        marker = lrp.input[rows_index, MARKER_INDEX[y]]
        order = lrp.input + outside                    # only marker pixels get a rank
        curve = relevance.perturbation_curve(model, task.x_test, np.nan_to_num(
            order, neginf=-1e300), y, zeros, len(MARKER_INDEX))
        best = relevance.perturbation_curve(model, task.x_test, first + outside.clip(-1e300),
                                            y, zeros, len(MARKER_INDEX))
        random_net = scrambled.network(net)
        after = relevance.propagate(random_net, task.x_test, "lrp_epsilon", output=y,
                                    epsilon=EPSILON).input
        log_p = {name: _log_softmax(value)[rows_index, y] for name, value in logits.items()}
        rows.append({
            "accuracy_correlated": np.mean(logits["x_test"].argmax(1) == y),
            "accuracy_decorrelated": np.mean(logits["x_random"].argmax(1) == y),
            "accuracy_clean": np.mean(logits["x_clean"].argmax(1) == y),
            "effect_logit": np.mean(logits["x_test"][rows_index, y]
                                    - logits["x_moved"][rows_index, y]),
            "effect_log_p": np.mean(log_p["x_test"] - log_p["x_moved"]),
            "effect_removed": np.mean(log_p["x_test"] - log_p["x_clean"]),
            "effect_removed_logit": np.mean(logits["x_test"][rows_index, y]
                                            - logits["x_clean"][rows_index, y]),
            "effect_added": np.mean(log_p["x_clean"] - log_p["x_moved"]),
            "mass_lrp": np.mean(np.abs(lrp.input[:, MARKER_INDEX]).sum(axis=1)
                                / np.maximum(magnitude, 1e-12)),
            "mass_gradient": np.mean(np.abs(grad[:, MARKER_INDEX]).sum(axis=1)
                                     / np.maximum(np.abs(grad).sum(axis=1), 1e-12)),
            "mass_gxi": np.mean(np.abs(gxi[:, MARKER_INDEX]).sum(axis=1)
                                / np.maximum(np.abs(gxi).sum(axis=1), 1e-12)),
            "marker_relevance": np.mean(marker),
            "bias_share": np.mean(bias / np.maximum(bias + magnitude, 1e-12)),
            "aopc_marker": relevance.aopc(curve),
            "aopc_marker_first": relevance.aopc(best),
            "randomised_rank": np.nanmean(relevance.rank_correlation(lrp.input, after)),
        })
    return pd.DataFrame(rows, columns=list(MEASURES))


def interval(values, confidence=0.95):
    """Deprecated: use :func:`toyviz.intervals.interval` with ``single=True``, which this
    calls (the mean of ``values``, one per seed, with its t interval; for one value the
    interval is that value)."""
    warnings.warn("toyviz.reasons.interval is deprecated: use "
                  "toyviz.intervals.interval(values, confidence, single=True)",
                  DeprecationWarning, stacklevel=2)
    return intervals.interval(values, confidence, single=True)


def _check_columns(table, **named):
    """Each of ``named`` (parameter name -> a list of column names) must name columns
    of ``table``, the caller's ``frame``."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(table).__name__}")
    for name, columns in named.items():
        if isinstance(columns, (str, bytes)) or not isinstance(columns, (list, tuple)) \
                or not columns:
            raise TypeError(f"{name} must be a non-empty list of column names, got "
                            f"{describe(columns)}")
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise ValueError(f"{name} names columns that frame does not have: {missing}")


def summarise(frame, columns, by=("route", "weight")):
    """Mean and 95 % t interval over seeds of each of ``columns``, per group of ``by``:
    a DataFrame indexed by ``by`` with columns ``(column, "mean" | "low" | "high")``."""
    _check_columns(frame, columns=columns, by=by)
    for column in columns:
        numbers = frame[column]
        if not (pd.api.types.is_numeric_dtype(numbers) or pd.api.types.is_bool_dtype(numbers)):
            raise TypeError(f"columns must name numeric columns of frame, but {column!r} "
                            f"holds {numbers.dtype}")
        bad = ~np.isfinite(numbers.to_numpy(dtype=np.float64))
        if bad.any():
            raise ValueError(f"frame's column {column!r} (in columns) holds NaN or inf in "
                             f"{int(bad.sum())} rows; an interval needs finite values")
    out = {}
    for key, group in frame.groupby(list(by), sort=False):
        out[key] = {(column, part): value for column in columns
                    for part, value in zip(("mean", "low", "high"),
                                           intervals.interval(group[column].to_numpy(),
                                                              single=True))}
    result = pd.DataFrame.from_dict(out, orient="index")
    result.index.names = list(by)
    return result


def ratios_to_plain(frame, columns, plain="plain"):
    """Each network's ``columns`` divided by the plain network of the same seed (routes are
    paired by seed, see :func:`train_route`): a copy of ``frame`` (with columns ``route``,
    ``weight``, ``seed``) with a ``<column>_ratio`` column per column."""
    _check_columns(frame, columns=columns, frame=["route", "seed"])
    if not isinstance(plain, str):
        raise TypeError(f"plain must be a route name (str), got {describe(plain)}")
    reference = frame[frame.route == plain].set_index("seed")
    if reference.empty or reference.index.duplicated().any():
        raise ValueError(f"frame must hold one network of route plain = {plain!r} per seed")
    out = frame.copy()
    for column in columns:
        out[f"{column}_ratio"] = frame[column].to_numpy() / reference.loc[
            frame.seed, column].to_numpy()
    return out


def against_controls(frame, plain="plain", control="unmarked"):
    """What the verdicts compare, network by network: a copy of ``frame`` (the measures of
    :func:`evaluate` with columns ``route``, ``weight`` and ``seed``) with the ratios of
    :func:`ratios_to_plain` and

    * ``mass_ratio``: the penalised rule's absolute relevance share on the marker, as a share of
      the plain network's of the same seed (``mass_gxi`` for the gradient × input routes of
      :data:`PENALTIES`, ``mass_lrp`` for the others);
    * ``effect_ratio``: the marker's effect on log p, as a share of plain's (same seed);
    * ``accuracy_gap``: decorrelated accuracy minus that of the ``control`` network of the
      same seed (trained without a marker);
    * ``unlit_share``: the part of the moved marker's effect that adding it at another
      class's position carries (``effect_added / effect_log_p``; the rest is removing it
      from the class's own position); NaN where the effect is 0.
    """
    _check_columns(frame, frame=["route", "seed", "accuracy_decorrelated", "mass_lrp",
                                 "mass_gxi", "effect_log_p", "effect_logit", "effect_added"])
    if not isinstance(control, str):
        raise TypeError(f"control must be a route name (str), got {describe(control)}")
    reference = frame[frame.route == control].set_index("seed")
    if reference.empty or reference.index.duplicated().any():
        raise ValueError(f"frame must hold one network of route control = {control!r} per "
                         f"seed")
    missing = sorted(set(frame.seed) - set(reference.index))
    if missing:
        raise ValueError(f"frame must hold a network of route control = {control!r} for "
                         f"every seed; seeds {missing} have none")
    out = ratios_to_plain(frame, ["mass_lrp", "mass_gxi", "effect_log_p", "effect_logit"],
                          plain)
    gradient_x_input = out.route.map(lambda route: PENALTIES.get(route, ("",))[0]
                                     == "gradient_x_input").to_numpy(bool)
    out["mass_ratio"] = np.where(gradient_x_input, out.mass_gxi_ratio, out.mass_lrp_ratio)
    out["effect_ratio"] = out.effect_log_p_ratio
    out["accuracy_gap"] = (out.accuracy_decorrelated.to_numpy()
                           - reference.loc[out.seed, "accuracy_decorrelated"].to_numpy())
    effect = out.effect_log_p.to_numpy(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["unlit_share"] = np.where(effect != 0, out.effect_added.to_numpy(np.float64)
                                      / effect, np.nan)
    return out
