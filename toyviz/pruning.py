"""Node deletion with bias compensation, and the criteria that choose which nodes go.

The third essay ("Train first VS prune first in neural networks") writes one layer as
``y_j = f(sum_i x_i w_ij + b_j)``. Deleting the nodes ``i`` not in the kept set ``I``
removes row ``i`` of the next layer's kernel; *compensating* also folds their mean
activation on the data into the next layer's bias:

    b~_j = b_j + sum_{i not in I} mean(x_i) w_ij

so a node whose activation is constant can be removed without changing anything. The
pruned network is exactly the original one with each removed node's activation replaced
by that mean (all means are taken in the original network, on the same data).

A Keras model is read with :func:`toyviz.network.read` and must be a chain of Dense
layers (activations as layers or as ``activation=``, Dropout allowed); :func:`prune`
rebuilds it with only the pruned layers' widths changed. A :mod:`toyviz.network.stack`
stack is pruned network by network with :func:`prune_stack`, keeping its activations. The
weight surgery itself (deletion with compensation) lives in
:mod:`toyviz.network.surgery`; this module chooses the nodes and works on Keras models.

Introduced in chapter 3, :ref:`§What pruning means <what-pruning-means>`.
"""

import copy
import warnings

import numpy as np
import pandas as pd

from toyviz import intervals, network
from toyviz._checks import (check_array, check_choice, check_flag, check_float, check_int,
                            check_labels, check_ordered, check_rng, describe)
from toyviz.network import surgery
from toyviz.network.stack import Stack, check_stack, take
# moved to toyviz.network.surgery, re-exported here as the same objects
from toyviz.network.surgery import delete_nodes as prune_weights  # noqa: F401
from toyviz.network.surgery import embed  # noqa: F401

#: Node-importance criteria, higher score = more worth keeping.
#: ``random``: uniform random scores. ``std``: standard deviation of the node's
#: activation on the data (the essay's). ``weight``: Euclidean norm of the node's outgoing
#: weights. ``variance_weight``: variance of the activation times the squared norm of
#: the outgoing weights, which is the mean squared change that replacing the node by its
#: mean makes to the next layer's pre-activations.
CRITERIA = ("random", "std", "weight", "variance_weight")

#: The names of the evaluation points and labels, for messages.
_EVAL = ("x_eval", "y_eval")

#: What each criterion removes first, in words (for legends and controls).
CRITERION_NAMES = {"random": "random",
                   "std": "smallest activation std (the essay's)",
                   "weight": "smallest outgoing weights",
                   "variance_weight": "smallest variance × squared weight norm"}


def _plain(model):
    """``model`` read as a :class:`toyviz.network.Network`, checked to be a plain chain of
    Dense layers (each followed by at most one activation), as pruning needs."""
    net = network.read(model)
    if net.masked:
        raise ValueError(f"model multiplies layers {list(net.masked)} by mask inputs; "
                         "pruning works on plain networks (toyviz.models.unmasked "
                         "gives the circle model without its mask)")
    net.dense_chain("pruning")
    return net


def _weights(net):
    """The Dense layers of ``net`` as ``[(kernel, bias)]`` float64 pairs."""
    return [(kernel, bias) for kernel, bias, _ in net.dense_chain("pruning")]


def _node_values(net, x):
    """{hidden layer name: (n, width) node outputs} of ``net`` on ``x``, float64."""
    values, _ = net.forward(x)
    return {name: values[end + 1] for name, end in net.node_steps.items()}


def _check_data(net, data, name="data"):
    """``data`` as float64 (n >= 1, n_inputs) points to feed ``net``."""
    data = check_array(name, data, ndim=2, dtype=np.float64, empty=False)
    n_inputs = net.input_shape[0]
    if data.shape[1] != n_inputs:
        raise ValueError(f"{name} must have shape (n >= 1, {n_inputs}) to feed the "
                         f"model's {n_inputs} inputs, got shape {data.shape}")
    return data


def hidden_layer_names(model):
    """Deprecated: ``list(toyviz.network.read(model).hidden_layers)``. Names of the
    layers whose nodes can be pruned: every Dense layer but the last."""
    warnings.warn("toyviz.pruning.hidden_layer_names is deprecated: use "
                  "list(toyviz.network.read(model).hidden_layers)", DeprecationWarning,
                  stacklevel=2)
    return list(_plain(model).hidden_layers)


def activations(model, data):
    """Node outputs (after the activation) of every hidden layer of ``model`` on ``data``,
    by :class:`toyviz.network.Network`'s forward pass, in float64.

    Parameters
    ----------
    model : keras.Model, a chain of Dense layers (activations as layers or as
        ``activation=``, Dropout allowed)
    data : (n, n_inputs) float

    Returns
    -------
    dict layer name -> (n, width) float64
    """
    net = _plain(model)
    return _node_values(net, _check_data(net, data))


