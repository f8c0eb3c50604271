"""The boosting adapter (Hessian policies, weights, shapes) and behaviour shared by the XGBoost
and LightGBM estimators: probabilities, pickling, Pipeline / GridSearchCV, every registered
loss, and focal stability on imbalanced data (including a warm start where exact focal
Hessians are negative)."""

from __future__ import annotations

import pickle
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("lightgbm")
pytest.importorskip("xgboost")
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import losslab
import losslab.lightgbm as llgb
import losslab.xgboost as lxgb
from losslab._boosting import (
    BoostingObjective,
    HessianPolicy,
    LossAdapter,
    default_policy,
    resolve_policy,
)

RNG_SEED = 20261126

EXPECTED_DEFAULT = {
    "log_loss": "exact",
    "focal": "gauss_newton",
    "focal_star": "exact",
    "softmax_cross_entropy": "exact",
    "softmax_focal": "gauss_newton",
    "squared_error": "exact",
    "half_squared_error": "exact",
    "absolute_error": "constant",
    "huber": "floor",
    "pseudo_huber": "constant",
    "log_cosh": "constant",
    "pinball": "constant",
}


def _binary_data(n: int, pos_rate: float, seed: int = RNG_SEED) -> tuple[Any, Any]:
    """Features with signal in two columns; the intercept tuned to ``pos_rate`` positives."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    score = 1.5 * X[:, 0] + X[:, 1]
    threshold = np.quantile(score + rng.logistic(size=n) * 0.5, 1.0 - pos_rate)
    y = (score + rng.logistic(size=n) * 0.5 > threshold).astype(np.float64)
    if y.sum() == 0:
        y[np.argmax(score)] = 1.0
    return X, y


def _targets_for(loss: losslab.Loss, n: int, rng: np.random.Generator) -> Any:
    if loss.kind == "multiclass":
        return rng.integers(0, 3, n).astype(np.float64)
    if loss.kind == "binary":
        return (rng.random(n) < 0.3).astype(np.float64)
    if loss.link.name == "log":  # Poisson, gamma, Tweedie: positive targets
        return np.exp(rng.normal(size=n))
    return rng.normal(size=n) * 2.0


# ---------------------------------------------------------------------- adapter
def test_import_losslab_does_not_import_boosting_libraries() -> None:
    code = (
        "import sys, losslab; "
        "print(sorted(m for m in ('xgboost', 'lightgbm', 'distributed', 'sklearn') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", sorted(EXPECTED_DEFAULT))
def test_default_policy_per_loss(name: str) -> None:
    loss = losslab.get_loss(name)
    assert default_policy(loss).name == EXPECTED_DEFAULT[name]


@pytest.mark.parametrize("name", sorted(losslab.LOSSES))
def test_default_policy_is_the_first_offered_and_usable(name: str) -> None:
    loss = losslab.get_loss(name)
    assert default_policy(loss) == loss.hessian_policies[0]
    assert resolve_policy(loss, None) == default_policy(loss)


def test_focal_gamma_zero_is_exact() -> None:
    assert default_policy(losslab.get_loss("focal", gamma=0.0)).name == "exact"


def test_policy_errors() -> None:
    with pytest.raises(ValueError, match="0 almost everywhere"):
        resolve_policy(losslab.get_loss("absolute_error"), "exact")
    with pytest.raises(ValueError, match="logit or softmax"):
        resolve_policy(losslab.get_loss("huber"), "gauss_newton")
    with pytest.raises(ValueError, match="must be one of"):
        HessianPolicy("clip")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="floor"):
        HessianPolicy("floor", floor=0.0)
    with pytest.raises(TypeError):
        resolve_policy(losslab.get_loss("log_loss"), 3)  # type: ignore[arg-type]


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0, 5.0])
@pytest.mark.parametrize("alpha", [0.25, None, 0.01])
def test_gauss_newton_focal_is_positive_where_exact_is_negative(
    gamma: float, alpha: float | None
) -> None:
    loss = losslab.get_loss("focal", gamma=gamma, alpha=alpha)
    adapter = LossAdapter(loss)
    z = np.linspace(-30.0, 30.0, 6001)
    for label in (0.0, 1.0):
        y = np.full_like(z, label)
        g, h = adapter.gradient_hessian(y, z)
        exact_g, exact_h = loss.gradient_hessian(y, z)
        np.testing.assert_array_equal(g, exact_g)
        assert np.all(h > 0)
        assert np.all(np.isfinite(h))
        if gamma >= 1:
            assert np.any(exact_h < 0)  # the policy matters here
        # easy examples: gamma / (gamma + 1) of the exact Hessian
        easy = (2 * label - 1) * z > 15
        np.testing.assert_allclose(h[easy] / exact_h[easy], gamma / (gamma + 1), rtol=2e-3)


def test_gauss_newton_is_expected_hessian_for_log_loss() -> None:
    # focal with gamma = 0 and no alpha is log loss: E_y[h_gn] = p (1 - p), the exact Hessian
    adapter = LossAdapter(losslab.get_loss("focal", gamma=0.0, alpha=None), "gauss_newton")
    z = np.linspace(-8, 8, 101)
    p = 1 / (1 + np.exp(-z))
    _, h1 = adapter.gradient_hessian(np.ones_like(z), z)
    _, h0 = adapter.gradient_hessian(np.zeros_like(z), z)
    np.testing.assert_allclose(p * h1 + (1 - p) * h0, p * (1 - p), rtol=1e-12)


@pytest.mark.parametrize("targets", ["index", "proba"])
def test_gauss_newton_softmax_focal_positive(targets: str) -> None:
    rng = np.random.default_rng(RNG_SEED)
    loss = losslab.get_loss("softmax_focal", gamma=2.0)
    z = rng.normal(size=(2000, 4)) * 6
    y: Any = rng.integers(0, 4, 2000).astype(np.float64)
    if targets == "proba":
        y = np.eye(4)[y.astype(int)] * 0.8 + 0.05
    g, h = LossAdapter(loss).gradient_hessian(y, z)
    assert g.shape == h.shape == (2000, 4)
    assert np.all(h > 0)
    if targets == "index":
        assert np.any(loss.hessian(y, z) < 0)


def test_constant_and_floor_policies() -> None:
    y = np.array([0.0, 1.0, 2.0, 3.0])
    z = np.array([5.0, 1.0, 2.0, -1.0])
    _, h = LossAdapter("absolute_error").gradient_hessian(y, z)
    np.testing.assert_array_equal(h, 1.0)
    _, h = LossAdapter("absolute_error", HessianPolicy("constant", value=0.25)).gradient_hessian(
        y, z
    )
    np.testing.assert_array_equal(h, 0.25)
    _, h = LossAdapter("huber").gradient_hessian(y, z)  # floor 1: 1 inside and outside
    np.testing.assert_array_equal(h, 1.0)
    _, h = LossAdapter("huber", HessianPolicy("floor", floor=0.1)).gradient_hessian(y, z)
    np.testing.assert_array_equal(h, [0.1, 1.0, 1.0, 0.1])


@pytest.mark.parametrize("name", sorted(losslab.LOSSES))
def test_weights_multiply_and_shapes(name: str) -> None:
    rng = np.random.default_rng(RNG_SEED)
    loss = losslab.get_loss(name)
    n = 50
    y = _targets_for(loss, n, rng)
    z = rng.normal(size=(n, 3) if loss.is_multiclass else n)
    w = rng.uniform(0.1, 3.0, n)
    adapter = LossAdapter(loss)
    g, h = adapter.gradient_hessian(y, z)
    gw, hw = LossAdapter(loss).gradient_hessian(y, z, w)
    wb = w[:, None] if loss.is_multiclass else w
    np.testing.assert_allclose(gw, g * wb, rtol=1e-14)
    np.testing.assert_allclose(hw, h * wb, rtol=1e-14)
    assert g.shape == z.shape
    assert np.all(np.isfinite(g))
    assert np.all(np.isfinite(h))
    assert np.all(h > 0)  # every default policy is positive on these inputs
    # an empty weight array (what XGBoost passes) means no weights
    g0, _ = LossAdapter(loss).gradient_hessian(y, z, np.empty(0, dtype=np.float32))
    np.testing.assert_array_equal(g0, g)
    if not loss.is_multiclass:  # (n, 1) margins come back as (n, 1)
        g2, _ = LossAdapter(loss).gradient_hessian(y, z[:, None])
        assert g2.shape == (n, 1)


def test_first_call_validates_then_skips() -> None:
    adapter = LossAdapter("log_loss")
    with pytest.raises(ValueError, match="y_true"):
        adapter.gradient_hessian(np.array([0.0, 2.0]), np.zeros(2))
    with pytest.raises(ValueError, match="sample_weight"):
        LossAdapter("log_loss").gradient_hessian(np.ones(2), np.zeros(2), np.array([1.0, -1.0]))
    ok = LossAdapter("log_loss")
    ok.gradient_hessian(np.ones(2), np.zeros(2))
    assert ok._validated


def test_float32_margins_keep_dtype() -> None:
    g, h = LossAdapter("focal").gradient_hessian(
        np.ones(4, dtype=np.float32), np.zeros(4, dtype=np.float32)
    )
    assert g.dtype == h.dtype == np.float32


def test_objective_metric_picklable() -> None:
    obj = BoostingObjective(losslab.get_loss("focal", gamma=3.0), "floor")
    obj2 = pickle.loads(pickle.dumps(obj))
    y, z = np.array([0.0, 1.0]), np.array([0.3, -2.0])
    np.testing.assert_array_equal(obj(y, z)[1], obj2(y, z)[1])
    assert obj2.adapter.policy == HessianPolicy("floor")


def test_metric_is_weighted_mean_loss() -> None:
    rng = np.random.default_rng(RNG_SEED)
    y = (rng.random(100) < 0.4).astype(float)
    z = rng.normal(size=100)
    w = rng.uniform(0.5, 2, 100)
    focal = losslab.get_loss("focal")
    expected = float(np.sum(w * focal.loss(y, z)) / np.sum(w))
    assert LossAdapter(focal).metric(y, z, w) == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------------- estimators (both)
def _options(lib: str, kw: dict[str, Any]) -> dict[str, Any]:
    base: dict[str, Any] = {"n_estimators": 20, "n_jobs": 1, "random_state": 0}
    if lib == "xgboost":
        base["max_depth"] = 3
    else:
        base.update(num_leaves=7, verbose=-1)
    return {**base, **kw}


def _classifier(lib: str, **kw: Any) -> Any:
    cls = lxgb.XGBClassifier if lib == "xgboost" else llgb.LGBMClassifier
    return cls(**_options(lib, kw))


def _regressor(lib: str, **kw: Any) -> Any:
    cls = lxgb.XGBRegressor if lib == "xgboost" else llgb.LGBMRegressor
    return cls(**_options(lib, kw))


LIBS = ["xgboost", "lightgbm"]


@pytest.mark.parametrize("lib", LIBS)
def test_done_criterion_focal_classifier(lib: str) -> None:
    X, y = _binary_data(3000, 0.05)
    focal = losslab.get_loss("focal", gamma=2)
    clf = _classifier(lib, loss=focal).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (3000, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all((proba >= 0) & (proba <= 1))
    assert clf.init_score_ == pytest.approx(focal.fit_intercept_only(y))
    margin = clf.decision_function(X)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-margin)), rtol=1e-6)
    # trained: the focal loss fell well below the intercept-only loss
    start = float(focal(y, np.full(3000, float(clf.init_score_))))
    assert float(focal(y, margin)) < 0.6 * start
    assert clf.hessian_policy_.name == "gauss_newton"


@pytest.mark.parametrize("lib", LIBS)
def test_classifier_labels_and_multiclass(lib: str) -> None:
    rng = np.random.default_rng(RNG_SEED)
    X = rng.normal(size=(900, 4))
    k = rng.integers(0, 3, 900)
    X[:, 0] += 2.0 * k
    labels = np.array(["a", "b", "c"])[k]
    for name in ("softmax_cross_entropy", "softmax_focal"):
        clf = _classifier(lib, loss=name).fit(X, labels)
        proba = clf.predict_proba(X)
        assert proba.shape == (900, 3)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
        assert list(clf.classes_) == ["a", "b", "c"]
        assert np.mean(clf.predict(X) == labels) > 0.8
    binary = np.where(k > 0, "yes", "no")
    clf = _classifier(lib, loss="log_loss").fit(X, binary)
    assert set(clf.predict(X)) <= {"no", "yes"}
    with pytest.raises(ValueError, match="exactly 2 classes"):
        _classifier(lib, loss="focal").fit(X, labels)
    with pytest.raises(ValueError, match="at least 3 classes"):
        _classifier(lib, loss="softmax_focal").fit(X, binary)
    with pytest.raises(ValueError, match="regression loss"):
        _classifier(lib, loss="huber").fit(X, binary)
    with pytest.raises(ValueError, match="leave `objective`"):
        _classifier(lib, objective="binary:logistic").fit(X, binary)


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize(
    "name", [n for n in sorted(losslab.LOSSES) if losslab.LOSSES[n].kind == "regression"]
)
def test_every_regression_loss_trains(lib: str, name: str) -> None:
    rng = np.random.default_rng(RNG_SEED)
    X = rng.normal(size=(1500, 4))
    y = 2.0 * X[:, 0] + np.sin(X[:, 1]) + rng.standard_t(3, 1500) * 0.3
    loss = losslab.get_loss(name)
    log_link = loss.link.name == "log"
    if log_link:  # Poisson, gamma, Tweedie: a positive target with a log-linear mean
        true_raw = 0.5 * X[:, 0] + 0.3 * np.sin(X[:, 1])
        y = np.exp(true_raw) * rng.gamma(4.0, 0.25, 1500)
    reg = _regressor(lib, loss=loss, learning_rate=0.3).fit(X, y)
    pred = reg.predict(X)
    assert pred.shape == (1500,)
    assert np.all(np.isfinite(pred))
    assert reg.init_score_ == pytest.approx(loss.fit_intercept_only(y))
    start = float(loss(y, np.full(1500, float(reg.init_score_))))
    if not log_link:
        assert float(loss(y, pred)) < 0.7 * start
        return
    # predict is the mean exp(raw); these losses have a floor: close half the gap to the truth
    oracle = float(loss(y, true_raw))
    assert float(loss(y, np.log(pred))) < oracle + 0.5 * (start - oracle)


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize(
    "name", [n for n in sorted(losslab.LOSSES) if losslab.LOSSES[n].kind != "regression"]
)
def test_every_classification_loss_trains(lib: str, name: str) -> None:
    rng = np.random.default_rng(RNG_SEED)
    loss = losslab.get_loss(name)
    X = rng.normal(size=(1500, 4))
    if loss.is_multiclass:
        y = rng.integers(0, 3, 1500)
        X[:, 0] += 1.5 * y
    else:
        y = (X[:, 0] + rng.logistic(size=1500) * 0.5 > 0.8).astype(int)
    clf = _classifier(lib, loss=loss, learning_rate=0.3).fit(X, y)
    margin = np.asarray(clf.decision_function(X))
    start_margin = np.broadcast_to(clf.init_score_, margin.shape)
    assert float(loss(y, margin)) < 0.8 * float(loss(y, np.array(start_margin)))
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("lib", LIBS)
def test_sample_weights_are_applied(lib: str) -> None:
    X, y = _binary_data(2000, 0.2)
    w = np.where(y == 1, 5.0, 1.0)
    plain = _classifier(lib, loss="focal").fit(X, y)
    weighted = _classifier(lib, loss="focal").fit(X, y, sample_weight=w)
    # integer weights equal repeated rows for the init score; positives get more probability
    assert weighted.init_score_ > plain.init_score_
    assert weighted.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean()


@pytest.mark.parametrize("lib", LIBS)
def test_pickle_clone_pipeline_gridsearch(lib: str) -> None:
    X, y = _binary_data(600, 0.3)
    clf = _classifier(lib, loss=losslab.get_loss("focal", gamma=1.0))
    params = clf.get_params()
    assert params["loss"] == losslab.get_loss("focal", gamma=1.0)
    assert "hessian" in params
    clf.fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    cloned = clone(clf)
    assert cloned.get_params()["loss"] == clf.get_params()["loss"]
    pipe = make_pipeline(StandardScaler(), _classifier(lib))
    grid = GridSearchCV(
        pipe,
        {
            f"{pipe.steps[-1][0]}__loss": [
                losslab.get_loss("log_loss"),
                losslab.get_loss("focal", gamma=2.0),
            ]
        },
        cv=2,
        scoring="neg_log_loss",
    )
    grid.fit(X, y)
    assert grid.best_estimator_.predict_proba(X).shape == (600, 2)
    assert np.isfinite(grid.best_score_)


@pytest.mark.parametrize("lib", LIBS)
def test_eval_set_gets_init_score_and_metric(lib: str) -> None:
    X, y = _binary_data(1000, 0.1)
    focal = losslab.get_loss("focal")
    if lib == "xgboost":
        clf = _classifier(lib, loss=focal, eval_metric=lxgb.sklearn_metric(focal))
        clf.fit(X, y, eval_set=[(X, y)], verbose=False)
        history = clf.evals_result()["validation_0"]["losslab_focal"]
    else:
        clf = _classifier(lib, loss=focal)
        clf.fit(X, y, eval_set=[(X, y)], eval_metric=llgb.sklearn_metric(focal))
        history = clf.evals_result_["valid_0"]["losslab_focal"]
    final = float(focal(y, clf.decision_function(X)))
    assert history[-1] == pytest.approx(final, rel=1e-4)  # XGBoost logs 6 digits
    assert history[-1] < history[0]


# ---------------------------------------------------------------------- stability
@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("pos_rate", [0.01, 0.001])
@pytest.mark.parametrize("gamma", [1.0, 2.0, 5.0])
def test_focal_stability_sweep(lib: str, pos_rate: float, gamma: float) -> None:
    X, y = _binary_data(20000, pos_rate, seed=int(pos_rate * 1e4) + int(gamma))
    focal = losslab.get_loss("focal", gamma=gamma, alpha=0.25)
    clf = _classifier(lib, loss=focal, learning_rate=0.3, n_estimators=30).fit(X, y)
    margin = clf.decision_function(X)
    assert np.all(np.isfinite(margin))
    assert np.max(np.abs(margin)) < 40.0  # no runaway margins
    start = float(focal(y, np.full(len(y), float(clf.init_score_))))
    assert float(focal(y, margin)) < start


@pytest.mark.parametrize("lib", LIBS)
def test_focal_warm_start_from_overconfident_margins(lib: str) -> None:
    # Margins of another (overfitted, overconfident) log-loss model: many hard examples sit
    # where the exact focal Hessian is negative; the default policy must still train.
    X, y = _binary_data(20000, 0.01, seed=7)
    noisy = y.copy()
    rng = np.random.default_rng(3)
    flip = rng.random(len(y)) < 0.01
    noisy[flip] = 1 - noisy[flip]
    base = _classifier(lib, loss="log_loss", learning_rate=1.0, n_estimators=30)
    base.fit(X, noisy)
    warm = 3.0 * np.asarray(base.decision_function(X))
    focal = losslab.get_loss("focal", gamma=2.0)
    exact_h = focal.hessian(y, warm)
    assert np.mean(exact_h < 0) > 0.001  # the case the policy is for
    clf = _classifier(lib, loss=focal, learning_rate=0.3, n_estimators=30)
    if lib == "xgboost":
        clf.fit(X, y, base_margin=warm)
        margin = clf.decision_function(X, base_margin=warm)
    else:
        clf.fit(X, y, init_score=warm)
        margin = clf.decision_function(X, init_score=warm)
    assert np.all(np.isfinite(margin))
    assert np.max(np.abs(margin - warm)) < 30.0
    assert float(focal(y, margin)) < float(focal(y, warm))
