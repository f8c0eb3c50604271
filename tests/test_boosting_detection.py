"""The binary losses of the registry (log loss, focal, the detection losses: varifocal, quality
focal, poly-1, poly-1 focal, asymmetric, ...) as XGBoost and LightGBM objectives.

* The Gauss-Newton Hessian of ``losslab._boosting`` is ``h + g (2p - 1)``, derived for a loss
  of the form ``f(p(z))``, ``p = sigmoid(z)``; every binary loss on the logit link is one (for
  soft targets too: y only enters f), and the test checks it against ``f''(p) (dp/dz)^2`` by
  finite differences in p.
* The default policy (``loss.hessian_policies[0]``) fits the Hessian sign: never ``exact``
  where the exact Hessian is negative somewhere, positive-semidefinite and finite everywhere,
  and ``gauss_newton`` only where f is convex in p at the registered defaults (so clipping at
  0 never bites there).
* Every declared policy trains on an imbalanced binary data set (8 % positives) without NaN or
  runaway margins in both libraries, the default one also on soft (IoU-like) targets and
  through the estimators; every loss enters through the registry (``kind == "binary"``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

pytest.importorskip("lightgbm")
pytest.importorskip("xgboost")
pytest.importorskip("sklearn")
import lightgbm
import xgboost
from sklearn.metrics import roc_auc_score

import losslab
import losslab.lightgbm as ll
import losslab.xgboost as lx
from _cases import loss_id
from losslab._boosting import LossAdapter, is_focal_like

SEED = 5
ROUNDS = 15
BINARY = sorted(name for name, cls in losslab.LOSSES.items() if cls.kind == "binary")
# every registered parameter set: the defaults and the loss's documented examples
INSTANCES = [
    (name, params)
    for name in BINARY
    for params in ({}, *(dict(e) for e in losslab.LOSSES[name].examples))
]
HOSTS = ["xgboost", "lightgbm"]


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    n = 1500
    X = rng.normal(size=(n, 5))
    y = (X[:, 0] + 0.7 * X[:, 1] + 0.8 * rng.logistic(size=n) > 2.6).astype(np.float64)
    quality = np.where(y > 0, rng.uniform(0.3, 1.0, n), 0.0)  # IoU-like targets of positives
    return {"X": X, "y": y, "q": quality}


def _train(host: str, loss: Any, policy: Any, X: Any, t: Any) -> tuple[Any, Any]:
    """Native training from losslab's init score: (init margins, final margins)."""
    extra: dict[str, Any] = {}
    if is_focal_like(loss):
        extra = dict(lx.FOCAL_DEFAULTS if host == "xgboost" else ll.FOCAL_DEFAULTS)
    if host == "xgboost":
        init = lx.init_margin(loss, t)
        dtrain = xgboost.DMatrix(X, label=t, base_margin=init)
        params = {"max_depth": 3, "eta": 0.3, "nthread": 1, "seed": SEED, **extra}
        booster = xgboost.train(params, dtrain, ROUNDS, obj=lx.objective(loss, policy))
        return init, booster.predict(dtrain, output_margin=True).astype(np.float64)
    init = ll.init_score(loss, t)
    params = {
        "objective": ll.objective(loss, policy),
        "num_leaves": 7,
        "learning_rate": 0.3,
        "num_threads": 1,
        "seed": SEED,
        "deterministic": True,
        "verbose": -1,
        **extra,
    }
    booster = lightgbm.train(params, lightgbm.Dataset(X, label=t, init_score=init), ROUNDS)
    return init, booster.predict(X, raw_score=True) + init


def _check_training(loss: Any, y: Any, t: Any, init: Any, margin: Any, bound: float = 30.0) -> None:
    """Finite, bounded margins; the mean loss falls by 10 %; the ranking is learnt."""
    assert np.all(np.isfinite(margin))
    assert np.max(np.abs(margin)) < bound
    start, end = float(loss(t, init.astype(np.float64))), float(loss(t, margin))
    assert end < 0.9 * start
    assert roc_auc_score(y, margin) > 0.85


