"""Evaluation beyond the essay: region perturbation and parameter randomisation.

:func:`perturbation_curve` and :func:`aopc` measure how fast the explained output drops
when the most relevant inputs are replaced first (Samek et al. 2015);
:func:`randomized_copy` and :func:`rank_correlation` are the cascading parameter
randomisation check of Adebayo et al. 2018: an explanation that reflects what the network
learnt changes when its weights are randomised.

Introduced in chapter 2, :ref:`§Which rule is better? Region perturbation
<relevance-perturbation>` and :ref:`§Sanity check: randomise the parameters <relevance-sanity>`;
the page :doc:`/book/right_reasons` uses both to :ref:`measure goodharting
<reasons-goodharting>`.
"""

import math

import numpy as np

from toyviz._checks import _describe, check_array, check_flag, check_int, check_rng
from toyviz.network import check_finite_weights
from toyviz.relevance.propagation import (
    _chunks, _to_explain, output_weights)

def perturbation_curve(model, x, relevance, output, replacement, steps):
    """Region perturbation (Samek et al. 2015, arXiv:1509.06321, §III): replace the input
    values most relevant first, one at a time, by ``replacement``, and record how much
    the explained output drops.

    Parameters
    ----------
    model : keras.Model or Network
    x : (n, *input_shape) float
    relevance : (n, *input_shape) float, the order (random values give a random order).
    output : as for :func:`~toyviz.relevance.propagation.propagate` (int, pair or (n,) int
        array).
    replacement : (n, *input_shape) float, e.g. uniform noise drawn once.
    steps : int >= 1, how many values to replace.

    Returns
    -------
    (steps + 1,) float64: mean over samples of ``f(x) - f(x after k replacements)``.
    """
    network = _to_explain(model)
    x = check_array("x", x, shape=(None, *network.input_shape), dtype=np.float64,
                    empty=False)
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
    curve = check_array("curve", curve, ndim=1, dtype=np.float64, empty=False)
    return float(curve.mean())


def randomized_copy(model, n_layers, rng):
    """A copy of ``model`` whose top ``n_layers`` layers with weights are re-initialised
    (kernels Glorot-uniform from ``rng``, biases 0, as Keras initialises them): the
    cascading randomisation of Adebayo et al. 2018 ("Sanity checks for saliency maps")."""
    import keras  # lazy: importing toyviz.relevance must not import Keras

    check_finite_weights(model, "model")
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
    from scipy.stats import rankdata  # lazy: scipy.stats takes about 1 s to import

    first = check_array("first", first, dtype=np.float64, empty=False)
    if first.ndim < 2:
        raise ValueError(f"first must be (n, ...) maps, one per sample, got {_describe(first)}")
    second = check_array("second", second, dtype=np.float64)
    if second.shape != first.shape:
        raise ValueError(f"second must have the shape of first, {first.shape}, got "
                         f"{second.shape}")
    absolute = check_flag("absolute", absolute)
    first, second = first.reshape(len(first), -1), second.reshape(len(second), -1)
    if absolute:
        first, second = np.abs(first), np.abs(second)
    ra, rb = rankdata(first, axis=1), rankdata(second, axis=1)
    ra, rb = ra - ra.mean(axis=1, keepdims=True), rb - rb.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ra * rb).sum(axis=1) / np.sqrt((ra ** 2).sum(axis=1) * (rb ** 2).sum(axis=1))

