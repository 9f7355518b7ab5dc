"""One form of a feed-forward network, read from Keras, with one numpy forward pass.

Every part of toyviz that looks inside a network works on a :class:`Network`: a chain of
*steps* (matrix multiplies, element-wise nonlinearities, max pooling, reshapes) in
float64, read from a Keras model by :func:`read`. Masking switches nodes off in it,
pruning deletes them, relevance walks it backwards, training and the explorables run it.

What :func:`read` understands: a chain of layers from one input to one output, made of
Dense, Conv2D, MaxPooling1D/2D, Flatten and Dropout (the identity at inference);
activations given as layers (ReLU, LeakyReLU, ELU, Activation, Softmax) or as
``activation=`` (see :data:`ACTIVATIONS` and :data:`OTHER_ACTIVATIONS`); a final
softmax, sigmoid or linear output; and the book's node mask, a ``Multiply`` of a hidden
layer's output with an extra model input of the same width
(:func:`toyviz.models.masked_circle_model`). Anything else is refused with an error that
names the layer and lists what is supported; nothing is approximated.

A *hidden layer* is a Dense layer other than the last, and its *nodes* are its outputs
after its activation. :meth:`Network.forward` takes masks for any hidden layers by name,
and multiplies each node's output by its mask value, exactly as the mask layer does.

Introduced in chapter 1, :ref:`§The network <node-removal-network>`, and used by every chapter.
"""

import abc
import math
import re
from dataclasses import dataclass, field

import numpy as np
from scipy.special import erf

from toyviz._checks import (describe, check_array, check_choice, check_flag, check_int,
                            check_name)

# --------------------------------------------------------------------------------------
# Element-wise functions
# --------------------------------------------------------------------------------------


def _relu(z):
    return np.maximum(z, 0.0)


def _relu_prime(z):
    return (z > 0).astype(np.float64)


def _leaky(slope):
    return (lambda z: np.where(z > 0, z, slope * z),
            lambda z: np.where(z > 0, 1.0, slope))


def _elu(alpha):
    return (lambda z: np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0))),
            lambda z: np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0))))


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _gelu(z):
    return 0.5 * z * (1.0 + erf(z / math.sqrt(2.0)))


def _gelu_prime(z):
    return 0.5 * (1.0 + erf(z / math.sqrt(2.0))) + z * np.exp(-0.5 * z * z) / math.sqrt(
        2.0 * math.pi)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


#: Element-wise functions with f(0) = 0 that the propagation understands, by Keras name:
#: ``name -> (f, f')`` on float64 arrays.
ACTIVATIONS = {
    "relu": (_relu, _relu_prime),
    "relu6": (lambda z: np.clip(z, 0.0, 6.0), lambda z: ((z > 0) & (z < 6)).astype(float)),
    "leaky_relu": _leaky(0.2),
    "elu": _elu(1.0),
    "selu": (lambda z: _SELU_SCALE * _elu(_SELU_ALPHA)[0](z),
             lambda z: _SELU_SCALE * _elu(_SELU_ALPHA)[1](z)),
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "softsign": (lambda z: z / (1.0 + np.abs(z)), lambda z: 1.0 / (1.0 + np.abs(z)) ** 2),
    "silu": (lambda z: z * _sigmoid(z),
             lambda z: _sigmoid(z) * (1.0 + z * (1.0 - _sigmoid(z)))),
    "gelu": (_gelu, _gelu_prime),
}


def _sigmoid_prime(z):
    s = _sigmoid(z)
    return s * (1.0 - s)


#: Hidden activations with f(0) != 0: the forward pass runs them, relevance refuses them
#: (its rules need f(0) = 0). ``name -> (f, f')``.
OTHER_ACTIVATIONS = {"sigmoid": (_sigmoid, _sigmoid_prime)}

#: Activations allowed on the last layer only; the network's ``output``.
OUTPUT_ACTIVATIONS = ("linear", "softmax", "sigmoid")

SUPPORTED_LAYERS = ("Dense", "Conv2D", "MaxPooling1D", "MaxPooling2D", "Flatten",
                    "Dropout (the identity at inference)", "ReLU", "LeakyReLU", "ELU",
                    "Activation", "Softmax (last layer only)",
                    "Multiply (a hidden layer's output times a mask input)")

# --------------------------------------------------------------------------------------
# Steps: the network as a chain of maximum / matrix / nonlinearity / reshape operations
# --------------------------------------------------------------------------------------


