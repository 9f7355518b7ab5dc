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

import functools
from dataclasses import dataclass
from typing import NamedTuple

from toyviz._checks import describe, check_choice, check_float
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
                                f"{sorted(RULES[layer_type])}), got {describe(value)}")
        check_choice("start", self.start, STARTS)
        check_choice("end", self.end, ENDS)
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a str, got {describe(self.name)}")

    @property
    def needs_baseline(self):
        """True if the composite compares to a baseline, as it does when it ends
        ``times_difference`` or one of its rules needs one
        (:class:`~toyviz.relevance.rules.Rescale`)."""
        return self.end == "times_difference" or any(
            getattr(self, t).needs_baseline for t in LAYER_TYPES)


class _Preset(NamedTuple):
    """One preset: the book's label, the rule classes for each layer type, where the
    backward pass starts and how it ends, and the matrix rule's epsilon (None: the rule
    takes none; "epsilon": the one :func:`preset` is given; a number: that one)."""

    label: str
    maximum: type
    matrix: type
    nonlinearity: type
    start: str
    end: str
    epsilon: object = None


#: Each preset, written once: it makes :data:`PRESETS`, :data:`PRESET_LABELS` and the table
#: in :func:`preset`'s docstring.
_TABLE = {
    "gradient": _Preset("gradient", MaximumGradient, MatrixGradient, NonlinearityGradient,
                        "one", "signal"),
    "gradient_x_input": _Preset("gradient × input", MaximumGradient, MatrixGradient,
                                NonlinearityGradient, "one", "times_input"),
    "lrp_0": _Preset("LRP-0", MaximumGradient, MatrixNormalized, Ignore, "output", "signal",
                     epsilon=0.0),
    "lrp_epsilon": _Preset("LRP-ε", MaximumGradient, MatrixNormalized, Ignore, "output",
                           "signal", epsilon="epsilon"),
    "deconvnet": _Preset("deconvnet", MaximumGradient, MatrixGradient, Repeat, "one",
                         "signal"),
    "rescale": _Preset("rescale (baseline)", MaximumGradient, MatrixGradient, Rescale, "one",
                       "times_difference"),
}


def _make(name, epsilon):
    """The preset ``name`` of :data:`_TABLE` as a new :class:`Composite` (new rule objects
    each time: a rule's epsilon may be changed)."""
    row = _TABLE[name]
    if row.epsilon is None:
        matrix = row.matrix()
    else:
        matrix = row.matrix(epsilon if row.epsilon == "epsilon" else row.epsilon)
    return Composite(row.maximum(), matrix, row.nonlinearity(), row.start, row.end, name)


#: Preset composites by name, each a function of ``epsilon`` (see :func:`preset`).
PRESETS = {name: functools.partial(_make, name) for name in _TABLE}

#: How the book labels the presets.
PRESET_LABELS = {name: row.label for name, row in _TABLE.items()}


def preset(name, epsilon=0.01):
    """The preset composite ``name`` (one of :data:`PRESETS`).

    {table}

    ``epsilon`` (>= 0) is used by ``lrp_epsilon`` only.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a preset name (str), one of {sorted(PRESETS)}, got "
                        f"{describe(name)}")
    if name not in PRESETS:
        raise ValueError(f"name must be one of the presets {sorted(PRESETS)}, got {name!r}")
    epsilon = check_float("epsilon", epsilon, low=0)
    return PRESETS[name](epsilon)


def _table_text():
    """:data:`_TABLE` as the reStructuredText table of :func:`preset`'s docstring."""
    starts = {"one": "1", "output": "y"}
    ends = {"signal": "signal", "times_input": "times input",
            "times_difference": "times (x - x̄)"}
    epsilons = {None: "", 0.0: " ε=0", "epsilon": " ε"}
    rows = [("name", "maximum", "matrix multiply", "nonlinearity", "start", "end")]
    rows += [(name, row.maximum.name, row.matrix.name + epsilons[row.epsilon],
              row.nonlinearity.name, starts[row.start], ends[row.end])
             for name, row in _TABLE.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    rule = "  ".join("=" * width for width in widths)
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
             for row in rows]
    return "\n    ".join([rule, lines[0], rule, *lines[1:], rule])


if preset.__doc__:  # None under python -OO
    preset.__doc__ = preset.__doc__.replace("{table}", _table_text())
