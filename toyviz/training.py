"""Training many small ReLU networks at once.

A *stack* is ``k`` multilayer perceptrons of the same shape, held as one list of
``(kernel, bias)`` pairs with a leading axis over the networks::

    params = [(kernel0: (k, n_inputs, w0) float32, bias0: (k, w0) float32),
              (kernel1: (k, w0, w1) float32,       bias1: (k, w1) float32),
              ...,
              (kernelL: (k, w_last, n_outputs),     biasL: (k, n_outputs))]

Layer ``l`` maps ``a -> relu(a @ kernel_l + bias_l)`` (softmax on the last layer),
exactly like :func:`toyviz.models.mlp`, and :func:`to_models` / :func:`from_models`
convert between a stack and a list of Keras models. Training runs every network on its
own mini-batches in one compiled TensorFlow loop (``einsum`` over the network axis), so
ten seeds cost little more than one. The loss is the *sum* over networks of each
network's mean cross-entropy, so every network gets exactly the gradient it would get
alone, and Adam (element-wise) treats each exactly as Keras' ``Adam`` would.

Introduced in chapter 3, §Training many nets at once.
"""

from dataclasses import dataclass, field

import numpy as np

from toyviz._checks import check_array, check_choice, check_float, check_int, check_rng

OPTIMIZERS = ("adam", "sgd")


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    params : the trained stack (numpy float32, same shapes as the input stack).
    steps : int, the number of optimizer steps taken.
    loss : (steps,) float32, the mean over networks of the mini-batch loss at each step.
    snapshots : list of ``(step, params)``; the stack before step 0 and after every
        ``snapshot_every`` steps (empty when ``snapshot_every`` is None).
    ever_active : list of ``(k, width)`` bool, one per hidden layer: whether the unit's
        pre-activation was positive for at least one training example in at least one
        mini-batch during training. A unit that is never active gets zero gradient on its
        incoming weights and bias at every step.
    sign_sum : list of ``(kernel (k, ...), bias (k, ...))`` float32: the sum over steps of
        the sign of each parameter's gradient (+1, 0 or -1).
    nonzero_steps : same shapes, the number of steps on which the gradient was non-zero.
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


def _tf():
    import tensorflow as tf

    return tf


def check_stack(name, params):
    """Return ``params`` as a list of float32 ``(kernel, bias)`` numpy pairs, checking
    that they describe ``k`` chained dense layers."""
    if isinstance(params, (str, bytes)) or not hasattr(params, "__len__") or not len(params):
        raise TypeError(f"{name} must be a non-empty list of (kernel, bias) pairs, "
                        f"got {type(params).__name__}")
    out = []
    for i, pair in enumerate(params):
        if not hasattr(pair, "__len__") or len(pair) != 2:
            raise TypeError(f"{name}[{i}] must be a (kernel, bias) pair, "
                            f"got {type(pair).__name__}")
        kernel = check_array(f"{name}[{i}][0]", pair[0], ndim=3)
        bias = check_array(f"{name}[{i}][1]", pair[1], shape=(kernel.shape[0],
                                                               kernel.shape[2]))
        if out and (kernel.shape[0] != out[0][0].shape[0]
                    or kernel.shape[1] != out[-1][0].shape[2]):
            raise ValueError(
                f"{name}[{i}][0] must have shape ({out[0][0].shape[0]}, "
                f"{out[-1][0].shape[2]}, any) to follow the layer before, "
                f"got shape {kernel.shape}")
        out.append((kernel, bias))
    return out


def init_stack(n_nets, widths, rng, n_inputs=2, n_outputs=2):
    """Fresh networks initialised as Keras does by default: Glorot-uniform kernels
    (uniform on ``±sqrt(6 / (fan_in + fan_out))``) and zero biases.

    Parameters
    ----------
    n_nets : int >= 1
    widths : sequence of int >= 1, the hidden layer widths
    rng : numpy.random.Generator
    n_inputs, n_outputs : int >= 1

    Returns
    -------
    list of ``(kernel (n_nets, fan_in, fan_out), bias (n_nets, fan_out))`` float32.
    """
    n_nets = check_int("n_nets", n_nets, low=1)
    rng = check_rng("rng", rng)
    widths = _check_widths(widths)
    n_inputs = check_int("n_inputs", n_inputs, low=1)
    n_outputs = check_int("n_outputs", n_outputs, low=1)
    sizes = [n_inputs, *widths, n_outputs]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        kernel = rng.uniform(-limit, limit, size=(n_nets, fan_in, fan_out))
        params.append((kernel.astype(np.float32), np.zeros((n_nets, fan_out), np.float32)))
    return params


