"""LightGBM with any losslab loss: objectives, metrics and estimators with the plumbing right.

Importing this module imports :mod:`lightgbm` (``import losslab`` does not); the Dask
estimators (:class:`DaskLGBMClassifier`, :class:`DaskLGBMRegressor`) import
:mod:`lightgbm.dask` on first access.

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
* prediction: LightGBM never adds ``init_score`` back and its ``predict_proba`` returns raw
  scores with a callable objective; losslab adds the init score and applies the inverse link;
* Hessians: LightGBM has no guard against negative or zero Hessians; losslab hands over a
  named positive policy, and focal losses get ``min_child_weight`` / ``max_delta_step``
  defaults that train (:data:`FOCAL_DEFAULTS`).
"""

from __future__ import annotations

import inspect
from typing import Any, cast

import lightgbm
import numpy as np

from losslab._boosting import (
    BoostingObjective,
    HessianPolicy,
    LossAdapter,
    SklearnLossMixin,
    check_classifier_loss,
    check_y,
    is_focal_like,
    n_rows,
    not_fitted,
    proba_from_margin,
    resolve_policy,
)
from losslab.losses import Loss

__all__ = [
    "FOCAL_DEFAULTS",
    "DaskLGBMClassifier",
    "DaskLGBMRegressor",
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

# Built on first access by __getattr__ (they import lightgbm.dask and distributed).
DaskLGBMClassifier: Any
DaskLGBMRegressor: Any

FOCAL_DEFAULTS: dict[str, float] = {"min_child_weight": 1e-5, "max_delta_step": 2.0}
"""LightGBM parameters the estimators use for focal losses (gamma > 0) unless set.

``min_child_weight`` (``min_sum_hessian_in_leaf``) 1e-5 instead of 1e-3: focal Hessians of
well-classified examples carry ``(1 - p_t)^(gamma + 1)`` and are tiny, so 1e-3 stops trees
early on imbalanced data (0 is not an option: LightGBM then divides by a zero Hessian sum).
``max_delta_step=2`` caps each leaf's output at ``learning_rate * 2`` logits.
"""

_OWN_PARAMS = ("loss", "hessian")
_HAS_EVAL_XY = "eval_X" in inspect.signature(lightgbm.LGBMModel.fit).parameters
_METRIC_ALIASES = ("metric", "metrics", "metric_types")


def _visible_params(est: Any, params: dict[str, Any]) -> dict[str, Any]:
    """What ``get_params`` returns: everything, or, while LightGBM itself reads the
    parameters (``_process_params``, and ``lightgbm.dask`` building the workers' estimators),
    LightGBM's parameters only, with losslab's defaults filled in:

    * ``min_child_weight`` / ``max_delta_step`` left at None: :data:`FOCAL_DEFAULTS` for focal
      losses, LightGBM's 1e-3 / 0 otherwise;
    * ``feature_pre_filter=False`` unless set: with a callable objective LightGBM aborts
      ("num_features() > 0") when the pre-filter drops every feature, which the built-in
      objectives survive;
    * ``metric="None"`` unless set: LightGBM's built-in metrics would read the raw scores of a
      custom objective as probabilities (use ``eval_metric=sklearn_metric(loss)``).
    """
    if not est.__dict__.get("_losslab_hide_params"):
        return params
    focal = is_focal_like(est._losslab_loss())
    for key in _OWN_PARAMS:
        params.pop(key, None)
    for key in ("min_child_weight", "max_delta_step"):
        if params.get(key) is None:
            params.pop(key, None)
            if focal:
                params[key] = FOCAL_DEFAULTS[key]
            elif key == "min_child_weight":
                params[key] = _LGBM_DEFAULT_MIN_CHILD_WEIGHT
    params.setdefault("feature_pre_filter", False)
    if not any(a in params for a in _METRIC_ALIASES):
        params["metric"] = "None"
    return params


_LGBM_DEFAULT_MIN_CHILD_WEIGHT = 1e-3


def _labels(dataset: Any) -> np.ndarray[Any, Any]:
    return np.asarray(dataset.get_label())


class LGBMObjective:
    """Native objective ``fobj(preds, train_data) -> (grad, hess)``: ``params["objective"]``.

    ``preds`` are raw scores (the init score included), (n,) or (n, K) for softmax losses
    (set ``num_class``); returns arrays of the same shape, weights from
    ``train_data.get_weight()`` applied. ``n_calls`` counts the calls.
    """

    def __init__(self, loss: Loss | str, hessian: HessianPolicy | str | None = None) -> None:
        self.adapter = LossAdapter(loss, hessian)
        self.n_calls = 0

    def __repr__(self) -> str:
        return f"LGBMObjective({self.adapter.loss!r}, hessian={self.adapter.policy.name!r})"

    def __call__(
        self, preds: Any, train_data: Any
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Gradient and Hessian of the loss at raw scores ``preds`` (weights applied)."""
        self.n_calls += 1
        return self.adapter.gradient_hessian(_labels(train_data), preds, train_data.get_weight())


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


# ---------------------------------------------------------------------- estimators
def _as_spmatrix(X: Any) -> Any:
    """scipy sparse input other than CSR / CSC matrices (sparse arrays, DOK, LIL, COO, ...)
    as a CSR matrix: LightGBM predicts on CSR / CSC matrices only."""
    if hasattr(X, "tocsr") and type(X).__name__ not in ("csr_matrix", "csc_matrix"):
        import scipy.sparse

        return scipy.sparse.csr_matrix(X)
    return X


class _LossMixin(SklearnLossMixin):
    """Shared by the estimators: loss parameters, focal defaults, init score."""

    loss: Any
    hessian: Any
    objective: Any
    _objective: Any
    init_score_: np.ndarray[Any, Any]
    loss_: Loss

    def _process_params(self, stage: str) -> dict[str, Any]:
        # "loss" is a LightGBM alias of "objective": while LightGBM processes the parameters,
        # get_params() hides losslab's own and fills in losslab's defaults (_visible_params).
        self.__dict__["_losslab_hide_params"] = True
        try:
            params: dict[str, Any] = super()._process_params(stage)  # type: ignore[misc]
        finally:
            self.__dict__.pop("_losslab_hide_params", None)
        return params

    def _init_for(self, X: Any, init_score: Any) -> Any:
        not_fitted(self)
        if init_score is not None:
            return np.asarray(init_score, dtype=np.float64)
        return LossAdapter(self.loss_, "constant").init_margin(self.init_score_, n_rows(X))

    def _fit_common(
        self,
        X: Any,
        y_for_init: Any,
        fit: Any,
        *,
        sample_weight: Any,
        init_score: Any,
        eval_set: Any,
        eval_init_score: Any,
        n_classes: int | None,
        kwargs: dict[str, Any],
    ) -> None:
        self._check_objective()
        X = _as_spmatrix(X)
        loss = self._losslab_loss(n_classes)
        policy = resolve_policy(loss, self.hessian)
        adapter = LossAdapter(loss, policy)
        if init_score is None:
            init = adapter.init_score(y_for_init, sample_weight)
            init_score = adapter.init_margin(init, n_rows(X))
        else:
            init = np.zeros(n_classes if loss.is_multiclass and n_classes else ())
        if eval_set is not None:
            sets = [eval_set] if isinstance(eval_set, tuple) else list(eval_set)
            if _HAS_EVAL_XY:  # LightGBM >= 4.7 deprecates eval_set
                kwargs["eval_X"] = tuple(Xe for Xe, _ in sets)
                kwargs["eval_y"] = tuple(ye for _, ye in sets)
            else:
                kwargs["eval_set"] = sets
        eval_X = kwargs.get("eval_X")
        if eval_X is not None and eval_init_score is None:
            eval_X = eval_X if isinstance(eval_X, tuple | list) else (eval_X,)
            eval_init_score = [adapter.init_margin(init, n_rows(Xe)) for Xe in eval_X]
        elif eval_set is not None and eval_init_score is None:
            eval_init_score = [adapter.init_margin(init, n_rows(Xe)) for Xe, _ in sets]
        obj = BoostingObjective(loss, policy)
        # LightGBM reads the callable from ``objective`` and, in the classifier, from
        # ``_objective``; both are set for the fit and ``objective`` is restored after.
        self.objective = obj
        self._objective = obj
        try:
            fit(
                X,
                sample_weight=sample_weight,
                init_score=init_score,
                eval_init_score=eval_init_score,
                **kwargs,
            )
        finally:
            self.objective = None
        self.loss_ = loss
        self.hessian_policy_ = policy
        self.init_score_ = init


class LGBMClassifier(_LossMixin, lightgbm.LGBMClassifier):
    """``lightgbm.LGBMClassifier`` trained on a losslab loss, with init score and link right.

    Parameters
    ----------
    loss : Loss, str or None, default None
        A binary loss on the logit (``log_loss``, ``focal``, ``focal_star``) for two classes,
        or a softmax loss (``softmax_cross_entropy``, ``softmax_focal``) for three or more.
        None: ``log_loss`` for two classes, ``softmax_cross_entropy`` for more.
    hessian : str, HessianPolicy or None, default None
        Hessian policy (None: the loss's default, ``losslab._boosting``).
    min_child_weight : float or None, default None
        LightGBM's ``min_sum_hessian_in_leaf``; None means 1e-5 for focal losses
        (:data:`FOCAL_DEFAULTS`) and LightGBM's 1e-3 otherwise.
    **kwargs
        Every other ``lightgbm.LGBMClassifier`` parameter except ``objective``. For focal
        losses ``max_delta_step`` defaults to 2. The built-in metric is switched off unless
        you set ``metric``; pass ``eval_metric=losslab.lightgbm.sklearn_metric(loss)``.

    ``fit(X, y, sample_weight=None, init_score=None, ...)``: the init score defaults to
    ``loss.fit_intercept_only`` (a given one replaces it and must be passed again when
    predicting). ``decision_function`` returns raw scores + init score, ``predict_proba``
    their inverse link (rows sum to 1), ``predict`` the most probable class label.
    """

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
            objective=objective, min_child_weight=cast(Any, min_child_weight), **kwargs
        )
        self.loss = loss
        self.hessian = hessian

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters, ``loss`` and ``hessian`` included (scikit-learn's contract)."""
        return _visible_params(self, super().get_params(deep=deep))

    def fit(  # type: ignore[override]
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        init_score: Any = None,
        eval_set: Any = None,
        eval_init_score: Any = None,
        **kwargs: Any,
    ) -> LGBMClassifier:
        """Fit on ``loss``; see the class docstring. Other keywords go to LightGBM's ``fit``."""
        y = check_y(y, classifier=True)
        classes, y_enc = np.unique(y, return_inverse=True)
        loss = self._losslab_loss(len(classes))
        check_classifier_loss(loss, len(classes), "LGBMRegressor")
        if eval_set is not None and _HAS_EVAL_XY:
            # eval_X / eval_y are not label-encoded by LightGBM: encode them here.
            sets = [eval_set] if isinstance(eval_set, tuple) else list(eval_set)
            eval_set = [(Xe, np.searchsorted(classes, np.asarray(ye))) for Xe, ye in sets]
        parent = super().fit

        def fit(X_: Any, **kw: Any) -> Any:
            return parent(X_, y, **kw)

        self._fit_common(
            X,
            y_enc,
            fit,
            sample_weight=sample_weight,
            init_score=init_score,
            eval_set=eval_set,
            eval_init_score=eval_init_score,
            n_classes=len(classes),
            kwargs=kwargs,
        )
        return self

    def decision_function(self, X: Any, init_score: Any = None, **kwargs: Any) -> Any:
        """Raw scores + init score (or ``init_score``): (n,) or (n, K)."""
        not_fitted(self)
        kwargs.pop("raw_score", None)
        X = _as_spmatrix(X)
        raw = lightgbm.LGBMModel.predict(self, X, raw_score=True, **kwargs)
        return np.asarray(raw, dtype=np.float64) + self._init_for(X, init_score)

    def predict_proba(self, X: Any, init_score: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """Class probabilities (n, K): inverse link of :meth:`decision_function`."""
        margin = self.decision_function(X, init_score=init_score, **kwargs)
        return proba_from_margin(self.loss_, margin)

    def predict(self, X: Any, init_score: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """The most probable class label."""
        proba = self.predict_proba(X, init_score=init_score, **kwargs)
        return self.classes_[np.argmax(proba, axis=1)]


class LGBMRegressor(_LossMixin, lightgbm.LGBMRegressor):
    """``lightgbm.LGBMRegressor`` trained on a losslab regression loss, from its init score.

    Parameters
    ----------
    loss : Loss or str, default "half_squared_error"
        A regression loss (identity link).
    hessian : str, HessianPolicy or None, default None
        Hessian policy (None: ``constant`` for absolute error and pinball, ``floor`` at 1 for
        Huber, ``exact`` otherwise).
    min_child_weight : float or None, default None
        None means LightGBM's 1e-3.
    **kwargs
        Every other ``lightgbm.LGBMRegressor`` parameter except ``objective``.

    ``predict`` returns raw scores + init score (identity link).
    """

    def __init__(
        self,
        *,
        loss: Loss | str = "half_squared_error",
        hessian: HessianPolicy | str | None = None,
        objective: Any = None,
        min_child_weight: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            objective=objective, min_child_weight=cast(Any, min_child_weight), **kwargs
        )
        self.loss = loss
        self.hessian = hessian

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters, ``loss`` and ``hessian`` included (scikit-learn's contract)."""
        return _visible_params(self, super().get_params(deep=deep))

    def fit(  # type: ignore[override]
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        init_score: Any = None,
        eval_set: Any = None,
        eval_init_score: Any = None,
        **kwargs: Any,
    ) -> LGBMRegressor:
        """Fit on ``loss``; a given ``init_score`` replaces the intercept."""
        y = check_y(y, classifier=False)
        loss = self._losslab_loss()
        if loss.link.name != "identity":
            raise ValueError(f"{loss.name} is a classification loss; use LGBMClassifier")
        parent = super().fit

        def fit(X_: Any, **kw: Any) -> Any:
            return parent(X_, y, **kw)

        self._fit_common(
            X,
            np.asarray(y, dtype=np.float64),
            fit,
            sample_weight=sample_weight,
            init_score=init_score,
            eval_set=eval_set,
            eval_init_score=eval_init_score,
            n_classes=None,
            kwargs=kwargs,
        )
        return self

    def predict(self, X: Any, init_score: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """Predictions: raw scores + init score (identity link)."""
        not_fitted(self)
        kwargs.pop("raw_score", None)
        X = _as_spmatrix(X)
        raw = super().predict(X, raw_score=True, **kwargs)
        return np.asarray(raw, dtype=np.float64) + self._init_for(X, init_score)


# ---------------------------------------------------------------------- Dask (lazy)
_DASK_CLASSES: dict[str, type] = {}


def _dask_init(init: np.ndarray[Any, Any], like: Any) -> Any:
    """A Dask array of the init score with ``like``'s row chunks: (n,) or (n, K)."""
    import dask.array

    da: Any = dask.array  # untyped in places
    arr = like.to_dask_array(lengths=True) if hasattr(like, "to_dask_array") else like
    base = arr if arr.ndim == 1 else arr[:, 0]
    if init.ndim == 0:
        return da.map_blocks(lambda b: np.full(b.shape[0], float(init)), base, dtype=np.float64)
    return da.map_blocks(
        lambda b: np.tile(init, (b.shape[0], 1)),
        base,
        dtype=np.float64,
        new_axis=1,
        chunks=(base.chunks[0], (init.shape[0],)),
    )


def _host(x: Any) -> Any:
    return None if x is None else np.asarray(x.compute() if hasattr(x, "compute") else x)


def _make_dask_classes() -> None:
    import dask.array

    da: Any = dask.array  # untyped in places
    import lightgbm.dask as ld

    class DaskLGBMClassifier(_LossMixin, ld.DaskLGBMClassifier):
        """``lightgbm.dask.DaskLGBMClassifier`` on a losslab loss (see :class:`LGBMClassifier`).

        Labels must be 0..K-1. The init score is computed from the gathered labels (one
        column) and passed as an ``init_score`` Dask array with the labels' chunks;
        ``decision_function`` / ``predict_proba`` / ``predict`` return Dask arrays.
        """

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
                objective=objective, min_child_weight=cast(Any, min_child_weight), **kwargs
            )
            self.loss = loss
            self.hessian = hessian

        def get_params(self, deep: bool = True) -> dict[str, Any]:
            """Parameters, ``loss`` and ``hessian`` included."""
            return _visible_params(self, super().get_params(deep=deep))

        def fit(  # type: ignore[override]
            self,
            X: Any,
            y: Any,
            sample_weight: Any = None,
            init_score: Any = None,
            **kwargs: Any,
        ) -> Any:
            """Fit on ``loss`` through LightGBM's Dask interface."""
            self._check_objective()
            y_np = _host(y)
            classes = np.unique(y_np)
            loss = self._losslab_loss(len(classes))
            policy = resolve_policy(loss, self.hessian)
            check_classifier_loss(loss, len(classes), "LGBMRegressor")
            adapter = LossAdapter(loss, policy)
            if init_score is None:
                init = adapter.init_score(y_np, _host(sample_weight))
                init_score = _dask_init(init, y)
            else:
                init = np.zeros(len(classes) if loss.is_multiclass else ())
            self.objective = self._objective = BoostingObjective(loss, policy)
            # lightgbm.dask builds a plain LightGBM estimator on each worker from get_params();
            # "loss" would be read there as an alias of "objective": hide losslab's params.
            self.__dict__["_losslab_hide_params"] = True
            try:
                super().fit(X, y, sample_weight=sample_weight, init_score=init_score, **kwargs)
            finally:
                self.objective = None
                self.__dict__.pop("_losslab_hide_params", None)
            self.loss_ = loss
            self.hessian_policy_ = policy
            self.init_score_ = init
            return self

        def decision_function(self, X: Any, **kwargs: Any) -> Any:
            """Raw scores + init score (Dask array)."""
            raw = ld.DaskLGBMRegressor.predict(self, X, raw_score=True)
            init = self.init_score_
            return raw + (float(init) if init.ndim == 0 else init[None, :])

        def predict_proba(self, X: Any) -> Any:  # type: ignore[override]
            """Class probabilities (Dask array (n, K))."""
            margin = self.decision_function(X)
            loss = self.loss_
            k = len(self.classes_)
            if margin.ndim == 1:
                margin = margin[:, None]
            return da.map_blocks(
                lambda m: proba_from_margin(loss, m),
                margin,
                dtype=np.float64,
                chunks=(margin.chunks[0], (k,)),
            )

        def predict(self, X: Any) -> Any:  # type: ignore[override]
            """The most probable class label (Dask array)."""
            classes = np.asarray(self.classes_)
            proba = self.predict_proba(X)
            return da.map_blocks(
                lambda p: classes[np.argmax(p, axis=1)], proba, drop_axis=1, dtype=classes.dtype
            )

    class DaskLGBMRegressor(_LossMixin, ld.DaskLGBMRegressor):
        """``lightgbm.dask.DaskLGBMRegressor`` on a losslab loss (see :class:`LGBMRegressor`)."""

        def __init__(
            self,
            *,
            loss: Loss | str = "half_squared_error",
            hessian: HessianPolicy | str | None = None,
            objective: Any = None,
            min_child_weight: float | None = None,
            **kwargs: Any,
        ) -> None:
            super().__init__(
                objective=objective, min_child_weight=cast(Any, min_child_weight), **kwargs
            )
            self.loss = loss
            self.hessian = hessian

        def get_params(self, deep: bool = True) -> dict[str, Any]:
            """Parameters, ``loss`` and ``hessian`` included."""
            return _visible_params(self, super().get_params(deep=deep))

        def fit(  # type: ignore[override]
            self,
            X: Any,
            y: Any,
            sample_weight: Any = None,
            init_score: Any = None,
            **kwargs: Any,
        ) -> Any:
            """Fit on ``loss`` through LightGBM's Dask interface."""
            self._check_objective()
            loss = self._losslab_loss()
            if loss.link.name != "identity":
                raise ValueError(f"{loss.name} is a classification loss; use DaskLGBMClassifier")
            policy = resolve_policy(loss, self.hessian)
            adapter = LossAdapter(loss, policy)
            if init_score is None:
                init = adapter.init_score(
                    np.asarray(_host(y), dtype=np.float64), _host(sample_weight)
                )
                init_score = _dask_init(init, y)
            else:
                init = np.zeros(())
            self.objective = self._objective = BoostingObjective(loss, policy)
            # lightgbm.dask builds a plain LightGBM estimator on each worker from get_params();
            # "loss" would be read there as an alias of "objective": hide losslab's params.
            self.__dict__["_losslab_hide_params"] = True
            try:
                super().fit(X, y, sample_weight=sample_weight, init_score=init_score, **kwargs)
            finally:
                self.objective = None
                self.__dict__.pop("_losslab_hide_params", None)
            self.loss_ = loss
            self.hessian_policy_ = policy
            self.init_score_ = init
            return self

        def predict(self, X: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            """Predictions (Dask array): raw scores + init score."""
            kwargs.pop("raw_score", None)
            return super().predict(X, raw_score=True, **kwargs) + float(self.init_score_)

    for cls in (DaskLGBMClassifier, DaskLGBMRegressor):
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
        _DASK_CLASSES[cls.__name__] = cls


def __getattr__(name: str) -> Any:
    """Build the Dask estimators on first access (imports lightgbm.dask and distributed)."""
    if name in ("DaskLGBMClassifier", "DaskLGBMRegressor"):
        if not _DASK_CLASSES:
            _make_dask_classes()
        return _DASK_CLASSES[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
