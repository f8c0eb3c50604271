# mypy: ignore-errors
"""Serial fused kernels for the boosting objectives: gradient and policy Hessian in one pass.

Imported lazily by :mod:`losslab._boosting` (importing it imports numba). mypy ignores this
module (numba has no type stubs). Every kernel has one signature::

    kernel(y, z, w, g, h, p0, p1, weighted) -> int

``y``, ``z``, ``w``: C-contiguous 1-D float32 or float64 arrays of length n (``w`` a dummy
unless ``weighted``); ``g``, ``h``: writable outputs of the same dtype and length, the gradient
and the boosting Hessian, each multiplied by ``w`` when ``weighted``; ``p0``, ``p1``: the loss's
``_kernel_args()``. A nonzero return value means the outputs are unusable for some elements
and the caller must take the general path.

* :func:`focal_gauss_newton`: the focal loss (hard labels, integer ``gamma`` in 0..4;
  ``alpha < 0`` means None) with its Gauss-Newton Hessian ``max(h + g (2p - 1), 0)`` (the
  ``"gauss_newton"`` policy of :mod:`losslab._boosting`). Returns the number of labels that
  are not exactly 0 or 1 (soft labels, NaN; they got the y = 0 formula here).
  :func:`focal_gauss_newton_f32` is the same in float32 arithmetic for float32 inputs.
* :func:`log_loss_exact`: log loss with ``pos_weight = p0`` and its exact Hessian (any label
  in [0, 1]); returns 0.

Why a separate, *serial* kernel. XGBoost runs its trees on its own OpenMP runtime (the wheel
bundles a libgomp of its own); numba's ``omp`` threading layer uses the system's. After a
parallel kernel returns, numba's worker threads keep spinning (libgomp's default spin before
sleeping, a few milliseconds), on the cores that XGBoost's next parallel region needs: at
10^6 rows on 2 cores that cost XGBoost about 7 ms per round, several times what the kernel's
second thread saved (:data:`losslab.xgboost.KERNEL_THREADS`). A serial loop starts no
thread. Fusing the policy saves the four extra passes (``tanh``, multiply, add, maximum)
of the array version, and computes it in float64 before the one rounding to float32.

Arithmetic is float64 for both dtypes, rounded once on the store, except in
:func:`focal_gauss_newton_f32`, which follows the loss's float32 focal kernel
(:func:`losslab._kernels._impl.focal_f32`; 3.9 times as fast as the float64 arithmetic here:
0.93 ms against 3.6 ms at 10^6, in blocks of ``CHUNK`` elements with an int32 soft-label count
and unsigned indices, which LLVM vectorises with 16-lane AVX-512 vectors, 1.3 ms otherwise).
Focal's float64 arithmetic is the float64 focal kernel's (:func:`losslab._kernels._impl.focal`),
with its primitives (faithful ``exp``/``log1p``, the float32-accurate variants for float32
inputs): in float64 the gradient is bit-for-bit that of ``loss.gradient_hessian``. Log loss
takes the float32-accurate ``exp`` for float32 inputs and one division (``e / (1 + e)`` as
``e (1 / (1 + e))``), where :func:`losslab._kernels._impl.log_loss_gh` takes the float64
``exp`` and two: 1.5 times as fast serially, within 1 float32 ulp of it (2 elements in 10^6
differ). ``2p - 1`` in the logit z is ``(2y - 1)(p_t - q)`` with ``p_t``, ``q = 1 - p_t`` from
the same sigmoid, so ``g (2p - 1) = (dFL/dx_t)(p_t - q)``: no ``tanh`` call. In float64 the
Hessian agrees with the array policy on ``loss.gradient_hessian``'s outputs to about 1e-15 of
``|h| + |g (2p - 1)|`` (``tests/test_boost_kernels.py``).

Caching: numba's disk cache is keyed by this file only, and the primitives are inlined from
:mod:`losslab._kernels._impl`; a cached copy would survive a change to them. So this kernel is
not cached: it compiles on its first call in a process (about a second per dtype), which a
boosting fit pays once.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from losslab._kernels._impl import (
    _F0,
    _F1,
    CHUNK,
    _count_soft_32,
    _focal_hard,
    _focal_hard_32,
    _log_loss_gh_terms,
    _single,
    exp_neg,
    exp_neg_f32,
)

__all__ = ["INT_GAMMAS", "focal_gauss_newton", "focal_gauss_newton_f32", "log_loss_exact"]

INT_GAMMAS = frozenset({0.0, 1.0, 2.0, 3.0, 4.0})
"""The ``gamma`` values :func:`focal_gauss_newton` computes (``q^gamma`` by multiplication)."""

_SERIAL = {"nogil": True, "cache": False, "fastmath": False, "error_model": "numpy"}
_SERIAL_FMA = {**_SERIAL, "fastmath": {"contract"}}


@njit(**_SERIAL)
def focal_gauss_newton(y, z, w, g, h, gamma, alpha, weighted):
    """Focal gradient and Gauss-Newton Hessian, hard labels, integer ``gamma`` in 0..4.

    ``x_t = (2y - 1) z``, ``q = sigmoid(-x_t)``, ``l = -log p_t``;
    ``d = dFL/dx_t = -alpha_t q^gamma (gamma p_t l + q)``,
    ``h_x = alpha_t q^gamma [gamma p_t l (gamma p_t - q) + (2 gamma + 1) q p_t]``;
    ``g = (2y - 1) d``, ``h = max(h_x + d (p_t - q), 0)`` (NaN stays NaN), times ``w[i]``.
    """
    ig = int(gamma)
    c2 = 2.0 * gamma + 1.0
    has_alpha = alpha >= 0.0
    a0 = 1.0 - alpha
    nsoft = 0
    n = z.shape[0]
    for i in range(n):
        yi = np.float64(y[i])
        zi = np.float64(z[i])
        pos = yi == 1.0
        nsoft += 0 if (pos or yi == 0.0) else 1
        pt, q, _, gr, he = _focal_hard(yi, zi, ig, gamma, c2, alpha, a0, has_alpha, _single(z))
        hg = he + gr * (pt - q)
        hg = 0.0 if hg < 0.0 else hg
        gr = gr if pos else -gr
        if weighted:
            wi = np.float64(w[i])
            gr *= wi
            hg *= wi
        g[i] = gr
        h[i] = hg
    return nsoft


@njit(**_SERIAL)
def log_loss_exact(y, z, w, g, h, pos_weight, p1, weighted):
    """Log loss: ``g = (1 - y) p - pos_weight y q``, ``h = (pos_weight y + 1 - y) p q``
    (``p q`` for ``pos_weight = 1``), ``p = sigmoid(z)``, ``q = sigmoid(-z)``, times ``w[i]``."""
    n = z.shape[0]
    single = _single(z)
    for i in range(n):
        yi = np.float64(y[i])
        zi = np.float64(z[i])
        e = exp_neg_f32(-abs(zi)) if single else exp_neg(-abs(zi))
        big = 1.0 / (1.0 + e)
        small = e * big
        nonneg = zi >= 0.0
        p = big if nonneg else small
        q = small if nonneg else big
        gr, he = _log_loss_gh_terms(yi, p, q, pos_weight)
        if weighted:
            wi = np.float64(w[i])
            gr *= wi
            he *= wi
        g[i] = gr
        h[i] = he
    return 0


@njit(**_SERIAL_FMA)
def focal_gauss_newton_f32(y, z, w, g, h, gamma, alpha, weighted):
    """:func:`focal_gauss_newton` for float32 inputs in float32 arithmetic, as the loss's own
    float32 focal kernel (:func:`losslab._kernels._impl.focal_f32`: float32 ``exp``/``log1p``
    polynomials, multiply-adds fused), about 3.9 times as fast. The gradient is within
    ``6 gamma + 8`` float32 ulps of the rounded float64 result, the Hessian within
    ``6 gamma + 12`` ulps of ``|h| + |g (2p - 1)|`` (``tests/test_boost_kernels.py``)."""
    ig = int(gamma)
    gm = np.float32(gamma)
    c2 = np.float32(2.0 * gamma + 1.0)
    a1 = np.float32(alpha) if alpha >= 0.0 else _F1
    a0 = np.float32(1.0 - alpha) if alpha >= 0.0 else _F1
    nsoft = 0
    n = z.shape[0]
    for c in range((n + CHUNK - 1) // CHUNK):
        soft = np.int32(0)  # int32 within a block, unsigned indices: 16-lane vectors
        for i in range(np.uint64(c * CHUNK), np.uint64(min(c * CHUNK + CHUNK, n))):
            yi = y[i]
            zi = z[i]
            pos = yi == _F1
            soft = _count_soft_32(soft, yi)
            pt, q, _, gr, he = _focal_hard_32(yi, zi, ig, gm, c2, a1, a0)
            hg = he + gr * (pt - q)
            hg = _F0 if hg < _F0 else hg
            gr = gr if pos else -gr
            if weighted:
                wi = w[i]
                gr *= wi
                hg *= wi
            g[i] = gr
            h[i] = hg
        nsoft += soft
    return nsoft
