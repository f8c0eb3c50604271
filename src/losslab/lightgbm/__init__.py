"""LightGBM with any losslab loss: objectives, metrics and estimators with the plumbing right.

Importing this module imports :mod:`lightgbm` (``import losslab`` does not); the Dask
estimators live in :mod:`losslab.lightgbm.dask` (``DaskLGBMClassifier``,
``DaskLGBMRegressor``), as LightGBM's own live in :mod:`lightgbm.dask`.

Native API (LightGBM >= 4 takes the objective as a parameter)::

    import losslab, losslab.lightgbm as ll, lightgbm
    focal = losslab.get_loss("focal", gamma=2.0)
    init = ll.init_score(focal, y, sample_weight=w)
    dtrain = lightgbm.Dataset(X, label=y, weight=w, init_score=init)
    booster = lightgbm.train({"objective": ll.objective(focal), "metric": "None",
                              **ll.FOCAL_DEFAULTS}, dtrain, 100,
                             valid_sets=[dtrain], feval=ll.metric(focal))
    margin = booster.predict(X2, raw_score=True) + init[0]   # LightGBM never adds it back

scikit-learn API: :class:`LGBMClassifier` and :class:`LGBMRegressor` subclass LightGBM's own
estimators and take ``loss`` and ``hessian`` on top of every LightGBM parameter.

What LightGBM does with a callable objective, and what losslab does instead:

* weights: LightGBM hands them to a three-argument objective but does not apply them;
  losslab multiplies the gradient and Hessian by them;
* start: a custom objective starts at 0 and ``boost_from_average`` is ignored; losslab passes
  ``fit_intercept_only`` as ``init_score``;
* prediction: LightGBM never adds ``init_score`` back (its saved model forgets it) and its
  ``predict_proba`` returns raw scores with a callable objective; losslab's estimators fold
  the init score into the leaves of the first iteration's trees (``Booster.set_leaf_output``)
  and write the built-in objective with the loss's link into the model (``binary
  sigmoid:1``, ``multiclass``, ``regression``), so the booster alone, saved and loaded by
  LightGBM, predicts the same raw scores and probabilities; the loss is recorded in the
  model's parameters (``[losslab_loss: ...]``) and :meth:`LGBMClassifier.load_model` reads it;
* zero Hessians: absolute error and pinball train with LightGBM's own ``l1`` / ``quantile``
  objectives, which refit the leaves (the same loss; ``builtin_objective_``);
* metrics: built-in metrics that read scores as probabilities are refused (a custom
  objective's scores are margins); the loss itself is the default ``eval_metric``, so early
  stopping works with the defaults;
* Hessians: LightGBM has no guard against negative or zero Hessians; losslab hands over a
  named positive policy, and focal losses get ``min_child_weight`` / ``max_delta_step``
  defaults that train (:data:`FOCAL_DEFAULTS`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, cast

import lightgbm
import numpy as np

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
    n_rows,
    not_fitted,
    plan_from_attributes,
    proba_from_margin,
    step_cap,
)
from losslab.losses import Loss

__all__ = [
    "FOCAL_DEFAULTS",
    "LGBMClassifier",
    "LGBMMetric",
    "LGBMObjective",
    "LGBMRegressor",
    "init_score",
    "metric",
    "objective",
    "sklearn_metric",
    "sklearn_objective",
]

FOCAL_DEFAULTS: dict[str, float] = {"min_child_weight": 1e-5, "max_delta_step": 2.0}
"""LightGBM parameters the estimators use for focal losses (gamma > 0) unless set.

