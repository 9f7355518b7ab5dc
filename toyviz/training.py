"""Training many small networks at once.

A :class:`toyviz.network.stack.Stack` holds ``k`` multilayer perceptrons of one shape
(its module docstring shows the arrays). Training runs every network on its own
mini-batches in one compiled TensorFlow loop (``einsum`` over the network axis), so ten
seeds cost little more than one. The loss is the *sum* over networks of each network's
mean cross-entropy, so every network gets exactly the gradient it would get alone, and
Adam (element-wise) treats each exactly as Keras' ``Adam`` would.

One trainer, :func:`fit`, runs that loop on a given schedule of mini-batches, with the
one TensorFlow forward pass (:func:`forward_tf`) and an optional penalty added to each
network's loss: :func:`train` hands it Keras' schedule, and
:func:`toyviz.reasons.train_route` its relevance penalties.

The stack itself, its numpy forward pass and its conversions live in
:mod:`toyviz.network.stack`; the names that used to live here (``Stack``, ``forward``,
``accuracy``, ``init_stack``, ``check_stack``, ``take``, ``concat``, ``from_models``,
``to_models``, ``HIDDEN_ACTIVATIONS``) are the same objects, importable from here too.

Introduced in chapter 3, :ref:`§Data and network <pruning-data>`.
"""

import functools
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from toyviz._checks import (check_array, check_choice, check_fits, check_flag, check_float,
                            check_int, check_labels, check_rng, check_tensor,
                            check_training_inputs, describe, is_tensor, refuse_divergence)
from toyviz.network.activations import parse_activation
# the stack's names, re-exported: the same objects as in toyviz.network.stack
from toyviz.network.stack import (HIDDEN_ACTIVATIONS, Stack, accuracy, check_pairs,  # noqa: F401
                                  check_stack, concat, forward, from_models, init_stack,
                                  take, to_models)
from toyviz.network.stack import check_inputs

OPTIMIZERS = ("adam", "sgd")


def network_of(params, net):
    """Deprecated: ``check_stack("params", params).network(net)``
    (:meth:`toyviz.network.stack.Stack.network`), network ``net`` of a stack as a
    :class:`toyviz.network.Network` (float64)."""
    warnings.warn("toyviz.training.network_of is deprecated: use "
                  "toyviz.network.stack.check_stack('params', params).network(net) "
                  "(Stack.network)", DeprecationWarning, stacklevel=2)
    return check_stack("params", params).network(net)


