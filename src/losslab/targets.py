"""Targets and weights that detectors and long-tail classifiers build before the loss.

Two helpers of Generalized Focal Loss and two of Class-Balanced Loss, on any array library
(NumPy, PyTorch, JAX, ... through :func:`losslab._array_api.get_namespace`):

* :func:`two_hot` turns a continuous value into the two-hot distribution over integer bins that
  Distribution Focal Loss (DFL) trains against, and :func:`distribution_focal_loss` is DFL as
  losslab's softmax cross-entropy with that probability target;
* :func:`class_balanced_weights` gives per-class weights from class counts through the effective
  number of samples, and :func:`sample_weight_from_class_weights` turns them into per-row
  ``sample_weight`` (for ``softmax_focal`` pass them as ``alpha`` directly).

Training routes for DFL (all with losslab's analytic gradients)::

    losslab.torch.SoftmaxCrossEntropy()(logits, two_hot(t, n_bins))      # torch
    losslab.jax.softmax_cross_entropy(logits, two_hot(t, n_bins))        # JAX (optax order)
    losslab.get_loss("softmax_cross_entropy").gradient(two_hot(t, n), z)  # boosting, Newton
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from losslab import _validate
from losslab._array_api import Array, concrete_bool, get_namespace, to_numpy
from losslab.losses._reduce import Reduction
from losslab.losses.multiclass import SoftmaxCrossEntropy

__all__ = [
    "class_balanced_weights",
    "distribution_focal_loss",
    "sample_weight_from_class_weights",
    "two_hot",
]


def _is_array(x: object) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype")


def _as_float_array(values: Any, xp: Any, device: Any) -> Array:
    """``values`` as an array of ``xp``; integer and boolean arrays (and Python numbers) take
    the namespace's default real floating dtype (float64 for NumPy)."""
    x = values if _is_array(values) else xp.asarray(np.asarray(values), device=device)
    if not xp.isdtype(x.dtype, "real floating"):
        if xp.isdtype(x.dtype, "complex floating"):
            raise TypeError(f"values must be real, got dtype {x.dtype}")
        info = xp.__array_namespace_info__()
        x = xp.astype(x, info.default_dtypes(device=device)["real floating"])
    return x


def _check_n_bins(n_bins: object) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or int(n_bins) < 2:
        raise ValueError(f"n_bins must be an integer >= 2, got {n_bins!r}")
    return int(n_bins)


def two_hot(values: Any, n_bins: int, *, clip: bool = False, validate: bool = True) -> Array:
    """The two-hot target of continuous values over the bins ``0, 1, ..., n_bins - 1``.

    For a value ``t`` in ``[0, n_bins - 1]`` with ``i = min(floor(t), n_bins - 2)`` the target
    puts weight ``(i + 1) - t`` on bin ``i`` and ``t - i`` on bin ``i + 1`` and 0 elsewhere, as
    Distribution Focal Loss forms it (Li et al. 2020, Generalized Focal Loss; mmdet's and
    ultralytics' ``weight_left``/``weight_right``). Its mean ``sum_k k w_k`` is ``t`` and it sums
    to 1 (up to the rounding of ``(i + 1) - t``). An integer ``t`` gives a one-hot row;
    ``t = n_bins - 1`` puts all its weight on the last bin (the clipped ``i`` keeps bin
    ``i + 1`` inside the range, where ``floor(t) + 1`` would leave it).

    Parameters
    ----------
    values : array of shape S (any shape), or Python numbers
        The continuous targets (e.g. box-side distances in units of the bin width).
        Integer arrays are converted to the namespace's default floating dtype.
    n_bins : int
        Number of bins, >= 2 (ultralytics' ``reg_max``; mmdet's ``reg_max + 1``).
    clip : bool, default False
        Clip the values into ``[0, n_bins - 1]`` first (ultralytics clamps to
        ``n_bins - 1.01`` before its loss). Without it, values outside are an error.
    validate : bool, default True
        Check the range (skipped inside ``jax.jit``, where values are not known).

    Returns
    -------
    array of shape S + (n_bins,)
        In the namespace, device and floating dtype of ``values``. A NaN value gives a NaN row.

    Raises
    ------
    ValueError
        ``n_bins`` not an integer >= 2; values outside ``[0, n_bins - 1]`` (with
        ``validate`` and without ``clip``).
    TypeError
        Complex values.
    """
    n = _check_n_bins(n_bins)
    xp, device = get_namespace(values)
    t = _as_float_array(values, xp, device)
    top = float(n - 1)
    if clip:
        t = xp.clip(t, 0.0, top)  # NaN stays NaN
    elif validate and concrete_bool(xp.any((t < 0.0) | (t > top))):
        raise ValueError(
            f"values must lie in [0, n_bins - 1] = [0, {n - 1}] for n_bins={n}; found values "
            "outside (pass clip=True to clip them)"
        )
    i = xp.clip(xp.floor(t), 0.0, top - 1.0)
    left = ((i + 1.0) - t)[..., None]
    right = (t - i)[..., None]
    bins = xp.arange(n, dtype=t.dtype, device=device)
    i_ = i[..., None]
    # A NaN value matches no bin; adding 0 * t makes its whole row NaN.
    nan0 = 0.0 * t[..., None]
    return xp.where(bins == i_, left, 0.0) + xp.where(bins == i_ + 1.0, right, 0.0) + nan0