``min_child_weight`` (``min_sum_hessian_in_leaf``) 1e-5 instead of 1e-3: focal Hessians of
well-classified examples carry ``(1 - p_t)^(gamma + 1)`` and are tiny, so 1e-3 stops trees
early on imbalanced data (0 is not an option: LightGBM then divides by a zero Hessian sum).
``max_delta_step=2`` caps each leaf's output at ``learning_rate * 2`` logits.
"""

_HAS_EVAL_XY = "eval_X" in inspect.signature(lightgbm.LGBMModel.fit).parameters
_METRIC_ALIASES = ("metric", "metrics", "metric_types")
_LGBM_DEFAULT_MIN_CHILD_WEIGHT = 1e-3
_PROBABILITY_METRICS = frozenset(
    {
        "binary_logloss", "binary", "binary_error", "logloss", "error", "multi_logloss",
        "multiclass", "softmax", "multiclassova", "multiclass_ova", "ova", "ovr",
        "multi_error", "cross_entropy", "xentropy", "cross_entropy_lambda", "xentlambda",
        "kullback_leibler", "kldiv",
    }
)  # fmt: skip
"""LightGBM metrics that read scores as probabilities; a custom objective's scores are raw
margins (LightGBM cannot apply a link it does not know), so these are refused."""
_BUILTIN = {"absolute": "l1", "quantile": "quantile"}


def _labels(dataset: Any) -> np.ndarray[Any, Any]:
    return np.asarray(dataset.get_label())


class LGBMObjective(NativeObjective):
    """Native objective ``fobj(preds, train_data) -> (grad, hess)``: ``params["objective"]``.

    ``preds`` are raw scores (the init score included), (n,) or (n, K) for softmax losses
    (set ``num_class``); returns arrays of the same shape, weights from
    ``train_data.get_weight()`` applied. ``n_calls`` counts the calls.
    """


class LGBMMetric:
    """Native metric ``feval(preds, eval_data) -> (name, value, is_higher_better=False)``.

    The weighted mean loss on raw scores; name ``losslab_<loss name>``.
    """

    def __init__(self, loss: Loss | str) -> None:
        self.adapter = LossAdapter(loss, "constant")

    def __call__(self, preds: Any, eval_data: Any) -> tuple[str, float, bool]:
        """``(name, weighted mean loss, False)``."""
        value = self.adapter.metric(_labels(eval_data), preds, eval_data.get_weight())
        return self.adapter.metric_name, value, False


class _SklearnMetric:
    """``eval_metric`` for the scikit-learn API: ``f(y_true, y_pred, weight)``."""

    def __init__(self, loss: Loss | str) -> None:
        self.adapter = LossAdapter(loss, "constant")

    def __call__(self, y_true: Any, y_pred: Any, weight: Any) -> tuple[str, float, bool]:
        return self.adapter.metric_name, self.adapter.metric(y_true, y_pred, weight), False


def objective(loss: Loss | str, hessian: HessianPolicy | str | None = None) -> LGBMObjective:
    """The native objective for ``params["objective"]``; see :class:`LGBMObjective`.

    Raises
    ------
    ValueError
        Unknown loss name or a Hessian policy unusable with the loss.
    """
    return LGBMObjective(loss, hessian)


def sklearn_objective(
    loss: Loss | str, hessian: HessianPolicy | str | None = None
) -> BoostingObjective:
    """A callable for ``lightgbm.LGBMRegressor(objective=...)``: ``f(y, raw, weight)``.

    Prefer :class:`LGBMRegressor` / :class:`LGBMClassifier`: with LightGBM's own estimators
    you must pass ``init_score`` and add it back to ``predict(raw_score=True)`` yourself.
    """
    return BoostingObjective(loss, hessian)


def metric(loss: Loss | str) -> LGBMMetric:
    """The native metric for ``lightgbm.train(feval=...)``; see :class:`LGBMMetric`."""
    return LGBMMetric(loss)


def sklearn_metric(loss: Loss | str) -> Any:
    """A callable for ``eval_metric=`` of the scikit-learn estimators."""
    return _SklearnMetric(loss)


def init_score(
    loss: Loss | str, y: Any, *, sample_weight: Any = None, n: int | None = None
) -> np.ndarray[Any, Any]:
    """``init_score`` for a Dataset: ``fit_intercept_only(y, sample_weight)`` repeated.

    (n,) for element-wise losses, (n, K) for softmax losses; ``n = len(y)`` unless given.
    """
    adapter = LossAdapter(loss, "constant")
    init = adapter.init_score(y, sample_weight)
    return adapter.init_margin(init, len(np.asarray(y)) if n is None else n)


# ---------------------------------------------------------------------- the saved model
_ATTRIBUTE = re.compile(r"^\[(losslab_\w+): (.*)\]$", re.MULTILINE)


_LINK_OBJECTIVES = {
    "logit": "binary sigmoid:1",
    "half_logit": "binary sigmoid:2",
    "softmax": "multiclass num_class:{k}",
    "identity": "regression",
    "log": "poisson",
}
"""LightGBM's built-in objectives by the inverse link they apply to raw scores at predict."""


