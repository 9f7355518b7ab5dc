"""Node masks: sampling them, and the loss and mask-gradient of many masks at once.

Introduced in chapter 1 (node removal).

The masked circle model (:func:`toyviz.models.masked_circle_model`) computes, for a
point ``x`` and a mask ``m`` of ``n`` numbers (1 = node on, 0 = node off),

    h(x)   = relu(x @ w1 + b1)                       hidden activations, (n,)
    z(x,m) = (m * h(x)) @ w2 + b2                    two logits
    P(inside | x, m) = softmax(z)[1] = sigmoid(d),   d = z[1] - z[0]

With two classes everything depends on the logit difference alone,

    d(x, m) = b + sum_i m_i h_i(x) v_i,    b = b2[1] - b2[0],  v_i = w2[i, 1] - w2[i, 0],

and the cross-entropy of a point with label y is ``softplus(s d)`` with ``s = +1`` for
y = 0 (outside) and ``s = -1`` for y = 1 (inside). Writing ``a = s b`` and the
*signed contributions* ``c_i = s h_i v_i``, the mean loss over points ``p`` and its
gradient with respect to the mask are

    L(m)        = mean_p softplus(a_p + m . c_p)
    dL/dm_i (m) = mean_p sigmoid(a_p + m . c_p) c_pi.

So a batch of masks needs one matrix product ``masks @ c.T`` for the arguments, an
element-wise softplus and sigmoid, and one product ``sigmoid(...) @ c`` for the
gradients: no loop over masks (:func:`mask_losses`).

For all ``2**n`` binary masks at once (:func:`sweep_all_masks`), split a mask's index
into a high half ``j`` and a low half ``k``. The argument is then a sum
``A[j, p] + B[k, p]`` of two small tables, and with ``X = exp(-A - t)``,
``Y = exp(B - t)`` (a shift ``t_p`` per point keeps both in float32 range)

    softplus(A + B) = A + t + log(X + Y),      sigmoid(A + B) = 1 - X / (X + Y),

so each of the 2**n x n_points entries costs one addition, one logarithm and one
reciprocal, with no exponential, and the sums over points are matrix products.

Mask indices: bit ``i`` of an index is node ``i`` (index 0 = no node, ``2**n - 1`` =
every node).
"""

import math
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from toyviz._checks import _describe, check_array, check_float, check_int, check_rng

#: Largest number of nodes for which a full sweep of all masks is allowed (2**24 masks).
MAX_SWEEP_NODES = 24

# Keep exp() of the split tables inside float32: exp(+-80) is finite with room to add.
_EXP_LIMIT = 80.0


# --------------------------------------------------------------------------- weights


def network_weights(model_or_weights):
    """The four weight arrays of a masked circle model, checked, as float64.

    Parameters
    ----------
    model_or_weights : a masked circle ``keras.Model`` (see
        :func:`toyviz.models.masked_circle_model`) or a dict with ``w1: (2, n)``,
        ``b1: (n,)``, ``w2: (n, 2)``, ``b2: (2,)`` as returned by
        :func:`toyviz.models.masked_weights`.

    Returns
    -------
    dict with ``w1, b1, w2, b2`` as float64 arrays.
    """
    if isinstance(model_or_weights, dict):
        weights = model_or_weights
    elif type(model_or_weights).__module__.startswith("keras") or hasattr(
            model_or_weights, "get_layer"):
        from toyviz.models import masked_weights

        weights = masked_weights(model_or_weights)
    else:
        raise TypeError("model must be a masked circle keras.Model or a dict of weights "
                        f"w1, b1, w2, b2, got {_describe(model_or_weights)}")
    missing = {"w1", "b1", "w2", "b2"} - set(weights)
    if missing:
        raise ValueError(f"model weights must have keys w1, b1, w2, b2; missing {sorted(missing)}")
    w1 = check_array("model weights w1", weights["w1"], ndim=2, dtype=np.float64)
    n = w1.shape[1]
    if w1.shape[0] != 2 or n < 1:
        raise ValueError(f"model weights w1 must have shape (2, n_nodes), got {_describe(w1)}")
    b1 = check_array("model weights b1", weights["b1"], shape=(n,), dtype=np.float64)
    w2 = check_array("model weights w2", weights["w2"], shape=(n, 2), dtype=np.float64)
    b2 = check_array("model weights b2", weights["b2"], shape=(2,), dtype=np.float64)
    return {"w1": w1, "b1": b1, "w2": w2, "b2": b2}


def n_nodes_of(model):
    """The number of maskable hidden nodes of ``model`` (a model or a weight dict)."""
    return network_weights(model)["w1"].shape[1]


def hidden_activations(model, x):
    """Hidden activations ``relu(x @ w1 + b1)``.

    Parameters
    ----------
    model : masked circle model or weight dict (see :func:`network_weights`)
    x : (n_points, 2) float

    Returns
    -------
    (n_points, n_nodes) float64
    """
    weights = network_weights(model)
    x = check_array("x", x, shape=(None, 2), dtype=np.float64)
    return np.maximum(x @ weights["w1"] + weights["b1"], 0.0)


def node_directions(model):
    """``v_i = w2[i, 1] - w2[i, 0]``: how much node ``i`` adds to the inside-minus-outside
    logit per unit of activation (positive: the node votes "inside"). (n_nodes,) float64."""
    w2 = network_weights(model)["w2"]
    return w2[:, 1] - w2[:, 0]


def signed_contributions(model, x, y):
    """The per-point terms of the loss: ``loss_p(m) = softplus(a_p + m . c_p)``.

    Parameters
    ----------
    model : masked circle model or weight dict
    x : (n_points, 2) float
    y : (n_points,) int labels in {0, 1} (1 = inside)

    Returns
    -------
    a : (n_points,) float64, ``s_p (b2[1] - b2[0])``
    c : (n_points, n_nodes) float64, ``s_p h_pi v_i``, with ``s_p = 1 - 2 y_p``.
    """
    from toyviz.models import check_labels

    weights = network_weights(model)
    x = check_array("x", x, shape=(None, 2), dtype=np.float64)
    y = check_labels("y", y, len(x), n_classes=2)
    sign = 1.0 - 2.0 * y
    h = np.maximum(x @ weights["w1"] + weights["b1"], 0.0)
    v = weights["w2"][:, 1] - weights["w2"][:, 0]
    a = sign * (weights["b2"][1] - weights["b2"][0])
    return a, sign[:, None] * h * v[None, :]


