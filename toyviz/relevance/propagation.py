"""Propagation: run the network forwards, then walk back through it with a composite.

:func:`network_from_model` reads a Keras model with :func:`toyviz.network.read` and
refuses activations with ``f(0) != 0``; :func:`propagate` explains ``weights . logits``
(:func:`output_weights`) for a batch in one vectorised backward pass, in chunks that stay
in the processor's cache (:data:`CHUNK_VALUES`), and returns an :class:`Explanation` with
the relevance of the input and of every bias. :func:`layer_totals` traces the conserved
total layer by layer; :func:`rule_sweep` explains the same inputs with every mix of rules.
This is the part zennit keeps in ``core`` and ``attribution``.

Introduced in chapter 2, :ref:`§Relevance maps of the circle model <relevance-maps>`;
:func:`rule_sweep` in :ref:`§Mix your own rules <relevance-mix-rules>`, :func:`layer_totals` in
:ref:`§Blame the bias <relevance-blame-bias>`. The page :doc:`/book/right_reasons` checks its
:ref:`differentiable relevance <reasons-differentiable>` against :func:`propagate`.
"""

import numbers
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from toyviz._checks import (describe, check_array, check_choice, check_float, check_instance,
                             check_int, check_sequence)
from toyviz.network import ACTIVATIONS, Network
from toyviz.network import read as _read
from toyviz.relevance.composites import ENDS, PRESETS, Composite, preset
from toyviz.relevance.rules import (
    Ignore, MatrixInputsOnly, MatrixNormalized, MatrixRule, MaximumGradient, NonlinearityRule)

def network_from_model(model):
    """Read a Keras model into a :class:`toyviz.network.Network` to explain (see
    :func:`toyviz.network.read` for what is supported). Its logits are explained, before
    the output activation. A node mask layer, if the model has one, is read as all ones
    (the whole network).

    Every hidden activation must have ``f(0) = 0`` (:data:`~toyviz.network.ACTIVATIONS`): the rules
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


def to_explain(model):
    """``model`` as a Network to explain: a Network is checked, a Keras model is read
    (refused, naming ``model``, where relevance can't explain it exactly)."""
    return _explainable(model) if isinstance(model, Network) else network_from_model(model)


# --------------------------------------------------------------------------------------
# Propagation
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Explanation:
    """The result of :func:`propagate`.

    Attributes
    ----------
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

    def __post_init__(self):
        values = check_array("input", self.input, dtype=np.float64, empty=False, finite=False)
        if values.ndim < 2:
            raise ValueError(f"input must be (n, *input_shape), got {describe(values)}")
        n = len(values)
        if not isinstance(self.bias, dict) or not all(isinstance(k, str)
                                                      for k in self.bias):
            raise TypeError(f"bias must be a dict of layer name -> (n, units) array, got "
                            f"{describe(self.bias)}")
        bias = {name: check_array(f"bias[{name!r}]", value, dtype=np.float64, finite=False)
                for name, value in self.bias.items()}
        for name, value in bias.items():
            if value.ndim < 1 or len(value) != n:
                raise ValueError(f"input and bias[{name!r}] must agree: bias[{name!r}] must "
                                 f"have {n} rows, one per row of input, got {describe(value)}")
        output = check_array("output", self.output, shape=(n,), dtype=np.float64,
                             finite=False)
        if not isinstance(self.composite, Composite):
            raise TypeError(f"composite must be a Composite, got {describe(self.composite)}")
        object.__setattr__(self, "input", values)
        object.__setattr__(self, "bias", bias)
        object.__setattr__(self, "output", output)

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
        pooling; rescale on ReLU networks without max pooling, see
        :class:`~toyviz.relevance.rules.Rescale`)."""
        return self.output - self.input_total - self.bias_total


def output_weights(output, n_outputs, n):
    """The weights ``c`` of the explained quantity ``c . logits``.

    Parameters
    ----------
    output : int k (logit k), a pair (k, m) (logit k minus logit m) or an int array (n,)
        (one logit per sample).
    n_outputs : int, the number of logits.
    n : int, the number of samples.

    Returns
    -------
    (n_outputs,) or (n, n_outputs) float64.
    """
    n_outputs = check_int("n_outputs", n_outputs, low=1, high=10**6)
    n = check_int("n", n, low=0)
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
                             f"got {describe(output)}")
        if n and (output.min() < 0 or output.max() >= n_outputs):
            raise ValueError(f"output must hold logit indices in [0, {n_outputs}), got "
                             f"values from {output.min()} to {output.max()}")
        return np.eye(n_outputs)[output]
    raise TypeError(f"output must be an int, a pair (k, m) or an int array of length {n}, "
                    f"got {describe(output)}")