def _link_objective(plan: FitPlan, n_classes: int) -> str | None:
    """The built-in objective whose output transform is the loss's inverse link (None: no
    built-in objective has it; LightGBM then returns raw scores)."""
    objective = _LINK_OBJECTIVES.get(plan.loss.link.name)
    return None if objective is None else objective.format(k=n_classes)


def fold_init_score(booster: lightgbm.Booster, init: np.ndarray[Any, Any]) -> None:
    """Add the init score to every leaf of the first iteration's trees (one per class), so
    that the booster's raw score is trees + init score without ``init_score`` at predict."""
    values = np.atleast_1d(np.asarray(init, dtype=np.float64))
    trees = booster.dump_model(num_iteration=1)["tree_info"]
    for tree, value in zip(trees, values, strict=True):
        index = int(tree["tree_index"])
        for leaf in range(int(tree["num_leaves"])):
            booster.set_leaf_output(index, leaf, booster.get_leaf_output(index, leaf) + value)


def with_plan(booster: lightgbm.Booster, plan: FitPlan, n_classes: int) -> lightgbm.Booster:
    """A booster whose model text carries the plan: the init score folded into the leaves
    (:func:`fold_init_score`), the objective of the loss's link in the header (so LightGBM's
    ``predict`` applies it), and the loss as ``[losslab_*: ...]`` lines among the parameters."""
    if not plan.start_given:
        fold_init_score(booster, plan.init)
    text = booster.model_to_string()
    head, sep, rest = text.partition("\n\n")
    objective = _link_objective(plan, n_classes)
    if objective and plan.route is None and not re.search(r"^objective=", head, re.MULTILINE):
        head = re.sub(
            r"^(max_feature_idx=.*)$",
            lambda m: f"{m.group(1)}\nobjective={objective}",
            head,
            count=1,
            flags=re.MULTILINE,
        )
    lines = "".join(f"[{k}: {v}]\n" for k, v in plan.attributes().items())
    rest = rest.replace("end of parameters", lines + "end of parameters", 1)
    return lightgbm.Booster(model_str=head + sep + rest)


def model_attributes(booster: lightgbm.Booster) -> dict[str, str | None]:
    """The ``[losslab_*: ...]`` attributes of a booster's model text."""
    return dict(_ATTRIBUTE.findall(booster.model_to_string()))


# ---------------------------------------------------------------------- estimators
def _as_spmatrix(X: Any) -> Any:
    """scipy sparse input other than CSR / CSC matrices (sparse arrays, DOK, LIL, COO, ...)
    as a CSR matrix: LightGBM predicts on CSR / CSC matrices only."""
    if hasattr(X, "tocsr") and type(X).__name__ not in ("csr_matrix", "csc_matrix"):
        import scipy.sparse

        return scipy.sparse.csr_matrix(X)
    return X


def _check_metrics(metrics: Any) -> None:
    """Raise ValueError for a built-in metric that reads scores as probabilities."""
    names = metrics if isinstance(metrics, list | tuple) else [metrics]
    for name in names:
        if isinstance(name, str) and name.strip().lower() in _PROBABILITY_METRICS:
            raise ValueError(
                f"metric {name!r} reads LightGBM's scores as probabilities, but with a losslab "
                "loss the scores are raw margins (LightGBM cannot apply the loss's link "
                "during training); leave eval_metric unset to log the loss itself, pass "
                "losslab.lightgbm.sklearn_metric(...), or use a rank metric such as 'auc'"
            )