# --------------------------------------------------------------------------- masks


def check_masks(masks, n_nodes, binary=False, name="masks"):
    """Return ``masks`` as a ``(k, n_nodes)`` float32 array, checking shape and values.

    Masks are numbers in [0, 1] (1 = node on); with ``binary`` only 0 and 1 are allowed.
    Boolean and integer arrays are accepted and converted.
    """
    n_nodes = check_int("n_nodes", n_nodes, low=1)
    raw = check_array(name, masks, dtype=None)
    if raw.ndim != 2 or raw.shape[1] != n_nodes:
        raise ValueError(f"{name} must have shape (n_masks, {n_nodes}) (one row per mask, "
                         f"one column per node), got {_describe(raw)}")
    if np.iscomplexobj(raw):
        raise TypeError(f"{name} must be real, got {_describe(raw)}")
    values = raw.astype(np.float32)
    if raw.size and (values.min() < 0 or values.max() > 1):
        raise ValueError(f"{name} must hold values in [0, 1], got values from "
                         f"{values.min()} to {values.max()}")
    if binary and raw.size and not np.all((values == 0) | (values == 1)):
        raise ValueError(f"{name} must hold only 0 and 1, got other values")
    return values


def random_masks(n_masks, p, rng, n_nodes=20):
    """Masks whose nodes are on independently with probability ``p``.

    Parameters
    ----------
    n_masks : int >= 0
    p : float in [0, 1]
    rng : numpy.random.Generator
    n_nodes : int >= 1

    Returns
    -------
    (n_masks, n_nodes) float32 of 0s and 1s.

    Introduced in chapter 1, §Loss under random masks.
    """
    n_masks = check_int("n_masks", n_masks, low=0)
    p = check_float("p", p, low=0, high=1)
    rng = check_rng("rng", rng)
    n_nodes = check_int("n_nodes", n_nodes, low=1)
    return (rng.random((n_masks, n_nodes)) < p).astype(np.float32)


def masks_from_indices(indices, n_nodes):
    """Binary masks from mask indices: bit ``i`` of an index is node ``i``.

    Parameters
    ----------
    indices : (k,) int in [0, 2**n_nodes)
    n_nodes : int in [1, 62]

    Returns
    -------
    (k, n_nodes) float32
    """
    n_nodes = check_int("n_nodes", n_nodes, low=1, high=62)
    indices = check_array("indices", indices, ndim=1, dtype=None)
    if not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(f"indices must be integers, got {_describe(indices)}")
    indices = indices.astype(np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= 2**n_nodes):
        raise ValueError(f"indices must be in [0, 2**{n_nodes}), got values from "
                         f"{indices.min()} to {indices.max()}")
    bits = (indices[:, None] >> np.arange(n_nodes, dtype=np.int64)) & 1
    return bits.astype(np.float32)


def mask_indices(masks):
    """The index of each binary mask (inverse of :func:`masks_from_indices`).

    masks : (k, n_nodes) of 0/1 with n_nodes <= 62. Returns (k,) int64.
    """
    raw = check_array("masks", masks, ndim=2, dtype=None)
    masks = check_masks(raw, raw.shape[1], binary=True)
    if masks.shape[1] > 62:
        raise ValueError(f"masks must have at most 62 nodes, got {masks.shape[1]}")
    return (masks.astype(np.int64) << np.arange(masks.shape[1], dtype=np.int64)).sum(axis=1)


def _sizes(n_nodes):
    """(2**n_nodes,) uint8: the number of nodes on in every mask index, 1 byte a mask,
    built by doubling (node i's bit adds one to the upper half) without an index table."""
    sizes = np.zeros(1, dtype=np.uint8)
    for _ in range(n_nodes):
        sizes = np.concatenate([sizes, sizes + np.uint8(1)])
    return sizes


def popcount(indices):
    """Number of nodes on in each mask index. (k,) int -> (k,) int64."""
    indices = check_array("indices", indices, ndim=1, dtype=None)
    if not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(f"indices must be integers, got {_describe(indices)}")
    return np.bitwise_count(indices.astype(np.uint64)).astype(np.int64)


def mask_probabilities(n_nodes, p):
    """Probability of every binary mask when each node is on with probability ``p``:
    ``p**k (1 - p)**(n_nodes - k)`` for a mask with ``k`` nodes on.

    Returns ``(2**n_nodes,)`` float64, indexed by mask index, summing to 1.

    Introduced in chapter 1, §The exact landscape.
    """
    n_nodes = check_int("n_nodes", n_nodes, low=1, high=MAX_SWEEP_NODES)
    p = check_float("p", p, low=0, high=1)
    return _size_probabilities(n_nodes, p)[_sizes(n_nodes)]


def _size_probabilities(n_nodes, p):
    """(n_nodes + 1,) float64: ``p**k (1 - p)**(n_nodes - k)``, one mask's probability by
    its number of nodes on ``k``."""
    return np.array([p**k * (1 - p) ** (n_nodes - k) for k in range(n_nodes + 1)])


def mask_moments(values, p):
    """Mean, standard deviation and skewness of a table of mask values when every node is
    on independently with probability ``p`` (each mask weighted by
    :func:`mask_probabilities`), in blocks of 2**16 masks: no table-sized temporaries.

    Parameters
    ----------
    values : (2**n_nodes,) float, ``values[index]`` = v(mask with that index)
    p : float in [0, 1]

    Returns
    -------
    (mean, std, skewness) floats

    Introduced in chapter 1, §The exact landscape.
    """
    values, n_nodes = _check_table(values)
    p = check_float("p", p, low=0, high=1)
    sizes = _sizes(n_nodes)
    per_size = _size_probabilities(n_nodes, p)
    blocks = [slice(start, start + 2**16) for start in range(0, len(values), 2**16)]
    mean = sum(per_size[sizes[b]] @ values[b] for b in blocks)
    second = third = 0.0
    for b in blocks:
        weight, centred = per_size[sizes[b]], values[b] - mean
        second += weight @ (centred * centred)
        third += weight @ (centred * centred * centred)
    std = math.sqrt(second)
    return float(mean), std, float(third / std**3) if std > 0 else math.nan


