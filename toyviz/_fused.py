"""Fused all-masks kernels for the two-class loss, compiled with numba when it is there.

The split-table form of :mod:`toyviz.masking` (see its module docstring): a mask index is
``j * 2**n_low + k``, and for the points whose tables fit float32

    loss(j, k) * n_points = offset_j + sum_p log(X[j, p] + Y[k, p])  (+ direct points)
    grad_i(j, k) * n_points = sum_p c_pi - sum_p X[j, p] c_pi / (X[j, p] + Y[k, p])

with ``X = exp(-(A + t))``, ``Y = exp(B - t)``, ``offset_j = sum_p (A[j, p] + t_p)``. The
numpy path makes four passes over a block of ``(masks, points)`` float32 numbers (add,
log, reciprocal, matrix product). The kernels here make one: per pair one addition, one
logarithm (a branch-free polynomial on the float's mantissa and exponent, which the
compiler vectorises; plain ``math.log`` would be a scalar call), one reciprocal, and the
gradient's multiply-adds, with a block of ``Y`` rows reused from cache by a group of high
halves ``j``. Threads (numba's ``prange``) take groups of high halves, so every mask's
sums are computed by one thread in one fixed order: the results do not depend on the
number of threads, nor on the process (the exact reductions rely on this to match across
a cluster).

numba is imported only when a kernel is first needed (:func:`available`). Without it,
callers use their numpy path, and :func:`available` says so once with a warning.
"""

import math
import threading
import warnings

import numpy as np

_LOCK = threading.Lock()
_STATE = {}          # "kernels": the compiled kernels, or None when numba is missing

#: Points per (high half) group a thread takes, sharing each block of Y rows in cache.
GROUP = 8
#: Low halves per block: BLOCK rows of Y (BLOCK * n_points float32) stay in L2.
BLOCK = 32
#: Points per float32 partial sum of logarithms; the partial sums are added in float64 (a
#: float32 sum of 1000 logarithms of size up to 80 would be off by about 1e-6 per point).
SUM_BLOCK = 128


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
                    "numpy path instead, about half as fast. Install numba (pip install "
                    "'toyviz[fast]') for the fused kernels.", NumbaMissingWarning,
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


