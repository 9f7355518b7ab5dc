"""Exact reductions over all ``2**n`` masks of a layer, streamed chunk by chunk.

Introduced in :ref:`reproducibility-exact`, for layers wider than chapter 1's
(:doc:`/book/node_removal` sweeps its 20 nodes' table whole).

Shapley and Banzhaf values, the best and worst mask of every size, the moments and the
loss densities when every node is on with probability ``p``, and the correlation between
a mask's value and its complement's are all sums over masks. So they need not hold the
``2**n`` table of :func:`toyviz.masking.sweep_all_masks`: split the masks into chunks,
reduce each chunk to a few small arrays (sums by size, by size and node, the extremes of
each size, binned densities by size), and add the chunks up. Memory then grows with the
chunk, not with ``2**n``, and a 28- or 32-node layer (2**28 to 2**32 masks) is a matter
of time, which the chunks spread over the cores of one machine or the workers of a
cluster.

A chunk is a range of *high halves* of the mask index (``index = j * 2**n_low + k``)
together with its mirror image ``2**n_high - 1 - j``, so every mask's complement
(``2**n - 1 - index``) lies in the same chunk. In chapter 1's case (two classes, the last
hidden layer masked alone) the values come from the split tables of
:mod:`toyviz._split`, the values and the per-size sums from its numba kernels or from
numpy, whichever is faster here: :func:`problem` times both on a sample of the problem, as
``engine="auto"`` of :func:`toyviz.masking.sweep_all_masks` does (see
:mod:`toyviz._calibration`; the choice is kept per CPU, numba and numpy/BLAS versions and
problem shape, in memory and in ``$XDG_CACHE_HOME/toyviz/engine-calibration.json``), and
keeps the choice in the problem (``Problem.engine``), so that every chunk, on any
worker, runs the same engine. Without numba, or for any other network, the values come
from numpy (:func:`toyviz.masking.mask_losses`).

Running it (:func:`exact_landscape`, or :func:`problem` then :func:`run`):

* locally, chunk after chunk with a tqdm bar; with ``folder=`` every finished chunk is
  saved there (``chunk-000012.npz``, no pickles), so an interrupted run (Ctrl-C, a killed
  kernel) picks up where it stopped when called again with the same folder;
* on a cluster, with ``client=`` a ``dask.distributed.Client``: the chunks are mapped
  over its workers with ``client.map`` and combined on the caller's side, in chunk
  order, so the result is the local one to the last bit. Any cluster dask can reach
  works (``LocalCluster``, ``dask-jobqueue`` for SLURM/PBS, ``dask-kubernetes``, a
  ``dask scheduler`` with ``dask worker`` processes started by hand); the workers need
  this package and its dependencies installed in the same versions.

The sums are float64; the chunks are combined in a fixed order, so results do not depend
on the number of threads, workers or chunks already done. They agree with the table
functions of :mod:`toyviz.landscape` applied to the same values to rounding (the tests
hold them to a relative 1e-12), and the values themselves agree with the float64
engine to about 1e-7 (float32 sums ``X + Y``, and float32 logarithms on the numpy path;
the tests hold them to 1e-5). The two engines differ in those last bits, so a problem's
fingerprint includes its engine: chunks saved by one are not mixed with the other's.
"""

import contextlib
import hashlib
import math
import os
from pathlib import Path

import numpy as np

from toyviz import _calibration, _fused, masking
from toyviz._checks import describe, check_array, check_flag, check_float, check_int
from toyviz._progress import progress_bar
from toyviz._split import SplitTables

#: Most masked nodes this module handles (``2**36`` masks; past ``2**32`` a cluster is needed).
MAX_NODES = 36
#: Most low bits of the mask index: the low table holds ``2**LOW_BITS`` rows of points.
LOW_BITS = 12
#: What a mask's value can be: the mean loss, or its logarithm.
VALUES = ("loss", "log_loss")
#: Values up to which a density is summed directly (beyond: binned, as in
#: :func:`toyviz.landscape.gaussian_density`).
DIRECT_DENSITY = 20000
_FORMAT = 1          # of the saved chunk files