def hypercube_paths(n_paths, rng, n_nodes=20):
    """Random walks across the hypercube of masks that flip every node exactly once.

    Each path starts at a random mask (every node on with probability 1/2) and flips the
    nodes one at a time in a random order, ending at the start's complement.

    Returns
    -------
    (n_paths, n_nodes + 1, n_nodes) float32; ``[:, t]`` is the mask after ``t`` flips.

    Introduced in chapter 1, §Hypercube paths.
    """
    n_paths = check_int("n_paths", n_paths, low=1)
    rng = check_rng("rng", rng)
    n_nodes = check_int("n_nodes", n_nodes, low=1)
    start = rng.random((n_paths, n_nodes)) < 0.5
    order = np.argsort(rng.random((n_paths, n_nodes)), axis=1)
    # flipped[r, t, i]: node i has been flipped within the first t steps of path r.
    step_of_node = np.empty_like(order)
    np.put_along_axis(step_of_node, order, np.arange(1, n_nodes + 1)[None, :], axis=1)
    flipped = step_of_node[:, None, :] <= np.arange(n_nodes + 1)[None, :, None]
    return (start[:, None, :] ^ flipped).astype(np.float32)


# --------------------------------------------------------------------------- the engine


def _progress(total, progress, desc):
    """A tqdm bar: shown when ``progress`` is True, never when False, and when None
    only on a terminal (so notebooks run under nbval and the book build stay silent)."""
    from tqdm.auto import tqdm

    if not (progress is None or progress is True or progress is False):
        raise TypeError(f"progress must be True, False or None, got {_describe(progress)}")
    if progress is None:
        # tqdm's own "None" rule does not apply to its notebook bar, so decide here.
        stream = sys.stderr
        progress = bool(getattr(stream, "isatty", lambda: False)())
    return tqdm(total=total, desc=desc, disable=not progress, leave=False)


def _softplus_sigmoid(e):
    """Stable ``softplus(e)`` and ``sigmoid(e)``, element-wise, same dtype as ``e``."""
    t = np.exp(-np.abs(e))
    q = 1.0 + t
    softplus = np.maximum(e, 0) + np.log1p(t)
    sigmoid = np.where(e >= 0, 1.0 / q, t / q)
    return softplus, sigmoid


def mask_losses(model, x, y, masks, chunk_size=256, progress=None):
    """Mean loss and its gradient with respect to the mask, for a batch of masks.

    One pass per chunk of masks: ``e = a + masks @ c.T`` (float64), then a stable
    softplus and sigmoid, then ``sigmoid(e) @ c``. No Python loop over masks; memory
    is bounded by ``chunk_size * n_points`` numbers.

    Parameters
    ----------
    model : masked circle model or weight dict (see :func:`network_weights`)
    x : (n_points, 2) float
    y : (n_points,) int in {0, 1}
    masks : (n_masks, n_nodes) in [0, 1] (continuous values are allowed: the loss is a
        smooth function of the mask, and the gradient is its derivative)
    chunk_size : int >= 1, masks per chunk
    progress : bool or None, tqdm bar (None: only on a terminal)

    Returns
    -------
    losses : (n_masks,) float64, mean sparse categorical cross-entropy over the points
    gradients : (n_masks, n_nodes) float64, d loss / d mask

    Introduced in chapter 1, §The batched engine.
    """
    a, c = signed_contributions(model, x, y)
    masks = check_masks(masks, c.shape[1])
    chunk_size = check_int("chunk_size", chunk_size, low=1)
    n_points = len(a)
    losses = np.empty(len(masks))
    gradients = np.empty((len(masks), c.shape[1]))
    with _progress(len(masks), progress, "masks") as bar:
        for start in range(0, len(masks), chunk_size):
            chunk = masks[start:start + chunk_size].astype(np.float64)
            e = a + chunk @ c.T
            softplus, sigmoid = _softplus_sigmoid(e)
            losses[start:start + len(chunk)] = softplus.sum(axis=1) / n_points
            gradients[start:start + len(chunk)] = sigmoid @ c / n_points
            bar.update(len(chunk))
    return losses, gradients


def point_losses(model, x, y, mask=None):
    """Loss of each point, and its gradient with respect to the mask, for one mask.

    Parameters
    ----------
    model : masked circle model or weight dict
    x : (n_points, 2), y : (n_points,) int in {0, 1}
    mask : (n_nodes,) in [0, 1], default all ones (the whole network)

    Returns
    -------
    losses : (n_points,) float64
    gradients : (n_points, n_nodes) float64, d loss_p / d mask_i

    Introduced in chapter 1, §Per-point heatmaps.
    """
    a, c = signed_contributions(model, x, y)
    n_nodes = c.shape[1]
    if mask is None:
        mask = np.ones(n_nodes, dtype=np.float32)
    mask = check_masks(check_array("mask", mask, shape=(n_nodes,), dtype=None)[None, :],
                       n_nodes, name="mask")[0]
    softplus, sigmoid = _softplus_sigmoid(a + c @ mask.astype(np.float64))
    return softplus, sigmoid[:, None] * c


def inside_probability(model, x, mask=None):
    """P(inside) for each point under one mask. (n_points,) float64."""
    weights = network_weights(model)
    n_nodes = weights["w1"].shape[1]
    if mask is None:
        mask = np.ones(n_nodes, dtype=np.float32)
    mask = check_masks(check_array("mask", mask, shape=(n_nodes,), dtype=None)[None, :],
                       n_nodes, name="mask")[0]
    h = hidden_activations(weights, x)
    d = (weights["b2"][1] - weights["b2"][0]) + (h * mask) @ node_directions(weights)
    return 0.5 * (1.0 + np.tanh(0.5 * d))