def prune(model, keep, data=None, compensate=True):
    """A new, smaller Keras model with the hidden nodes not in ``keep`` deleted.

    With ``compensate=True`` each removed node's mean activation on ``data`` times its
    outgoing weights is added to the next layer's bias (the essay's formula), so the
    result equals the original network with the removed nodes' activations replaced by
    those means. With ``compensate=False`` the nodes are simply deleted.

    The smaller model is the original rebuilt from its ``get_config()`` with fewer units
    in the pruned layers: the same class (Sequential or functional), layer names,
    activation layers or ``activation=`` arguments, Dropout and output activation.

    Parameters
    ----------
    model : keras.Model, a chain of Dense layers (e.g. :func:`toyviz.models.mlp`;
        activations as layers or as ``activation=``, Dropout allowed)
    keep : dict mapping a hidden layer's name (e.g. ``"hidden0"``) or position to a
        non-empty sequence of the node indices to keep; layers not named are kept whole
    data : (n, n_inputs) float, the points the means are taken over; needed when
        ``compensate`` is True
    compensate : bool

    Returns
    -------
    keras.Model of the original's class and structure, float32 weights.
    """
    net = _plain(model)
    compensate = check_flag("compensate", compensate)
    keep = surgery.check_keep(net, keep)
    means = None
    if compensate:
        if data is None:
            raise ValueError("data must be given when compensate is True: the removed "
                             "nodes' means are taken over it")
        hidden = _node_values(net, _check_data(net, data))
        means = [hidden[name].mean(axis=0) for name in net.hidden_layers]
    elif data is not None:
        _check_data(net, data)
    return _rebuild(model, surgery.delete_network_nodes(net, keep, means))


def _rebuild(model, weights):
    """``model`` rebuilt from its config with each Dense layer named in ``weights``
    (name -> (kernel, bias)) resized to and holding those weights."""
    config = copy.deepcopy(model.get_config())
    widths = {name: kernel.shape[1] for name, (kernel, _) in weights.items()}
    biased = {name for name, (_, bias) in weights.items() if np.any(bias != 0)}

    def resize(node):
        if isinstance(node, dict):
            node.pop("build_config", None)   # the old input widths
            layer = node.get("config")
            if node.get("class_name") == "Dense" and isinstance(layer, dict) \
                    and layer.get("name") in widths:
                layer["units"] = int(widths[layer["name"]])
                layer["use_bias"] = layer.get("use_bias", True) or layer["name"] in biased
            for value in node.values():
                resize(value)
        elif isinstance(node, list):
            for value in node:
                resize(value)

    resize(config.get("layers"))
    config["name"] = f"{model.name}_pruned"
    try:
        smaller = type(model).from_config(config)
    except (TypeError, ValueError, KeyError, NotImplementedError) as error:
        raise ValueError(f"model {model.name!r} ({type(model).__name__}) cannot be rebuilt "
                         f"from its get_config() with fewer nodes: {error}") from error
    for name, (kernel, bias) in weights.items():
        layer = smaller.get_layer(name)
        dtype = np.dtype(layer.kernel.dtype)
        layer.set_weights([kernel.astype(dtype), bias.astype(dtype)] if layer.use_bias
                          else [kernel.astype(dtype)])
    return smaller


def replace_by_means(model, keep, data, x):
    """The reference for :func:`prune`: run the *original* network on ``x``, step by step
    (:class:`toyviz.network.Network`'s steps), with every removed node's output
    overwritten by its mean on ``data``. Float64 numpy.

    Returns
    -------
    (n, n_outputs) float64, the model's output (after its output activation).
    """
    net = _plain(model)
    keep = surgery.check_keep(net, keep)
    hidden = _node_values(net, _check_data(net, data))
    names, ends = list(net.hidden_layers), net.node_steps
    replace = {}
    for position, nodes in keep.items():
        name = names[position]
        removed = np.setdiff1d(np.arange(hidden[name].shape[1]), nodes)
        replace[ends[name]] = (removed, hidden[name].mean(axis=0)[removed])
    a = _check_data(net, x, name="x")
    for index, step in enumerate(net.steps):
        a = step.forward(a)
        if index in replace:
            removed, values = replace[index]
            a = a.copy()
            a[:, removed] = values
    return network.apply_output(net.output, a)