@dataclass
class TrainResult:
    """What :func:`train` and :func:`fit` return.

    Attributes
    ----------
    params : the trained :class:`Stack` (numpy float32, the input stack's shapes and
        activations).
    steps : int, the number of optimizer steps taken.
    loss : (steps,) float32, the mean over networks of the mini-batch loss at each step.

    A result records what it is given, a diverged run's NaN or inf loss and weights too;
    ``diverged`` says whether it is one. :func:`train` never returns one: it raises
    ``ValueError`` when training diverges (:func:`fit` returns it, stopped or run out).
    snapshots : list of ``(step, params)``; the stack before step 0 and after every
        ``snapshot_every`` steps (empty when ``snapshot_every`` is None).
    ever_active : list of ``(k, width)`` bool, one per hidden layer: whether the unit's
        pre-activation was positive for at least one training example in at least one
        mini-batch during training. A ReLU unit that is never active gets zero gradient
        on its incoming weights and bias at every step.
    sign_sum : list of ``(kernel (k, ...), bias (k, ...))`` float32: the sum over steps of
        the sign of each parameter's gradient (+1, 0 or -1).
    nonzero_steps : same shapes, the number of steps on which the gradient was non-zero.
    largest_update : same shapes, the largest step the optimizer took on each parameter,
        ``|w_before - w_after|`` as computed, before it is added to the float32 weight.
        A parameter whose every step is below half the float32 spacing at its value
        (``numpy.spacing(w) / 2``) ends exactly where it started although its gradient
        was not zero.
    co_active : list of ``(k, fan_in, fan_out)`` bool, one per kernel after the first:
        whether the kernel's input node (a ReLU output) was positive on some training
        example on which its output node was active too (for the output layer: on which
        the input node was positive). A weight whose two nodes are never co-active gets
        zero gradient at every step. Only with ``track=True``.
    """

    params: list
    steps: int
    loss: np.ndarray
    snapshots: list = field(default_factory=list)
    ever_active: list = field(default_factory=list)
    sign_sum: list = field(default_factory=list)
    nonzero_steps: list = field(default_factory=list)
    co_active: list = field(default_factory=list)
    largest_update: list = field(default_factory=list)

    @property
    def diverged(self):
        """True when the loss or the trained weights hold NaN or inf."""
        return not (np.all(np.isfinite(self.loss)) and all(
            np.all(np.isfinite(kernel)) and np.all(np.isfinite(bias))
            for kernel, bias in self.params))

    def __post_init__(self):
        # the weights as training left them: a diverged run's NaN too
        self.params = Stack.from_checked(check_pairs("params", self.params, finite=False),
                                         getattr(self.params, "activations", None))
        self.steps = check_int("steps", self.steps, low=0)
        self.loss = check_array("loss", self.loss, ndim=1, finite=False)
        if len(self.loss) != self.steps:
            raise ValueError(f"loss must hold one value per step, but steps is "
                             f"{self.steps} and loss holds {len(self.loss)}")
        k = self.params[0][0].shape[0]
        for name in ("snapshots", "ever_active", "sign_sum", "nonzero_steps", "co_active",
                     "largest_update"):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
                raise TypeError(f"{name} must be a list, got {describe(value)}")
        for i, snapshot in enumerate(self.snapshots):
            if not isinstance(snapshot, (list, tuple)) or len(snapshot) != 2:
                raise TypeError(f"snapshots[{i}] must be a (step, params) pair, "
                                f"got {describe(snapshot)}")
            check_int(f"snapshots[{i}][0]", snapshot[0], low=0, high=self.steps)
            check_pairs(f"snapshots[{i}][1]", snapshot[1], finite=False)
        for name in ("ever_active", "co_active"):
            for i, value in enumerate(getattr(self, name)):
                array = check_array(f"{name}[{i}]", value, dtype=None)
                if array.dtype != bool or array.ndim < 2 or array.shape[0] != k:
                    raise ValueError(f"{name}[{i}] must be a bool array with one row per "
                                     f"network ({k}), got {describe(array)}")


def _tf():
    import tensorflow as tf

    return tf