def _check_widths(widths):
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__iter__"):
        raise TypeError(f"widths must be a sequence of ints, got {type(widths).__name__}")
    return [check_int(f"widths[{i}]", w, low=1) for i, w in enumerate(widths)]


def from_models(models):
    """Stack Keras MLPs of one shape (as built by :func:`toyviz.models.mlp`).

    Parameters
    ----------
    models : list of keras.Model whose layers are all Dense.

    Returns
    -------
    A stack (see the module docstring).
    """
    import keras

    if isinstance(models, keras.Model):
        models = [models]
    if not hasattr(models, "__len__") or not len(models):
        raise TypeError(f"models must be a non-empty list of keras models, "
                        f"got {type(models).__name__}")
    per_model = []
    for i, model in enumerate(models):
        if not isinstance(model, keras.Model):
            raise TypeError(f"models[{i}] must be a keras.Model, got {type(model).__name__}")
        layers = [layer for layer in model.layers if layer.weights]
        if not all(isinstance(layer, keras.layers.Dense) for layer in layers):
            raise ValueError(f"models[{i}] must consist of Dense layers only")
        per_model.append([[np.asarray(w, np.float32) for w in layer.get_weights()]
                          for layer in layers])
    shapes = [[w.shape for layer in m for w in layer] for m in per_model]
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"models must all have the same layer shapes, got {shapes}")
    return [(np.stack([m[j][0] for m in per_model]), np.stack([m[j][1] for m in per_model]))
            for j in range(len(per_model[0]))]


def to_models(params):
    """One Keras MLP per network of the stack (layers ``hidden0``, ..., ``output``,
    softmax output), holding copies of its weights."""
    from toyviz.models import mlp

    params = check_stack("params", params)
    widths = [kernel.shape[2] for kernel, _ in params[:-1]]
    n_inputs, n_outputs = params[0][0].shape[1], params[-1][0].shape[2]
    models = []
    for net in range(params[0][0].shape[0]):
        model = mlp(n_inputs, widths, n_outputs, "softmax")
        for layer, (kernel, bias) in zip([*[f"hidden{i}" for i in range(len(widths))],
                                          "output"], params):
            model.get_layer(layer).set_weights([kernel[net], bias[net]])
        models.append(model)
    return models


def take(params, nets):
    """The sub-stack of the networks at positions ``nets`` (a list of ints)."""
    params = check_stack("params", params)
    nets = np.asarray(nets, dtype=np.int64).reshape(-1)
    return [(kernel[nets], bias[nets]) for kernel, bias in params]


def concat(*stacks):
    """Networks of several stacks of the same shape, in one stack."""
    stacks = [check_stack(f"stacks[{i}]", s) for i, s in enumerate(stacks)]
    return [(np.concatenate([s[j][0] for s in stacks]), np.concatenate([s[j][1] for s in stacks]))
            for j in range(len(stacks[0]))]


def forward(params, x, dtype=np.float64):
    """Run every network of the stack, in numpy.

    Parameters
    ----------
    params : a stack of ``k`` networks
    x : (n, n_inputs) shared by all networks, or (k, n, n_inputs), one set per network

    Returns
    -------
    probabilities : (k, n, n_outputs), in ``dtype``
    hidden : list of (k, n, width) post-ReLU activations, one per hidden layer
    """
    params = check_stack("params", params)
    k = params[0][0].shape[0]
    x = _check_inputs("x", x, k, params[0][0].shape[1])
    a = x.astype(dtype)
    hidden = []
    for layer, (kernel, bias) in enumerate(params):
        z = np.einsum("kni,kio->kno", a, kernel.astype(dtype)) + bias.astype(dtype)[:, None]
        if layer < len(params) - 1:
            a = np.maximum(z, 0)
            hidden.append(a)
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True), hidden


def accuracy(params, x, y):
    """Fraction of points each network classifies correctly.

    Parameters
    ----------
    x : (n, n_inputs) or (k, n, n_inputs)
    y : (n,) or (k, n) int labels

    Returns
    -------
    (k,) float64
    """
    probabilities, _ = forward(params, x)
    y = np.broadcast_to(np.asarray(y), probabilities.shape[:2])
    return (probabilities.argmax(axis=-1) == y).mean(axis=1)


