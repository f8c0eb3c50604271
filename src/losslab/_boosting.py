"""The shared adapter between losslab losses and gradient-boosting libraries.

:mod:`losslab.xgboost` and :mod:`losslab.lightgbm` are thin layers over this module: it turns a
loss into the gradient and Hessian a boosting library asks for (NumPy, the library's shapes,
sample weights applied, a named Hessian policy), the init score, the metric and the link. It
imports neither library.

Hessian policies (``docs/boosting.md``). A boosting library fits each leaf by one Newton step,
``leaf = -sum(w g) / (sum(w h) + lambda)``, so the Hessian it is given must be positive where
leaves are fitted. ``hessian=`` names what the adapter hands over:

``"exact"``
    The loss's exact Hessian. Default for the convex losses whose Hessian is positive and
    does not vanish far from the optimum (log loss, softmax cross-entropy, the squared errors,
    FL*, and focal with gamma = 0). Refused for absolute error and pinball (zero almost
    everywhere).
``"floor"``
    ``max(h, floor)``. Default for Huber with ``floor=1`` (its Hessian is 1 in the quadratic
    zone and 0 beyond; 1 everywhere is what LightGBM's own ``huber`` objective uses, and it
    bounds the step on a leaf of outliers by delta).
``"gauss_newton"``
    For losses on the logit or softmax link (focal, softmax focal): the generalised
    Gauss-Newton matrix of the loss written as a function of the probability,
    ``f''(p) (dp/dz)^2``, which is ``h + g (2 p - 1)`` in the logit (``p = sigmoid(z)``, ``g``
    and ``h`` the exact derivatives in z) and, for softmax focal with target class c,
    ``H_cc + G (2 p_c - 1)`` and ``H_jj + G (2 p_c - 1) r_j^2`` (``G`` the gradient of the
    target logit, ``r_j = p_j / (1 - p_c)``). Positive for every logit because focal loss is
    convex in p; equal to the exact Hessian for log loss up to the term that averages out
    (``E_y[h_gn] = p (1 - p)``); for easy examples ``gamma / (gamma + 1)`` of the exact one;
    about ``alpha_t`` for hard ones, where the exact Hessian is negative. Default for focal and
    softmax focal with gamma > 0. (The expected Hessian under the model's own p,
    ``p h(1, z) + (1 - p) h(0, z)``, is *not* positive for gamma >= 1: it dips to about -1e-3
    near ``|z| = 3.4`` at gamma = 2, so it is not offered.)
``"constant"``
    ``h = value`` (default 1). Default for absolute error and pinball, whose Hessian is 0
    almost everywhere: the Newton leaf is then ``-mean(w g) = `` the weighted share of points
    above minus below, a signed step of at most ``value^-1`` per round. Both libraries' own
    L1 and quantile objectives refit each leaf to the (weighted) median or quantile of its
    residuals after the tree is grown; neither lets a custom objective do that from Python
    without desynchronising its cached training scores. So the estimators route these two
    losses to those built-in objectives (:func:`builtin_route`) unless a policy is named;
    with ``constant`` they converge far more slowly (and warn).

    Also the default for pseudo-Huber and log-cosh, with ``value=1``: their exact Hessians
    are positive but decay far from the optimum (``(delta / |r|)^3``, ``4 e^(-2 |r|)``), so a
    leaf of large residuals gets a Newton step of ``|r|^3`` or ``e^(2 |r|)``; LightGBM (no L2
    term by default) diverges with them. 1 is the supremum of both Hessians, reached at
    ``r = 0``: the step majorises the loss (never overshoots) and equals the Newton step at
    the optimum. ``hessian="exact"`` is available (XGBoost's ``reg_lambda=1`` tames it).

Sample weights multiply the gradient and the (policy) Hessian. The init score is
``loss.fit_intercept_only(y, w)``; boosting libraries do not estimate it for a custom objective,
so the estimators put it into the model (XGBoost's ``base_score``, LightGBM's first trees), where
the host library alone finds it when it loads a saved model.

The scikit-learn estimators of both modules share one fit plan (:class:`FitPlan`,
:class:`SklearnLossMixin`): labels, weights, loss, policy or built-in route and init score are
decided once, the host's ``fit`` runs with the objective set and restored, and what was used is
recorded on the estimator and in the model.
"""

from __future__ import annotations

import contextlib
import json
import sys
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from losslab import _kernels
from losslab._config import config_context, get_config
from losslab.losses import POLICY_NAMES, HessianPolicy, Loss, get_loss

__all__ = [
    "OWN_PARAMS",
    "POISSON_STEP_CAP",
    "POLICY_NAMES",
    "BoostingObjective",
    "FitPlan",
    "HessianPolicy",
    "LossAdapter",
    "NativeObjective",
    "SklearnLossMixin",
    "builtin_route",
    "check_classifier_loss",
    "check_policy",
    "check_y",
    "dask_label_summary",
    "dask_labels",
    "dask_newton_intercept",
    "dask_proba",
    "default_policy",
    "encode_labels",
    "hard_label_summary",
    "is_focal_like",
    "is_own_param",
    "merge_summaries",
    "n_rows",
    "not_fitted",
    "plan_from_attributes",
    "proba_from_margin",
    "resolve_loss",
    "resolve_policy",
    "step_cap",
    "summarise_labels",
]


def check_policy(policy: HessianPolicy, loss: Loss) -> None:
    """Raise ValueError if ``loss`` does not offer ``policy`` (:attr:`Loss.hessian_policies`):
    ``exact`` for a Hessian that is 0 almost everywhere, ``gauss_newton`` off the logit and
    softmax links."""
    offered = [p.name for p in loss.hessian_policies]
    if policy.name in offered:
        return
    if policy.name == "exact":
        raise ValueError(
            f"hessian='exact' is unusable for {loss.name}: its Hessian is 0 almost "
            "everywhere and no tree would split; use 'constant'"
        )
    raise ValueError(
        f"hessian={policy.name!r} is not offered by {loss.name} ({loss.link.name} link; "
        f"'gauss_newton' needs a loss on the logit or softmax link); it offers "
        f"{', '.join(offered)}"
    )


def is_focal_like(loss: Loss) -> bool:
    """True for the focal losses whose exact Hessian can be negative (gamma > 0)."""
    return loss.hessian_sign == "indefinite"


POISSON_STEP_CAP = 0.7
"""XGBoost's ``max_delta_step`` default for ``count:poisson`` (a leaf moves the log of the
prediction by at most this much per round, before the learning rate)."""


