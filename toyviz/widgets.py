"""The book's interactive figures ("explorables"), as anywidgets.

Every explorable keeps its state (weights, mask, data, settings) in synced traits and
leaves the drawing to one shared front-end module, ``toyviz/static/explorable.js``. That
module computes what it shows in the browser, so the same widget works in JupyterLab with
a kernel (changes made with the controls sync back to Python) and on the static site,
where the build embeds the widget state and no kernel exists.

The node-toggle explorable runs the network in the browser as a chain of Dense layers.
The values its numbers are tested against come from :class:`toyviz.network.Network`,
the library's one forward pass (:func:`node_toggle_values`).

Introduced in chapter 1, :ref:`§Toggle the nodes <node-removal-toggle>` (the node-toggle
heatmap).
"""

import base64
import math
import pathlib
import zlib

import anywidget
import numpy as np
import traitlets

from toyviz import plots
from toyviz._checks import (describe, check_array, check_choice, check_extent, check_flag,
                            check_float, check_instance, check_int, check_labels, check_name,
                            check_sequence)
from toyviz.network import OUTPUT_ACTIVATIONS, Dense, Network, read
from toyviz.network.activations import REGISTRY, parse_activation

#: The shared front-end module (an ES module) behind every explorable.
FRONT_END = pathlib.Path(__file__).parent / "static" / "explorable.js"

#: Keras clips probabilities to [EPSILON, 1 - EPSILON] before taking the log.
EPSILON = 1e-7

#: Hidden activations the front end computes, by :attr:`toyviz.network.Nonlinearity.function`
#: name: the registry's (:data:`toyviz.network.activations.REGISTRY`) with ``browser`` set,
#: then their parametric forms (a number stands for a parameter: ``leaky_relu(0.1)``,
#: ``elu(0.5)``, ``relu(negative_slope=0.1, max_value=6.0)``; each number finite). The
#: browser's values match numpy's float64 ones within :data:`BROWSER_TOLERANCE`.
BROWSER_ACTIVATIONS = (*(entry.name for entry in REGISTRY if entry.browser and entry.hidden),
                       *(entry.form for entry in REGISTRY if entry.browser and entry.form))

#: The outputs an explorable draws: those that give probabilities (the loss panel needs
#: them).
PROBABILITY_OUTPUTS = tuple(name for name in OUTPUT_ACTIVATIONS if name != "linear")

#: Largest difference allowed between the browser's and numpy's probabilities and
#: per-point losses (both float64; the two differ only in rounding of tanh, exp, log).
BROWSER_TOLERANCE = 1e-9

#: More labelled points than this hide the heatmap: by default they are drawn on the
#: loss panel only.
CROWDED = 300

#: Background of the loss panel (the points carry the colours), as in the front end.
LOSS_BACKGROUND = "#e6e6e6"

#: The explorable's state travels inside the page: at most this many labelled points
#: and this many weights.
MAX_POINTS = 5000
MAX_WEIGHTS = 20000

#: The longest prompt, start or mark label an explorable shows (one line of its card).
MAX_LINE = 300

#: What each explorable invites the reader to try, when the chapter gives no ``prompt``.
NODE_TOGGLE_PROMPT = ("untick one node, then another, and watch where the probability "
                      "surface moves and which points' losses rise.")
GRID_PROMPT = "change one control at a time and see which panels change, and how."


def _float32_list(array):
    """A 1-D or 2-D ``array`` rounded to float32, as (nested) lists of the shortest
    decimals that read back as the same float32 values (the front end rounds them with
    ``Math.fround``): about half the characters of the float64 digits."""
    array = np.asarray(array, dtype=np.float32)
    flat = np.array([float(str(value)) for value in array.ravel()])
    exact = flat.astype(np.float32) == array.ravel()
    flat[~exact] = array.ravel()[~exact]  # a decimal that would round the other way
    if array.ndim == 1:
        return flat.tolist()
    return flat.reshape(array.shape).tolist()


def check_mask(name, mask, n_nodes):
    """Return ``mask`` as a list of ``n_nodes`` ints, each 0 (node off) or 1 (node on)."""
    check_name(name)
    n_nodes = check_int("n_nodes", n_nodes, low=1, high=MAX_WEIGHTS)
    array = check_array(name, mask, shape=(n_nodes,), dtype=None)
    if not np.all((array == 0) | (array == 1)):
        raise ValueError(f"{name} must hold only 0 and 1, got {array.tolist()}")
    return [int(value) for value in array]


def check_cells(name, cells, side):
    """Return the cells ``cells`` marks, a ``(side, side)`` array of bool or 0/1 (row i
    the i-th y value, as a grid's values), as a list of ``[row, column]`` pairs."""
    check_name(name)
    side = check_int("side", side, low=1, high=1000)
    array = check_array(name, cells, shape=(side, side), dtype=None)
    if not np.all((array == 0) | (array == 1)):
        raise ValueError(f"{name} must hold only 0 and 1 (or bool), got the values "
                         f"{np.unique(array)[:6].tolist()}")
    return np.argwhere(array).tolist()


def _check_cell_pairs(name, pairs, side):
    """``pairs``, a list of ``[row, column]`` pairs of cells of a side x side grid (the
    form :func:`check_cells` returns), without repeats."""
    pairs = check_sequence(name, pairs, "[row, column] pairs", empty=True)
    checked = []
    for k, pair in enumerate(pairs):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, (list, tuple)) \
                or len(pair) != 2:
            raise TypeError(f"{name}[{k}] must be a [row, column] pair, got {describe(pair)}")
        checked.append([check_int(f"{name}[{k}][{a}]", value, low=0, high=side - 1)
                        for a, value in enumerate(pair)])
    if len({tuple(pair) for pair in checked}) != len(checked):
        raise ValueError(f"{name} must not repeat a cell, got {checked!r:.80}")
    return checked


def check_line(name, text):
    """Return ``text``, one line of an explorable's card: a non-empty str of at most
    :data:`MAX_LINE` characters, without line breaks."""
    check_name(name)
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str (one line of text), got {describe(text)}")
    if not text.strip() or len(text) > MAX_LINE or "\n" in text or "\r" in text:
        raise ValueError(f"{name} must be one line of 1 to {MAX_LINE} characters, got "
                         f"{text!r:.80} ({len(text)} characters)")
    return text


