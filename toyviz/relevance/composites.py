"""Composites: one rule per layer type, and how the backward pass starts and ends.

A :class:`Composite` maps each layer type to a rule (zennit's ``LayerMapComposite``), says
whether the pass starts from 1 or from the explained output (:data:`STARTS`) and whether
the input's relevance is the signal reaching it, the signal times the input, or the signal
times the input's difference from a baseline (:data:`ENDS`). :data:`PRESETS` writes the
classic methods this way, :func:`preset` builds one by name and :data:`PRESET_LABELS`
names them as the book does.

Introduced in chapter 2, :ref:`§The rules <relevance-rules>` and :ref:`§Relevance maps of
the circle model <relevance-maps>`.
"""

from dataclasses import dataclass

from toyviz._checks import _describe, check_choice, check_float
from toyviz.relevance.rules import (
    LAYER_TYPES, RULES, Ignore, MatrixGradient, MatrixNormalized, MatrixRule, MaximumGradient,
    MaximumRule, NonlinearityGradient, NonlinearityRule, Repeat, Rescale, Rule)

#: Where the backward pass starts, with the signal 1 or with the explained output (see
#: :class:`Composite`).
STARTS = ("one", "output")
#: How the backward pass ends, with the signal, the signal times the input or the signal
#: times the input minus the baseline (see :class:`Composite`).
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
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a str, got {_describe(self.name)}")

    @property
    def needs_baseline(self):
        """True if the composite compares to a baseline, as it does when it ends
        ``times_difference`` or one of its rules needs one
        (:class:`~toyviz.relevance.rules.Rescale`)."""
        return self.end == "times_difference" or any(
            getattr(self, t).needs_baseline for t in LAYER_TYPES)


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
    if not isinstance(name, str):
        raise TypeError(f"name must be a preset name (str), one of {sorted(PRESETS)}, got "
                        f"{_describe(name)}")
    if name not in PRESETS:
        raise ValueError(f"name must be one of the presets {sorted(PRESETS)}, got {name!r}")
    epsilon = check_float("epsilon", epsilon, low=0)
    return PRESETS[name](epsilon)

