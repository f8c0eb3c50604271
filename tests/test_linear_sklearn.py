"""losslab.linear as a scikit-learn citizen: check_estimator, Pipeline, cross_val_score with
scoring, GridSearchCV over nested loss parameters, loss objects, score, and parameter
validation (tol, max_iter, fit_intercept) — while fitting still imports no scikit-learn."""

from __future__ import annotations

import subprocess
import sys
import warnings
from typing import Any

import numpy as np
import pytest

pytest.importorskip("scipy")
pytest.importorskip("sklearn")

from sklearn.base import clone, is_classifier, is_regressor
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import losslab
from losslab.linear import LossClassifier, LossRegressor


def _reg_data(n: int = 300, seed: int = 0) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 1.0 + 0.3 * rng.standard_t(3, n)
    return X, y


def _clf_data(n: int = 300, seed: int = 1) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    p = 1 / (1 + np.exp(-(X @ np.array([2.0, -1.0, 0.5]) - 0.5)))
    return X, np.where(rng.random(n) < p, "yes", "no")


# The estimators do not inherit from scikit-learn's BaseEstimator (no import at fit time);
# scikit-learn warns about that when it builds and when it runs the checks.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Estimator .* does not inherit from", UserWarning)
    _checks = parametrize_with_checks(
        [
            LossRegressor(solver="newton"),
            # strictly convex: the optimum, and so weights vs repeated rows, is unique
            LossRegressor(losslab.get_loss("pseudo_huber", delta=0.5)),
            LossClassifier(losslab.get_loss("focal", gamma=2.0)),
        ],
        expected_failed_checks=lambda est: (
            {
                "check_sample_weight_equivalence_on_dense_data": (
                    "the check's data has fewer weighted rows than coefficients, so the "
                    "least-squares optimum is not unique; L-BFGS from 0 finds the minimum-"
                    "norm one both ways, the trust-region Newton solver another"
                )
            }
            if est.solver == "newton"
            else {}
        ),
    )


@pytest.mark.filterwarnings("ignore:Estimator .* does not inherit from:UserWarning")
@_checks
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)


def test_tags_and_kind() -> None:
    assert is_regressor(LossRegressor())
    assert is_classifier(LossClassifier())
    assert LossClassifier().__sklearn_tags__().classifier_tags.multi_class is False


def test_pipeline_cross_val_score_and_grid_search_over_nested_params() -> None:
    X, y = _reg_data()
    pipe = make_pipeline(StandardScaler(), LossRegressor(losslab.get_loss("huber")))
    scores = cross_val_score(pipe, X, y, cv=3, scoring="neg_mean_absolute_error")
    assert scores.shape == (3,)
    assert np.all(np.isfinite(scores))
    grid = GridSearchCV(pipe, {"lossregressor__loss__delta": [0.1, 10.0]}, cv=3, scoring="r2")
    grid.fit(X, y)
    best = grid.best_params_["lossregressor__loss__delta"]
    assert grid.best_estimator_[-1].loss_.delta == best
    assert grid.cv_results_["mean_test_score"][0] != grid.cv_results_["mean_test_score"][1]
    Xc, yc = _clf_data()
    clf_grid = GridSearchCV(
        LossClassifier(losslab.get_loss("focal")), {"loss__gamma": [0.0, 2.0]}, cv=3
    )
    clf_grid.fit(Xc, yc)
    assert clf_grid.best_estimator_.loss_.gamma == clf_grid.best_params_["loss__gamma"]


def test_loss_objects_and_nested_params() -> None:
    X, y = _reg_data()
    huber = losslab.get_loss("huber", delta=0.5)
    by_object = LossRegressor(huber, solver="newton").fit(X, y)
    by_name = LossRegressor("huber", loss_params={"delta": 0.5}, solver="newton").fit(X, y)
    np.testing.assert_allclose(by_object.coef_, by_name.coef_, rtol=1e-10)
    assert by_object.loss_ == huber
    m = LossRegressor(huber)
    assert m.get_params(deep=True)["loss__delta"] == 0.5
    assert "loss__delta" not in m.get_params(deep=False)
    assert m.set_params(loss__delta=2.0).loss == losslab.get_loss("huber", delta=2.0)
    assert LossRegressor("pinball").set_params(loss__quantile=0.9).loss == losslab.get_loss(
        "pinball", quantile=0.9
    )
    assert clone(m).get_params()["loss"] == m.loss
    with pytest.raises(TypeError, match="loss must be"):
        LossRegressor(3.0).fit(X, y)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="multiclass"):
        LossRegressor(losslab.get_loss("softmax_cross_entropy")).fit(X, y)


def test_score() -> None:
    X, y = _reg_data()
    m = LossRegressor().fit(X, y)
    pred = m.predict(X)
    r2 = 1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2)
    assert m.score(X, y) == pytest.approx(r2, rel=1e-12)
    w = np.linspace(0.5, 2.0, len(y))
    mean_w = np.average(y, weights=w)
    r2_w = 1 - np.sum(w * (y - pred) ** 2) / np.sum(w * (y - mean_w) ** 2)
    assert m.score(X, y, sample_weight=w) == pytest.approx(r2_w, rel=1e-12)
    Xc, yc = _clf_data()
    c = LossClassifier().fit(Xc, yc)
    assert c.score(Xc, yc) == pytest.approx(np.mean(c.predict(Xc) == yc))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tol": -1.0}, "tol"),
        ({"tol": float("nan")}, "tol"),
        ({"tol": "small"}, "tol"),
        ({"max_iter": 1.5}, "max_iter"),
        ({"max_iter": 0}, "max_iter"),
        ({"max_iter": True}, "max_iter"),
        ({"fit_intercept": "no"}, "fit_intercept"),
        ({"fit_intercept": 1}, "fit_intercept"),
        ({"l2": float("inf")}, "l2"),
        ({"l2": True}, "l2"),
    ],
)
def test_parameters_are_validated(kwargs: dict[str, Any], match: str) -> None:
    X, y = _reg_data(50)
    with pytest.raises(ValueError, match=match):
        LossRegressor(**kwargs).fit(X, y)


def test_classifier_target_messages() -> None:
    X, _ = _clf_data(60)
    with pytest.raises(ValueError, match="Only binary classification"):
        LossClassifier().fit(X, np.arange(60) % 3)
    with pytest.raises(ValueError, match="Unknown label type"):
        LossClassifier().fit(X, np.linspace(0, 1, 60) ** 2)
    with pytest.raises(ValueError, match="1 class"):
        LossClassifier().fit(X, np.zeros(60))


def test_fit_and_predict_import_no_sklearn() -> None:
    code = (
        "import sys, numpy as np; from losslab.linear import LossRegressor, LossClassifier\n"
        "X = np.random.default_rng(0).normal(size=(50, 2)); y = X[:, 0]\n"
        "LossRegressor('huber').fit(X, y).predict(X)\n"
        "LossClassifier().fit(X, y > 0).predict_proba(X)\n"
        "assert 'sklearn' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