def _check_inputs(name, x, k, n_inputs):
    x = check_array(name, x, dtype=np.float32)
    if x.ndim == 2:
        x = np.broadcast_to(x, (k, *x.shape))
    if x.ndim != 3 or x.shape[0] != k or x.shape[2] != n_inputs:
        raise ValueError(f"{name} must have shape (n, {n_inputs}) or ({k}, n, {n_inputs}), "
                         f"got shape {x.shape}")
    return x


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
    batch_size = min(batch_size, n)
    per_epoch = -(-n // batch_size)
    padded = per_epoch * batch_size
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
    moves; one whose gradient keeps the same sign moves by about ``lr`` per step,
    whatever the gradient's size. SGD is ``w <- w - lr * g``.

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
        ``nonzero_steps``); a little slower.

    Returns
    -------
    TrainResult
    """
    tf = _tf()
    params = check_stack("params", params)
    k = params[0][0].shape[0]
    n_outputs = params[-1][0].shape[2]
    x = _check_inputs("x", x, k, params[0][0].shape[1])
    n = x.shape[1]
    y = np.asarray(y)
    if y.ndim == 1:
        y = np.broadcast_to(y, (k, len(y)))
    y = check_array("y", y, shape=(k, n), dtype=None)
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_outputs:
        raise ValueError(f"y must hold integer labels in [0, {n_outputs}), got dtype "
                         f"{y.dtype} with values from {y.min()} to {y.max()}")
    epochs = check_int("epochs", epochs, low=1)
    rng = check_rng("rng", rng)
    learning_rate = check_float("learning_rate", learning_rate, low=0, low_open=True)
    batch_size = n if batch_size is None else check_int("batch_size", batch_size, low=1)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    if snapshot_every is not None:
        snapshot_every = check_int("snapshot_every", snapshot_every, low=1)
    masks = None
    if frozen is not None:
        masks = [(check_array("frozen", m_k, shape=kernel.shape),
                  check_array("frozen", m_b, shape=bias.shape))
                 for (m_k, m_b), (kernel, bias) in zip(frozen, params)]

    index, weight = batch_schedule(n, k, epochs, batch_size, rng, shuffle=shuffle)
    steps = len(index)
    flat = [tf.constant(w) for pair in params for w in pair]
    zeros = [tf.zeros_like(w) for w in flat]
    moments = (zeros, zeros) if optimizer == "adam" else ((), ())
    active = [tf.zeros((k, kernel.shape[2]), tf.bool) for kernel, _ in params[:-1]]
    signs, nonzero = (zeros, zeros) if track else ((), ())
    co_active = ([tf.zeros(kernel.shape, tf.bool) for kernel, _ in params[1:]] if track
                 else ())
    flat_masks = [] if masks is None else [tf.constant(m) for pair in masks for m in pair]
    run = _compiled_loop(len(params) - 1, optimizer, bool(track))
    constants = (tf.constant(x), tf.one_hot(tf.constant(y.astype(np.int32)), n_outputs),
                 tf.constant(learning_rate, tf.float32), flat_masks)
    # The compiled loop takes the batch indices a chunk of steps at a time, so that a long
    # full-batch schedule is not copied into TensorFlow all at once (the moments carry over).
    chunk = min(steps, _CHUNK_STEPS) if snapshot_every is None else snapshot_every
    snapshots = [] if snapshot_every is None else [(0, _copy(params))]
    losses = []
    for start in range(0, steps, chunk):
        stop = min(start + chunk, steps)
        flat, moments, active, signs, nonzero, co_active, loss = run(
            flat, moments, active, signs, nonzero, co_active, tf.constant(index[start:stop]),
            tf.constant(weight[start:stop]), tf.constant(start, tf.float32), *constants)
        losses.append(loss.numpy())
        if snapshot_every is not None:
            snapshots.append((stop, _pairs([v.numpy() for v in flat])))
    return TrainResult(
        params=_pairs([v.numpy() for v in flat]), steps=steps,
        loss=np.concatenate(losses), snapshots=snapshots,
        ever_active=[a.numpy() for a in active],
        sign_sum=_pairs([v.numpy() for v in signs]) if track else [],
        nonzero_steps=_pairs([v.numpy() for v in nonzero]) if track else [],
        co_active=[c.numpy() for c in co_active])


_LOOPS = {}

#: The most steps one call of the compiled loop runs when no snapshots are asked for.
_CHUNK_STEPS = 128


def _compiled_loop(n_hidden, optimizer, track):
    """One compiled training loop per (depth, optimizer, tracking): a pure function of
    tensors, so that new networks and data of new shapes don't build new graphs."""
    key = (n_hidden, optimizer, track)
    if key in _LOOPS:
        return _LOOPS[key]
    tf = _tf()
    beta_1, beta_2, epsilon = 0.9, 0.999, 1e-7

    def step_fn(flat, moments, active, signs, nonzero, co_active, xb, yb, wb, t, lr, masks):
        with tf.GradientTape() as tape:
            tape.watch(flat)
            a = xb
            new_active, new_co_active = [], []
            for layer in range(n_hidden + 1):
                z = tf.einsum("kni,kio->kno", a, flat[2 * layer]) + flat[2 * layer + 1][:, None]
                if track and layer > 0:
                    on_in = tf.cast((a > 0) & (wb[..., None] > 0), tf.float32)
                    on_out = (tf.cast(z > 0, tf.float32) if layer < n_hidden
                              else tf.ones_like(z))
                    both = tf.einsum("kni,kno->kio", on_in, on_out) > 0
                    new_co_active.append(tf.logical_or(co_active[layer - 1], both))
                if layer < n_hidden:
                    fired = tf.reduce_any((z > 0) & (wb[..., None] > 0), axis=1)
                    new_active.append(tf.logical_or(active[layer], fired))
                    a = tf.nn.relu(z)
            ce = tf.nn.softmax_cross_entropy_with_logits(labels=yb, logits=z)
            per_net = tf.reduce_sum(ce * wb, axis=1) / tf.reduce_sum(wb, axis=1)
            loss = tf.reduce_sum(per_net)
        grads = tape.gradient(loss, flat)
        if masks:
            grads = [g * m for g, m in zip(grads, masks)]
        if track:
            signs = [s + tf.sign(g) for s, g in zip(signs, grads)]
            nonzero = [c + tf.cast(tf.not_equal(g, 0.0), tf.float32)
                       for c, g in zip(nonzero, grads)]
        if optimizer == "sgd":
            flat = [w - lr * g for w, g in zip(flat, grads)]
        else:
            alpha = lr * tf.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
            m = [m + (g - m) * (1 - beta_1) for m, g in zip(moments[0], grads)]
            v = [v + (tf.square(g) - v) * (1 - beta_2) for v, g in zip(moments[1], grads)]
            flat = [w - mi * alpha / (tf.sqrt(vi) + epsilon) for w, mi, vi in zip(flat, m, v)]
            moments = (m, v)
        if track:
            co_active = new_co_active
        return flat, moments, new_active, signs, nonzero, co_active, loss

    @tf.function(reduce_retracing=True, jit_compile=False)
    def run(flat, moments, active, signs, nonzero, co_active, index, weight, step0, x,
            one_hot, lr, masks):
        n_steps = tf.shape(index)[0]
        losses = tf.TensorArray(tf.float32, size=n_steps)
        k = tf.cast(tf.shape(x)[0], tf.float32)
        for s in tf.range(n_steps):
            xb = tf.gather(x, index[s], batch_dims=1)
            yb = tf.gather(one_hot, index[s], batch_dims=1)
            flat, moments, active, signs, nonzero, co_active, loss = step_fn(
                flat, moments, active, signs, nonzero, co_active, xb, yb, weight[s],
                step0 + tf.cast(s, tf.float32) + 1.0, lr, masks)
            losses = losses.write(s, loss / k)
        return flat, moments, active, signs, nonzero, co_active, losses.stack()

    _LOOPS[key] = run
    return run


