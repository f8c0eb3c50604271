"""Half Poisson, half Gamma and half Tweedie as XGBoost and LightGBM objectives: parity with the
libraries' built-in ``count:poisson`` / ``reg:gamma`` / ``reg:tweedie`` and ``poisson`` /
``gamma`` / ``tweedie``, with the convention differences of ``docs/boosting.md`` mapped.

* Gamma and Tweedie: the hosts' gradient and Hessian are losslab's; their start (XGBoost's
  estimated ``base_score``, LightGBM's ``boost_from_average``) is the log of the weighted mean,
  losslab's ``fit_intercept_only``. Parity with the host's defaults.
* Poisson: both hosts hand the tree builder the Hessian ``e^(z + 0.7)`` (XGBoost
  ``max_delta_step``, LightGBM ``poisson_max_delta_step``), and XGBoost also caps each leaf at
  0.7 (its tree parameter of the same name). Parity with the host's Hessian set to ``e^z``
  (``max_delta_step=0``; LightGBM refuses 0, and ``e^1e-20`` is 1 in float64), and with the
  host's defaults once losslab's Hessian is multiplied by ``e^0.7`` (plus XGBoost's leaf cap).
* The estimators cap half Poisson's leaves at 0.7 by default (``losslab._boosting.step_cap``):
  the exact Newton step diverges without it.

Tolerances: XGBoost keeps margins in float32 (1e-5 after 10 rounds); LightGBM computes in
float64 but stores labels in float32, so its start differs from losslab's (float64 labels) by
about 1e-9 (1e-7 allowed).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

pytest.importorskip("lightgbm")
pytest.importorskip("xgboost")
import lightgbm
import xgboost

import losslab
import losslab.lightgbm as ll
import losslab.xgboost as lx
from _cases import loss_id
from _hosts import host_params
from losslab._boosting import POISSON_STEP_CAP, step_cap

SEED = 7
ROUNDS = 10
XGB_PARAMS, LGB_PARAMS = host_params(SEED)
# registry name -> (XGBoost objective, LightGBM objective)
BUILTIN = {
    "half_poisson": ("count:poisson", "poisson"),
    "half_gamma": ("reg:gamma", "gamma"),
    "half_tweedie": ("reg:tweedie", "tweedie"),
}
LOG_LINK = sorted(
    name
    for name, cls in losslab.LOSSES.items()
    if cls.kind == "regression" and cls.link.name == "log"
)
TWEEDIE_POWERS = (1.2, 1.5)  # both hosts take 1 <= p < 2
CASES = [
    (name, {"power": p} if name == "half_tweedie" else {})
    for name in LOG_LINK
    for p in (TWEEDIE_POWERS if name == "half_tweedie" else (None,))
]


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    n = 2000
    X = rng.normal(size=(n, 4))
    mu = np.exp(0.5 * X[:, 0] - 0.3 * X[:, 1] + 0.2)
    return {
        "X": X,
        "w": rng.uniform(0.3, 2.0, n),
        "half_poisson": rng.poisson(mu).astype(np.float64),
        "half_gamma": rng.gamma(2.0, mu / 2.0),
        # compound Poisson-Gamma: exact zeros and a continuous positive part
        "half_tweedie": rng.poisson(mu) * rng.gamma(2.0, 0.5, n),
    }


@dataclass(frozen=True)
class Host:
    """One boosting library: native training with its built-in or a custom objective."""

    name: str
    margin_atol: float

    def builtin_params(self, name: str, params: dict[str, float], exact: bool) -> dict[str, Any]:
        """The built-in objective; ``exact``: Poisson's Hessian set to ``e^z``."""
        objective = BUILTIN[name][0 if self.name == "xgboost" else 1]
        out: dict[str, Any] = {"objective": objective}
        if "power" in params:
            out["tweedie_variance_power"] = params["power"]
        if name == "half_poisson" and exact:
            # XGBoost takes 0 (also no leaf cap); LightGBM wants > 0, and e^1e-20 == 1.
            out.update(
                {"max_delta_step": 0.0}
                if self.name == "xgboost"
                else {"poisson_max_delta_step": 1e-20}
            )
        return out

    def train_builtin(self, params: dict[str, Any], X: Any, y: Any, w: Any) -> Any:
        """Margins of the built-in objective after ROUNDS rounds."""
        if self.name == "xgboost":
            booster = xgboost.train(
                {**XGB_PARAMS, **params}, xgboost.DMatrix(X, label=y, weight=w), ROUNDS
            )
            return booster, booster.predict(xgboost.DMatrix(X), output_margin=True)
        booster = lightgbm.train(
            {**LGB_PARAMS, **params}, lightgbm.Dataset(X, label=y, weight=w), ROUNDS
        )
        return booster, booster.predict(X, raw_score=True)

    def train_custom(
        self, fobj: Any, loss: Any, X: Any, y: Any, w: Any, extra: dict[str, Any] | None = None
    ) -> Any:
        """Margins (init score included) of a custom-objective training from losslab's start."""
        extra = extra or {}
        if self.name == "xgboost":
            init = lx.init_margin(loss, y, sample_weight=w)
            dtrain = xgboost.DMatrix(X, label=y, weight=w, base_margin=init)
            booster = xgboost.train({**XGB_PARAMS, **extra}, dtrain, ROUNDS, obj=fobj)
            return booster.predict(xgboost.DMatrix(X, base_margin=init), output_margin=True)
        init = ll.init_score(loss, y, sample_weight=w)
        dtrain = lightgbm.Dataset(X, label=y, weight=w, init_score=init)
        booster = lightgbm.train({**LGB_PARAMS, **extra, "objective": fobj}, dtrain, ROUNDS)
        return booster.predict(X, raw_score=True) + init

    def objective(self, loss: Any) -> Any:
        return (lx if self.name == "xgboost" else ll).objective(loss)