def scores(model, criterion, data=None, rng=None):
    """How much each hidden node is worth keeping under ``criterion`` (see
    :data:`CRITERIA`); higher is more important.

    Parameters
    ----------
    model : keras.Model, a chain of Dense layers
    criterion : one of CRITERIA
    data : (n, n_inputs), needed by "std" and "variance_weight"
    rng : numpy.random.Generator, needed by "random"

    Returns
    -------
    dict hidden layer name -> (width,) float64
    """
    check_choice("criterion", criterion, CRITERIA)
    rng = None if rng is None else check_rng("rng", rng)
    net = _plain(model)
    hidden = None
    if data is not None:
        values = _node_values(net, _check_data(net, data))
        hidden = [values[name] for name in net.hidden_layers]
    return dict(zip(net.hidden_layers, _scores(_weights(net), criterion, hidden, rng)))


def _scores(weights, criterion, hidden, rng):
    """Scores from arrays: ``weights`` as in :func:`toyviz.network.surgery.delete_nodes`, ``hidden`` a list of
    (n, width) activations per hidden layer (or None)."""
    n_hidden = len(weights) - 1
    if criterion == "random":
        rng = check_rng("rng", rng)
        return [rng.random(weights[i][1].shape[0]) for i in range(n_hidden)]
    if criterion in ("std", "variance_weight") and hidden is None:
        raise ValueError(f"data must be given for criterion {criterion!r}")
    out = []
    for i in range(n_hidden):
        outgoing = np.sum(np.asarray(weights[i + 1][0], np.float64) ** 2, axis=1)
        if criterion == "std":
            out.append(hidden[i].std(axis=0))
        elif criterion == "weight":
            out.append(np.sqrt(outgoing))
        else:
            out.append(hidden[i].var(axis=0) * outgoing)
    return out


def keep_top(node_scores, fraction):
    """The nodes to keep when pruning ``fraction`` of every layer: in each layer the
    ``width - round(fraction * width)`` highest-scoring nodes (at least one), ties broken
    by the lower index.

    Parameters
    ----------
    node_scores : dict layer -> (width,) scores, as from :func:`scores`
    fraction : float in [0, 1)

    Returns
    -------
    dict layer -> sorted int64 indices, ready for :func:`prune`.
    """
    fraction = check_float("fraction", fraction, low=0, high=1)
    if fraction >= 1:
        raise ValueError(f"fraction must be < 1 (every layer keeps a node), got {fraction}")
    if not isinstance(node_scores, dict):
        raise TypeError(f"node_scores must be a dict of layer -> scores, "
                        f"got {type(node_scores).__name__}")
    keep = {}
    for layer, values in node_scores.items():
        values = check_array(f"node_scores[{layer!r}]", values, ndim=1, dtype=np.float64)
        n_keep = max(1, len(values) - int(round(fraction * len(values))))
        order = np.argsort(-values, kind="stable")
        keep[layer] = np.sort(order[:n_keep])
    return keep


def prune_stack(params, fraction, criterion, data, rng=None, compensate=True,
                keep=None):
    """Prune every network of a :mod:`toyviz.network.stack` stack the same way
    :func:`prune` would, on arrays (fast, for sweeps over seeds).

    Parameters
    ----------
    params : stack of ``k`` networks
    fraction : float in [0, 1), pruned from every hidden layer, or a sequence of them,
        one per hidden layer (0 leaves a layer whole)
    criterion : one of CRITERIA (ignored when ``keep`` is given)
    data : (n, n_inputs) or (k, n, n_inputs), for the means and the data-based criteria
    rng : numpy.random.Generator, for "random"
    compensate : bool
    keep : optional list (one per network) of keep dicts by hidden position, to reuse a
        choice made elsewhere

    Returns
    -------
    (pruned stack, list of keep dicts by hidden position)
    """
    params = check_stack("params", params)
    check_choice("criterion", criterion, CRITERIA)
    compensate = check_flag("compensate", compensate)
    rng = None if rng is None else check_rng("rng", rng)
    k = params[0][0].shape[0]
    fractions = _layer_fractions(fraction, len(params) - 1)
    _, hidden = params.forward(data, name="data")
    if keep is not None and (not isinstance(keep, (list, tuple)) or len(keep) != k):
        raise TypeError(f"keep must be a list of {k} keep dicts (one per network), "
                        f"got {describe(keep)}")
    widths = [bias.shape[1] for _, bias in params[:-1]]
    means, keeps = [], []
    for net in range(k):
        acts = [h[net] for h in hidden]
        if keep is None:
            weights = [(kernel[net].astype(np.float64), bias[net].astype(np.float64))
                       for kernel, bias in params]
            node_scores = _scores(weights, criterion, acts, rng)
            chosen = {position: keep_top({position: values}, share)[position]
                      for position, (values, share) in enumerate(zip(node_scores, fractions))}
        else:
            chosen = surgery.check_positions(f"keep[{net}]", keep[net], widths)
        if compensate:
            means.append([a.mean(axis=0) for a in acts])
        keeps.append(chosen)
    return surgery.delete_stack_nodes(params, keeps, means if compensate else None), keeps