def _compile():
    import numba
    from llvmlite import ir
    from numba import njit, prange
    from numba.core import types
    from numba.extending import intrinsic

    @intrinsic
    def float_bits(typingctx, value):
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.IntType(32))
        return types.int32(types.float32), codegen

    @intrinsic
    def bits_float(typingctx, value):
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.FloatType())
        return types.float32(types.int32), codegen

    sqrt_half = np.float32(math.sqrt(0.5))
    one, half = np.float32(1.0), np.float32(0.5)
    ln2_hi, ln2_lo = np.float32(0.693359375), np.float32(-2.12194440e-4)
    p0, p1, p2 = np.float32(7.0376836292e-2), np.float32(-1.1514610310e-1), \
        np.float32(1.1676998740e-1)
    p3, p4, p5 = np.float32(-1.2420140846e-1), np.float32(1.4249322787e-1), \
        np.float32(-1.6668057665e-1)
    p6, p7, p8 = np.float32(2.0000714765e-1), np.float32(-2.4999993993e-1), \
        np.float32(3.3333331174e-1)

    @njit(inline="always", fastmath=True)
    def log32(value):
        """Natural log of a positive normal float32 (Cephes' logf: the mantissa in
        [sqrt(1/2), sqrt(2)), a degree-9 polynomial, the exponent times log 2 in two
        parts); within 2 ulp of the true value."""
        bits = float_bits(value)
        exponent = np.float32(np.int32((bits >> 23) & 0xFF) - np.int32(126))
        mantissa = bits_float(np.int32((bits & 0x007FFFFF) | 0x3F000000))   # [0.5, 1)
        small = mantissa < sqrt_half
        exponent = exponent - one if small else exponent
        x = mantissa + mantissa - one if small else mantissa - one
        z = x * x
        y = ((((((((p0 * x + p1) * x + p2) * x + p3) * x + p4) * x + p5) * x + p6) * x
              + p7) * x + p8) * x * z
        y = y + ln2_lo * exponent - half * z
        return x + y + ln2_hi * exponent

    @njit(parallel=True, fastmath=True, cache=True)
    def losses(X, Y, offset, out):
        """out[t, k] = offset[t] + sum_p log(X[t, p] + Y[k, p]) (float32 logarithms,
        float32 partial sums of SUM_BLOCK points, added in float64)."""
        n_j, n_points = X.shape
        n_k = Y.shape[0]
        for task in prange((n_j + GROUP - 1) // GROUP):
            j0 = task * GROUP
            j1 = min(j0 + GROUP, n_j)
            for k0 in range(0, n_k, BLOCK):
                k1 = min(k0 + BLOCK, n_k)
                for t in range(j0, j1):
                    x = X[t]
                    for k in range(k0, k1):
                        y = Y[k]
                        total = 0.0
                        for p0 in range(0, n_points, SUM_BLOCK):
                            part = np.float32(0.0)
                            for p in range(p0, min(p0 + SUM_BLOCK, n_points)):
                                part += log32(x[p] + y[p])
                            total += part
                        out[t, k] = offset[t] + total

    @njit(inline="always", fastmath=True)
    def gradient_block(r, n_rows, s, column_sums, n_points, out, first):
        """out[first + q, i] = (column_sums[i] - r[q] . s[i]) / n_points for q < n_rows:
        four masks times two nodes per pass over the points (8 accumulators, 6 loads for
        8 multiply-adds)."""
        n_out, n_split = s.shape
        q = 0
        while q < n_rows:
            m = min(4, n_rows - q)
            r0, r1 = r[q], r[q + 1 if m > 1 else q]
            r2, r3 = r[q + 2 if m > 2 else q], r[q + 3 if m > 3 else q]
            i = 0
            while i < n_out:
                s0, s1 = s[i], s[i + 1 if i + 1 < n_out else i]
                a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = np.float32(0.0)
                for p in range(n_split):
                    v, w = s0[p], s1[p]
                    x0, x1, x2, x3 = r0[p], r1[p], r2[p], r3[p]
                    a0 += x0 * v
                    a1 += x1 * v
                    a2 += x2 * v
                    a3 += x3 * v
                    b0 += x0 * w
                    b1 += x1 * w
                    b2 += x2 * w
                    b3 += x3 * w
                for slot, (a, b) in enumerate(((a0, b0), (a1, b1), (a2, b2), (a3, b3))):
                    if slot < m:
                        out[first + q + slot, i] = (column_sums[i] - a) / n_points
                        if i + 1 < n_out:
                            out[first + q + slot, i + 1] = (column_sums[i + 1] - b) / n_points
                i += 2
            q += 4

    @njit(parallel=True, fastmath=True, cache=True)
    def sweep(X, Y, offset, ST, column_sums, n_points, losses_out, gradients_out,
              reciprocal_sums):
        """Loss and projected gradient of every mask (t, k), t < len(X), k < len(Y):

        losses_out[t * n_k + k] = (offset[t] + sum_p log(T)) / n_points,
        gradients_out[t * n_k + k, i] = (column_sums[i] - sum_p X[t, p] ST[i, p] / T) /
        n_points, with T = X[t, p] + Y[k, p]; reciprocal_sums[t, p] (float64) gets
        sum_k 1 / T when it has rows (for the nodes' mean gradients).
        """
        n_j, n_split = X.shape
        n_k = Y.shape[0]
        n_out = ST.shape[0]
        keep_sums = reciprocal_sums.shape[0] > 0
        for task in prange((n_j + GROUP - 1) // GROUP):
            j0 = task * GROUP
            j1 = min(j0 + GROUP, n_j)
            scaled = np.empty((j1 - j0, n_out, n_split), dtype=np.float32)
            for t in range(j0, j1):
                for i in range(n_out):
                    for p in range(n_split):
                        scaled[t - j0, i, p] = X[t, p] * ST[i, p]
            r = np.empty((BLOCK, n_split), dtype=np.float32)
            for k0 in range(0, n_k, BLOCK):
                k1 = min(k0 + BLOCK, n_k)
                for t in range(j0, j1):
                    x = X[t]
                    s = scaled[t - j0]
                    for k in range(k0, k1):
                        y = Y[k]
                        rk = r[k - k0]
                        total = 0.0
                        for p0 in range(0, n_split, SUM_BLOCK):
                            part = np.float32(0.0)
                            for p in range(p0, min(p0 + SUM_BLOCK, n_split)):
                                value = x[p] + y[p]
                                part += log32(value)
                                rk[p] = one / value
                            total += part
                        losses_out[t * n_k + k] = (offset[t] + total) / n_points
                    if keep_sums:
                        sums = reciprocal_sums[t]
                        for k in range(k0, k1):
                            rk = r[k - k0]
                            for p in range(n_split):
                                sums[p] += rk[p]
                    gradient_block(r, k1 - k0, s, column_sums, n_points, gradients_out,
                                   t * n_k + k0)

    @njit(parallel=True, cache=True)
    def accumulate(values, j_indices, n_low, n_nodes, centre):
        """Sums by size of the powers 1, 2, 3 of ``values[t, k] - centre`` (the value of
        mask ``j_indices[t] * 2**n_low + k``), by size and node of ``values - centre`` over
        the masks holding the node, and the first minimum and maximum of every size.

        Returns powers (n+1, 3), node_sums (n+1, n), best (n+1,), best_index (n+1,),
        worst (n+1,), worst_index (n+1,) (index -1 where no mask has that size). Every row
        keeps its own partial sums, added in row order: no dependence on the threads.
        """
        n_j, n_k = values.shape
        n_high = n_nodes - n_low
        sizes = n_nodes + 1
        row_powers = np.zeros((n_j, sizes, 3))
        row_nodes = np.zeros((n_j, sizes, n_nodes))
        row_best = np.full((n_j, sizes), np.inf)
        row_worst = np.full((n_j, sizes), -np.inf)
        row_best_k = np.full((n_j, sizes), -1, dtype=np.int64)
        row_worst_k = np.full((n_j, sizes), -1, dtype=np.int64)
        low_sizes = np.zeros(n_k, dtype=np.int64)
        for k in range(n_k):
            for bit in range(n_low):
                low_sizes[k] += (k >> bit) & 1
        for t in prange(n_j):
            j = j_indices[t]
            high_size = 0
            for bit in range(n_high):
                high_size += (j >> bit) & 1
            powers = row_powers[t]
            nodes = row_nodes[t]
            for k in range(n_k):
                value = values[t, k]
                size = high_size + low_sizes[k]
                centred = value - centre
                powers[size, 0] += centred
                powers[size, 1] += centred * centred
                powers[size, 2] += centred * centred * centred
                for bit in range(n_low):
                    if (k >> bit) & 1:
                        nodes[size, bit] += centred
                if value < row_best[t, size]:
                    row_best[t, size] = value
                    row_best_k[t, size] = k
                if value > row_worst[t, size]:
                    row_worst[t, size] = value
                    row_worst_k[t, size] = k
            for bit in range(n_high):
                if (j >> bit) & 1:
                    for size in range(sizes):
                        nodes[size, n_low + bit] = powers[size, 0]
        powers = np.zeros((sizes, 3))
        node_sums = np.zeros((sizes, n_nodes))
        best = np.full(sizes, np.inf)
        worst = np.full(sizes, -np.inf)
        best_index = np.full(sizes, -1, dtype=np.int64)
        worst_index = np.full(sizes, -1, dtype=np.int64)
        for t in range(n_j):
            base = j_indices[t] << n_low
            for size in range(sizes):
                powers[size] += row_powers[t, size]
                node_sums[size] += row_nodes[t, size]
                if row_best_k[t, size] < 0:
                    continue
                index = base + row_best_k[t, size]
                if row_best[t, size] < best[size] or (
                        row_best[t, size] == best[size] and index < best_index[size]):
                    best[size] = row_best[t, size]
                    best_index[size] = index
                index = base + row_worst_k[t, size]
                if row_worst[t, size] > worst[size] or (
                        row_worst[t, size] == worst[size] and index < worst_index[size]):
                    worst[size] = row_worst[t, size]
                    worst_index[size] = index
        return powers, node_sums, best, best_index, worst, worst_index

    del numba
    return {"losses": losses, "sweep": sweep, "accumulate": accumulate}


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
    (``|.| > 80``) are listed in ``direct`` and evaluated in float64 instead.
    """

    LIMIT = 80.0

    def __init__(self, a, c, n_low):
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
        bits = _bits(np.arange(2**n_low), n_low)
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


def sweep(a, c, losses, gradients, project=None, node_means=False, workers=None):
    """Loss and mask-gradient of all ``2**n`` masks with the fused kernel (numba must be
    available), from the signed contributions ``a`` (n_points,) and ``c`` (n_points,
    n_nodes), already checked: what :func:`toyviz.masking.sweep_all_masks` computes in
    chapter 1's case.

    Writes ``losses`` (2**n,) float64 and ``gradients`` (2**n, k) float32 (``gradients @
    project``; k = n without ``project``). Returns, with ``node_means``, the sum over all
    masks of every node's gradient, (n,) float64, else None. ``workers``: threads (None:
    numba's default, the number of CPUs); the results do not depend on it.
    """
    import numba

    before = numba.get_num_threads()
    try:
        if workers is not None:
            set_threads(workers)
        return _sweep(a, c, losses, gradients, project, node_means)
    finally:
        numba.set_num_threads(before)


def _sweep(a, c, losses, gradients, project, node_means):
    n_points, n_nodes = c.shape
    if project is None:
        project = np.eye(n_nodes)
    n_low = n_nodes // 2
    tables = SplitTables(a, c, n_low)
    n_k, n_j = 2**n_low, 2**tables.n_high
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