HOSTS = [Host("xgboost", margin_atol=1e-5), Host("lightgbm", margin_atol=1e-7)]


@pytest.fixture(params=HOSTS, ids=lambda h: h.name)
def host(request: pytest.FixtureRequest) -> Host:
    return request.param  # type: ignore[no-any-return]


def _scaled(obj: Any, scale: float, calls: list[int] | None = None) -> Any:
    """The objective with its Hessian multiplied by ``scale``."""

    def fobj(predt: Any, data: Any) -> Any:  # LightGBM copies the objective it is given
        if calls is not None:
            calls.append(1)
        g, h = obj(predt, data)
        return g, h * scale

    return fobj


def test_every_log_link_loss_has_a_builtin() -> None:
    assert set(LOG_LINK) == set(BUILTIN)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", CASES, ids=lambda case: loss_id(*case))
def test_native_parity(
    host: Host, data: dict[str, Any], case: tuple[str, dict[str, float]], weighted: bool
) -> None:
    name, params = case
    loss = losslab.get_loss(name, **params)
    X, y = data["X"], data[name]
    w = data["w"] if weighted else None
    _, ref = host.train_builtin(host.builtin_params(name, params, exact=True), X, y, w)
    calls: list[int] = []
    margin = host.train_custom(_scaled(host.objective(loss), 1.0, calls), loss, X, y, w)
    assert len(calls) == ROUNDS
    np.testing.assert_allclose(margin, ref, rtol=0, atol=host.margin_atol)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_poisson_host_defaults_are_a_scaled_hessian(
    host: Host, data: dict[str, Any], weighted: bool
) -> None:
    loss = losslab.get_loss("half_poisson")
    X, y = data["X"], data["half_poisson"]
    w = data["w"] if weighted else None
    _, ref = host.train_builtin(host.builtin_params("half_poisson", {}, exact=False), X, y, w)
    # XGBoost's count:poisson also sets its tree parameter max_delta_step (leaf cap) to 0.7.
    cap = {"max_delta_step": POISSON_STEP_CAP} if host.name == "xgboost" else {}
    scaled = _scaled(host.objective(loss), math.exp(POISSON_STEP_CAP))
    np.testing.assert_allclose(
        host.train_custom(scaled, loss, X, y, w, cap), ref, rtol=0, atol=host.margin_atol
    )
    exact = host.train_custom(host.objective(loss), loss, X, y, w)
    assert np.max(np.abs(exact - ref)) > 0.05  # the mapping matters