def step_cap(loss: Loss) -> float | None:
    """The default ``max_delta_step`` of the estimators for ``loss``, or None (no cap).

    :data:`POISSON_STEP_CAP` (0.7, XGBoost's ``count:poisson`` default) for a loss on the log
    link whose Newton step ``-g / h`` overshoots without bound when the prediction is far below
    the target: at ``y = 1``, ``z = -30`` the step of half Poisson is ``e^30`` (``h = e^z``
    vanishes while ``g -> -y``), that of Tweedie ``1 < p < 2`` about ``1 / (p - 1)`` (capped
    when it exceeds 60, twice the distance to the target, i.e. p < 1.017), that of half Gamma
    about 1 (not capped). Without the cap one leaf of a few positive counts among
    predictions near 0 sends the log-prediction to 1e20 and beyond (XGBoost and LightGBM with
    their default parameters, ``docs/boosting.md``); the libraries' own Poisson objectives
    cap XGBoost's leaves at 0.7 and double their Hessians (``e^(z + 0.7)``).
    """
    if loss.link.name != "log":
        return None
    y, z = np.array([1.0]), np.array([-30.0])
    g, h = (float(np.asarray(a)[0]) for a in loss.gradient_hessian(y, z))
    if h > 0 and -g / h > 60.0:
        return POISSON_STEP_CAP
    return None


def default_policy(loss: Loss) -> HessianPolicy:
    """The default Hessian policy of ``loss``: the first of :attr:`Loss.hessian_policies`.

    ``"exact"`` where the Hessian is positive and bounded away from 0, ``"gauss_newton"`` for
    focal losses with gamma > 0, ``"constant"`` (1) for absolute error, pinball, pseudo-Huber
    and log-cosh, ``"floor"`` (1) for Huber.
    """
    return loss.hessian_policies[0]


def resolve_loss(loss: Loss | str) -> Loss:
    """A loss object from a loss or a registry name (``losslab.get_loss(name)``).

    Raises
    ------
    TypeError
        ``loss`` is neither a :class:`losslab.Loss` nor a string.
    ValueError
        Unknown registry name.
    """
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str):
        return get_loss(loss)
    raise TypeError(f"loss must be a losslab Loss or a registry name, got {type(loss).__name__}")


def resolve_policy(loss: Loss, hessian: HessianPolicy | str | None) -> HessianPolicy:
    """The policy named by ``hessian`` (None: :func:`default_policy`), checked against ``loss``.

    A name takes the parameters of the default policy when the names agree (``"floor"`` for
    Huber keeps ``floor=1``) and the class defaults otherwise.

    Raises
    ------
    ValueError
        Unknown policy name or one unusable with this loss.
    TypeError
        ``hessian`` is not a string, a :class:`HessianPolicy` or None.
    """
    default = default_policy(loss)
    if hessian is None:
        policy = default
    elif isinstance(hessian, HessianPolicy):
        policy = hessian
    elif isinstance(hessian, str):
        policy = default if hessian == default.name else HessianPolicy(hessian)  # type: ignore[arg-type]
    else:
        raise TypeError(
            f"hessian must be a policy name, a HessianPolicy or None, got {type(hessian).__name__}"
        )
    check_policy(policy, loss)
    return policy


def _as_float_array(x: Any) -> np.ndarray[Any, Any]:
    a = np.asarray(x)
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    return a


_INT_GAMMAS = frozenset({0.0, 1.0, 2.0, 3.0, 4.0})
_REFCOUNTS_RELIABLE = (
    sys.implementation.name == "cpython" and getattr(sys, "_is_gil_enabled", lambda: True)()
)
"""Whether ``sys.getrefcount`` tells that nobody else holds an array (CPython with the GIL)."""
_boost_kernels: dict[str, Any] = {"impl": None, "failed": False}


def _boost_module() -> Any:
    """:mod:`losslab._kernels._boost` (imports numba), or None where it cannot be imported."""
    return _kernels.import_kernels(
        "losslab._kernels._boost", "serial boosting kernels are", _boost_kernels
    )


def _check_threads(kernel_threads: int | None) -> int | None:
    if kernel_threads is None:
        return None
    valid = isinstance(kernel_threads, int) and not isinstance(kernel_threads, bool)
    if not valid or kernel_threads < 1:
        raise ValueError(f"kernel_threads must be None or an integer >= 1, got {kernel_threads!r}")
    return kernel_threads


