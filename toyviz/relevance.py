"""Attribution as a backward pass: one rule per layer type, composites, propagation.

The second essay ("Visualizing neural networks, how to blame the bias") sees every
attribution method of its kind as the same backward pass: run the network forwards, then
walk back through it, reversing each layer with a *rule* chosen for the layer's *type*.
There are three types:

* **maximum** ``b = max_i a_i`` (max pooling),
* **matrix multiply** ``z_j = sum_i a_i w_ij + bias_j`` (Dense, Conv2D),
* **nonlinearity** ``b = f(z)`` element-wise, with ``f(0) = 0`` (ReLU, tanh, ...),

plus reshapes (Flatten), which every rule passes straight through. A :class:`Composite`
picks one rule per layer type, how the backward pass starts (with 1 or with the explained
output) and how it ends (the signal itself, the signal times the input, or the signal
times the input's difference from a baseline). The presets in :data:`PRESETS` are the
classic methods written this way.

Biases are handled as the essay's "blame the bias" proposes: each bias is the weight of an
extra input that is the constant 1. The matrix rules give that input its share like any
other, so every explanation carries the relevance of every bias beside the relevance of
the input, and for the conserving rules ``sum(input) + sum(bias) = explained output``.

Everything runs in numpy float64, vectorised over the batch.

Arrays: ``x: (n, *input_shape)``; relevance of the input has the same shape; the relevance
of the biases of a layer with ``units`` outputs is ``(n, units)`` (for Conv2D, summed over
the positions where the bias is added).

Introduced in chapter 2.
"""

import abc
import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from toyviz._checks import _describe, check_array, check_choice, check_float, check_int
# The network form lives in toyviz.network; these names stay importable from here.
from toyviz.network import (  # noqa: F401
    ACTIVATIONS, OUTPUT_ACTIVATIONS, SUPPORTED_LAYERS, Conv2D, Dense, Folded, Matrix, Maximum,
    Network, Nonlinearity, Reshape, Step)
from toyviz.network import read as _read

LAYER_TYPES = ("maximum", "matrix", "nonlinearity")

# --------------------------------------------------------------------------------------
# blip
# --------------------------------------------------------------------------------------


def blip(z, epsilon):
    """``blip(z) = z + epsilon * sign(z)`` with ``sign(0) = +1``: a line of slope 1 with
    a jump of ``2 * epsilon`` at 0 that keeps LRP-epsilon's denominator away from zero
    (Bach et al. 2015, eq. 58; Samek et al. 2015, arXiv:1509.06321, eq. 6).

    Parameters
    ----------
    z : array of float
    epsilon : float >= 0

    Returns
    -------
    float64 array of z's shape.
    """
    epsilon = check_float("epsilon", epsilon, low=0)
    z = np.asarray(z, dtype=np.float64)
    return z + np.where(z >= 0, epsilon, -epsilon)


# --------------------------------------------------------------------------------------
# Rules: one small object per rule, in a registry by layer type and name
# --------------------------------------------------------------------------------------

#: ``RULES[layer_type][name]`` is the rule class; see :func:`rule`.
RULES = {layer_type: {} for layer_type in LAYER_TYPES}


def register(cls):
    """Class decorator: add a rule class to :data:`RULES` under its layer type and name."""
    RULES[cls.layer_type][cls.name] = cls
    return cls


class Rule(abc.ABC):
    """Base of all rules. ``layer_type`` is one of :data:`LAYER_TYPES`."""

    layer_type = None
    name = None
    needs_baseline = False

    def __repr__(self):
        return f"{type(self).__name__}()"


class MaximumRule(Rule):
    """Reverses ``b = max_i a_i`` as ``R(a_i) = s_i R(b)``; subclasses give ``weights``."""

    layer_type = "maximum"

    @abc.abstractmethod
    def weights(self, values):
        """values: (..., k) float64, the inputs of each maximum -> s: (..., k)."""


@register
class MaximumGradient(MaximumRule):
    """Winner takes all: ``R(a_i) = R(b)`` if ``a_i = b`` else 0, the derivative of the
    maximum (ties go to the first maximal input, as TensorFlow's max-pool gradient does).
    Used by the gradient, deconvnet (Zeiler & Fergus 2014, the "switches") and LRP
    (Bach et al. 2015) alike."""

    name = "gradient"

    def weights(self, values):
        winner = np.argmax(values, axis=-1)[..., None]
        s = np.zeros(values.shape)
        np.put_along_axis(s, winner, 1.0, axis=-1)
        return s


@register
class MaximumRadial(MaximumRule):
    """The essay's radial rule: 0 is a special point, ``R(a_i) = s_i R(b)`` with
    ``s_i >= 0`` and ``sum_i s_i = 1``:

    * some ``a_i > 0``: ``s_i = a_i / sum_{a_j > 0} a_j`` for positive ``a_i``, else 0;
    * all ``a_i < 0``: ``s_i = (1 / a_i) / sum_j (1 / a_j)`` (the nearest to 0 gets most);
    * otherwise (maximum exactly 0): the zeros share equally, the limit of both cases.

    Inputs of ``-inf`` (padding) get 0. From the second essay, §Maximum.
    """

    name = "radial"

    def weights(self, values):
        values = np.asarray(values, dtype=np.float64)
        top = values.max(axis=-1, keepdims=True)
        positive = np.where(values > 0, values, 0.0)
        by_size = positive / np.where(top > 0, positive.sum(axis=-1, keepdims=True), 1.0)
        smallest = np.min(np.abs(values), axis=-1, keepdims=True)
        inverse = np.where(values < 0, smallest / np.abs(np.where(values < 0, values, -1.0)),
                           0.0)
        by_inverse = inverse / np.where(top < 0, inverse.sum(axis=-1, keepdims=True), 1.0)
        zeros = (values == 0).astype(np.float64)
        by_zero = zeros / np.maximum(zeros.sum(axis=-1, keepdims=True), 1.0)
        return np.where(top > 0, by_size, np.where(top < 0, by_inverse, by_zero))


