"""losslab.lightgbm: parity with LightGBM's built-in objectives, proof that the callable runs,
the native API (objective, metric, init score, multiclass shapes) and scikit-learn's
estimator checks."""

from __future__ import annotations

from typing import Any

import lightgbm
import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import losslab
import losslab._boosting
import losslab.lightgbm as ll

SEED = 13
ROUNDS = 15
PARAMS: dict[str, Any] = {
    "num_leaves": 7,
    "learning_rate": 0.3,
    "num_threads": 1,
    "seed": SEED,
    "deterministic": True,
    "verbose": -1,
}
MARGIN_ATOL = 1e-7  # LightGBM computes scores in float64


def _data(n: int = 3000) -> tuple[Any, Any, Any, Any]:
    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(n, 5))
    y_bin = (X[:, 0] + 0.5 * X[:, 1] + rng.logistic(size=n) * 0.7 > 1.2).astype(np.float64)
    y_reg = 3.0 * X[:, 0] - X[:, 2] ** 2 + rng.normal(size=n)
    w = rng.uniform(0.2, 3.0, n)
    return X, y_bin, y_reg, w


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(
    ("name", "builtin", "label"),
    [("log_loss", "binary", "bin"), ("half_squared_error", "regression", "reg")],
)
def test_native_parity_with_builtin(weighted: bool, name: str, builtin: str, label: str) -> None:
    X, y_bin, y_reg, w = _data()
    y = y_bin if label == "bin" else y_reg
    weight = w if weighted else None
    ref = lightgbm.train(
        {**PARAMS, "objective": builtin}, lightgbm.Dataset(X, label=y, weight=weight), ROUNDS
    )
    init = ll.init_score(name, y, sample_weight=weight)
    obj = ll.objective(name)
    calls: list[int] = []

    def fobj(preds: Any, data: Any) -> Any:
        calls.append(1)
        return obj(preds, data)

    booster = lightgbm.train(
        {**PARAMS, "objective": fobj},
        lightgbm.Dataset(X, label=y, weight=weight, init_score=init),
        ROUNDS,
    )
    assert len(calls) == ROUNDS  # the callable is really called, once per round
    margin = booster.predict(X, raw_score=True) + init  # LightGBM never adds init_score back
    np.testing.assert_allclose(margin, ref.predict(X, raw_score=True), rtol=0, atol=MARGIN_ATOL)


@pytest.mark.parametrize("weighted", [False, True])
def test_estimator_parity_with_builtin(weighted: bool) -> None:
    X, y_bin, y_reg, w = _data()
    weight = w if weighted else None
    opts: dict[str, Any] = {
        "n_estimators": ROUNDS,
        "num_leaves": 7,
        "learning_rate": 0.3,
        "n_jobs": 1,
        "verbose": -1,
        "deterministic": True,
    }
    ref = lightgbm.LGBMClassifier(**opts).fit(X, y_bin, sample_weight=weight)
    ours = ll.LGBMClassifier(loss="log_loss", **opts).fit(X, y_bin, sample_weight=weight)
    np.testing.assert_allclose(
        ours.decision_function(X), ref.predict(X, raw_score=True), atol=MARGIN_ATOL
    )
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-9)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    ref_r = lightgbm.LGBMRegressor(**opts).fit(X, y_reg, sample_weight=weight)
    ours_r = ll.LGBMRegressor(loss="half_squared_error", **opts).fit(X, y_reg, sample_weight=weight)
    np.testing.assert_allclose(ours_r.predict(X), ref_r.predict(X), atol=1e-7)


