# mypy: ignore-errors
"""The numba kernels: one fused, multi-threaded pass per loss computing value, gradient and Hessian.

Imported lazily by :func:`losslab._kernels.try_fused` (importing it imports numba and loads or
compiles nothing until a kernel is first called). mypy ignores this module (numba has no type
stubs; ``# mypy: ignore-errors``).

Every kernel has the same signature, so that each compiles once per dtype::

    kernel(y, z, w, v, g, h, p0, p1, flags) -> int

``y``, ``z``, ``w``: read-only, C-contiguous 1-D float32 or float64 arrays of length n (``w`` is
a dummy unless ``flags & 8``); ``v``, ``g``, ``h``: writable outputs of the same dtype;
``p0``, ``p1``: the loss's hyperparameters as floats; ``flags``: bit 0, 1, 2 set when ``v``,
``g``, ``h`` is a real length-n output, bit 3 when weighted. ``focal``, ``focal_general`` and
``focal_star`` return the number of elements whose label is not exactly 0 or 1 (soft labels,
NaN; for ``focal_star`` also non-finite ``gamma z +- beta``) for :func:`focal_soft` /
:func:`focal_star_soft` to overwrite; the other kernels return the number of NaN inputs
(residuals), which the caller ignores. That reduction is there for speed: numba lowers a
``prange`` loop that carries a reduction 1.2 to 1.6 times faster for the compute-bound kernels
(log loss, log-cosh; measured, numba 0.68), and costs nothing measurable elsewhere.

The loop runs over blocks of :data:`CHUNK` elements (``prange``, one block per task); every
element stores all three results unconditionally, an output that is not needed into a
per-thread slice of a small scratch array (``CHUNK`` elements per thread, passed in place of
that output). Unconditional unit-stride stores are what lets LLVM vectorise
the loop: conditional stores made it 5 to 8 times slower, and one launch per block 10 times
slower on a busy machine. Indices are unsigned so that numba emits no negative-index
wraparound, which would turn the stores into scatters.

Arithmetic is float64 for both dtypes (float32 inputs are widened, the results rounded once on
the store; the one exception is :func:`focal_f32`, focal's hard-label kernel for float32
inputs, which computes in float32 with :func:`exp_neg_32` and :func:`log1p_unit_32`, twice the
lanes per vector, and is as accurate as the generic path's float32 arithmetic), with the
formulas of the generic path (:mod:`losslab.losses.binary`,
:mod:`losslab.losses.regression`, :mod:`losslab._numerics`) operation for operation, except that
``exp``/``log1p``/``sinh``/``tanh``/``hypot`` come from the primitives below (faithful,
vectorisable) and that focal's ``(1 - p_t)^gamma`` is ``q * q`` for integer
``gamma <= 4`` (``q = sigmoid(-x_t)``, error at most about ``2 gamma`` ulp). No ``fastmath``:
it would break inf/NaN handling. ``error_model="numpy"``: division by zero gives inf/NaN
instead of raising.

Primitives. ``math.exp``/``math.log1p`` become calls into libm, which keep a loop scalar
(about 13 ns per element for one exp and one log1p). The functions here are plain IEEE
arithmetic, ``sqrt`` and one bit cast, written with selects instead of branches, so a
``prange`` loop that uses them compiles to AVX2/AVX-512 code (about 0.6 ns per element
each). They are faithful (error below 1 ulp, measured against glibc and mpmath) on the domains
stated, which are the only domains the kernels call them on:

* :func:`exp_neg`: ``e^x`` for ``x <= 0`` (``-inf`` gives 0, NaN stays NaN), fdlibm's
  ``e_exp.c`` reduction ``x = k ln2 + r``, ``|r| <= ln2 / 2``, and the Taylor series of
  ``e^r`` to degree 13 (no division); ``2^k`` is applied in two halves so that subnormal
  results round once.
* :func:`log1p_unit`: ``log(1 + e)`` for ``e`` in [0, 1], fdlibm's ``s_log1p.c`` kernel
  ``log(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2)))``, ``s = f / (2 + f)``; for
  ``e >= sqrt(2) - 1`` it uses ``log(1 + e) = log 2 + log(1 + (e - 1) / 2)`` with the rounding
  error of ``e - 1`` carried as a correction.
* :func:`exp_neg_f32`, :func:`log1p_unit_f32`: the same with shorter polynomials (relative
  error below 2^-41 and 2^-34, measured against the two above), used by the sigmoid-based
  kernels (log loss, focal, FL*, varifocal) when the inputs are float32 (:func:`_single`, a
  compile-time constant per dtype): a float32 result has 2^-24 relative precision, so the
  float32 outputs stay within 1 float32 ulp of the rounded float64 result
  (``tests/test_kernels.py``), and float32 focal is about 10 % faster on one thread
  (``benchmarks/README.md``).
* :func:`sinh_small`, :func:`cosh_small`: Taylor series for ``|x| <= 1`` (truncation below
  2^-60 relative).
* :func:`hypot1`: ``sqrt(1 + t^2)`` for ``t`` in [0, 1] from an exact ``t^2`` (Dekker) and one
  Newton correction: within about 0.5 ulp, like libm's ``hypot``.

* :func:`exp_neg_32`, :func:`log1p_unit_32`: the float32-arithmetic versions used by
  :func:`focal_f32`: minimax polynomials of degree 6 and 10, no division, no branch (within
  0.89 and 1.24 float32 ulp, measured on every float32 argument of their domains; 1.17 and
  1.64 where the CPU has no fused multiply-add).

All are results of IEEE operations only, so they give the same bits on every x86-64 and ARM
machine whatever the vector width (no fused multiply-add: ``fastmath`` is off), except
:func:`focal_f32`, which lets LLVM fuse multiply-adds (``fastmath={"contract"}``, 20 % faster):
its last bits may differ between machines with and without FMA, within its stated bound.

SVML: numba vectorises ``math.exp``/``math.log1p`` with Intel's SVML only when llvmlite's LLVM
carries the SVML patch; numba 0.62 and later (LLVM 20+) do not (``numba -s``: "SVML Library
Loaded: True", "llvmlite Using SVML Patched LLVM: False" with numba 0.68.1 and
``intel-cmplr-lib-rt`` installed), so the primitives above stay the vectorised route.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import get_thread_id, njit, prange, types
from numba.extending import intrinsic, overload

__all__ = [
    "CHUNK",
    "asymmetric",
    "asymmetric_general",
    "exponential",
    "focal",
    "focal_f32",
    "focal_general",
    "focal_soft",
    "focal_star",
    "focal_star_soft",
    "half_gamma",
    "half_poisson",
    "half_tweedie",
    "huber",
    "linear",
    "log_cosh",
    "log_loss",
    "log_loss_gh",
    "poly1",
    "poly1_focal",
    "poly1_focal_general",
    "poly1_focal_soft",
    "pseudo_huber",
    "quality_focal",
    "quality_focal_general",
    "squared",
    "varifocal",
]

_PAR = {"parallel": True, "nogil": True, "cache": True, "fastmath": False, "error_model": "numpy"}
_INLINE = {"inline": "always", "error_model": "numpy", "fastmath": False}
_PAR_FMA = {**_PAR, "fastmath": {"contract"}}
""":data:`_PAR` with multiply-adds contracted to fused multiply-adds (``focal_f32`` only)."""

CHUNK = 8192
"""Elements per block of the parallel loop (and per thread in the scratch arrays)."""

_LOG2 = math.log(2.0)
_MAX = float(np.finfo(np.float64).max)
# sigmoid_pow's threshold in float64: exp(-t) is normal for t below it.
_POW_THRESHOLD = 0.95 * -math.log(float(np.finfo(np.float64).smallest_normal))


# --------------------------------------------------------------------------- primitives
# (in this file, not a module of their own: numba's disk cache is invalidated by changes to the
# file that defines a cached function only, not by changes to the files of its callees)


@intrinsic
def _bits_to_float(typingctx, x):
    """Reinterpret the bits of an int64 as a float64 (LLVM ``bitcast``)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def _float_to_bits(typingctx, x):
    """Reinterpret the bits of a float64 as an int64 (LLVM ``bitcast``)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


# fdlibm e_exp.c's argument reduction; e^r by its Taylor series to r^13 / 13! (|r| <= ln2 / 2:
# truncation below 2^-57 relative), which needs no division (fdlibm's rational form needs one)
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_T2 = 1.0 / 2.0
_T3 = 1.0 / 6.0
_T4 = 1.0 / 24.0
_T5 = 1.0 / 120.0
_T6 = 1.0 / 720.0
_T7 = 1.0 / 5040.0
_T8 = 1.0 / 40320.0
_T9 = 1.0 / 362880.0
_T10 = 1.0 / 3628800.0
_T11 = 1.0 / 39916800.0
_T12 = 1.0 / 479001600.0
_T13 = 1.0 / 6227020800.0
_ROUND = 6755399441055744.0  # 1.5 * 2**52: (x + _ROUND) - _ROUND rounds x to an integer


@njit(**_INLINE)
def exp_neg(x):
    """``e^x`` for ``x <= 0`` or NaN, faithful (< 1 ulp), vectorisable.

    ``x = k ln2 + r`` with ``r = hi - lo`` (Cody-Waite, ``ln2`` in two parts),
    ``e^r = 1 + (hi - (lo - r^2 Q(r)))``, ``Q`` the Taylor series of ``(e^r - 1 - r) / r^2``;
    ``2^k`` is applied in two halves so that a subnormal result rounds once.
    """
    xc = x if x > -746.0 else -746.0
    kf = (xc * _INV_LN2 + _ROUND) - _ROUND
    hi = xc - kf * _LN2_HI
    lo = kf * _LN2_LO
    r = hi - lo
    q8 = _T8 + r * (_T9 + r * (_T10 + r * (_T11 + r * (_T12 + r * _T13))))
    q = _T2 + r * (_T3 + r * (_T4 + r * (_T5 + r * (_T6 + r * (_T7 + r * q8)))))
    y = 1.0 + (hi - (lo - r * r * q))
    k = np.int64(kf)
    k1 = k >> 1
    k2 = k - k1
    res = y * _bits_to_float((k1 + 1023) << 52) * _bits_to_float((k2 + 1023) << 52)
    return res if x == x else x


@njit(**_INLINE)
def exp_neg_f32(x):
    """:func:`exp_neg` to about 2^-41 relative, for results rounded to float32.

    The same reduction and scaling; the Taylor series of ``e^r`` stops at degree 10
    (truncation below ``0.35^11 / 11! < 2^-42``), three multiply-adds fewer.
    """
    xc = x if x > -746.0 else -746.0
    kf = (xc * _INV_LN2 + _ROUND) - _ROUND
    hi = xc - kf * _LN2_HI
    lo = kf * _LN2_LO
    r = hi - lo
    q7 = _T7 + r * (_T8 + r * (_T9 + r * _T10))
    q = _T2 + r * (_T3 + r * (_T4 + r * (_T5 + r * (_T6 + r * q7))))
    y = 1.0 + (hi - (lo - r * r * q))
    k = np.int64(kf)
    k1 = k >> 1
    k2 = k - k1
    res = y * _bits_to_float((k1 + 1023) << 52) * _bits_to_float((k2 + 1023) << 52)
    return res if x == x else x


# fdlibm s_log1p.c / e_log.c
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_SQRT2_M1 = 0.41421356237309503


@njit(**_INLINE)
def log1p_unit(e):
    """``log(1 + e)`` for ``e`` in [0, 1] or NaN, faithful (< 1 ulp), vectorisable."""
    big = e >= _SQRT2_M1
    d = e - 1.0
    err = e - (d + 1.0)  # exact rounding error of e - 1 (Fast2Sum, |-1| >= |e|)
    f = 0.5 * d if big else e
    # c / (1 + f) with 1 / (1 + f) ~ 1 - f + f^2 (f in [-0.293, 0]: 2.4 % off at worst, on a
    # correction below 2^-55, so below 2^-60 absolute): saves a division
    c = (0.5 * err) * (1.0 - f + f * f) if big else 0.0
    k = 1.0 if big else 0.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    r = t2 + t1
    return k * _LN2_HI - ((hfsq - (s * (hfsq + r) + (k * _LN2_LO + c))) - f)


@njit(**_INLINE)
def log1p_unit_f32(e):
    """:func:`log1p_unit` to about 2^-34 relative, for results rounded to float32.

    fdlibm's polynomial without its two last terms (``Lg6 s^12 + Lg7 s^14``, below
    ``0.16 * 0.172^12 < 2^-33`` relative to ``R``, ``s * R`` to ``log1p``) and without the
    correction for the rounding of ``e - 1`` (below 2^-52 relative).
    """
    big = e >= _SQRT2_M1
    f = 0.5 * (e - 1.0) if big else e
    k = 1.0 if big else 0.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * _LG4)
    t2 = z * (_LG1 + w * (_LG3 + w * _LG5))
    r = t2 + t1
    return k * _LN2_HI - ((hfsq - (s * (hfsq + r) + k * _LN2_LO)) - f)


def _single(a):
    """Whether ``a`` is a float32 array; in numba code a compile-time constant."""
    return a.dtype == np.float32


@overload(_single, inline="always")
def _ol_single(a):
    single = isinstance(a, types.Array) and a.dtype == types.float32
    return lambda a: single


# 1/(2k+1)! and 1/(2k)!
_S3 = 1.0 / 6.0
_S5 = 1.0 / 120.0
_S7 = 1.0 / 5040.0
_S9 = 1.0 / 362880.0
_S11 = 1.0 / 39916800.0
_S13 = 1.0 / 6227020800.0
_S15 = 1.0 / 1307674368000.0
_S17 = 1.0 / 355687428096000.0
_S19 = 1.0 / 121645100408832000.0
_C4 = 1.0 / 24.0
_C6 = 1.0 / 720.0
_C8 = 1.0 / 40320.0
_C10 = 1.0 / 3628800.0
_C12 = 1.0 / 479001600.0
_C14 = 1.0 / 87178291200.0
_C16 = 1.0 / 20922789888000.0
_C18 = 1.0 / 6402373705728000.0
_C20 = 1.0 / 2432902008176640000.0


@njit(**_INLINE)
def sinh_small(x):
    """``sinh(x)`` for ``|x| <= 1``: ``x + x^3 P(x^2)``, about 0.5 ulp."""
    x2 = x * x
    p = _S3 + x2 * (
        _S5
        + x2
        * (_S7 + x2 * (_S9 + x2 * (_S11 + x2 * (_S13 + x2 * (_S15 + x2 * (_S17 + x2 * _S19))))))
    )
    return x + x * (x2 * p)


@njit(**_INLINE)
def cosh_small(x):
    """``cosh(x)`` for ``|x| <= 1``: ``1 + x^2 (1/2 + x^2 P(x^2))``, about 0.5 ulp."""
    x2 = x * x
    p = _C4 + x2 * (
        _C6
        + x2
        * (_C8 + x2 * (_C10 + x2 * (_C12 + x2 * (_C14 + x2 * (_C16 + x2 * (_C18 + x2 * _C20))))))
    )
    return 1.0 + x2 * (0.5 + x2 * p)


_SPLIT = 134217729.0  # 2**27 + 1 (Veltkamp)


@njit(**_INLINE)
def hypot1(t):
    """``sqrt(1 + t^2)`` for ``t`` in [0, 1] (or NaN), about 0.5 ulp like libm ``hypot``.

    ``t^2 = p + pl`` exactly (Dekker), ``1 + p = s + se`` exactly (Fast2Sum), then one Newton
    step on ``r0 = sqrt(s)`` with ``r0^2`` also formed exactly.
    """
    p = t * t
    ct = _SPLIT * t
    th = ct - (ct - t)
    tl = t - th
    pl = ((th * th - p) + 2.0 * th * tl) + tl * tl
    s = 1.0 + p
    se = (1.0 - s) + p
    r0 = np.sqrt(s)
    cr = _SPLIT * r0
    rh = cr - (cr - r0)
    rl = r0 - rh
    sq = r0 * r0
    sql = ((rh * rh - sq) + 2.0 * rh * rl) + rl * rl
    d = ((s - sq) - sql) + (se + pl)
    return r0 + d / (2.0 * r0)


@njit(**_INLINE)
def _block(c, n, flags):
    """(start, stop, offset of v, of g, of h) of block ``c``, as uint64: a needed output is
    indexed ``[j]``, a scratch one ``[j + offset]`` = this thread's slice of the scratch."""
    start = c * CHUNK
    stop = min(start + CHUNK, n)
    slot = get_thread_id() * CHUNK - start
    ov = 0 if flags & 1 else slot
    og = 0 if flags & 2 else slot
    oh = 0 if flags & 4 else slot
    return np.uint64(start), np.uint64(stop), np.uint64(ov), np.uint64(og), np.uint64(oh)