class MatrixRule(Rule):
    """Reverses ``z_j = sum_i a_i w_ij + bias_j``; the bias is the weight of a constant-1
    input, which gets its share like any other input."""

    layer_type = "matrix"

    @abc.abstractmethod
    def backward(self, step, a, z, signal):
        """Returns ``(signal at a, signal at the bias inputs: (n, units))``."""


@register
class MatrixGradient(MatrixRule):
    """``R(a_i) = sum_j w_ij R(z_j)``, the chain rule; the bias input gets
    ``bias_j R(z_j)``."""

    name = "gradient"

    def backward(self, step, a, z, signal):
        return step.transpose(signal, a.shape), step.bias_signal(signal)


@register
class MatrixNormalized(MatrixRule):
    """LRP's rule (LRP-epsilon; LRP-0 when ``epsilon = 0``):
    ``R(a_i) = sum_j a_i w_ij / blip(z_j) * R(z_j)`` and, for the bias as a constant-1
    input, ``R(bias_j) = bias_j / blip(z_j) * R(z_j)``; ``blip(z) = z + epsilon sign(z)``.
    Bach et al. 2015 (PLoS ONE 10(7): e0130140), as written in Samek et al. 2015,
    arXiv:1509.06321, eq. 6. With ``epsilon = 0`` a ``z_j`` of exactly 0 passes nothing.
    """

    name = "normalized"

    def __init__(self, epsilon=0.0):
        self.epsilon = check_float("epsilon", epsilon, low=0)

    def __repr__(self):
        return f"MatrixNormalized(epsilon={self.epsilon})"

    def backward(self, step, a, z, signal):
        t = _divide_by_blip(signal, z, self.epsilon)
        return a * step.transpose(t, a.shape), step.bias_signal(t)


def _divide_by_blip(signal, z, epsilon):
    """``signal / blip(z)``; with ``epsilon = 0`` a ``z`` of exactly 0 passes nothing."""
    if epsilon > 0:
        return signal / (z + np.where(z >= 0, epsilon, -epsilon))
    return np.divide(signal, z, out=np.zeros(np.shape(z)), where=z != 0)


class NonlinearityRule(Rule):
    """Reverses ``b = f(z)`` element-wise."""

    layer_type = "nonlinearity"

    @abc.abstractmethod
    def backward(self, step, z, b, signal, baseline=None):
        """``baseline`` is ``(z_bar, b_bar)`` from the baseline's forward pass."""


@register
class Ignore(NonlinearityRule):
    """``R(z) = R(b)``: the nonlinearity is passed as if it were not there (LRP, Bach et
    al. 2015)."""

    name = "ignore"

    def backward(self, step, z, b, signal, baseline=None):
        return signal


@register
class NonlinearityGradient(NonlinearityRule):
    """``R(z) = f'(z) R(b)``, the chain rule."""

    name = "gradient"

    def backward(self, step, z, b, signal, baseline=None):
        return step.fprime(z) * signal


@register
class Slope(NonlinearityRule):
    """``R(z) = (f(z) / z) R(b)``: the slope of the chord from the origin to (z, f(z)),
    with ``f'(0)`` at ``z = 0``. It is what LRP's Ignore rule becomes for ``Q = R / a``
    (second essay, §Rephrasing nonlinearity; the essay prints the factor as ``1/f(a)``,
    a slip: ``Q(z) = R(z)/z = R(b)/z = (f(z)/z) Q(b)``). For ReLU it equals the gradient."""

    name = "slope"

    def backward(self, step, z, b, signal, baseline=None):
        factor = step.fprime(z)
        np.divide(b, z, out=factor, where=z != 0)
        return factor * signal


@register
class Repeat(NonlinearityRule):
    """``R(z) = f(R(b))``: the nonlinearity applied again on the way back; for ReLU this is
    the deconvnet of Zeiler & Fergus 2014 (ECCV, "Visualizing and understanding
    convolutional networks"). Unlike every other rule it is nonlinear in ``R(b)``."""

    name = "repeat"

    def backward(self, step, z, b, signal, baseline=None):
        return step.f(signal)


@register
class Rescale(NonlinearityRule):
    """Compare to a baseline: ``R(z) = (f(z) - f(z_bar)) / (z - z_bar) R(b)``, the slope of
    the chord from the baseline's point to the input's, with ``f'(z)`` where the two
    coincide. DeepLIFT's rescale rule (Shrikumar et al. 2017, arXiv:1704.02685, §3.5.2),
    the essay's "Solution 2"; with the baseline 0 it is :class:`Slope`.

    In the ``rescale`` preset the relevance conserves the difference of the outputs,
    ``sum R = y(x) - y(x_bar)``, on networks of matrix multiplies and element-wise
    nonlinearities. A max pooling layer breaks this wherever a window's winner at ``x``
    differs from its winner at ``x_bar``: the gradient maximum rule passes on
    ``x_w - x_bar_w`` for the input's winner ``w``, while the maximum changed by
    ``x_w - x_bar_v`` (``v`` the baseline's winner). Chapter 2, §Rescale and max
    pooling, measures how much this costs on the digits network."""

    name = "rescale"
    needs_baseline = True

    def backward(self, step, z, b, signal, baseline=None):
        if baseline is None:
            raise ValueError("the rescale rule needs a baseline; pass baseline=...")
        z_bar, b_bar = baseline
        dz = z - z_bar
        factor = step.fprime(z)
        np.divide(b - b_bar, dz, out=factor, where=np.abs(dz) > 1e-12)
        return factor * signal


class MatrixInputsOnly(MatrixNormalized):
    """The variant that "blame the bias" replaces: the inputs alone must account for the
    whole output, bias included,
    ``R(a_i) = sum_j a_i w_ij / blip(z_j - bias_j) * R(z_j)``, and the biases get nothing.
    It conserves ``sum_i R(a_i) = sum_j R(z_j)`` without any bias relevance, but it divides
    by the bias-free part ``z_j - bias_j``, which can be close to 0 where ``z_j`` is not
    (the second essay, §What the actual problem was); where it is exactly 0 nothing passes.
    Not in :data:`RULES`: it is shown in
    chapter 2, §Blame the bias, as the contrast, not offered as a rule to mix.
    """

    name = "inputs only"

    def __repr__(self):
        return f"MatrixInputsOnly(epsilon={self.epsilon})"

    def backward(self, step, a, z, signal):
        t = _divide_by_blip(signal, z - step.bias, self.epsilon)
        return a * step.transpose(t, a.shape), 0.0 * step.bias_signal(t)