class _LGBMLossMixin(SklearnLossMixin):
    """The LightGBM side of the fit plan: parameters, init scores, the saved model, load."""

    _REGRESSOR = "LGBMRegressor"
    _CLASSIFIER = "LGBMClassifier"
    _OBJECTIVE_ATTRS = ("objective", "_objective")
    _Booster: Any

    def __init__(
        self,
        *,
        loss: Loss | str | None = None,
        hessian: HessianPolicy | str | None = None,
        objective: Any = None,
        min_child_weight: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            loss=loss,
            hessian=hessian,
            objective=objective,
            min_child_weight=cast(Any, min_child_weight),
            **kwargs,
        )

    def _get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters, ``loss`` and ``hessian`` (and ``loss__<name>``) included; while
        LightGBM itself reads them (``_process_params``, and ``lightgbm.dask`` building the
        workers' estimators), LightGBM's parameters only, with losslab's defaults filled in:

        * ``min_child_weight`` / ``max_delta_step`` left at None: :data:`FOCAL_DEFAULTS` for
          focal losses, ``max_delta_step`` :func:`losslab._boosting.step_cap` (0.7) for half
          Poisson, LightGBM's 1e-3 / 0 otherwise;
        * ``feature_pre_filter=False`` unless set: with a callable objective LightGBM aborts
          ("num_features() > 0") when the pre-filter drops every feature;
        * ``metric="None"`` unless set (the loss is the default ``eval_metric``);
        * during a fit routed to a built-in quantile objective, ``alpha`` = the quantile.

        The estimators bind it as ``get_params``: LightGBM's ``get_params`` calls the one of
        the first base class that has one, which must be LightGBM's own.
        """
        params: dict[str, Any] = super().get_params(deep=deep)  # type: ignore[misc]
        if not self.__dict__.get("_losslab_hide_params"):
            return params
        plan: FitPlan | None = self.__dict__.get("_losslab_plan")
        loss = self._losslab_loss() if plan is None else plan.loss
        focal, cap = is_focal_like(loss), step_cap(loss)
        for key in [k for k in params if is_own_param(k)]:
            del params[key]
        for key in ("min_child_weight", "max_delta_step"):
            if params.get(key) is None:
                params.pop(key, None)
                if focal:
                    params[key] = FOCAL_DEFAULTS[key]
                elif key == "min_child_weight":
                    params[key] = _LGBM_DEFAULT_MIN_CHILD_WEIGHT
                elif cap is not None:  # XGBoost count:poisson's leaf cap (Poisson's Newton step)
                    params[key] = cap
        params.setdefault("feature_pre_filter", False)
        if not any(a in params for a in _METRIC_ALIASES):
            params["metric"] = "None"
        if plan is not None and plan.route is not None and plan.route[1] is not None:
            params["alpha"] = plan.route[1]
        return params

    def _process_params(self, stage: str) -> dict[str, Any]:
        # "loss" is a LightGBM alias of "objective": while LightGBM processes the parameters,
        # get_params() hides losslab's own and fills in losslab's defaults.
        self.__dict__["_losslab_hide_params"] = True
        try:
            params: dict[str, Any] = super()._process_params(stage)  # type: ignore[misc]
        finally:
            self.__dict__.pop("_losslab_hide_params", None)
        return params

    def _host_objective(self, plan: FitPlan) -> Any:
        return plan.objective if plan.route is None else _BUILTIN[plan.route[0]]

    def _n_outputs(self, plan: FitPlan) -> int:
        return 1 if plan.classes is None else len(plan.classes)

    def _after_fit(self, plan: FitPlan) -> None:
        self._Booster = with_plan(self._Booster, plan, self._n_outputs(plan))

    def fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        init_score: Any = None,
        eval_set: Any = None,
        eval_init_score: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Fit on ``loss`` (the estimators' docstrings); other keywords go to LightGBM's
        ``fit``. A given ``init_score`` replaces the init score. Returns self."""
        plan = self._plan_fit(
            X,
            y,
            sample_weight,
            start_given=init_score is not None,
            continued=kwargs.get("init_model") is not None,
        )
        labels = y if plan.classes is not None else plan.y  # LightGBM encodes class labels
        parent = super().fit  # type: ignore[misc]
        self._fit_lgbm(
            plan,
            lambda X_, **kw: parent(X_, labels, sample_weight=sample_weight, **kw),
            _as_spmatrix(X),
            init_score=init_score,
            eval_set=eval_set,
            eval_init_score=eval_init_score,
            kwargs=kwargs,
        )
        return self

    def _fit_lgbm(
        self,
        plan: FitPlan,
        fit: Callable[..., Any],
        X: Any,
        *,
        init_score: Any,
        eval_set: Any,
        eval_init_score: Any,
        kwargs: dict[str, Any],
    ) -> None:
        """:meth:`_run_fit` with the init score as ``init_score`` for the training and
        evaluation sets, and the loss itself as the default ``eval_metric``."""
        _check_metrics(kwargs.get("eval_metric"))
        for alias in _METRIC_ALIASES:
            _check_metrics(cast(Any, self).get_params(deep=False).get(alias))
        if kwargs.get("eval_metric") is None:
            kwargs["eval_metric"] = _SklearnMetric(plan.loss)
        if init_score is None and not plan.continued:  # a previous model gives LightGBM its own
            init_score = plan.margins(n_rows(X))
        if eval_set is not None:
            sets = [eval_set] if isinstance(eval_set, tuple) else list(eval_set)
            if plan.classes is not None:
                sets = [(Xe, encode_labels(plan.classes, ye, "eval_set")) for Xe, ye in sets]
            if _HAS_EVAL_XY:  # LightGBM >= 4.7 deprecates eval_set
                kwargs["eval_X"] = tuple(Xe for Xe, _ in sets)
                kwargs["eval_y"] = tuple(ye for _, ye in sets)
            else:
                kwargs["eval_set"] = sets
        eval_X = kwargs.get("eval_X")
        if eval_init_score is None and not plan.continued:
            if eval_X is not None:
                eval_X = eval_X if isinstance(eval_X, tuple | list) else (eval_X,)
                eval_init_score = [plan.margins(n_rows(Xe)) for Xe in eval_X]
            elif eval_set is not None:
                eval_init_score = [plan.margins(n_rows(Xe)) for Xe, _ in sets]
        self._run_fit(
            plan,
            lambda: fit(X, init_score=init_score, eval_init_score=eval_init_score, **kwargs),
        )

    def save_model(self, fname: Any) -> None:
        """Save the booster in LightGBM's text format (``booster_.save_model`` does the same):
        ``lightgbm.Booster(model_file=fname)`` alone predicts what this estimator predicts."""
        not_fitted(self)
        self._Booster.save_model(fname)

    def load_model(self, fname: Any) -> Any:
        """Load a model saved from a losslab estimator: the booster and the loss, Hessian
        policy, init score and classes from its ``[losslab_*]`` lines. Returns self.

        Raises
        ------
        ValueError
            The model has no ``losslab_loss`` line (it was not fitted by losslab).
        """
        booster = lightgbm.Booster(model_file=fname)
        plan = plan_from_attributes(model_attributes(booster))
        host = cast(Any, self)  # LightGBM's fitted state, as its own fit sets it
        host._Booster = booster
        host.fitted_ = True
        host._n_features = host._n_features_in = booster.num_feature()
        host._best_iteration = booster.best_iteration
        host._best_score = {}
        host._evals_result = {}
        host._objective = self._host_objective(plan)
        if plan.classes is not None:
            host._classes = plan.classes
            host._n_classes = len(plan.classes)
        self.loss = plan.loss
        self.hessian = plan.policy
        self._record(plan)
        return self

    def _raw(self, X: Any, init_score: Any, **kwargs: Any) -> Any:
        """Raw scores (the init score is in the trees), plus a given ``init_score``."""
        not_fitted(self)
        kwargs.pop("raw_score", None)
        X = _as_spmatrix(X)
        raw = np.asarray(
            lightgbm.LGBMModel.predict(self, X, raw_score=True, **kwargs),  # type: ignore[arg-type]
            dtype=np.float64,
        )
        return raw if init_score is None else raw + np.asarray(init_score, dtype=np.float64)


class LGBMClassifier(_LGBMLossMixin, lightgbm.LGBMClassifier):  # type: ignore[misc]
    """``lightgbm.LGBMClassifier`` trained on a losslab loss, with init score and link right.

    Parameters
    ----------
    loss : Loss, str or None, default None
        A binary loss on the logit (``log_loss``, ``focal``, ``focal_star``) for two classes,
        or a softmax loss (``softmax_cross_entropy``, ``softmax_focal``) for three or more.
        None: ``log_loss`` for two classes, ``softmax_cross_entropy`` for more. Its
        hyperparameters are the nested parameters ``loss__<name>``.
    hessian : str, HessianPolicy or None, default None
        Hessian policy (None: the loss's default, ``losslab._boosting``).
    min_child_weight : float or None, default None
        LightGBM's ``min_sum_hessian_in_leaf``; None means 1e-5 for focal losses
        (:data:`FOCAL_DEFAULTS`) and LightGBM's 1e-3 otherwise.
    **kwargs
        Every other ``lightgbm.LGBMClassifier`` parameter except ``objective``. For focal
        losses ``max_delta_step`` defaults to 2. The built-in metric is off unless you set
        ``metric`` (metrics that read scores as probabilities are refused); ``eval_metric``
        defaults to the loss itself, so early stopping follows it.

    ``fit(X, y, sample_weight=None, init_score=None, ...)``: the init score defaults to
    ``loss.fit_intercept_only`` (a given one replaces it and must be passed again when
    predicting); ``eval_set`` labels never seen in training are refused.
    ``decision_function`` returns raw scores (trees, the init score folded into the first
    iteration's leaves), ``predict_proba`` their inverse link (rows sum to 1), ``predict``
    the most probable class label. ``booster_.save_model`` / :meth:`save_model` write a model
    that ``lightgbm.Booster(model_file=...)`` alone predicts the same with (``raw_score=True``
    for margins, the default for probabilities); :meth:`load_model` reads it back.
    """

    get_params = _LGBMLossMixin._get_params

    def decision_function(self, X: Any, init_score: Any = None, **kwargs: Any) -> Any:
        """Raw scores (+ ``init_score`` if given): (n,) or (n, K)."""
        return self._raw(X, init_score, **kwargs)

    def predict_proba(self, X: Any, init_score: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """Class probabilities (n, K): inverse link of :meth:`decision_function`."""
        margin = self._raw(X, init_score, **kwargs)
        return proba_from_margin(self.loss_, margin)

    def predict(self, X: Any, init_score: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """The most probable class label."""
        proba = self.predict_proba(X, init_score=init_score, **kwargs)
        return self.classes_[np.argmax(proba, axis=1)]


class LGBMRegressor(_LGBMLossMixin, lightgbm.LGBMRegressor):  # type: ignore[misc]
    """``lightgbm.LGBMRegressor`` trained on a losslab regression loss, from its init score.

    Parameters
    ----------
    loss : Loss, str or None, default None
        A regression loss (identity or log link); None is ``half_squared_error``.
    hessian : str, HessianPolicy or None, default None
        Hessian policy. None: the loss's default (``floor`` at 1 for Huber, ``constant`` for
        pseudo-Huber and log-cosh, ``exact`` otherwise), and for absolute error and pinball
        LightGBM's own ``l1`` / ``quantile`` (the same loss, with the leaf refit a zero
        Hessian needs; ``builtin_objective_``). A policy named for them is used as asked,
        with a warning that it trains slowly.
    min_child_weight : float or None, default None
        None means LightGBM's 1e-3.
    **kwargs
        Every other ``lightgbm.LGBMRegressor`` parameter except ``objective``. For half
        Poisson (and Tweedie with power below 1.017) ``max_delta_step`` defaults to 0.7, the
        leaf cap of XGBoost's ``count:poisson`` (the exact Newton step diverges without it).

    ``predict`` returns raw scores, the init score folded into the first trees (identity
    link); saving and loading as for :class:`LGBMClassifier`.
    """

    get_params = _LGBMLossMixin._get_params

    def predict(self, X: Any, init_score: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """Predictions: the loss's inverse link of the raw scores (+ ``init_score`` if
        given): the scores themselves for the identity link, ``exp`` of them for the log link."""
        raw = self._raw(X, init_score, **kwargs)
        return np.asarray(self.loss_.link.inverse(raw))