def _sequence(name, values):
    """``values`` as a non-empty list, refusing a str, a non-sequence or an unordered
    collection (a set's order changes from one process to the next)."""
    check_ordered(name, values)
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a sequence, got {describe(values)}")
    values = list(values)
    if not values:
        raise ValueError(f"{name} must hold at least one value, got none")
    return values


def _check_flags(name, values):
    """A sequence of bools, each checked as a flag."""
    return [check_flag(f"{name}[{i}]", value)
            for i, value in enumerate(_sequence(name, values))]


def _layer_fractions(fraction, n_hidden):
    if isinstance(fraction, (str, bytes)) or not hasattr(fraction, "__len__"):
        return [check_float("fraction", fraction, low=0, high=1)] * n_hidden
    if len(fraction) != n_hidden:
        raise ValueError(f"fraction must hold {n_hidden} values, one per hidden layer, "
                         f"got {len(fraction)}")
    return [check_float(f"fraction[{i}]", value, low=0, high=1)
            for i, value in enumerate(fraction)]


def sweep(params, data, x_eval, y_eval, fractions, criteria, rng, compensate=(True, False)):
    """Accuracy right after pruning, for every network of a stack, fraction, criterion
    and compensation setting (no fine-tuning).

    Parameters
    ----------
    params : stack of ``k`` trained networks
    data : (n, n_inputs) or (k, n, n_inputs), the data the means and criteria use
    x_eval, y_eval : (m, n_inputs) / (m,), or per network (k, m, n_inputs) / (k, m)
    fractions : sequence of floats in [0, 1)
    criteria : sequence of names from CRITERIA
    rng : numpy.random.Generator, for "random"
    compensate : sequence of bools

    Returns
    -------
    pandas.DataFrame with columns net, criterion, compensate, fraction, accuracy.
    """
    rng = check_rng("rng", rng)
    compensate = _check_flags("compensate", compensate)
    criteria = [check_choice(f"criteria[{i}]", criterion, CRITERIA)
                for i, criterion in enumerate(_sequence("criteria", criteria))]
    fractions = [check_float(f"fractions[{i}]", fraction, low=0, high=1)
                 for i, fraction in enumerate(_sequence("fractions", fractions))]
    rows = []
    for criterion in criteria:
        for fraction in fractions:
            # One choice of nodes per (criterion, fraction), shared by both settings of
            # compensate, so that the two curves differ only in the bias.
            keep = None
            for comp in compensate:
                pruned, keep = prune_stack(params, fraction, criterion, data, rng,
                                           compensate=comp, keep=keep)
                for net, acc in enumerate(pruned.accuracy(x_eval, y_eval, _EVAL)):
                    rows.append((net, criterion, comp, fraction, acc))
    return pd.DataFrame(rows, columns=["net", "criterion", "compensate", "fraction",
                                       "accuracy"])


def summarize(table, by, value="accuracy", confidence=0.95):
    """Mean of ``value`` per group with a Student-t confidence interval over the rows
    (networks) of each group: ``mean ± t_{(1+c)/2, n-1} * sd / sqrt(n)``
    (:func:`toyviz.intervals.from_summary`).

    A NaN ``value`` counts as not measured (as :func:`toyviz.routes.role_similarity`'s
    ``same_node`` where nodes are not matched): ``n`` counts the measured rows, and a
    group with none gives ``n = 0`` and NaN ``mean``, ``low`` and ``high``. A group with a
    single measured value has no interval and is refused, as is an infinite value.

    Parameters
    ----------
    table : pandas.DataFrame
    by : list of column names to group by
    value : the column to average, numeric
    confidence : float in (0, 1)

    Returns
    -------
    pandas.DataFrame with columns ``*by, n, mean, low, high``.
    """
    confidence = check_float("confidence", confidence, low=0, high=1, low_open=True,
                             high_open=True)
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a pandas.DataFrame, got {describe(table)}")
    by = _sequence("by", by)
    for i, column in enumerate(by):
        if not isinstance(column, str) or column not in table.columns:
            raise ValueError(f"by[{i}] must name a column of table {list(table.columns)}, "
                             f"got {column!r}")
    if not isinstance(value, str) or value not in table.columns:
        raise ValueError(f"value must name a column of table {list(table.columns)}, "
                         f"got {value!r}")
    column = table[value]
    if not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)):
        raise TypeError(f"table and value must give a numeric column, but table[{value!r}] "
                        f"holds {column.dtype}")
    if np.isinf(column.to_numpy(dtype=np.float64)).any():
        raise ValueError(f"table's column value = {value!r} holds inf in "
                         f"{int(np.isinf(column.to_numpy(dtype=np.float64)).sum())} rows; an "
                         "interval needs finite values (NaN counts as not measured)")
    grouped = table.groupby(by, sort=False)[value]
    out = grouped.agg(["count", "mean", "std"]).reset_index()
    single = out[out["count"] == 1]
    if len(single):
        groups = [tuple(row) for row in single[by].itertuples(index=False)]
        raise ValueError(
            f"table must hold at least 2 measured values of value = {value!r} in each group "
            f"of by = {by} for an interval, but {len(groups)} group(s) hold one, e.g. "
            f"{groups[0]}")
    out["low"], out["high"] = intervals.from_summary(out["mean"], out["std"], out["count"],
                                                     confidence)
    return out.rename(columns={"count": "n"}).drop(columns="std")


