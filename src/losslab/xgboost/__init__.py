"""XGBoost with any losslab loss: objectives, metrics and estimators with the plumbing right.

Importing this module imports :mod:`xgboost` (``import losslab`` does not); the Dask estimators
live in :mod:`losslab.xgboost.dask` (``DaskXGBClassifier``, ``DaskXGBRegressor``), as XGBoost's
own live in :mod:`xgboost.dask`.

Native API::

    import losslab, losslab.xgboost as lx, xgboost
    focal = losslab.get_loss("focal", gamma=2.0)
    dtrain = xgboost.DMatrix(X, label=y, weight=w,
                             base_margin=lx.init_margin(focal, y, sample_weight=w))
    booster = xgboost.train({"disable_default_eval_metric": 1, **lx.FOCAL_DEFAULTS},
                            dtrain, 100, obj=lx.objective(focal),
                            custom_metric=lx.metric(focal), evals=[(dtrain, "train")])
    margin = booster.predict(xgboost.DMatrix(X2, base_margin=lx.init_margin(focal, y,
                             sample_weight=w, n=len(X2))), output_margin=True)

scikit-learn API: :class:`XGBClassifier` and :class:`XGBRegressor` subclass XGBoost's own
estimators and take ``loss`` (a loss or a registry name) and ``hessian`` (a Hessian policy,
:mod:`losslab._boosting`) on top of every XGBoost parameter. They fit from
``loss.fit_intercept_only``, stored in the model as XGBoost's ``base_score`` (so a model saved
with ``save_model`` predicts the same when XGBoost alone loads it), and
``decision_function`` / ``predict_proba`` / ``predict`` apply the loss's inverse link.

What XGBoost does with a bare callable objective, and what losslab does instead:

* sample weights: XGBoost hands them to the objective (or an empty array) but does not apply
  them; losslab multiplies the gradient and Hessian by them;
* start: XGBoost starts a custom objective from a ``base_score`` it estimates for its own
  objective; losslab sets ``base_score`` to ``fit_intercept_only`` (as a probability for the
  binary losses, whose saved objective is ``binary:logistic``; as margins for softmax losses,
  ``multi:softprob``; as the value for regression, ``reg:squarederror``);
* zero Hessians: absolute error and pinball train with XGBoost's own ``reg:absoluteerror`` /
  ``reg:quantileerror``, which refit the leaves (the same loss; ``builtin_objective_``);
* probabilities: ``XGBClassifier`` with a callable objective applies the sigmoid of
  ``binary:logistic`` and ignores the init score; losslab uses the loss's link and the init
  score;
* Hessians: XGBoost silently clips negative Hessians; losslab hands over a named positive
  policy (``gauss_newton`` for focal, ``constant`` for absolute / pinball, ...);
* threads: the objectives and metrics run losslab's kernels on one thread
  (:data:`KERNEL_THREADS`), in the gap between XGBoost's parallel regions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import xgboost

from losslab._boosting import (
    BoostingObjective,
    FitPlan,
    HessianPolicy,
    LossAdapter,
    NativeObjective,
    SklearnLossMixin,
    encode_labels,
    is_focal_like,
    is_own_param,
    not_fitted,
    plan_from_attributes,
    proba_from_margin,
    step_cap,
)
from losslab.losses import Loss

__all__ = [
    "FOCAL_DEFAULTS",
    "KERNEL_THREADS",
    "XGBClassifier",
    "XGBMetric",
    "XGBObjective",
    "XGBRegressor",
    "init_margin",
    "metric",
    "objective",
    "sklearn_metric",
    "sklearn_objective",
]

FOCAL_DEFAULTS: dict[str, float] = {"min_child_weight": 1e-3, "max_delta_step": 2.0}
"""XGBoost parameters the estimators use for focal losses (gamma > 0) unless set.

Focal gradients and Hessians carry the factor ``(1 - p_t)^gamma``, so with XGBoost's
``min_child_weight=1`` the nodes of well-classified examples never reach the Hessian sum a
split needs and trees stop growing; ``1e-3`` lets them split. ``max_delta_step=2`` caps each
leaf's step in the logit (XGBoost recommends 1-10 for imbalanced logistic problems), so a
leaf of a few hard examples cannot move margins by tens of logits in one round.
"""


KERNEL_THREADS = 1
"""Threads of losslab's kernels inside XGBoost's objectives and metrics (unless
``losslab.set_config(kernel_threads=...)`` sets a number, which wins).

