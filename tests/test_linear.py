"""Tests of losslab.linear: LossRegressor / LossClassifier against closed forms and LP."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("scipy")

from losslab.linear import LossClassifier, LossRegressor


@pytest.fixture
def reg_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4)) * [1.0, 2.0, 0.5, 3.0]
    y = X @ np.array([1.0, -2.0, 0.5, 0.3]) + 1.5 + 0.3 * rng.standard_normal(300)
    return X, y


@pytest.mark.parametrize("solver", ["lbfgs", "newton"])
def test_square_loss_is_least_squares(reg_data: tuple[np.ndarray, np.ndarray], solver: str) -> None:
    X, y = reg_data
    m = LossRegressor("half_squared_error", solver=solver).fit(X, y)
    Xa = np.hstack([X, np.ones((len(y), 1))])
    theta = np.linalg.lstsq(Xa, y, rcond=None)[0]
    np.testing.assert_allclose(m.coef_, theta[:4], rtol=1e-6, atol=1e-7)
    assert m.intercept_ == pytest.approx(theta[4], rel=1e-6)
    assert m.converged_
    np.testing.assert_allclose(m.predict(X), Xa @ theta, rtol=1e-6, atol=1e-6)
    assert m.objective_path_
    assert m.objective_path_[-1] == pytest.approx(m.objective_)


def test_l2_penalty_is_ridge_with_free_intercept(reg_data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = reg_data
    lam = 0.7
    m = LossRegressor("half_squared_error", l2=lam, solver="newton").fit(X, y)
    Xc, yc = X - X.mean(0), y - y.mean()
    n = len(y)
    w = np.linalg.solve(Xc.T @ Xc / n + lam * np.eye(4), Xc.T @ yc / n)
    np.testing.assert_allclose(m.coef_, w, rtol=1e-7)
    assert m.intercept_ == pytest.approx(y.mean() - X.mean(0) @ w)


def test_integer_weights_equal_repeated_rows(reg_data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = reg_data
    w = np.random.default_rng(1).integers(0, 4, len(y))
    a = LossRegressor("huber", loss_params={"delta": 0.5}, solver="newton").fit(X, y, w)
    b = LossRegressor("huber", loss_params={"delta": 0.5}, solver="newton").fit(
        np.repeat(X, w, axis=0), np.repeat(y, w)
    )
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-6, atol=1e-8)
    assert a.intercept_ == pytest.approx(b.intercept_, rel=1e-6)


def test_no_intercept(reg_data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = reg_data
    m = LossRegressor(fit_intercept=False).fit(X, y)
    assert m.intercept_ == 0.0
    np.testing.assert_allclose(m.coef_, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-6)


def test_absolute_loss_matches_linear_program(reg_data: tuple[np.ndarray, np.ndarray]) -> None:
    from scipy import optimize

    X, y = reg_data
    y = y.copy()
    y[:30] += 20.0  # gross outliers: LAD ignores them
    m = LossRegressor("absolute_error").fit(X, y)
    n, p = len(y), X.shape[1] + 1
    Xa = np.hstack([X, np.ones((n, 1))])
    c = np.r_[np.zeros(p), np.ones(2 * n) / n]
    A = np.hstack([Xa, np.eye(n), -np.eye(n)])
    lp = optimize.linprog(c, A_eq=A, b_eq=y, bounds=[(None, None)] * p + [(0, None)] * (2 * n))
    theta = lp.x[:p]
    np.testing.assert_allclose(np.r_[m.coef_, m.intercept_], theta, atol=0.05)
    assert np.mean(np.abs(y - Xa @ np.r_[m.coef_, m.intercept_])) == pytest.approx(lp.fun, rel=1e-3)


def test_params_protocol() -> None:
    m = LossRegressor("huber", loss_params={"delta": 2.0}, l2=0.1)
    params = m.get_params()
    assert params == {
        "fit_intercept": True,
        "l2": 0.1,
        "loss": "huber",
        "loss_params": {"delta": 2.0},
        "max_iter": 1000,
        "solver": "lbfgs",
        "tol": 1e-10,
    }
    clone = type(m)(**params)
    assert clone.get_params() == params
    assert m.set_params(l2=0.5, solver="newton") is m
    assert m.l2 == 0.5
    assert m.solver == "newton"
    with pytest.raises(ValueError, match="invalid parameter"):
        m.set_params(alpha=1.0)
    assert "LossRegressor(" in repr(m)
    assert LossClassifier().get_params()["loss"] == "log_loss"


@pytest.mark.parametrize(
    ("kwargs", "X", "y", "match"),
    [
        ({}, np.ones(5), np.ones(5), "2-D"),
        ({}, np.ones((5, 2)), np.ones(4), "shape"),
        ({}, np.full((5, 2), np.nan), np.ones(5), "NaN"),
        ({}, np.ones((5, 2)), np.r_[np.ones(4), np.inf], "NaN or infinite"),
        ({"solver": "sgd"}, np.ones((5, 2)), np.ones(5), "solver"),
        ({"l2": -1.0}, np.ones((5, 2)), np.ones(5), "l2"),
    ],
)
def test_regressor_errors(
    kwargs: dict[str, object], X: np.ndarray, y: np.ndarray, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        LossRegressor(**kwargs).fit(X, y)  # type: ignore[arg-type]


def test_weight_errors_and_unfitted(reg_data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = reg_data
    with pytest.raises(ValueError, match="sample_weight"):
        LossRegressor().fit(X, y, -np.ones(len(y)))
    with pytest.raises(ValueError, match="sample_weight"):
        LossRegressor().fit(X, y, np.ones(3))
    with pytest.raises(ValueError, match="not fitted"):
        LossRegressor().predict(X)
    m = LossRegressor().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        m.predict(X[:, :2])


@pytest.fixture
def clf_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    X = rng.standard_normal((400, 3))
    p = 1 / (1 + np.exp(-(X @ np.array([2.0, -1.0, 0.5]) - 0.5)))
    y = np.where(rng.random(400) < p, "yes", "no")
    return X, y


@pytest.mark.parametrize("solver", ["lbfgs", "newton"])
def test_classifier_log_loss(clf_data: tuple[np.ndarray, np.ndarray], solver: str) -> None:
    X, y = clf_data
    m = LossClassifier(solver=solver).fit(X, y)
    assert list(m.classes_) == ["no", "yes"]
    proba = m.predict_proba(X)
    assert proba.shape == (400, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    pred = m.predict(X)
    assert set(pred) <= {"yes", "no"}
    np.testing.assert_array_equal(pred == "yes", proba[:, 1] >= 0.5)
    assert np.mean(pred == y) > 0.7
    # gradient of the mean log loss vanishes at the optimum
    z = m.decision_function(X)
    r = 1 / (1 + np.exp(-z)) - (y == "yes")
    np.testing.assert_allclose(X.T @ r / len(y), 0.0, atol=1e-6)
    assert abs(r.mean()) < 1e-6


def test_classifier_focal_and_errors(clf_data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = clf_data
    m = LossClassifier("focal", loss_params={"gamma": 2.0, "alpha": 0.5}).fit(X, y)
    assert np.mean(m.predict(X) == y) > 0.7
    with pytest.raises(ValueError, match="two classes"):
        LossClassifier().fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="logit link"):
        LossClassifier("half_squared_error").fit(X, y)


def test_linear_does_not_import_sklearn() -> None:
    code = "import sys, losslab.linear; assert 'sklearn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