def _check_bias(bias, units):
    """A Matrix step's bias: (units,) float64, one per unit of its kernel."""
    bias = check_array("bias", bias, dtype=np.float64)
    if bias.shape != (units,):
        raise ValueError(f"kernel and bias must agree: bias must have shape ({units},), one "
                         f"per unit of kernel, got {bias.shape}")
    return bias


def _step_input(step, a, name="a", rank=None, last=None):
    """A step's input as a real numpy array (NaN and inf pass: they are values a network
    can compute), checked against the ``rank`` and ``last`` axis the step takes. Cheap:
    no pass over the values, since the steps run inside every forward pass."""
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "fiub":
        a = check_array(name, a, dtype=np.float64, finite=False)
    if (a.ndim < 1 if rank is None else a.ndim != rank) or (
            last is not None and a.shape[-1] != last):
        wanted = "(n, ...)" if rank is None else f"{rank} dimensions"
        raise ValueError(f"{name} must have {wanted}" + (
            "" if last is None else f" ending in {last}") + f" for layer {step.name!r} "
            f"({type(step).__name__}), got {describe(a)}")
    return a


class Step(abc.ABC):
    """One operation of a :class:`Network`. ``kind`` is a layer type or ``"reshape"``;
    ``name`` is the Keras layer it comes from."""

    kind = None

    def __init__(self, name):
        if not isinstance(name, str):
            raise TypeError(f"name must be a str (the Keras layer's name), got "
                            f"{describe(name)}")
        self.name = name

    @abc.abstractmethod
    def forward(self, a):
        """Implemented by each subclass."""


class Matrix(Step):
    """Base of the matrix-multiply steps: ``z = a @ W + bias``.

    Subclasses provide ``forward(a)`` (with bias), ``transpose(v, shape)`` (``W^T v``,
    of the input's ``shape``), ``bias_signal(v)`` (``bias_j * v_j`` summed over the positions sharing bias
    ``j``: ``(n, units)``) and ``fold(c)``.
    """

    kind = "matrix"


class Dense(Matrix):
    """``z = a @ kernel + bias`` on the last axis. kernel: (d, units), bias: (units,)."""

    def __init__(self, name, kernel, bias=None):
        super().__init__(name)
        self.kernel = check_array("kernel", kernel, ndim=2, dtype=np.float64, empty=False)
        units = self.kernel.shape[1]
        self.bias = np.zeros(units) if bias is None else _check_bias(bias, units)

    def forward(self, a):
        a = _step_input(self, a, last=self.kernel.shape[0])
        z = a @ self.kernel
        z += self.bias
        return z

    def transpose(self, v, shape):
        return v @ self.kernel.T

    def bias_signal(self, v):
        v = v * self.bias
        return v if v.ndim == 2 else v.reshape(len(v), -1, v.shape[-1]).sum(axis=1)

    def fold(self, c):
        """The explained output ``c . z`` as one step: c: (units,) or (n, units)."""
        return Folded(self.name, self.kernel @ c.T, c @ self.bias)


class Folded(Matrix):
    """The last Dense layer with the explained combination of logits folded in:
    ``y = a @ w + b`` with w: (d,) or (d, n) (one column per sample), b: scalar or (n,).
    Its bias relevance is ``(n, 1)``."""

    def __init__(self, name, weight, bias):
        super().__init__(name)
        weight = check_array("weight", weight, dtype=np.float64, empty=False)
        if weight.ndim not in (1, 2):
            raise ValueError(f"weight must be (d,) or (d, n), got {describe(weight)}")
        bias = check_array("bias", bias, dtype=np.float64)
        if bias.shape != weight.shape[1:]:
            raise ValueError(f"weight and bias must agree: bias must have shape "
                             f"{weight.shape[1:]}, one per column of weight, got {bias.shape}")
        self.weight, self.bias = weight, bias

    def forward(self, a):
        if self.weight.ndim == 1:
            return _step_input(self, a, last=self.weight.shape[0]) @ self.weight + self.bias
        a = _step_input(self, a, rank=2, last=self.weight.shape[0])
        if len(a) != self.weight.shape[1]:
            raise ValueError(f"a must hold {self.weight.shape[1]} samples, one per column of "
                             f"weight, got {describe(a)}")
        return np.einsum("nd,dn->n", a, self.weight) + self.bias

    def transpose(self, v, shape):
        if self.weight.ndim == 1:
            return v[:, None] * self.weight
        return v[:, None] * self.weight.T

    def bias_signal(self, v):
        return (v * self.bias)[:, None]