# --------------------------------------------------------------------------- binary


@njit(**_INLINE)
def _exp_log1p(x, single):
    """``(e, log1p(e))``, ``e = exp(-|x|)``: the float32 primitives where ``single``."""
    if single:
        e = exp_neg_f32(-abs(x))
        return e, log1p_unit_f32(e)
    e = exp_neg(-abs(x))
    return e, log1p_unit(e)


@njit(**_INLINE)
def _sigmoid_parts(x, single):
    """(p, q, log1p_e) = (sigmoid(x), sigmoid(-x), log1p(exp(-|x|))) from one exp, one log1p
    (float32-accurate ones where ``single``, a constant: the inputs are float32)."""
    e, l1 = _exp_log1p(x, single)
    op = 1.0 + e
    big = 1.0 / op
    small = e / op
    nonneg = x >= 0.0
    p = big if nonneg else small
    q = small if nonneg else big
    return p, q, l1


@njit(**_INLINE)
def _sigmoid_parts_1div(x, single):
    """:func:`_sigmoid_parts` with one division: ``e / (1 + e)`` as ``e * (1 / (1 + e))``."""
    e, l1 = _exp_log1p(x, single)
    big = 1.0 / (1.0 + e)
    small = e * big
    nonneg = x >= 0.0
    p = big if nonneg else small
    q = small if nonneg else big
    return p, q, l1


@njit(**_INLINE)
def _log_loss_gh_terms(yi, p, q, pos_weight):
    """Log loss's gradient ``(1 - y) p - pos_weight y q`` and Hessian
    ``(pos_weight y + 1 - y) p q`` (``p q`` for ``pos_weight = 1``; a NaN label still gives
    NaN), from ``p = sigmoid(z)``, ``q = sigmoid(-z)``. Shared by :func:`log_loss`,
    :func:`log_loss_gh` and the boosting kernel of :mod:`losslab._kernels._boost`."""
    wy = pos_weight * yi
    gr = (1.0 - yi) * p - wy * q
    he = p * q + 0.0 * yi if pos_weight == 1.0 else (wy + (1.0 - yi)) * (p * q)
    return gr, he


