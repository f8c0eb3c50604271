"""XGBoost and LightGBM parity, one parametrised module: losslab's log loss and half squared
error reproduce each library's built-in objective (native API and estimators, with and without
weights), the callable is really called, a different loss gives a different model, the native
metric is the weighted mean loss, and softmax losses get (n, K) shapes.

Each library enters through a :class:`Host` that knows its native API and its tolerances:
XGBoost keeps margins in float32 (2e-5 after 15 rounds), LightGBM in float64 (1e-7).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

pytest.importorskip("lightgbm")
pytest.importorskip("xgboost")

import lightgbm
import numpy as np
import xgboost

import losslab
import losslab._boosting
import losslab.lightgbm as ll
import losslab.xgboost as lx
from _hosts import host_params

SEED = 11
ROUNDS = 15


def _data(n: int = 3000) -> tuple[Any, Any, Any, Any]:
    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(n, 5))
    y_bin = (X[:, 0] + 0.5 * X[:, 1] + rng.logistic(size=n) * 0.7 > 1.2).astype(np.float64)
    y_reg = 3.0 * X[:, 0] - X[:, 2] ** 2 + rng.normal(size=n)
    w = rng.uniform(0.2, 3.0, n)
    return X, y_bin, y_reg, w


@dataclass(frozen=True)
class Host:
    """One boosting library seen by the parity tests."""

    name: str
    builtin: dict[str, str]  # losslab loss name -> the library's built-in objective
    margin_atol: float
    proba_atol: float
    regression_atol: float
    module: Any = field(repr=False)
    classifier: Callable[..., Any] = field(repr=False)
    regressor: Callable[..., Any] = field(repr=False)
    ref_classifier: Callable[..., Any] = field(repr=False)
    ref_regressor: Callable[..., Any] = field(repr=False)
    options: dict[str, Any] = field(repr=False, default_factory=dict)

    def train_builtin(self, objective: str, X: Any, y: Any, w: Any) -> Any:
        """Margins of the built-in objective after ROUNDS rounds."""
        if self.name == "xgboost":
            params = {**XGB_PARAMS, "objective": objective}
            booster = xgboost.train(params, xgboost.DMatrix(X, label=y, weight=w), ROUNDS)
            return booster.predict(xgboost.DMatrix(X), output_margin=True)
        params = {**LGB_PARAMS, "objective": objective}
        booster = lightgbm.train(params, lightgbm.Dataset(X, label=y, weight=w), ROUNDS)
        return booster.predict(X, raw_score=True)

    def train_custom(
        self,
        obj: Any,
        X: Any,
        y: Any,
        w: Any,
        init: Any,
        rounds: int = ROUNDS,
        extra: dict[str, Any] | None = None,
        feval: Any = None,
        history: dict[str, Any] | None = None,
    ) -> Any:
        """Margins (init score added back) of a native custom-objective training."""
        extra = extra or {}
        if self.name == "xgboost":
            dtrain = xgboost.DMatrix(X, label=y, weight=w, base_margin=init)
            evals: dict[str, Any] = {}
            if feval is not None:
                extra = {**extra, "disable_default_eval_metric": 1}
                evals = {
                    "custom_metric": feval,
                    "evals": [(dtrain, "train")],
                    "evals_result": history,
                    "verbose_eval": False,
                }
            booster = xgboost.train({**XGB_PARAMS, **extra}, dtrain, rounds, obj=obj, **evals)
            return booster.predict(xgboost.DMatrix(X, base_margin=init), output_margin=True)
        dtrain = lightgbm.Dataset(X, label=y, weight=w, init_score=init)
        params = {**LGB_PARAMS, **extra, "objective": obj}
        kw: dict[str, Any] = {}
        if feval is not None:
            params["metric"] = "None"
            kw = {
                "valid_sets": [dtrain],
                "valid_names": ["train"],
                "feval": feval,
                "callbacks": [lightgbm.record_evaluation(history)],
            }
        booster = lightgbm.train(params, dtrain, rounds, **kw)
        return booster.predict(X, raw_score=True) + init  # LightGBM never adds init_score back

    def init(self, loss: Any, y: Any, w: Any = None) -> Any:
        """The init score repeated per row (``init_margin`` / ``init_score``)."""
        if self.name == "xgboost":
            return lx.init_margin(loss, y, sample_weight=w)
        return ll.init_score(loss, y, sample_weight=w)


XGB_PARAMS, LGB_PARAMS = host_params(SEED)
HOSTS = [
    Host(
        "xgboost",
        {"log_loss": "binary:logistic", "half_squared_error": "reg:squarederror"},
        margin_atol=2e-5,  # float32 margins after 15 rounds
        proba_atol=1e-5,
        regression_atol=5e-5,
        module=lx,
        classifier=lx.XGBClassifier,
        regressor=lx.XGBRegressor,
        ref_classifier=xgboost.XGBClassifier,
        ref_regressor=xgboost.XGBRegressor,
        options={"max_depth": 3},
    ),
    Host(
        "lightgbm",
        {"log_loss": "binary", "half_squared_error": "regression"},
        margin_atol=1e-7,  # LightGBM computes scores in float64
        proba_atol=1e-9,
        regression_atol=1e-7,
        module=ll,
        classifier=ll.LGBMClassifier,
        regressor=ll.LGBMRegressor,
        ref_classifier=lightgbm.LGBMClassifier,
        ref_regressor=lightgbm.LGBMRegressor,
        options={"num_leaves": 7, "verbose": -1, "deterministic": True},
    ),
]


@pytest.fixture(params=HOSTS, ids=lambda h: h.name)
def host(request: pytest.FixtureRequest) -> Host:
    return request.param  # type: ignore[no-any-return]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("name", "label"), [("log_loss", "bin"), ("half_squared_error", "reg")])
def test_native_parity_with_builtin(host: Host, weighted: bool, name: str, label: str) -> None:
    X, y_bin, y_reg, w = _data()
    y = y_bin if label == "bin" else y_reg
    weight = w if weighted else None
    ref_margin = host.train_builtin(host.builtin[name], X, y, weight)
    obj = host.module.objective(name)
    calls: list[int] = []

    def fobj(predt: Any, data: Any) -> Any:  # LightGBM copies the objective it is given
        calls.append(1)
        return obj(predt, data)

    margin = host.train_custom(fobj, X, y, weight, host.init(name, y, weight))
    assert len(calls) == ROUNDS  # the callable is really called, once per round
    np.testing.assert_allclose(margin, ref_margin, rtol=0, atol=host.margin_atol)


@pytest.mark.parametrize("weighted", [False, True])
def test_estimator_parity_with_builtin(host: Host, weighted: bool) -> None:
    X, y_bin, y_reg, w = _data()
    weight = w if weighted else None
    opts = {"n_estimators": ROUNDS, "learning_rate": 0.3, "n_jobs": 1, **host.options}
    ref = host.ref_classifier(**opts).fit(X, y_bin, sample_weight=weight)
    ours = host.classifier(loss="log_loss", **opts).fit(X, y_bin, sample_weight=weight)
    ref_margin = (
        ref.predict(X, output_margin=True)
        if host.name == "xgboost"
        else ref.predict(X, raw_score=True)
    )
    np.testing.assert_allclose(ours.decision_function(X), ref_margin, atol=host.margin_atol)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=host.proba_atol)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    ref_r = host.ref_regressor(**opts).fit(X, y_reg, sample_weight=weight)
    ours_r = host.regressor(loss="half_squared_error", **opts).fit(X, y_reg, sample_weight=weight)
    np.testing.assert_allclose(ours_r.predict(X), ref_r.predict(X), atol=host.regression_atol)


def test_estimator_calls_losslab(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = losslab._boosting.LossAdapter.gradient_hessian

    def spy(self: Any, y: Any, z: Any, w: Any = None) -> Any:
        calls.append(self.loss.name)
        return original(self, y, z, w)

    monkeypatch.setattr(losslab._boosting.LossAdapter, "gradient_hessian", spy)
    X, y_bin, _, _ = _data(500)
    clf = host.classifier(loss="focal", n_estimators=7, n_jobs=1, **host.options).fit(X, y_bin)
    assert calls == ["focal"] * 7
    assert clf.objective is None  # the parameter is left as given
    if host.name == "lightgbm":
        assert callable(clf.objective_)


def test_a_different_loss_gives_a_different_model(host: Host) -> None:
    X, y_bin, _, _ = _data(1000)
    opts: dict[str, Any] = {"n_estimators": 5, "n_jobs": 1, **host.options}
    a = host.classifier(loss="log_loss", **opts).fit(X, y_bin)
    b = host.classifier(loss="focal", **opts).fit(X, y_bin)
    assert np.max(np.abs(a.decision_function(X) - b.decision_function(X))) > 0.05


def test_native_metric_and_weights(host: Host) -> None:
    X, y_bin, _, w = _data(1000)
    focal = losslab.get_loss("focal", gamma=2.0)
    history: dict[str, Any] = {}
    margin = host.train_custom(
        host.module.objective(focal),
        X,
        y_bin,
        w,
        host.init(focal, y_bin, w),
        extra=host.module.FOCAL_DEFAULTS,
        feval=host.module.metric(focal),
        history=history,
    )
    values = history["train"]["losslab_focal"]
    assert values[-1] < values[0]
    expected = float(np.sum(w * focal.loss(y_bin, margin.astype(np.float64))) / np.sum(w))
    rel = 1e-4 if host.name == "xgboost" else 1e-7  # XGBoost logs float32 margins
    assert values[-1] == pytest.approx(expected, rel=rel)


@pytest.mark.parametrize("name", ["softmax_cross_entropy", "softmax_focal"])
def test_native_multiclass_shapes(host: Host, name: str) -> None:
    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(600, 4))
    k = rng.integers(0, 4, 600)
    X[:, 0] += k
    init = host.init(name, k)
    assert init.shape == (600, 4)
    shapes: list[tuple[int, ...]] = []
    obj = host.module.objective(name)

    def fobj(predt: Any, data: Any) -> Any:
        shapes.append(predt.shape)
        g, h = obj(predt, data)
        assert g.shape == h.shape == predt.shape
        return g, h

    margin = host.train_custom(fobj, X, k, None, init, rounds=5, extra={"num_class": 4})
    assert shapes == [(600, 4)] * 5
    proba = losslab.get_loss(name).link.inverse(margin)
    assert np.mean(np.argmax(proba, axis=1) == k) > 0.5


def test_no_module_getattr(host: Host) -> None:
    # the Dask estimators live in their own module; nothing is built on attribute access
    assert not hasattr(host.module, "__getattr__")
    with pytest.raises(AttributeError):
        _ = host.module.NoSuchThing
