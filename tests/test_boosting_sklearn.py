"""The estimators keep scikit-learn's and the host libraries' promises: nested ``loss__<name>``
parameters reach the loss (grid searches change it), early stopping works with the default
settings (the loss is the default evaluation metric), built-in metrics that read scores in
another output space are refused, bad input is reported by name, binary-loss classifiers
declare that they refuse multiclass data, and zero-Hessian losses warn when they do not use
the host's leaf refit."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("lightgbm")
pytest.importorskip("sklearn")

import lightgbm
import numpy as np
from sklearn.base import clone
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV

import losslab
import losslab.lightgbm as ll
import losslab.xgboost as lx

SEED = 23
LIBS = ["xgboost", "lightgbm"]


def _data(n: int = 2000, seed: int = SEED) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.logistic(size=n) * 0.8 > 1.2).astype(np.float64)
    return X, y


def _est(lib: str, kind: str = "classifier", **kw: Any) -> Any:
    if lib == "xgboost":
        cls: Any = lx.XGBClassifier if kind == "classifier" else lx.XGBRegressor
        return cls(**{"n_estimators": 10, "max_depth": 3, "n_jobs": 1, **kw})
    cls = ll.LGBMClassifier if kind == "classifier" else ll.LGBMRegressor
    return cls(**{"n_estimators": 10, "num_leaves": 7, "n_jobs": 1, "verbose": -1, **kw})


# ---------------------------------------------------------------------- nested parameters
@pytest.mark.parametrize("lib", LIBS)
def test_nested_loss_parameters(lib: str) -> None:
    focal = losslab.get_loss("focal", gamma=2.0, alpha=0.25)
    est = _est(lib, loss=focal)
    deep = est.get_params(deep=True)
    assert deep["loss__gamma"] == 2.0
    assert deep["loss__alpha"] == 0.25
    assert "loss__gamma" not in est.get_params(deep=False)
    assert est.set_params(loss__gamma=1.0) is est
    assert est.loss == losslab.get_loss("focal", gamma=1.0, alpha=0.25)
    X, y = _data(500)
    est.fit(X, y)  # filterwarnings=error: the host must not see loss__gamma
    assert est.loss_.gamma == 1.0
    assert clone(est).get_params()["loss"] == est.loss
    # a registry name becomes the loss with the parameter set
    named = _est(lib, loss="focal").set_params(loss__gamma=0.5)
    assert named.loss == losslab.get_loss("focal", gamma=0.5)
    with pytest.raises(ValueError, match="loss is None"):
        _est(lib).set_params(loss__gamma=1.0)
    with pytest.raises(TypeError):
        _est(lib, loss="log_loss").set_params(loss__gamma=1.0)
    with pytest.raises(ValueError, match="gamma"):
        _est(lib, loss="focal").set_params(loss__gamma=-1.0)


@pytest.mark.parametrize("lib", LIBS)
def test_grid_search_over_loss_gamma_changes_the_fitted_loss(lib: str) -> None:
    X, y = _data(1200)
    grid = GridSearchCV(
        _est(lib, loss=losslab.get_loss("focal", gamma=2.0)),
        {"loss__gamma": [0.0, 4.0]},
        cv=2,
        scoring="neg_log_loss",
    )
    grid.fit(X, y)
    best = grid.best_params_["loss__gamma"]
    assert grid.best_estimator_.loss_.gamma == best
    scores = grid.cv_results_["mean_test_score"]
    assert scores[0] != scores[1]  # the two gammas trained different models
    # gamma = 0 (log loss) scores better on log loss than gamma = 4
    assert best == 0.0


# ---------------------------------------------------------------------- early stopping, metrics
@pytest.mark.parametrize("lib", LIBS)
def test_early_stopping_with_defaults(lib: str) -> None:
    X, y = _data(3000)
    Xv, yv = _data(1000, seed=SEED + 1)
    focal = losslab.get_loss("focal", gamma=2.0)
    if lib == "xgboost":
        est = _est(lib, loss=focal, n_estimators=400, learning_rate=0.5, early_stopping_rounds=5)
        est.fit(X, y, eval_set=[(Xv, yv)], verbose=False)
        history = est.evals_result()["validation_0"]
        assert list(history) == ["losslab_focal"]  # the loss alone, no default metric
        best = est.best_iteration
    else:
        est = _est(lib, loss=focal, n_estimators=400, learning_rate=0.5)
        est.fit(X, y, eval_set=[(Xv, yv)], callbacks=[lightgbm.early_stopping(5, verbose=False)])
        history = est.evals_result_["valid_0"]
        assert list(history) == ["losslab_focal"]
        best = est.best_iteration_ - 1
    values = history["losslab_focal"]
    assert len(values) < 400  # stopped early
    assert values[best] == pytest.approx(min(values))
    margin = np.asarray(est.decision_function(Xv), dtype=np.float64)
    assert float(focal(yv, margin)) == pytest.approx(values[best], rel=1e-4)


def test_lightgbm_early_stopping_parameter_with_defaults() -> None:
    X, y = _data(3000)
    Xv, yv = _data(1000, seed=SEED + 1)
    est = _est("lightgbm", loss="focal", n_estimators=400, learning_rate=0.5)
    est.set_params(early_stopping_round=5)
    est.fit(X, y, eval_set=[(Xv, yv)])
    assert 0 < est.best_iteration_ < 400


@pytest.mark.parametrize("metric", ["binary_logloss", "binary_error", "multi_logloss"])
def test_lightgbm_refuses_probability_metrics(metric: str) -> None:
    X, y = _data(300)
    with pytest.raises(ValueError, match="as probabilities"):
        _est("lightgbm", loss="focal", metric=metric).fit(X, y)
    with pytest.raises(ValueError, match="as probabilities"):
        _est("lightgbm", loss="focal").fit(X, y, eval_set=[(X, y)], eval_metric=metric)
    # a rank metric reads margins as well as probabilities
    est = _est("lightgbm", loss="focal").fit(X, y, eval_set=[(X, y)], eval_metric="auc")
    assert "auc" in est.evals_result_["valid_0"]


def test_xgboost_builtin_metric_sees_probabilities() -> None:
    # XGBoost evaluates its built-in metrics through the saved objective (binary:logistic):
    # the logloss it logs is the log loss of the estimator's probabilities
    X, y = _data(1000)
    est = _est("xgboost", loss="focal", eval_metric="logloss")
    est.fit(X, y, eval_set=[(X, y)], verbose=False)
    logged = est.evals_result()["validation_0"]["logloss"][-1]
    assert logged == pytest.approx(log_loss(y, est.predict_proba(X)), rel=1e-4)


# ---------------------------------------------------------------------- bad input, tags
@pytest.mark.parametrize("lib", LIBS)
def test_bad_input_is_reported_by_name(lib: str) -> None:
    X, y = _data(300)
    labels = np.where(y > 0, "pos", "neg")
    with pytest.raises(ValueError, match="never seen in training"):
        _est(lib, loss="focal").fit(X, labels, eval_set=[(X, np.where(y > 0, "pos", "other"))])
    nan_y = y.copy()
    nan_y[3] = np.nan
    with pytest.raises(ValueError, match="y contains NaN"):
        _est(lib, loss="focal").fit(X, nan_y)
    with pytest.raises(ValueError, match="y contains NaN"):
        _est(lib, "regressor").fit(X, nan_y)
    with pytest.raises(ValueError, match="0 rows"):
        _est(lib, loss="focal").fit(np.empty((0, 5)), np.empty(0))
    with pytest.raises(ValueError, match="leave `objective` as None"):
        _est(lib, objective="binary:logistic").fit(X, y)
    if lib == "xgboost":  # the init score is the model's base_score
        with pytest.raises(ValueError, match="leave base_score as None"):
            _est(lib, base_score=0.3).fit(X, y)


@pytest.mark.parametrize("lib", LIBS)
def test_binary_loss_classifiers_declare_binary_only(lib: str) -> None:
    assert _est(lib, loss="focal").__sklearn_tags__().classifier_tags.multi_class is False
    assert _est(lib, loss="log_loss").__sklearn_tags__().classifier_tags.multi_class is False
    assert _est(lib).__sklearn_tags__().classifier_tags.multi_class is True
    assert _est(lib, loss="softmax_focal").__sklearn_tags__().classifier_tags.multi_class


# ---------------------------------------------------------------------- zero Hessians
@pytest.mark.parametrize("lib", LIBS)
def test_zero_hessian_losses_route_or_warn(lib: str) -> None:
    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(400, 3))
    y = X[:, 0] + rng.normal(size=400)
    routed = _est(lib, "regressor", loss="absolute_error").fit(X, y)
    assert routed.builtin_objective_ in ("reg:absoluteerror", "l1")
    assert routed.hessian_policy_ is None
    pinball = _est(lib, "regressor", loss=losslab.get_loss("pinball", quantile=0.9)).fit(X, y)
    assert pinball.builtin_objective_ in ("reg:quantileerror", "quantile")
    with pytest.warns(UserWarning, match="trains slowly"):
        slow = _est(lib, "regressor", loss="pinball", hessian="constant").fit(X, y)
    assert slow.builtin_objective_ is None
    assert slow.hessian_policy_.name == "constant"
