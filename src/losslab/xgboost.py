"""XGBoost with any losslab loss: objectives, metrics and estimators with the plumbing right.

Importing this module imports :mod:`xgboost` (``import losslab`` does not); the Dask estimators
(:class:`DaskXGBClassifier`, :class:`DaskXGBRegressor`) import :mod:`xgboost.dask` on first
access.

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
``loss.fit_intercept_only`` (passed as the base margin), and ``decision_function`` /
``predict_proba`` / ``predict`` add it back and apply the loss's inverse link.

What XGBoost does with a bare callable objective, and what losslab does instead:

* sample weights: XGBoost hands them to the objective (or an empty array) but does not apply
  them; losslab multiplies the gradient and Hessian by them;
* start: XGBoost starts a custom objective at margin 0.5 (``base_score``); losslab passes
  ``fit_intercept_only`` as ``base_margin`` (which replaces ``base_score``);
* probabilities: ``XGBClassifier`` with a callable objective applies the sigmoid of
  ``binary:logistic`` and ignores the init score; losslab uses the loss's link and the init
  score;
* Hessians: XGBoost silently clips negative Hessians; losslab hands over a named positive
  policy (``gauss_newton`` for focal, ``constant`` for absolute / pinball, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xgboost

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
    "DaskXGBClassifier",
    "DaskXGBRegressor",
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

# Built on first access by __getattr__ (they import xgboost.dask and distributed).
DaskXGBClassifier: Any
DaskXGBRegressor: Any

FOCAL_DEFAULTS: dict[str, float] = {"min_child_weight": 1e-3, "max_delta_step": 2.0}
"""XGBoost parameters the estimators use for focal losses (gamma > 0) unless set.

Focal gradients and Hessians carry the factor ``(1 - p_t)^gamma``, so with XGBoost's
``min_child_weight=1`` the nodes of well-classified examples never reach the Hessian sum a
split needs and trees stop growing; ``1e-3`` lets them split. ``max_delta_step=2`` caps each
leaf's step in the logit (XGBoost recommends 1-10 for imbalanced logistic problems), so a
leaf of a few hard examples cannot move margins by tens of logits in one round.
"""


def _labels(dtrain: Any) -> np.ndarray[Any, Any]:
    return np.asarray(dtrain.get_label())


class XGBObjective:
    """Native custom objective ``obj(predt, dtrain) -> (grad, hess)`` for ``xgboost.train``.

    ``predt`` are margins, (n,) or (n, K) for softmax losses (XGBoost >= 2 then expects (n, K)
    gradients, which this returns). Labels come from ``dtrain.get_label()`` (class indices for
    softmax losses), weights from ``dtrain.get_weight()`` and are applied. Set the init score
    with ``base_margin`` (:func:`init_margin`); for softmax losses pass ``num_class`` in the
    parameters. ``n_calls`` counts the calls.
    """

    def __init__(self, loss: Loss | str, hessian: HessianPolicy | str | None = None) -> None:
        self.adapter = LossAdapter(loss, hessian)
        self.n_calls = 0

    def __repr__(self) -> str:
        return f"XGBObjective({self.adapter.loss!r}, hessian={self.adapter.policy.name!r})"

    def __call__(
        self, predt: Any, dtrain: Any
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Gradient and Hessian of the loss at margins ``predt`` (weights applied)."""
        self.n_calls += 1
        return self.adapter.gradient_hessian(_labels(dtrain), predt, dtrain.get_weight())


class XGBMetric:
    """Native custom metric ``metric(predt, dmatrix) -> (name, value)``.

    The weighted mean loss on margins (XGBoost passes margins to a custom metric when the
    objective is custom). Lower is better. Name ``losslab_<loss name>``; pass
    ``disable_default_eval_metric=1`` to see it alone.
    """

    def __init__(self, loss: Loss | str) -> None:
        self.adapter = LossAdapter(loss, "constant")

    def __call__(self, predt: Any, dmatrix: Any) -> tuple[str, float]:
        """``(name, weighted mean loss)``."""
        return self.adapter.metric_name, self.adapter.metric(
            _labels(dmatrix), predt, dmatrix.get_weight()
        )


