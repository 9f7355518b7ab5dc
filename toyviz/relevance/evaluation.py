"""Evaluation beyond the essay: region perturbation and parameter randomisation.

:func:`perturbation_curve` and :func:`aopc` measure how fast the explained output drops
when the most relevant inputs are replaced first (Samek et al. 2015);
:func:`randomized_copy` and :func:`rank_correlation` are the cascading parameter
randomisation check of Adebayo et al. 2018: an explanation that reflects what the network
learnt changes when its weights are randomised. :func:`digit_classifier` trains chapter
2's digit network from a generator, :func:`compare_rules` runs both checks for every preset
on one network, and :func:`over_networks` sums several networks up with intervals.

Introduced in chapter 2, :ref:`§Which rule is better? Region perturbation
<relevance-perturbation>` and :ref:`§Sanity check: randomise the parameters <relevance-sanity>`;
the page :doc:`/book/right_reasons` uses both to :ref:`measure goodharting
<reasons-goodharting>`.
"""

import dataclasses
import math

import numpy as np
import pandas as pd

from toyviz import intervals
from toyviz._checks import (
    describe, check_array, check_flag, check_float, check_int, check_labels, check_rng)
from toyviz.models import compile_classifier
from toyviz.network import check_finite_weights
from toyviz.relevance.composites import PRESET_LABELS, PRESETS
from toyviz.relevance.propagation import (
    chunks, output_weights, propagate, to_explain)

def perturbation_curve(model, x, relevance, output, replacement, steps):
    """Region perturbation (Samek et al. 2015, arXiv:1509.06321, §III): replace the input
    values most relevant first, one at a time, by ``replacement``, and record how much
    the explained output drops.

    Parameters
    ----------
    model : keras.Model or Network
    x : float array of shape (n,) + input_shape
    relevance : (n, *input_shape) float, the order (random values give a random order).
    output : as for :func:`~toyviz.relevance.propagation.propagate` (int, pair or (n,) int
        array).
    replacement : (n, *input_shape) float, e.g. uniform noise drawn once.
    steps : int >= 1, how many values to replace.

    Returns
    -------
    (steps + 1,) float64: mean over samples of ``f(x) - f(x after k replacements)``.
    """
    network = to_explain(model)
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
    logits = np.concatenate([network(batch[chunk]) for chunk in chunks(network, len(batch))])
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
        raise ValueError(f"first must be (n, ...) maps, one per sample, got {describe(first)}")
    second = check_array("second", second, dtype=np.float64)
    if second.shape != first.shape:
        raise ValueError(f"first and second must have the same shape, got {first.shape} "
                         f"and {second.shape}")
    absolute = check_flag("absolute", absolute)
    first, second = first.reshape(len(first), -1), second.reshape(len(second), -1)
    if absolute:
        first, second = np.abs(first), np.abs(second)
    ra, rb = rankdata(first, axis=1), rankdata(second, axis=1)
    ra, rb = ra - ra.mean(axis=1, keepdims=True), rb - rb.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ra * rb).sum(axis=1) / np.sqrt((ra ** 2).sum(axis=1) * (rb ** 2).sum(axis=1))



#: The fills and orders of region perturbation that :func:`compare_rules` runs, in its
#: columns' order: (label, fill, rank by absolute relevance). "noise" replaces a pixel with uniform
#: noise on [0, 1] (Samek et al. 2015), "zero fill" with 0 (a blank pixel).
PERTURBATIONS = (("noise, signed", "noise", False), ("zero fill, signed", "zero", False),
                 ("noise, |R|", "noise", True), ("zero fill, |R|", "zero", True))

#: The label of the random order, the floor of region perturbation.
RANDOM_ORDER = "random order"


def digit_classifier(x, y, rng, epochs=12, batch_size=128, learning_rate=0.01):
    """Train chapter 2's digit classifier: a 3 × 3 convolution with 8 ReLU channels, 2 × 2
    max pooling, a Dense layer of 32 ReLU nodes and 10 softmax outputs, with Adam
    (:func:`toyviz.models.compile_classifier`).

    The initial kernels (Glorot-uniform, biases 0) and the order of the batches in every
    epoch are drawn from ``rng``, so a generator gives one network, and other generators
    give others trained the same way.

    Introduced in chapter 2, :ref:`§Digits <relevance-digits>`.

    Parameters
    ----------
    x : (n, 8, 8, 1) float, n >= 1
    y : (n,) int in 0..9
    rng : numpy.random.Generator
    epochs : int in 1..10,000
    batch_size : int >= 1
    learning_rate : float > 0

    Returns
    -------
    keras.Model
    """
    x = check_array("x", x, shape=(None, 8, 8, 1), dtype=np.float32, empty=False)
    y = check_labels("y", y, len(x), 10, empty=True, integer_dtype=True)
    rng = check_rng("rng", rng)
    epochs = check_int("epochs", epochs, low=1, high=10_000)
    batch_size = check_int("batch_size", batch_size, low=1, high=2**31 - 1)
    import keras  # lazy: importing toyviz.relevance must not import Keras

    seeds = [int(seed) for seed in rng.integers(0, 2**31 - 1, size=2)]
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv",
                            kernel_initializer=keras.initializers.GlorotUniform(seeds[0])),
        keras.layers.MaxPooling2D(2, name="pool"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(32, activation="relu", name="dense",
                           kernel_initializer=keras.initializers.GlorotUniform(seeds[1])),
        keras.layers.Dense(10, activation="softmax", name="output",
                           kernel_initializer=keras.initializers.GlorotUniform(seeds[1] + 1))])
    compile_classifier(model, learning_rate=learning_rate)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        model.fit(x[order], y[order], epochs=1, batch_size=batch_size, shuffle=False,
                  verbose=0)
    return model