def _pairs(flat):
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


def _copy(params):
    return [(kernel.copy(), bias.copy()) for kernel, bias in params]


def explain_unchanged(before, result, layer=1):
    """Which weights of one kernel training left exactly where they started, and why.

    A weight ``w_ij`` of kernel ``layer`` (from node i of hidden layer ``layer - 1`` to
    node j of the next layer) gets the gradient ``sum_n a_i delta_j`` over a batch. It is
    exactly 0 on every step if node i's ReLU output and node j's ReLU derivative are
    never non-zero on the same training point, in particular if either node is never
    active; Adam then keeps its moments at 0 and never moves the weight.

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
    gradient steps (over the unchanged weights; 0 means none ever got a non-zero
    gradient).
    """
    import pandas as pd

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
        steps = result.nonzero_steps[layer][0][net][same]
        rows.append((str(net), same.size, int(same.sum()), int(apart.sum()),
                     int((same & apart).sum()), int((same & dead).sum()),
                     int(steps.max()) if steps.size else 0))
    columns = ["weights", "unchanged", "never co-active", "unchanged and never co-active",
               "node never active", "max non-zero gradient steps"]
    table = pd.DataFrame(rows, columns=["net", *columns])
    total = [int(table[c].max() if c.startswith("max") else table[c].sum()) for c in columns]
    table.loc[len(table)] = ["all", *total]
    return table.set_index("net")
