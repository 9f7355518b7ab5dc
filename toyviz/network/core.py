"""The network: a chain of steps in float64, its one numpy forward pass, and the checks
that its steps chain.

Introduced in chapter 1, :ref:`§The network <node-removal-network>`, and used by every chapter.
"""

from dataclasses import dataclass, field

import numpy as np

from toyviz._checks import check_array, check_choice, check_int, check_name, describe
from toyviz.network.activations import OTHER_ACTIVATIONS, OUTPUT_ACTIVATIONS
from toyviz.network.steps import (Conv2D, Dense, Folded, Matrix, Maximum, Nonlinearity, Reshape,
                                  Step, activation_step)

# The registry's logistic function, which the output applies to a sigmoid's logits.
_sigmoid = OTHER_ACTIVATIONS["sigmoid"][0]


@dataclass
class Network:
    """A chain of :class:`Step` objects, in float64.

    ``input_shape`` excludes the batch axis. The last step is the Dense layer whose
    outputs are the *logits*; ``output`` is the activation Keras applies to them
    (``"softmax"``, ``"sigmoid"`` or ``"linear"``). ``masked`` names the hidden layers
    the Keras model multiplied by a mask input (the book's mask layer).
    """

    steps: list
    input_shape: tuple
    n_outputs: int
    output: str = "linear"
    masked: tuple = ()
    _node_ends: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        check_choice("output", self.output, OUTPUT_ACTIVATIONS)
        if not isinstance(self.steps, list) or not self.steps or not all(
                isinstance(step, Step) for step in self.steps):
            raise TypeError(f"steps must be a non-empty list of Step objects, got "
                            f"{describe(self.steps)}")
        if not isinstance(self.steps[-1], Matrix):
            raise ValueError(f"steps must end in a matrix step (the logits), got "
                             f"{type(self.steps[-1]).__name__}")
        if isinstance(self.input_shape, (str, bytes)) or not isinstance(
                self.input_shape, (tuple, list)) or not self.input_shape:
            raise TypeError(f"input_shape must be a non-empty tuple of ints, got "
                            f"{describe(self.input_shape)}")
        self.input_shape = tuple(check_int("input_shape", size, low=1, high=2**31)
                                 for size in self.input_shape)
        _check_layer_names(self.steps)
        shape = _check_chain(self.steps, self.input_shape)
        self.n_outputs = check_int("n_outputs", self.n_outputs, low=1)
        last = self.steps[-1]
        if isinstance(last, Dense) and last.kernel.shape[1] != self.n_outputs:
            raise ValueError(f"n_outputs must be {last.kernel.shape[1]}, the units of layer "
                             f"{last.name!r}, got {self.n_outputs}")
        if isinstance(last, Folded) and self.n_outputs != 1:
            raise ValueError(f"n_outputs must be 1 for a folded last step {last.name!r} (one "
                             f"explained value per sample), got {self.n_outputs}")
        if shape != ((self.n_outputs,) if isinstance(last, Dense) else ()):
            raise ValueError(f"steps must end in the logits, one vector per sample, but "
                             f"their last step {last.name!r} gives shape {shape} per sample "
                             "(flatten before the last Dense step)")
        if isinstance(self.masked, (str, bytes)) or not isinstance(self.masked, (tuple, list)) \
                or not all(isinstance(layer, str) for layer in self.masked):
            raise TypeError(f"masked must be a tuple of layer names, got "
                            f"{describe(self.masked)}")
        self.masked = tuple(self.masked)
        ends = {}
        for index, step in enumerate(self.steps[:-1]):
            if isinstance(step, Dense):
                end = index
                while end + 1 < len(self.steps) - 1 and self.steps[end + 1].kind == "nonlinearity":
                    end += 1
                ends[step.name] = (end, step.kernel.shape[1])
        unknown = [layer for layer in self.masked if layer not in ends]
        if unknown:
            raise ValueError(f"masked must name hidden layers (Dense steps before the last), "
                             f"one of {list(ends)}, got {unknown}")
        if len(set(self.masked)) != len(self.masked):
            raise ValueError(f"masked must not repeat a layer, got {list(self.masked)}")
        self._node_ends = ends

    @property
    def hidden_layers(self):
        """``{layer name: number of nodes}`` of the hidden (maskable) layers, in order:
        every Dense layer but the last."""
        return {name: width for name, (_, width) in self._node_ends.items()}

    @property
    def node_steps(self):
        """``{hidden layer name: index of the step whose output holds its nodes}`` (the
        Dense step, or the activation after it): ``forward(x)[0][index + 1]`` are the
        nodes' outputs, and a mask multiplies them there."""
        return {name: end for name, (end, _) in self._node_ends.items()}

    def explaining(self, weights):
        """A copy whose last step computes ``weights . logits``, weights: (n_outputs,) or
        (n, n_outputs). Its output is (n,)."""
        if not isinstance(self.steps[-1], Dense):
            raise ValueError(f"this network's last step {self.steps[-1].name!r} is folded "
                             "already; explain the network it came from")
        weights = check_array("weights", weights, dtype=np.float64)
        if weights.ndim not in (1, 2) or weights.shape[-1] != self.n_outputs:
            raise ValueError(f"weights must have shape ({self.n_outputs},) or (n, "
                             f"{self.n_outputs}), one per output, got {describe(weights)}")
        return Network(self.steps[:-1] + [self.steps[-1].fold(weights)], self.input_shape, 1)

    def check_masks(self, masks, name="masks"):
        """``masks`` as ``{hidden layer name: float64 array}``, checked: each array's last
        axis is the layer's width and its values are finite. ``None`` means no masks."""
        check_name(name)
        if masks is None:
            return {}
        if not isinstance(masks, dict):
            raise TypeError(f"{name} must be a dict mapping hidden layer names to mask "
                            f"arrays, got {describe(masks)}")
        out = {}
        for layer, mask in masks.items():
            if layer not in self._node_ends:
                raise ValueError(f"{name} names layer {layer!r}, which is not a hidden layer; "
                                 f"hidden layers: {list(self._node_ends)}")
            width = self._node_ends[layer][1]
            mask = check_array(f"{name}[{layer!r}]", mask, dtype=np.float64)
            if mask.ndim < 1 or mask.shape[-1] != width:
                raise ValueError(f"{name}[{layer!r}] must end in an axis of {width} (the "
                                 f"layer's nodes), got {describe(mask)}")
            out[layer] = mask
        return out

    def check_inputs(self, x, name="x"):
        """``x`` as float64 ``(n, *input_shape)`` (``n`` may be 0), checked: a real,
        finite numeric array of that shape. ``name`` is the caller's parameter, for the
        messages."""
        check_name(name)
        x = check_array(name, x, dtype=np.float64)
        if x.shape[1:] != self.input_shape or x.ndim != len(self.input_shape) + 1:
            wanted = ", ".join(["n", *map(str, self.input_shape)])
            raise ValueError(f"{name} must have shape ({wanted}), a batch of the network's "
                             f"inputs, got {describe(x)}")
        return x

    def forward(self, x, masks=None):
        """All intermediate values: ``[x, step0(x), step1(step0(x)), ...]``, and the
        max-pool windows by step index.

        ``masks`` maps hidden layer names to arrays whose last axis is the layer's width;
        the layer's node outputs are multiplied by them (broadcasting: a ``(k, 1, width)``
        mask on ``(n, ...)`` inputs gives ``(k, n, width)`` values, one set per mask, for
        a chain of Dense layers after it).
        """
        x = self.check_inputs(x)
        by_step = {self._node_ends[layer][0]: mask
                   for layer, mask in self.check_masks(masks).items()}
        values, windows = [x], {}
        for index, step in enumerate(self.steps):
            if step.kind == "maximum":
                windows[index] = step.values(values[-1])
                values.append(step.forward(values[-1], windows[index]))
            else:
                values.append(step.forward(values[-1]))
            if index in by_step:
                values[-1] = values[-1] * by_step[index]
        return values, windows

    def __call__(self, x, masks=None):
        """The logits, ``(n, n_outputs)`` (or ``(..., n, n_outputs)`` with batched masks)."""
        return self.forward(x, masks)[0][-1]

    def predict(self, x, masks=None):
        """What the Keras model outputs: the logits after ``output`` (softmax, sigmoid or
        the identity), float64."""
        logits = self(x, masks)
        return apply_output(self.output, logits) if logits.size else logits

    def dense_chain(self, purpose="this"):
        """The network as ``[(kernel (in, out), bias (out,), activation name), ...]``, one
        entry per Dense layer; the last entry's activation is ``output``. Raises
        ``ValueError`` naming the first step that is not a Dense layer or the one
        activation after it (``purpose`` says what needs the chain, for the message)."""
        layers, index = [], 0
        while index < len(self.steps):
            step = self.steps[index]
            if not isinstance(step, Dense):
                raise ValueError(
                    f"model must be a chain of Dense layers for {purpose}, but layer "
                    f"{step.name!r} is {type(step).__name__}")
            activation = "linear"
            if index + 1 < len(self.steps) and self.steps[index + 1].kind == "nonlinearity":
                activation = self.steps[index + 1].function
                index += 1
                if index + 1 < len(self.steps) and self.steps[index + 1].kind == "nonlinearity":
                    raise ValueError(
                        f"model must have at most one activation after each Dense layer "
                        f"for {purpose}, but layer {step.name!r} is followed by two")
            layers.append((step.kernel, step.bias, activation))
            index += 1
        kernel, bias, _ = layers[-1]
        layers[-1] = (kernel, bias, self.output)
        return layers

    @classmethod
    def from_dense(cls, layers, names=None):
        """A network from ``[(kernel (in, out), bias (out,), activation), ...]``, as
        :meth:`dense_chain` returns it: activations by name from :data:`ACTIVATIONS` or
        :data:`OTHER_ACTIVATIONS` (or ``"linear"``); the last one is the ``output``.
        Layers are named ``names`` or ``hidden0, hidden1, ..., output``."""
        if isinstance(layers, (str, bytes)) or not isinstance(layers, (list, tuple)) \
                or not layers:
            raise TypeError(f"layers must be a non-empty list of (kernel, bias, activation) "
                            f"triples, got {describe(layers)}")
        if names is None:
            names = [f"hidden{i}" for i in range(len(layers) - 1)] + ["output"]
        elif not isinstance(names, (list, tuple)) or len(names) != len(layers) \
                or not all(isinstance(name, str) for name in names):
            raise TypeError(f"names must be a list of {len(layers)} str, one per layer, got "
                            f"{describe(names)}")
        elif len(set(names)) != len(names):
            raise ValueError(f"names must name each layer once, got {list(names)}")
        steps = []
        for position, (layer, name) in enumerate(zip(layers, names)):
            if isinstance(layer, (str, bytes)) or not isinstance(layer, (list, tuple)) \
                    or len(layer) != 3:
                raise TypeError(f"layers[{position}] must be a (kernel, bias, activation) "
                                f"triple, got {describe(layer)}")
            kernel, bias, activation = layer
            try:
                steps.append(Dense(name, kernel, bias))
                if position < len(layers) - 1:
                    steps += activation_step(name, activation)
            except (TypeError, ValueError) as error:
                raise type(error)(f"layers[{position}] ({name!r}): {error}") from error
        try:
            return cls(steps, (steps[0].kernel.shape[0],), steps[-1].kernel.shape[1],
                       layers[-1][2])
        except (TypeError, ValueError) as error:
            raise type(error)(f"layers do not chain into a network: {error}") from error


