"""The toy models: building, training, saving and loading (``.keras`` files only).

Introduced in chapter 1, :ref:`§The network <node-removal-network>` (the masked circle
classifier), and used again in chapters 2 and 3.
"""

import os
import warnings

import numpy as np

from toyviz import network
from toyviz import _checks
from toyviz._checks import (check_array, check_choice, check_float, check_int,
                            check_layer_names, check_size, check_training_inputs,
                            refuse_divergence)

#: mlp's output activations: what a training stack computes, and the output activations.
_ACTIVATIONS = tuple(entry.name for entry in network.activations.REGISTRY
                     if entry.trainer or entry.output)

#: Largest learning rate and number of epochs accepted: beyond them Adam only diverges and
#: training only runs for days.
MAX_LEARNING_RATE = 10.0
MAX_EPOCHS = 100_000


def _check_weights_fit(name, value, sizes):
    """Refuse the layer size ``value`` of the parameter ``name`` when the float32 weights
    of Dense layers of ``sizes`` (with Adam's two copies and Keras' initialisers, about
    four times) cannot fit in memory."""
    return check_size(name, value, 16 * sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:])))


def _keras():
    import keras

    return keras


def masked_circle_model(n_nodes=20):
    """The first essay's classifier: Input(2) -> Dense(n_nodes, relu), multiplied by a
    mask input of width n_nodes -> Dense(2, softmax).

    A mask of ones is the whole network; a 0 at position i switches hidden node i off.
    Because the mask is an input, the loss can be differentiated with respect to it.

    Parameters
    ----------
    n_nodes : int >= 1

    Returns
    -------
    keras.Model with inputs ``[x: (batch, 2), mask: (batch, n_nodes)]`` and output
    ``(batch, 2)`` class probabilities (class 1 = inside the circle).
    """
    n_nodes = check_int("n_nodes", n_nodes, low=1)
    _check_weights_fit("n_nodes", n_nodes, (2, n_nodes, 2))
    keras = _keras()
    x = keras.Input(shape=(2,), name="x")
    mask = keras.Input(shape=(n_nodes,), name="mask")
    hidden = keras.layers.Dense(n_nodes, activation="relu", name="hidden")(x)
    picked = keras.layers.Multiply(name="masked")([hidden, mask])
    output = keras.layers.Dense(2, activation="softmax", name="output")(picked)
    return keras.Model(inputs=[x, mask], outputs=output, name="masked_circle")


def compile_classifier(model, learning_rate=0.01):
    """Compile ``model`` as in the essays: Adam(learning_rate), sparse categorical
    cross-entropy on probabilities, accuracy as the metric. Returns the model."""
    keras = _keras()
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    learning_rate = check_float("learning_rate", learning_rate, low=0, high=MAX_LEARNING_RATE,
                                low_open=True)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=False),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model


def train_circle_model(x, y, n_nodes=20, epochs=20, batch_size=32, learning_rate=0.01):
    """Build and train the masked circle model with every node on, as the first essay
    does (Adam(0.01), 20 epochs, Keras' default batch size of 32).

    Call ``toyviz.set_seed`` first: the initial weights and the shuffling come from
    TensorFlow's global seed.

    Parameters
    ----------
    x : (n, 2) float32
    y : (n,) int, labels in {0, 1}
    n_nodes, batch_size : int >= 1
    epochs : int in [1, MAX_EPOCHS]
    learning_rate : float in (0, MAX_LEARNING_RATE]

    Returns
    -------
    keras.Model, trained.
    """
    x = check_training_inputs("x", check_array("x", x, shape=(None, 2), empty=False))
    y = _checks.check_labels("y", y, len(x), 2, empty=True, integer_dtype=True)
    n_nodes = check_int("n_nodes", n_nodes, low=1)
    epochs = check_int("epochs", epochs, low=1, high=MAX_EPOCHS)
    batch_size = check_int("batch_size", batch_size, low=1)
    model = compile_classifier(masked_circle_model(n_nodes), learning_rate)
    ones = np.ones((len(x), n_nodes), dtype=np.float32)
    history = model.fit([x, ones], y, epochs=epochs, batch_size=batch_size, verbose=0)
    losses = np.asarray(history.history["loss"])
    if not np.all(np.isfinite(losses)) or not all(
            np.all(np.isfinite(w)) for w in model.get_weights()):
        bad = np.flatnonzero(~np.isfinite(losses))
        refuse_divergence(f"the end of epoch {int(bad[0]) + 1 if bad.size else epochs}", x,
                          learning_rate)
    return model


