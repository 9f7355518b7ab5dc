"""Node surgery: deleting hidden nodes of a dense network, with mean compensation.

One layer is ``y_j = f(sum_i x_i w_ij + b_j)``. Deleting the nodes ``i`` not in the kept
set ``I`` removes row ``i`` of the next layer's kernel; *compensating* also folds their
mean activation into the next layer's bias:

    b~_j = b_j + sum_{i not in I} mean(x_i) w_ij

so a node whose activation is constant can be removed without changing anything, and the
smaller network is exactly the original one with each removed node's activation replaced
by that mean. The surgery works on a chain of ``(kernel, bias)`` pairs
(:func:`delete_nodes`), on a :class:`toyviz.network.Network` that is a chain of Dense
layers (:func:`delete_network_nodes`) and on every network of a stack
(:func:`delete_stack_nodes`); which nodes to delete and over which data the means are
taken is :mod:`toyviz.pruning`'s business.

Introduced in chapter 3, :ref:`§What pruning means <what-pruning-means>`.
"""

import numpy as np

from toyviz._checks import describe, check_array, check_flag, check_int
from toyviz.network.core import Network
from toyviz.network.stack import Stack, check_stack
from toyviz.network.steps import Dense


def check_nodes(name, nodes, width, sort=True):
    """Return a non-empty, repeat-free 1-d selection of node indices in [0, width) as
    int64, sorted unless ``sort`` is False. ``name`` is the caller's parameter, for the
    messages."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str (the parameter's name), got {describe(name)}")
    width = check_int("width", width, low=0)
    sort = check_flag("sort", sort)
    if isinstance(nodes, (str, bytes)):
        raise TypeError(f"{name} must be a 1-d sequence of int node indices, "
                        f"got {describe(nodes)}")
    array = np.asarray(nodes)
    if array.ndim != 1 or array.dtype == bool or (
            array.size and not np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"{name} must be a 1-d sequence of int node indices, "
                        f"got {array.dtype} array of shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: a layer must keep at least one node")
    if array.min() < 0 or array.max() >= width:
        raise ValueError(f"{name} must hold node indices in [0, {width}), got "
                         f"values from {array.min()} to {array.max()}")
    if len(np.unique(array)) != len(array):
        raise ValueError(f"{name} holds repeated node indices")
    array = array.astype(np.int64)
    return np.sort(array) if sort else array


def check_positions(name, keep, widths):
    """Return ``keep``, a dict hidden layer position -> node indices to keep, checked
    against the hidden layer ``widths`` (node indices sorted, as int64). ``name`` is the
    caller's parameter, for the messages."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str (the parameter's name), got {describe(name)}")
    if isinstance(widths, (str, bytes)) or not isinstance(widths, (list, tuple)) \
            or not widths:
        raise TypeError(f"widths must be a non-empty list of hidden layer widths, got "
                        f"{describe(widths)}")
    widths = [check_int(f"widths[{i}]", width, low=1) for i, width in enumerate(widths)]
    return _positions(name, keep, widths)


def _positions(name, keep, widths):
    """:func:`check_positions` for ``widths`` known to be valid (maybe none)."""
    if not isinstance(keep, dict):
        raise TypeError(f"{name} must be a dict of hidden layer position -> node indices, "
                        f"got {describe(keep)}")
    out = {}
    for position, nodes in keep.items():
        position = check_int(f"{name} keys", position, low=0, high=len(widths) - 1)
        out[position] = check_nodes(f"{name}[{position}]", nodes, widths[position])
    return out


