"""The activations a network may hold, listed once and named once.

:data:`REGISTRY` lists them. Each is an element-wise function known by its Keras name
(``"relu"``, ``"tanh"``), with its derivative, both on float64 arrays. Three of them also
have a parametric form whose name carries its numbers: ``leaky_relu(0.1)``, ``elu(0.5)`` and
``relu(negative_slope=0.1, max_value=6.0)`` (a Keras ``ReLU`` layer's). One parser,
:func:`parse_activation`, reads every name. Every list of activations in toyviz
(:data:`ACTIVATIONS`, the ones a training stack holds, the ones the explorable's browser
code computes, ...) is a selection from the registry.

Introduced in chapter 1, :ref:`§The network <node-removal-network>`, and used by every chapter.
"""

import math
import re
from dataclasses import dataclass

import numpy as np
from scipy.special import erf

from toyviz._checks import describe

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


def _capped_relu(slope, top):
    """A Keras ``ReLU`` layer's function: ``slope * z`` below 0, ``z`` up to ``top``
    (None: no ceiling), ``top`` above."""
    ceiling = np.inf if top is None else top
    return (lambda z: np.where(z > 0, np.minimum(z, ceiling), slope * z),
            lambda z: np.where(z > 0, (z < ceiling).astype(float), slope))


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _gelu(z):
    return 0.5 * z * (1.0 + erf(z / math.sqrt(2.0)))


def _gelu_prime(z):
    return 0.5 * (1.0 + erf(z / math.sqrt(2.0))) + z * np.exp(-0.5 * z * z) / math.sqrt(
        2.0 * math.pi)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _sigmoid_prime(z):
    s = _sigmoid(z)
    return s * (1.0 - s)


def _floats(*texts):
    return tuple(float(text) for text in texts)


def _slope_and_ceiling(slope, top):
    return float(slope), None if top == "None" else float(top)


# --------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Activation:
    """One entry of :data:`REGISTRY`."""

    name: str
    functions: tuple = None     # (f, f'); None: linear (no step), softmax (the output's)
    zero_at_zero: bool = True   # f(0) = 0, which relevance propagation needs
    hidden: bool = True         # allowed before the last layer
    output: bool = False        # allowed on the last layer (a network's ``output``)
    browser: bool = True        # the explorable's browser code computes it
    trainer: str = ""           # the TensorFlow function toyviz.training computes it with
    #                             (its path under ``tf``); "" where a stack can't hold it
    family: object = None       # parameters -> (f, f') of the parametric form
    pattern: str = None         # the parametric form's name, one group per parameter
    read: object = None         # the groups' texts -> the parameters
    form: str = None            # the parametric form as a reader sees it


#: Every activation toyviz knows, by Keras name, in the order the lists below keep. Each
#: entry has ``name``; ``functions``, ``(f, f')`` on float64 arrays (None for ``linear``,
#: which adds no step, and ``softmax``, which the network's output applies);
#: ``zero_at_zero`` (f(0) = 0, which relevance needs); where it may stand (``hidden``,
#: ``output``); who else computes it (``browser``: the explorable's front end,
#: ``trainer``: the TensorFlow function :mod:`toyviz.training`'s loop computes it with, by
#: its path under ``tf``); and, for a parametric form,
#: ``family`` (its parameters -> ``(f, f')``), ``pattern`` (the regular expression of its
#: name, one group per parameter), ``read`` (the groups' texts -> the parameters) and
#: ``form`` (the name as a reader sees it).
REGISTRY = (
    _Activation("relu", (_relu, _relu_prime), trainer="nn.relu", family=_capped_relu,
                pattern=r"relu\(negative_slope=([^,()]+), max_value=([^,()]+)\)",
                read=_slope_and_ceiling,
                form="relu(negative_slope=slope, max_value=top or None)"),
    _Activation("relu6", (lambda z: np.clip(z, 0.0, 6.0),
                          lambda z: ((z > 0) & (z < 6)).astype(float))),
    _Activation("leaky_relu", _leaky(0.2), family=_leaky, pattern=r"leaky_relu\(([^()]+)\)",
                read=_floats, form="leaky_relu(slope)"),
    _Activation("elu", _elu(1.0), family=_elu, pattern=r"elu\(([^()]+)\)", read=_floats,
                form="elu(alpha)"),
    _Activation("selu", (lambda z: _SELU_SCALE * _elu(_SELU_ALPHA)[0](z),
                         lambda z: _SELU_SCALE * _elu(_SELU_ALPHA)[1](z))),
    _Activation("tanh", (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2), trainer="tanh"),
    _Activation("softsign", (lambda z: z / (1.0 + np.abs(z)),
                             lambda z: 1.0 / (1.0 + np.abs(z)) ** 2)),
    _Activation("silu", (lambda z: z * _sigmoid(z),
                         lambda z: _sigmoid(z) * (1.0 + z * (1.0 - _sigmoid(z))))),
    _Activation("gelu", (_gelu, _gelu_prime), browser=False),
    _Activation("linear", output=True, trainer="identity"),
    _Activation("softmax", zero_at_zero=False, hidden=False, output=True, browser=False),
    _Activation("sigmoid", (_sigmoid, _sigmoid_prime), zero_at_zero=False, output=True,
                trainer="sigmoid"),
)

_BY_NAME = {entry.name: entry for entry in REGISTRY}

#: Element-wise functions with f(0) = 0 that the propagation understands, by Keras name:
#: ``name -> (f, f')`` on float64 arrays.
ACTIVATIONS = {entry.name: entry.functions for entry in REGISTRY
               if entry.hidden and entry.functions and entry.zero_at_zero}

#: Hidden activations with f(0) != 0: the forward pass runs them, relevance refuses them
#: (its rules need f(0) = 0). ``name -> (f, f')``.
OTHER_ACTIVATIONS = {entry.name: entry.functions for entry in REGISTRY
                     if entry.hidden and entry.functions and not entry.zero_at_zero}

#: Activations allowed on the last layer only; the network's ``output``.
OUTPUT_ACTIVATIONS = tuple(entry.name for entry in REGISTRY if entry.output)


def parse_activation(function):
    """The activation an exact name means, as ``(entry, parameters)``: its
    :data:`REGISTRY` entry, and the numbers of a parametric form (``()`` for a plain
    name). ``"tanh"`` gives tanh's entry and ``()``, ``"leaky_relu(0.1)"`` leaky_relu's
    and ``(0.1,)``, ``"relu(negative_slope=0.1, max_value=None)"`` relu's and
    ``(0.1, None)`` (None: no ceiling). Returns None for a name the registry does not know.

    Raises ``TypeError`` if ``function`` is not a str, and ``ValueError`` if a parametric
    form's number is not one (``leaky_relu(x)``).
    """
    if not isinstance(function, str):
        raise TypeError(f"function must be an activation's name (str), got "
                        f"{describe(function)}")
    if function in _BY_NAME:
        return _BY_NAME[function], ()
    for entry in REGISTRY:
        found = entry.pattern and re.fullmatch(entry.pattern, function)
        if found:
            return entry, entry.read(*found.groups())
    return None
