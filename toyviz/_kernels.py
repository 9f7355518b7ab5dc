"""The numba kernels of :mod:`toyviz._fused` (imported only through it, when a sweep
runs: importing this module imports numba). Module-level functions, so that numba's
on-disk cache (``cache=True``) serves them to every later process, cluster workers
included, without compiling again.

**The sum of logarithms.** Every kernel here needs ``sum_p log(T_p)`` over a row of
float32 sums ``T = X + Y`` (positive normal numbers: the split tables keep ``X`` and
``Y`` within ``exp(+-80)``). A float32 number is ``2**(e - 127) * m`` with its biased
exponent ``e`` and its mantissa ``m`` in [1, 2), so over a block of points

    sum_p log(T_p) = (sum_p e_p - 127 * count) * log 2 + log(prod_p m_p).

Per point that is one add of the exponent field and one multiply of the mantissa, bit
operations that the compiler vectorises, with no logarithm at all: one float64 ``log``
per :data:`PRODUCT_BLOCK` points. The exponents sum exactly (integers far below 2**24 in
float32), and a product of at most 96 numbers in [1, 2) stays below 2**96, in any order
the compiler multiplies them, far from float32's overflow at 2**128. Its rounding, about
1e-7 relative per block, is the only error beyond that of ``T`` itself: on chapter 1's
model the mean losses differ from the float64 engine by at most about 1e-8. (A float32
logarithm per point, as numpy takes it, is off by up to half an ulp of values as large
as 80, 4e-6 each.)

**Fast-math flags.** The kernels take every fast-math flag but ``nsz`` (no signed
zeros), in :data:`FASTMATH`: ``reassoc`` lets the compiler vectorise the sums and
products above. With ``reassoc`` and ``nsz`` together, the code a process compiles for
itself and the code numba's cache serves to the next process round the mantissa
products in different orders (a loss off by about 1e-8 relative, measured on this
machine's numba and LLVM), so a cluster's chunks would not match the local run's bit
for bit. Without ``nsz`` the two agree, and the kernels need no signed zeros: every
``T`` is positive.
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange
from numba.core import types
from numba.extending import intrinsic

#: High halves per group a thread takes, sharing each block of Y rows in cache.
GROUP = 8
#: Low halves per block: BLOCK rows of Y (BLOCK * n_points float32) stay in L2.
BLOCK = 32
#: Points per product of mantissas (see the module docstring): at most 127.
PRODUCT_BLOCK = 96

#: numba's fast-math flags for the kernels: all but ``nsz`` (see the module docstring).
FASTMATH = {"nnan", "ninf", "arcp", "contract", "afn", "reassoc"}

LOG2 = math.log(2.0)
one = np.float32(1.0)
zero = np.float32(0.0)


@intrinsic
def exponent_field(typingctx, value):
    """The biased exponent of a float32 (its bits 23-30, 0 .. 255), as a float32."""
    def codegen(context, builder, signature, args):
        bits = builder.bitcast(args[0], ir.IntType(32))
        field = builder.lshr(bits, ir.Constant(ir.IntType(32), 23))   # sign bit 0: T > 0
        return builder.uitofp(field, ir.FloatType())
    return types.float32(types.float32), codegen


@intrinsic
def mantissa(typingctx, value):
    """The float32 in [1, 2) with the mantissa of a float32 (its exponent set to 0)."""
    def codegen(context, builder, signature, args):
        int32 = ir.IntType(32)
        bits = builder.bitcast(args[0], int32)
        bits = builder.or_(builder.and_(bits, ir.Constant(int32, 0x007FFFFF)),
                           ir.Constant(int32, 0x3F800000))
        return builder.bitcast(bits, ir.FloatType())
    return types.float32(types.float32), codegen


@njit(inline="always", fastmath=FASTMATH)
def log_sum(x, y):
    """sum_p log(x[p] + y[p]) in float64, for float32 rows whose sums are positive normal
    numbers (see the module docstring)."""
    n = len(x)
    total = 0.0
    for start in range(0, n, PRODUCT_BLOCK):
        stop = min(start + PRODUCT_BLOCK, n)
        xs, ys = x[start:stop], y[start:stop]    # slices: contiguous loads, no gathers
        product, exponents = one, zero
        for q in range(stop - start):
            value = xs[q] + ys[q]
            exponents += exponent_field(value)
            product *= mantissa(value)
        total += math.log(np.float64(product)) + (np.float64(exponents)
                                                  - 127.0 * (stop - start)) * LOG2
    return total


@njit(inline="always", fastmath=FASTMATH)
def log_sum_reciprocals(x, y, reciprocals):
    """:func:`log_sum`, writing ``1 / (x + y)`` into ``reciprocals`` on the way."""
    n = len(x)
    total = 0.0
    for start in range(0, n, PRODUCT_BLOCK):
        stop = min(start + PRODUCT_BLOCK, n)
        xs, ys, rs = x[start:stop], y[start:stop], reciprocals[start:stop]
        product, exponents = one, zero
        for q in range(stop - start):
            value = xs[q] + ys[q]
            exponents += exponent_field(value)
            product *= mantissa(value)
            rs[q] = one / value
        total += math.log(np.float64(product)) + (np.float64(exponents)
                                                  - 127.0 * (stop - start)) * LOG2
    return total


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def losses(X, Y, offset, out):
    """out[t, k] = offset[t] + sum_p log(X[t, p] + Y[k, p]) (see :func:`log_sum`)."""
    n_j = X.shape[0]
    n_k = Y.shape[0]
    for task in prange((n_j + GROUP - 1) // GROUP):
        j0 = task * GROUP
        j1 = min(j0 + GROUP, n_j)
        for k0 in range(0, n_k, BLOCK):
            k1 = min(k0 + BLOCK, n_k)
            for t in range(j0, j1):
                x = X[t]
                for k in range(k0, k1):
                    out[t, k] = offset[t] + log_sum(x, Y[k])


@njit(inline="always", fastmath=FASTMATH)
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


@njit(parallel=True, fastmath=FASTMATH, cache=True)
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
                    total = log_sum_reciprocals(x, Y[k], r[k - k0])
                    losses_out[t * n_k + k] = (offset[t] + total) / n_points
                if keep_sums:
                    sums = reciprocal_sums[t]
                    for k in range(k0, k1):
                        rk = r[k - k0]
                        for p in range(n_split):
                            sums[p] += rk[p]
                gradient_block(r, k1 - k0, s, column_sums, n_points, gradients_out,
                               t * n_k + k0)


@njit(cache=True)
def popcount(value):
    count = 0
    while value:
        count += value & 1
        value >>= 1
    return count


@njit(cache=True)
def accumulate(values, j_indices, n_low, n_nodes, centre):
    """Sums by size of the powers 1, 2, 3 of ``values[t, k] - centre`` (the value of
    mask ``j_indices[t] * 2**n_low + k``; ``j_indices`` increasing), by size and node
    of ``values - centre`` over the masks holding the node, and the first minimum and
    maximum of every size.

    Rows are first added into tables by (number of high bits, k), in row order and
    along k (vectorised), then folded into sizes: one thread, one fixed order.

    Returns powers (n+1, 3), node_sums (n+1, n), best (n+1,), best_index (n+1,),
    worst (n+1,), worst_index (n+1,) (index -1 where no mask has that size).
    """
    n_j, n_k = values.shape
    n_high = n_nodes - n_low
    by_high = np.zeros((3, n_high + 1, n_k))
    high_nodes = np.zeros((n_high, n_high + 1, n_k))
    low_value = np.full((n_high + 1, n_k), np.inf)
    high_value = np.full((n_high + 1, n_k), -np.inf)
    low_row = np.full((n_high + 1, n_k), -1, dtype=np.int64)
    high_row = np.full((n_high + 1, n_k), -1, dtype=np.int64)
    centred = np.empty(n_k)
    for t in range(n_j):
        j = j_indices[t]
        h = popcount(j)
        row = values[t]
        first, second, third = by_high[0, h], by_high[1, h], by_high[2, h]
        for k in range(n_k):
            value = row[k] - centre
            centred[k] = value
            first[k] += value
            second[k] += value * value
            third[k] += value * value * value
        for bit in range(n_high):
            if (j >> bit) & 1:
                node = high_nodes[bit, h]
                for k in range(n_k):
                    node[k] += centred[k]
        lows, highs = low_value[h], high_value[h]
        low_rows, high_rows = low_row[h], high_row[h]
        for k in range(n_k):
            value = row[k]
            if value < lows[k]:
                lows[k] = value
                low_rows[k] = j
            if value > highs[k]:
                highs[k] = value
                high_rows[k] = j
    sizes = n_nodes + 1
    powers = np.zeros((sizes, 3))
    node_sums = np.zeros((sizes, n_nodes))
    best = np.full(sizes, np.inf)
    worst = np.full(sizes, -np.inf)
    best_index = np.full(sizes, -1, dtype=np.int64)
    worst_index = np.full(sizes, -1, dtype=np.int64)
    for h in range(n_high + 1):
        for k in range(n_k):
            if low_row[h, k] < 0:
                continue
            size = h + popcount(k)
            for power in range(3):
                powers[size, power] += by_high[power, h, k]
            for bit in range(n_low):
                if (k >> bit) & 1:
                    node_sums[size, bit] += by_high[0, h, k]
            for bit in range(n_high):
                node_sums[size, n_low + bit] += high_nodes[bit, h, k]
            index = (low_row[h, k] << n_low) + k
            value = low_value[h, k]
            if value < best[size] or (value == best[size] and index < best_index[size]):
                best[size] = value
                best_index[size] = index
            index = (high_row[h, k] << n_low) + k
            value = high_value[h, k]
            if value > worst[size] or (value == worst[size] and index < worst_index[size]):
                worst[size] = value
                worst_index[size] = index
    return powers, node_sums, best, best_index, worst, worst_index