def _listed(items):
    """``[0, 3, 5]`` as "0, 3 and 5"."""
    items = [str(item) for item in items]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _check_extent(extent):
    """``extent`` as the list ``[x0, x1, y0, y1]`` of floats with x0 < x1 and y0 < y1."""
    return list(check_extent("extent", extent))


def grid_axes(extent=(-2.0, 2.0, -2.0, 2.0), resolution=200):
    """The grid an explorable draws: ``xs`` and ``ys``, ``resolution`` evenly spaced
    float64 values each, end points included (the front end's ``linspace``).

    Value ``k = i * resolution + j`` of a drawn grid belongs to the point
    ``(xs[j], ys[i])``, so ``values.reshape(resolution, resolution)`` displays with
    ``imshow(origin="lower")``, as for :func:`toyviz.data.grid`.
    """
    x0, x1, y0, y1 = _check_extent(extent)
    resolution = check_int("resolution", resolution, low=2, high=1000)
    return np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)


def browser_activation(function):
    """The activation named ``function`` as the front end reads it, ``{"function": name,
    "parameters": [...]}`` (``"tanh"`` gives ``{"function": "tanh", "parameters": []}``,
    ``"leaky_relu(0.1)"`` gives ``{"function": "leaky_relu", "parameters": [0.1]}``; a
    ``max_value`` of None stays None), parsed by
    :func:`toyviz.network.activations.parse_activation`; None if the browser does not
    compute it (:data:`BROWSER_ACTIVATIONS`)."""
    parsed = parse_activation(function)
    if parsed is None:
        return None
    entry, parameters = parsed
    if not (entry.browser and entry.hidden) or not all(
            value is None or math.isfinite(value) for value in parameters):
        return None
    return {"function": entry.name, "parameters": list(parameters)}


def drawable_network(model, name="model"):
    """``model`` as a :class:`toyviz.network.Network` the node-toggle explorable can
    draw, or an error saying why not.

    Drawable: 2 inputs, a chain of Dense layers with at least one hidden layer, hidden
    activations from :data:`BROWSER_ACTIVATIONS`, and a softmax output over two or more
    classes or a single sigmoid unit (the loss needs probabilities).

    Parameters
    ----------
    model : keras.Model (read with :func:`toyviz.network.read`) or Network
    name : the caller's parameter name, for messages

    Raises ``TypeError`` for anything else and ``ValueError`` naming ``name`` and the
    reason for a network it cannot draw.
    """
    check_name(name)
    if not isinstance(model, Network):
        import keras

        if not isinstance(model, keras.Model):
            raise TypeError(f"{name} must be a keras.Model or a toyviz.network.Network, "
                            f"got {describe(model)}")
        try:
            model = read(model)
        except ValueError as error:
            raise ValueError(f"{name} cannot be read as a network: {error}") from error
    if tuple(model.input_shape) != (2,):
        raise ValueError(f"{name} must take 2 inputs (the explorable draws the plane), "
                         f"got input shape {tuple(model.input_shape)}")
    try:
        chain = model.dense_chain("the node-toggle explorable")
    except ValueError as error:
        raise ValueError(f"{name} cannot be drawn: {error}") from error
    names = [step.name for step in model.steps if isinstance(step, Dense)]
    if len(chain) < 2:
        raise ValueError(f"{name} has no hidden layer (it is a single Dense layer "
                         f"{names[0]!r}), so there are no nodes to toggle")
    if model.output == "linear":
        raise ValueError(f"{name} must end in a softmax or sigmoid (the loss panel needs "
                         "probabilities), got a linear output")
    if model.output == "sigmoid" and model.n_outputs != 1:
        raise ValueError(f"{name} must have a single sigmoid output unit, got "
                         f"{model.n_outputs}")
    if model.output == "softmax" and model.n_outputs < 2:
        raise ValueError(f"{name} must have at least 2 softmax outputs, got 1")
    for layer, (_, _, activation) in zip(names, chain[:-1]):
        if browser_activation(activation) is None:
            raise ValueError(
                f"{name}'s layer {layer!r} uses the activation {activation!r}, which the "
                f"browser does not compute; supported: {', '.join(BROWSER_ACTIVATIONS)}")
    n_weights = sum(kernel.size + bias.size for kernel, bias, _ in chain)
    if n_weights > MAX_WEIGHTS:
        raise ValueError(f"{name} has {n_weights:,} weights; the explorable embeds them in "
                         f"the page and takes at most {MAX_WEIGHTS:,}")
    return model


def toggled_layer(model, layer, name="layer"):
    """The hidden layer whose nodes get toggles: ``layer`` if given (a name from
    ``model.hidden_layers``), else the model's masked layer, else its only hidden layer.
    ``model`` is a :class:`toyviz.network.Network`."""
    check_instance("model", model, Network, "a toyviz.network.Network")
    check_name(name)
    hidden = model.hidden_layers
    if layer is None:
        if len(model.masked) == 1:
            return model.masked[0]
        if len(hidden) == 1:
            return next(iter(hidden))
        raise ValueError(f"{name} must name the hidden layer whose nodes get toggles; the "
                         f"model has hidden layers {hidden} (name: width)"
                         + (f" and masks {list(model.masked)}" if model.masked else ""))
    if not isinstance(layer, str):
        raise TypeError(f"{name} must be a str naming a hidden layer, got {describe(layer)}")
    if layer not in hidden:
        raise ValueError(f"{name} must be one of the hidden layers {list(hidden)}, "
                         f"got {layer!r}")
    return layer