def check_keep(net, keep, name="keep"):
    """Return ``keep``, a dict mapping hidden layers of ``net`` (a
    :class:`toyviz.network.Network`) by name or position to the node indices to keep, as
    {hidden layer position: sorted int64 indices}, checked. ``name`` is the caller's
    parameter, for the messages."""
    if not isinstance(net, Network):
        raise TypeError(f"net must be a toyviz.network.Network, got {describe(net)}")
    if not isinstance(name, str):
        raise TypeError(f"name must be a str (the parameter's name), got {describe(name)}")
    hidden = list(net.hidden_layers)
    if not isinstance(keep, dict):
        raise TypeError(f"{name} must be a dict mapping hidden layer names (or positions) "
                        f"to the node indices to keep, got {type(keep).__name__}")
    out = {}
    for key, nodes in keep.items():
        if isinstance(key, str):
            if key not in hidden:
                where = "the output layer" if key == net.steps[-1].name else "not a layer"
                raise ValueError(f"{name} names layer {key!r}, which is {where}; prunable "
                                 f"(hidden) layers are {hidden}")
            position = hidden.index(key)
        elif isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
            if not 0 <= key < len(hidden):
                raise ValueError(f"{name} names hidden layer position {key}, but the model "
                                 f"has {len(hidden)} hidden layers {hidden}")
            position = int(key)
        else:
            raise TypeError(f"{name} keys must be hidden layer names or positions, "
                            f"got {type(key).__name__} {key!r}")
        if position in out:
            raise ValueError(f"{name} names layer {hidden[position]!r} twice")
        out[position] = check_nodes(f"{name}[{key!r}]", nodes,
                                    net.hidden_layers[hidden[position]])
    return out


def delete_nodes(weights, keep, means=None):
    """Delete hidden nodes from a chain of dense layers given as arrays.

    Parameters
    ----------
    weights : list of ``(kernel (in, out), bias (out,))`` float arrays, one per layer
    keep : dict hidden-layer position -> sorted int array of the nodes to keep; layers
        not named keep every node
    means : None for plain deletion, or a list with one ``(width,)`` array per hidden
        layer: the mean activation of each node, folded into the next layer's bias.

    Returns
    -------
    list of ``(kernel, bias)``, smaller.
    """
    weights = _check_weights(weights)
    n_hidden = len(weights) - 1
    widths = [bias.shape[0] for _, bias in weights[:-1]]
    keep = _positions("keep", keep, widths)
    if means is not None:
        if isinstance(means, (str, bytes)) or not isinstance(means, (list, tuple)) \
                or len(means) != n_hidden:
            raise TypeError(f"means must be None or a list of {n_hidden} arrays, one per "
                            f"hidden layer, got {describe(means)}")
        means = [check_array(f"means[{i}]", mean, shape=(width,), dtype=np.float64)
                 for i, (mean, width) in enumerate(zip(means, widths))]
    kept = [keep.get(i, np.arange(widths[i])) for i in range(n_hidden)]
    out = []
    for layer, (kernel, bias) in enumerate(weights):
        kernel, bias = np.array(kernel), np.array(bias)
        if layer > 0:
            rows = kept[layer - 1]
            if means is not None:
                removed = np.setdiff1d(np.arange(kernel.shape[0]), rows)
                bias = bias + means[layer - 1][removed] @ kernel[removed]
            kernel = kernel[rows]
        if layer < n_hidden:
            kernel, bias = kernel[:, kept[layer]], bias[kept[layer]]
        out.append((kernel, bias))
    return out


def _check_weights(weights):
    """A chain of ``(kernel (in, out), bias (out,))`` float64 pairs, checked."""
    if isinstance(weights, (str, bytes, dict)) or not isinstance(weights, (list, tuple)) \
            or not weights:
        raise TypeError(f"weights must be a non-empty list of (kernel, bias) pairs, "
                        f"got {describe(weights)}")
    out = []
    for i, pair in enumerate(weights):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise TypeError(f"weights[{i}] must be a (kernel, bias) pair, got {describe(pair)}")
        kernel = check_array(f"weights[{i}][0]", pair[0], ndim=2, dtype=np.float64)
        if out and kernel.shape[0] != out[-1][0].shape[1]:
            raise ValueError(f"weights[{i}][0] must have {out[-1][0].shape[1]} rows to follow "
                             f"the layer before, got shape {kernel.shape}")
        bias = check_array(f"weights[{i}][1]", pair[1], shape=(kernel.shape[1],),
                           dtype=np.float64)
        out.append((kernel, bias))
    return out


