"""Reading a Keras model into a :class:`~toyviz.network.Network`: which layers are
understood, and the checks that a model is built and its weights finite.

:func:`read` reads the layers of :data:`SUPPORTED_LAYERS`, and refuses any other.

Introduced in chapter 1, :ref:`§The network <node-removal-network>`, and used by every chapter.
"""

import numpy as np

from toyviz._checks import describe
from toyviz.network.activations import OUTPUT_ACTIVATIONS, REGISTRY
from toyviz.network.core import Network
from toyviz.network.steps import Conv2D, Dense, Maximum, Reshape, activation_step

SUPPORTED_LAYERS = ("Dense", "Conv2D", "MaxPooling1D", "MaxPooling2D", "Flatten",
                    "Dropout (the identity at inference)", "ReLU", "LeakyReLU", "ELU",
                    "Activation", "Softmax (last layer only)",
                    "Multiply (a hidden layer's output times a mask input)")


def read(model, name="model"):
    """Read a Keras model into a :class:`Network` (float64 copies of its weights).

    The model must be a chain of the layers in :data:`SUPPORTED_LAYERS`, from one data
    input to one output, ending in a Dense layer whose activation is softmax, sigmoid or
    linear (possibly as a separate Activation or Softmax layer). Hidden activations come
    from :data:`~toyviz.network.ACTIVATIONS` and :data:`~toyviz.network.OTHER_ACTIVATIONS`.
    Extra inputs are allowed only as node masks: a ``Multiply`` of a hidden layer's output
    (after its activation) with an input of the same width; such layers are listed in
    ``Network.masked``. The model must be built (Keras knows its input shape) and its
    weights finite.

    ``name`` is the caller's parameter, for the messages.

    Raises ``TypeError`` for a non-model and ``ValueError`` for a model that is not built
    and naming the first layer it cannot represent exactly, or whose weights hold NaN or
    inf.
    """
    check_built(model, name)
    if len(model.outputs) != 1:
        raise ValueError(f"{name} must have one output, got {len(model.outputs)}")
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if not layers:
        raise ValueError(f"{name} must have at least one layer, got none")
    mask_inputs, masked = set(), []
    model_inputs = [t._keras_history[0] for t in model.inputs]
    # The first layer's call on one of this model's inputs (its layers may also have
    # been called in other models).
    first_calls = [[t._keras_history[0] for t in node.input_tensors]
                   for node in layers[0]._inbound_nodes]
    data_input = next((call[0] for call in first_calls if call and call[0] in model_inputs),
                      _producers(layers[0], None, name)[0])
    input_shape = tuple(int(d) for d in data_input.output.shape[1:])
    steps, shape, previous, last_dense = [], input_shape, data_input, None
    for position, layer in enumerate(layers):
        producers = _producers(layer, previous, name)
        if type(layer).__name__ == "Multiply":
            mask_layer = _mask_input(layer, producers, previous, steps, last_dense, shape,
                                     name)
            mask_inputs.add(mask_layer)
            masked.append(last_dense.name)
            previous = layer
            continue
        if producers != [previous]:
            raise ValueError(
                f"{name} must be a chain of layers, but layer {layer.name!r} takes its input "
                f"from {[p.name for p in producers]} rather than from {previous.name!r}")
        for step in _steps_for_layer(layer, shape, position == len(layers) - 1, name):
            shape = step.output_shape(shape)
            steps.append(step)
            if isinstance(step, Dense):
                last_dense = step
        previous = layer
    extra = [layer.name for layer in model_inputs
             if layer is not data_input and layer not in mask_inputs]
    if extra:
        raise ValueError(f"{name} has inputs {extra} that are neither its data input "
                         f"{data_input.name!r} nor masks; only chains are supported")
    if model.outputs[0]._keras_history[0] is not previous:
        raise ValueError(f"{name}'s output must be its last layer {previous.name!r}")
    output = "linear"
    if steps and steps[-1].kind == "nonlinearity":
        final = steps.pop()
        if final.function not in OUTPUT_ACTIVATIONS:  # linear adds no step
            raise ValueError(
                f"{name}'s layer {final.name!r} ends the model with activation "
                f"{final.function!r}; "
                f"the output activation must be one of {list(OUTPUT_ACTIVATIONS)}")
        output = final.function
    if not steps or not isinstance(steps[-1], Dense) or len(shape) != 1:
        raise ValueError(f"{name} must end in a Dense layer (its outputs before the final "
                         "activation are the logits), got layers "
                         f"{[layer.name for layer in layers]}")
    if masked and masked[-1] == steps[-1].name:
        raise ValueError(f"{name} masks the output layer {masked[-1]!r}; masks must follow a "
                         "hidden layer")
    for step in steps:
        if step.kind == "nonlinearity" and step.f is None:
            raise ValueError(
                f"{name}'s layer {step.name!r} uses the activation {step.function!r}, which "
                "is allowed only at the output; hidden activations: "
                f"{sorted(entry.name for entry in REGISTRY if entry.hidden)}")
    return Network(steps, input_shape, int(steps[-1].kernel.shape[1]), output, tuple(masked))


def check_built(model, name="model"):
    """Refuse a Keras model that is not built: one whose input shape Keras does not know
    yet (a Sequential without ``keras.Input``, never called), so that it has no weights
    and no outputs. ``name`` is the caller's parameter, for the messages. Returns
    ``model``."""
    import keras

    if not isinstance(name, str):
        raise TypeError(f"name must be a str (the caller's parameter name), got "
                        f"{describe(name)}")
    if not isinstance(model, keras.Model):
        raise TypeError(f"{name} must be a keras.Model, got {describe(model)}")
    if not model.built:
        raise ValueError(
            f"{name} is not built: Keras does not know its input shape yet, so it has no "
            f"weights; call it on data first ({name}(x)), or {name}.build(input_shape), or "
            "begin it with keras.Input(shape)")
    try:
        model.outputs
    except AttributeError as error:
        raise ValueError(f"{name} has no symbolic outputs (a subclassed keras.Model?); toyviz "
                         "reads Sequential and functional models") from error
    return model