@pytest.mark.parametrize("case", CASES, ids=lambda case: loss_id(*case))
def test_xgboost_start_is_the_intercept(
    data: dict[str, Any], case: tuple[str, dict[str, float]]
) -> None:
    # XGBoost >= 2 estimates base_score (on the prediction scale) for these objectives: the
    # weighted mean, i.e. exp(fit_intercept_only).
    name, params = case
    X, y, w = data["X"], data[name], data["w"]
    booster, _ = HOSTS[0].train_builtin(HOSTS[0].builtin_params(name, params, exact=True), X, y, w)
    config = json.loads(booster.save_config())
    base = float(config["learner"]["learner_model_param"]["base_score"].strip("[]"))
    init = losslab.get_loss(name, **params).fit_intercept_only(y, sample_weight=w)
    assert base == pytest.approx(math.exp(float(init)), rel=1e-6)


@pytest.mark.parametrize("case", CASES, ids=lambda case: loss_id(*case))
def test_estimator_parity(
    host: Host, data: dict[str, Any], case: tuple[str, dict[str, float]]
) -> None:
    name, params = case
    X, y, w = data["X"], data[name], data["w"]
    loss = losslab.get_loss(name, **params)
    host_params = host.builtin_params(name, params, exact=True)
    mds = {"max_delta_step": 0.0} if name == "half_poisson" else {}  # no leaf cap: as the host
    if host.name == "xgboost":
        opts: dict[str, Any] = {
            "n_estimators": ROUNDS,
            "learning_rate": 0.3,
            "max_depth": 3,
            "n_jobs": 1,
        }
        ref = xgboost.XGBRegressor(**opts, **host_params)
        ours: Any = lx.XGBRegressor(loss=loss, **opts, **mds)
        rtol = 2e-5  # float32 margins, then exp
    else:
        opts = {
            "n_estimators": ROUNDS,
            "learning_rate": 0.3,
            "num_leaves": 7,
            "n_jobs": 1,
            "verbose": -1,
            "deterministic": True,
        }
        ref = lightgbm.LGBMRegressor(**opts, **host_params)
        ours = ll.LGBMRegressor(loss=loss, **opts, **mds)
        rtol = 1e-7
    ref.fit(X, y, sample_weight=w)
    ours.fit(X, y, sample_weight=w)
    expected = ref.predict(X)
    assert np.all(expected > 0)
    np.testing.assert_allclose(ours.predict(X), expected, rtol=rtol)


def test_step_cap_values() -> None:
    get = losslab.get_loss
    assert step_cap(get("half_poisson")) == POISSON_STEP_CAP == 0.7
    assert step_cap(get("half_tweedie", power=1.0)) == POISSON_STEP_CAP
    assert step_cap(get("half_tweedie", power=1.01)) == POISSON_STEP_CAP
    for loss in (get("half_gamma"), get("half_tweedie"), get("half_tweedie", power=3.0)):
        assert step_cap(loss) is None
    assert step_cap(get("half_squared_error")) is None
    assert step_cap(get("log_loss")) is None


def test_poisson_estimators_cap_the_step(host: Host) -> None:
    """Sparse counts (86 % zeros, up to 137): one leaf of a few positives among predictions
    near 0 gets the Newton step ``sum(y - mu) / sum(mu)``; uncapped, both hosts' margins run
    away (1e20 and beyond with these defaults); with the 0.7 cap they stay near the data."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5000, 5))
    y = rng.poisson(np.exp(2.0 * X[:, 0] - 3.0)).astype(np.float64)
    opts: dict[str, Any] = {"n_estimators": 100, "learning_rate": 0.3, "n_jobs": 1}
    make = lx.XGBRegressor if host.name == "xgboost" else ll.LGBMRegressor
    if host.name == "lightgbm":
        opts["verbose"] = -1
    capped = make(loss="half_poisson", **opts).fit(X, y)
    if host.name == "xgboost":  # what the host's tree builder really used
        config = json.loads(capped.get_booster().save_config())
        used = float(config["learner"]["gradient_booster"]["tree_train_param"]["max_delta_step"])
    else:
        used = float(capped.booster_.params["max_delta_step"])
    assert used == pytest.approx(POISSON_STEP_CAP, rel=1e-7)
    assert np.all(np.isfinite(capped.predict(X)))
    assert capped.predict(X).max() < 2 * y.max()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # exp overflow of the runaway margins
        uncapped = make(loss="half_poisson", max_delta_step=0.0, **opts).fit(X, y)
        assert not uncapped.predict(X).max() < 1e6
