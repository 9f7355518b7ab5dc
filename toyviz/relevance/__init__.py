"""Attribution as a backward pass: one rule per layer type, composites, propagation.

The second essay ("Visualizing neural networks, how to blame the bias") sees every
attribution method of its kind as the same backward pass: run the network forwards, then
walk back through it, reversing each layer with a *rule* chosen for the layer's *type*.
There are three types:

* **maximum** ``b = max_i a_i`` (max pooling),
* **matrix multiply** ``z_j = sum_i a_i w_ij + bias_j`` (Dense, Conv2D),
* **nonlinearity** ``b = f(z)`` element-wise, with ``f(0) = 0`` (ReLU, tanh, ...),

plus reshapes (Flatten), which every rule passes straight through. A
:class:`~toyviz.relevance.composites.Composite`
picks one rule per layer type, how the backward pass starts (with 1 or with the explained
output) and how it ends (the signal itself, the signal times the input, or the signal
times the input's difference from a baseline). The presets in
:data:`~toyviz.relevance.composites.PRESETS` are the classic methods written this way.

Biases are handled as the essay's "blame the bias" proposes: each bias is the weight of an
extra input that is the constant 1. The matrix rules give that input its share like any
other, so every explanation carries the relevance of every bias beside the relevance of
the input, and for the conserving rules ``sum(input) + sum(bias) = explained output``.

Everything runs in numpy float64, vectorised over the batch.

Arrays: ``x: (n, *input_shape)``; relevance of the input has the same shape; the relevance
of the biases of a layer with ``units`` outputs is ``(n, units)`` (for Conv2D, summed over
the positions where the bias is added).

The package is split along these seams, as zennit splits ``core``, ``rules`` and
``composites``:

* :mod:`toyviz.relevance.rules`: :func:`~toyviz.relevance.rules.blip`, the rule classes,
  the registry :data:`~toyviz.relevance.rules.RULES` and
  :func:`~toyviz.relevance.rules.rule`;
* :mod:`toyviz.relevance.composites`: :class:`~toyviz.relevance.composites.Composite`,
  :data:`~toyviz.relevance.composites.PRESETS`, :func:`~toyviz.relevance.composites.preset`;
* :mod:`toyviz.relevance.propagation`: :func:`~toyviz.relevance.propagation.propagate`,
  :class:`~toyviz.relevance.propagation.Explanation`,
  :func:`~toyviz.relevance.propagation.network_from_model`,
  :func:`~toyviz.relevance.propagation.layer_totals`,
  :func:`~toyviz.relevance.propagation.rule_sweep`,
  :func:`~toyviz.relevance.propagation.bias_treatments`;
* :mod:`toyviz.relevance.consistency`: the essay's consistency tables, computed;
* :mod:`toyviz.relevance.evaluation`: region perturbation and parameter randomisation, and
  chapter 2's digit classifier and rule comparison, repeated over networks.

Reading networks is :mod:`toyviz.network`, the one form of a feed-forward network the
whole library shares; its names (:class:`~toyviz.network.Network`,
:class:`~toyviz.network.Dense`, :class:`~toyviz.network.Nonlinearity`,
:data:`~toyviz.network.ACTIVATIONS`, ...) stay importable from here, as does every name of
the submodules above. Importing this package does not import TensorFlow or Keras.

Introduced in :doc:`chapter 2 </book/relevance>`.
"""

from toyviz.network import (
    ACTIVATIONS, OUTPUT_ACTIVATIONS, SUPPORTED_LAYERS, Conv2D, Dense, Folded, Matrix, Maximum,
    Network, Nonlinearity, Reshape, Step)
from toyviz.relevance.composites import (
    ENDS, PRESET_LABELS, PRESETS, STARTS, Composite, preset)
from toyviz.relevance.consistency import (
    max_constants_table, max_constructions_gap, max_constructions_table, max_with_constant,
    relu_max_network, scale_both_ways, scaling_table, softmax_max_network, softness_floor)
from toyviz.relevance.evaluation import (
    PERTURBATIONS, RANDOM_ORDER, RuleComparison, aopc, compare_rules, digit_classifier,
    over_networks, perturbation_curve, randomized_copy, rank_correlation)
from toyviz.relevance.propagation import (
    CHUNK_VALUES, Explanation, bias_treatments, layer_totals, network_from_model, output_weights, propagate,
    rule_sweep)
from toyviz.relevance.rules import (
    LAYER_TYPES, RULES, Ignore, MatrixGradient, MatrixInputsOnly, MatrixNormalized, MatrixRule,
    MaximumGradient, MaximumRadial, MaximumRule, NonlinearityGradient, NonlinearityRule,
    Repeat, Rescale, Rule, Slope, blip, register, rule)

__all__ = [
    # toyviz.network
    "ACTIVATIONS", "OUTPUT_ACTIVATIONS", "SUPPORTED_LAYERS", "Conv2D", "Dense", "Folded",
    "Matrix", "Maximum", "Network", "Nonlinearity", "Reshape", "Step",
    # rules
    "LAYER_TYPES", "RULES", "Ignore", "MatrixGradient", "MatrixInputsOnly",
    "MatrixNormalized", "MatrixRule", "MaximumGradient", "MaximumRadial", "MaximumRule",
    "NonlinearityGradient", "NonlinearityRule", "Repeat", "Rescale", "Rule", "Slope", "blip",
    "register", "rule",
    # composites
    "ENDS", "PRESET_LABELS", "PRESETS", "STARTS", "Composite", "preset",
    # propagation
    "CHUNK_VALUES", "Explanation", "bias_treatments", "layer_totals", "network_from_model", "output_weights",
    "propagate", "rule_sweep",
    # consistency
    "max_constants_table", "max_constructions_gap", "max_constructions_table",
    "max_with_constant", "relu_max_network", "scale_both_ways", "scaling_table",
    "softmax_max_network", "softness_floor",
    # evaluation
    "PERTURBATIONS", "RANDOM_ORDER", "RuleComparison", "aopc", "compare_rules",
    "digit_classifier", "over_networks", "perturbation_curve", "randomized_copy",
    "rank_correlation",
]