def point_loss(probabilities, labels):
    """Per-point cross-entropy ``-log(clip(p[label], EPSILON, 1 - EPSILON))``, as Keras'
    sparse categorical (or, for two columns from one sigmoid, binary) cross-entropy on
    probabilities computes it.

    Parameters
    ----------
    probabilities : (m, classes) float, rows summing to 1
    labels : (m,) int in [0, classes)

    Returns
    -------
    (m,) float64
    """
    probabilities = check_array("probabilities", probabilities, ndim=2, dtype=np.float64,
                                empty=False)
    if np.any(probabilities < 0) or np.any(probabilities > 1) or not np.allclose(
            probabilities.sum(axis=1), 1.0, rtol=0, atol=1e-6):
        raise ValueError("probabilities must be rows of class probabilities in [0, 1] "
                         "summing to 1 (within 1e-6)")
    labels = check_labels("labels", labels, len(probabilities), probabilities.shape[1])
    picked = probabilities[np.arange(len(labels)), labels]
    return -np.log(np.clip(picked, EPSILON, 1 - EPSILON))


def class_probabilities(network, points, masks=None):
    """:meth:`toyviz.network.Network.predict` with one column per class: a single
    sigmoid unit's ``p`` becomes ``(1 - p, p)``. Returns ``(..., m, classes)`` float64."""
    if not isinstance(network, Network):
        raise TypeError(f"network must be a toyviz.network.Network, got {describe(network)}")
    points = check_array("points", points, shape=(None, *network.input_shape),
                         dtype=np.float64, empty=False)
    predicted = network.predict(points, network.check_masks(masks))
    if network.output == "sigmoid":
        return np.concatenate([1.0 - predicted, predicted], axis=-1)
    return predicted


def state_network(state):
    """The network a node-toggle explorable's ``state`` (a dict, as embedded in a built
    page) runs, with its float32 weights, as a :class:`toyviz.network.Network`."""
    state = _check_state(state)
    try:
        layers = [(check_array(f"state['layers'][{k}]['kernel']", layer["kernel"], ndim=2),
                   check_array(f"state['layers'][{k}]['bias']", layer["bias"], ndim=1),
                   layer["activation"]) for k, layer in enumerate(state["layers"])]
        layers[-1] = (*layers[-1][:2], state["output"])
        return Network.from_dense(layers, [layer["name"] for layer in state["layers"]])
    except (KeyError, IndexError, TypeError) as error:
        raise ValueError(f"state['layers'] must be a list of dicts with name, kernel, bias "
                         f"and activation, as NodeToggleHeatmap makes them: {error!r}") from error


STATE_KEYS = ("layers", "output", "layer", "mask", "points", "labels", "class_names",
              "shown_class", "resolution", "extent")


def _check_state(state):
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict (a NodeToggleHeatmap's get_state()), got "
                        f"{describe(state)}")
    missing = [key for key in STATE_KEYS if key not in state]
    if missing or not isinstance(state["layers"], list) or len(state["layers"]) < 2:
        raise ValueError(f"state must be a NodeToggleHeatmap's state with keys "
                         f"{list(STATE_KEYS)} and at least 2 layers, missing {missing}")
    return state


def node_toggle_values(state, mask=None, shown_class=None):
    """What a :class:`NodeToggleHeatmap` with widget ``state`` draws for ``mask`` and
    ``shown_class`` (default: the state's), computed with :class:`toyviz.network.Network`
    in float64: the values the browser's are tested against.

    Returns
    -------
    dict with ``probability: (r, r)`` P(shown class) over the grid (row i at ``ys[i]``,
    ``imshow(origin="lower")``), ``xs, ys: (r,)``, ``point_probabilities: (m, classes)``
    and ``loss: (m,)`` of the labelled points, and ``mean_loss``, their mean loss.
    """
    network = state_network(state)
    layer = toggled_layer(network, state["layer"], "state['layer']")
    width = network.hidden_layers[layer]
    mask = np.asarray(check_mask("mask", state["mask"] if mask is None else mask, width),
                      dtype=np.float64)
    shown = check_int("shown_class", state["shown_class"] if shown_class is None
                      else shown_class, low=0, high=max(network.n_outputs, 2) - 1)
    xs, ys = grid_axes(state["extent"], state["resolution"])
    gx, gy = np.meshgrid(xs, ys)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    probability = class_probabilities(network, grid, {layer: mask})[:, shown]
    points = check_array("state['points']", np.asarray(state["points"]).reshape(-1, 2),
                         dtype=np.float32).astype(np.float64)
    labels = check_labels("state['labels']", state["labels"], len(points),
                          max(network.n_outputs, 2))
    predicted = class_probabilities(network, points, {layer: mask})
    loss = point_loss(predicted, labels)
    return {"probability": probability.reshape(len(ys), len(xs)), "xs": xs, "ys": ys,
            "point_probabilities": predicted, "loss": loss,
            "mean_loss": float(loss.mean()) if len(loss) else float("nan")}


class _Int(traitlets.Int):
    """An int trait checked as a parameter is (:func:`toyviz._checks.check_int`): a bool or
    a float is refused, a numpy int is an int, and so is a value outside ``[low, high]``,
    by the trait's name."""

    def __init__(self, default_value=0, low=None, high=None, **kwargs):
        super().__init__(default_value, **kwargs)
        self.bounds = (low, high)

    def validate(self, obj, value):
        return check_int(self.name, value, *self.bounds)


class _Float(traitlets.Float):
    """A float trait checked as a parameter is (:func:`toyviz._checks.check_float`): a
    bool, NaN and inf are refused, and so is a value outside its range, by the trait's
    name."""

    def __init__(self, default_value=0.0, low=None, low_open=False, **kwargs):
        super().__init__(default_value, **kwargs)
        self.bounds = {"low": low, "low_open": low_open}

    def validate(self, obj, value):
        return check_float(self.name, value, **self.bounds)


class _Flag(traitlets.Bool):
    """A bool trait checked as a parameter is (:func:`toyviz._checks.check_flag`): 1,
    ``"no"`` and None are refused, a numpy bool is a bool."""

    def validate(self, obj, value):
        return check_flag(self.name, value)


class _Line(traitlets.Unicode):
    """A text trait checked as a parameter is (:func:`check_line`): one line of text, not
    bytes, by the trait's name."""

    def validate(self, obj, value):
        return check_line(self.name, value)