def reference_mask_losses(model, x, y, masks, progress=None):
    """The essay's way, kept as the slow reference: one Keras call per mask, with the
    mask repeated for every point and a ``GradientTape`` watching it.

    The gradient of the mean loss with respect to the shared mask is the sum, over the
    points, of the tape's gradient with respect to each point's copy of the mask.

    Parameters
    ----------
    model : a masked circle ``keras.Model``
    x, y, masks : as in :func:`mask_losses`

    Returns
    -------
    losses : (n_masks,) float64, gradients : (n_masks, n_nodes) float64 (computed in
    float32 by Keras; Keras clips probabilities to [1e-7, 1 - 1e-7], so a point whose
    loss would exceed -log(1e-7) = 16.1 counts as 16.1 here).
    """
    import keras
    import tensorflow as tf

    from toyviz.models import check_labels

    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {_describe(model)}")
    x = check_array("x", x, shape=(None, 2))
    y = check_labels("y", y, len(x), n_classes=2)
    masks = check_masks(masks, n_nodes_of(model))
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=False)
    x_tensor = tf.constant(x)
    y_tensor = tf.constant(y)
    losses = np.empty(len(masks))
    gradients = np.empty(masks.shape)
    with _progress(len(masks), progress, "reference") as bar:
        for row, mask in enumerate(masks):
            repeated = tf.constant(np.repeat(mask[None, :], len(x), axis=0))
            with tf.GradientTape() as tape:
                tape.watch(repeated)
                loss = loss_fn(y_tensor, model([x_tensor, repeated], training=False))
            losses[row] = float(loss)
            gradients[row] = tf.reduce_sum(tape.gradient(loss, repeated), axis=0).numpy()
            bar.update(1)
    return losses, gradients


def mask_losses_before_relu(model, x, y, masks, chunk_size=8):
    """Mean loss and mask-gradient when the mask multiplies the pre-activation instead:
    ``h = relu(m * (x @ w1 + b1))``, differentiated by TensorFlow (whose ReLU has
    derivative 0 at 0).

    For masks in [0, 1] this is the same function as the chapter's
    ``h = m * relu(x @ w1 + b1)``, so the losses agree; the gradients agree wherever
    ``m_i > 0``. At ``m_i = 0`` automatic differentiation gives 0 here, where the
    after-ReLU mask gives the one-sided derivative ``mean sigmoid(.) c_i``.

    Parameters
    ----------
    model : masked circle model or weight dict (see :func:`network_weights`)
    x, y, masks : as in :func:`mask_losses`
    chunk_size : int >= 1, masks per TensorFlow call

    Returns
    -------
    losses : (n_masks,) float64, gradients : (n_masks, n_nodes) float64

    Introduced in chapter 1, §Mask before or after the ReLU.
    """
    import tensorflow as tf

    from toyviz.models import check_labels

    weights = network_weights(model)
    x = check_array("x", x, shape=(None, 2), dtype=np.float64)
    y = check_labels("y", y, len(x), n_classes=2)
    masks = check_masks(masks, weights["w1"].shape[1])
    chunk_size = check_int("chunk_size", chunk_size, low=1)
    z = tf.constant(x @ weights["w1"] + weights["b1"])                  # (points, n)
    v = tf.constant(weights["w2"][:, 1] - weights["w2"][:, 0])
    sign = tf.constant(1.0 - 2.0 * y)
    offset = float(weights["b2"][1] - weights["b2"][0])
    losses = np.empty(len(masks))
    gradients = np.empty(masks.shape, dtype=np.float64)
    for start in range(0, len(masks), chunk_size):
        chunk = tf.constant(masks[start:start + chunk_size].astype(np.float64))
        with tf.GradientTape() as tape:
            tape.watch(chunk)
            hidden = tf.nn.relu(chunk[:, None, :] * z[None])               # (k, points, n)
            d = offset + tf.linalg.matvec(hidden, v)
            loss = tf.reduce_mean(tf.math.softplus(sign * d), axis=1)
        losses[start:start + len(chunk)] = loss.numpy()
        gradients[start:start + len(chunk)] = tape.gradient(loss, chunk).numpy()
    return losses, gradients


def normal_fit(values, weights=None, tails=(0.01, 0.99)):
    """How far ``values`` are from the normal distribution with their mean and standard
    deviation: effect sizes, not a test.

    Parameters
    ----------
    values : (n,) float
    weights : None or (n,) float >= 0, e.g. :func:`mask_probabilities` for the exact
        distribution over all masks
    tails : quantile levels in (0, 1) at which to compare the quantiles

    Returns
    -------
    dict with ``ks`` (the Kolmogorov-Smirnov distance: the largest gap between the
    distribution function and the fitted normal's), ``skewness`` (0 for a normal) and
    ``tail_errors`` ((len(tails),) float64: the quantile minus the fitted normal's, in
    standard deviations).

    Introduced in chapter 1, §Is the loss log-normal?
    """
    from scipy import special, stats

    values = check_array("values", values, ndim=1, dtype=np.float64)
    if len(values) < 3:
        raise ValueError(f"values must have at least 3 entries, got {_describe(values)}")
    if weights is None:
        weights = np.ones(len(values))
    else:
        weights = check_array("weights", weights, shape=values.shape, dtype=np.float64)
        if np.any(weights < 0) or not weights.sum() > 0:
            raise ValueError("weights must be >= 0 with a positive sum")
    tails = check_array("tails", tails, ndim=1, dtype=np.float64)
    if np.any((tails <= 0) | (tails >= 1)):
        raise ValueError(f"tails must lie in (0, 1), got {tails}")
    # Memory-lean for chapter 1's 2**20 masks: a few arrays of the input's size, reused.
    order = np.argsort(values, kind="stable")
    standard = values[order]
    sorted_weights = weights[order]
    del order
    sorted_weights /= sorted_weights.sum()
    cumulative = np.cumsum(sorted_weights)
    positions = np.minimum(np.searchsorted(cumulative, tails), len(values) - 1)
    quantiles = standard[positions]
    mean = float(np.dot(sorted_weights, standard))
    standard -= mean
    std = float(np.sqrt(np.dot(sorted_weights, standard * standard)))
    standard /= std
    skewness = float(np.dot(sorted_weights * standard, standard * standard))
    special.ndtr(standard, out=standard)            # the fitted normal's distribution function
    cumulative -= standard                           # the gap just after each value
    ks = max(cumulative.max(), -cumulative.min())
    cumulative -= sorted_weights                     # and just before it
    ks = float(max(ks, cumulative.max(), -cumulative.min()))
    tail_errors = (quantiles - (mean + std * stats.norm.ppf(tails))) / std
    return {"ks": ks, "skewness": skewness, "tail_errors": tail_errors}