def _composite(composite, *epsilon):
    """The caller's ``composite``, a Composite or the name of a preset, as a Composite
    (a preset built with the caller's epsilon, when it passes one, which is checked)."""
    if isinstance(composite, Composite):
        if epsilon:
            check_float("epsilon", epsilon[0], low=0)
        return composite
    if isinstance(composite, str) and composite in PRESETS:
        return preset(composite, *epsilon)
    error = ValueError if isinstance(composite, str) else TypeError
    raise error(f"composite must be a Composite or one of {sorted(PRESETS)}, got "
                f"{describe(composite)}")


def propagate(model, x, composite="lrp_0", output=0, baseline=None, bias="each",
              epsilon=0.01):
    """Explain ``weights . logits`` for a batch by one backward pass with ``composite``.

    Parameters
    ----------
    model : keras.Model or Network (see :func:`network_from_model` for what is supported)
    x : (n, *input_shape) float
    composite : Composite or a preset name from
        :data:`~toyviz.relevance.composites.PRESETS`
    output : int k (logit k), pair (k, m) (logit k minus logit m) or int array (n,).
        Logits, not softmax probabilities: see chapter 2, :ref:`§Why explain logits, not the
        softmax output <relevance-logits>`.
    baseline : None, (*input_shape) or (n, *input_shape), for composites that compare to
        a baseline (``rescale``); then the explained quantity is the difference between
        the input's and the baseline's.
    bias : "each" (one constant-1 input per bias) or "shared" (one 1 for all biases)
    epsilon : float >= 0, for the ``lrp_epsilon`` preset named by string.

    Returns
    -------
    Explanation
    """
    network = to_explain(model)
    composite = _composite(composite, epsilon)
    check_choice("bias", bias, ("each", "shared"))
    x = check_array("x", x, shape=(None, *network.input_shape), dtype=np.float64,
                    empty=False)
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
                             f"{x.shape} (like x), got {describe(baseline)}")
    parts = []
    for rows in chunks(network, n):
        folded = network.explaining(weights if weights.ndim == 1 else weights[rows])
        parts.append(_backward(folded, x[rows], composite,
                               None if baseline is None else baseline[rows], bias))
    if len(parts) == 1:
        return parts[0]
    return Explanation(np.concatenate([p.input for p in parts]),
                       {k: np.concatenate([p.bias[k] for p in parts]) for k in parts[0].bias},
                       np.concatenate([p.output for p in parts]), composite)


#: About this many values per layer make one chunk of a batch; arrays that stay in the
#: processor's cache are several times faster than fresh multi-megabyte ones.
CHUNK_VALUES = 2 ** 15