class _SklearnMetric:
    """scikit-learn-style metric ``f(y_true, y_score, sample_weight=None) -> float``."""

    def __init__(self, loss: Loss | str) -> None:
        self.adapter = LossAdapter(loss, "constant")
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
    return BoostingObjective(loss, hessian)


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
_OWN_PARAMS = ("loss", "hessian")


class _LossMixin(SklearnLossMixin):
    """What the four estimators share: loss parameters, focal defaults, init score, link."""

    loss: Any
    hessian: Any
    objective: Any

    def get_xgb_params(self) -> dict[str, Any]:
        """XGBoost's parameters, without losslab's own and with the focal defaults applied."""
        params: dict[str, Any] = super().get_xgb_params()  # type: ignore[misc]
        for key in _OWN_PARAMS:
            params.pop(key, None)
        if is_focal_like(self._losslab_loss()):
            for key, value in FOCAL_DEFAULTS.items():
                if params.get(key) is None:
                    params[key] = value
        return params

    def _margin_for(self, X: Any, base_margin: Any) -> Any:
        not_fitted(self)
        if base_margin is not None:
            return base_margin
        init = self.init_score_
        return LossAdapter(self.loss_, "constant").init_margin(init, n_rows(X))

    init_score_: np.ndarray[Any, Any]
    loss_: Loss