def _same_padding(size, window, stride):
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return out, total // 2, total - total // 2


class _Windows:
    """Sliding windows over axes 1, 2 of (n, H, W, C) arrays, as Keras (TensorFlow) lays
    them out for 'valid' and 'same' padding."""

    def __init__(self, window, strides, padding, names=("pool", "strides"), size=2):
        for name, value in zip(names, (window, strides)):
            if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)) \
                    or len(value) != size:
                raise TypeError(f"{name} must be a tuple of {size} ints, got "
                                f"{describe(value)}")
            for item in value:
                check_int(name, item, low=1, high=10**6)
        check_choice("padding", padding, ("valid", "same"))
        self.window, self.strides, self.padding = tuple(window), tuple(strides), padding

    def geometry(self, shape):
        (h, w), (kh, kw), (sh, sw) = shape[1:3], self.window, self.strides
        if self.padding == "same":
            oh, top, bottom = _same_padding(h, kh, sh)
            ow, left, right = _same_padding(w, kw, sw)
        else:
            oh, ow, top, bottom, left, right = (h - kh) // sh + 1, (w - kw) // sw + 1, 0, 0, 0, 0
        return oh, ow, (top, bottom), (left, right)

    def extract(self, a, fill):
        """(n, H, W, C) -> (n, oh, ow, C, kh, kw) (a copy)."""
        oh, ow, pad_h, pad_w = self.geometry(a.shape)
        if any(pad_h) or any(pad_w):
            a = np.pad(a, ((0, 0), pad_h, pad_w, (0, 0)), constant_values=fill)
        view = np.lib.stride_tricks.sliding_window_view(a, self.window, axis=(1, 2))
        return view[:, ::self.strides[0], ::self.strides[1]][:, :oh, :ow]

    def scatter(self, parts, shape):
        """Adjoint of :meth:`extract`: (n, oh, ow, C, kh, kw) summed back to ``shape``."""
        oh, ow, pad_h, pad_w = self.geometry(shape)
        n, h, w, c = shape
        out = np.zeros((n, h + sum(pad_h), w + sum(pad_w), c))
        (kh, kw), (sh, sw) = self.window, self.strides
        for i in range(kh):
            for j in range(kw):
                out[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += parts[..., i, j]
        return out[:, pad_h[0]:pad_h[0] + h, pad_w[0]:pad_w[0] + w]


class Conv2D(Matrix):
    """2-D convolution, channels last: kernel (kh, kw, C, F), bias (F,), 'valid' or 'same'
    padding, any strides. As a matrix multiply its weights are sparse and repeated."""

    def __init__(self, name, kernel, bias=None, strides=(1, 1), padding="valid"):
        super().__init__(name)
        self.kernel = check_array("kernel", kernel, ndim=4, dtype=np.float64, empty=False)
        kh, kw, c, f = self.kernel.shape
        self.bias = np.zeros(f) if bias is None else _check_bias(bias, f)
        self.windows = _Windows((kh, kw), strides, padding, ("kernel", "strides"))
        self._matrix = self.kernel.reshape(kh * kw * c, f)

    def _patches(self, a):
        patches = self.windows.extract(a, 0.0)           # (n, oh, ow, C, kh, kw)
        n, oh, ow = patches.shape[:3]
        return patches.transpose(0, 1, 2, 4, 5, 3).reshape(n, oh, ow, self._matrix.shape[0])

    def forward(self, a):
        a = _step_input(self, a, rank=4, last=self.kernel.shape[2])
        return self._patches(a) @ self._matrix + self.bias

    def transpose(self, v, shape):
        kh, kw, c, _ = self.kernel.shape
        cols = (v @ self._matrix.T).reshape(*v.shape[:3], kh, kw, c)
        return self.windows.scatter(cols.transpose(0, 1, 2, 5, 3, 4), shape)

    def bias_signal(self, v):
        return (v * self.bias).sum(axis=(1, 2))


class Nonlinearity(Step):
    """``b = f(z)`` element-wise; ``f`` and its derivative ``fprime`` act on float64
    arrays. ``function`` names it exactly (a Keras name such as ``"relu"``, or with its
    parameters, ``"leaky_relu(0.1)"``); ``zero_at_zero`` says whether ``f(0) = 0``, which
    relevance propagation needs."""

    kind = "nonlinearity"

    def __init__(self, name, function, f, fprime, zero_at_zero=True):
        super().__init__(name)
        if not isinstance(function, str):
            raise TypeError(f"function must be the activation's name (str), got "
                            f"{describe(function)}")
        for label, value in (("f", f), ("fprime", fprime)):
            if value is not None and not callable(value):
                raise TypeError(f"{label} must be a function of float64 arrays (None for a "
                                f"softmax that the output applies), got {describe(value)}")
        self.function, self.f, self.fprime = function, f, fprime
        self.zero_at_zero = check_flag("zero_at_zero", zero_at_zero)

    def forward(self, z):
        z = _step_input(self, z, "z")
        if self.f is None:
            raise ValueError(f"layer {self.name!r} ({self.function}) has no function of its "
                             "own: the network's output applies it")
        return self.f(z)


class Maximum(Step):
    """Max pooling, channels last: (n, H, W, C) -> (n, oh, ow, C), or with ``one_d`` a
    MaxPooling1D (n, L, C) -> (n, oL, C). Windows are padded with -inf for 'same'."""

    kind = "maximum"

    def __init__(self, name, pool, strides, padding, one_d=False):
        super().__init__(name)
        self.one_d = check_flag("one_d", one_d)
        self.windows = _Windows(pool, strides, padding)

    def values(self, a):
        """The windows: ``(n, *output_shape, k)``."""
        if self.one_d:
            a = a[:, :, None, :]
        parts = self.windows.extract(a, -np.inf)
        parts = parts.reshape(*parts.shape[:4], int(np.prod(self.windows.window)))
        return parts[:, :, 0] if self.one_d else parts

    def forward(self, a, values=None):
        if values is None:
            values = self.values(_step_input(self, a, rank=3 if self.one_d else 4))
        return values.max(axis=-1)

    def scatter(self, parts, shape):
        """Adjoint of :meth:`values`: ``(n, *output_shape, k)`` summed back to ``shape``."""
        if self.one_d:
            parts, shape = parts[:, :, None], (shape[0], shape[1], 1, shape[2])
        parts = parts.reshape(*parts.shape[:4], *self.windows.window)
        out = self.windows.scatter(parts, shape)
        return out[:, :, 0] if self.one_d else out


class Reshape(Step):
    """Flatten: ``(n, *shape) -> (n, prod(shape))``."""

    kind = "reshape"

    def forward(self, a):
        a = _step_input(self, a)
        return a.reshape(len(a), int(np.prod(a.shape[1:])))


# --------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------


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
                    steps += _activation_step(name, activation)
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
            out = _output_shape(step, shape)
            if min(out) < 1:
                raise ValueError(f"{where}: the windows of layer {step.name!r} do not fit in "
                                 f"it (output shape {out})")
        elif not isinstance(step, (Nonlinearity, Reshape)):
            raise TypeError(f"steps[{index}] must be a Dense, Folded, Conv2D, Maximum, "
                            f"Nonlinearity or Reshape step, got {describe(step)}")
        shape = _output_shape(step, shape)
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


# --------------------------------------------------------------------------------------
# Reading a Keras model
# --------------------------------------------------------------------------------------


def read(model):
    """Read a Keras model into a :class:`Network` (float64 copies of its weights).

    The model must be a chain of the layers in :data:`SUPPORTED_LAYERS`, from one data
    input to one output, ending in a Dense layer whose activation is softmax, sigmoid or
    linear (possibly as a separate Activation or Softmax layer). Hidden activations come
    from :data:`ACTIVATIONS` and :data:`OTHER_ACTIVATIONS`. Extra inputs are allowed only
    as node masks: a ``Multiply`` of a hidden layer's output (after its activation) with
    an input of the same width; such layers are listed in ``Network.masked``. The model
    must be built (Keras knows its input shape) and its weights finite.

    Raises ``TypeError`` for a non-model and ``ValueError`` for a model that is not built
    and naming the first layer it cannot represent exactly, or whose weights hold NaN or
    inf.
    """
    return _read(model, "model")


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


def _read(model, name):
    """:func:`read`, naming the caller's parameter ``name`` in its messages."""
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
            shape = _output_shape(step, shape)
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
        if final.function not in ("softmax", "sigmoid"):
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
                f"{sorted([*ACTIVATIONS, *OTHER_ACTIVATIONS, 'linear'])}")
    return Network(steps, input_shape, int(steps[-1].kernel.shape[1]), output, tuple(masked))


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