def _producers(layer, previous, name):
    """The layers whose outputs ``layer`` takes as input, in order: from the call of
    ``layer`` on ``previous``'s output if there is one (a layer may also be called in
    other models), else from its first call."""
    calls = [[t._keras_history[0] for t in node.input_tensors]
             for node in layer._inbound_nodes]
    if not calls:
        raise ValueError(f"{name}'s layer {layer.name!r} has never been called on an input; "
                         "build the model with keras.Input first")
    return next((call for call in calls if previous in call), calls[0])


def _mask_input(layer, producers, previous, steps, last_dense, shape, name):
    """Check that a Multiply is the book's mask layer and return its mask InputLayer."""
    others = [p for p in producers if p is not previous]
    if (len(producers) != 2 or previous not in producers or len(others) != 1
            or type(others[0]).__name__ != "InputLayer"):
        raise _unsupported(layer, name, " except as a mask: the previous layer's output "
                                        "times a model input")
    if last_dense is None or any(s.kind != "nonlinearity"
                                 for s in steps[steps.index(last_dense) + 1:]):
        raise _unsupported(layer, name, " except right after a Dense layer and its activation")
    width = tuple(int(d) for d in others[0].output.shape[1:])
    if width != shape:
        raise ValueError(f"{name}'s layer {layer.name!r} multiplies {shape}-shaped nodes by "
                         f"the input {others[0].name!r} of shape {width}; a mask must match "
                         "the layer")
    return others[0]


def check_finite_weights(model, name="model"):
    """Refuse a built Keras ``model`` with NaN or inf in its weights, naming the layer and
    the weight (kernel or bias). ``name`` is the caller's parameter. Returns ``model``."""
    check_built(model, name)
    for layer in model.layers:
        _layer_weights(layer, name)
    return model


def _layer_weights(layer, name):
    """A layer's weights as numpy arrays, refusing NaN and inf by the layer's name and the
    weight's (kernel or bias)."""
    arrays = layer.get_weights()
    for variable, array in zip(layer.weights, arrays):
        bad = ~np.isfinite(array)
        if bad.any():
            raise ValueError(
                f"{name}'s layer {layer.name!r} has {int(bad.sum())} non-finite value(s) "
                f"(NaN or inf) in its {variable.name} of shape {array.shape}; a network with "
                "such weights computes NaN (did its training diverge?)")
    return arrays



def _unsupported(layer, name, why=""):
    return ValueError(
        f"{name}'s layer {layer.name!r} ({type(layer).__name__}) is not supported{why}; "
        f"supported layers: {', '.join(SUPPORTED_LAYERS)}; activations: "
        f"{', '.join(sorted(entry.name for entry in REGISTRY))}")


def _activation_name(layer):
    return getattr(layer.activation, "__name__", str(layer.activation))


def _steps_for_layer(layer, shape, last, name):
    kind = type(layer).__name__
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise _unsupported(layer, name, " with data_format='channels_first'")
    if kind == "Dense":
        weights = _layer_weights(layer, name)
        bias = weights[1] if len(weights) > 1 else None
        return [Dense(layer.name, weights[0], bias),
                *activation_step(layer.name, _activation_name(layer), name)]
    if kind == "Conv2D":
        if tuple(layer.dilation_rate) != (1, 1) or layer.groups != 1:
            raise _unsupported(layer, name, " with dilation or groups")
        weights = _layer_weights(layer, name)
        bias = weights[1] if len(weights) > 1 else None
        return [Conv2D(layer.name, weights[0], bias, layer.strides, layer.padding),
                *activation_step(layer.name, _activation_name(layer), name)]
    if kind in ("MaxPooling2D", "MaxPooling1D"):
        one_d = kind == "MaxPooling1D"
        pool = tuple(layer.pool_size)
        strides = tuple(layer.strides or pool)
        if one_d:
            pool, strides = (pool[0], 1), (strides[0], 1)
        return [Maximum(layer.name, pool, strides, layer.padding, one_d)]
    if kind == "Flatten":
        return [Reshape(layer.name)]
    if kind == "Dropout":
        return []
    if kind == "Activation":
        return activation_step(layer.name, _activation_name(layer), name)
    if kind == "Softmax":
        if not last or getattr(layer, "axis", -1) not in (-1, len(shape)):
            raise _unsupported(layer, name, " except as the last layer, over the last axis")
        return activation_step(layer.name, "softmax")
    if kind == "ReLU":
        if layer.threshold != 0:
            raise _unsupported(layer, name, " with threshold != 0 (then f(0) != 0)")
        slope = float(layer.negative_slope)
        top = None if layer.max_value is None else float(layer.max_value)
        if slope == 0 and top is None:
            return activation_step(layer.name, "relu")
        return activation_step(layer.name, f"relu(negative_slope={slope}, max_value={top})",
                               name)
    if kind == "LeakyReLU":
        slope = float(layer.negative_slope)
        function = "leaky_relu" if slope == 0.2 else f"leaky_relu({slope})"
        return activation_step(layer.name, function)  # repr(slope) reads back as slope
    if kind == "ELU":
        alpha = float(layer.alpha)
        return activation_step(layer.name, "elu" if alpha == 1.0 else f"elu({alpha})")
    raise _unsupported(layer, name)
