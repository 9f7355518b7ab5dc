"""Fused all-masks kernels for the two-class loss, compiled with numba when it is there.

The split-table form of :mod:`toyviz.masking` (see its module docstring): a mask index is
``j * 2**n_low + k``, and for the points whose tables fit float32

    loss(j, k) * n_points = offset_j + sum_p log(X[j, p] + Y[k, p])  (+ direct points)
    grad_i(j, k) * n_points = sum_p c_pi - sum_p X[j, p] c_pi / (X[j, p] + Y[k, p])

with ``X = exp(-(A + t))``, ``Y = exp(B - t)``, ``offset_j = sum_p (A[j, p] + t_p)``. The
numpy path makes four passes over a block of ``(masks, points)`` float32 numbers (add,
log, reciprocal, matrix product). The kernels here make one: per pair one addition, the
sum of logarithms as a sum of exponent fields and a product of mantissas (one float64
logarithm per 96 points, see :mod:`toyviz._kernels`), one reciprocal, and the
gradient's multiply-adds, with a block of ``Y`` rows reused from cache by a group of high
halves ``j``. Threads (numba's ``prange``) take groups of high halves, so every mask's
sums are computed by one thread in one fixed order: the results do not depend on the
number of threads, nor on the process (the exact reductions rely on this to match across
a cluster).

The kernels live in :mod:`toyviz._kernels`, which imports numba; this module imports it
only when a kernel is first needed (:func:`available`), and numba caches the compiled
kernels on disk for later processes. Without numba, callers use their numpy path, and
:func:`available` says so once with a warning. Which of the two is faster depends on the
CPU: ``engine="auto"`` times both (:mod:`toyviz._calibration`).
"""

import contextlib
import threading
import warnings

import numpy as np

_LOCK = threading.Lock()
_STATE = {}          # "kernels": the compiled kernels, or None when numba is missing

class NumbaMissingWarning(RuntimeWarning):
    """numba could not be imported: toyviz falls back to its (slower) numpy path."""


def available():
    """True when the numba kernels can be used (compiling them on first call).

    When numba cannot be imported this warns once (:class:`NumbaMissingWarning`) and
    returns False; callers then take their numpy path, with the same results within the
    tolerances their docstrings state.
    """
    return _kernels() is not None


def _kernels():
    with _LOCK:
        if "kernels" not in _STATE:
            try:
                kernels = _compile()
            except ImportError as error:
                warnings.warn(
                    f"numba is not available ({error}); toyviz sweeps all masks with its "
                    "numpy path instead (on most CPUs two to three times slower). Install "
                    "numba (pip install 'toyviz[fast]') for the fused kernels.",
                    NumbaMissingWarning,
                    stacklevel=4)
                kernels = None
            _STATE["kernels"] = kernels
        return _STATE["kernels"]