class XGBClassifier(_LossMixin, xgboost.XGBClassifier):
    """``xgboost.XGBClassifier`` trained on a losslab loss, with the init score and link right.

    Parameters
    ----------
    loss : Loss, str or None, default None
        A binary loss on the logit (``log_loss``, ``focal``, ``focal_star``) for two classes,
        or a softmax loss (``softmax_cross_entropy``, ``softmax_focal``) for three or more.
        None: ``log_loss`` for two classes, ``softmax_cross_entropy`` for more.
    hessian : str, HessianPolicy or None, default None
        Hessian policy (None: the loss's default; ``losslab._boosting``).
    **kwargs
        Every ``xgboost.XGBClassifier`` parameter except ``objective``. For focal losses
        (gamma > 0) ``min_child_weight`` and ``max_delta_step`` default to
        :data:`FOCAL_DEFAULTS` (1e-3 and 2) instead of XGBoost's 1 and 0.

    Fitted attributes (besides XGBoost's): ``loss_``, ``hessian_policy_``, ``init_score_``
    (the base margin, () or (K,)), ``classes_`` (the original labels).

    ``fit(X, y, sample_weight=None, base_margin=None, ...)``: labels are encoded to 0..K-1;
    the base margin defaults to the init score (a given ``base_margin``, e.g. another model's
    margins for a warm start, replaces it, and must then be passed again at prediction).
    ``decision_function`` returns margins (trees + init score), ``predict_proba`` the inverse
    link (sigmoid as two columns, or softmax), ``predict`` the most probable class.

    Raises
    ------
    ValueError
        ``objective`` set, a regression loss, a binary loss with other than 2 classes or a
        softmax loss with fewer than 3.
    """

    def __init__(
        self,
        *,
        loss: Loss | str | None = None,
        hessian: HessianPolicy | str | None = None,
        objective: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(objective=objective, **kwargs)
        self.loss = loss
        self.hessian = hessian

    @property
    def classes_(self) -> np.ndarray[Any, Any]:
        """The class labels seen in fit (original values, sorted)."""
        classes = self.__dict__.get("_losslab_classes")
        return np.arange(self.n_classes_) if classes is None else np.asarray(classes)

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        sample_weight: Any = None,
        base_margin: Any = None,
        eval_set: Any = None,
        sample_weight_eval_set: Any = None,
        base_margin_eval_set: Any = None,
        **kwargs: Any,
    ) -> XGBClassifier:
        """Fit on ``loss``; see the class docstring. Other keywords go to XGBoost's ``fit``."""
        self._check_objective()
        y = check_y(y, classifier=True)
        classes, y_enc = np.unique(y, return_inverse=True)
        loss = self._losslab_loss(len(classes))
        policy = resolve_policy(loss, self.hessian)
        check_classifier_loss(loss, len(classes), "XGBRegressor")
        adapter = LossAdapter(loss, policy)
        if base_margin is None:
            init = adapter.init_score(y_enc, sample_weight)
            base_margin = adapter.init_margin(init, n_rows(X))
        else:
            init = np.zeros(len(classes) if loss.is_multiclass else ())
        if eval_set is not None:
            eval_set = [(Xe, np.searchsorted(classes, np.asarray(ye))) for Xe, ye in eval_set]
            if base_margin_eval_set is None:
                base_margin_eval_set = [adapter.init_margin(init, n_rows(Xe)) for Xe, _ in eval_set]
        self.__dict__["_losslab_classes"] = None
        self.objective = BoostingObjective(loss, policy)
        try:
            super().fit(
                X,
                y_enc,
                sample_weight=sample_weight,
                base_margin=base_margin,
                eval_set=eval_set,
                sample_weight_eval_set=sample_weight_eval_set,
                base_margin_eval_set=base_margin_eval_set,
                **kwargs,
            )
        finally:
            self.objective = None
        self.__dict__["_losslab_classes"] = classes
        self.loss_ = loss
        self.hessian_policy_ = policy
        self.init_score_ = init
        return self

    def decision_function(self, X: Any, base_margin: Any = None, **kwargs: Any) -> Any:
        """Margins: the trees' output plus the init score (or ``base_margin``); (n,) or (n, K)."""
        return xgboost.XGBModel.predict(
            self, X, output_margin=True, base_margin=self._margin_for(X, base_margin), **kwargs
        )

    def predict_proba(self, X: Any, base_margin: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """Class probabilities (n, K) = inverse link of :meth:`decision_function`."""
        margin = np.asarray(self.decision_function(X, base_margin=base_margin, **kwargs))
        return proba_from_margin(self.loss_, margin)

    def predict(self, X: Any, base_margin: Any = None, **kwargs: Any) -> Any:
        """The most probable class label."""
        proba = self.predict_proba(X, base_margin=base_margin, **kwargs)
        return self.classes_[np.argmax(proba, axis=1)]


class XGBRegressor(_LossMixin, xgboost.XGBRegressor):
    """``xgboost.XGBRegressor`` trained on a losslab regression loss, from its init score.

    Parameters
    ----------
    loss : Loss or str, default "half_squared_error"
        A regression loss (identity link): ``half_squared_error``, ``squared_error``,
        ``absolute_error``, ``huber``, ``pseudo_huber``, ``log_cosh``, ``pinball``.
    hessian : str, HessianPolicy or None, default None
        Hessian policy (None: the loss's default: ``constant`` for absolute error and
        pinball, ``floor`` at 1 for Huber, ``exact`` otherwise).
    **kwargs
        Every ``xgboost.XGBRegressor`` parameter except ``objective``.

    ``predict`` returns trees + init score (the weighted mean, median, quantile, ... of y);
    ``decision_function`` the same (the link is the identity).

    Raises
    ------
    ValueError
        ``objective`` set, or a classification loss.
    """

    def __init__(
        self,
        *,
        loss: Loss | str = "half_squared_error",
        hessian: HessianPolicy | str | None = None,
        objective: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(objective=objective, **kwargs)
        self.loss = loss
        self.hessian = hessian

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        sample_weight: Any = None,
        base_margin: Any = None,
        eval_set: Any = None,
        sample_weight_eval_set: Any = None,
        base_margin_eval_set: Any = None,
        **kwargs: Any,
    ) -> XGBRegressor:
        """Fit on ``loss``; a given ``base_margin`` replaces the init score."""
        self._check_objective()
        y = check_y(y, classifier=False)
        loss = self._losslab_loss()
        if loss.link.name != "identity":
            raise ValueError(f"{loss.name} is a classification loss; use XGBClassifier")
        policy = resolve_policy(loss, self.hessian)
        adapter = LossAdapter(loss, policy)
        if base_margin is None:
            init = adapter.init_score(np.asarray(y, dtype=np.float64), sample_weight)
            base_margin = adapter.init_margin(init, n_rows(X))
        else:
            init = np.zeros(())
        if eval_set is not None and base_margin_eval_set is None:
            base_margin_eval_set = [adapter.init_margin(init, n_rows(Xe)) for Xe, _ in eval_set]
        self.objective = BoostingObjective(loss, policy)
        try:
            super().fit(
                X,
                y,
                sample_weight=sample_weight,
                base_margin=base_margin,
                eval_set=eval_set,
                sample_weight_eval_set=sample_weight_eval_set,
                base_margin_eval_set=base_margin_eval_set,
                **kwargs,
            )
        finally:
            self.objective = None
        self.loss_ = loss
        self.hessian_policy_ = policy
        self.init_score_ = init
        return self

    def predict(self, X: Any, base_margin: Any = None, **kwargs: Any) -> Any:
        """Predictions: trees + init score (or ``base_margin``), through the identity link."""
        kwargs.pop("output_margin", None)
        return super().predict(
            X, output_margin=True, base_margin=self._margin_for(X, base_margin), **kwargs
        )


# ---------------------------------------------------------------------- Dask (lazy)
_DASK_CLASSES: dict[str, type] = {}


def _dask_margin(init: np.ndarray[Any, Any], like: Any, *, column: bool = False) -> Any:
    """A Dask array of the init score with ``like``'s row chunks: (n,) or (n, K).

    ``column=True`` gives (n, 1) instead of (n,): ``xgboost.dask``'s in-place prediction
    maps a 1-D base margin against the *columns* of a 2-D Dask array (the blocks then do not
    line up), so prediction passes the margin as a column.
    """
    import dask.array

    da: Any = dask.array  # untyped in places
    arr = like.to_dask_array(lengths=True) if hasattr(like, "to_dask_array") else like
    base = arr if arr.ndim == 1 else arr[:, 0]
    rows = base.chunks[0]
    if init.ndim == 0:
        value = float(init)
        if column:
            return da.map_blocks(
                lambda b: np.full((b.shape[0], 1), value),
                base,
                dtype=np.float64,
                new_axis=1,
                chunks=(rows, (1,)),
            )
        return da.map_blocks(lambda b: np.full(b.shape[0], value), base, dtype=np.float64)
    k = init.shape[0]
    return da.map_blocks(
        lambda b: np.tile(init, (b.shape[0], 1)),
        base,
        dtype=np.float64,
        new_axis=1,
        chunks=(rows, (k,)),
    )


def _one_column_chunk(X: Any) -> Any:
    """A 2-D Dask array with one chunk along the columns (as the margin above has)."""
    if hasattr(X, "chunks") and getattr(X, "ndim", 0) == 2 and len(X.chunks[1]) > 1:
        return X.rechunk({1: -1})
    return X


def _make_dask_classes() -> None:
    import dask.array

    da: Any = dask.array  # untyped in places
    import xgboost.dask as xd

    class DaskXGBClassifier(_LossMixin, xd.DaskXGBClassifier):
        """``xgboost.dask.DaskXGBClassifier`` on a losslab loss (see :class:`XGBClassifier`).

        Labels must already be 0..K-1 (as XGBoost's Dask classifier requires). The init score
        is computed from the labels (gathered: one column) and passed as a base-margin Dask
        array with X's row chunks; ``predict_proba`` / ``decision_function`` return Dask
        arrays.
        """

        def __init__(
            self,
            *,
            loss: Loss | str | None = None,
            hessian: HessianPolicy | str | None = None,
            objective: Any = None,
            **kwargs: Any,
        ) -> None:
            super().__init__(objective=objective, **kwargs)
            self.loss = loss
            self.hessian = hessian

        def fit(
            self,
            X: Any,
            y: Any,
            *,
            sample_weight: Any = None,
            base_margin: Any = None,
            **kwargs: Any,
        ) -> Any:
            """Fit on ``loss`` through XGBoost's Dask interface."""
            self._check_objective()
            y_np = np.asarray(y.compute() if hasattr(y, "compute") else y)
            w_np = (
                None
                if sample_weight is None
                else np.asarray(
                    sample_weight.compute() if hasattr(sample_weight, "compute") else sample_weight
                )
            )
            classes = np.unique(y_np)
            loss = self._losslab_loss(len(classes))
            policy = resolve_policy(loss, self.hessian)
            check_classifier_loss(loss, len(classes), "XGBRegressor")
            adapter = LossAdapter(loss, policy)
            if base_margin is None:
                init = adapter.init_score(y_np, w_np)
                base_margin = _dask_margin(init, y)
            else:
                init = np.zeros(len(classes) if loss.is_multiclass else ())
            self.objective = BoostingObjective(loss, policy)
            try:
                super().fit(X, y, sample_weight=sample_weight, base_margin=base_margin, **kwargs)
            finally:
                self.objective = None
            self.loss_ = loss
            self.hessian_policy_ = policy
            self.init_score_ = init
            return self

        def decision_function(self, X: Any, base_margin: Any = None) -> Any:
            """Margins (Dask array): trees + init score; (n,) or (n, K)."""
            not_fitted(self)
            X = _one_column_chunk(X)
            if base_margin is None:
                base_margin = _dask_margin(self.init_score_, X, column=True)
            elif base_margin.ndim == 1:
                base_margin = base_margin[:, None]
            return xd.DaskXGBRegressor.predict(self, X, output_margin=True, base_margin=base_margin)

        def predict_proba(self, X: Any, base_margin: Any = None) -> Any:  # type: ignore[override]
            """Class probabilities (Dask array, (n, K))."""
            margin = self.decision_function(X, base_margin=base_margin)
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

        def predict(self, X: Any, base_margin: Any = None) -> Any:
            """The most probable class (Dask array)."""
            classes = self.classes_
            proba = self.predict_proba(X, base_margin=base_margin)
            return da.map_blocks(
                lambda p: classes[np.argmax(p, axis=1)], proba, drop_axis=1, dtype=classes.dtype
            )

    class DaskXGBRegressor(_LossMixin, xd.DaskXGBRegressor):
        """``xgboost.dask.DaskXGBRegressor`` on a losslab loss (see :class:`XGBRegressor`)."""

        def __init__(
            self,
            *,
            loss: Loss | str = "half_squared_error",
            hessian: HessianPolicy | str | None = None,
            objective: Any = None,
            **kwargs: Any,
        ) -> None:
            super().__init__(objective=objective, **kwargs)
            self.loss = loss
            self.hessian = hessian

        def fit(
            self,
            X: Any,
            y: Any,
            *,
            sample_weight: Any = None,
            base_margin: Any = None,
            **kwargs: Any,
        ) -> Any:
            """Fit on ``loss`` through XGBoost's Dask interface."""
            self._check_objective()
            loss = self._losslab_loss()
            if loss.link.name != "identity":
                raise ValueError(f"{loss.name} is a classification loss; use DaskXGBClassifier")
            policy = resolve_policy(loss, self.hessian)
            y_np = np.asarray(y.compute() if hasattr(y, "compute") else y, dtype=np.float64)
            w_np = (
                None
                if sample_weight is None
                else np.asarray(
                    sample_weight.compute() if hasattr(sample_weight, "compute") else sample_weight
                )
            )
            adapter = LossAdapter(loss, policy)
            if base_margin is None:
                init = adapter.init_score(y_np, w_np)
                base_margin = _dask_margin(init, y)
            else:
                init = np.zeros(())
            self.objective = BoostingObjective(loss, policy)
            try:
                super().fit(X, y, sample_weight=sample_weight, base_margin=base_margin, **kwargs)
            finally:
                self.objective = None
            self.loss_ = loss
            self.hessian_policy_ = policy
            self.init_score_ = init
            return self

        def predict(self, X: Any, base_margin: Any = None, **kwargs: Any) -> Any:
            """Predictions (Dask array): trees + init score."""
            not_fitted(self)
            X = _one_column_chunk(X)
            if base_margin is None:
                base_margin = _dask_margin(self.init_score_, X, column=True)
            elif base_margin.ndim == 1:
                base_margin = base_margin[:, None]
            kwargs.pop("output_margin", None)
            return super().predict(X, output_margin=True, base_margin=base_margin, **kwargs)

    for cls in (DaskXGBClassifier, DaskXGBRegressor):
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
        _DASK_CLASSES[cls.__name__] = cls


def __getattr__(name: str) -> Any:
    """Build the Dask estimators on first access (imports xgboost.dask and distributed)."""
    if name in ("DaskXGBClassifier", "DaskXGBRegressor"):
        if not _DASK_CLASSES:
            _make_dask_classes()
        return _DASK_CLASSES[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
