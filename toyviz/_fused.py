"""Fused all-masks kernels for the two-class loss, compiled with numba when it is there.

The kernels read the split tables of :mod:`toyviz._split` (see its module docstring): a
mask index is ``j * 2**n_low + k``, and for the points whose tables fit float32

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

from toyviz._split import SplitTables

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
        extra_loss, extra_grad = tables.direct_sums(j)
        rows = slice(j * n_k, (j + 1) * n_k)
        losses[rows] += extra_loss / n_points
        gradients[rows] += ((extra_grad @ project) / n_points).astype(np.float32)
        if node_means:
            node_sums += extra_grad.sum(axis=0) / n_points
    return node_sums