class Explorable(anywidget.AnyWidget):
    """Base of the book's explorables: the shared front end, picked by ``kind``. Each card
    opens with one line: "Try this:" and the ``prompt``, then ``start``, which names the
    state it starts in; ``mark_label`` names what its marks (nodes or cells) stand for."""

    _esm = FRONT_END
    kind = traitlets.Unicode("").tag(sync=True)
    label = traitlets.Unicode("").tag(sync=True)
    prompt = _Line("change a control and watch the panels change.").tag(sync=True)
    start = _Line("It starts as shown.").tag(sync=True)
    mark_label = _Line("marked item").tag(sync=True)


class NodeToggleHeatmap(Explorable):
    """Toggle the nodes of one hidden layer of a 2-input network on and off, and watch two
    panels over ``extent`` change: a heatmap of the probability of a chosen class (a
    select picks it), with the labelled points on top if wanted, and the labelled points coloured
    by their cross-entropy loss, with the mean loss over them underneath. Each panel has
    a viridis colour bar; the target circle of chapter 1 is drawn when asked for.

    The browser runs the network over the grid itself, as a chain of Dense layers with
    the mask on the toggled layer, so the widget needs no kernel once the page is built.
    Its state is the data, not the drawing: ``layers`` (per Dense layer its name, kernel,
    bias and activation name; weights as float32 values), ``output`` (softmax or
    sigmoid), ``layer`` (the toggled layer), ``mask`` (list of 0/1), ``points`` and
    ``labels``, ``class_names``, ``shown_class``, ``resolution``, ``extent``,
    ``loss_max``, ``circle_radius_squared`` and ``show_points``. :meth:`values` computes in Python, with
    :class:`toyviz.network.Network`, what the front end draws; :meth:`draw` draws it
    with matplotlib.

    Introduced in chapter 1, :ref:`§Toggle the nodes <node-removal-toggle>`.

    Parameters
    ----------
    model : keras.Model or toyviz.network.Network with 2 inputs, Dense layers only (any
        depth), hidden activations from :data:`BROWSER_ACTIVATIONS`, a softmax output
        (any number of classes) or one sigmoid unit; see :func:`drawable_network`
    x : (m, 2) float, the points shown (at most :data:`MAX_POINTS`)
    y : (m,) int, their class labels, in [0, classes)
    layer : str, the hidden layer whose nodes get toggles; default the model's masked
        layer if it has one, else its only hidden layer
    resolution : int, 2..1000, grid points per side
    extent : (x0, x1, y0, y1)
    mask : (nodes,) 0/1, default all ones
    loss_max : float > 0, losses at or above it get the top colour
    class_names : list of str, one per class (default "class 0", "class 1", ...)
    shown_class : int, the class whose probability the heatmap shows first (default the
        last class: class 1 of two)
    circle_radius_squared : float or None, draw chapter 1's target circle
        (:data:`toyviz.data.CIRCLE_RADIUS_SQUARED`) on both panels
    show_points : bool or None, draw the labelled points on the heatmap too (a checkbox
        switches them); default: when there are at most :data:`CROWDED` of them, so that
        many points do not hide the surface
    prompt : str or None, one line: what to try ("Try this:" goes before it); default
        :data:`NODE_TOGGLE_PROMPT`
    start : str or None, one line naming the state it starts in; default from ``mask``
        and ``shown_class`` ("It starts with all 20 nodes on, showing P(class 1).")
    marked_nodes : (nodes,) bool or 0/1, or None: nodes to mark (a ◆ after the node's
        toggle, named by a legend line), for example the bias-like nodes of
        :func:`toyviz.masking.node_roles`; default none
    mark_label : str, what a marked node is, for the legend line and screen readers
    """

    layers = traitlets.List().tag(sync=True)
    output = traitlets.Unicode("softmax").tag(sync=True)
    layer = traitlets.Unicode().tag(sync=True)
    mask = traitlets.List().tag(sync=True)
    points = traitlets.List().tag(sync=True)
    labels = traitlets.List().tag(sync=True)
    class_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    shown_class = _Int(1, low=0).tag(sync=True)
    resolution = _Int(200, low=2, high=1000).tag(sync=True)
    extent = traitlets.List([-2.0, 2.0, -2.0, 2.0]).tag(sync=True)
    loss_max = _Float(3.0, low=0, low_open=True).tag(sync=True)
    circle_radius_squared = _Float(None, low=0, low_open=True, allow_none=True).tag(sync=True)
    show_points = _Flag(True).tag(sync=True)
    marked_nodes = traitlets.List().tag(sync=True)

    def __init__(self, model, x, y, layer=None, resolution=200,
                 extent=(-2.0, 2.0, -2.0, 2.0), mask=None, loss_max=3.0, class_names=None,
                 shown_class=None, circle_radius_squared=None, show_points=None,
                 prompt=None, start=None, marked_nodes=None, mark_label="marked node"):
        network = drawable_network(model, "model")
        layer = toggled_layer(network, layer, "layer")
        n_classes = max(network.n_outputs, 2)
        x = check_array("x", x, shape=(None, 2), dtype=np.float32, empty=False)
        if len(x) > MAX_POINTS:
            raise ValueError(f"x must hold at most {MAX_POINTS} points (the page embeds "
                             f"them), got {len(x)}; show a sample")
        y = check_labels("y", y, len(x), n_classes)
        if class_names is None:
            class_names = [f"class {k}" for k in range(n_classes)]
        elif len(check_sequence("class_names", class_names, "str")) != n_classes or \
                not all(isinstance(text, str) and text for text in class_names):
            raise ValueError(f"class_names must be {n_classes} non-empty str (one per class),"
                             f" got {class_names!r:.80}")
        shown_class = n_classes - 1 if shown_class is None else check_int(
            "shown_class", shown_class, low=0, high=n_classes - 1)
        width = network.hidden_layers[layer]
        mask = [1] * width if mask is None else check_mask("mask", mask, width)
        if circle_radius_squared is not None:
            circle_radius_squared = check_float("circle_radius_squared",
                                                circle_radius_squared, low=0, low_open=True)
        show_points = len(x) <= CROWDED if show_points is None else check_flag(
            "show_points", show_points)
        prompt = NODE_TOGGLE_PROMPT if prompt is None else check_line("prompt", prompt)
        if start is None:
            on = [u for u, value in enumerate(mask) if value]
            which = (f"all {width} nodes on" if len(on) == width else
                     f"all {width} nodes off" if not on else
                     f"node{'s' if len(on) > 1 else ''} {_listed(on)} of {width} on")
            start = f"It starts with {which}, showing P({class_names[shown_class]})."
        marked_nodes = [0] * width if marked_nodes is None else check_mask(
            "marked_nodes", marked_nodes, width)
        names = [step.name for step in network.steps if isinstance(step, Dense)]
        chain = network.dense_chain("the node-toggle explorable")
        chain[-1] = (*chain[-1][:2], "linear")  # the output activation is `output`
        # the front end reads each activation parsed, never its name
        layers = [{"name": name, "kernel": _float32_list(kernel),
                   "bias": _float32_list(bias), "activation": activation,
                   **browser_activation(activation)}
                  for name, (kernel, bias, activation) in zip(names, chain)]
        super().__init__(
            kind="node-toggle-heatmap",
            label=f"Switch the nodes of layer {layer} on and off and watch the panels change",
            layers=layers, output=network.output, layer=layer, mask=mask,
            points=_float32_list(x), labels=y.tolist(), class_names=list(class_names),
            shown_class=shown_class,
            resolution=check_int("resolution", resolution, low=2, high=1000),
            extent=_check_extent(extent),
            loss_max=check_float("loss_max", loss_max, low=0, low_open=True),
            circle_radius_squared=circle_radius_squared, show_points=bool(show_points),
            prompt=prompt, start=check_line("start", start), marked_nodes=marked_nodes,
            mark_label=check_line("mark_label", mark_label))

    @traitlets.validate("mask")
    def _valid_mask(self, proposal):
        return check_mask("mask", proposal["value"], self.n_nodes)

    @traitlets.validate("marked_nodes")
    def _valid_marked_nodes(self, proposal):
        return check_mask("marked_nodes", proposal["value"], self.n_nodes)

    @traitlets.validate("shown_class")
    def _valid_shown_class(self, proposal):
        return check_int("shown_class", proposal["value"], low=0,
                         high=len(self.class_names) - 1)

    @traitlets.validate("extent")
    def _valid_extent(self, proposal):
        return _check_extent(proposal["value"])

    @traitlets.validate("points")
    def _valid_points(self, proposal):
        points = check_array("points", proposal["value"], shape=(None, 2), dtype=np.float64)
        if len(points) > MAX_POINTS:
            raise ValueError(f"points must hold at most {MAX_POINTS} points (the page embeds "
                             f"them), got {len(points)}")
        if len(points) != len(self.labels):
            raise ValueError(f"points must hold one point per label ({len(self.labels)}), "
                             f"got {len(points)}; set points and labels together, inside "
                             "hold_trait_notifications()")
        return points.tolist()

    @traitlets.validate("labels")
    def _valid_labels(self, proposal):
        return check_labels("labels", proposal["value"], len(self.points),
                            len(self.class_names)).tolist()

    @traitlets.validate("class_names")
    def _valid_class_names(self, proposal):
        names = proposal["value"]
        n_classes = max(len(self.layers[-1]["bias"]), 2) if self.layers else len(names)
        if len(names) != n_classes or not all(names):
            raise ValueError(f"class_names must be {n_classes} non-empty str (one per class), "
                             f"got {names!r:.80}")
        return names

    @traitlets.validate("layer")
    def _valid_layer(self, proposal):
        hidden = [layer["name"] for layer in self.layers[:-1]]
        if proposal["value"] not in hidden:
            raise ValueError(f"layer must be one of the hidden layers {hidden}, got "
                             f"{proposal['value']!r}")
        return proposal["value"]

    @traitlets.validate("output")
    def _valid_output(self, proposal):
        check_choice("output", proposal["value"], PROBABILITY_OUTPUTS)
        units = len(self.layers[-1]["bias"]) if self.layers else None
        if units is not None and (proposal["value"] == "sigmoid") != (units == 1):
            raise ValueError(f"output must be 'sigmoid' for one output unit and 'softmax' for "
                             f"several; the network has {units}, got {proposal['value']!r}")
        return proposal["value"]

    @property
    def n_nodes(self):
        """Number of nodes of the toggled layer (and of toggles)."""
        return next(len(layer["bias"]) for layer in self.layers if layer["name"] == self.layer)

    def network(self):
        """The network the explorable runs (float32 weights), as a
        :class:`toyviz.network.Network`."""
        return state_network(self.get_state())

    def __repr__(self):
        x0, x1, y0, y1 = (f"{value:g}" for value in self.extent)
        return (f"NodeToggleHeatmap(layer {self.layer!r}: {self.n_nodes} nodes, "
                f"{sum(self.mask)} on; {len(self.labels)} labelled points, "
                f"{len(self.class_names)} classes; P({self.class_names[self.shown_class]}) "
                f"on a {self.resolution} x {self.resolution} grid over "
                f"[{x0}, {x1}] x [{y0}, {y1}])")

    def values(self, mask=None, shown_class=None):
        """:func:`node_toggle_values` for ``mask`` and ``shown_class`` (default: the
        widget's current ones)."""
        return node_toggle_values(self.get_state(), mask, shown_class)

    def draw(self, axes=None):
        """A static picture of what the explorable shows for the current mask and class,
        with matplotlib (for print, or readers without JavaScript).

        Parameters
        ----------
        axes : two matplotlib Axes, or None for a new figure

        Returns
        -------
        The matplotlib Figure.
        """
        if axes is None:
            _, axes = plots.subplots(1, 2, width=3.4, height=3.0)
        values = self.values()
        extent = tuple(self.extent)
        points = np.asarray(self.points, dtype=np.float32).reshape(-1, 2)
        labels = np.asarray(self.labels)
        name = self.class_names[self.shown_class]
        plots.heatmap(axes[0], values["probability"], extent, vmin=0, vmax=1,
                      title=f"P({name})", label="probability")
        if self.show_points:
            plots.training_points(axes[0], points, labels == self.shown_class)
        axes[1].set_facecolor(LOSS_BACKGROUND)
        scatter = axes[1].scatter(points[:, 0], points[:, 1], c=values["loss"], s=8,
                                  cmap=plots.SEQUENTIAL, vmin=0, vmax=self.loss_max,
                                  edgecolors="#1b1b1b", linewidths=0.3)
        axes[1].figure.colorbar(scatter, ax=axes[1], fraction=0.046, pad=0.04).set_label(
            "cross-entropy loss")
        axes[1].set_title("Loss per point")
        axes[1].set_aspect("equal")
        for ax, colour in zip(axes, ("white", "#1b1b1b")):
            if self.circle_radius_squared is not None:
                plots.draw_circle(ax, self.circle_radius_squared, color=colour)
            ax.set_xlim(extent[0], extent[1])
            ax.set_ylim(extent[2], extent[3])
            ax.set_xticks([extent[0], (extent[0] + extent[1]) / 2, extent[1]])
            ax.set_yticks([extent[2], (extent[2] + extent[3]) / 2, extent[3]])
            ax.set_xlabel("$x_0$")
            ax.set_ylabel("$x_1$")
        return axes[0].figure