def budget_table(stacks, x, y, confidence=0.95):
    """Test accuracy of trained stacks, mean and confidence interval over their networks
    (for the equal-budget comparison of chapter 3).

    Parameters
    ----------
    stacks : dict ``(route, criterion) -> stack`` of at least 2 trained networks
    x, y : test data, (m, n_inputs) and (m,)

    Returns
    -------
    pandas.DataFrame indexed by (route, criterion) with columns n, mean, low, high.
    """
    if not isinstance(stacks, dict) or not stacks:
        raise TypeError("stacks must be a non-empty dict (route, criterion) -> stack, "
                        f"got {type(stacks).__name__}")
    frames = []
    for key, stack in stacks.items():
        if not isinstance(key, tuple) or len(key) != 2:
            raise TypeError(f"stacks must have (route, criterion) pairs as keys, got {key!r}")
        stack = check_stack(f"stacks[{key!r}]", stack)
        if stack[0][0].shape[0] < 2:
            raise ValueError(f"stacks[{key!r}] must hold at least 2 networks for an "
                             f"interval, got {stack[0][0].shape[0]}")
        frames.append(pd.DataFrame({"route": key[0], "criterion": key[1],
                                    "accuracy": stack.accuracy(x, y)}))
    return summarize(pd.concat(frames, ignore_index=True), ["route", "criterion"],
                     confidence=confidence).set_index(["route", "criterion"])


def silent_nodes(params, data):
    """The hidden nodes of each network of a stack that are silent on ``data``: a node
    whose output is 0 on every point, such as a ReLU that never fires (so its standard
    deviation and its mean are both 0). Deleting such a node changes nothing, with or
    without compensation.

    Parameters
    ----------
    params : stack of ``k`` networks
    data : (n, n_inputs) or (k, n, n_inputs)

    Returns
    -------
    table : pandas.DataFrame indexed by hidden layer position, with columns width and
        the min, mean and max over the networks of the number of silent nodes
    keeps : list of ``k`` keep dicts (by hidden position) holding every node that is not
        silent (at least one per layer), ready for :func:`prune_stack`
    """
    _, hidden = check_stack("params", params).forward(data, name="data")
    rows, keeps = [], [{} for _ in range(hidden[0].shape[0])]
    for position, h in enumerate(hidden):
        silent = ~h.any(axis=1)  # (k, width)
        counts = silent.sum(axis=1)
        rows.append((position, h.shape[2], counts.min(), counts.mean(), counts.max()))
        for net in range(h.shape[0]):
            alive = np.flatnonzero(~silent[net])
            keeps[net][position] = alive if len(alive) else np.array([0])
    table = pd.DataFrame(rows, columns=["hidden layer", "width", "silent (min)",
                                        "silent (mean)", "silent (max)"])
    return table.set_index("hidden layer"), keeps