def rule(layer_type, name, **params):
    """A rule from :data:`RULES`, e.g. ``rule("matrix", "normalized", epsilon=0.01)``."""
    check_choice("layer_type", layer_type, LAYER_TYPES)
    check_choice("name", name, RULES[layer_type])
    return RULES[layer_type][name](**params)


# --------------------------------------------------------------------------------------
# Composites
# --------------------------------------------------------------------------------------

STARTS = ("one", "output")
ENDS = ("signal", "times_input", "times_difference")


@dataclass(frozen=True)
class Composite:
    """One rule per layer type, and the end conditions of the backward pass.

    start : "one" (the signal at the output is 1: the Q form and the gradients) or
        "output" (it is the explained output itself: LRP's R form).
    end : "signal" (the input's relevance is the signal reaching it), "times_input" (the
        signal times the input, R = a Q) or "times_difference" (times input minus
        baseline). The bias inputs are the constant 1, so they are multiplied by 1, 1 and
        0 respectively.
    """

    maximum: MaximumRule
    matrix: MatrixRule
    nonlinearity: NonlinearityRule
    start: str = "one"
    end: str = "signal"
    name: str = "custom"

    def __post_init__(self):
        for layer_type in LAYER_TYPES:
            value = getattr(self, layer_type)
            if not isinstance(value, Rule) or value.layer_type != layer_type:
                raise TypeError(f"{layer_type} must be a {layer_type} rule (one of "
                                f"{sorted(RULES[layer_type])}), got {_describe(value)}")
        check_choice("start", self.start, STARTS)
        check_choice("end", self.end, ENDS)

    @property
    def needs_baseline(self):
        return self.end == "times_difference" or any(
            getattr(self, t).needs_baseline for t in LAYER_TYPES)

    def rule_for(self, kind):
        return getattr(self, kind)


def _gradient(epsilon):
    return Composite(MaximumGradient(), MatrixGradient(), NonlinearityGradient(), "one",
                     "signal", "gradient")


def _gradient_x_input(epsilon):
    return Composite(MaximumGradient(), MatrixGradient(), NonlinearityGradient(), "one",
                     "times_input", "gradient_x_input")


def _lrp_0(epsilon):
    return Composite(MaximumGradient(), MatrixNormalized(0.0), Ignore(), "output", "signal",
                     "lrp_0")


def _lrp_epsilon(epsilon):
    return Composite(MaximumGradient(), MatrixNormalized(epsilon), Ignore(), "output",
                     "signal", "lrp_epsilon")


def _deconvnet(epsilon):
    return Composite(MaximumGradient(), MatrixGradient(), Repeat(), "one", "signal",
                     "deconvnet")


def _rescale(epsilon):
    return Composite(MaximumGradient(), MatrixGradient(), Rescale(), "one",
                     "times_difference", "rescale")


#: Preset composites by name (see :func:`preset`).
PRESETS = {"gradient": _gradient, "gradient_x_input": _gradient_x_input, "lrp_0": _lrp_0,
           "lrp_epsilon": _lrp_epsilon, "deconvnet": _deconvnet, "rescale": _rescale}

#: How the book labels the presets.
PRESET_LABELS = {"gradient": "gradient", "gradient_x_input": "gradient × input",
                 "lrp_0": "LRP-0", "lrp_epsilon": "LRP-ε", "deconvnet": "deconvnet",
                 "rescale": "rescale (baseline)"}


def preset(name, epsilon=0.01):
    """The preset composite ``name`` (one of :data:`PRESETS`).

    ========================  =========  ===============  ============  =====  ================
    name                      maximum    matrix multiply  nonlinearity  start  end
    ========================  =========  ===============  ============  =====  ================
    gradient                  gradient   gradient         gradient      1      signal
    gradient_x_input          gradient   gradient         gradient      1      times input
    lrp_0                     gradient   normalized ε=0   ignore        y      signal
    lrp_epsilon               gradient   normalized ε     ignore        y      signal
    deconvnet                 gradient   gradient         repeat        1      signal
    rescale                   gradient   gradient         rescale       1      times (x - x̄)
    ========================  =========  ===============  ============  =====  ================

    ``epsilon`` (>= 0) is used by ``lrp_epsilon`` only.
    """
    if isinstance(name, str) and name not in PRESETS:
        raise ValueError(f"composite must be one of {sorted(PRESETS)} or a Composite, "
                         f"got {name!r}")
    check_choice("composite", name, PRESETS)
    epsilon = check_float("epsilon", epsilon, low=0)
    return PRESETS[name](epsilon)


# --------------------------------------------------------------------------------------
# Reading a network to explain
# --------------------------------------------------------------------------------------


def network_from_model(model):
    """Read a Keras model into a :class:`toyviz.network.Network` to explain (see
    :func:`toyviz.network.read` for what is supported). Its logits are explained, before
    the output activation. A node mask layer, if the model has one, is read as all ones
    (the whole network).

    Every hidden activation must have ``f(0) = 0`` (:data:`ACTIVATIONS`): the rules
    share an activation's output between its inputs in proportion, which needs it.
    Raises ``ValueError`` naming the layer otherwise.
    """
    network = _read(model)
    return _explainable(network)


def _explainable(network):
    for step in network.steps:
        if step.kind == "nonlinearity" and not step.zero_at_zero:
            raise ValueError(
                f"layer {step.name!r} uses the activation {step.function!r}, which has "
                f"f(0) != 0; relevance needs f(0) = 0 inside the network, one of "
                f"{sorted(ACTIVATIONS)}")
    return network