def _output_shape(step, shape):
    if step.kind == "nonlinearity":
        return shape
    if step.kind == "reshape":
        return (int(np.prod(shape)),)
    if isinstance(step, Dense):
        return (*shape[:-1], step.kernel.shape[1])
    if isinstance(step, Folded):
        return tuple(shape[:-1])
    if isinstance(step, Conv2D):
        oh, ow, _, _ = step.windows.geometry((1, *shape))
        return (oh, ow, step.kernel.shape[3])
    if step.one_d:
        oh, _, _, _ = step.windows.geometry((1, shape[0], 1, shape[1]))
        return (oh, shape[1])
    oh, ow, _, _ = step.windows.geometry((1, *shape))
    return (oh, ow, shape[2])


_PARAMETRIC = re.compile(r"(leaky_relu|elu)\(([^()]+)\)"
                         r"|relu\(negative_slope=([^,()]+), max_value=([^,()]+)\)")


def _activation_step(layer_name, function, owner=None):
    if function == "linear":
        return []
    if function in ACTIVATIONS:
        return [Nonlinearity(layer_name, function, *ACTIVATIONS[function])]
    if function in OTHER_ACTIVATIONS:
        return [Nonlinearity(layer_name, function, *OTHER_ACTIVATIONS[function],
                             zero_at_zero=False)]
    if function == "softmax":   # kept without f, and refused by read() unless it is final
        return [Nonlinearity(layer_name, function, None, None, zero_at_zero=False)]
    parametric = _PARAMETRIC.fullmatch(function)
    if parametric:  # the names _steps_for_layer gives, so from_dense reads dense_chain back
        kind, parameter, slope, top = parametric.groups()
        if kind == "leaky_relu":
            return [Nonlinearity(layer_name, function, *_leaky(float(parameter)))]
        if kind == "elu":
            return [Nonlinearity(layer_name, function, *_elu(float(parameter)))]
        slope, ceiling = float(slope), np.inf if top == "None" else float(top)
        return [Nonlinearity(layer_name, function,
                             lambda z: np.where(z > 0, np.minimum(z, ceiling), slope * z),
                             lambda z: np.where(z > 0, (z < ceiling).astype(float), slope))]
    prefix = "" if owner is None else f"{owner}'s "
    raise ValueError(
        f"{prefix}layer {layer_name!r} uses the activation {function!r}, which is not "
        f"supported; supported: "
        f"{sorted([*ACTIVATIONS, *OTHER_ACTIVATIONS, 'linear', 'softmax'])}")


