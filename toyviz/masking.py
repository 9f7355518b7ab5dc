"""Node masks: sampling them, and the loss and mask-gradient of many masks at once.

Introduced in :doc:`chapter 1 </book/node_removal>`.

A *mask* switches nodes of a network's hidden layers off (0) or on (1), or anywhere in
between: each node's output, after its activation, is multiplied by its mask value,
exactly as the book's mask layer does (:func:`toyviz.models.with_masks`,
:func:`toyviz.models.masked_circle_model`). Every function here takes a Keras model or a
:class:`toyviz.network.Network` (or a :class:`MaskedNetwork`, which fixes both), and
``layers=``, the hidden layer(s) to mask. A mask's columns are those layers' nodes,
concatenated in the order given. By default ``layers`` is the layers the model masks
itself (``Network.masked``, e.g. the masked circle model's ``hidden``), else the model's
only hidden layer; a model with several hidden layers and no mask input must name them.

The loss of a point is Keras' cross-entropy on the model's output, by its last activation:

* softmax, k units: sparse categorical cross-entropy ``-log p_y``, labels ``0 .. k-1``;
* one sigmoid unit: binary cross-entropy, labels 0 and 1;
* linear: the outputs are logits, as in a model trained with ``from_logits=True``: k >= 2
  units, sparse categorical cross-entropy of ``softmax(z)``; one unit, binary
  cross-entropy of ``sigmoid(z)``.

Several sigmoid units (a multi-label output) are refused, and so are labels outside the
output's range. The loss here is the exact ``-log p_y``. Keras, given probabilities
(``from_logits=False``), clips them to ``[1e-7, 1 - 1e-7]`` before the logarithm, so a
point whose loss would exceed ``-log(1e-7) = 16.1`` counts as 16.1 there, with gradient
0; the two agree wherever every point's probability of its label lies in that range
(from logits, Keras does not clip, and they agree everywhere).

**The general engine.** A batch of ``k`` masks runs through the network's one forward
pass, :meth:`toyviz.network.Network.forward`, as masks of shape ``(k, 1, width)``, which
gives ``(k, n_points, ...)`` values; the gradient with respect to the mask comes from a
numpy backward pass from the logits to the first masked layer. Masks go in chunks, so
memory stays bounded. When one layer is masked and feeds the output layer, the logits of
a chunk are one matrix product of the masks with the nodes times the output kernel, and
so is the gradient (:func:`_batch_engine`).

**Chapter 1's fast path.** When one layer is masked, it is the last hidden layer, and the
output has two classes (two softmax or linear units, or one sigmoid or linear unit),
everything depends on one logit difference (for one unit, the logit itself)

    d(x, m) = b + sum_i m_i h_i(x) v_i,    b = b2[1] - b2[0],  v_i = w2[i, 1] - w2[i, 0],

where ``h`` are the masked layer's node outputs, whatever their activation, and the
cross-entropy of a point with label y is ``softplus(s d)`` with ``s = +1`` for y = 0 and
``s = -1`` for y = 1. Writing ``a = s b`` and the *signed contributions* ``c_i = s h_i
v_i``, the mean loss over points ``p`` and its gradient with respect to the mask are

    L(m)        = mean_p softplus(a_p + m . c_p)
    dL/dm_i (m) = mean_p sigmoid(a_p + m . c_p) c_pi.

So a batch of masks needs one matrix product ``masks @ c.T`` for the arguments, an
element-wise softplus and sigmoid, and one product ``sigmoid(...) @ c`` for the
gradients: no loop over masks (:func:`mask_losses`). The functions dispatch to it by
themselves.

For all ``2**n`` binary masks at once (:func:`sweep_all_masks`), split a mask's index
into a high half ``j`` and a low half ``k``. The argument is then a sum
``A[j, p] + B[k, p]`` of two small tables, and with ``X = exp(-A - t)``,
``Y = exp(B - t)`` (a shift ``t_p`` per point keeps both in float32 range)

    softplus(A + B) = A + t + log(X + Y),      sigmoid(A + B) = 1 - X / (X + Y),

so each of the 2**n x n_points entries costs one addition, one logarithm and one
reciprocal, with no exponential, and the sums over points are matrix products. The
tables are :class:`toyviz._split.SplitTables`, which the fused kernels of
:mod:`toyviz._fused` and the exact reductions of :mod:`toyviz.exact` read too. Other
networks are swept in chunks of masks through the general engine.

Mask indices: bit ``i`` of an index is node ``i`` (index 0 = no node, ``2**n - 1`` =
every node).

The functions of a ``(2**n,)`` table of values, one per mask (Shapley and Banzhaf values,
the Walsh spectrum, densities, ...), live in :mod:`toyviz.landscape`; the ones chapter 1
uses are importable from here too.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import stats
from threadpoolctl import threadpool_limits

from toyviz import _calibration, _fused, data, models, network
from toyviz._checks import (describe, check_array, check_choice, check_flag, check_float,
                            check_int, check_labels, check_layer_names, check_ordered,
                            check_rng, check_size)
from toyviz._progress import progress_bar
from toyviz._split import SplitTables, softplus_sigmoid
from toyviz.landscape import (  # noqa: F401  (re-exported: chapter 1 uses these names here)
    MAX_NODES,
    banzhaf_values,
    best_and_worst_by_size,
    complement_correlation,
    flip_correlations,
    gaussian_density,
    mask_moments,
    mask_probabilities,
    normal_fit,
    removal_costs,
    shapley_values,
    walsh_hadamard,
    walsh_power_by_degree,
)

#: Largest number of masked nodes for which a full sweep of all masks is allowed (2**24).
MAX_SWEEP_NODES = MAX_NODES

# Numbers per array in one chunk of the general engine (16 MB of float64).
_CHUNK_NUMBERS = 2**21


# --------------------------------------------------------------------------- the network


class MaskedNetwork:
    """A network and the hidden layers its masks act on, checked once.

    Build it with :func:`masked_network`. Attributes: ``network``
    (:class:`toyviz.network.Network`), ``layers`` (tuple of hidden layer names),
    ``widths`` (their numbers of nodes), ``n_nodes`` (the mask's length, their sum),
    ``slices`` (each layer's columns in a mask), ``ends`` (the index in
    ``network.steps`` of the step whose outputs are each layer's nodes), ``loss``
    (``"categorical"`` or ``"binary"``), ``n_classes``, and ``fast`` (True for chapter 1's
    case: see the module docstring).
    """

    def __init__(self, net, layers):
        if not isinstance(net, network.Network):
            raise TypeError(f"net must be a toyviz.network.Network, got {describe(net)}")
        layers = check_layer_names("layers", layers, net.hidden_layers)
        if not layers:
            raise ValueError(f"layers must name at least one hidden layer, got none; hidden "
                             f"layers: {list(net.hidden_layers)}")
        self.network, self.layers = net, layers
        self.widths = tuple(net.hidden_layers[layer] for layer in self.layers)
        self.n_nodes = sum(self.widths)
        self.ends = tuple(net.node_steps[layer] for layer in self.layers)
        bounds = np.cumsum((0, *self.widths))
        self.slices = tuple(slice(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:]))
        first = min(self.ends)
        # numbers per point and mask that one pass holds from the first masked layer on
        width = self.widths[self.ends.index(first)]
        self.numbers_per_point = 0
        for step in net.steps[first:]:
            if not isinstance(step, (network.Dense, network.Nonlinearity)):
                raise ValueError(
                    f"layers must be followed by Dense layers and activations only, but "
                    f"layer {step.name!r} after {list(self.layers)} is {type(step).__name__}")
            if isinstance(step, network.Dense):
                width = step.kernel.shape[1]
            self.numbers_per_point += width
        if net.output == "sigmoid" and net.n_outputs != 1:
            raise ValueError(
                f"model ends in {net.n_outputs} sigmoid units (a multi-label output); masking "
                "needs a softmax or linear output, or one sigmoid unit (binary cross-entropy)")
        self.loss = "binary" if net.n_outputs == 1 and net.output != "softmax" else "categorical"
        self.n_classes = 2 if self.loss == "binary" else net.n_outputs
        self.fast = (len(self.layers) == 1 and self.ends[0] == len(net.steps) - 2
                     and (self.loss == "binary" or net.n_outputs == 2))

    def check_points(self, x, y):
        """``x`` and ``y`` checked for this network: ``x`` as float64 ``(n_points,
        *input_shape)``, at least one point, and ``y`` as ``(n_points,)`` int64 labels of
        its classes. Raises ValueError or TypeError naming ``x`` or ``y``."""
        x = _inputs(self, x)
        return x, check_labels("y", y, len(x), self.n_classes, empty=True,
                               integer_dtype=True)

    def __repr__(self):
        return (f"MaskedNetwork(layers={list(self.layers)}, widths={list(self.widths)}, "
                f"loss={self.loss!r}, n_classes={self.n_classes}, fast={self.fast})")


def masked_network(model, layers=None):
    """The network ``model`` and the hidden layers to mask, checked.

    Parameters
    ----------
    model : keras.Model (read with :func:`toyviz.network.read`), a
        :class:`toyviz.network.Network`, or a :class:`MaskedNetwork` (returned as it is
        when ``layers`` is None or names its layers)
    layers : None, a hidden layer name, or a sequence of them (no repeats). None: the
        layers the model masks itself (``Network.masked``) if it has a mask input, else
        its only hidden layer.

    Returns
    -------
    MaskedNetwork

    Raises ``ValueError`` when ``layers`` is None and the model has several hidden layers
    and no mask input (the message lists them), or when the layers cannot be masked (a
    layer after them that is not Dense or an activation; several sigmoid outputs).
    """
    check_ordered("layers", layers, "hidden layer names")
    if isinstance(model, MaskedNetwork):
        if layers is None or check_layer_names(
                "layers", layers, model.network.hidden_layers) == model.layers:
            return model
        net = model.network
    elif isinstance(model, network.Network):
        net = model
    elif any(cls.__module__.startswith("keras") for cls in type(model).__mro__):
        net = network.read(model)
    else:
        raise TypeError("model must be a keras.Model, a toyviz.network.Network or a "
                        f"MaskedNetwork, got {describe(model)}")
    hidden = net.hidden_layers
    if layers is None:
        if net.masked:
            layers = net.masked
        elif len(hidden) == 1:
            layers = tuple(hidden)
        elif not hidden:
            raise ValueError("model has no hidden layer to mask (every Dense layer but the "
                             "last is a hidden layer)")
        else:
            raise ValueError(f"layers must name the hidden layer(s) to mask: the model has "
                             f"{len(hidden)} hidden layers {list(hidden)} and no mask input")
    return MaskedNetwork(net, layers)


def n_nodes_of(model, layers=None):
    """The number of masked nodes (a mask's length) of ``model`` at ``layers``."""
    return masked_network(model, layers).n_nodes


def _inputs(target, x):
    """``x`` as float64 ``(n_points, *input_shape)``, at least one point."""
    return check_array("x", x, shape=(None, *target.network.input_shape), dtype=np.float64,
                       empty=False)


def _one_mask(target, mask, name="mask"):
    if mask is None:
        return np.ones(target.n_nodes, dtype=np.float32)
    mask = check_array(name, mask, shape=(target.n_nodes,), dtype=None)
    return check_masks(mask[None, :], target.n_nodes, name=name)[0]


def hidden_activations(model, x, layers=None):
    """The masked layers' node outputs (after their activation) with every node on.

    Parameters
    ----------
    model : Keras model, Network or MaskedNetwork; layers : see :func:`masked_network`
    x : (n_points, *input_shape) float

    Returns
    -------
    (n_points, n_nodes) float64, the layers' nodes side by side in the order of ``layers``.
    """
    target = masked_network(model, layers)
    values, _ = target.network.forward(_inputs(target, x))
    return np.concatenate([values[end + 1] for end in target.ends], axis=-1)


def _last_layer(target, caller):
    """Chapter 1's case: the output layer as ``(b, v)`` of the logit difference."""
    if not target.fast:
        raise ValueError(
            f"model must have two classes and be masked at its last hidden layer alone for "
            f"{caller} (here layers={list(target.layers)}, {target.n_classes} classes); "
            "mask_losses and point_losses work on any network")
    output = target.network.steps[-1]
    if output.kernel.shape[1] == 1:
        return float(output.bias[0]), output.kernel[:, 0]
    return (float(output.bias[1] - output.bias[0]),
            output.kernel[:, 1] - output.kernel[:, 0])


def node_directions(model, layers=None):
    """``v_i = w2[i, 1] - w2[i, 0]`` (with one output unit, ``w2[i, 0]``): how much node
    ``i`` adds to the class-1-minus-class-0 logit per unit of activation (positive: the
    node votes "inside"). (n_nodes,) float64.

    Only for chapter 1's case (two classes, the last hidden layer masked alone)."""
    return _last_layer(masked_network(model, layers), "node_directions")[1].copy()


def signed_contributions(model, x, y, layers=None):
    """The per-point terms of the loss in chapter 1's case: ``loss_p(m) = softplus(a_p +
    m . c_p)`` (two classes, the last hidden layer masked alone; see the module docstring).

    Parameters
    ----------
    model : Keras model, Network or MaskedNetwork; layers : see :func:`masked_network`
    x : (n_points, *input_shape) float
    y : (n_points,) int labels in {0, 1} (1 = inside)

    Returns
    -------
    a : (n_points,) float64, ``s_p b``
    c : (n_points, n_nodes) float64, ``s_p h_pi v_i``, with ``s_p = 1 - 2 y_p``.
    """
    target = masked_network(model, layers)
    return _contributions(target, *target.check_points(x, y))


def _contributions(target, x, y):
    b, v = _last_layer(target, "signed_contributions")
    sign = 1.0 - 2.0 * y
    values, _ = target.network.forward(x)
    h = values[target.ends[0] + 1]
    return sign * b, sign[:, None] * h * v[None, :]


# --------------------------------------------------------------------------- masks


def check_masks(masks, n_nodes, binary=False, name="masks"):
    """Return ``masks`` as a ``(k, n_nodes)`` float32 array, checking shape and values.

    Masks are numbers in [0, 1] (1 = node on); with ``binary`` only 0 and 1 are allowed.
    Boolean and integer arrays are accepted and converted.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {describe(name)}")
    binary = check_flag("binary", binary)
    n_nodes = check_int("n_nodes", n_nodes, low=1)
    raw = check_array(name, masks, dtype=None)
    if raw.ndim != 2 or raw.shape[1] != n_nodes:
        raise ValueError(f"{name} must have shape (n_masks, {n_nodes}) (one row per mask, "
                         f"one column per node: n_nodes = {n_nodes}), got {describe(raw)}")
    if np.iscomplexobj(raw):
        raise TypeError(f"{name} must be real, got {describe(raw)}")
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

    Introduced in chapter 1, :ref:`§Loss under random masks <node-removal-random-masks>`.
    """
    n_masks = check_int("n_masks", n_masks, low=0)
    p = check_float("p", p, low=0, high=1)
    rng = check_rng("rng", rng)
    n_nodes = check_int("n_nodes", n_nodes, low=1)
    name, value = ("n_masks", n_masks) if n_masks >= n_nodes else ("n_nodes", n_nodes)
    check_size(name, value, 12 * n_masks * n_nodes)   # float64 draws, float32 masks
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
        raise TypeError(f"indices must be integers, got {describe(indices)}")
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


def popcount(indices):
    """Number of nodes on in each mask index. (k,) int -> (k,) int64."""
    indices = check_array("indices", indices, ndim=1, dtype=None)
    if not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(f"indices must be integers, got {describe(indices)}")
    if indices.size and indices.min() < 0:
        raise ValueError(f"indices must be >= 0 (mask indices), got values from "
                         f"{indices.min()} to {indices.max()}")
    return np.bitwise_count(indices.astype(np.uint64)).astype(np.int64)


# --------------------------------------------------------------------------- hypercube paths


def hypercube_paths(n_paths, rng, n_nodes=20):
    """Random walks across the hypercube of masks that flip every node exactly once.

    Each path starts at a random mask (every node on with probability 1/2) and flips the
    nodes one at a time in a random order, ending at the start's complement.

    Returns
    -------
    (n_paths, n_nodes + 1, n_nodes) float32; ``[:, t]`` is the mask after ``t`` flips.

    Introduced in chapter 1, :ref:`§Hypercube paths <node-removal-paths>`.
    """
    n_paths = check_int("n_paths", n_paths, low=1)
    rng = check_rng("rng", rng)
    n_nodes = check_int("n_nodes", n_nodes, low=1)
    name, value = ("n_paths", n_paths) if n_paths >= n_nodes else ("n_nodes", n_nodes)
    check_size(name, value, 6 * n_paths * (n_nodes + 1) * n_nodes)
    start = rng.random((n_paths, n_nodes)) < 0.5
    order = np.argsort(rng.random((n_paths, n_nodes)), axis=1)
    # flipped[r, t, i]: node i has been flipped within the first t steps of path r.
    step_of_node = np.empty_like(order)
    np.put_along_axis(step_of_node, order, np.arange(1, n_nodes + 1)[None, :], axis=1)
    flipped = step_of_node[:, None, :] <= np.arange(n_nodes + 1)[None, :, None]
    return (start[:, None, :] ^ flipped).astype(np.float32)


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

    Introduced in chapter 1, :ref:`§Hypercube paths <node-removal-paths>`.
    """
    values = check_array("values", values, ndim=2, dtype=np.float64)
    if values.shape[0] < 3 or values.shape[1] < 2:
        raise ValueError(f"values must have at least 3 paths and 2 steps, got {describe(values)}")
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


# --------------------------------------------------------------------------- helpers


# --------------------------------------------------------------------------- the engine


def _loss_terms(kind, logits, y):
    """Per-point loss and its derivative with respect to the logits.

    logits : (..., n_points, n_outputs) float64; y : (n_points,) int.
    Returns loss (..., n_points) and d loss / d logits (..., n_points, n_outputs)."""
    if kind == "binary":
        sign = 1.0 - 2.0 * y
        softplus, sigmoid = softplus_sigmoid(sign * logits[..., 0])
        return softplus, (sign * sigmoid)[..., None]
    one_hot = np.eye(logits.shape[-1])[y]                    # (n_points, n_outputs)
    shifted = logits - _over_classes(np.maximum, logits)[..., None]
    delta = np.exp(shifted)
    total = _over_classes(np.add, delta)
    delta /= total[..., None]
    delta -= one_hot                                          # softmax - one-hot
    shifted *= one_hot
    return np.log(total) - _over_classes(np.add, shifted), delta   # log sum exp - logit of y


def _over_classes(function, array):
    """``function.reduce`` over the last axis; for a few classes as a loop over them,
    which is several times faster than numpy's reduction of a short last axis."""
    if array.shape[-1] > 16:
        return function.reduce(array, axis=-1)
    out = array[..., 0].copy()
    for column in range(1, array.shape[-1]):
        function(out, array[..., column], out=out)
    return out


def _probabilities(kind, logits):
    """(..., n_points, n_classes) class probabilities from the logits."""
    if kind == "binary":
        inside = network.apply_output("sigmoid", logits[..., 0])
        return np.stack([1.0 - inside, inside], axis=-1)
    return network.apply_output("softmax", logits)


def _general(target, x, y, masks, per_point=False):
    """Loss and mask-gradient of a batch of masks, through the forward pass and a numpy
    backward pass from the logits to the first masked layer.

    x : (n_points, ...) float64, y : (n_points,) int64, masks : (k, n_nodes) float64.

    Returns
    -------
    losses : (k, n_points) float64, each point's loss
    gradients : (k, n_nodes) float64 summed over the points, or with ``per_point``
        (k, n_points, n_nodes)
    """
    net = target.network
    split = {layer: masks[:, None, part] for layer, part in zip(target.layers, target.slices)}
    values, _ = net.forward(x, split)
    losses, delta = _loss_terms(target.loss, values[-1], y)
    at_end = {end: position for position, end in enumerate(target.ends)}
    first = min(target.ends)
    parts = [None] * len(target.layers)
    for index in range(len(net.steps) - 1, first - 1, -1):
        step = net.steps[index]
        if index in at_end:
            # the step's output, before its mask: recomputed from the stored input
            position = at_end[index]
            nodes = step.forward(values[index])
            product = delta * nodes
            parts[position] = product if per_point else product.sum(axis=1)
            if index == first:
                break
            delta = delta * split[target.layers[position]]
        if isinstance(step, network.Dense):
            delta = delta @ step.kernel.T
        else:
            delta = delta * step.fprime(values[index])
    return losses, np.concatenate(parts, axis=-1)


def _batch_engine(target, x, y):
    """A function ``masks (k, n_nodes) float64 -> (losses (k, n_points), gradients (k,
    n_nodes) summed over the points)`` for these points.

    When one layer is masked and feeds the output layer directly (any number of classes),
    the logits are one matrix product ``b + masks @ H`` with ``H[i, (p, c)] = h_pi W_ic``
    (``h`` the layer's nodes, ``W`` the output kernel), and the gradient is ``delta @ H.T``
    (``delta`` = d loss / d logits): chapter 1's signed contributions with one column per
    class. Otherwise :func:`_general` runs the network forward and back."""
    net = target.network
    if not (len(target.layers) == 1 and target.ends[0] == len(net.steps) - 2):
        return lambda masks: _general(target, x, y, masks)
    values, _ = net.forward(x)
    nodes, output = values[target.ends[0] + 1], net.steps[-1]
    n_points, n_outputs = len(x), output.kernel.shape[1]
    products = np.ascontiguousarray(
        (nodes[:, :, None] * output.kernel[None]).transpose(1, 0, 2).reshape(-1, n_points * n_outputs))

    def run(masks):
        logits = (masks @ products).reshape(len(masks), n_points, n_outputs)
        logits += output.bias
        losses, delta = _loss_terms(target.loss, logits, y)
        return losses, delta.reshape(len(masks), -1) @ products.T

    return run


def _chunk_size(target, n_points, most):
    """Masks per chunk of the general engine: at most ``most``, and few enough that one
    array of the pass holds about :data:`_CHUNK_NUMBERS` numbers."""
    return max(1, min(most, _CHUNK_NUMBERS // max(1, n_points * target.numbers_per_point)))


def mask_losses(model, x, y, masks, chunk_size=256, progress=None, layers=None):
    """Mean loss and its gradient with respect to the mask, for a batch of masks.

    No Python loop over masks: in chapter 1's case one pass per chunk is ``e = a + masks
    @ c.T`` (float64), a stable softplus and sigmoid, then ``sigmoid(e) @ c``; otherwise
    the masks of a chunk run through the network together, forward and back (see the
    module docstring). Memory is bounded by the chunk.

    Parameters
    ----------
    model : keras.Model, :class:`toyviz.network.Network` or :class:`MaskedNetwork`
    x : (n_points, *input_shape) float, at least one point
    y : (n_points,) int class labels (see the module docstring for the loss)
    masks : (n_masks, n_nodes) in [0, 1], the masked layers' nodes side by side
        (continuous values are allowed: the loss is a smooth function of the mask, and
        the gradient is its derivative)
    chunk_size : int >= 1, masks per chunk (fewer for large networks, so that each array
        of the general engine holds about 2**21 numbers)
    progress : bool or None, tqdm bar (None: only on a terminal)
    layers : None, a hidden layer name or a sequence of them (see :func:`masked_network`)

    Returns
    -------
    losses : (n_masks,) float64, mean cross-entropy over the points
    gradients : (n_masks, n_nodes) float64, d loss / d mask

    Introduced in chapter 1, :ref:`§The engine, and the essay's way as its check
    <node-removal-engine>`.
    """
    target = masked_network(model, layers)
    x, y = target.check_points(x, y)
    masks = check_masks(masks, target.n_nodes)
    chunk_size = check_int("chunk_size", chunk_size, low=1)
    n_points = len(x)
    losses = np.empty(len(masks))
    gradients = np.empty((len(masks), target.n_nodes))
    if target.fast:
        a, c = _contributions(target, x, y)
    else:
        chunk_size = _chunk_size(target, n_points, chunk_size)
        engine = _batch_engine(target, x, y)
    with progress_bar(len(masks), progress, "masks") as bar:
        for start in range(0, len(masks), chunk_size):
            chunk = masks[start:start + chunk_size].astype(np.float64)
            rows = slice(start, start + len(chunk))
            if target.fast:
                softplus, sigmoid = softplus_sigmoid(a + chunk @ c.T)
                losses[rows] = softplus.sum(axis=1) / n_points
                gradients[rows] = sigmoid @ c / n_points
            else:
                point_loss, gradient = engine(chunk)
                losses[rows] = point_loss.sum(axis=1) / n_points
                gradients[rows] = gradient / n_points
            bar.update(len(chunk))
    return losses, gradients


def point_losses(model, x, y, mask=None, layers=None):
    """Loss of each point, and its gradient with respect to the mask, for one mask.

    Parameters
    ----------
    model : keras.Model, Network or MaskedNetwork; layers : see :func:`masked_network`
    x : (n_points, *input_shape), y : (n_points,) int class labels
    mask : (n_nodes,) in [0, 1], default all ones (the whole network)

    Returns
    -------
    losses : (n_points,) float64
    gradients : (n_points, n_nodes) float64, d loss_p / d mask_i

    Introduced in chapter 1, :ref:`§Per-point heatmaps <node-removal-heatmaps>`.
    """
    target = masked_network(model, layers)
    x, y = target.check_points(x, y)
    mask = _one_mask(target, mask)
    if target.fast:
        a, c = _contributions(target, x, y)
        softplus, sigmoid = softplus_sigmoid(a + c @ mask.astype(np.float64))
        return softplus, sigmoid[:, None] * c
    losses, gradients = _general(target, x, y, mask[None, :].astype(np.float64),
                                 per_point=True)
    return losses[0], gradients[0]


def class_probabilities(model, x, mask=None, layers=None):
    """Each class's probability for each point under one mask: the model's output for
    softmax and sigmoid outputs (for one sigmoid unit, ``[1 - p, p]``), and the softmax
    (one unit: the sigmoid) of the logits for a linear output, as the loss reads them.

    Returns (n_points, n_classes) float64.
    """
    target = masked_network(model, layers)
    x = _inputs(target, x)
    mask = _one_mask(target, mask).astype(np.float64)
    masks = {layer: mask[part] for layer, part in zip(target.layers, target.slices)}
    return _probabilities(target.loss, target.network(x, masks))


def inside_probability(model, x, mask=None, layers=None):
    """P(class 1) (on the circle: P(inside)) for each point under one mask.
    (n_points,) float64. See :func:`class_probabilities` for every class."""
    target = masked_network(model, layers)
    if not target.fast:
        return class_probabilities(target, x, mask)[:, 1]
    x = _inputs(target, x)
    mask = _one_mask(target, mask)
    b, v = _last_layer(target, "inside_probability")
    values, _ = target.network.forward(x)
    d = b + (values[target.ends[0] + 1] * mask) @ v
    return 0.5 * (1.0 + np.tanh(0.5 * d))


def _keras_loss(target):
    """The Keras loss matching the engine's (see the module docstring)."""
    import keras

    from_logits = target.network.output == "linear"
    if target.loss == "binary":
        return keras.losses.BinaryCrossentropy(from_logits=from_logits)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)


def reference_mask_losses(model, x, y, masks, progress=None, layers=None):
    """The essay's way, kept as the slow reference: one Keras call per mask, with the
    mask repeated for every point and a ``GradientTape`` watching it.

    The model is rebuilt with a mask input after each masked layer
    (:func:`toyviz.models.with_masks`, sharing its weights), and the loss is the Keras
    loss the engine computes (``SparseCategoricalCrossentropy`` or ``BinaryCrossentropy``,
    ``from_logits`` for a linear output). The gradient of the mean loss with respect to
    the shared mask is the sum, over the points, of the tape's gradient with respect to
    each point's copy of the mask.

    Parameters
    ----------
    model : keras.Model
    x, y, masks, layers : as in :func:`mask_losses`

    Returns
    -------
    losses : (n_masks,) float64, gradients : (n_masks, n_nodes) float64 (computed in
    float32 by Keras; from probabilities, Keras clips them to [1e-7, 1 - 1e-7], so a
    point whose loss would exceed -log(1e-7) = 16.1 counts as 16.1 here).
    """
    import keras
    import tensorflow as tf

    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {describe(model)}")
    target = masked_network(model, layers)
    x, y = target.check_points(x, y)
    masks = check_masks(masks, target.n_nodes)
    masked_model = models.with_masks(model, target.layers)
    loss_fn = _keras_loss(target)
    x_tensor = tf.constant(x.astype(np.float32))
    y_tensor = tf.constant(y[:, None].astype(np.float32) if target.loss == "binary" else y)
    losses = np.empty(len(masks))
    gradients = np.empty(masks.shape)
    with progress_bar(len(masks), progress, "reference") as bar:
        for row, mask in enumerate(masks):
            repeated = [tf.constant(np.repeat(mask[None, part], len(x), axis=0))
                        for part in target.slices]
            with tf.GradientTape() as tape:
                tape.watch(repeated)
                loss = loss_fn(y_tensor, masked_model([x_tensor, *repeated], training=False))
            losses[row] = float(loss)
            gradients[row] = np.concatenate([tf.reduce_sum(g, axis=0).numpy()
                                             for g in tape.gradient(loss, repeated)])
            bar.update(1)
    return losses, gradients


def mask_losses_before_relu(model, x, y, masks, chunk_size=8, layers=None):
    """Mean loss and mask-gradient when the mask multiplies the pre-activation instead:
    ``h = relu(m * z)`` with ``z`` the layer's Dense output, differentiated by TensorFlow
    (whose ReLU has derivative 0 at 0).

    For masks in [0, 1] this is the same function as the chapter's
    ``h = m * relu(z)``, so the losses agree; the gradients agree wherever ``m_i > 0``.
    At ``m_i = 0`` automatic differentiation gives 0 here, where the after-ReLU mask gives
    the one-sided derivative ``mean sigmoid(.) c_i``.

    Parameters
    ----------
    model : keras.Model, Network or MaskedNetwork in chapter 1's case (two classes, the
        last hidden layer masked alone), whose masked layer's activation is ReLU
    x, y, masks, layers : as in :func:`mask_losses`
    chunk_size : int >= 1, masks per TensorFlow call

    Returns
    -------
    losses : (n_masks,) float64, gradients : (n_masks, n_nodes) float64

    Introduced in chapter 1, :ref:`§Mask before or after the ReLU <node-removal-mask-relu>`.
    """
    import tensorflow as tf

    target = masked_network(model, layers)
    offset, v = _last_layer(target, "mask_losses_before_relu")
    end = target.ends[0]
    activation = target.network.steps[end]
    if getattr(activation, "function", None) != "relu" or not isinstance(
            target.network.steps[end - 1], network.Dense):
        raise ValueError(f"model must have a ReLU activation on layer {target.layers[0]!r} "
                         "for mask_losses_before_relu")
    x, y = target.check_points(x, y)
    masks = check_masks(masks, target.n_nodes)
    chunk_size = check_int("chunk_size", chunk_size, low=1)
    values, _ = target.network.forward(x)
    z = tf.constant(values[end])                                          # (points, n)
    v = tf.constant(v)
    sign = tf.constant(1.0 - 2.0 * y)
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


def node_roles(model, lo=-1.0, hi=1.0, resolution=101, threshold=0.99, layers=None):
    """Which hidden nodes act like a bias, found from behaviour, not by hand.

    A ReLU node that is active (positive output) on nearly the whole training square is,
    there, an affine function that never switches off: it adds a near-constant push to
    the logit difference everywhere, like a bias. The other nodes are zero on part of the
    square and cut a half-plane off it.

    Parameters
    ----------
    model : keras.Model, Network or MaskedNetwork with two inputs, in chapter 1's case
        (two classes, the last hidden layer masked alone; see :func:`masked_network`)
    lo, hi : float, the square [lo, hi]^2 (the training square by default)
    resolution : int >= 2, grid points per side
    threshold : float in (0, 1], the active fraction above which a node is bias-like

    Returns
    -------
    dict of (n_nodes,) arrays: ``active_fraction`` (share of the square where the node's
    output is positive), ``relative_spread`` (std / mean of its output over the square),
    ``direction`` (``v_i``, > 0 votes "inside"), ``bias_like`` (bool).

    Introduced in chapter 1, :ref:`§Per-point heatmaps <node-removal-heatmaps>`.
    """
    target = masked_network(model, layers)
    if target.network.input_shape != (2,):
        raise ValueError(f"model must have two inputs for node_roles, got input shape "
                         f"{target.network.input_shape}")
    direction = node_directions(target)
    threshold = check_float("threshold", threshold, low=0, high=1, low_open=True)
    points, _ = data.grid(lo, hi, resolution)
    h = hidden_activations(target, points)
    active = (h > 0).mean(axis=0)
    mean = h.mean(axis=0)
    spread = np.where(mean > 0, h.std(axis=0) / np.where(mean > 0, mean, 1.0), np.inf)
    return {"active_fraction": active, "relative_spread": spread,
            "direction": direction, "bias_like": active >= threshold}


# --------------------------------------------------------------------------- full sweep


#: How :func:`sweep_all_masks` computes chapter 1's case.
SWEEP_ENGINES = ("auto", "numba", "numpy")


def sweep_all_masks(model, x, y, progress=None, workers=None, block=256, project=None,
                    node_means=False, layers=None, engine="auto"):
    """Loss and mask-gradient of every one of the ``2**n_nodes`` binary masks.

    In chapter 1's case (two classes, the last hidden layer masked alone), splits each
    mask index into a high half ``j`` and a low half ``k`` (``index = j * 2**n_low + k``)
    so that the argument of the softplus is ``A[j] + B[k]`` (see the module docstring).
    Per high half ``j`` it forms ``T = X[j] + Y`` for a block of low halves, takes
    ``log(T)`` and ``1 / T``, and reduces over points with two float32 matrix products;
    the exact parts (``A + t``, the column sums of ``c``) are added in float64. Points
    whose tables do not fit float32 (``|A + t|`` or ``|B - t|`` beyond 80) are evaluated
    directly in float64 instead (:func:`_sweep_split`).

    Any other network is swept in chunks of consecutive mask indices, each through the
    general engine of :func:`mask_losses` in float64 (:func:`_sweep_chunks`).

    Either way the work runs on ``workers`` threads (numpy and BLAS release the GIL),
    which write disjoint slices, so the result does not depend on the number of threads.
    Chapter 1's case can also run in the fused numba kernel of :mod:`toyviz._fused` (the
    same split tables in one pass per block of masks, the logarithms as sums of exponents
    and products of mantissas, within the same tolerances). ``engine`` chooses:
    ``"numpy"`` (never loads numba, whose compiler libraries add about 140 MiB of
    resident memory to the process, mostly pages mapped from its library files),
    ``"numba"`` (refused with a ValueError when numba cannot be imported) or ``"auto"``,
    the faster of the two *as measured on this machine*: the first call of a kind times
    both engines on samples of its own problem (one and eight high halves by one block of
    low halves, on one thread, in CPU time), interleaved, best of at least two rounds
    (about 30 ms for chapter 1's 2**20 masks, 7 % of its fused sweep here), and keeps the
    choice per CPU model, numba and numpy/BLAS versions, problem shape class (nodes,
    points and gradient columns to the power of two, ``node_means``, ``block``) and
    ``workers``, in memory and in ``$XDG_CACHE_HOME/toyviz/engine-calibration.json``
    (``~/.cache/...``; delete it to measure again; see :mod:`toyviz._calibration`).
    Without numba, ``"auto"`` warns once and takes the numpy path. The two engines'
    results differ in the last float32 bits, so for results that repeat bit for bit
    across machines pass an engine by name.

    Parameters
    ----------
    model : keras.Model, Network or MaskedNetwork; layers : see :func:`masked_network`
        (at most :data:`MAX_SWEEP_NODES` masked nodes in all)
    x : (n_points, *input_shape), at least one point; y : (n_points,) int class labels
    progress : bool or None, tqdm bar (None: only on a terminal)
    workers : int >= 1 or None (None: the number of CPUs, at most 4)
    block : int >= 1. Chapter 1's case: low halves per block (sets the memory per
        thread: ``block * n_points`` float32 numbers, times three). Otherwise: at most
        this many masks per chunk (fewer for large networks, as in :func:`mask_losses`).
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

    In chapter 1's case the sums over points are float32 matrix products, so the results
    differ from the float64 engine :func:`mask_losses` by about 1e-6 (on chapter 1's
    model, at most 1.3e-6 on losses and 1.5e-6 on gradients over all 2**20 masks); the
    tests hold it to 2e-6 plus 1e-6 of the value (a few float32 ulps of each sum) on
    random small networks. Otherwise the losses are the
    engine's, and the gradients the engine's rounded to float32.

    Introduced in chapter 1, :ref:`§All 2^20 subnetworks <node-removal-exact>`.
    """
    target = masked_network(model, layers)
    x, y = target.check_points(x, y)
    n_nodes = target.n_nodes
    if n_nodes > MAX_SWEEP_NODES:
        raise ValueError(f"model must have at most {MAX_SWEEP_NODES} masked nodes for a full "
                         f"sweep, got {n_nodes} (layers {list(target.layers)})")
    if workers is None:
        workers = min(os.cpu_count() or 1, 4)
    workers = check_int("workers", workers, low=1)
    block = check_int("block", block, low=1)
    if not isinstance(node_means, (bool, np.bool_)):
        raise TypeError(f"node_means must be a bool, got {describe(node_means)}")
    engine = check_choice("engine", engine, SWEEP_ENGINES)
    if engine == "numba" and target.fast and not _fused.available():
        raise ValueError("engine 'numba' needs numba, which cannot be imported here; "
                         "install toyviz[fast], or pass engine='numpy' or 'auto'")
    if project is not None:
        project = check_array("project", project, ndim=2, shape=(n_nodes, None),
                              dtype=np.float64)
        if project.shape[1] < 1:
            raise ValueError(f"project must have at least one column, got {describe(project)}")
    k_out = n_nodes if project is None else project.shape[1]
    check_size("model", f"{n_nodes} masked nodes", 2**n_nodes * (8 + 4 * k_out))
    losses = np.empty(2**n_nodes)
    gradients = np.empty((2**n_nodes, k_out), dtype=np.float32)
    if target.fast:
        a, c = _contributions(target, x, y)
        if engine == "auto":
            engine = _calibration.sweep_engine(a, c, project, node_means, workers, block,
                                               _sweep_split)
        node_sums = _sweep_split(a, c, losses, gradients, project, workers, block, progress,
                                 node_means, fused=engine == "numba")
    else:
        node_sums = _sweep_chunks(target, x, y, losses, gradients, project, workers, block,
                                  progress, node_means)
    if node_means:
        return losses, gradients, node_sums / 2**n_nodes
    return losses, gradients


def _sweep_chunks(target, x, y, losses, gradients, project, workers, block, progress,
                  node_means):
    """The general sweep: consecutive mask indices in chunks, each chunk's masks through
    :func:`_batch_engine` at once, written into ``losses`` and ``gradients`` (projected by
    ``project`` unless it is None). Returns the sum over all masks of each node's
    gradient, (n_nodes,), summed chunk by chunk in index order, or None."""
    n_nodes, n_points = target.n_nodes, len(x)
    chunk = _chunk_size(target, n_points, block)
    starts = range(0, 2**n_nodes, chunk)
    chunk_sums = np.zeros((len(starts), n_nodes)) if node_means else None
    engine = _batch_engine(target, x, y)

    def run(number):
        start = starts[number]
        rows = slice(start, min(start + chunk, 2**n_nodes))
        masks = masks_from_indices(np.arange(rows.start, rows.stop), n_nodes)
        point_loss, gradient = engine(masks.astype(np.float64))
        losses[rows] = point_loss.sum(axis=1) / n_points
        gradient /= n_points
        gradients[rows] = gradient if project is None else gradient @ project
        if node_means:
            chunk_sums[number] = gradient.sum(axis=0)
        return rows.stop - rows.start

    with threadpool_limits(limits=1, user_api="blas"), \
            progress_bar(2**n_nodes, progress, "all masks") as bar, \
            ThreadPoolExecutor(max_workers=workers) as pool:
        for done in pool.map(run, range(len(starts))):
            bar.update(done)
    return chunk_sums.sum(axis=0) if node_means else None


def _sweep_split(a, c, losses, gradients, project, workers, block, progress, node_means,
                 fused=True, sample=None):
    """Chapter 1's sweep with the split tables (see :func:`sweep_all_masks`), from the
    signed contributions ``a: (n_points,)``, ``c: (n_points, n_nodes)``, written into
    ``losses`` and ``gradients``. Returns the sum over all masks of each node's gradient,
    (n_nodes,), summed in a fixed order, or None.

    With numba, the fused kernel of :mod:`toyviz._fused` does the work in one pass per
    block of masks (``block`` does not apply) unless ``fused`` is False; without it,
    numpy does, as below. ``sample=(high, low)`` computes only the masks ``j * 2**n_low +
    k`` with ``j < high`` and ``k < low``, into rows ``j * low + k`` (what
    :mod:`toyviz._calibration` times; the tables are the whole sweep's, see
    :class:`toyviz._split.SplitTables`)."""

    if fused and _fused.available():
        with progress_bar(1, progress, "all masks") as bar:
            node_sums = _fused.sweep(a, c, losses, gradients, project, node_means, workers,
                                     sample)
            bar.update(1)
        return node_sums
    n_nodes, n_points = c.shape[1], len(a)
    if project is None:
        project = np.eye(n_nodes)
    tables = SplitTables(a, c, n_nodes // 2, None if sample is None else sample[1])
    n_k, n_split = len(tables.Y), len(tables.split)
    n_j = 2**tables.n_high if sample is None else sample[0]
    X, offset = tables.high(np.arange(n_j))
    Y, c_nodes = tables.Y, tables.c_split                           # (n_split, n_nodes)
    c_split = np.ascontiguousarray(c_nodes @ project, np.float32)   # (n_split, k)
    ones = np.ones(n_split, dtype=np.float32)
    column_sums = c_nodes.sum(axis=0) @ project                     # (k,) float64
    k_out = project.shape[1]

    buffers = threading.local()     # per thread, allocated once: no page faults per block
    group = 8                       # high halves per task, sharing each block of Y in cache
    # Per task, the sum over its masks of every node's gradient (in a fixed order below).
    task_node_sums = np.zeros((-(-n_j // group), n_nodes))
    node_column_sums = n_k * c_nodes.sum(axis=0)   # the first term, for every high half j

    def run(first):
        js = range(first, min(first + group, n_j))
        if not hasattr(buffers, "total"):
            buffers.total = np.empty((min(block, n_k), n_split), dtype=np.float32)
            buffers.work = np.empty_like(buffers.total)
            buffers.scaled = np.empty((group, n_split, k_out), dtype=np.float32)
            buffers.reciprocal_sums = np.empty((group, n_split))
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
            if len(tables.direct):
                extra_loss, extra_grad = tables.direct_sums(j)
                out_loss += extra_loss
                out_grad += ((extra_grad @ project) / n_points).astype(np.float32)
                if node_means:
                    node_sums += extra_grad.sum(axis=0) / n_points
            out_loss /= n_points
        return len(js)

    with threadpool_limits(limits=1, user_api="blas"), \
            progress_bar(n_j, progress, "all masks") as bar, \
            ThreadPoolExecutor(max_workers=workers) as pool:
        for done in pool.map(run, range(0, n_j, group)):
            bar.update(done)
    return task_node_sums.sum(axis=0) if node_means else None
