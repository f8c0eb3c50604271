# mypy: ignore-errors
"""Numba kernels of the softmax losses with class indices: per-row value and logit gradient in
one pass over each row (the eager PyTorch training step, :mod:`losslab._torch_softmax`).

Imported lazily (importing it imports numba). mypy ignores this module (numba has no type
stubs).

:func:`softmax_rows` computes, for logits ``z`` (N, K) and class indices ``c`` (N,), the
per-row loss ``f(log p_c)`` and the gradient in the logits ``G = D (onehot_c - p)``,
``D = df/d(log p_c)``, with the formulas of :func:`losslab.torch._term_and_slope` (focal:
``q = -expm1(log p_c)``, ``f = alpha_c q^gamma (-log p_c)``,
``D = -alpha_c q^gamma (gamma p_c (-log p_c) / q + 1)``, the limits ``f = D = 0`` where ``q``
is 0; poly-1: ``f = eps q - log p_c``, ``D = -(1 + eps p_c)``) and slopes below
``eps_dtype^2`` flushed to 0 as :func:`losslab.torch._flush_tiny` does. Per row: the maximum
``m``, ``e_j = exp(z_j - m)`` (stored in the gradient's row), ``s = sum_j e_j`` in float64,
``log p_c = (z_c - m) - log s`` and the row's scalars in float64, then ``G_j = -D e_j / s``
(``j != c``) and ``G_c = D q`` (``1 - p_c`` as ``q``, accurate where ``p_c`` is near 1). The
rows go in groups of up to :data:`ROWS`, each in three passes (maximum, exponentials and sum
of every row; the scalars of every row; the gradient of every row), so that the libm calls
of consecutive rows overlap and the gradient's rows are rescaled while still in cache.

Speed (one thread, K = 81, float32, values and gradient, minimum of rounds, on an AVX-512
machine): 12 microseconds at 10^4 logits, 1.1 ns per logit at 10^6 (PyTorch's
``log_softmax`` alone: 0.7); float64 1.8 ns per logit.

Arithmetic: float64 inputs in float64 with :func:`~losslab._kernels._impl.exp_neg`; float32
inputs compute ``e_j`` in float32 arithmetic (:func:`~losslab._kernels._impl.exp_neg_32`,
within about 1 float32 ulp, twice the vector lanes) and everything else (the row sum, the
logarithm, ``f`` and ``D``) in float64, rounded once on the store: at least as accurate as
PyTorch's float32 ``log_softmax`` (``tests/test_torch_softmax_kernel.py`` measures both
against float64). The row sum is a separate function compiled with reassociation allowed
(``fastmath={"reassoc", "nsz"}``), so that LLVM vectorises it; it only adds finite or NaN
numbers, so the flags change its rounding order, never its special values. The kernels let
LLVM fuse multiply-adds (``fastmath={"contract"}``, as ``focal_f32`` does): the last bits may
differ between machines with and without FMA.

Non-finite inputs: a NaN logit makes its row's ``s`` NaN, so the row's value and gradient are
NaN; a ``+inf`` logit gives ``inf - inf`` (NaN) in the row, as ``torch.log_softmax`` does; a
row of ``-inf`` logits is NaN, a ``-inf`` target logit among finite ones gives ``f = inf``
and a NaN slope (``0 * inf``), as the tensor code does. A class index outside ``[0, K)``
(which a caller that validated only its first call may pass) is never read: its row's value
and gradient are NaN, and the kernel returns the number of such rows (the caller raises).

Threads: with one numba thread the rows run in a plain loop (no OpenMP region: about 3
microseconds less per call); otherwise ``prange`` over blocks of :data:`BLOCK` elements.

numba's disk cache keys a compiled function on its own file only, and :func:`softmax_rows`
inlines primitives of :mod:`losslab._kernels._impl`: it is compiled under the name
``softmax_rows_<tag>``, ``tag`` a hash of ``_impl.py`` (:func:`losslab._kernels._serial.tagged`),
so that an edit there compiles it afresh instead of loading a stale copy.
"""

from __future__ import annotations

import math

import numpy as np
from numba import get_thread_id, njit, prange

from losslab._kernels._impl import _single, exp_neg, exp_neg_32
from losslab._kernels._serial import IMPL_TAG, tagged

__all__ = ["BLOCK", "FOCAL", "GRAD", "HAS_ALPHA", "POLY1", "ROWS", "softmax_rows"]

_PAR = {
    "parallel": True,
    "nogil": True,
    "cache": True,
    "fastmath": {"contract"},
    "error_model": "numpy",
}
_INLINE = {"inline": "always", "error_model": "numpy", "fastmath": {"contract"}}

BLOCK = 8192
"""Elements (whole rows, at least one) per task of the parallel loop."""
ROWS = 64
"""Rows per group of the three passes of :func:`_rows` (fewer for more than 64 classes)."""