@njit(**_PAR)
def log_loss(y, z, w, v, g, h, p0, p1, flags):
    """Log loss with ``pos_weight = p0``: ``p0 y softplus(-z) + (1 - y) softplus(z)``,
    ``(1 - y) p - p0 y q``, ``(p0 y + 1 - y) p q`` (``p q`` for ``p0 = 1``)."""
    n = z.shape[0]
    weighted = (flags & 8) != 0
    nnan = 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            yi = np.float64(y[i])
            zi = np.float64(z[i])
            nnan += 0 if (yi + zi) == (yi + zi) else 1
            p, q, l1 = _sigmoid_parts(zi, _single(z))
            sp = (zi if zi > 0.0 else 0.0) + l1
            spn = (-zi if zi < 0.0 else 0.0) + l1
            wy = p0 * yi
            # a term of label weight 0 is dropped (0 * inf = 0 at z = +-inf), as _numerics.times
            val = (0.0 if wy == 0.0 else wy * spn) + (0.0 if yi == 1.0 else (1.0 - yi) * sp)
            gr, he = _log_loss_gh_terms(yi, p, q, p0)
            if weighted:
                wi = np.float64(w[i])
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
    return nnan


@njit(**_PAR)
def log_loss_gh(y, z, w, v, g, h, p0, p1, flags):
    """Log loss without its value (0 is stored): the gradient and Hessian need no log1p."""
    n = z.shape[0]
    weighted = (flags & 8) != 0
    nnan = 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            yi = np.float64(y[i])
            zi = np.float64(z[i])
            nnan += 0 if (yi + zi) == (yi + zi) else 1
            e = exp_neg(-abs(zi))
            op = 1.0 + e
            big = 1.0 / op
            small = e / op
            nonneg = zi >= 0.0
            p = big if nonneg else small
            q = small if nonneg else big
            gr, he = _log_loss_gh_terms(yi, p, q, p0)
            if weighted:
                wi = np.float64(w[i])
                gr *= wi
                he *= wi
            v[i + ov] = 0.0
            g[i + og] = gr
            h[i + oh] = he
    return nnan


@njit(**_INLINE)
def _focal_tail(qg, pt, q, ell, gamma, c2):
    """value, dFL/dx_t, d2FL/dx_t2 from ``qg = alpha_t q^gamma``, p_t, q and l = -log p_t."""
    val = qg * ell
    pt_ell = 0.0 if pt == 0.0 else pt * ell  # the limit 0 at x_t = -inf
    gr = -qg * (gamma * pt_ell + q)
    he = qg * (gamma * pt_ell * (gamma * pt - q) + c2 * (q * pt))
    return val, gr, he


@njit(**_INLINE)
def _focal_hard(yi, zi, ig, gamma, c2, alpha, a0, has_alpha, single):
    """Focal loss of one element with label 1 (else the y = 0 formula), float64 arithmetic,
    ``q^gamma`` by multiplication for ``ig = int(gamma)`` in 0..4: ``(p_t, q, value, dFL/dx_t,
    d2FL/dx_t2)`` at ``x_t = (2y - 1) z`` (:func:`_focal_tail`; ``c2 = 2 gamma + 1``,
    ``a0 = 1 - alpha``, ``has_alpha``: alpha is not None; the loop invariants are the caller's,
    computed once: here they cost 25 %). Shared by :func:`focal` and the boosting kernel of
    :mod:`losslab._kernels._boost`."""
    pos = yi == 1.0
    xt = zi if pos else -zi
    pt, q, l1 = _sigmoid_parts(xt, single)
    ell = (-xt if xt < 0.0 else 0.0) + l1
    q2 = q * q
    qg = (
        1.0
        if ig == 0
        else (q if ig == 1 else (q2 if ig == 2 else (q2 * q if ig == 3 else q2 * q2)))
    )
    at = (alpha if pos else a0) if has_alpha else 1.0
    val, gr, he = _focal_tail(at * qg, pt, q, ell, gamma, c2)
    return pt, q, val, gr, he


@njit(**_PAR)
def focal(y, z, w, v, g, h, gamma, alpha, flags):
    """Focal loss for hard labels and integer ``gamma`` in 0..4 (``alpha < 0`` means None):
    :func:`_focal_hard` per element. Elements whose label is not 0 or 1 get the y = 0 formula
    here and are counted (the return value) for :func:`focal_soft`.
    """
    ig = int(gamma)
    c2 = 2.0 * gamma + 1.0
    has_alpha = alpha >= 0.0
    a0 = 1.0 - alpha
    nsoft = 0
    n = z.shape[0]
    weighted = (flags & 8) != 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            yi = np.float64(y[i])
            zi = np.float64(z[i])
            pos = yi == 1.0
            nsoft += 0 if (pos or yi == 0.0) else 1
            _, _, val, gr, he = _focal_hard(yi, zi, ig, gamma, c2, alpha, a0, has_alpha, _single(z))
            gr = gr if pos else -gr
            if weighted:
                wi = np.float64(w[i])
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
    return nsoft


# float32 arithmetic (focal_f32): constants typed float32 so that numba keeps every operation in
# float32 (a Python float would promote to float64)
_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_F_EXP_MIN = np.float32(-104.0)  # e^-104 is below half the smallest float32 subnormal
_F_INV_LN2 = np.float32(1.4426950408889634)
_F_LN2_HI = np.float32(0.693145751953125)  # 16 significant bits: k * _F_LN2_HI is exact
_F_LN2_LO = np.float32(1.4286068203094173e-06)
_F_ROUND = np.float32(12582912.0)  # 1.5 * 2**23: t + _F_ROUND holds round(t) in its low bits
_F_EXP_BIAS = np.int32(151 << 23)  # the float32 exponent field of 2^(k + 24) is (k + 151) << 23
# e^r ~ 1 + r + sum c_k r^k (k = 2..6) on |r| <= ln2 / 2, minimax for the relative error
# (2^-28.3 with these coefficients in float64, a linear program on 3000 Chebyshev points), all
# times 2^-24 (exact: a power of two) so that one scaling by the normal 2^(k + 24) suffices
_F_EXP_C = tuple(
    np.float32(c * 2.0**-24)
    for c in (
        1.0,
        1.0,
        0.49999993447967,
        0.1666652063060856,
        0.04166838795609024,
        0.008368716961350772,
        0.0013814604798015613,
    )
)
# log(1 + e) ~ e + e^2 sum c_k e^(k - 2) (k = 2..10) on [0, 1], minimax for the relative error
# with float32 coefficients (2^-27.5; each fitted with the ones before it rounded to float32)
_F_LOG1P_C = tuple(
    np.float32(c)
    for c in (
        -0.4999993145465851,
        0.33330464363098145,
        -0.24958018958568573,
        0.19692102074623108,
        -0.15344880521297455,
        0.10661128163337708,
        -0.05745723098516464,
        0.020086241886019707,
        -0.003290468594059348,
    )
)


@intrinsic
def _float32_to_bits(typingctx, x):
    """Reinterpret the bits of a float32 as an int32 (LLVM ``bitcast``)."""
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return sig, codegen