def _check_layer_names(steps):
    """Each layer name names one layer: one step, or a matrix step and the activation
    right after it (a Dense layer with ``activation=``), never steps apart."""
    runs = []
    for index, step in enumerate(steps):
        if runs and runs[-1][0] == step.name:
            runs[-1][1].append(index)
        else:
            runs.append((step.name, [index]))
    seen = {}
    for name, indices in runs:
        one_layer = len(indices) == 1 or (
            len(indices) == 2 and isinstance(steps[indices[0]], Matrix)
            and steps[indices[1]].kind == "nonlinearity")
        if name in seen or not one_layer:
            where = sorted(seen.get(name, []) + indices)
            raise ValueError(
                f"steps must name each layer once (one step, or a matrix step and its "
                f"activation), but steps {where} are all named {name!r}")
        seen[name] = indices


def _check_chain(steps, input_shape):
    """The shape of one sample after each step, checked: each matrix step takes what the
    step before gives, pools and kernels fit. Returns the last step's output shape."""
    shape = input_shape
    for index, step in enumerate(steps):
        where = (f"steps[0] does not fit input_shape {input_shape}" if index == 0
                 else f"steps[{index}] does not fit the shape {shape} that steps[{index - 1}] "
                      f"({steps[index - 1].name!r}) gives")
        if isinstance(step, (Dense, Folded)):
            fan_in = (step.kernel if isinstance(step, Dense) else step.weight).shape[0]
            if shape[-1] != fan_in or (isinstance(step, Folded) and len(shape) != 1):
                raise ValueError(f"{where}: layer {step.name!r} takes {fan_in} inputs per "
                                 "sample" + (", as a vector" if isinstance(step, Folded)
                                             else " on the last axis"))
        elif isinstance(step, (Conv2D, Maximum)):
            rank = 2 if getattr(step, "one_d", False) else 3
            channels = step.kernel.shape[2] if isinstance(step, Conv2D) else shape[-1]
            if len(shape) != rank or shape[-1] != channels:
                raise ValueError(f"{where}: layer {step.name!r} ({type(step).__name__}) takes "
                                 f"{rank}-d samples with {channels} channels")
            out = step.output_shape(shape)
            if min(out) < 1:
                raise ValueError(f"{where}: the windows of layer {step.name!r} do not fit in "
                                 f"it (output shape {out})")
        elif not isinstance(step, (Nonlinearity, Reshape)):
            raise TypeError(f"steps[{index}] must be a Dense, Folded, Conv2D, Maximum, "
                            f"Nonlinearity or Reshape step, got {describe(step)}")
        shape = step.output_shape(shape)
    return shape


def apply_output(output, logits):
    """``softmax``, ``sigmoid`` or ``linear`` applied to logits (last axis), float64."""
    check_choice("output", output, OUTPUT_ACTIVATIONS)
    logits = check_array("logits", logits, dtype=np.float64, empty=False)
    if logits.ndim < 1:
        raise ValueError(f"logits must have a last axis of outputs, got {describe(logits)}")
    if output == "softmax":
        shifted = logits - logits.max(axis=-1, keepdims=True)
        e = np.exp(shifted)
        return e / e.sum(axis=-1, keepdims=True)
    if output == "sigmoid":
        return _sigmoid(logits)
    if output == "linear":
        return logits
    raise ValueError(f"output must be one of {list(OUTPUT_ACTIVATIONS)}, got {output!r}")

