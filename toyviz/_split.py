"""The split tables of chapter 1's all-masks sweep: one home for every engine that uses them.

In chapter 1's case (two classes, the last hidden layer masked alone) a point's loss under
a mask ``m`` is ``softplus(a_p + m . c_p)`` (:func:`toyviz.masking.signed_contributions`).
Split a mask's index into a high half ``j`` and a low half ``k``, ``index = j * 2**n_low +
k``: the argument is then ``A[j, p] + B[k, p]``, a sum of two small tables, one row per
high half and one per low half. With a shift ``t_p`` per point, ``X = exp(-(A + t))`` and
``Y = exp(B - t)``,

    loss(j, k) * n_points = offset_j + sum_p log(X[j, p] + Y[k, p])  (+ direct points)
    grad_i(j, k) * n_points = sum_p c_pi - sum_p X[j, p] c_pi / (X[j, p] + Y[k, p])

with ``offset_j = sum_p (A[j, p] + t_p)``, so each of the ``2**n x n_points`` entries costs
one addition, one logarithm and one reciprocal, and no exponential.

:class:`SplitTables` builds the tables once: ``Y`` whole, ``X`` and ``offset`` for the high
halves asked for (a whole sweep, or one chunk of :mod:`toyviz.exact`). The engines that
read them are the numpy path of :func:`toyviz.masking.sweep_all_masks`, the fused numba
kernels of :mod:`toyviz._fused` (the same sweep, and the values of :mod:`toyviz.exact`),
and :meth:`SplitTables.mean_losses` (the values of :mod:`toyviz.exact` in numpy).
"""

import numpy as np

#: Keep exp() of the split tables inside float32: exp(+-80) is finite with room to add.
EXP_LIMIT = 80.0


def bits(indices, n_bits):
    """(k,) int64 -> (k, n_bits) float64 of their bits, node i = bit i (n_bits may be 0)."""
    return ((indices[:, None] >> np.arange(n_bits, dtype=np.int64)) & 1).astype(np.float64)


def softplus_sigmoid(e):
    """Stable ``softplus(e)`` and ``sigmoid(e)``, element-wise, same dtype as ``e``."""
    t = np.exp(-np.abs(e))
    q = 1.0 + t
    softplus = np.maximum(e, 0) + np.log1p(t)
    sigmoid = np.where(e >= 0, 1.0 / q, t / q)
    return softplus, sigmoid


class SplitTables:
    """The float32 tables of the split form for a problem ``loss_p(m) = softplus(a_p +
    m . c_p)``, ``a`` (n_points,) and ``c`` (n_points, n_nodes) float64, with ``n_low``
    low nodes (bits 0 .. n_low - 1 of the mask index).

    The shift ``t_p`` centres the ranges of ``-(A + t)`` and ``B - t`` over *all* masks,
    found without enumerating them (the extremes of a subset sum are the sums of the
    negative and of the positive parts), so the tables of any range of high halves agree
    with those of the whole sweep. Points whose two ranges do not fit ``exp`` in float32
    (``|.| >`` :data:`EXP_LIMIT`) are listed in ``direct`` and evaluated in float64
    instead (:meth:`direct_sums`). ``low_rows``: only the first ``low_rows`` rows of ``Y``
    (a sample, for :mod:`toyviz._calibration`; None: all ``2**n_low``).

    Attributes: ``a``, ``c``, ``n_nodes``, ``n_low``, ``n_high``, ``split`` and ``direct``
    (the points' indices, int64), ``shift`` (n_split,) float64, ``c_split`` (n_split,
    n_nodes) float64, ``Y`` (low rows, n_split) float32, C-contiguous.
    """

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
        fits = (hi - lo) <= 2 * EXP_LIMIT
        self.split = np.flatnonzero(fits)
        self.direct = np.flatnonzero(~fits)
        self.shift = 0.5 * (lo + hi)[self.split]
        self.c_split = c[self.split]
        B = bits(np.arange(2**n_low if low_rows is None else low_rows), n_low) @ \
            low[self.split].T
        # In place, to keep the peak memory low.
        B -= self.shift
        self.Y = np.ascontiguousarray(np.exp(B, out=B), dtype=np.float32)

    def high(self, j_indices):
        """``X`` rows (len(j_indices), n_split) float32 and ``offset`` (len(j_indices),)
        float64 for the high halves ``j_indices``."""
        A = bits(np.asarray(j_indices, dtype=np.int64), self.n_high) @ \
            self.c[self.split, self.n_low:].T
        # In place, to keep the peak memory low: A + t -> offset, then X = exp(-(A + t)).
        A += self.a[self.split]
        A += self.shift
        offset = A.sum(axis=1)
        np.negative(A, out=A)
        return np.ascontiguousarray(np.exp(A, out=A), dtype=np.float32), offset

    def direct_sums(self, j):
        """float64 sums over the direct points of softplus and of sigmoid times ``c`` for
        the masks ``j * 2**n_low + k``, ``k < len(Y)``: ((len(Y),), (len(Y), n_nodes));
        zeros when there are none."""
        n_k = len(self.Y)
        if not len(self.direct):
            return np.zeros(n_k), np.zeros((n_k, self.n_nodes))
        first = j << self.n_low
        masks = bits(np.arange(first, first + n_k), self.n_nodes)
        c = self.c[self.direct]
        softplus, sigmoid = softplus_sigmoid(self.a[self.direct] + masks @ c.T)
        return softplus.sum(axis=1), sigmoid @ c

    def mean_losses(self, j_indices, kernel=None):
        """(len(j_indices), len(Y)) float64: the mean loss of every mask ``j * 2**n_low +
        k`` for the high halves ``j`` in ``j_indices``, ``k < len(Y)``. ``kernel``: the
        fused ``losses`` kernel (:func:`toyviz._fused.kernel`), or None for numpy (float32
        logarithms summed in float64)."""
        X, offset = self.high(j_indices)
        sums = np.empty((len(X), len(self.Y)))
        if len(self.split) and kernel is not None:
            kernel(X, self.Y, offset, sums)
        else:
            for t in range(len(X)):
                logs = np.log(X[t] + self.Y)          # float32
                sums[t] = offset[t] + logs.sum(axis=1, dtype=np.float64)
        for t, j in enumerate(j_indices if len(self.direct) else ()):
            sums[t] += self.direct_sums(int(j))[0]
        return sums / len(self.a)