class Problem:
    """Everything a chunk needs, built by :func:`problem` and small enough to send to
    cluster workers (the network's weights, the points, the settings). Attributes:
    ``n_nodes``, ``n_low``, ``n_chunks``, ``value``, ``grid``, ``bandwidth``,
    ``centre`` (the value of the mask with every node on: the sums are of values minus
    it, which keeps their rounding small), ``engine`` ("numba" or "numpy", the faster
    here, chosen once for every chunk), ``fingerprint`` (a hash of all of it).

    Parameters (as :func:`problem` passes them): ``n_nodes`` int in [1, MAX_NODES];
    ``value``, ``grid``, ``bandwidth``, ``chunk_size`` as in :func:`problem`; ``fast``
    bool; ``parts`` a dict, ``{"a": (P,), "c": (P, n_nodes)}`` when ``fast``, else
    ``{"target": MaskedNetwork, "x": ..., "y": ...}``.
    """

    def __init__(self, n_nodes, value, grid, bandwidth, chunk_size, fast, parts):
        n_nodes = check_int("n_nodes", n_nodes, low=1, high=MAX_NODES)
        if not isinstance(value, str) or value not in VALUES:
            raise ValueError(f"value must be one of {VALUES}, got {describe(value)}")
        if grid is not None:
            grid = check_array("grid", grid, ndim=1, dtype=np.float64)
            if len(grid) < 2 or np.any(np.diff(grid) <= 0):
                raise ValueError(f"grid must be increasing with at least 2 points, got "
                                 f"{describe(grid)}")
        bandwidth = check_float("bandwidth", bandwidth, low=0, low_open=True)
        chunk_size = check_int("chunk_size", chunk_size, low=1)
        fast = check_flag("fast", fast)
        parts = _check_parts(parts, fast, n_nodes)
        self.n_nodes, self.value = n_nodes, value
        self.grid, self.bandwidth = grid, bandwidth
        self.fast, self.parts = fast, parts
        self.n_low = min(n_nodes // 2, LOW_BITS)
        self.n_high = n_nodes - self.n_low
        n_k, half = 2**self.n_low, 2**(self.n_high - 1)
        self.pairs = max(1, min(half, chunk_size // (2 * n_k)))   # high halves per side
        self.n_chunks = -(-half // self.pairs)
        self.n_masks = 2**n_nodes
        self._tables = None
        self.engine = _choose_engine(self)
        full = _values(self, np.array([2**self.n_high - 1]))[0, -1]
        self.centre = float(full)
        digest = hashlib.sha256()
        for item in (_FORMAT, n_nodes, value, bandwidth, self.n_low, self.pairs, fast,
                     self.centre, self.engine):
            digest.update(repr(item).encode())
        for array in [grid if grid is not None else np.zeros(0), *_arrays(parts)]:
            digest.update(np.ascontiguousarray(array).tobytes())
        self.fingerprint = digest.hexdigest()[:16]

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_tables"] = None          # rebuilt where the chunk runs
        return state

    def __repr__(self):
        return (f"Problem(n_nodes={self.n_nodes}, value={self.value!r}, "
                f"n_chunks={self.n_chunks}, fast={self.fast})")

    def rows(self, number):
        """The high halves of chunk ``number``: a range and its mirror, (2 m,) int64."""
        first = number * self.pairs
        last = min(first + self.pairs, 2**(self.n_high - 1))
        side = np.arange(first, last, dtype=np.int64)
        return np.concatenate([side, 2**self.n_high - 1 - side[::-1]])


def _check_parts(parts, fast, n_nodes):
    """``parts`` of a :class:`Problem`, checked against ``fast`` and ``n_nodes``."""
    if not isinstance(parts, dict):
        raise TypeError(f"parts must be a dict, got {describe(parts)}")
    if fast:
        if set(parts) != {"a", "c"}:
            raise ValueError(f"parts must have keys a and c when fast, got {sorted(parts)}")
        c = check_array("parts c", parts["c"], shape=(None, n_nodes), dtype=np.float64)
        a = check_array("parts a", parts["a"], shape=(len(c),), dtype=np.float64)
        return {"a": a, "c": c}

    if set(parts) != {"target", "x", "y"}:
        raise ValueError(f"parts must have keys target, x and y, got {sorted(parts)}")
    if not isinstance(parts["target"], masking.MaskedNetwork):
        raise TypeError(f"parts target must be a toyviz.masking.MaskedNetwork, got "
                        f"{describe(parts['target'])}")
    if parts["target"].n_nodes != n_nodes:
        raise ValueError(f"parts target must have n_nodes = {n_nodes} masked nodes, got "
                         f"{parts['target'].n_nodes}")
    x = check_array("parts x", parts["x"], dtype=np.float64)
    y = check_array("parts y", parts["y"], shape=(len(x),), dtype=None)
    masking.mask_losses(parts["target"], x[:1], y[:1], np.ones((1, n_nodes)),
                        progress=False)          # checks x, y and the network once
    return {"target": parts["target"], "x": x, "y": y}


def _arrays(parts):
    if "a" in parts:
        return [parts["a"], parts["c"]]
    target = parts["target"]
    arrays = [parts["x"], parts["y"]]
    for step in target.network.steps:
        arrays += [getattr(step, name) for name in ("kernel", "bias")
                   if getattr(step, name, None) is not None]
    return arrays


def problem(model=None, x=None, y=None, layers=None, value="loss", grid=None,
            bandwidth=0.03, chunk_size=2**20, contributions=None):
    """Set up an exact landscape over all masks of ``layers`` of ``model`` on ``(x, y)``.

    Parameters
    ----------
    model : keras.Model, toyviz.network.Network or toyviz.masking.MaskedNetwork
        The network (or None with ``contributions``).
    x : (n_points, *input_shape) float
        The points.
    y : (n_points,) int
        Their class labels.
    layers : str, sequence of str or None
        The hidden layer(s) to mask, as in :func:`toyviz.masking.masked_network` (at most
        :data:`MAX_NODES` nodes in all).
    value : str
        ``"loss"`` (the mean cross-entropy over the points) or ``"log_loss"`` (its log).
    grid : (g,) increasing float or None
        Where to evaluate the densities (None: no densities).
    bandwidth : float > 0
        The densities' Gaussian kernel width.
    chunk_size : int >= 1
        About how many masks a chunk holds (its memory: 8 bytes a mask, a few times
        over), rounded to whole high halves of the index.
    contributions : pair of arrays or None
        ``(a, c)`` instead of a model, x and y: chapter 1's form ``loss_p(m) =
        softplus(a_p + m . c_p)`` with ``a`` (n_points,) and ``c`` (n_points, n_nodes).

    Returns
    -------
    Problem
    """
    if contributions is not None:
        if model is not None or x is not None or y is not None:
            raise ValueError("contributions replaces model, x and y: give one or the other")
        if not isinstance(contributions, (tuple, list)) or len(contributions) != 2:
            raise TypeError(f"contributions must be a pair (a, c), got "
                            f"{describe(contributions)}")
        c = check_array("contributions c", contributions[1], ndim=2, dtype=np.float64)
        a = check_array("contributions a", contributions[0], shape=(c.shape[0],),
                        dtype=np.float64)
        fast, parts = True, {"a": a, "c": c}
        n_nodes = c.shape[1]
    else:

        if model is None:
            raise TypeError("model must be given (or contributions=(a, c))")
        target = masking.masked_network(model, layers)
        n_nodes = target.n_nodes
        if target.fast:
            a, c = masking.signed_contributions(target, x, y)
            fast, parts = True, {"a": a, "c": c}
        else:
            points, labels = target.check_points(x, y)
            fast, parts = False, {"target": target, "x": points, "y": labels}
    if not 1 <= n_nodes <= MAX_NODES:
        raise ValueError(f"model must have 1 to {MAX_NODES} masked nodes, got {n_nodes}")
    return Problem(n_nodes, value, grid, bandwidth, chunk_size, fast, parts)


# --------------------------------------------------------------------------- one chunk


def _numba(problem):
    """Whether this problem's chunks run numba's kernels (its engine, where numba can be
    imported)."""
    return problem.fast and problem.engine == "numba" and _fused.available()


def _losses_kernel(numba):
    """The fused ``losses`` kernel for :meth:`toyviz._split.SplitTables.mean_losses` when
    ``numba``, else None (its numpy path)."""
    return _fused.kernel("losses") if numba else None


def _accumulate(values, rows, n_low, n_nodes, centre, numba):
    """The per-size sums and extremes of a chunk's values (see :func:`chunk`), with
    numba's kernel or numpy."""
    if numba:
        return _fused.kernel("accumulate")(values, rows, n_low, n_nodes, centre)
    return _accumulate_numpy(values, rows, n_low, n_nodes, centre)


def _choose_engine(problem):
    """"numba" or "numpy" for ``problem``'s chunks: numpy for any network but chapter
    1's case, else the faster here (:func:`toyviz._calibration.choose`), timed on one
    thread on a chunk's work (values and per-size sums) for one high half and for a
    group of them, by one block of low halves. The tables are built once, outside the
    timing."""
    if not problem.fast:
        return "numpy"
    a, c = problem.parts["a"], problem.parts["c"]
    rows = np.arange(min(2**problem.n_high, _calibration.GROUP), dtype=np.int64)
    tables = SplitTables(a, c, problem.n_low,
                                min(2**problem.n_low, _calibration.SAMPLE_LOW))
    shape = {"nodes": problem.n_nodes, "points": _calibration.size_class(len(a)),
             "direct": bool(len(tables.direct))}

    def run(engine, full):
        numba = engine == "numba"
        some = rows if full else rows[:1]
        with _fused.threads(1) if numba else contextlib.nullcontext():
            values = tables.mean_losses(some, _losses_kernel(numba))
            _accumulate(values, some, problem.n_low, problem.n_nodes, 0.0, numba)

    return _calibration.choose("exact", shape, os.cpu_count() or 1, run, problem.n_masks,
                               len(rows) * len(tables.Y), len(tables.Y))


def _values(problem, rows):
    """(len(rows), 2**n_low) float64: the value of every mask ``j * 2**n_low + k`` for
    the high halves ``j`` in ``rows``."""
    n_k = 2**problem.n_low
    if problem.fast:
        a, c = problem.parts["a"], problem.parts["c"]
        if problem._tables is None:
            problem._tables = SplitTables(a, c, problem.n_low)
        values = problem._tables.mean_losses(rows, _losses_kernel(_numba(problem)))
    else:

        values = np.empty((len(rows), n_k))
        for t, j in enumerate(rows):            # one high half at a time: n_k masks
            masks = masking.masks_from_indices((int(j) << problem.n_low) + np.arange(n_k),
                                               problem.n_nodes)
            values[t], _ = masking.mask_losses(problem.parts["target"], problem.parts["x"],
                                               problem.parts["y"], masks, progress=False)
    return np.log(values) if problem.value == "log_loss" else values


def _accumulate_numpy(values, rows, n_low, n_nodes, centre):
    """numpy version of the ``accumulate`` kernel of :mod:`toyviz._fused` (same results
    to rounding): per-size sums of powers, per size and node sums, extremes."""
    n_k = values.shape[1]
    low_sizes = np.bitwise_count(np.arange(n_k, dtype=np.uint64)).astype(np.int64)
    high_sizes = np.bitwise_count(rows.astype(np.uint64)).astype(np.int64)
    sizes = (high_sizes[:, None] + low_sizes[None, :]).ravel()
    flat = values.ravel()
    centred = flat - centre
    count = n_nodes + 1
    powers = np.stack([np.bincount(sizes, weights=centred**power, minlength=count)
                       for power in (1, 2, 3)], axis=1)
    node_sums = np.empty((count, n_nodes))
    indices = ((rows[:, None] << n_low) + np.arange(n_k)[None, :]).ravel()
    for node in range(n_nodes):
        on = ((indices >> node) & 1).astype(bool)
        node_sums[:, node] = np.bincount(sizes[on], weights=centred[on], minlength=count)
    best = np.full(count, np.inf)
    worst = np.full(count, -np.inf)
    best_index = np.full(count, -1, dtype=np.int64)
    worst_index = np.full(count, -1, dtype=np.int64)
    order = np.argsort(indices, kind="stable")        # first index among ties
    for size in range(count):
        members = order[sizes[order] == size]
        if len(members):
            best_index[size] = indices[members[np.argmin(flat[members])]]
            worst_index[size] = indices[members[np.argmax(flat[members])]]
            best[size], worst[size] = flat[members].min(), flat[members].max()
    return powers, node_sums, best, best_index, worst, worst_index


def _fine_grid(problem):
    """The binning grid of :func:`toyviz.landscape.gaussian_density` for more than
    DIRECT_DENSITY values: spacing bandwidth / 20, six bandwidths past the grid."""
    step = problem.bandwidth / 20
    lo = problem.grid[0] - 6 * problem.bandwidth
    hi = problem.grid[-1] + 6 * problem.bandwidth
    return np.arange(lo, hi + step, step), lo, step


def chunk(problem, number):
    """Reduce chunk ``number`` of ``problem`` to its accumulators.

    Returns a dict of small float64/int64 arrays: ``powers`` (n+1, 3), ``node_sums``
    (n+1, n), ``best``, ``best_index``, ``worst``, ``worst_index`` (n+1,), ``cross`` (1,),
    the sum over the chunk's masks of ``(v(T) - centre) (v(~T) - centre)``, and with a
    grid ``density`` (n+1, g or fine grid), the kernel sums or binned masses by size.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a toyviz.exact.Problem, got {describe(problem)}")
    number = check_int("number", number, low=0, high=problem.n_chunks - 1)
    rows = problem.rows(number)
    values = _values(problem, rows)
    results = _accumulate(values, rows, problem.n_low, problem.n_nodes, problem.centre,
                          _numba(problem))
    names = ("powers", "node_sums", "best", "best_index", "worst", "worst_index")
    out = dict(zip(names, results))
    centred = values - problem.centre
    # rows are a range and its mirror, so the complement of mask (t, k) is (-1 - t, -1 - k)
    out["cross"] = np.array([np.sum(centred * centred[::-1, ::-1])])
    if problem.grid is not None:
        out["density"] = _chunk_density(problem, values, rows)
    return out


def _chunk_density(problem, values, rows):
    n_k = values.shape[1]
    sizes = (np.bitwise_count(rows.astype(np.uint64)).astype(np.int64)[:, None]
             + np.bitwise_count(np.arange(n_k, dtype=np.uint64)).astype(np.int64)[None, :])
    count = problem.n_nodes + 1
    if problem.n_masks <= DIRECT_DENSITY:
        density = np.zeros((count, len(problem.grid)))
        for t in range(len(rows)):                  # bounded temporaries: n_k x g
            z = (problem.grid[None, :] - values[t][:, None]) / problem.bandwidth
            kernel = np.exp(-0.5 * z * z)
            for size in np.unique(sizes[t]):
                density[size] += kernel[sizes[t] == size].sum(axis=0)
        return density
    fine, lo, step = _fine_grid(problem)
    mass = np.zeros(count * len(fine))
    band = max(1, 2**16 // n_k)                   # rows at a time: bounded temporaries
    for t in range(0, len(rows), band):
        flat, size = values[t:t + band].ravel(), sizes[t:t + band].ravel()
        inside = (flat >= lo) & (flat < fine[-1])
        position = (flat[inside] - lo) / step
        left = np.floor(position).astype(np.int64)
        frac = position - left
        at = size[inside] * len(fine)
        mass += np.bincount(at + left, weights=1 - frac, minlength=len(mass))
        mass += np.bincount(at + np.minimum(left + 1, len(fine) - 1), weights=frac,
                            minlength=len(mass))
    return mass.reshape(count, len(fine))


# --------------------------------------------------------------------------- combining


def _combine(problem, results):
    """Add up the chunks' accumulators in chunk order (a list indexed by chunk)."""
    total = {name: value.copy() for name, value in results[0].items()}
    for result in results[1:]:
        for name in ("powers", "node_sums", "cross", "density"):
            if name in total:
                total[name] += result[name]
        for side, better in (("best", np.less), ("worst", np.greater)):
            index = result[f"{side}_index"]
            present = index >= 0
            wins = present & (better(result[side], total[side]) | (
                (result[side] == total[side]) & (index < total[f"{side}_index"])))
            total[side] = np.where(wins, result[side], total[side])
            total[f"{side}_index"] = np.where(wins, index, total[f"{side}_index"])
    return Landscape(problem, total)


def _check_total(problem, total, name="total"):
    """A chunk's or the combined accumulators (see :func:`chunk`), checked."""
    if not isinstance(total, dict):
        raise TypeError(f"{name} must be a dict of accumulators (see toyviz.exact.chunk), got "
                        f"{describe(total)}")
    n = problem.n_nodes
    shapes = {"powers": (n + 1, 3), "node_sums": (n + 1, n), "best": (n + 1,),
              "worst": (n + 1,), "best_index": (n + 1,), "worst_index": (n + 1,),
              "cross": (1,)}
    if problem.grid is not None:
        shapes["density"] = (n + 1, None)
    if set(total) != set(shapes):
        raise ValueError(f"{name} must have keys {sorted(shapes)}, got {sorted(total)}")
    checked = {}
    for key, shape in shapes.items():
        integer = key.endswith("_index")
        checked[key] = check_array(f"{name} {key}", total[key], shape=shape,
                                   dtype=np.int64 if integer else np.float64,
                                   finite=key not in ("best", "worst"))
    return checked


class Landscape:
    """The exact reductions over all ``2**n`` masks (see :func:`exact_landscape`).

    Attributes
    ----------
    n_nodes, value, n_masks
    shapley : (n,) float64, exact Shapley value of every node
        (as :func:`toyviz.landscape.shapley_values`)
    banzhaf : (n,) float64 (as :func:`toyviz.landscape.banzhaf_values`)
    by_size : dict of (n+1,) arrays ``size, n_masks, best_index, best, worst_index,
        worst, mean`` (as :func:`toyviz.landscape.best_and_worst_by_size`)
    complement_correlation : float (as :func:`toyviz.landscape.complement_correlation`)
    full, empty : the values of the masks with every node on and with none
    grid : the density grid or None
    """

    def __init__(self, problem, total):
        if not isinstance(problem, Problem):
            raise TypeError(f"problem must be a toyviz.exact.Problem, got {describe(problem)}")
        total = _check_total(problem, total)
        n = problem.n_nodes
        self.n_nodes, self.value, self.n_masks = n, problem.value, problem.n_masks
        self.grid, self.bandwidth = problem.grid, problem.bandwidth
        self._problem_fine = _fine_grid(problem)[0] if problem.grid is not None else None
        self._centre = centre = problem.centre
        self._powers = total["powers"]
        self._density = total.get("density")
        counts = np.array([math.comb(n, size) for size in range(n + 1)], dtype=np.float64)
        self._counts = counts
        sums, node_sums = total["powers"][:, 0], total["node_sums"]
        # Shapley: phi_i = sum_T v(T) ([i in T] w(|T| - 1) - [i not in T] w(|T|)),
        # w(s) = s! (n - s - 1)! / n! = 1 / (n C(n - 1, s)); centring leaves it unchanged.
        weight = np.array([1 / (n * math.comb(n - 1, s)) for s in range(n)] + [0.0])
        before = np.concatenate([[0.0], weight[:-1]])           # w(s - 1), 0 at s = 0
        self.shapley = before @ node_sums - weight @ (sums[:, None] - node_sums)
        with_node = node_sums.sum(axis=0)
        self.banzhaf = (with_node - (sums.sum() - with_node)) / 2**(n - 1)
        self.by_size = {"size": np.arange(n + 1), "n_masks": counts.astype(np.int64),
                        "best_index": total["best_index"], "best": total["best"],
                        "worst_index": total["worst_index"], "worst": total["worst"],
                        "mean": centre + sums / counts}
        shift = sums.sum() / self.n_masks
        variance = total["powers"][:, 1].sum() / self.n_masks - shift**2
        covariance = total["cross"][0] / self.n_masks - shift**2
        self.complement_correlation = float(covariance / variance)
        self.full, self.empty = float(total["best"][n]), float(total["best"][0])

    def __repr__(self):
        return f"Landscape(n_nodes={self.n_nodes}, value={self.value!r})"

    def _size_weights(self, p):
        """One mask's weight by its size: its probability at ``p``, or ``1 / 2**n``."""
        n = self.n_nodes
        if p is None:
            return np.full(n + 1, 1.0 / self.n_masks)
        p = check_float("p", p, low=0, high=1)
        return np.array([p**k * (1 - p) ** (n - k) for k in range(n + 1)])

    def moments(self, p=0.5):
        """Mean, standard deviation and skewness of the value when every node is on
        independently with probability ``p`` (as :func:`toyviz.landscape.mask_moments`)."""
        weight = self._size_weights(p)
        first, second, third = weight @ self._powers
        std = math.sqrt(max(second - first**2, 0.0))
        central3 = third - 3 * first * second + 2 * first**3
        return (self._centre + float(first), std,
                float(central3 / std**3) if std > 0 else math.nan)

    def density(self, p=None):
        """Gaussian kernel density of the value on ``grid``, every mask weighted by its
        probability when each node is on with probability ``p`` (None: all masks
        equally), as :func:`toyviz.landscape.gaussian_density` with those weights."""
        if self._density is None:
            raise ValueError("density needs a grid: pass grid= to exact_landscape or problem")
        weight = self._size_weights(p)
        total = weight @ self._counts
        mass = weight @ self._density
        root = self.bandwidth * math.sqrt(2 * math.pi)
        if self.n_masks <= DIRECT_DENSITY:
            return mass / (total * root)
        step = self.bandwidth / 20
        offsets = np.arange(-120, 121) * step
        kernel = np.exp(-0.5 * (offsets / self.bandwidth) ** 2) / root
        smooth = np.convolve(mass, kernel, mode="same")
        return np.interp(self.grid, self._problem_fine, smooth) / total


# --------------------------------------------------------------------------- running


def _chunk_path(folder, problem, number):
    return Path(folder) / f"chunk-{number:06d}.npz"


def _load(folder, problem, number):
    path = _chunk_path(folder, problem, number)
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as saved:
        if str(saved["fingerprint"]) != problem.fingerprint:
            raise ValueError(f"folder {str(folder)!r} holds chunks of another problem "
                             f"(fingerprint {saved['fingerprint']}, this one "
                             f"{problem.fingerprint}); use a new folder")
        return {name: saved[name] for name in saved.files if name != "fingerprint"}


def _save(folder, problem, number, result):
    path = _chunk_path(folder, problem, number)
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, fingerprint=np.array(problem.fingerprint), **result)
    os.replace(partial, path)          # a chunk file is complete or absent


def run(problem, client=None, folder=None, progress=None):
    """Compute every chunk of ``problem`` and combine them into a :class:`Landscape`.

    Parameters
    ----------
    problem : :class:`Problem` (see :func:`problem`)
    client : a ``dask.distributed.Client`` or None. With a client the chunks run on its
        workers (``client.map``); without, here, one after the other, each on this
        machine's cores.
    folder : path or None. Chunks found there (from an earlier, interrupted run of the
        same problem) are read instead of computed, and every new one is saved there as
        it finishes. A folder holding another problem's chunks is refused.
    progress : bool or None, tqdm bar over the chunks (None: only on a terminal)

    Returns
    -------
    Landscape
    """

    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a toyviz.exact.Problem, got {describe(problem)}")
    if folder is not None:
        if not isinstance(folder, (str, os.PathLike)):
            raise TypeError(f"folder must be a path, got {describe(folder)}")
        Path(folder).mkdir(parents=True, exist_ok=True)
    results = [None] * problem.n_chunks
    if folder is not None:
        for number in range(problem.n_chunks):
            results[number] = _load(folder, problem, number)
    if client is not None and not (callable(getattr(client, "map", None))
                                   and callable(getattr(client, "scatter", None))):
        raise TypeError(f"client must be a dask.distributed.Client or None, got "
                        f"{describe(client)}")
    todo = [number for number, result in enumerate(results) if result is None]
    with progress_bar(problem.n_chunks, progress, f"{problem.n_masks:,} masks") as bar:
        bar.update(problem.n_chunks - len(todo))
        if client is None:
            for number in todo:
                results[number] = chunk(problem, number)
                if folder is not None:
                    _save(folder, problem, number, results[number])
                bar.update(1)
        elif todo:
            from distributed import as_completed

            shared = client.scatter(problem, broadcast=True, hash=False)
            futures = client.map(chunk, [shared] * len(todo), todo, pure=False)
            where = {future.key: number for future, number in zip(futures, todo)}
            for future, result in as_completed(futures, with_results=True):
                number = where[future.key]
                results[number] = result
                if folder is not None:
                    _save(folder, problem, number, result)
                bar.update(1)
    return _combine(problem, results)


def exact_landscape(model=None, x=None, y=None, layers=None, value="loss", grid=None,
                    bandwidth=0.03, chunk_size=2**20, client=None, folder=None,
                    progress=None, contributions=None):
    """Exact Shapley and Banzhaf values, best and worst masks by size, moments, densities
    and the complement correlation over all ``2**n`` masks, without the ``2**n`` table.

    ``problem(model, x, y, layers, value, grid, bandwidth, chunk_size, contributions)``
    then ``run(problem, client, folder, progress)``: see :func:`problem` and :func:`run`.
    On a cluster::

        from dask.distributed import Client
        client = Client("tcp://scheduler-host:8786")     # or Client(LocalCluster(...)),
        landscape = exact_landscape(model, x, y, client=client, folder="chunks")

    Returns
    -------
    Landscape

    Introduced in :ref:`reproducibility-exact`.
    """
    return run(problem(model, x, y, layers=layers, value=value, grid=grid,
                       bandwidth=bandwidth, chunk_size=chunk_size,
                       contributions=contributions),
               client=client, folder=folder, progress=progress)


def table(problem):
    """All ``2**n`` values in mask-index order, from the same chunks' computation (for
    n up to 24; for checking the reductions against :mod:`toyviz.landscape`)."""
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a toyviz.exact.Problem, got {describe(problem)}")
    if problem.n_nodes > 24:
        raise ValueError(f"problem must have at most 24 nodes for a table, got "
                         f"{problem.n_nodes}")
    return _values(problem, np.arange(2**problem.n_high)).ravel()
