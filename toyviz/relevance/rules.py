"""Rules: one small object per rule, in a registry by layer type and name.

A rule reverses one layer of a given *type* on the way back: a maximum (max pooling), a
matrix multiply (Dense, Conv2D) or an element-wise nonlinearity with ``f(0) = 0``. Each
rule is a class whose docstring gives its formula and the paper it comes from;
:func:`register` files it in :data:`RULES` and :func:`rule` builds one by name, as
zennit's ``rules`` module does. :class:`MatrixInputsOnly`, the variant that "blame the
bias" replaces, is deliberately left out of the registry. :func:`blip` is LRP-epsilon's
stabiliser.

Introduced in chapter 2, :ref:`§The rules <relevance-rules>`; :class:`MatrixInputsOnly` in
chapter 2, :ref:`§Blame the bias <relevance-blame-bias>`.
"""

import abc

import numpy as np

from toyviz._checks import describe, check_array, check_choice, check_float

#: The layer types a rule can reverse (see the package docstring).
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
    z = check_array("z", z, dtype=np.float64)
    return z + np.where(z >= 0, epsilon, -epsilon)


# --------------------------------------------------------------------------------------
# Rules: one small object per rule, in a registry by layer type and name
# --------------------------------------------------------------------------------------

#: ``RULES[layer_type][name]`` is the rule class; see :func:`rule`.
RULES = {layer_type: {} for layer_type in LAYER_TYPES}


def register(cls):
    """Class decorator: add a rule class to :data:`RULES` under its layer type and name."""
    if not (isinstance(cls, type) and issubclass(cls, Rule)) or cls.layer_type not in RULES \
            or not isinstance(cls.name, str):
        raise TypeError(f"cls must be a Rule subclass with a layer_type among "
                        f"{list(RULES)} and a name, got {describe(cls)}")
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
    ``x_w - x_bar_v`` (``v`` the baseline's winner). Chapter 2, :ref:`§Rescale and max
    pooling <relevance-rescale-max>`, measures how much this costs on the digits network."""

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
    Not in :data:`RULES`: it is shown in chapter 2, :ref:`§Blame the bias
    <relevance-blame-bias>`, as the contrast, not offered as a rule to mix.
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