CONTROL_KINDS = ("select", "slider")


class GridExplorer(Explorable):
    """Grids precomputed in Python for every combination of a few controls' options,
    picked in the browser: a select per choice (a rule, a criterion) or a slider over
    ordered options (a fraction). Every panel redraws at once when an option changes,
    and a status line shows the combination's readout (an accuracy, say).

    The grids travel as 256 colour levels each (uint8) between the panel's ``vmin`` and
    ``vmax``, which is all a colour map can show, zlib-compressed (``compress=True``; the
    browser unpacks them with its ``DecompressionStream``) and base64-encoded: 100 x 100
    grids cost at most about 13 kB per panel and combination in the page, and smooth
    surfaces with large flat regions a quarter of that.

    Introduced in :doc:`chapter 2 </book/relevance>` (rules per layer type -> relevance map) and
    :doc:`chapter 3 </book/pruning>` (fraction pruned and criterion -> decision surface and
    accuracy).

    Parameters
    ----------
    values : float array of shape ``(*option_counts, n_panels, r, r)``; row i of a grid
        is the i-th y value (``imshow(origin="lower")``, as from :func:`toyviz.data.grid`)
    controls : list of dicts ``{"name": str, "label": str, "options": [str, ...],
        "kind": "select" | "slider"}``, one per leading axis of ``values``
    panels : list of dicts ``{"title": str, "colour_label": str}`` plus optionally
        ``"signed": bool`` (diverging vlag, limits symmetric about 0), ``"vmin"``,
        ``"vmax"`` (default: the range over all combinations)
    extent : (x0, x1, y0, y1)
    readouts : list of str, one per combination in row-major order of the controls, or
        None to show the picked options
    selection : list of option indices, default all 0
    circle_radius_squared : float or None, draw chapter 1's target circle
    points : (m, 2) float and labels (m,) int as a pair ``(x, y)``, drawn on every panel
    label : str, the accessible name of the whole explorable
    compress : bool, zlib-compress the grids (``encoding`` "deflate") or not ("uint8")
    prompt : str or None, one line: what to try ("Try this:" goes before it); default
        :data:`GRID_PROMPT`
    start : str or None, one line naming the state it starts in; default from
        ``selection`` ("It starts at rule: LRP-0; fraction: 50%.")
    marked_cells : (r, r) bool or 0/1, or None: grid cells to outline on every panel, in
        the orientation of ``values`` (row i is the i-th y value), for example the marker
        pixels of :doc:`/book/right_reasons`; default none
    mark_label : str, what an outlined cell is, for the legend line and screen readers
    """

    controls = traitlets.List().tag(sync=True)
    selection = traitlets.List().tag(sync=True)
    panels = traitlets.List().tag(sync=True)
    resolution = _Int(2, low=2, high=1000).tag(sync=True)
    extent = traitlets.List().tag(sync=True)
    grids = traitlets.Unicode().tag(sync=True)
    encoding = traitlets.Unicode("uint8").tag(sync=True)
    readouts = traitlets.List(traitlets.Unicode()).tag(sync=True)
    overlay = traitlets.Dict().tag(sync=True)
    marked_cells = traitlets.List().tag(sync=True)

    def __init__(self, values, controls, panels, extent=(-2.0, 2.0, -2.0, 2.0),
                 readouts=None, selection=None, circle_radius_squared=None, points=None,
                 label="Pick options and watch the heatmaps change", compress=True,
                 prompt=None, start=None, marked_cells=None, mark_label="marked cell"):
        if not isinstance(compress, (bool, np.bool_)):
            raise TypeError(f"compress must be a bool, got {type(compress).__name__}")
        controls = _check_controls(controls)
        counts = tuple(len(control["options"]) for control in controls)
        values = check_array("values", values, ndim=len(counts) + 3, dtype=np.float64)
        if values.shape[:len(counts)] != counts:
            raise ValueError(f"values must have shape (*option counts {counts}, n_panels, "
                             f"r, r), got shape {values.shape}")
        n_panels, rows, columns = values.shape[len(counts):]
        if rows != columns or rows < 2:
            raise ValueError(f"values must hold square grids of side >= 2, got {rows} x "
                             f"{columns}")
        panels = _check_panels(panels, n_panels)
        combinations = int(np.prod(counts))
        values = values.reshape(combinations, n_panels, rows, rows)
        specs, levels = [], np.empty(values.shape, dtype=np.uint8)
        for p, panel in enumerate(panels):
            spec, levels[:, p] = _quantise(panel, values[:, p], f"panels[{p}]")
            specs.append(spec)
        if not isinstance(label, str) or not label:
            raise TypeError(f"label must be a non-empty str, got {describe(label)}")
        if readouts is None:
            readouts = []
        elif len(check_sequence("readouts", readouts, "str")) != combinations or not all(
                isinstance(text, str) for text in readouts):
            raise ValueError(f"readouts must be a list of {combinations} str (one per "
                             f"combination) or None, got {readouts!r:.80}")
        selection = [0] * len(controls) if selection is None else _check_selection(
            "selection", selection, counts)
        overlay = {"circle_radius_squared": None if circle_radius_squared is None else
                   check_float("circle_radius_squared", circle_radius_squared, low=0,
                               low_open=True),
                   "points": _check_points(points)}
        prompt = GRID_PROMPT if prompt is None else check_line("prompt", prompt)
        if start is None:
            start = "It starts at " + "; ".join(
                f"{control['label']}: {control['options'][index]}"
                for control, index in zip(controls, selection)) + "."
        marked_cells = [] if marked_cells is None else check_cells("marked_cells",
                                                                   marked_cells, rows)
        packed = zlib.compress(levels.tobytes(), 9) if compress else levels.tobytes()
        super().__init__(
            kind="grid-picker", label=str(label), controls=controls, panels=specs,
            resolution=rows, extent=_check_extent(extent), readouts=list(readouts),
            grids=base64.b64encode(packed).decode("ascii"),
            encoding="deflate" if compress else "uint8", overlay=overlay,
            selection=selection, prompt=prompt, start=check_line("start", start),
            marked_cells=marked_cells, mark_label=check_line("mark_label", mark_label))
        self._made = {"resolution": rows, "n_panels": n_panels, "readouts": len(readouts)}

    @traitlets.validate("marked_cells")
    def _valid_marked_cells(self, proposal):
        return _check_cell_pairs("marked_cells", proposal["value"], self.resolution)

    @traitlets.validate("selection")
    def _valid_selection(self, proposal):
        return _check_selection("selection", proposal["value"],
                                [len(control["options"]) for control in self.controls])

    @traitlets.validate("extent")
    def _valid_extent(self, proposal):
        return _check_extent(proposal["value"])

    def _fixed(self, trait, key, value, what):
        """Refuse a ``trait`` whose ``value`` differs from the one (``key`` of ``_made``)
        the grids were made with, once they are; ``what`` the value is, in words."""
        made = getattr(self, "_made", None)
        if made is not None and value != made[key]:
            raise ValueError(f"{trait} must keep {what} {made[key]}, as the grids were made "
                             f"with, got {value!r:.80}; make a new GridExplorer instead")

    @traitlets.validate("resolution")
    def _valid_resolution(self, proposal):
        self._fixed("resolution", "resolution", proposal["value"], "the side")
        return proposal["value"]

    @traitlets.validate("panels")
    def _valid_panels(self, proposal):
        panels = check_sequence("panels", proposal["value"], "panel dicts")
        self._fixed("panels", "n_panels", len(panels), "the number of panels")
        return [_check_panel_spec(f"panels[{p}]", panel) for p, panel in enumerate(panels)]

    @traitlets.validate("readouts")
    def _valid_readouts(self, proposal):
        readouts = check_sequence("readouts", proposal["value"], "str", empty=True)
        if not all(isinstance(text, str) for text in readouts):
            raise TypeError(f"readouts must be a list of str, got {readouts!r:.80}")
        self._fixed("readouts", "readouts", len(readouts), "the number of readouts")
        return readouts

    @traitlets.validate("overlay")
    def _valid_overlay(self, proposal):
        overlay = proposal["value"]
        if set(overlay) != {"circle_radius_squared", "points"}:
            raise ValueError(f"overlay must be a dict with the keys circle_radius_squared and "
                             f"points, got {overlay!r:.80}")
        radius = overlay["circle_radius_squared"]
        points = check_array("overlay['points']", overlay["points"], dtype=np.float64)
        if points.size and (points.ndim != 2 or points.shape[1] != 3):
            raise ValueError(f"overlay['points'] must be [x0, x1, label] triples, got "
                             f"{describe(points)}")
        return {"circle_radius_squared": None if radius is None else check_float(
            "overlay['circle_radius_squared']", radius, low=0, low_open=True),
            "points": overlay["points"]}

    def grid_values(self, selection=None):
        """The grids drawn for ``selection`` (default: the current one): see
        :func:`decode_grids`. Returns ``(n_panels, r, r)`` float64."""
        return decode_grids(self.get_state(), self.selection if selection is None
                            else selection)

    def __repr__(self):
        options = " x ".join(str(len(control["options"])) for control in self.controls)
        panels = f"{len(self.panels)} panel{'' if len(self.panels) == 1 else 's'}"
        return (f"GridExplorer({panels}, {options} options, "
                f"{self.resolution} x {self.resolution} grids)")