FOCAL = 0
"""``kind`` of softmax focal loss (``param`` is gamma)."""
POLY1 = 1
"""``kind`` of poly-1 softmax cross-entropy (``param`` is epsilon)."""
GRAD = 1
"""``flags`` bit: write the gradient ``g`` (else ``g`` is ignored)."""
HAS_ALPHA = 2
"""``flags`` bit: ``alpha`` holds one weight per class (else all weights are 1)."""

_TINY_64 = float(np.finfo(np.float64).eps) ** 2
_TINY_32 = float(np.finfo(np.float32).eps) ** 2


@njit(**_INLINE)
def _row_max(z, b, k):
    """The largest of ``z[b:b + k]`` (``k >= 1``), in z's dtype, from four running maxima (a
    single one is a chain of dependent comparisons: twice the time at K = 81, measured). NaNs
    are skipped unless the first element is one; the exponentials of the next pass make a NaN
    row NaN either way."""
    m0 = z[b]
    m1 = m0
    m2 = m0
    m3 = m0
    k4 = k & ~np.uint64(3)
    for j in range(np.uint64(0), k4, np.uint64(4)):
        a0 = z[b + j]
        a1 = z[b + j + np.uint64(1)]
        a2 = z[b + j + np.uint64(2)]
        a3 = z[b + j + np.uint64(3)]
        m0 = a0 if a0 > m0 else m0
        m1 = a1 if a1 > m1 else m1
        m2 = a2 if a2 > m2 else m2
        m3 = a3 if a3 > m3 else m3
    for j in range(k4, k):
        a0 = z[b + j]
        m0 = a0 if a0 > m0 else m0
    m0 = m1 if m1 > m0 else m0
    m2 = m3 if m3 > m2 else m2
    return m2 if m2 > m0 else m0


@njit(error_model="numpy", fastmath={"reassoc", "nsz"}, cache=True)
def _row_sum(e, b, k):
    """``sum(e[b:b + k])`` in float64, in any order (vectorised: the flags allow
    reassociation; the terms are in [0, 1] or NaN, so no special value depends on the order).
    Not inlined into the kernel at numba's level, so the flags stay on these additions."""
    s = 0.0
    for j in range(k):
        s += np.float64(e[b + j])
    return s


@njit(**_INLINE)
def _exp_shifted(z, b, k, m, out, ob, single):
    """``out[ob + j] = exp(z[b + j] - m)`` for ``j < k`` (float32 arithmetic where
    ``single``)."""
    if single:
        m32 = np.float32(m)
        for j in range(k):
            out[ob + j] = exp_neg_32(z[b + j] - m32)
    else:
        for j in range(k):
            out[ob + j] = exp_neg(z[b + j] - m)


@njit(**_INLINE)
def _term_slope(lp, kind, param, at):
    """``(f, D, q)`` of one row from ``lp = log p_c`` in float64, ``q = -expm1(lp)``
    (:func:`losslab.torch._term_and_slope` with ``at = alpha_c``): focal (``param = gamma``)
    or poly-1 (``param = epsilon``). ``q^gamma`` is ``q``, ``q q``, ``q q q`` or ``sqrt(q)``
    for gamma 1, 2, 3, 0.5 (as ``torch.pow`` computes them), else ``pow``."""
    q = -math.expm1(lp)
    if kind == POLY1:
        f = param * q - lp
        d = -(1.0 + param * math.exp(lp))
    elif param == 0.0:
        f = -lp
        d = -1.0
    else:
        if q == 0.0:  # not "q <= 0": a NaN log p stays NaN
            f = 0.0
            d = 0.0
        else:
            if param == 2.0:
                qg = q * q
            elif param == 1.0:
                qg = q
            elif param == 3.0:
                qg = q * q * q
            elif param == 0.5:
                qg = math.sqrt(q)
            else:
                qg = math.pow(q, param)
            f = qg * -lp
            d = -qg * (param * math.exp(lp) * (-lp / q) + 1.0)
    return at * f, at * d, q