def distribution_focal_loss(
    y_true: Any,
    raw_prediction: Any,
    *,
    sample_weight: Any = None,
    reduction: Reduction = "mean",
    clip: bool = False,
    validate: bool = True,
) -> Array:
    """Distribution Focal Loss (Li et al. 2020, GFL): softmax cross-entropy against the two-hot
    target of a continuous value.

    ``DFL(t, z) = -((i + 1 - t) log p_i + (t - i) log p_(i+1))`` with ``p = softmax(z)`` over the
    ``K`` bins and ``i`` as in :func:`two_hot`; it is exactly
    ``losslab.get_loss("softmax_cross_entropy")(two_hot(t, K), z)``, so its gradient and the
    diagonal of its Hessian are that loss's (``p sum(y) - y`` and ``p (1 - p) sum(y)``). mmdet's
    and ultralytics' ``distribution_focal_loss`` compute the same sum as
    ``weight_left * CE(z, i) + weight_right * CE(z, i + 1)``; ultralytics' ``DFLoss`` also
    clamps ``t`` to ``K - 1.01`` and averages over the last axis of its ``(N, 4)`` targets.

    Parameters
    ----------
    y_true : array of shape S
        Continuous targets in ``[0, K - 1]``.
    raw_prediction : array of shape S + (K,)
        Logits over the K bins (for boxes: ``(N, 4, K)`` with ``y_true`` of shape ``(N, 4)``).
    sample_weight : array of shape S, optional
        Weights multiplied into each value (e.g. the IoU-based weights of GFL).
    reduction : {"mean", "sum", "none"}
        As the core losses; ``"none"`` returns shape S.
    clip, validate : bool
        As :func:`two_hot`; ``validate`` also runs the core loss's checks.

    Returns
    -------
    array
        0-d, or shape S for ``"none"``, in ``raw_prediction``'s namespace and dtype.

    Raises
    ------
    ValueError
        ``raw_prediction`` not of shape ``y_true.shape + (K,)`` with K >= 2, ``sample_weight``
        not of shape S, targets outside ``[0, K - 1]``, and the core loss's errors.
    """
    xp, device = get_namespace(y_true, raw_prediction)
    z = raw_prediction if _is_array(raw_prediction) else xp.asarray(raw_prediction, device=device)
    t = _as_float_array(y_true, xp, device)
    shape = tuple(t.shape)
    if z.ndim != t.ndim + 1 or tuple(z.shape[:-1]) != shape or z.shape[-1] < 2:
        raise ValueError(
            f"raw_prediction must have shape y_true.shape + (K,) with K >= 2 bins, got "
            f"y_true {shape} and raw_prediction {tuple(z.shape)}"
        )
    k = int(z.shape[-1])
    target = two_hot(t, k, clip=clip, validate=validate)
    w = None
    if sample_weight is not None:
        w = sample_weight if _is_array(sample_weight) else xp.asarray(sample_weight, device=device)
        if tuple(w.shape) != shape:
            raise ValueError(
                f"sample_weight must have the shape of y_true {shape}, got {tuple(w.shape)}"
            )
        w = xp.reshape(w, (-1,))
    out = SoftmaxCrossEntropy()(
        xp.reshape(target, (-1, k)),
        xp.reshape(z, (-1, k)),
        sample_weight=w,
        reduction=reduction,
        validate=validate,
    )
    return xp.reshape(out, shape) if reduction == "none" else out