@dataclasses.dataclass
class RuleComparison:
    """What :func:`compare_rules` measures on one network.

    Attributes
    ----------
    aopc : pandas.DataFrame
        AOPC of every preset and of the random order (rows, by their labels), under each
        of :data:`PERTURBATIONS` (columns).
    curves : dict
        Label -> (steps + 1,) float64, the perturbation curve under noise, signed order.
    randomisation : pandas.DataFrame
        Mean rank correlation of absolute relevance before and after re-initialising the top
        layers (rows: the layers randomised, from the top; columns: the presets' labels).
    """

    aopc: pd.DataFrame
    curves: dict
    randomisation: pd.DataFrame

    def __post_init__(self):
        columns = [column for column, _, _ in PERTURBATIONS]
        if (not isinstance(self.aopc, pd.DataFrame) or list(self.aopc.columns) != columns
                or RANDOM_ORDER not in self.aopc.index or len(self.aopc) < 2):
            raise ValueError(f"aopc must be a DataFrame with the columns {columns} and a row "
                             f"{RANDOM_ORDER!r} beside the presets', got "
                             f"{describe(self.aopc)}")
        check_array("aopc", self.aopc.to_numpy(), ndim=2, dtype=np.float64)
        if not isinstance(self.curves, dict) or not all(
                isinstance(key, str) for key in self.curves):
            raise TypeError(f"curves must be a dict of label -> curve, got "
                            f"{describe(self.curves)}")
        self.curves = {key: check_array(f"curves[{key!r}]", value, ndim=1, dtype=np.float64)
                       for key, value in self.curves.items()}
        presets = [label for label in self.aopc.index if label != RANDOM_ORDER]
        if (not isinstance(self.randomisation, pd.DataFrame) or len(self.randomisation) < 1
                or list(self.randomisation.columns) != presets):
            raise ValueError(f"randomisation must be a DataFrame with a row per layer "
                             f"randomised and the presets of aopc, {presets}, as its columns, "
                             f"got {describe(self.randomisation)}")
        check_array("randomisation", self.randomisation.to_numpy(), ndim=2, dtype=np.float64,
                    finite=False)

    @property
    def gains(self):
        """Each AOPC minus the random order's under the same perturbation, above 0 where
        the ranking beats chance (a pandas DataFrame with a row per preset and a column
        per perturbation)."""
        return self.aopc.drop(index=RANDOM_ORDER) - self.aopc.loc[RANDOM_ORDER]

    @property
    def kept(self):
        """Each preset's mean rank correlation once every layer is randomised (a pandas
        Series)."""
        return self.randomisation.iloc[-1]

    def values(self):
        """Name -> number, one network's values for :func:`toyviz.claims.tally`:
        ``gain_<preset>`` (AOPC minus the random order's, under noise, signed),
        ``kept_<preset>`` (rank correlation after full randomisation), and
        ``ink_<preset>_<perturbation>`` (every gain, the perturbation's label in
        snake case), with ``<preset>`` the name in
        :data:`~toyviz.relevance.composites.PRESETS`."""
        keys = {label: name for name, label in PRESET_LABELS.items()}
        out = {}
        for label, row in self.gains.iterrows():
            key = keys[label]
            out[f"gain_{key}"] = float(row[PERTURBATIONS[0][0]])
            out[f"kept_{key}"] = float(self.kept[label])
            for column, value in row.items():
                out[f"ink_{key}_{_snake(column)}"] = float(value)
        return out


def _snake(label):
    return label.replace(",", "").replace("|", "").replace(" ", "_")