@pytest.mark.parametrize("case", INSTANCES, ids=lambda case: loss_id(*case))
def test_gauss_newton_is_f2_of_p(case: tuple[str, dict[str, Any]]) -> None:
    name, params = case
    loss = losslab.get_loss(name, **params)
    offered = [p.name for p in loss.hessian_policies]
    if loss.link.name != "logit":  # the formula needs p = sigmoid(z)
        assert "gauss_newton" not in offered
        return
    p = np.array([0.02, 0.13, 0.37, 0.52, 0.81, 0.96])  # off the kinks (p = y, p = clip)
    negative_somewhere = False
    z = np.log(p) - np.log1p(-p)
    v = p * (1.0 - p)
    d = 1e-3 * np.minimum(p, 1.0 - p)
    for label in (0.0, 1.0, 0.25, 0.9):
        y = np.full_like(p, label)

        def f(q: Any, y: Any = y) -> Any:
            return np.asarray(loss.loss(y, np.log(q) - np.log1p(-q)))

        # fourth-order central second difference in p
        f2 = (-f(p + 2 * d) + 16 * f(p + d) - 30 * f(p) + 16 * f(p - d) - f(p - 2 * d)) / (
            12 * d * d
        )
        g, h = (np.asarray(a) for a in loss.gradient_hessian(y, z))
        gn = h + g * (2 * p - 1)
        np.testing.assert_allclose(gn, f2 * v * v, rtol=1e-6, atol=1e-9 * np.max(np.abs(f(p))))
        negative_somewhere |= bool(np.any(gn < 0))
        if "gauss_newton" in offered:
            adapted = LossAdapter(loss, "gauss_newton").gradient_hessian(y, z)[1]
            np.testing.assert_allclose(adapted, np.maximum(gn, 0.0), rtol=1e-12, atol=0)
    # a logit-link loss withholds Gauss-Newton only where it is not convex in p (FL* with
    # beta != 0), where the policy would have to clip
    assert ("gauss_newton" in offered) or negative_somewhere


@pytest.mark.parametrize("case", INSTANCES, ids=lambda case: loss_id(*case))
def test_default_policy_fits_the_hessian_sign(case: tuple[str, dict[str, Any]]) -> None:
    name, params = case
    loss = losslab.get_loss(name, **params)
    policy = loss.hessian_policies[0]
    z = np.linspace(-40.0, 40.0, 801)
    adapter = LossAdapter(loss)
    assert adapter.policy == policy
    negative_somewhere = False
    for label in (0.0, 1.0, 0.3, 0.8):
        y = np.full_like(z, label)
        g, h = (np.asarray(a) for a in loss.gradient_hessian(y, z))
        negative_somewhere |= bool(np.any(h < 0))
        hb = adapter.gradient_hessian(y, z)[1]
        assert np.all(np.isfinite(hb))
        assert np.all(hb >= 0)
        assert np.any(hb > 0)
        if policy.name == "gauss_newton" and not params:
            # convex in p at the registered defaults: nothing for the clip at 0 to remove
            gn = h + g * np.tanh(0.5 * z)
            assert np.all(gn >= -1e-12 * (np.abs(h) + np.abs(g)))
    if negative_somewhere:
        assert loss.hessian_sign == "indefinite"
        assert policy.name != "exact"
    if loss.hessian_sign == "indefinite":
        assert negative_somewhere  # the declared sign is not needlessly pessimistic


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize(
    ("name", "policy"),
    [(n, p.name) for n in BINARY for p in losslab.get_loss(n).hessian_policies],
)
def test_every_declared_policy_trains(
    data: dict[str, Any], host: str, name: str, policy: str
) -> None:
    loss = losslab.get_loss(name)
    init, margin = _train(host, loss, policy, data["X"], data["y"])
    # Non-default policies may overshoot on easy examples: gauss_newton on a loss without
    # focusing (log loss, poly1) gives them h ~ (1 - p_t)^2 against g ~ (1 - p_t), so their
    # leaves step by ~1 / (1 - p_t); LightGBM (no L2 term) takes poly1's easy negatives to
    # margins near -140 in 15 rounds (-180 after 200; finite, the loss still falls).
    default = policy == loss.hessian_policies[0].name
    _check_training(loss, data["y"], data["y"], init, margin, 30.0 if default else 500.0)


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("case", [c for c in INSTANCES if c[1]], ids=lambda case: loss_id(*case))
def test_example_parameters_train_with_their_default_policy(
    data: dict[str, Any], host: str, case: tuple[str, dict[str, Any]]
) -> None:
    name, params = case
    loss = losslab.get_loss(name, **params)
    init, margin = _train(host, loss, None, data["X"], data["y"])
    _check_training(loss, data["y"], data["y"], init, margin)


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("name", BINARY)
def test_soft_targets_train(data: dict[str, Any], host: str, name: str) -> None:
    loss = losslab.get_loss(name)
    init, margin = _train(host, loss, None, data["X"], data["q"])
    _check_training(loss, data["y"], data["q"], init, margin)


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("name", BINARY)
def test_estimators_train(data: dict[str, Any], host: str, name: str) -> None:
    loss = losslab.get_loss(name)
    opts: dict[str, Any] = {"n_estimators": ROUNDS, "learning_rate": 0.3, "n_jobs": 1}
    if host == "xgboost":
        est: Any = lx.XGBClassifier(loss=name, max_depth=3, **opts)
    else:
        est = ll.LGBMClassifier(loss=name, num_leaves=7, verbose=-1, **opts)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.fit(data["X"], data["y"])
    assert est.hessian_policy_ == loss.hessian_policies[0]
    proba = est.predict_proba(data["X"])
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    init = np.full(len(data["y"]), float(est.init_score_))
    _check_training(loss, data["y"], data["y"], init, est.decision_function(data["X"]))