def removal_costs(values):
    """What removing one node from the full network costs: ``values[full without i] -
    values[full]`` for each node ``i``.

    values : (2**n,) float, e.g. the losses of :func:`sweep_all_masks`.
    Returns (n,) float64.

    Introduced in chapter 1, §All 2^20 subnetworks.
    """
    values, n = _check_table(values)
    full = len(values) - 1
    return np.array([values[full ^ (1 << i)] - values[full] for i in range(n)],
                    dtype=np.float64)


# --------------------------------------------------------------------------- full sweep


def sweep_all_masks(model, x, y, progress=None, workers=None, block=256, project=None,
                    node_means=False):
    """Loss and mask-gradient of every one of the ``2**n_nodes`` binary masks.

    Splits each mask index into a high half ``j`` and a low half ``k`` (``index = j *
    2**n_low + k``) so that the argument of the softplus is ``A[j] + B[k]`` (see the
    module docstring). Per high half ``j`` it forms ``T = X[j] + Y`` for a block of low
    halves, takes ``log(T)`` and ``1 / T``, and reduces over points with two float32
    matrix products; the exact parts (``A + t``, the column sums of ``c``) are added in
    float64. Points whose tables do not fit float32 (``|A + t|`` or ``|B - t|`` beyond
    80) are evaluated directly in float64 instead. Blocks run on ``workers`` threads
    (numpy and BLAS release the GIL) and write disjoint slices, so the result does not
    depend on the number of threads.

    Parameters
    ----------
    model : masked circle model or weight dict
    x : (n_points, 2), y : (n_points,) int in {0, 1}
    progress : bool or None, tqdm bar (None: only on a terminal)
    workers : int >= 1 or None (None: the number of CPUs, at most 4)
    block : int >= 1, low halves per block (sets the memory per thread:
        ``block * n_points`` float32 numbers, times three)
    project : (n_nodes, k) float or None. When given, the gradients come back as
        ``gradients @ project``, (2**n_nodes, k), computed without ever holding the
        (2**n_nodes, n_nodes) table: with ``np.full((n, 1), 1 / n)``, each mask's mean
        gradient over the nodes in 4 MB instead of 80 MB for n = 20.
    node_means : bool. When true, also return every node's gradient averaged over all
        ``2**n_nodes`` masks, accumulated block by block (in a fixed order, so that it does
        not depend on the number of threads either).

    Returns
    -------
    losses : (2**n_nodes,) float64
    gradients : (2**n_nodes, n_nodes) float32, or (2**n_nodes, k) with ``project``
    node_mean_gradients : (n_nodes,) float64, only with ``node_means=True``

    The sums over points are float32 matrix products, so the results differ from the
    float64 engine :func:`mask_losses` by about 1e-6 (on chapter 1's model, at most
    1.3e-6 on losses and 1.5e-6 on gradients over all 2**20 masks); the tests hold it
    to 2e-6 on random small networks.

    Introduced in chapter 1, §The exact landscape.
    """
    a, c = signed_contributions(model, x, y)
    n_nodes = c.shape[1]
    if n_nodes > MAX_SWEEP_NODES:
        raise ValueError(f"model must have at most {MAX_SWEEP_NODES} nodes for a full sweep, "
                         f"got {n_nodes}")
    if workers is None:
        workers = min(os.cpu_count() or 1, 4)
    workers = check_int("workers", workers, low=1)
    block = check_int("block", block, low=1)
    if not isinstance(node_means, (bool, np.bool_)):
        raise TypeError(f"node_means must be a bool, got {_describe(node_means)}")
    if project is None:
        project = np.eye(n_nodes)
    else:
        project = check_array("project", project, ndim=2, shape=(n_nodes, None),
                              dtype=np.float64)
        if project.shape[1] < 1:
            raise ValueError(f"project must have at least one column, got {_describe(project)}")
    n_low = n_nodes // 2
    n_high = n_nodes - n_low
    low_masks = _bits(np.arange(2**n_low), n_low)
    high_masks = _bits(np.arange(2**n_high), n_high)
    A = a[None, :] + high_masks @ c[:, n_low:].T       # (2**n_high, n_points)
    B = low_masks @ c[:, :n_low].T                     # (2**n_low, n_points)
    # Shift per point so that -A - t and B - t share one interval centred on zero.
    lo = np.minimum(-A.max(axis=0), B.min(axis=0))
    hi = np.maximum(-A.min(axis=0), B.max(axis=0))
    shift = 0.5 * (lo + hi)
    fits = (hi - lo) <= 2 * _EXP_LIMIT
    split_points = np.flatnonzero(fits)
    direct_points = np.flatnonzero(~fits)
    n_points = len(a)
    if len(direct_points):
        A, B, shift = A[:, split_points], B[:, split_points], shift[split_points]
    # In place, to keep the peak memory low: A + t -> offset, then X = exp(-(A + t)).
    A += shift
    offset = A.sum(axis=1)                             # (2**n_high,) float64
    np.negative(A, out=A)
    X = np.ascontiguousarray(np.exp(A, out=A), dtype=np.float32)
    del A
    B -= shift
    Y = np.ascontiguousarray(np.exp(B, out=B), dtype=np.float32)
    del B
    c_nodes = c[split_points]                                        # (n_split, n_nodes)
    c_split = np.ascontiguousarray(c_nodes @ project, np.float32)   # (n_split, k)
    ones = np.ones(len(split_points), dtype=np.float32)
    column_sums = c_nodes.sum(axis=0) @ project                     # (k,) float64
    k_out = project.shape[1]

    losses = np.empty(2**n_nodes)
    gradients = np.empty((2**n_nodes, k_out), dtype=np.float32)
    n_k = 2**n_low

    buffers = threading.local()     # per thread, allocated once: no page faults per block
    group = 8                       # high halves per task, sharing each block of Y in cache
    # Per task, the sum over its masks of every node's gradient (in a fixed order below).
    task_node_sums = np.zeros((-(-2**n_high // group), n_nodes))
    node_column_sums = n_k * c_nodes.sum(axis=0)   # the first term, for every high half j

    def run(first):
        js = range(first, min(first + group, 2**n_high))
        if not hasattr(buffers, "total"):
            buffers.total = np.empty((min(block, n_k), len(split_points)), dtype=np.float32)
            buffers.work = np.empty_like(buffers.total)
            buffers.scaled = np.empty((group, len(split_points), k_out), dtype=np.float32)
            buffers.reciprocal_sums = np.empty((group, len(split_points)))
        total, work, scaled = buffers.total, buffers.work, buffers.scaled
        reciprocal_sums = buffers.reciprocal_sums
        reciprocal_sums[:] = 0.0
        for slot, j in enumerate(js):
            np.multiply(X[j][:, None], c_split, out=scaled[slot])   # X_j c, (n_split, k)
        for k0 in range(0, n_k, block):
            k1 = min(k0 + block, n_k)
            t = total[:k1 - k0]
            w = work[:k1 - k0]
            for slot, j in enumerate(js):
                rows = slice(j * n_k + k0, j * n_k + k1)
                np.add(Y[k0:k1], X[j], out=t)               # X_j + Y_k
                np.log(t, out=w)
                losses[rows] = w @ ones                     # sum_p log(X + Y)
                np.reciprocal(t, out=t)
                gradients[rows] = t @ scaled[slot]          # sum_p X_j c_p / (X + Y)
                if node_means:
                    reciprocal_sums[slot] += t.sum(axis=0, dtype=np.float64)
        node_sums = task_node_sums[first // group]
        for slot, j in enumerate(js):
            out_loss = losses[j * n_k:(j + 1) * n_k]
            out_grad = gradients[j * n_k:(j + 1) * n_k]
            out_loss += offset[j]
            out_grad[:] = (column_sums[None, :] - out_grad) / n_points
            if node_means:  # sum over this j's masks of (column sums - sum_p X_j c_p / T)
                node_sums += (node_column_sums
                              - (reciprocal_sums[slot] * X[j]) @ c_nodes) / n_points
            if len(direct_points):
                masks = masks_from_indices(np.arange(j * n_k, (j + 1) * n_k), n_nodes)
                extra_loss, extra_grad = _direct_sums(a[direct_points], c[direct_points], masks)
                out_loss += extra_loss
                out_grad += ((extra_grad @ project) / n_points).astype(np.float32)
                if node_means:
                    node_sums += extra_grad.sum(axis=0) / n_points
            out_loss /= n_points
        return len(js)

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"), \
            _progress(2**n_high, progress, "all masks") as bar, \
            ThreadPoolExecutor(max_workers=workers) as pool:
        for done in pool.map(run, range(0, 2**n_high, group)):
            bar.update(done)
    if node_means:
        return losses, gradients, task_node_sums.sum(axis=0) / 2**n_nodes
    return losses, gradients


def _bits(indices, n_bits):
    """(k,) int64 -> (k, n_bits) float64 of their bits, node i = bit i (n_bits may be 0)."""
    return ((indices[:, None] >> np.arange(n_bits, dtype=np.int64)) & 1).astype(np.float64)


def _direct_sums(a, c, masks):
    """Sums over the given points of softplus and sigmoid * c, in float64."""
    e = a + masks.astype(np.float64) @ c.T
    softplus, sigmoid = _softplus_sigmoid(e)
    return softplus.sum(axis=1), sigmoid @ c


# --------------------------------------------------------------------------- exact analysis


def _check_table(values, name="values"):
    values = check_array(name, values, ndim=1, dtype=np.float64)
    n_nodes = int(round(math.log2(len(values)))) if len(values) else -1
    if n_nodes < 1 or 2**n_nodes != len(values) or n_nodes > MAX_SWEEP_NODES:
        raise ValueError(f"{name} must have length 2**n_nodes (one value per mask index) "
                         f"with 1 <= n_nodes <= {MAX_SWEEP_NODES}, got {_describe(values)}")
    return values, n_nodes


def shapley_values(values):
    """Exact Shapley value of every node for a set function given as a table.

    ``phi_i = sum_{S not containing i} |S|! (n - |S| - 1)! / n! * (v(S + i) - v(S))``.
    The values sum to ``v(all) - v(none)``.

    Parameters
    ----------
    values : (2**n_nodes,) float, ``values[index]`` = v(mask with that index)

    Returns
    -------
    (n_nodes,) float64

    Introduced in chapter 1, §The exact landscape.
    """
    values, n_nodes = _check_table(values)
    sizes = _sizes(n_nodes)
    weight_of_size = np.array([math.factorial(s) * math.factorial(n_nodes - s - 1)
                               / math.factorial(n_nodes) for s in range(n_nodes)])
    result = np.empty(n_nodes)
    for node in range(n_nodes):
        # index = high * 2**(node + 1) + bit * 2**node + low: the bit is the middle axis,
        # so "without node" and "with node" are views, not copies of the table
        without, with_node = _split_on_node(values, node)
        sizes_without, _ = _split_on_node(sizes, node)
        result[node] = np.dot(weight_of_size[sizes_without].ravel(),
                              (with_node - without).ravel())
    return result


def _split_on_node(table, node):
    """Views of a (2**n,) table at the masks without and with ``node``, each
    (2**(n - node - 1), 2**node)."""
    halves = table.reshape(-1, 2, 2**node)
    return halves[:, 0, :], halves[:, 1, :]


def banzhaf_values(values):
    """Exact Banzhaf value of every node: the mean over all ``2**(n-1)`` masks without
    node ``i`` of ``v(S + i) - v(S)``. (2**n,) float -> (n,) float64.

    Introduced in chapter 1, §The exact landscape.
    """
    values, n_nodes = _check_table(values)
    result = np.empty(n_nodes)
    for node in range(n_nodes):
        without, with_node = _split_on_node(values, node)
        result[node] = np.mean(with_node - without)
    return result


def best_and_worst_by_size(values):
    """For each number of nodes ``k``, the mask index with the smallest and the largest
    value among masks with exactly ``k`` nodes on.

    Returns
    -------
    dict of (n_nodes + 1,) arrays: ``size``, ``n_masks``, ``best_index``, ``best``,
    ``worst_index``, ``worst``, ``mean``.
    """
    values, n_nodes = _check_table(values)
    sizes = _sizes(n_nodes)
    counts = np.bincount(sizes, minlength=n_nodes + 1)
    best_index = np.empty(n_nodes + 1, dtype=np.int64)
    worst_index = np.empty(n_nodes + 1, dtype=np.int64)
    means = np.empty(n_nodes + 1)
    for size in range(n_nodes + 1):
        members = np.flatnonzero(sizes == size)
        chosen = values[members]
        best_index[size] = members[np.argmin(chosen)]     # first index among ties
        worst_index[size] = members[np.argmax(chosen)]
        means[size] = chosen.mean()
    return {"size": np.arange(n_nodes + 1), "n_masks": counts,
            "best_index": best_index, "best": values[best_index],
            "worst_index": worst_index, "worst": values[worst_index],
            "mean": means}


def complement_correlation(values):
    """Pearson correlation between a mask's value and its complement's, over all masks
    (every complementary pair counted in both orders, so the start and the end of a
    pair play the same role). (2**n,) float -> float."""
    values, n_nodes = _check_table(values)
    # A mask and its complement run over the same table (index ^ (2**n - 1) == 2**n - 1 -
    # index), so both have its mean and variance, and Pearson's r needs one centred copy.
    centred = values - values.mean()
    return float(centred @ centred[::-1] / (centred @ centred))


def walsh_hadamard(values):
    """Fast Walsh-Hadamard transform, normalised: ``f_hat(T) = mean_S v(S) (-1)^|S & T|``.
    (2**n,) float -> (2**n,) float64."""
    values, n_nodes = _check_table(values)
    out = values.copy()
    top = np.empty(len(out) // 2)      # one buffer for every stage: no table-sized temporaries
    half = 1
    while half < len(out):
        view = out.reshape(-1, 2, half)
        upper = top.reshape(view.shape[0], half)
        np.copyto(upper, view[:, 0, :])
        view[:, 0, :] += view[:, 1, :]
        np.subtract(upper, view[:, 1, :], out=view[:, 1, :])
        half *= 2
    out /= len(out)
    return out


def flip_correlations(values):
    """Exact correlation between a mask's value and the value after ``d`` random flips,
    for ``d = 0 .. n``: the start is uniform over all masks (each node on with
    probability 1/2) and the flipped nodes are a uniformly random set of ``d`` nodes,
    which is the distribution of a hypercube path's step ``d``.

    ``Cov(d) = sum_{T != 0} f_hat(T)^2 K_d(|T|) / C(n, d)`` with the Krawtchouk
    polynomial ``K_d(w) = sum_j (-1)^j C(w, j) C(n - w, d - j)``, from the
    Walsh-Hadamard spectrum ``f_hat`` (:func:`walsh_hadamard`). ``d = n`` is
    :func:`complement_correlation`.

    Returns
    -------
    (n_nodes + 1,) float64, correlations (1 at d = 0).

    Introduced in chapter 1, §The exact landscape.
    """
    values, n_nodes = _check_table(values)
    power = walsh_power_by_degree(values)
    krawtchouk = np.array([[sum((-1) ** j * math.comb(w, j) * math.comb(n_nodes - w, d - j)
                                for j in range(0, d + 1)) for w in range(n_nodes + 1)]
                           for d in range(n_nodes + 1)], dtype=np.float64)
    binomials = np.array([math.comb(n_nodes, d) for d in range(n_nodes + 1)], dtype=np.float64)
    covariance = krawtchouk @ power / binomials
    return covariance / covariance[0]


def walsh_power_by_degree(values):
    """Variance of a table split by the degree of its Walsh-Hadamard components:
    ``power[w] = sum_{|T| = w} f_hat(T)^2`` for ``w = 1 .. n`` (``power[0] = 0``; the
    mean is not variance). Degree 1 is the part of the value explained node by node
    (additively), degree 2 pairwise interactions, and so on. The correlation between a
    mask and its complement is ``sum_w (-1)^w power[w] / sum_w power[w]``: odd degrees
    pull it down, even degrees up.

    Returns (n_nodes + 1,) float64 summing to the variance of ``values`` over all masks.

    Introduced in chapter 1, §The exact landscape.
    """
    values, n_nodes = _check_table(values)
    spectrum = walsh_hadamard(values)
    power = np.bincount(_sizes(n_nodes), weights=np.square(spectrum, out=spectrum),
                        minlength=n_nodes + 1)
    power[0] = 0.0
    return power


def gaussian_density(values, grid, bandwidth, weights=None):
    """Gaussian kernel density of ``values`` on ``grid``, optionally weighted.

    ``density(g) = sum_i w_i N(g; values_i, bandwidth^2) / sum_i w_i``. Up to 20,000
    values the sum is direct; beyond that the values are first linearly binned onto a
    grid of spacing ``bandwidth / 20`` (relative error below 1e-3), which is how the
    exact densities over all 2**20 masks are drawn.

    Parameters
    ----------
    values : (k,) float
    grid : (g,) float, increasing
    bandwidth : float > 0, the kernel's standard deviation
    weights : (k,) float >= 0 or None (equal weights)

    Returns
    -------
    (g,) float64

    Introduced in chapter 1, §Loss under random masks.
    """
    values = check_array("values", values, ndim=1, dtype=np.float64)
    grid = check_array("grid", grid, ndim=1, dtype=np.float64)
    if len(grid) < 2 or np.any(np.diff(grid) <= 0):
        raise ValueError(f"grid must be increasing with at least 2 points, got {_describe(grid)}")
    bandwidth = check_float("bandwidth", bandwidth, low=0, low_open=True)
    if weights is None:
        weights = np.ones_like(values)
    weights = check_array("weights", weights, shape=values.shape, dtype=np.float64)
    total = weights.sum()
    if weights.min() < 0 or total <= 0:
        raise ValueError("weights must be non-negative with a positive sum")
    if len(values) <= 20000:
        density = np.zeros(len(grid))
        step = max(1, 2**18 // len(grid))          # bounded temporaries: ~2 MB
        for start in range(0, len(values), step):
            z = (grid[:, None] - values[None, start:start + step]) / bandwidth
            density += np.exp(-0.5 * z * z) @ weights[start:start + step]
        return density / (total * bandwidth * math.sqrt(2 * math.pi))
    step = bandwidth / 20
    lo, hi = grid[0] - 6 * bandwidth, grid[-1] + 6 * bandwidth
    fine = np.arange(lo, hi + step, step)
    mass = np.zeros(len(fine))
    for start in range(0, len(values), 2**16):      # bounded temporaries
        chunk = values[start:start + 2**16]
        inside = (chunk >= lo) & (chunk < fine[-1])
        position = (chunk[inside] - lo) / step
        left = np.floor(position).astype(np.int64)
        frac = position - left
        mass_here = weights[start:start + 2**16][inside]
        mass += np.bincount(left, weights=mass_here * (1 - frac), minlength=len(fine))
        mass += np.bincount(np.minimum(left + 1, len(fine) - 1), weights=mass_here * frac,
                            minlength=len(fine))
    offsets = np.arange(-int(6 * 20), int(6 * 20) + 1) * step
    kernel = np.exp(-0.5 * (offsets / bandwidth) ** 2) / (bandwidth * math.sqrt(2 * math.pi))
    smooth = np.convolve(mass, kernel, mode="same")
    return np.interp(grid, fine, smooth) / total


def node_roles(model, lo=-1.0, hi=1.0, resolution=101, threshold=0.99):
    """Which hidden nodes act like a bias, found from behaviour, not by hand.

    A ReLU node that is active (positive pre-activation) on nearly the whole training
    square is, there, an affine function that never switches off: it adds a
    near-constant push to the logit difference everywhere, like a bias. The other nodes
    are zero on part of the square and cut a half-plane off it.

    Parameters
    ----------
    model : masked circle model or weight dict
    lo, hi : float, the square [lo, hi]^2 (the training square by default)
    resolution : int >= 2, grid points per side
    threshold : float in (0, 1], the active fraction above which a node is bias-like

    Returns
    -------
    dict of (n_nodes,) arrays: ``active_fraction`` (share of the square where the node
    is on), ``relative_spread`` (std / mean of its activation over the square),
    ``direction`` (``v_i``, > 0 votes "inside"), ``bias_like`` (bool).

    Introduced in chapter 1, §Per-point heatmaps.
    """
    from toyviz.data import grid as make_grid

    threshold = check_float("threshold", threshold, low=0, high=1, low_open=True)
    points, _ = make_grid(lo, hi, resolution)
    h = hidden_activations(model, points)
    active = (h > 0).mean(axis=0)
    mean = h.mean(axis=0)
    spread = np.where(mean > 0, h.std(axis=0) / np.where(mean > 0, mean, 1.0), np.inf)
    return {"active_fraction": active, "relative_spread": spread,
            "direction": node_directions(model), "bias_like": active >= threshold}


def path_correlations(values, alpha=0.05):
    """How fast a value forgets its start along hypercube paths.

    Parameters
    ----------
    values : (n_paths, n_nodes + 1) float, e.g. the log loss at each step of
        :func:`hypercube_paths`
    alpha : float in (0, 1), the significance level

    Returns
    -------
    dict with
    ``covariance`` : (n + 1, n + 1), covariance between steps over the paths;
    ``with_start`` : (n + 1,), covariance of step 0 with step d, d = 0 .. n;
    ``with_end`` : (n + 1,), covariance of step n with step n - d (reversal symmetry
    says this equals ``with_start`` up to sampling error);
    ``correlation`` : (n + 1,), Pearson correlation of step 0 with step d;
    ``p_value`` : (n + 1,), two-sided p-value of Pearson's test of zero correlation
    (``scipy.stats.pearsonr``), one test per d;
    ``flips_to_insignificant`` : the smallest d whose p-value exceeds ``alpha``
    (None if there is none).

    Introduced in chapter 1, §Hypercube paths.
    """
    from scipy import stats

    values = check_array("values", values, ndim=2, dtype=np.float64)
    if values.shape[0] < 3 or values.shape[1] < 2:
        raise ValueError(f"values must have at least 3 paths and 2 steps, got {_describe(values)}")
    alpha = check_float("alpha", alpha, low=0, high=1, low_open=True)
    n = values.shape[1] - 1
    covariance = np.cov(values, rowvar=False)
    tests = [stats.pearsonr(values[:, 0], values[:, d]) for d in range(n + 1)]
    p_value = np.array([float(t.pvalue) for t in tests])
    above = np.flatnonzero(p_value > alpha)
    return {"covariance": covariance,
            "with_start": covariance[0],
            "with_end": covariance[n, ::-1],
            "correlation": np.array([float(t.statistic) for t in tests]),
            "p_value": p_value,
            "flips_to_insignificant": int(above[0]) if len(above) else None}