# --------------------------------------------------------------------------------------
# Propagation
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Explanation:
    """The result of :func:`propagate`.

    input : (n, *input_shape) float64, the relevance of each input value.
    bias : dict, layer name -> (n, units) float64 relevance of that layer's biases
        (``bias="each"``), or ``{"shared": (n,)}`` for one shared constant-1 input.
    output : (n,) float64, the explained quantity: ``weights . logits`` at x, minus the
        same at the baseline for composites that compare to one.
    composite : Composite
    """

    input: np.ndarray
    bias: dict
    output: np.ndarray
    composite: Composite = field(repr=False)

    @property
    def input_total(self):
        """(n,) sum of the input relevance of each sample."""
        return self.input.reshape(len(self.input), -1).sum(axis=1)

    @property
    def bias_total(self):
        """(n,) sum of the bias relevance of each sample."""
        return sum(value.reshape(len(value), -1).sum(axis=1) for value in self.bias.values())

    @property
    def conservation_error(self):
        """(n,) ``output - input_total - bias_total``: 0 up to rounding for conserving
        composites (LRP-0 and gradient × input on ReLU networks, with or without max
        pooling; rescale on ReLU networks without max pooling, see :class:`Rescale`)."""
        return self.output - self.input_total - self.bias_total


def output_weights(output, n_outputs, n):
    """The weights ``c`` of the explained quantity ``c . logits``.

    output : int k (logit k), a pair (k, m) (logit k minus logit m) or an int array (n,)
        (one logit per sample).
    Returns (n_outputs,) or (n, n_outputs) float64.
    """
    if isinstance(output, (tuple, list)):
        if len(output) != 2:
            raise ValueError(f"output must be an int, a pair (k, m) or an int array of "
                             f"length {n}, got a sequence of length {len(output)}")
        k = check_int("output[0]", output[0], low=0, high=n_outputs - 1)
        m = check_int("output[1]", output[1], low=0, high=n_outputs - 1)
        if k == m:
            raise ValueError(f"output must name two different logits, got ({k}, {m})")
        c = np.zeros(n_outputs)
        c[k], c[m] = 1.0, -1.0
        return c
    if isinstance(output, numbers.Integral) and not isinstance(output, bool):
        k = check_int("output", output, low=0, high=n_outputs - 1)
        return np.eye(n_outputs)[k]
    if isinstance(output, np.ndarray) and np.issubdtype(output.dtype, np.integer):
        if output.shape != (n,):
            raise ValueError(f"output must have shape ({n},) as an array of logit indices, "
                             f"got {_describe(output)}")
        if n and (output.min() < 0 or output.max() >= n_outputs):
            raise ValueError(f"output must hold logit indices in [0, {n_outputs}), got "
                             f"values from {output.min()} to {output.max()}")
        return np.eye(n_outputs)[output]
    raise TypeError(f"output must be an int, a pair (k, m) or an int array of length {n}, "
                    f"got {_describe(output)}")


def propagate(model, x, composite="lrp_0", output=0, baseline=None, bias="each",
              epsilon=0.01):
    """Explain ``weights . logits`` for a batch by one backward pass with ``composite``.

    Parameters
    ----------
    model : keras.Model or Network (see :func:`network_from_model` for what is supported)
    x : (n, *input_shape) float
    composite : Composite or a preset name from :data:`PRESETS`
    output : int k (logit k), pair (k, m) (logit k minus logit m) or int array (n,).
        Logits, not softmax probabilities: see chapter 2, §Why logits.
    baseline : None, (*input_shape) or (n, *input_shape), for composites that compare to
        a baseline (``rescale``); then the explained quantity is the difference between
        the input's and the baseline's.
    bias : "each" (one constant-1 input per bias) or "shared" (one 1 for all biases)
    epsilon : float >= 0, for the ``lrp_epsilon`` preset named by string.

    Returns
    -------
    Explanation
    """
    network = (_explainable(model) if isinstance(model, Network)
               else network_from_model(model))
    if isinstance(composite, str):
        composite = preset(composite, epsilon=epsilon)
    elif not isinstance(composite, Composite):
        raise TypeError(f"composite must be a Composite or one of {sorted(PRESETS)}, "
                        f"got {_describe(composite)}")
    else:
        check_float("epsilon", epsilon, low=0)
    check_choice("bias", bias, ("each", "shared"))
    x = check_array("x", x, shape=(None, *network.input_shape), dtype=np.float64)
    n = len(x)
    weights = output_weights(output, network.n_outputs, n)
    if composite.needs_baseline:
        if baseline is None:
            raise ValueError(f"baseline must be given for composite {composite.name!r}: an "
                             f"array of shape {network.input_shape} or (n, "
                             f"*{network.input_shape})")
    if baseline is not None:
        baseline = check_array("baseline", baseline, dtype=np.float64)
        if baseline.shape == network.input_shape:
            baseline = np.broadcast_to(baseline, x.shape)
        elif baseline.shape != x.shape:
            raise ValueError(f"baseline must have shape {network.input_shape} or "
                             f"{x.shape} (like x), got {_describe(baseline)}")
    parts = []
    for rows in _chunks(network, n):
        folded = network.explaining(weights if weights.ndim == 1 else weights[rows])
        parts.append(_backward(folded, x[rows], composite,
                               None if baseline is None else baseline[rows], bias))
    if len(parts) == 1:
        return parts[0]
    return Explanation(np.concatenate([p.input for p in parts]),
                       {k: np.concatenate([p.bias[k] for p in parts]) for k in parts[0].bias},
                       np.concatenate([p.output for p in parts]), composite)


#: Batches are processed in chunks of about this many values per layer: arrays that stay
#: in the processor's cache are several times faster than fresh multi-megabyte ones.
CHUNK_VALUES = 2 ** 15


