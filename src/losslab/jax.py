"""JAX training losses with analytic first and second derivatives (``jax.custom_jvp``).

``losslab.jax.focal(logits, labels, gamma=2.0, alpha=0.25)`` and one function per registered
loss (``log_loss``, ``huber``, ``softmax_focal`` ...) evaluate losslab's loss; their derivatives
are losslab's analytic gradient and Hessian, not autodiff of the formulas, so they are exact and
NaN-free at any logit, under ``jit``, ``vmap``, ``grad``, ``jacfwd``/``jacrev`` and ``hessian``,
in float32 and with x64 enabled.

Arguments follow optax's order, ``(raw_prediction, y_true)``, unlike the core's
``loss(y_true, raw_prediction)``. Targets are treated as constants: their tangents are ignored.
Value checks (label domain, weights) are not run inside traced code; call the core loss once
with ``validate=True`` on concrete data if you need them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from losslab.losses import LOSSES, Loss, get_loss
from losslab.losses._reduce import check_reduction
from losslab.losses._reduce import reduce as reduce_values

__all__ = ["elementwise", "reduce"]


@functools.cache
def elementwise(loss: Loss) -> Callable[[Any, Any], Any]:
    """The element-wise loss ``f(raw_prediction, y_true)`` of ``loss`` with analytic JVPs.

    ``f`` returns ``loss.loss(y_true, raw_prediction)``; its JVP in ``raw_prediction`` uses
    ``loss.gradient``, whose own JVP uses ``loss.hessian`` (element-wise losses) or a
    Hessian-vector product of the generic gradient (softmax losses: their Hessian is not
    diagonal). Cached per loss object (losses are frozen, hashable dataclasses).
    """

    @jax.custom_jvp
    def gradient(z: Any, y: Any) -> Any:
        return loss.gradient(y, z, validate=False)

    @gradient.defjvp
    def _gradient_jvp(primals: tuple[Any, Any], tangents: tuple[Any, Any]) -> tuple[Any, Any]:
        z, y = primals
        dz = tangents[0]
        if loss.is_multiclass:
            return jax.jvp(lambda zz: loss.gradient(y, zz, validate=False), (z,), (dz,))
        g, h = loss.gradient_hessian(y, z, validate=False)
        return g, h * dz

    @jax.custom_jvp
    def value(z: Any, y: Any) -> Any:
        return loss.loss(y, z, validate=False)

    @value.defjvp
    def _value_jvp(primals: tuple[Any, Any], tangents: tuple[Any, Any]) -> tuple[Any, Any]:
        z, y = primals
        dz = tangents[0]
        v = value(z, y)
        g = gradient(z, y)
        dv = jnp.sum(g * dz, axis=-1) if loss.is_multiclass else g * dz
        return v, dv

    return value


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
        A loss object, or a registry name with ``params``.
    raw_prediction, y_true : jax arrays
        As the core loss (logits first here, as in optax).
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
        Unknown reduction, "positives" for a loss without positives, and the core's shape and
        dtype errors.
    """
    if isinstance(loss, str):
        loss = get_loss(loss, **params)
    elif params:
        raise TypeError("pass hyperparameters either in the loss object or as keywords")
    check_reduction(reduction, loss)
    z = jnp.asarray(raw_prediction)
    y = jax.lax.stop_gradient(jnp.asarray(y_true))
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
            get_loss(name, **params),
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
