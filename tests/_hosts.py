"""Booster settings shared by the XGBoost/LightGBM test modules: small, single-threaded and
deterministic, so that two fits with the same seed agree and parity tests compare like with
like."""

from __future__ import annotations

from typing import Any


def host_params(seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(XGBoost params, LightGBM params) for ``xgboost.train`` / ``lightgbm.train``."""
    xgb = {"tree_method": "hist", "max_depth": 3, "eta": 0.3, "nthread": 1, "seed": seed}
    lgb = {
        "num_leaves": 7,
        "learning_rate": 0.3,
        "num_threads": 1,
        "seed": seed,
        "deterministic": True,
        "verbose": -1,
    }
    return xgb, lgb