def surfaces(params, data, x_eval, y_eval, points, fractions, criteria, rng,
             compensate=(True, False), net=0):
    """What one network looks like pruned every way an explorable offers: its
    probability of class 1 at ``points`` and its accuracy on ``(x_eval, y_eval)`` for
    every criterion, compensation setting and fraction (no fine-tuning).

    Each criterion scores the nodes once (one draw for "random"), so the nodes pruned at
    one fraction are pruned at every larger one too, and a slider over ``fractions``
    removes nodes group by group; both compensation settings delete the same nodes.
    (:func:`sweep` instead draws fresh random scores at every fraction.)

    Introduced in chapter 3, :ref:`§Prune it yourself <pruning-yourself>`.

    Parameters
    ----------
    params : stack of trained networks
    data : (n, n_inputs), the data the means and the data-based criteria use
    x_eval, y_eval : (m, n_inputs) / (m,) test data
    points : (p, n_inputs) where to evaluate the network, e.g. a grid from
        :func:`toyviz.data.grid`
    fractions : sequence of floats in [0, 1), pruned from every hidden layer
    criteria : sequence of names from CRITERIA
    rng : numpy.random.Generator, for "random"
    compensate : sequence of bools
    net : int, which network of the stack

    Returns
    -------
    probability : (len(criteria), len(compensate), len(fractions), p) float64
    accuracy : (len(criteria), len(compensate), len(fractions)) float64
    """
    params = check_stack("params", params)
    net = check_int("net", net, low=0, high=params[0][0].shape[0] - 1)
    single = take(params, [net])
    rng = check_rng("rng", rng)
    fractions = [check_float(f"fractions[{i}]", fraction, low=0, high=1)
                 for i, fraction in enumerate(_sequence("fractions", fractions))]
    criteria = [check_choice(f"criteria[{i}]", criterion, CRITERIA)
                for i, criterion in enumerate(_sequence("criteria", criteria))]
    compensate = _check_flags("compensate", compensate)
    points = check_array("points", points, ndim=2, dtype=np.float64)
    _, hidden = single.forward(data, name="data")
    weights = [(kernel[0].astype(np.float64), bias[0].astype(np.float64))
               for kernel, bias in single]
    shape = (len(criteria), len(compensate), len(fractions))
    probability = np.empty((*shape, len(points)))
    accuracies = np.empty(shape)
    for c, criterion in enumerate(criteria):
        node_scores = dict(enumerate(_scores(weights, criterion, [h[0] for h in hidden], rng)))
        for f, fraction in enumerate(fractions):
            keep = [keep_top(node_scores, fraction)]
            for b, comp in enumerate(compensate):
                pruned, _ = prune_stack(single, fraction, criterion, data,
                                        compensate=comp, keep=keep)
                probability[c, b, f] = pruned.forward(points, name="points")[0][0, :, 1]
                accuracies[c, b, f] = pruned.accuracy(x_eval, y_eval, _EVAL)[0]
    return probability, accuracies


def layer_sweep(params, data, x_eval, y_eval, fractions, layer_sets, criterion="std",
                rng=None):
    """Accuracy right after pruning (compensated, no fine-tuning) when only some hidden
    layers are pruned, for every network of a stack.

    Parameters
    ----------
    params : stack of ``k`` trained networks
    data : (n, n_inputs), the data the means and criteria use
    x_eval, y_eval : evaluation points and labels
    fractions : sequence of floats in [0, 1), the share pruned from each chosen layer
    layer_sets : sequence of tuples of hidden positions (0-based) pruned together
    criterion : one of CRITERIA
    rng : numpy.random.Generator, for "random"

    Returns
    -------
    pandas.DataFrame with columns net, layers (the 1-based positions joined by "+"),
    fraction, accuracy.

    Introduced in chapter 3, :ref:`§Quiet nodes, layer by layer <quiet-layers>`.
    """
    params = check_stack("params", params)
    n_hidden = len(params) - 1
    fractions = [check_float(f"fractions[{i}]", fraction, low=0, high=1)
                 for i, fraction in enumerate(_sequence("fractions", fractions))]
    sets = [[check_int(f"layer_sets[{i}][{j}]", p, low=0, high=n_hidden - 1)
             for j, p in enumerate(_sequence(f"layer_sets[{i}]", chosen))]
            for i, chosen in enumerate(_sequence("layer_sets", layer_sets))]
    rows = []
    for positions in sets:
        label = "+".join(str(p + 1) for p in positions)
        for fraction in fractions:
            shares = [fraction if p in positions else 0.0 for p in range(n_hidden)]
            pruned, _ = prune_stack(params, shares, criterion, data, rng)
            for net, acc in enumerate(pruned.accuracy(x_eval, y_eval, _EVAL)):
                rows.append((net, label, fraction, acc))
    return pd.DataFrame(rows, columns=["net", "layers", "fraction", "accuracy"])


