"""Saved models keep the host library's promise: a model saved from a losslab estimator in
the host's own format (XGBoost JSON / UBJ, LightGBM text), loaded by the host library alone,
predicts the same margins and probabilities as the estimator (the init score lives in the
model: XGBoost's base_score, LightGBM's first trees), and losslab's estimators load it back
with its loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lightgbm")
pytest.importorskip("xgboost")

import lightgbm
import numpy as np
import xgboost

import losslab
import losslab.lightgbm as ll
import losslab.xgboost as lx

SEED = 17
N = 1500


def _data() -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(N, 5))
    k = rng.integers(0, 3, N)
    X[:, 1] += 1.5 * k
    return {
        "X": X,
        "binary": (X[:, 0] + rng.logistic(size=N) > 1.8).astype(np.float64),  # ~15 % positives
        "multiclass": np.array(["low", "mid", "top"])[k],
        "regression": 2.0 * X[:, 0] + 5.0 + rng.standard_t(3, N),
        "counts": rng.poisson(np.exp(0.5 * X[:, 0] + 1.0)).astype(np.float64),
    }


CASES = [
    ("binary", losslab.get_loss("focal", gamma=2.0, alpha=0.25)),
    ("multiclass", losslab.get_loss("softmax_focal", gamma=1.0)),
    ("regression", losslab.get_loss("huber", delta=0.5)),
    ("regression", losslab.get_loss("pinball", quantile=0.8)),  # routed to the built-in
    ("counts", losslab.get_loss("half_poisson")),  # log link: the host applies exp
]
REGRESSION = ("regression", "counts")


def _fit(lib: str, task: str, loss: losslab.Loss, data: dict[str, Any]) -> Any:
    opts: dict[str, Any] = {"n_estimators": 15, "n_jobs": 1, "random_state": 0}
    if lib == "lightgbm":
        opts.update(num_leaves=7, verbose=-1)
    else:
        opts.update(max_depth=3)
    module: Any = lx if lib == "xgboost" else ll
    cls = getattr(
        module,
        ("XGB" if lib == "xgboost" else "LGBM")
        + ("Regressor" if task in REGRESSION else "Classifier"),
    )
    return cls(loss=loss, **opts).fit(data["X"], data[task])


def _ours(est: Any, task: str, X: Any) -> tuple[Any, Any]:
    """(margins, what the host's predict returns: probabilities or predictions)."""
    if task in REGRESSION:
        pred = est.predict(X)
        return (np.log(pred) if task == "counts" else pred), pred
    proba = est.predict_proba(X)
    return est.decision_function(X), proba[:, 1] if task == "binary" else proba


def _same_as_loaded(est: Any, again: Any, task: str, X: Any, loss: losslab.Loss) -> None:
    """A losslab estimator that loaded ``est``'s saved model has its loss, init score,
    classes and predictions."""
    assert again.loss_ == loss
    assert again.loss == loss
    np.testing.assert_allclose(np.asarray(again.init_score_), est.init_score_, rtol=1e-12)
    for ours, theirs in zip(_ours(again, task, X), _ours(est, task, X), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    if task not in REGRESSION:
        np.testing.assert_array_equal(again.classes_, est.classes_)
        np.testing.assert_array_equal(again.predict(X), est.predict(X))


@pytest.mark.parametrize(("task", "loss"), CASES, ids=lambda c: getattr(c, "name", c))
@pytest.mark.parametrize("suffix", [".json", ".ubj"])
def test_xgboost_model_loads_in_plain_xgboost(
    tmp_path: Path, task: str, loss: losslab.Loss, suffix: str
) -> None:
    data = _data()
    X = data["X"]
    est = _fit("xgboost", task, loss, data)
    margin, out = _ours(est, task, X)
    path = tmp_path / f"model{suffix}"
    est.save_model(path)
    booster = xgboost.Booster(model_file=str(path))
    np.testing.assert_allclose(
        booster.predict(xgboost.DMatrix(X), output_margin=True), margin, rtol=0, atol=1e-6
    )
    plain: Any = xgboost.XGBRegressor() if task in REGRESSION else xgboost.XGBClassifier()
    plain.load_model(path)
    if task in REGRESSION:
        np.testing.assert_allclose(plain.predict(X), out, rtol=1e-6, atol=1e-5)
    else:
        proba = plain.predict_proba(X)
        np.testing.assert_allclose(proba[:, 1] if task == "binary" else proba, out, atol=1e-6)
    # the init score is really in the model: the trees alone would be off by it
    assert np.max(np.abs(booster.predict(xgboost.DMatrix(X), output_margin=True))) > 0
    again = type(est)()
    again.load_model(path)
    _same_as_loaded(est, again, task, X, loss)
    # the booster's own save carries the same attributes
    est.get_booster().save_model(str(tmp_path / "native.json"))
    native = type(est)()
    native.load_model(tmp_path / "native.json")
    np.testing.assert_array_equal(_ours(native, task, X)[0], margin)


@pytest.mark.parametrize(("task", "loss"), CASES, ids=lambda c: getattr(c, "name", c))
def test_lightgbm_model_loads_in_plain_lightgbm(
    tmp_path: Path, task: str, loss: losslab.Loss
) -> None:
    data = _data()
    X = data["X"]
    est = _fit("lightgbm", task, loss, data)
    margin, out = _ours(est, task, X)
    path = tmp_path / "model.txt"
    est.booster_.save_model(path)
    booster = lightgbm.Booster(model_file=str(path))
    np.testing.assert_allclose(booster.predict(X, raw_score=True), margin, rtol=0, atol=1e-12)
    np.testing.assert_allclose(booster.predict(X), out, rtol=0, atol=1e-12)
    _same_as_loaded(est, type(est)().load_model(path), task, X, loss)
    est.save_model(tmp_path / "same.txt")
    assert (tmp_path / "same.txt").read_text() == path.read_text()


def test_init_score_is_folded_once(tmp_path: Path) -> None:
    # LightGBM's margins = trees + init score with the init in the first trees only
    data = _data()
    focal = losslab.get_loss("focal", gamma=2.0)
    est = _fit("lightgbm", "binary", focal, data)
    first = est.booster_.predict(data["X"], raw_score=True, num_iteration=1)
    params = {
        "objective": ll.objective(focal),
        "num_leaves": 7,
        "verbose": -1,
        "num_threads": 1,
        "seed": 0,
        "feature_pre_filter": False,
        **ll.FOCAL_DEFAULTS,
    }
    dtrain = lightgbm.Dataset(
        data["X"], label=data["binary"], init_score=ll.init_score(focal, data["binary"])
    )
    manual = lightgbm.train(params, dtrain, 1)  # fmt: skip
    np.testing.assert_allclose(
        first, manual.predict(data["X"], raw_score=True) + est.init_score_, atol=1e-9
    )


@pytest.mark.parametrize("lib", ["xgboost", "lightgbm"])
def test_loading_a_plain_model_is_refused(tmp_path: Path, lib: str) -> None:
    data = _data()
    X, y = data["X"], data["binary"]
    if lib == "xgboost":
        path = tmp_path / "plain.json"
        xgboost.XGBClassifier(n_estimators=2).fit(X, y).save_model(path)
        with pytest.raises(ValueError, match="not fitted by a losslab estimator"):
            lx.XGBClassifier().load_model(path)
    else:
        path = tmp_path / "plain.txt"
        lightgbm.LGBMClassifier(n_estimators=2, verbose=-1).fit(X, y).booster_.save_model(path)
        with pytest.raises(ValueError, match="not fitted by a losslab estimator"):
            ll.LGBMClassifier().load_model(path)


@pytest.mark.parametrize("lib", ["xgboost", "lightgbm"])
def test_user_start_is_not_in_the_model(lib: str) -> None:
    # a warm start given as base_margin / init_score stays the caller's: passed at predict
    data = _data()
    X, y = data["X"], data["binary"]
    start = np.full(N, -1.0)
    if lib == "xgboost":
        est = lx.XGBClassifier(n_estimators=5, n_jobs=1).fit(X, y, base_margin=start)
        with_start = est.decision_function(X, base_margin=start)
    else:
        est = ll.LGBMClassifier(n_estimators=5, n_jobs=1, verbose=-1).fit(X, y, init_score=start)
        with_start = est.decision_function(X, init_score=start)
    assert float(est.init_score_) == 0.0
    np.testing.assert_allclose(with_start - est.decision_function(X), -1.0, atol=1e-6)


@pytest.mark.parametrize("lib", ["xgboost", "lightgbm"])
def test_continued_training_keeps_the_first_models_init_score(lib: str) -> None:
    # xgb_model / init_model: the previous model carries its init score; the new fit adds none
    data = _data()
    X, y = data["X"], data["binary"]
    focal = losslab.get_loss("focal", gamma=2.0)
    first = _fit(lib, "binary", focal, data)
    before = first.decision_function(X)
    if lib == "xgboost":
        more = lx.XGBClassifier(loss=focal, n_estimators=5, max_depth=3, n_jobs=1)
        more.fit(X, y, xgb_model=first.get_booster())
        head = more.get_booster().predict(
            xgboost.DMatrix(X), output_margin=True, iteration_range=(0, 15)
        )
    else:
        more = ll.LGBMClassifier(loss=focal, n_estimators=5, num_leaves=7, verbose=-1, n_jobs=1)
        more.fit(X, y, init_model=first.booster_)
        head = more.booster_.predict(X, raw_score=True, num_iteration=15)
    np.testing.assert_allclose(head, before, atol=1e-5)
    assert float(more.init_score_) == 0.0
    after = more.decision_function(X)
    assert float(focal(y, after.astype(np.float64))) < float(focal(y, before.astype(np.float64)))