def test_estimator_calls_losslab(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = losslab._boosting.LossAdapter.gradient_hessian

    def spy(self: Any, y: Any, z: Any, w: Any = None) -> Any:
        calls.append(self.loss.name)
        return original(self, y, z, w)

    monkeypatch.setattr(losslab._boosting.LossAdapter, "gradient_hessian", spy)
    X, y_bin, _, _ = _data(500)
    clf = ll.LGBMClassifier(loss="focal", n_estimators=7, n_jobs=1, verbose=-1).fit(X, y_bin)
    assert calls == ["focal"] * 7
    assert callable(clf.objective_)
    assert clf.objective is None  # the parameter is left as given


def test_a_different_loss_gives_a_different_model() -> None:
    X, y_bin, _, _ = _data(1000)
    opts: dict[str, Any] = {"n_estimators": 5, "n_jobs": 1, "verbose": -1}
    a = ll.LGBMClassifier(loss="log_loss", **opts).fit(X, y_bin)
    b = ll.LGBMClassifier(loss="focal", **opts).fit(X, y_bin)
    assert np.max(np.abs(a.decision_function(X) - b.decision_function(X))) > 0.05


def test_native_metric_and_weights() -> None:
    X, y_bin, _, w = _data(1000)
    focal = losslab.get_loss("focal", gamma=2.0)
    init = ll.init_score(focal, y_bin, sample_weight=w)
    dtrain = lightgbm.Dataset(X, label=y_bin, weight=w, init_score=init)
    history: dict[str, Any] = {}
    booster = lightgbm.train(
        {**PARAMS, "objective": ll.objective(focal), "metric": "None", **ll.FOCAL_DEFAULTS},
        dtrain,
        ROUNDS,
        valid_sets=[dtrain],
        valid_names=["train"],
        feval=ll.metric(focal),
        callbacks=[lightgbm.record_evaluation(history)],
    )
    values = history["train"]["losslab_focal"]
    assert values[-1] < values[0]
    margin = booster.predict(X, raw_score=True) + init
    expected = float(np.sum(w * focal.loss(y_bin, margin)) / np.sum(w))
    assert values[-1] == pytest.approx(expected, rel=1e-7)


@pytest.mark.parametrize("name", ["softmax_cross_entropy", "softmax_focal"])
def test_native_multiclass_shapes(name: str) -> None:
    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(600, 4))
    k = rng.integers(0, 4, 600)
    X[:, 0] += k
    init = ll.init_score(name, k)
    assert init.shape == (600, 4)
    obj = ll.objective(name)
    shapes: list[tuple[int, ...]] = []

    def fobj(preds: Any, data: Any) -> Any:
        shapes.append(preds.shape)
        g, h = obj(preds, data)
        assert g.shape == h.shape == preds.shape
        return g, h

    booster = lightgbm.train(
        {**PARAMS, "objective": fobj, "num_class": 4},
        lightgbm.Dataset(X, label=k, init_score=init),
        5,
    )
    assert shapes == [(600, 4)] * 5
    margin = booster.predict(X, raw_score=True) + init
    proba = losslab.get_loss(name).link.inverse(margin)
    assert np.mean(np.argmax(proba, axis=1) == k) > 0.5


def test_focal_defaults_and_hidden_params() -> None:
    clf = ll.LGBMClassifier(loss="focal", n_jobs=1)
    clf._n_classes = 2  # what fit sets before processing the parameters
    clf._objective = None
    params = clf._process_params("predict")
    assert params["min_child_weight"] == ll.FOCAL_DEFAULTS["min_child_weight"]
    assert params["max_delta_step"] == ll.FOCAL_DEFAULTS["max_delta_step"]
    assert "loss" not in params  # "loss" is LightGBM's alias of "objective"
    assert "hessian" not in params
    assert params["metric"] == "None"
    assert clf.get_params()["loss"] == "focal"
    plain = ll.LGBMClassifier(loss="log_loss")
    plain._n_classes = 2
    plain._objective = None
    assert plain._process_params("predict")["min_child_weight"] == pytest.approx(1e-3)


def test_tiny_data_trains() -> None:
    # LightGBM aborts ("num_features() > 0") with a callable objective when the feature
    # pre-filter drops every feature; the estimators switch the pre-filter off.
    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(30, 3))
    y = rng.normal(size=30)
    reg = ll.LGBMRegressor(n_estimators=3, verbose=-1).fit(X, y)
    np.testing.assert_allclose(reg.predict(X), np.mean(y), atol=1.0)


def test_lazy_dask_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = ll.NoSuchThing  # type: ignore[attr-defined]


@parametrize_with_checks(
    [
        ll.LGBMClassifier(n_estimators=20, n_jobs=1),
        ll.LGBMRegressor(n_estimators=20, n_jobs=1),
    ],
)
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)