def delete_network_nodes(net, keep, means=None):
    """``net`` (a :class:`toyviz.network.Network` that is a chain of Dense layers, each
    followed by at most one activation) with the hidden nodes not in ``keep`` deleted
    (:func:`delete_nodes` on its :meth:`~toyviz.network.Network.dense_chain`).

    Parameters
    ----------
    net : toyviz.network.Network
    keep : dict hidden layer name or position -> node indices to keep (:func:`check_keep`)
    means : None, or one ``(width,)`` array per hidden layer: each node's mean output,
        folded into the next layer's bias

    Returns
    -------
    dict Dense layer name -> ``(kernel, bias)`` float64, in order: the smaller weights,
    ready to be written into a rebuilt model.
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a toyviz.network.Network, got {describe(net)}")
    chain = net.dense_chain("node deletion")
    keep = check_keep(net, keep)
    names = [step.name for step in net.steps if isinstance(step, Dense)]
    pruned = delete_nodes([(kernel, bias) for kernel, bias, _ in chain], keep, means)
    return dict(zip(names, pruned))


def delete_stack_nodes(params, keeps, means=None):
    """Every network of a stack with the hidden nodes not in its keep dict deleted: one
    :func:`delete_nodes` per network, in float64, the result back in float32.

    Parameters
    ----------
    params : a stack of ``k`` networks (:mod:`toyviz.network.stack`)
    keeps : list of ``k`` keep dicts, hidden layer position -> node indices to keep;
        every network must keep as many nodes in each layer
    means : None, or a list of ``k`` lists, one ``(width,)`` array per hidden layer: each
        network's mean node outputs, folded into the next layer's bias

    Returns
    -------
    :class:`toyviz.network.stack.Stack` with the activations of ``params``.
    """
    params = check_stack("params", params)
    k = params[0][0].shape[0]
    if not isinstance(keeps, (list, tuple)) or len(keeps) != k:
        raise TypeError(f"keeps must be a list of {k} keep dicts (one per network), "
                        f"got {describe(keeps)}")
    if means is not None and (not isinstance(means, (list, tuple)) or len(means) != k):
        raise TypeError(f"means must be None or a list of {k} lists of means (one per "
                        f"network), got {describe(means)}")
    nets = []
    for net in range(k):
        weights = [(kernel[net].astype(np.float64), bias[net].astype(np.float64))
                   for kernel, bias in params]
        nets.append(delete_nodes(weights, keeps[net], None if means is None else means[net]))
    for net, pruned in enumerate(nets[1:], start=1):
        if [kernel.shape for kernel, _ in pruned] != [kernel.shape for kernel, _ in nets[0]]:
            raise ValueError(f"keeps[{net}] keeps layers of widths "
                             f"{[bias.shape[0] for _, bias in pruned[:-1]]}, keeps[0] "
                             f"{[bias.shape[0] for _, bias in nets[0][:-1]]}: the networks "
                             "of a stack have one shape")
    stacked = [(np.stack([n[j][0] for n in nets]).astype(np.float32),
                np.stack([n[j][1] for n in nets]).astype(np.float32))
               for j in range(len(params))]
    return Stack(stacked, params.activations)


def embed(small, full, rows, cols):
    """Put a pruned layer's kernel back into the full-size frame it came from.

    The essay plots "the main 50x50 weight matrixes" of the two routes against each
    other, so its pruned networks must still have held the removed nodes' weights, as
    a masked network does: they never receive a gradient after pruning, so they keep
    whatever value they had when the nodes were switched off.

    Parameters
    ----------
    small : (len(rows), len(cols)) the pruned kernel
    full : (n_in, n_out) the full kernel at the moment of pruning
    rows, cols : int indices of the kept input and output nodes

    Returns
    -------
    (n_in, n_out) float32: ``full`` with ``small`` written into the kept block.
    """
    full = check_array("full", full, ndim=2, empty=False)
    rows = check_nodes("rows", rows, full.shape[0], sort=False)
    cols = check_nodes("cols", cols, full.shape[1], sort=False)
    small = check_array("small", small, shape=(len(rows), len(cols)))
    out = full.copy()
    out[np.ix_(rows, cols)] = small
    return out