def mlp(n_inputs=2, widths=(50, 50), n_outputs=2, output_activation="softmax"):
    """A plain ReLU multilayer perceptron: Input(n_inputs) -> Dense(w, relu) for each
    w in ``widths`` -> Dense(n_outputs, output_activation).

    Hidden layers are named ``hidden0``, ``hidden1``, ...; the last layer ``output``.
    """
    n_inputs = check_int("n_inputs", n_inputs, low=1)
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__iter__"):
        raise TypeError(f"widths must be a sequence of ints, got {type(widths).__name__}")
    widths = [check_int(f"widths[{i}]", w, low=1) for i, w in enumerate(widths)]
    n_outputs = check_int("n_outputs", n_outputs, low=1)
    check_choice("output_activation", output_activation, _ACTIVATIONS)
    sizes = [("n_inputs", n_inputs), *((f"widths[{i}]", w) for i, w in enumerate(widths)),
             ("n_outputs", n_outputs)]
    for (a_name, a), (b_name, b) in zip(sizes[:-1], sizes[1:]):   # the larger one is to blame
        name, value = (a_name, a) if a >= b else (b_name, b)
        _check_weights_fit(name, value, (a, b))
    keras = _keras()
    layers = [keras.Input(shape=(n_inputs,), name="x")]
    layers += [keras.layers.Dense(w, activation="relu", name=f"hidden{i}")
               for i, w in enumerate(widths)]
    layers.append(keras.layers.Dense(n_outputs, activation=output_activation, name="output"))
    return keras.Sequential(layers, name="mlp")


def with_masks(model, layers):
    """``model`` with a node mask after each named hidden layer: a functional Keras model
    whose inputs are ``[x, mask_<layer>, ...]`` (one mask input per layer, in the order
    given, each of the layer's width) and whose named layers' outputs, after their
    activation, are multiplied by their mask (the book's mask layer, a ``Multiply``).

    The layers are the model's own, called again, so the new model shares their weights:
    training one trains the other. Mask layers the model already has are left out, so
    only the masks named here remain. :func:`masked_circle_model` is the special case of a
    2-n-2 network masked at its one hidden layer.

    Parameters
    ----------
    model : keras.Model that :func:`toyviz.network.read` can read
    layers : str or sequence of str, names of hidden layers
        (:attr:`toyviz.network.Network.hidden_layers`), no repeats

    Returns
    -------
    keras.Model with inputs ``[x: (batch, *input_shape), mask_<layer>: (batch, width),
    ...]`` and the model's output.

    Introduced in chapter 1, :ref:`§The network <node-removal-network>`; used by
    :func:`toyviz.masking.reference_mask_losses` on any network.
    """
    keras = _keras()
    net = network.read(model)
    names = check_layer_names("layers", layers, net.hidden_layers)
    if not names:
        raise ValueError("layers must name at least one hidden layer, got none; hidden "
                         f"layers: {list(net.hidden_layers)}")
    taken = {layer.name for layer in model.layers}

    def fresh(name):
        while name in taken:
            name += "_"
        taken.add(name)
        return name

    # the model's own data input (not a mask input): network.read then finds the chain
    # from the same input layer in both models
    multiplied = {id(tensor._keras_history[0]) for layer in model.layers
                  if type(layer).__name__ == "Multiply"
                  for node in layer._inbound_nodes for tensor in node.input_tensors}
    x = next(tensor for tensor in model.inputs
             if id(tensor._keras_history[0]) not in multiplied)
    masks = {name: keras.Input(shape=(net.hidden_layers[name],), name=fresh(f"mask_{name}"))
             for name in names}
    chain = [layer for layer in model.layers
             if type(layer).__name__ not in ("InputLayer", "Multiply")]
    tensor, pending = x, None
    for position, layer in enumerate(chain):
        tensor = layer(tensor)
        if type(layer).__name__ == "Dense":
            pending = layer.name if layer.name in masks else None
        following = type(chain[position + 1]).__name__ if position + 1 < len(chain) else None
        if pending is not None and following not in _AFTER_DENSE:
            tensor = keras.layers.Multiply(name=fresh(f"masked_{pending}"))(
                [tensor, masks[pending]])
            pending = None
    return keras.Model(inputs=[x, *masks.values()], outputs=tensor,
                       name=fresh(f"{model.name}_masked"))