def _unsupported(layer, name, why=""):
    return ValueError(
        f"{name}'s layer {layer.name!r} ({type(layer).__name__}) is not supported{why}; "
        f"supported layers: {', '.join(SUPPORTED_LAYERS)}; activations: "
        f"{', '.join(sorted([*ACTIVATIONS, *OTHER_ACTIVATIONS, 'linear', 'softmax']))}")


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
                *_activation_step(layer.name, _activation_name(layer), name)]
    if kind == "Conv2D":
        if tuple(layer.dilation_rate) != (1, 1) or layer.groups != 1:
            raise _unsupported(layer, name, " with dilation or groups")
        weights = _layer_weights(layer, name)
        bias = weights[1] if len(weights) > 1 else None
        return [Conv2D(layer.name, weights[0], bias, layer.strides, layer.padding),
                *_activation_step(layer.name, _activation_name(layer), name)]
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
        return _activation_step(layer.name, _activation_name(layer), name)
    if kind == "Softmax":
        if not last or getattr(layer, "axis", -1) not in (-1, len(shape)):
            raise _unsupported(layer, name, " except as the last layer, over the last axis")
        return [Nonlinearity(layer.name, "softmax", None, None, zero_at_zero=False)]
    if kind == "ReLU":
        if layer.threshold != 0:
            raise _unsupported(layer, name, " with threshold != 0 (then f(0) != 0)")
        slope = float(layer.negative_slope)
        top = None if layer.max_value is None else float(layer.max_value)
        if slope == 0 and top is None:
            return [Nonlinearity(layer.name, "relu", *ACTIVATIONS["relu"])]
        return _activation_step(layer.name, f"relu(negative_slope={slope}, max_value={top})",
                               name)
    if kind == "LeakyReLU":
        slope = float(layer.negative_slope)
        function = "leaky_relu" if slope == 0.2 else f"leaky_relu({slope})"
        return [Nonlinearity(layer.name, function, *_leaky(slope))]
    if kind == "ELU":
        alpha = float(layer.alpha)
        return [Nonlinearity(layer.name, "elu" if alpha == 1.0 else f"elu({alpha})",
                             *_elu(alpha))]
    raise _unsupported(layer, name)