def decode_grids(state, selection):
    """The grids a :class:`GridExplorer` with widget ``state`` (a dict, as embedded in a
    built page) draws for ``selection``, decoded as the browser decodes them: the
    levels unpacked (``encoding`` "deflate": zlib; "uint8" or missing: as they are), then
    ``vmin + level * (vmax - vmin) / 255``. Returns ``(n_panels, r, r)`` float64."""
    if not isinstance(state, dict) or not all(
            key in state for key in ("controls", "panels", "resolution", "grids")):
        raise TypeError("state must be a GridExplorer's state (a dict with controls, panels, "
                        f"resolution and grids), got {describe(state)}")
    try:
        counts = tuple(len(control["options"]) for control in state["controls"])
        panels = [(check_float(f"state['panels'][{p}]['vmin']", panel["vmin"]),
                   check_float(f"state['panels'][{p}]['vmax']", panel["vmax"]))
                  for p, panel in enumerate(state["panels"])]
    except (KeyError, TypeError) as error:
        raise ValueError(f"state['controls'] and state['panels'] must be lists of dicts with "
                         f"options, vmin and vmax, as GridExplorer makes them: {error!r}"
                         ) from error
    selection = _check_selection("selection", selection, counts)
    combination = int(np.ravel_multi_index(tuple(selection), counts))
    r = check_int("state['resolution']", state["resolution"], low=2, high=1000)
    encoding = state.get("encoding", "uint8")
    if encoding not in ("uint8", "deflate"):
        raise ValueError(f"state['encoding'] must be 'uint8' or 'deflate', got {encoding!r}")
    if not isinstance(state["grids"], (str, bytes)):
        raise TypeError(f"state['grids'] must be base64 text, got {describe(state['grids'])}")
    try:
        packed = base64.b64decode(state["grids"], validate=True)
    except ValueError as error:                      # binascii.Error
        raise ValueError(f"state['grids'] is not valid base64 text: {error}") from error
    if encoding == "deflate":
        try:
            packed = zlib.decompress(packed)
        except zlib.error as error:
            raise ValueError(f"state['grids'] is not zlib-compressed data, as encoding "
                             f"'deflate' says (corrupt or cut short?): {error}") from error
    size = int(np.prod(counts)) * len(panels) * r * r
    if len(packed) != size:
        raise ValueError(f"state['grids'] must unpack to {size:,} levels ({int(np.prod(counts))} "
                         f"combinations x {len(panels)} panels x {r} x {r}), got {len(packed):,}")
    levels = np.frombuffer(packed, dtype=np.uint8).reshape(
        -1, len(panels), r, r)[combination]
    return np.stack([vmin + levels[p] * ((vmax - vmin) / 255)
                     for p, (vmin, vmax) in enumerate(panels)])