class LossAdapter:
    """A losslab loss seen from a boosting library: gradient, policy Hessian, init score, metric.

    Parameters
    ----------
    loss : Loss or str
        The loss or its registry name.
    hessian : str, HessianPolicy or None
        The Hessian policy (None: the loss's default, :func:`default_policy`).
    kernel_threads : int or None, keyword-only, default None
        Threads of the fused kernels in :meth:`gradient_hessian` and :meth:`metric` unless
        losslab's ``kernel_threads`` is set (``losslab.set_config``, which wins). None: losslab's
        default (one per core). 1: serial kernels, and for log loss (``exact``) and focal
        (``gauss_newton``, integer gamma <= 4, hard labels) the gradient and policy Hessian,
        weights applied, from one serial pass (:mod:`losslab._kernels._boost`; float32 in,
        float32 out, focal in float32 arithmetic as the loss's own float32 kernel).
        :mod:`losslab.xgboost` passes 1: numba's OpenMP threads, spinning after a parallel
        kernel, slow XGBoost's own OpenMP threads (another runtime) by more than the second
        thread saves (:data:`losslab.xgboost.KERNEL_THREADS`).

    The first call of :meth:`gradient_hessian` validates labels and weights; later calls skip
    the value checks (``validate=False``) as the training loop asks for the same data again.
    Picklable (the Dask interfaces ship it to the workers).

    Raises
    ------
    ValueError
        Unknown loss name, a policy unusable with the loss, ``kernel_threads`` not None or an
        integer >= 1.
    """

    def __init__(
        self,
        loss: Loss | str,
        hessian: HessianPolicy | str | None = None,
        *,
        kernel_threads: int | None = None,
    ) -> None:
        self.loss: Loss = resolve_loss(loss)
        self.policy: HessianPolicy = resolve_policy(self.loss, hessian)
        self.kernel_threads = _check_threads(kernel_threads)
        self._validated = False
        # The serial kernel of losslab._kernels._boost that applies (None after a call that it
        # could not serve: soft focal labels).
        self._fused = self._serial_kernel() if self.kernel_threads == 1 else None

    def __repr__(self) -> str:
        threads = "" if self.kernel_threads is None else f", kernel_threads={self.kernel_threads}"
        return f"LossAdapter({self.loss!r}, hessian={self.policy!r}{threads})"

    def _serial_kernel(self) -> str | None:
        """The name of the :mod:`losslab._kernels._boost` kernel for this loss and policy."""
        kernel, policy = self.loss.kernel, self.policy.name
        if kernel == "log_loss" and policy == "exact":
            return "log_loss_exact"
        if (
            kernel == "focal"
            and policy == "gauss_newton"
            and float(self.loss._kernel_args()[0]) in _INT_GAMMAS
        ):
            return "focal_gauss_newton"
        return None

    def _threads(self) -> contextlib.AbstractContextManager[Any]:
        """The kernel thread count of this adapter, unless the user configured one."""
        if self.kernel_threads is None or get_config()["kernel_threads"] is not None:
            return contextlib.nullcontext()
        return config_context(kernel_threads=self.kernel_threads)

    # ------------------------------------------------------------------ shapes
    def _targets(self, y_true: Any, raw: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        y: np.ndarray[Any, Any] = np.asarray(y_true)
        if self.loss.is_multiclass:
            if raw.ndim != 2:
                raise ValueError(
                    f"{self.loss.name} needs raw predictions of shape (n_samples, n_classes), "
                    f"got {raw.shape}; set num_class / n_classes for a softmax loss"
                )
            return y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
        if raw.ndim == 2 and raw.shape[1] == 1:
            raw = raw[:, 0]
        out: np.ndarray[Any, Any] = y.reshape(raw.shape).astype(raw.dtype, copy=False)
        return out

    @staticmethod
    def _weights(sample_weight: Any) -> np.ndarray[Any, Any] | None:
        if sample_weight is None:
            return None
        w = np.asarray(sample_weight)
        if w.size == 0:  # XGBoost hands over an empty array when there are no weights
            return None
        return w.reshape(-1)

    # ------------------------------------------------------------------ the objective
    def gradient_hessian(
        self, y_true: Any, raw_prediction: Any, sample_weight: Any = None
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Gradient and policy Hessian, weights applied, in the shape of ``raw_prediction``.

        ``raw_prediction`` is (n,) for element-wise losses ((n, 1) is accepted) and (n, K) for
        the softmax losses; ``y_true`` is (n,) labels / targets / class indices (or (n, K)
        probabilities for softmax losses); ``sample_weight`` (n,), None or empty. Returns
        NumPy arrays of raw_prediction's float dtype (float64 for anything else) and shape.

        Raises
        ------
        ValueError
            On the first call: labels outside the loss's domain, bad weights, wrong shapes.
        """
        raw = _as_float_array(raw_prediction)
        shape = raw.shape
        z = raw[:, 0] if (not self.loss.is_multiclass and raw.ndim == 2) else raw
        y = self._targets(y_true, raw)
        w = self._weights(sample_weight)
        wz = None if w is None else w.astype(z.dtype, copy=False)
        with self._threads():
            if not self._validated:
                # Labels' and weights' values and shapes, once; one pass next to a round.
                self.loss.loss(y, z, sample_weight=wz, validate=True)
                self._validated = True
            fused = None if self._fused is None else self._fused_gradient_hessian(y, z, wz)
            if fused is None:
                fused = self._gradient_hessian(y, z, wz)
        g, h = fused
        return g.reshape(shape), h.reshape(shape)

    def _gradient_hessian(
        self, y: np.ndarray[Any, Any], z: np.ndarray[Any, Any], w: np.ndarray[Any, Any] | None
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """The loss's gradient and Hessian, the policy, the weights (the general path)."""
        if self.policy.name == "exact":  # the weights multiply in the kernel's pass
            g, h = self.loss.gradient_hessian(y, z, sample_weight=w, validate=False)
            return np.asarray(g), np.asarray(h)
        g, h = self.loss.gradient_hessian(y, z, validate=False)
        h = self._apply_policy(y, z, np.asarray(g), np.asarray(h))
        g = np.asarray(g)
        if w is not None:
            wm = w[:, None] if self.loss.is_multiclass else w
            g = g * wm  # new arrays: g and h may be the loss's read-only outputs
            h = h * wm
        return g, h

    def _fused_gradient_hessian(
        self, y: np.ndarray[Any, Any], z: np.ndarray[Any, Any], w: np.ndarray[Any, Any] | None
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None:
        """Gradient and policy Hessian from the serial kernel ``self._fused`` in one pass, or
        None where it does not apply (kernels off or unavailable, other kernel threads
        configured, fewer than ``kernel_min_size`` elements, not float32/float64 NumPy arrays
        of one dtype, focal labels other than 0 and 1)."""
        config = get_config()
        dtype = z.dtype
        if (
            not config["use_kernels"]
            or config["kernel_threads"] not in (None, 1)
            or not isinstance(y, np.ndarray)
            or dtype not in (np.float32, np.float64)
            or not dtype.isnative
            or y.dtype != dtype
            or z.size < max(1, config["kernel_min_size"])
            or (w is not None and (w.dtype != dtype or w.shape != z.shape))
            or not _kernels.available()
        ):
            return None
        impl = _boost_module()
        if impl is None:
            return None
        z1 = np.ascontiguousarray(z).reshape(-1)
        y1 = np.ascontiguousarray(y).reshape(-1)
        w1 = z1 if w is None else np.ascontiguousarray(w).reshape(-1)
        g, h = self._output_buffers(z1)
        p0, p1 = self.loss._kernel_args()[:2]
        name = str(self._fused)
        if dtype == np.float32 and hasattr(impl, name + "_f32"):
            name += "_f32"  # float32 arithmetic, as the loss's own float32 kernel
        kernel = getattr(impl, name)
        if kernel(y1, z1, w1, g, h, float(p0), float(p1), w is not None):
            self._fused = None  # e.g. soft focal labels: the general path from now on
            return None
        return g.reshape(z.shape), h.reshape(z.shape)  # views: they hold the buffers

    def _output_buffers(self, like: np.ndarray[Any, Any]) -> tuple[Any, Any]:
        """Two 1-D arrays like ``like`` for a serial kernel to write: the previous call's when
        no array outside this adapter refers to them any more (the host copied the gradients
        and dropped them), new ones otherwise.

        Fresh 4 MB arrays each round are not free: once the allocator hands such blocks back to
        the system between rounds (it does, depending on what else the process allocates),
        every round page-faults them in again, about 3000 faults and 5 ms at 10^6 float32 rows
        (measured in XGBoost). The check counts references to the buffers (every NumPy view
        refers to the array owning the memory), so an array still held by the caller is never
        overwritten; where reference counts are not reliable (another interpreter, CPython
        without the GIL) every call allocates.
        """
        buffers = self.__dict__.get("_buffers")
        if (
            buffers is not None
            and buffers[0].shape == like.shape
            and buffers[0].dtype == like.dtype
            and self._buffer_refs(0) == self.__dict__["_buffer_baseline"]
            and self._buffer_refs(1) == self.__dict__["_buffer_baseline"]
        ):
            return buffers  # type: ignore[no-any-return]
        if not _REFCOUNTS_RELIABLE:
            return np.empty_like(like), np.empty_like(like)
        self.__dict__["_buffers"] = (np.empty_like(like), np.empty_like(like))
        self.__dict__["_buffer_baseline"] = self._buffer_refs(0)
        return self.__dict__["_buffers"]  # type: ignore[no-any-return]

    def _buffer_refs(self, i: int) -> int:
        """References to output buffer ``i`` (one expression, so that the temporaries of the
        check and of the baseline are the same)."""
        return sys.getrefcount(self.__dict__["_buffers"][i])

    def __getstate__(self) -> dict[str, Any]:
        """The state without the output buffers (a pickled adapter allocates its own)."""
        state = dict(self.__dict__)
        state.pop("_buffers", None)
        state.pop("_buffer_baseline", None)
        return state

    def _apply_policy(
        self,
        y: np.ndarray[Any, Any],
        z: np.ndarray[Any, Any],
        g: np.ndarray[Any, Any],
        h: np.ndarray[Any, Any],
    ) -> np.ndarray[Any, Any]:
        p = self.policy
        if p.name == "exact":
            return h
        if p.name == "floor":
            floored: np.ndarray[Any, Any] = np.maximum(h, np.asarray(p.floor, dtype=h.dtype))
            return floored
        if p.name == "constant":
            return np.full_like(h, p.value)
        return self._gauss_newton(y, z, g, h)

    def _gauss_newton(
        self,
        y: np.ndarray[Any, Any],
        z: np.ndarray[Any, Any],
        g: np.ndarray[Any, Any],
        h: np.ndarray[Any, Any],
    ) -> np.ndarray[Any, Any]:
        """``f''(p) (dp/dz)^2`` from the exact g and h (module docstring)."""
        zero = np.zeros((), dtype=h.dtype)
        if not self.loss.is_multiclass:
            # 2p - 1 = tanh(z / 2), exact for large |z|.
            binary: np.ndarray[Any, Any] = np.tanh(0.5 * z)  # 2p - 1, in place from here
            binary *= g
            binary += h
            np.maximum(binary, zero, out=binary)
            return binary
        prob = np.asarray(self.loss.link.inverse(z))
        if y.ndim == 1:
            index: np.ndarray[Any, Any] = np.maximum(self._gn_softmax_index(y, prob, g, h), zero)
            return index
        # Probability targets: the loss is sum_c y_c FL_c; one pass per class.
        n, k = z.shape
        total = np.zeros_like(h)
        for c in range(k):
            yc = np.full(n, c, dtype=z.dtype)
            gc, hc = self.loss.gradient_hessian(yc, z, validate=False)
            part = self._gn_softmax_index(yc, prob, np.asarray(gc), np.asarray(hc))
            total = total + y[:, c : c + 1] * part
        return np.maximum(total, zero)

    @staticmethod
    def _gn_softmax_index(
        y: np.ndarray[Any, Any],
        prob: np.ndarray[Any, Any],
        g: np.ndarray[Any, Any],
        h: np.ndarray[Any, Any],
    ) -> np.ndarray[Any, Any]:
        n, k = prob.shape
        idx = np.asarray(y).astype(np.int64)
        mask = np.arange(k)[None, :] == idx[:, None]
        pc = prob[np.arange(n), idx]
        big_g = g[np.arange(n), idx]
        one_minus_pc = np.sum(np.where(mask, 0.0, prob), axis=1)
        extra = big_g * (pc - one_minus_pc)  # G (2 p_c - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(mask, 1.0, prob / one_minus_pc[:, None])
        r = np.where(np.isfinite(r), r, 0.0)
        return np.asarray(h + extra[:, None] * (r * r), dtype=h.dtype)

    # ------------------------------------------------------------------ the rest
    def init_score(self, y_true: Any, sample_weight: Any = None) -> np.ndarray[Any, Any]:
        """``fit_intercept_only`` as a float64 array: shape () or (K,) for softmax losses."""
        w = self._weights(sample_weight)
        y = np.asarray(y_true)
        if y.ndim == 1 and self.loss.kind == "multiclass":
            y, w = summarise_labels(y, w)  # K class indices: the solve touches K values
        elif y.ndim == 1 and self.loss.kind == "binary" and (w is None or w.shape == y.shape):
            hard = hard_label_summary(y, np.ones(y.shape[0]) if w is None else w)
            if hard is not None:  # two labels: the 1-D solve (focal) is instant
                y, w = hard
        return np.asarray(self.loss.fit_intercept_only(y, w), dtype=np.float64)

    def init_margin(self, init: np.ndarray[Any, Any], n: int) -> np.ndarray[Any, Any]:
        """The init score repeated for n rows: (n,) or (n, K)."""
        init = np.asarray(init, dtype=np.float64)
        if init.ndim == 0:
            return np.full(n, float(init))
        return np.tile(init, (n, 1))

    def metric(self, y_true: Any, raw_prediction: Any, sample_weight: Any = None) -> float:
        """Weighted mean loss ``sum(w L) / sum(w)`` on raw predictions (margins)."""
        raw = _as_float_array(raw_prediction)
        z = raw[:, 0] if (not self.loss.is_multiclass and raw.ndim == 2) else raw
        y = self._targets(y_true, raw)
        w = self._weights(sample_weight)
        with self._threads():
            value = self.loss(y, z, sample_weight=w, reduction="mean", validate=False)
        return float(value)

    def inverse_link(self, raw_prediction: Any) -> np.ndarray[Any, Any]:
        """Predictions or probabilities from raw predictions (NumPy)."""
        return np.asarray(self.loss.link.inverse(_as_float_array(raw_prediction)))

    @property
    def metric_name(self) -> str:
        """The name boosting logs show: ``losslab_<loss name>``."""
        return f"losslab_{self.loss.name}"


class _LossCallable:
    """A loss seen through a :class:`LossAdapter`, counting its calls (``n_calls``: the tests
    use it to prove the callable is called)."""

    def __init__(
        self,
        loss: Loss | str,
        hessian: HessianPolicy | str | None = None,
        *,
        kernel_threads: int | None = None,
    ) -> None:
        self.adapter = LossAdapter(loss, hessian, kernel_threads=kernel_threads)
        self.n_calls = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.adapter.loss!r}, hessian={self.adapter.policy.name!r})"


class NativeObjective(_LossCallable):
    """The native custom objective of both libraries: ``obj(preds, data) -> (grad, hess)``.

    ``preds`` are margins / raw scores, (n,) or (n, K) for softmax losses; labels come from
    ``data.get_label()`` (class indices for softmax losses), weights from ``data.get_weight()``
    (XGBoost's DMatrix and LightGBM's Dataset both have them) and are applied. Returns
    arrays of ``preds``' shape.
    """

    def __call__(self, preds: Any, data: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Gradient and Hessian of the loss at ``preds`` (weights applied)."""
        self.n_calls += 1
        labels = np.asarray(data.get_label())
        return self.adapter.gradient_hessian(labels, preds, data.get_weight())


class BoostingObjective(_LossCallable):
    """The scikit-learn-style objective ``f(y_true, y_pred, sample_weight=None) -> (g, h)``.

    Both libraries' scikit-learn wrappers call it with margins: XGBoost passes
    ``sample_weight`` by keyword (it looks for a parameter of that name), LightGBM passes the
    weights as the third positional argument (it counts three parameters). Returns the
    gradient and Hessian of :meth:`LossAdapter.gradient_hessian`. ``n_calls`` counts the
    calls (the tests use it to prove the callable is called).
    """

    def __call__(
        self, y_true: Any, y_pred: Any, sample_weight: Any = None
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Gradient and Hessian for margins ``y_pred``; see :class:`BoostingObjective`."""
        self.n_calls += 1
        return self.adapter.gradient_hessian(y_true, y_pred, sample_weight)


# ----------------------------------------------------------------------------- estimator helpers
# Shared by the scikit-learn estimators of losslab.xgboost and losslab.lightgbm.


def n_rows(X: Any) -> int:
    """The number of rows of a matrix-like ``X`` (NumPy, SciPy sparse, pandas, lists)."""
    shape = getattr(X, "shape", None)
    if isinstance(shape, tuple) and shape:
        return int(shape[0])
    return int(np.asarray(X).shape[0])


def not_fitted(est: Any) -> None:
    """Raise scikit-learn's NotFittedError unless ``est`` has been fitted by losslab."""
    if "init_score_" not in est.__dict__:
        from sklearn.exceptions import NotFittedError

        raise NotFittedError(
            f"This {type(est).__name__} instance is not fitted yet; call 'fit' first."
        )


def check_y(y: Any, classifier: bool) -> np.ndarray[Any, Any]:
    """``y`` as a 1-D array; a column vector is raveled with scikit-learn's warning.

    Raises
    ------
    ValueError
        ``y`` is None, complex, or not 1-D.
    """
    if y is None:
        raise ValueError("this estimator requires y to be passed, but the target y is None")
    arr = np.asarray(y)
    if np.iscomplexobj(arr):
        raise ValueError("Complex data not supported")
    if arr.ndim == 2 and arr.shape[1] == 1:
        import warnings

        from sklearn.exceptions import DataConversionWarning

        warnings.warn(
            "A column-vector y was passed when a 1d array was expected; it is raveled.",
            DataConversionWarning,
            stacklevel=3,
        )
        arr = arr.ravel()
    if arr.ndim != 1:
        what = "class labels" if classifier else "targets"
        raise ValueError(f"y must be 1-D {what}, got shape {arr.shape}")
    return arr


def check_classifier_loss(loss: Loss, n_classes: int, regressor: str) -> None:
    """Raise ValueError unless ``loss`` is a classification loss for ``n_classes`` classes.

    Softmax losses need at least 3 classes, binary ones exactly 2; regression losses belong to
    the library's ``regressor`` estimator (named in the message).
    """
    if loss.is_multiclass and n_classes < 3:
        raise ValueError(
            f"{loss.name} is a softmax loss and needs at least 3 classes, got "
            f"{n_classes} class(es); use log_loss or focal for two classes"
        )
    if loss.kind == "regression":
        raise ValueError(f"{loss.name} is a regression loss; use {regressor}")
    if not loss.is_multiclass and n_classes != 2:
        raise ValueError(
            "Only binary classification is supported. The type of the target is "
            f"{'multiclass' if n_classes > 2 else 'binary'}: "
            f"{loss.name} is a binary loss and needs exactly 2 classes, got "
            f"{n_classes} class(es); use softmax_cross_entropy or softmax_focal"
        )


def encode_labels(classes: np.ndarray[Any, Any], y: Any, what: str) -> np.ndarray[Any, Any]:
    """Indices of ``y``'s labels in the sorted ``classes`` of a fitted classifier.

    Raises
    ------
    ValueError
        A label of ``y`` (``what`` names it, e.g. ``"eval_set"``) that is not in ``classes``,
        NaN included: its loss would be meaningless.
    """
    arr = np.asarray(y).reshape(-1)
    idx = np.searchsorted(classes, arr)
    unseen = classes[np.minimum(idx, classes.shape[0] - 1)] != arr
    if np.any(unseen):
        raise ValueError(
            f"{what} has labels never seen in training: {np.unique(arr[unseen])[:5].tolist()}; "
            f"the classes are {classes.tolist()}"
        )
    return idx


def proba_from_margin(loss: Loss, margin: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Class probabilities (n, K) from margins: the loss's inverse link.

    Binary margins (n,) give columns ``[sigmoid(-m), sigmoid(m)]``, each computed directly so
    that ``1 - p`` never cancels; softmax margins (n, K) give ``softmax(m)``.
    """
    margin = np.asarray(margin, dtype=np.float64)
    if loss.is_multiclass:
        return np.asarray(loss.link.inverse(margin))
    margin = margin.reshape(-1)
    p1 = np.asarray(loss.link.inverse(margin))
    p0 = np.asarray(loss.link.inverse(-margin))
    return np.stack([p0, p1], axis=1)


# ----------------------------------------------------------------------------- label summaries
def summarise_labels(
    y: Any, sample_weight: Any = None
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The distinct values of 1-D ``y`` and the summed weight of each (sorted by value).

    ``sum_i w_i L(y_i, c) = sum_u W_u L(u, c)``, so ``fit_intercept_only(values, weights)``
    equals ``fit_intercept_only(y, w)`` for every element-wise and class-index loss while
    touching each row once: hard 0/1 labels by two masks, other labels by ``np.unique``.
    NaN labels stay in ``values`` (``fit_intercept_only`` then raises).
    """
    y = np.asarray(y).reshape(-1)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if w is None or w.size == 0:  # XGBoost hands over an empty array for "no weights"
        w = np.ones(y.shape[0])
    if w.shape != y.shape:
        raise ValueError(f"sample_weight must have shape {y.shape}, got {w.shape}")
    hard = hard_label_summary(y, w)
    if hard is not None:
        return hard
    values, inverse = np.unique(y, return_inverse=True)
    return values, np.bincount(inverse.reshape(-1), weights=w, minlength=values.shape[0])


def hard_label_summary(
    y: np.ndarray[Any, Any], w: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None:
    """:func:`summarise_labels` of labels that are all 0 or 1, by two masks (no sort); None
    when some label is neither."""
    if y.dtype.kind not in "biuf":
        return None
    ones = y == 1
    zeros = y == 0
    n_ones = int(np.count_nonzero(ones))
    if n_ones + int(np.count_nonzero(zeros)) != y.shape[0]:
        return None
    present = [v for v, n in ((0, y.shape[0] - n_ones), (1, n_ones)) if n > 0]
    totals = {0: float(np.sum(w[zeros])), 1: float(np.sum(w[ones]))}
    return np.asarray(present, dtype=y.dtype), np.asarray([totals[v] for v in present])


def merge_summaries(
    parts: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]],
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """One summary (:func:`summarise_labels`) from the summaries of several blocks."""
    values = np.concatenate([v for v, _ in parts])
    weights = np.concatenate([w for _, w in parts])
    return summarise_labels(values, weights)


def _dask_column(x: Any) -> Any:
    """A 1-D Dask array with known chunks from a Dask array, Series or one-column frame."""
    x = x.to_dask_array(lengths=True) if hasattr(x, "to_dask_array") else x
    return x.reshape(-1) if getattr(x, "ndim", 1) != 1 else x


def dask_newton_intercept(
    loss: Loss, y: Any, sample_weight: Any = None, *, max_iter: int = 100
) -> float:
    """``loss.fit_intercept_only(y, w)`` of a regression loss on Dask data, by reductions.

    A safeguarded Newton iteration on the summed gradient ``G(c) = sum w g(y, c)`` (increasing
    in c: the loss is convex) with ``H(c) = sum w h(y, c)``, both from one pass over the blocks
    on the workers per step; only the two sums reach the client. It starts at the link of the
    weighted mean (the answer for the squared errors and the log-link losses), keeps a bracket
    from the signs of G, bisects whenever a Newton step leaves it, and stops when the step is
    below 1e-13 relative. Not for losses whose Hessian is 0 almost everywhere (absolute error,
    pinball: their intercept is a weighted quantile).

    Raises
    ------
    ValueError
        Non-finite sums (NaN or infinite targets or weights), or no convergence.
    """
    from dask.base import compute

    ya = _dask_column(y).astype(np.float64)
    wa = (
        None
        if sample_weight is None
        else _dask_column(sample_weight).astype(np.float64).rechunk(ya.chunks)
    )

    def sums(*terms: Any) -> list[float]:
        out = compute(*[t.sum() for t in terms])  # type: ignore[no-untyped-call]
        values = [float(v) for v in out]
        if not all(np.isfinite(values)):
            raise ValueError("y or sample_weight contains NaN or infinity: no intercept")
        return values

    def g_h(c: float) -> list[float]:
        g, h = loss.gradient_hessian(ya, ya * 0.0 + c, validate=False)
        return sums(g, h) if wa is None else sums(g * wa, h * wa)

    total, weighted_y = sums(ya * 0.0 + 1.0, ya) if wa is None else sums(wa, wa * ya)
    c = float(np.asarray(loss.link.link(np.asarray(weighted_y / total))))
    c = c if np.isfinite(c) else 0.0
    lo, hi = -np.inf, np.inf
    for _ in range(max_iter):
        G, H = g_h(c)
        if G == 0.0:
            return c
        if G > 0:
            hi = c
        else:
            lo = c
        step = G / H if H > 0 else float(np.sign(G)) * max(1.0, abs(c))
        new = c - step
        if not lo < new < hi:
            new = 0.5 * (lo + hi) if np.isfinite(lo) and np.isfinite(hi) else c - 2.0 * step
        if abs(new - c) <= 1e-13 * max(1.0, abs(c)):
            return float(new)
        c = float(new)
    raise ValueError(f"the intercept of {loss.name} did not converge in {max_iter} steps")


def dask_label_summary(
    y: Any, sample_weight: Any = None
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """:func:`summarise_labels` of a Dask array / Series by a reduction over its blocks.

    Each worker summarises its own blocks; only the (value, weight) pairs reach the client:
    two per block for binary labels, K for class indices. Regression targets with many
    distinct values send their distinct values (one column).
    """
    from dask.base import compute
    from dask.delayed import delayed

    ya = _dask_column(y)
    blocks = list(ya.to_delayed().reshape(-1))
    if sample_weight is None:
        wblocks: list[Any] = [None] * len(blocks)
    else:
        wblocks = list(_dask_column(sample_weight).rechunk(ya.chunks).to_delayed().reshape(-1))
    summarise = delayed(summarise_labels)
    parts = compute(*[summarise(b, wb) for b, wb in zip(blocks, wblocks, strict=True)])  # type: ignore[no-untyped-call]
    return merge_summaries(list(parts))


# ----------------------------------------------------------------------------- the fit plan
OWN_PARAMS = ("loss", "hessian")


def is_own_param(key: str) -> bool:
    """True for losslab's estimator parameters (``loss``, ``hessian``, ``loss__<name>``),
    which must not reach the host library."""
    return key in OWN_PARAMS or key.startswith("loss__")


def builtin_route(loss: Loss) -> tuple[str, float | None] | None:
    """The host's built-in objective equal to a loss whose Hessian is 0 almost everywhere.

    ``("quantile", tau)`` for a loss with a ``quantile`` parameter (pinball), ``("absolute",
    None)`` for one without (absolute error), None for losses with a usable Hessian. Both
    libraries' built-in quantile / L1 objectives refit every leaf to the weighted quantile of
    its residuals, which a Newton step on a zero Hessian cannot do.
    """
    if loss.hessian_sign != "zero" or loss.kind != "regression":
        return None
    quantile = loss.params.get("quantile")
    return ("absolute", None) if quantile is None else ("quantile", float(quantile))


@dataclass(frozen=True)
class FitPlan:
    """What one fit of a losslab estimator uses, decided before the host library runs.

    ``policy`` is None when the loss is routed to the host's built-in objective (``route``,
    :func:`builtin_route`); ``init`` holds the init score in margin space, () or (K,) (zeros
    when the caller passed their own start: ``start_given``); ``classes`` the original labels
    of a classifier; ``y`` the labels encoded 0..K-1 or the float targets (None on Dask).
    """

    loss: Loss
    policy: HessianPolicy | None
    route: tuple[str, float | None] | None
    init: np.ndarray[Any, Any]
    start_given: bool
    classes: np.ndarray[Any, Any] | None
    y: np.ndarray[Any, Any] | None
    continued: bool = False
    """The fit continues a previous model (``xgb_model`` / ``init_model``), which carries its
    own init score: the plan adds none (``start_given`` is then True too)."""

    @property
    def objective(self) -> BoostingObjective | None:
        """The callable objective (None when routed to a built-in one)."""
        return None if self.policy is None else BoostingObjective(self.loss, self.policy)

    def margins(self, n: int) -> np.ndarray[Any, Any]:
        """The init score repeated for ``n`` rows: (n,) or (n, K)."""
        if self.init.ndim == 0:
            return np.full(n, float(self.init))
        return np.tile(self.init, (n, 1))

    def attributes(self) -> dict[str, str]:
        """The plan as string attributes of the saved model (:func:`plan_from_attributes`)."""
        attrs = {
            "losslab_loss": self.loss.name,
            "losslab_params": json.dumps(_jsonable(self.loss.params)),
            "losslab_hessian": json.dumps(
                None if self.policy is None else _jsonable(asdict(self.policy))
            ),
            "losslab_init_score": json.dumps(self.init.tolist()),
        }
        if self.classes is not None:
            attrs["losslab_classes"] = json.dumps(self.classes.tolist())
        return attrs


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def plan_from_attributes(attrs: dict[str, str | None]) -> FitPlan:
    """The plan a model was fitted with, from the attributes :meth:`FitPlan.attributes` wrote.

    Raises
    ------
    ValueError
        The model carries no ``losslab_loss`` attribute (it was not fitted by losslab).
    """
    name = attrs.get("losslab_loss")
    if not name:
        raise ValueError(
            "this model has no losslab_loss attribute: it was not fitted by a losslab estimator"
        )
    loss = get_loss(name, **json.loads(attrs.get("losslab_params") or "{}"))
    hessian = json.loads(attrs.get("losslab_hessian") or "null")
    classes = attrs.get("losslab_classes")
    return FitPlan(
        loss=loss,
        policy=None if hessian is None else HessianPolicy(**hessian),
        route=builtin_route(loss) if hessian is None else None,
        init=np.asarray(json.loads(attrs.get("losslab_init_score") or "0.0"), dtype=np.float64),
        start_given=False,
        classes=None if classes is None else np.asarray(json.loads(classes)),
        y=None,
    )


def dask_proba(loss: Loss, margin: Any, n_classes: int) -> Any:
    """Class probabilities (n, K) as a Dask array from Dask margins (n,) or (n, K)."""
    import dask.array

    da: Any = dask.array  # untyped
    if margin.ndim == 1:
        margin = margin[:, None]
    return da.map_blocks(
        lambda m: proba_from_margin(loss, m),
        margin,
        dtype=np.float64,
        chunks=(margin.chunks[0], (n_classes,)),
    )


def dask_labels(proba: Any, classes: np.ndarray[Any, Any]) -> Any:
    """The most probable class label per row, as a Dask array, from Dask probabilities."""
    import dask.array

    da: Any = dask.array  # untyped
    return da.map_blocks(
        lambda p: classes[np.argmax(p, axis=1)], proba, drop_axis=1, dtype=classes.dtype
    )


class SklearnLossMixin:
    """What the scikit-learn estimators of losslab.xgboost and losslab.lightgbm share.

    Mixed in before the library's own estimator class: ``loss`` (a loss object, a registry
    name, or None: half squared error for a regressor, log loss / softmax cross-entropy by the
    number of classes for a classifier) replaces ``objective``; ``loss__<param>`` reaches the
    loss's hyperparameters (scikit-learn's nested parameters); the tags say the estimators are
    single-output and, for a binary loss, binary-only. One fit plan serves every estimator:
    :meth:`_plan_fit` (labels, weights, loss, Hessian policy or built-in route, init score),
    :meth:`_run_fit` (objective set for the host's fit and restored after, what was used
    recorded as ``loss_``, ``hessian_policy_``, ``init_score_``, ``builtin_objective_``).
    """

    loss: Any
    hessian: Any
    objective: Any
    init_score_: np.ndarray[Any, Any]
    loss_: Loss

    _REGRESSOR: str = "the regressor"
    _CLASSIFIER: str = "the classifier"
    _OBJECTIVE_ATTRS: tuple[str, ...] = ("objective",)

    def __init__(
        self,
        *,
        loss: Loss | str | None = None,
        hessian: HessianPolicy | str | None = None,
        objective: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(objective=objective, **kwargs)  # type: ignore[call-arg]
        self.loss = loss
        self.hessian = hessian

    def __sklearn_tags__(self) -> Any:
        """The library's tags, single-output; binary-only for a binary loss."""
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.target_tags.multi_output = False
        if tags.classifier_tags is not None:
            tags.classifier_tags.multi_label = False
            try:
                binary = self.loss is not None and resolve_loss(self.loss).kind == "binary"
            except (TypeError, ValueError):  # a bad loss is reported by fit, not by the tags
                binary = False
            if binary:
                tags.classifier_tags.multi_class = False
        return tags

    # ------------------------------------------------------------------ parameters
    def set_params(self, **params: Any) -> Any:
        """Set parameters; ``loss__<name>=value`` replaces the loss by one with that
        hyperparameter changed (losses are immutable), so grid searches reach them.

        Raises
        ------
        ValueError
            ``loss__<name>`` without a loss (``loss=None``), or a value the loss refuses.
        TypeError
            A hyperparameter the loss does not take.
        """
        nested = {k[len("loss__") :]: params.pop(k) for k in list(params) if k.startswith("loss__")}
        if nested:
            base = params.get("loss", self.loss)
            if base is None:
                raise ValueError(
                    f"cannot set loss__{next(iter(nested))}: loss is None; set loss first"
                )
            params["loss"] = resolve_loss(base).replace(**nested)
        return super().set_params(**params)  # type: ignore[misc]

    def _losslab_loss(self, n_classes: int | None = None) -> Loss:
        """The loss object; ``loss=None`` picks half squared error for a regressor and, for a
        classifier, log loss or softmax cross-entropy from the number of classes."""
        if self.loss is None:
            if not self._is_classifier():
                return resolve_loss("half_squared_error")
            return resolve_loss(
                "softmax_cross_entropy" if n_classes is not None and n_classes > 2 else "log_loss"
            )
        return resolve_loss(self.loss)

    def _check_objective(self) -> None:
        """Raise ValueError if the user set ``objective``: ``loss`` sets it."""
        if self.objective is not None:
            raise ValueError(
                "losslab estimators set the objective from `loss`; leave `objective` as None "
                f"(got {self.objective!r})"
            )

    def _is_classifier(self) -> bool:
        return bool(self.__sklearn_tags__().estimator_type == "classifier")

    # ------------------------------------------------------------------ the plan
    def _plan_fit(
        self, X: Any, y: Any, sample_weight: Any, *, start_given: bool, continued: bool = False
    ) -> FitPlan:
        """Check the inputs and decide the fit (:class:`FitPlan`) for in-memory data;
        ``continued``: the fit continues a previous model (no init score of its own).

        Raises
        ------
        ValueError
            ``objective`` set, X without rows, y None / not 1-D / containing NaN, a loss of
            the wrong kind or number of classes, a Hessian policy the loss does not offer.
        """
        self._check_objective()
        if n_rows(X) == 0:
            raise ValueError("X has 0 rows (samples); fit needs at least one")
        classifier = self._is_classifier()
        arr = check_y(y, classifier=classifier)
        if arr.dtype.kind in "fc":
            from sklearn.utils import assert_all_finite

            assert_all_finite(arr, input_name="y")  # "Input y contains NaN / infinity"
        if classifier:
            from sklearn.utils.multiclass import type_of_target

            kind = type_of_target(arr, input_name="y", raise_unknown=True)
            if kind not in ("binary", "multiclass"):
                raise ValueError(f"Unknown label type: {kind}; y must hold class labels")
            classes, enc = np.unique(arr, return_inverse=True)
            plan = self._plan_from(
                summarise_labels(enc, sample_weight), classes, enc, start_given or continued
            )
        else:
            target = arr.astype(np.float64)
            plan = self._plan_from((target, sample_weight), None, target, start_given or continued)
        return replace(plan, continued=continued)

    def _plan_fit_dask(self, y: Any, sample_weight: Any, *, start_given: bool) -> FitPlan:
        """The plan of the Dask estimators, from reductions on the workers: a label summary
        (:func:`dask_label_summary`) for classifiers and zero-Hessian losses, a Newton
        iteration on distributed sums (:func:`dask_newton_intercept`) for the other
        regression losses, whose targets have about as many distinct values as rows."""
        if not self._is_classifier() and not start_given:
            self._check_objective()
            loss = self._losslab_loss()
            if loss.kind == "regression" and loss.hessian_sign != "zero":
                init = np.asarray(dask_newton_intercept(loss, y, sample_weight))
                return self._plan_from((None, None), None, None, start_given, init=init)
        summary = dask_label_summary(y, sample_weight)
        return self._plan_fit_summary(summary, start_given=start_given)

    def _plan_fit_summary(
        self, summary: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]], *, start_given: bool
    ) -> FitPlan:
        """The plan from a label summary (:func:`dask_label_summary`)."""
        self._check_objective()
        values, weights = summary
        if values.dtype.kind == "f" and bool(np.any(np.isnan(values))):
            raise ValueError("y contains NaN; every label / target must be a number")
        if self._is_classifier():
            encoded = (np.arange(values.shape[0]), weights)
            return self._plan_from(encoded, values, None, start_given)
        return self._plan_from(summary, None, None, start_given)

    def _plan_from(
        self,
        summary: tuple[Any, Any],
        classes: np.ndarray[Any, Any] | None,
        y: np.ndarray[Any, Any] | None,
        start_given: bool,
        init: np.ndarray[Any, Any] | None = None,
    ) -> FitPlan:
        if classes is not None:
            loss = self._losslab_loss(len(classes))
            check_classifier_loss(loss, len(classes), self._REGRESSOR)
        else:
            loss = self._losslab_loss()
            if loss.kind != "regression":
                raise ValueError(f"{loss.name} is a classification loss; use {self._CLASSIFIER}")
        route = builtin_route(loss) if self.hessian is None else None
        policy = None if route is not None else resolve_policy(loss, self.hessian)
        if route is None and loss.hessian_sign == "zero":
            warnings.warn(
                f"{loss.name} has a Hessian that is 0 almost everywhere; with "
                f"hessian={policy.name if policy else None!r} every leaf takes a bounded "
                "Newton step and trains slowly. Leave hessian=None to use the library's "
                "built-in objective, which refits the leaves",
                UserWarning,
                stacklevel=4,
            )
        n_init = len(classes) if classes is not None and loss.kind == "multiclass" else None
        if start_given:
            init = np.zeros(() if n_init is None else (n_init,))
        elif init is None:
            values, weights = summary
            init = np.asarray(loss.fit_intercept_only(values, weights), dtype=np.float64)
        return FitPlan(loss, policy, route, init, start_given, classes, y)

    def _run_fit(self, plan: FitPlan, fit: Callable[[], Any]) -> None:
        """Run the host's ``fit`` with the plan's objective set, then restore and record.

        The callable objective (or the built-in objective's name) is set on the attributes
        the host reads (``_OBJECTIVE_ATTRS``) for the duration of ``fit``; ``objective`` is
        None again afterwards, whatever happens. The plan is visible to the host-specific
        parameter hooks as ``self._losslab_plan`` during the fit.
        """
        host = self._host_objective(plan)
        self.__dict__["_losslab_plan"] = plan
        for attr in self._OBJECTIVE_ATTRS:
            setattr(self, attr, host)
        try:
            fit()
        finally:
            self.objective = None
            self.__dict__.pop("_losslab_plan", None)
        self._record(plan)
        self._after_fit(plan)

    def _record(self, plan: FitPlan) -> None:
        self.loss_ = plan.loss
        self.hessian_policy_ = plan.policy
        self.init_score_ = plan.init
        host = self._host_objective(plan)
        self.builtin_objective_ = host if isinstance(host, str) else None

    def _host_objective(self, plan: FitPlan) -> Any:
        """What the host's ``objective`` holds during the fit (host modules override)."""
        return plan.objective

    def _after_fit(self, plan: FitPlan) -> None:
        """Write the plan into the fitted model (host modules override)."""