def near_constant_nodes(params, data, relative=0.01):
    """The hidden nodes whose activation on ``data`` is near constant: standard deviation
    at most ``relative`` times the largest standard deviation in their layer (silent
    nodes, which output 0 everywhere, are among them). This is the essay's hypothesis
    made exact: nodes that "aren't doing much".

    Parameters
    ----------
    params : stack of ``k`` networks
    data : (n, n_inputs)
    relative : float in [0, 1)

    Returns
    -------
    counts : pandas.DataFrame, one row per (network, hidden layer), with columns net,
        layer (1-based), width, silent, near_constant
    keeps : list of ``k`` keep dicts (by hidden position) of the nodes that are not near
        constant (at least one per layer), ready for :func:`prune_stack`
    """
    relative = check_float("relative", relative, low=0, high=1)
    _, hidden = check_stack("params", params).forward(data, name="data")
    rows, keeps = [], [{} for _ in range(hidden[0].shape[0])]
    for position, h in enumerate(hidden):
        spread = h.std(axis=1)  # (k, width)
        quiet = spread <= relative * spread.max(axis=1, keepdims=True)
        silent = ~h.any(axis=1)
        for net in range(h.shape[0]):
            rows.append((net, position + 1, h.shape[2], int(silent[net].sum()),
                         int(quiet[net].sum())))
            alive = np.flatnonzero(~quiet[net])
            keeps[net][position] = alive if len(alive) else np.array([0])
    return pd.DataFrame(rows, columns=["net", "layer", "width", "silent",
                                       "near_constant"]), keeps


