"""losslab.xgboost: parity with XGBoost's built-in objectives, proof that the callable runs,
the native API (objective, metric, base margin, multiclass shapes) and scikit-learn's
estimator checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import xgboost
from sklearn.utils.estimator_checks import parametrize_with_checks

import losslab
import losslab._boosting
import losslab.xgboost as lx

SEED = 11
ROUNDS = 15
PARAMS: dict[str, Any] = {
    "tree_method": "hist",
    "max_depth": 3,
    "eta": 0.3,
    "nthread": 1,
    "seed": SEED,
}
MARGIN_ATOL = 2e-5  # float32 margins after 15 rounds


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
    [("log_loss", "binary:logistic", "bin"), ("half_squared_error", "reg:squarederror", "reg")],
)
def test_native_parity_with_builtin(weighted: bool, name: str, builtin: str, label: str) -> None:
    X, y_bin, y_reg, w = _data()
    y = y_bin if label == "bin" else y_reg
    weight = w if weighted else None
    ref = xgboost.train(
        {**PARAMS, "objective": builtin}, xgboost.DMatrix(X, label=y, weight=weight), ROUNDS
    )
    ref_margin = ref.predict(xgboost.DMatrix(X), output_margin=True)
    base = lx.init_margin(name, y, sample_weight=weight)
    obj = lx.objective(name)
    booster = xgboost.train(
        PARAMS, xgboost.DMatrix(X, label=y, weight=weight, base_margin=base), ROUNDS, obj=obj
    )
    margin = booster.predict(xgboost.DMatrix(X, base_margin=base), output_margin=True)
    assert obj.n_calls == ROUNDS  # the callable is really called, once per round
    np.testing.assert_allclose(margin, ref_margin, rtol=0, atol=MARGIN_ATOL)


@pytest.mark.parametrize("weighted", [False, True])
def test_estimator_parity_with_builtin(weighted: bool) -> None:
    X, y_bin, y_reg, w = _data()
    weight = w if weighted else None
    opts = {"n_estimators": ROUNDS, "max_depth": 3, "learning_rate": 0.3, "n_jobs": 1}
    ref = xgboost.XGBClassifier(**opts).fit(X, y_bin, sample_weight=weight)
    ours = lx.XGBClassifier(loss="log_loss", **opts).fit(X, y_bin, sample_weight=weight)
    np.testing.assert_allclose(
        ours.decision_function(X), ref.predict(X, output_margin=True), atol=MARGIN_ATOL
    )
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(ours.predict(X), ref.predict(X))
    ref_r = xgboost.XGBRegressor(**opts).fit(X, y_reg, sample_weight=weight)
    ours_r = lx.XGBRegressor(loss="half_squared_error", **opts).fit(X, y_reg, sample_weight=weight)
    np.testing.assert_allclose(ours_r.predict(X), ref_r.predict(X), atol=5e-5)


def test_estimator_calls_losslab(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = losslab._boosting.LossAdapter.gradient_hessian

    def spy(self: Any, y: Any, z: Any, w: Any = None) -> Any:
        calls.append(self.loss.name)
        return original(self, y, z, w)

    monkeypatch.setattr(losslab._boosting.LossAdapter, "gradient_hessian", spy)
    X, y_bin, _, _ = _data(500)
    lx.XGBClassifier(loss="focal", n_estimators=7, n_jobs=1).fit(X, y_bin)
    assert calls == ["focal"] * 7


def test_a_different_loss_gives_a_different_model() -> None:
    X, y_bin, _, _ = _data(1000)
    a = lx.XGBClassifier(loss="log_loss", n_estimators=5, n_jobs=1).fit(X, y_bin)
    b = lx.XGBClassifier(loss="focal", n_estimators=5, n_jobs=1).fit(X, y_bin)
    assert np.max(np.abs(a.decision_function(X) - b.decision_function(X))) > 0.05


def test_native_metric_and_weights() -> None:
    X, y_bin, _, w = _data(1000)
    focal = losslab.get_loss("focal", gamma=2.0)
    base = lx.init_margin(focal, y_bin, sample_weight=w)
    dtrain = xgboost.DMatrix(X, label=y_bin, weight=w, base_margin=base)
    history: dict[str, Any] = {}
    booster = xgboost.train(
        {**PARAMS, "disable_default_eval_metric": 1, **lx.FOCAL_DEFAULTS},
        dtrain,
        ROUNDS,
        obj=lx.objective(focal),
        custom_metric=lx.metric(focal),
        evals=[(dtrain, "train")],
        evals_result=history,
        verbose_eval=False,
    )
    values = history["train"]["losslab_focal"]
    assert values[-1] < values[0]
    margin = booster.predict(dtrain, output_margin=True)
    expected = float(np.sum(w * focal.loss(y_bin, margin.astype(np.float64))) / np.sum(w))
    assert values[-1] == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("name", ["softmax_cross_entropy", "softmax_focal"])
def test_native_multiclass_shapes(name: str) -> None:
    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(600, 4))
    k = rng.integers(0, 4, 600)
    X[:, 0] += k
    base = lx.init_margin(name, k)
    assert base.shape == (600, 4)
    shapes: list[tuple[int, ...]] = []
    obj = lx.objective(name)

    def fobj(predt: Any, dtrain: Any) -> Any:
        shapes.append(predt.shape)
        g, h = obj(predt, dtrain)
        assert g.shape == h.shape == predt.shape
        return g, h

    booster = xgboost.train(
        {**PARAMS, "num_class": 4},
        xgboost.DMatrix(X, label=k, base_margin=base),
        5,
        obj=fobj,
    )
    assert shapes == [(600, 4)] * 5
    margin = booster.predict(xgboost.DMatrix(X, base_margin=base), output_margin=True)
    proba = losslab.get_loss(name).link.inverse(margin)
    assert np.mean(np.argmax(proba, axis=1) == k) > 0.5


def test_focal_defaults_applied_and_overridable() -> None:
    clf = lx.XGBClassifier(loss="focal")
    params = clf.get_xgb_params()
    assert params["min_child_weight"] == lx.FOCAL_DEFAULTS["min_child_weight"]
    assert params["max_delta_step"] == lx.FOCAL_DEFAULTS["max_delta_step"]
    assert "loss" not in params
    assert "hessian" not in params
    assert lx.XGBClassifier(loss="focal", min_child_weight=2.0).get_xgb_params()[
        "min_child_weight"
    ] == pytest.approx(2.0)
    assert lx.XGBClassifier(loss="log_loss").get_xgb_params()["min_child_weight"] is None


def test_lazy_dask_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = lx.NoSuchThing  # type: ignore[attr-defined]


def _expected_failures(est: Any) -> dict[str, str]:
    if isinstance(est, lx.XGBClassifier):
        why = (
            "XGBoost's quantile sketch weighs the bin edges by sample_weight, so weights are "
            "not exactly repeated rows (xgboost.XGBClassifier fails this too)"
        )
        return {
            "check_sample_weight_equivalence_on_dense_data": why,
            "check_sample_weight_equivalence_on_sparse_data": why,
        }
    return {}


# XGBoost warns when it converts scipy's dok/lil sparse arrays to CSR (the sparse checks).
@pytest.mark.filterwarnings("ignore:Unknown data type:UserWarning")
@parametrize_with_checks(
    [
        lx.XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1),
        lx.XGBRegressor(n_estimators=10, max_depth=3, n_jobs=1),
    ],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)