@intrinsic
def _bits_to_float32(typingctx, x):
    """Reinterpret the bits of an int32 as a float32 (LLVM ``bitcast``)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@intrinsic
def _count_soft_32(typingctx, cnt, y):
    """``cnt + 1`` where ``y`` (a float) is neither 0 nor 1 (NaN included), else ``cnt``, in
    int32 arithmetic (``cnt`` an int32). numba widens an integer sum to int64, and an int64
    count in :func:`focal_f32`'s loop made LLVM vectorise it with half the float32 lanes
    (two 8-lane AVX2 vectors instead of 16-lane AVX-512 ones; 16 against 12 ms at 10^7)."""
    sig = types.int32(types.int32, y)

    def codegen(context, builder, signature, args):
        count, label = args
        hard = builder.or_(
            builder.fcmp_ordered("==", label, ir.Constant(label.type, 0.0)),
            builder.fcmp_ordered("==", label, ir.Constant(label.type, 1.0)),
        )
        return builder.add(count, builder.zext(builder.not_(hard), ir.IntType(32)))

    return sig, codegen


@njit(**_INLINE)
def exp_neg_32(x):
    """``e^x`` for float32 ``x <= 0`` in float32 arithmetic (-inf gives 0, NaN stays NaN):
    :func:`exp_neg`'s reduction ``x = k ln2 + r`` with a two-part float32 ln 2 and a degree-6
    minimax polynomial (:data:`_F_EXP_C`, scaled by 2^-24), times ``2^(k + 24)``, which is
    normal for every ``k >= -150``: one multiplication, which rounds a subnormal result once.
    ``k`` is read from the bits of ``x / ln2 + 1.5 * 2^23``. Within 0.89 float32 ulp (every
    float32 ``x`` in [-104, -2^-30] against float64 ``exp``, subnormal results in subnormal
    ulps); a NaN ``x`` passes the clamp and makes the polynomial NaN."""
    xc = _F_EXP_MIN if x < _F_EXP_MIN else x
    t = xc * _F_INV_LN2 + _F_ROUND
    kf = t - _F_ROUND
    r = (xc - kf * _F_LN2_HI) - kf * _F_LN2_LO
    c0, c1, c2, c3, c4, c5, c6 = _F_EXP_C
    p = c0 + r * (c1 + r * (c2 + r * (c3 + r * (c4 + r * (c5 + r * c6)))))
    # the bits of t are those of 1.5 * 2^23 plus k; shifted by 23, only k's remain (mod 2^32)
    return p * _bits_to_float32((_float32_to_bits(t) << 23) + _F_EXP_BIAS)


@njit(**_INLINE)
def log1p_unit_32(e):
    """``log(1 + e)`` for float32 ``e`` in [0, 1] (or NaN) in float32 arithmetic: a degree-10
    minimax polynomial (:data:`_F_LOG1P_C`), no division, no branch. Within 1.24 float32 ulp
    (every float32 ``e`` in [2^-40, 1] against float64 ``log1p``; below, ``e`` itself)."""
    c2, c3, c4, c5, c6, c7, c8, c9, c10 = _F_LOG1P_C
    p = c2 + e * (c3 + e * (c4 + e * (c5 + e * (c6 + e * (c7 + e * (c8 + e * (c9 + e * c10)))))))
    return e + (e * e) * p


@njit(**_INLINE)
def _focal_hard_32(yi, zi, ig, gm, c2, a1, a0):
    """:func:`_focal_hard` for float32 ``yi``, ``zi`` in float32 arithmetic
    (:func:`exp_neg_32`, :func:`log1p_unit_32`), with the float32 loop invariants ``gm``
    (gamma), ``c2`` (2 gamma + 1), ``a1``/``a0`` (alpha_t of a positive / negative, 1 for
    None): ``(p_t, q, value, dFL/dx_t, d2FL/dx_t2)``. Shared by :func:`focal_f32` and the
    boosting kernel of :mod:`losslab._kernels._boost` (both compiled with multiply-adds
    contracted)."""
    pos = yi == _F1
    xt = zi if pos else -zi
    e = exp_neg_32(-abs(xt))
    l1 = log1p_unit_32(e)
    big = _F1 / (_F1 + e)
    small = e * big
    nonneg = xt >= _F0
    pt = big if nonneg else small
    q = small if nonneg else big
    ell = (-xt if xt < _F0 else _F0) + l1
    q2 = q * q
    qg = (
        _F1
        if ig == 0
        else (q if ig == 1 else (q2 if ig == 2 else (q2 * q if ig == 3 else q2 * q2)))
    )
    qg = (a1 if pos else a0) * qg
    pt_ell = _F0 if pt == _F0 else pt * ell  # the limit 0 at x_t = -inf
    val = qg * ell
    gr = -qg * (gm * pt_ell + q)
    he = qg * (gm * pt_ell * (gm * pt - q) + c2 * (q * pt))
    return pt, q, val, gr, he


@njit(**_PAR_FMA)
def focal_f32(y, z, w, v, g, h, gamma, alpha, flags):
    """:func:`focal` for float32 inputs in float32 arithmetic: labels 0 and 1, integer
    ``gamma`` in 0..4, :func:`exp_neg_32` and :func:`log1p_unit_32`, twice the lanes per
    vector of the float64 arithmetic and multiply-adds fused (``fastmath={"contract"}``: the
    last bits may differ between machines with and without FMA). 3.9 times as fast as float64
    arithmetic on one thread at 10^7 elements into preallocated outputs (9.6 against 37 ms,
    ``benchmarks/README.md``): 16-lane AVX-512 code where the CPU has it, because the
    soft-label count is int32 within a block (:func:`_count_soft_32`), and no division but
    the sigmoid's. The outputs are within ``6 gamma + 8`` float32 ulps of the rounded float64
    result in units of their terms' magnitude and at most 1 ulp less accurate than the
    generic path's float32 arithmetic (``tests/test_kernels.py``; measured at gamma 2,
    alpha 0.25 on 10^6 hard labels: value 7, gradient 10, Hessian 8 ulps, the generic path
    10, 10, 8). Elements with other labels are counted for :func:`focal_soft`, which computes
    them in float64."""
    ig = int(gamma)
    gm = np.float32(gamma)
    c2 = np.float32(2.0 * gamma + 1.0)
    a1 = np.float32(alpha) if alpha >= 0.0 else _F1
    a0 = np.float32(1.0 - alpha) if alpha >= 0.0 else _F1
    nsoft = 0
    n = z.shape[0]
    weighted = (flags & 8) != 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        soft = np.int32(0)  # int32 within a block (see _count_soft_32)
        for i in range(i0, i1):
            yi = y[i]
            zi = z[i]
            pos = yi == _F1
            soft = _count_soft_32(soft, yi)
            _, _, val, gr, he = _focal_hard_32(yi, zi, ig, gm, c2, a1, a0)
            gr = gr if pos else -gr
            if weighted:
                wi = w[i]
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
        nsoft += soft
    return nsoft


@njit(**_PAR)
def focal_general(y, z, w, v, g, h, gamma, alpha, flags):
    """Focal loss for hard labels and any ``gamma >= 0``: ``q^gamma`` as ``sigmoid_pow``.

    ``q^gamma = pow(exp(-x_t / s), s gamma) * exp(-gamma log1p(e))`` for ``x_t > 0`` (``s``
    the smallest power of two with ``x_t / s`` at most about 673) and
    ``exp(-gamma log1p(e))`` otherwise; ``pow`` is libm's, so this loop is not vectorised.
    """
    c2 = 2.0 * gamma + 1.0
    has_alpha = alpha >= 0.0
    a0 = 1.0 - alpha
    thr = _POW_THRESHOLD
    nsoft = 0
    n = z.shape[0]
    weighted = (flags & 8) != 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            yi = np.float64(y[i])
            zi = np.float64(z[i])
            pos = yi == 1.0
            nsoft += 0 if (pos or yi == 0.0) else 1
            xt = zi if pos else -zi
            pt, q, l1 = _sigmoid_parts(xt, _single(z))
            ell = (-xt if xt < 0.0 else 0.0) + l1
            qg = 1.0
            if gamma != 0.0:
                tail = exp_neg(-gamma * l1)
                if xt > 0.0:
                    mag = xt if xt < _MAX else _MAX
                    scale = 2.0 ** np.ceil(np.log2((mag if mag > thr else thr) / thr))
                    qg = math.pow(exp_neg(-xt / scale), scale * gamma) * tail
                else:
                    qg = 1.0 * tail
            at = (alpha if pos else a0) if has_alpha else 1.0
            val, gr, he = _focal_tail(at * qg, pt, q, ell, gamma, c2)
            gr = gr if pos else -gr
            if weighted:
                wi = np.float64(w[i])
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
    return nsoft


@njit(**_PAR)
def focal_soft(y, z, w, v, g, h, gamma, alpha, flags):
    """Overwrite the elements whose label is not 0 or 1 with the soft-label focal loss.

    ``m = 1 - p_t = y q + (1 - y) p``, ``CE = y softplus(-z) + (1 - y) softplus(z)``,
    ``rho = (1 - 2y) p q / m``, ``t = gamma rho``::

        FL   = alpha_t m^gamma CE
        FL'  = alpha_t m^gamma (CE' + t CE)
        FL'' = alpha_t m^gamma (p q + 2 t CE' + t CE ((gamma - 1) rho - tanh(z / 2)))

    (``losslab.losses.binary.FocalLoss._soft``). Scalar libm ``pow`` and ``tanh``.
    """
    has_alpha = alpha >= 0.0
    n = z.shape[0]
    weighted = (flags & 8) != 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            yi = np.float64(y[i])
            if not (yi == 0.0 or yi == 1.0):
                zi = np.float64(z[i])
                p, q, l1 = _sigmoid_parts(zi, _single(z))
                sp = (zi if zi > 0.0 else 0.0) + l1
                spn = (-zi if zi < 0.0 else 0.0) + l1
                at = alpha * yi + (1.0 - alpha) * (1.0 - yi) if has_alpha else 1.0
                m = yi * q + (1.0 - yi) * p
                mg = at * (math.pow(m, gamma) if gamma != 0.0 else 1.0)
                ce = (0.0 if yi == 0.0 else yi * spn) + (0.0 if yi == 1.0 else (1.0 - yi) * sp)
                val = mg * ce
                pq = p * q
                ce1 = (1.0 - yi) * p - yi * q
                rho = (1.0 - 2.0 * yi) * pq / m
                t = gamma * rho
                tce = 0.0 if t == 0.0 else t * ce
                gr = mg * (ce1 + tce)
                he = mg * (pq + 2.0 * t * ce1 + tce * ((gamma - 1.0) * rho - math.tanh(0.5 * zi)))
                if weighted:
                    wi = np.float64(w[i])
                    val *= wi
                    gr *= wi
                    he *= wi
                v[i + ov] = val
                g[i + og] = gr
                h[i + oh] = he
    return 0


@njit(**_PAR)
def focal_star(y, z, w, v, g, h, gamma, beta, flags):
    """FL* for labels 0 and 1: one sigmoid per element instead of two.

    With ``a = gamma z + beta`` and ``b = gamma z - beta`` the general form (see
    :func:`focal_star_soft`) multiplies one of its two terms by 0. For ``y = 1`` it is
    ``softplus(u) / gamma``, gradient ``-s(u)``, Hessian ``gamma s(u) s(-u)`` with ``u = -a``;
    for ``y = 0`` the same with ``u = b`` and gradient ``+s(u)``: bit for bit the general form
    (``x + 0 = x``, ``0 - x = -x``) wherever ``a`` and ``b`` are finite. The other elements
    (soft labels, NaN, infinite ``a`` or ``b``, where the general form has ``0 * inf``) are
    counted (the return value) for :func:`focal_star_soft` to overwrite.
    """
    inv_gamma = 1.0 / gamma
    bg = beta / gamma
    n = z.shape[0]
    weighted = (flags & 8) != 0
    nfix = 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            yi = np.float64(y[i])
            gz = gamma * np.float64(z[i])
            pos = yi == 1.0
            a = gz + beta
            b = gz - beta
            ok = (pos or yi == 0.0) and (a - a) == 0.0 and (b - b) == 0.0
            nfix += 0 if ok else 1
            u = -a if pos else b
            pu, qu, lu = _sigmoid_parts_1div(u, _single(z))
            # softplus(u) / gamma = max(u / gamma, 0) + log1p(e^-|u|) / gamma, with u / gamma
            # written as -z - beta / gamma or z - beta / gamma: finite where gamma z overflows
            zi = np.float64(z[i])
            ug = -zi - bg if pos else zi - bg
            val = (ug if ug > 0.0 else 0.0) + lu * inv_gamma
            gr = -pu if pos else pu
            he = gamma * (pu * qu)
            if weighted:
                wi = np.float64(w[i])
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
    return nfix


@njit(**_PAR)
def focal_star_soft(y, z, w, v, g, h, gamma, beta, flags):
    """Overwrite the elements :func:`focal_star` counted with the general FL*:
    ``[y softplus(-a) + (1 - y) softplus(b)] / gamma`` (each ``softplus(x) / gamma`` as
    ``max(x / gamma, 0) + log1p(e^-|x|) / gamma``, finite where ``gamma z`` overflows),
    ``a = gamma z + beta``,
    ``b = gamma z - beta``; gradient ``(1 - y) s(b) - y s(-a)``; Hessian
    ``gamma [y s(a) s(-a) + (1 - y) s(b) s(-b)]``.
    """
    inv_gamma = 1.0 / gamma
    bg = beta / gamma
    n = z.shape[0]
    weighted = (flags & 8) != 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            yi = np.float64(y[i])
            gz = gamma * np.float64(z[i])
            a = gz + beta
            b = gz - beta
            if not ((yi == 1.0 or yi == 0.0) and (a - a) == 0.0 and (b - b) == 0.0):
                pa, qa, la = _sigmoid_parts_1div(a, _single(z))
                pb, qb, lb = _sigmoid_parts_1div(b, _single(z))
                zi = np.float64(z[i])
                na = -zi - bg
                nb = zi - bg
                spn_a = (na if na > 0.0 else 0.0) + la * inv_gamma
                sp_b = (nb if nb > 0.0 else 0.0) + lb * inv_gamma
                val = (0.0 if yi == 0.0 else yi * spn_a) + (0.0 if yi == 1.0 else (1.0 - yi) * sp_b)
                gr = (1.0 - yi) * pb - yi * qa
                he = gamma * (yi * (pa * qa) + (1.0 - yi) * (pb * qb))
                if weighted:
                    wi = np.float64(w[i])
                    val *= wi
                    gr *= wi
                    he *= wi
                v[i + ov] = val
                g[i + og] = gr
                h[i + oh] = he
    return 0


# --------------------------------------------------------------------------- regression


@njit(**_PAR)
def squared(y, z, w, v, g, h, half, p1, flags):
    """``r = z - y``; ``half > 0``: ``(r/2) r``, ``r``, 1; else ``r^2``, ``2 r``, 2 (NaN stays)."""
    is_half = half > 0.0
    hc = 1.0 if is_half else 2.0
    n = z.shape[0]
    weighted = (flags & 8) != 0
    nnan = 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            r = np.float64(z[i]) - np.float64(y[i])
            nnan += 0 if r == r else 1
            val = (0.5 * r) * r if is_half else r * r
            gr = r if is_half else 2.0 * r
            he = hc if r == r else r
            if weighted:
                wi = np.float64(w[i])
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
    return nnan


@njit(**_PAR)
def linear(y, z, w, v, g, h, tau, absolute, flags):
    """Absolute error (``absolute > 0``: ``|r|``, ``sign(r)``, 0) or pinball loss of quantile
    ``tau`` (``(1 - tau) r`` for ``r > 0`` else ``-tau r``; gradient ``1 - tau``, ``-tau`` or 0
    at ``r = 0``; Hessian 0), ``r = z - y``."""
    is_abs = absolute > 0.0
    n = z.shape[0]
    weighted = (flags & 8) != 0
    nnan = 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            r = np.float64(z[i]) - np.float64(y[i])
            nnan += 0 if r == r else 1
            over = r > 0.0
            under = r < 0.0
            if is_abs:
                val = abs(r)
                gr = 1.0 if over else (-1.0 if under else r)
            else:
                val = (1.0 - tau) * r if over else tau * -r
                gr = (1.0 - tau) if over else (-tau if under else 0.0 * r)
            he = 0.0 if r == r else r
            if weighted:
                wi = np.float64(w[i])
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
    return nnan


@njit(**_PAR)
def huber(y, z, w, v, g, h, delta, p1, flags):
    """Huber: ``(r/2) r``, ``r``, 1 for ``|r| <= delta``; ``delta (|r| - delta/2)``,
    ``delta sign(r)``, 0 beyond."""
    half_d = 0.5 * delta
    n = z.shape[0]
    weighted = (flags & 8) != 0
    nnan = 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            r = np.float64(z[i]) - np.float64(y[i])
            nnan += 0 if r == r else 1
            a = abs(r)
            inner = a <= delta
            r_in = r if inner else 0.0
            val = (0.5 * r_in) * r_in if inner else delta * (a - half_d)
            sgn = 1.0 if r > 0.0 else (-1.0 if r < 0.0 else r)
            gr = r if inner else delta * sgn
            he = (1.0 if inner else 0.0) if r == r else r
            if weighted:
                wi = np.float64(w[i])
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
    return nnan


@njit(**_PAR)
def pseudo_huber(y, z, w, v, g, h, delta, p1, flags):
    """Pseudo-Huber without cancellation or overflow. For ``|r| <= delta``, ``h = hypot(1, r/d)``:
    ``r (r / (h + 1))``, ``r / h``, ``(1/h)^3``; beyond, ``w = d / |r|``, ``s = hypot(1, w)``:
    ``|r| d / (s + w)``, ``sign(r) d / s``, ``(w / s)^3``."""
    n = z.shape[0]
    weighted = (flags & 8) != 0
    nnan = 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            r = np.float64(z[i]) - np.float64(y[i])
            nnan += 0 if r == r else 1
            a = abs(r)
            inner = a <= delta
            t = a / delta if inner else delta / a
            hh = hypot1(t)
            ih = 1.0 / hh
            ws = t / hh
            sgn = 1.0 if r > 0.0 else (-1.0 if r < 0.0 else r)
            val = r * (r / (hh + 1.0)) if inner else a * (delta / (hh + t))
            gr = r / hh if inner else sgn * (delta / hh)
            he = ih * ih * ih if inner else ws * ws * ws
            if weighted:
                wi = np.float64(w[i])
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
    return nnan


@njit(**_PAR)
def log_cosh(y, z, w, v, g, h, p0, p1, flags):
    """log cosh r: ``log1p(2 sinh(r/2)^2)`` for ``|r| <= 1``, else
    ``|r| - log 2 + log1p(e)``, ``e = exp(-2|r|)``; gradient ``tanh r`` (``sinh r / cosh r``
    for ``|r| <= 1``, ``sign(r) (1 - e) / (1 + e)`` beyond); Hessian ``4 e / (1 + e)^2``."""
    n = z.shape[0]
    weighted = (flags & 8) != 0
    nnan = 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            r = np.float64(z[i]) - np.float64(y[i])
            nnan += 0 if r == r else 1
            a = abs(r)
            e = exp_neg(-2.0 * a)
            small = a <= 1.0
            r_in = r if small else 0.0
            sh = sinh_small(0.5 * r_in)
            # one log1p and one division serve both branches (selects, not branches)
            lp = log1p_unit(2.0 * (sh * sh) if small else e)
            val = lp if small else (a - _LOG2) + lp
            op = 1.0 + e
            om = 1.0 - e
            num = sinh_small(r_in) if small else (om if r > 0.0 else -om)
            gr = num / (cosh_small(r_in) if small else op)
            he = 4.0 * e / (op * op)
            if weighted:
                wi = np.float64(w[i])
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
    return nnan


# --------------------------------------------------------------------------- log link, exponential
# half_poisson, half_gamma, half_tweedie (losslab.losses.glm) and exponential: the generic path's
# formulas operation for operation, with exp from _exp_any (exp_neg's reduction on the whole
# range) and expm1(x) = 2 sinh(x/2) (cosh(x/2) + sinh(x/2)) from the series above for |x| < 1.


@njit(**_INLINE)
def _exp_any(x):
    """``e^x`` for any x or NaN, faithful (< 1 ulp): :func:`exp_neg`'s reduction with x
    clamped to [-746, 710], so that large x overflows to inf (``2^k`` in two halves, as there)."""
    xc = -746.0 if x < -746.0 else (710.0 if x > 710.0 else x)
    kf = (xc * _INV_LN2 + _ROUND) - _ROUND
    hi = xc - kf * _LN2_HI
    lo = kf * _LN2_LO
    r = hi - lo
    q8 = _T8 + r * (_T9 + r * (_T10 + r * (_T11 + r * (_T12 + r * _T13))))
    q = _T2 + r * (_T3 + r * (_T4 + r * (_T5 + r * (_T6 + r * (_T7 + r * q8)))))
    y = 1.0 + (hi - (lo - r * r * q))
    k = np.int64(kf)
    k1 = k >> 1
    k2 = k - k1
    res = y * _bits_to_float((k1 + 1023) << 52) * _bits_to_float((k2 + 1023) << 52)
    return res if x == x else x


@njit(**_INLINE)
def _expm1_small(x):
    """``e^x - 1`` for ``|x| <= 1``: ``2 s (c + s)``, ``s, c = sinh, cosh(x / 2)``; ~2 ulp."""
    s = sinh_small(0.5 * x)
    return 2.0 * s * (cosh_small(0.5 * x) + s)


@njit(**_INLINE)
def _poisson_parts(yi, zi):
    """``e^z - y z`` (0 * z = 0 at y = 0; +inf once e^z overflows), ``e^z - y``
    (``expm1(z) + (1 - y)`` for |z| < 1), ``e^z``."""
    ez = _exp_any(zi)
    yz = yi * (0.0 if yi == 0.0 else zi)
    val = ez - (0.0 * yi if ez == np.inf else yz)
    small = abs(zi) < 1.0
    zs = zi if small else 0.0
    gr = (_expm1_small(zs) + (1.0 - yi)) if small else ez - yi
    return val, gr, ez + 0.0 * yi  # a NaN target: NaN Hessian too


@njit(**_INLINE)
def _gamma_parts(yi, zi):
    """``z + t``, ``1 - t`` (``(1 - y) - y expm1(-z)`` for |z| < 1), ``t``, with
    ``t = (y e^(-z/2)) e^(-z/2)``."""
    a = _exp_any(-0.5 * zi)
    t = (yi * a) * a
    val = (0.0 if abs(t) == np.inf else zi) + t
    small = abs(zi) < 1.0
    zs = zi if small else 0.0
    gr = ((1.0 - yi) - yi * _expm1_small(-zs)) if small else 1.0 - t
    return val, gr, t


@njit(**_INLINE)
def _squared_log_parts(yi, zi):
    """Tweedie power 0: ``d = e^z - y`` (expm1 form for |z| < 1); ``(d/2) d``, ``e^z d``,
    ``e^z (e^z + d)``."""
    ez = _exp_any(zi)
    small = abs(zi) < 1.0
    zs = zi if small else 0.0
    d = (_expm1_small(zs) + (1.0 - yi)) if small else ez - yi
    return (0.5 * d) * d, ez * d, ez * (ez + d)


@njit(**_INLINE)
def _tweedie_combine(a, h2, b, yi, h1, zi):
    """``(a h2) h2 - ((b y) h1) h1`` (0 at y = 0 whatever h1); where both terms overflow, the
    one with the larger exponent (the first for z > 0, the second for z < 0)."""
    first = (a * h2) * h2
    h1y = 0.0 if yi == 0.0 else h1
    second = ((b * yi) * h1y) * h1y
    both = abs(first) == np.inf and abs(second) == np.inf
    first = 0.0 if (both and zi < 0.0) else first
    second = 0.0 if (both and zi > 0.0) else second
    return first - second


@njit(**_INLINE)
def _tweedie_parts(yi, zi, k2, k1):
    """Tweedie power p = 2 - k2 not in {0, 1, 2}, from ``h = e^(k z / 2)``: the bracket forms
    with ``m = expm1(z)`` for |z| < 1, :func:`_tweedie_combine` beyond."""
    h2 = _exp_any(0.5 * (k2 * zi))
    h1 = _exp_any(0.5 * (k1 * zi))
    small = abs(zi) < 1.0
    zs = zi if small else 0.0
    m = _expm1_small(zs)
    h1s = h1 if small else 0.0
    e1s = h1s * h1s
    if small:
        val = e1s * (m / k2 + (1.0 / k2 - yi / k1))
        gr = e1s * (m + (1.0 - yi))
        he = e1s * (k2 * m + (k2 - k1 * yi))
    else:
        val = _tweedie_combine(1.0 / k2, h2, 1.0 / k1, yi, h1, zi)
        gr = _tweedie_combine(1.0, h2, 1.0, yi, h1, zi)
        he = _tweedie_combine(k2, h2, k1, yi, h1, zi)
    return val, gr, he


@njit(**_PAR)
def half_poisson(y, z, w, v, g, h, p0, p1, flags):
    """Half Poisson deviance, log link: ``e^z - y z``, ``e^z - y``, ``e^z``."""
    n = z.shape[0]
    weighted = (flags & 8) != 0
    nnan = 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            yi = np.float64(y[i])
            zi = np.float64(z[i])
            nnan += 0 if (yi + zi) == (yi + zi) else 1
            val, gr, he = _poisson_parts(yi, zi)
            if weighted:
                wi = np.float64(w[i])
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
    return nnan


@njit(**_PAR)
def half_gamma(y, z, w, v, g, h, p0, p1, flags):
    """Half Gamma deviance, log link: ``z + y e^(-z)``, ``1 - y e^(-z)``, ``y e^(-z)``."""
    n = z.shape[0]
    weighted = (flags & 8) != 0
    nnan = 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            yi = np.float64(y[i])
            zi = np.float64(z[i])
            nnan += 0 if (yi + zi) == (yi + zi) else 1
            val, gr, he = _gamma_parts(yi, zi)
            if weighted:
                wi = np.float64(w[i])
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
    return nnan


@njit(**_PAR)
def half_tweedie(y, z, w, v, g, h, power, p1, flags):
    """Half Tweedie deviance of power ``power``, log link (scikit-learn's dispatch: power 0 is
    ``(e^z - y)^2 / 2``, 1 half Poisson, 2 half Gamma)."""
    mode = 0 if power == 0.0 else (1 if power == 1.0 else (2 if power == 2.0 else 3))
    k2 = 2.0 - power
    k1 = 1.0 - power
    n = z.shape[0]
    weighted = (flags & 8) != 0
    nnan = 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            yi = np.float64(y[i])
            zi = np.float64(z[i])
            nnan += 0 if (yi + zi) == (yi + zi) else 1
            if mode == 3:
                val, gr, he = _tweedie_parts(yi, zi, k2, k1)
            elif mode == 1:
                val, gr, he = _poisson_parts(yi, zi)
            elif mode == 2:
                val, gr, he = _gamma_parts(yi, zi)
            else:
                val, gr, he = _squared_log_parts(yi, zi)
            if weighted:
                wi = np.float64(w[i])
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
    return nnan


@njit(**_PAR)
def exponential(y, z, w, v, g, h, p0, p1, flags):
    """Exponential loss ``y e^(-z) + (1 - y) e^z`` (Hessian = value), with ``e = e^(-|z|/2)``:
    growing term ``(c / e) / e`` (0 where its coefficient is), decaying ``(c e) e``; gradient
    ``(1 - 2y) cosh z + sinh z`` for |z| < 1."""
    n = z.shape[0]
    weighted = (flags & 8) != 0
    nnan = 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            yi = np.float64(y[i])
            zi = np.float64(z[i])
            nnan += 0 if (yi + zi) == (yi + zi) else 1
            a = abs(zi)
            e = exp_neg(-0.5 * a)
            nonneg = zi >= 0.0
            ym = 1.0 - yi
            cg = ym if nonneg else yi
            cd = yi if nonneg else ym
            big = 0.0 if cg == 0.0 else 1.0 / e
            grow = (cg * big) * big
            decay = (cd * e) * e
            val = grow + decay
            small = a < 1.0
            zs = zi if small else 0.0
            far = grow - decay if nonneg else decay - grow
            gr = ((1.0 - 2.0 * yi) * cosh_small(zs) + sinh_small(zs)) if small else far
            he = val
            if weighted:
                wi = np.float64(w[i])
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
    return nnan


# --------------------------------------------------------------------------- detection family


@njit(**_INLINE)
def _q_pow(xt, l1, gamma):
    """``sigmoid(-x_t)^gamma`` as :func:`focal_general` forms it (``sigmoid_pow``)."""
    if gamma == 0.0:
        return 1.0
    tail = exp_neg(-gamma * l1)
    if xt > 0.0:
        mag = xt if xt < _MAX else _MAX
        thr = _POW_THRESHOLD
        scale = 2.0 ** np.ceil(np.log2((mag if mag > thr else thr) / thr))
        return math.pow(exp_neg(-xt / scale), scale * gamma) * tail
    return 1.0 * tail


@njit(**_PAR)
def varifocal(y, z, w, v, g, h, alpha, gamma, flags):
    """Varifocal loss (``losslab.losses.detection.VarifocalLoss``): for ``q = y != 0``
    ``q CE(q, z)``, ``q (p - q)``, ``q p (1 - p)``; for ``q = 0`` the focal loss of a negative,
    ``alpha p^gamma softplus(z)``, through :func:`_focal_tail` at ``x_t = -z``. Scalar libm
    ``pow`` for ``p^gamma`` (as :func:`focal_general`)."""
    c2 = 2.0 * gamma + 1.0
    n = z.shape[0]
    weighted = (flags & 8) != 0
    nnan = 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            yi = np.float64(y[i])
            zi = np.float64(z[i])
            nnan += 0 if (yi + zi) == (yi + zi) else 1
            if yi != 0.0:
                p, q, l1 = _sigmoid_parts(zi, _single(z))
                sp = (zi if zi > 0.0 else 0.0) + l1
                spn = (-zi if zi < 0.0 else 0.0) + l1
                ce = yi * spn + (0.0 if yi == 1.0 else (1.0 - yi) * sp)
                val = yi * ce
                gr = yi * ((1.0 - yi) * p - yi * q)
                he = yi * (p * q)
            else:
                xt = -zi
                pt, q, l1 = _sigmoid_parts(xt, _single(z))
                ell = (-xt if xt < 0.0 else 0.0) + l1
                val, gt, he = _focal_tail(alpha * _q_pow(xt, l1, gamma), pt, q, ell, gamma, c2)
                gr = -gt
            if weighted:
                wi = np.float64(w[i])
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
    return nnan


@njit(**_INLINE)
def _poly_series(t, eps, scale):
    """``sum_{k=1}^{20} (-1)^(k+1) (scale/k + eps) t^k`` by Horner (``detection._poly_series``)."""
    acc = 0.0
    for k in range(20, 0, -1):
        coef = (1.0 if k % 2 else -1.0) * (scale / k + eps)
        acc = coef + t * acc
    return t * acc


_LOG_TENTH = math.log(0.1)


@njit(**_PAR)
def poly1(y, z, w, v, g, h, eps, p1, flags):
    """Poly-1 (``losslab.losses.detection.Poly1Loss``): ``y H(-z) + (1 - y) H(z)`` with
    ``H(x) = softplus(x) + eps sigmoid(x)`` (the series for ``eps < 0`` and ``e^x <= 0.1``),
    gradient ``(1 - y) p (p + (1 + eps) q) - y q (q + (1 + eps) p)``, Hessian
    ``p q (y ((1 - eps) q + (1 + eps) p) + (1 - y) ((1 - eps) p + (1 + eps) q))``."""
    n = z.shape[0]
    weighted = (flags & 8) != 0
    nnan = 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            yi = np.float64(y[i])
            zi = np.float64(z[i])
            nnan += 0 if (yi + zi) == (yi + zi) else 1
            e = exp_neg(-abs(zi))
            l1 = log1p_unit(e)
            op = 1.0 + e
            big = 1.0 / op
            small = e / op
            p = big if zi >= 0.0 else small
            q = small if zi >= 0.0 else big
            h_pos = (zi if zi > 0.0 else 0.0) + l1 + eps * p
            h_neg = (-zi if zi < 0.0 else 0.0) + l1 + eps * q
            if eps < 0.0:
                series = _poly_series(e if e <= 0.1 else 0.0, eps, 1.0)
                h_pos = series if zi <= _LOG_TENTH else h_pos
                h_neg = series if -zi <= _LOG_TENTH else h_neg
            val = (0.0 if yi == 0.0 else yi * h_neg) + (0.0 if yi == 1.0 else (1.0 - yi) * h_pos)
            gr = (1.0 - yi) * (p * (p + (1.0 + eps) * q)) - yi * (q * (q + (1.0 + eps) * p))
            he = (p * q) * (
                yi * ((1.0 - eps) * q + (1.0 + eps) * p)
                + (1.0 - yi) * ((1.0 - eps) * p + (1.0 + eps) * q)
            )
            if weighted:
                wi = np.float64(w[i])
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
    return nnan


@njit(**_INLINE)
def _pow(x, a, general):
    """``x^a`` for ``x >= 0``: libm ``pow`` where ``general`` (a constant, so that the other
    variant compiles without the call and vectorises); otherwise ``a`` is a whole number in
    -2..4 and the power is a product (exact to an ulp per factor; the negative exponents
    occur only under a zero coefficient)."""
    if general:
        return math.pow(x, a)
    k = int(a)
    x2 = x * x
    return (
        1.0
        if k == 0
        else (
            x
            if k == 1
            else (
                x2
                if k == 2
                else (
                    x2 * x
                    if k == 3
                    else (x2 * x2 if k == 4 else (1.0 / x if k == -1 else 1.0 / x2))
                )
            )
        )
    )


@njit(**_INLINE)
def _tanh_half(z, e):
    """``tanh(z / 2)`` from ``e = exp(-|z|)``: ``sinh / cosh`` of ``|z| / 2`` (the series) for
    ``|z| < 1``, ``(1 - e) / (1 + e)`` otherwise, with z's sign; within about 2 ulp, IEEE
    arithmetic only (vectorisable, unlike libm ``tanh``)."""
    a = abs(z)
    hs = 0.5 * (a if a < 1.0 else 1.0)
    t = sinh_small(hs) / cosh_small(hs) if a < 1.0 else (1.0 - e) / (1.0 + e)
    return -t if z < 0.0 else t


_TWO54 = 2.0**54
_MANTISSA = (1 << 52) - 1
_ONE_BITS = 1023 << 52


@njit(**_INLINE)
def _neg_log_half(x):
    """``-log(x)`` for ``0 < x <= 1/2`` (or NaN): ``x = 2^k m``, ``m`` in [1, 2), and
    ``-log(x) = -k ln2 - log1p(m - 1)`` with :func:`log1p_unit` (``m - 1`` is exact; the two
    terms have opposite signs but the first is at most twice the result for k <= -2, so the
    error stays within about 3 ulp). Subnormal x are scaled by 2^54 first. IEEE arithmetic
    and bit casts only (vectorisable, unlike libm ``log``)."""
    sub = x < 2.2250738585072014e-308
    xs = x * _TWO54 if sub else x
    bits = _float_to_bits(xs)
    k = (bits >> 52) - 1023 - (54 if sub else 0)
    m = _bits_to_float((bits & _MANTISSA) | _ONE_BITS)
    kf = np.float64(k)
    return (-kf * _LN2_HI) - (kf * _LN2_LO + log1p_unit(m - 1.0))


@njit(**_INLINE)
def _sign(x):
    """``numpy.sign``: -1, 0 or 1, NaN for NaN."""
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else x)


@njit(**_INLINE)
def _quality_focal_elem(yi, zi, beta, general):
    """Quality Focal loss of one element (:func:`quality_focal`)."""
    e = exp_neg(-abs(zi))
    l1 = log1p_unit(e)
    op = 1.0 + e
    big = 1.0 / op
    small = e / op
    nonneg = zi >= 0.0
    p = big if nonneg else small
    q = small if nonneg else big
    sp = (zi if zi > 0.0 else 0.0) + l1
    spn = (-zi if zi < 0.0 else 0.0) + l1
    th = _tanh_half(zi, e)
    d = (0.5 - yi) + 0.5 * th if abs(zi) < 1.0 else (p - yi if zi <= -1.0 else (1.0 - yi) - q)
    d = p if yi == 0.0 else (-q if yi == 1.0 else d)
    ad = abs(d)
    ce = (0.0 if yi == 0.0 else yi * spn) + (0.0 if yi == 1.0 else (1.0 - yi) * sp)
    pb = _pow(ad, beta, general)
    val = 0.0 if pb == 0.0 else pb * ce
    nz = ad != 0.0  # NaN stays on the nonzero branch and propagates
    sa = ad if nz else 1.0
    sg = _sign(d)
    pw1 = _pow(sa, beta - 1.0, general)
    vv = p * q
    vce = 0.0 if vv == 0.0 else vv * ce
    gr = sg * pw1 * (beta * vce + d * d) if nz else 0.0
    vm = vv * -th
    h_nz = beta * sg * pw1 * (0.0 if vm == 0.0 else vm * ce) + (2.0 * beta + 1.0) * pb * vv
    if beta != 1.0:
        h_nz = h_nz + (beta * (beta - 1.0)) * (_pow(sa, beta - 2.0, general) * (vce * vv))
    at_kink = (0.0 if beta > 2.0 else math.inf) if vv > 0.0 else 0.0  # d = 0, beta != 2
    h0 = 2.0 * vv * vce if beta == 2.0 else at_kink
    return val, gr, (h_nz if nz else h0)


@njit(**_PAR)
def quality_focal(y, z, w, v, g, h, beta, p1, flags):
    """Quality Focal loss (``losslab.losses.detection.QualityFocalLoss``) for ``beta`` in
    1..4: ``|d|^beta CE(y, z)``, ``d = p - y`` formed without cancellation
    (``(1/2 - y) + tanh(z/2)/2`` for |z| < 1, ``p - y`` for z <= -1, ``(1 - y) - q`` for
    z >= 1, exactly ``p`` / ``-q`` for y = 0 / 1)::

        grad = s |d|^(beta-1) (beta v CE + d^2)
        hess = v [beta (beta-1) |d|^(beta-2) v CE + beta s |d|^(beta-1) (1-2p) CE
                  + (2 beta + 1) |d|^beta]

    with ``v = p q``, ``s = sign(d)``, ``1 - 2p = -tanh(z/2)``; at d = 0 the gradient is 0
    and the Hessian its limit (``2 v^2 CE`` for beta = 2, 0 for beta > 2, inf for beta < 2
    where v > 0). Float64 primitives for both dtypes (``p - y`` cancels, so float32-accurate
    ones would not do).
    """
    n = z.shape[0]
    weighted = (flags & 8) != 0
    nnan = 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            yi = np.float64(y[i])
            zi = np.float64(z[i])
            nnan += 0 if (yi + zi) == (yi + zi) else 1
            val, gr, he = _quality_focal_elem(yi, zi, beta, False)
            if weighted:
                wi = np.float64(w[i])
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
    return nnan


@njit(**_PAR)
def quality_focal_general(y, z, w, v, g, h, beta, p1, flags):
    """:func:`quality_focal` for any ``beta >= 1`` (scalar libm ``pow``)."""
    n = z.shape[0]
    weighted = (flags & 8) != 0
    nnan = 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            yi = np.float64(y[i])
            zi = np.float64(z[i])
            nnan += 0 if (yi + zi) == (yi + zi) else 1
            val, gr, he = _quality_focal_elem(yi, zi, beta, True)
            if weighted:
                wi = np.float64(w[i])
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
    return nnan


@njit(**_INLINE)
def _q_gamma(xt, l1, q, gamma, general):
    """``q^gamma``, ``q = sigmoid(-x_t)``: :func:`_q_pow` where ``general``, else products."""
    if general:
        return _q_pow(xt, l1, gamma)
    return _pow(q, gamma, False)


@njit(**_INLINE)
def _poly1_focal_hard(yi, zi, gamma, alpha, eps, general, single):
    """Poly-1 focal of one element with label 0 or 1 (any other label: the y = 0 formula):
    ``U = alpha_t l + eps q`` (the series where eps < 0 and ``e^(-x_t) <= 0.1``),
    ``L = q^gamma U``, ``dL/dz = -(2y-1) q^gamma (gamma p_t U + q V)``,
    ``d2L/dz2 = q^gamma (gamma p_t U (gamma p_t - q) + p_t q C)`` with
    ``V = (alpha_t + eps) - eps q``, ``C = (2 gamma + 1)(alpha_t + eps) - 2 (gamma + 1) eps q``
    (``Poly1FocalLoss._hard``)."""
    pos = yi == 1.0
    xt = zi if pos else -zi
    e, l1 = _exp_log1p(xt, single)
    op = 1.0 + e
    big = 1.0 / op
    small = e / op
    nonneg = xt >= 0.0
    pt = big if nonneg else small
    q = small if nonneg else big
    ell = (-xt if xt < 0.0 else 0.0) + l1
    at = (alpha if pos else 1.0 - alpha) if alpha >= 0.0 else 1.0
    u = at * ell + eps * q
    if eps < 0.0 and -xt <= _LOG_TENTH:
        u = _poly_series(e if e <= 0.1 else 0.0, eps, at)
    qg = _q_gamma(xt, l1, q, gamma, general)
    val = qg * u
    pt_u = 0.0 if pt == 0.0 else pt * u
    vv = (at + eps) - eps * q
    gr = -qg * (gamma * pt_u + q * vv)
    cc = (2.0 * gamma + 1.0) * (at + eps) - 2.0 * (gamma + 1.0) * eps * q
    he = qg * (gamma * pt_u * (gamma * pt - q) + pt * q * cc)
    return val, (gr if pos else -gr), he


@njit(**_PAR)
def poly1_focal(y, z, w, v, g, h, gamma, alpha, eps, flags):
    """Poly-1 focal loss for labels 0 and 1 and ``gamma`` in 0..4 (``alpha < 0``: None),
    :func:`_poly1_focal_hard`; returns the number of other labels, which
    :func:`poly1_focal_soft` overwrites."""
    nsoft = 0
    n = z.shape[0]
    weighted = (flags & 8) != 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            yi = np.float64(y[i])
            zi = np.float64(z[i])
            nsoft += 0 if (yi == 1.0 or yi == 0.0) else 1
            val, gr, he = _poly1_focal_hard(yi, zi, gamma, alpha, eps, False, _single(z))
            if weighted:
                wi = np.float64(w[i])
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
    return nsoft


@njit(**_PAR)
def poly1_focal_general(y, z, w, v, g, h, gamma, alpha, eps, flags):
    """:func:`poly1_focal` for any ``gamma >= 0`` (``q^gamma`` as :func:`_q_pow`, scalar)."""
    nsoft = 0
    n = z.shape[0]
    weighted = (flags & 8) != 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            yi = np.float64(y[i])
            zi = np.float64(z[i])
            nsoft += 0 if (yi == 1.0 or yi == 0.0) else 1
            val, gr, he = _poly1_focal_hard(yi, zi, gamma, alpha, eps, True, _single(z))
            if weighted:
                wi = np.float64(w[i])
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
    return nsoft


@njit(**_PAR)
def poly1_focal_soft(y, z, w, v, g, h, gamma, alpha, eps, flags):
    """Overwrite the elements whose label is not 0 or 1: :func:`focal_soft`'s forms plus
    ``eps m^G`` (``G = gamma + 1``, ``m = y q + (1 - y) p``, ``m' = (1 - 2y) p q``,
    ``m'' = -m' tanh(z/2)``) and its derivatives (``Poly1FocalLoss._soft``). Scalar libm
    ``pow`` and ``tanh``."""
    has_alpha = alpha >= 0.0
    big_g = gamma + 1.0
    n = z.shape[0]
    weighted = (flags & 8) != 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            yi = np.float64(y[i])
            if not (yi == 0.0 or yi == 1.0):
                zi = np.float64(z[i])
                p, q, l1 = _sigmoid_parts(zi, _single(z))
                sp = (zi if zi > 0.0 else 0.0) + l1
                spn = (-zi if zi < 0.0 else 0.0) + l1
                at = alpha * yi + (1.0 - alpha) * (1.0 - yi) if has_alpha else 1.0
                m = yi * q + (1.0 - yi) * p
                mgam = math.pow(m, gamma)
                mg = at * (mgam if gamma != 0.0 else 1.0)
                ce = (0.0 if yi == 0.0 else yi * spn) + (0.0 if yi == 1.0 else (1.0 - yi) * sp)
                pq = p * q
                ce1 = (1.0 - yi) * p - yi * q
                rho = (1.0 - 2.0 * yi) * pq / m
                t = gamma * rho
                tce = 0.0 if t == 0.0 else t * ce
                th = math.tanh(0.5 * zi)
                val = mg * ce + eps * (mgam * m)
                dm = (1.0 - 2.0 * yi) * pq
                gr = mg * (ce1 + tce) + eps * big_g * mgam * dm
                he = mg * (pq + 2.0 * t * ce1 + tce * ((gamma - 1.0) * rho - th)) + eps * big_g * (
                    (big_g - 1.0) * math.pow(m, gamma - 1.0) * dm * dm + mgam * (dm * -th)
                )
                if weighted:
                    wi = np.float64(w[i])
                    val *= wi
                    gr *= wi
                    he *= wi
                v[i + ov] = val
                g[i + og] = gr
                h[i + oh] = he
    return 0


@njit(**_INLINE)
def _asymmetric_elem(yi, zi, gamma_pos, gamma_neg, clip, general):
    """Asymmetric loss of one element (:func:`asymmetric`)."""
    # the positive part: focal_margin(z, gamma_pos, 1)
    e, l1 = _exp_log1p(zi, False)
    op = 1.0 + e
    big = 1.0 / op
    small = e / op
    nonneg = zi >= 0.0
    p = big if nonneg else small
    q = small if nonneg else big
    ell_p = (-zi if zi < 0.0 else 0.0) + l1
    vp, gp, hp = _focal_tail(
        _q_gamma(zi, l1, q, gamma_pos, general), p, q, ell_p, gamma_pos, 2.0 * gamma_pos + 1.0
    )
    if clip == 0.0:  # the focal loss of a negative at x_t = -z (p_t = q, q_t = p)
        ell_n = (zi if zi > 0.0 else 0.0) + l1
        vn, gn, hn = _focal_tail(
            _q_gamma(-zi, l1, p, gamma_neg, general), q, p, ell_n, gamma_neg, 2.0 * gamma_neg + 1.0
        )
        gn = -gn
    else:
        plain = gamma_neg == 0.0
        u = (1.0 - clip) - q if zi > 0.0 else p - clip
        act = u > 0.0
        ua = u if act else 0.5
        sc = q + clip
        wc = 1.0 / sc
        # l = -log(sc) where u >= 1/2 (sc <= 1/2); -log1p(-u) = log1p(u / (1 - u)) below
        far = ua >= 0.5
        ell = (
            _neg_log_half(sc if far else 0.5)
            if far
            else log1p_unit((0.0 if far else ua) / (1.0 - (0.0 if far else ua)))
        )
        pw = 1.0 if plain else _pow(ua, gamma_neg, general)
        vv = p * q
        ell1 = vv * wc
        pg1 = _pow(ua, gamma_neg - 1.0, general)
        pw1 = 0.0 if plain else gamma_neg * pg1 * vv
        one_m2p = -_tanh_half(zi, e)
        ell2 = ell1 * wc * (q * q + clip * one_m2p)
        pw2 = (
            0.0
            if plain
            else gamma_neg * (gamma_neg - 1.0) * _pow(ua, gamma_neg - 2.0, general) * (vv * vv)
            + gamma_neg * pg1 * (vv * one_m2p)
        )
        vn = pw * ell if act else 0.0
        gn = pw1 * ell + pw * ell1 if act else 0.0
        hn = pw2 * ell + 2.0 * pw1 * ell1 + pw * ell2 if act else 0.0
    ny = 1.0 - yi
    val = (0.0 if yi == 0.0 else yi * vp) + (0.0 if ny == 0.0 else ny * vn)
    return val, yi * gp + ny * gn, yi * hp + ny * hn


@njit(**_PAR)
def asymmetric(y, z, w, v, g, h, gamma_pos, gamma_neg, clip, flags):
    """Asymmetric loss (``losslab.losses.detection.AsymmetricLoss``) for ``gamma_pos`` and
    ``gamma_neg`` in 0..4: ``y P + (1 - y) N``.

    ``P`` is the focal loss of a positive (``x_t = z``, gamma_pos, no alpha). ``N``: for
    clip = 0 the focal loss of a negative (``x_t = -z``, gamma_neg); otherwise, with
    ``u = p - clip`` (``(1 - clip) - q`` for z > 0), ``sc = q + clip``, ``w = 1 / sc``,
    ``v = p q``, ``l = -log(sc)`` (``-log1p(-u)`` for u < 1/2), ``l' = v w``,
    ``l'' = v w^2 (q^2 + clip (1 - 2p))``, ``P = u^gamma_neg``: ``N = P l``,
    ``N' = P' l + P l'``, ``N'' = P'' l + 2 P' l' + P l''`` where u > 0, 0 elsewhere. Float64
    primitives for both dtypes (``p - clip`` cancels); ``l`` from :func:`log1p_unit`
    (:func:`_neg_log_half` for u >= 1/2, ``log1p(u / (1 - u))`` below).
    """
    n = z.shape[0]
    weighted = (flags & 8) != 0
    nnan = 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            yi = np.float64(y[i])
            zi = np.float64(z[i])
            nnan += 0 if (yi + zi) == (yi + zi) else 1
            val, gr, he = _asymmetric_elem(yi, zi, gamma_pos, gamma_neg, clip, False)
            if weighted:
                wi = np.float64(w[i])
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
    return nnan


@njit(**_PAR)
def asymmetric_general(y, z, w, v, g, h, gamma_pos, gamma_neg, clip, flags):
    """:func:`asymmetric` for any ``gamma_pos, gamma_neg >= 0`` (libm ``pow``, scalar)."""
    n = z.shape[0]
    weighted = (flags & 8) != 0
    nnan = 0
    for c in prange((n + CHUNK - 1) // CHUNK):
        i0, i1, ov, og, oh = _block(c, n, flags)
        for i in range(i0, i1):
            yi = np.float64(y[i])
            zi = np.float64(z[i])
            nnan += 0 if (yi + zi) == (yi + zi) else 1
            val, gr, he = _asymmetric_elem(yi, zi, gamma_pos, gamma_neg, clip, True)
            if weighted:
                wi = np.float64(w[i])
                val *= wi
                gr *= wi
                he *= wi
            v[i + ov] = val
            g[i + og] = gr
            h[i + oh] = he
    return nnan