XGBoost's wheels bring their own OpenMP runtime; numba's ``omp`` threading layer uses the
system's. After a parallel kernel, numba's worker threads spin for a few milliseconds before
they sleep, on the cores that XGBoost's next parallel region needs: at 10^6 rows x 20 on 2
cores that cost about 7 ms per round (14 % of a 50 ms round), against 1.5 ms saved by the
kernel's second thread. One thread starts no worker. With many cores and 10^7 rows or more a
parallel kernel may pay again: set ``kernel_threads`` in losslab's configuration.
"""


def _labels(dtrain: Any) -> np.ndarray[Any, Any]:
    return np.asarray(dtrain.get_label())


class XGBObjective(NativeObjective):
    """Native custom objective ``obj(predt, dtrain) -> (grad, hess)`` for ``xgboost.train``.

    ``predt`` are margins, (n,) or (n, K) for softmax losses (XGBoost >= 2 then expects (n, K)
    gradients, which this returns). Labels come from ``dtrain.get_label()`` (class indices for
    softmax losses), weights from ``dtrain.get_weight()`` and are applied. Set the init score
    with ``base_margin`` (:func:`init_margin`); for softmax losses pass ``num_class`` in the
    parameters. ``n_calls`` counts the calls. Kernels run on ``kernel_threads`` threads
    (:data:`KERNEL_THREADS`).
    """

    def __init__(
        self,
        loss: Loss | str,
        hessian: HessianPolicy | str | None = None,
        *,
        kernel_threads: int | None = KERNEL_THREADS,
    ) -> None:
        super().__init__(loss, hessian, kernel_threads=kernel_threads)


class XGBMetric:
    """Native custom metric ``metric(predt, dmatrix) -> (name, value)``.

    The weighted mean loss on margins (XGBoost passes margins to a custom metric when the
    objective is custom). Lower is better. Name ``losslab_<loss name>``; pass
    ``disable_default_eval_metric=1`` to see it alone.
    """

    def __init__(self, loss: Loss | str) -> None:
        self.adapter = LossAdapter(loss, "constant", kernel_threads=KERNEL_THREADS)

    def __call__(self, predt: Any, dmatrix: Any) -> tuple[str, float]:
        """``(name, weighted mean loss)``."""
        return self.adapter.metric_name, self.adapter.metric(
            _labels(dmatrix), predt, dmatrix.get_weight()
        )


class _SklearnMetric:
    """scikit-learn-style metric ``f(y_true, y_score, sample_weight=None) -> float``."""

    def __init__(self, loss: Loss | str) -> None:
        self.adapter = LossAdapter(loss, "constant", kernel_threads=KERNEL_THREADS)
        self.__name__ = self.adapter.metric_name

    def __call__(self, y_true: Any, y_score: Any, sample_weight: Any = None) -> float:
        return self.adapter.metric(y_true, y_score, sample_weight)


def objective(loss: Loss | str, hessian: HessianPolicy | str | None = None) -> XGBObjective:
    """The native objective for ``xgboost.train(obj=...)``; see :class:`XGBObjective`.

    Raises
    ------
    ValueError
        Unknown loss name or a Hessian policy unusable with the loss.
    """
    return XGBObjective(loss, hessian)


def sklearn_objective(
    loss: Loss | str, hessian: HessianPolicy | str | None = None
) -> BoostingObjective:
    """A callable for ``xgboost.XGBRegressor(objective=...)``: ``f(y, margin, sample_weight)``.

    Prefer :class:`XGBRegressor` / :class:`XGBClassifier`, which also set the init score and
    the link; with XGBoost's own estimators you must pass ``base_margin`` at fit and predict.
    """
    return BoostingObjective(loss, hessian, kernel_threads=KERNEL_THREADS)


def metric(loss: Loss | str) -> XGBMetric:
    """The native metric for ``xgboost.train(custom_metric=...)``; see :class:`XGBMetric`."""
    return XGBMetric(loss)


def sklearn_metric(loss: Loss | str) -> Any:
    """A callable for ``eval_metric=`` of the scikit-learn estimators (weighted mean loss on
    margins, named ``losslab_<name>``)."""
    return _SklearnMetric(loss)


def init_margin(
    loss: Loss | str, y: Any, *, sample_weight: Any = None, n: int | None = None
) -> np.ndarray[Any, Any]:
    """``base_margin`` for a DMatrix: ``fit_intercept_only(y, sample_weight)`` repeated.

    Returns (n,) for element-wise losses and (n, K) for softmax losses, ``n = len(y)`` unless
    given (use the training ``y`` and the prediction set's ``n`` at predict time).
    """
    adapter = LossAdapter(loss, "constant")
    init = adapter.init_score(y, sample_weight)
    return adapter.init_margin(init, len(np.asarray(y)) if n is None else n)


# ---------------------------------------------------------------------- estimators
_BUILTIN = {"absolute": "reg:absoluteerror", "quantile": "reg:quantileerror"}
_P_MIN = 1e-7  # base_score is a float32 probability for binary losses: |init| <= 16.1


def base_score(plan: FitPlan) -> float | list[float]:
    """XGBoost's ``base_score`` for a plan: the init score in the space of the objective the
    model is saved with (a probability for ``binary:logistic``, margins for
    ``multi:softprob``, the value for regression). Binary init scores beyond +-16.1 logits
    are clipped (float32 cannot hold the probability's distance to 0 or 1 there)."""
    init = plan.init
    if plan.loss.kind == "multiclass":
        return [float(v) for v in init]
    if plan.loss.kind == "binary":  # binary:logistic reads it through the logit
        p = 1.0 / (1.0 + float(np.exp(-float(init))))
        return min(max(p, _P_MIN), 1.0 - _P_MIN)
    return float(init)


class _XGBLossMixin(SklearnLossMixin):
    """The XGBoost side of the fit plan: parameters, ``base_score``, model attributes, load."""

    _REGRESSOR = "XGBRegressor"
    _CLASSIFIER = "XGBClassifier"
    eval_metric: Any
    base_score: Any

    def get_xgb_params(self) -> dict[str, Any]:
        """XGBoost's parameters: without losslab's own, with the focal defaults applied and,
        during a fit, the plan's ``base_score`` (and ``quantile_alpha`` for pinball)."""
        params: dict[str, Any] = super().get_xgb_params()  # type: ignore[misc]
        for key in [k for k in params if is_own_param(k)]:
            del params[key]
        plan: FitPlan | None = self.__dict__.get("_losslab_plan")
        loss = self._losslab_loss() if plan is None else plan.loss
        if is_focal_like(loss):
            for key, value in FOCAL_DEFAULTS.items():
                if params.get(key) is None:
                    params[key] = value
        cap = step_cap(loss)
        if cap is not None and params.get("max_delta_step") is None:
            params["max_delta_step"] = cap  # count:poisson's leaf cap (Poisson's Newton step)
        if plan is not None and not plan.continued:  # a previous model keeps its own
            params["base_score"] = base_score(plan)
            if plan.route is not None and plan.route[1] is not None:
                params["quantile_alpha"] = plan.route[1]
            if self.__dict__.get("_losslab_default_metric"):
                params["disable_default_eval_metric"] = 1
        return params

    def _host_objective(self, plan: FitPlan) -> Any:
        if plan.route is not None:
            return _BUILTIN[plan.route[0]]
        return BoostingObjective(plan.loss, plan.policy, kernel_threads=KERNEL_THREADS)

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        sample_weight: Any = None,
        base_margin: Any = None,
        eval_set: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Fit on ``loss`` (the estimators' docstrings); other keywords go to XGBoost's
        ``fit``. A given ``base_margin`` replaces the init score. Returns self."""
        plan = self._plan_fit(
            X,
            y,
            sample_weight,
            start_given=base_margin is not None,
            continued=kwargs.get("xgb_model") is not None,
        )
        if plan.classes is not None and eval_set is not None:
            eval_set = [(Xe, encode_labels(plan.classes, ye, "eval_set")) for Xe, ye in eval_set]
        self._set_classes(None)  # XGBoost checks classes_ against 0..K-1 during its fit
        parent = super().fit  # type: ignore[misc]
        self._fit_xgb(
            plan,
            lambda: parent(
                X,
                plan.y,
                sample_weight=sample_weight,
                base_margin=base_margin,
                eval_set=eval_set,
                **kwargs,
            ),
        )
        self._set_classes(plan.classes)
        return self

    def _fit_xgb(self, plan: FitPlan, fit: Callable[[], Any]) -> None:
        """:meth:`_run_fit` with the loss's own metric as the default ``eval_metric``."""
        if self.base_score is not None:
            raise ValueError(
                "losslab estimators set base_score from loss.fit_intercept_only; leave "
                f"base_score as None (got {self.base_score!r}) and pass base_margin for "
                "another start"
            )
        default_metric = self.eval_metric is None
        if default_metric:
            self.eval_metric = _SklearnMetric(plan.loss)
            self.__dict__["_losslab_default_metric"] = True
        try:
            self._run_fit(plan, fit)
        finally:
            if default_metric:
                self.eval_metric = None
                self.__dict__.pop("_losslab_default_metric", None)

    def _after_fit(self, plan: FitPlan) -> None:
        booster = cast(Any, self).get_booster()
        booster.set_attr(**plan.attributes())
        if plan.route is None and plan.loss.link.name == "log":
            # Trained as reg:squarederror (identity, base_score = init); saved as count:poisson,
            # whose exp transform is the log link's inverse: base_score is then exp(init).
            booster.set_param({"objective": "count:poisson", "base_score": math.exp(plan.init)})

    def load_model(self, fname: Any) -> None:
        """Load a model saved by a losslab estimator (``save_model``, or the booster's own
        ``save_model``): the trees, ``base_score`` and the loss, its Hessian policy, init
        score and classes from the model's attributes.

        Raises
        ------
        ValueError
            The model has no ``losslab_loss`` attribute.
        """
        super().load_model(fname)  # type: ignore[misc]
        plan = plan_from_attributes(cast(Any, self).get_booster().attributes())
        self.objective = None  # XGBoost's load sets objective / base_score from the model
        self.base_score = None
        self.loss = plan.loss
        self.hessian = plan.policy
        self._set_classes(plan.classes)
        self._record(plan)

    def _set_classes(self, classes: np.ndarray[Any, Any] | None) -> None:
        """Where the estimator keeps its class labels (the classifier overrides)."""

    def _decision(self, X: Any, base_margin: Any, **kwargs: Any) -> Any:
        not_fitted(self)
        kwargs.pop("output_margin", None)
        return xgboost.XGBModel.predict(
            self,
            X,
            output_margin=True,
            base_margin=base_margin,
            **kwargs,
        )


class XGBClassifier(_XGBLossMixin, xgboost.XGBClassifier):
    """``xgboost.XGBClassifier`` trained on a losslab loss, with the init score and link right.

    Parameters
    ----------
    loss : Loss, str or None, default None
        A binary loss on the logit (``log_loss``, ``focal``, ``focal_star``) for two classes,
        or a softmax loss (``softmax_cross_entropy``, ``softmax_focal``) for three or more.
        None: ``log_loss`` for two classes, ``softmax_cross_entropy`` for more. Its
        hyperparameters are the nested parameters ``loss__<name>`` (``set_params``, grid
        searches).
    hessian : str, HessianPolicy or None, default None
        Hessian policy (None: the loss's default; ``losslab._boosting``).
    **kwargs
        Every ``xgboost.XGBClassifier`` parameter except ``objective`` and ``base_score``.
        For focal losses (gamma > 0) ``min_child_weight`` and ``max_delta_step`` default to
        :data:`FOCAL_DEFAULTS` (1e-3 and 2) instead of XGBoost's 1 and 0. ``eval_metric``
        defaults to the loss itself (:func:`sklearn_metric`), so early stopping follows it.

    Fitted attributes (besides XGBoost's): ``loss_``, ``hessian_policy_``, ``init_score_``
    (the init score in margins, () or (K,), stored in the model as ``base_score``),
    ``builtin_objective_`` (None), ``classes_`` (the original labels).

    ``fit(X, y, sample_weight=None, base_margin=None, ...)``: labels are encoded to 0..K-1
    (``eval_set`` labels too; one never seen in training is refused); a given
    ``base_margin`` (e.g. another model's margins for a warm start) replaces the init score
    and must be passed again at prediction. ``decision_function`` returns margins,
    ``predict_proba`` the inverse link (sigmoid as two columns, or softmax), ``predict`` the
    most probable class. ``save_model`` writes XGBoost's JSON / UBJ with objective
    ``binary:logistic`` / ``multi:softprob``, so ``xgboost.XGBClassifier().load_model`` and
    ``xgboost.Booster(model_file=...)`` predict the same probabilities and margins;
    :meth:`load_model` restores the loss too.

    Raises
    ------
    ValueError
        ``objective`` or ``base_score`` set, a regression loss, a binary loss with other than
        2 classes or a softmax loss with fewer than 3, NaN labels, no rows.
    """

    @property
    def classes_(self) -> np.ndarray[Any, Any]:
        """The class labels seen in fit (original values, sorted)."""
        classes = self.__dict__.get("_losslab_classes")
        return np.arange(self.n_classes_) if classes is None else np.asarray(classes)

    def _set_classes(self, classes: np.ndarray[Any, Any] | None) -> None:
        self.__dict__["_losslab_classes"] = classes

    def decision_function(self, X: Any, base_margin: Any = None, **kwargs: Any) -> Any:
        """Margins: trees + ``base_score`` (or + ``base_margin``); (n,) or (n, K)."""
        return self._decision(X, base_margin, **kwargs)

    def predict_proba(self, X: Any, base_margin: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """Class probabilities (n, K) = inverse link of :meth:`decision_function`."""
        margin = np.asarray(self.decision_function(X, base_margin=base_margin, **kwargs))
        return proba_from_margin(self.loss_, margin)

    def predict(self, X: Any, base_margin: Any = None, **kwargs: Any) -> Any:
        """The most probable class label."""
        proba = self.predict_proba(X, base_margin=base_margin, **kwargs)
        return self.classes_[np.argmax(proba, axis=1)]


class XGBRegressor(_XGBLossMixin, xgboost.XGBRegressor):
    """``xgboost.XGBRegressor`` trained on a losslab regression loss, from its init score.

    Parameters
    ----------
    loss : Loss, str or None, default None
        A regression loss: on the identity link ``half_squared_error`` (None),
        ``squared_error``, ``absolute_error``, ``huber``, ``pseudo_huber``, ``log_cosh``,
        ``pinball``; on the log link ``half_poisson``, ``half_gamma``, ``half_tweedie``.
    hessian : str, HessianPolicy or None, default None
        Hessian policy. None: the loss's default (``floor`` at 1 for Huber, ``constant`` for
        pseudo-Huber and log-cosh, ``exact`` otherwise), and for absolute error and pinball
        XGBoost's own ``reg:absoluteerror`` / ``reg:quantileerror`` (the same loss, with the
        leaf refit a zero Hessian needs; ``builtin_objective_`` says which). A policy named
        for them is used as asked, with a warning that it trains slowly.
    **kwargs
        Every ``xgboost.XGBRegressor`` parameter except ``objective`` and ``base_score``.
        For half Poisson (and Tweedie with power below 1.017) ``max_delta_step`` defaults to
        0.7, as for ``count:poisson`` (the exact Newton step diverges without it).

    ``predict`` returns trees + init score (the weighted mean, median, quantile, ... of y,
    stored in the model as ``base_score``). ``save_model`` / :meth:`load_model` as for
    :class:`XGBClassifier`.

    Raises
    ------
    ValueError
        ``objective`` or ``base_score`` set, a classification loss, NaN targets, no rows.
    """

    def predict(self, X: Any, base_margin: Any = None, **kwargs: Any) -> Any:
        """Predictions: the loss's inverse link of trees + init score (or + ``base_margin``):
        the margins themselves for the identity link, ``exp`` of them for the log link."""
        margin = self._decision(X, base_margin, **kwargs)
        return margin if self.loss_.link.name == "identity" else self.loss_.link.inverse(margin)