#: Layers that belong to the Dense layer before them when placing a mask: its activation
#: (and Dropout, the identity at inference).
_AFTER_DENSE = ("ReLU", "LeakyReLU", "ELU", "Activation", "Dropout")


def unmasked(model):
    """A model with a mask input, with the mask removed: a Sequential of its Dense layers
    (``hidden0``, ``hidden1``, ..., ``output``, with their activations) holding copies of
    its weights, read through :func:`toyviz.network.read`.

    Chapter 2 explains this plain network (the masked circle model without its mask).
    """
    net = network.read(model)
    if not net.masked:
        raise ValueError("model must have a mask input (see masked_circle_model); got a "
                         f"model without one, layers {[layer.name for layer in model.layers]}")
    chain = net.dense_chain("unmasked")
    keras = _keras()
    known = {*network.ACTIVATIONS, *network.OTHER_ACTIVATIONS, *network.OUTPUT_ACTIVATIONS}
    layers = [keras.Input(shape=net.input_shape, name="x")]
    for position, (kernel, bias, activation) in enumerate(chain):
        if activation not in known:
            raise ValueError(f"model uses the activation {activation!r}, which has no Keras "
                             "name to rebuild it with")
        name = "output" if position == len(chain) - 1 else f"hidden{position}"
        layers.append(keras.layers.Dense(kernel.shape[1], activation=activation, name=name))
    plain = keras.Sequential(layers, name="unmasked")
    for layer, (kernel, bias, _) in zip(plain.layers, chain):
        layer.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    return plain


def masked_weights(model):
    """Deprecated: ``toyviz.network.read(model).dense_chain()`` gives the same weights
    (float64, with the activations). The four weight arrays of a 2-n-2 network with a
    ReLU hidden layer and a softmax output (the masked circle model), as float32 numpy
    arrays, read through :func:`toyviz.network.read`.

    Returns
    -------
    dict with ``w1: (2, n)``, ``b1: (n,)``, ``w2: (n, 2)``, ``b2: (2,)``.
    """
    warnings.warn("toyviz.models.masked_weights is deprecated: use "
                  "toyviz.network.read(model).dense_chain()", DeprecationWarning,
                  stacklevel=2)
    chain = network.read(model).dense_chain("masked_weights")
    if (len(chain) != 2 or chain[0][0].shape[0] != 2 or chain[1][0].shape[1] != 2
            or chain[0][2] != "relu" or chain[1][2] != "softmax"):
        raise ValueError(
            "model must be a 2-n-2 network with a ReLU hidden layer and a softmax output "
            "(see masked_circle_model), got layers "
            f"{[(k.shape, activation) for k, _, activation in chain]}")
    (w1, b1, _), (w2, b2, _) = chain
    return {k: np.asarray(v, dtype=np.float32)
            for k, v in dict(w1=w1, b1=b1, w2=w2, b2=b2).items()}


def check_labels(name, y, n, n_classes):
    """Deprecated, to be removed: every toyviz function that takes labels checks them
    itself, through the library's one (internal) label checker, which this calls.

    Returns ``y`` as an int64 array of length ``n`` with values in [0, n_classes): integer
    labels only, none when ``n`` is 0."""
    warnings.warn("toyviz.models.check_labels is deprecated and will be removed: every "
                  "toyviz function that takes labels checks them itself",
                  DeprecationWarning, stacklevel=2)
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    n = check_int("n", n, low=0)
    n_classes = check_int("n_classes", n_classes, low=1)
    labels = _checks.check_labels(name, y, n_classes=n_classes, empty=True, integer_dtype=True)
    if len(labels) != n:
        raise ValueError(f"{name} must have shape ({n},), one label per point (n = {n}), "
                         f"got {len(labels)} labels")
    return labels


def save_model(model, path):
    """Save ``model`` as a Keras 3 ``.keras`` file (never a pickle). Returns the path."""
    keras = _keras()
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    path = _keras_path(path)
    model.save(path)
    return path


def load_model(path):
    """Load a model saved by :func:`save_model`. Only ``.keras`` files are accepted."""
    path = _keras_path(path)
    if not os.path.exists(path):
        raise ValueError(f"path must name an existing .keras file, got {path!r}")
    return _keras().models.load_model(path, compile=False, safe_mode=True)


def _keras_path(path):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"path must end in '.keras', got {path!r}")
    return path