def _chunks(network, n):
    probe = network.forward(np.zeros((1, *network.input_shape)))[0]
    widest = max(value.size for value in probe)
    rows = max(1, CHUNK_VALUES // widest)
    return [slice(start, start + rows) for start in range(0, max(n, 1), rows)]


def _backward(network, x, composite, baseline, bias, trace=None):
    values, windows = network.forward(x)
    explained = values[-1]
    base_values = None
    if composite.needs_baseline:
        base_values, _ = network.forward(baseline)
        explained = explained - base_values[-1]
    signal = np.ones(len(x)) if composite.start == "one" else explained.copy()
    bias_signals = {}
    for index in range(len(network.steps) - 1, -1, -1):
        step, a, b = network.steps[index], values[index], values[index + 1]
        if step.kind == "matrix":
            signal, bias_signal = composite.matrix.backward(step, a, b, signal)
            if step.name in bias_signals:
                bias_signals[step.name] = bias_signals[step.name] + bias_signal
            else:
                bias_signals[step.name] = bias_signal
        elif step.kind == "nonlinearity":
            pair = None if base_values is None else (base_values[index],
                                                     base_values[index + 1])
            signal = composite.nonlinearity.backward(step, a, b, signal, pair)
        elif step.kind == "maximum":
            s = composite.maximum.weights(windows[index])
            signal = step.scatter(s * signal[..., None], a.shape)
        else:
            signal = signal.reshape(a.shape)
        if trace is not None:
            trace.append((step.name, step.kind, _layer_total(
                composite, signal, a, None if base_values is None else base_values[index],
                bias_signals)))
    if composite.end == "times_input":
        signal = signal * x
    elif composite.end == "times_difference":
        signal = signal * (x - baseline)
        bias_signals = {name: 0.0 * value for name, value in bias_signals.items()}
    bias_signals = dict(reversed(list(bias_signals.items())))
    if bias == "shared":
        bias_signals = {"shared": sum(v.sum(axis=1) for v in bias_signals.values())}
    return Explanation(signal, bias_signals, explained, composite)


def _layer_total(composite, signal, a, a_bar, bias_signals):
    """The conserved total at the input of one step: the layer's relevance (``signal``,
    ``a * signal`` or ``(a - a_bar) * signal`` as the composite ends) summed, plus the
    relevance the biases above it have taken."""
    if composite.end == "times_input":
        relevance = a * signal
    elif composite.end == "times_difference":
        relevance = (a - a_bar) * signal
    else:
        relevance = signal
    total = relevance.reshape(len(relevance), -1).sum(axis=1)
    if composite.end != "times_difference":
        for value in bias_signals.values():
            total = total + value.reshape(len(value), -1).sum(axis=1)
    return total


def layer_totals(model, x, composite="lrp_0", output=0, baseline=None):
    """The essay's conserved quantity at every layer of the backward pass.

    At the input of each step the relevance of that layer is summed and the relevance the
    biases above it have taken is added: ``sum_i R(a_i)`` in LRP's R form, ``sum_i a_i
    Q(a_i)`` in the Q form (composites ending ``times_input``, the second essay's
    §Rephrasing conservation), ``sum_i (a_i - a_bar_i) Q(a_i)`` for composites that compare
    to a baseline (their biases cancel). For a conserving composite every column equals
    the explained output.

    Parameters
    ----------
    model, x, composite, output, baseline : as for :func:`propagate` (biases "each").

    Returns
    -------
    pandas.DataFrame (n, n_steps): one column per step, from the output layer down,
    named ``"into <kind> <layer name>"`` (the total at that step's input); and the
    explained output in column ``"output"``.

    Introduced in chapter 2, §Blame the bias.
    """
    network = (_explainable(model) if isinstance(model, Network)
               else network_from_model(model))
    if isinstance(composite, str):
        composite = preset(composite)
    elif not isinstance(composite, Composite):
        raise TypeError(f"composite must be a Composite or one of {sorted(PRESETS)}, "
                        f"got {_describe(composite)}")
    x = check_array("x", x, shape=(None, *network.input_shape), dtype=np.float64)
    if composite.needs_baseline:
        if baseline is None:
            raise ValueError(f"baseline must be given for composite {composite.name!r}")
        baseline = np.broadcast_to(check_array("baseline", baseline, dtype=np.float64),
                                   x.shape)
    weights = output_weights(output, network.n_outputs, len(x))
    trace = []
    explanation = _backward(network.explaining(weights), x, composite, baseline, "each",
                            trace)
    columns = {"output": explanation.output}
    for number, (name, kind, total) in enumerate(trace):
        columns[f"into {kind} {name}"] = total
    return _pandas().DataFrame(columns)


def softness_floor(pairs, ladder=None):
    """The smallest softness of the soft maximum (:func:`softmax_max_network`) that
    float64 can run for each pair, from a ladder of softness values (default ``2**-k``,
    k = 0 .. 40): the output and LRP-0's relevance are finite and conserve to 1e-9.

    pairs : (m, 2) float. Returns (m,) float64 (nan where no softness on the ladder runs).
    """
    pairs = check_array("pairs", pairs, shape=(None, 2), dtype=np.float64)
    ladder = 2.0 ** -np.arange(41) if ladder is None else check_array(
        "ladder", ladder, ndim=1, dtype=np.float64)
    floor = np.full(len(pairs), np.nan)
    with np.errstate(all="ignore"):
        for s in sorted(ladder, reverse=True):
            e = propagate(softmax_max_network(float(s)), pairs, "lrp_0", output=0)
            fine = (np.isfinite(e.input).all(axis=1) & np.isfinite(e.output)
                    & (np.abs(e.conservation_error) <= 1e-9 * (1 + np.abs(e.output))))
            floor = np.where(fine, s, floor)
    return floor


def max_constructions_gap(pairs, softness):
    """How far apart the two constructions of ``max(a, b)`` put the relevance, under LRP-0
    with biases blamed: the soft maximum at ``softness`` (one value per pair) against
    ``a + relu(b - a)``.

    pairs : (m, 2) float; softness : float or (m,) float > 0.
    Returns (m,) float64: ``max(|R_soft(a) - R_relu(a)|, |R_soft(b) - R_relu(b)|)``.
    """
    pairs = check_array("pairs", pairs, shape=(None, 2), dtype=np.float64)
    softness = np.broadcast_to(check_array("softness", softness, dtype=np.float64),
                               (len(pairs),))
    if not np.all(softness > 0):
        raise ValueError("softness must be > 0")
    relu = propagate(relu_max_network(), pairs, "lrp_0", output=0).input
    gap = np.full(len(pairs), np.nan)
    for s in np.unique(softness):
        rows = softness == s
        soft = propagate(softmax_max_network(float(s)), pairs[rows], "lrp_0", output=0).input
        gap[rows] = np.abs(soft - relu[rows]).max(axis=1)
    return gap


# --------------------------------------------------------------------------------------
# The essay's consistency checks, computed
# --------------------------------------------------------------------------------------


def _pandas():
    import pandas as pd

    return pd


def scale_both_ways(matrix_rule, nonlinearity_rule, alpha, a, signal):
    """Reverse ``b = alpha * a`` twice: as the matrix ``alpha * I`` with ``matrix_rule`` and
    as the element-wise function ``f(a) = alpha * a`` with ``nonlinearity_rule`` (the
    rescale rule with the baseline 0).

    Parameters
    ----------
    alpha : float, non-zero
    a, signal : (m,) float, the inputs (non-zero) and the relevance arriving at b.

    Returns
    -------
    (as_matrix, as_nonlinearity) : two (m,) float64 arrays, R(a) by each reading.
    """
    alpha = check_float("alpha", alpha)
    if alpha == 0:
        raise ValueError("alpha must be non-zero, got 0.0")
    a = check_array("a", a, ndim=1, dtype=np.float64)[None]
    signal = check_array("signal", signal, shape=(a.shape[1],), dtype=np.float64)[None]
    matrix = Dense("scale", alpha * np.eye(a.shape[1]))
    as_matrix, _ = matrix_rule.backward(matrix, a, matrix.forward(a), signal)
    step = Nonlinearity("scale", "linear", lambda z: alpha * z,
                        lambda z: np.full(np.shape(z), alpha))
    zero = np.zeros_like(a)
    as_nonlinearity = nonlinearity_rule.backward(step, a, alpha * a, signal, (zero, zero))
    return as_matrix[0], as_nonlinearity[0]


def _name_scale(ratios, alpha):
    if np.allclose(ratios, alpha, rtol=1e-9, atol=0):
        return "α"
    if np.allclose(ratios, 1.0, rtol=1e-9, atol=0):
        return "1"
    return "other"


def scaling_table(rng, alphas=(-2.0, 0.5, 3.0), size=50):
    """The essay's scaling-equivalence table, computed: for every pair of matrix rule
    (gradient, normalized with epsilon = 0) and nonlinearity rule, reverse ``b = alpha a``
    both ways (:func:`scale_both_ways`) on random ``a`` and ``R(b)``, for each alpha.

    Returns
    -------
    pandas.DataFrame, one row per pair: the scale ``R(a) / R(b)`` each reading gives
    ("α", "1" or "other") and whether the two agree for every alpha and every point.
    """
    from toyviz._checks import check_rng

    rng = check_rng("rng", rng)
    size = check_int("size", size, low=1)
    a = rng.uniform(0.1, 2.0, size) * rng.choice([-1.0, 1.0], size)
    signal = rng.normal(size=size)
    rows = []
    for matrix_rule in (MatrixGradient(), MatrixNormalized(0.0)):
        for name, cls in RULES["nonlinearity"].items():
            nonlinearity_rule = cls()
            scales_m, scales_n, agree = set(), set(), True
            for alpha in alphas:
                as_m, as_n = scale_both_ways(matrix_rule, nonlinearity_rule, alpha, a, signal)
                scales_m.add(_name_scale(as_m / signal, alpha))
                scales_n.add(_name_scale(as_n / signal, alpha))
                agree &= bool(np.allclose(as_m, as_n, rtol=1e-12, atol=1e-12))
            rows.append({"matrix rule": matrix_rule.name, "nonlinearity rule": name,
                         "scale as matrix": "/".join(sorted(scales_m)),
                         "scale as nonlinearity": "/".join(sorted(scales_n)),
                         "agree": agree})
    return _pandas().DataFrame(rows)


def max_with_constant(rule_for_maximum, rule_for_nonlinearity, a, constant, repeats=1):
    """Reverse ``b = max(a, c)`` (``c <= 0``, so ``f(0) = 0``) both ways: as a maximum of
    ``a`` and ``repeats`` copies of the constant with ``rule_for_maximum``, and as the
    nonlinearity ``f(a) = max(a, c)`` with ``rule_for_nonlinearity``.

    Parameters
    ----------
    a : (m,) float
    constant : float <= 0
    repeats : int >= 1, how often the constant appears: max(a, c) = max(a, c, c).

    Returns
    -------
    (as_maximum, as_nonlinearity) : (m,) float64 each, ``R(a) / R(b)``.
    """
    a = check_array("a", a, ndim=1, dtype=np.float64)
    constant = check_float("constant", constant, high=0)
    repeats = check_int("repeats", repeats, low=1)
    values = np.concatenate([a[:, None], np.full((len(a), repeats), constant)], axis=1)
    as_maximum = rule_for_maximum.weights(values)[:, 0]
    step = Nonlinearity("max_c", "max_c", lambda z: np.maximum(z, constant),
                        lambda z: (z > constant).astype(np.float64))
    as_nonlinearity = rule_for_nonlinearity.backward(step, a, np.maximum(a, constant),
                                                     np.ones_like(a))
    return as_maximum, as_nonlinearity


def max_constants_table(constants=(0.0, -0.5, -1.0), resolution=401):
    """The essay's max-with-constants check, computed on a grid ``a`` in [-2, 2]: for every
    maximum rule and nonlinearity rule (but rescale), the share of points where the two
    readings of ``max(a, c)`` give ``a`` the same relevance, split by region, and whether
    the maximum rule gives the same for ``max(a, c, c)`` as for ``max(a, c)``.

    Returns
    -------
    pandas.DataFrame, one row per (maximum rule, nonlinearity rule).
    """
    resolution = check_int("resolution", resolution, low=3)
    a = np.linspace(-2.0, 2.0, resolution)
    rows = []
    for max_name, max_cls in RULES["maximum"].items():
        for nl_name, nl_cls in RULES["nonlinearity"].items():
            if nl_cls.needs_baseline:
                continue
            counts = {"b > 0": [0, 0], "c < a <= 0": [0, 0], "a < c": [0, 0]}
            duplicates = True
            for c in constants:
                as_max, as_nl = max_with_constant(max_cls(), nl_cls(), a, c)
                twice, _ = max_with_constant(max_cls(), nl_cls(), a, c, repeats=2)
                duplicates &= bool(np.allclose(as_max, twice, rtol=1e-12, atol=1e-12))
                same = np.isclose(as_max, as_nl, rtol=1e-12, atol=1e-12)
                regions = {"b > 0": a > 0, "c < a <= 0": (a > c) & (a <= 0),
                           "a < c": a < c}  # ties a = c left out, as the essay does
                for region, where in regions.items():
                    counts[region][0] += int(same[where].sum())
                    counts[region][1] += int(where.sum())
            row = {"maximum rule": max_name, "nonlinearity rule": nl_name}
            for region, (hits, total) in counts.items():
                row[f"agree, {region}"] = round(hits / total, 4) if total else float("nan")
            row["max(a,c,c) = max(a,c)"] = duplicates
            rows.append(row)
    return _pandas().DataFrame(rows)


def relu_max_network():
    """``max(a, b) = a + relu(b - a)`` from the building blocks, as a :class:`Network`
    with input (a, b): a matrix ``(a, b) -> (a, b - a)``, an element-wise function that is
    the identity on the first unit and ReLU on the second, and the sum."""
    def f(z):
        return np.concatenate([z[:, :1], np.maximum(z[:, 1:], 0.0)], axis=1)

    def fprime(z):
        return np.concatenate([np.ones_like(z[:, :1]), (z[:, 1:] > 0).astype(float)], axis=1)

    steps = [Dense("difference", [[1.0, -1.0], [0.0, 1.0]]),
             Nonlinearity("relu", "identity and relu", f, fprime),
             Dense("sum", [[1.0], [1.0]])]
    return Network(steps, (2,), 1)


def softmax_max_network(softness, n_inputs=2):
    """The soft maximum ``m = s log(sum_i exp(x_i / s))`` from building blocks with
    f(0) = 0: ``u = x / s``; ``e = exp(u) - 1``; ``t = sum_i e_i + (n - 1)`` (a bias);
    ``log(1 + t)``; times ``s``. As ``s -> 0`` it tends to ``max_i x_i``.

    Floating point limits the softness: below about ``|x| / 36`` the ``exp(u) - 1`` of
    negative inputs rounds to -1 and the log overflows.
    """
    softness = check_float("softness", softness, low=0, low_open=True)
    n_inputs = check_int("n_inputs", n_inputs, low=2)
    steps = [Dense("scale", np.eye(n_inputs) / softness),
             Nonlinearity("exp", "expm1", np.expm1, np.exp),
             Dense("sum", np.ones((n_inputs, 1)), [n_inputs - 1.0]),
             Nonlinearity("log", "log1p", np.log1p, lambda z: 1.0 / (1.0 + z)),
             Dense("unscale", [[softness]])]
    return Network(steps, (n_inputs,), 1)


def max_constructions_table(pairs, softness=(0.5, 0.2, 0.1, 0.05), composite="lrp_0"):
    """Relevance of ``(a, b)`` in ``max(a, b)`` by the two constructions the essay names,
    with one composite: the soft maximum at decreasing softness, and ``a + relu(b - a)``;
    beside them the maximum rules applied directly.

    Parameters
    ----------
    pairs : (m, 2) float
    softness : sequence of float > 0
    composite : Composite or preset name (must not need a baseline)

    Returns
    -------
    pandas.DataFrame, one row per pair and construction, with R(a), R(b), R(biases) and
    their sum next to max(a, b).
    """
    pairs = check_array("pairs", pairs, shape=(None, 2), dtype=np.float64)
    rows = []
    networks = [(f"soft max, s={s:g}", softmax_max_network(s)) for s in softness]
    networks.append(("a + relu(b - a)", relu_max_network()))
    for label, network in networks:
        explanation = propagate(network, pairs, composite, output=0)
        for (a, b), r, bias in zip(pairs, explanation.input, explanation.bias_total):
            rows.append({"a": a, "b": b, "construction": label, "R(a)": r[0], "R(b)": r[1],
                         "R(biases)": bias, "max(a, b)": max(a, b)})
    for name, cls in RULES["maximum"].items():
        weights = cls().weights(pairs)
        top = pairs.max(axis=1)
        for (a, b), s, m in zip(pairs, weights, top):
            rows.append({"a": a, "b": b, "construction": f"maximum rule: {name}",
                         "R(a)": s[0] * m, "R(b)": s[1] * m, "R(biases)": 0.0,
                         "max(a, b)": m})
    table = _pandas().DataFrame(rows)
    return table.sort_values(["a", "b"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------
# Beyond the essay: region perturbation and parameter randomisation
# --------------------------------------------------------------------------------------


def perturbation_curve(model, x, relevance, output, replacement, steps):
    """Region perturbation (Samek et al. 2015, arXiv:1509.06321, §III): replace the input
    values most relevant first, one at a time, by ``replacement``, and record how much
    the explained output drops.

    Parameters
    ----------
    model : keras.Model or Network
    x : (n, *input_shape) float
    relevance : (n, *input_shape) float, the order (random values give a random order).
    output : as for :func:`propagate` (int, pair or (n,) int array).
    replacement : (n, *input_shape) float, e.g. uniform noise drawn once.
    steps : int >= 1, how many values to replace.

    Returns
    -------
    (steps + 1,) float64: mean over samples of ``f(x) - f(x after k replacements)``.
    """
    network = (_explainable(model) if isinstance(model, Network)
               else network_from_model(model))
    x = check_array("x", x, shape=(None, *network.input_shape), dtype=np.float64)
    relevance = check_array("relevance", relevance, shape=x.shape, dtype=np.float64)
    replacement = check_array("replacement", replacement, shape=x.shape, dtype=np.float64)
    n, size = len(x), int(np.prod(network.input_shape))
    steps = check_int("steps", steps, low=1, high=size)
    weights = output_weights(output, network.n_outputs, n)
    order = np.argsort(-relevance.reshape(n, -1), axis=1, kind="stable")[:, :steps]
    flat, noise = x.reshape(n, -1), replacement.reshape(n, -1)
    batch = np.repeat(flat[None], steps + 1, axis=0)           # (steps + 1, n, size)
    rows = np.arange(n)
    for k in range(steps):
        batch[k + 1:, rows, order[:, k]] = noise[rows, order[:, k]]
    batch = batch.reshape(-1, *network.input_shape)
    logits = np.concatenate([network(batch[chunk]) for chunk in _chunks(network, len(batch))])
    if weights.ndim == 2:
        weights = np.tile(weights, (steps + 1, 1))
    scores = (logits * weights).sum(axis=1).reshape(steps + 1, n)
    return (scores[0] - scores).mean(axis=1)


def aopc(curve):
    """Area over the perturbation curve: ``mean_k curve[k]`` over the ``L + 1`` points
    (Samek et al. 2015, eq. 12). Higher means the order found the important inputs first."""
    curve = check_array("curve", curve, ndim=1, dtype=np.float64)
    return float(curve.mean())


def randomized_copy(model, n_layers, rng):
    """A copy of ``model`` whose top ``n_layers`` layers with weights are re-initialised
    (kernels Glorot-uniform from ``rng``, biases 0, as Keras initialises them): the
    cascading randomisation of Adebayo et al. 2018 ("Sanity checks for saliency maps")."""
    import keras

    from toyviz._checks import check_rng

    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {_describe(model)}")
    rng = check_rng("rng", rng)
    weighted = [layer for layer in model.layers if layer.get_weights()]
    n_layers = check_int("n_layers", n_layers, low=0, high=len(weighted))
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for layer in [copy.get_layer(layer.name) for layer in weighted[::-1][:n_layers]]:
        kernel, *rest = layer.get_weights()
        receptive = int(np.prod(kernel.shape[:-2])) if kernel.ndim > 2 else 1
        fan_in, fan_out = kernel.shape[-2] * receptive, kernel.shape[-1] * receptive
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        new = rng.uniform(-limit, limit, kernel.shape).astype(kernel.dtype)
        layer.set_weights([new, *[np.zeros_like(r) for r in rest]])
    return copy


def rank_correlation(first, second, absolute=True):
    """Spearman rank correlation between two relevance maps of each sample.

    first, second : (n, ...) float; absolute: compare ``|R|`` (Adebayo et al. 2018 show
    both; the sign flips of a random layer otherwise dominate). Returns (n,) float64
    (nan for a constant map).
    """
    from scipy.stats import rankdata

    first = check_array("first", first, dtype=np.float64)
    second = check_array("second", second, shape=first.shape, dtype=np.float64)
    first, second = first.reshape(len(first), -1), second.reshape(len(second), -1)
    if absolute:
        first, second = np.abs(first), np.abs(second)
    ra, rb = rankdata(first, axis=1), rankdata(second, axis=1)
    ra, rb = ra - ra.mean(axis=1, keepdims=True), rb - rb.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ra * rb).sum(axis=1) / np.sqrt((ra ** 2).sum(axis=1) * (rb ** 2).sum(axis=1))


def rule_sweep(model, x, matrix_rules, nonlinearity_rules, ends=("signal", "times_input"),
               output=0):
    """Every mix of a matrix rule, a nonlinearity rule and an end condition (with the
    gradient maximum rule), explained on the same inputs; the backward pass starts from
    the output for the normalized matrix rule (R form) and from 1 otherwise. Biases share
    one constant-1 input.

    Introduced in chapter 2, §Mix your own rules (the explorable).

    Parameters
    ----------
    model : keras.Model or Network
    x : (n, *input_shape) float
    matrix_rules, nonlinearity_rules : sequences of rule objects
    ends : sequence of end conditions (see :class:`Composite`)
    output : as for :func:`propagate`

    Returns
    -------
    input : (len(matrix_rules), len(nonlinearity_rules), len(ends), n, *input_shape) float64
    bias : the same without the input axes: the shared bias relevance.
    conservation : (len(matrix_rules), len(nonlinearity_rules), len(ends)) float64, the
        largest ``|output - sum(input) - bias|`` over the inputs.
    """
    network = (_explainable(model) if isinstance(model, Network)
               else network_from_model(model))
    for name, rules, cls in (("matrix_rules", matrix_rules, MatrixRule),
                             ("nonlinearity_rules", nonlinearity_rules, NonlinearityRule)):
        if not rules or not all(isinstance(r, cls) for r in rules):
            raise TypeError(f"{name} must be a non-empty sequence of {cls.__name__} "
                            f"objects, got {rules!r:.80}")
    ends = [check_choice("ends", end, ENDS[:2]) for end in ends]
    shape = (len(matrix_rules), len(nonlinearity_rules), len(ends))
    inputs, biases, conservation = [], [], np.zeros(shape)
    for i, matrix in enumerate(matrix_rules):
        start = "output" if isinstance(matrix, MatrixNormalized) else "one"
        for j, nonlinearity in enumerate(nonlinearity_rules):
            for k, end in enumerate(ends):
                composite = Composite(MaximumGradient(), matrix, nonlinearity, start, end,
                                      f"{matrix.name}/{nonlinearity.name}/{end}")
                explanation = propagate(network, x, composite, output=output, bias="shared")
                inputs.append(explanation.input)
                biases.append(explanation.bias["shared"])
                conservation[i, j, k] = np.abs(explanation.conservation_error).max()
    return (np.stack(inputs).reshape(*shape, *inputs[0].shape),
            np.stack(biases).reshape(*shape, -1), conservation)
