"""JAX training losses with analytic first and second derivatives (``jax.custom_jvp``).

``losslab.jax.focal(logits, labels, gamma=2.0, alpha=0.25)`` and one function per registered
loss (``log_loss``, ``huber``, ``softmax_focal`` ...) evaluate losslab's loss; their derivatives
in the logits are losslab's analytic gradient and Hessian, not autodiff of the formulas, so they
are exact and NaN-free at any logit, under ``jit``, ``vmap``, ``grad``, ``jacfwd``/``jacrev``
and ``hessian``, in float32 and with x64 enabled.

Hyperparameters may be traced values, as in optax: ``jit`` arguments, ``vmap`` axes, and
``grad`` with respect to them (``gamma``, ``alpha``, ``delta``, ``quantile`` ...). They enter
the ``custom_jvp`` functions as explicit arguments, whose tangents come from autodiff of the
element-wise formula; concrete hyperparameters are constants of the traced program, as before.
Binary focal loss with a traced ``gamma`` or ``alpha`` uses the branch-free form
(:func:`losslab._numerics.focal_branchless`: ``(1 - p_t)^gamma`` as ``exp(gamma log(1 - p_t))``).

Arguments follow optax's order, ``(raw_prediction, y_true)``, unlike the core's
``loss(y_true, raw_prediction)``, and labels broadcast to the logits' shape as optax's do
(``(N, 1)`` labels with ``(N, K)`` logits, a scalar label); logits never broadcast to the labels
(``(N, 1)`` logits with ``(N,)`` labels raise). Targets are treated as constants: their tangents
are ignored. Value checks (label domain, weights) are not run inside traced code; call the core
loss once with ``validate=True`` on concrete data if you need them.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np

from losslab._numerics import focal_branchless
from losslab.losses import LOSSES, FocalLoss, Loss, get_loss
from losslab.losses._reduce import check_reduction
from losslab.losses._reduce import reduce as reduce_values

__all__ = ["elementwise", "reduce"]

_NEED: tuple[tuple[bool, bool, bool], ...] = (
    (True, False, False),
    (False, True, False),
    (False, False, True),
)


def _is_traced(value: Any) -> bool:
    return isinstance(value, jax.core.Tracer)


def _split(loss: Loss) -> tuple[tuple[tuple[str, Any], ...], tuple[str, ...], tuple[Any, ...]]:
    """(static items, names of traced hyperparameters, their values) of ``loss``."""
    static, names, values = [], [], []
    for name, value in loss.params.items():
        if _is_traced(value):
            names.append(name)
            values.append(value)
        else:
            static.append((name, value))
    return tuple(static), tuple(names), tuple(values)


def _compute(loss: Loss, z: Any, y: Any, k: int, traced: bool) -> Any:
    """Output ``k`` (0 value, 1 gradient, 2 Hessian) of ``loss`` in ``z``.

    The core's methods (``validate=False``), except focal, poly-1 focal and softmax focal
    losses with traced hyperparameters, whose core formulas pick a branch from ``gamma``.
    """
    if traced and isinstance(loss, FocalLoss) and type(loss).name in ("focal", "poly1_focal"):
        dtype = z.dtype if z.dtype in (jnp.float32, jnp.float64) else jnp.float32
        eps = getattr(loss, "epsilon", 0.0)
        zz, yy = z.astype(dtype), y.astype(dtype)
        out = focal_branchless(yy, zz, loss.gamma, loss.alpha, _NEED[k], xp=jnp, epsilon=eps)[k]
        return out.astype(z.dtype)
    if traced and type(loss).name == "softmax_focal" and k < 2:
        return _softmax_focal(loss, z, y, k)
    method = (loss.loss, loss.gradient, loss.hessian)[k]
    return method(y, z, validate=False)


def _softmax_focal(loss: Any, z: Any, y: Any, k: int) -> Any:
    """Softmax focal loss (k = 0, per row) or its gradient (k = 1) with a traced ``gamma``.

    From ``log p = log_softmax(z)``, ``l = -log p`` and ``q = 1 - p = -expm1(log p)`` per
    class: ``FL_c = at_c q_c^gamma l_c`` and ``D_c = dFL_c/d(log p_c) = -at_c q_c^gamma
    (gamma p_c (l_c / q_c) + 1)``; value ``sum_c w_c FL_c`` and gradient
    ``w D - p sum_c w_c D_c`` with ``w`` the one-hot target or the target probabilities. Where
    ``q`` rounds to 0 the limits are used (``FL = 0``; ``D = -at`` for gamma = 0, else 0), each
    branch fed safe values, so autodiff (the Hessian-vector product) stays finite.
    """
    dtype = z.dtype if z.dtype in (jnp.float32, jnp.float64) else jnp.float32
    zz = z.astype(dtype)
    n_classes = zz.shape[1]
    nan0 = None
    if y.ndim == 1:
        if jnp.issubdtype(y.dtype, jnp.floating):
            nan0 = 0.0 * y.astype(dtype)  # a NaN index makes its row NaN
        w = (jnp.arange(n_classes)[None, :] == y[:, None]).astype(dtype)
    else:
        w = y.astype(dtype)
    at = 1.0 if loss.alpha is None else jnp.asarray(loss.alpha, dtype=dtype)[None, :]
    gamma = loss.gamma
    lp = jax.nn.log_softmax(zz, axis=1)
    q = -jnp.expm1(lp)
    pos = q > 0
    q_safe = jnp.where(pos, q, 1.0)
    qg = jnp.power(q_safe, gamma)
    ell = -lp
    if k == 0:
        out = jnp.sum(w * jnp.where(pos, at * qg * ell, 0.0), axis=1)
        if nan0 is not None:
            out = out + nan0
    else:
        slope = -at * qg * (gamma * jnp.exp(lp) * (ell / q_safe) + 1.0)
        limit = -at * jnp.where(gamma == 0, 1.0, 0.0) * jnp.ones_like(q)
        wd = w * jnp.where(pos, slope, limit)
        out = wd - jnp.exp(lp) * jnp.sum(wd, axis=1, keepdims=True)
        if nan0 is not None:
            out = out + nan0[:, None]
    return out.astype(z.dtype)


@functools.cache
def _rules(
    cls: type[Loss], static: tuple[tuple[str, Any], ...], names: tuple[str, ...]
) -> Callable[[Any, Any, tuple[Any, ...]], Any]:
    """``value(z, y, params)`` of the loss class ``cls`` with analytic JVPs in ``z``.

    ``static`` are the concrete hyperparameters (part of the cache key), ``names`` those passed
    in ``params`` (traced values). The JVP in ``z`` uses the analytic gradient, whose own JVP
    uses the Hessian (element-wise losses) or a Hessian-vector product of the generic gradient
    (softmax losses: their Hessian is not diagonal); the JVP in ``params`` is autodiff of the
    element-wise formula.
    """
    traced = bool(names)
    multiclass = cls.kind == "multiclass"

    def make(params: tuple[Any, ...]) -> Loss:
        return cls(**dict(static), **dict(zip(names, params, strict=True)))

    def compute(z: Any, y: Any, params: tuple[Any, ...], k: int) -> Any:
        try:
            return _compute(make(params), z, y, k, traced)
        except jax.errors.ConcretizationTypeError as exc:
            raise TypeError(
                f"losslab.jax: {cls.name} cannot take traced values for "
                f"{', '.join(names)} (its formula branches on them); pass concrete numbers"
            ) from exc

    def param_tangent(z: Any, y: Any, params: tuple[Any, ...], dparams: Any, k: int) -> Any:
        return jax.jvp(lambda pp: compute(z, y, pp, k), (params,), (dparams,))[1]

    @jax.custom_jvp
    def gradient(z: Any, y: Any, params: tuple[Any, ...]) -> Any:
        return compute(z, y, params, 1)

    @gradient.defjvp
    def _gradient_jvp(primals: tuple[Any, ...], tangents: tuple[Any, ...]) -> tuple[Any, Any]:
        z, y, params = primals
        dz, dparams = tangents[0], tangents[2]
        if multiclass:
            g, dg = jax.jvp(lambda zz: compute(zz, y, params, 1), (z,), (dz,))
        else:
            g, h = compute(z, y, params, 1), compute(z, y, params, 2)
            dg = h * dz
        if params:
            dg = dg + param_tangent(z, y, params, dparams, 1)
        return g, dg

    @jax.custom_jvp
    def value(z: Any, y: Any, params: tuple[Any, ...]) -> Any:
        return compute(z, y, params, 0)

    @value.defjvp
    def _value_jvp(primals: tuple[Any, ...], tangents: tuple[Any, ...]) -> tuple[Any, Any]:
        z, y, params = primals
        dz, dparams = tangents[0], tangents[2]
        v = value(z, y, params)
        g = gradient(z, y, params)
        dv = jnp.sum(g * dz, axis=-1) if multiclass else g * dz
        if params:
            dv = dv + param_tangent(z, y, params, dparams, 0)
        return v, dv

    return value


def elementwise(loss: Loss) -> Callable[[Any, Any], Any]:
    """The element-wise loss ``f(raw_prediction, y_true)`` of ``loss`` with analytic JVPs.

    ``f`` returns ``loss.loss(y_true, raw_prediction)``; its JVP in ``raw_prediction`` uses
    the analytic gradient, whose own JVP uses the Hessian (element-wise losses) or a
    Hessian-vector product of the generic gradient (softmax losses). Hyperparameters of
    ``loss`` may be traced values (built inside ``jit``, ``vmap`` or ``grad``): they are
    passed to the ``custom_jvp`` functions as arguments, so gradients flow to them too. The
    JVP rules are built once per loss class and concrete hyperparameters.
    """
    static, names, values = _split(loss)
    value = _rules(cast(Any, type(loss)), static, names)  # classes are hashable
    return lambda z, y: value(z, y, values)


def _concrete_params(params: dict[str, Any]) -> dict[str, Any]:
    """0-d concrete arrays (``jnp.asarray(2.0)`` outside ``jit``) as Python numbers."""
    out = {}
    for name, value in params.items():
        if (
            not _is_traced(value)
            and not isinstance(value, numbers.Number)
            and getattr(value, "shape", None) == ()
        ):
            value = np.asarray(value).item()
        out[name] = value
    return out


def _broadcast_labels(y: Any, z: Any) -> Any:
    """Labels broadcast to the logits' shape as optax's do; never the other way round."""
    if y.shape == z.shape or (y.ndim == 1 and z.ndim == 2 and y.shape[0] == z.shape[0]):
        return y  # same shape, or class indices of a softmax loss
    try:
        shape = jnp.broadcast_shapes(y.shape, z.shape)
    except ValueError:
        shape = None
    if shape != tuple(z.shape):
        raise ValueError(
            f"y_true of shape {tuple(y.shape)} does not broadcast to raw_prediction of shape "
            f"{tuple(z.shape)} (labels broadcast to the logits, as in optax; the two must have "
            "the same shape otherwise)"
        )
    return jnp.broadcast_to(y, z.shape)


def reduce(
    loss: Loss | str,
    raw_prediction: Any,
    y_true: Any,
    *,
    sample_weight: Any = None,
    reduction: str = "mean",
    **params: Any,
) -> Any:
    """Reduced loss on JAX arrays with analytic derivatives.

    Parameters
    ----------
    loss : losslab.Loss or str
        A loss object, or a registry name with ``params`` (which may be traced values).
    raw_prediction, y_true : jax arrays
        As the core loss (logits first here, as in optax); ``y_true`` broadcasts to
        ``raw_prediction``'s shape ((N, 1) labels with (N, K) logits).
    sample_weight : jax array, optional
        Per-element (per-row for softmax losses) weights, multiplied in.
    reduction : {"mean", "sum", "none", "positives"}
        "mean" is ``sum(w L) / sum(w)`` (plain mean without weights); "positives" (focal
        losses) is ``sum(w L) / max(n_pos, 1)`` over the elements of non-zero weight. The
        core's reduction (:mod:`losslab.losses._reduce`): weights summing to 0 give 0 for
        "mean", with a zero gradient.

    Raises
    ------
    ValueError
        Unknown reduction, "positives" for a loss without positives, labels that do not
        broadcast to the logits, and the core's shape and dtype errors.
    """
    if isinstance(loss, str):
        loss = get_loss(loss, **_concrete_params(params))
    elif params:
        raise TypeError("pass hyperparameters either in the loss object or as keywords")
    check_reduction(reduction, loss)
    z = jnp.asarray(raw_prediction)
    y = jax.lax.stop_gradient(_broadcast_labels(jnp.asarray(y_true), z))
    values = elementwise(loss)(z, y)
    w = None
    if sample_weight is not None:
        w = jnp.asarray(sample_weight, dtype=values.dtype)
        if w.shape != values.shape:
            raise ValueError(f"sample_weight must have shape {values.shape}, got {w.shape}")
        values = values * w
    positives = loss._positives(y, z, jnp) if reduction == "positives" else None
    return reduce_values(values, reduction, xp=jnp, weight=w, positives=positives)


def _make_function(name: str) -> Callable[..., Any]:
    def function(
        raw_prediction: Any,
        y_true: Any,
        *,
        sample_weight: Any = None,
        reduction: str = "none",
        **params: Any,
    ) -> Any:
        return reduce(
            get_loss(name, **_concrete_params(params)),
            raw_prediction,
            y_true,
            sample_weight=sample_weight,
            reduction=reduction,
        )

    cls = LOSSES[name]
    function.__name__ = function.__qualname__ = name
    function.__module__ = __name__
    function.__doc__ = (
        f"losslab's ``{name}`` (:class:`losslab.{cls.__name__}`) on JAX arrays, with analytic "
        "derivatives.\n\n``f(raw_prediction, y_true, *, sample_weight=None, reduction='none', "
        f"**params)``; ``params`` as ``losslab.get_loss({name!r}, ...)``. Element-wise by "
        "default, as optax's losses; see :func:`reduce`.\n"
    )
    return function


for _name in LOSSES:
    globals()[_name] = _make_function(_name)
    __all__.append(_name)
__all__.sort()