def _check_selection(name, selection, counts):
    """One option index per control, each below its count: a list of ints."""
    selection = check_sequence(name, selection, "option indices", empty=not counts)
    if len(selection) != len(counts):
        raise ValueError(f"{name} must hold one option index per control ({len(counts)}), "
                         f"got {len(selection)}")
    return [check_int(f"{name}[{c}]", index, low=0, high=count - 1)
            for c, (index, count) in enumerate(zip(selection, counts))]


def _check_controls(controls):
    if isinstance(controls, dict) or not isinstance(controls, (list, tuple)) or not controls:
        raise TypeError(f"controls must be a non-empty list of dicts, got {controls!r:.80}")
    checked = []
    for c, control in enumerate(controls):
        name = f"controls[{c}]"
        if not isinstance(control, dict):
            raise TypeError(f"{name} must be a dict, got {type(control).__name__}")
        options = control.get("options")
        if isinstance(options, (str, bytes)) or not isinstance(options, (list, tuple)) \
                or not options or not all(isinstance(o, str) for o in options):
            raise ValueError(f"{name}['options'] must be a non-empty list of str, "
                             f"got {options!r:.80}")
        kind = control.get("kind", "select")
        if kind not in CONTROL_KINDS:
            raise ValueError(f"{name}['kind'] must be one of {list(CONTROL_KINDS)}, "
                             f"got {kind!r}")
        for key in ("name", "label"):
            if not isinstance(control.get(key), str) or not control[key]:
                raise ValueError(f"{name}['{key}'] must be a non-empty str, "
                                 f"got {control.get(key)!r}")
        checked.append({"name": control["name"], "label": control["label"],
                        "options": list(options), "kind": kind})
    return checked


