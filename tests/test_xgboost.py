"""losslab.xgboost specifics: the focal defaults XGBoost gets, and scikit-learn's estimator
checks (the parity with XGBoost's built-in objectives lives in test_boosting_parity.py)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("xgboost")

from sklearn.utils.estimator_checks import parametrize_with_checks

import losslab.xgboost as lx


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


def _expected_failures(est: Any) -> dict[str, str]:
    # focal (min_child_weight 1e-3, max_delta_step 2) happens to pass these checks
    if isinstance(est, lx.XGBClassifier) and est.loss is None:
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
        lx.XGBClassifier(loss="focal", n_estimators=10, max_depth=3, n_jobs=1),  # binary only
        lx.XGBRegressor(n_estimators=10, max_depth=3, n_jobs=1),
    ],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)