def compare_rules(model, x, output, baseline, rng, steps=32, presets=None):
    """Region perturbation and the cascading randomisation check, for every preset, on
    one network: the rule comparison of chapter 2, as it is repeated over networks.

    For each preset the explanation of ``output`` ranks the pixels; :func:`aopc` of
    :func:`perturbation_curve` is taken under each of :data:`PERTURBATIONS`, beside a
    random order (the floor) drawn from ``rng``, with the same noise for every order. Then
    the layers with weights are re-initialised from the top (:func:`randomized_copy`, one
    more layer at a time) and the mean :func:`rank_correlation` of absolute relevance before and
    after is taken.

    Introduced in chapter 2, :ref:`§Which rule is better? <relevance-perturbation>`.

    Parameters
    ----------
    model : keras.Model
    x : (n, *input_shape) float
    output : as for :func:`~toyviz.relevance.propagation.propagate`
    baseline : float array of shape input_shape, for the ``rescale`` preset
    rng : numpy.random.Generator (noise, random order, re-initialised weights)
    steps : int >= 1, pixels replaced
    presets : None (every preset in :data:`~toyviz.relevance.composites.PRESETS`) or a
        list of their names

    Returns
    -------
    RuleComparison
    """
    check_finite_weights(model, "model")
    network = to_explain(model)
    x = check_array("x", x, shape=(None, *network.input_shape), dtype=np.float64,
                    empty=False)
    rng = check_rng("rng", rng)
    steps = check_int("steps", steps, low=1, high=int(np.prod(network.input_shape)))
    if presets is None:
        presets = list(PRESETS)
    if (not isinstance(presets, (list, tuple)) or not presets
            or not all(isinstance(name, str) and name in PRESETS for name in presets)):
        raise ValueError(f"presets must be None or a non-empty list of names from "
                         f"{sorted(PRESETS)}, got {presets!r}")
    output_weights(output, network.n_outputs, len(x))     # checks output
    explanations = {PRESET_LABELS[name]: propagate(network, x, name, output=output,
                                                   baseline=baseline).input
                    for name in presets}
    noise = rng.uniform(0.0, 1.0, size=x.shape)
    fills = {"noise": noise, "zero": np.zeros_like(x)}
    orders = {**explanations, RANDOM_ORDER: rng.random(size=x.shape)}
    aopc_rows, curves = {}, {}
    for label, order in orders.items():
        row = {}
        for column, fill, absolute in PERTURBATIONS:
            curve = perturbation_curve(network, x, np.abs(order) if absolute else order,
                                       output, fills[fill], steps)
            row[column] = aopc(curve)
            if column == PERTURBATIONS[0][0]:
                curves[label] = curve
        aopc_rows[label] = row
    table = pd.DataFrame.from_dict(aopc_rows, orient="index")
    table.index.name = "ranking"
    weighted = [layer.name for layer in model.layers if layer.get_weights()][::-1]
    rows = []
    for depth in range(1, len(weighted) + 1):
        scrambled = randomized_copy(model, depth, rng)
        row = {"randomised from the top": " + ".join(weighted[:depth])}
        for name in presets:
            after = propagate(scrambled, x, name, output=output, baseline=baseline).input
            row[PRESET_LABELS[name]] = float(np.nanmean(rank_correlation(
                explanations[PRESET_LABELS[name]], after)))
        rows.append(row)
    return RuleComparison(table, curves, pd.DataFrame(rows).set_index("randomised from the top"))


def over_networks(comparisons, confidence=0.95):
    """The rule comparison of several networks, summed up per preset, with Student-t
    intervals over the networks.

    Parameters
    ----------
    comparisons : list of RuleComparison, at least 2 (one per network)
    confidence : float in (0, 1)

    Returns
    -------
    pandas.DataFrame, one row per preset label: ``gain`` (mean over the networks of AOPC
    minus the random order's, noise, signed order) with ``gain_low`` and ``gain_high``,
    ``kept`` (mean rank correlation once every layer is randomised) with ``kept_low`` and
    ``kept_high``, then each network's values, ``gain_1`` ... ``gain_n`` and ``kept_1`` ...
    ``kept_n``, in the order given.
    """
    if (not isinstance(comparisons, (list, tuple)) or len(comparisons) < 2
            or not all(isinstance(one, RuleComparison) for one in comparisons)):
        raise TypeError(f"comparisons must be a list of at least 2 RuleComparison (one per "
                        f"network), got {describe(comparisons)}")
    labels = list(comparisons[0].kept.index)
    if any(list(one.kept.index) != labels for one in comparisons):
        raise ValueError("comparisons must all compare the same presets, got "
                         f"{[list(one.kept.index) for one in comparisons]}")
    confidence = check_float("confidence", confidence, low=0, high=1, low_open=True,
                             high_open=True)
    columns = {"gain": pd.DataFrame({k: one.gains[PERTURBATIONS[0][0]]
                                     for k, one in enumerate(comparisons, 1)}),
               "kept": pd.DataFrame({k: one.kept for k, one in enumerate(comparisons, 1)})}
    out = pd.DataFrame(index=pd.Index(labels, name="ranking"))
    for name, values in columns.items():
        out[name] = values.mean(axis=1)
        out[f"{name}_low"], out[f"{name}_high"] = intervals.from_summary(
            out[name], values.std(axis=1, ddof=1).reindex(out.index),
            np.full(len(labels), len(comparisons)), confidence)
    for name, values in columns.items():
        for k in values.columns:
            out[f"{name}_{k}"] = values[k]
    return out