def _check_panel_spec(name, spec):
    """A panel as the front end draws it (:func:`_quantise`'s spec): titles, colour map
    and a finite colour range with vmin < vmax."""
    if not isinstance(spec, dict) or not all(
            isinstance(spec.get(key), str) for key in ("title", "colour_label", "colour_map")):
        raise ValueError(f"{name} must be a dict with str 'title', 'colour_label' and "
                         f"'colour_map', got {spec!r:.80}")
    vmin = check_float(f"{name}['vmin']", spec.get("vmin"))
    vmax = check_float(f"{name}['vmax']", spec.get("vmax"))
    if vmax <= vmin:
        raise ValueError(f"{name} must have vmin < vmax, got {vmin} and {vmax}")
    return {**spec, "vmin": vmin, "vmax": vmax}


def _check_panels(panels, n_panels):
    if isinstance(panels, dict) or not isinstance(panels, (list, tuple)) \
            or len(panels) != n_panels:
        raise ValueError(f"panels must be a list of {n_panels} dicts (one per panel axis "
                         f"of values), got {panels!r:.80}")
    for p, panel in enumerate(panels):
        if not isinstance(panel, dict) or not all(
                isinstance(panel.get(key), str) for key in ("title", "colour_label")):
            raise ValueError(f"panels[{p}] must be a dict with str 'title' and "
                             f"'colour_label', got {panel!r:.80}")
    return panels


def _quantise(panel, values, name):
    """A panel's colour range and its grids as 256 levels: (spec, uint8 levels)."""
    finite = values[np.isfinite(values)]
    if panel.get("signed", False):
        limit = panel.get("vmax")
        limit = float(np.max(np.abs(finite))) if limit is None and finite.size else limit
        limit = check_float(f"{name}['vmax']", limit or 1.0, low=0, low_open=True)
        vmin, vmax, colour_map = -limit, limit, "vlag"
    else:
        vmin = panel.get("vmin", float(finite.min()) if finite.size else 0.0)
        vmax = panel.get("vmax", float(finite.max()) if finite.size else 1.0)
        vmin = check_float(f"{name}['vmin']", vmin)
        vmax = check_float(f"{name}['vmax']", vmax)
        if vmax <= vmin and ("vmin" in panel or "vmax" in panel):
            given = " and ".join(f"{name}[{key!r}] = {panel[key]!r}" for key in ("vmin", "vmax")
                                 if key in panel)
            raise ValueError(f"{name} must have vmin < vmax, got {given} and the range "
                             f"[{vmin:g}, {vmax:g}]: a reversed scale would swap the colours")
        if vmax <= vmin:            # a constant panel: any range shows it in one colour
            vmax = vmin + 1.0
        colour_map = "viridis"
    levels = np.rint((np.nan_to_num(values, nan=vmin) - vmin) / (vmax - vmin) * 255)
    spec = {"title": panel["title"], "colour_label": panel["colour_label"],
            "colour_map": colour_map, "vmin": float(vmin), "vmax": float(vmax)}
    return spec, np.clip(levels, 0, 255).astype(np.uint8)


def _check_points(points):
    if points is None:
        return []
    if not isinstance(points, (tuple, list)) or len(points) != 2:
        raise TypeError("points must be a pair (x: (m, 2) float, y: (m,) int) or None, "
                        f"got {type(points).__name__}")
    x = check_array("points[0]", points[0], shape=(None, 2), dtype=np.float64)
    y = check_array("points[1]", points[1], shape=(len(x),), dtype=None)
    return [[round(float(a), 4), round(float(b), 4), int(label)]
            for (a, b), label in zip(x, y)]