@njit(**_INLINE)
def _rows(z, c, alpha, v, g, ex, eo, acc, ao, r0, r1, k, kind, param, flags):
    """Rows ``r0`` to ``r1`` of :func:`softmax_rows` (flat ``z`` and ``g``, ``k`` an unsigned
    integer) in three passes: per row the maximum, the exponentials (into ``g``'s row, or
    ``ex[eo:eo + k]`` when ``g`` is not wanted) and their sum; per row the scalars ``f``,
    ``D`` (one row's libm calls do not wait for the previous row's: measured 1.3 times as fast
    at K = 81 as one row at a time); per row the gradient. ``acc[ao:ao + 2 (r1 - r0)]`` (float64)
    carries two numbers per row between the passes."""
    single = _single(z)
    grad = (flags & GRAD) != 0
    tiny = _TINY_32 if single else _TINY_64
    bad = 0
    for r in range(r0, r1):
        b = np.uint64(r) * k
        m = _row_max(z, b, k)
        out = g if grad else ex
        ob = b if grad else eo
        _exp_shifted(z, b, k, m, out, ob, single)
        i = ao + np.uint64(2 * (r - r0))
        acc[i] = _row_sum(out, ob, k)
        acc[i + np.uint64(1)] = np.float64(m)
    for r in range(r0, r1):
        i = ao + np.uint64(2 * (r - r0))
        s = acc[i]
        ci = c[r]
        if ci < 0 or ci >= np.int64(k):  # not validated: never read out of bounds
            v[r] = np.nan
            acc[i] = np.nan  # the row's gradient: NaN
            bad += 1
            continue
        cu = np.uint64(ci)
        b = np.uint64(r) * k
        lp = (np.float64(z[b + cu]) - acc[i + np.uint64(1)]) - math.log(s)
        at = np.float64(alpha[cu]) if (flags & HAS_ALPHA) != 0 else 1.0
        f, d, q = _term_slope(lp, kind, param, at)
        if abs(d) < tiny:  # losslab.torch._flush_tiny (a NaN slope stays NaN)
            d = 0.0
        v[r] = f
        acc[i] = -d / s
        acc[i + np.uint64(1)] = d * q
    if grad:
        for r in range(r0, r1):
            i = ao + np.uint64(2 * (r - r0))
            b = np.uint64(r) * k
            if single:
                sc32 = np.float32(acc[i])
                for j in range(k):
                    g[b + j] = sc32 * g[b + j]
            else:
                sc = acc[i]
                for j in range(k):
                    g[b + j] = sc * g[b + j]
            ci = c[r]
            if ci >= 0 and ci < np.int64(k):
                g[b + np.uint64(ci)] = acc[i + np.uint64(1)]
    return bad


def _softmax_rows(z, c, alpha, v, g, kind, param, flags, threads):
    """Per-row softmax loss and its gradient in the logits, one pass over each row.

    Parameters
    ----------
    z : (N, K) C-contiguous float32 or float64 array, K >= 1
        Logits (read only).
    c : (N,) int64 array
        Class indices; a row whose index is outside ``[0, K)`` gets NaN and is counted.
    alpha : (K,) float64 array
        Per-class weights, read where ``flags & HAS_ALPHA`` (else any float64 array).
    v : (N,) array of z's dtype
        Output: the rows' values ``f(log p_c)``.
    g : (N, K) C-contiguous array of z's dtype
        Output where ``flags & GRAD``: ``D (onehot_c - p)`` (else any array of z's dtype).
    kind : int
        :data:`FOCAL` or :data:`POLY1`.
    param : float
        gamma (>= 0) or epsilon.
    flags : int
        :data:`GRAD` | :data:`HAS_ALPHA`.
    threads : int
        0 to run the rows in a plain loop on the calling thread (for one thread: no OpenMP
        region, about 3 microseconds less per call), else the process's most numba threads
        (``NUMBA_NUM_THREADS``), the number of per-thread scratch spaces.

    Returns
    -------
    int
        The number of rows whose class index is outside ``[0, K)`` (their value and gradient
        are NaN; the caller raises).
    """
    n = c.shape[0]
    k = np.uint64(z.shape[1])
    zf = z.reshape(z.size)
    gf = g.reshape(g.size)
    sub = max(1, min(ROWS, 4096 // z.shape[1]))  # rows per group of three passes
    spaces = max(threads, 1)
    ex = np.empty(spaces * k, dtype=z.dtype)
    acc = np.empty(spaces * 2 * sub)
    zero = np.uint64(0)
    bad = 0
    if threads == 0:
        for r0 in range(0, n, sub):
            r1 = min(r0 + sub, n)
            bad += _rows(zf, c, alpha, v, gf, ex, zero, acc, zero, r0, r1, k, kind, param, flags)
        return bad
    per = max(1, BLOCK // z.shape[1]) // sub * sub + sub  # whole groups per task
    counts = np.zeros(spaces, dtype=np.int64)  # per thread (a reduction variable in the
    for t in prange((n + per - 1) // per):  # inner loop is beyond numba's parfor analysis)
        me = np.uint64(get_thread_id())
        eo = me * k
        ao = me * np.uint64(2 * sub)
        for r0 in range(t * per, min(t * per + per, n), sub):
            r1 = min(r0 + sub, n)
            counts[me] += _rows(zf, c, alpha, v, gf, ex, eo, acc, ao, r0, r1, k, kind, param, flags)
    return counts.sum()


softmax_rows = tagged(_softmax_rows, "softmax_rows", IMPL_TAG, _PAR)