def set_threads(workers):
    """Run the kernels on ``workers`` threads (at most numba's thread count). Returns the
    number used."""
    import numba

    workers = max(1, min(int(workers), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(workers)
    return workers


@contextlib.contextmanager
def threads(workers):
    """Run the kernels on ``workers`` threads inside the block (None: as they are), and
    restore the number before it afterwards (numba must be available)."""
    import numba

    before = numba.get_num_threads()
    try:
        if workers is not None:
            set_threads(workers)
        yield
    finally:
        numba.set_num_threads(before)


def _compile():
    from toyviz import _kernels

    return {"losses": _kernels.losses, "sweep": _kernels.sweep,
            "accumulate": _kernels.accumulate}


def kernel(name):
    """The compiled kernel ``name`` ("losses", "sweep", "accumulate"); numba must be
    available (see :func:`available`)."""
    kernels = _kernels()
    if kernels is None:
        raise RuntimeError("numba is not available; check toyviz._fused.available() first")
    return kernels[name]


# --------------------------------------------------------------------------- split tables


class SplitTables:
    """The float32 tables of the split form for a problem ``loss_p(m) = softplus(a_p +
    m . c_p)`` with ``n_low`` low nodes (bits 0 .. n_low - 1 of the mask index).

    The shift ``t_p`` centres the ranges of ``-(A + t)`` and ``B - t`` over *all* masks,
    found without enumerating them (the extremes of a subset sum are the sums of the
    negative and of the positive parts), so the tables of any range of high halves agree
    with those of the whole sweep. Points whose two ranges do not fit ``exp`` in float32
    (``|.| > 80``) are listed in ``direct`` and evaluated in float64 instead. ``low_rows``:
    only the first ``low_rows`` rows of ``Y`` (a sample, for :mod:`toyviz._calibration`;
    None: all).
    """

    LIMIT = 80.0

    def __init__(self, a, c, n_low, low_rows=None):
        self.a, self.c = a, c
        self.n_nodes = c.shape[1]
        self.n_low = n_low
        self.n_high = self.n_nodes - n_low
        low, high = c[:, :n_low], c[:, n_low:]
        a_lo = a + np.minimum(high, 0).sum(axis=1)
        a_hi = a + np.maximum(high, 0).sum(axis=1)
        b_lo = np.minimum(low, 0).sum(axis=1)
        b_hi = np.maximum(low, 0).sum(axis=1)
        lo = np.minimum(-a_hi, b_lo)
        hi = np.maximum(-a_lo, b_hi)
        fits = (hi - lo) <= 2 * self.LIMIT
        self.split = np.flatnonzero(fits)
        self.direct = np.flatnonzero(~fits)
        self.shift = 0.5 * (lo + hi)[self.split]
        self.c_split = c[self.split]
        bits = _bits(np.arange(2**n_low if low_rows is None else low_rows), n_low)
        B = bits @ low[self.split].T
        B -= self.shift
        self.Y = np.ascontiguousarray(np.exp(B), dtype=np.float32)   # (2**n_low, n_split)

    def high(self, j_indices):
        """``X`` rows (float32) and float64 ``offset`` for the given high halves."""
        A = _bits(np.asarray(j_indices, dtype=np.int64), self.n_high) @ \
            self.c[self.split, self.n_low:].T
        A += self.a[self.split]
        A += self.shift
        offset = A.sum(axis=1)
        np.negative(A, out=A)
        return np.ascontiguousarray(np.exp(A, out=A), dtype=np.float32), offset

    def direct_sums(self, j):
        """float64 sums over the direct points of softplus and sigmoid * c for the masks
        of high half ``j`` ((2**n_low,), (2**n_low, n_nodes)); zeros when there are none."""
        n_k = 2**self.n_low
        if not len(self.direct):
            return np.zeros(n_k), np.zeros((n_k, self.n_nodes))
        masks = _bits(np.arange(j * n_k, (j + 1) * n_k), self.n_nodes)
        e = self.a[self.direct] + masks @ self.c[self.direct].T
        sigmoid = 0.5 * (1.0 + np.tanh(0.5 * e))
        return np.logaddexp(0.0, e).sum(axis=1), sigmoid @ self.c[self.direct]


def _bits(indices, n_bits):
    return ((indices[:, None] >> np.arange(n_bits, dtype=np.int64)) & 1).astype(np.float64)


def sweep(a, c, losses, gradients, project=None, node_means=False, workers=None,
          sample=None):
    """Loss and mask-gradient of all ``2**n`` masks with the fused kernel (numba must be
    available), from the signed contributions ``a`` (n_points,) and ``c`` (n_points,
    n_nodes), already checked: what :func:`toyviz.masking.sweep_all_masks` computes in
    chapter 1's case.

    Writes ``losses`` (2**n,) float64 and ``gradients`` (2**n, k) float32 (``gradients @
    project``; k = n without ``project``). Returns, with ``node_means``, the sum over all
    masks of every node's gradient, (n,) float64, else None. ``workers``: threads (None:
    numba's default, the number of CPUs); the results do not depend on it.

    ``sample=(high, low)`` computes only the masks ``j * 2**n_low + k`` with ``j < high``
    and ``k < low``, into rows ``j * low + k`` (what :mod:`toyviz._calibration` times).
    """
    with threads(workers):
        return _sweep(a, c, losses, gradients, project, node_means, sample)


def _sweep(a, c, losses, gradients, project, node_means, sample=None):
    n_points, n_nodes = c.shape
    if project is None:
        project = np.eye(n_nodes)
    n_low = n_nodes // 2
    tables = SplitTables(a, c, n_low, None if sample is None else sample[1])
    n_k = len(tables.Y)
    n_j = 2**tables.n_high if sample is None else sample[0]
    X, offset = tables.high(np.arange(n_j))
    ST = np.ascontiguousarray((tables.c_split @ project).T, dtype=np.float32)   # (k, n_split)
    column_sums = (tables.c_split.sum(axis=0) @ project).astype(np.float32)
    reciprocal_sums = np.zeros((n_j, len(tables.split)) if node_means else (0, 0))
    kernel("sweep")(X, tables.Y, offset, ST, column_sums, np.float64(n_points), losses,
                    gradients, reciprocal_sums)
    node_sums = None
    if node_means:
        # sum over all masks of (column sums - sum_p X_j c_p / T), per node, in float64
        node_sums = (n_j * n_k * tables.c_split.sum(axis=0)
                     - (reciprocal_sums * X).sum(axis=0) @ tables.c_split) / n_points
    for j in range(n_j if len(tables.direct) else 0):
        extra_loss, extra_grad = (part[:n_k] for part in tables.direct_sums(j))
        rows = slice(j * n_k, (j + 1) * n_k)
        losses[rows] += extra_loss / n_points
        gradients[rows] += ((extra_grad @ project) / n_points).astype(np.float32)
        if node_means:
            node_sums += extra_grad.sum(axis=0) / n_points
    return node_sums