def class_balanced_weights(counts: Any, beta: float = 0.9999) -> Array:
    """Class-balanced weights from class counts (Cui et al. 2019, effective number of samples).

    ``w_c = (1 - beta) / (1 - beta^n_c)``, the inverse of the effective number
    ``E_n = (1 - beta^n) / (1 - beta)``, normalised so that the weights sum to the number of
    classes ``K`` (as the paper). ``beta = 0`` gives all 1 (no re-weighting); ``beta -> 1``
    tends to inverse class frequency. ``1 - beta^n`` is computed as ``-expm1(n log beta)``,
    accurate for beta near 1.

    Use: ``get_loss("softmax_focal", alpha=w)`` (one alpha per class: the paper's
    class-balanced softmax focal loss), or per-row weights for any loss with
    :func:`sample_weight_from_class_weights`. For the binary ``focal`` loss with counts
    ``(n_0, n_1)``, ``alpha = w[1] / 2`` gives the class-balanced loss divided by 2
    (``alpha_t = w_y / 2`` because ``w_0 + w_1 = 2``).

    Parameters
    ----------
    counts : array or sequence of shape (K,)
        Number of training samples per class, finite and > 0 (need not be integers: weighted
        counts are allowed).
    beta : float, default 0.9999
        In [0, 1). The paper uses 0.9, 0.99, 0.999, 0.9999.

    Returns
    -------
    array of shape (K,)
        In the namespace and device of ``counts`` (NumPy for sequences), floating dtype
        (the default one for integer counts).

    Raises
    ------
    ValueError
        ``beta`` outside [0, 1); ``counts`` not 1-D, empty, non-finite or negative; a class
        with count 0 (its effective number is 0, so its weight would be infinite: drop the
        class or give it a count).
    """
    beta = _validate.check_real_param("beta", beta, low=0.0, high=1.0, high_inclusive=False)
    xp, device = get_namespace(counts)
    n = _as_float_array(counts, xp, device)
    if n.ndim != 1 or n.shape[0] == 0:
        raise ValueError(
            f"counts must be a non-empty 1-D array (one count per class), got shape "
            f"{tuple(n.shape)}"
        )
    if concrete_bool(xp.any(~xp.isfinite(n))):
        raise ValueError("counts must be finite; found NaN or infinity")
    if concrete_bool(xp.any(n < 0)):
        raise ValueError("counts must be >= 0 (samples per class); found negative counts")
    if concrete_bool(xp.any(n == 0)):
        empty = np.flatnonzero(to_numpy(n) == 0).tolist()
        raise ValueError(
            f"counts has classes with no samples (class indices {empty}); their class-balanced "
            "weight (1 - beta) / (1 - beta^0) is infinite"
        )
    k = n.shape[0]
    if beta == 0.0:
        return xp.ones_like(n)
    inv_effective = (1.0 - beta) / -xp.expm1(n * math.log(beta))
    return inv_effective * (k / xp.sum(inv_effective))


def sample_weight_from_class_weights(y_true: Any, class_weights: Any) -> Array:
    """Per-row sample weights from per-class weights: ``w[c]`` for a row of class ``c``.

    Class indices ``(n,)`` give ``class_weights[y]``; probability (one-hot, smoothed,
    multi-hot) targets ``(n, K)`` give ``y @ class_weights`` (one-hot: the weight of its class).
    The result is the ``sample_weight`` of a softmax loss (``(n,)``); for sigmoid losses on
    ``(n, K)`` logits, where the paper weights all K binary terms of a sample by its class's
    weight, pass ``xp.broadcast_to(w[:, None], (n, K))``.

    Parameters
    ----------
    y_true : array of shape (n,) or (n, K)
        Class indices (integers, or floats with whole values) or class probabilities.
    class_weights : array or sequence of shape (K,)
        E.g. from :func:`class_balanced_weights`. Converted to ``y_true``'s namespace.

    Returns
    -------
    array of shape (n,)
        In ``y_true``'s namespace and device; floating dtype (``y_true``'s for probability
        targets, else the weights' or the default one).

    Raises
    ------
    ValueError
        Weights not 1-D or negative or non-finite; indices not whole numbers or outside
        ``[0, K)``; probability targets whose K differs from the number of weights; other
        shapes of ``y_true``.
    """
    xp, device = get_namespace(y_true)
    y = y_true if _is_array(y_true) else xp.asarray(np.asarray(y_true), device=device)
    w_host = np.asarray(to_numpy(class_weights) if _is_array(class_weights) else class_weights)
    if w_host.ndim != 1 or w_host.size == 0:
        raise ValueError(
            f"class_weights must be a non-empty 1-D array, got shape {tuple(w_host.shape)}"
        )
    if w_host.dtype.kind not in "fiub" or not np.all(np.isfinite(w_host)) or np.any(w_host < 0):
        raise ValueError("class_weights must be finite numbers >= 0")
    k = int(w_host.size)
    if y.ndim == 2:
        if y.shape[1] != k:
            raise ValueError(
                f"y_true probabilities have {y.shape[1]} classes but class_weights has {k}"
            )
        yf = _as_float_array(y, xp, device)
        w = xp.asarray(w_host, dtype=yf.dtype, device=device)
        return xp.sum(yf * w[None, :], axis=1)
    if y.ndim != 1:
        raise ValueError(
            f"y_true must be class indices (n,) or probabilities (n, K), got shape {tuple(y.shape)}"
        )
    if xp.isdtype(y.dtype, "real floating"):
        if concrete_bool(xp.any(~xp.isfinite(y) | (y != xp.round(y)))):
            raise ValueError("y_true class indices must be whole finite numbers")
    elif not xp.isdtype(y.dtype, "integral"):
        raise TypeError(f"y_true class indices must be integers, got dtype {y.dtype}")
    if concrete_bool(xp.any((y < 0) | (y >= k))):
        raise ValueError(f"y_true class indices must lie in [0, {k}); found values outside")
    w = _as_float_array(xp.asarray(w_host, device=device), xp, device)
    classes = xp.arange(k, dtype=y.dtype, device=device)
    # A one-hot select (no integer gather), the same for integer and float indices.
    return xp.sum(xp.where(classes[None, :] == y[:, None], w[None, :], 0.0), axis=1)