def chunks(network, n):
    """Row slices that cover ``n`` inputs in chunks of about :data:`CHUNK_VALUES` values in
    ``network``'s widest layer, so a large batch is propagated in bounded memory."""
    network = check_instance("network", network, Network, "a toyviz.network.Network")
    n = check_int("n", n, low=0, high=2**31)  # more rows than any array of inputs holds
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

    Introduced in chapter 2, :ref:`§Blame the bias <relevance-blame-bias>`.
    """
    network = to_explain(model)
    composite = _composite(composite)
    x = check_array("x", x, shape=(None, *network.input_shape), dtype=np.float64,
                    empty=False)
    if composite.needs_baseline and baseline is None:
        raise ValueError(f"baseline must be given for composite {composite.name!r}")
    if baseline is not None:
        baseline = check_array("baseline", baseline, dtype=np.float64)
        if baseline.shape not in (network.input_shape, x.shape):
            raise ValueError(f"baseline must have shape {network.input_shape} or "
                             f"{x.shape} (like x), got {describe(baseline)}")
        baseline = np.broadcast_to(baseline, x.shape)
    weights = output_weights(output, network.n_outputs, len(x))
    trace = []
    explanation = _backward(network.explaining(weights), x, composite, baseline, "each",
                            trace)
    columns = {"output": explanation.output}
    for name, kind, total in trace:
        columns[f"into {kind} {name}"] = total
    return pd.DataFrame(columns)

def rule_sweep(model, x, matrix_rules, nonlinearity_rules, ends=("signal", "times_input"),
               output=0):
    """Every mix of a matrix rule, a nonlinearity rule and an end condition (with the
    gradient maximum rule), explained on the same inputs; the backward pass starts from
    the output for the normalized matrix rule (R form) and from 1 otherwise. Biases share
    one constant-1 input.

    Introduced in chapter 2, :ref:`§Mix your own rules (the explorable) <relevance-mix-rules>`.

    Parameters
    ----------
    model : keras.Model or Network
    x : (n, *input_shape) float
    matrix_rules, nonlinearity_rules : sequences of rule objects
    ends : sequence of end conditions (see
        :class:`~toyviz.relevance.composites.Composite`)
    output : as for :func:`propagate`

    Returns
    -------
    input : (len(matrix_rules), len(nonlinearity_rules), len(ends), n, *input_shape) float64
    bias : the same without the input axes: the shared bias relevance.
    conservation : (len(matrix_rules), len(nonlinearity_rules), len(ends)) float64, the
        largest ``|output - sum(input) - bias|`` over the inputs.
    """
    network = to_explain(model)
    for name, rules, cls in (("matrix_rules", matrix_rules, MatrixRule),
                             ("nonlinearity_rules", nonlinearity_rules, NonlinearityRule)):
        if isinstance(rules, (str, bytes)) or not isinstance(rules, (list, tuple)) \
                or not rules or not all(isinstance(r, cls) for r in rules):
            raise TypeError(f"{name} must be a non-empty sequence of {cls.__name__} "
                            f"objects, got {rules!r:.80}")
    ends = [check_choice("ends", end, ENDS[:2])
            for end in check_sequence("ends", ends, "end conditions")]
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


def bias_treatments(model, x, output=0, epsilons=(0.0, 1e-6, 1e-3, 0.1)):
    """The essay's "blame the bias" against the variant it replaces, at several ε.

    For each ε, the R form of LRP (gradient maximum, ignore nonlinearity, starting from the
    explained output d) runs twice with one shared constant-1 input for the biases: with the
    normalized matrix rule, which gives the biases their share ("bias blamed"), and with
    :class:`~toyviz.relevance.rules.MatrixInputsOnly`, which divides by the inputs' part of
    z so that the inputs account for everything ("inputs only").

    Introduced in chapter 2, :ref:`§Blame the bias <relevance-blame-bias>`.

    Parameters
    ----------
    model : keras.Model or Network
    x : (n, *input_shape) float
    output : as for :func:`propagate`
    epsilons : non-empty sequence of floats >= 0

    Returns
    -------
    pandas.DataFrame, one row per ε: for each variant its largest |R| over the largest |d|
    (``inputs only: largest |R| / largest |d|``, ``bias blamed: ...``) and its largest
    conservation error |Σ R − d| (the bias's share counted when blamed); and the largest
    distance of the inputs-only relevance from gradient × input, over the largest |d|
    (``inputs only: largest |R − gradient × input| / largest |d|``).
    """
    network = to_explain(model)
    if (isinstance(epsilons, (str, bytes)) or not hasattr(epsilons, "__len__")
            or len(epsilons) == 0):
        raise TypeError(f"epsilons must be a non-empty sequence of floats >= 0, got "
                        f"{describe(epsilons)}")
    epsilons = [check_float("epsilons", epsilon, low=0) for epsilon in epsilons]
    gradient_x_input = propagate(network, x, "gradient_x_input", output=output, bias="shared")
    largest_d = np.abs(gradient_x_input.output).max()
    rows = []
    for epsilon in epsilons:
        inputs_only, blamed = (propagate(network, x, Composite(
            MaximumGradient(), matrix, Ignore(), "output", "signal"), output=output,
            bias="shared") for matrix in (MatrixInputsOnly(epsilon), MatrixNormalized(epsilon)))
        rows.append({
            "ε": epsilon,
            "inputs only: largest |R| / largest |d|": np.abs(inputs_only.input).max() / largest_d,
            "inputs only: largest |Σ R − d|": np.abs(inputs_only.output
                                                     - inputs_only.input_total).max(),
            "bias blamed: largest |R| / largest |d|": np.abs(blamed.input).max() / largest_d,
            "bias blamed: largest |Σ R − d|": np.abs(blamed.conservation_error).max(),
            "inputs only: largest |R − gradient × input| / largest |d|": np.abs(
                inputs_only.input - gradient_x_input.input).max() / largest_d})
    return pd.DataFrame(rows).set_index("ε")
