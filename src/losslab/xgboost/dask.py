"""XGBoost's Dask estimators with any losslab loss, as :mod:`xgboost.dask` is to XGBoost.

Importing this module imports :mod:`xgboost.dask` and :mod:`dask.array`. The estimators share
the fit plan of :class:`losslab.xgboost.XGBClassifier` (one mixin): the init score comes from
a reduction over the label blocks on the workers (:func:`losslab._boosting.dask_label_summary`:
only distinct labels and their summed weights reach the client) and is stored in the model as
``base_score``, so nothing per row is built for it; predictions are Dask arrays. Dask arrays and
Dask DataFrames are accepted wherever :mod:`xgboost.dask` accepts them.
"""

from __future__ import annotations

from typing import Any

import dask.array
import numpy as np
import xgboost.dask as xd

from losslab._boosting import dask_labels, dask_proba, not_fitted
from losslab.xgboost import _XGBLossMixin

__all__ = ["DaskXGBClassifier", "DaskXGBRegressor"]

_da: Any = dask.array  # untyped in places


def _as_dask_array(x: Any) -> Any:
    """A Dask array from a Dask array, Series or DataFrame (row chunks left unknown: computing
    them would run the prediction twice)."""
    return x.to_dask_array() if hasattr(x, "to_dask_array") else x


def _column_margin(X: Any, base_margin: Any) -> tuple[Any, Any]:
    """X with one column chunk and a given base margin as a column: ``xgboost.dask``'s
    in-place prediction maps a 1-D base margin against the *columns* of a 2-D Dask array."""
    if hasattr(X, "chunks") and getattr(X, "ndim", 0) == 2 and len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    if getattr(base_margin, "ndim", 2) == 1:
        base_margin = base_margin[:, None]
    return X, base_margin


class _DaskXGBMixin(_XGBLossMixin):
    """``fit`` from a distributed label summary and margins as Dask arrays."""

    def fit(
        self, X: Any, y: Any, *, sample_weight: Any = None, base_margin: Any = None, **kwargs: Any
    ) -> Any:
        """Fit on ``loss`` through XGBoost's Dask interface (labels 0..K-1 for classifiers)."""
        plan = self._plan_fit_dask(y, sample_weight, start_given=base_margin is not None)
        # the host's fit, past the in-memory plan of the mixin
        parent = super(_XGBLossMixin, self).fit  # type: ignore[misc]
        self._fit_xgb(
            plan,
            lambda: parent(X, y, sample_weight=sample_weight, base_margin=base_margin, **kwargs),
        )
        return self

    def _margin(self, X: Any, base_margin: Any = None) -> Any:
        """Margins as a Dask array: trees + ``base_score`` (or + ``base_margin``)."""
        not_fitted(self)
        if base_margin is not None:
            X, base_margin = _column_margin(X, base_margin)
        margin = xd.DaskXGBRegressor.predict(
            self,
            X,
            output_margin=True,
            base_margin=base_margin,
        )
        return _as_dask_array(margin)


class DaskXGBClassifier(_DaskXGBMixin, xd.DaskXGBClassifier):
    """``xgboost.dask.DaskXGBClassifier`` on a losslab loss (see
    :class:`losslab.xgboost.XGBClassifier` for the parameters and fitted attributes).

    Labels must already be 0..K-1 (as XGBoost's Dask classifier requires).
    ``decision_function`` / ``predict_proba`` / ``predict`` return Dask arrays.
    """

    def decision_function(self, X: Any, base_margin: Any = None) -> Any:
        """Margins (Dask array): (n,) or (n, K)."""
        return self._margin(X, base_margin)

    def predict_proba(self, X: Any, base_margin: Any = None) -> Any:  # type: ignore[override]
        """Class probabilities (Dask array, (n, K))."""
        return dask_proba(self.loss_, self._margin(X, base_margin), len(self.classes_))

    def predict(self, X: Any, base_margin: Any = None) -> Any:
        """The most probable class (Dask array)."""
        return dask_labels(
            self.predict_proba(X, base_margin=base_margin), np.asarray(self.classes_)
        )


class DaskXGBRegressor(_DaskXGBMixin, xd.DaskXGBRegressor):
    """``xgboost.dask.DaskXGBRegressor`` on a losslab loss (see
    :class:`losslab.xgboost.XGBRegressor`)."""

    def predict(self, X: Any, base_margin: Any = None, **kwargs: Any) -> Any:
        """Predictions (Dask array): trees + init score."""
        return self._margin(X, base_margin)