def batch_schedule(n, k, epochs, batch_size, rng, shuffle=True):
    """Mini-batch indices for ``k`` networks, Keras style: each epoch visits every point
    once in a fresh random order (per network), in ``ceil(n / batch_size)`` batches, the
    last of which may be short (padded here, with weight 0).

    Returns
    -------
    index : (steps, k, batch_size) int32, steps = epochs * ceil(n / batch_size)
    weight : (steps, k, batch_size) float32, 1 for real points and 0 for padding
    """
    n = check_int("n", n, low=1)
    k = check_int("k", k, low=1)
    epochs = check_int("epochs", epochs, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    rng = check_rng("rng", rng)
    shuffle = check_flag("shuffle", shuffle)
    batch_size = min(batch_size, n)
    per_epoch = -(-n // batch_size)
    padded = per_epoch * batch_size
    check_fits([("n", n), ("k", k), ("epochs", epochs)], 12 * epochs * k * padded)
    index = np.zeros((epochs, k, padded), np.int32)
    for epoch in range(epochs):
        for net in range(k):
            index[epoch, net, :n] = rng.permutation(n) if shuffle else np.arange(n)
    weight = np.zeros((padded,), np.float32)
    weight[:n] = 1.0
    index = index.reshape(epochs, k, per_epoch, batch_size).transpose(0, 2, 1, 3)
    weight = np.broadcast_to(weight.reshape(per_epoch, 1, batch_size),
                             (epochs, per_epoch, k, batch_size))
    steps = epochs * per_epoch
    return (index.reshape(steps, k, batch_size),
            np.ascontiguousarray(weight).reshape(steps, k, batch_size))


def train(params, x, y, epochs, rng, learning_rate=1e-3, batch_size=32, optimizer="adam",
          snapshot_every=None, shuffle=True, frozen=None, track=False):
    """Train every network of a stack on its own shuffled mini-batches.

    Adam is Keras' (beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    ``m <- m + (g - m)(1 - beta_1)``, ``v <- v + (g^2 - v)(1 - beta_2)``,
    ``w <- w - lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)``.
    A parameter whose gradient is exactly 0 at every step keeps m = v = 0 and so never
    moves; one whose gradient is constant moves by ``lr`` per step once the moments have
    settled (``m / sqrt(v)`` tends to its sign), whatever the gradient's size. A gradient
    that keeps its sign but varies in size makes ``|m| / sqrt(v)``, and the move, smaller
    or, for a while after a jump, larger (:doc:`/book/pruning` measures it). SGD is
    ``w <- w - lr * g``.

    Parameters
    ----------
    params : a stack of ``k`` networks (see the module docstring)
    x : (n, n_inputs) shared, or (k, n, n_inputs) per network, float32
    y : (n,) or (k, n) int labels in [0, n_outputs)
    epochs : int >= 1
    rng : numpy.random.Generator, for the batch order
    learning_rate : float > 0
    batch_size : int >= 1 or None for full batch
    optimizer : "adam" or "sgd"
    snapshot_every : int >= 1 or None, keep a copy of the stack every this many steps
    shuffle : bool, False visits the points in order (as ``model.fit(shuffle=False)``)
    frozen : optional list of ``(kernel_mask, bias_mask)`` 0/1 arrays shaped like params;
        gradients are multiplied by them (0 = never updated). Used to train masked nets.
    track : bool, also count gradient signs and non-zero steps (``sign_sum``,
        ``nonzero_steps``), keep the largest update of each parameter
        (``largest_update``) and which nodes were active together (``ever_active``,
        ``co_active``); a little slower.

    Returns
    -------
    TrainResult
    """
    params = check_stack("params", params)
    k = params[0][0].shape[0]
    n_outputs = params[-1][0].shape[2]
    x = check_training_inputs("x", check_inputs("x", x, k, params[0][0].shape[1]))
    n = x.shape[1]
    y = check_labels("y", y, n, n_outputs, integer_dtype=True, k=k)
    epochs = check_int("epochs", epochs, low=1)
    rng = check_rng("rng", rng)
    learning_rate = check_float("learning_rate", learning_rate, low=0, low_open=True,
                                high=100.0)
    batch_size = n if batch_size is None else check_int("batch_size", batch_size, low=1)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    shuffle, track = check_flag("shuffle", shuffle), check_flag("track", track)
    snapshot_every, masks = _check_run(params, track, snapshot_every, frozen)
    index, weight = batch_schedule(n, k, epochs, batch_size, rng, shuffle=shuffle)
    result = _fit(params, x, y, index, weight, learning_rate, optimizer, masks, track,
                  snapshot_every, None, None, ())
    if result.diverged:
        bad = np.flatnonzero(~np.isfinite(result.loss))
        refuse_divergence(f"step {int(bad[0]) if bad.size else result.steps}", x,
                          learning_rate)
    return result


# --------------------------------------------------------------------------------------
# TensorFlow: one forward pass and one trainer
# --------------------------------------------------------------------------------------

def check_stack_tf(name, params):
    """A stack for the TensorFlow functions: a list of ``(kernel, bias)`` pairs of
    TensorFlow tensors is returned as it is (inside a compiled loop they have no values
    yet); anything else is checked as :func:`check_stack` does and returned as a
    :class:`Stack` of numpy pairs kept in their float type (float32 or float64).
    ``name`` is the caller's parameter, for the messages."""
    if isinstance(params, (list, tuple)) and params and all(
            isinstance(pair, (list, tuple)) and len(pair) == 2
            and all(is_tensor(array) for array in pair) for pair in params):
        return params
    stack = check_stack(name, params)
    dtype = np.float64 if np.asarray(params[0][0]).dtype == np.float64 else np.float32
    return Stack.from_checked([(np.asarray(kernel, dtype), np.asarray(bias, dtype))
                               for kernel, bias in params], stack.activations)


def forward_tf(params, x, activations=None):
    """Run every network of a stack in TensorFlow, differentiably: the forward pass that
    :func:`fit` trains with and :func:`toyviz.reasons.relevance_tf` explains.

    Parameters
    ----------
    params : a stack as TensorFlow tensors or numpy arrays (float32 or float64)
    x : (n, n_inputs) shared by the networks, or (k, n, n_inputs) one batch per network
    activations : the hidden activations (names from :data:`HIDDEN_ACTIVATIONS`, one or
        one per hidden layer); None: the stack's own (ReLU for tensors or a plain list)

    Returns
    -------
    ``(inputs, pre)``: ``inputs`` the input of every layer ``[x, a_1, ...]`` (``a_l`` the
    hidden layer's output, (k, n, width)), ``pre`` every layer's pre-activation
    ``[z_0, ..., z_L]`` (k, n, width), the last the logits.
    """
    params = check_stack_tf("params", params)
    activations = Stack.from_checked(  # checked there
        params, getattr(params, "activations", None) if activations is None
        else activations).activations
    dtype = params[0][0].dtype if isinstance(params[0][0], np.ndarray) else np.float32
    k, d = params[0][0].shape[0], params[0][0].shape[1]
    x = check_tensor("x", x, [(None, d), (k, None, d)], dtype)
    return _forward_tf(params, x, activations)


def _forward_tf(params, x, activations):
    """:func:`forward_tf` of checked arguments (``activations`` one name per hidden layer)."""
    tf = _tf()
    functions = {name: functools.reduce(getattr, parse_activation(name)[0].trainer.split("."), tf)
                 for name in set(activations)}
    inputs, pre = [x], []
    a = x
    for layer, (kernel, bias) in enumerate(params):
        equation = "kni,kio->kno" if len(a.shape) == 3 else "ni,kio->kno"
        z = tf.einsum(equation, a, kernel) + bias[:, None, :]
        pre.append(z)
        if layer < len(params) - 1:
            a = functions[activations[layer]](z)
            inputs.append(a)
    return inputs, pre


def fit(params, x, y, index, weight, learning_rate, optimizer="adam", frozen=None,
        track=False, snapshot_every=None, penalty=None, strength=None, extras=(),
        stop_when_diverged=True, ever_active=True):
    """Train every network of a stack on a given schedule of mini-batches, with an
    optional penalty: the one trainer behind :func:`train` (which makes the schedule with
    :func:`batch_schedule`) and :func:`toyviz.reasons.train_route` (which penalises
    relevance).

    Each step minimises the sum over networks of each network's loss: the weighted mean
    cross-entropy over its batch, plus its penalty when one is given. The optimizer is
    :func:`train`'s.

    Parameters
    ----------
    params : a stack of ``k`` networks (see the module docstring)
    x : (n, n_inputs) shared, or (k, n, n_inputs) per network, float32
    y : (n,) or (k, n) int labels in [0, n_outputs)
    index : (steps, k, batch) int in [0, n): the points of each network's batch, per step
    weight : (steps, k, batch) float32 >= 0, each point's weight in its network's mean
        cross-entropy at that step (0 for padding), each batch's summing to more than 0
    learning_rate, optimizer, frozen, track, snapshot_every : as :func:`train`
    penalty : None, or a function ``(params, x, one_hot, strength, *extras)`` of
        TensorFlow tensors returning each network's penalty, (k,), added to its loss:
        ``params`` the stack's ``(kernel, bias)`` pairs, ``x`` (k, batch, n_inputs) and
        ``one_hot`` (k, batch, n_outputs) the step's batches. It is compiled once per
        function object: pass the same function each time.
    strength : (k,) float >= 0, each network's strength, for ``penalty`` (default 1)
    extras : sequence of float32 arrays, more constants for ``penalty``
        (e.g. a region mask)
    stop_when_diverged : bool; True stops after the chunk of steps (at most 128, or
        ``snapshot_every``) in which the loss or the weights became NaN or inf
    ever_active : bool, record which hidden nodes were ever active (the result's
        ``ever_active``; always with ``track``); False leaves it empty, and each step
        a little faster

    Returns
    -------
    :class:`TrainResult`; one that stopped early has ``diverged`` True and ``steps`` the
    steps taken.
    """
    params = check_stack("params", params)
    k, n_inputs = params[0][0].shape[:2]
    n_outputs = params[-1][0].shape[2]
    x = check_tensor("x", np.asarray(x) if is_tensor(x) else x,   # its values checked
                     [(None, n_inputs), (k, None, n_inputs)], np.float32)
    x = check_training_inputs("x", x)
    n = x.shape[-2]
    y = check_labels("y", y, n, n_outputs, integer_dtype=True, k=k)
    if np.asarray(index).dtype == bool:
        raise TypeError(f"index must hold int point positions, got {describe(index)}")
    index = check_array("index", index, ndim=3, dtype=np.int64, empty=False)
    if index.shape[1] != k or index.min() < 0 or index.max() >= n:
        raise ValueError(f"index must have shape (steps, {k}, batch) and hold points in "
                         f"[0, {n}), got {describe(index)} with values from "
                         f"{index.min()} to {index.max()}")
    index = index.astype(np.int32)
    weight = check_array("weight", weight, shape=index.shape)
    if weight.min() < 0 or not np.all(weight.sum(axis=2) > 0):
        raise ValueError("weight must be >= 0 with every batch's weights summing to more "
                         "than 0")
    learning_rate = check_float("learning_rate", learning_rate, low=0, low_open=True,
                                high=100.0)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    track = check_flag("track", track)
    stop_when_diverged = check_flag("stop_when_diverged", stop_when_diverged)
    watch = check_flag("ever_active", ever_active) or track
    snapshot_every, masks = _check_run(params, track, snapshot_every, frozen)
    if penalty is not None and not callable(penalty):
        raise TypeError(f"penalty must be a function or None, got {describe(penalty)}")
    strength = check_array("strength", np.ones(k, np.float32) if strength is None
                           else strength, shape=(k,))
    if strength.min() < 0:
        raise ValueError(f"strength must be >= 0, got values from {strength.min()}")
    if isinstance(extras, (str, bytes)) or not isinstance(extras, (list, tuple)):
        raise TypeError(f"extras must be a list of arrays, got {describe(extras)}")
    extras = [check_array(f"extras[{i}]", extra) for i, extra in enumerate(extras)]
    return _fit(params, x, y, index, weight, learning_rate, optimizer, masks, track,
                snapshot_every, penalty, strength, extras, stop_when_diverged, watch)


def _check_run(params, track, snapshot_every, frozen):
    """:func:`train`'s and :func:`fit`'s checks of ``track`` (a bool: ReLU stacks only),
    ``snapshot_every`` and ``frozen``: ``(snapshot_every, masks)``, ``masks`` None or the
    list of checked mask pairs."""
    if track and any(f != "relu" for f in params.activations):
        raise ValueError(f"track=True needs ReLU hidden layers (it counts when nodes are "
                         f"active), but params has activations {list(params.activations)}")
    if snapshot_every is not None:
        snapshot_every = check_int("snapshot_every", snapshot_every, low=1)
    if frozen is None:
        return snapshot_every, None
    if isinstance(frozen, (str, bytes)) or not hasattr(frozen, "__len__") \
            or len(frozen) != len(params):
        raise TypeError(f"frozen must be a list of {len(params)} (kernel_mask, "
                        f"bias_mask) pairs shaped like params, got {describe(frozen)}")
    masks = []
    for i, ((m_k, m_b), (kernel, bias)) in enumerate(zip(frozen, params)):
        masks.append((check_array(f"frozen[{i}][0]", m_k, shape=kernel.shape),
                      check_array(f"frozen[{i}][1]", m_b, shape=bias.shape)))
    return snapshot_every, masks


def _fit(params, x, y, index, weight, learning_rate, optimizer, masks, track,
         snapshot_every, penalty, strength, extras, stop_when_diverged=True, watch=True):
    """:func:`fit` of checked arguments: ``y`` (k, n) labels, ``masks`` None or the
    frozen pairs, ``strength`` None or (k,) and ``extras`` arrays (with a penalty),
    ``watch`` whether to record ``ever_active``."""
    tf = _tf()
    k = params[0][0].shape[0]
    n_outputs = params[-1][0].shape[2]
    steps = len(index)
    flat = [tf.constant(w) for pair in params for w in pair]
    zeros = [tf.zeros_like(w) for w in flat]
    moments = (zeros, zeros) if optimizer == "adam" else ((), ())
    active = ([tf.zeros((k, kernel.shape[2]), tf.bool) for kernel, _ in params[:-1]] if watch
              else ())
    signs, nonzero, largest = (zeros, zeros, zeros) if track else ((), (), ())
    co_active = ([tf.zeros(kernel.shape, tf.bool) for kernel, _ in params[1:]] if track
                 else ())
    flat_masks = [] if masks is None else [tf.constant(m) for pair in masks for m in pair]
    run = _compiled_loop(params.activations, optimizer, track, penalty, x.ndim == 2, watch)
    constants = (tf.constant(x), tf.one_hot(tf.constant(y.astype(np.int32)), n_outputs),
                 tf.constant(learning_rate, tf.float32), flat_masks,
                 None if penalty is None else tf.constant(strength),
                 [tf.constant(extra) for extra in extras] if penalty is not None else [])
    # The compiled loop takes the batch indices a chunk of steps at a time, so that a long
    # full-batch schedule is not copied into TensorFlow all at once (the moments carry over).
    chunk = min(steps, _CHUNK_STEPS) if snapshot_every is None else snapshot_every
    snapshots = [] if snapshot_every is None else [(0, _copy(params))]
    stack = lambda arrays: Stack.from_checked(_pairs(arrays), params.activations)  # noqa: E731
    losses = []
    for start in range(0, steps, chunk):
        stop = min(start + chunk, steps)
        flat, moments, active, signs, nonzero, largest, co_active, loss = run(
            flat, moments, active, signs, nonzero, largest, co_active,
            tf.constant(index[start:stop]),
            tf.constant(weight[start:stop]), tf.constant(start, tf.float32), *constants)
        losses.append(loss.numpy())
        if stop_when_diverged and (not np.all(np.isfinite(losses[-1])) or not all(
                np.all(np.isfinite(v.numpy())) for v in flat)):
            break
        if snapshot_every is not None:
            snapshots.append((stop, stack([v.numpy() for v in flat])))
    return TrainResult(
        params=stack([v.numpy() for v in flat]), steps=stop,
        loss=np.concatenate(losses), snapshots=snapshots,
        ever_active=[a.numpy() for a in active],
        sign_sum=_pairs([v.numpy() for v in signs]) if track else [],
        nonzero_steps=_pairs([v.numpy() for v in nonzero]) if track else [],
        co_active=[c.numpy() for c in co_active],
        largest_update=_pairs([v.numpy() for v in largest]) if track else [])


_LOOPS = {}

#: The most steps one call of the compiled loop runs when no snapshots are asked for.
_CHUNK_STEPS = 128


def _compiled_loop(activations, optimizer, track, penalty=None, shared=False, watch=True):
    """One compiled training loop per (hidden activations, optimizer, tracking, penalty
    function, whether the networks share x, whether it records ``ever_active``): a pure
    function of tensors, so that new networks and data of new shapes don't build new
    graphs."""
    key = (tuple(activations), optimizer, track, penalty, shared, watch)
    if key in _LOOPS:
        return _LOOPS[key]
    tf = _tf()
    beta_1, beta_2, epsilon = 0.9, 0.999, 1e-7
    n_hidden = len(activations)

    def step_fn(flat, moments, active, signs, nonzero, largest, co_active, xb, yb, wb, t, lr,
                masks, strength, extras):
        with tf.GradientTape() as tape:
            tape.watch(flat)
            params = _pairs(flat)
            inputs, pre = _forward_tf(params, xb, activations)
            ce = tf.nn.softmax_cross_entropy_with_logits(labels=yb, logits=pre[-1])
            per_net = tf.reduce_sum(ce * wb, axis=1) / tf.reduce_sum(wb, axis=1)
            if penalty is not None:
                per_net = per_net + penalty(params, xb, yb, strength, *extras)
            loss = tf.reduce_sum(per_net)
        grads = tape.gradient(loss, flat)
        real = wb[..., None] > 0                       # the batch's points, not its padding
        new_active = [tf.logical_or(active[layer],
                                    tf.reduce_any((pre[layer] > 0) & real, axis=1))
                      for layer in range(n_hidden)] if watch else active
        if track:
            # a kernel's input node (a ReLU output) positive where its output node is
            # active (for the output layer: wherever the input node is positive)
            new_co_active = []
            for layer in range(1, n_hidden + 1):
                on_in = tf.cast((inputs[layer] > 0) & real, tf.float32)
                on_out = (tf.cast(pre[layer] > 0, tf.float32) if layer < n_hidden
                          else tf.ones_like(pre[layer]))
                both = tf.einsum("kni,kno->kio", on_in, on_out) > 0
                new_co_active.append(tf.logical_or(co_active[layer - 1], both))
        if masks:
            grads = [g * m for g, m in zip(grads, masks)]
        if track:
            signs = [s + tf.sign(g) for s, g in zip(signs, grads)]
            nonzero = [c + tf.cast(tf.not_equal(g, 0.0), tf.float32)
                       for c, g in zip(nonzero, grads)]
        if optimizer == "sgd":
            updates = [lr * g for g in grads]
        else:
            alpha = lr * tf.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
            m = [m + (g - m) * (1 - beta_1) for m, g in zip(moments[0], grads)]
            v = [v + (tf.square(g) - v) * (1 - beta_2) for v, g in zip(moments[1], grads)]
            updates = [mi * alpha / (tf.sqrt(vi) + epsilon) for mi, vi in zip(m, v)]
            moments = (m, v)
        flat = [w - u for w, u in zip(flat, updates)]
        if track:
            largest = [tf.maximum(top, tf.abs(u)) for top, u in zip(largest, updates)]
            co_active = new_co_active
        return flat, moments, new_active, signs, nonzero, largest, co_active, loss

    # A step's Python branches are on Python values (the options, the penalty's route), so
    # it is traced as plain Python: converting it, and every function it calls, with
    # autograph costs a second or more per loop and builds the same graph.
    step_fn = tf.autograph.experimental.do_not_convert(step_fn)

    @tf.function(reduce_retracing=True, jit_compile=False)
    def run(flat, moments, active, signs, nonzero, largest, co_active, index, weight, step0, x,
            one_hot, lr, masks, strength, extras):
        n_steps = tf.shape(index)[0]
        losses = tf.TensorArray(tf.float32, size=n_steps)
        k = tf.cast(tf.shape(index)[1], tf.float32)
        for s in tf.range(n_steps):
            xb = tf.gather(x, index[s], batch_dims=0 if shared else 1)   # (k, batch, d)
            yb = tf.gather(one_hot, index[s], batch_dims=1)
            flat, moments, active, signs, nonzero, largest, co_active, loss = step_fn(
                flat, moments, active, signs, nonzero, largest, co_active, xb, yb, weight[s],
                step0 + tf.cast(s, tf.float32) + 1.0, lr, masks, strength, extras)
            losses = losses.write(s, loss / k)
        return flat, moments, active, signs, nonzero, largest, co_active, losses.stack()

    _LOOPS[key] = run
    return run


def _pairs(flat):
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


def _copy(params):
    return Stack.from_checked([(kernel.copy(), bias.copy()) for kernel, bias in params],
                              params.activations)


def explain_unchanged(before, result, layer=1):
    """Which weights of one kernel training left exactly where they started, and why.

    A weight ``w_ij`` of kernel ``layer`` (from node i of hidden layer ``layer - 1`` to
    node j of the next layer) gets the gradient ``sum_n a_i delta_j`` over a batch. It is
    exactly 0 on every step if node i's ReLU output and node j's ReLU derivative are
    never non-zero on the same training point, in particular if either node is never
    active; Adam then keeps its moments at 0 and never moves the weight. A weight can
    also stay where it started with a gradient: when every update the optimizer computes
    for it is below half the float32 spacing at its value, each rounds away.

    Parameters
    ----------
    before : the stack before training
    result : the :class:`TrainResult` of training it with ``track=True``
    layer : int >= 1, a kernel after the first

    Returns
    -------
    pandas.DataFrame, one row per network and a last row "all", with columns: weights;
    unchanged (exactly equal before and after); never co-active (weights whose two nodes
    were never active on the same training point); unchanged and never co-active;
    node never active (unchanged weights with a node never active at all); max non-zero
    gradient steps (over the unchanged, never co-active weights; 0 means none ever got a
    non-zero gradient); updates below half a spacing (unchanged weights whose nodes were
    active together, every update of which was below half the float32 spacing at the
    weight). Every unchanged weight is in one of the two groups when "unchanged" equals
    "never co-active" plus "updates below half a spacing".

    Introduced in chapter 3, :ref:`§The weights that never moved <never-moved>`.
    """
    before = check_stack("before", before)
    if not isinstance(result, TrainResult) or not result.co_active:
        raise TypeError("result must be a TrainResult from train(..., track=True)")
    layer = check_int("layer", layer, low=1, high=len(before) - 1)
    rows = []
    for net in range(before[0][0].shape[0]):
        same = result.params[layer][0][net] == before[layer][0][net]
        apart = ~result.co_active[layer - 1][net]
        dead_in = ~result.ever_active[layer - 1][net]
        dead_out = (~result.ever_active[layer][net] if layer < len(before) - 1
                    else np.zeros(same.shape[1], bool))
        dead = dead_in[:, None] | dead_out[None, :]
        steps = result.nonzero_steps[layer][0][net][same & apart]
        start = before[layer][0][net]
        rounded = result.largest_update[layer][0][net] < np.spacing(np.abs(start)) / 2
        rows.append((str(net), same.size, int(same.sum()), int(apart.sum()),
                     int((same & apart).sum()), int((same & dead).sum()),
                     int(steps.max()) if steps.size else 0,
                     int((same & ~apart & rounded).sum())))
    columns = ["weights", "unchanged", "never co-active", "unchanged and never co-active",
               "node never active", "max non-zero gradient steps",
               "updates below half a spacing"]
    table = pd.DataFrame(rows, columns=["net", *columns])
    total = [int(table[c].max() if c.startswith("max") else table[c].sum()) for c in columns]
    table.loc[len(table)] = ["all", *total]
    return table.set_index("net")