def perturb_nodes(params, nodes, x, y, rng, scale=0.1, n_draws=200):
    """How much small random changes of some hidden nodes' weights lower the training
    loss, per network of a stack and per draw.

    Each draw adds Gaussian noise to the chosen nodes' incoming weights and biases, with a
    standard deviation of ``scale`` times the root mean square of the incoming kernel, and
    to their outgoing weights, with ``scale`` times that of the outgoing kernel; everything
    else stays as it is. The loss is the mean cross-entropy on ``(x, y)``.

    Parameters
    ----------
    params : stack of ``k`` networks
    nodes : list of ``k`` dicts, hidden position -> index array of the nodes to change
        (an empty array, or a missing position, changes none in that layer)
    x, y : (n, n_inputs) points and their (n,) int labels
    rng : numpy.random.Generator
    scale : float > 0, the size of the changes relative to the kernels' weights
    n_draws : int >= 1

    Returns
    -------
    (k, n_draws) float64: the loss's relative decrease, ``(L - L_draw) / L``, with ``L`` the
    unchanged network's loss; positive when a draw lowers the loss. A network with no node
    to change gets 0 for every draw.

    Introduced in chapter 3, :ref:`§Quiet nodes, layer by layer <quiet-layers>`.
    """
    params = check_stack("params", params)
    k, n_hidden = params[0][0].shape[0], len(params) - 1
    widths = [bias.shape[1] for _, bias in params[:-1]]
    if isinstance(nodes, (str, bytes, dict)) or not isinstance(nodes, (list, tuple)) \
            or len(nodes) != k:
        raise TypeError(f"nodes must be a list of {k} dicts (one per network), "
                        f"got {describe(nodes)}")
    chosen = []
    for net, by_position in enumerate(nodes):
        if not isinstance(by_position, dict):
            raise TypeError(f"nodes[{net}] must be a dict hidden position -> node indices, "
                            f"got {describe(by_position)}")
        for position in by_position:
            check_int(f"nodes[{net}] key", position, low=0, high=n_hidden - 1)
        chosen.append({position: _some_nodes(f"nodes[{net}][{position}]",
                                             by_position.get(position, ()), widths[position])
                       for position in range(n_hidden)})
    rng = check_rng("rng", rng)
    scale = check_float("scale", scale, low=0, low_open=True, high=1e3)
    n_draws = check_int("n_draws", n_draws, low=1, high=10**6)
    probabilities, _ = params.forward(x)
    y = check_labels("y", y, *probabilities.shape[1:], integer_dtype=True,
                     k=len(probabilities))
    before = _cross_entropy(probabilities, y)  # (k,)
    gains = np.zeros((k, n_draws))
    chunk = max(1, min(n_draws, 2**22 // max(1, len(y) * max(widths))))
    for net in range(k):
        if not any(len(index) for index in chosen[net].values()):
            continue
        for start in range(0, n_draws, chunk):
            draws = min(chunk, n_draws - start)
            copies = [(np.repeat(kernel[net][None].astype(np.float64), draws, axis=0),
                       np.repeat(bias[net][None].astype(np.float64), draws, axis=0))
                      for kernel, bias in params]
            for position, index in chosen[net].items():
                if not len(index):
                    continue
                kernel_in, bias_in = copies[position]
                kernel_out = copies[position + 1][0]
                size_in = scale * np.sqrt(np.mean(params[position][0][net] ** 2.0))
                size_out = scale * np.sqrt(np.mean(params[position + 1][0][net] ** 2.0))
                kernel_in[:, :, index] += rng.normal(0, size_in, (draws, kernel_in.shape[1],
                                                                  len(index)))
                bias_in[:, index] += rng.normal(0, size_in, (draws, len(index)))
                kernel_out[:, index, :] += rng.normal(0, size_out, (draws, len(index),
                                                                    kernel_out.shape[2]))
            # the forward pass a few draws at a time: its activations, not the noise, are
            # what takes memory (the draws above are the same whatever this step)
            for low in range(0, draws, _FORWARD_DRAWS):
                part = [(kernel[low:low + _FORWARD_DRAWS], bias[low:low + _FORWARD_DRAWS])
                        for kernel, bias in copies]
                changed, _ = Stack(part, params.activations).forward(x)
                after = _cross_entropy(changed, np.broadcast_to(
                    y[net], (len(part[0][0]), len(y[net]))))
                gains[net, start + low:start + low + len(after)] = \
                    (before[net] - after) / before[net]
    return gains


#: How many perturbed copies :func:`perturb_nodes` runs forward at once (memory: their
#: activations over the whole training set).
_FORWARD_DRAWS = 8


def _some_nodes(name, nodes, width):
    """:func:`toyviz.network.surgery.check_nodes`, allowing an empty selection."""
    if not isinstance(nodes, (str, bytes)) and np.size(nodes) == 0 \
            and np.ndim(nodes) == 1:
        return np.zeros(0, np.int64)
    return surgery.check_nodes(name, nodes, width)


def _cross_entropy(probabilities, y):
    """Mean cross-entropy of each network, (k,), from (k, n, classes) probabilities."""
    picked = np.take_along_axis(probabilities, y[..., None], axis=-1)[..., 0]
    return -np.log(np.maximum(picked, np.finfo(np.float64).tiny)).mean(axis=1)


def perturbation_test(params, x, y, rng, relative=0.01, scale=0.1, n_draws=200,
                      helped=0.001):
    """Can a small change make a network's near-constant nodes helpful? Small random
    changes (:func:`perturb_nodes`) of every near-constant node of each network
    (:func:`near_constant_nodes`), and, as a control, of as many nodes drawn at random
    from the other nodes of the same layers.

    Parameters
    ----------
    params : stack of ``k`` trained networks
    x, y : the training points and labels
    rng : numpy.random.Generator
    relative : float in [0, 1), as in :func:`near_constant_nodes`
    scale, n_draws : as in :func:`perturb_nodes`
    helped : float >= 0, a draw "helps" when it lowers the training loss by more than this
        share of it

    Returns
    -------
    pandas.DataFrame, one row per network, with columns net, nodes (near-constant nodes
    changed), and for the near-constant nodes (``quiet_``) and the control (``control_``):
    ``best``, the largest relative decrease of the loss over the draws, and ``helped``, the
    share of draws that lower it by more than ``helped``. A network without near-constant
    nodes has NaN in them.

    Introduced in chapter 3, :ref:`§Quiet nodes, layer by layer <quiet-layers>`.
    """
    params = check_stack("params", params)
    probabilities, _ = params.forward(x, name="x")  # x and y checked first
    check_labels("y", y, *probabilities.shape[1:], integer_dtype=True, k=len(probabilities))
    rng = check_rng("rng", rng)
    helped = check_float("helped", helped, low=0, high=1)
    counts, keeps = near_constant_nodes(params, x, relative)
    widths = [bias.shape[1] for _, bias in params[:-1]]
    quiet, control = [], []
    for net, keep in enumerate(keeps):
        counted = counts[counts["net"] == net].set_index("layer")["near_constant"]
        quiet.append({}), control.append({})
        for position, width in enumerate(widths):
            if counted.loc[position + 1] == 0:
                continue
            others = np.asarray(keep[position])
            quiet_nodes = np.setdiff1d(np.arange(width), others)
            quiet[net][position] = quiet_nodes
            control[net][position] = np.sort(rng.choice(
                others, size=min(len(quiet_nodes), len(others)), replace=False))
    rows = {"net": np.arange(len(keeps)),
            "nodes": [sum(len(index) for index in q.values()) for q in quiet]}
    for name, chosen in (("quiet", quiet), ("control", control)):
        gains = perturb_nodes(params, chosen, x, y, rng, scale=scale, n_draws=n_draws)
        rows[f"{name}_best"] = gains.max(axis=1)
        rows[f"{name}_helped"] = (gains > helped).mean(axis=1)
    table = pd.DataFrame(rows)
    table.loc[table["nodes"] == 0, ["quiet_best", "quiet_helped", "control_best",
                                    "control_helped"]] = np.nan
    return table
