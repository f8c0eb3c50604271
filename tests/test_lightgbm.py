"""losslab.lightgbm specifics: the focal defaults and hidden parameters LightGBM gets, tiny
data, and scikit-learn's estimator checks (the parity with LightGBM's built-in objectives lives
in test_boosting_parity.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("lightgbm")

from sklearn.utils.estimator_checks import parametrize_with_checks

import losslab.lightgbm as ll

SEED = 13


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


@parametrize_with_checks(
    [
        ll.LGBMClassifier(n_estimators=20, n_jobs=1),
        ll.LGBMClassifier(loss="focal", n_estimators=20, n_jobs=1),  # binary only
        ll.LGBMRegressor(n_estimators=20, n_jobs=1),
    ],
)
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)
