"""The toy models: building, training, saving and loading (``.keras`` files only).

Introduced in chapter 1, §The network (the masked circle classifier), and used again in
chapters 2 and 3.
"""

import os

import numpy as np

from toyviz._checks import check_array, check_choice, check_float, check_int

_ACTIVATIONS = ("relu", "linear", "tanh", "softmax", "sigmoid")


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
    learning_rate = check_float("learning_rate", learning_rate, low=0, low_open=True)
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
    n_nodes, epochs, batch_size : int >= 1
    learning_rate : float > 0

    Returns
    -------
    keras.Model, trained.
    """
    x = check_array("x", x, shape=(None, 2))
    y = check_labels("y", y, len(x), n_classes=2)
    n_nodes = check_int("n_nodes", n_nodes, low=1)
    epochs = check_int("epochs", epochs, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    model = compile_classifier(masked_circle_model(n_nodes), learning_rate)
    ones = np.ones((len(x), n_nodes), dtype=np.float32)
    model.fit([x, ones], y, epochs=epochs, batch_size=batch_size, verbose=0)
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
    keras = _keras()
    layers = [keras.Input(shape=(n_inputs,), name="x")]
    layers += [keras.layers.Dense(w, activation="relu", name=f"hidden{i}")
               for i, w in enumerate(widths)]
    layers.append(keras.layers.Dense(n_outputs, activation=output_activation, name="output"))
    return keras.Sequential(layers, name="mlp")


def unmasked(model):
    """The masked circle model with the mask removed: a Sequential
    Input(2) -> Dense(n, relu) -> Dense(2, softmax) sharing copies of its weights.

    Chapter 2 explains this plain network.
    """
    hidden, output = _masked_layers(model)
    plain = mlp(2, [hidden.units], 2, "softmax")
    plain.get_layer("hidden0").set_weights(hidden.get_weights())
    plain.get_layer("output").set_weights(output.get_weights())
    return plain


def masked_weights(model):
    """The four weight arrays of a masked circle model, as float32 numpy arrays.

    Returns
    -------
    dict with ``w1: (2, n)``, ``b1: (n,)``, ``w2: (n, 2)``, ``b2: (2,)``.
    """
    hidden, output = _masked_layers(model)
    w1, b1 = hidden.get_weights()
    w2, b2 = output.get_weights()
    return {k: np.asarray(v, dtype=np.float32)
            for k, v in dict(w1=w1, b1=b1, w2=w2, b2=b2).items()}


def _masked_layers(model):
    keras = _keras()
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    try:
        hidden, output = model.get_layer("hidden"), model.get_layer("output")
    except ValueError as error:
        raise ValueError(
            "model must be a masked circle model with layers 'hidden' and 'output' "
            f"(see toyviz.models.masked_circle_model), got layers "
            f"{[layer.name for layer in model.layers]}") from error
    return hidden, output


def check_labels(name, y, n, n_classes):
    """Return ``y`` as an int64 array of length ``n`` with values in [0, n_classes)."""
    y = check_array(name, y, shape=(n,), dtype=None)
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if n and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{name} must hold labels in [0, {n_classes}), "
                         f"got values from {y.min()} to {y.max()}")
    return y.astype(np.int64)


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
